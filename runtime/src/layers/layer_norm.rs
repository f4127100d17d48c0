//! `LayerNormalization`: each sample normalized over one axis by its own
//! mean and (biased) variance, then scaled and shifted per position of
//! that axis. No batch statistics, so training and inference agree.
//!
//! A sample of `N` values is viewed as `outer × C × inner`, `C` being the
//! normalized axis (`inner = 1` for Keras's default `axis = -1`); each
//! `(outer, inner)` position is normalized over its `C` values. The output
//! is computed as Keras 3's `ops.layer_normalization` does:
//! `inv = γ/√(var + ε)`, `y = x·inv + (β − mean·inv)`.

use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::initializers::Initializer;
use crate::optimizers::check_hyper;
use crate::param::Param;
use crate::Result;
use rand::Rng;

/// Keras's `LayerNormalization` arguments other than `axis`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormalizationConfig {
    /// Added to the variance before the square root; default 1e-3.
    pub epsilon: f64,
    /// Whether the layer has `beta`; default `true`.
    pub center: bool,
    /// Whether the layer has `gamma`; default `true`.
    pub scale: bool,
    /// Default `zeros`.
    pub beta_initializer: Initializer,
    /// Default `ones`.
    pub gamma_initializer: Initializer,
}

impl Default for LayerNormalizationConfig {
    fn default() -> Self {
        LayerNormalizationConfig {
            epsilon: 1e-3,
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
        }
    }
}

/// Layer normalization of `N` values per sample over an axis of `C`.
///
/// ```
/// use kiln::layers::{Layer, LayerNormalization, LayerNormalizationConfig};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let config = LayerNormalizationConfig { epsilon: 0.75, ..Default::default() };
/// let ln = LayerNormalization::<2, 2>::new(config, 1, 1, &mut rng).unwrap();
/// let mut y = [0.0; 2];
/// ln.forward_one(&[1.0, 3.0], &mut y); // mean 2, variance 1: (3 − 2)/√(1 + ε)
/// assert!((y[1] - 1.0 / 1.75f32.sqrt()).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNormalization<const N: usize, const C: usize> {
    /// `[C]`, absent when `scale = false`.
    pub gamma: Option<Param>,
    /// `[C]`, absent when `center = false`.
    pub beta: Option<Param>,
    epsilon: f32,
    outer: usize,
    inner: usize,
}

/// What a [`LayerNormalization`] forward pass leaves for backward: each
/// normalized group's mean and `1/√(var + ε)`.
#[derive(Debug, Default)]
pub struct LayerNormalizationCache {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

impl<const N: usize, const C: usize> LayerNormalization<N, C> {
    /// A layer normalizing the middle axis (`C`) of `outer × C × inner`
    /// samples, initialized as `config` says.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] when `outer · C · inner ≠ N` (naming
    /// `axis`; also when the product overflows), `epsilon` is not positive
    /// and finite, or an initializer the layer uses has invalid arguments
    /// ([`Initializer::check`]: an empty uniform range, a non-finite
    /// constant, …, or orthogonal or identity, which cannot fill a 1-D
    /// weight; naming it, `gamma_initializer` or `beta_initializer`).
    pub fn new(config: LayerNormalizationConfig, outer: usize, inner: usize, rng: &mut impl Rng) -> Result<Self> {
        super::check_split("axis", "axis", [outer, C, inner], N)?;
        check_hyper("epsilon", config.epsilon, f64::MIN_POSITIVE, f64::INFINITY, "positive and finite")?;
        if config.scale {
            config.gamma_initializer.check_as("gamma_initializer", &[C])?;
        }
        if config.center {
            config.beta_initializer.check_as("beta_initializer", &[C])?;
        }
        let param = |name: &'static str, init: Initializer, rng: &mut _| {
            let mut p = Param::zeros(name, &[C]);
            init.fill(&mut p.value, &[C], rng);
            p
        };
        Ok(LayerNormalization {
            gamma: config.scale.then(|| param("gamma", config.gamma_initializer, rng)),
            beta: config.center.then(|| param("beta", config.beta_initializer, rng)),
            epsilon: config.epsilon as f32,
            outer,
            inner,
        })
    }

    /// Normalizes one sample; `stats(group, mean, inv_std)` receives each
    /// group's statistics (group = `o·inner + i`).
    fn sample(&self, x: &[f32], y: &mut [f32], mut stats: impl FnMut(usize, f32, f32)) {
        let inner = self.inner;
        for o in 0..self.outer {
            let base = o * C * inner;
            for i in 0..inner {
                let at = |c: usize| base + c * inner + i;
                // ops.moments: the mean, then the mean of squared deviations
                // from it, each summed in f64.
                let mean = ((0..C).map(|c| x[at(c)] as f64).sum::<f64>() / C as f64) as f32;
                let m = mean as f64;
                let var = ((0..C).map(|c| (x[at(c)] as f64 - m).powi(2)).sum::<f64>() / C as f64) as f32;
                let inv_std = 1.0 / (var + self.epsilon).sqrt();
                stats(o * inner + i, mean, inv_std);
                for c in 0..C {
                    let inv = match &self.gamma {
                        Some(g) => inv_std * g.value[c],
                        None => inv_std,
                    };
                    let res = match &self.beta {
                        Some(b) => -mean * inv + b.value[c],
                        None => -mean * inv,
                    };
                    y[at(c)] = x[at(c)] * inv + res;
                }
            }
        }
    }
}

impl<const N: usize, const C: usize> Layer for LayerNormalization<N, C> {
    type In = f32;
    type Cache = LayerNormalizationCache;
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        "LayerNormalization"
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut Self::Cache, _: &mut Ctx) {
        let groups = self.outer * self.inner;
        let mean = ensure_len(&mut cache.mean, batch * groups);
        let inv_std = ensure_len(&mut cache.inv_std, batch * groups);
        for (s, (xs, ys)) in x.chunks_exact(N).zip(y.chunks_exact_mut(N)).take(batch).enumerate() {
            self.sample(xs, ys, |g, m, r| {
                mean[s * groups + g] = m;
                inv_std[s * groups + g] = r;
            });
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
        let (inner, groups) = (self.inner, self.outer * self.inner);
        let mut dx = dx;
        for s in 0..batch {
            for o in 0..self.outer {
                for i in 0..inner {
                    let g = s * groups + o * inner + i;
                    let (m, r) = (cache.mean[g], cache.inv_std[g]);
                    let at = |c: usize| s * N + (o * C + c) * inner + i;
                    // With x̂ = (x − mean)·r and ĝ = dy·γ:
                    // ∂L/∂x = r · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)).
                    let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
                    for c in 0..C {
                        let (xv, d) = (x[at(c)], dy[at(c)]);
                        let xhat = (xv - m) * r;
                        if let Some(gamma) = &mut self.gamma {
                            gamma.grad[c] += d * xhat;
                        }
                        if let Some(beta) = &mut self.beta {
                            beta.grad[c] += d;
                        }
                        let gh = (d * self.gamma.as_ref().map_or(1.0, |p| p.value[c])) as f64;
                        sum_g += gh;
                        sum_gx += gh * xhat as f64;
                    }
                    let Some(dx) = dx.as_mut() else { continue };
                    let (mean_g, mean_gx) = (sum_g / C as f64, sum_gx / C as f64);
                    for c in 0..C {
                        let xhat = ((x[at(c)] - m) * r) as f64;
                        let gh = (dy[at(c)] * self.gamma.as_ref().map_or(1.0, |p| p.value[c])) as f64;
                        let v = (r as f64 * (gh - mean_g - xhat * mean_gx)) as f32;
                        let slot = &mut dx.grad[at(c)];
                        *slot = if dx.accumulate { *slot + v } else { v };
                    }
                }
            }
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.sample(x, y, |_, _, _| {});
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        if let Some(g) = &mut self.gamma {
            f(g);
        }
        if let Some(b) = &mut self.beta {
            f(b);
        }
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        if let Some(g) = &self.gamma {
            f(g);
        }
        if let Some(b) = &self.beta {
            f(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_one_sample_matches_batch, check_layer_gradients};
    use rand::SeedableRng;

    fn layer<const N: usize, const C: usize>(outer: usize, inner: usize) -> LayerNormalization<N, C> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut ln = LayerNormalization::new(LayerNormalizationConfig::default(), outer, inner, &mut rng).unwrap();
        ln.gamma.as_mut().unwrap().value.iter_mut().enumerate().for_each(|(i, v)| *v = 0.5 + 0.3 * i as f32);
        ln.beta.as_mut().unwrap().value.iter_mut().enumerate().for_each(|(i, v)| *v = 0.1 - 0.2 * i as f32);
        ln
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut layer::<5, 5>(1, 1), 3);
        check_layer_gradients(&mut layer::<12, 3>(2, 2), 2);
    }

    #[test]
    fn one_sample_equals_batched() {
        assert_one_sample_matches_batch(&layer::<5, 5>(1, 1), 3);
        assert_one_sample_matches_batch(&layer::<12, 3>(2, 2), 3);
    }

    /// By hand: [1, 3] has mean 2 and variance 1.
    #[test]
    fn normalizes_each_sample_by_its_own_statistics() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let ln = LayerNormalization::<4, 2>::new(LayerNormalizationConfig::default(), 2, 1, &mut rng).unwrap();
        let mut y = [0.0; 4];
        ln.forward_one(&[1.0, 3.0, -10.0, 10.0], &mut y);
        let a = 1.0 / (1.0f32 + 1e-3).sqrt();
        let b = 1.0 / (100.0f32 + 1e-3).sqrt() * 10.0;
        for (got, want) in y.iter().zip([-a, a, -b, b]) {
            assert!((got - want).abs() < 1e-6, "{y:?}");
        }
    }
}
