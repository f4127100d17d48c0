//! Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, Zalando): 60,000 training
//! and 10,000 test images of clothing, 28×28 pixels, labels 0–9
//! ([`CLASS_NAMES`]). As Keras's `keras.datasets.fashion_mnist.load_data()`;
//! see [`crate::datasets`] for where the files are looked for. On Debian,
//! `apt-get install dataset-fashion-mnist` installs them to
//! `/usr/share/datasets/fashion-mnist`, which is searched.

use std::path::Path;

use super::{IdxDataset, Split};
use crate::error::Result;

/// The classes of the labels 0–9, as in the tutorials.
pub const CLASS_NAMES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

pub(crate) const DATASET: IdxDataset = IdxDataset {
    name: "fashion-mnist",
    files: [
        ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ],
    how_to_get: "On Debian or Ubuntu: `sudo apt-get install dataset-fashion-mnist` (installs to \
                 /usr/share/datasets/fashion-mnist). Otherwise get the four files from \
                 https://github.com/zalandoresearch/fashion-mnist and set KILN_DATA to their directory, \
                 or call fashion_mnist::load_data_from(dir).",
};

/// `((x_train, y_train), (x_test, y_test))`: 60,000 and 10,000 images with
/// their labels, as Keras's `fashion_mnist.load_data()`.
///
/// ```no_run
/// use kiln::datasets::fashion_mnist;
/// let ((x_train, y_train), (x_test, y_test)) = fashion_mnist::load_data()?;
/// println!("first training image: {}", fashion_mnist::CLASS_NAMES[y_train[0] as usize]);
/// # Ok::<(), kiln::Error>(())
/// ```
///
/// # Errors
/// [`crate::Error::MissingData`] naming the directories searched and how to
/// install the files when no directory holds all four;
/// [`crate::Error::Format`] when a file's checksum is not Fashion-MNIST's;
/// [`crate::Error::Io`] when a file cannot be read.
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
