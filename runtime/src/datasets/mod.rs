//! Keras's built-in datasets, read from local IDX files:
//! [`mnist::load_data`] and [`fashion_mnist::load_data`] return
//! `((x_train, y_train), (x_test, y_test))` as Keras's `load_data()` does,
//! with Keras's types: 28×28 `u8` images and `u8` labels (use [`to_f32`] for
//! a model's `[f32; 28, 28]` input).
//!
//! kiln downloads nothing. Each loader looks for the four IDX files
//! (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each gzipped with
//! `.gz` or not) in, in order:
//!
//! 1. every directory in the environment variable `KILN_DATA`
//!    (`:`-separated), and its subdirectory named after the dataset
//!    (`mnist`, `fashion-mnist`);
//! 2. Keras's own cache, `~/.keras/datasets/<name>` (where
//!    `keras.datasets.fashion_mnist.load_data()` keeps the same files);
//! 3. `/usr/share/datasets/<name>` (Debian's `dataset-fashion-mnist`
//!    package installs Fashion-MNIST there);
//! 4. `shared/data/<name>` beside the kiln checkout or one level up (the
//!    workplace's copy).
//!
//! The first directory holding all four files is used; `load_data_from`
//! takes a directory instead. When none does, the error names every
//! directory searched and how to get the files. Every file's contents
//! (decompressed) must have the SHA-256 of the published dataset, so a
//! truncated download or another dataset under the same names is an error,
//! while recompressing the files is fine.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub mod fashion_mnist;
pub mod mnist;
mod sha256;

pub use sha256::{sha256, sha256_hex};

/// One 28×28 greyscale image, row by row (Keras's `x[i]`, `uint8`).
pub type Image = [[u8; 28]; 28];

/// `((x_train, y_train), (x_test, y_test))`, as Keras's `load_data()`.
pub type Split = ((Vec<Image>, Vec<u8>), (Vec<Image>, Vec<u8>));

/// Images as `f32` in `[0, 255]`, the input of a model's `[f32; 28, 28]`
/// (divide by 255 or standardize afterwards, as the tutorials do).
pub fn to_f32(images: &[Image]) -> Vec<[[f32; 28]; 28]> {
    images.iter().map(|img| img.map(|row| row.map(f32::from))).collect()
}

/// The four files of an IDX dataset with the SHA-256 of their decompressed
/// contents.
pub(crate) struct IdxDataset {
    /// Keras's name, also the directory name searched (`fashion-mnist`).
    pub name: &'static str,
    /// `(file name without .gz, sha256)` for train images, train labels,
    /// test images, test labels.
    pub files: [(&'static str, &'static str); 4],
    /// How to get the files, for the error when they are missing.
    pub how_to_get: &'static str,
}

impl IdxDataset {
    /// The directories searched, in order (see the module documentation).
    pub fn search_path(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(list) = std::env::var_os("KILN_DATA") {
            for dir in std::env::split_paths(&list).filter(|d| !d.as_os_str().is_empty()) {
                dirs.push(dir.join(self.name));
                dirs.push(dir);
            }
        }
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".keras/datasets").join(self.name));
        }
        dirs.push(Path::new("/usr/share/datasets").join(self.name));
        // Beside the checkout, or beside the directory of worktrees it is in.
        for up in ["..", "../.."] {
            dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(up).join("shared/data").join(self.name));
        }
        dirs
    }

    /// The path of `file` in `dir`, gzipped or not, if it exists.
    fn find(dir: &Path, file: &str) -> Option<PathBuf> {
        [dir.join(format!("{file}.gz")), dir.join(file)].into_iter().find(|p| p.is_file())
    }

    /// Loads from the first directory of the search path holding all four files.
    pub fn load(&self) -> Result<Split> {
        let dirs = self.search_path();
        match dirs.iter().find(|d| self.files.iter().all(|(f, _)| Self::find(d, f).is_some())) {
            Some(dir) => self.load_from(dir),
            None => Err(self.missing(&dirs)),
        }
    }

    fn missing(&self, dirs: &[PathBuf]) -> Error {
        let searched: Vec<String> = dirs.iter().map(|d| format!("  {}", d.display())).collect();
        let files: Vec<&str> = self.files.iter().map(|(f, _)| *f).collect();
        Error::MissingData {
            dataset: self.name,
            reason: format!(
                "{} not found (with or without .gz) in any of:\n{}\n{}",
                files.join(", "),
                searched.join("\n"),
                self.how_to_get
            ),
        }
    }

    /// Loads the four files from `dir`, checking their checksums and shapes.
    pub fn load_from(&self, dir: &Path) -> Result<Split> {
        let mut parts = Vec::with_capacity(4);
        for (file, sha) in self.files {
            let Some(path) = Self::find(dir, file) else {
                return Err(self.missing(&[dir.to_path_buf()]));
            };
            let bytes = crate::data::read_bytes(&path)?;
            let digest = sha256_hex(&bytes);
            if digest != sha {
                return Err(Error::Format {
                    path,
                    reason: format!(
                        "not the {} file {file}: its contents have SHA-256 {digest}, expected {sha} \
                         (a truncated or different file; get it again)",
                        self.name
                    ),
                });
            }
            parts.push((path, bytes));
        }
        let mut parts = parts.into_iter();
        let mut next = |images: bool| {
            let (path, bytes) = parts.next().expect("four files");
            decode(&path, bytes, images)
        };
        let (x_train, y_train, x_test, y_test) = (next(true)?, next(false)?, next(true)?, next(false)?);
        Ok(((x_train.0, y_train.1), (x_test.0, y_test.1)))
    }
}

/// Images (`images`) or labels from the bytes of an IDX file whose checksum
/// has been checked; the header is still verified, so the error is clear
/// if the table of checksums were wrong.
fn decode(path: &Path, bytes: Vec<u8>, images: bool) -> Result<(Vec<Image>, Vec<u8>)> {
    let bad = |reason: String| Error::Format { path: path.to_path_buf(), reason };
    let (rank, header) = if images { (3, 16) } else { (1, 8) };
    if bytes.len() < header || bytes[..3] != [0, 0, 8] || bytes[3] != rank {
        return Err(bad(format!("not an IDX file of rank {rank} with unsigned bytes")));
    }
    let dim = |d: usize| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize;
    if images && (dim(1), dim(2)) != (28, 28) {
        return Err(bad(format!("images are {}×{}, expected 28×28", dim(1), dim(2))));
    }
    let n = dim(0);
    let per = if images { 784 } else { 1 };
    if bytes.len() - header != n * per {
        return Err(bad(format!("header promises {} bytes, file holds {}", n * per, bytes.len() - header)));
    }
    let body = &bytes[header..];
    if images {
        let x = body
            .chunks_exact(784)
            .map(|img| std::array::from_fn(|r| img[r * 28..r * 28 + 28].try_into().expect("28 bytes")))
            .collect();
        Ok((x, Vec::new()))
    } else {
        Ok((Vec::new(), body.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `KILN_DATA` comes first, each directory with and without the
    /// dataset's name; Keras's cache and Debian's directory follow.
    #[test]
    fn search_path_starts_with_kiln_data() {
        std::env::set_var("KILN_DATA", "/a:/b");
        let dirs = fashion_mnist::DATASET.search_path();
        std::env::remove_var("KILN_DATA");
        let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        assert_eq!(shown[..4], ["/a/fashion-mnist", "/a", "/b/fashion-mnist", "/b"]);
        assert!(shown.contains(&"/usr/share/datasets/fashion-mnist".to_string()));
        assert!(shown.iter().any(|d| d.ends_with(".keras/datasets/fashion-mnist")));
    }
}
