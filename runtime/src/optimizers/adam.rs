//! Adam (Kingma & Ba, 2015, arXiv:1412.6980) exactly as Keras 3 computes it.
//!
//! Keras's `Adam.update_step` in float32, step `t` counted from 1:
//!
//! ```text
//! α = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)        βᵢᵗ = f32(βᵢ) ^ f32(t), all in f32
//! m ← m + (g − m)·f32(1 − β₁)
//! v ← v + (g² − v)·f32(1 − β₂)
//! w ← w − (m·α) / (√v + ε)
//! ```
//!
//! `1 − β` is computed in double precision from the Python-float β and then
//! rounded to f32 (so `1 − 0.9` becomes 0.1f32, where f32 arithmetic would
//! give 0.10000002); the powers and `α` are float32 tensors. ε is added to
//! `√v` after the bias correction is folded into `α` (the paper's ε̂), so
//! where `√v` is not much larger than ε — tiny gradients — the step differs
//! from PyTorch's `lr·m̂/(√v̂ + ε)`.
//! Defaults: `lr = 0.001`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Adam`.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate, step count and slots.
    pub state: OptimizerState,
    /// Decay of the first moment. In f64 like Keras's Python float: `1 − β₁`
    /// is computed from it in f64 (see the module documentation).
    pub beta_1: f64,
    /// Decay of the second moment (f64, like `beta_1`).
    pub beta_2: f64,
    /// Keras's ε̂, added to `√v`.
    pub epsilon: f32,
    /// The step size `α` of the current step, set by `begin_step`.
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
    fn slots_per_param(&self) -> Option<usize> {
        Some(2)
    }
    fn name(&self) -> &'static str {
        "Adam"
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
        // Keras: `local_step = cast(iterations + 1, float32)`,
        // `beta_power = power(cast(beta, float32), local_step)` and
        // `alpha = lr * sqrt(1 - beta_2_power) / (1 - beta_1_power)`, all
        // float32 tensors, in this order. TensorFlow's float32 `pow` is the C
        // library's `powf`, as is `f32::powf` (`tests/fixtures/keras_optimizers.py`
        // checks them equal for t ≤ 3000 with glibc, but for results below
        // f32's normal range, which TensorFlow flushes to zero and which leave
        // `1 − βᵗ` = 1 either way).
        let t = self.state.iterations as f32;
        let (b1_power, b2_power) = ((self.beta_1 as f32).powf(t), (self.beta_2 as f32).powf(t));
        self.alpha = self.state.learning_rate * (1.0 - b2_power).sqrt() / (1.0 - b1_power);
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        // Keras's `1 - self.beta_1` is Python (f64) arithmetic, cast to
        // float32 when it meets the tensor.
        let (c1, c2) = ((1.0 - self.beta_1) as f32, (1.0 - self.beta_2) as f32);
        let (eps, alpha) = (self.epsilon, self.alpha);
        let [m, v] = self.state.slots.get(index, 2, p.len(), 0.0) else { unreachable!("two slots") };
        let isa = crate::simd::isa();
        let update = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            crate::simd::dispatch_on(isa, || {
                for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    // Each line is one TensorFlow op sequence of Keras's, in
                    // its order (f32 rounding after every operation, no FMA).
                    *m += (g - *m) * c1;
                    *v += (g * g - *v) * c2;
                    *w -= *m * alpha / (v.sqrt() + eps);
                }
            })
        };
        // Large kernels split across threads (element-wise: the same values
        // at any thread count; `parallel`'s policy decides).
        let len = p.len();
        let parts = crate::parallel::elementwise_parts(len);
        if parts == 1 {
            update(&mut p.value, &p.grad, m, v);
            return;
        }
        let chunk = len.div_ceil(parts).next_multiple_of(16);
        let (w, g) = (crate::parallel::Disjoint::new(&mut p.value), &p.grad[..]);
        let (m, v) = (crate::parallel::Disjoint::new(m), crate::parallel::Disjoint::new(v));
        // Not judged by the gate's timing (a part takes ~30 µs: `parallel::judged`).
        crate::parallel::run_judged(parts, false, &|part| {
            let std::ops::Range { start, end } = crate::parallel::part_range(part, chunk, len);
            // SAFETY: parts take disjoint ranges; the buffers outlive `run`.
            unsafe { update(w.range(start, end), &g[start..end], m.range(start, end), v.range(start, end)) }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_same, trajectory};
    use super::*;

    /// Keras's `Adam(learning_rate=0.1)` from `tests/fixtures/optimizers.py`.
    /// The old f32 `1 − β` gave `[0.9, 0.8011874, 0.7048713]` (PyTorch's
    /// numbers): Keras's `1 − β₂ᵗ` from the f32 β₂ makes its first step
    /// shorter.
    #[test]
    fn trajectory_matches_keras() {
        assert_same(&trajectory(&mut Adam::new(0.1), 3), &[0.900001, 0.801_189_6, 0.704_873_9]);
    }
}
