//! `LSTM` (Hochreiter & Schmidhuber, 1997) with Keras's gate order
//! `i, f, c, o` in the kernel's column blocks:
//!
//! `[i f g o] = x_t·W + h_{t−1}·R + b`, `i, f, o ← σ(·)`, `g ← tanh(·)`,
//! `c_t = f⊙c_{t−1} + i⊙g`, `h_t = o⊙tanh(c_t)`
//!
//! (`σ` is `recurrent_activation`, `tanh` is `activation`). PyTorch's
//! `nn.LSTM` uses the same gate order; its two biases add up to Keras's one.

use super::recurrent::{add_output_grad, step, Cell, Recurrent, RecurrentConfig};
#[cfg(test)] // for the tests' `use super::*`
use super::Layer;
use crate::gemm::{sgemm_on_this_thread, small_gemm, vec_mat, vec_mat_repeated, Mat, Scratch};

/// Keras's `LSTM(units = U)` over `T` steps of `D` features; `SEQ` is `return_sequences`.
/// Kernel `[D, 4U]`, recurrent kernel `[U, 4U]`, bias `[4U]`.
pub type Lstm<const D: usize, const U: usize, const T: usize, const SEQ: bool> = Recurrent<LstmCell, D, U, T, SEQ>;

/// The cell of [`Lstm`].
#[derive(Clone, Copy, Debug)]
pub struct LstmCell;

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Cell for Lstm<D, U, T, SEQ> {
    const GATES: usize = 4;
    /// The cell states `c`, `[T, U]`.
    const AUX_LEN: usize = T * U;
    /// The running `∂L/∂c`, `[U]`.
    const D_AUX_LEN: usize = U;
    const KERAS_TYPE: &'static str = "LSTM";
    const CELL_NAME: &'static str = "lstm_cell";

    /// Forget-gate bias 1 with `unit_forget_bias`.
    fn init(&mut self, config: &RecurrentConfig) {
        if let (Some(b), true) = (&mut self.weights.bias, config.unit_forget_bias) {
            b.value[U..2 * U].fill(1.0);
        }
    }

    /// Activates the gates `z` in place; fills the cell states `c` and `h`.
    fn forward_steps(&self, z: &mut [f32], c: &mut [f32], h: &mut [f32], batch: usize, scratch: &mut Scratch) {
        let g = 4 * U;
        let recurrent = Mat::row_major(&self.weights.recurrent_kernel.value, g);
        let mut tanh_c = [0.0f32; U];
        for t in 0..T {
            if t > 0 {
                let h_prev = step(h, t - 1, T, U);
                sgemm_on_this_thread(batch, g, U, h_prev, recurrent, &mut z[t * g..], T * g, true, scratch);
            }
            for b in 0..batch {
                let r = b * T + t;
                let gates = &mut z[r * g..(r + 1) * g];
                self.recurrent_activation.forward_in_place(&mut gates[..2 * U], U);
                self.activation.forward_in_place(&mut gates[2 * U..3 * U], U);
                self.recurrent_activation.forward_in_place(&mut gates[3 * U..], U);
                let (i, rest) = gates.split_at(U);
                let (f, rest) = rest.split_at(U);
                let (gg, o) = rest.split_at(U);
                let (before, now) = c.split_at_mut(r * U);
                let c_t = &mut now[..U];
                for j in 0..U {
                    let c_prev = if t > 0 { before[(r - 1) * U + j] } else { 0.0 };
                    c_t[j] = f[j] * c_prev + i[j] * gg[j];
                }
                tanh_c.copy_from_slice(c_t);
                self.activation.forward_in_place(&mut tanh_c, U);
                for (j, hv) in h[r * U..(r + 1) * U].iter_mut().enumerate() {
                    *hv = o[j] * tanh_c[j];
                }
            }
        }
    }

    fn backward_steps(
        &self,
        z: &[f32],
        c: &[f32],
        _: &[f32],
        dz: &mut [f32],
        dc: &mut [f32],
        dh: &mut [f32],
        dy: &[f32],
        batch: usize,
        scratch: &mut Scratch,
    ) {
        let g = 4 * U;
        dh.fill(0.0);
        dc.fill(0.0);
        let (mut tanh_c, mut d_tanh) = ([0.0f32; U], [0.0f32; U]);
        let recurrent_t = Mat::transposed(&self.weights.recurrent_kernel.value, g);
        for t in (0..T).rev() {
            add_output_grad(dy, dh, t, T, U, SEQ);
            for b in 0..batch {
                let r = b * T + t;
                let gates = &z[r * g..(r + 1) * g];
                let (i, f, gg, o) = (&gates[..U], &gates[U..2 * U], &gates[2 * U..3 * U], &gates[3 * U..]);
                tanh_c.copy_from_slice(&c[r * U..(r + 1) * U]);
                self.activation.forward_in_place(&mut tanh_c, U);
                let (dh_b, dc_b) = (&dh[b * U..(b + 1) * U], &mut dc[b * U..(b + 1) * U]);
                for j in 0..U {
                    d_tanh[j] = dh_b[j] * o[j];
                }
                self.activation.backward_in_place(&tanh_c, &mut d_tanh, U);
                let drow = &mut dz[r * g..(r + 1) * g];
                for j in 0..U {
                    let c_prev = if t > 0 { c[(r - 1) * U + j] } else { 0.0 };
                    let dct = dc_b[j] + d_tanh[j];
                    drow[j] = dct * gg[j];
                    drow[U + j] = dct * c_prev;
                    drow[2 * U + j] = dct * i[j];
                    drow[3 * U + j] = dh_b[j] * tanh_c[j];
                    dc_b[j] = dct * f[j];
                }
                self.recurrent_activation.backward_in_place(&gates[..2 * U], &mut drow[..2 * U], U);
                self.activation.backward_in_place(gg, &mut drow[2 * U..3 * U], U);
                self.recurrent_activation.backward_in_place(o, &mut drow[3 * U..], U);
            }
            if t > 0 {
                sgemm_on_this_thread(batch, U, g, step(dz, t, T, g), recurrent_t, dh, U, false, scratch);
            }
        }
    }

    /// The input projections of all steps in one register-blocked product
    /// when they fit in [`PROJECTION_STACK_LIMIT`] bytes of stack; step by
    /// step otherwise, so a long sequence never overflows a thread's stack.
    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        if T * 4 * U * std::mem::size_of::<f32>() <= PROJECTION_STACK_LIMIT {
            self.forward_one_projected(x, y);
        } else {
            self.forward_one_stepwise(x, y);
        }
    }
}

/// Bytes of stack `forward_one` may spend on the input projections of all
/// steps at once (`T × 4U` values); beyond, it projects step by step.
pub const PROJECTION_STACK_LIMIT: usize = 64 * 1024;

/// One sample's running state: `h`, `c`, `tanh(c)` and the recurrent product.
struct OneSampleState<const U: usize> {
    h: [f32; U],
    c: [f32; U],
    tanh_c: [f32; U],
    recurrent: [[f32; U]; 4],
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Lstm<D, U, T, SEQ> {
    #[inline(never)] // keeps the `T × 4U` array out of the step-by-step path's frame
    fn forward_one_projected(&self, x: &[f32], y: &mut [f32]) {
        // `[[f32; U]; 4]` is `4U` contiguous values (stable Rust cannot write `[f32; 4 * U]`).
        let mut projected = [[[0.0f32; U]; 4]; T];
        // The input projection of every step in one register-blocked product.
        small_gemm(T, D, 4 * U, x, &self.weights.kernel.value, projected.as_flattened_mut().as_flattened_mut());
        let mut state = OneSampleState { h: [0.0; U], c: [0.0; U], tanh_c: [0.0; U], recurrent: [[0.0; U]; 4] };
        for (t, gates) in projected.iter_mut().enumerate() {
            self.step_one(t, gates, &mut state, y);
        }
        if !SEQ {
            y.copy_from_slice(&state.h);
        }
    }

    #[inline(never)]
    fn forward_one_stepwise(&self, x: &[f32], y: &mut [f32]) {
        let mut gates = [[0.0f32; U]; 4];
        let mut state = OneSampleState { h: [0.0; U], c: [0.0; U], tanh_c: [0.0; U], recurrent: [[0.0; U]; 4] };
        for t in 0..T {
            vec_mat(&x[t * D..(t + 1) * D], &self.weights.kernel.value, gates.as_flattened_mut());
            self.step_one(t, &mut gates, &mut state, y);
        }
        if !SEQ {
            y.copy_from_slice(&state.h);
        }
    }

    /// Step `t` given its input projection `gates` (overwritten with the
    /// gate activations); writes `h` to `y` when returning sequences.
    #[inline(always)]
    #[allow(clippy::needless_range_loop, clippy::manual_memcpy)] // see the loops' comment
    fn step_one(&self, t: usize, gates: &mut [[f32; U]; 4], s: &mut OneSampleState<U>, y: &mut [f32]) {
        // Index loops, not `zip` / `copy_from_slice`: this runs per step of
        // one-sample inference, and without LTO those are calls
        // (docs/PERFORMANCE.md, "Without LTO").
        let w = &self.weights;
        let z = gates.as_flattened_mut();
        if t > 0 {
            // Alternating column order keeps half of the kernel in L1 between steps.
            vec_mat_repeated(&s.h, &w.recurrent_kernel.value, s.recurrent.as_flattened_mut(), t % 2 == 1);
            let r = s.recurrent.as_flattened();
            for j in 0..4 * U {
                z[j] += r[j];
            }
        }
        if let Some(b) = &w.bias {
            let b = &b.value[..4 * U];
            for j in 0..4 * U {
                z[j] += b[j];
            }
        }
        self.recurrent_activation.forward_in_place(&mut z[..2 * U], U);
        self.activation.forward_in_place(&mut z[2 * U..3 * U], U);
        self.recurrent_activation.forward_in_place(&mut z[3 * U..], U);
        let [i, f, gg, o] = &*gates;
        for j in 0..U {
            s.c[j] = f[j] * s.c[j] + i[j] * gg[j];
            s.tanh_c[j] = s.c[j];
        }
        self.activation.forward_in_place(&mut s.tanh_c, U);
        for j in 0..U {
            s.h[j] = o[j] * s.tanh_c[j];
        }
        if SEQ {
            let y = &mut y[t * U..(t + 1) * U];
            for j in 0..U {
                y[j] = s.h[j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initializers::Initializer;
    use crate::testing::check_layer_gradients;
    use rand::SeedableRng;

    fn layer<const SEQ: bool>() -> Lstm<3, 4, 5, SEQ> {
        let config = RecurrentConfig {
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..RecurrentConfig::default()
        };
        Lstm::new(config, &mut rand_chacha::ChaCha8Rng::seed_from_u64(4))
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut layer::<false>(), 3);
        check_layer_gradients(&mut layer::<true>(), 2);
        check_layer_gradients(&mut layer::<true>(), 1);
    }

    #[test]
    fn batched_forward_agrees_with_one_sample_forward() {
        crate::testing::assert_one_sample_matches_batch(&layer::<true>(), 3);
        crate::testing::assert_one_sample_matches_batch(&layer::<false>(), 2);
    }

    /// A sequence whose projections exceed the stack limit (600 steps × 4 ×
    /// 256 units = 2.4 MB) runs step by step: in a thread with a 2 MiB
    /// stack, with the batched forward's values. (Before, the projections
    /// lived in one stack array and this thread overflowed its stack.)
    #[test]
    fn a_long_sequence_runs_in_a_small_stack_with_batched_values() {
        type Long = Lstm<8, 256, 600, false>;
        const { assert!(600 * 4 * 256 * 4 > PROJECTION_STACK_LIMIT) };
        let l = Long::new(RecurrentConfig::default(), &mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || crate::testing::assert_one_sample_matches_batch(&l, 2))
            .unwrap()
            .join()
            .unwrap();
        // Both paths agree on a sequence short enough for the blocked one.
        let short = layer::<true>();
        let x: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin()).collect();
        let (mut a, mut b) = ([0.0; 20], [0.0; 20]);
        short.forward_one_projected(&x, &mut a);
        short.forward_one_stepwise(&x, &mut b);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 4.0 * f32::EPSILON * p.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn keras_parameter_count_and_forget_bias() {
        let l =
            Lstm::<64, 64, 16, false>::new(RecurrentConfig::default(), &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
        let n = crate::network::count_params(|f| l.params(f)).0;
        assert_eq!(n, 33_024);
        let b = &l.weights.bias.as_ref().unwrap().value;
        assert!(b[64..128].iter().all(|&v| v == 1.0) && b[..64].iter().all(|&v| v == 0.0));
    }
}
