//! Lion (Chen et al., 2023, arXiv:2302.06675) exactly as Keras 3 computes it.
//!
//! Keras's `Lion.update_step` in float32, with `b₁ = f32(β₁)`, `b₂ = f32(β₂)`:
//!
//! ```text
//! w ← w − lr·sign(m·b₁ + g·(1 − b₁))
//! m ← m·b₂ + g·(1 − b₂)
//! ```
//!
//! Here `1 − b` is float32 arithmetic (Keras casts β to a float32 tensor
//! first), unlike Adam's f64 `1 − β`. `sign(0) = 0`: an element whose
//! interpolation is exactly zero does not move. The slot is `momentum` (m).
//! Defaults: `lr = 0.001`, `β₁ = 0.9`, `β₂ = 0.99`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Lion`.
#[derive(Clone, Debug)]
pub struct Lion {
    /// Learning rate, step count, slots and the shared options.
    pub state: OptimizerState,
    /// Interpolation of the update direction, in (0, 1] as Keras requires.
    pub beta_1: f32,
    /// Decay of the momentum, in [0, 1].
    pub beta_2: f32,
}

impl Lion {
    /// Lion with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Lion { state: OptimizerState::new(learning_rate), beta_1: 0.9, beta_2: 0.99 }
    }
}

impl Default for Lion {
    fn default() -> Self {
        Lion::new(0.001)
    }
}

impl Optimizer for Lion {
    fn slots_per_param(&self) -> Option<usize> {
        Some(1)
    }
    fn name(&self) -> &'static str {
        "Lion"
    }
    fn validate(&self) -> crate::Result<()> {
        self.state.validate()?;
        // Keras: "beta_1 must be in the [0, 1] range. Otherwise, the
        // optimizer degenerates to SignSGD" (it rejects 0 too).
        if !(self.beta_1 > 0.0 && self.beta_1 <= 1.0) {
            return Err(crate::Error::InvalidArgument {
                name: "beta_1",
                reason: format!("must be in (0, 1] (0 makes Lion SignSGD), but is {}", self.beta_1),
            });
        }
        super::check_hyper("beta_2", self.beta_2, 0.0, 1.0 + f64::EPSILON, "in [0, 1]")
    }
    fn state(&self) -> &OptimizerState {
        &self.state
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.state
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, b1, b2) = (self.state.learning_rate, self.beta_1, self.beta_2);
        let (c1, c2) = (1.0 - b1, 1.0 - b2);
        let m = &mut self.state.slots.get(index, 1, p.len(), 0.0)[0];
        crate::simd::dispatch(|| {
            for ((w, g), m) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()) {
                let x = *m * b1 + g * c1;
                // TensorFlow's sign: −1, 0 or 1 (f32::signum would give ±1 for ±0).
                let sign = if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                *w -= lr * sign;
                *m = *m * b2 + g * c2;
            }
        });
    }
}
