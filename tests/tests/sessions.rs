//! The composer package `ephpm/session-handler` (`php/src`) end to end:
//! php-fpm (`pm = static`, 4 workers) behind nginx with the extension
//! loaded, sessions stored in the shared `ephpm_kv` store, a cookie jar on
//! the Rust side. Counters across workers, lazy writes refreshing the TTL,
//! strict mode, id regeneration, destroy, expiry, lost updates without
//! locking and none with it, and three installation recipes.

use ephpm_shm_tests::repo_root;
use ephpm_shm_tests::servers::{
    signal, wait_for, Endpoint, Fpm, Nginx, Pool, Site, REQUEST_TIMEOUT,
};
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// The autoloader every page starts with: the package straight from
/// `php/src` (PSR-4, namespace `Ephpm\SessionHandler`).
fn autoloader() -> String {
    format!(
        "<?php\n\
         spl_autoload_register(fn($c) => str_starts_with($c, 'Ephpm\\\\SessionHandler\\\\') \
         && require '{}/php/src/' . substr($c, 21) . '.php');\n",
        repo_root().display()
    )
}

/// A page: the autoloader, `pre` (ini settings), the handler built with
/// `args`, then `body` (which calls `session_start()`).
fn session_page(pre: &str, args: &str, body: &str) -> String {
    format!(
        "{}{pre}\nsession_set_save_handler(new \\Ephpm\\SessionHandler\\KvSessionHandler({args}), true);\n{body}\n",
        autoloader()
    )
}

/// Increments `$_SESSION['n']`; prints `<pid> <n> <session id>`.
const COUNTER_BODY: &str = r#"session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo getmypid(), ' ', $_SESSION['n'], ' ', session_id(), "\n";"#;

/// Reads `$_SESSION['n']` (0 when unset) without changing it; prints
/// `<pid> <n> <session id>`.
const READ_BODY: &str = r#"session_start();
echo getmypid(), ' ', $_SESSION['n'] ?? 0, ' ', session_id(), "\n";"#;

/// One answer of the client: status, the `PHPSESSID` it set (if any), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    set_sid: Option<String>,
    body: String,
}

/// `GET` with an optional `Cookie: PHPSESSID=<sid>` over HTTP/1.0.
fn get(endpoint: &Endpoint, page: &str, sid: Option<&str>) -> Answer {
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
struct Browser {
    endpoint: Endpoint,
    sid: Option<String>,
}

impl Browser {
    fn new(endpoint: &Endpoint) -> Browser {
        Browser {
            endpoint: endpoint.clone(),
            sid: None,
        }
    }

    /// The body of `page` (must answer 200 with no PHP warning); keeps the
    /// session id the answer sets.
    fn page(&mut self, page: &str) -> String {
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

    fn sid(&self) -> String {
        self.sid.clone().expect("a session cookie was set")
    }
}

/// `<pid> <n> <sid>` of the counter and read pages.
fn parse_counter(body: &str) -> (u32, i64, String) {
    let words: Vec<&str> = body.split_whitespace().collect();
    assert_eq!(words.len(), 3, "counter page answered {body:?}");
    (
        words[0].parse().expect("pid"),
        words[1].parse().expect("n"),
        words[2].to_string(),
    )
}

/// Whether the session's key is in the store (through `kv.php`).
fn key_exists(endpoint: &Endpoint, sid: &str) -> bool {
    let reply = endpoint.kv("exists", &format!("php_session:{sid}"), "");
    match reply.json.as_str() {
        "true" => true,
        "false" => false,
        other => panic!("exists answered {other}"),
    }
}

/// A site with pools `pools` (store `sessions`) behind nginx.
fn servers(pools: Vec<Pool>) -> (Site, Fpm, Nginx) {
    let site = Site::new();
    let fpm = Fpm::start(&site, "sessions", pools);
    let nginx = Nginx::start(&site, &fpm);
    (site, fpm, nginx)
}

#[test]
fn counter_across_workers() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    site.page("counter.php", &session_page("", "", COUNTER_BODY));
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    let mut pids = BTreeSet::new();
    for i in 1..=20 {
        // A slow request occupies one worker, so the counter request is
        // often served by another one than the last time.
        let busy = main.clone();
        let background = thread::spawn(move || busy.page("kv.php?op=pid&sleep_ms=150"));
        thread::sleep(Duration::from_millis(30));
        let (pid, n, sid) = parse_counter(&browser.page("counter.php"));
        background.join().unwrap();
        assert_eq!(n, i, "request {i}");
        assert_eq!(sid, browser.sid(), "one session throughout");
        pids.insert(pid);
    }
    assert!(key_exists(&main, &browser.sid()));
    println!("20 increments served by workers {pids:?}");
    assert!(pids.len() >= 2, "all served by {pids:?}");
}

#[test]
fn lazy_write_refreshes_ttl() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    let body = r#"session_start();
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
    site.page(
        "ttl.php",
        &session_page(
            "ini_set('session.gc_maxlifetime', 5); ini_set('session.lazy_write', 1);",
            "",
            body,
        ),
    );
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    let first = browser.page("ttl.php?set=1");
    let after_write: i64 = first.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        after_write > 4000 && after_write <= 5000,
        "after the first write: {first}"
    );
    thread::sleep(Duration::from_millis(1100));
    let second = browser.page("ttl.php");
    let v: Vec<i64> = second
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    println!("pttl first request {first:?}, unchanged session after 1.1 s: {second:?}");
    assert!(v[0] > 0 && v[0] < 4000, "ttl before close: {second}");
    assert!(v[1] > v[0] + 500 && v[1] <= 5000, "ttl refreshed: {second}");
    // No write either: a value changed behind PHP's back during an
    // unchanged request survives its close, with the TTL refreshed.
    let third = browser.page("ttl.php?tamper=1");
    let v: Vec<i64> = third
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(v[0] <= 2000 && v[1] > 4000, "tampered ttl: {third}");
    let sid = browser.sid();
    let stored = main.kv("get", &format!("php_session:{sid}"), "").json;
    assert_eq!(
        stored, "\"x|i:1;tampered|b:1;\"",
        "the unchanged session was written"
    );
}

#[test]
fn strict_mode_rejects_unknown_id() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    site.page(
        "counter.php",
        &session_page("ini_set('session.use_strict_mode', 1);", "", COUNTER_BODY),
    );
    let main = nginx.pool("main");
    let unknown = "unknownsessionid0123456789abcdef";
    let answer = get(&main, "counter.php", Some(unknown));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (_, n, sid) = parse_counter(&answer.body);
    assert_eq!(n, 1);
    assert_ne!(sid, unknown, "strict mode kept the unknown id");
    assert_eq!(answer.set_sid.as_deref(), Some(sid.as_str()), "new cookie");
    assert!(key_exists(&main, &sid));
    assert!(!key_exists(&main, unknown));
    // The new id is accepted on the next request.
    let mut browser = Browser {
        endpoint: main.clone(),
        sid: Some(sid.clone()),
    };
    let (_, n, again) = parse_counter(&browser.page("counter.php"));
    assert_eq!((n, again), (2, sid));
}

#[test]
fn regenerate_id_removes_old_key_and_keeps_data() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    site.page("counter.php", &session_page("", "", COUNTER_BODY));
    let regen = r#"session_start();
$old = session_id();
session_regenerate_id(true);
$gone = !ephpm_kv_exists('php_session:' . $old);
echo getmypid(), ' ', $_SESSION['n'] ?? 0, ' ', session_id(), ' ', $old, ' ', $gone ? 'gone' : 'still-there', "\n";"#;
    site.page("regen.php", &session_page("", "", regen));
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
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
    assert!(!key_exists(&main, &old), "old key removed");
    assert!(key_exists(&main, &new), "new key stored");
    let (_, n, sid) = parse_counter(&browser.page("counter.php"));
    assert_eq!((n, sid), (4, new), "data carried over");
}

#[test]
fn destroy_removes_key() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    site.page("counter.php", &session_page("", "", COUNTER_BODY));
    site.page(
        "destroy.php",
        &session_page(
            "",
            "",
            "session_start(); echo json_encode(session_destroy());",
        ),
    );
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    browser.page("counter.php");
    let sid = browser.sid();
    assert!(key_exists(&main, &sid));
    assert_eq!(browser.page("destroy.php"), "true");
    assert!(!key_exists(&main, &sid), "destroyed session's key");
    let (_, n, _) = parse_counter(&browser.page("counter.php"));
    assert_eq!(n, 1, "a destroyed session starts over");
}

#[test]
fn session_expires_after_ttl() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    site.page(
        "counter.php",
        &session_page("", "'php_session:', 1", COUNTER_BODY),
    );
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let (_, n, _) = parse_counter(&browser.page("counter.php"));
    assert_eq!(n, 2);
    let sid = browser.sid();
    assert!(key_exists(&main, &sid));
    thread::sleep(Duration::from_millis(2500));
    assert!(!key_exists(&main, &sid), "key after its 1 s TTL");
    let (_, n, _) = parse_counter(&browser.page("counter.php"));
    assert_eq!(n, 1, "expired data is gone");
}

/// 40 requests (8 threads × 5) on one session, each adding 1 to `n` with a
/// `us` µs window between read and write; returns the final `n`.
fn parallel_increments(site: &Site, main: &Endpoint, locking: bool, us: u32) -> i64 {
    let args = format!("'php_session:', null, null, {locking}");
    let name = format!("inc-{locking}-{us}.php");
    site.page(
        &name,
        &session_page(
            "",
            &args,
            &format!(
                "session_start();\n$n = $_SESSION['n'] ?? 0;\nusleep({us});\n$_SESSION['n'] = $n + 1;\necho getmypid(), ' ', $n + 1, ' ', session_id(), \"\\n\";"
            ),
        ),
    );
    let read = format!("read-{locking}.php");
    site.page(&read, &session_page("", &args, READ_BODY));
    let mut browser = Browser::new(main);
    let (_, n, _) = parse_counter(&browser.page(&read));
    assert_eq!(n, 0);
    // The read page wrote nothing ($_SESSION empty): create the session.
    let answer_sid = browser.sid();
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
        let sid = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(sid, answer_sid, "one session for every request");
    }
    let (_, n, _) = parse_counter(&browser.page(&read));
    let lock = main.kv("exists", &format!("php_session:lock:{answer_sid}"), "");
    assert_eq!(lock.json, "false", "lock key left behind");
    n
}

#[test]
fn locking_serialises_concurrent_requests() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    let main = nginx.pool("main");
    let locked = parallel_increments(&site, &main, true, 2000);
    let mut unlocked = 0;
    let mut window = 0;
    for us in [2000, 20000, 100000] {
        window = us;
        unlocked = parallel_increments(&site, &main, false, us);
        if unlocked < 40 {
            break;
        }
    }
    println!(
        "40 parallel increments on one session: locking on n={locked}, \
         locking off n={unlocked} (window {window} µs)"
    );
    assert_eq!(locked, 40, "with locking");
    assert!(unlocked < 40, "without locking: no lost update");
}

/// Writes `text` at `path`, creating its directories (world-readable).
fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

#[test]
fn recipes_store_sessions_in_ephpm() {
    let site = Site::new();
    let setup = format!(
        "{}session_set_save_handler(new \\Ephpm\\SessionHandler\\KvSessionHandler(), true);\n",
        autoloader()
    );
    let prepend = site.path().join("prepend.php");
    write(&prepend, &setup);
    let pools = vec![
        Pool::new("main"),
        Pool::new("legacy").line(&format!(
            "php_admin_value[auto_prepend_file] = {}",
            prepend.display()
        )),
    ];
    let fpm = Fpm::start(&site, "sessions", pools);
    let nginx = Nginx::start(&site, &fpm);
    let www = site.www();
    // (a) A fresh project: bootstrap.php does the setup.
    write(&www.join("bootstrap.php"), &setup);
    site.page(
        "fresh.php",
        &format!("<?php\nrequire __DIR__ . '/bootstrap.php';\n{COUNTER_BODY}\n"),
    );
    // (b) WordPress: a must-use plugin, loaded before session_start().
    write(
        &www.join("wp-content/mu-plugins/ephpm-sessions.php"),
        &format!(
            "{}\n// Plugin Name: ePHPm sessions\nif (session_status() === PHP_SESSION_NONE) {{\n    \
             session_set_save_handler(new \\Ephpm\\SessionHandler\\KvSessionHandler(), true);\n}}\n",
            autoloader().trim_end()
        ),
    );
    site.page(
        "wp.php",
        &format!(
            "<?php\nforeach (glob(__DIR__ . '/wp-content/mu-plugins/*.php') as $f) {{ require_once $f; }}\n{COUNTER_BODY}\n"
        ),
    );
    // (c) A legacy page that only calls session_start(); the pool prepends
    // the setup.
    site.page("legacy.php", &format!("<?php\n{COUNTER_BODY}\n"));
    let main = nginx.pool("main");
    for (endpoint, page) in [
        (main.clone(), "fresh.php"),
        (main.clone(), "wp.php"),
        (nginx.pool("legacy"), "legacy.php"),
    ] {
        let mut browser = Browser::new(&endpoint);
        for i in 1..=3 {
            let (_, n, _) = parse_counter(&browser.page(page));
            assert_eq!(n, i, "{page} request {i}");
        }
        let sid = browser.sid();
        assert!(key_exists(&main, &sid), "{page}: session not in the store");
        let stored = main.kv("get", &format!("php_session:{sid}"), "").json;
        println!("{page}: session {sid} stored as {stored}");
    }
}

#[test]
fn locking_regenerate_and_destroy_leave_no_lock() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    let args = "'php_session:', null, null, true";
    site.page("counter.php", &session_page("", args, COUNTER_BODY));
    let regen = r#"session_start();
$old = session_id();
session_regenerate_id(true);
echo getmypid(), ' ', $_SESSION['n'] ?? 0, ' ', session_id(), "\n";"#;
    site.page("regen.php", &session_page("", args, regen));
    site.page(
        "destroy.php",
        &session_page(
            "",
            args,
            "session_start(); echo json_encode(session_destroy());",
        ),
    );
    let main = nginx.pool("main");
    let lock_exists = |sid: &str| {
        main.kv("exists", &format!("php_session:lock:{sid}"), "")
            .json
    };
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let old = browser.sid();
    let (_, n, new) = parse_counter(&browser.page("regen.php"));
    assert_eq!(n, 1);
    assert_ne!(new, old);
    assert_eq!(browser.sid(), new);
    assert_eq!(lock_exists(&old), "false", "old id's lock");
    assert_eq!(lock_exists(&new), "false", "new id's lock");
    assert!(!key_exists(&main, &old));
    let (_, n, _) = parse_counter(&browser.page("counter.php"));
    assert_eq!(n, 2);
    assert_eq!(browser.page("destroy.php"), "true");
    assert_eq!(lock_exists(&new), "false", "lock after destroy");
    assert!(!key_exists(&main, &new));
    // The next request is not kept waiting by a stale lock (it would warn).
    let (_, n, _) = parse_counter(&browser.page("counter.php"));
    assert_eq!(n, 1);
}

#[test]
fn lock_of_a_killed_worker_expires() {
    let (site, fpm, nginx) = servers(vec![Pool::new("main")]);
    // Lock TTL 1 s, waits up to 4 s.
    let args = "'php_session:', null, null, true, 4000, 1";
    site.page("counter.php", &session_page("", args, COUNTER_BODY));
    let hold = r#"session_start();
ephpm_kv_set('holder', (string) getmypid());
sleep(30);
echo 'not killed';"#;
    site.page("hold.php", &session_page("", args, hold));
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let sid = browser.sid();
    let holder_browser = browser.clone();
    let holder = thread::spawn(move || get(&holder_browser.endpoint, "hold.php", Some(&sid)));
    let pid: u32 = wait_for(Duration::from_secs(10), "hold.php to take the lock", || {
        main.kv("get", "holder", "")
            .json
            .trim_matches('"')
            .parse()
            .ok()
    });
    assert!(fpm.workers().contains(&pid), "holder {pid} is a worker");
    let lock_key = format!("php_session:lock:{}", browser.sid());
    assert_eq!(main.kv("exists", &lock_key, "").json, "true");
    assert!(signal(pid, libc::SIGKILL));
    let answer = holder.join().unwrap();
    assert_ne!(answer.body, "not killed");
    // The dead worker's lock expires within its 1 s TTL; the next request
    // gets it (no warning) and sees the data.
    let (_, n, _) = parse_counter(&browser.page("counter.php"));
    assert_eq!(n, 2);
    assert_eq!(main.kv("exists", &lock_key, "").json, "false");
}
