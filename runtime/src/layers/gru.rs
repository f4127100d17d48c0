//! `GRU` (Cho et al., 2014) as Keras computes it with its default
//! `reset_after = True`, gate blocks in Keras's order `z, r, h`:
//!
//! `x̂ = x_t·W + b_in`, `ĥ = h_{t−1}·R + b_rec`,
//! `z = σ(x̂_z + ĥ_z)`, `r = σ(x̂_r + ĥ_r)`, `h̃ = tanh(x̂_h + r⊙ĥ_h)`,
//! `h_t = z⊙h_{t−1} + (1 − z)⊙h̃`.
//!
//! The bias is `[2, 3U]`: input bias, then recurrent bias. PyTorch's
//! `nn.GRU` computes the same cell with its gates ordered `r, z, n`.

use super::recurrent::{add_output_grad, gate_product, step, Cell, Recurrent};
#[cfg(test)] // for the tests' `use super::*`
use super::{Layer, RecurrentConfig};
use crate::gemm::{sgemm_on_this_thread, Mat, Scratch};

/// Keras's `GRU(units = U)` over `T` steps of `D` features; `SEQ` is `return_sequences`.
/// Kernel `[D, 3U]`, recurrent kernel `[U, 3U]`, bias `[2, 3U]`.
pub type Gru<const D: usize, const U: usize, const T: usize, const SEQ: bool> = Recurrent<GruCell, D, U, T, SEQ>;

/// The cell of [`Gru`].
#[derive(Clone, Copy, Debug)]
pub struct GruCell;

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Cell for Gru<D, U, T, SEQ> {
    const GATES: usize = 3;
    const BIAS_ROWS: usize = 2;
    /// The recurrent projections `ĥ`, `[T, 3U]`.
    const AUX_LEN: usize = T * 3 * U;
    /// Their gradients.
    const D_AUX_LEN: usize = T * 3 * U;
    const SPLIT_RECURRENT_GRAD: bool = true;
    const KERAS_TYPE: &'static str = "GRU";
    const CELL_NAME: &'static str = "gru_cell";

    /// `xz` holds x̂ and then, in place, the activated z, r, h̃; `hz` receives ĥ.
    fn forward_steps(&self, xz: &mut [f32], hz: &mut [f32], h: &mut [f32], batch: usize, scratch: &mut Scratch) {
        let g = 3 * U;
        let (_, recurrent_bias) = self.biases();
        let recurrent = Mat::row_major(&self.weights.recurrent_kernel.value, g);
        for t in 0..T {
            if t > 0 {
                let h_prev = step(h, t - 1, T, U);
                sgemm_on_this_thread(batch, g, U, h_prev, recurrent, &mut hz[t * g..], T * g, false, scratch);
            }
            for b in 0..batch {
                let r = b * T + t;
                let hrow = &mut hz[r * g..(r + 1) * g];
                if t == 0 {
                    hrow.fill(0.0);
                }
                if let Some(rb) = recurrent_bias {
                    hrow.iter_mut().zip(rb).for_each(|(v, b)| *v += b);
                }
                let xrow = &mut xz[r * g..(r + 1) * g];
                for j in 0..2 * U {
                    xrow[j] += hrow[j];
                }
                self.recurrent_activation.forward_in_place(&mut xrow[..2 * U], U);
                for j in 0..U {
                    xrow[2 * U + j] += xrow[U + j] * hrow[2 * U + j];
                }
                self.activation.forward_in_place(&mut xrow[2 * U..], U);
                let (before, now) = h.split_at_mut(r * U);
                for (j, hv) in now[..U].iter_mut().enumerate() {
                    let h_prev = if t > 0 { before[(r - 1) * U + j] } else { 0.0 };
                    let z = xrow[j];
                    *hv = z * h_prev + (1.0 - z) * xrow[2 * U + j];
                }
            }
        }
    }

    /// Into the input (`d_in`) and recurrent (`d_rec`) pre-activation gradients.
    fn backward_steps(
        &self,
        gates: &[f32],
        hz: &[f32],
        h: &[f32],
        d_in: &mut [f32],
        d_rec: &mut [f32],
        dh: &mut [f32],
        dy: &[f32],
        batch: usize,
        scratch: &mut Scratch,
    ) {
        let g = 3 * U;
        dh.fill(0.0);
        let recurrent_t = Mat::transposed(&self.weights.recurrent_kernel.value, g);
        for t in (0..T).rev() {
            add_output_grad(dy, dh, t, T, U, SEQ);
            for b in 0..batch {
                let r = b * T + t;
                let (grow, hrow) = (&gates[r * g..(r + 1) * g], &hz[r * g..(r + 1) * g]);
                let (z, reset, cand) = (&grow[..U], &grow[U..2 * U], &grow[2 * U..]);
                let (dxr, dhr) = (&mut d_in[r * g..(r + 1) * g], &mut d_rec[r * g..(r + 1) * g]);
                let dh_b = &mut dh[b * U..(b + 1) * U];
                for j in 0..U {
                    let h_prev = if t > 0 { h[(r - 1) * U + j] } else { 0.0 };
                    dxr[j] = dh_b[j] * (h_prev - cand[j]);
                    dxr[2 * U + j] = dh_b[j] * (1.0 - z[j]);
                    dh_b[j] *= z[j];
                }
                self.activation.backward_in_place(cand, &mut dxr[2 * U..], U);
                for j in 0..U {
                    dxr[U + j] = dxr[2 * U + j] * hrow[2 * U + j];
                    dhr[2 * U + j] = dxr[2 * U + j] * reset[j];
                }
                self.recurrent_activation.backward_in_place(&grow[..2 * U], &mut dxr[..2 * U], U);
                dhr[..2 * U].copy_from_slice(&dxr[..2 * U]);
            }
            if t > 0 {
                sgemm_on_this_thread(batch, U, g, step(d_rec, t, T, g), recurrent_t, dh, U, true, scratch);
            }
        }
    }
    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        let w = &self.weights;
        let g = 3 * U;
        let (input_bias, recurrent_bias) = self.biases();
        let (mut h, mut tmp) = ([0.0f32; U], [0.0f32; U]);
        let mut xg = [[0.0f32; U]; 3];
        let mut hg = [[0.0f32; U]; 3];
        for t in 0..T {
            let x_t = &x[t * D..(t + 1) * D];
            for k in 0..3 {
                let (xk, hk) = (&mut xg[k], &mut hg[k]);
                match (input_bias, recurrent_bias) {
                    (Some(ib), Some(rb)) => {
                        xk.copy_from_slice(&ib[k * U..(k + 1) * U]);
                        hk.copy_from_slice(&rb[k * U..(k + 1) * U]);
                    }
                    _ => {
                        xk.fill(0.0);
                        hk.fill(0.0);
                    }
                }
                gate_product(x_t, &w.kernel.value, k, g, xk, &mut tmp);
                if t > 0 {
                    gate_product(&h, &w.recurrent_kernel.value, k, g, hk, &mut tmp);
                }
            }
            let ([z, r, cand], [hz, hr, hh]) = (&mut xg, &hg);
            for j in 0..U {
                z[j] += hz[j];
                r[j] += hr[j];
            }
            self.recurrent_activation.forward_in_place(z, U);
            self.recurrent_activation.forward_in_place(r, U);
            for j in 0..U {
                cand[j] += r[j] * hh[j];
            }
            self.activation.forward_in_place(cand, U);
            for j in 0..U {
                h[j] = z[j] * h[j] + (1.0 - z[j]) * cand[j];
            }
            if SEQ {
                y[t * U..(t + 1) * U].copy_from_slice(&h);
            }
        }
        if !SEQ {
            y.copy_from_slice(&h);
        }
    }
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Gru<D, U, T, SEQ> {
    fn biases(&self) -> (Option<&[f32]>, Option<&[f32]>) {
        match &self.weights.bias {
            Some(b) => (Some(&b.value[..3 * U]), Some(&b.value[3 * U..])),
            None => (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initializers::Initializer;
    use crate::testing::check_layer_gradients;
    use rand::SeedableRng;

    fn layer<const SEQ: bool>() -> Gru<3, 4, 5, SEQ> {
        let config = RecurrentConfig {
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..RecurrentConfig::default()
        };
        Gru::new(config, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5))
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut layer::<false>(), 3);
        check_layer_gradients(&mut layer::<true>(), 2);
    }

    #[test]
    fn batched_forward_agrees_with_one_sample_forward() {
        crate::testing::assert_one_sample_matches_batch(&layer::<true>(), 3);
        crate::testing::assert_one_sample_matches_batch(&layer::<false>(), 2);
    }

    #[test]
    fn keras_parameter_count() {
        let l =
            Gru::<64, 64, 16, false>::new(RecurrentConfig::default(), &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
        let n = crate::network::count_params(|f| l.params(f)).0;
        assert_eq!(n, 24_960); // Keras: GRU(64) on 64 features, reset_after=True
    }
}
