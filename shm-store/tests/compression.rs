//! Transparent per-entry compression: what handles that compress write,
//! every handle reads; raw and compressed entries coexist; corrupt
//! compressed bytes are a miss with `StoreError::Corrupt`, never a panic;
//! the counters follow every insert and removal and survive a rebuild.

mod common;

use common::Rng;
use shm_store::{Codec, Compression, ManualClock, ReadStart, Store, StoreConfig, StoreError, Ttl};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SIZE: u64 = 48 << 20;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new("z").dir(dir).size(SIZE).stripes(4)
}

fn zstd(dir: &Path) -> Store {
    Store::open(&config(dir).compression(Compression::zstd())).unwrap()
}

/// A store whose handle compresses, on a clock the test moves.
fn zstd_with_clock(dir: &Path, clock: &ManualClock) -> Store {
    Store::open_with_clock(
        &config(dir).compression(Compression::zstd()),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

/// `n` hexadecimal digits from the tests' deterministic generator.
fn hex(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[(rng.next_u64() % 16) as usize]))
        .collect()
}

/// PHP-serialized session data of at least `len` bytes: a user, a CSRF
/// token, flash messages and a cart of items, as `session_encode` writes it.
fn session_text(len: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D ^ len as u64);
    let s = |v: &str| format!("s:{}:\"{v}\";", v.len());
    let mut out = format!(
        "user|a:4:{{{}i:{};{}{}{}{}{}{}}}csrf|{}",
        s("id"),
        rng.next_u64() % 100_000,
        s("name"),
        s("Alice Example"),
        s("email"),
        s("alice@example.org"),
        s("roles"),
        "a:2:{i:0;s:6:\"editor\";i:1;s:6:\"viewer\";}",
        s(&hex(&mut rng, 64))
    );
    let mut i = 0;
    let mut cart = String::new();
    while out.len() + cart.len() < len {
        cart.push_str(&format!(
            "i:{i};a:5:{{{}i:{};{}{}{}i:{};{}d:{}.{:02};{}i:{};}}",
            s("sku"),
            rng.next_u64() % 1_000_000,
            s("title"),
            s(&format!(
                "Product {} in colour {}",
                rng.next_u64() % 5000,
                hex(&mut rng, 6)
            )),
            s("qty"),
            1 + rng.next_u64() % 5,
            s("price"),
            rng.next_u64() % 500,
            rng.next_u64() % 100,
            s("added"),
            1_700_000_000 + rng.next_u64() % 10_000_000,
        ));
        i += 1;
    }
    out.push_str(&format!("cart|a:{i}:{{{cart}}}"));
    out.push_str("flash|a:1:{s:7:\"success\";s:12:\"Item added!\";}");
    out.into_bytes()
}

fn noise(len: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

fn scan_entry(store: &Store, key: &[u8]) -> shm_store::ScanEntry {
    let mut found = None;
    store
        .scan(|e| {
            if e.key == key {
                found = Some(e.clone());
            }
        })
        .unwrap();
    found.unwrap_or_else(|| panic!("{key:?} not scanned"))
}

fn assert_consistent(store: &Store) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// The original bytes through every read path.
fn assert_reads(store: &Store, key: &[u8], value: &[u8]) {
    assert_eq!(store.get(key).unwrap().as_deref(), Some(value));
    let mut out = b"stale".to_vec();
    assert!(store.get_into(key, &mut out).unwrap());
    assert_eq!(out, value);
    assert_eq!(
        store.get_with(key, |v| v.to_vec()).unwrap().as_deref(),
        Some(value)
    );
    assert!(store.exists(key).unwrap());
    match store.read_begin(key, 0).unwrap() {
        ReadStart::Copied(v) => assert_eq!(v, value),
        ReadStart::Ready(ticket) => {
            let mut buf = vec![0; ticket.len()];
            assert!(store.read_finish(&ticket, &mut buf));
            assert_eq!(buf, value);
        }
        ReadStart::Missing => panic!("{key:?} missing"),
    }
}

#[test]
fn session_text_round_trips_at_every_size_and_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let store = zstd(dir.path());
    assert_eq!(store.compression(), Compression::zstd());
    let sizes = [1024usize, 16 << 10, 256 << 10, 4 << 20];
    let mut raw_total = 0;
    for &n in &sizes {
        let key = format!("sess:{n}");
        let value = session_text(n);
        raw_total += value.len() as u64;
        store.set(key.as_bytes(), &value, None).unwrap();
        assert_reads(&store, key.as_bytes(), &value);
        let e = scan_entry(&store, key.as_bytes());
        assert!(e.compressed, "{n} bytes stored raw");
        assert_eq!(e.value_len, value.len());
        assert!(
            e.stored_len * 2 < value.len(),
            "{n}: {} stored of {}",
            e.stored_len,
            value.len()
        );
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.compressed_entries, sizes.len() as u64);
    assert_eq!(stats.compressed_raw_bytes, raw_total);
    assert!(stats.compressed_stored_bytes * 2 < raw_total);
    // The 4 MiB value's stream is longer than a part: it went into parts.
    assert!(stats.parts > 0, "{stats:?}");
    assert_consistent(&store);
    // setnx compresses too, and an existing key stays.
    let value = session_text(20 << 10);
    assert!(store.setnx(b"nx", &value, None).unwrap());
    assert!(!store.setnx(b"nx", b"other", None).unwrap());
    assert!(scan_entry(&store, b"nx").compressed);
    assert_reads(&store, b"nx", &value);
}

#[test]
fn raw_and_compressed_entries_coexist() {
    let dir = tempfile::tempdir().unwrap();
    let store = zstd(dir.path());
    let text = session_text(8 << 10);
    let random = noise(8 << 10);
    let big_random = noise(200 << 10);
    store.set(b"text", &text, None).unwrap();
    store.set(b"random", &random, None).unwrap();
    store.set(b"big-random", &big_random, None).unwrap();
    store
        .set(b"small", b"below the minimum size", None)
        .unwrap();
    store.incr_by(b"n", 41).unwrap();
    assert!(scan_entry(&store, b"text").compressed);
    // Compression that does not make a value shorter is not kept.
    assert!(!scan_entry(&store, b"random").compressed);
    assert!(!scan_entry(&store, b"big-random").compressed);
    assert!(!scan_entry(&store, b"small").compressed);
    assert_reads(&store, b"text", &text);
    assert_reads(&store, b"random", &random);
    assert_reads(&store, b"big-random", &big_random);
    assert_reads(&store, b"small", b"below the minimum size");
    assert_eq!(store.incr_by(b"n", 1).unwrap(), 42);
    // Replacing a compressed value by a raw one and back.
    store.set(b"text", &random, None).unwrap();
    assert!(!scan_entry(&store, b"text").compressed);
    store.set(b"random", &text, None).unwrap();
    assert!(scan_entry(&store, b"random").compressed);
    assert_reads(&store, b"text", &random);
    assert_reads(&store, b"random", &text);
    assert_eq!(store.stats().unwrap().compressed_entries, 1);
    assert_consistent(&store);
}

#[test]
fn below_min_size_is_raw() {
    let dir = tempfile::tempdir().unwrap();
    let value = session_text(900);
    assert!(value.len() < 1024);
    let store = zstd(dir.path());
    store.set(b"k", &value, None).unwrap();
    assert!(!scan_entry(&store, b"k").compressed);
    let low = Store::open(&config(dir.path()).compression(Compression {
        min_size: 100,
        ..Compression::zstd()
    }))
    .unwrap();
    low.set(b"k", &value, None).unwrap();
    assert!(scan_entry(&store, b"k").compressed);
    assert_reads(&store, b"k", &value);
}

#[test]
fn the_creators_compression_is_the_default_and_openers_may_differ() {
    let dir = tempfile::tempdir().unwrap();
    let level9 = Compression {
        codec: Codec::Zstd,
        level: 9,
        min_size: 512,
    };
    let creator = Store::open(&config(dir.path()).store_compression(level9)).unwrap();
    assert_eq!(creator.store_compression(), level9);
    assert_eq!(creator.compression(), level9);
    // What an opener asks for its own handle is not recorded.
    let other = tempfile::tempdir().unwrap();
    let asker = Store::open(&config(other.path()).compression(level9)).unwrap();
    assert_eq!(asker.compression(), level9);
    assert_eq!(asker.store_compression(), Compression::default());
    // An opener that asks for nothing compresses as the store says.
    let plain = Store::open(&config(dir.path())).unwrap();
    assert_eq!(plain.compression(), level9);
    // One field asked for, the others the store's.
    let min = Store::open(&config(dir.path()).compression_min_size(64)).unwrap();
    assert_eq!(
        min.compression(),
        Compression {
            min_size: 64,
            ..level9
        }
    );
    let none = Store::open(&config(dir.path()).compression_codec(Codec::None)).unwrap();
    assert_eq!(none.compression().codec, Codec::None);
    assert_eq!(none.store_compression(), level9);
    let tool = Store::attach(dir.path(), "z").unwrap();
    assert_eq!(tool.compression(), level9);

    // What one handle writes compressed, the one that does not compress reads.
    let text = session_text(64 << 10);
    plain.set(b"a", &text, None).unwrap();
    assert!(scan_entry(&none, b"a").compressed);
    assert_reads(&none, b"a", &text);
    none.set(b"b", &text, None).unwrap();
    assert!(!scan_entry(&none, b"b").compressed);
    assert_reads(&plain, b"b", &text);
    // A level zstd does not have is refused.
    let bad = Store::open(&config(dir.path()).compression_level(1000));
    assert!(matches!(bad, Err(StoreError::InvalidConfig(_))), "{bad:?}");
    assert_consistent(&plain);
}

/// The file offset of the stored bytes of `key`'s inline compressed value:
/// the key followed by the original length (the block's key and value).
fn stored_at(store: &Store, key: &[u8], raw_len: usize) -> u64 {
    let bytes = std::fs::read(store.path()).unwrap();
    let mut needle = key.to_vec();
    needle.extend_from_slice(&(raw_len as u64).to_le_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the entry's bytes in the file");
    (at + key.len()) as u64
}

#[test]
fn a_corrupt_frame_is_a_miss_with_an_error_and_the_store_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = zstd(dir.path());
    let text = session_text(16 << 10);
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    let cases: [(&str, u64, Vec<u8>); 4] = [
        // The frame's magic number.
        ("magic", 8, vec![0xde, 0xad, 0xbe, 0xef]),
        // A byte in the middle of the compressed data (the checksum finds it).
        ("middle", 8 + 200, vec![0x5a]),
        // A prefix claiming more than the store's value limit (a bomb).
        ("bomb", 0, u64::MAX.to_le_bytes().to_vec()),
        // A prefix claiming fewer bytes than the frame holds.
        ("short", 0, 100u64.to_le_bytes().to_vec()),
    ];
    store.set(b"neighbour", &text, None).unwrap();
    for (what, offset, bytes) in cases {
        store.set(b"victim", &text, None).unwrap();
        let at = stored_at(&store, b"victim", text.len());
        file.write_all_at(&bytes, at + offset).unwrap();
        let before = store.stats().unwrap();
        match store.get(b"victim") {
            Err(StoreError::Corrupt { reason }) => {
                assert!(!reason.is_empty(), "{what}")
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
        let after = store.stats().unwrap();
        assert_eq!(after.misses, before.misses + 1, "{what}: counted as a miss");
        assert_eq!(after.hits, before.hits, "{what}");
        // Removed: the error comes once, then it is a plain miss.
        assert_eq!(store.get(b"victim").unwrap(), None, "{what}");
        assert_consistent(&store);
        assert_reads(&store, b"neighbour", &text);
        assert_eq!(after.compressed_entries, 1, "{what}");
    }
    // Every read path reports it the same way.
    store.set(b"victim", &text, None).unwrap();
    let at = stored_at(&store, b"victim", text.len());
    file.write_all_at(&[0; 4], at + 8).unwrap();
    assert!(matches!(
        store.read_begin(b"victim", 0),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(!store.get_into(b"victim", &mut Vec::new()).unwrap());
    // A compare against a corrupt value matches nothing.
    store.set(b"victim", &text, None).unwrap();
    let at = stored_at(&store, b"victim", text.len());
    file.write_all_at(&[0; 4], at + 8).unwrap();
    assert!(!store.del_if(b"victim", &text).unwrap());
    assert!(!store
        .expire_if(b"victim", &text, Duration::from_secs(5))
        .unwrap());
    assert!(store
        .get_with(b"victim", |v| v.len())
        .is_err_and(|e| matches!(e, StoreError::Corrupt { .. })));
    assert_consistent(&store);
}

#[test]
fn a_corrupt_large_stream_is_a_miss_and_its_parts_go() {
    let dir = tempfile::tempdir().unwrap();
    let store = zstd(dir.path());
    // A stream longer than a part: its first part holds the prefix.
    let text = session_text(4 << 20);
    store.set(b"big", &text, None).unwrap();
    assert!(store.stats().unwrap().parts > 1);
    // The first part: the prefix, then the frame's magic number.
    let bytes = std::fs::read(store.path()).unwrap();
    let mut head = (text.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
    let at = bytes
        .windows(head.len())
        .position(|w| w == head)
        .expect("the stream's prefix") as u64;
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    file.write_all_at(&[0xff; 4], at + 8).unwrap();
    assert!(matches!(store.get(b"big"), Err(StoreError::Corrupt { .. })));
    assert_eq!(store.get(b"big").unwrap(), None);
    let stats = store.stats().unwrap();
    assert_eq!((stats.parts, stats.compressed_entries), (0, 0), "{stats:?}");
    assert_consistent(&store);
}

#[test]
fn compare_and_delete_or_expire_use_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let store = zstd_with_clock(dir.path(), &clock);
    let none = Store::open_with_clock(
        &config(dir.path()).compression_codec(Codec::None),
        Arc::new(clock.clone()),
    )
    .unwrap();
    // A session lock's token: short, so raw, compared in one step.
    store.set(b"lock", b"owner-1234", None).unwrap();
    assert!(!scan_entry(&store, b"lock").compressed);
    assert!(!store.del_if(b"lock", b"owner-9999").unwrap());
    assert!(store.del_if(b"lock", b"owner-1234").unwrap());
    for (key, n) in [(&b"inline"[..], 16usize << 10), (&b"large"[..], 4 << 20)] {
        let text = session_text(n);
        let mut other = text.clone();
        *other.last_mut().unwrap() ^= 1;
        store.set(key, &text, None).unwrap();
        assert!(scan_entry(&store, key).compressed);
        // Another value of the same length, a shorter one: no match.
        assert!(!store.del_if(key, &other).unwrap());
        assert!(!store.del_if(key, &text[..100]).unwrap());
        assert!(!store
            .expire_if(key, &other, Duration::from_secs(9))
            .unwrap());
        // The original bytes match, from a handle that does not compress too.
        assert!(none.expire_if(key, &text, Duration::from_secs(9)).unwrap());
        assert_eq!(store.ttl(key).unwrap(), Ttl::Remaining(9_000));
        assert!(none.del_if(key, &text).unwrap());
        assert_eq!(store.get(key).unwrap(), None);
        // And from the handle that compresses.
        store.set(key, &text, None).unwrap();
        assert!(store.del_if(key, &text).unwrap());
    }
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.entries, stats.parts, stats.compressed_entries),
        (0, 0, 0)
    );
    assert_consistent(&store);
}

#[test]
fn incr_of_a_compressed_value_is_not_an_integer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config(dir.path()).compression(Compression {
        min_size: 0,
        ..Compression::zstd()
    }))
    .unwrap();
    // A decimal integer that compresses: leading zeros.
    let number = format!("{}7", "0".repeat(200));
    store.set(b"n", number.as_bytes(), None).unwrap();
    assert!(scan_entry(&store, b"n").compressed);
    assert!(matches!(
        store.incr_by(b"n", 1),
        Err(StoreError::NotAnInteger)
    ));
    assert_eq!(store.get(b"n").unwrap().as_deref(), Some(number.as_bytes()));
    // The same number raw is one.
    let none = Store::open(&config(dir.path()).compression_codec(Codec::None)).unwrap();
    none.set(b"n", number.as_bytes(), None).unwrap();
    assert_eq!(store.incr_by(b"n", 1).unwrap(), 8);
    assert_consistent(&store);
}

#[test]
fn counters_follow_inserts_removals_expiry_and_flush() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let store = zstd_with_clock(dir.path(), &clock);
    let mut keys = Vec::new();
    for i in 0..40 {
        let key = format!("s:{i}");
        let value = session_text(1024 + i * 1500);
        let ttl = (i % 2 == 0).then(|| Duration::from_secs(10));
        store.set(key.as_bytes(), &value, ttl).unwrap();
        keys.push((key, value.len()));
    }
    let check = |store: &Store| {
        let (mut entries, mut raw, mut stored) = (0, 0, 0);
        store
            .scan(|e| {
                if e.compressed {
                    entries += 1;
                    raw += e.value_len as u64;
                    stored += e.stored_len as u64;
                }
            })
            .unwrap();
        let stats = store.stats().unwrap();
        assert_eq!(
            (
                stats.compressed_entries,
                stats.compressed_raw_bytes,
                stats.compressed_stored_bytes
            ),
            (entries, raw, stored)
        );
        let per_stripe: u64 = stats.stripes.iter().map(|s| s.compressed_entries).sum();
        assert_eq!(per_stripe, entries);
        assert_consistent(store);
        entries
    };
    assert_eq!(check(&store), 40);
    assert_eq!(
        store.stats().unwrap().compressed_raw_bytes,
        keys.iter().map(|k| k.1 as u64).sum::<u64>()
    );
    for (key, _) in keys.iter().take(5) {
        store.del(key.as_bytes()).unwrap();
    }
    store.set(keys[6].0.as_bytes(), b"raw now", None).unwrap();
    assert_eq!(check(&store), 34);
    clock.advance_ms(20_000);
    store.purge_expired().unwrap();
    // The even ones expired: 8, 10, ..., 38 of those left.
    assert_eq!(check(&store), 18);
    store.flush_all().unwrap();
    assert_eq!(check(&store), 0);
}

#[test]
fn a_rebuild_recounts_the_compression_counters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &StoreConfig::new("r")
            .dir(dir.path())
            .size(8 << 20)
            .stripes(1)
            .compression(Compression::zstd()),
    )
    .unwrap();
    for i in 0..20 {
        store
            .set(
                format!("k{i}").as_bytes(),
                &session_text(2048 * (i + 1)),
                None,
            )
            .unwrap();
    }
    store.set(b"raw", &noise(4096), None).unwrap();
    let before = store.stats().unwrap();
    assert_eq!(before.compressed_entries, 20);
    // The counters (the last words of the stripe's meta, after the mutex)
    // overwritten: verify finds them wrong, the rebuild recounts them.
    let counters = shm_store::SEGMENT_HEADER_SIZE as u64 + 128 + 864;
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    file.write_all_at(&[0x11; 24], counters).unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("compressed")),
        "{:?}",
        report.problems
    );
    let repaired = store.repair().unwrap();
    assert!(repaired.remaining.is_empty(), "{repaired:?}");
    let after = store.stats().unwrap();
    assert_eq!(after.recoveries, before.recoveries + 1);
    assert_eq!(
        (
            after.compressed_entries,
            after.compressed_raw_bytes,
            after.compressed_stored_bytes
        ),
        (
            before.compressed_entries,
            before.compressed_raw_bytes,
            before.compressed_stored_bytes
        )
    );
    assert_consistent(&store);
    assert_reads(&store, b"k7", &session_text(2048 * 8));
}
