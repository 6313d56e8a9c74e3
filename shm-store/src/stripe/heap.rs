//! Owns the heap allocator: block sizes, size bins, the free lists, taking a block (split) and
//! freeing one (merge), and the dead chain of removed entries' blocks waiting to be freed
//! (retire, drain). Touches block headers, `meta.free_*`, `meta.dead_*` and `meta.used_bytes`,
//! not the index.

use super::view::StripeView;
use crate::layout::{
    value_offset, BlockHeader, BLOCK_ALIGN, MIN_BLOCK, NO_BLOCK, STATE_DEAD, STATE_FREE,
    STATE_WRITING,
};
use std::sync::atomic::{compiler_fence, Ordering};

/// Entries in the first-fit scan of a size-range free list.
const FIT_SCAN_LIMIT: usize = 8;

/// Blocks at or above this many 16-byte units go to range bins.
const EXACT_BIN_UNITS: u32 = 64;

/// The size of the block of a live entry in `state`.
#[inline]
pub(crate) fn block_size_for(state: u32, key_len: usize, val_len: usize) -> u32 {
    let n = value_offset(state, key_len as u32) as usize + val_len;
    let align = BLOCK_ALIGN as usize;
    (n.div_ceil(align) * align) as u32
}

/// Free-list bin of a block size: exact bins for small blocks, then four
/// bins per power of two.
pub(super) fn bin_for(size: u32) -> usize {
    let units = size / BLOCK_ALIGN;
    if units < EXACT_BIN_UNITS {
        return units as usize;
    }
    let log = 31 - units.leading_zeros(); // >= 6
    let sub = (units >> (log - 2)) & 3;
    EXACT_BIN_UNITS as usize + ((log - 6) * 4 + sub) as usize
}

impl StripeView<'_> {
    /// Whether a sound free block starts at `next` (the end of a block: the
    /// heap's end is none), the neighbour a freed block merges with.
    pub(super) fn free_block_at(&self, next: u32) -> bool {
        next < self.heap_len()
            && self.hdr(next).state == STATE_FREE
            && self.check_block(
                next,
                STATE_FREE,
                "free block with a broken size at heap offset",
            )
    }

    /// Records `off`'s size in the header of the block after it.
    pub(super) fn update_next_prev_size(&mut self, off: u32) {
        let size = self.hdr(off).size;
        let next = off.saturating_add(size);
        if next < self.heap_len() {
            self.hdr_mut(next).prev_size = size;
        }
    }

    pub(super) fn link_free(&mut self, off: u32) {
        let bin = bin_for(self.hdr(off).size);
        let head = self.meta.free_heads[bin];
        {
            let h = self.hdr_mut(off);
            h.seq_or_next = head;
            h.key_len_or_prev = NO_BLOCK;
        }
        if head != NO_BLOCK
            && self.check_block(
                head,
                STATE_FREE,
                "free list holds a broken block at heap offset",
            )
        {
            self.hdr_mut(head).key_len_or_prev = off;
        }
        self.meta.free_heads[bin] = off;
        self.meta.free_bitmap[bin / 64] |= 1 << (bin % 64);
    }

    pub(super) fn unlink_free(&mut self, off: u32) {
        let h = *self.hdr(off);
        let bin = bin_for(h.size);
        let (next, prev) = (h.seq_or_next, h.key_len_or_prev);
        let broken = "free list holds a broken block at heap offset";
        if prev == NO_BLOCK {
            if self.meta.free_heads[bin] != off {
                self.note("free block missing from its list at heap offset", off);
                return;
            }
            self.meta.free_heads[bin] = next;
            if next == NO_BLOCK {
                self.meta.free_bitmap[bin / 64] &= !(1 << (bin % 64));
            }
        } else if self.check_block(prev, STATE_FREE, broken) {
            self.hdr_mut(prev).seq_or_next = next;
        }
        if next != NO_BLOCK && self.check_block(next, STATE_FREE, broken) {
            self.hdr_mut(next).key_len_or_prev = prev;
        }
    }

    /// First non-empty bin at or above `from`.
    pub(super) fn next_nonempty_bin(&self, from: usize) -> Option<usize> {
        let mut word = from / 64;
        let mut bits = self.meta.free_bitmap.get(word)? & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            bits = *self.meta.free_bitmap.get(word)?;
        }
    }

    pub(super) fn find_free(&self, size: u32) -> Option<u32> {
        let bin = bin_for(size);
        if bin >= EXACT_BIN_UNITS as usize {
            // A range bin may hold blocks smaller than `size`: first fit, bounded.
            let mut off = self.meta.free_heads[bin];
            for _ in 0..FIT_SCAN_LIMIT {
                if off == NO_BLOCK
                    || !self.check_block(
                        off,
                        STATE_FREE,
                        "free list holds a broken block at heap offset",
                    )
                {
                    break;
                }
                if self.hdr(off).size >= size {
                    return Some(off);
                }
                off = self.hdr(off).seq_or_next;
            }
            let bin = self.next_nonempty_bin(bin + 1)?;
            return Some(self.meta.free_heads[bin]);
        }
        // Every block of an exact bin, and of any higher bin, fits.
        let bin = self.next_nonempty_bin(bin)?;
        Some(self.meta.free_heads[bin])
    }

    /// Takes a free block of at least `size` bytes, splitting off the rest;
    /// the block is left in state `WRITING`.
    pub(super) fn take_block(&mut self, size: u32) -> Option<u32> {
        let off = self.find_free(size)?;
        if !self.check_block(
            off,
            STATE_FREE,
            "free list holds a broken block at heap offset",
        ) {
            return None;
        }
        let have = self.hdr(off).size;
        if have < size {
            self.note("free block too small for its bin at heap offset", off);
            return None;
        }
        self.unlink_free(off);
        if self.is_damaged() {
            return None;
        }
        if have - size >= MIN_BLOCK {
            let rest = off + size;
            *self.hdr_mut(rest) = BlockHeader {
                size: have - size,
                state: STATE_FREE,
                prev_size: size,
                seq_or_next: NO_BLOCK,
                key_len_or_prev: NO_BLOCK,
                val_len: 0,
                expires_at: 0,
            };
            // The remainder's header is complete before the split is committed.
            compiler_fence(Ordering::SeqCst);
            self.hdr_mut(off).size = size;
            self.update_next_prev_size(rest);
            self.link_free(rest);
        }
        self.hdr_mut(off).state = STATE_WRITING;
        self.meta.used_bytes = self.meta.used_bytes.wrapping_add(self.hdr(off).size as u64);
        Some(off)
    }

    /// Frees a block and merges it with free neighbours.
    pub(super) fn free_block(&mut self, off: u32) {
        let size = self.hdr(off).size;
        self.hdr_mut(off).state = STATE_FREE;
        self.meta.used_bytes = self.meta.used_bytes.wrapping_sub(size as u64);
        let mut start = off;
        let prev_size = self.hdr(off).prev_size;
        if prev_size != 0 && prev_size <= off {
            let prev = off - prev_size;
            let ph = *self.hdr(prev);
            if ph.state == STATE_FREE && ph.size == prev_size {
                self.unlink_free(prev);
                self.hdr_mut(prev).size = prev_size + size;
                start = prev;
            }
        }
        let next = start.saturating_add(self.hdr(start).size);
        if self.free_block_at(next) {
            self.unlink_free(next);
            let merged = self.hdr(start).size + self.hdr(next).size;
            self.hdr_mut(start).size = merged;
        }
        self.update_next_prev_size(start);
        self.link_free(start);
    }

    /// Retires the block of a removed entry (see "Deferred frees" in
    /// `layout.rs`): `state = DEAD` commits the removal, then the block goes
    /// on the dead chain; its bytes stop counting as used at once. The
    /// caller has checked that `off` starts a whole block.
    pub(super) fn retire_block(&mut self, off: u32) {
        let head = self.meta.dead_head;
        let h = self.hdr_mut(off);
        let size = h.size;
        h.state = STATE_DEAD;
        h.seq_or_next = head;
        self.meta.dead_head = off;
        self.meta.dead_blocks = self.meta.dead_blocks.wrapping_add(1);
        self.meta.used_bytes = self.meta.used_bytes.wrapping_sub(size as u64);
    }

    /// Whether the dead chain holds a block.
    #[inline]
    pub(super) fn has_dead(&self) -> bool {
        self.meta.dead_head != NO_BLOCK
    }

    /// Returns every block of the dead chain to the free lists (merged with
    /// its free neighbours); `true` if there was any. A block is popped off
    /// the chain before it is freed, so a crash in between leaves a dead
    /// block off the chain, which the rebuild frees as any non-live block.
    #[cold]
    #[inline(never)]
    pub(super) fn drain_dead(&mut self) -> bool {
        let had = self.meta.dead_head != NO_BLOCK;
        // A chain longer than the heap has blocks is a cycle (damage).
        let mut budget = self.heap_len() / MIN_BLOCK + 1;
        while self.meta.dead_head != NO_BLOCK && !self.is_damaged() {
            let off = self.meta.dead_head;
            if budget == 0 {
                self.note("the dead chain does not end, at heap offset", off);
                break;
            }
            budget -= 1;
            if !self.check_block(
                off,
                STATE_DEAD,
                "the dead chain holds a broken block at heap offset",
            ) {
                break;
            }
            self.meta.dead_head = self.hdr(off).seq_or_next;
            self.meta.dead_blocks = self.meta.dead_blocks.wrapping_sub(1);
            // Its bytes left `used_bytes` when it was retired.
            let size = self.hdr(off).size;
            self.meta.used_bytes = self.meta.used_bytes.wrapping_add(size as u64);
            self.free_block(off);
        }
        had
    }

    /// The free run that the block at `off` would be part of once freed:
    /// its own size and that of its free neighbours.
    pub(super) fn run_if_freed(&self, off: u32) -> u64 {
        let h = *self.hdr(off);
        let mut run = h.size as u64;
        if h.prev_size != 0 && h.prev_size <= off {
            let prev = self.hdr(off - h.prev_size);
            if prev.state == STATE_FREE && prev.size == h.prev_size {
                run += prev.size as u64;
            }
        }
        let next = off.saturating_add(h.size);
        if self.free_block_at(next) {
            run += self.hdr(next).size as u64;
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::FREE_BINS;

    #[test]
    fn bins_are_monotonic() {
        let mut last = 0;
        for size in (32..(1u32 << 31)).step_by(16).take(100_000) {
            let b = bin_for(size);
            assert!(b >= last && b < FREE_BINS);
            last = b;
        }
        assert!(bin_for(!15) < FREE_BINS);
    }
}
