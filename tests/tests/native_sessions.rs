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
    // The warning names the session by the start of its id only (a log
    // must not hold usable ids), the bound and the holder.
    let gave_up = format!(
        "session_start(): ephpm: gave up waiting for the lock on session {}",
        &sid[..6]
    );
    let warning = waiter
        .body
        .lines()
        .find(|line| line.contains(&gave_up))
        .unwrap_or_else(|| panic!("no gave-up warning: {}", waiter.body));
    let (_, after) = warning.split_once(" after ").expect("after <N> ms");
    let (ms, rest) = after.split_once(" ms").expect("after <N> ms");
    let ms: u64 = ms.parse().unwrap_or_else(|_| panic!("<N> in {warning}"));
    assert!(ms >= 300, "gave up after {ms} ms, before the 300 ms bound");
    assert!(
        rest.contains(&format!("pid {pid}")),
        "names the holder {pid}: {warning}"
    );
    assert!(
        !warning.contains(&sid),
        "the whole id in the warning: {warning}"
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

/// What request B, on the session of a request A (a page with `a_body`)
/// and started once A set key `a_mark`, saw of `$_SESSION['a']`; what A
/// answered; and whether B answered first.
struct WhileARuns {
    b_saw: String,
    a_answered: String,
    b_answered_first: bool,
}

fn while_a_runs(a_body: &str) -> WhileARuns {
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    site.page("counter.php", &native(COUNTER_BODY));
    site.page("a.php", &native(a_body));
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
        let answer = a_browser.get("a.php");
        (answer, Instant::now())
    });
    wait_for(Duration::from_secs(10), "A to set a_mark", || {
        kv_exists(&main, "a_mark").then_some(())
    });
    let b_saw = browser.page("read-a.php");
    let b_done = Instant::now();
    let (a_answer, a_done) = a.join().unwrap();
    println!(
        "B answered {:?} after the start of A, A {:?}",
        b_done - started,
        a_done - started
    );
    assert_eq!(a_answer.status, 200, "A: {}", a_answer.body);
    assert!(!lock_exists(&main, &browser.sid()), "lock left behind");
    WhileARuns {
        b_saw,
        a_answered: a_answer.body,
        b_answered_first: b_done < a_done,
    }
}

#[test]
fn session_write_close_releases_the_lock_early() {
    // Writes its PID, closes the session, then goes on for 2 s.
    let seen = while_a_runs(
        r#"session_start();
$_SESSION['a'] = getmypid();
session_write_close();
ephpm_kv_set('a_mark', '1');
sleep(2);
echo getmypid();"#,
    );
    assert!(seen.b_answered_first, "B waited for the end of A's request");
    assert_eq!(seen.b_saw, seen.a_answered, "B saw A's write");
}

#[test]
fn a_session_started_again_after_write_close_is_locked_again() {
    // Closes the session, opens it again, and writes 1 s later.
    let seen = while_a_runs(
        r#"session_start();
$_SESSION['a'] = 'first';
session_write_close();
session_start();
ephpm_kv_set('a_mark', '1');
sleep(1);
$_SESSION['a'] = 'second';
echo 'a done';"#,
    );
    // B started during A's second session; had it not waited for A, it
    // would have read A's first write. (Which answer arrives first is a
    // race: A's lock is released before its response ends.)
    assert_eq!(seen.a_answered, "a done");
    assert_eq!(seen.b_saw, "\"second\"", "B read A's first write only");
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
        // Inspects the session store through kv.php (with the store's
        // eviction policy: asking for another would be warned about).
        Pool::new("inspect")
            .kv_name("sessions_only")
            .line("php_admin_value[ephpm_kv.size] = 8M")
            .line("php_admin_value[ephpm_kv.eviction] = volatile-lru"),
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

/// A holds the session and waits for `b_done`; B writes the session once
/// A's lock was deleted from outside (as `flush_all` or an eviction would).
const LOST_A_BODY: &str = r#"session_start();
$_SESSION['by'] = 'a';
ephpm_kv_set('a_mark', '1');
for ($i = 0; $i < 1000 && !ephpm_kv_exists('b_done'); $i++) {
    usleep(10000);
}
echo 'a done';"#;

const LOST_B_BODY: &str = r#"session_start();
$_SESSION['by'] = 'b';
session_write_close();
ephpm_kv_set('b_done', '1');
echo 'b done';"#;

#[test]
fn a_live_lock_has_no_ttl_and_a_lost_one_refuses_the_write() {
    let (site, _fpm, nginx) = servers(vec![native_pool()]);
    site.page("pttl.php", PTTL_PAGE);
    site.page("counter.php", &native(COUNTER_BODY));
    site.page("a.php", &native(LOST_A_BODY));
    site.page("b.php", &native_waiting_at_most(1000, LOST_B_BODY));
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    let sid = browser.sid();
    let a_browser = browser.clone();
    let a = thread::spawn(move || a_browser.get("a.php"));
    wait_for(Duration::from_secs(10), "A to set a_mark", || {
        kv_exists(&main, "a_mark").then_some(())
    });
    let lock_key = format!("php_session:lock:{sid}");
    // Held by a live request: no TTL that could end it.
    assert_eq!(
        pttl(&main, &lock_key),
        -1,
        "the lock of a live request has a TTL"
    );
    assert_eq!(main.kv("del", &lock_key, "").json, "1");
    let b = browser.get("b.php");
    assert_eq!((b.status, b.body.as_str()), (200, "b done"), "{}", b.body);
    let a = a.join().unwrap();
    println!("A answered: {}", a.body);
    assert!(
        a.body.contains("ephpm: session lock not held"),
        "A's refused write warns: {}",
        a.body
    );
    assert_eq!(
        stored_session(&main, &sid),
        "\"n|i:1;by|s:1:\\\"b\\\";\"",
        "B's write, not overwritten by A"
    );
    assert!(!lock_exists(&main, &sid), "lock left behind");
}
