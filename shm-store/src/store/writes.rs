//! `Store`'s writes (`set`, `setnx`, `del`, `del_if`, `expire`, `expire_if`,
//! `persist`, `incr_by`): uses the stripes, compression and large values.

use crate::compress;
use crate::error::{Result, StoreError};
use crate::layout::{Manifest, MANIFEST_COMPRESSED};
use crate::stripe::{self, Ctx, Former, Kind, Spare};
use crate::{Codec, Store};
use std::time::Duration;

impl Store {
    /// Compresses `value` as this handle is set to, if that applies and
    /// makes it shorter: the bytes to store instead. No lock is held.
    fn pack(&self, value: &[u8]) -> Option<Vec<u8>> {
        let c = self.compression;
        if c.codec != Codec::Zstd || value.len() < c.min_size {
            return None;
        }
        compress::compress(value, c.level)
    }

    /// Stores a value, replacing any previous value and TTL. `None` or a zero
    /// TTL means no expiry.
    pub fn set(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.put(key, value, ttl, false).map(drop)
    }

    /// Inserts only if no live key exists; `true` when inserted.
    pub fn setnx(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.put(key, value, ttl, true)
    }

    fn put(&self, key: &[u8], value: &[u8], ttl: Option<Duration>, only_new: bool) -> Result<bool> {
        self.check_key(key)?;
        self.check_value(value)?;
        // Compressed before any lock is taken.
        let packed = self.pack(value);
        let (stored, kind) = match &packed {
            Some(bytes) => (bytes.as_slice(), Kind::Zstd),
            None => (value, Kind::Inline),
        };
        // The clock is read before the lock only for a TTL; else under the
        // lock, and only if the stripe holds an entry with an expiry (its
        // sweep and lookups need the time then; with none, no expiry is
        // compared with it).
        let ttl_now = ttl
            .is_some_and(|d| !d.is_zero())
            .then(|| self.clock.now_ms());
        let expires_at = ttl_now.map_or(0, |now| self.expiry(now, ttl));
        if self.is_large(stored.len()) {
            let raw_len = packed.is_some().then_some(value.len());
            return self.put_large(key, stored, raw_len, expires_at, only_new);
        }
        let (inserted, former) = self.with_key(key, |g, k| {
            let now = match ttl_now {
                Some(now) => now,
                None if g.view.has_expiring() => self.clock.now_ms(),
                None => 0,
            };
            let ctx = Ctx {
                now,
                policy: self.policy(),
                spare: Spare::default(),
            };
            if only_new {
                let inserted = g.view.setnx(k, stored, expires_at, ctx, kind)?;
                Ok((inserted, None))
            } else {
                let former = g.view.set(k, stored, expires_at, ctx, kind)?;
                Ok::<_, StoreError>((true, former))
            }
        })??;
        self.forget(former);
        Ok(inserted)
    }

    /// After an entry was replaced or removed: the parts of a large value
    /// it held go too.
    fn forget(&self, former: Option<Former>) {
        if let Some(Former::Large(manifest)) = former {
            self.drop_parts(&manifest);
        }
    }

    /// Removes a live key; `true` if there was one.
    pub fn del(&self, key: &[u8]) -> Result<bool> {
        // The clock is read under the lock and only if needed (the stripe
        // has an entry with an expiry).
        let former = self.with_key(key, |g, k| g.view.del(k, || self.clock.now_ms()))?;
        let removed = former.is_some();
        self.forget(former);
        Ok(removed)
    }

    /// Removes a live key only if its value is exactly `expected` (releasing
    /// a lock that this owner still holds); `true` if removed.
    pub fn del_if(&self, key: &[u8], expected: &[u8]) -> Result<bool> {
        let now = self.clock.now_ms();
        if !self.is_large(expected.len()) {
            // A raw value is compared under the lock, in one step.
            let (removed, compressed) = self.with_key(key, |g, k| {
                match g.view.del_if(k, expected, Kind::Inline, now) {
                    true => (true, false),
                    false => (false, g.view.is_compressed(k, now)),
                }
            })?;
            if removed || !compressed {
                return Ok(removed);
            }
        }
        // A large or compressed value: compare its original bytes with no
        // lock held, then remove exactly the write that was compared (its
        // stored bytes or its manifest name it).
        let Some(write) = self.write_matching(key, expected)? else {
            return Ok(false);
        };
        let removed =
            self.with_key(key, |g, k| g.view.del_if(k, &write.record, write.kind, now))?;
        if let (true, Some(manifest)) = (removed, write.manifest) {
            self.drop_parts(&manifest);
        }
        Ok(removed)
    }

    /// The write that `key` holds if its original bytes are exactly
    /// `expected`: its kind and its record as the stripe holds it (the
    /// value, a compressed value's stored bytes, or a manifest).
    fn write_matching(&self, key: &[u8], expected: &[u8]) -> Result<Option<Write>> {
        let now = self.clock.now_ms();
        let max = self.segment.geometry().max_value_len as usize;
        let Some((kind, record)) = self.with_key(key, |g, k| g.view.stored(k, now))? else {
            return Ok(None);
        };
        let mut manifest = None;
        let same = match kind {
            Kind::Inline | Kind::Int => record == expected,
            Kind::Zstd => compress::decompress(&record, max).is_ok_and(|v| v == expected),
            Kind::Large => {
                let Some(m) = stripe::parse_manifest(&record) else {
                    return Ok(None);
                };
                manifest = Some(m);
                let compressed = m.flags & MANIFEST_COMPRESSED != 0;
                let mut bytes = Vec::new();
                m.raw_len == expected.len() as u64
                    && self.read_parts(&m, &mut bytes)?
                    && match compressed {
                        true => compress::decompress(&bytes, max).is_ok_and(|v| v == expected),
                        false => bytes == expected,
                    }
            }
        };
        Ok(same.then_some(Write {
            kind,
            record,
            manifest,
        }))
    }

    /// Sets a new TTL on a live key only if its value is exactly `expected`
    /// (a lock owner keeping its own lock); `false` if the key is missing,
    /// holds another value, or `ttl` is zero (then nothing changes).
    pub fn expire_if(&self, key: &[u8], expected: &[u8], ttl: Duration) -> Result<bool> {
        if ttl.is_zero() {
            self.check_key(key)?;
            return Ok(false);
        }
        let now = self.clock.now_ms();
        let expires_at = self.expiry(now, Some(ttl));
        if !self.is_large(expected.len()) {
            let (done, compressed) = self.with_key(key, |g, k| {
                match g.view.expire_if(k, expected, Kind::Inline, expires_at, now) {
                    true => (true, false),
                    false => (false, g.view.is_compressed(k, now)),
                }
            })?;
            if done || !compressed {
                return Ok(done);
            }
        }
        // As in `del_if`: compared with no lock held, then exactly that write.
        let Some(write) = self.write_matching(key, expected)? else {
            return Ok(false);
        };
        if !self.with_key(key, |g, k| {
            g.view
                .expire_if(k, &write.record, write.kind, expires_at, now)
        })? {
            return Ok(false);
        }
        if let Some(manifest) = write.manifest {
            self.expire_parts(&manifest, expires_at)?;
        }
        Ok(true)
    }

    /// Adds `delta` to the decimal integer at `key`; a missing key counts as
    /// 0 and is created without expiry, an existing one keeps its TTL.
    /// [`StoreError::NotAnInteger`] or [`StoreError::Overflow`] leave the
    /// value unchanged.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        // The clock is read only if needed (an entry with an expiry, or a
        // new block to write): not for an integer updated in place.
        match self.with_key(key, |g, k| g.view.incr_by(k, delta, || self.ctx()))? {
            Ok(n) => Ok(n),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a new TTL on a live key; `false` if missing or `ttl` is zero.
    pub fn expire(&self, key: &[u8], ttl: Duration) -> Result<bool> {
        if ttl.is_zero() {
            self.check_key(key)?;
            return Ok(false);
        }
        let now = self.clock.now_ms();
        let expires_at = self.expiry(now, Some(ttl));
        match self.with_key(key, |g, k| g.view.expire(k, expires_at, now))? {
            None => Ok(false),
            Some(Former::Inline) => Ok(true),
            Some(Former::Large(manifest)) => {
                self.expire_parts(&manifest, expires_at)?;
                Ok(true)
            }
        }
    }

    /// Removes a live key's TTL (it never expires then); `false` if the
    /// key is missing. (Redis's `PERSIST`.)
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        let now = self.clock.now_ms();
        match self.with_key(key, |g, k| g.view.expire(k, 0, now))? {
            None => Ok(false),
            Some(Former::Inline) => Ok(true),
            Some(Former::Large(manifest)) => {
                self.expire_parts(&manifest, 0)?;
                Ok(true)
            }
        }
    }
}

/// One write of a key as `del_if`/`expire_if` identify it.
struct Write {
    kind: Kind,
    /// What the key's block holds (the value, stored bytes or manifest).
    record: Vec<u8>,
    /// A large value's manifest (its parts go with it).
    manifest: Option<Manifest>,
}
