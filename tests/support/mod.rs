//! Shared by the per-layer test files (`tests/layer_*.rs`): a counting
//! allocator that counts per thread (so tests in one binary may run in
//! parallel), a weights round trip, and a safetensors header decoded by
//! hand.
//!
//! A test file uses it with
//! ```ignore
//! mod support;
//! #[global_allocator]
//! static ALLOCATOR: support::Counting = support::Counting;
//! ```
#![allow(dead_code)]

use kiln::io::{load_weights_from_bytes, weights_to_bytes};
use kiln::network::Network;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting the calls made on each thread.
pub struct Counting;

thread_local! {
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = CALLS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap allocations (and reallocations) made on this thread while `f` runs.
/// Only meaningful in a test binary whose global allocator is [`Counting`].
pub fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = CALLS.with(Cell::get);
    let result = f();
    (CALLS.with(Cell::get) - before, result)
}

/// Every parameter's name and values, in visiting order.
pub fn params<N: Network>(net: &N) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    net.params(&mut |p| out.push((p.name.to_string(), p.shape.clone(), p.value.to_vec())));
    out
}

/// Saves `trained`'s weights to bytes, loads them into `fresh` (a model
/// of the same type built from another seed) and asserts every parameter
/// came back bit for bit, and that `fresh` differed before (so the test
/// can fail).
pub fn assert_weights_round_trip<N: Network>(trained: &N, fresh: &mut N) {
    let expected = params(trained);
    let differs_before = params(fresh) != expected;
    let bytes = weights_to_bytes(trained).expect("weights serialize");
    load_weights_from_bytes(fresh, &bytes).expect("weights load");
    let got = params(fresh);
    assert_eq!(got.len(), expected.len());
    for ((name, shape, value), (ename, eshape, evalue)) in got.iter().zip(&expected) {
        assert_eq!((name, shape), (ename, eshape));
        let same = value.iter().zip(evalue).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "parameter {name} changed in the round trip");
    }
    assert!(
        differs_before || expected.iter().all(|(_, _, v)| v.iter().all(|x| *x == 0.0)),
        "fresh model already equal"
    );
}

/// The tensors a safetensors file declares, `(name, dtype, shape)` sorted
/// by name, decoded by hand from the format's layout rather than by kiln's
/// reader (kiln_format::safetensors): bytes 0..8 are the header's length N
/// (little-endian `u64`), bytes 8..8+N a JSON object whose entries other
/// than `__metadata__` are tensors `{"dtype": "F32", "shape": [..], ..}`.
/// (dev-tests/tests/format_crosscheck.rs reads kiln's files with the
/// safetensors crate itself.)
pub fn safetensors_header(bytes: &[u8]) -> Vec<(String, String, Vec<usize>)> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: kiln::json::Value = std::str::from_utf8(&bytes[8..8 + n]).unwrap().parse().unwrap();
    let entries = header.as_object().expect("the header is a JSON object");
    let tensors = entries.iter().filter(|(name, _)| *name != "__metadata__");
    tensors
        .map(|(name, entry)| {
            let shape = entry["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            (name.clone(), entry["dtype"].as_str().unwrap().to_string(), shape)
        })
        .collect()
}
