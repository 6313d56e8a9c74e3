//! Owns `StripeView` and its checks: damage notes, change notes for the watch table, whether a
//! block fits, and the checked header/key/value accessors the other files read blocks through.

use crate::layout::{
    is_live, value_offset, BlockHeader, Slot, StripeMeta, BLOCK_ALIGN, BLOCK_HEADER_SIZE,
    MIN_BLOCK, NO_BLOCK, STATE_INT, STATE_LIVE,
};
use std::cell::Cell;
use std::mem::MaybeUninit;

pub(crate) struct StripeView<'a> {
    pub meta: &'a mut StripeMeta,
    /// The whole slot region; the index is its first `meta.index_len` slots.
    pub(super) index_all: &'a mut [Slot],
    /// `meta.index_len` as checked when it was last read or set.
    pub(super) index_n: usize,
    pub heap: &'a mut [u8],
    /// The first damage an operation found (see [`Damage`]).
    pub(super) damage: Cell<Option<Damage>>,
    /// Where writes to a block outside the heap go (never read back):
    /// written by `hdr_mut` before it lends it, so nothing is spent on it
    /// when the lock is taken.
    scratch: MaybeUninit<BlockHeader>,
    /// The user keys this holder wrote or removed, for the watch table
    /// (noted only if a key of the stripe was watched when the lock was
    /// taken: see [`Changes::watching`]).
    pub changes: Changes,
}

/// The user keys a stripe-lock holder wrote or removed (their hashes), for
/// the writer's side of `ephpm_kv_wait` (see "Watches" in `layout.rs`):
/// a few hashes, or "every key of the stripe" past that.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Changes {
    /// Whether to note anything: set when the lock is taken, from the
    /// stripe's watch count. Off, noting a change is one untaken branch.
    pub watching: bool,
    len: u8,
    every: bool,
    hashes: [u64; 4],
}

impl Changes {
    /// Notes a write to (or removal of) the key with `hash`.
    pub(crate) fn key(&mut self, hash: u64) {
        if self.every || self.hashes[..self.len as usize].contains(&hash) {
            return;
        }
        match self.hashes.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = hash;
                self.len += 1;
            }
            None => self.every = true,
        }
    }

    /// Notes a change of every key (a flush, a rebuild).
    pub(crate) fn every(&mut self) {
        self.every = true;
    }

    /// `None` for "every key", else the hashes noted.
    pub(crate) fn hashes(&self) -> Option<&[u64]> {
        (!self.every).then(|| &self.hashes[..self.len as usize])
    }

    /// Nothing for the watch table (always so when not `watching`).
    pub(crate) fn is_empty(&self) -> bool {
        !self.every && self.len == 0
    }
}

/// Damage found in a stripe: a length or offset read from the segment that
/// cannot be right. The operation that finds it stops touching the
/// stripe's data as soon as it can, and whoever holds the lock rebuilds the
/// stripe (see `Segment`'s `StripeGuard`). Until then every accessor
/// returns a harmless placeholder instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    /// What is wrong, written to be followed by `at`.
    pub what: &'static str,
    /// The offending offset or value.
    pub at: u64,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.what, self.at)
    }
}

/// What `hdr` returns for an offset outside the heap.
static NO_HEADER: BlockHeader = BlockHeader {
    size: 0,
    state: 0,
    prev_size: 0,
    seq_or_next: NO_BLOCK,
    key_len_or_prev: NO_BLOCK,
    val_len: 0,
    expires_at: 0,
};

/// Counters read from the segment may hold anything: they wrap, never panic.
pub(super) fn bump(counter: &mut u64) {
    *counter = counter.wrapping_add(1);
}

impl<'a> StripeView<'a> {
    pub(crate) fn new(meta: &'a mut StripeMeta, slots: &'a mut [Slot], heap: &'a mut [u8]) -> Self {
        let mut view = StripeView {
            meta,
            index_all: slots,
            index_n: 0,
            heap,
            damage: Cell::new(None),
            scratch: MaybeUninit::uninit(),
            changes: Changes::default(),
        };
        view.index_n = view.checked_index_len();
        view
    }

    pub(super) fn note_change(&mut self, hash: u64) {
        if self.changes.watching {
            self.changes.key(hash);
        }
    }

    pub(super) fn note_every_change(&mut self) {
        if self.changes.watching {
            self.changes.every();
        }
    }

    /// Records damage (the first one found is kept).
    pub(super) fn note(&self, what: &'static str, at: impl Into<u64>) {
        if self.damage.get().is_none() {
            self.damage.set(Some(Damage {
                what,
                at: at.into(),
            }));
        }
    }

    pub(crate) fn is_damaged(&self) -> bool {
        self.damage.get().is_some()
    }

    /// The damage found since the last call, if any.
    pub(crate) fn take_damage(&self) -> Option<Damage> {
        self.damage.take()
    }

    /// Whether `off` can hold a block header: aligned and inside the heap.
    pub(super) fn header_fits(&self, off: u32) -> bool {
        off.is_multiple_of(BLOCK_ALIGN) && off as usize + BLOCK_HEADER_SIZE <= self.heap.len()
    }

    /// Whether a block of `size` bytes at `off` is possible: at least a
    /// header, aligned, inside the heap and not leaving a tail too small
    /// for a header.
    pub(super) fn size_fits(&self, off: u32, size: u32) -> bool {
        let room = self.heap_len().saturating_sub(off);
        size >= MIN_BLOCK
            && size.is_multiple_of(BLOCK_ALIGN)
            && size <= room
            && (size == room || room - size >= MIN_BLOCK)
    }

    /// Whether `off` starts a whole block in `state` (with [`STATE_LIVE`]:
    /// a live block of any kind, with key and value inside it); records the
    /// damage as `what` if not. Every offset read from a slot or a
    /// free-list link passes here before use.
    pub(super) fn check_block(&self, off: u32, state: u32, what: &'static str) -> bool {
        let ok = self.header_fits(off) && {
            let h = self.hdr(off);
            (h.state == state || (state == STATE_LIVE && is_live(h.state)))
                && self.size_fits(off, h.size)
                && (state != STATE_LIVE
                    || (h.key_len_or_prev > 0
                        && value_offset(h.state, h.key_len_or_prev) + h.val_len as u64
                            <= h.size as u64
                        && (h.state != STATE_INT || h.val_len == 8)))
        };
        if !ok {
            self.note(what, off);
        }
        ok
    }

    /// [`StripeView::check_block`] for the block a slot points at: any live kind.
    pub(super) fn check_slot_block(&self, off: u32) -> bool {
        self.live_header(off).is_some()
    }

    /// A copy of the header of the live block a slot points at, if it is
    /// one with its key and value inside it (the checks of
    /// [`StripeView::check_block`] for [`STATE_LIVE`], on one copy of the
    /// header); records the damage if not.
    #[inline]
    pub(super) fn live_header(&self, off: u32) -> Option<BlockHeader> {
        let o = off as usize;
        let h: BlockHeader = match self.heap.get(o..o + BLOCK_HEADER_SIZE) {
            Some(bytes) if off.is_multiple_of(BLOCK_ALIGN) => bytemuck::pod_read_unaligned(bytes),
            _ => return self.broken_slot_block(off),
        };
        let ok = is_live(h.state)
            && self.size_fits(off, h.size)
            && h.key_len_or_prev > 0
            && value_offset(h.state, h.key_len_or_prev) + h.val_len as u64 <= h.size as u64
            && (h.state != STATE_INT || h.val_len == 8);
        match ok {
            true => Some(h),
            false => self.broken_slot_block(off),
        }
    }

    #[cold]
    fn broken_slot_block(&self, off: u32) -> Option<BlockHeader> {
        self.note("a slot points at a broken block at heap offset", off);
        None
    }

    /// Whether the stripe's counters are possible.
    pub(super) fn check_meta(&self) -> bool {
        if self.meta.entries > self.max_entries() {
            self.note("entry count over the stripe's capacity:", self.meta.entries);
        } else if self.meta.used_bytes > self.heap.len() as u64 {
            self.note("used bytes over the heap size:", self.meta.used_bytes);
        }
        !self.is_damaged()
    }

    pub(super) fn heap_len(&self) -> u32 {
        self.heap.len() as u32
    }

    pub(super) fn hdr(&self, off: u32) -> &BlockHeader {
        if !self.header_fits(off) {
            self.note("block offset outside the heap or unaligned:", off);
            return &NO_HEADER;
        }
        let o = off as usize;
        bytemuck::from_bytes(&self.heap[o..o + BLOCK_HEADER_SIZE])
    }

    pub(super) fn hdr_mut(&mut self, off: u32) -> &mut BlockHeader {
        if !self.header_fits(off) {
            self.note("block offset outside the heap or unaligned:", off);
            return self.scratch.write(NO_HEADER);
        }
        let o = off as usize;
        bytemuck::from_bytes_mut(&mut self.heap[o..o + BLOCK_HEADER_SIZE])
    }

    pub(super) fn key_of(&self, off: u32) -> &[u8] {
        let start = off as usize + BLOCK_HEADER_SIZE;
        let len = self.hdr(off).key_len_or_prev as usize;
        match self.heap.get(start..start + len) {
            Some(key) => key,
            None => {
                self.note("key length runs past the heap:", len as u64);
                &[]
            }
        }
    }

    /// A live block's value bytes (for an integer entry, its 8 raw bytes).
    pub(super) fn value_of(&self, off: u32) -> &[u8] {
        let h = self.hdr(off);
        let start = off as usize + value_offset(h.state, h.key_len_or_prev) as usize;
        match self.heap.get(start..start + h.val_len as usize) {
            Some(value) => value,
            None => {
                self.note("value length runs past the heap:", h.val_len);
                &[]
            }
        }
    }
}
