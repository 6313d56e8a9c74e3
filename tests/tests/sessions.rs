//! The composer package `ephpm/session-handler` (`php/src`) end to end:
//! php-fpm (`pm = static`, 4 workers) behind nginx with the extension
//! loaded, sessions stored in the shared `ephpm_kv` store, a cookie jar on
//! the Rust side. Counters across workers, lazy writes refreshing the TTL,
//! strict mode, id regeneration, destroy, expiry, lost updates without
//! locking and none with it, and three installation recipes. The scenarios
//! are shared with the native handler's tests (`ephpm_shm_tests::browser`).

use ephpm_shm_tests::browser::{
    self, autoloader, key_exists, run_scenario, servers, session_page, Browser, COUNTER_BODY,
    HOLD_BODY,
};
use ephpm_shm_tests::servers::{Fpm, Nginx, Pool, Site};
use std::fs;
use std::path::Path;

/// Turns a body into a page with the handler built with `args`.
fn with_handler(args: &str) -> impl Fn(&str) -> String + '_ {
    move |body| session_page("", args, body)
}

/// Arguments of a handler with locking on.
const LOCKING: &str = "'php_session:', null, null, true";

#[test]
fn counter_across_workers() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    browser::counter_across_workers(&site, &nginx.pool("main"), &with_handler(""));
}

#[test]
fn lazy_write_refreshes_ttl() {
    run_scenario(
        Pool::new("main"),
        browser::lazy_write_refreshes_ttl,
        &with_handler(""),
    );
}

#[test]
fn strict_mode_rejects_unknown_id() {
    run_scenario(
        Pool::new("main"),
        browser::strict_mode_rejects_unknown_id,
        &with_handler(""),
    );
}

#[test]
fn regenerate_id_removes_old_key_and_keeps_data() {
    run_scenario(
        Pool::new("main"),
        browser::regenerate_id_removes_old_key_and_keeps_data,
        &with_handler(""),
    );
}

#[test]
fn destroy_removes_key() {
    run_scenario(
        Pool::new("main"),
        browser::destroy_removes_key,
        &with_handler(""),
    );
}

#[test]
fn session_expires_after_ttl() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    // A fixed TTL of 1 s given to the constructor.
    site.page(
        "counter.php",
        &session_page("", "'php_session:', 1", COUNTER_BODY),
    );
    browser::session_expires_after_one_second(&nginx.pool("main"), "counter.php");
}

#[test]
fn locking_serialises_concurrent_requests() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    let main = nginx.pool("main");
    let locked =
        browser::parallel_increments(&site, &main, "locking", &with_handler(LOCKING), 2000);
    let unlocked_args = "'php_session:', null, null, false";
    let (unlocked, window) =
        browser::lost_updates(&site, &main, "no-locking", &with_handler(unlocked_args));
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
            let (_, n, _) = browser.counter(page);
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
    let main = nginx.pool("main");
    browser::regenerate_id_removes_old_key_and_keeps_data(&site, &main, &with_handler(LOCKING));
    browser::destroy_removes_key(&site, &main, &with_handler(LOCKING));
}

#[test]
fn lock_of_a_killed_worker_expires() {
    let (site, fpm, nginx) = servers(vec![Pool::new("main")]);
    // Lock TTL 1 s, waits up to 4 s.
    let args = "'php_session:', null, null, true, 4000, 1";
    site.page("counter.php", &session_page("", args, COUNTER_BODY));
    site.page("hold.php", &session_page("", args, HOLD_BODY));
    let main = nginx.pool("main");
    let mut browser = Browser::new(&main);
    browser.page("counter.php");
    browser::kill_lock_holder(&fpm, &browser, "hold.php");
    // The dead worker's lock expires within its 1 s TTL; the next request
    // gets it (no warning) and sees the data.
    let (_, n, _) = browser.counter("counter.php");
    assert_eq!(n, 2);
    assert!(!browser::lock_exists(&main, &browser.sid()));
}
