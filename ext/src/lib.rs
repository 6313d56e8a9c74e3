//! The `ephpm_kv` PHP extension: ePHPm's `ephpm_kv_*` functions over a
//! `shm-store` segment shared by every worker of a php-fpm pool, every
//! Apache mod_php child and php-cli. A thin binding: argument handling and
//! errors here, all store logic in `shm-store`. The contract is
//! `docs/api.md` (at the repository's root); the signatures are in
//! `ephpm_kv.stub.php`.

mod session;
mod settings;
mod zend;

use ext_php_rs::ffi::zend_module_entry;
use settings::Resolved;
use shm_store::{
    Glob, ReadStart, ReadTicket, SmallRead, Store, StoreConfig, StoreError, Ttl, WaitOutcome,
    MAX_PATTERN_LEN, READ_ATTEMPTS,
};
use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::panic::catch_unwind;
use std::sync::Mutex;
use std::time::Duration;
use zend::{
    Args, Bailout, Begun, Item, Opened, Outcome, Raise, Reply, Signature, Tested, MAY_BE_ARRAY,
    MAY_BE_BOOL, MAY_BE_FALSE, MAY_BE_LONG, MAY_BE_NULL, MAY_BE_STRING,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every store this process opened, by configuration. Stores stay mapped
/// until the process exits; nothing is ever unlinked.
static OPENED: Mutex<Vec<(StoreConfig, &'static Store)>> = Mutex::new(Vec::new());

thread_local! {
    /// The store of the current request (settings can differ per php-fpm
    /// pool or Apache vhost, but not within a request), or why there is none.
    static CURRENT: RefCell<Option<Result<&'static Store, String>>> = const { RefCell::new(None) };
    /// The same store once it opened, for the calls that follow: one
    /// thread-local load on every call instead of a borrow and a clone.
    static THIS_REQUEST: Cell<Option<&'static Store>> = const { Cell::new(None) };
}

fn current_settings() -> Result<Resolved, String> {
    settings::resolve(|s| zend::ini_value(s.name))
}

/// The configuration of the store the settings name, or why there is none.
fn configured_store() -> Result<StoreConfig, String> {
    match current_settings()? {
        Resolved::Disabled => Err("the store is disabled (ephpm_kv.enabled = Off)".into()),
        Resolved::Store(config) => Ok(config),
    }
}

fn open_store(config: StoreConfig) -> Result<&'static Store, String> {
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, store)) = opened.iter().find(|(c, _)| *c == config) {
        return Ok(store);
    }
    let store =
        Store::open(&config).map_err(|e| format!("store {:?} is unavailable: {e}", config.name))?;
    if let Some(asked) = store.policy_asked() {
        let mut notice = NOTICE.lock().unwrap_or_else(|e| e.into_inner());
        *notice = Some(format!(
            "ephpm_kv.eviction = {asked} is not the policy of store {:?}: it evicts by {}, \
             recorded when it was created, for every process that opens it \
             (`ephpm-shm create --eviction` chooses it for a new store)",
            config.name,
            store.policy()
        ));
        NOTICE_PENDING.store(true, std::sync::atomic::Ordering::Release);
        drop(notice);
    }
    let store: &'static Store = Box::leak(Box::new(store));
    opened.push((config, store));
    Ok(store)
}

/// A warning for this process to raise once, on its next call that
/// succeeds (the store it opened has another eviction policy than
/// its settings ask for), in whichever thread makes that call (under a ZTS
/// PHP, the threads of one process share its stores, so they share this
/// notice too: a per-thread copy would be lost when another thread's call
/// cleared `NOTICE_PENDING`). `NOTICE_PENDING` spares the calls a lock
/// when there is none, which is always but once.
static NOTICE: Mutex<Option<String>> = Mutex::new(None);
static NOTICE_PENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The pending warning, if any (taken: raised once).
fn take_notice() -> Option<String> {
    if !NOTICE_PENDING.load(std::sync::atomic::Ordering::Acquire) {
        return None;
    }
    let mut notice = NOTICE.lock().unwrap_or_else(|e| e.into_inner());
    // Cleared under the lock, so a notice set meanwhile is not lost.
    NOTICE_PENDING.store(false, std::sync::atomic::Ordering::Relaxed);
    notice.take()
}

/// The store of this request, opened on first use in the worker (never in
/// php-fpm's master, which may run as root).
fn store() -> Result<&'static Store, String> {
    if let Some(store) = THIS_REQUEST.get() {
        return Ok(store);
    }
    let found = CURRENT.with(|current| {
        current
            .borrow_mut()
            .get_or_insert_with(|| configured_store().and_then(open_store))
            .clone()
    });
    if let Ok(store) = found {
        THIS_REQUEST.set(Some(store));
    }
    found
}

/// How a failed call ends, per `docs/api.md`.
enum Failure {
    /// The engine bailed out while parsing the arguments: return at once.
    Bailout,
    /// An exception (TypeError, ArgumentCountError) is pending: return nothing.
    Thrown,
    /// A bad argument: this `ValueError` is thrown.
    ValueError(u32, String),
    /// An expected outcome (non-integer `incr`): the failure value, no warning.
    Quiet,
    /// A run-time failure: the failure value and this one warning.
    Warned(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Warned(message)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmptyKey => Failure::ValueError(1, "must not be empty".into()),
            StoreError::KeyTooLong { max, .. } => {
                Failure::ValueError(1, format!("must be at most {max} bytes long"))
            }
            StoreError::NotAnInteger | StoreError::Overflow => Failure::Quiet,
            other => Failure::Warned(other.to_string()),
        }
    }
}

/// Parsed arguments, or how the call ends.
fn parsed<T>(args: zend::Parsed<T>) -> Result<T, Failure> {
    match args {
        Ok(Some(args)) => Ok(args),
        Ok(None) => Err(Failure::Thrown),
        Err(Bailout) => Err(Failure::Bailout),
    }
}

/// The outcome of a failure other than [`Failure::Bailout`] (which only
/// argument parsing gives).
fn failed(failure: Failure, failure_reply: fn() -> Reply) -> Outcome {
    outcome(Err(failure), failure_reply).unwrap_or_else(|Bailout| Outcome::reply(Reply::Pending))
}

/// What a handler body's result asks the engine boundary to do: the
/// warnings and exceptions are raised only there, after the body returned
/// (no store lock or thread-local borrowed any more).
fn outcome(result: Result<Reply, Failure>, failure: fn() -> Reply) -> Result<Outcome, Bailout> {
    let failed = |raise| Outcome {
        raise,
        reply: failure(),
    };
    Ok(match result {
        // A pending notice (see `take_notice`) goes with a call that succeeded.
        Ok(reply) => Outcome {
            raise: take_notice().map(Raise::Warning),
            reply,
        },
        Err(Failure::Bailout) => return Err(Bailout),
        Err(Failure::Thrown) => Outcome::reply(Reply::Pending),
        Err(Failure::ValueError(arg, message)) => Outcome {
            raise: Some(Raise::ValueError(arg, message)),
            reply: Reply::Pending,
        },
        Err(Failure::Quiet) => failed(None),
        Err(Failure::Warned(message)) => failed(Some(Raise::Warning(message))),
    })
}

/// How a failed read of `key` ends: a corrupt compressed value (removed
/// by the store, a miss) gets a warning that names the key.
fn read_failure(key: &[u8], e: StoreError) -> Failure {
    match e {
        StoreError::Corrupt { reason } => {
            let shown = shown_key(key);
            Failure::Warned(format!(
                "the compressed value of key {shown:?} is corrupt ({reason}); it was removed \
                 and reads as missing"
            ))
        }
        other => other.into(),
    }
}

/// What `memory_limit` leaves this request, when that is less than `need`
/// bytes: a reply that large would end the request (PHP's fatal error, or
/// for a block past its limit a "Hard memory limit" exit that runs no
/// shutdown function), so the caller refuses it with a warning before PHP
/// allocates any of it. Reads the allocator's counter and one setting.
fn short_of_memory(need: u64) -> Option<u64> {
    zend::memory_room().filter(|&room| need > room)
}

/// Values shorter than this reach PHP without a look at `memory_limit`:
/// their string is one allocation like the script's own, made from the
/// memory PHP already holds (a huge block, from 2 MiB, is mapped anew).
const ROOM_CHECKED_FROM: usize = 256 * 1024;

/// PHP memory a string takes besides its bytes, at most: its header and
/// NUL, and a huge block's rounding up to a whole page.
const STRING_OVERHEAD: u64 = 4096 + 32;

/// `Ok` if a string of `len` bytes fits in what `memory_limit` leaves;
/// else the warning that refuses it, `what` naming the value ("the value
/// of key ...", "session ...").
#[inline(always)]
pub(crate) fn string_fits(len: usize, what: impl FnOnce() -> String) -> Result<(), String> {
    if len < ROOM_CHECKED_FROM {
        return Ok(());
    }
    large_string_fits(len, what)
}

/// [`string_fits`] for a string of at least [`ROOM_CHECKED_FROM`] bytes:
/// out of line, so the read path of a small value keeps one compare.
#[cold]
#[inline(never)]
fn large_string_fits(len: usize, what: impl FnOnce() -> String) -> Result<(), String> {
    match short_of_memory(len as u64 + STRING_OVERHEAD) {
        None => Ok(()),
        Some(room) => Err(format!(
            "{} is {len} bytes, more than memory_limit leaves this request ({room} bytes): \
             not read (raise memory_limit to read it)",
            what()
        )),
    }
}

/// A key as a warning shows it (its first 200 characters).
fn shown_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).chars().take(200).collect()
}

/// `Ok` if the value of `key`, `len` bytes long, fits in what
/// `memory_limit` leaves (see [`string_fits`]).
#[inline(always)]
fn value_fits(key: &[u8], len: usize) -> Result<(), Failure> {
    string_fits(len, || format!("the value of key {:?}", shown_key(key))).map_err(Failure::Warned)
}

/// The parsed key argument: an empty key is a bad argument (`ValueError`)
/// even when no store is available; the length limit is the store's.
fn key(parsed: zend::Parsed<&[u8]>) -> Result<&[u8], Failure> {
    match self::parsed(parsed)? {
        [] => Err(StoreError::EmptyKey.into()),
        key => Ok(key),
    }
}

fn checked_key(key: &[u8]) -> Result<&[u8], Failure> {
    self::key(Ok(Some(key)))
}

fn ttl_from_seconds(seconds: i64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds as u64))
}

/// A PHP function: `$body` (with the call's `Args` as `$args`) gives the
/// return value or a [`Failure`]; `$fail` is the value a failure returns.
macro_rules! handler {
    ($name:ident, |$args:ident| $body:block, failure: $fail:expr) => {
        #[allow(non_camel_case_types)]
        struct $name;

        impl zend::Function for $name {
            fn failure() -> Reply {
                $fail
            }
            fn body(args: &Args<'_>) -> Result<Outcome, Bailout> {
                fn body($args: &Args<'_>) -> Result<Reply, Failure> {
                    $body
                }
                outcome(body(args), Self::failure)
            }
        }
    };
}

/// `ephpm_kv_get`: the value is copied once, straight into PHP's string
/// (see [`zend::ReadFunction`]); no store lock is held while PHP allocates it.
#[allow(non_camel_case_types)]
struct kv_get;

impl zend::ReadFunction for kv_get {
    type Reader<'a> = Get<'a>;

    fn failure() -> Reply {
        Reply::Null
    }

    #[inline]
    fn open<'a, 'b>(
        args: &Args<'a>,
        alloc: impl FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>,
        opened: &mut Option<Opened<Get<'a>>>,
    ) -> Result<bool, Bailout> {
        match args.string_exact() {
            Some(key) => open_key(key, alloc, opened),
            None => open_parsed(args, alloc, opened),
        }
    }
}

/// `ephpm_kv_get` of an argument that was not exactly one string: parsed
/// by PHP (coerced, or an exception thrown), out of line.
#[cold]
#[inline(never)]
fn open_parsed<'a, 'b>(
    args: &Args<'a>,
    alloc: impl FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>,
    opened: &mut Option<Opened<Get<'a>>>,
) -> Result<bool, Bailout> {
    match parsed(args.string()) {
        Ok(key) => open_key(key, alloc, opened),
        Err(failure) => open_failed(failure, opened).map(|()| false),
    }
}

/// `ephpm_kv_get` of the key argument `key` (as [`zend::ReadFunction::open`]).
#[inline(always)]
fn open_key<'a, 'b>(
    key: &'a [u8],
    alloc: impl FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>,
    opened: &mut Option<Opened<Get<'a>>>,
) -> Result<bool, Bailout> {
    let key = match checked_key(key) {
        Ok(key) => key,
        Err(failure) => return open_failed(failure, opened).map(|()| false),
    };
    let store = match store() {
        Ok(store) => store,
        Err(failure) => return open_failed(failure.into(), opened).map(|()| false),
    };
    if NOTICE_PENDING.load(std::sync::atomic::Ordering::Relaxed) {
        *opened = Some(get_with_notice(store, key)?);
        return Ok(false);
    }
    // Nothing here needs dropping while the store calls `alloc`: borrows.
    let mut longer = None;
    match store.read_small_quick_in(key, zend::SMALL, alloc, &mut longer) {
        // A value read this way is below ROOM_CHECKED_FROM: no look at
        // memory_limit (see `value_fits`).
        Some(Some(_)) => return Ok(true),
        Some(None) => *opened = Some(Opened::Done(Outcome::reply(Reply::Null))),
        None => open_rest(store, key, longer, opened)?,
    }
    Ok(false)
}

/// `ephpm_kv_get` once the store's first look found neither a small value
/// nor a miss: the rest of `read_small`, out of line.
#[cold]
#[inline(never)]
fn open_rest<'a>(
    store: &'static Store,
    key: &'a [u8],
    longer: Option<ReadTicket>,
    opened: &mut Option<Opened<Get<'a>>>,
) -> Result<(), Bailout> {
    match store.read_small_rest(key, longer) {
        // Not from `read_small_rest`, which has no buffer to copy into.
        Ok(SmallRead::Copied(_)) => {
            let internal = "internal error in ephpm_kv (please report it)";
            return open_failed(Failure::Warned(internal.into()), opened);
        }
        Ok(SmallRead::Missing) => *opened = Some(Opened::Done(Outcome::reply(Reply::Null))),
        Ok(SmallRead::Begun(start)) => *opened = Some(Get::open(store, key, start)),
        Err(e) => return open_failed(read_failure(key, e), opened),
    }
    Ok(())
}

const _: () = assert!(zend::SMALL < ROOM_CHECKED_FROM);

/// How `ephpm_kv_get` ends when its argument or the store fails.
#[cold]
#[inline(never)]
fn open_failed(failure: Failure, opened: &mut Option<Opened<Get<'_>>>) -> Result<(), Bailout> {
    *opened = Some(Opened::Done(outcome(
        Err(failure),
        <kv_get as zend::ReadFunction>::failure,
    )?));
    Ok(())
}

/// `ephpm_kv_get` when a notice is pending (once per process): the value
/// read the plain way, to raise the notice too.
#[cold]
#[inline(never)]
fn get_with_notice<'a>(store: &'static Store, key: &'a [u8]) -> Result<Opened<Get<'a>>, Bailout> {
    let read = store
        .get(key)
        .map_err(|e| read_failure(key, e))
        .and_then(|v| v.map_or(Ok(Reply::Null), |v| value_reply(key, v)));
    let outcome = outcome(read, <kv_get as zend::ReadFunction>::failure)?;
    let raise = match take_notice() {
        Some(notice) => outcome.raise.or(Some(Raise::Warning(notice))),
        None => outcome.raise,
    };
    Ok(Opened::Done(Outcome { raise, ..outcome }))
}

/// One `ephpm_kv_get`: plain data (a bailout may skip it).
struct Get<'a> {
    store: &'static Store,
    key: &'a [u8],
    /// Where the last `begin` saw the value.
    ticket: Option<ReadTicket>,
}

/// A value read into Rust memory as `ephpm_kv_get`'s reply, or the
/// warning that it does not fit in what `memory_limit` leaves.
fn value_reply(key: &[u8], value: Vec<u8>) -> Result<Reply, Failure> {
    value_fits(key, value.len())?;
    Ok(Reply::Bytes(value))
}

impl<'a> Get<'a> {
    /// The reader of a value that `read_small` handed on as `start`.
    #[cold]
    #[inline(never)]
    fn open(store: &'static Store, key: &'a [u8], start: ReadStart) -> Opened<Get<'a>> {
        let mut get = Get {
            store,
            key,
            ticket: None,
        };
        match get.started(start, 1) {
            Begun::Len(len) => Opened::Reader(get, len),
            Begun::Done(outcome) => Opened::Done(outcome),
        }
    }

    /// The reader's state after `read_begin`'s attempt `attempt` gave `start`.
    fn started(&mut self, start: ReadStart, attempt: u32) -> Begun {
        let fail = |failure| Begun::Done(failed(failure, <kv_get as zend::ReadFunction>::failure));
        let done = |reply: Result<Reply, Failure>| match reply {
            Ok(reply) => Begun::Done(Outcome::reply(reply)),
            Err(failure) => fail(failure),
        };
        match start {
            // From READ_ATTEMPTS on the store reads under the lock instead;
            // should it not, this does (so the retries always end).
            ReadStart::Ready(_) if attempt > READ_ATTEMPTS => {
                let mut value = Vec::new();
                match self.store.get_into(self.key, &mut value) {
                    Ok(true) => done(value_reply(self.key, value)),
                    Ok(false) => done(Ok(Reply::Null)),
                    Err(e) => fail(read_failure(self.key, e)),
                }
            }
            ReadStart::Ready(ticket) => {
                let len = ticket.len();
                // Refused before PHP's string of that length is allocated
                // (a value read this way is at most one part, 64 KiB by
                // default: below ROOM_CHECKED_FROM, so this is one compare).
                if let Err(failure) = value_fits(self.key, len) {
                    return fail(failure);
                }
                self.ticket = Some(ticket);
                Begun::Len(len)
            }
            ReadStart::Copied(value) => done(value_reply(self.key, value)),
            ReadStart::Missing => done(Ok(Reply::Null)),
        }
    }
}

impl zend::Reader for Get<'_> {
    fn begin(&mut self, attempt: u32) -> Begun {
        match self.store.read_begin(self.key, attempt) {
            Ok(start) => self.started(start, attempt),
            Err(e) => Begun::Done(failed(
                read_failure(self.key, e),
                <kv_get as zend::ReadFunction>::failure,
            )),
        }
    }

    fn finish(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> bool {
        self.ticket
            .as_ref()
            .is_some_and(|ticket| self.store.read_finish_uninit(ticket, out))
    }
}

handler!(kv_set, |args| {
    let (key, value, ttl) = parsed(args.string_string_long(Some(0)))?;
    let (key, store) = (checked_key(key)?, store()?);
    store.set(key, value, ttl_from_seconds(ttl))?;
    Ok(Reply::Bool(true))
}, failure: Reply::Bool(false));

handler!(kv_setnx, |args| {
    let (key, value, ttl) = parsed(args.string_string_long(Some(0)))?;
    let (key, store) = (checked_key(key)?, store()?);
    Ok(Reply::Bool(store.setnx(key, value, ttl_from_seconds(ttl))?))
}, failure: Reply::Bool(false));

handler!(kv_del, |args| {
    let key = key(args.string())?;
    let store = store()?;
    Ok(Reply::Long(store.del(key)? as i64))
}, failure: Reply::Long(0));

handler!(kv_del_if, |args| {
    let (key, expected) = parsed(args.string_string())?;
    let (key, store) = (checked_key(key)?, store()?);
    Ok(Reply::Bool(store.del_if(key, expected)?))
}, failure: Reply::Bool(false));

handler!(kv_expire_if, |args| {
    let (key, expected, ttl) = parsed(args.string_string_long(None))?;
    let (key, store) = (checked_key(key)?, store()?);
    // Like ephpm_kv_expire: a TTL of 0 or less changes nothing (false).
    let ttl = ttl_from_seconds(ttl).unwrap_or(Duration::ZERO);
    Ok(Reply::Bool(store.expire_if(key, expected, ttl)?))
}, failure: Reply::Bool(false));

/// `ephpm_kv_exists`: the answer written in place (see [`zend::TestFunction`]).
#[allow(non_camel_case_types)]
struct kv_exists;

impl zend::TestFunction for kv_exists {
    fn failure() -> Reply {
        Reply::Bool(false)
    }

    #[inline]
    fn test(args: &Args<'_>) -> Result<Tested, Bailout> {
        let found = key(args.string()).and_then(|key| Ok(store()?.exists(key)?));
        match found {
            Ok(found) if !NOTICE_PENDING.load(std::sync::atomic::Ordering::Relaxed) => {
                Ok(Tested::Bool(found))
            }
            found => exists_outcome(found),
        }
    }
}

/// How `ephpm_kv_exists` ends with a failure, or with a pending notice.
#[cold]
#[inline(never)]
fn exists_outcome(found: Result<bool, Failure>) -> Result<Tested, Bailout> {
    outcome(
        found.map(Reply::Bool),
        <kv_exists as zend::TestFunction>::failure,
    )
    .map(Tested::Done)
}

#[inline(always)]
fn incr(args: &Args<'_>, delta: Option<i64>) -> Result<Reply, Failure> {
    let (key, delta) = match delta {
        Some(d) => (key(args.string())?, d),
        None => {
            let (key, delta) = parsed(args.string_long(None))?;
            (checked_key(key)?, delta)
        }
    };
    Ok(Reply::Long(store()?.incr_by(key, delta)?))
}

handler!(kv_incr, |args| { incr(args, Some(1)) }, failure: Reply::Bool(false));
handler!(kv_decr, |args| { incr(args, Some(-1)) }, failure: Reply::Bool(false));
handler!(kv_incr_by, |args| { incr(args, None) }, failure: Reply::Bool(false));

handler!(kv_expire, |args| {
    let (key, ttl) = parsed(args.string_long(None))?;
    let (key, store) = (checked_key(key)?, store()?);
    let applied = match ttl_from_seconds(ttl) {
        Some(ttl) => store.expire(key, ttl)?,
        // ePHPm: a TTL of 0 or less changes nothing (the key is still checked).
        None => store.expire(key, Duration::ZERO)?,
    };
    Ok(Reply::Bool(applied))
}, failure: Reply::Bool(false));

handler!(kv_ttl, |args| {
    let key = key(args.string())?;
    let store = store()?;
    Ok(Reply::Long(store.ttl(key)?.as_seconds_code()))
}, failure: Reply::Long(Ttl::Missing.as_seconds_code()));

handler!(kv_pttl, |args| {
    let key = key(args.string())?;
    let store = store()?;
    Ok(Reply::Long(store.ttl(key)?.as_millis_code()))
}, failure: Reply::Long(Ttl::Missing.as_millis_code()));

// `ephpm_kv_wait`: blocks in the store (no PHP state touched meanwhile)
// until the key changes or the timeout passes; see `docs/api.md`.
handler!(kv_wait, |args| {
    let (key, last_version, timeout_ms) = parsed(args.string_long_long())?;
    let (key, store) = (checked_key(key)?, store()?);
    // Negative arguments count as 0 (ePHPm's rule).
    let last_version = u64::try_from(last_version).unwrap_or(0);
    let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    let outcome = store
        .wait(key, last_version, timeout)
        .map_err(|e| read_failure(key, e))?;
    if let WaitOutcome::Changed {
        value: Some(value), ..
    } = &outcome
    {
        value_fits(key, value.len())?;
    }
    Ok(match outcome {
        WaitOutcome::TimedOut => Reply::Bool(false),
        WaitOutcome::Changed { value, version } => Reply::Array(vec![
            ("value", value.map_or(Item::Null, Item::Bytes)),
            ("version", Item::Long(i64::try_from(version).unwrap_or(i64::MAX))),
        ]),
    })
}, failure: Reply::Bool(false));

handler!(kv_flush_all, |args| {
    parsed(args.none())?;
    store()?.flush_all()?;
    Ok(Reply::Bool(true))
}, failure: Reply::Bool(false));

/// PHP memory one key of `ephpm_kv_scan`'s result takes besides its bytes
/// (its array, the three keys and values, its slot in the list: about
/// 530 bytes measured, rounded up).
const SCAN_ENTRY_BYTES: u64 = 600;

// `ephpm_kv_scan`: whole stripes from stripe `$cursor` on, until at
// least `$count` matching keys are collected; the keys are copied into
// Rust memory under each stripe's lock (by `Store::scan_stripe`), and the
// PHP array is built only after every lock is released.
handler!(kv_scan, |args| {
    let (cursor, pattern, count) = parsed(args.long_string_long((0, b"*", 100)))?;
    if cursor < 0 {
        return Err(Failure::ValueError(1, "must be greater than or equal to 0".into()));
    }
    if count < 1 {
        return Err(Failure::ValueError(3, "must be greater than 0".into()));
    }
    let glob = Glob::new(pattern).map_err(|_| {
        Failure::ValueError(2, format!("must be at most {MAX_PATTERN_LEN} bytes long"))
    })?;
    let store = store()?;
    let stripes = store.geometry().stripes as u64;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut stripe = cursor as u64;
    let mut keys = Vec::new();
    let mut key_bytes: u64 = 0;
    while stripe < stripes && keys.len() < count {
        store.scan_stripe(stripe as usize, |e| {
            if glob.matches(&e.key) {
                key_bytes += e.key.len() as u64;
                keys.push(Item::Map(vec![
                    ("key", Item::Bytes(e.key.clone())),
                    ("size", Item::Long(i64::try_from(e.value_len).unwrap_or(i64::MAX))),
                    ("ttl", Item::Long(e.ttl.as_millis_code())),
                ]));
            }
        })?;
        stripe += 1;
    }
    // A page that cannot fit in what memory_limit leaves is refused before
    // PHP allocates any of it: a warning, not a fatal error halfway.
    let need = keys.len() as u64 * SCAN_ENTRY_BYTES + key_bytes;
    if let Some(room) = short_of_memory(need) {
        return Err(Failure::Warned(format!(
            "a page of {} keys needs about {} KiB of PHP memory, more than memory_limit \
             leaves ({} KiB): ask for fewer keys (a smaller $count or a narrower $match; a stripe is listed whole)",
            keys.len(),
            need.div_ceil(1024),
            room / 1024
        )));
    }
    let next = if stripe >= stripes { 0 } else { stripe };
    Ok(Reply::Array(vec![
        ("cursor", Item::Long(next as i64)),
        ("keys", Item::List(keys)),
    ]))
}, failure: Reply::Bool(false));

// `ephpm_kv_stripes`: each stripe's own figures, from `Store::stats`.
handler!(kv_stripes, |args| {
    parsed(args.none())?;
    let stats = store()?.stats()?;
    let long = |n: u64| Item::Long(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(Reply::List(
        stats
            .stripes
            .iter()
            .map(|s| {
                Item::Map(vec![
                    ("entries", long(s.entries)),
                    ("bytes", long(s.bytes_used)),
                    ("free", long(s.bytes_free)),
                ])
            })
            .collect(),
    ))
}, failure: Reply::Bool(false));

/// The store for phpinfo(): the one this request uses if it has one, else
/// the existing segment, never a new one (`php -i` or `php-fpm -i` run as
/// root must not create a root-owned segment that the pool cannot open).
fn store_for_info() -> Result<StoreRef, String> {
    if let Some(Ok(store)) = CURRENT.with(|c| c.borrow().clone()) {
        return Ok(StoreRef::Shared(store));
    }
    let config = configured_store()?;
    match Store::attach(&config.dir, &config.name) {
        Ok(store) => Ok(StoreRef::Owned(Box::new(store))),
        Err(StoreError::NotFound { path }) => Err(format!(
            "{} is not created yet (the first PHP request using the store creates it)",
            path.display()
        )),
        Err(e) => Err(format!("store {:?} is unavailable: {e}", config.name)),
    }
}

enum StoreRef {
    Shared(&'static Store),
    Owned(Box<Store>),
}

impl std::ops::Deref for StoreRef {
    type Target = Store;
    fn deref(&self) -> &Store {
        match self {
            StoreRef::Shared(s) => s,
            StoreRef::Owned(s) => s,
        }
    }
}

/// Figures shared by `ephpm_kv_stats()` and phpinfo().
fn stats_rows(store: Result<StoreRef, String>) -> Vec<(&'static str, StatValue)> {
    use StatValue::{Int, Signed, Text};
    let mut rows = vec![("version", Text(VERSION.into()))];
    let store = match store {
        Ok(store) => store,
        Err(message) => {
            rows.push(("available", StatValue::Bool(false)));
            rows.push(("error", Text(message)));
            return rows;
        }
    };
    rows.push(("available", StatValue::Bool(true)));
    rows.push(("path", Text(store.path().display().to_string())));
    let g = store.geometry();
    rows.push(("size", Int(g.total_size)));
    rows.push(("stripes", Int(g.stripes as u64)));
    rows.push(("max_key_size", Int(g.max_key_len as u64)));
    rows.push(("max_value_size", Int(g.max_value_len as u64)));
    rows.push(("eviction", Text(store.policy().to_string())));
    // This pool's compression of its writes (its settings, or the store's).
    let c = store.compression();
    rows.push(("compression", Text(c.codec.to_string())));
    rows.push(("compression_level", Signed(c.level.into())));
    rows.push(("compression_min_size", Int(c.min_size as u64)));
    // (`stats` adds this process's own reads in first.)
    match store.stats() {
        Ok(s) => rows.extend([
            ("entries", Int(s.entries)),
            ("bytes_used", Int(s.bytes_used)),
            ("bytes_free", Int(s.bytes_free)),
            ("hits", Int(s.hits)),
            ("misses", Int(s.misses)),
            ("expirations", Int(s.expirations)),
            ("evictions", Int(s.evictions)),
            ("recoveries", Int(s.recoveries)),
            ("compressed_entries", Int(s.compressed_entries)),
            ("compressed_raw_bytes", Int(s.compressed_raw_bytes)),
            ("compressed_stored_bytes", Int(s.compressed_stored_bytes)),
        ]),
        Err(e) => rows.push(("error", Text(e.to_string()))),
    }
    let watches = store.watch_stats();
    rows.extend([
        ("watch_slots", Int(watches.slots as u64)),
        ("watched_keys", Int(watches.in_use as u64)),
        ("waited_keys", Int(watches.waiting as u64)),
    ]);
    rows
}

enum StatValue {
    Int(u64),
    Signed(i64),
    Text(String),
    Bool(bool),
}

impl StatValue {
    fn display(&self) -> String {
        match self {
            StatValue::Int(n) => n.to_string(),
            StatValue::Signed(n) => n.to_string(),
            StatValue::Text(t) => t.clone(),
            StatValue::Bool(b) => if *b { "yes" } else { "no" }.into(),
        }
    }
}

// `ephpm_kv_stats()` works without a store too: it then says why.
handler!(kv_stats, |args| {
    parsed(args.none())?;
    let items = stats_rows(store().map(StoreRef::Shared))
        .into_iter()
        .map(|(k, v)| {
            let item = match v {
                StatValue::Int(n) => Item::Long(i64::try_from(n).unwrap_or(i64::MAX)),
                StatValue::Signed(n) => Item::Long(n),
                StatValue::Text(t) => Item::Text(t),
                StatValue::Bool(b) => Item::Bool(b),
            };
            (k, item)
        })
        .collect();
    Ok(Reply::Array(items))
}, failure: Reply::Array(Vec::new()));

unsafe extern "C" fn minit(_type: c_int, module_number: c_int) -> c_int {
    let defaults: Vec<(&'static str, &'static str, bool)> = settings::ALL
        .iter()
        .map(|s| (s.name, s.default, s.runtime))
        .collect();
    zend::register_ini(&defaults, module_number);
    if !zend::register_session_module::<session::Handler>(c"ephpm") {
        zend::warn_at_startup("ephpm_kv: cannot register the session save handler \"ephpm\"");
    }
    // Check php.ini now so a bad value is reported at startup; the segment
    // itself is opened by the first request of each worker.
    let session_settings = settings::session_lock_wait(|s| zend::ini_value(s.name)).map(drop);
    for problem in [current_settings().map(drop), session_settings] {
        if let Err(message) = problem {
            zend::warn_at_startup(&format!("ephpm_kv: {message}"));
        }
    }
    0
}

unsafe extern "C" fn rinit(_type: c_int, _module_number: c_int) -> c_int {
    CURRENT.with(|current| current.borrow_mut().take());
    THIS_REQUEST.set(None);
    0
}

/// After every module's request shutdown (ext/session's, which writes the
/// session through the store, comes after ours): the session's end, then
/// this process's hit and miss counts go into each segment it uses, so
/// that the figures are exact at request boundaries. Nothing of PHP's is
/// touched (no ini, no allocation, no output), and a store is never opened here.
unsafe extern "C" fn post_deactivate() -> ext_php_rs::ffi::zend_result {
    let _ = catch_unwind(session::end_of_request);
    let _ = catch_unwind(flush_stats);
    0
}

/// Adds this process's counts into every store it opened.
fn flush_stats() {
    let opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    for (_, store) in opened.iter() {
        store.flush_stats();
    }
}

/// phpinfo()'s rows.
fn minfo() -> Vec<(String, String)> {
    stats_rows(store_for_info())
        .iter()
        .map(|(k, v)| (k.to_string(), v.display()))
        .collect()
}

const KEY: (&std::ffi::CStr, u32, Option<&std::ffi::CStr>) = (c"key", MAY_BE_STRING, None);
const VALUE_ARG: (&std::ffi::CStr, u32, Option<&std::ffi::CStr>) = (c"value", MAY_BE_STRING, None);
const TTL_OPT: (&std::ffi::CStr, u32, Option<&std::ffi::CStr>) = (c"ttl", MAY_BE_LONG, Some(c"0"));

fn signatures() -> Vec<Signature> {
    let sig = |name, handler, returns, required, params| Signature {
        name,
        handler,
        returns,
        required,
        params,
    };
    let int_or_false = MAY_BE_LONG | MAY_BE_FALSE;
    vec![
        sig(
            c"ephpm_kv_get",
            zend::read_handler::<kv_get>,
            MAY_BE_STRING | MAY_BE_NULL,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_set",
            zend::handler::<kv_set>,
            MAY_BE_BOOL,
            2,
            &[KEY, VALUE_ARG, TTL_OPT],
        ),
        sig(
            c"ephpm_kv_setnx",
            zend::handler::<kv_setnx>,
            MAY_BE_BOOL,
            2,
            &[KEY, VALUE_ARG, TTL_OPT],
        ),
        sig(
            c"ephpm_kv_del",
            zend::handler::<kv_del>,
            MAY_BE_LONG,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_del_if",
            zend::handler::<kv_del_if>,
            MAY_BE_BOOL,
            2,
            &[KEY, VALUE_ARG],
        ),
        sig(
            c"ephpm_kv_expire_if",
            zend::handler::<kv_expire_if>,
            MAY_BE_BOOL,
            3,
            &[KEY, VALUE_ARG, (c"ttl", MAY_BE_LONG, None)],
        ),
        sig(
            c"ephpm_kv_exists",
            zend::test_handler::<kv_exists>,
            MAY_BE_BOOL,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_incr",
            zend::handler::<kv_incr>,
            int_or_false,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_decr",
            zend::handler::<kv_decr>,
            int_or_false,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_incr_by",
            zend::handler::<kv_incr_by>,
            int_or_false,
            2,
            &[KEY, (c"delta", MAY_BE_LONG, None)],
        ),
        sig(
            c"ephpm_kv_expire",
            zend::handler::<kv_expire>,
            MAY_BE_BOOL,
            2,
            &[KEY, (c"ttl", MAY_BE_LONG, None)],
        ),
        sig(
            c"ephpm_kv_ttl",
            zend::handler::<kv_ttl>,
            MAY_BE_LONG,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_pttl",
            zend::handler::<kv_pttl>,
            MAY_BE_LONG,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_wait",
            zend::handler::<kv_wait>,
            MAY_BE_ARRAY | MAY_BE_FALSE,
            3,
            &[
                KEY,
                (c"last_version", MAY_BE_LONG, None),
                (c"timeout_ms", MAY_BE_LONG, None),
            ],
        ),
        sig(
            c"ephpm_kv_flush_all",
            zend::handler::<kv_flush_all>,
            MAY_BE_BOOL,
            0,
            &[],
        ),
        sig(
            c"ephpm_kv_scan",
            zend::handler::<kv_scan>,
            MAY_BE_ARRAY | MAY_BE_FALSE,
            0,
            &[
                (c"cursor", MAY_BE_LONG, Some(c"0")),
                (c"match", MAY_BE_STRING, Some(c"'*'")),
                (c"count", MAY_BE_LONG, Some(c"100")),
            ],
        ),
        sig(
            c"ephpm_kv_stripes",
            zend::handler::<kv_stripes>,
            MAY_BE_ARRAY | MAY_BE_FALSE,
            0,
            &[],
        ),
        sig(
            c"ephpm_kv_stats",
            zend::handler::<kv_stats>,
            MAY_BE_ARRAY,
            0,
            &[],
        ),
    ]
}

/// The entry point PHP looks up when it loads `ephpm_kv.so`.
#[no_mangle]
pub extern "C" fn get_module() -> *mut zend_module_entry {
    let version =
        std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes())
            .expect("one NUL at the end");
    zend::module_entry(
        c"ephpm_kv",
        version,
        &signatures(),
        &[c"session"],
        zend::Hooks {
            minit,
            rinit,
            post_deactivate,
            minfo,
        },
    )
}
