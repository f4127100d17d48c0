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

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod adamw;
mod lion;
mod nadam;
mod rmsprop;
pub mod schedules;
mod sgd;

pub use adadelta::Adadelta;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamax::Adamax;
pub use adamw::AdamW;
pub use lion::Lion;
pub use nadam::Nadam;
pub use rmsprop::RmsProp;
pub use schedules::{CosineDecay, ExponentialDecay, LearningRateSchedule, PiecewiseConstantDecay};
pub use sgd::Sgd;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::param::Param;

/// What every optimizer keeps: the learning rate, the step count, the
/// per-parameter slots, and the options Keras's `BaseOptimizer` gives every
/// optimizer (gradient clipping, weight decay, a learning-rate schedule).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// The step size (changed by callbacks). With a [`schedule`](Self::schedule)
    /// it is the rate of the last step; [`Optimizer::learning_rate`] gives the next.
    pub learning_rate: f32,
    /// Steps taken so far (Keras's `iterations`).
    pub iterations: u64,
    /// Keras's `clipnorm`: each parameter's gradient is rescaled to an L2
    /// norm of at most this (`g·c / max(‖g‖, c)`, TensorFlow's `clip_by_norm`).
    /// In f64 like Keras's Python float.
    pub clipnorm: Option<f64>,
    /// Keras's `clipvalue`: each gradient element is clipped to `[−c, c]`.
    pub clipvalue: Option<f64>,
    /// Keras's `global_clipnorm`: all trainable gradients are scaled
    /// together so that their joint L2 norm is at most this.
    pub global_clipnorm: Option<f64>,
    /// Keras's `weight_decay`: before each update, `w ← w − (w·wd)·lr`
    /// (decoupled decay, applied by every optimizer, as Keras 3 does).
    pub weight_decay: Option<f64>,
    /// Parameter names (`"bias"`, …) that weight decay skips: a parameter is
    /// skipped when its name contains one of them (Keras's
    /// `exclude_from_weight_decay(var_names=…)`, a regex search of the names).
    pub exclude_from_weight_decay: Vec<String>,
    /// A learning-rate schedule evaluated at `iterations` before every step
    /// (Keras's `learning_rate=ExponentialDecay(…)`).
    pub schedule: Option<Arc<dyn LearningRateSchedule>>,
    pub(crate) slots: Slots,
    /// Per-step scratch space, reused so that a step allocates nothing.
    scratch: Scratch,
}

#[derive(Clone, Debug, Default)]
struct Scratch {
    /// The clipped gradient of the parameter being updated.
    grad: Vec<f32>,
    /// Each trainable parameter's sum of squared gradients (`global_clipnorm`).
    squares: Vec<f32>,
    /// The norms a constraint takes (`Constraint::apply`).
    norms: Vec<f32>,
}

impl OptimizerState {
    /// State for a fresh optimizer with learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        OptimizerState { learning_rate, ..OptimizerState::default() }
    }

    /// Checks what every optimizer has: the learning rate (or the schedule),
    /// the clipping options (positive and finite, at most one of them, as
    /// Keras requires) and the weight decay (≥ 0 and finite).
    ///
    /// Keras silently ignores a clipping threshold ≤ 0; kiln reports it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        match &self.schedule {
            Some(schedule) => schedule.validate()?,
            None => check_hyper("learning_rate", self.learning_rate, 0.0, f32::INFINITY, "≥ 0 and finite")?,
        }
        let clips =
            [("clipnorm", self.clipnorm), ("clipvalue", self.clipvalue), ("global_clipnorm", self.global_clipnorm)];
        for (name, value) in clips {
            if let Some(v) = value {
                check_hyper(name, v, f64::MIN_POSITIVE, f64::INFINITY, "positive and finite")?;
            }
        }
        let set: Vec<String> = clips.iter().filter_map(|(name, v)| v.map(|v| format!("{name}={v}"))).collect();
        if set.len() > 1 {
            return Err(Error::InvalidArgument {
                name: "clipnorm",
                reason: format!(
                    "only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, but {} are",
                    set.join(", ")
                ),
            });
        }
        if let Some(wd) = self.weight_decay {
            check_hyper("weight_decay", wd, 0.0, f64::INFINITY, "≥ 0 and finite")?;
        }
        Ok(())
    }
}

/// Updates parameters from their gradients.
///
/// `Send + Sync` so that a compiled [`crate::train::Model`] can be shared
/// across threads (an `Arc<Model<_>>` serving predictions).
///
/// Use [`step`] to apply one step to a model's parameters: it evaluates the
/// schedule, clips the gradients and applies the weight decay before
/// calling [`Optimizer::update`] for each trainable parameter, as Keras's
/// `apply_gradients` does.
pub trait Optimizer: Send + Sync {
    /// Keras's class name.
    fn name(&self) -> &'static str;
    /// The shared state.
    fn state(&self) -> &OptimizerState;
    /// The shared state, mutably.
    fn state_mut(&mut self) -> &mut OptimizerState;
    /// Updates the `index`-th parameter from its `grad` (already clipped and
    /// weight-decayed by [`step`]).
    fn update(&mut self, index: usize, param: &mut Param);

    /// Checks the hyper-parameters; `fit` and `train_on_batch` call it before
    /// any step (and after a callback changes the learning rate). The default
    /// checks the shared options ([`OptimizerState::validate`]); optimizers
    /// with more hyper-parameters extend it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the hyper-parameter.
    fn validate(&self) -> Result<()> {
        self.state().validate()
    }

    /// Starts a step; called once before the parameters are updated, after
    /// the learning rate of the step is set.
    fn begin_step(&mut self) {
        self.state_mut().iterations += 1;
    }
    /// The learning rate of the next step: the schedule's value at
    /// `iterations` when there is one (as Keras's `optimizer.learning_rate`).
    fn learning_rate(&self) -> f32 {
        let state = self.state();
        match &state.schedule {
            Some(schedule) => schedule.at(state.iterations),
            None => state.learning_rate,
        }
    }
    /// Changes the learning rate. Ignored while a
    /// [schedule](OptimizerState::schedule) sets the rate (see
    /// [`Optimizer::schedule`]); callbacks set it through
    /// `CallbackContext::set_learning_rate`, which refuses then, as Keras
    /// raises an error there.
    fn set_learning_rate(&mut self, lr: f32) {
        let state = self.state_mut();
        if state.schedule.is_none() {
            state.learning_rate = lr;
        }
    }
    /// The learning-rate schedule, if the rate follows one.
    fn schedule(&self) -> Option<&dyn LearningRateSchedule> {
        self.state().schedule.as_deref()
    }
    /// Steps taken so far (Keras's `iterations`).
    fn iterations(&self) -> u64 {
        self.state().iterations
    }
    /// The per-parameter state, for checkpoints: one list of slot vectors per parameter.
    fn slots(&self) -> &[Vec<Vec<f32>>] {
        &self.state().slots.per_param
    }
    /// How many slot vectors the optimizer keeps per parameter (Adam's
    /// two moments: 2), so that a checkpoint holding another number is
    /// refused rather than silently reset; `None` (the default, for
    /// optimizers defined outside kiln) skips that check.
    fn slots_per_param(&self) -> Option<usize> {
        None
    }
    /// Restores state saved from [`Optimizer::slots`] and [`Optimizer::iterations`].
    fn restore(&mut self, iterations: u64, slots: Vec<Vec<Vec<f32>>>) {
        let state = self.state_mut();
        state.iterations = iterations;
        state.slots.per_param = slots;
    }

    /// With Keras's `clipnorm` (each gradient's L2 norm at most `clipnorm`).
    fn with_clipnorm(mut self, clipnorm: f64) -> Self
    where
        Self: Sized,
    {
        self.state_mut().clipnorm = Some(clipnorm);
        self
    }
    /// With Keras's `clipvalue` (each gradient element in `[−clipvalue, clipvalue]`).
    fn with_clipvalue(mut self, clipvalue: f64) -> Self
    where
        Self: Sized,
    {
        self.state_mut().clipvalue = Some(clipvalue);
        self
    }
    /// With Keras's `global_clipnorm` (the joint norm of all gradients at most this).
    fn with_global_clipnorm(mut self, global_clipnorm: f64) -> Self
    where
        Self: Sized,
    {
        self.state_mut().global_clipnorm = Some(global_clipnorm);
        self
    }
    /// With Keras's `weight_decay` (`None` for none).
    fn with_weight_decay(mut self, weight_decay: impl Into<Option<f64>>) -> Self
    where
        Self: Sized,
    {
        self.state_mut().weight_decay = weight_decay.into();
        self
    }
    /// With the learning rate following `schedule` (Keras's
    /// `learning_rate=ExponentialDecay(…)`).
    fn with_schedule(mut self, schedule: impl LearningRateSchedule + 'static) -> Self
    where
        Self: Sized,
    {
        let state = self.state_mut();
        state.learning_rate = schedule.at(state.iterations);
        state.schedule = Some(Arc::new(schedule));
        self
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
    fn learning_rate(&self) -> f32 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        (**self).set_learning_rate(lr)
    }
    fn slots_per_param(&self) -> Option<usize> {
        (**self).slots_per_param()
    }
    fn restore(&mut self, iterations: u64, slots: Vec<Vec<Vec<f32>>>) {
        (**self).restore(iterations, slots)
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
    let fits = |v: f64| v.is_finite() && v >= lo && v < hi;
    // The arithmetic is float32, as Keras's (it casts every
    // hyper-parameter to the variables' dtype): an f64 value in range may
    // not be once rounded (1e39 → inf, 1e-50 → 0, 1 − 1e-10 → 1).
    let narrow = wide as f32;
    if !fits(wide) {
        Err(Error::InvalidArgument { name, reason: format!("must be {range}, but is {value}") })
    } else if !fits(f64::from(narrow)) {
        Err(Error::InvalidArgument {
            name,
            reason: format!(
                "must be {range} in float32 (the dtype kiln and Keras compute in), but is {value}, {narrow} in float32"
            ),
        })
    } else {
        Ok(())
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

/// TensorFlow's float32 `reduce_sum` of `n` values `value(i)`, in the order
/// its CPU kernel (Eigen's `InnerMostDimReducer`, 8-float AVX packets) adds
/// them, so that a norm equals TensorFlow's bit for bit
/// (`tests/fixtures/keras_optimizers_more.py` was checked against
/// `tf.reduce_sum` for every length up to 80 and up to 4·10⁶): above
/// 8·1024 values the range is halved at a packet boundary and the halves'
/// sums added; below, four packet accumulators run over blocks of 32
/// values, then one over the remaining whole packets, the lanes are summed
/// pairwise (lane i + lane i+4, …), and the scalar tail is added to that.
pub(crate) fn tf_sum(n: usize, value: &impl Fn(usize) -> f32) -> f32 {
    tf_sum_range(0, n, value)
}

fn tf_sum_range(first: usize, n: usize, value: &impl Fn(usize) -> f32) -> f32 {
    const P: usize = 8;
    if n > P * 1024 {
        let split = P * (first + n.div_ceil(2)).div_ceil(P);
        let left = (split - first).min(n);
        let mut accum = 0.0 + tf_sum_range(first, left, value);
        if left < n {
            accum += tf_sum_range(split, n - left, value);
        }
        return accum;
    }
    let add = |acc: &mut [f32; P], at: usize| {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += value(first + at + l);
        }
    };
    let mut p0 = [0.0f32; P];
    let mut start = 0;
    if n >= 4 * P {
        let (mut p1, mut p2, mut p3) = ([0.0f32; P], [0.0f32; P], [0.0f32; P]);
        let end = n / (4 * P) * (4 * P);
        for j in (0..end).step_by(4 * P) {
            add(&mut p0, j);
            add(&mut p1, j + P);
            add(&mut p2, j + 2 * P);
            add(&mut p3, j + 3 * P);
        }
        for p in [p1, p2, p3] {
            p0.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        start = end;
    }
    if start + P <= n {
        let end = n / P * P;
        for j in (start..end).step_by(P) {
            add(&mut p0, j);
        }
        start = end;
    }
    let mut tail = 0.0f32;
    for j in start..n {
        tail += value(first + j);
    }
    // Eigen's `predux`: halves added lane-wise until one lane is left.
    let q = [p0[0] + p0[4], p0[1] + p0[5], p0[2] + p0[6], p0[3] + p0[7]];
    let r = [q[0] + q[2], q[1] + q[3]];
    tail + (r[0] + r[1])
}

/// TensorFlow's `reduce_sum(square(g))` of one gradient.
fn sum_of_squares(g: &[f32]) -> f32 {
    tf_sum(g.len(), &|i| g[i] * g[i])
}

/// How [`step`] transforms each gradient before the update.
#[derive(Clone, Copy)]
enum Clip {
    None,
    /// Keras's `clipnorm` as TensorFlow's `clip_by_norm`.
    Norm(f32),
    /// `clipvalue`: clamp to `[−c, c]`.
    Value(f32),
    /// `global_clipnorm`: multiply by this scale.
    Scale(f32),
}

/// Applies one optimizer step to every trainable parameter of `visit`, as
/// Keras's `apply_gradients`: the learning rate is the schedule's value at
/// `iterations` (if any); the gradients are clipped (`clipnorm`,
/// `clipvalue`, or `global_clipnorm` over all trainable gradients, which
/// needs a first pass over the parameters); each parameter is decayed by
/// `weight_decay`; then [`Optimizer::update`] runs with the clipped gradient.
/// The parameters' `grad` are left as they were. After the first step,
/// steps allocate nothing.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] naming `learning_rate` when the
/// schedule's rate at this step is NaN, infinite or negative ([`scheduled_rate`]);
/// nothing changes then (no weight, no slot, not the step count).
pub fn step(optimizer: &mut dyn Optimizer, mut visit: impl FnMut(&mut dyn FnMut(&mut Param))) -> crate::Result<()> {
    if let Some(rate) = scheduled_rate(optimizer.state())? {
        optimizer.state_mut().learning_rate = rate;
    }
    let state = optimizer.state_mut();
    let clip = if let Some(c) = state.clipnorm {
        Clip::Norm(c as f32)
    } else if let Some(c) = state.clipvalue {
        Clip::Value(c as f32)
    } else if let Some(c) = state.global_clipnorm {
        // Keras's `clip_by_global_norm`: the norm of the per-parameter sums
        // of squares (stacked, then summed), and
        // `scale = c · min(1/‖g‖, 1/c) + (‖g‖ − ‖g‖)`, where `1/c` is Python
        // (f64) arithmetic and the rest float32. Even an unclipped gradient
        // is multiplied by this scale (≈ 1, not always exactly).
        let mut squares = std::mem::take(&mut state.scratch.squares);
        squares.clear();
        visit(&mut |p: &mut Param| {
            if p.trainable {
                squares.push(sum_of_squares(&p.grad));
            }
        });
        let norm = tf_sum(squares.len(), &|i| squares[i]).sqrt();
        let state = optimizer.state_mut();
        state.scratch.squares = squares;
        // Keras's `+ (‖g‖ − ‖g‖)`: zero for a finite norm, NaN otherwise.
        let nan_unless_finite = if norm.is_finite() { 0.0 } else { f32::NAN };
        Clip::Scale((c as f32) * (1.0 / norm).min((1.0 / c) as f32) + nan_unless_finite)
    } else {
        Clip::None
    };
    optimizer.begin_step();
    let state = optimizer.state();
    let (lr, decay) = (state.learning_rate, state.weight_decay.map(|wd| wd as f32));
    let mut scratch = std::mem::take(&mut optimizer.state_mut().scratch.grad);
    let mut norms = std::mem::take(&mut optimizer.state_mut().scratch.norms);
    let mut index = 0;
    visit(&mut |p: &mut Param| {
        if p.trainable {
            if let Some(wd) = decay {
                let excluded = optimizer.state().exclude_from_weight_decay.iter().any(|n| p.name.contains(n.as_str()));
                if !excluded {
                    // TensorFlow's `variable.assign_sub(variable * wd * lr)`.
                    crate::simd::dispatch(|| p.value.iter_mut().for_each(|w| *w -= *w * wd * lr));
                }
            }
            let clipped = !matches!(clip, Clip::None);
            if clipped {
                // The update sees the clipped gradient; `p.grad` gets the
                // unclipped one back afterwards (saved in `scratch` as it is clipped).
                scratch.clear();
                match clip {
                    Clip::Norm(c) => {
                        // TensorFlow's `clip_by_norm`: `g·c / max(‖g‖, c)`,
                        // applied (and rounded) even when ‖g‖ ≤ c.
                        let sum = sum_of_squares(&p.grad);
                        let norm = if sum > 0.0 { sum.sqrt() } else { sum };
                        let d = norm.max(c);
                        clip_saving(&mut p.grad, &mut scratch, |g| g * c / d);
                    }
                    Clip::Value(c) => clip_saving(&mut p.grad, &mut scratch, |g| g.max(-c).min(c)),
                    Clip::Scale(s) => clip_saving(&mut p.grad, &mut scratch, |g| g * s),
                    Clip::None => unreachable!(),
                }
            }
            optimizer.update(index, p);
            if clipped {
                p.grad.copy_from_slice(&scratch);
            }
            // Keras's optimizer projects a constrained variable right after its update.
            if let Some(constraint) = &p.constraint {
                constraint.apply(&mut p.value, &p.shape, &mut norms);
            }
        }
        index += 1;
    });
    optimizer.state_mut().scratch.grad = scratch;
    optimizer.state_mut().scratch.norms = norms;
    Ok(())
}

/// The learning rate the optimizer's schedule gives for its next step
/// (`None` without a schedule).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] naming `learning_rate` when that rate
/// is NaN, infinite or negative: a schedule is the user's code (or it
/// overflows, as `ExponentialDecay` with a large `decay_rate` does), and
/// such a rate would make every weight NaN.
pub fn scheduled_rate(state: &OptimizerState) -> crate::Result<Option<f32>> {
    let Some(schedule) = &state.schedule else {
        return Ok(None);
    };
    let (step, rate) = (state.iterations, schedule.at(state.iterations));
    if rate.is_finite() && rate >= 0.0 {
        Ok(Some(rate))
    } else {
        let reason =
            format!("must be ≥ 0 and finite, but the schedule {} gives {rate} at step {step}", schedule.name());
        Err(crate::Error::InvalidArgument { name: "learning_rate", reason })
    }
}

/// Replaces each gradient value by `clip` of it, appending the original
/// to `saved` (one pass; `saved` keeps its capacity between steps).
fn clip_saving(grad: &mut [f32], saved: &mut Vec<f32>, clip: impl Fn(f32) -> f32) {
    saved.extend(grad.iter_mut().map(|g| std::mem::replace(g, clip(*g))));
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
            step(opt, |f| f(&mut p)).unwrap();
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

    /// The update uses the clipped gradient (w = 1 − 0.1·clip(g)), and
    /// the parameter's gradient reads unclipped afterwards, for each kind
    /// of clipping.
    #[test]
    fn clipping_leaves_the_unclipped_gradient_after_the_step() {
        let cases: [(Box<dyn Optimizer>, [f32; 2]); 3] = [
            // ‖(3, 4)‖ = 5: clipnorm 1 gives (0.6, 0.8).
            (Box::new(Sgd::new(0.1).with_clipnorm(1.0)), [0.6, 0.8]),
            (Box::new(Sgd::new(0.1).with_clipvalue(3.5)), [3.0, 3.5]),
            (Box::new(Sgd::new(0.1).with_global_clipnorm(1.0)), [0.6, 0.8]),
        ];
        for (mut opt, clipped) in cases {
            let mut p = Param::zeros("w", &[2]);
            p.value.copy_from_slice(&[1.0, 1.0]);
            p.grad.copy_from_slice(&[3.0, 4.0]);
            step(&mut *opt, |f| f(&mut p)).unwrap();
            assert_eq!(p.grad, [3.0, 4.0]);
            for (w, g) in p.value.iter().zip(clipped) {
                assert!((w - (1.0 - 0.1 * g)).abs() < 1e-6, "{w} for a clipped gradient {g}");
            }
        }
    }

    #[test]
    fn steps_after_the_first_reuse_slots() {
        let mut adam = Adam::new(0.1);
        trajectory(&mut adam, 3);
        assert_eq!(adam.iterations(), 3);
        assert_eq!(adam.slots().len(), 1);
    }
}
