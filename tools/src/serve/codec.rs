//! The RESP2 wire of `serve`. In: a scan of each command's declared sizes
//! as its bytes arrive, so no client can make the server buffer without
//! bound (a 4 GB bulk length, an endless line, a huge array, a frame over
//! its byte budget); the scan that checks a frame also records where its
//! arguments are, so they are read in place, borrowed from the read buffer
//! (no frame tree, no copy, no allocation per command). Out: replies
//! encoded into one buffer per batch and written without copying large
//! values, and with no CR/LF inside a status or error line.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::ops::Range;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most elements one command may have.
const MAX_ARGS: usize = 1 << 20;
/// Longest header line (`*N` or `$N`) a command may have.
const MAX_HEADER_LINE: usize = 32;
/// The fewest bytes one element takes on the wire (`$0\r\n\r\n`).
const MIN_ELEMENT: usize = 6;
/// Argument positions kept for reuse after a command with many.
const KEEP_ARGS: usize = 1024;

/// Why a client's bytes were refused; the connection is then closed.
#[derive(Debug)]
pub(super) struct ProtocolError(pub String);

/// What is at the front of the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Not a whole command yet: more bytes are needed.
    Partial,
    /// A whole command of this many bytes; its arguments are at
    /// [`Parser::args`].
    Command(usize),
    /// A null array (`*-1`) of this many bytes: nothing to run or answer.
    Skip(usize),
}

/// RESP2 commands in: arrays of bulk strings, each frame at most
/// `max_frame` bytes on the wire.
pub(super) struct Parser {
    /// The byte budget of one frame, and what sets it (for the error).
    max_frame: usize,
    budget: &'static str,
    /// How far the scan of the frame at the front of the buffer got: the
    /// end of the last complete element, and how many are still to come
    /// (`None`: the `*N` line is not read yet). Kept across calls, so a
    /// frame arriving in many pieces is scanned once, not once per piece.
    at: usize,
    left: Option<usize>,
    /// Where the frame's arguments are, relative to its first byte.
    args: Vec<Range<usize>>,
    /// How many bytes the frame is known to take so far (the end of the
    /// bulk string being waited for): the read buffer is grown to this.
    needed: usize,
    /// Bytes looked at by the scan: what decoding cost, for the test that
    /// a frame in pieces costs no more.
    #[cfg(test)]
    examined: usize,
}

impl Parser {
    pub(super) fn new(max_frame: usize, budget: &'static str) -> Parser {
        Parser {
            max_frame,
            budget,
            at: 0,
            left: None,
            args: Vec::new(),
            needed: 0,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// A new budget, from the next frame on (after AUTH).
    pub(super) fn set_max_frame(&mut self, max_frame: usize, budget: &'static str) {
        self.max_frame = max_frame;
        self.budget = budget;
    }

    /// The arguments of the command [`Parser::next`] returned last, as
    /// ranges of its bytes.
    pub(super) fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// The bytes the frame at the front is known to need (0: unknown).
    pub(super) fn needed(&self) -> usize {
        self.needed
    }

    /// Gives back the room a command with very many arguments took,
    /// between frames.
    pub(super) fn trim(&mut self) {
        if self.left.is_none() && self.args.capacity() > KEEP_ARGS {
            self.args = Vec::new();
        }
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
        let found = crlf_at(window);
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
        parse_i64(&window[1..end])
            .map(|n| Some((n, at + end + 2)))
            .ok_or_else(|| ProtocolError(format!("Protocol error: invalid {what} length")))
    }

    /// The command at the front of `buf` (which starts where the last
    /// command ended): the scan goes on from where the last call stopped,
    /// and a command is whole once every bulk of its declared length,
    /// each followed by CR LF, is in `buf`, within the budget.
    pub(super) fn next(&mut self, buf: &[u8]) -> Result<Next, ProtocolError> {
        let mut left = match self.left {
            Some(left) => left,
            None => {
                let Some((count, end)) = self.header(buf, 0, b'*', "multibulk")? else {
                    self.needed = 0;
                    return Ok(Next::Partial);
                };
                if count > MAX_ARGS as i64 {
                    return Err(ProtocolError(
                        "Protocol error: invalid multibulk length".into(),
                    ));
                }
                if count < 0 {
                    return Ok(Next::Skip(end));
                }
                let count = count as usize;
                if end + count * MIN_ELEMENT > self.max_frame {
                    return Err(self.too_big());
                }
                self.at = end;
                self.args.clear();
                count
            }
        };
        while left > 0 {
            self.left = Some(left);
            let Some((len, data)) = self.header(buf, self.at, b'$', "bulk")? else {
                self.needed = 0;
                return Ok(Next::Partial);
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
                self.needed = end;
                return Ok(Next::Partial);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(ProtocolError(
                    "Protocol error: a bulk string is not followed by CR LF".into(),
                ));
            }
            self.args.push(data..end - 2);
            self.at = end;
            left -= 1;
        }
        let end = self.at;
        self.left = None;
        self.at = 0;
        self.needed = 0;
        Ok(Next::Command(end))
    }
}

/// Where the first CR LF in `line` starts.
fn crlf_at(line: &[u8]) -> Option<usize> {
    line.windows(2).position(|w| w == b"\r\n")
}

/// A header line's number: an optional `-` and decimal digits, as
/// `str::parse::<i64>` takes them but without a `+`.
fn parse_i64(digits: &[u8]) -> Option<i64> {
    if digits.first() == Some(&b'+') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Runs `f` on the arguments at `ranges` of `frame`, borrowed in place (on
/// the stack for the usual few, in a vector for more).
pub(super) fn with_args<R>(
    frame: &[u8],
    ranges: &[Range<usize>],
    f: impl FnOnce(&[&[u8]]) -> R,
) -> R {
    const ON_STACK: usize = 8;
    if ranges.len() <= ON_STACK {
        let mut args: [&[u8]; ON_STACK] = [&[]; ON_STACK];
        for (slot, r) in args.iter_mut().zip(ranges) {
            *slot = &frame[r.clone()];
        }
        f(&args[..ranges.len()])
    } else {
        let args: Vec<&[u8]> = ranges.iter().map(|r| &frame[r.clone()]).collect();
        f(&args)
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

    /// Queues a bulk string reply, taking `value` (emptied) when it is too
    /// large to copy.
    pub(super) fn bulk(&mut self, value: &mut Vec<u8>) {
        let before = self.small.len();
        let _ = write!(self.small, "${}\r\n", value.len());
        self.unsent += self.small.len() - before + value.len() + 2;
        if value.len() > COPY_MAX {
            self.cut();
            self.queue.push_back(Bytes::from(std::mem::take(value)));
        } else {
            self.small.put_slice(value);
        }
        self.small.put_slice(b"\r\n");
    }

    /// Queues an integer reply.
    pub(super) fn int(&mut self, n: i64) {
        let before = self.small.len();
        let _ = write!(self.small, ":{n}\r\n");
        self.unsent += self.small.len() - before;
    }

    /// Queues a reply already encoded (`+OK\r\n`, `$-1\r\n`).
    pub(super) fn raw(&mut self, encoded: &'static [u8]) {
        self.small.put_slice(encoded);
        self.unsent += encoded.len();
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
        if self.queue.is_empty() {
            // Small replies only (the usual batch): written from the
            // buffer, which is then reused.
            let mut at = 0;
            while at < self.small.len() {
                let n = write_some(w, &self.small[at..], wait).await?;
                at += n;
                self.unsent = self.unsent.saturating_sub(n);
            }
            self.small.clear();
        }
        self.cut();
        while let Some(mut chunk) = self.queue.pop_front() {
            while !chunk.is_empty() {
                let n = write_some(w, &chunk, wait).await?;
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

/// One write of some of `bytes`; `wait` bounds its progress.
async fn write_some<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    wait: Option<Duration>,
) -> std::io::Result<usize> {
    let n = match wait {
        Some(t) => tokio::time::timeout(t, w.write(bytes))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??,
        None => w.write(bytes).await?,
    };
    match n {
        0 => Err(std::io::ErrorKind::WriteZero.into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Next, ProtocolError> {
        Parser::new(1 << 20, "test").next(bytes)
    }

    #[test]
    fn bounds_are_checked_before_the_bytes_arrive() {
        let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(decode(get).unwrap(), Next::Command(get.len()));
        assert_eq!(decode(b"*2\r\n$3\r\nGET\r\n$1\r\n").unwrap(), Next::Partial);
        assert_eq!(decode(b"*-1\r\n*1").unwrap(), Next::Skip(5));
        assert!(decode(b"*1\r\n$4294967296\r\n").is_err());
        assert!(decode(b"*1\r\n$-5\r\n").is_err());
        assert!(decode(b"*99999999999\r\n").is_err());
        assert!(decode(&[b'*'; 100]).is_err());
        assert!(decode(b"*1\r\n$99999999999999999999999999999999999").is_err());
        assert!(decode(b"*1\r\n$+1\r\nx\r\n").is_err());
        assert!(decode(b"GET k\r\n").is_err());
        assert!(decode(b"*1\r\n:5\r\n").is_err());
    }

    #[test]
    fn a_bulk_must_end_with_cr_lf() {
        assert!(decode(b"*1\r\n$4\r\nPINGxx").is_err());
        assert!(decode(b"*1\r\n$4\r\nPING\rx").is_err());
        assert!(decode(b"*2\r\n$4\r\nPINGxx$1\r\nk\r\n").is_err());
        assert_eq!(decode(b"*1\r\n$4\r\nPING\r\n").unwrap(), Next::Command(14));
    }

    #[test]
    fn the_frame_budget_counts_every_byte() {
        let mut codec = Parser::new(64, "before AUTH");
        let small = b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n";
        assert_eq!(codec.next(small).unwrap(), Next::Command(small.len()));
        // Declared sizes over the budget are refused before their bytes come.
        for big in [&b"*1\r\n$100\r\n"[..], b"*20\r\n", b"*2\r\n$60\r\n"] {
            let e = Parser::new(64, "before AUTH").next(big).unwrap_err();
            assert!(
                e.0.contains("over the limit of 64 bytes (before AUTH)"),
                "{e:?}"
            );
        }
    }

    /// Every command of `wire` as the parser reads it when the bytes come
    /// in the pieces `cuts` makes, consumed the way the connection does.
    fn commands_in_pieces(wire: &[u8], cuts: &[usize]) -> Vec<Vec<Vec<u8>>> {
        let mut parser = Parser::new(1 << 20, "test");
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain([&wire.len()]) {
            buf.extend_from_slice(&wire[from..to]);
            from = to;
            let mut used = 0;
            loop {
                match parser.next(&buf[used..]).unwrap() {
                    Next::Partial => break,
                    Next::Skip(n) => used += n,
                    Next::Command(n) => {
                        let frame = &buf[used..used + n];
                        got.push(with_args(frame, parser.args(), |a| {
                            a.iter().map(|x| x.to_vec()).collect()
                        }));
                        used += n;
                    }
                }
            }
            buf.drain(..used);
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        got
    }

    #[test]
    fn a_pipeline_cut_anywhere_gives_every_command_in_order() {
        let mut want: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut wire = Vec::new();
        for i in 0..12 {
            let args: Vec<Vec<u8>> = match i % 4 {
                0 => vec![
                    b"SET".to_vec(),
                    format!("key:{i}").into_bytes(),
                    vec![b'\r'; i],
                ],
                1 => vec![b"GET".to_vec(), format!("key:{i}").into_bytes()],
                2 => vec![b"PING".to_vec()],
                _ => (0..10).map(|j| format!("a{j}\r\n").into_bytes()).collect(),
            };
            wire.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in &args {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            if i == 5 {
                wire.extend_from_slice(b"*-1\r\n");
            }
            want.push(args);
        }
        assert_eq!(commands_in_pieces(&wire, &[]), want);
        for cut in 1..wire.len() {
            assert_eq!(commands_in_pieces(&wire, &[cut]), want, "cut at {cut}");
        }
        let every: Vec<usize> = (1..wire.len()).collect();
        assert_eq!(commands_in_pieces(&wire, &every), want, "byte by byte");
    }

    #[test]
    fn a_frame_in_small_pieces_is_scanned_once() {
        let args = 100_000;
        let mut frame = format!("*{args}\r\n").into_bytes();
        for _ in 0..args {
            frame.extend_from_slice(b"$1\r\nx\r\n");
        }
        let mut codec = Parser::new(64 << 20, "test");
        let mut buf = Vec::new();
        let mut got = None;
        for piece in frame.chunks(1024) {
            buf.extend_from_slice(piece);
            if let Next::Command(n) = codec.next(&buf).unwrap() {
                got = Some(n);
            }
        }
        assert_eq!(got, Some(frame.len()));
        assert_eq!(codec.args().len(), args);
        assert!(codec.args().iter().all(|r| &frame[r.clone()] == b"x"));
        println!(
            "{} bytes examined for a frame of {} in 1 KiB pieces",
            codec.examined,
            frame.len()
        );
        // Each element's header about once (a scan from the start on every
        // piece looked at ~5000 times these bytes).
        assert!(
            codec.examined <= frame.len(),
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
