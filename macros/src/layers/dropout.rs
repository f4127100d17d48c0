//! Train-only noise on a float tensor; the output has the input's shape:
//! `Dropout(rate)`, `SpatialDropout1D(rate)` on `[steps, channels]`,
//! `SpatialDropout2D(rate, data_format)` on images, `GaussianNoise(stddev)`.

use super::normalization::float_in;
use super::{boxed, expect_float, one, Kind, ShapeError, Size, Spec, TensorType};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[
    kind("Dropout", &["rate", "name"]),
    kind("SpatialDropout1D", &["rate", "name"]),
    kind("SpatialDropout2D", &["rate", "data_format", "name"]),
    kind("GaussianNoise", &["stddev", "name"]),
];

const fn kind(name: &'static str, args: &'static [&'static str]) -> Kind {
    Kind {
        name,
        args,
        configure: |kind, stmt, args| boxed(NoiseSpec::configure(kind, stmt, args)),
        is_op: false,
        weights: &[],
    }
}

const DATA_FORMATS: &[&str] = &["channels_last", "channels_first"];

pub struct NoiseSpec {
    kind: &'static str,
    /// `rate`, or `GaussianNoise`'s `stddev`.
    amount: f64,
    channels_first: bool,
}

impl NoiseSpec {
    /// `None` (the error recorded) when the rate or deviation is missing or wrong.
    pub fn configure(kind: &'static str, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let amount = if kind == "GaussianNoise" {
            // Keras's own range check for `stddev`.
            float_in(args, "stddev", Some(0), None, stmt, |s| (0.0..=1.0).contains(&s), "in [0, 1]")
        } else {
            // Keras accepts `rate = 1` (all zeros); TensorFlow's dropout
            // rejects it, and such a layer would train nothing.
            float_in(args, "rate", Some(0), None, stmt, |r| (0.0..1.0).contains(&r), "in [0, 1)")
        };
        let channels_first = kind == "SpatialDropout2D"
            && DATA_FORMATS[args.choice("data_format", Some(1), "data format", DATA_FORMATS, 0)] == "channels_first";
        Some(NoiseSpec { kind, amount: amount?, channels_first })
    }

    /// The rank a sample must have (`None`: any).
    fn sample_rank(&self) -> Option<usize> {
        match self.kind {
            "SpatialDropout1D" => Some(2),
            "SpatialDropout2D" => Some(3),
            _ => None,
        }
    }

    /// `(outer, channels, inner)` of the mask's broadcast (see `kiln::layers::Dropout`).
    fn view(&self, input: &TensorType) -> (Size, Size, Size) {
        let s = &input.shape;
        let one = Size::Known(1);
        match self.kind {
            "SpatialDropout1D" | "SpatialDropout2D" if self.channels_first => {
                (one, s[0].clone(), Size::product(&s[1..]))
            }
            "SpatialDropout1D" | "SpatialDropout2D" => (Size::product(&s[..s.len() - 1]), s[s.len() - 1].clone(), one),
            _ => (one.clone(), input.len(), one),
        }
    }
}

impl Spec for NoiseSpec {
    fn keras_type(&self) -> &'static str {
        self.kind
    }

    fn name_prefix(&self) -> &'static str {
        match self.kind {
            "Dropout" => "dropout",
            "SpatialDropout1D" => "spatial_dropout1d",
            "SpatialDropout2D" => "spatial_dropout2d",
            _ => "gaussian_noise",
        }
    }

    fn has_params(&self) -> bool {
        false
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one(self.kind, inputs)?;
        expect_float(self.kind, input, name)?;
        if let Some(rank) = self.sample_rank() {
            if input.shape.len() != rank {
                let layout = if rank == 2 {
                    "[steps, channels]"
                } else if self.channels_first {
                    "[channels, rows, cols]"
                } else {
                    "[rows, cols, channels]"
                };
                return Err(format!(
                    "`{}` needs samples of rank {rank} {layout}, but {name} is {}",
                    self.kind,
                    input.shape_str()
                )
                .into());
            }
        }
        Ok(input.clone())
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let n = inputs[0].len();
        if self.kind == "GaussianNoise" {
            quote!(::kiln::layers::GaussianNoise<#n>)
        } else {
            quote!(::kiln::layers::Dropout<#n>)
        }
    }

    fn constructor(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let amount = self.amount;
        // The macro checked the rate and the sizes, so these cannot fail.
        if self.kind == "GaussianNoise" {
            return quote!(::kiln::layers::GaussianNoise::new(#amount).expect("arguments checked by model!"));
        }
        let (outer, channels, inner) = self.view(&inputs[0]);
        let kind = quote::format_ident!("{}", self.kind);
        quote!(::kiln::layers::Dropout::spatial(
            ::kiln::layers::DropoutKind::#kind,
            #amount,
            #outer,
            #channels,
            #inner,
        )
        .expect("arguments checked by model!"))
    }
}
