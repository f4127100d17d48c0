//! `Activation(name)`: any float tensor, same shape out.

use super::{activation_tokens, expect_float, ShapeError, Spec, TensorType, ACTIVATIONS};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use proc_macro2::TokenStream;
use quote::quote;

pub struct ActivationSpec {
    activation: &'static str,
}

impl ActivationSpec {
    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Self {
        let index = args.choice("activation", Some(0), "activation", ACTIVATIONS, usize::MAX);
        let activation = if index == usize::MAX {
            if stmt.args.is_empty() {
                args.error(&stmt.callee, "`Activation` needs the argument `activation`");
            }
            ACTIVATIONS[0]
        } else {
            ACTIVATIONS[index]
        };
        ActivationSpec { activation }
    }

    pub const ARGS: &'static [&'static str] = &["activation", "name"];
}

impl Spec for ActivationSpec {
    fn keras_type(&self) -> &'static str {
        "Activation"
    }

    fn name_prefix(&self) -> &'static str {
        "activation"
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, input: &TensorType, name: &str) -> Result<TensorType, ShapeError> {
        expect_float("Activation", input, name)?;
        Ok(input.clone())
    }

    fn field_type(&self, input: &TensorType, _: &TensorType) -> TokenStream {
        let n = input.len();
        quote!(::kiln::layers::ActivationLayer<#n>)
    }

    fn constructor(&self, input: &TensorType, _: &TensorType) -> TokenStream {
        let activation = activation_tokens(self.activation);
        let row = *input.shape.last().unwrap_or(&1);
        quote!(::kiln::layers::ActivationLayer::new(#activation, #row))
    }
}
