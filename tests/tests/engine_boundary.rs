//! The engine boundary under real php-fpm: an error handler that throws,
//! calls `exit()` or fails fatally while the extension raises a warning
//! (an oversized `ephpm_kv_set`, an oversized session written at the end
//! of the request, a full `noeviction` store for either, the session
//! lock-wait timeout). The pool has ONE worker, so the next request runs
//! in the same process: it must serve `ephpm_kv_*` and `session_start()`
//! normally, and the session's lock must be free at once. php-fpm's log
//! (where worker stderr goes) must show no Rust panic.

use ephpm_shm_tests::browser::servers;
use ephpm_shm_tests::servers::{first_pid, wait_for, Pool};
use std::thread;
use std::time::Duration;

/// The store's settings, the same in both pools (one segment). The pages
/// set the session id with `session_id()`, so `session.use_only_cookies`
/// keeps its default (turning it off is deprecated from PHP 8.4 on, and the
/// notice would be in every answer); those ids are unknown to the store
/// until the first write, which relies on strict mode being off (the php.ini
/// of [`Site`](ephpm_shm_tests::servers::Site) pins it: PHP 8.6 turns it on).
fn pool(name: &str) -> Pool {
    Pool::new(name)
        .workers(1)
        .line("php_admin_value[session.save_handler] = ephpm")
        .line("php_admin_value[ephpm_kv.size] = 1M")
        .line("php_admin_value[ephpm_kv.max_value_size] = 1K")
        .line("php_admin_value[ephpm_kv.eviction] = noeviction")
        .line("php_admin_value[session.use_cookies] = 0")
}

/// Makes the extension warn (case `case`) under an error handler of kind
/// `h`; prints the worker's pid first.
const TRIGGER: &str = r#"<?php
ob_start();
echo getmypid(), "\n";
$kind = $_GET['h'];
$sid = $_GET['sid'];
$fill = function () {
    set_error_handler(fn() => true);
    for ($n = 0; ephpm_kv_set("fill$n", str_repeat('f', 900)) && $n < 5000; $n++);
    restore_error_handler();
};
$handler = function (int $no, string $msg) use ($kind) {
    echo "handler($kind): $msg\n";
    // A fatal error discards buffered output: send it now.
    while (ob_get_level() > 0) {
        ob_end_flush();
    }
    if ($kind === 'throw') {
        throw new ErrorException($msg, 0, $no);
    }
    if ($kind === 'exit') {
        exit(0);
    }
    // Past memory_limit: a fatal error, the engine bails out.
    $GLOBALS['ballast'] = str_repeat('x', 1 << 30);
    return true;
};
switch ($_GET['case']) {
    case 'oversized_set':
        set_error_handler($handler);
        ephpm_kv_set('big', str_repeat('v', 5000));
        break;
    case 'oversized_session':
        // Written by ext/session after the script: the warning comes then.
        session_id($sid);
        session_start();
        $_SESSION['data'] = str_repeat('s', 5000);
        set_error_handler($handler);
        break;
    case 'full_set':
        $fill();
        set_error_handler($handler);
        ephpm_kv_set('one_more', str_repeat('f', 900));
        break;
    case 'full_session':
        session_id($sid);
        session_start();
        $fill();
        $_SESSION['data'] = str_repeat('s', 900);
        set_error_handler($handler);
        break;
    case 'lock_wait':
        ini_set('ephpm_kv.session_lock_wait_ms', '100');
        set_error_handler($handler);
        session_id($sid);
        session_start();
        break;
}
echo "end of script\n";
"#;

/// The next request: room in the store again (only the fill keys go),
/// then `ephpm_kv_*` and the session (waiting at most 200 ms for its lock).
const CHECK: &str = r#"<?php
ob_start();
for ($n = 0; ephpm_kv_del("fill$n"); $n++);
ephpm_kv_del('one_more');
$kv = ephpm_kv_set('check', 'v') && ephpm_kv_get('check') === 'v' && ephpm_kv_del('check') === 1;
ini_set('ephpm_kv.session_lock_wait_ms', '200');
session_id($_GET['sid']);
$started = session_start();
$_SESSION['checked'] = true;
$closed = session_write_close();
echo getmypid(), "\n", json_encode(['kv' => $kv, 'session' => $started && $closed]);
"#;

/// Holds session `sid` for 1 s (in the other pool's worker).
const HOLD: &str = r#"<?php
session_id($_GET['sid']);
session_start();
ephpm_kv_set('holding:' . $_GET['sid'], '1');
sleep(1);
echo 'held';
"#;

/// One case on fresh servers: what the next request saw, or what went wrong.
fn run_case(case: &str, h: &str) -> Result<String, String> {
    let (site, fpm, nginx) = servers(vec![pool("main"), pool("holder")]);
    site.page("trigger.php", TRIGGER);
    site.page("check.php", CHECK);
    site.page("hold.php", HOLD);
    let main = nginx.pool("main");
    let holder = nginx.pool("holder");
    let worker = first_pid(&main.page("kv.php?op=pid"));
    let sid = format!("{case}{h}0123456789").replace('_', "");
    let held = (case == "lock_wait").then(|| {
        let page = format!("hold.php?sid={sid}");
        let hold = thread::spawn(move || holder.page(&page));
        wait_for(Duration::from_secs(10), "the holder", || {
            (main.kv("get", &format!("holding:{sid}"), "").json == "\"1\"").then_some(())
        });
        hold
    });
    let triggered = main.try_get(&format!("trigger.php?case={case}&h={h}&sid={sid}"))?;
    if let Some(hold) = held {
        assert_eq!(hold.join().unwrap(), "held");
    }
    if !triggered.body.contains(&format!("handler({h}): ")) {
        return Err(format!("the handler did not run: {}", triggered.body));
    }
    // The session's lock is free at once: no key left behind, and the next
    // request gets it within its 200 ms bound.
    let lock = main.kv("get", &format!("php_session:lock:{sid}"), "").json;
    let check = main.page(&format!("check.php?sid={sid}"));
    let logs = fpm.logs();
    // The last two lines: pid and outcome (warnings come before).
    let mut lines = check.lines().rev();
    let (result, pid) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    if pid.parse::<u32>().ok() != Some(worker) {
        return Err(format!("not the same worker {worker}: {check}"));
    }
    if lock != "null" {
        return Err(format!("the lock was left held: {lock}"));
    }
    if result != r#"{"kv":true,"session":true}"# {
        return Err(format!("the same worker afterwards: {check}"));
    }
    if logs.contains("panicked") {
        return Err(format!("a panic in php-fpm's log:\n{logs}"));
    }
    Ok(format!(
        "lock after the request {lock}; next request {result}"
    ))
}

#[test]
fn a_throwing_exiting_or_fatal_error_handler_leaves_the_worker_working() {
    let mut failed = Vec::new();
    for case in [
        "oversized_set",
        "oversized_session",
        "full_set",
        "full_session",
        "lock_wait",
    ] {
        for h in ["throw", "exit", "fatal"] {
            match run_case(case, h) {
                Ok(outcome) => println!("{case}/{h}: {outcome}"),
                Err(e) => {
                    println!("{case}/{h}: FAILED: {e}");
                    failed.push(format!("{case}/{h}"));
                }
            }
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}
