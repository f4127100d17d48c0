//! Two threads compute exactly what one thread computes: products split by
//! rows or columns and recurrences (LSTM, GRU, SimpleRNN) split by samples
//! keep every sum in the same order.

use kiln::network::Network;
use kiln::prelude::*;
use kiln::train::Model;

kiln::model! {
    struct Text {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let states = LSTM(64, return_sequences = true)(embedded);
        let gru = GRU(64, return_sequences = true)(states);
        let rnn = SimpleRNN(64, return_sequences = true)(gru);
        let encoding = LSTM(64)(rnn);
        let hidden = Dense(300, activation = relu)(encoding);
        let prob = Dense(1, activation = sigmoid)(hidden);
        output prob;
    }
}

fn run(threads: usize) -> (Vec<f32>, Vec<f32>) {
    kiln::parallel::set_num_threads(threads);
    // Split whatever the machine's load (batch 96: the recurrences run
    // their samples in two halves, the input products by rows).
    kiln::parallel::set_split_gate(false);
    let x: Vec<[u32; 16]> = (0..96).map(|s| std::array::from_fn(|t| ((s * 5 + t * 3 + s / 7) % 4) as u32)).collect();
    let y: Vec<[f32; 1]> = (0..96).map(|s| [(s % 2) as f32]).collect();
    let mut model = Text::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[]);
    for _ in 0..3 {
        model.train_on_batch(&x, &y).unwrap();
    }
    let outputs: Vec<f32> = model.predict(&x, 96).unwrap().into_iter().map(|p| p[0]).collect();
    let mut weights = Vec::new();
    model.network().params(&mut |p| weights.extend_from_slice(&p.value));
    kiln::parallel::set_split_gate(true);
    (outputs, weights)
}

#[test]
fn two_threads_match_one_thread_exactly() {
    let one = run(1);
    let two = run(2);
    kiln::parallel::set_num_threads(1);
    assert_eq!(one.0, two.0, "outputs differ");
    assert!(one.1 == two.1, "weights differ after three steps");
}

/// Compile-time check: a compiled model can sit in an `Arc` and be used from
/// many threads. The old `Model` held `Box<dyn Optimizer>` and
/// `Vec<Box<dyn Loss>>`, which were `Send` but not `Sync`, so
/// `assert_shareable::<Model<Text>>()` did not compile.
fn assert_shareable<T: Send + Sync>() {}

#[test]
fn models_are_send_and_sync() {
    assert_shareable::<Text>();
    assert_shareable::<Model<Text>>();
    assert_shareable::<Wide>();
    assert_shareable::<Model<Wide>>();
    assert_shareable::<WideOneSample>();
}

#[test]
fn four_threads_predict_on_one_shared_model_as_one_thread_does() {
    let x: Vec<[u32; 16]> = (0..40).map(|s| std::array::from_fn(|t| ((s * 7 + t * 5 + s / 3) % 4) as u32)).collect();
    let y: Vec<[f32; 1]> = (0..40).map(|s| [(s % 3 == 0) as u8 as f32]).collect();
    let mut model = Text::new(3).compile(Adam::new(0.01), BinaryCrossentropy, &[]);
    model.train_on_batch(&x, &y).unwrap();
    // Single-thread references, through the `&mut self` API. A batch's
    // last bits depend on its size (the GEMM's row blocks), so one per size.
    const SIZES: [usize; 5] = [16, 7, 40, 1, 13];
    let batched: Vec<Vec<[f32; 1]>> = SIZES.iter().map(|&b| model.predict(&x, b).unwrap()).collect();
    let one: Vec<[f32; 1]> = x.iter().map(|s| model.predict_one(s).unwrap()).collect();
    assert!(batched.iter().flatten().all(|p| p[0] > 0.0 && p[0] < 1.0));

    let model = std::sync::Arc::new(model);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let model = std::sync::Arc::clone(&model);
            let x = x.clone();
            std::thread::spawn(move || {
                let mut buffers = kiln::train::PredictBuffers::new();
                let mut results = Vec::new();
                // Several rounds with different batch sizes interleave the
                // threads' forward passes (and their use of the pool).
                for round in 0..5 {
                    let size = (round + w) % 5;
                    let batched = model.predict_with(&mut buffers, &x, SIZES[size]).unwrap();
                    let one: Vec<[f32; 1]> = x.iter().map(|s| model.predict_one(s).unwrap()).collect();
                    results.push((size, batched, one));
                }
                results
            })
        })
        .collect();
    for worker in workers {
        for (size, b, o) in worker.join().unwrap() {
            assert_eq!(b, batched[size], "batch size {}: outputs differ from one thread's", SIZES[size]);
            assert_eq!(o, one, "predict_one outputs differ from one thread's");
        }
    }
}

kiln::model! {
    /// 2,000,000 activations per sample (8 MB): four times a spawned
    /// thread's default stack.
    struct Wide {
        input x: [f32; 8];
        let hidden = Dense(1_000_000, activation = relu)(x);
        let squashed = Activation(tanh)(hidden);
        let y = Dense(2)(squashed);
        output y;
    }
}

kiln::model! {
    /// `Wide` as a layer: its one-sample pass runs through the generated
    /// `Layer::forward_one`, which must not put 8 MB on the stack either.
    struct Wrapped {
        input x: [f32; 8];
        let y: [2] = custom(Wide::new(5))(x);
        output y;
    }
}

#[test]
fn predict_one_of_a_model_larger_than_the_stack_runs_in_a_2_mib_thread() {
    let model = Wide::new(5);
    let x: Vec<[f32; 8]> = (0..3).map(|s| std::array::from_fn(|i| ((s * 3 + i) % 5) as f32 / 4.0 - 0.5)).collect();
    let mut model = model.compile(Sgd::new(0.1), MeanSquaredError, &[]);
    let batched = model.predict(&x, 3).unwrap();
    let model = std::sync::Arc::new(model);
    let shared = std::sync::Arc::clone(&model);
    let inputs = x.clone();
    let wrapped = Wrapped::new(0);
    // With stack arrays (the old `predict_one`), this thread died of a stack
    // overflow, which aborts the whole test process.
    let (one, with) = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let one: Vec<[f32; 2]> = inputs.iter().map(|s| shared.predict_one(s)).collect();
            let mut scratch = WideOneSample::new();
            let with: Vec<[f32; 2]> = inputs.iter().map(|s| shared.predict_one_with(&mut scratch, s)).collect();
            let nested: Vec<[f32; 2]> = inputs.iter().map(|s| wrapped.predict_one(s)).collect();
            assert_eq!(nested, one, "the same network as a layer of another model");
            (one, with)
        })
        .unwrap()
        .join()
        .expect("predict_one overflowed the 2 MiB stack");
    assert_eq!(one, with, "predict_one and predict_one_with run the same code");
    for (s, (o, b)) in one.iter().zip(&batched).enumerate() {
        let reference = reference_outputs(&model, &x[s]);
        for k in 0..2 {
            let (r, o, b) = (reference[k], o[k] as f64, b[k] as f64);
            // A million f32 terms in f32: up to 2e-5 relative seen.
            assert!((o - r).abs() <= 1e-4 * r.abs(), "predict_one, sample {s} output {k}: {o} vs f64 {r}");
            assert!((b - r).abs() <= 1e-4 * r.abs(), "predict, sample {s} output {k}: {b} vs f64 {r}");
        }
    }
}

/// `Wide`'s outputs recomputed from its weights in f64.
fn reference_outputs(model: &Model<Wide>, x: &[f32; 8]) -> [f64; 2] {
    let mut params = Vec::new();
    model.network().params(&mut |p| params.push(p.value.to_vec()));
    let (w1, b1, w2, b2) = (&params[0], &params[1], &params[2], &params[3]);
    let units = b1.len();
    let mut y = [b2[0] as f64, b2[1] as f64];
    for j in 0..units {
        let h: f64 = (0..8).map(|i| x[i] as f64 * w1[i * units + j] as f64).sum::<f64>() + b1[j] as f64;
        let a = h.max(0.0).tanh();
        y[0] += a * w2[j * 2] as f64;
        y[1] += a * w2[j * 2 + 1] as f64;
    }
    y
}
