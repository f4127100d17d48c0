//! kiln-format against the crates it replaced in kiln (docs/DESIGN.md,
//! "Build time"): the `safetensors` crate 0.8 and serde_json, which are
//! dev-dependencies of this package only.
//!
//! - safetensors: files kiln_format writes are the bytes
//!   `safetensors::serialize` writes for the same tensors and metadata, and
//!   the crate reads them back; files the crate writes read back with
//!   kiln_format; mutated files are accepted or refused by both alike.
//! - JSON: values print as serde_json's `to_string` and
//!   `to_string_pretty` print them (floats, escapes, nesting), texts parse
//!   to the same values, and malformed texts give serde_json's messages.
//! - SHA-256: `kiln::datasets::sha256` gives the `sha2` crate's digests.

use kiln_format::json;
use kiln_format::safetensors::{self as format, Dtype, Tensor};
use safetensors::tensor::{SafeTensors, TensorView};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A seeded generator (xorshift64), so every run checks the same cases.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.below(256) as u8).collect()
    }
}

/// The crate's dtype of the same name.
fn crate_dtype(dtype: Dtype) -> safetensors::Dtype {
    serde_json::from_value(serde_json::Value::String(dtype.name().into())).expect("the crate knows every dtype")
}

/// One file's contents: tensors (name, dtype, shape, bytes) and metadata.
#[derive(Debug)]
struct Case {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: Option<BTreeMap<String, String>>,
}

/// Names that need escapes in JSON, non-ASCII ones, and ones that sort
/// differently as bytes and as characters.
const NAMES: &[&str] = &[
    "dense/kernel",
    "dense/bias",
    "a",
    "B",
    "é",
    "z\"quote",
    "back\\slash",
    "tab\tnew\nline",
    "ctl\u{1}\u{1f}",
    "😀",
    "",
    "lstm/cell/recurrent_kernel",
];

fn case(rng: &mut Rng, metadata_entries: usize) -> Case {
    let mut names: Vec<&str> = NAMES.to_vec();
    let mut tensors = Vec::new();
    for _ in 0..rng.below(7) {
        let name = names.remove(rng.below(names.len()));
        let dtype = Dtype::ALL[rng.below(Dtype::ALL.len())];
        // 0–3 dimensions of 0–4, with whole bytes (sub-byte dtypes need an
        // even count, or a multiple of 4 for the 6-bit ones).
        let shape: Vec<usize> = loop {
            let shape: Vec<usize> = (0..rng.below(4)).map(|_| rng.below(5)).collect();
            if (shape.iter().product::<usize>() * dtype.bitsize()).is_multiple_of(8) {
                break shape;
            }
        };
        let bytes = rng.bytes(shape.iter().product::<usize>() * dtype.bitsize() / 8);
        tensors.push((name.to_string(), dtype, shape, bytes));
    }
    let metadata = (metadata_entries > 0 || rng.below(2) == 0).then(|| {
        (0..metadata_entries)
            .map(|i| (format!("{}{i}", NAMES[rng.below(NAMES.len())]), NAMES[rng.below(NAMES.len())].to_string()))
            .collect()
    });
    Case { tensors, metadata }
}

fn ours(case: &Case) -> Vec<u8> {
    let tensors = case.tensors.iter().map(|(name, dtype, shape, bytes)| {
        (name.as_str(), Tensor::new(*dtype, shape.clone(), bytes).expect("sizes agree"))
    });
    format::serialize(tensors, case.metadata.as_ref()).unwrap()
}

fn theirs(case: &Case) -> Vec<u8> {
    let tensors = case.tensors.iter().map(|(name, dtype, shape, bytes)| {
        (name.as_str(), TensorView::new(crate_dtype(*dtype), shape.clone(), bytes).expect("sizes agree"))
    });
    // (Collected into the crate's own map type: hashbrown's without its `std` feature.)
    safetensors::serialize(tensors, case.metadata.clone().map(|m| m.into_iter().collect())).unwrap()
}

/// Tensors sorted by name, as (name, dtype name, shape, bytes).
type Tensors = Vec<(String, String, Vec<usize>, Vec<u8>)>;

/// What a reader finds in a file: its tensors and its metadata.
type Contents = (Tensors, Option<BTreeMap<String, String>>);

/// The case's tensors.
fn expected(case: &Case) -> Tensors {
    let mut all: Vec<_> = case
        .tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| (name.clone(), dtype.name().to_string(), shape.clone(), bytes.clone()))
        .collect();
    all.sort();
    all
}

/// What the crate reads from `bytes`.
fn read_by_the_crate(bytes: &[u8]) -> Contents {
    let file = SafeTensors::deserialize(bytes).expect("the crate reads kiln_format's file");
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.dtype().to_string(), view.shape().to_vec(), view.data().to_vec()))
        .collect();
    tensors.sort();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let metadata = header.metadata().as_ref().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    (tensors, metadata)
}

/// What kiln_format reads from `bytes`.
fn read_by_kiln_format(bytes: &[u8]) -> Contents {
    let file = format::deserialize(bytes).expect("kiln_format reads the crate's file");
    let mut tensors: Vec<_> = file
        .tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.dtype().name().to_string(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    tensors.sort();
    (tensors, file.metadata)
}

/// With at most one metadata entry the two writers agree byte for byte;
/// each reads the other's file back to the same tensors and metadata.
#[test]
fn files_are_the_crate_s_bytes_and_read_both_ways() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..400 {
        let case = case(&mut rng, i % 2);
        let (ours, theirs) = (ours(&case), theirs(&case));
        if case.tensors.is_empty() && case.metadata.as_ref().is_some_and(BTreeMap::is_empty) {
            // The crate's one malformed file: it tells serde_json the header
            // map has (tensors + metadata entries) = 0 entries, and serde_json
            // then writes `{},"__metadata__":{}}`, which nothing reads back.
            assert!(theirs[8..].starts_with(b"{},"), "the crate's bug is gone: compare again");
            assert!(SafeTensors::deserialize(&theirs).is_err());
            assert_eq!(read_by_the_crate(&ours), (vec![], case.metadata.clone()));
            continue;
        }
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{case:?}");
        assert_eq!(ours, theirs, "{case:?}");
        assert_eq!(read_by_the_crate(&ours), (expected(&case), case.metadata.clone()), "{case:?}");
        assert_eq!(read_by_kiln_format(&theirs), (expected(&case), case.metadata.clone()), "{case:?}");
    }
}

/// Several metadata entries: the crate writes them in its hash map's
/// order, which varies from run to run, kiln_format sorted by key; the
/// files have the same length and data, and headers that are the same
/// JSON object.
#[test]
fn metadata_of_several_entries_is_the_same_object() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..100 {
        let entries = 2 + rng.below(4);
        let case = case(&mut rng, entries);
        let (ours, theirs) = (ours(&case), theirs(&case));
        assert_eq!(ours.len(), theirs.len(), "{case:?}");
        let n = u64::from_le_bytes(ours[..8].try_into().unwrap()) as usize;
        assert_eq!(ours[..8], theirs[..8]);
        assert_eq!(ours[8 + n..], theirs[8 + n..], "the data sections differ: {case:?}");
        let header = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(&bytes[8..8 + n]).unwrap();
        assert_eq!(header(&ours), header(&theirs), "{case:?}");
        assert_eq!(read_by_the_crate(&ours), (expected(&case), case.metadata.clone()));
        assert_eq!(read_by_kiln_format(&theirs), (expected(&case), case.metadata.clone()));
    }
}

/// Seeded mutations of valid files (bit flips, bytes replaced by JSON
/// punctuation and digits, truncations, rewritten lengths, edited header
/// text): kiln_format accepts exactly the files the crate accepts, and
/// reads the same tensors from them. (A panic of the crate counts as a
/// refusal: kiln_format must refuse that file too, without panicking.)
#[test]
fn mutated_files_are_accepted_and_refused_alike() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let punctuation = b"0123456789-+.eE[]{},:\" \\ntrufalsF";
    let edits: &[(&str, &str)] = &[
        ("\"F32\"", "\"F64\""),
        ("\"F32\"", "\"f32\""),
        ("\"shape\":[", "\"shape\":[1,"),
        ("\"data_offsets\":[0,", "\"data_offsets\":[1,"),
        ("\"data_offsets\"", "\"offsets\""),
        ("\"__metadata__\":{", "\"__metadata__\":{\"n\":1,"),
        ("\"__metadata__\":{", "\"__metadata__\":null,\"x\":{"),
        ("]}", "],\"extra\":[]}"),
        (",", ", "),
        ("0", "-0"),
        ("0", "0.0"),
        ("1", "1e0"),
    ];
    let (mut accepted, mut refused, mut crate_panics) = (0, 0, 0);
    for _ in 0..4000 {
        let entries = rng.below(2);
        let case = case(&mut rng, entries);
        let mut bytes = ours(&case);
        for _ in 0..1 + rng.below(2) {
            match rng.below(5) {
                0 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
                1 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] = punctuation[rng.below(punctuation.len())];
                }
                2 => bytes.truncate(rng.below(bytes.len() + 1)),
                3 if bytes.len() >= 8 => {
                    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
                    let len = [0, n.wrapping_sub(8), n.wrapping_add(8), 100_000_000, 100_000_001, u64::MAX];
                    let len = len[rng.below(len.len())];
                    bytes[..8].copy_from_slice(&len.to_le_bytes());
                }
                _ if bytes.len() >= 8 => {
                    // Edit the header text and fix its length, so the edit reaches the checks past it.
                    let n = (u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize).min(bytes.len() - 8);
                    let (from, to) = edits[rng.below(edits.len())];
                    let header = String::from_utf8_lossy(&bytes[8..8 + n]).replacen(from, to, 1);
                    let mut edited = (header.len() as u64).to_le_bytes().to_vec();
                    edited.extend_from_slice(header.as_bytes());
                    edited.extend_from_slice(&bytes[8 + n..]);
                    bytes = edited;
                }
                _ => {}
            }
        }
        let theirs = catch_unwind(AssertUnwindSafe(|| SafeTensors::deserialize(&bytes).is_ok()));
        let theirs = theirs.unwrap_or_else(|_| {
            crate_panics += 1;
            false
        });
        let ours = format::deserialize(&bytes);
        assert_eq!(ours.is_ok(), theirs, "{:?}: {ours:?}", String::from_utf8_lossy(&bytes));
        if theirs {
            accepted += 1;
            assert_eq!(read_by_kiln_format(&bytes), read_by_the_crate(&bytes));
        } else {
            refused += 1;
        }
    }
    eprintln!("{accepted} accepted, {refused} refused ({crate_panics} by a panic of the crate)");
    assert!(accepted > 100 && refused > 100, "{accepted} accepted, {refused} refused");
}

/// Floats print in serde_json's notation: the shortest digits that read
/// back, plain decimal for exponents -5..=15, `1e-7`/`1e+16` otherwise.
#[test]
fn floats_print_as_serde_json_prints_them() {
    let mut floats = vec![
        0.1,
        1e-7,
        1e16,
        -0.0,
        0.0,
        1e15,
        0.00001,
        0.000012,
        123.456,
        0.1 + 0.2,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -2.5,
        1.0,
        100.0,
        1e-5,
        1e16 - 2.0, // the float before 1e16
        1.7976931348623157e308,
        f64::from(0.1f32),
        f64::NAN,
        f64::INFINITY,
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        // Random bit patterns cover every exponent; scaled ones the plain range.
        floats.push(f64::from_bits(((rng.below(1 << 32) as u64) << 32) | rng.below(1 << 32) as u64));
        floats.push((rng.below(1 << 30) as f64) * 10f64.powi(rng.below(30) as i32 - 15));
    }
    for x in floats {
        let ours = json::Value::from(x).to_string();
        let theirs = serde_json::Value::from(x).to_string();
        assert_eq!(ours, theirs, "{x:e}");
    }
}

/// Values of every kind, nested: both crates parse the same text to the
/// same value (printed the same, compact and pretty).
#[test]
fn values_print_as_serde_json_prints_them() {
    let mut texts: Vec<String> = [
        r#"{"b": [1, -2, 3.5, 1e-7, 1E16, -0.0, 0.1, 18446744073709551615, -9223372036854775808]}"#,
        r#"{"z": {"y": {"x": [[], {}, [[]], [{}], null, true, false]}}, "a": "", "m": {}}"#,
        r#"["\"\\\/\b\f\n\r\t", "\u0000\u001f\u007f\u0080\u2028\ud83d\ude00", "é😀", "plain"]"#,
        r#"{"": 0, " ": 1, "\u0001": 2, "é": 3, "e": 4, "E": 5, "10": 6, "9": 7}"#,
        r#"  [  1 , 2 ,[ 3 ] ] "#,
        r#"{"dup": 1, "dup": 2}"#,
        "123",
        "\"top\"",
        "null",
        "[]",
        "{}",
        "0.30000000000000004",
        "18446744073709551616",
        "-9223372036854775809",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The Keras configs of the test fixtures, as large nested values.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keras_json");
    for entry in std::fs::read_dir(fixtures).unwrap() {
        texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for text in &texts {
        let theirs: Result<serde_json::Value, _> = serde_json::from_str(text);
        let ours = json::from_str(text);
        let (Ok(theirs), Ok(ours)) = (&theirs, &ours) else {
            assert_eq!(ours.map_err(|e| e.to_string()).err(), theirs.map_err(|e| e.to_string()).err(), "{text}");
            continue;
        };
        assert_eq!(json::to_string(ours), serde_json::to_string(theirs).unwrap(), "{text}");
        assert_eq!(json::to_string_pretty(ours), serde_json::to_string_pretty(theirs).unwrap(), "{text}");
        assert_eq!(format!("{ours:#}"), format!("{theirs:#}"), "{text}");
    }
}

/// Values built in code (the runtime's `to_json()` builds them so).
#[test]
fn built_values_print_as_serde_json_prints_them() {
    let ours = json::Value::from(vec![
        json::Value::from(0.1),
        json::Value::from(7u8),
        json::Value::from(-7i64),
        json::Value::from(usize::MAX),
        json::Value::from("s\u{8}"),
        json::Value::from(true),
        json::Value::from(None::<u8>),
        json::Value::from(vec![json::Value::from(f64::NAN)]),
    ]);
    let theirs = serde_json::json!([0.1, 7u8, -7i64, usize::MAX, "s\u{8}", true, null, [f64::NAN]]);
    assert_eq!(json::to_string(&ours), serde_json::to_string(&theirs).unwrap());
    assert_eq!(json::to_string_pretty(&ours), serde_json::to_string_pretty(&theirs).unwrap());
}

/// Every control character and a sample of others, escaped alike.
#[test]
fn strings_are_escaped_alike() {
    let all: String = (0u32..0x800).chain([0x2028, 0x2029, 0xfeff, 0x1f600]).filter_map(char::from_u32).collect();
    let ours = json::Value::from(all.as_str());
    let theirs = serde_json::Value::from(all.as_str());
    assert_eq!(ours.to_string(), theirs.to_string());
    let mut map = json::Map::new();
    map.insert(all.clone(), json::Value::Null);
    let mut their_map = serde_json::Map::new();
    their_map.insert(all, serde_json::Value::Null);
    assert_eq!(json::Value::Object(map).to_string(), serde_json::Value::Object(their_map).to_string());
}

/// Malformed texts: serde_json's message and position.
#[test]
fn syntax_errors_read_as_serde_json_s() {
    let texts = [
        "",
        "x",
        "{\"a\": 1,\n \"b\" 2}",
        "[1, 2",
        "[\n\n",
        "01",
        "\"\\u00zz\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\"",
        "[1 2]",
        "{\"a\": 1",
        "{1: 2}",
        "[1,]",
        "{\"a\": 1,}",
        "{\"a\": 1 \"b\": 2}",
        "1 2",
        "\"abc",
        "\"\\q\"",
        "tru",
        "nul!",
        "-",
        "1.x",
        "1e",
        "1e+",
        "-x",
        "1e999",
        "\"a\u{1}\"",
        "{\"a\"",
        "{\"a\":",
        "[\"a\",",
        "\n\n  }",
    ];
    for text in texts {
        let ours = json::from_str(text).unwrap_err().to_string();
        let theirs = serde_json::from_str::<serde_json::Value>(text).unwrap_err().to_string();
        assert_eq!(ours, theirs, "{text:?}");
    }
    let deep = "[".repeat(200);
    assert_eq!(
        json::from_str(&deep).unwrap_err().to_string(),
        serde_json::from_str::<serde_json::Value>(&deep).unwrap_err().to_string()
    );
}

/// `kiln::datasets::sha256` (which replaced the `sha2` crate in kiln) gives
/// the crate's digest for 2,000 seeded messages: every length up to 300
/// bytes (all padding cases, one to six blocks) several times, and longer
/// ones up to 100 KB.
#[test]
fn sha256_gives_the_sha2_crate_s_digests() {
    use sha2::{Digest, Sha256};
    let mut rng = Rng(0x5eed_5a25);
    for case in 0..2_000 {
        let len = if case < 1_500 { case % 301 } else { rng.below(100_000) };
        let data = rng.bytes(len);
        let theirs: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(kiln::datasets::sha256(&data), theirs, "{len} bytes (case {case})");
    }
}
