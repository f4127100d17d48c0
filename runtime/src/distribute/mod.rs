//! Data-parallel training: the same model and the same `fit` call on
//! several processes, each computing the gradient of its share of every
//! global batch (Keras's `MultiWorkerMirroredStrategy`, PyTorch's DDP).
//!
//! How a step works on `N` ranks (see `docs/DESIGN.md`):
//! - every rank holds the whole data set and the same shuffling generator
//!   (broadcast from rank 0 with the weights), so every rank computes the
//!   same global order and the same global batch of `B` samples;
//! - rank `r` takes the contiguous part [`shard`] gives it, samples
//!   `⌊r·B/N⌋ .. ⌊(r+1)·B/N⌋` of the global batch: when `N` does not divide
//!   `B` the parts differ by one sample (and a rank may get none when
//!   `B < N`);
//! - each rank's gradient (the mean over its `n_r` samples) is scaled by
//!   `n_r`, and one fused all-reduce sums, in a single flat buffer, every
//!   trainable gradient together with the sample counts, losses and metric
//!   states; dividing by `Σ n_r = B` gives exactly the gradient of the
//!   global batch's mean loss, whatever the split;
//! - every rank applies the same optimizer step to the same weights, and
//!   logs the global loss and metrics. Only rank 0 prints progress.
//!
//! The MPI backend is `MultiWorkerMirroredStrategy` (cargo feature `mpi`).
//! [`Collective`] is the interface training uses, so other transports (or
//! an in-process one for tests) plug in the same way.

#[cfg(feature = "mpi")]
mod mpi_backend;
#[cfg(feature = "mpi")]
pub use mpi_backend::MultiWorkerMirroredStrategy;

use crate::error::Result;

/// The collective operations data-parallel training needs, between the
/// `size()` processes of one job.
///
/// Every rank must call the same operations in the same order (they are
/// collective): training does, since every rank runs the same steps.
pub trait Collective: Send + Sync {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn size(&self) -> usize;
    /// Replaces `buffer` on every rank by the element-wise sum over all
    /// ranks (one call per step: the fused gradient buffer).
    ///
    /// # Errors
    /// [`crate::Error::Distributed`] when the reduction fails or does not
    /// complete in time.
    fn all_reduce_sum(&mut self, buffer: &mut [f32]) -> Result<()>;
    /// Replaces `bytes` on every rank by rank 0's.
    ///
    /// # Errors
    /// [`crate::Error::Distributed`], as for [`Collective::all_reduce_sum`].
    fn broadcast_bytes(&mut self, bytes: &mut Vec<u8>) -> Result<()>;
}

/// The samples `start..end` of a global batch of `batch` samples that rank
/// `rank` of `size` trains on: `⌊rank·batch/size⌋ .. ⌊(rank+1)·batch/size⌋`.
///
/// The parts are contiguous, cover the batch exactly once, and differ in
/// length by at most one.
///
/// ```
/// use kiln::distribute::shard;
/// assert_eq!(shard(10, 0, 4), 0..2);
/// assert_eq!(shard(10, 1, 4), 2..5);
/// assert_eq!(shard(10, 3, 4), 7..10);
/// assert_eq!(shard(1, 0, 2), 0..0); // fewer samples than ranks: rank 0 idles
/// ```
pub fn shard(batch: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    (rank * batch / size)..((rank + 1) * batch / size)
}

#[cfg(test)]
mod tests {
    use super::shard;

    #[test]
    fn shards_cover_every_batch_once() {
        for size in 1..6 {
            for batch in 0..40 {
                let mut next = 0;
                for rank in 0..size {
                    let r = shard(batch, rank, size);
                    assert_eq!(r.start, next, "batch {batch}, {size} ranks");
                    // Sizes differ by at most one: ⌊B/N⌋ or ⌈B/N⌉.
                    assert!(r.len() == batch / size || r.len() == batch.div_ceil(size));
                    next = r.end;
                }
                assert_eq!(next, batch);
            }
        }
    }
}
