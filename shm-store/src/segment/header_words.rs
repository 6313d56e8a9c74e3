//! The header page's shared words: the segment-wide counters and the watch
//! table (its slots, its lock and that lock's take-over). Touches the mapping.

use super::Segment;
use crate::error::{Result, StoreError};
use crate::layout::{
    SegmentCounters, WatchSlot, SEGMENT_COUNTERS_OFFSET, WATCH_MUTEX_OFFSET, WATCH_SLOTS,
    WATCH_TABLE_OFFSET,
};
use crate::process::thread_alive;
use crate::shared_mutex::RobustMutex;
use crate::watch_table::{WatchCounts, Watches};

impl Segment {
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
}

impl WatchCounts for Segment {
    fn watched(&self, stripe: usize) -> &std::sync::atomic::AtomicU32 {
        &self.change_seq(stripe).watched
    }
}
