//! Runs the real `ephpm-shm` binary against stores created with shm-store in
//! a private directory (`--dir`).

use assert_cmd::Command;
use predicates::prelude::*;
use shm_store::{Store, StoreConfig};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HELPER_ENV: &str = "EPHPM_SHM_TEST_HELPER";

fn bin(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ephpm-shm"));
    cmd.arg("--dir").arg(dir).timeout(Duration::from_secs(120));
    cmd
}

fn make(dir: &Path, name: &str, size: u64) -> Store {
    Store::open(&StoreConfig::new(name).dir(dir).size(size)).unwrap()
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

/// Re-executes this test binary as a helper process (see `helper_process`).
fn spawn_helper(args: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["helper_process", "--exact", "--nocapture"])
        .env(HELPER_ENV, args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Not a test on its own: does the work of a helper process when re-executed
/// with `EPHPM_SHM_TEST_HELPER` set.
#[test]
fn helper_process() {
    let Ok(spec) = std::env::var(HELPER_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let dir = Path::new(parts[1]);
    let store = Store::attach(dir, parts[2]).unwrap();
    match parts[0] {
        "writer" => {
            let id = parts[3];
            let iterations: usize = parts[4].parse().unwrap();
            for i in 0..iterations {
                let key = format!("w{id}:{}", i % 300);
                let value = vec![b'v'; 10 + (i * 37) % 900];
                let ttl = (i % 3 == 0).then(|| Duration::from_secs(60));
                store.set(key.as_bytes(), &value, ttl).unwrap();
                if i % 7 == 0 {
                    store
                        .del(format!("w{id}:{}", (i / 7) % 300).as_bytes())
                        .unwrap();
                }
            }
        }
        "mapper" => {
            let ready = Path::new(parts[3]);
            let stop = Path::new(parts[4]);
            std::fs::write(ready, b"ready").unwrap();
            let start = Instant::now();
            while !stop.exists() && start.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(store);
        }
        other => panic!("unknown helper {other}"),
    }
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    bin(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes").and(predicate::str::contains("--dir")));
    for sub in [
        "list",
        "stats",
        "keys",
        "get",
        "ttl",
        "set",
        "del",
        "expire",
        "verify",
        "flush",
        "create",
        "rm",
        "session",
        "watch",
        "completions",
    ] {
        bin(dir.path())
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage: ephpm-shm"));
    }
    bin(dir.path())
        .arg("nonsense")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized subcommand"));
}

#[test]
fn list_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let a = make(dir.path(), "alpha", 1 << 20);
    for i in 0..10 {
        a.set(format!("k{i}").as_bytes(), b"value", None).unwrap();
    }
    make(dir.path(), "beta", 1 << 20);
    // A world-readable store and a file that is not a segment.
    make(dir.path(), "open", 1 << 20);
    let open_path = dir.path().join("ephpm_kv.open");
    std::fs::set_permissions(&open_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let junk_path = dir.path().join("ephpm_kv.junk");
    std::fs::write(&junk_path, vec![7u8; 8192]).unwrap();
    std::fs::set_permissions(&junk_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.path().join("unrelated"), b"x").unwrap();

    let text = stdout_of(bin(dir.path()).arg("list"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("NAME"));
    let alpha = lines.iter().find(|l| l.starts_with("alpha")).unwrap();
    assert!(alpha.contains("0600") && alpha.contains(" 10 "), "{alpha}");
    assert!(alpha.contains("1.0 MiB"), "{alpha}");
    let created = alpha.rsplit("  ").next().unwrap();
    assert_eq!(created.len(), 19, "{created}");
    let open = lines.iter().find(|l| l.starts_with("open")).unwrap();
    assert!(
        open.contains("0644") && open.contains("error: refusing"),
        "{open}"
    );
    let junk = lines.iter().find(|l| l.starts_with("junk")).unwrap();
    assert!(
        junk.contains("error:") && junk.contains("not an ephpm-shm segment"),
        "{junk}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(bin(dir.path()).args(["list", "--json"]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let alpha = rows.iter().find(|r| r["name"] == "alpha").unwrap();
    assert_eq!(alpha["entries"], 10);
    assert_eq!(alpha["mode"], "0600");
    assert_eq!(alpha["size"], 1 << 20);
    assert!(alpha["error"].is_null());
    let open = rows.iter().find(|r| r["name"] == "open").unwrap();
    assert!(open["error"].as_str().unwrap().contains("refusing"));
    assert!(open["entries"].is_null());
}

#[test]
fn stats_text_json_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "st", 4 << 20);
    for i in 0..42 {
        s.set(format!("key{i}").as_bytes(), b"0123456789", None)
            .unwrap();
    }
    s.get(b"key1").unwrap();
    s.get(b"key2").unwrap();
    s.get(b"nope").unwrap();
    // Reads are counted per process and added into the segment when a
    // process flushes them (at the end of a PHP request, or on drop).
    s.flush_stats();

    let text = stdout_of(bin(dir.path()).args(["stats", "st"]));
    for needle in [
        "entries:      42",
        "hits:         2",
        "misses:       1",
        "hit ratio:    66.7%",
        "stripe load:  entries min",
        "layout:       version",
        "ephpm_kv.st",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }

    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(bin(dir.path()).args(["stats", "st", "--json"]))).unwrap();
    assert_eq!(json["entries"], 42);
    assert_eq!(json["hits"], 2);
    assert_eq!(json["misses"], 1);
    assert_eq!(json["layout_version"], shm_store::LAYOUT_VERSION);
    assert_eq!(
        json["used_bytes"].as_u64().unwrap() + json["free_bytes"].as_u64().unwrap(),
        json["capacity_bytes"].as_u64().unwrap()
    );
    assert_eq!(
        json["stripes"].as_u64().unwrap(),
        u64::from(s.geometry().stripes)
    );
    assert!(
        json["stripe_entries_max"].as_u64().unwrap()
            >= json["stripe_entries_min"].as_u64().unwrap()
    );

    let prom = stdout_of(bin(dir.path()).args(["stats", "st", "--format", "prometheus"]));
    assert!(prom.contains("# HELP ephpm_kv_entries "));
    assert!(prom.contains("# TYPE ephpm_kv_entries gauge"));
    assert!(prom.contains("# TYPE ephpm_kv_hits_total counter"));
    assert!(
        prom.lines()
            .any(|l| l == "ephpm_kv_entries{store=\"st\"} 42"),
        "{prom}"
    );
    assert!(prom
        .lines()
        .any(|l| l == "ephpm_kv_misses_total{store=\"st\"} 1"));
    for line in prom.lines().filter(|l| !l.starts_with('#')) {
        let (metric, value) = line.split_once(' ').unwrap();
        assert!(metric.starts_with("ephpm_kv_") && metric.ends_with("{store=\"st\"}"));
        value.parse::<f64>().unwrap();
    }
}

#[test]
fn keys_match_limit_and_escaping() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "k", 1 << 20);
    s.set(b"php_session:abc", b"12345", Some(Duration::from_secs(100)))
        .unwrap();
    s.set(b"php_session:abd", b"1", None).unwrap();
    s.set(b"user:1", b"alice", None).unwrap();
    s.set(b"bin\x00\xff", b"", None).unwrap();

    let all = stdout_of(bin(dir.path()).args(["keys", "k"]));
    let mut lines: Vec<&str> = all.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "bin\\x00\\xff\t0\t-",
            "php_session:abc\t5\t100",
            "php_session:abd\t1\t-",
            "user:1\t5\t-"
        ]
    );
    let matched = stdout_of(bin(dir.path()).args(["keys", "k", "--match", "php_session:ab?"]));
    assert_eq!(matched.lines().count(), 2);
    let matched = stdout_of(bin(dir.path()).args(["keys", "k", "--match", "*:1"]));
    assert_eq!(matched, "user:1\t5\t-\n");
    let limited = stdout_of(bin(dir.path()).args(["keys", "k", "--limit", "3"]));
    assert_eq!(limited.lines().count(), 3);
    let none = stdout_of(bin(dir.path()).args(["keys", "k", "--match", "zzz*"]));
    assert!(none.is_empty());
    // A pattern is at most 8 KiB: a longer one is refused, not matched.
    bin(dir.path())
        .args(["keys", "k", "--match", &"*".repeat(8193)])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "a match pattern is at most 8192 bytes, this one has 8193",
        ));
}

#[test]
fn keys_streams_100k_entries() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "big", 64 << 20);
    for i in 0..100_000u32 {
        s.set(format!("k{i}").as_bytes(), &i.to_le_bytes(), None)
            .unwrap();
    }
    assert_eq!(s.stats().unwrap().entries, 100_000);
    let out = bin(dir.path())
        .args(["keys", "big"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 100_000);
    // The keys command writes inside the scan callback and keeps no list.
    let source = include_str!("../src/inspect.rs");
    let body = source
        .split("fn keys(")
        .nth(1)
        .unwrap()
        .split("\n}\n")
        .next()
        .unwrap();
    assert!(body.contains("store.scan(|e|") && body.contains("writeln!(out"));
    assert!(!body.contains("Vec") && !body.contains("collect"));
}

#[test]
fn get_raw_json_hex_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "g", 1 << 20);
    s.set(b"text", "héllo \"x\"".as_bytes(), None).unwrap();
    s.set(b"bin", b"\x00\xff\x10", None).unwrap();

    let out = bin(dir.path())
        .args(["get", "g", "bin"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(out, b"\x00\xff\x10");
    assert_eq!(
        stdout_of(bin(dir.path()).args(["get", "g", "bin", "--hex"])),
        "00ff10\n"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        bin(dir.path()).args(["get", "g", "text", "--json"]),
    ))
    .unwrap();
    assert_eq!(json, "héllo \"x\"");
    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        bin(dir.path()).args(["get", "g", "bin", "--json"]),
    ))
    .unwrap();
    assert_eq!(json["hex"], "00ff10");

    bin(dir.path())
        .args(["get", "g", "missing"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "ephpm-shm: key \"missing\" not found",
        ));
}

#[test]
fn set_ttl_del_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "t", 1 << 20);
    bin(dir.path())
        .args(["set", "t", "a", "one"])
        .assert()
        .success();
    assert_eq!(s.get(b"a").unwrap().unwrap(), b"one");
    bin(dir.path())
        .args(["set", "t", "b", "two", "--ttl", "50"])
        .assert()
        .success();
    bin(dir.path())
        .args(["set", "t", "c", "-"])
        .write_stdin("from stdin")
        .assert()
        .success();
    assert_eq!(s.get(b"c").unwrap().unwrap(), b"from stdin");

    assert_eq!(stdout_of(bin(dir.path()).args(["ttl", "t", "a"])), "-1\n");
    assert_eq!(stdout_of(bin(dir.path()).args(["ttl", "t", "b"])), "50\n");
    let ms: i64 = stdout_of(bin(dir.path()).args(["ttl", "t", "b", "--ms"]))
        .trim()
        .parse()
        .unwrap();
    assert!(ms > 40_000 && ms <= 50_000, "{ms}");
    bin(dir.path())
        .args(["ttl", "t", "zz"])
        .assert()
        .code(1)
        .stdout("-2\n")
        .stderr(predicate::str::contains("not found"));

    bin(dir.path())
        .args(["expire", "t", "a", "30"])
        .assert()
        .success();
    assert_eq!(stdout_of(bin(dir.path()).args(["ttl", "t", "a"])), "30\n");
    bin(dir.path())
        .args(["expire", "t", "zz", "30"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not found"));

    bin(dir.path()).args(["del", "t", "a"]).assert().success();
    assert_eq!(s.get(b"a").unwrap(), None);
    bin(dir.path())
        .args(["del", "t", "a"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not found"));
}

#[test]
fn verify_healthy_and_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &StoreConfig::new("v")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1),
    )
    .unwrap();
    for i in 0..200 {
        s.set(format!("key{i}").as_bytes(), &[b'x'; 100], None)
            .unwrap();
    }
    bin(dir.path())
        .args(["verify", "v"])
        .assert()
        .success()
        .stdout("ok: 200 entries in 1 stripes\n");
    drop(s);

    // Overwrite 4 KiB of stripe 0's slot index and 4 KiB of its heap
    // (past the segment header and the stripe header) with 0xFF.
    let path = dir.path().join("ephpm_kv.v");
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for offset in [
        STRIPES_AT + 4096 + 1024,
        STRIPES_AT + 4096 + 16 * 1024 + 2048,
    ] {
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(&[0xFF; 4096]).unwrap();
    }
    drop(f);

    let assert = bin(dir.path()).args(["verify", "v"]).assert().code(1);
    let out = assert.get_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.lines().count() >= 1, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.starts_with("stripe 0: ")),
        "{stdout}"
    );
    assert!(stderr.contains("problem(s) found"), "{stderr}");
    assert!(stderr.contains("verify --repair v"), "{stderr}");
    // Reading a damaged store does not crash; stats and list read counters only.
    for args in [vec!["stats", "v"], vec!["list"]] {
        let out = bin(dir.path()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // keys lists what is intact and reports the damage (and the stripe is rebuilt).
    let out = bin(dir.path()).args(["keys", "v"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stripe 0 of segment") && stderr.contains("is damaged"),
        "{stderr}"
    );
    assert!(!out.stdout.is_empty());
    bin(dir.path()).args(["verify", "v"]).assert().success();
}

/// Where stripe 0 starts: after the header page and the watch table.
const STRIPES_AT: u64 = shm_store::SEGMENT_HEADER_SIZE as u64;

/// Offset of stripe 0's heap in a one-stripe store.
fn heap_of(store: &Store) -> u64 {
    STRIPES_AT + 4096 + store.geometry().slots_per_stripe as u64 * 16
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// The issue's reproduction: key_len = 0x7fffffff in a block header made
/// `verify` panic (exit 101) and `get` fail with an internal error.
#[test]
fn huge_key_len_is_diagnosed_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &StoreConfig::new("k")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1),
    )
    .unwrap();
    s.set(b"victim", b"value", None).unwrap();
    s.set(b"other", b"kept", None).unwrap();
    // The victim's block is the heap's first; key_len is its fifth word.
    write_at(s.path(), heap_of(&s) + 16, &0x7fff_ffffu32.to_ne_bytes());

    let out = bin(dir.path()).args(["verify", "k"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("bad key/value lengths"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = bin(dir.path())
        .args(["get", "k", "victim"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("stripe 0 of segment"), "{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    // The get rebuilt the stripe: a miss now, the other key intact.
    bin(dir.path()).args(["verify", "k"]).assert().success();
    bin(dir.path())
        .args(["get", "k", "victim"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not found"));
    bin(dir.path())
        .args(["get", "k", "other"])
        .assert()
        .success()
        .stdout("kept");
}

/// Bytes of a stripe's mutex overwritten (its lock word names a thread
/// that does not exist): the tools used to hang for ever.
#[test]
fn unusable_stripe_lock_is_reported_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &StoreConfig::new("m")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1),
    )
    .unwrap();
    s.set(b"k", b"v", None).unwrap();
    write_at(s.path(), STRIPES_AT, &0x3fff_fff0u32.to_ne_bytes());
    drop(s);

    for (args, code) in [
        (vec!["verify", "m"], 1),
        (vec!["stats", "m"], 2),
        (vec!["keys", "m"], 2),
        (vec!["set", "m", "k", "w"], 2),
    ] {
        let out = bin(dir.path()).args(&args).output().unwrap();
        let all = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {all}");
        assert!(
            all.contains("stripe 0's lock is unusable")
                && all.contains("run `ephpm-shm verify --repair m`"),
            "{args:?}: {all}"
        );
    }
    // Reads take no lock: they still work.
    bin(dir.path())
        .args(["get", "m", "k"])
        .assert()
        .success()
        .stdout("v");
    let out = stdout_of(bin(dir.path()).args(["verify", "--repair", "m"]));
    assert!(
        out.contains("repaired stripe 0: lock was unusable"),
        "{out}"
    );
    assert!(out.ends_with("ok: 1 entries in 1 stripes\n"), "{out}");
    bin(dir.path())
        .args(["verify", "m"])
        .assert()
        .success()
        .stdout("ok: 1 entries in 1 stripes\n");
    bin(dir.path())
        .args(["get", "m", "k"])
        .assert()
        .success()
        .stdout("v");
}

/// Garbled mutex bytes are refused at once; a damaged heap is rebuilt by
/// `verify --repair`.
#[test]
fn verify_repair_rebuilds_a_damaged_heap_and_a_garbled_lock() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &StoreConfig::new("r")
            .dir(dir.path())
            .size(1 << 20)
            .stripes(1),
    )
    .unwrap();
    for i in 0..50 {
        s.set(format!("key{i}").as_bytes(), &[b'x'; 100], None)
            .unwrap();
    }
    write_at(s.path(), STRIPES_AT + 16, &[0x5a; 8]);
    write_at(s.path(), heap_of(&s) + 2048, &[0xFF; 512]);
    drop(s);
    bin(dir.path())
        .args(["verify", "r"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not a robust shared mutex"));
    let out = stdout_of(bin(dir.path()).args(["verify", "--repair", "r"]));
    assert!(
        out.contains("repaired stripe 0: lock was unusable"),
        "{out}"
    );
    assert!(out.contains("rebuilt"), "{out}");
    let out = stdout_of(bin(dir.path()).args(["verify", "r"]));
    assert!(out.starts_with("ok: "), "{out}");
    let kept: usize = out["ok: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(kept > 0 && kept < 50, "{out}");
}

/// `session` says on stderr who holds the session's lock, if anyone.
#[test]
fn session_names_the_holder_of_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "locks", 1 << 20);
    s.set(b"php_session:abc", b"n|i:1;", None).unwrap();
    let out = bin(dir.path())
        .args(["session", "locks", "abc"])
        .assert()
        .success();
    assert!(out.get_output().stderr.is_empty(), "no lock, no note");
    s.set(
        b"php_session:lock:abc",
        b"ephpm-lock pid=42 start=1 ns=2 token=3",
        None,
    )
    .unwrap();
    let out = bin(dir.path())
        .args(["session", "locks", "abc"])
        .assert()
        .success();
    let output = out.get_output();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\n  \"n\": 1\n}\n"
    );
    let note = String::from_utf8_lossy(&output.stderr);
    assert!(note.contains("locked") && note.contains("pid=42"), "{note}");
}

/// `session` decodes what PHP itself stored through the extension, with
/// both serializers (skipped with a reason when the extension is not built).
#[test]
fn session_decodes_payloads_written_by_php() {
    let so = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/libephpm_kv.so");
    let so = std::env::var_os("EPHPM_KV_SO")
        .map(PathBuf::from)
        .unwrap_or(so);
    if !so.is_file() {
        eprintln!("skipped: {} not built", so.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for handler in ["php", "php_serialize"] {
        let code = format!(
            r#"$h = new class implements SessionHandlerInterface {{
                function open($p, $n): bool {{ return true; }}
                function close(): bool {{ return true; }}
                function read($id): string {{ return ephpm_kv_get("php_session:$id") ?? ""; }}
                function write($id, $d): bool {{ return ephpm_kv_set("php_session:$id", $d, 600); }}
                function destroy($id): bool {{ return true; }}
                function gc($m): int {{ return 0; }}
            }};
            session_set_save_handler($h, true);
            session_id("sid{handler}");
            session_start();
            $_SESSION["user"] = ["id" => 42, "name" => "Zoë", "roles" => ["admin", "dev"]];
            $_SESSION["cart"] = 3.5;
            session_write_close();"#
        );
        let out = std::process::Command::new("php")
            .args(["-n", "-d"])
            .arg(format!("extension={}", so.display()))
            .arg("-d")
            .arg(format!("ephpm_kv.dir={}", dir.path().display()))
            .args(["-d", "ephpm_kv.name=sess", "-d"])
            .arg(format!("session.serialize_handler={handler}"))
            .args(["-r", &code])
            .output()
            .expect("php");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = stdout_of(bin(dir.path()).args(["session", "sess", &format!("sid{handler}")]));
        let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
        assert_eq!(v["user"]["id"], 42, "{handler}: {json}");
        assert_eq!(v["user"]["name"], "Zoë", "{handler}: {json}");
        assert_eq!(v["user"]["roles"][1], "dev", "{handler}: {json}");
        assert_eq!(v["cart"], 3.5, "{handler}: {json}");
    }
    bin(dir.path())
        .args(["session", "sess", "nosuchsid"])
        .assert()
        .code(1);
}

#[test]
fn flush_asks_unless_yes() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "f", 1 << 20);
    for i in 0..5 {
        s.set(format!("k{i}").as_bytes(), b"v", None).unwrap();
    }
    bin(dir.path())
        .args(["flush", "f"])
        .write_stdin("n\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("flush all 5 keys of f? [y/N]"));
    assert_eq!(s.stats().unwrap().entries, 5);
    bin(dir.path())
        .args(["flush", "f"])
        .write_stdin("")
        .assert()
        .code(1);
    bin(dir.path())
        .args(["flush", "f"])
        .write_stdin("y\n")
        .assert()
        .success()
        .stdout("flushed 5 keys of f\n");
    assert_eq!(s.stats().unwrap().entries, 0);
    s.set(b"again", b"v", None).unwrap();
    bin(dir.path())
        .args(["flush", "f", "--yes"])
        .assert()
        .success();
    assert_eq!(s.stats().unwrap().entries, 0);
}

#[test]
fn create_store() {
    let dir = tempfile::tempdir().unwrap();
    bin(dir.path())
        .args([
            "create",
            "new",
            "--size",
            "2M",
            "--eviction",
            "volatile-lru",
            "--stripes",
            "4",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("created")
                .and(predicate::str::contains("eviction volatile-lru")),
        );
    let s = Store::attach(dir.path(), "new").unwrap();
    assert_eq!(s.geometry().stripes, 4);
    // The policy is recorded in the store: `stats` shows it, and an opener
    // asking for another gets the store's.
    assert_eq!(s.policy(), shm_store::EvictionPolicy::VolatileLru);
    let text = stdout_of(bin(dir.path()).args(["stats", "new"]));
    assert!(text.contains("eviction:     volatile-lru"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(bin(dir.path()).args(["stats", "new", "--json"]))).unwrap();
    assert_eq!(json["eviction"], "volatile-lru");
    // The watch table: a key someone waits on shows.
    assert_eq!(json["watched_keys"], 0);
    s.wait(b"k", 0, std::time::Duration::ZERO).unwrap();
    let text = stdout_of(bin(dir.path()).args(["stats", "new"]));
    assert!(
        text.contains("watches:      1 of 4096 slots in use, 0 with a waiter"),
        "{text}"
    );
    assert!(s.geometry().total_size <= 2 << 20 && s.geometry().total_size > 1 << 20);
    bin(dir.path())
        .args(["create", "new", "--size", "2M"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    bin(dir.path())
        .args(["create", "other", "--eviction", "bogus"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown eviction policy"));
    bin(dir.path())
        .args(["create", "other", "--size", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("ephpm-shm: "));
    assert!(!dir.path().join("ephpm_kv.other").exists());
}

#[test]
fn rm_refuses_while_mapped_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    drop(make(dir.path(), "busy", 1 << 20));
    let ready = dir.path().join("ready");
    let stop = dir.path().join("stop");
    let mut child = spawn_helper(&format!(
        "mapper|{}|busy|{}|{}",
        dir.path().display(),
        ready.display(),
        stop.display()
    ));
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "helper never got ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    bin(dir.path())
        .args(["rm", "busy"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("in use").and(predicate::str::contains(pid.as_str())));
    assert!(dir.path().join("ephpm_kv.busy").exists());
    bin(dir.path())
        .args(["rm", "busy", "--force"])
        .assert()
        .success();
    assert!(!dir.path().join("ephpm_kv.busy").exists());
    std::fs::write(&stop, b"").unwrap();
    assert!(child.wait().unwrap().success());

    // Unused: removed without --force; then it is gone.
    drop(make(dir.path(), "idle", 1 << 20));
    bin(dir.path()).args(["rm", "idle"]).assert().success();
    bin(dir.path())
        .args(["rm", "idle"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn man_pages_for_the_tool_and_each_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    bin(dir.path()).arg("man").arg(&out).assert().success();
    let main = std::fs::read_to_string(out.join("ephpm-shm.1")).unwrap();
    assert!(main.contains(".TH ephpm-shm 1"), "{main}");
    assert!(main.contains("Inspect and administer"), "{main}");
    let serve = std::fs::read_to_string(out.join("ephpm-shm-serve.1")).unwrap();
    assert!(serve.contains("ephpm\\-shm\\-serve"), "{serve}");
    assert!(serve.contains("requirepass"), "{serve}");
    // One page per visible subcommand, none for the hidden `man` itself.
    let pages = std::fs::read_dir(&out).unwrap().count();
    assert!(pages >= 16, "{pages} pages");
    assert!(!out.join("ephpm-shm-man.1").exists());
    // The top-level help does not list it.
    let help = stdout_of(bin(dir.path()).arg("--help"));
    assert!(!help.contains("\n  man "), "{help}");
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = stdout_of(bin(dir.path()).args(["completions", shell]));
        assert!(out.contains("ephpm-shm"), "{shell}");
        assert!(out.contains("verify"), "{shell}");
    }
    bin(dir.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}

#[test]
fn open_errors() {
    let dir = tempfile::tempdir().unwrap();
    bin(dir.path())
        .args(["stats", "absent"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::starts_with("ephpm-shm: segment ")
                .and(predicate::str::contains("does not exist")),
        );
    bin(dir.path())
        .args(["keys", "bad/name"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid store name"));
    drop(make(dir.path(), "loose", 1 << 20));
    let path: PathBuf = dir.path().join("ephpm_kv.loose");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    bin(dir.path())
        .args(["get", "loose", "k"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("refusing to use segment")
                .and(predicate::str::contains("644")),
        );
    bin(dir.path().join("no-such-dir").as_path())
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read directory"));
}

#[test]
fn reads_while_two_writer_processes_hammer_the_store() {
    let dir = tempfile::tempdir().unwrap();
    drop(make(dir.path(), "hot", 8 << 20));
    let mut writers: Vec<_> = (0..2)
        .map(|id| spawn_helper(&format!("writer|{}|hot|{id}|200000", dir.path().display())))
        .collect();
    let start = Instant::now();
    let mut rounds = 0;
    loop {
        let done = writers.iter_mut().all(|w| w.try_wait().unwrap().is_some());
        let json: serde_json::Value =
            serde_json::from_str(&stdout_of(bin(dir.path()).args(["stats", "hot", "--json"])))
                .unwrap();
        assert!(json["entries"].as_u64().unwrap() <= 600);
        let keys = stdout_of(bin(dir.path()).args(["keys", "hot"]));
        assert!(keys
            .lines()
            .all(|l| l.starts_with('w') && l.split('\t').count() == 3));
        rounds += 1;
        if done && rounds >= 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "writers did not finish"
        );
    }
    for mut w in writers {
        assert!(w.wait().unwrap().success());
    }
    bin(dir.path()).args(["verify", "hot"]).assert().success();
    let keys = stdout_of(bin(dir.path()).args(["keys", "hot"]));
    assert!(keys.lines().any(|l| l.starts_with("w0:")), "{keys}");
    assert!(keys.lines().any(|l| l.starts_with("w1:")), "{keys}");
    assert!(rounds >= 3);
}

#[test]
fn large_values_read_whole_count_their_parts_and_orphans_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let s = make(dir.path(), "big", 16 << 20);
    let value: Vec<u8> = (0..(3 << 20) + 5).map(|i: u32| (i % 251) as u8).collect();
    s.set(b"big", &value, None).unwrap();
    let out = bin(dir.path())
        .args(["get", "big", "big"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        out == value,
        "get returned {} bytes, not the value",
        out.len()
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(bin(dir.path()).args(["stats", "big", "--json"]))).unwrap();
    let part = json["part_bytes"].as_u64().unwrap();
    assert_eq!(json["entries"], 1);
    assert_eq!(
        json["large_value_parts"].as_u64().unwrap(),
        (value.len() as u64).div_ceil(part)
    );
    let text = stdout_of(bin(dir.path()).args(["stats", "big"]));
    assert!(
        text.contains("large values: 49 parts of up to 64.0 KiB"),
        "{text}"
    );
    // Parts whose manifest was evicted (allkeys-lru) are found by the repair.
    // (Eviction may take every part before the manifest: then try again.)
    let lru = s;
    assert_eq!(lru.policy(), shm_store::EvictionPolicy::AllKeysLru);
    assert!(lru.del(b"big").unwrap());
    let mut i = 0u64;
    let left = (0..10)
        .find_map(|round| {
            lru.set(format!("big{round}").as_bytes(), &value, None)
                .unwrap();
            while lru.exists(format!("big{round}").as_bytes()).unwrap() {
                lru.set(format!("fill:{i}").as_bytes(), &[0; 3000], None)
                    .unwrap();
                i += 1;
            }
            let left = lru.stats().unwrap().parts;
            (left > 0).then_some(left)
        })
        .expect("the manifest was never evicted before its parts");
    let repaired = stdout_of(bin(dir.path()).args(["verify", "big", "--repair"]));
    assert!(
        repaired.contains(&format!("{left} part(s) of large values")),
        "{repaired}"
    );
    assert_eq!(lru.stats().unwrap().parts, 0);
    stdout_of(bin(dir.path()).args(["verify", "big"]));
}

/// A session as PHP's `php` serializer writes it, of at least `len` bytes.
fn session_payload(len: usize) -> Vec<u8> {
    let mut items = String::new();
    let mut n = 0;
    while items.len() < len {
        let title = format!(
            "Product {} in colour #{:06x}",
            n * 37 % 5000,
            n * 7919 % 0xffffff
        );
        items.push_str(&format!(
            "i:{n};a:3:{{s:3:\"sku\";i:{};s:5:\"title\";s:{}:\"{title}\";s:3:\"qty\";i:{};}}",
            100_000 + n * 13,
            title.len(),
            1 + n % 4
        ));
        n += 1;
    }
    format!("user|s:5:\"alice\";cart|a:{n}:{{{items}}}").into_bytes()
}

#[test]
fn compression_create_get_session_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    bin(dir.path())
        .args([
            "create",
            "z",
            "--size",
            "8M",
            "--compression",
            "zstd",
            "--compression-level",
            "5",
            "--compression-min-size",
            "512",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "compression zstd level 5 from 512 bytes",
        ));
    // An opener asking for nothing compresses as the store says.
    let s = make(dir.path(), "z", 8 << 20);
    let recorded = shm_store::Compression {
        codec: shm_store::Codec::Zstd,
        level: 5,
        min_size: 512,
    };
    assert_eq!(
        (s.compression(), s.store_compression()),
        (recorded, recorded)
    );
    let payload = session_payload(20 << 10);
    s.set(b"php_session:abc", &payload, None).unwrap();
    s.set(b"plain", b"short", None).unwrap();
    let other = session_payload(4 << 10);
    s.set(b"other", &other, None).unwrap();

    // `get` and `session` see the original bytes.
    let out = bin(dir.path())
        .args(["get", "z", "php_session:abc"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(out, payload);
    let decoded: serde_json::Value =
        serde_json::from_str(&stdout_of(bin(dir.path()).args(["session", "z", "abc"]))).unwrap();
    assert_eq!(decoded["user"], "alice");
    assert_eq!(decoded["cart"][1]["qty"], 2);

    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(bin(dir.path()).args(["stats", "z", "--json"]))).unwrap();
    assert_eq!(json["compression"], "zstd");
    assert_eq!(json["compression_level"], 5);
    assert_eq!(json["compression_min_size"], 512);
    assert_eq!(json["compressed_entries"], 2);
    let raw = json["compressed_raw_bytes"].as_u64().unwrap();
    let stored = json["compressed_stored_bytes"].as_u64().unwrap();
    assert_eq!(raw, (payload.len() + other.len()) as u64);
    assert!(stored * 4 < raw, "{stored} of {raw}");
    let text = stdout_of(bin(dir.path()).args(["stats", "z"]));
    for needle in [
        "compression:  zstd by default (level 5, values from 512 bytes)".to_string(),
        format!("compressed:   2 entries, {raw} raw bytes stored in {stored} ("),
    ] {
        assert!(text.contains(&needle), "{needle} missing in\n{text}");
    }
    let prom = stdout_of(bin(dir.path()).args(["stats", "z", "--format", "prometheus"]));
    assert!(
        prom.lines()
            .any(|l| l == "ephpm_kv_compressed_entries{store=\"z\"} 2"),
        "{prom}"
    );

    // A store created without the options: none, recorded as such.
    bin(dir.path())
        .args(["create", "plain", "--size", "2M"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "compression none level 3 from 1024 bytes",
        ));
    let text = stdout_of(bin(dir.path()).args(["stats", "plain"]));
    assert!(text.contains("compression:  none by default"), "{text}");
    assert!(
        text.contains("compressed:   0 entries, 0 raw bytes stored in 0 (-)"),
        "{text}"
    );
    for (flag, value, message) in [
        ("--compression", "gzip", "unknown compression"),
        ("--compression-level", "99", "compression level 99"),
        ("--compression-min-size", "lots", "invalid size"),
    ] {
        bin(dir.path())
            .args(["create", "bad", flag, value])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    assert!(!dir.path().join("ephpm_kv.bad").exists());
}
