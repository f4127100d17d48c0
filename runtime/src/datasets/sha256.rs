//! SHA-256 (FIPS 180-4), the checksum the dataset loaders verify.
//!
//! Written here rather than taken from the `sha2` crate: with its
//! `digest`, `generic-array`, `typenum` and build scripts that crate was
//! ~3.9 s of CPU in every clean build of an example, for hashing four files
//! once per load (docs/DESIGN.md, "Build time"). Two paths: x86's SHA
//! extensions where the CPU has them (as `sha2` uses them), else plain
//! Rust, ~7× slower: 47 MB (MNIST's training images) in ~0.27 s against
//! ~0.036 s (`sha2`: ~0.027 s), which would have doubled the time
//! `mnist::load_data` takes (~0.25 s with the extensions; AMD Zen 4).
//! Checked against the standard's test vectors and each other here, and
//! against `sha2` on random inputs in `dev-tests/tests/format_crosscheck.rs`.

/// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The SHA-256 digest of `data`.
///
/// ```
/// let digest = kiln::datasets::sha256(b"abc");
/// assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
/// ```
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha256_on(data, has_sha_extensions())
}

/// Whether this CPU has the SHA extensions (and the SSE4.1 the x86 path
/// also uses).
fn has_sha_extensions() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("sha") && std::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`sha256`] with the SHA extensions (`sha_ni`, only where the CPU has
/// them) or plain Rust.
fn sha256_on(data: &[u8], sha_ni: bool) -> [u8; 32] {
    let compress = |state: &mut [u32; 8], blocks: &[u8]| {
        #[cfg(target_arch = "x86_64")]
        if sha_ni {
            // SAFETY: only with the features `has_sha_extensions` detected.
            return unsafe { x86::compress(state, blocks) };
        }
        let _ = sha_ni;
        for block in blocks.chunks_exact(64) {
            compress(state, block.try_into().expect("64-byte chunk"));
        }
    };
    let mut state = H0;
    let whole = data.len() / 64 * 64;
    compress(&mut state, &data[..whole]);
    // Padding: a one bit, zeros, and the message length in bits (big-endian)
    // in the last 8 bytes of the last block: one block, or two when fewer
    // than 9 bytes are left after the message's tail.
    let tail = &data[whole..];
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let padded = if tail.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    last[padded - 8..padded].copy_from_slice(&bits.to_be_bytes());
    compress(&mut state, &last[..padded]);
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// The digest as 64 lowercase hexadecimal digits.
pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// One round of the compression function over a 64-byte block.
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (t, word) in block.chunks_exact(4).enumerate() {
        w[t] = u32::from_be_bytes(word.try_into().expect("4 bytes"));
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16].wrapping_add(s0).wrapping_add(w[t - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let choose = (e & f) ^ (!e & g);
        let t1 = h.wrapping_add(s1).wrapping_add(choose).wrapping_add(K[t]).wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let majority = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(majority);
        (h, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

/// The compression function on x86's SHA extensions (Intel's
/// "New Instructions Supporting the Secure Hash Algorithm on Intel
/// Architecture Processors", 2013): the state as two vectors `ABEF` and
/// `CDGH`, two rounds per `sha256rnds2`, the message schedule four words at
/// a time by `sha256msg1` / `sha256msg2`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Runs [`super::compress`] over every 64-byte block of `blocks`.
    ///
    /// # Safety
    /// The CPU must have the SHA extensions and SSE4.1.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress(state: &mut [u32; 8], blocks: &[u8]) {
        // Big-endian words: reverse the bytes of each 32-bit lane.
        let byte_swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        // SAFETY (all loads and stores): `state` holds 8 words, each block
        // 64 bytes, `K` 64 words; unaligned loads and stores throughout.
        unsafe {
            let dcba = _mm_loadu_si128(state.as_ptr().cast());
            let hgfe = _mm_loadu_si128(state.as_ptr().add(4).cast());
            let cdab = _mm_shuffle_epi32(dcba, 0xB1);
            let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
            let mut abef = _mm_alignr_epi8(cdab, efgh, 8);
            let mut cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
            for block in blocks.chunks_exact(64) {
                let (abef_before, cdgh_before) = (abef, cdgh);
                let load = |i: usize| _mm_shuffle_epi8(_mm_loadu_si128(block.as_ptr().add(16 * i).cast()), byte_swap);
                // w[j] holds message words 4j..4j+4 of the last four groups.
                let mut w = [load(0), load(1), load(2), load(3)];
                for group in 0..16 {
                    if group >= 4 {
                        // Words 4g..4g+4 from the four groups before (kept in `w` by g mod 4).
                        let [w0, w1, w2, w3] =
                            [w[group % 4], w[(group + 1) % 4], w[(group + 2) % 4], w[(group + 3) % 4]];
                        let sum = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
                        w[group % 4] = _mm_sha256msg2_epu32(sum, w3);
                    }
                    let words = _mm_add_epi32(w[group % 4], _mm_loadu_si128(super::K.as_ptr().add(4 * group).cast()));
                    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, words);
                    abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(words, 0x0E));
                }
                abef = _mm_add_epi32(abef, abef_before);
                cdgh = _mm_add_epi32(cdgh, cdgh_before);
            }
            let feba = _mm_shuffle_epi32(abef, 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
            _mm_storeu_si128(state.as_mut_ptr().cast(), _mm_blend_epi16(feba, dchg, 0xF0));
            _mm_storeu_si128(state.as_mut_ptr().add(4).cast(), _mm_alignr_epi8(dchg, feba, 8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-4's examples (NIST's "SHA256.pdf") and the empty message,
    /// plus lengths around the padding's one- and two-block boundary.
    #[test]
    fn digests_match_the_standards_test_vectors() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            sha256_hex(
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            ),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        );
        assert_eq!(
            sha256_hex(&vec![b'a'; 1_000_000]),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    /// Messages of 55, 56, 63, 64 and 65 bytes straddle the padding's
    /// boundaries; their digests (from Python's `hashlib.sha256`) fix
    /// every branch of the padding.
    #[test]
    fn padding_boundaries_give_the_reference_digests() {
        let cases = [
            (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
            (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
            (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
            (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
            (65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"),
        ];
        for (len, expected) in cases {
            assert_eq!(sha256_hex(&vec![b'a'; len]), expected, "{len} bytes of 'a'");
        }
    }

    /// Both paths give the standard's digests and agree on every length up
    /// to 600 bytes (one to ten blocks) of varied bytes; reports when the
    /// CPU has no SHA extensions (then only plain Rust runs).
    #[test]
    fn the_sha_extensions_and_plain_rust_agree() {
        if !has_sha_extensions() {
            eprintln!("SKIPPED: this CPU has no SHA extensions; only the plain-Rust path was tested");
            return;
        }
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        for sha_ni in [false, true] {
            let hex: String = sha256_on(b"abc", sha_ni).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, abc, "sha_ni = {sha_ni}");
        }
        let data: Vec<u8> = (0..600u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        for len in 0..=data.len() {
            assert_eq!(sha256_on(&data[..len], true), sha256_on(&data[..len], false), "{len} bytes");
        }
    }
}
