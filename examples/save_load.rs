//! A trained model leaves the process and comes back: weights to a
//! safetensors file (tensors named by Keras's variable paths), a whole
//! checkpoint (weights, optimizer state, epoch, shuffling state), and a
//! resumed run that continues exactly where the first one stopped.
//!
//! ```text
//! cargo run --release --example save_load
//! ```

use kiln::data::{read_csv, train_test_split, StandardScaler};
use kiln::prelude::*;

kiln::model! {
    /// 64 standardized pixels → 10 class probabilities.
    pub struct DigitsNet {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

type Data = (Vec<[f32; 64]>, Vec<u32>);

/// scikit-learn's digits, standardized, split 80/20.
fn digits() -> kiln::Result<(Data, Data)> {
    let rows = read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz"))?;
    let (train, test) = train_test_split(rows.len(), 0.2, 7);
    let pick = |indices: &[usize]| -> Data {
        let x = indices.iter().map(|&i| std::array::from_fn(|j| rows[i][j])).collect();
        let y = indices.iter().map(|&i| rows[i][64] as u32).collect();
        (x, y)
    };
    let ((mut x_train, y_train), (mut x_test, y_test)) = (pick(&train), pick(&test));
    let scaler = StandardScaler::fit(x_train.as_flattened(), 64);
    scaler.transform(x_train.as_flattened_mut());
    scaler.transform(x_test.as_flattened_mut());
    Ok(((x_train, y_train), (x_test, y_test)))
}

fn compiled(seed: u64) -> Model<DigitsNet> {
    DigitsNet::new(seed).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy])
}

fn main() -> kiln::Result<()> {
    let ((x, y), (x_test, y_test)) = digits()?;
    let dir = std::env::temp_dir().join(format!("kiln-save-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| kiln::Error::Io { path: dir.clone(), source })?;
    let (weights_path, checkpoint_path) = (dir.join("digits.safetensors"), dir.join("digits.ckpt"));

    // Train three epochs, then save the weights and a checkpoint.
    let mut model = compiled(1);
    model.fit(&x, &y).epochs(3).batch_size(32).verbose(0).run()?;
    model.save_weights(&weights_path)?;
    model.save(&checkpoint_path)?;
    println!("saved {} ({} bytes) and {}", weights_path.display(), file_len(&weights_path), checkpoint_path.display());
    println!("tensors: {}", model.param_paths().join(", "));

    // A fresh network (other initial weights) with the saved weights predicts the same.
    let mut restored = DigitsNet::new(2);
    restored.load_weights(&weights_path)?;
    let same = x_test.iter().all(|s| restored.predict_one(s) == model.predict_one(s));
    println!("restored weights predict identically: {same}");

    // Resume from the checkpoint for three more epochs: exactly what six
    // uninterrupted epochs give.
    let mut resumed = compiled(3);
    resumed.load(&checkpoint_path)?;
    let start = resumed.epoch();
    let tail = resumed.fit(&x, &y).initial_epoch(start).epochs(6).batch_size(32).verbose(0).run()?;
    let mut straight = compiled(1);
    let full = straight.fit(&x, &y).epochs(6).batch_size(32).verbose(0).run()?;
    let resumed_losses = tail.get("loss").unwrap_or(&[]);
    let straight_losses = &full.get("loss").unwrap_or(&[])[start..];
    println!("resumed at epoch {start}: losses {resumed_losses:?}");
    println!("uninterrupted run:       losses {straight_losses:?}");
    println!("resume is exact: {}", resumed_losses == straight_losses);
    let accuracy = resumed.evaluate(&x_test, &y_test, 128)?.get("accuracy").unwrap_or(0.0);
    println!("held-out accuracy after resuming: {:.2}%", accuracy * 100.0);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
