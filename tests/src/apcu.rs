//! The APCu module under test, chosen in one place: this tree's
//! `target/release/libephpm_apcu.so` (built by `cargo build --release -p
//! ephpm-apcu`), or `$EPHPM_APCU_SO`: a path, or `distribution` for
//! Debian's APCu (`php<X.Y>-apcu`'s `apcu.so`), to show what the tests prove
//! against the extension they replace. php-cli and php-fpm load it with
//! the same settings from [`Module::ini`].

use crate::servers::{Fpm, Pool, Site, User};
use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that picks the module.
pub const SO_VAR: &str = "EPHPM_APCU_SO";

/// Size of every store the tests create (`apc.shm_size`).
pub const SHM_SIZE: &str = "32M";

/// Extensions Debian's PHPUnit needs beyond the built-in ones (loaded in
/// both SAPIs: the conformance suites run in php-cli and in php-fpm).
const PHPUNIT_EXTENSIONS: &[&str] = &[
    "dom.so",
    "mbstring.so",
    "tokenizer.so",
    "xml.so",
    "xmlwriter.so",
];

/// An APCu module: which file PHP loads as `apcu`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Module {
    /// This project's module (a `.so` path).
    Built(PathBuf),
    /// Debian's APCu (`apcu.so` in the extension directory).
    Distribution,
}

impl Module {
    /// The module `$EPHPM_APCU_SO` names, else this tree's release build.
    /// `None` when that file is missing, after saying so loudly on stderr;
    /// with `CI=true` a missing module fails the test instead.
    pub fn under_test() -> Option<Module> {
        let path = match std::env::var(SO_VAR) {
            Ok(v) if v == "distribution" => return Some(Module::Distribution),
            Ok(v) if !v.is_empty() => PathBuf::from(v),
            _ => crate::repo_root().join("target/release/libephpm_apcu.so"),
        };
        if path.is_file() {
            return Some(Module::Built(path));
        }
        let message = format!(
            "{} is missing: build it with `cargo build --release -p ephpm-apcu` \
             (or set {SO_VAR}=<path>, or {SO_VAR}=distribution for Debian's APCu)",
            path.display()
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message} (CI=true: a missing module fails)"
        );
        eprintln!("\n########## SKIPPED: {message} ##########\n");
        None
    }

    /// This project's module, for the tests of its own behaviour (which
    /// Debian's APCu does not have): the path [`Module::under_test`] names;
    /// panics if it is missing or names Debian's APCu.
    pub fn built_so() -> PathBuf {
        match Module::under_test() {
            Some(Module::Built(path)) => path,
            Some(Module::Distribution) => {
                panic!("{SO_VAR}=distribution: these tests are of this project's module")
            }
            None => panic!("the module is missing (see above)"),
        }
    }

    /// Whether this is Debian's APCu (one cache per process tree).
    pub fn is_distribution(&self) -> bool {
        *self == Module::Distribution
    }

    /// The value of `extension=` that loads it.
    pub fn extension(&self) -> String {
        match self {
            Module::Built(path) => path.display().to_string(),
            Module::Distribution => "apcu.so".to_string(),
        }
    }

    /// The settings both SAPIs load it with (and the extensions PHPUnit
    /// needs): enabled in the CLI too, the tests' store size, segments in
    /// `dir` (`apc.dir`, the site's segment directory), and store `name`
    /// (`apc.name`; without one, the CLI gets a store of its own as under
    /// APCu). Debian's APCu ignores the settings it does not know.
    pub fn ini(&self, name: Option<&StoreName>, dir: &Path) -> Vec<(String, String)> {
        let mut ini = vec![
            ("extension".to_string(), self.extension()),
            ("apc.enabled".to_string(), "1".to_string()),
            ("apc.enable_cli".to_string(), "1".to_string()),
            ("apc.shm_size".to_string(), SHM_SIZE.to_string()),
            ("apc.dir".to_string(), dir.display().to_string()),
        ];
        for ext in PHPUNIT_EXTENSIONS {
            ini.push(("extension".to_string(), ext.to_string()));
        }
        if let Some(name) = name {
            ini.push(("apc.name".to_string(), name.0.clone()));
        }
        ini
    }

    /// php-cli (`-n`, run in the site's directory) with [`Module::ini`],
    /// as the user the tests run as; warnings go to stderr.
    pub fn php_cli(&self, site: &Site, name: Option<&StoreName>) -> Command {
        let mut cmd = Command::new(&crate::php::php().binary);
        cmd.arg("-n");
        for (key, value) in self.ini(name, site.shm_dir()) {
            cmd.arg("-d").arg(format!("{key}={value}"));
        }
        cmd.arg("-d")
            .arg("error_reporting=E_ALL")
            .arg("-d")
            .arg("display_errors=stderr")
            .current_dir(site.path());
        cmd
    }

    /// [`Module::php_cli`] run as `user`.
    pub fn php_cli_as(&self, site: &Site, name: Option<&StoreName>, user: &User) -> Command {
        let mut cmd = self.php_cli(site, name);
        cmd.uid(user.uid).gid(user.gid).env("HOME", "/");
        cmd
    }

    /// php-fpm ([`Fpm::start_with_ini`]) with the module loaded by its
    /// php.ini, store `name` for every pool. The site's php.ini loads
    /// `ephpm_kv` too (as every php-fpm of the tests does: build it with
    /// `cargo build --release -p ephpm-kv`), so the module also runs beside it.
    pub fn start_fpm(&self, site: &Site, name: &StoreName, pools: Vec<Pool>) -> Fpm {
        let ini: String = self
            .ini(Some(name), site.shm_dir())
            .into_iter()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect();
        Fpm::start_with_ini(site, &format!("kv-{name}"), pools, &ini)
    }
}

/// A fixture file of the APCu tests (`tests/fixtures/apcu/<path>`).
pub fn fixture(path: &str) -> PathBuf {
    crate::repo_root().join("tests/fixtures/apcu").join(path)
}

/// A store name (`apc.name`) no other test or earlier run uses:
/// `<test>-<pid>`. Its segment is in the site's segment directory
/// (`apc.dir`), removed with the site.
#[derive(Debug)]
pub struct StoreName(String);

impl StoreName {
    /// `<test>-<this process's pid>`.
    pub fn new(test: &str) -> StoreName {
        StoreName(format!("{test}-{}", std::process::id()))
    }

    /// The name as `apc.name` takes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
