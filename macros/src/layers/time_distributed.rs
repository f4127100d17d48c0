//! `TimeDistributed(Layer(…))`: the inner layer applied to every step of
//! a `[T, …]` tensor, giving `[T, …inner output]`.

use super::{boxed, one, Kind, ShapeError, Spec, TensorType};
use crate::args::{ArgReader, Recorded};
use crate::parse::{Arg, LetStmt};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprAssign, Token};

pub const KINDS: &[Kind] = &[Kind {
    name: "TimeDistributed",
    args: TimeDistributedSpec::ARGS,
    configure: |_, stmt, args| boxed(TimeDistributedSpec::configure(stmt, args)),
    is_op: false,
    weights: &[],
}];

pub struct TimeDistributedSpec {
    inner: Box<dyn Spec>,
    /// The inner layer's arguments (its Keras config).
    inner_args: Vec<Recorded>,
}

impl TimeDistributedSpec {
    /// `None` (with the error recorded) when the argument is not a layer call.
    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let Some(Arg::Positional(expr)) = stmt.args.iter().find(|a| matches!(a, Arg::Positional(_))) else {
            args.error(&stmt.callee, "`TimeDistributed` needs a layer: `TimeDistributed(Dense(10))(x)`");
            return None;
        };
        args.take_positional();
        let call = match expr {
            Expr::Call(call) => call,
            other => {
                args.error(other, "expected a layer such as `Dense(10)`");
                return None;
            }
        };
        let Expr::Path(path) = &*call.func else {
            args.error(&call.func, "expected a layer name");
            return None;
        };
        let Some(callee) = path.path.get_ident().cloned() else {
            args.error(&call.func, "expected a layer name");
            return None;
        };
        let inner_args: syn::punctuated::Punctuated<Arg, Token![,]> = call
            .args
            .iter()
            .map(|a| match a {
                Expr::Assign(ExprAssign { left, right, .. }) => match &**left {
                    Expr::Path(p) if p.path.get_ident().is_some() => {
                        Arg::Named { name: p.path.get_ident().cloned().expect("checked"), value: (**right).clone() }
                    }
                    _ => Arg::Positional(a.clone()),
                },
                other => Arg::Positional(other.clone()),
            })
            .collect();
        let inner_stmt = LetStmt {
            name: stmt.name.clone(),
            declared: None,
            custom: None,
            callee: callee.clone(),
            args: inner_args,
            args_span: call.paren_token.span.join(),
            tensors: None,
            shown: None,
        };
        let nested = args.nested(&inner_stmt);
        match super::configure(&inner_stmt, nested) {
            Some((inner, inner_args)) if !inner.is_merge() => Some(TimeDistributedSpec { inner, inner_args }),
            Some(_) => {
                args.error(&callee, "`TimeDistributed` wraps a layer of one input");
                None
            }
            None => {
                args.error(&callee, super::unknown_layer(&callee.to_string(), &[]));
                None
            }
        }
    }

    pub const ARGS: &'static [&'static str] = &["name"];
}

fn step_type(input: &TensorType) -> TensorType {
    TensorType { dtype: input.dtype, shape: input.shape[1..].to_vec() }
}

impl Spec for TimeDistributedSpec {
    fn keras_type(&self) -> &'static str {
        "TimeDistributed"
    }

    fn name_prefix(&self) -> &'static str {
        "time_distributed"
    }

    fn has_params(&self) -> bool {
        self.inner.has_params()
    }

    fn checks_ids(&self) -> bool {
        self.inner.checks_ids()
    }

    fn not_in_keras(&self) -> Option<String> {
        self.inner.not_in_keras()
    }

    fn nested(&self) -> Option<(&dyn Spec, &[Recorded], &'static str)> {
        Some((&*self.inner, &self.inner_args, "layer"))
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("TimeDistributed", inputs)?;
        if input.shape.len() < 2 {
            return Err(format!(
                "`TimeDistributed` needs a [timesteps, …] input of rank 2 or more, but {name} is {}",
                input.shape_str()
            )
            .into());
        }
        let step = step_type(input);
        let steps = format!("each step of {name}");
        let out = self.inner.infer(&[(&step, &steps)])?;
        let mut shape = vec![input.shape[0].clone()];
        shape.extend(out.shape);
        Ok(TensorType { dtype: out.dtype, shape })
    }

    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let steps = &inputs[0].shape[0];
        let step_out = TensorType { dtype: output.dtype, shape: output.shape[1..].to_vec() };
        let inner = self.inner.field_type(&[step_type(&inputs[0])], &step_out);
        quote!(::kiln::layers::TimeDistributed<#inner, #steps>)
    }

    fn constructor(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let step_out = TensorType { dtype: output.dtype, shape: output.shape[1..].to_vec() };
        let inner = self.inner.constructor(&[step_type(&inputs[0])], &step_out);
        quote!(::kiln::layers::TimeDistributed::new(#inner))
    }
}
