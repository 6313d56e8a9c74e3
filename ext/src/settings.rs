//! The `ephpm_kv.*` php.ini settings: their names, defaults, and how their
//! text becomes a store configuration. No Zend calls here.

use shm_store::{parse_size, Codec, Compression, EvictionPolicy, StoreConfig};
use std::time::Duration;

/// One setting: php.ini name and default.
pub(crate) struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    /// Changeable at run time (`ini_set`, `php_value`), not just in php.ini.
    pub runtime: bool,
}

pub(crate) const ENABLED: Setting = Setting {
    name: "ephpm_kv.enabled",
    default: "1",
    runtime: false,
};
pub(crate) const NAME: Setting = Setting {
    name: "ephpm_kv.name",
    default: "default",
    runtime: false,
};
pub(crate) const SIZE: Setting = Setting {
    name: "ephpm_kv.size",
    default: "64M",
    runtime: false,
};
/// Empty: the per-user directory `/dev/shm/ephpm-<uid>` of the worker
/// that opens the store (resolved then, not at startup as root).
pub(crate) const DIR: Setting = Setting {
    name: "ephpm_kv.dir",
    default: "",
    runtime: false,
};
pub(crate) const EVICTION: Setting = Setting {
    name: "ephpm_kv.eviction",
    default: "allkeys-lru",
    runtime: false,
};
pub(crate) const STRIPES: Setting = Setting {
    name: "ephpm_kv.stripes",
    default: "0",
    runtime: false,
};
pub(crate) const MAX_VALUE_SIZE: Setting = Setting {
    name: "ephpm_kv.max_value_size",
    default: "0",
    runtime: false,
};
/// Empty: the store's default, recorded when it was created (`none` unless
/// `ephpm-shm create --compression` chose another). Unlike the eviction
/// policy, each pool may compress its own writes its own way: every
/// entry says how it is stored and every handle reads every entry.
pub(crate) const COMPRESSION: Setting = Setting {
    name: "ephpm_kv.compression",
    default: "",
    runtime: false,
};
/// Empty: the store's (zstd's 3 unless the creator chose another).
pub(crate) const COMPRESSION_LEVEL: Setting = Setting {
    name: "ephpm_kv.compression_level",
    default: "",
    runtime: false,
};
/// Empty: the store's (1024 bytes unless the creator chose another).
pub(crate) const COMPRESSION_MIN_SIZE: Setting = Setting {
    name: "ephpm_kv.compression_min_size",
    default: "",
    runtime: false,
};

pub(crate) const SESSION_LOCKING: Setting = Setting {
    name: "ephpm_kv.session_locking",
    default: "1",
    runtime: true,
};
pub(crate) const SESSION_LOCK_WAIT_MS: Setting = Setting {
    name: "ephpm_kv.session_lock_wait_ms",
    default: "10000",
    runtime: true,
};

pub(crate) const ALL: [Setting; 12] = [
    ENABLED,
    NAME,
    SIZE,
    DIR,
    EVICTION,
    STRIPES,
    MAX_VALUE_SIZE,
    COMPRESSION,
    COMPRESSION_LEVEL,
    COMPRESSION_MIN_SIZE,
    SESSION_LOCKING,
    SESSION_LOCK_WAIT_MS,
];

/// What the settings resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Disabled,
    Store(StoreConfig),
}

/// `On`/`Off`-style booleans as php.ini writes them.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" | "" | "none" => Some(false),
        _ => None,
    }
}

fn invalid(setting: &Setting, value: &str, expected: &str) -> String {
    format!(
        "invalid {} value {:?} (expected {expected}; default {:?})",
        setting.name, value, setting.default
    )
}

/// Builds the store configuration from the current values of the settings,
/// looked up with `value_of` (which gets a setting's php.ini name). The error
/// names the setting and what it accepts.
pub(crate) fn resolve(value_of: impl Fn(&Setting) -> String) -> Result<Resolved, String> {
    let enabled = value_of(&ENABLED);
    match parse_bool(&enabled) {
        Some(true) => {}
        Some(false) => return Ok(Resolved::Disabled),
        None => return Err(invalid(&ENABLED, &enabled, "On or Off")),
    }
    let dir = value_of(&DIR);
    if !dir.is_empty() && !dir.starts_with('/') {
        return Err(invalid(
            &DIR,
            &dir,
            "an absolute directory path, or empty for /dev/shm/ephpm-<uid>",
        ));
    }
    let mut config = StoreConfig::new("default").dir(dir);
    for setting in STORE_SETTINGS {
        let text = value_of(&setting);
        config = apply(config, &setting, &text).map_err(|expected| {
            if setting.name == NAME.name {
                expected
            } else {
                invalid(&setting, &text, &expected)
            }
        })?;
    }
    checked(config).map(Resolved::Store)
}

/// The settings that shape the store configuration (`session.save_path`
/// options take the same, but the name).
const STORE_SETTINGS: [Setting; 8] = [
    NAME,
    SIZE,
    EVICTION,
    STRIPES,
    MAX_VALUE_SIZE,
    COMPRESSION,
    COMPRESSION_LEVEL,
    COMPRESSION_MIN_SIZE,
];

/// Geometry errors (a size too small for the stripes, ...) are found now,
/// not when the segment is first opened.
fn checked(config: StoreConfig) -> Result<StoreConfig, String> {
    shm_store::Geometry::for_config(&config).map_err(|e| e.to_string())?;
    Ok(config)
}

/// `config` with one store setting changed to `text`; the error says what
/// the setting accepts.
fn apply(config: StoreConfig, setting: &Setting, text: &str) -> Result<StoreConfig, String> {
    let size = |text: &str| parse_size(text).ok();
    Ok(match setting.name {
        n if n == NAME.name => {
            shm_store::validate_name(text).map_err(|e| format!("invalid {}: {e}", NAME.name))?;
            StoreConfig {
                name: text.to_string(),
                ..config
            }
        }
        n if n == SIZE.name => config.size(size(text).ok_or("a size like 64M or 1G")?),
        n if n == EVICTION.name => {
            let policy: EvictionPolicy = text
                .trim()
                .parse()
                .map_err(|_| "noeviction, allkeys-lru, volatile-lru or allkeys-random")?;
            config.eviction(policy)
        }
        n if n == STRIPES.name => match text.trim().parse::<u32>() {
            Ok(0) => StoreConfig {
                stripes: None,
                ..config
            },
            Ok(n) => config.stripes(n),
            Err(_) => return Err("0 (automatic) or a number of stripes".into()),
        },
        n if n == MAX_VALUE_SIZE.name => match size(text).and_then(|n| u32::try_from(n).ok()) {
            Some(0) => StoreConfig {
                max_value_len: None,
                ..config
            },
            Some(n) => config.max_value_len(n),
            None => return Err("0 (automatic) or a size like 1M".into()),
        },
        n if n == COMPRESSION.name => match text.trim() {
            "" => StoreConfig {
                compression: shm_store::CompressionAsk {
                    codec: None,
                    ..config.compression
                },
                ..config
            },
            // PHP's ini parser makes a bare `none` (or `off`) empty, the
            // store's: `"none"` quoted, or `0`, says none.
            "0" => config.compression_codec(Codec::None),
            codec => config.compression_codec(codec.parse::<Codec>().map_err(|_| {
                "none (quoted in php.ini: \"none\"), 0 or zstd, or empty for the store's"
            })?),
        },
        n if n == COMPRESSION_LEVEL.name => {
            let levels = Compression::levels();
            let expected = || {
                format!(
                    "a zstd level from {} to {} (3 is zstd's default), or empty for the store's",
                    levels.start(),
                    levels.end()
                )
            };
            match text.trim() {
                "" => StoreConfig {
                    compression: shm_store::CompressionAsk {
                        level: None,
                        ..config.compression
                    },
                    ..config
                },
                level => match level.parse::<i32>() {
                    Ok(n) if levels.contains(&n) => config.compression_level(n),
                    _ => return Err(expected()),
                },
            }
        }
        n if n == COMPRESSION_MIN_SIZE.name => match text.trim() {
            "" => StoreConfig {
                compression: shm_store::CompressionAsk {
                    min_size: None,
                    ..config.compression
                },
                ..config
            },
            min => match size(min).and_then(|n| usize::try_from(n).ok()) {
                Some(n) => config.compression_min_size(n),
                None => {
                    return Err("a size in bytes like 1024 or 4K, or empty for the store's".into())
                }
            },
        },
        other => unreachable!("{other} is not a store setting"),
    })
}

/// Whether `session.save_path` leaves sessions in the main store (see
/// [`session_store`]).
pub(crate) fn names_main_store(save_path: &str) -> bool {
    let save_path = save_path.trim();
    save_path.is_empty() || save_path.contains('/')
}

/// The store that `session.save_path` names for the `ephpm` session
/// handler. Empty, or a directory (what the `files` handler used, such as
/// Debian's default `/var/lib/php/sessions`): the main store `main`.
/// Otherwise `NAME` or `NAME?size=32M&eviction=volatile-lru`: a store of its
/// own, taking the settings it does not give from `main`'s.
pub(crate) fn session_store(main: StoreConfig, save_path: &str) -> Result<StoreConfig, String> {
    if names_main_store(save_path) {
        return Ok(main);
    }
    let save_path = save_path.trim();
    let (name, options) = save_path.split_once('?').unwrap_or((save_path, ""));
    let mut config = apply(main, &NAME, name)?;
    for option in options.split('&').filter(|o| !o.is_empty()) {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        let setting = STORE_SETTINGS[1..]
            .iter()
            .find(|s| s.name.strip_prefix("ephpm_kv.") == Some(key))
            .ok_or_else(|| {
                format!(
                    "unknown option {key:?} in session.save_path {save_path:?} \
                     (accepted: size, eviction, stripes, max_value_size, compression, \
                     compression_level, compression_min_size)"
                )
            })?;
        config = apply(config, setting, value).map_err(|expected| {
            format!(
                "invalid {key} {value:?} in session.save_path {save_path:?} (expected {expected})"
            )
        })?;
    }
    checked(config)
}

/// How long a session request may wait for another request's lock on its
/// session: `None` when locking is off.
pub(crate) fn session_lock_wait(
    value_of: impl Fn(&Setting) -> String,
) -> Result<Option<Duration>, String> {
    let locking = value_of(&SESSION_LOCKING);
    match parse_bool(&locking) {
        Some(false) => return Ok(None),
        Some(true) => {}
        None => return Err(invalid(&SESSION_LOCKING, &locking, "On or Off")),
    }
    let wait = value_of(&SESSION_LOCK_WAIT_MS);
    let ms: u64 = wait
        .trim()
        .parse()
        .map_err(|_| invalid(&SESSION_LOCK_WAIT_MS, &wait, "a number of milliseconds"))?;
    Ok(Some(Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(overrides: &[(&str, &str)]) -> Result<Resolved, String> {
        let map: HashMap<&str, &str> = overrides.iter().copied().collect();
        resolve(|s| map.get(s.name).copied().unwrap_or(s.default).to_string())
    }

    #[test]
    fn defaults_resolve() {
        let Resolved::Store(cfg) = with(&[]).unwrap() else {
            panic!("disabled by default")
        };
        assert_eq!(cfg.name, "default");
        assert_eq!(cfg.size, 64 << 20);
        assert_eq!(cfg.eviction, EvictionPolicy::AllKeysLru);
        // Empty: the per-user default, resolved by the worker that opens it.
        assert_eq!(cfg.dir.to_str(), Some(""));
        assert!(cfg.path().unwrap().starts_with(shm_store::default_dir()));
        // Compression: nothing asked, the store's applies.
        assert_eq!(cfg.compression, shm_store::CompressionAsk::default());
    }

    #[test]
    fn compression_settings() {
        let Resolved::Store(cfg) = with(&[
            ("ephpm_kv.compression", "zstd"),
            ("ephpm_kv.compression_level", "9"),
            ("ephpm_kv.compression_min_size", "4K"),
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            cfg.compression,
            shm_store::CompressionAsk {
                codec: Some(Codec::Zstd),
                level: Some(9),
                min_size: Some(4096)
            }
        );
        let Resolved::Store(cfg) = with(&[("ephpm_kv.compression", " none ")]).unwrap() else {
            panic!()
        };
        assert_eq!(cfg.compression.codec, Some(Codec::None));
        assert_eq!(cfg.compression.level, None);
        for (setting, value) in [
            ("ephpm_kv.compression", "gzip"),
            ("ephpm_kv.compression_level", "99"),
            ("ephpm_kv.compression_level", "high"),
            ("ephpm_kv.compression_min_size", "-1"),
        ] {
            let err = with(&[(setting, value)]).unwrap_err();
            assert!(err.contains(setting), "{setting}={value}: {err}");
        }
        let own =
            session_store(main_store(), "s?compression=zstd&compression_min_size=100").unwrap();
        assert_eq!(
            (own.compression.codec, own.compression.min_size),
            (Some(Codec::Zstd), Some(100))
        );
    }

    #[test]
    fn disabled_and_overrides() {
        assert_eq!(
            with(&[("ephpm_kv.enabled", "Off")]).unwrap(),
            Resolved::Disabled
        );
        let Resolved::Store(cfg) = with(&[
            ("ephpm_kv.size", "128M"),
            ("ephpm_kv.eviction", "noeviction"),
            ("ephpm_kv.stripes", "8"),
            ("ephpm_kv.max_value_size", "2M"),
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (cfg.size, cfg.stripes, cfg.max_value_len),
            (128 << 20, Some(8), Some(2 << 20))
        );
        assert_eq!(cfg.eviction, EvictionPolicy::NoEviction);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        for (setting, value) in [
            ("ephpm_kv.enabled", "maybe"),
            ("ephpm_kv.name", "../etc"),
            ("ephpm_kv.size", "lots"),
            ("ephpm_kv.size", "1K"),
            ("ephpm_kv.dir", "relative"),
            ("ephpm_kv.eviction", "random"),
            ("ephpm_kv.stripes", "-1"),
            ("ephpm_kv.max_value_size", "64M"),
        ] {
            let err = with(&[(setting, value)]).unwrap_err();
            assert!(
                err.contains(setting) || err.contains("size") || err.contains("value length"),
                "{setting}={value}: {err}"
            );
        }
    }

    fn main_store() -> StoreConfig {
        let Resolved::Store(cfg) = with(&[("ephpm_kv.size", "32M")]).unwrap() else {
            panic!()
        };
        cfg
    }

    #[test]
    fn session_save_path_names_a_store_or_keeps_the_main_one() {
        for path in ["", "  ", "/var/lib/php/sessions", "2;/tmp/sessions"] {
            assert_eq!(
                session_store(main_store(), path).unwrap(),
                main_store(),
                "{path:?}"
            );
        }
        let own = session_store(main_store(), "sessions").unwrap();
        assert_eq!((own.name.as_str(), own.size), ("sessions", 32 << 20));
        let tuned = session_store(
            main_store(),
            "sessions?size=8M&eviction=volatile-lru&stripes=2&max_value_size=256K",
        )
        .unwrap();
        assert_eq!(
            (
                tuned.size,
                tuned.eviction,
                tuned.stripes,
                tuned.max_value_len
            ),
            (
                8 << 20,
                EvictionPolicy::VolatileLru,
                Some(2),
                Some(256 << 10)
            )
        );
        assert_eq!(tuned.dir, main_store().dir);
    }

    #[test]
    fn bad_session_save_paths_say_what_is_wrong() {
        for (path, expected) in [
            ("no such", "invalid ephpm_kv.name"),
            ("s?colour=red", "unknown option \"colour\""),
            ("s?size=huge", "invalid size \"huge\""),
            ("s?eviction=random", "invalid eviction"),
            ("s?size=1K", "size"),
        ] {
            let err = session_store(main_store(), path).unwrap_err();
            assert!(err.contains(expected), "{path:?}: {err}");
        }
    }

    #[test]
    fn session_lock_wait_follows_the_two_settings() {
        let wait = |overrides: &[(&str, &str)]| {
            let map: HashMap<&str, &str> = overrides.iter().copied().collect();
            session_lock_wait(|s| map.get(s.name).copied().unwrap_or(s.default).to_string())
        };
        assert_eq!(wait(&[]), Ok(Some(Duration::from_secs(10))));
        assert_eq!(wait(&[("ephpm_kv.session_locking", "Off")]), Ok(None));
        assert_eq!(
            wait(&[("ephpm_kv.session_lock_wait_ms", "250")]),
            Ok(Some(Duration::from_millis(250)))
        );
        assert!(wait(&[("ephpm_kv.session_locking", "sometimes")])
            .unwrap_err()
            .contains("ephpm_kv.session_locking"));
        assert!(wait(&[("ephpm_kv.session_lock_wait_ms", "-1")])
            .unwrap_err()
            .contains("ephpm_kv.session_lock_wait_ms"));
    }
}
