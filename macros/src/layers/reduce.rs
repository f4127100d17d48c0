//! `reduce_sum(x, axis)`, `reduce_mean(x, axis)`, `reduce_max(x, axis)`:
//! TensorFlow's reductions, which Keras models wrap in a `Lambda`. As in
//! TensorFlow, `axis` counts the batch axis (`axis = 1` is the first axis
//! of a sample; negative values count from the end).

use super::{boxed, expect_float, one, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use proc_macro2::TokenStream;
use quote::quote;

pub struct ReduceSpec {
    op: &'static str,
    axis: i64,
}

/// `reduce_sum`, `reduce_mean`, `reduce_max`.
pub const KINDS: &[Kind] = &[op("reduce_sum"), op("reduce_mean"), op("reduce_max")];

const fn op(name: &'static str) -> Kind {
    Kind {
        name,
        args: ReduceSpec::ARGS,
        configure: |op, stmt, args| boxed(ReduceSpec::configure(op, stmt, args)),
        is_op: true,
        weights: &[],
    }
}

impl ReduceSpec {
    /// `None` (the error recorded) when `axis` is missing or not an integer.
    pub fn configure(op: &'static str, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let axis = args.int("axis", Some(1), stmt)?;
        Some(ReduceSpec { op, axis })
    }

    pub const ARGS: &'static [&'static str] = &["axis", "name"];

    /// The reduced axis as an index into the per-sample shape.
    fn sample_axis(&self, input: &TensorType, name: &str) -> Result<usize, ShapeError> {
        let rank = input.shape.len() as i64 + 1; // with the batch axis
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis };
        if axis == 0 {
            let message = format!("`{}` cannot reduce over the batch axis (axis 0)", self.op);
            return Err(ShapeError { message, argument: Some("axis"), position: Some(1) });
        }
        if !(0..rank).contains(&axis) {
            let message = format!(
                "`{}` axis {} is out of range for {name} of shape {} (axes count the batch axis, as in TensorFlow)",
                self.op,
                self.axis,
                input.keras_str()
            );
            return Err(ShapeError { message, argument: Some("axis"), position: Some(1) });
        }
        Ok(axis as usize - 1)
    }
}

impl Spec for ReduceSpec {
    fn keras_type(&self) -> &'static str {
        "Lambda"
    }

    fn not_in_keras(&self) -> Option<String> {
        Some(format!("Keras writes `{}` as a `Lambda` of Python code, which a config cannot hold", self.op))
    }

    fn name_prefix(&self) -> &'static str {
        "lambda"
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one(self.op, inputs)?;
        expect_float(self.op, input, name)?;
        let axis = self.sample_axis(input, name)?;
        let mut shape = input.shape.clone();
        shape.remove(axis);
        if shape.is_empty() {
            let message = format!("`{}` would leave {name} with no axis; kiln's tensors keep at least one", self.op);
            return Err(ShapeError { message, argument: Some("axis"), position: Some(1) });
        }
        Ok(TensorType::f32(shape))
    }

    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let (n, m) = (input.len(), output.len());
        quote!(::kiln::layers::Reduce<#n, #m>)
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let axis = self.sample_axis(input, "").unwrap_or(0);
        let outer = Size::product(&input.shape[..axis]);
        let inner = Size::product(&input.shape[axis + 1..]);
        let len = &input.shape[axis];
        let op = match self.op {
            "reduce_sum" => quote!(Sum),
            "reduce_mean" => quote!(Mean),
            _ => quote!(Max),
        };
        quote!(::kiln::layers::Reduce::new(::kiln::layers::ReduceOp::#op, #outer, #len, #inner))
    }
}
