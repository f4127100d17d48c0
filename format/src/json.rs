//! JSON values with the parts of `serde_json::Value`'s API that kiln
//! uses: the `model!` macro reads Keras model configs and safetensors
//! headers at compile time, the runtime builds `to_json()`'s Keras config
//! and reads and writes safetensors headers.
//!
//! Why not serde_json: with serde it was ~4.5 s of CPU on the host path
//! to kiln-macros and as much again on the runtime's path (docs/DESIGN.md,
//! "Build time"). Why not a small JSON crate: kiln needs what serde_json
//! gives and they do not — integers told from floats as written (`units =
//! 64` is passed as `64`, `dropout` as `0.0`), objects in key order, and
//! text printed as serde_json prints it (`{"mean":0.0,"seed":null}` in
//! macro messages, dev-tests snapshots; `to_json()`'s output and the
//! checked-in fixtures). So values print exactly as serde_json's compact
//! form ([`Value`]'s `Display`, [`to_string`]) and its pretty form
//! ([`to_string_pretty`], `{:#}`): keys sorted, floats in its shortest
//! notation, strings with its escapes.

use std::collections::BTreeMap;
use std::fmt;

/// A JSON object, keys in sorted order (as serde_json's default `Map`).
pub type Map = BTreeMap<String, Value>;

/// A JSON number as written: an integer (`3`, `-3`) or a float (`3.0`, `3e0`).
///
/// Integers compare by value whichever variant holds them (`U64(3)` equals
/// `I64(3)`, as serde_json's numbers), and never equal a float (`3` is not
/// `3.0`).
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// A non-negative integer (what the parser and `From` give for one).
    U64(u64),
    /// A negative integer (what the parser and `From` give for one).
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

    /// The value of an integer that fits in `i64` (`None` for `3.0`).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::U64(n) => i64::try_from(n).ok(),
            Number::I64(n) => Some(n),
            Number::F64(_) => None,
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

impl Number {
    /// An integer's value, whichever variant holds it (`None` for a float).
    fn integer(&self) -> Option<i128> {
        match *self {
            Number::U64(n) => Some(i128::from(n)),
            Number::I64(n) => Some(i128::from(n)),
            Number::F64(_) => None,
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::F64(a), Number::F64(b)) => a == b,
            _ => self.integer().is_some() && self.integer() == other.integer(),
        }
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
    let (digits, exp) = shortest_digits(x.abs());
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

/// The shortest decimal digits that read back as `x` (positive, finite)
/// and their exponent (`1.5e-7` → `("15", -7)`), the one closest to `x`;
/// where two are equally close, the one with an even last digit, as
/// serde_json's ryu/zmij choose.
///
/// Rust's `{:e}` gives the shortest closest digits but settles such a
/// tie upwards: 1108918770227455.25 (exactly an `f64`) prints as
/// `1.1089187702274553e15`, serde_json's `1108918770227455.2`.
fn shortest_digits(x: f64) -> (String, i32) {
    let split = |sci: &str| {
        let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        (digits, exp.parse::<i32>().expect("`{:e}`'s exponent is an integer"))
    };
    let (mut digits, exp) = split(&format!("{x:e}"));
    // A tie: `x` is exactly the digits' value plus or minus half a unit of
    // their last place, that is, its exact expansion (at most 767
    // significant digits for an f64) is those digits with one more, a 5.
    let (exact, exact_exp) = split(&format!("{x:.800e}"));
    let exact = exact.trim_end_matches('0');
    let last = digits.as_bytes()[digits.len() - 1];
    if exact_exp == exp && exact.len() == digits.len() + 1 && exact.ends_with('5') && last % 2 == 1 {
        // The other candidate differs in the last digit only (a carry
        // would end it in 0, a shorter string `{:e}` would have found).
        let other = if exact.as_bytes()[..digits.len()] == *digits.as_bytes() { last + 1 } else { last - 1 };
        if other <= b'9' {
            let mut candidate = digits.clone().into_bytes();
            *candidate.last_mut().expect("at least one digit") = other;
            let candidate = String::from_utf8(candidate).expect("ASCII digits");
            let text = format!("{}.{}e{exp}", &candidate[..1], &candidate[1..]);
            if text.parse::<f64>() == Ok(x) {
                digits = candidate;
            }
        }
    }
    (digits, exp)
}

/// A JSON value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, integer or float as written.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, keys sorted.
    Object(Map),
}

/// What indexing a missing key or element gives (as serde_json's `Index`).
static NULL: Value = Value::Null;

impl Value {
    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a non-negative integer (`None` for `3.0`, as serde_json).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The value of an integer that fits in `i64` (`None` for `3.0`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// A number's value as a float (integers converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The value of `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries of an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The entries of an object, to change.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// An object.
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

impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

// `value == 4` is true for the integer 4, not for 4.0; `value == 4.0` for
// both (serde_json's comparisons with primitives).
macro_rules! compare_integers {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                let integer = match self {
                    Value::Number(n) => n.integer(),
                    _ => None,
                };
                i128::try_from(*other).ok().is_some_and(|other| integer == Some(other))
            }
        }
    )*};
}
compare_integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl PartialEq<f64> for Value {
    fn eq(&self, other: &f64) -> bool {
        self.as_f64() == Some(*other)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<Map> for Value {
    fn from(entries: Map) -> Value {
        Value::Object(entries)
    }
}

/// An array of the items converted (`vec![1, 2]`, `vec![Value::Null]`).
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

/// `null` for `None` (as serde_json).
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

/// A float; `null` if it is not finite (JSON has no NaN or infinity, and
/// serde_json converts them so).
impl From<f64> for Value {
    fn from(x: f64) -> Value {
        if x.is_finite() {
            Value::Number(Number::F64(x))
        } else {
            Value::Null
        }
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(Number::U64(n as u64))
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64, usize);

// Non-negative integers are `U64` whatever their type, so that `Value::from(2i32)`
// equals the `2` a parser reads (as serde_json's `Number`).
macro_rules! signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                let n = n as i64;
                Value::Number(if n >= 0 { Number::U64(n as u64) } else { Number::I64(n) })
            }
        }
    )*};
}
signed!(i8, i16, i32, i64, isize);

/// Parses JSON text (as [`from_str`]), so that `text.parse::<Value>()` works.
impl std::str::FromStr for Value {
    type Err = Error;

    fn from_str(text: &str) -> Result<Value, Error> {
        from_str(text)
    }
}

/// Compact JSON, as serde_json's `Display` writes it; with `{:#}`, the
/// pretty form of [`to_string_pretty`] (as serde_json's `{:#}`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            self.pretty(f, 0)
        } else {
            self.compact(f)
        }
    }
}

impl Value {
    /// Compact JSON: no whitespace at all.
    fn compact(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    item.compact(f)?;
                }
                f.write_str("]")
            }
            Value::Object(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_string(key, f)?;
                    f.write_str(":")?;
                    value.compact(f)?;
                }
                f.write_str("}")
            }
            scalar => scalar.scalar(f),
        }
    }

    /// serde_json's `PrettyFormatter` with its default two-space indent:
    /// every array element and object entry on a line of its own, indented
    /// one step deeper than its bracket; `"key": value`; `[]` and `{}` for
    /// empty ones. `level` is the depth of the line this value starts on.
    fn pretty(&self, f: &mut fmt::Formatter<'_>, level: usize) -> fmt::Result {
        let indent = |f: &mut fmt::Formatter<'_>, level: usize| (0..level).try_for_each(|_| f.write_str("  "));
        match self {
            Value::Array(items) if items.is_empty() => f.write_str("[]"),
            Value::Object(entries) if entries.is_empty() => f.write_str("{}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    f.write_str(if i > 0 { ",\n" } else { "\n" })?;
                    indent(f, level + 1)?;
                    item.pretty(f, level + 1)?;
                }
                f.write_str("\n")?;
                indent(f, level)?;
                f.write_str("]")
            }
            Value::Object(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    f.write_str(if i > 0 { ",\n" } else { "\n" })?;
                    indent(f, level + 1)?;
                    write_string(key, f)?;
                    f.write_str(": ")?;
                    value.pretty(f, level + 1)?;
                }
                f.write_str("\n")?;
                indent(f, level)?;
                f.write_str("}")
            }
            scalar => scalar.scalar(f),
        }
    }

    /// A value that is neither array nor object.
    fn scalar(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => write_string(s, f),
            Value::Array(_) | Value::Object(_) => self.compact(f),
        }
    }
}

/// Compact JSON text of `value`, as `serde_json::to_string` writes it
/// (the same as `value.to_string()`).
pub fn to_string(value: &Value) -> String {
    value.to_string()
}

/// Indented JSON text of `value`, as `serde_json::to_string_pretty`
/// writes it (two spaces per level, no final newline).
pub fn to_string_pretty(value: &Value) -> String {
    format!("{value:#}")
}

/// A JSON string literal with serde_json's escapes (also a valid Rust
/// string literal, which the macro's import relies on).
pub fn write_string(s: &str, out: &mut impl fmt::Write) -> fmt::Result {
    out.write_str("\"")?;
    // Runs of characters that need no escape are written in one piece.
    let mut start = 0;
    for (at, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_str(&s[start..at])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escape)?;
        }
        start = at + c.len_utf8();
    }
    out.write_str(&s[start..])?;
    out.write_str("\"")
}

/// A syntax error, worded as serde_json words it: `expected value at line 1 column 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

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

/// Nesting this deep is refused, so a hostile file cannot overflow the
/// stack: as serde_json's recursion limit, 127 nested arrays or objects
/// are read and the 128th is an error.
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
        if self.depth >= MAX_DEPTH {
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
            // Exactly halfway between two shortest candidates: the even one.
            (1108918770227455.0 + 0.25, "1108918770227455.2"),
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
        assert_eq!(error(&"[".repeat(200)), "recursion limit exceeded at line 1 column 128");
        assert_eq!(error(&"[".repeat(127)), "EOF while parsing a list at line 1 column 127");
        assert_eq!(from_slice(b"\"\xff\"").unwrap_err().to_string(), "invalid unicode code point at line 1 column 2");
    }

    /// serde_json's `to_string_pretty` layout, written out by hand: two
    /// spaces per level, `"key": value`, `[]` and `{}` for empty ones, no
    /// final newline; scalars as in the compact form.
    #[test]
    fn pretty_form_is_serde_json_s() {
        let v =
            from_str(r#"{"f": [0.1, -0.0, 1e-7], "b": [1, [], {}], "a": {"y": "s\n", "x": null}, "e": {}}"#).unwrap();
        let want = "{
  \"a\": {
    \"x\": null,
    \"y\": \"s\\n\"
  },
  \"b\": [
    1,
    [],
    {}
  ],
  \"e\": {},
  \"f\": [
    0.1,
    -0.0,
    1e-7
  ]
}";
        assert_eq!(to_string_pretty(&v), want);
        assert_eq!(format!("{v:#}"), want);
        assert_eq!(to_string(&v), r#"{"a":{"x":null,"y":"s\n"},"b":[1,[],{}],"e":{},"f":[0.1,-0.0,1e-7]}"#);
        assert_eq!(to_string_pretty(&Value::from(7)), "7");
        assert_eq!(to_string_pretty(&Value::Array(vec![])), "[]");
        assert_eq!(to_string_pretty(&Value::Object(Map::new())), "{}");
        assert_eq!(to_string_pretty(&Value::from(vec![vec![1]])), "[\n  [\n    1\n  ]\n]");
    }

    /// The Keras configs checked in under tests/fixtures/keras_json were
    /// written by serde_json's `to_string_pretty` (plus a newline): each
    /// reads and prints back byte for byte. Skipped where the workspace's
    /// fixtures are absent (the crate packaged on its own).
    #[test]
    fn fixtures_written_by_serde_json_print_back_the_same() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keras_json");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: no {}", dir.display());
            return;
        };
        let mut seen = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let value = from_str(&text).unwrap();
                assert_eq!(to_string_pretty(&value) + "\n", text, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 10, "only {seen} fixtures in {}", dir.display());
    }

    #[test]
    fn conversions_give_what_the_parser_gives() {
        assert_eq!(Value::from(2i32), from_str("2").unwrap());
        assert_eq!(Value::from(2usize), from_str("2").unwrap());
        assert_eq!(Value::from(-3i8), from_str("-3").unwrap());
        assert_eq!(Value::from(i64::MIN), from_str("-9223372036854775808").unwrap());
        assert_eq!(Value::from(u64::MAX), from_str("18446744073709551615").unwrap());
        assert_eq!(Value::from(0.5), from_str("0.5").unwrap());
        assert_ne!(Value::from(3), Value::from(3.0), "an integer is not a float");
        assert_eq!(Value::Number(Number::I64(3)), Value::Number(Number::U64(3)));
        assert_eq!(Value::from(f64::NAN), Value::Null);
        assert_eq!(Value::from(f64::NEG_INFINITY), Value::Null);
        assert_eq!(Value::from(vec![1u8, 2]).to_string(), "[1,2]");
        assert_eq!(Value::from(None::<bool>), Value::Null);
        assert_eq!(Value::from(Some(true)), Value::Bool(true));
        assert_eq!(Value::from(String::from("s")), "s");
        let mut map = Map::new();
        map.insert("k".into(), Value::from(false));
        let mut v = Value::from(map);
        v.as_object_mut().unwrap().insert("j".into(), Value::Null);
        assert_eq!(v.to_string(), r#"{"j":null,"k":false}"#);
        assert_eq!("[1, 2.5]".parse::<Value>().unwrap()[1].as_f64(), Some(2.5));
        assert_eq!(from_str("-4").unwrap().as_i64(), Some(-4));
        assert_eq!(from_str("4.0").unwrap().as_i64(), None);
        assert_eq!(from_str("true").unwrap().as_bool(), Some(true));
        assert!(from_str("null").unwrap().is_null());
        assert!(from_str("4").unwrap() == 4 && from_str("4").unwrap() == 4u8 && from_str("-4").unwrap() == -4i64);
        assert!(from_str("4.0").unwrap() != 4 && from_str("4.0").unwrap() == 4.0 && from_str("4").unwrap() == 4.0);
        assert!(from_str("\"4\"").unwrap() != 4 && from_str("-1").unwrap() != u64::MAX);
    }

    /// serde_json escapes `"`, `\` and the C0 controls (short forms where
    /// JSON has them, else `\u00xx` in lower case) and nothing else.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut out = String::new();
        write_string("a\u{1f}\u{0}\u{7f}\u{2028}é\"\\\u{8}\u{c}\r", &mut out).unwrap();
        assert_eq!(out, "\"a\\u001f\\u0000\u{7f}\u{2028}é\\\"\\\\\\b\\f\\r\"");
        let mut out = String::new();
        write_string("", &mut out).unwrap();
        assert_eq!(out, "\"\"");
    }
}
