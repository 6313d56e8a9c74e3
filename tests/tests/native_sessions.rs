//! The extension's native session module end to end: php-fpm (`pm =
//! static`, 4 workers) behind nginx with `session.save_handler = ephpm` in
//! the pool's configuration, and pages that only call `session_start()` (as
//! a legacy application does once php.ini is switched). The scenarios the
//! composer handler passes too (`ephpm_shm_tests::browser`), then what only
//! the native module does: locking by default with a bounded wait and its
//! warning, early release by `session_write_close()`, takeover of a lock
//! whose holder died, switching to and from the composer handler, and a
//! separate store named by `session.save_path`.

use ephpm_shm_tests::browser::{
    self, get, key_exists, kv_exists, lock_exists, run_scenario, servers, session_page,
    start_holder, stored_session, Browser, COUNTER_BODY, HOLD_BODY,
};
use ephpm_shm_tests::servers::{urlencode, wait_for, Endpoint, Fpm, Pool};
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// The pool configuration that switches a site to the native module.
const NATIVE_HANDLER: &str = "php_admin_value[session.save_handler] = ephpm";

/// A pool of native sessions.
fn native_pool() -> Pool {
    Pool::new("main").line(NATIVE_HANDLER)
}

/// A page that does nothing but `body`: no handler installed in PHP code.
fn native(body: &str) -> String {
    format!("<?php\n{body}\n")
}

/// A native page whose request waits at most `ms` for the session's lock.
fn native_waiting_at_most(ms: u32, body: &str) -> String {
    native(&format!(
        "ini_set('ephpm_kv.session_lock_wait_ms', {ms});\n{body}"
    ))
}

/// The remaining TTL of `key` in ms, through a page of `endpoint`'s pool.
fn pttl(endpoint: &Endpoint, key: &str) -> i64 {
    let body = endpoint.page(&format!("pttl.php?key={}", urlencode(key)));
    body.trim()
        .parse()
        .unwrap_or_else(|_| panic!("pttl.php answered {body:?}"))
}

/// Prints the remaining TTL in ms of key `key` (`ephpm_kv_pttl`).
const PTTL_PAGE: &str = "<?php echo ephpm_kv_pttl($_GET['key']);\n";

#[test]
fn counter_across_workers() {
    let (site, _fpm, nginx) = servers(vec![
        native_pool().line("php_admin_value[session.gc_maxlifetime] = 600")
    ]);
    site.page("pttl.php", PTTL_PAGE);
    let main = nginx.pool("main");
    let browser = browser::counter_across_workers(&site, &main, &native);
    let sid = browser.sid();
    // PHP's own serialization, stored under the composer handler's key.
    assert_eq!(stored_session(&main, &sid), "\"n|i:20;\"");
    let ttl = pttl(&main, &format!("php_session:{sid}"));
    println!("session {sid}: pttl {ttl} ms with gc_maxlifetime 600 s");
    assert!(
        ttl > 590_000 && ttl <= 600_000,
        "TTL follows session.gc_maxlifetime: {ttl} ms"
    );
}

#[test]
fn lazy_write_refreshes_ttl() {
    run_scenario(native_pool(), browser::lazy_write_refreshes_ttl, &native);
}

#[test]
fn strict_mode_rejects_unknown_id() {
    run_scenario(
        native_pool(),
        browser::strict_mode_rejects_unknown_id,
        &native,
    );
}

#[test]
fn regenerate_id_removes_old_key_and_lock_and_keeps_data() {
    run_scenario(
        native_pool(),
        browser::regenerate_id_removes_old_key_and_keeps_data,
        &native,
    );
}

#[test]
fn destroy_removes_key_and_lock() {
    run_scenario(native_pool(), browser::destroy_removes_key, &native);
}

#[test]
fn session_expires_after_gc_maxlifetime() {
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    site.page(
        "expiring.php",
        &native(&format!(
            "ini_set('session.gc_maxlifetime', 1);\n{COUNTER_BODY}"
        )),
    );
    browser::session_expires_after_one_second(&nginx.pool("main"), "expiring.php");
}

#[test]
fn locking_by_default_and_lost_updates_without() {
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    let main = nginx.pool("main");
    let locked = browser::parallel_increments(&site, &main, "default", &native, 2000);
    let unlocked_page =
        |body: &str| native(&format!("ini_set('ephpm_kv.session_locking', 0);\n{body}"));
    let (unlocked, window) = browser::lost_updates(&site, &main, "no-locking", &unlocked_page);
    println!(
        "40 parallel increments on one native session: locking by default n={locked}, \
         ephpm_kv.session_locking=0 n={unlocked} (window {window} µs)"
    );
    assert_eq!(locked, 40, "with locking (the default)");
    assert!(unlocked < 40, "without locking: no lost update");
}

/// A session whose lock holder (serving `hold.php`: [`HOLD_BODY`]) dies by
/// `kill`, which returns the holder's PID: the next request on it, waiting
/// for the lock at most 1 s, gets it (no warning) and sees the data written
/// before. The dead holder is noticed, not waited out.
fn next_request_after_the_holder_died(
    pool: Pool,
    how: &str,
    kill: impl FnOnce(&Fpm, &Browser) -> u32,
) {
    let (site, fpm, nginx) = servers(vec![pool]);
    site.page("counter.php", &native(COUNTER_BODY));
    site.page("hold.php", &native(HOLD_BODY));
    site.page(
        "counter-1s.php",
        &native_waiting_at_most(1000, COUNTER_BODY),
    );
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let pid = kill(&fpm, &browser);
    let started = Instant::now();
    let (_, n, _) = browser.counter("counter-1s.php");
    let took = started.elapsed();
    println!("holder {pid} {how}; the next request on its session took {took:?}");
    assert_eq!(n, 2, "the data written before the holder died");
    assert!(!lock_exists(&main, &browser.sid()), "lock left behind");
}

#[test]
fn lock_of_a_killed_worker_is_taken_over() {
    next_request_after_the_holder_died(native_pool(), "SIGKILLed", |fpm, browser| {
        let (pid, lock) = browser::kill_lock_holder(fpm, browser, "hold.php");
        assert!(
            lock.starts_with(&format!("\"ephpm-lock pid={pid} ")),
            "lock value names its holder {pid}: {lock}"
        );
        pid
    });
}

#[test]
fn lock_of_a_request_killed_by_request_terminate_timeout_is_taken_over() {
    // Longer than the next request's wait bound, which must not be cut short.
    let pool = native_pool().line("request_terminate_timeout = 2s");
    let how = "terminated by request_terminate_timeout = 2s";
    next_request_after_the_holder_died(pool, how, |_, browser| {
        let (holder, pid) = start_holder(browser, "hold.php");
        assert!(
            lock_exists(&browser.endpoint, &browser.sid()),
            "lock while held"
        );
        let answer = holder.join().unwrap();
        assert_ne!(answer.body, "not killed", "php-fpm let the request run on");
        println!("the terminated request answered {}", answer.status);
        pid
    });
}

/// Holds the session for 3 s (its PID at key `holder`, as [`HOLD_BODY`]),
/// then writes its PID into it.
const HOLD_3S_BODY: &str = r#"session_start();
$_SESSION['holder'] = getmypid();
ephpm_kv_set('holder', (string) getmypid());
sleep(3);
echo 'held';"#;

#[test]
fn waiting_for_the_lock_is_bounded_and_writes_nothing() {
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    site.page("counter.php", &native(COUNTER_BODY));
    site.page("hold-3s.php", &native(HOLD_3S_BODY));
    site.page(
        "waiter.php",
        &native_waiting_at_most(
            300,
            "$started = session_start();\n\
             $_SESSION['waiter'] = getmypid();\n\
             echo \"\\nstarted=\", json_encode($started), \"\\n\";",
        ),
    );
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let sid = browser.sid();
    let (holder, pid) = start_holder(&browser, "hold-3s.php");
    let lock_key = format!("php_session:lock:{sid}");
    let lock = main.kv("get", &lock_key, "").json;
    let started = Instant::now();
    let waiter = browser.get("waiter.php");
    let waited = started.elapsed();
    let holder_still_running = !holder.is_finished();
    println!("waiter answered after {waited:?}:\n{}", waiter.body);
    assert_eq!(waiter.status, 200, "{}", waiter.body);
    assert!(holder_still_running, "the waiter waited for the holder");
    let gave_up =
        format!("session_start(): ephpm: gave up waiting for the lock on session {sid} after ");
    let after = waiter
        .body
        .split_once(&gave_up)
        .unwrap_or_else(|| panic!("no gave-up warning: {}", waiter.body))
        .1;
    let (ms, rest) = after.split_once(" ms ").expect("after <N> ms");
    let ms: u64 = ms.parse().unwrap_or_else(|_| panic!("<N> in {after}"));
    assert!(ms >= 300, "gave up after {ms} ms, before the 300 ms bound");
    assert!(
        rest.starts_with(&format!("(held by pid {pid})")),
        "names the holder {pid}: {rest}"
    );
    assert!(
        waiter
            .body
            .contains("session_start(): Failed to read session data: ephpm"),
        "{}",
        waiter.body
    );
    assert!(waiter.body.contains("started=false"), "{}", waiter.body);
    // Only the owner releases: the waiter's close left the holder's lock.
    assert_eq!(main.kv("get", &lock_key, "").json, lock, "holder's lock");
    let held = holder.join().unwrap();
    assert_eq!((held.status, held.body.as_str()), (200, "held"));
    assert_eq!(
        stored_session(&main, &sid),
        format!("\"n|i:1;holder|i:{pid};\""),
        "the holder's write, and nothing of the waiter"
    );
    assert!(!lock_exists(&main, &sid), "lock left behind");
}

/// Writes its PID into the session, closes it (key `a_closed` says so),
/// then goes on for 2 s and prints its PID.
const CLOSE_EARLY_BODY: &str = r#"session_start();
$_SESSION['a'] = getmypid();
session_write_close();
ephpm_kv_set('a_closed', '1');
sleep(2);
echo 'a done ', getmypid();"#;

#[test]
fn session_write_close_releases_the_lock_early() {
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    site.page("counter.php", &native(COUNTER_BODY));
    site.page("close-early.php", &native(CLOSE_EARLY_BODY));
    site.page(
        "read-a.php",
        &native("session_start();\necho json_encode($_SESSION['a'] ?? null);"),
    );
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let a_browser = browser.clone();
    let started = Instant::now();
    let a = thread::spawn(move || {
        let answer = a_browser.get("close-early.php");
        (answer, Instant::now())
    });
    wait_for(Duration::from_secs(10), "A's session_write_close()", || {
        kv_exists(&main, "a_closed").then_some(())
    });
    let b_body = browser.page("read-a.php");
    let b_done = Instant::now();
    let (a_answer, a_done) = a.join().unwrap();
    println!(
        "B answered {:?} after the start of A, A {:?}",
        b_done - started,
        a_done - started
    );
    let a_pid = a_answer
        .body
        .strip_prefix("a done ")
        .unwrap_or_else(|| panic!("A answered {:?}", a_answer.body));
    assert!(b_done < a_done, "B waited for the end of A's request");
    assert_eq!(b_body, a_pid, "B saw A's write");
    assert!(!lock_exists(&main, &browser.sid()), "lock left behind");
}

#[test]
fn switching_to_and_from_the_composer_handler_keeps_the_session() {
    // php_value, not php_admin_value: pages may still install a handler.
    let (site, _fpm, nginx) = servers(vec![
        Pool::new("main").line("php_value[session.save_handler] = ephpm")
    ]);
    let login = "session_start();\n$_SESSION['user'] = 'alice';\necho 'welcome';";
    site.page("login.php", &native(login));
    site.page("native.php", &native(COUNTER_BODY));
    let locking = "'php_session:', null, null, true";
    site.page("composer.php", &session_page("", locking, COUNTER_BODY));
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    assert_eq!(browser.page("login.php"), "welcome");
    let sid = browser.sid();
    let mut served = Vec::new();
    for (page, want) in [
        ("native.php", 1),
        ("composer.php", 2),
        ("native.php", 3),
        ("composer.php", 4),
    ] {
        let (_, n, page_sid) = browser.counter(page);
        assert_eq!((n, page_sid.as_str()), (want, sid.as_str()), "{page}");
        served.push(format!("{page}: n={n}"));
    }
    println!("one session across handlers: {served:?}");
    assert_eq!(
        stored_session(&main, &sid),
        "\"user|s:5:\\\"alice\\\";n|i:4;\"",
        "still logged in"
    );
    assert!(!lock_exists(&main, &sid), "lock left behind");
}

#[test]
fn save_path_names_a_separate_store_that_survives_flush_all() {
    let (site, _fpm, nginx) = servers(vec![
        native_pool().line(
            "php_admin_value[session.save_path] = \"sessions_only?size=8M&eviction=volatile-lru\"",
        ),
        // Inspects the session store through kv.php.
        Pool::new("inspect")
            .kv_name("sessions_only")
            .line("php_admin_value[ephpm_kv.size] = 8M"),
    ]);
    site.page("counter.php", &native(COUNTER_BODY));
    site.page(
        "flush.php",
        "<?php echo json_encode(ephpm_kv_flush_all());\n",
    );
    let main = nginx.pool("main");
    let sessions_only = nginx.pool("inspect");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    browser.page("counter.php");
    let sid = browser.sid();
    let segment = site.segment("sessions_only");
    let len = fs::metadata(&segment)
        .unwrap_or_else(|e| panic!("{}: {e}", segment.display()))
        .len();
    println!("session store {} ({len} bytes)", segment.display());
    // The segment is a little smaller than its size; ephpm_kv.size is 16M.
    assert!(
        len > 7 << 20 && len <= 8 << 20,
        "size=8M of session.save_path: {len} bytes"
    );
    assert!(key_exists(&sessions_only, &sid), "in the session store");
    assert!(!key_exists(&main, &sid), "in the main store");
    main.kv("set", "cache:page", "cached");
    assert_eq!(main.page("flush.php"), "true");
    assert!(!kv_exists(&main, "cache:page"), "flush_all flushed nothing");
    let (_, n, _) = browser.counter("counter.php");
    assert_eq!(n, 3, "the session survived flush_all on the main store");
    assert!(!lock_exists(&sessions_only, &sid) && !lock_exists(&main, &sid));
}

#[test]
fn unknown_cookie_without_strict_mode_reads_empty_and_is_created() {
    // A legacy page only calls session_start(): nothing else is needed.
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    site.page("counter.php", &native(COUNTER_BODY));
    let main = nginx.pool("main");
    let sid = "legacycookie0123456789abcdefgh";
    let answer = get(&main, "counter.php", Some(sid));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (_, n, used) = browser::parse_counter(&answer.body);
    assert_eq!((n, used.as_str()), (1, sid), "{}", answer.body);
    assert!(key_exists(&main, sid));
}
