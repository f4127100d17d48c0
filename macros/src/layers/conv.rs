//! `Conv1D` / `Conv2D(filters, kernel_size, strides, padding,
//! dilation_rate, activation, use_bias, kernel_initializer,
//! bias_initializer)`, channels last: `[steps, channels]` →
//! `[out_steps, filters]`, `[height, width, channels]` → `[out_h, out_w, filters]`.

use super::{
    activation_tokens, boxed, expect_float, initializer_tokens, one, Kind, ShapeError, Size, Spec, TensorType,
    ACTIVATIONS, INITIALIZERS,
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
    /// Spatial axes: 1 (`Conv1D`) or 2 (`Conv2D`).
    rank: usize,
    filters: Size,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    dilation_rate: Vec<usize>,
    same: bool,
    activation: &'static str,
    use_bias: bool,
    kernel_initializer: &'static str,
    bias_initializer: &'static str,
}

impl ConvSpec {
    /// `None` (the errors recorded) when a size argument is missing or
    /// wrong: the output shape is then unknown, and nothing downstream is
    /// checked.
    pub fn configure(rank: usize, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let filters = args.positive_int("filters", Some(0), stmt);
        let kernel_size = args.int_or_tuple("kernel_size", Some(1), rank, None, stmt);
        let strides = args.int_or_tuple("strides", Some(2), rank, Some(1), stmt);
        let same = args.choice("padding", Some(3), "padding", PADDINGS, 0) == 1;
        let dilation_rate = args.int_or_tuple("dilation_rate", None, rank, Some(1), stmt);
        let activation = ACTIVATIONS[args.choice("activation", None, "activation", ACTIVATIONS, 0)];
        let use_bias = args.bool("use_bias", true);
        let glorot = INITIALIZERS.iter().position(|i| *i == "glorot_uniform").unwrap_or(0);
        let kernel_initializer =
            INITIALIZERS[args.choice("kernel_initializer", None, "initializer", INITIALIZERS, glorot)];
        let bias_initializer = INITIALIZERS[args.choice("bias_initializer", None, "initializer", INITIALIZERS, 0)];
        let (strides, dilation_rate) = (strides?, dilation_rate?);
        if strides.iter().any(|&s| s > 1) && dilation_rate.iter().any(|&d| d > 1) {
            // Keras's BaseConv refuses the pair (a strided dilated
            // convolution is not what its backends compute).
            let message = format!(
                "`strides > 1` is not supported together with `dilation_rate > 1` (Keras refuses it too); \
                 found strides {} and dilation_rate {}",
                tuple_str(&strides),
                tuple_str(&dilation_rate)
            );
            match args.find("dilation_rate") {
                Some(expr) => args.error(expr, message),
                None => args.error(&stmt.callee, message),
            }
            return None;
        }
        Some(ConvSpec {
            rank,
            filters: filters?,
            kernel_size: kernel_size?,
            strides,
            dilation_rate,
            same,
            activation,
            use_bias,
            kernel_initializer,
            bias_initializer,
        })
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

    fn kind(&self) -> &'static str {
        if self.rank == 1 {
            "Conv1D"
        } else {
            "Conv2D"
        }
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
                self.kind(),
                self.rank + 1,
                input.shape_str()
            )
            .into(),
        )
    }
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
        self.kind()
    }

    fn name_prefix(&self) -> &'static str {
        if self.rank == 1 {
            "conv1d"
        } else {
            "conv2d"
        }
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let kind = self.kind();
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
        let mut shape: Vec<Size> = (0..self.rank).map(|axis| self.output_len(axis, &input.shape[axis])).collect();
        shape.push(self.filters.clone());
        Ok(TensorType::f32(shape))
    }

    /// A constant spatial size (`[LEN, 4]`) must hold a valid kernel.
    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        let [(input, name)] = inputs else { return Vec::new() };
        if input.dtype != super::DType::F32 || self.rank_error(input, name).is_some() {
            return Vec::new();
        }
        self.fits(input)
            .into_iter()
            .filter(|(_, n, _)| n.known().is_none())
            .map(|(_, n, span)| {
                let mut message =
                    vec![Piece::Text(format!("`{}`'s {} does not fit in {name} ", self.kind(), self.kernel_str()))];
                message.extend(shape_pieces(&input.shape));
                message.push(Piece::Text(" with `padding = valid`; use a smaller kernel or `padding = same`".into()));
                Deferred { condition: quote!((#n) >= #span), message }
            })
            .collect()
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let shape = &inputs[0].shape;
        let f = &self.filters;
        let same = self.same;
        if self.rank == 1 {
            let (l, c) = (&shape[0], &shape[1]);
            let (k, s, d) = (self.kernel_size[0], self.strides[0], self.dilation_rate[0]);
            quote!(::kiln::layers::Conv1d<#l, #c, #f, #k, #s, #d, #same>)
        } else {
            let (h, w, c) = (&shape[0], &shape[1], &shape[2]);
            let [kh, kw] = [self.kernel_size[0], self.kernel_size[1]];
            let [sh, sw] = [self.strides[0], self.strides[1]];
            let [dh, dw] = [self.dilation_rate[0], self.dilation_rate[1]];
            quote!(::kiln::layers::Conv2d<#h, #w, #c, #f, #kh, #kw, #sh, #sw, #dh, #dw, #same>)
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
