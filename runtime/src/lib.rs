//! # kiln-core — the runtime behind [kiln](https://docs.rs/kiln)
//!
//! Layers, activations, initializers, losses, metrics, optimizers, the
//! `fit` loop and its callbacks, the kernels and threads underneath, and
//! the weights files. Use it through the `kiln` crate: kiln re-exports
//! every item here and adds the `model!` macro, which generates code
//! against this crate's API (`kiln::__private` among it).
//!
//! It is a crate of its own so that it compiles while the macro does (a
//! crate re-exporting a procedural macro waits for the macro to be built).
//! The examples in this documentation are written as a user of `kiln`
//! writes them.
#![warn(missing_docs)]

pub mod activations;
pub mod aligned;
pub mod data;
pub mod datasets;
pub mod distribute;
pub mod error;
pub mod gemm;
pub mod initializers;
pub mod io;
pub mod json;
pub mod layers;
pub mod losses;
pub mod metrics;
#[cfg(feature = "nalgebra")]
pub mod nalgebra_interop;
pub mod network;
pub mod optimizers;
pub mod parallel;
pub mod param;
pub mod quant;
pub mod regularizers;
pub mod sample;
pub mod simd;
pub mod summary;
pub mod testing;
pub mod train;

pub use error::{Error, Result};

/// What a training script needs, in one `use`.
pub mod prelude {
    pub use crate::activations::Activation;
    pub use crate::losses::{
        BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanAbsoluteError, MeanSquaredError,
        SparseCategoricalCrossentropy,
    };
    pub use crate::metrics::Metric;
    pub use crate::network::Network;
    pub use crate::optimizers::{
        Adadelta, Adagrad, Adam, AdamW, Adamax, CosineDecay, ExponentialDecay, Lion, Nadam, Optimizer,
        PiecewiseConstantDecay, RmsProp, Sgd,
    };
    pub use crate::train::{
        Callback, CallbackContext, Compile, CsvLogger, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
        Logs, Mode, Model, ModelCheckpoint, ReduceLrOnPlateau, TensorBoard, TerminateOnNan,
    };
}

/// Items generated code refers to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::layers::{Ctx, InputGrad, Layer, Merge};

    /// The generator `model!`'s `new(seed)` draws initial weights from.
    pub fn seeded_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
        rand::SeedableRng::seed_from_u64(seed)
    }

    /// [`Layer::validate`] of a custom layer (a nested model) named `name`
    /// in the outer model: its argument errors say which layer holds them.
    pub fn validate_nested<L: Layer>(layer: &L, name: &str) -> crate::Result<()> {
        layer.validate().map_err(|e| match e {
            crate::Error::InvalidArgument { name: argument, reason } => {
                crate::Error::InvalidArgument { name: argument, reason: format!("{reason} (inside `{name}`)") }
            }
            other => other,
        })
    }

    /// Checks the ids of one model input (`sample_len` ids per sample) that
    /// reach `layer`, directly or through `concatenate`; an out-of-range id
    /// is reported with its sample index in that input.
    pub fn check_ids<L: Layer>(layer: &L, ids: &[L::In], sample_len: usize) -> crate::Result<()> {
        // Fast path: one pass over every id; locate the sample only on failure.
        if layer.check_ids(ids).is_ok() {
            return Ok(());
        }
        for (sample, chunk) in ids.chunks(sample_len.max(1)).enumerate() {
            match layer.check_ids(chunk) {
                Ok(()) => {}
                Err(crate::Error::IdOutOfRange { id, input_dim, .. }) => {
                    return Err(crate::Error::IdOutOfRange { id, sample, input_dim })
                }
                Err(e) => return Err(e),
            }
        }
        layer.check_ids(ids)
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
