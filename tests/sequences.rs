//! The sequence models of the tutorials: parameter counts, generated
//! gradients through Embedding / LSTM / GRU / SimpleRNN / reductions, and
//! out-of-range token ids reported as errors.

// Each example is a standalone program that includes the shared data module.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/text_classifier.rs"]
mod text_classifier;
#[path = "../examples/text_sequences.rs"]
mod text_sequences;
#[path = "../examples/text_shared_lstm.rs"]
mod text_shared_lstm;
#[path = "../examples/common/tutorial_text.rs"]
mod tutorial_text;

use kiln::prelude::*;
use kiln::testing::{check_network_gradients, test_values};

fn counts(summary: &kiln::summary::Summary) -> Vec<usize> {
    summary.rows.iter().map(|r| r.trainable).collect()
}

/// Keras's numbers from the tutorial's printed summaries.
#[test]
fn parameter_counts_match_keras() {
    let s = text_classifier::TextClassifier::new(0).summary();
    assert_eq!(counts(&s), [0, 256, 33_024, 65]);
    assert_eq!(s.total_params(), 33_345);
    let s = text_sequences::SequencePooling::new(0).summary();
    assert_eq!(counts(&s), [0, 256, 33_024, 0, 130]);
    assert_eq!(s.total_params(), 33_410);
    let s = text_shared_lstm::SharedEncoder::new(0).summary();
    assert_eq!(s.total_params(), 33_410);
    let lstm = &s.rows[2];
    assert_eq!((lstm.name.as_str(), lstm.kind.as_str()), ("lstm-encoder", "LSTM"));
    assert_eq!(lstm.connected_to, ["embedding[0][0]", "lstm-encoder[0][0]", "lstm-encoder[1][0]"]);
    assert_eq!(s.rows[3].connected_to, ["lstm-encoder[2][0]"]);
}

kiln::model! {
    /// Every sequence layer in one graph (small, for finite differences).
    struct AllRecurrent {
        input tokens: [u32; 6];
        let embedded = Embedding(5, 3, embeddings_initializer = random_normal)(tokens);
        let rnn = SimpleRNN(4, return_sequences = true, bias_initializer = random_uniform)(embedded);
        let gru = GRU(3, return_sequences = true, bias_initializer = random_uniform)(rnn);
        let lstm = LSTM(units = 4, return_sequences = true)(gru);
        let mean = reduce_mean(lstm, axis = 1);
        let out = Dense(2, activation = softmax)(mean);
        output out;
    }
}

kiln::model! {
    /// A shared recurrent layer and a max over time.
    struct SharedGru {
        input x: [f32; 5, 3];
        let gru = GRU(3, return_sequences = true, bias_initializer = random_uniform);
        let a = gru(x);
        let b = gru(a);
        let pooled = reduce_max(b, axis = -2);
        output pooled;
    }
}

#[test]
fn generated_backward_matches_finite_differences_through_every_sequence_layer() {
    let ids: Vec<[u32; 6]> = (0..3).map(|s| std::array::from_fn(|t| ((s * 7 + t * 3) % 5) as u32)).collect();
    check_network_gradients(&mut AllRecurrent::new(3), &ids, 30);
    let v = test_values(2 * 15, 9);
    let x: Vec<[[f32; 3]; 5]> =
        v.chunks_exact(15).map(|c| std::array::from_fn(|t| std::array::from_fn(|d| c[t * 3 + d]))).collect();
    check_network_gradients(&mut SharedGru::new(4), &x, 30);
}

#[test]
fn out_of_range_ids_are_errors_at_every_entry_point() {
    let model = text_classifier::TextClassifier::new(0);
    let mut bad = [0u32; 16];
    bad[5] = 4; // vocabulary is 0..4
    let expected = "token id 4 in sample 0 is out of range for an Embedding with input_dim 4";
    assert_eq!(model.predict_one(&bad).unwrap_err().to_string(), expected);
    let mut model = model.compile(Adam::new(0.05), BinaryCrossentropy, &[]);
    let x = [[0u32; 16], bad];
    let y = [[0.0f32], [1.0]];
    let err = model.fit(&x, &y).epochs(1).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "token id 4 in sample 1 is out of range for an Embedding with input_dim 4");
    assert!(model.predict(&x, 2).is_err());
    assert!(model.evaluate(&x, &y, 2).is_err());
    assert!(model.train_on_batch(&x, &y).is_err());
}

#[test]
fn text_classifier_learns_the_toy_task() {
    // More epochs than the tutorial's ten, so the test does not depend on luck.
    let (x, labels) = tutorial_text::dataset();
    let y: Vec<[f32; 1]> = labels.iter().map(|&l| [l as f32]).collect();
    let mut model =
        text_classifier::TextClassifier::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[Metric::Accuracy]);
    let history = model.fit(&x, &y).epochs(60).batch_size(6).verbose(0).run().unwrap();
    assert_eq!(history.get("accuracy").unwrap().last(), Some(&1.0));
    let probs = model.predict(&x, 6).unwrap();
    for (p, l) in probs.iter().zip(&labels) {
        assert_eq!(p[0] > 0.5, *l == 1);
    }
}
