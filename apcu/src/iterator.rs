//! `APCUIterator`: the entries of the store, filtered by a regular
//! expression or a list of keys, as arrays in APCu's format; and
//! `apcu_delete($iterator)`. Built with ext-php-rs's class macros.
//!
//! The iterator takes a snapshot of the matching keys (with their sizes and
//! TTLs) when it is first used and on `rewind()`; `current()` reads the
//! value at that moment (a key deleted since gives `value` null). Keys are
//! collected under each stripe's lock by `Store::scan`, and matched with
//! `preg_match` only after every lock is released.

use crate::store::{self, Current};
use crate::zend::{self, Bailout};
use ext_php_rs::exception::{PhpException, PhpResult};
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, ZendStr, Zval};
use ext_php_rs::zend::ce;
use shm_store::{Store, Ttl};
use std::collections::HashSet;

/// `APC_ITER_*` and `APC_LIST_*`, as APCu defines them.
pub(crate) const CONSTANTS: [(&str, i64); 15] = [
    ("APC_ITER_TYPE", ITER_TYPE),
    ("APC_ITER_KEY", ITER_KEY),
    ("APC_ITER_VALUE", ITER_VALUE),
    ("APC_ITER_NUM_HITS", ITER_NUM_HITS),
    ("APC_ITER_MTIME", ITER_MTIME),
    ("APC_ITER_CTIME", ITER_CTIME),
    ("APC_ITER_DTIME", ITER_DTIME),
    ("APC_ITER_ATIME", ITER_ATIME),
    ("APC_ITER_REFCOUNT", ITER_REFCOUNT),
    ("APC_ITER_MEM_SIZE", ITER_MEM_SIZE),
    ("APC_ITER_TTL", ITER_TTL),
    ("APC_ITER_NONE", 0),
    ("APC_ITER_ALL", ITER_ALL),
    ("APC_LIST_ACTIVE", LIST_ACTIVE),
    ("APC_LIST_DELETED", LIST_DELETED),
];

const ITER_TYPE: i64 = 1 << 0;
const ITER_KEY: i64 = 1 << 1;
const ITER_VALUE: i64 = 1 << 2;
const ITER_NUM_HITS: i64 = 1 << 3;
const ITER_MTIME: i64 = 1 << 4;
const ITER_CTIME: i64 = 1 << 5;
const ITER_DTIME: i64 = 1 << 6;
const ITER_ATIME: i64 = 1 << 7;
const ITER_REFCOUNT: i64 = 1 << 8;
const ITER_MEM_SIZE: i64 = 1 << 9;
const ITER_TTL: i64 = 1 << 10;
const ITER_ALL: i64 = 0xffff_ffff;
const LIST_ACTIVE: i64 = 1;
const LIST_DELETED: i64 = 2;

/// What the iterator matches.
#[derive(Debug, Default)]
enum Search {
    /// Every entry.
    #[default]
    All,
    /// Keys matching this regular expression (`preg_match`).
    Regex(Vec<u8>),
    /// These keys.
    Keys(HashSet<Vec<u8>>),
}

/// One entry of a snapshot.
#[derive(Debug)]
struct Item {
    key: Vec<u8>,
    size: usize,
    ttl: Ttl,
}

/// The `APCUIterator` class.
#[php_class]
#[php(name = "APCUIterator")]
#[php(implements(ce = ce::iterator, stub = "\\Iterator"))]
#[derive(Debug, Default)]
pub struct ApcuIterator {
    initialized: bool,
    search: Search,
    format: i64,
    /// `APC_LIST_DELETED`: this store keeps no deleted list, so it is empty.
    deleted_list: bool,
    snapshot: Option<Vec<Item>>,
    position: usize,
}

fn error(message: &str) -> PhpException {
    PhpException::new(message.into(), 0, ce::error())
}

/// Resumes a bailout inside a method (see [`zend::resume_in_method`]).
fn bailed<T>(result: Result<T, Bailout>) -> T {
    match result {
        Ok(value) => value,
        Err(bailout) => zend::resume_in_method(bailout),
    }
}

#[php_impl]
impl ApcuIterator {
    /// `new APCUIterator($search = null, $format = APC_ITER_ALL,
    /// $chunk_size = 0, $list = APC_LIST_ACTIVE)`.
    #[php(optional = search)]
    #[php(defaults(format = 0xffff_ffff_i64, chunk_size = 0, list = 1))]
    pub fn __construct(
        search: Option<&Zval>,
        format: i64,
        chunk_size: i64,
        list: i64,
    ) -> PhpResult<Self> {
        let mut iterator = ApcuIterator::default();
        if !store::enabled() {
            return Err(error("APC must be enabled to use APCUIterator"));
        }
        // APCu's own messages; the iterator stays uninitialized after them.
        let problem = if chunk_size < 0 {
            Some("APCUIterator chunk size must be 0 or greater")
        } else if !(0..=ITER_ALL).contains(&format) {
            Some("APCUIterator format is invalid")
        } else if list != LIST_ACTIVE && list != LIST_DELETED {
            Some("APCUIterator invalid list type")
        } else {
            None
        };
        if let Some(problem) = problem {
            bailed(zend::warn(problem));
            return Ok(iterator);
        }
        iterator.search = match search.map(Zval::dereference) {
            Some(z) if z.is_string() => match z.zend_str().map(ZendStr::as_bytes) {
                Some([]) | None => Search::All,
                Some(regex) => Search::Regex(regex.to_vec()),
            },
            Some(z) if z.is_array() => Search::Keys(
                z.array()
                    .map(|keys| {
                        keys.values()
                            .filter_map(|k| {
                                let k = k.dereference();
                                match k.zend_str() {
                                    Some(s) => Some(s.as_bytes().to_vec()),
                                    None => k.long().map(|n| n.to_string().into_bytes()),
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => Search::All,
        };
        iterator.format = format;
        iterator.deleted_list = list == LIST_DELETED;
        iterator.initialized = true;
        Ok(iterator)
    }

    /// Takes a new snapshot and goes back to its first entry.
    pub fn rewind(&mut self) -> PhpResult<()> {
        self.check()?;
        self.snapshot = None;
        self.position = 0;
        self.fill();
        Ok(())
    }

    /// The next entry.
    pub fn next(&mut self) -> PhpResult<()> {
        self.check()?;
        self.fill();
        self.position += 1;
        Ok(())
    }

    /// Whether there is an entry here.
    pub fn valid(&mut self) -> PhpResult<bool> {
        self.check()?;
        Ok(self.item().is_some())
    }

    /// The entry's key.
    pub fn key(&mut self) -> PhpResult<Zval> {
        self.check()?;
        let Some(item) = self.item() else {
            return Err(error("Cannot call key() on invalid iterator"));
        };
        let key = item.key.clone();
        bailed(text(&key)).ok_or_else(|| error("Cannot call key() on invalid iterator"))
    }

    /// The entry as an array of the fields `$format` asks for.
    pub fn current(&mut self) -> PhpResult<Zval> {
        self.check()?;
        let Some(item) = self.item() else {
            return Err(error("Cannot call current() on invalid iterator"));
        };
        let (key, size, ttl) = (item.key.clone(), item.size, item.ttl);
        bailed(entry_array(&key, size, ttl, self.format))
            .ok_or_else(|| error("Cannot call current() on invalid iterator"))
    }

    /// Hits of the matching entries (the store counts hits per store, not
    /// per entry: 0).
    pub fn get_total_hits(&mut self) -> PhpResult<i64> {
        self.check()?;
        Ok(0)
    }

    /// Bytes the matching entries take in the store.
    pub fn get_total_size(&mut self) -> PhpResult<i64> {
        self.check()?;
        self.fill();
        let total: usize = self.snapshot.iter().flatten().map(|i| i.size).sum();
        Ok(i64::try_from(total).unwrap_or(i64::MAX))
    }

    /// How many entries match.
    pub fn get_total_count(&mut self) -> PhpResult<i64> {
        self.check()?;
        self.fill();
        Ok(self.snapshot.as_ref().map_or(0, |s| s.len() as i64))
    }
}

impl ApcuIterator {
    fn check(&self) -> PhpResult<()> {
        if self.initialized {
            Ok(())
        } else {
            Err(error("Trying to use uninitialized APCUIterator"))
        }
    }

    fn item(&mut self) -> Option<&Item> {
        self.fill();
        self.snapshot.as_ref()?.get(self.position)
    }

    /// Takes the snapshot if there is none.
    fn fill(&mut self) {
        if self.snapshot.is_some() {
            return;
        }
        let items = if self.deleted_list {
            Vec::new()
        } else {
            bailed(matching(&self.search))
        };
        self.snapshot = Some(items);
    }
}

/// The store of this request, if the API is enabled and the store opens.
fn the_store() -> Option<&'static Store> {
    match store::current() {
        Ok(Current::Store(s, _)) => Some(s),
        _ => None,
    }
}

/// The entries `search` matches, in the store's order.
fn matching(search: &Search) -> Result<Vec<Item>, Bailout> {
    let Some(store) = the_store() else {
        return Ok(Vec::new());
    };
    let mut items = Vec::new();
    let _ = store.scan(|e| {
        if let Some(key) = crate::api::listed_key(&e.key) {
            let wanted = match search {
                Search::Keys(keys) => keys.contains(key),
                _ => true,
            };
            if wanted {
                items.push(Item {
                    key: key.to_vec(),
                    size: e.stored_len,
                    ttl: e.ttl,
                });
            }
        }
    });
    let Search::Regex(regex) = search else {
        return Ok(items);
    };
    let pattern = text(regex)?;
    let Some(pattern) = pattern else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let Some(key) = text(&item.key)? else {
            continue;
        };
        let matched = zend::call_function("preg_match", &[&pattern, &key])?;
        // A regex that does not compile: preg_match's warning, no entries.
        match matched.and_then(|m| m.long()) {
            Some(1) => kept.push(item),
            Some(_) => {}
            None => return Ok(Vec::new()),
        }
    }
    Ok(kept)
}

/// A PHP string of `bytes`.
fn text(bytes: &[u8]) -> Result<Option<Zval>, Bailout> {
    let mut z = Zval::new();
    zend::engine(|| z.set_zend_string(ZendStr::new(bytes, false)))?;
    Ok(Some(z))
}

/// The array `current()` gives for an entry, as APCu orders its fields.
fn entry_array(key: &[u8], size: usize, ttl: Ttl, format: i64) -> Result<Option<Zval>, Bailout> {
    let value = if format & ITER_VALUE != 0 {
        match the_store() {
            Some(store) => crate::api::fetch_value(store, key)?,
            None => None,
        }
    } else {
        None
    };
    let mut fields: Vec<(&str, Zval)> = Vec::new();
    let long = |n: i64| {
        let mut z = Zval::new();
        z.set_long(n);
        z
    };
    if format & ITER_TYPE != 0 {
        if let Some(z) = text(b"user")? {
            fields.push(("type", z));
        }
    }
    if format & ITER_KEY != 0 {
        if let Some(z) = text(key)? {
            fields.push(("key", z));
        }
    }
    if format & ITER_VALUE != 0 {
        fields.push(("value", value.unwrap_or_default()));
    }
    for (flag, name) in [
        (ITER_NUM_HITS, "num_hits"),
        (ITER_MTIME, "mtime"),
        (ITER_CTIME, "creation_time"),
        (ITER_DTIME, "deletion_time"),
        (ITER_ATIME, "access_time"),
        (ITER_REFCOUNT, "ref_count"),
    ] {
        if format & flag != 0 {
            fields.push((name, long(0)));
        }
    }
    if format & ITER_MEM_SIZE != 0 {
        fields.push(("mem_size", long(i64::try_from(size).unwrap_or(i64::MAX))));
    }
    if format & ITER_TTL != 0 {
        fields.push(("ttl", long(crate::api::ttl_seconds(ttl))));
    }
    let mut array = Zval::new();
    zend::engine(|| {
        let mut ht = ZendHashTable::with_capacity(fields.len() as u32);
        for (name, value) in fields {
            let _ = ht.insert(name, value);
        }
        array.set_hashtable(ht);
    })?;
    Ok(Some(array))
}

/// `apcu_delete($iterator)`: deletes every entry the iterator matches;
/// `None` if `object` is not an `APCUIterator`.
pub(crate) fn delete(object: &Zval) -> Result<Option<bool>, Bailout> {
    let Some(iterator) = object
        .object()
        .and_then(ZendClassObject::<ApcuIterator>::from_zend_obj)
    else {
        return Ok(None);
    };
    if !iterator.initialized {
        return Ok(Some(false));
    }
    let Some(store) = the_store() else {
        return Ok(Some(false));
    };
    let items = if iterator.deleted_list {
        Vec::new()
    } else {
        matching(&iterator.search)?
    };
    for item in items {
        let _ = crate::api::delete_key(store, &item.key);
    }
    Ok(Some(true))
}
