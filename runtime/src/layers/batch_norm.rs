//! `BatchNormalization`: each channel (one axis of the sample) normalized
//! by statistics over the batch and every other axis, then scaled and
//! shifted: `y = (x − mean)/√(var + ε)·γ + β`.
//!
//! A sample of `N` values is viewed as `outer × C × inner`, `C` being the
//! normalized axis (`inner = 1` for Keras's default `axis = -1`).
//!
//! Training mode uses the batch's mean and biased variance and moves the
//! moving statistics towards them (`moving = moving·momentum +
//! batch·(1 − momentum)`, Keras's order of operations in float32);
//! inference uses the moving statistics. The output is computed as
//! TensorFlow's `tf.nn.batch_normalization` does, `x·a + (β − mean·a)`
//! with `a = γ/√(var + ε)`.
//!
//! **When the moving statistics change.** Keras assigns them inside the
//! training call; here [`Layer::forward`] takes `&self`, so a training
//! forward pass leaves the batch statistics in the cache and the
//! following [`Layer::backward`] (`&mut self`) applies them, once. `fit`
//! and `train_on_batch` always run backward after a training forward, so
//! after a step the moving statistics are what Keras's would be. (Not
//! interior mutability: a `Cell` would make the model `!Sync`, and a lock
//! per call would cost for nothing.) Consequences: a training forward
//! pass that is not followed by backward (a step refused for a non-finite
//! loss) leaves them unchanged, and a layer called twice in one model
//! applies its two updates in backward order (second call first), where
//! Keras applies them in call order.

use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::initializers::Initializer;
use crate::optimizers::check_hyper;
use crate::param::Param;
use crate::Result;
use rand::Rng;

/// Keras's `BatchNormalization` arguments other than `axis` (which is the
/// layer's `outer × C × inner` view).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormalizationConfig {
    /// Weight of the old moving statistics in each update; default 0.99.
    pub momentum: f64,
    /// Added to the variance before the square root; default 1e-3.
    pub epsilon: f64,
    /// Whether the layer has `beta` (an offset); default `true`.
    pub center: bool,
    /// Whether the layer has `gamma` (a scale); default `true`.
    pub scale: bool,
    /// Default `zeros`.
    pub beta_initializer: Initializer,
    /// Default `ones`.
    pub gamma_initializer: Initializer,
    /// Default `zeros`.
    pub moving_mean_initializer: Initializer,
    /// Default `ones`.
    pub moving_variance_initializer: Initializer,
}

impl Default for BatchNormalizationConfig {
    fn default() -> Self {
        BatchNormalizationConfig {
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            moving_mean_initializer: Initializer::Zeros,
            moving_variance_initializer: Initializer::Ones,
        }
    }
}

/// Batch normalization of `N` values per sample over `C` channels.
///
/// ```
/// use kiln::layers::{BatchNormalization, BatchNormalizationConfig, Layer};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let config = BatchNormalizationConfig { epsilon: 0.25, ..Default::default() };
/// let mut bn = BatchNormalization::<2, 2>::new(config, 1, 1, &mut rng).unwrap();
/// bn.moving_mean.value.copy_from_slice(&[1.0, -1.0]);
/// bn.moving_variance.value.copy_from_slice(&[3.75, 0.75]);
/// let mut y = [0.0; 2];
/// bn.forward_one(&[5.0, 1.0], &mut y); // inference: (x − moving_mean)/√(moving_variance + ε)
/// assert_eq!(y, [2.0, 2.0]);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNormalization<const N: usize, const C: usize> {
    /// `[C]`, absent when `scale = false`.
    pub gamma: Option<Param>,
    /// `[C]`, absent when `center = false`.
    pub beta: Option<Param>,
    /// `[C]`, not trainable.
    pub moving_mean: Param,
    /// `[C]`, not trainable.
    pub moving_variance: Param,
    momentum: f64,
    epsilon: f32,
    outer: usize,
    inner: usize,
}

/// What a [`BatchNormalization`] forward pass leaves for backward.
#[derive(Debug, Default)]
pub struct BatchNormalizationCache {
    /// The mean used, per channel (the batch's or the moving one).
    mean: Vec<f32>,
    /// The batch's biased variance, per channel (training only).
    variance: Vec<f32>,
    /// `1/√(var + ε)` of the variance used, per channel.
    inv_std: Vec<f32>,
    /// Per-channel `a` and `b` of `y = x·a + b`.
    a: Vec<f32>,
    b: Vec<f32>,
    /// f64 per-channel sums.
    sums: Vec<f64>,
    sums2: Vec<f64>,
    /// The forward pass used the batch's statistics.
    training: bool,
    /// The batch's statistics are still to be folded into the moving ones.
    pending_update: bool,
}

impl<const N: usize, const C: usize> BatchNormalization<N, C> {
    /// A layer normalizing the middle axis (`C`) of `outer × C × inner`
    /// samples, initialized as `config` says.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] when `outer · C · inner ≠ N` (naming
    /// `axis`; also when the product overflows), `momentum` is outside
    /// `[0, 1]`, `epsilon` is not positive and finite, or an initializer the
    /// layer uses has invalid arguments ([`Initializer::check`]: an empty
    /// uniform range, a non-finite constant, …, or orthogonal or identity, which
    /// cannot fill a 1-D weight; naming it, `gamma_initializer`, …).
    pub fn new(config: BatchNormalizationConfig, outer: usize, inner: usize, rng: &mut impl Rng) -> Result<Self> {
        super::check_split("axis", "axis", [outer, C, inner], N)?;
        check_hyper("momentum", config.momentum, 0.0, 1.0 + f64::EPSILON, "in [0, 1]")?;
        check_hyper("epsilon", config.epsilon, f64::MIN_POSITIVE, f64::INFINITY, "positive and finite")?;
        if config.scale {
            config.gamma_initializer.check_as("gamma_initializer", &[C])?;
        }
        if config.center {
            config.beta_initializer.check_as("beta_initializer", &[C])?;
        }
        config.moving_mean_initializer.check_as("moving_mean_initializer", &[C])?;
        config.moving_variance_initializer.check_as("moving_variance_initializer", &[C])?;
        let param = |name: &'static str, init: Initializer, trainable: bool, rng: &mut _| {
            let mut p = Param::zeros(name, &[C]);
            init.fill(&mut p.value, &[C], rng);
            p.trainable = trainable;
            p
        };
        Ok(BatchNormalization {
            gamma: config.scale.then(|| param("gamma", config.gamma_initializer, true, rng)),
            beta: config.center.then(|| param("beta", config.beta_initializer, true, rng)),
            moving_mean: param("moving_mean", config.moving_mean_initializer, false, rng),
            moving_variance: param("moving_variance", config.moving_variance_initializer, false, rng),
            momentum: config.momentum,
            epsilon: config.epsilon as f32,
            outer,
            inner,
        })
    }

    /// `1/√(var + ε)` as TensorFlow's `rsqrt(variance + variance_epsilon)`.
    fn inv_std(&self, variance: f32) -> f32 {
        1.0 / (variance + self.epsilon).sqrt()
    }

    /// `(a, b)` of `y = x·a + b` for channel `c` given the mean and
    /// `1/√(var + ε)` used: TensorFlow's `inv = rsqrt(var + ε)·γ`,
    /// `y = x·inv + (β − mean·inv)`.
    fn affine(&self, c: usize, mean: f32, inv_std: f32) -> (f32, f32) {
        let a = match &self.gamma {
            Some(g) => inv_std * g.value[c],
            None => inv_std,
        };
        let b = match &self.beta {
            Some(beta) => beta.value[c] - mean * a,
            None => -(mean * a),
        };
        (a, b)
    }

    /// Every run of `inner` consecutive values of one channel in `values`
    /// (`rows × C × inner`), with its channel.
    fn runs<'v>(&self, values: &'v [f32]) -> impl Iterator<Item = (usize, &'v [f32])> {
        let inner = self.inner;
        values.chunks_exact(C * inner).flat_map(move |row| row.chunks_exact(inner).enumerate())
    }
}

impl<const N: usize, const C: usize> Layer for BatchNormalization<N, C> {
    type In = f32;
    type Cache = BatchNormalizationCache;
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        "BatchNormalization"
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut Self::Cache, ctx: &mut Ctx) {
        let x = &x[..batch * N];
        ensure_len(&mut cache.mean, C);
        ensure_len(&mut cache.variance, C);
        ensure_len(&mut cache.inv_std, C);
        ensure_len(&mut cache.a, C);
        ensure_len(&mut cache.b, C);
        if cache.sums.len() < C {
            cache.sums.resize(C, 0.0);
            cache.sums2.resize(C, 0.0);
        }
        cache.training = ctx.training;
        cache.pending_update = ctx.training;
        if ctx.training {
            // tf.nn.moments: the mean, then the mean of squared deviations
            // from it (biased). Sums in f64, so the statistics are the
            // correctly rounded ones whatever the batch size.
            let count = (batch * self.outer * self.inner) as f64;
            let sums = &mut cache.sums[..C];
            sums.fill(0.0);
            for (c, run) in self.runs(x) {
                sums[c] += run.iter().map(|&v| v as f64).sum::<f64>();
            }
            for (m, s) in cache.mean.iter_mut().zip(sums.iter()) {
                *m = (s / count) as f32;
            }
            sums.fill(0.0);
            for (c, run) in self.runs(x) {
                let m = cache.mean[c] as f64;
                sums[c] += run.iter().map(|&v| (v as f64 - m) * (v as f64 - m)).sum::<f64>();
            }
            for (v, s) in cache.variance.iter_mut().zip(sums.iter()) {
                *v = (s / count) as f32;
            }
        } else {
            cache.mean[..C].copy_from_slice(&self.moving_mean.value);
            cache.variance[..C].copy_from_slice(&self.moving_variance.value);
        }
        for c in 0..C {
            cache.inv_std[c] = self.inv_std(cache.variance[c]);
            (cache.a[c], cache.b[c]) = self.affine(c, cache.mean[c], cache.inv_std[c]);
        }
        let (a, b) = (&cache.a[..C], &cache.b[..C]);
        if self.inner == 1 {
            for (xr, yr) in x.chunks_exact(C).zip(y.chunks_exact_mut(C)) {
                for c in 0..C {
                    yr[c] = xr[c] * a[c] + b[c];
                }
            }
        } else {
            for (k, (xr, yr)) in x.chunks_exact(self.inner).zip(y.chunks_exact_mut(self.inner)).enumerate() {
                let (ac, bc) = (a[k % C], b[k % C]);
                yr.iter_mut().zip(xr).for_each(|(yv, &xv)| *yv = xv * ac + bc);
            }
        }
    }

    fn backward(
        &mut self,
        x: &[f32],
        _: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut Self::Cache,
        _: &mut Ctx,
    ) {
        let (x, dy) = (&x[..batch * N], &dy[..batch * N]);
        // Σ dy and Σ dy·x̂ per channel, x̂ = (x − mean)/√(var + ε).
        let (sum_dy, sum_dy_xhat) = (&mut cache.sums[..C], &mut cache.sums2[..C]);
        sum_dy.fill(0.0);
        sum_dy_xhat.fill(0.0);
        for (k, (xr, dr)) in x.chunks_exact(self.inner).zip(dy.chunks_exact(self.inner)).enumerate() {
            let c = k % C;
            let (m, s) = (cache.mean[c], cache.inv_std[c]);
            for (&xv, &d) in xr.iter().zip(dr) {
                sum_dy[c] += d as f64;
                sum_dy_xhat[c] += d as f64 * ((xv - m) * s) as f64;
            }
        }
        if let Some(g) = &mut self.gamma {
            g.grad.iter_mut().zip(sum_dy_xhat.iter()).for_each(|(g, s)| *g += *s as f32);
        }
        if let Some(b) = &mut self.beta {
            b.grad.iter_mut().zip(sum_dy.iter()).for_each(|(g, s)| *g += *s as f32);
        }
        if let Some(dx) = dx {
            let count = (batch * self.outer * self.inner) as f64;
            let chunks = dx.grad[..batch * N].chunks_exact_mut(self.inner);
            for (k, ((gr, xr), dr)) in
                chunks.zip(x.chunks_exact(self.inner)).zip(dy.chunks_exact(self.inner)).enumerate()
            {
                let c = k % C;
                let (m, s) = (cache.mean[c], cache.inv_std[c]);
                let gamma = self.gamma.as_ref().map_or(1.0, |g| g.value[c]);
                let scale = gamma * s;
                for ((g, &xv), &d) in gr.iter_mut().zip(xr).zip(dr) {
                    let v = if cache.training {
                        // ∂/∂x of γ·x̂ + β through the batch statistics:
                        // γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)).
                        let xhat = ((xv - m) * s) as f64;
                        (scale as f64 * (d as f64 - sum_dy[c] / count - xhat * sum_dy_xhat[c] / count)) as f32
                    } else {
                        // The moving statistics are constants.
                        d * scale
                    };
                    *g = if dx.accumulate { *g + v } else { v };
                }
            }
        }
        if cache.pending_update {
            cache.pending_update = false;
            // Keras: `moving * momentum + batch * (1.0 - momentum)` in
            // float32, `1.0 - momentum` computed in Python (f64).
            let (keep, take) = (self.momentum as f32, (1.0 - self.momentum) as f32);
            for (mm, &m) in self.moving_mean.value.iter_mut().zip(&cache.mean[..C]) {
                *mm = *mm * keep + m * take;
            }
            for (mv, &v) in self.moving_variance.value.iter_mut().zip(&cache.variance[..C]) {
                *mv = *mv * keep + v * take;
            }
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        // Channel by channel, so each channel's `a` and `b` are computed
        // once, with the same operations as the batched inference pass
        // (bitwise equal outputs).
        for c in 0..C {
            let inv_std = self.inv_std(self.moving_variance.value[c]);
            let (a, b) = self.affine(c, self.moving_mean.value[c], inv_std);
            for o in 0..self.outer {
                let at = (o * C + c) * self.inner;
                for (yv, &xv) in y[at..at + self.inner].iter_mut().zip(&x[at..at + self.inner]) {
                    *yv = xv * a + b;
                }
            }
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        if let Some(g) = &mut self.gamma {
            f(g);
        }
        if let Some(b) = &mut self.beta {
            f(b);
        }
        f(&mut self.moving_mean);
        f(&mut self.moving_variance);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        if let Some(g) = &self.gamma {
            f(g);
        }
        if let Some(b) = &self.beta {
            f(b);
        }
        f(&self.moving_mean);
        f(&self.moving_variance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_one_sample_matches_batch, check_layer_gradients};
    use rand::SeedableRng;

    fn layer<const N: usize, const C: usize>(outer: usize, inner: usize) -> BatchNormalization<N, C> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut bn = BatchNormalization::new(BatchNormalizationConfig::default(), outer, inner, &mut rng).unwrap();
        // Non-trivial parameters, so a swapped γ/β or a wrong channel shows.
        bn.gamma.as_mut().unwrap().value.iter_mut().enumerate().for_each(|(i, v)| *v = 0.5 + 0.3 * i as f32);
        bn.beta.as_mut().unwrap().value.iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 - 0.2 * i as f32);
        bn.moving_mean.value.iter_mut().enumerate().for_each(|(i, v)| *v = 0.05 * i as f32);
        bn.moving_variance.value.iter_mut().enumerate().for_each(|(i, v)| *v = 0.5 + 0.25 * i as f32);
        bn
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut layer::<4, 4>(1, 1), 5);
        check_layer_gradients(&mut layer::<12, 3>(2, 2), 3);
        check_layer_gradients(&mut layer::<12, 3>(4, 1), 2);
    }

    #[test]
    fn one_sample_equals_batched_inference() {
        assert_one_sample_matches_batch(&layer::<4, 4>(1, 1), 3);
        assert_one_sample_matches_batch(&layer::<12, 3>(2, 2), 3);
    }

    /// Training output by hand: channel values {1, 3} have mean 2 and
    /// biased variance 1, so with γ = 1, β = 0 they map to ∓1/√(1 + ε).
    #[test]
    fn training_uses_batch_statistics_and_updates_moving_ones_once() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let config = BatchNormalizationConfig { momentum: 0.9, ..Default::default() };
        let mut bn = BatchNormalization::<1, 1>::new(config, 1, 1, &mut rng).unwrap();
        let mut ctx = Ctx::new(0);
        ctx.training = true;
        let mut cache = BatchNormalizationCache::default();
        let mut y = [0.0; 2];
        bn.forward(&[1.0, 3.0], &mut y, 2, &mut cache, &mut ctx);
        let expected = 1.0 / (1.0f32 + 1e-3).sqrt();
        assert!((y[0] + expected).abs() < 1e-6 && (y[1] - expected).abs() < 1e-6, "{y:?}");
        assert_eq!(bn.moving_mean.value, [0.0], "moving statistics change in backward, not forward");
        let mut dy = [0.0; 2];
        bn.backward(&[1.0, 3.0], &y, &mut dy, None, 2, &mut cache, &mut ctx);
        // 0·0.9 + 2·0.1 and 1·0.9 + 1·0.1 (Keras's float32 operations).
        assert_eq!(bn.moving_mean.value, [0.0f32 * 0.9 + 2.0 * (1.0f64 - 0.9) as f32]);
        assert_eq!(bn.moving_variance.value, [1.0f32 * 0.9 + 1.0 * (1.0f64 - 0.9) as f32]);
        let before = bn.moving_mean.value.clone();
        bn.backward(&[1.0, 3.0], &y, &mut dy, None, 2, &mut cache, &mut ctx);
        assert_eq!(bn.moving_mean.value, before, "a second backward must not apply the update again");
        // Inference leaves the moving statistics alone.
        ctx.training = false;
        bn.forward(&[1.0, 3.0], &mut y, 2, &mut cache, &mut ctx);
        bn.backward(&[1.0, 3.0], &y, &mut dy, None, 2, &mut cache, &mut ctx);
        assert_eq!(bn.moving_mean.value, before);
    }

    #[test]
    fn moving_statistics_are_not_trainable_and_named_as_in_keras() {
        let bn = layer::<4, 4>(1, 1);
        let mut seen = Vec::new();
        bn.params(&mut |p| seen.push((p.name, p.trainable, p.shape.clone())));
        assert_eq!(
            seen,
            [
                ("gamma", true, vec![4]),
                ("beta", true, vec![4]),
                ("moving_mean", false, vec![4]),
                ("moving_variance", false, vec![4])
            ]
        );
    }

    #[test]
    fn bad_configuration_is_an_error() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let bad = BatchNormalizationConfig { epsilon: 0.0, ..Default::default() };
        assert!(BatchNormalization::<4, 4>::new(bad, 1, 1, &mut rng).is_err());
        let bad = BatchNormalizationConfig { momentum: 1.5, ..Default::default() };
        assert!(BatchNormalization::<4, 4>::new(bad, 1, 1, &mut rng).is_err());
        assert!(BatchNormalization::<4, 2>::new(Default::default(), 1, 1, &mut rng).is_err());
    }
}
