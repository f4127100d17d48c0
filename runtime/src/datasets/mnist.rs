//! MNIST handwritten digits (LeCun, Cortes & Burges): 60,000 training and
//! 10,000 test images of 28×28 pixels, labels 0–9. As Keras's
//! `keras.datasets.mnist.load_data()`; see [`crate::datasets`] for where the
//! files are looked for.

use std::path::Path;

use super::{IdxDataset, Split};
use crate::error::Result;

pub(crate) const DATASET: IdxDataset = IdxDataset {
    name: "mnist",
    files: [
        ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ],
    how_to_get: "Get the four MNIST IDX files (e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/) \
                 and set KILN_DATA to their directory, or call mnist::load_data_from(dir).",
};

/// `((x_train, y_train), (x_test, y_test))`: 60,000 and 10,000 images with
/// their labels, as Keras's `mnist.load_data()`.
///
/// ```no_run
/// let ((x_train, y_train), (x_test, y_test)) = kiln::datasets::mnist::load_data()?;
/// assert_eq!((x_train.len(), y_train.len(), x_test.len(), y_test.len()), (60000, 60000, 10000, 10000));
/// # Ok::<(), kiln::Error>(())
/// ```
///
/// # Errors
/// [`crate::Error::MissingData`] naming the directories searched when no
/// directory holds the four files; [`crate::Error::Format`] when a file's
/// checksum is not MNIST's; [`crate::Error::Io`] when a file cannot be read.
pub fn load_data() -> Result<Split> {
    DATASET.load()
}

/// As [`load_data`], from the four files in `dir`.
///
/// # Errors
/// As [`load_data`].
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<Split> {
    DATASET.load_from(dir.as_ref())
}
