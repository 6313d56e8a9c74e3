//! `ephpm-shm serve`: the store over the Redis protocol (RESP2), on a
//! unix socket and/or TCP, beside the PHP workers that use it directly.
//! `access.rs` decides who can reach it, `codec.rs` bounds and frames what
//! clients send, `commands.rs` answers, `info.rs` renders `INFO`.

mod access;
mod codec;
mod commands;
mod info;

use crate::fail::{Fail, Res};
use futures::{SinkExt, StreamExt};
use redis_protocol::resp2::types::BytesFrame as Frame;
use shm_store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::codec::Framed;

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
}

/// Where to listen and with what password.
pub(crate) struct Options {
    pub listen: Option<SocketAddr>,
    pub unix: Option<PathBuf>,
    pub requirepass: Option<String>,
    pub requirepass_file: Option<PathBuf>,
    pub insecure_open_to_local_users: bool,
}

pub(crate) fn serve(dir: &Path, name: &str, opts: Options) -> Res {
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
    let max_bulk =
        (store.geometry().max_value_len as usize).max(store.geometry().max_key_len as usize);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::other(format!("cannot start the runtime: {e}")))?;
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
            "ephpm-shm serve: store {name} ({}) on {}",
            server.store.path().display(),
            where_.join(" and ")
        );
        let tcp_loop = {
            let server = server.clone();
            async move {
                let Some(l) = tcp else {
                    return std::future::pending::<()>().await;
                };
                loop {
                    match l.accept().await {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            tokio::spawn(connection(server.clone(), stream, max_bulk));
                        }
                        Err(e) => accept_failed(e).await,
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
                loop {
                    match l.accept().await {
                        Ok((stream, _)) => {
                            tokio::spawn(connection(server.clone(), stream, max_bulk));
                        }
                        Err(e) => accept_failed(e).await,
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

/// An accept that failed (too many open files, ...): said once, and the
/// loop pauses a little instead of spinning.
async fn accept_failed(e: std::io::Error) {
    eprintln!("ephpm-shm serve: accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// One client: commands in, replies out, pipelined (replies are flushed
/// once no further command is already buffered).
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    server: Arc<Server>,
    stream: S,
    max_bulk: usize,
) {
    let id = server.connections.fetch_add(1, Relaxed) + 1;
    server.connected.fetch_add(1, Relaxed);
    let mut conn = commands::Conn {
        id,
        ..Default::default()
    };
    let mut framed = Framed::new(stream, codec::Codec::new(max_bulk));
    while let Some(next) = framed.next().await {
        let frame = match next {
            Ok(frame) => frame,
            Err(codec::ProtocolError(why)) => {
                // Said, then the connection is dropped (as Redis does).
                let _ = framed.send(Frame::Error(format!("ERR {why}").into())).await;
                break;
            }
        };
        let args: Vec<bytes::Bytes> = match frame {
            Frame::Array(items) => {
                let mut args = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Frame::BulkString(b) | Frame::SimpleString(b) => args.push(b),
                        _ => break,
                    }
                }
                args
            }
            Frame::Null => continue,
            _ => Vec::new(),
        };
        server.commands.fetch_add(1, Relaxed);
        let (reply, then) = commands::run(&server, &mut conn, &args);
        if framed.feed(reply).await.is_err() {
            break;
        }
        if then == commands::Then::Close {
            let _ = framed.flush().await;
            break;
        }
        if framed.read_buffer().is_empty() && framed.flush().await.is_err() {
            break;
        }
    }
    server.connected.fetch_sub(1, Relaxed);
}
