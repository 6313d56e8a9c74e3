//! Sessions and cache on a real Redis Cluster (six `redis-server` nodes,
//! three masters and three replicas: `ephpm_shm_tests::redis_cluster`):
//! the package's PHPUnit group `redis-cluster` (the KvOps contract and the
//! locking session handler on `RedisKvOps` over phpredis's `\RedisCluster`),
//! two php-fpm pools standing for two hosts sharing one logged-in session,
//! and a master killed under load.

use ephpm_shm_tests::browser::{session_page, Browser, COUNTER_BODY};
use ephpm_shm_tests::phpunit;
use ephpm_shm_tests::redis_cluster::{RedisCluster, NODES};
use ephpm_shm_tests::servers::{Fpm, Nginx, Pool, Site};
use std::thread;

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
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "phpunit failed ({}):\n{output}\n{}",
        out.status,
        cluster.logs()
    );
    let summary = output.lines().find(|l| l.contains("OK (")).unwrap_or("");
    println!("phpunit --group redis-cluster: {summary}");
    assert!(
        summary.starts_with("OK ("),
        "phpunit did not report OK:\n{output}"
    );
    for word in ["Skipped", "Risky", "Incomplete"] {
        assert!(
            !output.contains(word),
            "phpunit reported {word} tests:\n{output}"
        );
    }
}

/// php.ini lines loading phpredis (Debian's shared objects, igbinary first:
/// the tests' php.ini loads only our extension otherwise).
const PHPREDIS_INI: &str = "extension=igbinary.so\nextension=redis.so";

/// Two pools standing for two hosts, `host-a` and `host-b`, each with its
/// own ephpm store (`ephpm_kv.name`), and pages whose session handler is
/// `KvSessionHandler` over `RedisKvOps` over `\RedisCluster` seeded with
/// every node of `cluster` (locking on).
fn two_hosts(cluster: &RedisCluster) -> (Site, Fpm, Nginx) {
    let site = Site::new();
    let pools = ["host-a", "host-b"]
        .into_iter()
        .map(|name| Pool::new(name).kv_name(&format!("store-{name}")))
        .collect();
    let fpm = Fpm::start_with_ini(&site, "unused", pools, PHPREDIS_INI);
    let nginx = Nginx::start(&site, &fpm);
    let seeds: Vec<String> = cluster
        .ports()
        .iter()
        .map(|p| format!("'127.0.0.1:{p}'"))
        .collect();
    let pre = format!(
        "$ops = new \\Ephpm\\SessionHandler\\RedisKvOps(new \\RedisCluster(null, [{}], 1.0, 1.0));",
        seeds.join(", ")
    );
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
