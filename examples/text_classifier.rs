//! The tutorials' text classifier: Embedding(4, 64) → LSTM(64) →
//! Dense(1, sigmoid) on six strings of '0'/'1', Adam(0.05), binary
//! cross-entropy, 10 epochs of batch 4, then `predict`.
//!
//! ```text
//! cargo run --release --example text_classifier
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

use kiln::prelude::*;
use tutorial_text::{dataset, TEXTS};

kiln::model! {
    /// Binary text classifier from the Keras tutorial.
    pub struct TextClassifier {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let encoding = LSTM(64)(embedded);
        let prob = Dense(units = 1, activation = sigmoid)(encoding);
        output prob;
    }
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let (x, labels) = dataset();
    println!("x_tensor=");
    for row in &x {
        println!("{row:?}");
    }
    let y: Vec<[f32; 1]> = labels.iter().map(|&l| [l as f32]).collect();
    println!("y_tensor={labels:?}");

    let mut model = TextClassifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::BinaryAccuracy]);
    println!("{}", model.summary());
    model.fit(&x, &y).epochs(10).batch_size(4).run()?;

    let predictions = model.predict(&x, 32)?;
    println!("predictions:");
    for (text, p) in TEXTS.iter().zip(&predictions) {
        println!("  {text:<14} {:.8}", p[0]);
    }
    Ok(())
}
