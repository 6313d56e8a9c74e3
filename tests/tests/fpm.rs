//! The extension in php-fpm (`pm = static`, 4 workers) behind nginx: workers
//! share one store, increments from all of them add up, a pool running as
//! www-data owns its segment, pools with different store names are
//! isolated, data outlives reloads and restarts, and workers killed in the
//! middle of writes leave a store that every worker keeps using.

use ephpm_shm_tests::servers::{
    first_pid, is_root, json_int, owner_and_mode, process_uid, signal, wait_for, Endpoint, Fpm,
    Nginx, Pool, Response, Site, User, FPM_WORKERS,
};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::thread;
use std::time::Duration;

/// A site with one pool `main` (store `kv_name`) behind nginx.
fn one_pool(kv_name: &str, pool: Pool) -> (Site, Fpm, Nginx) {
    let site = Site::new();
    let fpm = Fpm::start(&site, kv_name, vec![pool]);
    let nginx = Nginx::start(&site, &fpm);
    (site, fpm, nginx)
}

/// Phase one (no `pids`): the worker writes `x:<its pid>`. Phase two: it
/// reads `x:<pid>` for every PID listed. Both wait 300 ms so that concurrent
/// requests are served by distinct workers.
const EXCHANGE_PAGE: &str = r#"<?php
usleep(300000);
$me = getmypid();
if (!isset($_GET['pids'])) {
    echo $me, ' ', json_encode(ephpm_kv_set("x:$me", "written by $me"));
    exit;
}
echo $me;
foreach (explode(',', $_GET['pids']) as $pid) {
    echo ' ', $pid, '=', json_encode(ephpm_kv_get("x:$pid"));
}
"#;

/// Checks set/get/incr/del on the worker that serves it, with a binary
/// value, after `sleep_ms`; prints `<pid> ok` or `<pid> FAIL <what>`.
const CHECK_PAGE: &str = r#"<?php
usleep((int) ($_GET['sleep_ms'] ?? 0) * 1000);
$me = getmypid();
$key = "check:$me:" . bin2hex(random_bytes(8));
$value = random_bytes(200) . "\0" . str_repeat('v', 1000);
$fail = [];
if (ephpm_kv_set($key, $value, 60) !== true) $fail[] = 'set';
if (ephpm_kv_get($key) !== $value) $fail[] = 'get';
if (ephpm_kv_exists($key) !== true) $fail[] = 'exists';
$n = ephpm_kv_incr("check:$me:n");
if (!is_int($n) || $n < 1) $fail[] = 'incr';
if (ephpm_kv_del($key) !== 1) $fail[] = 'del';
if (ephpm_kv_get($key) !== null) $fail[] = 'get after del';
if (ephpm_kv_setnx($key, 'again') !== true) $fail[] = 'setnx';
if (ephpm_kv_setnx($key, 'twice') !== false) $fail[] = 'setnx twice';
ephpm_kv_del($key);
echo $me, $fail ? ' FAIL ' . implode(',', $fail) : ' ok', "\n";
"#;

/// Writes in a loop for `secs` seconds: first `loop:<tag>:pid` = its PID,
/// then values of varying size (each one a run of one letter) to
/// `loop:key:<0..499>`, deletes, and `loop:<tag>:n` incremented per round.
const LOOP_PAGE: &str = r#"<?php
$me = getmypid();
$tag = $_GET['tag'];
ephpm_kv_set("loop:$tag:pid", (string) $me);
$end = microtime(true) + (float) $_GET['secs'];
$i = 0;
while (microtime(true) < $end) {
    $letter = chr(65 + $i % 26);
    ephpm_kv_set('loop:key:' . ($i % 500), str_repeat($letter, 1 + ($i * 37) % 5000), $i % 2 ? 0 : 600);
    ephpm_kv_incr("loop:$tag:n");
    if ($i % 3 == 0) {
        ephpm_kv_del('loop:key:' . (($i * 7) % 500));
    }
    if ($i % 5 == 0) {
        ephpm_kv_setnx('loop:nx:' . ($i % 50), $letter);
    }
    $i++;
}
echo "done $i\n";
"#;

/// Checks every `loop:key:*` value: absent, or a run of one letter (a torn
/// write would mix letters). Prints `present=<n> bad=<n>`.
const VERIFY_LOOP_PAGE: &str = r#"<?php
$present = 0;
$bad = [];
for ($i = 0; $i < 500; $i++) {
    $v = ephpm_kv_get("loop:key:$i");
    if ($v === null) continue;
    $present++;
    if ($v === '' || strlen($v) > 5000 || trim($v, $v[0]) !== '') $bad[] = $i;
}
echo "present=$present bad=", count($bad), ' ', implode(',', array_slice($bad, 0, 20)), "\n";
"#;

/// Every worker of the pool answers the check page correctly (4 concurrent
/// slow requests reach 4 distinct workers); returns their PIDs.
fn all_workers_check(endpoint: &Endpoint) -> BTreeSet<u32> {
    let bodies = endpoint.on_distinct_workers(FPM_WORKERS, "check.php?sleep_ms=300");
    for body in &bodies {
        assert!(body.trim_end().ends_with(" ok"), "check failed: {body:?}");
    }
    bodies.iter().map(|b| first_pid(b)).collect()
}

/// `ephpm_kv_stats()` through the pool: available, with figures that add up.
fn stats_sane(endpoint: &Endpoint) -> String {
    let stats = endpoint.kv("stats", "", "").json;
    assert!(stats.contains("\"available\":true"), "stats: {stats}");
    let size = json_int(&stats, "size").expect("size");
    let used = json_int(&stats, "bytes_used").expect("bytes_used");
    let free = json_int(&stats, "bytes_free").expect("bytes_free");
    let entries = json_int(&stats, "entries").expect("entries");
    assert!(
        entries > 0 && used > 0 && free > 0 && used + free <= size,
        "stats: {stats}"
    );
    assert!(!stats.contains("\"error\""), "stats: {stats}");
    stats
}

#[test]
fn workers_see_each_others_writes() {
    let (site, fpm, nginx) = one_pool("share", Pool::new("main"));
    site.page("exchange.php", EXCHANGE_PAGE);
    let main = nginx.pool("main");

    // ~40 requests over 4 connections at a time: several workers answer.
    let mut pids = BTreeSet::new();
    for _ in 0..10 {
        for body in main.concurrent_pages(4, "kv.php?op=pid&sleep_ms=20") {
            pids.insert(first_pid(&body));
        }
    }
    let workers: BTreeSet<u32> = fpm.workers().into_iter().collect();
    assert!(pids.len() >= 2, "40 requests all served by {pids:?}");
    assert!(
        pids.is_subset(&workers),
        "answers from {pids:?}, workers {workers:?}"
    );
    println!(
        "40 requests over 4 connections: {} distinct workers",
        pids.len()
    );

    // One write, read back until a worker other than the writer answers.
    let written = main.kv("set", "greeting", "hello from one worker");
    assert_eq!(written.json, "true");
    let other = (0..40)
        .map(|_| main.kv("get", "greeting", ""))
        .inspect(|r| assert_eq!(r.json, "\"hello from one worker\""))
        .find(|r| r.pid != written.pid);
    assert!(
        other.is_some(),
        "40 reads all served by writer {}",
        written.pid
    );

    // All to all: each of the 4 workers writes a key, then each reads all 4.
    let writers: BTreeSet<u32> = main
        .on_distinct_workers(FPM_WORKERS, "exchange.php")
        .iter()
        .map(|b| first_pid(b))
        .collect();
    let list: Vec<String> = writers.iter().map(u32::to_string).collect();
    let query = format!("exchange.php?pids={}", list.join(","));
    let reads = main.on_distinct_workers(FPM_WORKERS, &query);
    for read in &reads {
        let reader = first_pid(read);
        for writer in &writers {
            let expected = format!(" {writer}=\"written by {writer}\"");
            assert!(read.contains(&expected), "worker {reader} read {read:?}");
        }
    }
    // The same workers wrote and read: each read 3 keys written by others.
    let readers: BTreeSet<u32> = reads.iter().map(|b| first_pid(b)).collect();
    assert_eq!(readers, writers, "the pool's 4 workers both wrote and read");
}

#[test]
fn concurrent_increments_from_all_workers_add_up() {
    let (_site, _fpm, nginx) = one_pool("incr", Pool::new("main"));
    let main = nginx.pool("main");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let main = main.clone();
            thread::spawn(move || {
                (0..50)
                    .map(|_| {
                        let r = main.kv("incr", "hits", "");
                        (
                            r.pid,
                            r.json.parse::<i64>().expect("incr returns an integer"),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<(u32, i64)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let values: BTreeSet<i64> = results.iter().map(|&(_, v)| v).collect();
    let pids: BTreeSet<u32> = results.iter().map(|&(p, _)| p).collect();
    assert_eq!(
        values,
        (1..=400).collect(),
        "each increment returns a distinct new value"
    );
    assert_eq!(main.kv("get", "hits", "").json, "\"400\"");
    assert!(pids.len() >= 2, "400 increments all served by {pids:?}");
    println!("400 increments by {} workers: final value 400", pids.len());
}

#[test]
fn pool_running_as_www_data_owns_its_segment() {
    if !is_root() {
        eprintln!("skipped: needs root to run a pool as www-data");
        return;
    }
    let www = User::www_data();
    let (site, fpm, nginx) = one_pool("unpriv", Pool::new("main").user(www.clone()));
    let main = nginx.pool("main");

    assert_eq!(
        process_uid(fpm.master_pid()),
        Some(0),
        "master runs as root"
    );
    assert!(
        !site.segment("unpriv").exists(),
        "the master must not create the segment"
    );

    assert_eq!(main.kv("set", "owner", "www-data's value").json, "true");
    let (uid, mode) = owner_and_mode(&site.segment("unpriv"));
    assert_eq!((uid, mode), (www.uid, 0o600), "segment owner and mode");

    // php-cli as www-data with the same name sees the pool's data and writes
    // a key the pool then reads.
    let got = site.php_run(
        "unpriv",
        Some(&www),
        r#"var_export(ephpm_kv_get("owner")); ephpm_kv_set("from_cli", "written by cli");"#,
    );
    assert_eq!(got, "'www-data\\'s value'");
    for body in main.on_distinct_workers(FPM_WORKERS, "kv.php?op=get&key=from_cli&sleep_ms=300") {
        assert!(body.ends_with(" \"written by cli\"\n"), "{body:?}");
        // A worker that has served a request runs as the pool's user.
        let worker = first_pid(&body);
        assert_eq!(
            process_uid(worker),
            Some(www.uid),
            "worker {worker} runs as www-data"
        );
    }
    let (uid, mode) = owner_and_mode(&site.segment("unpriv"));
    assert_eq!(
        (uid, mode),
        (www.uid, 0o600),
        "segment owner and mode after php-cli"
    );
}

#[test]
fn pools_with_different_store_names_are_isolated() {
    let site = Site::new();
    let fpm = Fpm::start(
        &site,
        "unused",
        vec![
            Pool::new("a").kv_name("pool-a"),
            Pool::new("b").kv_name("pool-b"),
        ],
    );
    let nginx = Nginx::start(&site, &fpm);
    let (a, b) = (nginx.pool("a"), nginx.pool("b"));

    assert_eq!(a.kv("set", "k", "from a").json, "true");
    assert_eq!(
        b.kv("get", "k", "").json,
        "null",
        "pool b sees pool a's key"
    );
    assert_eq!(b.kv("exists", "k", "").json, "false");
    assert_eq!(b.kv("set", "k", "from b").json, "true");
    assert_eq!(a.kv("incr", "n", "").json, "1");
    assert_eq!(b.kv("incr", "n", "").json, "1");
    assert_eq!(b.kv("incr", "n", "").json, "2");
    // Every worker of each pool sees its own pool's value.
    for body in a.on_distinct_workers(FPM_WORKERS, "kv.php?op=get&key=k&sleep_ms=300") {
        assert!(body.ends_with(" \"from a\"\n"), "pool a: {body:?}");
    }
    for body in b.on_distinct_workers(FPM_WORKERS, "kv.php?op=get&key=k&sleep_ms=300") {
        assert!(body.ends_with(" \"from b\"\n"), "pool b: {body:?}");
    }
    assert_eq!(a.kv("get", "n", "").json, "\"1\"");

    let seg_a = std::fs::metadata(site.segment("pool-a")).expect("pool a's segment");
    let seg_b = std::fs::metadata(site.segment("pool-b")).expect("pool b's segment");
    assert_ne!(seg_a.ino(), seg_b.ino());
    assert!(
        !site.segment("unused").exists(),
        "php.ini's name is overridden per pool"
    );
    // php-cli opening each name sees that pool's data.
    assert_eq!(
        site.php_run("pool-a", None, "echo ephpm_kv_get('k');"),
        "from a"
    );
    assert_eq!(
        site.php_run("pool-b", None, "echo ephpm_kv_get('k');"),
        "from b"
    );
}

#[test]
fn data_survives_reload_and_restart() {
    let (site, mut fpm, nginx) = one_pool("persist", Pool::new("main"));
    let main = nginx.pool("main");
    assert_eq!(main.kv("set", "survivor", "still here").json, "true");
    assert_eq!(main.kv("incr", "generation", "").json, "1");
    let inode = std::fs::metadata(site.segment("persist")).unwrap().ino();

    // Reload: same master, all new workers.
    let master = fpm.master_pid();
    let old_workers: BTreeSet<u32> = fpm.workers().into_iter().collect();
    let new_workers: BTreeSet<u32> = fpm.reload().into_iter().collect();
    assert_eq!(fpm.master_pid(), master);
    assert!(
        old_workers.is_disjoint(&new_workers),
        "{old_workers:?} -> {new_workers:?}"
    );
    main.wait_serving("php-fpm after SIGUSR2");
    let r = main.kv("get", "survivor", "");
    assert!(
        new_workers.contains(&r.pid),
        "answered by {} after reload",
        r.pid
    );
    assert_eq!(r.json, "\"still here\"");
    assert_eq!(main.kv("incr", "generation", "").json, "2");

    // Full stop (SIGQUIT) and start: a new master and workers.
    fpm.restart();
    assert_ne!(fpm.master_pid(), master);
    main.wait_serving("php-fpm after restart");
    for body in main.on_distinct_workers(FPM_WORKERS, "kv.php?op=get&key=survivor&sleep_ms=300") {
        assert!(
            body.ends_with(" \"still here\"\n"),
            "after restart: {body:?}"
        );
    }
    assert_eq!(main.kv("incr", "generation", "").json, "3");
    let inode_after = std::fs::metadata(site.segment("persist")).unwrap().ino();
    assert_eq!(inode, inode_after, "the segment file is the same one");
}

/// Starts `loop.php` for `secs` seconds in a thread per tag; returns the
/// threads (each yields its response, or the client error).
fn start_loops(
    endpoint: &Endpoint,
    tags: &[String],
    secs: u32,
    client_timeout: Duration,
) -> Vec<thread::JoinHandle<Result<Response, String>>> {
    tags.iter()
        .map(|tag| {
            let endpoint = endpoint.clone();
            let page = format!("loop.php?tag={tag}&secs={secs}");
            thread::spawn(move || endpoint.try_get_within(&page, client_timeout))
        })
        .collect()
}

/// After workers died mid-write: no torn value, every worker passes the
/// check page, concurrent increments still add up exactly, stats are sane,
/// and php-cli opens the same store.
fn store_still_consistent(site: &Site, fpm: &Fpm, main: &Endpoint, kv_name: &str, tags: &[String]) {
    let verify = main.page("verify_loop.php");
    assert!(verify.contains(" bad=0 "), "torn loop values: {verify}");
    let workers = all_workers_check(main);
    let current: BTreeSet<u32> = fpm.workers().into_iter().collect();
    assert!(
        workers.is_subset(&current),
        "answers from {workers:?}, workers {current:?}"
    );
    for tag in tags {
        let n = main.kv("incr", &format!("loop:{tag}:n"), "").json;
        assert!(
            n.parse::<i64>().is_ok_and(|n| n > 1),
            "loop counter {tag}: {n}"
        );
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let main = main.clone();
            thread::spawn(move || {
                for _ in 0..25 {
                    main.kv("incr", "after:n", "");
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(main.kv("get", "after:n", "").json, "\"100\"");
    let stats = stats_sane(main);
    println!("after the kills: {verify}stats {stats}");
    let cli = site.php_run(kv_name, None, "var_export(ephpm_kv_incr('after:n'));");
    assert_eq!(cli, "101");
    // The store's full consistency check on the segment the workers used.
    let store =
        shm_store::Store::attach(site.shm_dir(), kv_name).expect("attach the pool's segment");
    let report = store.verify().expect("verify");
    assert!(
        report.is_ok(),
        "segment inconsistent after the kills: {:#?}",
        report.problems
    );
    println!(
        "verify: ok, {} entries in {} stripes",
        report.entries, report.stripes_checked
    );
}

#[test]
fn worker_sigkilled_mid_writes() {
    let (site, fpm, nginx) = one_pool("crash", Pool::new("main"));
    site.page("loop.php", LOOP_PAGE);
    site.page("check.php", CHECK_PAGE);
    site.page("verify_loop.php", VERIFY_LOOP_PAGE);
    let main = nginx.pool("main");
    let mut tags = Vec::new();
    let mut killed = Vec::new();

    // Five rounds: two workers loop over writes and are SIGKILLed once
    // each has done at least 1000 rounds.
    for round in 0..5 {
        let round_tags: Vec<String> = (0..2).map(|i| format!("r{round}w{i}")).collect();
        let loops = start_loops(&main, &round_tags, 30, Duration::from_secs(60));
        for tag in &round_tags {
            let pid = wait_for(Duration::from_secs(10), "loop start", || {
                let n = main.kv("get", &format!("loop:{tag}:n"), "").json;
                let n: i64 = n.trim_matches('"').parse().unwrap_or(0);
                if n < 1000 {
                    return None;
                }
                main.kv("get", &format!("loop:{tag}:pid"), "")
                    .json
                    .trim_matches('"')
                    .parse::<u32>()
                    .ok()
            });
            assert!(
                fpm.workers().contains(&pid),
                "{pid} is a worker of the pool"
            );
            assert!(signal(pid, libc::SIGKILL));
            killed.push(pid);
        }
        for handle in loops {
            let outcome = handle.join().unwrap();
            // nginx answers 502 for the killed worker; never the loop's end.
            if let Ok(response) = &outcome {
                assert!(
                    !response.body.contains("done"),
                    "the loop was not killed: {response:?}"
                );
            }
        }
        tags.extend(round_tags);
    }
    println!("SIGKILLed workers {killed:?}");
    // Killed workers were replaced; the pool keeps serving.
    store_still_consistent(&site, &fpm, &main, "crash", &tags);
    let survivors: BTreeSet<u32> = fpm.workers().into_iter().collect();
    assert!(killed.iter().all(|k| !survivors.contains(k)));
}

#[test]
fn request_terminate_timeout_mid_writes() {
    let pool = Pool::new("main").line("request_terminate_timeout = 1s");
    let (site, fpm, nginx) = one_pool("crash", pool);
    site.page("loop.php", LOOP_PAGE);
    site.page("check.php", CHECK_PAGE);
    site.page("verify_loop.php", VERIFY_LOOP_PAGE);
    let main = nginx.pool("main");
    let mut tags = Vec::new();

    // Twice, all 4 workers run a 5 s loop of writes; php-fpm kills each
    // one after 1 s.
    for round in 0..2 {
        let round_tags: Vec<String> = (0..FPM_WORKERS).map(|i| format!("t{round}w{i}")).collect();
        let loops = start_loops(&main, &round_tags, 5, Duration::from_secs(10));
        let mut statuses = BTreeMap::new();
        for (tag, handle) in round_tags.iter().zip(loops) {
            let response = handle
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("loop {tag}: {e} (a hang?)\n{}", fpm.logs()));
            assert!(
                !response.body.contains("done"),
                "loop {tag} was not terminated: {response:?}"
            );
            *statuses.entry(response.status).or_insert(0) += 1;
        }
        println!("round {round}: terminated loops answered {statuses:?}");
        tags.extend(round_tags);
    }
    let log = fpm.logs();
    assert!(log.contains("execution timed out"), "php-fpm log:\n{log}");
    store_still_consistent(&site, &fpm, &main, "crash", &tags);
}

/// `hits` gets of a key that exists and `misses` of keys that do not, after
/// `sleep_ms`; prints the worker's PID.
const READS_PAGE: &str = r#"<?php
usleep((int) ($_GET['sleep_ms'] ?? 0) * 1000);
for ($i = 0; $i < (int) $_GET['hits']; $i++) {
    if (ephpm_kv_get('present') !== 'here') {
        echo "FAIL\n";
    }
}
for ($i = 0; $i < (int) $_GET['misses']; $i++) {
    ephpm_kv_get("absent:$i");
}
echo getmypid(), "\n";
"#;

/// The hits and misses counted by the workers, long-lived processes, are
/// in the segment as soon as each of their requests has ended: another
/// process (php-cli) sees exactly the gets of every request answered.
#[test]
fn hits_and_misses_are_exact_after_each_request() {
    let (site, fpm, nginx) = one_pool("fpmstats", Pool::new("main"));
    site.page("reads.php", READS_PAGE);
    let main = nginx.pool("main");
    assert_eq!(main.kv("set", "present", "here").json, "true");
    let counts = || {
        let out = site.php_run(
            "fpmstats",
            None,
            r#"$s = ephpm_kv_stats(); echo $s["hits"], " ", $s["misses"];"#,
        );
        let mut figures = out.split(' ').map(|n| n.parse::<i64>().expect("a count"));
        (figures.next().unwrap(), figures.next().unwrap())
    };
    let (mut hits, mut misses) = counts();
    let mut pids = BTreeSet::new();
    // Four at once (so several workers take part), then one at a time.
    let bodies = main.concurrent_pages(4, "reads.php?hits=3&misses=2&sleep_ms=300");
    for body in &bodies {
        assert!(!body.contains("FAIL"), "reads.php: {body:?}");
        pids.insert(first_pid(body));
    }
    (hits, misses) = (hits + 12, misses + 8);
    assert_eq!(counts(), (hits, misses), "after 4 concurrent requests");
    for round in 1..=12 {
        let (h, m) = (round, round * 7 % 5);
        let body = main.page(&format!("reads.php?hits={h}&misses={m}"));
        assert!(!body.contains("FAIL"), "reads.php: {body:?}");
        let pid = first_pid(&body);
        pids.insert(pid);
        (hits, misses) = (hits + h, misses + m);
        assert_eq!(
            counts(),
            (hits, misses),
            "after request {round} (worker {pid}: {h} hits, {m} misses)"
        );
    }
    let workers: BTreeSet<u32> = fpm.workers().into_iter().collect();
    assert!(
        pids.is_subset(&workers),
        "answers from {pids:?}, workers {workers:?}"
    );
    println!(
        "16 requests by {} workers: every hit and miss counted once each request ended",
        pids.len()
    );
}

/// Writes (`op=set`) or checks (`op=get`) a 20 KB serialized session under
/// `key`, then prints `<pid> <ok|FAIL> <compressed_entries>
/// <compressed_raw_bytes> <compressed_stored_bytes>`.
const COMPRESSION_PAGE: &str = r#"<?php
usleep((int) ($_GET['sleep_ms'] ?? 0) * 1000);
$data = ['user' => ['id' => 42, 'name' => 'Alice Example', 'roles' => ['editor']], 'cart' => []];
for ($i = 0; strlen(serialize($data)) < 20480; $i++) {
    $data['cart'][] = ['sku' => 100000 + $i * 7, 'title' => "Product $i in colour " . dechex($i * 7919), 'qty' => 1 + $i % 4];
}
$text = serialize($data);
$key = $_GET['key'];
$ok = $_GET['op'] === 'set' ? ephpm_kv_set($key, $text) : ephpm_kv_get($key) === $text;
$s = ephpm_kv_stats();
echo getmypid(), ' ', $ok ? 'ok' : 'FAIL', ' ', $s['compressed_entries'], ' ', $s['compressed_raw_bytes'], ' ',
    $s['compressed_stored_bytes'], ' ', $s['compression'], "\n";
"#;

/// Two pools on one store, one compressing (`php_admin_value`), one not:
/// every worker of each reads what the other wrote, the compressing pool's
/// 20 KB session takes a fraction of its size, the other's is stored raw.
#[test]
fn pools_compress_their_own_writes_and_read_each_others() {
    let site = Site::new();
    let fpm = Fpm::start(
        &site,
        "unused",
        vec![
            Pool::new("z")
                .kv_name("shared")
                .line("php_admin_value[ephpm_kv.compression] = zstd"),
            Pool::new("r").kv_name("shared"),
        ],
    );
    let nginx = Nginx::start(&site, &fpm);
    site.page("compression.php", COMPRESSION_PAGE);
    let (z, r) = (nginx.pool("z"), nginx.pool("r"));
    let fields =
        |body: &str| -> Vec<String> { body.split_whitespace().map(str::to_string).collect() };

    let wrote = fields(&z.page("compression.php?op=set&key=from-z"));
    assert_eq!(
        (wrote[1].as_str(), wrote[2].as_str(), wrote[5].as_str()),
        ("ok", "1", "zstd"),
        "{wrote:?}"
    );
    let (raw, stored): (u64, u64) = (wrote[3].parse().unwrap(), wrote[4].parse().unwrap());
    assert!(
        raw >= 20480 && stored * 4 < raw,
        "{raw} raw bytes stored in {stored}"
    );
    let wrote = fields(&r.page("compression.php?op=set&key=from-r"));
    assert_eq!(
        (wrote[1].as_str(), wrote[2].as_str(), wrote[5].as_str()),
        ("ok", "1", "none"),
        "{wrote:?}"
    );

    for (pool, name) in [(&z, "z"), (&r, "r")] {
        for key in ["from-z", "from-r"] {
            let page = format!("compression.php?op=get&key={key}&sleep_ms=300");
            for body in pool.on_distinct_workers(FPM_WORKERS, &page) {
                assert_eq!(
                    fields(&body)[1],
                    "ok",
                    "pool {name} reading {key}: {body:?}"
                );
            }
        }
    }
    // php-cli, without compression settings, reads both too.
    assert_eq!(
        site.php_run(
            "shared",
            None,
            "echo strlen(ephpm_kv_get('from-z')) === strlen(ephpm_kv_get('from-r')) ? 'same' : 'differ';"
        ),
        "same"
    );
}
