//! Stochastic gradient descent with optional (Nesterov) momentum.
//!
//! Keras 3's rule: `v ← m·v − lr·g`; then `w ← w + v`, or with Nesterov
//! `w ← w + m·v − lr·g`. Defaults: `lr = 0.01`, `m = 0`.

use super::{Optimizer, Slots};
use crate::param::Param;

/// Keras's `SGD`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Step size.
    pub learning_rate: f32,
    /// Momentum factor `m` in `[0, 1)`.
    pub momentum: f32,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    iterations: u64,
    slots: Slots,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Sgd { learning_rate, momentum: 0.0, nesterov: false, iterations: 0, slots: Slots::default() }
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
    fn name(&self) -> &'static str {
        "SGD"
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
        let (lr, m) = (self.learning_rate, self.momentum);
        if m == 0.0 {
            crate::simd::dispatch(|| p.value.iter_mut().zip(&p.grad).for_each(|(w, g)| *w -= lr * g));
            return;
        }
        let nesterov = self.nesterov;
        let v = &mut self.slots.get(index, 1, p.len(), 0.0)[0];
        crate::simd::dispatch(|| {
            for ((w, g), v) in p.value.iter_mut().zip(&p.grad).zip(v.iter_mut()) {
                *v = m * *v - lr * g;
                *w += if nesterov { m * *v - lr * g } else { *v };
            }
        });
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

    /// Reference trajectories from `tests/fixtures/optimizers.py`
    /// (PyTorch SGD, algebraically the Keras 3 rule).
    #[test]
    fn trajectories_match_reference() {
        assert_close(&trajectory(&mut Sgd::new(0.1), 3), &[0.9, 0.82, 0.756]);
        assert_close(&trajectory(&mut Sgd::new(0.1).with_momentum(0.9, false), 3), &[0.9, 0.73, 0.531]);
        assert_close(&trajectory(&mut Sgd::new(0.1).with_momentum(0.9, true), 3), &[0.81, 0.6112, 0.445_824]);
    }
}
