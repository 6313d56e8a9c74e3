//! Owns the slot index: its size and growth, probing (`find_slot`), insertion, removal by
//! backward shift, the LRU stamp. Touches the slots and `meta.index_len`; reads blocks' keys only.

use super::view::StripeView;
use super::Key;
use crate::layout::{lru_step, BlockHeader, Slot, BLOCK_HEADER_SIZE, MIN_INDEX_SLOTS, STATE_PART};

impl StripeView<'_> {
    /// Slots in use: `meta.index_len` when it is possible, else (damage)
    /// the whole region, which is always safe to probe.
    pub(super) fn checked_index_len(&self) -> usize {
        let n = self.meta.index_len as usize;
        // A power of two, at most the region: with m = n - 1 (wrapping, so
        // n = 0 fails the first test), m < len and n & m == 0. Three
        // instructions on every lock, where `is_power_of_two` (without a
        // popcount instruction) and a second compare took twice that.
        let m = n.wrapping_sub(1);
        if m < self.index_all.len() && n & m == 0 {
            return n;
        }
        self.note("index length impossible:", n as u64);
        self.index_all.len()
    }

    /// The index: the slots in use.
    pub(crate) fn slots(&self) -> &[Slot] {
        &self.index_all[..self.index_n]
    }

    pub(super) fn slots_mut(&mut self) -> &mut [Slot] {
        &mut self.index_all[..self.index_n]
    }

    pub(super) fn set_index_len(&mut self, len: u32) {
        self.meta.index_len = len;
        self.index_n = self.checked_index_len();
    }

    /// The index size for `entries` entries: at most half full, at least
    /// [`MIN_INDEX_SLOTS`], at most the whole region.
    pub(super) fn index_len_for(&self, entries: u32) -> u32 {
        let all = self.index_all.len() as u32;
        (entries.saturating_mul(2))
            .checked_next_power_of_two()
            .unwrap_or(all)
            .clamp(MIN_INDEX_SLOTS.min(all), all)
    }

    /// Doubles the index before an insert would make it more than half
    /// full (until it spans the whole region). The stripe's change
    /// sequence is odd meanwhile, so lock-free readers retry; a crash half
    /// way is repaired by the rebuild (the index is derived state).
    pub(super) fn grow_index_for_insert(&mut self) {
        let n = self.slots().len();
        if (self.meta.entries as usize + 1) * 2 <= n || n >= self.index_all.len() {
            return;
        }
        let live: Vec<Slot> = self
            .slots()
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect();
        self.set_index_len((n * 2) as u32);
        self.slots_mut().fill(Slot::EMPTY);
        for slot in live {
            self.place(slot);
        }
    }

    pub(super) fn mask(&self) -> usize {
        self.slots().len() - 1
    }

    pub(super) fn max_entries(&self) -> u32 {
        // Of the whole region: the index grows before it is half full, and
        // only once it spans the region does it fill up to 7/8.
        (self.index_all.len() - self.index_all.len() / 8) as u32
    }

    pub(super) fn find_slot(&self, key: Key<'_>) -> Option<usize> {
        self.find_entry(key).map(|(i, _)| i)
    }

    /// The slot of `key` and a copy of its block's header, checked (see
    /// [`StripeView::live_header`]): one probe, one look at the header.
    // Inlined into the lookups, so that the slot and the header it found
    // stay in registers instead of coming back through memory (with a
    // stack frame of their own: some 25 instructions a call, callgrind).
    #[inline(always)]
    pub(super) fn find_entry(&self, key: Key<'_>) -> Option<(usize, BlockHeader)> {
        let mask = self.mask();
        let mut i = key.hash as usize & mask;
        for _ in 0..self.slots().len() {
            let s = self.slots()[i];
            if s.is_empty() {
                return None;
            }
            if s.hash == key.hash {
                let h = self.live_header(s.block)?;
                // Checked: the header, key and value lie inside the heap.
                let start = s.block as usize + BLOCK_HEADER_SIZE;
                if h.key_len_or_prev as usize == key.bytes.len()
                    && (h.state == STATE_PART) == key.part
                    && self
                        .heap
                        .get(start..start + key.bytes.len())
                        .is_some_and(|stored| same_key(stored, key.bytes))
                {
                    return Some((i, h));
                }
            }
            i = (i + 1) & mask;
        }
        self.note(
            "no empty slot in the slot index, slots:",
            self.slots().len() as u64,
        );
        None
    }

    pub(super) fn insert_slot(&mut self, hash: u64, block: u32) {
        let lru = self.meta.access_clock;
        self.place(Slot { hash, block, lru });
    }

    /// Puts `slot` at the first free place of its probe run.
    pub(super) fn place(&mut self, slot: Slot) {
        let mask = self.mask();
        let mut i = slot.hash as usize & mask;
        let mut probes = 0;
        while !self.slots()[i].is_empty() {
            probes += 1;
            if probes == self.slots().len() {
                self.note("no empty slot in the slot index, slots:", probes as u64);
                return;
            }
            i = (i + 1) & mask;
        }
        self.slots_mut()[i] = slot;
    }

    /// Removes slot `i`, shifting later members of the probe run back so no
    /// tombstone is left.
    pub(super) fn remove_slot(&mut self, i: usize) {
        let mask = self.mask();
        let mut hole = i;
        let mut j = i;
        for _ in 0..mask {
            j = (j + 1) & mask;
            let s = self.slots()[j];
            if s.is_empty() {
                break;
            }
            let home = s.hash as usize & mask;
            // `s` may move into the hole only if its home is not in (hole, j].
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots_mut()[hole] = s;
                hole = j;
            }
        }
        self.slots_mut()[hole] = Slot::EMPTY;
    }

    /// Stamps slot `i` with the LRU clock if its stamp is stale by more
    /// than [`lru_step`] (so reading a hot key rarely writes).
    pub(super) fn touch(&mut self, i: usize) {
        let clock = self.meta.access_clock;
        let step = lru_step(self.slots().len() as u32);
        if clock.wrapping_sub(self.slots()[i].lru) > step {
            self.slots_mut()[i].lru = clock;
        }
    }
}

/// Whether `stored` equals `key`, two slices of the same length: a short
/// key (most are) with no call to memcmp (about 20 instructions a lookup,
/// callgrind), in two overlapping words from each side from 4 bytes on,
/// below that its first, middle and last bytes, which are all of them.
#[inline(always)]
fn same_key(stored: &[u8], key: &[u8]) -> bool {
    let n = key.len();
    if stored.len() != n {
        return false;
    }
    let word4 = |s: &[u8], at: usize| u32::from_ne_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    let word8 = |s: &[u8], at: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    match n {
        0 => true,
        1..=3 => stored[0] == key[0] && stored[n / 2] == key[n / 2] && stored[n - 1] == key[n - 1],
        4..=7 => word4(stored, 0) == word4(key, 0) && word4(stored, n - 4) == word4(key, n - 4),
        8..=16 => word8(stored, 0) == word8(key, 0) && word8(stored, n - 8) == word8(key, n - 8),
        _ => stored == key,
    }
}

#[cfg(test)]
mod tests {
    use crate::stripe::test_support::*;
    use crate::stripe::Kind;

    #[test]
    fn backward_shift_keeps_all_keys_reachable() {
        let mut o = Owned::new(16, 16 << 10);
        let mut v = o.view();
        for i in 0..14u32 {
            v.set(key(&i.to_le_bytes()), b"v", 0, CTX, Kind::Inline)
                .unwrap();
        }
        for i in (0..14u32).step_by(2) {
            assert!(v.del(key(&i.to_le_bytes()), || 1000).is_some());
        }
        for i in 0..14u32 {
            assert_eq!(
                v.exists(key(&i.to_le_bytes()), || 1000),
                i % 2 == 1,
                "key {i}"
            );
        }
        assert_eq!(v.verify(), Vec::<String>::new());
    }

    #[test]
    fn same_key_finds_every_differing_byte() {
        for n in 0..=40usize {
            let key: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
            assert!(super::same_key(&key, &key), "len {n}");
            for at in 0..n {
                let mut other = key.clone();
                other[at] ^= 0x80;
                assert!(!super::same_key(&other, &key), "len {n}, byte {at}");
            }
            assert!(!super::same_key(&key[..n.saturating_sub(1)], &key) || n == 0);
        }
    }
}
