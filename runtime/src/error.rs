//! The one error type of kiln's fallible edges: data, files, arguments.
//!
//! Generated `forward` and `backward` passes cannot fail (their shapes are
//! checked when the model compiles); everything that depends on run-time
//! input reports a [`Error`] instead of panicking.

use std::path::PathBuf;

/// Everything that can go wrong at kiln's run-time edges.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Inputs and targets hold different numbers of samples.
    SampleCountMismatch {
        /// Samples in `x`.
        inputs: usize,
        /// Samples in `y`.
        targets: usize,
    },
    /// The members of a tuple batch (one slice per input or output) hold
    /// different numbers of samples.
    MemberCountMismatch {
        /// Samples in the first member.
        first: usize,
        /// Samples in a member that disagrees.
        other: usize,
    },
    /// A target does not have the length the loss needs.
    TargetShape {
        /// The loss's Keras name.
        loss: &'static str,
        /// Values per sample the loss needs.
        expected: usize,
        /// Values per sample given.
        found: usize,
    },
    /// A class label is not below the number of classes.
    LabelOutOfRange {
        /// The offending label.
        label: f32,
        /// Its sample index.
        sample: usize,
        /// Number of classes (output units).
        classes: usize,
    },
    /// A token id is not below its `Embedding`'s `input_dim`.
    IdOutOfRange {
        /// The offending id.
        id: u32,
        /// Its sample index.
        sample: usize,
        /// The embedding's vocabulary size.
        input_dim: usize,
    },
    /// A target value outside the range its loss accepts (binary
    /// cross-entropy's targets are probabilities in `[0, 1]`).
    TargetOutOfRange {
        /// The loss's Keras name.
        loss: &'static str,
        /// The offending target.
        value: f32,
        /// Its sample index.
        sample: usize,
        /// The accepted range, as text (`[0, 1]`).
        range: &'static str,
    },
    /// A value of the data is NaN or infinite. Checked before any work, so
    /// nothing has been trained or changed.
    NonFinite {
        /// The argument: `x`, `y`, `sample_weight` (`x.1` for the second
        /// member of a tuple of inputs).
        argument: String,
        /// The value found (NaN, `inf` or `-inf`).
        value: f32,
        /// Its sample index.
        sample: usize,
        /// Its flat index within the sample (row-major over the sample's shape).
        feature: usize,
    },
    /// Something is wrong with `fit`'s `validation_data`; checked before
    /// the first epoch trains.
    ValidationData(Box<Error>),
    /// An argument has a value Keras would reject too.
    InvalidArgument {
        /// The argument's Keras name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// There is no data to work on.
    NoData(&'static str),
    /// The loss became NaN or infinite; training stops before that batch's
    /// step, so the weights, the optimizer's state (moments, iterations) and
    /// the running metrics are those from before the batch.
    NonFiniteLoss {
        /// The value reported.
        loss: f32,
        /// Zero-based epoch.
        epoch: usize,
        /// Zero-based batch within the epoch.
        batch: usize,
    },
    /// A gradient became NaN or infinite while the loss was finite; as for
    /// [`Error::NonFiniteLoss`], that batch's step is not applied.
    NonFiniteGradient {
        /// The parameter's Keras variable name (`kernel`, `bias`, …).
        parameter: &'static str,
        /// Its position in the model's `visit_params` order.
        index: usize,
        /// Zero-based epoch.
        epoch: usize,
        /// Zero-based batch within the epoch.
        batch: usize,
    },
    /// Data-parallel training failed on this rank: a collective did not
    /// complete in time (another rank died or hangs), or MPI reported an error.
    Distributed {
        /// This process's rank.
        rank: usize,
        /// What happened.
        reason: String,
    },
    /// A data file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A weights or checkpoint file does not fit the model (or is not one).
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: crate::io::FileProblem,
    },
    /// A text data file is malformed.
    Parse {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A dataset's files are not on this machine (`kiln::datasets`): the
    /// directories searched and how to get the files.
    MissingData {
        /// Keras's name of the dataset.
        dataset: &'static str,
        /// Files, directories searched and how to get them.
        reason: String,
    },
    /// `to_json()` of a model with a layer Keras cannot express as a layer
    /// (`reduce_sum`, a `custom(…)` layer): no JSON is written.
    NotKerasSerializable {
        /// The layer's name (as `summary()` shows it).
        layer: String,
        /// What it is in `model!`.
        kind: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A binary data file (IDX) or a whole file is malformed; there is no
    /// line to point at.
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SampleCountMismatch { inputs, targets } => write!(f, "x holds {inputs} samples but y holds {targets}"),
            Self::MemberCountMismatch { first, other } => write!(f, "the members of a batch hold different numbers of samples: {first} and {other}"),
            Self::TargetShape { loss, expected, found } => write!(f, "{loss} needs targets of {expected} value(s) per sample, but they have {found}"),
            Self::LabelOutOfRange { label, sample, classes } => write!(f, "label {label}{hint} of sample {sample} is out of range for {classes} classes", hint = label_hint(*label)),
            Self::IdOutOfRange { id, sample, input_dim } => write!(f, "token id {id}{hint} in sample {sample} is out of range for an Embedding with input_dim {input_dim}", hint = id_hint(*id)),
            Self::TargetOutOfRange { value, sample, range, loss } => write!(f, "y: target {value} of sample {sample} is outside {range}, the range {loss} accepts"),
            Self::NonFinite { argument, value, sample, feature } => write!(f, "`{argument}` holds {value} at sample {sample}, feature {feature}, but every value must be finite"),
            Self::ValidationData(inner) => write!(f, "validation_data: {inner}"),
            Self::InvalidArgument { name, reason } => write!(f, "invalid argument `{name}`: {reason}"),
            Self::NoData(inner) => write!(f, "no samples to {inner}"),
            Self::NonFiniteLoss { loss, epoch, batch } => write!(f, "the loss is not finite ({loss}) at epoch {epoch}, batch {batch}; the step was not applied"),
            Self::NonFiniteGradient { parameter, index, epoch, batch } => write!(f, "the gradient of parameter `{parameter}` (number {index} in visiting order) is not finite at epoch {epoch}, batch {batch}; the step was not applied"),
            Self::Distributed { rank, reason } => write!(f, "distributed training failed on rank {rank}: {reason}"),
            Self::Io { path, source } => write!(f, "cannot read {path}: {source}", path = path.display()),
            Self::File { path, problem } => write!(f, "{path}: {problem}", path = path.display()),
            Self::Parse { path, line, reason } => write!(f, "{path}:{line}: {reason}", path = path.display()),
            Self::MissingData { dataset, reason } => write!(f, "the {dataset} dataset is missing: {reason}"),
            Self::NotKerasSerializable { layer, kind, reason } => write!(f, "layer `{layer}` ({kind}) has no Keras layer class, so the model has no Keras config: {reason}"),
            Self::Format { path, reason } => write!(f, "{path}: {reason}", path = path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// For an id that may be a negative `i32` cast with `as u32` (ids ≥ 2³¹
/// print as huge numbers): the value it probably was.
fn id_hint(id: u32) -> String {
    if id >= 1 << 31 {
        format!(" (read as i32: {}; a negative number cast to u32?)", id as i32)
    } else {
        String::new()
    }
}

/// [`id_hint`] for a label that came from `u32` targets (as `f32`, small
/// negative numbers cast to `u32` all round to 2³²).
fn label_hint(label: f32) -> String {
    if (2f32.powi(31)..=2f32.powi(32)).contains(&label) {
        " (a negative number cast to u32?)".into()
    } else {
        String::new()
    }
}

/// `Result<T, kiln::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Refuses a count argument `name` of 0 (a batch size, a step count, …):
/// [`Error::InvalidArgument`] "must be at least 1, but is 0".
pub(crate) fn at_least_one(name: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::InvalidArgument { name, reason: "must be at least 1, but is 0".into() });
    }
    Ok(())
}
