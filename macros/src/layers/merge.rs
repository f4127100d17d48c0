//! Merges written as functions of a list of tensors:
//! `concatenate([a, b], axis = -1)` and the element-wise `add`,
//! `subtract`, `multiply`, `average`, `maximum`, `minimum` (Keras's
//! `keras.layers.concatenate` and friends). Axes count the batch axis.

use super::{boxed, DType, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::size::{agree, shape_pieces, Agreement, Deferred, Piece};
use proc_macro2::TokenStream;
use quote::quote;

/// `concatenate` and the element-wise merges.
pub const KINDS: &[Kind] = &[
    op("concatenate", &["axis", "name"]),
    op("add", &["name"]),
    op("subtract", &["name"]),
    op("multiply", &["name"]),
    op("average", &["name"]),
    op("maximum", &["name"]),
    op("minimum", &["name"]),
];

const fn op(name: &'static str, args: &'static [&'static str]) -> Kind {
    Kind {
        name,
        args,
        configure: |op, stmt, args| boxed(MergeSpec::configure(op, stmt, args)),
        is_op: true,
        weights: &[],
    }
}

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
    fn blocks(&self, inputs: &[TensorType]) -> (Size, Vec<Size>) {
        let axis = self.sample_axis(inputs[0].shape.len()).unwrap_or(0);
        let outer = Size::product(&inputs[0].shape[..axis]);
        let widths = inputs.iter().map(|t| Size::product(&t.shape[axis..])).collect();
        (outer, widths)
    }

    /// The dimensions each input must share with the first: all of them
    /// for element-wise merges, all but the axis for `concatenate`.
    fn compared(&self, t: &TensorType, axis: Option<usize>) -> Vec<Size> {
        t.shape.iter().enumerate().filter(|(d, _)| Some(*d) != axis).map(|(_, s)| s.clone()).collect()
    }

    /// The failure message of a merge's shape check.
    fn mismatch(&self, inputs: &[(&TensorType, &str)]) -> String {
        if self.op == "concatenate" {
            format!(
                "`concatenate` along axis {} needs tensors that agree on every other axis, but got {}",
                self.axis,
                list(inputs)
            )
        } else {
            format!("`{}` needs tensors of one shape, but got {}", self.op, list(inputs))
        }
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
            if inputs.iter().any(|(t, _)| matches!(agree(&t.shape, &first.shape), Agreement::Differ)) {
                return Err(self.mismatch(inputs).into());
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
            t.shape.len() == rank
                && !matches!(agree(&self.compared(t, Some(axis)), &self.compared(first, Some(axis))), Agreement::Differ)
        });
        if !compatible {
            return Err(self.mismatch(inputs).into());
        }
        let mut shape = first.shape.clone();
        shape[axis] = Size::sum(inputs.iter().map(|(t, _)| &t.shape[axis]));
        Ok(TensorType { dtype: first.dtype, shape })
    }

    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        let (first, _) = inputs[0];
        let axis = if self.op == "concatenate" { self.sample_axis(first.shape.len()) } else { None };
        let mut pairs = Vec::new();
        for (t, _) in &inputs[1..] {
            if let Agreement::Maybe(more) = agree(&self.compared(t, axis), &self.compared(first, axis)) {
                pairs.extend(more);
            }
        }
        if pairs.is_empty() {
            return Vec::new();
        }
        // The message names every input's shape with its constants' values.
        let mut message = vec![Piece::Text(self.mismatch(&[]).trim_end_matches(", but got ").to_string())];
        message.push(Piece::Text(", but got ".into()));
        for (i, (t, name)) in inputs.iter().enumerate() {
            message.push(Piece::Text(format!("{}{name} ", if i > 0 { ", " } else { "" })));
            message.extend(shape_pieces(&t.shape));
        }
        vec![Deferred::equal(&pairs, message)]
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
