//! One stripe: an open-addressing index over a heap of blocks, with its own
//! allocator, expiry, eviction, crash rebuild and consistency check. Every
//! function here runs with the stripe's lock held, on plain slices: no
//! `unsafe`. The format is described in `layout.rs`.

use crate::config::EvictionPolicy;
use crate::error::StoreError;
use crate::layout::{
    hash_key, is_live, lru_step, value_offset, BlockHeader, Manifest, Slot, StripeMeta,
    BLOCK_ALIGN, BLOCK_HEADER_SIZE, FREE_BINS, MANIFEST_COMPRESSED, MIN_BLOCK, MIN_INDEX_SLOTS,
    NO_BLOCK, STATE_FREE, STATE_INT, STATE_LARGE, STATE_LIVE, STATE_PART, STATE_WRITING,
    STATE_ZSTD, ZSTD_PREFIX,
};
use crate::ttl::Ttl;
use std::cell::Cell;
use std::sync::atomic::{compiler_fence, Ordering};

/// Expired slots a write examines on its way (the incremental sweep).
const SWEEP_STEP: usize = 16;
/// Eviction picks the least recently used of this many sampled candidates.
const EVICTION_SAMPLES: usize = 16;
/// Random slots `allkeys-random` tries before it scans for a victim.
const RANDOM_PICKS: usize = 64;
/// Slots an eviction examines before settling for what it found.
const EVICTION_SCAN_LIMIT: usize = 1024;
/// Entries in the first-fit scan of a size-range free list.
const FIT_SCAN_LIMIT: usize = 8;

/// Blocks at or above this many 16-byte units go to range bins.
const EXACT_BIN_UNITS: u32 = 64;

/// What every operation needs to know besides its arguments.
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    pub now: u64,
    pub policy: EvictionPolicy,
    /// What eviction must leave alone while this write is under way.
    pub spare: Spare,
}

/// The entries a write in progress must not evict to make room for
/// itself: the parts it has written so far (writing one part never evicts
/// another), and the value it replaces (manifest, inline entry and parts),
/// which must stay readable, whole, if the write fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spare {
    /// The generation of the large value being written.
    pub writing: Option<u64>,
    /// The generation of the large value the write replaces.
    pub replaced: Option<u64>,
    /// The hash of the user key being written: its current entry stays.
    pub key: Option<u64>,
}

/// A key, its hash and its bytes.
#[derive(Clone, Copy)]
pub(crate) struct Key<'k> {
    pub hash: u64,
    pub bytes: &'k [u8],
    /// The internal key of a large value's part (matches only part
    /// entries), or a user's key (matches only the other kinds).
    pub part: bool,
}

/// How a user key's value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// In the entry's block.
    Inline,
    /// The block holds a [`Manifest`]; the bytes are in part entries.
    Large,
    /// The block holds an `i64` (native endian, 8 bytes) that reads render
    /// as decimal.
    Int,
    /// In the entry's block, compressed (the original length, then a zstd frame).
    Zstd,
}

/// What a live entry was or is, for the callers that must look after a
/// large value's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Former {
    Inline,
    Large(Manifest),
}

/// What a lookup found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry<R> {
    /// The value of an inline entry (or of a part), as `read` returned it.
    Inline(R),
    /// The stored bytes of a compressed entry, as `read` returned them.
    Zstd(R),
    /// A large value's manifest.
    Large(Manifest),
}

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

pub(crate) struct StripeView<'a> {
    pub meta: &'a mut StripeMeta,
    /// The whole slot region; the index is its first `meta.index_len` slots.
    index_all: &'a mut [Slot],
    /// `meta.index_len` as checked when it was last read or set.
    index_n: usize,
    pub heap: &'a mut [u8],
    /// The first damage an operation found (see [`Damage`]).
    damage: Cell<Option<Damage>>,
    /// Where writes to a block outside the heap go (never read back).
    scratch: BlockHeader,
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
fn bump(counter: &mut u64) {
    *counter = counter.wrapping_add(1);
}

/// The size of the block of a live entry in `state`.
#[inline]
pub(crate) fn block_size_for(state: u32, key_len: usize, val_len: usize) -> u32 {
    let n = value_offset(state, key_len as u32) as usize + val_len;
    let align = BLOCK_ALIGN as usize;
    (n.div_ceil(align) * align) as u32
}

/// Free-list bin of a block size: exact bins for small blocks, then four
/// bins per power of two.
fn bin_for(size: u32) -> usize {
    let units = size / BLOCK_ALIGN;
    if units < EXACT_BIN_UNITS {
        return units as usize;
    }
    let log = 31 - units.leading_zeros(); // >= 6
    let sub = (units >> (log - 2)) & 3;
    EXACT_BIN_UNITS as usize + ((log - 6) * 4 + sub) as usize
}

/// Newer of two write sequence numbers, with wrap-around.
fn is_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The strict decimal integer of `incr_by`: optional sign, digits, nothing else.
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The manifest in a large entry's value; `None` if it is not one.
pub(crate) fn parse_manifest(bytes: &[u8]) -> Option<Manifest> {
    (bytes.len() == crate::layout::MANIFEST_SIZE)
        .then(|| bytemuck::pod_read_unaligned::<Manifest>(bytes))
        .filter(|m| m.magic == crate::layout::MANIFEST_MAGIC)
}

/// The original length a compressed value's stored bytes begin with.
pub(crate) fn zstd_raw_len(stored: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(
        stored.get(..ZSTD_PREFIX)?.try_into().ok()?,
    ))
}

fn is_expired(h: &BlockHeader, now: u64) -> bool {
    h.expires_at != 0 && h.expires_at <= now
}

impl<'a> StripeView<'a> {
    pub(crate) fn new(meta: &'a mut StripeMeta, slots: &'a mut [Slot], heap: &'a mut [u8]) -> Self {
        let mut view = StripeView {
            meta,
            index_all: slots,
            index_n: 0,
            heap,
            damage: Cell::new(None),
            scratch: NO_HEADER,
            changes: Changes::default(),
        };
        view.index_n = view.checked_index_len();
        view
    }

    // ---------- changes, for the watch table ----------

    fn note_change(&mut self, hash: u64) {
        if self.changes.watching {
            self.changes.key(hash);
        }
    }

    fn note_every_change(&mut self) {
        if self.changes.watching {
            self.changes.every();
        }
    }

    // ---------- damage ----------

    /// Records damage (the first one found is kept).
    fn note(&self, what: &'static str, at: impl Into<u64>) {
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
    fn header_fits(&self, off: u32) -> bool {
        off.is_multiple_of(BLOCK_ALIGN) && off as usize + BLOCK_HEADER_SIZE <= self.heap.len()
    }

    /// Whether a block of `size` bytes at `off` is possible: at least a
    /// header, aligned, inside the heap and not leaving a tail too small
    /// for a header.
    fn size_fits(&self, off: u32, size: u32) -> bool {
        let room = self.heap_len().saturating_sub(off);
        size >= MIN_BLOCK
            && size.is_multiple_of(BLOCK_ALIGN)
            && size <= room
            && (size == room || room - size >= MIN_BLOCK)
    }

    /// Whether a sound free block starts at `next` (the end of a block: the
    /// heap's end is none), the neighbour a freed block merges with.
    fn free_block_at(&self, next: u32) -> bool {
        next < self.heap_len()
            && self.hdr(next).state == STATE_FREE
            && self.check_block(
                next,
                STATE_FREE,
                "free block with a broken size at heap offset",
            )
    }

    /// Whether `off` starts a whole block in `state` (with [`STATE_LIVE`]:
    /// a live block of any kind, with key and value inside it); records the
    /// damage as `what` if not. Every offset read from a slot or a
    /// free-list link passes here before use.
    fn check_block(&self, off: u32, state: u32, what: &'static str) -> bool {
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
    fn check_slot_block(&self, off: u32) -> bool {
        self.check_block(
            off,
            STATE_LIVE,
            "a slot points at a broken block at heap offset",
        )
    }

    /// Entries of user keys: the index's entries less the parts of large values.
    pub(crate) fn user_entries(&self) -> u32 {
        self.meta.entries.saturating_sub(self.meta.parts)
    }

    /// Whether the stripe's counters are possible.
    fn check_meta(&self) -> bool {
        if self.meta.entries > self.max_entries() {
            self.note("entry count over the stripe's capacity:", self.meta.entries);
        } else if self.meta.used_bytes > self.heap.len() as u64 {
            self.note("used bytes over the heap size:", self.meta.used_bytes);
        }
        !self.is_damaged()
    }

    // ---------- index size ----------

    /// Slots in use: `meta.index_len` when it is possible, else (damage)
    /// the whole region, which is always safe to probe.
    fn checked_index_len(&self) -> usize {
        let n = self.meta.index_len as usize;
        if n.is_power_of_two() && n <= self.index_all.len() {
            return n;
        }
        self.note("index length impossible:", n as u64);
        self.index_all.len()
    }

    /// The index: the slots in use.
    pub(crate) fn slots(&self) -> &[Slot] {
        &self.index_all[..self.index_n]
    }

    fn slots_mut(&mut self) -> &mut [Slot] {
        &mut self.index_all[..self.index_n]
    }

    fn set_index_len(&mut self, len: u32) {
        self.meta.index_len = len;
        self.index_n = self.checked_index_len();
    }

    /// The index size for `entries` entries: at most half full, at least
    /// [`MIN_INDEX_SLOTS`], at most the whole region.
    fn index_len_for(&self, entries: u32) -> u32 {
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
    fn grow_index_for_insert(&mut self) {
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

    // ---------- raw block access ----------

    fn heap_len(&self) -> u32 {
        self.heap.len() as u32
    }

    fn hdr(&self, off: u32) -> &BlockHeader {
        if !self.header_fits(off) {
            self.note("block offset outside the heap or unaligned:", off);
            return &NO_HEADER;
        }
        let o = off as usize;
        bytemuck::from_bytes(&self.heap[o..o + BLOCK_HEADER_SIZE])
    }

    fn hdr_mut(&mut self, off: u32) -> &mut BlockHeader {
        if !self.header_fits(off) {
            self.note("block offset outside the heap or unaligned:", off);
            self.scratch = NO_HEADER;
            return &mut self.scratch;
        }
        let o = off as usize;
        bytemuck::from_bytes_mut(&mut self.heap[o..o + BLOCK_HEADER_SIZE])
    }

    fn key_of(&self, off: u32) -> &[u8] {
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
    fn value_of(&self, off: u32) -> &[u8] {
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

    /// Where an integer entry keeps its number (`None` for another kind).
    fn int_range(&self, off: u32) -> Option<std::ops::Range<usize>> {
        let h = self.hdr(off);
        let start = off as usize + value_offset(STATE_INT, h.key_len_or_prev) as usize;
        (h.state == STATE_INT).then_some(start..start + 8)
    }

    /// The integer of an integer entry.
    fn int_of(&self, off: u32) -> Option<i64> {
        let word: &[u8; 8] = self.heap.get(self.int_range(off)?)?.try_into().ok()?;
        Some(i64::from_ne_bytes(*word))
    }

    /// The 8 bytes of an integer entry's number, to update in place.
    fn int_word_mut(&mut self, off: u32) -> Option<&mut [u8; 8]> {
        let range = self.int_range(off)?;
        self.heap.get_mut(range)?.try_into().ok()
    }

    /// Runs `f` on a live entry's value as users see it: an integer
    /// entry's rendered as decimal text.
    fn with_value_text<R>(&self, off: u32, f: impl FnOnce(&[u8]) -> R) -> R {
        match self.int_of(off) {
            Some(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            None => f(self.value_of(off)),
        }
    }

    /// Records `off`'s size in the header of the block after it.
    fn update_next_prev_size(&mut self, off: u32) {
        let size = self.hdr(off).size;
        let next = off.saturating_add(size);
        if next < self.heap_len() {
            self.hdr_mut(next).prev_size = size;
        }
    }

    // ---------- formatting ----------

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
        self.link_free(0);
    }

    // ---------- free lists ----------

    fn link_free(&mut self, off: u32) {
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

    fn unlink_free(&mut self, off: u32) {
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
    fn next_nonempty_bin(&self, from: usize) -> Option<usize> {
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

    fn find_free(&self, size: u32) -> Option<u32> {
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
    fn take_block(&mut self, size: u32) -> Option<u32> {
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
    fn free_block(&mut self, off: u32) {
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

    // ---------- index ----------

    fn mask(&self) -> usize {
        self.slots().len() - 1
    }

    fn max_entries(&self) -> u32 {
        // Of the whole region: the index grows before it is half full, and
        // only once it spans the region does it fill up to 7/8.
        (self.index_all.len() - self.index_all.len() / 8) as u32
    }

    fn find_slot(&self, key: Key<'_>) -> Option<usize> {
        let mask = self.mask();
        let mut i = key.hash as usize & mask;
        for _ in 0..self.slots().len() {
            let s = self.slots()[i];
            if s.is_empty() {
                return None;
            }
            if s.hash == key.hash {
                if !self.check_slot_block(s.block) {
                    return None;
                }
                // Checked: the header, key and value lie inside the heap.
                let h = self.hdr(s.block);
                let start = s.block as usize + BLOCK_HEADER_SIZE;
                if h.key_len_or_prev as usize == key.bytes.len()
                    && (h.state == STATE_PART) == key.part
                    && self.heap[start..start + key.bytes.len()] == *key.bytes
                {
                    return Some(i);
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

    fn insert_slot(&mut self, hash: u64, block: u32) {
        let lru = self.meta.access_clock;
        self.place(Slot { hash, block, lru });
    }

    /// Puts `slot` at the first free place of its probe run.
    fn place(&mut self, slot: Slot) {
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
    fn remove_slot(&mut self, i: usize) {
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
    fn touch(&mut self, i: usize) {
        let clock = self.meta.access_clock;
        let step = lru_step(self.slots().len() as u32);
        if clock.wrapping_sub(self.slots()[i].lru) > step {
            self.slots_mut()[i].lru = clock;
        }
    }

    /// Removes the entry in slot `i`: the block is freed first (the commit),
    /// then the slot.
    fn drop_entry(&mut self, i: usize) {
        let off = self.slots()[i].block;
        if !self.check_slot_block(off) {
            return;
        }
        let Some(entries) = self.meta.entries.checked_sub(1) else {
            self.note("entry count below the entries indexed:", 0u64);
            return;
        };
        let state = self.hdr(off).state;
        let part = state == STATE_PART;
        if !part {
            self.note_change(self.slots()[i].hash);
        }
        self.count_compressed(off, state, false);
        self.free_block(off);
        self.remove_slot(i);
        self.meta.entries = entries;
        self.meta.parts = self.meta.parts.saturating_sub(part as u32);
    }

    /// What the live entry in slot `i` is.
    fn former(&self, i: usize) -> Former {
        let off = self.slots()[i].block;
        match self.hdr(off).state {
            STATE_LARGE => parse_manifest(self.value_of(off)).map_or(Former::Inline, Former::Large),
            _ => Former::Inline,
        }
    }

    /// The original and stored lengths of the value of the live block at
    /// `off`, if it is compressed.
    fn compressed_lengths(&self, off: u32) -> Option<(u64, u64)> {
        match self.hdr(off).state {
            STATE_ZSTD => {
                let stored = self.value_of(off);
                Some((zstd_raw_len(stored).unwrap_or(0), stored.len() as u64))
            }
            STATE_LARGE => parse_manifest(self.value_of(off))
                .filter(|m| m.flags & MANIFEST_COMPRESSED != 0)
                .map(|m| (m.raw_len, m.total_len)),
            _ => None,
        }
    }

    /// Adds (or, `add` false, takes away) the live block at `off`, in
    /// `state`, to the compression counters, if its value is compressed
    /// (the state tells most blocks apart without reading them). Wrapping
    /// both ways, so an add and its take-away cancel whatever the figures.
    fn count_compressed(&mut self, off: u32, state: u32, add: bool) {
        if !matches!(state, STATE_ZSTD | STATE_LARGE) {
            return;
        }
        let Some((raw, stored)) = self.compressed_lengths(off) else {
            return;
        };
        let m = &mut *self.meta;
        let op = |c: &mut u64, n: u64| {
            *c = if add {
                c.wrapping_add(n)
            } else {
                c.wrapping_sub(n)
            }
        };
        op(&mut m.compressed_entries, 1);
        op(&mut m.compressed_raw_bytes, raw);
        op(&mut m.compressed_stored_bytes, stored);
    }

    fn set_compressed_counts(&mut self, (entries, raw, stored): (u64, u64, u64)) {
        self.meta.compressed_entries = entries;
        self.meta.compressed_raw_bytes = raw;
        self.meta.compressed_stored_bytes = stored;
    }

    /// The compression counters recounted from the indexed entries.
    fn recount_compressed(&self) -> (u64, u64, u64) {
        self.slots()
            .iter()
            .filter(|s| !s.is_empty() && self.check_slot_block(s.block))
            .filter_map(|s| self.compressed_lengths(s.block))
            .fold((0u64, 0u64, 0u64), |(e, r, st), (raw, stored)| {
                (
                    e.wrapping_add(1),
                    r.wrapping_add(raw),
                    st.wrapping_add(stored),
                )
            })
    }

    /// Slot of a live entry; an expired one found on the way is reclaimed.
    /// The clock is read only for an entry that has an expiry.
    fn lookup(&mut self, key: Key<'_>, now: impl FnOnce() -> u64) -> Option<usize> {
        let i = self.find_slot(key)?;
        let expires_at = self.hdr(self.slots()[i].block).expires_at;
        if expires_at != 0 && expires_at <= now() {
            self.drop_entry(i);
            bump(&mut self.meta.expirations);
            return None;
        }
        Some(i)
    }

    // ---------- expiry and eviction ----------

    /// The incremental sweep: a few slots from a moving cursor, expired
    /// entries reclaimed.
    fn sweep_step(&mut self, now: u64) {
        if self.meta.min_expiry > now {
            return; // nothing can have expired yet
        }
        let mask = self.mask();
        for _ in 0..SWEEP_STEP {
            if self.is_damaged() {
                return;
            }
            let i = self.meta.sweep_cursor as usize & mask;
            let s = self.slots()[i];
            if !s.is_empty() && is_expired(self.hdr(s.block), now) {
                // A later entry may shift into slot i: look at it again.
                self.drop_entry(i);
                bump(&mut self.meta.expirations);
            } else {
                self.meta.sweep_cursor = ((i + 1) & mask) as u32;
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: cheap, good enough to spread eviction samples.
        let mut x = self.meta.rng | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.meta.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn note_expiry(&mut self, expires_at: u64) {
        if expires_at != 0 {
            self.meta.min_expiry = self.meta.min_expiry.min(expires_at);
        }
    }

    /// Reclaims every expired entry of the stripe, if its earliest expiry
    /// says there may be one; `true` if any went. The scan either frees
    /// something or makes the bound exact, so it does not repeat for nothing.
    pub(crate) fn reclaim_expired(&mut self, now: u64) -> bool {
        if self.meta.min_expiry > now {
            return false;
        }
        let before = self.meta.entries;
        for i in 0..self.slots().len() {
            // A later entry may shift into slot i: check it again.
            while !self.slots()[i].is_empty() && is_expired(self.hdr(self.slots()[i].block), now) {
                if self.is_damaged() {
                    return false;
                }
                self.drop_entry(i);
                bump(&mut self.meta.expirations);
            }
        }
        self.meta.min_expiry = self
            .slots()
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| self.hdr(s.block).expires_at)
            .filter(|&at| at != 0)
            .min()
            .unwrap_or(u64::MAX);
        self.meta.entries < before
    }

    /// Frees one entry to make room: expired entries first, else the least
    /// recently used of a sample, among those the policy allows. `false`
    /// when nothing may go.
    fn evict_one(&mut self, ctx: Ctx) -> bool {
        if self.meta.entries == 0 || self.is_damaged() {
            return false;
        }
        if self.reclaim_expired(ctx.now) {
            return true;
        }
        let mask = self.mask();
        if ctx.policy == EvictionPolicy::AllKeysRandom {
            // Random slots until one holds an entry that may go: each pick
            // is uniform over the slots, so the victim is uniform over the
            // entries. (A sparse index falls through to the scan below.)
            for _ in 0..RANDOM_PICKS {
                let i = self.next_random() as usize & mask;
                let s = self.slots()[i];
                if s.is_empty() {
                    continue;
                }
                if !self.check_slot_block(s.block) {
                    return false;
                }
                if self.is_spared(s, ctx) {
                    continue;
                }
                self.drop_entry(i);
                bump(&mut self.meta.evictions);
                return !self.is_damaged();
            }
        }
        let start = self.next_random() as usize & mask;
        let clock = self.meta.access_clock;
        let mut best: Option<(usize, u32)> = None;
        let mut sampled = 0;
        for step in 0..self.slots().len() {
            if step >= EVICTION_SCAN_LIMIT
                && (best.is_some() || ctx.policy == EvictionPolicy::NoEviction)
            {
                break;
            }
            let i = (start + step) & mask;
            let s = self.slots()[i];
            if s.is_empty() {
                continue;
            }
            if !self.check_slot_block(s.block) {
                return false;
            }
            let h = self.hdr(s.block);
            if is_expired(h, ctx.now) {
                self.drop_entry(i);
                bump(&mut self.meta.expirations);
                return true;
            }
            let eligible = self.evictable(i, ctx) && !self.is_spared(s, ctx);
            if eligible {
                let age = clock.wrapping_sub(s.lru);
                if best.is_none_or(|(_, a)| age > a) {
                    best = Some((i, age));
                }
                sampled += 1;
                if sampled >= EVICTION_SAMPLES {
                    break;
                }
            }
        }
        match best {
            Some((i, _)) => {
                self.drop_entry(i);
                bump(&mut self.meta.evictions);
                !self.is_damaged()
            }
            None => false,
        }
    }

    /// Whether the live entry of slot `s` is one that the write of `ctx`
    /// must not evict (see [`Spare`]).
    fn is_spared(&self, s: Slot, ctx: Ctx) -> bool {
        let spare = ctx.spare;
        if self.hdr(s.block).state != STATE_PART {
            return spare.key == Some(s.hash);
        }
        let generation = self.key_of(s.block).get(..8);
        [spare.writing, spare.replaced]
            .into_iter()
            .flatten()
            .any(|g| generation == Some(&g.to_le_bytes()[..]))
    }

    /// Whether the policy of `ctx` lets eviction take the live entry of
    /// slot `i` (spared entries aside).
    fn evictable(&self, i: usize, ctx: Ctx) -> bool {
        match ctx.policy {
            EvictionPolicy::NoEviction => false,
            EvictionPolicy::AllKeysLru | EvictionPolicy::AllKeysRandom => true,
            EvictionPolicy::VolatileLru => self.hdr(self.slots()[i].block).expires_at != 0,
        }
    }

    /// The free run that the block at `off` would be part of once freed:
    /// its own size and that of its free neighbours.
    fn run_if_freed(&self, off: u32) -> u64 {
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

    fn full(ctx: Ctx, needed: usize) -> StoreError {
        StoreError::Full {
            policy: ctx.policy.as_str(),
            needed,
        }
    }

    /// A block of `size` bytes for a write of `key`, evicting what `ctx`
    /// allows to make room, and as a last resort the entry the write
    /// replaces (see [`StripeView::make_room_in_place_of`]).
    fn alloc(&mut self, size: u32, key: Key<'_>, ctx: Ctx) -> Result<u32, StoreError> {
        if size > self.heap_len() {
            return Err(Self::full(ctx, size as usize));
        }
        loop {
            if let Some(off) = self.take_block(size) {
                return Ok(off);
            }
            if self.is_damaged()
                || !(self.evict_one(ctx) || self.make_room_in_place_of(key, size, ctx))
            {
                return Err(Self::full(ctx, size as usize));
            }
        }
    }

    // ---------- operations ----------

    /// Looks a key up; `read` sees an inline value (or a part's bytes).
    /// Hits and misses are counted by the caller, per process.
    pub(crate) fn get<R>(
        &mut self,
        key: Key<'_>,
        now: impl FnOnce() -> u64,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Option<Entry<R>> {
        let i = self.lookup(key, now)?;
        self.touch(i);
        let off = self.slots()[i].block;
        match self.former(i) {
            Former::Large(manifest) => Some(Entry::Large(manifest)),
            Former::Inline if self.hdr(off).state == STATE_ZSTD => {
                Some(Entry::Zstd(read(self.value_of(off))))
            }
            Former::Inline => Some(Entry::Inline(self.with_value_text(off, read))),
        }
    }

    /// A copy of what a live user key holds, and its kind: the value (an
    /// integer's as text, reported as [`Kind::Inline`]), a compressed
    /// value's stored bytes, or a large value's manifest.
    pub(crate) fn stored(&mut self, key: Key<'_>, now: u64) -> Option<(Kind, Vec<u8>)> {
        let i = self.lookup(key, || now)?;
        let off = self.slots()[i].block;
        match self.kind_of(i) {
            Kind::Int | Kind::Inline => {
                Some((Kind::Inline, self.with_value_text(off, <[u8]>::to_vec)))
            }
            kind => Some((kind, self.value_of(off).to_vec())),
        }
    }

    /// Whether a live user key's value is stored compressed.
    pub(crate) fn is_compressed(&mut self, key: Key<'_>, now: u64) -> bool {
        self.lookup(key, || now)
            .is_some_and(|i| self.compressed_lengths(self.slots()[i].block).is_some())
    }

    /// What a live key is, if there is one (a large value's manifest).
    pub(crate) fn current(&mut self, key: Key<'_>, now: u64) -> Option<Former> {
        self.lookup(key, || now).map(|i| self.former(i))
    }

    pub(crate) fn exists(&mut self, key: Key<'_>, now: impl FnOnce() -> u64) -> bool {
        self.lookup(key, now).is_some()
    }

    /// Stores `value` under `key`, replacing any previous value and expiry;
    /// returns what the replaced entry was. `kind` says whether `value` is
    /// the value or a large value's manifest (ignored for part keys).
    pub(crate) fn set(
        &mut self,
        key: Key<'_>,
        value: &[u8],
        expires_at: u64,
        mut ctx: Ctx,
        kind: Kind,
    ) -> Result<Option<Former>, StoreError> {
        self.sweep_step(ctx.now);
        if !self.check_meta() {
            return Err(Self::full(ctx, 0));
        }
        match self.lookup(key, || ctx.now) {
            // The entry this write replaces is not evicted to make room
            // for it (nor, if it is a manifest, its parts): a write that
            // fails leaves it as it was.
            Some(i) if !key.part => {
                ctx.spare.key = Some(key.hash);
                if self.hdr(self.slots()[i].block).state == STATE_LARGE {
                    if let Former::Large(m) = self.former(i) {
                        ctx.spare.replaced.get_or_insert(m.generation);
                    }
                }
            }
            Some(_) => {}
            None if self.is_damaged() => {}
            None => {
                while self.meta.entries >= self.max_entries() {
                    if !self.evict_one(ctx) {
                        return Err(Self::full(ctx, 0));
                    }
                }
            }
        }
        if self.is_damaged() {
            return Err(Self::full(ctx, 0));
        }
        let state = match (key.part, kind) {
            (true, _) => STATE_PART,
            (false, Kind::Inline) => STATE_LIVE,
            (false, Kind::Large) => STATE_LARGE,
            (false, Kind::Int) => STATE_INT,
            (false, Kind::Zstd) => STATE_ZSTD,
        };
        let size = block_size_for(state, key.bytes.len(), value.len());
        let off = self.alloc(size, key, ctx)?;

        self.meta.seq = self.meta.seq.wrapping_add(1);
        // Every write advances the LRU clock; the entry is stamped with it.
        self.meta.access_clock = self.meta.access_clock.wrapping_add(1);
        let start = off as usize + BLOCK_HEADER_SIZE;
        self.heap[start..start + key.bytes.len()].copy_from_slice(key.bytes);
        let vstart = off as usize + value_offset(state, key.bytes.len() as u32) as usize;
        self.heap[vstart..vstart + value.len()].copy_from_slice(value);
        let seq = self.meta.seq;
        {
            let h = self.hdr_mut(off);
            h.seq_or_next = seq;
            h.key_len_or_prev = key.bytes.len() as u32;
            h.val_len = value.len() as u32;
            h.expires_at = expires_at;
        }
        self.note_expiry(expires_at);
        // Key, value and header reach memory before the block becomes live.
        compiler_fence(Ordering::SeqCst);
        self.hdr_mut(off).state = state;
        compiler_fence(Ordering::SeqCst);
        if !key.part {
            self.note_change(key.hash);
        }
        self.count_compressed(off, state, true);

        // Eviction above may have moved or removed the old entry: find it
        // again (the new block is not indexed yet, so this finds the old one).
        match self.find_slot(key) {
            Some(i) => {
                let former = self.former(i);
                let old = self.slots()[i].block;
                let lru = self.meta.access_clock;
                self.slots_mut()[i].block = off;
                self.slots_mut()[i].lru = lru;
                self.count_compressed(old, self.hdr(old).state, false);
                self.free_block(old);
                Ok(Some(former))
            }
            None if self.is_damaged() => Ok(None),
            None => {
                self.grow_index_for_insert();
                self.insert_slot(key.hash, off);
                self.meta.entries = self.meta.entries.wrapping_add(1);
                self.meta.parts = self.meta.parts.wrapping_add(key.part as u32);
                Ok(None)
            }
        }
    }

    /// The last resort of a write that found no room with the entry it
    /// replaces spared: that entry is removed to make room, when the
    /// policy would evict it and the room it leaves (with its free
    /// neighbours) certainly takes the new block of `size` bytes; `false`
    /// otherwise, and nothing changed. Only an inline entry is taken so (a
    /// manifest's room is never worth its parts). Removing it before the
    /// new block is live means a process killed in between loses the key,
    /// as evicting it first would.
    #[cold]
    #[inline(never)]
    fn make_room_in_place_of(&mut self, key: Key<'_>, size: u32, ctx: Ctx) -> bool {
        if key.part || self.is_damaged() {
            return false;
        }
        let Some(i) = self.find_slot(key) else {
            return false;
        };
        let off = self.slots()[i].block;
        if !self.check_slot_block(off)
            || self.hdr(off).state == STATE_LARGE
            || !self.evictable(i, ctx)
            || self.run_if_freed(off) < size as u64
        {
            return false;
        }
        self.drop_entry(i);
        !self.is_damaged()
    }

    /// Inserts only when no live entry has this key.
    pub(crate) fn setnx(
        &mut self,
        key: Key<'_>,
        value: &[u8],
        expires_at: u64,
        ctx: Ctx,
        kind: Kind,
    ) -> Result<bool, StoreError> {
        if self.lookup(key, || ctx.now).is_some() {
            return Ok(false);
        }
        self.set(key, value, expires_at, ctx, kind)?;
        Ok(true)
    }

    /// Removes a live key; returns what it was.
    pub(crate) fn del(&mut self, key: Key<'_>, now: u64) -> Option<Former> {
        self.sweep_step(now);
        let i = self.lookup(key, || now)?;
        let former = self.former(i);
        self.drop_entry(i);
        Some(former)
    }

    /// Removes a live key only if it is of `kind` and its block's value is
    /// exactly `expected` (for a large value: its manifest).
    pub(crate) fn del_if(&mut self, key: Key<'_>, expected: &[u8], kind: Kind, now: u64) -> bool {
        self.sweep_step(now);
        match self.lookup_matching(key, expected, kind, now) {
            Some(i) => {
                self.drop_entry(i);
                true
            }
            None => false,
        }
    }

    /// Removes a corrupt compressed entry (as [`StripeView::del_if`]) and
    /// recounts the compression counters: what its damaged bytes claim
    /// need not be what was counted when it was written.
    pub(crate) fn del_corrupt(
        &mut self,
        key: Key<'_>,
        record: &[u8],
        kind: Kind,
        now: u64,
    ) -> bool {
        let removed = self.del_if(key, record, kind, now);
        let counts = self.recount_compressed();
        self.set_compressed_counts(counts);
        removed
    }

    /// Slot of a live key of `kind` whose block's value is exactly `expected`.
    fn lookup_matching(
        &mut self,
        key: Key<'_>,
        expected: &[u8],
        kind: Kind,
        now: u64,
    ) -> Option<usize> {
        let i = self.lookup(key, || now)?;
        // An integer entry compares as its text.
        let found = match self.kind_of(i) {
            Kind::Int => Kind::Inline,
            other => other,
        };
        let off = self.slots()[i].block;
        (found == kind && self.with_value_text(off, |v| v == expected)).then_some(i)
    }

    fn kind_of(&self, i: usize) -> Kind {
        match self.hdr(self.slots()[i].block).state {
            STATE_LARGE => Kind::Large,
            STATE_INT => Kind::Int,
            STATE_ZSTD => Kind::Zstd,
            _ => Kind::Inline,
        }
    }

    /// Sets a new absolute expiry on a live key only if it is of `kind` and
    /// its block's value is exactly `expected` (for a large value: its manifest).
    pub(crate) fn expire_if(
        &mut self,
        key: Key<'_>,
        expected: &[u8],
        kind: Kind,
        expires_at: u64,
        now: u64,
    ) -> bool {
        match self.lookup_matching(key, expected, kind, now) {
            Some(i) => {
                let off = self.slots()[i].block;
                self.hdr_mut(off).expires_at = expires_at;
                self.note_expiry(expires_at);
                true
            }
            None => false,
        }
    }

    /// Adds `delta` to the integer stored at `key` (0 if absent, then
    /// created without expiry); the expiry of an existing key is kept. An
    /// integer entry is updated in place by one aligned 8-byte store; a
    /// text value holding a decimal integer becomes an integer entry.
    pub(crate) fn incr_by(
        &mut self,
        key: Key<'_>,
        delta: i64,
        ctx: impl Fn() -> Ctx,
    ) -> Result<i64, StoreError> {
        let (current, expires_at) = match self.lookup(key, || ctx().now) {
            Some(i) => {
                let off = self.slots()[i].block;
                match self.kind_of(i) {
                    // A compressed value is never taken apart for a number.
                    Kind::Large | Kind::Zstd => return Err(StoreError::NotAnInteger),
                    Kind::Int => {
                        let word = self.int_word_mut(off).ok_or(StoreError::NotAnInteger)?;
                        let new = i64::from_ne_bytes(*word)
                            .checked_add(delta)
                            .ok_or(StoreError::Overflow)?;
                        // An array assignment: one 8-byte store (a single
                        // `mov` to an 8-byte aligned address, checked in the
                        // disassembly), so a crash leaves the old number or
                        // the new one.
                        *word = new.to_ne_bytes();
                        self.stamp_write(i);
                        self.note_change(key.hash);
                        return Ok(new);
                    }
                    Kind::Inline => {
                        let n = parse_i64(self.value_of(off)).ok_or(StoreError::NotAnInteger)?;
                        (n, self.hdr(off).expires_at)
                    }
                }
            }
            None => (0, 0),
        };
        let new = current.checked_add(delta).ok_or(StoreError::Overflow)?;
        self.set(key, &new.to_ne_bytes(), expires_at, ctx(), Kind::Int)?;
        Ok(new)
    }

    /// An in-place write to the entry at slot `i`: the LRU clock advances
    /// and stamps it.
    fn stamp_write(&mut self, i: usize) {
        self.meta.access_clock = self.meta.access_clock.wrapping_add(1);
        let clock = self.meta.access_clock;
        self.slots_mut()[i].lru = clock;
    }

    /// Sets a new absolute expiry (0: none) on a live key; returns what it is.
    pub(crate) fn expire(&mut self, key: Key<'_>, expires_at: u64, now: u64) -> Option<Former> {
        let i = self.lookup(key, || now)?;
        let off = self.slots()[i].block;
        self.hdr_mut(off).expires_at = expires_at;
        self.note_expiry(expires_at);
        Some(self.former(i))
    }

    pub(crate) fn ttl(&mut self, key: Key<'_>, now: u64) -> Ttl {
        match self.lookup(key, || now) {
            Some(i) => Ttl::from_expiry(self.hdr(self.slots()[i].block).expires_at, now),
            None => Ttl::Missing,
        }
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
    fn live_blocks(&self, now: u64) -> impl Iterator<Item = u32> + '_ {
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

    // ---------- crash recovery ----------

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
        self.meta.free_bitmap = [0; FREE_BINS / 64];
        self.meta.free_heads = [NO_BLOCK; FREE_BINS];
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

    // ---------- consistency check ----------

    /// Checks every invariant of the stripe; returns what is wrong.
    pub(crate) fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let heap_len = self.heap_len();
        let mut blocks = std::collections::HashMap::new(); // offset -> state
        let (mut off, mut prev, mut used, mut prev_free) = (0u32, 0u32, 0u64, false);
        let mut free_blocks = 0usize;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::StripeMeta;

    struct Owned {
        meta: StripeMeta,
        slots: Vec<Slot>,
        heap: Vec<u8>,
    }

    impl Owned {
        fn new(slots: usize, heap: usize) -> Self {
            let mut o = Owned {
                meta: bytemuck::Zeroable::zeroed(),
                slots: vec![Slot::EMPTY; slots],
                heap: vec![0; heap],
            };
            o.view().format();
            o
        }
        fn view(&mut self) -> StripeView<'_> {
            StripeView::new(&mut self.meta, &mut self.slots, &mut self.heap)
        }
    }

    fn key(b: &[u8]) -> Key<'_> {
        Key {
            hash: hash_key(b),
            bytes: b,
            part: false,
        }
    }

    const CTX: Ctx = Ctx {
        now: 1000,
        policy: EvictionPolicy::AllKeysLru,
        spare: Spare {
            writing: None,
            replaced: None,
            key: None,
        },
    };

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

    #[test]
    fn set_get_replace_delete_keep_invariants() {
        let mut o = Owned::new(64, 16 << 10);
        let mut v = o.view();
        v.set(key(b"a"), b"one", 0, CTX, Kind::Inline).unwrap();
        v.set(key(b"b"), &[7u8; 500], 0, CTX, Kind::Inline).unwrap();
        v.set(key(b"a"), b"two", 0, CTX, Kind::Inline).unwrap();
        assert_eq!(
            v.get(key(b"a"), || 1000, |b| b.to_vec()),
            Some(Entry::Inline(b"two".to_vec()))
        );
        assert_eq!(v.del(key(b"b"), 1000), Some(Former::Inline));
        assert_eq!(v.del(key(b"b"), 1000), None);
        assert_eq!(v.verify(), Vec::<String>::new());
        assert_eq!(v.meta.entries, 1);
    }

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
        v.del(key(b"k"), 1000).unwrap();
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

    #[test]
    fn noeviction_reports_full_and_keeps_data() {
        let mut o = Owned::new(64, 4096);
        let mut v = o.view();
        let ctx = Ctx {
            policy: EvictionPolicy::NoEviction,
            ..CTX
        };
        let mut stored = 0u32;
        for i in 0..100u32 {
            match v.set(key(&i.to_le_bytes()), &[1; 200], 0, ctx, Kind::Inline) {
                Ok(_) => stored += 1,
                Err(StoreError::Full { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(stored > 10);
        for i in 0..stored {
            assert!(v.exists(key(&i.to_le_bytes()), || 1000));
        }
        assert_eq!(v.verify(), Vec::<String>::new());
    }

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

    #[test]
    fn backward_shift_keeps_all_keys_reachable() {
        let mut o = Owned::new(16, 16 << 10);
        let mut v = o.view();
        for i in 0..14u32 {
            v.set(key(&i.to_le_bytes()), b"v", 0, CTX, Kind::Inline)
                .unwrap();
        }
        for i in (0..14u32).step_by(2) {
            assert!(v.del(key(&i.to_le_bytes()), 1000).is_some());
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
}
