//! Zero-allocation claims, proven with a counting global allocator:
//! `predict_one` never touches the heap, and a training step allocates
//! nothing once the first step has sized the workspace and optimizer slots.

use kiln::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static BYTES: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only the measuring thread counts (tests run on several threads).
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MEASURING.with(Cell::get) {
            BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if MEASURING.with(Cell::get) {
            BYTES.fetch_add(new_size, Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap allocations (calls, bytes) made by `f` on this thread. Tests that
/// measure share the global counters, so they run one at a time.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, usize, R) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (calls, bytes) = (CALLS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    MEASURING.with(|m| m.set(true));
    let result = f();
    MEASURING.with(|m| m.set(false));
    (CALLS.load(Ordering::SeqCst) - calls, BYTES.load(Ordering::SeqCst) - bytes, result)
}

kiln::model! {
    /// The tutorials' MLP.
    struct Mlp {
        input image: [f32; 28, 28];
        let flat = Flatten()(image);
        let h1 = Dense(300, activation = relu)(flat);
        let h2 = Dense(100, activation = relu)(h1);
        let probs = Dense(10, activation = softmax)(h2);
        output probs;
    }
}

fn images(n: usize) -> Vec<[[f32; 28]; 28]> {
    (0..n)
        .map(|s| std::array::from_fn(|r| std::array::from_fn(|c| ((s * 31 + r * 7 + c) % 17) as f32 / 17.0)))
        .collect()
}

#[test]
fn counting_allocator_sees_allocations() {
    let (calls, bytes, v) = allocations(|| vec![0u8; 100]);
    assert_eq!((calls, bytes, v.len()), (1, 100, 100));
}

#[test]
fn predict_one_allocates_nothing() {
    let model = Mlp::new(0);
    let x = images(1);
    let (calls, bytes, out) = allocations(|| model.predict_one(&x[0]));
    assert_eq!((calls, bytes), (0, 0), "predict_one allocated");
    assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn training_steps_after_the_first_allocate_nothing() {
    let x = images(128);
    let y: Vec<u32> = (0..128).map(|i| i % 10).collect();
    for optimizer in
        [Box::new(Adam::default()) as Box<dyn Optimizer>, Box::new(Sgd::new(0.01).with_momentum(0.9, true))]
    {
        let mut model = Mlp::new(0).compile(optimizer, SparseCategoricalCrossentropy, &[Metric::Accuracy]);
        let first = model.train_on_batch(&x, &y).unwrap();
        let (calls, bytes, second) = allocations(|| model.train_on_batch(&x, &y).unwrap());
        assert_eq!((calls, bytes), (0, 0), "{} step allocated", model.optimizer().name());
        assert!(second < first, "the loss should fall: {first} → {second}");
        // A smaller final batch reuses the same workspace.
        let (calls, _, _) = allocations(|| model.train_on_batch(&x[..17], &y[..17]).unwrap());
        assert_eq!(calls, 0);
    }
}
