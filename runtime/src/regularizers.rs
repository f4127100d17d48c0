//! Keras's weight regularizers (`l1`, `l2`, `l1_l2`) and weight
//! constraints (`max_norm`, `non_neg`, `unit_norm`, `min_max_norm`).
//!
//! A regularizer adds a penalty to the loss, as Keras's `model.losses`:
//! a weight regularizer `r(w)` for every trainable parameter that has one
//! (summed, added to the loss the progress bar, `History` and `evaluate`
//! report; not to the per-output losses), and an activity regularizer
//! `r(y) / batch` on a layer's output. A constraint projects a parameter
//! after each optimizer step, as Keras's optimizer does after applying
//! the gradients.

use crate::param::Param;

/// A penalty on a tensor's values, with Keras's formulas:
/// `l1·Σ|x| + l2·Σx²`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Regularizer {
    /// `keras.regularizers.L1(l1 = 0.01)`: `l1·Σ|x|`.
    L1 {
        /// The factor (Keras's default 0.01).
        l1: f32,
    },
    /// `keras.regularizers.L2(l2 = 0.01)`: `l2·Σx²`.
    L2 {
        /// The factor (Keras's default 0.01).
        l2: f32,
    },
    /// `keras.regularizers.L1L2(l1 = 0.0, l2 = 0.0)`: `l1·Σ|x| + l2·Σx²`.
    L1L2 {
        /// The L1 factor (Keras's default 0.0).
        l1: f32,
        /// The L2 factor (Keras's default 0.0).
        l2: f32,
    },
}

impl Regularizer {
    /// `(l1, l2)` factors.
    fn factors(self) -> (f32, f32) {
        match self {
            Regularizer::L1 { l1 } => (l1, 0.0),
            Regularizer::L2 { l2 } => (0.0, l2),
            Regularizer::L1L2 { l1, l2 } => (l1, l2),
        }
    }

    /// Checks the factors: finite and ≥ 0 (Keras raises `ValueError`
    /// otherwise). `param` names the regularized weight in the message.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming the factor (`l1`, `l2`).
    pub fn validate(self, param: &str) -> crate::Result<()> {
        self.validate_for(|| format!("the regularizer on `{param}`"))
    }

    /// [`Regularizer::validate`] for the activity regularizer of layer `layer`.
    ///
    /// # Errors
    /// As [`Regularizer::validate`].
    pub fn validate_activity(self, layer: &str) -> crate::Result<()> {
        self.validate_for(|| format!("the activity regularizer of `{layer}`"))
    }

    /// The check, with `subject` (formatted only for an error).
    fn validate_for(self, subject: impl Fn() -> String) -> crate::Result<()> {
        let (l1, l2) = self.factors();
        non_negative("l1", l1, &subject)?;
        non_negative("l2", l2, &subject)
    }

    /// The penalty `l1·Σ|x| + l2·Σx²` (sums accumulated in f64).
    pub fn penalty(self, x: &[f32]) -> f32 {
        let (l1, l2) = self.factors();
        let (mut abs, mut squares) = (0.0f64, 0.0f64);
        for &v in x {
            abs += f64::from(v.abs());
            squares += f64::from(v) * f64::from(v);
        }
        let mut total = 0.0f32;
        if l1 != 0.0 {
            total += l1 * abs as f32;
        }
        if l2 != 0.0 {
            total += l2 * squares as f32;
        }
        total
    }

    /// Adds `scale · ∂penalty/∂x = scale·(l1·sign(x) + 2·l2·x)` to `grad`
    /// (`sign(0) = 0`, as TensorFlow's gradient of `abs`).
    pub fn add_gradient(self, x: &[f32], grad: &mut [f32], scale: f32) {
        let (l1, l2) = self.factors();
        let (a, b) = (scale * l1, scale * 2.0 * l2);
        for (g, &v) in grad.iter_mut().zip(x) {
            let sign = if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            };
            *g += a * sign + b * v;
        }
    }
}

/// A projection applied to a parameter after each optimizer step. Norms
/// are taken over `axes` of the parameter's Keras shape (Keras's `axis`,
/// default 0: for a `Dense` kernel `[in, out]`, each unit's incoming
/// weights), and `ε = 1e-7` is Keras's `backend.epsilon()`.
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// `MaxNorm(max_value = 2, axis = 0)`: `w · clip(‖w‖, 0, max) / (ε + ‖w‖)`.
    MaxNorm {
        /// Keras's default 2.
        max_value: f32,
        /// Axes the norm is taken over (negative counts from the end).
        axes: Vec<i64>,
    },
    /// `NonNeg()`: `max(w, 0)`.
    NonNeg,
    /// `UnitNorm(axis = 0)`: `w / (ε + ‖w‖)`.
    UnitNorm {
        /// Axes the norm is taken over (negative counts from the end).
        axes: Vec<i64>,
    },
    /// `MinMaxNorm(min_value = 0, max_value = 1, rate = 1, axis = 0)`:
    /// `w · (rate·clip(‖w‖, min, max) + (1 − rate)·‖w‖) / (ε + ‖w‖)`.
    MinMaxNorm {
        /// Keras's default 0.
        min_value: f32,
        /// Keras's default 1.
        max_value: f32,
        /// Keras's default 1.
        rate: f32,
        /// Axes the norm is taken over (negative counts from the end).
        axes: Vec<i64>,
    },
}

/// `Ok` for a finite `value` ≥ 0, else [`crate::Error::InvalidArgument`]
/// naming `name` "of `subject()`" (formatted only for the error).
fn non_negative(name: &'static str, value: f32, subject: impl Fn() -> String) -> crate::Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(crate::Error::InvalidArgument {
            name,
            reason: format!("of {} must be ≥ 0 and finite, but is {value}", subject()),
        })
    }
}

/// Keras's `backend.epsilon()`.
const EPSILON: f32 = 1e-7;

impl Constraint {
    /// Keras's function name of the constraint.
    fn keras_name(&self) -> &'static str {
        match self {
            Constraint::NonNeg => "non_neg",
            Constraint::MaxNorm { .. } => "max_norm",
            Constraint::UnitNorm { .. } => "unit_norm",
            Constraint::MinMaxNorm { .. } => "min_max_norm",
        }
    }

    /// Checks the constraint's values before any step: bounds and rate
    /// finite and ≥ 0, and `min_value ≤ max_value` (a negative norm bound
    /// flips every weight's sign; Keras does not check either). `param`
    /// names the constrained weight in the message (`dense/kernel`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming the value.
    pub fn validate(&self, param: &str) -> crate::Result<()> {
        let bounds: &[(&'static str, f32)] = match self {
            Constraint::NonNeg | Constraint::UnitNorm { .. } => &[],
            Constraint::MaxNorm { max_value, .. } => &[("max_value", *max_value)],
            Constraint::MinMaxNorm { min_value, max_value, rate, .. } => {
                &[("min_value", *min_value), ("max_value", *max_value), ("rate", *rate)]
            }
        };
        let what = self.keras_name();
        for &(name, value) in bounds {
            non_negative(name, value, || format!("{what} on `{param}`"))?;
        }
        if let Constraint::MinMaxNorm { min_value, max_value, .. } = self {
            if min_value > max_value {
                return Err(crate::Error::InvalidArgument {
                    name: "min_value",
                    reason: format!("of {what} on `{param}` must be ≤ max_value ({max_value}), but is {min_value}"),
                });
            }
        }
        Ok(())
    }

    /// Projects `w` (of Keras shape `shape`) in place; `norms` is scratch
    /// space (one value per norm taken), reused so a step allocates nothing.
    pub fn apply(&self, w: &mut [f32], shape: &[usize], norms: &mut Vec<f32>) {
        let axes = match self {
            Constraint::NonNeg => {
                w.iter_mut().for_each(|v| *v = v.max(0.0));
                return;
            }
            Constraint::MaxNorm { axes, .. } | Constraint::UnitNorm { axes } | Constraint::MinMaxNorm { axes, .. } => {
                axes
            }
        };
        let reduced = reduced_axes(axes, shape.len());
        // Each element's group: its index with the reduced axes' coordinates
        // dropped (Keras's `keepdims` norm tensor, flattened).
        let group_of = |mut index: usize| {
            let (mut group, mut stride) = (0, 1);
            for (axis, &dim) in shape.iter().enumerate().rev() {
                let coordinate = index % dim;
                index /= dim;
                if reduced & (1 << axis) == 0 {
                    group += coordinate * stride;
                    stride *= dim;
                }
            }
            group
        };
        let groups: usize = shape.iter().enumerate().filter(|(a, _)| reduced & (1 << a) == 0).map(|(_, d)| d).product();
        norms.clear();
        norms.resize(groups, 0.0);
        let sums = norms;
        for (i, v) in w.iter().enumerate() {
            sums[group_of(i)] += v * v;
        }
        // Each group's norm becomes its scale factor, in place.
        for s in sums.iter_mut() {
            let norm = s.sqrt();
            let desired = match self {
                // `max` then `min`, as Keras's `ops.clip`: never a panic
                // (`f32::clamp` panics on bounds [`Constraint::validate`]
                // refuses before training; a hand-made step may skip it).
                Constraint::MaxNorm { max_value, .. } => norm.max(0.0).min(*max_value),
                Constraint::UnitNorm { .. } => 1.0,
                Constraint::MinMaxNorm { min_value, max_value, rate, .. } => {
                    rate * norm.max(*min_value).min(*max_value) + (1.0 - rate) * norm
                }
                Constraint::NonNeg => unreachable!("handled above"),
            };
            *s = desired / (EPSILON + norm);
        }
        for (i, v) in w.iter_mut().enumerate() {
            *v *= sums[group_of(i)];
        }
    }
}

/// Bit `axis` set: the norm is taken over `axis` (axes outside the rank,
/// which the macro rejects, are ignored).
fn reduced_axes(axes: &[i64], rank: usize) -> u64 {
    axes.iter()
        .map(|&a| if a < 0 { a + rank as i64 } else { a })
        .filter(|a| (0..rank.min(64) as i64).contains(a))
        .fold(0, |mask, a| mask | 1 << a)
}

/// Adds every trainable parameter's weight-regularizer gradient to its
/// `grad` (the penalties themselves are in the loss: [`weight_penalties`]).
pub(crate) fn add_weight_penalty_gradients(visit: impl FnOnce(&mut dyn FnMut(&mut Param))) {
    visit(&mut |p: &mut Param| {
        if let (true, Some(r)) = (p.trainable, p.regularizer) {
            r.add_gradient(&p.value, &mut p.grad, 1.0);
        }
    });
}

/// The sum of the weight-regularization penalties (Keras's weight
/// regularization losses) at the current weights.
pub(crate) fn weight_penalties(visit: impl FnOnce(&mut dyn FnMut(&Param))) -> f32 {
    let mut total = 0.0f32;
    visit(&mut |p: &Param| {
        if let (true, Some(r)) = (p.trainable, p.regularizer) {
            total += r.penalty(&p.value);
        }
    });
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: x = [1, −2, 0, 3]: Σ|x| = 6, Σx² = 14.
    #[test]
    fn penalties_and_gradients_by_hand() {
        let x = [1.0, -2.0, 0.0, 3.0];
        assert_eq!(Regularizer::L1 { l1: 0.5 }.penalty(&x), 3.0);
        assert_eq!(Regularizer::L2 { l2: 0.25 }.penalty(&x), 3.5);
        assert_eq!(Regularizer::L1L2 { l1: 0.5, l2: 0.25 }.penalty(&x), 6.5);
        let mut g = [0.0; 4];
        Regularizer::L1L2 { l1: 0.5, l2: 0.25 }.add_gradient(&x, &mut g, 1.0);
        // 0.5·sign(x) + 0.5·x
        assert_eq!(g, [1.0, -1.5, 0.0, 2.0]);
    }

    /// A Dense kernel [in = 2, out = 3], axis 0: column norms.
    /// Columns (3, 4) → norm 5; (0, 1) → 1; (6, 8) → 10.
    #[test]
    fn norms_over_axis_zero_are_per_output_unit() {
        let shape = [2, 3];
        let w = [3.0, 0.0, 6.0, 4.0, 1.0, 8.0];
        let mut m = w;
        Constraint::MaxNorm { max_value: 2.0, axes: vec![0] }.apply(&mut m, &shape, &mut Vec::new());
        let f = |norm: f32, desired: f32| desired / (1e-7 + norm);
        let expected = [3.0 * f(5.0, 2.0), 0.0, 6.0 * f(10.0, 2.0), 4.0 * f(5.0, 2.0), f(1.0, 1.0), 8.0 * f(10.0, 2.0)];
        assert_eq!(m, expected);
        let mut u = w;
        Constraint::UnitNorm { axes: vec![0] }.apply(&mut u, &shape, &mut Vec::new());
        assert_eq!(u[0], 3.0 / (1e-7 + 5.0));
        assert_eq!(u[5], 8.0 / (1e-7 + 10.0));
        let mut mm = w;
        Constraint::MinMaxNorm { min_value: 2.0, max_value: 6.0, rate: 0.5, axes: vec![0] }.apply(
            &mut mm,
            &shape,
            &mut Vec::new(),
        );
        // Column 2: norm 10 → desired 0.5·6 + 0.5·10 = 8.
        assert_eq!(mm[2], 6.0 * (8.0 / (1e-7 + 10.0)));
        // Column 1: norm 1 → desired 0.5·2 + 0.5·1 = 1.5.
        assert_eq!(mm[4], 1.5 / (1e-7 + 1.0));
        let mut n = [-1.0, 2.0, -0.0, 0.5];
        Constraint::NonNeg.apply(&mut n, &[4], &mut Vec::new());
        assert_eq!(n, [0.0, 2.0, 0.0, 0.5]);
    }

    /// Axis −1 and several axes: rows of [2, 3]; all of a [2, 2, 1] tensor.
    #[test]
    fn other_axes() {
        let mut w = [3.0, 4.0, 0.0, 0.0, 0.0, 2.0];
        Constraint::UnitNorm { axes: vec![-1] }.apply(&mut w, &[2, 3], &mut Vec::new());
        assert_eq!(w[..3], [3.0 / (1e-7 + 5.0), 4.0 / (1e-7 + 5.0), 0.0]);
        assert_eq!(w[5], 2.0 / (1e-7 + 2.0));
        let mut v = [1.0, 1.0, 1.0, 1.0];
        Constraint::UnitNorm { axes: vec![0, 1, 2] }.apply(&mut v, &[2, 2, 1], &mut Vec::new());
        assert_eq!(v, [1.0 / (1e-7 + 2.0); 4]);
    }
}
