//! The safetensors container, read and written as the `safetensors`
//! crate 0.8 reads and writes it.
//!
//! Layout: an 8-byte little-endian header length `N`, `N` bytes of a JSON
//! object (UTF-8), then the data section. The header's entry
//! `"__metadata__"`, if present, maps strings to strings; every other
//! entry is a tensor, `{"dtype": "F32", "shape": [2, 3], "data_offsets":
//! [begin, end]}`, its bytes at `begin..end` of the data section.
//!
//! [`deserialize`] checks what the crate checks before it hands out a
//! tensor ([`read_header`] without the data): a header length of at most
//! [`MAX_HEADER_SIZE`] that fits in the bytes, a UTF-8 JSON object,
//! known dtype names, non-negative integer shapes and offsets, tensors
//! that (taken in offset order) start where the previous one ends, from
//! 0, with `end ≥ begin`, each `product(shape) × dtype size` bytes long
//! (computed with overflow checks; whole bytes only), and a data section
//! they cover exactly. Every malformed input gives an [`Error`] naming
//! what is wrong; none panics, and nothing is allocated beyond what the
//! header's own size justifies.
//!
//! [`serialize`] writes the crate's bytes: tensors ordered by dtype,
//! the dtypes' declaration order descending (so 8-byte types first, then
//! 4-, 2- and 1-byte ones, which keeps every tensor aligned to its
//! element size when the data section starts aligned), then by name;
//! the header's `"__metadata__"` first, then the tensors in that order,
//! each entry's fields as `dtype`, `shape`, `data_offsets`; the header
//! padded with spaces to a multiple of 8 bytes. The one freedom the
//! crate leaves is the order of the metadata entries (it iterates a hash
//! map); here they are sorted by key.

use crate::json::{self, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The largest header accepted or written, in bytes (the crate's limit).
pub const MAX_HEADER_SIZE: usize = 100_000_000;

/// Bytes of the header length that starts a file.
const LENGTH_BYTES: usize = 8;

/// The header key of the metadata map.
pub const METADATA_KEY: &str = "__metadata__";

macro_rules! dtypes {
    ($($(#[$doc:meta])* $name:ident = $bits:literal,)*) => {
        /// An element type, named in the header as written here (`"F32"`).
        ///
        /// The declaration order is the crate's: [`serialize`] orders
        /// tensors by it, descending (the derived `Ord`).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Dtype {
            $($(#[$doc])* $name,)*
        }

        impl Dtype {
            /// Every dtype, in declaration order.
            pub const ALL: &'static [Dtype] = &[$(Dtype::$name,)*];

            /// Bits per element (4 for `F4`, 6 for the `F6` types).
            pub fn bitsize(self) -> usize {
                match self {
                    $(Dtype::$name => $bits,)*
                }
            }

            /// The name in the header (`"F32"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Dtype::$name => stringify!($name),)*
                }
            }

            /// The dtype named `name` in a header (case matters, as in the crate).
            pub fn from_name(name: &str) -> Option<Dtype> {
                match name {
                    $(stringify!($name) => Some(Dtype::$name),)*
                    _ => None,
                }
            }
        }
    };
}

dtypes! {
    /// Booleans, one byte each.
    BOOL = 8,
    /// 4-bit floats (two per byte).
    F4 = 4,
    /// 6-bit floats, 2 exponent and 3 mantissa bits.
    F6_E2M3 = 6,
    /// 6-bit floats, 3 exponent and 2 mantissa bits.
    F6_E3M2 = 6,
    /// Unsigned bytes.
    U8 = 8,
    /// Signed bytes.
    I8 = 8,
    /// 8-bit floats, 5 exponent and 2 mantissa bits.
    F8_E5M2 = 8,
    /// 8-bit floats, 4 exponent and 3 mantissa bits.
    F8_E4M3 = 8,
    /// 8-bit exponent-only scales.
    F8_E8M0 = 8,
    /// 8-bit floats, E4M3 without negative zero or infinities.
    F8_E4M3FNUZ = 8,
    /// 8-bit floats, E5M2 without negative zero or infinities.
    F8_E5M2FNUZ = 8,
    /// 16-bit signed integers.
    I16 = 16,
    /// 16-bit unsigned integers.
    U16 = 16,
    /// IEEE half precision.
    F16 = 16,
    /// bfloat16.
    BF16 = 16,
    /// 32-bit signed integers.
    I32 = 32,
    /// 32-bit unsigned integers.
    U32 = 32,
    /// IEEE single precision.
    F32 = 32,
    /// Complex numbers of two `f32`.
    C64 = 64,
    /// IEEE double precision.
    F64 = 64,
    /// 64-bit signed integers.
    I64 = 64,
    /// 64-bit unsigned integers.
    U64 = 64,
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a safetensors file or header cannot be read or written for.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than 8 bytes: not even the header's length.
    TooShort {
        /// The number of bytes.
        len: usize,
    },
    /// The header's length is over [`MAX_HEADER_SIZE`].
    HeaderTooLarge {
        /// The length declared (or, when writing, needed).
        len: u64,
    },
    /// The header's length runs past the end of the bytes.
    HeaderPastEnd {
        /// The length declared.
        len: u64,
        /// The bytes there are after the length.
        available: usize,
    },
    /// The header is not UTF-8.
    HeaderNotUtf8 {
        /// Where in the header the first invalid byte is.
        at: usize,
    },
    /// The header is not JSON.
    HeaderNotJson(json::Error),
    /// The header is JSON but not an object.
    HeaderNotObject,
    /// `__metadata__` is neither `null` nor an object of strings.
    Metadata {
        /// The entry that is not a string (`None`: not an object at all).
        key: Option<String>,
    },
    /// A tensor's entry is not `{"dtype": string, "shape": [integers],
    /// "data_offsets": [begin, end]}`.
    Entry {
        /// The tensor's name.
        tensor: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A tensor's dtype is not one of [`Dtype`]'s names.
    UnknownDtype {
        /// The tensor's name.
        tensor: String,
        /// The name the header gives.
        found: String,
    },
    /// A tensor's data does not start where the previous one's ends (0
    /// for the first, in offset order), or ends before it begins.
    Offsets {
        /// The tensor's name.
        tensor: String,
        /// Its `data_offsets`.
        found: (usize, usize),
        /// Where it had to begin.
        expected_begin: usize,
    },
    /// A tensor's byte count overflows `usize`.
    Overflow {
        /// The tensor's name (empty for [`Tensor::new`]'s).
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor of a sub-byte dtype does not fill whole bytes.
    PartialByte {
        /// The tensor's name (empty for [`Tensor::new`]'s).
        tensor: String,
        /// Its dtype.
        dtype: Dtype,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor's bytes are not `product(shape) × dtype size` long.
    Size {
        /// The tensor's name (empty for [`Tensor::new`]'s).
        tensor: String,
        /// Its dtype.
        dtype: Dtype,
        /// Its shape.
        shape: Vec<usize>,
        /// The bytes its dtype and shape need.
        expected: usize,
        /// The bytes it has (its `data_offsets`' span).
        found: usize,
    },
    /// The tensors do not cover the data section exactly.
    DataLength {
        /// The bytes the header's tensors cover.
        expected: usize,
        /// The bytes after the header.
        found: usize,
    },
    /// Two tensors to write have the same name.
    DuplicateName {
        /// The name.
        tensor: String,
    },
    /// A tensor to write is named `__metadata__`.
    ReservedName,
}

/// `[2, 3]`, as the header writes a shape.
fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// `tensor `name`` or, for a tensor not yet named, `a tensor`.
fn tensor_text(tensor: &str) -> String {
    if tensor.is_empty() {
        "a tensor".into()
    } else {
        format!("tensor `{tensor}`")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort { len } => write!(f, "shorter than 8 bytes ({len})"),
            Error::HeaderTooLarge { len } => {
                write!(f, "its header length (its first 8 bytes) is {len}, over the limit of {MAX_HEADER_SIZE} bytes")
            }
            Error::HeaderPastEnd { len, available } => {
                write!(f, "its header runs past the end ({len} bytes declared, {available} there)")
            }
            Error::HeaderNotUtf8 { at } => write!(f, "its header is not UTF-8 (byte {at} of it)"),
            Error::HeaderNotJson(e) => write!(f, "its header is not JSON: {e}"),
            Error::HeaderNotObject => f.write_str("its header is not a JSON object"),
            Error::Metadata { key: None } => write!(f, "its `{METADATA_KEY}` is not an object of strings"),
            Error::Metadata { key: Some(key) } => {
                write!(f, "its `{METADATA_KEY}` entry `{key}` is not a string")
            }
            Error::Entry { tensor, problem } => write!(f, "tensor `{tensor}` {problem}"),
            Error::UnknownDtype { tensor, found } => write!(f, "tensor `{tensor}` has an unknown dtype `{found}`"),
            Error::Offsets { tensor, found: (begin, end), expected_begin } => {
                if end < begin {
                    write!(f, "tensor `{tensor}`'s data_offsets [{begin}, {end}] end before they begin")
                } else {
                    write!(
                        f,
                        "tensor `{tensor}`'s data_offsets [{begin}, {end}] do not begin where the data \
                         before it ends ({expected_begin})"
                    )
                }
            }
            Error::Overflow { tensor, shape } => {
                write!(f, "{} has shape {}, too large to count its bytes", tensor_text(tensor), shape_text(shape))
            }
            Error::PartialByte { tensor, dtype, shape } => {
                write!(f, "{} ({dtype}, shape {}) does not fill whole bytes", tensor_text(tensor), shape_text(shape))
            }
            Error::Size { tensor, dtype, shape, expected, found } => write!(
                f,
                "{} ({dtype}, shape {}) needs {expected} bytes, not {found}",
                tensor_text(tensor),
                shape_text(shape)
            ),
            Error::DataLength { expected, found } => {
                write!(f, "its tensors cover {expected} bytes of data, but {found} follow the header")
            }
            Error::DuplicateName { tensor } => write!(f, "two tensors are named `{tensor}`"),
            Error::ReservedName => write!(f, "a tensor is named `{METADATA_KEY}`, the metadata's key"),
        }
    }
}

impl std::error::Error for Error {}

/// The bytes a tensor of `dtype` and `shape` takes, with overflow checks
/// (`tensor` names it in errors).
fn byte_size(tensor: &str, dtype: Dtype, shape: &[usize]) -> Result<usize, Error> {
    let overflow = || Error::Overflow { tensor: tensor.to_string(), shape: shape.to_vec() };
    let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(overflow)?;
    let bits = elements.checked_mul(dtype.bitsize()).ok_or_else(overflow)?;
    if bits % 8 != 0 {
        return Err(Error::PartialByte { tensor: tensor.to_string(), dtype, shape: shape.to_vec() });
    }
    Ok(bits / 8)
}

/// A tensor's dtype, shape and bytes (borrowed, little-endian as the
/// format stores them), checked to agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// A tensor of `dtype` and `shape` over `data`, which must be exactly
    /// `product(shape) × dtype size` bytes ([`Error::Size`] otherwise;
    /// [`Error::Overflow`], [`Error::PartialByte`] for impossible shapes).
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: &'a [u8]) -> Result<Self, Error> {
        let expected = byte_size("", dtype, &shape)?;
        if data.len() != expected {
            return Err(Error::Size { tensor: String::new(), dtype, shape, expected, found: data.len() });
        }
        Ok(Tensor { dtype, shape, data })
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The dimensions (empty for a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// One tensor's header entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name (the entry's key).
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// Where its bytes are in the data section: `begin..end`.
    pub data_offsets: (usize, usize),
}

/// A checked header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// `__metadata__`, if the header has it (and it is not `null`).
    pub metadata: Option<BTreeMap<String, String>>,
    /// The tensors in the order of their data (offsets ascending).
    pub tensors: Vec<TensorInfo>,
    /// Where the data section starts in the file: 8 + the header's length.
    pub data_start: usize,
}

/// A parsed file: its metadata and tensors, borrowing the file's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct SafeTensors<'a> {
    /// `__metadata__`, if the header has it (and it is not `null`).
    pub metadata: Option<BTreeMap<String, String>>,
    /// The tensors by name, in the order of their data.
    pub tensors: Vec<(String, Tensor<'a>)>,
}

/// A non-negative integer that fits in `usize`.
fn index(value: &Value) -> Option<usize> {
    value.as_u64().and_then(|n| usize::try_from(n).ok())
}

/// One tensor's entry, its types checked (the crate's `TensorInfo`
/// deserialization: other fields are ignored, as serde's derive does).
fn tensor_info(name: &str, entry: &Value) -> Result<TensorInfo, Error> {
    let problem = |problem| Error::Entry { tensor: name.to_string(), problem };
    if !entry.is_object() {
        return Err(problem("is not an object"));
    }
    let dtype = entry["dtype"].as_str().ok_or(problem("has no `dtype` string"))?;
    let dtype = Dtype::from_name(dtype)
        .ok_or_else(|| Error::UnknownDtype { tensor: name.to_string(), found: dtype.to_string() })?;
    let shape = entry["shape"].as_array().ok_or(problem("has no `shape` array"))?;
    let shape: Vec<usize> =
        shape.iter().map(index).collect::<Option<_>>().ok_or(problem("has a `shape` that is not all integers ≥ 0"))?;
    let offsets = match entry["data_offsets"].as_array().map(Vec::as_slice) {
        Some([begin, end]) => index(begin).zip(index(end)),
        _ => None,
    };
    let data_offsets = offsets.ok_or(problem("has no `data_offsets` [begin, end] of integers ≥ 0"))?;
    Ok(TensorInfo { name: name.to_string(), dtype, shape, data_offsets })
}

/// Reads and checks the header of the safetensors file `bytes` (the
/// crate's `SafeTensors::read_metadata`): everything [`deserialize`]
/// checks, the data section's length included.
pub fn read_header(bytes: &[u8]) -> Result<Header, Error> {
    let length = bytes.get(..LENGTH_BYTES).ok_or(Error::TooShort { len: bytes.len() })?;
    let len = u64::from_le_bytes(length.try_into().expect("8 bytes"));
    let n = usize::try_from(len).ok().filter(|&n| n <= MAX_HEADER_SIZE).ok_or(Error::HeaderTooLarge { len })?;
    let data_start = LENGTH_BYTES + n;
    let header = bytes
        .get(LENGTH_BYTES..data_start)
        .ok_or(Error::HeaderPastEnd { len, available: bytes.len() - LENGTH_BYTES })?;
    let text = std::str::from_utf8(header).map_err(|e| Error::HeaderNotUtf8 { at: e.valid_up_to() })?;
    let Value::Object(entries) = json::from_str(text).map_err(Error::HeaderNotJson)? else {
        return Err(Error::HeaderNotObject);
    };
    let mut metadata = None;
    let mut tensors = Vec::new();
    for (name, entry) in &entries {
        if name != METADATA_KEY {
            tensors.push(tensor_info(name, entry)?);
            continue;
        }
        let map = match entry {
            Value::Null => continue,
            Value::Object(map) => map,
            _ => return Err(Error::Metadata { key: None }),
        };
        let strings = map.iter().map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            _ => Err(Error::Metadata { key: Some(key.clone()) }),
        });
        metadata = Some(strings.collect::<Result<_, _>>()?);
    }
    // In data order (stable: equal offsets, possible only for empty
    // tensors, stay in name order).
    tensors.sort_by_key(|t| t.data_offsets);
    let mut end_so_far = 0;
    for t in &tensors {
        let (begin, end) = t.data_offsets;
        if begin != end_so_far || end < begin {
            return Err(Error::Offsets { tensor: t.name.clone(), found: t.data_offsets, expected_begin: end_so_far });
        }
        end_so_far = end;
        let expected = byte_size(&t.name, t.dtype, &t.shape)?;
        if end - begin != expected {
            return Err(Error::Size {
                tensor: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                expected,
                found: end - begin,
            });
        }
    }
    let found = bytes.len() - data_start;
    if end_so_far != found {
        return Err(Error::DataLength { expected: end_so_far, found });
    }
    Ok(Header { metadata, tensors, data_start })
}

/// Parses the safetensors file `bytes` (the crate's
/// `SafeTensors::deserialize`), checked as [`read_header`] checks it.
pub fn deserialize(bytes: &[u8]) -> Result<SafeTensors<'_>, Error> {
    let Header { metadata, tensors, data_start } = read_header(bytes)?;
    let data = &bytes[data_start..];
    let tensors = tensors
        .into_iter()
        .map(|t| {
            let (begin, end) = t.data_offsets;
            (t.name, Tensor { dtype: t.dtype, shape: t.shape, data: &data[begin..end] })
        })
        .collect();
    Ok(SafeTensors { metadata, tensors })
}

/// The bytes of a safetensors file of `tensors` and `metadata`, as the
/// crate's `safetensors::serialize` writes them (see the module's
/// documentation for the order; `None` writes no `__metadata__` entry).
pub fn serialize<'a, S: AsRef<str>>(
    tensors: impl IntoIterator<Item = (S, Tensor<'a>)>,
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<Vec<u8>, Error> {
    let mut tensors: Vec<(S, Tensor<'a>)> = tensors.into_iter().collect();
    tensors.sort_by(|(a, ta), (b, tb)| tb.dtype.cmp(&ta.dtype).then_with(|| a.as_ref().cmp(b.as_ref())));
    let mut names = BTreeSet::new();
    for (name, _) in &tensors {
        let name = name.as_ref();
        if name == METADATA_KEY {
            return Err(Error::ReservedName);
        }
        if !names.insert(name) {
            return Err(Error::DuplicateName { tensor: name.to_string() });
        }
    }
    // serde_json's compact form of the crate's header struct; the writes
    // go to a String, which cannot fail.
    let mut header = String::from("{");
    let mut first = true;
    let mut separator = |header: &mut String| {
        if !std::mem::take(&mut first) {
            header.push(',');
        }
    };
    if let Some(metadata) = metadata {
        separator(&mut header);
        header.push_str("\"__metadata__\":{");
        for (i, (key, value)) in metadata.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            let _ = json::write_string(key, &mut header);
            header.push(':');
            let _ = json::write_string(value, &mut header);
        }
        header.push('}');
    }
    let mut offset = 0usize;
    for (name, tensor) in &tensors {
        separator(&mut header);
        let begin = offset;
        offset = offset
            .checked_add(tensor.data.len())
            .ok_or(Error::Overflow { tensor: name.as_ref().to_string(), shape: tensor.shape.clone() })?;
        let _ = json::write_string(name.as_ref(), &mut header);
        let dims: Vec<String> = tensor.shape.iter().map(usize::to_string).collect();
        header.push_str(&format!(
            ":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{begin},{offset}]}}",
            tensor.dtype,
            dims.join(",")
        ));
    }
    header.push('}');
    // Padded with spaces to a multiple of 8 bytes, so the data starts 8-byte aligned.
    let padded = header.len().next_multiple_of(LENGTH_BYTES);
    if padded > MAX_HEADER_SIZE {
        return Err(Error::HeaderTooLarge { len: padded as u64 });
    }
    let mut out = Vec::with_capacity(LENGTH_BYTES + padded + offset);
    out.extend_from_slice(&(padded as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.resize(LENGTH_BYTES + padded, b' ');
    for (_, tensor) in &tensors {
        out.extend_from_slice(tensor.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file assembled by hand: the length, the header text, its padding, the data.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn metadata(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The bytes written are the format's layout, written out by hand:
    /// `__metadata__` first, the F32 tensor before the I8 ones (dtype
    /// order descending), names ascending within a dtype, offsets
    /// contiguous from 0, the header padded with spaces to 8 bytes.
    #[test]
    fn writes_the_crate_s_bytes() {
        let w = 1.5f32.to_le_bytes();
        let (a, b) = ([1u8, 2], [3u8]);
        let tensors = [
            ("b", Tensor::new(Dtype::I8, vec![1], &b).unwrap()),
            ("w", Tensor::new(Dtype::F32, vec![1, 1], &w).unwrap()),
            ("a", Tensor::new(Dtype::I8, vec![2], &a).unwrap()),
        ];
        let bytes = serialize(tensors, Some(&metadata(&[("k", "v\"")]))).unwrap();
        let header = concat!(
            r#"{"__metadata__":{"k":"v\""},"#,
            r#""w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"#,
            r#""a":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},"#,
            r#""b":{"dtype":"I8","shape":[1],"data_offsets":[6,7]}}"#,
        );
        assert_eq!(header.len(), 187);
        let padded = format!("{header}     "); // 192 = 24 × 8
        assert_eq!(bytes, file(&padded, &[0, 0, 0xc0, 0x3f, 1, 2, 3]));

        // No metadata, no tensors.
        assert_eq!(serialize::<&str>([], None).unwrap(), file("{}      ", &[]));
        assert_eq!(serialize::<&str>([], Some(&BTreeMap::new())).unwrap(), file(r#"{"__metadata__":{}}     "#, &[]));
    }

    #[test]
    fn every_dtype_orders_as_the_crate_orders_it() {
        // Eight elements: whole bytes for every dtype, `bitsize` of them.
        let data = [0u8; 64];
        let tensors: Vec<(String, Tensor)> = Dtype::ALL
            .iter()
            .map(|&d| (format!("t{}", d.name()), Tensor::new(d, vec![8], &data[..d.bitsize()]).unwrap()))
            .collect();
        let parsed = read_header(&serialize(tensors, None).unwrap()).unwrap();
        let order: Vec<&str> = parsed.tensors.iter().map(|t| &t.name[1..]).collect();
        assert_eq!(
            order,
            [
                "U64",
                "I64",
                "F64",
                "C64",
                "F32",
                "U32",
                "I32",
                "BF16",
                "F16",
                "U16",
                "I16",
                "F8_E5M2FNUZ",
                "F8_E4M3FNUZ",
                "F8_E8M0",
                "F8_E4M3",
                "F8_E5M2",
                "I8",
                "U8",
                "F6_E3M2",
                "F6_E2M3",
                "F4",
                "BOOL"
            ]
        );
    }

    #[test]
    fn reads_what_it_writes_and_hand_made_files() {
        let values: Vec<u8> = [1.0f32, -2.0, 0.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let q = [0xffu8, 7];
        let meta = metadata(&[("format", "kiln.weights"), ("format_version", "1")]);
        let bytes = serialize(
            [
                ("dense/kernel".to_string(), Tensor::new(Dtype::F32, vec![3, 1], &values).unwrap()),
                ("q".to_string(), Tensor::new(Dtype::I8, vec![2], &q).unwrap()),
            ],
            Some(&meta),
        )
        .unwrap();
        let file_ = deserialize(&bytes).unwrap();
        assert_eq!(file_.metadata.as_ref(), Some(&meta));
        assert_eq!(file_.tensors.len(), 2);
        assert_eq!(file_.tensors[0].0, "dense/kernel");
        assert_eq!((file_.tensors[0].1.dtype(), file_.tensors[0].1.shape()), (Dtype::F32, &[3, 1][..]));
        assert_eq!(file_.tensors[0].1.data(), &values[..]);
        assert_eq!(file_.tensors[1].1.data(), &q);

        // Another writer's choices: entries out of order, whitespace, no
        // padding, a null `__metadata__`, extra fields, a scalar.
        let header = r#" { "b": {"shape": [], "dtype": "U8", "data_offsets": [2, 3], "extra": 1},
            "a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}, "__metadata__": null } "#;
        let bytes = file(header, &[9, 8, 7]);
        let parsed = deserialize(&bytes).unwrap();
        assert_eq!(parsed.metadata, None);
        let names: Vec<(&str, &[u8])> = parsed.tensors.iter().map(|(n, t)| (n.as_str(), t.data())).collect();
        assert_eq!(names, [("a", &[9u8, 8][..]), ("b", &[7][..])]);
        assert_eq!(read_header(&bytes).unwrap().data_start, 8 + header.len());
    }

    /// Each check the crate makes, and its message here.
    #[test]
    fn malformed_files_are_refused_with_what_is_wrong() {
        let error = |bytes: &[u8]| deserialize(bytes).unwrap_err();
        let f32_entry = |name: &str, shape: &str, offsets: &str| {
            format!(r#""{name}":{{"dtype":"F32","shape":{shape},"data_offsets":{offsets}}}"#)
        };
        assert_eq!(error(&[1, 0, 0]), Error::TooShort { len: 3 });
        assert_eq!(error(&file("{}", &[])[..9]), Error::HeaderPastEnd { len: 2, available: 1 });
        assert_eq!(
            error(&file("{}", &[])[..9]).to_string(),
            "its header runs past the end (2 bytes declared, 1 there)"
        );
        let mut huge = 100_000_001u64.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert_eq!(error(&huge), Error::HeaderTooLarge { len: 100_000_001 });
        assert_eq!(error(&u64::MAX.to_le_bytes()), Error::HeaderTooLarge { len: u64::MAX });
        let mut bad_utf8 = file("{\"\u{e9}\":1}", &[]);
        bad_utf8[11] = 0xff;
        assert_eq!(error(&bad_utf8), Error::HeaderNotUtf8 { at: 2 });
        assert_eq!(
            error(&file("{", &[])).to_string(),
            "its header is not JSON: EOF while parsing an object at line 1 column 1"
        );
        assert_eq!(error(&file("[]", &[])), Error::HeaderNotObject);
        assert_eq!(error(&file(r#"{"__metadata__":[]}"#, &[])), Error::Metadata { key: None });
        assert_eq!(error(&file(r#"{"__metadata__":{"a":"b","n":1}}"#, &[])), Error::Metadata { key: Some("n".into()) });
        let entry = |header: &str| match error(&file(header, &[])) {
            Error::Entry { tensor, problem } => format!("{tensor}: {problem}"),
            other => panic!("{header}: {other:?}"),
        };
        assert_eq!(entry(r#"{"t":5}"#), "t: is not an object");
        assert_eq!(entry(r#"{"t":{"shape":[],"data_offsets":[0,0]}}"#), "t: has no `dtype` string");
        assert_eq!(entry(r#"{"t":{"dtype":"F32","data_offsets":[0,4]}}"#), "t: has no `shape` array");
        assert_eq!(
            entry(&format!("{{{}}}", f32_entry("t", "[-1]", "[0,4]"))),
            "t: has a `shape` that is not all integers ≥ 0"
        );
        assert_eq!(
            entry(&format!("{{{}}}", f32_entry("t", "[1.0]", "[0,4]"))),
            "t: has a `shape` that is not all integers ≥ 0"
        );
        assert_eq!(
            entry(&format!("{{{}}}", f32_entry("t", "[1]", "[0,4,4]"))),
            "t: has no `data_offsets` [begin, end] of integers ≥ 0"
        );
        assert_eq!(
            error(&file(r#"{"t":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}"#, &[0; 4])),
            Error::UnknownDtype { tensor: "t".into(), found: "f32".into() }
        );
        // A gap before the first tensor, an overlap, an end before the begin.
        let two =
            |a: &str, b: &str| file(&format!("{{{},{}}}", f32_entry("a", "[1]", a), f32_entry("b", "[1]", b)), &[0; 8]);
        assert_eq!(
            error(&two("[4,8]", "[8,12]")),
            Error::Offsets { tensor: "a".into(), found: (4, 8), expected_begin: 0 }
        );
        assert_eq!(
            error(&two("[0,4]", "[2,6]")),
            Error::Offsets { tensor: "b".into(), found: (2, 6), expected_begin: 4 }
        );
        assert_eq!(error(&two("[0,4]", "[4,0]")).to_string(), "tensor `b`'s data_offsets [4, 0] end before they begin");
        assert_eq!(
            error(&two("[0,4]", "[6,10]")).to_string(),
            "tensor `b`'s data_offsets [6, 10] do not begin where the data before it ends (4)"
        );
        assert_eq!(
            error(&two("[0,4]", "[4,7]")),
            Error::Size { tensor: "b".into(), dtype: Dtype::F32, shape: vec![1], expected: 4, found: 3 }
        );
        assert_eq!(error(&two("[0,4]", "[4,7]")).to_string(), "tensor `b` (F32, shape [1]) needs 4 bytes, not 3");
        // Data past the last tensor, or missing.
        assert_eq!(
            error(&file(&format!("{{{}}}", f32_entry("a", "[1]", "[0,4]")), &[0; 5])),
            Error::DataLength { expected: 4, found: 5 }
        );
        assert_eq!(
            error(&file(&format!("{{{}}}", f32_entry("a", "[1]", "[0,4]")), &[0; 3])),
            Error::DataLength { expected: 4, found: 3 }
        );
        // Shapes whose byte count overflows, sub-byte tensors in part of a byte.
        let big = format!("[{},{}]", usize::MAX / 2, 4);
        assert!(matches!(
            error(&file(&format!("{{{}}}", f32_entry("a", &big, "[0,4]")), &[0; 4])),
            Error::Overflow { .. }
        ));
        let f4 = r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
        assert_eq!(
            error(&file(f4, &[0; 2])),
            Error::PartialByte { tensor: "a".into(), dtype: Dtype::F4, shape: vec![3] }
        );
    }

    #[test]
    fn names_that_cannot_be_written_are_refused() {
        let one = [0u8];
        let t = || Tensor::new(Dtype::U8, vec![1], &one).unwrap();
        assert_eq!(serialize([("__metadata__", t())], None), Err(Error::ReservedName));
        let twice = serialize([("x", t()), ("x", Tensor::new(Dtype::I8, vec![1], &one).unwrap())], None);
        assert_eq!(twice, Err(Error::DuplicateName { tensor: "x".into() }));
        assert_eq!(
            Tensor::new(Dtype::F32, vec![2], &[0; 7]).unwrap_err().to_string(),
            "a tensor (F32, shape [2]) needs 8 bytes, not 7"
        );
    }

    /// Seeded mutations of a valid file (bytes flipped, lengths and
    /// offsets rewritten, truncations): each gives a file or an error,
    /// never a panic.
    #[test]
    fn mutated_files_give_a_file_or_an_error() {
        let values = [0u8; 24];
        let meta = metadata(&[("format", "x")]);
        let good = serialize(
            [
                ("a", Tensor::new(Dtype::F32, vec![2, 2], &values[..16]).unwrap()),
                ("b", Tensor::new(Dtype::F64, vec![1], &values[16..]).unwrap()),
            ],
            Some(&meta),
        )
        .unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let digits = b"0123456789-.e[]{},\"";
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + next(3) {
                match next(4) {
                    0 if !bytes.is_empty() => {
                        let at = next(bytes.len());
                        bytes[at] ^= 1 << next(8);
                    }
                    1 if !bytes.is_empty() => {
                        let at = next(bytes.len());
                        bytes[at] = digits[next(digits.len())];
                    }
                    2 => bytes.truncate(next(bytes.len() + 1)),
                    0 | 1 => {}
                    _ => {
                        let len = [0u64, 7, 8, 100, 100_000_000, u64::MAX][next(6)];
                        if bytes.len() >= 8 {
                            bytes[..8].copy_from_slice(&len.to_le_bytes());
                        }
                    }
                }
            }
            match deserialize(&bytes) {
                Ok(file) => {
                    ok += 1;
                    for (_, t) in &file.tensors {
                        assert_eq!(Tensor::new(t.dtype(), t.shape().to_vec(), t.data()).as_ref(), Ok(t));
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        assert!(ok > 0 && refused > 0, "{ok} read, {refused} refused");
    }
}
