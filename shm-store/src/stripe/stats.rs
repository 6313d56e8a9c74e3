//! Owns what a stripe reports: `StripeStats`, `scan` and its `ScanEntry`, the manifests'
//! generations and persistent parts for the store's cleanup (`large.rs`). Read-only.

use super::entries::{parse_manifest, zstd_raw_len};
use super::expiry::is_expired;
use super::view::StripeView;
use crate::layout::{STATE_INT, STATE_LARGE, STATE_PART, STATE_ZSTD};
use crate::ttl::Ttl;

/// One entry as `scan` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEntry {
    /// The key's bytes.
    pub key: Vec<u8>,
    /// Length of the value as readers get it (for a compressed value: the
    /// original length its entry records).
    pub value_len: usize,
    /// Bytes the value takes in the store (prefix and frame if compressed).
    pub stored_len: usize,
    /// Whether the value is stored compressed.
    pub compressed: bool,
    /// Its time to live when it was scanned.
    pub ttl: Ttl,
}

/// Figures of one stripe, or of a whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeStats {
    /// Entries (a large value counts once, not its parts).
    pub entries: u64,
    /// Index slots in use (the index grows with the entries).
    pub slots: u64,
    /// Heap bytes in use (blocks with their headers).
    pub bytes_used: u64,
    /// Heap bytes free.
    pub bytes_free: u64,
    /// Reads that found a value (in a store's total only: counted per
    /// process and summed in the segment header, not per stripe).
    pub hits: u64,
    /// Reads that found nothing (as `hits`).
    pub misses: u64,
    /// Entries removed because their TTL ran out.
    pub expirations: u64,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Times this stripe was rebuilt after a lock holder died.
    pub recoveries: u64,
    /// Parts of large values (entries of their own, not counted in `entries`).
    pub parts: u64,
    /// Entries whose value is stored compressed.
    pub compressed_entries: u64,
    /// The original bytes of those values.
    pub compressed_raw_bytes: u64,
    /// What those values take in the store (prefix and zstd frame).
    pub compressed_stored_bytes: u64,
}

impl StripeStats {
    /// Adds another stripe's figures to these.
    pub fn add(&mut self, other: &StripeStats) {
        self.entries = self.entries.saturating_add(other.entries);
        self.slots = self.slots.saturating_add(other.slots);
        self.bytes_used = self.bytes_used.saturating_add(other.bytes_used);
        self.bytes_free = self.bytes_free.saturating_add(other.bytes_free);
        self.hits = self.hits.saturating_add(other.hits);
        self.misses = self.misses.saturating_add(other.misses);
        self.expirations = self.expirations.saturating_add(other.expirations);
        self.evictions = self.evictions.saturating_add(other.evictions);
        self.recoveries = self.recoveries.saturating_add(other.recoveries);
        self.parts = self.parts.saturating_add(other.parts);
        self.compressed_entries = self
            .compressed_entries
            .saturating_add(other.compressed_entries);
        self.compressed_raw_bytes = self
            .compressed_raw_bytes
            .saturating_add(other.compressed_raw_bytes);
        self.compressed_stored_bytes = self
            .compressed_stored_bytes
            .saturating_add(other.compressed_stored_bytes);
    }
}

impl StripeView<'_> {
    /// Entries of user keys: the index's entries less the parts of large values.
    pub(crate) fn user_entries(&self) -> u32 {
        self.meta.entries.saturating_sub(self.meta.parts)
    }

    /// Live entries with their remaining lifetime and value size. A slot
    /// that does not point at a whole live block is skipped and recorded as
    /// damage (the caller rebuilds the stripe and reports it).
    pub(crate) fn scan(&self, now: u64) -> Vec<ScanEntry> {
        self.live_blocks(now)
            .filter_map(|off| {
                let h = self.hdr(off);
                let (value_len, stored_len) = match h.state {
                    STATE_PART => return None,
                    STATE_LARGE => {
                        let m = parse_manifest(self.value_of(off))?;
                        (m.raw_len as usize, m.total_len as usize)
                    }
                    STATE_INT => {
                        let n = self.with_value_text(off, <[u8]>::len);
                        (n, h.val_len as usize)
                    }
                    STATE_ZSTD => {
                        let raw = zstd_raw_len(self.value_of(off)).unwrap_or(0);
                        (raw as usize, h.val_len as usize)
                    }
                    _ => (h.val_len as usize, h.val_len as usize),
                };
                Some(ScanEntry {
                    key: self.key_of(off).to_vec(),
                    value_len,
                    stored_len,
                    compressed: self.compressed_lengths(off).is_some(),
                    ttl: Ttl::from_expiry(h.expires_at, now),
                })
            })
            .collect()
    }

    /// The generations named by the stripe's live manifests.
    pub(crate) fn manifest_generations(&self, now: u64) -> Vec<u64> {
        self.live_blocks(now)
            .filter(|&off| self.hdr(off).state == STATE_LARGE)
            .filter_map(|off| parse_manifest(self.value_of(off)))
            .map(|m| m.generation)
            .collect()
    }

    /// The parts in the stripe that have no expiry: `(key, generation)`.
    pub(crate) fn persistent_parts(&self, now: u64) -> Vec<(Vec<u8>, u64)> {
        self.live_blocks(now)
            .filter(|&off| {
                let h = self.hdr(off);
                h.state == STATE_PART && h.expires_at == 0
            })
            .filter_map(|off| {
                let key = self.key_of(off);
                let generation = u64::from_le_bytes(key.get(..8)?.try_into().ok()?);
                Some((key.to_vec(), generation))
            })
            .collect()
    }

    /// Blocks of the live, unexpired entries that the index points at.
    pub(super) fn live_blocks(&self, now: u64) -> impl Iterator<Item = u32> + '_ {
        self.slots()
            .iter()
            .filter(|s| !s.is_empty() && self.check_slot_block(s.block))
            .map(|s| s.block)
            .filter(move |&off| !is_expired(self.hdr(off), now))
    }

    pub(crate) fn stats(&self) -> StripeStats {
        let m = &self.meta;
        StripeStats {
            entries: self.user_entries() as u64,
            parts: m.parts as u64,
            slots: self.slots().len() as u64,
            bytes_used: m.used_bytes,
            bytes_free: (self.heap.len() as u64).saturating_sub(m.used_bytes),
            hits: 0,
            misses: 0,
            expirations: m.expirations,
            evictions: m.evictions,
            recoveries: m.recoveries,
            compressed_entries: m.compressed_entries,
            compressed_raw_bytes: m.compressed_raw_bytes,
            compressed_stored_bytes: m.compressed_stored_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::layout::Slot;
    use crate::stripe::test_support::*;
    use crate::stripe::Kind;

    #[test]
    fn scan_skips_slots_of_a_damaged_index() {
        let mut o = Owned::new(64, 16 << 10);
        let mut v = o.view();
        v.set(key(b"good"), b"v", 0, CTX, Kind::Inline).unwrap();
        let i = (0..64).find(|&i| v.slots()[i].is_empty()).unwrap();
        v.slots_mut()[i] = Slot {
            hash: 7,
            block: u32::MAX,
            lru: 0,
        };
        let j = (0..64).find(|&j| v.slots()[j].is_empty()).unwrap();
        v.slots_mut()[j] = Slot {
            hash: 9,
            block: 16 << 10,
            lru: 0,
        };
        let keys: Vec<_> = v.scan(1000).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, vec![b"good".to_vec()]);
        assert!(v.take_damage().is_some(), "scan must report the damage");
        assert!(!v.verify().is_empty());
    }
}
