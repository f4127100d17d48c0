//! Adagrad (Duchi et al., 2011) in Keras 3's form:
//! `a ← a + g²`, `w ← w − lr·g/√(a + ε)`, with `a` starting at 0.1.
//! Defaults: `lr = 0.001`, `initial_accumulator_value = 0.1`, `ε = 1e-7`.

use super::{Optimizer, Slots};
use crate::param::Param;

/// Keras's `Adagrad`.
#[derive(Clone, Debug)]
pub struct Adagrad {
    /// Step size.
    pub learning_rate: f32,
    /// Starting value of the accumulator.
    pub initial_accumulator_value: f32,
    /// Added under the square root.
    pub epsilon: f32,
    iterations: u64,
    slots: Slots,
}

impl Adagrad {
    /// Adagrad with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Adagrad { learning_rate, initial_accumulator_value: 0.1, epsilon: 1e-7, iterations: 0, slots: Slots::default() }
    }
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad::new(0.001)
    }
}

impl Optimizer for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn begin_step(&mut self) {
        self.iterations += 1;
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, eps) = (self.learning_rate, self.epsilon);
        let a = &mut self.slots.get(index, 1, p.len(), self.initial_accumulator_value)[0];
        for ((w, g), a) in p.value.iter_mut().zip(&p.grad).zip(a.iter_mut()) {
            *a += g * g;
            *w -= lr * g / (*a + eps).sqrt();
        }
    }

    fn slots(&self) -> &[Vec<Vec<f32>>] {
        &self.slots.per_param
    }
    fn restore(&mut self, iterations: u64, slots: Vec<Vec<Vec<f32>>>) {
        self.iterations = iterations;
        self.slots.per_param = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_close, trajectory};
    use super::*;

    /// Reference from `tests/fixtures/optimizers.py` (PyTorch Adagrad, ε = 1e-7).
    #[test]
    fn trajectory_matches_reference() {
        assert_close(&trajectory(&mut Adagrad::new(0.1), 3), &[0.904_653_8, 0.843_562_7, 0.797_519_6]);
    }
}
