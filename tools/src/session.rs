//! Decoding of PHP session payloads (the bytes PHP's session module hands to
//! a save handler) into JSON.
//!
//! Both serialize handlers are understood and detected automatically:
//!
//! * `session.serialize_handler=php_serialize`: the payload is one
//!   `serialize()`d array, `a:N:{...}`;
//! * `session.serialize_handler=php` (PHP's default): the payload is a run of
//!   `name|<serialized value>` pairs.
//!
//! The result is always a JSON object mapping each session variable to its
//! value. PHP values map to JSON as follows:
//!
//! | PHP                         | JSON                                          |
//! |-----------------------------|-----------------------------------------------|
//! | `N;`                        | `null`                                        |
//! | `b:0;` / `b:1;`             | `false` / `true`                              |
//! | `i:42;`                     | number                                        |
//! | `d:1.5;`                    | number; `INF`, `-INF`, `NAN` become strings `"INF"`, `"-INF"`, `"NAN"` |
//! | `s:3:"abc";`                | string (see below for bytes that are not UTF-8) |
//! | `a:2:{...}`                 | array when the keys are `0..n-1` in order, else an object with string keys |
//! | `O:3:"Foo":1:{...}`         | `{"__class": "Foo", <properties>}`            |
//! | `C:3:"Foo":5:{...}`         | `{"__class": "Foo", "__serialized": "<data>"}` |
//! | `E:7:"Suit:Hearts";`        | `{"__enum": "Suit:Hearts"}`                   |
//! | `r:3;` / `R:3;`             | `{"__ref": 3}` / `{"__ref": 3, "__by_reference": true}` |
//!
//! Private and protected property names, which PHP stores as `\0Class\0name`
//! and `\0*\0name`, are shown as `name [private Class]` and
//! `name [protected]`.
//!
//! PHP strings are byte strings. Strings that are valid UTF-8 (including ones
//! holding NUL bytes, which JSON writes as `\u0000`) are kept as they are;
//! in a string that is not valid UTF-8, each byte that is not part of a
//! valid UTF-8 sequence is **escaped** as the four characters `\xNN` (hex),
//! so no byte is lost (a literal backslash is not itself escaped, so the
//! rendering is meant for reading, not for round-tripping).

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// Decodes a PHP session payload, detecting which serialize handler wrote
/// it. Errors name the byte offset where decoding failed and what was
/// expected there. Never panics.
pub(crate) fn decode(data: &[u8]) -> Result<Value, String> {
    if data.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    if data.starts_with(b"a:") {
        let php_serialize_err = match decode_php_serialize(data) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        return match decode_php(data) {
            Ok(v) => Ok(v),
            Err(php_err) => Err(format!(
                "not a valid session payload: as php_serialize: {php_serialize_err}; \
                 as php: {php_err}"
            )),
        };
    }
    decode_php(data).map_err(|e| format!("not a valid php session payload: {e}"))
}

/// `session.serialize_handler=php_serialize`: one serialized array.
fn decode_php_serialize(data: &[u8]) -> Result<Value, String> {
    let mut p = Parser::new(data);
    let v = p.value()?;
    if p.pos != data.len() {
        return Err(p.err("end of input after the serialized array"));
    }
    match v {
        Value::Object(_) => Ok(v),
        Value::Array(items) => Ok(Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        )),
        _ => Err("at byte 0: expected a serialized array".to_string()),
    }
}

/// `session.serialize_handler=php`: `name|value` pairs.
fn decode_php(data: &[u8]) -> Result<Value, String> {
    let mut p = Parser::new(data);
    let mut out = Map::new();
    while p.pos < data.len() {
        let start = p.pos;
        let Some(bar) = data[start..].iter().position(|&b| b == b'|') else {
            return Err(p.err("a variable name ended by '|'"));
        };
        let name = bytes_to_string(&data[start..start + bar]);
        p.pos = start + bar + 1;
        let v = p
            .value()
            .map_err(|e| format!("in session variable {name:?}: {e}"))?;
        out.insert(name, v);
    }
    Ok(Value::Object(out))
}

/// Renders PHP bytes as a string: UTF-8 kept, other bytes as `\xNN`.
fn bytes_to_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

/// Shows a property name without PHP's visibility markers.
fn property_name(raw: &[u8]) -> String {
    if let Some(rest) = raw.strip_prefix(b"\0") {
        if let Some(nul) = rest.iter().position(|&b| b == 0) {
            let class = &rest[..nul];
            let name = bytes_to_string(&rest[nul + 1..]);
            if class == b"*" {
                return format!("{name} [protected]");
            }
            return format!("{name} [private {}]", bytes_to_string(class));
        }
    }
    bytes_to_string(raw)
}

fn describe(b: Option<u8>) -> String {
    match b {
        None => "end of input".to_string(),
        Some(b) if b.is_ascii_graphic() || b == b' ' => format!("'{}'", b as char),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}

/// An array or object key as PHP stores it.
enum Key {
    Int(i64),
    Str(Vec<u8>),
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(data: &'a [u8]) -> Self {
        Parser {
            data,
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn err(&self, expected: &str) -> String {
        format!(
            "at byte {}: expected {expected}, found {}",
            self.pos,
            describe(self.peek())
        )
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("'{}'", byte as char)))
        }
    }

    /// Decimal digits with an optional sign, as text.
    fn number_text(&mut self, signed: bool, what: &str) -> Result<&'a [u8], String> {
        let start = self.pos;
        if signed && matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let digits = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == digits {
            self.pos = digits;
            return Err(self.err(what));
        }
        Ok(&self.data[start..self.pos])
    }

    fn int(&mut self) -> Result<i64, String> {
        let start = self.pos;
        let text = self.number_text(true, "an integer")?;
        let text = std::str::from_utf8(text).unwrap_or("");
        text.parse::<i64>()
            .map_err(|_| format!("at byte {start}: integer {text} does not fit in 64 bits"))
    }

    fn count(&mut self, what: &str) -> Result<usize, String> {
        let start = self.pos;
        let text = self.number_text(false, what)?;
        let text = std::str::from_utf8(text).unwrap_or("");
        text.parse::<usize>()
            .map_err(|_| format!("at byte {start}: {what} {text} is too large"))
    }

    /// `len:"bytes"` (the part after the type letter and its colon).
    fn quoted(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = self.count(&format!("the byte length of {what}"))?;
        self.expect(b':')?;
        self.expect(b'"')?;
        let start = self.pos;
        let end = match start.checked_add(len) {
            Some(end) if end <= self.data.len() => end,
            _ => {
                return Err(format!(
                    "at byte {start}: expected {len} bytes of {what}, but only {} remain",
                    self.data.len() - start
                ))
            }
        };
        self.pos = end;
        if self.peek() != Some(b'"') {
            return Err(self.err(&format!("'\"' closing {what} of {len} bytes")));
        }
        self.pos += 1;
        Ok(&self.data[start..end])
    }

    fn value(&mut self) -> Result<Value, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "at byte {}: nesting deeper than {MAX_DEPTH} levels",
                self.pos
            ));
        }
        self.depth += 1;
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> Result<Value, String> {
        let kind = self.peek();
        match kind {
            Some(b'N') => {
                self.pos += 1;
                self.expect(b';')?;
                Ok(Value::Null)
            }
            Some(b'b') => {
                self.pos += 1;
                self.expect(b':')?;
                let v = match self.peek() {
                    Some(b'0') => false,
                    Some(b'1') => true,
                    _ => return Err(self.err("'0' or '1'")),
                };
                self.pos += 1;
                self.expect(b';')?;
                Ok(Value::Bool(v))
            }
            Some(b'i') => {
                self.pos += 1;
                self.expect(b':')?;
                let n = self.int()?;
                self.expect(b';')?;
                Ok(Value::Number(n.into()))
            }
            Some(b'd') => {
                self.pos += 1;
                self.expect(b':')?;
                let start = self.pos;
                let Some(len) = self.data[start..].iter().position(|&b| b == b';') else {
                    return Err(self.err("a float ended by ';'"));
                };
                let text = std::str::from_utf8(&self.data[start..start + len]).unwrap_or("");
                let v = match text {
                    "INF" | "-INF" | "NAN" => Value::String(text.to_string()),
                    _ => {
                        let ok = !text.is_empty()
                            && text
                                .bytes()
                                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
                        match text.parse::<f64>().ok().filter(|_| ok) {
                            Some(f) => Number::from_f64(f)
                                .map(Value::Number)
                                .unwrap_or_else(|| Value::String(text.to_string())),
                            None => return Err(self.err("a float (digits, INF, -INF or NAN)")),
                        }
                    }
                };
                self.pos = start + len + 1;
                Ok(v)
            }
            Some(b's') => {
                self.pos += 1;
                self.expect(b':')?;
                let bytes = self.quoted("a string")?;
                self.expect(b';')?;
                Ok(Value::String(bytes_to_string(bytes)))
            }
            Some(b'a') => {
                self.pos += 1;
                self.expect(b':')?;
                let n = self.count("an element count")?;
                self.expect(b':')?;
                self.expect(b'{')?;
                let mut entries = Vec::new();
                for _ in 0..n {
                    let key = self.key()?;
                    let v = self.value()?;
                    entries.push((key, v));
                }
                self.expect(b'}')?;
                let is_list = entries.iter().enumerate().all(
                    |(i, (k, _))| matches!(k, Key::Int(k) if *k as u64 == i as u64 && *k >= 0),
                );
                if is_list {
                    Ok(Value::Array(entries.into_iter().map(|(_, v)| v).collect()))
                } else {
                    Ok(Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| {
                                let k = match k {
                                    Key::Int(i) => i.to_string(),
                                    Key::Str(s) => bytes_to_string(&s),
                                };
                                (k, v)
                            })
                            .collect(),
                    ))
                }
            }
            Some(b'O') => {
                self.pos += 1;
                self.expect(b':')?;
                let class = bytes_to_string(self.quoted("a class name")?);
                self.expect(b':')?;
                let n = self.count("a property count")?;
                self.expect(b':')?;
                self.expect(b'{')?;
                let mut obj = Map::new();
                obj.insert("__class".to_string(), Value::String(class));
                for _ in 0..n {
                    let name = match self.key()? {
                        Key::Int(i) => i.to_string(),
                        Key::Str(s) => property_name(&s),
                    };
                    let v = self.value()?;
                    obj.insert(name, v);
                }
                self.expect(b'}')?;
                Ok(Value::Object(obj))
            }
            Some(b'C') => {
                self.pos += 1;
                self.expect(b':')?;
                let class = bytes_to_string(self.quoted("a class name")?);
                self.expect(b':')?;
                let len = self.count("the byte length of custom-serialized data")?;
                self.expect(b':')?;
                self.expect(b'{')?;
                let start = self.pos;
                let end = match start.checked_add(len) {
                    Some(end) if end <= self.data.len() => end,
                    _ => {
                        return Err(format!(
                            "at byte {start}: expected {len} bytes of custom-serialized data, \
                             but only {} remain",
                            self.data.len() - start
                        ))
                    }
                };
                self.pos = end;
                self.expect(b'}')?;
                let mut obj = Map::new();
                obj.insert("__class".to_string(), Value::String(class));
                obj.insert(
                    "__serialized".to_string(),
                    Value::String(bytes_to_string(&self.data[start..end])),
                );
                Ok(Value::Object(obj))
            }
            Some(b'E') => {
                self.pos += 1;
                self.expect(b':')?;
                let name = bytes_to_string(self.quoted("an enum case name")?);
                self.expect(b';')?;
                let mut obj = Map::new();
                obj.insert("__enum".to_string(), Value::String(name));
                Ok(Value::Object(obj))
            }
            Some(c @ (b'r' | b'R')) => {
                self.pos += 1;
                self.expect(b':')?;
                let n = self.int()?;
                self.expect(b';')?;
                let mut obj = Map::new();
                obj.insert("__ref".to_string(), Value::Number(n.into()));
                if c == b'R' {
                    obj.insert("__by_reference".to_string(), Value::Bool(true));
                }
                Ok(Value::Object(obj))
            }
            _ => Err(self.err("a serialized value (one of N b i d s a O C E r R)")),
        }
    }

    fn key(&mut self) -> Result<Key, String> {
        match self.peek() {
            Some(b'i') => {
                self.pos += 1;
                self.expect(b':')?;
                let n = self.int()?;
                self.expect(b';')?;
                Ok(Key::Int(n))
            }
            Some(b's') => {
                self.pos += 1;
                self.expect(b':')?;
                let bytes = self.quoted("a key")?;
                self.expect(b';')?;
                Ok(Key::Str(bytes.to_vec()))
            }
            _ => Err(self.err("an array key ('i:' or 's:')")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn php_ser(data: &[u8]) -> Value {
        let mut p = Parser::new(data);
        let v = p.value().unwrap();
        assert_eq!(p.pos, data.len(), "trailing bytes");
        v
    }

    #[test]
    fn scalars() {
        assert_eq!(php_ser(b"N;"), Value::Null);
        assert_eq!(php_ser(b"b:0;"), json!(false));
        assert_eq!(php_ser(b"b:1;"), json!(true));
        assert_eq!(php_ser(b"i:-42;"), json!(-42));
        assert_eq!(php_ser(b"i:9223372036854775807;"), json!(i64::MAX));
        assert_eq!(php_ser(b"d:1.5;"), json!(1.5));
        assert_eq!(php_ser(b"d:-0.1;"), json!(-0.1));
        assert_eq!(php_ser(b"d:1.0E+25;"), json!(1.0e25));
        assert_eq!(php_ser(b"d:INF;"), json!("INF"));
        assert_eq!(php_ser(b"d:-INF;"), json!("-INF"));
        assert_eq!(php_ser(b"d:NAN;"), json!("NAN"));
        assert_eq!(php_ser(b"s:0:\"\";"), json!(""));
        assert_eq!(php_ser(b"s:5:\"a\"b;c\";"), json!("a\"b;c"));
        assert_eq!(php_ser("s:2:\"é\";".as_bytes()), json!("é"));
    }

    #[test]
    fn binary_strings() {
        assert_eq!(php_ser(b"s:3:\"a\0b\";"), json!("a\u{0}b"));
        assert_eq!(php_ser(b"s:3:\"\xff\0\xc3\";"), json!("\\xff\u{0}\\xc3"));
        assert_eq!(php_ser(b"s:4:\"x\"|y\";"), json!("x\"|y"));
    }

    #[test]
    fn arrays() {
        assert_eq!(php_ser(b"a:0:{}"), json!([]));
        assert_eq!(php_ser(b"a:2:{i:0;s:1:\"a\";i:1;i:2;}"), json!(["a", 2]));
        assert_eq!(
            php_ser(b"a:2:{i:1;s:1:\"a\";i:0;i:2;}"),
            json!({"1": "a", "0": 2})
        );
        assert_eq!(
            php_ser(b"a:2:{s:1:\"k\";N;i:-3;b:1;}"),
            json!({"k": null, "-3": true})
        );
        assert_eq!(
            php_ser(b"a:1:{s:1:\"x\";a:1:{i:0;a:1:{s:1:\"y\";a:0:{}}}}"),
            json!({"x": [{"y": []}]})
        );
    }

    #[test]
    fn objects() {
        let v = php_ser(
            b"O:1:\"P\":3:{s:4:\"\0P\0a\";i:1;s:4:\"\0*\0b\";s:1:\"x\";s:1:\"c\";a:2:{i:0;i:1;i:1;i:2;}}",
        );
        assert_eq!(
            v,
            json!({"__class": "P", "a [private P]": 1, "b [protected]": "x", "c": [1, 2]})
        );
        assert_eq!(
            php_ser(b"O:8:\"stdClass\":0:{}"),
            json!({"__class": "stdClass"})
        );
        assert_eq!(
            php_ser(b"C:3:\"Foo\":6:{a:0:{}}"),
            json!({"__class": "Foo", "__serialized": "a:0:{}"})
        );
        assert_eq!(php_ser(b"E:7:\"Suit:Hi\";"), json!({"__enum": "Suit:Hi"}));
        assert_eq!(php_ser(b"r:2;"), json!({"__ref": 2}));
        assert_eq!(
            php_ser(b"R:3;"),
            json!({"__ref": 3, "__by_reference": true})
        );
        // Nested object in array in object.
        assert_eq!(
            php_ser(b"O:1:\"A\":1:{s:1:\"l\";a:1:{i:0;O:1:\"B\":1:{i:5;N;}}}"),
            json!({"__class": "A", "l": [{"__class": "B", "5": null}]})
        );
    }

    #[test]
    fn php_handler() {
        let v =
            decode(b"user|s:5:\"alice\";n|i:3;list|a:1:{i:0;b:1;}o|O:8:\"stdClass\":0:{}r|r:4;")
                .unwrap();
        assert_eq!(
            v,
            json!({"user": "alice", "n": 3, "list": [true],
                   "o": {"__class": "stdClass"}, "r": {"__ref": 4}})
        );
        // A name starting with "a:" still decodes as the php handler.
        assert_eq!(decode(b"a:b|N;").unwrap(), json!({"a:b": null}));
        assert_eq!(decode(b"").unwrap(), json!({}));
    }

    #[test]
    fn php_serialize_handler() {
        let v = decode(b"a:2:{s:4:\"user\";s:5:\"alice\";s:1:\"n\";i:3;}").unwrap();
        assert_eq!(v, json!({"user": "alice", "n": 3}));
        assert_eq!(decode(b"a:0:{}").unwrap(), json!({}));
        assert_eq!(decode(b"a:1:{i:0;i:7;}").unwrap(), json!({"0": 7}));
    }

    fn err(data: &[u8]) -> String {
        decode(data).unwrap_err()
    }

    #[test]
    fn errors_name_offset_and_expectation() {
        let e = err(b"x|i:1");
        assert!(
            e.contains("at byte 5") && e.contains("';'") && e.contains("end of input"),
            "{e}"
        );
        let e = err(b"x|s:10:\"abc\";");
        assert!(e.contains("at byte 8") && e.contains("10 bytes"), "{e}");
        let e = err(b"x|q:1;");
        assert!(
            e.contains("at byte 2") && e.contains("serialized value"),
            "{e}"
        );
        let e = err(b"noseparator");
        assert!(e.contains("at byte 0") && e.contains("'|'"), "{e}");
        let e = err(b"x|b:2;");
        assert!(e.contains("at byte 4") && e.contains("'0' or '1'"), "{e}");
        let e = err(b"x|i:99999999999999999999;");
        assert!(e.contains("64 bits"), "{e}");
        let e = err(b"x|d:abc;");
        assert!(e.contains("float"), "{e}");
        let e = err(b"x|a:2:{i:0;N;}");
        assert!(e.contains("at byte 13") && e.contains("array key"), "{e}");
        let e = err(b"a:1:{i:0;N;}trailing");
        assert!(
            e.contains("php_serialize") && e.contains("at byte 12"),
            "{e}"
        );
        let e = err(b"x|s:3:\"abcd\";");
        assert!(e.contains("at byte 10") && e.contains("closing"), "{e}");
        let e = err(b"x|a:18446744073709551616:{}");
        assert!(e.contains("too large"), "{e}");
        let e = err(b"x|s:18446744073709551615:\"\";");
        assert!(e.contains("remain"), "{e}");
        let deep = "x|".to_string() + &"a:1:{i:0;".repeat(10_000);
        let e = err(deep.as_bytes());
        assert!(e.contains("nesting deeper"), "{e}");
    }

    /// xorshift64*: deterministic pseudo-random bytes without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"NbidsaOCErR:;{}\"|0123456789-.INFAX\0\xff";
        for _ in 0..20_000 {
            let len = (rng.next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    if r & 1 == 0 {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    } else {
                        (r >> 16) as u8
                    }
                })
                .collect();
            let _ = decode(&bytes);
        }
        let valid: [&[u8]; 4] = [
            b"user|s:5:\"alice\";n|i:3;list|a:1:{i:0;b:1;}o|O:8:\"stdClass\":1:{s:1:\"a\";d:1.5;}r|r:4;",
            b"a:2:{s:4:\"user\";s:5:\"al\0ce\";s:1:\"n\";a:1:{i:0;C:3:\"Foo\":2:{xy}}}",
            b"e|E:7:\"Suit:Hi\";p|O:1:\"P\":1:{s:4:\"\0P\0a\";R:2;}f|d:-INF;",
            b"x|a:1:{i:5;a:1:{s:1:\"k\";N;}}",
        ];
        for payload in valid {
            decode(payload).unwrap();
            for cut in 0..payload.len() {
                let _ = decode(&payload[..cut]);
                // Also a single corrupted byte.
                let mut corrupt = payload.to_vec();
                corrupt[cut] = (rng.next() & 0xff) as u8;
                let _ = decode(&corrupt);
            }
        }
    }

    /// Runs PHP with the given code, returning stdout, or None when `php`
    /// is not installed.
    fn php(handler: &str, code: &str) -> Option<Vec<u8>> {
        let dir = std::env::temp_dir().join(format!(
            "ephpm-session-test-{}-{handler}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let out = match std::process::Command::new("php")
            .arg("-n")
            .arg("-d")
            .arg("session.save_handler=files")
            .arg("-d")
            .arg(format!("session.save_path={}", dir.display()))
            .arg("-d")
            .arg(format!("session.serialize_handler={handler}"))
            .arg("-d")
            .arg("session.use_cookies=0")
            .arg("-r")
            .arg(code)
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipping PHP-backed test: `php` is not on PATH");
                let _ = std::fs::remove_dir_all(&dir);
                return None;
            }
            Err(e) => panic!("running php: {e}"),
        };
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "php failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(out.stdout)
    }

    const PHP_SESSION: &str = r#"
        class P { private $a = 1; protected $b = "x"; public $c = [1, 2]; }
        enum Suit: string { case Hearts = "h"; }
        session_start();
        $_SESSION["user"] = "alice";
        $_SESSION["n"] = 42;
        $_SESSION["f"] = [1.5, INF, -INF, NAN];
        $_SESSION["yes"] = true;
        $_SESSION["nil"] = null;
        $_SESSION["bin"] = "a\0b\xff";
        $_SESSION["map"] = ["k" => ["deep" => [3 => "three"]]];
        $_SESSION["obj"] = new P;
        $_SESSION["suit"] = Suit::Hearts;
        $o = new stdClass; $o->name = "shared";
        $_SESSION["o1"] = $o;
        $_SESSION["o2"] = $o;
        echo session_encode();
    "#;

    fn check_php_session(v: &Value) {
        assert_eq!(v["user"], json!("alice"));
        assert_eq!(v["n"], json!(42));
        assert_eq!(v["f"], json!([1.5, "INF", "-INF", "NAN"]));
        assert_eq!(v["yes"], json!(true));
        assert_eq!(v["nil"], Value::Null);
        assert_eq!(v["bin"], json!("a\u{0}b\\xff"));
        assert_eq!(v["map"], json!({"k": {"deep": {"3": "three"}}}));
        assert_eq!(
            v["obj"],
            json!({"__class": "P", "a [private P]": 1, "b [protected]": "x", "c": [1, 2]})
        );
        assert_eq!(v["suit"], json!({"__enum": "Suit:Hearts"}));
        assert_eq!(v["o1"], json!({"__class": "stdClass", "name": "shared"}));
        assert!(v["o2"]["__ref"].is_number(), "{}", v["o2"]);
    }

    #[test]
    fn php_generated_php_handler() {
        let Some(out) = php("php", PHP_SESSION) else {
            return;
        };
        assert!(
            out.starts_with(b"user|s:5:"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let v = decode(&out).unwrap();
        check_php_session(&v);
    }

    #[test]
    fn php_generated_php_serialize_handler() {
        let Some(out) = php("php_serialize", PHP_SESSION) else {
            return;
        };
        assert!(
            out.starts_with(b"a:11:{"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let v = decode(&out).unwrap();
        check_php_session(&v);
    }

    #[test]
    fn php_generated_serialize_values() {
        let Some(out) = php(
            "php",
            r#"echo serialize(["a" => [0 => "x", 1 => ["y" => -7]], 5 => 0.25, "ao" => new ArrayObject([1])]);"#,
        ) else {
            return;
        };
        let v = decode(&out).unwrap();
        assert_eq!(v["a"], json!(["x", {"y": -7}]));
        assert_eq!(v["5"], json!(0.25));
        assert_eq!(v["ao"]["__class"], json!("ArrayObject"));
    }
}
