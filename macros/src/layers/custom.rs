//! `custom(MyLayer::new(…))(x)` with the output shape on the line: a
//! user's type implementing `kiln::layers::Layer`. The macro trusts the
//! declared shape for inference; the generated constant assertion makes
//! rustc reject the line if the type's `OUTPUT_LEN` (or `INPUT_LEN`)
//! disagrees.

use super::{one, ShapeError, Spec, TensorType};
use proc_macro2::TokenStream;
use quote::ToTokens;

pub struct CustomSpec {
    pub ty: TokenStream,
    pub expr: TokenStream,
    pub output: TensorType,
    pub prefix: String,
}

impl Spec for CustomSpec {
    fn keras_type(&self) -> &'static str {
        "Custom"
    }

    fn not_in_keras(&self) -> Option<String> {
        Some("a `custom(…)` layer is a Rust type that Keras does not know".into())
    }

    fn name_prefix(&self) -> &str {
        &self.prefix
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        one("custom", inputs)?;
        Ok(self.output.clone())
    }

    fn field_type(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        self.ty.clone()
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        self.expr.to_token_stream()
    }

    fn checks_ids(&self) -> bool {
        true
    }

    fn is_custom(&self) -> bool {
        true
    }
}

/// `MyLayer` from `MyLayer::new(…)`: the path before the last segment,
/// with the type's own name.
pub fn type_of_constructor(expr: &syn::Expr) -> Option<(TokenStream, String)> {
    let syn::Expr::Call(call) = expr else { return None };
    let syn::Expr::Path(path) = &*call.func else { return None };
    let segments = &path.path.segments;
    if segments.len() < 2 {
        return None;
    }
    let mut ty = path.path.clone();
    ty.segments = segments.iter().take(segments.len() - 1).cloned().collect();
    let name = ty.segments.last()?.ident.to_string();
    Some((ty.to_token_stream(), name))
}

/// The name of an explicitly written type (`custom::<my::Layer<4>>`).
pub fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_else(|| "custom".into()),
        _ => "custom".into(),
    }
}
