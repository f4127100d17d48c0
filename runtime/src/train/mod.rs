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
mod progress;

pub use callbacks::{Callback, Control};
pub use checkpoint::{CHECKPOINT_FORMAT, CHECKPOINT_VERSION};
pub use fit::Fit;
pub use history::{History, Logs};

use crate::error::{Error, Result};
use crate::losses::{output_loss, Loss};
use crate::metrics::{Mean, Metric, MetricState};
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
    /// `metrics[output][k]`.
    metrics: Vec<Vec<MetricState>>,
    output_loss: Vec<Mean>,
    loss_mean: Mean,
    workspace: Option<N::Workspace>,
    batch: BatchBuffers<N>,
    rng: ChaCha8Rng,
    /// Epochs `fit` has completed (restored by checkpoints).
    epoch: usize,
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
            metrics: Vec::new(),
            output_loss: vec![Mean::default(); outputs],
            loss_mean: Mean::default(),
            workspace: None,
            batch: BatchBuffers { x: Default::default(), y: vec![Vec::new(); outputs], weights: Vec::new() },
            rng: ChaCha8Rng::seed_from_u64(0x5eed),
            epoch: 0,
        };
        model.rebuild_metrics();
        model
    }

    fn rebuild_metrics(&mut self) {
        self.metrics = (0..self.losses.len())
            .map(|o| {
                let len = <N::Output as SampleSet>::member_len(o);
                self.metric_kinds.iter().map(|&m| MetricState::new(m, &*self.losses[o], len)).collect()
            })
            .collect();
    }

    /// One loss per output (Keras's `loss={"main_output": …, "aux_output": …}`).
    ///
    /// # Panics
    /// If the number of losses differs from the number of outputs.
    pub fn output_losses(mut self, losses: Vec<Box<dyn Loss>>) -> Self {
        assert_eq!(losses.len(), self.losses.len(), "one loss per output");
        self.losses = losses;
        self.rebuild_metrics();
        self
    }

    /// Weights of the outputs' losses in the total loss (Keras's `loss_weights`).
    ///
    /// # Panics
    /// If the number of weights differs from the number of outputs.
    pub fn loss_weights(mut self, weights: &[f32]) -> Self {
        assert_eq!(weights.len(), self.losses.len(), "one loss weight per output");
        self.loss_weights = weights.to_vec();
        self
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
        let n = self.check_data::<Y>(x, y)?;
        let (x, y) = (N::Input::flatten(x), Y::flatten(y));
        self.network.check_input(x)?;
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
        let per_output = self.output_loss.iter().enumerate().filter(move |_| multi).map({
            let names = names.clone();
            move |(o, m)| (format!("{}_loss", names[o]), m.result())
        });
        let metrics = self.metrics.iter().enumerate().flat_map(move |(o, ms)| {
            let prefix = if multi { format!("{}_", names[o]) } else { String::new() };
            ms.iter().map(move |m| (format!("{prefix}{}", m.metric.name()), m.result()))
        });
        std::iter::once(("loss".to_string(), self.loss_mean.result())).chain(per_output).chain(metrics)
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
        let n = self.check_data::<Y>(x, y)?;
        let (x, y) = (N::Input::flatten(x), Y::flatten(y));
        let targets: Vec<Vec<f32>> = (0..self.losses.len())
            .map(|o| {
                let mut t = Vec::new();
                Y::member_f32(y, o, &mut t);
                t
            })
            .collect();
        self.check_targets(&targets)?;
        self.evaluate_flat(x, &targets, 0, n, batch_size)
    }

    /// Evaluates samples `start..end` of flat inputs `x` (already sliced to
    /// them) against full per-output `targets`.
    fn evaluate_flat(
        &mut self,
        x: InputFlat<'_, N>,
        targets: &[Vec<f32>],
        start: usize,
        end: usize,
        batch_size: usize,
    ) -> Result<Logs> {
        self.network.check_input(x)?;
        let n = end - start;
        let saved = (std::mem::take(&mut self.metrics), self.loss_mean, self.output_loss.clone());
        self.rebuild_metrics();
        self.loss_mean.reset();
        self.output_loss.iter_mut().for_each(Mean::reset);
        for (b0, b1) in batches(n, batch_size)? {
            let m = b1 - b0;
            let ws = workspace(&self.network, &mut self.workspace, batch_size.min(n));
            self.network.forward(ws, N::Input::range(x, b0, b1), m, false);
            let mut total = 0.0;
            for (o, loss) in self.losses.iter().enumerate() {
                let len = loss.target_len(<N::Output as SampleSet>::member_len(o));
                let yt = &targets[o][(start + b0) * len..(start + b1) * len];
                let value = output_loss(&**loss, N::output_buffers(ws, o, m), yt, None, false, m, 1.0);
                let (out, _) = N::output_and_grad(ws, o, m);
                total += self.loss_weights[o] * value;
                self.output_loss[o].update(value as f64, m as f64);
                self.metrics[o].iter_mut().for_each(|s| s.update(out, yt, None, m));
            }
            self.loss_mean.update(total as f64, m as f64);
        }
        let mut logs = Logs::default();
        for (name, value) in self.metric_results() {
            logs.set(&name, value);
        }
        (self.metrics, self.loss_mean, self.output_loss) = saved;
        Ok(logs)
    }

    /// Keras's `predict`: outputs for every sample, computed in batches.
    ///
    /// Uses the model's own buffers, hence `&mut self`; to predict from
    /// several threads on one shared model, use [`Network::predict_with`]
    /// (`&self`, caller-owned [`PredictBuffers`]): same outputs.
    pub fn predict<'a, X: BatchOf<'a, Set = N::Input>>(&mut self, x: X, batch_size: usize) -> Result<Vec<N::Output>> {
        predict_with(&self.network, &mut self.workspace, x.into_batch(), batch_size)
    }

    /// The index of the largest value of the first output, per sample
    /// (Keras's `predict_classes` for softmax outputs).
    pub fn predict_classes<'a, X: BatchOf<'a, Set = N::Input>>(
        &mut self,
        x: X,
        batch_size: usize,
    ) -> Result<Vec<usize>> {
        let x = x.into_batch();
        let n = N::Input::samples(x)?;
        let xf = N::Input::flatten(x);
        self.network.check_input(xf)?;
        let mut classes = Vec::with_capacity(n);
        for (start, end) in batches(n, batch_size)? {
            let ws = workspace(&self.network, &mut self.workspace, batch_size.min(n));
            self.network.forward(ws, N::Input::range(xf, start, end), end - start, false);
            let (out, _) = N::output_and_grad(ws, 0, end - start);
            let len = <N::Output as SampleSet>::member_len(0);
            classes.extend(out.chunks_exact(len).map(crate::metrics::argmax));
        }
        Ok(classes)
    }

    /// Checks sample counts and the number of target members; returns the number of samples.
    fn check_data<Y: SampleSet>(&self, x: <N::Input as SampleSet>::Batch<'_>, y: Y::Batch<'_>) -> Result<usize> {
        let (n, m) = (N::Input::samples(x)?, Y::samples(y)?);
        if n != m {
            return Err(Error::SampleCountMismatch { inputs: n, targets: m });
        }
        if n == 0 {
            return Err(Error::NoData("train on"));
        }
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
        }
        Ok(n)
    }

    /// Checks every output's targets with its loss (label ranges).
    fn check_targets(&self, targets: &[Vec<f32>]) -> Result<()> {
        for (o, (loss, t)) in self.losses.iter().zip(targets).enumerate() {
            loss.check_targets(t, <N::Output as SampleSet>::member_len(o))?;
        }
        Ok(())
    }

    /// Forward, losses, backward and update on one batch of flat data.
    fn step_on(&mut self, x: InputFlat<'_, N>, y: &[Vec<f32>], weights: Option<&[f32]>, n: usize) -> Result<f32> {
        let ws = workspace(&self.network, &mut self.workspace, n);
        self.network.forward(ws, x, n, true);
        let mut total = 0.0;
        for (o, loss) in self.losses.iter().enumerate() {
            let w = self.loss_weights[o];
            let value = output_loss(&**loss, N::output_buffers(ws, o, n), &y[o], weights, true, n, w);
            let (out, _) = N::output_and_grad(ws, o, n);
            total += w * value;
            self.output_loss[o].update(value as f64, n as f64);
            self.metrics[o].iter_mut().for_each(|m| m.update(out, &y[o], weights, n));
        }
        if !total.is_finite() {
            return Err(Error::NonFiniteLoss { loss: total, epoch: 0, batch: 0 });
        }
        // Keras tracks the epoch loss as the batch losses' mean weighted by batch size.
        self.loss_mean.update(total as f64, n as f64);
        self.network.backward(ws, x, n);
        let network = &mut self.network;
        optimizers::step(&mut *self.optimizer, |f| network.visit_params(f));
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

/// The workspace, rebuilt only when a larger batch arrives.
fn workspace<'w, N: Network>(network: &N, slot: &'w mut Option<N::Workspace>, batch: usize) -> &'w mut N::Workspace {
    if slot.as_ref().is_none_or(|w| N::capacity(w) < batch) {
        *slot = Some(network.workspace(batch));
    }
    slot.as_mut().expect("just filled")
}

/// `(start, end)` of consecutive batches of `size` over `n` samples.
fn batches(n: usize, size: usize) -> Result<impl Iterator<Item = (usize, usize)>> {
    if size == 0 {
        return Err(Error::InvalidArgument { name: "batch_size", reason: "must be at least 1".into() });
    }
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

/// Batched inference with an existing (or new) workspace.
pub(crate) fn predict_with<N: Network>(
    network: &N,
    slot: &mut Option<N::Workspace>,
    x: <N::Input as SampleSet>::Batch<'_>,
    batch_size: usize,
) -> Result<Vec<N::Output>> {
    let n = N::Input::samples(x)?;
    let xf = N::Input::flatten(x);
    network.check_input(xf)?;
    let outputs = <N::Output as SampleSet>::COUNT;
    let mut result = Vec::with_capacity(n);
    for (start, end) in batches(n, batch_size)? {
        let m = end - start;
        let ws = workspace(network, slot, batch_size.min(n));
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
    Ok(result)
}
