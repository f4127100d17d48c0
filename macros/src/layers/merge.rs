//! Merges written as functions of a list of tensors:
//! `concatenate([a, b], axis = -1)` and the element-wise `add`,
//! `subtract`, `multiply`, `average`, `maximum`, `minimum` (Keras's
//! `keras.layers.concatenate` and friends). Axes count the batch axis.

use super::{DType, ShapeError, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use proc_macro2::TokenStream;
use quote::quote;

pub const OPS: &[&str] = &["concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum"];

pub struct MergeSpec {
    op: &'static str,
    axis: i64,
}

impl MergeSpec {
    /// `None` (the error recorded) when `axis` is not an integer.
    pub fn configure(op: &'static str, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let axis = if op == "concatenate" && args.find("axis").is_some() { args.int("axis", None, stmt)? } else { -1 };
        Some(MergeSpec { op, axis })
    }

    pub fn args(op: &str) -> &'static [&'static str] {
        if op == "concatenate" {
            &["axis", "name"]
        } else {
            &["name"]
        }
    }

    fn keras(&self) -> (&'static str, &'static str) {
        match self.op {
            "concatenate" => ("Concatenate", "concatenate"),
            "add" => ("Add", "add"),
            "subtract" => ("Subtract", "subtract"),
            "multiply" => ("Multiply", "multiply"),
            "average" => ("Average", "average"),
            "maximum" => ("Maximum", "maximum"),
            _ => ("Minimum", "minimum"),
        }
    }

    /// The concatenation axis as an index into the per-sample shape.
    fn sample_axis(&self, rank: usize) -> Option<usize> {
        let with_batch = rank as i64 + 1;
        let axis = if self.axis < 0 { self.axis + with_batch } else { self.axis };
        (1..with_batch).contains(&axis).then(|| axis as usize - 1)
    }

    /// `outer` and each input's block width for `Concatenate::new`.
    fn blocks(&self, inputs: &[TensorType]) -> (usize, Vec<usize>) {
        let axis = self.sample_axis(inputs[0].shape.len()).unwrap_or(0);
        let outer = inputs[0].shape[..axis].iter().product();
        let widths = inputs.iter().map(|t| t.shape[axis..].iter().product()).collect();
        (outer, widths)
    }
}

fn list(names: &[(&TensorType, &str)]) -> String {
    names.iter().map(|(t, n)| format!("{n} {}", t.shape_str())).collect::<Vec<_>>().join(", ")
}

impl Spec for MergeSpec {
    fn keras_type(&self) -> &'static str {
        self.keras().0
    }

    fn name_prefix(&self) -> &'static str {
        self.keras().1
    }

    fn has_params(&self) -> bool {
        false
    }

    fn is_merge(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let op = self.op;
        if inputs.len() < 2 {
            return Err(format!("`{op}` needs a list of at least two tensors, found {}", inputs.len()).into());
        }
        if op == "subtract" && inputs.len() != 2 {
            return Err(format!("`subtract` takes exactly two tensors, found {}", inputs.len()).into());
        }
        let (first, _) = inputs[0];
        if inputs.iter().any(|(t, _)| t.dtype != first.dtype) {
            return Err(format!("`{op}` needs tensors of one element type, but got {}", list(inputs)).into());
        }
        if op != "concatenate" {
            if first.dtype != DType::F32 {
                return Err(format!("`{op}` needs float tensors, but got integer ids: {}", list(inputs)).into());
            }
            if inputs.iter().any(|(t, _)| t.shape != first.shape) {
                return Err(format!("`{op}` needs tensors of one shape, but got {}", list(inputs)).into());
            }
            return Ok(first.clone());
        }
        let rank = first.shape.len();
        let Some(axis) = self.sample_axis(rank) else {
            let message = format!(
                "`concatenate` axis {} is out of range for rank-{rank} tensors (axes count the batch axis)",
                self.axis
            );
            return Err(ShapeError { message, argument: Some("axis"), position: None });
        };
        let compatible = inputs.iter().all(|(t, _)| {
            t.shape.len() == rank && t.shape.iter().zip(&first.shape).enumerate().all(|(d, (a, b))| d == axis || a == b)
        });
        if !compatible {
            return Err(format!(
                "`concatenate` along axis {} needs tensors that agree on every other axis, but got {}",
                self.axis,
                list(inputs)
            )
            .into());
        }
        let mut shape = first.shape.clone();
        shape[axis] = inputs.iter().map(|(t, _)| t.shape[axis]).sum();
        Ok(TensorType { dtype: first.dtype, shape })
    }

    fn field_type(&self, _: &[TensorType], output: &TensorType) -> TokenStream {
        let (n, elem) = (output.len(), output.elem_tokens());
        if self.op == "concatenate" {
            quote!(::kiln::layers::Concatenate<#elem, #n>)
        } else {
            quote!(::kiln::layers::ElementWise<#n>)
        }
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        if self.op == "concatenate" {
            let (outer, widths) = self.blocks(inputs);
            return quote!(::kiln::layers::Concatenate::new(#outer, ::std::vec![#(#widths),*]));
        }
        let op = quote::format_ident!("{}", self.keras().0);
        quote!(::kiln::layers::ElementWise::new(::kiln::layers::MergeOp::#op))
    }
}
