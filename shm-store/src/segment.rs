//! The named segment: creating or attaching the file safely, checking its
//! header, mapping it, and handing out locked views of its stripes. One of the
//! two modules with `unsafe` (the other is `shared_mutex`).

use crate::config::{default_dir, resolve_dir, segment_path, validate_name, Geometry};
use crate::error::{Result, StoreError};
use crate::layout::{
    ChangeSeq, LockWake, SegmentCounters, SegmentHeader, Slot, StripeMeta, WatchSlot,
    CHANGE_SEQ_OFFSET, LAYOUT_VERSION, LOCK_WAKE_OFFSET, MAGIC_INIT, MAGIC_READY, MAX_STRIPES,
    MUTEX_AREA, PAGE, SEGMENT_COUNTERS_OFFSET, SEGMENT_HEADER_SIZE, SLOT_SIZE, STRIPE_HEADER_SIZE,
    WATCH_MUTEX_OFFSET, WATCH_SLOTS, WATCH_TABLE_OFFSET,
};
use crate::process::{euid, thread_alive};
use crate::shared_mutex::{Acquired, LockError, RobustMutex};
use crate::stripe::StripeView;
use crate::watch_table::{WatchCounts, Watches};
use memmap2::{MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a stripe lock is waited for before it is reported unusable.
/// Operations hold a stripe lock for microseconds (a rebuild of a large
/// stripe for milliseconds): only a holder that is stuck, or a mutex whose
/// bytes were overwritten, keeps it this long.
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `open` may create the segment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OpenMode {
    /// Create with this geometry, eviction policy and default compression
    /// if missing; an existing segment must match the geometry (its policy
    /// applies, its compression is the default).
    CreateOrAttach(
        Geometry,
        crate::config::EvictionPolicy,
        crate::config::Compression,
    ),
    /// Attach to an existing segment, whatever its geometry.
    AttachOnly,
}

pub(crate) struct Segment {
    /// The mapping's entry in the SIGBUS guard (declared before `map`, so
    /// dropped before the range is unmapped); `None` if the guard could not
    /// take it (the process then dies of SIGBUS, as without a guard).
    _bus: Option<bus::Guarded>,
    /// The guard's flag for this mapping: set once its file lost pages
    /// under it (a flag that never is when the guard has no entry).
    lost: &'static std::sync::atomic::AtomicBool,
    map: MmapRaw,
    geometry: Geometry,
    path: PathBuf,
    name: String,
    lock_timeout: Duration,
    created: bool,
    /// When the segment was created (Unix ms), from its header.
    created_unix_ms: u64,
    /// The eviction policy its header records.
    policy: crate::config::EvictionPolicy,
    /// The default compression its header records.
    compression: crate::config::Compression,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("geometry", &self.geometry)
            .finish()
    }
}

/// A stripe whose lock this thread holds; unlocks on drop.
pub(crate) struct StripeGuard<'a> {
    mutex: RobustMutex,
    change: &'a ChangeSeq,
    stripe: usize,
    segment: &'a Segment,
    pub view: StripeView<'a>,
}

impl StripeGuard<'_> {
    /// If an operation found damage in the stripe: rebuilds it (so the next
    /// operation works) and reports the damage.
    pub(crate) fn repair_if_damaged(&mut self) -> Result<()> {
        // What was read or written on pages the file no longer has means
        // nothing: no repair, the store is unusable.
        self.segment.check_mapped()?;
        match self.view.take_damage() {
            None => Ok(()),
            Some(damage) => {
                self.view.rebuild();
                Err(StoreError::Damaged {
                    stripe: self.stripe,
                    path: self.segment.path.to_path_buf(),
                    detail: damage.to_string(),
                })
            }
        }
    }
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A panic may have left the stripe half updated: repair it
            // before anyone else sees it, as if this holder had died.
            self.view.rebuild();
        }
        // Watched keys written: their versions are bumped before the
        // stripe is unlocked, their waiters woken after (see "Watches").
        let changes = &self.view.changes;
        let wakes = (!changes.is_empty())
            .then(|| self.segment.watches().bump(self.stripe, changes.hashes()));
        // Every change of this holder is written before the sequence is
        // even again. Only the mutex holder writes the word: no atomic
        // read-modify-write is needed.
        let seq = self.change.seq.load(Ordering::Relaxed);
        self.change
            .seq
            .store(seq.wrapping_add(1), Ordering::Release);
        // SAFETY: the guard exists only while this thread holds the lock
        // (see `lock_stripe`), and is dropped once.
        unsafe { self.mutex.unlock() };
        if let Some(wakes) = wakes {
            wakes.wake();
        }
    }
}

/// One stripe's bytes as a reader without the lock sees them: any byte may
/// change under it at any time (a lock holder of this or another process
/// writes). Every access is bounds-checked against the stripe, so nothing a
/// racing or damaged writer leaves can take a reader outside the mapping;
/// words are loaded atomically, byte ranges copied out, and whatever is read
/// means something only once [`SharedStripe::unchanged_since`] confirms that
/// no holder changed the stripe meanwhile (the argument is in `layout.rs`,
/// "Lock-free reads").
pub(crate) struct SharedStripe<'a> {
    base: *mut u8,
    len: usize,
    change: &'a ChangeSeq,
    /// Set once the file lost pages under the mapping (see `bus`): then
    /// nothing read validates, and readers go to the locked path, which
    /// reports it.
    lost: &'static std::sync::atomic::AtomicBool,
    _mapping: std::marker::PhantomData<&'a Segment>,
}

impl SharedStripe<'_> {
    /// The change sequence to validate against, or `None` while a holder
    /// may be changing the stripe (odd).
    pub(crate) fn begin(&self) -> Option<u32> {
        let seq = self.change.seq.load(Ordering::Acquire);
        seq.is_multiple_of(2).then_some(seq)
    }

    /// Spins (at most `spins` times) while a holder may be changing the
    /// stripe; `true` once the sequence is even. A holder changes a stripe
    /// for a microsecond or two: waiting here is far cheaper than queueing
    /// on its mutex (a futex sleep and wake-up), which a reader only does
    /// once the spin is over (a holder that died leaves it odd for good).
    pub(crate) fn wait_even(&self, spins: u32) -> bool {
        for _ in 0..spins {
            if self.change.seq.load(Ordering::Relaxed).is_multiple_of(2) {
                return true;
            }
            std::hint::spin_loop();
        }
        false
    }

    /// Whether no lock holder changed the stripe since [`SharedStripe::begin`]
    /// returned `seq`: everything read in between is then what the stripe
    /// held at one instant.
    pub(crate) fn unchanged_since(&self, seq: u32) -> bool {
        // Orders every read above before the second load of the sequence.
        std::sync::atomic::fence(Ordering::Acquire);
        self.change.seq.load(Ordering::Relaxed) == seq && !self.lost.load(Ordering::Acquire)
    }

    /// Pointer to `n` bytes at `off`, if they lie inside the stripe and
    /// `off` is a multiple of `align`.
    fn at(&self, off: usize, n: usize, align: usize) -> Option<*mut u8> {
        (off.is_multiple_of(align) && off.checked_add(n)? <= self.len)
            // SAFETY: off + n <= len, the stripe's length inside the mapping.
            .then(|| unsafe { self.base.add(off) })
    }

    /// A copy of the `T` at `off` (aligned for `T`, inside the stripe),
    /// read in one piece: a slot, a block header, an integer entry's
    /// number. Like any copy from the stripe it may be torn by a concurrent
    /// writer: every field is checked before use and the whole validated
    /// by the change sequence.
    pub(crate) fn read<T: bytemuck::Pod>(&self, off: usize) -> Option<T> {
        let p = self.at(off, std::mem::size_of::<T>(), std::mem::align_of::<T>())?;
        // SAFETY: in bounds and aligned for `T` (checked by `at`); `T` is
        // plain data, valid for any bit pattern; a racing store can only
        // make the copy stale, which the caller's validation detects.
        Some(unsafe { p.cast::<T>().cast_const().read_volatile() })
    }

    /// Stores the 4-byte word at `off` (aligned, inside the stripe)
    /// atomically; `false` if out of bounds. For advisory words only (an
    /// LRU stamp), which no reader or rebuild relies on.
    pub(crate) fn set_u32(&self, off: usize, value: u32) -> bool {
        let Some(p) = self.at(off, 4, 4) else {
            return false;
        };
        // SAFETY: in bounds and aligned (checked by `at`), in a mapping that
        // outlives `self`; the word is plain data, valid for any value.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(p.cast()) }.store(value, Ordering::Relaxed);
        true
    }

    /// Copies `out.len()` bytes from `off` into `out`; `false` (nothing
    /// copied) if they do not lie inside the stripe. The bytes may be torn
    /// by a concurrent writer: validate before using them.
    pub(crate) fn copy_out(&self, off: usize, out: &mut [u8]) -> bool {
        // SAFETY: the same bytes seen as possibly uninitialised;
        // `copy_out_uninit` only ever writes initialised bytes into them,
        // so `out` stays initialised whatever it does.
        let out = unsafe { &mut *(std::ptr::from_mut(out) as *mut [std::mem::MaybeUninit<u8>]) };
        self.copy_out_uninit(off, out)
    }

    /// [`SharedStripe::copy_out`] into a buffer that need not be
    /// initialised (a fresh PHP string): on `true` all of `out` is written.
    pub(crate) fn copy_out_uninit(
        &self,
        off: usize,
        out: &mut [std::mem::MaybeUninit<u8>],
    ) -> bool {
        let Some(p) = self.at(off, out.len(), 1) else {
            return false;
        };
        // SAFETY: the source lies inside the mapping (checked by `at`); the
        // destination is the caller's exclusive buffer, which cannot be in
        // the segment's mapping (never handed out as a Rust slice), so they
        // do not overlap. No reference to the shared bytes is formed; the
        // copy may race with a lock holder's stores, and its result is used
        // only once the change sequence confirms it untorn (the seqlock
        // argument in layout.rs; as in the kernel's seqlocks, the copy is a
        // plain memcpy). Any bytes may be written into `MaybeUninit<u8>`.
        unsafe {
            std::ptr::copy_nonoverlapping(p.cast_const(), out.as_mut_ptr().cast::<u8>(), out.len())
        };
        true
    }

    /// Whether the bytes at `off` equal `expected` (`false` if out of bounds).
    pub(crate) fn bytes_eq(&self, off: usize, expected: &[u8]) -> bool {
        const CHUNK: usize = 64;
        let Some(p) = self.at(off, expected.len(), 1) else {
            return false;
        };
        expected.chunks(CHUNK).enumerate().all(|(i, want)| {
            let mut buf = std::mem::MaybeUninit::<[u8; CHUNK]>::uninit();
            // SAFETY: `at` checked that off + expected.len() lies inside the
            // stripe, and chunk i starts i * CHUNK bytes in; the chunk is
            // copied (racing writers as in `copy_out`) into a local buffer,
            // and only the `want.len()` bytes written are read back.
            let got = unsafe {
                let dst = buf.as_mut_ptr().cast::<u8>();
                std::ptr::copy_nonoverlapping(p.add(i * CHUNK).cast_const(), dst, want.len());
                std::slice::from_raw_parts(dst.cast_const(), want.len())
            };
            got == want
        })
    }
}

fn insecure(path: &Path, reason: String, fix: String) -> StoreError {
    StoreError::Insecure {
        path: path.to_path_buf(),
        reason,
        fix,
    }
}

fn not_a_segment(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::NotASegment {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn no_space(path: &Path, dir: &Path, size: u64, source: std::io::Error) -> StoreError {
    StoreError::NoSpace {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        size,
        source,
    }
}

/// Removes the file at `path` if it is still `file` (same device and inode),
/// emptied first so that nothing is kept even if the removal fails. Called
/// with the file's flock held, after a failed creation.
fn remove_if_same(file: &File, path: &Path) {
    let (Ok(ours), Ok(there)) = (file.metadata(), std::fs::symlink_metadata(path)) else {
        return;
    };
    if ours.dev() == there.dev() && ours.ino() == there.ino() {
        let _ = file.set_len(0);
        let _ = std::fs::remove_file(path);
    }
}

/// Releases the creation `flock` when dropped.
struct CreationLock<'a>(&'a File);

impl Drop for CreationLock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

enum DirError {
    Missing,
    Store(StoreError),
}

/// Makes sure the per-user directory exists (if `create`) and is private: a
/// directory (not a link) of this user, mode 0700 or stricter. One that
/// another user made is refused (it names this user, so it was planted).
fn private_dir(dir: &Path, segment: &Path, create: bool) -> Result<(), DirError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if create {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            // The umask may have taken bits away from 0700: set it exactly.
            Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| {
                    DirError::Store(StoreError::io("cannot set the mode of directory", dir, e))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(DirError::Store(StoreError::io(
                    "cannot create the store directory",
                    dir,
                    e,
                )))
            }
        }
    }
    let md = match std::fs::symlink_metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DirError::Missing),
        Err(e) => {
            return Err(DirError::Store(StoreError::io(
                "cannot stat directory",
                dir,
                e,
            )))
        }
    };
    let refuse = |reason: String, fix: String| {
        let reason = format!("its directory {} {reason}", dir.display());
        Err(DirError::Store(insecure(segment, reason, fix)))
    };
    if !md.file_type().is_dir() {
        return refuse("is not a directory".into(), "remove it".into());
    }
    if md.uid() != euid() {
        return refuse(
            format!(
                "belongs to uid {}, this process runs as uid {}",
                md.uid(),
                euid()
            ),
            "remove that directory (another user created it), or configure another one".into(),
        );
    }
    if md.mode() & 0o077 != 0 {
        return refuse(
            format!(
                "has mode {:o}, which lets other users in",
                md.mode() & 0o777
            ),
            format!("run `chmod 700 {}`", dir.display()),
        );
    }
    Ok(())
}

/// Refuses a file that another user could have planted or can read.
fn check_ownership(file: &File, path: &Path) -> Result<()> {
    let md = file
        .metadata()
        .map_err(|e| StoreError::io("cannot stat segment", path, e))?;
    if !md.file_type().is_file() {
        return Err(insecure(
            path,
            "it is not a regular file".into(),
            "remove it".into(),
        ));
    }
    let euid = euid();
    if md.uid() != euid {
        return Err(insecure(
            path,
            format!(
                "it belongs to uid {}, this process runs as uid {euid}",
                md.uid()
            ),
            "remove it, or run every process that uses this store as one user".into(),
        ));
    }
    if md.mode() & 0o077 != 0 {
        return Err(insecure(
            path,
            format!("its mode {:o} lets other users in", md.mode() & 0o777),
            format!("run `chmod 600 {}` or remove it", path.display()),
        ));
    }
    Ok(())
}

/// Reads the header. A file cut short after a complete [`MAGIC_INIT`] is
/// reported as that magic: its creator died while writing the header.
fn read_header(file: &File, path: &Path, len: u64) -> Result<SegmentHeader> {
    let mut buf = [0u8; std::mem::size_of::<SegmentHeader>()];
    let available = buf.len().min(len as usize);
    file.read_exact_at(&mut buf[..available], 0)
        .map_err(|e| StoreError::io("cannot read segment header", path, e))?;
    if available < buf.len() {
        if available >= 8 && buf[..8] == MAGIC_INIT.to_le_bytes() {
            return Ok(SegmentHeader {
                magic: MAGIC_INIT,
                ..bytemuck::Zeroable::zeroed()
            });
        }
        return Err(not_a_segment(path, "shorter than a header"));
    }
    Ok(bytemuck::pod_read_unaligned(&buf))
}

fn write_header(file: &File, path: &Path, header: &SegmentHeader) -> Result<()> {
    file.write_all_at(bytemuck::bytes_of(header), 0)
        .map_err(|e| StoreError::io("cannot write segment header", path, e))
}

fn header_for(
    geometry: &Geometry,
    magic: u64,
    policy: crate::config::EvictionPolicy,
    compression: crate::config::Compression,
) -> SegmentHeader {
    SegmentHeader {
        magic,
        version: LAYOUT_VERSION,
        header_size: SEGMENT_HEADER_SIZE as u32,
        total_size: geometry.total_size,
        stripe_stride: geometry.stripe_stride,
        stripes: geometry.stripes,
        slots_per_stripe: geometry.slots_per_stripe,
        heap_size: geometry.heap_size,
        max_key_len: geometry.max_key_len,
        max_value_len: geometry.max_value_len,
        part_len: geometry.part_len,
        creator_pid: std::process::id(),
        eviction: policy.code(),
        compression: compression.codec.code(),
        compression_level: compression.level,
        compression_min_size: compression.min_size as u64,
        created_unix_ms: crate::clock::Clock::now_ms(&crate::clock::SystemClock),
    }
}

/// Geometry of a ready header, if it is self-consistent (so that no offset
/// derived from it can fall outside the file).
fn geometry_of(h: &SegmentHeader) -> Option<Geometry> {
    let page = PAGE as u64;
    let slots = h.slots_per_stripe as u64;
    let heap = h.heap_size as u64;
    let ok = h.header_size as usize == SEGMENT_HEADER_SIZE
        && (1..=MAX_STRIPES).contains(&h.stripes)
        && h.slots_per_stripe.is_power_of_two()
        && h.slots_per_stripe >= 8
        && h.stripe_stride.is_multiple_of(page)
        && heap.is_multiple_of(page)
        && heap >= 4 * page
        && STRIPE_HEADER_SIZE as u64 + slots * SLOT_SIZE as u64 + heap <= h.stripe_stride
        && h.total_size
            == (SEGMENT_HEADER_SIZE as u64)
                .checked_add(h.stripe_stride.checked_mul(h.stripes as u64)?)?
        && h.max_key_len > 0
        && h.max_value_len > 0
        && h.max_value_len as u64 <= heap * h.stripes as u64
        && h.part_len >= 16
        && h.part_len.is_multiple_of(16)
        && h.part_len as u64 + h.max_key_len as u64 <= heap / 3;
    ok.then_some(Geometry {
        total_size: h.total_size,
        stripes: h.stripes,
        stripe_stride: h.stripe_stride,
        slots_per_stripe: h.slots_per_stripe,
        heap_size: h.heap_size,
        max_key_len: h.max_key_len,
        max_value_len: h.max_value_len,
        part_len: h.part_len,
    })
}

impl Segment {
    /// Opens the segment `<dir>/ephpm_kv.<name>`, creating and initialising
    /// it when `mode` allows and it does not exist yet. Concurrent openers
    /// are serialised by an exclusive `flock` on the file, so exactly one of
    /// them initialises it.
    pub(crate) fn open(dir: &Path, name: &str, mode: OpenMode) -> Result<Segment> {
        validate_name(name)?;
        let dir = &resolve_dir(dir);
        if *dir == default_dir() {
            let create = matches!(mode, OpenMode::CreateOrAttach(..));
            private_dir(dir, &segment_path(dir, name), create).map_err(|e| match e {
                DirError::Missing => StoreError::NotFound {
                    path: segment_path(dir, name),
                },
                DirError::Store(e) => e,
            })?;
        }
        // A creator that fails removes its file; an opener that was waiting
        // for its flock then holds the lock of a file without a name, and
        // opens the path again. Each retry means another creation failed.
        for _ in 0..8 {
            if let Some(segment) = Self::open_once(dir, name, mode)? {
                return Ok(segment);
            }
        }
        Err(StoreError::io(
            "the segment was removed again and again while opening",
            &segment_path(dir, name),
            std::io::Error::from_raw_os_error(libc::ENOENT),
        ))
    }

    /// One attempt of [`Segment::open`]; `None` when the file locked was
    /// removed meanwhile.
    fn open_once(dir: &Path, name: &str, mode: OpenMode) -> Result<Option<Segment>> {
        let path = segment_path(dir, name);
        let create = matches!(mode, OpenMode::CreateOrAttach(..));
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        if create {
            options.create(true).mode(0o600);
        }
        let file = options.open(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => insecure(
                &path,
                "it is a symbolic link".into(),
                "remove the link".into(),
            ),
            Some(libc::ENOENT) if !create => StoreError::NotFound { path: path.clone() },
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => match mode {
                OpenMode::CreateOrAttach(g, _, _) => no_space(&path, dir, g.total_size, e),
                OpenMode::AttachOnly => StoreError::io("cannot open segment", &path, e),
            },
            Some(libc::EACCES) => insecure(
                &path,
                "permission denied (another user owns it?)".into(),
                "remove it, or run every process that uses this store as one user".into(),
            ),
            _ => StoreError::io("cannot open segment", &path, e),
        })?;
        check_ownership(&file, &path)?;
        file.lock()
            .map_err(|e| StoreError::io("cannot lock segment file", &path, e))?;
        // The mapping keeps the open file (and so its flock) alive: release
        // the lock explicitly when this function returns.
        let _unlock = CreationLock(&file);

        let md = file
            .metadata()
            .map_err(|e| StoreError::io("cannot stat segment", &path, e))?;
        if md.nlink() == 0 {
            return Ok(None);
        }
        let len = md.len();
        let header = if len == 0 {
            None
        } else {
            Some(read_header(&file, &path, len)?)
        };
        let unfinished = match header {
            None => true,
            Some(h) => h.magic == MAGIC_INIT,
        };
        if unfinished {
            // Nobody ever stored data here: either we create it, or a creator
            // died before finishing (it held the flock we now hold).
            return match mode {
                OpenMode::CreateOrAttach(geometry, policy, compression) => {
                    let created = Self::initialise(
                        &file,
                        path.clone(),
                        dir,
                        name,
                        geometry,
                        (policy, compression),
                    );
                    if created.is_err() {
                        // Not left behind as an empty file: it never held data.
                        remove_if_same(&file, &path);
                    }
                    created.map(Some)
                }
                OpenMode::AttachOnly => Err(not_a_segment(&path, "its creation never finished")),
            };
        }
        let header = header.expect("a non-empty file has a header");
        if header.magic != MAGIC_READY {
            return Err(not_a_segment(&path, "no ephpm-shm magic in its header"));
        }
        if header.version != LAYOUT_VERSION {
            return Err(StoreError::IncompatibleVersion {
                path,
                found: header.version,
                expected: LAYOUT_VERSION,
            });
        }
        let geometry = geometry_of(&header)
            .ok_or_else(|| not_a_segment(&path, "its header describes an impossible layout"))?;
        if len < geometry.total_size {
            return Err(StoreError::Truncated {
                path,
                file_len: len,
                expected: geometry.total_size,
            });
        }
        if len > geometry.total_size {
            return Err(not_a_segment(&path, "it is larger than its header says"));
        }
        let policy = crate::config::EvictionPolicy::from_code(header.eviction)
            .ok_or_else(|| not_a_segment(&path, "its header names no known eviction policy"))?;
        let compression = crate::config::Compression {
            codec: crate::config::Codec::from_code(header.compression)
                .ok_or_else(|| not_a_segment(&path, "its header names no known compression"))?,
            level: header.compression_level,
            min_size: usize::try_from(header.compression_min_size).unwrap_or(usize::MAX),
        };
        if compression.validate().is_err() {
            return Err(not_a_segment(
                &path,
                "its header names an impossible compression level",
            ));
        }
        if let OpenMode::CreateOrAttach(wanted, _, _) = mode {
            if wanted != geometry {
                return Err(StoreError::GeometryMismatch {
                    path,
                    found: geometry.to_string(),
                    wanted: wanted.to_string(),
                });
            }
        }
        let map = Self::map(&file, &path, geometry.total_size)?;
        let bus = bus::guard(&map);
        Ok(Some(Segment {
            lost: bus::lost_flag(bus.as_ref()),
            _bus: bus,
            map,
            geometry,
            path,
            name: name.to_owned(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            created: false,
            created_unix_ms: header.created_unix_ms,
            policy,
            compression,
        }))
    }

    fn map(file: &File, path: &Path, len: u64) -> Result<MmapRaw> {
        MmapOptions::new()
            .len(len as usize)
            .map_raw(file)
            .map_err(|e| StoreError::io("cannot map segment", path, e))
    }

    /// Formats a new segment. Called with the file's flock held.
    fn initialise(
        file: &File,
        path: PathBuf,
        dir: &Path,
        name: &str,
        geometry: Geometry,
        (policy, compression): (crate::config::EvictionPolicy, crate::config::Compression),
    ) -> Result<Segment> {
        let truncate = |file: &File| {
            file.set_len(0)
                .map_err(|e| StoreError::io("cannot truncate segment", &path, e))
        };
        truncate(file)?;
        write_header(
            file,
            &path,
            &header_for(&geometry, MAGIC_INIT, policy, compression),
        )
        .map_err(|e| match e {
            // A full tmpfs refuses even the header's page.
            StoreError::Io { source, .. }
                if matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) =>
            {
                no_space(&path, dir, geometry.total_size, source)
            }
            e => e,
        })?;
        // Reserve every page now: on a full tmpfs a lazily allocated page
        // would kill the process with SIGBUS on first touch instead.
        // SAFETY: the descriptor is open for writing for the whole call.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, geometry.total_size as i64) };
        if rc != 0 {
            truncate(file)?;
            let source = std::io::Error::from_raw_os_error(rc);
            return Err(match rc {
                libc::ENOSPC | libc::EFBIG | libc::EDQUOT => {
                    no_space(&path, dir, geometry.total_size, source)
                }
                _ => StoreError::io("cannot reserve space for segment", &path, source),
            });
        }
        let map = Self::map(file, &path, geometry.total_size)?;
        let ready = header_for(&geometry, MAGIC_READY, policy, compression);
        let bus = bus::guard(&map);
        let segment = Segment {
            lost: bus::lost_flag(bus.as_ref()),
            _bus: bus,
            map,
            geometry,
            path,
            name: name.to_owned(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            created: true,
            created_unix_ms: ready.created_unix_ms,
            policy,
            compression,
        };
        for i in 0..geometry.stripes as usize {
            // SAFETY: the segment is not marked ready, and we hold the file's
            // flock, so no other process uses its mutexes or stripes yet.
            unsafe {
                let mutex = segment.mutex(i);
                mutex.init().map_err(|e| {
                    StoreError::io("cannot initialise stripe lock in", &segment.path, e)
                })?;
                let mut view = segment.view(i);
                view.format();
                view.meta.rng =
                    0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
            }
        }
        // SAFETY: as for the stripes' mutexes above: not ready yet, flock held.
        unsafe { segment.watches().mutex.init() }.map_err(|e| {
            StoreError::io(
                "cannot initialise the watch table lock in",
                &segment.path,
                e,
            )
        })?;
        // Versions of a re-created store start past any of the old one's
        // (unless the clock went back or it handed out a million a second).
        segment.counters().next_version.store(
            ready.created_unix_ms.saturating_mul(1000),
            Ordering::Relaxed,
        );
        // Written last: from here on the segment is ready.
        write_header(file, &segment.path, &ready)?;
        Ok(segment)
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn created_unix_ms(&self) -> u64 {
        self.created_unix_ms
    }

    pub(crate) fn created(&self) -> bool {
        self.created
    }

    pub(crate) fn policy(&self) -> crate::config::EvictionPolicy {
        self.policy
    }

    /// The default compression its creator recorded.
    pub(crate) fn compression(&self) -> crate::config::Compression {
        self.compression
    }

    pub(crate) fn set_lock_timeout(&mut self, timeout: Duration) {
        self.lock_timeout = timeout;
    }

    fn unusable(&self, i: usize, e: LockError) -> StoreError {
        StoreError::LockUnusable {
            stripe: i,
            name: self.name.clone(),
            reason: e.to_string(),
        }
    }

    fn stripe_base(&self, i: usize) -> *mut u8 {
        assert!(
            i < self.geometry.stripes as usize,
            "stripe {i} out of range"
        );
        let offset = SEGMENT_HEADER_SIZE + i * self.geometry.stripe_stride as usize;
        // SAFETY: offset + stride <= total_size == the mapping's length
        // (checked by geometry_of / Geometry::for_config).
        unsafe { self.map.as_mut_ptr().add(offset) }
    }

    fn mutex(&self, i: usize) -> RobustMutex {
        // SAFETY: the mutex area starts the stripe header, page aligned, and the
        // mapping lives as long as `self`; callers use the handle only while
        // borrowing `self`.
        unsafe { RobustMutex::from_ptr(self.stripe_base(i).cast()) }
    }

    /// The segment-wide counters in the header page.
    pub(crate) fn counters(&self) -> &SegmentCounters {
        // SAFETY: SEGMENT_COUNTERS_OFFSET + size_of::<SegmentCounters>() lies
        // inside the header page (asserted in layout.rs), 64-byte aligned in
        // a page-aligned mapping that lives as long as `self`; the words are
        // only ever accessed atomically (the header record before them is
        // read and written with pread/pwrite, never these bytes).
        unsafe {
            &*self
                .map
                .as_mut_ptr()
                .add(SEGMENT_COUNTERS_OFFSET)
                .cast::<SegmentCounters>()
        }
    }

    /// Stripe `i`'s change sequence and watch count.
    pub(crate) fn change_seq(&self, i: usize) -> &ChangeSeq {
        // SAFETY: as for `lock_wake`: a 64-byte aligned word inside the
        // stripe header, only ever accessed atomically.
        unsafe {
            &*self
                .stripe_base(i)
                .add(CHANGE_SEQ_OFFSET)
                .cast::<ChangeSeq>()
        }
    }

    /// The watch table (see "Watches" in `layout.rs`).
    pub(crate) fn watches(&self) -> Watches<'_> {
        let base = self.map.as_mut_ptr();
        // SAFETY: the table lies in the header region, after the header
        // page (WATCH_TABLE_OFFSET + WATCH_SLOTS * 32 == SEGMENT_HEADER_SIZE,
        // asserted in layout.rs), page aligned; its words are only ever
        // accessed atomically, and every bit pattern is a valid atomic, so
        // shared references from many threads and processes are sound.
        let slots = unsafe {
            std::slice::from_raw_parts(
                base.add(WATCH_TABLE_OFFSET).cast::<WatchSlot>(),
                WATCH_SLOTS,
            )
        };
        // SAFETY: the mutex area at WATCH_MUTEX_OFFSET lies in the header
        // page, 64-byte aligned, initialised by the segment's creator; the
        // handle is used only while `self` (the mapping) is borrowed.
        let mutex = unsafe { RobustMutex::from_ptr(base.add(WATCH_MUTEX_OFFSET).cast()) };
        Watches {
            slots,
            next_version: &self.counters().next_version,
            mutex,
            stripes: self.geometry.stripes,
            counts: self,
        }
    }

    pub(crate) fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// The error for a watch-table lock that cannot be taken.
    pub(crate) fn table_unusable(&self, reason: String) -> StoreError {
        StoreError::WatchLockUnusable {
            name: self.name.clone(),
            reason,
        }
    }

    /// Takes and releases the watch table's lock as [`Segment::take_over_stripe`]
    /// does a stripe's: a lock that cannot be taken within the bound and
    /// names no live holder is re-initialised (the reason is returned), and
    /// the stripes' watch counts are recounted from the table.
    pub(crate) fn take_over_watch_table(&self) -> Result<Option<String>> {
        let watches = self.watches();
        let reason = match watches.lock(self.lock_timeout) {
            Ok(_table) => return Ok(None),
            Err(reason) => reason,
        };
        if watches.mutex.looks_initialised() {
            if let Some(tid) = watches.mutex.holder().filter(|&t| thread_alive(t)) {
                return Err(
                    self.table_unusable(format!("{reason}; held by thread {tid}, which is alive"))
                );
            }
        }
        // SAFETY: as in `take_over_stripe`: not obtained within the bound,
        // and no live thread is named as holder, so nobody is inside.
        unsafe { watches.mutex.init() }.map_err(|e| {
            StoreError::io(
                "cannot re-initialise the watch table lock in",
                &self.path,
                e,
            )
        })?;
        let table = watches
            .lock(self.lock_timeout)
            .map_err(|reason| self.table_unusable(reason))?;
        table.recount();
        Ok(Some(reason))
    }

    /// The wake-up words of stripe `i`'s advisory locks.
    pub(crate) fn lock_wake(&self, i: usize) -> &LockWake {
        // SAFETY: LOCK_WAKE_OFFSET + size_of::<LockWake>() lies inside the
        // page-aligned stripe header and is 64-byte aligned; atomics have
        // the layout of the plain integers the file holds, and these words
        // are only ever accessed atomically (never through a StripeView), so
        // shared references to them from many threads and processes are sound.
        unsafe { &*self.stripe_base(i).add(LOCK_WAKE_OFFSET).cast::<LockWake>() }
    }

    /// Stripe `i` for a lock-free read (see [`SharedStripe`]).
    pub(crate) fn shared_stripe(&self, i: usize) -> SharedStripe<'_> {
        SharedStripe {
            base: self.stripe_base(i),
            len: self.geometry.stripe_stride as usize,
            change: self.change_seq(i),
            lost: self.lost,
            _mapping: std::marker::PhantomData,
        }
    }

    /// # Safety
    /// The caller holds stripe `i`'s lock (or is its exclusive initialiser)
    /// for as long as the returned view lives, and has no other view of it.
    unsafe fn view(&self, i: usize) -> StripeView<'_> {
        let base = self.stripe_base(i);
        let slots = self.geometry.slots_per_stripe as usize;
        // SAFETY: the three regions are disjoint, inside the stripe, suitably
        // aligned (page-aligned stripe, 64-byte mutex area, 4 KiB header), and
        // every bit pattern is valid for these plain-data types. The lock
        // guarantees no other thread or process touches them meanwhile.
        unsafe {
            StripeView::new(
                &mut *base.add(MUTEX_AREA).cast::<StripeMeta>(),
                std::slice::from_raw_parts_mut(base.add(STRIPE_HEADER_SIZE).cast::<Slot>(), slots),
                std::slice::from_raw_parts_mut(
                    base.add(STRIPE_HEADER_SIZE + slots * SLOT_SIZE),
                    self.geometry.heap_size as usize,
                ),
            )
        }
    }

    /// Locks stripe `i`. If the previous holder died, the stripe is rebuilt
    /// before the guard is returned.
    pub(crate) fn lock_stripe(&self, i: usize) -> Result<StripeGuard<'_>> {
        let mutex = self.mutex(i);
        let acquired = mutex.lock(self.lock_timeout).map_err(|e| {
            // A mutex read as zeros from a page the file lost is "garbled":
            // the cause is the truncation.
            self.check_mapped()
                .err()
                .unwrap_or_else(|| self.unusable(i, e))
        })?;
        if self.lost.load(Ordering::Acquire) {
            // The mutex itself may be one of the lost pages (zeros, which
            // lock as a plain mutex): nothing to guard.
            // SAFETY: this thread took the lock just above.
            unsafe { mutex.unlock() };
            return Err(self.truncated());
        }
        Ok(self.guard(i, mutex, acquired))
    }

    /// `Err(Truncated)` once the segment's file lost pages under this
    /// process's mapping (someone truncated it: the SIGBUS guard put zero
    /// pages in their place, see `bus`). Every operation that locks a
    /// stripe, or reads one, checks it: what it read means nothing, and
    /// the store cannot be used again until it is removed and created
    /// anew.
    #[inline]
    pub(crate) fn check_mapped(&self) -> Result<()> {
        match self.lost.load(Ordering::Acquire) {
            false => Ok(()),
            true => Err(self.truncated()),
        }
    }

    #[cold]
    fn truncated(&self) -> StoreError {
        StoreError::Truncated {
            path: self.path.clone(),
            file_len: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            expected: self.geometry.total_size,
        }
    }

    fn guard(&self, i: usize, mutex: RobustMutex, acquired: Acquired) -> StripeGuard<'_> {
        let change = self.change_seq(i);
        // Odd from here until the guard is dropped; a holder that died left
        // it odd already (its changes are repaired below, not undone).
        let seq = change.seq.load(Ordering::Relaxed);
        if seq.is_multiple_of(2) {
            change.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        }
        // The odd value is visible before any change this holder makes.
        std::sync::atomic::fence(Ordering::Release);
        let mut guard = StripeGuard {
            mutex,
            change,
            stripe: i,
            segment: self,
            // SAFETY: the caller holds stripe i's lock; the guard releases
            // it when it is dropped, and the view cannot be used past the guard.
            view: unsafe { self.view(i) },
        };
        // Whether to note the keys this holder changes, for the watch
        // table: nobody watching anything in the stripe costs this one load
        // of a word in the line just written. (A waiter that registers
        // meanwhile takes this lock once before it reads: see "Watches".)
        guard.view.changes.watching = change.watched.load(Ordering::Relaxed) != 0;
        if acquired == Acquired::OwnerDied {
            guard.view.rebuild();
        }
        guard
    }

    /// Locks stripe `i` like [`Segment::lock_stripe`]; if its lock is
    /// unusable (not obtained in time, or garbled bytes) and the lock word
    /// names no live thread, re-initialises the mutex and takes it. The
    /// second value says whether the lock was taken over (the caller then
    /// rebuilds the stripe). Refused with [`StoreError::LockHeld`] when a
    /// live thread is named as holder.
    ///
    /// What this cannot see: a process of another pid namespace, or one
    /// that is inside `pthread_mutex_lock` at this instant, using the same
    /// stripe; the operator runs this (`ephpm-shm verify --repair`) when no
    /// process is stuck in the store.
    pub(crate) fn take_over_stripe(&self, i: usize) -> Result<(StripeGuard<'_>, Option<String>)> {
        self.check_mapped()?;
        let mutex = self.mutex(i);
        let reason = match mutex.lock(self.lock_timeout) {
            Ok(acquired) => return Ok((self.guard(i, mutex, acquired), None)),
            Err(e) => e.to_string(),
        };
        if mutex.looks_initialised() {
            if let Some(tid) = mutex.holder().filter(|&t| thread_alive(t)) {
                return Err(StoreError::LockHeld {
                    stripe: i,
                    name: self.name.clone(),
                    tid,
                });
            }
        }
        // SAFETY: the lock could not be taken within the bound, and no live
        // thread is named as its holder (a garbled mutex names none that
        // means anything): nobody is inside the critical section, so
        // re-initialising the mutex does not break anyone's exclusion.
        // Waiters asleep on the old word time out with an error.
        unsafe { mutex.init() }
            .map_err(|e| StoreError::io("cannot re-initialise a stripe lock in", &self.path, e))?;
        let acquired = mutex
            .lock(self.lock_timeout)
            .map_err(|e| self.unusable(i, e))?;
        Ok((self.guard(i, mutex, acquired), Some(reason)))
    }
}

impl WatchCounts for Segment {
    fn watched(&self, stripe: usize) -> &std::sync::atomic::AtomicU32 {
        &self.change_seq(stripe).watched
    }
}

/// The SIGBUS guard. A segment is a plain file that any process of its
/// user can truncate (`truncate`, a `cp` over it, an editor): the kernel
/// then sends SIGBUS to every process that touches a mapped page past
/// the new end, which kills it. File seals, which would forbid that,
/// exist only for memfd files, not for a file opened by name; a lease
/// (`F_SETLEASE`) only delays a truncation by `lease-break-time`. So the
/// guard makes the fault survivable instead (as the JVM does for its
/// mapped buffers): a handler finds the faulting address in a mapped
/// segment, maps private zero pages over the rest of that mapping with
/// `MAP_FIXED` (nothing past the new end of the file was readable
/// anyway) and returns, so the access completes on zeros, and it flags
/// the mapping as lost. The store checks the flag after every locked
/// operation and before any lock-free read is trusted, and then fails
/// with [`StoreError::Truncated`]: the process keeps running, and so do
/// the others, each of which meets the lost pages in its own time.
/// A SIGBUS for any other address, or with another cause (a signal
/// someone sent, a hardware memory error), goes to the handler that was
/// there before (or the default action: death, as without the guard).
///
/// The handler touches only atomics and makes system calls: `sigaction`
/// and `raise` (async-signal-safe) and `mmap` (not on POSIX's list, but
/// on Linux glibc's wrapper is the bare system call, taking no lock). It
/// allocates nothing. The registry is a fixed table of atomics; a
/// process with more segments mapped at once than it holds goes without
/// the guard for the extra ones.
mod bus {
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// Mappings guarded at once per process.
    const SLOTS: usize = 256;
    /// `start` of a slot being claimed or released.
    const BUSY: usize = usize::MAX;

    /// One guarded mapping: `[start, end)`, and whether its file lost
    /// pages under it. `start` 0: a free slot.
    struct Slot {
        start: AtomicUsize,
        end: AtomicUsize,
        lost: AtomicBool,
    }

    static TABLE: [Slot; SLOTS] = [const {
        Slot {
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            lost: AtomicBool::new(false),
        }
    }; SLOTS];

    /// For mappings the guard does not hold.
    static NEVER_LOST: AtomicBool = AtomicBool::new(false);

    /// The flag of a mapping's entry, or one never set without an entry.
    pub(super) fn lost_flag(guarded: Option<&Guarded>) -> &'static AtomicBool {
        guarded.map_or(&NEVER_LOST, |g| &g.slot.lost)
    }

    /// The action that was in place when the handler was installed (read
    /// by the handler; set once, never freed), null before.
    static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());
    /// Whether the handler is installed: once per process, on the first
    /// mapping, and left in place (with no mapping in the table it only
    /// chains), so the action it chains to is never freed under it.
    static INSTALLED: OnceLock<bool> = OnceLock::new();

    /// A mapping's slot in the table, released on drop.
    pub(crate) struct Guarded {
        slot: &'static Slot,
    }

    /// Puts `map`'s range under the guard, installing the handler if it
    /// is not; `None` if the table is full or the handler cannot be
    /// installed.
    pub(super) fn guard(map: &memmap2::MmapRaw) -> Option<Guarded> {
        let start = map.as_ptr() as usize;
        let end = start.checked_add(map.len())?;
        if start == 0 || start == BUSY || !*INSTALLED.get_or_init(install) {
            return None;
        }
        let slot = TABLE.iter().find(|s| {
            s.start
                .compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })?;
        slot.lost.store(false, Ordering::Relaxed);
        slot.end.store(end, Ordering::Relaxed);
        // The range is complete before the handler can match it.
        slot.start.store(start, Ordering::Release);
        Some(Guarded { slot })
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            // Unmatched first, then emptied, then free for the next.
            self.slot.start.store(BUSY, Ordering::Release);
            self.slot.end.store(0, Ordering::Relaxed);
            self.slot.start.store(0, Ordering::Release);
        }
    }

    /// Installs the handler, keeping the previous action to chain to.
    fn install() -> bool {
        // SAFETY: all-zero bytes are a valid `sigaction` (no handler, no
        // flags, an empty mask).
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: queries the current action into a local.
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
            return false;
        }
        PREVIOUS.store(Box::into_raw(Box::new(previous)), Ordering::Release);
        // SAFETY: as above, zero bytes are a valid `sigaction`.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: installs a handler that is async-signal-safe (see the
        // module docs) and lives as long as the program (a static fn).
        unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0 }
    }

    /// The handler: a fault inside a guarded mapping is turned into zero
    /// pages and a flag; anything else goes to the previous action.
    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as usize;
        // SAFETY: the same siginfo.
        let code = unsafe { (*info).si_code };
        // An access past the end of the mapped file (not a signal someone
        // sent, nor a hardware memory error, which keep their meaning).
        if code == libc::BUS_ADRERR {
            for slot in &TABLE {
                let start = slot.start.load(Ordering::Acquire);
                let end = slot.end.load(Ordering::Relaxed);
                if start == 0 || start == BUSY || addr < start || addr >= end {
                    continue;
                }
                let page = addr & !(crate::layout::PAGE - 1);
                // SAFETY: [page, end) lies inside a mapping this process
                // made and has not unmapped (its slot is taken); every page
                // in it is past the file's end (the fault says so for this
                // one, and the file is only ever shorter beyond it), so
                // nothing readable is replaced. Zero pages are valid bytes
                // for every type the store reads from the segment.
                let mapped = unsafe {
                    libc::mmap(
                        page as *mut libc::c_void,
                        end - page,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if mapped != libc::MAP_FAILED {
                    slot.lost.store(true, Ordering::Release);
                    return;
                }
                break;
            }
        }
        chain(sig, info, ctx);
    }

    /// Hands the signal to the action that was there before the guard.
    fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        let previous = PREVIOUS.load(Ordering::Acquire);
        // SAFETY: non-null, it is the action read by `install`, never freed.
        let previous = (!previous.is_null()).then(|| unsafe { *previous });
        match previous {
            Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
                if p.sa_flags & libc::SA_SIGINFO != 0 {
                    // SAFETY: with SA_SIGINFO the field holds a
                    // three-argument handler, called as the kernel would.
                    let handler: extern "C" fn(
                        libc::c_int,
                        *mut libc::siginfo_t,
                        *mut libc::c_void,
                    ) = unsafe { std::mem::transmute(p.sa_sigaction) };
                    handler(sig, info, ctx);
                } else {
                    // SAFETY: without SA_SIGINFO it holds a one-argument handler.
                    let handler: extern "C" fn(libc::c_int) =
                        unsafe { std::mem::transmute(p.sa_sigaction) };
                    handler(sig);
                }
            }
            _ => {
                // The default action: death. Restored, then the faulting
                // access runs again (or a sent signal is sent again, and
                // delivered once this handler returns).
                // SAFETY: zero bytes are a valid `sigaction`; SIG_DFL is 0.
                let default: libc::sigaction = unsafe { std::mem::zeroed() };
                // SAFETY: sigaction and raise are async-signal-safe.
                unsafe {
                    libc::sigaction(sig, &default, std::ptr::null_mut());
                    // SAFETY: reads the kernel's siginfo, as above.
                    if (*info).si_code <= 0 {
                        libc::raise(sig);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn refused(r: Result<(), DirError>) -> String {
        match r {
            Err(DirError::Store(e @ StoreError::Insecure { .. })) => e.to_string(),
            Err(DirError::Store(e)) => panic!("expected Insecure, got {e}"),
            Err(DirError::Missing) => panic!("expected Insecure, got Missing"),
            Ok(()) => panic!("expected Insecure, got Ok"),
        }
    }

    #[test]
    fn private_dir_is_created_0700_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ephpm-test");
        let seg = dir.join("ephpm_kv.x");
        assert!(matches!(
            private_dir(&dir, &seg, false),
            Err(DirError::Missing)
        ));
        assert!(!dir.exists(), "created without create");
        // SAFETY: umask has no preconditions; restored below.
        let old = unsafe { libc::umask(0o077 | 0o700) };
        let made = private_dir(&dir, &seg, true);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        assert!(made.is_ok());
        let md = std::fs::symlink_metadata(&dir).unwrap();
        assert_eq!(md.mode() & 0o777, 0o700);
        assert!(private_dir(&dir, &seg, true).is_ok(), "existing dir");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = refused(private_dir(&dir, &seg, true));
        assert!(e.contains("mode 755") && e.contains("chmod 700"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();

        if euid() == 0 {
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
            let e = refused(private_dir(&dir, &seg, true));
            assert!(e.contains("belongs to uid 65534"), "{e}");
        }

        let link = tmp.path().join("ephpm-link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        let e = refused(private_dir(&link, &seg, true));
        assert!(e.contains("is not a directory"), "{e}");
    }
}
