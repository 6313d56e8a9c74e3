//! `apcu_inc`, `apcu_dec`, `apcu_cas` and `apcu_entry`: updates of one key under its lock;
//! touches the store's key locks, value encoding and the engine (`apcu_entry`'s callback).

use super::read::fetch_one;
use super::write::store_one;
use super::*;

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
