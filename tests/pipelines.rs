//! Data pipelines: generators and `Dataset`s feeding `fit`, `evaluate`
//! and `predict`; tf.data's stage semantics; Keras's validation schedule
//! and per-batch logs (names from real Keras: tests/fixtures/pipelines_keras.py).

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

use kiln::data::{Cardinality, Dataset};
use kiln::prelude::*;
use kiln::train::{Callback, CallbackContext, Logs};
use kiln::Error;

kiln::model! {
    struct Net {
        input x: [f32; 6];
        let h = Dense(8, activation = tanh)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

kiln::model! {
    struct TwoOut {
        input a: [f32; 4];
        let h = Dense(3, activation = relu)(a);
        let main_output = Dense(1, activation = sigmoid, name = "main_output")(h);
        let aux_output = Dense(1, activation = sigmoid, name = "aux_output")(a);
        output main_output, aux_output;
    }
}

fn data(n: usize) -> (Vec<[f32; 6]>, Vec<u32>) {
    let x: Vec<[f32; 6]> = (0..n).map(|s| std::array::from_fn(|i| ((s * 7 + i * 5) % 11) as f32 / 5.0 - 1.0)).collect();
    let y = x.iter().map(|v| ((v[0] + v[1] + 2.0) * 0.75) as u32 % 3).collect();
    (x, y)
}

fn model() -> Model<Net> {
    // Momentum makes the result depend on the whole sequence of steps.
    Net::new(3).compile(Sgd::new(0.1).with_momentum(0.9, false), SparseCategoricalCrossentropy, &[Metric::Accuracy])
}

/// Every parameter's bits, in visiting order.
fn weights<N: Network>(net: &N) -> Vec<u32> {
    support::params(net).into_iter().flat_map(|(_, _, v)| v.into_iter().map(f32::to_bits)).collect()
}

#[test]
fn generator_and_dataset_fits_equal_in_memory_fit_bit_for_bit() {
    // 50 samples in batches of 8: six full batches and one of 2, per epoch.
    let (x, y) = data(50);
    let mut reference = model();
    let h0 = reference.fit(&x, &y).epochs(3).batch_size(8).shuffle(false).verbose(0).run().unwrap();
    let expected = weights(reference.network());
    assert_ne!(expected, weights(model().network()), "training changed the weights");

    // The same batches in the same order, from a generator of slices.
    let starts: Vec<usize> = (0..50).step_by(8).collect();
    let generator = starts.iter().cycle().map(|&s| (&x[s..(s + 8).min(50)], &y[s..(s + 8).min(50)]));
    let mut from_gen = model();
    let h1 = from_gen.fit_from(generator).steps_per_epoch(7).epochs(3).verbose(0).run().unwrap();
    assert_eq!(weights(from_gen.network()), expected);
    assert_eq!(h1.get("loss"), h0.get("loss"));
    assert_eq!(h1.get("accuracy"), h0.get("accuracy"));

    // Owned batches (`Vec`s, as a Python generator yields arrays) work the same.
    let owned = starts.iter().cycle().map(|&s| (x[s..(s + 8).min(50)].to_vec(), y[s..(s + 8).min(50)].to_vec()));
    let mut from_owned = model();
    from_owned.fit_generator(owned).steps_per_epoch(7).epochs(3).verbose(0).run().unwrap();
    assert_eq!(weights(from_owned.network()), expected);

    // A dataset of known size: each epoch is one pass, no steps_per_epoch needed;
    // with and without prefetching on a background thread.
    for prefetch in [0, 1, 3] {
        let ds = Dataset::from_slices(&x, &y).unwrap().batch(8).prefetch(prefetch);
        assert_eq!(ds.cardinality(), Cardinality::Finite(7));
        let mut from_ds = model();
        let h2 = from_ds.fit_from(&ds).epochs(3).verbose(0).run().unwrap();
        assert_eq!(weights(from_ds.network()), expected, "prefetch {prefetch}");
        assert_eq!(h2.get("loss"), h0.get("loss"));
    }
    // A finite dataset with steps_per_epoch: as Keras's EpochIterator, it
    // starts over once all its batches are read.
    let ds = Dataset::from_slices(&x, &y).unwrap().batch(8);
    let mut stepped = model();
    stepped.fit_from(&ds).steps_per_epoch(7).epochs(3).verbose(0).run().unwrap();
    assert_eq!(weights(stepped.network()), expected);
    // A repeated dataset read 7 batches per epoch, as the tutorial's `repeat()` + `steps_per_epoch`.
    let ds = Dataset::from_slices(&x, &y).unwrap().batch(8).repeat(None).prefetch(2);
    let mut repeated = model();
    repeated.fit_from(ds).steps_per_epoch(7).epochs(3).verbose(0).run().unwrap();
    assert_eq!(weights(repeated.network()), expected);
}

#[test]
fn prefetch_yields_what_the_pipeline_without_it_yields() {
    let (x, y) = data(37);
    let build = |prefetch: usize| {
        Dataset::from_slices(&x, &y)
            .unwrap()
            .map(|(x, y): ([f32; 6], u32)| (x.map(|v| v * 2.0), y))
            .shuffle(10, 42)
            .batch(5)
            .repeat(Some(3))
            .prefetch(prefetch)
    };
    let collect = |ds: &Dataset<kiln::data::Batch<[f32; 6], u32>>| -> Vec<(Vec<f32>, Vec<u32>)> {
        ds.iter().unwrap().map(|b| (b.x().to_vec(), b.y().to_vec())).collect()
    };
    let plain = collect(&build(0));
    assert_eq!(plain.len(), 24, "3 passes of ceil(37 / 5) = 8 batches");
    for n in [1, 2, 16] {
        assert_eq!(collect(&build(n)), plain, "prefetch({n})");
    }
}

/// The `i`-th element of each output of `ds` (elements are `(id, 0)` pairs).
fn order(ds: &Dataset<(u32, u32)>) -> Vec<u32> {
    ds.iter().unwrap().map(|(i, _)| i).collect()
}

fn ids(n: u32) -> Dataset<(u32, u32)> {
    let x: Vec<u32> = (0..n).collect();
    Dataset::from_slices(&x, &vec![0u32; n as usize]).unwrap()
}

#[test]
fn shuffle_has_tf_data_buffer_semantics() {
    // buffer_size 1: the buffer holds one element, which is always the one yielded.
    assert_eq!(order(&ids(10).shuffle(1, 5)), (0..10).collect::<Vec<_>>());
    // A buffer at least as large as the data: a permutation.
    for buffer in [10, 64] {
        let mut o = order(&ids(10).shuffle(buffer, 5));
        assert_ne!(o, (0..10).collect::<Vec<_>>());
        o.sort();
        assert_eq!(o, (0..10).collect::<Vec<_>>());
    }
    // Element k of the output is one of the first k + buffer_size inputs
    // (tf.data's docs: the first draw is from the first buffer_size elements,
    // each drawn slot is refilled by the next input).
    for seed in 0..50 {
        let o = order(&ids(30).shuffle(4, seed));
        assert!(o.iter().enumerate().all(|(k, &i)| (i as usize) < k + 4), "seed {seed}: {o:?}");
    }
    // Hand-worked: buffer 2 over [0, 1, 2]. Draw 0 or 1 (½ each), 2 takes its
    // slot; then draw from the remaining two (½ each). So 012, 021, 102, 120
    // each with probability ¼, and never 2 first.
    let mut counts = std::collections::BTreeMap::<Vec<u32>, usize>::new();
    for seed in 0..4000 {
        *counts.entry(order(&ids(3).shuffle(2, seed))).or_default() += 1;
    }
    let orders: Vec<&Vec<u32>> = counts.keys().collect();
    assert_eq!(orders, [&vec![0, 1, 2], &vec![0, 2, 1], &vec![1, 0, 2], &vec![1, 2, 0]]);
    for (o, &c) in &counts {
        // Binomial(4000, ¼): mean 1000, sd 27; ±150 is over 5 sd.
        assert!((850..=1150).contains(&c), "{o:?}: {c} of 4000");
    }
    // Seeded: the same seed gives the same sequence of orders; each pass
    // (reshuffle_each_iteration) draws a new one.
    let a = ids(20).shuffle(20, 9);
    let b = ids(20).shuffle(20, 9);
    let (a1, a2) = (order(&a), order(&a));
    assert_eq!((order(&b), order(&b)), (a1.clone(), a2.clone()));
    assert_ne!(a1, a2, "a new order each pass");
    assert_ne!(order(&ids(20).shuffle(20, 10)), a1, "another seed, another order");
    // repeat() re-runs the shuffle: the two passes are the two orders above.
    let repeated: Vec<u32> = ids(20).shuffle(20, 9).repeat(Some(2)).iter().unwrap().map(|(i, _)| i).collect();
    assert_eq!(repeated, [a1, a2].concat());
}

#[test]
fn batch_repeat_and_take_counts() {
    let sizes =
        |ds: Dataset<kiln::data::Batch<u32, u32>>| -> Vec<usize> { ds.iter().unwrap().map(|b| b.len()).collect() };
    assert_eq!(sizes(ids(10).batch(4)), [4, 4, 2]);
    assert_eq!(sizes(ids(10).batch_with(4, true)), [4, 4]);
    assert_eq!(sizes(ids(8).batch(4)), [4, 4]);
    assert_eq!(sizes(ids(10).batch(4).repeat(Some(2))), [4, 4, 2, 4, 4, 2]);
    assert_eq!(sizes(ids(10).repeat(Some(2)).batch(4)), [4, 4, 4, 4, 4]);
    assert_eq!(sizes(ids(10).batch(4).repeat(None).take(5)), [4, 4, 2, 4, 4]);
    assert_eq!(sizes(ids(10).take(3).batch(2)), [2, 1]);
    // Batches hold the elements in order.
    let first: Vec<u32> = ids(10).batch(4).iter().unwrap().nth(1).unwrap().x().to_vec();
    assert_eq!(first, [4, 5, 6, 7]);
    // Counts of plain elements, and the cardinality tf.data would report.
    assert_eq!(order(&ids(10).take(3)), [0, 1, 2]);
    assert_eq!(order(&ids(3).repeat(Some(2))), [0, 1, 2, 0, 1, 2]);
    assert_eq!(order(&ids(3).repeat(Some(0))), Vec::<u32>::new());
    assert_eq!(ids(3).repeat(None).take(7).iter().unwrap().count(), 7);
    assert_eq!(ids(0).repeat(None).iter().unwrap().count(), 0, "an empty dataset repeated is empty");
    assert_eq!(ids(10).batch(4).cardinality(), Cardinality::Finite(3));
    assert_eq!(ids(10).batch_with(4, true).repeat(Some(3)).cardinality(), Cardinality::Finite(6));
    assert_eq!(ids(10).repeat(None).cardinality(), Cardinality::Infinite);
    assert_eq!(ids(10).repeat(None).take(4).cardinality(), Cardinality::Finite(4));
    assert_eq!(ids(10).map(|e| e).shuffle(3, 0).prefetch(2).cardinality(), Cardinality::Finite(10));
    // Invalid arguments are errors naming them when the dataset is used.
    let err = ids(10).batch(0).iter().map(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "invalid argument `batch_size`: must be at least 1, but is 0");
    let err = ids(10).shuffle(0, 1).iter().map(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "invalid argument `buffer_size`: must be at least 1, but is 0");
}

/// Records, per epoch, whether the logs had `val_` entries, and counts test batches.
#[derive(Default)]
struct Record {
    epochs_with_val: Vec<usize>,
    test_batches: usize,
}

impl<N: Network> Callback<N> for Record {
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        if logs.iter().any(|(k, _)| k.starts_with("val_")) {
            self.epochs_with_val.push(epoch);
        }
        Ok(())
    }
    fn on_test_batch_end(&mut self, _: usize, _: &Logs, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
        self.test_batches += 1;
        Ok(())
    }
}

/// The lines of tests/fixtures/pipelines_keras.txt after `label`.
fn keras(label: &str) -> &'static str {
    let text = include_str!("fixtures/pipelines_keras.txt");
    let line = text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no `{label}` line"));
    line[label.len()..].trim()
}

fn sorted_keys(logs: &Logs) -> String {
    let mut keys: Vec<&str> = logs.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.join(" ")
}

fn two_out() -> Model<TwoOut> {
    TwoOut::new(0).compile(Sgd::new(0.01), BinaryCrossentropy, &[Metric::Accuracy]).loss_weights(&[1.0, 0.2])
}

fn two_out_data() -> (Vec<[f32; 4]>, Vec<[f32; 1]>) {
    let x: Vec<[f32; 4]> = (0..8).map(|s| std::array::from_fn(|i| ((s * 5 + i * 3) % 7) as f32 / 3.0 - 1.0)).collect();
    let y = x.iter().map(|v| [f32::from(u8::from(v[0] > 0.0))]).collect();
    (x, y)
}

#[test]
fn validation_freq_and_steps_follow_keras() {
    // Keras (fixture): 5 epochs, validation_freq = 2 → validation after
    // epochs 2 and 4 only; val_ entries in 2 of the 5 epochs' logs.
    assert_eq!(keras("epochs with val (0-based):"), "[1, 3]");
    let (x, y) = two_out_data();
    let gen = [0usize, 2, 4, 6].into_iter().cycle().map(|i| (&x[i..i + 2], (&y[i..i + 2], &y[i..i + 2])));
    let val = Dataset::from_slices(&x, (&y, &y)).unwrap().batch(4).repeat(None);
    let mut record = Record::default();
    let mut m = two_out();
    let history = m
        .fit_from(gen)
        .epochs(5)
        .steps_per_epoch(4)
        .validation_from(&val)
        .validation_steps(2)
        .validation_freq(2)
        .callback(&mut record)
        .verbose(0)
        .run()
        .unwrap();
    assert_eq!(record.epochs_with_val, [1, 3]);
    assert_eq!(record.test_batches, 4, "validation_steps = 2, twice");
    let lengths: Vec<String> = {
        let mut keys: Vec<&str> = history.keys().collect();
        keys.sort();
        keys.iter().map(|k| format!("{k}={}", history.get(k).unwrap().len())).collect()
    };
    assert_eq!(lengths.join(" "), keras("fit history:"));

    // In-memory validation data follows the same schedule.
    let mut record = Record::default();
    let (xs, ys) = data(20);
    model()
        .fit(&xs, &ys)
        .epochs(7)
        .validation_data(&xs[..6], &ys[..6])
        .validation_freq(3)
        .callback(&mut record)
        .verbose(0)
        .run()
        .unwrap();
    assert_eq!(record.epochs_with_val, [2, 5]);
}

#[test]
fn per_batch_calls_return_keras_logs() {
    let (x, y) = two_out_data();
    let mut m = two_out();
    // Keras 3 names: the same keys from train_on_batch, test_on_batch and evaluate.
    let before = m.test_on_batch(&x, (&y, &y)).unwrap();
    assert_eq!(sorted_keys(&before), keras("test_on_batch:"));
    let evaluated = m.evaluate_on(&x, (&y, &y)).batch_size(8).verbose(0).run().unwrap();
    assert_eq!(sorted_keys(&evaluated), keras("evaluate:"));
    assert_eq!(evaluated, before, "evaluate over one batch is test_on_batch");
    // The total is the loss-weighted sum of the outputs' losses (Keras: True).
    assert_eq!(keras("evaluate loss = main + 0.2 aux:"), "True");
    let total = before.get("main_output_loss").unwrap() + 0.2 * before.get("aux_output_loss").unwrap();
    assert!((before.get("loss").unwrap() - total).abs() < 1e-6);
    // train_on_batch reports the batch's loss and metrics before its update:
    // those evaluate saw (no dropout, so the training forward pass is the same).
    let w0 = weights(m.network());
    let trained = m.train_on_batch_logs(&x, (&y, &y)).unwrap();
    assert_eq!(sorted_keys(&trained), keras("train_on_batch:"));
    assert_ne!(weights(m.network()), w0, "a step was taken");
    for (name, value) in before.iter() {
        let got = trained.get(name).unwrap();
        assert!((got - value).abs() <= 1e-6 * value.abs().max(1.0), "{name}: train {got}, evaluate {value}");
    }
    // As in Keras 3, each call starts its metrics over: the second call
    // reports the second batch only, which evaluate also gives after the step.
    let after = m.test_on_batch(&x, (&y, &y)).unwrap();
    let second = m.train_on_batch_logs(&x, (&y, &y)).unwrap();
    for (name, value) in after.iter() {
        let got = second.get(name).unwrap();
        assert!((got - value).abs() <= 1e-6 * value.abs().max(1.0), "{name}: train {got}, evaluate {value}");
    }
    // evaluate and predict from a dataset match the arrays' results.
    let ds = Dataset::from_slices(&x, (&y, &y)).unwrap().batch(3);
    let from_ds = m.evaluate_from(&ds).verbose(0).run().unwrap();
    let from_arrays = m.evaluate_on(&x, (&y, &y)).batch_size(3).verbose(0).run().unwrap();
    for (name, value) in from_arrays.iter() {
        assert!((from_ds.get(name).unwrap() - value).abs() < 1e-6, "{name}");
    }
    assert_eq!(m.predict_from(&ds, None).unwrap(), m.predict(&x, 3).unwrap());
}

#[test]
fn bad_arguments_and_bad_batches_are_typed_errors() {
    let (x, y) = data(16);
    let gen = || (0..).map(|i: usize| (&x[(i % 4) * 4..(i % 4) * 4 + 4], &y[(i % 4) * 4..(i % 4) * 4 + 4]));
    let mut m = model();
    let w0 = weights(m.network());
    let message = |e: Error| e.to_string();

    let err = m.fit_from(gen()).steps_per_epoch(0).verbose(0).run().unwrap_err();
    assert_eq!(message(err), "invalid argument `steps_per_epoch`: must be at least 1, but is 0");
    let err = m.fit_from(gen()).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "steps_per_epoch", .. }), "{err}");
    let err = m.fit_from(Dataset::from_slices(&x, &y).unwrap().batch(4).repeat(None)).verbose(0).run().unwrap_err();
    assert!(message(err).contains("repeats for ever"));
    let err = m.fit_from(gen()).steps_per_epoch(2).validation_freq(0).verbose(0).run().unwrap_err();
    assert_eq!(message(err), "invalid argument `validation_freq`: must be at least 1, but is 0");
    let err = m.fit_from(gen()).steps_per_epoch(2).sample_weight(&[1.0; 16]).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "sample_weight", .. }), "{err}");
    assert_eq!(weights(m.network()), w0, "nothing trained before those errors");

    // A generator that ends early: 5 batches for 2 epochs of 3 steps.
    let err = m.fit_from(gen().take(5)).steps_per_epoch(3).epochs(2).verbose(0).run().unwrap_err();
    assert_eq!(
        message(err),
        "invalid argument `steps_per_epoch`: is 3, but the data ran out in step 3 of epoch 2: a generator must \
         yield 3 batches per epoch (Keras: \"Your input ran out of data\"); a Dataset can `.repeat()`"
    );
    // Batches of the wrong shape: x and y of different lengths, members of a tuple
    // of different lengths, an empty batch, weights of another length.
    let err = model().fit_from([(&x[..4], &y[..3])]).steps_per_epoch(1).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::SampleCountMismatch { inputs: 4, targets: 3 }), "{err}");
    let (xt, yt) = two_out_data();
    let err = two_out().fit_from([(&xt[..4], (&yt[..4], &yt[..2]))]).steps_per_epoch(1).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::MemberCountMismatch { first: 4, other: 2 }), "{err}");
    let err = model().fit_from([(&x[..0], &y[..0])]).steps_per_epoch(1).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::NoData(_)), "{err}");
    let err = model().fit_from([(&x[..4], &y[..4], vec![1.0; 3])]).steps_per_epoch(1).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "sample_weight", .. }), "{err}");
    // Bad values in a batch are caught before its step, as for arrays.
    let mut bad_x = x[..4].to_vec();
    bad_x[2][3] = f32::NAN;
    let err = model().fit_from([(&bad_x[..], &y[..4])]).steps_per_epoch(1).verbose(0).run().unwrap_err();
    assert_eq!(message(err), "`x` holds NaN at sample 2, feature 3, but every value must be finite");
    let bad_y = [0u32, 1, 7, 2];
    let err = model().fit_from([(&x[..4], &bad_y[..])]).steps_per_epoch(1).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::LabelOutOfRange { .. }), "{err}");
    let err = model().fit_from([(&x[..4], &y[..4], [1.0, -1.0, 1.0, 1.0])]).steps_per_epoch(1).verbose(0).run();
    assert!(matches!(err, Err(Error::InvalidArgument { name: "sample_weight", .. })));
    // evaluate and predict name their own step argument.
    let err = m.evaluate_from(gen()).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "steps", .. }), "{err}");
    let err = m.predict_from(gen().take(1), Some(2)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "steps", .. }), "{err}");
    let err = m.fit_from(gen()).steps_per_epoch(1).validation_from(gen()).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "validation_steps", .. }), "{err}");

    // Old code: a dataset's bad argument surfaced only when its first pass
    // began: a validation dataset's after a whole epoch of training, a
    // training dataset's after the callbacks' `on_train_begin` (CsvLogger
    // had truncated its file). Now before anything runs.
    let w0 = weights(m.network());
    let ds = || Dataset::from_slices(&x, &y).unwrap();
    let bad_validation = [ds().batch(0), ds().shuffle(0, 1).batch(4)];
    for bad in bad_validation {
        let err = m.fit_from(ds().batch(4)).validation_from(bad).verbose(0).run().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { name: "batch_size" | "buffer_size", .. }), "{err}");
        assert_eq!(weights(m.network()), w0, "an epoch trained before the validation dataset's error");
    }
    struct Began(bool);
    impl<N: Network> Callback<N> for Began {
        fn on_train_begin(&mut self, _: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
            self.0 = true;
            Ok(())
        }
    }
    let mut began = Began(false);
    let err = m.fit_from(ds().batch(0)).callback(&mut began).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "batch_size", .. }), "{err}");
    assert!(!began.0, "on_train_begin ran before the training dataset's error");
}

/// Old code: a dataset of known size too short for the steps asked of it
/// failed when it ran out: after three steps for `steps_per_epoch(5)` of a
/// 3-batch dataset, in epoch 2 for 2 steps × 3 epochs, and after a whole
/// epoch of training for `validation_steps(5)`. Its size is known before
/// the first step, so is the shortfall.
#[test]
fn a_dataset_too_short_for_its_steps_is_refused_before_training() {
    let (x, y) = data(30);
    let ds = || Dataset::from_slices(&x, &y).unwrap().batch(10); // 3 batches
    let mut m = model();
    let w0 = weights(m.network());
    let err = m.fit_from(ds()).steps_per_epoch(5).verbose(0).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument `steps_per_epoch`: is 5, but the dataset holds 3 batches and runs out in step 4 of epoch \
         1: a generator must yield 5 batches per epoch (Keras: \"Your input ran out of data\"); a Dataset can \
         `.repeat()`"
    );
    let err = m.fit_from(ds()).steps_per_epoch(2).epochs(3).verbose(0).run().unwrap_err();
    assert!(err.to_string().contains("runs out in step 2 of epoch 2"), "{err}");
    let err = m.fit_from(ds()).steps_per_epoch(1).epochs(2).validation_from(ds()).validation_steps(5).verbose(0).run();
    let err = err.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "validation_steps", .. }), "{err}");
    assert!(err.to_string().contains("runs out in step 4 of validation 1"), "{err}");
    let err = m.evaluate_from(ds()).steps(4).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "steps", .. }), "{err}");
    assert_eq!(weights(m.network()), w0, "nothing trained before those errors");
    // Steps that fit (3 per epoch, or 1 per epoch for 3 epochs, or a
    // repeated dataset) still train.
    m.fit_from(ds()).steps_per_epoch(3).epochs(2).verbose(0).run().unwrap();
    m.fit_from(ds()).steps_per_epoch(1).epochs(3).verbose(0).run().unwrap();
    m.fit_from(ds().repeat(None)).steps_per_epoch(5).epochs(2).verbose(0).run().unwrap();
    m.fit_from(ds()).steps_per_epoch(2).validation_from(ds()).validation_steps(3).verbose(0).run().unwrap();
}

/// Old code: `steps` of `evaluate_on` and `validation_steps` with arrays
/// were ignored, 0 included. Keras reads that many batches of arrays too
/// (fewer when the arrays hold fewer).
#[test]
fn steps_limit_the_batches_read_from_arrays_as_in_keras() {
    let (x, y) = data(16);
    let mut m = model();
    let first_two = m.evaluate_on(&x[..8], &y[..8]).batch_size(4).verbose(0).run().unwrap();
    let limited = m.evaluate_on(&x, &y).batch_size(4).steps(2).verbose(0).run().unwrap();
    let all = m.evaluate_on(&x, &y).batch_size(4).verbose(0).run().unwrap();
    assert_eq!(limited.get("loss"), first_two.get("loss"));
    assert_ne!(limited.get("loss"), all.get("loss"));
    let more_than_held = m.evaluate_on(&x, &y).batch_size(4).steps(9).verbose(0).run().unwrap();
    assert_eq!(more_than_held.get("loss"), all.get("loss"));
    let err = m.evaluate_on(&x, &y).steps(0).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "invalid argument `steps`: must be at least 1, but is 0");

    // Validation on arrays: the first `validation_steps` batches.
    let w0 = weights(m.network());
    let err = m.fit(&x, &y).validation_data(&x, &y).validation_steps(0).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "invalid argument `validation_steps`: must be at least 1, but is 0");
    assert_eq!(weights(m.network()), w0);
    let val_loss = |steps: Option<usize>| {
        let mut m = model();
        let fit = m.fit(&x, &y).batch_size(4).validation_data(&x[..8], &y[..8]).verbose(0);
        let fit = match steps {
            Some(s) => fit.validation_steps(s),
            None => fit,
        };
        let history = fit.run().unwrap();
        history.get("val_loss").unwrap()[0]
    };
    let (one, whole) = (val_loss(Some(1)), val_loss(None));
    assert_ne!(one, whole);
    let mut m = model();
    m.fit(&x, &y).batch_size(4).verbose(0).run().unwrap();
    let first_batch = m.evaluate_on(&x[..4], &y[..4]).batch_size(4).verbose(0).run().unwrap();
    assert_eq!(Some(one), first_batch.get("loss"));

    // A partial last batch: 10 samples in batches of 4, 3 steps read all
    // 10, 2 steps the first 8.
    let close = |a: Option<f32>, b: Option<f32>| (a.unwrap() - b.unwrap()).abs() <= 1e-6 * b.unwrap().abs();
    let ten = m.evaluate_on(&x[..10], &y[..10]).batch_size(10).verbose(0).run().unwrap();
    let three = m.evaluate_on(&x[..10], &y[..10]).batch_size(4).steps(3).verbose(0).run().unwrap();
    assert!(close(three.get("loss"), ten.get("loss")));
    let two = m.evaluate_on(&x[..10], &y[..10]).batch_size(4).steps(2).verbose(0).run().unwrap();
    let eight = m.evaluate_on(&x[..8], &y[..8]).batch_size(8).verbose(0).run().unwrap();
    assert!(close(two.get("loss"), eight.get("loss")));
    // Without a batch size, Keras's array adapter makes `steps` batches of
    // ceil(n / steps): every sample is read.
    // (100 samples in 2 steps: batches of 50, where 32 would read 64.)
    let (x100, y100) = data(100);
    let unsized_steps = m.evaluate_on(&x100, &y100).steps(2).verbose(0).run().unwrap();
    let hundred = m.evaluate_on(&x100, &y100).batch_size(100).verbose(0).run().unwrap();
    assert!(close(unsized_steps.get("loss"), hundred.get("loss")));
    // The same for `validation_split` with `validation_steps`: the held-out
    // samples (the last 4 of 16) in 1 step, or their first batch of 2.
    let val_loss = |batch: Option<usize>| {
        let mut m = model();
        let fit = m.fit(&x, &y).validation_split(0.25).validation_steps(1).shuffle(false).verbose(0);
        let fit = match batch {
            Some(b) => fit.batch_size(b),
            None => fit,
        };
        let history = fit.run().unwrap();
        (history.get("val_loss").unwrap()[0], m)
    };
    let (all_held_out, mut trained) = val_loss(None);
    let whole = trained.evaluate_on(&x[12..], &y[12..]).batch_size(4).verbose(0).run().unwrap();
    assert!(close(Some(all_held_out), whole.get("loss")));
    let (first_two, mut trained) = val_loss(Some(2));
    let two = trained.evaluate_on(&x[12..14], &y[12..14]).batch_size(2).verbose(0).run().unwrap();
    assert!(close(Some(first_two), two.get("loss")));
}

/// Old code: a validation dataset read with `validation_steps` carried on
/// from where the last validation stopped, so a 3-batch dataset validated
/// on batches 0–1, then ran out in epoch 2. Keras's `evaluate` resets its
/// iterator: every validation reads the dataset's first batches. (A
/// generator cannot start over and carries on.)
#[test]
fn every_validation_reads_a_datasets_first_batches() {
    let (x, y) = data(12);
    let ds = || Dataset::from_slices(&x, &y).unwrap().batch(4); // 3 batches
    let mut m = Net::new(3).compile(Sgd::new(0.0), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    let history = m.fit(&x, &y).epochs(3).validation_from(ds()).validation_steps(2).verbose(0).run().unwrap();
    let val = history.get("val_loss").unwrap();
    let first_eight = m.evaluate_on(&x[..8], &y[..8]).batch_size(4).verbose(0).run().unwrap();
    assert_eq!(val.len(), 3);
    for v in val {
        assert!((v - first_eight.get("loss").unwrap()).abs() <= 1e-6, "{val:?}");
    }
}

#[test]
fn sample_weights_in_batches_weight_the_loss() {
    // One untrained step's reported loss is the weighted mean of the per-sample losses.
    let (x, y) = data(8);
    let plain = model().fit_from([(&x[..], &y[..])]).steps_per_epoch(1).verbose(0).run().unwrap();
    let w = vec![2.0f32; 8];
    let doubled = model().fit_from([(&x[..], &y[..], &w[..])]).steps_per_epoch(1).verbose(0).run().unwrap();
    let (a, b) = (plain.get("loss").unwrap()[0], doubled.get("loss").unwrap()[0]);
    assert!((b - 2.0 * a).abs() < 1e-5, "{a} {b}");
    // The same through a dataset of (x, y, w) elements.
    let ds = Dataset::from_slices_weighted(&x, &y, &w).unwrap().batch(8);
    let from_ds = model().fit_from(ds).verbose(0).run().unwrap();
    assert_eq!(from_ds.get("loss").unwrap()[0], b);
}

#[test]
fn a_pipeline_step_allocates_nothing_once_warm() {
    // Training from a dataset (without prefetch, so every allocation is on
    // this thread): twice the steps per epoch, the same allocations.
    // Each fit starts one pass over the dataset (a pass allocates its
    // iterators and shuffle buffer); 256 samples are 32 batches, more than
    // any fit below reads.
    let (x, y) = data(256);
    let ds = Dataset::from_slices(&x, &y).unwrap().shuffle(16, 1).batch(8).repeat(None);
    let mut m = model();
    m.fit_from(&ds).steps_per_epoch(4).epochs(1).verbose(0).run().unwrap();
    let count = |steps: usize, m: &mut Model<Net>| {
        support::allocations(|| m.fit_from(&ds).steps_per_epoch(steps).epochs(2).verbose(0).run().unwrap()).0
    };
    let (short, long) = (count(8, &mut m), count(16, &mut m));
    assert_eq!(long, short, "{short} allocations for 16 steps, {long} for 32");
}

#[test]
fn repeat_cardinality_is_infinite_when_the_count_overflows_usize() {
    // 5 × usize::MAX and 10 × (usize::MAX / 2 + 1) = 5 × 2^64 do not fit: as
    // many elements as no run can read, i.e. never ending.
    assert_eq!(ids(5).repeat(Some(usize::MAX)).cardinality(), Cardinality::Infinite);
    assert_eq!(ids(5).repeat(Some(2)).repeat(Some(usize::MAX / 2 + 1)).cardinality(), Cardinality::Infinite);
    // Products that fit are exact: 1 × MAX, and 4 × (MAX / 4) = 4 × (2^62 - 1) = MAX - 3.
    assert_eq!(ids(1).repeat(Some(usize::MAX)).cardinality(), Cardinality::Finite(usize::MAX));
    assert_eq!(ids(4).repeat(Some(usize::MAX / 4)).cardinality(), Cardinality::Finite(usize::MAX - 3));
    // No element, or no pass, is 0 whatever the other factor (tf.data's rule),
    // even over a dataset that never ends or whose size is unknown.
    assert_eq!(ids(0).repeat(Some(usize::MAX)).cardinality(), Cardinality::Finite(0));
    assert_eq!(ids(5).repeat(Some(0)).cardinality(), Cardinality::Finite(0));
    assert_eq!(ids(5).repeat(None).repeat(Some(0)).cardinality(), Cardinality::Finite(0));
    assert_eq!(ids(5).repeat(None).repeat(Some(0)).iter().unwrap().count(), 0);
    let gen = Dataset::from_generator(|| (0..3u32).map(|i| (i, 0u32)));
    assert_eq!(gen.clone().repeat(Some(0)).cardinality(), Cardinality::Finite(0));
    assert_eq!(gen.repeat(Some(2)).cardinality(), Cardinality::Unknown);
    assert_eq!(ids(5).repeat(None).repeat(Some(3)).cardinality(), Cardinality::Infinite);
    // The saturated dataset still yields its passes in order, and take bounds it.
    let huge = ids(5).repeat(Some(usize::MAX));
    assert_eq!(huge.clone().take(12).cardinality(), Cardinality::Finite(12));
    assert_eq!(order(&huge.take(12)), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]);
}

#[test]
fn repeat_of_a_pass_without_elements_ends_at_once() {
    // 2^40 empty passes would take hours to walk through; like tf.data (and
    // repeat(None)), the first empty pass ends the repetition.
    assert_eq!(ids(0).repeat(Some(1 << 40)).iter().unwrap().count(), 0);
    assert_eq!(ids(10).take(0).repeat(Some(1 << 40)).iter().unwrap().count(), 0);
    // 3 samples in batches of 4 with drop_remainder: every pass is empty.
    assert_eq!(ids(3).batch_with(4, true).repeat(Some(1 << 40)).iter().unwrap().count(), 0);
    let empty = Dataset::from_generator(std::iter::empty::<(u32, u32)>);
    assert_eq!(empty.repeat(Some(1 << 40)).iter().unwrap().count(), 0);
    // Passes with elements are all read.
    assert_eq!(order(&ids(2).repeat(Some(3))), [0, 1, 0, 1, 0, 1]);
}

#[test]
fn batch_larger_than_the_data_is_one_batch_of_all_of_it() {
    let batches = |ds: Dataset<kiln::data::Batch<u32, u32>>| -> Vec<(Vec<u32>, Vec<u32>)> {
        ds.iter().unwrap().map(|b| (b.x().to_vec(), b.y().to_vec())).collect()
    };
    let all = vec![(vec![0, 1, 2], vec![0, 0, 0])];
    for size in [usize::MAX, 1 << 40] {
        assert_eq!(batches(ids(3).batch(size)), all, "batch({size})");
        assert_eq!(ids(3).batch(size).cardinality(), Cardinality::Finite(1));
        // With drop_remainder the one batch (3 < size samples) is short, so dropped.
        assert_eq!(batches(ids(3).batch_with(size, true)), [], "batch_with({size}, true)");
        assert_eq!(ids(3).batch_with(size, true).cardinality(), Cardinality::Finite(0));
        // An unknown number of elements, and a shuffled pass (all 3, in some order).
        let gen = Dataset::from_generator(|| (0..3u32).map(|i| (i, 0u32)));
        assert_eq!(batches(gen.batch(size)), all, "generator, batch({size})");
        let mut shuffled = batches(ids(3).shuffle(3, 1).batch(size));
        assert_eq!(shuffled.len(), 1);
        shuffled[0].0.sort();
        assert_eq!(shuffled, all);
    }
    // Samples of 6 floats: size × 6 overflows usize.
    let (x, y) = data(3);
    let ds = Dataset::from_slices(&x, &y).unwrap().batch(usize::MAX);
    let got: Vec<(Vec<f32>, Vec<u32>)> = ds.iter().unwrap().map(|b| (b.x().to_vec(), b.y().to_vec())).collect();
    assert_eq!(got, [(x.concat(), y)]);
}

#[test]
fn prefetch_buffer_size_is_a_bound_not_an_allocation() {
    for size in [usize::MAX, 1 << 40] {
        assert_eq!(order(&ids(3).prefetch(size)), [0, 1, 2], "prefetch({size})");
        assert_eq!(ids(3).prefetch(size).cardinality(), Cardinality::Finite(3));
        let gen = Dataset::from_generator(|| (0..3u32).map(|i| (i, 0u32)));
        assert_eq!(order(&gen.prefetch(size)), [0, 1, 2], "generator, prefetch({size})");
        // A never-ending input: read 7, then dropping the pass stops the producer.
        let first: Vec<u32> = ids(3).repeat(None).prefetch(size).iter().unwrap().take(7).map(|(i, _)| i).collect();
        assert_eq!(first, [0, 1, 2, 0, 1, 2, 0]);
        let sizes: Vec<usize> = ids(10).batch(4).prefetch(size).iter().unwrap().map(|b| b.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
    }
}
