//! `Embedding(input_dim, output_dim, embeddings_initializer)` on integer
//! ids `[T]` → `[T, output_dim]`.

use super::{boxed, initializer_tokens, one, DType, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::regularizers::Weight;
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[Kind {
    name: "Embedding",
    args: EmbeddingSpec::ARGS,
    configure: |_, stmt, args| boxed(EmbeddingSpec::configure(stmt, args)),
    is_op: false,
    weights: &[Weight { prefix: "embeddings", param: "embeddings", rank: 2 }],
}];

pub struct EmbeddingSpec {
    input_dim: Size,
    output_dim: Size,
    initializer: &'static str,
}

impl EmbeddingSpec {
    /// `None` (the error recorded) when a dimension is missing or wrong.
    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let input_dim = args.positive_int("input_dim", Some(0), stmt);
        let output_dim = args.positive_int("output_dim", Some(1), stmt);
        let initializer = args.initializer("embeddings_initializer", "random_uniform", "embeddings", Some(2));
        Some(EmbeddingSpec { input_dim: input_dim?, output_dim: output_dim?, initializer })
    }

    pub const ARGS: &'static [&'static str] = &["input_dim", "output_dim", "embeddings_initializer", "name"];
}

impl Spec for EmbeddingSpec {
    fn keras_type(&self) -> &'static str {
        "Embedding"
    }

    fn name_prefix(&self) -> &'static str {
        "embedding"
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("Embedding", inputs)?;
        if input.dtype != DType::U32 {
            return Err(format!(
                "`Embedding` needs integer ids, but {name} holds floats {}; declare the input as `[u32; …]`",
                input.shape_str()
            )
            .into());
        }
        if input.shape.len() != 1 {
            return Err(
                format!("`Embedding` needs a rank-1 sequence of ids, but {name} is {}", input.shape_str()).into()
            );
        }
        Ok(TensorType::f32(vec![input.shape[0].clone(), self.output_dim.clone()]))
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let (v, d, t) = (&self.input_dim, &self.output_dim, &input.shape[0]);
        quote!(::kiln::layers::Embedding<#v, #d, #t>)
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        let init = initializer_tokens(self.initializer);
        quote!(::kiln::layers::Embedding::new(#init, &mut __rng))
    }

    fn checks_ids(&self) -> bool {
        true
    }
}
