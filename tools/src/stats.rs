//! `stats`: a store's capacity, usage and counters, as text, JSON or Prometheus metrics.

use crate::cli::Format;
use crate::fail::{Fail, Res};
use crate::output::{format_utc, human_size};
use serde::Serialize;
use shm_store::{Stats, Store};
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Serialize)]
struct StatsJson {
    store: String,
    path: PathBuf,
    layout_version: u32,
    /// The store's eviction policy (recorded when it was created).
    eviction: String,
    /// The store's default compression (recorded when it was created;
    /// each process may ask for its own).
    compression: String,
    compression_level: i32,
    compression_min_size: u64,
    /// Entries stored compressed, their values' original bytes and the
    /// bytes they take in the store.
    compressed_entries: u64,
    compressed_raw_bytes: u64,
    compressed_stored_bytes: u64,
    segment_bytes: u64,
    capacity_bytes: u64,
    used_bytes: u64,
    free_bytes: u64,
    used_percent: f64,
    entries: u64,
    /// Index slots in use (each stripe's index grows with its entries).
    slots: u64,
    hits: u64,
    misses: u64,
    hit_ratio: Option<f64>,
    expirations: u64,
    evictions: u64,
    recoveries: u64,
    /// The watch table (`ephpm_kv_wait`): its slots, the keys in it, and
    /// those with a live waiter.
    watch_slots: usize,
    watched_keys: usize,
    waited_keys: usize,
    /// Entries holding the parts of large values (not counted in `entries`).
    large_value_parts: u64,
    /// Values longer than this are kept in parts of this size.
    part_bytes: u32,
    stripes: u32,
    /// The most slots a stripe's index can grow to.
    slots_per_stripe: u32,
    heap_bytes_per_stripe: u32,
    max_key_len: u32,
    max_value_len: u32,
    stripe_entries_min: u64,
    stripe_entries_avg: f64,
    stripe_entries_max: u64,
    created: String,
}

pub(crate) fn used_percent(s: &Stats) -> f64 {
    let cap = s.bytes_used + s.bytes_free;
    if cap == 0 {
        0.0
    } else {
        s.bytes_used as f64 * 100.0 / cap as f64
    }
}

pub(crate) fn stats(store: &Store, name: &str, format: Format) -> Res {
    let s = store.stats()?;
    let g = store.geometry();
    let lookups = s.hits + s.misses;
    let per: Vec<u64> = s.stripes.iter().map(|x| x.entries).collect();
    let watches = store.watch_stats();
    let j = StatsJson {
        store: name.to_owned(),
        path: store.path().to_path_buf(),
        layout_version: shm_store::LAYOUT_VERSION,
        eviction: store.policy().to_string(),
        compression: store.store_compression().codec.to_string(),
        compression_level: store.store_compression().level,
        compression_min_size: store.store_compression().min_size as u64,
        compressed_entries: s.compressed_entries,
        compressed_raw_bytes: s.compressed_raw_bytes,
        compressed_stored_bytes: s.compressed_stored_bytes,
        segment_bytes: g.total_size,
        capacity_bytes: s.bytes_used + s.bytes_free,
        used_bytes: s.bytes_used,
        free_bytes: s.bytes_free,
        used_percent: used_percent(&s),
        entries: s.entries,
        slots: s.slots,
        hits: s.hits,
        misses: s.misses,
        hit_ratio: (lookups > 0).then(|| s.hits as f64 / lookups as f64),
        expirations: s.expirations,
        evictions: s.evictions,
        recoveries: s.recoveries,
        watch_slots: watches.slots,
        watched_keys: watches.in_use,
        waited_keys: watches.waiting,
        large_value_parts: s.parts,
        part_bytes: g.part_len,
        stripes: g.stripes,
        slots_per_stripe: g.slots_per_stripe,
        heap_bytes_per_stripe: g.heap_size,
        max_key_len: g.max_key_len,
        max_value_len: g.max_value_len,
        stripe_entries_min: per.iter().copied().min().unwrap_or(0),
        stripe_entries_avg: if per.is_empty() {
            0.0
        } else {
            per.iter().sum::<u64>() as f64 / per.len() as f64
        },
        stripe_entries_max: per.iter().copied().max().unwrap_or(0),
        created: format_utc(store.created_unix_ms()),
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&j).map_err(|e| Fail::other(e.to_string()))?;
            writeln!(out, "{text}")?;
        }
        Format::Prometheus => {
            let metrics: [(&str, &str, &str, f64); 18] = [
                (
                    "segment_bytes",
                    "gauge",
                    "Size of the segment file in bytes.",
                    j.segment_bytes as f64,
                ),
                (
                    "capacity_bytes",
                    "gauge",
                    "Heap bytes available for entries.",
                    j.capacity_bytes as f64,
                ),
                (
                    "used_bytes",
                    "gauge",
                    "Heap bytes used by entries.",
                    j.used_bytes as f64,
                ),
                (
                    "free_bytes",
                    "gauge",
                    "Heap bytes free.",
                    j.free_bytes as f64,
                ),
                ("entries", "gauge", "Live entries.", j.entries as f64),
                (
                    "compressed_entries",
                    "gauge",
                    "Entries stored compressed.",
                    j.compressed_entries as f64,
                ),
                (
                    "compressed_raw_bytes",
                    "gauge",
                    "Original bytes of the values stored compressed.",
                    j.compressed_raw_bytes as f64,
                ),
                (
                    "compressed_stored_bytes",
                    "gauge",
                    "Bytes the compressed values take in the store.",
                    j.compressed_stored_bytes as f64,
                ),
                (
                    "large_value_parts",
                    "gauge",
                    "Entries holding parts of large values.",
                    j.large_value_parts as f64,
                ),
                (
                    "hits_total",
                    "counter",
                    "Lookups that found a live key.",
                    j.hits as f64,
                ),
                (
                    "misses_total",
                    "counter",
                    "Lookups that found no live key.",
                    j.misses as f64,
                ),
                (
                    "expirations_total",
                    "counter",
                    "Entries removed because their TTL passed.",
                    j.expirations as f64,
                ),
                (
                    "evictions_total",
                    "counter",
                    "Entries evicted to make room.",
                    j.evictions as f64,
                ),
                (
                    "recoveries_total",
                    "counter",
                    "Stripe rebuilds after a lock holder died.",
                    j.recoveries as f64,
                ),
                (
                    "stripes",
                    "gauge",
                    "Lock stripes of the segment.",
                    j.stripes as f64,
                ),
                (
                    "stripe_entries_min",
                    "gauge",
                    "Entries of the least loaded stripe.",
                    j.stripe_entries_min as f64,
                ),
                (
                    "stripe_entries_max",
                    "gauge",
                    "Entries of the most loaded stripe.",
                    j.stripe_entries_max as f64,
                ),
                (
                    "layout_version",
                    "gauge",
                    "Segment layout version.",
                    j.layout_version as f64,
                ),
            ];
            for (metric, kind, help, value) in metrics {
                writeln!(out, "# HELP ephpm_kv_{metric} {help}")?;
                writeln!(out, "# TYPE ephpm_kv_{metric} {kind}")?;
                writeln!(out, "ephpm_kv_{metric}{{store=\"{name}\"}} {value}")?;
            }
        }
        Format::Text => {
            let ratio = j
                .hit_ratio
                .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
            writeln!(out, "store:        {}", j.store)?;
            writeln!(out, "path:         {}", j.path.display())?;
            writeln!(out, "layout:       version {}", j.layout_version)?;
            writeln!(out, "eviction:     {}", j.eviction)?;
            writeln!(
                out,
                "compression:  {} by default (level {}, values from {} bytes)",
                j.compression, j.compression_level, j.compression_min_size
            )?;
            writeln!(out, "created:      {} UTC", j.created)?;
            writeln!(
                out,
                "capacity:     {} ({} bytes of heap, segment {})",
                human_size(j.capacity_bytes),
                j.capacity_bytes,
                human_size(j.segment_bytes)
            )?;
            writeln!(
                out,
                "used:         {} ({} bytes, {:.1}%)",
                human_size(j.used_bytes),
                j.used_bytes,
                j.used_percent
            )?;
            writeln!(
                out,
                "free:         {} ({} bytes)",
                human_size(j.free_bytes),
                j.free_bytes
            )?;
            writeln!(
                out,
                "entries:      {} (index: {} slots in use)",
                j.entries, j.slots
            )?;
            writeln!(
                out,
                "large values: {} parts of up to {}",
                j.large_value_parts,
                human_size(u64::from(j.part_bytes))
            )?;
            let saved = match j.compressed_raw_bytes {
                0 => "-".to_owned(),
                raw => format!(
                    "{:.1}% of the original",
                    j.compressed_stored_bytes as f64 * 100.0 / raw as f64
                ),
            };
            writeln!(
                out,
                "compressed:   {} entries, {} raw bytes stored in {} ({saved})",
                j.compressed_entries, j.compressed_raw_bytes, j.compressed_stored_bytes
            )?;
            writeln!(out, "hits:         {}", j.hits)?;
            writeln!(out, "misses:       {}", j.misses)?;
            writeln!(out, "hit ratio:    {ratio}")?;
            writeln!(out, "expirations:  {}", j.expirations)?;
            writeln!(out, "evictions:    {}", j.evictions)?;
            writeln!(out, "recoveries:   {}", j.recoveries)?;
            writeln!(
                out,
                "watches:      {} of {} slots in use, {} with a waiter",
                j.watched_keys, j.watch_slots, j.waited_keys
            )?;
            writeln!(
                out,
                "stripes:      {} (up to {} slots, {} heap each)",
                j.stripes,
                j.slots_per_stripe,
                human_size(u64::from(j.heap_bytes_per_stripe))
            )?;
            writeln!(
                out,
                "stripe load:  entries min {} / avg {:.1} / max {}",
                j.stripe_entries_min, j.stripe_entries_avg, j.stripe_entries_max
            )?;
            writeln!(
                out,
                "limits:       key {} bytes, value {} bytes",
                j.max_key_len, j.max_value_len
            )?;
        }
    }
    Ok(())
}
