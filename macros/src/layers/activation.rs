//! `Activation(name)`: any float tensor, same shape out.

use super::{activation_tokens, boxed, expect_float, one, Kind, ShapeError, Size, Spec, TensorType, ACTIVATIONS};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[Kind {
    name: "Activation",
    args: ActivationSpec::ARGS,
    configure: |_, stmt, args| boxed(ActivationSpec::configure(stmt, args)),
    is_op: false,
    weights: &[],
}];

pub struct ActivationSpec {
    activation: &'static str,
}

impl ActivationSpec {
    /// `None` (the error recorded) without a valid activation.
    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let index = args.required_choice("activation", Some(0), "activation", ACTIVATIONS, stmt)?;
        Some(ActivationSpec { activation: ACTIVATIONS[index] })
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

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("Activation", inputs)?;
        expect_float("Activation", input, name)?;
        if self.activation == "softmax" && input.shape.last() == Some(&Size::Known(1)) {
            // Softmax normalizes along the last axis: over length 1 it is
            // 1.0 whatever the input.
            let message = format!(
                "softmax over the last axis of {name} {} always outputs 1.0, as that axis has length 1; \
                 for one probability use `sigmoid`",
                input.shape_str()
            );
            return Err(ShapeError { message, argument: Some("activation"), position: Some(0) });
        }
        Ok(input.clone())
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let n = input.len();
        quote!(::kiln::layers::ActivationLayer<#n>)
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let activation = activation_tokens(self.activation);
        let row = input.shape.last().cloned().unwrap_or(Size::Known(1));
        quote!(::kiln::layers::ActivationLayer::new(#activation, #row))
    }
}
