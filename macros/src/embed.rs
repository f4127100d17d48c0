//! `model! { struct M embed "weights.safetensors" { … } }`: the weights
//! compiled into the binary and a `predict_one` that reads them in place.
//!
//! At expansion the weights file's safetensors header is read and every
//! tensor the architecture needs is checked (name, dtype, shape, 4-byte
//! alignment; none missing, none left over). The expansion is a unit
//! struct whose `predict_one` keeps activations in stack arrays and calls
//! the `no_std` kernels of `kiln_infer` on `&'static [f32]` slices of
//! one 64-byte aligned `static` holding the file's bytes
//! (`include_bytes!`): no heap, no copy of the weights, and nothing of
//! kiln's runtime (see docs/DESIGN.md, "Weights compiled in").

use crate::graph::{Graph, LayerInfo};
use crate::layers::{DType, Size, TensorType};
use crate::parse::ModelDef;
use kiln_format::safetensors::{self, Dtype, TensorInfo};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;
use syn::{Expr, LitStr};

/// Layer kinds with a `kiln_infer` kernel (listed in errors).
const SUPPORTED: &str = "Dense, Embedding, LSTM, GRU, SimpleRNN, Conv1D/2D, MaxPooling1D/2D, AveragePooling1D/2D, \
                         BatchNormalization, LayerNormalization, Activation, Dropout, SpatialDropout1D/2D, \
                         GaussianNoise, Flatten, Reshape, GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D, \
                         reduce_sum/mean/max, add, subtract, multiply, average, maximum, minimum, concatenate";

/// One tensor of the weights file: its shape and where its values start
/// in the file (bytes).
struct Stored {
    shape: Vec<usize>,
    start: usize,
}

/// The file's bytes and its tensors by name.
struct WeightsFile {
    bytes: Vec<u8>,
    tensors: BTreeMap<String, Stored>,
}

/// Reads and checks the safetensors header (kiln_format's parser, which
/// checks what the safetensors crate checks: offsets, sizes, the data
/// section's length), then that every tensor is F32 and starts on a
/// 4-byte boundary of the file, so it can be read in place as `f32`.
fn read_file(path: &std::path::Path, shown: &str) -> Result<WeightsFile, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read `{shown}` (relative to the directory of Cargo.toml): {e}"))?;
    let header = safetensors::read_header(&bytes).map_err(|e| format!("`{shown}` is not a safetensors file: {e}"))?;
    // By name, so that the first problem reported does not depend on the file's layout.
    let by_name: BTreeMap<String, TensorInfo> = header.tensors.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut tensors = BTreeMap::new();
    for (name, info) in by_name {
        if info.dtype != Dtype::F32 {
            return Err(format!("`{shown}`: tensor `{name}` is {}; compiled-in weights must be F32", info.dtype));
        }
        let start = header.data_start + info.data_offsets.0;
        if !start.is_multiple_of(4) {
            return Err(format!("`{shown}`: tensor `{name}` starts at byte {start} (not a multiple of 4), so it cannot be read in place as f32"));
        }
        // As `load_weights` refuses it: kiln never writes a non-finite weight.
        let data = &bytes[start..header.data_start + info.data_offsets.1];
        let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if let Some((index, value)) = values.enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!(
                "`{shown}`: tensor `{name}` holds {value} at index {index}, but every compiled-in weight must be finite (a damaged file)"
            ));
        }
        tensors.insert(name, Stored { shape: info.shape, start });
    }
    Ok(WeightsFile { bytes, tensors })
}

/// A sample's sizes, which must be known to the macro here.
fn known(shape: &[Size]) -> Option<Vec<usize>> {
    shape.iter().map(Size::known).collect()
}

fn product(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// The value of integer argument `keyword` (`-1`, `2`) as written.
fn int_arg(layer: &LayerInfo, keyword: &str) -> Option<i64> {
    let expr = &layer.args.iter().find(|r| r.keyword == keyword)?.value;
    fn int(expr: &Expr) -> Option<i64> {
        match expr {
            Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => i.base10_parse().ok(),
            Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => int(expr).map(|v| -v),
            Expr::Paren(p) => int(&p.expr),
            Expr::Group(g) => int(&g.expr),
            _ => None,
        }
    }
    int(expr)
}

/// The layer's constructor as text, whitespace runs as one space.
fn constructor_text(layer: &LayerInfo) -> String {
    let text = layer.spec.constructor(&layer.inputs, &layer.output).to_string();
    format!(" {}", text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The last path segment written after `after` in the layer's constructor
/// (`Activation :: Relu` → `Relu`): the spec has resolved every argument
/// (defaults, names, strings) into its constructor, so reading it here
/// needs no hook in each layer's spec.
fn constructor_word(layer: &LayerInfo, after: &str) -> Option<String> {
    let text = constructor_text(layer);
    let at = text.find(after)? + after.len();
    let word: String = text[at..].trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!word.is_empty()).then_some(word)
}

/// The runtime activation the layer's constructor names after `field : `.
fn activation(layer: &LayerInfo, field: &str) -> Option<TokenStream> {
    let text = constructor_text(layer);
    let at = text.find(&format!(" {field} :"))?;
    let rest = &text[at..];
    let variant_at = rest.find("Activation :: ")? + "Activation :: ".len();
    let variant: String = rest[variant_at..].chars().take_while(|c| c.is_alphanumeric()).collect();
    let variant = format_ident!("{}", variant);
    Some(quote!(::kiln_infer::Activation::#variant))
}

/// The integer (or `true`/`false` as 1/0) arguments of the layer's
/// runtime type (`Conv2d<9, 9, 2, 4, 3, 3, 1, 1, 1, 1, false>`), which
/// the spec has resolved from every spelling of its arguments.
fn type_sizes(layer: &LayerInfo) -> Option<Vec<usize>> {
    let text = layer.spec.field_type(&layer.inputs, &layer.output).to_string();
    let inner = &text[text.find('<')? + 1..text.rfind('>')?];
    inner.split(',').map(|piece| literal(piece.trim())).collect()
}

/// `3`, `3usize`, `true`, `false` as a number.
fn literal(piece: &str) -> Option<usize> {
    match piece {
        "true" => Some(1),
        "false" => Some(0),
        _ => piece.trim_end_matches("usize").replace('_', "").parse().ok(),
    }
}

/// The `index`-th `&[…]` list of the layer's constructor
/// (`Pooling::new(mode, padding, &[shape], &[pool], &[strides])`).
fn constructor_list(layer: &LayerInfo, index: usize) -> Option<Vec<usize>> {
    let text = constructor_text(layer);
    let list = text.split("& [").nth(index + 1)?;
    list[..list.find(']')?].split(',').map(|piece| literal(piece.trim())).collect()
}

/// The number after `field : ` in the layer's constructor (`epsilon :
/// 0.001f64`), as the spec wrote it.
fn float_field(layer: &LayerInfo, field: &str) -> Option<f64> {
    let value = field_token(layer, field)?;
    value.trim_end_matches("f64").trim_end_matches("f32").replace('_', "").parse().ok()
}

/// The token after `field : ` in the layer's constructor (`true`, `0.001f64`).
fn field_token(layer: &LayerInfo, field: &str) -> Option<String> {
    let text = constructor_text(layer);
    let at = text.find(&format!(" {field} : "))? + field.len() + 4;
    Some(text[at..].trim_start().chars().take_while(|c| !matches!(c, ',' | ' ' | '}')).collect())
}

/// `(outer, inner)` of a normalization's constructor, the integers after
/// its config struct (`…Config { … }, outer, inner, &mut __rng`).
fn outer_inner(layer: &LayerInfo) -> Option<(usize, usize)> {
    let text = constructor_text(layer);
    let head = &text[..text.find("& mut __rng")?];
    let tail = &head[head.rfind('}')? + 1..];
    let sizes: Vec<usize> =
        tail.split(',').map(str::trim).filter(|p| !p.is_empty()).map(literal).collect::<Option<_>>()?;
    match sizes[..] {
        [outer, inner] => Some((outer, inner)),
        _ => None,
    }
}

fn bool_field(layer: &LayerInfo, field: &str) -> Option<bool> {
    Some(field_token(layer, field)? == "true")
}

/// What the code for one layer needs: its weights (Keras paths and
/// shapes) and, per call, the statements given source and destination.
struct Plan {
    weights: Vec<(String, Vec<usize>)>,
    kind: Kernel,
}

enum Kernel {
    Dense {
        units: usize,
        activation: TokenStream,
    },
    Embedding {
        dim: usize,
    },
    Recurrent {
        cell: &'static str,
        units: usize,
        steps: usize,
        activation: TokenStream,
        recurrent: TokenStream,
        seq: bool,
    },
    Activation {
        activation: TokenStream,
        row: usize,
    },
    Copy,
    Reduce {
        op: TokenStream,
        n: usize,
        inner: usize,
    },
    Merge {
        op: TokenStream,
    },
    Concatenate {
        widths: Vec<usize>,
    },
    Conv {
        window: TokenStream,
        filters: usize,
        activation: TokenStream,
    },
    Pool {
        window: TokenStream,
        pool: TokenStream,
    },
    /// `BatchNormalization` (`batch`) or `LayerNormalization` over the
    /// middle axis of `[outer, channels, inner]`.
    Norm {
        batch: bool,
        channels: usize,
        inner: usize,
        epsilon: f32,
    },
}

/// A `kiln_infer::Window` over a `[rows, cols, channels]` sample.
fn window_tokens(
    input: [usize; 3],
    size: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
    same: bool,
) -> TokenStream {
    let [rows, cols, channels] = input;
    let ([kh, kw], [sh, sw], [dh, dw]) = (size, strides, dilation);
    quote!(::kiln_infer::Window {
        rows: #rows, cols: #cols, channels: #channels,
        size: [#kh, #kw], strides: [#sh, #sw], dilation: [#dh, #dw], same: #same,
    })
}

/// The plan for `layer`, or why it has none.
fn plan(layer: &LayerInfo) -> Result<Plan, String> {
    let name = &layer.keras_name;
    let ty = layer.spec.keras_type();
    let unknown = || format!("layer `{name}` ({ty}): compiled-in weights need every size as an integer literal");
    let inputs: Vec<Vec<usize>> =
        layer.inputs.iter().map(|t| known(&t.shape)).collect::<Option<_>>().ok_or_else(unknown)?;
    let output = known(&layer.output.shape).ok_or_else(unknown)?;
    let input = inputs.first().cloned().unwrap_or_default();
    let last = |s: &[usize]| s.last().copied().unwrap_or(1);
    let missing = |what: &str| format!("layer `{name}` ({ty}): cannot read its `{what}`");
    let kind = match ty {
        "Dense" => {
            let (d, units) = (last(&input), last(&output));
            let mut weights = vec![(format!("{name}/kernel"), vec![d, units])];
            if bool_field(layer, "use_bias").ok_or_else(|| missing("use_bias"))? {
                weights.push((format!("{name}/bias"), vec![units]));
            }
            let activation = activation(layer, "activation").ok_or_else(|| missing("activation"))?;
            return Ok(Plan { weights, kind: Kernel::Dense { units, activation } });
        }
        "Embedding" => {
            let dim = last(&output);
            let input_dim = int_arg(layer, "input_dim").and_then(|v| usize::try_from(v).ok()).ok_or_else(|| {
                format!("layer `{name}` (Embedding): compiled-in weights need `input_dim` as an integer literal")
            })?;
            return Ok(Plan {
                weights: vec![(format!("{name}/embeddings"), vec![input_dim, dim])],
                kind: Kernel::Embedding { dim },
            });
        }
        "LSTM" | "GRU" | "SimpleRNN" => {
            let (cell, gates, cell_name) = match ty {
                "LSTM" => ("lstm", 4, "lstm_cell"),
                "GRU" => ("gru", 3, "gru_cell"),
                _ => ("simple_rnn", 1, "simple_rnn_cell"),
            };
            let (steps, d, units) = (input.first().copied().unwrap_or(1), last(&input), last(&output));
            let mut weights = vec![
                (format!("{name}/{cell_name}/kernel"), vec![d, gates * units]),
                (format!("{name}/{cell_name}/recurrent_kernel"), vec![units, gates * units]),
            ];
            if bool_field(layer, "use_bias").ok_or_else(|| missing("use_bias"))? {
                let shape = if ty == "GRU" { vec![2, 3 * units] } else { vec![gates * units] };
                weights.push((format!("{name}/{cell_name}/bias"), shape));
            }
            let act = activation(layer, "activation").ok_or_else(|| missing("activation"))?;
            let rec = activation(layer, "recurrent_activation").ok_or_else(|| missing("recurrent_activation"))?;
            let kind =
                Kernel::Recurrent { cell, units, steps, activation: act, recurrent: rec, seq: output.len() == 2 };
            return Ok(Plan { weights, kind });
        }
        "Activation" => {
            let word = constructor_word(layer, "Activation ::").ok_or_else(|| missing("activation"))?;
            let variant = format_ident!("{}", word);
            Kernel::Activation { activation: quote!(::kiln_infer::Activation::#variant), row: last(&input) }
        }
        "Conv1D" | "Conv2D" => {
            // Conv1d<L, C, F, K, S, D, SAME> / Conv2d<H, W, C, F, KH, KW, SH, SW, DH, DW, SAME>.
            let sizes = type_sizes(layer).ok_or_else(|| missing("sizes"))?;
            let window = match sizes[..] {
                [l, c, f, k, s, d, same] => (f, window_tokens([1, l, c], [1, k], [1, s], [1, d], same == 1)),
                [h, w, c, f, kh, kw, sh, sw, dh, dw, same] => {
                    (f, window_tokens([h, w, c], [kh, kw], [sh, sw], [dh, dw], same == 1))
                }
                _ => return Err(missing("sizes")),
            };
            let (filters, window) = window;
            let kernel: Vec<usize> = match ty {
                "Conv1D" => vec![sizes[3], sizes[1], filters],
                _ => vec![sizes[4], sizes[5], sizes[2], filters],
            };
            let mut weights = vec![(format!("{name}/kernel"), kernel)];
            if bool_field(layer, "use_bias").ok_or_else(|| missing("use_bias"))? {
                weights.push((format!("{name}/bias"), vec![filters]));
            }
            let activation = activation(layer, "activation").ok_or_else(|| missing("activation"))?;
            return Ok(Plan { weights, kind: Kernel::Conv { window, filters, activation } });
        }
        "MaxPooling1D" | "MaxPooling2D" | "AveragePooling1D" | "AveragePooling2D" => {
            let (pool, strides) = (constructor_list(layer, 1), constructor_list(layer, 2));
            let same = constructor_word(layer, "Padding ::").ok_or_else(|| missing("padding"))? == "Same";
            let window = match (&input[..], pool.as_deref(), strides.as_deref()) {
                (&[l, c], Some(&[p]), Some(&[s])) => window_tokens([1, l, c], [1, p], [1, s], [1, 1], same),
                (&[h, w, c], Some(&[ph, pw]), Some(&[sh, sw])) => {
                    window_tokens([h, w, c], [ph, pw], [sh, sw], [1, 1], same)
                }
                _ => return Err(missing("pool_size")),
            };
            let pool = if ty.starts_with("Max") {
                quote!(::kiln_infer::Pool::Max)
            } else {
                quote!(::kiln_infer::Pool::Average)
            };
            Kernel::Pool { window, pool }
        }
        "BatchNormalization" | "LayerNormalization" => {
            // BatchNormalization<N, C> / LayerNormalization<N, C>; the
            // constructor's `outer, inner` place the axis (any axis, as
            // the runtime's view `outer × C × inner`).
            let channels = match type_sizes(layer).as_deref() {
                Some(&[_, c]) => c,
                _ => return Err(missing("axis")),
            };
            let (outer, inner) = outer_inner(layer).ok_or_else(|| missing("axis"))?;
            if outer * channels * inner != product(&input) {
                return Err(missing("axis"));
            }
            // The runtime keeps `epsilon as f32`, and so does the kernel.
            let epsilon = float_field(layer, "epsilon").ok_or_else(|| missing("epsilon"))? as f32;
            if !epsilon.is_finite() {
                return Err(format!(
                    "layer `{name}` ({ty}): `epsilon` overflows f32 (the type the runtime and the kernel keep it in)"
                ));
            }
            let mut weights = Vec::new();
            if bool_field(layer, "scale").ok_or_else(|| missing("scale"))? {
                weights.push((format!("{name}/gamma"), vec![channels]));
            }
            if bool_field(layer, "center").ok_or_else(|| missing("center"))? {
                weights.push((format!("{name}/beta"), vec![channels]));
            }
            let batch = ty == "BatchNormalization";
            if batch {
                weights.push((format!("{name}/moving_mean"), vec![channels]));
                weights.push((format!("{name}/moving_variance"), vec![channels]));
            }
            return Ok(Plan { weights, kind: Kernel::Norm { batch, channels, inner, epsilon } });
        }
        "Dropout" | "SpatialDropout1D" | "SpatialDropout2D" | "GaussianNoise" | "Flatten" | "Reshape" => Kernel::Copy,
        "GlobalAveragePooling1D" | "GlobalAveragePooling2D" | "GlobalMaxPooling1D" | "GlobalMaxPooling2D" => {
            let channels_first = layer.args.iter().any(|r| {
                r.keyword == "data_format"
                    && quote::ToTokens::to_token_stream(&r.value).to_string().contains("channels_first")
            });
            if channels_first {
                return Err(format!(
                    "layer `{name}` ({ty}): `data_format = channels_first` has no compiled-in kernel yet"
                ));
            }
            let op = if ty.contains("Max") {
                quote!(::kiln_infer::Reduce::MaxNan)
            } else {
                quote!(::kiln_infer::Reduce::Mean)
            };
            let inner = last(&input);
            Kernel::Reduce { op, n: product(&input) / inner.max(1), inner }
        }
        "Lambda" => {
            let op = constructor_word(layer, "ReduceOp ::").ok_or_else(|| missing("reduction"))?;
            let op = format_ident!("{}", op);
            let rank = input.len() as i64 + 1;
            let axis = int_arg(layer, "axis").unwrap_or(1);
            let axis = if axis < 0 { axis + rank } else { axis };
            let axis = usize::try_from(axis - 1).map_err(|_| missing("axis"))?;
            if axis >= input.len() {
                return Err(missing("axis"));
            }
            Kernel::Reduce { op: quote!(::kiln_infer::Reduce::#op), n: input[axis], inner: product(&input[axis + 1..]) }
        }
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" => {
            let op = format_ident!("{}", ty);
            Kernel::Merge { op: quote!(::kiln_infer::Merge::#op) }
        }
        "Concatenate" => {
            let rank = input.len() as i64 + 1;
            let axis = int_arg(layer, "axis").unwrap_or(-1);
            let axis = if axis < 0 { axis + rank } else { axis };
            let axis = usize::try_from(axis - 1).map_err(|_| missing("axis"))?;
            let widths = inputs.iter().map(|s| product(&s[axis.min(s.len())..])).collect();
            Kernel::Concatenate { widths }
        }
        other => {
            return Err(format!(
                "layer `{name}` ({other}) has no compiled-in (no_std) kernel yet; `embed` supports {SUPPORTED}"
            ))
        }
    };
    Ok(Plan { weights: Vec::new(), kind })
}

/// Whether any layer of `graph` reads tensor `path` (a plan's weights).
fn plans_use(graph: &Graph, path: &str) -> bool {
    graph.layers.iter().any(|layer| plan(layer).is_ok_and(|p| p.weights.iter().any(|(w, _)| w == path)))
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The expansion of a model with `embed "file"`.
pub fn expand(def: &ModelDef, graph: &Graph, file: &LitStr) -> Result<TokenStream, syn::Error> {
    let span = file.span();
    let fail = |message: String| syn::Error::new(span, message);
    let shown = file.value();
    let path = crate::import::locate(&shown, span);
    let weights = read_file(&path, &shown).map_err(fail)?;

    let mut errors: Option<syn::Error> = None;
    let mut push = |message: String| {
        let e = syn::Error::new(span, message);
        match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        }
    };
    // Each layer's plan; the tensors it needs, checked against the file
    // (one error per layer, naming each tensor and both shapes).
    let mut plans = Vec::new();
    let mut used = std::collections::HashSet::new();
    let mut mismatched = false;
    for layer in &graph.layers {
        let plan = match plan(layer) {
            Ok(plan) => plan,
            Err(message) => {
                push(message);
                mismatched = true;
                plans.push(None);
                continue;
            }
        };
        let mut problems = Vec::new();
        for (tensor, shape) in &plan.weights {
            used.insert(tensor.clone());
            match weights.tensors.get(tensor) {
                None => problems.push(format!("no tensor `{tensor}` (needed: {})", shape_text(shape))),
                Some(stored) if &stored.shape != shape => problems.push(format!(
                    "tensor `{tensor}` of shape {} where the layer needs {}",
                    shape_text(&stored.shape),
                    shape_text(shape)
                )),
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            mismatched = true;
            let made = &graph.tensors[graph.nodes[layer.nodes[0]].output].ident;
            let unused: Vec<&str> =
                weights.tensors.keys().filter(|n| !plans_use(graph, n)).map(String::as_str).collect();
            let hint = if unused.is_empty() {
                String::new()
            } else {
                format!("; tensors of the file no layer reads: {}", unused.join(", "))
            };
            push(format!(
                "layer `{}` ({}, making `{made}`) does not match `{shown}`: it has {}{hint}",
                layer.keras_name,
                layer.spec.keras_type(),
                problems.join(", and ")
            ));
        }
        plans.push(Some(plan));
    }
    // Tensors left over are reported only when every layer matched (else
    // they are most likely the mismatched layers' own, named above).
    if !mismatched {
        let unused: Vec<&str> = weights.tensors.keys().filter(|n| !used.contains(*n)).map(String::as_str).collect();
        if !unused.is_empty() {
            push(format!("`{shown}` has tensors no layer of this model reads: {}", unused.join(", ")));
        }
    }
    for &t in graph.inputs.iter().chain(&graph.outputs) {
        if known(&graph.tensors[t].ty.shape).is_none() {
            push(format!("`{}`: compiled-in weights need every size as an integer literal", graph.tensors[t].ident));
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    Ok(generate(def, graph, &plans, &weights, &path, &shown))
}

fn generate(
    def: &ModelDef,
    graph: &Graph,
    plans: &[Option<Plan>],
    weights: &WeightsFile,
    path: &std::path::Path,
    shown: &str,
) -> TokenStream {
    let (attrs, vis, name) = (&def.attrs, &def.vis, &def.name);
    let file_len = weights.bytes.len();
    let abs = path.to_string_lossy().to_string();
    // `&'static [f32]` of tensor `path` inside `__bytes`.
    let slice = |tensor: &str| {
        let stored = &weights.tensors[tensor];
        let (start, len) = (stored.start, product(&stored.shape));
        quote!(::kiln_infer::f32_slice(__bytes, #start, #len))
    };
    let value = |t: usize| format_ident!("v_{}", graph.tensors[t].ident);
    let input_var = |t: usize| format_ident!("__x{}", graph.inputs.iter().position(|&i| i == t).unwrap_or(0));
    let source = |t: usize| {
        if graph.tensors[t].producer.is_none() {
            let x = input_var(t);
            quote!(#x)
        } else {
            let v = value(t);
            quote!(&#v[..])
        }
    };
    let mut fallible = false;
    let mut body = Vec::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        let plan = plans[node.layer].as_ref().expect("errors returned above");
        let out = &graph.tensors[node.output];
        let dst = value(node.output);
        let len = product(&known(&out.ty.shape).expect("checked"));
        body.push(quote!(let mut #dst = [0.0f32; #len];));
        let src = source(node.inputs[0]);
        let w = |suffix: &str| plan.weights.iter().find(|(p, _)| p.ends_with(suffix)).map(|(p, _)| slice(p));
        let opt = |t: Option<TokenStream>| match t {
            Some(t) => quote!(::core::option::Option::Some(#t)),
            None => quote!(::core::option::Option::None),
        };
        let call = match &plan.kind {
            Kernel::Dense { units, activation } => {
                let (k, b) = (w("/kernel").expect("kernel"), opt(w("/bias")));
                quote!(::kiln_infer::dense(#src, #k, #b, #units, #activation, &mut #dst[..]);)
            }
            Kernel::Embedding { dim } => {
                fallible = true;
                let table = w("/embeddings").expect("embeddings");
                quote!(::kiln_infer::embedding(#src, #table, #dim, &mut #dst[..])?;)
            }
            Kernel::Recurrent { cell, units, steps, activation, recurrent, seq } => {
                let (k, r, b) =
                    (w("/kernel").expect("kernel"), w("/recurrent_kernel").expect("recurrent"), opt(w("/bias")));
                let kernel = format_ident!("{}", cell);
                let scratch_len = format_ident!("{}_scratch_len", cell);
                let scratch = format_ident!("__scratch{}", n);
                quote! {
                    let mut #scratch = [0.0f32; ::kiln_infer::#scratch_len(#units)];
                    ::kiln_infer::#kernel(
                        &::kiln_infer::Recurrent {
                            kernel: #k,
                            recurrent_kernel: #r,
                            bias: #b,
                            units: #units,
                            activation: #activation,
                            recurrent_activation: #recurrent,
                            return_sequences: #seq,
                        },
                        #src, #steps, &mut #dst[..], &mut #scratch[..],
                    );
                }
            }
            Kernel::Activation { activation, row } => quote! {
                #dst.copy_from_slice(#src);
                #activation.apply(&mut #dst[..], #row);
            },
            Kernel::Conv { window, filters, activation } => {
                let (k, b) = (w("/kernel").expect("kernel"), opt(w("/bias")));
                quote!(::kiln_infer::conv2d(#src, &#window, #k, #b, #filters, #activation, &mut #dst[..]);)
            }
            Kernel::Pool { window, pool } => quote!(::kiln_infer::pool2d(#src, &#window, #pool, &mut #dst[..]);),
            Kernel::Norm { batch, channels, inner, epsilon } => {
                let (g, b) = (opt(w("/gamma")), opt(w("/beta")));
                let norm = quote!(::kiln_infer::Normalization {
                    channels: #channels, inner: #inner, gamma: #g, beta: #b, epsilon: #epsilon,
                });
                if *batch {
                    let (m, v) = (w("/moving_mean").expect("moving_mean"), w("/moving_variance").expect("variance"));
                    quote!(::kiln_infer::batch_normalization(#src, &#norm, #m, #v, &mut #dst[..]);)
                } else {
                    quote!(::kiln_infer::layer_normalization(#src, &#norm, &mut #dst[..]);)
                }
            }
            Kernel::Copy => quote!(#dst.copy_from_slice(#src);),
            Kernel::Reduce { op, n, inner } => quote!(::kiln_infer::reduce(#src, #n, #inner, #op, &mut #dst[..]);),
            Kernel::Merge { op } => {
                let xs = node.inputs.iter().map(|&i| source(i));
                quote!(::kiln_infer::merge(&[#(#xs),*], #op, &mut #dst[..]);)
            }
            Kernel::Concatenate { widths } => {
                let xs = node.inputs.iter().map(|&i| source(i));
                quote!(::kiln_infer::concatenate(&[#(#xs),*], &[#(#widths),*], &mut #dst[..]);)
            }
        };
        body.push(call);
    }

    let input_args = graph.inputs.iter().map(|&i| {
        let t = &graph.tensors[i];
        let (ident, ty) = (&t.ident, rust_type(&t.ty));
        quote!(#ident: &#ty)
    });
    let flat_inputs = graph.inputs.iter().map(|&i| {
        let (x, ident) = (input_var(i), &graph.tensors[i].ident);
        quote!(let #x = ::kiln_infer::flat(#ident);)
    });
    let output_types: Vec<TokenStream> = graph.outputs.iter().map(|&o| rust_type(&graph.tensors[o].ty)).collect();
    let outputs: Vec<TokenStream> = graph
        .outputs
        .iter()
        .map(|&o| {
            let (v, ty) = (value(o), rust_type(&graph.tensors[o].ty));
            quote!({
                let mut __out: #ty = ::kiln_infer::Flat::ZERO;
                ::kiln_infer::flat_mut(&mut __out).copy_from_slice(&#v[..]);
                __out
            })
        })
        .collect();
    let (output_set, result) = match (&output_types[..], &outputs[..]) {
        ([ty], [one]) => (quote!(#ty), quote!(#one)),
        _ => (quote!((#(#output_types),*)), quote!((#(#outputs),*))),
    };
    let (sig, result) = if fallible {
        (
            quote!(::core::result::Result<#output_set, ::kiln_infer::IdOutOfRange>),
            quote!(::core::result::Result::Ok(#result)),
        )
    } else {
        (output_set, result)
    };
    let tensors = weights.tensors.iter().map(|(tensor, stored)| {
        let (start, len) = (stored.start, product(&stored.shape));
        quote!((#tensor, #start, #len))
    });
    let predict_doc = format!(
        "One sample through the model, its weights read in place from the binary (`{shown}`): \
         no heap, activations in stack arrays.{}",
        if fallible { " An id beyond an `Embedding`'s `input_dim` is an error." } else { "" }
    );
    let bytes_doc = format!("The bytes of `{shown}` ({file_len} bytes), compiled in, 64-byte aligned.");
    let struct_doc = format!("Weights compiled in from `{shown}`; see `predict_one`.");
    quote! {
        #(#attrs)*
        #[doc = #struct_doc]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #vis struct #name;

        #[cfg(target_endian = "big")]
        ::core::compile_error!("compiled-in weights are little-endian (safetensors): big-endian targets are not supported");

        #[automatically_derived]
        #[allow(non_snake_case, clippy::needless_question_mark)]
        impl #name {
            /// Every tensor of the weights file: its Keras path, the byte
            /// offset of its values in [`Self::weights_bytes`], its length.
            #vis const TENSORS: &'static [(&'static str, usize, usize)] = &[#(#tensors),*];

            #[doc = #bytes_doc]
            #vis fn weights_bytes() -> &'static [u8] {
                static __WEIGHTS: ::kiln_infer::Aligned<[u8; #file_len]> =
                    ::kiln_infer::Aligned(*::core::include_bytes!(#abs));
                &__WEIGHTS.0
            }

            /// The `f32` values of tensor `path` (a Keras path such as
            /// `dense/kernel`), in place in the binary; `None` if the
            /// file has no such tensor.
            #vis fn weight(path: &str) -> ::core::option::Option<&'static [f32]> {
                let mut i = 0;
                while i < Self::TENSORS.len() {
                    let (name, start, len) = Self::TENSORS[i];
                    if name.as_bytes() == path.as_bytes() {
                        return ::core::option::Option::Some(::kiln_infer::f32_slice(Self::weights_bytes(), start, len));
                    }
                    i += 1;
                }
                ::core::option::Option::None
            }

            #[doc = #predict_doc]
            #vis fn predict_one(&self, #(#input_args),*) -> #sig {
                let __bytes: &'static [u8] = Self::weights_bytes();
                #(#flat_inputs)*
                #(#body)*
                #result
            }
        }
    }
}

/// The per-sample Rust type: `[[f32; 28]; 28]`, sizes as literals.
fn rust_type(ty: &TensorType) -> TokenStream {
    let elem = match ty.dtype {
        DType::F32 => quote!(f32),
        DType::U32 => quote!(u32),
    };
    let dims = known(&ty.shape).unwrap_or_default();
    dims.iter().rev().fold(elem, |inner, d| quote!([#inner; #d]))
}
