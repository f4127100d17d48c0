//! `DepthwiseConv1D/2D(kernel_size, strides, padding, depth_multiplier,
//! dilation_rate, activation, use_bias, depthwise_initializer,
//! bias_initializer)` and `SeparableConv1D/2D(filters, kernel_size,
//! strides, padding, dilation_rate, depth_multiplier, activation,
//! use_bias, depthwise_initializer, pointwise_initializer,
//! bias_initializer)`, channels last. The window's arguments and shape
//! rule are the convolutions' ([`Window`]); the output has `C·M`
//! channels (depthwise) or `filters` (separable).

use super::conv::Window;
use super::{activation_tokens, boxed, initializer_tokens, Kind, ShapeError, Size, Spec, TensorType, ACTIVATIONS};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::regularizers::Weight;
use crate::size::Deferred;
use proc_macro2::TokenStream;
use quote::quote;

const fn depthwise_weights(rank: usize) -> [Weight; 2] {
    [
        // Keras 3 names the depthwise layer's kernel `kernel`.
        Weight { prefix: "depthwise", param: "kernel", rank: rank + 2 },
        Weight { prefix: "bias", param: "bias", rank: 1 },
    ]
}

const fn separable_weights(rank: usize) -> [Weight; 3] {
    [
        Weight { prefix: "depthwise", param: "depthwise_kernel", rank: rank + 2 },
        Weight { prefix: "pointwise", param: "pointwise_kernel", rank: rank + 2 },
        Weight { prefix: "bias", param: "bias", rank: 1 },
    ]
}

pub const KINDS: &[Kind] = &[
    Kind {
        name: "DepthwiseConv1D",
        args: DepthwiseSpec::DEPTHWISE_ARGS,
        configure: |_, stmt, args| boxed(DepthwiseSpec::configure(1, false, stmt, args)),
        is_op: false,
        weights: &depthwise_weights(1),
    },
    Kind {
        name: "DepthwiseConv2D",
        args: DepthwiseSpec::DEPTHWISE_ARGS,
        configure: |_, stmt, args| boxed(DepthwiseSpec::configure(2, false, stmt, args)),
        is_op: false,
        weights: &depthwise_weights(2),
    },
    Kind {
        name: "SeparableConv1D",
        args: DepthwiseSpec::SEPARABLE_ARGS,
        configure: |_, stmt, args| boxed(DepthwiseSpec::configure(1, true, stmt, args)),
        is_op: false,
        weights: &separable_weights(1),
    },
    Kind {
        name: "SeparableConv2D",
        args: DepthwiseSpec::SEPARABLE_ARGS,
        configure: |_, stmt, args| boxed(DepthwiseSpec::configure(2, true, stmt, args)),
        is_op: false,
        weights: &separable_weights(2),
    },
];

/// The pointwise step of a separable convolution.
struct Pointwise {
    filters: Size,
    initializer: &'static str,
}

pub struct DepthwiseSpec {
    window: Window,
    depth_multiplier: Size,
    /// `Some` for `SeparableConv`.
    pointwise: Option<Pointwise>,
    activation: &'static str,
    use_bias: bool,
    depthwise_initializer: &'static str,
    bias_initializer: &'static str,
}

impl DepthwiseSpec {
    pub const DEPTHWISE_ARGS: &'static [&'static str] = &[
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "dilation_rate",
        "activation",
        "use_bias",
        "depthwise_initializer",
        "bias_initializer",
        "name",
    ];

    pub const SEPARABLE_ARGS: &'static [&'static str] = &[
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "dilation_rate",
        "depth_multiplier",
        "activation",
        "use_bias",
        "depthwise_initializer",
        "pointwise_initializer",
        "bias_initializer",
        "name",
    ];

    /// Keras's positional order: `DepthwiseConv2D(kernel_size, strides,
    /// padding, depth_multiplier, …)`, `SeparableConv2D(filters,
    /// kernel_size, strides, padding, …)` (its `depth_multiplier` comes
    /// after `data_format` and `dilation_rate`, so by keyword here).
    pub fn configure(rank: usize, separable: bool, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let kind = match (separable, rank) {
            (false, 1) => "DepthwiseConv1D",
            (false, _) => "DepthwiseConv2D",
            (true, 1) => "SeparableConv1D",
            (true, _) => "SeparableConv2D",
        };
        let filters = separable.then(|| args.positive_int("filters", Some(0), stmt));
        let window = Window::read(kind, rank, if separable { [1, 2, 3] } else { [0, 1, 2] }, stmt, args);
        let multiplier_at = (!separable).then_some(3);
        let given =
            args.find("depth_multiplier").is_some() || multiplier_at.is_some_and(|p| args.positional(p).is_some());
        let depth_multiplier =
            if given { args.positive_int("depth_multiplier", multiplier_at, stmt) } else { Some(Size::Known(1)) };
        let activation = ACTIVATIONS[args.choice("activation", None, "activation", ACTIVATIONS, 0)];
        let use_bias = args.bool("use_bias", true);
        let depthwise_initializer =
            args.initializer("depthwise_initializer", "glorot_uniform", "depthwise kernel", Some(rank + 2));
        let pointwise_initializer = separable
            .then(|| args.initializer("pointwise_initializer", "glorot_uniform", "pointwise kernel", Some(rank + 2)));
        let bias_initializer = args.initializer("bias_initializer", "zeros", "bias", use_bias.then_some(1));
        let pointwise = match (filters, pointwise_initializer) {
            (Some(filters), Some(initializer)) => Some(Pointwise { filters: filters?, initializer }),
            _ => None,
        };
        Some(DepthwiseSpec {
            window: window?,
            depth_multiplier: depth_multiplier?,
            pointwise,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
        })
    }
}

impl Spec for DepthwiseSpec {
    fn keras_type(&self) -> &'static str {
        self.window.kind
    }

    fn name_prefix(&self) -> &'static str {
        match (self.pointwise.is_some(), self.window.rank) {
            (false, 1) => "depthwise_conv1d",
            (false, _) => "depthwise_conv2d",
            (true, 1) => "separable_conv1d",
            (true, _) => "separable_conv2d",
        }
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let mut shape = self.window.infer_spatial(inputs)?;
        shape.push(match &self.pointwise {
            Some(p) => p.filters.clone(),
            None => inputs[0].0.shape[self.window.rank].mul(&self.depth_multiplier),
        });
        Ok(TensorType::f32(shape))
    }

    fn deferred(&self, inputs: &[(&TensorType, &str)]) -> Vec<Deferred> {
        self.window.deferred(inputs)
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = self.window.input_sizes(&inputs[0]);
        let (m, sizes, same) = (&self.depth_multiplier, self.window.sizes(), self.window.same);
        match (&self.pointwise, self.window.rank) {
            (None, 1) => quote!(::kiln::layers::DepthwiseConv1d<#input, #m, #sizes, #same>),
            (None, _) => quote!(::kiln::layers::DepthwiseConv2d<#input, #m, #sizes, #same>),
            (Some(p), 1) => {
                let f = &p.filters;
                quote!(::kiln::layers::SeparableConv1d<#input, #m, #f, #sizes, #same>)
            }
            (Some(p), _) => {
                let f = &p.filters;
                quote!(::kiln::layers::SeparableConv2d<#input, #m, #f, #sizes, #same>)
            }
        }
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        let activation = activation_tokens(self.activation);
        let depthwise = initializer_tokens(self.depthwise_initializer);
        let bias = initializer_tokens(self.bias_initializer);
        let use_bias = self.use_bias;
        match &self.pointwise {
            None => quote!(::kiln::layers::Depthwise::new(
                ::kiln::layers::DepthwiseConfig {
                    activation: #activation,
                    use_bias: #use_bias,
                    depthwise_initializer: #depthwise,
                    bias_initializer: #bias,
                },
                &mut __rng,
            )),
            Some(p) => {
                let pointwise = initializer_tokens(p.initializer);
                quote!(::kiln::layers::Separable::new(
                    ::kiln::layers::SeparableConfig {
                        activation: #activation,
                        use_bias: #use_bias,
                        depthwise_initializer: #depthwise,
                        pointwise_initializer: #pointwise,
                        bias_initializer: #bias,
                    },
                    &mut __rng,
                ))
            }
        }
    }
}
