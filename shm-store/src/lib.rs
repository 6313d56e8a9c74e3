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
//!
//! # Module map
//!
//! From the ground floor up; a module uses only those on its own floor or
//! below (`use crate::` in each file says which), never one above.
//!
//! Ground floor (uses nothing of the crate):
//! - `layout`: the on-segment format (header, stripe header, slots, blocks,
//!   offsets, [`LAYOUT_VERSION`], the key hash) and the protocols' arguments;
//! - `error`: [`StoreError`] and [`Result`];
//! - `clock`: time sources ([`Clock`], [`SystemClock`], [`ManualClock`]);
//! - `process`: process identity: effective uid, thread liveness, a
//!   process's start time and pid namespace (`/proc`);
//! - `shared_mutex`: the robust process-shared mutex, futex waits and
//!   wake-ups, the monotonic clock;
//! - `ttl`: [`Ttl`]; `glob`: glob patterns for scans.
//!
//! Configuration and one stripe:
//! - `config`: [`StoreConfig`], [`Geometry`], names and directories, the
//!   eviction and compression settings;
//! - `stripe`: one stripe, on plain slices under its lock, one file per
//!   concern: `view` (the view and its bounds checks), `index` (probe,
//!   insert, backward-shift removal, growth), `heap` (blocks, size bins,
//!   free lists), `entries` (integer, compressed, manifest entries),
//!   `ops` (get, set, del, incr, expire), `expiry` (the sweep), `evict`
//!   (the policies, room for a write), `rebuild` (format, rebuild after a
//!   dead holder), `verify` (the consistency check), `stats` (figures,
//!   scan);
//! - `compress`: zstd compression of entries.
//!
//! The segment:
//! - `watch_table`: the watch table in the header page and the writer's
//!   side of watches (the segment hands it the words it needs);
//! - `segment`: the named file, its mapping, the SIGBUS guard, the stripe
//!   locks and guards, the lock-free reader's view (files under `segment/`);
//! - `read`: the lock-free probe of a key in a stripe.
//!
//! The store:
//! - this file: [`Store`], `open` and `attach`, its accessors, the key
//!   checks and `with_key` (lock a key's stripe, run, repair);
//! - `store::reads`: `get` and its forms, `read_begin`/`read_finish`,
//!   `exists`, `ttl`, hit counts ([`ReadStart`], [`ReadTicket`]);
//! - `store::writes`: `set`, `setnx`, `del`, `del_if`, `expire`,
//!   `expire_if`, `persist`, `incr_by`;
//! - `store::large`: values cut into parts behind a manifest (reads and
//!   writes of large values, orphan parts);
//! - `store::maintenance`: `flush_all`, `purge_expired`, `scan`, `stats`,
//!   `verify`, `repair` ([`Stats`], [`VerifyReport`], [`RepairReport`]).
//!
//! Layers over [`Store`] (each uses `Store`; `Store` needs none of them):
//! - `update`: [`Store::update`], read-modify-write of one key;
//! - `lock`: advisory locks whose owner's liveness is checked ([`HeldLock`]);
//! - `watch`: [`Store::wait`] for a key's next write, [`Store::watch_stats`].
//!
//! `unsafe` lives only in `segment.rs` and the files under `segment/`, and
//! in `shared_mutex.rs`; each block says why it is sound.

mod clock;
mod compress;
mod config;
mod error;
pub mod glob;
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

/// `Store`'s methods by concern, each file a further `impl Store` block.
mod store {
    pub(crate) mod large;
    pub(crate) mod maintenance;
    pub(crate) mod reads;
    pub(crate) mod writes;
}

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    default_dir, parse_size, validate_name, Codec, Compression, CompressionAsk, EvictionPolicy,
    Geometry, StoreConfig, DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_MIN_SIZE,
    DEFAULT_MAX_KEY_LEN, DEFAULT_PART_LEN, DEFAULT_SIZE,
};
pub use error::{Result, StoreError};
pub use glob::{glob_match, Glob, PatternTooLong, MAX_PATTERN_LEN};
pub use layout::{LAYOUT_VERSION, SEGMENT_HEADER_SIZE};
pub use lock::{HeldLock, LockOutcome, OWNER_CHECK_INTERVAL};
pub use store::large::PENDING as LARGE_VALUE_PENDING;
pub use store::maintenance::{RepairReport, Stats, VerifyReport};
pub use store::reads::{ReadStart, ReadTicket, SmallRead, READ_ATTEMPTS};
pub use stripe::{ScanEntry, StripeStats};
pub use ttl::Ttl;
pub use update::{Update, UpdateTtl};
pub use watch::WaitOutcome;
pub use watch_table::WatchStats;

use layout::hash_key;
use segment::{OpenMode, Segment, StripeGuard};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use stripe::{Ctx, Key};

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
    #[inline(always)]
    fn with_key<R>(
        &self,
        key: &[u8],
        op: impl FnOnce(&mut StripeGuard<'_>, Key<'_>) -> R,
    ) -> Result<R> {
        self.check_key(key)?;
        self.with_entry(key, false, op)
    }

    /// Locks the stripe of `bytes` (a user's key, or a part's key when
    /// `part`) and runs `op` on it, through
    /// [`Segment::with_stripe`](segment::Segment::with_stripe): the guard
    /// is built in place and lent to `op`, and damage found on the way has
    /// the stripe rebuilt and the result, computed from damaged data,
    /// dropped. Inlined, so that the key and its hash stay in registers
    /// (the writes that cost least, `incr` and `del`, are a few hundred
    /// instructions).
    #[inline(always)]
    fn with_entry<R>(
        &self,
        bytes: &[u8],
        part: bool,
        op: impl FnOnce(&mut StripeGuard<'_>, Key<'_>) -> R,
    ) -> Result<R> {
        let hash = hash_key(bytes);
        let key = Key { hash, bytes, part };
        self.segment
            .with_stripe(self.stripe_of_hash(hash), |guard| op(guard, key))
    }

    /// The same handle with another bound on waiting for a stripe lock
    /// (default 5 s); past it an operation fails with
    /// [`StoreError::LockUnusable`] instead of waiting longer.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Store {
        self.segment.set_lock_timeout(timeout);
        self
    }
}
