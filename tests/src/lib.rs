//! Shared helpers for the cross-component tests: where the built extension
//! is, and how to run PHP with it (the PHP that `php-config` describes:
//! [`php::php`]). Servers started by tests live in `servers`.

pub mod apcu;
pub mod browser;
pub mod php;
pub mod phpt;
pub mod redis_cluster;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_path_buf()
}

/// The built extension: `$EPHPM_KV_SO`, else `target/release/libephpm_kv.so`
/// (`./scripts/test` builds it before running the tests).
pub fn ext_so() -> PathBuf {
    let path = std::env::var_os("EPHPM_KV_SO")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release/libephpm_kv.so"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p ephpm-kv` (./scripts/test does)",
        path.display()
    );
    path
}

/// The php CLI under test ([`php::php`]) with no php.ini (`-n`), the
/// extension loaded and its segments in `dir`.
pub fn php_cli(dir: &Path) -> Command {
    let mut cmd = Command::new(&php::php().binary);
    cmd.arg("-n")
        .arg("-d")
        .arg(format!("extension={}", ext_so().display()))
        .arg("-d")
        .arg(format!("ephpm_kv.dir={}", dir.display()));
    cmd
}

/// The `ephpm-shm` binary: `$EPHPM_SHM_BIN`, else the debug build that
/// `cargo nextest run --workspace` builds beside the tests.
pub fn ephpm_shm_bin() -> PathBuf {
    let path = std::env::var_os("EPHPM_SHM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/ephpm-shm"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p ephpm-shm`",
        path.display()
    );
    path
}

/// Shared extensions PHPUnit runs with besides ours: what PHPUnit requires
/// beyond the built-in ones, then phpredis (which links against igbinary,
/// so that first).
pub const PHPUNIT_PHP_EXTENSIONS: &[&str] = &[
    "dom.so",
    "mbstring.so",
    "tokenizer.so",
    "xml.so",
    "xmlwriter.so",
    "igbinary.so",
    "redis.so",
];

/// Debian's PHPUnit on the package in `php/` (its `phpunit.xml.dist`), run
/// by `php -n` with our extension (segments in `dir`, store `pkgtest`) and
/// [`PHPUNIT_PHP_EXTENSIONS`]; `args` go to PHPUnit before `-c`.
pub fn phpunit(dir: &Path, args: &[&str]) -> Command {
    phpunit_suite(
        &repo_root().join("php/phpunit.xml.dist"),
        dir,
        "pkgtest",
        args,
    )
}

/// Debian's PHPUnit on the suite that `config` (a `phpunit.xml.dist` of
/// the repository) describes, run from the config's folder by `php -n`
/// with our extension (segments in `dir`, store `kv_name`) and
/// [`PHPUNIT_PHP_EXTENSIONS`]; `args` go to PHPUnit before `-c`.
pub fn phpunit_suite(config: &Path, dir: &Path, kv_name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(&php::php().binary);
    cmd.arg("-n")
        .arg("-d")
        .arg(format!("extension={}", ext_so().display()));
    for ext in PHPUNIT_PHP_EXTENSIONS {
        cmd.arg("-d").arg(format!("extension={ext}"));
    }
    cmd.arg("-d")
        .arg(format!("ephpm_kv.dir={}", dir.display()))
        .arg("-d")
        .arg(format!("ephpm_kv.name={kv_name}"))
        .arg("/usr/bin/phpunit")
        .args(args)
        .arg("-c")
        .arg(config)
        .current_dir(config.parent().expect("a config is in a folder"));
    cmd
}

/// Checks a finished PHPUnit run: it exited 0 and reported `OK (...)`, with
/// no skipped, risky or incomplete test (every test must have run). Returns
/// the summary line; `context` is added to a failure's message.
pub fn assert_phpunit_ok(out: &std::process::Output, context: &str) -> String {
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "phpunit failed ({}):\n{output}\n{context}",
        out.status
    );
    let summary = output.lines().find(|l| l.starts_with("OK (")).unwrap_or("");
    assert!(!summary.is_empty(), "phpunit did not report OK:\n{output}");
    for word in ["Skipped", "Risky", "Incomplete"] {
        assert!(
            !output.contains(word),
            "phpunit reported {word} tests (every test must run):\n{output}"
        );
    }
    summary.to_string()
}

/// One RESP command as clients send it (an array of bulk strings).
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
