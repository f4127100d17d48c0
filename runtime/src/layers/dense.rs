//! `Dense`: `y = activation(x · W + b)`, with `W` of Keras shape
//! `[input_dim, units]` stored row-major.

use super::{Ctx, InputGrad, Layer};
use crate::activations::Activation;
use crate::gemm::{add_row_vector, column_sums_into, sgemm, sgemm_fused, vec_mat, Epilogue, Mat};
use crate::initializers::Initializer;
use crate::param::Param;
use crate::Result;
use rand::Rng;

/// Keras's `Dense` arguments other than `units` (which is the type's `O`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenseConfig {
    /// Applied to `x·W + b`; default `linear`.
    pub activation: Activation,
    /// Whether the layer has a bias; default `true`.
    pub use_bias: bool,
    /// Default `glorot_uniform`.
    pub kernel_initializer: Initializer,
    /// Default `zeros`.
    pub bias_initializer: Initializer,
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig {
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
        }
    }
}

/// A fully connected layer from `I` to `O` features.
///
/// ```
/// use kiln::layers::{Dense, DenseConfig, Layer};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut dense = Dense::<2, 1>::new(DenseConfig::default(), &mut rng);
/// dense.kernel.value.copy_from_slice(&[2.0, -1.0]);
/// dense.bias.as_mut().unwrap().value[0] = 0.5;
/// let mut y = [0.0];
/// dense.forward_one(&[3.0, 4.0], &mut y);
/// assert_eq!(y, [2.5]); // 3·2 + 4·(−1) + 0.5
/// ```
#[derive(Clone, Debug)]
pub struct Dense<const I: usize, const O: usize> {
    /// `[I, O]`.
    pub kernel: Param,
    /// `[O]`, absent when `use_bias = false`.
    pub bias: Option<Param>,
    /// The fused activation.
    pub activation: Activation,
}

impl<const I: usize, const O: usize> Dense<I, O> {
    /// A layer initialized as `config` says, drawing from `rng`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `kernel_initializer` or
    /// (with `use_bias`) `bias_initializer` when that initializer's
    /// arguments are invalid ([`Initializer::check`]: an empty uniform
    /// range, a non-finite constant, …) or cannot fill the weight's dimensions
    /// (orthogonal needs 2 or more, identity exactly 2); nothing is drawn then.
    pub fn try_new(config: DenseConfig, rng: &mut impl Rng) -> Result<Self> {
        config.kernel_initializer.check_as("kernel_initializer", &[I, O])?;
        if config.use_bias {
            config.bias_initializer.check_as("bias_initializer", &[O])?;
        }
        let mut kernel = Param::zeros("kernel", &[I, O]);
        config.kernel_initializer.fill(&mut kernel.value, &[I, O], rng);
        let bias = config.use_bias.then(|| {
            let mut b = Param::zeros("bias", &[O]);
            config.bias_initializer.fill(&mut b.value, &[O], rng);
            b
        });
        Ok(Dense { kernel, bias, activation: config.activation })
    }

    /// [`Dense::try_new`] for a `config` known to be valid.
    ///
    /// # Panics
    /// When [`Dense::try_new`] returns an error, with its message.
    pub fn new(config: DenseConfig, rng: &mut impl Rng) -> Self {
        Self::try_new(config, rng).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<const I: usize, const O: usize> Dense<I, O> {
    /// `z = x·W + b`, then `relu` if asked (batched products only): the
    /// bias and relu are fused into the product's store.
    fn product(&self, x: &[f32], z: &mut [f32], batch: usize, relu: bool, ctx: &mut Ctx) {
        let bias = self.bias.as_ref().map(|b| &b.value[..]);
        if batch == 1 {
            vec_mat(x, &self.kernel.value, z);
            if let Some(b) = bias {
                add_row_vector(z, b);
            }
        } else {
            let (xm, wm) = (Mat::row_major(x, I), Mat::row_major(&self.kernel.value, O));
            sgemm_fused(batch, O, I, xm, wm, z, O, false, Epilogue { bias, relu }, &mut ctx.scratch);
        }
    }
}

impl<const I: usize, const O: usize> Layer for Dense<I, O> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = I;
    const OUTPUT_LEN: usize = O;

    fn keras_type(&self) -> &'static str {
        "Dense"
    }

    /// # Shapes
    /// `x`: `[batch, I]`, `y`: `[batch, O]`.
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, _: &mut (), ctx: &mut Ctx) {
        // relu rides in the product's store (one pass over y instead of
        // two, same bits); other activations run after it.
        let relu = batch > 1 && self.activation == Activation::Relu;
        self.product(x, y, batch, relu, ctx);
        if !relu {
            self.activation.forward_in_place(y, O);
        }
    }

    /// With `dz = dy ⊙ activation'`: `∂W += xᵀ·dz`, `∂b += Σ_batch dz`, `dx = dz·Wᵀ`.
    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut (),
        ctx: &mut Ctx,
    ) {
        self.activation.backward_in_place(y, dy, O);
        self.backward_logits(x, y, dy, dx, batch, cache, ctx);
    }

    fn output_activation(&self) -> Activation {
        self.activation
    }

    /// `z = x·W + b`.
    fn forward_logits(&self, x: &[f32], z: &mut [f32], batch: usize, _: &mut (), ctx: &mut Ctx) {
        self.product(x, z, batch, false, ctx);
    }

    /// `∂W += xᵀ·dz`, `∂b += Σ_batch dz`, `dx = dz·Wᵀ`.
    fn backward_logits(
        &mut self,
        x: &[f32],
        _: &[f32],
        dz: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        _: &mut (),
        ctx: &mut Ctx,
    ) {
        let dz = &*dz;
        let (xt, dzm) = (Mat::transposed(x, I), Mat::row_major(dz, O));
        sgemm(I, O, batch, xt, dzm, &mut self.kernel.grad, O, true, &mut ctx.scratch);
        if let Some(b) = &mut self.bias {
            column_sums_into(dz, &mut b.grad);
        }
        if let Some(dx) = dx {
            let wt = Mat::transposed(&self.kernel.value, O);
            sgemm(batch, I, O, dzm, wt, dx.grad, I, dx.accumulate, &mut ctx.scratch);
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        vec_mat(x, &self.kernel.value, y);
        if let Some(b) = &self.bias {
            y.iter_mut().zip(&b.value).for_each(|(v, b)| *v += b);
        }
        self.activation.forward_in_place(y, O);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.kernel);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.kernel);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_layer_gradients;
    use rand::SeedableRng;

    fn layer<const I: usize, const O: usize>(activation: Activation) -> Dense<I, O> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let config = DenseConfig {
            activation,
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..DenseConfig::default()
        };
        Dense::new(config, &mut rng)
    }

    #[test]
    fn gradients_match_finite_differences_for_each_activation() {
        for act in [Activation::Linear, Activation::Tanh, Activation::Sigmoid, Activation::Softmax] {
            check_layer_gradients(&mut layer::<5, 4>(act), 3);
            check_layer_gradients(&mut layer::<5, 4>(act), 1);
        }
        // Large enough to take the packed GEMM path with edge tiles in every direction.
        check_layer_gradients(&mut layer::<19, 23>(Activation::Linear), 8);
    }

    /// Reference computed by hand: W = [[1, 2], [3, 4], [5, 6]], b = [0.5, −1],
    /// x = [[1, 0, −1], [2, 1, 0]] → x·W + b = [[−3.5, −5], [5.5, 7]].
    #[test]
    fn forward_and_gradients_match_hand_computed_values() {
        let mut d = layer::<3, 2>(Activation::Linear);
        d.kernel.value.copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        d.bias.as_mut().unwrap().value.copy_from_slice(&[0.5, -1.0]);
        let x = [1.0, 0.0, -1.0, 2.0, 1.0, 0.0];
        let mut y = [0.0; 4];
        let mut ctx = Ctx::new(0);
        d.forward(&x, &mut y, 2, &mut (), &mut ctx);
        assert_eq!(y, [-3.5, -5.0, 5.5, 7.0]);
        // dy = ones: ∂W = xᵀ·1 = column sums of x repeated, ∂b = [2, 2], dx = rows of W summed.
        let mut dy = [1.0; 4];
        let mut dx = [0.0; 6];
        d.backward(&x, &y, &mut dy, Some(InputGrad { grad: &mut dx, accumulate: false }), 2, &mut (), &mut ctx);
        assert_eq!(d.kernel.grad, [3.0, 3.0, 1.0, 1.0, -1.0, -1.0]);
        assert_eq!(d.bias.as_ref().unwrap().grad, [2.0, 2.0]);
        assert_eq!(dx, [3.0, 7.0, 11.0, 3.0, 7.0, 11.0]);
    }

    #[test]
    fn batched_forward_agrees_with_one_sample_forward() {
        crate::testing::assert_one_sample_matches_batch(&layer::<37, 29>(Activation::Relu), 9);
    }
}
