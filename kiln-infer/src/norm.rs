//! Keras's `BatchNormalization` (inference: the moving statistics) and
//! `LayerNormalization` over one axis of a sample, with kiln's runtime's
//! operations: `inv = γ/√(var + ε)`, `y = x·inv + (β − mean·inv)`
//! (TensorFlow's `tf.nn.batch_normalization`, Keras 3's
//! `ops.layer_normalization`), not `(x − mean)/√(var + ε)·γ + β`.

use crate::math::sqrtf;

/// The normalized axis of a sample seen as `[outer, channels, inner]`
/// (`inner = 1` for Keras's default `axis = -1`; `outer` is the sample's
/// length over `channels · inner`) and the layer's weights: `gamma` (absent
/// when `scale = False`), `beta` (absent when `center = False`), each
/// `[channels]`, and `epsilon` (Keras's float64 argument rounded to `f32`,
/// as the runtime stores it).
///
/// ```
/// use kiln_infer::Normalization;
/// // Keras's `LayerNormalization(center=False)` over the last axis of 4 values.
/// let gamma = [1.0, 2.0, 1.0, 0.5];
/// let norm = Normalization { channels: 4, inner: 1, gamma: Some(&gamma), beta: None, epsilon: 1e-3 };
/// assert_eq!(norm.channels * norm.inner, 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization<'w> {
    /// Length of the normalized axis.
    pub channels: usize,
    /// Values per position of the axis that follow it in the sample (the
    /// product of the later axes' sizes; 1 for the last axis).
    pub inner: usize,
    /// `[channels]`, the scale; `None` multiplies by 1.
    pub gamma: Option<&'w [f32]>,
    /// `[channels]`, the offset; `None` adds nothing.
    pub beta: Option<&'w [f32]>,
    /// Added to the variance before the square root.
    pub epsilon: f32,
}

impl Normalization<'_> {
    /// The values of one `[channels, inner]` block, after checking the
    /// lengths.
    fn check(&self, x: &[f32], y: &[f32], what: &str) -> usize {
        let block = self.channels * self.inner;
        assert!(block > 0, "{what}: channels and inner must be positive");
        assert!(x.len().is_multiple_of(block), "{what}: x is not a whole number of [channels, inner] blocks");
        assert!(y.len() >= x.len(), "{what}: y shorter than x");
        for (weights, name) in [(self.gamma, "gamma"), (self.beta, "beta")] {
            assert!(weights.is_none_or(|w| w.len() >= self.channels), "{what}: {name} shorter than channels");
        }
        block
    }

    /// `(inv, offset)` of `y = x·inv + offset` for channel `c`, given its
    /// mean and `1/√(var + ε)`.
    #[inline]
    fn affine(&self, c: usize, mean: f32, inv_std: f32) -> (f32, f32) {
        let inv = match self.gamma {
            Some(g) => inv_std * g[c],
            None => inv_std,
        };
        let offset = match self.beta {
            Some(b) => b[c] - mean * inv,
            None => -(mean * inv),
        };
        (inv, offset)
    }
}

/// `1/√(var + ε)` as TensorFlow's `rsqrt(variance + variance_epsilon)`
/// and kiln's runtime compute it.
#[inline]
fn inv_std(variance: f32, epsilon: f32) -> f32 {
    1.0 / sqrtf(variance + epsilon)
}

/// Keras's `BatchNormalization` at inference: channel `c` of every
/// `[channels, inner]` block of `x` becomes `x·inv + (β − mean·inv)` with
/// `inv = γ/√(moving_variance + ε)` and `mean = moving_mean` (each
/// `[channels]`), as the runtime's `forward_one` computes it (the same
/// values bit for bit).
///
/// ```
/// use kiln_infer::{batch_normalization, Normalization};
/// // Two channels: (x − mean)/√(var + ε)·γ + β = (5 − 1)/√4·1 + 0 and (1 + 1)/√1·3 − 1.
/// let (mean, variance) = ([1.0, -1.0], [3.75, 0.75]);
/// let (gamma, beta) = ([1.0, 3.0], [0.0, -1.0]);
/// let norm = Normalization { channels: 2, inner: 1, gamma: Some(&gamma), beta: Some(&beta), epsilon: 0.25 };
/// let mut y = [0.0; 2];
/// batch_normalization(&[5.0, 1.0], &norm, &mean, &variance, &mut y);
/// assert_eq!(y, [2.0, 5.0]);
/// ```
///
/// # Panics
/// If `channels` or `inner` is 0, `x` is not a whole number of
/// `[channels, inner]` blocks, `y` is shorter than `x`, or `moving_mean`,
/// `moving_variance`, `gamma` or `beta` is shorter than `channels`.
pub fn batch_normalization(
    x: &[f32],
    norm: &Normalization<'_>,
    moving_mean: &[f32],
    moving_variance: &[f32],
    y: &mut [f32],
) {
    let block = norm.check(x, y, "batch_normalization");
    let (channels, inner) = (norm.channels, norm.inner);
    assert!(
        moving_mean.len() >= channels && moving_variance.len() >= channels,
        "batch_normalization: moving statistics shorter than channels"
    );
    // Channel by channel, so each channel's `inv` and offset are computed once.
    for c in 0..channels {
        let (inv, offset) = norm.affine(c, moving_mean[c], inv_std(moving_variance[c], norm.epsilon));
        for (xb, yb) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
            let (xs, ys) = (&xb[c * inner..(c + 1) * inner], &mut yb[c * inner..(c + 1) * inner]);
            ys.iter_mut().zip(xs).for_each(|(yv, &xv)| *yv = xv * inv + offset);
        }
    }
}

/// Keras's `LayerNormalization` over one axis: each of the `inner`
/// columns of every `[channels, inner]` block of `x` is normalized by its
/// own mean and biased variance (each summed in `f64` and rounded to
/// `f32`, as the runtime's `ops.moments`), then `y = x·inv + (β − mean·inv)`
/// with `inv = γ/√(var + ε)` per channel; the same values as the runtime
/// bit for bit.
///
/// ```
/// use kiln_infer::{layer_normalization, Normalization};
/// // [1, 3]: mean 2, variance 1, so with ε = 3 each value moves ±1/√4 = ±0.5 before γ and β.
/// let (gamma, beta) = ([2.0, 1.0], [0.0, 1.0]);
/// let norm = Normalization { channels: 2, inner: 1, gamma: Some(&gamma), beta: Some(&beta), epsilon: 3.0 };
/// let mut y = [0.0; 2];
/// layer_normalization(&[1.0, 3.0], &norm, &mut y);
/// assert_eq!(y, [-1.0, 1.5]);
/// ```
///
/// # Panics
/// If `channels` or `inner` is 0, `x` is not a whole number of
/// `[channels, inner]` blocks, `y` is shorter than `x`, or `gamma` or
/// `beta` is shorter than `channels`.
pub fn layer_normalization(x: &[f32], norm: &Normalization<'_>, y: &mut [f32]) {
    let block = norm.check(x, y, "layer_normalization");
    let (channels, inner) = (norm.channels, norm.inner);
    for (xb, yb) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
        for i in 0..inner {
            let at = |c: usize| c * inner + i;
            // The mean, then the mean of squared deviations from it (as
            // rounded to f32), each summed in f64.
            let mean = ((0..channels).map(|c| f64::from(xb[at(c)])).sum::<f64>() / channels as f64) as f32;
            let m = f64::from(mean);
            let variance = ((0..channels)
                .map(|c| {
                    let d = f64::from(xb[at(c)]) - m;
                    d * d
                })
                .sum::<f64>()
                / channels as f64) as f32;
            let inv_std = inv_std(variance, norm.epsilon);
            for c in 0..channels {
                let (inv, offset) = norm.affine(c, mean, inv_std);
                yb[at(c)] = xb[at(c)] * inv + offset;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `axis = 1` of a `[2, 2, 2]` sample (`outer = 2, channels = 2,
    /// inner = 2`), no γ: each channel's values use its own statistics.
    #[test]
    fn batch_normalization_of_a_middle_axis_without_gamma() {
        // Channel 0: mean 1, var 3 (+ ε 1 = 4: inv 0.5); channel 1: mean −2, var 15 (+1 = 16: inv 0.25).
        let (mean, variance, beta) = ([1.0, -2.0], [3.0, 15.0], [10.0, 20.0]);
        let norm = Normalization { channels: 2, inner: 2, gamma: None, beta: Some(&beta), epsilon: 1.0 };
        // [outer][channel][inner]
        let x = [1.0, 3.0, -2.0, 2.0, 5.0, -1.0, 6.0, -6.0];
        let mut y = [0.0; 8];
        batch_normalization(&x, &norm, &mean, &variance, &mut y);
        let by_hand = |v: f32, c: usize| (v - mean[c]) * [0.5, 0.25][c] + beta[c];
        let expect = [
            by_hand(1.0, 0),
            by_hand(3.0, 0),
            by_hand(-2.0, 1),
            by_hand(2.0, 1),
            by_hand(5.0, 0),
            by_hand(-1.0, 0),
            by_hand(6.0, 1),
            by_hand(-6.0, 1),
        ];
        assert_eq!(y, expect);
        assert_eq!(y, [10.0, 11.0, 20.0, 21.0, 12.0, 9.0, 22.0, 19.0]);
    }

    /// Neither γ nor β (`center = scale = False`): `(x − mean)/√(var + ε)`;
    /// with γ: times γ. An ε that makes `var + ε` no perfect square is
    /// compared with the f64 formula.
    #[test]
    fn batch_normalization_scale_only_and_general_epsilon() {
        let (mean, variance) = ([0.5, 0.0, -1.0], [0.0, 1.0, 2.0]);
        let x = [1.5, -2.0, 3.0, 0.5, 0.0, -1.0];
        let mut y = [0.0; 6];
        let bare = Normalization { channels: 3, inner: 1, gamma: None, beta: None, epsilon: 1e-3 };
        batch_normalization(&x, &bare, &mean, &variance, &mut y);
        let gamma = [2.0, -1.0, 0.5];
        let mut scaled = [0.0; 6];
        batch_normalization(&x, &Normalization { gamma: Some(&gamma), ..bare }, &mean, &variance, &mut scaled);
        for k in 0..6 {
            let c = k % 3;
            let exact = (f64::from(x[k]) - f64::from(mean[c])) / (f64::from(variance[c]) + 1e-3).sqrt();
            assert!((f64::from(y[k]) - exact).abs() < 1e-6 * exact.abs().max(1.0), "{k}: {} vs {exact}", y[k]);
            let exact = exact * f64::from(gamma[c]);
            let got = f64::from(scaled[k]);
            assert!((got - exact).abs() < 1e-6 * exact.abs().max(1.0), "{k}: {got} vs {exact}");
        }
        // Without ε the zero variance would divide by zero.
        assert!(y[0].is_finite() && y[3] == 0.0);
    }

    /// The last axis (`inner = 1`): each row of 4 by its own statistics.
    /// Row [0, 0, 2, 6]: mean 2, variance (4 + 4 + 0 + 16)/4 = 6 (+ ε 3 = 9:
    /// inv 1/3 before γ); row [1, 1, 1, 1]: variance 0, all at β (up to
    /// the rounding of `β − mean·inv`).
    #[test]
    fn layer_normalization_of_rows_without_beta_and_without_gamma() {
        let gamma = [3.0, -3.0, 1.5, 0.75];
        let x = [0.0, 0.0, 2.0, 6.0, 1.0, 1.0, 1.0, 1.0];
        let mut y = [0.0; 8];
        let norm = Normalization { channels: 4, inner: 1, gamma: Some(&gamma), beta: None, epsilon: 3.0 };
        layer_normalization(&x, &norm, &mut y);
        assert_eq!(y, [-2.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        let beta = [0.5, -0.5, 1.0, 2.0];
        let norm = Normalization { gamma: None, beta: Some(&beta), ..norm };
        layer_normalization(&x, &norm, &mut y);
        // (x − 2)/3 + β, computed as x·inv + (β − 2·inv) with inv = 1/3.
        let inv = 1.0f32 / 3.0;
        let expect: [f32; 4] = core::array::from_fn(|c| x[c] * inv + (beta[c] - 2.0 * inv));
        assert_eq!(y[..4], expect);
        let inv = 1.0 / 3.0f32.sqrt();
        let expect: [f32; 4] = core::array::from_fn(|c| inv + (beta[c] - inv));
        assert_eq!(y[4..], expect);
        assert!(y[4..].iter().zip(beta).all(|(v, b)| (v - b).abs() < 1e-7), "{y:?}");
    }

    /// `axis = 1` of `[channels = 3, inner = 2]` samples: the columns are
    /// normalized separately, against the f64 formula.
    #[test]
    fn layer_normalization_of_a_middle_axis_normalizes_each_column() {
        let (gamma, beta) = ([1.0, 0.5, -2.0], [0.25, 0.0, -1.0]);
        let norm = Normalization { channels: 3, inner: 2, gamma: Some(&gamma), beta: Some(&beta), epsilon: 1e-5 };
        // Two samples of [3][2]; column 0 of the first: 1, 2, 6; column 1: −1, 0, 4.
        let x = [1.0, -1.0, 2.0, 0.0, 6.0, 4.0, 0.5, 3.0, -0.5, 4.0, 1.5, 8.0];
        let mut y = [0.0; 12];
        layer_normalization(&x, &norm, &mut y);
        for s in 0..2 {
            for i in 0..2 {
                let col: [f64; 3] = core::array::from_fn(|c| f64::from(x[s * 6 + c * 2 + i]));
                let mean = col.iter().sum::<f64>() / 3.0;
                let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 3.0;
                for c in 0..3 {
                    let exact = (col[c] - mean) / (var + 1e-5).sqrt() * f64::from(gamma[c]) + f64::from(beta[c]);
                    let got = f64::from(y[s * 6 + c * 2 + i]);
                    assert!(
                        (got - exact).abs() < 2e-6 * exact.abs().max(1.0),
                        "sample {s} [{c}][{i}]: {got} vs {exact}"
                    );
                }
            }
        }
        // The second sample's column 1 is the first's plus 4: the same output, to rounding.
        for c in 0..3 {
            assert!((y[c * 2 + 1] - y[6 + c * 2 + 1]).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    #[should_panic(expected = "layer_normalization: x is not a whole number of [channels, inner] blocks")]
    fn a_partial_block_panics() {
        let norm = Normalization { channels: 3, inner: 1, gamma: None, beta: None, epsilon: 1e-3 };
        layer_normalization(&[1.0; 4], &norm, &mut [0.0; 4]);
    }
}
