//! The subcommands that look after a store as a whole: verify (and verify --repair),
//! create and rm.

use crate::fail::{Fail, Res};
use crate::output::human_size;
use crate::segment::FILE_PREFIX;
use shm_store::{Codec, EvictionPolicy, Store, StoreConfig};
use std::io::{self, Write};
use std::path::Path;

pub(crate) fn verify(store: &Store, name: &str) -> Res {
    let report = store.verify()?;
    if report.is_ok() {
        println!(
            "ok: {} entries in {} stripes",
            report.entries, report.stripes_checked
        );
        Ok(())
    } else {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        for p in &report.problems {
            writeln!(out, "{p}")?;
        }
        out.flush()?;
        Err(Fail::not_found(format!(
            "{} problem(s) found in {name}; `ephpm-shm verify --repair {name}` \
             rebuilds the damaged stripes (see `ephpm-shm verify --help`)",
            report.problems.len(),
        )))
    }
}

/// `verify --repair`.
pub(crate) fn repair(store: &Store, name: &str) -> Res {
    let report = store.repair()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in &report.repaired {
        writeln!(out, "repaired {line}")?;
    }
    for p in &report.remaining {
        writeln!(out, "{p}")?;
    }
    if report.remaining.is_empty() {
        writeln!(
            out,
            "ok: {} entries in {} stripes",
            report.entries, report.stripes_checked
        )?;
        out.flush()?;
        Ok(())
    } else {
        out.flush()?;
        Err(Fail::not_found(format!(
            "{} problem(s) left in {name} after the repair; remove it with \
             `ephpm-shm rm {name}`",
            report.remaining.len()
        )))
    }
}

/// `create`'s compression options, as given.
pub(crate) struct CompressionArgs<'a> {
    pub(crate) codec: Option<&'a str>,
    pub(crate) level: Option<i32>,
    pub(crate) min_size: Option<&'a str>,
}

pub(crate) fn create(
    dir: &Path,
    name: &str,
    size: &str,
    eviction: Option<&str>,
    stripes: Option<u32>,
    compression: CompressionArgs<'_>,
) -> Res {
    shm_store::validate_name(name)?;
    let size = shm_store::parse_size(size)?;
    let mut config = StoreConfig::new(name).dir(dir).size(size);
    if let Some(p) = eviction {
        config = config.eviction(p.parse::<EvictionPolicy>()?);
    }
    let mut recorded = shm_store::Compression::default();
    if let Some(codec) = compression.codec {
        recorded.codec = codec.parse::<Codec>()?;
    }
    if let Some(level) = compression.level {
        recorded.level = level;
    }
    if let Some(min) = compression.min_size {
        let min = shm_store::parse_size(min)?;
        recorded.min_size = usize::try_from(min).unwrap_or(usize::MAX);
    }
    config = config.store_compression(recorded);
    if let Some(n) = stripes {
        config = config.stripes(n);
    }
    let path = config.path()?;
    if path.exists() {
        return Err(Fail::not_found(format!(
            "store {name} already exists at {}",
            path.display()
        )));
    }
    let store = Store::open(&config)?;
    let g = store.geometry();
    let c = store.store_compression();
    println!(
        "created {} ({}, {} stripes, eviction {}, compression {} level {} from {} bytes)",
        store.path().display(),
        human_size(g.total_size),
        g.stripes,
        store.policy(),
        c.codec,
        c.level,
        c.min_size
    );
    Ok(())
}

/// PIDs of the processes that map `path` (unreadable /proc entries skipped).
fn mapping_pids(path: &Path) -> Vec<u32> {
    let me = std::process::id();
    let target = path.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in rd.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(maps) = std::fs::read_to_string(entry.path().join("maps")) else {
            continue;
        };
        let mapped = maps.lines().any(|line| {
            let l = line.strip_suffix(" (deleted)").unwrap_or(line);
            l.ends_with(&target) && l[..l.len() - target.len()].ends_with(' ')
        });
        if mapped {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

pub(crate) fn rm(dir: &Path, name: &str, force: bool) -> Res {
    shm_store::validate_name(name)?;
    let path = dir.join(format!("{FILE_PREFIX}{name}"));
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(Fail::other(format!(
            "segment {} does not exist",
            path.display()
        )));
    }
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let pids = mapping_pids(&canonical);
    if !pids.is_empty() && !force {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        return Err(Fail::not_found(format!(
            "store {name} is in use by process(es) {}; stop them first or use --force",
            list.join(", ")
        )));
    }
    std::fs::remove_file(&path)
        .map_err(|e| Fail::other(format!("cannot remove {}: {e}", path.display())))?;
    println!("removed {}", path.display());
    Ok(())
}
