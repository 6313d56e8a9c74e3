//! `shm-store`: a key-value store with per-key TTL inside a named shared
//! memory segment that any number of processes open by name and share.
//!
//! ```no_run
//! use shm_store::{Store, StoreConfig};
//! use std::time::Duration;
//!
//! let store = Store::open(&StoreConfig::new("sessions"))?;
//! store.set(b"user:1", b"alice", Some(Duration::from_secs(60)))?;
//! assert_eq!(store.get(b"user:1")?, Some(b"alice".to_vec()));
//! # Ok::<(), shm_store::StoreError>(())
//! ```
//!
//! The segment layout is documented in the `layout` module source
//! (`src/layout.rs`).

mod clock;
mod compress;
mod config;
mod error;
pub mod glob;
mod large;
mod layout;
mod lock;
mod process;
mod read;
mod segment;
mod shared_mutex;
mod stripe;
mod ttl;
mod update;
mod watch;
mod watch_table;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    default_dir, parse_size, validate_name, Codec, Compression, CompressionAsk, EvictionPolicy,
    Geometry, StoreConfig, DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_MIN_SIZE,
    DEFAULT_MAX_KEY_LEN, DEFAULT_PART_LEN, DEFAULT_SIZE,
};
pub use error::{Result, StoreError};
pub use glob::{glob_match, Glob, PatternTooLong, MAX_PATTERN_LEN};
pub use large::PENDING as LARGE_VALUE_PENDING;
pub use layout::{LAYOUT_VERSION, SEGMENT_HEADER_SIZE};
pub use lock::{HeldLock, LockOutcome, OWNER_CHECK_INTERVAL};
pub use stripe::{ScanEntry, StripeStats};
pub use ttl::Ttl;
pub use update::{Update, UpdateTtl};
pub use watch::WaitOutcome;
pub use watch_table::WatchStats;

use layout::{hash_key, Manifest, MANIFEST_COMPRESSED};
use segment::{OpenMode, Segment, StripeGuard};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use stripe::{Ctx, Entry, Former, Key, Kind};

/// A handle on a shared store. Cheap operations, each under one stripe lock;
/// `Send + Sync`, so threads of one process may share a handle.
pub struct Store {
    segment: Segment,
    /// What the opener's configuration asked for, if it differs.
    policy_asked: Option<EvictionPolicy>,
    /// How this handle compresses what it writes.
    compression: Compression,
    clock: Arc<dyn Clock>,
    /// This handle's reads not yet added into the segment's counters.
    pending: Pending,
}

/// Hits and misses counted by one handle (in this process only), added
/// into the segment's counters by [`Store::flush_stats`].
#[derive(Debug, Default)]
struct Pending {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
    /// Reads (and `exists`) that took the stripe lock; never reset.
    locked: std::sync::atomic::AtomicU64,
}

/// A handle flushes its counts by itself after this many reads.
const FLUSH_EVERY: u64 = 4096;

impl Drop for Store {
    fn drop(&mut self) {
        self.flush_stats();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("segment", &self.segment)
            .field("policy", &self.policy())
            .finish()
    }
}

/// Store-wide figures: the sum over the stripes (reachable directly, e.g.
/// `stats.entries`, through `Deref`) and each stripe's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The whole store's figures.
    pub total: StripeStats,
    /// Each stripe's, in order.
    pub stripes: Vec<StripeStats>,
}

impl std::ops::Deref for Stats {
    type Target = StripeStats;
    fn deref(&self) -> &StripeStats {
        &self.total
    }
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Stripes looked at.
    pub stripes_checked: usize,
    /// User entries (parts of large values not counted).
    pub entries: u64,
    /// Each problem, prefixed with its stripe; empty when consistent.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What `verify` finds in stripe `i`, each line prefixed with the stripe;
/// it repairs nothing, so the damage it notes on the way is dropped.
fn stripe_problems(i: usize, view: &stripe::StripeView<'_>) -> Vec<String> {
    let problems = view.verify();
    view.take_damage();
    problems
        .into_iter()
        .map(|p| format!("stripe {i}: {p}"))
        .collect()
}

/// Milliseconds of a TTL, at least 1 for any non-zero duration.
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Store {
    /// Opens the store named in `config`, creating its segment if needed.
    pub fn open(config: &StoreConfig) -> Result<Store> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Store::open`], with another time source (tests).
    pub fn open_with_clock(config: &StoreConfig, clock: Arc<dyn Clock>) -> Result<Store> {
        let geometry = Geometry::for_config(config)?;
        config.store_compression.validate()?;
        config
            .compression
            .over(config.store_compression)
            .validate()?;
        let segment = Segment::open(
            &config.dir,
            &config.name,
            OpenMode::CreateOrAttach(geometry, config.eviction, config.store_compression),
        )?;
        Ok(Store {
            policy_asked: (config.eviction != segment.policy()).then_some(config.eviction),
            compression: config.compression.over(segment.compression()),
            segment,
            clock,
            pending: Pending::default(),
        })
    }

    /// Attaches to an existing store whatever its geometry (for tools);
    /// never creates one.
    pub fn attach(dir: &Path, name: &str) -> Result<Store> {
        let segment = Segment::open(dir, name, OpenMode::AttachOnly)?;
        Ok(Store {
            policy_asked: None,
            compression: segment.compression(),
            segment,
            clock: Arc::new(SystemClock),
            pending: Pending::default(),
        })
    }

    /// Whether this handle created (initialised) the segment.
    pub fn created(&self) -> bool {
        self.segment.created()
    }

    /// The segment file's path.
    pub fn path(&self) -> &Path {
        self.segment.path()
    }

    /// When the segment was created, in milliseconds since the Unix epoch.
    pub fn created_unix_ms(&self) -> u64 {
        self.segment.created_unix_ms()
    }

    /// The segment's shape (size, stripes, limits).
    pub fn geometry(&self) -> Geometry {
        *self.segment.geometry()
    }

    /// The store's eviction policy: the one its creator asked for,
    /// recorded in the segment; every opener evicts by it.
    pub fn policy(&self) -> EvictionPolicy {
        self.segment.policy()
    }

    /// The policy this opener asked for, when the store's is another (the
    /// store's applies): for the opener to warn about.
    pub fn policy_asked(&self) -> Option<EvictionPolicy> {
        self.policy_asked
    }

    /// How this handle compresses the values it writes: what its
    /// configuration asked for, the store's recorded default otherwise.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The compression the store's creator recorded (the default of
    /// openers that ask for none).
    pub fn store_compression(&self) -> Compression {
        self.segment.compression()
    }

    fn note_locked_read(&self) {
        self.pending
            .locked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many reads and `exists` calls of this handle took the stripe
    /// lock instead of the lock-free path: those that met a stripe being
    /// changed [`READ_ATTEMPTS`] times, an expired entry or a large value.
    pub fn locked_reads(&self) -> u64 {
        self.pending
            .locked
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self, hit: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = match hit {
            true => &self.pending.hits,
            false => &self.pending.misses,
        };
        if counter.fetch_add(1, Relaxed) + 1 >= FLUSH_EVERY {
            self.flush_stats();
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            now: self.clock.now_ms(),
            policy: self.policy(),
            spare: stripe::Spare::default(),
        }
    }

    /// Absolute expiry for a TTL; capped so that the remaining lifetime in
    /// milliseconds always fits an `i64` (what `pttl` returns to PHP).
    fn expiry(&self, now: u64, ttl: Option<Duration>) -> u64 {
        match ttl {
            Some(d) if !d.is_zero() => now.saturating_add(ttl_ms(d)).min(i64::MAX as u64),
            _ => 0,
        }
    }

    /// Whether this store takes `key` (1 to `max_key_len` bytes): the
    /// check every keyed operation makes, for a caller that must know
    /// before it changes anything (`serve`'s `RENAME`, `MSET`).
    pub fn check_key(&self, key: &[u8]) -> Result<()> {
        let max = self.segment.geometry().max_key_len as usize;
        match key.len() {
            0 => Err(StoreError::EmptyKey),
            n if n > max => Err(StoreError::KeyTooLong { len: n, max }),
            _ => Ok(()),
        }
    }

    /// Whether this store takes a value of this length (up to
    /// `max_value_len` bytes): the check every write makes.
    pub fn check_value(&self, value: &[u8]) -> Result<()> {
        let max = self.segment.geometry().max_value_len as usize;
        if value.len() > max {
            return Err(StoreError::ValueTooLarge {
                len: value.len(),
                max,
            });
        }
        Ok(())
    }

    fn stripe_of_hash(&self, hash: u64) -> usize {
        layout::stripe_of_hash(hash, self.segment.geometry().stripes)
    }

    fn stripe_of(&self, key: &[u8]) -> usize {
        self.stripe_of_hash(hash_key(key))
    }

    /// Locks the stripe of a user's `key` and runs `op` on it.
    fn with_key<R>(
        &self,
        key: &[u8],
        op: impl FnOnce(&mut StripeGuard<'_>, Key<'_>) -> R,
    ) -> Result<R> {
        self.check_key(key)?;
        self.with_entry(key, false, op)
    }

    /// Locks the stripe of `bytes` (a user's key, or a part's key when
    /// `part`) and runs `op` on it.
    fn with_entry<R>(
        &self,
        bytes: &[u8],
        part: bool,
        op: impl FnOnce(&mut StripeGuard<'_>, Key<'_>) -> R,
    ) -> Result<R> {
        let hash = hash_key(bytes);
        let mut guard = self.segment.lock_stripe(self.stripe_of_hash(hash))?;
        let out = op(&mut guard, Key { hash, bytes, part });
        // Damage found on the way: the stripe is rebuilt and the result,
        // computed from damaged data, is dropped.
        guard.repair_if_damaged()?;
        Ok(out)
    }

    /// Runs `read` on the value of a live key (a copy of it: values are
    /// read without the stripe lock, see [`Store::read_begin`]).
    pub fn get_with<R>(&self, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let mut value = Vec::new();
        Ok(self.get_into(key, &mut value)?.then(|| read(&value)))
    }

    /// Copies the value of a live key into `out` (cleared first); `false`
    /// if there is none.
    pub fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        let mut attempt = 0;
        loop {
            match self.read_begin(key, attempt)? {
                ReadStart::Missing => {
                    out.clear();
                    return Ok(false);
                }
                ReadStart::Copied(value) => {
                    *out = value;
                    return Ok(true);
                }
                ReadStart::Ready(ticket) => {
                    out.resize(ticket.len(), 0);
                    if self.read_finish(&ticket, out) {
                        return Ok(true);
                    }
                }
            }
            attempt += 1;
        }
    }

    /// The locked read: under the stripe lock (which reclaims an expired
    /// entry), or gathered from a large value's parts.
    fn get_locked(&self, key: &[u8]) -> Result<Option<Stored>> {
        let mut out = Vec::new();
        let found = self.with_key(key, |g, k| {
            g.view
                .get(k, || self.clock.now_ms(), |v| out.extend_from_slice(v))
        })?;
        match found {
            None => Ok(None),
            Some(Entry::Inline(())) => Ok(Some(Stored::Raw(out))),
            Some(Entry::Zstd(())) => Ok(Some(Stored::Zstd(out))),
            Some(Entry::Large(manifest)) => self.read_large(key, manifest),
        }
    }

    /// Compresses `value` as this handle is set to, if that applies and
    /// makes it shorter: the bytes to store instead. No lock is held.
    fn pack(&self, value: &[u8]) -> Option<Vec<u8>> {
        let c = self.compression;
        if c.codec != Codec::Zstd || value.len() < c.min_size {
            return None;
        }
        compress::compress(value, c.level)
    }

    /// The original bytes of what a read copied out (with no lock held).
    /// A compressed value that does not decompress is removed (exactly
    /// the write that was read, by its stored bytes) and reported as
    /// [`StoreError::Corrupt`].
    fn unpack(&self, key: &[u8], stored: Stored) -> Result<Vec<u8>> {
        let max = self.segment.geometry().max_value_len as usize;
        let (bytes, manifest) = match stored {
            Stored::Raw(value) => return Ok(value),
            Stored::Zstd(bytes) => (bytes, None),
            Stored::ZstdLarge(bytes, manifest) => (bytes, Some(manifest)),
        };
        let reason = match compress::decompress(&bytes, max) {
            Ok(value) => return Ok(value),
            Err(reason) => reason,
        };
        let now = self.clock.now_ms();
        match manifest {
            None => {
                self.with_key(key, |g, k| g.view.del_corrupt(k, &bytes, Kind::Zstd, now))?;
            }
            Some(manifest) => {
                let record = bytemuck::bytes_of(&manifest);
                if self.with_key(key, |g, k| g.view.del_corrupt(k, record, Kind::Large, now))? {
                    self.drop_parts(&manifest);
                }
            }
        }
        Err(StoreError::Corrupt { reason })
    }

    /// Ends a read that copied `stored` out: decompressed if need be,
    /// counted as a hit or a miss.
    fn read_out(&self, key: &[u8], stored: Option<Stored>) -> Result<ReadStart> {
        let Some(stored) = stored else {
            self.count(false);
            return Ok(ReadStart::Missing);
        };
        let value = self.unpack(key, stored);
        self.count(value.is_ok());
        value.map(ReadStart::Copied)
    }

    /// The stripes' shape, for lock-free reads.
    fn shape(&self) -> read::Shape {
        let g = self.segment.geometry();
        read::Shape {
            slots: g.slots_per_stripe as usize,
            heap_len: g.heap_size as usize,
        }
    }

    /// Lock-free looks at `key` in its stripe while it is busy, up to
    /// [`READ_ATTEMPTS`] in all (counting the `attempt` earlier ones).
    fn probe(&self, key: &[u8], hash: u64, stripe: usize, attempt: u32) -> read::Probe {
        let shared = self.segment.shared_stripe(stripe);
        let now = || self.clock.now_ms();
        let mut probe = read::Probe::Busy;
        for _ in attempt..READ_ATTEMPTS {
            probe = read::probe(&shared, self.shape(), key, hash, &now);
            if probe != read::Probe::Busy || !shared.wait_even(READ_SPINS) {
                break;
            }
        }
        probe
    }

    /// Begins a read of `key` that copies its value once, straight into the
    /// caller's buffer (PHP's string): no lock is held between this call and
    /// [`Store::read_finish`], so the caller may allocate in between. Call
    /// with `attempt` 0, then 1, 2, ... each time `read_finish` says the value
    /// changed meanwhile; from [`READ_ATTEMPTS`] on the value is read under
    /// the stripe lock and returned as [`ReadStart::Copied`].
    pub fn read_begin(&self, key: &[u8], attempt: u32) -> Result<ReadStart> {
        self.check_key(key)?;
        let hash = hash_key(key);
        let stripe = self.stripe_of_hash(hash);
        match self.probe(key, hash, stripe, attempt) {
            read::Probe::Missing => {
                self.count(false);
                Ok(ReadStart::Missing)
            }
            read::Probe::Found(seen) if seen.compressed => {
                // The stored bytes, copied lock-free like any value, then
                // decompressed: the caller gets the original as a copy.
                let ticket = ReadTicket { stripe, seen };
                let mut bytes = vec![0; ticket.len()];
                let copied = self.finish(&ticket, bytes.len(), |fill| match fill {
                    Fill::Copy(shared, at) => shared.copy_out(at, &mut bytes),
                    Fill::Text(_) => false,
                });
                let stored = match copied {
                    true => Some(Stored::Zstd(bytes)),
                    false => {
                        self.note_locked_read();
                        self.get_locked(key)?
                    }
                };
                self.read_out(key, stored)
            }
            read::Probe::Found(seen) => Ok(ReadStart::Ready(ReadTicket { stripe, seen })),
            read::Probe::Busy | read::Probe::Locked => {
                self.note_locked_read();
                let stored = self.get_locked(key)?;
                self.read_out(key, stored)
            }
        }
    }

    /// Copies the value a [`ReadStart::Ready`] ticket describes into `out`
    /// (exactly `ticket.len()` bytes); `true` if `out` now holds the value,
    /// `false` if it changed since (begin again with the next attempt).
    /// A hit is counted once, by the call that returns `true`.
    pub fn read_finish(&self, ticket: &ReadTicket, out: &mut [u8]) -> bool {
        let done = self.finish(ticket, out.len(), |fill| match fill {
            Fill::Copy(shared, at) => shared.copy_out(at, out),
            Fill::Text(text) => {
                out.copy_from_slice(text);
                true
            }
        });
        if done {
            self.count(true);
        }
        done
    }

    /// [`Store::read_finish`] into memory that need not be initialised (a
    /// string just allocated for the value): on `true` every byte of `out`
    /// has been written, on `false` none may be relied on.
    pub fn read_finish_uninit(
        &self,
        ticket: &ReadTicket,
        out: &mut [std::mem::MaybeUninit<u8>],
    ) -> bool {
        let done = self.finish(ticket, out.len(), |fill| match fill {
            Fill::Copy(shared, at) => shared.copy_out_uninit(at, out),
            Fill::Text(text) => {
                for (slot, &byte) in out.iter_mut().zip(text) {
                    slot.write(byte);
                }
                true
            }
        });
        if done {
            self.count(true);
        }
        done
    }

    /// The copies of a ticket's value: `fill` writes the `len` bytes (the
    /// caller counts the hit).
    fn finish(
        &self,
        ticket: &ReadTicket,
        len: usize,
        fill: impl FnOnce(Fill<'_, '_>) -> bool,
    ) -> bool {
        let shared = self.segment.shared_stripe(ticket.stripe);
        let seen = &ticket.seen;
        let mut digits = itoa::Buffer::new();
        let copied = match seen.int {
            // Read and validated with the probe: only rendered here.
            Some(n) => {
                let text = digits.format(n).as_bytes();
                len == text.len() && fill(Fill::Text(text))
            }
            None => {
                len == seen.len
                    && fill(Fill::Copy(&shared, seen.value_at))
                    && shared.unchanged_since(seen.seq)
            }
        };
        if !copied {
            return false;
        }
        if let Some((at, stamp)) = seen.stamp {
            shared.set_u32(at, stamp);
        }
        true
    }

    /// Adds this handle's hit and miss counts into the segment, so that
    /// [`Store::stats`] (in any process) includes them. Called at the end of
    /// each request, every few thousand reads, and when the handle is dropped.
    pub fn flush_stats(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = self.segment.counters();
        let hits = self.pending.hits.swap(0, Relaxed);
        let misses = self.pending.misses.swap(0, Relaxed);
        if hits > 0 {
            counters.hits.fetch_add(hits, Relaxed);
        }
        if misses > 0 {
            counters.misses.fetch_add(misses, Relaxed);
        }
    }

    /// The value of a live key.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.get_into(key, &mut out)?.then_some(out))
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
        let ctx = self.ctx();
        let expires_at = self.expiry(ctx.now, ttl);
        if self.is_large(stored.len()) {
            let raw_len = packed.is_some().then_some(value.len());
            return self.put_large(key, stored, raw_len, expires_at, only_new);
        }
        let (inserted, former) = self.with_key(key, |g, k| {
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
        let now = self.clock.now_ms();
        let former = self.with_key(key, |g, k| g.view.del(k, now))?;
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

    /// Whether a live entry has `key`; without the stripe lock, like a read.
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let hash = hash_key(key);
        let stripe = self.stripe_of_hash(hash);
        match self.probe(key, hash, stripe, 0) {
            read::Probe::Missing => Ok(false),
            read::Probe::Found(_) => Ok(true),
            read::Probe::Busy | read::Probe::Locked => {
                self.note_locked_read();
                self.with_key(key, |g, k| g.view.exists(k, || self.clock.now_ms()))
            }
        }
    }

    /// Adds `delta` to the decimal integer at `key`; a missing key counts as
    /// 0 and is created without expiry, an existing one keeps its TTL.
    /// [`StoreError::NotAnInteger`] or [`StoreError::Overflow`] leave the
    /// value unchanged.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        // The clock is read only if needed (an entry with an expiry, or a
        // new block to write): not for an integer updated in place.
        self.with_key(key, |g, k| g.view.incr_by(k, delta, || self.ctx()))?
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

    /// Remaining lifetime of a key.
    pub fn ttl(&self, key: &[u8]) -> Result<Ttl> {
        let now = self.clock.now_ms();
        self.with_key(key, |g, k| g.view.ttl(k, now))
    }

    /// Empties every stripe, one at a time.
    pub fn flush_all(&self) -> Result<()> {
        for i in 0..self.segment.geometry().stripes as usize {
            self.segment.lock_stripe(i)?.view.format();
        }
        Ok(())
    }

    /// Reclaims every expired entry now, one stripe at a time, instead of
    /// lazily; returns how many entries went (parts of large values included).
    pub fn purge_expired(&self) -> Result<u64> {
        let mut purged = 0;
        for i in 0..self.segment.geometry().stripes as usize {
            let now = self.clock.now_ms();
            let mut guard = self.segment.lock_stripe(i)?;
            let before = guard.view.meta.expirations;
            guard.view.reclaim_expired(now);
            purged += guard.view.meta.expirations.wrapping_sub(before);
            guard.repair_if_damaged()?;
        }
        Ok(purged)
    }

    /// Calls `visit` with every live entry; holds one stripe lock at a time
    /// and never while `visit` runs. A damaged stripe is rebuilt and what
    /// survived is visited; the first damage is then returned as
    /// [`StoreError::Damaged`] once every stripe has been visited.
    pub fn scan(&self, mut visit: impl FnMut(&ScanEntry)) -> Result<()> {
        let mut damage = None;
        for i in 0..self.segment.geometry().stripes as usize {
            if let Err(e) = self.scan_stripe(i, &mut visit) {
                match e {
                    StoreError::Damaged { .. } => {
                        damage.get_or_insert(e);
                    }
                    e => return Err(e),
                }
            }
        }
        damage.map_or(Ok(()), Err)
    }

    /// As [`Store::scan`], for stripe `i` only (`0..geometry().stripes`):
    /// a cursor over the store can visit it stripe by stripe. A damaged
    /// stripe is rebuilt, what survived is visited, then the damage is
    /// returned.
    pub fn scan_stripe(&self, i: usize, mut visit: impl FnMut(&ScanEntry)) -> Result<()> {
        if i >= self.segment.geometry().stripes as usize {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let mut guard = self.segment.lock_stripe(i)?;
        let mut entries = guard.view.scan(now);
        let damage = guard.repair_if_damaged().err();
        if damage.is_some() {
            entries = guard.view.scan(now);
        }
        drop(guard);
        entries.iter().for_each(&mut visit);
        damage.map_or(Ok(()), Err)
    }

    /// The store's figures; this handle's own reads are flushed first, so
    /// they are included (other processes' at their next request end).
    pub fn stats(&self) -> Result<Stats> {
        use std::sync::atomic::Ordering::Relaxed;
        self.flush_stats();
        let mut stats = Stats::default();
        for i in 0..self.segment.geometry().stripes as usize {
            let s = self.segment.lock_stripe(i)?.view.stats();
            stats.total.add(&s);
            stats.stripes.push(s);
        }
        let counters = self.segment.counters();
        stats.total.hits = counters.hits.load(Relaxed);
        stats.total.misses = counters.misses.load(Relaxed);
        Ok(stats)
    }

    /// Checks every invariant of every stripe, one stripe lock at a time,
    /// changing nothing. A stripe whose lock is unusable is reported as a
    /// problem and the others are still checked.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        for i in 0..self.segment.geometry().stripes as usize {
            report.stripes_checked += 1;
            let guard = match self.segment.lock_stripe(i) {
                Ok(guard) => guard,
                Err(e @ StoreError::LockUnusable { .. }) => {
                    report.problems.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.entries += guard.view.user_entries() as u64;
            report.problems.extend(stripe_problems(i, &guard.view));
        }
        Ok(report)
    }

    /// Checks every stripe like [`Store::verify`] and repairs what it can:
    /// a stripe with problems is rebuilt from its heap (what the next
    /// locker does after a holder died), and a lock that is unusable is
    /// re-initialised first when no live thread holds it.
    ///
    /// Meant for an operator (`ephpm-shm verify --repair`) when no process is
    /// stuck inside the store: a lock is taken over only after it could not
    /// be obtained for the lock timeout and its holder, as recorded in the
    /// lock, is not alive ([`StoreError::LockHeld`] otherwise).
    pub fn repair(&self) -> Result<RepairReport> {
        let mut report = RepairReport::default();
        for i in 0..self.segment.geometry().stripes as usize {
            let (mut guard, taken_over) = self.segment.take_over_stripe(i)?;
            let problems = guard.view.verify();
            guard.view.take_damage();
            if let Some(reason) = &taken_over {
                report.repaired.push(format!(
                    "stripe {i}: lock was unusable ({reason}): re-initialised"
                ));
            }
            if taken_over.is_some() || !problems.is_empty() {
                guard.view.rebuild();
                if !problems.is_empty() {
                    report.repaired.push(format!(
                        "stripe {i}: {} problem(s) (first: {}): rebuilt",
                        problems.len(),
                        problems[0]
                    ));
                }
                report.remaining.extend(stripe_problems(i, &guard.view));
            }
            report.entries += guard.view.user_entries() as u64;
            report.stripes_checked += 1;
        }
        if let Some(reason) = self.segment.take_over_watch_table()? {
            report.repaired.push(format!(
                "watch table: lock was unusable ({reason}): re-initialised"
            ));
        }
        // Parts of large values that no manifest names any more (left by a
        // process killed while it replaced or deleted one).
        let orphans = self.remove_orphan_parts()?;
        if orphans > 0 {
            report.repaired.push(format!(
                "{orphans} part(s) of large values that no key named any more: removed"
            ));
        }
        Ok(report)
    }

    /// The same handle with another bound on waiting for a stripe lock
    /// (default 5 s); past it an operation fails with
    /// [`StoreError::LockUnusable`] instead of waiting longer.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Store {
        self.segment.set_lock_timeout(timeout);
        self
    }
}

/// A value as a read copied it out of the segment, before decompression.
enum Stored {
    /// The value itself.
    Raw(Vec<u8>),
    /// A compressed inline entry's stored bytes.
    Zstd(Vec<u8>),
    /// A compressed large value's stream, gathered from the parts the
    /// manifest names.
    ZstdLarge(Vec<u8>, Manifest),
}

/// One write of a key as `del_if`/`expire_if` identify it.
struct Write {
    kind: Kind,
    /// What the key's block holds (the value, stored bytes or manifest).
    record: Vec<u8>,
    /// A large value's manifest (its parts go with it).
    manifest: Option<Manifest>,
}

/// Where the bytes of a value come from, for [`Store::finish`].
enum Fill<'a, 's> {
    /// From the stripe, at this offset.
    Copy(&'a segment::SharedStripe<'s>, usize),
    /// An integer entry's decimal text.
    Text(&'a [u8]),
}

/// How many times a lock-free read spins for a stripe being changed to be
/// left alone (some microseconds) before it takes the stripe lock.
const READ_SPINS: u32 = 512;

/// Tries a lock-free read makes before [`Store::read_begin`] takes the
/// stripe lock instead.
pub const READ_ATTEMPTS: u32 = 4;

/// How a read begins (see [`Store::read_begin`]).
#[derive(Debug)]
pub enum ReadStart {
    /// No live entry has the key.
    Missing,
    /// The value's length is known: make room for it, then copy it with
    /// [`Store::read_finish`].
    Ready(ReadTicket),
    /// The value, already read another way (under the stripe lock, or
    /// gathered from a large value's parts).
    Copied(Vec<u8>),
}

/// Where a value was seen by [`Store::read_begin`]; only meaningful to
/// [`Store::read_finish`] on the same handle.
#[derive(Debug, Clone)]
pub struct ReadTicket {
    stripe: usize,
    seen: read::Seen,
}

impl ReadTicket {
    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        self.seen.len
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.seen.len == 0
    }
}

/// What [`Store::repair`] did.
#[derive(Debug, Clone, Default)]
pub struct RepairReport {
    /// Stripes looked at.
    pub stripes_checked: usize,
    /// Entries after the repair.
    pub entries: u64,
    /// One line per repair, prefixed with its stripe.
    pub repaired: Vec<String>,
    /// Problems left after the repair (none expected).
    pub remaining: Vec<String>,
}
