//! `save_weights` / `load_weights`.

use super::{write_atomically, FileProblem, TensorFile};
use crate::error::{Error, Result};
use crate::network::Network;
use std::path::Path;

/// The `format` metadata of a weights file.
pub const WEIGHTS_FORMAT: &str = "kiln.weights";
/// The weights format version this build writes and reads.
pub const WEIGHTS_VERSION: &str = "1";

/// Adds every parameter of `network` to `file` under its Keras path.
pub(crate) fn add_weights<N: Network + ?Sized>(network: &N, file: &mut TensorFile) {
    let mut paths = network.param_paths().into_iter();
    network.params(&mut |p| {
        let path = paths.next().expect("one path per parameter");
        file.tensors.insert(path, (p.shape.clone(), p.value.to_vec()));
    });
}

/// Takes every parameter's values out of `file`, checked against the
/// network's shapes, in `visit_params` order (nothing is written yet).
pub(crate) fn take_weights<N: Network + ?Sized>(
    network: &N,
    file: &mut TensorFile,
) -> Result<Vec<Vec<f32>>, FileProblem> {
    let paths = network.param_paths();
    let mut shapes = Vec::new();
    network.params(&mut |p| shapes.push(p.shape.clone()));
    paths.iter().zip(&shapes).map(|(path, shape)| file.take(path, shape)).collect()
}

/// Writes values taken by [`take_weights`] into the network.
pub(crate) fn set_weights<N: Network + ?Sized>(network: &mut N, values: Vec<Vec<f32>>) {
    let mut values = values.into_iter();
    network.visit_params(&mut |p| p.value = values.next().expect("one tensor per parameter").into());
}

/// The weights file's bytes (see [`crate::io`] for the format).
pub fn weights_to_bytes<N: Network + ?Sized>(network: &N) -> Result<Vec<u8>> {
    let mut file = TensorFile::new(WEIGHTS_FORMAT, WEIGHTS_VERSION);
    add_weights(network, &mut file);
    file.to_bytes().map_err(|problem| Error::File { path: "<memory>".into(), problem })
}

/// Saves every parameter of `network` to `path`, atomically.
///
/// # Errors
/// [`Error::File`] with [`FileProblem::NonFinite`] naming the tensor when a
/// value is NaN or infinite (no loader would take the file; nothing is
/// written), or the I/O error.
pub fn save_weights<N: Network + ?Sized>(network: &N, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = weights_to_bytes(network)?;
    write_atomically(path, |w| w.write_all(&bytes))
}

/// Loads weights saved by [`save_weights`] (or the weights of a
/// checkpoint) from `bytes`; on any problem the network is unchanged.
pub fn load_weights_from_bytes<N: Network + ?Sized>(network: &mut N, bytes: &[u8]) -> Result<(), FileProblem> {
    let mut file = match TensorFile::parse(bytes, WEIGHTS_FORMAT, WEIGHTS_VERSION) {
        Err(FileProblem::Format { found, .. }) if found == crate::train::CHECKPOINT_FORMAT => {
            let mut file = TensorFile::parse(bytes, crate::train::CHECKPOINT_FORMAT, crate::train::CHECKPOINT_VERSION)?;
            file.tensors.retain(|name, _| !name.starts_with("optimizer/"));
            file
        }
        other => other?,
    };
    let values = take_weights(network, &mut file)?;
    file.expect_no_more()?;
    set_weights(network, values);
    Ok(())
}

/// Loads weights from `path`: every parameter by its Keras path, shapes
/// checked, no tensor missing or left over. On any problem the network is
/// unchanged and the error names the tensor.
pub fn load_weights<N: Network + ?Sized>(network: &mut N, path: impl AsRef<Path>) -> Result<()> {
    super::read_file(path.as_ref(), |bytes| load_weights_from_bytes(network, bytes))
}
