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

/// The watch table's home slot of `key` (layout.rs: the key's xxh3, 0
/// read as 1, from bit 20 up).
fn watch_home(key: &[u8], slots: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(key).max(1) >> 20) as usize & (slots - 1)
}

/// `n` keys whose watch home is slot `home`, named `<prefix><number>`.
fn keys_homed_at(prefix: &str, home: usize, slots: usize, n: usize) -> Vec<Vec<u8>> {
    (0..)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .filter(|k| watch_home(k, slots) == home)
        .take(n)
        .collect()
}

/// Waits (up to a minute, as a bound on a stuck test, not a measurement)
/// until `waiting` keys have a sleeping waiter, or one of `threads` ended.
fn until_waiting<T>(store: &Store, waiting: usize, threads: &[std::thread::JoinHandle<T>]) {
    let started = Instant::now();
    while store.watch_stats().waiting < waiting {
        assert!(
            !threads.iter().any(|t| t.is_finished()),
            "a waiter returned early: {:?}",
            store.watch_stats()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            store.watch_stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A thread with a small stack (hundreds of them run at once).
fn spawn_small<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(f)
        .unwrap()
}

#[test]
fn the_table_is_bounded_and_says_so_and_versions_survive_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let stats = store.watch_stats();
    assert_eq!((stats.slots, stats.probe), (4096, 64), "{stats:?}");
    // One more key than a window holds, all with the same home slot, and
    // one polled before the others wait: its slot is idle.
    let keys = keys_homed_at("same", 7, stats.slots, stats.probe + 2);
    let (first, keys) = keys.split_first().unwrap();
    let (_, first_version) = snapshot(&store, first);
    let waiters: Vec<_> = keys[..stats.probe]
        .iter()
        .map(|k| {
            let (s, k) = (store.clone(), k.clone());
            let (_, v) = snapshot(&s, &k);
            spawn_small(move || s.wait(&k, v, Duration::from_secs(120)).unwrap())
        })
        .collect();
    until_waiting(&store, stats.probe, &waiters);
    // Every slot of the window has a sleeping waiter: the idle slot of
    // `first` went to one of them. The next key of that home is refused,
    // by a poll as by a waiter, and says why.
    let refused = &keys[stats.probe];
    for timeout in [Duration::ZERO, Duration::from_secs(10)] {
        match store.wait(refused, 0, timeout) {
            Err(e @ StoreError::WatchTableFull { .. }) => {
                let message = e.to_string();
                assert!(message.contains("watch table is full"), "{message}");
                assert!(message.contains("the 64 slots"), "{message}");
            }
            other => panic!("a full window gave {other:?}"),
        }
    }
    // Keys of other homes are not affected.
    snapshot(&store, b"elsewhere");
    for k in &keys[..stats.probe] {
        store.set(k, b"woken", None).unwrap();
    }
    for w in waiters {
        assert!(matches!(
            w.join().unwrap(),
            WaitOutcome::Changed { value: Some(v), .. } if v == b"woken"
        ));
    }
    // Once the leases lapse the slots are taken by new keys.
    std::thread::sleep(Duration::from_millis(2100));
    snapshot(&store, refused);
    // A key whose slot was reused gets a version above every earlier one.
    match store.wait(first, first_version, Duration::ZERO).unwrap() {
        WaitOutcome::Changed { version, .. } => assert!(version > first_version),
        WaitOutcome::TimedOut => panic!("the slot of {first:?} was not reused"),
    }
    let (_, now) = snapshot(&store, first);
    store.set(first, b"x", None).unwrap();
    let (_, after) = snapshot(&store, first);
    assert!(after > now);
}

#[test]
fn polling_600_keys_takes_no_lease_and_another_handle_waits_on_50_more() {
    let dir = tempfile::tempdir().unwrap();
    let poller = open(dir.path());
    let key = |i: usize| format!("polled{i}").into_bytes();
    // As a page polling 600 keys every 0.5 s: a version-0 call for each,
    // then polls with the versions, round after round.
    let versions: Vec<u64> = (0..600).map(|i| snapshot(&poller, &key(i)).1).collect();
    for _ in 0..3 {
        for (i, &v) in versions.iter().enumerate() {
            assert!(polls_unchanged(&poller, &key(i), v), "key {i}");
        }
    }
    let stats = poller.watch_stats();
    assert_eq!((stats.in_use, stats.waiting), (600, 0), "{stats:?}");
    // The polls keep their versions: a write is seen by the next poll.
    poller.set(&key(5), b"new", None).unwrap();
    assert!(matches!(
        poller.wait(&key(5), versions[5], Duration::ZERO).unwrap(),
        WaitOutcome::Changed { value: Some(v), version } if v == b"new" && version > versions[5]
    ));
    // Another handle (as another process would) puts 50 waiters to sleep
    // on keys of their own meanwhile: every one gets a slot and is woken.
    let other = Arc::new(open(dir.path()));
    let waiters: Vec<_> = (0..50)
        .map(|i| {
            let s = other.clone();
            let k = format!("waited{i}").into_bytes();
            let (_, v) = snapshot(&s, &k);
            spawn_small(move || s.wait(&k, v, Duration::from_secs(120)).unwrap())
        })
        .collect();
    until_waiting(&other, 50, &waiters);
    for (i, &v) in versions.iter().enumerate().filter(|&(i, _)| i != 5) {
        assert!(polls_unchanged(&poller, &key(i), v), "key {i}");
    }
    assert_eq!(poller.watch_stats().waiting, 50);
    for i in 0..50 {
        poller
            .set(format!("waited{i}").as_bytes(), b"go", None)
            .unwrap();
    }
    for w in waiters {
        assert!(matches!(
            w.join().unwrap(),
            WaitOutcome::Changed { value: Some(v), .. } if v == b"go"
        ));
    }
}

#[test]
fn five_hundred_waiters_on_distinct_keys_all_get_a_slot_and_are_woken() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let waiters: Vec<_> = (0..500)
        .map(|i| {
            let s = store.clone();
            spawn_small(move || {
                let k = format!("worker{i}").into_bytes();
                let (_, v) = snapshot(&s, &k);
                s.wait(&k, v, Duration::from_secs(120))
            })
        })
        .collect();
    until_waiting(&store, 500, &waiters);
    for i in 0..500 {
        store
            .set(
                format!("worker{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                None,
            )
            .unwrap();
    }
    for (i, w) in waiters.into_iter().enumerate() {
        match w.join().unwrap() {
            Ok(WaitOutcome::Changed { value: Some(v), .. }) => {
                assert_eq!(v, format!("v{i}").into_bytes())
            }
            other => panic!("waiter {i}: {other:?}"),
        }
    }
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
    assert_eq!((stats.slots, stats.in_use, stats.waiting), (4096, 0, 0));
    // A call that returns at once keeps the key's version but no lease.
    snapshot(&store, b"a");
    let stats = store.watch_stats();
    assert_eq!((stats.in_use, stats.waiting), (1, 0));
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
