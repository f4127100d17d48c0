//! The quantized weights file: safetensors with `I8` and `F32` tensors.

use crate::io::FileProblem;
use kiln_format::safetensors::{self, Dtype, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// `format` metadata of a quantized weights file.
pub const QFILE_FORMAT: &str = "kiln.int8";
/// `format_version` metadata of a quantized weights file.
pub const QFILE_VERSION: &str = "1";

/// Quantized tensors by name, read from or written to a safetensors file
/// (format [`QFILE_FORMAT`], version [`QFILE_VERSION`]).
///
/// Layers put their tensors in with `save(prefix, &mut file)` and take
/// them out with `load(prefix, &mut file, …)`; [`QFile::expect_no_more`]
/// then rejects leftovers, as the f32 weights loader does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QFile {
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    /// Metadata besides format and version (a whole model's `architecture`).
    metadata: BTreeMap<String, String>,
}

impl QFile {
    /// An empty file.
    pub fn new() -> Self {
        QFile::default()
    }

    /// Sets metadata entry `key` (`format` and `format_version` are the file's own).
    pub fn set_meta(&mut self, key: &str, value: String) {
        self.metadata.insert(key.to_string(), value);
    }

    /// Metadata entry `key`, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Adds an `I8` tensor.
    pub fn put_i8(&mut self, name: String, shape: &[usize], values: &[i8]) {
        self.tensors.insert(name, (Dtype::I8, shape.to_vec(), values.iter().map(|&v| v as u8).collect()));
    }

    /// Adds an `F32` tensor (little-endian).
    pub fn put_f32(&mut self, name: String, shape: &[usize], values: &[f32]) {
        self.tensors.insert(name, (Dtype::F32, shape.to_vec(), values.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }

    fn take(&mut self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<Vec<u8>, FileProblem> {
        match self.tensors.remove(name) {
            None => Err(FileProblem::MissingTensor { tensor: name.to_string(), expected: shape.to_vec() }),
            Some((d, _, _)) if d != dtype => {
                Err(FileProblem::Dtype { tensor: name.to_string(), found: format!("{d:?}") })
            }
            Some((_, found, _)) if found != shape => {
                Err(FileProblem::Shape { tensor: name.to_string(), expected: shape.to_vec(), found })
            }
            Some((_, _, bytes)) => Ok(bytes),
        }
    }

    /// Removes `I8` tensor `name`, checking its dtype and shape.
    pub fn take_i8(&mut self, name: &str, shape: &[usize]) -> Result<Vec<i8>, FileProblem> {
        Ok(self.take(name, Dtype::I8, shape)?.into_iter().map(|b| b as i8).collect())
    }

    /// Removes `F32` tensor `name`, checking its dtype and shape.
    pub fn take_f32(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FileProblem> {
        let bytes = self.take(name, Dtype::F32, shape)?;
        // Scales, biases and activation parameters: a NaN or infinity is damage.
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        crate::io::check_finite(name, &values).map(|()| values)
    }

    /// Fails on the first tensor left over.
    pub fn expect_no_more(&self) -> Result<(), FileProblem> {
        match self.tensors.iter().next() {
            Some((name, (_, shape, _))) => {
                Err(FileProblem::UnexpectedTensor { tensor: name.clone(), found: shape.clone() })
            }
            None => Ok(()),
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FileProblem> {
        let views = self
            .tensors
            .iter()
            .map(|(name, (dtype, shape, data))| {
                Tensor::new(*dtype, shape.clone(), data)
                    .map(|view| (name.as_str(), view))
                    .map_err(|e| FileProblem::Corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fixed = [(crate::io::FORMAT_KEY, QFILE_FORMAT), (crate::io::VERSION_KEY, QFILE_VERSION)];
        let fixed = fixed.into_iter().map(|(k, v)| (k.to_string(), v.to_string()));
        // The format's own entries last, so they win over any stray copy.
        let metadata: BTreeMap<String, String> = self.metadata.clone().into_iter().chain(fixed).collect();
        safetensors::serialize(views, Some(&metadata)).map_err(|e| FileProblem::Corrupt(e.to_string()))
    }

    /// Parses a file's bytes (e.g. from `include_bytes!`), checking its
    /// format, version and dtypes (`I8` or `F32` only).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FileProblem> {
        let file = crate::io::checked(bytes, QFILE_FORMAT, QFILE_VERSION)?;
        let mut metadata = file.metadata.unwrap_or_default();
        metadata.remove(crate::io::FORMAT_KEY);
        metadata.remove(crate::io::VERSION_KEY);
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors {
            if !matches!(view.dtype(), Dtype::I8 | Dtype::F32) {
                return Err(FileProblem::Dtype { tensor: name, found: view.dtype().to_string() });
            }
            tensors.insert(name, (view.dtype(), view.shape().to_vec(), view.data().to_vec()));
        }
        Ok(QFile { tensors, metadata })
    }

    /// Writes the file atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> crate::Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes().map_err(|problem| crate::Error::File { path: path.to_path_buf(), problem })?;
        crate::io::write_atomically(path, |w| w.write_all(&bytes))
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> crate::Result<Self> {
        crate::io::read_file(path.as_ref(), QFile::from_bytes)
    }
}
