//! PHP sessions seen from a browser: a tiny HTTP client that keeps the
//! `PHPSESSID` cookie, the pages the session tests serve, and the scenarios
//! both session handlers must pass (the composer package's
//! `KvSessionHandler` in `sessions.rs`, the extension's native `ephpm`
//! module in `native_sessions.rs`). A scenario writes its pages with a
//! `make` function that turns a body calling `session_start()` into a page
//! using the handler under test.

use crate::repo_root;
use crate::servers::{signal, wait_for, Endpoint, Fpm, Nginx, Pool, Site, REQUEST_TIMEOUT};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The autoloader a page using the composer package starts with: the
/// package straight from `php/src` (PSR-4, namespace `Ephpm\SessionHandler`).
pub fn autoloader() -> String {
    format!(
        "<?php\n\
         spl_autoload_register(fn($c) => str_starts_with($c, 'Ephpm\\\\SessionHandler\\\\') \
         && require '{}/php/src/' . substr($c, 21) . '.php');\n",
        repo_root().display()
    )
}

/// A page using the composer package: the autoloader, `pre` (ini
/// settings), the handler built with `args`, then `body` (which calls
/// `session_start()`).
pub fn session_page(pre: &str, args: &str, body: &str) -> String {
    format!(
        "{}{pre}\nsession_set_save_handler(new \\Ephpm\\SessionHandler\\KvSessionHandler({args}), true);\n{body}\n",
        autoloader()
    )
}

/// Increments `$_SESSION['n']`; prints `<pid> <n> <session id>`.
pub const COUNTER_BODY: &str = r#"session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo getmypid(), ' ', $_SESSION['n'], ' ', session_id(), "\n";"#;

/// Reads `$_SESSION['n']` (0 when unset) without changing it; prints
/// `<pid> <n> <session id>`.
pub const READ_BODY: &str = r#"session_start();
echo getmypid(), ' ', $_SESSION['n'] ?? 0, ' ', session_id(), "\n";"#;

/// Takes the session (and its lock, if the handler locks), stores the
/// worker's PID at key `holder` and sleeps until it is killed.
pub const HOLD_BODY: &str = r#"session_start();
ephpm_kv_set('holder', (string) getmypid());
sleep(30);
echo 'not killed';"#;

/// One answer of the client: status, the `PHPSESSID` it set (if any), body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `PHPSESSID` the answer set, if any.
    pub set_sid: Option<String>,
    /// The body.
    pub body: String,
}

/// `GET` with an optional `Cookie: PHPSESSID=<sid>` over HTTP/1.0.
pub fn get(endpoint: &Endpoint, page: &str, sid: Option<&str>) -> Answer {
    let path = format!("{}{page}", endpoint.prefix);
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&endpoint.addr, REQUEST_TIMEOUT)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", endpoint.addr));
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    let cookie = sid
        .map(|s| format!("Cookie: PHPSESSID={s}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("sending GET {path}: {e}"));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "GET {path}: no answer within {REQUEST_TIMEOUT:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("GET {path}: reading: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: malformed answer {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line in {head:?}"));
    let mut set_sid = None;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let pair = value.trim().split(';').next().unwrap_or("");
        if let Some(v) = pair.strip_prefix("PHPSESSID=") {
            set_sid = Some(v.to_string());
        }
    }
    Answer {
        status,
        set_sid,
        body: body.to_string(),
    }
}

/// A browser with one cookie: `PHPSESSID`.
#[derive(Clone)]
pub struct Browser {
    /// The site it talks to.
    pub endpoint: Endpoint,
    /// The session id it holds, once a page has set one.
    pub sid: Option<String>,
}

impl Browser {
    /// A browser with no cookie yet.
    pub fn new(endpoint: &Endpoint) -> Browser {
        Browser {
            endpoint: endpoint.clone(),
            sid: None,
        }
    }

    /// The body of `page` (must answer 200 with no PHP warning); keeps the
    /// session id the answer sets.
    pub fn page(&mut self, page: &str) -> String {
        let answer = get(&self.endpoint, page, self.sid.as_deref());
        assert_eq!(answer.status, 200, "GET {page}: {}", answer.body);
        assert!(
            !answer.body.contains("Warning") && !answer.body.contains("Fatal"),
            "GET {page}: {}",
            answer.body
        );
        if let Some(sid) = answer.set_sid {
            self.sid = Some(sid);
        }
        answer.body
    }

    /// `page` (see [`Browser::page`]) parsed by [`parse_counter`].
    pub fn counter(&mut self, page: &str) -> (u32, i64, String) {
        parse_counter(&self.page(page))
    }

    /// The answer of `page` on this browser's session, whatever it is; the
    /// cookie is not updated.
    pub fn get(&self, page: &str) -> Answer {
        get(&self.endpoint, page, self.sid.as_deref())
    }

    /// The session id (panics if no page has set one).
    pub fn sid(&self) -> String {
        self.sid.clone().expect("a session cookie was set")
    }
}

/// `<pid> <n> <sid>` of the counter and read pages.
pub fn parse_counter(body: &str) -> (u32, i64, String) {
    let words: Vec<&str> = body.split_whitespace().collect();
    assert_eq!(words.len(), 3, "counter page answered {body:?}");
    (
        words[0].parse().expect("pid"),
        words[1].parse().expect("n"),
        words[2].to_string(),
    )
}

/// Whether `key` is in the store `endpoint`'s pool uses (through `kv.php`).
pub fn kv_exists(endpoint: &Endpoint, key: &str) -> bool {
    match endpoint.kv("exists", key, "").json.as_str() {
        "true" => true,
        "false" => false,
        other => panic!("exists {key} answered {other}"),
    }
}

/// Whether the session's data key is in the store.
pub fn key_exists(endpoint: &Endpoint, sid: &str) -> bool {
    kv_exists(endpoint, &format!("php_session:{sid}"))
}

/// Whether the session's lock key is in the store.
pub fn lock_exists(endpoint: &Endpoint, sid: &str) -> bool {
    kv_exists(endpoint, &format!("php_session:lock:{sid}"))
}

/// The stored session string of `sid`, as JSON (`null` when missing).
pub fn stored_session(endpoint: &Endpoint, sid: &str) -> String {
    endpoint.kv("get", &format!("php_session:{sid}"), "").json
}

/// A site with pools `pools` (store `sessions`) behind nginx.
pub fn servers(pools: Vec<Pool>) -> (Site, Fpm, Nginx) {
    let site = Site::new();
    let fpm = Fpm::start(&site, "sessions", pools);
    let nginx = Nginx::start(&site, &fpm);
    (site, fpm, nginx)
}

/// A scenario: writes its pages with `make` into the site and checks them
/// through the endpoint.
pub type Scenario = fn(&Site, &Endpoint, &dyn Fn(&str) -> String);

/// Runs `scenario` with pages made by `make` on a fresh site whose only
/// pool is `pool`.
pub fn run_scenario(pool: Pool, scenario: Scenario, make: &dyn Fn(&str) -> String) {
    let name = pool.name.clone();
    let (site, _fpm, nginx) = servers(vec![pool]);
    scenario(&site, &nginx.pool(&name), make);
}

/// 20 increments of one session's counter, each while another worker is
/// busy, so that several workers serve them. Returns the browser.
pub fn counter_across_workers(
    site: &Site,
    endpoint: &Endpoint,
    make: &dyn Fn(&str) -> String,
) -> Browser {
    site.page("counter.php", &make(COUNTER_BODY));
    let mut browser = Browser::new(endpoint);
    let mut pids = BTreeSet::new();
    for i in 1..=20 {
        // A slow request occupies one worker, so the counter request is
        // often served by another one than the last time.
        let busy = endpoint.clone();
        let background = thread::spawn(move || busy.page("kv.php?op=pid&sleep_ms=150"));
        thread::sleep(Duration::from_millis(30));
        let (pid, n, sid) = browser.counter("counter.php");
        background.join().unwrap();
        assert_eq!(n, i, "request {i}");
        assert_eq!(sid, browser.sid(), "one session throughout");
        pids.insert(pid);
    }
    assert!(key_exists(endpoint, &browser.sid()));
    assert!(!lock_exists(endpoint, &browser.sid()), "lock left behind");
    println!("20 increments served by workers {pids:?}");
    assert!(pids.len() >= 2, "all served by {pids:?}");
    browser
}

/// With `session.lazy_write`, a request that leaves the session unchanged
/// refreshes its TTL (`session.gc_maxlifetime` = 5 s) without writing it.
pub fn lazy_write_refreshes_ttl(site: &Site, endpoint: &Endpoint, make: &dyn Fn(&str) -> String) {
    let body = r#"ini_set('session.gc_maxlifetime', 5);
ini_set('session.lazy_write', 1);
session_start();
$k = 'php_session:' . session_id();
if (isset($_GET['set'])) { $_SESSION['x'] = 1; }
$before = ephpm_kv_pttl($k);
if (isset($_GET['tamper'])) {
    // Stored behind PHP's back: a write at close would overwrite it.
    ephpm_kv_set($k, 'x|i:1;tampered|b:1;', 2);
    $before = ephpm_kv_pttl($k);
}
session_write_close();
echo $before, ' ', ephpm_kv_pttl($k), "\n";"#;
    site.page("ttl.php", &make(body));
    let mut browser = Browser::new(endpoint);
    let pttls = |body: &str| -> Vec<i64> {
        let v: Vec<i64> = body
            .split_whitespace()
            .map(|w| w.parse().unwrap_or_else(|_| panic!("ttl.php: {body}")))
            .collect();
        assert_eq!(v.len(), 2, "ttl.php: {body}");
        v
    };
    let first = browser.page("ttl.php?set=1");
    let after_write = pttls(&first)[1];
    assert!(
        after_write > 4000 && after_write <= 5000,
        "after the first write: {first}"
    );
    thread::sleep(Duration::from_millis(1100));
    let second = browser.page("ttl.php");
    let v = pttls(&second);
    println!("pttl first request {first:?}, unchanged session after 1.1 s: {second:?}");
    assert!(v[0] > 0 && v[0] < 4000, "ttl before close: {second}");
    assert!(v[1] > v[0] + 500 && v[1] <= 5000, "ttl refreshed: {second}");
    // No write either: a value changed behind PHP's back during an
    // unchanged request survives its close, with the TTL refreshed.
    let third = browser.page("ttl.php?tamper=1");
    let v = pttls(&third);
    assert!(v[0] <= 2000 && v[1] > 4000, "tampered ttl: {third}");
    assert_eq!(
        stored_session(endpoint, &browser.sid()),
        "\"x|i:1;tampered|b:1;\"",
        "the unchanged session was written"
    );
}

/// With `session.use_strict_mode`, an id the store does not know is
/// replaced by a new one and never stored.
pub fn strict_mode_rejects_unknown_id(
    site: &Site,
    endpoint: &Endpoint,
    make: &dyn Fn(&str) -> String,
) {
    site.page(
        "strict.php",
        &make(&format!(
            "ini_set('session.use_strict_mode', 1);\n{COUNTER_BODY}"
        )),
    );
    let unknown = "unknownsessionid0123456789abcdef";
    let answer = get(endpoint, "strict.php", Some(unknown));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (_, n, sid) = parse_counter(&answer.body);
    assert_eq!(n, 1);
    assert_ne!(sid, unknown, "strict mode kept the unknown id");
    assert_eq!(answer.set_sid.as_deref(), Some(sid.as_str()), "new cookie");
    assert!(key_exists(endpoint, &sid));
    assert!(!key_exists(endpoint, unknown));
    assert!(!lock_exists(endpoint, unknown), "lock of the unknown id");
    // The new id is accepted on the next request.
    let mut browser = Browser {
        endpoint: endpoint.clone(),
        sid: Some(sid.clone()),
    };
    let (_, n, again) = browser.counter("strict.php");
    assert_eq!((n, again), (2, sid));
}

/// `session_regenerate_id(true)` removes the old key (already inside the
/// request), carries the data to the new id and leaves no lock behind.
pub fn regenerate_id_removes_old_key_and_keeps_data(
    site: &Site,
    endpoint: &Endpoint,
    make: &dyn Fn(&str) -> String,
) {
    site.page("counter.php", &make(COUNTER_BODY));
    let regen = r#"session_start();
$old = session_id();
session_regenerate_id(true);
$gone = !ephpm_kv_exists('php_session:' . $old);
echo getmypid(), ' ', $_SESSION['n'] ?? 0, ' ', session_id(), ' ', $old, ' ', $gone ? 'gone' : 'still-there', "\n";"#;
    site.page("regen.php", &make(regen));
    let mut browser = Browser::new(endpoint);
    for _ in 0..3 {
        browser.page("counter.php");
    }
    let old = browser.sid();
    let body = browser.page("regen.php");
    let words: Vec<&str> = body.split_whitespace().collect();
    assert_eq!(words.len(), 5, "{body}");
    assert_eq!(words[1], "3", "data in the regenerated session: {body}");
    assert_eq!(words[3], old);
    assert_eq!(words[4], "gone", "old key inside the request: {body}");
    let new = browser.sid();
    assert_ne!(new, old, "cookie with the new id");
    assert_eq!(words[2], new);
    assert!(!key_exists(endpoint, &old), "old key removed");
    assert!(key_exists(endpoint, &new), "new key stored");
    assert!(!lock_exists(endpoint, &old), "old id's lock");
    assert!(!lock_exists(endpoint, &new), "new id's lock");
    // Not kept waiting by a stale lock either (it would warn).
    let (_, n, sid) = browser.counter("counter.php");
    assert_eq!((n, sid), (4, new), "data carried over");
}

/// `session_destroy()` removes the key and the lock; the next request
/// starts over (without waiting for a stale lock, which would warn).
pub fn destroy_removes_key(site: &Site, endpoint: &Endpoint, make: &dyn Fn(&str) -> String) {
    site.page("counter.php", &make(COUNTER_BODY));
    site.page(
        "destroy.php",
        &make("session_start(); echo json_encode(session_destroy());"),
    );
    let mut browser = Browser::new(endpoint);
    browser.page("counter.php");
    browser.page("counter.php");
    let sid = browser.sid();
    assert!(key_exists(endpoint, &sid));
    assert_eq!(browser.page("destroy.php"), "true");
    assert!(!key_exists(endpoint, &sid), "destroyed session's key");
    assert!(!lock_exists(endpoint, &sid), "lock after destroy");
    let (_, n, _) = browser.counter("counter.php");
    assert_eq!(n, 1, "a destroyed session starts over");
}

/// A session written by `page` (a counter page whose session lives 1 s) is
/// gone from the store 2.5 s later, and the counter starts over.
pub fn session_expires_after_one_second(endpoint: &Endpoint, page: &str) {
    let mut browser = Browser::new(endpoint);
    browser.page(page);
    let (_, n, _) = browser.counter(page);
    assert_eq!(n, 2);
    let sid = browser.sid();
    assert!(key_exists(endpoint, &sid));
    thread::sleep(Duration::from_millis(2500));
    assert!(!key_exists(endpoint, &sid), "key after its 1 s TTL");
    let (_, n, _) = browser.counter(page);
    assert_eq!(n, 1, "expired data is gone");
}

/// 40 requests (8 threads × 5) on one session, each adding 1 to `n` with a
/// `us` µs window between read and write, on pages made by `make` (named
/// after `tag`); returns the final `n`. No lock may be left behind.
pub fn parallel_increments(
    site: &Site,
    endpoint: &Endpoint,
    tag: &str,
    make: &dyn Fn(&str) -> String,
    us: u32,
) -> i64 {
    let name = format!("inc-{tag}-{us}.php");
    site.page(
        &name,
        &make(&format!(
            "session_start();\n$n = $_SESSION['n'] ?? 0;\nusleep({us});\n$_SESSION['n'] = $n + 1;\necho getmypid(), ' ', $n + 1, ' ', session_id(), \"\\n\";"
        )),
    );
    let read = format!("read-{tag}.php");
    site.page(&read, &make(READ_BODY));
    let mut browser = Browser::new(endpoint);
    let (_, n, _) = browser.counter(&read);
    assert_eq!(n, 0);
    let sid = browser.sid();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut b = browser.clone();
            let name = name.clone();
            thread::spawn(move || {
                for _ in 0..5 {
                    b.page(&name);
                }
                b.sid()
            })
        })
        .collect();
    for t in threads {
        let thread_sid = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(thread_sid, sid, "one session for every request");
    }
    let (_, n, _) = browser.counter(&read);
    assert!(!lock_exists(endpoint, &sid), "lock key left behind");
    n
}

/// [`parallel_increments`] with ever wider windows (2, 20, 100 ms) until an
/// update is lost; returns the final `n` and the window in µs.
pub fn lost_updates(
    site: &Site,
    endpoint: &Endpoint,
    tag: &str,
    make: &dyn Fn(&str) -> String,
) -> (i64, u32) {
    let mut last = (0, 0);
    for us in [2000, 20000, 100000] {
        last = (parallel_increments(site, endpoint, tag, make, us), us);
        if last.0 < 40 {
            break;
        }
    }
    last
}

/// Starts `page` on the browser's session in the background and waits until
/// it holds the session (it stores its PID at key `holder` after
/// `session_start()`, like [`HOLD_BODY`]); returns the request's thread and
/// the PID of the worker serving it.
pub fn start_holder(browser: &Browser, page: &str) -> (JoinHandle<Answer>, u32) {
    let holder_browser = browser.clone();
    let page_name = page.to_string();
    let holder = thread::spawn(move || holder_browser.get(&page_name));
    let pid: u32 = wait_for(
        Duration::from_secs(10),
        "the holder to take the session",
        || {
            browser
                .endpoint
                .kv("get", "holder", "")
                .json
                .trim_matches('"')
                .parse()
                .ok()
        },
    );
    (holder, pid)
}

/// Kills the worker of `fpm` serving `hold_page` ([`HOLD_BODY`]) on the
/// browser's session while it holds the session's lock. Returns the
/// worker's PID and the lock's value (JSON) before the kill.
pub fn kill_lock_holder(fpm: &Fpm, browser: &Browser, hold_page: &str) -> (u32, String) {
    let (holder, pid) = start_holder(browser, hold_page);
    assert!(fpm.workers().contains(&pid), "holder {pid} is a worker");
    let lock_key = format!("php_session:lock:{}", browser.sid());
    let lock = browser.endpoint.kv("get", &lock_key, "").json;
    assert_ne!(lock, "null", "no lock while held");
    assert!(signal(pid, libc::SIGKILL));
    let answer = holder.join().unwrap();
    assert_ne!(answer.body, "not killed");
    (pid, lock)
}
