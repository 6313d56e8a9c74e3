//! `Store::wait`: versions, what bumps them, wake-ups across threads and
//! processes, a bounded table, and waiters that die.

mod common;

use common::{config, spawn_child, ChildProc};
use shm_store::{ManualClock, Store, StoreConfig, StoreError, WaitOutcome};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZE: u64 = 4 << 20;

fn open(dir: &std::path::Path) -> Store {
    Store::open(&config(dir, "w", SIZE, 2)).unwrap()
}

/// The version `wait(key, 0, 0)` reports (and the value with it).
fn snapshot(store: &Store, key: &[u8]) -> (Option<Vec<u8>>, u64) {
    match store.wait(key, 0, Duration::ZERO).unwrap() {
        WaitOutcome::Changed { value, version } => (value, version),
        WaitOutcome::TimedOut => panic!("a wait with version 0 returned no snapshot"),
    }
}

fn polls_unchanged(store: &Store, key: &[u8], version: u64) -> bool {
    store.wait(key, version, Duration::ZERO).unwrap() == WaitOutcome::TimedOut
}

#[test]
fn version_zero_returns_the_value_and_a_version_and_a_poll_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (value, v0) = snapshot(&store, b"k");
    assert_eq!(value, None);
    assert!(v0 > 0);
    assert!(polls_unchanged(&store, b"k", v0));
    store.set(b"k", b"one", None).unwrap();
    let (value, v1) = snapshot(&store, b"k");
    assert_eq!(value.as_deref(), Some(&b"one"[..]));
    assert!(v1 > v0);
    // The version held is stale: the change is returned at once.
    assert_eq!(
        store.wait(b"k", v0, Duration::from_secs(30)).unwrap(),
        WaitOutcome::Changed {
            value: Some(b"one".to_vec()),
            version: v1
        }
    );
    let started = Instant::now();
    assert_eq!(
        store.wait(b"k", v1, Duration::from_millis(200)).unwrap(),
        WaitOutcome::TimedOut
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A timeout too long for the clock is a wait without end, not a panic:
    // a write ends it.
    let s = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| store.wait(b"k", v1, Duration::from_millis(u64::MAX)));
        std::thread::sleep(Duration::from_millis(100));
        store.set(b"k", b"two", None).unwrap();
        waiter.join().unwrap().unwrap()
    });
    assert!(matches!(s, WaitOutcome::Changed { value: Some(v), .. } if v == b"two"));
    // Keys are checked like everywhere else.
    assert!(matches!(
        store.wait(b"", 0, Duration::ZERO),
        Err(StoreError::EmptyKey)
    ));
}

/// Runs `op`, then checks whether the version of `k` moved (and never back).
fn step(store: &Store, v: &mut u64, what: &str, bumps: bool, op: &dyn Fn()) {
    op();
    let (_, now) = snapshot(store, b"k");
    assert_eq!(now != *v, bumps, "{what}: version {v} -> {now}");
    assert!(now >= *v, "{what}: the version went back");
    *v = now;
}

#[test]
fn each_write_bumps_the_version_and_expire_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let store =
        Store::open_with_clock(&config(dir.path(), "w", SIZE, 1), Arc::new(clock.clone())).unwrap();
    let (_, mut v) = snapshot(&store, b"k");
    step(&store, &mut v, "set", true, &|| {
        store.set(b"k", b"1", None).unwrap()
    });
    step(&store, &mut v, "setnx of a present key", false, &|| {
        assert!(!store.setnx(b"k", b"2", None).unwrap())
    });
    step(&store, &mut v, "incr", true, &|| {
        assert_eq!(store.incr_by(b"k", 1).unwrap(), 2)
    });
    step(&store, &mut v, "incr in place", true, &|| {
        assert_eq!(store.incr_by(b"k", 1).unwrap(), 3)
    });
    step(&store, &mut v, "expire", false, &|| {
        assert!(store.expire(b"k", Duration::from_secs(10)).unwrap())
    });
    step(&store, &mut v, "a write to another key", false, &|| {
        store.set(b"other", b"x", None).unwrap()
    });
    step(&store, &mut v, "del", true, &|| {
        assert!(store.del(b"k").unwrap())
    });
    step(&store, &mut v, "del of a missing key", false, &|| {
        assert!(!store.del(b"k").unwrap())
    });
    step(&store, &mut v, "setnx insert", true, &|| {
        assert!(store
            .setnx(b"k", b"n", Some(Duration::from_secs(5)))
            .unwrap())
    });
    // The expiry passing is seen when the entry is reaped: here by the
    // snapshot's own read, which then reports it missing.
    step(&store, &mut v, "an expiry reaped", true, &|| {
        clock.advance_ms(6000)
    });
    assert_eq!(snapshot(&store, b"k").0, None);
    step(&store, &mut v, "set", true, &|| {
        store.set(b"k", b"x", None).unwrap()
    });
    step(&store, &mut v, "flush_all", true, &|| {
        store.flush_all().unwrap()
    });
}

#[test]
fn a_waiter_wakes_on_a_write_and_not_on_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    // One stripe: the other key shares the waiter's stripe.
    let store = Arc::new(Store::open(&config(dir.path(), "w", SIZE, 1)).unwrap());
    let (_, v) = snapshot(&store, b"k");
    let s = store.clone();
    let waiter = std::thread::spawn(move || s.wait(b"k", v, Duration::from_secs(30)).unwrap());
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        store.set(b"neighbour", b"noise", None).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!waiter.is_finished(), "woken by a write to another key");
    store.set(b"k", b"news", None).unwrap();
    match waiter.join().unwrap() {
        WaitOutcome::Changed { value, version } => {
            assert_eq!(value.as_deref(), Some(&b"news"[..]));
            assert!(version > v);
        }
        WaitOutcome::TimedOut => panic!("the write did not wake the waiter"),
    }
}

#[test]
fn a_hundred_waiters_all_wake_on_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let (_, v) = snapshot(&store, b"fan");
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let s = store.clone();
            std::thread::spawn(move || s.wait(b"fan", v, Duration::from_secs(30)).unwrap())
        })
        .collect();
    // Give them time to fall asleep (a waiter that has not, sees the new
    // version at once: the same outcome).
    std::thread::sleep(Duration::from_millis(200));
    store.set(b"fan", b"out", None).unwrap();
    for w in waiters {
        assert!(matches!(
            w.join().unwrap(),
            WaitOutcome::Changed { value: Some(v), .. } if v == b"out"
        ));
    }
}

#[test]
fn the_table_is_bounded_and_says_so_and_versions_survive_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (_, first) = snapshot(&store, b"first");
    let mut full = None;
    for i in 0..2000 {
        match store.wait(format!("key{i}").as_bytes(), 0, Duration::ZERO) {
            Ok(_) => {}
            Err(e @ StoreError::WatchTableFull { .. }) => {
                full = Some((i, e.to_string()));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (at, message) = full.expect("2000 keys were all watched at once");
    assert!(at <= 512, "more keys than slots: {at}");
    assert!(message.contains("watch table is full"), "{message}");
    let stats = store.watch_stats();
    assert_eq!(stats.slots, 512);
    assert!(stats.in_use >= at && stats.waiting >= at, "{stats:?}");
    // Once the leases lapse the slots are taken by new keys; a key whose
    // slot was reused gets a version above every earlier one.
    std::thread::sleep(Duration::from_millis(2100));
    let refused = format!("key{at}");
    store
        .wait(refused.as_bytes(), 0, Duration::ZERO)
        .expect("lapsed slots are reused");
    for i in 5000..5000 + at {
        match store.wait(format!("key{i}").as_bytes(), 0, Duration::ZERO) {
            Ok(_) => {}
            // The new keys' own live leases fill windows again.
            Err(StoreError::WatchTableFull { .. }) => break,
            Err(e) => panic!("key{i}: {e}"),
        }
    }
    match store.wait(b"first", first, Duration::ZERO).unwrap() {
        WaitOutcome::TimedOut => {} // its slot survived: nothing changed
        WaitOutcome::Changed { version, .. } => assert!(version > first),
    }
    let (_, now) = snapshot(&store, b"first");
    assert!(now >= first);
    store.set(b"first", b"x", None).unwrap();
    let (_, after) = snapshot(&store, b"first");
    assert!(after > now);
}

#[test]
fn versions_keep_rising_across_handles_and_processes_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let (_, v1) = snapshot(&open(dir.path()), b"k");
    // A new handle (as a restarted process would open) on the same store.
    let store = open(dir.path());
    store.set(b"k", b"v", None).unwrap();
    let (_, v2) = snapshot(&store, b"k");
    assert!(v2 > v1);
}

fn waiter_child(dir: &std::path::Path, version: u64, tag: &str) -> ChildProc {
    spawn_child(
        "child_waiter",
        dir,
        "w",
        &[
            ("size", SIZE.to_string()),
            ("stripes", "2".into()),
            ("version", version.to_string()),
        ],
        dir,
        tag,
    )
}

fn wait_for_file(path: &std::path::Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "no {path:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_waiter_in_another_process_is_woken_and_a_killed_one_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (_, v) = snapshot(&store, b"k");

    // Woken across processes.
    let mut child = waiter_child(dir.path(), v, "waiter");
    wait_for_file(&dir.path().join(format!("ready-{}", child.pid())));
    std::thread::sleep(Duration::from_millis(100));
    store.set(b"k", b"from the parent", None).unwrap();
    let status = child.wait_until(Instant::now() + Duration::from_secs(30));
    child.assert_success(status);
    let reports = child.reports();
    assert!(
        reports.iter().any(|r| r == "changed from the parent"),
        "{reports:?}"
    );

    // Killed while asleep: its lease lapses, writers stop waking it, and
    // the next waiter and writer are not held up.
    let (_, v) = snapshot(&store, b"k");
    let mut doomed = waiter_child(dir.path(), v, "doomed");
    wait_for_file(&dir.path().join(format!("ready-{}", doomed.pid())));
    std::thread::sleep(Duration::from_millis(100));
    doomed.kill_and_reap();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(store.watch_stats().waiting, 0, "{:?}", store.watch_stats());
    store.set(b"k", b"after", None).unwrap();
    let (value, v2) = snapshot(&store, b"k");
    assert_eq!(value.as_deref(), Some(&b"after"[..]));
    assert!(v2 > v);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
#[ignore = "child process of the watch tests"]
fn child_waiter() {
    let Some(ctx) = common::child_context("child_waiter") else {
        return;
    };
    let store = ctx.open();
    let version: u64 = ctx.param("version");
    std::fs::File::create(ctx.dir.join(format!("ready-{}", std::process::id()))).unwrap();
    match store.wait(b"k", version, Duration::from_secs(60)).unwrap() {
        WaitOutcome::Changed { value, .. } => ctx.report(format!(
            "changed {}",
            String::from_utf8_lossy(&value.unwrap_or_default())
        )),
        WaitOutcome::TimedOut => ctx.report("timed out"),
    }
    ctx.report("done");
}

#[test]
fn a_configured_store_reports_its_watch_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::new("t").dir(dir.path()).size(SIZE)).unwrap();
    let stats = store.watch_stats();
    assert_eq!((stats.slots, stats.in_use, stats.waiting), (512, 0, 0));
    snapshot(&store, b"a");
    let stats = store.watch_stats();
    assert_eq!((stats.in_use, stats.waiting), (1, 1));
}

#[test]
fn a_garbled_watch_table_lock_is_refused_then_repaired() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (_, v) = snapshot(&store, b"k");
    // The table's mutex is at byte 1024 of the header page; its kind word
    // 16 bytes in (layout.rs).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(store.path())
        .unwrap();
    file.write_all_at(&[0xA5; 8], 1024 + 16).unwrap();
    let e = store.wait(b"k", v, Duration::ZERO).unwrap_err();
    assert!(matches!(e, StoreError::WatchLockUnusable { .. }), "{e}");
    assert!(e.to_string().contains("verify --repair"), "{e}");
    // Writes do not need the table's lock: they go on.
    store.set(b"k", b"v", None).unwrap();
    let report = store.repair().unwrap();
    assert!(
        report
            .repaired
            .iter()
            .any(|r| r.starts_with("watch table:")),
        "{:?}",
        report.repaired
    );
    // The write above is seen: the slot kept its key and got a new version.
    match store.wait(b"k", v, Duration::ZERO).unwrap() {
        WaitOutcome::Changed { value, version } => {
            assert_eq!(value.as_deref(), Some(&b"v"[..]));
            assert!(version > v);
        }
        WaitOutcome::TimedOut => panic!("the write was missed"),
    }
}
