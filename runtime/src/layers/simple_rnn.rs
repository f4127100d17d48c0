//! `SimpleRNN`: `h_t = activation(x_t·W + h_{t−1}·R + b)`.

use super::recurrent::{add_output_grad, gate_product, step, Cell, Recurrent};
#[cfg(test)] // for the tests' `use super::*`
use super::{Layer, RecurrentConfig};
use crate::gemm::{sgemm_on_this_thread, Mat, Scratch};

/// Keras's `SimpleRNN(units = U)` over `T` steps of `D` features; `SEQ` is `return_sequences`.
/// Kernel `[D, U]`, recurrent kernel `[U, U]`, bias `[U]`.
pub type SimpleRnn<const D: usize, const U: usize, const T: usize, const SEQ: bool> =
    Recurrent<SimpleRnnCell, D, U, T, SEQ>;

/// The cell of [`SimpleRnn`].
#[derive(Clone, Copy, Debug)]
pub struct SimpleRnnCell;

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Cell for SimpleRnn<D, U, T, SEQ> {
    const GATES: usize = 1;
    const KERAS_TYPE: &'static str = "SimpleRNN";
    const CELL_NAME: &'static str = "simple_rnn_cell";

    /// `z` holds the input projections and receives the recurrent ones.
    fn forward_steps(&self, z: &mut [f32], _: &mut [f32], h: &mut [f32], batch: usize, scratch: &mut Scratch) {
        let recurrent = Mat::row_major(&self.weights.recurrent_kernel.value, U);
        for t in 0..T {
            if t > 0 {
                let h_prev = step(h, t - 1, T, U);
                sgemm_on_this_thread(batch, U, U, h_prev, recurrent, &mut z[t * U..], T * U, true, scratch);
            }
            for b in 0..batch {
                let r = b * T + t;
                let state = &mut h[r * U..(r + 1) * U];
                state.copy_from_slice(&z[r * U..(r + 1) * U]);
                self.activation.forward_in_place(state, U);
            }
        }
    }

    fn backward_steps(
        &self,
        _: &[f32],
        _: &[f32],
        h: &[f32],
        da: &mut [f32],
        _: &mut [f32],
        dh: &mut [f32],
        dy: &[f32],
        batch: usize,
        scratch: &mut Scratch,
    ) {
        dh.fill(0.0);
        let recurrent_t = Mat::transposed(&self.weights.recurrent_kernel.value, U);
        for t in (0..T).rev() {
            add_output_grad(dy, dh, t, T, U, SEQ);
            for b in 0..batch {
                let r = b * T + t;
                let d = &mut da[r * U..(r + 1) * U];
                d.copy_from_slice(&dh[b * U..(b + 1) * U]);
                self.activation.backward_in_place(&h[r * U..(r + 1) * U], d, U);
            }
            if t > 0 {
                sgemm_on_this_thread(batch, U, U, step(da, t, T, U), recurrent_t, dh, U, false, scratch);
            }
        }
    }

    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        let w = &self.weights;
        let (mut h, mut next, mut tmp) = ([0.0f32; U], [0.0f32; U], [0.0f32; U]);
        for t in 0..T {
            match &w.bias {
                Some(b) => next.copy_from_slice(&b.value),
                None => next.fill(0.0),
            }
            gate_product(&x[t * D..(t + 1) * D], &w.kernel.value, 0, U, &mut next, &mut tmp);
            if t > 0 {
                gate_product(&h, &w.recurrent_kernel.value, 0, U, &mut next, &mut tmp);
            }
            self.activation.forward_in_place(&mut next, U);
            h = next;
            if SEQ {
                y[t * U..(t + 1) * U].copy_from_slice(&h);
            }
        }
        if !SEQ {
            y.copy_from_slice(&h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initializers::Initializer;
    use crate::testing::check_layer_gradients;
    use rand::SeedableRng;

    #[test]
    fn gradients_match_finite_differences() {
        let config = RecurrentConfig {
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..RecurrentConfig::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        check_layer_gradients(&mut SimpleRnn::<3, 4, 5, false>::new(config, &mut rng), 3);
        check_layer_gradients(&mut SimpleRnn::<3, 4, 5, true>::new(config, &mut rng), 2);
        crate::testing::assert_one_sample_matches_batch(&SimpleRnn::<3, 4, 5, true>::new(config, &mut rng), 3);
    }

    #[test]
    fn keras_parameter_count() {
        let l = SimpleRnn::<64, 64, 16, false>::new(
            RecurrentConfig::default(),
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        );
        let n = crate::network::count_params(|f| l.params(f)).0;
        assert_eq!(n, 8_256);
    }
}
