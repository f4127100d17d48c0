//! f64 re-implementations of kiln's layers, written from Keras's formulas
//! (keras/src/layers/…, keras/src/activations/activations.py), never by
//! calling kiln. Buffers are row-major `[batch, …]` like kiln's; weights
//! are in Keras's layout (`kernel [in, units·gates]`, gate blocks in
//! Keras's order). Used by `tests/gradients_f64.rs` as the reference the
//! f32 backward passes are checked against.

#![allow(dead_code)]

/// Keras's activations, by name.
#[derive(Clone, Copy, Debug)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
    Elu,
    Selu,
    Softplus,
    Softsign,
    HardSigmoid,
    Exponential,
}

/// Keras 3 `selu` constants (activations.py).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Applies `act` to `v`, softmax over rows of length `row`.
pub fn activate(act: Act, v: &mut [f64], row: usize) {
    match act {
        Act::Softmax => {
            for r in v.chunks_exact_mut(row) {
                let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = r.iter().map(|x| (x - m).exp()).sum();
                r.iter_mut().for_each(|x| *x = (*x - m).exp() / s);
            }
        }
        _ => v.iter_mut().for_each(|x| *x = scalar(act, *x)),
    }
}

fn scalar(act: Act, x: f64) -> f64 {
    match act {
        Act::Linear => x,
        Act::Relu => x.max(0.0),
        Act::Sigmoid => sigmoid(x),
        Act::Tanh => x.tanh(),
        Act::Elu => {
            if x > 0.0 {
                x
            } else {
                x.exp() - 1.0
            }
        }
        Act::Selu => SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * (x.exp() - 1.0) },
        Act::Softplus => x.exp().ln_1p(),
        Act::Softsign => x / (1.0 + x.abs()),
        // Keras 3: relu6(x + 3) / 6.
        Act::HardSigmoid => ((x + 3.0).clamp(0.0, 6.0)) / 6.0,
        Act::Exponential => x.exp(),
        Act::Softmax => unreachable!(),
    }
}

/// `x·W (+ b)` for `rows` rows of `i` values; `W` is `[i, o]`.
pub fn matmul(x: &[f64], w: &[f64], b: Option<&[f64]>, rows: usize, i: usize, o: usize) -> Vec<f64> {
    let mut y = vec![0.0; rows * o];
    for r in 0..rows {
        for c in 0..o {
            let mut acc = b.map_or(0.0, |b| b[c]);
            for k in 0..i {
                acc += x[r * i + k] * w[k * o + c];
            }
            y[r * o + c] = acc;
        }
    }
    y
}

/// Keras `Dense`: `activation(x·kernel + bias)`.
pub fn dense(kernel: &[f64], bias: Option<&[f64]>, act: Act, x: &[f64], rows: usize, i: usize, o: usize) -> Vec<f64> {
    let mut y = matmul(x, kernel, bias, rows, i, o);
    activate(act, &mut y, o);
    y
}

/// Keras `Embedding`: row `id` of the `[V, d]` table for every id.
pub fn embedding(table: &[f64], ids: &[f64], d: usize) -> Vec<f64> {
    ids.iter().flat_map(|&id| table[id as usize * d..(id as usize + 1) * d].iter().cloned()).collect()
}

/// Weights of a recurrent layer in Keras's layout.
pub struct Recurrent<'a> {
    /// `[d, g·u]`.
    pub kernel: &'a [f64],
    /// `[u, g·u]`.
    pub recurrent: &'a [f64],
    /// `[g·u]` (`[2, 3u]` for GRU).
    pub bias: &'a [f64],
    pub d: usize,
    pub u: usize,
    pub t: usize,
    pub sequences: bool,
}

impl Recurrent<'_> {
    /// `[batch, t, u]` states → the layer's output.
    fn output(&self, hs: Vec<f64>, batch: usize) -> Vec<f64> {
        if self.sequences {
            return hs;
        }
        (0..batch).flat_map(|b| hs[(b * self.t + self.t - 1) * self.u..][..self.u].to_vec()).collect()
    }

    /// `x_t·kernel` (+ the first `g·u` bias values when `with_bias`) for sample `b`, step `t`.
    fn input_part(&self, x: &[f64], b: usize, t: usize, g: usize, with_bias: bool) -> Vec<f64> {
        let xt = &x[(b * self.t + t) * self.d..][..self.d];
        matmul(xt, self.kernel, with_bias.then_some(&self.bias[..g * self.u]), 1, self.d, g * self.u)
    }

    fn recurrent_part(&self, h: &[f64], g: usize) -> Vec<f64> {
        matmul(h, self.recurrent, None, 1, self.u, g * self.u)
    }
}

/// Keras `SimpleRNN`: `h_t = tanh(x_t·W + h_{t−1}·R + b)`.
pub fn simple_rnn(w: &Recurrent, x: &[f64], batch: usize) -> Vec<f64> {
    let u = w.u;
    let mut hs = vec![0.0; batch * w.t * u];
    for b in 0..batch {
        let mut h = vec![0.0; u];
        for t in 0..w.t {
            let mut z = w.input_part(x, b, t, 1, true);
            let r = w.recurrent_part(&h, 1);
            for j in 0..u {
                h[j] = (z[j] + r[j]).tanh();
                z[j] = h[j];
            }
            hs[(b * w.t + t) * u..][..u].copy_from_slice(&h);
        }
    }
    w.output(hs, batch)
}

/// Keras `LSTM` (gate blocks i, f, c, o; sigmoid gates, tanh candidate and output):
/// `c_t = f⊙c_{t−1} + i⊙tanh(z_c)`, `h_t = o⊙tanh(c_t)`.
pub fn lstm(w: &Recurrent, x: &[f64], batch: usize) -> Vec<f64> {
    let u = w.u;
    let mut hs = vec![0.0; batch * w.t * u];
    for b in 0..batch {
        let (mut h, mut c) = (vec![0.0; u], vec![0.0; u]);
        for t in 0..w.t {
            let zx = w.input_part(x, b, t, 4, true);
            let zr = w.recurrent_part(&h, 4);
            let z: Vec<f64> = zx.iter().zip(&zr).map(|(a, b)| a + b).collect();
            for j in 0..u {
                let i = sigmoid(z[j]);
                let f = sigmoid(z[u + j]);
                let g = z[2 * u + j].tanh();
                let o = sigmoid(z[3 * u + j]);
                c[j] = f * c[j] + i * g;
                h[j] = o * c[j].tanh();
            }
            hs[(b * w.t + t) * u..][..u].copy_from_slice(&h);
        }
    }
    w.output(hs, batch)
}

/// Keras `GRU` with `reset_after = True` (gate blocks z, r, h; bias `[2, 3u]`):
/// `x̂ = x_t·W + b_in`, `ĥ = h·R + b_rec`, `z = σ(x̂_z + ĥ_z)`, `r = σ(x̂_r + ĥ_r)`,
/// `h̃ = tanh(x̂_h + r⊙ĥ_h)`, `h_t = z⊙h_{t−1} + (1 − z)⊙h̃`.
pub fn gru(w: &Recurrent, x: &[f64], batch: usize) -> Vec<f64> {
    let u = w.u;
    let mut hs = vec![0.0; batch * w.t * u];
    for b in 0..batch {
        let mut h = vec![0.0; u];
        for t in 0..w.t {
            let xh = w.input_part(x, b, t, 3, true);
            let mut hh = w.recurrent_part(&h, 3);
            hh.iter_mut().zip(&w.bias[3 * u..]).for_each(|(v, b)| *v += b);
            for j in 0..u {
                let z = sigmoid(xh[j] + hh[j]);
                let r = sigmoid(xh[u + j] + hh[u + j]);
                let cand = (xh[2 * u + j] + r * hh[2 * u + j]).tanh();
                h[j] = z * h[j] + (1.0 - z) * cand;
            }
            hs[(b * w.t + t) * u..][..u].copy_from_slice(&h);
        }
    }
    w.output(hs, batch)
}

#[derive(Clone, Copy, Debug)]
pub enum Reduction {
    Sum,
    Mean,
    Max,
}

/// `tf.reduce_*` over the middle axis of `outer × axis × inner` samples.
pub fn reduce(op: Reduction, x: &[f64], samples: usize, outer: usize, axis: usize, inner: usize) -> Vec<f64> {
    let mut y = Vec::new();
    for s in 0..samples * outer {
        let block = &x[s * axis * inner..][..axis * inner];
        for j in 0..inner {
            let vals = (0..axis).map(|k| block[k * inner + j]);
            y.push(match op {
                Reduction::Sum => vals.sum(),
                Reduction::Mean => vals.sum::<f64>() / axis as f64,
                Reduction::Max => vals.fold(f64::NEG_INFINITY, f64::max),
            });
        }
    }
    y
}

/// Keras `Concatenate`: per sample, `outer` blocks, each block the inputs' blocks in turn.
pub fn concatenate(xs: &[&[f64]], widths: &[usize], rows: usize) -> Vec<f64> {
    let mut y = Vec::new();
    for r in 0..rows {
        for (x, &w) in xs.iter().zip(widths) {
            y.extend_from_slice(&x[r * w..(r + 1) * w]);
        }
    }
    y
}

#[derive(Clone, Copy, Debug)]
pub enum ElementOp {
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

/// Keras's element-wise merges.
pub fn element_wise(op: ElementOp, xs: &[&[f64]]) -> Vec<f64> {
    (0..xs[0].len())
        .map(|j| {
            let vals = xs.iter().map(|x| x[j]);
            match op {
                ElementOp::Add => vals.sum(),
                ElementOp::Subtract => xs[0][j] - xs[1][j],
                ElementOp::Multiply => vals.product(),
                ElementOp::Average => vals.sum::<f64>() / xs.len() as f64,
                ElementOp::Maximum => vals.fold(f64::NEG_INFINITY, f64::max),
                ElementOp::Minimum => vals.fold(f64::INFINITY, f64::min),
            }
        })
        .collect()
}
