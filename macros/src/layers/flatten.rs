//! `Flatten()`: a float tensor `[d1, d2, …]` → `[d1·d2·…]`.

use super::{boxed, expect_float, one, Kind, ShapeError, Spec, TensorType};
use crate::args::ArgReader;
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[Kind {
    name: "Flatten",
    args: FlattenSpec::ARGS,
    configure: |_, _, args| boxed(Some(FlattenSpec::configure(args))),
    is_op: false,
    weights: &[],
}];

pub struct FlattenSpec;

impl FlattenSpec {
    pub fn configure(_: &mut ArgReader<'_>) -> Self {
        FlattenSpec
    }

    pub const ARGS: &'static [&'static str] = &["name"];
}

impl Spec for FlattenSpec {
    fn keras_type(&self) -> &'static str {
        "Flatten"
    }

    fn name_prefix(&self) -> &'static str {
        "flatten"
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("Flatten", inputs)?;
        expect_float("Flatten", input, name)?;
        Ok(TensorType::f32(vec![input.len()]))
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let n = input.len();
        quote!(::kiln::layers::Flatten<#n>)
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        quote!(::kiln::layers::Flatten)
    }
}
