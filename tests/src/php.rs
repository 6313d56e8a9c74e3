//! The PHP the tests run: the one `php-config` describes, `$PHP_CONFIG`
//! when set (e.g. `/usr/bin/php-config8.4`), else `php-config` on `$PATH`;
//! the scripts pick it the same way (`scripts/lib/php.sh`). Every version
//! the tests name (Debian's `php-fpm8.2`, `libphp8.2.so`, `/etc/php/8.2/`,
//! the package `php8.2-ephpm-kv`, `phpapi-20220829`) is derived here from
//! what php-config reports, so a new PHP needs no edit of a test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What `php-config` reports about one PHP build, and the names Debian's
/// PHP packaging derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Php {
    /// `major.minor` (`8.2`): Debian's `phpX.Y-*` packages and `/etc/php/X.Y/`.
    pub version: String,
    /// The module API number (`20220829`): the extension directory's name
    /// and the `phpapi-` the package depends on.
    pub phpapi: String,
    /// Where shared extensions are loaded from (`/usr/lib/php/20220829`).
    pub extension_dir: PathBuf,
    /// The php CLI (`/usr/bin/php8.2`).
    pub binary: PathBuf,
}

impl Php {
    /// Reads the PHP that `php_config` (a `php-config` script) describes.
    pub fn from_php_config(php_config: &Path) -> Php {
        let query = |option: &str| {
            let out = Command::new(php_config)
                .arg(option)
                .output()
                .unwrap_or_else(|e| panic!("running {} {option}: {e}", php_config.display()));
            assert!(
                out.status.success(),
                "{} {option} failed: {}",
                php_config.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let full = query("--version");
        let version = major_minor(&full)
            .unwrap_or_else(|| panic!("{} --version: {full:?}", php_config.display()));
        Php {
            version,
            phpapi: query("--phpapi"),
            extension_dir: PathBuf::from(query("--extension-dir")),
            binary: PathBuf::from(query("--php-binary")),
        }
    }

    /// The suffix Debian puts on this PHP's binaries (`8.2` of `php8.2`;
    /// empty for a PHP built from source, whose CLI is plain `php`).
    pub fn binary_suffix(&self) -> String {
        let name = self
            .binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.strip_prefix("php").unwrap_or("").to_owned()
    }

    /// Its php-fpm (`php-fpm8.2`), found on `$PATH` as Debian installs it.
    pub fn fpm(&self) -> String {
        format!("php-fpm{}", self.binary_suffix())
    }

    /// Its Apache module, as Debian's `libapache2-mod-phpX.Y` names it
    /// (`libphp8.2.so` in `/usr/lib/apache2/modules`).
    pub fn apache_module(&self) -> String {
        format!("libphp{}.so", self.binary_suffix())
    }

    /// The name of this repository's package for this PHP (`php8.2-ephpm-kv`).
    pub fn package(&self) -> String {
        format!("php{}-ephpm-kv", self.version)
    }

    /// This PHP's configuration directory (`/etc/php/8.2`): `mods-available/`
    /// and one `<sapi>/conf.d/` per SAPI.
    pub fn etc_dir(&self) -> PathBuf {
        PathBuf::from(format!("/etc/php/{}", self.version))
    }
}

/// `8.2` of `8.2.36` (or of `8.6.0RC1`).
pub fn major_minor(full: &str) -> Option<String> {
    let mut parts = full.split('.');
    let major = parts.next().filter(|p| is_number(p))?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!minor.is_empty()).then(|| format!("{major}.{minor}"))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `php-config` the tests use: `$PHP_CONFIG`, else `php-config`.
pub fn php_config() -> PathBuf {
    std::env::var_os("PHP_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("php-config"))
}

/// The PHP under test, read once per test process from [`php_config`].
pub fn php() -> &'static Php {
    static PHP: OnceLock<Php> = OnceLock::new();
    PHP.get_or_init(|| Php::from_php_config(&php_config()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(major_minor("8.2.36").as_deref(), Some("8.2"));
        assert_eq!(major_minor("8.6.0RC1").as_deref(), Some("8.6"));
        assert_eq!(major_minor("8.10.1").as_deref(), Some("8.10"));
        assert_eq!(major_minor("8"), None);
        assert_eq!(major_minor("x.2.1"), None);
    }

    #[test]
    fn debian_names_follow_the_version() {
        let php = Php {
            version: "8.4".into(),
            phpapi: "20240924".into(),
            extension_dir: "/usr/lib/php/20240924".into(),
            binary: "/usr/bin/php8.4".into(),
        };
        assert_eq!(php.fpm(), "php-fpm8.4");
        assert_eq!(php.apache_module(), "libphp8.4.so");
        assert_eq!(php.package(), "php8.4-ephpm-kv");
        assert_eq!(php.etc_dir(), Path::new("/etc/php/8.4"));
        let from_source = Php {
            binary: "/usr/local/bin/php".into(),
            ..php
        };
        assert_eq!(from_source.fpm(), "php-fpm");
        assert_eq!(from_source.apache_module(), "libphp.so");
    }
}
