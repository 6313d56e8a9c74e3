//! `ephpm-shm serve` against hostile clients (issue 20, item 2): each
//! attack runs against a real server on a loopback port while its memory
//! (RssAnon, sampled, and VmHWM from /proc/PID/status) is watched, and a
//! separate client must be answered while the attack is live.

use ephpm_shm_tests::{ephpm_shm_bin, resp_command};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const STORE: &str = "hostile";
const MIB: u64 = 1 << 20;

/// `ephpm-shm serve` on a free loopback port over a fresh 64 MiB store
/// (`prefix` runs it, e.g. under prlimit), killed when dropped.
struct Serve {
    child: Child,
    port: u16,
    password: Option<&'static str>,
    dir: tempfile::TempDir,
}

impl Serve {
    fn start(prefix: &[&str], extra: &[&str], password: Option<&'static str>) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let created = Command::new(ephpm_shm_bin())
            .arg("--dir")
            .arg(dir.path())
            .args(["create", STORE, "--size", "64M"])
            .output()
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        let port = ephpm_shm_tests::servers::free_port();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let mut cmd = match prefix {
            [] => Command::new(ephpm_shm_bin()),
            [first, rest @ ..] => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(ephpm_shm_bin());
                cmd
            }
        };
        cmd.arg("--dir")
            .arg(dir.path())
            .args(["serve", STORE, "--listen", &format!("127.0.0.1:{port}")])
            .args(extra);
        match password {
            Some(p) => cmd.env("EPHPM_SHM_REQUIREPASS", p),
            None => cmd.arg("--insecure-open-to-local-users"),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ephpm-shm serve");
        let serve = Serve {
            child,
            port,
            password,
            dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "serve did not listen: {}",
                serve.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// A separate client's AUTH (if any) and PING: what it was answered
    /// (a refused client may find its writes refused too).
    fn ping(&self) -> String {
        let mut s = self.connect();
        let mut want = "+PONG\r\n".to_string();
        if let Some(p) = self.password {
            let _ = s.write_all(&resp_command(&[b"AUTH", p.as_bytes()]));
            want.insert_str(0, "+OK\r\n");
        }
        let _ = s.write_all(&resp_command(&[b"PING"]));
        read_at_least(&mut s, want.len())
    }

    /// RssAnon and VmHWM of the server, in bytes.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} in {status}"))
                * 1024
        };
        (field("RssAnon:"), field("VmHWM:"))
    }

    /// Samples RssAnon until the returned watch is stopped.
    fn watch(self: &Arc<Self>) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (serve, stop, peak) = (self.clone(), stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    peak.fetch_max(serve.memory().0, Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Watch { stop, peak, thread }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Watch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Watch {
    /// The highest RssAnon seen.
    fn peak(self) -> u64 {
        self.stop.store(true, Relaxed);
        self.thread.join().unwrap();
        self.peak.load(Relaxed)
    }
}

/// The first line, or what came before the server closed.
fn read_line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1 << 16];
    // Each byte looked at once, whatever the length of the line.
    let mut seen = 0;
    while !out[seen.max(1) - 1..].windows(2).any(|w| w == b"\r\n") {
        seen = out.len();
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// At least `n` bytes, or what came before the server closed.
fn read_at_least(s: &mut TcpStream, n: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < n {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// Attackers run `attack` on their own connection, all at once; once all
/// are done (their bytes sent, or refused) and still connected, `during`
/// runs; then they hang up. Returns the server's peak RssAnon growth.
fn under_attack(
    serve: &Arc<Serve>,
    attackers: usize,
    attack: impl Fn(TcpStream) -> TcpStream + Send + Sync + 'static,
    during: impl FnOnce(),
) -> u64 {
    let (base, _) = serve.memory();
    let watch = serve.watch();
    let attack = Arc::new(attack);
    let sent = Arc::new(Barrier::new(attackers + 1));
    let hang_up = Arc::new(Barrier::new(attackers + 1));
    let threads: Vec<_> = (0..attackers)
        .map(|_| {
            let (serve, attack) = (serve.clone(), attack.clone());
            let (sent, hang_up) = (sent.clone(), hang_up.clone());
            std::thread::spawn(move || {
                let s = attack(serve.connect());
                sent.wait();
                hang_up.wait();
                drop(s);
            })
        })
        .collect();
    sent.wait();
    during();
    hang_up.wait();
    for t in threads {
        t.join().unwrap();
    }
    watch.peak().saturating_sub(base)
}

/// Writes `bytes`, as much as the server takes: a refusal (reset, broken
/// pipe) ends it.
fn send(s: &mut TcpStream, bytes: &[u8]) {
    for piece in bytes.chunks(64 << 10) {
        if s.write_all(piece).is_err() {
            return;
        }
    }
}

#[test]
fn unauthenticated_clients_cannot_make_the_server_buffer_their_frames() {
    let serve = Arc::new(Serve::start(&[], &[], Some("s3cret")));
    // 30 clients that never AUTH each declare a million bulks of 60 MB
    // (under the store's value limit) and send 8 MiB of the first one.
    let growth = under_attack(
        &serve,
        30,
        |mut s| {
            let mut frame = b"*1000000\r\n$60000000\r\n".to_vec();
            frame.resize(frame.len() + (8 << 20), b'x');
            send(&mut s, &frame);
            s
        },
        || assert_eq!(serve.ping(), "+OK\r\n+PONG\r\n"),
    );
    println!(
        "30 x 8 MiB of frame before AUTH: RssAnon grew by {}",
        mib(growth)
    );
    assert!(growth < 16 * MIB, "grew by {}", mib(growth));
    // The refusal says why.
    let mut s = serve.connect();
    send(&mut s, b"*1000000\r\n");
    assert_eq!(
        read_at_least(&mut s, 100),
        "-ERR Protocol error: command over the limit of 4102 bytes (before AUTH)\r\n"
    );
    // Once authenticated (in the same write), a command may be large.
    let mut s = serve.connect();
    let mut both = resp_command(&[b"AUTH", b"s3cret"]);
    both.extend(resp_command(&[b"SET", b"k", &vec![b'v'; 1 << 20]]));
    s.write_all(&both).unwrap();
    assert_eq!(read_at_least(&mut s, 10), "+OK\r\n+OK\r\n");
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    let serve = Serve::start(&[], &["--timeout", "1"], None);
    let mut s = serve.connect();
    s.write_all(&resp_command(&[b"PING"])).unwrap();
    // Answered, then closed for idling (the read ends, it does not time out).
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "+PONG\r\n");
}

#[test]
fn clients_that_never_read_hold_at_most_one_reply_each() {
    let serve = Arc::new(Serve::start(&[], &[], None));
    let value = vec![b'v'; 16 << 20];
    let mut s = serve.connect();
    s.write_all(&resp_command(&[b"SET", b"big", &value]))
        .unwrap();
    assert_eq!(read_at_least(&mut s, 5), "+OK\r\n");
    drop(s);
    // Ten clients pipeline GETs of the 16 MiB value and never read.
    let growth = under_attack(
        &serve,
        10,
        |s| {
            let get = resp_command(&[b"GET", b"big"]).repeat(1000);
            s.set_nonblocking(true).unwrap();
            let mut at = 0;
            let mut stuck = 0;
            // Until the server stops taking them (and a little more).
            while at < get.len() && stuck < 100 {
                match (&s).write(&get[at..]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        stuck += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            s
        },
        || assert_eq!(serve.ping(), "+PONG\r\n"),
    );
    println!(
        "10 clients not reading GETs of 16 MiB: RssAnon grew by {}",
        mib(growth)
    );
    // One reply each (not copied into an output buffer), plus a little.
    assert!(growth < 10 * 17 * MIB + 16 * MIB, "grew by {}", mib(growth));
    // A reply over the output limit is refused, not built.
    let mut s = serve.connect();
    s.write_all(&resp_command(&[
        b"MGET", b"big", b"big", b"big", b"big", b"big",
    ]))
    .unwrap();
    let reply = read_line(&mut s);
    assert!(
        reply.starts_with("-ERR the reply would be over "),
        "{}",
        &reply[..reply.len().min(100)]
    );
}

#[test]
fn errors_quote_client_bytes_short_and_on_one_line() {
    let serve = Arc::new(Serve::start(&[], &[], None));
    // An unknown command with 8 arguments of 7 MiB of 0xff each.
    let big = vec![0xffu8; 7 << 20];
    let mut args: Vec<&[u8]> = vec![b"FOO"];
    args.extend(std::iter::repeat_n(&big[..], 8));
    let frame = resp_command(&args);
    let reply = Arc::new(std::sync::Mutex::new(String::new()));
    let growth = {
        let reply = reply.clone();
        under_attack(
            &serve,
            1,
            move |mut s| {
                s.write_all(&frame).unwrap();
                *reply.lock().unwrap() = read_line(&mut s);
                s
            },
            || assert_eq!(serve.ping(), "+PONG\r\n"),
        )
    };
    let reply = reply.lock().unwrap().clone();
    println!(
        "unknown command with 8 x 7 MiB: a reply of {} bytes, RssAnon grew by {}",
        reply.len(),
        mib(growth)
    );
    assert!(reply.len() < 8 * 600, "a reply of {} bytes", reply.len());
    assert!(
        reply.starts_with("-ERR unknown command 'foo', with args beginning with: '\\xff\\xff"),
        "{}",
        &reply[..reply.len().min(200)]
    );
    // The 56 MiB frame itself, and little more.
    assert!(growth < 56 * MIB + 32 * MIB, "grew by {}", mib(growth));
    // CR LF in an argument cannot forge replies: one line, then PING's.
    let mut s = serve.connect();
    s.write_all(&resp_command(&[b"FOO", b"a\r\n+INJECTED\r\n:42"]))
        .unwrap();
    s.write_all(&resp_command(&[b"CLIENT", b"SETNAME", b"a\r\nb"]))
        .unwrap();
    s.write_all(&resp_command(&[b"CLIENT", b"SETNAME", b"a b"]))
        .unwrap();
    s.write_all(&resp_command(&[b"HELLO", b"2", b"SETNAME", b"a\nb"]))
        .unwrap();
    s.write_all(&resp_command(&[b"CLIENT", b"GETNAME"]))
        .unwrap();
    s.write_all(&resp_command(&[b"PING"])).unwrap();
    let names = "-ERR Client names cannot contain spaces, newlines or special characters.\r\n";
    let want = format!(
        "-ERR unknown command 'foo', with args beginning with: 'a\\r\\n+INJECTED\\r\\n:42' \r\n\
         {names}{names}{names}$-1\r\n+PONG\r\n"
    );
    assert_eq!(read_at_least(&mut s, want.len()), want);
    // A bulk not followed by CR LF is a protocol error, not a PING.
    let mut s = serve.connect();
    s.write_all(b"*1\r\n$4\r\nPINGxx").unwrap();
    assert_eq!(
        read_at_least(&mut s, 100),
        "-ERR Protocol error: a bulk string is not followed by CR LF\r\n"
    );
}

#[test]
fn idle_clients_past_maxclients_are_refused_and_unauthenticated_ones_dropped() {
    // 64 descriptors: 32 for clients, 32 kept back.
    let serve = Serve::start(&["prlimit", "--nofile=64:64", "--"], &[], Some("s3cret"));
    let idle: Vec<TcpStream> = (0..100).map(|_| serve.connect()).collect();
    // A real client is refused while they hold every place, then served
    // once the unauthenticated ones are dropped (--auth-timeout 10 s).
    let started = Instant::now();
    let mut refused = 0;
    loop {
        let answer = serve.ping();
        if answer == "+OK\r\n+PONG\r\n" {
            break;
        }
        // Told, or reset: its AUTH came after the server closed.
        assert!(
            ["-ERR max number of clients reached\r\n", ""].contains(&answer.as_str()),
            "{answer:?}"
        );
        refused += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never served: {}",
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut told = 0;
    for mut s in idle {
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        match got.as_str() {
            "-ERR max number of clients reached\r\n" => told += 1,
            "" => {}
            other => panic!("{other:?}"),
        }
    }
    println!("maxclients 32: {told} idle clients refused, the real one {refused} times");
    assert!(told >= 60, "{told} of 100 refused");
    assert!(refused >= 1);
    // INFO counts them as Redis does.
    let mut s = serve.connect();
    s.write_all(&resp_command(&[b"AUTH", b"s3cret"])).unwrap();
    s.write_all(&resp_command(&[b"INFO", b"everything"]))
        .unwrap();
    s.write_all(&resp_command(&[b"QUIT"])).unwrap();
    let mut info = String::new();
    s.read_to_string(&mut info).unwrap();
    assert!(info.contains("maxclients:32\r\n"), "{info}");
    let rejected: u64 = info
        .split("rejected_connections:")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{info}"));
    assert!(rejected >= told + refused, "{rejected} in {info}");
    // No accept failures logged in a loop.
    let log = serve.log();
    assert!(log.contains("up to 32 clients"), "{log}");
    assert!(log.matches("accept:").count() <= 1, "{log}");
}

/// The frame budget bounds each command, not a pipeline: 2,000 small
/// commands, together many times `--max-frame`, in one write, are all
/// answered; a command over it in the same pipeline is refused as a lone
/// one is (before its bytes come), after the replies of the commands
/// before it, and the connection is closed with it unrun.
#[test]
fn a_pipeline_over_the_frame_budget_is_answered_up_to_a_command_over_it() {
    let serve = Serve::start(&[], &["--max-frame", "4096"], None);
    let mut pipeline = Vec::new();
    for i in 0..2000 {
        pipeline.extend(resp_command(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
    }
    assert!(pipeline.len() > 10 * 4096, "{}", pipeline.len());
    // The over-budget command's header only: the server has read
    // everything when it closes (no reset), and the refusal needs no more.
    pipeline.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$5000\r\n");
    let mut s = serve.connect();
    send(&mut s, &pipeline);
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    let want = "+OK\r\n".repeat(2000)
        + "-ERR Protocol error: command over the limit of 4096 bytes (--max-frame)\r\n";
    assert!(
        got == want,
        "{} bytes of replies, ending {:?}",
        got.len(),
        &got[got.len().saturating_sub(100)..]
    );
    let mut s = serve.connect();
    s.write_all(&resp_command(&[b"EXISTS", b"k0", b"k1999", b"big"]))
        .unwrap();
    assert_eq!(read_line(&mut s), ":2\r\n");
}
