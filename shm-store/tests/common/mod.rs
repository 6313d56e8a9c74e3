//! Shared machinery of the integration tests: spawning child *processes*
//! (the current test binary re-executed on one `#[ignore]`d child test), a
//! start barrier, bounded waits, self-checking values and a small RNG.
//!
//! A child test function starts with
//! `let Some(ctx) = common::child_context("child_fn_name") else { return };`
//! so it does nothing unless the parent started it with its name in
//! [`CHILD_ENV`]. Children report to the parent with [`ChildCtx::report`]
//! (lines prefixed with [`REPORT_PREFIX`] on stdout, which the parent sends
//! to a file) and always end with a `done` report, so that a child that never
//! ran (a typo in the name makes libtest run zero tests and exit 0) is
//! caught.

#![allow(dead_code)]

use shm_store::{Store, StoreConfig};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Name of the child test function the process must run.
pub(crate) const CHILD_ENV: &str = "SHM_TEST_CHILD";
/// Segment directory.
pub(crate) const DIR_ENV: &str = "SHM_TEST_DIR";
/// Store name.
pub(crate) const NAME_ENV: &str = "SHM_TEST_NAME";
/// Parameters, `key=value` separated by `;`.
pub(crate) const PARAMS_ENV: &str = "SHM_TEST_PARAMS";
/// Every line a child reports starts with this.
pub(crate) const REPORT_PREFIX: &str = "@@shmtest ";
/// Whatever a child waits for (a barrier, a stop file), it gives up after this.
pub(crate) const CHILD_MAX_WAIT: Duration = Duration::from_secs(60);

/// The configuration every process of a test opens the store with.
pub(crate) fn config(dir: &Path, name: &str, size: u64, stripes: u32) -> StoreConfig {
    StoreConfig::new(name).dir(dir).size(size).stripes(stripes)
}

// ---------------------------------------------------------------- children

/// A child process started by [`spawn_child`]; its stdout and stderr go to
/// files in the test's temp directory.
pub(crate) struct ChildProc {
    pub tag: String,
    pub child: Child,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    reaped: Option<ExitStatus>,
    /// Where the child's threads were blocked when it was killed for being late.
    stuck_in: Option<String>,
}

/// Starts the current test binary as a child running only the ignored test
/// `child_fn`, with `params` (`key=value` pairs) for it.
pub(crate) fn spawn_child(
    child_fn: &str,
    dir: &Path,
    name: &str,
    params: &[(&str, String)],
    log_dir: &Path,
    tag: &str,
) -> ChildProc {
    let exe = std::env::current_exe().expect("current_exe");
    let stdout_path = log_dir.join(format!("{tag}.out"));
    let stderr_path = log_dir.join(format!("{tag}.err"));
    let stdout = File::create(&stdout_path).expect("create child stdout file");
    let stderr = File::create(&stderr_path).expect("create child stderr file");
    let params: String = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        child_fn,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, child_fn)
    .env(DIR_ENV, dir)
    .env(NAME_ENV, name)
    .env(PARAMS_ENV, params)
    .env("RUST_BACKTRACE", "1")
    .stdin(Stdio::null())
    .stdout(stdout)
    .stderr(stderr);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL
    // the child if the spawning thread goes away (no orphans if the test
    // harness dies).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn child test process");
    ChildProc {
        tag: tag.to_string(),
        child,
        stdout_path,
        stderr_path,
        reaped: None,
        stuck_in: None,
    }
}

impl ChildProc {
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL (if still running) and reap.
    pub(crate) fn kill_and_reap(&mut self) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        // SAFETY: plain kill(2) on our own, not yet reaped, child.
        unsafe {
            libc::kill(self.pid(), libc::SIGKILL);
        }
        let s = self.child.wait().expect("wait for child");
        self.reaped = Some(s);
        s
    }

    /// Exit status if it has ended (reaps it).
    pub(crate) fn try_reap(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().expect("try_wait");
        }
        self.reaped
    }

    /// Waits until the child exits; past `deadline` it is killed and `None`
    /// is returned.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(s) = self.try_reap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                self.stuck_in = Some(kernel_wait_channels(self.pid()));
                self.kill_and_reap();
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The report lines (without prefix) the child printed.
    pub(crate) fn reports(&self) -> Vec<String> {
        self.stdout()
            .lines()
            .filter_map(|l| {
                let at = l.find(REPORT_PREFIX)?;
                Some(l[at + REPORT_PREFIX.len()..].to_string())
            })
            .collect()
    }

    /// Panics (with the child's output) unless it exited 0 and reported `done`.
    pub(crate) fn assert_success(&self, status: Option<ExitStatus>) {
        let tail = |s: String| {
            let n = s.len();
            s[n.saturating_sub(4000)..].to_string()
        };
        match status {
            Some(s) if s.success() => {}
            Some(s) => panic!(
                "child {} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.tag,
                describe(s),
                tail(self.stdout()),
                tail(self.stderr())
            ),
            None => panic!(
                "child {} did not finish in time and was killed; its threads were blocked in \
                 [{}] (locks_lock_inode_wait = flock, futex_* = a mutex or a wait):\n\
                 --- stdout ---\n{}\n--- stderr ---\n{}",
                self.tag,
                self.stuck_in.as_deref().unwrap_or("?"),
                tail(self.stdout()),
                tail(self.stderr())
            ),
        }
        assert!(
            self.reports().iter().any(|l| l == "done"),
            "child {} exited 0 but never reported done (did the child test run?):\n{}",
            self.tag,
            self.stdout()
        );
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.kill_and_reap();
        }
    }
}

/// The kernel functions each thread of `pid` is sleeping in (diagnostics).
pub(crate) fn kernel_wait_channels(pid: i32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return "?".into();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("wchan")).ok())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{s:?}"),
    }
}

/// Waits for every child (killing those still running at `deadline`) and
/// asserts each succeeded.
pub(crate) fn wait_all_ok(children: &mut [ChildProc], deadline: Instant) {
    let statuses: Vec<_> = children
        .iter_mut()
        .map(|c| c.wait_until(deadline))
        .collect();
    for (c, s) in children.iter().zip(statuses) {
        c.assert_success(s);
    }
}

/// Creates the file children wait for in [`ChildCtx::wait_for_go`].
pub(crate) fn release(dir: &Path) {
    File::create(dir.join("go")).expect("create go file");
}

// ------------------------------------------------------------- child side

/// What a child process was started with.
pub(crate) struct ChildCtx {
    pub dir: PathBuf,
    pub name: String,
    pub params: HashMap<String, String>,
}

/// `Some` only in a child process started for `child_fn`.
pub(crate) fn child_context(child_fn: &str) -> Option<ChildCtx> {
    if std::env::var(CHILD_ENV).ok()? != child_fn {
        return None;
    }
    let params = std::env::var(PARAMS_ENV)
        .unwrap_or_default()
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("param is key=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    Some(ChildCtx {
        dir: std::env::var(DIR_ENV).expect("dir env").into(),
        name: std::env::var(NAME_ENV).expect("name env"),
        params,
    })
}

impl ChildCtx {
    pub(crate) fn param<T: std::str::FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.params
            .get(key)
            .unwrap_or_else(|| panic!("missing child param {key}"))
            .parse()
            .unwrap_or_else(|e| panic!("bad child param {key}: {e:?}"))
    }

    pub(crate) fn config(&self) -> StoreConfig {
        config(
            &self.dir,
            &self.name,
            self.param("size"),
            self.param("stripes"),
        )
    }

    pub(crate) fn open(&self) -> Store {
        Store::open(&self.config()).expect("child: open store")
    }

    /// Blocks until the parent calls [`release`].
    pub(crate) fn wait_for_go(&self) {
        let go = self.dir.join("go");
        let start = Instant::now();
        while !go.exists() {
            assert!(start.elapsed() < CHILD_MAX_WAIT, "never released");
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Whether the parent asked children to stop (a `stop` file exists).
    pub(crate) fn stop_requested(&self) -> bool {
        self.dir.join("stop").exists()
    }

    pub(crate) fn report(&self, line: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        // libtest may have left "test name ... " unterminated on this line.
        writeln!(out, "\n{REPORT_PREFIX}{}", line.as_ref()).expect("write report");
        out.flush().expect("flush report");
    }
}

/// Spins (yielding) until the integer at `key` reaches `target`.
pub(crate) fn store_barrier(store: &Store, key: &[u8], target: i64) {
    store.incr_by(key, 1).expect("barrier incr");
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        let v = store.get(key).expect("barrier get");
        let n: i64 = v
            .as_deref()
            .map(|b| std::str::from_utf8(b).unwrap().parse().unwrap())
            .unwrap_or(0);
        if n >= target {
            return;
        }
        assert!(
            start.elapsed() < CHILD_MAX_WAIT,
            "barrier {key:?} stuck at {n}/{target}"
        );
        // Spin briefly (tight races), then let the laggards have the CPU.
        polls += 1;
        if polls < 200 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

// ------------------------------------------------------ self-checking values

/// Shortest self-checking value.
pub(crate) const MIN_VALUE_LEN: usize = 10;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Bytes the value bodies are cut from: random, the same in every process.
fn pattern_table() -> &'static [u8] {
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![0u8; PATTERN_OFFSETS + u16::MAX as usize];
        Rng::new(0x5eed_f7ab_1e00).fill(&mut t);
        t
    })
}

/// Distinct starting points of a body in the pattern table.
const PATTERN_OFFSETS: usize = 1 << 15;

/// The body of the value of `key` with `seed` and total length `len`: a
/// slice of the pattern table at an offset derived from all three (a copy,
/// so making and checking values is cheap next to the store operations).
fn body_of(key: &[u8], seed: u32, len: usize) -> &'static [u8] {
    let h = fnv1a(key) ^ (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (len as u64) << 40;
    let off = (h ^ (h >> 29)) as usize % PATTERN_OFFSETS;
    &pattern_table()[off..off + len - 6]
}

/// A value that proves its own integrity: `len: u16`, `seed: u32`, then a
/// body derived from (key, seed, len) (see `body_of`). A torn or misplaced value fails
/// [`check_value`].
pub(crate) fn make_value(key: &[u8], seed: u32, len: usize) -> Vec<u8> {
    assert!((MIN_VALUE_LEN..=u16::MAX as usize).contains(&len));
    let mut v = vec![0u8; len];
    v[0..2].copy_from_slice(&(len as u16).to_le_bytes());
    v[2..6].copy_from_slice(&seed.to_le_bytes());
    v[6..].copy_from_slice(body_of(key, seed, len));
    v
}

/// Checks a value made by [`make_value`] for `key`.
pub(crate) fn check_value(key: &[u8], v: &[u8]) -> Result<(), String> {
    if v.len() < MIN_VALUE_LEN {
        return Err(format!("value of {} bytes is too short", v.len()));
    }
    let len = u16::from_le_bytes([v[0], v[1]]) as usize;
    if len != v.len() {
        return Err(format!(
            "header says {len} bytes, value has {} bytes",
            v.len()
        ));
    }
    let seed = u32::from_le_bytes([v[2], v[3], v[4], v[5]]);
    let body = body_of(key, seed, len);
    if body == &v[6..] {
        return Ok(());
    }
    match body.iter().zip(&v[6..]).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{len}-byte value (seed {seed}) differs from its pattern at byte {}",
            i + 6
        )),
    }
}

/// A value length between `min` and `max`, spread evenly over magnitudes.
pub(crate) fn log_uniform_len(rng: &mut Rng, min: usize, max: usize) -> usize {
    let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
    let x = lo + (hi - lo) * rng.unit();
    (x.exp() as usize).clamp(min, max)
}

// ------------------------------------------------------------------- RNG

/// splitmix64: small, seedable, good enough for tests.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Seeded from the pid and the clock (differs per process).
    pub(crate) fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t ^ ((std::process::id() as u64) << 32))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }
}

// ------------------------------------------------- self-checking large values

fn big_word(key_hash: u64, seed: u64, index: u64) -> u64 {
    let mut z = key_hash ^ seed.rotate_left(17) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A value of any length from 16 bytes that proves its own integrity:
/// `len: u64`, `seed: u64`, then words derived from (key, seed, position),
/// so a value torn between two writes, shifted or cut fails [`check_big_value`].
pub(crate) fn make_big_value(key: &[u8], seed: u64, len: usize) -> Vec<u8> {
    assert!(len >= 16);
    let h = fnv1a(key);
    let mut v = Vec::with_capacity(len + 8);
    v.extend_from_slice(&(len as u64).to_le_bytes());
    v.extend_from_slice(&seed.to_le_bytes());
    let mut i = 0;
    while v.len() < len {
        v.extend_from_slice(&big_word(h, seed, i).to_le_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

/// Checks a value made by [`make_big_value`] for `key`.
pub(crate) fn check_big_value(key: &[u8], v: &[u8]) -> Result<(), String> {
    if v.len() < 16 {
        return Err(format!("value of {} bytes is too short", v.len()));
    }
    let len = u64::from_le_bytes(v[..8].try_into().unwrap()) as usize;
    if len != v.len() {
        return Err(format!("header says {len} bytes, value has {}", v.len()));
    }
    let seed = u64::from_le_bytes(v[8..16].try_into().unwrap());
    let h = fnv1a(key);
    for (i, chunk) in v[16..].chunks(8).enumerate() {
        let want = big_word(h, seed, i as u64).to_le_bytes();
        if chunk != &want[..chunk.len()] {
            return Err(format!(
                "{len}-byte value (seed {seed}) differs from its pattern at byte {}",
                16 + i * 8
            ));
        }
    }
    Ok(())
}
