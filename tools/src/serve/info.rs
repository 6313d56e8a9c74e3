//! `INFO`: the store's figures in Redis's sections and field names, so
//! dashboards and exporters that scrape Redis read them unchanged.

use super::Server;
use shm_store::Ttl;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// The text of `INFO [section]` (`all`, `everything` or none: every section).
pub(super) fn render(server: &Server, section: Option<&[u8]>) -> String {
    let want = section
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_else(|| "default".into());
    let all = matches!(want.as_str(), "default" | "all" | "everything");
    let mut out = String::new();
    let store = &server.store;
    let stats = store.stats();
    if all || want == "server" {
        let _ = write!(
            out,
            "# Server\r\nredis_version:7.0.0\r\nephpm_shm_version:{}\r\nredis_mode:standalone\r\n\
             os:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\
             ephpm_store_path:{}\r\nephpm_layout_version:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            server.tcp_port.unwrap_or(0),
            server.started.elapsed().as_secs(),
            store.path().display(),
            shm_store::LAYOUT_VERSION,
        );
    }
    if all || want == "clients" {
        let _ = write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n",
            server.connected.load(Relaxed),
            server.limits.maxclients,
        );
    }
    if all || want == "memory" {
        let (used, free) = stats
            .as_ref()
            .map_or((0, 0), |s| (s.bytes_used, s.bytes_free));
        let _ = write!(
            out,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{:.2}M\r\nmaxmemory:{}\r\n\
             maxmemory_human:{:.2}M\r\nmaxmemory_policy:{}\r\nephpm_segment_bytes:{}\r\n\r\n",
            used as f64 / (1 << 20) as f64,
            used + free,
            (used + free) as f64 / (1 << 20) as f64,
            store.policy(),
            store.geometry().total_size,
        );
    }
    if all || want == "stats" {
        let s = stats.as_ref().ok();
        let f = |get: fn(&shm_store::Stats) -> u64| s.map_or(0, get);
        let _ = write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             rejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\n\
             keyspace_misses:{}\r\nephpm_recoveries:{}\r\n\r\n",
            server.connections.load(Relaxed),
            server.commands.load(Relaxed),
            server.rejected.load(Relaxed),
            f(|s| s.expirations),
            f(|s| s.evictions),
            f(|s| s.hits),
            f(|s| s.misses),
            f(|s| s.recoveries),
        );
    }
    if all || want == "keyspace" {
        out.push_str("# Keyspace\r\n");
        // Keys with a TTL are counted by a scan (one stripe lock at a time).
        let (mut keys, mut expires, mut ttl_sum) = (0u64, 0u64, 0u128);
        let _ = store.scan(|e| {
            keys += 1;
            if let Ttl::Remaining(d) = e.ttl {
                expires += 1;
                ttl_sum += d as u128;
            }
        });
        if keys > 0 {
            let avg = if expires > 0 {
                ttl_sum / expires as u128
            } else {
                0
            };
            let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl={avg}\r\n");
        }
        out.push_str("\r\n");
    }
    out
}
