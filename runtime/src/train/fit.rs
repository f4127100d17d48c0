//! `fit`: the epoch loop, configured with Keras's argument names.

use super::callbacks::{each, Callback, FitParams};
use super::history::{History, Logs};
use super::progress::Progress;
use super::{batches, Model};
use crate::data::{BatchStream, Cardinality, IntoBatches};
use crate::error::{at_least_one, Error, Result};
use crate::network::{InputFlat, Network};
use crate::sample::SampleSet;
use rand::seq::SliceRandom;

/// Where `fit` (or `evaluate`) reads its samples from.
pub(super) enum Data<'a, N: Network, Y: SampleSet> {
    /// In-memory arrays, batched by `fit`.
    Arrays(<N::Input as SampleSet>::Batch<'a>, Y::Batch<'a>),
    /// Batches from a generator or a [`crate::data::Dataset`].
    Stream(Box<dyn BatchStream<N::Input, Y> + 'a>),
}

/// A `fit` call being configured; [`Fit::run`] trains.
#[must_use = "a fit does nothing until `.run()`"]
pub struct Fit<'a, N: Network, Y: SampleSet> {
    model: &'a mut Model<N>,
    /// Taken by `run`.
    data: Option<Data<'a, N, Y>>,
    epochs: usize,
    initial_epoch: usize,
    /// `None` until given: Keras's `batch_size=None` (32, or for arrays
    /// read `steps` batches at a time, `ceil(n / steps)`).
    batch_size: Option<usize>,
    verbose: u8,
    shuffle: bool,
    validation_split: f64,
    validation_data: Option<Data<'a, N, Y>>,
    validation_steps: Option<usize>,
    validation_freq: usize,
    sample_weight: Option<&'a [f32]>,
    class_weight: Option<&'a [f32]>,
    steps_per_epoch: Option<usize>,
    callbacks: Vec<&'a mut dyn Callback<N>>,
    backup: Option<super::checkpoint::Backup>,
}

impl<'a, N: Network, Y: SampleSet> Fit<'a, N, Y> {
    pub(super) fn new(model: &'a mut Model<N>, x: <N::Input as SampleSet>::Batch<'a>, y: Y::Batch<'a>) -> Self {
        Self::on(model, Data::Arrays(x, y))
    }

    fn on(model: &'a mut Model<N>, data: Data<'a, N, Y>) -> Self {
        Fit {
            model,
            data: Some(data),
            epochs: 1,
            initial_epoch: 0,
            batch_size: None,
            verbose: 1,
            shuffle: true,
            validation_split: 0.0,
            validation_data: None,
            validation_steps: None,
            validation_freq: 1,
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
        self.batch_size = Some(batch_size);
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
        self.validation_data = Some(Data::Arrays(x.into_batch(), y.into_batch()));
        self
    }

    /// Validates on batches from a generator or a [`crate::data::Dataset`]
    /// after every epoch (Keras's `validation_data=dataset`): a dataset
    /// of known size is read to its end, otherwise `validation_steps`
    /// batches are read.
    pub fn validation_from<D>(mut self, data: D) -> Self
    where
        D: IntoBatches<'a, X = N::Input, Y = Y>,
    {
        self.validation_data = Some(Data::Stream(data.into_stream()));
        self
    }

    /// Batches per validation (Keras's `validation_steps`): from a dataset,
    /// its first batches at every validation (Keras's `evaluate` resets
    /// its iterator); from a generator, the next ones (it cannot start
    /// over); from arrays (`validation_data`, `validation_split`), their
    /// first batches, all of them when they hold fewer.
    pub fn validation_steps(mut self, steps: usize) -> Self {
        self.validation_steps = Some(steps);
        self
    }

    /// Validates after every `freq`-th epoch only (Keras's integer
    /// `validation_freq`: epochs `freq`, `2·freq`, … counted from 1); the
    /// logs and the history have `val_` values only for those epochs.
    pub fn validation_freq(mut self, freq: usize) -> Self {
        self.validation_freq = freq;
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
    /// the weights, `validation_split`, `batch_size`, `steps_per_epoch`,
    /// `validation_steps`, `validation_freq` and the optimizer's
    /// hyper-parameters. Batches from a generator or a dataset are checked
    /// the same way as they arrive, before their step.
    ///
    /// # Errors
    /// Those checks' errors, or [`Error::NonFiniteLoss`] /
    /// [`Error::NonFiniteGradient`] when a step would make the model
    /// non-finite (that step is not applied). A generator that ends before
    /// `steps_per_epoch × epochs` batches is [`Error::InvalidArgument`]
    /// naming `steps_per_epoch` (Keras warns "Your input ran out of data"
    /// and stops); a dataset of known size too short for `steps_per_epoch`
    /// or `validation_steps` is that error before training begins.
    pub fn run(mut self) -> Result<History> {
        self.model.optimizer.validate()?;
        self.model.validate_weight_options()?;
        let batch_size = self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        at_least_one("batch_size", batch_size)?;
        at_least_one("validation_freq", self.validation_freq)?;
        self.validation_steps.map_or(Ok(()), |s| at_least_one("validation_steps", s))?;
        let data = self.data.take().expect("`run` consumes the fit");
        let (memory, mut stream) = match data {
            Data::Arrays(x, y) => (Some(self.memory(x, y)?), None),
            Data::Stream(stream) => {
                if self.sample_weight.is_some() || self.class_weight.is_some() || self.validation_split != 0.0 {
                    let name = if self.sample_weight.is_some() {
                        "sample_weight"
                    } else if self.class_weight.is_some() {
                        "class_weight"
                    } else {
                        "validation_split"
                    };
                    return Err(Error::InvalidArgument {
                        name,
                        reason: "is not supported with a generator or dataset (as in Keras): put sample weights in \
                                 the batches, `(x, y, sample_weight)`, and pass validation batches with \
                                 `validation_from`"
                            .into(),
                    });
                }
                self.model.check_target_shapes::<Y>()?;
                let feed = Feed::new(stream, self.steps_per_epoch, "steps_per_epoch")?;
                feed.check_passes(self.epochs.saturating_sub(self.initial_epoch), "epoch")?;
                (None, Some(feed))
            }
        };
        let mut validation = match self.validation_data.take() {
            Some(Data::Arrays(vx, vy)) => {
                let (nv, vx, vt) =
                    self.model.prepare::<Y>(vx, vy, "validate on").map_err(|e| Error::ValidationData(Box::new(e)))?;
                Some(Validation::<N, Y>::Arrays(nv, vx, vt))
            }
            Some(Data::Stream(s)) => {
                self.model.check_target_shapes::<Y>().map_err(|e| Error::ValidationData(Box::new(e)))?;
                let feed = Feed::new(s, self.validation_steps, "validation_steps")?.restarting_each_pass();
                feed.check_passes(1, "validation")?;
                Some(Validation::Stream(feed))
            }
            None => None,
        };
        let steps = match (&memory, &stream) {
            (Some(m), _) => m.steps,
            (None, Some(feed)) => feed.steps,
            (None, None) => unreachable!("one data source"),
        };
        let (n_train, n_val) = memory.as_ref().map_or((0, 0), |m| (m.n_train, m.n - m.n_train));
        if stream.is_some() && self.backup.is_some() {
            return Err(Error::InvalidArgument {
                name: "backup_and_restore",
                reason: "resuming needs in-memory data: a generator or Dataset cannot be rewound to the saved step"
                    .into(),
            });
        }

        let model = &mut *self.model;
        let callbacks = &mut self.callbacks[..];
        let params = FitParams { epochs: self.epochs, steps, verbose: self.verbose };
        let mut order: Vec<usize> = (0..n_train).collect();
        let mut cursor = 0;
        // Backup and restore: the run's shape, the step to start from, and
        // where the current pass's shuffle started.
        let shape = (n_train, batch_size, steps, self.shuffle);
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
            if let Some(feed) = &mut stream {
                feed.begin_pass()?;
            }
            for step in first_step..steps {
                if !callbacks.is_empty() {
                    each(callbacks, model, params, |c, ctx| c.on_train_batch_begin(step, ctx))?;
                    model.optimizer.validate()?;
                }
                let result = match (&memory, &mut stream) {
                    (Some(mem), _) => {
                        if cursor == 0 && self.shuffle {
                            // Each pass shuffles 0..n afresh, so the order depends
                            // only on the generator's state (which checkpoints keep).
                            pass_start = model.rng.get_word_pos();
                            order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                            order.shuffle(&mut model.rng);
                        }
                        let take = batch_size.min(n_train - cursor);
                        // Data-parallel: this rank's part of the global batch.
                        let indices = model.shard_of(&order[cursor..cursor + take]);
                        cursor = (cursor + take) % n_train;
                        mem.step(model, indices)
                    }
                    (None, Some(feed)) => feed.train_step(model, epoch, step)?,
                    (None, None) => unreachable!("one data source"),
                };
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
            // Keras's `_should_eval`: epochs are counted from 1 there.
            let validate_now = (epoch + 1) % self.validation_freq == 0;
            let val_logs = match &mut validation {
                _ if !validate_now => None,
                Some(Validation::<N, Y>::Arrays(nv, vx, vt)) => {
                    let (batch, end) = steps_batch(*nv, self.validation_steps, self.batch_size);
                    Some(model.evaluate_flat(*vx, vt, None, 0, end, batch, callbacks, params)?)
                }
                Some(Validation::Stream(feed)) => Some(model.evaluate_feed(feed, callbacks, params, None)?),
                None if n_val > 0 => {
                    // As Keras splits `sample_weight` with the data, the held-out
                    // part is weighted by it (class weights apply to training only).
                    let mem = memory.as_ref().expect("a split needs arrays");
                    let (batch, read) = steps_batch(n_val, self.validation_steps, self.batch_size);
                    let end = n_train + read;
                    let (vx, vy) = (N::Input::range(mem.x, n_train, end), &mem.y);
                    let w = mem.user_weights.as_deref();
                    Some(model.evaluate_flat(vx, vy, w, n_train, end, batch, callbacks, params)?)
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

    /// Checks in-memory `x`, `y`, the weights and `validation_split`.
    fn memory<'x>(&self, x: <N::Input as SampleSet>::Batch<'x>, y: Y::Batch<'_>) -> Result<Memory<'x, N>> {
        let (n, x_all, y_all) = self.model.prepare::<Y>(x, y, "train on")?;
        let (user_weights, weights) = self.sample_weights(&y_all, n)?;
        let split = self.validation_split;
        if !(0.0..1.0).contains(&split) {
            return Err(Error::InvalidArgument {
                name: "validation_split",
                reason: format!("must be in [0, 1), but is {split}"),
            });
        }
        // Keras 3's `train_validation_split`: the first floor(n·(1 − split)) samples train.
        let n_train = if split > 0.0 && self.validation_data.is_none() {
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
        let steps = match self.steps_per_epoch {
            Some(s) => at_least_one("steps_per_epoch", s).map(|()| s)?,
            None => batches(n_train, self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE))?.count(),
        };
        Ok(Memory { x: x_all, y: y_all, n, n_train, user_weights, weights, steps })
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

/// In-memory training data, checked.
struct Memory<'x, N: Network> {
    x: InputFlat<'x, N>,
    /// Per-output targets as `f32`.
    y: Vec<Vec<f32>>,
    n: usize,
    /// The first `n_train` samples train, the rest validate (`validation_split`).
    n_train: usize,
    /// `sample_weight` as given (the validation split is weighted by it).
    user_weights: Option<Vec<f32>>,
    /// The weights training uses: `sample_weight`, or `class_weight` per sample.
    weights: Option<Vec<f32>>,
    steps: usize,
}

impl<N: Network> Memory<'_, N> {
    /// Gathers the samples at `indices` into the model's batch buffers and
    /// takes one step on them.
    fn step(&self, model: &mut Model<N>, indices: &[usize]) -> Result<f32> {
        let mut b = std::mem::replace(
            &mut model.batch,
            super::BatchBuffers { x: Default::default(), y: Vec::new(), weights: Vec::new() },
        );
        N::Input::gather(self.x, indices, &mut b.x);
        b.y.resize_with(self.y.len(), Vec::new);
        for (o, t) in b.y.iter_mut().enumerate() {
            let len = self.y[o].len() / self.n;
            t.clear();
            for &i in indices {
                t.extend_from_slice(&self.y[o][i * len..(i + 1) * len]);
            }
        }
        b.weights.clear();
        if let Some(w) = &self.weights {
            b.weights.extend(indices.iter().map(|&i| w[i]));
        }
        let sample_weights = self.weights.as_ref().map(|_| b.weights.as_slice());
        let result = model.step_on(N::Input::view(&b.x), &b.y, sample_weights, indices.len());
        model.batch = b;
        result
    }
}

/// Validation data, checked.
enum Validation<'x, N: Network, Y: SampleSet> {
    Arrays(usize, InputFlat<'x, N>, Vec<Vec<f32>>),
    Stream(Feed<'x, N::Input, Y>),
}

/// A generator or dataset read `steps` batches at a time (an epoch, a
/// validation, an evaluation), following Keras's `EpochIterator`: with an
/// explicit step count the stream carries on across passes (a dataset
/// starts over once it has yielded all its batches); without one, each
/// pass reads a dataset of known size from its start to its end.
pub(super) struct Feed<'x, X: SampleSet, Y: SampleSet> {
    stream: Box<dyn BatchStream<X, Y> + 'x>,
    pub(super) steps: usize,
    /// Whether passes carry on in one stream (an explicit step count).
    persistent: bool,
    /// Whether every pass starts the stream over if it can (a dataset;
    /// a generator carries on): validation, as Keras's `evaluate` resets
    /// its iterator.
    restart_each_pass: bool,
    /// Batches read in the stream's current pass.
    seen: usize,
    started: bool,
    /// The argument that sets the step count, for errors.
    name: &'static str,
}

impl<'x, X: SampleSet, Y: SampleSet> Feed<'x, X, Y> {
    /// `steps`: the `steps_per_epoch` / `validation_steps` / `steps` argument, named `name`.
    pub(super) fn new(
        stream: Box<dyn BatchStream<X, Y> + 'x>,
        steps: Option<usize>,
        name: &'static str,
    ) -> Result<Self> {
        stream.check()?;
        let (steps, persistent) = match (steps, stream.cardinality()) {
            (Some(s), _) => (at_least_one(name, s).map(|()| s)?, true),
            (None, Cardinality::Finite(0)) => {
                return Err(Error::InvalidArgument { name, reason: "is not given and the dataset is empty".into() });
            }
            (None, Cardinality::Finite(c)) => (c, false),
            (None, Cardinality::Infinite) => {
                return Err(Error::InvalidArgument {
                    name,
                    reason: "must be given for a dataset that repeats for ever (how many batches make a pass?)".into(),
                });
            }
            (None, Cardinality::Unknown) => {
                return Err(Error::InvalidArgument {
                    name,
                    reason: "must be given for a generator (its length is unknown; Keras's fit_generator needs it too)"
                        .into(),
                });
            }
        };
        Ok(Feed { stream, steps, persistent, restart_each_pass: false, seen: 0, started: false, name })
    }

    /// Starts a pass: a fresh one over the dataset unless the stream
    /// carries on (and has batches left).
    pub(super) fn begin_pass(&mut self) -> Result<()> {
        let exhausted = matches!(self.stream.cardinality(), Cardinality::Finite(c) if self.seen >= c);
        if self.started && (!self.persistent || exhausted || self.restart_each_pass) && self.stream.restart()? {
            self.seen = 0;
        }
        self.started = true;
        Ok(())
    }

    /// Calls `f` on the next batch, after checking it like in-memory data
    /// (finite values, ids, label ranges, weights) with `model`'s outputs
    /// converted to `f32` targets in `targets`.
    #[allow(clippy::type_complexity)]
    fn next<N: Network<Input = X>>(
        &mut self,
        model: &mut Model<N>,
        targets: &mut Vec<Vec<f32>>,
        f: &mut dyn FnMut(&mut Model<N>, X::Flat<'_>, &[Vec<f32>], Option<&[f32]>, usize) -> Result<()>,
    ) -> Result<bool> {
        let got = self.stream.next_with(&mut |x, y, w, n| {
            model.check_values::<Y>(x, y)?;
            if let Some(w) = w {
                check_weights(w)?;
            }
            targets.resize_with(Y::COUNT, Vec::new);
            for (o, t) in targets.iter_mut().enumerate() {
                Y::member_f32(y, o, t);
            }
            model.check_targets(targets)?;
            f(model, x, targets, w, n)
        })?;
        self.seen += usize::from(got);
        Ok(got)
    }

    /// This feed, starting the stream over at every pass when it can (see
    /// `restart_each_pass`).
    pub(super) fn restarting_each_pass(mut self) -> Self {
        self.restart_each_pass = true;
        self
    }

    /// Refuses a dataset of known size that would run out within `passes`
    /// passes of `steps` batches (`what`: "epoch", …), before any pass
    /// begins. A carried-on stream (`begin_pass`) starts over only at a
    /// pass that finds it exhausted, so `batches / steps` passes fit whole;
    /// unless `steps` divides `batches`, the next one runs out in its step
    /// `batches % steps + 1`. (It assumes every pass runs: a run that
    /// `EarlyStopping` would end sooner is refused too.)
    pub(super) fn check_passes(&self, passes: usize, what: &str) -> Result<()> {
        let Cardinality::Finite(batches) = self.stream.cardinality() else { return Ok(()) };
        if !self.persistent || passes == 0 {
            return Ok(()); // A pass reads the whole dataset.
        }
        let passes = if self.restart_each_pass { 1 } else { passes };
        let whole = batches / self.steps;
        if self.steps <= batches && (batches.is_multiple_of(self.steps) || passes <= whole) {
            return Ok(());
        }
        Err(Error::InvalidArgument {
            name: self.name,
            reason: format!(
                "is {}, but the dataset holds {batches} batches and runs out in step {} of {what} {}: {}",
                self.steps,
                batches % self.steps + 1,
                whole + 1,
                self.ran_out_advice(what)
            ),
        })
    }

    /// What a stream must do to last, for the errors when it does not.
    fn ran_out_advice(&self, what: &str) -> String {
        format!(
            "a generator must yield {} batches per {what} (Keras: \"Your input ran out of data\"); a Dataset can \
             `.repeat()`",
            self.steps
        )
    }

    /// The error for a stream that ended in step `step` (0-based) of pass `pass` (0-based).
    fn ran_out(&self, what: &str, pass: usize, step: usize) -> Error {
        Error::InvalidArgument {
            name: self.name,
            reason: format!(
                "is {}, but the data ran out in step {} of {what} {}: {}",
                self.steps,
                step + 1,
                pass + 1,
                self.ran_out_advice(what)
            ),
        }
    }

    /// One training step on the next batch; the outer error is the
    /// stream's (a bad batch, the end of the data), the inner one the step's.
    fn train_step<N: Network<Input = X>>(
        &mut self,
        model: &mut Model<N>,
        epoch: usize,
        step: usize,
    ) -> Result<Result<f32>> {
        let mut targets = std::mem::take(&mut model.batch.y);
        let mut result = Ok(0.0);
        let got = self.next(model, &mut targets, &mut |model, x, y, w, n| {
            result = model.step_on(x, y, w, n);
            Ok(())
        });
        model.batch.y = targets;
        if !got? {
            return Err(self.ran_out("epoch", epoch, step));
        }
        Ok(result)
    }
}

/// Sample weights from a stream: finite and ≥ 0.
fn check_weights(w: &[f32]) -> Result<()> {
    if let Some(i) = crate::sample::first_non_finite(w) {
        return Err(Error::NonFinite { argument: "sample_weight".into(), value: w[i], sample: i, feature: 0 });
    }
    if let Some(i) = w.iter().position(|&v| v < 0.0) {
        return Err(Error::InvalidArgument {
            name: "sample_weight",
            reason: format!("weights must be ≥ 0, but the weight of sample {i} is {}", w[i]),
        });
    }
    Ok(())
}

impl<N: Network> Model<N> {
    /// Evaluates `feed.steps` batches of a stream (one pass), calling
    /// `callbacks`' `on_test_*` hooks and drawing `progress` when given.
    fn evaluate_feed<Y: SampleSet>(
        &mut self,
        feed: &mut Feed<'_, N::Input, Y>,
        callbacks: &mut [&mut dyn Callback<N>],
        params: FitParams,
        mut progress: Option<&mut Progress>,
    ) -> Result<Logs> {
        feed.begin_pass()?;
        each(callbacks, self, params, |c, ctx| c.on_test_begin(ctx))?;
        let saved = self.begin_evaluation();
        let mut targets = std::mem::take(&mut self.batch.y);
        let mut batch_logs = Logs::default();
        let mut run = |model: &mut Self, targets: &mut Vec<Vec<f32>>| -> Result<()> {
            for b in 0..feed.steps {
                each(callbacks, model, params, |c, ctx| c.on_test_batch_begin(b, ctx))?;
                let got = feed.next(model, targets, &mut |model, x, y, w, n| {
                    model.test_batch(x, y, 0, w, n, n);
                    Ok(())
                })?;
                if !got {
                    return Err(feed.ran_out("evaluation", 0, b));
                }
                if !callbacks.is_empty() {
                    model.fill_logs(&mut batch_logs);
                    each(callbacks, model, params, |c, ctx| c.on_test_batch_end(b, &batch_logs, ctx))?;
                }
                if let Some(p) = progress.as_deref_mut() {
                    if p.wants_update(b + 1) {
                        let running: Vec<(String, f32)> = model.metric_results().collect();
                        p.update(b + 1, &running);
                    }
                }
            }
            Ok(())
        };
        let result = run(self, &mut targets);
        self.batch.y = targets;
        // The running values from before the evaluation come back on errors too.
        let logs = self.end_evaluation(saved);
        result?;
        each(callbacks, self, params, |c, ctx| c.on_test_end(&logs, ctx))?;
        Ok(logs)
    }
}

/// An `evaluate` call being configured (Keras's `evaluate(x, y,
/// batch_size, verbose, steps, callbacks)`); [`Evaluate::run`] evaluates.
#[must_use = "an evaluation does nothing until `.run()`"]
pub struct Evaluate<'a, N: Network, Y: SampleSet> {
    model: &'a mut Model<N>,
    data: Data<'a, N, Y>,
    /// `None` until given (see `Fit::batch_size`'s field).
    batch_size: Option<usize>,
    verbose: u8,
    steps: Option<usize>,
    callbacks: Vec<&'a mut dyn Callback<N>>,
}

impl<'a, N: Network, Y: SampleSet> Evaluate<'a, N, Y> {
    /// Samples per batch for arrays (default 32; a stream's batches are its own).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// 0 silent, 1 progress bar (Keras's default), 2 one line.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Batches to read (Keras's `steps`; needed for a generator or a
    /// dataset that repeats for ever): from arrays, their first `steps`
    /// batches, all of them when they hold fewer.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = Some(steps);
        self
    }

    /// Adds a callback (its `on_test_*` hooks run).
    pub fn callback(mut self, callback: &'a mut dyn Callback<N>) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// The loss and metrics, with Keras's names. The model's running
    /// metrics (those of a `fit` in progress) are left as they were.
    ///
    /// # Errors
    /// As [`Model::evaluate`]; for a stream, a missing `steps` or a stream
    /// that ends early ([`Error::InvalidArgument`] naming `steps`), and a
    /// bad batch's error.
    pub fn run(self) -> Result<Logs> {
        let Evaluate { model, data, batch_size, verbose, steps, mut callbacks } = self;
        let mut progress = Progress::new(if model.replica().0 == 0 { verbose } else { 0 });
        let logs = match data {
            Data::Arrays(x, y) => {
                model.evaluate_set_with::<Y>(x, y, batch_size, steps, &mut callbacks, Some(&mut progress))?
            }
            Data::Stream(stream) => {
                model.check_target_shapes::<Y>()?;
                let mut feed = Feed::new(stream, steps, "steps")?;
                feed.check_passes(1, "evaluation")?;
                let params = FitParams { epochs: 1, steps: feed.steps, verbose };
                progress.begin_steps(feed.steps);
                model.evaluate_feed(&mut feed, &mut callbacks, params, Some(&mut progress))?
            }
        };
        progress.end_epoch(&logs);
        Ok(logs)
    }
}

/// Training, evaluation and prediction from generators and datasets, and
/// the per-batch calls that return the metrics.
impl<N: Network> Model<N> {
    /// Keras's `fit(dataset)` / `fit(generator)`: trains on batches from a
    /// [`crate::data::Dataset`] of batches or from a generator — any
    /// iterator of `(x, y)` or `(x, y, sample_weight)` batches, where `x`
    /// and `y` are `Vec`s or slices of samples (tuples of them for several
    /// inputs or outputs). Configure with the same builder as
    /// [`Model::fit`] (`epochs`, `steps_per_epoch`, `validation_from`,
    /// `validation_steps`, `validation_freq`, callbacks, …), then `run()`.
    ///
    /// A generator is read once, across epochs, so it must yield
    /// `steps_per_epoch × epochs` batches (it usually loops for ever); a
    /// dataset of known size needs no `steps_per_epoch` (each epoch is one
    /// pass over it). Each batch is one step, whatever its size. In
    /// data-parallel training each process reads its own stream, so give
    /// each its own share of the data.
    ///
    /// ```
    /// use kiln::prelude::*;
    ///
    /// kiln::model! {
    ///     struct Line {
    ///         input x: [f32; 1];
    ///         let y = Dense(1)(x);
    ///         output y;
    ///     }
    /// }
    ///
    /// let x: Vec<[f32; 1]> = (0..8).map(|i| [i as f32 / 8.0]).collect();
    /// let y: Vec<[f32; 1]> = x.iter().map(|v| [2.0 * v[0]]).collect();
    /// let mut model = Line::new(0).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    /// // The tutorials' generator: one sample per batch, for ever.
    /// let generator = (0..x.len()).cycle().map(|i| (&x[i..i + 1], &y[i..i + 1]));
    /// let history = model.fit_from(generator).steps_per_epoch(30).epochs(5).verbose(0).run()?;
    /// assert_eq!(history.epochs, [0, 1, 2, 3, 4]);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn fit_from<'a, D>(&'a mut self, data: D) -> Fit<'a, N, D::Y>
    where
        D: IntoBatches<'a, X = N::Input>,
    {
        Fit::on(self, Data::Stream(data.into_stream()))
    }

    /// The tutorials' `fit_generator(generator, steps_per_epoch, epochs)`:
    /// [`Model::fit_from`] under its Keras 2 name.
    pub fn fit_generator<'a, D>(&'a mut self, generator: D) -> Fit<'a, N, D::Y>
    where
        D: IntoBatches<'a, X = N::Input>,
    {
        self.fit_from(generator)
    }

    /// Keras's `evaluate(x, y, …)` with all its options: `batch_size`,
    /// `verbose`, callbacks (see [`Evaluate`]).
    pub fn evaluate_on<'a, X, B>(&'a mut self, x: X, y: B) -> Evaluate<'a, N, B::Set>
    where
        X: crate::sample::BatchOf<'a, Set = N::Input>,
        B: crate::sample::BatchOf<'a>,
    {
        self.evaluation(Data::Arrays(x.into_batch(), y.into_batch()))
    }

    /// Keras's `evaluate(dataset, steps=…)` / `evaluate(generator, steps=…)`.
    pub fn evaluate_from<'a, D>(&'a mut self, data: D) -> Evaluate<'a, N, D::Y>
    where
        D: IntoBatches<'a, X = N::Input>,
    {
        self.evaluation(Data::Stream(data.into_stream()))
    }

    fn evaluation<'a, Y: SampleSet>(&'a mut self, data: Data<'a, N, Y>) -> Evaluate<'a, N, Y> {
        Evaluate { model: self, data, batch_size: None, verbose: 1, steps: None, callbacks: Vec::new() }
    }

    /// Keras's `predict(dataset, steps=…)`: outputs for every sample of
    /// `steps` batches (or one pass over a dataset of known size); the
    /// batches' targets are ignored.
    ///
    /// # Errors
    /// A missing or zero `steps` for a generator or a dataset that repeats
    /// for ever, a stream that ends early ([`Error::InvalidArgument`]
    /// naming `steps`), a bad batch's error.
    pub fn predict_from<'a, D>(&'a mut self, data: D, steps: Option<usize>) -> Result<Vec<N::Output>>
    where
        D: IntoBatches<'a, X = N::Input>,
    {
        let mut feed = Feed::new(data.into_stream(), steps, "steps")?;
        feed.check_passes(1, "prediction")?;
        feed.begin_pass()?;
        let mut result = Vec::new();
        for b in 0..feed.steps {
            let (network, slot) = (&self.network, &mut self.workspace);
            let got = feed.stream.next_with(&mut |x, _, _, n| {
                super::check_inputs(network, x)?;
                super::predict_batch(network, slot, x, 0, n, n, &mut result);
                Ok(())
            })?;
            if !got {
                return Err(feed.ran_out("prediction", 0, b));
            }
        }
        Ok(result)
    }

    /// Keras's `train_on_batch(x, y, return_dict=True)`: as in Keras 3, the
    /// metrics start over, one step is taken, and the loss and metrics of
    /// that batch are returned (computed on the outputs before the update),
    /// with Keras's names (`loss`, `main_output_loss`, `aux_output_accuracy`, …).
    ///
    /// # Errors
    /// As [`Model::train_on_batch`].
    pub fn train_on_batch_logs<'a, X, B>(&mut self, x: X, y: B) -> Result<Logs>
    where
        X: crate::sample::BatchOf<'a, Set = N::Input>,
        B: crate::sample::BatchOf<'a>,
    {
        self.reset_metrics();
        self.train_on_batch(x, y)?;
        let mut logs = Logs::default();
        self.fill_logs(&mut logs);
        Ok(logs)
    }

    /// Keras's `test_on_batch(x, y, return_dict=True)`: the loss and
    /// metrics of one batch, without training.
    ///
    /// # Errors
    /// As [`Model::evaluate`].
    pub fn test_on_batch<'a, X, B>(&mut self, x: X, y: B) -> Result<Logs>
    where
        X: crate::sample::BatchOf<'a, Set = N::Input>,
        B: crate::sample::BatchOf<'a>,
    {
        let x = x.into_batch();
        let n = N::Input::samples(x)?.max(1);
        self.evaluate_set::<B::Set>(x, y.into_batch(), n)
    }
}

/// Keras's default batch size.
const DEFAULT_BATCH_SIZE: usize = 32;

/// The batch size and the samples read when `steps` batches of `n` arrays
/// are asked for (all `n` without a step count), as Keras's array adapter:
/// a batch size not given is `ceil(n / steps)` with a step count (every
/// sample is read), else 32; `steps` batches of a given size read at most
/// `steps · batch_size` samples, fewer when the arrays hold fewer.
pub(super) fn steps_batch(n: usize, steps: Option<usize>, batch_size: Option<usize>) -> (usize, usize) {
    let batch = match (batch_size, steps) {
        (Some(b), _) => b,
        (None, Some(s)) if s > 0 => n.div_ceil(s).max(1),
        (None, _) => DEFAULT_BATCH_SIZE,
    };
    (batch, steps.map_or(n, |s| n.min(s.saturating_mul(batch))))
}
