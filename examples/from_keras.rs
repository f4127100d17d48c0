//! The tutorials' text classifier trained in Keras, brought into kiln:
//! Embedding(4, 64) → LSTM(64) → Dense(1, sigmoid), trained for 10 epochs
//! in Keras 3 (tests/fixtures/keras_files.py) and saved with
//! `model.save("text_classifier.keras")`. kiln loads the weights from that
//! file into the same architecture and predicts what Keras predicted.
//!
//! ```text
//! cargo run --release --example from_keras
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

#[allow(dead_code)]
mod keras {
    include!("../tests/fixtures/keras_files.rs");
}

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

fn main() -> kiln::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_files/text_classifier.keras");
    let mut net = TextClassifier::new(0);
    kiln::io::load_keras_weights(&mut net, path)?;
    println!("{}", net.summary());
    println!("loaded {path}");

    let (x, _) = dataset();
    let mut worst = 0f64;
    println!("{:<14} {:>12} {:>12}", "text", "kiln", "keras");
    for ((text, ids), keras) in TEXTS.iter().zip(&x).zip(keras::TEXT_CLASSIFIER_Y) {
        let p = net.predict_one(ids)?[0];
        worst = worst.max((p as f64 - keras).abs());
        println!("{text:<14} {p:>12.8} {keras:>12.8}");
    }
    println!("largest difference from Keras: {worst:.2e}");
    Ok(())
}
