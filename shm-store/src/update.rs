//! `Store::update`: an atomic read-modify-write of one key under its
//! stripe lock (what Redis's `GETSET`, `APPEND` and `SET ... XX|GET|KEEPTTL`
//! need), for values kept whole in one block and not compressed.

use crate::error::{Result, StoreError};
use crate::stripe::{Entry, Kind};
use crate::{Codec, Store, Ttl};
use std::time::Duration;

/// What [`Store::update`] writes, decided from the key's current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Leave the key as it is.
    Keep,
    /// Store `value`, with `ttl`.
    Set {
        /// The new value.
        value: Vec<u8>,
        /// What becomes of its TTL.
        ttl: UpdateTtl,
    },
    /// Remove the key.
    Delete,
}

/// The TTL an [`Update::Set`] gives the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateTtl {
    /// The key's current TTL (none for a key that was missing).
    Keep,
    /// No expiry.
    Persist,
    /// Expires after this long.
    After(Duration),
}

impl Store {
    /// Reads `key`'s live value (`None`: missing) and applies what
    /// `decide` makes of it, in one step under the key's stripe lock: no
    /// other writer comes in between. `decide` runs under the lock, so it
    /// must be short and must not block. Returns `decide`'s second value,
    /// or `Ok(None)` when the step cannot be taken under one lock: the
    /// current value is compressed or in parts, or the new one would be
    /// (longer than a part, or one this handle compresses). The caller then
    /// reads and writes in two steps.
    pub fn update<R>(
        &self,
        key: &[u8],
        decide: impl FnOnce(Option<&[u8]>) -> (Update, R),
    ) -> Result<Option<R>> {
        let ctx = self.ctx();
        let part_len = self.segment.geometry().part_len as usize;
        let compression = self.compression();
        let fits = |value: &[u8]| {
            value.len() <= part_len
                && (compression.codec == Codec::None || value.len() < compression.min_size)
        };
        let max = self.segment.geometry().max_value_len as usize;
        self.with_key(key, |g, k| {
            let (old, expires_at) = match g.view.get(k, || ctx.now, |v| v.to_vec()) {
                None => (None, 0),
                Some(Entry::Inline(v)) => {
                    let at = match g.view.ttl(k, ctx.now) {
                        Ttl::Remaining(ms) => ctx.now.saturating_add(ms),
                        _ => 0,
                    };
                    (Some(v), at)
                }
                Some(Entry::Zstd(_) | Entry::Large(_)) => return Ok(None),
            };
            let (update, out) = decide(old.as_deref());
            match update {
                Update::Keep => {}
                Update::Delete => {
                    g.view.del(k, || ctx.now);
                }
                Update::Set { value, ttl } => {
                    if value.len() > max {
                        return Err(StoreError::ValueTooLarge {
                            len: value.len(),
                            max,
                        });
                    }
                    if !fits(&value) {
                        return Ok(None);
                    }
                    let at = match ttl {
                        UpdateTtl::Keep => expires_at,
                        UpdateTtl::Persist => 0,
                        UpdateTtl::After(d) => self.expiry(ctx.now, Some(d)),
                    };
                    g.view.set(k, &value, at, ctx, Kind::Inline)?;
                }
            }
            Ok(Some(out))
        })?
    }
}
