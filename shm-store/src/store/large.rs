//! Values larger than one block (`Geometry::part_len`): the bytes are cut
//! into parts, each an entry of its own under an internal key, and the
//! user's key holds a [`Manifest`] that names them. Parts spread over the
//! stripes like any keys, so a value may be as large as the store.
//!
//! No lock is ever held on two stripes at once. Consistency comes from
//! the generation: every write takes a new one from the segment's
//! counter, parts are written before the manifest that names them and
//! never changed afterwards, so a reader that finds every part of the
//! manifest it read has exactly the value of that write. A reader that
//! misses a part (the value was replaced or deleted meanwhile, or a part
//! was evicted) looks at the key again: a new manifest is read again, the
//! same one means the value is broken and it is removed (a miss).
//!
//! A write does not evict, to make room for its parts, its own parts nor
//! the value it replaces (that value's manifest and parts): if it fails,
//! the key still holds the old value, whole. So the new parts must fit
//! beside the old ones; a value that could not even in an empty store is
//! refused before anything is written or evicted.
//!
//! What a SIGKILL leaves (see also `layout.rs`):
//! - before the manifest is committed: parts that nobody names. They were
//!   written with an expiry at most [`PENDING`] away, so the store
//!   reclaims them by itself;
//! - between the commit and the moment the parts get the value's own
//!   expiry: a value that is complete, and vanishes (a miss) when its parts
//!   expire, at most [`PENDING`] later;
//! - while the parts of a replaced or deleted value are being removed:
//!   parts that nobody names, reclaimed at their expiry, or by eviction
//!   under `allkeys-lru`; a part without expiry stays until
//!   [`Store::remove_orphan_parts`] (`ephpm-shm verify --repair`) finds it.

use crate::error::{Result, StoreError};
use crate::layout::{
    hash_key, part_key, Manifest, MANIFEST_COMPRESSED, MANIFEST_MAGIC, PART_KEY_LEN, STATE_PART,
};
use crate::segment::StripeGuard;
use crate::store::reads::Stored;
use crate::stripe::{block_size_for, Entry, Former, Key, Kind, Spare};
use crate::Store;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the parts of a value being written may outlive a writer that
/// died before committing it.
pub const PENDING: Duration = Duration::from_secs(300);

/// How many times a large value is written before a `Full` is reported,
/// in a store that evicts (see [`Store::put_large`]).
const WRITE_ATTEMPTS: usize = 3;

/// How often a reader starts again on a value that keeps being replaced
/// while it reads, before it reports a miss.
const READ_ATTEMPTS: usize = 8;

/// The heap bytes that the parts of a `len`-byte value take.
fn parts_bytes(len: u64, part_len: u64) -> u64 {
    if part_len == 0 {
        return 0;
    }
    let block = |n: u64| block_size_for(STATE_PART, PART_KEY_LEN, n as usize) as u64;
    let whole = len / part_len;
    whole * block(part_len)
        + match len % part_len {
            0 => 0,
            rest => block(rest),
        }
}

impl Store {
    /// Whether a value of this length is kept in parts.
    pub(crate) fn is_large(&self, len: usize) -> bool {
        len > self.segment.geometry().part_len as usize
    }

    /// Locks the stripe of part `index` of `generation` and runs `op` on it.
    fn with_part<R>(
        &self,
        generation: u64,
        index: u32,
        op: impl FnOnce(&mut StripeGuard<'_>, Key<'_>) -> R,
    ) -> Result<R> {
        self.with_entry(&part_key(generation, index), true, op)
    }

    /// Removes the parts of a value nobody may read any more; best effort
    /// (a part that cannot be removed is reclaimed by its expiry).
    pub(crate) fn drop_parts(&self, manifest: &Manifest) {
        let now = self.clock.now_ms();
        for index in 0..manifest.parts {
            let _ = self.with_part(manifest.generation, index, |g, k| g.view.del(k, || now));
        }
    }

    /// Sets every part of `manifest` to expire at `expires_at` (0: never).
    pub(crate) fn expire_parts(&self, manifest: &Manifest, expires_at: u64) -> Result<()> {
        let now = self.clock.now_ms();
        for index in 0..manifest.parts {
            self.with_part(manifest.generation, index, |g, k| {
                g.view.expire(k, expires_at, now)
            })?;
        }
        Ok(())
    }

    /// Writes a large value: its parts, then its manifest under `key`
    /// (only if the key is absent when `only_new`); `false` if it was not
    /// absent. `value` is what the parts hold: with `raw_len`, a
    /// compressed stream of a value of that length.
    ///
    /// Concurrent writers of large values in a store that evicts may evict
    /// each other's parts before they are committed: the loser sees a part
    /// missing and reports `Full` although the store has room. Such a lost
    /// race is tried again, with a new generation, up to
    /// [`WRITE_ATTEMPTS`] times in all; a store that does not evict is
    /// full the first time.
    pub(crate) fn put_large(
        &self,
        key: &[u8],
        value: &[u8],
        raw_len: Option<usize>,
        expires_at: u64,
        only_new: bool,
    ) -> Result<bool> {
        let evicts = self.policy() != crate::EvictionPolicy::NoEviction;
        let mut attempt = 1;
        loop {
            match self.put_large_once(key, value, raw_len, expires_at, only_new) {
                Err(StoreError::Full { .. }) if evicts && attempt < WRITE_ATTEMPTS => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    fn put_large_once(
        &self,
        key: &[u8],
        value: &[u8],
        raw_len: Option<usize>,
        expires_at: u64,
        only_new: bool,
    ) -> Result<bool> {
        let mut ctx = self.ctx();
        // What the key holds now: not worth writing the parts for a key
        // that is there under `only_new` (the commit below still decides,
        // atomically); otherwise the value this write replaces.
        let current = self.with_key(key, |g, k| g.view.current(k, ctx.now))?;
        let replaced = match current {
            Some(_) if only_new => return Ok(false),
            Some(Former::Large(old)) => Some(old),
            _ => None,
        };
        let geometry = self.segment.geometry();
        let part_len = geometry.part_len as usize;
        // The new parts must fit beside the value they replace, which
        // stays whole until the commit (see `Spare`): a value that cannot,
        // even in an empty store, is refused before anything is evicted.
        let capacity = geometry.heap_size as u64 * geometry.stripes as u64;
        let needed = parts_bytes(value.len() as u64, part_len as u64)
            + replaced.map_or(0, |m| parts_bytes(m.total_len, m.part_len as u64));
        if needed > capacity {
            return Err(StoreError::Full {
                policy: ctx.policy.as_str(),
                needed: value.len(),
            });
        }
        let manifest = Manifest {
            magic: MANIFEST_MAGIC,
            part_len: part_len as u32,
            total_len: value.len() as u64,
            generation: self
                .segment
                .counters()
                .next_generation
                .fetch_add(1, Ordering::Relaxed),
            parts: value.len().div_ceil(part_len) as u32,
            flags: match raw_len {
                Some(_) => MANIFEST_COMPRESSED,
                None => 0,
            },
            raw_len: raw_len.unwrap_or(value.len()) as u64,
        };
        ctx.spare = Spare {
            writing: Some(manifest.generation),
            replaced: replaced.map(|m| m.generation),
            key: Some(hash_key(key)),
        };
        // Parts that no committed manifest names go by themselves.
        let pending_until = ctx.now.saturating_add(PENDING.as_millis() as u64);
        let pending = match expires_at {
            0 => pending_until,
            at => at.min(pending_until),
        };
        let written = value
            .chunks(part_len)
            .zip(0u32..)
            .try_for_each(|(bytes, index)| {
                self.with_part(manifest.generation, index, |g, k| {
                    g.view.set(k, bytes, pending, ctx, Kind::Inline).map(drop)
                })?
            })
            .and_then(|()| {
                // Eviction spares this value's parts, but an expiry sweep
                // or another writer's eviction may have taken one (a
                // value close to the store's size): all must be there.
                for index in 0..manifest.parts {
                    if !self.with_part(manifest.generation, index, |g, k| {
                        g.view.exists(k, || ctx.now)
                    })? {
                        return Err(StoreError::Full {
                            policy: ctx.policy.as_str(),
                            needed: value.len(),
                        });
                    }
                }
                Ok(())
            });
        if let Err(e) = written {
            self.drop_parts(&manifest);
            // A value whose TTL ran out while it was written is gone
            // anyway: that is not a full store.
            let expired = expires_at != 0 && expires_at <= self.clock.now_ms();
            return if expired && matches!(e, StoreError::Full { .. }) {
                Ok(true)
            } else {
                Err(e)
            };
        }
        let record = bytemuck::bytes_of(&manifest);
        let committed = self.with_key(key, |g, k| {
            if only_new {
                let inserted = g.view.setnx(k, record, expires_at, ctx, Kind::Large)?;
                Ok((inserted, None))
            } else {
                g.view
                    .set(k, record, expires_at, ctx, Kind::Large)
                    .map(|former| (true, former))
            }
        });
        let (inserted, former) = match committed.and_then(|r| r) {
            Ok(outcome) => outcome,
            Err(e) => {
                self.drop_parts(&manifest);
                return Err(e);
            }
        };
        if !inserted {
            self.drop_parts(&manifest);
            return Ok(false);
        }
        if pending != expires_at {
            self.expire_parts(&manifest, expires_at)?;
        }
        if let Some(Former::Large(old)) = former {
            self.drop_parts(&old);
        }
        Ok(true)
    }

    /// Appends every part of `manifest` to `out`; `false` (and `out` left
    /// partial) if one is missing or has the wrong length.
    pub(crate) fn read_parts(&self, manifest: &Manifest, out: &mut Vec<u8>) -> Result<bool> {
        let now = self.clock.now_ms();
        let part_len = manifest.part_len as u64;
        if part_len == 0
            || manifest.parts as u64 != manifest.total_len.div_ceil(part_len)
            || manifest.total_len > self.segment.geometry().max_value_len as u64
        {
            return Ok(false);
        }
        out.reserve(manifest.total_len as usize);
        for index in 0..manifest.parts {
            let expected = (manifest.total_len - index as u64 * part_len).min(part_len) as usize;
            let found = self.with_part(manifest.generation, index, |g, k| {
                g.view.get(
                    k,
                    || now,
                    |bytes| {
                        let whole = bytes.len() == expected;
                        if whole {
                            out.extend_from_slice(bytes);
                        }
                        whole
                    },
                )
            })?;
            if !matches!(found, Some(Entry::Inline(true))) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads the large value whose manifest was just found under `key`
    /// (or what the key holds after it); `None` if it is gone or broken.
    pub(crate) fn read_large(&self, key: &[u8], mut manifest: Manifest) -> Result<Option<Stored>> {
        let mut out = Vec::new();
        for _ in 0..READ_ATTEMPTS {
            out.clear();
            if self.read_parts(&manifest, &mut out)? {
                return Ok(Some(match manifest.flags & MANIFEST_COMPRESSED {
                    0 => Stored::Raw(out),
                    _ => Stored::ZstdLarge(out, manifest),
                }));
            }
            // A part is gone: see what the key holds now.
            out.clear();
            let now = self.clock.now_ms();
            let again = self.with_key(key, |g, k| {
                g.view.get(k, || now, |bytes| out.extend_from_slice(bytes))
            })?;
            match again {
                None => return Ok(None),
                Some(Entry::Inline(())) => return Ok(Some(Stored::Raw(out))),
                Some(Entry::Zstd(())) => return Ok(Some(Stored::Zstd(out))),
                Some(Entry::Large(current)) if current == manifest => {
                    // Evicted or damaged part: the value cannot be read again.
                    let record = bytemuck::bytes_of(&manifest);
                    if self.with_key(key, |g, k| g.view.del_if(k, record, Kind::Large, now))? {
                        self.drop_parts(&manifest);
                    }
                    return Ok(None);
                }
                Some(Entry::Large(current)) => manifest = current,
            }
        }
        Ok(None)
    }

    /// Removes the parts without expiry that no manifest names (left by a
    /// process killed while it replaced or deleted a large value); returns
    /// how many went. One stripe lock at a time, safe beside running
    /// writers: parts are listed first and manifests after, so a part
    /// whose manifest was committed before the listing is always seen
    /// named, and a part still being written has an expiry and is left alone.
    pub fn remove_orphan_parts(&self) -> Result<u64> {
        let stripes = self.segment.geometry().stripes as usize;
        let mut candidates = Vec::new();
        for i in 0..stripes {
            let now = self.clock.now_ms();
            let mut guard = self.segment.lock_stripe(i)?;
            candidates.extend(guard.view.persistent_parts(now));
            guard.repair_if_damaged()?;
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let mut named = std::collections::HashSet::new();
        for i in 0..stripes {
            let now = self.clock.now_ms();
            let mut guard = self.segment.lock_stripe(i)?;
            named.extend(guard.view.manifest_generations(now));
            guard.repair_if_damaged()?;
        }
        let mut removed = 0;
        for (key, generation) in candidates {
            if named.contains(&generation) {
                continue;
            }
            let now = self.clock.now_ms();
            removed += self
                .with_entry(&key, true, |g, k| g.view.del(k, || now))?
                .is_some() as u64;
        }
        Ok(removed)
    }
}
