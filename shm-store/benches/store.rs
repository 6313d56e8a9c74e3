//! Criterion benchmarks: `get`, `set` and `incr` of the shared-memory store
//! beside an in-process `Mutex<HashMap>` and a `DashMap`, measured in the same
//! run, for 64 B, 1 KB and 16 KB values over 100k keys, with one worker and
//! with a second one hammering the same data (a second OS process for the
//! shm store, a second thread for the in-process maps).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench -p shm-store --bench store`.
//! Results and findings: `benches/RESULTS.md`.
//!
//! The second process is this same binary, re-executed with the environment
//! variable [`LOAD_ENV`] set: `main` then runs a load loop instead of
//! criterion. The same mode, with `prefill=1;secs=N`, is a stand-alone loop
//! for profilers, e.g.
//! `SHM_STORE_BENCH_LOAD='op=get;size=64;prefill=1;secs=5' perf record -g <bench binary>`.

use criterion::measurement::WallTime;
use criterion::{black_box, BenchmarkGroup, Criterion};
use dashmap::DashMap;
use shm_store::{Store, StoreConfig};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys per data set (values, and separately counters).
const KEYS: usize = 100_000;
/// Value sizes measured, with their labels.
const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KB"), (16 * 1024, "16KB")];
/// When set, `main` runs a load loop (see [`load_main`]) instead of criterion.
const LOAD_ENV: &str = "SHM_STORE_BENCH_LOAD";
/// Where the segments go.
const SHM_DIR: &str = "/dev/shm";
/// Operations between two looks at the stop flag in load loops.
const LOAD_BATCH: u64 = 64;

// ---------------------------------------------------------------------------
// keys, values, random indices

/// A 10-byte key such as `key:000123` or `ctr:000123`.
type KeyBytes = [u8; 10];

fn make_keys(prefix: &[u8; 4]) -> Vec<KeyBytes> {
    (0..KEYS)
        .map(|i| {
            let mut k = [0u8; 10];
            k[..4].copy_from_slice(prefix);
            k[4..].copy_from_slice(format!("{i:06}").as_bytes());
            k
        })
        .collect()
}

fn make_value(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// xorshift64: a few cycles per index, no `rand`.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }
    #[inline(always)]
    fn index(&mut self) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (((x >> 32) * KEYS as u64) >> 32) as usize
    }
}

// ---------------------------------------------------------------------------
// the three implementations behind one interface

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Owned copy of the value.
    Get,
    /// Length of the value, read in place (shm `get_with`).
    GetLen,
    /// Key lookup only (shm `exists`).
    Exists,
    Set,
    /// `+1` on a decimal-text counter.
    Incr,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::GetLen => "get_len",
            Op::Exists => "exists",
            Op::Set => "set",
            Op::Incr => "incr",
        }
    }
    fn parse(s: &str) -> Op {
        match s {
            "get" => Op::Get,
            "get_len" => Op::GetLen,
            "exists" => Op::Exists,
            "set" => Op::Set,
            "incr" => Op::Incr,
            other => panic!("unknown op {other:?}"),
        }
    }
}

trait Kv: Sync {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    fn get_len(&self, key: &[u8]) -> Option<usize>;
    fn exists(&self, key: &[u8]) -> bool;
    fn set(&self, key: &[u8], value: &[u8]);
    fn incr(&self, key: &[u8]) -> i64;
}

impl Kv for Store {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        Store::get(self, key).unwrap()
    }
    #[inline]
    fn get_len(&self, key: &[u8]) -> Option<usize> {
        self.get_with(key, |v| v.len()).unwrap()
    }
    #[inline]
    fn exists(&self, key: &[u8]) -> bool {
        Store::exists(self, key).unwrap()
    }
    #[inline]
    fn set(&self, key: &[u8], value: &[u8]) {
        Store::set(self, key, value, None).unwrap()
    }
    #[inline]
    fn incr(&self, key: &[u8]) -> i64 {
        self.incr_by(key, 1).unwrap()
    }
}

/// The counter text as the shm store parses it: strict decimal `i64`.
#[inline]
fn parse_counter(v: &[u8]) -> i64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

type MutexMap = Mutex<HashMap<Vec<u8>, Vec<u8>>>;

impl Kv for MutexMap {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lock().unwrap().get(key).cloned()
    }
    #[inline]
    fn get_len(&self, key: &[u8]) -> Option<usize> {
        self.lock().unwrap().get(key).map(Vec::len)
    }
    #[inline]
    fn exists(&self, key: &[u8]) -> bool {
        self.lock().unwrap().contains_key(key)
    }
    /// Copies the value before taking the lock and frees the old one after
    /// releasing it (the best a `Mutex<HashMap>` user can do).
    #[inline]
    fn set(&self, key: &[u8], value: &[u8]) {
        let new = value.to_vec();
        let old = {
            let mut map = self.lock().unwrap();
            match map.get_mut(key) {
                Some(v) => Some(std::mem::replace(v, new)),
                None => map.insert(key.to_vec(), new),
            }
        };
        drop(old);
    }
    #[inline]
    fn incr(&self, key: &[u8]) -> i64 {
        let mut map = self.lock().unwrap();
        match map.get_mut(key) {
            Some(v) => {
                let n = parse_counter(v) + 1;
                *v = n.to_string().into_bytes();
                n
            }
            None => {
                map.insert(key.to_vec(), b"1".to_vec());
                1
            }
        }
    }
}

type Dash = DashMap<Vec<u8>, Vec<u8>>;

impl Kv for Dash {
    #[inline]
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        DashMap::get(self, key).map(|r| r.value().clone())
    }
    #[inline]
    fn get_len(&self, key: &[u8]) -> Option<usize> {
        DashMap::get(self, key).map(|r| r.value().len())
    }
    #[inline]
    fn exists(&self, key: &[u8]) -> bool {
        self.contains_key(key)
    }
    #[inline]
    fn set(&self, key: &[u8], value: &[u8]) {
        let new = value.to_vec();
        let old = match self.get_mut(key) {
            Some(mut r) => Some(std::mem::replace(r.value_mut(), new)),
            None => self.insert(key.to_vec(), new),
        };
        drop(old);
    }
    #[inline]
    fn incr(&self, key: &[u8]) -> i64 {
        let mut entry = self.entry(key.to_vec()).or_insert_with(|| b"0".to_vec());
        let n = parse_counter(entry.value()) + 1;
        *entry.value_mut() = n.to_string().into_bytes();
        n
    }
}

/// The floor of any `get`: copying a random value out of a plain arena of
/// `KEYS` values (no hashing, no lock).
struct Arena {
    bytes: Vec<u8>,
    size: usize,
}

impl Arena {
    fn new(size: usize) -> Self {
        let value = make_value(size);
        let mut bytes = Vec::with_capacity(KEYS * size);
        for _ in 0..KEYS {
            bytes.extend_from_slice(&value);
        }
        Arena { bytes, size }
    }
    #[inline]
    fn copy(&self, i: usize) -> Vec<u8> {
        self.bytes[i * self.size..(i + 1) * self.size].to_vec()
    }
}

// ---------------------------------------------------------------------------
// data sets and loops

struct Data {
    keys: Vec<KeyBytes>,
    counters: Vec<KeyBytes>,
    value: Vec<u8>,
}

impl Data {
    fn new(size: usize) -> Self {
        Data {
            keys: make_keys(b"key:"),
            counters: make_keys(b"ctr:"),
            value: make_value(size),
        }
    }
    fn keys_for(&self, op: Op) -> &[KeyBytes] {
        match op {
            Op::Incr => &self.counters,
            _ => &self.keys,
        }
    }
}

/// Fills `kv` with what `op` works on: the 100k values, or the 100k counters.
fn prefill<K: Kv>(kv: &K, data: &Data, op: Op) {
    match op {
        Op::Incr => data.counters.iter().for_each(|k| {
            kv.incr(k);
        }),
        _ => data.keys.iter().for_each(|k| kv.set(k, &data.value)),
    }
}

/// One operation on a random key; what criterion times and what the second
/// worker repeats.
#[inline(always)]
fn one_op<K: Kv>(kv: &K, op: Op, keys: &[KeyBytes], value: &[u8], rng: &mut XorShift) {
    let key = &keys[rng.index()];
    match op {
        Op::Get => {
            black_box(kv.get(key));
        }
        Op::GetLen => {
            black_box(kv.get_len(key));
        }
        Op::Exists => {
            black_box(kv.exists(key));
        }
        Op::Set => kv.set(key, value),
        Op::Incr => {
            black_box(kv.incr(key));
        }
    }
}

/// Repeats `op` until `stop`; returns (operations, seconds).
fn load_loop<K: Kv>(kv: &K, op: Op, data: &Data, stop: &AtomicBool, seed: u64) -> (u64, f64) {
    let keys = data.keys_for(op);
    let mut rng = XorShift::new(seed);
    let start = Instant::now();
    let mut ops = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..LOAD_BATCH {
            one_op(kv, op, keys, &data.value, &mut rng);
        }
        ops += LOAD_BATCH;
    }
    (ops, start.elapsed().as_secs_f64())
}

/// Times `op` on `kv` in this thread; the op is matched outside the timed
/// closure so each one compiles to its own loop.
fn measure<K: Kv>(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, kv: &K, op: Op, data: &Data) {
    let keys = data.keys_for(op);
    let value = &data.value[..];
    group.bench_function(id, |b| {
        let mut rng = XorShift::new(0x9E37_79B9_7F4A_7C15);
        match op {
            Op::Get => b.iter(|| kv.get(&keys[rng.index()])),
            Op::GetLen => b.iter(|| kv.get_len(&keys[rng.index()])),
            Op::Exists => b.iter(|| kv.exists(&keys[rng.index()])),
            Op::Set => b.iter(|| kv.set(&keys[rng.index()], value)),
            Op::Incr => b.iter(|| kv.incr(&keys[rng.index()])),
        }
    });
}

fn report_second(kind: &str, id: &str, ops: u64, secs: f64) {
    if ops == 0 {
        return; // filtered out
    }
    eprintln!(
        "    [{id}] second {kind}: {ops} ops in {secs:.2} s = {:.0} ns/op",
        secs * 1e9 / ops.max(1) as f64
    );
}

/// As [`measure`], while a second thread of this process runs the same load.
fn measure_2_threads<K: Kv>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    kv: &K,
    op: Op,
    data: &Data,
) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let worker = s.spawn(|| load_loop(kv, op, data, &stop, 0x2545_F491_4F6C_DD1D));
        measure(group, id, kv, op, data);
        stop.store(true, Ordering::Relaxed);
        let (ops, secs) = worker.join().expect("load thread panicked");
        report_second("thread", id, ops, secs);
    });
}

// ---------------------------------------------------------------------------
// the shm segments and the second process

/// A segment created for this run; its file is removed on drop (the store
/// never unlinks itself).
struct BenchStore {
    store: Store,
    name: String,
}

impl BenchStore {
    fn create(tag: &str, size: u64) -> Self {
        let name = format!("shm-store-bench-{}-{tag}", std::process::id());
        let config = StoreConfig::new(name.clone()).dir(SHM_DIR).size(size);
        let store = Store::open(&config).expect("cannot create the bench segment");
        assert!(
            store.created(),
            "{} already existed",
            store.path().display()
        );
        BenchStore { store, name }
    }

    /// Checks that nothing was evicted (the data set must fit) and that the
    /// segment is consistent.
    fn check(&self, when: &str, expect_entries: u64) {
        let stats = self.store.stats().unwrap();
        let verify = self.store.verify().unwrap();
        eprintln!(
            "  shm {} {when}: {} entries, {} B used, {} evictions, {} expirations, {} recoveries, verify {}",
            self.name,
            stats.entries,
            stats.bytes_used,
            stats.evictions,
            stats.expirations,
            stats.recoveries,
            if verify.is_ok() { "ok".to_string() } else { format!("{:?}", verify.problems) }
        );
        assert_eq!(
            stats.entries, expect_entries,
            "entries lost: the segment is too small"
        );
        assert_eq!(stats.evictions, 0, "evictions: the segment is too small");
        assert!(verify.is_ok());
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.store.path());
    }
}

/// Segment size for 100k values of `size` bytes: twice the blocks they need
/// (so per-stripe imbalance never evicts), at least 256 MiB, in 256 MiB steps.
fn segment_size(size: usize) -> u64 {
    let block = (32 + 10 + size).div_ceil(16) * 16;
    let need = 2 * (KEYS * block) as u64;
    let step = 256u64 << 20;
    need.div_ceil(step).max(1) * step
}

/// The second OS process: this binary re-executed in load mode.
struct LoadProcess {
    child: Child,
    /// The child's stdout lines, read by a helper thread.
    lines: Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl LoadProcess {
    /// Starts the child and waits (10 s at most) until it has attached to
    /// the segment and is about to start its loop.
    fn spawn(op: Op, size: usize, name: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().expect("current_exe");
        let spec = format!("op={};size={size};dir={SHM_DIR};name={name}", op.name());
        let mut child = Command::new(exe)
            .env(LOAD_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot spawn the load process");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut load = LoadProcess {
            child,
            lines,
            reader: Some(reader),
        };
        match load.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line == "ready" => Ok(load),
            other => {
                let pid = load.child.id();
                let why = format!(
                    "load process {pid} not ready after 10 s ({other:?}); its kernel wait channel: {}",
                    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
                );
                load.child.kill().ok();
                load.child.wait().ok();
                // No other thread may live when the caller forks.
                if let Some(r) = load.reader.take() {
                    let _ = r.join();
                }
                Err(why)
            }
        }
    }

    /// Closes the child's stdin, which makes it finish its current batch and
    /// exit; if it does not within 5 s, kills it by PID. Returns (ops, secs).
    fn stop(mut self) -> Option<(u64, f64)> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait().unwrap() {
                Some(_) => break,
                None if Instant::now() > deadline => {
                    eprintln!(
                        "    load process {} did not stop: killing it",
                        self.child.id()
                    );
                    self.child.kill().ok();
                    self.child.wait().ok();
                    break;
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let report = self.lines.recv_timeout(Duration::from_secs(1));
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let report = report.ok()?;
        let mut words = report.split_whitespace();
        match (words.nth(1), words.nth(1)) {
            (Some(ops), Some(secs)) => Some((ops.parse().ok()?, secs.parse().ok()?)),
            _ => None,
        }
    }
}

impl Drop for LoadProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// What the parent and a forked load process share: an anonymous
/// `MAP_SHARED` page.
#[repr(C)]
struct ForkShared {
    stop: AtomicBool,
    ops: AtomicU64,
    nanos: AtomicU64,
}

/// Fallback second process when the re-executed one cannot open the segment:
/// `fork`, so the child inherits the mapping instead of opening the file.
/// Only called while this process has a single thread.
struct ForkedLoad {
    pid: libc::pid_t,
    shared: *mut ForkShared,
}

impl ForkedLoad {
    fn start(store: &Store, op: Op, data: &Data) -> Self {
        // SAFETY: a fresh anonymous shared page (zeroed: all fields start
        // false/0, valid for the atomics); the forked child only runs the
        // load loop on memory it inherited and leaves with `_exit`.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(page, libc::MAP_FAILED);
            let shared = page.cast::<ForkShared>();
            match libc::fork() {
                -1 => panic!("fork failed"),
                0 => {
                    let s = &*shared;
                    let (ops, secs) = load_loop(store, op, data, &s.stop, 0xD6E8_FEB8_6659_FD93);
                    s.ops.store(ops, Ordering::SeqCst);
                    s.nanos.store((secs * 1e9) as u64, Ordering::SeqCst);
                    libc::_exit(0);
                }
                pid => ForkedLoad { pid, shared },
            }
        }
    }

    fn stop(self) -> Option<(u64, f64)> {
        // SAFETY: `shared` stays mapped until the munmap below; waitpid on
        // our own child.
        unsafe {
            let s = &*self.shared;
            s.stop.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut status = 0;
            while libc::waitpid(self.pid, &mut status, libc::WNOHANG) == 0 {
                if Instant::now() > deadline {
                    eprintln!("    forked load {} did not stop: killing it", self.pid);
                    libc::kill(self.pid, libc::SIGKILL);
                    libc::waitpid(self.pid, &mut status, 0);
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let result = (
                s.ops.load(Ordering::SeqCst),
                s.nanos.load(Ordering::SeqCst) as f64 / 1e9,
            );
            libc::munmap(self.shared.cast(), 4096);
            (result.0 > 0).then_some(result)
        }
    }
}

/// As [`measure`], while another process runs the same load on the same
/// segment: this binary re-executed (attaching by name), or, if that process
/// cannot open the segment, a `fork` of this one (the id then says so).
fn measure_2_procs(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    bs: &BenchStore,
    op: Op,
    size: usize,
    data: &Data,
) {
    match LoadProcess::spawn(op, size, &bs.name) {
        Ok(load) => {
            measure(group, id, &bs.store, op, data);
            match load.stop() {
                Some((ops, secs)) => report_second("process", id, ops, secs),
                None => eprintln!("    [{id}] the second process sent no report"),
            }
        }
        Err(why) => {
            eprintln!(
                "    [{id}] PROBLEM: {why}\n    [{id}] falling back to a forked second process"
            );
            let id = format!("{id}-fork");
            let load = ForkedLoad::start(&bs.store, op, data);
            measure(group, &id, &bs.store, op, data);
            match load.stop() {
                Some((ops, secs)) => report_second("process (fork)", &id, ops, secs),
                None => eprintln!("    [{id}] the forked process sent no report"),
            }
        }
    }
}

/// Load mode: `op=..;size=..;dir=..;name=..` attaches to an existing segment
/// and runs `op` until stdin closes; with `prefill=1` it creates and fills its
/// own segment (removed at the end; `mb=N` sets its size in MiB), `secs=N`
/// stops it after N seconds and `fork=1` runs a forked copy of the loop on the
/// same segment meanwhile.
fn load_main(spec: &str) {
    let field = |k: &str| {
        spec.split(';')
            .filter_map(|kv| kv.split_once('='))
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
    };
    let op = Op::parse(&field("op").expect("op=..."));
    let size: usize = field("size").map_or(64, |s| s.parse().unwrap());
    let data = Data::new(size);
    static STOP: AtomicBool = AtomicBool::new(false);

    let own;
    let attached;
    let store: &Store = if field("prefill").as_deref() == Some("1") {
        let bytes = field("mb").map_or(segment_size(size), |mb| mb.parse::<u64>().unwrap() << 20);
        own = BenchStore::create(&format!("load-{}", op.name()), bytes);
        eprintln!("{}", own.store.geometry());
        prefill(&own.store, &data, op);
        &own.store
    } else {
        let dir = PathBuf::from(field("dir").unwrap_or_else(|| SHM_DIR.into()));
        attached = Store::attach(Path::new(&dir), &field("name").expect("name=...")).unwrap();
        &attached
    };

    // `fork=1`: a forked copy of this process runs the same loop on the same
    // mapping meanwhile (forked while this process has one thread).
    let forked =
        (field("fork").as_deref() == Some("1")).then(|| ForkedLoad::start(store, op, &data));
    match field("secs") {
        Some(secs) => {
            let secs: f64 = secs.parse().unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs_f64(secs));
                STOP.store(true, Ordering::Relaxed);
            });
        }
        None => {
            std::thread::spawn(|| {
                // EOF (the parent closed the pipe or died) means stop.
                let mut sink = Vec::new();
                let _ = std::io::stdin().read_to_end(&mut sink);
                STOP.store(true, Ordering::Relaxed);
            });
        }
    }
    let mut out = std::io::stdout();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let (ops, secs) = load_loop(store, op, &data, &STOP, 0xD6E8_FEB8_6659_FD93);
    writeln!(out, "ops {ops} secs {secs:.6}").unwrap();
    if let Some((ops, secs)) = forked.and_then(ForkedLoad::stop) {
        writeln!(out, "forked: ops {ops} secs {secs:.6}").unwrap();
    }
    out.flush().unwrap();
}

// ---------------------------------------------------------------------------
// the benchmarks

fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    // SHM_STORE_BENCH_QUICK=1: a smoke test of the harness, numbers meaningless.
    let quick = std::env::var_os("SHM_STORE_BENCH_QUICK").is_some();
    g.sample_size(if quick { 10 } else { 20 })
        .warm_up_time(Duration::from_millis(if quick { 100 } else { 1000 }))
        .measurement_time(Duration::from_millis(if quick { 200 } else { 2500 }));
    g
}

/// get and set of `size`-byte values: all implementations alive at once.
fn bench_size(c: &mut Criterion, size: usize, label: &str) {
    let data = Data::new(size);
    let t = Instant::now();
    let shm = BenchStore::create(label, segment_size(size));
    eprintln!("  shm {}: {}", shm.name, shm.store.geometry());
    prefill(&shm.store, &data, Op::Get);
    shm.check("after prefill", KEYS as u64);
    let mutex: MutexMap = Mutex::new(HashMap::with_capacity(KEYS));
    prefill(&mutex, &data, Op::Get);
    let dash: Dash = DashMap::with_capacity(KEYS);
    prefill(&dash, &data, Op::Get);
    let arena = Arena::new(size);
    eprintln!("  prefilled 4 x {KEYS} x {label} in {:.1?}", t.elapsed());

    {
        let op = Op::Get;
        let mut g = group(c, &format!("get/{label}"));
        compare_all(&mut g, &shm, &mutex, &dash, op, size, &data);
        // Where a get's time goes: no copy out, no value read at all, and
        // the copy alone.
        measure(
            &mut g,
            "shm_get_with_len-1proc",
            &shm.store,
            Op::GetLen,
            &data,
        );
        measure(&mut g, "shm_exists-1proc", &shm.store, Op::Exists, &data);
        g.bench_function("arena_copy_only-1thread", |b| {
            let mut rng = XorShift::new(0x9E37_79B9_7F4A_7C15);
            b.iter(|| arena.copy(rng.index()))
        });
        g.finish();
    }
    drop(arena);
    {
        let op = Op::Set;
        let mut g = group(c, &format!("set/{label}"));
        compare_all(&mut g, &shm, &mutex, &dash, op, size, &data);
        g.finish();
    }
    shm.check("after the benchmarks", KEYS as u64);
}

/// The six rows of every table: the shm store with 1 and 2 processes, the
/// in-process maps with 1 and 2 threads.
fn compare_all(
    g: &mut BenchmarkGroup<'_, WallTime>,
    shm: &BenchStore,
    mutex: &MutexMap,
    dash: &Dash,
    op: Op,
    size: usize,
    data: &Data,
) {
    measure(g, "shm-1proc", &shm.store, op, data);
    measure_2_procs(g, "shm-2procs", shm, op, size, data);
    measure(g, "mutex-1thread", mutex, op, data);
    measure_2_threads(g, "mutex-2threads", mutex, op, data);
    measure(g, "dashmap-1thread", dash, op, data);
    measure_2_threads(g, "dashmap-2threads", dash, op, data);
}

fn bench_incr(c: &mut Criterion) {
    let data = Data::new(0);
    let shm = BenchStore::create("incr", segment_size(64));
    eprintln!("  shm {}: {}", shm.name, shm.store.geometry());
    prefill(&shm.store, &data, Op::Incr);
    let mutex: MutexMap = Mutex::new(HashMap::with_capacity(KEYS));
    prefill(&mutex, &data, Op::Incr);
    let dash: Dash = DashMap::with_capacity(KEYS);
    prefill(&dash, &data, Op::Incr);

    let op = Op::Incr;
    let mut g = group(c, "incr");
    compare_all(&mut g, &shm, &mutex, &dash, op, 0, &data);
    g.finish();
    shm.check("after the benchmarks", KEYS as u64);
}

/// A process-shared robust pthread mutex, as the store's stripe locks are
/// made, on the heap of this process.
struct RawRobustMutex(Box<libc::pthread_mutex_t>);

impl RawRobustMutex {
    fn new() -> Self {
        // SAFETY: zeroed memory is a valid place to initialise a mutex in;
        // the attribute object is initialised before use and destroyed after.
        unsafe {
            let mut m = RawRobustMutex(Box::new(std::mem::zeroed()));
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_mutexattr_init(&mut attr), 0);
            assert_eq!(
                libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
                0
            );
            assert_eq!(
                libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST),
                0
            );
            assert_eq!(libc::pthread_mutex_init(&mut *m.0, &attr), 0);
            libc::pthread_mutexattr_destroy(&mut attr);
            m
        }
    }
    #[inline]
    fn lock_unlock(&mut self) {
        // SAFETY: an initialised mutex, locked and unlocked by this thread.
        unsafe {
            assert_eq!(libc::pthread_mutex_lock(&mut *self.0), 0);
            libc::pthread_mutex_unlock(&mut *self.0);
        }
    }
}

/// The fixed costs of every shm operation, each alone.
fn bench_components(c: &mut Criterion) {
    let keys = make_keys(b"key:");
    let mut g = group(c, "components");
    if std::env::var_os("SHM_STORE_BENCH_QUICK").is_none() {
        g.measurement_time(Duration::from_secs(1));
    }
    g.bench_function("xxh3_64-10B-key", |b| {
        let mut rng = XorShift::new(7);
        b.iter(|| xxhash_rust::xxh3::xxh3_64(&keys[rng.index()]))
    });
    g.bench_function("SystemTime-now", |b| b.iter(std::time::SystemTime::now));
    g.bench_function("robust-pshared-pthread-mutex-lock-unlock", |b| {
        let mut m = RawRobustMutex::new();
        b.iter(|| m.lock_unlock())
    });
    g.bench_function("std-Mutex-lock-unlock", |b| {
        let m = Mutex::new(0u64);
        b.iter(|| *m.lock().unwrap() += 1)
    });
    g.bench_function("i64-to_string", |b| {
        let mut n = 0i64;
        b.iter(|| {
            n += 1;
            n.to_string()
        })
    });
    g.finish();
}

fn main() {
    if let Ok(spec) = std::env::var(LOAD_ENV) {
        load_main(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_components(&mut c);
    for (size, label) in SIZES {
        bench_size(&mut c, size, label);
    }
    bench_incr(&mut c);
    c.final_summary();
}
