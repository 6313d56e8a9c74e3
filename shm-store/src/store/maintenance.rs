//! `Store`'s maintenance: `flush_all`, `purge_expired`, `scan`, `stats`,
//! `verify`, `repair`, and the reports they return. Uses the segment's stripes.

use crate::error::{Result, StoreError};
use crate::stripe;
use crate::{ScanEntry, Store, StripeStats};

/// Store-wide figures: the sum over the stripes (reachable directly, e.g.
/// `stats.entries`, through `Deref`) and each stripe's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The whole store's figures.
    pub total: StripeStats,
    /// Each stripe's, in order.
    pub stripes: Vec<StripeStats>,
}

impl std::ops::Deref for Stats {
    type Target = StripeStats;
    fn deref(&self) -> &StripeStats {
        &self.total
    }
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Stripes looked at.
    pub stripes_checked: usize,
    /// User entries (parts of large values not counted).
    pub entries: u64,
    /// Each problem, prefixed with its stripe; empty when consistent.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What `verify` finds in stripe `i`, each line prefixed with the stripe;
/// it repairs nothing, so the damage it notes on the way is dropped.
fn stripe_problems(i: usize, view: &stripe::StripeView<'_>) -> Vec<String> {
    let problems = view.verify();
    view.take_damage();
    problems
        .into_iter()
        .map(|p| format!("stripe {i}: {p}"))
        .collect()
}

impl Store {
    /// Empties every stripe, one at a time.
    pub fn flush_all(&self) -> Result<()> {
        for i in 0..self.segment.geometry().stripes as usize {
            self.segment.lock_stripe(i)?.view.format();
        }
        Ok(())
    }

    /// Reclaims every expired entry now, one stripe at a time, instead of
    /// lazily; returns how many entries went (parts of large values included).
    pub fn purge_expired(&self) -> Result<u64> {
        let mut purged = 0;
        for i in 0..self.segment.geometry().stripes as usize {
            let now = self.clock.now_ms();
            let mut guard = self.segment.lock_stripe(i)?;
            let before = guard.view.meta.expirations;
            guard.view.reclaim_expired(now);
            purged += guard.view.meta.expirations.wrapping_sub(before);
            guard.repair_if_damaged()?;
        }
        Ok(purged)
    }

    /// Calls `visit` with every live entry; holds one stripe lock at a time
    /// and never while `visit` runs. A damaged stripe is rebuilt and what
    /// survived is visited; the first damage is then returned as
    /// [`StoreError::Damaged`] once every stripe has been visited.
    pub fn scan(&self, mut visit: impl FnMut(&ScanEntry)) -> Result<()> {
        let mut damage = None;
        for i in 0..self.segment.geometry().stripes as usize {
            if let Err(e) = self.scan_stripe(i, &mut visit) {
                match e {
                    StoreError::Damaged { .. } => {
                        damage.get_or_insert(e);
                    }
                    e => return Err(e),
                }
            }
        }
        damage.map_or(Ok(()), Err)
    }

    /// As [`Store::scan`], for stripe `i` only (`0..geometry().stripes`):
    /// a cursor over the store can visit it stripe by stripe. A damaged
    /// stripe is rebuilt, what survived is visited, then the damage is
    /// returned.
    pub fn scan_stripe(&self, i: usize, mut visit: impl FnMut(&ScanEntry)) -> Result<()> {
        if i >= self.segment.geometry().stripes as usize {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let mut guard = self.segment.lock_stripe(i)?;
        let mut entries = guard.view.scan(now);
        let damage = guard.repair_if_damaged().err();
        if damage.is_some() {
            entries = guard.view.scan(now);
        }
        drop(guard);
        entries.iter().for_each(&mut visit);
        damage.map_or(Ok(()), Err)
    }

    /// The store's figures; this handle's own reads are flushed first, so
    /// they are included (other processes' at their next request end).
    pub fn stats(&self) -> Result<Stats> {
        use std::sync::atomic::Ordering::Relaxed;
        self.flush_stats();
        let mut stats = Stats::default();
        for i in 0..self.segment.geometry().stripes as usize {
            let s = self.segment.lock_stripe(i)?.view.stats();
            stats.total.add(&s);
            stats.stripes.push(s);
        }
        let counters = self.segment.counters();
        stats.total.hits = counters.hits.load(Relaxed);
        stats.total.misses = counters.misses.load(Relaxed);
        Ok(stats)
    }

    /// Checks every invariant of every stripe, one stripe lock at a time,
    /// changing nothing. A stripe whose lock is unusable is reported as a
    /// problem and the others are still checked.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        for i in 0..self.segment.geometry().stripes as usize {
            report.stripes_checked += 1;
            let guard = match self.segment.lock_stripe(i) {
                Ok(guard) => guard,
                Err(e @ StoreError::LockUnusable { .. }) => {
                    report.problems.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.entries += guard.view.user_entries() as u64;
            report.problems.extend(stripe_problems(i, &guard.view));
        }
        Ok(report)
    }

    /// Checks every stripe like [`Store::verify`] and repairs what it can:
    /// a stripe with problems is rebuilt from its heap (what the next
    /// locker does after a holder died), and a lock that is unusable is
    /// re-initialised first when no live thread holds it.
    ///
    /// Meant for an operator (`ephpm-shm verify --repair`) when no process is
    /// stuck inside the store: a lock is taken over only after it could not
    /// be obtained for the lock timeout and its holder, as recorded in the
    /// lock, is not alive ([`StoreError::LockHeld`] otherwise).
    pub fn repair(&self) -> Result<RepairReport> {
        let mut report = RepairReport::default();
        for i in 0..self.segment.geometry().stripes as usize {
            let (mut guard, taken_over) = self.segment.take_over_stripe(i)?;
            let problems = guard.view.verify();
            guard.view.take_damage();
            if let Some(reason) = &taken_over {
                report.repaired.push(format!(
                    "stripe {i}: lock was unusable ({reason}): re-initialised"
                ));
            }
            if taken_over.is_some() || !problems.is_empty() {
                guard.view.rebuild();
                if !problems.is_empty() {
                    report.repaired.push(format!(
                        "stripe {i}: {} problem(s) (first: {}): rebuilt",
                        problems.len(),
                        problems[0]
                    ));
                }
                report.remaining.extend(stripe_problems(i, &guard.view));
            }
            report.entries += guard.view.user_entries() as u64;
            report.stripes_checked += 1;
        }
        if let Some(reason) = self.segment.take_over_watch_table()? {
            report.repaired.push(format!(
                "watch table: lock was unusable ({reason}): re-initialised"
            ));
        }
        // Parts of large values that no manifest names any more (left by a
        // process killed while it replaced or deleted one).
        let orphans = self.remove_orphan_parts()?;
        if orphans > 0 {
            report.repaired.push(format!(
                "{orphans} part(s) of large values that no key named any more: removed"
            ));
        }
        Ok(report)
    }
}

/// What [`Store::repair`] did.
#[derive(Debug, Clone, Default)]
pub struct RepairReport {
    /// Stripes looked at.
    pub stripes_checked: usize,
    /// Entries after the repair.
    pub entries: u64,
    /// One line per repair, prefixed with its stripe.
    pub repaired: Vec<String>,
    /// Problems left after the repair (none expected).
    pub remaining: Vec<String>,
}
