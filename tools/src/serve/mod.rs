//! `ephpm-shm serve`: the store over the Redis protocol (RESP2), on a
//! unix socket and/or TCP, beside the PHP workers that use it directly.
//! `access.rs` decides who can reach it, `codec.rs` bounds and frames what
//! clients send, `commands.rs` answers, `info.rs` renders `INFO`.

mod access;
mod codec;
mod commands;
mod info;
mod socket;

use crate::cli::ServeLimits;
use crate::fail::{Fail, Res};
use redis_protocol::resp2::types::BytesFrame as Frame;
use redis_protocol::resp2::types::Resp2Frame;
use shm_store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

/// What every connection shares.
pub(crate) struct Server {
    pub store: Store,
    pub password: Option<String>,
    pub started: Instant,
    pub tcp_port: Option<u16>,
    /// Connections open now, and ever accepted.
    pub connected: AtomicU64,
    pub connections: AtomicU64,
    pub commands: AtomicU64,
    /// What each client may take, and the clients turned away at the limit.
    pub limits: Limits,
    pub rejected: AtomicU64,
}

/// Where to listen and with what password.
pub(crate) struct Options {
    pub listen: Option<SocketAddr>,
    pub unix: Option<PathBuf>,
    pub requirepass: Option<String>,
    pub requirepass_file: Option<PathBuf>,
    pub insecure_open_to_local_users: bool,
}

pub(crate) fn serve(dir: &Path, name: &str, opts: Options, asked: ServeLimits) -> Res {
    let password = access::password(opts.requirepass, opts.requirepass_file.as_deref())?;
    let listen = opts.listen;
    if let Some(addr) = listen {
        access::check_tcp(
            addr,
            password.is_some(),
            opts.insecure_open_to_local_users,
            name,
        )?;
    }
    // Attaching checks the segment's owner and mode like every opener.
    let store = Store::attach(dir, name)?;
    // Told neither: the owner's unix socket beside the segment, only.
    let unix_path = match (listen, opts.unix) {
        (None, None) => Some(access::default_socket(store.path(), name)),
        (_, unix) => unix,
    };
    let limits = Limits::new(&store, &asked, password.as_deref());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::other(format!("cannot start the runtime: {e}")))?;
    let workers = Workers::start()?;
    runtime.block_on(async move {
        let tcp = match listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| Fail::other(format!("cannot listen on {addr}: {e}")))?,
            ),
            None => None,
        };
        let unix = match &unix_path {
            Some(path) => {
                // A socket file left by an earlier server is replaced; one
                // a server still listens on, or any other file, is not.
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    if std::os::unix::net::UnixStream::connect(path).is_ok() {
                        return Err(Fail::other(format!(
                            "cannot listen on {}: another server listens on it",
                            path.display()
                        )));
                    }
                    let _ = std::fs::remove_file(path);
                }
                let listener = UnixListener::bind(path).map_err(|e| {
                    Fail::other(format!("cannot listen on {}: {e}", path.display()))
                })?;
                // Only the store's owner may connect, whatever the umask:
                // the socket gives what the segment's 0600 gives.
                std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .map_err(|e| Fail::other(format!("cannot chmod {}: {e}", path.display())))?;
                Some(listener)
            }
            None => None,
        };
        let server = Arc::new(Server {
            store,
            password,
            started: Instant::now(),
            tcp_port: tcp
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.port()),
            connected: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            limits,
            rejected: AtomicU64::new(0),
        });
        let mut where_ = Vec::new();
        if let Some(l) = &tcp {
            where_.push(
                l.local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string()),
            );
        }
        if let Some(p) = &unix_path {
            where_.push(p.display().to_string());
        }
        eprintln!(
            "ephpm-shm serve: store {name} ({}) on {}, up to {} clients",
            server.store.path().display(),
            where_.join(" and "),
            server.limits.maxclients
        );
        let workers = &workers;
        let tcp_loop = {
            let server = server.clone();
            async move {
                let Some(l) = tcp else {
                    return std::future::pending::<()>().await;
                };
                let mut errors = AcceptErrors::default();
                loop {
                    match l.accept().await {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            if let Some(slot) = Slot::take(&server, &stream) {
                                workers.spawn(slot, stream, tokio::net::TcpStream::from_std);
                            }
                        }
                        Err(e) => errors.failed(e).await,
                    }
                }
            }
        };
        let unix_loop = {
            let server = server.clone();
            async move {
                let Some(l) = unix else {
                    return std::future::pending::<()>().await;
                };
                let mut errors = AcceptErrors::default();
                loop {
                    match l.accept().await {
                        // Dropped unanswered: another user's client.
                        Ok((stream, _)) if !peer_is_owner(&stream) => {}
                        Ok((stream, _)) => {
                            if let Some(slot) = Slot::take(&server, &stream) {
                                workers.spawn(slot, stream, socket::UnixClient::new);
                            }
                        }
                        Err(e) => errors.failed(e).await,
                    }
                }
            }
        };
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        tokio::select! {
            _ = tcp_loop => {}
            _ = unix_loop => {}
            _ = stop => {}
        }
        if let Some(p) = &unix_path {
            let _ = std::fs::remove_file(p);
        }
        eprintln!("ephpm-shm serve: stopped");
        Ok(())
    })
}

/// Reserved for what is not a client: stdio, the listeners, the runtime's
/// own descriptors, and the one a refused client is answered on (Redis
/// keeps 32 too).
const RESERVED_FDS: u64 = 32;
/// Redis's default `maxclients`.
const DEFAULT_MAXCLIENTS: u64 = 10_000;
/// A client's unsent replies past which none of its commands is read.
const SOFT_OUTPUT: usize = 64 << 10;
/// The budget of a command before AUTH (AUTH, HELLO and QUIT need little).
const PREAUTH_FRAME: usize = 4 << 10;

/// The bounds every connection is held to.
pub(crate) struct Limits {
    pub maxclients: u64,
    /// Largest command after AUTH (or without a password), before AUTH.
    pub max_frame: usize,
    pub preauth_frame: usize,
    /// Largest reply.
    pub max_output: usize,
    /// Idle clients are closed after this; unauthenticated ones after
    /// `auth_timeout` from their connect.
    pub timeout: Option<Duration>,
    pub auth_timeout: Option<Duration>,
}

impl Limits {
    fn new(store: &Store, asked: &ServeLimits, password: Option<&str>) -> Limits {
        let geometry = store.geometry();
        // A whole value and its key, and the command around them.
        let default = geometry.max_value_len as u64 + geometry.max_key_len as u64 + (64 << 10);
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Limits {
            maxclients: maxclients(asked.maxclients),
            max_frame: asked.max_frame.unwrap_or(default).min(usize::MAX as u64) as usize,
            preauth_frame: PREAUTH_FRAME + password.map_or(0, str::len),
            max_output: asked.max_output.unwrap_or(default).min(usize::MAX as u64) as usize,
            timeout: secs(asked.timeout),
            auth_timeout: secs(asked.auth_timeout),
        }
    }
}

/// `--maxclients`, or 10000, within the open-file limit: the soft limit
/// is raised to the hard one first, and 32 descriptors are kept back.
fn maxclients(asked: Option<u32>) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let want = asked.map_or(DEFAULT_MAXCLIENTS, u64::from);
    let mut limit = getrlimit(Resource::Nofile);
    let needed = want + RESERVED_FDS;
    if limit.current.is_some_and(|c| c < needed) {
        let raised = limit.maximum.map_or(needed, |m| m.min(needed));
        let mut new = limit;
        new.current = Some(raised);
        if setrlimit(Resource::Nofile, new).is_ok() {
            limit.current = Some(raised);
        }
    }
    let room = limit
        .current
        .map_or(u64::MAX, |c| c.saturating_sub(RESERVED_FDS))
        .max(1);
    if asked.is_some() && want > room {
        eprintln!(
            "ephpm-shm serve: --maxclients {want} lowered to {room}: the open-file limit is {}",
            room + RESERVED_FDS
        );
    }
    want.min(room)
}

/// The threads clients are served on, each running its own
/// single-threaded runtime, so a client's commands, replies and wakeups
/// stay on one thread (no work stealing, no cross-thread wakeup per
/// command); clients are dealt to them in turn as they are accepted. One
/// per two CPUs (at least one), or `EPHPM_SHM_SERVE_THREADS`: the server
/// shares the machine with its clients (PHP workers, which also use the
/// store directly), and on 2 CPUs with `redis-benchmark` one thread
/// served more than two at one command per round trip, as many pipelined.
struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: std::cell::Cell<usize>,
}

impl Workers {
    fn start() -> Result<Workers, Fail> {
        let n = std::env::var("EPHPM_SHM_SERVE_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
            });
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Fail::other(format!("cannot start the runtime: {e}")))?;
            handles.push(runtime.handle().clone());
            // Runs until the process ends (the accepting thread returns).
            std::thread::Builder::new()
                .name(format!("serve-{i}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .map_err(|e| Fail::other(format!("cannot start a thread: {e}")))?;
        }
        Ok(Workers {
            handles,
            next: std::cell::Cell::new(0),
        })
    }

    /// Moves an accepted client to the next thread, which serves it
    /// (`attach` registers its socket with that thread's runtime).
    fn spawn<T, S>(&self, slot: Slot, stream: T, attach: fn(T::Std) -> std::io::Result<S>)
    where
        T: IntoStd,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let i = self.next.get();
        self.next.set((i + 1) % self.handles.len());
        // Dropped (and the client closed) if the socket cannot be moved.
        let Ok(std) = stream.into_std() else {
            return;
        };
        self.handles[i].spawn(async move {
            if let Ok(stream) = attach(std) {
                connection(slot, stream).await;
            }
        });
    }
}

/// A tokio socket taken off the runtime that accepted it.
trait IntoStd {
    type Std: Send + 'static;
    fn into_std(self) -> std::io::Result<Self::Std>;
}

impl IntoStd for tokio::net::TcpStream {
    type Std = std::net::TcpStream;
    fn into_std(self) -> std::io::Result<Self::Std> {
        tokio::net::TcpStream::into_std(self)
    }
}

impl IntoStd for tokio::net::UnixStream {
    type Std = std::os::unix::net::UnixStream;
    fn into_std(self) -> std::io::Result<Self::Std> {
        tokio::net::UnixStream::into_std(self)
    }
}

/// One connected client's place in the count (and its id), given back
/// when dropped.
struct Slot(Arc<Server>, u64);

impl Slot {
    /// A place for a new client; `None` if `maxclients` are connected: it
    /// is told so, as Redis does, and closed (by the caller dropping it).
    fn take<S: ClientStream>(server: &Arc<Server>, stream: &S) -> Option<Slot> {
        let taken = server
            .connected
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < server.limits.maxclients).then_some(n + 1)
            })
            .is_ok();
        if !taken {
            server.rejected.fetch_add(1, Relaxed);
            // A new socket's buffer takes these few bytes without waiting.
            let _ = stream.try_write(b"-ERR max number of clients reached\r\n");
            return None;
        }
        let id = server.connections.fetch_add(1, Relaxed) + 1;
        Some(Slot(server.clone(), id))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Relaxed);
    }
}

/// A stream a refused client can be told on without waiting.
trait ClientStream {
    fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize>;
}

impl ClientStream for tokio::net::TcpStream {
    fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        tokio::net::TcpStream::try_write(self, bytes)
    }
}

impl ClientStream for tokio::net::UnixStream {
    fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        tokio::net::UnixStream::try_write(self, bytes)
    }
}

/// Whether the client at the other end of a unix connection runs as this
/// server's user (the store's owner) or as root, by the kernel's word
/// (`SO_PEERCRED`). The socket is made `0600`, but only after `bind`,
/// which makes it by the umask, and `--unix` may put it where others can
/// reach it and `chmod` it: the check at accept holds whatever the mode.
fn peer_is_owner(stream: &tokio::net::UnixStream) -> bool {
    let me = rustix::process::geteuid().as_raw();
    stream
        .peer_cred()
        .is_ok_and(|c| c.uid() == me || c.uid() == 0)
}

/// Accepts that fail (too many open files, ...): the loop pauses a little
/// instead of spinning, and the error is logged once, then at most once a
/// minute with how many more there were.
#[derive(Default)]
struct AcceptErrors {
    logged: Option<Instant>,
    since: u64,
}

impl AcceptErrors {
    async fn failed(&mut self, e: std::io::Error) {
        match self.logged {
            Some(at) if at.elapsed() < Duration::from_secs(60) => self.since += 1,
            _ => {
                let more = match self.since {
                    0 => String::new(),
                    n => format!(" ({n} more failed accepts since the last message)"),
                };
                eprintln!("ephpm-shm serve: accept: {e}{more}");
                self.logged = Some(Instant::now());
                self.since = 0;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client's read buffer to begin with, and the least room a read gets.
const READ_CHUNK: usize = 8 << 10;
/// The most a read buffer grows by at once for a frame being read: it
/// grows as the frame's bytes come, not by what a header declares.
const GROW_MAX: usize = 1 << 20;

/// A client's read buffer: `bytes[start..end]` were read and not yet
/// run. All of `bytes` is initialized (zeroed as it grows), so reads go
/// into `bytes[end..]` as it is, without clearing it first each time.
struct ReadBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    fn new() -> ReadBuffer {
        ReadBuffer {
            bytes: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
        }
    }

    /// What was read and not yet run.
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// The first `n` bytes of [`ReadBuffer::data`] were run.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Room for a read: for `wanted` more bytes of the frame being read
    /// (at most `GROW_MAX` at once), and at least `READ_CHUNK`.
    fn make_room(&mut self, wanted: usize) {
        let room = wanted.clamp(READ_CHUNK, GROW_MAX);
        if self.bytes.len() - self.end >= room {
            return;
        }
        if self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.bytes.len() - self.end < room {
            self.bytes.resize(self.end + room, 0);
        }
    }

    /// Gives back the room a large command took, once little is left.
    fn trim(&mut self) {
        let len = self.end - self.start;
        if self.bytes.len() > 1 << 20 && len < 64 << 10 {
            let mut bytes = vec![0; len.max(READ_CHUNK)];
            bytes[..len].copy_from_slice(self.data());
            *self = ReadBuffer {
                bytes,
                start: 0,
                end: len,
            };
        }
    }

    /// One read into the room after the data; 0 at the end of the stream.
    async fn read_from<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> std::io::Result<usize> {
        let n = stream.read(&mut self.bytes[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// One client: commands in, replies out, pipelined. Every command a read
/// brought in whole is run at once, its arguments borrowed from the read
/// buffer, and the replies of all of them go out in one write before the
/// next read; or as soon as more than `SOFT_OUTPUT` of them wait: no
/// command is run until they are taken, so a client that does not read
/// holds at most that plus one reply.
async fn connection<S>(slot: Slot, mut stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server = slot.0.clone();
    let limits = &server.limits;
    let mut conn = commands::Conn {
        id: slot.1,
        max_reply: limits.max_output,
        ..Default::default()
    };
    let locked = server.password.is_some();
    let mut parser = match locked {
        true => codec::Parser::new(limits.preauth_frame, "before AUTH"),
        false => codec::Parser::new(limits.max_frame, "--max-frame"),
    };
    let mut buf = ReadBuffer::new();
    let mut out = codec::Out::default();
    // The buffer values are read into, reused.
    let mut value = Vec::new();
    // Until AUTH, with a password, everything must be done by this time.
    let mut deadline = match (locked, limits.auth_timeout) {
        (true, Some(t)) => Some(Instant::now() + t),
        _ => None,
    };
    let wait = |deadline: Option<Instant>| match deadline {
        Some(d) => Some(d.saturating_duration_since(Instant::now())),
        None => limits.timeout,
    };
    'client: loop {
        let mut used = 0;
        // Commands run and not yet counted in the server's total.
        let mut ran = 0;
        loop {
            if out.unsent() > SOFT_OUTPUT && out.flush(&mut stream, wait(deadline)).await.is_err() {
                break 'client;
            }
            let len = match parser.next(&buf.data()[used..]) {
                Ok(codec::Next::Partial) => break,
                Ok(codec::Next::Skip(len)) => {
                    used += len;
                    continue;
                }
                Ok(codec::Next::Command(len)) => len,
                Err(codec::ProtocolError(why)) => {
                    // Said, then the connection is dropped (as Redis does).
                    out.push(&Frame::Error(format!("ERR {why}").into()));
                    break 'client;
                }
            };
            let frame = &buf.data()[used..used + len];
            used += len;
            ran += 1;
            let was_authed = conn.authed;
            let then = codec::with_args(frame, parser.args(), |args| {
                if commands::fast(&server, &conn, args, &mut out, &mut value) {
                    return commands::Then::Go;
                }
                // INFO counts the commands before it.
                server.commands.fetch_add(std::mem::take(&mut ran), Relaxed);
                let (reply, then) = commands::run(&server, &mut conn, args);
                let len = reply.encode_len(false);
                if len > limits.max_output {
                    out.push(&commands::too_long(len, limits.max_output));
                } else {
                    out.push(&reply);
                }
                then
            });
            if conn.authed && !was_authed {
                parser.set_max_frame(limits.max_frame, "--max-frame");
                deadline = None;
            }
            if then == commands::Then::Close {
                server.commands.fetch_add(ran, Relaxed);
                break 'client;
            }
        }
        server.commands.fetch_add(ran, Relaxed);
        buf.consume(used);
        parser.trim();
        // The room a large command or value took is not kept for the next ones.
        buf.trim();
        if value.capacity() > 1 << 20 {
            value = Vec::new();
        }
        if out.flush(&mut stream, wait(deadline)).await.is_err() {
            break;
        }
        // Room for the rest of the frame being read (its size is checked
        // against the budget before it is known), or for a read.
        buf.make_room(parser.needed().saturating_sub(buf.data().len()));
        let read = match wait(deadline) {
            Some(t) => match tokio::time::timeout(t, buf.read_from(&mut stream)).await {
                Ok(read) => read,
                Err(_) => break,
            },
            None => buf.read_from(&mut stream).await,
        };
        if !matches!(read, Ok(n) if n > 0) {
            break;
        }
    }
    // What is owed (QUIT's OK, a protocol error) is sent, briefly.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = out.flush(&mut stream, None).await;
        let _ = stream.shutdown().await;
    })
    .await;
    drop(slot);
}
