//! Adam (Kingma & Ba, 2015, arXiv:1412.6980) in Keras 3's form.
//!
//! `α = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`, `m ← m + (g − m)(1 − β₁)`,
//! `v ← v + (g² − v)(1 − β₂)`, `w ← w − α·m/(√v + ε)`.
//! Note that ε is added to `√v` *after* the bias correction is folded into
//! `α` (the paper's ε̂), so with the same ε the update differs slightly
//! from PyTorch's. Defaults: `lr = 0.001`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Adam`.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate, step count and slots.
    pub state: OptimizerState,
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Keras's ε̂.
    pub epsilon: f32,
    alpha: f32,
}

impl Adam {
    /// Adam with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Adam { state: OptimizerState::new(learning_rate), beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, alpha: 0.0 }
    }
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(0.001)
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }
    fn validate(&self) -> crate::Result<()> {
        super::check_hyper("learning_rate", self.state.learning_rate, 0.0, f32::INFINITY, "≥ 0 and finite")?;
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
        let t = self.state.iterations as f64;
        let (b1, b2) = (self.beta_1 as f64, self.beta_2 as f64);
        self.alpha = (self.state.learning_rate as f64 * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t))) as f32;
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (b1, b2, eps, alpha) = (self.beta_1, self.beta_2, self.epsilon, self.alpha);
        let [m, v] = self.state.slots.get(index, 2, p.len(), 0.0) else { unreachable!("two slots") };
        crate::simd::dispatch(|| {
            for (((w, g), m), v) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m += (g - *m) * (1.0 - b1);
                *v += (g * g - *v) * (1.0 - b2);
                *w -= alpha * *m / (v.sqrt() + eps);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_close, trajectory};
    use super::*;

    /// Reference from `tests/fixtures/optimizers.py` (PyTorch Adam, ε = 1e-7).
    #[test]
    fn trajectory_matches_reference() {
        assert_close(&trajectory(&mut Adam::new(0.1), 3), &[0.9, 0.801_187_4, 0.704_871_3]);
    }
}
