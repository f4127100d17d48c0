//! `BatchNormalization(axis, momentum, epsilon, center, scale, …)` and
//! `LayerNormalization(axis, epsilon, center, scale, …)` on a float
//! tensor; the output has the input's shape. As in Keras, `axis` counts
//! the batch axis (`axis = 1` is a sample's first axis, `-1` its last).

use super::{boxed, expect_float, initializer_tokens, one, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::regularizers::Weight;
use proc_macro2::TokenStream;
use quote::quote;

/// Keras's `gamma_` and `beta_` regularizers and constraints.
const GAMMA_AND_BETA: &[Weight] =
    &[Weight { prefix: "gamma", param: "gamma", rank: 1 }, Weight { prefix: "beta", param: "beta", rank: 1 }];

pub const KINDS: &[Kind] = &[
    Kind {
        name: "BatchNormalization",
        args: NormSpec::BATCH_ARGS,
        configure: |_, stmt, args| boxed(NormSpec::configure(true, stmt, args)),
        is_op: false,
        weights: GAMMA_AND_BETA,
    },
    Kind {
        name: "LayerNormalization",
        args: NormSpec::LAYER_ARGS,
        configure: |_, stmt, args| boxed(NormSpec::configure(false, stmt, args)),
        is_op: false,
        weights: GAMMA_AND_BETA,
    },
];

pub struct NormSpec {
    /// `BatchNormalization` (else `LayerNormalization`).
    batch: bool,
    axis: i64,
    momentum: f64,
    epsilon: f64,
    center: bool,
    scale: bool,
    beta_initializer: &'static str,
    gamma_initializer: &'static str,
    moving_mean_initializer: &'static str,
    moving_variance_initializer: &'static str,
}

/// An optional number argument that must satisfy `ok` (described by
/// `range`, as in "in [0, 1)"); the error is at the value. `None` (the
/// error recorded) when it is not a number or out of range.
pub(super) fn float_in(
    args: &mut ArgReader<'_>,
    name: &str,
    position: Option<usize>,
    default: Option<f64>,
    stmt: &LetStmt,
    ok: impl Fn(f64) -> bool,
    range: &str,
) -> Option<f64> {
    let (value, expr) = args.float(name, position, default, stmt)?;
    if !ok(value) {
        let message = format!("`{name}` of `{}` must be {range}, found {value:?}", stmt.callee);
        match expr {
            Some(expr) => args.error(expr, message),
            None => args.error(&stmt.callee, message),
        }
        return None;
    }
    Some(value)
}

impl NormSpec {
    /// `None` (the errors recorded) when an argument is wrong. Every
    /// argument is read before returning, so none is reported as unknown.
    pub fn configure(batch: bool, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let axis = if args.find("axis").is_some() || args.positional(0).is_some() {
            args.int("axis", Some(0), stmt)
        } else {
            Some(-1)
        };
        let momentum = if batch {
            float_in(args, "momentum", Some(1), Some(0.99), stmt, |m| (0.0..=1.0).contains(&m), "in [0, 1]")
        } else {
            Some(0.0)
        };
        let epsilon_at = if batch { 2 } else { 1 };
        let positive = |e: f64| e > 0.0 && e.is_finite();
        let epsilon = float_in(args, "epsilon", Some(epsilon_at), Some(1e-3), stmt, positive, "positive");
        let center = args.bool("center", true);
        let scale = args.bool("scale", true);
        // Every weight is 1-D; `beta` exists only with `center`, `gamma` with `scale`.
        let init = |args: &mut ArgReader<'_>, name: &str, default: &str, built: bool| {
            args.initializer(name, default, name.trim_end_matches("_initializer"), built.then_some(1))
        };
        let beta_initializer = init(args, "beta_initializer", "zeros", center);
        let gamma_initializer = init(args, "gamma_initializer", "ones", scale);
        let (moving_mean_initializer, moving_variance_initializer) = if batch {
            (
                init(args, "moving_mean_initializer", "zeros", true),
                init(args, "moving_variance_initializer", "ones", true),
            )
        } else {
            ("zeros", "ones")
        };
        Some(NormSpec {
            batch,
            axis: axis?,
            momentum: momentum?,
            epsilon: epsilon?,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            moving_mean_initializer,
            moving_variance_initializer,
        })
    }

    pub const BATCH_ARGS: &'static [&'static str] = &[
        "axis",
        "momentum",
        "epsilon",
        "center",
        "scale",
        "beta_initializer",
        "gamma_initializer",
        "moving_mean_initializer",
        "moving_variance_initializer",
        "name",
    ];

    pub const LAYER_ARGS: &'static [&'static str] =
        &["axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer", "name"];

    fn kind(&self) -> &'static str {
        if self.batch {
            "BatchNormalization"
        } else {
            "LayerNormalization"
        }
    }

    /// The normalized axis as an index into the per-sample shape.
    fn sample_axis(&self, input: &TensorType, name: &str) -> Result<usize, ShapeError> {
        let rank = input.shape.len() as i64 + 1; // with the batch axis
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis };
        let blame = |message: String| ShapeError { message, argument: Some("axis"), position: Some(0) };
        if axis == 0 {
            let what = if self.batch { "channel axis" } else { "axis to normalize over" };
            return Err(blame(format!(
                "`{}` axis {} is the batch axis; give the {what} of a sample (`axis = -1` for the last)",
                self.kind(),
                self.axis
            )));
        }
        if !(0..rank).contains(&axis) {
            return Err(blame(format!(
                "`{}` axis {} is out of range for {name} of shape {} (axes count the batch axis, as in Keras)",
                self.kind(),
                self.axis,
                input.keras_str()
            )));
        }
        Ok(axis as usize - 1)
    }

    /// `(outer, channels, inner)` sizes of the input's view.
    fn view(&self, input: &TensorType) -> (Size, Size, Size) {
        let axis = self.sample_axis(input, "").unwrap_or(input.shape.len() - 1);
        (Size::product(&input.shape[..axis]), input.shape[axis].clone(), Size::product(&input.shape[axis + 1..]))
    }
}

impl Spec for NormSpec {
    fn keras_type(&self) -> &'static str {
        self.kind()
    }

    fn name_prefix(&self) -> &'static str {
        if self.batch {
            "batch_normalization"
        } else {
            "layer_normalization"
        }
    }

    fn has_params(&self) -> bool {
        // BatchNormalization always: its backward pass is where a training
        // step's batch statistics are folded into the moving ones, so it
        // must run even with `center = false, scale = false`.
        self.batch || self.center || self.scale
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one(self.kind(), inputs)?;
        expect_float(self.kind(), input, name)?;
        self.sample_axis(input, name)?;
        Ok(input.clone())
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let (n, (_, c, _)) = (input.len(), self.view(input));
        if self.batch {
            quote!(::kiln::layers::BatchNormalization<#n, #c>)
        } else {
            quote!(::kiln::layers::LayerNormalization<#n, #c>)
        }
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let (outer, _, inner) = self.view(&inputs[0]);
        let (epsilon, center, scale) = (self.epsilon, self.center, self.scale);
        let beta = initializer_tokens(self.beta_initializer);
        let gamma = initializer_tokens(self.gamma_initializer);
        // The macro checked every argument, so the constructor's own checks pass.
        if self.batch {
            let momentum = self.momentum;
            let mm = initializer_tokens(self.moving_mean_initializer);
            let mv = initializer_tokens(self.moving_variance_initializer);
            quote!(::kiln::layers::BatchNormalization::new(
                ::kiln::layers::BatchNormalizationConfig {
                    momentum: #momentum,
                    epsilon: #epsilon,
                    center: #center,
                    scale: #scale,
                    beta_initializer: #beta,
                    gamma_initializer: #gamma,
                    moving_mean_initializer: #mm,
                    moving_variance_initializer: #mv,
                },
                #outer,
                #inner,
                &mut __rng,
            )
            .expect("arguments checked by model!"))
        } else {
            quote!(::kiln::layers::LayerNormalization::new(
                ::kiln::layers::LayerNormalizationConfig {
                    epsilon: #epsilon,
                    center: #center,
                    scale: #scale,
                    beta_initializer: #beta,
                    gamma_initializer: #gamma,
                },
                #outer,
                #inner,
                &mut __rng,
            )
            .expect("arguments checked by model!"))
        }
    }
}
