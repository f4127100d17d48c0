//! Data-parallel training without MPI: two threads joined by an in-process
//! [`Collective`] train like one process with the global batch. Runs in the
//! default build, so the sharding and the weighted reduction are checked
//! everywhere (tests/distributed.rs does the same over MPI).

use kiln::distribute::Collective;
use kiln::prelude::*;
use std::sync::{Arc, Barrier, Mutex};

kiln::model! {
    struct Net {
        input x: [f32; 3];
        let h = Dense(6, activation = tanh)(x);
        let p = Dense(1, activation = sigmoid)(h);
        output p;
    }
}

/// The ranks' buffers, summed in rank order by every rank.
struct Shared {
    slots: Mutex<Vec<Vec<f32>>>,
    bytes: Mutex<Vec<u8>>,
    barrier: Barrier,
}

struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&mut self, buffer: &mut [f32]) -> kiln::Result<()> {
        self.shared.slots.lock().unwrap()[self.rank] = buffer.to_vec();
        self.shared.barrier.wait();
        {
            let slots = self.shared.slots.lock().unwrap();
            for (i, b) in buffer.iter_mut().enumerate() {
                *b = slots.iter().map(|s| s[i]).sum();
            }
        }
        self.shared.barrier.wait();
        Ok(())
    }
    fn broadcast_bytes(&mut self, bytes: &mut Vec<u8>) -> kiln::Result<()> {
        if self.rank == 0 {
            *self.shared.bytes.lock().unwrap() = bytes.clone();
        }
        self.shared.barrier.wait();
        if self.rank != 0 {
            *bytes = self.shared.bytes.lock().unwrap().clone();
        }
        self.shared.barrier.wait();
        Ok(())
    }
}

fn data() -> (Vec<[f32; 3]>, Vec<[f32; 1]>) {
    let x: Vec<[f32; 3]> =
        (0..40).map(|i| [(i as f32 * 0.3).sin(), (i as f32 * 0.17).cos(), (i % 4) as f32 / 3.0]).collect();
    let y = x.iter().map(|s| [(s[0] * s[1] + s[2] > 0.3) as u8 as f32]).collect();
    (x, y)
}

/// `seed` differs per rank on purpose: `distributed` must replace every
/// rank's weights and shuffling generator by rank 0's.
fn model(seed: u64) -> Model<Net> {
    let mut model = Net::new(seed).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::Accuracy]);
    model.set_shuffle_seed(seed + 100);
    model
}

fn params(model: &Model<Net>) -> Vec<f32> {
    let mut all = Vec::new();
    model.network().params(&mut |p| all.extend_from_slice(&p.value));
    all
}

#[test]
fn two_threads_train_like_one_process_with_the_global_batch() {
    // 40 samples in global batches of 9: every batch splits 4 + 5, the last
    // one (4 samples) 2 + 2.
    let (x, y) = data();
    let mut single = model(3);
    let h = single.fit(&x, &y).batch_size(9).epochs(4).verbose(0).run().unwrap();
    let expected = params(&single);
    let expected_loss = h.get("loss").unwrap().to_vec();

    let shared =
        Arc::new(Shared { slots: Mutex::new(vec![Vec::new(); 2]), bytes: Mutex::default(), barrier: Barrier::new(2) });
    let results: Vec<(Vec<f32>, Vec<f32>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|rank| {
                let shared = Arc::clone(&shared);
                let (x, y) = (&x, &y);
                s.spawn(move || {
                    let collective = Box::new(Threads { rank, size: 2, shared });
                    let mut m = model(3 + 10 * rank as u64).distributed(collective).unwrap();
                    assert_eq!(m.replica(), (rank, 2));
                    let h = m.fit(x, y).batch_size(9).epochs(4).verbose(0).run().unwrap();
                    (params(&m), h.get("loss").unwrap().to_vec())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (rank, (got, loss)) in results.iter().enumerate() {
        // Same tolerance and reason as tests/distributed.rs: the same sums
        // in another order, a few float32 ulps; an unweighted mean of the
        // 4- and 5-sample gradients would be off by ~1e-2.
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "rank {rank}, weight {i}: {g} vs {e}");
        }
        // The logged loss is the global batch's on every rank.
        for (l, e) in loss.iter().zip(&expected_loss) {
            assert!((l - e).abs() <= 1e-5 * e.abs(), "rank {rank}: loss {l} vs {e}");
        }
    }
}
