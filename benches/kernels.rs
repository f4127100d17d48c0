//! Kernel throughput per instruction-set path, side by side: SGEMM at the
//! MLP's shapes (GFLOP/s), one-sample `vec_mat` and `small_gemm`, and a
//! dispatched element-wise loop. Each cell is the median of per-call
//! times, with the range of the 10th–90th percentiles in brackets.
//!
//! ```text
//! cargo bench --bench kernels            # every path this CPU runs
//! KILN_THREADS=2 cargo bench --bench kernels
//! cargo bench --bench kernels -- --filter sgemm --isa avx512   # some rows, one path
//! ```

use kiln::activations::Activation;
use kiln::gemm::{sgemm, small_gemm, vec_mat, Mat, Scratch};
use kiln::simd::{with_isa, Isa};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Per-call seconds: (10th percentile, median, 90th percentile) of every
/// call timed on its own for ~0.3 s after a warm-up. Most calls here are
/// shorter than a scheduler time slice, so on a shared machine the fast
/// end shows the kernel and the slow end the neighbours.
fn per_call(mut f: impl FnMut()) -> [f64; 3] {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(30) || calls < 2 {
        f();
        calls += 1;
    }
    let mut times = Vec::with_capacity(calls as usize * 12);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) || times.len() < 5 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    [at(0.1), at(0.5), at(0.9)]
}

/// One row of the table: `measure(isa)` for every path, printed as
/// `value(median) [lo–hi]` through `show` (which turns seconds into the unit).
fn row(label: &str, show: impl Fn(f64) -> f64, mut measure: impl FnMut() -> [f64; 3]) {
    if !label.contains(&option("--filter").unwrap_or_default()) {
        return;
    }
    print!("{label:<34}");
    for isa in paths() {
        match with_isa(isa, &mut measure) {
            Some([p10, med, p90]) => {
                // A faster call is a larger rate: the 10th percentile time is the high end.
                let (a, b, c) = (show(p10), show(med), show(p90));
                let (lo, hi) = if a < c { (a, c) } else { (c, a) };
                print!(" {:>8.2} [{:>7.2}–{:<7.2}]", b, lo, hi);
            }
            None => print!(" {:>26}", "(not on this CPU)"),
        }
    }
    println!();
}

/// The value after `name` on the command line.
fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// The paths to measure: `--isa NAME`, else all.
fn paths() -> Vec<Isa> {
    match option("--isa") {
        Some(name) => Isa::from_name(&name).into_iter().collect(),
        None => Isa::ALL.to_vec(),
    }
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cpu: {cpu}; threads: {}; default path: {}", kiln::parallel::num_threads(), kiln::simd::isa());
    print!("{:<34}", "");
    for isa in paths() {
        print!(" {:>26}", isa.name());
    }
    println!();
    let mut scratch = Scratch::default();
    // (m, n, k, A transposed, B transposed): the MLP's forward, ∂W and ∂x products at batch 128,
    // its first layer at batch 1024 (inference), and a square product.
    let shapes = [
        (128, 300, 784, false, false),
        (784, 300, 128, true, false),
        (128, 784, 300, false, true),
        (128, 100, 300, false, false),
        (1024, 300, 784, false, false),
        (1024, 100, 300, false, false),
        (512, 512, 512, false, false),
    ];
    for (m, n, k, ta, tb) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.25 - 0.75).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.125 - 0.25).collect();
        let mut c = vec![0.0f32; m * n];
        let am = if ta { Mat::transposed(&a, m) } else { Mat::row_major(&a, k) };
        let bm = if tb { Mat::transposed(&b, k) } else { Mat::row_major(&b, n) };
        let flops = 2.0 * (m * n * k) as f64;
        let label = format!("sgemm {m}x{n}x{k}{}{} GFLOP/s", if ta { " Aᵀ" } else { "" }, if tb { " Bᵀ" } else { "" });
        row(
            &label,
            |t| flops / t / 1e9,
            || per_call(|| sgemm(m, n, k, am, bm, black_box(&mut c), n, false, &mut scratch)),
        );
    }
    for (k, n) in [(784, 300), (300, 100), (64, 256), (2048, 2048)] {
        let w: Vec<f32> = (0..k * n).map(|i| (i % 9) as f32 * 0.1).collect();
        let x = vec![0.25f32; k];
        let mut y = vec![0.0f32; n];
        row(&format!("vec_mat {k}x{n} µs"), |t| t * 1e6, || per_call(|| vec_mat(black_box(&x), &w, &mut y)));
    }
    {
        // An LSTM's input projection for one sample: 16 steps × 64 inputs × 4·64 gates.
        let (m, k, n) = (16, 64, 256);
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        row("small_gemm 16x64x256 µs", |t| t * 1e6, || per_call(|| small_gemm(m, k, n, black_box(&a), &b, &mut c)));
    }
    for (act, name) in [(Activation::Relu, "relu"), (Activation::Sigmoid, "sigmoid")] {
        let mut v: Vec<f32> = (0..128 * 300).map(|i| (i % 17) as f32 * 0.1 - 0.8).collect();
        row(&format!("{name} 128x300 µs"), |t| t * 1e6, || per_call(|| act.forward_in_place(black_box(&mut v), 300)));
    }
    {
        // A classifier's output at batch 1024 (repeated calls converge to
        // rows of 0.1: ordinary values, no special cases).
        let mut v: Vec<f32> = (0..1024 * 10).map(|i| (i % 19) as f32 * 0.7 - 6.0).collect();
        row(
            "softmax 1024x10 µs",
            |t| t * 1e6,
            || per_call(|| Activation::Softmax.forward_in_place(black_box(&mut v), 10)),
        );
    }
    {
        // Relu's gradient leaves a value or zeroes it, so repeated calls
        // reach a fixed point (no underflow into subnormals, as sigmoid's would).
        let y: Vec<f32> = (0..128 * 300).map(|i| if i % 3 == 0 { 0.0 } else { (i % 17) as f32 * 0.1 }).collect();
        let mut g: Vec<f32> = (0..128 * 300).map(|i| (i % 13) as f32 * 0.1 - 0.6).collect();
        row(
            "relu′ 128x300 µs",
            |t| t * 1e6,
            || per_call(|| Activation::Relu.backward_in_place(black_box(&y), black_box(&mut g), 300)),
        );
    }
}
