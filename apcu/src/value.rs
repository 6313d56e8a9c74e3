//! How a PHP value is stored: the bytes of a store entry.
//!
//! - An int is its canonical decimal text (`42`, `-7`): the store's own
//!   integer kind, so `apcu_inc`/`apcu_dec` are the store's atomic
//!   `incr_by`, and a read is one parse.
//! - Every other value starts with a tag byte below 0x20, which no integer
//!   text starts with: a string is the tag and its bytes (one copy each
//!   way); a float its 8 bytes (the same bits back); `false`, `true` and
//!   `null` the tag alone.
//! - An array of scalars and such arrays (no references, no objects,
//!   nesting up to [`MAX_DEPTH`]) is a compact format of its own: the
//!   count, then each key (int or bytes) and value, in order. Reading it
//!   builds the array directly, with no parser or serializer involved;
//!   writing it is one walk. That is what caches hold most (config,
//!   routes, lists of ids), and it beats `serialize`'s text both ways.
//! - Anything else (objects, references, resources, deeper arrays) goes
//!   through the serializer `apc.serializer` names (PHP's `serialize` by
//!   default, or igbinary), behind its own tag.

use crate::settings::Serializer;
use crate::zend::{self, Bailout};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::array::Iter;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};

const T_STRING: u8 = 0x01;
const T_DOUBLE: u8 = 0x02;
const T_FALSE: u8 = 0x03;
const T_TRUE: u8 = 0x04;
const T_NULL: u8 = 0x05;
/// An int inside the compact array format (8 bytes, little-endian).
const T_LONG: u8 = 0x06;
const T_ARRAY: u8 = 0x07;
const T_PHP: u8 = 0x08;
const T_IGBINARY: u8 = 0x09;

/// Compact array keys.
const K_LONG: u8 = 0;
const K_STRING: u8 = 1;

/// Arrays nested deeper than this go to the serializer.
pub(crate) const MAX_DEPTH: usize = 32;

/// Why a value was not encoded.
#[derive(Debug)]
pub(crate) enum EncodeError {
    /// The serializer threw (the exception is pending) or failed.
    Serializer,
    /// A resource (in an array): APCu refuses them.
    Resource,
}

/// Encodes `value` into `out` (cleared first).
pub(crate) fn encode(
    value: &Zval,
    serializer: Serializer,
    out: &mut Vec<u8>,
) -> Result<Result<(), EncodeError>, Bailout> {
    out.clear();
    let value = value.dereference();
    if value.is_string() {
        return Ok(match compact_scalar(value, out, false) {
            Some(()) => Ok(()),
            None => return serialize(value, serializer, out),
        });
    }
    match value.get_type() {
        DataType::Long => {
            let n = value.long().unwrap_or(0);
            write_decimal(n, out);
        }
        DataType::Array => {
            let Some(ht) = value.array() else {
                return Ok(Err(EncodeError::Serializer));
            };
            out.push(T_ARRAY);
            if compact_array(ht, 0, out).is_none() {
                return serialize(value, serializer, out);
            }
        }
        DataType::String
        | DataType::Double
        | DataType::True
        | DataType::False
        | DataType::Bool
        | DataType::Null
        | DataType::Undef => {
            if compact_scalar(value, out, false).is_none() {
                return serialize(value, serializer, out);
            }
        }
        _ => return serialize(value, serializer, out),
    }
    Ok(Ok(()))
}

/// Encodes the string `s` into `buf` as [`encode`] would (its tag, then its
/// bytes), if it fits: the length of the encoding.
#[inline]
pub(crate) fn encode_string_into(s: &[u8], buf: &mut [u8]) -> Option<usize> {
    let len = s.len().checked_add(1)?;
    let (tag, rest) = buf.get_mut(..len)?.split_first_mut()?;
    *tag = T_STRING;
    rest.copy_from_slice(s);
    Some(len)
}

/// An int's canonical decimal text, appended to `out`.
pub(crate) fn write_decimal(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A scalar: its tag and bytes (a string's length first when `sized`,
/// inside an array); `None` for anything else.
fn compact_scalar(value: &Zval, out: &mut Vec<u8>, sized: bool) -> Option<()> {
    // Strings and ints first, by their one-compare type tests (`get_type`
    // maps every type byte to a `DataType`); a reference is none of them
    // (`zend_str` and `long` would look through it: the serializer keeps it).
    if let Some(s) = value.is_string().then(|| value.zend_str()).flatten() {
        let s = s.as_bytes();
        out.push(T_STRING);
        if sized {
            out.extend_from_slice(&u32::try_from(s.len()).ok()?.to_le_bytes());
        }
        out.extend_from_slice(s);
        return Some(());
    }
    if let Some(n) = value.is_long().then(|| value.long()).flatten() {
        out.push(T_LONG);
        out.extend_from_slice(&n.to_le_bytes());
        return Some(());
    }
    match value.get_type() {
        DataType::String => {
            let s = value.zend_str()?.as_bytes();
            out.push(T_STRING);
            if sized {
                out.extend_from_slice(&u32::try_from(s.len()).ok()?.to_le_bytes());
            }
            out.extend_from_slice(s);
        }
        DataType::Long => {
            out.push(T_LONG);
            out.extend_from_slice(&value.long()?.to_le_bytes());
        }
        DataType::Double => {
            out.push(T_DOUBLE);
            out.extend_from_slice(&value.double()?.to_bits().to_le_bytes());
        }
        DataType::True => out.push(T_TRUE),
        DataType::False => out.push(T_FALSE),
        DataType::Bool => out.push(if value.bool()? { T_TRUE } else { T_FALSE }),
        DataType::Null | DataType::Undef => out.push(T_NULL),
        _ => return None,
    }
    Some(())
}

/// An array's count and entries (after its tag); `None` if it holds
/// anything the format does not take (the caller then serializes).
fn compact_array(ht: &ZendHashTable, depth: usize, out: &mut Vec<u8>) -> Option<()> {
    if depth >= MAX_DEPTH {
        return None;
    }
    out.extend_from_slice(&u32::try_from(ht.len()).ok()?.to_le_bytes());
    let mut entries = Iter::new(ht);
    let mut written = 0usize;
    while let Some((key, value)) = entries.next_zval() {
        if let Some(n) = key.long() {
            out.push(K_LONG);
            out.extend_from_slice(&n.to_le_bytes());
        } else {
            let k = key.zend_str()?.as_bytes();
            out.push(K_STRING);
            out.extend_from_slice(&u32::try_from(k.len()).ok()?.to_le_bytes());
            out.extend_from_slice(k);
        }
        // A reference (`&$x` inside) or an object: the serializer keeps them.
        if value.is_array() {
            out.push(T_ARRAY);
            compact_array(value.array()?, depth + 1, out)?;
        } else {
            compact_scalar(value, out, true)?;
        }
        written += 1;
    }
    (written == ht.len()).then_some(())
}

fn serialize(
    value: &Zval,
    serializer: Serializer,
    out: &mut Vec<u8>,
) -> Result<Result<(), EncodeError>, Bailout> {
    out.clear();
    if has_resource(value, 0) {
        return Ok(Err(EncodeError::Resource));
    }
    let (tag, function) = match serializer {
        Serializer::Php => (T_PHP, "serialize"),
        Serializer::Igbinary => (T_IGBINARY, "igbinary_serialize"),
    };
    let Some(text) = zend::call_function(function, &[value])? else {
        return Ok(Err(EncodeError::Serializer));
    };
    let Some(bytes) = text.zend_str() else {
        return Ok(Err(EncodeError::Serializer));
    };
    out.push(tag);
    out.extend_from_slice(bytes.as_bytes());
    drop(text);
    Ok(Ok(()))
}

/// Whether `value` is a resource or an array holding one (arrays deeper
/// than the serializer goes are not looked into).
fn has_resource(value: &Zval, depth: usize) -> bool {
    let value = value.dereference();
    if value.is_resource() {
        return true;
    }
    match value.array() {
        Some(ht) if depth < 256 => ht.values().any(|v| has_resource(v, depth + 1)),
        _ => false,
    }
}

/// Why stored bytes did not decode.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Not bytes this module wrote (another program's, or damaged).
    Malformed,
    /// The serializer failed (a warning or exception of its own).
    Serializer,
}

/// Whether `bytes` is a PHP string of this module's encoding (a tag byte,
/// then the string's bytes from 1 on), which [`decode`] would copy as it is.
#[inline]
pub(crate) fn is_string(bytes: &[u8]) -> bool {
    bytes.first() == Some(&T_STRING)
}

/// Sets `z` to the PHP value of stored bytes.
#[inline]
pub(crate) fn decode(bytes: &[u8], z: &mut Zval) -> Result<Result<(), DecodeError>, Bailout> {
    let Some(&tag) = bytes.first() else {
        // An empty value: another client's empty string.
        zend::engine(|| z.set_zend_string(ZendStr::new(bytes, false)))?;
        return Ok(Ok(()));
    };
    match tag {
        T_STRING => zend::engine(|| z.set_zend_string(ZendStr::new(&bytes[1..], false)))?,
        b'-' | b'0'..=b'9' => match parse_decimal(bytes) {
            Some(n) => z.set_long(n),
            // Another client's text that looks numeric: a string.
            None => zend::engine(|| z.set_zend_string(ZendStr::new(bytes, false)))?,
        },
        T_DOUBLE => match bytes.get(1..9).and_then(|b| b.try_into().ok()) {
            Some(b) => z.set_double(f64::from_bits(u64::from_le_bytes(b))),
            None => return Ok(Err(DecodeError::Malformed)),
        },
        T_FALSE => z.set_bool(false),
        T_TRUE => z.set_bool(true),
        T_NULL => z.set_null(),
        T_ARRAY => {
            let mut rest = &bytes[1..];
            return zend::engine(|| match read_array(&mut rest, 0) {
                Some(ht) if rest.is_empty() => {
                    z.set_hashtable(ht);
                    Ok(())
                }
                _ => Err(DecodeError::Malformed),
            });
        }
        T_PHP | T_IGBINARY => {
            let function = if tag == T_PHP {
                "unserialize"
            } else {
                "igbinary_unserialize"
            };
            let mut text = Zval::new();
            zend::engine(|| text.set_zend_string(ZendStr::new(&bytes[1..], false)))?;
            let value = zend::call_function(function, &[&text])?;
            drop(text);
            return Ok(match value {
                Some(value) => {
                    *z = value;
                    Ok(())
                }
                None => Err(DecodeError::Serializer),
            });
        }
        // Another client's text (`ephpm-shm set`, the RESP server): a string.
        _ => zend::engine(|| z.set_zend_string(ZendStr::new(bytes, false)))?,
    }
    Ok(Ok(()))
}

/// An int's canonical decimal text (as [`write_decimal`] writes it and the
/// store's `incr_by` keeps it), or `None`.
#[inline]
pub(crate) fn parse_decimal(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    if digits.len() <= 18 {
        // At most 10^18 - 1: no overflow to check for.
        let mut n: i64 = 0;
        for &d in digits {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            n = n * 10 + i64::from(d);
        }
        return Some(if negative { -n } else { n });
    }
    // 19 digits: accumulated negatively, so that i64::MIN fits.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_u32(rest: &mut &[u8]) -> Option<usize> {
    Some(u32::from_le_bytes(take(rest, 4)?.try_into().ok()?) as usize)
}

fn take_u64(rest: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(take(rest, 8)?.try_into().ok()?))
}

/// Builds an array from the compact format (inside [`zend::engine`]: it allocates).
fn read_array(rest: &mut &[u8], depth: usize) -> Option<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let count = take_u32(rest)?;
    // Each entry takes at least 3 bytes: no count can make us reserve
    // more than the bytes at hand justify.
    if count > rest.len() / 3 + 1 {
        return None;
    }
    let mut ht = ZendHashTable::with_capacity(u32::try_from(count).ok()?);
    // One zval for every value: each is built in it and moved into the
    // array in place (no copies of a zval through the stack).
    let mut value = Zval::new();
    for _ in 0..count {
        match *take(rest, 1)?.first()? {
            K_LONG => {
                let key = take_u64(rest)? as i64;
                read_value_into(rest, depth, &mut value)?;
                zend::move_into_index(&mut ht, key, &mut value);
            }
            K_STRING => {
                let len = take_u32(rest)?;
                let key = take(rest, len)?;
                read_value_into(rest, depth, &mut value)?;
                // (Never a numeric string: those are int keys in PHP.)
                zend::move_into_key(&mut ht, key, &mut value);
            }
            _ => return None,
        }
    }
    Some(ht)
}

/// Reads one value of the compact format into `z` (which holds nothing
/// that needs releasing: a fresh or moved-out zval).
#[inline(always)]
fn read_value_into(rest: &mut &[u8], depth: usize, z: &mut Zval) -> Option<()> {
    let tag = *take(rest, 1)?.first()?;
    match tag {
        T_STRING => {
            let len = take_u32(rest)?;
            z.set_zend_string(ZendStr::new(take(rest, len)?, false));
        }
        T_LONG => z.set_long(take_u64(rest)? as i64),
        T_DOUBLE => z.set_double(f64::from_bits(take_u64(rest)?)),
        T_FALSE => z.set_bool(false),
        T_TRUE => z.set_bool(true),
        T_NULL => z.set_null(),
        T_ARRAY => z.set_hashtable(read_array(rest, depth + 1)?),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip() {
        for n in [
            0,
            1,
            -1,
            42,
            -7,
            1234567890,
            i64::MAX,
            i64::MIN,
            i64::MAX - 1,
            i64::MIN + 1,
            // The last lengths without and the first with overflow checks.
            999_999_999_999_999_999,
            -999_999_999_999_999_999,
            1_000_000_000_000_000_000,
            -1_000_000_000_000_000_000,
        ] {
            let mut text = Vec::new();
            write_decimal(n, &mut text);
            assert_eq!(text, n.to_string().into_bytes());
            assert_eq!(parse_decimal(&text), Some(n), "{n}");
        }
        for bad in [
            &b""[..],
            b"-",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"12345678901234567890",
            b"12345678901234567a",
            b"1/",
            b"1:",
            b"-/",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
