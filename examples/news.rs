//! The tutorials' two-input, two-output model (Keras's functional-API
//! guide): a news headline (100 word ids) through Embedding(10000, 512)
//! and LSTM(32), an auxiliary output on the LSTM, five extra features
//! joined in, three Dense(64, relu) and the main output. Losses are
//! weighted 1.0 and 0.2; trained a few epochs on generated data.
//!
//! ```text
//! cargo run --release --example news
//! ```

use kiln::prelude::*;
use rand::{Rng, SeedableRng};

kiln::model! {
    /// Headline + metadata → (main, auxiliary) probabilities.
    pub struct News {
        input main_input: [u32; 100];
        input aux_input: [f32; 5];
        let embedded = Embedding(input_dim = 10000, output_dim = 512)(main_input);
        let lstm_out = LSTM(32)(embedded);
        let aux_output = Dense(1, activation = sigmoid, name = "aux_output")(lstm_out);
        let joined = concatenate([lstm_out, aux_input]);
        let h1 = Dense(64, activation = relu)(joined);
        let h2 = Dense(64, activation = relu)(h1);
        let h3 = Dense(64, activation = relu)(h2);
        let main_output = Dense(1, activation = sigmoid, name = "main_output")(h3);
        output main_output, aux_output;
    }
}

/// Headlines whose label depends on the presence of "hot" words 0..50,
/// and metadata that carries a little of the same signal.
#[allow(clippy::type_complexity)]
pub fn generated_data(n: usize, seed: u64) -> (Vec<[u32; 100]>, Vec<[f32; 5]>, Vec<[f32; 1]>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut words = Vec::with_capacity(n);
    let mut meta = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.gen_bool(0.5);
        let headline: [u32; 100] = std::array::from_fn(|_| {
            if label && rng.gen_bool(0.2) {
                rng.gen_range(0..50)
            } else {
                rng.gen_range(50..10000)
            }
        });
        let features: [f32; 5] = std::array::from_fn(|i| if i == 0 && label { 1.0 } else { rng.gen_range(-1.0..1.0) });
        words.push(headline);
        meta.push(features);
        labels.push([f32::from(u8::from(label))]);
    }
    (words, meta, labels)
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let (words, meta, labels) = generated_data(256, 1);
    let mut model =
        News::new(0).compile(RmsProp::new(0.001), BinaryCrossentropy, &[Metric::Accuracy]).loss_weights(&[1.0, 0.2]);
    println!("{}", model.summary());
    // Both outputs learn the same label, as in Keras's guide.
    model.fit((&words, &meta), (&labels, &labels)).epochs(3).batch_size(32).verbose(2).run()?;
    let (main, aux) = model.predict_one(&words[0], &meta[0])?;
    println!("first headline: main {:.3}, aux {:.3}, label {}", main[0], aux[0], labels[0][0]);
    Ok(())
}
