//! `apcu_fetch` (its pending one-copy path for small strings), `apcu_exists`, `apcu_delete`, and the
//! key reads and deletes the iterator shares; touches the store (lock-free reads) and value decoding.

use super::*;
use shm_store::{ReadTicket, SmallRead};

/// Values up to this long are read into a buffer on the stack.
pub(super) const SMALL: usize = zend::PENDING_MAX;

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
/// for a small value: [`Store::read_small_quick`], one look and one
/// validated copy, for a value that fits in `small`.
#[inline(always)]
fn read(
    store: &Store,
    key: &[u8],
    small: &mut [u8; SMALL],
    large: &mut Vec<u8>,
) -> Result<Read, StoreError> {
    let mut longer = None;
    match store.read_small_quick(key, small, &mut longer) {
        Some(Some(len)) => Ok(Read::Small(len)),
        Some(None) => Ok(Read::Missing),
        None => read_rest(store, key, longer, small, large),
    }
}

/// [`read`] once the store's first look found neither a small value nor a
/// miss: the rest of `read_small`, out of line.
#[cold]
#[inline(never)]
fn read_rest(
    store: &Store,
    key: &[u8],
    longer: Option<ReadTicket>,
    small: &mut [u8; SMALL],
    large: &mut Vec<u8>,
) -> Result<Read, StoreError> {
    match store.read_small_rest(key, longer)? {
        SmallRead::Missing => Ok(Read::Missing),
        SmallRead::Copied(len) => Ok(Read::Small(len)),
        SmallRead::Begun(start) => read_on(store, key, start, small, large),
    }
}

/// [`read`] of a value that did not fit in `small`, or needs another way,
/// from what `read_small` handed on (as after attempt 1 of `read_begin`).
#[inline(never)]
fn read_on(
    store: &Store,
    key: &[u8],
    mut start: ReadStart,
    small: &mut [u8; SMALL],
    large: &mut Vec<u8>,
) -> Result<Read, StoreError> {
    let mut attempt = 1;
    loop {
        match start {
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
            }
        }
        attempt += 1;
        start = store.read_begin(key, attempt)?;
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
pub(super) fn fetch_one(store: &Store, key: &[u8]) -> Result<Option<Zval>, Bailout> {
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
