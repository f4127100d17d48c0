//! `nalgebra` interop (feature `nalgebra`): values equal `predict_one`'s,
//! and a prediction on a static vector allocates nothing.
#![cfg(feature = "nalgebra")]

use kiln::nalgebra_interop::PredictVector;
use nalgebra::{Const, Dyn, OMatrix, SVector};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

kiln::model! {
    struct Mlp {
        input x: [f32; 12];
        let h = Dense(32, activation = tanh)(x);
        let y = Dense(4, activation = softmax)(h);
        output y;
    }
}

#[test]
fn vectors_and_columns_predict_as_arrays_do() {
    let net = Mlp::new(3);
    let samples: Vec<[f32; 12]> = (0..5).map(|s| std::array::from_fn(|i| ((s * 12 + i) as f32 * 0.3).sin())).collect();
    for s in &samples {
        let v = SVector::<f32, 12>::from(*s);
        assert_eq!(net.predict_vector(&v).unwrap().data.0[0], net.predict_one(s));
    }
    let columns = OMatrix::<f32, Const<12>, Dyn>::from_column_slice(samples.as_flattened());
    let out = net.predict_columns(&columns).unwrap();
    assert_eq!(out.ncols(), samples.len());
    for (s, column) in samples.iter().zip(out.column_iter()) {
        assert_eq!(column.as_slice(), &net.predict_one(s)[..]);
    }

    let v = SVector::<f32, 12>::from(samples[0]);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let y = net.predict_vector(&v).unwrap();
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), before, "predict_vector allocated");
    assert!((y.sum() - 1.0).abs() < 1e-6);
}
