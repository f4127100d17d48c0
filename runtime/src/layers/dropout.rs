//! Train-only noise: `Dropout`, `SpatialDropout1D` / `SpatialDropout2D`
//! (whole channels dropped) and `GaussianNoise`.
//!
//! All are the identity at inference (`Ctx::training == false`) and in
//! `forward_one`. In training they draw from `Ctx::rng`, the workspace's
//! ChaCha8 generator, so a run repeated from the same start (same model
//! seed, same data, same calls) draws the same masks and noise.

use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::optimizers::check_hyper;
use crate::Result;
use rand::RngCore;

/// Which Keras layer a [`Dropout`] is (only the summary and the mask's
/// broadcast differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropoutKind {
    /// `Dropout`: every value has its own draw.
    Dropout,
    /// `SpatialDropout1D`: one draw per sample and channel of `[steps, channels]`.
    SpatialDropout1D,
    /// `SpatialDropout2D`: one draw per sample and channel of an image.
    SpatialDropout2D,
}

/// Inverted dropout of `N` values per sample: in training, each kept value
/// is scaled by `1/(1 − rate)` and the others set to zero.
///
/// The per-sample values are viewed as `outer × channels × inner`; one
/// keep-or-drop draw is made per sample and channel and broadcast over
/// `outer` and `inner` (Keras's `noise_shape`): `Dropout` is
/// `1 × N × 1`, `SpatialDropout1D` on `[T, C]` is `T × C × 1`,
/// `SpatialDropout2D` on `[H, W, C]` is `H·W × C × 1` and on channels-first
/// `[C, H, W]` is `1 × C × H·W`.
///
/// As TensorFlow's dropout: a value is kept when a uniform draw in
/// `[0, 1)` is `≥ rate` (the draw is 24 random bits), and the scale is
/// `1/(1 − rate)` computed in f64 and rounded to f32.
///
/// ```
/// use kiln::layers::{Dropout, Layer};
/// let dropout = Dropout::<4>::new(0.5).unwrap();
/// let mut y = [0.0; 4];
/// dropout.forward_one(&[1.0, 2.0, 3.0, 4.0], &mut y); // inference: the identity
/// assert_eq!(y, [1.0, 2.0, 3.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Dropout<const N: usize> {
    kind: DropoutKind,
    rate: f32,
    scale: f32,
    channels: usize,
    inner: usize,
}

/// The mask a training [`Dropout`] pass drew: per sample and channel,
/// `0` or the scale.
#[derive(Debug, Default)]
pub struct DropoutCache {
    mask: Vec<f32>,
    active: bool,
}

impl<const N: usize> Dropout<N> {
    /// Keras's `Dropout(rate)`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] when `rate` is not in `[0, 1)`.
    pub fn new(rate: f64) -> Result<Self> {
        Self::spatial(DropoutKind::Dropout, rate, 1, N, 1)
    }

    /// A dropout of one draw per sample and channel of `outer × channels ×
    /// inner` samples (see [`Dropout`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] when `rate` is not in `[0, 1)` or
    /// the sizes do not multiply to `N` (naming `noise_shape`; also when
    /// the product overflows).
    pub fn spatial(kind: DropoutKind, rate: f64, outer: usize, channels: usize, inner: usize) -> Result<Self> {
        // Keras accepts rate = 1 (all zeros); TensorFlow's dropout itself
        // rejects it, and a layer that zeroes everything trains nothing.
        check_hyper("rate", rate, 0.0, 1.0, "in [0, 1)")?;
        super::check_split("noise_shape", "channels", [outer, channels, inner], N)?;
        Ok(Dropout { kind, rate: rate as f32, scale: (1.0 / (1.0 - rate)) as f32, channels, inner })
    }

    /// The fraction of values dropped in training.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// The factor kept values are multiplied by: `1/(1 − rate)` rounded to f32.
    pub fn scale(&self) -> f32 {
        self.scale
    }
}

/// A uniform draw in `[0, 1)` from 24 random bits (exact in f32).
fn uniform(rng: &mut impl RngCore) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

impl<const N: usize> Layer for Dropout<N> {
    type In = f32;
    type Cache = DropoutCache;
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        match self.kind {
            DropoutKind::Dropout => "Dropout",
            DropoutKind::SpatialDropout1D => "SpatialDropout1D",
            DropoutKind::SpatialDropout2D => "SpatialDropout2D",
        }
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut DropoutCache, ctx: &mut Ctx) {
        let (x, y) = (&x[..batch * N], &mut y[..batch * N]);
        // Keras: `if training and self.rate > 0`, else the input itself.
        cache.active = ctx.training && self.rate > 0.0;
        if !cache.active {
            y.copy_from_slice(x);
            return;
        }
        let ch = self.channels;
        let mask = ensure_len(&mut cache.mask, batch * ch);
        for m in mask.iter_mut() {
            *m = if uniform(&mut ctx.rng) >= self.rate { self.scale } else { 0.0 };
        }
        for (s, (xs, ys)) in x.chunks_exact(N).zip(y.chunks_exact_mut(N)).enumerate() {
            let ms = &mask[s * ch..(s + 1) * ch];
            for (xr, yr) in xs.chunks_exact(ch * self.inner).zip(ys.chunks_exact_mut(ch * self.inner)) {
                for ((xc, yc), &m) in xr.chunks_exact(self.inner).zip(yr.chunks_exact_mut(self.inner)).zip(ms) {
                    // TensorFlow: `where(keep, x·scale, 0)` (a dropped
                    // infinity gives 0, not NaN).
                    for (yv, &xv) in yc.iter_mut().zip(xc) {
                        *yv = if m != 0.0 { xv * m } else { 0.0 };
                    }
                }
            }
        }
    }

    fn backward(
        &mut self,
        _: &[f32],
        _: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut DropoutCache,
        _: &mut Ctx,
    ) {
        let Some(dx) = dx else { return };
        let dy = &mut dy[..batch * N];
        if cache.active {
            // The same mask: kept values' gradient times the scale, zero elsewhere.
            let ch = self.channels;
            for (s, ds) in dy.chunks_exact_mut(N).enumerate() {
                let ms = &cache.mask[s * ch..(s + 1) * ch];
                for row in ds.chunks_exact_mut(ch * self.inner) {
                    for (run, &m) in row.chunks_exact_mut(self.inner).zip(ms) {
                        run.iter_mut().for_each(|d| *d = if m != 0.0 { *d * m } else { 0.0 });
                    }
                }
            }
        }
        dx.store(dy);
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        y.copy_from_slice(x);
    }
}

/// Keras's `GaussianNoise(stddev)`: in training, adds zero-mean normal
/// noise of standard deviation `stddev` to every value; the identity at
/// inference. Its gradient is the identity.
///
/// ```
/// use kiln::layers::{GaussianNoise, Layer};
/// let noise = GaussianNoise::<2>::new(0.1).unwrap();
/// let mut y = [0.0; 2];
/// noise.forward_one(&[1.0, 2.0], &mut y);
/// assert_eq!(y, [1.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GaussianNoise<const N: usize> {
    stddev: f32,
}

impl<const N: usize> GaussianNoise<N> {
    /// Keras's `GaussianNoise(stddev)`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] when `stddev` is not in `[0, 1]`
    /// (Keras's own check).
    pub fn new(stddev: f64) -> Result<Self> {
        check_hyper("stddev", stddev, 0.0, 1.0 + f64::EPSILON, "in [0, 1]")?;
        Ok(GaussianNoise { stddev: stddev as f32 })
    }

    /// The noise's standard deviation.
    pub fn stddev(&self) -> f32 {
        self.stddev
    }
}

impl<const N: usize> Layer for GaussianNoise<N> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        "GaussianNoise"
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, _: &mut (), ctx: &mut Ctx) {
        let (x, y) = (&x[..batch * N], &mut y[..batch * N]);
        if ctx.training && self.stddev > 0.0 {
            for (yv, &xv) in y.iter_mut().zip(x) {
                *yv = xv + self.stddev * crate::initializers::standard_normal(&mut ctx.rng);
            }
        } else {
            y.copy_from_slice(x);
        }
    }

    fn backward(
        &mut self,
        _: &[f32],
        _: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        if let Some(dx) = dx {
            dx.store(&dy[..batch * N]);
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        y.copy_from_slice(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_layer_gradients;

    fn train(layer: &impl Layer<In = f32, Cache = DropoutCache>, x: &[f32], batch: usize, seed: u64) -> Vec<f32> {
        let mut ctx = Ctx::new(seed);
        ctx.training = true;
        let mut y = vec![0.0; x.len()];
        layer.forward(x, &mut y, batch, &mut DropoutCache::default(), &mut ctx);
        y
    }

    #[test]
    fn gradients_match_finite_differences() {
        // The check replays the same random stream, so the mask is fixed.
        check_layer_gradients(&mut Dropout::<6>::new(0.4).unwrap(), 3);
        check_layer_gradients(&mut Dropout::<6>::spatial(DropoutKind::SpatialDropout1D, 0.4, 3, 2, 1).unwrap(), 3);
        check_layer_gradients(&mut GaussianNoise::<6>::new(0.5).unwrap(), 2);
    }

    #[test]
    fn kept_values_are_scaled_dropped_are_zero() {
        let d = Dropout::<1000>::new(0.3).unwrap();
        let x: Vec<f32> = (0..2000).map(|i| 1.0 + i as f32 * 0.001).collect();
        let y = train(&d, &x, 2, 7);
        // 1/(1 − 0.3) in f64, rounded to f32, as TensorFlow computes it.
        let scale = (1.0f64 / 0.7) as f32;
        assert_eq!(d.scale(), scale);
        for (&xv, &yv) in x.iter().zip(&y) {
            assert!(yv == 0.0 || yv == xv * scale, "{xv} → {yv}");
        }
        let kept = y.iter().filter(|v| **v != 0.0).count();
        assert!((1300..1500).contains(&kept), "kept {kept} of 2000 at rate 0.3");
    }

    #[test]
    fn spatial_dropout_drops_whole_channels() {
        // [T = 5, C = 40]: a channel is kept or dropped at every step.
        let d = Dropout::<200>::spatial(DropoutKind::SpatialDropout1D, 0.5, 5, 40, 1).unwrap();
        let x = vec![1.0; 400];
        let y = train(&d, &x, 2, 1);
        for s in 0..2 {
            for c in 0..40 {
                let first = y[s * 200 + c];
                assert!((0..5).all(|t| y[s * 200 + t * 40 + c] == first), "sample {s} channel {c}");
            }
        }
        let dropped = (0..80).filter(|&k| y[(k / 40) * 200 + k % 40] == 0.0).count();
        assert!((20..60).contains(&dropped), "{dropped} of 80 channels dropped");
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(Dropout::<4>::new(1.0).is_err());
        assert!(Dropout::<4>::new(-0.1).is_err());
        assert!(Dropout::<4>::new(f64::NAN).is_err());
        assert!(Dropout::<4>::spatial(DropoutKind::SpatialDropout1D, 0.5, 3, 1, 1).is_err());
        assert!(GaussianNoise::<4>::new(1.5).is_err());
        assert!(GaussianNoise::<4>::new(1.0).is_ok());
    }

    #[test]
    fn gaussian_noise_has_the_stddev_in_training_only() {
        let g = GaussianNoise::<5000>::new(0.5).unwrap();
        let x = vec![2.0; 5000];
        let mut ctx = Ctx::new(4);
        let mut y = vec![0.0; 5000];
        g.forward(&x, &mut y, 1, &mut (), &mut ctx);
        assert_eq!(y, x, "inference is the identity");
        ctx.training = true;
        g.forward(&x, &mut y, 1, &mut (), &mut ctx);
        let mean = y.iter().map(|v| (v - 2.0) as f64).sum::<f64>() / 5000.0;
        let sd = (y.iter().map(|v| ((v - 2.0) as f64 - mean).powi(2)).sum::<f64>() / 5000.0).sqrt();
        // Standard errors: 0.5/√5000 ≈ 0.007 for the mean, ≈ 0.005 for the deviation.
        assert!(mean.abs() < 0.03 && (sd - 0.5).abs() < 0.025, "mean {mean}, sd {sd}");
    }
}
