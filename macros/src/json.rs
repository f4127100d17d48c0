//! The JSON the macro reads at compile time (a Keras model config, a
//! safetensors header), as values with the parts of `serde_json::Value`'s
//! API the import and embed code use.
//!
//! Why not serde_json: on the host it is built only for this, and with
//! serde it was ~4.5 s of CPU on the critical path of a clean example
//! build (docs/DESIGN.md, "Build time"). Why not a small JSON crate:
//! the import needs what serde_json gives and they do not — integers
//! told from floats as written (`units = 64` is passed as `64`, `dropout`
//! as `0.0`), objects in key order, and messages that print values as
//! serde_json does (`{"mean":0.0,"seed":null}`, snapshots in dev-tests).
//! So values print exactly as serde_json's compact form: keys sorted,
//! floats in its shortest notation, strings with its escapes.

use std::collections::BTreeMap;
use std::fmt;

/// A JSON object, keys in sorted order (as serde_json's default `Map`).
pub type Map = BTreeMap<String, Value>;

/// A JSON number as written: an integer (`3`, `-3`) or a float (`3.0`, `3e0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// Written with a fraction or an exponent, or an integer beyond 64 bits.
    F64(f64),
}

impl Number {
    /// An integer that fits in `i64`.
    pub fn is_i64(&self) -> bool {
        match *self {
            Number::U64(n) => n <= i64::MAX as u64,
            Number::I64(_) => true,
            Number::F64(_) => false,
        }
    }

    /// An integer that fits in `u64`.
    pub fn is_u64(&self) -> bool {
        matches!(*self, Number::U64(_))
    }

    /// The value of a non-negative integer (`None` for `3.0`, as serde_json).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::U64(n) => Some(n),
            _ => None,
        }
    }

    /// The value as a float (always `Some`, as serde_json's for finite numbers).
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Number::U64(n) => n as f64,
            Number::I64(n) => n as f64,
            Number::F64(x) => x,
        })
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::U64(n) => write!(f, "{n}"),
            Number::I64(n) => write!(f, "{n}"),
            Number::F64(x) => f.write_str(&float(x)),
        }
    }
}

/// `x` as serde_json writes a float (the ryu/zmij notation): the shortest
/// digits that read back as `x`; plain decimal with at least one
/// fractional digit when the exponent is in -5..=15 (`0.00001`, `1e15` as
/// `1000000000000000.0`), otherwise `1e-7`, `1.5e+16`; `null` if not finite.
fn float(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    // `{:e}` gives the shortest round-trip digits: `-1.5e-7`, `0e0`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}`'s exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let n = digits.len() as i32;
    let text = if x == 0.0 {
        "0.0".to_string()
    } else if (0..=15).contains(&exp) {
        if n <= exp + 1 {
            format!("{digits}{}.0", "0".repeat((exp + 1 - n) as usize))
        } else {
            format!("{}.{}", &digits[..(exp + 1) as usize], &digits[(exp + 1) as usize..])
        }
    } else if (-5..0).contains(&exp) {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let fraction = if n == 1 { String::new() } else { format!(".{}", &digits[1..]) };
        let plus = if exp > 0 { "+" } else { "" };
        format!("{}{fraction}e{plus}{exp}", &digits[..1])
    };
    format!("{sign}{text}")
}

/// A JSON value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// What indexing a missing key or element gives (as serde_json's `Index`).
static NULL: Value = Value::Null;

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The object's entry `key` (`None` for a missing key or a non-object).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;

    /// The entry, or `null` when there is none (never panics).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<&String> for Value {
    type Output = Value;

    fn index(&self, key: &String) -> &Value {
        &self[key.as_str()]
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;

    /// The element, or `null` when there is none (never panics).
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

/// Compact JSON, as serde_json's `Display` writes it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => quoted(s, f),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Object(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    quoted(key, f)?;
                    write!(f, ":{value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A JSON string literal with serde_json's escapes (also a valid Rust
/// string literal, which the import relies on).
fn quoted(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// A syntax error, worded as serde_json words it: `expected value at line 1 column 1`.
#[derive(Debug, PartialEq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses one JSON value (surrounding whitespace allowed), as serde_json's `from_str`.
pub fn from_str(text: &str) -> Result<Value, Error> {
    from_slice(text.as_bytes())
}

/// Parses JSON bytes (a safetensors header), as serde_json's `from_slice`:
/// strings must be UTF-8.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    let mut parser = Parser { bytes, at: 0, depth: 0 };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.at < parser.bytes.len() {
        return Err(parser.error_here("trailing characters"));
    }
    Ok(value)
}

/// Nesting deeper than this is refused (as serde_json's recursion limit),
/// so a hostile file cannot overflow the compiler's stack.
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    /// `what` at the current byte: line and column counted from 1, the
    /// column being the byte's place in its line (0 at the end of input
    /// after a newline), as serde_json counts them.
    fn error_here(&self, what: &str) -> Error {
        let at = self.at.min(self.bytes.len());
        let before = &self.bytes[..at];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = at - line_start + usize::from(at < self.bytes.len());
        Error(format!("{what} at line {line} column {column}"))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error_here("EOF while parsing a value")),
            Some(b'n') => self.word("null", Value::Null),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'{') => self.nested(|p| p.object()),
            Some(_) => Err(self.error_here("expected value")),
        }
    }

    fn nested(&mut self, parse: impl FnOnce(&mut Self) -> Result<Value, Error>) -> Result<Value, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("recursion limit exceeded"));
        }
        self.at += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, Error> {
        for &expected in word.as_bytes() {
            match self.peek() {
                None => return Err(self.error_here("EOF while parsing a value")),
                Some(b) if b == expected => self.at += 1,
                Some(_) => return Err(self.error_here("expected ident")),
            }
        }
        Ok(value)
    }

    /// After `[`.
    fn array(&mut self) -> Result<Value, Error> {
        let mut items = Vec::new();
        self.skip_whitespace();
        match self.peek() {
            Some(b']') => {
                self.at += 1;
                return Ok(Value::Array(items));
            }
            None => return Err(self.error_here("EOF while parsing a list")),
            Some(_) => {}
        }
        loop {
            items.push(self.value()?);
            if self.closed_after_item(b']', "EOF while parsing a list", "expected `,` or `]`")? {
                return Ok(Value::Array(items));
            }
        }
    }

    /// After an item of an array or object: `true` past the closing
    /// bracket `close`, `false` past a comma that another item follows.
    fn closed_after_item(&mut self, close: u8, eof: &str, unexpected: &str) -> Result<bool, Error> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek() == Some(close) {
                    return Err(self.error_here("trailing comma"));
                }
                Ok(false)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(true)
            }
            None => Err(self.error_here(eof)),
            Some(_) => Err(self.error_here(unexpected)),
        }
    }

    /// After `{`.
    fn object(&mut self) -> Result<Value, Error> {
        let mut entries = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(entries));
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error_here("EOF while parsing an object")),
                Some(_) => return Err(self.error_here("key must be a string")),
            }
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.at += 1,
                None => return Err(self.error_here("EOF while parsing an object")),
                Some(_) => return Err(self.error_here("expected `:`")),
            }
            // A repeated key keeps its last value, as in serde_json.
            let value = self.value()?;
            entries.insert(key, value);
            if self.closed_after_item(b'}', "EOF while parsing an object", "expected `,` or `}`")? {
                return Ok(Value::Object(entries));
            }
        }
    }

    /// One or more digits (a fraction's or an exponent's), else the error
    /// serde_json gives there.
    fn required_digits(&mut self) -> Result<(), Error> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error_here(if self.peek().is_none() {
                "EOF while parsing a value"
            } else {
                "invalid number"
            }));
        }
        self.digits();
        Ok(())
    }

    /// At `"`: the string's text, escapes resolved.
    fn string(&mut self) -> Result<String, Error> {
        self.at += 1;
        let mut out = String::new();
        loop {
            // The run up to the next quote, backslash or control character is copied as is.
            let start = self.at;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.at += 1;
            }
            match std::str::from_utf8(&self.bytes[start..self.at]) {
                Ok(run) => out.push_str(run),
                Err(e) => {
                    self.at = start + e.valid_up_to();
                    return Err(self.error_here("invalid unicode code point"));
                }
            }
            match self.peek() {
                None => return Err(self.error_here("EOF while parsing a string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = match self.peek() {
                        None => return Err(self.error_here("EOF while parsing a string")),
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            out.push(self.unicode_escape()?);
                            continue;
                        }
                        Some(_) => return Err(self.error_here("invalid escape")),
                    };
                    self.at += 1;
                    out.push(escaped);
                }
                Some(_) => {
                    return Err(self.error_here("control character (\\u0000-\\u001F) found while parsing a string"))
                }
            }
        }
    }

    /// After `\u`: the character of one escape, or of a surrogate pair's two.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                return Err(self.error_here("unexpected end of hex escape"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                self.at -= 1;
                return Err(self.error_here("lone leading surrogate in hex escape"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error_here("invalid unicode code point"))
    }

    /// Four hex digits; an error is placed at the fourth (as serde_json places it).
    fn hex4(&mut self) -> Result<u32, Error> {
        let Some(hex) = self.bytes.get(self.at..self.at + 4) else {
            self.at = self.bytes.len();
            return Err(self.error_here("EOF while parsing a string"));
        };
        self.at += 4;
        let code = std::str::from_utf8(hex).ok().filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        match code.and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(code) => Ok(code),
            None => {
                self.at -= 1;
                Err(self.error_here("invalid escape"))
            }
        }
    }

    /// At `-` or a digit: an integer when written without fraction or
    /// exponent and it fits (`u64`, or `i64` if negative), else a float.
    fn number(&mut self) -> Result<Value, Error> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error_here("invalid number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            None => return Err(self.error_here("EOF while parsing a value")),
            Some(_) => return Err(self.error_here("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.at += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.required_digits()?;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).expect("ASCII digits");
        // `-0` is the float -0.0, as serde_json reads it.
        if integer && text != "-0" {
            let parsed = if text.starts_with('-') {
                text.parse::<i64>().ok().map(Number::I64)
            } else {
                text.parse::<u64>().ok().map(Number::U64)
            };
            if let Some(n) = parsed {
                return Ok(Value::Number(n));
            }
        }
        // Rust's parse rounds correctly, so the value is the one written.
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Number(Number::F64(x))),
            _ => Err(self.error_here("number out of range")),
        }
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_floats_stay_as_written() {
        let v = from_str(
            r#"{"units": 64, "rate": 0.5, "gain": 1.0, "shift": -3, "tiny": 1e-7, "big": 18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(v["units"], Value::Number(Number::U64(64)));
        assert_eq!(v["rate"], Value::Number(Number::F64(0.5)));
        assert_eq!(v["gain"], Value::Number(Number::F64(1.0)));
        assert_eq!(v["shift"], Value::Number(Number::I64(-3)));
        assert_eq!(v["tiny"], Value::Number(Number::F64(1e-7)));
        assert_eq!(v["big"].as_u64(), Some(u64::MAX));
        // Past u64: a float, as serde_json reads it.
        assert_eq!(from_str("18446744073709551616").unwrap(), Value::Number(Number::F64(18446744073709551616.0)));
        assert_eq!(from_str("-9223372036854775809").unwrap(), Value::Number(Number::F64(-9223372036854775809.0)));
        assert_eq!(from_str("-0").unwrap().to_string(), "-0.0");
        assert!(v["gain"].as_u64().is_none(), "a float is not an integer even when whole");
    }

    #[test]
    fn missing_keys_and_elements_index_to_null() {
        let v = from_str(r#"{"a": [1, {"b": "c"}]}"#).unwrap();
        assert_eq!(v["a"][1]["b"], "c");
        assert_eq!(v["a"][5], Value::Null);
        assert_eq!(v["x"]["y"][0], Value::Null);
        assert_eq!(v["a"]["b"], Value::Null);
        assert!(v.get("a").is_some() && v.get("x").is_none());
    }

    /// The compact form of serde_json: sorted keys, no spaces, its float
    /// notation (the expected texts are serde_json 1.0.154's output).
    #[test]
    fn values_print_as_serde_json_prints_them() {
        let v =
            from_str(r#" {"stddev": 0.05, "seed": null, "mean": 0.0, "s": "a\"b\\c\n\u0001é", "l": [true, -0.0, 1]} "#)
                .unwrap();
        assert_eq!(v.to_string(), r#"{"l":[true,-0.0,1],"mean":0.0,"s":"a\"b\\c\n\u0001é","seed":null,"stddev":0.05}"#);
        let cases = [
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.00001, "0.00001"),
            (0.000012, "0.000012"),
            (1e-6, "1e-6"),
            (0.001, "0.001"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.25e17, "1.25e+17"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (x, want) in cases {
            assert_eq!(Value::Number(Number::F64(x)).to_string(), want, "{x:?}");
        }
        assert_eq!(Value::from("tab\there").to_string(), r#""tab\there""#);
    }

    #[test]
    fn escapes_and_surrogate_pairs_are_read() {
        let v = from_str(r#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(v, Value::String("\"\\/\u{8}\u{c}\n\r\té😀".into()));
    }

    /// Malformed input is refused with serde_json's wording and position
    /// (the expected texts are serde_json 1.0.154's messages).
    #[test]
    fn errors_name_what_and_where() {
        let error = |text: &str| from_str(text).unwrap_err().to_string();
        assert_eq!(error(""), "EOF while parsing a value at line 1 column 0");
        assert_eq!(error("x"), "expected value at line 1 column 1");
        assert_eq!(error("{\"a\": 1,\n \"b\" 2}"), "expected `:` at line 2 column 6");
        assert_eq!(error("[1, 2"), "EOF while parsing a list at line 1 column 5");
        assert_eq!(error("[\n\n"), "EOF while parsing a list at line 3 column 0");
        assert_eq!(error("01"), "invalid number at line 1 column 2");
        assert_eq!(error("\"\\u00zz\""), "invalid escape at line 1 column 7");
        assert_eq!(error("\"\\ud800\\u0041\""), "lone leading surrogate in hex escape at line 1 column 13");
        assert_eq!(error("[1 2]"), "expected `,` or `]` at line 1 column 4");
        assert_eq!(error("{\"a\": 1"), "EOF while parsing an object at line 1 column 7");
        assert_eq!(error("{1: 2}"), "key must be a string at line 1 column 2");
        assert_eq!(error("[1,]"), "trailing comma at line 1 column 4");
        assert_eq!(error("{\"a\": 1,}"), "trailing comma at line 1 column 9");
        assert_eq!(error("{\"a\": 1 \"b\": 2}"), "expected `,` or `}` at line 1 column 9");
        assert_eq!(error("1 2"), "trailing characters at line 1 column 3");
        assert_eq!(error("\"abc"), "EOF while parsing a string at line 1 column 4");
        assert_eq!(error("\"\\q\""), "invalid escape at line 1 column 3");
        assert_eq!(error("tru"), "EOF while parsing a value at line 1 column 3");
        assert_eq!(error("nul!"), "expected ident at line 1 column 4");
        assert_eq!(error("-"), "EOF while parsing a value at line 1 column 1");
        assert_eq!(error("1.x"), "invalid number at line 1 column 3");
        assert_eq!(error("1e999"), "number out of range at line 1 column 5");
        assert!(error(&"[".repeat(200)).starts_with("recursion limit exceeded"));
        assert_eq!(from_slice(b"\"\xff\"").unwrap_err().to_string(), "invalid unicode code point at line 1 column 2");
    }
}
