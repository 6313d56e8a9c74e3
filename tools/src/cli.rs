//! The command line of `ephpm-shm`: the clap definitions (`Cli`, `Cmd`, `Format`,
//! `CompletionShell`) and their help texts, from which the man pages and completions
//! are generated too.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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

const SERVE_HELP: &str = "\
Who can connect: the segment is 0600 in the owner's 0700 directory, and serve
gives no other local user more. Without --listen or --unix it listens only on
the unix socket <dir>/ephpm_serve.<name>.sock beside the segment (mode 0600,
in that directory): the store's owner only; on every unix socket, a client
of another user (but root) is dropped at accept, whatever the socket's mode. TCP has no owner check, so any
--listen address, loopback included, is refused without a password, which
clients then give with AUTH; only a loopback address can be served without
one, with --insecure-open-to-local-users (every local user can then read and
write the store, sessions included; a warning says so).

The password: --requirepass-file PATH (its first line; the file must not be
readable or writable by group or others), or the environment variable
EPHPM_SHM_REQUIREPASS, or --requirepass PASSWORD, which every local user can
read in ps and /proc/<pid>/cmdline (a warning says so).

Exit codes:
  0  stopped by SIGTERM or Ctrl-C
  2  usage error, store cannot be opened, refused (TCP without a password, a
     password file others can read), cannot listen";

#[derive(Parser)]
#[command(
    name = "ephpm-shm",
    version,
    about = "Inspect and administer ephpm shared-memory key-value stores",
    after_help = EXIT_CODES
)]
pub(crate) struct Cli {
    /// Directory holding the segment files (ephpm_kv.<name>) [default:
    /// /dev/shm/ephpm-<uid>, the per-user directory of the user running the tool]
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
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
    ///
    /// This is the way to get rid of a store. Never truncate a segment or
    /// copy another file over it while processes map it: they lose the
    /// pages under them, and every call on the store fails in each of them
    /// ("segment ... is truncated") until they are restarted (without the
    /// guard each process has, they would die of SIGBUS). After such an
    /// accident: `ephpm-shm rm --force NAME`, then reload the pool.
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
    #[command(after_help = SERVE_HELP)]
    Serve {
        name: String,
        /// A TCP address to listen on (e.g. 127.0.0.1:6380); needs a password
        /// (--requirepass-file, EPHPM_SHM_REQUIREPASS or --requirepass)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// A unix socket to listen on (made 0600) [default, without --listen:
        /// <dir>/ephpm_serve.<name>.sock beside the segment]
        #[arg(long, value_name = "PATH")]
        unix: Option<PathBuf>,
        /// Read the password clients must give with AUTH from the first line of
        /// this file (mode 0600 or 0400)
        #[arg(long, value_name = "PATH", conflicts_with = "requirepass")]
        requirepass_file: Option<PathBuf>,
        /// The password clients must give with AUTH; visible to every local user
        /// in ps: prefer --requirepass-file or EPHPM_SHM_REQUIREPASS
        #[arg(long, value_name = "PASSWORD")]
        requirepass: Option<String>,
        /// Serve a loopback --listen address without a password: every local
        /// user can then read and write the store (sessions included)
        #[arg(long, requires = "listen")]
        insecure_open_to_local_users: bool,
        #[command(flatten)]
        limits: ServeLimits,
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

/// What one client of `serve` may take: connections, time, memory.
#[derive(clap::Args, Clone, Copy)]
pub(crate) struct ServeLimits {
    /// Most clients connected at once; one more is answered "-ERR max number of
    /// clients reached" and closed [default: 10000, or the open-file limit (raised
    /// to its hard limit first) minus 32 if that is lower]
    #[arg(long, value_name = "N")]
    pub(crate) maxclients: Option<u32>,
    /// Close a client after SECS seconds without a command, or without taking any
    /// of its replies (0: never)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub(crate) timeout: u64,
    /// With a password: close a client that has not authenticated SECS seconds
    /// after connecting (0: never). Before AUTH a command may be at most 4 KiB (plus
    /// the password's length)
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub(crate) auth_timeout: u64,
    /// Largest command a client may send (its bytes on the wire, e.g. 1M); a larger
    /// one is answered with a protocol error and the client closed [default: the
    /// store's largest value and key + 64 KiB]
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub(crate) max_frame: Option<u64>,
    /// Largest reply (e.g. 16M); a larger one (a big MGET or KEYS) is answered with
    /// an error instead. Commands are not read while more than 64 KiB of a client's
    /// replies are unsent, so this bounds each client's output buffer [default:
    /// the store's largest value and key + 64 KiB]
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub(crate) max_output: Option<u64>,
}

fn size(text: &str) -> Result<u64, String> {
    match shm_store::parse_size(text) {
        Ok(0) => Err("must be at least 1 byte".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    Prometheus,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}
