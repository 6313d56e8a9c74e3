//! The commands `serve` answers, each mapped onto the shared store, with
//! Redis's replies and error messages.

use super::codec::Out;
use super::info;
use super::Server;
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame as Frame;
use shm_store::{StoreError, Ttl, Update, UpdateTtl};
use std::time::Duration;

/// One connection's own state.
#[derive(Default)]
pub(super) struct Conn {
    pub authed: bool,
    pub name: Option<Bytes>,
    pub id: u64,
    /// The largest reply this client may be sent (`--max-output`).
    pub max_reply: usize,
}

/// What the connection does after a reply.
#[derive(PartialEq, Eq)]
pub(super) enum Then {
    Go,
    Close,
}

fn ok() -> Frame {
    Frame::SimpleString(Bytes::from_static(b"OK"))
}

fn err(text: impl Into<String>) -> Frame {
    Frame::Error(text.into().into())
}

fn bulk(v: Vec<u8>) -> Frame {
    Frame::BulkString(Bytes::from(v))
}

fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

fn wrong_args(cmd: &str) -> Frame {
    err(format!(
        "ERR wrong number of arguments for '{}' command",
        cmd.to_ascii_lowercase()
    ))
}

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// A store error as Redis words it where it has one, else `ERR <ours>`.
fn store_err(e: StoreError) -> Frame {
    match e {
        StoreError::NotAnInteger => err(NOT_INTEGER),
        StoreError::Overflow => err("ERR increment or decrement would overflow"),
        StoreError::Full { .. } => err(format!("OOM command not allowed: {e}")),
        e => err(format!("ERR {e}")),
    }
}

fn int_arg(b: &[u8]) -> Result<i64, Frame> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(NOT_INTEGER))
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

/// A TTL in milliseconds from `EX`/`PX`-style arguments: positive only.
fn ttl_of(n: i64, unit_ms: u64, cmd: &str) -> Result<Duration, Frame> {
    if n <= 0 {
        return Err(err(format!(
            "ERR invalid expire time in '{}' command",
            cmd.to_ascii_lowercase()
        )));
    }
    Ok(Duration::from_millis((n as u64).saturating_mul(unit_ms)))
}

/// The remaining TTL of a key, to keep it across a rewrite of its value.
fn remaining(server: &Server, key: &[u8]) -> Result<Option<Duration>, StoreError> {
    Ok(match server.store.ttl(key)? {
        Ttl::Remaining(ms) => Some(Duration::from_millis(ms.max(1))),
        _ => None,
    })
}

/// The compare-and-delete and compare-and-expire scripts of the composer
/// package's `RedisKvOps`, recognised by their text (whitespace aside):
/// `EVAL` runs these two, as the store's own `del_if` and `expire_if`.
const DEL_IF_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const EXPIRE_IF_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0";

fn squeeze(script: &[u8]) -> String {
    String::from_utf8_lossy(script)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs one command (`args[0]` is its name).
pub(super) fn run(server: &Server, conn: &mut Conn, args: &[&[u8]]) -> (Frame, Then) {
    let Some(name) = args.first() else {
        return (err("ERR empty command"), Then::Go);
    };
    // No command name is that long: a longer one is not copied whole.
    let cmd = upper(&name[..name.len().min(64)]);
    // Before AUTH, with a password set, only these are served.
    if server.password.is_some()
        && !conn.authed
        && !matches!(cmd.as_str(), "AUTH" | "HELLO" | "QUIT")
    {
        return (err("NOAUTH Authentication required."), Then::Go);
    }
    if cmd == "QUIT" {
        return (ok(), Then::Close);
    }
    let reply = match dispatch(server, conn, &cmd, &args[1..]) {
        Ok(frame) | Err(frame) => frame,
    };
    (reply, Then::Go)
}

/// The commands clients send most, in their plain forms, answered
/// straight into `out`, with no reply frame and no allocation: `GET k`,
/// `SET k v`, `INCR k`, `DECR k`, `DEL k...`, `UNLINK k...`, `EXISTS
/// k...`; `value` is the buffer a value is read into, kept between calls.
/// `false`: not one of these (nothing was done), for [`run`]. The replies
/// and errors are [`run`]'s, byte for byte.
pub(super) fn fast(
    server: &Server,
    conn: &Conn,
    args: &[&[u8]],
    out: &mut Out,
    value: &mut Vec<u8>,
) -> bool {
    // Before AUTH, or with replies too small for an error: `run` decides.
    if (server.password.is_some() && !conn.authed) || conn.max_reply < 256 {
        return false;
    }
    let store = &server.store;
    let is = |name: &[u8], cmd: &[u8]| name.eq_ignore_ascii_case(cmd);
    // The sum of `count` over keys, or the first error.
    let keys = |keys: &[&[u8]], count: &dyn Fn(&[u8]) -> Result<bool, StoreError>| {
        keys.iter()
            .try_fold(0, |n, k| count(k).map(|hit| n + hit as i64))
    };
    let result = match args {
        [name, key] if is(name, b"GET") => match store.get_into(key, value) {
            Ok(true) => {
                // `$<len>\r\n<value>\r\n`, as `run` measures it.
                let digits = value.len().checked_ilog10().unwrap_or(0) as usize + 1;
                let len = value.len() + digits + 5;
                match len > conn.max_reply {
                    true => out.push(&too_long(len, conn.max_reply)),
                    false => out.bulk(value),
                }
                Ok(())
            }
            Ok(false) => {
                out.raw(b"$-1\r\n");
                Ok(())
            }
            Err(e) => Err(e),
        },
        [name, key, v] if is(name, b"SET") => store.set(key, v, None).map(|()| out.raw(b"+OK\r\n")),
        [name, key] if is(name, b"INCR") => store.incr_by(key, 1).map(|n| out.int(n)),
        [name, key] if is(name, b"DECR") => store.incr_by(key, -1).map(|n| out.int(n)),
        [name, k @ ..] if !k.is_empty() && (is(name, b"DEL") || is(name, b"UNLINK")) => {
            keys(k, &|k| store.del(k)).map(|n| out.int(n))
        }
        [name, k @ ..] if !k.is_empty() && is(name, b"EXISTS") => {
            keys(k, &|k| store.exists(k)).map(|n| out.int(n))
        }
        _ => return false,
    };
    if let Err(e) = result {
        out.push(&store_err(e));
    }
    true
}

fn dispatch(server: &Server, conn: &mut Conn, cmd: &str, a: &[&[u8]]) -> Result<Frame, Frame> {
    let store = &server.store;
    let need = |ok: bool| if ok { Ok(()) } else { Err(wrong_args(cmd)) };
    let s = |r: Result<Frame, StoreError>| r.map_err(store_err);
    match cmd {
        "PING" => match a {
            [] => Ok(Frame::SimpleString(Bytes::from_static(b"PONG"))),
            [m] => Ok(Frame::BulkString(Bytes::copy_from_slice(m))),
            _ => Err(wrong_args(cmd)),
        },
        "ECHO" => {
            need(a.len() == 1)?;
            Ok(Frame::BulkString(Bytes::copy_from_slice(a[0])))
        }
        "SELECT" => {
            need(a.len() == 1)?;
            match int_arg(a[0])? {
                0 => Ok(ok()),
                _ => Err(err("ERR DB index is out of range")),
            }
        }
        "AUTH" => {
            let pass = match a {
                [p] | [_, p] => p,
                _ => return Err(wrong_args(cmd)),
            };
            auth(server, conn, pass)
        }
        "HELLO" => hello(server, conn, a),
        "CLIENT" => client(conn, a),
        "COMMAND" => match a.first().map(|s| upper(s)).as_deref() {
            None | Some("DOCS") | Some("INFO") => Ok(Frame::Array(Vec::new())),
            Some("COUNT") => Ok(int(COMMANDS.len() as i64)),
            Some(_) => Err(err("ERR unknown subcommand of 'command'")),
        },
        "INFO" => {
            let text = run_here(|| info::render(server, a.first().copied()));
            Ok(bulk(text.into_bytes()))
        }
        "GET" => {
            need(a.len() == 1)?;
            s(store.get(a[0]).map(|v| v.map_or(Frame::Null, bulk)))
        }
        "SET" => set(server, a),
        "SETEX" | "PSETEX" => {
            need(a.len() == 3)?;
            let unit = if cmd == "SETEX" { 1000 } else { 1 };
            let ttl = ttl_of(int_arg(a[1])?, unit, cmd)?;
            s(store.set(a[0], a[2], Some(ttl)).map(|()| ok()))
        }
        "SETNX" => {
            need(a.len() == 2)?;
            s(store.setnx(a[0], a[1], None).map(|b| int(b as i64)))
        }
        "MGET" => {
            need(!a.is_empty())?;
            let mut out = Vec::with_capacity(a.len());
            let mut len = 0;
            for k in a {
                // A key the store refuses (empty, too long) reads as missing.
                let value = store.get(k).ok().flatten();
                len += value.as_ref().map_or(5, |v| v.len() + 16);
                if len > conn.max_reply {
                    return Err(too_long(len, conn.max_reply));
                }
                out.push(value.map_or(Frame::Null, bulk));
            }
            Ok(Frame::Array(out))
        }
        "MSET" => {
            need(!a.is_empty() && a.len().is_multiple_of(2))?;
            // Every pair is checked before the first is written: a key or
            // value the store refuses must not leave the pairs before it
            // written (a store that is full half-way still can).
            for pair in a.chunks(2) {
                s(store
                    .check_key(pair[0])
                    .and_then(|()| store.check_value(pair[1]))
                    .map(|()| ok()))?;
            }
            for pair in a.chunks(2) {
                s(store.set(pair[0], pair[1], None).map(|()| ok()))?;
            }
            Ok(ok())
        }
        "GETSET" => {
            need(a.len() == 2)?;
            let set = || Update::Set {
                value: a[1].to_vec(),
                ttl: UpdateTtl::Persist,
            };
            if let Some(old) = store
                .update(a[0], |old| (set(), old.map(<[u8]>::to_vec)))
                .map_err(store_err)?
            {
                return Ok(old.map_or(Frame::Null, bulk));
            }
            // Not in one step (a compressed or large value): read, then write.
            let old = s(store.get(a[0]).map(|v| v.map_or(Frame::Null, bulk)))?;
            s(store.set(a[0], a[1], None).map(|()| old))
        }
        "APPEND" => {
            need(a.len() == 2)?;
            let appended = store
                .update(a[0], |old| {
                    let mut value = old.map_or_else(Vec::new, <[u8]>::to_vec);
                    value.extend_from_slice(a[1]);
                    let len = value.len() as i64;
                    (
                        Update::Set {
                            value,
                            ttl: UpdateTtl::Keep,
                        },
                        len,
                    )
                })
                .map_err(store_err)?;
            if let Some(len) = appended {
                return Ok(int(len));
            }
            let mut value = store.get(a[0]).map_err(store_err)?.unwrap_or_default();
            let ttl = remaining(server, a[0]).map_err(store_err)?;
            value.extend_from_slice(a[1]);
            let len = value.len() as i64;
            s(store.set(a[0], &value, ttl).map(|()| int(len)))
        }
        "STRLEN" => {
            need(a.len() == 1)?;
            s(store
                .get(a[0])
                .map(|v| int(v.map_or(0, |v| v.len() as i64))))
        }
        "INCR" | "DECR" => {
            need(a.len() == 1)?;
            let delta = if cmd == "INCR" { 1 } else { -1 };
            s(store.incr_by(a[0], delta).map(int))
        }
        "INCRBY" | "DECRBY" => {
            need(a.len() == 2)?;
            let n = int_arg(a[1])?;
            let delta = if cmd == "INCRBY" {
                n
            } else {
                n.checked_neg().ok_or_else(|| err(NOT_INTEGER))?
            };
            s(store.incr_by(a[0], delta).map(int))
        }
        "DEL" | "UNLINK" => {
            need(!a.is_empty())?;
            let mut n = 0;
            for k in a {
                n += store.del(k).map_err(store_err)? as i64;
            }
            Ok(int(n))
        }
        "EXISTS" => {
            need(!a.is_empty())?;
            let mut n = 0;
            for k in a {
                n += store.exists(k).map_err(store_err)? as i64;
            }
            Ok(int(n))
        }
        "EXPIRE" | "PEXPIRE" => {
            need(a.len() == 2)?;
            let n = int_arg(a[1])?;
            if n <= 0 {
                // Redis: a TTL in the past deletes the key.
                return s(store.del(a[0]).map(|b| int(b as i64)));
            }
            let unit = if cmd == "EXPIRE" { 1000 } else { 1 };
            let ttl = Duration::from_millis((n as u64).saturating_mul(unit));
            s(store.expire(a[0], ttl).map(|b| int(b as i64)))
        }
        "PERSIST" => {
            need(a.len() == 1)?;
            match store.ttl(a[0]).map_err(store_err)? {
                Ttl::Remaining(_) => s(store.persist(a[0]).map(|b| int(b as i64))),
                _ => Ok(int(0)),
            }
        }
        "TTL" | "PTTL" => {
            need(a.len() == 1)?;
            let ttl = store.ttl(a[0]).map_err(store_err)?;
            Ok(int(if cmd == "TTL" {
                ttl.as_seconds_code()
            } else {
                ttl.as_millis_code()
            }))
        }
        "TYPE" => {
            need(a.len() == 1)?;
            let kind = if store.exists(a[0]).map_err(store_err)? {
                "string"
            } else {
                "none"
            };
            Ok(Frame::SimpleString(Bytes::from_static(kind.as_bytes())))
        }
        "RENAME" => {
            need(a.len() == 2)?;
            // A new name the store refuses (empty, too long) is refused
            // before the source is touched.
            store.check_key(a[1]).map_err(store_err)?;
            if a[0] == a[1] {
                return match store.exists(a[0]).map_err(store_err)? {
                    true => Ok(ok()),
                    false => Err(err("ERR no such key")),
                };
            }
            // The source is read and removed in one step, then written
            // under the new name (two stripes: never two locks at once).
            let ttl = remaining(server, a[0]).map_err(store_err)?;
            let taken = store
                .update(a[0], |old| match old {
                    Some(v) => (Update::Delete, Some(v.to_vec())),
                    None => (Update::Keep, None),
                })
                .map_err(store_err)?;
            let value = match taken {
                Some(Some(v)) => v,
                Some(None) => return Err(err("ERR no such key")),
                None => {
                    let Some(v) = store.get(a[0]).map_err(store_err)? else {
                        return Err(err("ERR no such key"));
                    };
                    store.del(a[0]).map_err(store_err)?;
                    v
                }
            };
            if let Err(e) = store.set(a[1], &value, ttl) {
                // The new name could not be written (a full store that does
                // not evict): the source is put back, TTL included, unless a
                // client wrote it meanwhile (that value is newer).
                return Err(match store.setnx(a[0], &value, ttl) {
                    Ok(_) => store_err(e),
                    Err(back) => err(format!(
                        "ERR {e}; the source could not be put back either ({back}): its value is lost"
                    )),
                });
            }
            Ok(ok())
        }
        "KEYS" => {
            need(a.len() == 1)?;
            let glob = glob(a[0])?;
            let mut keys = Vec::new();
            run_here(|| {
                store.scan(|e| {
                    if glob.matches(&e.key) {
                        keys.push(Frame::BulkString(Bytes::copy_from_slice(&e.key)));
                    }
                })
            })
            .map_err(store_err)?;
            Ok(Frame::Array(keys))
        }
        "SCAN" => scan(server, a),
        "DBSIZE" => {
            need(a.is_empty())?;
            s(run_here(|| store.stats()).map(|st| int(st.entries as i64)))
        }
        "FLUSHDB" | "FLUSHALL" => {
            // ASYNC and SYNC are accepted; the flush is done before the reply.
            need(a.len() <= 1)?;
            s(run_here(|| store.flush_all()).map(|()| ok()))
        }
        "EVAL" => eval(server, a),
        _ => Err(unknown(cmd, a)),
    }
}

/// A walk over the store (INFO's key count, KEYS, SCAN, DBSIZE, FLUSHALL),
/// run where the command is: each connection thread serves its clients
/// one command at a time, as Redis's one thread does, so the other
/// clients of this thread wait for it (those of the other threads do not).
fn run_here<R>(walk: impl FnOnce() -> R) -> R {
    walk()
}

/// Client bytes quoted in an error: at most 128 of them, escaped (`\r`,
/// `\xff`...), so the text stays one short printable line.
fn quote(b: &[u8]) -> String {
    let cut = &b[..b.len().min(128)];
    let more = if b.len() > cut.len() { "..." } else { "" };
    format!("'{}{more}'", cut.escape_ascii())
}

fn unknown(cmd: &str, a: &[&[u8]]) -> Frame {
    let args: String = a.iter().take(8).map(|x| quote(x) + " ").collect();
    err(format!(
        "ERR unknown command {}, with args beginning with: {args}",
        quote(cmd.to_ascii_lowercase().as_bytes())
    ))
}

/// A reply over `--max-output`, refused.
pub(super) fn too_long(len: usize, max: usize) -> Frame {
    err(format!(
        "ERR the reply would be over {max} bytes (--max-output): {len} or more"
    ))
}

/// A client name as Redis takes it: printable ASCII with no spaces.
fn valid_name(name: &[u8]) -> Result<(), Frame> {
    match name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        true => Ok(()),
        false => Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        )),
    }
}

/// Every command `serve` answers (for `COMMAND COUNT` and the docs).
pub(super) const COMMANDS: &[&str] = &[
    "GET", "SET", "SETEX", "PSETEX", "SETNX", "MGET", "MSET", "GETSET", "APPEND", "STRLEN", "INCR",
    "DECR", "INCRBY", "DECRBY", "DEL", "UNLINK", "EXISTS", "EXPIRE", "PEXPIRE", "PERSIST", "TTL",
    "PTTL", "TYPE", "RENAME", "KEYS", "SCAN", "DBSIZE", "FLUSHDB", "FLUSHALL", "EVAL", "PING",
    "ECHO", "SELECT", "QUIT", "COMMAND", "INFO", "AUTH", "CLIENT", "HELLO",
];

fn auth(server: &Server, conn: &mut Conn, pass: &[u8]) -> Result<Frame, Frame> {
    match &server.password {
        None => Err(err(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        )),
        Some(p) if p.as_bytes() == pass => {
            conn.authed = true;
            Ok(ok())
        }
        Some(_) => Err(err(
            "WRONGPASS invalid username-password pair or user is disabled.",
        )),
    }
}

fn hello(server: &Server, conn: &mut Conn, a: &[&[u8]]) -> Result<Frame, Frame> {
    let mut rest = a;
    if let Some(v) = rest.first() {
        match int_arg(v) {
            Ok(2) => rest = &rest[1..],
            Ok(_) => return Err(err("NOPROTO unsupported protocol version")),
            Err(_) => {
                return Err(err(
                    "ERR Protocol version is not an integer or out of range",
                ))
            }
        }
    }
    while let Some(opt) = rest.first() {
        match (upper(opt).as_str(), rest) {
            ("AUTH", [_, _user, pass, ..]) => {
                auth(server, conn, pass)?;
                rest = &rest[3..];
            }
            ("SETNAME", [_, name, ..]) => {
                valid_name(name)?;
                conn.name = Some(Bytes::copy_from_slice(name));
                rest = &rest[2..];
            }
            _ => return Err(err(SYNTAX)),
        }
    }
    if server.password.is_some() && !conn.authed {
        return Err(err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    let s = |t: &str| Frame::BulkString(Bytes::copy_from_slice(t.as_bytes()));
    Ok(Frame::Array(vec![
        s("server"),
        s("ephpm-shm"),
        s("version"),
        s(env!("CARGO_PKG_VERSION")),
        s("proto"),
        int(2),
        s("id"),
        int(conn.id as i64),
        s("mode"),
        s("standalone"),
        s("role"),
        s("master"),
        s("modules"),
        Frame::Array(Vec::new()),
    ]))
}

fn client(conn: &mut Conn, a: &[&[u8]]) -> Result<Frame, Frame> {
    match (a.first().map(|s| upper(s)).as_deref(), a) {
        (Some("SETNAME"), [_, name]) => {
            valid_name(name)?;
            conn.name = Some(Bytes::copy_from_slice(name));
            Ok(ok())
        }
        (Some("GETNAME"), [_]) => Ok(conn.name.clone().map_or(Frame::Null, Frame::BulkString)),
        (Some("ID"), [_]) => Ok(int(conn.id as i64)),
        (Some("SETINFO"), [_, _, _]) => Ok(ok()),
        (Some(_), _) => Err(err(
            "ERR unknown subcommand or wrong number of arguments for 'client' command",
        )),
        (None, _) => Err(wrong_args("client")),
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|KEEPTTL]`.
fn set(server: &Server, a: &[&[u8]]) -> Result<Frame, Frame> {
    let store = &server.store;
    if a.len() < 2 {
        return Err(wrong_args("set"));
    }
    let (key, value) = (a[0], a[1]);
    let (mut nx, mut xx, mut get, mut keep) = (false, false, false, false);
    let mut ttl = None;
    let mut i = 2;
    while i < a.len() {
        match upper(a[i]).as_str() {
            "NX" if !xx => nx = true,
            "XX" if !nx => xx = true,
            "GET" => get = true,
            "KEEPTTL" if ttl.is_none() => keep = true,
            unit @ ("EX" | "PX") if ttl.is_none() && !keep => {
                let n = a.get(i + 1).ok_or_else(|| err(SYNTAX))?;
                let ms = if unit == "EX" { 1000 } else { 1 };
                ttl = Some(ttl_of(int_arg(n)?, ms, "set")?);
                i += 1;
            }
            _ => return Err(err(SYNTAX)),
        }
        i += 1;
    }
    if nx && !get {
        // One store step, whatever the value's size.
        return Ok(match store.setnx(key, value, ttl).map_err(store_err)? {
            true => ok(),
            false => Frame::Null,
        });
    }
    // Whether the key, as it is now, is to be written.
    let wanted = |old: Option<&[u8]>| match (nx, xx) {
        (true, _) => old.is_none(),
        (_, true) => old.is_some(),
        _ => true,
    };
    let ttl_choice = match (keep, ttl) {
        (true, _) => UpdateTtl::Keep,
        (false, Some(d)) => UpdateTtl::After(d),
        (false, None) => UpdateTtl::Persist,
    };
    let reply = |old: Option<&[u8]>, done: bool| match (get, done) {
        (true, _) => old.map_or(Frame::Null, |v| bulk(v.to_vec())),
        (false, true) => ok(),
        (false, false) => Frame::Null,
    };
    if !(xx || get || keep) {
        store.set(key, value, ttl).map_err(store_err)?;
        return Ok(ok());
    }
    // NX with GET, XX, GET or KEEPTTL: the old value decides, in one step.
    let stepped = store
        .update(key, |old| {
            let done = wanted(old);
            let update = match done {
                true => Update::Set {
                    value: value.to_vec(),
                    ttl: ttl_choice,
                },
                false => Update::Keep,
            };
            (update, reply(old, done))
        })
        .map_err(store_err)?;
    if let Some(frame) = stepped {
        return Ok(frame);
    }
    // A compressed or large value: read, then write.
    let old = store.get(key).map_err(store_err)?;
    if !wanted(old.as_deref()) {
        return Ok(reply(old.as_deref(), false));
    }
    if nx {
        let done = store.setnx(key, value, ttl).map_err(store_err)?;
        return Ok(reply(old.as_deref(), done));
    }
    let ttl = match ttl_choice {
        UpdateTtl::Keep => remaining(server, key).map_err(store_err)?,
        UpdateTtl::After(d) => Some(d),
        UpdateTtl::Persist => None,
    };
    store.set(key, value, ttl).map_err(store_err)?;
    Ok(reply(old.as_deref(), true))
}

/// A `KEYS` or `SCAN MATCH` pattern, compiled once for the whole walk.
fn glob(pattern: &[u8]) -> Result<shm_store::Glob, Frame> {
    shm_store::Glob::new(pattern).map_err(|e| err(format!("ERR {e}")))
}

/// `SCAN cursor [MATCH pattern] [COUNT n]`: the cursor is a stripe number;
/// each call visits whole stripes, one stripe lock at a time, until it
/// has `COUNT` keys (default 10) or the last stripe; 0 ends.
fn scan(server: &Server, a: &[&[u8]]) -> Result<Frame, Frame> {
    let Some(cursor) = a.first() else {
        return Err(wrong_args("scan"));
    };
    let cursor = u64::try_from(int_arg(cursor).map_err(|_| err("ERR invalid cursor"))?)
        .map_err(|_| err("ERR invalid cursor"))?;
    let (mut pattern, mut count) = (None, 10usize);
    let mut rest = &a[1..];
    while let Some(opt) = rest.first() {
        match (upper(opt).as_str(), rest.get(1)) {
            ("MATCH", Some(p)) => pattern = Some(glob(p)?),
            ("COUNT", Some(n)) => {
                count = usize::try_from(int_arg(n)?)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| err(SYNTAX))?
            }
            ("TYPE", Some(_)) => {}
            _ => return Err(err(SYNTAX)),
        }
        rest = &rest[2..];
    }
    let stripes = server.store.geometry().stripes as u64;
    let mut stripe = cursor;
    let mut keys = Vec::new();
    run_here(|| {
        while stripe < stripes && keys.len() < count {
            server
                .store
                .scan_stripe(stripe as usize, |e| {
                    if pattern.as_ref().is_none_or(|g| g.matches(&e.key)) {
                        keys.push(Frame::BulkString(Bytes::copy_from_slice(&e.key)));
                    }
                })
                .map_err(store_err)?;
            stripe += 1;
        }
        Ok::<_, Frame>(())
    })?;
    let next = if stripe >= stripes { 0 } else { stripe };
    Ok(Frame::Array(vec![
        Frame::BulkString(Bytes::from(next.to_string())),
        Frame::Array(keys),
    ]))
}

/// `EVAL script numkeys key... arg...`: only `RedisKvOps`'s two scripts.
fn eval(server: &Server, a: &[&[u8]]) -> Result<Frame, Frame> {
    if a.len() < 2 {
        return Err(wrong_args("eval"));
    }
    let script = squeeze(a[0]);
    let numkeys = int_arg(a[1])?;
    let rest = &a[2..];
    let store = &server.store;
    match (script.as_str(), numkeys, rest) {
        (DEL_IF_SCRIPT, 1, [key, value]) => {
            Ok(int(store.del_if(key, value).map_err(store_err)? as i64))
        }
        (EXPIRE_IF_SCRIPT, 1, [key, value, ttl]) => {
            let secs = int_arg(ttl)?;
            if secs <= 0 {
                // EXPIRE with a TTL in the past deletes, but only our own.
                return Ok(int(store.del_if(key, value).map_err(store_err)? as i64));
            }
            let ttl = Duration::from_secs(secs as u64);
            Ok(int(
                store.expire_if(key, value, ttl).map_err(store_err)? as i64
            ))
        }
        _ => Err(err(
            "ERR ephpm-shm serve runs no Lua: EVAL only accepts the compare-and-delete and \
             compare-and-expire scripts of ephpm/session-handler's RedisKvOps",
        )),
    }
}
