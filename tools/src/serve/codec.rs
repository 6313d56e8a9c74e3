//! The RESP2 codec of `serve`: redis-protocol's decoder, behind a check of
//! the frame's declared sizes, so no client can make the server buffer
//! without bound (a 4 GB bulk length, an endless line, a huge array).

use bytes::BytesMut;
use redis_protocol::codec::Resp2;
use redis_protocol::error::RedisProtocolError;
use redis_protocol::resp2::types::BytesFrame;
use tokio_util::codec::{Decoder, Encoder};

/// Most elements one command may have.
const MAX_ARGS: usize = 1 << 20;
/// Longest header line (`*N` or `$N`) a command may have.
const MAX_HEADER_LINE: usize = 32;

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

/// RESP2 frames in (commands: arrays of bulk strings), out (replies).
pub(super) struct Codec {
    inner: Resp2,
    /// The longest bulk string accepted (the store's value limit).
    max_bulk: usize,
}

impl Codec {
    pub(super) fn new(max_bulk: usize) -> Codec {
        Codec {
            inner: Resp2::default(),
            max_bulk,
        }
    }
}

/// The number on a header line `<kind><digits>\r\n` at `at`, and where
/// the line ends; `Ok(None)` if the line is not complete yet.
fn header(
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
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
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
        .and_then(|t| t.parse::<i64>().ok())
        .map(|n| Some((n, at + end + 2)))
        .ok_or_else(|| ProtocolError(format!("Protocol error: invalid {what} length")))
}

impl Codec {
    /// Refuses a command whose declared sizes are over the bounds, before
    /// any of its bytes are waited for.
    fn check(&self, buf: &[u8]) -> Result<(), ProtocolError> {
        let Some((count, mut at)) = header(buf, 0, b'*', "multibulk")? else {
            return Ok(());
        };
        if count > MAX_ARGS as i64 {
            return Err(ProtocolError(
                "Protocol error: invalid multibulk length".into(),
            ));
        }
        for _ in 0..count.max(0) {
            let Some((len, data)) = header(buf, at, b'$', "bulk")? else {
                return Ok(());
            };
            if len < 0 || len as u64 > self.max_bulk as u64 {
                return Err(ProtocolError("Protocol error: invalid bulk length".into()));
            }
            at = data + len as usize + 2;
            if at > buf.len() {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Decoder for Codec {
    type Item = BytesFrame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesFrame>, ProtocolError> {
        self.check(src)?;
        Ok(self.inner.decode(src)?)
    }
}

impl Encoder<BytesFrame> for Codec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: BytesFrame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        Ok(self.inner.encode(frame, dst)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Option<BytesFrame>, ProtocolError> {
        Codec::new(1 << 20).decode(&mut BytesMut::from(bytes))
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
}
