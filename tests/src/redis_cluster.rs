//! A real Redis Cluster on loopback for the tests: six `redis-server`
//! processes in cluster mode (three masters, three replicas) formed with
//! `redis-cli --cluster create ... --cluster-replicas 1`, each in its own
//! directory of a temporary one, without persistence. The nodes are
//! [`Server`]s: their own process groups, stopped by PID when the cluster
//! is dropped (`SIGTERM`, then `SIGKILL`), their logs printed when a test
//! fails.
//!
//! A node listens on a free port of 127.0.0.1 and on port + 10000 for the
//! cluster bus, so both must be free. `cluster-node-timeout` is 2 s: a
//! killed master's replica takes over within a few seconds.
//!
//! Needs `redis-server` and `redis-cli` (Debian's `redis-server` and
//! `redis-tools`, which `./scripts/setup` installs).

use crate::servers::{free_port, signal, wait_for, Server};
use std::collections::BTreeSet;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Nodes of the cluster: three masters, one replica each.
pub const NODES: usize = 6;
/// `cluster-node-timeout` in milliseconds: how long a master may be
/// unreachable before its replica is promoted.
pub const NODE_TIMEOUT_MS: u32 = 2000;
/// How long forming the cluster (or a failover) may take before a test fails.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

/// One node: its client port and its process (None once killed).
struct Node {
    port: u16,
    server: Option<Server>,
}

/// A node as `CLUSTER NODES` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node id.
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether it is a master.
    pub master: bool,
    /// Flagged `fail` (or `fail?`) by the node asked.
    pub failed: bool,
    /// The master's node id, for a replica.
    pub master_id: Option<String>,
    /// Slot ranges served, for a master (`(first, last)`, inclusive).
    pub slots: Vec<(u16, u16)>,
}

/// A running Redis Cluster; stopped when dropped.
pub struct RedisCluster {
    /// Declared first: stopped (and their logs printed) before `dir` goes.
    nodes: Vec<Node>,
    dir: TempDir,
}

/// Whether 127.0.0.1:`port` can be bound right now.
fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A free port whose cluster bus port (+10000) is free too, and neither of
/// which collides with `taken` (ports and bus ports of the other nodes).
fn free_node_port(taken: &BTreeSet<u16>) -> u16 {
    for _ in 0..200 {
        let port = free_port();
        let Some(bus) = port.checked_add(10000) else {
            continue;
        };
        if !taken.contains(&port) && !taken.contains(&bus) && port_is_free(bus) {
            return port;
        }
    }
    panic!("no free port p with p + 10000 free on 127.0.0.1");
}

/// `redis-cli -p port args...`; its stdout, or the error.
fn try_cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("running redis-cli (install redis-tools): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || stdout.starts_with("ERR") || stdout.starts_with("Could not") {
        return Err(format!(
            "redis-cli -p {port} {args:?} ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// Parses `CLUSTER NODES`.
pub fn parse_nodes(text: &str) -> Vec<NodeInfo> {
    let mut nodes = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            continue;
        }
        // ip:port@cport
        let port = fields[1]
            .split('@')
            .next()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("CLUSTER NODES line {line:?}"));
        let flags: Vec<&str> = fields[2].split(',').collect();
        let slots = fields[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .map(|range| {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                (
                    a.parse().expect("slot number"),
                    b.parse().expect("slot number"),
                )
            })
            .collect();
        nodes.push(NodeInfo {
            id: fields[0].to_string(),
            port,
            master: flags.contains(&"master"),
            failed: flags.contains(&"fail") || flags.contains(&"fail?"),
            master_id: (fields[3] != "-").then(|| fields[3].to_string()),
            slots,
        });
    }
    nodes
}

impl RedisCluster {
    /// Starts six nodes, forms the cluster and waits until every node
    /// reports `cluster_state:ok` and every replica is in sync with its
    /// master.
    pub fn start() -> RedisCluster {
        let dir = tempfile::Builder::new()
            .prefix("ephpm-redis-cluster-")
            .tempdir()
            .expect("temporary directory");
        let mut taken = BTreeSet::new();
        let mut nodes = Vec::new();
        for i in 0..NODES {
            let node_dir = dir.path().join(format!("node{i}"));
            fs::create_dir(&node_dir).expect("node directory");
            let mut started = None;
            let mut last_logs = String::new();
            for _attempt in 0..5 {
                let port = free_node_port(&taken);
                let mut server = Self::spawn_node(&node_dir, i, port);
                if server.wait_listening(port, "redis-server to listen") {
                    started = Some((port, server));
                    break;
                }
                // Exited: most likely the port (or the bus port) was taken
                // meanwhile. Another one.
                last_logs = server.logs();
            }
            let (port, server) = started
                .unwrap_or_else(|| panic!("redis-server node {i} did not start:\n{last_logs}"));
            taken.insert(port);
            taken.insert(port + 10000);
            nodes.push(Node {
                port,
                server: Some(server),
            });
        }
        let cluster = RedisCluster { nodes, dir };
        let addresses: Vec<String> = cluster
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("running redis-cli --cluster create (install redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed ({}):\n{}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            cluster.logs()
        );
        cluster.wait_healthy(NODES);
        cluster
    }

    fn spawn_node(node_dir: &Path, i: usize, port: u16) -> Server {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(node_dir)
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ]);
        Server::spawn(
            &format!("redis-node{i}"),
            &mut cmd,
            node_dir,
            Vec::new(),
            libc::SIGTERM,
        )
    }

    /// The client ports of all nodes (also killed ones), in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The client ports of the nodes still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.server.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// `127.0.0.1:p1,127.0.0.1:p2,...`: every node, for `REDIS_CLUSTER_SEEDS`.
    pub fn seeds(&self) -> String {
        self.ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `redis-cli -p port args...` on a node; panics on failure.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        try_cli(port, args).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// `CLUSTER NODES` as node `port` sees it.
    pub fn nodes_seen_by(&self, port: u16) -> Vec<NodeInfo> {
        parse_nodes(&self.cli(port, &["CLUSTER", "NODES"]))
    }

    /// The port of the master serving `key`'s slot, as a live node sees it.
    pub fn master_of(&self, key: &str) -> u16 {
        let asked = self.live_ports()[0];
        let slot: u16 = self
            .cli(asked, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        self.nodes_seen_by(asked)
            .into_iter()
            .find(|n| n.master && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// SIGKILLs node `port` (a master, in the failover test).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no node on port {port}"));
        let mut server = node.server.take().expect("node already killed");
        assert!(signal(server.pid(), libc::SIGKILL), "node {port} is gone");
        server.stop();
    }

    /// Waits until every live node says `cluster_state:ok` and knows
    /// `expected_nodes` nodes, and every live replica's link to its master
    /// is up. Panics after [`CLUSTER_TIMEOUT`] with what was not ready.
    pub fn wait_healthy(&self, expected_nodes: usize) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            match self.not_healthy(expected_nodes) {
                None => return,
                Some(why) => assert!(
                    Instant::now() < deadline,
                    "the Redis Cluster is not healthy after {CLUSTER_TIMEOUT:?}: {why}\n{}",
                    self.logs()
                ),
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Why the cluster is not healthy yet (see [`RedisCluster::wait_healthy`]).
    fn not_healthy(&self, expected_nodes: usize) -> Option<String> {
        for port in self.live_ports() {
            let info = match try_cli(port, &["CLUSTER", "INFO"]) {
                Ok(info) => info,
                Err(e) => return Some(e),
            };
            if !info.contains("cluster_state:ok")
                || !info.contains(&format!("cluster_known_nodes:{expected_nodes}\r"))
                    && !info.contains(&format!("cluster_known_nodes:{expected_nodes}\n"))
            {
                return Some(format!("node {port}: {info}"));
            }
            let replication = match try_cli(port, &["INFO", "replication"]) {
                Ok(text) => text,
                Err(e) => return Some(e),
            };
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return Some(format!("node {port}: {replication}"));
            }
        }
        None
    }

    /// Waits until node `observer` sees a master other than `dead` serving
    /// every slot `dead` served, and `cluster_state:ok` again. Returns the
    /// promoted node's port.
    pub fn wait_failover(&self, dead: u16, served: &[(u16, u16)], observer: u16) -> u16 {
        wait_for(CLUSTER_TIMEOUT, "a replica to take over", || {
            let info = try_cli(observer, &["CLUSTER", "INFO"]).ok()?;
            if !info.contains("cluster_state:ok") {
                return None;
            }
            let nodes = parse_nodes(&try_cli(observer, &["CLUSTER", "NODES"]).ok()?);
            nodes
                .iter()
                .find(|n| n.master && n.port != dead && !n.failed && n.slots == served)
                .map(|n| n.port)
        })
    }

    /// The logs of every node, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = format!("--- Redis Cluster in {}\n", self.dir.path().display());
        for node in &self.nodes {
            match &node.server {
                Some(server) => text.push_str(&server.logs()),
                None => text.push_str(&format!("--- node {} (killed)\n", node.port)),
            }
        }
        text
    }
}
