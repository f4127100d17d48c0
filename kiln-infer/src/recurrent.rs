//! `LSTM`, `GRU` (Keras 3's `reset_after = True`) and `SimpleRNN` over one
//! sample's sequence, gate blocks in Keras's order, with the operation
//! order of kiln's runtime. Their state lives in a caller's `scratch`
//! slice (a stack array in generated code), so nothing is allocated.

use crate::{vec_mat, Activation};

/// A recurrent layer's weights and configuration, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Recurrent<'w> {
    /// `[input, G·units]`, the gate blocks side by side (G = 4, 3 or 1).
    pub kernel: &'w [f32],
    /// `[units, G·units]`.
    pub recurrent_kernel: &'w [f32],
    /// `[G·units]` (GRU: `[2, 3·units]`, input bias then recurrent bias).
    pub bias: Option<&'w [f32]>,
    /// The state size.
    pub units: usize,
    /// Output / candidate activation (Keras default `tanh`).
    pub activation: Activation,
    /// Gate activation (Keras default `sigmoid`).
    pub recurrent_activation: Activation,
    /// Writes every step's output (`[steps, units]`) rather than the last (`[units]`).
    pub return_sequences: bool,
}

/// Scratch values [`lstm`] needs.
pub const fn lstm_scratch_len(units: usize) -> usize {
    11 * units
}

/// Scratch values [`gru`] needs.
pub const fn gru_scratch_len(units: usize) -> usize {
    8 * units
}

/// Scratch values [`simple_rnn`] needs.
pub const fn simple_rnn_scratch_len(units: usize) -> usize {
    3 * units
}

fn writes_step(cell: &Recurrent<'_>, t: usize, h: &[f32], y: &mut [f32]) {
    if cell.return_sequences {
        let u = cell.units;
        y[t * u..(t + 1) * u].copy_from_slice(h);
    }
}

/// Keras's `LSTM`, gates `i, f, c, o`: `z = x_t·W + h·R + b`,
/// `c = σ(f)·c + σ(i)·act(c̃)`, `h = σ(o)·act(c)`; `x` is `[steps, input]`.
/// `scratch` holds at least [`lstm_scratch_len`] values.
pub fn lstm(cell: &Recurrent<'_>, x: &[f32], steps: usize, y: &mut [f32], scratch: &mut [f32]) {
    let u = cell.units;
    let g = 4 * u;
    let d = cell.kernel.len() / g;
    let (gates, rest) = scratch.split_at_mut(g);
    let (recurrent, rest) = rest.split_at_mut(g);
    let (h, rest) = rest.split_at_mut(u);
    let (c, rest) = rest.split_at_mut(u);
    let tanh_c = &mut rest[..u];
    h.fill(0.0);
    c.fill(0.0);
    for t in 0..steps {
        vec_mat(&x[t * d..(t + 1) * d], cell.kernel, g, gates);
        if t > 0 {
            vec_mat(h, cell.recurrent_kernel, g, recurrent);
            gates.iter_mut().zip(recurrent.iter()).for_each(|(a, b)| *a += b);
        }
        if let Some(b) = cell.bias {
            gates.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        cell.recurrent_activation.apply(&mut gates[..2 * u], u);
        cell.activation.apply(&mut gates[2 * u..3 * u], u);
        cell.recurrent_activation.apply(&mut gates[3 * u..], u);
        let (i, rest) = gates.split_at(u);
        let (f, rest) = rest.split_at(u);
        let (cand, o) = rest.split_at(u);
        for j in 0..u {
            c[j] = f[j] * c[j] + i[j] * cand[j];
        }
        tanh_c.copy_from_slice(c);
        cell.activation.apply(tanh_c, u);
        for j in 0..u {
            h[j] = o[j] * tanh_c[j];
        }
        writes_step(cell, t, h, y);
    }
    if !cell.return_sequences {
        y[..u].copy_from_slice(h);
    }
}

/// `y += x · W[:, gate·units..(gate+1)·units]` (rows `width` apart) via `tmp`.
fn gate_product(x: &[f32], w: &[f32], gate: usize, width: usize, y: &mut [f32], tmp: &mut [f32]) {
    let u = y.len();
    vec_mat(x, &w[gate * u..], width, tmp);
    y.iter_mut().zip(tmp.iter()).for_each(|(a, b)| *a += b);
}

/// Keras 3's `GRU` (`reset_after = True`), gates `z, r, h`:
/// `x̂ = b_in + x_t·W`, `ĥ = b_rec + h·R`, `z = σ(x̂_z + ĥ_z)`,
/// `r = σ(x̂_r + ĥ_r)`, `h̃ = act(x̂_h + r⊙ĥ_h)`, `h = z⊙h + (1 − z)⊙h̃`.
/// `scratch` holds at least [`gru_scratch_len`] values.
pub fn gru(cell: &Recurrent<'_>, x: &[f32], steps: usize, y: &mut [f32], scratch: &mut [f32]) {
    let u = cell.units;
    let g = 3 * u;
    let d = cell.kernel.len() / g;
    let (xg, rest) = scratch.split_at_mut(g);
    let (hg, rest) = rest.split_at_mut(g);
    let (h, rest) = rest.split_at_mut(u);
    let tmp = &mut rest[..u];
    h.fill(0.0);
    for t in 0..steps {
        let x_t = &x[t * d..(t + 1) * d];
        for k in 0..3 {
            let (xk, hk) = (&mut xg[k * u..(k + 1) * u], &mut hg[k * u..(k + 1) * u]);
            match cell.bias {
                Some(b) => {
                    xk.copy_from_slice(&b[k * u..(k + 1) * u]);
                    hk.copy_from_slice(&b[g + k * u..g + (k + 1) * u]);
                }
                None => {
                    xk.fill(0.0);
                    hk.fill(0.0);
                }
            }
            gate_product(x_t, cell.kernel, k, g, xk, tmp);
            if t > 0 {
                gate_product(h, cell.recurrent_kernel, k, g, hk, tmp);
            }
        }
        for j in 0..2 * u {
            xg[j] += hg[j];
        }
        cell.recurrent_activation.apply(&mut xg[..u], u);
        cell.recurrent_activation.apply(&mut xg[u..2 * u], u);
        for j in 0..u {
            xg[2 * u + j] += xg[u + j] * hg[2 * u + j];
        }
        cell.activation.apply(&mut xg[2 * u..], u);
        for j in 0..u {
            h[j] = xg[j] * h[j] + (1.0 - xg[j]) * xg[2 * u + j];
        }
        writes_step(cell, t, h, y);
    }
    if !cell.return_sequences {
        y[..u].copy_from_slice(h);
    }
}

/// Keras's `SimpleRNN`: `h = act(b + x_t·W + h·R)`.
/// `scratch` holds at least [`simple_rnn_scratch_len`] values.
pub fn simple_rnn(cell: &Recurrent<'_>, x: &[f32], steps: usize, y: &mut [f32], scratch: &mut [f32]) {
    let u = cell.units;
    let d = cell.kernel.len() / u;
    let (h, rest) = scratch.split_at_mut(u);
    let (next, rest) = rest.split_at_mut(u);
    let tmp = &mut rest[..u];
    h.fill(0.0);
    for t in 0..steps {
        match cell.bias {
            Some(b) => next.copy_from_slice(b),
            None => next.fill(0.0),
        }
        gate_product(&x[t * d..(t + 1) * d], cell.kernel, 0, u, next, tmp);
        if t > 0 {
            gate_product(h, cell.recurrent_kernel, 0, u, next, tmp);
        }
        cell.activation.apply(next, u);
        h.copy_from_slice(next);
        writes_step(cell, t, h, y);
    }
    if !cell.return_sequences {
        y[..u].copy_from_slice(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One unit, one input, linear activations: hand-derived recurrences.
    #[test]
    fn one_unit_recurrences_follow_keras_formulas() {
        let x = [1.0, 2.0];
        // SimpleRNN, linear: h1 = 0.5·1 + 0.1 = 0.6; h2 = 0.5·2 + 0.25·0.6 + 0.1 = 1.25.
        let cell = Recurrent {
            kernel: &[0.5],
            recurrent_kernel: &[0.25],
            bias: Some(&[0.1]),
            units: 1,
            activation: Activation::Linear,
            recurrent_activation: Activation::Linear,
            return_sequences: true,
        };
        let (mut y, mut s) = ([0.0; 2], [0.0; 3]);
        simple_rnn(&cell, &x, 2, &mut y, &mut s);
        assert!((y[0] - 0.6).abs() < 1e-7 && (y[1] - 1.25).abs() < 1e-7, "{y:?}");
        // LSTM with linear gates, kernel [i, f, c, o] = [1, 1, 1, 1], no recurrence, no bias:
        // step 1: c = 1·0 + 1·1 = 1, h = 1·1 = 1; step 2: gates = 2, c = 2·1 + 2·2 = 6, h = 2·6 = 12.
        let cell = Recurrent {
            kernel: &[1.0; 4],
            recurrent_kernel: &[0.0; 4],
            bias: None,
            units: 1,
            return_sequences: false,
            ..cell
        };
        let (mut y, mut s) = ([0.0; 1], [0.0; 11]);
        lstm(&cell, &x, 2, &mut y, &mut s);
        assert_eq!(y, [12.0]);
        // GRU, linear, kernel [z, r, h] = [0.5, 1, 1], recurrent [0, 0, 1], bias in 0, rec 0:
        // step 1: z = 0.5, r = 1, h̃ = 1 + 1·0 = 1, h = 0.5·0 + 0.5·1 = 0.5;
        // step 2: z = 1, r = 2, ĥ_h = 0.5, h̃ = 2 + 2·0.5 = 3, h = 1·0.5 + 0·3 = 0.5.
        let cell = Recurrent { kernel: &[0.5, 1.0, 1.0], recurrent_kernel: &[0.0, 0.0, 1.0], ..cell };
        let (mut y, mut s) = ([0.0; 1], [0.0; 8]);
        gru(&cell, &x, 2, &mut y, &mut s);
        assert_eq!(y, [0.5]);
    }
}
