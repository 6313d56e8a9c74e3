//! The shared helpers of the `apcu_*` functions: the store of the call, argument parsing,
//! return-value writers, key mapping, warnings; re-exports the functions by their `api::` names.
//!
//! The `apcu_*` functions, as APCu 5.1.22 documents them and behaves
//! (`php_apc.stub.php`); where this store differs, `README.md` says so.
//!
//! Each body parses its arguments (the [`Args`] of the call), does its
//! store work with no engine call in between, then builds the return
//! value; every call into the engine (warnings, exceptions, allocations of
//! PHP values, serializers, callbacks) returns [`Bailout`] if the engine
//! bailed out, and the body returns it at once, dropping what it holds.

mod atomic;
mod info;
mod read;
mod write;

pub(crate) use atomic::{cas, dec, entry, inc};
pub(crate) use info::{cache_info, clear_cache, enabled, key_info, sma_info};
pub(crate) use read::{delete, delete_key, exists, fetch, fetch_into, listed_key};
pub(crate) use write::{add, store_fn};

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

pub(crate) fn text_zval(t: &[u8]) -> Result<Zval, Bailout> {
    let mut z = Zval::new();
    engine(|| z.set_zend_string(ZendStr::new(t, false)))?;
    Ok(z)
}

/// A key's remaining TTL in whole seconds (rounded up), 0 without expiry.
pub(crate) fn ttl_seconds(ttl: Ttl) -> i64 {
    match ttl {
        Ttl::Remaining(ms) => i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX),
        _ => 0,
    }
}
