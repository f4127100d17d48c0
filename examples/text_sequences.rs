//! The tutorials' `return_sequences` model: every LSTM state, summed over
//! time (`reduce_sum(x, axis = 1)`, a `Lambda` in Keras), then a
//! two-class softmax. Keras reports 33,410 parameters.
//!
//! ```text
//! cargo run --release --example text_sequences
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

use kiln::prelude::*;

kiln::model! {
    /// Embedding → LSTM over the whole sequence → sum over time → softmax.
    pub struct SequencePooling {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let states = LSTM(units = 64, return_sequences = true)(embedded);
        let pooled = reduce_sum(states, axis = 1);
        let probs = Dense(units = 2, activation = softmax)(pooled);
        output probs;
    }
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let (x, y) = tutorial_text::dataset();
    let mut model =
        SequencePooling::new(0).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());
    model.fit(&x, &y).epochs(10).batch_size(4).verbose(2).run()?;
    println!("classes: {:?} (labels {y:?})", model.predict_classes(&x, 32)?);
    Ok(())
}
