//! `Conv1D` / `Conv2D(filters, kernel_size, strides, padding,
//! dilation_rate, activation, use_bias, kernel_initializer,
//! bias_initializer)`, channels last: `[steps, channels]` →
//! `[out_steps, filters]`, `[height, width, channels]` → `[out_h, out_w, filters]`.

use super::{
    activation_tokens, boxed, expect_float, initializer_tokens, one, Kind, ShapeError, Size, Spec, TensorType,
    ACTIVATIONS,
};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::regularizers::kernel_and_bias;
use crate::size::{shape_pieces, Deferred, Piece};
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[
    Kind {
        name: "Conv1D",
        args: ConvSpec::ARGS,
        configure: |_, stmt, args| boxed(ConvSpec::configure(1, stmt, args)),
        is_op: false,
        weights: &kernel_and_bias(3),
    },
    Kind {
        name: "Conv2D",
        args: ConvSpec::ARGS,
        configure: |_, stmt, args| boxed(ConvSpec::configure(2, stmt, args)),
        is_op: false,
        weights: &kernel_and_bias(4),
    },
];

const PADDINGS: &[&str] = &["valid", "same"];

pub struct ConvSpec {
    window: Window,
    filters: Size,
    activation: &'static str,
    use_bias: bool,
    kernel_initializer: &'static str,
    bias_initializer: &'static str,
}

/// The sliding window of a convolution, shared by the convolution kinds
/// (`Conv`, `DepthwiseConv`, `SeparableConv`): its arguments and its
/// shape rule (Keras's `compute_conv_output_shape`, channels last).
pub struct Window {
    /// The layer's name in messages (`Conv2D`).
    pub kind: &'static str,
    /// Spatial axes: 1 or 2.
    pub rank: usize,
    pub kernel_size: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilation_rate: Vec<usize>,
    pub same: bool,
}

impl Window {
    /// Reads `kernel_size`, `strides`, `padding` (at the positions Keras
    /// gives them, `positions`) and `dilation_rate` (keyword); `None`
    /// (the errors recorded) when one is missing or wrong.
    pub fn read(
        kind: &'static str,
        rank: usize,
        positions: [usize; 3],
        stmt: &LetStmt,
        args: &mut ArgReader<'_>,
    ) -> Option<Self> {
        let [kernel_at, strides_at, padding_at] = positions;
        let kernel_size = args.int_or_tuple("kernel_size", Some(kernel_at), rank, None, stmt);
        let strides = args.int_or_tuple("strides", Some(strides_at), rank, Some(1), stmt);
        let same = args.choice("padding", Some(padding_at), "padding", PADDINGS, 0) == 1;
        let dilation_rate = args.int_or_tuple("dilation_rate", None, rank, Some(1), stmt);
        Some(Window { kind, rank, kernel_size: kernel_size?, strides: strides?, dilation_rate: dilation_rate?, same })
    }

    /// `d·(k − 1) + 1`: input positions one output position reads, per axis.
    fn spans(&self) -> Vec<usize> {
        self.kernel_size.iter().zip(&self.dilation_rate).map(|(k, d)| d * (k - 1) + 1).collect()
    }

    /// Output length of spatial axis `axis` from input length `n`
    /// (Keras's `compute_conv_output_shape`), symbolic when `n` is.
    fn output_len(&self, axis: usize, n: &Size) -> Size {
        let (s, span) = (self.strides[axis], self.spans()[axis]);
        match n.known() {
            Some(n) if self.same => Size::Known(n.div_ceil(s)),
            Some(n) => Size::Known((n - span) / s + 1),
            None if self.same => Size::Expr(quote!((#n).div_ceil(#s)), format!("ceil({} / {s})", n.text())),
            // Saturating: a kernel that does not fit is the deferred check's
            // error, not also an overflow in the generated constants.
            None => {
                Size::Expr(quote!((#n).saturating_sub(#span) / #s + 1), format!("({} - {span}) / {s} + 1", n.text()))
            }
        }
    }

    /// What the error messages call the kernel: "kernel_size (5, 5)", with
    /// the dilation when it widens the span.
    fn kernel_str(&self) -> String {
        let mut text = format!("kernel_size {}", tuple_str(&self.kernel_size));
        if self.dilation_rate.iter().any(|&d| d > 1) {
            text += &format!(
                " with dilation_rate {} (spanning {})",
                tuple_str(&self.dilation_rate),
                tuple_str(&self.spans())
            );
        }
        text
    }

    /// The spatial axes a valid convolution's kernel must fit in:
    /// `(axis, input length, span)`.
    fn fits(&self, input: &TensorType) -> Vec<(usize, Size, usize)> {
        if self.same {
            return Vec::new();
        }
        self.spans().into_iter().enumerate().map(|(axis, span)| (axis, input.shape[axis].clone(), span)).collect()
    }

    fn rank_error(&self, input: &TensorType, name: &str) -> Option<ShapeError> {
        if input.shape.len() == self.rank + 1 {
            return None;
        }
        let axes = if self.rank == 1 { "[steps, channels]" } else { "[height, width, channels]" };
        Some(
            format!(
                "`{}` needs a rank-{} input {axes} (channels last), but {name} is {}",
                self.kind,
                self.rank + 1,
                input.shape_str()
            )
            .into(),
        )
    }

    /// The single input's checks (float, rank, a valid kernel fits) and
    /// the output's spatial sizes; the caller appends the channels.
    pub fn infer_spatial(&self, inputs: &[(&TensorType, &str)]) -> Result<Vec<Size>, ShapeError> {
        let kind = self.kind;
        let (input, name) = one(kind, inputs)?;
        expect_float(kind, input, name)?;
        if let Some(error) = self.rank_error(input, name) {
            return Err(error);
        }
        let too_small = self.fits(input).into_iter().any(|(_, n, span)| n.known().is_some_and(|n| n < span));
        if too_small {
            let spatial: Vec<String> = input.shape[..self.rank].iter().map(Size::text).collect();
            return Err(format!(
                "`{kind}`'s {} does not fit in {name} {} with `padding = valid` (spatial size {}); \
                 use a smaller kernel or `padding = same`",
                self.kernel_str(),
                input.shape_str(),
                spatial.join("×"),
            )
            .into());
        }
        Ok((0..self.rank).map(|axis| self.output_len(axis, &input.shape[axis])).collect())
    }

    /// A constant spatial size (`[LEN, 4]`) must hold a valid kernel.
    pub fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        let [(input, name)] = inputs else { return Vec::new() };
        if input.dtype != super::DType::F32 || self.rank_error(input, name).is_some() {
            return Vec::new();
        }
        self.fits(input)
            .into_iter()
            .filter(|(_, n, _)| n.known().is_none())
            .map(|(_, n, span)| {
                let mut message =
                    vec![Piece::Text(format!("`{}`'s {} does not fit in {name} ", self.kind, self.kernel_str()))];
                message.extend(shape_pieces(&input.shape));
                message.push(Piece::Text(" with `padding = valid`; use a smaller kernel or `padding = same`".into()));
                Deferred { condition: quote!((#n) >= #span), message }
            })
            .collect()
    }

    /// The const generics after the input's sizes and before `SAME`, in
    /// the runtime types' order: `KH, KW, SH, SW, DH, DW` (1D: `K, S, D`).
    pub fn sizes(&self) -> TokenStream {
        if self.rank == 1 {
            let (k, s, d) = (self.kernel_size[0], self.strides[0], self.dilation_rate[0]);
            quote!(#k, #s, #d)
        } else {
            let [kh, kw] = [self.kernel_size[0], self.kernel_size[1]];
            let [sh, sw] = [self.strides[0], self.strides[1]];
            let [dh, dw] = [self.dilation_rate[0], self.dilation_rate[1]];
            quote!(#kh, #kw, #sh, #sw, #dh, #dw)
        }
    }

    /// The input's sizes as const generics: `L, C` or `H, W, C`.
    pub fn input_sizes(&self, input: &TensorType) -> TokenStream {
        let shape = &input.shape;
        quote!(#(#shape),*)
    }
}

impl ConvSpec {
    /// `None` (the errors recorded) when a size argument is missing or
    /// wrong: the output shape is then unknown, and nothing downstream is
    /// checked.
    pub fn configure(rank: usize, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let kind = if rank == 1 { "Conv1D" } else { "Conv2D" };
        let filters = args.positive_int("filters", Some(0), stmt);
        let window = Window::read(kind, rank, [1, 2, 3], stmt, args);
        let activation = ACTIVATIONS[args.choice("activation", None, "activation", ACTIVATIONS, 0)];
        let use_bias = args.bool("use_bias", true);
        let kernel_initializer = args.initializer("kernel_initializer", "glorot_uniform", "kernel", Some(rank + 2));
        let bias_initializer = args.initializer("bias_initializer", "zeros", "bias", use_bias.then_some(1));
        let window = window?;
        if window.strides.iter().any(|&s| s > 1) && window.dilation_rate.iter().any(|&d| d > 1) {
            // Keras's BaseConv refuses the pair (a strided dilated
            // convolution is not what its backends compute).
            let message = format!(
                "`strides > 1` is not supported together with `dilation_rate > 1` (Keras refuses it too); \
                 found strides {} and dilation_rate {}",
                tuple_str(&window.strides),
                tuple_str(&window.dilation_rate)
            );
            match args.find("dilation_rate") {
                Some(expr) => args.error(expr, message),
                None => args.error(&stmt.callee, message),
            }
            return None;
        }
        Some(ConvSpec { window, filters: filters?, activation, use_bias, kernel_initializer, bias_initializer })
    }

    pub const ARGS: &'static [&'static str] = &[
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "dilation_rate",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
        "name",
    ];
}

/// `(3, 3)`, or `(3,)` for one axis (as Keras prints tuples).
fn tuple_str(values: &[usize]) -> String {
    match values {
        [v] => format!("({v},)"),
        _ => format!("({})", values.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

impl Spec for ConvSpec {
    fn keras_type(&self) -> &'static str {
        self.window.kind
    }

    fn name_prefix(&self) -> &'static str {
        if self.window.rank == 1 {
            "conv1d"
        } else {
            "conv2d"
        }
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let mut shape = self.window.infer_spatial(inputs)?;
        shape.push(self.filters.clone());
        Ok(TensorType::f32(shape))
    }

    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        self.window.deferred(inputs)
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = self.window.input_sizes(&inputs[0]);
        let (f, sizes, same) = (&self.filters, self.window.sizes(), self.window.same);
        if self.window.rank == 1 {
            quote!(::kiln::layers::Conv1d<#input, #f, #sizes, #same>)
        } else {
            quote!(::kiln::layers::Conv2d<#input, #f, #sizes, #same>)
        }
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        let activation = activation_tokens(self.activation);
        let kernel = initializer_tokens(self.kernel_initializer);
        let bias = initializer_tokens(self.bias_initializer);
        let use_bias = self.use_bias;
        quote!(::kiln::layers::Conv::new(
            ::kiln::layers::ConvConfig {
                activation: #activation,
                use_bias: #use_bias,
                kernel_initializer: #kernel,
                bias_initializer: #bias,
            },
            &mut __rng,
        ))
    }
}
