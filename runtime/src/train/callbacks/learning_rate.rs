//! Keras's `LearningRateScheduler` and `ReduceLROnPlateau`.

use super::{Callback, CallbackContext, Logs, Mode, Monitor};
use crate::error::{Error, Result};
use crate::network::Network;

/// Sets the learning rate at the start of every epoch from
/// `schedule(epoch, current_rate)` (Keras's `LearningRateScheduler`; the
/// rate is passed and returned as `f64`, Python's float, and stored in the
/// optimizer's `f32`, as Keras stores it in a float32 variable). Adds
/// `learning_rate` to each epoch's logs. An optimizer whose rate follows a
/// schedule is refused when training begins (Keras raises: its rate is not
/// settable).
///
/// ```
/// use kiln::train::LearningRateScheduler;
/// // Keras's documented example: constant for 10 epochs, then decaying.
/// let scheduler = LearningRateScheduler::new(|epoch, lr| if epoch < 10 { lr } else { lr * (-0.1f64).exp() });
/// ```
pub struct LearningRateScheduler<'a> {
    schedule: Box<dyn FnMut(usize, f64) -> f64 + 'a>,
    verbose: u8,
}

impl<'a> LearningRateScheduler<'a> {
    /// `schedule(epoch, learning_rate) -> new learning_rate`, epochs zero-based.
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + 'a) -> Self {
        LearningRateScheduler { schedule: Box::new(schedule), verbose: 0 }
    }

    /// 1 prints each new rate.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
}

impl<N: Network> Callback<N> for LearningRateScheduler<'_> {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        super::check_rate_settable(ctx.optimizer(), "LearningRateScheduler")
    }

    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        let rate = (self.schedule)(epoch, f64::from(ctx.learning_rate()));
        if !rate.is_finite() || rate < 0.0 {
            return Err(Error::InvalidArgument {
                name: "schedule",
                reason: format!("returned learning rate {rate} for epoch {epoch}; it must be finite and ≥ 0"),
            });
        }
        ctx.set_learning_rate(rate as f32)?;
        if self.verbose > 0 {
            println!("\nEpoch {}: LearningRateScheduler setting learning rate to {rate}.", epoch + 1);
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        logs.set("learning_rate", ctx.learning_rate());
        Ok(())
    }
}

/// Lowers the learning rate when a monitored quantity stops improving
/// (Keras 3's `ReduceLROnPlateau`, same arguments, defaults and rules). An
/// optimizer whose rate follows a schedule is refused when training begins
/// (Keras raises at the first reduction).
///
/// At each epoch's end it logs the current `learning_rate`, then: during a
/// cooldown, counts it down and resets the wait; an improvement by more
/// than `min_delta` makes the value the best and resets the wait;
/// otherwise, out of cooldown, the wait grows and on reaching `patience`
/// the rate becomes `max(rate · factor, min_lr)` (when above `min_lr`),
/// the cooldown starts and the wait resets.
///
/// ```
/// use kiln::train::ReduceLrOnPlateau;
/// let reduce = ReduceLrOnPlateau::new().monitor("val_loss").factor(0.2).patience(5).min_lr(0.001);
/// ```
#[derive(Clone, Debug)]
pub struct ReduceLrOnPlateau {
    monitor: Monitor,
    factor: f64,
    patience: usize,
    verbose: u8,
    cooldown: usize,
    min_lr: f64,
    cooldown_counter: usize,
    wait: usize,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        Self::new()
    }
}

impl ReduceLrOnPlateau {
    /// Keras's defaults: `monitor="val_loss"`, `factor=0.1`, `patience=10`,
    /// `verbose=0`, `mode="auto"`, `min_delta=1e-4`, `cooldown=0`, `min_lr=0`.
    pub fn new() -> Self {
        ReduceLrOnPlateau {
            monitor: Monitor::new("val_loss", 1e-4),
            factor: 0.1,
            patience: 10,
            verbose: 0,
            cooldown: 0,
            min_lr: 0.0,
            cooldown_counter: 0,
            wait: 0,
        }
    }

    /// The logged quantity to watch.
    pub fn monitor(mut self, name: &str) -> Self {
        self.monitor.name = name.into();
        self
    }

    /// The rate is multiplied by `factor` (< 1; checked when training begins).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Epochs without improvement before the rate is lowered.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// 1 prints each reduction.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Whether the quantity should go down or up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }

    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta.abs();
        self
    }

    /// Epochs to wait after a reduction before counting again.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The rate is never lowered below `min_lr`.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Epochs since the last improvement.
    pub fn wait(&self) -> usize {
        self.wait
    }
}

impl<N: Network> Callback<N> for ReduceLrOnPlateau {
    fn on_train_begin(&mut self, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        super::check_rate_settable(ctx.optimizer(), "ReduceLROnPlateau")?;
        if self.factor.is_nan() || self.factor >= 1.0 {
            return Err(Error::InvalidArgument {
                name: "factor",
                reason: format!("ReduceLROnPlateau does not support a factor ≥ 1.0, but it is {}", self.factor),
            });
        }
        if self.factor <= 0.0 {
            // Keras takes it, and the rate jumps to `min_lr` at the first plateau.
            return Err(Error::InvalidArgument {
                name: "factor",
                reason: format!("ReduceLROnPlateau's factor must be > 0, but is {}", self.factor),
            });
        }
        if !self.min_lr.is_finite() || self.min_lr < 0.0 {
            return Err(Error::InvalidArgument {
                name: "min_lr",
                reason: format!("must be finite and ≥ 0, but is {}", self.min_lr),
            });
        }
        self.monitor.best = None;
        self.cooldown_counter = 0;
        self.wait = 0;
        self.monitor.resolve(ctx.model(), "ReduceLROnPlateau")
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        self.monitor.resolve(ctx.model(), "ReduceLROnPlateau")?;
        logs.set("learning_rate", ctx.learning_rate());
        let Some(current) = self.monitor.value(logs, "Learning rate reduction") else { return Ok(()) };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.monitor.is_improvement(current, self.monitor.best) {
            self.monitor.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                // Keras: `old_lr > np.float32(min_lr)`, then `max(old_lr * factor, min_lr)`
                // in Python floats, stored into the float32 variable.
                let old = f64::from(ctx.learning_rate());
                if old > f64::from(self.min_lr as f32) {
                    let new = (old * self.factor).max(self.min_lr);
                    ctx.set_learning_rate(new as f32)?;
                    if self.verbose > 0 {
                        println!("\nEpoch {}: ReduceLROnPlateau reducing learning rate to {new}.", epoch + 1);
                    }
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}
