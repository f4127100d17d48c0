//! `Reshape(target_shape)`, `Permute(dims)` and `RepeatVector(n)`:
//! Keras's layers that rearrange values without weights.

use super::{boxed, expect_float, expect_float_vector, one, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::{int_value, is_const_expr, ArgReader};
use crate::parse::LetStmt;
use crate::size::{shape_pieces, Deferred, Piece};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Expr;

pub const KINDS: &[Kind] = &[
    Kind {
        name: "Reshape",
        args: ReshapeSpec::ARGS,
        configure: |_, stmt, args| boxed(ReshapeSpec::configure(stmt, args)),
        is_op: false,
        weights: &[],
    },
    Kind {
        name: "Permute",
        args: PermuteSpec::ARGS,
        configure: |_, stmt, args| boxed(PermuteSpec::configure(stmt, args)),
        is_op: false,
        weights: &[],
    },
    Kind {
        name: "RepeatVector",
        args: RepeatVectorSpec::ARGS,
        configure: |_, stmt, args| boxed(args.positive_int("n", Some(0), stmt).map(|n| RepeatVectorSpec { n })),
        is_op: false,
        weights: &[],
    },
];

/// The integers (or constant sizes) of a tuple argument: `(4, 5)`, `(20,)`,
/// `[4, 5]`, or one value alone.
fn tuple_elems(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Array(a) => a.elems.iter().collect(),
        Expr::Paren(p) => vec![&*p.expr],
        single => vec![single],
    }
}

/// One entry of `target_shape`: a size, or `-1` (inferred).
#[derive(Clone)]
enum Target {
    Size(Size),
    Inferred,
}

pub struct ReshapeSpec {
    target: Vec<Target>,
}

impl ReshapeSpec {
    pub const ARGS: &'static [&'static str] = &["target_shape", "name"];

    /// Reads `target_shape`: positive sizes (integers or constants), and
    /// at most one `-1`, as Keras allows.
    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let Some(expr) = args.take("target_shape", Some(0)) else {
            args.error(quote::quote_spanned!(stmt.args_span=> ()), "`Reshape` needs the argument `target_shape`");
            return None;
        };
        let elems = tuple_elems(expr);
        if elems.is_empty() {
            args.error(expr, "`target_shape` expects a shape without the batch axis, such as `(4, 5)`");
            return None;
        }
        let mut target = Vec::new();
        for elem in elems {
            if is_const_expr(elem) {
                target.push(Target::Size(Size::expr(elem)));
                continue;
            }
            match int_value(elem) {
                Some(-1) => target.push(Target::Inferred),
                Some(v) if v > 0 => target.push(Target::Size(Size::Known(v as usize))),
                _ => {
                    args.error(elem, "`target_shape` expects positive integer sizes, or `-1` for one size to infer");
                    return None;
                }
            }
        }
        if target.iter().filter(|t| matches!(t, Target::Inferred)).count() > 1 {
            args.error(expr, "`target_shape` may infer one size only; at most one `-1`");
            return None;
        }
        Some(ReshapeSpec { target })
    }

    /// `(4, -1)`, as the user wrote it.
    fn target_str(&self) -> String {
        let dims: Vec<String> = self
            .target
            .iter()
            .map(|t| match t {
                Target::Size(s) => s.text(),
                Target::Inferred => "-1".into(),
            })
            .collect();
        if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        }
    }

    /// The product of the given sizes (all but `-1`).
    fn given(&self) -> Size {
        Size::product(self.target.iter().filter_map(|t| match t {
            Target::Size(s) => Some(s),
            Target::Inferred => None,
        }))
    }

    fn has_inferred(&self) -> bool {
        self.target.iter().any(|t| matches!(t, Target::Inferred))
    }

    fn error(message: String) -> ShapeError {
        ShapeError { message, argument: Some("target_shape"), position: Some(0) }
    }
}

impl Spec for ReshapeSpec {
    fn keras_type(&self) -> &'static str {
        "Reshape"
    }

    fn name_prefix(&self) -> &'static str {
        "reshape"
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("Reshape", inputs)?;
        expect_float("Reshape", input, name)?;
        let len = input.len();
        let given = self.given();
        let inferred = match (len.known(), given.known()) {
            (Some(n), Some(g)) if self.has_inferred() => {
                if n % g != 0 {
                    return Err(Self::error(format!(
                        "`Reshape` to {} needs a multiple of {g} values per sample, but {name} has {n} ({})",
                        self.target_str(),
                        input.shape_str()
                    )));
                }
                Size::Known(n / g)
            }
            (Some(n), Some(g)) => {
                if n != g {
                    return Err(Self::error(format!(
                        "`Reshape` to {} needs {g} values per sample, but {name} has {n} ({})",
                        self.target_str(),
                        input.shape_str()
                    )));
                }
                Size::Known(0) // unused
            }
            // Sizes written as constants: rustc checks them (`deferred`).
            _ => Size::Expr(quote!((#len) / (#given)), format!("{} / {}", len.text(), given.text())),
        };
        let shape = self
            .target
            .iter()
            .map(|t| match t {
                Target::Size(s) => s.clone(),
                Target::Inferred => inferred.clone(),
            })
            .collect();
        Ok(TensorType::f32(shape))
    }

    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        let (input, name) = inputs[0];
        let (len, given) = (input.len(), self.given());
        if len.known().is_some() && given.known().is_some() {
            return Vec::new();
        }
        let mut message = vec![Piece::Text(format!("`Reshape` to {} needs ", self.target_str()))];
        let condition = if self.has_inferred() {
            message.push(Piece::Text("a multiple of ".into()));
            message.push(Piece::Value(given.clone()));
            quote!((#len) % (#given) == 0)
        } else {
            message.push(Piece::Value(given.clone()));
            quote!((#len) == (#given))
        };
        message.push(Piece::Text(format!(" values per sample, but {name} has ")));
        message.push(Piece::Value(len.clone()));
        message.push(Piece::Text(" (".into()));
        message.extend(shape_pieces(&input.shape));
        message.push(Piece::Text(")".into()));
        vec![Deferred { condition, message }]
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let n = inputs[0].len();
        quote!(::kiln::layers::Reshape<#n>)
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        quote!(::kiln::layers::Reshape)
    }
}

pub struct PermuteSpec {
    /// Keras's 1-based axes, as given (checked against the input's rank in `infer`).
    dims: Vec<i64>,
}

impl PermuteSpec {
    pub const ARGS: &'static [&'static str] = &["dims", "name"];

    pub fn configure(stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let Some(expr) = args.take("dims", Some(0)) else {
            args.error(quote::quote_spanned!(stmt.args_span=> ()), "`Permute` needs the argument `dims`");
            return None;
        };
        let dims: Option<Vec<i64>> = tuple_elems(expr).into_iter().map(int_value).collect();
        match dims {
            Some(dims) if !dims.is_empty() => Some(PermuteSpec { dims }),
            _ => {
                args.error(expr, "`dims` expects a tuple of axes counted from 1, such as `(2, 1)`");
                None
            }
        }
    }

    fn dims_str(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(i64::to_string).collect();
        if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        }
    }
}

impl Spec for PermuteSpec {
    fn keras_type(&self) -> &'static str {
        "Permute"
    }

    fn name_prefix(&self) -> &'static str {
        "permute"
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("Permute", inputs)?;
        expect_float("Permute", input, name)?;
        let rank = input.shape.len();
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if !sorted.iter().copied().eq(1..=rank as i64) {
            let expected: Vec<String> = (1..=rank).map(|d| d.to_string()).collect();
            let message = format!(
                "`Permute` needs `dims` to be an order of the axes {} of {name} {} (counted from 1, the batch axis \
                 not counted), but got {}",
                expected.join(", "),
                input.shape_str(),
                self.dims_str()
            );
            return Err(ShapeError { message, argument: Some("dims"), position: Some(0) });
        }
        Ok(TensorType::f32(self.dims.iter().map(|&d| input.shape[d as usize - 1].clone()).collect()))
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let n = inputs[0].len();
        quote!(::kiln::layers::Permute<#n, #n>)
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let shape = &inputs[0].shape;
        let dims = self.dims.iter().map(|&d| d as usize);
        quote!(::kiln::layers::Permute::new(&[#(#shape),*], &[#(#dims),*]))
    }
}

pub struct RepeatVectorSpec {
    n: Size,
}

impl RepeatVectorSpec {
    pub const ARGS: &'static [&'static str] = &["n", "name"];
}

impl Spec for RepeatVectorSpec {
    fn keras_type(&self) -> &'static str {
        "RepeatVector"
    }

    fn name_prefix(&self) -> &'static str {
        "repeat_vector"
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one("RepeatVector", inputs)?;
        expect_float_vector("RepeatVector", input, name)?;
        Ok(TensorType::f32(vec![self.n.clone(), input.shape[0].clone()]))
    }

    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let (n, m) = (inputs[0].len(), output.len());
        quote!(::kiln::layers::RepeatVector<#n, #m>)
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        let n = &self.n;
        quote!(::kiln::layers::RepeatVector::new(#n))
    }
}
