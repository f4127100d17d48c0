//! `TimeDistributed(layer)`: the same layer (same weights) applied to each
//! of `T` time steps. A `[batch, T, …]` buffer is a `[batch·T, …]` buffer,
//! so the wrapper runs the inner layer on `batch·T` samples.

use super::{Ctx, InputGrad, Layer};
use crate::param::Param;

/// Keras's `TimeDistributed` over `T` steps.
///
/// ```
/// use kiln::layers::{Dense, DenseConfig, Layer, TimeDistributed};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut dense = Dense::<2, 1>::new(DenseConfig::default(), &mut rng);
/// dense.kernel.value.copy_from_slice(&[1.0, 10.0]);
/// let td = TimeDistributed::<_, 3>::new(dense);
/// let mut y = [0.0; 3];
/// td.forward_one(&[1.0, 1.0, 2.0, 0.0, 0.0, 3.0], &mut y);
/// assert_eq!(y, [11.0, 2.0, 30.0]);
/// ```
#[derive(Clone, Debug)]
pub struct TimeDistributed<L: Layer, const T: usize> {
    /// The wrapped layer.
    pub layer: L,
}

impl<L: Layer, const T: usize> TimeDistributed<L, T> {
    /// Wraps `layer`.
    pub fn new(layer: L) -> Self {
        TimeDistributed { layer }
    }
}

impl<L: Layer, const T: usize> Layer for TimeDistributed<L, T> {
    type In = L::In;
    type Cache = L::Cache;
    const INPUT_LEN: usize = T * L::INPUT_LEN;
    const OUTPUT_LEN: usize = T * L::OUTPUT_LEN;

    fn keras_type(&self) -> &'static str {
        "TimeDistributed"
    }

    fn check_ids(&self, ids: &[L::In]) -> crate::Result<()> {
        self.layer.check_ids(ids)
    }

    fn forward(&self, x: &[L::In], y: &mut [f32], batch: usize, cache: &mut L::Cache, ctx: &mut Ctx) {
        ctx.with_activity_scale(T as f32, |ctx| self.layer.forward(x, y, batch * T, cache, ctx));
    }

    fn backward(
        &mut self,
        x: &[L::In],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut L::Cache,
        ctx: &mut Ctx,
    ) {
        let layer = &mut self.layer;
        ctx.with_activity_scale(T as f32, |ctx| layer.backward(x, y, dy, dx, batch * T, cache, ctx));
    }

    fn validate(&self) -> crate::Result<()> {
        self.layer.validate()
    }

    fn forward_one(&self, x: &[L::In], y: &mut [f32]) {
        for (xs, ys) in x.chunks_exact(L::INPUT_LEN).zip(y.chunks_exact_mut(L::OUTPUT_LEN)) {
            self.layer.forward_one(xs, ys);
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.layer.visit_params(f);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        self.layer.params(f);
    }

    fn param_paths(&self, prefix: &str, out: &mut Vec<String>) {
        self.layer.param_paths(prefix, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Dense, DenseConfig};
    use crate::testing::check_layer_gradients;
    use rand::SeedableRng;

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let config = DenseConfig { activation: crate::activations::Activation::Tanh, ..DenseConfig::default() };
        check_layer_gradients(&mut TimeDistributed::<_, 4>::new(Dense::<3, 2>::new(config, &mut rng)), 2);
    }
}
