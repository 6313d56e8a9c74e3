//! What a caller asks for (`StoreConfig`) and the segment geometry derived
//! from it.

use crate::error::{Result, StoreError};
use crate::layout::{
    BLOCK_HEADER_SIZE, MAX_STRIPES, PAGE, SEGMENT_HEADER_SIZE, SLOT_SIZE, STRIPE_HEADER_SIZE,
};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Longest store name accepted.
pub(crate) const MAX_NAME_LEN: usize = 64;
/// Default segment size: 64 MiB.
pub const DEFAULT_SIZE: u64 = 64 << 20;
/// Default longest key, in bytes.
pub const DEFAULT_MAX_KEY_LEN: u32 = 4096;
/// Values up to this many bytes are kept in one block (fewer for small
/// stripes); larger ones are split into parts of this size.
pub const DEFAULT_PART_LEN: u32 = 64 << 10;
/// The smallest segment accepted: the header page and the watch table
/// (132 KiB since layout 6), and room for a small stripe.
pub(crate) const MIN_SIZE: u64 = 192 << 10;
const _: () = assert!(MIN_SIZE >= SEGMENT_HEADER_SIZE as u64 + 44 * 1024);
/// Largest stripe heap: block offsets and sizes are 32-bit.
const MAX_HEAP: u64 = (u32::MAX as u64) & !(PAGE as u64 - 1);
/// Auto stripe count aims at this many bytes per stripe...
const TARGET_STRIPE_BYTES: u64 = 4 << 20;
/// ...up to this many stripes. More stripes than writers that can run at
/// once buy nothing, and each costs a read a TLB entry of its own (its
/// header page and index page): 64 stripes keep write contention rare on
/// any machine PHP runs on, while a 1 GiB store's reads touch a quarter of
/// the pages that 256 stripes would.
const AUTO_MAX_STRIPES: u64 = 64;
/// One index slot per this many heap bytes.
const HEAP_BYTES_PER_SLOT: u64 = 256;

/// What to do when a write needs room that the key's stripe does not have.
/// Expired entries are always reclaimed first, whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Refuse the write with [`StoreError::Full`].
    NoEviction,
    /// Evict the least recently used entries (sampled, approximate).
    #[default]
    AllKeysLru,
    /// Evict the least recently used entries that have a TTL; refuse when none has.
    VolatileLru,
    /// Evict an entry picked uniformly at random among the stripe's entries.
    AllKeysRandom,
}

impl EvictionPolicy {
    /// The policy's number in the segment header.
    pub(crate) fn code(self) -> u32 {
        match self {
            EvictionPolicy::NoEviction => 1,
            EvictionPolicy::AllKeysLru => 2,
            EvictionPolicy::VolatileLru => 3,
            EvictionPolicy::AllKeysRandom => 4,
        }
    }

    /// The policy a segment header records (0: none recorded, the default).
    pub(crate) fn from_code(code: u32) -> Option<EvictionPolicy> {
        match code {
            0 | 2 => Some(EvictionPolicy::AllKeysLru),
            1 => Some(EvictionPolicy::NoEviction),
            3 => Some(EvictionPolicy::VolatileLru),
            4 => Some(EvictionPolicy::AllKeysRandom),
            _ => None,
        }
    }

    /// The policy's name, as settings and messages spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
        }
    }
}

impl fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EvictionPolicy {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "noeviction" => Ok(EvictionPolicy::NoEviction),
            "allkeys-lru" => Ok(EvictionPolicy::AllKeysLru),
            "volatile-lru" => Ok(EvictionPolicy::VolatileLru),
            "allkeys-random" => Ok(EvictionPolicy::AllKeysRandom),
            other => Err(StoreError::InvalidConfig(format!(
                "unknown eviction policy {other:?} (expected noeviction, allkeys-lru, volatile-lru or allkeys-random)"
            ))),
        }
    }
}

/// A compression codec for values (see [`Compression`]).
///
/// Only zstd: entries never leave the store, so no format is needed for
/// another program to read (gzip's and brotli's reason to be); zstd
/// compresses faster than either at a better ratio; and each codec is
/// one more C library to build and keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Values are stored as they are.
    #[default]
    None,
    /// Values of at least `min_size` bytes are compressed with zstd when
    /// that makes them shorter.
    Zstd,
}

impl Codec {
    /// The codec's number in the segment header.
    pub(crate) fn code(self) -> u32 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Codec> {
        match code {
            0 => Some(Codec::None),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The codec's name, as settings and messages spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Codec {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Codec::None),
            "zstd" => Ok(Codec::Zstd),
            other => Err(StoreError::InvalidConfig(format!(
                "unknown compression {other:?} (expected none or zstd)"
            ))),
        }
    }
}

/// zstd's default level.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 3;
/// Values shorter than this are not compressed by default.
pub const DEFAULT_COMPRESSION_MIN_SIZE: usize = 1024;

/// How a handle compresses the values it writes. Every handle reads every
/// entry, compressed or not, whatever its own setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// `None` stores values raw.
    pub codec: Codec,
    /// zstd's level: 1 (fastest) to 22, or negative for faster still.
    pub level: i32,
    /// Values shorter than this many bytes are stored raw.
    pub min_size: usize,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            codec: Codec::None,
            level: DEFAULT_COMPRESSION_LEVEL,
            min_size: DEFAULT_COMPRESSION_MIN_SIZE,
        }
    }
}

impl Compression {
    /// zstd at its default level and minimum size.
    pub fn zstd() -> Self {
        Compression {
            codec: Codec::Zstd,
            ..Compression::default()
        }
    }

    /// The levels zstd accepts.
    pub fn levels() -> std::ops::RangeInclusive<i32> {
        zstd::compression_level_range()
    }

    /// Checks the level.
    pub fn validate(&self) -> Result<()> {
        if !Self::levels().contains(&self.level) {
            return Err(StoreError::InvalidConfig(format!(
                "compression level {} is outside zstd's {}..={}",
                self.level,
                Self::levels().start(),
                Self::levels().end()
            )));
        }
        Ok(())
    }
}

/// What an opener asks of compression: each field it sets applies to its
/// handle, each it leaves `None` is the store's recorded default (for the
/// creator: [`Compression::default`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressionAsk {
    /// The codec asked for.
    pub codec: Option<Codec>,
    /// The zstd level asked for.
    pub level: Option<i32>,
    /// The minimum size asked for.
    pub min_size: Option<usize>,
}

impl CompressionAsk {
    /// The fields asked for, the others from `base`.
    pub fn over(&self, base: Compression) -> Compression {
        Compression {
            codec: self.codec.unwrap_or(base.codec),
            level: self.level.unwrap_or(base.level),
            min_size: self.min_size.unwrap_or(base.min_size),
        }
    }
}

/// How to open (and, the first time, create) a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Store name: `[A-Za-z0-9._-]{1,64}`, never a path.
    pub name: String,
    /// Directory holding the segment file. Empty (the default): the
    /// per-user directory [`default_dir`] of the process that opens the
    /// store, resolved at open time.
    pub dir: PathBuf,
    /// Total segment size in bytes, reserved up front.
    pub size: u64,
    /// Number of lock stripes (1 to 1024); `None` picks one per 4 MiB, at
    /// most 64.
    pub stripes: Option<u32>,
    /// Longest key in bytes.
    pub max_key_len: u32,
    /// Longest value in bytes, a cap an operator may set; `None` = as large
    /// as the store can hold (the sum of its stripes' heaps).
    pub max_value_len: Option<u32>,
    /// Eviction policy, recorded in the segment by its creator: an opener
    /// of an existing store that asks for another gets the store's (see
    /// `Store::policy_asked`).
    pub eviction: EvictionPolicy,
    /// Compression of this handle's writes; what it leaves unset is the
    /// store's default (`store_compression`, recorded in the segment by its
    /// creator). Unlike the eviction policy, openers may differ: entries
    /// say how they are stored.
    pub compression: CompressionAsk,
    /// The default compression a creator records in a new store (the
    /// store's, for every opener that leaves a field unset); ignored when
    /// the store exists. Kept apart from `compression` so that which of
    /// several pools happens to create the store changes nothing for the
    /// others.
    pub store_compression: Compression,
}

impl StoreConfig {
    /// The store `name` with every other setting at its default.
    pub fn new(name: impl Into<String>) -> Self {
        StoreConfig {
            name: name.into(),
            dir: PathBuf::new(),
            size: DEFAULT_SIZE,
            stripes: None,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            max_value_len: None,
            eviction: EvictionPolicy::default(),
            compression: CompressionAsk::default(),
            store_compression: Compression::default(),
        }
    }
    /// The segment's directory (empty: [`default_dir`]).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }
    /// The segment's size in bytes, if this opener creates it.
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }
    /// The number of lock stripes, if this opener creates it.
    pub fn stripes(mut self, stripes: u32) -> Self {
        self.stripes = Some(stripes);
        self
    }
    /// A cap on values, if this opener creates the store.
    pub fn max_value_len(mut self, len: u32) -> Self {
        self.max_value_len = Some(len);
        self
    }
    /// The eviction policy, recorded if this opener creates the store.
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.eviction = policy;
        self
    }
    /// Asks for all of `compression` (codec, level and minimum size).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = CompressionAsk {
            codec: Some(compression.codec),
            level: Some(compression.level),
            min_size: Some(compression.min_size),
        };
        self
    }
    /// The default compression recorded in the store if this opener creates it.
    pub fn store_compression(mut self, compression: Compression) -> Self {
        self.store_compression = compression;
        self
    }
    /// Asks for this codec only (level and minimum size: the store's).
    pub fn compression_codec(mut self, codec: Codec) -> Self {
        self.compression.codec = Some(codec);
        self
    }
    /// Asks for this zstd level only.
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression.level = Some(level);
        self
    }
    /// Asks for this minimum size only.
    pub fn compression_min_size(mut self, min_size: usize) -> Self {
        self.compression.min_size = Some(min_size);
        self
    }

    /// The segment's file path: `<dir>/ephpm_kv.<name>`.
    pub fn path(&self) -> Result<PathBuf> {
        validate_name(&self.name)?;
        Ok(segment_path(&resolve_dir(&self.dir), &self.name))
    }
}

/// The default directory of the segments: `/dev/shm/ephpm-<uid>`, for the
/// effective user id of this process. Created mode 0700 on first use and
/// refused unless it is a directory of this user that nobody else can
/// enter, so that store names of different users never meet (and no other
/// user can see which stores exist).
pub fn default_dir() -> PathBuf {
    PathBuf::from(format!("/dev/shm/ephpm-{}", crate::process::euid()))
}

/// `dir`, or [`default_dir`] if it is empty.
pub(crate) fn resolve_dir(dir: &std::path::Path) -> PathBuf {
    if dir.as_os_str().is_empty() {
        default_dir()
    } else {
        dir.to_path_buf()
    }
}

pub(crate) fn segment_path(dir: &std::path::Path, name: &str) -> PathBuf {
    dir.join(format!("ephpm_kv.{name}"))
}

/// Checks a store name: short, from `[A-Za-z0-9._-]`, and not `.`/`..`.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(StoreError::InvalidName {
            name: name.chars().take(80).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is too long");
    }
    if name == "." || name == ".." {
        return bad("it is a relative path");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("it has a character outside [A-Za-z0-9._-]");
    }
    Ok(())
}

/// The shape of a segment, fixed at creation and recorded in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The segment's size in bytes.
    pub total_size: u64,
    /// Lock stripes.
    pub stripes: u32,
    /// Bytes from one stripe's start to the next's.
    pub stripe_stride: u64,
    /// The most index slots a stripe can have.
    pub slots_per_stripe: u32,
    /// Bytes of a stripe's heap.
    pub heap_size: u32,
    /// Longest key in bytes.
    pub max_key_len: u32,
    /// Longest value in bytes.
    pub max_value_len: u32,
    /// Largest value kept in one block, and the size of a large value's parts.
    pub part_len: u32,
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "size {} bytes, {} stripes, {} slots/stripe, max key {} B, max value {} B",
            self.total_size,
            self.stripes,
            self.slots_per_stripe,
            self.max_key_len,
            self.max_value_len
        )
    }
}

impl Geometry {
    /// Bytes of all the stripes' heaps: no value can be larger.
    pub fn capacity(&self) -> u64 {
        self.heap_size as u64 * self.stripes as u64
    }
}

impl Geometry {
    /// Derives the geometry for a configuration, or says why it cannot work.
    pub fn for_config(cfg: &StoreConfig) -> Result<Geometry> {
        let bad = |msg: String| Err(StoreError::InvalidConfig(msg));
        if cfg.size < MIN_SIZE {
            return bad(format!(
                "size {} is below the minimum of {MIN_SIZE} bytes",
                cfg.size
            ));
        }
        let stripes = match cfg.stripes {
            Some(n) if n == 0 || n > MAX_STRIPES => {
                return bad(format!(
                    "stripes must be between 1 and {MAX_STRIPES}, got {n}"
                ))
            }
            Some(n) => n,
            None => (cfg.size / TARGET_STRIPE_BYTES).clamp(1, AUTO_MAX_STRIPES) as u32,
        };
        if cfg.max_key_len == 0 || cfg.max_key_len > u16::MAX as u32 {
            return bad(format!(
                "max key length must be 1..=65535, got {}",
                cfg.max_key_len
            ));
        }
        let page = PAGE as u64;
        let total = cfg.size & !(page - 1);
        let stride = ((total - SEGMENT_HEADER_SIZE as u64) / stripes as u64) & !(page - 1);
        let body = stride.saturating_sub(STRIPE_HEADER_SIZE as u64);
        // Index: a power of two of 16-byte slots, about 1/16 of the stripe.
        let mut slots = (body / (HEAP_BYTES_PER_SLOT + SLOT_SIZE as u64)).max(8);
        slots = 1 << (63 - slots.leading_zeros());
        let heap = body.saturating_sub(slots * SLOT_SIZE as u64) & !(page - 1);
        if heap < 4 * page {
            return bad(format!(
                "size {} is too small for {stripes} stripes (each needs at least {} bytes)",
                cfg.size,
                STRIPE_HEADER_SIZE as u64 + 4 * page + 8 * SLOT_SIZE as u64
            ));
        }
        if heap > MAX_HEAP {
            return bad(format!(
                "each stripe would hold {heap} bytes, over the limit of {MAX_HEAP}: use more stripes"
            ));
        }
        // A block of the longest key and a whole part takes at most a
        // third of a heap, so eviction can always make room for one.
        let entry_room = heap / 3 - BLOCK_HEADER_SIZE as u64 - cfg.max_key_len as u64;
        let part_len = (DEFAULT_PART_LEN as u64).min(entry_room) as u32 & !15;
        let capacity = heap * stripes as u64;
        let max_value_len = match cfg.max_value_len {
            Some(0) => return bad("max value length must be at least 1 byte".into()),
            Some(v) if v as u64 > capacity => {
                return bad(format!(
                    "max value length {v} is over the {capacity} bytes the store can hold: \
                     use a larger size"
                ))
            }
            Some(v) => v,
            None => capacity.min(u32::MAX as u64) as u32,
        };
        Ok(Geometry {
            total_size: SEGMENT_HEADER_SIZE as u64 + stride * stripes as u64,
            stripes,
            stripe_stride: stride,
            slots_per_stripe: slots as u32,
            heap_size: heap as u32,
            max_key_len: cfg.max_key_len,
            max_value_len,
            part_len,
        })
    }
}

/// Parses sizes like `64M`, `512k`, `1G` or plain bytes (binary multiples).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => 0,
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let invalid = || {
        StoreError::InvalidConfig(format!(
            "invalid size {text:?} (expected e.g. 64M, 512K, 1G or a number of bytes)"
        ))
    };
    let n: u64 = match mult {
        0 => return Err(invalid()),
        _ => digits.trim().parse().map_err(|_| invalid())?,
    };
    n.checked_mul(mult)
        .ok_or_else(|| StoreError::InvalidConfig(format!("size {text:?} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "sessions", "pool-1.cache_2", &"x".repeat(64)] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "ä",
            &"x".repeat(65),
            "a\0b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "M", "12X", "-1M", "1.5M", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn default_geometry_admits_values_as_large_as_the_store() {
        let g = Geometry::for_config(&StoreConfig::new("t")).unwrap();
        assert_eq!(g.stripes, 16);
        assert_eq!(g.part_len, DEFAULT_PART_LEN);
        assert_eq!(g.max_value_len as u64, g.capacity());
        assert!(g.capacity() > 60 << 20);
        assert!(g.total_size <= DEFAULT_SIZE);
        let small = Geometry::for_config(&StoreConfig::new("t").size(MIN_SIZE)).unwrap();
        assert!(small.part_len as u64 * 3 <= small.heap_size as u64);
    }

    #[test]
    fn rejects_bad_geometry() {
        assert!(Geometry::for_config(&StoreConfig::new("t").size(1000)).is_err());
        assert!(Geometry::for_config(&StoreConfig::new("t").stripes(0)).is_err());
        assert!(Geometry::for_config(&StoreConfig::new("t").stripes(10_000)).is_err());
        let small = StoreConfig::new("t").size(1 << 20).max_value_len(1 << 20);
        assert!(Geometry::for_config(&small).is_err());
        assert!(Geometry::for_config(&StoreConfig::new("t").max_value_len(0)).is_err());
    }
}
