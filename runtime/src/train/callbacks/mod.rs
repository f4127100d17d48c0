//! Callbacks: hooks `fit` (and `evaluate_with_callbacks`,
//! `predict_with_callbacks`) call at the start and end of training, of
//! each epoch and of each batch, with the logs and the model in hand
//! ([`CallbackContext`]): a callback can read, save or restore the weights,
//! change the learning rate and stop training.
//!
//! The built-in callbacks follow Keras 3's arguments, defaults and
//! semantics (`keras/src/callbacks/*.py`), checked against real Keras in
//! `tests/callbacks.rs` (`tests/fixtures/callbacks_keras.py`).

mod csv_logger;
mod early_stopping;
mod format;
mod lambda;
mod learning_rate;
mod model_checkpoint;
mod tensorboard;
mod terminate_on_nan;

pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use lambda::LambdaCallback;
pub use learning_rate::{LearningRateScheduler, ReduceLrOnPlateau};
pub use model_checkpoint::{ModelCheckpoint, SaveFreq};
pub use tensorboard::{TensorBoard, UpdateFreq};
pub use terminate_on_nan::TerminateOnNan;

pub(crate) use format::python_repr;

use super::history::{History, Logs};
use super::Model;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::optimizers::Optimizer;
use std::path::Path;

/// What `fit` tells its callbacks about the run (Keras's `callback.params`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FitParams {
    /// The `epochs` argument of `fit` (1 for `evaluate` and `predict`).
    pub epochs: usize,
    /// Batches per epoch (or per evaluation / prediction).
    pub steps: usize,
    /// The `verbose` argument.
    pub verbose: u8,
}

/// The model, as a callback sees it: its weights, its optimizer and
/// learning rate, the `stop_training` flag, and the run's [`FitParams`].
///
/// `fit` builds one for each hook call; to drive a callback by hand (tests,
/// a loop of your own), build one with [`CallbackContext::new`].
pub struct CallbackContext<'a, N: Network> {
    model: &'a mut Model<N>,
    params: FitParams,
}

impl<'a, N: Network> CallbackContext<'a, N> {
    /// A context over `model` with default (zero) parameters.
    pub fn new(model: &'a mut Model<N>) -> Self {
        CallbackContext { model, params: FitParams::default() }
    }

    /// A context over `model` with the run's parameters.
    pub fn with_params(model: &'a mut Model<N>, params: FitParams) -> Self {
        CallbackContext { model, params }
    }

    /// The run's parameters.
    pub fn params(&self) -> FitParams {
        self.params
    }

    /// The compiled model (summary, epoch, running metrics), read-only.
    pub fn model(&self) -> &Model<N> {
        self.model
    }

    /// The network being trained.
    pub fn network(&self) -> &N {
        &self.model.network
    }

    /// The network, mutably (to change weights).
    pub fn network_mut(&mut self) -> &mut N {
        &mut self.model.network
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        &*self.model.optimizer
    }

    /// The optimizer, mutably. `fit` re-checks its hyper-parameters after
    /// every hook, so a bad change is an error at the next step.
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer {
        &mut *self.model.optimizer
    }

    /// The optimizer's learning rate.
    pub fn learning_rate(&self) -> f32 {
        self.model.optimizer.learning_rate()
    }

    /// Sets the learning rate (effective from the next step).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `learning_rate` when it is negative
    /// or not finite, or when the optimizer's rate follows a schedule (which
    /// would overwrite it at the next step; Keras raises there too); the
    /// rate is then unchanged.
    pub fn set_learning_rate(&mut self, learning_rate: f32) -> Result<()> {
        check_rate_settable(&*self.model.optimizer, "a callback")?;
        let old = self.model.optimizer.learning_rate();
        self.model.optimizer.set_learning_rate(learning_rate);
        self.model.optimizer.validate().inspect_err(|_| self.model.optimizer.set_learning_rate(old))
    }

    /// Whether training will stop (Keras's `model.stop_training`).
    pub fn stop_training(&self) -> bool {
        self.model.stop_training
    }

    /// Asks `fit` to stop: after the current batch when set in a batch hook
    /// (the epoch still ends, with validation and `on_epoch_end`), after the
    /// epoch when set in an epoch hook.
    pub fn set_stop_training(&mut self, stop: bool) {
        self.model.stop_training = stop;
    }

    /// A copy of every parameter's values, in `visit_params` order
    /// (Keras's `model.get_weights()`).
    pub fn get_weights(&self) -> Vec<Vec<f32>> {
        let mut weights = Vec::new();
        self.model.network.params(&mut |p| weights.push(p.value.to_vec()));
        weights
    }

    /// Sets every parameter from `weights` (as [`Self::get_weights`] returns them).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `weights` when their number or a
    /// length differs from the model's; the model is then unchanged.
    pub fn set_weights(&mut self, weights: &[Vec<f32>]) -> Result<()> {
        let mut lengths = Vec::new();
        self.model.network.params(&mut |p| lengths.push(p.value.len()));
        let reason = if lengths.len() != weights.len() {
            Some(format!("the model has {} parameters but {} arrays were given", lengths.len(), weights.len()))
        } else {
            lengths
                .iter()
                .zip(weights)
                .enumerate()
                .find(|(_, (&l, w))| l != w.len())
                .map(|(i, (l, w))| format!("parameter {i} has {l} values but its array has {}", w.len()))
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidArgument { name: "weights", reason });
        }
        let mut i = 0;
        self.model.network.visit_params(&mut |p| {
            p.value.copy_from_slice(&weights[i]);
            i += 1;
        });
        Ok(())
    }

    /// Saves the weights to a safetensors file, atomically
    /// ([`crate::io::save_weights`]).
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::save_weights(&self.model.network, path)
    }

    /// Loads weights saved by [`Self::save_weights`].
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::load_weights(&mut self.model.network, path)
    }

    /// Saves the whole training state, atomically ([`Model::save`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.model.save(path)
    }
}

/// A callback (Keras's `keras.callbacks.Callback`), for models of network
/// type `N`. Every hook does nothing by default; an error from a hook ends
/// `fit` with that error. Object-safe: `fit` takes `&mut dyn Callback<N>`.
///
/// ```
/// use kiln::prelude::*;
///
/// /// Stops once the loss is small enough.
/// struct StopBelow(f32);
/// impl<N: Network> Callback<N> for StopBelow {
///     fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
///         if logs.get("loss").is_some_and(|l| l < self.0) {
///             ctx.set_stop_training(true);
///         }
///         Ok(())
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Callback<N: Network> {
    /// Before the first epoch.
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After the last epoch, with its logs (empty when no epoch ran).
    fn on_train_end(&mut self, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// Before epoch `epoch` (zero-based).
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After epoch `epoch`, with its training and validation logs. A
    /// callback may add entries (as `ReduceLROnPlateau` adds
    /// `learning_rate`); later callbacks, the progress bar and the
    /// `History` see them.
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// Before training batch `batch` of the epoch.
    fn on_train_batch_begin(&mut self, batch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After training batch `batch`, with the running loss and metrics of
    /// the epoch so far. When the step was refused because its loss was
    /// not finite, `loss` is that value (so [`TerminateOnNan`] sees it);
    /// `fit` then ends with the error unless a callback stops training.
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// Before an evaluation (also `fit`'s validation).
    fn on_test_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After an evaluation, with its logs (without the `val_` prefix).
    fn on_test_end(&mut self, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// Before evaluation batch `batch`.
    fn on_test_batch_begin(&mut self, batch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After evaluation batch `batch`, with the running loss and metrics.
    fn on_test_batch_end(&mut self, batch: usize, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// Before a prediction.
    fn on_predict_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After a prediction.
    fn on_predict_end(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// Before prediction batch `batch`.
    fn on_predict_batch_begin(&mut self, batch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
    /// After prediction batch `batch`.
    fn on_predict_batch_end(&mut self, batch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        Ok(())
    }
}

/// `History` as a callback records every epoch's logs (`fit` returns one
/// already; pass another to collect several runs in one).
impl<N: Network> Callback<N> for History {
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        self.record(epoch, logs);
        Ok(())
    }
}

/// Calls `hook` on every callback in order, each with a fresh context over
/// `model`; stops at the first error.
pub(crate) fn each<N: Network>(
    callbacks: &mut [&mut dyn Callback<N>],
    model: &mut Model<N>,
    params: FitParams,
    mut hook: impl FnMut(&mut dyn Callback<N>, &mut CallbackContext<'_, N>) -> Result<()>,
) -> Result<()> {
    for callback in callbacks.iter_mut() {
        let mut ctx = CallbackContext { model: &mut *model, params };
        hook(&mut **callback, &mut ctx)?;
    }
    Ok(())
}

/// Whether a monitored quantity should go down or up (Keras's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// From the name: `loss` and losses go down, accuracies up (Keras's
    /// `"auto"`); a name kiln cannot place is an error at `on_train_begin`.
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// Keras's `MonitorCallback`: the monitored name, the comparison and the best value.
#[derive(Clone, Debug)]
pub(crate) struct Monitor {
    pub name: String,
    pub mode: Mode,
    /// `|min_delta|`, signed once the direction is known (negative for `min`), as Keras does.
    pub min_delta: f64,
    /// `Some(true)` when higher is better; `None` until resolved.
    pub greater: Option<bool>,
    pub best: Option<f64>,
}

impl Monitor {
    pub fn new(name: &str, min_delta: f64) -> Self {
        Monitor { name: name.into(), mode: Mode::Auto, min_delta: min_delta.abs(), greater: None, best: None }
    }

    /// Keras's `_set_monitor_op`: decides the direction once.
    pub fn resolve<N: Network>(&mut self, model: &Model<N>, callback: &str) -> Result<()> {
        // A NaN margin makes every comparison false (nothing ever improves).
        if !self.min_delta.is_finite() {
            return Err(Error::InvalidArgument {
                name: "min_delta",
                reason: format!("{callback}'s min_delta must be finite, but is {}", self.min_delta),
            });
        }
        if self.greater.is_some() {
            return Ok(());
        }
        let greater = match self.mode {
            Mode::Min => false,
            Mode::Max => true,
            Mode::Auto => {
                let metric = self.name.strip_prefix("val_").unwrap_or(&self.name);
                match model.metric_goes_up(metric) {
                    Some(up) => up,
                    None => {
                        return Err(Error::InvalidArgument {
                            name: "mode",
                            reason: format!(
                                "{callback} monitors `{}`, but cannot tell whether it should be minimized or maximized; give Mode::Min or Mode::Max",
                                self.name
                            ),
                        })
                    }
                }
            }
        };
        if !greater {
            self.min_delta = -self.min_delta.abs();
        }
        self.greater = Some(greater);
        Ok(())
    }

    /// Keras's `_is_improvement`: `ops.less(current − min_delta, reference)`
    /// (or `ops.greater`): the difference in Python floats (f64), the
    /// comparison on float32 tensors, so `0.9999 + 1e-4` does not beat `1.0`.
    pub fn is_improvement(&self, current: f64, reference: Option<f64>) -> bool {
        let Some(reference) = reference else { return true };
        let (value, reference) = ((current - self.min_delta) as f32, reference as f32);
        if self.greater == Some(true) {
            value > reference
        } else {
            value < reference
        }
    }

    /// The monitored value in `logs`, or a warning (as Keras warns) and `None`.
    pub fn value(&self, logs: &Logs, callback: &str) -> Option<f64> {
        let value = logs.get(&self.name).map(f64::from);
        if value.is_none() {
            let available: Vec<&str> = logs.iter().map(|(n, _)| n).collect();
            eprintln!(
                "warning: {callback} is conditioned on metric `{}` which is not available. Available metrics are: {}",
                self.name,
                available.join(",")
            );
        }
        value
    }
}

/// Refuses, naming `who`, to set the rate of an optimizer whose rate
/// follows a schedule: the schedule sets it at every step, so the new rate
/// would be silently lost. Keras raises a `TypeError` ("its learning rate
/// is not settable").
pub(crate) fn check_rate_settable(optimizer: &dyn crate::optimizers::Optimizer, who: &str) -> Result<()> {
    if optimizer.schedule().is_some() {
        return Err(Error::InvalidArgument {
            name: "learning_rate",
            reason: format!(
                "{who} cannot set the learning rate of an optimizer whose rate follows a schedule \
                 (the schedule sets it at every step); give the optimizer a constant rate instead"
            ),
        });
    }
    Ok(())
}
