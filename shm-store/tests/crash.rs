//! Crash safety: worker processes hammer the store while the parent
//! SIGKILLs them at random moments, hundreds of times. Long-lived observer
//! processes keep using every stripe and must never block for more than a
//! second; afterwards the store is consistent, every value is intact, and
//! stripes whose lock holder died were rebuilt (`recoveries > 0`).

mod common;

use common::{
    check_big_value, check_value, config, make_big_value, make_value, spawn_child, ChildCtx,
    ChildProc, Rng,
};
use shm_store::{Clock, ManualClock, Store, WaitOutcome, LARGE_VALUE_PENDING};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const SIZE: u64 = 4 << 20;
const STRIPES: u32 = 4;
/// Hammer processes kept running at all times.
const HAMMERS: usize = 4;
const OBSERVERS: usize = 2;
/// Kills before the kill phase may end (`SHM_TEST_CRASH_KILLS` overrides it,
/// for longer soak runs)...
const MIN_KILLS: usize = 1000;
/// ...and the most it may take, beyond that, to see a recovery.
const MAX_KILLS: usize = 3000;
/// Value keys: 600 values of 100 B..16 KiB (8 KiB on average) do not fit in
/// the ~3.9 MB of heap, so writes evict now and then.
const VAL_KEYS: u64 = 600;
const NX_KEYS: u64 = 64;
const COUNTER_KEYS: u64 = 16;
/// Large values (in parts): 70 to 400 KiB.
const BIG_KEYS: u64 = 8;
const OBS_KEYS: u64 = 32;
/// The spec: no operation blocks longer than this, even across deaths.
const MAX_STALL: Duration = Duration::from_secs(1);
/// Safety net for the whole test (it takes a fraction of this), plus 10 ms
/// per kill asked for.
const DEADLINE: Duration = Duration::from_secs(120);
/// Safety net: longest time without any hammer at work on the store.
const NO_PROGRESS: Duration = Duration::from_secs(60);

fn params() -> Vec<(&'static str, String)> {
    vec![("size", SIZE.to_string()), ("stripes", STRIPES.to_string())]
}

fn ready_file(dir: &Path, pid: i32) -> std::path::PathBuf {
    dir.join(format!("ready.{pid}"))
}

fn spawn_hammer(dir: &Path, n: usize) -> ChildProc {
    spawn_child(
        "child_hammer",
        dir,
        "crash",
        &params(),
        dir,
        &format!("hammer-{n}"),
    )
}

/// Checks what a key holds, by its namespace.
fn check_entry(key: &[u8], value: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(key);
    if key.starts_with(b"v:") || key.starts_with(b"n:") || key.starts_with(b"o:") {
        check_value(key, value)
    } else if key.starts_with(b"b:") {
        check_big_value(key, value)
    } else if key.starts_with(b"c:") || key.starts_with(b"oc:") {
        std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(|_| ())
            .ok_or_else(|| format!("counter holds {:?}", String::from_utf8_lossy(value)))
    } else {
        Err(format!("unexpected key {text:?}"))
    }
    .map_err(|e| format!("key {text:?}: {e}"))
}

#[test]
fn sigkill_storm_leaves_a_consistent_store_and_never_blocks_observers() {
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let cfg = config(dir, "crash", SIZE, STRIPES);
    let store = Store::open(&cfg).unwrap();
    assert!(store.created());

    let mut observers: Vec<ChildProc> = (0..OBSERVERS)
        .map(|i| {
            let mut p = params();
            p.push(("observer", i.to_string()));
            spawn_child(
                "child_observer",
                dir,
                "crash",
                &p,
                dir,
                &format!("observer-{i}"),
            )
        })
        .collect();
    let mut spawned = 0usize;
    let mut hammers: Vec<ChildProc> = (0..HAMMERS)
        .map(|_| {
            spawned += 1;
            spawn_hammer(dir, spawned)
        })
        .collect();

    // ---- kill phase
    let mut rng = Rng::from_entropy();
    let min_kills: usize = std::env::var("SHM_TEST_CRASH_KILLS")
        .ok()
        .map(|s| s.parse().expect("SHM_TEST_CRASH_KILLS is a number"))
        .unwrap_or(MIN_KILLS);
    let max_kills = MAX_KILLS.max(min_kills);
    let deadline = started + DEADLINE + Duration::from_millis(10 * max_kills as u64);
    let mut last_progress = Instant::now();
    let mut kills = 0usize;
    let mut recoveries_seen = 0u64;
    while kills < min_kills || (recoveries_seen == 0 && kills < max_kills) {
        assert!(Instant::now() < deadline, "kill phase did not end in time");
        std::thread::sleep(Duration::from_micros(rng.below(5001)));
        // A child that ended by itself failed a check (or could not run).
        for h in &mut hammers {
            if let Some(status) = h.try_reap() {
                h.assert_success(Some(status));
                panic!("hammer {} exited before being killed", h.tag);
            }
        }
        for o in &mut observers {
            if let Some(status) = o.try_reap() {
                o.assert_success(Some(status));
                panic!("observer {} exited before the end", o.tag);
            }
        }
        // Kill only processes that are already at work on the store.
        let ready: Vec<usize> = (0..hammers.len())
            .filter(|&i| ready_file(dir, hammers[i].pid()).exists())
            .collect();
        if ready.is_empty() {
            if last_progress.elapsed() > NO_PROGRESS {
                let stuck: Vec<String> = hammers
                    .iter()
                    .map(|h| format!("{}: [{}]", h.tag, common::kernel_wait_channels(h.pid())))
                    .collect();
                panic!(
                    "no hammer got to work on the store for {NO_PROGRESS:?} after {kills} kills; \
                     kernel wait channels (locks_lock_inode_wait = flock): {stuck:?}"
                );
            }
            continue;
        }
        last_progress = Instant::now();
        let victim = ready[rng.below(ready.len() as u64) as usize];
        let pid = hammers[victim].pid();
        let status = hammers[victim].kill_and_reap();
        if status.signal() != Some(libc::SIGKILL) {
            // It ended by itself just before the kill: it failed.
            hammers[victim].assert_success(Some(status));
            panic!("hammer {} exited by itself", hammers[victim].tag);
        }
        let _ = std::fs::remove_file(ready_file(dir, pid));
        let _ = std::fs::remove_file(&hammers[victim].stdout_path);
        let _ = std::fs::remove_file(&hammers[victim].stderr_path);
        kills += 1;
        spawned += 1;
        hammers[victim] = spawn_hammer(dir, spawned);
        if kills >= min_kills && kills.is_multiple_of(20) {
            recoveries_seen = store.stats().unwrap().recoveries;
        }
    }
    let kill_phase = started.elapsed();

    // ---- stop everything: hammers and observers finish their loops and exit.
    std::fs::File::create(dir.join("stop")).unwrap();
    for c in hammers.iter_mut().chain(observers.iter_mut()) {
        let status = c.wait_until(deadline);
        c.assert_success(status);
    }
    let mut stall = Duration::ZERO;
    let mut stall_op = String::new();
    let (mut observer_ops, mut observer_verifies) = (0u64, 0u64);
    let (mut observer_reads, mut observer_locked_reads) = (0u64, 0u64);
    for o in &observers {
        let line = o
            .reports()
            .into_iter()
            .find(|l| l.starts_with("observer "))
            .expect("observer report");
        let field = |name: &str| -> String {
            line.split(' ')
                .find_map(|f| f.strip_prefix(&format!("{name}=")).map(str::to_string))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        let us: u64 = field("max_us").parse().unwrap();
        if Duration::from_micros(us) > stall {
            stall = Duration::from_micros(us);
            stall_op = field("max_op");
        }
        observer_ops += field("ops").parse::<u64>().unwrap();
        observer_verifies += field("verifies").parse::<u64>().unwrap();
        observer_reads += field("reads").parse::<u64>().unwrap();
        observer_locked_reads += field("locked_reads").parse::<u64>().unwrap();
    }
    // The observers' reads checked every value they got: most of them must
    // have been on the lock-free path, racing the hammers and their deaths.
    eprintln!(
        "observer reads: {observer_reads}, of which {observer_locked_reads} took the stripe lock"
    );
    assert!(
        observer_locked_reads * 2 < observer_reads,
        "most observer reads took the lock: {observer_locked_reads} of {observer_reads}"
    );
    drop(store);

    // ---- reopen and check everything
    let store = Store::open(&cfg).unwrap();
    assert!(!store.created(), "reopening must attach, not create");
    let report = store.verify().unwrap();
    let mut keys = Vec::new();
    store.scan(|e| keys.push(e.key.clone())).unwrap();
    let mut bad = Vec::new();
    let mut checked = 0usize;
    for key in &keys {
        if let Some(verdict) = store.get_with(key, |v| check_entry(key, v)).unwrap() {
            checked += 1;
            if let Err(e) = verdict {
                bad.push(e);
            }
        }
    }
    // No memory stays lost: once every lease and TTL has run out, the
    // values that lost a part (evicted, or a writer killed before giving
    // its parts their final expiry) are read, which removes them, and the
    // parts that no manifest names are removed, the only parts left are
    // those of the large values still readable.
    let clock = ManualClock::new(0);
    clock.set_ms(shm_store::SystemClock.now_ms() + 2 * LARGE_VALUE_PENDING.as_millis() as u64);
    let future = Store::open_with_clock(&cfg, std::sync::Arc::new(clock)).unwrap();
    future.purge_expired().unwrap();
    let part_len = future.geometry().part_len as usize;
    let mut large_keys = Vec::new();
    future
        .scan(|e| {
            if e.value_len > part_len {
                large_keys.push(e.key.clone());
            }
        })
        .unwrap();
    let (mut named_parts, mut broken) = (0u64, 0usize);
    for key in &large_keys {
        match future.get(key).unwrap() {
            Some(v) => named_parts += v.len().div_ceil(part_len) as u64,
            None => broken += 1,
        }
    }
    let orphans = future.remove_orphan_parts().unwrap();
    let parts_left = future.stats().unwrap().parts;
    drop(future);
    let stats = store.stats().unwrap();
    let verify_text = if report.is_ok() {
        "ok".to_string()
    } else {
        format!("{} PROBLEMS", report.problems.len())
    };
    eprintln!(
        "CRASH TEST SUMMARY: kills={kills} recoveries={} longest_observer_stall_ms={:.1} \
         (op: {stall_op}) verify={verify_text} entries={} | values_checked={checked} bad={} \
         evictions={} expirations={} observer_ops={observer_ops} observer_verifies={observer_verifies} \
         large_values={} broken_large_values_removed={broken} orphan_parts_removed={orphans} \
         kill_phase_s={:.1}",
        stats.recoveries,
        stall.as_secs_f64() * 1000.0,
        stats.entries,
        bad.len(),
        stats.evictions,
        stats.expirations,
        large_keys.len(),
        kill_phase.as_secs_f64(),
    );
    assert!(
        report.is_ok(),
        "verify found problems after the crashes:\n{}",
        report.problems.join("\n")
    );
    assert!(bad.is_empty(), "inconsistent values:\n{}", bad.join("\n"));
    assert_eq!(
        parts_left, named_parts,
        "parts of large values left behind after every expiry and the orphan sweep"
    );
    assert!(checked > 0, "no entry survived to be checked");
    assert!(
        stall < MAX_STALL,
        "an observer operation ({stall_op}) blocked for {stall:?}"
    );
    assert!(
        stats.recoveries > 0,
        "{kills} kills and no stripe was ever rebuilt"
    );
}

/// One random operation of a hammer; panics on anything inconsistent.
/// Keys that hammers and observers watch (`Store::wait`).
const WATCH_KEYS: u64 = 32;

/// A snapshot wait on `key`: its value, if any, is a whole hammer value.
fn check_watch(store: &Store, key: &[u8]) {
    match store.wait(key, 0, Duration::ZERO).unwrap() {
        WaitOutcome::Changed { value, version } => {
            assert!(version > 0);
            if let Some(v) = value {
                check_value(key, &v).unwrap_or_else(|e| panic!("wait {key:?}: {e}"));
            }
        }
        WaitOutcome::TimedOut => panic!("a snapshot wait timed out"),
    }
}

fn hammer_op(store: &Store, rng: &mut Rng) {
    let roll = rng.below(100);
    let vkey = format!("v:{}", rng.below(VAL_KEYS)).into_bytes();
    match roll {
        0..=34 => {
            let len = 100 + rng.below(16 * 1024 - 100 + 1) as usize;
            let value = make_value(&vkey, rng.next_u64() as u32, len);
            let ttl = match rng.below(2) {
                0 => None,
                _ => Some(Duration::from_millis(1 + rng.below(2000))),
            };
            store.set(&vkey, &value, ttl).unwrap();
        }
        35..=59 => {
            if let Some(v) = store.get(&vkey).unwrap() {
                check_value(&vkey, &v).unwrap_or_else(|e| panic!("get {vkey:?}: {e}"));
            }
        }
        60..=64 => {
            let key = format!("b:{}", rng.below(BIG_KEYS)).into_bytes();
            match rng.below(5) {
                0 | 1 => {
                    let len = (70 << 10) + rng.below(330 << 10) as usize;
                    let ttl = match rng.below(2) {
                        0 => None,
                        _ => Some(Duration::from_millis(1 + rng.below(3000))),
                    };
                    let value = make_big_value(&key, rng.next_u64(), len);
                    store.set(&key, &value, ttl).unwrap();
                }
                2 => {
                    store.del(&key).unwrap();
                }
                _ => {
                    if let Some(v) = store.get(&key).unwrap() {
                        check_big_value(&key, &v).unwrap_or_else(|e| panic!("get {key:?}: {e}"));
                    }
                }
            }
        }
        65..=74 => {
            let key = format!("c:{}", rng.below(COUNTER_KEYS));
            let n = store.incr_by(key.as_bytes(), 1).unwrap();
            assert!(n > 0, "{key} became {n}");
        }
        75..=84 => {
            store.del(&vkey).unwrap();
        }
        85..=94 => {
            let key = format!("n:{}", rng.below(NX_KEYS)).into_bytes();
            let len = 100 + rng.below(4000) as usize;
            let value = make_value(&key, rng.next_u64() as u32, len);
            let ttl = Duration::from_millis(20 + rng.below(500));
            if !store.setnx(&key, &value, Some(ttl)).unwrap() {
                if let Some(v) = store.get(&key).unwrap() {
                    check_value(&key, &v).unwrap_or_else(|e| panic!("get {key:?}: {e}"));
                }
            }
        }
        95 => {
            // A watch: registers under the watch table's lock (so hammers
            // are killed holding it too); few keys, so the table never fills.
            let key = format!("v:{}", rng.below(WATCH_KEYS)).into_bytes();
            check_watch(store, &key);
        }
        _ => {
            if store.exists(&vkey).unwrap() {
                store
                    .expire(&vkey, Duration::from_millis(1 + rng.below(3000)))
                    .unwrap();
            }
            store.ttl(&vkey).unwrap();
        }
    }
}

#[test]
#[ignore = "child process of the crash test (killed at random)"]
fn child_hammer() {
    let Some(ctx) = common::child_context("child_hammer") else {
        return;
    };
    let store = ctx.open();
    std::fs::File::create(ready_file(&ctx.dir, std::process::id() as i32)).unwrap();
    let mut rng = Rng::from_entropy();
    let start = Instant::now();
    let mut ops = 0u64;
    loop {
        if ops.is_multiple_of(32) && stop_or_timeout(&ctx, start) {
            break;
        }
        hammer_op(&store, &mut rng);
        ops += 1;
    }
    ctx.report(format!("hammer ops={ops}"));
    ctx.report("done");
}

fn stop_or_timeout(ctx: &ChildCtx, start: Instant) -> bool {
    assert!(
        start.elapsed() < common::CHILD_MAX_WAIT * 3,
        "never told to stop"
    );
    ctx.stop_requested()
}

#[test]
#[ignore = "child process of the crash test (never killed)"]
fn child_observer() {
    let Some(ctx) = common::child_context("child_observer") else {
        return;
    };
    let me: u64 = ctx.param("observer");
    let store = ctx.open();
    let mut rng = Rng::from_entropy();
    let start = Instant::now();
    let (mut max, mut max_op) = (Duration::ZERO, "none");
    let (mut ops, mut verifies, mut iter) = (0u64, 0u64, 0u64);
    let mut timed = |name: &'static str, op: &mut dyn FnMut()| {
        let t = Instant::now();
        op();
        let d = t.elapsed();
        if d > max {
            (max, max_op) = (d, name);
        }
        ops += 1;
    };
    while !stop_or_timeout(&ctx, start) {
        iter += 1;
        // Over the keys of all stripes: hammer values, own values, counters.
        let vkey = format!("v:{}", rng.below(VAL_KEYS)).into_bytes();
        timed("get", &mut || {
            if let Some(v) = store.get(&vkey).unwrap() {
                check_value(&vkey, &v).unwrap_or_else(|e| panic!("get {vkey:?}: {e}"));
            }
        });
        let okey = format!("o:{me}:{}", rng.below(OBS_KEYS)).into_bytes();
        let value = make_value(&okey, rng.next_u64() as u32, 100 + rng.below(2000) as usize);
        timed("set", &mut || store.set(&okey, &value, None).unwrap());
        timed("get-own", &mut || {
            // (It may have been evicted meanwhile: the store is over-full.)
            if let Some(v) = store.get(&okey).unwrap() {
                check_value(&okey, &v).unwrap_or_else(|e| panic!("own {okey:?}: {e}"));
            }
        });
        if iter.is_multiple_of(4) {
            let wkey = format!("v:{}", rng.below(WATCH_KEYS)).into_bytes();
            timed("wait", &mut || check_watch(&store, &wkey));
        }
        let ckey = format!("oc:{}", rng.below(OBS_KEYS)).into_bytes();
        timed("incr", &mut || {
            store.incr_by(&ckey, 1).unwrap();
        });
        if iter.is_multiple_of(8) {
            // Locks every stripe in turn.
            timed("stats", &mut || {
                store.stats().unwrap();
            });
        }
        if iter.is_multiple_of(32) {
            timed("verify", &mut || {
                let r = store.verify().unwrap();
                assert!(r.is_ok(), "verify while running: {:#?}", r.problems);
            });
            verifies += 1;
            timed("scan", &mut || {
                let mut n = 0usize;
                store.scan(|_| n += 1).unwrap();
            });
        }
    }
    ctx.report(format!(
        "observer max_us={} max_op={max_op} ops={ops} verifies={verifies} reads={} locked_reads={}",
        max.as_micros(),
        2 * iter,
        store.locked_reads()
    ));
    ctx.report("done");
}
