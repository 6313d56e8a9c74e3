//! Owns `verify`, the consistency check of heap, free lists, index and counters (`Store::verify`,
//! tests). Read-only: walks the heap and compares the index, lists and counters with the walk.

use super::heap::bin_for;
use super::view::StripeView;
use crate::layout::{
    hash_key, is_live, value_offset, BLOCK_ALIGN, FREE_BINS, MIN_BLOCK, NO_BLOCK, STATE_DEAD,
    STATE_FREE, STATE_INT, STATE_LARGE, STATE_LIVE, STATE_PART, STATE_ZSTD,
};

impl StripeView<'_> {
    /// Checks every invariant of the stripe; returns what is wrong.
    pub(crate) fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let heap_len = self.heap_len();
        let mut blocks = std::collections::HashMap::new(); // offset -> state
        let (mut off, mut prev, mut used, mut prev_free) = (0u32, 0u32, 0u64, false);
        let (mut free_blocks, mut dead_blocks) = (0usize, 0usize);
        while off < heap_len {
            let h = *self.hdr(off);
            if h.size < MIN_BLOCK || !h.size.is_multiple_of(BLOCK_ALIGN) || h.size > heap_len - off
            {
                problems.push(format!("block at {off} has bad size {}", h.size));
                break;
            }
            if h.prev_size != prev {
                problems.push(format!(
                    "block at {off}: prev_size {} != {prev}",
                    h.prev_size
                ));
            }
            match h.state {
                STATE_FREE => {
                    if prev_free {
                        problems.push(format!("free block at {off} follows a free block"));
                    }
                    free_blocks += 1;
                }
                // Waiting on the dead chain: free room, not yet in a list.
                STATE_DEAD => dead_blocks += 1,
                STATE_LIVE | STATE_LARGE | STATE_PART | STATE_INT | STATE_ZSTD => {
                    used += h.size as u64;
                    let whole = value_offset(h.state, h.key_len_or_prev) + h.val_len as u64;
                    if whole > h.size as u64
                        || h.key_len_or_prev == 0
                        || (h.state == STATE_INT && h.val_len != 8)
                    {
                        problems.push(format!("live block at {off} has bad key/value lengths"));
                    }
                }
                other => problems.push(format!("block at {off} has state {other:#x}")),
            }
            prev_free = h.state == STATE_FREE;
            blocks.insert(off, h.state);
            prev = h.size;
            off += h.size;
        }
        if used != self.meta.used_bytes {
            problems.push(format!(
                "used_bytes {} != {used} counted",
                self.meta.used_bytes
            ));
        }

        // Free lists.
        let mut listed = 0usize;
        for bin in 0..FREE_BINS {
            let head = self.meta.free_heads[bin];
            let bit = self.meta.free_bitmap[bin / 64] >> (bin % 64) & 1 == 1;
            if bit != (head != NO_BLOCK) {
                problems.push(format!("free bitmap of bin {bin} disagrees with its list"));
            }
            let (mut cur, mut back) = (head, NO_BLOCK);
            while cur != NO_BLOCK {
                if blocks.get(&cur) != Some(&STATE_FREE) {
                    problems.push(format!("free list {bin} holds {cur}, not a free block"));
                    break;
                }
                let h = self.hdr(cur);
                if bin_for(h.size) != bin || h.key_len_or_prev != back {
                    problems.push(format!(
                        "free list {bin}: block {cur} misfiled or mislinked"
                    ));
                }
                listed += 1;
                if listed > free_blocks {
                    problems.push(format!("free list {bin} loops"));
                    break;
                }
                back = cur;
                cur = h.seq_or_next;
            }
        }
        if listed != free_blocks {
            problems.push(format!("{free_blocks} free blocks but {listed} listed"));
        }

        // The dead chain: exactly the heap's dead blocks, each once.
        let (mut cur, mut chained) = (self.meta.dead_head, 0usize);
        while cur != NO_BLOCK {
            if blocks.get(&cur) != Some(&STATE_DEAD) {
                problems.push(format!("the dead chain holds {cur}, not a dead block"));
                break;
            }
            chained += 1;
            if chained > dead_blocks {
                problems.push("the dead chain loops".to_string());
                break;
            }
            cur = self.hdr(cur).seq_or_next;
        }
        if chained != dead_blocks || dead_blocks != self.meta.dead_blocks as usize {
            problems.push(format!(
                "{dead_blocks} dead blocks, {chained} on the dead chain, {} counted",
                self.meta.dead_blocks
            ));
        }

        // Index.
        let mask = self.mask();
        let mut seen_blocks = std::collections::HashSet::new();
        let mut occupied = 0u32;
        for (i, s) in self.slots().iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            occupied += 1;
            if !blocks.get(&s.block).is_some_and(|&st| is_live(st)) {
                problems.push(format!("slot {i} points at {}, not a live block", s.block));
                continue;
            }
            if !seen_blocks.insert(s.block) {
                problems.push(format!("block {} indexed twice", s.block));
            }
            let key = self.key_of(s.block);
            if hash_key(key) != s.hash {
                problems.push(format!("slot {i}: hash does not match its key"));
            }
            // Probe invariant: no empty slot between home and i.
            let mut j = s.hash as usize & mask;
            while j != i {
                if self.slots()[j].is_empty() {
                    problems.push(format!("slot {i} unreachable from its home slot"));
                    break;
                }
                j = (j + 1) & mask;
            }
        }
        let live_blocks = blocks.values().filter(|&&s| is_live(s)).count();
        let part_blocks = blocks.values().filter(|&&s| s == STATE_PART).count();
        if part_blocks != self.meta.parts as usize {
            problems.push(format!(
                "parts {} vs {part_blocks} part blocks",
                self.meta.parts
            ));
        }
        if occupied != self.meta.entries || live_blocks != occupied as usize {
            problems.push(format!(
                "entries {} vs {occupied} slots vs {live_blocks} live blocks",
                self.meta.entries
            ));
        }
        let mut keys = std::collections::HashSet::new();
        for s in self.slots().iter().filter(|s| !s.is_empty()) {
            let state = blocks.get(&s.block).copied();
            if state.is_some_and(is_live)
                && !keys.insert((self.key_of(s.block), state == Some(STATE_PART)))
            {
                problems.push("a key is indexed twice".to_string());
            }
        }
        let m = &*self.meta;
        let counted = (
            m.compressed_entries,
            m.compressed_raw_bytes,
            m.compressed_stored_bytes,
        );
        let recounted = self.recount_compressed();
        if counted != recounted {
            problems.push(format!(
                "compressed entries/raw/stored bytes {counted:?} vs {recounted:?} recounted"
            ));
        }
        problems
    }
}
