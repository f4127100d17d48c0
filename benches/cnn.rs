//! kiln's side of the CNN benchmark W4 (issue 12): 28×28×1 → Conv2D(32,
//! 3×3, relu) → MaxPooling2D(2) → Conv2D(64, 3×3, relu) → MaxPooling2D(2)
//! → Flatten → Dense(10, softmax); Adam(1e-3), sparse categorical
//! cross-entropy. Prints `name value unit` lines; `benches/compare.py`
//! runs it beside PyTorch and ONNX Runtime.
//!
//! ```text
//! cargo bench --bench cnn -- [--batch 64] [--seconds 3] [--train-only | --infer-only]
//! ```
//!
//! Every figure is the median of per-call times, with the 10th and 90th
//! percentiles: training samples/s at `--batch` and one-sample latency.

use kiln::prelude::*;
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::{arg, print_machine, time_per_call};

kiln::model! {
    struct W4 {
        input image: [f32; 28, 28, 1];
        let h = image
            => Conv2D(32, (3, 3), activation = relu)
            => MaxPooling2D((2, 2))
            => Conv2D(64, (3, 3), activation = relu)
            => MaxPooling2D((2, 2))
            => Flatten()
            => Dense(10, activation = softmax);
        output h;
    }
}

type Image = [[[f32; 1]; 28]; 28];

fn main() {
    print_machine();
    let batch = arg("--batch", 64.0) as usize;
    let budget = Duration::from_secs_f64(arg("--seconds", 3.0));
    let n = batch * 8;
    let x: Vec<Image> = (0..n)
        .map(|s| std::array::from_fn(|r| std::array::from_fn(|c| [((s * 131 + r * 29 + c * 7) % 255) as f32 / 255.0])))
        .collect();
    let y: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
    let args: Vec<String> = std::env::args().collect();
    let (train_only, infer_only) = (args.iter().any(|a| a == "--train-only"), args.iter().any(|a| a == "--infer-only"));

    let mut model = W4::new(0).compile(Adam::new(1e-3), SparseCategoricalCrossentropy, &[]);
    if !infer_only {
        let mut next = 0;
        let step = time_per_call(budget, || {
            let s = next * batch;
            next = (next + 1) % 8;
            black_box(model.train_on_batch(&x[s..s + batch], &y[s..s + batch]).unwrap());
        });
        step.print_rate("kiln_cnn_train_samples_per_s", batch);
    }
    if train_only {
        return;
    }
    let net = model.network();
    let mut i = 0;
    let one = time_per_call(budget, || {
        i = (i + 1) % n;
        black_box(net.predict_one(black_box(&x[i])));
    });
    one.print_us("kiln_cnn_predict_one_latency");
}
