//! RMSprop (Tieleman & Hinton, 2012) in Keras 3's form, without momentum
//! or centering: `v ← ρ·v + (1 − ρ)·g²`, `w ← w − lr·g/√(v + ε)`.
//! Defaults: `lr = 0.001`, `ρ = 0.9`, `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `RMSprop`.
#[derive(Clone, Debug)]
pub struct RmsProp {
    /// Learning rate, step count and slots.
    pub state: OptimizerState,
    /// Decay of the squared-gradient average.
    pub rho: f32,
    /// Added under the square root.
    pub epsilon: f32,
}

impl RmsProp {
    /// RMSprop with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        RmsProp { state: OptimizerState::new(learning_rate), rho: 0.9, epsilon: 1e-7 }
    }
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp::new(0.001)
    }
}

impl Optimizer for RmsProp {
    fn name(&self) -> &'static str {
        "RMSprop"
    }
    fn validate(&self) -> crate::Result<()> {
        super::check_hyper("learning_rate", self.state.learning_rate, 0.0, f32::INFINITY, "≥ 0 and finite")?;
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
        let (lr, rho, eps) = (self.state.learning_rate, self.rho, self.epsilon);
        let v = &mut self.state.slots.get(index, 1, p.len(), 0.0)[0];
        for ((w, g), v) in p.value.iter_mut().zip(&p.grad).zip(v.iter_mut()) {
            *v = rho * *v + (1.0 - rho) * g * g;
            *w -= lr * g / (*v + eps).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_close, trajectory};
    use super::*;

    /// Reference from `tests/fixtures/optimizers.py` (PyTorch RMSprop, ε = 1e-7).
    #[test]
    fn trajectory_matches_reference() {
        assert_close(&trajectory(&mut RmsProp::new(0.1), 3), &[0.683_772_3, 0.569_531_6, 0.524_435_3]);
    }
}
