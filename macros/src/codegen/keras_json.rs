//! `to_json()`: Keras 3's functional model config, with no per-layer
//! code. A layer's entry is its Keras class (`Spec::keras_type`) and the
//! arguments its line gave, under their Keras keywords as `ArgReader`
//! recorded them; values are converted by their form alone (see
//! [`value_tokens`]), and Keras fills in the defaults of keys not given.
//! Only Keras's own structure is special: `InputLayer`s, a nested layer
//! (`Spec::nested`), merges' lists of tensors, and several calls of a
//! shared layer.

use super::{snake_case, Gen};
use crate::args::Recorded;
use crate::layers::{DType, Spec, TensorType};
use crate::parse::ModelDef;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit, UnOp};

/// Keywords a line may give that are not the layer's config: its name is
/// the entry's `name`.
const NOT_CONFIG: &[&str] = &["name"];

impl Gen<'_> {
    /// The body of `to_json_value`: an expression of type
    /// `kiln::Result<kiln::json::Value>`.
    pub(super) fn keras_json(&self, def: &ModelDef) -> TokenStream {
        let g = self.graph;
        for layer in &g.layers {
            if let Some(reason) = layer.spec.not_in_keras() {
                let (name, kind) = (&layer.keras_name, layer.spec.keras_type());
                return quote! {
                    ::core::result::Result::Err(::kiln::Error::NotKerasSerializable {
                        layer: #name.into(),
                        kind: #kind.into(),
                        reason: #reason.into(),
                    })
                };
            }
        }
        let mut entries = Vec::new();
        for &i in &g.inputs {
            let t = &g.tensors[i];
            let (name, dims, dtype) = (t.ident.to_string(), &t.ty.shape, dtype(&t.ty));
            entries.push(quote!(::kiln::json::input_layer(#name, &[#(#dims),*], #dtype)));
        }
        let mut order: Vec<usize> = (0..g.layers.len()).collect();
        order.sort_by_key(|&l| g.layers[l].nodes.first().copied());
        for l in order {
            let layer = &g.layers[l];
            let input_shape = if layer.spec.is_merge() {
                let shapes = layer.inputs.iter().map(|t| shape_tokens(&t.shape));
                quote!(::kiln::json::Value::Array(::std::vec![#(#shapes),*]))
            } else {
                shape_tokens(&layer.inputs[0].shape)
            };
            let mut names: Vec<String> = g.layers.iter().map(|l| l.keras_name.clone()).collect();
            names.extend(g.inputs.iter().map(|&i| g.tensors[i].ident.to_string()));
            let body =
                layer_tokens(&*layer.spec, &layer.args, &layer.keras_name, input_shape, &layer.inputs[0], &names);
            let merge = layer.spec.is_merge();
            let nodes = layer.nodes.iter().map(|&n| {
                let tensors = g.nodes[n].inputs.iter().map(|&t| {
                    let tensor = &g.tensors[t];
                    let (from, node) = self.history(t);
                    let (dims, dtype) = (&tensor.ty.shape, dtype(&tensor.ty));
                    quote!(::kiln::json::tensor(&[#(#dims),*], #dtype, #from, #node))
                });
                quote!(::kiln::json::node(::std::vec![#(#tensors),*], #merge))
            });
            entries.push(quote!(::kiln::json::called(#body, ::std::vec![#(#nodes),*])));
        }
        let ends = |tensors: &[usize]| {
            let pairs = tensors.iter().map(|&t| {
                let (from, node) = self.history(t);
                quote!((#from, #node))
            });
            quote!(&[#(#pairs),*])
        };
        let (inputs, outputs) = (ends(&g.inputs), ends(&g.outputs));
        let model_name = snake_case(&def.name.to_string());
        quote! {
            ::core::result::Result::Ok(::kiln::json::functional(
                #model_name,
                ::std::vec![#(#entries),*],
                #inputs,
                #outputs,
            ))
        }
    }

    /// The layer and call (`keras_history`) that made tensor `t`.
    fn history(&self, t: usize) -> (String, usize) {
        let g = self.graph;
        match g.tensors[t].producer {
            None => (g.tensors[t].ident.to_string(), 0),
            Some(node) => {
                let layer = &g.layers[g.nodes[node].layer];
                (layer.keras_name.clone(), layer.nodes.iter().position(|&n| n == node).unwrap_or(0))
            }
        }
    }
}

/// A layer's serialized form (`kiln::json::layer`), its nested layer included.
fn layer_tokens(
    spec: &dyn Spec,
    args: &[Recorded],
    name: &str,
    input_shape: TokenStream,
    input: &TensorType,
    taken: &[String],
) -> TokenStream {
    let class = spec.keras_type();
    let mut config: Vec<TokenStream> = args
        .iter()
        .filter(|a| !NOT_CONFIG.contains(&a.keyword.as_str()))
        .map(|a| {
            let (key, value) = (&a.keyword, value_tokens(&a.value));
            quote!((#key, #value))
        })
        .collect();
    if let Some((inner, inner_args, key)) = spec.nested() {
        // The inner layer sees one step: the input without its first axis.
        let step = TensorType { dtype: input.dtype, shape: input.shape[1..].to_vec() };
        // Keras's automatic name for the inner layer, kept distinct from the
        // model's layers so Keras's variable paths (`dense/kernel`) stay unique.
        let prefix = inner.name_prefix();
        let inner_name = (0..)
            .map(|i| if i == 0 { prefix.to_string() } else { format!("{prefix}_{i}") })
            .find(|n| !taken.contains(n))
            .unwrap_or_default();
        let inner = layer_tokens(inner, inner_args, &inner_name, shape_tokens(&step.shape), &step, taken);
        config.push(quote!((#key, #inner)));
    }
    quote!(::kiln::json::layer(#class, #name, ::std::vec![#(#config),*], #input_shape))
}

fn shape_tokens(dims: &[crate::size::Size]) -> TokenStream {
    quote!(::kiln::json::batch_shape(&[#(#dims),*]))
}

fn dtype(t: &TensorType) -> &'static str {
    match t.dtype {
        DType::F32 => "float32",
        DType::U32 => "int32",
    }
}

/// Keras's regularizers and constraints written as calls in `model!`
/// (`l2(0.01)`): the call's name, Keras's module and class, and its
/// parameters in order (for positional arguments).
const KERAS_OBJECTS: &[(&str, &str, &str, &[&str])] = &[
    ("l1", "keras.regularizers", "L1", &["l1"]),
    ("l2", "keras.regularizers", "L2", &["l2"]),
    ("l1_l2", "keras.regularizers", "L1L2", &["l1", "l2"]),
    ("orthogonal_regularizer", "keras.regularizers", "OrthogonalRegularizer", &["factor", "mode"]),
    ("max_norm", "keras.constraints", "MaxNorm", &["max_value", "axis"]),
    ("min_max_norm", "keras.constraints", "MinMaxNorm", &["min_value", "max_value", "rate", "axis"]),
    ("non_neg", "keras.constraints", "NonNeg", &[]),
    ("unit_norm", "keras.constraints", "UnitNorm", &["axis"]),
];

/// An argument's value as an expression of type `kiln::json::Value`,
/// chosen by its form alone, so a new layer's arguments need no code here:
/// string, bool and number literals as themselves; a lowercase name
/// (`relu`, `glorot_uniform`, `same`) as its string; a tuple or list
/// (`(3, 3)`) as a list; a regularizer or constraint call (`l2(0.01)`) as
/// Keras's serialized object; anything else (`MAXLEN`, `VOCAB + 2`, a
/// `const RATE: f32`) is a Rust constant, evaluated where the model is built.
pub fn value_tokens(expr: &Expr) -> TokenStream {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => quote!(::kiln::json::Value::from(#s)),
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => quote!(::kiln::json::Value::Bool(#b)),
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) if i.base10_parse::<i64>().is_ok() => {
            let v: i64 = i.base10_parse().expect("checked");
            quote!(::kiln::json::Value::from(#v))
        }
        Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) if f.base10_parse::<f64>().is_ok() => {
            let v: f64 = f.base10_parse().expect("checked");
            quote!(::kiln::json::Value::from(#v))
        }
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) && matches!(&*u.expr, Expr::Lit(_)) => {
            let e = &*u.expr;
            quote!(::kiln::json::ToJsonValue::to_json_value(&(-#e)))
        }
        Expr::Path(p) if p.path.get_ident().is_some_and(|i| !i.to_string().chars().any(char::is_uppercase)) => {
            let name = p.path.get_ident().expect("checked").to_string();
            quote!(::kiln::json::Value::from(#name))
        }
        Expr::Paren(p) => value_tokens(&p.expr),
        Expr::Tuple(t) => {
            let items = t.elems.iter().map(value_tokens);
            quote!(::kiln::json::Value::Array(::std::vec![#(#items),*]))
        }
        Expr::Array(a) => {
            let items = a.elems.iter().map(value_tokens);
            quote!(::kiln::json::Value::Array(::std::vec![#(#items),*]))
        }
        Expr::Call(call) => {
            let name = match &*call.func {
                Expr::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
                _ => None,
            };
            let args: Vec<&Expr> = call.args.iter().collect();
            keras_object(expr, name.as_deref(), &args)
        }
        // `regularizers.l2(0.01)`, as Keras code writes it.
        Expr::MethodCall(m) => {
            let args: Vec<&Expr> = m.args.iter().collect();
            keras_object(expr, Some(&m.method.to_string()), &args)
        }
        other => quote!(::kiln::json::ToJsonValue::to_json_value(&(#other))),
    }
}

/// A regularizer or constraint call (by its snake-case name, as
/// `l2(0.01)`, or its class name, as `L2(0.01)`) as Keras's serialized
/// object; any other call is a Rust constant expression.
fn keras_object(expr: &Expr, name: Option<&str>, args: &[&Expr]) -> TokenStream {
    let known = name.and_then(|n| KERAS_OBJECTS.iter().find(|o| n == o.0 || n == o.2));
    let Some((_, module, class, params)) = known else {
        return quote!(::kiln::json::ToJsonValue::to_json_value(&(#expr)));
    };
    let mut positional = params.iter();
    let entries = args.iter().filter_map(|arg| match arg {
        Expr::Assign(a) => {
            let key = quote::ToTokens::to_token_stream(&a.left).to_string();
            let value = value_tokens(&a.right);
            Some(quote!((#key, #value)))
        }
        other => positional.next().map(|key| {
            let value = value_tokens(other);
            quote!((#key, #value))
        }),
    });
    quote!(::kiln::json::keras_object(#module, #class, ::std::vec![#(#entries),*]))
}

#[cfg(test)]
mod tests {
    use super::value_tokens;

    fn converted(source: &str) -> String {
        value_tokens(&syn::parse_str(source).unwrap()).to_string().replace(' ', "")
    }

    #[test]
    fn values_convert_by_their_form() {
        assert_eq!(converted("relu"), "::kiln::json::Value::from(\"relu\")");
        assert_eq!(converted("\"same\""), "::kiln::json::Value::from(\"same\")");
        assert_eq!(converted("true"), "::kiln::json::Value::Bool(true)");
        assert_eq!(converted("3"), "::kiln::json::Value::from(3i64)");
        assert_eq!(converted("0.5"), "::kiln::json::Value::from(0.5f64)");
        // Rust constants are evaluated where the model is built.
        assert_eq!(converted("VOCAB+2"), "::kiln::json::ToJsonValue::to_json_value(&(VOCAB+2))");
        assert!(
            converted("(3, 3)").starts_with("::kiln::json::Value::Array(::std::vec![::kiln::json::Value::from(3i64)")
        );
        let l2 = converted("l2(0.01)");
        assert!(
            l2.contains(
                "keras_object(\"keras.regularizers\",\"L2\",::std::vec![(\"l2\",::kiln::json::Value::from(0.01f64))])"
            ),
            "{l2}"
        );
        let max_norm = converted("max_norm(max_value = 2.0)");
        assert!(max_norm.contains("\"MaxNorm\""), "{max_norm}");
        // Keras's class names and `module.name(…)` calls too.
        assert!(converted("UnitNorm(axis = 0)").contains("\"UnitNorm\""));
        assert!(converted("regularizers.l1(0.5)").contains("\"L1\""));
    }
}
