//! Training the W1 MLP (784-300-100-10, Adam, sparse categorical
//! cross-entropy, batch 128) from a `Dataset` pipeline against training
//! from in-memory arrays: samples/s of each and their ratio (target: the
//! pipeline at ≥ 95% of memory).
//!
//! ```text
//! cargo bench --bench pipeline -- [--batch 128] [--seconds 3]
//! ```
//!
//! Both shuffle: `fit` gathers each batch from a shuffled index order;
//! the pipeline is `from_slices → shuffle(n) → batch → repeat → prefetch(2)`,
//! one long-lived pass read 16 batches per timed call, as a long training
//! run reads it.

use kiln::data::Dataset;
use kiln::prelude::*;
use std::hint::black_box;
use std::time::Duration;

#[allow(dead_code)] // the helpers this bench does not use
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

/// Steps per timed call.
const STEPS: usize = 16;

fn main() -> kiln::Result<()> {
    print_machine();
    let batch = arg("--batch", 128.0) as usize;
    let budget = Duration::from_secs_f64(arg("--seconds", 3.0));
    let n = batch * 32;
    let x: Vec<[f32; 784]> =
        (0..n).map(|s| std::array::from_fn(|i| ((s * 131 + i * 7) % 255) as f32 / 255.0 - 0.5)).collect();
    let y: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
    let compile = || Mlp::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);

    let mut model = compile();
    let memory = time_per_call(budget, || {
        let fit = model.fit(&x, &y).batch_size(batch).steps_per_epoch(STEPS).verbose(0);
        black_box(fit.run().unwrap());
    });
    memory.print_rate("kiln_fit_memory_samples_per_s", batch * STEPS);

    let mut rates = Vec::new();
    for prefetch in [2, 0] {
        let ds = Dataset::from_slices(&x, &y)?.shuffle(n, 0).batch(batch).repeat(None).prefetch(prefetch);
        let mut stream = ds.iter()?;
        let mut model = compile();
        let timing = time_per_call(budget, || {
            let fit = model.fit_from(&mut stream).steps_per_epoch(STEPS).verbose(0);
            black_box(fit.run().unwrap());
        });
        timing.print_rate(&format!("kiln_fit_pipeline_prefetch{prefetch}_samples_per_s"), batch * STEPS);
        rates.push((prefetch, timing.median));
    }
    for (prefetch, median) in rates {
        // Rates are inverse times: pipeline / memory = memory time / pipeline time.
        println!("kiln_pipeline_prefetch{prefetch}_vs_memory {:.3} ratio", memory.median / median);
    }
    Ok(())
}
