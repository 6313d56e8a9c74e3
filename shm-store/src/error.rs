//! The one error type of the crate. Messages name the cause and, where an
//! operator can act, the fix.

use std::path::PathBuf;

/// Everything that can go wrong when opening or using a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A store name outside `[A-Za-z0-9._-]{1,64}`.
    #[error("invalid store name {name:?}: {reason} (use 1 to 64 characters from [A-Za-z0-9._-])")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A setting out of range or unparsable (the message says which).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The empty key, which no operation accepts.
    #[error("key must not be empty")]
    EmptyKey,

    /// A key over the store's key limit.
    #[error("key is {len} bytes, over the store's key limit of {max} bytes")]
    KeyTooLong {
        /// The key's length.
        len: usize,
        /// The store's key limit.
        max: usize,
    },

    /// A value over the store's value limit.
    #[error(
        "value is {len} bytes, over the store's value limit of {max} bytes \
         (what the store can hold, or the max value size it was created with)"
    )]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The store's value limit.
        max: usize,
    },

    /// No room for a write, even after evicting what the policy allows.
    #[error(
        "store is full (eviction policy {policy}): no room for {needed} more bytes in its stripe"
    )]
    Full {
        /// The store's eviction policy.
        policy: &'static str,
        /// The bytes the write needed.
        needed: usize,
    },

    /// An increment of a value that is not a decimal 64-bit integer.
    #[error("stored value is not a decimal 64-bit integer")]
    NotAnInteger,

    /// An increment past `i64`'s range.
    #[error("increment would overflow a 64-bit integer")]
    Overflow,

    /// A system call on the segment file or its directory failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done (`"opening"`, `"mapping"`, ...).
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// The segment's directory has no room to reserve it.
    #[error(
        "not enough space in {dir} to reserve the {size}-byte segment {path}: {source}; \
         free space there, lower the size, or point the store at a bigger tmpfs"
    )]
    NoSpace {
        /// The segment file.
        path: PathBuf,
        /// Its directory (the tmpfs that is short of space).
        dir: PathBuf,
        /// The segment's size.
        size: u64,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// A segment or directory another user could write (or own).
    #[error("refusing to use segment {path}: {reason}; {fix}")]
    Insecure {
        /// The file or directory.
        path: PathBuf,
        /// What is unsafe about it.
        reason: String,
        /// What the operator can do.
        fix: String,
    },

    /// A file in the store's place that is not a segment.
    #[error(
        "{path} is not an ephpm-shm segment ({reason}); remove it or choose another store name"
    )]
    NotASegment {
        /// The file.
        path: PathBuf,
        /// Why it is not one.
        reason: String,
    },

    /// A segment of another layout version.
    #[error(
        "segment {path} has layout version {found}, this build uses version {expected}; \
         remove the segment (its data is lost) or run a matching build"
    )]
    IncompatibleVersion {
        /// The segment file.
        path: PathBuf,
        /// Its layout version.
        found: u32,
        /// This build's.
        expected: u32,
    },

    /// A segment file shorter than its header says.
    #[error(
        "segment {path} is truncated: the file has {file_len} bytes, its header says {expected}; \
         remove it (its data is lost)"
    )]
    Truncated {
        /// The segment file.
        path: PathBuf,
        /// Its length.
        file_len: u64,
        /// The length its header records.
        expected: u64,
    },

    /// A segment made with other settings (size, stripes, ...).
    #[error(
        "segment {path} exists with another geometry ({found}) than configured ({wanted}); \
         restore the old settings, or remove the segment to recreate it (its data is lost)"
    )]
    GeometryMismatch {
        /// The segment file.
        path: PathBuf,
        /// Its geometry.
        found: String,
        /// The configured one.
        wanted: String,
    },

    /// No segment (attaching never creates one).
    #[error("segment {path} does not exist")]
    NotFound {
        /// The segment file.
        path: PathBuf,
    },

    /// A stripe lock that cannot be taken (garbled, or not recoverable).
    #[error(
        "stripe {stripe}'s lock is unusable ({reason}): run `ephpm-shm verify --repair {name}`, \
         or remove the store with `ephpm-shm rm {name}`"
    )]
    LockUnusable {
        /// The stripe.
        stripe: usize,
        /// The store's name.
        name: String,
        /// What the mutex said.
        reason: String,
    },

    /// A stripe lock held by a live thread past the repair's timeout.
    #[error(
        "stripe {stripe}'s lock is held by thread {tid}, which is alive: stop the process \
         that runs it first, or remove the store with `ephpm-shm rm --force {name}`"
    )]
    LockHeld {
        /// The stripe.
        stripe: usize,
        /// The store's name.
        name: String,
        /// The holder's thread id.
        tid: u32,
    },

    /// The watch table's lock cannot be taken.
    #[error(
        "the watch table's lock is unusable ({reason}): run `ephpm-shm verify --repair {name}`, \
         or remove the store with `ephpm-shm rm {name}`"
    )]
    WatchLockUnusable {
        /// The store's name.
        name: String,
        /// What the mutex said.
        reason: String,
    },

    /// Every slot a key may use holds another key with a live waiter.
    #[error(
        "the watch table is full: the {probe} slots this key may use (of {slots}) hold other \
         keys that processes are waiting on; wait on fewer distinct keys at once"
    )]
    WatchTableFull {
        /// The table's slots.
        slots: usize,
        /// The slots one key may use.
        probe: usize,
    },

    /// An operation found a length or offset in the stripe that cannot be
    /// right; the stripe has been rebuilt from its heap.
    #[error(
        "stripe {stripe} of segment {path} is damaged ({detail}); it was rebuilt, entries in \
         the damaged part are lost (`ephpm-shm verify` checks the whole store)"
    )]
    Damaged {
        /// The stripe.
        stripe: usize,
        /// The segment file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },

    /// A read met a compressed value whose bytes do not decompress to what
    /// its entry records (damage, never a crash's result). The entry was
    /// removed, so the next read is a plain miss; the read counts as a miss.
    #[error("a compressed value in the store is corrupt ({reason}); it was removed and reads as missing")]
    Corrupt {
        /// What the decompressor said.
        reason: String,
    },
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

/// The crate's `Result`, with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
