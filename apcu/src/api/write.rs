//! `apcu_store` and `apcu_add`: encoding a value (or an array of them) and writing it to the store;
//! touches the store, the value encoder and the engine (warnings).

use super::read::SMALL;
use super::*;

/// Stores one value; `Ok(false)` if it was not stored (warned if need be).
pub(super) fn store_one(
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
