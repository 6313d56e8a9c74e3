//! Class `APCUIterator` as APCu 5.1.22 has it (`apc_iterator.stub.php`):
//! the entries of the store whose keys match a regex or a list of keys (or
//! all of them), each as an array of the fields the format's `APC_ITER_*`
//! bits ask for, read a chunk at a time; the totals; and `apcu_delete` of
//! an iterator, which deletes every key it matches.
//!
//! A chunk is made in three steps, none holding anything of the store
//! while the engine runs: the store is scanned a stripe at a time (one
//! stripe lock at a time, never while PHP code runs) for the keys and their
//! sizes and TTLs; the keys are matched (a regex by PHP's own `preg_grep`,
//! one call per stripe through the engine, so the pattern is PCRE's as in
//! APCu, cached by PHP's regex cache; a pattern that is only a literal
//! prefix as `preg_quote` writes it, `/^app\.cache\:/` as Symfony's and
//! Drupal's prefix deletes build it, by comparing bytes, with the same
//! result); then the values of the chunk's keys are read
//! (each lock-free, as `apcu_fetch` reads them) and its arrays built. A key
//! deleted between the scan and the read is left out.
//!
//! Fields the store does not track are filled as `apcu_cache_info` fills
//! them: `num_hits`, `mtime`, `creation_time`, `deletion_time`,
//! `access_time` and `ref_count` are 0 (and `getTotalHits()` is 0);
//! `mem_size` is the bytes the value takes in the store and `ttl` the
//! seconds left to live (0: none), as in `apcu_cache_info`. The store keeps
//! no list of deleted entries: `APC_LIST_DELETED` iterates nothing. The
//! order is the store's (by stripe), not APCu's (by hash slot).

use crate::api;
use crate::zend::class;
use crate::zend::{self, engine, Args, Bailout};
use ext_php_rs::types::{ArrayKey, ZendHashTable, ZendStr, Zval};
use shm_store::{Store, Ttl};
use std::collections::{HashSet, VecDeque};

type Done = Result<(), Bailout>;

/// `APC_ITER_*`: the fields of an entry's array.
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
const ITER_NONE: i64 = 0;
const ITER_ALL: i64 = 0xffff_ffff;
/// `APC_LIST_*`: the live entries, or APCu's deleted ones.
const LIST_ACTIVE: i64 = 1;
const LIST_DELETED: i64 = 2;

/// The constants MINIT registers, with APCu's values.
pub(crate) const CONSTANTS: [(&str, i64); 15] = [
    ("APC_LIST_ACTIVE", LIST_ACTIVE),
    ("APC_LIST_DELETED", LIST_DELETED),
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
    ("APC_ITER_NONE", ITER_NONE),
    ("APC_ITER_ALL", ITER_ALL),
];

/// Entries per chunk when the constructor is given 0 (APCu's default).
const DEFAULT_CHUNK: usize = 100;

/// Which keys an iterator takes.
enum Search {
    All,
    /// A PCRE pattern (a PHP string), matched by `preg_grep`.
    Regex(Zval),
    /// A pattern `/^literal/` (see [`literal_prefix`]): keys starting so.
    Prefix(Vec<u8>),
    /// The string values of the array given (APCu ignores the others).
    Keys(HashSet<Vec<u8>>),
}

/// A key the scan found and the search took, not yet read.
struct Found {
    /// The user's key.
    key: Vec<u8>,
    /// Bytes its value takes in the store.
    size: usize,
    ttl: Ttl,
}

/// The totals (`getTotal*`), computed once per iterator as APCu does.
#[derive(Clone, Copy)]
struct Totals {
    count: i64,
    size: i64,
}

/// An iterator's state (in its object, see [`crate::zend::class`]).
pub(crate) struct State {
    store: &'static Store,
    search: Search,
    format: i64,
    chunk: usize,
    /// `APC_LIST_DELETED`: nothing to iterate.
    deleted_list: bool,
    /// The next stripe to scan.
    next_stripe: usize,
    /// Keys scanned and matched, for the next chunks.
    pending: VecDeque<Found>,
    /// The chunk: each key and its array.
    items: Vec<(Vec<u8>, Zval)>,
    /// The position in `items`.
    pos: usize,
    totals: Option<Totals>,
}

// ------------------------------------------------------------ the scan

/// Scans stripe `stripe`: its users' keys, with sizes and TTLs (a damaged
/// stripe is repaired by the scan and what survived is listed).
fn scan_stripe(store: &Store, stripe: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let _ = store.scan_stripe(stripe, |e| {
        if let Some(key) = api::listed_key(&e.key) {
            found.push(Found {
                key: key.to_vec(),
                size: e.stored_len,
                ttl: e.ttl,
            });
        }
    });
    found
}

/// The keys of `found` the search takes, in order. A regex is matched by
/// one `preg_grep` per batch (a stripe's keys) through the engine; should
/// PCRE fail on a key (its backtracking limit), where `preg_grep` stops,
/// the batch is matched a key at a time by `preg_match`, a failed match
/// being no match, as APCu has it.
fn matching(search: &Search, found: Vec<Found>) -> Result<Vec<Found>, Bailout> {
    match search {
        Search::All => Ok(found),
        Search::Keys(keys) => Ok(found
            .into_iter()
            .filter(|f| keys.contains(&f.key))
            .collect()),
        Search::Prefix(prefix) => Ok(found
            .into_iter()
            .filter(|f| f.key.starts_with(prefix))
            .collect()),
        Search::Regex(pattern) => {
            if found.is_empty() {
                return Ok(found);
            }
            let taken = match grep(pattern, &found)? {
                Some(taken) => taken,
                None => {
                    let mut taken = Vec::with_capacity(found.len());
                    for f in &found {
                        let subject = api::text_zval(&f.key)?;
                        let matched = zend::call_function("preg_match", &[pattern, &subject])?;
                        taken.push(matched.and_then(|m| m.long()) == Some(1));
                    }
                    taken
                }
            };
            Ok(found
                .into_iter()
                .zip(taken)
                .filter_map(|(f, take)| take.then_some(f))
                .collect())
        }
    }
}

/// `preg_grep($pattern, $keys)`: which of `found`'s keys match, or `None`
/// if PCRE failed on one (or the call threw).
fn grep(pattern: &Zval, found: &[Found]) -> Result<Option<Vec<bool>>, Bailout> {
    let mut keys = Zval::new();
    engine(|| {
        let mut ht = ZendHashTable::with_capacity(u32::try_from(found.len()).unwrap_or(u32::MAX));
        for f in found {
            let mut key = Zval::new();
            key.set_zend_string(ZendStr::new(&f.key, false));
            let _ = ht.push(key);
        }
        keys.set_hashtable(ht);
    })?;
    let Some(result) = zend::call_function("preg_grep", &[pattern, &keys])? else {
        return Ok(None);
    };
    drop(keys);
    let failed = zend::call_function("preg_last_error", &[])?.and_then(|e| e.long()) != Some(0);
    let Some(matched) = result.array().filter(|_| !failed) else {
        return Ok(None);
    };
    let mut taken = vec![false; found.len()];
    for (key, _) in matched.iter() {
        if let ArrayKey::Long(i) = key {
            if let Some(t) = usize::try_from(i).ok().and_then(|i| taken.get_mut(i)) {
                *t = true;
            }
        }
    }
    drop(result);
    Ok(Some(taken))
}

/// Calls `each` with every key of the store the search takes (for the
/// totals and `apcu_delete`), a stripe at a time.
fn for_each_match(store: &Store, search: &Search, mut each: impl FnMut(Found) -> Done) -> Done {
    for stripe in 0..store.geometry().stripes as usize {
        for found in matching(search, scan_stripe(store, stripe))? {
            each(found)?;
        }
        if zend::exception_pending() {
            return Ok(());
        }
    }
    Ok(())
}

/// The literal a pattern stands for when it is `/^literal/` with no
/// modifiers (delimiter `/`, `#` or `~`): plain bytes and bytes that a
/// backslash makes literal, as `preg_quote` writes them (Symfony's and
/// Drupal's prefix deletes). A key matches such a pattern exactly when it
/// starts with the literal, so it is matched without PCRE. `None` for any
/// other pattern (PCRE matches it).
fn literal_prefix(pattern: &[u8]) -> Option<Vec<u8>> {
    let (&delimiter, rest) = pattern.split_first()?;
    if !matches!(delimiter, b'/' | b'#' | b'~') {
        return None;
    }
    let body = rest.strip_suffix(&[delimiter])?.strip_prefix(b"^")?;
    let mut literal = Vec::with_capacity(body.len());
    let mut bytes = body.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => match bytes.next()? {
                // preg_quote's NUL: `\000`.
                b'0' => {
                    if bytes.next()? != b'0' || bytes.next()? != b'0' {
                        return None;
                    }
                    literal.push(0);
                }
                // A backslash before any other ASCII character that is not
                // a letter or digit makes it literal (PCRE).
                e if e.is_ascii() && !e.is_ascii_alphanumeric() => literal.push(e),
                _ => return None,
            },
            // Metacharacters outside a class, the delimiter (which would end
            // the pattern) and NUL.
            b'^' | b'$' | b'.' | b'[' | b'|' | b'(' | b')' | b'?' | b'*' | b'+' | b'{' | 0 => {
                return None
            }
            b if b == delimiter => return None,
            b => literal.push(b),
        }
    }
    Some(literal)
}

impl State {
    /// Reads the next chunk into `items` (from position 0): its size.
    fn fetch(&mut self) -> Result<usize, Bailout> {
        let old = std::mem::take(&mut self.items);
        // Old values may hold objects with destructors.
        engine(move || drop(old))?;
        self.pos = 0;
        if self.deleted_list {
            return Ok(0);
        }
        let stripes = self.store.geometry().stripes as usize;
        while self.pending.len() < self.chunk && self.next_stripe < stripes {
            let scanned = scan_stripe(self.store, self.next_stripe);
            self.next_stripe += 1;
            self.pending.extend(matching(&self.search, scanned)?);
            if zend::exception_pending() {
                return Ok(0);
            }
        }
        while self.items.len() < self.chunk {
            let Some(found) = self.pending.pop_front() else {
                break;
            };
            if let Some(item) = self.item(&found)? {
                self.items.push((found.key, item));
            }
            if zend::exception_pending() {
                break;
            }
        }
        Ok(self.items.len())
    }

    /// The array of one entry (`None` if its key is gone, or its value
    /// does not decode, when the format asks for the value).
    fn item(&self, found: &Found) -> Result<Option<Zval>, Bailout> {
        let f = self.format;
        let mut value = Zval::new();
        if f & ITER_VALUE != 0 && !api::fetch_into(self.store, &found.key, &mut value)? {
            return Ok(None);
        }
        // The fields in APCu's order, by their index in `class::INTERNED`
        // (the bits are 1 << index).
        let mut fields: Vec<(usize, Zval)> = Vec::with_capacity(11);
        let size = i64::try_from(found.size).unwrap_or(i64::MAX);
        for i in 0..11 {
            if f & (1 << i) == 0 {
                continue;
            }
            let z = match 1 << i {
                ITER_TYPE => match class::interned_zval(11) {
                    Some(user) => user,
                    None => api::text_zval(b"user")?,
                },
                ITER_KEY => api::text_zval(&found.key)?,
                ITER_VALUE => std::mem::take(&mut value),
                ITER_MEM_SIZE => api::long_zval(size),
                ITER_TTL => api::long_zval(api::ttl_seconds(found.ttl)),
                // num_hits, the times, ref_count: not tracked.
                _ => api::long_zval(0),
            };
            fields.push((i, z));
        }
        let mut array = Zval::new();
        engine(|| {
            let mut ht = ZendHashTable::with_capacity(fields.len() as u32);
            for (i, z) in fields {
                let _ = match class::interned(i) {
                    Some(name) => ht.insert(ArrayKey::ZendString(name), z),
                    None => ht.insert(class::INTERNED[i], z),
                };
            }
            array.set_hashtable(ht);
        })?;
        Ok(Some(array))
    }

    /// The chunk has no entry at the position: reads the next one.
    fn at_end_fetch(&mut self) -> Result<usize, Bailout> {
        if self.pos >= self.items.len() {
            self.fetch()
        } else {
            Ok(self.items.len())
        }
    }

    fn totals(&mut self) -> Result<Totals, Bailout> {
        if let Some(t) = self.totals {
            return Ok(t);
        }
        let mut t = Totals { count: 0, size: 0 };
        for_each_match(self.store, &self.search, |found| {
            t.count += 1;
            t.size = t
                .size
                .saturating_add(i64::try_from(found.size).unwrap_or(i64::MAX));
            Ok(())
        })?;
        if !zend::exception_pending() {
            self.totals = Some(t);
        }
        Ok(t)
    }
}

// ------------------------------------------------------------ the methods

const UNINITIALIZED: &str = "Trying to use uninitialized APCUIterator";

/// Runs `work` on the state of `$this` (taken out of the object while it
/// runs) for a method without parameters; APCu's `Error` if the object has
/// none.
fn with_state(
    args: &Args<'_>,
    rv: &mut Zval,
    work: impl FnOnce(&mut State, &mut Zval) -> Done,
) -> Done {
    if !args.counted(0, 0)? {
        return Ok(());
    }
    let Some(object) = class::this(args) else {
        return class::throw_error(UNINITIALIZED);
    };
    let Some(mut state) = object.take() else {
        return class::throw_error(UNINITIALIZED);
    };
    let done = work(&mut state, rv);
    object.put(state)?;
    done
}

/// An int argument of the constructor: `TypeError` and `None` if not one.
fn int_arg(args: &Args<'_>, i: usize, name: &str, default: i64) -> Result<Option<i64>, Bailout> {
    if let Some(n) = api::long_arg(args.get(i), default) {
        return Ok(Some(n));
    }
    let given = args.get(i).map_or("null".into(), api::type_name);
    zend::throw(
        true,
        &format!(
            "APCUIterator::__construct(): Argument #{} (${name}) must be of type int, {given} given",
            i + 1
        ),
    )?;
    Ok(None)
}

/// `__construct(array|string|null $search = null, int $format =
/// APC_ITER_ALL, int $chunk_size = 0, int $list = APC_LIST_ACTIVE)`,
/// with APCu's checks in APCu's order.
pub(crate) fn construct(args: &Args<'_>, _rv: &mut Zval) -> Done {
    if !args.counted(0, 4)? {
        return Ok(());
    }
    let Some(object) = class::this(args) else {
        return Ok(());
    };
    let Some(format) = int_arg(args, 1, "format", ITER_ALL)? else {
        return Ok(());
    };
    let Some(chunk) = int_arg(args, 2, "chunk_size", 0)? else {
        return Ok(());
    };
    let Some(list) = int_arg(args, 3, "list", LIST_ACTIVE)? else {
        return Ok(());
    };
    if chunk < 0 {
        return class::fatal("APCUIterator chunk size must be 0 or greater");
    }
    let Some((store, _)) = api::store()? else {
        return class::throw_error("APC must be enabled to use APCUIterator");
    };
    if format > ITER_ALL {
        return class::fatal("APCUIterator format is invalid");
    }
    if list != LIST_ACTIVE && list != LIST_DELETED {
        return zend::warn("APCUIterator invalid list type");
    }
    let search = match args.get(0).map(Zval::dereference) {
        Some(s) if s.is_string() && s.zend_str().is_some_and(|s| !s.is_empty()) => {
            // PCRE compiles it now (its warning says why it does not);
            // APCu then raises its fatal error.
            let mut empty = Zval::new();
            engine(|| empty.set_zend_string(ZendStr::new("", false)))?;
            let compiled = zend::call_function("preg_match", &[s, &empty])?;
            if zend::exception_pending() {
                return Ok(());
            }
            if compiled.and_then(|m| m.long()).is_none() {
                let shown = String::from_utf8_lossy(s.zend_str().map_or(&[][..], |s| s.as_bytes()))
                    .into_owned();
                return class::fatal(&format!("Could not compile regular expression: {shown}"));
            }
            let pattern = s.zend_str().map_or(&[][..], |s| s.as_bytes());
            match literal_prefix(pattern) {
                Some(prefix) => Search::Prefix(prefix),
                None => Search::Regex(s.shallow_clone()),
            }
        }
        Some(a) if a.is_array() => Search::Keys(
            a.array()
                .into_iter()
                .flat_map(|ht| ht.values())
                .filter_map(|v| v.dereference().zend_str().map(|s| s.as_bytes().to_vec()))
                .collect(),
        ),
        _ => Search::All,
    };
    object.put(Box::new(State {
        store,
        search,
        format,
        chunk: usize::try_from(chunk)
            .ok()
            .filter(|&c| c > 0)
            .unwrap_or(DEFAULT_CHUNK),
        deleted_list: list == LIST_DELETED,
        next_stripe: 0,
        pending: VecDeque::new(),
        items: Vec::new(),
        pos: 0,
        totals: None,
    }))
}

pub(crate) fn rewind(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, _| {
        state.next_stripe = 0;
        state.pending.clear();
        state.fetch().map(drop)
    })
}

pub(crate) fn valid(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, rv| {
        let valid = state.at_end_fetch()? > 0;
        rv.set_bool(valid);
        Ok(())
    })
}

pub(crate) fn current(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, rv| {
        if state.at_end_fetch()? == 0 {
            return class::throw_error("Cannot call current() on invalid iterator");
        }
        if let Some((_, item)) = state.items.get(state.pos) {
            *rv = item.shallow_clone();
        }
        Ok(())
    })
}

pub(crate) fn key(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, rv| {
        if state.at_end_fetch()? == 0 {
            return class::throw_error("Cannot call key() on invalid iterator");
        }
        if let Some((key, _)) = state.items.get(state.pos) {
            *rv = api::text_zval(key)?;
        }
        Ok(())
    })
}

pub(crate) fn next(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, _| {
        if state.pos < state.items.len() {
            state.pos += 1;
        }
        Ok(())
    })
}

pub(crate) fn total_hits(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, rv| {
        // Per-key hits are not tracked: 0, as apcu_cache_info's num_hits.
        state.totals()?;
        rv.set_long(0);
        Ok(())
    })
}

pub(crate) fn total_size(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, rv| {
        let t = state.totals()?;
        rv.set_long(t.size);
        Ok(())
    })
}

pub(crate) fn total_count(args: &Args<'_>, rv: &mut Zval) -> Done {
    with_state(args, rv, |state, rv| {
        let t = state.totals()?;
        rv.set_long(t.count);
        Ok(())
    })
}

/// `apcu_delete($iterator)`: deletes every key the iterator matches now
/// (a scan of its own, whatever its position), true; for an object that
/// is no `APCUIterator`, APCu's fatal error.
pub(crate) fn delete(object: &Zval, rv: &mut Zval) -> Done {
    let Some(iterator) = class::iterator_of(object) else {
        return class::fatal("apc_delete object argument must be instance of APCUIterator.");
    };
    let Some(state) = iterator.take() else {
        return class::throw_error(UNINITIALIZED);
    };
    let done = delete_matches(&state);
    iterator.put(state)?;
    rv.set_bool(done.is_ok() && !zend::exception_pending());
    done
}

/// Deletes every key `state`'s search takes (none for the deleted list).
fn delete_matches(state: &State) -> Done {
    if state.deleted_list {
        return Ok(());
    }
    let store = state.store;
    for_each_match(store, &state.search, |found| {
        let _ = api::delete_key(store, &found.key);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::literal_prefix;

    #[test]
    fn prefix_patterns_as_preg_quote_writes_them() {
        let cases: [(&[u8], Option<&[u8]>); 16] = [
            (b"/^app/", Some(b"app")),
            (b"/^/", Some(b"")),
            // Symfony: sprintf('/^%s/', preg_quote($namespace, '/')).
            (br"/^a\.b\/c\+\:\-\#/", Some(b"a.b/c+:-#")),
            (br"#^x\#y#", Some(b"x#y")),
            (br"~^\~\\~", Some(br"~\")),
            (b"/^caf\xc3\xa9 ns/", Some("café ns".as_bytes())),
            (br"/^a\000b/", Some(b"a\0b")),
            // Not a bare literal prefix: left to PCRE.
            (b"/^app/i", None),
            (b"/app/", None),
            (b"/^app$/", None),
            (b"/^a.b/", None),
            (br"/^a\d/", None),
            (br"/^a\0b/", None),
            (b"/^a/b/", None),
            (b"{^app}", None),
            (b"/^a(b)/", None),
        ];
        for (pattern, want) in cases {
            assert_eq!(
                literal_prefix(pattern).as_deref(),
                want,
                "{}",
                String::from_utf8_lossy(pattern)
            );
        }
        for pattern in [&b""[..], b"/", b"/^", br"/^\/", b"/^a\0b/", br"/^a\00/"] {
            assert_eq!(literal_prefix(pattern), None, "{pattern:?}");
        }
    }
}
