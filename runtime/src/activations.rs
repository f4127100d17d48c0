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
            Activation::Relu => {
                crate::simd::dispatch(|| values.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v }))
            }
            Activation::Sigmoid => crate::simd::dispatch(|| values.iter_mut().for_each(|v| *v = sigmoid(*v))),
            Activation::Tanh => crate::simd::dispatch(|| values.iter_mut().for_each(|v| *v = tanh(*v))),
            Activation::Softmax => values.chunks_exact_mut(row).for_each(softmax_row),
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
            Activation::Relu => crate::simd::dispatch(|| {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g = if yv > 0.0 { *g } else { 0.0 };
                }
            }),
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
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
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

    use super::*;
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

    #[test]
    fn names_round_trip() {
        for (name, act) in Activation::ALL {
            assert_eq!(Activation::from_name(name), Some(act));
            assert_eq!(act.name(), name);
        }
    }
}
