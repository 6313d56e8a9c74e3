//! `ephpm-shm`: inspect and administer ephpm shared-memory key-value stores.

mod serve;
mod session;
mod watch;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use shm_store::{glob_match, Codec, EvictionPolicy, Stats, Store, StoreConfig, StoreError, Ttl};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const FILE_PREFIX: &str = "ephpm_kv.";

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  key not found, verify found problems, a damaged stripe was found (and rebuilt),
     rm refused (store in use), flush declined
  2  usage error, store cannot be opened (missing, insecure, incompatible...), other errors";

const VERIFY_HELP: &str = "\
--repair rebuilds a stripe from its heap, as the store does by itself after a
process died holding the stripe's lock; entries in a damaged part of a heap
are lost. A stripe lock that cannot be taken within 5 s is taken over (its
mutex re-initialised) only if the thread recorded as its holder no longer
exists: so no process may be inside the store's code for that stripe (stuck,
stopped with SIGSTOP or in a debugger, or in another pid namespace) while it
runs.

Exit codes:
  0  consistent (after --repair: consistent now)
  1  problems found (after --repair: problems left)
  2  the store cannot be opened, or a lock is held by a live thread";

#[derive(Parser)]
#[command(
    name = "ephpm-shm",
    version,
    about = "Inspect and administer ephpm shared-memory key-value stores",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Directory holding the segment files (ephpm_kv.<name>) [default:
    /// /dev/shm/ephpm-<uid>, the per-user directory of the user running the tool]
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the stores in the directory
    #[command(after_help = EXIT_CODES)]
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show a store's capacity, usage and counters
    #[command(after_help = EXIT_CODES)]
    Stats {
        name: String,
        /// Print JSON (same as --format json)
        #[arg(long)]
        json: bool,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List keys with value size and TTL (seconds, - for none), streamed stripe by stripe
    #[command(after_help = EXIT_CODES)]
    Keys {
        name: String,
        /// Only keys matching this glob (* any run of bytes, ? one byte)
        #[arg(long = "match", value_name = "GLOB")]
        pattern: Option<String>,
        /// Print at most N keys
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Print a value (raw bytes by default)
    #[command(after_help = EXIT_CODES)]
    Get {
        name: String,
        key: String,
        /// Print a JSON string if the value is UTF-8, else {"hex": "..."}
        #[arg(long, conflicts_with = "hex")]
        json: bool,
        /// Print the value as lowercase hex
        #[arg(long)]
        hex: bool,
    },
    /// Print a key's remaining lifetime in seconds (-1 no expiry, -2 missing)
    #[command(after_help = EXIT_CODES)]
    Ttl {
        name: String,
        key: String,
        /// Milliseconds instead of seconds
        #[arg(long)]
        ms: bool,
    },
    /// Store a value ("-" reads it from stdin)
    #[command(after_help = EXIT_CODES)]
    Set {
        name: String,
        key: String,
        value: String,
        /// Expire after SECS seconds
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
    },
    /// Delete a key
    #[command(after_help = EXIT_CODES)]
    Del { name: String, key: String },
    /// Set a key's lifetime to SECS seconds
    #[command(after_help = EXIT_CODES)]
    Expire {
        name: String,
        key: String,
        secs: u64,
    },
    /// Check every invariant of the store
    #[command(after_help = VERIFY_HELP)]
    Verify {
        name: String,
        /// Rebuild stripes with problems, and re-initialise stripe locks that
        /// are unusable (not obtained within 5 s, or garbled) when the thread
        /// they name as holder is gone. Run it when no process is stuck inside
        /// the store; `rm` is the other way out
        #[arg(long)]
        repair: bool,
    },
    /// Delete every key of the store
    #[command(after_help = EXIT_CODES)]
    Flush {
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
    /// Create a store
    #[command(after_help = EXIT_CODES)]
    Create {
        name: String,
        /// Segment size (e.g. 64M, 1G)
        #[arg(long, default_value = "64M")]
        size: String,
        /// Eviction policy, recorded in the store: every process that opens it evicts by it
        /// (noeviction, allkeys-lru, volatile-lru, allkeys-random; default allkeys-lru)
        #[arg(long, value_name = "POLICY")]
        eviction: Option<String>,
        /// Number of lock stripes
        #[arg(long, value_name = "N")]
        stripes: Option<u32>,
        /// Compression recorded in the store as the default of every process that opens it
        /// without asking for its own (none, zstd; default none). Reads decompress whatever
        /// the writer's setting was.
        #[arg(long, value_name = "CODEC")]
        compression: Option<String>,
        /// zstd level recorded with it (default 3)
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        compression_level: Option<i32>,
        /// Values shorter than this are stored raw (bytes, or e.g. 4K; default 1024)
        #[arg(long, value_name = "SIZE")]
        compression_min_size: Option<String>,
    },
    /// Remove a store's segment file; refuses while a process maps it
    #[command(after_help = EXIT_CODES)]
    Rm {
        name: String,
        /// Remove even while processes map it (they keep their mapping)
        #[arg(long)]
        force: bool,
    },
    /// Decode and print a PHP session stored in the store
    #[command(after_help = EXIT_CODES)]
    Session {
        name: String,
        sid: String,
        /// Key prefix of the session keys
        #[arg(long, default_value = "php_session:")]
        prefix: String,
    },
    /// Live view of a store
    #[command(after_help = EXIT_CODES)]
    Watch { name: String },
    /// Serve a store over the Redis protocol (RESP2) until SIGTERM or Ctrl-C
    #[command(after_help = EXIT_CODES)]
    Serve {
        name: String,
        /// TCP address [default: 127.0.0.1:6380 unless --unix is given alone];
        /// an address other than loopback needs --requirepass
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// A unix socket to listen on too (or only)
        #[arg(long, value_name = "PATH")]
        unix: Option<PathBuf>,
        /// The password clients must give with AUTH
        #[arg(long, value_name = "PASSWORD")]
        requirepass: Option<String>,
    },
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Write the man pages (ephpm-shm.1 and one per subcommand) into a directory
    #[command(hide = true)]
    Man {
        /// Where to write them
        out_dir: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Prometheus,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// A failure: the exit code and the one-line message.
struct Fail {
    code: u8,
    msg: String,
}

impl Fail {
    fn not_found(msg: impl Into<String>) -> Fail {
        Fail {
            code: 1,
            msg: msg.into(),
        }
    }
    fn other(msg: impl Into<String>) -> Fail {
        Fail {
            code: 2,
            msg: msg.into(),
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        match e {
            // Found and repaired: reported like a miss, with the reason.
            StoreError::Damaged { .. } | StoreError::Corrupt { .. } => {
                Fail::not_found(e.to_string())
            }
            e => Fail::other(e.to_string()),
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::other(e.to_string())
    }
}

type Res<T = ()> = Result<T, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("ephpm-shm: {}", f.msg);
            }
            ExitCode::from(f.code)
        }
    }
}

fn attach(dir: &Path, name: &str) -> Res<Store> {
    Ok(Store::attach(dir, name)?)
}

fn run(cli: Cli) -> Res {
    let default = cli.dir.is_none();
    let dir = &cli.dir.unwrap_or_else(shm_store::default_dir);
    let out = io::stdout();
    match cli.command {
        Cmd::List { json } => list(dir, json, default),
        Cmd::Stats { name, json, format } => {
            let store = attach(dir, &name)?;
            let format = if json { Format::Json } else { format };
            stats(&store, &name, format)
        }
        Cmd::Keys {
            name,
            pattern,
            limit,
        } => keys(&attach(dir, &name)?, pattern.as_deref(), limit),
        Cmd::Get {
            name,
            key,
            json,
            hex,
        } => {
            let store = attach(dir, &name)?;
            let value = store
                .get(key.as_bytes())?
                .ok_or_else(|| key_not_found(&key, &name))?;
            let mut out = out.lock();
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
        Cmd::Ttl { name, key, ms } => {
            let store = attach(dir, &name)?;
            let ttl = store.ttl(key.as_bytes())?;
            let code = if ms {
                ttl.as_millis_code()
            } else {
                ttl.as_seconds_code()
            };
            println!("{code}");
            if ttl == Ttl::Missing {
                return Err(key_not_found(&key, &name));
            }
            Ok(())
        }
        Cmd::Set {
            name,
            key,
            value,
            ttl,
        } => {
            let store = attach(dir, &name)?;
            let value = if value == "-" {
                let mut buf = Vec::new();
                io::stdin().read_to_end(&mut buf)?;
                buf
            } else {
                value.into_bytes()
            };
            store.set(key.as_bytes(), &value, ttl.map(Duration::from_secs))?;
            Ok(())
        }
        Cmd::Del { name, key } => {
            if attach(dir, &name)?.del(key.as_bytes())? {
                Ok(())
            } else {
                Err(key_not_found(&key, &name))
            }
        }
        Cmd::Expire { name, key, secs } => {
            if attach(dir, &name)?.expire(key.as_bytes(), Duration::from_secs(secs))? {
                Ok(())
            } else {
                Err(key_not_found(&key, &name))
            }
        }
        Cmd::Verify { name, repair: true } => {
            let report = attach(dir, &name)?.repair()?;
            let mut out = out.lock();
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
        Cmd::Verify {
            name,
            repair: false,
        } => {
            let report = attach(dir, &name)?.verify()?;
            if report.is_ok() {
                println!(
                    "ok: {} entries in {} stripes",
                    report.entries, report.stripes_checked
                );
                Ok(())
            } else {
                let mut out = out.lock();
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
        Cmd::Flush { name, yes } => {
            let store = attach(dir, &name)?;
            let n = store.stats()?.entries;
            if !yes {
                eprint!("flush all {n} keys of {name}? [y/N] ");
                io::stderr().flush()?;
                let mut line = String::new();
                io::stdin().lock().read_line(&mut line)?;
                let answer = line.trim().to_ascii_lowercase();
                if answer != "y" && answer != "yes" {
                    return Err(Fail::not_found("flush declined, nothing deleted"));
                }
            }
            store.flush_all()?;
            println!("flushed {n} keys of {name}");
            Ok(())
        }
        Cmd::Create {
            name,
            size,
            eviction,
            stripes,
            compression,
            compression_level,
            compression_min_size,
        } => create(
            dir,
            &name,
            &size,
            eviction.as_deref(),
            stripes,
            CompressionArgs {
                codec: compression.as_deref(),
                level: compression_level,
                min_size: compression_min_size.as_deref(),
            },
        ),
        Cmd::Rm { name, force } => rm(dir, &name, force),
        Cmd::Session { name, sid, prefix } => {
            let store = attach(dir, &name)?;
            let key = format!("{prefix}{sid}");
            let data = store
                .get(key.as_bytes())?
                .ok_or_else(|| key_not_found(&key, &name))?;
            let value = session::decode(&data)
                .map_err(|e| Fail::other(format!("cannot decode session {key}: {e}")))?;
            let text =
                serde_json::to_string_pretty(&value).map_err(|e| Fail::other(e.to_string()))?;
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
        Cmd::Serve {
            name,
            listen,
            unix,
            requirepass,
        } => serve::serve(
            dir,
            &name,
            serve::Options {
                listen,
                unix,
                requirepass,
            },
        ),
        Cmd::Watch { name } => {
            let store = attach(dir, &name)?;
            Ok(watch::run(&store, &name)?)
        }
        Cmd::Completions { shell } => {
            let shell = match shell {
                CompletionShell::Bash => clap_complete::Shell::Bash,
                CompletionShell::Zsh => clap_complete::Shell::Zsh,
                CompletionShell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "ephpm-shm", &mut out.lock());
            Ok(())
        }
        Cmd::Man { out_dir } => man_pages(&out_dir),
    }
}

/// Renders the man pages from the clap definition: `ephpm-shm.1`, then
/// `ephpm-shm-<subcommand>.1` for each visible subcommand (as git and
/// cargo name theirs), so each command's options are documented.
fn man_pages(out_dir: &Path) -> Res {
    let cmd = Cli::command();
    let write = |file: String, page: clap::Command| -> Res {
        let path = out_dir.join(file);
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        std::fs::write(&path, buf)
            .map_err(|e| Fail::other(format!("writing {}: {e}", path.display())))
    };
    std::fs::create_dir_all(out_dir)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ephpm-shm-{}", sub.get_name());
        // The page's NAME and SYNOPSIS say `ephpm-shm-stats`, as `man git-log` does.
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("ephpm-shm {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        write(format!("{name}.1"), page)?;
    }
    write("ephpm-shm.1".to_owned(), cmd)
}

fn key_not_found(key: &str, name: &str) -> Fail {
    Fail::not_found(format!("key {key:?} not found in store {name}"))
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A key printed on one line: valid UTF-8 as is, except `\` and control
/// characters; invalid bytes and control characters as `\xNN`.
fn escape_key(key: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(key.len());
    for chunk in key.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                c if c.is_control() && (c as u32) < 0x100 => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

fn keys(store: &Store, pattern: Option<&str>, limit: Option<u64>) -> Res {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut printed: u64 = 0;
    let mut error: Option<io::Error> = None;
    let limit = limit.unwrap_or(u64::MAX);
    // Each entry is written as the scan visits it: no list is kept.
    let scanned = store.scan(|e| {
        if error.is_some() || printed >= limit {
            return;
        }
        if let Some(p) = pattern {
            if !glob_match(p.as_bytes(), &e.key) {
                return;
            }
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

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time in milliseconds.
fn format_utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

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

fn used_percent(s: &Stats) -> f64 {
    let cap = s.bytes_used + s.bytes_free;
    if cap == 0 {
        0.0
    } else {
        s.bytes_used as f64 * 100.0 / cap as f64
    }
}

fn list(dir: &Path, json: bool, default_dir: bool) -> Res {
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

fn stats(store: &Store, name: &str, format: Format) -> Res {
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

/// `create`'s compression options, as given.
struct CompressionArgs<'a> {
    codec: Option<&'a str>,
    level: Option<i32>,
    min_size: Option<&'a str>,
}

fn create(
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

fn rm(dir: &Path, name: &str, force: bool) -> Res {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_key(b"plain:key"), "plain:key");
        assert_eq!(escape_key(b"a\x00b"), "a\\x00b");
        assert_eq!(escape_key(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(escape_key("é\\".as_bytes()), "é\\\\");
    }

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_795_311_987_000), "2026-11-22 01:46:27");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}
