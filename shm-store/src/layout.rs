//! # Segment layout (the one place it is written down)
//!
//! A store is one file, `<dir>/ephpm_kv.<name>`, mode 0600, mapped
//! `MAP_SHARED` by every process that opens it. All integers are native
//! endian (the segment never leaves the machine). Offsets are in bytes.
//!
//! ```text
//! 0                     SegmentHeader (one 4 KiB page; SegmentCounters at +256,
//!                         the watch table's robust mutex at +1024)
//! 4096                  the watch table: WATCH_SLOTS x WatchSlot (32 B)
//! H + i * stride        stripe i, for i in 0..stripes, each `stride` bytes
//!                       (H = SEGMENT_HEADER_SIZE, 132 KiB):
//!     +0                  StripeHeader (4 KiB): the stripe lock (128 B),
//!                         then StripeMeta (counters, free-list heads), the
//!                         ChangeSeq words at +3968 and, in its last 64 B,
//!                         the LockWake words
//!     +4096               slots: `slots_per_stripe` x Slot (16 B), open addressing;
//!                         the index is the first `StripeMeta::index_len` of them
//!     +4096 + slots*16    heap: `heap_size` bytes of blocks, tiling it exactly
//! ```
//!
//! **Header.** The creator writes the header with [`MAGIC_INIT`] into the
//! empty file first and replaces it with [`MAGIC_READY`] last. An empty file
//! or one with `MAGIC_INIT` means a creator died half-way (safe to
//! initialise again, no data was ever stored); `MAGIC_READY` means ready;
//! anything else is not a segment and is never overwritten.
//! `version` is [`LAYOUT_VERSION`]; the geometry fields describe the rest,
//! `eviction` the policy every opener of the store evicts by, and
//! `compression`, `compression_level`, `compression_min_size` the
//! default compression its creator was given (`StoreConfig::store_compression`):
//! the default of every opener that asks for none (an opener may compress its own writes otherwise; any handle
//! reads every entry, compressed or not).
//!
//! **Keys → stripes → slots.** `h = xxh3_64(key)` (seed 0; `0` is mapped to
//! `1` because `0` marks an empty slot). The stripe is
//! `((h >> 32) * stripes) >> 32`; the home slot is `h & (index_len - 1)`.
//! Linear probing; deletion shifts later entries back (no tombstones), so
//! lookups never slow down as keys come and go. The index starts at
//! [`MIN_INDEX_SLOTS`] slots and doubles (a rehash under the lock) before an
//! insert would make it more than half full, up to the whole slot region;
//! a rebuild sizes it for the entries it finds, a flush shrinks it back. So
//! a stripe's index spans about 32 B per entry (two slots), not the
//! region's worst case, and the slots that lookups touch stay in cache.
//!
//! **Slot** (16 B): `hash: u64` (0 = empty), `block: u32` (heap offset of the
//! entry's block), `lru: u32` (the stripe's `access_clock` when the entry
//! was written or last stamped by a read: the clock advances once per
//! write, and a read stamps only a slot stale by more than [`lru_step`]).
//!
//! **Block** (16-byte aligned, at least 32 B): a 32-byte [`BlockHeader`] then,
//! for a live block, the key bytes and the value bytes. A live block is of
//! one of five kinds, told by its state: [`STATE_LIVE`] (a user's key and
//! its value), [`STATE_INT`] (a user's key and an `i64`, at
//! [`value_offset`], that reads render as decimal), [`STATE_ZSTD`] (a
//! user's key and its value compressed: the value bytes are the original
//! length as 8 bytes little endian, then one zstd frame),
//! [`STATE_LARGE`] (a user's key and a [`Manifest`]) or [`STATE_PART`] (a
//! part's internal key and a slice of a large value).
//! `size` (whole block), `state`, `prev_size` (size of the block just before,
//! 0 for the first), then `seq`, `key_len`, `val_len`, `expires_at` (Unix ms,
//! 0 = never) for a live block, or `next_free`/`prev_free` links for a free one.
//! Blocks tile the heap: walking `off += size` from 0 visits every block.
//!
//! **Crash safety.** A process may die (SIGKILL) between any two instructions
//! while holding a stripe lock. The next locker gets `OwnerDied` and rebuilds
//! the stripe's index, free lists and counters from a walk of the heap, which
//! is kept valid at every instant by these rules:
//! - a block's `size` changes in one aligned 4-byte store, after any header it
//!   uncovers has been fully written (split) or when it swallows free
//!   neighbours (merge);
//! - a new value is written into a block in state `WRITING` and becomes
//!   visible by one store of `state = LIVE`; the old block of the same key is
//!   freed only after that. If both are found live, the higher `seq` (compared
//!   with wrap-around) wins, so a reader sees the old value or the new one,
//!   never a mix, and no memory stays lost. (Eviction on a write's behalf
//!   spares the entry it replaces; only when nothing else can make room
//!   and the policy would evict that entry does the write remove it first
//!   and take its place, as an eviction followed by an insert: a crash in
//!   between leaves the key missing, never a mix);
//! - `expires_at` changes in one aligned 8-byte store;
//! - `incr` of an integer entry changes its `i64` in one aligned 8-byte
//!   store (the old number or the new one); `incr` of a text value that
//!   holds an integer writes a new integer entry by the rule above.
//!
//! Everything else (slots, free lists, `prev_size`, counters, the dead
//! chain) is derived state that the rebuild recomputes.
//!
//! **Deferred frees** (version 7). Removing an entry (`del`, an expiry, an
//! eviction) does not return its block to the free lists on the caller's
//! path: one store of `state = DEAD` is the commit (the block stops being
//! live; a crash after it loses the entry, before it keeps it whole), then
//! the block is pushed on the stripe's dead chain (`StripeMeta::dead_head`,
//! linked through the block's `seq_or_next`, counted in `dead_blocks`), the
//! slot is removed by backward shift, and `used_bytes` and `entries` drop
//! by the block and the entry at once: so `stats` and `verify` count a dead
//! block as free room from the instant it is dead. The chain is drained
//! (each block popped, then freed and merged with its free neighbours as
//! any free) by the next writer of the stripe that allocates a block,
//! before it takes one (so freed room is reused while its pages are warm,
//! instead of the heap's untouched space), before it evicts anything, and by a full
//! reclaim of expired entries (`purge_expired`, a reclaim for room). A
//! holder killed with blocks on the chain, or in the middle of a drain,
//! leaves blocks in state `DEAD` (or `FREE`): the rebuild's heap walk keeps
//! only live blocks and frees every other one, merges the runs and resets
//! the chain, so nothing is lost or leaked. `verify` checks that the chain
//! holds exactly the heap's dead blocks.
//!
//! **Large values** (version 3). A value longer than the header's
//! `part_len` is cut into parts of `part_len` bytes (the last one shorter).
//! Part `i` is an entry of its own, in state `PART`, under the 12-byte key
//! [`part_key`]`(generation, i)`, in whatever stripe that key hashes to;
//! the user's key holds a `LARGE` entry whose value is the [`Manifest`]
//! (total length, part size, part count, generation). The generation comes
//! from `SegmentCounters::next_generation`, a `fetch_add` on the segment,
//! so no two writes ever share part keys. A compressed large value
//! (version 5) has [`MANIFEST_COMPRESSED`] in the manifest's `flags`:
//! then `total_len` is the length of the compressed stream (the 8-byte
//! original length and the zstd frame, as in a [`STATE_ZSTD`] block),
//! which is what the parts hold, and `raw_len` the original length.
//! The rules, each step under one
//! stripe lock and never two at once (`large.rs` has the code):
//! - a write stores every part first, with an expiry no later than
//!   `PENDING` (5 minutes) from now, then commits the manifest with one
//!   ordinary entry write (the rules above), then gives the parts the
//!   value's own expiry, then removes the parts of the value it replaced.
//!   Until the commit, eviction on its behalf spares its own parts and
//!   the value it replaces (the key's entry and that value's parts), so
//!   a write that fails leaves the old value whole (any write, large or
//!   not, spares the entry it replaces, see `stripe::Spare`);
//! - parts never change after they are written; a reader reads the
//!   manifest, then each part by key, and checks each length. A part
//!   missing means the value was replaced or deleted since (a new manifest
//!   is read again) or a part was evicted (the same manifest: the value is
//!   removed and reported missing). So a reader gets the old value, the
//!   new one or a miss, never a mix;
//! - `expire` sets the manifest's expiry, then each part's; a delete
//!   removes the manifest, then the parts.
//!
//! A process killed between these steps leaves parts that no manifest
//! names: those of a write not yet committed carry the pending expiry and
//! are reclaimed like any expired entry; those of a removed value keep the
//! value's expiry, and without one they are removed by
//! `Store::remove_orphan_parts` (`ephpm-shm verify --repair`), which is
//! safe beside running writers because it lists parts before manifests.
//! Killed between the commit and the parts' new expiry, a write leaves a
//! whole value that becomes a miss when the pending expiry passes. `stats`
//! counts parts apart (`parts`), never as entries.
//!
//! **Stripe lock** (version 7; a robust pthread mutex before). Each stripe
//! header starts with its lock's area ([`MUTEX_AREA`], 128 B): at +0 the
//! owner word (u64), at +8 the holder's record word, at +16 the kind
//! ([`STRIPE_LOCK_KIND`]), at +24 the record's pid namespace; the rest is
//! zero. The owner word is 0 when free; a locker takes it with one
//! compare-and-swap (`Acquire`) from 0 to its identity: its thread id in
//! bits 0..22 and its thread's start time (`/proc`, clock ticks since boot,
//! low 32 bits, never 0) in the high half; bit 31 is the waiters bit, any
//! other bit of the low half set (or a non-zero word without a thread id)
//! is a garbled word. Right after, the holder stores its pid namespace
//! into the record (`Relaxed`) and then a copy of its identity into the
//! record word (`Release`). It unlocks with a compare-and-swap (`Release`)
//! from its identity to 0; if the waiters bit is set it stores 0 and wakes
//! one sleeper. A locker that finds the word taken spins a little, sets the
//! waiters bit and sleeps on the word's low half (a futex, shared), for at
//! most a slice; after the first 2 ms and then every slice it tests the
//! named holder: a thread of that id in its pid namespace with the same
//! start stamp is alive; none (or a zombie) is dead, and the waiter swaps
//! the word from the dead holder's identity to its own (no ABA: only that
//! thread, dead for good, ever wrote that identity), gets `OwnerDied` and
//! rebuilds the stripe. A holder killed between its compare-and-swap and
//! its record leaves a word without a record: it is judged dead once the
//! same word has been seen without its record for a slice. A record naming
//! another pid namespace cannot be judged: the waiter waits out its bound
//! and reports the holder's namespace. A kind word other than
//! [`STRIPE_LOCK_KIND`], or a garbled word, is refused at once (the stripe
//! is unusable until `ephpm-shm verify --repair` re-initialises it, which
//! it does only if no live thread is named).
//!
//! **Change sequence** (version 3). [`ChangeSeq`] at [`CHANGE_SEQ_OFFSET`]
//! in each stripe header is odd while some process holds the stripe
//! lock and may be changing the stripe, even otherwise: the taker of the
//! lock makes it odd (a `Relaxed` store of the next value, unless a dead
//! holder left it odd already; only the lock holder ever writes it) and
//! issues a `Release` fence before touching the stripe; the guard's drop
//! stores the next, even value with `Release` before unlocking. It is
//! the word lock-free reads validate against (below).
//!
//! **Lock-free reads** (version 4). `get`, `exists`, `read_small` (and its
//! forms `read_small_quick`, `read_small_quick_in`) and the
//! one-copy `read_begin`/`read_finish` take no lock and write nothing
//! shared (but a rare LRU stamp, an advisory word nobody relies on). A
//! reader:
//! 1. loads [`ChangeSeq`] with `Acquire`; odd means a holder may be
//!    changing the stripe: it spins (a bounded number of times,
//!    `READ_SPINS` in `store/reads.rs`) until the word is even and looks again;
//!    after `READ_ATTEMPTS` looks, or a spin that ends with the word still
//!    odd (a holder that died), it takes the stripe lock instead;
//! 2. copies out `access_clock` and `index_len` (the words of
//!    [`StripeMeta`] after the sequence), then probes: each slot (`hash`, `block`, `lru`) and
//!    the block header it names are copied out in one piece (a volatile
//!    read of the aligned record), an integer entry's number with one
//!    aligned 8-byte read; it compares the key bytes and, later,
//!    copies the value bytes out with a plain copy. Any of these copies may
//!    be torn by a writer; none is trusted before it is checked and the
//!    whole is validated in step 3. Every offset and length is checked before it is followed
//!    (`segment::SharedStripe` refuses anything outside the stripe;
//!    `read.rs` checks `index_len` is a power of two within the region, the
//!    block offset aligned with its header inside the heap, the block live
//!    with key and value inside it); the probe visits at most `index_len`
//!    slots. A check that fails ends the look as "busy", never as an
//!    answer;
//! 3. issues an `Acquire` fence and loads the sequence again (`Relaxed`):
//!    unchanged means what it read is what the stripe held at one instant.
//!    `read_begin`/`read_finish` copy the value after this first validation
//!    (the caller allocates its buffer in between, holding nothing) and
//!    validate the same way again after the copy. `read_small` copies a
//!    value that fits in the caller's buffer before its one validation,
//!    which then covers the probe and the copy together (the copy's offset
//!    and length were bounds-checked like every other, and its bytes are
//!    not used unless the validation succeeds; a value that does not fit is
//!    validated before it is handed on). `read_small_quick_in` does the
//!    same into memory its caller allocates once the probe gave the length
//!    (PHP's string: no lock is held and nothing is written meanwhile; a
//!    length from a torn probe is at most the caller's room, and what was
//!    copied into that memory is discarded unless the one validation
//!    succeeds). Each validation also loads the
//!    flag that the file lost pages under the mapping (`segment`'s SIGBUS
//!    guard): then nothing validates, and the locked path reports it.
//!
//! Why a torn read is always detected: a writer makes the sequence odd,
//! then issues a `Release` fence, then changes the stripe; it makes it
//! even again with a `Release` store after its last change. If a reader's
//! load saw any byte a writer stored after its fence, the reader's
//! `Acquire` fence makes the writer's odd store (ordered before that
//! byte) visible to the second load of the sequence, which then differs
//! from the first (or is odd). If the first load saw an even value, the
//! `Acquire` on it makes every change before that value visible. So equal
//! even values mean no change overlapped the reads. (Formally, Rust's model
//! calls the racing plain copy a data race; the copy's bytes are never
//! interpreted before the validation, which is the seqlock pattern of the
//! Linux kernel and of crossbeam's `AtomicCell`. On x86-64 the fences are
//! compiler barriers.) The sequence is 32 bits: a reader would have to
//! stall through 2^31 lock holds between its two loads to be fooled.
//!
//! A writer killed mid-change leaves the sequence odd: readers take the
//! lock, find its holder dead, rebuild the stripe, and the guard makes the
//! word even. An expired entry or a large value sends the reader to the
//! locked path too (which reclaims the one, gathers the other's parts).
//!
//! **Statistics** (version 4). Hits and misses are counted by each handle,
//! in its own memory, and added into [`SegmentCounters`] (two atomic adds)
//! at the end of each PHP request, every 4096 reads, when the handle is
//! dropped and before it reports `stats`; so the figures are exact at
//! request boundaries. The other counters live in [`StripeMeta`].
//!
//! **Compression** (version 5). A writer whose handle compresses (zstd)
//! and whose value is at least its `min_size` compresses it before it
//! takes any lock, and stores the result (prefix and frame) only if it is
//! shorter than the value; so raw and compressed entries coexist, and each
//! says what it is by its state (or its manifest's flag). A reader copies
//! the stored bytes out (lock-free or under the lock, like any value) and
//! decompresses them after it holds nothing, into at most the prefix's
//! length, which must not exceed the store's `max_value_len`; a frame that
//! does not decompress to exactly that length is corrupt: the reader
//! removes exactly that entry (by its stored bytes) and reports the read
//! as a miss with `StoreError::Corrupt`. `StripeMeta` counts the compressed
//! entries and their original and stored bytes (a large value in the
//! stripe of its manifest); the rebuild recounts them.
//!
//! **Damage.** Bytes that no crash can produce (a bug, a stray write) are
//! treated as damage, never trusted: a reader checks every offset and length
//! it takes from the segment against these rules before use (a block offset
//! is 16-byte aligned with its header inside the heap; a block's `size`
//! keeps it inside the heap and leaves either nothing or room for a header
//! after it; a live block's key and value fit in it and the key is not
//! empty; a free-list link names a free block; the slot index always has an
//! empty slot, so a probe that visits every slot has met damage). The
//! holder of the stripe lock that finds damage rebuilds the stripe as after
//! a crash: the heap walk keeps the blocks before a broken `size` and frees
//! the rest. A stripe lock whose bytes are not a well-formed lock, or
//! that cannot be taken within a bound, is reported unusable and is only
//! re-initialised by an operator's repair once its recorded holder is gone.
//!
//! **Lock wake-ups.** [`LockWake`], at [`LOCK_WAKE_OFFSET`] in each stripe
//! header, serves the advisory locks of `Store::lock` (session locks) whose
//! keys fall in the stripe: `waiters` counts the processes waiting for one
//! of them, and `seq`, the futex word they sleep on, is bumped (and the
//! sleepers woken) by a release that finds `waiters` non-zero; a release
//! without any waiter writes neither word. Both are touched only
//! with atomic operations, never under the stripe lock, and zero is a valid
//! initial state (a waiter killed while asleep only leaves `waiters` too
//! high, which costs needless wake-up calls).
//!
//! **Watches** (version 5; version 6 made the table 4096 slots and a
//! key's window 64, and leases only for sleepers; `watch.rs`:
//! `ephpm_kv_wait`). The watch table
//! ([`WatchSlot`] x [`WATCH_SLOTS`], after the header page) holds the keys
//! someone waits on. A key's slot is one of the [`WATCH_PROBE`] slots from
//! [`watch_home`]`(hash)`; the slot is named by the key's hash alone, so
//! two keys whose 64-bit hashes collide share a version (a spurious wake,
//! never a lost one).
//! - **Versions.** Every version is taken from
//!   `SegmentCounters::next_version` (a `fetch_add`, seeded with the
//!   creation time in µs) and stored with `fetch_max`: a slot's version
//!   never goes backwards, and a slot created or re-created for a key gets
//!   a version no waiter has seen, so a waiter holding an old version
//!   returns at once instead of sleeping through a write it missed.
//! - **Writers.** A taker of a stripe lock loads the stripe's
//!   `ChangeSeq::watched` (the only cost when nobody watches: one load of
//!   a line it has just written). Non-zero, it records the user keys it
//!   writes or removes (set, insert, incr, delete, expiry reap, eviction; a
//!   flush or a rebuild records "every key"; `expire` records nothing) and,
//!   before unlocking, looks up each recorded hash in the table (no table
//!   lock), bumps the slot's version and then `wake` (both `SeqCst`);
//!   after unlocking it issues a futex wake on each bumped slot whose
//!   `lease_until` is not past. A waiter that registers while the holder
//!   has the lock is not missed: it takes the lock itself before it reads
//!   (below), so it reads after this holder's changes.
//! - **Waiters.** Under the table's robust mutex a waiter finds or creates
//!   the slot (creation: `watched` of the key's stripe +1, version and lease
//!   set, then the hash stored; freeing: hash 0 first, then `watched` −1;
//!   so a crash can only leave `watched` too high, and a table-lock taker
//!   that gets `EOWNERDEAD` recounts it). A call that returns at once (a
//!   poll, version 0, a stale version) takes no lease: it sets
//!   `lease_until` to at least now − 1 (lapsed: no wake-ups, idle, the
//!   first to be reused, least recently used first); a waiter about to
//!   sleep extends its lease to now + `LEASE` and loads `wake` and
//!   `version` once more before it sleeps. It takes and drops the stripe
//!   lock once after its first registration, and again whenever its
//!   slot was made anew: every writer
//!   after that sees the slot, every writer before it has finished. Then it
//!   loads `wake`, then `version` (`SeqCst`): a version other than the one
//!   it holds is a change (it reads the value lock-free and returns it if
//!   the version is still the same); otherwise it sleeps on `wake` for at
//!   most one `SLICE`, and goes round again. A writer's bump after the
//!   waiter's load of `version` comes after its load of `wake`, so the
//!   futex sleep returns at once or is woken; the lease, stored before
//!   those loads, is seen by that writer.
//! - **Dead waiters.** A waiter renews its lease every `SLICE` (500 ms;
//!   the lease is 2 s). One killed while asleep leaves a lease that lapses
//!   within 2 s: writers then stop issuing wake-ups for it, and its slot,
//!   once idle for `IDLE_KEEP` (30 s) past the lease, is freed by the next
//!   writer that meets it (if it gets the table lock at once) or by a
//!   waiter that needs room. Nothing waits for a dead waiter.
//! - **Full.** A key whose [`WATCH_PROBE`] slots are all taken by keys with
//!   live leases cannot be watched: the waiter gets
//!   `StoreError::WatchTableFull` (PHP: a warning and `false`), never a
//!   watch that would miss a write.

use bytemuck::{Pod, Zeroable};

/// Identifies a ready segment: "EPHPMKV" + 1 (the format's own number is
/// [`LAYOUT_VERSION`]).
pub(crate) const MAGIC_READY: u64 = u64::from_le_bytes(*b"EPHPMKV1");
/// Written first by a creator; seen later, it means the creator died.
pub(crate) const MAGIC_INIT: u64 = u64::from_le_bytes(*b"EPHPMKV0");
/// Bumped on any change of this layout.
pub const LAYOUT_VERSION: u32 = 7;

pub(crate) const PAGE: usize = 4096;
/// The header page and the watch table after it; the stripes start here.
pub const SEGMENT_HEADER_SIZE: usize = PAGE + WATCH_SLOTS * std::mem::size_of::<WatchSlot>();
pub(crate) const STRIPE_HEADER_SIZE: usize = PAGE;
/// Room reserved for the lock at the start of a stripe header (and for the
/// watch table's `pthread_mutex_t` in the header page): two cache lines, so
/// the adjacent-line prefetcher does not pair the lock with the stripe's
/// counters.
pub(crate) const MUTEX_AREA: usize = 128;
/// The stripe lock's owner word (u64) in its area (see "Stripe lock"):
/// 0 when free; else the holder's thread id (bits 0..22), the waiters bit
/// (bit 31), and the holder thread's start stamp (the high half).
pub(crate) const STRIPE_LOCK_WORD_OFFSET: usize = 0;
/// The holder's record: a copy of its owner word (without the waiters bit)...
pub(crate) const STRIPE_LOCK_RECORD_OFFSET: usize = 8;
/// ...the kind word, [`STRIPE_LOCK_KIND`] once initialised...
pub(crate) const STRIPE_LOCK_KIND_OFFSET: usize = 16;
/// ...and the record's pid namespace (inode of `/proc/<pid>/ns/pid`, 0 if
/// unknown).
pub(crate) const STRIPE_LOCK_RECORD_NS_OFFSET: usize = 24;
/// What an initialised stripe lock's kind word holds.
pub(crate) const STRIPE_LOCK_KIND: u64 = u64::from_le_bytes(*b"EPHLOCK1");
pub(crate) const SLOT_SIZE: usize = std::mem::size_of::<Slot>();
pub(crate) const BLOCK_HEADER_SIZE: usize = std::mem::size_of::<BlockHeader>();
pub(crate) const BLOCK_ALIGN: u32 = 16;
pub(crate) const MIN_BLOCK: u32 = BLOCK_HEADER_SIZE as u32;
pub(crate) const MAX_STRIPES: u32 = 1024;
/// Segregated free lists, see `stripe::heap::bin_for`.
pub(crate) const FREE_BINS: usize = 192;
/// "No block" in free-list links.
pub(crate) const NO_BLOCK: u32 = u32::MAX;

pub(crate) const STATE_FREE: u32 = u32::from_le_bytes(*b"free");
pub(crate) const STATE_WRITING: u32 = u32::from_le_bytes(*b"wrtg");
/// The block of an entry removed by a delete (or an expiry, an eviction),
/// waiting on the stripe's dead chain (`StripeMeta::dead_head`, linked by
/// `seq_or_next`) to be returned to the free lists (version 7: see
/// "Deferred frees" above). Not live: no slot names it, and a rebuild frees it.
pub(crate) const STATE_DEAD: u32 = u32::from_le_bytes(*b"dead");
/// A live entry whose value is in the block.
pub(crate) const STATE_LIVE: u32 = u32::from_le_bytes(*b"LIVE");
/// A live entry of a large value: its block holds a [`Manifest`], the
/// bytes are in part entries.
pub(crate) const STATE_LARGE: u32 = u32::from_le_bytes(*b"LRGE");
/// A live part (chunk) of a large value, under an internal key (see
/// [`part_key`]); never seen by users.
pub(crate) const STATE_PART: u32 = u32::from_le_bytes(*b"PART");

/// A live entry whose value is an integer (what `incr` stores): a native
/// `i64` at the block's first 8-byte boundary after the key (see
/// [`value_offset`]), `val_len` 8; reads render it as decimal text, and
/// `incr` updates it in place with one aligned 8-byte store.
pub(crate) const STATE_INT: u32 = u32::from_le_bytes(*b"INT8");

/// A live entry whose value is compressed: the value bytes are the
/// original length (8 bytes, little endian), then one zstd frame that
/// decompresses to exactly that many bytes.
pub(crate) const STATE_ZSTD: u32 = u32::from_le_bytes(*b"ZSTD");

/// Length of the original-length prefix of a compressed value.
pub(crate) const ZSTD_PREFIX: usize = 8;

/// Whether a block state is one of the five live kinds.
pub(crate) fn is_live(state: u32) -> bool {
    matches!(
        state,
        STATE_LIVE | STATE_LARGE | STATE_PART | STATE_INT | STATE_ZSTD
    )
}

/// Where a live block's value starts, from the block's start: right after
/// the key, or for [`STATE_INT`] at the next multiple of 8 (blocks are
/// 16-byte aligned, so the integer is 8-byte aligned in memory).
pub(crate) fn value_offset(state: u32, key_len: u32) -> u64 {
    let after_key = BLOCK_HEADER_SIZE as u64 + key_len as u64;
    match state {
        STATE_INT => after_key.next_multiple_of(8),
        _ => after_key,
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct SegmentHeader {
    pub magic: u64,
    pub version: u32,
    pub header_size: u32,
    pub total_size: u64,
    pub stripe_stride: u64,
    pub stripes: u32,
    pub slots_per_stripe: u32,
    pub heap_size: u32,
    pub max_key_len: u32,
    pub max_value_len: u32,
    /// Largest value kept in one block; larger ones are split in parts of this size.
    pub part_len: u32,
    pub creator_pid: u32,
    /// The store's eviction policy, recorded by its creator (see
    /// `EvictionPolicy::code`; 0, from a creator that recorded none, reads
    /// as `allkeys-lru`). Every opener evicts by it.
    pub eviction: u32,
    /// The creator's compression codec (see `Codec::code`: 0 none, 1
    /// zstd), the default of every opener that asks for none.
    pub compression: u32,
    /// The creator's compression level (zstd's level).
    pub compression_level: i32,
    /// Values shorter than this are stored raw (the creator's default).
    pub compression_min_size: u64,
    pub created_unix_ms: u64,
}

/// Where [`SegmentCounters`] live in the segment header page: past the
/// header record, in a cache line of their own.
pub(crate) const SEGMENT_COUNTERS_OFFSET: usize = 256;

/// Segment-wide counters, touched only with atomic operations.
#[repr(C)]
pub(crate) struct SegmentCounters {
    /// The next large-value generation: every large value written takes a
    /// number from here, so part keys are never reused, across processes
    /// and restarts alike.
    pub next_generation: std::sync::atomic::AtomicU64,
    /// Reads that found a value, summed from every process's own count
    /// (each adds its count at the end of a request, see `Store::flush_stats`).
    pub hits: std::sync::atomic::AtomicU64,
    /// Reads that found nothing, counted the same way.
    pub misses: std::sync::atomic::AtomicU64,
    /// The next watch version (see "Watches"): every version handed out
    /// is a `fetch_add` here, so versions never repeat or go backwards.
    /// Seeded with the creation time in microseconds.
    pub next_version: std::sync::atomic::AtomicU64,
}

/// Where the watch table's robust mutex lives in the header page.
pub(crate) const WATCH_MUTEX_OFFSET: usize = 1024;
/// Where the watch table starts: the page after the header page.
pub(crate) const WATCH_TABLE_OFFSET: usize = PAGE;
/// Keys that can be watched at once (the table's slots). 4096 (128 KiB)
/// since layout 6 (512 before): with [`WATCH_PROBE`] 64, 500 waiters on
/// distinct keys fill an eighth of it, and 2000 are placed in practice
/// (in 200 random fillings of the table the first refusal came at 2438
/// keys with live waiters at the earliest, 3127 in the median).
pub(crate) const WATCH_SLOTS: usize = 4096;
/// A key's watch lives in one of the this many slots from its home slot
/// (a writer looks them all up for each watched key it changes).
pub(crate) const WATCH_PROBE: usize = 64;

/// One watched key (see "Watches"); every field is accessed atomically.
#[repr(C)]
pub(crate) struct WatchSlot {
    /// The key's hash; 0: a free slot.
    pub hash: std::sync::atomic::AtomicU64,
    /// The key's current version.
    pub version: std::sync::atomic::AtomicU64,
    /// `CLOCK_MONOTONIC` ms until which some waiter is (or may be) asleep
    /// on `wake`; writers wake sleepers only before it.
    pub lease_until: std::sync::atomic::AtomicU64,
    /// The futex word waiters sleep on; bumped with every version.
    pub wake: std::sync::atomic::AtomicU32,
    pub _reserved: u32,
}

/// The watch home of a key hash (bits the stripe and index do not favour).
pub(crate) fn watch_home(hash: u64) -> usize {
    (hash >> 20) as usize & (WATCH_SLOTS - 1)
}

/// The stripe a key hash belongs to, among `stripes`.
pub(crate) fn stripe_of_hash(hash: u64, stripes: u32) -> usize {
    (((hash >> 32) * stripes as u64) >> 32) as usize
}

/// Per-stripe state, guarded by the stripe's mutex. The first fields are
/// the ones lock-free readers load (see "Lock-free reads" above).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct StripeMeta {
    pub seq: u32,
    /// The stripe's LRU clock: advanced by every write, stamped into a
    /// slot's `lru` when the entry is written and when a read finds the
    /// stamp stale by more than [`lru_step`].
    pub access_clock: u32,
    /// Slots of the index in use: a power of two, at least
    /// `min(MIN_INDEX_SLOTS, slots_per_stripe)`, at most `slots_per_stripe`.
    /// The index is the first `index_len` slots; it doubles when half full.
    pub index_len: u32,
    pub entries: u32,
    pub sweep_cursor: u32,
    /// How many of `entries` are parts of large values (not user keys).
    pub parts: u32,
    pub used_bytes: u64,
    pub expirations: u64,
    pub evictions: u64,
    pub recoveries: u64,
    pub rng: u64,
    /// No entry of the stripe expires before this (a lower bound; `u64::MAX`: none).
    pub min_expiry: u64,
    pub free_bitmap: [u64; FREE_BINS / 64],
    pub free_heads: [u32; FREE_BINS],
    /// Entries whose value is compressed ([`STATE_ZSTD`] blocks and
    /// manifests with [`MANIFEST_COMPRESSED`]); derived, recounted by a rebuild.
    pub compressed_entries: u64,
    /// Their values' original bytes.
    pub compressed_raw_bytes: u64,
    /// Their values' stored bytes (prefix and frame).
    pub compressed_stored_bytes: u64,
    /// The first block of the dead chain (see "Deferred frees"), or
    /// [`NO_BLOCK`]; derived, reset by a rebuild.
    pub dead_head: u32,
    /// Blocks on the dead chain; derived, reset by a rebuild.
    pub dead_blocks: u32,
}

/// The index's size when a stripe is formatted: 64 slots (1 KiB, 16
/// cache lines), doubled as entries come.
pub(crate) const MIN_INDEX_SLOTS: u32 = 64;

/// How stale (in writes to the stripe) a slot's `lru` stamp must be before
/// a read stamps it again: 1/16 of the index, so a hot key costs a shared
/// write at most once per `index_len / 16` writes, and eviction's
/// recency is exact to within that step.
#[inline]
pub(crate) fn lru_step(index_len: u32) -> u32 {
    (index_len / 16).max(1)
}

/// Where the stripe's [`ChangeSeq`] lives: a cache line of its own, before
/// the lock wake-up words.
pub(crate) const CHANGE_SEQ_OFFSET: usize = STRIPE_HEADER_SIZE - 128;

/// The stripe's change sequence (see the module docs): odd while a holder
/// of the stripe lock may be changing the stripe, even otherwise; and the
/// number of watch slots whose keys fall in the stripe, in the same cache
/// line, so a writer that finds it 0 pays one load of a line it has.
#[repr(C)]
pub(crate) struct ChangeSeq {
    pub seq: std::sync::atomic::AtomicU32,
    pub watched: std::sync::atomic::AtomicU32,
}

/// Where [`LockWake`] lives in a stripe header: its last cache line, away
/// from the mutex and the counters that every operation writes.
pub(crate) const LOCK_WAKE_OFFSET: usize = STRIPE_HEADER_SIZE - 64;

/// The wake-up words of a stripe's advisory locks (see the module docs).
#[repr(C)]
pub(crate) struct LockWake {
    pub seq: std::sync::atomic::AtomicU32,
    pub waiters: std::sync::atomic::AtomicU32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct Slot {
    pub hash: u64,
    pub block: u32,
    pub lru: u32,
}

impl Slot {
    pub(crate) const EMPTY: Slot = Slot {
        hash: 0,
        block: 0,
        lru: 0,
    };
    pub(crate) fn is_empty(&self) -> bool {
        self.hash == 0
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct BlockHeader {
    pub size: u32,
    pub state: u32,
    pub prev_size: u32,
    /// Live: write sequence number. Free: next block in its free list.
    pub seq_or_next: u32,
    /// Live: key length. Free: previous block in its free list.
    pub key_len_or_prev: u32,
    pub val_len: u32,
    pub expires_at: u64,
}

/// The value of a [`STATE_LARGE`] entry: where its parts are.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// [`MANIFEST_MAGIC`].
    pub magic: u32,
    /// Bytes in every part but the last (the segment's `part_len`).
    pub part_len: u32,
    /// Length of the bytes in the parts: the whole value, or with
    /// [`MANIFEST_COMPRESSED`] the compressed stream.
    pub total_len: u64,
    /// The generation that names the parts (from [`SegmentCounters`]).
    pub generation: u64,
    /// Number of parts: `total_len` divided by `part_len`, rounded up.
    pub parts: u32,
    /// [`MANIFEST_COMPRESSED`] or 0.
    pub flags: u32,
    /// The value's original length (equal to `total_len` when not compressed).
    pub raw_len: u64,
}

/// In [`Manifest::flags`]: the parts hold a compressed stream (the 8-byte
/// original length, then one zstd frame).
pub(crate) const MANIFEST_COMPRESSED: u32 = 1;

/// First word of every [`Manifest`].
pub(crate) const MANIFEST_MAGIC: u32 = u32::from_le_bytes(*b"LVm3");
pub(crate) const MANIFEST_SIZE: usize = std::mem::size_of::<Manifest>();
/// Length of a part's internal key.
pub(crate) const PART_KEY_LEN: usize = 12;

/// The internal key of part `index` of generation `generation`: the two
/// numbers, little endian. It may equal a user key's bytes: lookups tell
/// them apart by the block state.
pub(crate) fn part_key(generation: u64, index: u32) -> [u8; PART_KEY_LEN] {
    let mut key = [0; PART_KEY_LEN];
    key[..8].copy_from_slice(&generation.to_le_bytes());
    key[8..].copy_from_slice(&index.to_le_bytes());
    key
}

const _: () = assert!(std::mem::size_of::<SegmentHeader>() <= SEGMENT_COUNTERS_OFFSET);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, max_value_len) == 48);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, eviction) == 60);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, compression) == 64);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, compression_level) == 68);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, compression_min_size) == 72);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, created_unix_ms) == 80);
const _: () = assert!(std::mem::size_of::<SegmentHeader>() == 88);
const _: () = assert!(std::mem::size_of::<WatchSlot>() == 32);
const _: () = assert!(std::mem::offset_of!(WatchSlot, wake) == 24);
const _: () =
    assert!(SEGMENT_COUNTERS_OFFSET + std::mem::size_of::<SegmentCounters>() <= WATCH_MUTEX_OFFSET);
const _: () =
    assert!(WATCH_MUTEX_OFFSET.is_multiple_of(64) && WATCH_MUTEX_OFFSET + MUTEX_AREA <= PAGE);
const _: () = assert!(WATCH_SLOTS.is_power_of_two() && WATCH_PROBE <= WATCH_SLOTS);
const _: () = assert!(SEGMENT_HEADER_SIZE.is_multiple_of(PAGE));
const _: () = assert!(std::mem::offset_of!(StripeMeta, access_clock) == 4);
const _: () = assert!(std::mem::offset_of!(StripeMeta, index_len) == 8);
const _: () =
    assert!(std::mem::offset_of!(Slot, block) == 8 && std::mem::offset_of!(Slot, lru) == 12);
const _: () = assert!(std::mem::offset_of!(BlockHeader, expires_at) == 24);
const _: () = assert!(MANIFEST_SIZE == 40 && std::mem::offset_of!(Manifest, generation) == 16);
const _: () = assert!(std::mem::offset_of!(Manifest, raw_len) == 32);
const _: () = assert!(std::mem::offset_of!(StripeMeta, compressed_entries) == 864);
const _: () = assert!(std::mem::size_of::<StripeMeta>() == 896);
const _: () = assert!(MUTEX_AREA + std::mem::size_of::<StripeMeta>() <= CHANGE_SEQ_OFFSET);
const _: () =
    assert!(CHANGE_SEQ_OFFSET.is_multiple_of(64) && CHANGE_SEQ_OFFSET + 64 <= LOCK_WAKE_OFFSET);
const _: () = assert!(LOCK_WAKE_OFFSET.is_multiple_of(64));
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= MUTEX_AREA);
const _: () = assert!(STRIPE_LOCK_RECORD_NS_OFFSET + 8 <= MUTEX_AREA);
const _: () = assert!(SLOT_SIZE == 16 && BLOCK_HEADER_SIZE == 32);

/// The key hash, part of the format: xxh3-64 with seed 0, never 0.
#[inline]
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key).max(1)
}
