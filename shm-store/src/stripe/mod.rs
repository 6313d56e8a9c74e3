//! One stripe: an open-addressing index over a heap of blocks, with its own
//! allocator, expiry, eviction, crash rebuild and consistency check. Every
//! function here runs with the stripe's lock held, on plain slices: no
//! `unsafe`. The format is described in `layout.rs`.
//!
//! One file per concern, each with its own `impl StripeView`:
//! - `view.rs`: the view, damage, and the checked access to blocks
//! - `index.rs`: the slot index (probe, insert, backward-shift removal, growth)
//! - `heap.rs`: the allocator (size bins, free lists, split and merge, the
//!   dead chain of blocks a removal retired)
//! - `entries.rs`: the kinds of entry, their encodings and counters
//! - `ops.rs`: get, set, del, incr_by, expire and the rest the store calls
//! - `expiry.rs`, `evict.rs`: making room, by expiry and by policy
//! - `rebuild.rs`, `verify.rs`: format and crash rebuild; the consistency check
//! - `stats.rs`: figures, scan, and what the cleanup of large values reads
//!
//! This file holds the vocabulary they share and the names the crate uses.
mod entries;
mod evict;
mod expiry;
mod heap;
mod index;
mod ops;
mod rebuild;
mod stats;
#[cfg(test)]
mod test_support;
mod verify;
mod view;

pub(crate) use entries::{parse_manifest, zstd_raw_len};
pub(crate) use heap::block_size_for;
pub use stats::{ScanEntry, StripeStats};
pub(crate) use view::StripeView;

use crate::config::EvictionPolicy;
use crate::layout::Manifest;

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
