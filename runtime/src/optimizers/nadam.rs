//! Nadam (Dozat, 2016) exactly as Keras 3 computes it.
//!
//! Keras's `Nadam` in float32, step `t` counted from 1, `b₁ = f32(β₁)`,
//! `b₂ = f32(β₂)`, and the momentum schedule `μₜ = b₁·(1 − ½·0.96ᵗ)`:
//!
//! ```text
//! Πₜ = (Πₜ₋₁·b₁)·(1 − ½·0.96ᵗ)            (Π₀ = 1, Keras's `u_product`)
//! m ← m + (g − m)·(1 − b₁)
//! v ← v + (g² − v)·(1 − b₂)
//! m̂ = (μₜ₊₁·m)/(1 − Πₜ·μₜ₊₁) + ((1 − μₜ)·g)/(1 − Πₜ)
//! v̂ = v/(1 − b₂ᵗ)
//! w ← w − (m̂·lr)/(√v̂ + ε)
//! ```
//!
//! Unlike Adam, `1 − b` is float32 arithmetic here (Keras casts β to a
//! float32 tensor first). `Πₜ` is recomputed from the step count when it
//! does not follow the last step (after [`Optimizer::restore`]), with the
//! same float32 operations, so a restored optimizer continues exactly.
//! The slots are `momentum` (m) and `velocity` (v).
//! Defaults: `lr = 0.001`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-7`.

use super::{Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `Nadam`.
#[derive(Clone, Debug)]
pub struct Nadam {
    /// Learning rate, step count, slots and the shared options.
    pub state: OptimizerState,
    /// Decay of the first moment (cast to f32 before use, as Keras does).
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to `√v̂`.
    pub epsilon: f32,
    /// `Πₜ` and the `t` it belongs to.
    u_product: (f32, u64),
    /// The step's scalars: `μₜ₊₁/(1 − Πₜ·μₜ₊₁)` parts and the rest.
    scalars: Scalars,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Scalars {
    u_next: f32,
    one_minus_product_next: f32,
    one_minus_u: f32,
    one_minus_product: f32,
    one_minus_b2_power: f32,
}

/// `μ = b₁·(1 − ½·0.96ᵗ)`, Keras's float32 operations.
fn momentum_factor(b1: f32, t: f32) -> f32 {
    b1 * (1.0 - 0.5 * 0.96f32.powf(t))
}

impl Nadam {
    /// Nadam with Keras's defaults and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        Nadam {
            state: OptimizerState::new(learning_rate),
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            u_product: (1.0, 0),
            scalars: Scalars::default(),
        }
    }
}

impl Default for Nadam {
    fn default() -> Self {
        Nadam::new(0.001)
    }
}

impl Optimizer for Nadam {
    fn slots_per_param(&self) -> Option<usize> {
        Some(2)
    }
    fn name(&self) -> &'static str {
        "Nadam"
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
        let t = self.state.iterations;
        let b1 = self.beta_1;
        // Keras updates `u_product` before the step:
        // `u_product * beta_1 * (1.0 - 0.5 * power(0.96, t))`, left to right.
        let (mut product, mut done) = self.u_product;
        if done >= t {
            (product, done) = (1.0, 0);
        }
        while done < t {
            done += 1;
            let decay = 0.96f32.powf(done as f32);
            let next = product * b1 * (1.0 - 0.5 * decay);
            // Once 0.96ᵗ has underflowed every factor is b₁, so a product
            // that b₁ leaves unchanged (a subnormal, or 0) is final: a
            // restored step count of 10¹⁵ costs no more than 10⁴.
            if decay == 0.0 && next == product {
                done = t;
            }
            product = next;
        }
        self.u_product = (product, done);
        let (u, u_next) = (momentum_factor(b1, t as f32), momentum_factor(b1, (t + 1) as f32));
        self.scalars = Scalars {
            u_next,
            one_minus_product_next: 1.0 - product * u_next,
            one_minus_u: 1.0 - u,
            one_minus_product: 1.0 - product,
            one_minus_b2_power: 1.0 - self.beta_2.powf(t as f32),
        };
    }

    fn restore(&mut self, iterations: u64, slots: Vec<Vec<Vec<f32>>>) {
        self.state.iterations = iterations;
        self.state.slots.per_param = slots;
        self.u_product = (1.0, 0);
    }

    fn update(&mut self, index: usize, p: &mut Param) {
        let (lr, eps, s) = (self.state.learning_rate, self.epsilon, self.scalars);
        let (c1, c2) = (1.0 - self.beta_1, 1.0 - self.beta_2);
        let [m, v] = self.state.slots.get(index, 2, p.len(), 0.0) else { unreachable!("two slots") };
        crate::simd::dispatch(|| {
            for (((w, g), m), v) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()).zip(v.iter_mut()) {
                // Keras's operation order (f32 rounding after each, no FMA).
                *m += (g - *m) * c1;
                *v += (g * g - *v) * c2;
                let m_hat = s.u_next * *m / s.one_minus_product_next + s.one_minus_u * g / s.one_minus_product;
                let v_hat = *v / s.one_minus_b2_power;
                *w -= m_hat * lr / (v_hat.sqrt() + eps);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The step's scalars after restoring the step count `t`.
    fn after_restore(t: u64) -> (Scalars, f32) {
        let mut nadam = Nadam::new(0.001);
        nadam.restore(t, Vec::new());
        nadam.begin_step();
        (nadam.scalars, nadam.u_product.0)
    }

    /// `Πₜ` settles within a few thousand steps: 0.96ᵗ underflows, then
    /// each step multiplies by b₁ = 0.9 until the product is 4 times the
    /// smallest subnormal, which 0.9 of rounds back to (3.6 → 4). Old code: recomputing it after a restore took one
    /// iteration per step ever taken, so a checkpoint's step count of 10¹⁵
    /// hung the next step.
    #[test]
    fn a_restored_step_count_costs_no_more_than_the_product_takes_to_settle() {
        let settled = after_restore(100_000);
        assert_eq!(settled.1, f32::from_bits(4));
        // Hand-derived: with Π ≈ 6e-45, μ = b₁ and b₂ᵗ = 0 in float32.
        let b1 = 0.9f32;
        let want = Scalars {
            u_next: b1,
            one_minus_product_next: 1.0,
            one_minus_u: 1.0 - b1,
            one_minus_product: 1.0,
            one_minus_b2_power: 1.0,
        };
        assert_eq!(settled.0, want);
        assert_eq!(after_restore(1_000_000_000_000_000), settled);
        assert_eq!(after_restore(i64::MAX as u64 - 1), settled);
    }
}
