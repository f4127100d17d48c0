//! Reading and writing the safetensors container.

use super::FileProblem;
use kiln_format::safetensors::{self, Dtype, SafeTensors, Tensor};
use std::collections::BTreeMap;

/// Metadata key naming the file's kind.
pub const FORMAT_KEY: &str = "format";
/// Metadata key of the file's format version.
pub const VERSION_KEY: &str = "format_version";

/// A parsed file: metadata and `F32` tensors by name (shape, values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    /// The header's metadata.
    pub metadata: BTreeMap<String, String>,
    /// Every tensor: name → (shape, row-major values).
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TensorFile {
    /// A file of `format`, version `version`, with no tensors yet.
    pub fn new(format: &str, version: &str) -> Self {
        let metadata =
            BTreeMap::from([(FORMAT_KEY.to_string(), format.into()), (VERSION_KEY.to_string(), version.into())]);
        TensorFile { metadata, tensors: BTreeMap::new() }
    }

    /// Parses `bytes`, checking that the file is of `format` and `version`.
    pub fn parse(bytes: &[u8], format: &'static str, version: &'static str) -> Result<Self, FileProblem> {
        let file = checked(bytes, format, version)?;
        let metadata = file.metadata.unwrap_or_default();
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors {
            if view.dtype() != Dtype::F32 {
                return Err(FileProblem::Dtype { tensor: name, found: view.dtype().to_string() });
            }
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(TensorFile { metadata, tensors })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FileProblem> {
        // A file every loader would refuse is not written either.
        for (name, (_, values)) in &self.tensors {
            super::check_finite(name, values)?;
        }
        let bytes: Vec<(&String, Vec<u8>, &Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(name, (shape, values))| (name, values.iter().flat_map(|v| v.to_le_bytes()).collect(), shape))
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data, shape)| {
                Tensor::new(Dtype::F32, shape.to_vec(), data)
                    .map(|view| (name.as_str(), view))
                    .map_err(|e| FileProblem::Corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize(views, Some(&self.metadata)).map_err(|e| FileProblem::Corrupt(e.to_string()))
    }

    /// Metadata entry `key`.
    pub fn meta(&self, key: &'static str) -> Result<&str, FileProblem> {
        self.metadata.get(key).map(String::as_str).ok_or(FileProblem::Metadata { key, found: None })
    }

    /// Metadata entry `key` parsed as `T`.
    pub fn meta_parsed<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, FileProblem> {
        let value = self.meta(key)?;
        value.parse().map_err(|_| FileProblem::Metadata { key, found: Some(value.to_string()) })
    }

    /// Removes tensor `name`, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FileProblem> {
        match self.tensors.remove(name) {
            None => Err(FileProblem::MissingTensor { tensor: name.to_string(), expected: shape.to_vec() }),
            Some((found, _)) if found != shape => {
                Err(FileProblem::Shape { tensor: name.to_string(), expected: shape.to_vec(), found })
            }
            Some((_, values)) => super::check_finite(name, &values).map(|()| values),
        }
    }

    /// Fails on the first tensor left over.
    pub fn expect_no_more(&self) -> Result<(), FileProblem> {
        match self.tensors.iter().next() {
            Some((name, (shape, _))) => {
                Err(FileProblem::UnexpectedTensor { tensor: name.clone(), found: shape.clone() })
            }
            None => Ok(()),
        }
    }
}

/// The safetensors file `bytes` parsed, its metadata checked to declare
/// `format` and `version` (every kiln file format shares this check).
pub(crate) fn checked<'a>(
    bytes: &'a [u8],
    format: &'static str,
    version: &'static str,
) -> Result<SafeTensors<'a>, FileProblem> {
    let file = safetensors::deserialize(bytes).map_err(|e| FileProblem::Corrupt(e.to_string()))?;
    let meta = |key| file.metadata.as_ref().and_then(|m| m.get(key));
    let found = meta(FORMAT_KEY).cloned().unwrap_or_default();
    if found != format {
        return Err(FileProblem::Format { expected: format, found });
    }
    match meta(VERSION_KEY) {
        Some(v) if v == version => Ok(file),
        Some(v) => Err(FileProblem::Version { found: v.clone(), supported: version }),
        None => Err(FileProblem::Metadata { key: VERSION_KEY, found: None }),
    }
}
