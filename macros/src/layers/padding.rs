//! `ZeroPadding1D/2D(padding)`, `Cropping1D/2D(cropping)` and
//! `UpSampling1D/2D(size)`: spatial data movement, channels last, with
//! Keras's argument forms (an integer, one per axis, or `(before,
//! after)` pairs per axis).

use super::{boxed, expect_float, one, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::{int_value, ArgReader};
use crate::parse::LetStmt;
use crate::size::{shape_pieces, Deferred, Piece};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Pad,
    Crop,
    Up,
}

pub const KINDS: &[Kind] = &[
    kind("ZeroPadding1D", &["padding", "data_format", "name"]),
    kind("ZeroPadding2D", &["padding", "data_format", "name"]),
    kind("Cropping1D", &["cropping", "name"]),
    kind("Cropping2D", &["cropping", "data_format", "name"]),
    kind("UpSampling1D", &["size", "name"]),
    kind("UpSampling2D", &["size", "data_format", "interpolation", "name"]),
];

const fn kind(name: &'static str, args: &'static [&'static str]) -> Kind {
    Kind {
        name,
        args,
        configure: |name, stmt, args| boxed(SpatialSpec::configure(name, stmt, args)),
        is_op: false,
        weights: &[],
    }
}

pub struct SpatialSpec {
    keras: &'static str,
    op: Op,
    /// Spatial axes: 1 (`[steps, channels]`) or 2 (`[height, width, channels]`).
    axes: usize,
    /// Per spatial axis: `[before, after]` for padding and cropping,
    /// `[factor, 0]` for upsampling.
    amounts: Vec<[usize; 2]>,
}

impl SpatialSpec {
    pub fn configure(keras: &'static str, _: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let axes = if keras.ends_with("2D") { 2 } else { 1 };
        let op = match &keras[..keras.len() - 2] {
            "ZeroPadding" => Op::Pad,
            "Cropping" => Op::Crop,
            _ => Op::Up,
        };
        let amounts = match (op, axes) {
            (Op::Pad, 1) => args.int_or_tuple_min("padding", Some(0), 2, 0, &[1, 1]).map(|v| vec![pair(&v)]),
            (Op::Crop, 1) => args.int_or_tuple_min("cropping", Some(0), 2, 0, &[1, 1]).map(|v| vec![pair(&v)]),
            (Op::Pad, _) => pairs(args, "padding", [[1, 1], [1, 1]]),
            (Op::Crop, _) => pairs(args, "cropping", [[0, 0], [0, 0]]),
            (Op::Up, 1) => args.int_or_tuple_min("size", Some(0), 1, 1, &[2]).map(|v| vec![[v[0] as usize, 0]]),
            (Op::Up, _) => args
                .int_or_tuple_min("size", Some(0), 2, 1, &[2, 2])
                .map(|v| v.iter().map(|&s| [s as usize, 0]).collect()),
        };
        let format_ok = axes == 1 && op == Op::Crop || only(args, keras, "data_format", "channels_last");
        let interpolation_ok = op != Op::Up || axes == 1 || only(args, keras, "interpolation", "nearest");
        let amounts = amounts?;
        (format_ok && interpolation_ok).then_some(SpatialSpec { keras, op, axes, amounts })
    }

    /// The amounts as Keras shows them: `((1, 2), (0, 0))`, `(1, 2)`, `(2, 2)`, `2`.
    fn amounts_str(&self) -> String {
        let pair = |[a, b]: [usize; 2]| format!("({a}, {b})");
        match (self.op, self.axes) {
            (Op::Up, 1) => self.amounts[0][0].to_string(),
            (Op::Up, _) => format!("({}, {})", self.amounts[0][0], self.amounts[1][0]),
            (_, 1) => pair(self.amounts[0]),
            _ => format!("({}, {})", pair(self.amounts[0]), pair(self.amounts[1])),
        }
    }

    /// What the spatial axes hold, for messages.
    fn units(&self) -> &'static [&'static str] {
        if self.axes == 1 {
            &["steps"]
        } else {
            &["rows", "columns"]
        }
    }

    /// Output size along spatial axis `axis` of input size `size`.
    fn out_size(&self, axis: usize, size: &Size) -> Size {
        let [a, b] = self.amounts[axis];
        match self.op {
            Op::Pad => size.add(&Size::Known(a + b)),
            Op::Up => size.mul(&Size::Known(a)),
            Op::Crop => match size.known() {
                Some(n) => Size::Known(n.saturating_sub(a + b)),
                None if a + b == 0 => size.clone(),
                None => Size::Expr(quote!((#size) - #a - #b), format!("{} - {}", size.text(), a + b)),
            },
        }
    }
}

/// `[a, b]` of two integers read by `int_or_tuple` (non-negative).
fn pair(v: &[i64]) -> [usize; 2] {
    [v[0] as usize, v[1] as usize]
}

/// Keras's 2D padding or cropping: `1` (all four sides), `(1, 2)`
/// (symmetric per axis) or `((top, bottom), (left, right))`.
fn pairs(args: &mut ArgReader<'_>, name: &str, default: [[usize; 2]; 2]) -> Option<Vec<[usize; 2]>> {
    let given = args.find(name).or_else(|| args.positional(0));
    let nested = matches!(given, Some(Expr::Tuple(t)) if t.elems.iter().any(|e| matches!(e, Expr::Tuple(_))));
    if !nested {
        // The defaults are symmetric, so they read as `(1, 1)` / `(0, 0)`.
        let v = args.int_or_tuple_min(name, Some(0), 2, 0, &[default[0][0] as i64, default[1][0] as i64])?;
        return Some(vec![[v[0] as usize; 2], [v[1] as usize; 2]]);
    }
    let expr = args.take(name, Some(0))?;
    let Expr::Tuple(outer) = expr else { return None };
    let read = |e: &Expr| -> Option<[usize; 2]> {
        let Expr::Tuple(inner) = e else { return None };
        let v: Vec<i64> = inner.elems.iter().map(int_value).collect::<Option<_>>()?;
        match v[..] {
            [a, b] if a >= 0 && b >= 0 => Some([a as usize, b as usize]),
            _ => None,
        }
    };
    let found: Option<Vec<[usize; 2]>> = outer.elems.iter().map(read).collect();
    match found {
        Some(found) if found.len() == 2 => Some(found),
        _ => {
            let message = format!(
                "`{name}` expects an integer, a tuple of 2 integers or `((top, bottom), (left, right))` of \
                 non-negative integers"
            );
            args.error(expr, message);
            None
        }
    }
}

/// Whether the optional string argument `name` is absent or `value`, the
/// one value kiln supports (the error recorded otherwise).
fn only(args: &mut ArgReader<'_>, keras: &str, name: &str, value: &str) -> bool {
    let Some(expr) = args.take(name, None) else { return true };
    let given = match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
        Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    };
    if given.as_deref() == Some(value) {
        return true;
    }
    let shown = given.unwrap_or_else(|| quote::ToTokens::to_token_stream(expr).to_string());
    args.error(expr, format!("kiln's `{keras}` supports only `{name} = \"{value}\"`, found `{shown}`"));
    false
}

impl Spec for SpatialSpec {
    fn keras_type(&self) -> &'static str {
        self.keras
    }

    fn name_prefix(&self) -> &str {
        match self.keras {
            "ZeroPadding1D" => "zero_padding1d",
            "ZeroPadding2D" => "zero_padding2d",
            "Cropping1D" => "cropping1d",
            "Cropping2D" => "cropping2d",
            "UpSampling1D" => "up_sampling1d",
            _ => "up_sampling2d",
        }
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one(self.keras, inputs)?;
        expect_float(self.keras, input, name)?;
        if input.shape.len() != self.axes + 1 {
            let axes = if self.axes == 1 { "[steps, channels]" } else { "[height, width, channels]" };
            return Err(format!(
                "`{}` needs a rank-{} input {axes} (channels last), but {name} is {}",
                self.keras,
                self.axes + 1,
                input.shape_str()
            )
            .into());
        }
        if self.op == Op::Crop {
            for ((&[a, b], size), unit) in self.amounts.iter().zip(&input.shape).zip(self.units()) {
                if let Some(n) = size.known().filter(|&n| a + b >= n) {
                    let message = format!(
                        "`{}` with cropping {} removes {} of the {n} {unit} of {name} {}; it must leave at least one",
                        self.keras,
                        self.amounts_str(),
                        a + b,
                        input.shape_str()
                    );
                    return Err(ShapeError { message, argument: Some("cropping"), position: Some(0) });
                }
            }
        }
        let mut shape: Vec<Size> = (0..self.axes).map(|axis| self.out_size(axis, &input.shape[axis])).collect();
        shape.push(input.shape[self.axes].clone());
        Ok(TensorType::f32(shape))
    }

    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        let (input, name) = inputs[0];
        if self.op != Op::Crop || input.shape.len() != self.axes + 1 {
            return Vec::new();
        }
        let mut checks = Vec::new();
        for ((&[a, b], size), unit) in self.amounts.iter().zip(&input.shape).zip(self.units()) {
            if size.known().is_some() || a + b == 0 {
                continue;
            }
            let mut message = vec![Piece::Text(format!(
                "`{}` with cropping {} removes {} of the ",
                self.keras,
                self.amounts_str(),
                a + b
            ))];
            message.push(Piece::Value(size.clone()));
            message.push(Piece::Text(format!(" {unit} of {name} ")));
            message.extend(shape_pieces(&input.shape));
            message.push(Piece::Text("; it must leave at least one".into()));
            let total = a + b;
            checks.push(Deferred { condition: quote!((#size) > #total), message });
        }
        checks
    }

    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let (n, m) = (inputs[0].len(), output.len());
        let ty = quote::format_ident!("{}", self.keras);
        quote!(::kiln::layers::#ty<#n, #m>)
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let shape = &inputs[0].shape;
        let ty = quote::format_ident!("{}", self.keras);
        let amounts = match (self.op, self.axes) {
            (Op::Up, 1) => {
                let s = self.amounts[0][0];
                quote!(#s)
            }
            (Op::Up, _) => {
                let (a, b) = (self.amounts[0][0], self.amounts[1][0]);
                quote!([#a, #b])
            }
            (_, 1) => {
                let [a, b] = self.amounts[0];
                quote!([#a, #b])
            }
            _ => {
                let ([a, b], [c, d]) = (self.amounts[0], self.amounts[1]);
                quote!([[#a, #b], [#c, #d]])
            }
        };
        quote!(::kiln::layers::#ty::new([#(#shape),*], #amounts))
    }
}
