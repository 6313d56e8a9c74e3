//! `ephpm-shm serve` run as a process and spoken to over its sockets: who
//! can reach it (the owner's unix socket by default, TCP only with a
//! password, the password kept out of `ps`), and the commands that must
//! not lose data when a step fails (`RENAME`, `MSET`).

use shm_store::{EvictionPolicy, Store, StoreConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};

/// A private store directory (mode 0700, as the per-user default is).
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn make(dir: &Path, name: &str, cfg: impl FnOnce(StoreConfig) -> StoreConfig) -> Store {
    Store::open(&cfg(StoreConfig::new(name).dir(dir))).unwrap()
}

/// A running `serve`, killed when dropped. Its stderr is read up to the
/// line that says where it listens, so it is ready when this returns.
struct Serve {
    child: Child,
    /// What it printed before it listened (warnings).
    before: Vec<String>,
    /// The line naming where it listens.
    started: String,
    /// The rest of its stderr, kept open.
    stderr: BufReader<ChildStderr>,
}

/// What `serve` did when it did not start: its stderr and exit code.
struct Refused {
    stderr: String,
    code: Option<i32>,
}

fn spawn(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Serve, Refused> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ephpm-shm"));
    cmd.arg("--dir")
        .arg(dir)
        .args(["serve", name])
        .args(args)
        .env_remove("EPHPM_SHM_REQUIREPASS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start ephpm-shm serve");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut serve = Serve {
        child,
        before: Vec::new(),
        started: String::new(),
        stderr,
    };
    loop {
        let mut line = String::new();
        // Blocks until the server says something or exits (EOF).
        if serve.stderr.read_line(&mut line).unwrap() == 0 {
            return Err(Refused {
                stderr: serve.before.concat(),
                code: serve.child.wait().unwrap().code(),
            });
        }
        if line.starts_with("ephpm-shm serve: store ") {
            serve.started = line;
            return Ok(serve);
        }
        serve.before.push(line);
    }
}

impl Serve {
    fn start(dir: &Path, name: &str, args: &[&str]) -> Serve {
        spawn(dir, name, args, &[])
            .unwrap_or_else(|r| panic!("serve did not start (exit {:?}): {}", r.code, r.stderr))
    }
}
impl Serve {
    /// The TCP port it listens on, from its start line.
    fn port(&self) -> u16 {
        let addr = self
            .started
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no TCP address in {:?}", self.started));
        addr["127.0.0.1:".len()..]
            .trim_end_matches(',')
            .parse()
            .unwrap()
    }

    fn tcp(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port())).unwrap()
    }

    /// Whether a line it printed before listening has all these words.
    fn warned(&self, words: &[&str]) -> bool {
        self.before
            .iter()
            .any(|l| words.iter().all(|w| l.contains(w)))
    }
}

/// `serve` with these arguments, which must refuse to start.
fn refused(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Refused {
    match spawn(dir, name, args, env) {
        Ok(serve) => panic!("serve {args:?} started: {}", serve.started),
        Err(r) => r,
    }
}

/// A socket a process listens on.
#[derive(Debug, PartialEq, Eq)]
enum Listener {
    Tcp(u16),
    Unix(PathBuf),
}

/// Every socket process `pid` listens on, from /proc: its descriptors'
/// socket inodes looked up in the kernel's TCP and unix socket tables.
fn listeners(pid: u32) -> Vec<Listener> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_str()?;
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // st 0A is LISTEN; the local address is HEXADDR:HEXPORT.
            if f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next().unwrap();
                found.push(Listener::Tcp(u16::from_str_radix(port, 16).unwrap()));
            }
        }
    }
    for line in std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Flags 00010000 is a listening socket.
        let listening = u32::from_str_radix(f[3], 16).unwrap() & 0x10000 != 0;
        if listening && f.len() > 7 && inodes.iter().any(|i| i == f[6]) {
            found.push(Listener::Unix(PathBuf::from(f[7])));
        }
    }
    found
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one command and renders its reply: `+OK`, `-ERR ...`, `:5`,
/// `$value` or `(nil)` (arrays are not needed here).
fn call(s: &mut (impl Read + Write), args: &[&[u8]]) -> String {
    let mut frame = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        frame.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        frame.extend_from_slice(a);
        frame.extend_from_slice(b"\r\n");
    }
    s.write_all(&frame).unwrap();
    let line = read_line(s);
    match line.as_bytes().first() {
        Some(b'$') if line == "$-1" => "(nil)".into(),
        Some(b'$') => {
            let len: usize = line[1..].parse().unwrap();
            let mut value = vec![0u8; len + 2];
            s.read_exact(&mut value).unwrap();
            value.truncate(len);
            format!("${}", String::from_utf8_lossy(&value))
        }
        _ => line,
    }
}

fn read_line(s: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while !line.ends_with(b"\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed: {line:?}");
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).unwrap()
}

/// `serve` on an explicit unix socket (no TCP, no password needed), and a
/// connection to it.
fn serve_on_socket(dir: &Path, name: &str) -> (Serve, UnixStream) {
    let socket = dir.join("test.sock");
    let serve = Serve::start(dir, name, &["--unix", socket.to_str().unwrap()]);
    assert!(serve.started.contains("test.sock"), "{}", serve.started);
    assert!(serve.before.is_empty(), "{:?}", serve.before);
    (serve, UnixStream::connect(&socket).unwrap())
}

fn ttl_ms(c: &mut UnixStream, key: &[u8]) -> i64 {
    call(c, &[b"PTTL", key])[1..].parse().unwrap()
}

#[test]
fn rename_to_a_name_the_store_refuses_keeps_the_source() {
    let dir = private_dir();
    make(dir.path(), "r", |c| c.size(4 << 20));
    let (_serve, mut c) = serve_on_socket(dir.path(), "r");
    assert_eq!(
        call(&mut c, &[b"SET", b"src", b"precious", b"EX", b"1000"]),
        "+OK"
    );
    let too_long = vec![b'k'; 4097];
    for (what, new_name) in [("4097 bytes", &too_long[..]), ("empty", b"")] {
        let reply = call(&mut c, &[b"RENAME", b"src", new_name]);
        assert!(reply.starts_with("-ERR "), "{what}: {reply}");
        assert_eq!(call(&mut c, &[b"GET", b"src"]), "$precious", "{what}");
        let ttl = ttl_ms(&mut c, b"src");
        assert!(ttl > 0 && ttl <= 1_000_000, "{what}: PTTL {ttl}");
    }
    // The key itself is refused the same way, and nothing changes.
    let reply = call(&mut c, &[b"RENAME", &too_long, b"dst"]);
    assert!(reply.starts_with("-ERR "), "{reply}");
    assert_eq!(call(&mut c, &[b"EXISTS", b"dst"]), ":0");
    // A good name still works.
    assert_eq!(call(&mut c, &[b"RENAME", b"src", b"dst"]), "+OK");
    assert_eq!(call(&mut c, &[b"GET", b"dst"]), "$precious");
    assert_eq!(call(&mut c, &[b"EXISTS", b"src"]), ":0");
}

#[test]
fn rename_into_a_full_store_that_does_not_evict_keeps_the_source() {
    let dir = private_dir();
    make(dir.path(), "full", |c| {
        c.size(1 << 20)
            .stripes(2)
            .eviction(EvictionPolicy::NoEviction)
    });
    let (_serve, mut c) = serve_on_socket(dir.path(), "full");
    let value = "v".repeat(300);
    assert_eq!(
        call(&mut c, &[b"SET", b"src", value.as_bytes(), b"EX", b"1000"]),
        "+OK"
    );
    // Filled until 64 writes in a row are refused: both stripes are full.
    let (mut refused_in_a_row, mut written) = (0, 0);
    for i in 0.. {
        assert!(i < 1_000_000, "the store never filled up");
        let key = format!("fill:{i}");
        let reply = call(&mut c, &[b"SET", key.as_bytes(), value.as_bytes()]);
        if reply == "+OK" {
            written += 1;
            refused_in_a_row = 0;
        } else {
            assert!(reply.starts_with("-OOM "), "{reply}");
            refused_in_a_row += 1;
            if refused_in_a_row == 64 {
                break;
            }
        }
    }
    assert!(written > 100, "only {written} writes fit");
    // A new name in the source's own stripe fits (the source's room is
    // freed first): that one is renamed back, and the next tried, until a
    // name in the other, full, stripe is refused.
    let mut refused = None;
    for i in 0..200 {
        let dst = format!("dst:{i}");
        let reply = call(&mut c, &[b"RENAME", b"src", dst.as_bytes()]);
        if reply == "+OK" {
            assert_eq!(call(&mut c, &[b"RENAME", dst.as_bytes(), b"src"]), "+OK");
            continue;
        }
        refused = Some((dst, reply));
        break;
    }
    let (dst, reply) = refused.expect("no new name fell in the full stripe");
    assert!(reply.starts_with("-OOM "), "{reply}");
    assert_eq!(
        call(&mut c, &[b"GET", b"src"]),
        format!("${value}"),
        "RENAME src {dst} failed and lost src"
    );
    let ttl = ttl_ms(&mut c, b"src");
    assert!(ttl > 0 && ttl <= 1_000_000, "PTTL {ttl}");
    assert_eq!(call(&mut c, &[b"EXISTS", dst.as_bytes()]), ":0");
}

#[test]
fn mset_with_a_bad_pair_writes_nothing() {
    let dir = private_dir();
    make(dir.path(), "m", |c| c.size(4 << 20));
    let (_serve, mut c) = serve_on_socket(dir.path(), "m");
    let too_long = vec![b'k'; 4097];
    for (what, args) in [
        (
            "a key too long",
            vec![&b"MSET"[..], b"a", b"1", &too_long, b"2", b"c", b"3"],
        ),
        (
            "an empty key",
            vec![&b"MSET"[..], b"a", b"1", b"", b"2", b"c", b"3"],
        ),
    ] {
        let reply = call(&mut c, &args);
        assert!(reply.starts_with("-ERR "), "{what}: {reply}");
        for key in [&b"a"[..], b"b", b"c"] {
            assert_eq!(
                call(&mut c, &[b"EXISTS", key]),
                ":0",
                "{what}: {} was written",
                String::from_utf8_lossy(key)
            );
        }
    }
    assert_eq!(call(&mut c, &[b"MSET", b"a", b"1", b"c", b"3"]), "+OK");
    assert_eq!(call(&mut c, &[b"GET", b"c"]), "$3");
}

#[test]
fn by_default_only_the_owners_socket_beside_the_segment_is_served() {
    let dir = private_dir();
    make(dir.path(), "d", |c| c.size(4 << 20));
    let serve = Serve::start(dir.path(), "d", &[]);
    let socket = dir.path().join("ephpm_serve.d.sock");
    assert!(
        serve.started.contains(socket.to_str().unwrap()),
        "{}",
        serve.started
    );
    assert!(serve.before.is_empty(), "{:?}", serve.before);
    let md = std::fs::symlink_metadata(&socket).unwrap();
    assert!(md.file_type().is_socket());
    assert_eq!(md.mode() & 0o777, 0o600);
    let mut c = UnixStream::connect(&socket).unwrap();
    assert_eq!(call(&mut c, &[b"PING"]), "+PONG");
    // Nothing else: no TCP port at all.
    assert_eq!(listeners(serve.child.id()), vec![Listener::Unix(socket)]);
    // `list` does not take the socket for a store.
    let out = Command::new(env!("CARGO_BIN_EXE_ephpm-shm"))
        .arg("--dir")
        .arg(dir.path())
        .arg("list")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && list.lines().count() == 2, "{list}");
    assert!(!list.contains("sock"), "{list}");
}

/// Store `sessions` in `dir`, holding a session as a PHP worker writes
/// it, straight into the segment.
fn store_with_a_session(dir: &Path) {
    make(dir, "sessions", |c| c.size(4 << 20))
        .set(b"php_session:abc", b"user_id|i:1002;", None)
        .unwrap();
}

/// `redis-cli <to> GET php_session:abc`, as `nobody` or as this user:
/// whether it exited 0, and all it printed.
fn get_session(as_nobody: bool, to: &[&std::ffi::OsStr]) -> (bool, String) {
    let mut cmd = Command::new("setpriv");
    if as_nobody {
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    }
    let out = cmd
        .args(["--", "redis-cli"])
        .args(to)
        .args(["GET", "php_session:abc"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn another_local_user_gets_nothing_from_a_default_server() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as nobody");
        return;
    }
    let dir = private_dir();
    store_with_a_session(dir.path());
    let serve = Serve::start(dir.path(), "sessions", &[]);
    // Every listener the server has, tried as nobody.
    let found = listeners(serve.child.id());
    assert!(!found.is_empty());
    for l in &found {
        let port;
        let to: Vec<&std::ffi::OsStr> = match l {
            Listener::Tcp(p) => {
                port = p.to_string();
                ["-h", "127.0.0.1", "-p", &port].map(|a| a.as_ref()).into()
            }
            Listener::Unix(path) => vec!["-s".as_ref(), path.as_os_str()],
        };
        let (_, said) = get_session(true, &to);
        assert!(
            !said.contains("user_id"),
            "nobody read the session through {l:?}: {said}"
        );
        assert!(said.contains("Permission denied"), "{l:?}: {said}");
    }
}

/// A `--unix` socket whose mode was opened to everyone (by a `chmod`, or
/// by a loose umask in the instant between `bind` and the server's own
/// `chmod 0600`) still serves only the store's owner: the server asks the
/// kernel who the client is when it accepts.
#[test]
fn a_unix_socket_open_to_everyone_still_serves_only_its_owner() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as nobody");
        return;
    }
    let dir = private_dir();
    store_with_a_session(dir.path());
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = open.path().join("serve.sock");
    let serve = Serve::start(
        dir.path(),
        "sessions",
        &["--unix", socket.to_str().unwrap()],
    );
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let to = ["-s".as_ref(), socket.as_os_str()];
    // Dropped unanswered: redis-cli says the connection was closed or
    // reset, or (when the close beats its write) dies of SIGPIPE silently.
    let (ok, said) = get_session(true, &to);
    assert!(!said.contains("user_id"), "nobody read the session: {said}");
    assert!(!ok || said.starts_with("Error: "), "{said}");
    assert_eq!(
        get_session(false, &to),
        (true, "user_id|i:1002;\n".to_string())
    );
    drop(serve);
}

#[test]
fn tcp_without_a_password_is_refused_unless_the_loud_flag_is_given() {
    let dir = private_dir();
    make(dir.path(), "t", |c| c.size(4 << 20));
    let sock = dir.path().join("t.sock");
    let sock = sock.to_str().unwrap();
    for args in [
        &["--listen", "127.0.0.1:0"][..],
        &["--listen", "127.0.0.1:0", "--unix", sock],
        &["--listen", "[::1]:0"],
    ] {
        let r = refused(dir.path(), "t", args, &[]);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        for words in [
            "without a password",
            "every local user could read and write store t",
            "--requirepass-file",
            "--insecure-open-to-local-users",
        ] {
            assert!(r.stderr.contains(words), "{args:?}: {}", r.stderr);
        }
    }
    // Off loopback the flag does not help.
    let r = refused(
        dir.path(),
        "t",
        &["--listen", "0.0.0.0:0", "--insecure-open-to-local-users"],
        &[],
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("non-loopback"), "{}", r.stderr);
    // The flag means nothing without --listen: a usage error.
    let r = refused(dir.path(), "t", &["--insecure-open-to-local-users"], &[]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--listen"), "{}", r.stderr);
    // With it, loopback is served, and the warning says what it means.
    let serve = Serve::start(
        dir.path(),
        "t",
        &["--listen", "127.0.0.1:0", "--insecure-open-to-local-users"],
    );
    assert!(
        serve.warned(&["WARNING", "no password", "every local user"]),
        "{:?}",
        serve.before
    );
    assert_eq!(call(&mut serve.tcp(), &[b"PING"]), "+PONG");
}

/// AUTH is asked for, and `pass` (only) gives it.
fn assert_auth(c: &mut (impl Read + Write), pass: &str) {
    assert_eq!(call(c, &[b"GET", b"k"]), "-NOAUTH Authentication required.");
    assert!(call(c, &[b"AUTH", b"wrong"]).starts_with("-WRONGPASS"));
    assert_eq!(call(c, &[b"AUTH", pass.as_bytes()]), "+OK");
    assert_eq!(call(c, &[b"SET", b"k", b"v"]), "+OK");
    assert_eq!(call(c, &[b"GET", b"k"]), "$v");
}

#[test]
fn the_password_comes_from_a_file_or_the_environment_and_from_argv_with_a_warning() {
    let dir = private_dir();
    make(dir.path(), "p", |c| c.size(4 << 20));
    let file = dir.path().join("pass");
    std::fs::write(&file, "from-file\r\nsecond line\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = file.to_str().unwrap();
    let cmdline = |serve: &Serve| {
        String::from_utf8_lossy(
            &std::fs::read(format!("/proc/{}/cmdline", serve.child.id())).unwrap(),
        )
        .into_owned()
    };

    let serve = Serve::start(
        dir.path(),
        "p",
        &["--listen", "127.0.0.1:0", "--requirepass-file", file],
    );
    assert!(serve.before.is_empty(), "{:?}", serve.before);
    assert_auth(&mut serve.tcp(), "from-file");
    assert!(!cmdline(&serve).contains("from-file"));
    drop(serve);

    let env = [("EPHPM_SHM_REQUIREPASS", "from-env")];
    let serve = spawn(dir.path(), "p", &["--listen", "127.0.0.1:0"], &env)
        .unwrap_or_else(|r| panic!("{}", r.stderr));
    assert!(serve.before.is_empty(), "{:?}", serve.before);
    assert_auth(&mut serve.tcp(), "from-env");
    drop(serve);
    // The default socket asks for it too.
    let serve = spawn(dir.path(), "p", &[], &env).unwrap_or_else(|r| panic!("{}", r.stderr));
    let socket = dir.path().join("ephpm_serve.p.sock");
    assert_auth(&mut UnixStream::connect(&socket).unwrap(), "from-env");
    drop(serve);

    // On the command line it works, with a warning that ps shows it.
    let serve = Serve::start(
        dir.path(),
        "p",
        &["--listen", "127.0.0.1:0", "--requirepass", "from-argv"],
    );
    assert!(
        serve.warned(&["warning", "--requirepass", "visible", "ps"]),
        "{:?}",
        serve.before
    );
    assert_auth(&mut serve.tcp(), "from-argv");
    drop(serve);

    // A file that others can read, an empty one, an empty variable: refused.
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = refused(
        dir.path(),
        "p",
        &["--listen", "127.0.0.1:0", "--requirepass-file", file],
        &[],
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    std::fs::write(file, "\nlater\n").unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = refused(dir.path(), "p", &["--requirepass-file", file], &[]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("no password on its first line"),
        "{}",
        r.stderr
    );
    let r = refused(
        dir.path(),
        "p",
        &["--listen", "127.0.0.1:0"],
        &[("EPHPM_SHM_REQUIREPASS", "")],
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("set but empty"), "{}", r.stderr);
}

#[test]
fn a_second_server_does_not_take_the_socket_of_a_running_one() {
    let dir = private_dir();
    make(dir.path(), "two", |c| c.size(4 << 20));
    let sock = dir.path().join("two.sock");
    let _first = Serve::start(dir.path(), "two", &["--unix", sock.to_str().unwrap()]);
    let r = refused(dir.path(), "two", &["--unix", sock.to_str().unwrap()], &[]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("another server listens on it"),
        "{}",
        r.stderr
    );
    let mut c = UnixStream::connect(&sock).unwrap();
    assert_eq!(call(&mut c, &[b"PING"]), "+PONG");
}
