//! `fit`: the epoch loop, configured with Keras's argument names.

use super::callbacks::{each, Callback, FitParams};
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
    validation_split: f64,
    validation_data: Option<(<N::Input as SampleSet>::Batch<'a>, Y::Batch<'a>)>,
    sample_weight: Option<&'a [f32]>,
    class_weight: Option<&'a [f32]>,
    steps_per_epoch: Option<usize>,
    callbacks: Vec<&'a mut dyn Callback<N>>,
    backup: Option<super::checkpoint::Backup>,
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
            backup: None,
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

    /// Holds out the *last* samples (before shuffling) for validation, as
    /// Keras 3 does: the first `floor(n · (1 − fraction))` samples train
    /// (computed in `f64`, like Keras's Python floats, so `0.3` splits as in
    /// Keras) and the rest validate. Ignored when `validation_data` is given.
    pub fn validation_split(mut self, fraction: f64) -> Self {
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

    /// Weights each sample's loss (one weight per sample, finite and ≥ 0),
    /// and the weighted metrics ([`Model::weighted_metrics`]).
    pub fn sample_weight(mut self, weights: &'a [f32]) -> Self {
        self.sample_weight = Some(weights);
        self
    }

    /// Weights each sample's loss (and the weighted metrics) by its class,
    /// `weights[class]`: the rounded label for one target value per sample,
    /// the argmax of one-hot targets, as Keras does. As in Keras, only for
    /// models with one output, and not together with `sample_weight`.
    pub fn class_weight(mut self, weights: &'a [f32]) -> Self {
        self.class_weight = Some(weights);
        self
    }

    /// Batches per epoch; epochs wrap around the data (default: one pass).
    pub fn steps_per_epoch(mut self, steps: usize) -> Self {
        self.steps_per_epoch = Some(steps);
        self
    }

    /// Adds a callback; callbacks run in the order they were added, then
    /// the progress bar and the `History` (as in Keras, they see what the
    /// callbacks added to the logs, such as `learning_rate`).
    pub fn callback(mut self, callback: &'a mut dyn Callback<N>) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Adds several callbacks (Keras's `callbacks=[…]`).
    pub fn callbacks(mut self, callbacks: impl IntoIterator<Item = &'a mut dyn Callback<N>>) -> Self {
        self.callbacks.extend(callbacks);
        self
    }

    /// Keras's `BackupAndRestore`: writes the whole training state to
    /// `path` ([`Model::save`]'s format, atomically, rank 0 only when
    /// data-parallel) after every epoch and, with
    /// [`SaveFreq::Batches`](crate::train::SaveFreq::Batches)`(k)`, after every `k`-th step counted from
    /// the start of training; if `path` exists when `fit` starts, training
    /// continues from it (weights, optimizer, epoch, the step inside the
    /// epoch, the shuffled order and the epoch's running metrics), so the
    /// weights and logs are bit for bit those of an uninterrupted run.
    /// Restarting the same command after a crash resumes; after the last
    /// epoch the file stays, and running the command again trains nothing.
    /// Callbacks' own state (e.g. `EarlyStopping`'s patience) is not kept.
    pub fn backup_and_restore(mut self, path: impl Into<std::path::PathBuf>, save_freq: super::SaveFreq) -> Self {
        self.backup = Some(super::checkpoint::Backup::new(path.into(), save_freq));
        self
    }

    /// Trains and returns the history of every logged value.
    ///
    /// Every argument is checked before the first step: sample counts and
    /// target shapes, NaN or infinite values in `x`, `y`, `sample_weight`
    /// and `validation_data` ([`Error::NonFinite`]), token ids, label ranges,
    /// the weights, `validation_split`, `batch_size`, `steps_per_epoch` and
    /// the optimizer's hyper-parameters.
    ///
    /// # Errors
    /// Those checks' errors, or [`Error::NonFiniteLoss`] /
    /// [`Error::NonFiniteGradient`] when a step would make the model
    /// non-finite (that step is not applied).
    pub fn run(mut self) -> Result<History> {
        self.model.optimizer.validate()?;
        let (n, x_all, y_all) = self.model.prepare::<Y>(self.x, self.y, "train on")?;
        super::check_batch_size(self.batch_size)?;
        let outputs = Y::COUNT;
        let (user_weights, weights) = self.sample_weights(&y_all, n)?;
        let validation = match self.validation_data {
            Some((vx, vy)) => {
                let (nv, vx, vt) =
                    self.model.prepare::<Y>(vx, vy, "validate on").map_err(|e| Error::ValidationData(Box::new(e)))?;
                Some((nv, vx, vt))
            }
            None => None,
        };
        let split = self.validation_split;
        if !(0.0..1.0).contains(&split) {
            return Err(Error::InvalidArgument {
                name: "validation_split",
                reason: format!("must be in [0, 1), but is {split}"),
            });
        }
        // Keras 3's `train_validation_split`: the first floor(n·(1 − split)) samples train.
        let n_train = if split > 0.0 && validation.is_none() {
            let split_at = (n as f64 * (1.0 - split)).floor() as usize;
            if split_at == 0 || split_at == n {
                return Err(Error::InvalidArgument {
                    name: "validation_split",
                    reason: format!(
                        "{n} samples cannot be split by validation_split = {split}: it leaves {split_at} for training and {} for validation",
                        n - split_at
                    ),
                });
            }
            split_at
        } else {
            n
        };
        let n_val = n - n_train;
        let steps = match self.steps_per_epoch {
            Some(0) => {
                return Err(Error::InvalidArgument {
                    name: "steps_per_epoch",
                    reason: "must be at least 1, but is 0".into(),
                })
            }
            Some(s) => s,
            None => batches(n_train, self.batch_size)?.count(),
        };

        let model = &mut *self.model;
        let callbacks = &mut self.callbacks[..];
        let params = FitParams { epochs: self.epochs, steps, verbose: self.verbose };
        let mut order: Vec<usize> = (0..n_train).collect();
        let mut cursor = 0;
        // Backup and restore: the run's shape, the step to start from, and
        // where the current pass's shuffle started.
        let shape = (n_train, self.batch_size, steps, self.shuffle);
        let (mut first_step, mut pass_start) = (0, 0);
        if let Some(resume) = self.backup.as_ref().map(|b| b.restore(model, shape, &mut order)).transpose()?.flatten() {
            (self.initial_epoch, first_step, cursor, pass_start) =
                (resume.epoch, resume.step, resume.cursor, resume.pass_start);
        }
        let mut history = History::default();
        // Data-parallel: only rank 0 prints.
        let mut progress = Progress::new(if model.replica().0 == 0 { self.verbose } else { 0 });
        // The last epoch's logs (for `on_train_end`) and the running logs of
        // a batch, reused so batches allocate nothing.
        let mut logs = Logs::default();
        let mut batch_logs = Logs::default();
        model.stop_training = false;
        each(callbacks, model, params, |c, ctx| c.on_train_begin(ctx))?;

        for epoch in self.initial_epoch..self.epochs {
            let first_step = std::mem::take(&mut first_step);
            if first_step == 0 {
                model.reset_metrics(); // else restored mid-epoch by the backup
            }
            each(callbacks, model, params, |c, ctx| c.on_epoch_begin(epoch, ctx))?;
            model.optimizer.validate()?;
            progress.begin_epoch(epoch, self.epochs, steps);
            for step in first_step..steps {
                if !callbacks.is_empty() {
                    each(callbacks, model, params, |c, ctx| c.on_train_batch_begin(step, ctx))?;
                    model.optimizer.validate()?;
                }
                if cursor == 0 && self.shuffle {
                    // Each pass shuffles 0..n afresh, so the order depends
                    // only on the generator's state (which checkpoints keep).
                    pass_start = model.rng.get_word_pos();
                    order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                    order.shuffle(&mut model.rng);
                }
                let take = self.batch_size.min(n_train - cursor);
                // Data-parallel: this rank's part of the global batch.
                let indices = model.shard_of(&order[cursor..cursor + take]);
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
                let sample_weights = weights.as_ref().map(|_| b.weights.as_slice());
                let result = model.step_on(N::Input::view(&b.x), &b.y, sample_weights, indices.len());
                model.batch = b;
                let result = result.map_err(|e| match e {
                    Error::NonFiniteLoss { loss, .. } => Error::NonFiniteLoss { loss, epoch, batch: step },
                    Error::NonFiniteGradient { parameter, index, .. } => {
                        Error::NonFiniteGradient { parameter, index, epoch, batch: step }
                    }
                    e => e,
                });
                match result {
                    Ok(_) if callbacks.is_empty() => {}
                    Ok(_) => {
                        model.fill_logs(&mut batch_logs);
                        each(callbacks, model, params, |c, ctx| c.on_train_batch_end(step, &batch_logs, ctx))?;
                        model.optimizer.validate()?;
                    }
                    // A refused step: callbacks see its loss (TerminateOnNan
                    // stops on it); unless one stops training, it is an error.
                    Err(e @ (Error::NonFiniteLoss { .. } | Error::NonFiniteGradient { .. }))
                        if !callbacks.is_empty() =>
                    {
                        model.fill_logs(&mut batch_logs);
                        if let Error::NonFiniteLoss { loss, .. } = e {
                            batch_logs.set("loss", loss);
                        }
                        each(callbacks, model, params, |c, ctx| c.on_train_batch_end(step, &batch_logs, ctx))?;
                        if !model.stop_training {
                            return Err(e);
                        }
                    }
                    Err(e) => return Err(e),
                }
                if let Some(backup) = &self.backup {
                    backup.after_step(model, (epoch, step + 1, steps), (cursor, pass_start), shape)?;
                }
                if model.stop_training {
                    break;
                }
                if progress.wants_update(step + 1) {
                    let running: Vec<(String, f32)> = model.metric_results().collect();
                    progress.update(step + 1, &running);
                }
            }
            logs = Logs::default();
            model.fill_logs(&mut logs);
            let val_logs = match &validation {
                Some((nv, vx, vt)) => {
                    Some(model.evaluate_flat(*vx, vt, None, 0, *nv, self.batch_size, callbacks, params)?)
                }
                None if n_val > 0 => {
                    // As Keras splits `sample_weight` with the data, the held-out
                    // part is weighted by it (class weights apply to training only).
                    let (vx, vy) = (N::Input::range(x_all, n_train, n), &y_all);
                    let w = user_weights.as_deref();
                    Some(model.evaluate_flat(vx, vy, w, n_train, n, self.batch_size, callbacks, params)?)
                }
                None => None,
            };
            if let Some(val) = val_logs {
                for (name, value) in val.iter() {
                    logs.set(&format!("val_{name}"), value);
                }
            }
            model.epoch = epoch + 1;
            each(callbacks, model, params, |c, ctx| c.on_epoch_end(epoch, &mut logs, ctx))?;
            model.optimizer.validate()?;
            // Keras appends the progress bar and the History after the user's callbacks.
            progress.end_epoch(&logs);
            history.record(epoch, &logs);
            if let Some(backup) = &self.backup {
                backup.after_epoch(model, (cursor, pass_start), shape)?;
            }
            if model.stop_training {
                break;
            }
        }
        each(callbacks, model, params, |c, ctx| c.on_train_end(&logs, ctx))?;
        Ok(history)
    }

    /// Checks `sample_weight` and `class_weight` and returns
    /// `(sample_weight, the weights training uses)`: the sample weights, or
    /// the class weights looked up per sample.
    #[allow(clippy::type_complexity)]
    fn sample_weights(&self, y_all: &[Vec<f32>], n: usize) -> Result<(Option<Vec<f32>>, Option<Vec<f32>>)> {
        if let Some(sw) = self.sample_weight {
            if sw.len() != n {
                return Err(Error::InvalidArgument {
                    name: "sample_weight",
                    reason: format!(
                        "needs one weight per sample: x holds {n} samples, but {} weights were given",
                        sw.len()
                    ),
                });
            }
            if let Some(i) = crate::sample::first_non_finite(sw) {
                return Err(Error::NonFinite { argument: "sample_weight".into(), value: sw[i], sample: i, feature: 0 });
            }
            if let Some(i) = sw.iter().position(|&w| w < 0.0) {
                return Err(Error::InvalidArgument {
                    name: "sample_weight",
                    reason: format!("weights must be ≥ 0, but the weight of sample {i} is {}", sw[i]),
                });
            }
            if self.class_weight.is_some() {
                return Err(Error::InvalidArgument {
                    name: "class_weight",
                    reason: "cannot be given together with sample_weight (Keras refuses it too)".into(),
                });
            }
            return Ok((Some(sw.to_vec()), Some(sw.to_vec())));
        }
        let Some(cw) = self.class_weight else { return Ok((None, None)) };
        if Y::COUNT != 1 {
            return Err(Error::InvalidArgument {
                name: "class_weight",
                reason: format!("is only supported for models with one output, but this one has {}", Y::COUNT),
            });
        }
        if let Some(c) = cw.iter().position(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::InvalidArgument {
                name: "class_weight",
                reason: format!("weights must be finite and ≥ 0, but the weight of class {c} is {}", cw[c]),
            });
        }
        let t_len = Y::member_len(0);
        let mut w = Vec::with_capacity(n);
        for (i, target) in y_all[0].chunks_exact(t_len).enumerate() {
            // Keras's `class_weight_to_sample_weights`: argmax of one-hot
            // rows, otherwise the label rounded (half to even, as numpy does).
            let class = if t_len > 1 { crate::metrics::argmax(target) as f32 } else { target[0].round_ties_even() };
            let weight = (class >= 0.0).then(|| cw.get(class as usize)).flatten();
            w.push(*weight.ok_or_else(|| Error::InvalidArgument {
                name: "class_weight",
                reason: format!("has weights for classes 0..{}, but sample {i} is of class {class}", cw.len()),
            })?);
        }
        Ok((None, Some(w)))
    }
}
