//! Keras's `LambdaCallback`.

use super::{Callback, CallbackContext, Logs};
use crate::error::Result;
use crate::network::Network;

type EpochFn<'a> = Box<dyn FnMut(usize, &Logs) + 'a>;
type LogsFn<'a> = Box<dyn FnMut(&Logs) + 'a>;

/// A callback made of closures (Keras's `LambdaCallback`): each runs at
/// its hook with Keras's arguments — `(epoch, logs)` for epochs,
/// `(batch, logs)` for training batches, `(logs)` for training's start and
/// end (empty logs at the starts, as Keras passes none).
///
/// ```
/// use kiln::train::LambdaCallback;
/// let mut seen = Vec::new();
/// let print_loss = LambdaCallback::new()
///     .on_epoch_end(|epoch, logs| println!("epoch {epoch}: loss {:?}", logs.get("loss")))
///     .on_train_batch_end(|batch, _logs| seen.push(batch));
/// ```
#[derive(Default)]
pub struct LambdaCallback<'a> {
    on_epoch_begin: Option<EpochFn<'a>>,
    on_epoch_end: Option<EpochFn<'a>>,
    on_train_batch_begin: Option<EpochFn<'a>>,
    on_train_batch_end: Option<EpochFn<'a>>,
    on_train_begin: Option<LogsFn<'a>>,
    on_train_end: Option<LogsFn<'a>>,
    empty: Logs,
}

impl<'a> LambdaCallback<'a> {
    /// A callback doing nothing until closures are added.
    pub fn new() -> Self {
        Self::default()
    }
    /// `f(epoch, logs)` before each epoch.
    pub fn on_epoch_begin(mut self, f: impl FnMut(usize, &Logs) + 'a) -> Self {
        self.on_epoch_begin = Some(Box::new(f));
        self
    }
    /// `f(epoch, logs)` after each epoch.
    pub fn on_epoch_end(mut self, f: impl FnMut(usize, &Logs) + 'a) -> Self {
        self.on_epoch_end = Some(Box::new(f));
        self
    }
    /// `f(batch, logs)` before each training batch.
    pub fn on_train_batch_begin(mut self, f: impl FnMut(usize, &Logs) + 'a) -> Self {
        self.on_train_batch_begin = Some(Box::new(f));
        self
    }
    /// `f(batch, logs)` after each training batch.
    pub fn on_train_batch_end(mut self, f: impl FnMut(usize, &Logs) + 'a) -> Self {
        self.on_train_batch_end = Some(Box::new(f));
        self
    }
    /// `f(logs)` when training begins.
    pub fn on_train_begin(mut self, f: impl FnMut(&Logs) + 'a) -> Self {
        self.on_train_begin = Some(Box::new(f));
        self
    }
    /// `f(logs)` when training ends.
    pub fn on_train_end(mut self, f: impl FnMut(&Logs) + 'a) -> Self {
        self.on_train_end = Some(Box::new(f));
        self
    }
}

impl<N: Network> Callback<N> for LambdaCallback<'_> {
    fn on_train_begin(&mut self, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(f) = &mut self.on_train_begin {
            f(&self.empty);
        }
        Ok(())
    }
    fn on_train_end(&mut self, logs: &Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(f) = &mut self.on_train_end {
            f(logs);
        }
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(f) = &mut self.on_epoch_begin {
            f(epoch, &self.empty);
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(f) = &mut self.on_epoch_end {
            f(epoch, logs);
        }
        Ok(())
    }
    fn on_train_batch_begin(&mut self, batch: usize, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(f) = &mut self.on_train_batch_begin {
            f(batch, &self.empty);
        }
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(f) = &mut self.on_train_batch_end {
            f(batch, logs);
        }
        Ok(())
    }
}
