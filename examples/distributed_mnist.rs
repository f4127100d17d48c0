//! Data-parallel training of the MNIST MLP (784 → 300 → 100 → 10) over MPI:
//! the model and `fit` call of one process, a checkpoint every 100 steps
//! and each epoch written by rank 0 from inside `fit`, and a restart of the
//! same command that resumes from it, mid-epoch included.
//!
//! ```text
//! mpirun -n 2 cargo run --release --features mpi --example distributed_mnist
//! mpirun -n 2 cargo run --release --features mpi --example distributed_mnist -- --samples 6000 --epochs 1
//! mpirun --hostfile hosts -n 4 target/release/examples/distributed_mnist   # several machines
//! ```
//!
//! (As root, add `--allow-run-as-root`; with more ranks than cores,
//! `--oversubscribe`.) Options: `--epochs E` (default 2), `--samples S`
//! (train on the first S of the 60,000 images, default all), `--every K`
//! (checkpoint every K steps, default 100), `--checkpoint PATH` (default
//! `distributed_mnist.ckpt`; delete it to start afresh).
//!
//! MNIST is found as `kiln::datasets::mnist::load_data` finds it (`KILN_DATA`,
//! or `shared/data/mnist` beside the checkout); on several machines every
//! one needs the binary and the data at the same path. The global batch is
//! 128 whatever the number of ranks; each computes the gradient of its
//! 128/N samples, and one all-reduce per step averages them.

use kiln::datasets::{mnist, to_f32};
use kiln::distribute::MultiWorkerMirroredStrategy;
use kiln::io::TensorFile;
use kiln::prelude::*;
use kiln::train::{SaveFreq, CHECKPOINT_FORMAT, CHECKPOINT_VERSION};

kiln::model! {
    /// 28×28 images to ten digit probabilities (the benchmarks' W1 MLP).
    pub struct MnistMlp {
        input image: [f32; 28, 28];
        let flat = Flatten()(image);
        let hidden1 = Dense(300, activation = relu)(flat);
        let hidden2 = Dense(100, activation = relu)(hidden1);
        let probs = Dense(10, activation = softmax)(hidden2);
        output probs;
    }
}

/// The value after `--name` on the command line, or `default`.
fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> kiln::Result<()> {
    let epochs = arg("--epochs", 2usize);
    let every = arg("--every", 100usize);
    let checkpoint = arg("--checkpoint", String::from("distributed_mnist.ckpt"));
    let strategy = MultiWorkerMirroredStrategy::new()?;
    let chief = strategy.is_chief();

    // Every rank reads the whole data set; each trains on its part of every batch.
    let ((x_train, y_train), (x_test, y_test)) = mnist::load_data()?;
    let samples = arg("--samples", x_train.len()).min(x_train.len());
    let scale = |images: &[kiln::datasets::Image]| {
        let mut x = to_f32(images);
        x.as_flattened_mut().as_flattened_mut().iter_mut().for_each(|v| *v /= 255.0);
        x
    };
    let (x_train, x_test) = (scale(&x_train[..samples]), scale(&x_test));
    let y_train: Vec<u32> = y_train[..samples].iter().map(|&l| l.into()).collect();
    let y_test: Vec<u32> = y_test.iter().map(|&l| l.into()).collect();

    let model = MnistMlp::new(42).compile(Adam::new(0.001), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    // Every rank starts from rank 0's weights; `fit` below resumes from the
    // checkpoint if there is one (rank 0 reads it and hands it on).
    let mut model = strategy.distribute(model)?;
    let ranks = strategy.num_replicas_in_sync();
    let steps_per_epoch = samples.div_ceil(128);
    let done = steps_done(&checkpoint, steps_per_epoch);
    if chief {
        println!("{ranks} processes, {samples} training images, global batch 128 ({} per rank)", 128 / ranks);
        if done > 0 && done < epochs * steps_per_epoch {
            let (epoch, step) = (done / steps_per_epoch, done % steps_per_epoch);
            println!("resuming from {checkpoint}: epoch {}, step {step} of {steps_per_epoch}", epoch + 1);
        }
    }
    let start = std::time::Instant::now();
    // verbose 2: one line of global loss and accuracy per epoch, rank 0 only.
    let history = model
        .fit(&x_train, &y_train)
        .batch_size(128)
        .epochs(epochs)
        .verbose(2)
        .backup_and_restore(&checkpoint, SaveFreq::Batches(every))
        .run()?;
    let seconds = start.elapsed().as_secs_f64();
    // Every rank holds the same weights; rank 0 evaluates and reports.
    if chief {
        let steps = (epochs * steps_per_epoch).saturating_sub(done);
        if !history.epochs.is_empty() {
            let rate = (steps * 128) as f64 / seconds;
            println!("trained {steps} steps in {seconds:.1} s: {rate:.0} samples/s over {ranks} ranks");
        } else {
            println!("{checkpoint} already holds all {epochs} epochs; delete it to train again");
        }
        let logs = model.evaluate(&x_test, &y_test, 1000)?;
        let (loss, accuracy) = (logs.get("loss").unwrap_or(f32::NAN), logs.get("accuracy").unwrap_or(f32::NAN));
        println!("test loss {loss:.4}, test accuracy {:.2}%", accuracy * 100.0);
    }
    Ok(())
}

/// Steps already trained according to the checkpoint at `path` (0 if
/// none): its epoch, and the `fit_step` that `backup_and_restore` adds.
fn steps_done(path: &str, steps_per_epoch: usize) -> usize {
    let Ok(bytes) = std::fs::read(path) else { return 0 };
    let Ok(file) = TensorFile::parse(&bytes, CHECKPOINT_FORMAT, CHECKPOINT_VERSION) else { return 0 };
    let number = |key: &str| file.metadata.get(key).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    number("epoch") * steps_per_epoch + number("fit_step")
}
