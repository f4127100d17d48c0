//! The quantized layers: [`QDense`], [`QEmbedding`], [`QLstm`].

use super::{Epilogue, QFile, QWeights, QuantParams};
use crate::activations::Activation;
use crate::io::FileProblem;
use crate::layers::{Dense, Embedding, Lstm};
use crate::{Error, Result};

/// Buffers a batched quantized forward pass reuses: the `u8` activations.
/// Grows to the largest batch seen, then allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct QScratch {
    x: Vec<u8>,
}

impl QScratch {
    fn bytes(&mut self, len: usize) -> &mut [u8] {
        if self.x.len() < len {
            self.x.resize(len, 0);
        }
        &mut self.x[..len]
    }
}

fn corrupt(e: Error) -> FileProblem {
    FileProblem::Corrupt(e.to_string())
}

fn params_tensor(p: QuantParams) -> [f32; 2] {
    [p.scale, f32::from(p.zero_point)]
}

fn params_from(name: &str, v: &[f32]) -> Result<QuantParams, FileProblem> {
    let (scale, zp) = (v[0], v[1]);
    if !(scale.is_finite() && scale > 0.0 && (0.0..=255.0).contains(&zp)) || zp.fract() != 0.0 {
        return Err(FileProblem::Corrupt(format!("{name}: expected [scale > 0, zero point in 0..=255], found {v:?}")));
    }
    Ok(QuantParams { scale, zero_point: zp as u8 })
}

/// `Dense<I, O>` in int8: per-column `i8` kernel, `u8` input with
/// calibrated [`QuantParams`], f32 bias and activation.
///
/// File tensors under `prefix`: `kernel` (`I8 [I, O]`), `kernel_scale`
/// (`F32 [O]`), `bias` (`F32 [O]`, zeros for a layer without bias),
/// `input_quant` (`F32 [2]`: scale, zero point).
#[derive(Clone, Debug, PartialEq)]
pub struct QDense<const I: usize, const O: usize> {
    weights: QWeights,
    bias: Vec<f32>,
    input: QuantParams,
    activation: Activation,
    /// Derived from the above: the kernel's fused output step (bias, and ReLU when it is the activation).
    epilogue: Epilogue,
}

impl<const I: usize, const O: usize> QDense<I, O> {
    /// Quantizes a trained layer; `input` comes from calibration
    /// ([`super::ActivationRange::params`]).
    pub fn quantize(dense: &Dense<I, O>, input: QuantParams) -> Result<Self> {
        let weights = QWeights::quantize(&dense.kernel.value, I, O)?;
        let bias = dense.bias.as_ref().map_or_else(|| vec![0.0; O], |b| b.value.to_vec());
        Ok(Self::build(weights, bias, input, dense.activation))
    }

    fn build(weights: QWeights, bias: Vec<f32>, input: QuantParams, activation: Activation) -> Self {
        let epilogue = weights.epilogue(input, Some(&bias), activation == Activation::Relu);
        QDense { weights, bias, input, activation, epilogue }
    }

    /// The quantized kernel `[I, O]`.
    pub fn weights(&self) -> &QWeights {
        &self.weights
    }

    /// The bias `[O]` (zeros for a layer without one).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// How the input is quantized.
    pub fn input(&self) -> QuantParams {
        self.input
    }

    /// The activation, applied in f32 (ReLU fused into the kernel).
    pub fn activation(&self) -> Activation {
        self.activation
    }

    fn finish(&self, y: &mut [f32]) {
        if self.activation != Activation::Relu {
            self.activation.forward_in_place(y, O);
        }
    }

    /// `y = activation(x·W + b)` for one sample, allocation-free.
    ///
    /// # Panics
    /// If `x` holds fewer than `I` values or `y` fewer than `O` (a generated
    /// `<Name>Int8` passes its static sizes).
    pub fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        let mut xq = [0u8; I];
        self.input.quantize(&x[..I], &mut xq);
        self.weights.matmul(1, &xq, &self.epilogue, y, O, false);
        self.finish(&mut y[..O]);
    }

    /// [`QDense::forward_one`] over `batch` rows of `x` into rows of `y`.
    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, scratch: &mut QScratch) {
        let xq = scratch.bytes(batch * I);
        self.input.quantize(&x[..batch * I], xq);
        let y = &mut y[..batch * O];
        self.weights.matmul(batch, xq, &self.epilogue, y, O, false);
        self.finish(y);
    }

    /// Puts the layer's tensors into `file` under `prefix`.
    pub fn save(&self, prefix: &str, file: &mut QFile) {
        file.put_i8(format!("{prefix}/kernel"), &[I, O], &self.weights.packed.unpack());
        file.put_f32(format!("{prefix}/kernel_scale"), &[O], &self.weights.scales);
        file.put_f32(format!("{prefix}/bias"), &[O], &self.bias);
        file.put_f32(format!("{prefix}/input_quant"), &[2], &params_tensor(self.input));
    }

    /// Takes the layer's tensors from `file` (the activation is architecture, not weights).
    pub fn load(prefix: &str, file: &mut QFile, activation: Activation) -> Result<Self, FileProblem> {
        let q = file.take_i8(&format!("{prefix}/kernel"), &[I, O])?;
        let scales = file.take_f32(&format!("{prefix}/kernel_scale"), &[O])?;
        let bias = file.take_f32(&format!("{prefix}/bias"), &[O])?;
        let name = format!("{prefix}/input_quant");
        let input = params_from(&name, &file.take_f32(&name, &[2])?)?;
        let weights = QWeights::from_parts(&q, scales, I, O).map_err(corrupt)?;
        Ok(Self::build(weights, bias, input, activation))
    }
}

/// `Embedding<V, D, T>` in int8: each row of the table as `i8` with its
/// own scale (`max |row| / 127`); the output is f32.
///
/// File tensors under `prefix`: `embeddings` (`I8 [V, D]`),
/// `embeddings_scale` (`F32 [V]`).
#[derive(Clone, Debug, PartialEq)]
pub struct QEmbedding<const V: usize, const D: usize, const T: usize> {
    /// `[V, D]`, row-major.
    pub rows: Vec<i8>,
    /// `[V]`.
    pub scales: Vec<f32>,
}

impl<const V: usize, const D: usize, const T: usize> QEmbedding<V, D, T> {
    /// Quantizes a trained table (a quarter of its memory).
    pub fn quantize(embedding: &Embedding<V, D, T>) -> Result<Self> {
        let table = &embedding.embeddings.value;
        if let Some(v) = table.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument {
                name: "embeddings",
                reason: format!("values must be finite, found {v}"),
            });
        }
        let mut rows = vec![0i8; V * D];
        let mut scales = vec![1.0f32; V];
        for (r, (row, out)) in table.chunks_exact(D.max(1)).zip(rows.chunks_exact_mut(D.max(1))).enumerate() {
            let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if max > 0.0 {
                scales[r] = max / 127.0;
            }
            for (o, v) in out.iter_mut().zip(row) {
                *o = (v / scales[r]).round().clamp(-127.0, 127.0) as i8;
            }
        }
        Ok(QEmbedding { rows, scales })
    }

    /// Checks that every id is below `V` (as [`crate::layers::Layer::check_ids`]).
    pub fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().position(|&id| id as usize >= V) {
            Some(i) => Err(Error::IdOutOfRange { id: ids[i], sample: i / T.max(1), input_dim: V }),
            None => Ok(()),
        }
    }

    /// Row `id` for each of the `T` ids, allocation-free; an id not below
    /// `V` (which [`QEmbedding::check_ids`] reports) gives zeros.
    ///
    /// `y` holds `T × D` values.
    ///
    /// # Panics
    /// If `ids` holds fewer than `T` ids.
    pub fn forward_one(&self, ids: &[u32], y: &mut [f32]) {
        for (&id, out) in ids[..T].iter().zip(y.chunks_exact_mut(D)) {
            let id = id as usize;
            if id < V {
                let s = self.scales[id];
                out.iter_mut().zip(&self.rows[id * D..(id + 1) * D]).for_each(|(o, &q)| *o = s * f32::from(q));
            } else {
                out.fill(0.0);
            }
        }
    }

    /// Puts the layer's tensors into `file` under `prefix`.
    pub fn save(&self, prefix: &str, file: &mut QFile) {
        file.put_i8(format!("{prefix}/embeddings"), &[V, D], &self.rows);
        file.put_f32(format!("{prefix}/embeddings_scale"), &[V], &self.scales);
    }

    /// Takes the layer's tensors from `file`.
    pub fn load(prefix: &str, file: &mut QFile) -> Result<Self, FileProblem> {
        let rows = file.take_i8(&format!("{prefix}/embeddings"), &[V, D])?;
        let name = format!("{prefix}/embeddings_scale");
        let scales = file.take_f32(&name, &[V])?;
        if scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(FileProblem::Corrupt(format!("{name}: scales must be positive and finite")));
        }
        Ok(QEmbedding { rows, scales })
    }
}

/// `LSTM` (Keras gate order `i, f, c, o`) with int8 input and recurrent
/// products and f32 gate math. The input `x_t` is quantized with
/// calibrated parameters, the state `h_{t−1}` with [`QuantParams::UNIT`]
/// (so the layer needs an `activation` bounded by 1 and a gate activation
/// in `[0, 1]`: `|h| = |o · act(c)| ≤ 1`).
///
/// File tensors under `prefix/lstm_cell`: `kernel` (`I8 [D, 4U]`),
/// `kernel_scale` (`F32 [4U]`), `recurrent_kernel` (`I8 [U, 4U]`),
/// `recurrent_kernel_scale` (`F32 [4U]`), `bias` (`F32 [4U]`),
/// `input_quant` (`F32 [2]`).
#[derive(Clone, Debug, PartialEq)]
pub struct QLstm<const D: usize, const U: usize, const T: usize, const SEQ: bool> {
    kernel: QWeights,
    recurrent_kernel: QWeights,
    bias: Vec<f32>,
    input: QuantParams,
    activation: Activation,
    recurrent_activation: Activation,
    /// Derived: the input product's output step (with the bias) and the recurrent one's.
    epilogues: [Epilogue; 2],
}

fn check_lstm_activations(activation: Activation, recurrent_activation: Activation) -> Result<()> {
    use Activation::*;
    if !matches!(activation, Tanh | Softsign | Sigmoid | HardSigmoid) {
        return Err(Error::InvalidArgument {
            name: "activation",
            reason: format!(
                "int8 LSTM needs |activation| ≤ 1 (tanh, softsign, sigmoid, hard_sigmoid), found {activation:?}"
            ),
        });
    }
    if !matches!(recurrent_activation, Sigmoid | HardSigmoid) {
        return Err(Error::InvalidArgument {
            name: "recurrent_activation",
            reason: format!("int8 LSTM needs gates in [0, 1] (sigmoid, hard_sigmoid), found {recurrent_activation:?}"),
        });
    }
    Ok(())
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> QLstm<D, U, T, SEQ> {
    /// Quantizes a trained layer; `input` comes from calibration of `x`.
    pub fn quantize(lstm: &Lstm<D, U, T, SEQ>, input: QuantParams) -> Result<Self> {
        check_lstm_activations(lstm.activation, lstm.recurrent_activation)?;
        let w = &lstm.weights;
        Ok(Self::build(
            QWeights::quantize(&w.kernel.value, D, 4 * U)?,
            QWeights::quantize(&w.recurrent_kernel.value, U, 4 * U)?,
            w.bias.as_ref().map_or_else(|| vec![0.0; 4 * U], |b| b.value.to_vec()),
            input,
            [lstm.activation, lstm.recurrent_activation],
        ))
    }

    fn build(
        kernel: QWeights,
        recurrent_kernel: QWeights,
        bias: Vec<f32>,
        input: QuantParams,
        [activation, recurrent_activation]: [Activation; 2],
    ) -> Self {
        let epilogues =
            [kernel.epilogue(input, Some(&bias), false), recurrent_kernel.epilogue(QuantParams::UNIT, None, false)];
        QLstm { kernel, recurrent_kernel, bias, input, activation, recurrent_activation, epilogues }
    }

    /// The quantized kernel `[D, 4U]`.
    pub fn kernel(&self) -> &QWeights {
        &self.kernel
    }

    /// The quantized recurrent kernel `[U, 4U]`.
    pub fn recurrent_kernel(&self) -> &QWeights {
        &self.recurrent_kernel
    }

    /// The bias `[4U]` (zeros for a layer without one).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// How `x_t` is quantized.
    pub fn input(&self) -> QuantParams {
        self.input
    }

    /// One sample, `x [T, D]` → `y [T, U]` or `[U]`, allocation-free.
    ///
    /// # Panics
    /// If `x` or `y` are shorter than those shapes.
    pub fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        let g = 4 * U;
        let (mut xq, mut hq) = ([0u8; D], [0u8; U]);
        let mut gates = [[0.0f32; U]; 4];
        let (mut h, mut c, mut tanh_c) = ([0.0f32; U], [0.0f32; U], [0.0f32; U]);
        for t in 0..T {
            let z = gates.as_flattened_mut();
            self.input.quantize(&x[t * D..(t + 1) * D], &mut xq);
            // x_t·W + b, then + h·R.
            self.kernel.matmul(1, &xq, &self.epilogues[0], z, g, false);
            if t > 0 {
                QuantParams::UNIT.quantize(&h, &mut hq);
                self.recurrent_kernel.matmul(1, &hq, &self.epilogues[1], z, g, true);
            }
            self.recurrent_activation.forward_in_place(&mut z[..2 * U], U);
            self.activation.forward_in_place(&mut z[2 * U..3 * U], U);
            self.recurrent_activation.forward_in_place(&mut z[3 * U..], U);
            let [i, f, gg, o] = &gates;
            for (j, cv) in c.iter_mut().enumerate() {
                *cv = f[j] * *cv + i[j] * gg[j];
            }
            tanh_c.copy_from_slice(&c);
            self.activation.forward_in_place(&mut tanh_c, U);
            for ((hv, o), tc) in h.iter_mut().zip(o).zip(&tanh_c) {
                *hv = o * tc;
            }
            if SEQ {
                y[t * U..(t + 1) * U].copy_from_slice(&h);
            }
        }
        if !SEQ {
            y[..U].copy_from_slice(&h);
        }
    }

    /// [`QLstm::forward_one`] for each of `batch` samples.
    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        let out = if SEQ { T * U } else { U };
        for (xs, ys) in x.chunks_exact(T * D).zip(y.chunks_exact_mut(out)).take(batch) {
            self.forward_one(xs, ys);
        }
    }

    /// Puts the layer's tensors into `file` under `prefix/lstm_cell`.
    pub fn save(&self, prefix: &str, file: &mut QFile) {
        let p = format!("{prefix}/lstm_cell");
        file.put_i8(format!("{p}/kernel"), &[D, 4 * U], &self.kernel.packed.unpack());
        file.put_f32(format!("{p}/kernel_scale"), &[4 * U], &self.kernel.scales);
        file.put_i8(format!("{p}/recurrent_kernel"), &[U, 4 * U], &self.recurrent_kernel.packed.unpack());
        file.put_f32(format!("{p}/recurrent_kernel_scale"), &[4 * U], &self.recurrent_kernel.scales);
        file.put_f32(format!("{p}/bias"), &[4 * U], &self.bias);
        file.put_f32(format!("{p}/input_quant"), &[2], &params_tensor(self.input));
    }

    /// Takes the layer's tensors from `file` (activations are architecture).
    pub fn load(
        prefix: &str,
        file: &mut QFile,
        activation: Activation,
        recurrent_activation: Activation,
    ) -> Result<Self, FileProblem> {
        check_lstm_activations(activation, recurrent_activation).map_err(corrupt)?;
        let p = format!("{prefix}/lstm_cell");
        let k = file.take_i8(&format!("{p}/kernel"), &[D, 4 * U])?;
        let ks = file.take_f32(&format!("{p}/kernel_scale"), &[4 * U])?;
        let r = file.take_i8(&format!("{p}/recurrent_kernel"), &[U, 4 * U])?;
        let rs = file.take_f32(&format!("{p}/recurrent_kernel_scale"), &[4 * U])?;
        let bias = file.take_f32(&format!("{p}/bias"), &[4 * U])?;
        let name = format!("{p}/input_quant");
        let input = params_from(&name, &file.take_f32(&name, &[2])?)?;
        Ok(Self::build(
            QWeights::from_parts(&k, ks, D, 4 * U).map_err(corrupt)?,
            QWeights::from_parts(&r, rs, U, 4 * U).map_err(corrupt)?,
            bias,
            input,
            [activation, recurrent_activation],
        ))
    }
}
