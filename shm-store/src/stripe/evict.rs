//! Owns eviction and allocation under pressure: the policies' victims, what a write spares, the
//! last resort of a replacing write. Removes entries through `drop_entry`; blocks from `heap.rs`.

use super::expiry::is_expired;
use super::view::{bump, StripeView};
use super::{Ctx, Key};
use crate::config::EvictionPolicy;
use crate::error::StoreError;
use crate::layout::{Slot, STATE_LARGE, STATE_PART};

/// Eviction picks the least recently used of this many sampled candidates.
const EVICTION_SAMPLES: usize = 16;

/// Random slots `allkeys-random` tries before it scans for a victim.
const RANDOM_PICKS: usize = 64;

/// Slots an eviction examines before settling for what it found.
const EVICTION_SCAN_LIMIT: usize = 1024;

impl StripeView<'_> {
    pub(super) fn next_random(&mut self) -> u64 {
        // xorshift64*: cheap, good enough to spread eviction samples.
        let mut x = self.meta.rng | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.meta.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Frees one entry to make room: expired entries first, else the least
    /// recently used of a sample, among those the policy allows. `false`
    /// when nothing may go.
    pub(super) fn evict_one(&mut self, ctx: Ctx) -> bool {
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
    /// must not evict (see [`Spare`](super::Spare)).
    pub(super) fn is_spared(&self, s: Slot, ctx: Ctx) -> bool {
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
    pub(super) fn evictable(&self, i: usize, ctx: Ctx) -> bool {
        match ctx.policy {
            EvictionPolicy::NoEviction => false,
            EvictionPolicy::AllKeysLru | EvictionPolicy::AllKeysRandom => true,
            EvictionPolicy::VolatileLru => self.hdr(self.slots()[i].block).expires_at != 0,
        }
    }

    pub(super) fn full(ctx: Ctx, needed: usize) -> StoreError {
        StoreError::Full {
            policy: ctx.policy.as_str(),
            needed,
        }
    }

    /// A block of `size` bytes for a write of `key`, evicting what `ctx`
    /// allows to make room, and as a last resort the entry the write
    /// replaces (see [`StripeView::make_room_in_place_of`]).
    pub(super) fn alloc(&mut self, size: u32, key: Key<'_>, ctx: Ctx) -> Result<u32, StoreError> {
        if size > self.heap_len() {
            return Err(Self::full(ctx, size as usize));
        }
        // The blocks of removed entries go back to the free lists before
        // anything is taken from them: taken from the heap's untouched
        // space instead, a stripe with deletes and writes would walk through
        // all of its heap before reusing a block, every block on a page no
        // cache holds (a delete then cost 2.6x APCu's in the workload,
        // nearly all of it the miss on the block's header).
        if self.has_dead() && !self.is_damaged() {
            self.drain_dead();
        }
        loop {
            if let Some(off) = self.take_block(size) {
                return Ok(off);
            }
            // Blocks retired meanwhile (by the eviction below), then eviction.
            if !self.is_damaged() && self.drain_dead() {
                continue;
            }
            if self.is_damaged()
                || !(self.evict_one(ctx) || self.make_room_in_place_of(key, size, ctx))
            {
                return Err(Self::full(ctx, size as usize));
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
    pub(super) fn make_room_in_place_of(&mut self, key: Key<'_>, size: u32, ctx: Ctx) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::test_support::*;
    use crate::stripe::Kind;

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
}
