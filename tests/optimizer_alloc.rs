//! Every optimizer, with each kind of gradient clipping, weight decay and a
//! schedule, takes steps without allocating once the first step has sized
//! its slots and scratch space (counting global allocator; one `#[test]`
//! in this file so that nothing else allocates meanwhile).

use kiln::optimizers::{
    step, Adadelta, Adagrad, Adam, AdamW, Adamax, CosineDecay, ExponentialDecay, Lion, Nadam, Optimizer, RmsProp, Sgd,
};
use kiln::param::Param;
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

#[test]
fn steps_after_the_first_allocate_nothing() {
    let optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Sgd::new(0.1).with_momentum(0.9, true).with_global_clipnorm(1.0).with_weight_decay(0.01)),
        Box::new(Adam::default().with_clipnorm(0.5).with_schedule(ExponentialDecay::new(0.01, 10, 0.9))),
        Box::new(RmsProp::default().with_clipvalue(0.1)),
        Box::new(Adagrad::default().with_global_clipnorm(0.3)),
        Box::new(Adadelta::default().with_clipnorm(1.0)),
        Box::new(Adamax::default().with_global_clipnorm(2.0)),
        Box::new(Nadam::default().with_clipvalue(1.0)),
        Box::new(AdamW::default().with_schedule(CosineDecay::new(0.0, 10).with_warmup(0.01, 3))),
        Box::new(Lion::default().with_global_clipnorm(1.0)),
    ];
    // Parameters of several sizes, the largest not first, so that the
    // scratch space is sized by the first step, not by the first parameter.
    let mut params: Vec<Param> = [3usize, 9000, 70].iter().map(|&n| Param::zeros("kernel", &[n])).collect();
    for mut opt in optimizers {
        for s in 0..4 {
            for p in &mut params {
                p.grad.iter_mut().enumerate().for_each(|(i, g)| *g = ((i + s) as f32 * 0.37).sin());
            }
            let before = CALLS.load(Ordering::SeqCst);
            MEASURING.store(s > 0, Ordering::SeqCst);
            step(&mut *opt, |visit| params.iter_mut().for_each(&mut *visit));
            MEASURING.store(false, Ordering::SeqCst);
            if s > 0 {
                assert_eq!(CALLS.load(Ordering::SeqCst) - before, 0, "{} step {s} allocated", opt.name());
            }
        }
    }
}
