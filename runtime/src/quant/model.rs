//! Whole int8 models: the traits and helpers the `model!` macro's
//! `<Name>Int8` type is generated over (see `macros/src/codegen/quant.rs`).
//!
//! The generated code only lists the layers; everything else — calibration
//! checks, batching, buffers, files — is generic code here, so a model's
//! int8 type adds little to its build time.

use super::{ActivationRange, QDense, QEmbedding, QFile, QLstm, QScratch};
use crate::io::FileProblem;
use crate::layers::{Dense, Embedding, Layer, Lstm};
use crate::sample::Element;
use crate::summary::Summary;
use crate::{Error, Result};
use std::cell::RefCell;
use std::path::Path;

/// A layer of an int8 model: one-sample and batched inference, and its
/// tensors in a [`QFile`].
pub trait QLayer: Send + Sync {
    /// Element type of the input (`f32`, or `u32` for token ids).
    type In: Element;
    /// Values per sample read.
    const INPUT_LEN: usize;
    /// Values per sample written.
    const OUTPUT_LEN: usize;

    /// Checks ids read from a model input (only `QEmbedding` has a limit).
    fn check_ids(&self, _ids: &[Self::In]) -> Result<()> {
        Ok(())
    }

    /// `y = layer(x)` for one sample, with no heap allocation.
    fn forward_one(&self, x: &[Self::In], y: &mut [f32]);

    /// `y = layer(x)` for `batch` samples (by default one at a time).
    fn forward(&self, x: &[Self::In], y: &mut [f32], batch: usize, _scratch: &mut QScratch) {
        let (i, o) = (Self::INPUT_LEN.max(1), Self::OUTPUT_LEN.max(1));
        for (xs, ys) in x.chunks_exact(i).zip(y.chunks_exact_mut(o)).take(batch) {
            self.forward_one(xs, ys);
        }
    }

    /// Puts the layer's tensors into `file` under `prefix` (nothing for a
    /// layer without weights).
    fn save(&self, _prefix: &str, _file: &mut QFile) {}
}

/// A trained f32 layer with an int8 form.
pub trait Quantize: Layer {
    /// The int8 layer.
    type Quantized: QLayer<In = Self::In>;

    /// Quantizes the layer; `input` is the range of the values it read
    /// on the calibration samples (unused by `Embedding`, which reads ids).
    fn quantize(&self, input: &ActivationRange) -> Result<Self::Quantized>;

    /// Reads the int8 form from `file`; `self` supplies the architecture
    /// (activations), which the file does not hold.
    fn load_quantized(&self, prefix: &str, file: &mut QFile) -> Result<Self::Quantized, FileProblem>;
}

impl<const I: usize, const O: usize> QLayer for QDense<I, O> {
    type In = f32;
    const INPUT_LEN: usize = I;
    const OUTPUT_LEN: usize = O;
    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        QDense::forward_one(self, x, y);
    }
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, scratch: &mut QScratch) {
        QDense::forward(self, x, y, batch, scratch);
    }
    fn save(&self, prefix: &str, file: &mut QFile) {
        QDense::save(self, prefix, file);
    }
}

impl<const I: usize, const O: usize> Quantize for Dense<I, O> {
    type Quantized = QDense<I, O>;
    fn quantize(&self, input: &ActivationRange) -> Result<QDense<I, O>> {
        QDense::quantize(self, input.params()?)
    }
    fn load_quantized(&self, prefix: &str, file: &mut QFile) -> Result<QDense<I, O>, FileProblem> {
        QDense::load(prefix, file, self.activation)
    }
}

impl<const V: usize, const D: usize, const T: usize> QLayer for QEmbedding<V, D, T> {
    type In = u32;
    const INPUT_LEN: usize = T;
    const OUTPUT_LEN: usize = T * D;
    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        QEmbedding::check_ids(self, ids)
    }
    fn forward_one(&self, x: &[u32], y: &mut [f32]) {
        QEmbedding::forward_one(self, x, y);
    }
    fn save(&self, prefix: &str, file: &mut QFile) {
        QEmbedding::save(self, prefix, file);
    }
}

impl<const V: usize, const D: usize, const T: usize> Quantize for Embedding<V, D, T> {
    type Quantized = QEmbedding<V, D, T>;
    fn quantize(&self, _input: &ActivationRange) -> Result<QEmbedding<V, D, T>> {
        QEmbedding::quantize(self)
    }
    fn load_quantized(&self, prefix: &str, file: &mut QFile) -> Result<QEmbedding<V, D, T>, FileProblem> {
        QEmbedding::load(prefix, file)
    }
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> QLayer for QLstm<D, U, T, SEQ> {
    type In = f32;
    const INPUT_LEN: usize = T * D;
    const OUTPUT_LEN: usize = if SEQ { T * U } else { U };
    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        QLstm::forward_one(self, x, y);
    }
    fn save(&self, prefix: &str, file: &mut QFile) {
        QLstm::save(self, prefix, file);
    }
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Quantize for Lstm<D, U, T, SEQ> {
    type Quantized = QLstm<D, U, T, SEQ>;
    fn quantize(&self, input: &ActivationRange) -> Result<QLstm<D, U, T, SEQ>> {
        QLstm::quantize(self, input.params()?)
    }
    fn load_quantized(&self, prefix: &str, file: &mut QFile) -> Result<QLstm<D, U, T, SEQ>, FileProblem> {
        QLstm::load(prefix, file, self.activation, self.recurrent_activation)
    }
}

/// A layer without weights (activation, dropout, reshaping, pooling) in an
/// int8 model: the f32 layer itself, in inference mode.
#[derive(Clone, Debug)]
pub struct Same<L>(pub L);

impl<L: Layer + Send + Sync> QLayer for Same<L> {
    type In = L::In;
    const INPUT_LEN: usize = L::INPUT_LEN;
    const OUTPUT_LEN: usize = L::OUTPUT_LEN;
    fn check_ids(&self, ids: &[L::In]) -> Result<()> {
        self.0.check_ids(ids)
    }
    fn forward_one(&self, x: &[L::In], y: &mut [f32]) {
        self.0.forward_one(x, y);
    }
}

/// Checks a batched int8 prediction's arguments before any work, as the
/// f32 `predict` does: `batch_size` at least 1 and every value of the flat
/// inputs `x` (`len` per sample) finite (a NaN would quantize to a code
/// and give an output that looks like any other).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `batch_size`, [`Error::NonFinite`]
/// naming `x`, the sample and the feature.
pub fn check_predict<E: Element>(x: &[E], len: usize, batch_size: usize) -> Result<()> {
    crate::error::at_least_one("batch_size", batch_size)?;
    match E::first_non_finite(x) {
        Some(i) => Err(Error::NonFinite {
            argument: "x".into(),
            value: x[i].to_f32(),
            sample: i / len.max(1),
            feature: i % len.max(1),
        }),
        None => Ok(()),
    }
}

/// Checks calibration samples given as flat values, `len` per sample:
/// at least one whole sample and only finite values. Returns the count.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `samples`.
pub fn calibration_count<E: Element>(flat: &[E], len: usize) -> Result<usize> {
    if len == 0 || flat.is_empty() || !flat.len().is_multiple_of(len) {
        return Err(Error::InvalidArgument {
            name: "samples",
            reason: format!("calibration needs one or more whole samples of {len} values, found {} values", flat.len()),
        });
    }
    if let Some(i) = E::first_non_finite(flat) {
        return Err(Error::InvalidArgument {
            name: "samples",
            reason: format!("calibration values must be finite, found {:?} in sample {}", flat[i], i / len),
        });
    }
    Ok(flat.len() / len)
}

/// The rows of a model's summary an int8 file records (metadata
/// `architecture`), so a file of another model is rejected by name.
pub fn architecture(summary: &Summary) -> String {
    let rows = summary.rows.iter().map(|r| format!("{} ({}) {}", r.name, r.kind, r.output_shape));
    rows.collect::<Vec<_>>().join("\n")
}

/// Checks that `file` was written for a model of `expected` architecture
/// ([`architecture`]).
pub fn check_architecture(file: &QFile, expected: &str) -> Result<(), FileProblem> {
    let found = file.meta("architecture").ok_or(FileProblem::Metadata { key: "architecture", found: None })?;
    let (e, f): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), found.lines().collect());
    match (0..e.len().max(f.len())).find(|&i| e.get(i) != f.get(i)) {
        None => Ok(()),
        Some(index) => {
            let row = |rows: &[&str]| rows.get(index).map_or_else(|| "no layer".to_string(), |r| r.to_string());
            Err(FileProblem::Architecture { index, expected: row(&e), found: row(&f) })
        }
    }
}

/// Reads the int8 file at `path` with `parse` (errors name the file).
pub fn load_path<T>(path: impl AsRef<Path>, parse: impl FnOnce(&[u8]) -> Result<T, FileProblem>) -> Result<T> {
    crate::io::read_file(path.as_ref(), parse)
}

/// [`QFile::from_bytes`], errors named as the bytes of `include_bytes!` data (`<bytes>`).
pub fn bytes_error(problem: FileProblem) -> Error {
    Error::File { path: "<bytes>".into(), problem }
}

/// Buffers of batched int8 inference: two activation buffers used in turn
/// by a chain of layers, and the `u8` scratch. Grow to the largest batch
/// seen, then allocate nothing.
#[derive(Debug, Default)]
pub struct QBuffers {
    a: Vec<f32>,
    b: Vec<f32>,
    scratch: QScratch,
}

impl QBuffers {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The two activation buffers (`len` values each) and the scratch.
    pub fn parts(&mut self, len: usize) -> (&mut [f32], &mut [f32], &mut QScratch) {
        if self.a.len() < len {
            self.a.resize(len, 0.0);
            self.b.resize(len, 0.0);
        }
        (&mut self.a[..len], &mut self.b[..len], &mut self.scratch)
    }

    /// Runs `f` with this thread's buffers (kept between calls, so batched
    /// prediction stops allocating after the first call); a re-entrant
    /// call gets fresh ones.
    pub fn with_thread_local<R>(f: impl FnOnce(&mut QBuffers) -> R) -> R {
        thread_local! {
            static BUFFERS: RefCell<QBuffers> = RefCell::new(QBuffers::default());
        }
        let mut f = Some(f);
        let done = BUFFERS.try_with(|cell| cell.try_borrow_mut().ok().map(|mut b| (f.take().expect("once"))(&mut b)));
        match done {
            Ok(Some(value)) => value,
            _ => (f.take().expect("not run"))(&mut QBuffers::default()),
        }
    }
}
