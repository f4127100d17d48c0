//! The tutorials' parameter-sharing model: one LSTM layer (named
//! `lstm-encoder`) applied three times in a row, so its 33,024 weights
//! serve three calls; the summary lists all three inbound nodes. Keras
//! reports 33,410 parameters.
//!
//! ```text
//! cargo run --release --example text_shared_lstm
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

use kiln::prelude::*;

kiln::model! {
    /// One LSTM, three calls.
    pub struct SharedEncoder {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let lstm = LSTM(units = 64, return_sequences = true, name = "lstm-encoder");
        let encoded1 = lstm(embedded);
        let encoded2 = lstm(encoded1);
        let encoded3 = lstm(encoded2);
        let pooled = reduce_sum(encoded3, axis = 1);
        let probs = Dense(units = 2, activation = softmax)(pooled);
        output probs;
    }
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let (x, y) = tutorial_text::dataset();
    let mut model = SharedEncoder::new(0).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());
    model.fit(&x, &y).epochs(10).batch_size(4).verbose(2).run()?;
    println!("classes: {:?} (labels {y:?})", model.predict_classes(&x, 32)?);
    Ok(())
}
