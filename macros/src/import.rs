//! `model! { pub struct TextClassifier from "model.keras"; }`: a Keras 3
//! model config — `config.json` inside a `.keras` file, or the JSON of
//! `model.to_json()` — translated at compile time into the DSL's own
//! statements, which then go through the normal pipeline (the same shape
//! checks and errors as a model written by hand).
//!
//! A config lists every argument of every layer with its value. An
//! argument kiln implements (the layer kind's keywords in the registry) is
//! passed on; any other must hold Keras's default
//! (`keras_defaults.json`, made by `tests/fixtures/keras_json_defaults.py`)
//! or the import fails at the path literal, naming the layer and the
//! argument. Nothing is silently dropped. A new layer kind needs no code
//! here: its class and keywords come from the registry.

use crate::json::{self, Map, Value};
use crate::parse::{ModelDef, Stmt};
use proc_macro2::{Group, Span, TokenStream, TokenTree};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use syn::LitStr;

/// Keras's defaults: `{"layers": {Class: {"required", "defaults"}}, "initializers": {Class: {"name", "config"}}}`.
const DEFAULTS: &str = include_str!("keras_defaults.json");

/// [`DEFAULTS`] parsed, once per macro process: it is 62 KB, and every
/// layer and initializer of an imported model reads it.
fn defaults() -> &'static Value {
    static TABLE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| json::from_str(DEFAULTS).unwrap_or_default())
}

/// The statements of the model described by the file at `source`
/// (relative to the crate's `Cargo.toml`), spanned at the literal; and the
/// file's absolute path (for `include_bytes!`, so a changed file rebuilds).
pub fn statements(source: &LitStr, name: &syn::Ident) -> syn::Result<(Vec<Stmt>, String)> {
    let fail = |message: String| syn::Error::new(source.span(), message);
    let shown = source.value();
    let path = locate(&shown, source.span());
    let bytes = std::fs::read(&path)
        .map_err(|e| fail(format!("cannot read `{shown}` (relative to the directory of Cargo.toml): {e}")))?;
    let text = if bytes.starts_with(b"PK") {
        config_of_archive(&bytes).map_err(|e| fail(format!("`{shown}`: {e}")))?
    } else {
        String::from_utf8(bytes).map_err(|_| fail(format!("`{shown}` is neither a `.keras` archive nor JSON text")))?
    };
    let config: Value =
        json::from_str(&text).map_err(|e| fail(format!("`{shown}` is not a Keras model config: {e}")))?;
    let body = Translator::default().model(&config).map_err(|errors| {
        let mut all = fail(format!("`{shown}`: {}", errors[0]));
        for e in &errors[1..] {
            all.combine(fail(format!("`{shown}`: {e}")));
        }
        all
    })?;
    let tokens: TokenStream = format!("struct {name} {{ {body} }}")
        .parse()
        .map_err(|e| fail(format!("`{shown}`: cannot express the model in `model!` ({e})")))?;
    let def: ModelDef = syn::parse2(respan(tokens, source.span()))
        .map_err(|e| fail(format!("`{shown}`: cannot express the model in `model!` ({e}): {body}")))?;
    Ok((def.stmts, path.display().to_string()))
}

/// `error` (of the normal pipeline, on an imported model) with each
/// message prefixed by the file's path, as the import's own errors are.
pub fn in_file(error: syn::Error, shown: &str) -> syn::Error {
    let mut all: Option<syn::Error> = None;
    for e in error {
        let e = syn::Error::new(e.span(), format!("`{shown}`: {e}"));
        match &mut all {
            Some(all) => all.combine(e),
            None => all = Some(e),
        }
    }
    all.unwrap_or_else(|| syn::Error::new(Span::call_site(), format!("`{shown}`: cannot import")))
}

/// The file `relative` names: relative to the crate's directory
/// (`CARGO_MANIFEST_DIR`). When it is not there, as in a test harness that
/// builds the invoking file in a crate of its own (trybuild), the nearest
/// directory above the invoking source file that has it.
pub(crate) fn locate(relative: &str, span: Span) -> std::path::PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let path = std::path::Path::new(&dir).join(relative);
    if path.exists() || !proc_macro::is_available() {
        return path;
    }
    let file = span.unwrap().local_file();
    let found = file.as_deref().and_then(|f| f.ancestors().skip(1).map(|a| a.join(relative)).find(|p| p.exists()));
    found.unwrap_or(path)
}

/// `config.json` of a `.keras` archive.
#[cfg(feature = "keras-archive")]
fn config_of_archive(bytes: &[u8]) -> Result<String, String> {
    use std::io::Read;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip archive: {e}"))?;
    let mut file = archive.by_name("config.json").map_err(|_| "the archive has no `config.json`".to_string())?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| format!("cannot read its `config.json`: {e}"))?;
    Ok(text)
}

/// Without the zip reader: says which feature reads archives, and what
/// works without it.
#[cfg(not(feature = "keras-archive"))]
fn config_of_archive(_: &[u8]) -> Result<String, String> {
    Err("reading a `.keras` archive at compile time needs kiln's `keras-weights` feature \
         (`kiln = { version = \"…\", features = [\"keras-weights\"] }`); \
         or give the path of its `config.json`, extracted"
        .into())
}

/// Every token at `span`: errors about the imported model point at the path.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(g) = &tree {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tree = TokenTree::Group(group);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

#[derive(Default)]
struct Translator {
    errors: Vec<String>,
    out: String,
}

/// A layer of the config: its entry, name, class and calls' inputs.
struct Entry<'a> {
    value: &'a Value,
    name: String,
    class: String,
    /// Per call: the `(layer, node)` of each input tensor.
    nodes: Vec<Vec<(String, usize)>>,
}

impl Translator {
    fn model(mut self, model: &Value) -> Result<String, Vec<String>> {
        let class = model["class_name"].as_str().unwrap_or("");
        let config = &model["config"];
        let Some(layers) = config["layers"].as_array() else {
            return Err(vec!["not a Keras model config (no `config.layers`)".into()]);
        };
        match class {
            "Functional" | "Model" => self.functional(config, layers),
            "Sequential" => self.sequential(config, layers),
            other => self.errors.push(format!("a `{other}` is not a model kiln can import (Functional or Sequential)")),
        }
        if self.errors.is_empty() {
            Ok(self.out)
        } else {
            Err(self.errors)
        }
    }

    fn sequential(&mut self, config: &Value, layers: &[Value]) {
        let mut rest = layers;
        let mut previous = match layers.first() {
            Some(first) if first["class_name"] == "InputLayer" => {
                rest = &layers[1..];
                self.input(first)
            }
            _ => match config["build_input_shape"].as_array() {
                Some(shape) => {
                    let config = Map::from([
                        ("batch_shape".to_string(), Value::Array(shape.clone())),
                        ("dtype".to_string(), Value::from("float32")),
                        ("name".to_string(), Value::from("input_layer")),
                    ]);
                    let fake = Value::Object(Map::from([("config".to_string(), Value::Object(config))]));
                    self.input(&fake)
                }
                None => {
                    self.errors.push("the Sequential model has no input shape (no `InputLayer`)".into());
                    return;
                }
            },
        };
        for layer in rest {
            let name = layer["config"]["name"].as_str().unwrap_or("layer").to_string();
            let tensor = ident(&name);
            if let Some(call) = self.call(layer, &name, false) {
                let _ = writeln!(self.out, "let {tensor} = {call}({previous});");
            }
            previous = tensor;
        }
        let _ = writeln!(self.out, "output {previous};");
    }

    fn functional(&mut self, config: &Value, layers: &[Value]) {
        let mut entries = Vec::new();
        let mut inputs: HashMap<String, &Value> = HashMap::new();
        for layer in layers {
            let name = layer["name"].as_str().or(layer["config"]["name"].as_str()).unwrap_or("").to_string();
            let class = layer["class_name"].as_str().unwrap_or("").to_string();
            if class == "InputLayer" {
                inputs.insert(name, layer);
                continue;
            }
            let mut nodes = Vec::new();
            for node in layer["inbound_nodes"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                for (key, value) in node["kwargs"].as_object().into_iter().flatten() {
                    let harmless = matches!(
                        (key.as_str(), value),
                        ("mask", Value::Null) | ("training", Value::Null | Value::Bool(false))
                    );
                    if !harmless {
                        self.errors.push(format!(
                            "layer `{name}` ({class}) is called with `{key} = {value}`, which kiln does not support"
                        ));
                    }
                }
                let arg = &node["args"][0];
                let tensors: Vec<&Value> = match arg {
                    Value::Array(list) => list.iter().collect(),
                    single => vec![single],
                };
                let mut sources = Vec::new();
                for t in tensors {
                    let history = &t["config"]["keras_history"];
                    match (history[0].as_str(), history[1].as_u64()) {
                        (Some(layer), Some(node)) => sources.push((layer.to_string(), node as usize)),
                        _ => self.errors.push(format!("layer `{name}` ({class}) has a call this import cannot read")),
                    }
                }
                nodes.push(sources);
            }
            entries.push(Entry { value: layer, name, class, nodes });
        }
        let endpoints = |v: &Value| -> Vec<(String, usize)> {
            let list: Vec<&Value> = match v.as_array() {
                Some(a) if a.first().is_some_and(Value::is_string) => vec![v],
                Some(a) => a.iter().collect(),
                None => Vec::new(),
            };
            list.iter().filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].as_u64()? as usize))).collect()
        };
        let mut defined: HashMap<(String, usize), String> = HashMap::new();
        for (name, _) in endpoints(&config["input_layers"]) {
            match inputs.get(&name) {
                Some(layer) => {
                    let tensor = self.input(layer);
                    defined.insert((name, 0), tensor);
                }
                None => self.errors.push(format!("input `{name}` is not an `InputLayer` of the model")),
            }
        }
        if !self.errors.is_empty() {
            return;
        }
        // Calls in an order where every input is defined first.
        let mut pending: Vec<(usize, usize)> =
            entries.iter().enumerate().flat_map(|(e, entry)| (0..entry.nodes.len()).map(move |n| (e, n))).collect();
        let mut bound = HashSet::new();
        while !pending.is_empty() {
            let Some(at) = pending
                .iter()
                .position(|&(e, n)| entries[e].nodes[n].iter().all(|source| defined.contains_key(source)))
            else {
                let (e, _) = pending[0];
                self.errors.push(format!("layer `{}` reads a tensor no layer of the model makes", entries[e].name));
                return;
            };
            let (e, n) = pending.remove(at);
            let entry = &entries[e];
            let shared = entry.nodes.len() > 1;
            let tensor = if shared { format!("{}__{n}", ident(&entry.name)) } else { ident(&entry.name) };
            let tensors: Vec<&str> = entry.nodes[n].iter().map(|s| defined[s].as_str()).collect();
            let op = crate::layers::for_keras_class(&entry.class).is_some_and(|k| k.is_op);
            if op {
                if shared {
                    self.errors.push(format!(
                        "layer `{}` ({}) is called several times; kiln's `{}` is called once",
                        entry.name, entry.class, entry.class
                    ));
                    continue;
                }
                if let Some(args) = self.arguments(entry.value, &entry.name, false) {
                    let op = crate::layers::for_keras_class(&entry.class).map(|k| k.name).unwrap_or("");
                    let _ = writeln!(self.out, "let {tensor} = {op}([{}]{args});", tensors.join(", "));
                }
            } else if shared {
                let binding = ident(&entry.name);
                if bound.insert(e) {
                    if let Some(call) = self.call(entry.value, &entry.name, false) {
                        let _ = writeln!(self.out, "let {binding} = {call};");
                    }
                }
                let _ = writeln!(self.out, "let {tensor} = {binding}({});", tensors.join(", "));
            } else if let Some(call) = self.call(entry.value, &entry.name, false) {
                let _ = writeln!(self.out, "let {tensor} = {call}({});", tensors.join(", "));
            }
            defined.insert((entry.name.clone(), n), tensor);
        }
        let outputs: Vec<String> = endpoints(&config["output_layers"])
            .into_iter()
            .filter_map(|source| {
                let found = defined.get(&source).cloned();
                if found.is_none() {
                    self.errors.push(format!("output `{}` is not made by a layer of the model", source.0));
                }
                found
            })
            .collect();
        let _ = writeln!(self.out, "output {};", outputs.join(", "));
    }

    /// `input name: [u32; 16];` for an `InputLayer`; returns the tensor's name.
    fn input(&mut self, layer: &Value) -> String {
        let config = &layer["config"];
        let name = config["name"].as_str().unwrap_or("input").to_string();
        let tensor = ident(&name);
        let shape = config["batch_shape"].as_array().or(config["batch_input_shape"].as_array());
        let dims: Option<Vec<u64>> = shape.and_then(|s| s.get(1..)).and_then(|s| s.iter().map(Value::as_u64).collect());
        let elem = match config["dtype"].as_str().unwrap_or("float32") {
            "float32" => Some("f32"),
            "int32" | "int64" | "uint8" | "uint16" | "uint32" | "int16" | "int8" => Some("u32"),
            _ => None,
        };
        for key in ["sparse", "ragged", "optional"] {
            if config[key] == Value::Bool(true) {
                self.errors.push(format!("input `{name}` is {key}, which kiln does not support"));
            }
        }
        match (dims.filter(|d| !d.is_empty() && d.iter().all(|&d| d > 0)), elem) {
            (Some(dims), Some(elem)) => {
                let dims: Vec<String> = dims.iter().map(u64::to_string).collect();
                let _ = writeln!(self.out, "input {tensor}: [{elem}; {}];", dims.join(", "));
            }
            (None, _) => self.errors.push(format!(
                "input `{name}` has shape {}; kiln needs every size but the batch's known",
                shape.map(|s| Value::Array(s.clone())).unwrap_or(Value::Null)
            )),
            (_, None) => self
                .errors
                .push(format!("input `{name}` holds {}; kiln's inputs hold float32 or integer ids", config["dtype"])),
        }
        tensor
    }

    /// `Dense(units = 4, name = "d")`: the layer's call, or `None` (errors recorded).
    fn call(&mut self, layer: &Value, name: &str, nested: bool) -> Option<String> {
        let class = layer["class_name"].as_str().unwrap_or("");
        let kind = crate::layers::for_keras_class(class).filter(|k| !k.is_op);
        let Some(kind) = kind else {
            let what = if matches!(class, "Functional" | "Sequential" | "Model") {
                format!("layer `{name}` is a nested model ({class}), which import does not support")
            } else {
                format!("layer `{name}`: kiln has no layer `{class}`")
            };
            self.errors.push(what);
            return None;
        };
        let args = self.arguments(layer, name, nested)?;
        Some(format!("{}({})", kind.name, args.trim_start_matches(", ")))
    }

    /// The arguments to pass (`, units = 4, name = "d"`), each with its
    /// leading comma; `None` when one is not supported (errors recorded).
    fn arguments(&mut self, layer: &Value, name: &str, nested: bool) -> Option<String> {
        let class = layer["class_name"].as_str().unwrap_or("");
        let kind = crate::layers::for_keras_class(class);
        let known: &[&str] = kind.map(|k| k.args).unwrap_or(&[]);
        let table = defaults();
        let keras = &table["layers"][class];
        let required: Vec<&str> =
            keras["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let empty = Map::new();
        let config = layer["config"].as_object().unwrap_or(&empty);
        let mut out = String::new();
        let mut ok = true;
        for (key, value) in config {
            let here = format!("layer `{name}` ({class})");
            match key.as_str() {
                // Inside `TimeDistributed(…)` the layer takes no name.
                "name" if nested => continue,
                "name" => {
                    let _ = write!(out, ", name = {}", Value::from(value.as_str().unwrap_or(name)));
                    continue;
                }
                "trainable" if value == &Value::Bool(true) => continue,
                "dtype" if is_float32(value) => continue,
                "layer" if value.is_object() => {
                    let inner = value["config"]["name"].as_str().unwrap_or("layer");
                    match self.call(value, inner, true) {
                        Some(call) => {
                            let _ = write!(out, ", {call}");
                        }
                        None => ok = false,
                    }
                    continue;
                }
                _ => {}
            }
            let default = &keras["defaults"][key];
            if keras["defaults"].get(key).is_some() && same(value, default) {
                continue;
            }
            let implemented = known.contains(&key.as_str()) || required.contains(&key.as_str());
            if !implemented {
                let default = if keras["defaults"].get(key).is_some() {
                    format!("only Keras's default `{}` is", compact(default))
                } else {
                    "kiln has no such argument".to_string()
                };
                self.errors
                    .push(format!("{here}: argument `{key}` = `{}` is not supported ({default})", compact(value)));
                ok = false;
                continue;
            }
            match self.literal(value) {
                Ok(text) => {
                    let _ = write!(out, ", {key} = {text}");
                }
                Err(why) => {
                    self.errors
                        .push(format!("{here}: argument `{key}` = `{}` is not supported ({why})", compact(value)));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A config value as DSL source: numbers, strings and booleans as
    /// literals, lists as tuples, initializers as their names (with
    /// Keras's default arguments), regularizers and constraints as calls.
    fn literal(&self, value: &Value) -> Result<String, String> {
        Ok(match value {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            Value::Number(n) => format!("{:?}", n.as_f64().unwrap_or(0.0)),
            Value::String(s) => Value::from(s.as_str()).to_string(),
            Value::Array(items) => {
                let items: Result<Vec<String>, String> = items.iter().map(|v| self.literal(v)).collect();
                format!("({},)", items?.join(", "))
            }
            Value::Object(o) => {
                let class = o.get("class_name").and_then(Value::as_str).unwrap_or("");
                match o.get("module").and_then(Value::as_str) {
                    Some("keras.initializers") => {
                        let table = defaults();
                        let known = &table["initializers"][class];
                        let Some(name) = known["name"].as_str() else {
                            return Err(format!("kiln has no initializer `{class}`"));
                        };
                        if !same(&o["config"], &known["config"]) {
                            return Err(format!(
                                "kiln's `{name}` takes Keras's default arguments `{}`",
                                compact(&known["config"])
                            ));
                        }
                        Value::from(name).to_string()
                    }
                    Some("keras.regularizers" | "keras.constraints") => {
                        let args: Result<Vec<String>, String> = o["config"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| Ok(format!("{k} = {}", self.literal(v)?)))
                            .collect();
                        format!("{}({})", snake(class), args?.join(", "))
                    }
                    _ => return Err("kiln cannot express this value".into()),
                }
            }
            Value::Null => return Err("kiln cannot express `null` here".into()),
        })
    }
}

/// Keras's float32 dtype policy (or the plain name).
fn is_float32(value: &Value) -> bool {
    value == "float32" || value["config"]["name"] == "float32"
}

/// Equal as Keras configs: bookkeeping keys (`shared_object_id`,
/// `registered_name`) aside, and numbers compared by value (`1` = `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    const IGNORED: &[&str] = &["shared_object_id", "registered_name"];
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: HashSet<&String> = x.keys().chain(y.keys()).filter(|k| !IGNORED.contains(&k.as_str())).collect();
            keys.into_iter().all(|k| same(x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A value as short text for messages (initializers by class).
fn compact(value: &Value) -> String {
    match value {
        Value::Object(o) if o.contains_key("class_name") => {
            format!("{}({})", o["class_name"].as_str().unwrap_or(""), o.get("config").map(compact).unwrap_or_default())
        }
        other => other.to_string(),
    }
}

/// A Keras name as a Rust identifier: `lstm-encoder` → `lstm_encoder`, `type` → `type_`.
fn ident(name: &str) -> String {
    let mut s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if syn::parse_str::<syn::Ident>(&s).is_err() || s == "input" || s == "output" {
        s.push('_');
    }
    s
}

/// `L1L2` → `l1_l2`, `MaxNorm` → `max_norm`.
fn snake(class: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in class.chars() {
        if c.is_uppercase() && previous.is_some_and(|p| !p.is_uppercase()) {
            out.push('_');
        }
        out.extend(c.to_lowercase());
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the `keras-archive` feature an archive is refused with the
    /// feature to enable; with it, a zip without `config.json` is named so.
    #[test]
    fn archives_need_the_feature_or_a_config() {
        let not_a_config = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        let message = config_of_archive(not_a_config).unwrap_err();
        if cfg!(feature = "keras-archive") {
            assert_eq!(message, "the archive has no `config.json`");
        } else {
            assert!(message.contains("needs kiln's `keras-weights` feature"), "{message}");
        }
    }

    #[test]
    fn keras_classes_map_to_kinds_and_calls() {
        assert_eq!(snake("L1L2"), "l1_l2");
        assert_eq!(snake("MaxNorm"), "max_norm");
        assert_eq!(
            crate::layers::for_keras_class("Concatenate").map(|k| (k.name, k.is_op)),
            Some(("concatenate", true))
        );
        assert_eq!(crate::layers::for_keras_class("LSTM").map(|k| k.name), Some("LSTM"));
        assert!(crate::layers::for_keras_class("Lambda").is_none());
        assert_eq!(ident("lstm-encoder"), "lstm_encoder");
        assert_eq!(ident("type"), "type_");
        assert_eq!(ident("input"), "input_");
    }

    #[test]
    fn configs_compare_as_keras_values() {
        let parse = |text: &str| json::from_str(text).expect("valid JSON");
        let a = parse(r#"{"seed": null, "gain": 1, "shared_object_id": 7}"#);
        let b = parse(r#"{"seed": null, "gain": 1.0}"#);
        assert!(same(&a, &b));
        assert!(!same(&parse(r#"{"gain": 1.5}"#), &b));
    }

    /// A functional config whose layers are listed out of call order
    /// still translates (every call after the calls making its inputs).
    #[test]
    fn calls_are_ordered_by_their_inputs() {
        let tensor = |layer: &str| format!(r#"{{"config": {{"keras_history": ["{layer}", 0, 0]}}}}"#);
        let (a, x) = (tensor("a"), tensor("x"));
        let model = json::from_str(&format!(
            r#"{{
            "class_name": "Functional",
            "config": {{
                "layers": [
                    {{"class_name": "Dense", "name": "b", "config": {{"name": "b", "units": 2}},
                     "inbound_nodes": [{{"args": [{a}], "kwargs": {{}}}}]}},
                    {{"class_name": "InputLayer", "name": "x", "config": {{"name": "x", "batch_shape": [null, 3]}}}},
                    {{"class_name": "Dense", "name": "a", "config": {{"name": "a", "units": 4}},
                     "inbound_nodes": [{{"args": [{x}], "kwargs": {{}}}}]}}
                ],
                "input_layers": ["x", 0, 0],
                "output_layers": [["b", 0, 0]]
            }}
        }}"#
        ))
        .expect("valid JSON");
        let text = Translator::default().model(&model).unwrap_or_else(|e| panic!("{e:?}"));
        let want = "input x: [f32; 3];\nlet a = Dense(name = \"a\", units = 4)(x);\nlet b = Dense(name = \"b\", units = 2)(a);\noutput b;\n";
        assert_eq!(text, want);
    }
}
