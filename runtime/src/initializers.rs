//! Weight initializers with Keras's names, defaults and formulas.
//!
//! Fans follow Keras: for a kernel of shape `[.., fan_in, fan_out]` the
//! receptive field (product of the leading dimensions) multiplies both.
//! Variance-scaling normals are truncated at two standard deviations and
//! rescaled by `TRUNCATION_STDDEV` (the standard deviation of a unit
//! normal truncated to [−2, 2]), exactly as `keras.initializers.VarianceScaling`.
//! The scales are computed in f64 as Keras does in Python, then rounded.
//!
//! Keras's random streams are not reproduced (kiln draws from ChaCha8); the
//! distributions are Keras's, and a seed gives the same values every time
//! ([`Initializer::generate`]).

use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

/// Which fan a [`Initializer::VarianceScaling`] divides its scale by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `fan_in`.
    FanIn,
    /// `fan_out`.
    FanOut,
    /// `(fan_in + fan_out) / 2`.
    FanAvg,
}

/// What a [`Initializer::VarianceScaling`] draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// A normal truncated at two standard deviations, rescaled so that the
    /// result has the target variance (Keras's `"truncated_normal"`, also
    /// spelled `"normal"`).
    TruncatedNormal,
    /// A plain normal (`"untruncated_normal"`).
    UntruncatedNormal,
    /// `U(−l, l)` with `l = √(3·scale/fan)` (`"uniform"`).
    Uniform,
}

/// How a parameter's initial values are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    /// All zeros (Keras's default bias initializer).
    Zeros,
    /// All ones.
    Ones,
    /// Every value `c`.
    Constant(f32),
    /// Uniform in `[min, max)`; Keras's `random_uniform` is `(-0.05, 0.05)`.
    RandomUniform {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// Normal; Keras's `random_normal` is `(0, 0.05)`.
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
    /// Normal truncated at two standard deviations; Keras's default `(0, 0.05)`.
    TruncatedNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation (before truncation).
        stddev: f32,
    },
    /// `U(−l, l)`, `l = √(6 / (fan_in + fan_out))`; Keras's default kernel initializer.
    GlorotUniform,
    /// Truncated normal, `σ = √(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// `U(−l, l)`, `l = √(6 / fan_in)`.
    HeUniform,
    /// Truncated normal, `σ = √(2 / fan_in)`.
    HeNormal,
    /// `U(−l, l)`, `l = √(3 / fan_in)`.
    LecunUniform,
    /// Truncated normal, `σ = √(1 / fan_in)`.
    LecunNormal,
    /// A (semi-)orthogonal matrix from the QR decomposition of a normal
    /// matrix, times `gain`; Keras's default recurrent initializer.
    Orthogonal {
        /// Multiplier.
        gain: f32,
    },
    /// Keras's `VarianceScaling(scale, mode, distribution)`: variance
    /// `scale / fan` (the fan chosen by `mode`, at least 1). The Glorot, He
    /// and LeCun initializers are its special cases; Keras's defaults are
    /// `scale = 1`, `fan_in`, truncated normal.
    VarianceScaling {
        /// The variance's numerator (> 0).
        scale: f32,
        /// Which fan divides it.
        mode: Mode,
        /// What to draw from.
        distribution: Distribution,
    },
    /// `gain` times the identity matrix (Keras's `Identity`, also
    /// non-square: ones on the main diagonal); for 2-D shapes only.
    Identity {
        /// Multiplier.
        gain: f32,
    },
}

impl Initializer {
    /// The initializers with their Keras names and Keras's default arguments.
    pub const ALL: [(&'static str, Initializer); 15] = [
        ("zeros", Initializer::Zeros),
        ("ones", Initializer::Ones),
        ("constant", Initializer::Constant(0.0)),
        ("random_uniform", Initializer::RandomUniform { min: -0.05, max: 0.05 }),
        ("random_normal", Initializer::RandomNormal { mean: 0.0, stddev: 0.05 }),
        ("truncated_normal", Initializer::TruncatedNormal { mean: 0.0, stddev: 0.05 }),
        ("glorot_uniform", Initializer::GlorotUniform),
        ("glorot_normal", Initializer::GlorotNormal),
        ("he_uniform", Initializer::HeUniform),
        ("he_normal", Initializer::HeNormal),
        ("lecun_uniform", Initializer::LecunUniform),
        ("lecun_normal", Initializer::LecunNormal),
        ("orthogonal", Initializer::Orthogonal { gain: 1.0 }),
        (
            "variance_scaling",
            Initializer::VarianceScaling { scale: 1.0, mode: Mode::FanIn, distribution: Distribution::TruncatedNormal },
        ),
        ("identity", Initializer::Identity { gain: 1.0 }),
    ];

    /// Looks an initializer up by its Keras name (with Keras's default arguments).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
    }

    /// Fills `values`, a tensor of Keras shape `shape`, with fresh values.
    ///
    /// ```
    /// use kiln::initializers::Initializer;
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let mut w = vec![0.0; 784 * 300];
    /// Initializer::GlorotUniform.fill(&mut w, &[784, 300], &mut rng);
    /// let limit = (6.0f32 / (784.0 + 300.0)).sqrt();
    /// assert!(w.iter().all(|v| v.abs() <= limit));
    /// ```
    ///
    /// An [`Initializer::Identity`] of a shape that is not 2-D fills the
    /// matrix `[len / last, last]`, and an [`Initializer::Orthogonal`] of a
    /// 1-D shape a row; [`Initializer::try_fill`] reports these (and every
    /// other bad argument) as errors instead, as Keras does.
    ///
    /// # Panics
    /// When the initializer's own arguments are invalid (an empty or
    /// overflowing uniform range, a non-finite constant, …: every
    /// [`Initializer::check`] error except those about `shape`), with the
    /// message of the error [`Initializer::try_fill`] returns.
    pub fn fill(self, values: &mut [f32], shape: &[usize], rng: &mut impl Rng) {
        if let Err(e) = self.check_arguments() {
            panic!("{e}");
        }
        if let Some((scale, mode, distribution)) = self.variance_scaling() {
            let bound = variance_scaling_bound(scale, mode, distribution, shape);
            match distribution {
                Distribution::Uniform => values.iter_mut().for_each(|v| *v = rng.gen_range(-bound..bound)),
                Distribution::TruncatedNormal => values.iter_mut().for_each(|v| *v = bound * truncated_normal(rng)),
                Distribution::UntruncatedNormal => values.iter_mut().for_each(|v| *v = bound * standard_normal(rng)),
            }
            return;
        }
        match self {
            Initializer::Zeros => values.fill(0.0),
            Initializer::Ones => values.fill(1.0),
            Initializer::Constant(c) => values.fill(c),
            Initializer::RandomUniform { min, max } => values.iter_mut().for_each(|v| *v = rng.gen_range(min..max)),
            Initializer::RandomNormal { mean, stddev } => {
                values.iter_mut().for_each(|v| *v = mean + stddev * standard_normal(rng))
            }
            Initializer::TruncatedNormal { mean, stddev } => {
                values.iter_mut().for_each(|v| *v = mean + stddev * truncated_normal(rng))
            }
            Initializer::Orthogonal { gain } => orthogonal(values, shape, gain, rng),
            Initializer::Identity { gain } => {
                let cols = shape.last().copied().unwrap_or(1).max(1);
                for (i, v) in values.iter_mut().enumerate() {
                    *v = if i / cols == i % cols { gain } else { 0.0 };
                }
            }
            _ => unreachable!("variance scaling handled above"),
        }
    }

    /// `(scale, mode, distribution)` of the variance-scaling initializers
    /// (Keras's `GlorotUniform` is `VarianceScaling(1, fan_avg, uniform)`, …).
    fn variance_scaling(self) -> Option<(f64, Mode, Distribution)> {
        use Distribution::{TruncatedNormal, Uniform};
        Some(match self {
            Initializer::GlorotUniform => (1.0, Mode::FanAvg, Uniform),
            Initializer::GlorotNormal => (1.0, Mode::FanAvg, TruncatedNormal),
            Initializer::HeUniform => (2.0, Mode::FanIn, Uniform),
            Initializer::HeNormal => (2.0, Mode::FanIn, TruncatedNormal),
            Initializer::LecunUniform => (1.0, Mode::FanIn, Uniform),
            Initializer::LecunNormal => (1.0, Mode::FanIn, TruncatedNormal),
            Initializer::VarianceScaling { scale, mode, distribution } => (scale as f64, mode, distribution),
            _ => return None,
        })
    }

    /// For a variance-scaling initializer (Glorot, He, LeCun,
    /// `VarianceScaling`) of a tensor of `shape`: the uniform limit `l` of
    /// `U(−l, l)`, or the normal's standard deviation before truncation
    /// (`√(scale/fan) / 0.8796…` for truncated normals). `None` for the others.
    ///
    /// ```
    /// use kiln::initializers::Initializer;
    /// // Keras: GlorotUniform on a 784 × 300 kernel draws from U(−√(6/1084), √(6/1084)).
    /// assert_eq!(Initializer::GlorotUniform.bound(&[784, 300]), Some((6.0f64 / 1084.0).sqrt() as f32));
    /// ```
    pub fn bound(self, shape: &[usize]) -> Option<f32> {
        self.variance_scaling().map(|(scale, mode, d)| variance_scaling_bound(scale, mode, d, shape))
    }

    /// Checks the arguments against `shape` and `len` values, as Keras's
    /// constructors and `__call__` do.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the argument: a `shape` holding
    /// more than `usize::MAX` values or other than `len`; `scale` ≤ 0;
    /// `minval ≥ maxval`, or `maxval − minval` overflowing f32; a negative
    /// or non-finite `stddev`, `gain` or constant; a normal whose draws
    /// can overflow f32 (`mean ± 2·stddev` truncated, `mean ± 8.6·stddev`
    /// untruncated: the widest draws); an identity of a shape that is not
    /// 2-D; an orthogonal of fewer than 2 dimensions.
    pub fn check(self, shape: &[usize], len: usize) -> Result<()> {
        let expected = size(shape)?;
        if expected != len {
            let reason = format!("{shape:?} holds {expected} values, but {len} are to be filled");
            return Err(Error::InvalidArgument { name: "shape", reason });
        }
        self.check_arguments()?;
        match self.rank_requirement(shape) {
            Some(requirement) => {
                let reason = format!("must have {requirement} for {self:?}, but is {shape:?}");
                Err(Error::InvalidArgument { name: "shape", reason })
            }
            None => Ok(()),
        }
    }

    /// What Keras requires of the weight's dimensions when `shape` does not
    /// meet it (a ValueError there): orthogonal needs at least 2, identity
    /// exactly 2.
    fn rank_requirement(self, shape: &[usize]) -> Option<&'static str> {
        match self {
            Initializer::Orthogonal { .. } if shape.len() < 2 => Some("at least 2 dimensions"),
            Initializer::Identity { .. } if shape.len() != 2 => Some("2 dimensions"),
            _ => None,
        }
    }

    /// [`Initializer::check`] for a layer's initializer `name`
    /// (`kernel_initializer`, …) of a weight of `shape`: the error names
    /// `name` and says which of the initializer's arguments is wrong, or
    /// that the weight has dimensions the initializer cannot fill.
    pub(crate) fn check_as(self, name: &'static str, shape: &[usize]) -> Result<()> {
        self.check_arguments().map_err(|e| match e {
            Error::InvalidArgument { name: argument, reason } => {
                Error::InvalidArgument { name, reason: format!("`{argument}` of {self:?} {reason}") }
            }
            other => other,
        })?;
        match self.rank_requirement(shape) {
            Some(requirement) => {
                let reason = format!("{self:?} needs a weight of {requirement}, but this one is {shape:?}");
                Err(Error::InvalidArgument { name, reason })
            }
            None => Ok(()),
        }
    }

    /// The checks of the initializer's own arguments (those that do not
    /// depend on the shape): every value it draws is finite.
    fn check_arguments(self) -> Result<()> {
        let bad = |name: &'static str, reason: String| Err(Error::InvalidArgument { name, reason });
        let finite = |name: &'static str, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                bad(name, format!("must be finite, but is {v}"))
            }
        };
        match self {
            Initializer::Constant(c) => finite("value", c),
            Initializer::RandomUniform { min, max } => {
                finite("minval", min)?;
                finite("maxval", max)?;
                if min >= max {
                    bad("minval", format!("must be below maxval ({max}), but is {min}"))
                } else if !(max - min).is_finite() {
                    // `gen_range` draws `min + (max − min)·u` in f32.
                    let reason = format!(
                        "must not be so far above minval ({min}) that maxval − minval overflows f32, but is {max}"
                    );
                    bad("maxval", reason)
                } else {
                    Ok(())
                }
            }
            Initializer::RandomNormal { mean, stddev } | Initializer::TruncatedNormal { mean, stddev } => {
                finite("mean", mean)?;
                crate::optimizers::check_hyper("stddev", stddev, 0.0, f32::INFINITY, "≥ 0 and finite")?;
                let reach = if matches!(self, Initializer::TruncatedNormal { .. }) { 2.0 } else { NORMAL_REACH };
                if (mean.abs() as f64) + reach * stddev as f64 <= f32::MAX as f64 {
                    Ok(())
                } else {
                    let reason = format!(
                        "must keep the widest draws, mean ± {reach}·stddev, finite in f32, \
                         but is {stddev} with mean {mean}"
                    );
                    bad("stddev", reason)
                }
            }
            Initializer::VarianceScaling { scale, .. } => {
                crate::optimizers::check_hyper("scale", scale, f32::MIN_POSITIVE, f32::INFINITY, "positive and finite")
            }
            Initializer::Orthogonal { gain } | Initializer::Identity { gain } => finite("gain", gain),
            _ => Ok(()),
        }
    }

    /// [`Initializer::fill`] after [`Initializer::check`].
    ///
    /// # Errors
    /// As [`Initializer::check`]; `values` is untouched then.
    pub fn try_fill(self, values: &mut [f32], shape: &[usize], rng: &mut impl Rng) -> Result<()> {
        self.check(shape, values.len())?;
        self.fill(values, shape, rng);
        Ok(())
    }

    /// Fresh values for a tensor of `shape` from `seed` (Keras's
    /// `GlorotUniform(seed=42)(shape)`): the same seed gives the same values.
    ///
    /// ```
    /// use kiln::initializers::Initializer;
    /// let w = Initializer::HeNormal.generate(&[3, 3, 16, 32], 42)?;
    /// assert_eq!(w, Initializer::HeNormal.generate(&[3, 3, 16, 32], 42)?);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Initializer::check`]; also naming `shape` when its values do
    /// not fit in memory.
    pub fn generate(self, shape: &[usize], seed: u64) -> Result<Vec<f32>> {
        let len = size(shape)?;
        self.check(shape, len)?;
        let mut values = Vec::new();
        values.try_reserve_exact(len).map_err(|_| Error::InvalidArgument {
            name: "shape",
            reason: format!("{shape:?} holds {len} values, which do not fit in memory"),
        })?;
        values.resize(len, 0.0);
        self.fill(&mut values, shape, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        Ok(values)
    }
}

/// The values a tensor of `shape` holds (0 when a dimension is 0, however
/// large the others are).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `shape` when there are more than
/// `usize::MAX`.
fn size(shape: &[usize]) -> Result<usize> {
    if shape.contains(&0) {
        return Ok(0);
    }
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| Error::InvalidArgument {
        name: "shape",
        reason: format!("{shape:?} holds more than usize::MAX ({}) values", usize::MAX),
    })
}

/// A bound on `|z|` for every [`standard_normal`] sample `z`: Box–Muller's
/// radius `√(−2·ln u₁)` with `u₁ ≥ 2⁻⁵³` is at most `√(106·ln 2) ≈ 8.5717`
/// (with margin for rounding to f32).
const NORMAL_REACH: f64 = 8.6;

/// The standard deviation of a unit normal truncated to [−2, 2]
/// (Keras's literal 0.87962566103423978, the same f64).
const TRUNCATION_STDDEV: f64 = 0.879_625_661_034_239_8;

/// Keras's `VarianceScaling.__call__` arithmetic, in f64 (Python floats).
fn variance_scaling_bound(scale: f64, mode: Mode, distribution: Distribution, shape: &[usize]) -> f32 {
    let (fan_in, fan_out) = fans(shape);
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    let fan = match mode {
        Mode::FanIn => fan_in,
        Mode::FanOut => fan_out,
        Mode::FanAvg => (fan_in + fan_out) / 2.0,
    };
    let scale = scale / fan.max(1.0);
    (match distribution {
        Distribution::TruncatedNormal => scale.sqrt() / TRUNCATION_STDDEV,
        Distribution::UntruncatedNormal => scale.sqrt(),
        Distribution::Uniform => (3.0 * scale).sqrt(),
    }) as f32
}

/// Keras's `compute_fans`: `(fan_in, fan_out)` of a tensor of `shape`; for
/// rank > 2 (convolution kernels) the receptive field multiplies both.
/// Products beyond `usize::MAX` (Keras's are Python integers) saturate
/// there: only a shape holding no value (a zero dimension) or more values
/// than a `usize` counts has such fans.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [a, b] => (*a, *b),
        [lead @ .., a, b] => {
            let field = lead.iter().fold(1usize, |p, &d| p.saturating_mul(d));
            (field.saturating_mul(*a), field.saturating_mul(*b))
        }
    }
}

/// A unit normal sample (Box–Muller).
pub fn standard_normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// A unit normal sample redrawn until it lies within two standard deviations.
fn truncated_normal(rng: &mut impl Rng) -> f32 {
    loop {
        let z = standard_normal(rng);
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

/// Keras's `Orthogonal`: QR of a `max(r, c) × min(r, c)` normal matrix, Q's
/// columns sign-corrected by R's diagonal, transposed when `r < c`.
fn orthogonal(values: &mut [f32], shape: &[usize], gain: f32, rng: &mut impl Rng) {
    let cols = *shape.last().unwrap_or(&1);
    let rows = values.len() / cols.max(1);
    let (tall, short) = (rows.max(cols), rows.min(cols));
    // Column-major `tall × short` matrix; modified Gram–Schmidt gives Q and diag(R).
    let mut q: Vec<f64> = (0..tall * short).map(|_| standard_normal(rng) as f64).collect();
    for j in 0..short {
        for k in 0..j {
            let dot: f64 = (0..tall).map(|i| q[k * tall + i] * q[j * tall + i]).sum();
            for i in 0..tall {
                q[j * tall + i] -= dot * q[k * tall + i];
            }
        }
        let norm = (0..tall).map(|i| q[j * tall + i].powi(2)).sum::<f64>().sqrt();
        // R's diagonal is `norm > 0`, so the sign correction keeps Q as is.
        for i in 0..tall {
            q[j * tall + i] /= norm;
        }
    }
    for r in 0..rows {
        for c in 0..cols {
            // Q is tall×short; the result is Q (rows ≥ cols) or Qᵀ.
            let v = if rows >= cols { q[c * tall + r] } else { q[r * tall + c] };
            values[r * cols + c] = gain * v as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(7)
    }

    fn stats(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    /// The limits and deviations of Keras's formulas
    /// (`scale /= max(1, fan)`; uniform `√(3·scale)`, truncated normal
    /// `√scale / 0.87962566103423978`), evaluated by hand in Python floats:
    /// Glorot uniform 784×300: √(3/542); He normal 3×3×64×128: fan_in
    /// 3·3·64 = 576, √(2/576)/0.8796…; LeCun uniform 64×256 (an LSTM's
    /// kernel): √(3/64); `VarianceScaling(2, fan_out, uniform)` 10×20: √(6/20);
    /// Glorot normal of a 1-D [5] (both fans 5): √(1/5)/0.8796…; He uniform
    /// of a [0, 10] kernel (fan_in 0 counts as 1): √6.
    #[test]
    fn bounds_follow_keras_formulas() {
        let vs = |scale, mode, distribution| Initializer::VarianceScaling { scale, mode, distribution };
        let cases = [
            (Initializer::GlorotUniform, &[784usize, 300][..], 0.074_397_95_f32),
            (Initializer::HeNormal, &[3, 3, 64, 128], 0.066_989_36),
            (Initializer::LecunUniform, &[64, 256], 0.216_506_35),
            (vs(2.0, Mode::FanOut, Distribution::Uniform), &[10, 20], 0.547_722_6),
            (Initializer::GlorotNormal, &[5], 0.508_413_55),
            (Initializer::HeUniform, &[0, 10], 2.449_489_8),
            (vs(1.0, Mode::FanIn, Distribution::UntruncatedNormal), &[4, 7], 0.5),
        ];
        for (init, shape, expected) in cases {
            assert_eq!(init.bound(shape), Some(expected), "{init:?} {shape:?}");
        }
        assert_eq!(Initializer::Orthogonal { gain: 1.0 }.bound(&[3, 3]), None);
        assert_eq!(fans(&[3, 3, 64, 128]), (576, 1152));
        assert_eq!((fans(&[]), fans(&[7]), fans(&[64, 256])), ((1, 1), (7, 7), (64, 256)));
    }

    /// Mean, standard deviation and range of 10⁶ draws. The bounds are five
    /// standard errors: the mean's is σ/√n = σ/1000; the sample standard
    /// deviation's relative error is √((κ − 1)/4n) ≤ 0.0006 for these
    /// distributions (kurtosis κ ≤ 3), so ±0.3% — a 1% error in a formula
    /// fails, as would a missing truncation correction (12%).
    #[test]
    fn draws_have_the_distributions_keras_specifies() {
        const N: usize = 1_000_000;
        let shape = [1000, 1000];
        let mut w = vec![0.0; N];
        let vs = |scale, mode, distribution| Initializer::VarianceScaling { scale, mode, distribution };
        // (initializer, mean, σ of the values, the largest |v − mean| possible or None)
        let glorot = (2.0f64 / 2000.0).sqrt();
        let cases = [
            (Initializer::GlorotUniform, 0.0, glorot, Some((3.0f64 / 1000.0).sqrt())),
            (Initializer::GlorotNormal, 0.0, glorot, Some(2.0 * (1.0f64 / 1000.0).sqrt() / TRUNCATION_STDDEV)),
            (Initializer::HeUniform, 0.0, (2.0f64 / 1000.0).sqrt(), Some((6.0f64 / 1000.0).sqrt())),
            (
                Initializer::HeNormal,
                0.0,
                (2.0f64 / 1000.0).sqrt(),
                Some(2.0 * (2.0f64 / 1000.0).sqrt() / TRUNCATION_STDDEV),
            ),
            (Initializer::LecunUniform, 0.0, (1.0f64 / 1000.0).sqrt(), Some((3.0f64 / 1000.0).sqrt())),
            (
                Initializer::LecunNormal,
                0.0,
                (1.0f64 / 1000.0).sqrt(),
                Some(2.0 * (1.0f64 / 1000.0).sqrt() / TRUNCATION_STDDEV),
            ),
            (vs(3.0, Mode::FanAvg, Distribution::UntruncatedNormal), 0.0, (3.0f64 / 1000.0).sqrt(), None),
            (Initializer::RandomUniform { min: -0.05, max: 0.05 }, 0.0, 0.1 / 12f64.sqrt(), Some(0.05)),
            (Initializer::RandomUniform { min: 1.0, max: 3.0 }, 2.0, 2.0 / 12f64.sqrt(), Some(1.0)),
            (Initializer::RandomNormal { mean: 0.5, stddev: 0.05 }, 0.5, 0.05, None),
            // Keras's TruncatedNormal is not rescaled: σ = 0.05 · 0.8796…, range ±2·0.05.
            (Initializer::TruncatedNormal { mean: -1.0, stddev: 0.05 }, -1.0, 0.05 * TRUNCATION_STDDEV, Some(0.1)),
        ];
        for (init, mean, sigma, range) in cases {
            init.fill(&mut w, &shape, &mut rng());
            let (m, sd) = stats(&w);
            assert!((m - mean).abs() < 5.0 * sigma / 1000.0, "{init:?}: mean {m}, expected {mean}");
            assert!((sd / sigma - 1.0).abs() < 0.003, "{init:?}: σ {sd}, expected {sigma}");
            let widest = w.iter().map(|&v| (v as f64 - mean).abs()).fold(0.0, f64::max);
            match range {
                // Reached within 0.2% (the chance of missing it is below e⁻⁵⁰).
                Some(r) => {
                    assert!(widest <= r * (1.0 + 1e-6) && widest > r * 0.998, "{init:?}: max |v| {widest} vs {r}")
                }
                // A normal's tail goes past 4σ (≈ 63 of 10⁶ draws).
                None => assert!(widest > 4.0 * sigma, "{init:?}: max |v| {widest}"),
            }
        }
    }

    #[test]
    fn identity_is_exact() {
        let w = Initializer::Identity { gain: 2.5 }.generate(&[3, 4], 0).unwrap();
        #[rustfmt::skip]
        assert_eq!(w, [2.5, 0.0, 0.0, 0.0,
                       0.0, 2.5, 0.0, 0.0,
                       0.0, 0.0, 2.5, 0.0]);
        let w = Initializer::from_name("identity").unwrap().generate(&[4, 2], 0).unwrap();
        assert_eq!(w, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn orthogonal_has_orthonormal_rows_or_columns() {
        // [3, 4, 8] is 12 rows of 8 (Keras flattens all but the last axis).
        for (shape, gain) in [(&[64usize, 256][..], 1.0f32), (&[256, 64], 1.0), (&[32, 32], 1.0), (&[3, 4, 8], 2.0)] {
            let c = *shape.last().unwrap();
            let r = shape.iter().product::<usize>() / c;
            let w = Initializer::Orthogonal { gain }.generate(shape, 3).unwrap();
            // Gram matrix of the shorter side is gain² times the identity.
            let (n, len) = (r.min(c), r.max(c));
            let at = |i: usize, k: usize| if r <= c { w[i * c + k] } else { w[k * c + i] } as f64;
            for i in 0..n {
                for j in 0..n {
                    let g: f64 = (0..len).map(|k| at(i, k) * at(j, k)).sum::<f64>() / (gain as f64).powi(2);
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((g - want).abs() < 1e-5, "{shape:?} gram[{i}][{j}] = {g}");
                }
            }
        }
    }

    #[test]
    fn keras_names_and_defaults() {
        assert_eq!(
            Initializer::from_name("variance_scaling"),
            Some(Initializer::VarianceScaling {
                scale: 1.0,
                mode: Mode::FanIn,
                distribution: Distribution::TruncatedNormal
            })
        );
        assert_eq!(Initializer::from_name("identity"), Some(Initializer::Identity { gain: 1.0 }));
        assert_eq!(
            Initializer::from_name("random_uniform"),
            Some(Initializer::RandomUniform { min: -0.05, max: 0.05 })
        );
        assert_eq!(Initializer::from_name("glorot"), None);
        let names: Vec<&str> = Initializer::ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 15);
    }

    /// Arguments Keras rejects are errors naming them, before anything is
    /// written (old code: an identity or orthogonal of any shape filled
    /// something, a zero scale gave all zeros).
    #[test]
    fn bad_arguments_are_errors() {
        let name = |init: Initializer, shape: &[usize], len: usize| {
            let mut values = vec![7.0; len];
            let err = init.try_fill(&mut values, shape, &mut rng()).unwrap_err();
            assert!(values.iter().all(|&v| v == 7.0), "{init:?} wrote values");
            match err {
                Error::InvalidArgument { name, .. } => name,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(name(Initializer::Identity { gain: 1.0 }, &[2, 3, 4], 24), "shape");
        assert_eq!(name(Initializer::Orthogonal { gain: 1.0 }, &[5], 5), "shape");
        assert_eq!(name(Initializer::GlorotUniform, &[2, 3], 5), "shape");
        assert_eq!(name(Initializer::RandomUniform { min: 1.0, max: 1.0 }, &[2], 2), "minval");
        assert_eq!(name(Initializer::RandomNormal { mean: 0.0, stddev: -1.0 }, &[2], 2), "stddev");
        assert_eq!(name(Initializer::Constant(f32::NAN), &[2], 2), "value");
        let zero = Initializer::VarianceScaling { scale: 0.0, mode: Mode::FanIn, distribution: Distribution::Uniform };
        assert_eq!(name(zero, &[2, 2], 4), "scale");
        assert!(Initializer::GlorotUniform.generate(&[2, 3], 1).is_ok());
    }

    #[test]
    fn same_seed_same_values() {
        let (mut a, mut b) = (vec![0.0; 10], vec![0.0; 10]);
        Initializer::GlorotUniform.fill(&mut a, &[2, 5], &mut rng());
        Initializer::GlorotUniform.fill(&mut b, &[2, 5], &mut rng());
        assert_eq!(a, b);
    }
}
