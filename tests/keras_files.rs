//! Files written by Keras 3 itself (issue 10, item 4): `model.save`'s
//! `.keras` archive and `model.save_weights`'s `.weights.h5` load into the
//! same architecture written in kiln, which then predicts what Keras
//! predicted (tests/fixtures/keras_files.py made the files and the
//! numbers), for every layer kind: Dense, Embedding, LSTM, GRU, SimpleRNN,
//! Flatten, concatenate, TimeDistributed of a layer and of a nested model,
//! two inputs and two outputs. Bad files are typed errors that leave the
//! model unchanged.
#![cfg(feature = "keras-weights")]

use kiln::io::{load_keras_weights, load_keras_weights_from_bytes, FileProblem};
use kiln::prelude::*;
use kiln::Error;

#[allow(dead_code)]
mod keras {
    include!("fixtures/keras_files.rs");
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/keras_files/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn values<N: Network>(net: &N) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    net.params(&mut |p| out.push(p.value.to_vec()));
    out
}

/// Loads `<name>.keras` and `<name>.weights.h5` into fresh models (other
/// initial weights: everything must come from the file) and checks that
/// they predict `expected` (one row per sample) to 1e-5.
fn check<N: Network>(name: &str, new: impl Fn() -> N, predict: impl Fn(&N, usize) -> Vec<f32>, expected: &[&[f64]]) {
    for file in [format!("{name}.keras"), format!("{name}.weights.h5")] {
        let mut net = new();
        let before = values(&net);
        load_keras_weights(&mut net, fixture(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_ne!(values(&net), before, "{file}: nothing was loaded");
        for sample in 0..3 {
            let got = predict(&net, sample);
            let want: Vec<f64> = expected
                .iter()
                .flat_map(|output| {
                    let width = output.len() / 3;
                    output[sample * width..(sample + 1) * width].to_vec()
                })
                .collect();
            assert_eq!(got.len(), want.len(), "{file}");
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5, "{file}, sample {sample}: {got:?} vs Keras {want:?}");
            }
        }
    }
}

fn row<const N: usize>(values: &[f64], sample: usize) -> [f32; N] {
    std::array::from_fn(|i| values[sample * N + i] as f32)
}

fn ids<const N: usize>(values: &[u32], sample: usize) -> [u32; N] {
    std::array::from_fn(|i| values[sample * N + i])
}

fn steps<const T: usize, const N: usize>(values: &[f64], sample: usize) -> [[f32; N]; T] {
    std::array::from_fn(|t| std::array::from_fn(|i| values[(sample * T + t) * N + i] as f32))
}

kiln::model! {
    struct Mlp {
        input x: [f32; 4];
        let h = Dense(16, activation = relu)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

#[test]
fn dense_mlp() {
    check("mlp", || Mlp::new(11), |n, s| n.predict_one(&row(keras::MLP_X0, s)).to_vec(), &[keras::MLP_Y0]);
}

/// Keras named these layers `dense_2`, `dense_3` (a session that had made
/// two before); its file's groups are `layers/dense`, `layers/dense_1`,
/// which is what kiln calls them.
#[test]
fn layers_named_by_a_busy_keras_session_match_by_their_group() {
    check(
        "mlp_renamed",
        || Mlp::new(12),
        |n, s| n.predict_one(&row(keras::MLP_RENAMED_X0, s)).to_vec(),
        &[keras::MLP_RENAMED_Y0],
    );
}

kiln::model! {
    struct LstmText {
        input tokens: [u32; 10];
        let e = Embedding(5, 8)(tokens);
        let l = LSTM(6)(e);
        let p = Dense(1, activation = sigmoid)(l);
        output p;
    }
}

#[test]
fn embedding_lstm_dense_sequential() {
    check(
        "lstm_text",
        || LstmText::new(13),
        |n, s| n.predict_one(&ids(keras::LSTM_TEXT_X0, s)).unwrap().to_vec(),
        &[keras::LSTM_TEXT_Y0],
    );
}

kiln::model! {
    struct Grus {
        input x: [f32; 5, 3];
        let g = GRU(4, return_sequences = true)(x);
        let h = GRU(3)(g);
        let p = Dense(2)(h);
        output p;
    }
}

#[test]
fn stacked_gru() {
    check("gru", || Grus::new(14), |n, s| n.predict_one(&steps(keras::GRU_X0, s)).to_vec(), &[keras::GRU_Y0]);
}

kiln::model! {
    struct Rnn {
        input x: [f32; 5, 3];
        let s = SimpleRNN(4, return_sequences = true)(x);
        let f = Flatten()(s);
        let p = Dense(2, activation = tanh)(f);
        output p;
    }
}

#[test]
fn simple_rnn_flatten() {
    check(
        "simple_rnn",
        || Rnn::new(15),
        |n, s| n.predict_one(&steps(keras::SIMPLE_RNN_X0, s)).to_vec(),
        &[keras::SIMPLE_RNN_Y0],
    );
}

kiln::model! {
    struct TwoIo {
        input ids: [u32; 8];
        input extra: [f32; 5];
        let e = Embedding(4, 6)(ids);
        let l = LSTM(3)(e);
        let c = concatenate([l, extra]);
        let d = Dense(1, activation = sigmoid)(c);
        let aux = Dense(2, name = "aux")(c);
        output d, aux;
    }
}

#[test]
fn two_inputs_two_outputs() {
    check(
        "two_io",
        || TwoIo::new(16),
        |n, s| {
            let (main, aux) = n.predict_one(&ids(keras::TWO_IO_X0, s), &row(keras::TWO_IO_X1, s)).unwrap();
            main.iter().chain(&aux).copied().collect()
        },
        &[keras::TWO_IO_Y0, keras::TWO_IO_Y1],
    );
}

kiln::model! {
    struct Inner {
        input x: [f32; 8];
        let h = Dense(4, activation = tanh)(x);
        let y = Dense(3)(h);
        output y;
    }
}

kiln::model! {
    struct Distributed {
        input steps: [f32; 6, 8];
        let per_step = TimeDistributed(Dense(5, activation = relu))(steps);
        let inner: [6, 3] = custom(kiln::layers::TimeDistributed::<Inner, 6>::new(Inner::new(1)))(steps);
        let both = concatenate([per_step, inner], axis = 2);
        let flat = Flatten()(both);
        let p = Dense(2, activation = softmax)(flat);
        output p;
    }
}

#[test]
fn time_distributed_layer_and_nested_model() {
    check(
        "time_distributed",
        || Distributed::new(17),
        |n, s| n.predict_one(&steps(keras::TIME_DISTRIBUTED_X0, s)).to_vec(),
        &[keras::TIME_DISTRIBUTED_Y0],
    );
}

kiln::model! {
    struct WideMlp {
        input x: [f32; 4];
        let h = Dense(32, activation = relu)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

kiln::model! {
    struct DeepMlp {
        input x: [f32; 4];
        let h = Dense(16, activation = relu)(x);
        let p = Dense(3, activation = softmax)(h);
        let q = Dense(3)(p);
        output q;
    }
}

kiln::model! {
    struct OneOutput {
        input ids: [u32; 8];
        input extra: [f32; 5];
        let e = Embedding(4, 6)(ids);
        let l = LSTM(3)(e);
        let c = concatenate([l, extra]);
        let d = Dense(1, activation = sigmoid)(c);
        output d;
    }
}

fn problem(result: kiln::Result<()>) -> FileProblem {
    match result {
        Err(Error::File { problem, .. }) => problem,
        other => panic!("expected a file problem, got {other:?}"),
    }
}

/// Each kind of mismatch is its own typed error naming the layer (and both
/// shapes), and the model keeps its weights.
#[test]
fn files_of_another_architecture_are_typed_errors_and_change_nothing() {
    for file in ["mlp.keras", "mlp.weights.h5"] {
        let mut wide = WideMlp::new(1);
        let before = values(&wide);
        let p = problem(load_keras_weights(&mut wide, fixture(file)));
        assert!(
            matches!(&p, FileProblem::Shape { tensor, expected, found }
                if tensor == "dense/kernel" && expected == &[4, 32] && found == &[4, 16]),
            "{file}: {p:?}"
        );
        assert_eq!(values(&wide), before, "{file}");

        let mut deep = DeepMlp::new(1);
        let before = values(&deep);
        let p = problem(load_keras_weights(&mut deep, fixture(file)));
        assert!(
            matches!(&p, FileProblem::MissingLayer { layer, expected, available }
                if layer == "dense_2" && expected == &[vec![3, 3], vec![3]] && available == &["dense", "dense_1"]),
            "{file}: {p:?}"
        );
        assert_eq!(values(&deep), before, "{file}");
    }
    let mut one = OneOutput::new(1);
    let before = values(&one);
    let p = problem(load_keras_weights(&mut one, fixture("two_io.keras")));
    assert!(matches!(&p, FileProblem::UnexpectedLayer { layer, variables: 2 } if layer == "aux"), "{p:?}");
    assert_eq!(values(&one), before);
    // The message names the file, the layer and both shapes.
    let err = load_keras_weights(&mut WideMlp::new(1), fixture("mlp.keras")).unwrap_err().to_string();
    assert!(
        err.contains("mlp.keras") && err.contains("dense/kernel") && err.contains("[4, 32]") && err.contains("[4, 16]"),
        "{err}"
    );
}

/// Not Keras files, truncated or corrupt: typed errors, no panic, no change.
#[test]
fn unreadable_files_are_typed_errors() {
    let keras = std::fs::read(fixture("mlp.keras")).unwrap();
    let h5 = std::fs::read(fixture("mlp.weights.h5")).unwrap();
    let safetensors = kiln::io::weights_to_bytes(&Mlp::new(1)).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("a kiln weights file", safetensors),
        ("truncated .keras", keras[..keras.len() / 2].to_vec()),
        ("truncated .weights.h5", h5[..h5.len() / 2].to_vec()),
        ("only the HDF5 signature", h5[..8].to_vec()),
        ("zip without its directory", keras[..40].to_vec()),
    ];
    for (what, bytes) in cases {
        let mut net = Mlp::new(2);
        let before = values(&net);
        let p = load_keras_weights_from_bytes(&mut net, &bytes).unwrap_err();
        assert!(matches!(p, FileProblem::KerasFile(_)), "{what}: {p:?}");
        assert!(!p.to_string().is_empty());
        assert_eq!(values(&net), before, "{what}");
    }
    let missing = load_keras_weights(&mut Mlp::new(1), fixture("no-such.keras")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
}

/// A variable stored as float64 is a typed error naming it.
#[test]
fn a_float64_variable_is_a_dtype_error() {
    // tests/fixtures/keras_bad_files.py rewrote the first kernel as float64.
    let mut net = Mlp::new(1);
    let before = values(&net);
    let p = problem(load_keras_weights(&mut net, fixture("mlp_float64.weights.h5")));
    assert!(
        matches!(&p, FileProblem::Dtype { tensor, found } if tensor == "layers/dense/vars/0" && found.contains("size: 8")),
        "{p:?}"
    );
    assert_eq!(values(&net), before);
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

/// A compiled, trained model's `.keras` also holds Adam's state (an
/// `optimizer` group in its weights file), which is not the model's and
/// is left out.
#[test]
fn a_trained_models_archive_with_optimizer_state() {
    // The tutorial's six strings as ids ('0' → 0, '1' → 1, other → 2, padded with 3).
    let texts = ["00001", "001000101", "001011101110", "0101010100", "0113410101010", "01210101011"];
    let mut net = TextClassifier::new(5);
    load_keras_weights(&mut net, fixture("text_classifier.keras")).unwrap();
    for (text, want) in texts.iter().zip(keras::TEXT_CLASSIFIER_Y) {
        let mut ids = [3u32; 16];
        for (slot, c) in ids.iter_mut().zip(text.chars()) {
            *slot = match c {
                '0' => 0,
                '1' => 1,
                _ => 2,
            };
        }
        let got = net.predict_one(&ids).unwrap()[0] as f64;
        assert!((got - want).abs() < 1e-5, "{text}: {got} vs Keras {want}");
    }
}

/// The weights member of an archive is read only up to what a weights
/// file of the model can hold (its values and an optimizer's, a few times
/// over, plus HDF5's bookkeeping), before any of it is allocated.
#[test]
fn an_archive_member_larger_than_the_model_allows_is_refused() {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("model.weights.h5", options).unwrap();
    // 64 MB of zeros deflate to 64 KB: a small file claiming a large member.
    zip.write_all(&vec![0u8; 64 << 20]).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 1 << 20);
    let mut net = Mlp::new(1);
    let p = load_keras_weights_from_bytes(&mut net, &bytes).unwrap_err();
    // Mlp: 131 values in 4 tensors: at most 16·131 + 64 KiB·20 = 1,312,816 bytes.
    assert!(
        matches!(&p, FileProblem::KerasFile(m) if m.contains("claims 67108864 bytes") && m.contains("(1312816)")),
        "{p:?}"
    );
}
