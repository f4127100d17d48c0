//! Keras architectures imported at compile time (issue 10, item 5):
//! `model! { struct M from "file.keras"; }` reads the model config inside
//! a `.keras` file (or a `to_json()` / `config.json` file) and generates
//! the struct the DSL would. The files in tests/fixtures/keras_files/ are
//! real Keras 3 files whose predictions tests/fixtures/keras_files.rs
//! holds; their weights load with `kiln::io::load_keras_weights`, and the
//! imported models must predict what Keras predicted (1e-5).
#![cfg(feature = "keras-weights")]

use kiln::io::load_keras_weights;
use kiln::json::Value;

#[allow(dead_code)]
mod keras {
    include!("fixtures/keras_files.rs");
}

kiln::model! {
    /// The tutorials' text classifier, trained in Keras (a Sequential model).
    pub struct TextClassifier from "tests/fixtures/keras_files/text_classifier.keras";
}

kiln::model! {
    struct LstmText from "tests/fixtures/keras_files/lstm_text.keras";
}

kiln::model! {
    struct Grus from "tests/fixtures/keras_files/gru.keras";
}

kiln::model! {
    struct Rnn from "tests/fixtures/keras_files/simple_rnn.keras";
}

kiln::model! {
    /// Functional: two inputs, a concatenation, two outputs.
    struct TwoIo from "tests/fixtures/keras_files/two_io.keras";
}

kiln::model! {
    struct MlpRenamed from "tests/fixtures/keras_files/mlp_renamed.keras";
}

kiln::model! {
    /// kiln's own `to_json()` output, imported back (a shared layer).
    struct SharedBack from "tests/fixtures/keras_json/shared.json";
}

kiln::model! {
    struct StepsBack from "tests/fixtures/keras_json/time_distributed.json";
}

kiln::model! {
    struct RecurrentBack from "tests/fixtures/keras_json/recurrent.json";
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/keras_files/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-5, "{what}: kiln {got:?} vs Keras {want:?}");
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

#[test]
fn the_tutorials_text_classifier_trained_in_keras() {
    let texts = ["00001", "001000101", "001011101110", "0101010100", "0113410101010", "01210101011"];
    let mut net = TextClassifier::new(5);
    load_keras_weights(&mut net, fixture("text_classifier.keras")).unwrap();
    // Keras's names and types, as Keras's summary shows them.
    let rows: Vec<(String, String)> = net.summary().rows.iter().map(|r| (r.name.clone(), r.kind.clone())).collect();
    let want = [("input_layer", "InputLayer"), ("embedding", "Embedding"), ("lstm", "LSTM"), ("dense", "Dense")];
    assert_eq!(rows, want.map(|(a, b)| (a.to_string(), b.to_string())));
    for (text, want) in texts.iter().zip(keras::TEXT_CLASSIFIER_Y) {
        let mut tokens = [3u32; 16];
        for (slot, c) in tokens.iter_mut().zip(text.chars()) {
            *slot = match c {
                '0' => 0,
                '1' => 1,
                _ => 2,
            };
        }
        close(&net.predict_one(&tokens).unwrap(), &[*want], text);
    }
}

#[test]
fn recurrent_models_predict_what_keras_predicted() {
    let mut lstm = LstmText::new(1);
    load_keras_weights(&mut lstm, fixture("lstm_text.keras")).unwrap();
    let mut gru = Grus::new(1);
    load_keras_weights(&mut gru, fixture("gru.keras")).unwrap();
    let mut rnn = Rnn::new(1);
    load_keras_weights(&mut rnn, fixture("simple_rnn.keras")).unwrap();
    for s in 0..3 {
        let width = keras::LSTM_TEXT_Y0.len() / 3;
        close(
            &lstm.predict_one(&ids(keras::LSTM_TEXT_X0, s)).unwrap(),
            &keras::LSTM_TEXT_Y0[s * width..][..width],
            "lstm",
        );
        let width = keras::GRU_Y0.len() / 3;
        close(&gru.predict_one(&steps(keras::GRU_X0, s)), &keras::GRU_Y0[s * width..][..width], "gru");
        let width = keras::SIMPLE_RNN_Y0.len() / 3;
        close(&rnn.predict_one(&steps(keras::SIMPLE_RNN_X0, s)), &keras::SIMPLE_RNN_Y0[s * width..][..width], "rnn");
    }
}

#[test]
fn two_inputs_two_outputs_and_renamed_layers() {
    let mut two = TwoIo::new(1);
    load_keras_weights(&mut two, fixture("two_io.keras")).unwrap();
    let mut mlp = MlpRenamed::new(1);
    load_keras_weights(&mut mlp, fixture("mlp_renamed.keras")).unwrap();
    for s in 0..3 {
        let (main, aux) = two.predict_one(&ids(keras::TWO_IO_X0, s), &row(keras::TWO_IO_X1, s)).unwrap();
        let (w0, w1) = (keras::TWO_IO_Y0.len() / 3, keras::TWO_IO_Y1.len() / 3);
        close(&main, &keras::TWO_IO_Y0[s * w0..][..w0], "two_io main");
        close(&aux, &keras::TWO_IO_Y1[s * w1..][..w1], "two_io aux");
        let w = keras::MLP_RENAMED_Y0.len() / 3;
        close(&mlp.predict_one(&row(keras::MLP_RENAMED_X0, s)), &keras::MLP_RENAMED_Y0[s * w..][..w], "mlp_renamed");
    }
}

/// The layers' entries (the model's own name aside) of `json`.
fn layers(json: &Value) -> &Value {
    &json["config"]["layers"]
}

fn fixture_json(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/keras_json/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

/// kiln → JSON → kiln: the imported model writes the same config again
/// (shared layer, TimeDistributed, non-default recurrent arguments).
#[test]
fn to_json_output_imports_back_to_the_same_model() {
    assert_eq!(layers(&SharedBack::new(0).to_json_value().unwrap()), layers(&fixture_json("shared")));
    assert_eq!(layers(&StepsBack::new(0).to_json_value().unwrap()), layers(&fixture_json("time_distributed")));
    assert_eq!(layers(&RecurrentBack::new(0).to_json_value().unwrap()), layers(&fixture_json("recurrent")));
}
