//! Keras's `TerminateOnNaN`.

use super::{Callback, CallbackContext, Logs};
use crate::error::{Error, Result};
use crate::network::Network;

/// Stops training when a batch's loss is NaN or infinite (Keras's
/// `TerminateOnNaN`).
///
/// kiln never applies such a step (see [`Error::NonFiniteLoss`]), so the
/// model keeps the weights of the last good step; with this callback
/// `fit` then ends normally (the epoch's logs and `on_train_end` included)
/// instead of returning the error. With `raise_error(true)`, it returns
/// [`Error::NonFiniteLoss`] instead, as Keras raises.
#[derive(Clone, Debug, Default)]
pub struct TerminateOnNan {
    raise_error: bool,
    epoch: usize,
}

impl TerminateOnNan {
    /// Keras's default: stop, do not raise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Return an error rather than stopping quietly.
    pub fn raise_error(mut self, raise: bool) -> Self {
        self.raise_error = raise;
        self
    }
}

impl<N: Network> Callback<N> for TerminateOnNan {
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut CallbackContext<'_, N>) -> Result<()> {
        self.epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctx: &mut CallbackContext<'_, N>) -> Result<()> {
        if let Some(loss) = logs.get("loss").filter(|l| !l.is_finite()) {
            if self.raise_error {
                return Err(Error::NonFiniteLoss { loss, epoch: self.epoch, batch });
            }
            println!("Batch {batch}: Invalid loss, terminating training");
            ctx.set_stop_training(true);
        }
        Ok(())
    }
}
