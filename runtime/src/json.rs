//! Keras 3's model config (`model.to_json()`), built by the `to_json()`
//! that `model!` generates for every model.
//!
//! The generated code lists, per layer, its Keras class, its name, the
//! arguments the `model!` line gave (under their Keras keywords) and the
//! tensors of each call; this module assembles them in the shape Keras's
//! `Functional.get_config()` has, so `keras.models.model_from_json`
//! rebuilds the model. Arguments not given are left out: Keras fills in
//! its defaults, which are kiln's (`docs/DESIGN.md`, "Keras JSON").

pub use kiln_format::json::{from_str, Map, Number, Value};

/// An object of `entries` (keys sorted, as every object here).
pub fn object<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(entries.into_iter().map(|(key, value)| (key.to_string(), value)).collect())
}

/// A value written in a `model!` line (a size such as `VOCAB + 2`, a
/// rate) as a JSON number, evaluated where the model is built.
pub trait ToJsonValue {
    /// The value as JSON.
    fn to_json_value(&self) -> Value;
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl ToJsonValue for $t {
            fn to_json_value(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl ToJsonValue for f64 {
    fn to_json_value(&self) -> Value {
        Value::from(*self)
    }
}

impl ToJsonValue for f32 {
    /// The shortest decimal that reads back as this `f32` (`0.1`, not
    /// `0.10000000149011612`), as Python would print it.
    fn to_json_value(&self) -> Value {
        Value::from(self.to_string().parse::<f64>().unwrap_or(f64::from(*self)))
    }
}

impl ToJsonValue for bool {
    fn to_json_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ToJsonValue for &str {
    fn to_json_value(&self) -> Value {
        Value::from(*self)
    }
}

/// Keras's float32 dtype policy, as every layer's config holds it.
fn dtype_policy() -> Value {
    object([
        ("module", "keras".into()),
        ("class_name", "DTypePolicy".into()),
        ("config", object([("name", "float32".into())])),
        ("registered_name", Value::Null),
    ])
}

/// `[null, d1, d2, …]`: a per-sample shape with Keras's batch axis.
pub fn batch_shape(shape: &[usize]) -> Value {
    let mut dims = vec![Value::Null];
    dims.extend(shape.iter().map(|&d| Value::from(d)));
    Value::Array(dims)
}

/// A layer's serialized form without its calls (also the `layer` of a
/// `TimeDistributed`): `{"module", "class_name", "config", "registered_name",
/// "build_config"}`. `args` are the arguments the `model!` line gave;
/// `input_shape` is the shape (or, for a merge, the list of shapes) of
/// its first call, with the batch axis.
pub fn layer(class_name: &str, name: &str, args: Vec<(&str, Value)>, input_shape: Value) -> Value {
    let mut config = Map::new();
    config.insert("name".into(), Value::from(name));
    config.insert("trainable".into(), Value::Bool(true));
    config.insert("dtype".into(), dtype_policy());
    for (key, value) in args {
        config.insert(key.into(), value);
    }
    object([
        ("module", "keras.layers".into()),
        ("class_name", class_name.into()),
        ("config", Value::Object(config)),
        ("registered_name", Value::Null),
        ("build_config", object([("input_shape", input_shape)])),
    ])
}

/// A tensor as a call's argument: Keras's `__keras_tensor__` with its
/// shape, dtype and history (the layer, call and output that made it).
pub fn tensor(shape: &[usize], dtype: &str, layer: &str, node: usize) -> Value {
    object([
        ("class_name", "__keras_tensor__".into()),
        (
            "config",
            object([
                ("shape", batch_shape(shape)),
                ("dtype", dtype.into()),
                ("keras_history", Value::Array(vec![layer.into(), node.into(), 0.into()])),
            ]),
        ),
    ])
}

/// One call of a layer: its tensors, as one argument or (merges) as a list.
pub fn node(mut tensors: Vec<Value>, merge: bool) -> Value {
    let args = if merge || tensors.len() != 1 { Value::Array(tensors) } else { tensors.remove(0) };
    object([("args", Value::Array(vec![args])), ("kwargs", object([]))])
}

/// A layer entry of the model's `layers`: [`layer`] plus its name and calls.
pub fn called(mut layer: Value, nodes: Vec<Value>) -> Value {
    let name = layer["config"]["name"].clone();
    let object = layer.as_object_mut().expect("layer() builds an object");
    object.insert("name".into(), name);
    object.insert("inbound_nodes".into(), Value::Array(nodes));
    layer
}

/// A model input: Keras's `InputLayer` (`dtype` is `float32`, or `int32`
/// for ids).
pub fn input_layer(name: &str, shape: &[usize], dtype: &str) -> Value {
    object([
        ("module", "keras.layers".into()),
        ("class_name", "InputLayer".into()),
        (
            "config",
            object([
                ("batch_shape", batch_shape(shape)),
                ("dtype", dtype.into()),
                ("sparse", false.into()),
                ("ragged", false.into()),
                ("name", name.into()),
                ("optional", false.into()),
            ]),
        ),
        ("registered_name", Value::Null),
        ("name", name.into()),
        ("inbound_nodes", Value::Array(vec![])),
    ])
}

/// `input_layers` / `output_layers`: `[name, node, 0]` for one tensor, a
/// list of them for several (as Keras writes them).
fn endpoints(list: &[(&str, usize)]) -> Value {
    let all: Vec<Value> =
        list.iter().map(|(name, node)| Value::Array(vec![(*name).into(), (*node).into(), 0.into()])).collect();
    match <[Value; 1]>::try_from(all) {
        Ok([one]) => one,
        Err(all) => Value::Array(all),
    }
}

/// The whole model: Keras's `Functional` config.
pub fn functional(name: &str, layers: Vec<Value>, inputs: &[(&str, usize)], outputs: &[(&str, usize)]) -> Value {
    object([
        ("module", "keras.src.models.functional".into()),
        ("class_name", "Functional".into()),
        (
            "config",
            object([
                ("name", name.into()),
                ("trainable", true.into()),
                ("layers", Value::Array(layers)),
                ("input_layers", endpoints(inputs)),
                ("output_layers", endpoints(outputs)),
            ]),
        ),
        ("registered_name", "Functional".into()),
        ("build_config", object([("input_shape", Value::Null)])),
    ])
}

/// `kernel_regularizer = l2(0.01)` and its kin as Keras serializes them:
/// `{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}}`.
pub fn keras_object(module: &str, class_name: &str, config: Vec<(&str, Value)>) -> Value {
    object([
        ("module", module.into()),
        ("class_name", class_name.into()),
        ("config", object(config)),
        ("registered_name", Value::Null),
    ])
}

/// The JSON text of a model's config (what `model.to_json()` returns):
/// compact, keys sorted, as serde_json's `to_string` writes it.
pub fn to_string(value: &Value) -> String {
    kiln_format::json::to_string(value)
}

/// [`to_string`], indented as serde_json's `to_string_pretty` writes it
/// (the checked-in test fixtures).
pub fn to_string_pretty(value: &Value) -> String {
    kiln_format::json::to_string_pretty(value)
}
