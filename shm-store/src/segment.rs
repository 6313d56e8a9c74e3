//! The named segment: creating or attaching the file safely, checking its
//! header, mapping it, and handing out locked views of its stripes. With its
//! files under `segment/` and `shared_mutex.rs`, the only
//! code with `unsafe`:
//! - `file`: the file's safe creation and attach (private directory,
//!   ownership, header read and write, geometry), the mapping and initialising;
//! - `bus`: the SIGBUS guard for a file truncated under its mapping;
//! - `stripes`: stripe locking, the guard, take-over, and [`SharedStripe`],
//!   the seqlock reader's view;
//! - `header_words`: the header page's shared words (counters, watch table).

mod bus;
mod file;
mod header_words;
mod stripes;

pub(crate) use stripes::{SharedStripe, StripeGuard};

use crate::config::Geometry;
use memmap2::MmapRaw;
use std::path::{Path, PathBuf};
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

impl Segment {
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

    pub(crate) fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }
}
