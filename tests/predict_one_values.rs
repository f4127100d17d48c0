//! `predict_one` (one sample, stack arrays, `Layer::forward_one`) computes
//! the values `predict` (batches through the workspace, `Layer::forward`)
//! computes, on the examples' real models.
//!
//! Why they may differ at all: the two paths use different kernels. A
//! batch goes through the packed SGEMM (`gemm::sgemm`, a 6×16 FMA
//! micro-kernel whose depth is split into blocks), one sample through
//! `gemm::vec_mat` (rows of W folded into y four at a time); the recurrent
//! layers' one-sample path multiplies gate by gate (`vec_mat_strided`).
//! Both compute the same sums in a different order (and with or without
//! fused multiply–adds), so a pre-activation can differ by a few units in
//! the last place of the terms summed, and what follows (softmax, sigmoid,
//! a recurrence of 16 steps) carries that on. The bound below is in units
//! of f32 machine epsilon relative to each output's largest magnitude;
//! the measured maxima are given per model.

#![allow(clippy::duplicate_mod)]

#[path = "../examples/mlp.rs"]
mod mlp;
#[path = "../examples/news.rs"]
mod news;
#[path = "../examples/text_classifier.rs"]
mod text_classifier;
#[path = "../examples/common/tutorial_text.rs"]
mod tutorial_text;

use kiln::network::Network;
use kiln::prelude::*;
use kiln::sample::Sample;
use rand::{Rng, SeedableRng};

/// Largest `|one − batched|` over a sample's outputs, in units of
/// `f32::EPSILON × max(1e-3, max|batched|)`.
fn eps_units(one: &[f32], batched: &[f32]) -> f32 {
    let scale = batched.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    one.iter().zip(batched).map(|(a, b)| (a - b).abs() / (f32::EPSILON * scale)).fold(0.0, f32::max)
}

/// Accepted disagreement, in the units of [`eps_units`].
///
/// Measured (AVX2/FMA machine): MLP 0 ε at batch size 1 (both paths use
/// `vec_mat`) and 11.8 ε at 7 and 32; LSTM 1.4 ε; GRU 0 ε; news 1.0 ε. The
/// MLP's is the largest because its softmax reads logits of magnitude ~10
/// that are sums of 784, 300 and 100 products: an ulp or two of each logit
/// (~1e-6) moves a probability by that much, about 12 ε of the largest
/// probability. 16 ε (2e-6 relative) leaves room for the portable kernel
/// (no FMA); a wrong weight, bias or gate anywhere moves outputs by
/// orders of magnitude more.
const BOUND: f32 = 16.0;

fn random_ids<const T: usize>(n: usize, vocabulary: u32, seed: u64) -> Vec<[u32; T]> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| std::array::from_fn(|_| rng.gen_range(0..vocabulary))).collect()
}

/// The worst disagreement over every sample between `predict_one` and
/// `predict`'s results (`batched`, one list per batch size tried).
fn worst<S, O: Sample<Elem = f32>>(samples: &[S], one: impl Fn(&S) -> O, batched: &[Vec<O>]) -> Vec<f32> {
    batched
        .iter()
        .map(|all| {
            assert_eq!(all.len(), samples.len());
            let each = samples.iter().zip(all);
            each.map(|(s, b)| eps_units(kiln::sample::flatten_one(&one(s)), kiln::sample::flatten_one(b)))
                .fold(0.0, f32::max)
        })
        .collect()
}

/// Batch sizes tried: 1 (the batched code with one row), 7 (GEMM edge
/// tiles), 32 (full tiles).
const BATCH_SIZES: [usize; 3] = [1, 7, 32];

#[test]
fn mlp_predict_one_matches_predict() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let (_, pixels) = kiln::data::read_idx(format!("{dir}/t10k-images-idx3-ubyte.gz")).unwrap();
    let (_, labels) = kiln::data::read_idx(format!("{dir}/t10k-labels-idx1-ubyte.gz")).unwrap();
    // Roughly standardized as in the example; one epoch on 2,000 images so the weights are trained ones.
    let images: Vec<[[f32; 28]; 28]> = pixels
        .chunks_exact(784)
        .take(2100)
        .map(|img| std::array::from_fn(|r| std::array::from_fn(|c| (img[r * 28 + c] as f32 - 73.0) / 90.0)))
        .collect();
    let labels: Vec<u32> = labels.iter().take(2000).map(|&l| l as u32).collect();
    let mut model = mlp::Mlp::new(42).compile(Sgd::new(0.01), SparseCategoricalCrossentropy, &[]);
    model.fit(&images[..2000], &labels[..]).epochs(1).batch_size(32).verbose(0).run().unwrap();
    let test = &images[2000..];
    let batched: Vec<_> = BATCH_SIZES.iter().map(|&b| model.predict(test, b).unwrap()).collect();
    let net = model.network();
    let e = worst(test, |x| net.predict_one(x), &batched);
    println!("MLP: {e:?} ε");
    assert!(e.iter().all(|&e| e <= BOUND), "MLP: predict_one differs from predict by {e:?} ε");
}

#[test]
fn lstm_predict_one_matches_predict() {
    // The tutorial's text classifier, trained as in the example, on its six strings and 60 random ones.
    let (x, labels) = tutorial_text::dataset();
    let y: Vec<[f32; 1]> = labels.iter().map(|&l| [l as f32]).collect();
    let mut model = text_classifier::TextClassifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[]);
    model.fit(&x, &y).epochs(10).batch_size(4).verbose(0).run().unwrap();
    let mut samples = x.clone();
    samples.extend(random_ids::<16>(60, 4, 1));
    let batched: Vec<_> = BATCH_SIZES.iter().map(|&b| model.predict(&samples, b).unwrap()).collect();
    let net = model.network();
    let e = worst(&samples, |s| net.predict_one(s).unwrap(), &batched);
    println!("LSTM: {e:?} ε");
    assert!(e.iter().all(|&e| e <= BOUND), "LSTM: predict_one differs from predict by {e:?} ε");
}

kiln::model! {
    /// Two stacked GRUs on embedded ids, as the LSTM tutorial with GRU cells.
    pub struct GruClassifier {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 16)(tokens);
        let states = GRU(32, return_sequences = true)(embedded);
        let encoding = GRU(32)(states);
        let probs = Dense(3, activation = softmax)(encoding);
        output probs;
    }
}

#[test]
fn gru_predict_one_matches_predict() {
    let samples = random_ids::<16>(66, 4, 2);
    let y: Vec<u32> = samples.iter().map(|s| s[0] % 3).collect();
    let mut model = GruClassifier::new(3).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    model.fit(&samples, &y).epochs(3).batch_size(8).verbose(0).run().unwrap();
    let batched: Vec<_> = BATCH_SIZES.iter().map(|&b| model.predict(&samples, b).unwrap()).collect();
    let net = model.network();
    let e = worst(&samples, |s| net.predict_one(s).unwrap(), &batched);
    println!("GRU: {e:?} ε");
    assert!(e.iter().all(|&e| e <= BOUND), "GRU: predict_one differs from predict by {e:?} ε");
}

#[test]
fn two_input_two_output_predict_one_matches_predict() {
    // The functional-API guide's news model (Embedding(10000, 512) → LSTM(32), metadata, two outputs).
    let (words, meta, labels) = news::generated_data(48, 5);
    let mut model = news::News::new(0).compile(Adam::new(0.001), BinaryCrossentropy, &[]);
    model.fit((&words, &meta), (&labels, &labels)).epochs(1).batch_size(16).verbose(0).run().unwrap();
    let samples: Vec<([u32; 100], [f32; 5])> = words.iter().copied().zip(meta.iter().copied()).collect();
    let batched: Vec<Vec<([f32; 1], [f32; 1])>> =
        BATCH_SIZES.iter().map(|&b| model.predict((&words, &meta), b).unwrap()).collect();
    let net = model.network();
    for output in 0..2 {
        let pick = |o: &([f32; 1], [f32; 1])| if output == 0 { o.0 } else { o.1 };
        let per_output: Vec<Vec<[f32; 1]>> = batched.iter().map(|all| all.iter().map(pick).collect()).collect();
        let e = worst(&samples, |s| pick(&net.try_predict_one(s).unwrap()), &per_output);
        println!("news output {output}: {e:?} ε");
        assert!(e.iter().all(|&e| e <= BOUND), "news output {output}: predict_one differs from predict by {e:?} ε");
    }
}
