//! The `ephpm_kv` PHP extension: ePHPm's `ephpm_kv_*` functions over a
//! `shm-store` segment shared by every worker of a php-fpm pool, every
//! Apache mod_php child and php-cli. A thin binding: argument handling and
//! errors here, all store logic in `shm-store`. The contract is
//! `shared/API.md`; the signatures are in `ephpm_kv.stub.php`.

mod session;
mod settings;
mod zend;

use ext_php_rs::ffi::{zend_execute_data, zend_module_entry, zval};
use settings::Resolved;
use shm_store::{Store, StoreConfig, StoreError, Ttl};
use std::cell::RefCell;
use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;
use zend::{
    Args, Return, Signature, MAY_BE_ARRAY, MAY_BE_BOOL, MAY_BE_FALSE, MAY_BE_LONG, MAY_BE_NULL,
    MAY_BE_STRING,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every store this process opened, by configuration. Stores stay mapped
/// until the process exits; nothing is ever unlinked.
static OPENED: Mutex<Vec<(StoreConfig, &'static Store)>> = Mutex::new(Vec::new());

thread_local! {
    /// The store of the current request (settings can differ per php-fpm
    /// pool or Apache vhost, but not within a request), or why there is none.
    static CURRENT: RefCell<Option<Result<&'static Store, String>>> = const { RefCell::new(None) };
    /// Values are copied here under the stripe lock, and into a PHP string
    /// only after it is released: a PHP allocation can end the request with
    /// a fatal error (memory_limit), which must never happen while a lock is held.
    static VALUE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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
    let store: &'static Store = Box::leak(Box::new(store));
    opened.push((config, store));
    Ok(store)
}

/// The store of this request, opened on first use in the worker (never in
/// php-fpm's master, which may run as root).
fn store() -> Result<&'static Store, String> {
    CURRENT.with(|current| {
        current
            .borrow_mut()
            .get_or_insert_with(|| configured_store().and_then(open_store))
            .clone()
    })
}

/// How a failed call ends, per `API.md`.
enum Failure {
    /// An exception (ValueError, TypeError) is pending: return nothing.
    Thrown,
    /// An expected outcome (non-integer `incr`): the failure value, no warning.
    Quiet,
    /// A run-time failure: the failure value and one warning.
    Warned,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        zend::warn(&message);
        Failure::Warned
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmptyKey => {
                zend::throw_value_error(1, "must not be empty");
                Failure::Thrown
            }
            StoreError::KeyTooLong { max, .. } => {
                zend::throw_value_error(1, &format!("must be at most {max} bytes long"));
                Failure::Thrown
            }
            StoreError::NotAnInteger | StoreError::Overflow => Failure::Quiet,
            other => Failure::from(other.to_string()),
        }
    }
}

/// Runs a handler body; a failure sets `failure_value` (unless an exception
/// is pending). Panics become a warning, never an unwind into PHP.
fn run(
    ex: *mut zend_execute_data,
    rv: *mut zval,
    failure_value: impl FnOnce(Return<'_>),
    body: impl FnOnce(&Args<'_>, Return<'_>) -> Result<(), Failure>,
) {
    // SAFETY: the engine calls handlers with valid execute data and return slot.
    let (args, ret) = unsafe { (Args::new(ex), Return::new(rv)) };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&args, ret)));
    // SAFETY: as above; `ret` was consumed only on success.
    let ret = unsafe { Return::new(rv) };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(Failure::Thrown)) => {}
        Ok(Err(Failure::Quiet | Failure::Warned)) => failure_value(ret),
        Err(_) => {
            zend::warn("internal error in ephpm_kv (please report it)");
            failure_value(ret);
        }
    }
}

/// The parsed key argument: an empty key is a bad argument (`ValueError`)
/// even when no store is available; the length limit is the store's.
fn key(parsed: Option<&[u8]>) -> Result<&[u8], Failure> {
    match parsed {
        None => Err(Failure::Thrown),
        Some([]) => Err(StoreError::EmptyKey.into()),
        Some(key) => Ok(key),
    }
}

fn ttl_from_seconds(seconds: i64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds as u64))
}

macro_rules! handler {
    ($name:ident, |$args:ident, $ret:ident| $body:block, failure: |$fret:ident| $fail:expr) => {
        unsafe extern "C" fn $name(ex: *mut zend_execute_data, rv: *mut zval) {
            run(ex, rv, |$fret| $fail, |$args, $ret| $body);
        }
    };
}

handler!(kv_get, |args, ret| {
    let key = key(args.string())?;
    let store = store()?;
    let found = VALUE.with(|buf| {
        let mut buf = buf.borrow_mut();
        store.get_with(key, |value| {
            buf.clear();
            buf.extend_from_slice(value);
        })
    })?;
    match found {
        Some(()) => VALUE.with(|buf| {
            let mut buf = buf.borrow_mut();
            ret.bytes(&buf);
            if buf.capacity() > 256 << 10 {
                *buf = Vec::new();
            }
        }),
        None => ret.null(),
    }
    Ok(())
}, failure: |ret| ret.null());

handler!(kv_set, |args, ret| {
    let (key, value, ttl) = args.string_string_long(0).ok_or(Failure::Thrown)?;
    let (key, store) = (self::key(Some(key))?, store()?);
    store.set(key, value, ttl_from_seconds(ttl))?;
    ret.bool(true);
    Ok(())
}, failure: |ret| ret.bool(false));

handler!(kv_setnx, |args, ret| {
    let (key, value, ttl) = args.string_string_long(0).ok_or(Failure::Thrown)?;
    let (key, store) = (self::key(Some(key))?, store()?);
    ret.bool(store.setnx(key, value, ttl_from_seconds(ttl))?);
    Ok(())
}, failure: |ret| ret.bool(false));

handler!(kv_del, |args, ret| {
    let key = key(args.string())?;
    let store = store()?;
    ret.long(store.del(key)? as i64);
    Ok(())
}, failure: |ret| ret.long(0));

handler!(kv_del_if, |args, ret| {
    let (key, expected) = args.string_string().ok_or(Failure::Thrown)?;
    let (key, store) = (self::key(Some(key))?, store()?);
    ret.bool(store.del_if(key, expected)?);
    Ok(())
}, failure: |ret| ret.bool(false));

handler!(kv_exists, |args, ret| {
    let key = key(args.string())?;
    let store = store()?;
    ret.bool(store.exists(key)?);
    Ok(())
}, failure: |ret| ret.bool(false));

fn incr(args: &Args<'_>, ret: Return<'_>, delta: Option<i64>) -> Result<(), Failure> {
    let (key, delta) = match delta {
        Some(d) => (args.string(), d),
        None => args
            .string_long(None)
            .ok_or(Failure::Thrown)
            .map(|(k, d)| (Some(k), d))?,
    };
    let key = self::key(key)?;
    ret.long(store()?.incr_by(key, delta)?);
    Ok(())
}

handler!(kv_incr, |args, ret| { incr(args, ret, Some(1)) }, failure: |ret| ret.bool(false));
handler!(kv_decr, |args, ret| { incr(args, ret, Some(-1)) }, failure: |ret| ret.bool(false));
handler!(kv_incr_by, |args, ret| { incr(args, ret, None) }, failure: |ret| ret.bool(false));

handler!(kv_expire, |args, ret| {
    let (key, ttl) = args.string_long(None).ok_or(Failure::Thrown)?;
    let (key, store) = (self::key(Some(key))?, store()?);
    let applied = match ttl_from_seconds(ttl) {
        Some(ttl) => store.expire(key, ttl)?,
        // ePHPm: a TTL of 0 or less changes nothing (the key is still checked).
        None => store.expire(key, Duration::ZERO)?,
    };
    ret.bool(applied);
    Ok(())
}, failure: |ret| ret.bool(false));

handler!(kv_ttl, |args, ret| {
    let key = key(args.string())?;
    let store = store()?;
    ret.long(store.ttl(key)?.as_seconds_code());
    Ok(())
}, failure: |ret| ret.long(Ttl::Missing.as_seconds_code()));

handler!(kv_pttl, |args, ret| {
    let key = key(args.string())?;
    let store = store()?;
    ret.long(store.ttl(key)?.as_millis_code());
    Ok(())
}, failure: |ret| ret.long(Ttl::Missing.as_millis_code()));

handler!(kv_flush_all, |args, ret| {
    args.none().ok_or(Failure::Thrown)?;
    store()?.flush_all()?;
    ret.bool(true);
    Ok(())
}, failure: |ret| ret.bool(false));

/// The store for phpinfo(): the one this request uses if it has one, else
/// the existing segment, never a new one (`php -i` or `php-fpm -i` run as
/// root must not create a root-owned segment that the pool cannot open).
fn store_for_info() -> Result<StoreRef, String> {
    if let Some(Ok(store)) = CURRENT.with(|c| c.borrow().clone()) {
        return Ok(StoreRef::Shared(store));
    }
    let config = configured_store()?;
    match Store::attach(&config.dir, &config.name) {
        Ok(store) => Ok(StoreRef::Owned(Box::new(
            store.with_policy(config.eviction),
        ))),
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
    use StatValue::{Int, Text};
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
        ]),
        Err(e) => rows.push(("error", Text(e.to_string()))),
    }
    rows
}

enum StatValue {
    Int(u64),
    Text(String),
    Bool(bool),
}

impl StatValue {
    fn display(&self) -> String {
        match self {
            StatValue::Int(n) => n.to_string(),
            StatValue::Text(t) => t.clone(),
            StatValue::Bool(b) => if *b { "yes" } else { "no" }.into(),
        }
    }
}

/// `ephpm_kv_stats()` works without a store too: it then says why.
unsafe extern "C" fn kv_stats(ex: *mut zend_execute_data, rv: *mut zval) {
    // SAFETY: the engine passes valid pointers to handlers.
    let (args, ret) = unsafe { (Args::new(ex), Return::new(rv)) };
    if args.none().is_none() {
        return;
    }
    let rows = catch_unwind(|| stats_rows(store().map(StoreRef::Shared))).unwrap_or_default();
    ret.array(
        rows.into_iter()
            .map(|(k, v)| {
                let z = match v {
                    StatValue::Int(n) => zend::zval_long(i64::try_from(n).unwrap_or(i64::MAX)),
                    StatValue::Text(t) => zend::zval_string(&t),
                    StatValue::Bool(b) => zend::zval_bool(b),
                };
                (k, z)
            })
            .collect(),
    );
}

unsafe extern "C" fn minit(_type: c_int, module_number: c_int) -> c_int {
    let defaults: Vec<(&'static str, &'static str, bool)> = settings::ALL
        .iter()
        .map(|s| (s.name, s.default, s.runtime))
        .collect();
    zend::register_ini(&defaults, module_number);
    if !zend::register_session_module::<session::Handler>(c"ephpm") {
        zend::warn("ephpm_kv: cannot register the session save handler \"ephpm\"");
    }
    // Check php.ini now so a bad value is reported at startup; the segment
    // itself is opened by the first request of each worker.
    let session_settings = settings::session_lock_wait(|s| zend::ini_value(s.name)).map(drop);
    for problem in [current_settings().map(drop), session_settings] {
        if let Err(message) = problem {
            zend::warn(&format!("ephpm_kv: {message}"));
        }
    }
    0
}

unsafe extern "C" fn rinit(_type: c_int, _module_number: c_int) -> c_int {
    CURRENT.with(|current| current.borrow_mut().take());
    0
}

unsafe extern "C" fn post_deactivate() -> ext_php_rs::ffi::zend_result {
    let _ = catch_unwind(session::end_of_request);
    0
}

unsafe extern "C" fn minfo(module: *mut zend_module_entry) {
    let rows = catch_unwind(|| stats_rows(store_for_info())).unwrap_or_default();
    let rows: Vec<(String, String)> = rows
        .iter()
        .map(|(k, v)| (k.to_string(), v.display()))
        .collect();
    zend::print_info(module, &rows);
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
            kv_get as zend::Handler,
            MAY_BE_STRING | MAY_BE_NULL,
            1,
            &[KEY],
        ),
        sig(
            c"ephpm_kv_set",
            kv_set,
            MAY_BE_BOOL,
            2,
            &[KEY, VALUE_ARG, TTL_OPT],
        ),
        sig(
            c"ephpm_kv_setnx",
            kv_setnx,
            MAY_BE_BOOL,
            2,
            &[KEY, VALUE_ARG, TTL_OPT],
        ),
        sig(c"ephpm_kv_del", kv_del, MAY_BE_LONG, 1, &[KEY]),
        sig(
            c"ephpm_kv_del_if",
            kv_del_if,
            MAY_BE_BOOL,
            2,
            &[KEY, VALUE_ARG],
        ),
        sig(c"ephpm_kv_exists", kv_exists, MAY_BE_BOOL, 1, &[KEY]),
        sig(c"ephpm_kv_incr", kv_incr, int_or_false, 1, &[KEY]),
        sig(c"ephpm_kv_decr", kv_decr, int_or_false, 1, &[KEY]),
        sig(
            c"ephpm_kv_incr_by",
            kv_incr_by,
            int_or_false,
            2,
            &[KEY, (c"delta", MAY_BE_LONG, None)],
        ),
        sig(
            c"ephpm_kv_expire",
            kv_expire,
            MAY_BE_BOOL,
            2,
            &[KEY, (c"ttl", MAY_BE_LONG, None)],
        ),
        sig(c"ephpm_kv_ttl", kv_ttl, MAY_BE_LONG, 1, &[KEY]),
        sig(c"ephpm_kv_pttl", kv_pttl, MAY_BE_LONG, 1, &[KEY]),
        sig(c"ephpm_kv_flush_all", kv_flush_all, MAY_BE_BOOL, 0, &[]),
        sig(c"ephpm_kv_stats", kv_stats, MAY_BE_ARRAY, 0, &[]),
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
