//! gzip files (RFC 1952) read as Python's `gzip` module reads them: every
//! member in turn, each member's CRC-32 and length checked, zero bytes
//! after the last member allowed (padding), anything else refused.
//! Stricter than Python where it lets a sign of damage pass: a header CRC
//! that does not match, reserved flag bits, and an empty file (no member
//! at all; Python returns no bytes) are errors here.
//!
//! The deflate data is `miniz_oxide`'s; the framing around it is a header
//! and an 8-byte trailer, written out here rather than taken from `flate2`,
//! whose reader brings `crc32fast` and its build script onto the path of
//! every clean build (docs/DESIGN.md, "Build time").

use miniz_oxide::inflate::core::{decompress as inflate, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// CRC-32 as gzip (and zip, PNG) compute it.
const CRC_32: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISO_HDLC);

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const RESERVED: u8 = 0b1110_0000;

/// The concatenated contents of every gzip member of `raw`, or what is
/// wrong with it (a sentence for [`Error::Format`](crate::error::Error::Format)).
pub(crate) fn decompress(raw: &[u8]) -> Result<Vec<u8>, String> {
    // `out` is zero-filled ahead of the data (miniz_oxide writes into an
    // initialized slice) and holds its first `end` bytes of data: every
    // byte is zeroed once, however many members the file has.
    let mut out = vec![0; raw.len().saturating_mul(2).max(64)];
    let mut end = 0;
    let mut state = Box::<DecompressorOxide>::default();
    let mut rest = raw;
    let mut member = 1;
    loop {
        let start = end;
        let data = skip_header(rest).map_err(|e| format!("gzip member {member}: {e}"))?;
        state.init();
        let used =
            inflate_member(&mut state, data, &mut out, &mut end).map_err(|e| format!("gzip member {member}: {e}"))?;
        let trailer = data
            .get(used..used + 8)
            .ok_or_else(|| format!("gzip member {member}: the file ends inside the 8-byte trailer (truncated)"))?;
        let stored_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let stored_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        let crc = CRC_32.checksum(&out[start..end]);
        if crc != stored_crc {
            return Err(format!(
                "gzip member {member}: CRC-32 of the data is {crc:#010x}, the trailer says {stored_crc:#010x} (corrupt file)"
            ));
        }
        // ISIZE is the length modulo 2³².
        let len = (end - start) as u32;
        if len != stored_len {
            return Err(format!(
                "gzip member {member}: {len} bytes of data (mod 2^32), the trailer says {stored_len} (corrupt file)"
            ));
        }
        // Zero bytes after a member are padding (Python skips them too),
        // whether or not another member follows.
        rest = &data[used + 8..];
        rest = &rest[rest.iter().take_while(|&&b| b == 0).count()..];
        if rest.is_empty() {
            out.truncate(end);
            return Ok(out);
        }
        member += 1;
    }
}

/// The bytes after a member's header.
fn skip_header(raw: &[u8]) -> Result<&[u8], String> {
    let truncated = || "the file ends inside the header (truncated)".to_string();
    // The magic number first: trailing data too short for a header is
    // still "not gzip", not "truncated".
    if raw.iter().zip([0x1f, 0x8b]).any(|(a, b)| *a != b) {
        let start: Vec<String> = raw.iter().take(2).map(|b| format!("{b:#04x}")).collect();
        return Err(format!("not gzip data: starts with {}, not 0x1f 0x8b", start.join(" ")));
    }
    let fixed = raw.get(..10).ok_or_else(truncated)?;
    if fixed[2] != 8 {
        return Err(format!("compression method {}, but gzip defines only 8 (deflate)", fixed[2]));
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(format!("reserved header flags set ({flags:#04x})"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = raw.get(at..at + 2).ok_or_else(truncated)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let text = raw.get(at..).ok_or_else(truncated)?;
            at += 1 + text.iter().position(|&b| b == 0).ok_or_else(truncated)?;
        }
    }
    if flags & FHCRC != 0 {
        let stored = raw.get(at..at + 2).ok_or_else(truncated)?;
        let stored = u16::from_le_bytes([stored[0], stored[1]]);
        // The low 16 bits of the CRC-32 of the header before it.
        let crc = CRC_32.checksum(&raw[..at]) as u16;
        if crc != stored {
            return Err(format!("header CRC is {crc:#06x}, the header says {stored:#06x} (corrupt file)"));
        }
        at += 2;
    }
    raw.get(at..).ok_or_else(truncated)
}

/// Inflates one deflate stream from the start of `data` into `out` after
/// its first `end` bytes (advancing `end`, doubling `out` when it is full);
/// returns how many bytes of `data` it took.
fn inflate_member(
    state: &mut DecompressorOxide,
    data: &[u8],
    out: &mut Vec<u8>,
    end: &mut usize,
) -> Result<usize, String> {
    // The member's output is one window (matches may reach back anywhere
    // in it): `out[start..]`, positions relative to its start.
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let start = *end;
    let mut consumed = 0;
    loop {
        let (status, used, produced) = inflate(state, &data[consumed..], &mut out[start..], *end - start, flags);
        consumed += used;
        *end += produced;
        match status {
            TINFLStatus::Done => return Ok(consumed),
            TINFLStatus::HasMoreOutput => out.resize(out.len().saturating_mul(2), 0),
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err("the file ends inside the compressed data (truncated)".into())
            }
            _ => return Err("the compressed data is corrupt (not valid deflate)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from a hex string (the vectors below are Python's
    /// `gzip.compress(…, mtime=0).hex()` and hand-framed members).
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// `gzip.compress(b"hello, kiln\n", mtime=0)`.
    const HELLO: &str = "1f8b0800000000000203cb48cdc9c9d751c8ceccc9e30200c2f754f10c000000";
    /// A member with FNAME "numbers.txt" holding `b"0123456789" * 3`.
    const NAMED: &str = "1f8b08080000000002ff6e756d626572732e747874003330343236313533b7b034c0c2020094075c2d1e000000";
    /// FEXTRA (4 bytes), FNAME "name", FCOMMENT "a comment" and FHCRC,
    /// holding `b"optional fields\n"`.
    const ALL_FIELDS: &str = "1f8b081e0000000000ff0400616201006e616d65006120636f6d6d656e74001c1acb2f28c9cccf4bcc5148cb4ccd4929e602005f912f4e10000000";
    /// Two members, "first " and "second", then three zero bytes of padding.
    const TWO_MEMBERS: &str = "1f8b08000000000002034bcb2c2a2e510000fc7af11c060000001f8b08000000000002032b4e4dcecf4b010069111fb606000000000000";
    /// `gzip.compress(b"kiln" * 25000, mtime=0)`: 137 bytes that inflate
    /// to 100 000, so the output buffer grows several times.
    const REPETITIVE: &str = "1f8b0800000000000203edc3b10900000803b07ba5d2ff47df704820996d545555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555d5970f90a38786a0860100";

    #[test]
    fn crc_32_is_gzips() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(CRC_32.checksum(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn reads_members_written_by_python() {
        assert_eq!(decompress(&hex(HELLO)).unwrap(), b"hello, kiln\n");
        assert_eq!(decompress(&hex(NAMED)).unwrap(), b"0123456789".repeat(3));
        assert_eq!(decompress(&hex(ALL_FIELDS)).unwrap(), b"optional fields\n");
        assert_eq!(decompress(&hex(TWO_MEMBERS)).unwrap(), b"first second");
        assert_eq!(decompress(&hex(REPETITIVE)).unwrap(), b"kiln".repeat(25_000));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for vector in [HELLO, NAMED, ALL_FIELDS, REPETITIVE] {
            let bytes = hex(vector);
            for end in 0..bytes.len() {
                let err = decompress(&bytes[..end]).unwrap_err();
                assert!(err.contains("truncated"), "{end} of {} bytes: {err}", bytes.len());
            }
        }
    }

    #[test]
    fn corrupt_checksums_lengths_and_headers_are_named() {
        let good = hex(HELLO);
        let n = good.len();
        let with = |at: usize, value: u8| {
            let mut bytes = good.clone();
            bytes[at] = value;
            decompress(&bytes).unwrap_err()
        };
        assert!(with(n - 8, good[n - 8] ^ 1).contains("CRC-32 of the data is 0xf154f7c2, the trailer says 0xf154f7c3"));
        assert!(with(n - 4, 13).contains("12 bytes of data (mod 2^32), the trailer says 13"));
        assert!(with(0, 0x1e).contains("not gzip data: starts with 0x1e 0x8b"));
        assert!(with(2, 7).contains("compression method 7"));
        assert!(with(3, 0x20).contains("reserved header flags set (0x20)"));
        let mut fields = hex(ALL_FIELDS);
        fields[31] ^= 0xff; // the header CRC's low byte (after 31 bytes of header)
        assert!(decompress(&fields).unwrap_err().contains("header CRC"));
        // A block type of 3 is invalid deflate.
        assert!(with(10, 0x07).contains("corrupt (not valid deflate)"));
    }

    #[test]
    fn data_after_a_member_must_be_another_member_or_zeros() {
        let mut bytes = hex(HELLO);
        bytes.extend_from_slice(b"junk");
        assert_eq!(
            decompress(&bytes).unwrap_err(),
            "gzip member 2: not gzip data: starts with 0x6a 0x75, not 0x1f 0x8b"
        );
        bytes.truncate(bytes.len() - 3);
        assert!(decompress(&bytes).unwrap_err().ends_with("starts with 0x6a, not 0x1f 0x8b"));
        let mut two = hex(HELLO);
        two.extend_from_slice(&[0; 5]);
        two.extend_from_slice(&hex(HELLO));
        assert_eq!(decompress(&two).unwrap(), b"hello, kiln\nhello, kiln\n");
    }

    /// Many members, most of them empty, the last one growing the buffer:
    /// each member's data lands after the previous member's.
    #[test]
    fn many_members_concatenate() {
        // `gzip.compress(b"", mtime=0)`.
        let empty = hex("1f8b080000000000020303000000000000000000");
        let mut bytes = Vec::new();
        for _ in 0..1000 {
            bytes.extend_from_slice(&empty);
            bytes.extend_from_slice(&hex(HELLO));
        }
        bytes.extend_from_slice(&hex(REPETITIVE));
        let mut expected = b"hello, kiln\n".repeat(1000);
        expected.extend_from_slice(&b"kiln".repeat(25_000));
        assert_eq!(decompress(&bytes).unwrap(), expected);
    }
}
