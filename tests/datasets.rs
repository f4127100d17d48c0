//! `kiln::datasets`: the full MNIST and Fashion-MNIST when their files are
//! on this machine (otherwise the test says it skipped), and the errors for
//! missing files and for a file that is not the dataset's.
//!
//! The expected values were read from the same IDX files with numpy
//! (`np.frombuffer(gzip.open(f).read()[16:], np.uint8).reshape(-1, 28, 28)`),
//! and the first labels are those Keras's tutorials show
//! (`y_train[:10]` = 5 0 4 1 9 2 1 3 1 4 for MNIST, 9 0 0 3 0 2 7 2 5 5 for
//! Fashion-MNIST).

use kiln::datasets::{fashion_mnist, mnist, to_f32, Split};
use kiln::Error;
use std::path::PathBuf;

struct Expected {
    first_labels: [u8; 10],
    train_counts: [usize; 10],
    test_counts: [usize; 10],
    first_image_sum: u64,
    train_pixel_sum: u64,
    test_pixel_sum: u64,
    first_image_row_14: [u8; 28],
}

fn check(name: &str, loaded: kiln::Result<Split>, e: Expected) {
    let ((x_train, y_train), (x_test, y_test)) = match loaded {
        Err(Error::MissingData { .. }) => {
            // The files are outside the repository; CI installs
            // Fashion-MNIST when it can (`.ci/run`).
            eprintln!("SKIPPED: the full {name} is not on this machine");
            return;
        }
        other => other.unwrap(),
    };
    assert_eq!((x_train.len(), y_train.len(), x_test.len(), y_test.len()), (60000, 60000, 10000, 10000));
    assert_eq!(y_train[..10], e.first_labels);
    let counts = |y: &[u8]| {
        let mut c = [0usize; 10];
        y.iter().for_each(|&l| c[l as usize] += 1);
        c
    };
    assert_eq!((counts(&y_train), counts(&y_test)), (e.train_counts, e.test_counts));
    let sum = |x: &[kiln::datasets::Image]| x.as_flattened().as_flattened().iter().map(|&p| p as u64).sum::<u64>();
    assert_eq!(
        (sum(&x_train[..1]), sum(&x_train), sum(&x_test)),
        (e.first_image_sum, e.train_pixel_sum, e.test_pixel_sum)
    );
    assert_eq!(x_train[0][14], e.first_image_row_14);
    let as_f32 = to_f32(&x_train[..1]);
    assert_eq!(as_f32[0][14][14], e.first_image_row_14[14] as f32);
}

#[test]
fn mnist_loads_as_keras_when_present() {
    let row = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 81, 240, 253, 253, 119, 25, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    check(
        "MNIST",
        mnist::load_data(),
        Expected {
            first_labels: [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
            train_counts: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
            test_counts: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
            first_image_sum: 27525,
            train_pixel_sum: 1567298545,
            test_pixel_sum: 264923200,
            first_image_row_14: row,
        },
    );
}

#[test]
fn fashion_mnist_loads_as_keras_when_present() {
    let row = [
        0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226, 217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77, 0,
    ];
    check(
        "Fashion-MNIST",
        fashion_mnist::load_data(),
        Expected {
            first_labels: [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
            train_counts: [6000; 10],
            test_counts: [1000; 10],
            first_image_sum: 76247,
            train_pixel_sum: 3431114169,
            test_pixel_sum: 573469082,
            first_image_row_14: row,
        },
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-datasets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The repository's `data/` holds only the Fashion-MNIST test set: the
/// error names the files, the directory and how to install the dataset.
#[test]
fn missing_files_are_an_error_saying_how_to_get_them() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let err = fashion_mnist::load_data_from(data).unwrap_err();
    assert!(matches!(err, Error::MissingData { dataset: "fashion-mnist", .. }), "{err:?}");
    let text = err.to_string();
    for part in ["train-images-idx3-ubyte", "apt-get install dataset-fashion-mnist", "KILN_DATA", data] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    let err = mnist::load_data_from(temp_dir("empty")).unwrap_err().to_string();
    assert!(err.starts_with("the mnist dataset is missing: train-images-idx3-ubyte, "), "{err}");
}

/// A file under the right name whose contents are not the dataset's is an
/// error naming it, with both checksums.
#[test]
fn a_checksum_mismatch_is_an_error() {
    let dir = temp_dir("mismatch");
    // The real Fashion-MNIST test files from `data/`, and training files
    // that hold only the first 100 test images (valid IDX files, wrong data).
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(format!("{data}/{f}"), dir.join(f)).unwrap();
    }
    let (_, pixels) = kiln::data::read_idx(format!("{data}/t10k-images-idx3-ubyte.gz")).unwrap();
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend_from_slice(&pixels[..100 * 784]);
    std::fs::write(dir.join("train-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 1, 9]).unwrap();
    let err = fashion_mnist::load_data_from(&dir).unwrap_err();
    let Error::Format { path, reason } = &err else { panic!("{err:?}") };
    assert_eq!(path, &dir.join("train-images-idx3-ubyte"));
    assert!(reason.contains("expected c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"), "{reason}");
    // The uncompressed file is read as such (its SHA-256 is of these bytes;
    // `sha256_hex` itself is checked against the `sha2` crate in dev-tests).
    let digest = kiln::datasets::sha256_hex(&images);
    assert!(reason.contains(&format!("SHA-256 {digest}")), "{reason}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `.gz` files are read as Python's `gzip` reads them (the expected values
/// are `gzip.open(f).read()` from Python), and a damaged one is an error
/// naming the file and what is wrong, never a panic or short data.
#[test]
fn gzipped_files_match_python_and_damage_is_named() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let images = kiln::data::read_bytes(format!("{data}/t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(images.len(), 7_840_016);
    assert_eq!(images[16..].iter().map(|&p| u64::from(p)).sum::<u64>(), 573_469_082);
    let (dims, labels) = kiln::data::read_idx(format!("{data}/t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!((dims, &labels[..10]), (vec![10_000], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7][..]));

    let dir = temp_dir("damaged_gzip");
    let gz = std::fs::read(format!("{data}/t10k-labels-idx1-ubyte.gz")).unwrap();
    let truncated = dir.join("truncated.gz");
    std::fs::write(&truncated, &gz[..gz.len() / 2]).unwrap();
    let mut flipped = gz.clone();
    let n = flipped.len();
    flipped[n - 6] ^= 0x10; // inside the stored CRC-32
    let corrupt = dir.join("corrupt.gz");
    std::fs::write(&corrupt, &flipped).unwrap();
    for (path, what) in [(&truncated, "truncated"), (&corrupt, "CRC-32")] {
        let err = kiln::data::read_idx(path).unwrap_err();
        let Error::Format { path: named, reason } = &err else { panic!("{err:?}") };
        assert_eq!(named, path);
        assert!(reason.contains(what), "{reason}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
