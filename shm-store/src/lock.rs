//! Advisory locks between processes, kept as ordinary keys of the store
//! (PHP session locks are the user): [`Store::lock`] and [`HeldLock`].
//!
//! A lock is a key whose value names its owner: process id, the process's
//! start time (so a reused pid is not mistaken for the owner), its pid
//! namespace, a token unique within the process and a deadline. That
//! record gives:
//! - release by the owner only: [`HeldLock`] deletes the key only if it
//!   still holds this owner's record;
//! - no expiry under a live owner: the key has no TTL in the store, so an
//!   owner that can be checked (same pid namespace: `/proc` says it runs
//!   and started when the record says) keeps its lock for as long as it
//!   runs, however long that is;
//! - no waiting on a dead owner: a waiter that finds the owner gone (no such
//!   process, a zombie, or another process with the same pid) removes the
//!   record and takes the lock at once;
//! - prompt hand-over: a release wakes the waiters of its stripe through a
//!   futex in the segment (see `layout.rs`), so a waiter does not sleep
//!   through a release; it also wakes every [`OWNER_CHECK_INTERVAL`] to
//!   check that the owner is still alive.
//!
//! An owner in another pid namespace (a container sharing the segment)
//! cannot be checked: only such a waiter uses the record's deadline
//! (`until=`, Unix ms, 0 for none, from the `foreign_ttl` given to
//! [`Store::lock`]) and takes the lock over once it has passed. A value
//! that is not an owner record (other code's lock) is waited for until it
//! is removed or expires by its own TTL.
//!
//! A lock can still be lost without its owner's doing: `flush_all`, an
//! eviction under `allkeys-lru`, a foreign waiter after the deadline. An
//! owner asks [`HeldLock::is_held`] before acting on what the lock protects.

use crate::error::Result;
use crate::process::{process_stat, this_process};
use crate::{Store, StoreError};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a waiter checks whether the owner of the lock is still alive.
pub const OWNER_CHECK_INTERVAL: Duration = Duration::from_millis(2);

/// The first word of every owner record.
const RECORD_TAG: &str = "ephpm-lock";

/// Who holds a lock, as written in the lock's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    pid: u32,
    /// Start time of the process, in clock ticks after boot (`/proc/<pid>/stat`).
    start: u64,
    /// Inode of the owner's pid namespace: pids only mean something in it.
    pid_ns: u64,
    token: u64,
    /// Unix ms after which a waiter that cannot check the owner (another
    /// pid namespace) may take the lock over; 0: never.
    until: u64,
}

impl Owner {
    fn record(&self) -> Vec<u8> {
        format!(
            "{RECORD_TAG} pid={} start={} ns={} token={} until={}",
            self.pid, self.start, self.pid_ns, self.token, self.until
        )
        .into_bytes()
    }

    /// Parses a record written by [`Owner::record`]; `None` for any other
    /// value (a lock taken by other code, such as the PHP package's handler).
    fn parse(record: &[u8]) -> Option<Owner> {
        let text = std::str::from_utf8(record).ok()?;
        let mut words = text.split(' ');
        if words.next()? != RECORD_TAG {
            return None;
        }
        let mut field = |name: &str| -> Option<u64> {
            words
                .next()?
                .strip_prefix(name)?
                .strip_prefix('=')?
                .parse()
                .ok()
        };
        let owner = Owner {
            pid: u32::try_from(field("pid")?).ok()?,
            start: field("start")?,
            pid_ns: field("ns")?,
            token: field("token")?,
            until: field("until")?,
        };
        words.next().is_none().then_some(owner)
    }
}

/// Tokens of the locks this process holds now: a record naming this
/// process with a token not in here was left behind by an earlier request
/// of this same process (which cannot be waiting for it).
static HELD_TOKENS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn held_tokens() -> std::sync::MutexGuard<'static, Vec<u64>> {
    HELD_TOKENS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the owner named by a lock's value can still release it.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Alive,
    Dead,
    /// Not our record format, another pid namespace, or no `/proc`.
    Unknown,
}

fn judge(record: &[u8]) -> Verdict {
    let (Some(owner), Some((pid, start, pid_ns))) = (Owner::parse(record), this_process()) else {
        return Verdict::Unknown;
    };
    if owner.pid_ns != pid_ns {
        return Verdict::Unknown;
    }
    if owner.pid == pid && owner.start == start {
        return if held_tokens().contains(&owner.token) {
            Verdict::Alive
        } else {
            Verdict::Dead
        };
    }
    match process_stat(owner.pid) {
        Ok(stat) if stat.running && stat.start == owner.start => Verdict::Alive,
        Ok(_) => Verdict::Dead,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Verdict::Dead,
        Err(_) => Verdict::Unknown,
    }
}

/// What [`Store::lock`] got.
#[derive(Debug)]
pub enum LockOutcome<'a> {
    /// The lock is this caller's until the [`HeldLock`] is released or expires.
    Acquired(HeldLock<'a>),
    /// The wait ended with the lock still held by someone else.
    TimedOut {
        /// The holder's pid, when the lock's value names one.
        holder_pid: Option<u32>,
    },
}

/// A lock this process holds; released (if still ours) when dropped.
#[derive(Debug)]
pub struct HeldLock<'a> {
    store: &'a Store,
    key: Vec<u8>,
    record: Vec<u8>,
    token: u64,
    /// The pid of a dead owner whose lock this one replaced.
    took_over_from: Option<u32>,
    released: bool,
}

impl HeldLock<'_> {
    /// The key the lock is held on.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The pid of a dead owner whose abandoned lock was taken over.
    pub fn took_over_from(&self) -> Option<u32> {
        self.took_over_from
    }

    /// Whether the lock's key still holds this owner's record: `false` once
    /// the lock was lost (flushed, evicted, or taken over after its
    /// deadline by a waiter that could not check this owner).
    pub fn is_held(&self) -> Result<bool> {
        let ours = self
            .store
            .get_with(&self.key, |value| value == self.record.as_slice())?;
        Ok(ours == Some(true))
    }

    /// Releases the lock; `false` if it was no longer ours (see
    /// [`HeldLock::is_held`]), in which case nothing is removed.
    pub fn release(mut self) -> Result<bool> {
        self.release_once()
    }

    fn release_once(&mut self) -> Result<bool> {
        self.released = true;
        held_tokens().retain(|t| *t != self.token);
        let removed = self.store.del_if(&self.key, &self.record);
        let wake = self
            .store
            .segment
            .lock_wake(self.store.stripe_of(&self.key));
        // Waiters register before their last try (see `Store::lock`), so
        // none can miss this: without any, a release writes nothing shared.
        if wake.waiters.load(Ordering::SeqCst) > 0 {
            wake.seq.fetch_add(1, Ordering::SeqCst);
            crate::shared_mutex::wake_all(&wake.seq);
        }
        removed
    }
}

impl Drop for HeldLock<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_once();
        }
    }
}

impl Store {
    /// Takes the advisory lock `key`, waiting up to `wait` for its holder to
    /// release it (or to die). The lock has no TTL: `foreign_ttl` is only
    /// how long a waiter that cannot check this owner (another pid
    /// namespace) waits before it takes the lock over (see the module
    /// docs); `None`: never.
    pub fn lock(
        &self,
        key: &[u8],
        wait: Duration,
        foreign_ttl: Option<Duration>,
    ) -> Result<LockOutcome<'_>> {
        static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
        let (pid, start, pid_ns) = this_process().ok_or_else(|| {
            StoreError::io(
                "cannot read this process's start time from",
                std::path::Path::new("/proc/self/stat"),
                std::io::Error::other("/proc is not available"),
            )
        })?;
        let owner = Owner {
            pid,
            start,
            pid_ns,
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            until: match foreign_ttl {
                Some(ttl) if !ttl.is_zero() => self
                    .clock
                    .now_ms()
                    .saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                _ => 0,
            },
        };
        let record = owner.record();
        let wake = self.segment.lock_wake(self.stripe_of(key));
        let deadline = Instant::now() + wait;
        let mut took_over_from = None;
        // Counted in `waiters` from the second try on: releases then bump
        // `seq`. Counting before that try means that a release either sees
        // the count or comes before the try (which then succeeds).
        let mut registered: Option<WaiterCount<'_>> = None;
        loop {
            // Read before trying: a release after a failed try changes it,
            // and the sleep below then returns at once.
            let seen = wake.seq.load(Ordering::SeqCst);
            // Registered first, so that no other thread of this process
            // judges the new record abandoned.
            held_tokens().push(owner.token);
            if self.setnx(key, &record, None)? {
                return Ok(LockOutcome::Acquired(HeldLock {
                    store: self,
                    key: key.to_vec(),
                    record,
                    token: owner.token,
                    took_over_from,
                    released: false,
                }));
            }
            held_tokens().retain(|t| *t != owner.token);
            let holder = match self.get(key)? {
                // Released (or expired) since the try: try again at once.
                None => continue,
                Some(holder) => holder,
            };
            let abandoned = match judge(&holder) {
                Verdict::Alive => false,
                Verdict::Dead => true,
                // Only the deadline tells, if the record has one.
                Verdict::Unknown => Owner::parse(&holder)
                    .is_some_and(|o| o.until != 0 && self.clock.now_ms() >= o.until),
            };
            if abandoned && self.del_if(key, &holder)? {
                took_over_from = Owner::parse(&holder).map(|o| o.pid);
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(LockOutcome::TimedOut {
                    holder_pid: Owner::parse(&holder).map(|o| o.pid),
                });
            }
            if registered.is_none() {
                registered = Some(WaiterCount::new(&wake.waiters));
                continue;
            }
            crate::shared_mutex::wait_while(
                &wake.seq,
                seen,
                (deadline - now).min(OWNER_CHECK_INTERVAL),
            );
        }
    }
}

/// One waiter counted in a stripe's `waiters` word, for as long as it lives.
struct WaiterCount<'a>(&'a AtomicU32);

impl<'a> WaiterCount<'a> {
    fn new(waiters: &'a AtomicU32) -> Self {
        waiters.fetch_add(1, Ordering::SeqCst);
        WaiterCount(waiters)
    }
}

impl Drop for WaiterCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_foreign_values_are_not_records() {
        let owner = Owner {
            pid: 42,
            start: 7,
            pid_ns: 4026531836,
            token: 9,
            until: 1_700_000_000_123,
        };
        assert_eq!(Owner::parse(&owner.record()), Some(owner));
        for foreign in [
            &b""[..],
            b"3f2a9c",
            b"ephpm-lock pid=1",
            b"ephpm-lock pid=1 start=2 ns=3 token=4",
            b"ephpm-lock pid=1 start=2 ns=3 token=4 until=5 extra",
            b"ephpm-lock pid=x start=2 ns=3 token=4 until=5",
            b"ephpm-lock start=2 pid=1 ns=3 token=4 until=5",
            b"ephpm-lock pid=1 start=2 ns=3 token=4 until=-1",
        ] {
            assert_eq!(Owner::parse(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn this_process_is_alive_only_while_it_holds_the_token() {
        let (pid, start, pid_ns) = this_process().unwrap();
        let record = |token| {
            Owner {
                pid,
                start,
                pid_ns,
                token,
                until: 0,
            }
            .record()
        };
        held_tokens().push(u64::MAX);
        assert_eq!(judge(&record(u64::MAX)), Verdict::Alive);
        held_tokens().retain(|t| *t != u64::MAX);
        assert_eq!(judge(&record(u64::MAX)), Verdict::Dead);
    }

    #[test]
    fn other_processes_are_judged_by_proc() {
        let (_, _, pid_ns) = this_process().unwrap();
        let parent = std::os::unix::process::parent_id();
        let parent_start = process_stat(parent).unwrap().start;
        let record = |pid, start, pid_ns| {
            Owner {
                pid,
                start,
                pid_ns,
                token: 1,
                until: 0,
            }
            .record()
        };
        assert_eq!(judge(&record(parent, parent_start, pid_ns)), Verdict::Alive);
        // Same pid, other start time: the pid was reused.
        assert_eq!(
            judge(&record(parent, parent_start + 1, pid_ns)),
            Verdict::Dead
        );
        // Past pid_max on any Linux: no such process.
        assert_eq!(judge(&record(u32::MAX - 1, 1, pid_ns)), Verdict::Dead);
        assert_eq!(
            judge(&record(parent, parent_start, pid_ns + 1)),
            Verdict::Unknown
        );
        assert_eq!(judge(b"a token of some other code"), Verdict::Unknown);
    }

    #[test]
    fn a_zombie_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: it stays a zombie once it exits.
        let stat = loop {
            let stat = process_stat(pid).unwrap();
            if !stat.running {
                break stat;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let (_, _, pid_ns) = this_process().unwrap();
        let record = Owner {
            pid,
            start: stat.start,
            pid_ns,
            token: 1,
            until: 0,
        }
        .record();
        assert_eq!(judge(&record), Verdict::Dead);
        child.wait().unwrap();
    }
}
