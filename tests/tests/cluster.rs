//! Sessions and cache on a real Redis Cluster (six `redis-server` nodes,
//! three masters and three replicas: `ephpm_shm_tests::redis_cluster`):
//! the package's PHPUnit group `redis-cluster` (the KvOps contract and the
//! locking session handler on `RedisKvOps` over phpredis's `\RedisCluster`),
//! two php-fpm pools standing for two hosts sharing one logged-in session,
//! and a master killed under load.

use ephpm_shm_tests::browser::{get, session_page, Browser, COUNTER_BODY};
use ephpm_shm_tests::redis_cluster::{RedisCluster, NODES};
use ephpm_shm_tests::servers::{wait_for, Endpoint, Fpm, Nginx, Pool, Site};
use ephpm_shm_tests::{assert_phpunit_ok, phpunit};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn cluster_forms_and_serves_keys_on_three_masters() {
    let cluster = RedisCluster::start();
    let nodes = cluster.nodes_seen_by(cluster.ports()[0]);
    assert_eq!(nodes.len(), NODES);
    let masters: Vec<_> = nodes.iter().filter(|n| n.master).collect();
    assert_eq!(masters.len(), 3, "{nodes:?}");
    let slots: u32 = masters
        .iter()
        .flat_map(|m| m.slots.iter())
        .map(|&(a, b)| u32::from(b - a) + 1)
        .sum();
    assert_eq!(slots, 16384, "every slot served once");
    let port = cluster.master_of("some-key");
    assert_eq!(cluster.cli(port, &["SET", "some-key", "v"]).trim(), "OK");
    let out = cluster.cli(cluster.ports()[0], &["-c", "GET", "some-key"]);
    assert_eq!(out.trim(), "v");
}

/// The PHPUnit group `redis-cluster`, which skips without
/// `REDIS_CLUSTER_SEEDS`: here every test must run and pass.
#[test]
fn phpunit_contract_and_session_handler_pass_on_redis_cluster() {
    let cluster = RedisCluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = phpunit(dir.path(), &["--group", "redis-cluster"])
        .env("REDIS_CLUSTER_SEEDS", cluster.seeds())
        .output()
        .expect("run php /usr/bin/phpunit (install phpunit)");
    let summary = assert_phpunit_ok(&out, &cluster.logs());
    println!("phpunit --group redis-cluster: {summary}");
}

/// php.ini lines loading phpredis (Debian's shared objects, igbinary first:
/// the tests' php.ini loads only our extension otherwise).
const PHPREDIS_INI: &str = "extension=igbinary.so\nextension=redis.so";

/// Two pools standing for two hosts, `host-a` and `host-b`, each with its
/// own ephpm store (`ephpm_kv.name`), and pages whose session handler is
/// `KvSessionHandler` over `RedisKvOps` over `\RedisCluster` seeded with
/// every node of `cluster` (locking on).
fn two_hosts(cluster: &RedisCluster) -> (Site, Fpm, Nginx) {
    two_hosts_with(cluster, false)
}

/// [`two_hosts`]; with `persistent`, phpredis's persistent connections and
/// the slot map cached between requests.
fn two_hosts_with(cluster: &RedisCluster, persistent: bool) -> (Site, Fpm, Nginx) {
    let site = Site::new();
    let pools = ["host-a", "host-b"]
        .into_iter()
        .map(|name| {
            let pool = Pool::new(name).kv_name(&format!("store-{name}"));
            if persistent {
                pool.line("php_admin_value[redis.clusters.cache_slots] = 1")
            } else {
                pool
            }
        })
        .collect();
    let fpm = Fpm::start_with_ini(&site, "unused", pools, PHPREDIS_INI);
    let nginx = Nginx::start(&site, &fpm);
    let pre = cluster_ops_with(cluster, persistent);
    let page = |body: &str| session_page(&pre, LOCKING_OVER_OPS, body);
    site.page("login.php", &page(LOGIN_BODY));
    site.page("whoami.php", &page(WHOAMI_BODY));
    site.page("counter.php", &page(COUNTER_BODY));
    site.page(
        "inc.php",
        &page(
            "session_start();\n$n = $_SESSION['n'] ?? 0;\nusleep((int) $_GET['us']);\n\
             $_SESSION['n'] = $n + 1;\necho getmypid(), ' ', $n + 1, ' ', session_id(), \"\\n\";",
        ),
    );
    let unlocked = |body: &str| session_page(&pre, "'php_session:', null, $ops, false", body);
    site.page(
        "inc-unlocked.php",
        &unlocked(
            "session_start();\n$n = $_SESSION['n'] ?? 0;\nusleep((int) $_GET['us']);\n\
             $_SESSION['n'] = $n + 1;\necho getmypid(), ' ', $n + 1, ' ', session_id(), \"\\n\";",
        ),
    );
    (site, fpm, nginx)
}

/// PHP that sets `$ops` to a `RedisKvOps` over a `\RedisCluster` seeded with
/// every node of `cluster` (timeouts of 1 s), connected at the first
/// session operation: a constructor that throws (a seed closing the socket
/// during a failover) is then a warning of the handler, not a fatal error
/// of the page.
fn cluster_ops(cluster: &RedisCluster) -> String {
    cluster_ops_with(cluster, false)
}

/// [`cluster_ops`], with phpredis's persistent connections if `persistent`.
fn cluster_ops_with(cluster: &RedisCluster, persistent: bool) -> String {
    let seeds: Vec<String> = cluster
        .ports()
        .iter()
        .map(|p| format!("'127.0.0.1:{p}'"))
        .collect();
    format!(
        "$ops = new \\Ephpm\\SessionHandler\\RedisKvOps(fn () => new \\RedisCluster(null, [{}], 1.0, 1.0, {persistent}));",
        seeds.join(", ")
    )
}

/// Handler arguments: the default prefix and TTL, `$ops`, locking on.
const LOCKING_OVER_OPS: &str = "'php_session:', null, $ops, true";

/// Logs in as `$_GET['user']`; prints `<store name> <session id>`.
const LOGIN_BODY: &str = r#"session_start();
$_SESSION['user'] = $_GET['user'];
$_SESSION['since'] = time();
echo ini_get('ephpm_kv.name'), ' ', session_id();"#;

/// Prints `<store name> <user or ->`.
const WHOAMI_BODY: &str = r#"session_start();
echo ini_get('ephpm_kv.name'), ' ', $_SESSION['user'] ?? '-';"#;

/// 40 requests (8 threads × 5, alternating between the two hosts) each
/// adding 1 to the session's `n` with a `us` µs window between read and
/// write; returns the final `n` as read back on host B.
fn increments_across_hosts(nginx: &Nginx, page: &str, us: u32) -> i64 {
    let mut browser = Browser::new(&nginx.pool("host-a"));
    browser.page("login.php?user=counter");
    let sid = browser.sid();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let mut b = browser.clone();
            b.endpoint = nginx.pool(if t % 2 == 0 { "host-a" } else { "host-b" });
            let page = format!("{page}?us={us}");
            thread::spawn(move || {
                for _ in 0..5 {
                    b.page(&page);
                }
                b.sid()
            })
        })
        .collect();
    for t in threads {
        let thread_sid = t.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(thread_sid, sid, "one session for every request");
    }
    let mut reader = browser.clone();
    reader.endpoint = nginx.pool("host-b");
    let (_, n, _) = reader.counter("inc.php?us=0");
    n - 1
}

#[test]
fn two_hosts_share_a_logged_in_session_with_locking() {
    let cluster = RedisCluster::start();
    let (_site, _fpm, nginx) = two_hosts(&cluster);
    let host_a = nginx.pool("host-a");
    let host_b = nginx.pool("host-b");

    let mut browser = Browser::new(&host_a);
    let body = browser.page("login.php?user=alice");
    let sid = browser.sid();
    assert_eq!(body, format!("store-host-a {sid}"));
    // The session is in the cluster, not in either host's own store.
    let key = format!("php_session:{sid}");
    let stored = cluster.cli(cluster.ports()[0], &["-c", "GET", &key]);
    assert!(stored.contains(r#"user|s:5:"alice";"#), "{stored}");
    assert_eq!(host_a.kv("exists", &key, "").json, "false");
    assert_eq!(
        cluster
            .cli(
                cluster.ports()[0],
                &["-c", "EXISTS", &format!("php_session:lock:{sid}")]
            )
            .trim(),
        "0",
        "the lock is released at the end of the request"
    );

    browser.endpoint = host_b.clone();
    assert_eq!(browser.page("whoami.php"), "store-host-b alice");
    assert_eq!(host_b.kv("exists", &key, "").json, "false");
    // A stranger without the cookie is nobody on either host.
    assert_eq!(Browser::new(&host_b).page("whoami.php"), "store-host-b -");

    let locked = increments_across_hosts(&nginx, "inc.php", 2000);
    let unlocked = increments_across_hosts(&nginx, "inc-unlocked.php", 100_000);
    println!(
        "40 increments of one session from both hosts at once: locking on n={locked}, \
         locking off n={unlocked} (window 100 ms)"
    );
    assert_eq!(locked, 40, "with locking, every increment counts");
    assert!(
        unlocked < 40,
        "without locking no update was lost: the test cannot see the lock"
    );
}

/// What one request of the load loop got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// 200 with a PHP warning in the page.
    Warning,
    /// A PHP fatal error in the page.
    Fatal,
    /// Not 200.
    Status(u16),
}

/// The lines of a page with a PHP warning, the session id replaced by `<sid>`.
fn warning_lines(body: &str, sid: Option<&str>) -> Vec<String> {
    body.lines()
        .filter(|l| l.contains("Warning"))
        .map(|l| match sid {
            Some(sid) => l.replace(sid, "<sid>"),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn failover_under_load_warns_and_recovers() {
    failover_under_load(false);
}

/// The same with phpredis's persistent connections and the slot map cached
/// between requests (`redis.clusters.cache_slots`). Not run by default:
/// with phpredis 5.3.7 (Debian 12) a php-fpm worker crashed with SIGSEGV
/// in one of the runs, during the failover (nginx answered 502), which
/// this test rightly reports as a failure. `--run-ignored all` runs it.
#[test]
#[ignore = "phpredis 5.3.7 may crash a worker (SIGSEGV) with persistent cluster connections during a failover"]
fn failover_under_load_with_persistent_connections_and_cached_slots() {
    failover_under_load(true);
}

/// A master SIGKILLed under a load of session requests on both hosts.
fn failover_under_load(persistent: bool) {
    let mut cluster = RedisCluster::start();
    let (_site, fpm, nginx) = two_hosts_with(&cluster, persistent);
    let hosts = [nginx.pool("host-a"), nginx.pool("host-b")];

    // Sessions logged in before the kill, and the master each one is on.
    let before: Vec<(String, String, u16)> = (0..60)
        .map(|i| {
            let mut b = Browser::new(&hosts[i % 2]);
            let user = format!("user{i}");
            b.page(&format!("login.php?user={user}"));
            let sid = b.sid();
            let master = cluster.master_of(&format!("php_session:{sid}"));
            (user, sid, master)
        })
        .collect();
    let victim = before[0].2;
    let served = cluster
        .nodes_seen_by(victim)
        .into_iter()
        .find(|n| n.port == victim)
        .expect("the victim knows itself")
        .slots;
    let observer = *cluster
        .live_ports()
        .iter()
        .find(|&&p| p != victim)
        .expect("another node");

    // Load: 4 browsers, each on its own session, alternating hosts.
    let stop = Arc::new(AtomicBool::new(false));
    // Ms since `started` when the cluster was whole again (u64::MAX before),
    // and the requests answered without warning since then.
    let recovered_ms = Arc::new(AtomicU64::new(u64::MAX));
    let ok_after = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let load: Vec<_> = (0..4)
        .map(|t| {
            let stop = Arc::clone(&stop);
            let recovered_ms = Arc::clone(&recovered_ms);
            let ok_after = Arc::clone(&ok_after);
            let hosts = hosts.clone();
            thread::spawn(move || {
                let mut log = Vec::new();
                let mut sid: Option<String> = None;
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let answer = get(&hosts[i % 2], "counter.php", sid.as_deref());
                    i += 1;
                    let outcome = if answer.body.contains("Fatal") {
                        Outcome::Fatal
                    } else if answer.status != 200 {
                        Outcome::Status(answer.status)
                    } else if answer.body.contains("Warning") {
                        Outcome::Warning
                    } else {
                        Outcome::Ok
                    };
                    if sid.is_none() {
                        sid = answer.set_sid.clone();
                    }
                    let at = started.elapsed();
                    if outcome == Outcome::Ok
                        && at.as_millis() > u128::from(recovered_ms.load(Ordering::Relaxed))
                    {
                        ok_after.fetch_add(1, Ordering::Relaxed);
                    }
                    let lines = warning_lines(&answer.body, sid.as_deref());
                    log.push((started.elapsed(), outcome, lines, answer.body));
                }
                log
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(500));
    let killed_at = started.elapsed();
    cluster.kill(victim);
    let promoted = cluster.wait_failover(victim, &served, observer);
    let recovered_at = started.elapsed();
    recovered_ms.store(
        u64::try_from(recovered_at.as_millis()).expect("ms fit"),
        Ordering::Relaxed,
    );
    // Until every browser could have waited out a lock left behind (a
    // release that failed during the failover: 5 s of lock wait).
    wait_for(
        Duration::from_secs(30),
        "requests without warnings after the failover",
        || (ok_after.load(Ordering::Relaxed) >= 20).then_some(()),
    );
    stop.store(true, Ordering::Relaxed);
    let stopped_at = started.elapsed();
    let log: Vec<_> = load
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect();

    let count = |o: Outcome| log.iter().filter(|e| e.1 == o).count();
    let failed: Vec<_> = log.iter().filter(|e| e.1 != Outcome::Ok).collect();
    let mut messages = BTreeMap::new();
    for entry in &failed {
        for line in &entry.2 {
            *messages.entry(line.clone()).or_insert(0) += 1;
        }
    }
    println!(
        "failover: master on port {victim} SIGKILLed at {killed_at:?}, replica on port {promoted} \
         serves its slots and cluster_state:ok at {recovered_at:?} ({:?} later)",
        recovered_at - killed_at
    );
    println!(
        "load (4 browsers, both hosts): {} requests: {} ok, {} with warnings, {} fatal, {} not 200",
        log.len(),
        count(Outcome::Ok),
        count(Outcome::Warning),
        count(Outcome::Fatal),
        log.iter()
            .filter(|e| matches!(e.1, Outcome::Status(_)))
            .count()
    );
    if let (Some(first), Some(last)) = (failed.first(), failed.last()) {
        let first = failed.iter().map(|e| e.0).min().unwrap_or(first.0);
        let last = failed.iter().map(|e| e.0).max().unwrap_or(last.0);
        println!("requests with warnings from {first:?} to {last:?}");
    }
    let store_errors: Vec<Duration> = failed
        .iter()
        .filter(|e| e.3.contains("ephpm session store error"))
        .map(|e| e.0)
        .collect();
    if let (Some(first), Some(last)) = (store_errors.iter().min(), store_errors.iter().max()) {
        println!(
            "{} requests with store errors, from {first:?} to {last:?}; later warnings are \
             requests waiting for a lock whose release failed (it expires after its TTL)",
            store_errors.len()
        );
    }
    for (message, n) in &messages {
        println!("  {n} x {message}");
    }

    // Which sessions written before the kill are still there.
    let mut survived = [0usize; 2];
    let mut total = [0usize; 2];
    for (user, sid, master) in &before {
        let on_victim = usize::from(*master == victim);
        total[on_victim] += 1;
        let mut b = Browser::new(&hosts[1]);
        b.sid = Some(sid.clone());
        let body = b.page("whoami.php");
        if body == format!("store-host-b {user}") {
            survived[on_victim] += 1;
        } else {
            assert_eq!(body, "store-host-b -", "session {sid}");
        }
    }
    println!(
        "sessions written before the kill, read after: {} of {} on the killed master survive \
         (its replica had them), {} of {} on the other masters",
        survived[1], total[1], survived[0], total[0]
    );

    // What must hold.
    assert!(total[1] > 0, "the victim served a session");
    assert_eq!(count(Outcome::Fatal), 0, "a PHP fatal error: {failed:?}");
    assert!(
        !log.iter().any(|e| matches!(e.1, Outcome::Status(_))),
        "a request did not answer 200: {failed:?}"
    );
    for entry in &failed {
        assert!(
            entry.3.contains("ephpm session store error while")
                || entry.3.contains("ephpm session lock for"),
            "a failed request without the handler's warning: {}",
            entry.3
        );
    }
    assert_eq!(
        survived[0], total[0],
        "sessions on the live masters are intact"
    );
    let logs = fpm.logs();
    assert!(
        !logs.contains("Fatal") && !logs.contains("SIGSEGV") && !logs.contains("exited on signal"),
        "php-fpm log:\n{logs}"
    );
    // After the failover new sessions work, on both hosts.
    let mut b = Browser::new(&hosts[0]);
    b.page("login.php?user=after");
    b.endpoint = hosts[1].clone();
    assert_eq!(b.page("whoami.php"), "store-host-b after");
    let (_, n, _) = b.counter("counter.php");
    assert_eq!(n, 1);
    // The load ran before, during and after the failover.
    assert!(log.iter().any(|e| e.0 < killed_at && e.1 == Outcome::Ok));
    assert!(log.iter().any(|e| e.0 > recovered_at && e.1 == Outcome::Ok));
    println!("load stopped at {stopped_at:?}, 20 requests without warning after the failover");
}

/// The benchmark page: increments the session's counter, which carries
/// 1 KB besides; prints `<pid> <n> <session id>`.
const BENCH_BODY: &str = r#"session_start();
$_SESSION['blob'] ??= str_repeat('x', 1024);
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo getmypid(), ' ', $_SESSION['n'], ' ', session_id(), "\n";"#;

/// Requests of `page` on `endpoint` for `duration` from 4 browsers at once,
/// each on its own session; returns requests per second. Every request
/// must succeed without a warning and every increment must count.
fn request_rate(endpoint: &Endpoint, page: &str, duration: Duration) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut b = Browser::new(endpoint);
            let page = page.to_string();
            thread::spawn(move || {
                let mut done = 0;
                let mut last = 0;
                while start.elapsed() < duration {
                    let (_, n, _) = b.counter(&page);
                    done += 1;
                    last = n;
                }
                assert_eq!(last, done, "an increment was lost");
                done
            })
        })
        .collect();
    let total: i64 = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// The figure in `docs/sessions.md` (Throughput): the same session page (a counter and 1 KB) through
/// nginx and php-fpm (4 workers per pool), 4 concurrent browsers, with the
/// native `ephpm` handler, the composer `KvSessionHandler` on the local
/// store, and `KvSessionHandler` over `RedisKvOps` over `\RedisCluster`,
/// locking on for all three; 3 interleaved rounds of 1.5 s, median printed.
/// Checks only that every request succeeded and every increment counted.
#[test]
fn bench_session_requests_cluster_vs_native() {
    let cluster = RedisCluster::start();
    let site = Site::new();
    let pools = vec![
        Pool::new("native").line("php_admin_value[session.save_handler] = ephpm"),
        Pool::new("local"),
        Pool::new("cluster"),
        // Persistent connections, the slot map cached in the worker between
        // requests.
        Pool::new("cluster-persistent").line("php_admin_value[redis.clusters.cache_slots] = 1"),
    ];
    let fpm = Fpm::start_with_ini(&site, "bench", pools, PHPREDIS_INI);
    let nginx = Nginx::start(&site, &fpm);
    site.page("bench-native.php", &format!("<?php\n{BENCH_BODY}\n"));
    site.page(
        "bench-local.php",
        &session_page("", "'php_session:', null, null, true", BENCH_BODY),
    );
    site.page(
        "bench-cluster.php",
        &session_page(&cluster_ops(&cluster), LOCKING_OVER_OPS, BENCH_BODY),
    );
    site.page(
        "bench-cluster-persistent.php",
        &session_page(
            &cluster_ops_with(&cluster, true),
            LOCKING_OVER_OPS,
            BENCH_BODY,
        ),
    );
    let variants = [
        (
            "native",
            "bench-native.php",
            "`ephpm` native handler, local store",
        ),
        ("local", "bench-local.php", "KvSessionHandler, local store"),
        (
            "cluster",
            "bench-cluster.php",
            "KvSessionHandler, RedisKvOps over \\RedisCluster, new connections each request",
        ),
        (
            "cluster-persistent",
            "bench-cluster-persistent.php",
            "KvSessionHandler, RedisKvOps over \\RedisCluster, persistent, cached slots",
        ),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _round in 0..3 {
        for (i, (pool, page, _)) in variants.iter().enumerate() {
            rates[i].push(request_rate(
                &nginx.pool(pool),
                page,
                Duration::from_millis(1500),
            ));
        }
    }
    println!("session requests/s (4 browsers, nginx + php-fpm, locking on; median of 3 rounds of 1.5 s):");
    for (i, (_, _, what)) in variants.iter().enumerate() {
        let mut r = rates[i].clone();
        r.sort_by(f64::total_cmp);
        println!("  {what}: {:.0} (rounds: {:.0?})", r[1], rates[i]);
    }
}
