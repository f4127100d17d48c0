//! A Dense network trained on scikit-learn's 8×8 handwritten digits
//! (`data/digits.csv.gz`, 1,797 images), evaluated on a held-out 20%.
//!
//! ```text
//! cargo run --release --example digits
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

/// Held-out accuracy of a network trained with `seed` (also the split's seed).
pub fn train_and_evaluate(seed: u64, verbose: u8) -> kiln::Result<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let rows = read_csv(path)?;
    let (train, test) = train_test_split(rows.len(), 0.2, seed);
    let pick = |indices: &[usize]| {
        let x: Vec<[f32; 64]> = indices.iter().map(|&i| std::array::from_fn(|j| rows[i][j])).collect();
        let y: Vec<u32> = indices.iter().map(|&i| rows[i][64] as u32).collect();
        (x, y)
    };
    let (mut x_train, y_train) = pick(&train);
    let (mut x_test, y_test) = pick(&test);

    // Standardize with statistics of the training set only.
    let scaler = StandardScaler::fit(x_train.as_flattened(), 64);
    scaler.transform(x_train.as_flattened_mut());
    scaler.transform(x_test.as_flattened_mut());

    let mut model = DigitsNet::new(seed).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    if verbose > 0 {
        println!("{}", model.summary());
    }
    model.set_shuffle_seed(seed);
    model.fit(&x_train, &y_train).epochs(20).batch_size(32).verbose(verbose).validation_split(0.1).run()?;
    let logs = model.evaluate(&x_test, &y_test, 128)?;
    Ok(logs.get("accuracy").unwrap_or(0.0))
}

#[allow(dead_code)] // the test that includes this file uses only `train_and_evaluate`
fn main() -> kiln::Result<()> {
    let accuracy = train_and_evaluate(7, 2)?;
    println!("held-out test accuracy: {:.2}%", accuracy * 100.0);
    Ok(())
}
