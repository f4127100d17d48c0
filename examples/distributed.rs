//! Data-parallel training over MPI: scikit-learn's 8×8 digits on N
//! processes, the model and `fit` call unchanged, a checkpoint after every
//! epoch, and a restart that resumes from it.
//!
//! ```text
//! cargo build --release --features mpi --example distributed
//! mpirun -n 2 target/release/examples/distributed            # this machine
//! mpirun -n 4 --hostfile hosts target/release/examples/distributed  # several
//! ```
//!
//! `hosts` lists one machine per line (`node1 slots=2`); every machine needs
//! the binary and `data/` at the same path. The global batch is 32 samples
//! whatever N; each rank computes the gradient of its 32/N. Kill a process
//! and run the same command again: training resumes from `distributed.ckpt`.

use kiln::data::{read_csv, StandardScaler};
use kiln::distribute::MultiWorkerMirroredStrategy;
use kiln::prelude::*;

kiln::model! {
    /// 64 standardized pixels → 10 class probabilities.
    pub struct DigitsNet {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

const EPOCHS: usize = 10;

fn main() -> kiln::Result<()> {
    let strategy = MultiWorkerMirroredStrategy::new()?;
    // Every rank reads the whole data set; each trains on its part of every batch.
    let rows = read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz"))?;
    let mut x: Vec<[f32; 64]> = rows.iter().map(|r| std::array::from_fn(|j| r[j])).collect();
    let y: Vec<u32> = rows.iter().map(|r| r[64] as u32).collect();
    StandardScaler::fit(x.as_flattened(), 64).transform(x.as_flattened_mut());

    let mut model = DigitsNet::new(7).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    let checkpoint = "distributed.ckpt";
    if strategy.is_chief() && std::path::Path::new(checkpoint).exists() {
        model.load(checkpoint)?; // `distribute` hands rank 0's state to the others
        println!("resuming after epoch {}", model.epoch());
    }
    let mut model = strategy.distribute(model)?;
    if strategy.is_chief() {
        println!("{} processes, global batch 32", strategy.num_replicas_in_sync());
    }
    for epoch in model.epoch()..EPOCHS {
        // Only rank 0 prints; every rank logs the global loss and accuracy.
        model.fit(&x, &y).batch_size(32).epochs(epoch + 1).initial_epoch(epoch).verbose(2).run()?;
        strategy.save_checkpoint(&model, checkpoint)?;
    }
    Ok(())
}
