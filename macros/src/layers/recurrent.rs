//! `SimpleRNN`, `LSTM`, `GRU`: `(units, activation, recurrent_activation,
//! use_bias, return_sequences, kernel_initializer, recurrent_initializer,
//! bias_initializer, unit_forget_bias)` on a float `[timesteps, features]`
//! tensor → `[units]`, or `[timesteps, units]` with `return_sequences`.

use super::{
    activation_tokens, boxed, expect_float, initializer_tokens, one, Kind, ShapeError, Size, Spec, TensorType,
    ACTIVATIONS,
};
use crate::args::ArgReader;
use crate::parse::LetStmt;
use crate::regularizers::Weight;
use proc_macro2::TokenStream;
use quote::quote;

pub const KINDS: &[Kind] = &[
    Kind {
        name: "LSTM",
        args: RecurrentSpec::args(Cell::Lstm),
        configure: |_, s, a| boxed(RecurrentSpec::configure(Cell::Lstm, s, a)),
        is_op: false,
        weights: RECURRENT_WEIGHTS,
    },
    Kind {
        name: "GRU",
        args: RecurrentSpec::args(Cell::Gru),
        configure: |_, s, a| boxed(RecurrentSpec::configure(Cell::Gru, s, a)),
        is_op: false,
        weights: RECURRENT_WEIGHTS,
    },
    Kind {
        name: "SimpleRNN",
        args: RecurrentSpec::args(Cell::SimpleRnn),
        configure: |_, s, a| boxed(RecurrentSpec::configure(Cell::SimpleRnn, s, a)),
        is_op: false,
        weights: RECURRENT_WEIGHTS,
    },
];

/// Keras's `kernel_`, `recurrent_` and `bias_` regularizers and constraints.
/// (GRU's bias is `[2, 3U]`; an `axis` beyond rank 1 is checked at run time for it.)
const RECURRENT_WEIGHTS: &[Weight] = &[
    Weight { prefix: "kernel", param: "kernel", rank: 2 },
    Weight { prefix: "recurrent", param: "recurrent_kernel", rank: 2 },
    Weight { prefix: "bias", param: "bias", rank: 1 },
];

#[derive(Clone, Copy, PartialEq)]
pub enum Cell {
    SimpleRnn,
    Lstm,
    Gru,
}

pub struct RecurrentSpec {
    kind: Cell,
    units: Size,
    return_sequences: bool,
    activation: &'static str,
    recurrent_activation: &'static str,
    use_bias: bool,
    kernel_initializer: &'static str,
    recurrent_initializer: &'static str,
    bias_initializer: &'static str,
    unit_forget_bias: bool,
}

fn index_of(list: &[&str], name: &str) -> usize {
    list.iter().position(|n| *n == name).unwrap_or(0)
}

impl RecurrentSpec {
    /// `None` (the error recorded) when `units` is missing or wrong.
    pub fn configure(kind: Cell, stmt: &LetStmt, args: &mut ArgReader<'_>) -> Option<Self> {
        let units = args.positive_int("units", Some(0), stmt);
        let return_sequences = args.bool("return_sequences", false);
        let activation_arg = |args: &mut ArgReader<'_>, name: &str, default: &str| {
            let i = args.choice(name, None, "activation", ACTIVATIONS, usize::MAX);
            match ACTIVATIONS.get(i) {
                Some(&"softmax") => {
                    let message = format!("`{name}` of a recurrent layer must work element-wise, not `softmax`");
                    match args.find(name) {
                        Some(expr) => args.error(expr, message),
                        None => args.error(&stmt.callee, message),
                    }
                    ACTIVATIONS[index_of(ACTIVATIONS, default)]
                }
                Some(a) => a,
                None => ACTIVATIONS[index_of(ACTIVATIONS, default)],
            }
        };
        let activation = activation_arg(args, "activation", "tanh");
        // SimpleRNN has no gates: its `recurrent_activation` is never read,
        // so a keyword of that name is reported as unknown (as Keras does).
        let recurrent_activation = match kind {
            Cell::SimpleRnn => ACTIVATIONS[index_of(ACTIVATIONS, "sigmoid")],
            _ => activation_arg(args, "recurrent_activation", "sigmoid"),
        };
        let use_bias = args.bool("use_bias", true);
        let kernel_initializer = args.initializer("kernel_initializer", "glorot_uniform", "kernel", Some(2));
        let recurrent_initializer =
            args.initializer("recurrent_initializer", "orthogonal", "recurrent kernel", Some(2));
        // GRU (`reset_after = True`) has input and recurrent bias rows.
        let bias_rank = if matches!(kind, Cell::Gru) { 2 } else { 1 };
        let bias_initializer = args.initializer("bias_initializer", "zeros", "bias", use_bias.then_some(bias_rank));
        let unit_forget_bias = kind == Cell::Lstm && args.bool("unit_forget_bias", true);
        Some(RecurrentSpec {
            kind,
            units: units?,
            return_sequences,
            activation,
            recurrent_activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            unit_forget_bias,
        })
    }

    pub const fn args(kind: Cell) -> &'static [&'static str] {
        // Each cell's arguments are a prefix of LSTM's: SimpleRNN's, then
        // `recurrent_activation` (gated cells: Keras refuses it for
        // SimpleRNN), then `unit_forget_bias` (LSTM only).
        const LSTM: &[&str] = &[
            "units",
            "activation",
            "use_bias",
            "return_sequences",
            "kernel_initializer",
            "recurrent_initializer",
            "bias_initializer",
            "name",
            "recurrent_activation",
            "unit_forget_bias",
        ];
        let len = match kind {
            Cell::Lstm => LSTM.len(),
            Cell::Gru => LSTM.len() - 1,
            Cell::SimpleRnn => LSTM.len() - 2,
        };
        LSTM.split_at(len).0
    }
}

impl Spec for RecurrentSpec {
    fn keras_type(&self) -> &'static str {
        match self.kind {
            Cell::SimpleRnn => "SimpleRNN",
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        }
    }

    fn name_prefix(&self) -> &'static str {
        match self.kind {
            Cell::SimpleRnn => "simple_rnn",
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }

    fn has_params(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[(&TensorType, &str)]) -> Result<TensorType, ShapeError> {
        let (input, name) = one(self.keras_type(), inputs)?;
        let kind = self.keras_type();
        expect_float(kind, input, name)?;
        if input.shape.len() != 2 {
            return Err(format!(
                "`{kind}` needs a rank-2 input [timesteps, features], but {name} is {}",
                input.shape_str()
            )
            .into());
        }
        let shape = if self.return_sequences {
            vec![input.shape[0].clone(), self.units.clone()]
        } else {
            vec![self.units.clone()]
        };
        Ok(TensorType::f32(shape))
    }

    fn field_type(&self, inputs: &[TensorType], _: &TensorType) -> TokenStream {
        let input = &inputs[0];
        let (t, d, u, seq) = (&input.shape[0], &input.shape[1], &self.units, self.return_sequences);
        match self.kind {
            Cell::SimpleRnn => quote!(::kiln::layers::SimpleRnn<#d, #u, #t, #seq>),
            Cell::Lstm => quote!(::kiln::layers::Lstm<#d, #u, #t, #seq>),
            Cell::Gru => quote!(::kiln::layers::Gru<#d, #u, #t, #seq>),
        }
    }

    fn constructor(&self, _: &[TensorType], _: &TensorType) -> TokenStream {
        let (activation, recurrent_activation) =
            (activation_tokens(self.activation), activation_tokens(self.recurrent_activation));
        let (kernel, recurrent, bias) = (
            initializer_tokens(self.kernel_initializer),
            initializer_tokens(self.recurrent_initializer),
            initializer_tokens(self.bias_initializer),
        );
        let (use_bias, unit_forget_bias) = (self.use_bias, self.unit_forget_bias);
        let config = quote!(::kiln::layers::RecurrentConfig {
            activation: #activation,
            recurrent_activation: #recurrent_activation,
            use_bias: #use_bias,
            kernel_initializer: #kernel,
            recurrent_initializer: #recurrent,
            bias_initializer: #bias,
            unit_forget_bias: #unit_forget_bias,
        });
        match self.kind {
            Cell::SimpleRnn => quote!(::kiln::layers::SimpleRnn::new(#config, &mut __rng)),
            Cell::Lstm => quote!(::kiln::layers::Lstm::new(#config, &mut __rng)),
            Cell::Gru => quote!(::kiln::layers::Gru::new(#config, &mut __rng)),
        }
    }
}
