//! Owns the operations the store calls with the lock held: get, set, setnx, del(_if), incr_by,
//! expire(_if), ttl. Built on the other files; writes a new entry's key, value and header itself.

use super::entries::parse_i64;
use super::heap::block_size_for;
use super::view::{bump, StripeView};
use super::{Ctx, Entry, Former, Key, Kind};
use crate::error::StoreError;
use crate::layout::{
    value_offset, BlockHeader, BLOCK_HEADER_SIZE, STATE_INT, STATE_LARGE, STATE_LIVE, STATE_PART,
    STATE_ZSTD,
};
use crate::ttl::Ttl;
use std::sync::atomic::{compiler_fence, Ordering};

/// Why [`StripeView::incr_by`] changed nothing: two words, not a whole
/// [`StoreError`], on the way out of the stripe lock (the store turns it
/// into one).
#[derive(Debug)]
pub(crate) enum IncrError {
    /// The value is not a decimal 64-bit integer.
    NotAnInteger,
    /// The sum would overflow.
    Overflow,
    /// Writing the integer entry failed (no room).
    Write(Box<StoreError>),
}

impl From<IncrError> for StoreError {
    fn from(e: IncrError) -> Self {
        match e {
            IncrError::NotAnInteger => StoreError::NotAnInteger,
            IncrError::Overflow => StoreError::Overflow,
            IncrError::Write(e) => *e,
        }
    }
}

impl StripeView<'_> {
    /// Slot of a live entry; an expired one found on the way is reclaimed.
    /// The clock is read only for an entry that has an expiry.
    pub(super) fn lookup(&mut self, key: Key<'_>, now: impl FnOnce() -> u64) -> Option<usize> {
        self.lookup_block(key, now).map(|(i, _)| i)
    }

    /// [`StripeView::lookup`], with a copy of the entry's block header;
    /// `find_slot` checked the block, so its key and value lie inside it.
    pub(super) fn lookup_block(
        &mut self,
        key: Key<'_>,
        now: impl FnOnce() -> u64,
    ) -> Option<(usize, BlockHeader)> {
        let (i, h) = self.find_entry(key)?;
        if h.expires_at != 0 && h.expires_at <= now() {
            self.drop_checked(i, self.slots()[i].block, h.state);
            bump(&mut self.meta.expirations);
            return None;
        }
        Some((i, h))
    }

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
        let looked = self.lookup_block(key, || ctx.now);
        let found = looked.map(|(i, _)| i);
        // Every removal of an entry (an eviction below or in `alloc`)
        // lowers the count: while it stands, `found` is still the key's slot.
        let entries = self.meta.entries;
        match looked {
            // The entry this write replaces is not evicted to make room
            // for it (nor, if it is a manifest, its parts): a write that
            // fails leaves it as it was.
            Some((i, h)) if !key.part => {
                ctx.spare.key = Some(key.hash);
                if h.state == STATE_LARGE {
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
        // again (the new block is not indexed yet, so this finds the old
        // one), unless nothing was removed since the lookup.
        let slot = match self.meta.entries == entries && !self.is_damaged() {
            true => found,
            false => self.find_slot(key),
        };
        match slot {
            Some(i) => {
                let old = self.slots()[i].block;
                let old_state = self.hdr(old).state;
                let former = match old_state {
                    STATE_LARGE => self.former(i),
                    _ => Former::Inline,
                };
                let lru = self.meta.access_clock;
                self.slots_mut()[i].block = off;
                self.slots_mut()[i].lru = lru;
                self.count_compressed(old, old_state, false);
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

    /// Removes a live key; returns what it was. The clock is read only if
    /// it is needed (the stripe has an entry with an expiry), at most once.
    pub(crate) fn del(&mut self, key: Key<'_>, now: impl Fn() -> u64) -> Option<Former> {
        // With no expiry in the stripe the sweep has nothing to do, and the
        // lookup reads the clock only for an entry that has one.
        let at = (self.meta.min_expiry != u64::MAX).then(&now);
        if let Some(at) = at {
            self.sweep_step(at);
        }
        let (i, h) = self.lookup_block(key, || at.unwrap_or_else(&now))?;
        let former = match h.state {
            STATE_LARGE => self.former(i),
            _ => Former::Inline,
        };
        // `lookup_block` checked the block.
        self.drop_checked_inline(i, self.slots()[i].block, h.state);
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
        // A rare path that already walks the index: the damaged block (and
        // any other removed one) goes back to the free lists now.
        self.drain_dead();
        let counts = self.recount_compressed();
        self.set_compressed_counts(counts);
        removed
    }

    /// Slot of a live key of `kind` whose block's value is exactly `expected`.
    pub(super) fn lookup_matching(
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
    ) -> Result<i64, IncrError> {
        let (current, expires_at) = match self.lookup_block(key, || ctx().now) {
            // An integer entry: one probe, one copied header, one 8-byte
            // store (no second look at the header or the slot).
            Some((i, h)) if h.state == STATE_INT => {
                let off = self.slots()[i].block;
                // Checked by the probe: the number lies inside the block.
                let start = off as usize + value_offset(STATE_INT, h.key_len_or_prev) as usize;
                let Some(word) = self
                    .heap
                    .get_mut(start..)
                    .and_then(<[u8]>::first_chunk_mut::<8>)
                else {
                    return Err(IncrError::NotAnInteger);
                };
                // The errors are built only when returned (`ok_or` would
                // build and drop one on every call).
                let Some(new) = i64::from_ne_bytes(*word).checked_add(delta) else {
                    return Err(IncrError::Overflow);
                };
                // An array assignment: one 8-byte store (a single `mov` to
                // an 8-byte aligned address, checked in the disassembly),
                // so a crash leaves the old number or the new one.
                *word = new.to_ne_bytes();
                self.stamp_write(i);
                self.note_change(key.hash);
                return Ok(new);
            }
            // A compressed value is never taken apart for a number.
            Some((_, h)) if h.state == STATE_LARGE || h.state == STATE_ZSTD => {
                return Err(IncrError::NotAnInteger)
            }
            Some((i, h)) => {
                let Some(n) = parse_i64(self.value_of(self.slots()[i].block)) else {
                    return Err(IncrError::NotAnInteger);
                };
                (n, h.expires_at)
            }
            None => (0, 0),
        };
        let Some(new) = current.checked_add(delta) else {
            return Err(IncrError::Overflow);
        };
        match self.set(key, &new.to_ne_bytes(), expires_at, ctx(), Kind::Int) {
            Ok(_) => Ok(new),
            Err(e) => Err(IncrError::Write(Box::new(e))),
        }
    }

    /// An in-place write to the entry at slot `i`: the LRU clock advances
    /// and stamps it.
    pub(super) fn stamp_write(&mut self, i: usize) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::test_support::*;

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
        assert_eq!(v.del(key(b"b"), || 1000), Some(Former::Inline));
        assert_eq!(v.del(key(b"b"), || 1000), None);
        assert_eq!(v.verify(), Vec::<String>::new());
        assert_eq!(v.meta.entries, 1);
    }

    /// A replacement that evicts other entries to find room still replaces
    /// the key's own entry, though removing them moved its slot (every key
    /// has the same home slot here, so each eviction shifts the rest back):
    /// one entry for it, the new value, the others as they were.
    #[test]
    fn a_replacement_that_evicts_others_replaces_its_own_entry() {
        let mut o = Owned::new(64, 4 << 10);
        let mut v = o.view();
        let names: Vec<[u8; 4]> = (0..40u32).map(u32::to_le_bytes).collect();
        // The same home slot (low bits), told apart by the high bits.
        let k = |i: usize| Key {
            hash: ((i as u64 + 1) << 32) | 5,
            bytes: &names[i],
            part: false,
        };
        let mut n = 0;
        while n < names.len() && v.set(k(n), &[1u8; 200], 0, CTX, Kind::Inline).is_ok() {
            n += 1;
        }
        let before = v.meta.entries;
        v.set(k(n - 1), &[2u8; 1500], 0, CTX, Kind::Inline).unwrap();
        assert!(v.meta.entries < before, "the write evicted nothing");
        assert_eq!(
            v.get(k(n - 1), || 1000, |b| b.to_vec()),
            Some(Entry::Inline(vec![2u8; 1500]))
        );
        // (`verify` would object to the made-up hashes.) Every other key
        // still holds its value or was evicted, and the count agrees.
        let others = (0..n - 1)
            .filter(|&j| match v.get(k(j), || 1000, |b| b.to_vec()) {
                Some(e) => e == Entry::Inline(vec![1u8; 200]),
                None => false,
            })
            .count();
        assert_eq!(others as u32 + 1, v.meta.entries);
        assert_eq!(v.del(k(n - 1), || 1000), Some(Former::Inline));
        assert_eq!(v.del(k(n - 1), || 1000), None);
        assert_eq!(v.meta.entries as usize, others);
    }
}
