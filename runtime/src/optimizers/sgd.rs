//! Stochastic gradient descent with optional (Nesterov) momentum, exactly as
//! Keras 3 computes it.
//!
//! Keras's `SGD.update_step` in float32, with momentum `μ = f32(momentum)`:
//!
//! ```text
//! μ = 0:     w ← w − g·lr
//! otherwise: s ← s·μ − g·lr
//!            w ← w + s                  (Nesterov: w ← w + (s·μ − g·lr))
//! ```
//!
//! The slot `s` (Keras's `momentum` variable) exists only when μ ≠ 0.
//! Defaults: `lr = 0.01`, `momentum = 0`, not Nesterov.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `SGD`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Learning rate, step count and slots.
    pub state: OptimizerState,
    /// Momentum factor `m` in `[0, 1)`.
    pub momentum: f32,
    /// Use Nesterov momentum.
    pub nesterov: bool,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Sgd { state: OptimizerState::new(learning_rate), momentum: 0.0, nesterov: false }
    }

    /// With momentum `m` (and Nesterov's variant when `nesterov`).
    pub fn with_momentum(mut self, momentum: f32, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd::new(0.01)
    }
}

impl Optimizer for Sgd {
    fn slots_per_param(&self) -> Option<usize> {
        Some(usize::from(self.momentum != 0.0))
    }
    fn name(&self) -> &'static str {
        "SGD"
    }
    fn validate(&self) -> crate::Result<()> {
        self.state.validate()?;
        super::check_hyper("momentum", self.momentum, 0.0, 1.0, "in [0, 1)")
    }
    fn state(&self) -> &OptimizerState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, m) = (self.state.learning_rate, self.momentum);
        if m == 0.0 {
            crate::simd::dispatch(|| p.value.iter_mut().zip(&p.grad).for_each(|(w, g)| *w -= lr * g));
            return;
        }
        let nesterov = self.nesterov;
        let v = &mut self.state.slots.get(index, 1, p.len(), 0.0)[0];
        crate::simd::dispatch(|| {
            // Keras's operation order (f32 rounding after each, no FMA).
            for ((w, g), v) in p.value.iter_mut().zip(&p.grad).zip(v.iter_mut()) {
                *v = m * *v - lr * g;
                *w += if nesterov { m * *v - lr * g } else { *v };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_same, trajectory};
    use super::*;

    /// Keras's trajectories from `tests/fixtures/optimizers.py`.
    #[test]
    fn trajectories_match_keras() {
        assert_same(&trajectory(&mut Sgd::new(0.1), 3), &[0.9, 0.82, 0.756]);
        assert_same(&trajectory(&mut Sgd::new(0.1).with_momentum(0.9, false), 3), &[0.9, 0.73, 0.531]);
        assert_same(&trajectory(&mut Sgd::new(0.1).with_momentum(0.9, true), 3), &[0.81, 0.6112, 0.445_824]);
    }
}
