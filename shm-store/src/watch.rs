//! Watches: `Store::wait` blocks until a key is written again, woken across
//! processes by the writer (a futex in the segment). The protocol, its
//! memory-ordering argument and the crash rules are in `layout.rs`
//! ("Watches"); this module is the waiter's side, a layer over `Store`; the
//! table and the writer's side are in `watch_table`.

use crate::error::{Result, StoreError};
use crate::layout::{hash_key, WATCH_PROBE, WATCH_SLOTS};
use crate::shared_mutex::{monotonic_ms, wait_while};
use crate::watch_table::WatchStats;
use crate::Store;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// A waiter sleeps at most this long before it renews its lease and looks again.
const SLICE: Duration = Duration::from_millis(500);

/// What [`Store::wait`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The key's value (`None`: missing) at `version`: the key changed
    /// since the version the caller held, or the caller held none.
    Changed {
        /// The value then.
        value: Option<Vec<u8>>,
        /// The version to wait past next.
        version: u64,
    },
    /// Nothing changed before the timeout.
    TimedOut,
}

impl Store {
    /// Blocks until `key` is written again (set, insert, incr, delete,
    /// expiry reap, eviction, flush: not `expire`), by this or any other
    /// process, or until `timeout` passes. `last_version` is the version
    /// the caller holds: 0 (none) returns the current value and version at
    /// once, and registers the watch; a version other than the key's
    /// current one returns at once too. `Duration::ZERO` polls.
    ///
    /// Only a call that goes to sleep holds a lease on its slot (renewed
    /// every 500 ms while it sleeps); a call that returns at once (a
    /// poll, a version 0, a version already stale) leaves the key's slot
    /// idle, so a process that polls many keys never keeps a sleeping
    /// waiter out of the table.
    pub fn wait(&self, key: &[u8], last_version: u64, timeout: Duration) -> Result<WaitOutcome> {
        self.check_key(key)?;
        let hash = hash_key(key);
        let stripe = self.stripe_of_hash(hash);
        let watches = self.segment.watches();
        // A timeout too long for the clock (PHP_INT_MAX ms) waits for ever.
        let deadline = Instant::now().checked_add(timeout);
        let mut first = true;
        // Whether this call sleeps: it takes the lease only then, and
        // looks at the version once more before it does.
        let mut sleeps = false;
        loop {
            let (slot, created) = {
                let table = watches
                    .lock(self.segment.lock_timeout())
                    .map_err(|reason| self.segment.table_unusable(reason))?;
                table
                    .register(hash, monotonic_ms(), sleeps)
                    .ok_or(StoreError::WatchTableFull {
                        slots: WATCH_SLOTS,
                        probe: WATCH_PROBE,
                    })?
            };
            if first || created {
                // Every writer after this sees the slot; every one before
                // has finished (see "Watches"). Again when the slot was
                // made anew: an idle one may have been reused meanwhile.
                drop(self.segment.lock_stripe(stripe)?);
                first = false;
            }
            let seen = slot.wake.load(SeqCst);
            let version = slot.version.load(SeqCst);
            if last_version == 0 || version != last_version {
                let value = self.get(key)?;
                if slot.version.load(SeqCst) == version && slot.hash.load(SeqCst) == hash {
                    return Ok(WaitOutcome::Changed { value, version });
                }
                continue; // written meanwhile: read again
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => SLICE,
            };
            if left.is_zero() {
                return Ok(WaitOutcome::TimedOut);
            }
            if !sleeps {
                // The lease first, then the version again (see "Watches").
                sleeps = true;
                continue;
            }
            wait_while(&slot.wake, seen, left.min(SLICE));
        }
    }

    /// The watch table's figures.
    pub fn watch_stats(&self) -> WatchStats {
        self.segment.watches().stats()
    }
}
