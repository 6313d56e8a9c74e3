//! The RESP2 wire of `serve`. In: redis-protocol's decoder, behind a scan
//! of the frame's declared sizes, so no client can make the server buffer
//! without bound (a 4 GB bulk length, an endless line, a huge array, a
//! frame over its byte budget). Out: replies queued and written without
//! copying large values, and with no CR/LF inside a status or error line.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use redis_protocol::codec::Resp2;
use redis_protocol::error::RedisProtocolError;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// Most elements one command may have.
const MAX_ARGS: usize = 1 << 20;
/// Longest header line (`*N` or `$N`) a command may have.
const MAX_HEADER_LINE: usize = 32;
/// The fewest bytes one element takes on the wire (`$0\r\n\r\n`).
const MIN_ELEMENT: usize = 6;

/// Why a client's bytes were refused; the connection is then closed.
#[derive(Debug)]
pub(super) struct ProtocolError(pub String);

impl From<RedisProtocolError> for ProtocolError {
    fn from(e: RedisProtocolError) -> Self {
        ProtocolError(e.to_string())
    }
}

impl From<std::io::Error> for ProtocolError {
    fn from(e: std::io::Error) -> Self {
        ProtocolError(e.to_string())
    }
}

/// RESP2 commands in: arrays of bulk strings, each frame at most
/// `max_frame` bytes on the wire.
pub(super) struct Codec {
    inner: Resp2,
    /// The byte budget of one frame, and what sets it (for the error).
    max_frame: usize,
    budget: &'static str,
    /// How far the scan of the frame at the front of the buffer got: the
    /// end of the last complete element, and how many are still to come
    /// (`None`: the `*N` line is not read yet). Kept across calls, so a
    /// frame arriving in many pieces is scanned once, not once per piece.
    at: usize,
    left: Option<usize>,
    /// Bytes looked at by the scan and handed to the inner decoder: what
    /// decoding cost, for the test that a frame in pieces costs no more.
    #[cfg(test)]
    examined: usize,
}

impl Codec {
    pub(super) fn new(max_frame: usize, budget: &'static str) -> Codec {
        Codec {
            inner: Resp2::default(),
            max_frame,
            budget,
            at: 0,
            left: None,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// A new budget, from the next frame on (after AUTH).
    pub(super) fn set_max_frame(&mut self, max_frame: usize, budget: &'static str) {
        self.max_frame = max_frame;
        self.budget = budget;
    }

    fn too_big(&self) -> ProtocolError {
        ProtocolError(format!(
            "Protocol error: command over the limit of {} bytes ({})",
            self.max_frame, self.budget
        ))
    }

    /// The number on a header line `<kind><digits>\r\n` at `at`, and where
    /// the line ends; `Ok(None)` if the line is not complete yet.
    fn header(
        &mut self,
        buf: &[u8],
        at: usize,
        kind: u8,
        what: &str,
    ) -> Result<Option<(i64, usize)>, ProtocolError> {
        let Some(&first) = buf.get(at) else {
            return Ok(None);
        };
        if first != kind {
            return Err(ProtocolError(format!(
                "Protocol error: expected '{}', got '{}'",
                kind as char,
                (first as char).escape_default()
            )));
        }
        let window = &buf[at..buf.len().min(at + MAX_HEADER_LINE)];
        let found = window.windows(2).position(|w| w == b"\r\n");
        #[cfg(test)]
        {
            self.examined += found.map_or(window.len(), |end| end + 2);
        }
        let Some(end) = found else {
            return if window.len() == MAX_HEADER_LINE {
                Err(ProtocolError(format!(
                    "Protocol error: invalid {what} length"
                )))
            } else {
                Ok(None)
            };
        };
        std::str::from_utf8(&window[1..end])
            .ok()
            .filter(|t| !t.starts_with('+'))
            .and_then(|t| t.parse::<i64>().ok())
            .map(|n| Some((n, at + end + 2)))
            .ok_or_else(|| ProtocolError(format!("Protocol error: invalid {what} length")))
    }

    /// Scans on from where the last call stopped: `Ok(true)` once the
    /// whole frame is in `buf` and well formed (every bulk of its declared
    /// length, each followed by CR LF, within the budget). Room for a bulk
    /// is reserved once its length is known, so the buffer grows to the
    /// frame's size and no further.
    fn scan(&mut self, buf: &mut BytesMut) -> Result<bool, ProtocolError> {
        let mut left = match self.left {
            Some(left) => left,
            None => {
                let Some((count, end)) = self.header(buf, 0, b'*', "multibulk")? else {
                    return Ok(false);
                };
                if count > MAX_ARGS as i64 {
                    return Err(ProtocolError(
                        "Protocol error: invalid multibulk length".into(),
                    ));
                }
                let count = count.max(0) as usize;
                if end + count * MIN_ELEMENT > self.max_frame {
                    return Err(self.too_big());
                }
                self.at = end;
                count
            }
        };
        while left > 0 {
            self.left = Some(left);
            let Some((len, data)) = self.header(buf, self.at, b'$', "bulk")? else {
                return Ok(false);
            };
            if len < 0 {
                return Err(ProtocolError("Protocol error: invalid bulk length".into()));
            }
            if len as u64 > self.max_frame as u64 {
                return Err(self.too_big());
            }
            let end = data + len as usize + 2;
            if end + (left - 1) * MIN_ELEMENT > self.max_frame {
                return Err(self.too_big());
            }
            if buf.len() < end {
                buf.reserve(end - buf.len());
                return Ok(false);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(ProtocolError(
                    "Protocol error: a bulk string is not followed by CR LF".into(),
                ));
            }
            self.at = end;
            left -= 1;
        }
        self.left = None;
        self.at = 0;
        Ok(true)
    }
}

impl Decoder for Codec {
    type Item = BytesFrame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesFrame>, ProtocolError> {
        if !self.scan(src)? {
            return Ok(None);
        }
        #[cfg(test)]
        {
            self.examined += src.len();
        }
        // The frame is whole: the inner decoder reads it in one pass.
        match self.inner.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None => Err(ProtocolError("Protocol error: unreadable command".into())),
        }
    }
}

/// Bulk strings longer than this are queued as they are instead of
/// being copied into the output buffer.
const COPY_MAX: usize = 16 << 10;

/// A connection's replies not yet written: small ones encoded into one
/// buffer, large values queued by reference (no copy).
#[derive(Default)]
pub(super) struct Out {
    small: BytesMut,
    queue: VecDeque<Bytes>,
    unsent: usize,
}

/// A status or error line with CR and LF turned into spaces, as Redis
/// does: its text may quote a client, and must not end the line early.
fn one_line(frame: &BytesFrame) -> Option<BytesFrame> {
    let has_eol = |b: &[u8]| b.iter().any(|&c| c == b'\r' || c == b'\n');
    match frame {
        BytesFrame::Error(s) if has_eol(s.as_bytes()) => {
            Some(BytesFrame::Error(s.replace(['\r', '\n'], " ").into()))
        }
        BytesFrame::SimpleString(b) if has_eol(b) => Some(BytesFrame::SimpleString(
            b.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                .collect(),
        )),
        _ => None,
    }
}

impl Out {
    /// Bytes queued and not yet written.
    pub(super) fn unsent(&self) -> usize {
        self.unsent
    }

    /// Queues a reply.
    pub(super) fn push(&mut self, frame: &BytesFrame) {
        self.unsent += frame.encode_len(false);
        self.put(frame);
    }

    fn put(&mut self, frame: &BytesFrame) {
        match frame {
            BytesFrame::BulkString(b) if b.len() > COPY_MAX => {
                self.small.put_slice(format!("${}\r\n", b.len()).as_bytes());
                self.cut();
                self.queue.push_back(b.clone());
                self.small.put_slice(b"\r\n");
            }
            BytesFrame::Array(items) if frame.encode_len(false) > COPY_MAX => {
                self.small
                    .put_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    self.put(item);
                }
            }
            _ => {
                let clean = one_line(frame);
                // Encoding a frame built by the server cannot fail.
                let _ = extend_encode(&mut self.small, clean.as_ref().unwrap_or(frame), false);
            }
        }
    }

    /// Moves the small buffer to the queue.
    fn cut(&mut self) {
        if !self.small.is_empty() {
            self.queue.push_back(self.small.split().freeze());
        }
    }

    /// Writes everything queued; `wait` bounds each write's progress.
    pub(super) async fn flush<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        wait: Option<Duration>,
    ) -> std::io::Result<()> {
        self.cut();
        while let Some(mut chunk) = self.queue.pop_front() {
            while !chunk.is_empty() {
                let n = match wait {
                    Some(t) => tokio::time::timeout(t, w.write(&chunk))
                        .await
                        .map_err(|_| std::io::ErrorKind::TimedOut)??,
                    None => w.write(&chunk).await?,
                };
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                chunk.advance(n);
                self.unsent = self.unsent.saturating_sub(n);
            }
        }
        // The buffer of a large reply is not kept once it is written.
        if self.small.capacity() > COPY_MAX {
            self.small = BytesMut::new();
        }
        w.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Option<BytesFrame>, ProtocolError> {
        Codec::new(1 << 20, "test").decode(&mut BytesMut::from(bytes))
    }

    #[test]
    fn bounds_are_checked_before_the_bytes_arrive() {
        assert!(decode(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap().is_some());
        assert!(decode(b"*2\r\n$3\r\nGET\r\n$1\r\n").unwrap().is_none());
        assert!(decode(b"*1\r\n$4294967296\r\n").is_err());
        assert!(decode(b"*1\r\n$-5\r\n").is_err());
        assert!(decode(b"*99999999999\r\n").is_err());
        assert!(decode(&[b'*'; 100]).is_err());
        assert!(decode(b"*1\r\n$99999999999999999999999999999999999").is_err());
        assert!(decode(b"GET k\r\n").is_err());
        assert!(decode(b"*1\r\n:5\r\n").is_err());
    }

    #[test]
    fn a_bulk_must_end_with_cr_lf() {
        assert!(decode(b"*1\r\n$4\r\nPINGxx").is_err());
        assert!(decode(b"*1\r\n$4\r\nPING\rx").is_err());
        assert!(decode(b"*2\r\n$4\r\nPINGxx$1\r\nk\r\n").is_err());
        assert!(decode(b"*1\r\n$4\r\nPING\r\n").unwrap().is_some());
    }

    #[test]
    fn the_frame_budget_counts_every_byte() {
        let mut codec = Codec::new(64, "before AUTH");
        let small = b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n";
        assert!(codec
            .decode(&mut BytesMut::from(&small[..]))
            .unwrap()
            .is_some());
        // Declared sizes over the budget are refused before their bytes come.
        for big in [&b"*1\r\n$100\r\n"[..], b"*20\r\n", b"*2\r\n$60\r\n"] {
            let e = Codec::new(64, "before AUTH")
                .decode(&mut BytesMut::from(big))
                .unwrap_err();
            assert!(
                e.0.contains("over the limit of 64 bytes (before AUTH)"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_frame_in_small_pieces_is_scanned_once() {
        let args = 100_000;
        let mut frame = format!("*{args}\r\n").into_bytes();
        for _ in 0..args {
            frame.extend_from_slice(b"$1\r\nx\r\n");
        }
        let mut codec = Codec::new(64 << 20, "test");
        let mut buf = BytesMut::new();
        let mut got = None;
        for piece in frame.chunks(1024) {
            buf.extend_from_slice(piece);
            if let Some(f) = codec.decode(&mut buf).unwrap() {
                got = Some(f);
            }
        }
        let Some(BytesFrame::Array(items)) = got else {
            panic!("no frame")
        };
        assert_eq!(items.len(), args);
        println!(
            "{} bytes examined for a frame of {} in 1 KiB pieces",
            codec.examined,
            frame.len()
        );
        // Each element's header about once, then the whole frame once for
        // the inner decoder (a scan from the start on every piece looked
        // at ~5000 times these bytes).
        assert!(
            codec.examined <= frame.len() * 3,
            "{} bytes examined for a frame of {}",
            codec.examined,
            frame.len()
        );
    }

    #[tokio::test]
    async fn replies_are_written_in_order_on_one_line_each() {
        let mut out = Out::default();
        let big = Bytes::from(vec![b'v'; 100_000]);
        out.push(&BytesFrame::Error("ERR a\r\n+INJECTED\r\n:42".into()));
        out.push(&BytesFrame::BulkString(big.clone()));
        out.push(&BytesFrame::Array(vec![
            BytesFrame::Integer(7),
            BytesFrame::BulkString(big.clone()),
            BytesFrame::Null,
        ]));
        let mut written = Vec::new();
        out.flush(&mut written, None).await.unwrap();
        assert_eq!(out.unsent(), 0);
        let mut want = b"-ERR a  +INJECTED  :42\r\n".to_vec();
        want.extend_from_slice(b"$100000\r\n");
        want.extend_from_slice(&big);
        want.extend_from_slice(b"\r\n*3\r\n:7\r\n$100000\r\n");
        want.extend_from_slice(&big);
        want.extend_from_slice(b"\r\n$-1\r\n");
        assert!(written == want);
    }
}
