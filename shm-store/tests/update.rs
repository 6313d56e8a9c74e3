//! `Store::update`: a read-modify-write in one step under the stripe lock.

use shm_store::{Compression, Store, StoreConfig, Ttl, Update, UpdateTtl};
use std::sync::Arc;
use std::time::Duration;

fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig::new("u").dir(dir).size(8 << 20).stripes(2)).unwrap()
}

fn append(store: &Store, key: &[u8], tail: &[u8]) -> Option<usize> {
    store
        .update(key, |old| {
            let mut value = old.map_or_else(Vec::new, <[u8]>::to_vec);
            value.extend_from_slice(tail);
            let len = value.len();
            (
                Update::Set {
                    value,
                    ttl: UpdateTtl::Keep,
                },
                len,
            )
        })
        .unwrap()
}

#[test]
fn concurrent_appends_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    assert!(append(&s, b"log", b"x").is_some());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.get(b"log").unwrap().unwrap().len(), 4000);
}

#[test]
fn ttls_are_kept_replaced_or_removed_and_missing_keys_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .set(b"k", b"a", Some(Duration::from_secs(100)))
        .unwrap();
    assert_eq!(append(&store, b"k", b"b"), Some(2));
    assert!(matches!(store.ttl(b"k").unwrap(), Ttl::Remaining(ms) if ms > 98_000));
    let seen = store
        .update(b"k", |old| {
            let old = old.map(<[u8]>::to_vec);
            (
                Update::Set {
                    value: b"c".to_vec(),
                    ttl: UpdateTtl::Persist,
                },
                old,
            )
        })
        .unwrap();
    assert_eq!(seen, Some(Some(b"ab".to_vec())));
    assert_eq!(store.ttl(b"k").unwrap(), Ttl::Persistent);
    let seen = store
        .update(b"absent", |old| (Update::Keep, old.is_some()))
        .unwrap();
    assert_eq!(seen, Some(false));
    assert_eq!(store.get(b"absent").unwrap(), None);
    store.update(b"k", |_| (Update::Delete, ())).unwrap();
    assert_eq!(store.get(b"k").unwrap(), None);
    // An integer entry reads as its text.
    store.incr_by(b"n", 41).unwrap();
    assert_eq!(append(&store, b"n", b"0"), Some(3));
    assert_eq!(store.get(b"n").unwrap().unwrap(), b"410");
}

#[test]
fn compressed_or_large_values_are_left_to_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &StoreConfig::new("c")
            .dir(dir.path())
            .size(8 << 20)
            .compression(Compression::zstd()),
    )
    .unwrap();
    let text = b"session|a:1:{s:4:\"user\";s:5:\"alice\";}".repeat(100);
    store.set(b"z", &text, None).unwrap();
    assert_eq!(append(&store, b"z", b"!"), None);
    // A new value this handle would compress is not written under the lock either.
    assert_eq!(append(&store, b"fresh", &text), None);
    assert_eq!(store.get(b"fresh").unwrap(), None);
    let big = vec![b'x'; 100 << 10];
    let plain = Store::attach(dir.path(), "c").unwrap();
    assert_eq!(append(&plain, b"big", &big), None);
    assert_eq!(store.get(b"z").unwrap().unwrap(), text);
}
