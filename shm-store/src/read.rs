//! Lock-free reads: a probe of a stripe's index and a copy of the value,
//! validated against the stripe's change sequence (a seqlock). Nothing
//! here writes the segment, but for an occasional LRU stamp; every word is
//! loaded through [`SharedStripe`], which bounds-checks it, and checked
//! against the layout's rules before it is followed. What may go wrong
//! under a racing writer (a torn word, an offset into a block being
//! rewritten, a probe that never meets an empty slot) ends the attempt as
//! [`Probe::Busy`]: the caller retries, then takes the stripe lock.

use crate::layout::{
    lru_step, value_offset, BlockHeader, Slot, StripeMeta, BLOCK_ALIGN, BLOCK_HEADER_SIZE,
    MUTEX_AREA, SLOT_SIZE, STATE_INT, STATE_LARGE, STATE_LIVE, STATE_PART, STATE_ZSTD,
    STRIPE_HEADER_SIZE,
};
use crate::segment::SharedStripe;
use std::mem::offset_of;

/// What one lock-free attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// No live entry has the key (validated).
    Missing,
    /// An inline value (validated up to the copy, which the caller does).
    Found(Seen),
    /// The stripe changed or was being changed meanwhile: try again.
    Busy,
    /// The entry needs the locked path: it has expired (the locked path
    /// reclaims it), or it is a large value.
    Locked,
}

/// Where an inline value was seen, for the copy that follows. Small and
/// plain (no options), as it travels up to the caller in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The change sequence the probe was validated against.
    pub seq: u32,
    /// The stamp to store in the slot's `lru` word after a successful
    /// copy (see `stamp_at`).
    pub stamp: u32,
    /// What the value is.
    pub kind: Kind,
    /// Offset of the value's first byte from the stripe's start.
    pub value_at: usize,
    /// Length of the value as the caller gets it.
    pub len: usize,
    /// Offset of the slot's `lru` word if its stamp is stale, else 0
    /// (the stripe's mutex: never a slot).
    pub stamp_at: usize,
    /// An integer entry's number (read and validated with the probe;
    /// [`Kind::Int`] only).
    pub int: i64,
}

/// What kind of inline value a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The value's bytes, copied from the segment.
    Raw,
    /// An integer entry: the value is the decimal text of `int`, nothing
    /// is copied from the segment.
    Int,
    /// The value is stored compressed: what is copied is the stored bytes
    /// (`len` of them), which the caller decompresses.
    Zstd,
}

impl Seen {
    /// Stores the LRU stamp, if the slot's was stale: after a copy that
    /// validated.
    #[inline]
    pub(crate) fn stamp(&self, stripe: &SharedStripe<'_>) {
        if self.stamp_at != 0 {
            stripe.set_u32(self.stamp_at, self.stamp);
        }
    }
}

/// The stripe's shape, from the segment's geometry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub slots: usize,
    pub heap_len: usize,
}

impl Shape {
    #[inline(always)]
    fn heap_start(&self) -> usize {
        STRIPE_HEADER_SIZE + self.slots * SLOT_SIZE
    }
}

/// One attempt to find the user key `key` (hash `hash`) in a stripe.
/// `now` is called only for an entry that has an expiry.
#[inline]
pub(crate) fn probe(
    stripe: &SharedStripe<'_>,
    shape: Shape,
    key: &[u8],
    hash: u64,
    now: &impl Fn() -> u64,
) -> Probe {
    let Some(seq) = stripe.begin() else {
        return Probe::Busy;
    };
    let found = find(stripe, shape, key, hash, now, seq);
    if !stripe.unchanged_since(seq) {
        return Probe::Busy;
    }
    found
}

/// The probe itself, for a reader that loaded the even sequence `seq`;
/// what it returns means something only once
/// [`SharedStripe::unchanged_since`]`(seq)` says so (a reader may copy the
/// value first and validate both at once).
#[inline(always)]
pub(crate) fn find(
    stripe: &SharedStripe<'_>,
    shape: Shape,
    key: &[u8],
    hash: u64,
    now: &impl Fn() -> u64,
    seq: u32,
) -> Probe {
    // Two words of the stripe's meta (after the mutex): access_clock,
    // index_len, side by side (asserted in layout.rs); not the sequence
    // before them, which the caller loaded (a volatile load is not elided).
    let meta = MUTEX_AREA + offset_of!(StripeMeta, access_clock);
    let Some([clock, index_len]) = stripe.read::<[u32; 2]>(meta) else {
        return Probe::Busy;
    };
    let n = index_len as usize;
    if !n.is_power_of_two() || n > shape.slots {
        return Probe::Busy;
    }
    let mask = n - 1;
    let mut i = hash as usize & mask;
    // At most every slot once: an index always has an empty slot, so a
    // longer probe can only be a racing writer (or damage).
    for _ in 0..n {
        let slot = STRIPE_HEADER_SIZE + i * SLOT_SIZE;
        let Some(Slot {
            hash: slot_hash,
            block,
            lru,
        }) = stripe.read::<Slot>(slot)
        else {
            return Probe::Busy;
        };
        if slot_hash == 0 {
            return Probe::Missing;
        }
        if slot_hash == hash {
            match entry(stripe, shape, block, key, now) {
                Entry::Other => {}
                Entry::Busy => return Probe::Busy,
                Entry::Locked => return Probe::Locked,
                Entry::Value {
                    value_at,
                    len,
                    int,
                    kind,
                } => {
                    let stale = clock.wrapping_sub(lru) > lru_step(index_len);
                    return Probe::Found(Seen {
                        seq,
                        stamp: clock,
                        kind,
                        value_at,
                        len,
                        stamp_at: if stale {
                            slot + offset_of!(Slot, lru)
                        } else {
                            0
                        },
                        int,
                    });
                }
            }
        }
        i = (i + 1) & mask;
    }
    Probe::Busy
}

/// What a slot's block holds, as far as this key is concerned.
enum Entry {
    /// Another key (or a part) with the same hash.
    Other,
    Busy,
    Locked,
    Value {
        value_at: usize,
        len: usize,
        int: i64,
        kind: Kind,
    },
}

#[inline(always)]
fn entry(
    stripe: &SharedStripe<'_>,
    shape: Shape,
    block: u32,
    key: &[u8],
    now: &impl Fn() -> u64,
) -> Entry {
    let block = block as usize;
    if !block.is_multiple_of(BLOCK_ALIGN as usize) || block + BLOCK_HEADER_SIZE > shape.heap_len {
        return Entry::Busy;
    }
    let at = shape.heap_start() + block;
    let Some(BlockHeader {
        size,
        state,
        key_len_or_prev: key_len,
        val_len,
        expires_at,
        ..
    }) = stripe.read::<BlockHeader>(at)
    else {
        return Entry::Busy;
    };
    // One dispatch on the state (the live kinds of `is_live`): another
    // state is being written, freed or moved under us (or damaged).
    let (class, value_start) = match state {
        STATE_LIVE => (Class::Read(Kind::Raw), value_offset(STATE_LIVE, key_len)),
        STATE_INT => (Class::Read(Kind::Int), value_offset(STATE_INT, key_len)),
        STATE_ZSTD => (Class::Read(Kind::Zstd), value_offset(STATE_ZSTD, key_len)),
        STATE_LARGE => (Class::Large, value_offset(STATE_LARGE, key_len)),
        STATE_PART => (Class::Part, value_offset(STATE_PART, key_len)),
        _ => return Entry::Busy,
    };
    let whole = value_start + val_len as u64;
    if size as usize > shape.heap_len - block || whole > size as u64 || key_len == 0 {
        // A block that does not hold its key and value: the locked path
        // sorts it out.
        return Entry::Busy;
    }
    if key_len as usize != key.len() || class == Class::Part {
        return Entry::Other;
    }
    if !stripe.bytes_eq(at + BLOCK_HEADER_SIZE, key) {
        return Entry::Other;
    }
    let Class::Read(kind) = class else {
        return Entry::Locked; // a large value
    };
    if expires_at != 0 && expires_at <= now() {
        return Entry::Locked;
    }
    let value_at = at + value_start as usize;
    if kind == Kind::Int {
        let (8, Some(n)) = (val_len, stripe.read::<u64>(value_at)) else {
            return Entry::Busy;
        };
        let n = n as i64;
        return Entry::Value {
            value_at,
            len: itoa::Buffer::new().format(n).len(),
            int: n,
            kind,
        };
    }
    Entry::Value {
        value_at,
        len: val_len as usize,
        int: 0,
        kind,
    }
}

/// What a live block's state says to a reader.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A value this probe reads.
    Read(Kind),
    /// A large value's manifest: read under the lock.
    Large,
    /// A part of a large value (never a user's key).
    Part,
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreConfig};

    /// `SharedStripe::bytes_eq` (no call for short keys: bytes, then
    /// overlapping words) agrees with a plain comparison: equal to a copy
    /// of the stripe's bytes at every offset and length up to 40, and
    /// unequal once any one byte of the copy differs.
    #[test]
    fn bytes_eq_finds_every_differing_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::new("eq").dir(dir.path()).size(1 << 20)).unwrap();
        // Bytes that differ from their neighbours, somewhere in stripe 0.
        let value: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 256) as u8).collect();
        for i in 0..64 {
            store.set(format!("k{i}").as_bytes(), &value, None).unwrap();
        }
        let stripe = store.segment.shared_stripe(0);
        let heap = super::STRIPE_HEADER_SIZE
            + store.segment.geometry().slots_per_stripe as usize * super::SLOT_SIZE;
        for off in heap..heap + 24 {
            for len in 1..=40 {
                let mut copy = vec![0; len];
                assert!(stripe.copy_out(off, &mut copy));
                assert!(stripe.bytes_eq(off, &copy), "{off} {len}");
                for at in 0..len {
                    copy[at] ^= 1;
                    assert!(!stripe.bytes_eq(off, &copy), "{off} {len} {at}");
                    copy[at] ^= 1;
                }
            }
        }
        // Out of the stripe: false, not a read past it.
        let end = store.segment.geometry().stripe_stride as usize;
        assert!(!stripe.bytes_eq(end - 2, &[0; 3]));
    }
}
