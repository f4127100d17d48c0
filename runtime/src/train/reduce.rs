//! The data-parallel step: [`Model::step_on`]'s work with one fused
//! all-reduce between the backward pass and the checks and update (see
//! [`crate::distribute`]).

use super::{non_finite_gradient, workspace, Model};
use crate::distribute::Collective;
use crate::error::{Error, Result};
use crate::network::{InputFlat, Network};
use crate::optimizers;

impl<N: Network> Model<N> {
    /// Makes this model train data-parallel over `collective`: every rank
    /// takes rank 0's whole training state (weights, optimizer, epochs,
    /// shuffling generator), then every `fit` / `train_on_batch` step
    /// trains on this rank's part of the global batch and reduces over all
    /// ranks. With MPI, prefer `MultiWorkerMirroredStrategy::distribute` (feature `mpi`).
    ///
    /// # Errors
    /// The collective's error, or the error of loading rank 0's state.
    pub fn distributed(mut self, mut collective: Box<dyn Collective>) -> Result<Self> {
        let mut state = if collective.rank() == 0 {
            self.checkpoint_bytes().map_err(|p| Error::Distributed {
                rank: 0,
                reason: format!("cannot serialize the model to broadcast it: {p}"),
            })?
        } else {
            Vec::new()
        };
        collective.broadcast_bytes(&mut state)?;
        if collective.rank() != 0 {
            let rank = collective.rank();
            self.load_checkpoint_bytes(&state).map_err(|p| Error::Distributed {
                rank,
                reason: format!("cannot load rank 0's model (is every rank running the same model?): {p}"),
            })?;
        }
        self.collective = Some(collective);
        Ok(self)
    }

    /// `(rank, size)` when training data-parallel, `(0, 1)` otherwise.
    pub fn replica(&self) -> (usize, usize) {
        self.collective.as_ref().map_or((0, 1), |c| (c.rank(), c.size()))
    }

    /// This rank's part of a global batch (all of it without a collective).
    pub(super) fn shard_of<'i>(&self, global: &'i [usize]) -> &'i [usize] {
        let (rank, size) = self.replica();
        &global[crate::distribute::shard(global.len(), rank, size)]
    }

    /// [`Model::step_on`] with a collective: `n` is this rank's share
    /// (possibly 0) of the global batch; returns the global batch's loss.
    ///
    /// The fused buffer is `[n, n·loss, n·loss_o…, (Σv·w, Σw) per metric…,
    /// n·∂L/∂θ for every trainable parameter…]`; after the sum, dividing by
    /// `Σn` gives the global batch's loss and gradient. The loss and
    /// gradient checks run on the reduced values, so every rank makes the
    /// same decision.
    pub(super) fn step_reduced(
        &mut self,
        x: InputFlat<'_, N>,
        y: &[Vec<f32>],
        weights: Option<&[f32]>,
        n: usize,
    ) -> Result<f32> {
        let mut buf = std::mem::take(&mut self.reduce_buffer);
        buf.clear();
        let unweighted = self.metric_kinds.len();
        let outputs = self.losses.len();
        let local = n as f32;
        buf.push(local);
        buf.push(0.0); // n·total, filled below
        if n > 0 {
            let total = self.forward_and_losses(x, y, weights, n);
            buf.extend(self.step_losses.iter().map(|value| local * value));
            buf[1] = local * total;
            let ws = workspace(&self.network, &mut self.workspace, n);
            for (o, states) in self.metrics.iter().enumerate() {
                let buffers = N::output_buffers(ws, o, n);
                for (k, state) in states.iter().enumerate() {
                    // This step's contribution alone (MetricState is Copy: no allocation).
                    let mut step = *state;
                    step.reset();
                    step.update_checked(
                        crate::metrics::MetricInput::of(&buffers),
                        &y[o],
                        if k < unweighted { None } else { weights },
                        n,
                    );
                    let (t, w) = step.mean_mut().parts();
                    buf.extend([t as f32, w as f32]);
                }
            }
            // After the loss, so a non-finite loss still reaches the
            // reduction (every rank must join it) and is refused there.
            self.backward(x, n);
            self.network.params(&mut |p| {
                if p.trainable {
                    buf.extend(p.grad.iter().map(|g| g * local));
                }
            });
        } else {
            // No samples on this rank (global batch smaller than the job):
            // it still joins the reduction, contributing zeros.
            buf.extend(std::iter::repeat_n(0.0, outputs));
            let states: usize = self.metrics.iter().map(Vec::len).sum();
            buf.extend(std::iter::repeat_n(0.0, 2 * states));
            self.network.params(&mut |p| {
                if p.trainable {
                    buf.extend(std::iter::repeat_n(0.0, p.grad.len()));
                }
            });
        }
        let collective = self.collective.as_mut().expect("step_reduced runs only with a collective");
        let reduced = collective.all_reduce_sum(&mut buf);
        let result = reduced.and_then(|()| self.apply_reduced(&buf, outputs));
        self.reduce_buffer = buf;
        result
    }

    /// The second half of a reduced step: global loss, checks, running
    /// metrics, gradients written back, optimizer step.
    fn apply_reduced(&mut self, buf: &[f32], outputs: usize) -> Result<f32> {
        let global = buf[0];
        let total = buf[1] / global;
        if !total.is_finite() {
            return Err(Error::NonFiniteLoss { loss: total, epoch: 0, batch: 0 });
        }
        let mut at = 2 + outputs;
        let metric_parts = &buf[at..];
        at += 2 * self.metrics.iter().map(Vec::len).sum::<usize>();
        let mut grads = buf[at..].iter();
        self.network.visit_params(&mut |p| {
            if p.trainable {
                for (g, s) in p.grad.iter_mut().zip(&mut grads) {
                    *g = s / global;
                }
            }
        });
        if let Some((parameter, index)) = non_finite_gradient(&self.network) {
            return Err(Error::NonFiniteGradient { parameter, index, epoch: 0, batch: 0 });
        }
        let network = &mut self.network;
        optimizers::step(&mut *self.optimizer, |f| network.visit_params(f))?;
        // Only a step that is applied counts in the running loss and metrics.
        self.loss_mean.update(total as f64, global as f64);
        for o in 0..outputs {
            self.output_loss[o].update((buf[2 + o] / global) as f64, global as f64);
        }
        for (state, parts) in self.metrics.iter_mut().flatten().zip(metric_parts.chunks_exact(2)) {
            state.mean_mut().add_parts(parts[0] as f64, parts[1] as f64);
        }
        Ok(total)
    }
}
