//! A unix client socket registered with the runtime for reads only.
//!
//! tokio's `UnixStream` asks epoll for both readable and writable edges.
//! On a unix socket the kernel signals the writer each time the peer
//! reads what it wrote, so every reply a client takes woke the server's
//! thread once more, for nothing: at one command per round trip, half of
//! its sleeps and wakeups (measured: 70,000 for 100,000 GETs, against
//! 18,500 for redis-server, which asks for writable only while it has
//! output it could not write). Here replies are written straight to the
//! socket; only a write the socket cannot take waits for room, on a
//! second descriptor of the same socket registered for that wait alone.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A client connection on a unix socket.
pub(super) struct UnixClient {
    socket: AsyncFd<UnixStream>,
    /// While a reply waits for room: the socket again, registered for
    /// writable edges.
    room: Option<AsyncFd<UnixStream>>,
}

impl UnixClient {
    /// Registers an accepted socket (non-blocking) with this thread's runtime.
    pub(super) fn new(socket: UnixStream) -> io::Result<UnixClient> {
        socket.set_nonblocking(true)?;
        Ok(UnixClient {
            socket: register(socket, Interest::READABLE)?,
            room: None,
        })
    }
}

/// `socket` registered with this thread's runtime for `interest` only.
/// tokio 1.54 deprecates this safe form for the `unsafe` one, whose
/// condition is that the descriptor stays open and the same while
/// registered: a `UnixStream` owns its descriptor (closed only when it is
/// dropped, with the registration), so the condition holds here by
/// construction, and the module needs no `unsafe` (which this crate has
/// none of).
#[allow(deprecated)]
fn register(socket: UnixStream, interest: Interest) -> io::Result<AsyncFd<UnixStream>> {
    AsyncFd::with_interest(socket, interest)
}

impl AsyncRead for UnixClient {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut ready = ready!(self.socket.poll_read_ready(cx))?;
            let into = buf.initialize_unfilled();
            match ready.try_io(|s| s.get_ref().read(into)) {
                Ok(read) => {
                    let n = read?;
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Not readable after all: the readiness is cleared, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for UnixClient {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.room.is_none() {
            match this.socket.get_ref().write(bytes) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Registered now, a socket with room already is
                    // reported at once: no edge is missed.
                    let again = this.socket.get_ref().try_clone()?;
                    this.room = Some(register(again, Interest::WRITABLE)?);
                }
                done => return Poll::Ready(done),
            }
        }
        let Some(room) = &this.room else {
            unreachable!("set above")
        };
        loop {
            let mut ready = ready!(room.poll_write_ready(cx))?;
            match ready.try_io(|s| s.get_ref().write(bytes)) {
                Ok(done) => {
                    // Written (or failed): writes go straight out again.
                    this.room = None;
                    return Poll::Ready(done);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.socket.get_ref().shutdown(std::net::Shutdown::Write))
    }
}
