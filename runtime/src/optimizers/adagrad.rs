//! Adagrad (Duchi et al., 2011) exactly as Keras 3 computes it.
//!
//! Keras's `Adagrad.update_step` in float32, the accumulator `a` starting at
//! `initial_accumulator_value`:
//!
//! ```text
//! a ← a + g²
//! w ← w − (lr·g) / √(a + ε)
//! ```
//!
//! ε is added *under* the square root (PyTorch adds it to `√a`); with the
//! accumulator starting at 0.1 the difference only shows when the initial
//! value is small. Defaults: `lr = 0.001`, `initial_accumulator_value = 0.1`,
//! `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Adagrad`.
#[derive(Clone, Debug)]
pub struct Adagrad {
    /// Learning rate, step count and slots.
    pub state: OptimizerState,
    /// Starting value of the accumulator (Keras's `initial_accumulator_value`).
    pub initial_accumulator_value: f32,
    /// Added under the square root.
    pub epsilon: f32,
}

impl Adagrad {
    /// Adagrad with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Adagrad { state: OptimizerState::new(learning_rate), initial_accumulator_value: 0.1, epsilon: 1e-7 }
    }
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad::new(0.001)
    }
}

impl Optimizer for Adagrad {
    fn slots_per_param(&self) -> Option<usize> {
        Some(1)
    }
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    fn validate(&self) -> crate::Result<()> {
        self.state.validate()?;
        super::check_hyper(
            "initial_accumulator_value",
            self.initial_accumulator_value,
            0.0,
            f32::INFINITY,
            "≥ 0 and finite",
        )?;
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
        let a = &mut self.state.slots.get(index, 1, p.len(), self.initial_accumulator_value)[0];
        let (w, g) = (&mut p.value[..], &p.grad[..]);
        // Keras's operation order (f32 rounding after each, no FMA).
        crate::simd::dispatch(|| {
            for ((w, g), a) in w.iter_mut().zip(g).zip(a.iter_mut()) {
                *a += g * g;
                *w -= lr * g / (*a + eps).sqrt();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_same, trajectory};
    use super::*;

    /// Keras's `Adagrad(learning_rate=0.1)` from `tests/fixtures/optimizers.py`.
    #[test]
    fn trajectory_matches_keras() {
        assert_same(&trajectory(&mut Adagrad::new(0.1), 3), &[0.904_653_7, 0.843_562_66, 0.797_519_6]);
    }
}
