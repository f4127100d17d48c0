//! `Flatten`: a `[d1, d2, …]` sample becomes `[d1·d2·…]`. Buffers are
//! row-major already, so forward and backward are copies.

use super::{Ctx, InputGrad, Layer};

/// Defines a layer whose values do not move in the row-major buffers
/// (`Flatten`, `Reshape`): forward and `forward_one` copy, backward
/// passes the gradient through.
macro_rules! copy_layer {
    ($(#[$meta:meta])* $name:ident, $keras:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name<const N: usize>;

        impl<const N: usize> Layer for $name<N> {
            type In = f32;
            type Cache = ();
            const INPUT_LEN: usize = N;
            const OUTPUT_LEN: usize = N;

            fn keras_type(&self) -> &'static str {
                $keras
            }

            fn forward(&self, x: &[f32], y: &mut [f32], _: usize, _: &mut (), _: &mut Ctx) {
                y.copy_from_slice(x);
            }

            fn backward(
                &mut self,
                _: &[f32],
                _: &[f32],
                dy: &mut [f32],
                dx: Option<InputGrad<'_>>,
                _: usize,
                _: &mut (),
                _: &mut Ctx,
            ) {
                if let Some(dx) = dx {
                    dx.store(dy);
                }
            }

            fn forward_one(&self, x: &[f32], y: &mut [f32]) {
                y.copy_from_slice(x);
            }
        }
    };
}
pub(crate) use copy_layer;

copy_layer!(
    /// Keras's `Flatten` over `N` values per sample.
    Flatten,
    "Flatten"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_layer_gradients;

    #[test]
    fn gradient_is_the_identity() {
        check_layer_gradients(&mut Flatten::<12>, 2);
    }
}
