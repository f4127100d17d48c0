//! What `SimpleRNN`, `LSTM` and `GRU` share: Keras's arguments, the
//! weights (`kernel [D, G·U]`, `recurrent_kernel [U, G·U]`, `bias`), the
//! cache that back-propagation through time reads, buffer helpers, and the
//! layer itself, [`Recurrent`]: its cell ([`Cell`]) is all that differs.
//!
//! Buffers are `[batch, T, width]` row-major, so the rows of time step `t`
//! are `T` rows apart: [`step`] views them as a strided matrix, and the
//! per-step recurrent products write straight into the gate buffer.

use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::activations::Activation;
use crate::gemm::{column_sums_into, sgemm, Mat, Scratch};
use crate::initializers::Initializer;
use crate::parallel::Disjoint;
use crate::param::Param;
use rand::Rng;
use std::marker::PhantomData;

/// A recurrent layer over `T` steps of `D` features with `U` units (`SEQ`
/// is `return_sequences`); the cell `C` makes it `SimpleRnn`, `Lstm` or `Gru`.
#[derive(Clone, Debug)]
pub struct Recurrent<C, const D: usize, const U: usize, const T: usize, const SEQ: bool> {
    /// Kernel `[D, G·U]`, recurrent kernel `[U, G·U]`, bias `[G·U]` (`[2, 3U]` for GRU).
    pub weights: RecurrentWeights,
    /// `tanh` by default.
    pub activation: Activation,
    /// `sigmoid` by default (`SimpleRNN` has no gates and ignores it).
    pub recurrent_activation: Activation,
    cell: PhantomData<C>,
}

/// What one kind of cell adds to [`Recurrent`]: its shapes, Keras names and
/// step math. Implemented for `Recurrent<ItsCell, D, U, T, SEQ>`, so the
/// math sees the layer's fields and sizes.
pub trait Cell: Sync {
    /// Gate blocks `G` side by side in the kernels.
    const GATES: usize;
    /// Rows of the bias: 1, or 2 (input and recurrent biases).
    const BIAS_ROWS: usize = 1;
    /// Per-sample values of what the forward pass keeps in `aux`.
    const AUX_LEN: usize = 0;
    /// Per-sample values of the backward pass's `d_aux`.
    const D_AUX_LEN: usize = 0;
    /// `d_aux` holds the recurrent pre-activation gradients (`[batch, T, G·U]`);
    /// otherwise they equal the input ones.
    const SPLIT_RECURRENT_GRAD: bool = false;
    /// Keras's class name: `LSTM`.
    const KERAS_TYPE: &'static str;
    /// Keras keeps a recurrent layer's weights in its cell: `lstm/lstm_cell/kernel`.
    const CELL_NAME: &'static str;

    /// Adjusts the freshly initialized weights (LSTM's forget-gate bias).
    fn init(&mut self, _config: &RecurrentConfig) {}

    /// The recurrence over all steps for `batch` samples (`[batch, T, ·]`
    /// buffers): finishes the input projections in `gates` in place, keeps
    /// [`Cell::AUX_LEN`] values per sample in `aux`, fills the states `h`.
    /// (Separate slice arguments, not a struct: they tell the optimizer the
    /// buffers do not alias, which keeps the step loops vectorized.)
    fn forward_steps(&self, gates: &mut [f32], aux: &mut [f32], h: &mut [f32], batch: usize, scratch: &mut Scratch);

    /// Back-propagation through time for `batch` samples, given what their
    /// forward pass left and the output gradients `dy`: fills the gate
    /// pre-activation gradients `d_gates` and [`Cell::D_AUX_LEN`] values per
    /// sample of `d_aux`; `dh` is scratch for the running `∂L/∂h` (`[batch, U]`).
    #[allow(clippy::too_many_arguments)]
    fn backward_steps(
        &self,
        gates: &[f32],
        aux: &[f32],
        h: &[f32],
        d_gates: &mut [f32],
        d_aux: &mut [f32],
        dh: &mut [f32],
        dy: &[f32],
        batch: usize,
        scratch: &mut Scratch,
    );

    /// [`Layer::forward_one`]: one sample, without a cache.
    fn forward_sample(&self, x: &[f32], y: &mut [f32]);
}

impl<C, const D: usize, const U: usize, const T: usize, const SEQ: bool> Recurrent<C, D, U, T, SEQ>
where
    Self: Cell,
{
    /// A layer initialized as `config` says (LSTM: forget-gate bias 1 with
    /// `unit_forget_bias`; SimpleRNN ignores `recurrent_activation`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `kernel_initializer`,
    /// `recurrent_initializer` or (with `use_bias`) `bias_initializer` when
    /// that initializer's arguments are invalid ([`Initializer::check`]: an
    /// empty uniform range, a non-finite constant, …) or cannot fill the weight's dimensions
    /// (orthogonal needs 2 or more, identity exactly 2); nothing is drawn then.
    pub fn try_new(config: RecurrentConfig, rng: &mut impl Rng) -> crate::Result<Self> {
        let width = Self::GATES * U;
        config.kernel_initializer.check_as("kernel_initializer", &[D, width])?;
        config.recurrent_initializer.check_as("recurrent_initializer", &[U, width])?;
        if config.use_bias {
            config
                .bias_initializer
                .check_as("bias_initializer", &RecurrentWeights::bias_shape(width, Self::BIAS_ROWS))?;
        }
        let weights = RecurrentWeights::new(D, U, Self::GATES, Self::BIAS_ROWS, &config, rng);
        let (activation, recurrent_activation) = (config.activation, config.recurrent_activation);
        let mut layer = Recurrent { weights, activation, recurrent_activation, cell: PhantomData };
        layer.init(&config);
        Ok(layer)
    }

    /// [`Recurrent::try_new`] for a `config` known to be valid.
    ///
    /// # Panics
    /// When [`Recurrent::try_new`] returns an error, with its message.
    pub fn new(config: RecurrentConfig, rng: &mut impl Rng) -> Self {
        Self::try_new(config, rng).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<C, const D: usize, const U: usize, const T: usize, const SEQ: bool> Layer for Recurrent<C, D, U, T, SEQ>
where
    Self: Cell,
{
    type In = f32;
    type Cache = RecurrentCache;
    const INPUT_LEN: usize = T * D;
    const OUTPUT_LEN: usize = if SEQ { T * U } else { U };

    fn keras_type(&self) -> &'static str {
        Self::KERAS_TYPE
    }

    /// # Shapes
    /// `x`: `[batch, T, D]`; `y`: `[batch, T, U]` or `[batch, U]`.
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut RecurrentCache, ctx: &mut Ctx) {
        let (g, rows, aux_len) = (Self::GATES * U, batch * T, Self::AUX_LEN);
        let gates = ensure_len(&mut cache.gates, rows * g);
        self.weights.project_inputs(x, gates, &mut ctx.scratch);
        let aux = ensure_len(&mut cache.aux, batch * aux_len);
        let h = ensure_len(&mut cache.h, rows * U);
        let (gs, auxs, hs) = (Disjoint::new(gates), Disjoint::new(aux), Disjoint::new(h));
        for_sample_ranges(batch, batch * T * g * U, &mut ctx.scratch, &|b0, b1, scratch| {
            // SAFETY: concurrent calls get disjoint sample ranges.
            let (gates, aux, h) = unsafe {
                (
                    gs.range(b0 * T * g, b1 * T * g),
                    auxs.range(b0 * aux_len, b1 * aux_len),
                    hs.range(b0 * T * U, b1 * T * U),
                )
            };
            // Every step multiplies by the same recurrent kernel: packed once.
            scratch.reusing_packed_b(|scratch| self.forward_steps(gates, aux, h, b1 - b0, scratch));
        });
        write_output(&cache.h[..rows * U], y, T, U, SEQ);
    }

    /// Back-propagation through time; the weight gradients are products
    /// over all `batch·T` steps at once.
    fn backward(
        &mut self,
        x: &[f32],
        _: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut RecurrentCache,
        ctx: &mut Ctx,
    ) {
        let (g, rows, aux_len, d_aux_len) = (Self::GATES * U, batch * T, Self::AUX_LEN, Self::D_AUX_LEN);
        let (gates, aux, h) = (&cache.gates[..rows * g], &cache.aux[..batch * aux_len], &cache.h[..rows * U]);
        let d_gates = ensure_len(&mut cache.d_gates, rows * g);
        let d_aux = ensure_len(&mut cache.d_aux, batch * d_aux_len);
        let dh = ensure_len(&mut cache.dh, batch * U);
        let dy = &*dy;
        let (dgs, das, dhs) = (Disjoint::new(d_gates), Disjoint::new(d_aux), Disjoint::new(dh));
        for_sample_ranges(batch, batch * T * g * U, &mut ctx.scratch, &|b0, b1, scratch| {
            let (gates, aux, h) =
                (&gates[b0 * T * g..b1 * T * g], &aux[b0 * aux_len..b1 * aux_len], &h[b0 * T * U..b1 * T * U]);
            let dy = &dy[b0 * Self::OUTPUT_LEN..b1 * Self::OUTPUT_LEN];
            // SAFETY: concurrent calls get disjoint sample ranges.
            let (d_gates, d_aux, dh) = unsafe {
                (
                    dgs.range(b0 * T * g, b1 * T * g),
                    das.range(b0 * d_aux_len, b1 * d_aux_len),
                    dhs.range(b0 * U, b1 * U),
                )
            };
            scratch.reusing_packed_b(|scratch| {
                self.backward_steps(gates, aux, h, d_gates, d_aux, dh, dy, b1 - b0, scratch)
            });
        });
        let d_in = &cache.d_gates[..rows * g];
        let d_rec = if Self::SPLIT_RECURRENT_GRAD { &cache.d_aux[..rows * g] } else { d_in };
        self.weights.finish_backward(x, h, &mut cache.h_prev, d_in, d_rec, dx, T, &mut ctx.scratch);
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.forward_sample(x, y);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.weights.visit(f);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        self.weights.each(f);
    }

    /// Keras keeps a recurrent layer's weights in its cell: `lstm/lstm_cell/kernel`.
    fn param_paths(&self, prefix: &str, out: &mut Vec<String>) {
        self.params(&mut |p| out.push(format!("{prefix}/{}/{}", Self::CELL_NAME, p.name)));
    }
}

/// Keras's arguments of recurrent layers other than `units` and
/// `return_sequences` (which are the type's `U` and `SEQ`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Output (and candidate) activation; default `tanh`.
    pub activation: Activation,
    /// Gate activation; default `sigmoid`.
    pub recurrent_activation: Activation,
    /// Default `true`.
    pub use_bias: bool,
    /// Default `glorot_uniform`.
    pub kernel_initializer: Initializer,
    /// Default `orthogonal`.
    pub recurrent_initializer: Initializer,
    /// Default `zeros`.
    pub bias_initializer: Initializer,
    /// LSTM only: start the forget gate's bias at 1 (default `true`).
    pub unit_forget_bias: bool,
}

impl Default for RecurrentConfig {
    fn default() -> Self {
        RecurrentConfig {
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::Orthogonal { gain: 1.0 },
            bias_initializer: Initializer::Zeros,
            unit_forget_bias: true,
        }
    }
}

/// The three weight tensors of a recurrent layer with `gates` gates.
#[derive(Clone, Debug)]
pub struct RecurrentWeights {
    /// `[D, G·U]`, gate blocks side by side in Keras's order.
    pub kernel: Param,
    /// `[U, G·U]`.
    pub recurrent_kernel: Param,
    /// `[G·U]`, or `[2, G·U]` (input and recurrent biases) for GRU.
    pub bias: Option<Param>,
}

impl RecurrentWeights {
    pub(crate) fn new(
        input: usize,
        units: usize,
        gates: usize,
        bias_rows: usize,
        config: &RecurrentConfig,
        rng: &mut impl Rng,
    ) -> Self {
        let width = gates * units;
        let mut kernel = Param::zeros("kernel", &[input, width]);
        config.kernel_initializer.fill(&mut kernel.value, &[input, width], rng);
        let mut recurrent_kernel = Param::zeros("recurrent_kernel", &[units, width]);
        config.recurrent_initializer.fill(&mut recurrent_kernel.value, &[units, width], rng);
        let bias = config.use_bias.then(|| {
            let shape = Self::bias_shape(width, bias_rows);
            let mut b = Param::zeros("bias", &shape);
            config.bias_initializer.fill(&mut b.value, &shape, rng);
            b
        });
        RecurrentWeights { kernel, recurrent_kernel, bias }
    }

    /// `[width]`, or `[rows, width]` for more than one row (GRU's input and recurrent biases).
    fn bias_shape(width: usize, rows: usize) -> Vec<usize> {
        if rows == 1 {
            vec![width]
        } else {
            vec![rows, width]
        }
    }

    pub(crate) fn visit(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.kernel);
        f(&mut self.recurrent_kernel);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }

    pub(crate) fn each(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.kernel);
        f(&self.recurrent_kernel);
        if let Some(b) = &self.bias {
            f(b);
        }
    }

    /// `∂kernel += xᵀ·d_in`, `∂recurrent += h_prevᵀ·d_rec` over all
    /// `rows = batch·T` steps at once, and the bias gradients (`d_rec` feeds
    /// the recurrent bias when the bias has two rows).
    pub(crate) fn accumulate_grads(
        &mut self,
        x: &[f32],
        h_prev: &[f32],
        d_in: &[f32],
        d_rec: &[f32],
        rows: usize,
        scratch: &mut Scratch,
    ) {
        let (input, width) = (self.kernel.shape[0], self.kernel.shape[1]);
        let units = self.recurrent_kernel.shape[0];
        let dm = Mat::row_major(d_in, width);
        sgemm(input, width, rows, Mat::transposed(x, input), dm, &mut self.kernel.grad, width, true, scratch);
        let dr = Mat::row_major(d_rec, width);
        let hp = Mat::transposed(h_prev, units);
        sgemm(units, width, rows, hp, dr, &mut self.recurrent_kernel.grad, width, true, scratch);
        if let Some(b) = &mut self.bias {
            let (input_bias, recurrent_bias) = b.grad.split_at_mut(width);
            column_sums_into(d_in, input_bias);
            if !recurrent_bias.is_empty() {
                column_sums_into(d_rec, recurrent_bias);
            }
        }
    }
}

impl RecurrentWeights {
    /// The start of every recurrent forward pass: `out = x·kernel + b_in`
    /// for all `batch·T` steps at once (`b_in` is the bias, or its input
    /// row for GRU's `[2, 3U]` bias).
    pub(crate) fn project_inputs(&self, x: &[f32], out: &mut [f32], scratch: &mut Scratch) {
        let (input, width) = (self.kernel.shape[0], self.kernel.shape[1]);
        let rows = out.len() / width;
        sgemm(
            rows,
            width,
            input,
            Mat::row_major(x, input),
            Mat::row_major(&self.kernel.value, width),
            out,
            width,
            false,
            scratch,
        );
        if let Some(b) = &self.bias {
            crate::gemm::add_row_vector(out, &b.value[..width]);
        }
    }

    /// The end of every recurrent backward pass: the states each step
    /// started from, the weight gradients over all steps at once, and
    /// `dx = d_in · kernelᵀ` when asked.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish_backward(
        &mut self,
        x: &[f32],
        h: &[f32],
        h_prev: &mut Vec<f32>,
        d_in: &[f32],
        d_rec: &[f32],
        dx: Option<super::InputGrad<'_>>,
        steps: usize,
        scratch: &mut Scratch,
    ) {
        let (input, width) = (self.kernel.shape[0], self.kernel.shape[1]);
        let units = self.recurrent_kernel.shape[0];
        let rows = h.len() / units;
        let h_prev = super::ensure_len(h_prev, rows * units);
        shift_prev(h, h_prev, steps, units);
        self.accumulate_grads(x, h_prev, d_in, d_rec, rows, scratch);
        if let Some(dx) = dx {
            let kernel_t = Mat::transposed(&self.kernel.value, width);
            sgemm(rows, input, width, Mat::row_major(d_in, width), kernel_t, dx.grad, input, dx.accumulate, scratch);
        }
    }
}

/// Buffers a recurrent layer's forward pass leaves for its backward pass,
/// and scratch space for the backward pass. Grown on first use.
#[derive(Debug, Default)]
pub struct RecurrentCache {
    pub(crate) gates: Vec<f32>,
    pub(crate) aux: Vec<f32>,
    pub(crate) h: Vec<f32>,
    pub(crate) d_gates: Vec<f32>,
    pub(crate) d_aux: Vec<f32>,
    pub(crate) h_prev: Vec<f32>,
    pub(crate) dh: Vec<f32>,
}

/// Runs `f(first, end, scratch)` over sample ranges that together cover
/// `0..batch`: one range on one thread, or (when threads are on and
/// `work` multiply–adds pay for it) one range per part, each with that
/// part's own packing buffers (kept in `scratch`, by part index). Samples of a recurrence are independent,
/// so every sum keeps its order and results do not depend on the split.
pub(crate) fn for_sample_ranges(
    batch: usize,
    work: usize,
    scratch: &mut Scratch,
    f: &(dyn Fn(usize, usize, &mut Scratch) + Sync),
) {
    let parts = crate::parallel::sample_parts(batch, work);
    if parts == 1 {
        return f(0, batch, scratch);
    }
    let share = batch.div_ceil(parts);
    let scratches = scratch.for_parts(parts);
    crate::parallel::run(parts, &|p| {
        let (first, end) = ((p * share).min(batch), ((p + 1) * share).min(batch));
        if first < end {
            // SAFETY: part `p` runs once per `run`, so no other part takes this scratch.
            f(first, end, unsafe { &mut scratches.range(p, p + 1)[0] });
        }
    });
}

/// The rows of time step `t` in a `[batch, T, width]` buffer, as a `batch × width` matrix.
pub(crate) fn step(buf: &[f32], t: usize, steps: usize, width: usize) -> Mat<'_> {
    Mat::strided(&buf[t * width..], steps * width, 1)
}

/// `out[b, t] = h[b, t − 1]`, zero at `t = 0`: the state each step started from.
pub(crate) fn shift_prev(h: &[f32], out: &mut [f32], steps: usize, units: usize) {
    for (src, dst) in h.chunks_exact(steps * units).zip(out.chunks_exact_mut(steps * units)) {
        dst[..units].fill(0.0);
        dst[units..].copy_from_slice(&src[..(steps - 1) * units]);
    }
}

/// The layer's output: every state (`return_sequences`) or the last one.
pub(crate) fn write_output(h: &[f32], y: &mut [f32], steps: usize, units: usize, sequences: bool) {
    if sequences {
        y.copy_from_slice(h);
    } else {
        for (src, dst) in h.chunks_exact(steps * units).zip(y.chunks_exact_mut(units)) {
            dst.copy_from_slice(&src[(steps - 1) * units..]);
        }
    }
}

/// Adds the output gradient of step `t` to the running `∂L/∂h` (`[batch, U]`).
pub(crate) fn add_output_grad(dy: &[f32], dh: &mut [f32], t: usize, steps: usize, units: usize, sequences: bool) {
    if sequences {
        for (b, row) in dh.chunks_exact_mut(units).enumerate() {
            let src = &dy[(b * steps + t) * units..][..units];
            row.iter_mut().zip(src).for_each(|(d, s)| *d += s);
        }
    } else if t + 1 == steps {
        dh.iter_mut().zip(dy).for_each(|(d, s)| *d += s);
    }
}

/// One sample's `y[..U] (+)= v · M[:, gate·U..(gate + 1)·U]` for a `[rows, G·U]` matrix `M`.
pub(crate) fn gate_product(v: &[f32], m: &[f32], gate: usize, width: usize, y: &mut [f32], tmp: &mut [f32]) {
    let units = y.len();
    crate::gemm::vec_mat_strided(v, &m[gate * units..], width, tmp);
    y.iter_mut().zip(tmp.iter()).for_each(|(a, b)| *a += b);
}
