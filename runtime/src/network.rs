//! The interface between a generated model and the training loop.

use crate::param::Param;
use crate::sample::{BatchOf, SampleSet};
use crate::summary::Summary;
use crate::train::PredictBuffers;

/// A model's flat input batch: `&[E]`, or a tuple of slices for several inputs.
pub type InputFlat<'a, N> = <<N as Network>::Input as SampleSet>::Flat<'a>;

/// A model with static per-sample shapes, a forward pass over batches, a
/// generated backward pass and its parameters. `model!` implements it;
/// hand-written models can too.
pub trait Network {
    /// One sample's input: an array (`[[f32; 28]; 28]`), or a tuple of
    /// arrays for several inputs.
    type Input: SampleSet;
    /// One sample's output: an array, or a tuple of arrays for several outputs.
    type Output: SampleSet;
    /// Activations, gradients and caches for up to `capacity` samples.
    type Workspace: Send;

    /// Keras's names of the output layers (used in logs: `main_output_loss`).
    fn output_names(&self) -> Vec<&'static str>;

    /// A workspace for batches of up to `capacity` samples.
    fn workspace(&self, capacity: usize) -> Self::Workspace;

    /// The batch capacity `workspace` was built with.
    fn capacity(workspace: &Self::Workspace) -> usize;

    /// Checks run-time properties of inputs the types cannot express
    /// (token ids below an `Embedding`'s `input_dim`).
    fn check_input(&self, _x: InputFlat<'_, Self>) -> crate::Result<()> {
        Ok(())
    }

    /// Checks the layers' activity regularizers
    /// ([`crate::regularizers::Regularizer::validate`]); `fit` and
    /// `train_on_batch` call it before any step.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming the factor and the layer.
    fn check_activity_regularizers(&self) -> crate::Result<()> {
        Ok(())
    }

    /// Runs the model on `batch` samples, leaving every activation in `workspace`.
    ///
    /// # Panics
    /// If `batch` exceeds the workspace's capacity or `x` is too short.
    fn forward(&self, workspace: &mut Self::Workspace, x: InputFlat<'_, Self>, batch: usize, training: bool);

    /// Output `index` of the last `forward` (`batch × len` values) and the
    /// buffer the loss writes `∂L/∂output` into.
    fn output_and_grad(workspace: &mut Self::Workspace, index: usize, batch: usize) -> (&[f32], &mut [f32]);

    /// Output `index` of the last `forward` with its gradient buffer and,
    /// when the output is `activation(logits)` for a whole-sample final
    /// activation that nothing else in the graph reads, those logits (so a
    /// cross-entropy can be computed from them, as Keras does).
    fn output_buffers(workspace: &mut Self::Workspace, index: usize, batch: usize) -> OutputBuffers<'_> {
        let (value, grad) = Self::output_and_grad(workspace, index, batch);
        OutputBuffers { value, grad, logits: None }
    }

    /// The activity regularizers' penalty of the last `forward` (Keras's
    /// `activity_regularizer`: `r(output) / batch` per regularized layer);
    /// `backward` adds its gradient. Zero for a model without any.
    fn activity_penalty(_workspace: &Self::Workspace) -> f32 {
        0.0
    }

    /// The run-time context in `workspace`, whose generator the stochastic
    /// layers (`Dropout`, `SpatialDropout`, `GaussianNoise`) draw from:
    /// checkpoints save its state, and a rebuilt workspace continues it,
    /// so a resumed run draws the masks an uninterrupted one would.
    /// `None` (the default, for hand-written networks) when there is none.
    fn ctx(_workspace: &Self::Workspace) -> Option<&crate::layers::Ctx> {
        None
    }

    /// [`Network::ctx`], mutably.
    fn ctx_mut(_workspace: &mut Self::Workspace) -> Option<&mut crate::layers::Ctx> {
        None
    }

    /// Back-propagates the gradients left in the output-gradient buffers
    /// through the last `forward`, overwriting every parameter's `grad`.
    fn backward(&mut self, workspace: &mut Self::Workspace, x: InputFlat<'_, Self>, batch: usize);

    /// Visits every parameter in a fixed order (the order optimizers and
    /// weight files use).
    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param));

    /// Visits every parameter read-only, in the same order.
    fn params(&self, f: &mut dyn FnMut(&Param));

    /// Every parameter's Keras path (`dense_1/kernel`,
    /// `lstm/lstm_cell/recurrent_kernel`), in [`Network::visit_params`]
    /// order; weight files name tensors by these paths. The default, for
    /// hand-written networks, numbers them: `0/kernel`, `1/bias`, ….
    fn param_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.params(&mut |p| paths.push(format!("{}/{}", paths.len(), p.name)));
        paths
    }

    /// Saves every parameter to a safetensors file at `path`, each tensor
    /// named by its Keras path (format in [`crate::io`]); the write is atomic.
    fn save_weights(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        crate::io::save_weights(self, path)
    }

    /// Loads weights saved by [`Network::save_weights`] (or a checkpoint's):
    /// matched by name, shapes checked; on error the network is unchanged.
    fn load_weights(&mut self, path: impl AsRef<std::path::Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        crate::io::load_weights(self, path)
    }

    /// The layer table Keras's `model.summary()` prints.
    fn summary(&self) -> Summary;

    /// One sample in, one sample out, no heap allocation; fails only for
    /// inputs [`Network::check_input`] rejects.
    fn try_predict_one(&self, x: &Self::Input) -> crate::Result<Self::Output>;

    /// Keras's `predict` on a shared network: outputs for every sample,
    /// computed in batches of `batch_size` in `buffers`, which the calling
    /// thread owns. Takes `&self`, so many threads can predict with one
    /// model at once (`Arc<Model<_>>` or scoped threads), each with its own
    /// buffers; results equal [`crate::train::Model::predict`]'s.
    fn predict_with<'a, X: BatchOf<'a, Set = Self::Input>>(
        &self,
        buffers: &mut PredictBuffers<Self>,
        x: X,
        batch_size: usize,
    ) -> crate::Result<Vec<Self::Output>>
    where
        Self: Sized,
    {
        crate::train::predict_shared(self, buffers, x.into_batch(), batch_size)
    }
}

/// One output of the last forward pass, as the loss sees it.
#[derive(Debug)]
pub struct OutputBuffers<'a> {
    /// `batch × len` output values.
    pub value: &'a [f32],
    /// Where the loss writes `∂L/∂value` (or `∂L/∂logits`, see [`Logits`]).
    pub grad: &'a mut [f32],
    /// The pre-activation values, when the model exposes them.
    pub logits: Option<Logits<'a>>,
}

/// The logits `z` of an output `value = activation(z)`.
#[derive(Debug)]
pub struct Logits<'a> {
    /// The final activation (softmax over the sample, or element-wise).
    pub activation: crate::activations::Activation,
    /// `batch × len` logits.
    pub values: &'a [f32],
    /// Set when the loss wrote `∂L/∂z` rather than `∂L/∂value` into the
    /// gradient buffer; the next `backward` then skips the activation's
    /// derivative (and clears the flag).
    pub grad_is_logits: &'a mut bool,
}

/// Counts a layer's (trainable, non-trainable) scalars.
pub fn count_params(visit: impl FnOnce(&mut dyn FnMut(&Param))) -> (usize, usize) {
    let (mut trainable, mut frozen) = (0, 0);
    visit(&mut |p: &Param| {
        if p.trainable {
            trainable += p.len();
        } else {
            frozen += p.len();
        }
    });
    (trainable, frozen)
}
