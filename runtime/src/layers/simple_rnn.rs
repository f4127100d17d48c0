//! `SimpleRNN`: `h_t = activation(x_t·W + h_{t−1}·R + b)`.

use super::recurrent::{
    add_output_grad, for_sample_ranges, gate_product, step, write_output, RecurrentCache, RecurrentConfig,
    RecurrentWeights,
};
use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::activations::Activation;
use crate::gemm::{sgemm_on_this_thread, Mat, Scratch};
use crate::parallel::Disjoint;
use crate::param::Param;
use rand::Rng;

/// Keras's `SimpleRNN(units = U)` over `T` steps of `D` features; `SEQ` is `return_sequences`.
#[derive(Clone, Debug)]
pub struct SimpleRnn<const D: usize, const U: usize, const T: usize, const SEQ: bool> {
    /// Kernel `[D, U]`, recurrent kernel `[U, U]`, bias `[U]`.
    pub weights: RecurrentWeights,
    /// `tanh` by default.
    pub activation: Activation,
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> SimpleRnn<D, U, T, SEQ> {
    /// A layer initialized as `config` says (`recurrent_activation` is unused).
    pub fn new(config: RecurrentConfig, rng: &mut impl Rng) -> Self {
        SimpleRnn { weights: RecurrentWeights::new(D, U, 1, 1, &config, rng), activation: config.activation }
    }
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> SimpleRnn<D, U, T, SEQ> {
    /// The recurrence for `batch` samples: `z` holds the input projections
    /// and receives the recurrent ones; `h` the states (`[batch, T, U]`).
    fn forward_steps(&self, z: &mut [f32], h: &mut [f32], batch: usize, scratch: &mut Scratch) {
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

    /// Back-propagation through time for `batch` samples into the
    /// pre-activation gradients `da`.
    fn backward_steps(
        &self,
        h: &[f32],
        da: &mut [f32],
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
}

impl<const D: usize, const U: usize, const T: usize, const SEQ: bool> Layer for SimpleRnn<D, U, T, SEQ> {
    type In = f32;
    type Cache = RecurrentCache;
    const INPUT_LEN: usize = T * D;
    const OUTPUT_LEN: usize = if SEQ { T * U } else { U };

    fn keras_type(&self) -> &'static str {
        "SimpleRNN"
    }

    /// # Shapes
    /// `x`: `[batch, T, D]`; `y`: `[batch, T, U]` or `[batch, U]`.
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut RecurrentCache, ctx: &mut Ctx) {
        let rows = batch * T;
        // `gates` holds the pre-activations, `h` the states.
        let z = ensure_len(&mut cache.gates, rows * U);
        self.weights.project_inputs(x, z, &mut ctx.scratch);
        let h = ensure_len(&mut cache.h, rows * U);
        let (zs, hs) = (Disjoint::new(z), Disjoint::new(h));
        for_sample_ranges(batch, batch * T * U * U, &mut ctx.scratch, &|b0, b1, scratch| {
            // SAFETY: concurrent calls get disjoint sample ranges.
            let (z, h) = unsafe { (zs.range(b0 * T * U, b1 * T * U), hs.range(b0 * T * U, b1 * T * U)) };
            self.forward_steps(z, h, b1 - b0, scratch);
        });
        let h = &cache.h[..rows * U];
        write_output(h, y, T, U, SEQ);
    }

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
        let rows = batch * T;
        let h = &cache.h[..rows * U];
        let da = ensure_len(&mut cache.d_gates, rows * U);
        let dh = ensure_len(&mut cache.dh, batch * U);
        let dy_len = if SEQ { T * U } else { U };
        let (das, dhs, dys) = (Disjoint::new(da), Disjoint::new(dh), Disjoint::new(dy));
        for_sample_ranges(batch, batch * T * U * U, &mut ctx.scratch, &|b0, b1, scratch| {
            let h = &h[b0 * T * U..b1 * T * U];
            // SAFETY: concurrent calls get disjoint sample ranges.
            let (da, dh, dy) = unsafe {
                (das.range(b0 * T * U, b1 * T * U), dhs.range(b0 * U, b1 * U), dys.range(b0 * dy_len, b1 * dy_len))
            };
            self.backward_steps(h, da, dh, dy, b1 - b0, scratch);
        });
        let da = &cache.d_gates[..rows * U];
        self.weights.finish_backward(x, h, &mut cache.h_prev, da, da, dx, T, &mut ctx.scratch);
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
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

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.weights.visit(f);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        self.weights.each(f);
    }

    /// Keras keeps a recurrent layer's weights in its cell: `lstm/lstm_cell/kernel`.
    fn param_paths(&self, prefix: &str, out: &mut Vec<String>) {
        self.params(&mut |p| out.push(format!("{prefix}/simple_rnn_cell/{}", p.name)));
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
