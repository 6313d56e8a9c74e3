//! Remaining lifetime of a key, with the `-2`/`-1` codes of the PHP API.

/// What `ttl`/`pttl` report for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No live key.
    Missing,
    /// A live key without expiry.
    Persistent,
    /// A live key expiring in this many milliseconds (at least 1).
    Remaining(u64),
}

impl Ttl {
    /// For a live key with absolute expiry `expires_at` (0 = none).
    pub(crate) fn from_expiry(expires_at: u64, now: u64) -> Ttl {
        match expires_at {
            0 => Ttl::Persistent,
            at => Ttl::Remaining(at.saturating_sub(now).max(1)),
        }
    }

    /// Milliseconds, `-1` without expiry, `-2` missing (the `pttl` contract).
    pub fn as_millis_code(self) -> i64 {
        match self {
            Ttl::Missing => -2,
            Ttl::Persistent => -1,
            Ttl::Remaining(ms) => i64::try_from(ms).unwrap_or(i64::MAX),
        }
    }

    /// Seconds rounded up (1 ms left = 1), `-1` / `-2` as above (the `ttl` contract).
    pub fn as_seconds_code(self) -> i64 {
        match self {
            Ttl::Remaining(ms) => i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX),
            other => other.as_millis_code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Ttl::Missing.as_seconds_code(), -2);
        assert_eq!(Ttl::Persistent.as_millis_code(), -1);
        assert_eq!(Ttl::Remaining(1).as_seconds_code(), 1);
        assert_eq!(Ttl::Remaining(1000).as_seconds_code(), 1);
        assert_eq!(Ttl::Remaining(1001).as_seconds_code(), 2);
        assert_eq!(Ttl::from_expiry(5000, 4000), Ttl::Remaining(1000));
    }
}
