//! GEMM and vector–matrix throughput at the MLP's shapes (for tuning the
//! kernels; no peer). `KILN_THREADS=2 cargo bench --bench kernels` for two threads.

use kiln::gemm::{sgemm, vec_mat, Mat, Scratch};
use std::hint::black_box;
use std::time::Instant;

/// Best of seven rounds of `reps` calls, in seconds per call.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps.min(20)).for_each(|_| f());
    (0..7)
        .map(|_| {
            let t = Instant::now();
            (0..reps).for_each(|_| f());
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    println!("threads: {}", kiln::parallel::num_threads());
    let mut scratch = Scratch::default();
    // (m, n, k, A transposed, B transposed): the MLP's forward, ∂W and ∂x products at batch 128.
    let shapes = [
        (128, 300, 784, false, false),
        (784, 300, 128, true, false),
        (128, 784, 300, false, true),
        (128, 100, 300, false, false),
        (512, 512, 512, false, false),
    ];
    for (m, n, k, ta, tb) in shapes {
        let (a, b) = (vec![0.5f32; m * k], vec![0.25f32; k * n]);
        let mut c = vec![0.0f32; m * n];
        let am = if ta { Mat::transposed(&a, m) } else { Mat::row_major(&a, k) };
        let bm = if tb { Mat::transposed(&b, k) } else { Mat::row_major(&b, n) };
        let t = best(50, || sgemm(m, n, k, am, bm, black_box(&mut c), n, true, &mut scratch));
        println!("sgemm {m}x{n}x{k} (ta={ta}, tb={tb}): {:.1} GFLOP/s", 2.0 * (m * n * k) as f64 / t / 1e9);
    }
    for (k, n) in [(784, 300), (300, 100)] {
        let (w, x) = (vec![0.5f32; k * n], vec![0.25f32; k]);
        let mut y = vec![0.0f32; n];
        let t = best(2000, || vec_mat(black_box(&x), &w, &mut y));
        println!("vec_mat {k}x{n}: {:.2} us ({:.1} GB/s of weights)", t * 1e6, (k * n * 4) as f64 / t / 1e9);
    }
}
