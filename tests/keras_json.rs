//! `to_json()` writes Keras 3's model config (issue 10, item 2).
//!
//! Each model's JSON is compared with its checked-in file
//! `tests/fixtures/keras_json/<model>.json` (rewrite them with
//! `KILN_BLESS_JSON=1 cargo test --test keras_json`), beside the layer
//! table kiln's `summary()` gives (`<model>.summary.json`: class, output
//! shape and parameter count of each layer). Each run also writes the
//! model's weights (`save_weights`) and a few inputs with kiln's
//! predictions under `target/tmp/keras_json/`; then
//! `tests/fixtures/keras_json_check.py` (run by `.ci/run` where Keras is
//! installed) rebuilds every file with `keras.models.model_from_json`,
//! checks the layer table, loads the weights and checks that Keras
//! predicts what kiln predicted.

use kiln::json::Value;
use kiln::prelude::*;
use std::path::PathBuf;

const MAXLEN: usize = 16;
const VOCAB: usize = 4;

kiln::model! {
    /// The tutorials' MLP.
    pub struct Mlp {
        input image: [f32; 28, 28];
        let flat = Flatten()(image);
        let hidden1 = Dense(300, activation = relu)(flat);
        let hidden2 = Dense(100, activation = relu)(hidden1);
        let probs = Dense(10, activation = softmax)(hidden2);
        output probs;
    }
}

kiln::model! {
    /// The tutorials' text classifier, with constant sizes (written into
    /// the JSON as numbers when the model is built).
    pub struct TextClassifier {
        input tokens: [u32; MAXLEN];
        let embedded = Embedding(VOCAB, 64)(tokens);
        let encoding = LSTM(64)(embedded);
        let prob = Dense(units = 1, activation = sigmoid)(encoding);
        output prob;
    }
}

kiln::model! {
    /// SimpleRNN (returning sequences) into a GRU, with non-default arguments.
    pub struct Recurrent {
        input x: [f32; 5, 3];
        let s = SimpleRNN(4, activation = relu, return_sequences = true, kernel_initializer = he_uniform)(x);
        let g = GRU(3, use_bias = false)(s);
        let p = Dense(2, "softmax")(g);
        output p;
    }
}

kiln::model! {
    /// Two inputs and two outputs, with names and a concatenation.
    pub struct TwoIo {
        input ids: [u32; 8];
        input extra: [f32; 5];
        let e = Embedding(6, 4, name = "words")(ids);
        let l = LSTM(3, unit_forget_bias = false)(e);
        let c = concatenate([l, extra], axis = -1);
        let main = Dense(1, activation = sigmoid, name = "main")(c);
        let aux = Dense(2, name = "aux")(c);
        output main, aux;
    }
}

kiln::model! {
    /// A layer applied to every step, then flattened.
    pub struct Steps {
        input steps: [f32; 6, 8];
        let t = TimeDistributed(Dense(4, activation = tanh))(steps);
        let f = Flatten()(t);
        let p = Dense(3)(f);
        output p;
    }
}

kiln::model! {
    /// One layer called on two inputs (its weights shared), merged by `add`.
    pub struct Shared {
        input a: [f32; 4];
        input b: [f32; 4];
        let shared = Dense(3, activation = tanh, name = "shared");
        let x = shared(a);
        let y = shared(b);
        let s = add([x, y]);
        let p = Activation(sigmoid)(s);
        output p;
    }
}

kiln::model! {
    /// `reduce_sum` has no Keras layer class.
    pub struct Reduced {
        input x: [f32; 4, 3];
        let s = reduce_sum(x, axis = 1);
        let p = Dense(2)(s);
        output p;
    }
}

#[allow(dead_code)]
#[path = "../examples/custom_layer.rs"]
mod custom_layer;

kiln::model! {
    /// A user's layer type has no Keras class.
    pub struct WithCustom {
        input x: [f32; 4];
        let s: [4] = custom(custom_layer::Scale::<4>::new())(x);
        let p = Dense(2)(s);
        output p;
    }
}

fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_json").join(file)
}

/// Where the weights and predictions for the Python check go.
fn scratch(file: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keras_json");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(file)
}

/// The layer table as the Python check compares it with Keras's model.
fn table(summary: &kiln::summary::Summary) -> Value {
    let rows: Vec<Value> = summary
        .rows
        .iter()
        .map(|r| serde_json_row(&r.name, &r.kind, &r.output_shape, r.trainable + r.non_trainable))
        .collect();
    let mut map = kiln::json::Map::new();
    map.insert("layers".into(), Value::Array(rows));
    map.insert("total_params".into(), Value::from(summary.total_params()));
    Value::Object(map)
}

fn serde_json_row(name: &str, kind: &str, shape: &str, params: usize) -> Value {
    Value::Array(vec![Value::from(name), Value::from(kind), Value::from(shape), Value::from(params)])
}

/// Compares `value` with the checked-in `file` (or rewrites it).
fn compare(file: &str, value: &Value) {
    let path = fixture(file);
    if std::env::var_os("KILN_BLESS_JSON").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = kiln::json::to_string_pretty(value);
        std::fs::write(&path, text + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (write it with KILN_BLESS_JSON=1)", path.display()));
    let want: Value = text.parse().unwrap();
    assert_eq!(value, &want, "{file} differs from to_json() (rewrite with KILN_BLESS_JSON=1 if intended)");
    // Byte for byte too: the fixtures were written by serde_json's
    // `to_string_pretty`, which kiln's printer must reproduce.
    assert_eq!(kiln::json::to_string_pretty(value) + "\n", text, "{file}: same value, other text");
}

/// Checks `net`'s JSON and layer table against the fixtures, and writes
/// its weights and `(inputs, outputs)` of a few samples for the Python check.
fn check<N: Network>(name: &str, net: &N, json: kiln::Result<String>, samples: Vec<(Vec<Vec<f64>>, Vec<f32>)>) {
    let text = json.unwrap();
    let value: Value = text.parse().expect("to_json writes valid JSON");
    compare(&format!("{name}.json"), &value);
    compare(&format!("{name}.summary.json"), &table(&net.summary()));
    kiln::io::save_weights(net, scratch(&format!("{name}.safetensors"))).unwrap();
    let io: Vec<Value> = samples
        .into_iter()
        .map(|(inputs, outputs)| {
            let inputs = inputs.into_iter().map(Value::from).collect();
            let outputs = outputs.into_iter().map(|o| kiln::json::ToJsonValue::to_json_value(&o)).collect();
            Value::Array(vec![Value::Array(inputs), Value::Array(outputs)])
        })
        .collect();
    std::fs::write(scratch(&format!("{name}.io.json")), Value::Array(io).to_string()).unwrap();
}

/// Deterministic values in [-1, 1).
fn values(seed: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| (((seed * 7919 + i * 104_729) % 2000) as f32) / 1000.0 - 1.0).collect()
}

fn array<const N: usize>(v: &[f32]) -> [f32; N] {
    std::array::from_fn(|i| v[i])
}

fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn mlp() {
    let net = Mlp::new(1);
    let samples = (0..2)
        .map(|s| {
            let x = values(s, 784);
            let image: [[f32; 28]; 28] = std::array::from_fn(|r| array(&x[r * 28..]));
            (vec![wide(&x)], net.predict_one(&image).to_vec())
        })
        .collect();
    check("mlp", &net, net.to_json(), samples);
}

#[test]
fn text_classifier() {
    let net = TextClassifier::new(2);
    let samples = (0..2)
        .map(|s| {
            let ids: [u32; MAXLEN] = std::array::from_fn(|i| ((i * 3 + s) % VOCAB) as u32);
            let x = ids.iter().map(|&i| i as f64).collect();
            (vec![x], net.predict_one(&ids).unwrap().to_vec())
        })
        .collect();
    check("text_classifier", &net, net.to_json(), samples);
}

#[test]
fn recurrent() {
    let net = Recurrent::new(3);
    let samples = (0..2)
        .map(|s| {
            let x = values(s, 15);
            let steps: [[f32; 3]; 5] = std::array::from_fn(|t| array(&x[t * 3..]));
            (vec![wide(&x)], net.predict_one(&steps).to_vec())
        })
        .collect();
    check("recurrent", &net, net.to_json(), samples);
}

#[test]
fn two_inputs_two_outputs() {
    let net = TwoIo::new(4);
    let samples = (0..2)
        .map(|s| {
            let ids: [u32; 8] = std::array::from_fn(|i| ((i * 5 + s) % 6) as u32);
            let extra = values(s, 5);
            let (main, aux) = net.predict_one(&ids, &array(&extra)).unwrap();
            let x = ids.iter().map(|&i| i as f64).collect();
            (vec![x, wide(&extra)], [main.to_vec(), aux.to_vec()].concat())
        })
        .collect();
    check("two_io", &net, net.to_json(), samples);
}

#[test]
fn time_distributed() {
    let net = Steps::new(5);
    let samples = (0..2)
        .map(|s| {
            let x = values(s, 48);
            let steps: [[f32; 8]; 6] = std::array::from_fn(|t| array(&x[t * 8..]));
            (vec![wide(&x)], net.predict_one(&steps).to_vec())
        })
        .collect();
    check("time_distributed", &net, net.to_json(), samples);
}

#[test]
fn shared_layer() {
    let net = Shared::new(6);
    let samples = (0..2)
        .map(|s| {
            let (a, b) = (values(s, 4), values(s + 10, 4));
            (vec![wide(&a), wide(&b)], net.predict_one(&array(&a), &array(&b)).to_vec())
        })
        .collect();
    check("shared", &net, net.to_json(), samples);
    // Both calls are nodes of the one layer: Keras's `keras_history` of the
    // second is `["shared", 1, 0]`.
    let json = net.to_json_value().unwrap();
    let layers = json["config"]["layers"].as_array().unwrap();
    let shared = layers.iter().find(|l| l["name"] == "shared").unwrap();
    assert_eq!(shared["inbound_nodes"].as_array().unwrap().len(), 2);
    let add = layers.iter().find(|l| l["class_name"] == "Add").unwrap();
    let history = &add["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"];
    assert_eq!(history, &Value::Array(vec!["shared".into(), 1.into(), 0.into()]));
}

#[test]
fn a_layer_without_a_keras_class_is_an_error_naming_it() {
    let net = Reduced::new(7);
    match net.to_json() {
        Err(kiln::Error::NotKerasSerializable { layer, kind, reason }) => {
            assert_eq!((layer.as_str(), kind.as_str()), ("lambda", "Lambda"));
            assert!(reason.contains("reduce_sum"), "{reason}");
        }
        other => panic!("expected NotKerasSerializable, got {other:?}"),
    }
}

#[test]
fn a_custom_layer_is_an_error_naming_it() {
    match WithCustom::new(0).to_json() {
        Err(kiln::Error::NotKerasSerializable { layer, reason, .. }) => {
            assert_eq!(layer, "scale"); // Keras's automatic name for the type `Scale`
            assert!(reason.contains("custom"), "{reason}");
        }
        other => panic!("expected NotKerasSerializable, got {other:?}"),
    }
}

#[test]
fn arguments_keep_their_keras_keywords_and_values() {
    let json = Recurrent::new(0).to_json_value().unwrap();
    let layers = json["config"]["layers"].as_array().unwrap();
    let rnn = &layers[1]["config"];
    assert_eq!(layers[1]["class_name"], "SimpleRNN");
    assert_eq!(rnn["units"], 4);
    assert_eq!(rnn["activation"], "relu");
    assert_eq!(rnn["return_sequences"], true);
    assert_eq!(rnn["kernel_initializer"], "he_uniform");
    // Positional `"softmax"` is Dense's `activation`.
    assert_eq!(layers[3]["config"]["activation"], "softmax");
    // Constant sizes are evaluated: VOCAB = 4, MAXLEN = 16.
    let json = TextClassifier::new(0).to_json_value().unwrap();
    assert_eq!(json["config"]["layers"][1]["config"]["input_dim"], 4);
    assert_eq!(json["config"]["layers"][0]["config"]["batch_shape"], Value::Array(vec![Value::Null, 16.into()]));
    assert_eq!(json["config"]["layers"][0]["config"]["dtype"], "int32");
}

kiln::model! {
    /// The input's shape declared on the first layer, Keras-style.
    pub struct Declared {
        let h = Dense(8, activation = relu, input_dim = 20)(x);
        let p = Dense(1)(h);
        output p;
    }
}

/// `input_dim = 20` is the input's shape (its `InputLayer`), not an
/// argument of the `Dense`.
#[test]
fn an_input_shape_declared_on_the_first_layer_becomes_the_input_layer() {
    let json = Declared::new(0).to_json_value().unwrap();
    let layers = json["config"]["layers"].as_array().unwrap();
    assert_eq!(layers[0]["class_name"], "InputLayer");
    assert_eq!(layers[0]["config"]["batch_shape"], Value::Array(vec![Value::Null, 20.into()]));
    assert_eq!(layers[1]["config"].get("input_dim"), None);
    assert_eq!(layers[1]["config"]["units"], 8);
    assert_eq!(json["config"]["input_layers"], Value::Array(vec!["x".into(), 0.into(), 0.into()]));
}
