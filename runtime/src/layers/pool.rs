//! Keras's pooling layers, channels last: `MaxPooling1D/2D`,
//! `AveragePooling1D/2D` ([`Pooling`]) and `GlobalMaxPooling1D/2D`,
//! `GlobalAveragePooling1D/2D` ([`GlobalPooling`]). No parameters.
//!
//! A 1-D sample `[steps, channels]` is handled as a 2-D one
//! `[1, steps, channels]`, so both ranks share one kernel.
//!
//! Numerics follow Keras on TensorFlow (`tf.nn.max_pool`, `tf.nn.avg_pool`,
//! `tf.reduce_max`, `tf.reduce_mean`):
//! - `padding = "same"` pads `total = max((out − 1)·stride + pool − n, 0)`
//!   positions, `total / 2` before and the rest after; padded positions
//!   never win a maximum and are not counted by an average (the average
//!   divides by the number of real elements in the window).
//! - Max pooling sends a window's gradient to its first maximum in
//!   row-major scan order (TensorFlow's `MaxPoolGrad`); the arg-max indices
//!   are kept in [`PoolingCache`] by `forward` for `backward`.
//! - Global max pooling is `reduce_max`, whose gradient TensorFlow shares
//!   equally among tied maxima.
//!
//! One deliberate difference: a NaN in a window makes its maximum NaN
//! (TensorFlow's CPU kernel skips NaN), since kiln never hides a NaN.

use super::{Ctx, InputGrad, Layer};
use crate::{Error, Result};

/// Maximum or average.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// `MaxPooling*` / `GlobalMaxPooling*`.
    Max,
    /// `AveragePooling*` / `GlobalAveragePooling*`.
    Average,
}

/// Keras's `padding` argument of the pooling layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// `"valid"`: windows lie inside the input; `out = ⌊(n − pool) / stride⌋ + 1`.
    Valid,
    /// `"same"`: `out = ⌈n / stride⌉`, the input padded evenly (the extra one after).
    Same,
}

/// What max pooling's `forward` leaves for `backward`: for each output
/// value of the batch, the index (within its sample) of the input value
/// that won. Grown on the first batch, then reused (no allocation after).
#[derive(Clone, Debug, Default)]
pub struct PoolingCache {
    argmax: Vec<u32>,
}

/// `MaxPooling1D/2D` or `AveragePooling1D/2D` over `N` input values per
/// sample, writing `M`.
///
/// ```
/// use kiln::layers::{Layer, Padding, PoolMode, Pooling};
/// // [4, 1] → MaxPooling1D(pool_size = 2) → [2, 1]
/// let pool = Pooling::<4, 2>::new(PoolMode::Max, Padding::Valid, &[4, 1], &[2], &[2]);
/// let mut y = [0.0; 2];
/// pool.forward_one(&[1.0, 3.0, -2.0, -5.0], &mut y);
/// assert_eq!(y, [3.0, -2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Pooling<const N: usize, const M: usize> {
    mode: PoolMode,
    keras_type: &'static str,
    /// Spatial input size, rows then columns (rows = 1 for 1-D).
    input: [usize; 2],
    channels: usize,
    pool: [usize; 2],
    strides: [usize; 2],
    /// Spatial output size.
    output: [usize; 2],
    /// Padding before the first row and column.
    pad: [usize; 2],
}

/// Checks that a sample of shape `input` (spatial sizes then channels)
/// has `n` values and returns its spatial sizes as rows, columns.
fn spatial(input: &[usize], n: usize, layer: &str) -> Result<([usize; 2], usize)> {
    let invalid = |reason: String| Err(Error::InvalidArgument { name: "input_shape", reason });
    let (rows, cols, channels) = match *input {
        [steps, c] => (1, steps, c),
        [r, w, c] => (r, w, c),
        _ => return invalid(format!("{layer} needs a rank-2 or rank-3 sample shape, got {input:?}")),
    };
    if rows * cols * channels != n || n == 0 {
        return invalid(format!("{layer}: a sample of shape {input:?} does not hold {n} positive-size values"));
    }
    Ok(([rows, cols], channels))
}

impl<const N: usize, const M: usize> Pooling<N, M> {
    /// A pooling layer over samples of shape `input` (`[steps, channels]` or
    /// `[rows, cols, channels]`), with one `pool_size` and one stride per
    /// spatial axis.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `input_shape`, `pool_size` or
    /// `strides` when the sizes are inconsistent: ranks differ, a size is
    /// zero, a `"valid"` pool is larger than the input, or the shapes do
    /// not hold `N` and `M` values.
    pub fn try_new(
        mode: PoolMode,
        padding: Padding,
        input: &[usize],
        pool_size: &[usize],
        strides: &[usize],
    ) -> Result<Self> {
        let dims = input.len().saturating_sub(1);
        let keras_type = match (mode, dims) {
            (PoolMode::Max, 1) => "MaxPooling1D",
            (PoolMode::Max, _) => "MaxPooling2D",
            (PoolMode::Average, 1) => "AveragePooling1D",
            (PoolMode::Average, _) => "AveragePooling2D",
        };
        let (size, channels) = spatial(input, N, keras_type)?;
        let two = |name: &'static str, v: &[usize]| -> Result<[usize; 2]> {
            if v.len() != dims || v.contains(&0) {
                let reason =
                    format!("{keras_type} needs {dims} positive size(s) for a sample of shape {input:?}, got {v:?}");
                return Err(Error::InvalidArgument { name, reason });
            }
            Ok(if dims == 1 { [1, v[0]] } else { [v[0], v[1]] })
        };
        let (pool, strides) = (two("pool_size", pool_size)?, two("strides", strides)?);
        let mut output = [0; 2];
        let mut pad = [0; 2];
        for a in 0..2 {
            let (n, p, s) = (size[a], pool[a], strides[a]);
            match padding {
                Padding::Valid if p > n => {
                    let reason =
                        format!("{keras_type}: pool_size {pool_size:?} is larger than the sample {input:?} with padding \"valid\"");
                    return Err(Error::InvalidArgument { name: "pool_size", reason });
                }
                Padding::Valid => output[a] = (n - p) / s + 1,
                Padding::Same => {
                    output[a] = n.div_ceil(s);
                    pad[a] = ((output[a] - 1) * s + p).saturating_sub(n) / 2;
                }
            }
        }
        if output[0] * output[1] * channels != M {
            let reason = format!(
                "{keras_type}: a sample of shape {input:?} pools to {} values, not {M}",
                output[0] * output[1] * channels
            );
            return Err(Error::InvalidArgument { name: "input_shape", reason });
        }
        if N > u32::MAX as usize {
            let reason = format!("{keras_type}: samples of more than {} values are not supported", u32::MAX);
            return Err(Error::InvalidArgument { name: "input_shape", reason });
        }
        Ok(Pooling { mode, keras_type, input: size, channels, pool, strides, output, pad })
    }

    /// [`Pooling::try_new`] for sizes known to be consistent (the `model!`
    /// macro checks them at compile time).
    ///
    /// # Panics
    /// When [`Pooling::try_new`] returns an error.
    pub fn new(mode: PoolMode, padding: Padding, input: &[usize], pool_size: &[usize], strides: &[usize]) -> Self {
        Self::try_new(mode, padding, input, pool_size, strides).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The window of output position `o` along axis `a`, clipped to the
    /// input: `start..end`.
    fn window(&self, a: usize, o: usize) -> (usize, usize) {
        let start = (o * self.strides[a]) as isize - self.pad[a] as isize;
        let end = (start + self.pool[a] as isize).min(self.input[a] as isize);
        (start.max(0) as usize, end as usize)
    }

    /// One sample: `x` → `y`, recording each maximum's input index in
    /// `argmax` when given. Compiled once per instruction-set path: the
    /// per-channel loops are branch-free selects, so they run 16 channels
    /// to a vector under AVX-512 (the scalar loop with the NaN branches was
    /// 27% of the W4 CNN's one-sample time, 8 µs).
    fn sample_forward(&self, x: &[f32], y: &mut [f32], argmax: Option<&mut [u32]>) {
        // Explicit per-path copies: through `simd::dispatch`'s closure the
        // body stayed outlined and compiled for SSE2 (measured).
        #[cfg(target_arch = "x86_64")]
        {
            use crate::simd::Isa;
            match crate::simd::isa() {
                // SAFETY: `isa` only returns paths the CPU supports.
                Isa::Avx512 => return unsafe { self.sample_forward_avx512(x, y, argmax) },
                // SAFETY: as above.
                Isa::Avx2 => return unsafe { self.sample_forward_avx2(x, y, argmax) },
                Isa::Portable => {}
            }
        }
        self.sample_forward_on_path(x, y, argmax)
    }

    /// # Safety
    /// The CPU must have AVX-512 (F, VL, BW, DQ).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn sample_forward_avx512(&self, x: &[f32], y: &mut [f32], argmax: Option<&mut [u32]>) {
        self.sample_forward_on_path(x, y, argmax)
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sample_forward_avx2(&self, x: &[f32], y: &mut [f32], argmax: Option<&mut [u32]>) {
        self.sample_forward_on_path(x, y, argmax)
    }

    #[inline(always)]
    fn sample_forward_on_path(&self, x: &[f32], y: &mut [f32], mut argmax: Option<&mut [u32]>) {
        let (c, cols) = (self.channels, self.input[1]);
        #[cfg(target_arch = "x86_64")]
        let isa = crate::simd::isa();
        // Channels per register block: one vector of the path.
        #[cfg(target_arch = "x86_64")]
        let block = if isa == crate::simd::Isa::Avx2 { 8 } else { 16 };
        #[cfg(not(target_arch = "x86_64"))]
        let block = 16;
        for oi in 0..self.output[0] {
            let (r0, r1) = self.window(0, oi);
            for oj in 0..self.output[1] {
                let (c0, c1) = self.window(1, oj);
                let at = (oi * self.output[1] + oj) * c;
                let out = &mut y[at..at + c];
                match self.mode {
                    PoolMode::Average => {
                        out.fill(0.0);
                        for r in r0..r1 {
                            for col in c0..c1 {
                                let i = (r * cols + col) * c;
                                out.iter_mut().zip(&x[i..i + c]).for_each(|(o, v)| *o += v);
                            }
                        }
                        // Padded positions do not count (TensorFlow's `avg_pool`).
                        let count = ((r1 - r0) * (c1 - c0)) as f32;
                        out.iter_mut().for_each(|o| *o /= count);
                    }
                    PoolMode::Max => {
                        let mut arg = argmax.as_deref_mut().map(|a| &mut a[at..at + c]);
                        // Blocks of one vector of channels whose running
                        // maxima (and arg-maxima) stay in registers over the
                        // window: updating `y` in place costs a masked store
                        // and a stalled reload per window element (measured).
                        let mut k0 = 0;
                        while k0 < c {
                            let width = (c - k0).min(block);
                            let arg_block = arg.as_deref_mut().map(|a| &mut a[k0..k0 + width]);
                            let out_block = &mut out[k0..k0 + width];
                            let window = Window { x, cols, channels: c, rows: r0..r1, columns: c0..c1, first: k0 };
                            #[cfg(target_arch = "x86_64")]
                            if width == block && isa >= crate::simd::Isa::Avx2 {
                                if block == 16 {
                                    // SAFETY: the path is AVX-512; the window holds 16 channels.
                                    unsafe { window.max16_avx512(out_block, arg_block) };
                                } else {
                                    // SAFETY: the path is AVX2; the window holds 8 channels.
                                    unsafe { window.max8_avx2(out_block, arg_block) };
                                }
                                k0 += width;
                                continue;
                            }
                            window.max_tail(out_block, arg_block);
                            k0 += width;
                        }
                    }
                }
            }
        }
    }
}

/// One pooling window of one sample `x` (`cols` positions a row, `channels`
/// a position), for the channels from `first` on.
struct Window<'a> {
    x: &'a [f32],
    cols: usize,
    channels: usize,
    rows: std::ops::Range<usize>,
    columns: std::ops::Range<usize>,
    first: usize,
}

impl Window<'_> {
    /// Index in the sample of channel `first` at position `(r, col)`.
    #[inline(always)]
    fn at(&self, r: usize, col: usize) -> usize {
        (r * self.cols + col) * self.channels + self.first
    }

    /// The window's maximum of 16 channels into `out` (and where it was
    /// into `arg`), scanning in row-major order, with the running maxima
    /// and their indices in two registers. (Written with intrinsics: the
    /// compiler turned the same loop over a `[f32; 16]` into 16 branches.)
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `out` and `arg` must hold 16 values.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn max16_avx512(&self, out: &mut [f32], arg: Option<&mut [u32]>) {
        use std::arch::x86_64::*;
        assert!(out.len() == 16 && arg.as_ref().is_none_or(|a| a.len() == 16));
        let load = |i: usize| -> __m512 { _mm512_loadu_ps(self.x[i..i + 16].as_ptr()) };
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let index = |i: usize| _mm512_add_epi32(_mm512_set1_epi32(i as i32), lanes);
        let start = self.at(self.rows.start, self.columns.start);
        let (mut best, mut best_at) = (load(start), index(start));
        for r in self.rows.clone() {
            for col in self.columns.clone() {
                let i = self.at(r, col);
                let v = load(i);
                // `wins`: v > best, or v is NaN and best is not.
                let greater = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v) & _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
                let w = greater | nan;
                best = _mm512_mask_mov_ps(best, w, v);
                best_at = _mm512_mask_mov_epi32(best_at, w, index(i));
            }
        }
        // SAFETY: both hold 16 values (asserted).
        unsafe {
            _mm512_storeu_ps(out.as_mut_ptr(), best);
            if let Some(arg) = arg {
                _mm512_storeu_si512(arg.as_mut_ptr().cast(), best_at);
            }
        }
    }

    /// [`Self::max16_avx512`] for 8 channels on the AVX2 path (W4's one
    /// sample spent 24% of its time in the scalar [`Self::max_tail`] on an
    /// AVX2-only Zen 3).
    ///
    /// # Safety
    /// The CPU must have AVX2; `out` and `arg` must hold 8 values.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn max8_avx2(&self, out: &mut [f32], arg: Option<&mut [u32]>) {
        use std::arch::x86_64::*;
        assert!(out.len() == 8 && arg.as_ref().is_none_or(|a| a.len() == 8));
        let load = |i: usize| -> __m256 { _mm256_loadu_ps(self.x[i..i + 8].as_ptr()) };
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let index = |i: usize| _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(i as i32), lanes));
        let start = self.at(self.rows.start, self.columns.start);
        // The indices ride in float registers, moved bit for bit by the blend.
        let (mut best, mut best_at) = (load(start), index(start));
        for r in self.rows.clone() {
            for col in self.columns.clone() {
                let i = self.at(r, col);
                let v = load(i);
                // `wins`: v > best, or v is NaN and best is not.
                let greater = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
                let nan = _mm256_and_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v), _mm256_cmp_ps::<_CMP_ORD_Q>(best, best));
                let w = _mm256_or_ps(greater, nan);
                best = _mm256_blendv_ps(best, v, w);
                best_at = _mm256_blendv_ps(best_at, index(i), w);
            }
        }
        // SAFETY: both hold 8 values (asserted).
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), best);
            if let Some(arg) = arg {
                _mm256_storeu_si256(arg.as_mut_ptr().cast(), _mm256_castps_si256(best_at));
            }
        }
    }

    /// The window's maximum of the channels of `out` (and where it was
    /// into `arg`), scanning in row-major order.
    fn max_tail(&self, out: &mut [f32], mut arg: Option<&mut [u32]>) {
        let n = out.len();
        let start = self.at(self.rows.start, self.columns.start);
        out.copy_from_slice(&self.x[start..start + n]);
        if let Some(arg) = arg.as_deref_mut() {
            arg.iter_mut().enumerate().for_each(|(k, a)| *a = (start + k) as u32);
        }
        for r in self.rows.clone() {
            for col in self.columns.clone() {
                let i = self.at(r, col);
                for (k, &v) in self.x[i..i + n].iter().enumerate() {
                    if wins(v, out[k]) {
                        out[k] = v;
                        if let Some(arg) = arg.as_deref_mut() {
                            arg[k] = (i + k) as u32;
                        }
                    }
                }
            }
        }
    }
}

/// Whether `v` replaces the running maximum `best`: strictly greater, so
/// the first maximum in scan order wins (as in TensorFlow); a NaN wins
/// over numbers and then stays.
#[inline(always)]
fn wins(v: f32, best: f32) -> bool {
    (v > best) | (v.is_nan() & !best.is_nan())
}

impl<const N: usize, const M: usize> Layer for Pooling<N, M> {
    type In = f32;
    type Cache = PoolingCache;
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = M;

    fn keras_type(&self) -> &'static str {
        self.keras_type
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut PoolingCache, _: &mut Ctx) {
        let samples = x.chunks_exact(N).zip(y.chunks_exact_mut(M)).take(batch);
        if self.mode == PoolMode::Max {
            if cache.argmax.len() < batch * M {
                cache.argmax.resize(batch * M, 0);
            }
            for ((xs, ys), arg) in samples.zip(cache.argmax.chunks_exact_mut(M)) {
                self.sample_forward(xs, ys, Some(arg));
            }
        } else {
            for (xs, ys) in samples {
                self.sample_forward(xs, ys, None);
            }
        }
    }

    fn backward(
        &mut self,
        _: &[f32],
        _: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut PoolingCache,
        _: &mut Ctx,
    ) {
        let Some(dx) = dx else { return };
        let grads = dx.to_add_into(batch * N).chunks_exact_mut(N).zip(dy.chunks_exact(M)).take(batch);
        match self.mode {
            PoolMode::Max => {
                for ((gs, dys), arg) in grads.zip(cache.argmax.chunks_exact(M)) {
                    // An index loop: a `zip` here cost calls of core's
                    // iterator code per sample without LTO (the repository's
                    // release profile; docs/PERFORMANCE.md, "Without LTO").
                    for j in 0..M {
                        gs[arg[j] as usize] += dys[j];
                    }
                }
            }
            PoolMode::Average => {
                let (c, cols) = (self.channels, self.input[1]);
                for (gs, dys) in grads {
                    for oi in 0..self.output[0] {
                        let (r0, r1) = self.window(0, oi);
                        for oj in 0..self.output[1] {
                            let (c0, c1) = self.window(1, oj);
                            let at = (oi * self.output[1] + oj) * c;
                            let count = ((r1 - r0) * (c1 - c0)) as f32;
                            for r in r0..r1 {
                                for col in c0..c1 {
                                    let i = (r * cols + col) * c;
                                    let (g, d) = (&mut gs[i..i + c], &dys[at..at + c]);
                                    g.iter_mut().zip(d).for_each(|(g, d)| *g += d / count);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.sample_forward(x, y, None);
    }
}

/// `GlobalMaxPooling1D/2D` or `GlobalAveragePooling1D/2D`: every channel
/// reduced over all spatial positions, `N` values per sample to `M`
/// channels (`keepdims` changes only the shape the macro reports).
///
/// ```
/// use kiln::layers::{GlobalPooling, Layer, PoolMode};
/// // [3, 2] → GlobalAveragePooling1D → [2]
/// let pool = GlobalPooling::<6, 2>::new(PoolMode::Average, &[3, 2]);
/// let mut y = [0.0; 2];
/// pool.forward_one(&[1.0, 2.0, 3.0, 4.0, 5.0, 9.0], &mut y);
/// assert_eq!(y, [3.0, 5.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GlobalPooling<const N: usize, const M: usize> {
    mode: PoolMode,
    keras_type: &'static str,
    positions: usize,
}

impl<const N: usize, const M: usize> GlobalPooling<N, M> {
    /// Global pooling over samples of shape `input` (`[steps, channels]`
    /// or `[rows, cols, channels]`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `input_shape` when the shape is of
    /// another rank or does not hold `N` values of `M` channels.
    pub fn try_new(mode: PoolMode, input: &[usize]) -> Result<Self> {
        let keras_type = match (mode, input.len()) {
            (PoolMode::Max, 2) => "GlobalMaxPooling1D",
            (PoolMode::Max, _) => "GlobalMaxPooling2D",
            (PoolMode::Average, 2) => "GlobalAveragePooling1D",
            (PoolMode::Average, _) => "GlobalAveragePooling2D",
        };
        let (size, channels) = spatial(input, N, keras_type)?;
        if channels != M {
            let reason = format!("{keras_type}: a sample of shape {input:?} has {channels} channels, not {M}");
            return Err(Error::InvalidArgument { name: "input_shape", reason });
        }
        Ok(GlobalPooling { mode, keras_type, positions: size[0] * size[1] })
    }

    /// [`GlobalPooling::try_new`] for sizes known to be consistent.
    ///
    /// # Panics
    /// When [`GlobalPooling::try_new`] returns an error.
    pub fn new(mode: PoolMode, input: &[usize]) -> Self {
        Self::try_new(mode, input).unwrap_or_else(|e| panic!("{e}"))
    }

    fn sample_forward(&self, x: &[f32], y: &mut [f32]) {
        y.copy_from_slice(&x[..M]);
        for row in x.chunks_exact(M).skip(1) {
            for (acc, &v) in y.iter_mut().zip(row) {
                *acc = match self.mode {
                    PoolMode::Max => nan_max(*acc, v),
                    PoolMode::Average => *acc + v,
                };
            }
        }
        if self.mode == PoolMode::Average {
            y.iter_mut().for_each(|v| *v /= self.positions as f32);
        }
    }
}

impl<const N: usize, const M: usize> Layer for GlobalPooling<N, M> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = M;

    fn keras_type(&self) -> &'static str {
        self.keras_type
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, _: &mut (), _: &mut Ctx) {
        for (xs, ys) in x.chunks_exact(N).zip(y.chunks_exact_mut(M)).take(batch) {
            self.sample_forward(xs, ys);
        }
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        let Some(dx) = dx else { return };
        let samples = x.chunks_exact(N).zip(dx.grad.chunks_exact_mut(N)).zip(y.chunks_exact(M).zip(dy.chunks_exact(M)));
        for ((xs, gs), (ys, dys)) in samples.take(batch) {
            for k in 0..M {
                let share = match self.mode {
                    PoolMode::Average => dys[k] / self.positions as f32,
                    // `reduce_max`'s gradient: shared equally by tied maxima.
                    PoolMode::Max => {
                        let ties = (0..self.positions).filter(|&p| xs[p * M + k] == ys[k]).count();
                        if ties == 0 {
                            0.0
                        } else {
                            dys[k] / ties as f32
                        }
                    }
                };
                for p in 0..self.positions {
                    let d = match self.mode {
                        PoolMode::Max if xs[p * M + k] != ys[k] => 0.0,
                        _ => share,
                    };
                    let g = &mut gs[p * M + k];
                    *g = if dx.accumulate { *g + d } else { d };
                }
            }
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.sample_forward(x, y);
    }
}

/// The larger of `best` and `v`, NaN once either is (as `tf.reduce_max`).
fn nan_max(best: f32, v: f32) -> f32 {
    if best.is_nan() || !(v > best || v.is_nan()) {
        best
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_one_sample_matches_batch, check_layer_gradients};

    #[test]
    fn gradients_match_finite_differences() {
        for mode in [PoolMode::Max, PoolMode::Average] {
            // 2-D, valid, strides = pool: [4, 6, 2] → [2, 3, 2]
            check_layer_gradients(&mut Pooling::<48, 12>::new(mode, Padding::Valid, &[4, 6, 2], &[2, 2], &[2, 2]), 2);
            // 2-D, same, overlapping windows: [5, 4, 1] → [3, 4, 1]
            check_layer_gradients(&mut Pooling::<20, 12>::new(mode, Padding::Same, &[5, 4, 1], &[3, 2], &[2, 1]), 2);
            // 1-D, valid, stride > pool: [8, 3] → [3, 3]
            check_layer_gradients(&mut Pooling::<24, 9>::new(mode, Padding::Valid, &[8, 3], &[2], &[3]), 3);
            // 1-D, same: [5, 2] → [3, 2]
            check_layer_gradients(&mut Pooling::<10, 6>::new(mode, Padding::Same, &[5, 2], &[3], &[2]), 2);
            check_layer_gradients(&mut GlobalPooling::<12, 3>::new(mode, &[4, 3]), 2);
            check_layer_gradients(&mut GlobalPooling::<24, 2>::new(mode, &[3, 4, 2]), 2);
        }
    }

    /// Max pooling over 16-channel blocks (the AVX-512 register path) and
    /// a 3-channel tail, on every path the CPU runs, against a scalar scan
    /// written here: values, arg-max indices (first maximum in scan order
    /// on ties), and NaN winning over numbers.
    #[test]
    fn max_pooling_of_many_channels_matches_a_scalar_scan() {
        const C: usize = 35;
        let (rows, cols) = (5, 6);
        // Integers mod 7 give many ties; a few NaNs, one at a window's start.
        let mut x: Vec<f32> = (0..rows * cols * C).map(|i| ((i * 37 + i / 11) % 7) as f32 - 3.0).collect();
        for i in [0, 17, C + 3, 3 * C * cols + 20, 4 * C + 33] {
            x[i] = f32::NAN;
        }
        // "same", pool 3×2, strides 2×2 (windows clipped at the edges): 3 × 3 outputs.
        let pool = Pooling::<{ 5 * 6 * C }, { 3 * 3 * C }>::new(
            PoolMode::Max,
            Padding::Same,
            &[rows, cols, C],
            &[3, 2],
            &[2, 2],
        );
        let mut want = vec![0.0f32; 9 * C];
        let mut want_arg = vec![0u32; 9 * C];
        for o in 0..9 {
            let (oi, oj) = (o / 3, o % 3);
            let (r0, r1) = pool.window(0, oi);
            let (c0, c1) = pool.window(1, oj);
            for k in 0..C {
                let mut best: Option<(f32, usize)> = None;
                for r in r0..r1 {
                    for col in c0..c1 {
                        let i = (r * cols + col) * C + k;
                        let v = x[i];
                        best = match best {
                            None => Some((v, i)),
                            Some((b, _)) if (v > b) || (v.is_nan() && !b.is_nan()) => Some((v, i)),
                            keep => keep,
                        };
                    }
                }
                let (v, i) = best.unwrap();
                want[o * C + k] = v;
                want_arg[o * C + k] = i as u32;
            }
        }
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| p == q || (p.is_nan() && q.is_nan()));
        assert!(want.iter().any(|v| v.is_nan()), "the case must hold a NaN maximum");
        for isa in crate::simd::Isa::ALL {
            crate::simd::with_isa(isa, || {
                let mut y = vec![0.0; 9 * C];
                pool.forward_one(&x, &mut y);
                assert!(same(&y, &want), "{isa}: forward_one {y:?} vs {want:?}");
                let mut cache = PoolingCache::default();
                let mut yb = vec![0.0; 9 * C];
                pool.forward(&x, &mut yb, 1, &mut cache, &mut Ctx::new(0));
                assert!(same(&yb, &want), "{isa}: forward");
                assert_eq!(cache.argmax, want_arg, "{isa}: arg-max");
            });
        }
    }

    #[test]
    fn one_sample_matches_batch() {
        for mode in [PoolMode::Max, PoolMode::Average] {
            assert_one_sample_matches_batch(
                &Pooling::<20, 12>::new(mode, Padding::Same, &[5, 4, 1], &[3, 2], &[2, 1]),
                3,
            );
            assert_one_sample_matches_batch(&GlobalPooling::<24, 2>::new(mode, &[3, 4, 2]), 3);
        }
    }

    #[test]
    fn same_padding_by_hand() {
        // [1, 2, 3, 4, 5], pool 2, stride 2, same: out 3, total pad = 1 (after),
        // windows [1, 2], [3, 4], [5] — the last average divides by 1, not 2.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut y = [0.0; 3];
        Pooling::<5, 3>::new(PoolMode::Average, Padding::Same, &[5, 1], &[2], &[2]).forward_one(&x, &mut y);
        assert_eq!(y, [1.5, 3.5, 5.0]);
        // pool 3, stride 1, same on 4 values: total pad 2, one before and one after.
        let mut y = [0.0; 4];
        Pooling::<4, 4>::new(PoolMode::Average, Padding::Same, &[4, 1], &[3], &[1]).forward_one(&x[..4], &mut y);
        assert_eq!(y, [1.5, 2.0, 3.0, 3.5]);
        Pooling::<4, 4>::new(PoolMode::Max, Padding::Same, &[4, 1], &[3], &[1])
            .forward_one(&[-1.0, -4.0, -3.0, -2.0], &mut y);
        assert_eq!(y, [-1.0, -1.0, -2.0, -2.0]);
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum() {
        let mut pool = Pooling::<4, 1>::new(PoolMode::Max, Padding::Valid, &[2, 2, 1], &[2, 2], &[2, 2]);
        let (x, mut y, mut cache) = ([7.0; 4], [0.0], PoolingCache::default());
        pool.forward(&x, &mut y, 1, &mut cache, &mut Ctx::new(0));
        let mut dx = [9.0; 4];
        pool.backward(
            &x,
            &y,
            &mut [1.0],
            Some(InputGrad { grad: &mut dx, accumulate: false }),
            1,
            &mut cache,
            &mut Ctx::new(0),
        );
        assert_eq!(dx, [1.0, 0.0, 0.0, 0.0]);
        // Global max pooling shares it among ties, as `reduce_max` does.
        let mut global = GlobalPooling::<4, 1>::new(PoolMode::Max, &[2, 2, 1]);
        let x = [1.0, 3.0, 3.0, 2.0];
        global.forward(&x, &mut y, 1, &mut (), &mut Ctx::new(0));
        global.backward(
            &x,
            &y,
            &mut [1.0],
            Some(InputGrad { grad: &mut dx, accumulate: false }),
            1,
            &mut (),
            &mut Ctx::new(0),
        );
        assert_eq!(dx, [0.0, 0.5, 0.5, 0.0]);
    }

    #[test]
    fn nan_propagates() {
        let mut y = [0.0; 2];
        Pooling::<4, 2>::new(PoolMode::Max, Padding::Valid, &[4, 1], &[2], &[2])
            .forward_one(&[1.0, f32::NAN, 2.0, 0.0], &mut y);
        assert!(y[0].is_nan() && y[1] == 2.0);
        let mut y = [0.0; 1];
        GlobalPooling::<3, 1>::new(PoolMode::Max, &[3, 1]).forward_one(&[1.0, f32::NAN, 2.0], &mut y);
        assert!(y[0].is_nan());
    }

    #[test]
    fn inconsistent_sizes_are_errors() {
        let err = Pooling::<4, 1>::try_new(PoolMode::Max, Padding::Valid, &[4, 1], &[5], &[5]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "pool_size", .. }), "{err}");
        let err = Pooling::<4, 2>::try_new(PoolMode::Max, Padding::Valid, &[4, 1], &[2, 2], &[2]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "pool_size", .. }), "{err}");
        let err = Pooling::<4, 2>::try_new(PoolMode::Max, Padding::Valid, &[4, 1], &[2], &[0]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "strides", .. }), "{err}");
        let err = Pooling::<4, 3>::try_new(PoolMode::Max, Padding::Valid, &[4, 1], &[2], &[2]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "input_shape", .. }), "{err}");
        let err = GlobalPooling::<4, 2>::try_new(PoolMode::Max, &[4, 1]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "input_shape", .. }), "{err}");
    }
}
