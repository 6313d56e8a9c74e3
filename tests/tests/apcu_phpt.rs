//! The `apcu` module's PHP-level tests (`apcu/tests/*.phpt`), run with PHP's
//! own `run-tests.php` (the runner: `ephpm_shm_tests::phpt`) against
//! `target/release/libephpm_apcu.so` (or `$EPHPM_APCU_SO`), with
//! `apc.dir` set to a fresh directory. Tests in php-cli without `apc.name`
//! each get a store private to their process, as APCu's CLI does.

use ephpm_shm_tests::phpt::{apcu_so, PhptSuite};

#[test]
fn every_apcu_phpt_passes() {
    // Absolute: `extension=` resolves a relative path against extension_dir.
    let so = std::fs::canonicalize(apcu_so()).expect("canonical path of the module");
    let store_dir = tempfile::tempdir().expect("temp dir");
    PhptSuite {
        folder: "apcu/tests",
        beside: &[],
        ini: vec![
            format!("extension={}", so.display()),
            format!("apc.dir={}", store_dir.path().display()),
        ],
        env: vec![("EPHPM_APCU_SO", so.clone().into_os_string())],
    }
    .run_all_pass();
}
