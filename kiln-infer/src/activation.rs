//! Keras's activations, element-wise (softmax by rows), with the same
//! arithmetic as kiln's runtime (`kiln::activations`).

/// Keras's activation functions (the names of `kiln::activations::Activation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `y = x`.
    Linear,
    /// `max(x, 0)`; NaN stays NaN.
    Relu,
    /// `1 / (1 + e^−x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `e^x / Σ e^x` over each row.
    Softmax,
    /// `x` for `x > 0`, `e^x − 1` otherwise.
    Elu,
    /// `λ·x` for `x > 0`, `λ·α·(e^x − 1)` otherwise.
    Selu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// Keras 3's `relu6(x + 3) / 6`.
    HardSigmoid,
    /// `e^x`.
    Exponential,
}

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

impl Activation {
    /// Applies the activation to `values` in place (softmax over each row
    /// of `row` values).
    pub fn apply(self, values: &mut [f32], row: usize) {
        match self {
            Activation::Linear => {}
            // Not `v.max(0.0)`, which maps NaN to 0.
            Activation::Relu => values.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v }),
            Activation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => values.iter_mut().for_each(|v| *v = tanh(*v)),
            Activation::Softmax => values.chunks_exact_mut(row).for_each(softmax_row),
            Activation::Elu => values.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { crate::math::expm1f(*v) }),
            Activation::Selu => values
                .iter_mut()
                .for_each(|v| *v = SELU_SCALE * if *v > 0.0 { *v } else { SELU_ALPHA * crate::math::expm1f(*v) }),
            Activation::Softplus => {
                values.iter_mut().for_each(|v| *v = v.max(0.0) + crate::math::log1pf(crate::math::expf(-v.abs())))
            }
            Activation::Softsign => values.iter_mut().for_each(|v| *v /= 1.0 + v.abs()),
            Activation::HardSigmoid => values.iter_mut().for_each(|v| *v = ((*v + 3.0).clamp(0.0, 6.0)) / 6.0),
            Activation::Exponential => values.iter_mut().for_each(|v| *v = crate::math::expf(*v)),
        }
    }
}

/// `floor(x)` for `|x| < 2²³` (all `exp` needs): `core` has no `floor` on
/// stable Rust. Equal to `f32::floor` there, so `exp` gives the runtime's bits.
#[inline(always)]
fn floor_small(x: f32) -> f32 {
    let t = x as i32 as f32;
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// `e^x` in straight-line f32 arithmetic: kiln's runtime `exp` (Cephes'
/// `expf` polynomial after reducing by `ln 2`), within 2 ulp of `exp` on
/// `[−87, 88]` and clamped to that range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = floor_small(x * core::f32::consts::LOG2_E + 0.5);
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23)
}

/// The logistic function `1 / (1 + e^−x)` (kiln's runtime formula).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`: Cephes' odd polynomial for `|x| < 0.625`, `1 − 2 / (e^{2|x|} + 1)`
/// beyond (kiln's runtime formula).
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

/// Softmax of one row in place, shifted by the row maximum.
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = crate::math::expf(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_hand_computed_ones() {
        // e^1, σ(0), tanh(0.5) and tanh(2) to 2 ulp of their decimal values.
        assert!((exp(1.0) - core::f32::consts::E).abs() <= 2.0 * f32::EPSILON * 3.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((tanh(0.5) - 0.462_117_16).abs() < 1e-7);
        assert!((tanh(2.0) - 0.964_027_6).abs() < 1e-7);
        let mut s = [1.0, 2.0, 3.0];
        Activation::Softmax.apply(&mut s, 3);
        for (a, b) in s.iter().zip([0.090_030_57, 0.244_728_48, 0.665_240_94]) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        let mut r = [-1.0, f32::NAN, 2.0];
        Activation::Relu.apply(&mut r, 3);
        assert!(r[0] == 0.0 && r[1].is_nan() && r[2] == 2.0);
        assert_eq!(floor_small(-0.5), -1.0);
        assert_eq!(floor_small(2.0), 2.0);
    }
}
