//! `ephpm_kv_wait` across processes on real php-fpm (`pm = static`, 4
//! workers, behind nginx): a request blocked in it is woken by a write from
//! another worker and from php-cli, 100 waiters (fpm requests and php-cli
//! processes) wake on one write, a wait times out, and a waiter whose worker
//! is SIGKILLed leaves nothing behind.

use ephpm_shm_tests::browser::servers;
use ephpm_shm_tests::servers::{first_pid, json_int, signal, urlencode, wait_for, Endpoint, Pool};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

/// `wait.php?key=&v=&t=`: the worker's pid, then what `ephpm_kv_wait`
/// returned as JSON (`false` at the timeout). It records its pid under
/// `waiter:<key>` before it waits.
const WAIT_PAGE: &str = r#"<?php
ephpm_kv_set('waiter:' . $_GET['key'], (string) getmypid());
ephpm_kv_incr('ready:' . $_GET['key']);
$r = ephpm_kv_wait($_GET['key'], (int) $_GET['v'], (int) $_GET['t']);
echo getmypid(), ' ', json_encode($r);
"#;

/// `version.php?key=`: the key's current version.
const VERSION_PAGE: &str = r#"<?php
echo ephpm_kv_wait($_GET['key'], 0, 0)['version'];
"#;

/// `set.php?key=&value=`: the worker's pid after the write.
const SET_PAGE: &str = r#"<?php
ephpm_kv_set($_GET['key'], $_GET['value']);
echo getmypid();
"#;

/// `stats.php`: the store's figures as JSON.
const STATS_PAGE: &str = "<?php echo json_encode(ephpm_kv_stats());\n";

const KV_NAME: &str = "sessions";

fn version(main: &Endpoint, key: &str) -> i64 {
    let body = main.page(&format!("version.php?key={}", urlencode(key)));
    body.trim()
        .parse()
        .unwrap_or_else(|_| panic!("version.php answered {body:?}"))
}

/// Starts a request blocked in `ephpm_kv_wait(key, v, t)`; returns its body.
fn start_waiter(main: &Endpoint, key: &str, v: i64, t_ms: u64) -> thread::JoinHandle<String> {
    let main = main.clone();
    let page = format!("wait.php?key={}&v={v}&t={t_ms}", urlencode(key));
    thread::spawn(move || {
        let r = main
            .try_get_within(&page, Duration::from_millis(t_ms) + Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    })
}

/// Waits until `n` waiters on `key` have said they are about to wait,
/// then a little longer so they are asleep (one that is not yet asleep
/// sees the new version at once: the same outcome).
fn until_ready(site: &ephpm_shm_tests::servers::Site, key: &str, n: i64) {
    wait_for(Duration::from_secs(30), "waiters ready", || {
        let got = site.php_run(
            KV_NAME,
            None,
            &format!("echo (int) ephpm_kv_get('ready:{key}');"),
        );
        (got.trim().parse::<i64>().ok()? >= n).then_some(())
    });
    thread::sleep(Duration::from_millis(300));
}

fn value_of(body: &str) -> String {
    let json = body.split_once(' ').map_or("", |(_, j)| j);
    let start = json.find("\"value\":\"").map(|i| i + 9);
    match start {
        Some(i) => json[i..json[i..].find('"').map_or(json.len(), |e| i + e)].to_string(),
        None => json.to_string(),
    }
}

#[test]
fn a_blocked_request_is_woken_by_another_worker_by_php_cli_and_times_out() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    for (name, page) in [
        ("wait.php", WAIT_PAGE),
        ("version.php", VERSION_PAGE),
        ("set.php", SET_PAGE),
        ("stats.php", STATS_PAGE),
    ] {
        site.page(name, page);
    }
    let main = nginx.pool("main");

    // Woken by a write from another worker.
    let v = version(&main, "news");
    let waiter = start_waiter(&main, "news", v, 20_000);
    until_ready(&site, "news", 1);
    assert!(!waiter.is_finished(), "returned before any write");
    let started = Instant::now();
    let setter = first_pid(&main.page("set.php?key=news&value=from-a-worker"));
    let body = waiter.join().unwrap();
    println!(
        "woken by worker {setter} after {:?}: {body}",
        started.elapsed()
    );
    assert_eq!(value_of(&body), "from-a-worker", "{body}");
    assert_ne!(
        first_pid(&body),
        setter,
        "the waiter and the writer are two workers"
    );
    assert!(json_int(&body, "version").unwrap() > v, "{body}");

    // Woken by php-cli.
    let v = version(&main, "news");
    let waiter = start_waiter(&main, "news", v, 20_000);
    until_ready(&site, "news", 2);
    assert!(!waiter.is_finished(), "returned before any write");
    site.php_run(KV_NAME, None, "ephpm_kv_set('news', 'from-php-cli');");
    let body = waiter.join().unwrap();
    assert_eq!(value_of(&body), "from-php-cli", "{body}");

    // Nothing written: false at the timeout.
    let v = version(&main, "quiet");
    let started = Instant::now();
    let body = start_waiter(&main, "quiet", v, 300).join().unwrap();
    assert!(body.ends_with(" false"), "{body}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A waiter whose worker is killed while it sleeps: the pool and the
    // key go on working, and its lease lapses.
    let v = version(&main, "doomed");
    let doomed = {
        let (main, page) = (main.clone(), format!("wait.php?key=doomed&v={v}&t=60000"));
        // nginx answers the killed request with an error (502): not our concern.
        thread::spawn(move || main.try_get_within(&page, Duration::from_secs(70)))
    };
    until_ready(&site, "doomed", 1);
    let pid: u32 = site
        .php_run(KV_NAME, None, "echo ephpm_kv_get('waiter:doomed');")
        .trim()
        .parse()
        .unwrap();
    assert!(signal(pid, libc::SIGKILL));
    let _ = doomed.join();
    thread::sleep(Duration::from_millis(2200));
    let stats = main.page("stats.php");
    assert_eq!(json_int(&stats, "waited_keys"), Some(0), "{stats}");
    let v = version(&main, "doomed");
    let waiter = start_waiter(&main, "doomed", v, 20_000);
    until_ready(&site, "doomed", 2);
    main.page("set.php?key=doomed&value=still-works");
    assert_eq!(value_of(&waiter.join().unwrap()), "still-works");
    let verify = site.php_run(
        KV_NAME,
        None,
        "echo json_encode(ephpm_kv_stats()['available']);",
    );
    assert_eq!(verify.trim(), "true");
}

#[test]
fn a_hundred_waiters_in_fpm_and_php_cli_all_wake_on_one_write() {
    let (site, _fpm, nginx) = servers(vec![Pool::new("main")]);
    site.page("wait.php", WAIT_PAGE);
    site.page("version.php", VERSION_PAGE);
    let main = nginx.pool("main");
    let v = version(&main, "fan");
    // Every fpm worker blocked in a wait, and 96 php-cli processes.
    let fpm_waiters: Vec<_> = (0..4)
        .map(|_| start_waiter(&main, "fan", v, 30_000))
        .collect();
    let code = format!(
        "ephpm_kv_incr('ready:fan'); $r = ephpm_kv_wait('fan', {v}, 30000); echo json_encode($r);"
    );
    let cli_waiters: Vec<_> = (0..96)
        .map(|_| {
            site.php_cli(KV_NAME, None)
                .arg("-r")
                .arg(&code)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("php-cli")
        })
        .collect();
    until_ready(&site, "fan", 100);
    let started = Instant::now();
    site.php_run(KV_NAME, None, "ephpm_kv_set('fan', 'out');");
    for w in fpm_waiters {
        let body = w.join().unwrap();
        assert_eq!(value_of(&body), "out", "{body}");
    }
    for w in cli_waiters {
        let out = w.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("\"value\":\"out\""), "{stdout}");
    }
    println!(
        "100 waiters woke within {:?} of the write",
        started.elapsed()
    );
}
