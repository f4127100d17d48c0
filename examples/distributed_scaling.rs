//! Measures what docs/SCALING.md's cost model is fitted to: training
//! samples/s of the W1 MLP (784-300-100-10, global batch 128) and of the
//! text classifier (Embedding(4, 64) → LSTM(64) → Dense(1), global batch
//! 64) on N ranks, each rank's compute alone, the fused all-reduce alone,
//! and the all-reduce over a sweep of sizes (for α and β).
//!
//! ```text
//! cargo build --release --features mpi --example distributed_scaling
//! mpirun -n 1 target/release/examples/distributed_scaling [--rounds 7] [--seconds 1]
//! mpirun -n 2 target/release/examples/distributed_scaling
//! ```
//!
//! Every figure is measured in `--rounds` rounds of about `--seconds`
//! each (the same number of calls on every rank); rank 0 prints the median
//! round and the slowest and fastest, since a shared machine is noisy.

use kiln::distribute::{Collective, MultiWorkerMirroredStrategy};
use kiln::prelude::*;
use std::hint::black_box;
use std::time::Instant;

kiln::model! {
    struct Mlp {
        input image: [f32; 784];
        let h1 = Dense(300, activation = relu)(image);
        let h2 = Dense(100, activation = relu)(h1);
        let probs = Dense(10, activation = softmax)(h2);
        output probs;
    }
}

kiln::model! {
    struct TextClassifier {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let encoding = LSTM(64)(embedded);
        let prob = Dense(units = 1, activation = sigmoid)(encoding);
        output prob;
    }
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Times `f` (which may be collective: every rank makes the same calls) in
/// `rounds` rounds; returns the seconds per call of each round, sorted.
fn rounds(c: &mut dyn Collective, rounds: usize, seconds: f64, mut f: impl FnMut()) -> Vec<f64> {
    // Warm-up, then rank 0 decides the calls per round for every rank.
    let start = Instant::now();
    for _ in 0..3 {
        f();
    }
    let per_call = start.elapsed().as_secs_f64() / 3.0;
    let mut calls = [if c.rank() == 0 { (seconds / per_call).clamp(3.0, 1e6).round() as f32 } else { 0.0 }];
    c.all_reduce_sum(&mut calls).unwrap();
    let calls = calls[0] as usize;
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            c.all_reduce_sum(&mut [0.0]).unwrap(); // start together
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_secs_f64() / calls as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// Prints a per-call time as `name median (slowest, fastest) ms`.
fn print_time(c: &dyn Collective, name: &str, t: &[f64]) {
    if c.rank() == 0 {
        let ms = |s: f64| s * 1e3;
        let (median, fast, slow) = (t[t.len() / 2], t[0], t[t.len() - 1]);
        println!("{name}: {:.3} ms/call (slowest round {:.3}, fastest {:.3})", ms(median), ms(slow), ms(fast));
    }
}

/// Prints a per-step time as samples/s for `batch` samples a step.
fn print_rate(c: &dyn Collective, name: &str, t: &[f64], batch: usize) {
    if c.rank() == 0 {
        let rate = |s: f64| batch as f64 / s;
        let (median, fast, slow) = (t[t.len() / 2], t[0], t[t.len() - 1]);
        println!(
            "{name}: {:.0} samples/s (slowest round {:.0}, fastest {:.0}); {:.3} ms/step",
            rate(median),
            rate(slow),
            rate(fast),
            median * 1e3
        );
    }
}

fn parameters<N: Network>(model: &Model<N>) -> usize {
    let mut n = 0;
    model.network().params(&mut |p| n += p.value.len());
    n
}

/// One model: distributed training at global batch `batch`, one rank's
/// compute at its share alone, and the fused all-reduce alone.
fn measure<N: Network>(
    strategy: &MultiWorkerMirroredStrategy,
    c: &mut dyn Collective,
    name: &str,
    make: impl Fn() -> Model<N>,
    (n, step): (usize, impl Fn(&mut Model<N>, std::ops::Range<usize>)),
    batch: usize,
    (count, seconds): (usize, f64),
) {
    let (rank, size) = (c.rank(), c.size());
    let mut model = strategy.distribute(make()).unwrap();
    let mut next = 0;
    let t = rounds(c, count, seconds, || {
        let s = next * batch % (n - batch);
        next += 1;
        step(&mut model, s..s + batch);
    });
    print_rate(c, &format!("{name} train, {size} rank(s), global batch {batch}"), &t, batch);

    // This rank's share alone, no reduction: the compute part of a step.
    let share = kiln::distribute::shard(batch, rank, size).len().max(1);
    let mut local = make();
    let t = rounds(c, count, seconds, || {
        let s = next * share % (n - share);
        next += 1;
        step(&mut local, s..s + share);
    });
    print_rate(c, &format!("{name} compute alone, batch {share} per rank ({size} running)"), &t, share);

    // The step's fused buffer: gradients + count, loss, metric states.
    let floats = parameters(&local) + 2 + 1;
    let mut buffer = vec![0.5f32; floats];
    // A second handle on the same communicator (`rounds` holds the first).
    let mut timed = strategy.collective();
    let t = rounds(c, count, seconds, || timed.all_reduce_sum(black_box(&mut buffer)).unwrap());
    print_time(c, &format!("{name} fused all-reduce alone, {floats} floats = {} bytes", 4 * floats), &t);
}

fn main() -> kiln::Result<()> {
    let strategy = MultiWorkerMirroredStrategy::new()?;
    let mut collective = strategy.collective();
    let c = &mut *collective;
    let count = arg("--rounds", 7.0) as usize;
    let seconds = arg("--seconds", 1.0);
    if c.rank() == 0 {
        println!(
            "# {} rank(s), kiln threads per rank {}, {} rounds of ~{seconds} s",
            c.size(),
            kiln::parallel::num_threads(),
            count
        );
        println!("# cores on this machine: {}", std::thread::available_parallelism().map_or(0, |n| n.get()));
    }

    let n = 128 * 8;
    let x: Vec<[f32; 784]> =
        (0..n).map(|s| std::array::from_fn(|i| ((s * 131 + i * 7) % 255) as f32 / 255.0 - 0.5)).collect();
    let y: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
    let mlp = || Mlp::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    let step = |m: &mut Model<Mlp>, r: std::ops::Range<usize>| {
        black_box(m.train_on_batch(&x[r.clone()], &y[r]).unwrap());
    };
    measure(&strategy, c, "mlp", mlp, (n, step), 128, (count, seconds));

    let n = 512;
    let x: Vec<[u32; 16]> = (0..n).map(|s| std::array::from_fn(|t| ((s * 7 + t * 13 + s / 3) % 4) as u32)).collect();
    let y: Vec<[f32; 1]> = (0..n).map(|s| [(s % 2) as f32]).collect();
    let text = || TextClassifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[]);
    let step = |m: &mut Model<TextClassifier>, r: std::ops::Range<usize>| {
        black_box(m.train_on_batch(&x[r.clone()], &y[r]).unwrap());
    };
    measure(&strategy, c, "text", text, (n, step), 64, (count, seconds));

    // α and β: the all-reduce over a sweep of sizes.
    let mut timed = strategy.collective();
    for floats in [1usize, 1_000, 10_000, 100_000, 1_000_000] {
        let mut buffer = vec![0.5f32; floats];
        let t = rounds(c, count, seconds / 2.0, || timed.all_reduce_sum(black_box(&mut buffer)).unwrap());
        print_time(c, &format!("all-reduce sweep, {floats} floats = {} bytes", 4 * floats), &t);
    }
    Ok(())
}
