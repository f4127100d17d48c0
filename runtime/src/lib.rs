//! # kiln — Keras-style neural networks for Rust, compiled
//!
//! placeholder
extern crate self as kiln;

pub mod activations;
pub mod data;
pub mod error;
pub mod gemm;
pub mod initializers;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod network;
pub mod optimizers;
pub mod parallel;
pub mod param;
pub mod sample;
pub mod simd;
pub mod summary;
pub mod testing;
pub mod train;

pub use error::{Error, Result};

pub use kiln_macros::model;

/// What a training script needs, in one `use`.
pub mod prelude {
    pub use crate::activations::Activation;
    pub use crate::losses::{
        BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanAbsoluteError, MeanSquaredError,
        SparseCategoricalCrossentropy,
    };
    pub use crate::metrics::Metric;
    pub use crate::network::Network;
    pub use crate::optimizers::{Adagrad, Adam, Optimizer, RmsProp, Sgd};
    pub use crate::train::{Callback, Compile, Control, History, Logs, Model};
}

/// Items generated code refers to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::layers::{Ctx, InputGrad, Layer};

    /// The generator `model!`'s `new(seed)` draws initial weights from.
    pub fn seeded_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
        rand::SeedableRng::seed_from_u64(seed)
    }

    /// An activation by Keras name; the macro has checked the name.
    pub fn activation(name: &str) -> crate::activations::Activation {
        crate::activations::Activation::from_name(name).expect("model! checked the activation name")
    }

    /// An initializer by Keras name; the macro has checked the name.
    pub fn initializer(name: &str) -> crate::initializers::Initializer {
        crate::initializers::Initializer::from_name(name).expect("model! checked the initializer name")
    }
}
