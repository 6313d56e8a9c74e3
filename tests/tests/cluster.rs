//! Sessions and cache on a real Redis Cluster (six `redis-server` nodes,
//! three masters and three replicas: `ephpm_shm_tests::redis_cluster`):
//! the package's PHPUnit group `redis-cluster` (the KvOps contract and the
//! locking session handler on `RedisKvOps` over phpredis's `\RedisCluster`).

use ephpm_shm_tests::phpunit;
use ephpm_shm_tests::redis_cluster::{RedisCluster, NODES};

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
