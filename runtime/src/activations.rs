//! Element-wise activations (and softmax over the last axis), forward and
//! backward.
//!
//! Every derivative here is written in terms of the activation's *output*
//! `y`, so a layer keeps only its output for the backward pass. Formulas
//! follow Keras 3 (`keras.activations`): `hard_sigmoid(x) = relu6(x + 3) / 6`,
//! `elu` and `selu` with Keras's constants.

/// An activation function, named as in Keras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `y = x` (Keras `"linear"`, the default of `Dense`).
    #[default]
    Linear,
    /// `y = max(x, 0)`.
    Relu,
    /// `y = 1 / (1 + e^-x)`.
    Sigmoid,
    /// `y = tanh(x)`.
    Tanh,
    /// `y_i = e^{x_i} / Σ_j e^{x_j}` over the last axis.
    Softmax,
    /// `y = x` for `x > 0`, `e^x - 1` otherwise.
    Elu,
    /// `y = λx` for `x > 0`, `λα(e^x - 1)` otherwise (α ≈ 1.6733, λ ≈ 1.0507).
    Selu,
    /// `y = ln(1 + e^x)`.
    Softplus,
    /// `y = x / (1 + |x|)`.
    Softsign,
    /// `y = relu6(x + 3) / 6`.
    HardSigmoid,
    /// `y = e^x`.
    Exponential,
}

#[cfg(target_arch = "x86_64")]
mod relu_avx2;

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

impl Activation {
    /// Every activation with its Keras name.
    pub const ALL: [(&'static str, Activation); 11] = [
        ("linear", Activation::Linear),
        ("relu", Activation::Relu),
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("softmax", Activation::Softmax),
        ("elu", Activation::Elu),
        ("selu", Activation::Selu),
        ("softplus", Activation::Softplus),
        ("softsign", Activation::Softsign),
        ("hard_sigmoid", Activation::HardSigmoid),
        ("exponential", Activation::Exponential),
    ];

    /// Keras's name of the activation.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, a)| *a == self).map(|(n, _)| *n).unwrap_or("linear")
    }

    /// Looks an activation up by its Keras name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    /// Applies the activation in place; `row` is the length of the last axis
    /// (softmax normalizes each row).
    ///
    /// ```
    /// use kiln::activations::Activation;
    /// let mut v = [-1.0, 0.0, 2.0];
    /// Activation::Relu.forward_in_place(&mut v, 3);
    /// assert_eq!(v, [0.0, 0.0, 2.0]);
    /// ```
    pub fn forward_in_place(self, values: &mut [f32], row: usize) {
        match self {
            Activation::Linear => {}
            // Not `v.max(0.0)`, which maps NaN to 0: NaN must reach the loss.
            Activation::Relu => match crate::simd::isa() {
                // SAFETY: `isa` returns only paths the CPU runs.
                #[cfg(target_arch = "x86_64")]
                crate::simd::Isa::Avx2 => unsafe { relu_avx2::forward_in_place(values) },
                _ => crate::simd::dispatch(|| values.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v })),
            },
            Activation::Sigmoid => crate::simd::dispatch(|| values.iter_mut().for_each(|v| *v = sigmoid(*v))),
            Activation::Tanh => crate::simd::dispatch(|| values.iter_mut().for_each(|v| *v = tanh(*v))),
            Activation::Softmax => softmax_rows(values, row),
            Activation::Elu => values.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { v.exp_m1() }),
            Activation::Selu => {
                values.iter_mut().for_each(|v| *v = SELU_SCALE * if *v > 0.0 { *v } else { SELU_ALPHA * v.exp_m1() })
            }
            Activation::Softplus => values.iter_mut().for_each(|v| *v = softplus(*v)),
            Activation::Softsign => values.iter_mut().for_each(|v| *v /= 1.0 + v.abs()),
            Activation::HardSigmoid => values.iter_mut().for_each(|v| *v = ((*v + 3.0).clamp(0.0, 6.0)) / 6.0),
            Activation::Exponential => values.iter_mut().for_each(|v| *v = v.exp()),
        }
    }

    /// Turns `grad` (∂L/∂y) into ∂L/∂x in place, given the outputs `y`.
    pub fn backward_in_place(self, y: &[f32], grad: &mut [f32], row: usize) {
        let each = |g: &mut [f32], d: &dyn Fn(f32) -> f32| {
            for (gv, &yv) in g.iter_mut().zip(y) {
                *gv *= d(yv);
            }
        };
        match self {
            Activation::Linear => {}
            Activation::Relu => match crate::simd::isa() {
                // SAFETY: `isa` returns only paths the CPU runs.
                #[cfg(target_arch = "x86_64")]
                crate::simd::Isa::Avx2 => unsafe { relu_avx2::backward_in_place(y, grad) },
                _ => crate::simd::dispatch(|| {
                    for (g, &yv) in grad.iter_mut().zip(y) {
                        *g = if yv > 0.0 { *g } else { 0.0 };
                    }
                }),
            },
            Activation::Sigmoid => crate::simd::dispatch(|| {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= yv * (1.0 - yv);
                }
            }),
            Activation::Tanh => crate::simd::dispatch(|| {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= 1.0 - yv * yv;
                }
            }),
            // Rows of no values: nothing to do (as the forward pass).
            Activation::Softmax if row == 0 => {}
            Activation::Softmax => {
                // ∂L/∂x_i = y_i (g_i − Σ_j g_j y_j)
                for (g, yr) in grad.chunks_exact_mut(row).zip(y.chunks_exact(row)) {
                    let s: f32 = g.iter().zip(yr).map(|(a, b)| a * b).sum();
                    for (gv, &yv) in g.iter_mut().zip(yr) {
                        *gv = yv * (*gv - s);
                    }
                }
            }
            // Tested on `y < 0` as TensorFlow's EluGrad / SeluGrad test `x < 0`
            // (the same at every number; at NaN, Keras's gradient is 1 / λ).
            Activation::Elu => each(grad, &|y| if y < 0.0 { y + 1.0 } else { 1.0 }),
            Activation::Selu => each(grad, &|y| if y < 0.0 { y + SELU_SCALE * SELU_ALPHA } else { SELU_SCALE }),
            // σ(x) = 1 − e^{−y}
            Activation::Softplus => each(grad, &|y| -(-y).exp_m1()),
            Activation::Softsign => each(grad, &|y| (1.0 - y.abs()) * (1.0 - y.abs())),
            Activation::HardSigmoid => each(grad, &|y| if y > 0.0 && y < 1.0 { 1.0 / 6.0 } else { 0.0 }),
            Activation::Exponential => each(grad, &|y| y),
        }
    }
}

impl Activation {
    /// Whether the activation works element by element (all but softmax).
    pub fn is_elementwise(self) -> bool {
        self != Activation::Softmax
    }
}

/// `e^x` in straight-line f32 arithmetic (Cephes' `expf` polynomial after
/// reducing by `ln 2`), so loops over it vectorize; within 2 ulp of `exp`
/// on `[−87, 88]`, and clamped to that range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    e * pow2(n)
}

/// `2^n` for an integer-valued `n` in `[−127, 128]`, built from float
/// arithmetic and an integer shift: `n + 127 + 2²³` holds `n + 127` in its
/// low mantissa bits, and shifting them into the exponent field drops the
/// rest. Unlike `n as i32` (a saturating conversion, which stops AVX-512
/// loops from vectorizing) it compiles to two vector instructions. A NaN
/// `n` gives some finite power; the caller's NaN carries through anyway.
#[inline(always)]
fn pow2(n: f32) -> f32 {
    f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23)
}

/// The logistic function `1 / (1 + e^−x)`, vectorizable.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`, vectorizable: Cephes' odd polynomial for `|x| < 0.625`,
/// `1 − 2 / (e^{2|x|} + 1)` beyond.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z - 0.333_332_8) * z * x
            + x;
    let large = (1.0 - 2.0 / (exp(2.0 * x.abs()) + 1.0)).copysign(x);
    if x.abs() < 0.625 {
        small
    } else {
        large
    }
}

#[inline]
fn softplus(x: f32) -> f32 {
    // ln(1 + e^x) = max(x, 0) + ln(1 + e^{−|x|})
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Softmax of one row in place, shifted by the row maximum for stability.
pub fn softmax_row(row: &mut [f32]) {
    let len = row.len();
    softmax_rows(row, len);
}

/// Softmax of each `row`-long row of `values` in place (a partial last row
/// is left as is), shifted by the row maximum for stability, as Keras's.
///
/// Vectorized over the whole buffer rather than row by row, so short rows
/// (10 classes) still fill vectors: each row's maximum is subtracted, then
/// one [`exp`] pass runs over every value, then each row is divided by its
/// sum. A value's result does not depend on its position, so a row gives
/// the same bits alone or in any batch. Differences from the exact result
/// are a few ulp ([`exp`] is within 2); a shifted value below −87 (where
/// `e^x` is subnormal or 0) gives 0, so `−inf` logits give exactly 0. A NaN
/// in a row makes the whole row NaN (the row's sum is NaN), as before.
pub fn softmax_rows(values: &mut [f32], row: usize) {
    if row == 0 {
        return;
    }
    let whole = values.len() / row * row;
    let values = &mut values[..whole];
    // One function per path with the body forced inline: through
    // `simd::dispatch` the closure, too large to inline, was compiled once
    // for the baseline target and ran scalar on every path.
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
        fn avx512(values: &mut [f32], row: usize) {
            softmax_body(values, row);
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2(values: &mut [f32], row: usize) {
            softmax_body(values, row);
        }
        match crate::simd::isa() {
            // SAFETY: `isa` only returns paths the CPU supports.
            crate::simd::Isa::Avx512 if row < SOFTMAX_BLOCK => {
                return unsafe { softmax_short_rows::softmax_short_rows(values, row) };
            }
            // SAFETY: as above.
            crate::simd::Isa::Avx512 => return unsafe { avx512(values, row) },
            // SAFETY: as above.
            crate::simd::Isa::Avx2 => return unsafe { avx2(values, row) },
            crate::simd::Isa::Portable => {}
        }
    }
    softmax_body(values, row);
}

/// `e^v` of every shifted value, 0 below −87 (where `e^v` is subnormal or
/// 0): softmax's middle pass, shared by [`softmax_body`] and the AVX-512
/// short rows so that both give the same bits.
#[inline(always)]
fn exp_of_shifted(values: &mut [f32]) {
    values.iter_mut().for_each(|v| {
        let e = exp(*v);
        // A comparison, not a clamp: NaN (false) keeps its NaN.
        *v = if *v < -87.0 { 0.0 } else { e };
    });
}

/// Rows per block of [`softmax_body`]'s maximum and sum passes.
const SOFTMAX_BLOCK: usize = 16;

#[inline(always)]
fn softmax_body(values: &mut [f32], row: usize) {
    // Maxima: a short row's maximum is a chain of dependent comparisons, so
    // blocks of 16 rows run 16 independent chains side by side (each row
    // still visits its values in order: the same result as alone).
    let mut blocks = values.chunks_exact_mut(SOFTMAX_BLOCK * row);
    for block in &mut blocks {
        let mut max = [f32::NEG_INFINITY; SOFTMAX_BLOCK];
        for j in 0..row {
            for (l, m) in max.iter_mut().enumerate() {
                *m = max_ignoring_nan(*m, block[l * row + j]);
            }
        }
        for (r, m) in block.chunks_exact_mut(row).zip(max) {
            r.iter_mut().for_each(|v| *v -= m);
        }
    }
    for r in blocks.into_remainder().chunks_exact_mut(row) {
        let m = r.iter().fold(f32::NEG_INFINITY, |m, &v| max_ignoring_nan(m, v));
        r.iter_mut().for_each(|v| *v -= m);
    }
    // e^x over the whole buffer, whatever the row length.
    exp_of_shifted(values);
    // Sums, in order within each row, 16 rows side by side as above.
    let mut blocks = values.chunks_exact_mut(SOFTMAX_BLOCK * row);
    for block in &mut blocks {
        let mut sum = [0.0f32; SOFTMAX_BLOCK];
        for j in 0..row {
            for (l, s) in sum.iter_mut().enumerate() {
                *s += block[l * row + j];
            }
        }
        for (r, s) in block.chunks_exact_mut(row).zip(sum) {
            let inv = 1.0 / s;
            r.iter_mut().for_each(|v| *v *= inv);
        }
    }
    for r in blocks.into_remainder().chunks_exact_mut(row) {
        let inv = 1.0 / r.iter().fold(0.0f32, |s, &v| s + v);
        r.iter_mut().for_each(|v| *v *= inv);
    }
}

/// [`softmax_rows`] on AVX-512 for rows shorter than 16 values (a
/// classifier's 10 classes): the maximum and sum passes of
/// [`softmax_body`] went value by value (inserts, scalar adds) for short
/// rows, 19 µs of 1024 × 10 on AMD Zen 4, a quarter of the int8 digits
/// model's batch. Here 16 rows are one vector: column `j` of a block of 16
/// rows is one gather (lane `l` reads row `l`'s `j`-th value), so the
/// maxima and the sums take `row` vector steps, in each row's order; a
/// row's maximum or reciprocal sum reaches its values by a lane
/// permutation of that vector. Every value goes through the same
/// operations as in [`softmax_body`] (compare-and-select maximum,
/// subtraction, [`exp`] with the same cut at −87, sum from 0 in order,
/// `1 / sum`, product), so both give the same bits.
#[cfg(target_arch = "x86_64")]
mod softmax_short_rows {
    use super::SOFTMAX_BLOCK;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must have AVX-512F; `0 < row < 16`, and `values` holds whole rows.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    pub(super) unsafe fn softmax_short_rows(values: &mut [f32], row: usize) {
        debug_assert!(row > 0 && row < SOFTMAX_BLOCK && values.len().is_multiple_of(row));
        let block = SOFTMAX_BLOCK * row;
        if values.len() < block {
            // Fewer than 16 rows (one sample's `predict_one`): no vector
            // step, and no index vectors to build.
            return super::softmax_body(values, row);
        }
        // Lane `l` of a gather reads row `l` of the block.
        let starts = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(row as i32),
        );
        // Chunk `c` (values 16c..16c+16 of a block) takes its lanes' row
        // values from lanes `(16c + t) / row` of a per-row vector.
        let mut owners = [_mm512_setzero_si512(); SOFTMAX_BLOCK];
        let (mut owner_row, mut column) = (0, 0);
        for owner in owners.iter_mut().take(row) {
            let mut lanes = [0i32; 16];
            for lane in &mut lanes {
                *lane = owner_row;
                column += 1;
                if column == row {
                    (owner_row, column) = (owner_row + 1, 0);
                }
            }
            // SAFETY: 16 values.
            *owner = unsafe { _mm512_loadu_si512(lanes.as_ptr().cast()) };
        }
        let whole = values.len() / block * block;
        let (blocks, rest) = values.split_at_mut(whole);
        for b in blocks.chunks_exact_mut(block) {
            let p = b.as_mut_ptr();
            // SAFETY (every access below): the block holds 16 rows of `row`
            // values: gathers read `l·row + j < 16·row`, chunks `16c + t <
            // 16·row` for `c < row`.
            unsafe {
                let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
                for j in 0..row {
                    let v = _mm512_i32gather_ps::<4>(starts, p.add(j).cast());
                    // `if v > m { v } else { m }`, as `max_ignoring_nan`.
                    max = _mm512_mask_mov_ps(max, _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, max), v);
                }
                for (c, &owner) in owners.iter().enumerate().take(row) {
                    let chunk = p.add(16 * c);
                    let shifted = _mm512_sub_ps(_mm512_loadu_ps(chunk), _mm512_permutexvar_ps(owner, max));
                    _mm512_storeu_ps(chunk, shifted);
                }
            }
            super::exp_of_shifted(b);
            // SAFETY: as above.
            unsafe {
                let mut sum = _mm512_setzero_ps();
                for j in 0..row {
                    sum = _mm512_add_ps(sum, _mm512_i32gather_ps::<4>(starts, p.add(j).cast()));
                }
                let inv = _mm512_div_ps(_mm512_set1_ps(1.0), sum);
                for (c, &owner) in owners.iter().enumerate().take(row) {
                    let chunk = p.add(16 * c);
                    _mm512_storeu_ps(chunk, _mm512_mul_ps(_mm512_loadu_ps(chunk), _mm512_permutexvar_ps(owner, inv)));
                }
            }
        }
        super::softmax_body(rest, row);
    }
}

/// `max(m, v)` skipping a NaN `v` (as `f32::max` does) in one compare and
/// select (`f32::max` also handles a NaN `m`, which a fold from −∞ never has).
#[inline(always)]
fn max_ignoring_nan(m: f32, v: f32) -> f32 {
    if v > m {
        v
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Old code: the backward pass of a softmax over rows of 0 values
    /// panicked in `chunks_exact_mut(0)`; the forward pass does nothing.
    #[test]
    fn softmax_of_empty_rows_does_nothing_both_ways() {
        let (mut values, mut grad) = ([0.0f32; 0], [0.0f32; 0]);
        Activation::Softmax.forward_in_place(&mut values, 0);
        Activation::Softmax.backward_in_place(&values, &mut grad, 0);
    }

    /// `pow2` is the exponent the old `n as i32` conversion built, for
    /// every `n` `exp` can produce, and `exp` still carries NaN.
    #[test]
    fn pow2_equals_the_integer_conversion_it_replaces() {
        for n in -126..=127 {
            let n = n as f32;
            assert_eq!(super::pow2(n).to_bits(), f32::from_bits(((n as i32 + 127) as u32) << 23).to_bits(), "{n}");
        }
        assert!(super::exp(f32::NAN).is_nan());
        assert_eq!(super::exp(0.0), 1.0);
    }

    use crate::testing::assert_gradient_matches;

    /// Reference values computed by hand from the definitions (softmax row
    /// [1, 2, 3]: e^k / (e + e² + e³)).
    #[test]
    fn forward_matches_reference_values() {
        let cases: [(Activation, f32, f32); 8] = [
            (Activation::Sigmoid, 0.0, 0.5),
            (Activation::Tanh, 0.5, 0.462_117_16),
            (Activation::Elu, -1.0, -0.632_120_56),
            (Activation::Selu, -1.0, -1.111_330_7),
            (Activation::Softplus, 0.0, std::f32::consts::LN_2),
            (Activation::Softsign, 1.0, 0.5),
            (Activation::HardSigmoid, 1.5, 0.75),
            (Activation::Exponential, 1.0, std::f32::consts::E),
        ];
        for (act, x, y) in cases {
            let mut v = [x];
            act.forward_in_place(&mut v, 1);
            assert!((v[0] - y).abs() < 1e-6, "{act:?}({x}) = {} not {y}", v[0]);
        }
        let mut s = [1.0, 2.0, 3.0];
        Activation::Softmax.forward_in_place(&mut s, 3);
        let expected = [0.090_030_57, 0.244_728_48, 0.665_240_94];
        for (a, b) in s.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn every_activation_passes_a_finite_difference_gradient_check() {
        // Points away from kinks (relu at 0, hard_sigmoid at ±3).
        let x = [-1.3f32, -0.4, 0.35, 0.9, 1.7, -2.2];
        for (name, act) in Activation::ALL {
            assert_gradient_matches(
                name,
                &x,
                |input, out| {
                    out.copy_from_slice(input);
                    act.forward_in_place(out, 3);
                },
                |y, dy, dx| {
                    dx.copy_from_slice(dy);
                    act.backward_in_place(y, dx, 3);
                },
            );
        }
    }

    /// The vectorizable `exp`, `sigmoid` and `tanh` against f64's.
    #[test]
    fn fast_functions_match_f64_within_a_few_ulp() {
        let mut worst = [0.0f64; 3];
        for i in -200_000..=200_000 {
            let x = i as f32 * 4.3e-4; // [−86, 86]
            let e = (x as f64).exp();
            worst[0] = worst[0].max(((exp(x) as f64 - e) / e).abs());
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            worst[1] = worst[1].max(((sigmoid(x) as f64 - s) / s).abs());
            let t = (x as f64).tanh();
            worst[2] = worst[2].max((tanh(x) as f64 - t).abs() / t.abs().max(1e-30));
        }
        assert!(worst[0] < 3e-7, "exp relative error {}", worst[0]);
        assert!(worst[1] < 4e-7, "sigmoid relative error {}", worst[1]);
        assert!(worst[2] < 4e-7, "tanh relative error {}", worst[2]);
        assert!(sigmoid(-200.0) > 0.0 && sigmoid(-200.0) < 1e-37);
        assert!(sigmoid(200.0) == 1.0 && tanh(-50.0) == -1.0 && tanh(0.0) == 0.0);
    }

    /// NaN and ±inf through every activation, forward and backward (upstream
    /// gradient 1), against Keras 3 / TensorFlow (`tests/fixtures/checks.py`).
    /// Old code: `relu(NaN)` was 0 (`v.max(0.0)`), so a NaN input became a
    /// valid-looking prediction; `elu`/`selu`'s gradient at NaN was NaN, not Keras's 1 / λ.
    #[test]
    fn nan_and_infinities_match_keras() {
        let fixture = include_str!("../../tests/fixtures/checks.txt");
        let same = |a: f32, b: f64| {
            (a.is_nan() && b.is_nan()) || a as f64 == b || (a as f64 - b).abs() <= 1e-6 * b.abs().max(1e-30)
        };
        let mut cases = 0;
        for line in fixture.lines().filter_map(|l| l.strip_prefix("act ")) {
            let f: Vec<&str> = line.split(' ').collect();
            let act = Activation::from_name(f[0]).unwrap();
            let [x, y, dy]: [f64; 3] = std::array::from_fn(|i| f[i + 1].parse().unwrap());
            let mut v = [x as f32];
            act.forward_in_place(&mut v, 1);
            if act == Activation::Sigmoid && x == f64::NEG_INFINITY {
                // kiln's vectorized exp clamps at −87: sigmoid(−inf) is 1.6e-38 rather than 0.
                assert!(v[0] >= 0.0 && v[0] < 1e-37);
            } else {
                assert!(same(v[0], y), "{}({x}) = {} but Keras gives {y}", f[0], v[0]);
            }
            let mut g = [1.0];
            act.backward_in_place(&v, &mut g, 1);
            // softsign(±inf) is NaN in Keras and here; Keras's gradient, from x, is 0, ours, from y, NaN.
            if !(act == Activation::Softsign && x.is_infinite()) {
                assert!(same(g[0], dy), "{}'({x}) = {} but Keras gives {dy}", f[0], g[0]);
            }
            cases += 1;
        }
        assert_eq!(cases, 30);
        // A NaN in a softmax row makes the row NaN (Keras/TensorFlow: NaN at that position, 0 beside it).
        let mut row = [1.0, f32::NAN, 2.0];
        Activation::Softmax.forward_in_place(&mut row, 3);
        assert!(row[1].is_nan());
    }

    /// Relu forward and backward on every path the CPU runs, bit for bit
    /// against the definition written out here (`x < 0 → 0`, else `x`;
    /// `g` where `y > 0`, else 0), over every length to 41 (the vector
    /// bodies and their scalar tails) and the values where selects go
    /// wrong: ±0, ±inf, NaN of either sign, subnormals.
    #[test]
    fn relu_forward_and_backward_give_the_definition_on_every_path() {
        use crate::simd::{with_isa, Isa};
        let special = [
            -0.0,
            0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            1e-40,
            -1e-40,
            2.5,
            -2.5,
            f32::MIN_POSITIVE,
            -f32::MAX,
            7.0,
        ];
        let value = |i: usize, shift: usize| special[(i * 5 + shift) % special.len()];
        for isa in Isa::ALL {
            let ran = with_isa(isa, || {
                for n in 0..=41 {
                    let x: Vec<f32> = (0..n).map(|i| value(i, 0)).collect();
                    let mut y = x.clone();
                    Activation::Relu.forward_in_place(&mut y, n.max(1));
                    for (&xv, &yv) in x.iter().zip(&y) {
                        let want = if xv < 0.0 { 0.0 } else { xv };
                        assert_eq!(yv.to_bits(), want.to_bits(), "{isa}: relu({xv}) = {yv}, n = {n}");
                    }
                    // Outputs with NaN and −0 among them, as a relu layer's can hold.
                    let g0: Vec<f32> = (0..n).map(|i| value(i, 3)).collect();
                    let mut g = g0.clone();
                    Activation::Relu.backward_in_place(&y, &mut g, n.max(1));
                    for ((&yv, &gv), &got) in y.iter().zip(&g0).zip(&g) {
                        let want = if yv > 0.0 { gv } else { 0.0 };
                        assert_eq!(got.to_bits(), want.to_bits(), "{isa}: relu′ at y = {yv}, g = {gv}: {got}, n = {n}");
                    }
                }
            });
            if ran.is_none() {
                eprintln!("relu: {isa} skipped (not supported by this CPU)");
            }
        }
    }

    /// Every path gives the portable path's bits on short and long rows,
    /// for batches of 0 to 40 rows (whole blocks of 16 rows and remainders),
    /// with NaN, ±inf, −0, subnormal and large logits among them: the
    /// AVX-512 path's gathered short rows (`softmax_short_rows`) included.
    #[test]
    fn softmax_gives_the_same_bits_on_every_path() {
        use crate::simd::{with_isa, Isa};
        let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-40, -1e30, 3e38, -100.0, 88.5];
        let value = |i: usize| {
            if i % 23 == 7 {
                special[(i / 23) % special.len()]
            } else {
                ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32 * 60.0 - 30.0
            }
        };
        for row in 1..=18 {
            for rows in [0, 1, 5, 15, 16, 17, 31, 32, 33, 40] {
                let x: Vec<f32> = (0..rows * row).map(|i| value(i * 7 + row)).collect();
                let on = |isa: Isa| {
                    let mut y = x.clone();
                    with_isa(isa, || softmax_rows(&mut y, row)).map(|()| y)
                };
                let portable = on(Isa::Portable).expect("the portable path runs anywhere");
                for isa in [Isa::Avx2, Isa::Avx512] {
                    match on(isa) {
                        Some(y) => {
                            let same = y.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(same, "{isa}: {rows} rows of {row} differ from the portable path");
                        }
                        None => eprintln!("softmax bits: {isa} skipped (not supported by this CPU)"),
                    }
                }
            }
        }
    }

    /// Softmax against an f64 reference on rows of 1 to 33 values (random
    /// logits up to ±40 and rows with −inf), on every path the CPU runs;
    /// a row gives the same bits alone and inside a batch, on each path.
    #[test]
    fn softmax_matches_f64_on_every_path() {
        use crate::simd::{with_isa, Isa};
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        for isa in Isa::ALL {
            let ran = with_isa(isa, || {
                let mut worst = 0.0f64;
                for row in 1..=33 {
                    let rows = 37;
                    let mut x: Vec<f32> = (0..rows * row).map(|_| (next() - 0.5) * 80.0).collect();
                    x[row / 2] = f32::NEG_INFINITY;
                    let mut y = x.clone();
                    Activation::Softmax.forward_in_place(&mut y, row);
                    for (r, (xs, ys)) in x.chunks_exact(row).zip(y.chunks_exact(row)).enumerate() {
                        // Shifted in f32 as Keras does (`x − max` rounds to f32, which
                        // alone moves e^{x − max} by up to 2⁻²⁴·|x − max|), the rest in f64.
                        let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let shifted = |v: f32| f64::from(v - max);
                        let sum: f64 = xs.iter().map(|&v| shifted(v).exp()).sum();
                        for (&xv, &yv) in xs.iter().zip(ys) {
                            let want = shifted(xv).exp() / sum;
                            if want.is_nan() {
                                // A row of only −inf: NaN, as in Keras (−inf − (−inf)).
                                assert!(yv.is_nan(), "{isa}: {yv} for a NaN row");
                            } else if xv == f32::NEG_INFINITY {
                                assert_eq!(yv, 0.0, "{isa}: −inf gives 0");
                            } else if want > 1e-30 {
                                worst = worst.max((yv as f64 - want).abs() / want);
                            } else {
                                // Near and below the subnormals: an absolute bound (e^−87 ≈ 1.6e-38 flushes to 0).
                                let bound = 6.0 * f32::EPSILON as f64 * want + 2e-38;
                                assert!((yv as f64 - want).abs() <= bound, "{isa}: {yv} vs {want}");
                            }
                        }
                        let mut alone = xs.to_vec();
                        softmax_row(&mut alone);
                        let same = alone.iter().zip(ys).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{isa}: row {r} of length {row} differs alone and in a batch");
                    }
                }
                // exp within 2 ulp, the sum and the division a few more.
                assert!(worst < 6.0 * f32::EPSILON as f64, "{isa}: relative error {worst}");
                eprintln!("softmax {isa}: worst relative error {worst:.2e} ({:.2} ε)", worst / f32::EPSILON as f64);
            });
            if ran.is_none() {
                eprintln!("softmax: {isa} skipped (not supported by this CPU)");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for (name, act) in Activation::ALL {
            assert_eq!(Activation::from_name(name), Some(act));
            assert_eq!(act.name(), name);
        }
    }
}
