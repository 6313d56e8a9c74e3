//! Owns the two rewrites of a whole stripe: `format` (empty it) and `rebuild` (after a lock
//! holder died). Touches everything: block headers, the index, the free lists, the counters.

use super::view::{bump, StripeView};
use super::Key;
use crate::layout::{
    hash_key, is_live, value_offset, BlockHeader, Slot, FREE_BINS, NO_BLOCK, STATE_FREE, STATE_INT,
    STATE_PART,
};
use std::sync::atomic::{compiler_fence, Ordering};

/// Newer of two write sequence numbers, with wrap-around.
fn is_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl StripeView<'_> {
    /// Empties the stripe: one free block spanning the heap. Counters of
    /// activity (hits, misses, ...) are kept.
    pub(crate) fn format(&mut self) {
        // State first, then size: a crash in between leaves a valid walk.
        self.hdr_mut(0).state = STATE_FREE;
        compiler_fence(Ordering::SeqCst);
        let heap_len = self.heap_len();
        *self.hdr_mut(0) = BlockHeader {
            size: heap_len,
            state: STATE_FREE,
            prev_size: 0,
            seq_or_next: NO_BLOCK,
            key_len_or_prev: NO_BLOCK,
            val_len: 0,
            expires_at: 0,
        };
        self.index_all.fill(Slot::EMPTY);
        self.note_every_change();
        self.set_index_len(self.index_len_for(0));
        self.meta.entries = 0;
        self.meta.parts = 0;
        self.meta.used_bytes = 0;
        self.meta.sweep_cursor = 0;
        self.set_compressed_counts((0, 0, 0));
        self.meta.min_expiry = u64::MAX;
        self.meta.free_bitmap = [0; FREE_BINS / 64];
        self.meta.free_heads = [NO_BLOCK; FREE_BINS];
        self.meta.dead_head = NO_BLOCK;
        self.meta.dead_blocks = 0;
        self.link_free(0);
    }

    /// Rebuilds the index, free lists and counters from the heap after a lock
    /// holder died. Idempotent: a death during the rebuild is repaired by the
    /// next locker's rebuild.
    pub(crate) fn rebuild(&mut self) {
        let heap_len = self.heap_len();
        // What a dead holder changed is not known: every key may have.
        self.note_every_change();

        // Pass 1: walk the heap; live blocks are kept, all others become free.
        let mut live = Vec::new();
        let (mut off, mut prev) = (0u32, 0u32);
        while off < heap_len {
            let h = *self.hdr(off);
            let sane = self.size_fits(off, h.size);
            let size = if sane { h.size } else { heap_len - off };
            let whole = value_offset(h.state, h.key_len_or_prev) + h.val_len as u64;
            let keep = sane
                && is_live(h.state)
                && h.key_len_or_prev > 0
                && whole <= size as u64
                && (h.state != STATE_INT || h.val_len == 8);
            {
                let hm = self.hdr_mut(off);
                if !sane {
                    // A broken walk can only come from a bug; keep what precedes it.
                    hm.state = STATE_FREE;
                    compiler_fence(Ordering::SeqCst);
                    hm.size = size;
                }
                hm.prev_size = prev;
                if !keep {
                    hm.state = STATE_FREE;
                }
            }
            if keep {
                live.push(off);
            }
            prev = size;
            off += size;
        }

        // Pass 2: index the live blocks; of two with one key the newer wins.
        self.index_all.fill(Slot::EMPTY);
        self.set_index_len(self.index_len_for(live.len().min(u32::MAX as usize) as u32));
        self.meta.entries = 0;
        self.meta.parts = 0;
        // A lower bound stays valid: anything at or below the true minimum.
        self.meta.min_expiry = 0;
        let max_entries = self.max_entries();
        for off in live {
            let hash = hash_key(self.key_of(off));
            let key_bytes = self.key_of(off).to_vec();
            let key = Key {
                hash,
                bytes: &key_bytes,
                part: self.hdr(off).state == STATE_PART,
            };
            match self.find_slot(key) {
                Some(i) => {
                    let other = self.slots()[i].block;
                    if is_newer(self.hdr(off).seq_or_next, self.hdr(other).seq_or_next) {
                        self.slots_mut()[i].block = off;
                        self.hdr_mut(other).state = STATE_FREE;
                    } else {
                        self.hdr_mut(off).state = STATE_FREE;
                    }
                }
                None if self.meta.entries < max_entries => {
                    self.insert_slot(hash, off);
                    self.meta.entries += 1;
                    self.meta.parts += key.part as u32;
                }
                None => self.hdr_mut(off).state = STATE_FREE,
            }
        }

        // Pass 3: merge runs of free blocks, relink free lists, recount bytes.
        // Dead blocks were freed by pass 1: the chain is empty.
        self.meta.free_bitmap = [0; FREE_BINS / 64];
        self.meta.free_heads = [NO_BLOCK; FREE_BINS];
        self.meta.dead_head = NO_BLOCK;
        self.meta.dead_blocks = 0;
        self.meta.used_bytes = 0;
        let (mut off, mut prev) = (0u32, 0u32);
        while off < heap_len {
            let mut size = self.hdr(off).size;
            if self.hdr(off).state == STATE_FREE {
                while off + size < heap_len && self.hdr(off + size).state == STATE_FREE {
                    size += self.hdr(off + size).size;
                }
                self.hdr_mut(off).size = size;
                self.hdr_mut(off).prev_size = prev;
                self.link_free(off);
            } else {
                self.hdr_mut(off).prev_size = prev;
                self.meta.used_bytes += size as u64;
            }
            prev = size;
            off += size;
        }
        self.meta.sweep_cursor = 0;
        let counts = self.recount_compressed();
        self.set_compressed_counts(counts);
        bump(&mut self.meta.recoveries);
        // Whatever was found before is gone now.
        self.damage.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{STATE_LIVE, STATE_ZSTD};
    use crate::stripe::test_support::*;
    use crate::stripe::{Entry, Kind};

    /// Stored bytes of a compressed value as the stripe sees them: the
    /// original length, then (here) anything.
    fn zstd_stored(raw_len: u64, frame_len: usize) -> Vec<u8> {
        let mut v = raw_len.to_le_bytes().to_vec();
        v.resize(8 + frame_len, 0xab);
        v
    }

    #[test]
    fn a_crash_between_two_compressed_writes_is_recounted() {
        let mut o = Owned::new(64, 16 << 10);
        let mut v = o.view();
        v.set(key(b"k"), &zstd_stored(5000, 100), 0, CTX, Kind::Zstd)
            .unwrap();
        v.set(key(b"raw"), b"plain", 0, CTX, Kind::Inline).unwrap();
        let old = v.slots()[v.find_slot(key(b"k")).unwrap()].block;
        v.set(key(b"k"), &zstd_stored(7000, 300), 0, CTX, Kind::Zstd)
            .unwrap();
        let counts = |v: &StripeView<'_>| {
            let s = v.stats();
            (
                s.compressed_entries,
                s.compressed_raw_bytes,
                s.compressed_stored_bytes,
            )
        };
        assert_eq!(counts(&v), (1, 7000, 308));
        // A death after the new block went live, before the old was freed,
        // and counters left half updated.
        v.hdr_mut(old).state = STATE_ZSTD;
        v.meta.compressed_entries = 2;
        assert!(!v.verify().is_empty());
        v.rebuild();
        assert_eq!(counts(&v), (1, 7000, 308));
        assert_eq!(
            v.get(key(b"k"), || 1000, |b| b.len()),
            Some(Entry::Zstd(308))
        );
        assert_eq!(v.verify(), Vec::<String>::new());
        // A removal takes it off the counters.
        v.del(key(b"k"), || 1000).unwrap();
        assert_eq!(counts(&v), (0, 0, 0));
        assert_eq!(v.verify(), Vec::<String>::new());
    }

    #[test]
    fn rebuild_keeps_newer_of_two_live_blocks() {
        let mut o = Owned::new(64, 16 << 10);
        let mut v = o.view();
        v.set(key(b"k"), b"old", 0, CTX, Kind::Inline).unwrap();
        let old = v.slots()[v.find_slot(key(b"k")).unwrap()].block;
        v.set(key(b"k"), b"new", 0, CTX, Kind::Inline).unwrap();
        // Simulate a death after the new block went live, before the old was freed.
        v.hdr_mut(old).state = STATE_LIVE;
        v.rebuild();
        assert_eq!(
            v.get(key(b"k"), || 1000, |b| b.to_vec()),
            Some(Entry::Inline(b"new".to_vec()))
        );
        assert_eq!(v.verify(), Vec::<String>::new());
    }

    #[test]
    fn rebuild_drops_half_written_block() {
        let mut o = Owned::new(64, 16 << 10);
        let mut v = o.view();
        v.set(key(b"k"), b"old", 0, CTX, Kind::Inline).unwrap();
        let off = v.take_block(64).unwrap();
        v.heap[off as usize + 32] = b'x';
        v.rebuild();
        assert_eq!(
            v.get(key(b"k"), || 1000, |b| b.to_vec()),
            Some(Entry::Inline(b"old".to_vec()))
        );
        assert_eq!(v.verify(), Vec::<String>::new());
        assert_eq!(v.meta.used_bytes, 48);
    }

    /// Rebuild is the repair of any damage: on a heap, index and counters of
    /// pure garbage it must terminate, not panic, and leave a stripe that
    /// verifies and works.
    #[test]
    fn rebuild_of_garbage_verifies_and_works() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let mut o = Owned::new(64, 16 << 10);
            {
                let mut v = o.view();
                for i in 0..20u32 {
                    v.set(key(&i.to_le_bytes()), &[i as u8; 300], 0, CTX, Kind::Inline)
                        .unwrap();
                }
            }
            // Damage: every byte (round 0), or a few words here and there.
            let words = if round == 0 {
                o.heap.len() / 4
            } else {
                1 + round % 16
            };
            for _ in 0..words {
                let at = if round == 0 {
                    0
                } else {
                    next() as usize % (o.heap.len() / 4)
                };
                let word = next() as u32;
                let word = match next() % 4 {
                    0 => 0x7fff_ffff,
                    1 => word & 0xfff0,
                    _ => word,
                };
                o.heap[at * 4..at * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            let meta: &mut [u8] = bytemuck::bytes_of_mut(&mut o.meta);
            for b in meta.iter_mut().step_by(1 + round % 7) {
                *b = next() as u8;
            }
            for s in o.slots.iter_mut().step_by(1 + round % 5) {
                *s = Slot {
                    hash: next(),
                    block: next() as u32 & 0xfff0,
                    lru: 0,
                };
            }
            let mut v = o.view();
            v.rebuild();
            assert_eq!(v.verify(), Vec::<String>::new(), "round {round}");
            v.take_damage();
            v.set(key(b"after"), b"works", 0, CTX, Kind::Inline)
                .unwrap();
            assert_eq!(
                v.get(key(b"after"), || 1000, |b| b.to_vec()),
                Some(Entry::Inline(b"works".to_vec()))
            );
            assert!(v.take_damage().is_none(), "round {round}");
        }
    }
}
