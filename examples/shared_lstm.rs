//! The tutorials' shared-layer model: one LSTM encodes two tweets (140
//! steps of 256 features each); the encodings are concatenated and a
//! logistic layer says whether the tweets share an author. The LSTM's
//! weights serve both calls.
//!
//! ```text
//! cargo run --release --example shared_lstm
//! ```

use kiln::prelude::*;

kiln::model! {
    /// Two tweets, one encoder.
    pub struct SameAuthor {
        input tweet_a: [f32; 140, 256];
        input tweet_b: [f32; 140, 256];
        let shared_lstm = LSTM(64);
        let encoded_a = shared_lstm(tweet_a);
        let encoded_b = shared_lstm(tweet_b);
        let merged = concatenate([encoded_a, encoded_b]);
        let prediction = Dense(1, activation = sigmoid)(merged);
        output prediction;
    }
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let model = SameAuthor::new(0);
    println!("{}", model.summary());
    // Eight random pairs, labelled by whether their first features agree in sign.
    let tweets: Vec<Box<[[f32; 256]; 140]>> = (0..16)
        .map(|s| {
            let mut t = Box::new([[0.0f32; 256]; 140]);
            for (i, step) in t.iter_mut().enumerate() {
                for (j, v) in step.iter_mut().enumerate() {
                    *v = (((s * 31 + i * 7 + j) % 17) as f32 / 8.5 - 1.0) * if s % 3 == 0 { -1.0 } else { 1.0 };
                }
            }
            t
        })
        .collect();
    let a: Vec<[[f32; 256]; 140]> = tweets[..8].iter().map(|t| **t).collect();
    let b: Vec<[[f32; 256]; 140]> = tweets[8..].iter().map(|t| **t).collect();
    let y: Vec<[f32; 1]> =
        a.iter().zip(&b).map(|(p, q)| [f32::from(u8::from((p[0][0] > 0.0) == (q[0][0] > 0.0)))]).collect();
    let mut model = model.compile(Adam::new(0.01), BinaryCrossentropy, &[Metric::Accuracy]);
    model.fit((&a, &b), &y).epochs(3).batch_size(4).verbose(2).run()?;
    Ok(())
}
