//! The tutorials' `fit_generator`: the text classifier (Embedding(4, 64)
//! → LSTM(64) → Dense(1, sigmoid), Adam(0.05), binary cross-entropy),
//! first fitted for 10 epochs of batch 4 as in the tutorial's previous
//! section, then trained on from a generator that yields one sample per batch, cycling
//! over the six strings for ever, 30 steps per epoch, 5 epochs:
//!
//! ```python
//! def for_fit(self):
//!     while True:
//!         for x, y in zip(self.x_tensor, self.y_tensor):
//!             yield np.array([x]), np.array([y])
//! model.fit_generator(generator=train_gen.for_fit(), steps_per_epoch=30, epochs=5)
//! ```
//!
//! Then the same training from a `Dataset` pipeline (`from_slices →
//! batch(1) → repeat() → prefetch`), which feeds the same batches in the
//! same order, so both runs log the same numbers.
//!
//! ```text
//! cargo run --release --example fit_generator
//! ```

#[path = "common/tutorial_text.rs"]
mod tutorial_text;

use kiln::data::Dataset;
use kiln::prelude::*;
use tutorial_text::dataset;

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

/// The tutorial's model after its previous section: compiled, then
/// `fit(x, y, epochs=10, batch_size=4)`.
fn pretrained(x: &[[u32; 16]], y: &[[f32; 1]]) -> kiln::Result<Model<TextClassifier>> {
    let mut model = TextClassifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::BinaryAccuracy]);
    model.fit(x, y).epochs(10).batch_size(4).verbose(0).run()?;
    Ok(model)
}

fn main() -> kiln::Result<()> {
    let (x, labels) = dataset();
    let y: Vec<[f32; 1]> = labels.iter().map(|&l| [l as f32]).collect();

    // The tutorial's TrainDataGenerator.for_fit(): (x[i:i+1], y[i:i+1]) for ever.
    println!("fit_generator:");
    let mut model = pretrained(&x, &y)?;
    let for_fit = (0..x.len()).cycle().map(|i| (vec![x[i]], vec![y[i]]));
    let from_generator = model.fit_generator(for_fit).steps_per_epoch(30).epochs(5).run()?;

    // tf.data: Dataset.from_tensor_slices((x, y)).batch(1).repeat(), prefetched.
    println!("Dataset pipeline:");
    let ds = Dataset::from_slices(&x, &y)?.batch(1).repeat(None).prefetch(2);
    let mut model = pretrained(&x, &y)?;
    let from_dataset = model.fit_from(&ds).steps_per_epoch(30).epochs(5).run()?;

    let losses = |h: &History| h.get("loss").unwrap_or_default().to_vec();
    println!("generator losses: {:?}", losses(&from_generator));
    println!("dataset losses:   {:?}", losses(&from_dataset));
    println!("same training: {}", losses(&from_generator) == losses(&from_dataset));
    Ok(())
}
