//! Adamax (Kingma & Ba, 2015, section 7.1) exactly as Keras 3 computes it.
//!
//! Keras's `Adamax.update_step` in float32, step `t` counted from 1:
//!
//! ```text
//! m ← m + (g − m)·f32(1 − β₁)
//! u ← max(f32(β₂)·u, |g|)
//! w ← w − (lr·m) / ((1 − β₁ᵗ)·(u + ε))      β₁ᵗ = f32(β₁) ^ f32(t)
//! ```
//!
//! `1 − β₁` is computed in f64 from the Python-float β₁ and rounded once;
//! `β₁ᵗ` and `1 − β₁ᵗ` are float32. The slots are `momentum` (m) and `norm` (u).
//! Defaults: `lr = 0.001`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Adamax`.
#[derive(Clone, Debug)]
pub struct Adamax {
    /// Learning rate, step count, slots and the shared options.
    pub state: OptimizerState,
    /// Decay of the first moment (f64, like Keras's Python float).
    pub beta_1: f64,
    /// Decay of the infinity norm (f64, like `beta_1`).
    pub beta_2: f64,
    /// Added to the norm.
    pub epsilon: f32,
    /// `1 − β₁ᵗ` of the current step, set by `begin_step`.
    correction: f32,
}

impl Adamax {
    /// Adamax with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Adamax { state: OptimizerState::new(learning_rate), beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, correction: 1.0 }
    }
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax::new(0.001)
    }
}

impl Optimizer for Adamax {
    fn slots_per_param(&self) -> Option<usize> {
        Some(2)
    }
    fn name(&self) -> &'static str {
        "Adamax"
    }
    fn validate(&self) -> crate::Result<()> {
        self.state.validate()?;
        super::check_hyper("beta_1", self.beta_1, 0.0, 1.0, "in [0, 1)")?;
        super::check_hyper("beta_2", self.beta_2, 0.0, 1.0, "in [0, 1)")?;
        super::check_hyper("epsilon", self.epsilon, f32::MIN_POSITIVE, f32::INFINITY, "positive and finite")
    }
    fn state(&self) -> &OptimizerState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }

    fn begin_step(&mut self) {
        self.state.iterations += 1;
        // Keras: `beta_1_power = power(cast(beta_1, float32), local_step)`, then `1 - beta_1_power` in f32.
        self.correction = 1.0 - (self.beta_1 as f32).powf(self.state.iterations as f32);
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, eps, correction) = (self.state.learning_rate, self.epsilon, self.correction);
        let (c1, b2) = ((1.0 - self.beta_1) as f32, self.beta_2 as f32);
        let [m, u] = self.state.slots.get(index, 2, p.len(), 0.0) else { unreachable!("two slots") };
        crate::simd::dispatch(|| {
            for (((w, g), m), u) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()).zip(u.iter_mut()) {
                // Keras's operation order (f32 rounding after each, no FMA).
                *m += (g - *m) * c1;
                *u = (b2 * *u).max(g.abs());
                *w -= lr * *m / (correction * (*u + eps));
            }
        });
    }
}
