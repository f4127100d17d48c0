//! RMSprop (Tieleman & Hinton, 2012) exactly as Keras 3 computes it.
//!
//! Keras's `RMSprop.update_step` in float32:
//!
//! ```text
//! v ← f32(ρ)·v + f32(1 − ρ)·g²
//! centered:  ḡ ← f32(ρ)·ḡ + f32(1 − ρ)·g,   d = (v − ḡ²) + ε
//! otherwise: d = v + ε
//! Δ = (lr·g) / √d
//! momentum > 0: s ← f32(momentum)·s + Δ,  w ← w − s
//! otherwise:    w ← w − Δ
//! ```
//!
//! `1 − ρ` is computed in double precision from the Python-float ρ and then
//! rounded to f32 (`1 − 0.9` becomes 0.1f32, not f32 arithmetic's
//! 0.10000002). ε is added *under* the square root, so where `v` is not much
//! larger than ε — tiny gradients — the step is far smaller than PyTorch's
//! `lr·g/(√v + ε)`. The slots are, in Keras's order: `velocity` (v), then
//! `momentum` (s) when momentum > 0, then `average_gradient` (ḡ) when
//! centered.
//! Defaults: `lr = 0.001`, `ρ = 0.9`, `momentum = 0`, `ε = 1e-7`,
//! not centered.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `RMSprop`.
#[derive(Clone, Debug)]
pub struct RmsProp {
    /// Learning rate, step count and slots.
    pub state: OptimizerState,
    /// Decay of the averages. In f64 like Keras's Python float: `1 − ρ` is
    /// computed from it in f64 (see the module documentation).
    pub rho: f64,
    /// Momentum factor of the step; 0 for none.
    pub momentum: f32,
    /// Added to the mean square, under the square root.
    pub epsilon: f32,
    /// Divide by the estimated variance `v − ḡ²` instead of the mean square `v`.
    pub centered: bool,
}

impl RmsProp {
    /// RMSprop with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        RmsProp { state: OptimizerState::new(learning_rate), rho: 0.9, momentum: 0.0, epsilon: 1e-7, centered: false }
    }

    /// With momentum `momentum` (Keras's `momentum=`; 0 for none).
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Centered (Keras's `centered=True`) when `centered`.
    pub fn with_centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

impl RmsProp {
    /// The velocity, then the momentum buffer when momentum > 0, then the
    /// average gradient when centered (Keras's variables, in its order).
    fn slot_count(&self) -> usize {
        1 + usize::from(self.momentum > 0.0) + usize::from(self.centered)
    }
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp::new(0.001)
    }
}

impl Optimizer for RmsProp {
    fn slots_per_param(&self) -> Option<usize> {
        Some(self.slot_count())
    }
    fn name(&self) -> &'static str {
        "RMSprop"
    }
    fn validate(&self) -> crate::Result<()> {
        self.state.validate()?;
        super::check_hyper("rho", self.rho, 0.0, 1.0, "in [0, 1)")?;
        super::check_hyper("momentum", self.momentum, 0.0, 1.0, "in [0, 1)")?;
        super::check_hyper("epsilon", self.epsilon, f32::MIN_POSITIVE, f32::INFINITY, "positive and finite")
    }
    fn state(&self) -> &OptimizerState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, eps, mu) = (self.state.learning_rate, self.epsilon, self.momentum);
        // Keras: `multiply(rho, velocity)` casts the Python float ρ to f32;
        // `1 - rho` is Python (f64) arithmetic, cast afterwards.
        let (rho, c) = (self.rho as f32, (1.0 - self.rho) as f32);
        let with_momentum = mu > 0.0;
        let count = self.slot_count();
        let Some((v, rest)) = self.state.slots.get(index, count, p.len(), 0.0).split_first_mut() else {
            unreachable!("at least the velocity slot")
        };
        let (w, g) = (&mut p.value[..], &p.grad[..]);
        // One loop per variant so that each vectorizes; every expression
        // keeps Keras's operation order (f32 rounding after each, no FMA).
        crate::simd::dispatch(|| match rest {
            [] => {
                for ((w, g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                    *v = rho * *v + c * (g * g);
                    *w -= lr * g / (*v + eps).sqrt();
                }
            }
            [s] if with_momentum => {
                for (((w, g), v), s) in w.iter_mut().zip(g).zip(v.iter_mut()).zip(s.iter_mut()) {
                    *v = rho * *v + c * (g * g);
                    *s = mu * *s + lr * g / (*v + eps).sqrt();
                    *w -= *s;
                }
            }
            [a] => {
                for (((w, g), v), a) in w.iter_mut().zip(g).zip(v.iter_mut()).zip(a.iter_mut()) {
                    *v = rho * *v + c * (g * g);
                    *a = rho * *a + c * g;
                    *w -= lr * g / ((*v - *a * *a) + eps).sqrt();
                }
            }
            [s, a] => {
                let both = s.iter_mut().zip(a.iter_mut());
                for (((w, g), v), (s, a)) in w.iter_mut().zip(g).zip(v.iter_mut()).zip(both) {
                    *v = rho * *v + c * (g * g);
                    *a = rho * *a + c * g;
                    *s = mu * *s + lr * g / ((*v - *a * *a) + eps).sqrt();
                    *w -= *s;
                }
            }
            _ => unreachable!("at most three slots"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_same, trajectory};
    use super::*;

    /// Keras's `RMSprop(learning_rate=0.1)` from `tests/fixtures/optimizers.py`.
    #[test]
    fn trajectory_matches_keras() {
        assert_same(&trajectory(&mut RmsProp::new(0.1), 3), &[0.683_772_4, 0.569_531_6, 0.524_435_4]);
    }
}
