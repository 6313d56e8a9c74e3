//! `watch`: a live view of a store's figures, redrawn every second.
//!
//! On a terminal, stdin is switched (with `stty`, on `/dev/tty`) to
//! non-canonical, no-echo mode with signals off, so `q` and Ctrl-C arrive as
//! bytes; either quits and the saved terminal settings are restored (output
//! processing is left on, so `\n` still starts a new line). When
//! stdin is not a terminal, the view refreshes until stdin reaches EOF or a
//! line reading `q` arrives.

use shm_store::{Store, StripeStats};
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the view is redrawn.
const INTERVAL: Duration = Duration::from_secs(1);

/// ANSI: cursor home, then clear the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Runs the live view of `store` (called `name`) until the user quits.
pub(crate) fn run(store: &Store, name: &str) -> io::Result<()> {
    let stdin = io::stdin();
    let tty = stdin.is_terminal();
    let _guard = if tty { TtyGuard::enter() } else { None };
    let quit = spawn_input(tty);
    let stdout = io::stdout();
    let result = watch_loop(store, name, &quit, &mut stdout.lock(), INTERVAL);
    drop(_guard);
    result
}

/// Redraws until `quit` delivers (or disconnects).
fn watch_loop(
    store: &Store,
    name: &str,
    quit: &mpsc::Receiver<()>,
    out: &mut dyn Write,
    interval: Duration,
) -> io::Result<()> {
    let mut prev: Option<(StripeStats, Instant)> = None;
    loop {
        let stats = store.stats().map_err(io::Error::other)?;
        let now = Instant::now();
        let text = match &prev {
            Some((p, at)) => frame(name, Some(p), &stats, now.duration_since(*at)),
            None => frame(name, None, &stats, Duration::ZERO),
        };
        out.write_all(CLEAR.as_bytes())?;
        out.write_all(text.as_bytes())?;
        out.flush()?;
        prev = Some((stats.total.clone(), now));
        match quit.recv_timeout(interval) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Reads stdin on a thread; sends once when the user asks to quit.
fn spawn_input(tty: bool) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = io::stdin();
        if tty {
            wait_quit_key(stdin.lock());
        } else {
            wait_quit_line(stdin.lock());
        }
        let _ = tx.send(());
    });
    rx
}

/// Returns on `q`, `Q`, Ctrl-C (0x03), Ctrl-D (0x04), EOF or a read error.
fn wait_quit_key(mut input: impl Read) {
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return,
            Ok(_) if matches!(byte[0], b'q' | b'Q' | 0x03 | 0x04) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Returns on a line reading `q`, EOF or a read error.
fn wait_quit_line(input: impl BufRead) {
    for line in input.lines() {
        match line {
            Ok(l) if l.trim().eq_ignore_ascii_case("q") => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// The terminal settings saved by `stty -g`, restored on drop.
struct TtyGuard {
    saved: String,
}

impl TtyGuard {
    /// Saves the settings and enters non-canonical, no-echo, no-signal
    /// mode; `None` when `stty` is unavailable or fails (the view then runs
    /// in whatever mode the terminal is in).
    fn enter() -> Option<TtyGuard> {
        let saved = stty(&["-g"])?;
        let saved = saved.trim().to_string();
        if saved.is_empty() {
            return None;
        }
        stty(&["-icanon", "-echo", "-isig", "min", "1", "time", "0"])?;
        // Hide the cursor while drawing.
        print!("\x1b[?25l");
        let _ = io::stdout().flush();
        Some(TtyGuard { saved })
    }
}

impl Drop for TtyGuard {
    fn drop(&mut self) {
        if stty(&[&self.saved]).is_none() {
            let _ = stty(&["sane"]);
        }
        println!("\x1b[?25h");
        let _ = io::stdout().flush();
    }
}

/// Runs `stty ARGS` on `/dev/tty`; its stdout on success.
fn stty(args: &[&str]) -> Option<String> {
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let out = std::process::Command::new("stty")
        .args(args)
        .stdin(tty)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// `part` as a percentage of `whole`, or `None` when `whole` is 0.
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

fn fmt_percent(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{p:.1}%"),
        None => "-".to_string(),
    }
}

/// Bytes in binary units, e.g. `1.5 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The text of one frame: current figures, and per-second rates from the
/// difference to `prev` over `elapsed` (shown as `-` without a previous
/// sample or with no time elapsed). Counters that went backwards (the store
/// was recreated) count as 0.
pub(crate) fn frame(
    name: &str,
    prev: Option<&StripeStats>,
    cur: &StripeStats,
    elapsed: Duration,
) -> String {
    let secs = elapsed.as_secs_f64();
    let prev = prev.filter(|_| secs > 0.0);
    let rate = |f: fn(&StripeStats) -> u64| -> String {
        match prev {
            Some(p) => format!("{:.1}", f(cur).saturating_sub(f(p)) as f64 / secs),
            None => "-".to_string(),
        }
    };
    let total_bytes = cur.bytes_used.saturating_add(cur.bytes_free);
    let lookups = cur.hits.saturating_add(cur.misses);
    let recent_ratio = prev.and_then(|p| {
        let hits = cur.hits.saturating_sub(p.hits);
        let misses = cur.misses.saturating_sub(p.misses);
        percent(hits, hits.saturating_add(misses))
    });
    let mut s = String::new();
    s.push_str(&format!(
        "ephpm-shm watch {name}  (every {}s; q or Ctrl-C quits)\n\n",
        INTERVAL.as_secs()
    ));
    s.push_str(&format!("entries          {}\n", cur.entries));
    s.push_str(&format!(
        "used             {} ({} bytes, {})\n",
        human_bytes(cur.bytes_used),
        cur.bytes_used,
        fmt_percent(percent(cur.bytes_used, total_bytes))
    ));
    s.push_str(&format!(
        "free             {} ({} bytes, {})\n",
        human_bytes(cur.bytes_free),
        cur.bytes_free,
        fmt_percent(percent(cur.bytes_free, total_bytes))
    ));
    s.push_str(&format!(
        "ops/s            {}  (hits + misses)\n",
        rate(|s| s.hits.saturating_add(s.misses))
    ));
    s.push_str(&format!(
        "hit ratio        {} last second, {} overall ({} hits, {} misses)\n",
        fmt_percent(recent_ratio),
        fmt_percent(percent(cur.hits, lookups)),
        cur.hits,
        cur.misses
    ));
    s.push_str(&format!(
        "evictions/s      {}  ({} total)\n",
        rate(|s| s.evictions),
        cur.evictions
    ));
    s.push_str(&format!(
        "expirations/s    {}  ({} total)\n",
        rate(|s| s.expirations),
        cur.expirations
    ));
    s.push_str(&format!("recoveries       {}\n", cur.recoveries));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(hits: u64, misses: u64, evictions: u64, expirations: u64) -> StripeStats {
        StripeStats {
            entries: 10,
            slots: 64,
            bytes_used: 256,
            bytes_free: 768,
            hits,
            misses,
            expirations,
            evictions,
            recoveries: 1,
            parts: 0,
            ..StripeStats::default()
        }
    }

    #[test]
    fn first_frame_has_no_rates() {
        let f = frame("sess", None, &stats(3, 1, 0, 0), Duration::ZERO);
        assert!(f.contains("ephpm-shm watch sess"), "{f}");
        assert!(f.contains("entries          10\n"), "{f}");
        assert!(
            f.contains("used             256 B (256 bytes, 25.0%)"),
            "{f}"
        );
        assert!(
            f.contains("free             768 B (768 bytes, 75.0%)"),
            "{f}"
        );
        assert!(f.contains("ops/s            -"), "{f}");
        assert!(
            f.contains("hit ratio        - last second, 75.0% overall"),
            "{f}"
        );
        assert!(f.contains("evictions/s      -"), "{f}");
        assert!(f.contains("recoveries       1"), "{f}");
    }

    #[test]
    fn rates_over_elapsed_time() {
        let prev = stats(100, 100, 5, 7);
        let cur = stats(190, 110, 9, 17);
        let f = frame("s", Some(&prev), &cur, Duration::from_secs(2));
        assert!(f.contains("ops/s            50.0"), "{f}");
        assert!(
            f.contains("hit ratio        90.0% last second, 63.3% overall"),
            "{f}"
        );
        assert!(f.contains("evictions/s      2.0  (9 total)"), "{f}");
        assert!(f.contains("expirations/s    5.0  (17 total)"), "{f}");
    }

    #[test]
    fn idle_and_reset_counters() {
        let s = stats(5, 5, 0, 0);
        let f = frame("s", Some(&s), &s, Duration::from_secs(1));
        assert!(f.contains("ops/s            0.0"), "{f}");
        assert!(
            f.contains("hit ratio        - last second, 50.0% overall"),
            "{f}"
        );
        // Counters going backwards (store recreated) are not negative.
        let f = frame("s", Some(&stats(9, 9, 9, 9)), &s, Duration::from_secs(1));
        assert!(f.contains("ops/s            0.0"), "{f}");
        assert!(f.contains("evictions/s      0.0"), "{f}");
        // An empty, zero-sized view has no percentages and no NaN.
        let f = frame("s", None, &StripeStats::default(), Duration::ZERO);
        assert!(!f.contains("NaN") && f.contains("(0 bytes, -)"), "{f}");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
    }

    #[test]
    fn quit_inputs() {
        // Each returns rather than blocking.
        wait_quit_key(&b"xyq"[..]);
        wait_quit_key(&b"\x03"[..]);
        wait_quit_key(&b""[..]);
        wait_quit_line(&b"hello\n q \nmore\n"[..]);
        wait_quit_line(&b"no quit here\n"[..]);
    }

    #[test]
    fn loop_redraws_until_quit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&shm_store::StoreConfig::new("watch").dir(dir.path())).unwrap();
        store.set(b"k", b"v", None).unwrap();
        let _ = store.get(b"k").unwrap();
        let (tx, rx) = mpsc::channel();
        let quitter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(120));
            tx.send(()).unwrap();
        });
        let mut out = Vec::new();
        watch_loop(&store, "watch", &rx, &mut out, Duration::from_millis(20)).unwrap();
        quitter.join().unwrap();
        let text = String::from_utf8(out).unwrap();
        let frames = text.matches(CLEAR).count();
        assert!(frames >= 2, "{frames} frames: {text}");
        assert!(text.contains("entries          1\n"), "{text}");
        assert!(text.contains("ops/s            0.0"), "{text}");
        assert!(text.contains("100.0% overall"), "{text}");
    }
}
