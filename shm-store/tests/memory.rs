//! Memory behaviour: churn without fragmentation failure, eviction policies,
//! the incremental expiry sweep, limits.

use shm_store::{Clock, EvictionPolicy, ManualClock, Store, StoreConfig, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Session-like sizes: 100 B to 16 KiB, log-uniform.
    fn session_size(&mut self) -> usize {
        let log = 100f64.ln() + (self.next() % 10_000) as f64 / 10_000.0 * (16384f64 / 100.0).ln();
        log.exp() as usize
    }
}

fn store(dir: &tempfile::TempDir, size: u64, policy: EvictionPolicy) -> Store {
    let cfg = StoreConfig::new("mem")
        .dir(dir.path())
        .size(size)
        .eviction(policy);
    Store::open(&cfg).unwrap()
}

fn value_for(key: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (key as usize * 31 + i) as u8).collect()
}

fn assert_consistent(store: &Store) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}

/// Filled past capacity and churned with mixed session sizes, the default
/// policy keeps accepting every write, never wipes, and stays consistent.
#[test]
fn lru_churn_keeps_accepting_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, 8 << 20, EvictionPolicy::AllKeysLru);
    let mut rng = Rng(0x1234_5678);
    for i in 0..60_000u64 {
        let key = rng.next() % 5000;
        let len = rng.session_size();
        store
            .set(format!("sess:{key}").as_bytes(), &value_for(key, len), None)
            .unwrap_or_else(|e| panic!("write {i} of {len} bytes refused: {e}"));
        if i % 10_000 == 0 {
            assert_consistent(&store);
        }
    }
    let stats = store.stats().unwrap();
    assert!(stats.evictions > 0, "the test never filled the store");
    // Never a wipe: the store holds a good share of what fits.
    assert!(
        stats.bytes_used * 10 > (stats.bytes_used + stats.bytes_free) * 6,
        "only {} of {} bytes in use after churn",
        stats.bytes_used,
        stats.bytes_used + stats.bytes_free
    );
    // What is there is right.
    let mut checked = 0;
    store
        .scan(|e| {
            let key: u64 = std::str::from_utf8(&e.key[5..]).unwrap().parse().unwrap();
            assert_eq!(
                store.get(&e.key).unwrap().unwrap(),
                value_for(key, e.value_len)
            );
            checked += 1;
        })
        .unwrap();
    assert_eq!(checked as u64, stats.entries);
    assert_consistent(&store);
}

/// Without eviction, churn that keeps the live data at about 60% of the
/// space never fails for lack of a contiguous block.
#[test]
fn noeviction_churn_does_not_fragment_into_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, 8 << 20, EvictionPolicy::NoEviction);
    let stats = store.stats().unwrap();
    let capacity = stats.bytes_free;
    let budget = capacity * 6 / 10;
    let mut rng = Rng(0x9abc_def0);
    let mut live: HashMap<u64, usize> = HashMap::new();
    let mut live_bytes = 0u64;
    for next_key in 0..60_000u64 {
        let len = rng.session_size();
        let cost = len as u64 + 64;
        while live_bytes + cost > budget {
            let victim = *live.keys().nth(rng.next() as usize % live.len()).unwrap();
            let vlen = live.remove(&victim).unwrap();
            live_bytes -= vlen as u64 + 64;
            assert!(store.del(format!("s{victim}").as_bytes()).unwrap());
        }
        store
            .set(
                format!("s{next_key}").as_bytes(),
                &value_for(next_key, len),
                None,
            )
            .unwrap_or_else(|e| {
                panic!("write {next_key} refused at {live_bytes} of {capacity} bytes: {e}")
            });
        live.insert(next_key, len);
        live_bytes += cost;
    }
    for (&key, &len) in &live {
        assert_eq!(
            store.get(format!("s{key}").as_bytes()).unwrap().unwrap(),
            value_for(key, len)
        );
    }
    assert_eq!(store.stats().unwrap().evictions, 0);
    assert_consistent(&store);
}

/// `noeviction` refuses with `Full` and loses nothing already stored.
#[test]
fn noeviction_refuses_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, 1 << 20, EvictionPolicy::NoEviction);
    let mut stored = 0u64;
    loop {
        match store.set(format!("k{stored}").as_bytes(), &[7; 4000], None) {
            Ok(()) => stored += 1,
            Err(StoreError::Full { .. }) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(stored < 1000, "a 1 MiB store took 4 MB");
    }
    assert!(stored > 100);
    for i in 0..stored {
        assert!(
            store.exists(format!("k{i}").as_bytes()).unwrap(),
            "k{i} lost"
        );
    }
    assert_consistent(&store);
}

/// `volatile-lru` evicts only keys with a TTL, and refuses once none is left.
#[test]
fn volatile_lru_spares_persistent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, 1 << 20, EvictionPolicy::VolatileLru);
    let ttl = Some(Duration::from_secs(3600));
    for i in 0..80 {
        store
            .set(format!("keep{i}").as_bytes(), &[1; 4000], None)
            .unwrap();
    }
    let mut refused = false;
    for i in 0..2000 {
        match store.set(format!("tmp{i}").as_bytes(), &[2; 4000], ttl) {
            Ok(()) => {}
            Err(StoreError::Full { .. }) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(store.stats().unwrap().evictions > 0);
    for i in 0..80 {
        assert!(
            store.exists(format!("keep{i}").as_bytes()).unwrap(),
            "keep{i} evicted"
        );
    }
    // Filling with persistent keys only must end in a refusal, not an eviction of them.
    let mut i = 0;
    while !refused {
        match store.set(format!("more{i}").as_bytes(), &[3; 4000], None) {
            Ok(()) => i += 1,
            Err(StoreError::Full { .. }) => refused = true,
            Err(e) => panic!("{e}"),
        }
        assert!(i < 1000);
    }
    for i in 0..80 {
        assert!(store.exists(format!("keep{i}").as_bytes()).unwrap());
    }
    assert_consistent(&store);
}

/// Expired entries go before live ones, even under `allkeys-lru`.
#[test]
fn expired_entries_are_evicted_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let cfg = StoreConfig::new("mem")
        .dir(dir.path())
        .size(1 << 20)
        .stripes(1);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    let mut n = 0;
    while store.stats().unwrap().bytes_free > 200_000 {
        store
            .set(format!("live{n}").as_bytes(), &[1; 2000], None)
            .unwrap();
        n += 1;
    }
    for i in 0..80 {
        store
            .set(
                format!("short{i}").as_bytes(),
                &[2; 2000],
                Some(Duration::from_millis(10)),
            )
            .unwrap();
    }
    clock.advance_ms(20);
    for i in 0..60 {
        store
            .set(format!("new{i}").as_bytes(), &[3; 2000], None)
            .unwrap();
    }
    let stats = store.stats().unwrap();
    assert_eq!(
        stats.evictions, 0,
        "a live key was evicted while expired ones remained"
    );
    assert!(stats.expirations > 0);
    for i in 0..n {
        assert!(store.exists(format!("live{i}").as_bytes()).unwrap());
    }
    assert_consistent(&store);
}

/// Writers reclaim expired keys they never touch (the incremental sweep).
#[test]
fn writers_sweep_expired_keys() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let cfg = StoreConfig::new("mem")
        .dir(dir.path())
        .size(4 << 20)
        .stripes(1);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    for i in 0..2000 {
        store
            .set(
                format!("old{i}").as_bytes(),
                b"x",
                Some(Duration::from_millis(5)),
            )
            .unwrap();
    }
    assert_eq!(store.stats().unwrap().entries, 2000);
    clock.advance_ms(10);
    let slots = store.stats().unwrap().stripes[0].slots;
    // Each write looks at a few slots: enough writes cover the table.
    for i in 0..slots {
        store.set(b"writer", &i.to_le_bytes(), None).unwrap();
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.entries, 1, "expired keys were not swept");
    assert_eq!(stats.expirations, 2000);
    assert_consistent(&store);
    assert!(clock.now_ms() > 1_000_000);
}

/// Expiry is exact to the millisecond and `ttl` rounds up.
#[test]
fn millisecond_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(5_000);
    let cfg = StoreConfig::new("mem").dir(dir.path()).size(1 << 20);
    let store = Store::open_with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    store
        .set(b"k", b"v", Some(Duration::from_millis(1500)))
        .unwrap();
    assert_eq!(store.ttl(b"k").unwrap().as_seconds_code(), 2);
    clock.advance_ms(1499);
    assert_eq!(store.ttl(b"k").unwrap().as_millis_code(), 1);
    assert_eq!(store.ttl(b"k").unwrap().as_seconds_code(), 1);
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    clock.advance_ms(1);
    assert_eq!(store.get(b"k").unwrap(), None);
    assert_eq!(store.ttl(b"k").unwrap().as_millis_code(), -2);
    store.set(b"p", b"v", None).unwrap();
    assert_eq!(store.ttl(b"p").unwrap().as_seconds_code(), -1);
}

#[test]
fn key_and_value_limits_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, 1 << 20, EvictionPolicy::AllKeysLru);
    let g = store.geometry();
    assert!(matches!(
        store.set(b"", b"v", None),
        Err(StoreError::EmptyKey)
    ));
    let long = vec![b'k'; g.max_key_len as usize + 1];
    assert!(matches!(
        store.get(&long),
        Err(StoreError::KeyTooLong { .. })
    ));
    let big = vec![0; g.max_value_len as usize + 1];
    assert!(matches!(
        store.set(b"k", &big, None),
        Err(StoreError::ValueTooLarge { .. })
    ));
    // The longest key and the largest value kept in one block fit together.
    let key = vec![b'k'; g.max_key_len as usize];
    let value = vec![9; g.part_len as usize];
    store.set(&key, &value, None).unwrap();
    assert_eq!(store.get(&key).unwrap().unwrap(), value);
    assert_consistent(&store);
}

#[test]
fn binary_values_and_keys_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, 1 << 20, EvictionPolicy::AllKeysLru);
    let all: Vec<u8> = (0..=255).collect();
    store.set(&all, &all, None).unwrap();
    store.set(b"\0", b"", None).unwrap();
    assert_eq!(store.get(&all).unwrap().unwrap(), all);
    assert_eq!(store.get(b"\0").unwrap().unwrap(), b"");
}

/// `allkeys-random` picks its victims uniformly: when a full store takes
/// half as many new keys again, a good part of the oldest keys survive
/// (about e^-1/2 = 61 %; under `allkeys-lru` some 16 %), and it never
/// refuses a write.
#[test]
fn allkeys_random_evicts_uniformly() {
    let survivors_of_the_oldest_half = |policy| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig::new("rnd")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1)
            .eviction(policy);
        let store = Store::open(&cfg).unwrap();
        let value = [3u8; 400];
        let mut n = 0u32;
        while store.stats().unwrap().evictions == 0 {
            store.set(format!("k{n}").as_bytes(), &value, None).unwrap();
            n += 1;
        }
        for i in 0..n / 2 {
            store
                .set(format!("new{i}").as_bytes(), &value, None)
                .unwrap();
        }
        assert_consistent(&store);
        (0..n / 2)
            .filter(|i| store.exists(format!("k{i}").as_bytes()).unwrap())
            .count() as f64
            / (n / 2) as f64
    };
    let random = survivors_of_the_oldest_half(EvictionPolicy::AllKeysRandom);
    let lru = survivors_of_the_oldest_half(EvictionPolicy::AllKeysLru);
    eprintln!("survivors of the oldest half: allkeys-random {random:.2}, allkeys-lru {lru:.2}");
    assert!(
        random > 0.45,
        "allkeys-random kept {random:.2} of the oldest half"
    );
    assert!(lru < 0.35, "allkeys-lru kept {lru:.2} of the oldest half");
    assert_eq!(
        "allkeys-random".parse::<EvictionPolicy>().unwrap(),
        EvictionPolicy::AllKeysRandom
    );
}

/// The eviction policy is the store's: recorded by its creator, applied to
/// every opener whatever it asks for (`policy_asked` says what it asked),
/// and seen by `attach`.
#[test]
fn the_policy_belongs_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |policy| {
        StoreConfig::new("owned")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1)
            .eviction(policy)
    };
    let creator = Store::open(&cfg(EvictionPolicy::NoEviction)).unwrap();
    assert_eq!(creator.policy(), EvictionPolicy::NoEviction);
    assert_eq!(creator.policy_asked(), None);
    let other = Store::open(&cfg(EvictionPolicy::AllKeysLru)).unwrap();
    assert!(!other.created());
    assert_eq!(other.policy(), EvictionPolicy::NoEviction);
    assert_eq!(other.policy_asked(), Some(EvictionPolicy::AllKeysLru));
    // It evicts by the store's rule: a full store refuses its writes.
    let value = [5u8; 1000];
    let refused =
        (0..5000u32).find_map(|i| other.set(format!("k{i}").as_bytes(), &value, None).err());
    assert!(
        matches!(
            refused,
            Some(StoreError::Full {
                policy: "noeviction",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(other.stats().unwrap().evictions, 0);
    let seen = Store::attach(dir.path(), "owned").unwrap();
    assert_eq!(seen.policy(), EvictionPolicy::NoEviction);
    assert_consistent(&other);
}
