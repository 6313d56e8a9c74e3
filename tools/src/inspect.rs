//! The subcommands that read a store: list, keys, get, ttl and session (stats has its own module).

use crate::fail::{key_not_found, Fail, Res};
use crate::output::{escape_key, format_utc, human_size, to_hex};
use crate::segment::FILE_PREFIX;
use crate::session;
use crate::stats::used_percent;
use serde::Serialize;
use shm_store::{Glob, Store, Ttl};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The user name of `uid` from /etc/passwd, else the number.
fn user_name(uid: u32) -> String {
    if let Ok(text) = std::fs::read_to_string("/etc/passwd") {
        for line in text.lines() {
            let mut f = line.split(':');
            if let (Some(name), _, Some(id)) = (f.next(), f.next(), f.next()) {
                if id.parse() == Ok(uid) {
                    return name.to_owned();
                }
            }
        }
    }
    uid.to_string()
}

#[derive(Serialize)]
struct ListEntry {
    name: String,
    path: PathBuf,
    owner: String,
    uid: u32,
    mode: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    used_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub(crate) fn list(dir: &Path, json: bool, default_dir: bool) -> Res {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => Some(rd),
        // The per-user directory appears with the user's first store.
        Err(e) if default_dir && e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Fail::other(format!(
                "cannot read directory {}: {e}",
                dir.display()
            )))
        }
    };
    let mut names: Vec<String> = rd
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter_map(|f| f.strip_prefix(FILE_PREFIX).map(str::to_owned))
        .collect();
    names.sort();
    let mut rows = Vec::new();
    for name in names {
        let path = dir.join(format!("{FILE_PREFIX}{name}"));
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue; // removed meanwhile
        };
        let mut row = ListEntry {
            name: name.clone(),
            path: path.clone(),
            owner: user_name(md.uid()),
            uid: md.uid(),
            mode: format!("{:04o}", md.mode() & 0o7777),
            size: md.len(),
            used_percent: None,
            entries: None,
            created: None,
            error: None,
        };
        match Store::attach(dir, &name).and_then(|s| Ok((s.stats()?, s.created_unix_ms()))) {
            Ok((stats, created)) => {
                row.used_percent = Some((used_percent(&stats) * 10.0).round() / 10.0);
                row.entries = Some(stats.entries);
                row.created = Some(format_utc(created));
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        rows.push(row);
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| Fail::other(e.to_string()))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let ow = rows.iter().map(|r| r.owner.len()).max().unwrap_or(5).max(5);
    writeln!(
        out,
        "{:<w$}  {:<ow$}  {:<4}  {:>10}  {:>6}  {:>10}  CREATED (UTC)",
        "NAME", "OWNER", "MODE", "SIZE", "USED", "ENTRIES"
    )?;
    for r in &rows {
        match &r.error {
            None => writeln!(
                out,
                "{:<w$}  {:<ow$}  {:<4}  {:>10}  {:>5.1}%  {:>10}  {}",
                r.name,
                r.owner,
                r.mode,
                human_size(r.size),
                r.used_percent.unwrap_or(0.0),
                r.entries.unwrap_or(0),
                r.created.as_deref().unwrap_or("")
            )?,
            Some(e) => writeln!(
                out,
                "{:<w$}  {:<ow$}  {:<4}  {:>10}  error: {e}",
                r.name,
                r.owner,
                r.mode,
                human_size(r.size)
            )?,
        }
    }
    Ok(())
}

pub(crate) fn keys(store: &Store, pattern: Option<&str>, limit: Option<u64>) -> Res {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut printed: u64 = 0;
    let mut error: Option<io::Error> = None;
    let limit = limit.unwrap_or(u64::MAX);
    let glob = pattern
        .map(|p| Glob::new(p.as_bytes()))
        .transpose()
        .map_err(|e| Fail::other(e.to_string()))?;
    // Each entry is written as the scan visits it: no list is kept.
    let scanned = store.scan(|e| {
        if error.is_some() || printed >= limit {
            return;
        }
        if glob.as_ref().is_some_and(|g| !g.matches(&e.key)) {
            return;
        }
        let ttl = match e.ttl {
            Ttl::Remaining(_) => e.ttl.as_seconds_code().to_string(),
            _ => "-".to_owned(),
        };
        if let Err(err) = writeln!(out, "{}\t{}\t{}", escape_key(&e.key), e.value_len, ttl) {
            error = Some(err);
        }
        printed += 1;
    });
    let result = match error {
        Some(e) => Err(e),
        None => out.flush(),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        // Damage found on the way is reported after the keys that were listed.
        other => other.map_err(Fail::from).and(scanned.map_err(Fail::from)),
    }
}

pub(crate) fn get(store: &Store, name: &str, key: &str, json: bool, hex: bool) -> Res {
    let value = store
        .get(key.as_bytes())?
        .ok_or_else(|| key_not_found(key, name))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if hex {
        writeln!(out, "{}", to_hex(&value))?;
    } else if json {
        let v = match std::str::from_utf8(&value) {
            Ok(s) => serde_json::Value::String(s.to_owned()),
            Err(_) => serde_json::json!({ "hex": to_hex(&value) }),
        };
        writeln!(out, "{v}")?;
    } else {
        out.write_all(&value)?;
    }
    out.flush()?;
    Ok(())
}

pub(crate) fn ttl(store: &Store, name: &str, key: &str, ms: bool) -> Res {
    let ttl = store.ttl(key.as_bytes())?;
    let code = if ms {
        ttl.as_millis_code()
    } else {
        ttl.as_seconds_code()
    };
    println!("{code}");
    if ttl == Ttl::Missing {
        return Err(key_not_found(key, name));
    }
    Ok(())
}

/// `session`: the PHP session `<prefix><sid>` decoded, as JSON.
pub(crate) fn show_session(store: &Store, name: &str, sid: &str, prefix: &str) -> Res {
    let key = format!("{prefix}{sid}");
    let data = store
        .get(key.as_bytes())?
        .ok_or_else(|| key_not_found(&key, name))?;
    let value = session::decode(&data)
        .map_err(|e| Fail::other(format!("cannot decode session {key}: {e}")))?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| Fail::other(e.to_string()))?;
    println!("{text}");
    // Who holds it, for "why does this user's page hang": on stderr,
    // so that stdout stays the session's JSON.
    if let Some(lock) = store.get(format!("{prefix}lock:{sid}").as_bytes())? {
        eprintln!(
            "note: the session is locked by a running request ({})",
            String::from_utf8_lossy(&lock)
        );
    }
    Ok(())
}
