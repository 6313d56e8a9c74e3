//! Advisory locks (`Store::lock`) between processes: mutual exclusion, a
//! dead owner's lock taken over at once, release by the owner only, the
//! wait bound, and the hand-over from a release to a sleeping waiter; no
//! TTL under a live owner, a deadline for owners that cannot be checked.

mod common;

use common::{config, release, spawn_child, wait_all_ok};
use shm_store::{LockOutcome, ManualClock, Store, Ttl};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

const SIZE: u64 = 8 << 20;
const STRIPES: u32 = 4;
const DEADLINE: Duration = Duration::from_secs(60);
const LONG_WAIT: Duration = Duration::from_secs(30);

fn held(outcome: LockOutcome<'_>) -> shm_store::HeldLock<'_> {
    match outcome {
        LockOutcome::Acquired(lock) => lock,
        LockOutcome::TimedOut { holder_pid } => {
            panic!("lock not acquired (held by {holder_pid:?})")
        }
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

// ------------------------------------------------------ mutual exclusion

const EXCL_PROCS: usize = 4;
const EXCL_ROUNDS: usize = 300;

#[test]
fn lock_excludes_other_processes() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&config(tmp.path(), "excl", SIZE, STRIPES)).unwrap();
    let mut children: Vec<_> = (0..EXCL_PROCS)
        .map(|p| {
            spawn_child(
                "child_exclusive_increments",
                tmp.path(),
                "excl",
                &[("size", SIZE.to_string()), ("stripes", STRIPES.to_string())],
                tmp.path(),
                &format!("excl-{p}"),
            )
        })
        .collect();
    release(tmp.path());
    wait_all_ok(&mut children, Instant::now() + DEADLINE);
    let total = store.get(b"counter").unwrap().expect("counter written");
    assert_eq!(
        std::str::from_utf8(&total).unwrap(),
        (EXCL_PROCS * EXCL_ROUNDS).to_string(),
        "a read-modify-write under the lock was lost"
    );
    assert!(!store.exists(b"lock").unwrap(), "lock left behind");
}

#[test]
#[ignore = "child process entry point"]
fn child_exclusive_increments() {
    let Some(ctx) = common::child_context("child_exclusive_increments") else {
        return;
    };
    let store = ctx.open();
    ctx.wait_for_go();
    for _ in 0..EXCL_ROUNDS {
        let lock = held(store.lock(b"lock", LONG_WAIT, None).unwrap());
        // A second holder would find the marker.
        assert!(store.setnx(b"inside", b"1", None).unwrap(), "two holders");
        let n: u64 = store
            .get(b"counter")
            .unwrap()
            .map_or(0, |v| std::str::from_utf8(&v).unwrap().parse().unwrap());
        std::thread::yield_now();
        store
            .set(b"counter", (n + 1).to_string().as_bytes(), None)
            .unwrap();
        assert!(store.del(b"inside").unwrap());
        assert!(lock.release().unwrap(), "released a lock that was not ours");
    }
    ctx.report("done");
}

// ------------------------------------------------------------ dead owner

/// A child takes the lock and is SIGKILLed; the parent's `lock` must take
/// it over from the dead owner, whether the child is still a zombie or
/// already reaped, and long before its one-hour TTL.
#[test]
fn a_dead_owners_lock_is_taken_over() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&config(tmp.path(), "dead", SIZE, STRIPES)).unwrap();
    for reap_first in [false, true] {
        let mut child = spawn_child(
            "child_hold_lock",
            tmp.path(),
            "dead",
            &[("size", SIZE.to_string()), ("stripes", STRIPES.to_string())],
            tmp.path(),
            &format!("holder-{reap_first}"),
        );
        let started = Instant::now();
        while !store.exists(b"holding").unwrap() {
            assert!(started.elapsed() < DEADLINE, "child never took the lock");
            std::thread::sleep(Duration::from_millis(5));
        }
        store.del(b"holding").unwrap();
        let pid = child.pid() as u32;
        if reap_first {
            child.kill_and_reap();
        } else {
            // SAFETY: kill(2) on our own child, not reaped: it stays a zombie.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let waited = Instant::now();
        let lock = held(store.lock(b"lock", LONG_WAIT, None).unwrap());
        println!(
            "lock of a killed owner ({}) taken over after {:?}",
            if reap_first { "reaped" } else { "zombie" },
            waited.elapsed()
        );
        assert_eq!(lock.took_over_from(), Some(pid));
        assert!(lock.release().unwrap());
        child.kill_and_reap();
    }
}

#[test]
#[ignore = "child process entry point"]
fn child_hold_lock() {
    let Some(ctx) = common::child_context("child_hold_lock") else {
        return;
    };
    let store = ctx.open();
    // A TTL far beyond the test: only the owner check can end this lock.
    let lock = held(
        store
            .lock(b"lock", LONG_WAIT, Some(Duration::from_secs(3600)))
            .unwrap(),
    );
    store.set(b"holding", b"1", None).unwrap();
    std::thread::sleep(common::CHILD_MAX_WAIT);
    drop(lock);
}

// -------------------------------------------------- owner-only release

#[test]
fn only_the_owner_releases() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&config(tmp.path(), "owner", SIZE, STRIPES)).unwrap();
    let first = held(store.lock(b"lock", Duration::ZERO, None).unwrap());
    assert!(first.is_held().unwrap());
    // The first lock is lost (as by flush_all): a second owner gets it.
    assert!(store.del(b"lock").unwrap());
    let second = held(store.lock(b"lock", Duration::ZERO, None).unwrap());
    assert!(!first.is_held().unwrap(), "still held after it was lost");
    assert!(second.is_held().unwrap());
    assert!(!first.release().unwrap(), "released someone else's lock");
    assert!(
        store.exists(b"lock").unwrap(),
        "the second owner lost its lock"
    );
    assert!(second.release().unwrap());
    assert!(!store.exists(b"lock").unwrap());
}

// ----------------------------------------------- no TTL under a live owner

#[test]
fn a_live_owner_keeps_its_lock_past_the_foreign_ttl() {
    let tmp = TempDir::new().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let cfg = config(tmp.path(), "live", SIZE, STRIPES);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    let first = held(
        store
            .lock(b"lock", Duration::ZERO, Some(Duration::from_secs(300)))
            .unwrap(),
    );
    assert_eq!(store.ttl(b"lock").unwrap(), Ttl::Persistent);
    // An hour later the owner still runs: nobody takes its lock.
    clock.advance_ms(3_600_000);
    match store
        .lock(
            b"lock",
            Duration::from_millis(20),
            Some(Duration::from_secs(300)),
        )
        .unwrap()
    {
        LockOutcome::TimedOut { holder_pid } => {
            assert_eq!(holder_pid, Some(std::process::id()))
        }
        LockOutcome::Acquired(_) => panic!("took the lock of a live owner"),
    }
    assert!(first.is_held().unwrap());
    assert!(first.release().unwrap());
}

#[test]
fn an_owner_that_cannot_be_checked_is_taken_over_after_its_deadline() {
    let tmp = TempDir::new().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let cfg = config(tmp.path(), "foreign", SIZE, STRIPES);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    // An owner in another pid namespace (inode 1 is none of ours).
    let until = 1_700_000_000_000u64 + 1_000;
    let record = format!("ephpm-lock pid=1 start=1 ns=1 token=1 until={until}");
    store.set(b"lock", record.as_bytes(), None).unwrap();
    let wait = Duration::from_millis(20);
    assert!(
        matches!(
            store.lock(b"lock", wait, None).unwrap(),
            LockOutcome::TimedOut { .. }
        ),
        "taken before its deadline"
    );
    clock.advance_ms(1_000);
    let lock = held(store.lock(b"lock", wait, None).unwrap());
    assert_eq!(lock.took_over_from(), Some(1));
    drop(lock);
    // Without a deadline (until=0) it is waited for, never taken.
    let record = "ephpm-lock pid=1 start=1 ns=1 token=1 until=0";
    store.set(b"lock", record.as_bytes(), None).unwrap();
    clock.advance_ms(86_400_000);
    assert!(matches!(
        store.lock(b"lock", wait, None).unwrap(),
        LockOutcome::TimedOut { .. }
    ));
}

#[test]
fn dropping_a_held_lock_releases_it() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&config(tmp.path(), "drop", SIZE, STRIPES)).unwrap();
    drop(held(store.lock(b"lock", Duration::ZERO, None).unwrap()));
    assert!(!store.exists(b"lock").unwrap());
}

// ------------------------------------------------------------ wait bound

#[test]
fn wait_ends_at_its_bound_naming_the_holder() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&config(tmp.path(), "bound", SIZE, STRIPES)).unwrap();
    let holder = held(store.lock(b"lock", Duration::ZERO, None).unwrap());
    let started = Instant::now();
    let outcome = store
        .lock(b"lock", Duration::from_millis(50), None)
        .unwrap();
    let waited = started.elapsed();
    match outcome {
        LockOutcome::TimedOut { holder_pid } => {
            assert_eq!(holder_pid, Some(std::process::id()))
        }
        LockOutcome::Acquired(_) => panic!("got a lock that is held"),
    }
    assert!(
        waited >= Duration::from_millis(50),
        "gave up early: {waited:?}"
    );
    // A foreign value (not an owner record) is waited for, never taken over.
    drop(holder);
    store.set(b"lock", b"token-of-other-code", None).unwrap();
    match store
        .lock(b"lock", Duration::from_millis(20), None)
        .unwrap()
    {
        LockOutcome::TimedOut { holder_pid } => assert_eq!(holder_pid, None),
        LockOutcome::Acquired(_) => panic!("took over a lock of unknown owner"),
    };
}

// -------------------------------------------------------------- hand-over

const HANDOVER_ROUNDS: usize = 20;

/// The parent holds the lock while a child process waits for it, then
/// releases; the child reports when it got it. Both clocks are the same
/// wall clock. Reported, not asserted (timing depends on the machine).
#[test]
fn release_hands_over_to_a_sleeping_waiter() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&config(tmp.path(), "handover", SIZE, STRIPES)).unwrap();
    let mut child = spawn_child(
        "child_waiter",
        tmp.path(),
        "handover",
        &[("size", SIZE.to_string()), ("stripes", STRIPES.to_string())],
        tmp.path(),
        "waiter",
    );
    let mut released_at = Vec::new();
    for round in 0..HANDOVER_ROUNDS {
        let lock = held(store.lock(b"lock", LONG_WAIT, None).unwrap());
        store
            .set(format!("held:{round}").as_bytes(), b"1", None)
            .unwrap();
        // Long enough for the child to be asleep in the kernel.
        std::thread::sleep(Duration::from_millis(20));
        released_at.push(unix_ns());
        assert!(lock.release().unwrap());
        let started = Instant::now();
        while !store.exists(format!("got:{round}").as_bytes()).unwrap() {
            assert!(started.elapsed() < DEADLINE, "waiter never got the lock");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    wait_all_ok(std::slice::from_mut(&mut child), Instant::now() + DEADLINE);
    let mut latencies_us: Vec<u128> = child
        .reports()
        .iter()
        .filter_map(|l| l.strip_prefix("got "))
        .map(|l| {
            let (round, at) = l.split_once(' ').unwrap();
            let round: usize = round.parse().unwrap();
            let at: u128 = at.parse().unwrap();
            at.saturating_sub(released_at[round]) / 1000
        })
        .collect();
    assert_eq!(latencies_us.len(), HANDOVER_ROUNDS);
    latencies_us.sort_unstable();
    println!(
        "release -> waiter holds the lock: median {} µs, max {} µs over {HANDOVER_ROUNDS} rounds",
        latencies_us[HANDOVER_ROUNDS / 2],
        latencies_us[HANDOVER_ROUNDS - 1]
    );
}

#[test]
#[ignore = "child process entry point"]
fn child_waiter() {
    let Some(ctx) = common::child_context("child_waiter") else {
        return;
    };
    let store = ctx.open();
    for round in 0..HANDOVER_ROUNDS {
        while !store.exists(format!("held:{round}").as_bytes()).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let lock = held(store.lock(b"lock", LONG_WAIT, None).unwrap());
        ctx.report(format!("got {round} {}", unix_ns()));
        drop(lock);
        store
            .set(format!("got:{round}").as_bytes(), b"1", None)
            .unwrap();
    }
    ctx.report("done");
}

// ------------------------------------------------------------ expire_if

#[test]
fn expire_if_refreshes_only_the_expected_value() {
    let tmp = TempDir::new().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let cfg = config(tmp.path(), "expire_if", SIZE, STRIPES);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    let ttl = Duration::from_secs(10);
    assert!(
        !store.expire_if(b"lock", b"token", ttl).unwrap(),
        "missing key"
    );
    store
        .set(b"lock", b"token-a", Some(Duration::from_secs(1)))
        .unwrap();
    for other in [&b"token-b"[..], b"token-", b"token-a ", b""] {
        assert!(!store.expire_if(b"lock", other, ttl).unwrap(), "{other:?}");
    }
    assert!(!store
        .expire_if(b"lock", b"token-a", Duration::ZERO)
        .unwrap());
    assert_eq!(store.ttl(b"lock").unwrap(), Ttl::Remaining(1_000));
    assert!(store.expire_if(b"lock", b"token-a", ttl).unwrap());
    assert_eq!(store.ttl(b"lock").unwrap(), Ttl::Remaining(10_000));
    // Once expired, it is gone for expire_if too.
    clock.advance_ms(10_000);
    assert!(!store.expire_if(b"lock", b"token-a", ttl).unwrap());
    assert_eq!(store.get(b"lock").unwrap(), None);
    assert!(matches!(
        store.expire_if(b"", b"v", ttl),
        Err(shm_store::StoreError::EmptyKey)
    ));
}
