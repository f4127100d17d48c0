//! The `model!` macro of kiln. Use it through `kiln::model!`, whose
//! documentation describes the DSL.
//!
//! The expansion runs in phases, one file each:
//! 1. [`parse`] — syntax only: inputs, `let` statements, outputs;
//! 2. [`graph`] — names resolved, layers configured ([`args`], [`layers`]),
//!    every tensor's shape inferred, the graph checked (undefined,
//!    duplicate and unused names, wrong shapes); all errors of a model are
//!    collected ([`errors`]) and reported together;
//! 3. [`codegen`] — the struct, its workspace, `forward`, the generated
//!    `backward`, `predict_one`, `summary`, and `impl Layer` for models
//!    of one input and one output.

mod args;
mod codegen;
mod errors;
mod graph;
mod kw;
mod layers;
mod parse;
mod size;

use proc_macro::TokenStream;

/// See `kiln::model!`.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    let def = match syn::parse::<parse::ModelDef>(input.clone()) {
        Ok(def) => def,
        Err(error) => {
            // A syntax error: the model's name, if it can be read, still
            // names a (poisoned) type, so code using it adds no errors.
            return match syn::parse::<parse::ModelHead>(input) {
                Ok(head) => codegen::fallback(&head.attrs, &head.vis, &head.name, &error).into(),
                Err(_) => error.to_compile_error().into(),
            };
        }
    };
    match graph::Graph::build(&def) {
        Ok(graph) => codegen::expand(&def, &graph).into(),
        Err(error) => codegen::fallback(&def.attrs, &def.vis, &def.name, &error).into(),
    }
}
