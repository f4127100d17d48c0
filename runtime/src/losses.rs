//! Losses with Keras's formulas, clipping and reduction.
//!
//! A loss is computed per sample (a mean over the last axis, as Keras's
//! loss functions do) and reduced with Keras's default
//! `"sum_over_batch_size"`: `Σ_b w_b·loss_b / batch` with `w_b = 1` when no
//! sample weights are given. Probabilities are clipped to `[ε, 1 − ε]` with
//! `ε = 1e-7` (`keras.backend.epsilon()`); where clipping is active the
//! gradient is zero, as it is through `clip` in TensorFlow and JAX.
//! Categorical cross-entropies first divide the prediction by its sum over
//! the last axis, as Keras does.
//!
//! **Logits.** When a model's output is a sigmoid (or softmax) and the loss
//! is binary (or categorical / sparse categorical) cross-entropy, the loss
//! is computed from the output's logits `z`, as Keras does with the logits
//! its activations attach to their outputs (`_keras_logits`): no clipping,
//! so the gradient `σ(z) − t` (or `softmax(z)·Σt − t`) never vanishes where
//! the probabilities saturate, and the reported loss is exact
//! (`softplus`, log-sum-exp). `from_logits: true` says the model's output
//! already is the logits (a linear last layer).

use crate::activations::Activation;
use crate::error::{Error, Result};

/// `keras.backend.epsilon()`.
pub const EPSILON: f32 = 1e-7;

/// A loss function: the per-sample value and its gradient.
///
/// `Send + Sync` so that a compiled [`crate::train::Model`] can be shared
/// across threads (an `Arc<Model<_>>` serving predictions).
pub trait Loss: Send + Sync {
    /// Keras's name (also the metric name when used as a metric).
    fn name(&self) -> &'static str;

    /// Target values per sample for `outputs` prediction values per sample.
    fn target_len(&self, outputs: usize) -> usize {
        outputs
    }

    /// Checks targets once before training (`outputs` values per prediction).
    fn check_targets(&self, targets: &[f32], outputs: usize) -> Result<()> {
        let _ = (targets, outputs);
        Ok(())
    }

    /// One sample's loss; when `grad` is given, writes `scale · ∂loss/∂pred` into it.
    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64;

    /// The form of this loss that reads the logits `z` of an output
    /// `activation(z)`, if it has one (cross-entropies after their own
    /// activation: binary after sigmoid, categorical after softmax).
    fn logits_form(&self, activation: Activation) -> Option<LogitsLoss> {
        let _ = activation;
        None
    }
}

/// A cross-entropy computed from logits (TensorFlow's
/// `sigmoid_cross_entropy_with_logits`, `softmax_cross_entropy_with_logits`
/// and its sparse form, which Keras calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsLoss {
    /// `mean_i(max(z_i, 0) − z_i t_i + ln(1 + e^{−|z_i|}))`; gradient `(σ(z_i) − t_i) / n`.
    Binary,
    /// `Σ_i t_i (lse(z) − z_i)`; gradient `softmax(z)_i Σt − t_i`.
    Categorical,
    /// `lse(z) − z_label`; gradient `softmax(z)_i − [i = label]`.
    SparseCategorical,
}

impl LogitsLoss {
    /// One sample's loss from logits `z`; when `grad` is given, writes
    /// `scale · ∂loss/∂z` into it. Computed in f64.
    pub fn sample_loss(self, z: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        match self {
            LogitsLoss::Binary => {
                let n = z.len() as f64;
                let mut total = 0.0f64;
                for (&z, &t) in z.iter().zip(target) {
                    let (z, t) = (z as f64, t as f64);
                    total += z.max(0.0) - z * t + (-z.abs()).exp().ln_1p();
                }
                if let Some(g) = grad {
                    for ((g, &z), &t) in g.iter_mut().zip(z).zip(target) {
                        *g = (scale as f64 * sigmoid_minus(z as f64, t as f64) / n) as f32;
                    }
                }
                total / n
            }
            LogitsLoss::Categorical => softmax_cross_entropy(z, Some(target), 0, grad, scale),
            LogitsLoss::SparseCategorical => softmax_cross_entropy(z, None, target[0] as usize, grad, scale),
        }
    }
}

/// `σ(z) − t`, as `(1 − t) − σ(−z)` for positive `z` so that a target of 1
/// cancels exactly rather than through `σ(z)`'s rounding.
fn sigmoid_minus(z: f64, t: f64) -> f64 {
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    if z >= 0.0 {
        (1.0 - t) - sigmoid(-z)
    } else {
        sigmoid(z) - t
    }
}

/// `Σ_i t_i (lse(z) − z_i)` against a probability vector (`target = Some`)
/// or a class index (`label`), shifted by `max z` for range.
fn softmax_cross_entropy(z: &[f32], target: Option<&[f32]>, label: usize, grad: Option<&mut [f32]>, scale: f32) -> f64 {
    let t_at = |i: usize| target.map_or(if i == label { 1.0 } else { 0.0 }, |t| t[i] as f64);
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let sum_exp: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
    let lse = max + sum_exp.ln();
    let t_sum: f64 = (0..z.len()).map(t_at).sum();
    let total = (0..z.len()).map(|i| t_at(i) * (lse - z[i] as f64)).sum();
    if let Some(g) = grad {
        for (i, g) in g.iter_mut().enumerate() {
            let p = (z[i] as f64 - lse).exp();
            *g = (scale as f64 * (p * t_sum - t_at(i))) as f32;
        }
    }
    total
}

/// The batch loss `Σ_b w_b·loss_b / batch`; writes its gradient with
/// respect to `pred` into `grad` when given.
///
/// ```
/// use kiln::losses::{batch_loss, MeanSquaredError};
/// let pred = [1.0, 2.0, 3.0, 5.0];
/// let target = [1.0, 0.0, 3.0, 4.0];
/// // per sample: (0 + 4) / 2 = 2 and (0 + 1) / 2 = 0.5; mean 1.25
/// let loss = batch_loss(&MeanSquaredError, &pred, &target, None, None, 2).unwrap();
/// assert!((loss - 1.25).abs() < 1e-6);
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] before anything is read or written, naming
/// `pred` when its length is not a multiple of `batch`, `target` when it
/// does not hold `batch` samples of the loss's target length
/// ([`Loss::target_len`]), `sample_weight` when `weights` does not hold
/// `batch` values, or `grad` when it is not as long as `pred`;
/// and the error of [`Loss::check_targets`] for targets the loss cannot
/// take ([`Error::LabelOutOfRange`] for a label past the last class,
/// [`Error::TargetOutOfRange`] for a binary target outside `[0, 1]`), as
/// `fit` refuses them.
pub fn batch_loss(
    loss: &dyn Loss,
    pred: &[f32],
    target: &[f32],
    weights: Option<&[f32]>,
    grad: Option<&mut [f32]>,
    batch: usize,
) -> Result<f32> {
    check_batch(pred, target, weights, grad.as_deref().map(<[f32]>::len), batch, |outputs| loss.target_len(outputs))?;
    if let Some(outputs) = pred.len().checked_div(batch) {
        loss.check_targets(target, outputs)?;
    }
    Ok(weighted_batch_loss(loss, pred, target, weights, grad, batch, 1.0))
}

/// The length checks of [`batch_loss`] (and of `MetricState::update`):
/// `batch` samples of `pred`, of `target_len(values per prediction)`
/// targets, of one weight each; a gradient as long as `pred`.
pub(crate) fn check_batch(
    pred: &[f32],
    target: &[f32],
    weights: Option<&[f32]>,
    grad_len: Option<usize>,
    batch: usize,
    target_len: impl Fn(usize) -> usize,
) -> Result<()> {
    let bad = |name: &'static str, reason: String| Err(Error::InvalidArgument { name, reason });
    if batch == 0 {
        let weights_len = weights.map_or(0, <[f32]>::len);
        let lengths = [
            ("pred", pred.len()),
            ("target", target.len()),
            ("sample_weight", weights_len),
            ("grad", grad_len.unwrap_or(0)),
        ];
        return match lengths.into_iter().find(|&(_, len)| len > 0) {
            Some((name, len)) => bad(name, format!("must be empty for 0 samples, but holds {len}")),
            None => Ok(()),
        };
    }
    if !pred.len().is_multiple_of(batch) {
        let reason =
            format!("must hold a whole number of values per sample for {batch} samples, but holds {}", pred.len());
        return bad("pred", reason);
    }
    let per_sample = target_len(pred.len() / batch);
    if batch.checked_mul(per_sample) != Some(target.len()) {
        let values = if per_sample == 1 { "value" } else { "values" };
        let total = batch.checked_mul(per_sample).map_or("more than usize::MAX".to_string(), |t| t.to_string());
        let reason =
            format!("must hold {batch} samples of {per_sample} {values} ({total}), but holds {}", target.len());
        return bad("target", reason);
    }
    if let Some(w) = weights.filter(|w| w.len() != batch) {
        return bad("sample_weight", format!("must hold one weight per sample ({batch}), but holds {}", w.len()));
    }
    if let Some(g) = grad_len.filter(|&g| g != pred.len()) {
        return bad("grad", format!("must hold as many values as pred ({}), but holds {g}", pred.len()));
    }
    Ok(())
}

/// [`batch_loss`] whose gradient is multiplied by `grad_scale` (an output's
/// `loss_weight`) as it is written, rather than in a second pass.
pub(crate) fn weighted_batch_loss(
    loss: &dyn Loss,
    pred: &[f32],
    target: &[f32],
    weights: Option<&[f32]>,
    grad: Option<&mut [f32]>,
    batch: usize,
    grad_scale: f32,
) -> f32 {
    reduce_over_batch(pred, target, weights, grad, batch, grad_scale, |p, t, g, s| loss.sample_loss(p, t, g, s))
}

/// The loss of one model output, from its logits where the output exposes
/// them and the loss has a logits form (see the module's notes); then the
/// gradient written (when `want_grad`) is `∂L/∂logits`, and the output is
/// told so.
pub fn output_loss(
    loss: &dyn Loss,
    output: crate::network::OutputBuffers<'_>,
    target: &[f32],
    weights: Option<&[f32]>,
    want_grad: bool,
    batch: usize,
    grad_scale: f32,
) -> f32 {
    let grad = want_grad.then_some(output.grad);
    match output.logits.and_then(|l| Some((loss.logits_form(l.activation)?, l))) {
        Some((form, logits)) => {
            *logits.grad_is_logits = want_grad;
            reduce_over_batch(logits.values, target, weights, grad, batch, grad_scale, |z, t, g, s| {
                form.sample_loss(z, t, g, s)
            })
        }
        None => weighted_batch_loss(loss, output.value, target, weights, grad, batch, grad_scale),
    }
}

/// `Σ_b w_b·loss_b / batch` with `loss_b = per_sample(pred_b, target_b,
/// grad_b, scale_b)`, where `scale_b = grad_scale·w_b / batch`.
fn reduce_over_batch(
    pred: &[f32],
    target: &[f32],
    weights: Option<&[f32]>,
    mut grad: Option<&mut [f32]>,
    batch: usize,
    grad_scale: f32,
    per_sample: impl Fn(&[f32], &[f32], Option<&mut [f32]>, f32) -> f64,
) -> f32 {
    if batch == 0 {
        return 0.0;
    }
    let out_len = pred.len() / batch;
    let target_len = target.len() / batch;
    let mut total = 0.0f64;
    for b in 0..batch {
        let w = weights.map_or(1.0, |w| w[b]);
        let scale = grad_scale * w / batch as f32;
        let g = grad.as_deref_mut().map(|g| &mut g[b * out_len..(b + 1) * out_len]);
        let p = &pred[b * out_len..(b + 1) * out_len];
        let t = &target[b * target_len..(b + 1) * target_len];
        total += w as f64 * per_sample(p, t, g, scale);
    }
    (total / batch as f64) as f32
}

/// `mean((y − ŷ)²)` over the last axis.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanSquaredError;

impl Loss for MeanSquaredError {
    fn name(&self) -> &'static str {
        "mean_squared_error"
    }

    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        let n = pred.len() as f32;
        if let Some(g) = grad {
            for ((g, p), t) in g.iter_mut().zip(pred).zip(target) {
                *g = scale * 2.0 * (p - t) / n;
            }
        }
        pred.iter().zip(target).map(|(p, t)| ((p - t) as f64).powi(2)).sum::<f64>() / n as f64
    }
}

/// `mean(|y − ŷ|)` over the last axis (gradient 0 where `y = ŷ`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanAbsoluteError;

impl Loss for MeanAbsoluteError {
    fn name(&self) -> &'static str {
        "mean_absolute_error"
    }

    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        let n = pred.len() as f32;
        if let Some(g) = grad {
            for ((g, p), t) in g.iter_mut().zip(pred).zip(target) {
                let d = p - t;
                *g = if d == 0.0 { 0.0 } else { scale * d.signum() / n };
            }
        }
        pred.iter().zip(target).map(|(p, t)| ((p - t) as f64).abs()).sum::<f64>() / n as f64
    }
}

/// `−mean(y·ln p + (1 − y)·ln(1 − p))` over the last axis, `p` clipped to
/// `[ε, 1 − ε]`; from the logits after a sigmoid output or with
/// `from_logits` (see the module's notes).
///
/// `BinaryCrossentropy` is also a constant with Keras's defaults, so both
/// `compile(…, BinaryCrossentropy, …)` and
/// `BinaryCrossentropy { from_logits: true }` read like Keras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinaryCrossentropy {
    /// The prediction is the logits, not a probability (Keras's `from_logits`).
    pub from_logits: bool,
}

/// [`BinaryCrossentropy`](struct@BinaryCrossentropy) with Keras's defaults (`from_logits = false`).
#[allow(non_upper_case_globals)]
pub const BinaryCrossentropy: BinaryCrossentropy = BinaryCrossentropy { from_logits: false };

impl Loss for BinaryCrossentropy {
    fn name(&self) -> &'static str {
        "binary_crossentropy"
    }

    fn logits_form(&self, activation: Activation) -> Option<LogitsLoss> {
        (activation == Activation::Sigmoid).then_some(LogitsLoss::Binary)
    }

    /// Targets are probabilities: a value outside `[0, 1]` (a label 2, a −1
    /// for "negative") would train toward a meaningless optimum.
    fn check_targets(&self, targets: &[f32], outputs: usize) -> Result<()> {
        match targets.iter().position(|t| !(0.0..=1.0).contains(t)) {
            Some(i) => Err(Error::TargetOutOfRange {
                loss: self.name(),
                value: targets[i],
                sample: i / outputs.max(1),
                range: "[0, 1]",
            }),
            None => Ok(()),
        }
    }

    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        if self.from_logits {
            return LogitsLoss::Binary.sample_loss(pred, target, grad, scale);
        }
        let n = pred.len() as f32;
        let mut total = 0.0f64;
        let clip = |p: f32| p.clamp(EPSILON, 1.0 - EPSILON);
        for (&p, &t) in pred.iter().zip(target) {
            let q = clip(p) as f64;
            total -= t as f64 * q.ln() + (1.0 - t as f64) * (1.0 - q).ln();
        }
        if let Some(g) = grad {
            for ((g, &p), &t) in g.iter_mut().zip(pred).zip(target) {
                *g = if clip(p) != p { 0.0 } else { scale * (-t / p + (1.0 - t) / (1.0 - p)) / n };
            }
        }
        total / n as f64
    }
}

/// The categorical cross-entropy of `pred` against a probability vector
/// (`target = Some`) or a class index (`label`): `−Σ_i t_i ln q_i` with
/// `q = clip(p / Σp)`.
fn categorical(pred: &[f32], target: Option<&[f32]>, label: usize, grad: Option<&mut [f32]>, scale: f32) -> f64 {
    let sum: f32 = pred.iter().sum();
    let t_at = |i: usize| target.map_or(if i == label { 1.0 } else { 0.0 }, |t| t[i]);
    let mut total = 0.0f64;
    for (i, &p) in pred.iter().enumerate() {
        let t = t_at(i);
        if t != 0.0 {
            total -= t as f64 * ((p / sum).clamp(EPSILON, 1.0 - EPSILON) as f64).ln();
        }
    }
    if let Some(g) = grad {
        // a_i = ∂L/∂(p_i/S) = −t_i / q_i where unclipped;
        // ∂L/∂p_j = a_j / S − Σ_i a_i p_i / S².
        let a = |i: usize, p: f32| {
            let q = p / sum;
            if (EPSILON..=1.0 - EPSILON).contains(&q) {
                -t_at(i) / q
            } else {
                0.0
            }
        };
        let weighted: f32 = pred.iter().enumerate().map(|(i, &p)| a(i, p) * p).sum::<f32>() / (sum * sum);
        for (j, (g, &p)) in g.iter_mut().zip(pred).enumerate() {
            *g = scale * (a(j, p) / sum - weighted);
        }
    }
    total
}

/// Cross-entropy against one-hot (or soft) targets of the output's length;
/// from the logits after a softmax output or with `from_logits`.
///
/// Also a constant with Keras's defaults, like [`BinaryCrossentropy`](struct@BinaryCrossentropy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CategoricalCrossentropy {
    /// The prediction is the logits, not probabilities (Keras's `from_logits`).
    pub from_logits: bool,
}

/// [`CategoricalCrossentropy`](struct@CategoricalCrossentropy) with Keras's defaults (`from_logits = false`).
#[allow(non_upper_case_globals)]
pub const CategoricalCrossentropy: CategoricalCrossentropy = CategoricalCrossentropy { from_logits: false };

impl Loss for CategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "categorical_crossentropy"
    }

    fn logits_form(&self, activation: Activation) -> Option<LogitsLoss> {
        (activation == Activation::Softmax).then_some(LogitsLoss::Categorical)
    }

    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        if self.from_logits {
            return LogitsLoss::Categorical.sample_loss(pred, target, grad, scale);
        }
        categorical(pred, Some(target), 0, grad, scale)
    }
}

/// Cross-entropy against integer class labels (one value per sample);
/// from the logits after a softmax output or with `from_logits`.
///
/// Also a constant with Keras's defaults, like [`BinaryCrossentropy`](struct@BinaryCrossentropy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SparseCategoricalCrossentropy {
    /// The prediction is the logits, not probabilities (Keras's `from_logits`).
    pub from_logits: bool,
}

/// [`SparseCategoricalCrossentropy`](struct@SparseCategoricalCrossentropy) with Keras's defaults (`from_logits = false`).
#[allow(non_upper_case_globals)]
pub const SparseCategoricalCrossentropy: SparseCategoricalCrossentropy =
    SparseCategoricalCrossentropy { from_logits: false };

impl Loss for SparseCategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "sparse_categorical_crossentropy"
    }

    fn logits_form(&self, activation: Activation) -> Option<LogitsLoss> {
        (activation == Activation::Softmax).then_some(LogitsLoss::SparseCategorical)
    }

    fn target_len(&self, _outputs: usize) -> usize {
        1
    }

    fn check_targets(&self, targets: &[f32], outputs: usize) -> Result<()> {
        match targets.iter().position(|&t| !(t >= 0.0 && (t as usize) < outputs && t.fract() == 0.0)) {
            Some(sample) => Err(Error::LabelOutOfRange { label: targets[sample], sample, classes: outputs }),
            None => Ok(()),
        }
    }

    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        if self.from_logits {
            return LogitsLoss::SparseCategorical.sample_loss(pred, target, grad, scale);
        }
        categorical(pred, None, target[0] as usize, grad, scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::compare_with_finite_differences;

    fn all() -> Vec<(Box<dyn Loss>, Vec<f32>)> {
        // Two samples of three outputs; targets as each loss expects them.
        vec![
            (Box::new(MeanSquaredError), vec![0.0, 1.0, 0.5, -1.0, 2.0, 0.0]),
            (Box::new(MeanAbsoluteError), vec![0.0, 1.0, 0.5, -1.0, 2.0, 0.0]),
            (Box::new(BinaryCrossentropy), vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.3]),
            (Box::new(CategoricalCrossentropy), vec![0.0, 1.0, 0.0, 0.2, 0.3, 0.5]),
            (Box::new(SparseCategoricalCrossentropy), vec![1.0, 2.0]),
        ]
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Positive, not normalized (exercises the categorical normalization term).
        let pred = vec![0.2f32, 0.7, 0.4, 0.15, 0.6, 0.35];
        let weights = [0.5f32, 2.0];
        for (loss, target) in all() {
            let mut grad = vec![0.0; pred.len()];
            batch_loss(&*loss, &pred, &target, Some(&weights), Some(&mut grad), 2).unwrap();
            let result = compare_with_finite_differences(&mut pred.clone(), &grad, |p| {
                batch_loss(&*loss, p, &target, Some(&weights), None, 2).unwrap() as f64
            });
            if let Err(e) = result {
                panic!("{}: {e}", loss.name());
            }
        }
    }

    /// Reference values from PyTorch 2 (`tests/fixtures/losses.py`), which
    /// computes Keras's formulas with `torch` ops in float64.
    #[test]
    fn values_match_reference() {
        let pred = [0.2f32, 0.7, 0.4, 0.15, 0.6, 0.35];
        let expected = [
            ("mean_squared_error", 0.5908333333333333),
            ("mean_absolute_error", 0.5833333333333334),
            ("binary_crossentropy", 0.8210024370835759),
            ("categorical_crossentropy", 0.8859660672834304),
            ("sparse_categorical_crossentropy", 0.8820857563546131),
        ];
        for ((loss, target), (name, value)) in all().into_iter().zip(expected) {
            assert_eq!(loss.name(), name);
            let got = batch_loss(&*loss, &pred, &target, None, None, 2).unwrap();
            assert!((got as f64 - value).abs() < 1e-5, "{name}: {got} vs {value}");
        }
    }

    #[test]
    fn clipping_keeps_cross_entropy_finite() {
        let l = batch_loss(&BinaryCrossentropy, &[0.0, 1.0], &[1.0, 0.0], None, None, 1).unwrap();
        // (−ln(1e-7) − ln(1 − f32(1 − 1e-7))) / 2 = (16.1181 + 15.9424) / 2
        assert!((l - 16.030_2).abs() < 1e-3, "{l}");
    }

    /// Hand-derived values where the probabilities are saturated in f32:
    /// `softplus(z) − z·t` and `σ(z) − t` for the binary loss, `lse(z) − z_label`
    /// and `softmax(z) − onehot` for the categorical ones.
    #[test]
    fn logits_forms_are_exact_where_probabilities_saturate() {
        let mut g = [0.0f32; 3];
        let l = LogitsLoss::Binary.sample_loss(&[100.0, -100.0, 30.0], &[0.0, 0.0, 1.0], Some(&mut g), 1.0);
        // (100 + e^-100 + ln(1 + e^-30)) / 3
        assert!((l - (100.0 + (-30.0f64).exp()) / 3.0).abs() < 1e-12, "{l}");
        let s30 = 1.0 / (1.0 + 30.0f64.exp());
        let s100 = 1.0 / (1.0 + 100.0f64.exp());
        assert_eq!(g, [(1.0 / 3.0) as f32, (s100 / 3.0) as f32, (-s30 / 3.0) as f32]);

        let z = [100.0f32, 0.0, -100.0];
        let l = LogitsLoss::SparseCategorical.sample_loss(&z, &[2.0], Some(&mut g), 0.5);
        assert!((l - 200.0).abs() < 1e-9, "{l}");
        assert_eq!(g, [0.5, (0.5 * (-100.0f64).exp()) as f32, -0.5]);

        // Soft targets summing to 2 (Keras does not normalize them): Σt·lse − Σ t_i z_i.
        let l = LogitsLoss::Categorical.sample_loss(&z, &[1.0, 0.0, 1.0], Some(&mut g), 1.0);
        assert!((l - 200.0).abs() < 1e-9, "{l}");
        assert_eq!(g, [1.0, (2.0 * (-100.0f64).exp()) as f32, -1.0]);
    }

    /// With `from_logits`, the loss reads the prediction as logits, and its
    /// gradient is the f64 central difference of its value.
    #[test]
    fn from_logits_gradients_match_finite_differences() {
        let z = vec![2.0f32, -1.5, 0.25, 3.0, -0.5, 1.0];
        let losses: Vec<(Box<dyn Loss>, Vec<f32>)> = vec![
            (Box::new(BinaryCrossentropy { from_logits: true }), vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.3]),
            (Box::new(CategoricalCrossentropy { from_logits: true }), vec![0.0, 1.0, 0.0, 0.2, 0.3, 0.5]),
            (Box::new(SparseCategoricalCrossentropy { from_logits: true }), vec![1.0, 2.0]),
        ];
        for (loss, target) in losses {
            let mut grad = vec![0.0; z.len()];
            batch_loss(&*loss, &z, &target, None, Some(&mut grad), 2).unwrap();
            compare_with_finite_differences(&mut z.clone(), &grad, |p| {
                batch_loss(&*loss, p, &target, None, None, 2).unwrap() as f64
            })
            .unwrap_or_else(|e| panic!("{}: {e}", loss.name()));
        }
    }

    /// Old code: accepted, and trained toward the clipped optimum.
    #[test]
    fn binary_targets_outside_0_1_are_errors() {
        let err = BinaryCrossentropy.check_targets(&[0.0, 1.0, 0.5, -1.0], 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "y: target -1 of sample 1 is outside [0, 1], the range binary_crossentropy accepts"
        );
        assert!(BinaryCrossentropy.check_targets(&[0.0, 1.0, 0.25], 1).is_ok());
    }

    #[test]
    fn labels_out_of_range_are_errors() {
        let err = SparseCategoricalCrossentropy.check_targets(&[0.0, 3.0], 3).unwrap_err();
        assert!(err.to_string().contains("label 3 of sample 1"), "{err}");
    }
}
