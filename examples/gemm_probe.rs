use kiln::gemm::{sgemm, Mat, Scratch};
use std::time::Instant;
fn main() {
    let mut s = Scratch::default();
    for &(m, n, k, ta, tb) in &[(128usize, 300usize, 784usize, false, false), (784, 300, 128, true, false), (128, 784, 300, false, true), (128,100,300,false,false), (300,100,128,true,false), (512,512,512,false,false)] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let am = if ta { Mat::transposed(&a, m) } else { Mat::row_major(&a, k) };
        let bm = if tb { Mat::transposed(&b, k) } else { Mat::row_major(&b, n) };
        for _ in 0..10 { sgemm(m, n, k, am, bm, &mut c, n, true, &mut s); }
        let reps = 50;
        let mut dt = f64::INFINITY;
        for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..reps { sgemm(m, n, k, am, bm, &mut c, n, true, &mut s); }
        dt = dt.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        println!("{m}x{n}x{k} ta={ta} tb={tb}: {:.1} GFLOP/s ({:.1} us)", 2.0 * (m * n * k) as f64 / dt / 1e9, dt * 1e6);
    }
}
