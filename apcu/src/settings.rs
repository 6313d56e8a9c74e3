//! The `apc.*` php.ini settings: APCu's names and defaults, and how their
//! text becomes this module's store configuration. No Zend calls here.
//!
//! Every setting APCu 5.1.22 registers is registered, so a php.ini written
//! for APCu loads cleanly; the ones marked "accepted" below change nothing
//! here (the store sizes, evicts and expires by its own rules).

use shm_store::{parse_size, StoreConfig};

/// One setting: php.ini name, default, and whether `ini_set` may change it.
pub(crate) struct Setting {
    pub(crate) name: &'static str,
    pub(crate) default: &'static str,
    pub(crate) runtime: bool,
}

const fn system(name: &'static str, default: &'static str) -> Setting {
    Setting {
        name,
        default,
        runtime: false,
    }
}

/// `apc.enabled`: Off disables the API (every function fails quietly).
pub(crate) const ENABLED: Setting = system("apc.enabled", "1");
/// `apc.enable_cli`: Off (APCu's default) disables the API in php-cli.
pub(crate) const ENABLE_CLI: Setting = system("apc.enable_cli", "0");
/// `apc.shm_size`: the store's size when this process creates it.
pub(crate) const SHM_SIZE: Setting = system("apc.shm_size", "32M");
/// `apc.name` (this module's own): which shared store; empty = `default`,
/// or under php-cli a store private to the process.
pub(crate) const NAME: Setting = system("apc.name", "");
/// `apc.dir` (this module's own): the segments' directory; empty = the
/// per-user `/dev/shm/ephpm-<uid>` that `ephpm_kv` uses too.
pub(crate) const DIR: Setting = system("apc.dir", "");
/// `apc.serializer`: `php` or `igbinary` (`default` is `php`).
pub(crate) const SERIALIZER: Setting = system("apc.serializer", "php");
/// `apc.use_request_time`: accepted; TTLs count from the call (see README).
pub(crate) const USE_REQUEST_TIME: Setting = Setting {
    name: "apc.use_request_time",
    default: "0",
    runtime: true,
};

/// Every registered setting.
pub(crate) const ALL: [Setting; 16] = [
    ENABLED,
    ENABLE_CLI,
    SHM_SIZE,
    NAME,
    DIR,
    SERIALIZER,
    USE_REQUEST_TIME,
    // Accepted for APCu's php.ini files; they do nothing here.
    system("apc.shm_segments", "1"),
    system("apc.entries_hint", "4096"),
    system("apc.gc_ttl", "3600"),
    system("apc.ttl", "0"),
    system("apc.smart", "0"),
    system("apc.mmap_file_mask", ""),
    system("apc.slam_defense", "0"),
    system("apc.preload_path", ""),
    system("apc.coredump_unmap", "0"),
];

/// The store name `apc.name` maps to (`apcu.<name>`): never one of
/// `ephpm_kv`'s own names unless `ephpm_kv.name` is set to it on purpose.
pub(crate) fn store_name(name: &str) -> String {
    format!("apcu.{name}")
}

/// `On`/`Off`-style booleans as php.ini writes them.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" | "" | "none" => Some(false),
        _ => None,
    }
}

/// Which serializer stores values the compact format does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serializer {
    /// PHP's `serialize`/`unserialize`.
    Php,
    /// `igbinary_serialize`/`igbinary_unserialize` (the igbinary extension).
    Igbinary,
}

/// `apc.serializer`'s value; the error says what it accepts.
pub(crate) fn serializer(text: &str) -> Result<Serializer, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "php" | "default" | "" => Ok(Serializer::Php),
        "igbinary" => Ok(Serializer::Igbinary),
        other => Err(format!(
            "apc.serializer = {other:?} is not a serializer this module knows (php or igbinary): \
             values are stored with php's"
        )),
    }
}

/// Where this process's store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The API is disabled (`apc.enabled` or, under php-cli, `apc.enable_cli` Off).
    Disabled,
    /// A store private to this process (php-cli without `apc.name`).
    Private(StoreConfig),
    /// The shared store of this configuration.
    Shared(StoreConfig),
}

/// Resolves the settings (looked up by `value_of`, which gets a
/// setting's php.ini name) for a process of SAPI `sapi`.
pub(crate) fn resolve(sapi: &str, value_of: impl Fn(&Setting) -> String) -> Result<Place, String> {
    let flag = |setting: &Setting| {
        let text = value_of(setting);
        parse_bool(&text).ok_or_else(|| {
            format!(
                "invalid {} value {text:?} (expected On or Off; default {:?})",
                setting.name, setting.default
            )
        })
    };
    let cli = sapi == "cli";
    if !flag(&ENABLED)? || (cli && !flag(&ENABLE_CLI)?) {
        return Ok(Place::Disabled);
    }
    let size_text = value_of(&SHM_SIZE);
    let size = parse_size(&size_text).map_err(|_| {
        format!(
            "invalid {} value {size_text:?} (expected a size like 32M or 1G)",
            SHM_SIZE.name
        )
    })?;
    let name = value_of(&NAME);
    let name = name.trim();
    let shared_name = if name.is_empty() { "default" } else { name };
    let full = store_name(shared_name);
    shm_store::validate_name(&full).map_err(|e| format!("invalid {}: {e}", NAME.name))?;
    let dir = value_of(&DIR);
    let dir = dir.trim();
    if !dir.is_empty() && !dir.starts_with('/') {
        return Err(format!(
            "invalid {} value {dir:?} (expected an absolute directory, or empty for /dev/shm/ephpm-<uid>)",
            DIR.name
        ));
    }
    let config = StoreConfig::new(full).size(size).dir(dir);
    shm_store::Geometry::for_config(&config)
        .map_err(|e| format!("{} = {size_text}: {e}", SHM_SIZE.name))?;
    Ok(if cli && name.is_empty() {
        Place::Private(config)
    } else {
        Place::Shared(config)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&Setting) -> String + 'a {
        move |s| {
            pairs
                .iter()
                .find(|(n, _)| *n == s.name)
                .map_or(s.default, |(_, v)| v)
                .to_string()
        }
    }

    #[test]
    fn cli_is_disabled_unless_enable_cli() {
        assert_eq!(resolve("cli", with(&[])), Ok(Place::Disabled));
        assert!(matches!(
            resolve("cli", with(&[("apc.enable_cli", "1")])),
            Ok(Place::Private(_))
        ));
        assert!(matches!(
            resolve("cli", with(&[("apc.enable_cli", "1"), ("apc.name", "pool")])),
            Ok(Place::Shared(c)) if c.name == "apcu.pool"
        ));
    }

    #[test]
    fn fpm_shares_the_default_store() {
        match resolve("fpm-fcgi", with(&[])) {
            Ok(Place::Shared(c)) => {
                assert_eq!(c.name, "apcu.default");
                assert_eq!(c.size, 32 << 20);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve("fpm-fcgi", with(&[("apc.enabled", "0")])),
            Ok(Place::Disabled)
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = resolve("fpm-fcgi", with(&[("apc.shm_size", "lots")])).unwrap_err();
        assert!(e.contains("apc.shm_size"), "{e}");
        let e = resolve("fpm-fcgi", with(&[("apc.name", "a/b")])).unwrap_err();
        assert!(e.contains("apc.name"), "{e}");
        let e = resolve("fpm-fcgi", with(&[("apc.dir", "relative")])).unwrap_err();
        assert!(e.contains("apc.dir"), "{e}");
        let e = resolve("fpm-fcgi", with(&[("apc.enabled", "maybe")])).unwrap_err();
        assert!(e.contains("apc.enabled"), "{e}");
    }

    #[test]
    fn serializers() {
        assert_eq!(serializer("php"), Ok(Serializer::Php));
        assert_eq!(serializer("default"), Ok(Serializer::Php));
        assert_eq!(serializer("igbinary"), Ok(Serializer::Igbinary));
        assert!(serializer("msgpack").unwrap_err().contains("msgpack"));
    }
}
