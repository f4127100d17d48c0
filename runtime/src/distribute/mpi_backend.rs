//! [`MultiWorkerMirroredStrategy`]: data-parallel training over MPI
//! (OpenMPI through the `mpi` crate).

use super::Collective;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::train::Model;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Threading;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Owns MPI's initialization; `MPI_Finalize` runs when the strategy and
/// every model distributed with it are dropped.
struct Environment(Universe);

// SAFETY: MPI is initialized with `Threading::Serialized` (checked in
// `MultiWorkerMirroredStrategy::new`), so any thread may call MPI as long
// as calls do not overlap; a `Collective` is used through `&mut`, one
// call at a time.
unsafe impl Send for Environment {}
unsafe impl Sync for Environment {}

/// Keras's `tf.distribute.MultiWorkerMirroredStrategy` on MPI: run the
/// same program under `mpirun -n N`; [`MultiWorkerMirroredStrategy::distribute`]
/// makes a compiled model train data-parallel with the unchanged `fit` call.
///
/// ```no_run
/// # kiln::model! { struct Net { input x: [f32; 2]; let y = Dense(1)(x); output y; } }
/// use kiln::prelude::*;
/// use kiln::distribute::MultiWorkerMirroredStrategy;
/// let strategy = MultiWorkerMirroredStrategy::new()?;
/// let model = Net::new(0).compile(Sgd::new(0.1), MeanSquaredError, &[]);
/// let mut model = strategy.distribute(model)?; // weights from rank 0
/// let (x, y) = (vec![[0.0f32; 2]; 64], vec![[1.0f32]; 64]);
/// model.fit(&x, &y).batch_size(32).epochs(3).run()?; // global batch 32
/// strategy.save_checkpoint(&model, "model.ckpt")?; // rank 0 writes
/// # Ok::<(), kiln::Error>(())
/// ```
pub struct MultiWorkerMirroredStrategy {
    env: Arc<Environment>,
    timeout: Duration,
}

impl MultiWorkerMirroredStrategy {
    /// Initializes MPI (once per process). Outside `mpirun` this is a job
    /// of one process, which trains exactly as without a strategy.
    ///
    /// # Errors
    /// [`Error::Distributed`] when MPI was already initialized or does not
    /// offer serialized multi-threading.
    pub fn new() -> Result<Self> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized).ok_or_else(|| {
            Error::Distributed { rank: 0, reason: "MPI is already initialized in this process".into() }
        })?;
        let rank = universe.world().rank() as usize;
        if !matches!(threading, Threading::Serialized | Threading::Multiple) {
            return Err(Error::Distributed {
                rank,
                reason: format!("the MPI library offers only {threading:?} threading; kiln needs Serialized"),
            });
        }
        Ok(MultiWorkerMirroredStrategy { env: Arc::new(Environment(universe)), timeout: Duration::from_secs(300) })
    }

    /// How long a rank waits for a step's all-reduce before it declares
    /// another rank dead and aborts the whole job (default 300 s; MPI
    /// itself would wait forever). Set it above the slowest step.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn world(&self) -> SimpleCommunicator {
        self.env.0.world()
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.world().rank() as usize
    }

    /// The number of processes training together (Keras's
    /// `num_replicas_in_sync`).
    pub fn num_replicas_in_sync(&self) -> usize {
        self.world().size() as usize
    }

    /// Whether this is rank 0, the one that prints and writes files.
    pub fn is_chief(&self) -> bool {
        self.rank() == 0
    }

    /// Makes `model` train data-parallel: every rank takes rank 0's whole
    /// training state (weights, optimizer, epochs, shuffling generator —
    /// so a checkpoint loaded on rank 0 alone resumes every rank), then
    /// `fit` and `train_on_batch` reduce every step over all ranks.
    ///
    /// # Errors
    /// [`Error::Distributed`] if the broadcast fails, or the error of
    /// loading rank 0's state (a different model type on some rank).
    pub fn distribute<N: Network>(&self, model: Model<N>) -> Result<Model<N>> {
        model.distributed(self.collective())
    }

    /// A handle on the job's collectives, for reductions of one's own
    /// (custom metrics) or to time the all-reduce alone. Every rank must
    /// make the same calls in the same order, and not while another thread
    /// trains (MPI is initialized `Serialized`).
    pub fn collective(&self) -> Box<dyn Collective> {
        let world = self.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        let env = Arc::clone(&self.env);
        Box::new(MpiCollective { world, rank, size, _env: env, timeout: self.timeout, recv: Vec::new() })
    }

    /// Rank 0 saves `model`'s checkpoint ([`Model::save`], atomic); every
    /// rank waits until it is written, so a rank that dies afterwards
    /// cannot lose it.
    ///
    /// # Errors
    /// Rank 0's write error (on rank 0).
    pub fn save_checkpoint<N: Network>(&self, model: &Model<N>, path: impl AsRef<Path>) -> Result<()> {
        let result = if self.is_chief() { model.save(path) } else { Ok(()) };
        self.world().barrier();
        result
    }
}

/// The MPI side of one distributed model.
struct MpiCollective {
    world: SimpleCommunicator,
    /// Kept, so `&self` methods make no MPI call (which could overlap
    /// another thread's: MPI is only `Serialized`).
    rank: usize,
    size: usize,
    _env: Arc<Environment>,
    timeout: Duration,
    /// The all-reduce's receive buffer, kept so steps do not allocate.
    recv: Vec<f32>,
}

// SAFETY: see `Environment`. MPI is called only through `&mut self`, so
// never from two threads at once; `&self` methods read plain fields.
unsafe impl Send for MpiCollective {}
unsafe impl Sync for MpiCollective {}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&mut self, buffer: &mut [f32]) -> Result<()> {
        self.recv.resize(buffer.len(), 0.0);
        let (world, timeout) = (&self.world, self.timeout);
        let recv = &mut self.recv[..];
        // A non-blocking all-reduce polled against a deadline: a blocking
        // one waits forever for a rank that died or hangs.
        mpi::request::scope(|scope| {
            let mut request = world.immediate_all_reduce_into(scope, &*buffer, recv, SystemOperation::sum());
            let start = Instant::now();
            loop {
                match request.test() {
                    Ok(_) => break,
                    Err(pending) => request = pending,
                }
                if start.elapsed() > timeout {
                    // The buffers belong to MPI until the request completes,
                    // so this rank cannot return an error and go on: end the job.
                    eprintln!(
                        "kiln: rank {} of {}: a step's gradient all-reduce did not complete within {timeout:?}; \
                         another rank has died or hangs. Aborting the job; restart it to resume from the last checkpoint.",
                        self.rank, self.size
                    );
                    world.abort(75);
                }
                std::thread::yield_now();
            }
        });
        buffer.copy_from_slice(&self.recv);
        Ok(())
    }

    fn broadcast_bytes(&mut self, bytes: &mut Vec<u8>) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        root.broadcast_into(&mut bytes[..]);
        Ok(())
    }
}
