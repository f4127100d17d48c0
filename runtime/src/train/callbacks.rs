//! Callbacks: hooks `fit` calls at the start and end of training, of each
//! epoch and of each batch. Every hook does nothing by default.

use super::history::Logs;

/// What a callback may change while training runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Control {
    /// Set to end training after the current epoch (Keras's `model.stop_training`).
    pub stop_training: bool,
    /// The optimizer's learning rate; changes take effect at the next step.
    pub learning_rate: f32,
}

/// A training callback (Keras's `keras.callbacks.Callback`).
///
/// ```
/// use kiln::train::{Callback, Control, Logs};
/// /// Stops once the loss is small enough.
/// struct StopBelow(f32);
/// impl Callback for StopBelow {
///     fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, control: &mut Control) {
///         if logs.get("loss").is_some_and(|l| l < self.0) {
///             control.stop_training = true;
///         }
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, control: &mut Control) {}
    /// After the last epoch, with its logs.
    fn on_train_end(&mut self, logs: &Logs, control: &mut Control) {}
    /// Before epoch `epoch` (zero-based).
    fn on_epoch_begin(&mut self, epoch: usize, control: &mut Control) {}
    /// After epoch `epoch`, with its training and validation logs.
    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, control: &mut Control) {}
    /// Before batch `batch` of the epoch.
    fn on_batch_begin(&mut self, batch: usize, control: &mut Control) {}
    /// After batch `batch`, with the batch's loss.
    fn on_batch_end(&mut self, batch: usize, loss: f32, control: &mut Control) {}
}
