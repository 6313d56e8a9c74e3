//! The one error type of the crate. Messages name the cause and, where an
//! operator can act, the fix.

use std::path::PathBuf;

/// Everything that can go wrong when opening or using a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store name {name:?}: {reason} (use 1 to 64 characters from [A-Za-z0-9._-])")]
    InvalidName { name: String, reason: &'static str },

    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    #[error("key must not be empty")]
    EmptyKey,

    #[error("key is {len} bytes, over the store's key limit of {max} bytes")]
    KeyTooLong { len: usize, max: usize },

    #[error(
        "value is {len} bytes, over the store's value limit of {max} bytes \
         (what the store can hold, or the max value size it was created with)"
    )]
    ValueTooLarge { len: usize, max: usize },

    #[error(
        "store is full (eviction policy {policy}): no room for {needed} more bytes in its stripe"
    )]
    Full { policy: &'static str, needed: usize },

    #[error("stored value is not a decimal 64-bit integer")]
    NotAnInteger,

    #[error("increment would overflow a 64-bit integer")]
    Overflow,

    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "not enough space in {dir} to reserve the {size}-byte segment {path}: {source}; \
         free space there, lower the size, or point the store at a bigger tmpfs"
    )]
    NoSpace {
        path: PathBuf,
        dir: PathBuf,
        size: u64,
        #[source]
        source: std::io::Error,
    },

    #[error("refusing to use segment {path}: {reason}; {fix}")]
    Insecure {
        path: PathBuf,
        reason: String,
        fix: String,
    },

    #[error(
        "{path} is not an ephpm-shm segment ({reason}); remove it or choose another store name"
    )]
    NotASegment { path: PathBuf, reason: String },

    #[error(
        "segment {path} has layout version {found}, this build uses version {expected}; \
         remove the segment (its data is lost) or run a matching build"
    )]
    IncompatibleVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    #[error(
        "segment {path} is truncated: the file has {file_len} bytes, its header says {expected}; \
         remove it (its data is lost)"
    )]
    Truncated {
        path: PathBuf,
        file_len: u64,
        expected: u64,
    },

    #[error(
        "segment {path} exists with another geometry ({found}) than configured ({wanted}); \
         restore the old settings, or remove the segment to recreate it (its data is lost)"
    )]
    GeometryMismatch {
        path: PathBuf,
        found: String,
        wanted: String,
    },

    #[error("segment {path} does not exist")]
    NotFound { path: PathBuf },

    #[error(
        "stripe {stripe}'s lock is unusable ({reason}): run `ephpm-shm verify --repair {name}`, \
         or remove the store with `ephpm-shm rm {name}`"
    )]
    LockUnusable {
        stripe: usize,
        name: String,
        reason: String,
    },

    #[error(
        "stripe {stripe}'s lock is held by thread {tid}, which is alive: stop the process \
         that runs it first, or remove the store with `ephpm-shm rm --force {name}`"
    )]
    LockHeld {
        stripe: usize,
        name: String,
        tid: u32,
    },

    #[error(
        "the watch table's lock is unusable ({reason}): run `ephpm-shm verify --repair {name}`, \
         or remove the store with `ephpm-shm rm {name}`"
    )]
    WatchLockUnusable { name: String, reason: String },

    #[error(
        "the watch table is full: the {probe} slots this key may use (of {slots}) hold other \
         keys that processes are waiting on; wait on fewer distinct keys at once"
    )]
    WatchTableFull { slots: usize, probe: usize },

    /// An operation found a length or offset in the stripe that cannot be
    /// right; the stripe has been rebuilt from its heap.
    #[error(
        "stripe {stripe} of segment {path} is damaged ({detail}); it was rebuilt, entries in \
         the damaged part are lost (`ephpm-shm verify` checks the whole store)"
    )]
    Damaged {
        stripe: usize,
        path: PathBuf,
        detail: String,
    },

    /// A read met a compressed value whose bytes do not decompress to what
    /// its entry records (damage, never a crash's result). The entry was
    /// removed, so the next read is a plain miss; the read counts as a miss.
    #[error("a compressed value in the store is corrupt ({reason}); it was removed and reads as missing")]
    Corrupt { reason: String },
}

impl StoreError {
    pub(crate) fn io(
        context: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
