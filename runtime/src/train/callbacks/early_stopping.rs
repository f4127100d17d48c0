//! Keras's `EarlyStopping`.

use super::{Callback, CallbackContext, Logs, Mode, Monitor};
use crate::error::{Error, Result};
use crate::network::Network;

/// Stops training when a monitored quantity has stopped improving
/// (Keras 3's `keras.callbacks.EarlyStopping`, same arguments, defaults and
/// rules).
///
/// At each epoch's end (from `start_from_epoch` on) the wait count grows
/// by one; an improvement on the best value by more than `min_delta`
/// makes it the best and, when it also beats `baseline` (if any), resets
/// the wait to 0. Training stops when the wait reaches `patience` (and the
/// epoch is not the first). With `restore_best_weights`, the weights of the
/// best epoch are put back when training ends — also when it ran all its
/// epochs, as Keras 3 does.
///
/// ```
/// use kiln::train::{EarlyStopping, Mode};
/// let stop = EarlyStopping::new().monitor("val_loss").patience(3).restore_best_weights(true);
/// let stop_acc = EarlyStopping::new().monitor("accuracy").mode(Mode::Max).baseline(0.9);
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    verbose: u8,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    wait: usize,
    stopped_epoch: usize,
    best_weights: Option<Vec<Vec<f32>>>,
    best_epoch: usize,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self::new()
    }
}

impl EarlyStopping {
    /// Keras's defaults: `monitor="val_loss"`, `min_delta=0`, `patience=0`,
    /// `verbose=0`, `mode="auto"`, no `baseline`, no
    /// `restore_best_weights`, `start_from_epoch=0`.
    pub fn new() -> Self {
        EarlyStopping {
            monitor: Monitor::new("val_loss", 0.0),
            patience: 0,
            verbose: 0,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            stopped_epoch: 0,
            best_weights: None,
            best_epoch: 0,
        }
    }

    /// The logged quantity to watch (`"val_loss"`, `"accuracy"`, …).
    pub fn monitor(mut self, name: &str) -> Self {
        self.monitor.name = name.into();
        self
    }

    /// The smallest change that counts as an improvement (its absolute value is used).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta.abs();
        self
    }

    /// Epochs without improvement before stopping.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// 1 prints when training stops and when weights are restored.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Whether the quantity should go down or up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }

    /// A value the quantity must beat for the wait to reset.
    pub fn baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// Restore the weights of the best epoch when training ends.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Epochs to wait before monitoring starts (a warm-up).
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// The epoch training stopped at (zero-based; 0 when it did not stop early).
    pub fn stopped_epoch(&self) -> usize {
        self.stopped_epoch
    }

    /// The best epoch seen (zero-based).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// The best value seen.
    pub fn best(&self) -> Option<f64> {
        self.monitor.best
    }

    /// Epochs since the last improvement that reset the wait.
    pub fn wait(&self) -> usize {
        self.wait
    }
}

impl<N: Network> Callback<N> for EarlyStopping {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        // Reusable across `fit` calls, as in Keras.
        self.wait = 0;
        self.stopped_epoch = 0;
        self.monitor.best = None;
        self.best_weights = None;
        self.best_epoch = 0;
        if let Some(baseline) = self.baseline.filter(|b| !b.is_finite()) {
            // A NaN (or infinite) baseline is never beaten: training would
            // stop after `patience` epochs whatever the metric did.
            return Err(Error::InvalidArgument {
                name: "baseline",
                reason: format!("EarlyStopping's baseline must be finite, but is {baseline}"),
            });
        }
        self.monitor.resolve(ctx.model(), "EarlyStopping")
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        self.monitor.resolve(ctx.model(), "EarlyStopping")?;
        let Some(current) = self.monitor.value(logs, "Early stopping") else { return Ok(()) };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            // Never set: the current weights are the best so far.
            self.best_weights = Some(ctx.get_weights());
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if self.monitor.is_improvement(current, self.monitor.best) {
            self.monitor.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(ctx.get_weights());
            }
            // The wait restarts only when both the baseline and the best are beaten.
            if self.baseline.is_none() || self.monitor.is_improvement(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            ctx.set_stop_training(true);
        }
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        if self.stopped_epoch > 0 && self.verbose > 0 {
            println!("Epoch {}: early stopping", self.stopped_epoch + 1);
        }
        if let (true, Some(weights)) = (self.restore_best_weights, &self.best_weights) {
            if self.verbose > 0 {
                println!("Restoring model weights from the end of the best epoch: {}.", self.best_epoch + 1);
            }
            ctx.set_weights(weights)?;
        }
        Ok(())
    }
}
