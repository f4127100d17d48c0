//! Keras's training workflow: `compile`, `fit`, `evaluate`, `predict`,
//! `train_on_batch`.
//!
//! ```
//! use kiln::prelude::*;
//!
//! kiln::model! {
//!     struct Xor {
//!         input x: [f32; 2];
//!         let h = Dense(8, activation = tanh)(x);
//!         let p = Dense(1, activation = sigmoid)(h);
//!         output p;
//!     }
//! }
//!
//! let x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
//! let y = [[0.0], [1.0], [1.0], [0.0]];
//! let mut model = Xor::new(1).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::Accuracy]);
//! let history = model.fit(&x, &y).epochs(300).batch_size(4).verbose(0).run()?;
//! assert_eq!(history.get("accuracy").unwrap().last(), Some(&1.0));
//! # Ok::<(), kiln::Error>(())
//! ```

mod callbacks;
mod checkpoint;
mod fit;
mod history;
#[cfg(feature = "plot")]
mod plot;
mod progress;
mod reduce;

pub use callbacks::{
    Callback, CallbackContext, CsvLogger, EarlyStopping, FitParams, LambdaCallback, LearningRateScheduler, Mode,
    ModelCheckpoint, ReduceLrOnPlateau, SaveFreq, TensorBoard, TerminateOnNan, UpdateFreq,
};
pub use checkpoint::{CHECKPOINT_FORMAT, CHECKPOINT_VERSION};
pub use fit::{Evaluate, Fit};
pub use history::{History, Logs};
pub use progress::ProgbarLogger;

use crate::error::{at_least_one, Error, Result};
use crate::losses::{output_loss, Loss};
use crate::metrics::{Mean, Metric, MetricInput, MetricState};
use crate::network::{InputFlat, Network};
use crate::optimizers::{self, Optimizer};
use crate::sample::{BatchOf, SampleSet};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `network.compile(optimizer, loss, metrics)`: turns a network into a
/// trainable [`Model`]. Implemented for every [`Network`].
pub trait Compile: Network + Sized {
    /// Keras's `model.compile`: the loss (and metrics) apply to every
    /// output; [`Model::output_losses`] and [`Model::loss_weights`] refine them.
    fn compile<L: Loss + Clone + 'static>(
        self,
        optimizer: impl Optimizer + 'static,
        loss: L,
        metrics: &[Metric],
    ) -> Model<Self> {
        let outputs = <Self::Output as SampleSet>::COUNT;
        let losses: Vec<Box<dyn Loss>> = (0..outputs).map(|_| Box::new(loss.clone()) as Box<dyn Loss>).collect();
        Model::new(self, Box::new(optimizer), losses, metrics)
    }
}

impl<N: Network> Compile for N {}

/// A network with its optimizer, losses and metrics, and the buffers
/// training reuses from step to step.
///
/// Dereferences to the network, so `model.summary()` and
/// `model.predict_one(…)` work on it directly.
pub struct Model<N: Network> {
    network: N,
    optimizer: Box<dyn Optimizer>,
    /// One per output.
    losses: Vec<Box<dyn Loss>>,
    loss_weights: Vec<f32>,
    metric_kinds: Vec<Metric>,
    weighted_metric_kinds: Vec<Metric>,
    /// `metrics[output][k]`: the `metric_kinds`, then the `weighted_metric_kinds`.
    metrics: Vec<Vec<MetricState>>,
    /// `(output, k, log name)` in Keras's order: every output's metrics,
    /// then every output's weighted metrics.
    metric_names: Vec<(usize, usize, String)>,
    output_loss: Vec<Mean>,
    /// Each output's loss in the current step (reused, so steps allocate nothing).
    step_losses: Vec<f32>,
    loss_mean: Mean,
    /// The weight regularizers' penalty for the evaluation under way: the
    /// weights do not change while evaluating, so it is computed once.
    evaluation_penalty: f32,
    workspace: Option<N::Workspace>,
    batch: BatchBuffers<N>,
    rng: ChaCha8Rng,
    /// Epochs `fit` has completed (restored by checkpoints).
    epoch: usize,
    /// Keras's `model.stop_training`, set by callbacks.
    stop_training: bool,
    /// `<output>_loss` per output, built once so batch logs allocate nothing.
    output_loss_names: Vec<String>,
    /// Data-parallel training's collective ([`Model::distributed`]).
    collective: Option<Box<dyn crate::distribute::Collective>>,
    /// The fused all-reduce buffer, reused from step to step.
    reduce_buffer: Vec<f32>,
}

/// One gathered batch: inputs, per-output `f32` targets, sample weights.
struct BatchBuffers<N: Network> {
    x: <N::Input as SampleSet>::Buffers,
    y: Vec<Vec<f32>>,
    weights: Vec<f32>,
}

impl<N: Network> Model<N> {
    fn new(network: N, optimizer: Box<dyn Optimizer>, losses: Vec<Box<dyn Loss>>, metrics: &[Metric]) -> Self {
        let outputs = losses.len();
        let mut model = Model {
            network,
            optimizer,
            losses,
            loss_weights: vec![1.0; outputs],
            metric_kinds: metrics.to_vec(),
            weighted_metric_kinds: Vec::new(),
            metrics: Vec::new(),
            metric_names: Vec::new(),
            output_loss: vec![Mean::default(); outputs],
            step_losses: Vec::with_capacity(outputs),
            loss_mean: Mean::default(),
            evaluation_penalty: 0.0,
            workspace: None,
            batch: BatchBuffers { x: Default::default(), y: vec![Vec::new(); outputs], weights: Vec::new() },
            rng: ChaCha8Rng::seed_from_u64(0x5eed),
            epoch: 0,
            stop_training: false,
            output_loss_names: Vec::new(),
            collective: None,
            reduce_buffer: Vec::new(),
        };
        model.rebuild_metrics();
        model
    }

    fn rebuild_metrics(&mut self) {
        let kinds: Vec<Metric> = self.metric_kinds.iter().chain(&self.weighted_metric_kinds).copied().collect();
        self.metrics = (0..self.losses.len())
            .map(|o| {
                let len = <N::Output as SampleSet>::member_len(o);
                kinds.iter().map(|&m| MetricState::new(m, &*self.losses[o], len)).collect()
            })
            .collect();
        // Keras 3's `CompileMetrics.result` naming: a weighted metric whose
        // name is taken becomes `weighted_<name>`; other clashes get `_1`, `_2`, ….
        let names = self.network.output_names();
        let outputs = self.losses.len();
        self.output_loss_names = names.iter().map(|n| format!("{n}_loss")).collect();
        let prefix = |o: usize| if outputs > 1 { format!("{}_", names[o]) } else { String::new() };
        let mut counters = std::collections::HashMap::<String, usize>::new();
        let mut entries = Vec::new();
        let unweighted = self.metric_kinds.len();
        for o in 0..outputs {
            for (k, m) in self.metric_kinds.iter().enumerate() {
                let name = format!("{}{}", prefix(o), m.name());
                let name = match counters.get_mut(&name) {
                    None => {
                        counters.insert(name.clone(), 1);
                        name
                    }
                    Some(count) => {
                        *count += 1;
                        format!("{name}_{}", *count - 1)
                    }
                };
                entries.push((o, k, name));
            }
        }
        for o in 0..outputs {
            for (k, m) in self.weighted_metric_kinds.iter().enumerate() {
                let mut name = format!("{}{}", prefix(o), m.name());
                if counters.contains_key(&name) {
                    name = format!("{}weighted_{}", prefix(o), m.name());
                    if let Some(count) = counters.get_mut(&name) {
                        *count += 1;
                        name = format!("{name}_{}", *count - 1);
                    } else {
                        counters.insert(name.clone(), 1);
                    }
                } else {
                    counters.insert(name.clone(), 1);
                }
                entries.push((o, unweighted + k, name));
            }
        }
        self.metric_names = entries;
    }

    /// One loss per output (Keras's `loss={"main_output": …, "aux_output": …}`).
    ///
    /// # Panics
    /// If the number of losses differs from the number of outputs;
    /// [`Model::try_output_losses`] returns the error instead.
    pub fn output_losses(self, losses: Vec<Box<dyn Loss>>) -> Self {
        self.try_output_losses(losses).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Model::output_losses`], with an error rather than a panic.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `losses` when there is not one loss per output.
    pub fn try_output_losses(mut self, losses: Vec<Box<dyn Loss>>) -> Result<Self> {
        if losses.len() != self.losses.len() {
            return Err(Error::InvalidArgument {
                name: "losses",
                reason: format!(
                    "the model has {} output(s) but {} loss(es) were given",
                    self.losses.len(),
                    losses.len()
                ),
            });
        }
        self.losses = losses;
        self.rebuild_metrics();
        Ok(self)
    }

    /// Weights of the outputs' losses in the total loss (Keras's `loss_weights`).
    ///
    /// # Panics
    /// If the number of weights differs from the number of outputs or a
    /// weight is not finite; [`Model::try_loss_weights`] returns the error instead.
    pub fn loss_weights(self, weights: &[f32]) -> Self {
        self.try_loss_weights(weights).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Model::loss_weights`], with an error rather than a panic.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `loss_weights` when there is not
    /// one weight per output or a weight is NaN or infinite.
    pub fn try_loss_weights(mut self, weights: &[f32]) -> Result<Self> {
        let reason = if weights.len() != self.losses.len() {
            format!("the model has {} output(s) but {} weight(s) were given", self.losses.len(), weights.len())
        } else if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
            format!("weight {i} is {}, but weights must be finite", weights[i])
        } else {
            self.loss_weights = weights.to_vec();
            return Ok(self);
        };
        Err(Error::InvalidArgument { name: "loss_weights", reason })
    }

    /// Metrics weighted by `sample_weight` / `class_weight` (Keras's
    /// `compile(weighted_metrics=…)`). The metrics given to `compile` are
    /// unweighted, as in Keras. A weighted metric is logged under its own
    /// name, or as `weighted_<name>` when the unweighted list has that name
    /// (`accuracy` and `weighted_accuracy`), as Keras 3 names them.
    pub fn weighted_metrics(mut self, metrics: &[Metric]) -> Self {
        self.weighted_metric_kinds = metrics.to_vec();
        self.rebuild_metrics();
        self
    }

    /// Every weight's regularizer and constraint values
    /// ([`crate::regularizers::Regularizer::validate`],
    /// [`crate::regularizers::Constraint::validate`]) and the layers'
    /// activity regularizers, before a step; allocates only to name the
    /// weight in an error.
    fn validate_weight_options(&self) -> Result<()> {
        let check = |p: &crate::param::Param, path: &str| -> Result<()> {
            p.regularizer.map_or(Ok(()), |r| r.validate(path))?;
            p.constraint.as_ref().map_or(Ok(()), |c| c.validate(path))
        };
        let (mut index, mut bad) = (0, None);
        self.network.params(&mut |p| {
            if bad.is_none() && check(p, "").is_err() {
                bad = Some(index);
            }
            index += 1;
        });
        let Some(bad) = bad else { return self.network.check_activity_regularizers() };
        let path = &self.network.param_paths()[bad];
        let mut result = Ok(());
        let mut index = 0;
        self.network.params(&mut |p| {
            if index == bad {
                result = check(p, path);
            }
            index += 1;
        });
        result
    }

    /// The network being trained.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The network, mutably (to load weights, say).
    pub fn network_mut(&mut self) -> &mut N {
        &mut self.network
    }

    /// Gives the network back.
    pub fn into_network(self) -> N {
        self.network
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        &*self.optimizer
    }

    /// The optimizer, mutably.
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer {
        &mut *self.optimizer
    }

    /// Seeds the shuffling of `fit` (it is seeded with a constant otherwise).
    pub fn set_shuffle_seed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    /// Keras's `fit`: configure with the builder's methods, then `run()`.
    /// `x` is a slice of samples (or a tuple of slices, one per input);
    /// `y` likewise, one member per output.
    pub fn fit<'a, X, Y>(&'a mut self, x: X, y: Y) -> Fit<'a, N, Y::Set>
    where
        X: BatchOf<'a, Set = N::Input>,
        Y: BatchOf<'a>,
    {
        Fit::new(self, x.into_batch(), y.into_batch())
    }

    /// One gradient step on one batch; returns the total loss. Metrics
    /// accumulate until [`Model::reset_metrics`]. After the first call with
    /// a given batch size, allocates nothing.
    pub fn train_on_batch<'a, X, B>(&mut self, x: X, y: B) -> Result<f32>
    where
        X: BatchOf<'a, Set = N::Input>,
        B: BatchOf<'a>,
    {
        self.train_on_batch_set::<B::Set>(x.into_batch(), y.into_batch())
    }

    fn train_on_batch_set<Y: SampleSet>(
        &mut self,
        x: <N::Input as SampleSet>::Batch<'_>,
        y: Y::Batch<'_>,
    ) -> Result<f32> {
        self.optimizer.validate()?;
        self.validate_weight_options()?;
        let n = self.check_data::<Y>(x, y, "train on")?;
        let (x, y) = (N::Input::flatten(x), Y::flatten(y));
        self.check_values::<Y>(x, y)?;
        let mut targets = std::mem::take(&mut self.batch.y);
        for (o, t) in targets.iter_mut().enumerate() {
            Y::member_f32(y, o, t);
        }
        let result = self.check_targets(&targets).and_then(|()| self.step_on(x, &targets, None, n));
        self.batch.y = targets;
        result
    }

    /// The running loss and metric values since the last reset, with Keras's names.
    pub fn metric_results(&self) -> impl Iterator<Item = (String, f32)> + '_ {
        let names = self.network.output_names();
        let multi = self.losses.len() > 1;
        let per_output = self
            .output_loss
            .iter()
            .enumerate()
            .filter(move |_| multi)
            .map(move |(o, m)| (format!("{}_loss", names[o]), m.result()));
        let metrics = self.metric_names.iter().map(|(o, k, name)| (name.clone(), self.metrics[*o][*k].result()));
        std::iter::once(("loss".to_string(), self.loss_mean.result())).chain(per_output).chain(metrics)
    }

    /// Writes the running loss and metrics into `logs` (allocating nothing
    /// once `logs` holds every name).
    fn fill_logs(&self, logs: &mut Logs) {
        logs.set("loss", self.loss_mean.result());
        if self.losses.len() > 1 {
            for (name, mean) in self.output_loss_names.iter().zip(&self.output_loss) {
                logs.set(name, mean.result());
            }
        }
        for (o, k, name) in &self.metric_names {
            logs.set(name, self.metrics[*o][*k].result());
        }
    }

    /// Whether the logged quantity `name` (without `val_`) is better when
    /// higher: `loss` and the per-output losses go down, each metric its own
    /// way (Keras's metric `_direction`); `None` for a name the model does
    /// not log.
    pub(crate) fn metric_goes_up(&self, name: &str) -> Option<bool> {
        if name == "loss" || (self.losses.len() > 1 && self.output_loss_names.iter().any(|n| n == name)) {
            return Some(false);
        }
        let kinds: Vec<Metric> = self.metric_kinds.iter().chain(&self.weighted_metric_kinds).copied().collect();
        self.metric_names.iter().find(|(_, _, n)| n == name).map(|(_, k, _)| higher_is_better(kinds[*k]))
    }

    /// Starts the running loss and metrics over.
    pub fn reset_metrics(&mut self) {
        self.loss_mean.reset();
        self.output_loss.iter_mut().for_each(Mean::reset);
        self.metrics.iter_mut().flatten().for_each(MetricState::reset);
    }

    /// Keras's `evaluate`: the loss and metrics over `x`, `y`.
    pub fn evaluate<'a, X, B>(&mut self, x: X, y: B, batch_size: usize) -> Result<Logs>
    where
        X: BatchOf<'a, Set = N::Input>,
        B: BatchOf<'a>,
    {
        self.evaluate_set::<B::Set>(x.into_batch(), y.into_batch(), batch_size)
    }

    fn evaluate_set<Y: SampleSet>(
        &mut self,
        x: <N::Input as SampleSet>::Batch<'_>,
        y: Y::Batch<'_>,
        batch_size: usize,
    ) -> Result<Logs> {
        self.evaluate_set_with::<Y>(x, y, Some(batch_size), None, &mut [], None)
    }

    /// [`Model::evaluate`], calling `callbacks`' `on_test_*` hooks
    /// (Keras's `evaluate(callbacks=…)`).
    pub fn evaluate_with_callbacks<'a, X, B>(
        &mut self,
        x: X,
        y: B,
        batch_size: usize,
        callbacks: &mut [&mut dyn Callback<N>],
    ) -> Result<Logs>
    where
        X: BatchOf<'a, Set = N::Input>,
        B: BatchOf<'a>,
    {
        self.evaluate_set_with::<B::Set>(x.into_batch(), y.into_batch(), Some(batch_size), None, callbacks, None)
    }

    /// Evaluates arrays in batches of `batch_size`, reading `steps` of them
    /// (see `fit::steps_batch`: Keras's array adapter), after checking the
    /// arguments and the data; starts `progress` at the batches to read.
    fn evaluate_set_with<Y: SampleSet>(
        &mut self,
        x: <N::Input as SampleSet>::Batch<'_>,
        y: Y::Batch<'_>,
        batch_size: Option<usize>,
        steps: Option<usize>,
        callbacks: &mut [&mut dyn Callback<N>],
        progress: Option<&mut progress::Progress>,
    ) -> Result<Logs> {
        let (n, x, targets) = self.prepare::<Y>(x, y, "evaluate")?;
        batch_size.map_or(Ok(()), |b| at_least_one("batch_size", b))?;
        steps.map_or(Ok(()), |s| at_least_one("steps", s))?;
        let (batch_size, end) = fit::steps_batch(n, steps, batch_size);
        let batches = end.div_ceil(batch_size);
        if let Some(progress) = progress {
            progress.begin_steps(batches.max(1));
        }
        let params = FitParams { epochs: 1, steps: batches, verbose: 0 };
        self.evaluate_flat(N::Input::range(x, 0, end), &targets, None, 0, end, batch_size, callbacks, params)
    }

    /// Checks `x` and `y` (counts, shapes, finiteness, ids, targets) and
    /// returns the sample count, the flat inputs and the per-output targets.
    #[allow(clippy::type_complexity)]
    fn prepare<'x, Y: SampleSet>(
        &self,
        x: <N::Input as SampleSet>::Batch<'x>,
        y: Y::Batch<'_>,
        work: &'static str,
    ) -> Result<(usize, InputFlat<'x, N>, Vec<Vec<f32>>)> {
        let n = self.check_data::<Y>(x, y, work)?;
        let (x, y) = (N::Input::flatten(x), Y::flatten(y));
        self.check_values::<Y>(x, y)?;
        let targets: Vec<Vec<f32>> = (0..self.losses.len())
            .map(|o| {
                let mut t = Vec::new();
                Y::member_f32(y, o, &mut t);
                t
            })
            .collect();
        self.check_targets(&targets)?;
        Ok((n, x, targets))
    }

    /// Evaluates samples `start..end` of flat inputs `x` (already sliced to
    /// them, and checked) against full per-output `targets` and optional
    /// full-length sample `weights`, calling `callbacks`' `on_test_*` hooks.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_flat(
        &mut self,
        x: InputFlat<'_, N>,
        targets: &[Vec<f32>],
        weights: Option<&[f32]>,
        start: usize,
        end: usize,
        batch_size: usize,
        callbacks: &mut [&mut dyn Callback<N>],
        params: FitParams,
    ) -> Result<Logs> {
        let n = end - start;
        callbacks::each(callbacks, self, params, |c, ctx| c.on_test_begin(ctx))?;
        let mut batch_logs = Logs::default();
        let saved = self.begin_evaluation();
        for (b, (b0, b1)) in batches(n, batch_size)?.enumerate() {
            callbacks::each(callbacks, self, params, |c, ctx| c.on_test_batch_begin(b, ctx))?;
            let w = weights.map(|w| &w[start + b0..start + b1]);
            self.test_batch(N::Input::range(x, b0, b1), targets, start + b0, w, b1 - b0, batch_size.min(n));
            if !callbacks.is_empty() {
                self.fill_logs(&mut batch_logs);
                callbacks::each(callbacks, self, params, |c, ctx| c.on_test_batch_end(b, &batch_logs, ctx))?;
            }
        }
        let logs = self.end_evaluation(saved);
        callbacks::each(callbacks, self, params, |c, ctx| c.on_test_end(&logs, ctx))?;
        Ok(logs)
    }

    /// Sets the running loss and metrics aside for an evaluation (which
    /// starts them from zero) and returns them for [`Model::end_evaluation`].
    fn begin_evaluation(&mut self) -> (Vec<Vec<MetricState>>, Mean, Vec<Mean>) {
        let saved = (std::mem::take(&mut self.metrics), self.loss_mean, self.output_loss.clone());
        self.rebuild_metrics();
        self.loss_mean.reset();
        self.output_loss.iter_mut().for_each(Mean::reset);
        self.evaluation_penalty = crate::regularizers::weight_penalties(|f| self.network.params(f));
        saved
    }

    /// The evaluation's logs; the running values from before it are back.
    fn end_evaluation(&mut self, saved: (Vec<Vec<MetricState>>, Mean, Vec<Mean>)) -> Logs {
        let mut logs = Logs::default();
        self.fill_logs(&mut logs);
        (self.metrics, self.loss_mean, self.output_loss) = saved;
        logs
    }

    /// Evaluates one batch of `m` checked samples `x` against samples
    /// `first..first + m` of the per-output `targets`, adding to the
    /// running loss and metrics. `capacity` sizes the workspace.
    fn test_batch(
        &mut self,
        x: InputFlat<'_, N>,
        targets: &[Vec<f32>],
        first: usize,
        w: Option<&[f32]>,
        m: usize,
        capacity: usize,
    ) {
        let unweighted = self.metric_kinds.len();
        let ws = workspace(&self.network, &mut self.workspace, capacity.max(m));
        self.network.forward(ws, x, m, false);
        let mut total = 0.0;
        for (o, loss) in self.losses.iter().enumerate() {
            let len = loss.target_len(<N::Output as SampleSet>::member_len(o));
            let yt = &targets[o][first * len..(first + m) * len];
            let value = output_loss(&**loss, N::output_buffers(ws, o, m), yt, w, false, m, 1.0);
            let buffers = N::output_buffers(ws, o, m);
            total += self.loss_weights[o] * value;
            self.output_loss[o].update(value as f64, m as f64);
            for (k, s) in self.metrics[o].iter_mut().enumerate() {
                s.update_checked(MetricInput::of(&buffers), yt, if k < unweighted { None } else { w }, m);
            }
        }
        // Keras's test loss includes `model.losses` (regularizers) too.
        total += N::activity_penalty(ws) + self.evaluation_penalty;
        self.loss_mean.update(total as f64, m as f64);
    }

    /// Keras's `predict`: outputs for every sample, computed in batches.
    ///
    /// Uses the model's own buffers, hence `&mut self`; to predict from
    /// several threads on one shared model, use [`Network::predict_with`]
    /// (`&self`, caller-owned [`PredictBuffers`]): same outputs.
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN or infinite input, [`Error::IdOutOfRange`],
    /// [`Error::InvalidArgument`] for a zero `batch_size`.
    pub fn predict<'a, X: BatchOf<'a, Set = N::Input>>(&mut self, x: X, batch_size: usize) -> Result<Vec<N::Output>> {
        predict_with(&self.network, &mut self.workspace, x.into_batch(), batch_size)
    }

    /// [`Model::predict`], calling `callbacks`' `on_predict_*` hooks
    /// (Keras's `predict(callbacks=…)`).
    pub fn predict_with_callbacks<'a, X: BatchOf<'a, Set = N::Input>>(
        &mut self,
        x: X,
        batch_size: usize,
        callbacks: &mut [&mut dyn Callback<N>],
    ) -> Result<Vec<N::Output>> {
        let x = x.into_batch();
        let n = N::Input::samples(x)?;
        let xf = N::Input::flatten(x);
        at_least_one("batch_size", batch_size)?;
        check_inputs(&self.network, xf)?;
        let params = FitParams { epochs: 1, steps: n.div_ceil(batch_size), verbose: 0 };
        callbacks::each(callbacks, self, params, |c, ctx| c.on_predict_begin(ctx))?;
        let mut result = Vec::with_capacity(n);
        for (b, (start, end)) in batches(n, batch_size)?.enumerate() {
            callbacks::each(callbacks, self, params, |c, ctx| c.on_predict_batch_begin(b, ctx))?;
            predict_batch(&self.network, &mut self.workspace, xf, start, end, batch_size.min(n), &mut result);
            callbacks::each(callbacks, self, params, |c, ctx| c.on_predict_batch_end(b, ctx))?;
        }
        callbacks::each(callbacks, self, params, |c, ctx| c.on_predict_end(ctx))?;
        Ok(result)
    }

    /// The class of each sample from the first output, as Keras's
    /// `predict_classes`: the index of the largest value of a several-value
    /// output (softmax), and `p > 0.5` (1, else 0) of a one-value output
    /// (sigmoid).
    pub fn predict_classes<'a, X: BatchOf<'a, Set = N::Input>>(
        &mut self,
        x: X,
        batch_size: usize,
    ) -> Result<Vec<usize>> {
        let x = x.into_batch();
        let n = N::Input::samples(x)?;
        let xf = N::Input::flatten(x);
        at_least_one("batch_size", batch_size)?;
        check_inputs(&self.network, xf)?;
        let mut classes = Vec::with_capacity(n);
        for (start, end) in batches(n, batch_size)? {
            let ws = workspace(&self.network, &mut self.workspace, batch_size.min(n));
            self.network.forward(ws, N::Input::range(xf, start, end), end - start, false);
            let (out, _) = N::output_and_grad(ws, 0, end - start);
            let len = <N::Output as SampleSet>::member_len(0);
            if len == 1 {
                classes.extend(out.iter().map(|&p| usize::from(p > 0.5)));
            } else {
                classes.extend(out.chunks_exact(len).map(crate::metrics::argmax));
            }
        }
        Ok(classes)
    }

    /// Checks sample counts and the number of target members; returns the
    /// number of samples. `work` says what the data are for ("evaluate").
    fn check_data<Y: SampleSet>(
        &self,
        x: <N::Input as SampleSet>::Batch<'_>,
        y: Y::Batch<'_>,
        work: &'static str,
    ) -> Result<usize> {
        let (n, m) = (N::Input::samples(x)?, Y::samples(y)?);
        if n != m {
            return Err(Error::SampleCountMismatch { inputs: n, targets: m });
        }
        if n == 0 {
            return Err(Error::NoData(work));
        }
        self.check_target_shapes::<Y>()?;
        Ok(n)
    }

    /// Checks that the targets `Y` have one member per output, each of the
    /// length its loss and metrics read.
    fn check_target_shapes<Y: SampleSet>(&self) -> Result<()> {
        if Y::COUNT != self.losses.len() {
            return Err(Error::InvalidArgument {
                name: "y",
                reason: format!(
                    "the model has {} output(s) but the targets have {} member(s)",
                    self.losses.len(),
                    Y::COUNT
                ),
            });
        }
        for (o, loss) in self.losses.iter().enumerate() {
            let expected = loss.target_len(<N::Output as SampleSet>::member_len(o));
            if Y::member_len(o) != expected {
                return Err(Error::TargetShape { loss: loss.name(), expected, found: Y::member_len(o) });
            }
            // A metric reading targets of another shape would compare the
            // wrong values without failing (a one-hot row read as a label).
            let out_len = <N::Output as SampleSet>::member_len(o);
            if let Some(m) = self.metrics[o].iter().find(|m| m.target_len(out_len) != Y::member_len(o)) {
                return Err(Error::InvalidArgument {
                    name: "metrics",
                    reason: format!(
                        "{} needs targets of {} value(s) per sample, but y has {}",
                        m.metric.name(),
                        m.target_len(out_len),
                        Y::member_len(o)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Checks that inputs and targets are finite and ids are in range.
    fn check_values<Y: SampleSet>(&self, x: InputFlat<'_, N>, y: Y::Flat<'_>) -> Result<()> {
        check_inputs(&self.network, x)?;
        match Y::first_non_finite(y) {
            Some((member, sample, feature, value)) => {
                Err(Error::NonFinite { argument: member_name("y", member, Y::COUNT), value, sample, feature })
            }
            None => Ok(()),
        }
    }

    /// Checks every output's targets with its loss and its metrics (label
    /// ranges, cross-entropy targets in `[0, 1]`).
    fn check_targets(&self, targets: &[Vec<f32>]) -> Result<()> {
        for (o, (loss, t)) in self.losses.iter().zip(targets).enumerate() {
            let outputs = <N::Output as SampleSet>::member_len(o);
            loss.check_targets(t, outputs)?;
            for state in &self.metrics[o] {
                state.check_targets(t, outputs)?;
            }
        }
        Ok(())
    }

    /// The training forward pass and every output's loss, each output's
    /// gradient written for `backward`; leaves the per-output losses in
    /// `step_losses` and returns the loss-weighted total.
    fn forward_and_losses(&mut self, x: InputFlat<'_, N>, y: &[Vec<f32>], weights: Option<&[f32]>, n: usize) -> f32 {
        let ws = workspace(&self.network, &mut self.workspace, n);
        self.network.forward(ws, x, n, true);
        let mut total = 0.0;
        self.step_losses.clear();
        for (o, loss) in self.losses.iter().enumerate() {
            let w = self.loss_weights[o];
            let value = output_loss(&**loss, N::output_buffers(ws, o, n), &y[o], weights, true, n, w);
            total += w * value;
            self.step_losses.push(value);
        }
        // Keras adds `model.losses` (regularizers) to the loss it reports
        // and differentiates; their gradients are added by `backward`.
        total + N::activity_penalty(ws) + crate::regularizers::weight_penalties(|f| self.network.params(f))
    }

    /// The backward pass of the last training forward, with the weight
    /// regularizers' gradients added to the parameters' gradients.
    pub(crate) fn backward(&mut self, x: InputFlat<'_, N>, n: usize) {
        let ws = workspace(&self.network, &mut self.workspace, n);
        self.network.backward(ws, x, n);
        crate::regularizers::add_weight_penalty_gradients(|f| self.network.visit_params(f));
    }

    /// Forward, losses, backward and update on one batch of flat data.
    fn step_on(&mut self, x: InputFlat<'_, N>, y: &[Vec<f32>], weights: Option<&[f32]>, n: usize) -> Result<f32> {
        // A schedule's NaN or infinite rate is refused before any work
        // (`optimizers::step` would refuse it too, after the passes).
        optimizers::scheduled_rate(self.optimizer.state())?;
        // Data-parallel hook: the same step with one all-reduce of the
        // gradients before the checks and the update (train/reduce.rs).
        if self.collective.is_some() {
            return self.step_reduced(x, y, weights, n);
        }
        let total = self.forward_and_losses(x, y, weights, n);
        if !total.is_finite() {
            return Err(Error::NonFiniteLoss { loss: total, epoch: 0, batch: 0 });
        }
        self.backward(x, n);
        // A step from a NaN or infinite gradient would poison the weights
        // and the optimizer's moments: refuse it before anything changes.
        if let Some((parameter, index)) = non_finite_gradient(&self.network) {
            return Err(Error::NonFiniteGradient { parameter, index, epoch: 0, batch: 0 });
        }
        let network = &mut self.network;
        optimizers::step(&mut *self.optimizer, |f| network.visit_params(f))?;
        // Only a step that is applied counts in the running loss and metrics
        // (the update leaves the forward pass's outputs in the workspace).
        // Keras tracks the epoch loss as the batch losses' mean weighted by batch size.
        self.loss_mean.update(total as f64, n as f64);
        let ws = workspace(&self.network, &mut self.workspace, n);
        let unweighted = self.metric_kinds.len();
        for (o, &value) in self.step_losses.iter().enumerate() {
            self.output_loss[o].update(value as f64, n as f64);
            let buffers = N::output_buffers(ws, o, n);
            for (k, m) in self.metrics[o].iter_mut().enumerate() {
                m.update_checked(MetricInput::of(&buffers), &y[o], if k < unweighted { None } else { weights }, n);
            }
        }
        Ok(total)
    }
}

impl<N: Network> std::ops::Deref for Model<N> {
    type Target = N;
    fn deref(&self) -> &N {
        &self.network
    }
}

impl<N: Network> std::ops::DerefMut for Model<N> {
    fn deref_mut(&mut self) -> &mut N {
        &mut self.network
    }
}

/// Keras's metric `_direction`: accuracies go up, losses used as metrics go down.
fn higher_is_better(metric: Metric) -> bool {
    match metric {
        Metric::Accuracy | Metric::BinaryAccuracy | Metric::CategoricalAccuracy | Metric::SparseCategoricalAccuracy => {
            true
        }
        Metric::MeanSquaredError
        | Metric::MeanAbsoluteError
        | Metric::BinaryCrossentropy
        | Metric::CategoricalCrossentropy
        | Metric::SparseCategoricalCrossentropy => false,
    }
}

/// The workspace, rebuilt only when a larger batch arrives; a rebuilt one
/// continues the old one's generator (the stochastic layers' draws do not
/// restart when, say, a larger evaluation batch comes between epochs).
fn workspace<'w, N: Network>(network: &N, slot: &'w mut Option<N::Workspace>, batch: usize) -> &'w mut N::Workspace {
    if slot.as_ref().is_none_or(|w| N::capacity(w) < batch) {
        let mut fresh = network.workspace(batch);
        let old = slot.as_ref().and_then(|w| N::ctx(w)).map(|ctx| ctx.rng.clone());
        if let (Some(rng), Some(ctx)) = (old, N::ctx_mut(&mut fresh)) {
            ctx.rng = rng;
        }
        *slot = Some(fresh);
    }
    slot.as_mut().expect("just filled")
}

/// `(start, end)` of consecutive batches of `size` over `n` samples.
fn batches(n: usize, size: usize) -> Result<impl Iterator<Item = (usize, usize)>> {
    at_least_one("batch_size", size)?;
    Ok((0..n).step_by(size).map(move |s| (s, (s + size).min(n))))
}

/// The buffers one thread's batched predictions reuse, for inference on
/// a shared model: each thread owns one, the model is borrowed (`&self`).
///
/// Starts empty and grows to the largest batch it has seen, so after the
/// first call a thread's predictions allocate only their result.
///
/// ```
/// use kiln::prelude::*;
/// use kiln::train::PredictBuffers;
///
/// kiln::model! {
///     struct Tiny {
///         input x: [f32; 2];
///         let y = Dense(1)(x);
///         output y;
///     }
/// }
///
/// let model = Tiny::new(0);
/// let outputs = std::thread::scope(|s| {
///     let workers: Vec<_> = (0..2)
///         .map(|_| s.spawn(|| model.predict_with(&mut PredictBuffers::new(), &[[1.0, 2.0]], 32)))
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect::<kiln::Result<Vec<_>>>()
/// })?;
/// assert_eq!(outputs[0], outputs[1]);
/// # Ok::<(), kiln::Error>(())
/// ```
pub struct PredictBuffers<N: Network> {
    workspace: Option<N::Workspace>,
}

impl<N: Network> PredictBuffers<N> {
    /// Empty buffers; the first prediction sizes them.
    pub fn new() -> Self {
        PredictBuffers { workspace: None }
    }
}

impl<N: Network> Default for PredictBuffers<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Network::predict_with`]: batched inference on a borrowed network.
pub(crate) fn predict_shared<N: Network>(
    network: &N,
    buffers: &mut PredictBuffers<N>,
    x: <N::Input as SampleSet>::Batch<'_>,
    batch_size: usize,
) -> Result<Vec<N::Output>> {
    predict_with(network, &mut buffers.workspace, x, batch_size)
}

/// `x`, or `x.1` for the second member of a tuple of `count` members.
fn member_name(argument: &str, member: usize, count: usize) -> String {
    if count == 1 {
        argument.to_string()
    } else {
        format!("{argument}.{member}")
    }
}

/// Checks that inputs are finite (one vectorized pass) and that ids are in range.
fn check_inputs<N: Network>(network: &N, x: InputFlat<'_, N>) -> Result<()> {
    if let Some((member, sample, feature, value)) = N::Input::first_non_finite(x) {
        let argument = member_name("x", member, <N::Input as SampleSet>::COUNT);
        return Err(Error::NonFinite { argument, value, sample, feature });
    }
    network.check_input(x)
}

/// The first trainable parameter whose gradient holds a NaN or infinity,
/// as `(name, index in visiting order)`.
fn non_finite_gradient<N: Network>(network: &N) -> Option<(&'static str, usize)> {
    let (mut index, mut found) = (0, None);
    network.params(&mut |p| {
        if found.is_none() && p.trainable && crate::sample::first_non_finite(&p.grad).is_some() {
            found = Some((p.name, index));
        }
        index += 1;
    });
    found
}

/// Batched inference with an existing (or new) workspace.
pub(crate) fn predict_with<N: Network>(
    network: &N,
    slot: &mut Option<N::Workspace>,
    x: <N::Input as SampleSet>::Batch<'_>,
    batch_size: usize,
) -> Result<Vec<N::Output>> {
    let n = N::Input::samples(x)?;
    let xf = N::Input::flatten(x);
    at_least_one("batch_size", batch_size)?;
    check_inputs(network, xf)?;
    let mut result = Vec::with_capacity(n);
    for (start, end) in batches(n, batch_size)? {
        predict_batch(network, slot, xf, start, end, batch_size.min(n), &mut result);
    }
    Ok(result)
}

/// Predicts samples `start..end` of checked flat inputs, appending to `result`.
fn predict_batch<N: Network>(
    network: &N,
    slot: &mut Option<N::Workspace>,
    xf: InputFlat<'_, N>,
    start: usize,
    end: usize,
    capacity: usize,
    result: &mut Vec<N::Output>,
) {
    let outputs = <N::Output as SampleSet>::COUNT;
    let m = end - start;
    let ws = workspace(network, slot, capacity);
    network.forward(ws, N::Input::range(xf, start, end), m, false);
    let all: Vec<Vec<f32>> = (0..outputs).map(|o| N::output_and_grad(ws, o, m).0.to_vec()).collect();
    let mut members: Vec<&[f32]> = Vec::with_capacity(outputs);
    for s in 0..m {
        members.clear();
        for (o, values) in all.iter().enumerate() {
            let len = <N::Output as SampleSet>::member_len(o);
            members.push(&values[s * len..(s + 1) * len]);
        }
        result.push(N::Output::from_members(&members));
    }
}
