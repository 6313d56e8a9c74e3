//! Creating or attaching the segment's file safely: the private directory,
//! ownership, the header's read and write, its geometry, mapping, formatting.

use super::{bus, OpenMode, Segment, DEFAULT_LOCK_TIMEOUT};
use crate::config::{default_dir, resolve_dir, segment_path, validate_name, Geometry};
use crate::error::{Result, StoreError};
use crate::layout::{
    SegmentHeader, LAYOUT_VERSION, MAGIC_INIT, MAGIC_READY, MAX_STRIPES, PAGE, SEGMENT_HEADER_SIZE,
    SLOT_SIZE, STRIPE_HEADER_SIZE,
};
use crate::process::euid;
use memmap2::{MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

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
            // flock, so no other process uses its locks or stripes yet.
            unsafe {
                segment.stripe_lock(i).init();
                let mut view = segment.view(i);
                view.format();
                view.meta.rng =
                    0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
            }
        }
        // SAFETY: as for the stripes' locks above: not ready yet, flock held.
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
