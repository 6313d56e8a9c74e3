//! `ephpm-shm serve` run as a process and spoken to over its sockets: the
//! commands that must not lose data when a step fails (`RENAME`, `MSET`).

use shm_store::{EvictionPolicy, Store, StoreConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};

/// A private store directory (mode 0700, as the per-user default is).
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
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
