//! Saving and loading models: weights in safetensors files named by
//! Keras's variable paths, whole-model checkpoints, atomic writes.
//!
//! # Weights file (format `kiln.weights`, version 1)
//! A [safetensors](https://github.com/huggingface/safetensors) file, which
//! Python's `safetensors` package reads. One little-endian `F32` tensor per
//! parameter, named by its Keras 3 variable path (`dense_1/kernel`,
//! `lstm/lstm_cell/recurrent_kernel`, see [`Network::param_paths`]) in
//! Keras's layout (a Dense kernel is `[input_dim, units]`, recurrent
//! kernels keep Keras's gate order). The header's metadata holds
//! `format = kiln.weights` and `format_version = 1`.
//!
//! Loading matches tensors by name, checks every shape and dtype, rejects
//! missing and unexpected tensors, and writes the model only when the
//! whole file is right: a failed load leaves the model as it was.
//!
//! # Checkpoint (format `kiln.checkpoint`, version 1)
//! The same container with the weights, the optimizer's slots
//! (`optimizer/<param path>/<slot>`), and in the metadata the optimizer's
//! name, step count and learning rate, the epochs trained, the shuffling
//! generator's state and the architecture (the summary's layer table),
//! which must match the model it is loaded into. See
//! [`crate::train::Model::save`].
//!
//! # Keras 3 files
//! `load_keras_weights` reads the weights of a model saved by Keras 3
//! (`model.save("m.keras")` or `model.save_weights("m.weights.h5")`) into
//! the kiln model of the same architecture; see `keras.rs` for how layers
//! are matched. Needs the `keras-weights` feature (an HDF5 reader and a
//! zip reader that would double a clean build's time for everyone else).

mod atomic;
#[cfg(feature = "keras-weights")]
mod keras;
mod tensors;
pub(crate) mod weights;

pub use atomic::write_atomically;
#[cfg(feature = "keras-weights")]
pub use keras::{load_keras_archive_bytes, load_keras_h5_bytes, load_keras_weights, load_keras_weights_from_bytes};
pub(crate) use tensors::checked;
pub use tensors::{TensorFile, FORMAT_KEY, VERSION_KEY};
pub use weights::{
    load_weights, load_weights_from_bytes, save_weights, weights_to_bytes, WEIGHTS_FORMAT, WEIGHTS_VERSION,
};

/// Reads `path` and hands its bytes to `parse`: a read failure is
/// [`crate::Error::Io`], a problem `parse` finds is [`crate::Error::File`],
/// both naming the file. (Every loader's file entry point.)
pub(crate) fn read_file<T>(
    path: &std::path::Path,
    parse: impl FnOnce(&[u8]) -> Result<T, FileProblem>,
) -> crate::Result<T> {
    let bytes = std::fs::read(path).map_err(|source| crate::Error::Io { path: path.to_path_buf(), source })?;
    parse(&bytes).map_err(|problem| crate::Error::File { path: path.to_path_buf(), problem })
}

#[allow(unused_imports)] // linked from the docs above
use crate::network::Network;

/// What is wrong with a weights or checkpoint file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FileProblem {
    /// Not a safetensors file, or truncated or corrupt bytes.
    Corrupt(String),
    /// The file is of another kind (`format` metadata).
    Format {
        /// The format this loader reads.
        expected: &'static str,
        /// The file's `format` metadata (empty when absent).
        found: String,
    },
    /// A format version this build cannot read.
    Version {
        /// The file's version.
        found: String,
        /// The version this build reads.
        supported: &'static str,
    },
    /// A metadata entry is missing or malformed.
    Metadata {
        /// The key.
        key: &'static str,
        /// Its value, if any.
        found: Option<String>,
    },
    /// The model has a parameter the file lacks.
    MissingTensor {
        /// The parameter's path.
        tensor: String,
        /// The parameter's shape.
        expected: Vec<usize>,
    },
    /// The file has a tensor the model has no parameter for.
    UnexpectedTensor {
        /// The tensor's name.
        tensor: String,
        /// Its shape.
        found: Vec<usize>,
    },
    /// A tensor's shape differs from its parameter's.
    Shape {
        /// The tensor's name.
        tensor: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor is not `F32`.
    Dtype {
        /// The tensor's name.
        tensor: String,
        /// The file's dtype.
        found: String,
    },
    /// The checkpoint was written by a model of another architecture.
    Architecture {
        /// Zero-based row of the summary's layer table.
        index: usize,
        /// The model's layer (name, class, output shape, parameter counts).
        expected: String,
        /// The file's layer at that row.
        found: String,
    },
    /// The checkpoint's optimizer is of another kind.
    Optimizer {
        /// The model's optimizer.
        expected: String,
        /// The file's.
        found: String,
    },
    /// A checkpoint holds another number of optimizer slots for a
    /// parameter than the model's optimizer keeps (e.g. SGD's momentum
    /// buffer for an optimizer configured without momentum).
    OptimizerSlots {
        /// The parameter's path.
        parameter: String,
        /// The slots the model's optimizer keeps per parameter.
        expected: usize,
        /// The slots the file holds for it.
        found: usize,
    },
    /// A Keras file (`.keras` archive or `.weights.h5`) that cannot be
    /// read: not a zip or HDF5 file, truncated or corrupt bytes, or not laid
    /// out as Keras 3 writes weights.
    KerasFile(String),
    /// The model has a layer with parameters that the Keras file lacks.
    MissingLayer {
        /// The layer's name (`outer/inner` for a layer of a nested model).
        layer: String,
        /// The shapes of the layer's parameters.
        expected: Vec<Vec<usize>>,
        /// The names of the file's layers that have weights.
        available: Vec<String>,
    },
    /// A tensor holds NaN or an infinity (kiln never writes one: a step
    /// that would make a value non-finite is refused; the file is damaged).
    NonFinite {
        /// The tensor's name.
        tensor: String,
        /// The index of its first non-finite value.
        index: usize,
        /// That value.
        value: f32,
    },
    /// The Keras file has a layer with weights that the model lacks.
    UnexpectedLayer {
        /// The file's layer name.
        layer: String,
        /// How many variables it holds.
        variables: usize,
    },
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Corrupt(inner) => write!(f, "not a readable safetensors file ({inner})"),
            Self::NonFinite { tensor, index, value } => {
                write!(f, "tensor `{tensor}` holds {value} at index {index}, but every value must be finite")
            }
            Self::Format { found, expected } => write!(f, "holds `{found}`, expected `{expected}`"),
            Self::Version { found, supported } => write!(f, "format version {found} is not supported (this build reads version {supported})"),
            Self::Metadata { key, found } => write!(f, "metadata `{key}` is missing or malformed ({found:?})"),
            Self::MissingTensor { tensor, expected } => write!(f, "no tensor `{tensor}` (the model's parameter of shape {expected:?})"),
            Self::UnexpectedTensor { tensor, found } => write!(f, "tensor `{tensor}` (shape {found:?}) matches no parameter of the model"),
            Self::Shape { tensor, found, expected } => write!(f, "tensor `{tensor}` has shape {found:?}, but the model's parameter has shape {expected:?}"),
            Self::Dtype { tensor, found } => write!(f, "tensor `{tensor}` holds {found}, expected F32"),
            Self::Architecture { index, expected, found } => write!(f, "layer {index} differs: the model has `{expected}`, the file has `{found}`"),
            Self::Optimizer { expected, found } => write!(f, "the optimizer is {expected}, but the file holds the state of {found}"),
            Self::OptimizerSlots { parameter, expected, found } => write!(f, "the file holds {found} optimizer slots for `{parameter}`, but the model's optimizer keeps {expected}"),
            Self::KerasFile(inner) => write!(f, "not a readable Keras 3 file: {inner}"),
            Self::MissingLayer { layer, expected, available } => write!(f, "the file has no layer `{layer}` (the model's layer with parameters of shapes {expected:?}); its layers with weights are {available:?}"),
            Self::UnexpectedLayer { layer, variables } => write!(f, "the file's layer `{layer}` ({variables} variables) matches no layer of the model"),
        }
    }
}

impl std::error::Error for FileProblem {}

/// Refuses tensor `name` if one of its `values` is NaN or infinite (what
/// every loader refuses and no writer writes).
pub(crate) fn check_finite(name: &str, values: &[f32]) -> Result<(), FileProblem> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(FileProblem::NonFinite { tensor: name.to_string(), index, value: values[index] }),
        None => Ok(()),
    }
}
