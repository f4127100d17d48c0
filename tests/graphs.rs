//! Graph topologies beyond a chain: fan-out, merges, several inputs and
//! outputs, shared layers over several inputs — with Keras's parameter
//! counts and finite-difference checks of the generated backward pass.

use kiln::prelude::*;
use kiln::testing::{check_network_gradients, test_values};

kiln::model! {
    /// Fan-out into every merge: each branch's gradient is summed back into `h`.
    struct Merges {
        input x: [f32; 6];
        let h = Dense(4, activation = tanh, bias_initializer = random_uniform)(x);
        let a = Dense(4, activation = sigmoid)(h);
        let b = Dense(4, bias_initializer = random_normal)(h);
        let sum = add([a, b, h]);
        let difference = subtract([a, b]);
        let product = multiply([a, b]);
        let mean = average([sum, difference]);
        let top = maximum([product, mean]);
        let bottom = minimum([product, mean]);
        let joined = concatenate([top, bottom, h]);
        let out = Dense(3, activation = softmax)(joined);
        output out;
    }
}

kiln::model! {
    /// Two inputs, two outputs, a shared layer over both inputs.
    struct TwoByTwo {
        input left: [f32; 5];
        input right: [f32; 5];
        let shared = Dense(3, activation = tanh, bias_initializer = random_uniform);
        let l = shared(left);
        let r = shared(right);
        let both = concatenate([l, r]);
        let main = Dense(2, activation = softmax, name = "main_output")(both);
        let aux = Dense(1, activation = sigmoid, name = "aux_output")(l);
        output main, aux;
    }
}

#[path = "../examples/two_inputs.rs"]
mod two_inputs;
use two_inputs::TwoInputs;

fn vectors<const N: usize>(n: usize, seed: u64) -> Vec<[f32; N]> {
    test_values(n * N, seed).chunks_exact(N).map(|c| std::array::from_fn(|i| c[i])).collect()
}

#[test]
fn backward_through_fan_out_and_every_merge_matches_finite_differences() {
    let x = vectors::<6>(3, 1);
    check_network_gradients(&mut Merges::new(5), &x[..], 40);
}

#[test]
fn backward_through_two_inputs_and_two_outputs_matches_finite_differences() {
    let (l, r) = (vectors::<5>(3, 2), vectors::<5>(3, 3));
    check_network_gradients(&mut TwoByTwo::new(6), (&l[..], &r[..]), 40);
}

#[test]
fn summary_lists_every_inbound_tensor_with_keras_node_indices() {
    let s = TwoByTwo::new(0).summary();
    let shared = s.rows.iter().find(|r| r.name == "shared").unwrap();
    assert_eq!(shared.connected_to, ["left[0][0]", "right[0][0]"]);
    let cat = s.rows.iter().find(|r| r.kind == "Concatenate").unwrap();
    assert_eq!(cat.connected_to, ["shared[0][0]", "shared[1][0]"]);
    assert_eq!(s.total_params(), 18 + 14 + 4);
    assert!(!s.sequential_like);
}

#[test]
fn concatenated_id_inputs_match_keras_parameter_count() {
    let s = TwoInputs::new(0).summary();
    assert_eq!(s.total_params(), 33_410);
    let rows: Vec<(&str, &str, &str)> =
        s.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.as_str())).collect();
    assert_eq!(
        rows,
        [
            ("input_1", "InputLayer", "(None, 16)"),
            ("input_2", "InputLayer", "(None, 16)"),
            ("concatenate", "Concatenate", "(None, 32)"),
            ("embedding", "Embedding", "(None, 32, 64)"),
            ("lstm", "LSTM", "(None, 64)"),
            ("dense", "Dense", "(None, 2)"),
        ]
    );
}

#[test]
fn two_outputs_train_with_per_output_losses_and_loss_weights() {
    let (l, r) = (vectors::<5>(64, 4), vectors::<5>(64, 5));
    let main: Vec<u32> = l.iter().zip(&r).map(|(a, b)| u32::from(a[0] + b[1] > 0.0)).collect();
    let aux: Vec<[f32; 1]> = l.iter().map(|a| [f32::from(a[2] > 0.0)]).collect();
    let mut model = TwoByTwo::new(1)
        .compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::Accuracy])
        .output_losses(vec![Box::new(SparseCategoricalCrossentropy), Box::new(BinaryCrossentropy)])
        .loss_weights(&[1.0, 0.2]);
    let history = model.fit((&l, &r), (&main, &aux)).epochs(30).batch_size(16).verbose(0).run().unwrap();
    let keys: Vec<&str> = history.keys().collect();
    assert_eq!(keys, ["loss", "main_output_loss", "aux_output_loss", "main_output_accuracy", "aux_output_accuracy"]);
    // The total is the weighted sum of the outputs' losses.
    let last = |k: &str| *history.get(k).unwrap().last().unwrap();
    assert!((last("loss") - (last("main_output_loss") + 0.2 * last("aux_output_loss"))).abs() < 1e-4);
    assert!(last("main_output_accuracy") > 0.9 && last("aux_output_accuracy") > 0.9);
    let (p_main, p_aux) = model.predict_one(&l[0], &r[0]);
    assert!((p_main.iter().sum::<f32>() - 1.0).abs() < 1e-5 && (0.0..=1.0).contains(&p_aux[0]));
    let logs = model.evaluate((&l, &r), (&main, &aux), 32).unwrap();
    assert!(logs.get("main_output_loss").is_some());
}

#[test]
fn mismatched_members_are_errors() {
    let (l, r) = (vectors::<5>(4, 4), vectors::<5>(3, 5));
    let main = vec![0u32; 4];
    let aux = vec![[0.0f32]; 4];
    let mut model = TwoByTwo::new(1).compile(Adam::default(), BinaryCrossentropy, &[]);
    let err = model.fit((&l, &r), (&main, &aux)).run().unwrap_err();
    assert!(matches!(err, kiln::Error::MemberCountMismatch { first: 4, other: 3 }), "{err}");
    let err = model.train_on_batch((&l[..3], &r), &main[..3]).unwrap_err();
    assert!(err.to_string().contains("the model has 2 output(s) but the targets have 1 member(s)"), "{err}");
}

#[path = "../examples/news.rs"]
mod news;
#[path = "../examples/shared_lstm.rs"]
mod shared_lstm;

/// Keras's per-layer counts for its functional-API guide's news model
/// (Embedding 10000×512; LSTM 4·(512·32 + 32·32 + 32); …).
#[test]
fn news_model_matches_keras_parameter_counts() {
    let s = news::News::new(0).summary();
    let counts: Vec<(&str, usize)> = s.rows.iter().map(|r| (r.name.as_str(), r.trainable)).collect();
    assert_eq!(
        counts,
        [
            ("main_input", 0),
            ("aux_input", 0),
            ("embedding", 5_120_000),
            ("lstm", 69_760),
            ("aux_output", 33),
            ("concatenate", 0),
            ("dense", 2_432),
            ("dense_1", 4_160),
            ("dense_2", 4_160),
            ("main_output", 65),
        ]
    );
    assert_eq!(s.total_params(), 5_200_610);
}

#[test]
fn news_model_trains_with_weighted_losses() {
    let (words, meta, labels) = news::generated_data(64, 2);
    let mut model = news::News::new(0)
        .compile(RmsProp::new(0.001), BinaryCrossentropy, &[Metric::Accuracy])
        .loss_weights(&[1.0, 0.2]);
    let history = model.fit((&words, &meta), (&labels, &labels)).epochs(3).batch_size(32).verbose(0).run().unwrap();
    let loss = history.get("loss").unwrap();
    assert!(loss[2] < loss[0], "the weighted loss falls: {loss:?}");
    assert_eq!(model.output_names(), ["main_output", "aux_output"]);
}

#[test]
fn shared_lstm_over_two_inputs_counts_its_weights_once() {
    let s = shared_lstm::SameAuthor::new(0).summary();
    assert_eq!(s.total_params(), 82_176 + 129);
    assert_eq!(s.rows[2].connected_to, ["tweet_a[0][0]", "tweet_b[0][0]"]);
}

#[path = "../examples/mixed.rs"]
mod mixed;

/// Keras's counts for the tutorials' mixed model and Sequential stack.
#[test]
fn sequential_chains_and_the_mixed_model_match_keras() {
    let s = mixed::Mixed::new(0).summary();
    let dense: Vec<usize> = s.rows.iter().filter(|r| r.kind == "Dense").map(|r| r.trainable).collect();
    assert_eq!(dense, [264, 36, 4_128, 528, 42, 3]);
    assert_eq!(s.total_params(), 5_001);
    let stack = mixed::Stack::new(0).summary();
    assert!(stack.sequential_like);
    assert_eq!(stack.total_params(), 17);
    let x = vectors::<2>(3, 8);
    check_network_gradients(&mut mixed::Stack::new(1), &x[..], 20);
    let (a, b) = (vectors::<32>(2, 9), vectors::<128>(2, 10));
    check_network_gradients(&mut mixed::Mixed::new(2), (&a[..], &b[..]), 20);
}
