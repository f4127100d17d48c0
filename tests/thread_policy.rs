//! The thread split policy (`kiln::parallel`): which products split at two
//! threads, that alternating sizes across the split threshold allocates
//! nothing once each size has run once (whichever thread runs which part),
//! and that split results have exactly the bits of unsplit ones.
//!
//! One `#[test]`: the counting allocator counts every thread's allocations,
//! so nothing else may run meanwhile.

use kiln::network::Network;
use kiln::parallel::{gemm_parts, set_num_threads, set_split_gate, vec_mat_parts};
use kiln::prelude::*;
use kiln::simd::{with_isa, Isa};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static MEASURING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MEASURING.load(Ordering::Relaxed) {
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if MEASURING.load(Ordering::Relaxed) {
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap allocations made while `f` runs, on any thread (helpers included).
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = CALLS.load(Ordering::SeqCst);
    MEASURING.store(true, Ordering::SeqCst);
    let result = f();
    MEASURING.store(false, Ordering::SeqCst);
    (CALLS.load(Ordering::SeqCst) - before, result)
}

kiln::model! {
    /// The benchmark MLP (W1, W3).
    struct Mlp {
        input image: [f32; 784];
        let h1 = Dense(300, activation = relu)(image);
        let h2 = Dense(100, activation = relu)(h1);
        let probs = Dense(10, activation = softmax)(h2);
        output probs;
    }
}

fn images(n: usize, seed: usize) -> Vec<[f32; 784]> {
    (0..n).map(|s| std::array::from_fn(|i| ((s * 131 + i * 7 + seed) % 255) as f32 / 255.0 - 0.5)).collect()
}

fn labels(n: usize) -> Vec<u32> {
    (0..n).map(|i| (i * 7 % 10) as u32).collect()
}

/// The policy's claims at two threads: the benchmark's large products
/// split (MLP training at batch 128, inference at batch 1024, the W4
/// convolutions' im2col products, the MLP's first one-sample product),
/// small ones do not, and one thread never splits.
fn the_policy_splits_large_products_only() {
    set_num_threads(2);
    for (m, n, k) in [
        (128, 300, 784),
        (784, 300, 128),
        (128, 784, 300),
        (1024, 300, 784),
        (1024, 100, 300),
        (128, 100, 300),
        (300, 100, 128),
    ] {
        assert_eq!(gemm_parts(m, n, k), 2, "{m}×{n}×{k} should split at 2 threads");
    }
    for (m, n, k) in [(1, 300, 784), (4, 300, 784), (128, 10, 100), (64, 64, 64), (1024, 10, 100), (64, 256, 64)] {
        assert_eq!(gemm_parts(m, n, k), 1, "{m}×{n}×{k} should stay on one thread");
    }
    // The first convolution's ∂K (9×32×29068) is cut by columns: one
    // 32-wide tile under AVX-512 (a second part would have no work), two
    // 16-wide tiles under AVX2 and the portable path, where the split pays
    // (1.35×, 12 of 12 rounds, AMD Zen 3: docs/DESIGN.md).
    let conv_dk = |isa| with_isa(isa, || gemm_parts(9, 32, 29068));
    for (isa, parts) in [(Isa::Avx512, 1), (Isa::Avx2, 2), (Isa::Portable, 2)] {
        match conv_dk(isa) {
            Some(got) => assert_eq!(got, parts, "9×32×29068 under {isa}: {parts} part(s)"),
            None => eprintln!("skipped: this CPU lacks {isa}"),
        }
    }
    // A dense layer's one-sample product splits by size only from 64k
    // weights per part (and then, at run time, only onto a helper that is
    // awake: `parallel`'s unit tests).
    for (k, n) in [(784, 300), (2048, 2048)] {
        assert_eq!(vec_mat_parts(k, n), 2, "vec_mat {k}×{n} should split at 2 threads");
    }
    for (k, n) in [(300, 100), (100, 10), (64, 256)] {
        assert_eq!(vec_mat_parts(k, n), 1, "vec_mat {k}×{n} should stay on one thread");
    }
    set_num_threads(1);
    assert_eq!(gemm_parts(1024, 300, 784), 1, "one thread never splits");
}

/// An epoch-like alternation of a batch whose products split and one whose
/// products do not (and inference at both): after each size has run once,
/// nothing allocates, on any thread, in any later round — whichever thread
/// claims which part (the old per-thread packing buffers grew when a
/// helper first ran a part it had not run in warm-up).
fn alternating_across_the_threshold_allocates_nothing() {
    set_num_threads(2);
    let (big, small) = (128, 7);
    assert!(gemm_parts(big, 300, 784) > 1 && gemm_parts(small, 300, 784) == 1, "the sizes straddle the threshold");
    let x = images(big, 0);
    let y = labels(big);
    let mut model = Mlp::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    let inference = images(1024, 3);
    let flat = kiln::sample::flatten(&inference);
    let mut workspace = model.network().workspace(1024);
    // Warm-up: each size once (sizes the workspace, the optimizer's slots,
    // the parts' packing buffers and starts the helper).
    model.train_on_batch(&x, &y).unwrap();
    model.train_on_batch(&x[..small], &y[..small]).unwrap();
    model.network().forward(&mut workspace, flat, 1024, false);
    model.network().forward(&mut workspace, &flat[..small * 784], small, false);
    for (round, sample) in inference.iter().enumerate().take(20) {
        // Odd rounds split every product above the thresholds; even ones
        // leave it to the gate (which on a busy machine splits none).
        set_split_gate(round % 2 == 0);
        let (calls, _) = allocations(|| {
            model.train_on_batch(&x, &y).unwrap();
            model.train_on_batch(&x[..small], &y[..small]).unwrap();
            model.network().forward(&mut workspace, flat, 1024, false);
            model.network().forward(&mut workspace, &flat[..small * 784], small, false);
            model.network().predict_one(sample)
        });
        assert_eq!(calls, 0, "round {round}: alternating batch sizes across the split threshold allocated");
    }
    set_split_gate(true);
    set_num_threads(1);
}

/// Trains 3 steps at `batch` and predicts 1024 samples at `threads`, then
/// 50 one at a time (back to back, so a helper is awake for some).
fn train_and_predict(threads: usize, batch: usize) -> (Vec<f32>, Vec<[f32; 10]>, Vec<[f32; 10]>) {
    set_num_threads(threads);
    // Split whatever the machine's load (the gate would keep a busy
    // machine's products whole, and this test would compare nothing).
    set_split_gate(false);
    let x = images(batch, 1);
    let y = labels(batch);
    let mut model = Mlp::new(7).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    for _ in 0..3 {
        model.train_on_batch(&x, &y).unwrap();
    }
    let probs = model.predict(&images(1024, 2), 1024).unwrap();
    let one_by_one = images(50, 3).iter().map(|x| model.network().predict_one(x)).collect();
    let mut weights = Vec::new();
    model.network().params(&mut |p| weights.extend_from_slice(&p.value));
    set_num_threads(1);
    set_split_gate(true);
    (weights, probs, one_by_one)
}

/// A split product cuts the output by rows or columns and computes each
/// element with the same sums in the same order, so two threads give the
/// bits of one: after three training steps at batch 128 (every layer's
/// forward, ∂W and ∂x products split) and in inference at batch 1024.
fn split_results_have_the_bits_of_unsplit_ones() {
    let one = train_and_predict(1, 128);
    for _ in 0..3 {
        let two = train_and_predict(2, 128);
        assert!(one.0 == two.0, "weights after three steps differ between 1 and 2 threads");
        assert!(one.1 == two.1, "batch-1024 predictions differ between 1 and 2 threads");
        assert!(one.2 == two.2, "one-sample predictions differ between 1 and 2 threads");
    }
    assert!(one.1.iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5));
}

#[test]
fn thread_policy() {
    the_policy_splits_large_products_only();
    alternating_across_the_threshold_allocates_nothing();
    split_results_have_the_bits_of_unsplit_ones();
}
