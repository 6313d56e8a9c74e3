//! The `ephpm_kv.*` php.ini settings: their names, defaults, and how their
//! text becomes a store configuration. No Zend calls here.

use shm_store::{parse_size, EvictionPolicy, StoreConfig};

/// One setting: php.ini name, default, and what the README says of it.
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
}

pub const ENABLED: Setting = Setting {
    name: "ephpm_kv.enabled",
    default: "1",
};
pub const NAME: Setting = Setting {
    name: "ephpm_kv.name",
    default: "default",
};
pub const SIZE: Setting = Setting {
    name: "ephpm_kv.size",
    default: "64M",
};
pub const DIR: Setting = Setting {
    name: "ephpm_kv.dir",
    default: "/dev/shm",
};
pub const EVICTION: Setting = Setting {
    name: "ephpm_kv.eviction",
    default: "allkeys-lru",
};
pub const STRIPES: Setting = Setting {
    name: "ephpm_kv.stripes",
    default: "0",
};
pub const MAX_VALUE_SIZE: Setting = Setting {
    name: "ephpm_kv.max_value_size",
    default: "0",
};

pub const ALL: [Setting; 7] = [ENABLED, NAME, SIZE, DIR, EVICTION, STRIPES, MAX_VALUE_SIZE];

/// What the settings resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
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
pub fn resolve(value_of: impl Fn(&Setting) -> String) -> Result<Resolved, String> {
    let enabled = value_of(&ENABLED);
    match parse_bool(&enabled) {
        Some(true) => {}
        Some(false) => return Ok(Resolved::Disabled),
        None => return Err(invalid(&ENABLED, &enabled, "On or Off")),
    }
    let name = value_of(&NAME);
    shm_store::validate_name(&name).map_err(|e| format!("invalid {}: {e}", NAME.name))?;
    let size_text = value_of(&SIZE);
    let size =
        parse_size(&size_text).map_err(|_| invalid(&SIZE, &size_text, "a size like 64M or 1G"))?;
    let dir = value_of(&DIR);
    if !dir.starts_with('/') {
        return Err(invalid(&DIR, &dir, "an absolute directory path"));
    }
    let eviction_text = value_of(&EVICTION);
    let eviction: EvictionPolicy = eviction_text.trim().parse().map_err(|_| {
        invalid(
            &EVICTION,
            &eviction_text,
            "noeviction, allkeys-lru or volatile-lru",
        )
    })?;
    let stripes_text = value_of(&STRIPES);
    let stripes: u32 = stripes_text.trim().parse().map_err(|_| {
        invalid(
            &STRIPES,
            &stripes_text,
            "0 (automatic) or a number of stripes",
        )
    })?;
    let max_value_text = value_of(&MAX_VALUE_SIZE);
    let max_value = parse_size(&max_value_text)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            invalid(
                &MAX_VALUE_SIZE,
                &max_value_text,
                "0 (automatic) or a size like 1M",
            )
        })?;

    let mut config = StoreConfig::new(name)
        .dir(dir)
        .size(size)
        .eviction(eviction);
    if stripes != 0 {
        config = config.stripes(stripes);
    }
    if max_value != 0 {
        config = config.max_value_len(max_value);
    }
    // Geometry errors (a size too small for the stripes, ...) are found now,
    // not when the segment is first opened.
    shm_store::Geometry::for_config(&config).map_err(|e| e.to_string())?;
    Ok(Resolved::Store(config))
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
        assert_eq!(cfg.dir.to_str(), Some("/dev/shm"));
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
}
