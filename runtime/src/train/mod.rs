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
mod fit;
mod history;
mod progress;

pub use callbacks::{Callback, Control};
pub use fit::Fit;
pub use history::{History, Logs};

use crate::error::{Error, Result};
use crate::losses::{batch_loss, Loss};
use crate::metrics::{Mean, Metric, MetricState};
use crate::network::{InputElem, Network};
use crate::optimizers::{self, Optimizer};
use crate::sample::{flatten, from_flat, Element, Sample};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `network.compile(optimizer, loss, metrics)`: turns a network into a
/// trainable [`Model`]. Implemented for every [`Network`].
pub trait Compile: Network + Sized {
    /// Keras's `model.compile`.
    fn compile(
        self,
        optimizer: impl Optimizer + 'static,
        loss: impl Loss + 'static,
        metrics: &[Metric],
    ) -> Model<Self> {
        Model::new(self, Box::new(optimizer), Box::new(loss), metrics)
    }
}

impl<N: Network> Compile for N {}

/// A network with its optimizer, loss and metrics, and the buffers
/// training reuses from step to step.
///
/// Dereferences to the network, so `model.summary()` and
/// `model.predict_one(…)` work on it directly.
pub struct Model<N: Network> {
    network: N,
    optimizer: Box<dyn Optimizer>,
    loss: Box<dyn Loss>,
    metrics: Vec<MetricState>,
    workspace: Option<N::Workspace>,
    batch: BatchBuffers<InputElem<N>>,
    loss_mean: Mean,
    rng: ChaCha8Rng,
}

/// One batch gathered from the data set.
struct BatchBuffers<E> {
    x: Vec<E>,
    y: Vec<f32>,
    weights: Vec<f32>,
}

impl<N: Network> Model<N> {
    fn new(network: N, optimizer: Box<dyn Optimizer>, loss: Box<dyn Loss>, metrics: &[Metric]) -> Self {
        let outputs = <N::Output as Sample>::LEN;
        let metrics = metrics.iter().map(|&m| MetricState::new(m, &*loss, outputs)).collect();
        Model {
            network,
            optimizer,
            loss,
            metrics,
            workspace: None,
            batch: BatchBuffers { x: Vec::new(), y: Vec::new(), weights: Vec::new() },
            loss_mean: Mean::default(),
            rng: ChaCha8Rng::seed_from_u64(0x5eed),
        }
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
    pub fn fit<'a, Y: Sample>(&'a mut self, x: &'a [N::Input], y: &'a [Y]) -> Fit<'a, N, Y> {
        Fit::new(self, x, y)
    }

    /// One gradient step on one batch; returns the batch loss. Metrics
    /// accumulate until [`Model::reset_metrics`]. After the first call with
    /// a given batch size, allocates nothing.
    pub fn train_on_batch<Y: Sample>(&mut self, x: &[N::Input], y: &[Y]) -> Result<f32> {
        let outputs = self.check_data(x, y)?;
        self.network.check_input(flatten(x))?;
        let mut y_flat = std::mem::take(&mut self.batch.y);
        y_flat.clear();
        y_flat.extend(flatten(y).iter().map(|v| v.to_f32()));
        let result =
            self.loss.check_targets(&y_flat, outputs).and_then(|()| self.step_on(flatten(x), &y_flat, None, x.len()));
        self.batch.y = y_flat;
        result
    }

    /// The running loss and metric values since the last reset.
    pub fn metric_results(&self) -> impl Iterator<Item = (&'static str, f32)> + '_ {
        std::iter::once(("loss", self.loss_mean.result()))
            .chain(self.metrics.iter().map(|m| (m.metric.name(), m.result())))
    }

    /// Starts the running loss and metrics over.
    pub fn reset_metrics(&mut self) {
        self.loss_mean.reset();
        self.metrics.iter_mut().for_each(MetricState::reset);
    }

    /// Keras's `evaluate`: the loss and metrics over `x`, `y`.
    pub fn evaluate<Y: Sample>(&mut self, x: &[N::Input], y: &[Y], batch_size: usize) -> Result<Logs> {
        let out_len = self.check_data(x, y)?;
        self.network.check_input(flatten(x))?;
        let y_flat: Vec<f32> = flatten(y).iter().map(|v| v.to_f32()).collect();
        self.loss.check_targets(&y_flat, out_len)?;
        let t_len = Y::LEN;
        let mut loss = Mean::default();
        let mut metrics: Vec<MetricState> = self.metrics.clone();
        metrics.iter_mut().for_each(MetricState::reset);
        let x_flat = flatten(x);
        let in_len = <N::Input as Sample>::LEN;
        for (start, end) in batches(x.len(), batch_size)? {
            let n = end - start;
            let ws = workspace(&self.network, &mut self.workspace, batch_size.min(x.len()));
            self.network.forward(ws, &x_flat[start * in_len..end * in_len], n, false);
            let (out, _) = N::output_and_grad(ws, n);
            let yt = &y_flat[start * t_len..end * t_len];
            loss.update(batch_loss(&*self.loss, out, yt, None, None, n) as f64, n as f64);
            metrics.iter_mut().for_each(|m| m.update(out, yt, None, n));
        }
        let mut logs = Logs::default();
        logs.set("loss", loss.result());
        metrics.iter().for_each(|m| logs.set(m.metric.name(), m.result()));
        Ok(logs)
    }

    /// Keras's `predict`: outputs for every sample, computed in batches.
    pub fn predict(&mut self, x: &[N::Input], batch_size: usize) -> Result<Vec<N::Output>> {
        predict_with(&self.network, &mut self.workspace, x, batch_size)
    }

    /// The index of the largest output of every sample (Keras's
    /// `predict_classes` for softmax outputs).
    pub fn predict_classes(&mut self, x: &[N::Input], batch_size: usize) -> Result<Vec<usize>> {
        let outputs = self.predict(x, batch_size)?;
        Ok(outputs.iter().map(|o| crate::metrics::argmax(crate::sample::flatten_one(o))).collect())
    }

    /// Checks sample counts and target shapes; returns the output length.
    fn check_data<Y: Sample>(&self, x: &[N::Input], y: &[Y]) -> Result<usize> {
        if x.len() != y.len() {
            return Err(Error::SampleCountMismatch { inputs: x.len(), targets: y.len() });
        }
        if x.is_empty() {
            return Err(Error::NoData("train on"));
        }
        let outputs = <N::Output as Sample>::LEN;
        let expected = self.loss.target_len(outputs);
        if Y::LEN != expected {
            return Err(Error::TargetShape { loss: self.loss.name(), expected, found: Y::LEN });
        }
        Ok(outputs)
    }

    /// Forward, loss, backward and update on one batch of flat data.
    fn step_on(&mut self, x: &[InputElem<N>], y: &[f32], weights: Option<&[f32]>, n: usize) -> Result<f32> {
        let ws = workspace(&self.network, &mut self.workspace, n);
        self.network.forward(ws, x, n, true);
        let (out, grad) = N::output_and_grad(ws, n);
        let loss = batch_loss(&*self.loss, out, y, weights, Some(grad), n);
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { loss, epoch: 0, batch: 0 });
        }
        // Keras tracks the epoch loss as the batch losses' mean weighted by batch size.
        self.loss_mean.update(loss as f64, n as f64);
        self.metrics.iter_mut().for_each(|m| m.update(out, y, weights, n));
        self.network.backward(ws, x, n);
        let network = &mut self.network;
        optimizers::step(&mut *self.optimizer, |f| network.visit_params(f));
        Ok(loss)
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

/// Batched inference with an existing (or new) workspace.
pub(crate) fn predict_with<N: Network>(
    network: &N,
    slot: &mut Option<N::Workspace>,
    x: &[N::Input],
    batch_size: usize,
) -> Result<Vec<N::Output>> {
    network.check_input(flatten(x))?;
    let x_flat = flatten(x);
    let (in_len, out_len) = (<N::Input as Sample>::LEN, <N::Output as Sample>::LEN);
    let mut outputs = Vec::with_capacity(x.len());
    for (start, end) in batches(x.len(), batch_size)? {
        let n = end - start;
        let ws = workspace(network, slot, batch_size.min(x.len()));
        network.forward(ws, &x_flat[start * in_len..end * in_len], n, false);
        let (out, _) = N::output_and_grad(ws, n);
        outputs.extend(out.chunks_exact(out_len).map(from_flat::<N::Output>));
    }
    Ok(outputs)
}
