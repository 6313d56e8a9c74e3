//! The read path of layout 4: lock-free reads, per-process statistics, the
//! index that grows with its stripe, LRU stamps from reads, and integer
//! entries that `incr` updates in place.

use shm_store::{
    Clock, Compression, ManualClock, ReadStart, SmallRead, Store, StoreConfig, StoreError, Ttl,
};
use std::sync::Arc;
use std::time::Duration;

fn open(dir: &tempfile::TempDir, name: &str, size: u64) -> Store {
    Store::open(&StoreConfig::new(name).dir(dir.path()).size(size)).unwrap()
}

fn assert_consistent(store: &Store) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}

/// Reads go lock-free (no read of this test needs the lock) and count
/// per handle: another handle sees them once they are flushed, exactly.
#[test]
fn hits_and_misses_are_exact_once_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "stats", 1 << 20);
    let b = open(&dir, "stats", 1 << 20);
    a.set(b"k", b"v", None).unwrap();
    for _ in 0..3 {
        assert_eq!(a.get(b"k").unwrap(), Some(b"v".to_vec()));
    }
    assert_eq!(a.get(b"nope").unwrap(), None);
    assert_eq!(a.get_with(b"nope", |_| ()).unwrap(), None);
    assert!(a.exists(b"k").unwrap(), "exists counts nothing");
    assert_eq!(a.locked_reads(), 0, "every read was lock-free");
    let seen = b.stats().unwrap();
    assert_eq!((seen.hits, seen.misses), (0, 0), "not flushed yet");
    a.flush_stats();
    let seen = b.stats().unwrap();
    assert_eq!((seen.hits, seen.misses), (3, 2));
    // A handle's own stats include its own reads; dropping one flushes it.
    b.get(b"k").unwrap();
    assert_eq!(b.stats().unwrap().hits, 4);
    a.get(b"k").unwrap();
    drop(a);
    assert_eq!(b.stats().unwrap().hits, 5);
}

/// The one-copy protocol: the length first, the copy into the caller's
/// buffer after; a value changed in between is detected, never torn.
#[test]
fn read_finish_detects_a_change_after_read_begin() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "ticket", 1 << 20);
    store.set(b"k", b"first", None).unwrap();
    let shm_store::ReadStart::Ready(ticket) = store.read_begin(b"k", 0).unwrap() else {
        panic!("an inline value is read lock-free");
    };
    assert_eq!(ticket.len(), 5);
    store.set(b"k", b"other", None).unwrap();
    let mut out = vec![0; ticket.len()];
    assert!(!store.read_finish(&ticket, &mut out), "a write in between");
    let shm_store::ReadStart::Ready(ticket) = store.read_begin(b"k", 1).unwrap() else {
        panic!("ready again");
    };
    assert!(store.read_finish(&ticket, &mut out));
    assert_eq!(out, b"other");
    // A wrong-sized buffer is refused, not overrun.
    assert!(!store.read_finish(&ticket, &mut [0; 3]));
    // From READ_ATTEMPTS on, the read is done under the lock.
    match store.read_begin(b"k", shm_store::READ_ATTEMPTS).unwrap() {
        shm_store::ReadStart::Copied(v) => assert_eq!(v, b"other"),
        other => panic!("expected Copied, got {other:?}"),
    }
    assert_eq!(store.locked_reads(), 1);
}

/// Expired entries are reclaimed by the locked path the lock-free one hands
/// them to; a large value is gathered from its parts the same way.
#[test]
fn expired_and_large_values_take_the_locked_path() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000);
    let store = Store::open_with_clock(
        &StoreConfig::new("exp").dir(dir.path()).size(4 << 20),
        Arc::new(clock.clone()),
    )
    .unwrap();
    store
        .set(b"t", b"v", Some(Duration::from_millis(10)))
        .unwrap();
    assert_eq!(store.get(b"t").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.locked_reads(), 0);
    clock.advance_ms(10);
    assert_eq!(store.get(b"t").unwrap(), None);
    assert_eq!(store.locked_reads(), 1);
    assert_eq!(store.stats().unwrap().expirations, 1);
    assert_eq!(store.get(b"t").unwrap(), None, "now a plain miss");
    assert_eq!(store.locked_reads(), 1);
    let big = vec![7u8; 200 << 10];
    store.set(b"big", &big, None).unwrap();
    assert_eq!(store.get(b"big").unwrap(), Some(big));
    assert_eq!(store.locked_reads(), 2);
    assert_eq!(clock.now_ms(), 1_010);
}

/// The index starts small, doubles as entries come (staying at most half
/// full), shrinks back on a flush, and is rebuilt at the right size.
#[test]
fn the_index_grows_with_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &StoreConfig::new("index")
            .dir(dir.path())
            .size(8 << 20)
            .stripes(1),
    )
    .unwrap();
    let region = store.geometry().slots_per_stripe as u64;
    assert_eq!(store.stats().unwrap().slots, 64);
    for i in 0..3000u32 {
        store
            .set(format!("key:{i}").as_bytes(), b"v", None)
            .unwrap();
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.entries, 3000);
    assert_eq!(stats.slots, 8192, "the power of two at least twice 3000");
    assert!(stats.slots < region, "region {region}");
    assert_consistent(&store);
    for i in 0..3000u32 {
        assert!(store.exists(format!("key:{i}").as_bytes()).unwrap(), "{i}");
    }
    store.repair().unwrap();
    assert_eq!(store.stats().unwrap().slots, 8192);
    store.flush_all().unwrap();
    assert_eq!(store.stats().unwrap().slots, 64);
    assert_consistent(&store);
}

/// A key read all the time survives churn that evicts: reads stamp it
/// (rarely, when its stamp is stale), so it is never the least recent.
#[test]
fn a_key_that_is_read_survives_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &StoreConfig::new("lru")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1),
    )
    .unwrap();
    store.set(b"hot", &[1u8; 500], None).unwrap();
    for i in 0..20_000u32 {
        store
            .set(format!("cold:{i}").as_bytes(), &[2u8; 500], None)
            .unwrap();
        assert!(
            store.get(b"hot").unwrap().is_some(),
            "evicted after {i} writes"
        );
    }
    let stats = store.stats().unwrap();
    assert!(stats.evictions > 10_000, "{stats:?}");
    assert_consistent(&store);
}

/// `incr` keeps an integer entry, updated in place; reads render it as
/// decimal text, everywhere a value is seen; the API's rules hold.
#[test]
fn integer_entries_read_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "int", 1 << 20);
    assert_eq!(store.incr_by(b"n", 41).unwrap(), 41);
    assert_eq!(store.incr_by(b"n", 1).unwrap(), 42);
    assert_eq!(store.get(b"n").unwrap(), Some(b"42".to_vec()));
    assert_eq!(
        store.get_with(b"n", |v| v.to_vec()).unwrap(),
        Some(b"42".to_vec())
    );
    assert_eq!(store.locked_reads(), 0);
    let mut keys = Vec::new();
    store
        .scan(|e| keys.push((e.key.clone(), e.value_len)))
        .unwrap();
    assert_eq!(keys, vec![(b"n".to_vec(), 2)]);
    // Compared as its text by the owner-checked operations.
    assert!(!store.del_if(b"n", b"41").unwrap());
    assert!(store
        .expire_if(b"n", b"42", Duration::from_secs(60))
        .unwrap());
    // TTL kept by incr; a text integer becomes an integer entry.
    assert_eq!(store.incr_by(b"n", -50).unwrap(), -8);
    assert!(matches!(store.ttl(b"n").unwrap(), Ttl::Remaining(_)));
    assert_eq!(store.get(b"n").unwrap(), Some(b"-8".to_vec()));
    store
        .set(b"t", b"-17", Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(store.incr_by(b"t", 20).unwrap(), 3);
    assert!(matches!(store.ttl(b"t").unwrap(), Ttl::Remaining(_)));
    assert_eq!(store.get(b"t").unwrap(), Some(b"3".to_vec()));
    // Refusals leave the value alone.
    assert_eq!(store.incr_by(b"n", i64::MAX).unwrap(), i64::MAX - 8);
    assert!(matches!(store.incr_by(b"n", 9), Err(StoreError::Overflow)));
    assert_eq!(
        store.get(b"n").unwrap(),
        Some((i64::MAX - 8).to_string().into_bytes())
    );
    store.set(b"s", b"abc", None).unwrap();
    assert!(matches!(
        store.incr_by(b"s", 1),
        Err(StoreError::NotAnInteger)
    ));
    assert_eq!(store.get(b"s").unwrap(), Some(b"abc".to_vec()));
    // A set replaces the integer with the exact bytes given.
    store.set(b"n", b"007", None).unwrap();
    assert_eq!(store.get(b"n").unwrap(), Some(b"007".to_vec()));
    assert!(store.del_if(b"t", b"3").unwrap());
    // A rebuild keeps integer entries.
    store.incr_by(b"m", i64::MIN + 1).unwrap();
    store.incr_by(b"m", -1).unwrap();
    store.repair().unwrap();
    assert_eq!(
        store.get(b"m").unwrap(),
        Some(i64::MIN.to_string().into_bytes())
    );
    assert_consistent(&store);
}

/// What counts as an integer is what ePHPm's store takes (Rust's `i64`
/// parsing of the whole text): a sign, leading zeros, nothing else.
#[test]
fn incr_takes_text_integers_as_ephpm_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "parse", 1 << 20);
    for (text, after) in [
        (&b"+1"[..], Some(2)),
        (b"007", Some(8)),
        (b"-0", Some(1)),
        (b"-9223372036854775808", Some(i64::MIN + 1)),
        (b" 5", None),
        (b"5 ", None),
        (b"0x10", None),
        (b"1e3", None),
        (b"", None),
        (b"+", None),
        (b"9223372036854775808", None),
    ] {
        store.set(b"n", text, None).unwrap();
        match (store.incr_by(b"n", 1), after) {
            (Ok(n), Some(want)) => assert_eq!(n, want, "{text:?}"),
            (Err(StoreError::NotAnInteger), None) => {
                assert_eq!(
                    store.get(b"n").unwrap().as_deref(),
                    Some(text),
                    "{text:?} kept"
                )
            }
            (other, _) => panic!("{text:?}: {other:?}"),
        }
    }
}

/// What `read_small` copied into `buf`, or how the read goes on.
fn small(store: &Store, key: &[u8], buf: &mut [u8]) -> Small {
    match store.read_small(key, buf).unwrap() {
        SmallRead::Missing => Small::Missing,
        SmallRead::Copied(n) => Small::Copied(buf[..n].to_vec()),
        SmallRead::Begun(start) => Small::Begun(start),
    }
}

/// The value a read that `read_small` handed on as `start` ends with (as
/// after attempt 1 of `read_begin`).
fn finish(store: &Store, key: &[u8], mut start: ReadStart) -> Vec<u8> {
    let mut attempt = 1;
    loop {
        match start {
            ReadStart::Copied(v) => return v,
            ReadStart::Missing => panic!("read_small hands on no miss"),
            ReadStart::Ready(ticket) => {
                let mut out = vec![0; ticket.len()];
                if store.read_finish(&ticket, &mut out) {
                    return out;
                }
            }
        }
        attempt += 1;
        start = store.read_begin(key, attempt).unwrap();
    }
}

#[derive(Debug)]
enum Small {
    Missing,
    Copied(Vec<u8>),
    Begun(ReadStart),
}

/// `read_small`, the one-call read of a small value: copied into the
/// caller's buffer when it fits (a string, an integer entry's text, an
/// empty value), counted once; a longer value is handed on as a validated
/// ticket, a large or compressed one as `read_begin` would, a miss as a miss.
#[test]
fn read_small_copies_what_fits_and_hands_on_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &StoreConfig::new("small")
            .dir(dir.path())
            .size(8 << 20)
            .compression(Compression::zstd()),
    )
    .unwrap();
    let mut buf = [0; 16];
    store.set(b"s", b"sixteen bytes!!!", None).unwrap();
    store.set(b"e", b"", None).unwrap();
    store.set(b"n", b"-1234", None).unwrap();
    store.incr_by(b"n", 1).unwrap();
    store.set(b"long", b"seventeen bytes!!", None).unwrap();
    let zstd = vec![b'z'; 4096];
    store.set(b"zstd", &zstd, None).unwrap();
    // Incompressible (xorshift): stored as a large value's parts.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let large = (0..100_000)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect::<Vec<u8>>();
    store.set(b"large", &large, None).unwrap();
    match small(&store, b"s", &mut buf) {
        Small::Copied(v) => assert_eq!(v, b"sixteen bytes!!!"),
        other => panic!("s: {other:?}"),
    }
    match small(&store, b"e", &mut buf) {
        Small::Copied(v) => assert_eq!(v, b""),
        other => panic!("e: {other:?}"),
    }
    match small(&store, b"n", &mut buf) {
        Small::Copied(v) => assert_eq!(v, b"-1233"),
        other => panic!("n: {other:?}"),
    }
    match small(&store, b"nope", &mut buf) {
        Small::Missing => {}
        other => panic!("nope: {other:?}"),
    }
    match small(&store, b"long", &mut buf) {
        Small::Begun(ReadStart::Ready(ticket)) => {
            assert_eq!(ticket.len(), 17);
            let mut out = vec![0; 17];
            assert!(store.read_finish(&ticket, &mut out));
            assert_eq!(out, b"seventeen bytes!!");
        }
        other => panic!("long: {other:?}"),
    }
    match small(&store, b"zstd", &mut buf) {
        Small::Begun(ReadStart::Copied(v)) => assert_eq!(v, zstd),
        other => panic!("zstd: {other:?}"),
    }
    match small(&store, b"large", &mut buf) {
        Small::Begun(ReadStart::Copied(v)) => assert_eq!(v, large),
        other => panic!("large: {other:?}"),
    }
    // An empty buffer hands every value on.
    match small(&store, b"e", &mut []) {
        Small::Copied(v) => assert_eq!(v, b""),
        other => panic!("e into nothing: {other:?}"),
    }
    match small(&store, b"s", &mut []) {
        Small::Begun(ReadStart::Ready(ticket)) => assert_eq!(ticket.len(), 16),
        other => panic!("s into nothing: {other:?}"),
    }
    assert!(matches!(
        store.read_small(b"", &mut buf),
        Err(StoreError::EmptyKey)
    ));
    // Hits: s, e, n, zstd, large, e (the tickets are not finished reads
    // of their own: `read_finish` counted the one of "long"); one miss.
    store.flush_stats();
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (7, 1));
    assert_eq!(
        store.locked_reads(),
        1,
        "only the large value took the lock"
    );
}

/// Writes of `read_small_never_returns_a_torn_value`, by this many threads.
const WRITES: u32 = 200_000;
const WRITERS: u32 = 2;

/// Write `i` of the key: a byte repeated, at a length that goes with it.
fn written(i: u32) -> (u8, usize) {
    (b'a' + (i % 26) as u8, 1 + (i as usize * 7) % 250)
}

/// `read_small` validates the look and the copy at once: a value read
/// while other threads rewrite it is always one that was written, whole
/// (each write is one byte repeated, at a length of its own), and so is
/// `exists`' answer: the key is never seen missing.
#[test]
fn read_small_never_returns_a_torn_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "torn", 1 << 20);
    store.set(b"k", b"a", None).unwrap();
    let writing = std::sync::atomic::AtomicU32::new(WRITERS);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (store, writing) = (&store, &writing);
            s.spawn(move || {
                for i in (w..WRITES).step_by(WRITERS as usize) {
                    let (byte, len) = written(i);
                    store.set(b"k", &vec![byte; len], None).unwrap();
                }
                writing.fetch_sub(1, std::sync::atomic::Ordering::Release);
            });
        }
        let mut buf = [0; 256];
        let mut reads = 0u64;
        while writing.load(std::sync::atomic::Ordering::Acquire) > 0 || reads < 1000 {
            let value = match small(&store, b"k", &mut buf) {
                Small::Copied(v) => v,
                Small::Begun(start) => finish(&store, b"k", start),
                Small::Missing => panic!("the key is always there"),
            };
            let len = value.len();
            let byte = value[0];
            assert!(value.iter().all(|&b| b == byte), "torn: {value:?}");
            // The length goes with the byte (some write made both).
            assert!(
                (0..WRITES).any(|i| written(i) == (byte, len)) || (byte, len) == (b'a', 1),
                "never written: {len} x {}",
                byte as char
            );
            assert!(store.exists(b"k").unwrap(), "the key is always there");
            reads += 1;
        }
    });
    assert_consistent(&store);
}
