//! The `apcu` module's PHP-level tests (`apcu/tests/*.phpt`), run with PHP's
//! own `run-tests.php` (the runner: `ephpm_shm_tests::phpt`) against
//! `target/release/libephpm_apcu.so` (or `$EPHPM_APCU_SO`), with
//! `apc.dir` set to a fresh directory. Tests in php-cli without `apc.name`
//! each get a store private to their process, as APCu's CLI does.

use ephpm_shm_tests::phpt::{apcu_so, PhptSuite};

#[test]
fn every_apcu_phpt_passes() {
    // Absolute: `extension=` resolves a relative path against extension_dir.
    let so = std::fs::canonicalize(apcu_so()).expect("canonical path of the module");
    let store_dir = tempfile::tempdir().expect("temp dir");
    PhptSuite {
        folder: "apcu/tests",
        beside: &[],
        ini: vec![
            format!("extension={}", so.display()),
            format!("apc.dir={}", store_dir.path().display()),
        ],
        env: vec![("EPHPM_APCU_SO", so.clone().into_os_string())],
    }
    .run_all_pass();
}

// ------------------------------------------------ one store, many processes
//
// php-cli processes started here, each with `-n`, the module, `apc.dir` a
// fresh directory and `apc.enable_cli=1`; those with the same `apc.name`
// share a store.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// php-cli with the module, its segments in `dir`, store `name` (none:
/// the process's private store), running `code`.
fn php(dir: &Path, name: Option<&str>, code: &str) -> Command {
    let so = std::fs::canonicalize(apcu_so()).expect("canonical path of the module");
    let mut cmd = Command::new(&ephpm_shm_tests::php::php().binary);
    cmd.arg("-n")
        .arg("-d")
        .arg(format!("extension={}", so.display()))
        .arg("-d")
        .arg(format!("apc.dir={}", dir.display()))
        .arg("-d")
        .arg("apc.enable_cli=1");
    if let Some(name) = name {
        cmd.arg("-d").arg(format!("apc.name={name}"));
    }
    cmd.arg("-r").arg(code);
    cmd
}

/// Runs it; its stdout, which must be all it wrote (no warning on stderr).
fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("run php");
    checked(out)
}

fn checked(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty() && !stdout.contains("Warning"),
        "php failed: {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    stdout
}

#[test]
fn processes_with_the_same_name_share_a_store_and_others_do_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    run(php(
        d,
        Some("pool-a"),
        "var_dump(apcu_store('k', ['from' => 'a', 'n' => 1]));",
    ));
    run(php(d, Some("pool-b"), "apcu_store('k', 'pool b');"));
    assert_eq!(
        run(php(
            d,
            Some("pool-a"),
            "echo json_encode(apcu_fetch('k')), apcu_inc('n');"
        )),
        r#"{"from":"a","n":1}1"#
    );
    assert_eq!(run(php(d, Some("pool-a"), "echo apcu_inc('n');")), "2");
    assert_eq!(
        run(php(d, Some("pool-b"), "echo apcu_fetch('k');")),
        "pool b"
    );
    // Without apc.name, php-cli has a store of its own, as APCu's CLI does.
    assert_eq!(
        run(php(
            d,
            None,
            "apcu_store('k', 'mine'); echo apcu_fetch('k');"
        )),
        "mine"
    );
    assert_eq!(
        run(php(d, None, "var_dump(apcu_fetch('k'));")),
        "bool(false)\n"
    );
    // ... and leaves no segment behind; the named stores are in apc.dir.
    let mut files: Vec<String> = std::fs::read_dir(d)
        .expect("read apc.dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["ephpm_kv.apcu.pool-a", "ephpm_kv.apcu.pool-b"]);
}

#[test]
fn clear_cache_leaves_ephpm_kv_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv = std::fs::canonicalize(ephpm_shm_tests::ext_so()).expect("canonical path");
    let mut cmd = php(
        dir.path(),
        Some("shared"),
        "ephpm_kv_set('session', 'kept'); apcu_store('cache', 1); \
         var_dump(apcu_clear_cache(), apcu_fetch('cache'), ephpm_kv_get('session'), \
         ephpm_kv_get('cache'), apcu_fetch('session'));",
    );
    cmd.arg("-d")
        .arg(format!("extension={}", kv.display()))
        .arg("-d")
        .arg(format!("ephpm_kv.dir={}", dir.path().display()));
    // (`-r` is already given: the settings after it still apply.)
    assert_eq!(
        run(cmd),
        "bool(true)\nbool(false)\nstring(4) \"kept\"\nNULL\nbool(false)\n"
    );
}

/// Waits until `marker` exists, or panics with the output of `child` if
/// it ended first.
fn wait_for(marker: &Path, child: &mut Child) {
    while !marker.exists() {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut text = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut err, &mut text);
            }
            panic!(
                "the php process ended ({status}) before {}: {text}",
                marker.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `apcu_entry('slow', ...)` whose callback creates `$IN`, then waits for
/// `$GO` before it returns `$value`.
fn slow_entry(value: &str) -> String {
    format!(
        "echo apcu_entry('slow', function () {{ touch(getenv('IN')); \
         while (!file_exists(getenv('GO'))) usleep(1000); return '{value}'; }});"
    )
}

#[test]
fn apcu_entry_computes_once_while_another_process_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (inside, go) = (dir.path().join("in-a"), dir.path().join("go"));
    let mut a = php(dir.path(), Some("entry"), &slow_entry("from a"))
        .env("IN", &inside)
        .env("GO", &go)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start php a");
    wait_for(&inside, &mut a);
    // A holds the lock in its callback: B waits for it, and gets A's value
    // without running its own callback (which would create in-b). B says
    // when it calls apcu_entry; A is let go only then.
    let calling = dir.path().join("b-calling");
    let mut b = php(
        dir.path(),
        Some("entry"),
        &format!("touch(getenv('CALLING')); {}", slow_entry("from b")),
    )
    .env("CALLING", &calling)
    .env("IN", dir.path().join("in-b"))
    .env("GO", &go)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start php b");
    wait_for(&calling, &mut b);
    std::fs::write(&go, "").expect("let a return");
    assert_eq!(checked(a.wait_with_output().expect("a")), "from a");
    assert_eq!(checked(b.wait_with_output().expect("b")), "from a");
    assert!(!dir.path().join("in-b").exists(), "b ran its callback");
    assert_eq!(
        run(php(
            dir.path(),
            Some("entry"),
            "echo apcu_cache_info()['entry_locks'];"
        )),
        "0"
    );
}

#[test]
fn a_process_killed_inside_apcu_entry_blocks_nobody() {
    let dir = tempfile::tempdir().expect("temp dir");
    let inside = dir.path().join("in-a");
    let mut a = php(dir.path(), Some("killed"), &slow_entry("never"))
        .env("IN", &inside)
        .env("GO", dir.path().join("never-created"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start php a");
    wait_for(&inside, &mut a);
    // SIGKILL (Child::kill), by the child's own pid.
    a.kill().expect("SIGKILL php a");
    let _ = a.wait();
    assert_eq!(
        run(php(
            dir.path(),
            Some("killed"),
            "echo apcu_cache_info()['entry_locks'];"
        )),
        "1",
        "the dead process's lock is still there"
    );
    // The next caller takes the dead owner's lock over at once and computes
    // (had it waited instead, it would warn that it stopped waiting).
    assert_eq!(
        run(php(
            dir.path(),
            Some("killed"),
            "echo apcu_entry('slow', fn() => 'after the kill'), ' ', apcu_cache_info()['entry_locks'];"
        )),
        "after the kill 0"
    );
}

// ------------------------------------------------ beside APCu's own apcu.so

/// php-cli with `-n` and these two `extension=` in this order, running `code`.
fn php_with_both(first: &Path, second: &Path, code: &str) -> Output {
    Command::new(&ephpm_shm_tests::php::php().binary)
        .arg("-n")
        .arg("-d")
        .arg(format!("extension={}", first.display()))
        .arg("-d")
        .arg(format!("extension={}", second.display()))
        .args(["-d", "apc.enable_cli=1", "-d", "display_startup_errors=1"])
        .arg("-r")
        .arg(code)
        .output()
        .expect("run php")
}

/// The distribution's APCu (`php8.2-apcu` on Debian 12).
fn distribution_apcu() -> std::path::PathBuf {
    let php = ephpm_shm_tests::php::php();
    let so = php.extension_dir.join("apcu.so");
    assert!(
        so.is_file(),
        "{} is missing: install the distribution's APCu (apt-get install php{}-apcu)",
        so.display(),
        php.version
    );
    so
}

/// Which `apcu` a process got: ours has `apc.name`, APCu's has not.
const WHICH: &str = "echo ini_get('apc.name') === false ? 'APCu' : 'ephpm-apcu', ' ', \
                     phpversion('apcu'), ' ', var_export(apcu_store('k', [1]) && apcu_fetch('k') === [1], true);";

#[test]
fn beside_apcu_either_order_loads_one_apcu_and_says_so() {
    let ours = std::fs::canonicalize(apcu_so()).expect("canonical path of the module");
    let theirs = distribution_apcu();

    // APCu first: ours notices the module already registered, says which
    // library is skipped, and registers nothing; PHP then refuses it.
    let out = php_with_both(&theirs, &ours, WHICH);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let all = format!("{stdout}{stderr}");
    assert!(out.status.success(), "{all}");
    assert!(stdout.ends_with("APCu 5.1.22 true"), "{all}");
    assert!(
        all.contains(
            "a module named apcu (version 5.1.22, APCu's apcu.so) is already loaded: \
                      this library, ephpm-apcu's libephpm_apcu.so, is skipped"
        ),
        "{all}"
    );
    assert!(all.contains("Module \"apcu\" is already loaded"), "{all}");

    // Ours first: PHP refuses APCu's with its own warning; ours works.
    let out = php_with_both(&ours, &theirs, WHICH);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let all = format!("{stdout}{stderr}");
    assert!(out.status.success(), "{all}");
    assert!(stdout.ends_with("ephpm-apcu 5.1.22 true"), "{all}");
    assert!(all.contains("Module \"apcu\" is already loaded"), "{all}");
}

// ------------------------------------------------ php-fpm workers and the CLI

use ephpm_shm_tests::servers::{first_pid, Fpm, Nginx, Pool, Site, FPM_WORKERS};

/// Each request: a hit counted, then `w:<pid>` = an array naming the worker
/// (after 300 ms, so that concurrent requests reach distinct workers).
const WORKER_PAGE: &str = r#"<?php
$me = getmypid();
$n = apcu_inc('hits');
usleep(300000);
$stored = apcu_store("w:$me", ['pid' => $me, 'list' => [1, 2.5, null]]);
echo $me, ' ', $n, ' ', var_export($stored, true), "\n";
"#;

/// Reads every `w:<pid>` named in `pids` and the hit count.
const READ_PAGE: &str = r#"<?php
echo getmypid(), ' ', apcu_fetch('hits');
foreach (explode(',', $_GET['pids']) as $pid) {
    $v = apcu_fetch("w:$pid");
    echo ' ', $v === ['pid' => (int) $pid, 'list' => [1, 2.5, null]] ? 'same' : json_encode($v);
}
"#;

#[test]
fn php_fpm_workers_and_the_cli_share_the_pool_store() {
    let site = Site::new();
    let so = std::fs::canonicalize(apcu_so()).expect("canonical path of the module");
    let ini = format!(
        "extension={}\napc.dir={}\n",
        so.display(),
        site.shm_dir().display()
    );
    let fpm = Fpm::start_with_ini(
        &site,
        "kv",
        vec![Pool::new("shop").line("php_admin_value[apc.name] = shop")],
        &ini,
    );
    let nginx = Nginx::start(&site, &fpm);
    let shop = nginx.pool("shop");
    site.page("w.php", WORKER_PAGE);
    site.page("r.php", READ_PAGE);
    let bodies = shop.on_distinct_workers(FPM_WORKERS, "w.php");
    let pids: Vec<String> = bodies.iter().map(|b| first_pid(b).to_string()).collect();
    for body in &bodies {
        assert!(body.trim_end().ends_with(" true"), "{body:?}");
    }
    let hits = run(php(
        site.shm_dir(),
        Some("shop"),
        "echo apcu_fetch('hits');",
    ));
    let hits: usize = hits.parse().expect("a count");
    assert!(hits >= FPM_WORKERS, "hits {hits}");
    // Every worker reads what every other wrote; the CLI with the pool's
    // name reads the same store, and writes to it.
    let read = shop.page(&format!("r.php?pids={}", pids.join(",")));
    let same = ["same"; FPM_WORKERS].join(" ");
    assert!(read.ends_with(&format!(" {hits} {same}")), "{read:?}");
    run(php(
        site.shm_dir(),
        Some("shop"),
        "apcu_store('hits', 1000);",
    ));
    let read = shop.page(&format!("r.php?pids={}", pids.join(",")));
    assert!(read.ends_with(&format!(" 1000 {same}")), "{read:?}");
    drop(nginx);
    drop(fpm);
}
