//! Layers: one file per layer kind, forward and backward side by side,
//! tests (with a finite-difference gradient check) at the bottom.
//!
//! Every layer implements [`Layer`], the one interface `model!` generates
//! calls to. Per-sample shapes are const generics of the layer type
//! (`Dense<784, 300>`), so a generated model is checked by rustc as well
//! as by the macro; the batch size is a run-time number.

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod depthwise;
mod dropout;
mod embedding;
mod flatten;
mod gru;
mod layer_norm;
mod lstm;
mod merge;
mod padding;
mod pool;
mod recurrent;
mod reduce;
mod reshape;
mod simple_rnn;
mod time_distributed;

pub use activation::ActivationLayer;
pub use batch_norm::{BatchNormalization, BatchNormalizationCache, BatchNormalizationConfig};
pub use conv::{conv_output_len, Conv, Conv1d, Conv2d, ConvCache, ConvConfig};
pub use dense::{Dense, DenseConfig};
pub use depthwise::{
    Depthwise, DepthwiseConfig, DepthwiseConv1d, DepthwiseConv2d, Separable, SeparableCache, SeparableConfig,
    SeparableConv1d, SeparableConv2d,
};
pub use dropout::{Dropout, DropoutCache, DropoutKind, GaussianNoise};
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use gru::Gru;
pub use layer_norm::{LayerNormalization, LayerNormalizationCache, LayerNormalizationConfig};
pub use lstm::Lstm;
pub use merge::{Concatenate, ElementWise, Merge, MergeOp};
pub use padding::{Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D};
pub use pool::{GlobalPooling, Padding, PoolMode, Pooling, PoolingCache};
pub use recurrent::{RecurrentCache, RecurrentConfig, RecurrentWeights};
pub use reduce::{Reduce, ReduceOp};
pub use reshape::{Permute, RepeatVector, Reshape};
pub use simple_rnn::SimpleRnn;
pub use time_distributed::TimeDistributed;

use crate::gemm::Scratch;
use crate::param::Param;
use crate::sample::Element;
use rand_chacha::ChaCha8Rng;

/// Run-time state shared by all layers of one workspace: GEMM packing
/// buffers, the training flag and a random source (for dropout).
#[derive(Debug)]
pub struct Ctx {
    /// Packing buffers for [`crate::gemm::sgemm`].
    pub scratch: Scratch,
    /// `true` during `fit` / `train_on_batch`, `false` for inference.
    pub training: bool,
    /// Random numbers for stochastic layers.
    pub rng: ChaCha8Rng,
    /// The activity regularizers' penalty of the last `forward`: the
    /// generated code adds each regularized layer's `r(output) / batch`,
    /// and a nested model its own layers' total. Whoever owns the `Ctx`
    /// resets it before each forward pass (a generated model does).
    pub activity_penalty: f32,
    /// Multiplies each activity penalty and its gradient: 1, or the steps
    /// `T` inside `TimeDistributed`, which runs its layer once over `batch
    /// × T` rows where Keras calls it once per step (each step's penalty
    /// divided by `batch`, not `batch × T`).
    pub activity_scale: f32,
}

impl Ctx {
    /// Runs `f` with [`Ctx::activity_scale`] multiplied by `factor`, then
    /// restores it (`TimeDistributed`'s inner layer: `factor` = `T`).
    pub(crate) fn with_activity_scale<R>(&mut self, factor: f32, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let scale = self.activity_scale;
        self.activity_scale = scale * factor;
        let result = f(self);
        self.activity_scale = scale;
        result
    }

    /// A context whose random stream starts from `seed`.
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        Ctx {
            scratch: Scratch::default(),
            training: false,
            rng: ChaCha8Rng::seed_from_u64(seed),
            activity_penalty: 0.0,
            activity_scale: 1.0,
        }
    }
}

/// Where a layer writes the gradient with respect to its input.
///
/// A tensor read by several layers receives the sum of their gradients:
/// the first layer (in backward order) overwrites the buffer, the others
/// accumulate into it.
#[derive(Debug)]
pub struct InputGrad<'a> {
    /// `batch × INPUT_LEN` values.
    pub grad: &'a mut [f32],
    /// Add to `grad` instead of overwriting it.
    pub accumulate: bool,
}

impl<'a> InputGrad<'a> {
    /// The first `len` values, ready to be added into: zeroed unless this
    /// gradient accumulates (for backward passes that scatter-add, such as
    /// convolutions and poolings).
    pub fn to_add_into(self, len: usize) -> &'a mut [f32] {
        let grad = &mut self.grad[..len];
        if !self.accumulate {
            // Not `fill`: without LTO it is a call that does not become a
            // `memset` (docs/PERFORMANCE.md, "Without LTO").
            for g in grad.iter_mut() {
                *g = 0.0;
            }
        }
        grad
    }

    /// Writes (or adds) `values` into the gradient buffer.
    pub fn store(self, values: &[f32]) {
        if self.accumulate {
            self.grad.iter_mut().zip(values).for_each(|(g, v)| *g += v);
        } else {
            self.grad.copy_from_slice(values);
        }
    }
}

/// A layer: forward and backward over a batch, and a one-sample forward
/// that allocates nothing.
///
/// Buffers are flat and row-major: `x` holds `batch × INPUT_LEN` values,
/// `y` and `dy` hold `batch × OUTPUT_LEN`.
pub trait Layer {
    /// Element type of the input (`f32`, or `u32` for token ids).
    type In: Element;
    /// What `forward` leaves for `backward` besides the input and output
    /// (a dropout mask, recurrent gates). Owned by the workspace.
    type Cache: Default + Send;
    /// Values per sample read.
    const INPUT_LEN: usize;
    /// Values per sample written.
    const OUTPUT_LEN: usize;

    /// Keras's class name, shown by `summary()`.
    fn keras_type(&self) -> &'static str;

    /// `y = layer(x)` for `batch` samples.
    fn forward(&self, x: &[Self::In], y: &mut [f32], batch: usize, cache: &mut Self::Cache, ctx: &mut Ctx);

    /// Given `dy = ∂L/∂y` (which it may overwrite), adds `∂L/∂θ` to every
    /// parameter's `grad` and writes `∂L/∂x` into `dx` when asked.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        x: &[Self::In],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut Self::Cache,
        ctx: &mut Ctx,
    );

    /// `y = layer(x)` for one sample, in inference mode, with no heap allocation.
    fn forward_one(&self, x: &[Self::In], y: &mut [f32]);

    /// The activation this layer applies last, over rows of its whole
    /// output (`Dense`, `Activation`); `Linear` when there is none.
    ///
    /// A model whose output ends in softmax or sigmoid uses it to compute a
    /// cross-entropy from the logits, as Keras does (its `_keras_logits`):
    /// accurate where the probabilities saturate. A layer returning a
    /// non-linear activation here must implement [`Layer::forward_logits`]
    /// and [`Layer::backward_logits`].
    fn output_activation(&self) -> crate::activations::Activation {
        crate::activations::Activation::Linear
    }

    /// [`Layer::forward`] without the final [`Layer::output_activation`]:
    /// `z` receives the logits.
    fn forward_logits(&self, x: &[Self::In], z: &mut [f32], batch: usize, cache: &mut Self::Cache, ctx: &mut Ctx) {
        self.forward(x, z, batch, cache, ctx);
    }

    /// [`Layer::backward`] given `dz = ∂L/∂z` for the logits `z` that
    /// [`Layer::forward_logits`] wrote (the final activation's derivative
    /// already applied).
    #[allow(clippy::too_many_arguments)]
    fn backward_logits(
        &mut self,
        x: &[Self::In],
        z: &[f32],
        dz: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut Self::Cache,
        ctx: &mut Ctx,
    ) {
        self.backward(x, z, dz, dx, batch, cache, ctx);
    }

    /// Checks the arguments that only the running program knows (a nested
    /// model's activity regularizers' factors, which may be Rust
    /// constants); `fit` and `train_on_batch` call it before any step.
    /// A layer that adds an activity penalty to [`Ctx::activity_penalty`]
    /// checks its factors here.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming the bad argument.
    fn validate(&self) -> crate::Result<()> {
        Ok(())
    }

    /// Checks ids read from a model input (only `Embedding` has a limit).
    fn check_ids(&self, _ids: &[Self::In]) -> crate::Result<()> {
        Ok(())
    }

    /// Visits every parameter, in a fixed order.
    fn visit_params(&mut self, _f: &mut dyn FnMut(&mut Param)) {}

    /// Visits every parameter read-only, in the same order.
    fn params(&self, _f: &mut dyn FnMut(&Param)) {}

    /// Appends every parameter's Keras path under `prefix` (the layer's
    /// name), in `visit_params` order: `dense/kernel`. Weight files name
    /// their tensors by these paths.
    fn param_paths(&self, prefix: &str, out: &mut Vec<String>) {
        self.params(&mut |p| out.push(format!("{prefix}/{}", p.name)));
    }
}

/// Checks that a sample of `n` values is `outer × mid × inner` with a
/// middle axis of at least 1, the product checked for overflow: the view
/// of normalization, spatial dropout and reductions. The error names
/// `arg`, the argument that chose the view, and calls the middle axis
/// `mid_name`.
pub(crate) fn check_split(
    arg: &'static str,
    mid_name: &str,
    [outer, mid, inner]: [usize; 3],
    n: usize,
) -> crate::Result<()> {
    if mid > 0 && checked_product(&[outer, mid, inner]) == Some(n) {
        return Ok(());
    }
    Err(crate::Error::InvalidArgument {
        name: arg,
        reason: format!("outer {outer} × {mid_name} {mid} × inner {inner} must be the sample's {n} values"),
    })
}

/// The product of `values`, or `None` when it overflows `usize` (size
/// checks compare it, so a wrapped product can never pass one).
pub(crate) fn checked_product(values: &[usize]) -> Option<usize> {
    values.iter().try_fold(1usize, |p, &v| p.checked_mul(v))
}

/// Grows `buf` to at least `len` values (allocating only when it must)
/// and returns its first `len` values.
pub(crate) fn ensure_len(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}
