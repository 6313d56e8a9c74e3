//! A segment file truncated while processes map it (an operator's
//! `truncate` or `cp` over it): the processes that touch the lost pages
//! get `StoreError::Truncated` from then on, instead of dying of SIGBUS.

mod common;

use common::{config, release, spawn_child, wait_all_ok};
use shm_store::{Store, StoreError};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const SIZE: u64 = 4 << 20;
const STRIPES: u32 = 4;
/// Safety net only: a child still running then is killed and the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// What the child does once the file is truncated under it, by name.
const OPS: [&str; 10] = [
    "get",
    "exists",
    "get_large",
    "set",
    "set_large",
    "del",
    "incr",
    "ttl",
    "stats",
    "scan",
];

#[test]
fn a_truncated_segment_fails_each_operation_and_kills_nobody() {
    let tmp = TempDir::new().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let name = "truncated";
    let params = [("size", SIZE.to_string()), ("stripes", STRIPES.to_string())];
    let mut children: Vec<_> = (0..2)
        .map(|i| {
            spawn_child(
                "child_truncated",
                tmp.path(),
                name,
                &params,
                &logs,
                &format!("child-{i}"),
            )
        })
        .collect();
    // Both children have the store mapped and filled before the cut.
    let path = config(tmp.path(), name, SIZE, STRIPES).path().unwrap();
    let start = Instant::now();
    while children
        .iter()
        .any(|c| !c.reports().iter().any(|l| l == "ready"))
    {
        assert!(start.elapsed() < DEADLINE, "children never got ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    release(tmp.path());
    wait_all_ok(&mut children, Instant::now() + DEADLINE);
    for child in &children {
        let reports = child.reports();
        for op in OPS {
            let line = reports
                .iter()
                .find(|l| l.starts_with(&format!("{op}:")))
                .unwrap_or_else(|| panic!("{}: no report for {op}: {reports:?}", child.tag));
            assert!(
                line.contains("Truncated") && line.contains("the file has 4096 bytes"),
                "{}: {line}",
                child.tag
            );
        }
    }
    // A new opener is refused too, with the same error.
    let err = Store::open(&config(tmp.path(), name, SIZE, STRIPES)).unwrap_err();
    assert!(matches!(err, StoreError::Truncated { .. }), "{err}");
}

#[test]
#[ignore = "child process of a_truncated_segment_fails_each_operation_and_kills_nobody"]
fn child_truncated() {
    let Some(ctx) = common::child_context("child_truncated") else {
        return;
    };
    let store = ctx.open();
    let big = vec![7u8; 1 << 20];
    for i in 0..200 {
        store
            .set(format!("k{i}").as_bytes(), &[1; 1000], None)
            .unwrap();
    }
    store.set(b"big", &big, None).unwrap();
    ctx.report("ready");
    ctx.wait_for_go();
    for op in OPS {
        let outcome: Result<String, StoreError> = match op {
            "get" => store.get(b"k1").map(|v| format!("{v:?}")),
            "exists" => store.exists(b"k2").map(|v| v.to_string()),
            "get_large" => store
                .get(b"big")
                .map(|v| format!("{:?}", v.map(|v| v.len()))),
            "set" => store.set(b"k3", b"new", None).map(|()| "set".into()),
            "set_large" => store.set(b"big2", &big, None).map(|()| "set".into()),
            "del" => store.del(b"k4").map(|v| v.to_string()),
            "incr" => store.incr_by(b"n", 1).map(|v| v.to_string()),
            "ttl" => store.ttl(b"k5").map(|v| format!("{v:?}")),
            "stats" => store.stats().map(|s| s.entries.to_string()),
            "scan" => store.scan(|_| {}).map(|()| "scanned".into()),
            _ => unreachable!(),
        };
        ctx.report(match outcome {
            Ok(v) => format!("{op}: ok {v}"),
            Err(e) => format!("{op}: {e:?} {e}"),
        });
    }
    ctx.report("done");
}
