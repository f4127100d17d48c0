//! Adadelta (Zeiler, 2012, arXiv:1212.5701) exactly as Keras 3 computes it.
//!
//! Keras's `Adadelta.update_step` in float32, `rms(x) = √(x + ε)`:
//!
//! ```text
//! a ← f32(ρ)·a + f32(1 − ρ)·g²
//! Δ = −((rms(d)·g) / rms(a))
//! d ← f32(ρ)·d + f32(1 − ρ)·Δ²
//! w ← w + lr·Δ
//! ```
//!
//! `1 − ρ` is computed in double precision from the Python-float ρ and
//! rounded to f32 once. Keras keeps a learning rate (the paper has none):
//! with its default 0.001 the steps are a thousandth of the paper's; use
//! `Adadelta::new(1.0)` for the original method. The slots are, in Keras's
//! order, `accumulated_grad` (a) and `accumulated_delta_var` (d).
//! Defaults: `lr = 0.001`, `ρ = 0.95`, `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Adadelta`.
#[derive(Clone, Debug)]
pub struct Adadelta {
    /// Learning rate, step count, slots and the shared options.
    pub state: OptimizerState,
    /// Decay of both averages. In f64 like Keras's Python float.
    pub rho: f64,
    /// Added under both square roots.
    pub epsilon: f32,
}

impl Adadelta {
    /// Adadelta with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Adadelta { state: OptimizerState::new(learning_rate), rho: 0.95, epsilon: 1e-7 }
    }
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta::new(0.001)
    }
}

impl Optimizer for Adadelta {
    fn slots_per_param(&self) -> Option<usize> {
        Some(2)
    }
    fn name(&self) -> &'static str {
        "Adadelta"
    }
    fn validate(&self) -> crate::Result<()> {
        self.state.validate()?;
        super::check_hyper("rho", self.rho, 0.0, 1.0, "in [0, 1)")?;
        super::check_hyper("epsilon", self.epsilon, f32::MIN_POSITIVE, f32::INFINITY, "positive and finite")
    }
    fn state(&self) -> &OptimizerState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, eps) = (self.state.learning_rate, self.epsilon);
        let (rho, c) = (self.rho as f32, (1.0 - self.rho) as f32);
        let [a, d] = self.state.slots.get(index, 2, p.len(), 0.0) else { unreachable!("two slots") };
        crate::simd::dispatch(|| {
            for (((w, g), a), d) in p.value.iter_mut().zip(&p.grad).zip(a.iter_mut()).zip(d.iter_mut()) {
                // Keras's operation order (f32 rounding after each, no FMA).
                *a = rho * *a + c * (g * g);
                let delta = -((*d + eps).sqrt() * g / (*a + eps).sqrt());
                *d = rho * *d + c * (delta * delta);
                *w += lr * delta;
            }
        });
    }
}
