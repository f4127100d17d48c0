//! One spec per layer kind: its arguments, its shape rule and the Rust
//! type and constructor it becomes. Adding a layer to the DSL is one file
//! here (exporting `KINDS`) plus its line in [`REGISTRY`], and one runtime
//! file implementing `kiln::layers::Layer` (recipe: `docs/ADDING_A_LAYER.md`).

mod activation;
mod conv;
pub mod custom;
mod dense;
mod depthwise;
mod dropout;
mod embedding;
mod flatten;
mod merge;
mod normalization;
mod padding;
mod pool;
mod recurrent;
mod reduce;
mod reshape;
mod time_distributed;

use crate::args::{ArgReader, Recorded};
use crate::parse::LetStmt;
use crate::regularizers::{Regularization, Weight};
use crate::size::Deferred;
pub use crate::size::Size;
use proc_macro2::TokenStream;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
}

/// A tensor's per-sample type: element and static shape (no batch axis),
/// whose sizes may be Rust constant expressions (see [`Size`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<Size>,
}

impl TensorType {
    pub fn f32(shape: Vec<Size>) -> Self {
        TensorType { dtype: DType::F32, shape }
    }

    /// Scalars per sample.
    pub fn len(&self) -> Size {
        Size::product(&self.shape)
    }

    /// `[16, 64]`, or `[MAXLEN, 64]`.
    pub fn shape_str(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(Size::text).collect();
        format!("[{}]", dims.join(", "))
    }

    /// Keras's output-shape column: `(None, 16, 64)`.
    pub fn keras_str(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(Size::text).collect();
        format!("(None, {})", dims.join(", "))
    }

    /// Keras's output-shape column as an expression of type `String`,
    /// with the values of constant sizes written in by the program.
    pub fn keras_tokens(&self) -> TokenStream {
        if self.shape.iter().all(|d| d.known().is_some()) {
            let text = self.keras_str();
            return quote::quote!(::std::string::String::from(#text));
        }
        let pattern = format!("(None, {})", vec!["{}"; self.shape.len()].join(", "));
        let dims = &self.shape;
        quote::quote!(::std::format!(#pattern, #(#dims),*))
    }

    /// The element type's tokens.
    pub fn elem_tokens(&self) -> TokenStream {
        match self.dtype {
            DType::F32 => quote::quote!(f32),
            DType::U32 => quote::quote!(u32),
        }
    }

    /// The per-sample Rust type: `[[f32; 28]; 28]`.
    pub fn rust_type(&self) -> TokenStream {
        self.shape.iter().rev().fold(self.elem_tokens(), |inner, d| quote::quote!([#inner; #d]))
    }
}

/// A shape error: its message, and the argument to blame when the input
/// tensor is not the culprit (`axis = 3`): its keyword, and its position
/// when it may be given positionally (`reduce_sum(x, 3)`).
pub struct ShapeError {
    pub message: String,
    pub argument: Option<&'static str>,
    pub position: Option<usize>,
}

impl From<String> for ShapeError {
    fn from(message: String) -> Self {
        ShapeError { message, argument: None, position: None }
    }
}

/// What the macro knows about one layer kind once its arguments are read.
pub trait Spec {
    /// Keras's class name (`Dense`).
    fn keras_type(&self) -> &'static str;
    /// Keras's automatic-name prefix (`dense`, then `dense_1`, …).
    fn name_prefix(&self) -> &str;
    /// Whether the layer has weights (decides which gradients flow).
    fn has_params(&self) -> bool;
    /// The output type for the given inputs, or the shape error. Each
    /// input comes with how errors name it: `` `x` `` (with the
    /// backticks), or a description such as "each step of `x`".
    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError>;
    /// The field's type, with the layer's dimensions as const generics.
    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream;
    /// An expression building the layer; may draw from `__rng`.
    fn constructor(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream;
    /// Whether the layer reads several tensors (`kiln::layers::Merge`)
    /// rather than one (`kiln::layers::Layer`).
    fn is_merge(&self) -> bool {
        false
    }
    /// Checks of `infer` that involve constant sizes the macro cannot
    /// evaluate (`add` of `[MAXLEN]` and `[20]`), for rustc to make.
    fn deferred(&self, _inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        Vec::new()
    }
    /// Whether the layer is a user's type (`custom(…)`), whose lengths the
    /// generated code must check against the line's shapes.
    fn is_custom(&self) -> bool {
        false
    }
    /// Whether ids reaching the layer from a model input must be checked
    /// (`Layer::check_ids`) before the model runs.
    fn checks_ids(&self) -> bool {
        false
    }
    /// Why Keras has no layer class for this one (`reduce_sum`), so the
    /// model's `to_json()` is an error naming the layer; `None` for every
    /// layer Keras has. Its Keras config is otherwise made without any
    /// per-layer code: `keras_type()` and the arguments the line gave.
    fn not_in_keras(&self) -> Option<String> {
        None
    }
    /// A layer nested in this one's config (`TimeDistributed`'s `layer`):
    /// its spec, the arguments it was given, and the config key.
    fn nested(&self) -> Option<(&dyn Spec, &[Recorded], &'static str)> {
        None
    }
    /// Keras's `activity_regularizer` of the layer, as a runtime
    /// `Regularizer` value (see [`Regularized`]).
    fn activity_regularizer(&self) -> Option<TokenStream> {
        None
    }
}

/// A layer given regularizers or constraints: its spec, with the
/// constructor setting them on the parameters.
pub struct Regularized {
    spec: Box<dyn Spec>,
    regularization: Regularization,
}

impl Spec for Regularized {
    fn keras_type(&self) -> &'static str {
        self.spec.keras_type()
    }
    fn name_prefix(&self) -> &str {
        self.spec.name_prefix()
    }
    fn has_params(&self) -> bool {
        self.spec.has_params()
    }
    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        self.spec.infer(inputs)
    }
    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        self.spec.field_type(inputs, output)
    }
    fn constructor(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        self.regularization.wrap_constructor(self.spec.constructor(inputs, output))
    }
    fn is_merge(&self) -> bool {
        self.spec.is_merge()
    }
    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        self.spec.deferred(inputs)
    }
    fn is_custom(&self) -> bool {
        self.spec.is_custom()
    }
    fn checks_ids(&self) -> bool {
        self.spec.checks_ids()
    }
    fn not_in_keras(&self) -> Option<String> {
        self.spec.not_in_keras()
    }
    fn nested(&self) -> Option<(&dyn Spec, &[Recorded], &'static str)> {
        self.spec.nested()
    }
    fn activity_regularizer(&self) -> Option<TokenStream> {
        self.regularization.activity.clone()
    }
}

/// How one layer kind (or operation) written in `model!` is read.
///
/// Every layer file exports its kinds as `pub const KINDS: &[Kind]`, and
/// [`REGISTRY`] lists the files: adding a layer to the DSL is its file
/// plus one line there.
pub struct Kind {
    /// The name as written: `Dense`, `LSTM`, `concatenate`.
    pub name: &'static str,
    /// The keywords it accepts (for "unknown keyword" errors).
    pub args: &'static [&'static str],
    /// Reads the arguments; `None` (the errors recorded) when they are wrong.
    pub configure: fn(&'static str, &LetStmt, &mut ArgReader<'_>) -> Option<Box<dyn Spec>>,
    /// Written as a function of tensors (`concatenate([a, b])`,
    /// `reduce_sum(x, axis = 1)`) rather than as a layer applied to them.
    pub is_op: bool,
    /// Its weights that take Keras's `<prefix>_regularizer` and
    /// `<prefix>_constraint` arguments.
    pub weights: &'static [Weight],
}

/// Boxes a configured spec (helper for the `configure` functions).
pub fn boxed<S: Spec + 'static>(spec: Option<S>) -> Option<Box<dyn Spec>> {
    spec.map(|s| Box::new(s) as Box<dyn Spec>)
}

/// Every layer kind and operation the DSL knows, file by file.
const REGISTRY: &[&[Kind]] = &[
    activation::KINDS,
    conv::KINDS,
    dense::KINDS,
    depthwise::KINDS,
    normalization::KINDS,
    dropout::KINDS,
    embedding::KINDS,
    flatten::KINDS,
    pool::KINDS,
    reshape::KINDS,
    padding::KINDS,
    recurrent::KINDS,
    time_distributed::KINDS,
    reduce::KINDS,
    merge::KINDS,
];

fn kinds() -> impl Iterator<Item = &'static Kind> {
    REGISTRY.iter().flat_map(|file| file.iter())
}

fn kind(name: &str) -> Option<&'static Kind> {
    kinds().find(|k| k.name == name)
}

/// The kind Keras's class `class` is written as: a layer of that name
/// (`Dense`), or an operation named in snake case (`Concatenate` →
/// `concatenate`). Used by compile-time import (`crate::import`).
pub fn for_keras_class(class: &str) -> Option<&'static Kind> {
    let snake: String = class
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = (i > 0 && c.is_uppercase()).then_some('_');
            sep.into_iter().chain(c.to_lowercase())
        })
        .collect();
    kinds().find(|k| if k.is_op { k.name == snake } else { k.name == class })
}

/// "unknown layer `Dens`; did you mean `Dense`?" (`extra`: layers the
/// model has bound, which may be what a misspelling meant).
pub fn unknown_layer(name: &str, extra: &[&str]) -> String {
    let mut all: Vec<&str> = kinds().map(|k| k.name).collect();
    all.extend(extra);
    match crate::errors::nearest(name, all.iter().copied()) {
        Some(near) => format!("unknown layer `{name}`; did you mean `{near}`?"),
        None => {
            let mut known: Vec<&str> = kinds().filter(|k| !k.is_op).map(|k| k.name).collect();
            known.sort_unstable();
            format!("unknown layer `{name}`; known layers: {}", known.join(", "))
        }
    }
}

/// Operations written as functions of tensors (`reduce_sum(x, axis = 1)`,
/// `concatenate([a, b])`) rather than as layers applied to tensors.
pub fn is_op(name: &str) -> bool {
    kind(name).is_some_and(|k| k.is_op)
}

/// Reads the arguments of layer kind `stmt.callee`; `None` when the kind
/// is unknown. Unknown keywords are reported here too.
/// Returns the spec with the arguments it read (its Keras config).
pub fn configure(stmt: &LetStmt, mut args: ArgReader<'_>) -> Option<(Box<dyn Spec>, Vec<Recorded>)> {
    let kind = kind(&stmt.callee.to_string())?;
    let spec = (kind.configure)(kind.name, stmt, &mut args).unwrap_or_else(|| Box::new(Invalid));
    if kind.is_op {
        let recorded = args.finish(kind.args);
        return Some((spec, recorded));
    }
    let regularization = Regularization::read(&mut args, kind.weights);
    let extra = Regularization::keywords(kind.weights);
    let known: Vec<&str> = kind.args.iter().copied().chain(extra.iter().map(String::as_str)).collect();
    let recorded = args.finish(&known);
    if regularization.is_empty() {
        Some((spec, recorded))
    } else {
        Some((Box::new(Regularized { spec, regularization }), recorded))
    }
}

/// A layer whose arguments were wrong (the errors are recorded): its
/// calls produce no further errors, and its output has no known shape.
pub struct Invalid;

impl Spec for Invalid {
    fn keras_type(&self) -> &'static str {
        "Invalid"
    }
    fn name_prefix(&self) -> &'static str {
        "invalid"
    }
    fn has_params(&self) -> bool {
        false
    }
    fn infer(&self, _: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        Err(ShapeError { message: String::new(), argument: None, position: None })
    }
    fn field_type(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        TokenStream::new()
    }
    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        TokenStream::new()
    }
}

/// Keras's activation names (see `kiln::activations::Activation::ALL`).
pub const ACTIVATIONS: &[&str] = &[
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "exponential",
];

/// Keras's initializer names (see `kiln::initializers::Initializer::ALL`).
pub const INITIALIZERS: &[&str] = &[
    "zeros",
    "ones",
    "constant",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "variance_scaling",
    "identity",
];

/// The runtime activation named `name` (one of [`ACTIVATIONS`]) as its
/// enum variant, resolved here rather than looked up by name at run time.
pub fn activation_tokens(name: &str) -> TokenStream {
    let variant = quote::format_ident!("{}", camel(name));
    quote::quote!(::kiln::activations::Activation::#variant)
}

/// The runtime initializer named `name` (one of [`INITIALIZERS`]) as its
/// enum value with Keras's default arguments (as `Initializer::ALL` lists
/// them; `tests/dsl.rs` builds a model with every name).
pub fn initializer_tokens(name: &str) -> TokenStream {
    let path = quote::quote!(::kiln::initializers::Initializer);
    match name {
        "constant" => quote::quote!(#path::Constant(0.0)),
        "random_uniform" => quote::quote!(#path::RandomUniform { min: -0.05, max: 0.05 }),
        "random_normal" => quote::quote!(#path::RandomNormal { mean: 0.0, stddev: 0.05 }),
        "truncated_normal" => quote::quote!(#path::TruncatedNormal { mean: 0.0, stddev: 0.05 }),
        "orthogonal" => quote::quote!(#path::Orthogonal { gain: 1.0 }),
        "variance_scaling" => quote::quote!(#path::VarianceScaling {
            scale: 1.0,
            mode: ::kiln::initializers::Mode::FanIn,
            distribution: ::kiln::initializers::Distribution::TruncatedNormal,
        }),
        "identity" => quote::quote!(#path::Identity { gain: 1.0 }),
        other => {
            let variant = quote::format_ident!("{}", camel(other));
            quote::quote!(#path::#variant)
        }
    }
}

/// `hard_sigmoid` → `HardSigmoid`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The single input of a one-input layer, or the arity error.
pub fn one<'a>(kind: &str, inputs: &[(&'a TensorType, &'a str)]) -> Result<(&'a TensorType, &'a str), ShapeError> {
    match inputs {
        [single] => Ok(*single),
        _ => Err(format!("`{kind}` takes one input tensor, found {}", inputs.len()).into()),
    }
}

/// The standard check of a float, rank-1 input.
pub fn expect_float_vector(kind: &str, input: &TensorType, name: &str) -> Result<(), ShapeError> {
    expect_float(kind, input, name)?;
    if input.shape.len() != 1 {
        return Err(format!("`{kind}` needs a rank-1 input, but {name} is {}", input.shape_str()).into());
    }
    Ok(())
}

/// The standard check of a float input.
pub fn expect_float(kind: &str, input: &TensorType, name: &str) -> Result<(), ShapeError> {
    if input.dtype != DType::F32 {
        return Err(format!(
            "`{kind}` needs float input, but {name} holds integer ids {}; map ids to vectors with `Embedding` first",
            input.shape_str()
        )
        .into());
    }
    Ok(())
}
