//! Opening a segment: the creation race, recovery from a creator that died,
//! refusal of bad or unsafe files (without touching them), and space
//! reserved up front.

mod common;

use common::{config, release, spawn_child, store_barrier, wait_all_ok, Rng};
use shm_store::{Geometry, Store, StoreConfig, StoreError, LAYOUT_VERSION};
use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const SIZE: u64 = 4 << 20;
const STRIPES: u32 = 4;
/// Safety net only: children still running then are killed and the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// First 8 bytes of a segment whose creator has not finished.
const MAGIC_INIT: &[u8; 8] = b"EPHPMKV0";
const MAGIC_READY: &[u8; 8] = b"EPHPMKV1";

fn cfg(dir: &Path, name: &str) -> StoreConfig {
    config(dir, name, SIZE, STRIPES)
}

fn seg_path(dir: &Path, name: &str) -> PathBuf {
    cfg(dir, name).path().unwrap()
}

/// Writes a file the way a store would own it (0600), so that only its
/// content can be what is wrong with it.
fn write_private(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The file's bytes, length and mode, to compare before/after.
fn snapshot(path: &Path) -> (Vec<u8>, u64, u32) {
    let md = fs::symlink_metadata(path).unwrap();
    (fs::read(path).unwrap(), md.len(), md.mode())
}

fn assert_untouched(path: &Path, before: &(Vec<u8>, u64, u32), what: &str) {
    let after = snapshot(path);
    assert_eq!(after.1, before.1, "{what}: file length changed");
    assert_eq!(after.2, before.2, "{what}: file mode changed");
    assert!(after.0 == before.0, "{what}: file content changed");
}

/// A `SegmentHeader` (see layout.rs) for `g`, native endian, 64 bytes.
fn header_bytes(g: &Geometry, magic: &[u8; 8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(magic);
    h.extend_from_slice(&LAYOUT_VERSION.to_ne_bytes());
    h.extend_from_slice(&4096u32.to_ne_bytes());
    h.extend_from_slice(&g.total_size.to_ne_bytes());
    h.extend_from_slice(&g.stripe_stride.to_ne_bytes());
    for v in [
        g.stripes,
        g.slots_per_stripe,
        g.heap_size,
        g.max_key_len,
        g.max_value_len,
        12345, // creator_pid
    ] {
        h.extend_from_slice(&v.to_ne_bytes());
    }
    h.extend_from_slice(&1_700_000_000_000u64.to_ne_bytes());
    assert_eq!(h.len(), 64);
    h
}

/// Creates a store with one key in it and returns the segment's bytes.
fn valid_segment(dir: &Path, name: &str) -> Vec<u8> {
    let store = Store::open(&cfg(dir, name)).unwrap();
    assert!(store.created());
    store.set(b"keep", b"me", None).unwrap();
    drop(store);
    let bytes = fs::read(seg_path(dir, name)).unwrap();
    assert_eq!(&bytes[..8], MAGIC_READY);
    bytes
}

/// Opens a fresh store and checks it is empty, consistent and usable.
fn assert_fresh_and_usable(store: &Store, what: &str) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{what}: verify {:#?}", report.problems);
    assert_eq!(report.entries, 0, "{what}: a fresh store must be empty");
    assert_eq!(report.stripes_checked, STRIPES as usize);
    store.set(b"k", b"v", None).unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()), "{what}");
}

// ------------------------------------------------------- creation race

const RACERS: usize = 56;

#[test]
fn creation_race_has_one_creator_and_every_process_sees_every_key() {
    let tmp = TempDir::new().unwrap();
    let name = "race";
    let path = seg_path(tmp.path(), name);
    let params = [("size", SIZE.to_string()), ("stripes", STRIPES.to_string())];
    let logs = tmp.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let mut children: Vec<_> = (0..RACERS)
        .map(|i| {
            let mut p = params.to_vec();
            p.push(("index", i.to_string()));
            spawn_child(
                "child_racer",
                tmp.path(),
                name,
                &p,
                &logs,
                &format!("racer-{i}"),
            )
        })
        .collect();
    // Every racer is started and waiting before the name exists.
    assert!(!path.exists());
    release(tmp.path());
    wait_all_ok(&mut children, Instant::now() + DEADLINE);

    let mut creators = Vec::new();
    let mut creator_seen = Vec::new();
    for (i, c) in children.iter().enumerate() {
        let reports = c.reports();
        let field = |prefix: &str| {
            reports
                .iter()
                .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
                .unwrap_or_else(|| panic!("racer {i} did not report {prefix:?}"))
        };
        if field("created ") == "true" {
            creators.push(i);
        }
        creator_seen.push(field("creator-key "));
        assert_eq!(field("keys "), RACERS.to_string(), "racer {i}");
    }
    assert_eq!(creators.len(), 1, "creators: {creators:?}");
    let creator = creators[0].to_string();
    assert!(
        creator_seen.iter().all(|s| *s == creator),
        "the creator is {creator}, racers saw {creator_seen:?}"
    );

    let store = Store::open(&cfg(tmp.path(), name)).unwrap();
    assert!(!store.created());
    for i in 0..RACERS {
        assert_eq!(
            store.get(format!("proc:{i}").as_bytes()).unwrap(),
            Some(i.to_string().into_bytes())
        );
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    // proc:* keys, the creator key and the barrier counter.
    assert_eq!(report.entries as usize, RACERS + 2);
    eprintln!("creation race: {RACERS} processes, creator was racer {creator}");
}

#[test]
#[ignore = "child process of creation_race_has_one_creator_and_every_process_sees_every_key"]
fn child_racer() {
    let Some(ctx) = common::child_context("child_racer") else {
        return;
    };
    let index: usize = ctx.param("index");
    ctx.wait_for_go();
    let store = ctx.open();
    ctx.report(format!("created {}", store.created()));
    if store.created() {
        store
            .set(b"creator", index.to_string().as_bytes(), None)
            .unwrap();
    }
    store
        .set(
            format!("proc:{index}").as_bytes(),
            index.to_string().as_bytes(),
            None,
        )
        .unwrap();
    // Everyone has opened and written before anyone checks.
    store_barrier(&store, b"opened", RACERS as i64);
    let creator = store.get(b"creator").unwrap().expect("creator key");
    ctx.report(format!(
        "creator-key {}",
        String::from_utf8(creator).unwrap()
    ));
    let mut keys = 0;
    for i in 0..RACERS {
        match store.get(format!("proc:{i}").as_bytes()).unwrap() {
            Some(v) => {
                assert_eq!(v, i.to_string().as_bytes(), "proc:{i}");
                keys += 1;
            }
            None => panic!("racer {index} does not see proc:{i}"),
        }
    }
    ctx.report(format!("keys {keys}"));
    ctx.report("done");
}

// ---------------------------------------------------- the creation lock

/// `open` serialises openers with an exclusive flock on the segment file;
/// once it has returned, that lock must be free again, or every other
/// process that opens the store blocks until this handle is dropped.
#[test]
fn open_releases_the_creation_lock_while_the_handle_lives() {
    let tmp = TempDir::new().unwrap();
    let can_lock = |path: &Path| {
        let f = OpenOptions::new().read(true).open(path).unwrap();
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&f);
        // SAFETY: flock on a descriptor we own; released when `f` closes.
        let rc = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
        rc == 0
    };
    let path = seg_path(tmp.path(), "lock");
    let created = Store::open(&cfg(tmp.path(), "lock")).unwrap();
    assert!(created.created());
    assert!(
        can_lock(&path),
        "the segment file is still flock'ed after Store::open returned (creating): \
         any other process opening the store would block while this handle lives"
    );
    drop(created);
    let attached = Store::open(&cfg(tmp.path(), "lock")).unwrap();
    assert!(!attached.created());
    assert!(
        can_lock(&path),
        "the segment file is still flock'ed after Store::open returned (attaching)"
    );
    drop(attached);
    let tool = Store::attach(tmp.path(), "lock").unwrap();
    assert!(
        can_lock(&path),
        "the segment file is still flock'ed after Store::attach returned"
    );
    drop(tool);
}

// ------------------------------------------------- dead creators

#[test]
fn creator_that_died_mid_initialisation_is_reinitialised() {
    let tmp = TempDir::new().unwrap();
    let g = Geometry::for_config(&cfg(tmp.path(), "x")).unwrap();
    let mut rng = Rng::new(7);

    // Died after writing the MAGIC_INIT header, before reserving space.
    let header_only = header_bytes(&g, MAGIC_INIT);
    // Died while formatting the stripes: full size, garbage after the header
    // (including where the stripe mutexes live).
    let mut half_formatted = vec![0u8; g.total_size as usize];
    rng.fill(&mut half_formatted);
    half_formatted[..64].copy_from_slice(&header_only);

    for (name, bytes) in [
        ("header-only", header_only.clone()),
        ("half-formatted", half_formatted),
    ] {
        let path = seg_path(tmp.path(), name);
        write_private(&path, &bytes);
        // A tool attaching never initialises, and leaves it as it is.
        let before = snapshot(&path);
        match Store::attach(tmp.path(), name) {
            Err(StoreError::NotASegment { .. }) => {}
            other => panic!("{name}: attach gave {other:?}, expected NotASegment"),
        }
        assert_untouched(&path, &before, name);

        let store = Store::open(&cfg(tmp.path(), name)).unwrap();
        assert!(store.created(), "{name}: the opener must re-initialise it");
        assert_fresh_and_usable(&store, name);
        assert_eq!(fs::metadata(&path).unwrap().len(), g.total_size, "{name}");
        assert_eq!(&fs::read(&path).unwrap()[..8], MAGIC_READY, "{name}");
        // (Dropped first: a second handle in this process is another test's
        // subject, and must not be able to hang this one.)
        drop(store);
        let again = Store::open(&cfg(tmp.path(), name)).unwrap();
        assert!(!again.created(), "{name}: second opener must attach");
        assert_eq!(again.get(b"k").unwrap(), Some(b"v".to_vec()), "{name}");
    }
}

/// layout.rs: a MAGIC_INIT magic means "a creator died half-way (safe to
/// initialise again, no data was ever stored)". That holds whatever the
/// length of what the creator managed to write.
#[test]
fn creator_that_died_with_only_the_magic_written_is_reinitialised() {
    let tmp = TempDir::new().unwrap();
    let path = seg_path(tmp.path(), "magic-only");
    write_private(&path, MAGIC_INIT);
    let store = Store::open(&cfg(tmp.path(), "magic-only"))
        .expect("a file holding only MAGIC_INIT must be re-initialised");
    assert!(store.created());
    assert_fresh_and_usable(&store, "magic-only");
}

// ------------------------------------------------------- bad files

/// `Store::open` with `config`, then `Store::attach` of its name; a handle
/// that opens anyway is dropped at once, so it cannot hold anything while
/// the other call runs.
fn open_and_attach(config: &StoreConfig) -> [(&'static str, Result<(), StoreError>); 2] {
    let open = Store::open(config).map(drop);
    let attach = Store::attach(&config.dir, &config.name).map(drop);
    [("open", open), ("attach", attach)]
}

/// Opens `name` both ways, checks the error of each and that the file did
/// not change.
fn assert_refused(
    dir: &Path,
    name: &str,
    expect: &str,
    matches: impl Fn(&StoreError) -> bool,
    config: &StoreConfig,
) {
    let path = seg_path(dir, name);
    let before = snapshot(&path);
    assert_eq!(config.name, name);
    for (how, result) in open_and_attach(config) {
        match result {
            Err(e) if matches(&e) => {}
            Err(e) => panic!("{name}: {how} gave {e:?} ({e}), expected {expect}"),
            Ok(()) => panic!("{name}: {how} succeeded, expected {expect}"),
        }
    }
    assert_untouched(&path, &before, &format!("{name} after open and attach"));
}

#[test]
fn bad_files_are_refused_with_the_right_error_and_left_untouched() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let mut rng = Rng::new(42);
    let not_a_segment = |e: &StoreError| matches!(e, StoreError::NotASegment { .. });

    // Random bytes.
    let mut garbage = vec![0u8; 64 << 10];
    rng.fill(&mut garbage);
    assert_ne!(&garbage[..8], MAGIC_INIT);
    write_private(&seg_path(dir, "garbage"), &garbage);
    assert_refused(
        dir,
        "garbage",
        "NotASegment",
        not_a_segment,
        &cfg(dir, "garbage"),
    );

    // Shorter than a header, not a magic.
    write_private(&seg_path(dir, "short"), b"hello, world");
    assert_refused(
        dir,
        "short",
        "NotASegment",
        not_a_segment,
        &cfg(dir, "short"),
    );

    // Nonzero size, zero magic.
    write_private(&seg_path(dir, "zeros"), &vec![0u8; 8192]);
    assert_refused(
        dir,
        "zeros",
        "NotASegment",
        not_a_segment,
        &cfg(dir, "zeros"),
    );

    // A real segment, then altered copies of it.
    let valid = valid_segment(dir, "valid");
    let total = valid.len() as u64;

    let mut versioned = valid.clone();
    versioned[8..12].copy_from_slice(&(LAYOUT_VERSION + 1).to_ne_bytes());
    write_private(&seg_path(dir, "version"), &versioned);
    assert_refused(
        dir,
        "version",
        "IncompatibleVersion",
        |e| {
            matches!(e, StoreError::IncompatibleVersion { found, expected, .. }
            if *found == LAYOUT_VERSION + 1 && *expected == LAYOUT_VERSION)
        },
        &cfg(dir, "version"),
    );

    write_private(&seg_path(dir, "truncated"), &valid);
    let f = OpenOptions::new()
        .write(true)
        .open(seg_path(dir, "truncated"))
        .unwrap();
    f.set_len(total / 2).unwrap();
    drop(f);
    assert_refused(
        dir,
        "truncated",
        "Truncated",
        |e| {
            matches!(e, StoreError::Truncated { file_len, expected, .. }
            if *file_len == total / 2 && *expected == total)
        },
        &cfg(dir, "truncated"),
    );

    let mut longer = valid.clone();
    longer.extend_from_slice(&[0u8; 4096]);
    write_private(&seg_path(dir, "longer"), &longer);
    assert_refused(
        dir,
        "longer",
        "NotASegment",
        not_a_segment,
        &cfg(dir, "longer"),
    );

    // A creation that never finished is not something a tool may attach to.
    let g = Geometry::for_config(&cfg(dir, "x")).unwrap();
    write_private(&seg_path(dir, "unfinished"), &header_bytes(&g, MAGIC_INIT));
    let before = snapshot(&seg_path(dir, "unfinished"));
    assert!(matches!(
        Store::attach(dir, "unfinished"),
        Err(StoreError::NotASegment { .. })
    ));
    assert_untouched(&seg_path(dir, "unfinished"), &before, "unfinished");

    // An empty file: `attach` never creates.
    write_private(&seg_path(dir, "empty"), b"");
    match Store::attach(dir, "empty") {
        Err(StoreError::NotASegment { .. }) => {}
        other => panic!("empty: attach gave {other:?}, expected NotASegment"),
    }
    assert_eq!(fs::metadata(seg_path(dir, "empty")).unwrap().len(), 0);

    // A missing name: NotFound, and nothing created.
    match Store::attach(dir, "missing") {
        Err(StoreError::NotFound { path }) => assert_eq!(path, seg_path(dir, "missing")),
        other => panic!("missing: attach gave {other:?}, expected NotFound"),
    }
    assert!(!seg_path(dir, "missing").exists());

    // The valid segment under another configuration.
    let path = seg_path(dir, "valid");
    let before = snapshot(&path);
    for (what, other) in [
        ("size", cfg(dir, "valid").size(2 * SIZE)),
        ("stripes", cfg(dir, "valid").stripes(STRIPES * 2)),
        ("max value", cfg(dir, "valid").max_value_len(1000)),
    ] {
        match Store::open(&other) {
            Err(StoreError::GeometryMismatch { .. }) => {}
            r => panic!("other {what}: open gave {r:?}, expected GeometryMismatch"),
        }
        assert_untouched(&path, &before, &format!("valid, other {what}"));
    }
    // ...still there with the right configuration, and for a tool.
    let store = Store::open(&cfg(dir, "valid")).unwrap();
    assert!(!store.created());
    assert_eq!(store.get(b"keep").unwrap(), Some(b"me".to_vec()));
    drop(store);
    let tool = Store::attach(dir, "valid").unwrap();
    assert_eq!(tool.get(b"keep").unwrap(), Some(b"me".to_vec()));
    assert!(tool.verify().unwrap().is_ok());
}

// ---------------------------------------------------------- safety

#[test]
fn created_segment_is_mode_0600_even_with_umask_0() {
    let tmp = TempDir::new().unwrap();
    let store = Store::open(&cfg(tmp.path(), "mode")).unwrap();
    let mode = fs::metadata(seg_path(tmp.path(), "mode")).unwrap().mode();
    assert_eq!(mode & 0o7777, 0o600, "mode {:o}", mode & 0o7777);
    drop(store);

    // umask is per process: create one in a child with umask 0.
    let params = [("size", SIZE.to_string()), ("stripes", STRIPES.to_string())];
    let mut child = [spawn_child(
        "child_umask_zero",
        tmp.path(),
        "mode-umask0",
        &params,
        tmp.path(),
        "umask0",
    )];
    wait_all_ok(&mut child, Instant::now() + DEADLINE);
    let mode = fs::metadata(seg_path(tmp.path(), "mode-umask0"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o7777, 0o600, "umask 0: mode {:o}", mode & 0o7777);
}

#[test]
#[ignore = "child process of created_segment_is_mode_0600_even_with_umask_0"]
fn child_umask_zero() {
    let Some(ctx) = common::child_context("child_umask_zero") else {
        return;
    };
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0) };
    let store = ctx.open();
    assert!(store.created());
    ctx.report("done");
}

#[test]
fn symlink_at_the_segment_path_is_refused_and_its_target_untouched() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let target = dir.join("precious.txt");
    write_private(&target, b"do not overwrite me");
    let before = snapshot(&target);
    std::os::unix::fs::symlink(&target, seg_path(dir, "link")).unwrap();
    for (how, r) in open_and_attach(&cfg(dir, "link")) {
        match r {
            Err(StoreError::Insecure { .. }) => {}
            other => panic!("{how} through a symlink gave {other:?}, expected Insecure"),
        }
        assert_untouched(&target, &before, &format!("symlink target after {how}"));
    }
    assert!(fs::symlink_metadata(seg_path(dir, "link"))
        .unwrap()
        .file_type()
        .is_symlink());

    // A dangling link: its target must not be created.
    let nowhere = dir.join("nowhere");
    std::os::unix::fs::symlink(&nowhere, seg_path(dir, "dangling")).unwrap();
    match Store::open(&cfg(dir, "dangling")) {
        Err(StoreError::Insecure { .. }) => {}
        other => panic!("dangling symlink gave {other:?}, expected Insecure"),
    }
    assert!(!nowhere.exists(), "the dangling link's target was created");
}

#[test]
fn segment_readable_by_others_is_refused_with_a_chmod_hint() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    valid_segment(dir, "open-mode");
    let path = seg_path(dir, "open-mode");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let before = snapshot(&path);
    for (how, r) in open_and_attach(&cfg(dir, "open-mode")) {
        match r {
            Err(e @ StoreError::Insecure { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("chmod 600"), "{how}: message {msg:?}");
            }
            other => panic!("{how} of a 0644 segment gave {other:?}, expected Insecure"),
        }
        assert_untouched(&path, &before, &format!("0644 segment after {how}"));
    }
    // Following the hint works, and the data is intact.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let store = Store::open(&cfg(dir, "open-mode")).unwrap();
    assert_eq!(store.get(b"keep").unwrap(), Some(b"me".to_vec()));
}

#[test]
fn segment_owned_by_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED segment_owned_by_another_user_is_refused: not root, cannot chown");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    valid_segment(dir, "foreign");
    let path = seg_path(dir, "foreign");
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let before = snapshot(&path);
    for (how, r) in open_and_attach(&cfg(dir, "foreign")) {
        match r {
            Err(StoreError::Insecure { .. }) => {}
            other => panic!("{how} of a uid-65534 segment gave {other:?}, expected Insecure"),
        }
        assert_untouched(&path, &before, &format!("foreign segment after {how}"));
        assert_eq!(fs::metadata(&path).unwrap().uid(), 65534);
    }
}

#[test]
fn invalid_names_are_refused() {
    let tmp = TempDir::new().unwrap();
    // The store dir is a level down, so that an escape to `..` would show.
    let dir = &tmp.path().join("stores");
    fs::create_dir(dir).unwrap();
    let long = "x".repeat(65);
    for name in ["../x", "a/b", "", long.as_str(), "..", "a b"] {
        match Store::open(&cfg(dir, name)) {
            Err(StoreError::InvalidName { .. }) => {}
            other => panic!("open {name:?} gave {other:?}, expected InvalidName"),
        }
        match Store::attach(dir, name) {
            Err(StoreError::InvalidName { .. }) => {}
            other => panic!("attach {name:?} gave {other:?}, expected InvalidName"),
        }
        assert!(cfg(dir, name).path().is_err(), "path() of {name:?}");
    }
    assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "a file was created");
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "a file was created next to the store dir"
    );
    // The longest valid name works.
    let store = Store::open(&cfg(dir, &"x".repeat(64))).unwrap();
    assert!(store.created());
}

// ------------------------------------------------- space reservation

/// A tmpfs mounted for the test; unmounted on drop, whatever happens.
struct TmpfsMount(CString);

impl TmpfsMount {
    fn mount(at: &Path, size: &str) -> Result<TmpfsMount, String> {
        let target = CString::new(at.as_os_str().as_bytes()).unwrap();
        let opts = CString::new(format!("size={size}")).unwrap();
        // SAFETY: valid NUL-terminated strings for the whole call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(TmpfsMount(target))
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        // SAFETY: a valid NUL-terminated path.
        unsafe {
            if libc::umount(self.0.as_ptr()) != 0 {
                libc::umount2(self.0.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

#[test]
fn store_larger_than_its_tmpfs_fails_with_no_space_and_leaves_no_data() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED store_larger_than_its_tmpfs: not root, cannot mount a tmpfs");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let mount = match TmpfsMount::mount(tmp.path(), "1m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED store_larger_than_its_tmpfs: mounting a tmpfs failed: {e}");
            return;
        }
    };
    let dir = tmp.path();
    let big = cfg(dir, "big");
    let wanted = Geometry::for_config(&big).unwrap().total_size;
    match Store::open(&big) {
        Err(StoreError::NoSpace { size, dir: d, .. }) => {
            assert_eq!(size, wanted);
            assert_eq!(d, dir);
        }
        other => panic!("4 MiB store on a 1 MiB tmpfs gave {other:?}, expected NoSpace"),
    }
    let path = seg_path(dir, "big");
    assert!(
        fs::symlink_metadata(&path).is_err(),
        "the failed creation left {}",
        path.display()
    );
    assert!(matches!(
        Store::attach(dir, "big"),
        Err(StoreError::NotFound { .. })
    ));
    // A store that fits is fine on the same tmpfs.
    let small = Store::open(&config(dir, "small", 256 << 10, 1)).unwrap();
    assert!(small.created());
    small.set(b"k", &[7u8; 1000], None).unwrap();
    assert!(small.verify().unwrap().is_ok());
    drop(small);
    drop(mount);
}

/// A tmpfs that is 100 % full refuses even the header's page: the error is
/// the "not enough space" hint, not a raw write error, and no empty file is
/// left behind.
#[test]
fn full_tmpfs_gives_the_no_space_hint_and_leaves_no_file() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED full_tmpfs: not root, cannot mount a tmpfs");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let mount = match TmpfsMount::mount(tmp.path(), "1m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED full_tmpfs: mounting a tmpfs failed: {e}");
            return;
        }
    };
    let dir = tmp.path();
    // Fill it to the last page.
    let filler = dir.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let page = [0xAAu8; 4096];
    loop {
        match f.write(&page) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    drop(f);
    let small = config(dir, "small", 256 << 10, 1);
    match Store::open(&small) {
        Err(e @ StoreError::NoSpace { .. }) => {
            assert!(e.to_string().contains("not enough space in"), "{e}");
        }
        other => panic!("a store on a full tmpfs gave {other:?}, expected NoSpace"),
    }
    let path = seg_path(dir, "small");
    assert!(
        fs::symlink_metadata(&path).is_err(),
        "the failed creation left {}",
        path.display()
    );
    // Once there is room, the same store is created. tmpfs may account the
    // filler's pages as free a moment after the unlink returns: wait
    // (boundedly) until the file system reports room for the whole segment.
    fs::remove_file(&filler).unwrap();
    let needed = Geometry::for_config(&small).unwrap().total_size;
    let start = Instant::now();
    while free_bytes(dir) < needed {
        assert!(
            start.elapsed() < DEADLINE,
            "the tmpfs never showed {needed} bytes free after the filler went ({} free)",
            free_bytes(dir)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let store = Store::open(&small).unwrap();
    assert!(store.created());
    drop(store);
    drop(mount);
}

/// Bytes an unprivileged writer may still allocate in the file system of
/// `dir`, as `statvfs` reports them.
fn free_bytes(dir: &Path) -> u64 {
    let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is writable memory of
    // the right type for the duration of the call.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    assert_eq!(
        rc,
        0,
        "statvfs {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
    // SAFETY: statvfs returned 0, so it filled the whole struct.
    let st = unsafe { st.assume_init() };
    st.f_bavail * st.f_frsize
}

/// An opener waiting for the creation lock of a file that its failed
/// creator removes meanwhile opens the path again instead of initialising a
/// file without a name (which no other process would ever find).
#[test]
fn opener_waiting_on_a_removed_file_opens_the_path_again() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().to_path_buf();
    let path = seg_path(&dir, "gone");
    write_private(&path, b"");
    let held = fs::File::open(&path).unwrap();
    held.lock().unwrap();
    let ino = fs::metadata(&path).unwrap().ino();
    let opener = {
        let dir = dir.clone();
        std::thread::spawn(move || Store::open(&cfg(&dir, "gone")).map(|s| s.created()))
    };
    // Wait until the opener is blocked on our flock (a "->" line in /proc/locks).
    let start = Instant::now();
    loop {
        let locks = fs::read_to_string("/proc/locks").unwrap();
        let blocked = locks
            .lines()
            .any(|l| l.contains("->") && l.contains(&format!(":{ino} ")));
        if blocked {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the opener never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    fs::remove_file(&path).unwrap();
    held.unlock().unwrap();
    assert!(
        opener.join().unwrap().unwrap(),
        "the opener did not create the segment"
    );
    // The segment is at its path, where others find it.
    let other = Store::attach(&dir, "gone").unwrap();
    assert!(other.verify().unwrap().is_ok());
}

/// Without a directory, stores live in `/dev/shm/ephpm-<uid>`: created
/// 0700, owned by this user, found again by an attach through either the
/// empty (default) directory or the path itself.
#[test]
fn default_directory_is_per_user_and_private() {
    if !Path::new("/dev/shm").is_dir() {
        eprintln!("SKIPPED default_directory_is_per_user: no /dev/shm");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let dir = shm_store::default_dir();
    assert_eq!(dir, PathBuf::from(format!("/dev/shm/ephpm-{euid}")));
    let name = format!("default-dir-test-{}", std::process::id());
    let cfg = StoreConfig::new(&name).size(256 << 10).stripes(1);
    let path = cfg.path().unwrap();
    assert_eq!(path, dir.join(format!("ephpm_kv.{name}")));
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(path.clone());
    let store = Store::open(&cfg).unwrap();
    assert_eq!(store.path(), path);
    store.set(b"k", b"v", None).unwrap();
    let md = fs::symlink_metadata(&dir).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.uid(), euid);
    assert_eq!(md.mode() & 0o077, 0, "mode {:o}", md.mode() & 0o777);
    for attach_dir in [Path::new(""), dir.as_path()] {
        let other = Store::attach(attach_dir, &name).unwrap();
        assert_eq!(other.get(b"k").unwrap(), Some(b"v".to_vec()));
    }
    assert!(matches!(
        Store::attach(Path::new(""), "default-dir-test-missing"),
        Err(StoreError::NotFound { .. })
    ));
}
