//! kiln's side of the text-classifier benchmark (Embedding(4, 64) →
//! LSTM(64) → Dense(1, sigmoid), Adam, binary cross-entropy). Prints
//! `name value unit` lines; `benches/compare.py` runs it beside PyTorch
//! and ONNX Runtime.
//!
//! ```text
//! cargo bench --bench text -- [--seconds 3]
//! ```

use kiln::prelude::*;
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::{arg, print_machine, time_per_call};

kiln::model! {
    struct TextClassifier {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let encoding = LSTM(64)(embedded);
        let prob = Dense(units = 1, activation = sigmoid)(encoding);
        output prob;
    }
}

fn main() {
    print_machine();
    let budget = Duration::from_secs_f64(arg("--seconds", 3.0));
    let n = 512;
    let x: Vec<[u32; 16]> = (0..n).map(|s| std::array::from_fn(|t| ((s * 7 + t * 13 + s / 3) % 4) as u32)).collect();
    let y: Vec<[f32; 1]> = (0..n).map(|s| [(s % 2) as f32]).collect();
    let only = arg("--batch", 0.0) as usize; // profile one batch size (0: both, then inference)
    let infer_only = std::env::args().any(|a| a == "--infer-only");
    let batches: Vec<usize> = if infer_only {
        vec![]
    } else if only > 0 {
        vec![only]
    } else {
        vec![4, 64]
    };
    for batch in batches {
        let mut model = TextClassifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[]);
        let mut next = 0;
        let step = time_per_call(budget, || {
            let s = next * batch % (n - batch);
            next += 1;
            black_box(model.train_on_batch(&x[s..s + batch], &y[s..s + batch]).unwrap());
        });
        step.print_rate(&format!("kiln_text_train_b{batch}_samples_per_s"), batch);
    }
    if only > 0 || std::env::args().any(|a| a == "--train-only") {
        return;
    }
    let model = TextClassifier::new(0);
    let mut i = 0;
    let one = time_per_call(budget, || {
        i = (i + 1) % n;
        black_box(model.predict_one(black_box(&x[i])).unwrap());
    });
    one.print_us("kiln_text_predict_one_latency");
}
