//! The one error type of kiln's fallible edges: data, files, arguments.
//!
//! Generated `forward` and `backward` passes cannot fail (their shapes are
//! checked when the model compiles); everything that depends on run-time
//! input reports a [`Error`] instead of panicking.

use std::path::PathBuf;

/// Everything that can go wrong at kiln's run-time edges.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Inputs and targets hold different numbers of samples.
    #[error("inputs hold {inputs} samples but targets hold {targets}")]
    SampleCountMismatch {
        /// Samples in `x`.
        inputs: usize,
        /// Samples in `y`.
        targets: usize,
    },
    /// The members of a tuple batch (one slice per input or output) hold
    /// different numbers of samples.
    #[error("the members of a batch hold different numbers of samples: {first} and {other}")]
    MemberCountMismatch {
        /// Samples in the first member.
        first: usize,
        /// Samples in a member that disagrees.
        other: usize,
    },
    /// A target does not have the length the loss needs.
    #[error("{loss} needs targets of {expected} value(s) per sample, but they have {found}")]
    TargetShape {
        /// The loss's Keras name.
        loss: &'static str,
        /// Values per sample the loss needs.
        expected: usize,
        /// Values per sample given.
        found: usize,
    },
    /// A class label is not below the number of classes.
    #[error("label {label} of sample {sample} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: f32,
        /// Its sample index.
        sample: usize,
        /// Number of classes (output units).
        classes: usize,
    },
    /// A token id is not below its `Embedding`'s `input_dim`.
    #[error("token id {id} in sample {sample} is out of range for an Embedding with input_dim {input_dim}")]
    IdOutOfRange {
        /// The offending id.
        id: u32,
        /// Its sample index.
        sample: usize,
        /// The embedding's vocabulary size.
        input_dim: usize,
    },
    /// An argument has a value Keras would reject too.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's Keras name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// There is no data to work on.
    #[error("no samples to {0}")]
    NoData(&'static str),
    /// The loss became NaN or infinite; training stops with the weights of
    /// the last finite step kept in the model.
    #[error("the loss is not finite ({loss}) at epoch {epoch}, batch {batch}")]
    NonFiniteLoss {
        /// The value reported.
        loss: f32,
        /// Zero-based epoch.
        epoch: usize,
        /// Zero-based batch within the epoch.
        batch: usize,
    },
    /// A data file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A weights or checkpoint file does not fit the model (or is not one).
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: crate::io::FileProblem,
    },
    /// A data file is malformed.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// One-based line number (0 for binary formats).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// `Result<T, kiln::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
