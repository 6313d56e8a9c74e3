//! The `apcu_*` functions, as APCu 5.1.22 documents them and behaves
//! (`php_apc.stub.php`); where this store differs, `README.md` says so.
//!
//! Each body parses its arguments (the [`Args`] of the call), does its
//! store work with no engine call in between, then builds the return
//! value; every call into the engine (warnings, exceptions, allocations of
//! PHP values, serializers, callbacks) returns [`Bailout`] if the engine
//! bailed out, and the body returns it at once, dropping what it holds.

use crate::settings::Serializer;
use crate::store::{self, Current};
use crate::value::{self, EncodeError};
use crate::zend::{self, engine, Args, Bailout};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::array::Iter;
use ext_php_rs::types::{ArrayKey, ZendHashTable, ZendStr, Zval};
use shm_store::{LockOutcome, ReadStart, Store, StoreError, Ttl, Update, UpdateTtl, READ_ATTEMPTS};
use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Duration;

type Done = Result<(), Bailout>;

thread_local! {
    /// A reused buffer for reads and encodes (taken while in use).
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` with this thread's buffer (taken out of the thread-local
/// while it runs, so no borrow is held across engine calls).
fn with_buffer<R>(work: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let r = work(&mut buf);
    // Keep a modest buffer only: a huge value's is freed.
    if buf.capacity() <= 1 << 20 {
        BUFFER.with(|b| *b.borrow_mut() = buf);
    }
    r
}

/// The store of this call; `None` when the API is disabled (the caller
/// returns its failure value quietly) or unavailable (warned here).
#[inline]
pub(crate) fn store() -> Result<Option<(&'static Store, Serializer)>, Bailout> {
    match store::current() {
        Ok(Current::Store(s, ser)) => Ok(Some((s, ser))),
        Ok(Current::Disabled) => Ok(None),
        Err(e) => unavailable(&e),
    }
}

/// The warning that there is no store.
#[cold]
#[inline(never)]
fn unavailable(e: &str) -> Result<Option<(&'static Store, Serializer)>, Bailout> {
    zend::warn(e)?;
    Ok(None)
}

/// A key argument's bytes: a string as it is, an int or float as PHP
/// writes it (APCu converts them too); `None` for other types.
fn key_of(z: &Zval) -> Option<Cow<'_, [u8]>> {
    let z = z.dereference();
    // The type tests, not `get_type`: each is one compare of the type byte.
    if let Some(s) = z.zend_str() {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    if z.is_long() || z.is_double() {
        return z.coerce_to_string().map(|s| Cow::Owned(s.into_bytes()));
    }
    None
}

fn ttl_of(seconds: i64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds as u64))
}

/// An int argument (coerced as PHP's weak mode does for numbers and bools).
pub(crate) fn long_arg(z: Option<&Zval>, default: i64) -> Option<i64> {
    match z {
        None => Some(default),
        Some(z) => {
            let z = z.dereference();
            if let Some(n) = z.long() {
                return Some(n);
            }
            match z.get_type() {
                DataType::Long => z.long(),
                DataType::Double => z.double().filter(|f| f.is_finite()).map(|f| f as i64),
                DataType::True => Some(1),
                DataType::False | DataType::Null => Some(0),
                DataType::String => z.str().and_then(|s| s.trim().parse().ok()),
                _ => None,
            }
        }
    }
}

/// Parses an int argument: `TypeError` and `None` if it is not one.
#[inline(always)]
fn long_param(args: &Args<'_>, i: usize, name: &str, default: i64) -> Result<Option<i64>, Bailout> {
    match long_arg(args.get(i), default) {
        Some(n) => Ok(Some(n)),
        None => wrong_type(args, i, name, "int").map(|()| None),
    }
}

/// The `TypeError` of argument `i` (`name`), which is not of type `expected`.
#[cold]
#[inline(never)]
fn wrong_type(args: &Args<'_>, i: usize, name: &str, expected: &str) -> Done {
    let given = args.get(i).map_or("null".into(), type_name);
    zend::throw(
        true,
        &format!(
            "{}(): Argument #{} (${name}) must be of type {expected}, {given} given",
            current_function(),
            i + 1
        ),
    )
}

pub(crate) fn type_name(z: &Zval) -> String {
    match z.dereference().get_type() {
        DataType::Long => "int".into(),
        DataType::Double => "float".into(),
        DataType::String => "string".into(),
        DataType::True | DataType::False | DataType::Bool => "bool".into(),
        DataType::Null | DataType::Undef => "null".into(),
        DataType::Array => "array".into(),
        DataType::Object(_) => z
            .dereference()
            .object()
            .and_then(|o| o.get_class_name().ok())
            .unwrap_or_else(|| "object".into()),
        _ => "resource".into(),
    }
}

/// The name of the running function, for messages.
fn current_function() -> String {
    zend::active_function_name()
}

/// A string key argument (`string $key`): `TypeError` and `None` otherwise.
#[inline]
fn string_param<'a>(
    args: &Args<'a>,
    i: usize,
    name: &str,
) -> Result<Option<Cow<'a, [u8]>>, Bailout> {
    match args.get(i).and_then(key_of) {
        Some(k) => Ok(Some(k)),
        None => wrong_type(args, i, name, "string").map(|()| None),
    }
}

fn set_long(rv: &mut Zval, n: i64) -> Done {
    put_long(rv, n);
    Ok(())
}

fn set_bool(rv: &mut Zval, b: bool) -> Done {
    put_bool(rv, b);
    Ok(())
}

/// Whether `z` holds nothing to release: null, as the engine makes a
/// return slot before it calls a function (anything else takes
/// ext-php-rs's setter, which releases it).
#[inline]
fn holds_nothing(z: &Zval) -> bool {
    z.is_null()
}

/// `rv.set_long(n)`, written in place when `rv` holds nothing to release
/// (ext-php-rs's setter is an out-of-line call that checks for that first).
#[inline]
fn put_long(rv: &mut Zval, n: i64) {
    if holds_nothing(rv) {
        rv.value.lval = n;
        rv.u1.type_info = ext_php_rs::ffi::IS_LONG;
    } else {
        rv.set_long(n);
    }
}

/// `rv.set_bool(b)`, in place as [`put_long`].
#[inline]
fn put_bool(rv: &mut Zval, b: bool) {
    if holds_nothing(rv) {
        rv.u1.type_info = if b {
            ext_php_rs::ffi::IS_TRUE
        } else {
            ext_php_rs::ffi::IS_FALSE
        };
    } else {
        rv.set_bool(b);
    }
}

fn set_zval(rv: &mut Zval, z: Zval) -> Done {
    *rv = z;
    Ok(())
}

fn new_array(rv: &mut Zval) -> Done {
    engine(|| rv.set_hashtable(ZendHashTable::new()))
}

/// Inserts `value` at `key` (bytes) in `rv`'s array.
fn insert_bytes(rv: &mut Zval, key: &[u8], value: Zval) -> Done {
    engine(|| {
        if let Some(ht) = rv.array_mut() {
            let _ = match std::str::from_utf8(key) {
                Ok(k) => ht.insert(ArrayKey::Str(k), value),
                Err(_) => {
                    let k = ZendStr::new(key, false);
                    ht.insert(ArrayKey::ZendString(&k), value)
                }
            };
        }
    })
}

/// Appends `value` to `rv`'s array.
fn push(rv: &mut Zval, value: Zval) -> Done {
    engine(|| {
        if let Some(ht) = rv.array_mut() {
            let _ = ht.push(value);
        }
    })
}

pub(crate) fn long_zval(n: i64) -> Zval {
    let mut z = Zval::new();
    z.set_long(n);
    z
}

fn bool_zval(b: bool) -> Zval {
    let mut z = Zval::new();
    z.set_bool(b);
    z
}

/// The message of a store error, for a warning.
fn store_warning(key: &[u8], e: &StoreError) -> String {
    let shown: String = String::from_utf8_lossy(key).chars().take(200).collect();
    format!("key {shown:?}: {e}")
}

/// Whether a failed read is worth a warning: a key too long for the
/// store cannot have been stored (its write warned), so it reads as a miss.
fn warned(e: &StoreError) -> bool {
    !matches!(e, StoreError::EmptyKey | StoreError::KeyTooLong { .. })
}

/// Store keys starting with [`store::RESERVED_PREFIX`] are this module's
/// own (`apcu_entry`'s locks, the empty key): never a user's key.
fn reserved(key: &[u8]) -> bool {
    key.starts_with(store::RESERVED_PREFIX)
}

/// The store key of a user's key: itself, but for the empty key (which
/// APCu takes and the store does not), kept under a reserved name.
fn skey(key: &[u8]) -> &[u8] {
    if key.is_empty() {
        store::EMPTY_KEY
    } else {
        key
    }
}

/// The user's key of a store key (see [`skey`]).
fn user_key(key: &[u8]) -> &[u8] {
    if key == store::EMPTY_KEY {
        b""
    } else {
        key
    }
}

// ------------------------------------------------------------ functions

pub(crate) fn enabled(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 0)? {
        return Ok(());
    }
    set_bool(rv, store::enabled())
}

/// Stores one value; `Ok(false)` if it was not stored (warned if need be).
fn store_one(
    store: &Store,
    serializer: Serializer,
    key: &[u8],
    value: &Zval,
    ttl: i64,
    exclusive: bool,
) -> Result<bool, Bailout> {
    if reserved(key) {
        return Ok(false);
    }
    // A short string is encoded on the stack: no buffer taken, no match
    // over every type.
    if let Some(s) = value.dereference().zend_str() {
        let mut small = [0u8; SMALL];
        if let Some(len) = value::encode_string_into(s.as_bytes(), &mut small) {
            let encoded = &small[..len];
            let result = if exclusive {
                store.setnx(skey(key), encoded, ttl_of(ttl))
            } else {
                store.set(skey(key), encoded, ttl_of(ttl)).map(|()| true)
            };
            return match result {
                Ok(stored) => Ok(stored),
                Err(e) => {
                    zend::warn(&store_warning(key, &e))?;
                    Ok(false)
                }
            };
        }
    }
    let outcome = with_buffer(|buf| {
        match value::encode(value, serializer, buf)? {
            Ok(()) => {}
            Err(EncodeError::Serializer) => return Ok(Err(None)),
            Err(EncodeError::Resource) => return Ok(Err(Some(None))),
        }
        let result = if exclusive {
            store.setnx(skey(key), buf, ttl_of(ttl))
        } else {
            store.set(skey(key), buf, ttl_of(ttl)).map(|()| true)
        };
        Ok(result.map_err(|e| Some(Some(e))))
    })?;
    match outcome {
        Ok(stored) => Ok(stored),
        // The serializer's own exception or warning says why.
        Err(None) => Ok(false),
        Err(Some(None)) => {
            zend::warn("Cannot store resources in apcu cache")?;
            Ok(false)
        }
        Err(Some(Some(e))) => {
            zend::warn(&store_warning(key, &e))?;
            Ok(false)
        }
    }
}

fn store_helper(args: &Args<'_>, rv: &mut Zval, exclusive: bool) -> Done {
    if !args.counted(1, 3)? {
        return Ok(());
    }
    let Some(key) = args.get(0) else {
        return Ok(());
    };
    let Some(ttl) = long_param(args, 2, "ttl", 0)? else {
        return Ok(());
    };
    let key = key.dereference();
    if let Some(values) = key.array() {
        // Returns the keys that failed, each => -1.
        new_array(rv)?;
        let found = store()?;
        let mut entries = Iter::new(values);
        while let Some((k, v)) = entries.next_zval() {
            let owned;
            let bytes: &[u8] = match k.long() {
                Some(n) => {
                    owned = n.to_string();
                    owned.as_bytes()
                }
                None => k.zend_str().map_or(&[][..], |s| s.as_bytes()),
            };
            let stored = match found {
                Some((s, ser)) => store_one(s, ser, bytes, v, ttl, exclusive)?,
                None => false,
            };
            if zend::exception_pending() {
                return Ok(());
            }
            if !stored {
                match k.long() {
                    Some(n) => engine(|| {
                        if let Some(ht) = rv.array_mut() {
                            let _ = ht.insert_at_index(n, long_zval(-1));
                        }
                    })?,
                    None => insert_bytes(rv, bytes, long_zval(-1))?,
                }
            }
        }
        return Ok(());
    }
    let Some(key) = key_of(key).filter(|_| key.is_string()) else {
        zend::warn(
            "apc_store expects key parameter to be a string or an array of key/value pairs.",
        )?;
        return set_bool(rv, false);
    };
    let Some(value) = args.get(1) else {
        return set_bool(rv, false);
    };
    let stored = match store()? {
        Some((s, ser)) => store_one(s, ser, &key, value, ttl, exclusive)?,
        None => false,
    };
    if zend::exception_pending() {
        return Ok(());
    }
    set_bool(rv, stored)
}

pub(crate) fn store_fn(args: &Args<'_>, rv: &mut Zval) -> Done {
    store_helper(args, rv, false)
}

pub(crate) fn add(args: &Args<'_>, rv: &mut Zval) -> Done {
    store_helper(args, rv, true)
}

/// Values up to this long are read into a buffer on the stack.
const SMALL: usize = zend::PENDING_MAX;

/// Where [`read`] put the value.
enum Read {
    Missing,
    /// The first this many bytes of the small buffer.
    Small(usize),
    /// The large buffer.
    Large,
}

/// Reads the value of store key `key` lock-free (one copy, into `small`
/// or else `large`), as [`Store::get_into`] does but with no allocation
/// for a small value.
#[inline(always)]
fn read(
    store: &Store,
    key: &[u8],
    small: &mut [u8; SMALL],
    large: &mut Vec<u8>,
) -> Result<Read, StoreError> {
    let mut attempt = 0;
    loop {
        match store.read_begin(key, attempt)? {
            ReadStart::Missing => return Ok(Read::Missing),
            ReadStart::Copied(value) => {
                *large = value;
                return Ok(Read::Large);
            }
            // From READ_ATTEMPTS on the store reads under the lock; should
            // it not, this does (so the retries always end).
            ReadStart::Ready(_) if attempt > READ_ATTEMPTS => {
                return Ok(match store.get_into(key, large)? {
                    true => Read::Large,
                    false => Read::Missing,
                });
            }
            ReadStart::Ready(ticket) => {
                let len = ticket.len();
                if len <= SMALL {
                    if store.read_finish(&ticket, &mut small[..len]) {
                        return Ok(Read::Small(len));
                    }
                } else {
                    large.resize(len, 0);
                    if store.read_finish(&ticket, large) {
                        return Ok(Read::Large);
                    }
                }
                attempt += 1;
            }
        }
    }
}

/// The user's key of a store entry a listing shows, or `None` for this
/// module's own entries (`apcu_entry`'s locks).
pub(crate) fn listed_key(store_key: &[u8]) -> Option<&[u8]> {
    (!reserved(store_key) || store_key == store::EMPTY_KEY).then(|| user_key(store_key))
}

/// Deletes a user's key; whether it was there.
pub(crate) fn delete_key(store: &Store, key: &[u8]) -> bool {
    !reserved(key) && store.del(skey(key)).unwrap_or(false)
}

/// Reads one key: `Ok(None)` on a miss (or a value that does not decode,
/// which reads as a miss; the serializer warns of it).
fn fetch_one(store: &Store, key: &[u8]) -> Result<Option<Zval>, Bailout> {
    let mut z = Zval::new();
    Ok(fetch_into(store, key, &mut z)?.then_some(z))
}

/// Reads one key into `z`: `Ok(false)` on a miss (`z` unchanged).
#[inline]
pub(crate) fn fetch_into(store: &Store, key: &[u8], z: &mut Zval) -> Result<bool, Bailout> {
    if reserved(key) {
        return Ok(false);
    }
    let mut small = [0u8; SMALL];
    let mut large = Vec::new();
    let bytes = match read(store, skey(key), &mut small, &mut large) {
        Ok(Read::Missing) => return Ok(false),
        Ok(Read::Small(len)) => &small[..len],
        Ok(Read::Large) => &large[..],
        Err(e) => return read_failed(key, &e).map(|()| false),
    };
    Ok(value::decode(bytes, z)?.is_ok())
}

/// Reads one key for `apcu_fetch`'s return value: a small string is left
/// in `pending` for the entry point to return (see [`zend::entry_pending`]),
/// anything else decoded into `rv`. `Ok(false)` on a miss.
#[inline]
fn fetch_pending(
    store: &Store,
    key: &[u8],
    rv: &mut Zval,
    pending: &mut zend::Pending,
) -> Result<bool, Bailout> {
    if reserved(key) {
        return Ok(false);
    }
    let mut large = Vec::new();
    let small = pending.buffer();
    let bytes = match read(store, skey(key), small, &mut large) {
        Ok(Read::Missing) => return Ok(false),
        Ok(Read::Small(len)) if value::is_string(&small[..len]) => {
            pending.return_string(1, len);
            return Ok(true);
        }
        Ok(Read::Small(len)) => {
            // An int as `decode` reads it (its canonical decimal text; no
            // tag byte is a digit or '-'), without the call.
            if let Some(n) = value::parse_decimal(&small[..len]) {
                put_long(rv, n);
                return Ok(true);
            }
            &small[..len]
        }
        Ok(Read::Large) => &large[..],
        Err(e) => return read_failed(key, &e).map(|()| false),
    };
    Ok(value::decode(bytes, rv)?.is_ok())
}

/// The warning of a failed read (a key the store cannot take is a miss).
#[cold]
fn read_failed(key: &[u8], e: &StoreError) -> Done {
    if warned(e) {
        zend::warn(&store_warning(key, e))?;
    }
    Ok(())
}

pub(crate) fn fetch(args: &Args<'_>, rv: &mut Zval, pending: &mut zend::Pending) -> Done {
    if !args.counted(1, 2)? {
        return Ok(());
    }
    let Some(key) = args.get(0) else {
        return Ok(());
    };
    let key = key.dereference();
    let success = if let Some(keys) = key.array() {
        new_array(rv)?;
        let found = store()?;
        for k in keys.values() {
            let k = k.dereference();
            let Some(bytes) = k.zend_str().map(|s| s.as_bytes()) else {
                zend::warn("apc_fetch() expects a string or array of strings.")?;
                continue;
            };
            if let Some((s, _)) = found {
                if let Some(v) = fetch_one(s, bytes)? {
                    insert_bytes(rv, bytes, v)?;
                }
            }
        }
        true
    } else {
        let Some(bytes) = key_of(key) else {
            zend::warn("apc_fetch() expects a string or array of strings.")?;
            args.assign_ref_bool(1, false)?;
            return set_bool(rv, false);
        };
        let found = match store()? {
            Some((s, _)) => fetch_pending(s, &bytes, rv, pending)?,
            None => false,
        };
        if !found {
            put_bool(rv, false);
        }
        found
    };
    args.assign_ref_bool(1, success)
}

pub(crate) fn exists(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(1, 1)? {
        return Ok(());
    }
    let Some(key) = args.get(0) else {
        return Ok(());
    };
    let key = key.dereference();
    let found = store()?;
    let exists = |k: &[u8]| match found {
        Some((s, _)) if !reserved(k) => s.exists(skey(k)).unwrap_or(false),
        _ => false,
    };
    if let Some(keys) = key.array() {
        new_array(rv)?;
        for k in keys.values() {
            if let Some(bytes) = k.dereference().zend_str().map(|s| s.as_bytes()) {
                if exists(bytes) {
                    insert_bytes(rv, bytes, bool_zval(true))?;
                }
            }
        }
        return Ok(());
    }
    match key_of(key).filter(|_| key.is_string()) {
        Some(bytes) => set_bool(rv, exists(&bytes)),
        None => {
            zend::warn("apc_exists() expects a string or array of strings.")?;
            set_bool(rv, false)
        }
    }
}

pub(crate) fn delete(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(1, 1)? {
        return Ok(());
    }
    let Some(key) = args.get(0) else {
        return Ok(());
    };
    let key = key.dereference();
    let found = store()?;
    let del = |k: &[u8]| match found {
        Some((s, _)) if !reserved(k) => s.del(skey(k)).unwrap_or(false),
        _ => false,
    };
    if let Some(keys) = key.array() {
        // Returns the keys that were not deleted.
        new_array(rv)?;
        for k in keys.values() {
            let k = k.dereference();
            let deleted = match k.zend_str() {
                Some(s) => del(s.as_bytes()),
                None => {
                    zend::warn(
                        "apc_delete() expects a string, array of strings, or APCIterator instance",
                    )?;
                    false
                }
            };
            if !deleted {
                push(rv, k.shallow_clone())?;
            }
        }
        return Ok(());
    }
    if key.is_string() {
        let bytes = key.zend_str().map(|s| s.as_bytes()).unwrap_or_default();
        return set_bool(rv, del(bytes));
    }
    if key.is_object() {
        return crate::iterator::delete(key, rv);
    }
    zend::warn("apc_delete() expects a string, array of strings, or APCIterator instance")?;
    set_bool(rv, false)
}

fn step(args: &Args<'_>, rv: &mut Zval, sign: i64) -> Done {
    if !args.counted(1, 4)? {
        return Ok(());
    }
    let Some(key) = string_param(args, 0, "key")? else {
        return Ok(());
    };
    let Some(step) = long_param(args, 1, "step", 1)? else {
        return Ok(());
    };
    let Some(ttl) = long_param(args, 3, "ttl", 0)? else {
        return Ok(());
    };
    let delta = if sign < 0 { step.wrapping_neg() } else { step };
    let result = match store()? {
        Some((s, _)) if !reserved(&key) => {
            // A missing key starts at 0 with this TTL (APCu adds it first).
            if ttl > 0 {
                let _ = s.setnx(skey(&key), b"0", ttl_of(ttl));
            }
            match s.incr_by(skey(&key), delta) {
                Ok(n) => Some(n),
                // APCu's atomic add wraps around.
                Err(StoreError::Overflow) => wrapping_add(s, skey(&key), delta),
                Err(_) => None,
            }
        }
        _ => None,
    };
    args.assign_ref_bool(2, result.is_some())?;
    match result {
        Some(n) => set_long(rv, n),
        None => set_bool(rv, false),
    }
}

/// Adds `delta` to the int at `key`, wrapping around (under the key's lock).
fn wrapping_add(store: &Store, key: &[u8], delta: i64) -> Option<i64> {
    store
        .update(key, |current| {
            let Some(n) = current.and_then(int_value) else {
                return (Update::Keep, None);
            };
            let n = n.wrapping_add(delta);
            let mut text = Vec::with_capacity(20);
            value::write_decimal(n, &mut text);
            (
                Update::Set {
                    value: text,
                    ttl: UpdateTtl::Keep,
                },
                Some(n),
            )
        })
        .ok()
        .flatten()
        .flatten()
}

/// The int a stored value holds (canonical decimal text), if it is one.
fn int_value(v: &[u8]) -> Option<i64> {
    value::parse_decimal(v)
}

pub(crate) fn inc(args: &Args<'_>, rv: &mut Zval) -> Done {
    step(args, rv, 1)
}

pub(crate) fn dec(args: &Args<'_>, rv: &mut Zval) -> Done {
    step(args, rv, -1)
}

pub(crate) fn cas(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(3, 3)? {
        return Ok(());
    }
    let Some(key) = string_param(args, 0, "key")? else {
        return Ok(());
    };
    let Some(old) = long_param(args, 1, "old", 0)? else {
        return Ok(());
    };
    let Some(new) = long_param(args, 2, "new", 0)? else {
        return Ok(());
    };
    let swapped = match store()? {
        Some((s, _)) if !reserved(&key) => s
            .update(skey(&key), |current| {
                // Only an int equal to `old`.
                let matches = current.and_then(int_value) == Some(old);
                if !matches {
                    return (Update::Keep, false);
                }
                let mut text = Vec::with_capacity(20);
                value::write_decimal(new, &mut text);
                (
                    Update::Set {
                        value: text,
                        ttl: UpdateTtl::Keep,
                    },
                    true,
                )
            })
            .ok()
            .flatten()
            .unwrap_or(false),
        _ => false,
    };
    set_bool(rv, swapped)
}

/// How long `apcu_entry` waits for another process's callback before it
/// computes the value itself (a live owner keeps the lock that long at most).
const ENTRY_WAIT: Duration = Duration::from_secs(60);

pub(crate) fn entry(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(2, 3)? {
        return Ok(());
    }
    let Some(key) = string_param(args, 0, "key")? else {
        return Ok(());
    };
    let Some(callback) = args.get(1) else {
        return Ok(());
    };
    if !callback.is_callable() {
        let given = type_name(callback);
        return zend::throw(
            true,
            &format!(
                "apcu_entry(): Argument #2 ($callback) must be a valid callback, {given} given"
            ),
        );
    }
    let Some(ttl) = long_param(args, 2, "ttl", 0)? else {
        return Ok(());
    };
    let Some((store, serializer)) = store()? else {
        // Disabled: APCu returns null without calling the callback.
        return Ok(());
    };
    if reserved(&key) {
        return Ok(());
    }
    if let Some(v) = fetch_one(store, &key)? {
        return set_zval(rv, v);
    }
    let lock_key = store::entry_lock_key(skey(&key));
    // A call inside this request's own callback for the same key (APCu's
    // lock is re-entrant): computed again, without waiting on ourselves.
    let locked = if store::holds_lock(&lock_key) {
        false
    } else {
        match store.lock(&lock_key, ENTRY_WAIT, None) {
            Ok(LockOutcome::Acquired(held)) => {
                store::park_lock(held);
                true
            }
            // Still held after the wait: computed here too.
            Ok(LockOutcome::TimedOut { holder_pid }) => {
                let holder =
                    holder_pid.map_or_else(|| "another process".into(), |p| format!("process {p}"));
                zend::warn(&format!(
                    "{holder} has been computing key {:?} for {} s: computed here too",
                    String::from_utf8_lossy(&key),
                    ENTRY_WAIT.as_secs()
                ))?;
                false
            }
            Err(e) => {
                zend::warn(&store_warning(&key, &e))?;
                false
            }
        }
    };
    let result = entry_locked(store, serializer, &key, callback, ttl, rv);
    if locked {
        if let Some(held) = store::unpark_lock(&lock_key) {
            let _ = held.release();
        }
    }
    result
}

/// `apcu_entry` with the lock held (or not to be had): a value stored
/// meanwhile by the process that held the lock, else the callback's.
fn entry_locked(
    store: &'static Store,
    serializer: Serializer,
    key: &[u8],
    callback: &Zval,
    ttl: i64,
    rv: &mut Zval,
) -> Done {
    if let Some(v) = fetch_one(store, key)? {
        return set_zval(rv, v);
    }
    let mut key_zval = Zval::new();
    engine(|| key_zval.set_zend_string(ZendStr::new(key, false)))?;
    let Some(value) = zend::call(callback, &[&key_zval])? else {
        // It threw: the exception propagates, nothing is stored.
        return Ok(());
    };
    drop(key_zval);
    store_one(store, serializer, key, &value, ttl, false)?;
    set_zval(rv, value)
}

pub(crate) fn clear_cache(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 0)? {
        return Ok(());
    }
    if let Some((s, _)) = store()? {
        if let Err(e) = s.flush_all() {
            zend::warn(&e.to_string())?;
            return set_bool(rv, false);
        }
    }
    set_bool(rv, true)
}

fn bool_param(args: &Args<'_>, i: usize) -> bool {
    args.get(i)
        .is_some_and(|z| z.dereference().coerce_to_bool())
}

fn double_zval(n: u64) -> Zval {
    let mut z = Zval::new();
    z.set_double(n as f64);
    z
}

pub(crate) fn text_zval(t: &[u8]) -> Result<Zval, Bailout> {
    let mut z = Zval::new();
    engine(|| z.set_zend_string(ZendStr::new(t, false)))?;
    Ok(z)
}

/// An array of `(key, value)` pairs.
pub(crate) fn assoc(pairs: Vec<(&'static str, Zval)>) -> Result<Zval, Bailout> {
    let mut z = Zval::new();
    engine(|| {
        let mut ht = ZendHashTable::with_capacity(pairs.len() as u32);
        for (k, v) in pairs {
            let _ = ht.insert(k, v);
        }
        z.set_hashtable(ht);
    })?;
    Ok(z)
}

fn secs(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}

/// A key's remaining TTL in whole seconds (rounded up), 0 without expiry.
pub(crate) fn ttl_seconds(ttl: Ttl) -> i64 {
    match ttl {
        Ttl::Remaining(ms) => i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX),
        _ => 0,
    }
}

pub(crate) fn cache_info(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 1)? {
        return Ok(());
    }
    let limited = bool_param(args, 0);
    let Some((s, _)) = store()? else {
        zend::warn(
            "No APC info available.  Perhaps APC is not enabled? Check apc.enabled in your ini file",
        )?;
        return set_bool(rv, false);
    };
    let stats = match s.stats() {
        Ok(stats) => stats,
        Err(e) => {
            zend::warn(&e.to_string())?;
            return set_bool(rv, false);
        }
    };
    let g = s.geometry();
    let mut entries = Vec::new();
    let mut entry_locks = 0i64;
    if !limited {
        let _ = s.scan(|e| match listed_key(&e.key) {
            Some(key) => entries.push((key.to_vec(), e.stored_len, e.ttl)),
            None => entry_locks += 1,
        });
    }
    let t = &stats.total;
    let mut pairs = vec![
        (
            "num_slots",
            long_zval(i64::from(g.slots_per_stripe) * i64::from(g.stripes)),
        ),
        (
            "ttl",
            long_zval(zend::ini_value("apc.ttl").trim().parse().unwrap_or(0)),
        ),
        ("num_hits", double_zval(t.hits)),
        ("num_misses", double_zval(t.misses)),
        ("num_inserts", double_zval(0)),
        (
            "num_entries",
            long_zval(i64::try_from(t.entries).unwrap_or(i64::MAX)),
        ),
        ("expunges", double_zval(t.evictions)),
        ("start_time", long_zval(secs(s.created_unix_ms()))),
        ("mem_size", double_zval(t.bytes_used)),
        ("memory_type", text_zval(b"mmap")?),
    ];
    if !limited {
        let mut list = Zval::new();
        engine(|| list.set_hashtable(ZendHashTable::with_capacity(entries.len() as u32)))?;
        for (key, size, ttl) in entries {
            let link = assoc(vec![
                ("info", text_zval(&key)?),
                ("ttl", long_zval(ttl_seconds(ttl))),
                ("num_hits", double_zval(0)),
                ("mtime", long_zval(0)),
                ("creation_time", long_zval(0)),
                ("deletion_time", long_zval(0)),
                ("access_time", long_zval(0)),
                ("ref_count", long_zval(0)),
                ("mem_size", long_zval(size as i64)),
            ])?;
            push(&mut list, link)?;
        }
        pairs.push(("cache_list", list));
        pairs.push(("deleted_list", assoc(Vec::new())?));
        pairs.push(("slot_distribution", assoc(Vec::new())?));
        // This module's own: `apcu_entry` callbacks running now (their locks).
        pairs.push(("entry_locks", long_zval(entry_locks)));
    }
    let info = assoc(pairs)?;
    set_zval(rv, info)
}

pub(crate) fn sma_info(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 1)? {
        return Ok(());
    }
    let limited = bool_param(args, 0);
    let Some((s, _)) = store()? else {
        zend::warn("No APC SMA info available.  Perhaps APC is disabled via apc.enabled?")?;
        return set_bool(rv, false);
    };
    let free = s.stats().map(|st| st.total.bytes_free).unwrap_or(0);
    let mut pairs = vec![
        ("num_seg", long_zval(1)),
        ("seg_size", double_zval(s.geometry().total_size)),
        ("avail_mem", double_zval(free)),
    ];
    if !limited {
        // One list for the one segment; its free space as one block.
        let block = assoc(vec![
            ("size", long_zval(free as i64)),
            ("offset", long_zval(0)),
        ])?;
        let mut seg = Zval::new();
        engine(|| seg.set_hashtable(ZendHashTable::new()))?;
        push(&mut seg, block)?;
        let mut lists = Zval::new();
        engine(|| lists.set_hashtable(ZendHashTable::new()))?;
        push(&mut lists, seg)?;
        pairs.push(("block_lists", lists));
    }
    let info = assoc(pairs)?;
    set_zval(rv, info)
}

pub(crate) fn key_info(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(1, 1)? {
        return Ok(());
    }
    let Some(key) = string_param(args, 0, "key")? else {
        return Ok(());
    };
    let ttl = match store()? {
        Some((s, _)) if !reserved(&key) => s.ttl(skey(&key)).unwrap_or(Ttl::Missing),
        _ => Ttl::Missing,
    };
    if matches!(ttl, Ttl::Missing) {
        rv.set_null();
        return Ok(());
    }
    let info = assoc(vec![
        ("hits", long_zval(0)),
        ("access_time", long_zval(0)),
        ("mtime", long_zval(0)),
        ("creation_time", long_zval(0)),
        ("deletion_time", long_zval(0)),
        ("ttl", long_zval(ttl_seconds(ttl))),
        ("refs", long_zval(0)),
    ])?;
    set_zval(rv, info)
}
