//! AdamW (Loshchilov & Hutter, 2019, arXiv:1711.05101) as Keras 3 defines
//! it: [`Adam`] with the decoupled weight decay every Keras optimizer
//! applies, `w ← w − (w·wd)·lr` before the Adam update, on by default
//! (`weight_decay = 0.004`). Defaults otherwise Adam's.

use std::ops::{Deref, DerefMut};

use super::{Adam, Optimizer, OptimizerState};
use crate::param::Param;

/// Keras's `AdamW`: an [`Adam`] (reachable through `Deref`) whose
/// `weight_decay` is required.
#[derive(Clone, Debug)]
pub struct AdamW {
    /// The Adam underneath; its state holds the weight decay.
    pub adam: Adam,
}

impl AdamW {
    /// AdamW with Keras's defaults (`weight_decay = 0.004`) and learning rate `lr`.
    pub fn new(learning_rate: f32) -> Self {
        let mut adam = Adam::new(learning_rate);
        adam.state.weight_decay = Some(0.004);
        AdamW { adam }
    }
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW::new(0.001)
    }
}

impl Deref for AdamW {
    type Target = Adam;
    fn deref(&self) -> &Adam {
        &self.adam
    }
}

impl DerefMut for AdamW {
    fn deref_mut(&mut self) -> &mut Adam {
        &mut self.adam
    }
}

impl Optimizer for AdamW {
    fn slots_per_param(&self) -> Option<usize> {
        self.adam.slots_per_param()
    }
    fn name(&self) -> &'static str {
        "AdamW"
    }
    fn validate(&self) -> crate::Result<()> {
        if self.adam.state.weight_decay.is_none() {
            // Keras: "Argument `weight_decay` must be a float. Received: weight_decay=None".
            return Err(crate::Error::InvalidArgument {
                name: "weight_decay",
                reason: "must be set for AdamW (a float ≥ 0), but is None".into(),
            });
        }
        self.adam.validate()
    }
    fn state(&self) -> &OptimizerState {
        &self.adam.state
    }
    fn state_mut(&mut self) -> &mut OptimizerState {
        &mut self.adam.state
    }
    fn begin_step(&mut self) {
        self.adam.begin_step()
    }
    fn update(&mut self, index: usize, p: &mut Param) {
        self.adam.update(index, p)
    }
}
