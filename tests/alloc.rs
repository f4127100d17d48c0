//! Zero-allocation claims, proven with a counting global allocator:
//! `predict_one` never touches the heap, and a training step allocates
//! nothing once the first step has sized the workspace and optimizer slots.

use kiln::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

static BYTES: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Counts allocations on every thread (kiln's helper threads included);
/// this file has a single `#[test]` so nothing else runs meanwhile.
static MEASURING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MEASURING.load(Ordering::Relaxed) {
            BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if MEASURING.load(Ordering::Relaxed) {
            BYTES.fetch_add(new_size, Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap allocations (calls, bytes) made while `f` runs, on any thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, usize, R) {
    let (calls, bytes) = (CALLS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    MEASURING.store(true, Ordering::SeqCst);
    let result = f();
    MEASURING.store(false, Ordering::SeqCst);
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

kiln::model! {
    /// The tutorials' text classifier, with a GRU and a reduction beside the LSTM.
    struct Text {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 64)(tokens);
        let states = GRU(32, return_sequences = true)(embedded);
        let encoding = LSTM(64)(states);
        let prob = Dense(1, activation = sigmoid)(encoding);
        output prob;
    }
}

kiln::model! {
    /// SimpleRNN and a reduction.
    struct Pooled {
        input tokens: [u32; 16];
        let embedded = Embedding(4, 8)(tokens);
        let states = SimpleRNN(8, return_sequences = true)(embedded);
        let pooled = reduce_max(states, axis = 1);
        let probs = Dense(2, activation = softmax)(pooled);
        output probs;
    }
}

kiln::model! {
    /// Two inputs (ids and features), two outputs, a merge.
    struct TwoByTwo {
        input words: [u32; 10];
        input features: [f32; 5];
        let embedded = Embedding(20, 8)(words);
        let encoded = GRU(8)(embedded);
        let aux = Dense(1, activation = sigmoid, name = "aux_output")(encoded);
        let joined = concatenate([encoded, features]);
        let main = Dense(3, activation = softmax, name = "main_output")(joined);
        output main, aux;
    }
}

kiln::model! {
    /// 80,012 bytes of activations per sample: above the 64 KiB that
    /// `predict_one` keeps on the stack.
    struct Broad {
        input x: [f32; 4];
        let hidden = Dense(20_000, activation = relu)(x);
        let y = Dense(3)(hidden);
        output y;
    }
}

/// `predict_one_with` never allocates, for a model above the stack limit
/// and one below it; a large model's `predict_one` allocates its scratch on
/// a thread's first call only.
fn predict_one_with_allocates_nothing() {
    let broad = Broad::new(0);
    let x = [[0.5f32, -1.0, 0.25, 2.0], [1.0, 0.0, -0.5, 0.75]];
    let mut scratch = BroadOneSample::new();
    let (calls, bytes, with) =
        allocations(|| [broad.predict_one_with(&mut scratch, &x[0]), broad.predict_one_with(&mut scratch, &x[1])]);
    assert_eq!((calls, bytes), (0, 0), "predict_one_with allocated");

    let (first, second, one) = std::thread::scope(|s| {
        s.spawn(|| {
            let (calls, bytes, a) = allocations(|| broad.predict_one(&x[0]));
            let (again, again_bytes, b) = allocations(|| broad.predict_one(&x[1]));
            ((calls, bytes), (again, again_bytes), [a, b])
        })
        .join()
        .unwrap()
    });
    assert!(first.0 >= 1 && first.1 >= 80_012, "the thread's scratch is allocated on its first call: {first:?}");
    assert_eq!(second, (0, 0), "predict_one allocated again on the same thread");
    assert_eq!(one, with);

    let mlp = Mlp::new(0);
    let images = images(1);
    let mut scratch = MlpOneSample::new();
    let (calls, bytes, out) = allocations(|| mlp.predict_one_with(&mut scratch, &images[0]));
    assert_eq!((calls, bytes), (0, 0), "a small model's predict_one_with allocated");
    assert_eq!(out, mlp.predict_one(&images[0]));
}

fn multi_input_multi_output_steps_allocate_nothing() {
    let words: Vec<[u32; 10]> = (0..16).map(|s| std::array::from_fn(|t| ((s * 3 + t) % 20) as u32)).collect();
    let features: Vec<[f32; 5]> = (0..16).map(|s| std::array::from_fn(|i| (s + i) as f32 / 20.0)).collect();
    let main: Vec<u32> = (0..16).map(|s| s % 3).collect();
    let aux: Vec<[f32; 1]> = (0..16).map(|s| [(s % 2) as f32]).collect();
    let mut model = TwoByTwo::new(0)
        .compile(Adam::default(), BinaryCrossentropy, &[Metric::Accuracy])
        .output_losses(vec![Box::new(SparseCategoricalCrossentropy), Box::new(BinaryCrossentropy)])
        .loss_weights(&[1.0, 0.2]);
    model.train_on_batch((&words, &features), (&main, &aux)).unwrap();
    let (calls, bytes, _) = allocations(|| model.train_on_batch((&words, &features), (&main, &aux)).unwrap());
    assert_eq!((calls, bytes), (0, 0), "multi-input multi-output step allocated");
    let (calls, bytes, _) = allocations(|| model.predict_one(&words[0], &features[0]).unwrap());
    assert_eq!((calls, bytes), (0, 0));
}

fn sequence_models_allocate_nothing_after_the_first_step() {
    let x: Vec<[u32; 16]> = (0..8).map(|s| std::array::from_fn(|t| ((s * 5 + t * 3) % 4) as u32)).collect();
    let y: Vec<[f32; 1]> = (0..8).map(|s| [(s % 2) as f32]).collect();
    let mut text = Text::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[Metric::Accuracy]);
    text.train_on_batch(&x, &y).unwrap();
    let (calls, bytes, _) = allocations(|| text.train_on_batch(&x, &y).unwrap());
    assert_eq!((calls, bytes), (0, 0), "recurrent training step allocated");
    let (calls, bytes, p) = allocations(|| text.predict_one(&x[0]));
    assert_eq!((calls, bytes), (0, 0), "recurrent predict_one allocated");
    assert!(p.unwrap()[0].is_finite());

    let labels: Vec<u32> = (0..8).map(|s| s % 2).collect();
    let mut pooled = Pooled::new(0).compile(Sgd::new(0.1), SparseCategoricalCrossentropy, &[]);
    pooled.train_on_batch(&x, &labels).unwrap();
    let (calls, bytes, _) = allocations(|| {
        pooled.train_on_batch(&x, &labels).unwrap();
        pooled.predict_one(&x[1]).unwrap()
    });
    assert_eq!((calls, bytes), (0, 0));
}

fn images(n: usize) -> Vec<[[f32; 28]; 28]> {
    (0..n)
        .map(|s| std::array::from_fn(|r| std::array::from_fn(|c| ((s * 31 + r * 7 + c) % 17) as f32 / 17.0)))
        .collect()
}

#[test]
fn allocation_claims() {
    counting_allocator_sees_allocations();
    for threads in [1, 2] {
        kiln::parallel::set_num_threads(threads);
        predict_one_allocates_nothing();
        predict_one_with_allocates_nothing();
        training_steps_after_the_first_allocate_nothing();
        sequence_models_allocate_nothing_after_the_first_step();
        multi_input_multi_output_steps_allocate_nothing();
        fit_steps_allocate_nothing();
    }
}

/// A callback that reads every batch's logs.
struct ReadsLogs(f32);

impl<N: Network> Callback<N> for ReadsLogs {
    fn on_train_batch_end(&mut self, _: usize, logs: &Logs, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        self.0 += logs.get("loss").unwrap_or(0.0);
        Ok(())
    }
}

/// `fit`'s steps allocate nothing, with verbose 0, without callbacks and
/// with one reading the batch logs: an epoch of 12 steps allocates exactly
/// what an epoch of 4 steps does (its per-epoch logs, history, buffers).
fn fit_steps_allocate_nothing() {
    let x = images(64);
    let y: Vec<u32> = (0..64).map(|i| i % 10).collect();
    let mut model = Mlp::new(0).compile(Sgd::new(0.01), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    let fit = |model: &mut Model<Mlp>, steps: usize, callback: Option<&mut ReadsLogs>| {
        let f = model.fit(&x, &y).epochs(1).batch_size(16).steps_per_epoch(steps).verbose(0);
        match callback {
            Some(c) => f.callback(c).run().unwrap(),
            None => f.run().unwrap(),
        }
    };
    fit(&mut model, 4, None); // sizes the workspace and the optimizer's slots
    let (calls4, bytes4, _) = allocations(|| fit(&mut model, 4, None));
    let (calls12, bytes12, _) = allocations(|| fit(&mut model, 12, None));
    assert_eq!((calls12, bytes12), (calls4, bytes4), "fit's steps allocated without callbacks");
    let mut reader = ReadsLogs(0.0);
    let (calls4, bytes4, _) = allocations(|| fit(&mut model, 4, Some(&mut reader)));
    let (calls12, bytes12, _) = allocations(|| fit(&mut model, 12, Some(&mut reader)));
    assert_eq!((calls12, bytes12), (calls4, bytes4), "fit's steps allocated with a callback");
    assert!(reader.0 > 0.0);
}

fn counting_allocator_sees_allocations() {
    let (calls, bytes, v) = allocations(|| vec![0u8; 100]);
    assert_eq!((calls, bytes, v.len()), (1, 100, 100));
}

fn predict_one_allocates_nothing() {
    let model = Mlp::new(0);
    let x = images(1);
    model.predict_one(&x[0]); // starts the helper threads, if any
    let (calls, bytes, out) = allocations(|| model.predict_one(&x[0]));
    assert_eq!((calls, bytes), (0, 0), "predict_one allocated");
    assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

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
        // A smaller final batch reuses the workspace; its products may need
        // larger packing buffers once (a different split across threads).
        model.train_on_batch(&x[..17], &y[..17]).unwrap();
        let (calls, bytes, _) = allocations(|| {
            model.train_on_batch(&x, &y).unwrap();
            model.train_on_batch(&x[..17], &y[..17]).unwrap()
        });
        assert_eq!((calls, bytes), (0, 0), "an epoch-like alternation of batch sizes allocated");
    }
}
