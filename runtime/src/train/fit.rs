//! `fit`: the epoch loop, configured with Keras's argument names.

use super::callbacks::{Callback, Control};
use super::history::{History, Logs};
use super::progress::Progress;
use super::{batches, Model};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::sample::{flatten, Element, Sample};
use rand::seq::SliceRandom;

/// A `fit` call being configured; [`Fit::run`] trains.
#[must_use = "a fit does nothing until `.run()`"]
pub struct Fit<'a, N: Network, Y: Sample> {
    model: &'a mut Model<N>,
    x: &'a [N::Input],
    y: &'a [Y],
    epochs: usize,
    initial_epoch: usize,
    batch_size: usize,
    verbose: u8,
    shuffle: bool,
    validation_split: f32,
    validation_data: Option<(&'a [N::Input], &'a [Y])>,
    sample_weight: Option<&'a [f32]>,
    class_weight: Option<&'a [f32]>,
    steps_per_epoch: Option<usize>,
    callbacks: Vec<&'a mut dyn Callback>,
}

impl<'a, N: Network, Y: Sample> Fit<'a, N, Y> {
    pub(super) fn new(model: &'a mut Model<N>, x: &'a [N::Input], y: &'a [Y]) -> Self {
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
    pub fn validation_data(mut self, x: &'a [N::Input], y: &'a [Y]) -> Self {
        self.validation_data = Some((x, y));
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
        let out_len = self.model.check_data(self.x, self.y)?;
        self.model.network.check_input(flatten(self.x))?;
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(Error::InvalidArgument { name: "validation_split", reason: "must be in [0, 1)".into() });
        }
        let y_all: Vec<f32> = flatten(self.y).iter().map(|v| v.to_f32()).collect();
        self.model.loss.check_targets(&y_all, out_len)?;
        let weights = self.sample_weights(&y_all, out_len)?;
        let model = &mut *self.model;

        let n = self.x.len();
        let n_val = (n as f32 * self.validation_split) as usize;
        let n_train = n - n_val;
        if n_train == 0 {
            return Err(Error::NoData("train on after the validation split"));
        }
        let validation = match self.validation_data {
            Some(data) => Some(data),
            None if n_val > 0 => Some((&self.x[n_train..], &self.y[n_train..])),
            None => None,
        };
        let steps = match self.steps_per_epoch {
            Some(0) => {
                return Err(Error::InvalidArgument { name: "steps_per_epoch", reason: "must be at least 1".into() })
            }
            Some(s) => s,
            None => batches(n_train, self.batch_size)?.count(),
        };

        let (in_len, t_len) = (<N::Input as Sample>::LEN, Y::LEN);
        let x_all = flatten(self.x);
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
                    order.shuffle(&mut model.rng);
                }
                let take = self.batch_size.min(n_train - cursor);
                let indices = &order[cursor..cursor + take];
                cursor = (cursor + take) % n_train;

                let b = &mut model.batch;
                b.x.clear();
                b.y.clear();
                b.weights.clear();
                for &i in indices {
                    b.x.extend_from_slice(&x_all[i * in_len..(i + 1) * in_len]);
                    b.y.extend_from_slice(&y_all[i * t_len..(i + 1) * t_len]);
                    if let Some(w) = &weights {
                        b.weights.push(w[i]);
                    }
                }
                self.callbacks.iter_mut().for_each(|c| c.on_batch_begin(step, &mut control));
                let (bx, by, bw) = (std::mem::take(&mut b.x), std::mem::take(&mut b.y), std::mem::take(&mut b.weights));
                let result = model.step_on(&bx, &by, weights.as_ref().map(|_| bw.as_slice()), take);
                model.batch = super::BatchBuffers { x: bx, y: by, weights: bw };
                let loss = result.map_err(|e| match e {
                    Error::NonFiniteLoss { loss, .. } => Error::NonFiniteLoss { loss, epoch, batch: step },
                    e => e,
                })?;
                self.callbacks.iter_mut().for_each(|c| c.on_batch_end(step, loss, &mut control));
                model.optimizer.set_learning_rate(control.learning_rate);
                let running: Vec<(&str, f32)> = model.metric_results().collect();
                progress.update(step + 1, &running);
            }
            logs = Logs::default();
            for (name, value) in model.metric_results() {
                logs.set(name, value);
            }
            if let Some((vx, vy)) = validation {
                let val = model.evaluate(vx, vy, self.batch_size)?;
                for (name, value) in val.iter() {
                    logs.set(&format!("val_{name}"), value);
                }
            }
            progress.end_epoch(&logs);
            history.record(epoch, &logs);
            self.callbacks.iter_mut().for_each(|c| c.on_epoch_end(epoch, &logs, &mut control));
            model.optimizer.set_learning_rate(control.learning_rate);
            if control.stop_training {
                break;
            }
        }
        self.callbacks.iter_mut().for_each(|c| c.on_train_end(&logs, &mut control));
        Ok(history)
    }

    /// Per-sample weights from `sample_weight` and `class_weight` (multiplied).
    fn sample_weights(&self, y_all: &[f32], out_len: usize) -> Result<Option<Vec<f32>>> {
        let n = self.x.len();
        let mut weights: Option<Vec<f32>> = None;
        if let Some(sw) = self.sample_weight {
            if sw.len() != n {
                return Err(Error::SampleCountMismatch { inputs: n, targets: sw.len() });
            }
            weights = Some(sw.to_vec());
        }
        if let Some(cw) = self.class_weight {
            let t_len = Y::LEN;
            let w = weights.get_or_insert_with(|| vec![1.0; n]);
            for (i, wi) in w.iter_mut().enumerate() {
                let target = &y_all[i * t_len..(i + 1) * t_len];
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
