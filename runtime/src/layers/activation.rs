//! `Activation`: an activation applied as a layer of its own over `N`
//! values per sample (softmax over the last axis, of length `row`).

use super::{Ctx, InputGrad, Layer};
use crate::activations::Activation;

/// Keras's `Activation` layer.
///
/// ```
/// use kiln::{activations::Activation, layers::{ActivationLayer, Layer}};
/// let layer = ActivationLayer::<3>::new(Activation::Relu, 3);
/// let mut y = [0.0; 3];
/// layer.forward_one(&[-1.0, 0.5, 2.0], &mut y);
/// assert_eq!(y, [0.0, 0.5, 2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ActivationLayer<const N: usize> {
    /// The function applied.
    pub activation: Activation,
    row: usize,
}

impl<const N: usize> ActivationLayer<N> {
    /// `row` is the length of the last axis (what softmax normalizes over).
    pub fn new(activation: Activation, row: usize) -> Self {
        assert!(row > 0 && N.is_multiple_of(row), "the last axis must divide the sample");
        ActivationLayer { activation, row }
    }
}

impl<const N: usize> Layer for ActivationLayer<N> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        "Activation"
    }

    fn forward(&self, x: &[f32], y: &mut [f32], _: usize, _: &mut (), _: &mut Ctx) {
        self.forward_one(x, y);
    }

    fn backward(
        &mut self,
        _: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        _: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        if let Some(dx) = dx {
            self.activation.backward_in_place(y, dy, self.row);
            dx.store(dy);
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        y.copy_from_slice(x);
        self.activation.forward_in_place(y, self.row);
    }

    /// The layer's function when it acts on whole samples (softmax over a
    /// row shorter than the sample is not a row-wise final activation).
    fn output_activation(&self) -> Activation {
        if self.row == N || self.activation.is_elementwise() {
            self.activation
        } else {
            Activation::Linear
        }
    }

    fn forward_logits(&self, x: &[f32], z: &mut [f32], batch: usize, cache: &mut (), ctx: &mut Ctx) {
        if self.output_activation() == Activation::Linear {
            return self.forward(x, z, batch, cache, ctx);
        }
        z.copy_from_slice(x);
    }

    fn backward_logits(
        &mut self,
        x: &[f32],
        z: &[f32],
        dz: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut (),
        ctx: &mut Ctx,
    ) {
        if self.output_activation() == Activation::Linear {
            return self.backward(x, z, dz, dx, batch, cache, ctx);
        }
        if let Some(dx) = dx {
            dx.store(dz);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_layer_gradients;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut ActivationLayer::<6>::new(Activation::Softmax, 3), 2);
        check_layer_gradients(&mut ActivationLayer::<6>::new(Activation::Tanh, 6), 2);
    }
}
