//! kiln's side of the MLP benchmark (784-300-100-10, Adam, sparse
//! categorical cross-entropy). Prints one `name value unit` line per
//! measurement; `benches/compare.py` runs it beside PyTorch and ONNX
//! Runtime and prints the ratios.
//!
//! ```text
//! cargo bench --bench mlp -- [--batch 128] [--seconds 3] [--only train|one|b1024]
//! ```
//!
//! `--only` runs one measurement (for profiling and before/after runs).
//!
//! Every figure is the median of per-call times, with the 10th and 90th
//! percentiles: training samples/s at `--batch`, one-sample latency, and
//! inference samples/s at batch 1024.

use kiln::prelude::*;
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::{arg, print_machine, time_per_call};

kiln::model! {
    struct Mlp {
        input image: [f32; 784];
        let h1 = Dense(300, activation = relu)(image);
        let h2 = Dense(100, activation = relu)(h1);
        let probs = Dense(10, activation = softmax)(h2);
        output probs;
    }
}

fn main() {
    print_machine();
    let batch = arg("--batch", 128.0) as usize;
    let budget = Duration::from_secs_f64(arg("--seconds", 3.0));
    let n = batch * 8;
    let x: Vec<[f32; 784]> =
        (0..n).map(|s| std::array::from_fn(|i| ((s * 131 + i * 7) % 255) as f32 / 255.0 - 0.5)).collect();
    let y: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();

    let args: Vec<String> = std::env::args().collect();
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let runs = |row: &str| only.as_deref().is_none_or(|o| o == row);
    let mut model = Mlp::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    if runs("train") {
        let mut next = 0;
        let step = time_per_call(budget, || {
            let s = next * batch;
            next = (next + 1) % 8;
            black_box(model.train_on_batch(&x[s..s + batch], &y[s..s + batch]).unwrap());
        });
        step.print_rate("kiln_train_samples_per_s", batch);
    }

    if runs("one") {
        let net = model.network();
        let mut i = 0;
        let one = time_per_call(budget, || {
            i = (i + 1) % n;
            black_box(net.predict_one(black_box(&x[i])));
        });
        one.print_us("kiln_predict_one_latency");
    }
    if !runs("b1024") {
        return;
    }

    // Batched inference: 1024 samples per call.
    const BIG: usize = 1024;
    let xb: Vec<[f32; 784]> =
        (0..BIG).map(|s| std::array::from_fn(|i| ((s * 37 + i * 11) % 255) as f32 / 255.0 - 0.5)).collect();
    let big = time_per_call(budget, || {
        black_box(model.predict(black_box(&xb[..]), BIG).unwrap());
    });
    big.print_rate("kiln_predict_b1024_samples_per_s", BIG);
}
