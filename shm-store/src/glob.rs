//! Glob patterns over byte strings, as Redis's `KEYS`/`SCAN MATCH` take
//! them in their simplest form: `*` matches any run of bytes (also an
//! empty one), `?` exactly one byte, every other byte itself. The one
//! implementation used by `ephpm-shm keys`, `ephpm-shm serve`'s `KEYS`
//! and `SCAN`, and the extension's `ephpm_kv_scan`.

/// Whether `text` matches `pattern` as a whole. Linear backtracking on
/// the last `*` only: time `O(pattern.len() * text.len())` at worst.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn matches() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"", b""));
        assert!(!glob_match(b"", b"a"));
        assert!(glob_match(b"php_session:*", b"php_session:abc"));
        assert!(!glob_match(b"php_session:*", b"user:1"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"*b*d", b"abcbxd"));
        assert!(!glob_match(b"*b*d", b"abcbx"));
        assert!(glob_match(b"a**", b"a"));
        assert!(glob_match(b"*:1", b"user:1"));
        assert!(!glob_match(b"*:1", b"user:12"));
    }

    #[test]
    fn bytes_not_characters() {
        // `?` is one byte: a two-byte UTF-8 character takes two.
        assert!(glob_match("?".as_bytes(), b"\xff"));
        assert!(!glob_match(b"?", "é".as_bytes()));
        assert!(glob_match(b"??", "é".as_bytes()));
        assert!(glob_match(b"a*\x00", b"a\x01\x02\x00"));
    }
}
