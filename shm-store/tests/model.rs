//! Random operation sequences against a plain in-memory model, with a
//! controllable clock for TTL.

use proptest::prelude::*;
use shm_store::{
    Clock, Compression, EvictionPolicy, ManualClock, Store, StoreConfig, StoreError, Ttl,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, Vec<u8>, u64),
    SetNx(u8, Vec<u8>, u64),
    Get(u8),
    Del(u8),
    Exists(u8),
    IncrBy(u8, i64),
    Expire(u8, u64),
    Ttl(u8),
    Advance(u64),
    FlushAll,
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        Just(i64::MAX.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<u8>(), 1000..5000),
        // Text that compresses (letters, so never a decimal integer).
        (64usize..5000, b'a'..=b'z')
            .prop_map(|(n, b)| { (0..n).map(|i| if i % 7 == 0 { b'x' } else { b }).collect() }),
    ]
}

fn ttl_ms() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..3000]
}

fn op(keys: u8) -> impl Strategy<Value = Op> {
    let k = 0..keys;
    prop_oneof![
        4 => (k.clone(), value(), ttl_ms()).prop_map(|(k, v, t)| Op::Set(k, v, t)),
        1 => (k.clone(), value(), ttl_ms()).prop_map(|(k, v, t)| Op::SetNx(k, v, t)),
        4 => k.clone().prop_map(Op::Get),
        1 => k.clone().prop_map(Op::Del),
        1 => k.clone().prop_map(Op::Exists),
        2 => (k.clone(), prop_oneof![-5i64..5, Just(i64::MAX), Just(i64::MIN)])
            .prop_map(|(k, d)| Op::IncrBy(k, d)),
        1 => (k.clone(), ttl_ms()).prop_map(|(k, t)| Op::Expire(k, t)),
        1 => k.prop_map(Op::Ttl),
        2 => (0u64..2000).prop_map(Op::Advance),
        1 => Just(Op::FlushAll),
    ]
}

/// The model: key -> (value, absolute expiry in ms or 0).
#[derive(Default)]
struct Model {
    map: HashMap<Vec<u8>, (Vec<u8>, u64)>,
}

impl Model {
    fn live(&mut self, key: &[u8], now: u64) -> Option<&mut (Vec<u8>, u64)> {
        if matches!(self.map.get(key), Some((_, at)) if *at != 0 && *at <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }
}

fn key_bytes(k: u8) -> Vec<u8> {
    // Some keys share a prefix, one is binary with a NUL.
    match k % 4 {
        0 => format!("session:{k}").into_bytes(),
        1 => vec![k, 0, 255, k],
        _ => format!("k{k}").into_bytes(),
    }
}

fn expiry(now: u64, ttl: u64) -> u64 {
    if ttl == 0 {
        0
    } else {
        now + ttl
    }
}

fn dur(ms: u64) -> Option<Duration> {
    Some(Duration::from_millis(ms))
}

fn open(dir: &tempfile::TempDir, size: u64, policy: EvictionPolicy, clock: &ManualClock) -> Store {
    let cfg = StoreConfig::new("model")
        .dir(dir.path())
        .size(size)
        .stripes(2)
        .eviction(policy);
    Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap()
}

/// Runs `ops` against a store with room to spare (no eviction) and the
/// model, comparing every answer.
fn run_model(ops: Vec<Op>, compression: Compression) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let store = Store::open_with_clock(
        &StoreConfig::new("model")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(2)
            .eviction(EvictionPolicy::NoEviction)
            .compression(compression),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut model = Model::default();
    for op in ops {
        let now = clock.now_ms();
        match op {
            Op::Set(k, v, t) => {
                store.set(&key_bytes(k), &v, dur(t)).unwrap();
                model.map.insert(key_bytes(k), (v, expiry(now, t)));
            }
            Op::SetNx(k, v, t) => {
                let inserted = store.setnx(&key_bytes(k), &v, dur(t)).unwrap();
                let absent = model.live(&key_bytes(k), now).is_none();
                prop_assert_eq!(inserted, absent);
                if absent {
                    model.map.insert(key_bytes(k), (v, expiry(now, t)));
                }
            }
            Op::Get(k) => {
                let want = model.live(&key_bytes(k), now).map(|e| e.0.clone());
                prop_assert_eq!(store.get(&key_bytes(k)).unwrap(), want);
            }
            Op::Del(k) => {
                let had = model.live(&key_bytes(k), now).is_some();
                model.map.remove(&key_bytes(k));
                prop_assert_eq!(store.del(&key_bytes(k)).unwrap(), had);
            }
            Op::Exists(k) => {
                let had = model.live(&key_bytes(k), now).is_some();
                prop_assert_eq!(store.exists(&key_bytes(k)).unwrap(), had);
            }
            Op::IncrBy(k, d) => {
                let got = store.incr_by(&key_bytes(k), d);
                match model.live(&key_bytes(k), now) {
                    None => {
                        prop_assert_eq!(got.unwrap(), d);
                        model
                            .map
                            .insert(key_bytes(k), (d.to_string().into_bytes(), 0));
                    }
                    Some(entry) => {
                        let parsed = std::str::from_utf8(&entry.0)
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok());
                        match parsed.map(|n| n.checked_add(d)) {
                            None => prop_assert!(
                                matches!(got, Err(StoreError::NotAnInteger)),
                                "{:?}",
                                got
                            ),
                            Some(None) => {
                                prop_assert!(matches!(got, Err(StoreError::Overflow)), "{:?}", got)
                            }
                            Some(Some(n)) => {
                                prop_assert_eq!(got.unwrap(), n);
                                entry.0 = n.to_string().into_bytes();
                            }
                        }
                    }
                }
            }
            Op::Expire(k, t) => {
                let applied = store
                    .expire(&key_bytes(k), Duration::from_millis(t))
                    .unwrap();
                let want = match model.live(&key_bytes(k), now) {
                    Some(entry) if t > 0 => {
                        entry.1 = now + t;
                        true
                    }
                    _ => false,
                };
                prop_assert_eq!(applied, want);
            }
            Op::Ttl(k) => {
                let want = match model.live(&key_bytes(k), now) {
                    None => Ttl::Missing,
                    Some((_, 0)) => Ttl::Persistent,
                    Some((_, at)) => Ttl::Remaining(*at - now),
                };
                prop_assert_eq!(store.ttl(&key_bytes(k)).unwrap(), want);
            }
            Op::Advance(ms) => clock.advance_ms(ms),
            Op::FlushAll => {
                store.flush_all().unwrap();
                model.map.clear();
            }
        }
    }
    let report = store.verify().unwrap();
    prop_assert!(report.is_ok(), "{:?}", report.problems);
    let now = clock.now_ms();
    let live = model
        .map
        .values()
        .filter(|(_, at)| *at == 0 || *at > now)
        .count();
    let mut scanned = 0;
    store.scan(|_| scanned += 1).unwrap();
    prop_assert_eq!(scanned, live);
    // Every key deleted, nothing is left in use: the blocks that deletes,
    // replacements and expiry retired are all accounted for as free.
    for k in 0..=u8::MAX {
        store.del(&key_bytes(k)).unwrap();
    }
    let total = store.stats().unwrap().total;
    prop_assert_eq!((total.entries, total.bytes_used), (0, 0));
    let report = store.verify().unwrap();
    prop_assert!(report.is_ok(), "{:?}", report.problems);
    Ok(())
}

/// Cases per property: `PROPTEST_CASES` (the longer fuzz run, see the
/// README's testing section) or the bounded default of the CI run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// With room to spare and no eviction, the store answers exactly as the model.
    #[test]
    fn behaves_like_a_map_with_ttl(ops in prop::collection::vec(op(40), 1..400)) {
        run_model(ops, Compression::default())?;
    }

    /// The same with zstd from 64 bytes: compressed and raw entries mixed,
    /// every answer the model's.
    #[test]
    fn behaves_like_a_map_when_compressing(ops in prop::collection::vec(op(40), 1..400)) {
        run_model(ops, Compression { min_size: 64, ..Compression::zstd() })?;
    }

    /// Under memory pressure with eviction, the store may forget keys but
    /// never returns a value that was not the latest one written.
    #[test]
    fn eviction_forgets_but_never_lies(ops in prop::collection::vec(op(200), 1..600)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000_000);
        // Two stripes of 54 KiB: the header (the watch table) and 108 KiB.
        let size = shm_store::SEGMENT_HEADER_SIZE as u64 + (108 << 10);
        let store = open(&dir, size, EvictionPolicy::AllKeysLru, &clock);
        let mut model = Model::default();
        for op in ops {
            let now = clock.now_ms();
            match op {
                Op::Set(k, v, t) | Op::SetNx(k, v, t) => {
                    store.del(&key_bytes(k)).unwrap();
                    store.set(&key_bytes(k), &v, dur(t)).unwrap();
                    model.map.insert(key_bytes(k), (v, expiry(now, t)));
                }
                Op::Get(k) | Op::Exists(k) | Op::Ttl(k) | Op::IncrBy(k, _) | Op::Expire(k, _) | Op::Del(k) => {
                    if let Some(got) = store.get(&key_bytes(k)).unwrap() {
                        let want = model.live(&key_bytes(k), now).map(|e| e.0.clone());
                        prop_assert_eq!(Some(got), want);
                    }
                }
                Op::Advance(ms) => clock.advance_ms(ms),
                Op::FlushAll => {}
            }
        }
        let report = store.verify().unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problems);
    }
}
