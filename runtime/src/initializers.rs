//! Weight initializers with Keras's names, defaults and formulas.
//!
//! Fans follow Keras: for a kernel of shape `[.., fan_in, fan_out]` the
//! receptive field (product of the leading dimensions) multiplies both.
//! Variance-scaling normals are truncated at two standard deviations and
//! rescaled by `0.879_625_661_034_239_78` (the standard deviation of a unit
//! normal truncated to [−2, 2]), exactly as `keras.initializers.VarianceScaling`.

use rand::Rng;

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
}

const TRUNCATED_STDDEV: f32 = 0.879_625_7;

impl Initializer {
    /// The initializers with their Keras names and Keras's default arguments.
    pub const ALL: [(&'static str, Initializer); 13] = [
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
    pub fn fill(self, values: &mut [f32], shape: &[usize], rng: &mut impl Rng) {
        let (fan_in, fan_out) = fans(shape);
        let uniform = |values: &mut [f32], limit: f32, rng: &mut dyn rand::RngCore| {
            values.iter_mut().for_each(|v| *v = rng.gen_range(-limit..limit));
        };
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
            Initializer::GlorotUniform => uniform(values, (6.0 / (fan_in + fan_out)).sqrt(), rng),
            Initializer::HeUniform => uniform(values, (6.0 / fan_in).sqrt(), rng),
            Initializer::LecunUniform => uniform(values, (3.0 / fan_in).sqrt(), rng),
            Initializer::GlorotNormal => scaled_truncated(values, 2.0 / (fan_in + fan_out), rng),
            Initializer::HeNormal => scaled_truncated(values, 2.0 / fan_in, rng),
            Initializer::LecunNormal => scaled_truncated(values, 1.0 / fan_in, rng),
            Initializer::Orthogonal { gain } => orthogonal(values, shape, gain, rng),
        }
    }
}

/// Keras's `compute_fans`.
fn fans(shape: &[usize]) -> (f32, f32) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f32, *n as f32),
        [a, b] => (*a as f32, *b as f32),
        [lead @ .., a, b] => {
            let field: usize = lead.iter().product();
            ((field * a) as f32, (field * b) as f32)
        }
    }
}

fn scaled_truncated(values: &mut [f32], variance: f32, rng: &mut impl Rng) {
    let stddev = variance.sqrt() / TRUNCATED_STDDEV;
    values.iter_mut().for_each(|v| *v = stddev * truncated_normal(rng));
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

    #[test]
    fn variance_scaling_matches_keras_standard_deviations() {
        let shape = [400, 200];
        let mut w = vec![0.0; 400 * 200];
        // Expected σ: uniform limit/√3; truncated normals have exactly the target σ.
        let cases = [
            (Initializer::GlorotUniform, (6.0f64 / 600.0).sqrt() / 3f64.sqrt()),
            (Initializer::GlorotNormal, (2.0f64 / 600.0).sqrt()),
            (Initializer::HeUniform, (6.0f64 / 400.0).sqrt() / 3f64.sqrt()),
            (Initializer::HeNormal, (2.0f64 / 400.0).sqrt()),
            (Initializer::LecunNormal, (1.0f64 / 400.0).sqrt()),
            (Initializer::RandomNormal { mean: 0.0, stddev: 0.05 }, 0.05),
        ];
        for (init, sigma) in cases {
            init.fill(&mut w, &shape, &mut rng());
            let (mean, sd) = stats(&w);
            assert!(mean.abs() < 0.02 * sigma.max(0.01) + 1e-3, "{init:?} mean {mean}");
            assert!((sd / sigma - 1.0).abs() < 0.02, "{init:?}: σ {sd} vs {sigma}");
        }
    }

    #[test]
    fn orthogonal_has_orthonormal_rows_or_columns() {
        for (r, c) in [(64, 256), (256, 64), (32, 32)] {
            let mut w = vec![0.0; r * c];
            Initializer::Orthogonal { gain: 1.0 }.fill(&mut w, &[r, c], &mut rng());
            // Gram matrix of the shorter side is the identity.
            let (n, len) = (r.min(c), r.max(c));
            let at = |i: usize, k: usize| if r <= c { w[i * c + k] } else { w[k * c + i] };
            for i in 0..n {
                for j in 0..n {
                    let g: f32 = (0..len).map(|k| at(i, k) * at(j, k)).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((g - want).abs() < 1e-4, "{r}x{c} gram[{i}][{j}] = {g}");
                }
            }
        }
    }

    #[test]
    fn same_seed_same_values() {
        let (mut a, mut b) = (vec![0.0; 10], vec![0.0; 10]);
        Initializer::GlorotUniform.fill(&mut a, &[2, 5], &mut rng());
        Initializer::GlorotUniform.fill(&mut b, &[2, 5], &mut rng());
        assert_eq!(a, b);
    }
}
