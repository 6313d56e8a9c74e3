//! The watch table in the segment's header page: slots of watched keys,
//! their versions and leases, the writer's side (`bump`, run by the stripe
//! guard) and the table's lock. Uses layout and shared_mutex only: the
//! segment hands it the words it needs (see [`WatchCounts`]).

use crate::layout::{stripe_of_hash, watch_home, WatchSlot, WATCH_PROBE, WATCH_SLOTS};
use crate::shared_mutex::{monotonic_ms, wake_all, Acquired, Held, RobustMutex};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

/// How long a lease lasts past its renewal: four slices, so a live waiter
/// that is slow to be scheduled keeps it.
const LEASE_MS: u64 = 2_000;
/// How long a slot is kept once its lease has lapsed (a loop of waits that
/// returns to PHP between two calls keeps its version meanwhile).
const IDLE_KEEP_MS: u64 = 30_000;

/// What [`Store::watch_stats`](crate::Store::watch_stats) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchStats {
    /// Slots of the watch table.
    pub slots: usize,
    /// The slots one key may use: this many from its home slot on.
    pub probe: usize,
    /// Slots holding a key.
    pub in_use: usize,
    /// Of those, slots with a waiter's live lease.
    pub waiting: usize,
}

/// The watch table of one segment.
pub(crate) struct Watches<'a> {
    pub slots: &'a [WatchSlot],
    pub next_version: &'a AtomicU64,
    pub mutex: RobustMutex,
    /// The segment's stripe count.
    pub stripes: u32,
    /// Each stripe's count of watched keys.
    pub counts: &'a dyn WatchCounts,
}

/// Where the table finds each stripe's count of watched keys (a word of
/// the stripe header, `ChangeSeq::watched`): the segment provides it.
pub(crate) trait WatchCounts {
    /// Stripe `stripe`'s count of keys in the table.
    fn watched(&self, stripe: usize) -> &AtomicU32;
}

/// The futex words a writer wakes once it has unlocked its stripe.
#[derive(Default)]
pub(crate) struct Wakes<'a>(Vec<&'a AtomicU32>);

impl Wakes<'_> {
    pub(crate) fn wake(self) {
        for word in self.0 {
            wake_all(word);
        }
    }
}

impl<'a> Watches<'a> {
    fn window(&self, hash: u64) -> impl Iterator<Item = &'a WatchSlot> + 'a {
        let slots = self.slots;
        let home = watch_home(hash);
        (0..WATCH_PROBE).map(move |k| &slots[(home + k) & (WATCH_SLOTS - 1)])
    }

    fn stripe_of(&self, hash: u64) -> usize {
        stripe_of_hash(hash, self.stripes)
    }

    fn watched(&self, stripe: usize) -> &'a AtomicU32 {
        self.counts.watched(stripe)
    }

    fn fresh_version(&self) -> u64 {
        self.next_version.fetch_add(1, SeqCst) + 1
    }

    /// The writer's side, run by the holder of stripe `stripe`'s lock
    /// before it unlocks: bumps the version of every watched key among
    /// `changed` (`None`: every key of the stripe) and returns the futex
    /// words to wake after unlocking.
    pub(crate) fn bump(&self, stripe: usize, changed: Option<&[u64]>) -> Wakes<'a> {
        let mut wakes = Wakes::default();
        // The clock is read only once a watched key was written.
        let mut now = None;
        let mut idle = false;
        let mut visit = |slot: &'a WatchSlot| {
            slot.version.fetch_max(self.fresh_version(), SeqCst);
            slot.wake.fetch_add(1, SeqCst);
            let lease = slot.lease_until.load(SeqCst);
            let now = *now.get_or_insert_with(monotonic_ms);
            if lease >= now {
                wakes.0.push(&slot.wake);
            }
            idle |= lease.saturating_add(IDLE_KEEP_MS) < now;
        };
        match changed {
            Some(hashes) => {
                for &hash in hashes {
                    self.window(hash)
                        .filter(|s| s.hash.load(SeqCst) == hash)
                        .for_each(&mut visit);
                }
            }
            None => self
                .slots
                .iter()
                .filter(|s| {
                    let h = s.hash.load(SeqCst);
                    h != 0 && self.stripe_of(h) == stripe
                })
                .for_each(&mut visit),
        }
        if idle {
            // Only if the table lock is free right now: never wait for it
            // under a stripe lock.
            if let Ok(table) = self.lock(Duration::ZERO) {
                table.free_idle(monotonic_ms());
            }
        }
        wakes
    }

    pub(crate) fn lock(
        &self,
        timeout: Duration,
    ) -> std::result::Result<TableGuard<'_, 'a>, String> {
        let (held, acquired) = self.mutex.hold(timeout).map_err(|e| e.to_string())?;
        let guard = TableGuard {
            watches: self,
            _held: held,
        };
        if acquired == Acquired::OwnerDied {
            guard.recount();
        }
        Ok(guard)
    }

    pub(crate) fn stats(&self) -> WatchStats {
        let now = monotonic_ms();
        let in_use = self.slots.iter().filter(|s| s.hash.load(SeqCst) != 0);
        let (mut used, mut waiting) = (0, 0);
        for slot in in_use {
            used += 1;
            waiting += (slot.lease_until.load(SeqCst) >= now) as usize;
        }
        WatchStats {
            slots: WATCH_SLOTS,
            probe: WATCH_PROBE,
            in_use: used,
            waiting,
        }
    }
}

/// The watch table's lock, held.
pub(crate) struct TableGuard<'g, 'a> {
    watches: &'g Watches<'a>,
    /// Unlocks the table when the guard goes.
    _held: Held,
}

impl<'a> TableGuard<'_, 'a> {
    /// After a holder died: every stripe's `watched` from the slots.
    pub(crate) fn recount(&self) {
        let w = self.watches;
        let mut counts = vec![0u32; w.stripes as usize];
        for slot in w.slots {
            let h = slot.hash.load(SeqCst);
            if h != 0 {
                counts[w.stripe_of(h)] += 1;
            }
        }
        for (i, n) in counts.into_iter().enumerate() {
            w.watched(i).store(n, SeqCst);
        }
    }

    fn free(&self, slot: &WatchSlot) {
        let h = slot.hash.swap(0, SeqCst);
        if h != 0 {
            let watched = self.watches.watched(self.watches.stripe_of(h));
            let _ = watched.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        }
    }

    fn free_idle(&self, now: u64) {
        for slot in self.watches.slots {
            if slot.hash.load(SeqCst) != 0
                && slot.lease_until.load(SeqCst).saturating_add(IDLE_KEEP_MS) < now
            {
                self.free(slot);
            }
        }
    }

    /// The slot of `hash`, created if missing (then `true` with it), its
    /// lease extended to [`LEASE_MS`] from `now` for a waiter about to
    /// sleep (`lease`); without `lease` (a call that returns at once) the
    /// slot only records when it was last used: `now - 1`, a lease already
    /// lapsed, so that writers issue no wake-up for it, it counts as idle
    /// and, the table short of room, it is reused (the least recently used
    /// first) like the slot of a waiter that left. `None` when the key's
    /// window is full of live leases.
    pub(crate) fn register(
        &self,
        hash: u64,
        now: u64,
        lease: bool,
    ) -> Option<(&'a WatchSlot, bool)> {
        let w = self.watches;
        let lease_until = match lease {
            true => now + LEASE_MS,
            false => now.saturating_sub(1),
        };
        let mut free = None;
        let mut lapsed: Option<&WatchSlot> = None;
        for slot in w.window(hash) {
            match slot.hash.load(SeqCst) {
                h if h == hash => {
                    slot.lease_until.fetch_max(lease_until, SeqCst);
                    return Some((slot, false));
                }
                0 => free = free.or(Some(slot)),
                _ => {
                    let lease = slot.lease_until.load(SeqCst);
                    if lease < now && lapsed.is_none_or(|l| lease < l.lease_until.load(SeqCst)) {
                        lapsed = Some(slot);
                    }
                }
            }
        }
        let slot = match (free, lapsed) {
            (Some(slot), _) => slot,
            (None, Some(slot)) => {
                self.free(slot);
                slot
            }
            (None, None) => return None,
        };
        // Counted before the hash is published, so a crash can only leave
        // the count too high (see "Watches").
        w.watched(w.stripe_of(hash)).fetch_add(1, SeqCst);
        slot.version.fetch_max(w.fresh_version(), SeqCst);
        slot.lease_until.store(lease_until, SeqCst);
        slot.hash.store(hash, SeqCst);
        Some((slot, true))
    }
}
