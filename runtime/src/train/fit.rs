//! `fit`: the epoch loop, configured with Keras's argument names.

use super::callbacks::{Callback, Control};
use super::history::{History, Logs};
use super::progress::Progress;
use super::{batches, Model};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::sample::SampleSet;
use rand::seq::SliceRandom;

/// A `fit` call being configured; [`Fit::run`] trains.
#[must_use = "a fit does nothing until `.run()`"]
pub struct Fit<'a, N: Network, Y: SampleSet> {
    model: &'a mut Model<N>,
    x: <N::Input as SampleSet>::Batch<'a>,
    y: Y::Batch<'a>,
    epochs: usize,
    initial_epoch: usize,
    batch_size: usize,
    verbose: u8,
    shuffle: bool,
    validation_split: f32,
    validation_data: Option<(<N::Input as SampleSet>::Batch<'a>, Y::Batch<'a>)>,
    sample_weight: Option<&'a [f32]>,
    class_weight: Option<&'a [f32]>,
    steps_per_epoch: Option<usize>,
    callbacks: Vec<&'a mut dyn Callback>,
}

impl<'a, N: Network, Y: SampleSet> Fit<'a, N, Y> {
    pub(super) fn new(model: &'a mut Model<N>, x: <N::Input as SampleSet>::Batch<'a>, y: Y::Batch<'a>) -> Self {
        Fit {
            model,
            x,
            y,
            epochs: 1,
            initial_epoch: 0,
            batch_size: 32,
            verbose: 1,
            shuffle: true,
            validation_split: 0.0,
            validation_data: None,
            sample_weight: None,
            class_weight: None,
            steps_per_epoch: None,
            callbacks: Vec::new(),
        }
    }

    /// Number of epochs to train up to (default 1).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// The epoch to start counting from, when resuming (default 0).
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.initial_epoch = epoch;
        self
    }

    /// Samples per gradient step (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// 0 silent, 1 progress bar (default), 2 one line per epoch.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Shuffle the training samples before each epoch (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Holds out the *last* `fraction` of the samples (before shuffling)
    /// for validation, as Keras does.
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.validation_split = fraction;
        self
    }

    /// Evaluates on `(x, y)` after every epoch (`val_loss`, `val_<metric>`).
    pub fn validation_data<X, V>(mut self, x: X, y: V) -> Self
    where
        X: crate::sample::BatchOf<'a, Set = N::Input>,
        V: crate::sample::BatchOf<'a, Set = Y>,
    {
        self.validation_data = Some((x.into_batch(), y.into_batch()));
        self
    }

    /// Weights each sample's loss (one weight per sample).
    pub fn sample_weight(mut self, weights: &'a [f32]) -> Self {
        self.sample_weight = Some(weights);
        self
    }

    /// Weights each sample's loss by its class (`weights[label]`); for
    /// sparse labels or one-hot targets.
    pub fn class_weight(mut self, weights: &'a [f32]) -> Self {
        self.class_weight = Some(weights);
        self
    }

    /// Batches per epoch; epochs wrap around the data (default: one pass).
    pub fn steps_per_epoch(mut self, steps: usize) -> Self {
        self.steps_per_epoch = Some(steps);
        self
    }

    /// Adds a callback.
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Trains and returns the history of every logged value.
    pub fn run(mut self) -> Result<History> {
        let n = self.model.check_data::<Y>(self.x, self.y)?;
        let (x_all, y_flat) = (N::Input::flatten(self.x), Y::flatten(self.y));
        self.model.network.check_input(x_all)?;
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(Error::InvalidArgument { name: "validation_split", reason: "must be in [0, 1)".into() });
        }
        let outputs = Y::COUNT;
        let y_all: Vec<Vec<f32>> = (0..outputs)
            .map(|o| {
                let mut t = Vec::new();
                Y::member_f32(y_flat, o, &mut t);
                t
            })
            .collect();
        self.model.check_targets(&y_all)?;
        let weights = self.sample_weights(&y_all, n)?;

        let n_val = (n as f32 * self.validation_split) as usize;
        let n_train = n - n_val;
        if n_train == 0 {
            return Err(Error::NoData("train on after the validation split"));
        }
        let steps = match self.steps_per_epoch {
            Some(0) => {
                return Err(Error::InvalidArgument { name: "steps_per_epoch", reason: "must be at least 1".into() })
            }
            Some(s) => s,
            None => batches(n_train, self.batch_size)?.count(),
        };

        let model = &mut *self.model;
        let mut order: Vec<usize> = (0..n_train).collect();
        let mut cursor = 0;
        let mut history = History::default();
        let mut progress = Progress::new(self.verbose);
        let mut control = Control { stop_training: false, learning_rate: model.optimizer.learning_rate() };
        let mut logs = Logs::default();
        self.callbacks.iter_mut().for_each(|c| c.on_train_begin(&mut control));

        for epoch in self.initial_epoch..self.epochs {
            self.callbacks.iter_mut().for_each(|c| c.on_epoch_begin(epoch, &mut control));
            model.optimizer.set_learning_rate(control.learning_rate);
            model.reset_metrics();
            progress.begin_epoch(epoch, self.epochs, steps);
            for step in 0..steps {
                if cursor == 0 && self.shuffle {
                    // Each pass shuffles 0..n afresh, so the order depends
                    // only on the generator's state (which checkpoints keep).
                    order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                    order.shuffle(&mut model.rng);
                }
                let take = self.batch_size.min(n_train - cursor);
                let indices = &order[cursor..cursor + take];
                cursor = (cursor + take) % n_train;

                let mut b = std::mem::replace(
                    &mut model.batch,
                    super::BatchBuffers { x: Default::default(), y: Vec::new(), weights: Vec::new() },
                );
                N::Input::gather(x_all, indices, &mut b.x);
                b.y.resize_with(outputs, Vec::new);
                for (o, t) in b.y.iter_mut().enumerate() {
                    let len = Y::member_len(o);
                    t.clear();
                    for &i in indices {
                        t.extend_from_slice(&y_all[o][i * len..(i + 1) * len]);
                    }
                }
                b.weights.clear();
                if let Some(w) = &weights {
                    b.weights.extend(indices.iter().map(|&i| w[i]));
                }
                self.callbacks.iter_mut().for_each(|c| c.on_batch_begin(step, &mut control));
                let sample_weights = weights.as_ref().map(|_| b.weights.as_slice());
                let result = model.step_on(N::Input::view(&b.x), &b.y, sample_weights, take);
                model.batch = b;
                let loss = result.map_err(|e| match e {
                    Error::NonFiniteLoss { loss, .. } => Error::NonFiniteLoss { loss, epoch, batch: step },
                    e => e,
                })?;
                self.callbacks.iter_mut().for_each(|c| c.on_batch_end(step, loss, &mut control));
                model.optimizer.set_learning_rate(control.learning_rate);
                if progress.wants_update(step + 1) {
                    let running: Vec<(String, f32)> = model.metric_results().collect();
                    progress.update(step + 1, &running);
                }
            }
            logs = Logs::default();
            for (name, value) in model.metric_results() {
                logs.set(&name, value);
            }
            let validation = match self.validation_data {
                Some((vx, vy)) => Some(model.evaluate_set::<Y>(vx, vy, self.batch_size)?),
                None if n_val > 0 => {
                    let (vx, vy) = (N::Input::range(x_all, n_train, n), &y_all);
                    Some(model.evaluate_flat(vx, vy, n_train, n, self.batch_size)?)
                }
                None => None,
            };
            if let Some(val) = validation {
                for (name, value) in val.iter() {
                    logs.set(&format!("val_{name}"), value);
                }
            }
            progress.end_epoch(&logs);
            history.record(epoch, &logs);
            model.epoch = epoch + 1;
            self.callbacks.iter_mut().for_each(|c| c.on_epoch_end(epoch, &logs, &mut control));
            model.optimizer.set_learning_rate(control.learning_rate);
            if control.stop_training {
                break;
            }
        }
        self.callbacks.iter_mut().for_each(|c| c.on_train_end(&logs, &mut control));
        Ok(history)
    }

    /// Per-sample weights from `sample_weight` and `class_weight` (multiplied;
    /// classes are read from the first output's targets).
    fn sample_weights(&self, y_all: &[Vec<f32>], n: usize) -> Result<Option<Vec<f32>>> {
        let mut weights: Option<Vec<f32>> = None;
        if let Some(sw) = self.sample_weight {
            if sw.len() != n {
                return Err(Error::SampleCountMismatch { inputs: n, targets: sw.len() });
            }
            weights = Some(sw.to_vec());
        }
        if let Some(cw) = self.class_weight {
            let t_len = Y::member_len(0);
            let out_len = <N::Output as SampleSet>::member_len(0);
            let w = weights.get_or_insert_with(|| vec![1.0; n]);
            for (i, wi) in w.iter_mut().enumerate() {
                let target = &y_all[0][i * t_len..(i + 1) * t_len];
                let class = if t_len == 1 && out_len > 1 {
                    target[0] as usize
                } else if t_len == 1 {
                    usize::from(target[0] > 0.5)
                } else {
                    crate::metrics::argmax(target)
                };
                *wi *= *cw.get(class).ok_or(Error::InvalidArgument {
                    name: "class_weight",
                    reason: format!("no weight for class {class}"),
                })?;
            }
        }
        Ok(weights)
    }
}
