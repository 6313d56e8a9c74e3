//! Damaged segments: random and targeted bytes of a store with data are
//! overwritten through the file, then every operation runs. The store must
//! diagnose, never panic and never hang: each case runs in a thread that must
//! finish within [`HANG_LIMIT`] (a hang, not a speed threshold), a panic
//! fails the thread. After the operations, `Store::repair` must leave a
//! store that `verify` finds consistent and that stores and returns values.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the default
//! (bounded so that the CI run stays short); see the README's testing section.

use proptest::prelude::*;
use shm_store::{Clock, ManualClock, Store, StoreConfig, StoreError};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A case that has not finished by then hangs.
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// Stripe lock bound of the handles under test (5 s by default): a damaged
/// mutex makes every operation on its stripe wait this long.
const LOCK_TIMEOUT: Duration = Duration::from_millis(20);
const KEYS: u32 = 120;
const SIZE: u64 = 256 << 10;
const STRIPES: u32 = 2;

// Offsets of the format (shm-store/src/layout.rs).
const PAGE: u64 = 4096;
/// Where stripe 0 starts: after the header page and the watch table.
const STRIPES_AT: u64 = shm_store::SEGMENT_HEADER_SIZE as u64;
const SLOT: u64 = 16;
const MUTEX_KIND: u64 = 16;
const META: u64 = 128;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where to write, relative to a region of a stripe (or the whole file).
#[derive(Debug, Clone)]
enum Hit {
    /// `bytes` at a fraction (of 2^32) of the whole file.
    Anywhere(u32, Vec<u8>),
    /// Into the stripe header's counters and free lists.
    Meta(u32, Vec<u8>),
    /// Into the slot index.
    Slots(u32, Vec<u8>),
    /// Into the heap.
    Heap(u32, Vec<u8>),
    /// A field (0..8, the u32 words of the header; 6 = expires_at low word)
    /// of the n-th block of the heap walk.
    BlockField(u32, u8, u32),
    /// The block offset of the n-th occupied slot.
    SlotBlock(u32, u32),
    /// The mutex's lock word (a holder that does not exist) or its kind.
    MutexWord(bool, u32),
    /// Random bytes over the mutex.
    MutexBytes(u8, Vec<u8>),
}

fn interesting() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(16),
        Just(0x7fff_ffff),
        Just(u32::MAX),
        Just(u32::MAX - 15),
        Just((SIZE / 4) as u32),
        any::<u32>(),
        (0u32..4096).prop_map(|n| n * 16),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..16),
        (1usize..64).prop_map(|n| vec![0xFF; n]),
        (1usize..64).prop_map(|n| vec![0; n]),
    ]
}

fn hit() -> impl Strategy<Value = Hit> {
    prop_oneof![
        2 => (any::<u32>(), bytes()).prop_map(|(a, b)| Hit::Anywhere(a, b)),
        2 => (any::<u32>(), bytes()).prop_map(|(a, b)| Hit::Meta(a, b)),
        2 => (any::<u32>(), bytes()).prop_map(|(a, b)| Hit::Slots(a, b)),
        2 => (any::<u32>(), bytes()).prop_map(|(a, b)| Hit::Heap(a, b)),
        4 => (any::<u32>(), 0u8..8, interesting()).prop_map(|(n, f, v)| Hit::BlockField(n, f, v)),
        2 => (any::<u32>(), interesting()).prop_map(|(n, v)| Hit::SlotBlock(n, v)),
        1 => (any::<bool>(), prop_oneof![
                Just(0x3fff_fff0u32), Just(0x4000_0000 | 0x3fff_fff0), any::<u32>()
            ]).prop_map(|(k, v)| Hit::MutexWord(k, v)),
        1 => (0u8..40, bytes()).prop_map(|(o, b)| Hit::MutexBytes(o, b)),
    ]
}

fn key(i: u32) -> Vec<u8> {
    format!("key:{i}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; 10 + (i as usize * 97) % 1500]
}

/// A store with data, some of it with a TTL that the clock then passes.
fn filled(dir: &Path, clock: &ManualClock) -> Store {
    let cfg = StoreConfig::new("d").dir(dir).size(SIZE).stripes(STRIPES);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    for i in 0..KEYS {
        let ttl = match i % 4 {
            0 => Some(Duration::from_millis(500)),
            1 => Some(Duration::from_secs(3600)),
            _ => None,
        };
        store.set(&key(i), &value(i), ttl).unwrap();
    }
    for i in (0..KEYS).step_by(7) {
        store.del(&key(i)).unwrap();
    }
    store.set(b"counter", b"41", None).unwrap();
    assert!(store.verify().unwrap().is_ok());
    store
}

/// Writes the damage through the file (the mapping sees it at once).
fn damage(path: &Path, store: &Store, hits: &[Hit]) {
    let g = store.geometry();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let read_u32 = |off: u64| {
        let mut b = [0u8; 4];
        file.read_exact_at(&mut b, off).unwrap();
        u32::from_ne_bytes(b)
    };
    let scale = |frac: u32, len: u64| (frac as u64 * len) >> 32;
    for (n, hit) in hits.iter().enumerate() {
        let stripe = STRIPES_AT + (n as u64 % g.stripes as u64) * g.stripe_stride;
        let slots = stripe + PAGE;
        let slots_len = g.slots_per_stripe as u64 * SLOT;
        let heap = slots + slots_len;
        let (off, data): (u64, Vec<u8>) = match hit {
            Hit::Anywhere(a, b) => (scale(*a, g.total_size), b.clone()),
            Hit::Meta(a, b) => (stripe + META + scale(*a, PAGE - META - 64), b.clone()),
            Hit::Slots(a, b) => (slots + scale(*a, slots_len), b.clone()),
            Hit::Heap(a, b) => (heap + scale(*a, g.heap_size as u64), b.clone()),
            Hit::BlockField(nth, field, v) => {
                // Walk the heap by block sizes to the nth block (or the last).
                let (mut at, mut blocks) = (0u64, Vec::new());
                while at + 32 <= g.heap_size as u64 && blocks.len() < 4096 {
                    blocks.push(at);
                    let size = read_u32(heap + at) as u64;
                    if size < 32 {
                        break;
                    }
                    at += size;
                }
                let block = blocks[*nth as usize % blocks.len()];
                (heap + block + *field as u64 * 4, v.to_ne_bytes().to_vec())
            }
            Hit::SlotBlock(nth, v) => {
                let occupied: Vec<u64> = (0..g.slots_per_stripe as u64)
                    .map(|i| slots + i * SLOT)
                    .filter(|&s| read_u32(s) != 0 || read_u32(s + 4) != 0)
                    .collect();
                if occupied.is_empty() {
                    continue;
                }
                let slot = occupied[*nth as usize % occupied.len()];
                (slot + 8, v.to_ne_bytes().to_vec())
            }
            Hit::MutexWord(kind, v) => {
                let at = if *kind { MUTEX_KIND } else { 0 };
                (stripe + at, v.to_ne_bytes().to_vec())
            }
            Hit::MutexBytes(o, b) => (stripe + *o as u64, b.iter().copied().take(8).collect()),
        };
        let end = (off + data.len() as u64).min(g.total_size);
        file.write_all_at(&data[..(end - off) as usize], off)
            .unwrap();
    }
}

/// Every operation, on every key, then a repair: what must hold afterwards.
fn exercise(dir: &Path, clock: &ManualClock) -> Result<(), String> {
    let store = match Store::open_with_clock(
        &StoreConfig::new("d").dir(dir).size(SIZE).stripes(STRIPES),
        Arc::new(clock.clone()),
    ) {
        // A damaged header is refused at open: diagnosed, nothing more to run.
        Err(_) => return Ok(()),
        Ok(s) => s.with_lock_timeout(LOCK_TIMEOUT),
    };
    clock.advance_ms(1000);
    for i in 0..KEYS {
        let k = key(i);
        let _ = store.get(&k);
        let _ = store.exists(&k);
        let _ = store.ttl(&k);
        match i % 5 {
            0 => drop(store.set(&k, &value(i + 1), None)),
            1 => drop(store.del(&k)),
            2 => drop(store.expire(&k, Duration::from_secs(10))),
            3 => drop(store.del_if(&k, &value(i))),
            _ => drop(store.setnx(&k, b"nx", Some(Duration::from_millis(10)))),
        }
    }
    let _ = store.incr_by(b"counter", 1);
    let _ = store.scan(|_| {});
    let _ = store.stats();
    let _ = store.verify();
    clock.advance_ms(100);
    for i in 0..KEYS / 2 {
        let _ = store.set(&key(i + 1000), &value(i), Some(Duration::from_millis(50)));
    }

    match store.repair() {
        Ok(_) => {}
        // A lock word damaged into the id of a thread that exists (pid 1...).
        Err(StoreError::LockHeld { .. }) => return Ok(()),
        Err(e) => return Err(format!("repair failed: {e}")),
    }
    let report = store.verify().map_err(|e| format!("verify: {e}"))?;
    if !report.is_ok() {
        return Err(format!("after repair: {:?}", report.problems));
    }
    for i in 0..20 {
        let k = format!("after:{i}");
        store
            .set(k.as_bytes(), &value(i), None)
            .map_err(|e| format!("set after repair: {e}"))?;
        let got = store.get(k.as_bytes()).map_err(|e| format!("get: {e}"))?;
        if got != Some(value(i)) {
            return Err(format!("{k} read back {got:?}"));
        }
    }
    store.flush_all().map_err(|e| format!("flush: {e}"))?;
    if !store.verify().map_err(|e| format!("verify: {e}"))?.is_ok() {
        return Err("inconsistent after flush".into());
    }
    Ok(())
}

/// Runs `exercise` in a thread: a panic or a hang fails the case.
fn run_bounded(dir: &Path, clock: ManualClock) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    let handle = std::thread::spawn(move || {
        let result = exercise(&dir, &clock);
        let _ = tx.send(());
        result
    });
    match rx.recv_timeout(HANG_LIMIT) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => {} // it panicked
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(format!("the operations hung (> {HANG_LIMIT:?})"));
        }
    }
    match handle.join() {
        Ok(result) => result,
        Err(_) => Err("an operation panicked".into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(96),
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_segment_never_panics_or_hangs(hits in prop::collection::vec(hit(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000_000);
        let store = filled(dir.path(), &clock);
        damage(store.path(), &store, &hits);
        drop(store);
        let outcome = run_bounded(dir.path(), clock);
        prop_assert!(outcome.is_ok(), "{:?}: {}", hits, outcome.unwrap_err());
    }
}

/// The reproduction of the issue: `key_len = 0x7fffffff` in a live block.
#[test]
fn huge_key_len_is_a_damaged_miss_and_the_stripe_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::new("k").dir(dir.path()).size(SIZE).stripes(1)).unwrap();
    store.set(b"victim", b"value", None).unwrap();
    store.set(b"other", b"kept", None).unwrap();
    // The first block of the heap is the victim's: its key_len is word 4.
    let g = store.geometry();
    let heap = STRIPES_AT + PAGE + g.slots_per_stripe as u64 * SLOT;
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    file.write_all_at(&0x7fff_ffffu32.to_ne_bytes(), heap + 16)
        .unwrap();
    assert!(!store.verify().unwrap().is_ok());
    match store.get(b"victim") {
        Err(StoreError::Damaged {
            stripe: 0, detail, ..
        }) => {
            assert!(detail.contains("broken block"), "{detail}")
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    // Rebuilt at once: the damaged entry is gone, the other one is intact.
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.get(b"victim").unwrap(), None);
    assert_eq!(store.get(b"other").unwrap(), Some(b"kept".to_vec()));
    assert_eq!(store.stats().unwrap().recoveries, 1);
}

/// A lock word naming a thread that does not exist: operations give up
/// after the bound with the "unusable" error, `repair` takes the lock over.
#[test]
fn lock_held_by_no_one_times_out_and_repair_takes_it_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::new("m").dir(dir.path()).size(SIZE).stripes(1))
        .unwrap()
        .with_lock_timeout(Duration::from_millis(200));
    store.set(b"k", b"v", None).unwrap();
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    file.write_all_at(&0x3fff_fff0u32.to_ne_bytes(), STRIPES_AT)
        .unwrap();
    // Reads take no lock and still work; what locks gives up.
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    for result in [
        store.set(b"k", b"w", None),
        store.stats().map(|_| ()),
        store.scan(|_| {}),
    ] {
        let e = result.unwrap_err();
        assert!(
            matches!(e, StoreError::LockUnusable { stripe: 0, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("ephpm-shm verify --repair m"), "{e}");
    }
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("unusable"),
        "{:?}",
        report.problems
    );

    let repaired = store.repair().unwrap();
    assert!(
        repaired
            .repaired
            .iter()
            .any(|l| l.contains("re-initialised")),
        "{:?}",
        repaired.repaired
    );
    assert!(repaired.remaining.is_empty(), "{:?}", repaired.remaining);
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
}

/// A lock held by a live thread is not taken over.
#[test]
fn repair_refuses_a_lock_whose_holder_is_alive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::new("h").dir(dir.path()).size(SIZE).stripes(1))
        .unwrap()
        .with_lock_timeout(Duration::from_millis(100));
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    // Our own process id: a thread that exists, named as holder.
    file.write_all_at(&std::process::id().to_ne_bytes(), STRIPES_AT)
        .unwrap();
    match store.repair() {
        Err(StoreError::LockHeld { stripe: 0, tid, .. }) => assert_eq!(tid, std::process::id()),
        other => panic!("expected LockHeld, got {other:?}"),
    }
}

/// Garbled mutex bytes (its kind word) are refused at once, then repaired.
#[test]
fn garbled_mutex_is_unusable_at_once_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::new("g").dir(dir.path()).size(SIZE).stripes(1)).unwrap();
    store.set(b"k", b"v", None).unwrap();
    let file = OpenOptions::new().write(true).open(store.path()).unwrap();
    file.write_all_at(&[0xA5; 8], STRIPES_AT + MUTEX_KIND)
        .unwrap();
    // Reads take no lock: they still work; the first write is refused.
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    let e = store.set(b"k", b"w", None).unwrap_err();
    assert!(e.to_string().contains("not a robust shared mutex"), "{e}");
    store.repair().unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert!(store.verify().unwrap().is_ok());
}

/// A reader of `get_with` that panics runs with no stripe lock held (the
/// value is read without it): nothing is left locked or to rebuild.
#[test]
fn a_panicking_reader_holds_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1000);
    let store = Arc::new(
        Store::open_with_clock(
            &StoreConfig::new("p").dir(dir.path()).size(SIZE).stripes(1),
            Arc::new(clock.clone()),
        )
        .unwrap(),
    );
    store.set(b"k", b"v", None).unwrap();
    let s = store.clone();
    let panicked = std::thread::spawn(move || {
        let _ = s.get_with(b"k", |_| panic!("reader panics"));
    })
    .join();
    assert!(panicked.is_err());
    assert_eq!(store.stats().unwrap().recoveries, 0);
    store.set(b"k2", b"w", None).unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(clock.now_ms(), 1000);
}
