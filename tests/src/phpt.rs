//! Runs a folder of `.phpt` tests with PHP's own runner, `run-tests.php`,
//! and fails unless every one of them passed: used by `tests/phpt.rs`
//! (`ext/tests`, the `ephpm_kv` extension) and `tests/apcu_phpt.rs`
//! (`apcu/tests`, the `apcu` module).
//!
//! The PHP under test runs with `-n` (no php.ini, so an installed copy of a
//! module in `/etc/php/*/conf.d` is not loaded a second time) and the
//! `-d` settings the caller gives.
//!
//! run-tests.php writes its scratch files (and the `.diff`/`.out` of failing
//! tests) next to the tests, so the tests are run from a copy of the folder
//! (with the files the caller names beside it): the work tree stays clean
//! and concurrent runs do not collide.
//!
//! `$RUN_TESTS_PHP` overrides where run-tests.php is found (by default
//! `<PHP_EXTENSION_DIR>/build/run-tests.php`, as Debian's php-dev installs it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The php CLI under test, `php-config --php-binary` (absolute, as
/// run-tests.php wants it).
pub fn php_binary() -> PathBuf {
    crate::php::php().binary.clone()
}

fn run_tests_php(php: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("RUN_TESTS_PHP") {
        return PathBuf::from(path);
    }
    let out = Command::new(php)
        .args(["-n", "-r", "echo PHP_EXTENSION_DIR;"])
        .output()
        .expect("run php");
    assert!(out.status.success(), "php -r failed: {out:?}");
    let path = Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("build/run-tests.php");
    assert!(
        path.is_file(),
        "{} is missing (install php-dev, or set RUN_TESTS_PHP)",
        path.display()
    );
    path
}

/// The `Tests passed : 12 (...)`-style counts of run-tests' summary, by
/// their lower-cased label ("passed", "failed", "skipped", ...), and the
/// "Number of tests" total under "number".
fn summary(output: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in output.lines() {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let label = label.trim();
        let key = if let Some(what) = label.strip_prefix("Tests ") {
            what.trim().to_ascii_lowercase()
        } else if label == "Number of tests" {
            "number".to_string()
        } else if label == "Expected fail" {
            "xfail".to_string()
        } else {
            continue;
        };
        if let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
            counts.insert(key, n);
        }
    }
    counts
}

/// What run-tests.php left for one failing test: its .diff and .out.
fn failure_details(phpt: &Path) -> String {
    let mut text = String::new();
    for ext in ["diff", "out"] {
        let file = phpt.with_extension(ext);
        match std::fs::read(&file) {
            Ok(bytes) => text.push_str(&format!(
                "---- {} ----\n{}\n",
                file.display(),
                String::from_utf8_lossy(&bytes)
            )),
            Err(e) => text.push_str(&format!("---- {}: {e}\n", file.display())),
        }
    }
    text
}

/// One run of a folder of `.phpt` tests.
pub struct PhptSuite {
    /// The folder of `.phpt` (and `.inc`) files, relative to the repository
    /// root (`ext/tests`): copied to the same place in a temporary tree.
    pub folder: &'static str,
    /// Other files of the repository the tests read, copied to the same
    /// relative place (`ext/ephpm_kv.stub.php`).
    pub beside: &'static [&'static str],
    /// `-d` settings (`extension=...` first) for every test.
    pub ini: Vec<String>,
    /// Environment variables for the tests.
    pub env: Vec<(&'static str, OsString)>,
}

impl PhptSuite {
    /// Runs every test of the folder; panics with the diffs unless all passed.
    pub fn run_all_pass(&self) {
        let php = php_binary();
        let runner = run_tests_php(&php);
        let root = crate::repo_root();
        let source = root.join(self.folder);
        let work = tempfile::tempdir().expect("temp dir");
        let tests_dir = work.path().join(self.folder);
        std::fs::create_dir_all(&tests_dir).expect("create the copy of the tests");
        for file in self.beside {
            let target = work.path().join(file);
            std::fs::create_dir_all(target.parent().expect("a file's folder"))
                .expect("create a folder");
            std::fs::copy(root.join(file), &target).unwrap_or_else(|e| panic!("copy {file}: {e}"));
        }
        let mut phpts = Vec::new();
        for entry in std::fs::read_dir(&source).expect("read the tests' folder") {
            let path = entry.expect("dir entry").path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "phpt" || ext == "inc" {
                let copy = tests_dir.join(path.file_name().expect("file name"));
                std::fs::copy(&path, &copy).expect("copy a test file");
                if ext == "phpt" {
                    phpts.push(copy);
                }
            }
        }
        phpts.sort();
        assert!(!phpts.is_empty(), "no .phpt in {}", source.display());

        let failed_list = work.path().join("failed.txt");
        let mut command = Command::new(&php);
        command.arg("-n").arg(&runner).args([
            "-q",
            "-n",
            "--no-color",
            "--show-diff",
            "--set-timeout",
            "120",
        ]);
        command.arg("-p").arg(&php);
        for setting in &self.ini {
            command.arg("-d").arg(setting);
        }
        command
            .arg("-w")
            .arg(&failed_list)
            .arg(&tests_dir)
            .env("NO_INTERACTION", "1")
            .env("TEST_PHP_EXECUTABLE", &php)
            .env_remove("TEST_PHP_ARGS")
            .env_remove("PHP_INI_SCAN_DIR")
            .current_dir(&tests_dir);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let output = command.output().expect("run run-tests.php");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let counts = summary(&text);
        let count = |label: &str| counts.get(label).copied().unwrap_or(0);
        // Shown with --nocapture (scripts/test-php-chroot counts the tests of
        // another PHP's run from it).
        println!(
            "run-tests.php: {} .phpt files, {} passed, {} failed",
            phpts.len(),
            count("passed"),
            phpts.len() - count("passed").min(phpts.len())
        );

        let failed: Vec<PathBuf> = std::fs::read_to_string(&failed_list)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(PathBuf::from)
            .collect();
        let ok = count("failed") == 0
            && count("borked") == 0
            && count("warned") == 0
            && count("leaked") == 0
            && count("skipped") == 0
            && count("passed") == phpts.len()
            && failed.is_empty();
        if !ok {
            let details: String = failed.iter().map(|p| failure_details(p)).collect();
            panic!(
                "run-tests.php: {} .phpt files, summary {counts:?}, exit {:?}\n\
                 failed: {failed:#?}\n\n{details}\n==== full output ====\n{text}",
                phpts.len(),
                output.status.code(),
            );
        }
    }
}
