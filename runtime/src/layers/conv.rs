//! `Conv1D` and `Conv2D` (channels last): `y = activation(conv(x, K) + b)`,
//! with the kernel in Keras's layout `[kh, kw, in, filters]` (`Conv1D`:
//! `[k, in, filters]`), so weight files and Keras imports match Keras 3.
//!
//! One generic type, [`Conv`], holds both: a `Conv1D` over `[steps,
//! channels]` is a `Conv2D` over `[1, steps, channels]` with a kernel of
//! height 1, and `[k, in, filters]` is `[1, k, in, filters]` in memory.
//!
//! Batches are computed as one matrix product per block of samples
//! (im2col): each output position's receptive field is copied into a row
//! of a `[positions, kh·kw·in]` matrix (zeros where it overlaps the
//! padding), which the shared SGEMM multiplies by the kernel seen as a
//! `[kh·kw·in, filters]` matrix. The backward pass rebuilds the same rows
//! (a copy, cheap next to the product) rather than keeping them, so the
//! cache stays bounded by one block whatever the batch.

use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::activations::Activation;
use crate::gemm::{add_row_vector, axpy, column_sums_into, sgemm, small_gemm, Mat};
use crate::initializers::Initializer;
use crate::param::Param;
use rand::Rng;

/// Keras's convolution arguments that are not sizes (the sizes are the
/// type's const generics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvConfig {
    /// Applied to `conv(x, K) + b`; default `linear`.
    pub activation: Activation,
    /// Whether the layer has a bias; default `true`.
    pub use_bias: bool,
    /// Default `glorot_uniform` (fans of a conv kernel: `kh·kw·in` and `kh·kw·filters`).
    pub kernel_initializer: Initializer,
    /// Default `zeros`.
    pub bias_initializer: Initializer,
}

impl Default for ConvConfig {
    fn default() -> Self {
        ConvConfig {
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
        }
    }
}

/// Keras's `Conv2D` with `data_format = "channels_last"`: input
/// `[H, W, C]`, `F` filters of `KH × KW`, strides `SH × SW`, dilation
/// `DH × DW`, `padding = "same"` when `SAME` (else `"valid"`).
pub type Conv2d<
    const H: usize,
    const W: usize,
    const C: usize,
    const F: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
> = Conv<2, H, W, C, F, KH, KW, SH, SW, DH, DW, SAME>;

/// Keras's `Conv1D` (channels last): input `[L, C]`, `F` filters of
/// length `K`, stride `S`, dilation `D`, `padding = "same"` when `SAME`.
pub type Conv1d<
    const L: usize,
    const C: usize,
    const F: usize,
    const K: usize,
    const S: usize,
    const D: usize,
    const SAME: bool,
> = Conv<1, 1, L, C, F, 1, K, 1, S, 1, D, SAME>;

/// A convolution over `[H, W, C]` samples (see [`Conv2d`], [`Conv1d`];
/// `RANK` is 1 or 2 and decides only Keras's name and kernel shape).
///
/// ```
/// use kiln::layers::{Conv2d, ConvConfig, Layer};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// // 3×3 input, one channel, one 2×2 filter, valid padding → 2×2 output.
/// let mut conv = Conv2d::<3, 3, 1, 1, 2, 2, 1, 1, 1, 1, false>::new(ConvConfig::default(), &mut rng);
/// conv.kernel.value.copy_from_slice(&[1.0, 0.0, 0.0, -1.0]); // x[i][j] − x[i+1][j+1]
/// let mut y = [0.0; 4];
/// conv.forward_one(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &mut y);
/// assert_eq!(y, [-4.0; 4]);
/// ```
#[derive(Clone, Debug)]
pub struct Conv<
    const RANK: usize,
    const H: usize,
    const W: usize,
    const C: usize,
    const F: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
> {
    /// `[KH, KW, C, F]` (`Conv1D`: `[KW, C, F]`), row-major.
    pub kernel: Param,
    /// `[F]`, absent when `use_bias = false`.
    pub bias: Option<Param>,
    /// The fused activation, over each position's `F` channels.
    pub activation: Activation,
}

/// Output length of one axis: Keras's `compute_conv_output_shape`
/// (`valid`: `⌊(n − d·(k−1) − 1)/s⌋ + 1`; `same`: `⌈n/s⌉`). 0 when a valid
/// kernel does not fit (the macro reports that before any type is built).
pub const fn conv_output_len(n: usize, k: usize, s: usize, d: usize, same: bool) -> usize {
    if s == 0 || k == 0 {
        return 0;
    }
    let span = d * (k - 1) + 1;
    if same {
        n.div_ceil(s)
    } else if n >= span {
        (n - span) / s + 1
    } else {
        0
    }
}

/// Padding before the first element of one axis: TensorFlow's `SAME`
/// split, `⌊total/2⌋` before and the odd one after (bottom / right).
const fn pad_before(n: usize, k: usize, s: usize, d: usize, same: bool) -> usize {
    let out = conv_output_len(n, k, s, d, same);
    if !same || out == 0 {
        return 0;
    }
    let needed = (out - 1) * s + d * (k - 1) + 1;
    needed.saturating_sub(n) / 2
}

/// Floats of im2col rows built at once: a block of samples whose rows fill
/// about 1 MB (stays in L2 between the copy and the product), at least one
/// sample.
const COLS_BLOCK: usize = 1 << 18;

/// Largest receptive field (`KH·KW·C` floats, 16 KB) `forward_one` copies
/// to the stack; larger ones are computed without the copy.
const PATCH_STACK: usize = 4096;

/// Largest zero-padded input (floats, 64 KB) the direct one-sample kernel
/// builds on the stack for `padding = "same"`; larger `same` inputs take
/// the im2col path.
const PADDED_STACK: usize = 16384;

/// Cache of a convolution: im2col rows and their gradient, reused by every
/// step (a step allocates only when the batch grows).
#[derive(Debug, Default)]
pub struct ConvCache {
    cols: Vec<f32>,
    dcols: Vec<f32>,
}

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Conv<RANK, H, W, C, F, KH, KW, SH, SW, DH, DW, SAME>
{
    /// Output height.
    pub const OUT_H: usize = conv_output_len(H, KH, SH, DH, SAME);
    /// Output width.
    pub const OUT_W: usize = conv_output_len(W, KW, SW, DW, SAME);
    const PAD_TOP: usize = pad_before(H, KH, SH, DH, SAME);
    const PAD_LEFT: usize = pad_before(W, KW, SW, DW, SAME);
    /// Values of one receptive field (one im2col row).
    const PATCH: usize = KH * KW * C;
    /// A 1×1 kernel with stride 1 reads each input position as it is:
    /// the input already is the im2col matrix.
    const POINTWISE: bool = KH == 1 && KW == 1 && SH == 1 && SW == 1;
    /// Rows and columns of input every window covers, padding included
    /// (`same`: the input plus its zero border; `valid`: at most the input).
    const SPAN_H: usize = (Self::OUT_H.saturating_sub(1)) * SH + DH * (KH - 1) + 1;
    const SPAN_W: usize = (Self::OUT_W.saturating_sub(1)) * SW + DW * (KW - 1) + 1;
    /// Whether `forward_one` builds a zero-padded copy of the input for the
    /// direct kernel (`same` padding), and whether that copy fits the stack.
    const NEEDS_PADDING: bool =
        SAME && (Self::PAD_TOP > 0 || Self::PAD_LEFT > 0 || Self::SPAN_H > H || Self::SPAN_W > W);
    const DIRECT: bool =
        Self::OUTPUT_LEN_CONST > 0 && (!Self::NEEDS_PADDING || Self::SPAN_H * Self::SPAN_W * C <= PADDED_STACK);
    const OUTPUT_LEN_CONST: usize = Self::OUT_H * Self::OUT_W * F;
    const VALID: () = {
        assert!(RANK == 1 || RANK == 2, "Conv: RANK must be 1 or 2");
        assert!(RANK == 2 || (H == 1 && KH == 1 && SH == 1 && DH == 1), "Conv1d: the height axis must be 1");
        assert!(KH >= 1 && KW >= 1 && SH >= 1 && SW >= 1 && DH >= 1 && DW >= 1, "Conv: sizes must be at least 1");
    };

    /// Keras's kernel shape: `[KH, KW, C, F]`, or `[KW, C, F]` for `Conv1D`.
    pub fn kernel_shape() -> Vec<usize> {
        if RANK == 1 {
            vec![KW, C, F]
        } else {
            vec![KH, KW, C, F]
        }
    }

    /// A layer initialized as `config` says, drawing from `rng` (kernel,
    /// then bias, as Keras builds them).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `kernel_initializer` or
    /// (with `use_bias`) `bias_initializer` when that initializer's
    /// arguments are invalid ([`Initializer::check`]: an empty uniform
    /// range, a non-finite constant, …) or cannot fill the weight's dimensions
    /// (orthogonal needs 2 or more, identity exactly 2); nothing is drawn then.
    pub fn try_new(config: ConvConfig, rng: &mut impl Rng) -> crate::Result<Self> {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID;
        let shape = Self::kernel_shape();
        config.kernel_initializer.check_as("kernel_initializer", &shape)?;
        if config.use_bias {
            config.bias_initializer.check_as("bias_initializer", &[F])?;
        }
        let mut kernel = Param::zeros("kernel", &shape);
        config.kernel_initializer.fill(&mut kernel.value, &shape, rng);
        let bias = config.use_bias.then(|| {
            let mut b = Param::zeros("bias", &[F]);
            config.bias_initializer.fill(&mut b.value, &[F], rng);
            b
        });
        Ok(Conv { kernel, bias, activation: config.activation })
    }

    /// [`Conv::try_new`] for a `config` known to be valid.
    ///
    /// # Panics
    /// When [`Conv::try_new`] returns an error, with its message.
    pub fn new(config: ConvConfig, rng: &mut impl Rng) -> Self {
        Self::try_new(config, rng).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Input row of output row `o` and kernel row `k`, `None` in the padding.
    #[inline(always)]
    pub(super) fn in_row(o: usize, k: usize) -> Option<usize> {
        (o * SH + k * DH).checked_sub(Self::PAD_TOP).filter(|&i| i < H)
    }

    /// Input column of output column `o` and kernel column `k`, `None` in the padding.
    #[inline(always)]
    pub(super) fn in_col(o: usize, k: usize) -> Option<usize> {
        (o * SW + k * DW).checked_sub(Self::PAD_LEFT).filter(|&i| i < W)
    }

    /// Samples per im2col block.
    fn block() -> usize {
        (COLS_BLOCK / (Self::OUT_H * Self::OUT_W * Self::PATCH).max(1)).max(1)
    }

    /// Writes the im2col rows of `samples` samples of `x` into `cols`.
    fn im2col(x: &[f32], samples: usize, cols: &mut [f32]) {
        let mut rows = cols.chunks_exact_mut(Self::PATCH);
        for xs in x.chunks_exact(H * W * C).take(samples) {
            for oh in 0..Self::OUT_H {
                for ow in 0..Self::OUT_W {
                    Self::im2col_row(xs, oh, ow, rows.next().expect("cols holds every row"));
                }
            }
        }
    }

    /// Copies the receptive field of output position `(oh, ow)` of one
    /// sample `xs` into `row` (`[KH, KW, C]`, zeros in the padding).
    #[inline(always)]
    fn im2col_row(xs: &[f32], oh: usize, ow: usize, row: &mut [f32]) {
        for kh in 0..KH {
            let ih = Self::in_row(oh, kh);
            for kw in 0..KW {
                let dst = &mut row[(kh * KW + kw) * C..][..C];
                // Not `copy_from_slice` / `fill`: without LTO those are a
                // `memmove` / `memset` call per `C` values (docs/PERFORMANCE.md,
                // "Without LTO"); `copy_values` says why not a plain loop.
                match (ih, Self::in_col(ow, kw)) {
                    (Some(ih), Some(iw)) => copy_values(&xs[(ih * W + iw) * C..][..C], dst),
                    _ => {
                        for d in dst.iter_mut() {
                            *d = 0.0;
                        }
                    }
                }
            }
        }
    }

    /// Adds the im2col-row gradients `dcols` back onto the input positions
    /// they were copied from (the transpose of [`Self::im2col`]).
    fn col2im_add(dcols: &[f32], samples: usize, dx: &mut [f32]) {
        let mut rows = dcols.chunks_exact(Self::PATCH);
        for dxs in dx.chunks_exact_mut(H * W * C).take(samples) {
            for oh in 0..Self::OUT_H {
                for ow in 0..Self::OUT_W {
                    let row = rows.next().expect("dcols holds every row");
                    for kh in 0..KH {
                        let Some(ih) = Self::in_row(oh, kh) else { continue };
                        for kw in 0..KW {
                            let Some(iw) = Self::in_col(ow, kw) else { continue };
                            let src = &row[(kh * KW + kw) * C..][..C];
                            let dst = &mut dxs[(ih * W + iw) * C..][..C];
                            // An index loop, as in `im2col_row` (a `zip` is a
                            // call of core's `Zip::new` per `C` values without LTO).
                            for c in 0..C {
                                dst[c] += src[c];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Copies `src` into `dst` (equal lengths) in blocks of 16 values. LLVM
/// left the value-by-value loop of `im2col_row` as one scalar load and
/// store per value (32 pairs for each kernel position of a 32-channel
/// input); a block is an array, whose copy is a few vector moves on any
/// instruction set. Neither `copy_from_slice` (a `memcpy` call per copy
/// once the length outgrows what is inlined) nor a `zip` (a call per copy
/// without LTO: docs/PERFORMANCE.md, "Without LTO").
#[inline(always)]
#[allow(clippy::manual_memcpy)] // see above
fn copy_values(src: &[f32], dst: &mut [f32]) {
    let (src_blocks, src_rest) = src.as_chunks::<16>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<16>();
    for i in 0..dst_blocks.len() {
        dst_blocks[i] = src_blocks[i];
    }
    for i in 0..dst_rest.len() {
        dst_rest[i] = src_rest[i];
    }
}

/// Matches a tile's width `$r` to a `$tile::<R, V>` instance.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_of_width {
    ($tile:ident, $r:expr, $v:literal, [$($n:literal),*], $args:expr) => {
        match $r {
            $($n => Self::$tile::<$n, $v>($args),)*
            _ => unreachable!("tile widths never exceed the register budget"),
        }
    };
}

// After the macro, which it uses.
#[cfg(target_arch = "x86_64")]
mod avx2;

/// The direct one-sample convolution of the AVX-512 path: no im2col copy;
/// a tile of up to `R` consecutive output positions of one row by up to
/// 64 filters (`V` 16-lane vectors) is held in `R·V ≤ 24` registers while
/// the kernel's rows stream past, each input value broadcast once per
/// tile row. Each output is one chain of fused multiply–adds over
/// `(kh, kw, c)` in the im2col order, then `+ b`, so the values equal the
/// blocked `small_gemm` path's bit for bit.
#[cfg(target_arch = "x86_64")]
impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Conv<RANK, H, W, C, F, KH, KW, SH, SW, DH, DW, SAME>
{
    /// Output positions per tile for `v` vectors of filters: 24
    /// accumulators (two FMA pipes × 4 cycles of latency need at least 8
    /// in flight; 24 leaves registers for the kernel row and a broadcast).
    const fn tile_width(v: usize) -> usize {
        match v {
            4 => 6,
            3 => 8,
            _ => 12,
        }
    }

    /// The direct kernel of `isa` (AVX-512 or AVX2).
    ///
    /// # Safety
    /// The CPU runs `isa`, which is AVX2 or above; `x` and `y` as
    /// [`Self::forward_one_direct`] requires.
    unsafe fn forward_one_direct_on(&self, isa: crate::simd::Isa, x: &[f32], row: usize, y: &mut [f32]) {
        // SAFETY: the caller's contract.
        unsafe {
            if isa == crate::simd::Isa::Avx512 {
                self.forward_one_direct(x, row, y)
            } else {
                self.forward_one_direct_avx2(x, row, y)
            }
        }
    }

    /// `y = activation(conv(x, K) + b)` for one sample. `x` is the input
    /// (`valid`) or its zero-padded copy (`same`), `SPAN_H × SPAN_W`
    /// positions whose rows are `row` floats apart.
    ///
    /// # Safety
    /// AVX-512F and FMA must be present; `x` must hold
    /// `(SPAN_H − 1)·row + SPAN_W·C` floats and `y` `OUTPUT_LEN`.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn forward_one_direct(&self, x: &[f32], row: usize, y: &mut [f32]) {
        use std::arch::x86_64::__mmask16;
        let relu = self.activation == Activation::Relu;
        let bias = self.bias.as_ref().map_or(std::ptr::null(), |b| b.value.as_ptr());
        let (xp, kp, yp) = (x.as_ptr(), self.kernel.value.as_ptr(), y.as_mut_ptr());
        let mut j = 0;
        while j < F {
            let v = (F - j).div_ceil(16).min(4);
            let lanes = (F - j).min(64) - 16 * (v - 1);
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            let tiles = Self::OUT_W.div_ceil(Self::tile_width(v));
            for oh in 0..Self::OUT_H {
                let mut ow = 0;
                for t in 1..=tiles {
                    // Balanced widths: 26 positions as 9 + 9 + 8, not 12 + 12 + 2
                    // (a narrow tile is bound by latency, not throughput).
                    let end = (t * Self::OUT_W).div_ceil(tiles);
                    // SAFETY: the tile's windows lie in `x` and its outputs
                    // in `y` (the caller's contract); `j + 16·v` covers at
                    // most `F` filters through `mask`.
                    unsafe {
                        let x0 = xp.add(oh * SH * row + ow * SW * C);
                        let b0 = if bias.is_null() { bias } else { bias.add(j) };
                        let y0 = yp.add((oh * Self::OUT_W + ow) * F + j);
                        let args = (x0, row, kp.add(j), b0, y0, mask, relu);
                        match v {
                            4 => tile_of_width!(tile, end - ow, 4, [1, 2, 3, 4, 5, 6], args),
                            3 => tile_of_width!(tile, end - ow, 3, [1, 2, 3, 4, 5, 6, 7, 8], args),
                            2 => tile_of_width!(tile, end - ow, 2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], args),
                            _ => tile_of_width!(tile, end - ow, 1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], args),
                        }
                    }
                    ow = end;
                }
            }
            j += 16 * v;
        }
    }

    /// One tile: `R` positions (the first one's window at `x`, the next
    /// ones `SW·C` floats on) by `V` vectors of filters starting at `k`
    /// (the last vector's lanes limited by `mask`), written to `y` with the
    /// bias at `b` (null: none) and a fused relu when `relu`.
    ///
    /// # Safety
    /// As [`Self::forward_one_direct`], for the tile's windows and outputs.
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    unsafe fn tile<const R: usize, const V: usize>(
        (x, row, k, b, y, mask, relu): (
            *const f32,
            usize,
            *const f32,
            *const f32,
            *mut f32,
            std::arch::x86_64::__mmask16,
            bool,
        ),
    ) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        // SAFETY: every read is inside a window of the tile or a kernel row
        // (masked past the last filter); the caller bounds both.
        unsafe {
            for kh in 0..KH {
                for kw in 0..KW {
                    let xs = x.add(kh * DH * row + kw * DW * C);
                    let ks = k.add((kh * KW + kw) * C * F);
                    for c in 0..C {
                        let kc = ks.add(c * F);
                        // Index loops, not `array::from_fn` or `zip`: see
                        // `gemm::kernel::avx512::tile_kernel_on`.
                        let mut kv = [_mm512_setzero_ps(); V];
                        for v in 0..V {
                            kv[v] = if v + 1 < V {
                                _mm512_loadu_ps(kc.add(16 * v))
                            } else {
                                _mm512_maskz_loadu_ps(mask, kc.add(16 * v))
                            };
                        }
                        for r in 0..R {
                            let xb = _mm512_set1_ps(*xs.add(r * SW * C + c));
                            for v in 0..V {
                                acc[r][v] = _mm512_fmadd_ps(xb, kv[v], acc[r][v]);
                            }
                        }
                    }
                }
            }
            let zero = _mm512_setzero_ps();
            for r in 0..R {
                for v in 0..V {
                    let m = if v + 1 < V { 0xffff } else { mask };
                    let mut out = acc[r][v];
                    if !b.is_null() {
                        out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, b.add(16 * v)));
                    }
                    if relu {
                        // Activation::Relu's `if v < 0 { 0 } else { v }`: NaN and −0 pass.
                        out = _mm512_mask_mov_ps(out, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(out, zero), zero);
                    }
                    _mm512_mask_storeu_ps(y.add(r * F + 16 * v), m, out);
                }
            }
        }
    }
}

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Layer for Conv<RANK, H, W, C, F, KH, KW, SH, SW, DH, DW, SAME>
{
    type In = f32;
    type Cache = ConvCache;
    const INPUT_LEN: usize = H * W * C;
    const OUTPUT_LEN: usize = Self::OUT_H * Self::OUT_W * F;

    fn keras_type(&self) -> &'static str {
        if RANK == 1 {
            "Conv1D"
        } else {
            "Conv2D"
        }
    }

    /// # Shapes
    /// `x`: `[batch, H, W, C]`, `y`: `[batch, OUT_H, OUT_W, F]`.
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut ConvCache, ctx: &mut Ctx) {
        self.forward_logits(x, y, batch, cache, ctx);
        self.activation.forward_in_place(y, F);
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut ConvCache,
        ctx: &mut Ctx,
    ) {
        self.activation.backward_in_place(y, dy, F);
        self.backward_logits(x, y, dy, dx, batch, cache, ctx);
    }

    /// The activation is applied over each position's `F` channels (a
    /// softmax normalizes over the filters, as Keras's last-axis softmax).
    fn output_activation(&self) -> Activation {
        self.activation
    }

    /// `z = im2col(x) · K + b`, block of samples by block.
    fn forward_logits(&self, x: &[f32], z: &mut [f32], batch: usize, cache: &mut ConvCache, ctx: &mut Ctx) {
        let (input_len, output_len) = (Self::INPUT_LEN, Self::OUTPUT_LEN);
        let positions = Self::OUT_H * Self::OUT_W;
        let block = Self::block();
        let mut start = 0;
        while start < batch {
            let n = block.min(batch - start);
            let xs = &x[start * input_len..(start + n) * input_len];
            let zs = &mut z[start * output_len..(start + n) * output_len];
            let a: &[f32] = if Self::POINTWISE {
                xs
            } else {
                let cols = ensure_len(&mut cache.cols, n * positions * Self::PATCH);
                Self::im2col(xs, n, cols);
                cols
            };
            let (am, km) = (Mat::row_major(a, Self::PATCH), Mat::row_major(&self.kernel.value, F));
            sgemm(n * positions, F, Self::PATCH, am, km, zs, F, false, &mut ctx.scratch);
            start += n;
        }
        if let Some(b) = &self.bias {
            add_row_vector(&mut z[..batch * output_len], &b.value);
        }
    }

    /// `∂K += im2col(x)ᵀ · dz`, `∂b += Σ dz` over samples and positions,
    /// `dx (+)= col2im(dz · Kᵀ)`.
    fn backward_logits(
        &mut self,
        x: &[f32],
        _: &[f32],
        dz: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut ConvCache,
        ctx: &mut Ctx,
    ) {
        let (input_len, output_len) = (Self::INPUT_LEN, Self::OUTPUT_LEN);
        let positions = Self::OUT_H * Self::OUT_W;
        let dz = &dz[..batch * output_len];
        let mut dx = dx;
        if let Some(g) = &mut dx {
            if !g.accumulate && !Self::POINTWISE {
                // col2im adds; the gradient of padding-skipped and
                // stride-skipped positions stays zero.
                g.grad[..batch * input_len].fill(0.0);
            }
        }
        let block = Self::block();
        let mut start = 0;
        while start < batch {
            let n = block.min(batch - start);
            let rows = n * positions;
            let xs = &x[start * input_len..(start + n) * input_len];
            let dzs = &dz[start * output_len..(start + n) * output_len];
            let a: &[f32] = if Self::POINTWISE {
                xs
            } else {
                let cols = ensure_len(&mut cache.cols, rows * Self::PATCH);
                Self::im2col(xs, n, cols);
                cols
            };
            let dzm = Mat::row_major(dzs, F);
            sgemm(
                Self::PATCH,
                F,
                rows,
                Mat::transposed(a, Self::PATCH),
                dzm,
                &mut self.kernel.grad,
                F,
                true,
                &mut ctx.scratch,
            );
            if let Some(g) = &mut dx {
                let kt = Mat::transposed(&self.kernel.value, F);
                let dxs = &mut g.grad[start * input_len..(start + n) * input_len];
                if Self::POINTWISE {
                    sgemm(rows, Self::PATCH, F, dzm, kt, dxs, Self::PATCH, g.accumulate, &mut ctx.scratch);
                } else {
                    let dcols = ensure_len(&mut cache.dcols, rows * Self::PATCH);
                    sgemm(rows, Self::PATCH, F, dzm, kt, dcols, Self::PATCH, false, &mut ctx.scratch);
                    Self::col2im_add(dcols, n, dxs);
                }
            }
            start += n;
        }
        if let Some(b) = &mut self.bias {
            column_sums_into(dz, &mut b.grad);
        }
    }

    /// On the AVX-512 and AVX2 paths, the direct kernel
    /// (`forward_one_direct`: W4's one-sample latency 59 → 30 µs on AVX-512
    /// with the pooling change; `avx2::forward_one_direct_avx2`: 138–225 →
    /// 94–96 µs on an AVX2-only Zen 3; same runs, docs/PERFORMANCE.md),
    /// for `valid` padding and for `same` inputs whose padded copy fits
    /// `PADDED_STACK`. Otherwise blocks of
    /// positions' receptive fields are copied into a stack buffer and
    /// multiplied by the kernel with [`small_gemm`]; receptive fields of
    /// more than `PATCH_STACK` values add each input channel's kernel row
    /// into `y` instead, so the stack use stays bounded.
    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        let kernel = &self.kernel.value;
        let y = &mut y[..Self::OUTPUT_LEN];
        #[cfg(target_arch = "x86_64")]
        let isa = crate::simd::isa();
        if Self::DIRECT && isa >= crate::simd::Isa::Avx2 {
            let x = &x[..Self::INPUT_LEN];
            if Self::NEEDS_PADDING {
                // `same`: the windows read a zero border; a padded copy
                // makes every window a plain rectangle of the copy.
                let row = Self::SPAN_W * C;
                let mut padded = [0.0f32; PADDED_STACK];
                let rows = H.min(Self::SPAN_H - Self::PAD_TOP);
                let cols = W.min(Self::SPAN_W - Self::PAD_LEFT);
                for ih in 0..rows {
                    let dst = &mut padded[(ih + Self::PAD_TOP) * row + Self::PAD_LEFT * C..][..cols * C];
                    dst.copy_from_slice(&x[ih * W * C..][..cols * C]);
                }
                // SAFETY: the path is `isa`'s; the copy holds SPAN_H rows of `row` floats.
                unsafe { self.forward_one_direct_on(isa, &padded[..Self::SPAN_H * row], row, y) };
            } else {
                // SAFETY: the path is `isa`'s; `valid` windows lie inside the input.
                unsafe { self.forward_one_direct_on(isa, x, W * C, y) };
            }
            if !matches!(self.activation, Activation::Linear | Activation::Relu) {
                self.activation.forward_in_place(y, F);
            }
            return;
        }
        if Self::PATCH <= PATCH_STACK {
            // A block of positions' receptive fields at once, multiplied by
            // the kernel in one register-blocked product: the kernel is read
            // once per block rather than once per position.
            let mut patches = [0.0f32; PATCH_STACK];
            let per_block = PATCH_STACK / Self::PATCH;
            let positions = Self::OUT_H * Self::OUT_W;
            let mut first = 0;
            while first < positions {
                let rows = per_block.min(positions - first);
                for (r, patch) in patches.chunks_exact_mut(Self::PATCH).take(rows).enumerate() {
                    let position = first + r;
                    Self::im2col_row(x, position / Self::OUT_W, position % Self::OUT_W, patch);
                }
                let block = &mut y[first * F..(first + rows) * F];
                small_gemm(rows, Self::PATCH, F, &patches[..rows * Self::PATCH], kernel, block);
                first += rows;
            }
        } else {
            crate::simd::dispatch(|| {
                for (position, out) in y.chunks_exact_mut(F).enumerate() {
                    let (oh, ow) = (position / Self::OUT_W, position % Self::OUT_W);
                    out.fill(0.0);
                    for kh in 0..KH {
                        let Some(ih) = Self::in_row(oh, kh) else { continue };
                        for kw in 0..KW {
                            let Some(iw) = Self::in_col(ow, kw) else { continue };
                            let xp = &x[(ih * W + iw) * C..][..C];
                            let kp = &kernel[(kh * KW + kw) * C * F..][..C * F];
                            for (&xv, krow) in xp.iter().zip(kp.chunks_exact(F)) {
                                axpy(xv, krow, out);
                            }
                        }
                    }
                }
            });
        }
        if let Some(b) = &self.bias {
            add_row_vector(y, &b.value);
        }
        self.activation.forward_in_place(y, F);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.kernel);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.kernel);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_one_sample_matches_batch, check_layer_gradients};
    use rand::SeedableRng;

    fn config(activation: Activation) -> ConvConfig {
        ConvConfig {
            activation,
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..ConvConfig::default()
        }
    }

    fn layer<L>(make: impl FnOnce(ConvConfig, &mut rand_chacha::ChaCha8Rng) -> L, activation: Activation) -> L {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        make(config(activation), &mut rng)
    }

    #[test]
    fn output_lengths_follow_keras() {
        // valid: ⌊(n − d(k−1) − 1)/s⌋ + 1; same: ⌈n/s⌉.
        assert_eq!(conv_output_len(28, 3, 1, 1, false), 26);
        assert_eq!(conv_output_len(7, 3, 2, 1, false), 3);
        assert_eq!(conv_output_len(8, 3, 1, 2, false), 4);
        assert_eq!(conv_output_len(7, 3, 2, 1, true), 4);
        assert_eq!(conv_output_len(2, 3, 1, 1, false), 0);
        // same, k = 4, s = 1: 3 padded values, 1 before and 2 after (TF's split).
        assert_eq!(pad_before(5, 4, 1, 1, true), 1);
        // same, n = 6, k = 3, s = 2: out 3, needs 7, 1 padded value, after.
        assert_eq!(pad_before(6, 3, 2, 1, true), 0);
        assert_eq!(pad_before(7, 3, 2, 1, true), 1);
    }

    #[test]
    fn kernel_shapes_and_names_are_keras_s() {
        let c2 = layer(Conv2d::<5, 5, 2, 3, 3, 3, 1, 1, 1, 1, false>::new, Activation::Linear);
        assert_eq!((c2.kernel.shape.as_slice(), c2.keras_type()), (&[3, 3, 2, 3][..], "Conv2D"));
        let c1 = layer(Conv1d::<6, 2, 4, 3, 1, 1, true>::new, Activation::Linear);
        assert_eq!((c1.kernel.shape.as_slice(), c1.keras_type()), (&[3, 2, 4][..], "Conv1D"));
        assert_eq!(<Conv1d<6, 2, 4, 3, 1, 1, true> as Layer>::OUTPUT_LEN, 24);
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut layer(Conv2d::<5, 4, 2, 3, 3, 2, 1, 1, 1, 1, false>::new, Activation::Linear), 2);
        check_layer_gradients(&mut layer(Conv2d::<5, 6, 2, 3, 3, 3, 2, 2, 1, 1, true>::new, Activation::Tanh), 2);
        check_layer_gradients(&mut layer(Conv2d::<6, 5, 1, 2, 2, 3, 1, 1, 2, 2, true>::new, Activation::Sigmoid), 1);
        check_layer_gradients(&mut layer(Conv2d::<3, 3, 4, 5, 1, 1, 1, 1, 1, 1, false>::new, Activation::Linear), 3);
        check_layer_gradients(&mut layer(Conv2d::<4, 4, 2, 3, 2, 2, 1, 1, 1, 1, true>::new, Activation::Softmax), 2);
        check_layer_gradients(&mut layer(Conv1d::<9, 2, 3, 3, 1, 2, false>::new, Activation::Linear), 2);
        check_layer_gradients(&mut layer(Conv1d::<7, 3, 2, 4, 2, 1, true>::new, Activation::Relu), 3);
    }

    #[test]
    fn gradients_accumulate_into_the_input_gradient() {
        // A shared input: the second consumer adds to what the first wrote.
        let mut conv = layer(Conv2d::<4, 4, 1, 2, 3, 3, 1, 1, 1, 1, true>::new, Activation::Linear);
        let x = crate::testing::test_values(16, 2);
        let mut y = vec![0.0; 32];
        let (mut cache, mut ctx) = (ConvCache::default(), Ctx::new(0));
        conv.forward(&x, &mut y, 1, &mut cache, &mut ctx);
        let mut once = vec![0.0; 16];
        conv.backward(
            &x,
            &y,
            &mut [1.0; 32],
            Some(InputGrad { grad: &mut once, accumulate: false }),
            1,
            &mut cache,
            &mut ctx,
        );
        let mut twice = once.clone();
        conv.backward(
            &x,
            &y,
            &mut [1.0; 32],
            Some(InputGrad { grad: &mut twice, accumulate: true }),
            1,
            &mut cache,
            &mut ctx,
        );
        // Equal up to the rounding of adding in another order.
        for (a, b) in once.iter().zip(&twice) {
            assert!((2.0 * a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} twice is not {b}");
        }
    }

    /// Hand-computed: 3×3 input 1..9, 2×2 kernel [[1, 2], [3, 4]], bias 1,
    /// same padding (one zero row below, one zero column right):
    /// y[0][0] = 1·1 + 2·2 + 4·3 + 5·4 + 1 = 38, y[2][2] = 9·1 + 1 = 10.
    #[test]
    fn same_padding_pads_bottom_right_by_hand() {
        let mut conv = layer(Conv2d::<3, 3, 1, 1, 2, 2, 1, 1, 1, 1, true>::new, Activation::Linear);
        conv.kernel.value.copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
        conv.bias.as_mut().unwrap().value[0] = 1.0;
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = [0.0; 9];
        conv.forward_one(&x, &mut y);
        // y[0][2] = 3·1 + 6·3 + 1 = 22 (the zero column), y[1][2] = 6 + 9·3 + 1 = 34.
        let expected = [38.0, 48.0, 22.0, 68.0, 78.0, 34.0, 24.0, 27.0, 10.0];
        assert_eq!(y, expected);
        let mut batch = [0.0; 9];
        conv.forward(&x, &mut batch, 1, &mut ConvCache::default(), &mut Ctx::new(0));
        assert_eq!(batch, expected);
    }

    #[test]
    fn batched_forward_agrees_with_one_sample_forward() {
        assert_one_sample_matches_batch(
            &layer(Conv2d::<9, 8, 3, 17, 3, 3, 2, 2, 1, 1, true>::new, Activation::Relu),
            5,
        );
        assert_one_sample_matches_batch(&layer(Conv1d::<20, 4, 6, 5, 1, 3, false>::new, Activation::Tanh), 4);
        // A receptive field of 3·3·512 > PATCH_STACK values: the path without the stack copy.
        assert_one_sample_matches_batch(
            &layer(Conv2d::<4, 3, 512, 3, 3, 3, 1, 1, 1, 1, true>::new, Activation::Tanh),
            2,
        );
        // Several im2col blocks (one sample's rows are 26·26·9 floats).
        assert_one_sample_matches_batch(
            &layer(Conv2d::<28, 28, 1, 8, 3, 3, 1, 1, 1, 1, false>::new, Activation::Linear),
            50,
        );
    }
}
