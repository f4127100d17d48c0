//! The int8 product `acc = x_u8 · W_i8` (exact, in `i32`) on three paths:
//! AVX-512 VNNI (`vpdpbusd`), AVX2 and portable Rust.
//!
//! Every path computes the same exact integer sums, so results do not
//! depend on the path. Weights are packed once ([`PackedI8`]) in blocks
//! of 16 output columns; inside a block, each group of 4 consecutive
//! inputs ("quad") holds 16 columns × 4 bytes, the operand layout of
//! `vpdpbusd`, which multiplies 4 unsigned activation bytes by 4 signed
//! weight bytes and adds the 4 products to one `i32` lane.
//!
//! # Saturation
//! The AVX2 path does **not** use `vpmaddubsw`: it adds two `u8 × i8`
//! products into a saturating `i16`, and `2 · 255 · 127 = 64 770` does not
//! fit (the usual remedies, 7-bit activations or 7-bit weights, cost a bit
//! of precision on every path or give path-dependent results). Instead it
//! widens both operands to `i16` (`vpmovsxbw`, `vpmovzxbw`) and uses
//! `vpmaddwd`, whose pair sums (`≤ 2 · 255 · 128`) are exact in `i32`. The
//! accumulators then hold two partial sums per column (inputs 0–1 and 2–3
//! of each quad), added once per tile at the end. `vpdpbusd` adds its four
//! products in `i32` without saturation. An `i32` accumulator overflows
//! only beyond `2³¹ / (255 · 128) ≈ 65 800` inputs, which
//! [`PackedI8::new`] rejects.

use crate::simd::{isa, Isa};

/// Output columns per packed block (one 512-bit vector of `i32`).
pub const BLOCK: usize = 16;

/// An int8 kernel path, slowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QPath {
    /// Plain Rust; runs anywhere.
    Portable,
    /// AVX2: operands widened to `i16`, `vpmaddwd`.
    Avx2,
    /// AVX-512 F/BW + VNNI: `vpdpbusd`.
    Avx512Vnni,
}

impl QPath {
    /// Every path, slowest first.
    pub const ALL: [QPath; 3] = [QPath::Portable, QPath::Avx2, QPath::Avx512Vnni];

    /// Whether this CPU runs the path.
    pub fn supported(self) -> bool {
        match self {
            QPath::Portable => true,
            QPath::Avx2 => Isa::Avx2.supported(),
            #[cfg(target_arch = "x86_64")]
            QPath::Avx512Vnni => Isa::Avx512.supported() && std::is_x86_feature_detected!("avx512vnni"),
            #[cfg(not(target_arch = "x86_64"))]
            QPath::Avx512Vnni => false,
        }
    }

    /// The [`Isa`] to force (with `KILN_ISA` or [`crate::simd::with_isa`])
    /// to take this path.
    pub fn isa(self) -> Isa {
        match self {
            QPath::Portable => Isa::Portable,
            QPath::Avx2 => Isa::Avx2,
            QPath::Avx512Vnni => Isa::Avx512,
        }
    }

    /// The path int8 kernels take on this thread: follows [`crate::simd::isa`]
    /// (so `KILN_ISA=portable|avx2|avx512` and `with_isa` force it); the
    /// AVX-512 path needs VNNI as well, else the AVX2 path runs.
    pub fn current() -> QPath {
        match isa() {
            Isa::Avx512 if QPath::Avx512Vnni.supported() => QPath::Avx512Vnni,
            Isa::Avx512 | Isa::Avx2 => QPath::Avx2,
            Isa::Portable => QPath::Portable,
        }
    }
}

impl std::fmt::Display for QPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QPath::Portable => "portable",
            QPath::Avx2 => "avx2",
            QPath::Avx512Vnni => "avx512-vnni",
        })
    }
}

/// A `[k, n]` int8 matrix packed for the kernels, with its column sums
/// (for the activations' zero point).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedI8 {
    k: usize,
    n: usize,
    quads: usize,
    blocks: usize,
    /// `blocks × quads × 16 columns × 4 inputs`, zero-padded.
    data: Vec<i8>,
    col_sums: Vec<i32>,
}

/// Inputs beyond which an `i32` accumulator could overflow.
pub const MAX_INPUTS: usize = (i32::MAX as usize) / (255 * 128);

impl PackedI8 {
    /// Packs the row-major `[k, n]` matrix `w`.
    pub fn new(w: &[i8], k: usize, n: usize) -> crate::Result<Self> {
        if k.checked_mul(n) != Some(w.len()) {
            return Err(crate::Error::InvalidArgument {
                name: "w",
                reason: format!("expected {k} × {n} values, found {}", w.len()),
            });
        }
        if k > MAX_INPUTS {
            return Err(crate::Error::InvalidArgument {
                name: "k",
                reason: format!("at most {MAX_INPUTS} inputs keep the i32 sums exact, found {k}"),
            });
        }
        let (quads, blocks) = (k.div_ceil(4), n.div_ceil(BLOCK));
        let mut data = vec![0i8; blocks * quads * BLOCK * 4];
        let mut col_sums = vec![0i32; n];
        for r in 0..k {
            for c in 0..n {
                let v = w[r * n + c];
                let (b, j, q, i) = (c / BLOCK, c % BLOCK, r / 4, r % 4);
                data[((b * quads + q) * BLOCK + j) * 4 + i] = v;
                col_sums[c] += i32::from(v);
            }
        }
        Ok(PackedI8 { k, n, quads, blocks, data, col_sums })
    }

    /// The row-major `[k, n]` matrix back.
    pub fn unpack(&self) -> Vec<i8> {
        let mut w = vec![0i8; self.k * self.n];
        for r in 0..self.k {
            for c in 0..self.n {
                let (b, j, q, i) = (c / BLOCK, c % BLOCK, r / 4, r % 4);
                w[r * self.n + c] = self.data[((b * self.quads + q) * BLOCK + j) * 4 + i];
            }
        }
        w
    }

    /// Rows (inputs).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns (outputs).
    pub fn n(&self) -> usize {
        self.n
    }

    /// `Σ_r w[r, c]` for every column.
    pub fn col_sums(&self) -> &[i32] {
        &self.col_sums
    }
}

/// `acc = x · w` for the `m × k` row-major `u8` matrix `x`, on the path
/// [`QPath::current`] picks. The sums reach `sink(row, first_column,
/// values)` a tile at a time (at most 64 columns of one row), so the
/// caller converts them where they are hot and nothing is allocated.
///
/// # Panics
/// If `x` holds fewer than `m × k` values (a caller's bug, not data).
pub fn gemm_u8i8(m: usize, x: &[u8], w: &PackedI8, mut sink: impl FnMut(usize, usize, &[i32])) {
    gemm_u8i8_on(QPath::current(), m, x, w, &mut sink);
}

/// [`gemm_u8i8`] on a given path (which the CPU must support: else the
/// best supported one below it runs).
pub fn gemm_u8i8_on(path: QPath, m: usize, x: &[u8], w: &PackedI8, sink: &mut dyn FnMut(usize, usize, &[i32])) {
    run(path, m, x, w, &mut Dest::Sink(sink));
}

fn run(path: QPath, m: usize, x: &[u8], w: &PackedI8, dest: &mut Dest<'_>) {
    assert!(x.len() >= m * w.k, "gemm_u8i8: x holds {} values, {m} × {} needed", x.len(), w.k);
    #[cfg(target_arch = "x86_64")]
    {
        if path == QPath::Avx512Vnni && QPath::Avx512Vnni.supported() {
            // SAFETY: the CPU has the features (checked above); `x` holds `m × k` values.
            return unsafe { vnni::gemm(m, x, w, dest) };
        }
        if path >= QPath::Avx2 && QPath::Avx2.supported() {
            // SAFETY: as above.
            return unsafe { avx2::gemm(m, x, w, dest) };
        }
    }
    let _ = path;
    portable::gemm(m, x, w, dest);
}

/// Quad `q` of row `row` as a little-endian `u32`, zero-padded past `k`.
#[inline(always)]
fn quad(x: &[u8], row: usize, k: usize, q: usize) -> u32 {
    let start = row * k + 4 * q;
    if 4 * q + 4 <= k {
        u32::from_le_bytes([x[start], x[start + 1], x[start + 2], x[start + 3]])
    } else {
        let mut b = [0u8; 4];
        b[..k - 4 * q].copy_from_slice(&x[start..row * k + k]);
        u32::from_le_bytes(b)
    }
}

/// Quad `q` of rows `r..r + MR`, for a quad wholly inside the rows
/// (`4q + 4 ≤ k`): one unaligned read per row, no branch, so the kernels'
/// hot loops hold no call ([`quad`] copies a partial quad).
///
/// # Safety
/// Rows `r..r + MR` of the `k`-wide `x` exist and `4q + 4 ≤ k`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // index loops: see the VNNI tile
unsafe fn whole_quads<const MR: usize>(x: &[u8], r: usize, k: usize, q: usize) -> [u32; MR] {
    let mut xq = [0u32; MR];
    for i in 0..MR {
        // SAFETY: the 4 bytes lie inside row `r + i` of `x` (caller).
        xq[i] = unsafe { x.as_ptr().add((r + i) * k + 4 * q).cast::<u32>().read_unaligned() };
    }
    xq
}

/// [`quad`] of rows `r..r + MR` (the last, partial quad).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // index loops: see the VNNI tile
fn quads<const MR: usize>(x: &[u8], r: usize, k: usize, q: usize) -> [u32; MR] {
    let mut xq = [0u32; MR];
    for i in 0..MR {
        xq[i] = quad(x, r + i, k, q);
    }
    xq
}

/// The f32 epilogue of [`gemm_u8i8_f32`]: per column `c`,
/// `y_c = (acc_c − corr_c) · scale_c + bias_c`, then `max(·, 0)` when
/// `relu`. Built by [`super::QWeights::epilogue`].
#[derive(Clone, Debug, PartialEq)]
pub struct Epilogue {
    pub(crate) corr: Vec<i32>,
    pub(crate) scale: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) relu: bool,
}

/// Where a tile's sums go.
enum Dest<'a> {
    Sink(&'a mut dyn FnMut(usize, usize, &[i32])),
    F32 { ep: &'a Epilogue, y: &'a mut [f32], ldy: usize, accumulate: bool },
}

/// Hands a tile's rows to the destination, trimmed to the matrix's columns.
/// Inlined into each path's driver, so the f32 epilogue is vectorized
/// with that path's instructions.
#[inline(always)]
fn emit<const MR: usize>(out: &[[i32; 64]; MR], r: usize, b: usize, nb: usize, n: usize, dest: &mut Dest<'_>) {
    let c0 = b * BLOCK;
    let cols = (n - c0).min(nb * BLOCK);
    match dest {
        Dest::Sink(sink) => {
            for (i, row) in out.iter().enumerate() {
                sink(r + i, c0, &row[..cols]);
            }
        }
        Dest::F32 { ep, y, ldy, accumulate } => {
            let (corr, scale, bias) = (&ep.corr[c0..c0 + cols], &ep.scale[c0..c0 + cols], &ep.bias[c0..c0 + cols]);
            // An index loop, not a chain of `zip`s (core's `Zip::new` is not
            // `#[inline]`: see the VNNI tile).
            let (relu, accumulate) = (ep.relu, *accumulate);
            for (i, row) in out.iter().enumerate() {
                let yrow = &mut y[(r + i) * *ldy + c0..(r + i) * *ldy + c0 + cols];
                let row = &row[..cols];
                for j in 0..cols {
                    let d = (row[j] - corr[j]) as f32 * scale[j] + bias[j];
                    // As `Activation::Relu`; the sums are never NaN.
                    let d = if relu && d < 0.0 { 0.0 } else { d };
                    yrow[j] = if accumulate { yrow[j] + d } else { d };
                }
            }
        }
    }
}

/// `y (=|+=) epilogue(x · w)` for the `m × k` row-major `u8` matrix `x`
/// into rows of `y` `ldy` apart, on the path [`QPath::current`] picks;
/// allocation-free.
///
/// # Panics
/// If `x` holds fewer than `m × k` values, `y` fewer than `m` rows, or
/// `ep` was built for another width (a caller's bug, not data).
pub fn gemm_u8i8_f32(m: usize, x: &[u8], w: &PackedI8, ep: &Epilogue, y: &mut [f32], ldy: usize, accumulate: bool) {
    assert!(ep.scale.len() == w.n && ep.corr.len() == w.n && ep.bias.len() == w.n, "epilogue of another width");
    assert!(m == 0 || y.len() >= (m - 1) * ldy + w.n, "gemm_u8i8_f32: y too short");
    run(QPath::current(), m, x, w, &mut Dest::F32 { ep, y, ldy, accumulate });
}

mod portable {
    use super::*;

    /// One row times one block of 16 columns.
    pub(super) fn gemm(m: usize, x: &[u8], w: &PackedI8, dest: &mut Dest<'_>) {
        for r in 0..m {
            for b in 0..w.blocks {
                let mut out = [[0i32; 64]; 1];
                let panel = &w.data[b * w.quads * BLOCK * 4..(b + 1) * w.quads * BLOCK * 4];
                for q in 0..w.quads {
                    let xq = quad(x, r, w.k, q).to_le_bytes();
                    let wq = &panel[q * BLOCK * 4..(q + 1) * BLOCK * 4];
                    for (j, acc) in out[0][..BLOCK].iter_mut().enumerate() {
                        for i in 0..4 {
                            *acc += i32::from(xq[i]) * i32::from(wq[j * 4 + i]);
                        }
                    }
                }
                emit(&out, r, b, 1, w.n, dest);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::*;
    use std::arch::x86_64::*;

    /// Tiles of 4 rows × 64 columns (16 accumulators); where fewer than 4
    /// blocks remain, 8 rows × 16 columns (8 independent accumulator chains
    /// hide `vpdpbusd`'s latency); narrower at the edges.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn gemm(m: usize, x: &[u8], w: &PackedI8, dest: &mut Dest<'_>) {
        let mut r = 0;
        while r < m {
            let rows = if m - r >= 8 {
                8
            } else if m - r >= 4 {
                4
            } else {
                1
            };
            let mut b = 0;
            while b < w.blocks {
                let four_blocks = w.blocks - b >= 4;
                // SAFETY: rows `r..r+MR` and blocks `b..b+NB` exist.
                unsafe {
                    match (rows, four_blocks) {
                        (8 | 4, true) => {
                            finish(&tile::<4, 4>(x, r, w, b), r, b, w.n, dest);
                            if rows == 8 {
                                finish(&tile::<4, 4>(x, r + 4, w, b), r + 4, b, w.n, dest);
                            }
                        }
                        (8, false) => finish(&tile::<8, 1>(x, r, w, b), r, b, w.n, dest),
                        (4, false) => finish(&tile::<4, 1>(x, r, w, b), r, b, w.n, dest),
                        (_, true) => finish(&tile::<1, 4>(x, r, w, b), r, b, w.n, dest),
                        (_, false) => finish(&tile::<1, 1>(x, r, w, b), r, b, w.n, dest),
                    }
                }
                b += if four_blocks { 4 } else { 1 };
            }
            r += rows;
        }
    }

    /// The sums of rows `r..r+MR`, blocks `b..b+NB`, in registers.
    /// `inline(always)` (so without a target feature of its own, taking
    /// [`gemm`]'s): a separate function returned its 16 accumulators
    /// through memory in a build without LTO.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // index loops: see the comment inside
    unsafe fn tile<const MR: usize, const NB: usize>(
        x: &[u8],
        r: usize,
        w: &PackedI8,
        b: usize,
    ) -> [[__m512i; NB]; MR] {
        let mut acc = [[_mm512_setzero_si512(); NB]; MR];
        let panel = w.data.as_ptr().wrapping_add(b * w.quads * BLOCK * 4);
        let full = w.k / 4;
        // Index loops over the fixed-size arrays, as in the f32 kernels: a
        // `zip` here stayed a call of core's `Zip::new` per row and quad in
        // a build without LTO (the repository's release profile), and the
        // accumulators went through memory: int8 digits at batch 1024 took
        // 377 µs, 2.3× the f32 model (docs/PERFORMANCE.md, "Without LTO").
        // The whole quads, then (in a loop of its own, so that the hot one
        // holds no branch and no call, and its accumulators stay in
        // registers) a last partial quad.
        // SAFETY (both loops): as the caller's; quads below `full` are whole.
        for q in 0..full {
            unsafe { quad_step(&mut acc, panel, w.quads, q, whole_quads(x, r, w.k, q)) };
        }
        for q in full..w.quads {
            unsafe { quad_step(&mut acc, panel, w.quads, q, quads(x, r, w.k, q)) };
        }
        acc
    }

    /// One quad of depth for every row and block of a tile: `xq[i]` holds
    /// row `i`'s four bytes, the panel's blocks are `quads` quads long.
    ///
    /// # Safety
    /// Blocks `0..NB` of `panel` hold quad `q`; the CPU has AVX-512 VNNI.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // index loops: see `tile`
    unsafe fn quad_step<const MR: usize, const NB: usize>(
        acc: &mut [[__m512i; NB]; MR],
        panel: *const i8,
        quads: usize,
        q: usize,
        xq: [u32; MR],
    ) {
        let mut wv = [_mm512_setzero_si512(); NB];
        for j in 0..NB {
            // SAFETY: block `j`, quad `q` lies inside the panel (caller).
            wv[j] = unsafe { _mm512_loadu_si512(panel.add((j * quads + q) * BLOCK * 4).cast()) };
        }
        for i in 0..MR {
            let xv = _mm512_set1_epi32(xq[i] as i32);
            for j in 0..NB {
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xv, wv[j]);
            }
        }
    }

    /// Hands a tile's sums to the destination. The f32 epilogue works on
    /// the registers (masked at the matrix's last columns) instead of
    /// going through memory and the generic `emit`, whose short column
    /// runs (10 classes) ran partly scalar; it computes the same
    /// operations in the same order (`(a − k) as f32 · s + c`, no fused
    /// multiply–add, then ReLU as `max(0, d)`, which keeps `−0.0` as the
    /// other paths do), so results stay identical across paths. Inlined
    /// into [`gemm`] as [`tile`] is.
    #[inline(always)]
    unsafe fn finish<const MR: usize, const NB: usize>(
        acc: &[[__m512i; NB]; MR],
        r: usize,
        b: usize,
        n: usize,
        dest: &mut Dest<'_>,
    ) {
        let Dest::F32 { ep, y, ldy, accumulate } = dest else {
            let mut out = [[0i32; 64]; MR];
            for (o, row) in out.iter_mut().zip(acc) {
                for (j, a) in row.iter().enumerate() {
                    // SAFETY: `j < NB ≤ 4`, so 16 values fit at `16 j`.
                    unsafe { _mm512_storeu_si512(o.as_mut_ptr().add(j * BLOCK).cast(), *a) };
                }
            }
            return emit(&out, r, b, NB, n, dest);
        };
        let zero = _mm512_setzero_ps();
        for j in 0..NB {
            let c0 = (b + j) * BLOCK;
            if c0 >= n {
                break;
            }
            let cols = (n - c0).min(BLOCK);
            let mask: __mmask16 = if cols == BLOCK { 0xffff } else { (1u16 << cols) - 1 };
            // SAFETY: columns `c0..c0 + cols` exist in the epilogue's vectors
            // (built for `n` columns); masked lanes are not read.
            let (corr, scale, bias) = unsafe {
                (
                    _mm512_maskz_loadu_epi32(mask, ep.corr.as_ptr().add(c0)),
                    _mm512_maskz_loadu_ps(mask, ep.scale.as_ptr().add(c0)),
                    _mm512_maskz_loadu_ps(mask, ep.bias.as_ptr().add(c0)),
                )
            };
            for (i, row) in acc.iter().enumerate() {
                let sums = _mm512_cvtepi32_ps(_mm512_sub_epi32(row[j], corr));
                let mut d = _mm512_add_ps(_mm512_mul_ps(sums, scale), bias);
                if ep.relu {
                    d = _mm512_max_ps(zero, d);
                }
                let at = (r + i) * *ldy + c0;
                assert!(at + cols <= y.len(), "gemm_u8i8_f32: y too short");
                // SAFETY: `y[at..at + cols]` exists (checked above); masked lanes are not touched.
                unsafe {
                    let p = y.as_mut_ptr().add(at);
                    if *accumulate {
                        d = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), d);
                    }
                    _mm512_mask_storeu_ps(p, mask, d);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// Tiles of 2 rows × 16 columns (8 accumulators: 16 registers in all).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gemm(m: usize, x: &[u8], w: &PackedI8, dest: &mut Dest<'_>) {
        let mut r = 0;
        while r < m {
            let two = m - r >= 2;
            for b in 0..w.blocks {
                // SAFETY: rows `r..r+MR` and block `b` exist.
                unsafe {
                    if two {
                        emit(&tile::<2>(x, r, w, b), r, b, 1, w.n, dest);
                    } else {
                        emit(&tile::<1>(x, r, w, b), r, b, 1, w.n, dest);
                    }
                }
            }
            r += if two { 2 } else { 1 };
        }
    }

    /// One quad of depth for the tile's rows (`xq[i]`: row `i`'s four
    /// bytes) and its 16 columns.
    ///
    /// # Safety
    /// The block's `panel` holds quad `q`; the CPU has AVX2.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // index loops: see the VNNI tile
    unsafe fn quad_step<const MR: usize>(acc: &mut [[__m256i; 4]; MR], panel: *const i8, q: usize, xq: [u32; MR]) {
        let mut wv = [_mm256_setzero_si256(); 4];
        for c in 0..4 {
            // SAFETY: 16 bytes of quad `q` lie inside the panel (caller).
            wv[c] = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(panel.add((q * BLOCK + 4 * c) * 4).cast()) });
        }
        for i in 0..MR {
            // x0 x1 x2 x3 as i16, repeated over the register.
            let xv = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(xq[i] as i32)));
            for c in 0..4 {
                acc[i][c] = _mm256_add_epi32(acc[i][c], _mm256_madd_epi16(wv[c], xv));
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::needless_range_loop)] // index loops: see the VNNI tile
    unsafe fn tile<const MR: usize>(x: &[u8], r: usize, w: &PackedI8, b: usize) -> [[i32; 64]; MR] {
        // acc[i][c]: columns 4c..4c+4, two partial sums per column.
        let mut acc = [[_mm256_setzero_si256(); 4]; MR];
        let panel = w.data.as_ptr().wrapping_add(b * w.quads * BLOCK * 4);
        let full = w.k / 4;
        // Index loops, and the whole quads apart from a last partial one
        // (see the VNNI tile).
        // SAFETY (both loops): as the caller's; quads below `full` are whole.
        for q in 0..full {
            unsafe { quad_step(&mut acc, panel, q, whole_quads(x, r, w.k, q)) };
        }
        for q in full..w.quads {
            unsafe { quad_step(&mut acc, panel, q, quads(x, r, w.k, q)) };
        }
        let mut out = [[0i32; 64]; MR];
        for i in 0..MR {
            for h in 0..2 {
                // hadd gives columns [0 1 4 5 2 3 6 7] of the pair; the permute orders them.
                let s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][2 * h], acc[i][2 * h + 1]), 0b11_01_10_00);
                // SAFETY: `8 h + 8 ≤ 16 ≤ 64`.
                unsafe { _mm256_storeu_si256(out[i].as_mut_ptr().add(8 * h).cast(), s) };
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_sums_columns() {
        let w: Vec<i8> = (0..7 * 19).map(|i| ((i * 37) % 255) as i8).collect();
        let p = PackedI8::new(&w, 7, 19).unwrap();
        assert_eq!(p.unpack(), w);
        let sums: Vec<i32> = (0..19).map(|c| (0..7).map(|r| i32::from(w[r * 19 + c])).sum()).collect();
        assert_eq!(p.col_sums(), sums);
        assert!(PackedI8::new(&w, 7, 18).is_err());
    }
}
