//! The tutorials' multi-input model: two id sequences of 16 are
//! concatenated to 32 ids, embedded, encoded by an LSTM and classified.
//! Keras reports 33,410 parameters.
//!
//! ```text
//! cargo run --release --example two_inputs
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

use kiln::prelude::*;

kiln::model! {
    /// Two inputs, one output.
    pub struct TwoInputs {
        input input_1: [u32; 16];
        input input_2: [u32; 16];
        let joined = concatenate([input_1, input_2]);
        let embedded = Embedding(4, 64)(joined);
        let encoding = LSTM(64)(embedded);
        let probs = Dense(units = 2, activation = softmax)(encoding);
        output probs;
    }
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let (x, labels) = tutorial_text::dataset();
    // Second input: the same strings reversed; one-hot targets as in the tutorial.
    let reversed: Vec<[u32; 16]> = x.iter().map(|s| std::array::from_fn(|t| s[15 - t])).collect();
    let y: Vec<[f32; 2]> = labels.iter().map(|&l| if l == 1 { [0.0, 1.0] } else { [1.0, 0.0] }).collect();
    let mut model = TwoInputs::new(0).compile(Adam::new(0.05), CategoricalCrossentropy, &[Metric::CategoricalAccuracy]);
    println!("{}", model.summary());
    model.fit((&x, &reversed), &y).epochs(10).batch_size(4).verbose(2).run()?;
    println!("classes: {:?} (labels {labels:?})", model.predict_classes((&x, &reversed), 32)?);
    Ok(())
}
