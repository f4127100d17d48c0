//! Learning-rate schedules with Keras 3's formulas, in Keras's float32
//! arithmetic.
//!
//! A schedule maps the optimizer's step count (`iterations`, the number of
//! steps already taken) to the learning rate of the next step; [`super::step`]
//! evaluates it before every step, as Keras's optimizer calls
//! `learning_rate(iterations)`. Each formula performs Keras's float32
//! operations in Keras's order: the step and `decay_steps` are cast to
//! float32, constants Keras derives in Python (`1 − α`) are computed in f64
//! and rounded once, and `pow` / `cos` are the C library's `powf` / `cosf`,
//! which TensorFlow's scalar kernels call too
//! (`tests/fixtures/keras_optimizers_more.py` checks both).
//! `tests/optimizers_more_keras.rs` compares every schedule with Keras's
//! values for steps 0–129 and a few large ones, bit for bit.

use std::fmt::Debug;

use super::check_hyper;
use crate::error::{Error, Result};

/// A learning rate as a function of the step count (Keras's
/// `LearningRateSchedule`). Implement it for a schedule of your own.
pub trait LearningRateSchedule: Send + Sync + Debug {
    /// Keras's class name.
    fn name(&self) -> &'static str;
    /// The learning rate after `step` steps (Keras's `schedule(step)`).
    fn at(&self, step: u64) -> f32;
    /// Checks the arguments; optimizers call it from their `validate`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the argument.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

fn check_rate(name: &'static str, value: f32) -> Result<()> {
    check_hyper(name, value, 0.0, f32::INFINITY, "≥ 0 and finite")
}

fn check_steps(name: &'static str, steps: u64) -> Result<()> {
    if steps == 0 {
        return Err(Error::InvalidArgument { name, reason: "must be > 0, but is 0".into() });
    }
    Ok(())
}

/// Keras's `ExponentialDecay`:
/// `initial_learning_rate · decay_rate ^ (step / decay_steps)`, with the
/// exponent floored when `staircase`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Steps per factor of `decay_rate` (> 0).
    pub decay_steps: u64,
    /// The factor per `decay_steps` steps.
    pub decay_rate: f32,
    /// Decay in whole factors (`floor(step / decay_steps)`).
    pub staircase: bool,
}

impl ExponentialDecay {
    /// Keras's `ExponentialDecay(initial_learning_rate, decay_steps, decay_rate)`,
    /// not staircase.
    pub fn new(initial_learning_rate: f32, decay_steps: u64, decay_rate: f32) -> Self {
        ExponentialDecay { initial_learning_rate, decay_steps, decay_rate, staircase: false }
    }

    /// With `staircase`.
    pub fn with_staircase(mut self, staircase: bool) -> Self {
        self.staircase = staircase;
        self
    }
}

impl LearningRateSchedule for ExponentialDecay {
    fn name(&self) -> &'static str {
        "ExponentialDecay"
    }
    fn at(&self, step: u64) -> f32 {
        let mut p = step as f32 / self.decay_steps as f32;
        if self.staircase {
            p = p.floor();
        }
        self.initial_learning_rate * self.decay_rate.powf(p)
    }
    fn validate(&self) -> Result<()> {
        check_rate("initial_learning_rate", self.initial_learning_rate)?;
        check_steps("decay_steps", self.decay_steps)?;
        check_hyper("decay_rate", self.decay_rate, 0.0, f32::INFINITY, "≥ 0 and finite")
    }
}

/// Keras's `PiecewiseConstantDecay`: `values[0]` while `step ≤ boundaries[0]`,
/// `values[i]` while `boundaries[i−1] < step ≤ boundaries[i]`, and the last
/// value after the last boundary.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseConstantDecay {
    /// Strictly increasing step counts.
    pub boundaries: Vec<u64>,
    /// One more value than boundaries.
    pub values: Vec<f32>,
}

impl PiecewiseConstantDecay {
    /// Keras's `PiecewiseConstantDecay(boundaries, values)`.
    pub fn new(boundaries: impl Into<Vec<u64>>, values: impl Into<Vec<f32>>) -> Self {
        PiecewiseConstantDecay { boundaries: boundaries.into(), values: values.into() }
    }
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn name(&self) -> &'static str {
        "PiecewiseConstantDecay"
    }
    fn at(&self, step: u64) -> f32 {
        // Keras sums `value · (step in range)` over the ranges; with
        // increasing boundaries exactly one term is not zero.
        let i = self.boundaries.iter().take_while(|&&b| step > b).count();
        self.values.get(i).copied().unwrap_or(0.0)
    }
    fn validate(&self) -> Result<()> {
        if self.values.len() != self.boundaries.len() + 1 {
            return Err(Error::InvalidArgument {
                name: "values",
                reason: format!(
                    "must hold one more value than boundaries ({}), but holds {}",
                    self.boundaries.len(),
                    self.values.len()
                ),
            });
        }
        if let Some(w) = self.boundaries.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::InvalidArgument {
                name: "boundaries",
                reason: format!("must be strictly increasing, but {} is followed by {}", w[0], w[1]),
            });
        }
        self.values.iter().try_for_each(|&v| check_rate("values", v))
    }
}

/// Keras's `CosineDecay`, with optional linear warm-up:
/// for `warmup_steps` steps the rate rises linearly from
/// `initial_learning_rate` to `warmup_target`, then it follows
/// `peak · ((1 − α) · ½(1 + cos(π·s/decay_steps)) + α)` for the `decay_steps`
/// steps after, and stays at `peak · α`; `peak` is `warmup_target`, or
/// `initial_learning_rate` without warm-up.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f32,
    /// Length of the cosine decay (> 0).
    pub decay_steps: u64,
    /// The final rate as a fraction of the peak. In f64 like Keras's Python
    /// float: `1 − α` is computed in f64.
    pub alpha: f64,
    /// The rate at the end of the warm-up; `None` for no warm-up.
    pub warmup_target: Option<f32>,
    /// Length of the warm-up.
    pub warmup_steps: u64,
}

impl CosineDecay {
    /// Keras's `CosineDecay(initial_learning_rate, decay_steps)`: `alpha = 0`, no warm-up.
    pub fn new(initial_learning_rate: f32, decay_steps: u64) -> Self {
        CosineDecay { initial_learning_rate, decay_steps, alpha: 0.0, warmup_target: None, warmup_steps: 0 }
    }

    /// With `alpha`.
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// With a warm-up of `warmup_steps` steps to `warmup_target`.
    pub fn with_warmup(mut self, warmup_target: f32, warmup_steps: u64) -> Self {
        self.warmup_target = Some(warmup_target);
        self.warmup_steps = warmup_steps;
        self
    }

    fn decay(&self, step: f32, decay_steps: f32, from: f32) -> f32 {
        let completed = step / decay_steps;
        let cosine = 0.5 * (1.0 + (std::f32::consts::PI * completed).cos());
        let decayed = (1.0 - self.alpha) as f32 * cosine + self.alpha as f32;
        from * decayed
    }
}

impl LearningRateSchedule for CosineDecay {
    fn name(&self) -> &'static str {
        "CosineDecay"
    }
    fn at(&self, step: u64) -> f32 {
        let (initial, decay_steps, step) = (self.initial_learning_rate, self.decay_steps as f32, step as f32);
        let Some(target) = self.warmup_target else {
            return self.decay(step.min(decay_steps), decay_steps, initial);
        };
        let warmup_steps = self.warmup_steps as f32;
        let step = step.min(decay_steps + warmup_steps);
        if step < warmup_steps {
            (target - initial) * (step / warmup_steps) + initial
        } else {
            self.decay(step - warmup_steps, decay_steps, target)
        }
    }
    fn validate(&self) -> Result<()> {
        check_rate("initial_learning_rate", self.initial_learning_rate)?;
        check_steps("decay_steps", self.decay_steps)?;
        check_hyper("alpha", self.alpha, 0.0, 1.0 + f64::EPSILON, "in [0, 1]")?;
        if let Some(target) = self.warmup_target {
            check_rate("warmup_target", target)?;
        }
        Ok(())
    }
}
