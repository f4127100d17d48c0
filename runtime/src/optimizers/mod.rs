//! Optimizers with Keras 3's update rules and defaults.
//!
//! Each update performs the float32 operations of Keras's `update_step`
//! (TensorFlow backend) in the same order, with Keras's constants: a
//! constant Keras derives in Python from a hyper-parameter (`1 − β`,
//! `1 − ρ`) is computed in f64 and rounded to f32 once, which is why those
//! hyper-parameters are `f64`. `tests/optimizers_keras.rs` checks every
//! variable and slot against real Keras for several steps, bit for bit. The
//! one known difference: TensorFlow flushes subnormal results (below
//! 1.2e-38, e.g. the square of a gradient under 1e-19) to zero; kiln keeps
//! them.
//!
//! An optimizer sees the model's parameters one at a time, always in the
//! same order (the model's `visit_params` order), and keeps its per-parameter
//! slots (momenta, moments) by that position. The slots are allocated at
//! the first step; later steps allocate nothing.

mod adagrad;
mod adam;
mod rmsprop;
mod sgd;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use crate::error::{Error, Result};
use crate::param::Param;

/// What every optimizer keeps: the learning rate, the step count and the
/// per-parameter slots.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// The step size (changed by schedules and callbacks).
    pub learning_rate: f32,
    /// Steps taken so far (Keras's `iterations`).
    pub iterations: u64,
    pub(crate) slots: Slots,
}

impl OptimizerState {
    /// State for a fresh optimizer with learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        OptimizerState { learning_rate, iterations: 0, slots: Slots::default() }
    }
}

/// Updates parameters from their gradients.
///
/// `Send + Sync` so that a compiled [`crate::train::Model`] can be shared
/// across threads (an `Arc<Model<_>>` serving predictions).
pub trait Optimizer: Send + Sync {
    /// Keras's class name.
    fn name(&self) -> &'static str;
    /// The shared state.
    fn state(&self) -> &OptimizerState;
    /// The shared state, mutably.
    fn state_mut(&mut self) -> &mut OptimizerState;
    /// Updates the `index`-th parameter from its `grad`.
    fn update(&mut self, index: usize, param: &mut Param);

    /// Checks the hyper-parameters; `fit` and `train_on_batch` call it before
    /// any step (and after a callback changes the learning rate). The default
    /// checks the learning rate; optimizers with more hyper-parameters extend it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the hyper-parameter.
    fn validate(&self) -> Result<()> {
        check_hyper("learning_rate", self.learning_rate(), 0.0, f32::INFINITY, "≥ 0 and finite")
    }

    /// Starts a step; called once before the parameters are updated.
    fn begin_step(&mut self) {
        self.state_mut().iterations += 1;
    }
    /// The current learning rate.
    fn learning_rate(&self) -> f32 {
        self.state().learning_rate
    }
    /// Changes the learning rate (schedules and callbacks do).
    fn set_learning_rate(&mut self, lr: f32) {
        self.state_mut().learning_rate = lr;
    }
    /// Steps taken so far (Keras's `iterations`).
    fn iterations(&self) -> u64 {
        self.state().iterations
    }
    /// The per-parameter state, for checkpoints: one list of slot vectors per parameter.
    fn slots(&self) -> &[Vec<Vec<f32>>] {
        &self.state().slots.per_param
    }
    /// Restores state saved from [`Optimizer::slots`] and [`Optimizer::iterations`].
    fn restore(&mut self, iterations: u64, slots: Vec<Vec<Vec<f32>>>) {
        let state = self.state_mut();
        state.iterations = iterations;
        state.slots.per_param = slots;
    }
}

/// A boxed optimizer is an optimizer (to choose one at run time).
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn state(&self) -> &OptimizerState {
        (**self).state()
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        (**self).state_mut()
    }
    fn update(&mut self, index: usize, param: &mut Param) {
        (**self).update(index, param)
    }
    fn begin_step(&mut self) {
        (**self).begin_step()
    }
    fn validate(&self) -> Result<()> {
        (**self).validate()
    }
}

/// `Ok` when `value` is finite and `lo ≤ value < hi`; otherwise an error
/// naming the hyper-parameter, the range and the value.
/// (Shown as given: `-0.1`, not its f64 widening.)
pub(crate) fn check_hyper<V: Into<f64> + Copy + std::fmt::Display>(
    name: &'static str,
    value: V,
    lo: impl Into<f64>,
    hi: impl Into<f64>,
    range: &str,
) -> Result<()> {
    let (wide, lo, hi) = (value.into(), lo.into(), hi.into());
    if wide.is_finite() && wide >= lo && wide < hi {
        Ok(())
    } else {
        Err(Error::InvalidArgument { name, reason: format!("must be {range}, but is {value}") })
    }
}

/// Per-parameter slot vectors, created on first use.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slots {
    pub per_param: Vec<Vec<Vec<f32>>>,
}

impl Slots {
    /// The `count` slots of parameter `index`, each as long as the
    /// parameter, initialized to `init` the first time.
    pub fn get(&mut self, index: usize, count: usize, len: usize, init: f32) -> &mut [Vec<f32>] {
        if self.per_param.len() <= index {
            self.per_param.resize_with(index + 1, Vec::new);
        }
        let slots = &mut self.per_param[index];
        if slots.len() != count || slots.iter().any(|s| s.len() != len) {
            *slots = vec![vec![init; len]; count];
        }
        slots
    }
}

/// Applies one optimizer step to every trainable parameter of `visit`.
pub fn step(optimizer: &mut dyn Optimizer, visit: impl FnOnce(&mut dyn FnMut(&mut Param))) {
    optimizer.begin_step();
    let mut index = 0;
    visit(&mut |p: &mut Param| {
        if p.trainable {
            optimizer.update(index, p);
        }
        index += 1;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` updates of a two-element parameter with gradient 2·w − 1
    /// (a quadratic bowl) and returns the trajectory of `w[0]`.
    pub(super) fn trajectory(opt: &mut dyn Optimizer, steps: usize) -> Vec<f32> {
        let mut p = Param::zeros("w", &[2]);
        p.value.copy_from_slice(&[1.0, -0.5]);
        let mut out = Vec::new();
        for _ in 0..steps {
            for (g, v) in p.grad.iter_mut().zip(&p.value) {
                *g = 2.0 * v - 1.0;
            }
            step(opt, |f| f(&mut p));
            out.push(p.value[0]);
        }
        out
    }

    /// kiln repeats Keras's float32 operations in Keras's order, so the
    /// trajectories are equal, not merely close (`tests/optimizers_keras.rs`
    /// explains why no tolerance is allowed).
    pub(super) fn assert_same(got: &[f32], expected: &[f32]) {
        assert_eq!(got, expected, "kiln vs Keras");
    }

    /// Old code: none of these was checked; `Sgd::new(-0.1)` climbed the
    /// loss and momentum 1.5 diverged without an error.
    #[test]
    fn hyper_parameters_outside_their_range_are_errors_naming_them() {
        let name = |o: &dyn Optimizer| match o.validate() {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name(&Sgd::new(-0.1)), "learning_rate");
        assert_eq!(name(&Sgd::new(f32::NAN)), "learning_rate");
        assert_eq!(name(&Adam::new(f32::INFINITY)), "learning_rate");
        assert_eq!(name(&Sgd::new(0.1).with_momentum(1.0, false)), "momentum");
        assert_eq!(name(&Sgd::new(0.1).with_momentum(-0.5, true)), "momentum");
        let mut adam = Adam::new(0.1);
        adam.beta_2 = 1.5;
        assert_eq!(name(&adam), "beta_2");
        let mut rms = RmsProp::new(0.1);
        rms.rho = f64::NAN;
        assert_eq!(name(&rms), "rho");
        let mut ada = Adagrad::new(0.1);
        ada.initial_accumulator_value = -1.0;
        assert_eq!(name(&ada), "initial_accumulator_value");
        ada.initial_accumulator_value = 0.1;
        ada.epsilon = 0.0;
        assert_eq!(name(&ada), "epsilon");
        let boxed: Box<dyn Optimizer> = Box::new(Sgd::new(0.1).with_momentum(2.0, false));
        assert_eq!(name(&boxed), "momentum");
        for ok in [&Sgd::new(0.0) as &dyn Optimizer, &Sgd::default().with_momentum(0.9, true), &Adam::new(1e-3)] {
            assert!(ok.validate().is_ok());
        }
        assert!(RmsProp::new(1e-3).validate().is_ok() && Adagrad::new(1e-3).validate().is_ok());
    }

    #[test]
    fn steps_after_the_first_reuse_slots() {
        let mut adam = Adam::new(0.1);
        trajectory(&mut adam, 3);
        assert_eq!(adam.iterations(), 3);
        assert_eq!(adam.slots().len(), 1);
    }
}
