//! Sessions and cache on a real Redis Cluster (see
//! `ephpm_shm_tests::redis_cluster`).

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
