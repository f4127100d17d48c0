//! `Dense(units, activation, use_bias, kernel_initializer, bias_initializer)`
//! on a rank-1 float tensor `[n]` → `[units]`.

use super::{
    activation_tokens, boxed, expect_float_vector, initializer_tokens, one, Kind, ShapeError, Size, Spec, TensorType,
    ACTIVATIONS,
};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::regularizers::kernel_and_bias;
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[Kind {
    name: "Dense",
    args: DenseSpec::ARGS,
    configure: |_, stmt, args| boxed(DenseSpec::configure(stmt, args)),
    is_op: false,
    weights: &kernel_and_bias(2),
}];

pub struct DenseSpec {
    units: Size,
    activation: &'static str,
    use_bias: bool,
    kernel_initializer: &'static str,
    bias_initializer: &'static str,
}

impl DenseSpec {
    /// `None` (the error recorded) when `units` is missing or wrong: the
    /// layer's output shape is then unknown, and nothing downstream is checked.
    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let units = args.positive_int("units", Some(0), stmt);
        let activation = ACTIVATIONS[args.choice("activation", Some(1), "activation", ACTIVATIONS, 0)];
        let use_bias = args.bool("use_bias", true);
        let kernel_initializer = args.initializer("kernel_initializer", "glorot_uniform", "kernel", Some(2));
        let bias_initializer = args.initializer("bias_initializer", "zeros", "bias", use_bias.then_some(1));
        if units == Some(Size::Known(1)) && activation == "softmax" {
            // Softmax normalizes over the units: over one unit it is 1.0
            // whatever the input, and its gradient is zero.
            let message = "`Dense(1, activation = softmax)` always outputs 1.0 (softmax over one unit); \
                           for one probability use `activation = sigmoid`, or give as many units as classes";
            let at = args.find("activation").or_else(|| args.positional(1));
            match at {
                Some(expr) => args.error(expr, message),
                None => args.error(&stmt.callee, message),
            }
            return None;
        }
        Some(DenseSpec { units: units?, activation, use_bias, kernel_initializer, bias_initializer })
    }

    pub const ARGS: &'static [&'static str] =
        &["units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "name"];
}

impl Spec for DenseSpec {
    fn keras_type(&self) -> &'static str {
        "Dense"
    }

    fn name_prefix(&self) -> &'static str {
        "dense"
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("Dense", inputs)?;
        expect_float_vector("Dense", input, name)?;
        Ok(TensorType::f32(vec![self.units.clone()]))
    }

    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let (i, o) = (input.len(), output.len());
        quote!(::kiln::layers::Dense<#i, #o>)
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        let activation = activation_tokens(self.activation);
        let kernel = initializer_tokens(self.kernel_initializer);
        let bias = initializer_tokens(self.bias_initializer);
        let use_bias = self.use_bias;
        quote!(::kiln::layers::Dense::new(
            ::kiln::layers::DenseConfig {
                activation: #activation,
                use_bias: #use_bias,
                kernel_initializer: #kernel,
                bias_initializer: #bias,
            },
            &mut __rng,
        ))
    }
}
