//! Every optimizer, with each kind of gradient clipping, weight decay and a
//! schedule, takes steps without allocating once the first step has sized
//! its slots and scratch space (a global allocator counting per thread).

use kiln::optimizers::{
    step, Adadelta, Adagrad, Adam, AdamW, Adamax, CosineDecay, ExponentialDecay, Lion, Nadam, Optimizer, RmsProp, Sgd,
};
use kiln::param::Param;

mod support;

// Counts per thread: an allocation by the test harness's own thread (its
// "running for over 60 seconds" notice on a loaded machine) is not the
// optimizer's, and once made this test fail at random.
#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

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
            let (allocations, result) =
                support::allocations(|| step(&mut *opt, |visit| params.iter_mut().for_each(&mut *visit)));
            result.unwrap();
            if s > 0 {
                assert_eq!(allocations, 0, "{} step {s} allocated", opt.name());
            }
        }
    }
}
