//! Runs the extension's PHP-level tests (`ext/tests/*.phpt`) with PHP's own
//! runner, `run-tests.php`, and fails unless every one of them passed (the
//! runner: `ephpm_shm_tests::phpt`).
//!
//! The PHP under test runs with `-n`, the extension from [`ext_so`] and
//! `ephpm_kv.dir` set to a fresh directory; each test names its own store
//! (`ephpm_kv.name`) in its `--INI--` section. `ext/ephpm_kv.stub.php` is
//! copied beside the tests, as `stub.phpt` expects.

use ephpm_shm_tests::ext_so;
use ephpm_shm_tests::phpt::PhptSuite;

#[test]
fn every_phpt_passes() {
    // Absolute: `extension=` resolves a relative path against extension_dir.
    let so = std::fs::canonicalize(ext_so()).expect("canonical path of the extension");
    let store_dir = tempfile::tempdir().expect("temp dir");
    PhptSuite {
        folder: "ext/tests",
        beside: &["ext/ephpm_kv.stub.php"],
        ini: vec![
            format!("extension={}", so.display()),
            format!("ephpm_kv.dir={}", store_dir.path().display()),
        ],
        env: vec![("EPHPM_KV_SO", so.clone().into_os_string())],
    }
    .run_all_pass();
}
