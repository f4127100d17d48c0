//! Metrics reported during training and evaluation: accuracies and the
//! losses, averaged over samples (weighted by sample weights) as Keras's
//! stateful metrics are (`update_state` / `result` / `reset_state`).

use crate::losses::{self, Loss};

/// A metric, named as in Keras.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// `"accuracy"`: binary, categorical or sparse accuracy, chosen from the
    /// shapes as Keras does (see [`Metric::resolve`]); logged as `accuracy`.
    Accuracy,
    /// Prediction `> 0.5` equals the target (per output value).
    BinaryAccuracy,
    /// `argmax(pred) == argmax(target)`.
    CategoricalAccuracy,
    /// `argmax(pred) == label`.
    SparseCategoricalAccuracy,
    /// The mean squared error.
    MeanSquaredError,
    /// The mean absolute error.
    MeanAbsoluteError,
    /// The binary cross-entropy.
    BinaryCrossentropy,
    /// The categorical cross-entropy.
    CategoricalCrossentropy,
    /// The sparse categorical cross-entropy.
    SparseCategoricalCrossentropy,
}

impl Metric {
    /// The name in logs and `History`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::CategoricalAccuracy => "categorical_accuracy",
            Metric::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            Metric::MeanSquaredError => "mean_squared_error",
            Metric::MeanAbsoluteError => "mean_absolute_error",
            Metric::BinaryCrossentropy => "binary_crossentropy",
            Metric::CategoricalCrossentropy => "categorical_crossentropy",
            Metric::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
        }
    }

    /// Resolves `Accuracy` the way Keras does, from the shapes: sparse
    /// labels (the loss reads one label per sample) → sparse accuracy, a
    /// single output value → binary, otherwise categorical (also after
    /// binary cross-entropy on several sigmoid outputs, as in Keras).
    pub fn resolve(self, loss: &dyn Loss, outputs: usize) -> Metric {
        if self != Metric::Accuracy {
            return self;
        }
        if loss.target_len(outputs) == 1 && outputs > 1 {
            Metric::SparseCategoricalAccuracy
        } else if outputs == 1 {
            Metric::BinaryAccuracy
        } else {
            Metric::CategoricalAccuracy
        }
    }

    /// The loss a cross-entropy or error metric computes.
    fn loss(self) -> Option<&'static dyn Loss> {
        match self {
            Metric::MeanSquaredError => Some(&losses::MeanSquaredError),
            Metric::MeanAbsoluteError => Some(&losses::MeanAbsoluteError),
            Metric::BinaryCrossentropy => Some(&losses::BinaryCrossentropy),
            Metric::CategoricalCrossentropy => Some(&losses::CategoricalCrossentropy),
            Metric::SparseCategoricalCrossentropy => Some(&losses::SparseCategoricalCrossentropy),
            _ => None,
        }
    }

    /// Checks targets a cross-entropy metric reads (`outputs` prediction
    /// values per sample) as its loss would: sparse labels in range, other
    /// targets in `[0, 1]`. Stricter than Keras, which computes such a
    /// metric from any target (a negative "cross-entropy" for a target of
    /// 5). The accuracies and error metrics take any target (an unreadable
    /// label is a miss, as in Keras).
    ///
    /// # Errors
    /// [`crate::Error::LabelOutOfRange`] or [`crate::Error::TargetOutOfRange`]
    /// naming the first sample whose target the metric cannot read.
    pub fn check_targets(self, targets: &[f32], outputs: usize) -> crate::Result<()> {
        self.loss().map_or(Ok(()), |loss| loss.check_targets(targets, outputs))
    }

    /// Target values per sample the metric reads, for `outputs` prediction
    /// values per sample: one label for the sparse metrics, one target per
    /// prediction otherwise.
    pub fn target_len(self, outputs: usize) -> usize {
        match self {
            Metric::SparseCategoricalAccuracy | Metric::SparseCategoricalCrossentropy => 1,
            _ => outputs,
        }
    }

    /// The metric's value for one sample.
    ///
    /// Binary accuracy compares each target with the prediction thresholded
    /// to 0 or 1 (`t == (p > 0.5)`, as Keras's `binary_accuracy`), so a
    /// soft target such as 0.3 is never a hit. A sparse accuracy without a
    /// label is 0.
    pub fn sample_value(self, pred: &[f32], target: &[f32]) -> f64 {
        match self {
            Metric::Accuracy | Metric::BinaryAccuracy => {
                let hits = pred.iter().zip(target).filter(|(p, t)| **t == f32::from(u8::from(**p > 0.5))).count();
                hits as f64 / pred.len() as f64
            }
            Metric::CategoricalAccuracy => f64::from(u8::from(argmax(pred) == argmax(target))),
            Metric::SparseCategoricalAccuracy => {
                f64::from(u8::from(target.first().is_some_and(|&t| argmax(pred) as f32 == t)))
            }
            _ => self.loss().map_or(0.0, |loss| loss.sample_loss(pred, target, None, 1.0)),
        }
    }
}

/// Index of the largest value (the first on ties, as `argmax` does).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// A weighted running mean: Keras's `Mean` metric.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mean {
    total: f64,
    weight: f64,
}

impl Mean {
    /// Adds `value` with weight `weight`.
    pub fn update(&mut self, value: f64, weight: f64) {
        self.total += value * weight;
        self.weight += weight;
    }

    /// The mean so far (0 before any update).
    pub fn result(&self) -> f32 {
        if self.weight == 0.0 {
            0.0
        } else {
            (self.total / self.weight) as f32
        }
    }

    /// Forgets every update.
    pub fn reset(&mut self) {
        *self = Mean::default();
    }

    /// `(Σ value·weight, Σ weight)`: the state data-parallel training sums over ranks.
    pub(crate) fn parts(&self) -> (f64, f64) {
        (self.total, self.weight)
    }

    /// Adds a state's `(Σ value·weight, Σ weight)` (from [`Mean::parts`]).
    pub(crate) fn add_parts(&mut self, total: f64, weight: f64) {
        self.total += total;
        self.weight += weight;
    }
}

/// What a metric reads of one output: its `batch × len` values and, when
/// the output is `activation(logits)`, those logits.
#[derive(Clone, Copy)]
pub(crate) struct MetricInput<'a> {
    pub(crate) value: &'a [f32],
    pub(crate) logits: Option<(crate::activations::Activation, &'a [f32])>,
}

impl<'a> MetricInput<'a> {
    /// The output and logits of `buffers` (see `Network::output_buffers`).
    pub(crate) fn of(buffers: &crate::network::OutputBuffers<'a>) -> Self {
        MetricInput { value: buffers.value, logits: buffers.logits.as_ref().map(|l| (l.activation, l.values)) }
    }
}

/// A metric with its running state.
#[derive(Clone, Copy, Debug)]
pub struct MetricState {
    /// The metric as the user named it (its log name).
    pub metric: Metric,
    resolved: Metric,
    mean: Mean,
}

impl MetricState {
    /// State for `metric` (resolved against `loss` and the output length).
    pub fn new(metric: Metric, loss: &dyn Loss, outputs: usize) -> Self {
        MetricState { metric, resolved: metric.resolve(loss, outputs), mean: Mean::default() }
    }

    /// The running mean (for data-parallel training's reduction).
    pub(crate) fn mean_mut(&mut self) -> &mut Mean {
        &mut self.mean
    }

    /// Accumulates a batch of `batch` predictions and their targets
    /// ([`MetricState::target_len`] values each), weighted by `weights`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `pred`, `target` or
    /// `sample_weight` when its length does not fit `batch` samples, and
    /// the errors of [`Metric::check_targets`] for targets the metric
    /// cannot read; the state is unchanged then.
    pub fn update(&mut self, pred: &[f32], target: &[f32], weights: Option<&[f32]>, batch: usize) -> crate::Result<()> {
        losses::check_batch(pred, target, weights, None, batch, |outputs| self.target_len(outputs))?;
        self.check_targets(target, pred.len().checked_div(batch).unwrap_or(0))?;
        self.update_checked(MetricInput { value: pred, logits: None }, target, weights, batch);
        Ok(())
    }

    /// [`MetricState::update`] for lengths and targets the training loop
    /// has checked. A cross-entropy metric reads the logits when the
    /// output has them and its loss has a logits form for the output's
    /// activation, as the loss does (Keras's metrics read the output's
    /// `_keras_logits` too), so metric and loss agree where probabilities
    /// saturate.
    pub(crate) fn update_checked(
        &mut self,
        input: MetricInput<'_>,
        target: &[f32],
        weights: Option<&[f32]>,
        batch: usize,
    ) {
        if batch == 0 {
            return;
        }
        let logits = input.logits.and_then(|(activation, z)| Some((self.resolved.loss()?.logits_form(activation)?, z)));
        let (p_len, t_len) = (input.value.len() / batch, target.len() / batch);
        for b in 0..batch {
            let t = &target[b * t_len..(b + 1) * t_len];
            let value = match logits {
                Some((form, z)) => form.sample_loss(&z[b * p_len..(b + 1) * p_len], t, None, 1.0),
                None => self.resolved.sample_value(&input.value[b * p_len..(b + 1) * p_len], t),
            };
            self.mean.update(value, weights.map_or(1.0, |w| w[b] as f64));
        }
    }

    /// [`Metric::check_targets`] of the metric as resolved.
    pub(crate) fn check_targets(&self, targets: &[f32], outputs: usize) -> crate::Result<()> {
        self.resolved.check_targets(targets, outputs)
    }

    /// Target values per sample this metric reads (see [`Metric::target_len`]).
    pub fn target_len(&self, outputs: usize) -> usize {
        self.resolved.target_len(outputs)
    }

    /// The value so far.
    pub fn result(&self) -> f32 {
        self.mean.result()
    }

    /// Starts over (at each epoch).
    pub fn reset(&mut self) {
        self.mean.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::{BinaryCrossentropy, SparseCategoricalCrossentropy};

    #[test]
    fn accuracies_count_hits_by_hand() {
        let mut s = MetricState::new(Metric::Accuracy, &SparseCategoricalCrossentropy, 3);
        // argmaxes 1, 0, 2 against labels 1, 2, 2 → 2/3
        s.update(&[0.1, 0.8, 0.1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.5], &[1.0, 2.0, 2.0], None, 3).unwrap();
        assert!((s.result() - 2.0 / 3.0).abs() < 1e-6);
        let mut b = MetricState::new(Metric::Accuracy, &BinaryCrossentropy, 1);
        b.update(&[0.7, 0.2, 0.6, 0.4], &[1.0, 1.0, 0.0, 0.0], Some(&[1.0, 1.0, 1.0, 3.0]), 4).unwrap();
        // hits: yes, no, no, yes (weight 3) → 4/6
        assert!((b.result() - 4.0 / 6.0).abs() < 1e-6);
        let mut c = MetricState::new(Metric::CategoricalAccuracy, &BinaryCrossentropy, 2);
        c.update(&[0.3, 0.7, 0.9, 0.1], &[0.0, 1.0, 0.0, 1.0], None, 2).unwrap();
        assert_eq!(c.result(), 0.5);
    }
}
