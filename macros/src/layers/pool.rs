//! Keras's pooling layers, channels last (Keras's default):
//! `MaxPooling1D/2D(pool_size, strides, padding)` (`pool_size` defaults
//! to 2 / `(2, 2)`), `AveragePooling1D/2D(pool_size, strides, padding)`
//! (`pool_size` required, as in Keras), `strides` defaulting to
//! `pool_size`, `padding` `"valid"` or `"same"`; and
//! `GlobalMaxPooling1D/2D(keepdims)`, `GlobalAveragePooling1D/2D(keepdims)`.
//! Keras's aliases (`MaxPool2D`, `AvgPool1D`, `GlobalAvgPool2D`, …) name
//! the same layers.
//!
//! Shapes: `[steps, channels]` (1-D) or `[rows, cols, channels]` (2-D);
//! per spatial axis `⌊(n − pool) / stride⌋ + 1` with `"valid"`,
//! `⌈n / stride⌉` with `"same"` (Keras's `compute_pooling_output_shape`).

use super::{boxed, expect_float, one, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::size::{shape_pieces, Deferred, Piece};
use proc_macro2::TokenStream;
use quote::quote;

/// Names as written → Keras's class.
const CLASSES: &[(&str, &str)] = &[
    ("MaxPooling1D", "MaxPooling1D"),
    ("MaxPooling2D", "MaxPooling2D"),
    ("AveragePooling1D", "AveragePooling1D"),
    ("AveragePooling2D", "AveragePooling2D"),
    ("GlobalMaxPooling1D", "GlobalMaxPooling1D"),
    ("GlobalMaxPooling2D", "GlobalMaxPooling2D"),
    ("GlobalAveragePooling1D", "GlobalAveragePooling1D"),
    ("GlobalAveragePooling2D", "GlobalAveragePooling2D"),
    ("MaxPool1D", "MaxPooling1D"),
    ("MaxPool2D", "MaxPooling2D"),
    ("AvgPool1D", "AveragePooling1D"),
    ("AvgPool2D", "AveragePooling2D"),
    ("GlobalMaxPool1D", "GlobalMaxPooling1D"),
    ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
    ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
    ("GlobalAvgPool2D", "GlobalAveragePooling2D"),
];

pub const KINDS: &[Kind] = &[
    kind("MaxPooling1D"),
    kind("MaxPooling2D"),
    kind("AveragePooling1D"),
    kind("AveragePooling2D"),
    global("GlobalMaxPooling1D"),
    global("GlobalMaxPooling2D"),
    global("GlobalAveragePooling1D"),
    global("GlobalAveragePooling2D"),
    kind("MaxPool1D"),
    kind("MaxPool2D"),
    kind("AvgPool1D"),
    kind("AvgPool2D"),
    global("GlobalMaxPool1D"),
    global("GlobalMaxPool2D"),
    global("GlobalAvgPool1D"),
    global("GlobalAvgPool2D"),
];

const fn kind(name: &'static str) -> Kind {
    Kind {
        name,
        args: PoolSpec::ARGS,
        configure: |name, stmt, args| boxed(PoolSpec::configure(name, stmt, args)),
        is_op: false,
        weights: &[],
    }
}

const fn global(name: &'static str) -> Kind {
    Kind {
        name,
        args: PoolSpec::GLOBAL_ARGS,
        configure: |name, stmt, args| boxed(PoolSpec::configure(name, stmt, args)),
        is_op: false,
        weights: &[],
    }
}

pub struct PoolSpec {
    /// Keras's class (`MaxPooling2D`), also for aliases.
    class: &'static str,
    /// Keras's automatic name prefix (`max_pooling2d`).
    prefix: String,
    max: bool,
    /// Spatial axes: 1 or 2.
    dims: usize,
    /// `None` for the global layers.
    window: Option<Window>,
    keepdims: bool,
}

struct Window {
    pool: Vec<usize>,
    strides: Vec<usize>,
    same: bool,
}

impl PoolSpec {
    pub const ARGS: &'static [&'static str] = &["pool_size", "strides", "padding", "name"];
    pub const GLOBAL_ARGS: &'static [&'static str] = &["keepdims", "name"];

    /// `None` (the error recorded) when an argument is missing or wrong.
    pub fn configure(name: &'static str, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let class = CLASSES.iter().find(|(n, _)| *n == name).map_or(name, |(_, c)| c);
        let max = class.contains("Max");
        let dims = if class.ends_with("1D") { 1 } else { 2 };
        let prefix = snake(class);
        if class.starts_with("Global") {
            let keepdims = args.bool("keepdims", false);
            return Some(PoolSpec { class, prefix, max, dims, window: None, keepdims });
        }
        let pool = args.optional_int_or_tuple("pool_size", Some(0), dims);
        let strides = args.optional_int_or_tuple("strides", Some(1), dims);
        let same = args.choice("padding", Some(2), "padding", &["valid", "same"], 0) == 1;
        let pool = match pool.ok()? {
            Some(pool) => pool,
            // Keras: `MaxPooling*` default to 2 per axis; `AveragePooling*` require it.
            None if max => vec![2; dims],
            None => {
                let at = quote::quote_spanned!(stmt.args_span=> ());
                args.error(at, format!("`{name}` needs the argument `pool_size`"));
                return None;
            }
        };
        let strides = strides.ok()?.unwrap_or_else(|| pool.clone());
        Some(PoolSpec { class, prefix, max, dims, window: Some(Window { pool, strides, same }), keepdims: false })
    }

    /// `(3, 3)`, or `3` for one axis.
    fn pool_text(pool: &[usize]) -> String {
        match pool {
            [p] => p.to_string(),
            _ => format!("({})", pool.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
        }
    }

    /// The start of the message for a `"valid"` pool larger than its input.
    fn too_large(&self, window: &Window) -> String {
        let least: Vec<String> = window.pool.iter().map(usize::to_string).collect();
        format!(
            "`{}` with pool_size {} and padding \"valid\" needs an input of at least {} positions, but ",
            self.class,
            Self::pool_text(&window.pool),
            least.join(" × ")
        )
    }
}

/// `MaxPooling2D` → `max_pooling2d` (Keras's `to_snake_case`).
fn snake(class: &str) -> String {
    let mut out = String::new();
    for (i, c) in class.char_indices() {
        if c.is_ascii_uppercase() && i > 0 && !class[..i].ends_with(|p: char| p.is_ascii_digit()) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl Spec for PoolSpec {
    fn keras_type(&self) -> &'static str {
        self.class
    }

    fn name_prefix(&self) -> &str {
        &self.prefix
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one(self.class, inputs)?;
        expect_float(self.class, input, name)?;
        if input.shape.len() != self.dims + 1 {
            let layout = if self.dims == 1 { "[steps, channels]" } else { "[rows, cols, channels]" };
            return Err(format!(
                "`{}` needs a rank-{} input {layout}, but {name} is {}",
                self.class,
                self.dims + 1,
                input.shape_str()
            )
            .into());
        }
        let channels = input.shape[self.dims].clone();
        let Some(window) = &self.window else {
            let mut shape = if self.keepdims { vec![Size::Known(1); self.dims] } else { Vec::new() };
            shape.push(channels);
            return Ok(TensorType::f32(shape));
        };
        let mut shape = Vec::new();
        for (a, n) in input.shape[..self.dims].iter().enumerate() {
            let (p, s) = (window.pool[a], window.strides[a]);
            shape.push(match (n, window.same) {
                (Size::Known(n), false) if *n < p => {
                    let message = format!("{}{name} is {}", self.too_large(window), input.shape_str());
                    return Err(ShapeError { message, argument: Some("pool_size"), position: Some(0) });
                }
                (Size::Known(n), false) => Size::Known((n - p) / s + 1),
                (Size::Known(n), true) => Size::Known(n.div_ceil(s)),
                (n, _) if p == 1 && s == 1 => n.clone(),
                // Saturating: a too-small constant is reported by `deferred`,
                // not as an overflow.
                (n, false) => {
                    Size::Expr(quote!((#n).saturating_sub(#p) / #s + 1), format!("({} - {p}) / {s} + 1", n.text()))
                }
                (n, true) => Size::Expr(quote!((#n).div_ceil(#s)), format!("ceil({} / {s})", n.text())),
            });
        }
        shape.push(channels);
        Ok(TensorType::f32(shape))
    }

    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        let (Some(window), [(input, name)]) = (&self.window, inputs) else { return Vec::new() };
        if window.same {
            return Vec::new();
        }
        let conditions: Vec<TokenStream> = input.shape[..self.dims.min(input.shape.len())]
            .iter()
            .zip(&window.pool)
            .filter(|(n, _)| n.known().is_none())
            .map(|(n, p)| quote!((#n) >= #p))
            .collect();
        if conditions.is_empty() {
            return Vec::new();
        }
        let mut message = vec![Piece::Text(format!("{}{name} is ", self.too_large(window)))];
        message.extend(shape_pieces(&input.shape));
        vec![Deferred { condition: quote!(true #(&& #conditions)*), message }]
    }

    fn field_type(&self, inputs: &[TensorType], output: &TensorType) -> TokenStream {
        let (n, m) = (inputs[0].len(), output.len());
        match self.window {
            Some(_) => quote!(::kiln::layers::Pooling<#n, #m>),
            None => quote!(::kiln::layers::GlobalPooling<#n, #m>),
        }
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let shape = &inputs[0].shape;
        let mode =
            if self.max { quote!(::kiln::layers::PoolMode::Max) } else { quote!(::kiln::layers::PoolMode::Average) };
        match &self.window {
            Some(Window { pool, strides, same }) => {
                let padding =
                    if *same { quote!(::kiln::layers::Padding::Same) } else { quote!(::kiln::layers::Padding::Valid) };
                quote!(::kiln::layers::Pooling::new(
                    #mode, #padding, &[#(#shape),*], &[#(#pool),*], &[#(#strides),*]
                ))
            }
            None => quote!(::kiln::layers::GlobalPooling::new(#mode, &[#(#shape),*])),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keras_name_prefixes() {
        assert_eq!(super::snake("MaxPooling2D"), "max_pooling2d");
        assert_eq!(super::snake("GlobalAveragePooling1D"), "global_average_pooling1d");
    }
}
