//! The tutorials' Fashion-MNIST MLP: Flatten → 300 relu → 100 relu →
//! 10 softmax, SGD, sparse categorical cross-entropy, standardized pixels.
//!
//! Trains on 8,000 images of the Fashion-MNIST test set and validates on
//! the other 2,000 (the 25 MiB training images are not in the repository).
//!
//! ```text
//! cargo run --release --example mlp
//! ```

use kiln::data::{read_idx, StandardScaler};
use kiln::prelude::*;

kiln::model! {
    /// 28×28 images to ten class probabilities.
    pub struct Mlp {
        input image: [f32; 28, 28];
        let flat = Flatten()(image);
        let hidden1 = Dense(300, activation = relu)(flat);
        let hidden2 = Dense(100, activation = relu)(hidden1);
        let probs = Dense(10, activation = softmax)(hidden2);
        output probs;
    }
}

const CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

#[allow(dead_code)] // the test that includes this file uses only the model
fn main() -> kiln::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let (_, pixels) = read_idx(format!("{dir}/t10k-images-idx3-ubyte.gz"))?;
    let (_, labels) = read_idx(format!("{dir}/t10k-labels-idx1-ubyte.gz"))?;
    let mut images: Vec<[[f32; 28]; 28]> = pixels
        .chunks_exact(784)
        .map(|img| std::array::from_fn(|r| std::array::from_fn(|c| img[r * 28 + c] as f32)))
        .collect();
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();

    // The tutorial standardizes every pixel with one mean and deviation
    // (`StandardScaler` on `x.reshape(-1, 1)`), fitted on the training part.
    let (train, valid) = images.split_at_mut(8000);
    let scaler = StandardScaler::fit(train.as_flattened().as_flattened(), 1);
    scaler.transform(train.as_flattened_mut().as_flattened_mut());
    scaler.transform(valid.as_flattened_mut().as_flattened_mut());
    let (y_train, y_valid) = labels.split_at(8000);

    let mut model = Mlp::new(42).compile(Sgd::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());
    let (train, valid) = (&*train, &*valid);
    let history = model.fit(train, y_train).epochs(10).batch_size(32).validation_data(valid, y_valid).run()?;

    let predicted = model.predict_classes(&valid[..5], 5)?;
    for (p, y) in predicted.iter().zip(y_valid) {
        println!("predicted {:<12} actual {}", CLASSES[*p], CLASSES[*y as usize]);
    }
    let val = history.get("val_accuracy").and_then(|v| v.last()).copied().unwrap_or(0.0);
    println!("validation accuracy after {} epochs: {:.2}%", history.epochs.len(), val * 100.0);
    Ok(())
}
