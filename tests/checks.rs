//! What kiln checks for you: bad data and arguments are errors before any
//! work, a step that would make the model non-finite is never applied, and
//! Keras's semantics of `metrics` / `weighted_metrics` / `validation_split`.
//! Reference numbers come from real Keras 3 (`tests/fixtures/checks.py` →
//! `tests/fixtures/checks.txt`). Each test says what the code before these
//! checks did.

use kiln::prelude::*;
use kiln::Error;

kiln::model! {
    struct Logistic {
        input x: [f32; 2];
        let p = Dense(1, activation = sigmoid)(x);
        output p;
    }
}

kiln::model! {
    struct Hidden {
        input x: [f32; 2];
        let h = Dense(3, activation = relu)(x);
        let y = Dense(1)(h);
        output y;
    }
}

kiln::model! {
    /// Two id inputs concatenated before an `Embedding` (the tutorials' model, smaller).
    struct JoinedIds {
        input a: [u32; 3];
        input b: [u32; 2];
        let joined = concatenate([a, b]);
        let e = Embedding(4, 2)(joined);
        let s = reduce_sum(e, axis = 1);
        let p = Dense(1, activation = sigmoid)(s);
        output p;
    }
}

/// A schedule a user wrote, gone wrong: NaN from step 3 on.
#[derive(Debug)]
struct NanFromStep3;
impl kiln::optimizers::LearningRateSchedule for NanFromStep3 {
    fn name(&self) -> &'static str {
        "NanFromStep3"
    }
    fn at(&self, step: u64) -> f32 {
        if step >= 3 {
            f32::NAN
        } else {
            0.01
        }
    }
}

/// Old code: the rate a schedule gives was never checked: a NaN (a
/// schedule of one's own) or an overflow to infinity (`ExponentialDecay`
/// with `decay_rate = 10`) was applied, every weight became
/// NaN, and only the next batch's loss reported it. Now that step is
/// refused before any work, naming the learning rate and the step.
#[test]
fn a_schedule_giving_a_non_finite_rate_is_refused_before_its_step() {
    fn refused_at(optimizer: Sgd, bad_step: u64) {
        let (x, y) = data(8);
        let mut model = Hidden::new(0).compile(optimizer, MeanSquaredError, &[]);
        for _ in 0..bad_step {
            model.train_on_batch(&x[..], &y[..]).unwrap();
        }
        let before = params(model.network());
        match model.train_on_batch(&x[..], &y[..]) {
            Err(Error::InvalidArgument { name: "learning_rate", reason }) => {
                assert!(reason.contains(&format!("at step {bad_step}")), "{reason}")
            }
            other => panic!("step {bad_step}: {other:?}"),
        }
        assert_eq!(params(model.network()), before, "the refused step changed the weights");
        assert_eq!(model.optimizer().iterations(), bad_step);
    }
    refused_at(Sgd::default().with_schedule(NanFromStep3), 3);
    // 1e-40 · 10^t in float32: 0.01 at step 38, infinite at 39.
    refused_at(Sgd::default().with_schedule(ExponentialDecay::new(1e-40, 1, 10.0)), 39);
}

/// The public `optimizers::step`, called directly (a training loop of
/// one's own), refuses the same step. Old code: it returned nothing and
/// applied the NaN rate, so every weight became NaN.
#[test]
fn optimizers_step_called_directly_refuses_a_non_finite_rate() {
    use kiln::optimizers::Optimizer;
    let mut optimizer: Box<dyn Optimizer> = Box::new(Sgd::default().with_schedule(NanFromStep3));
    let mut p = kiln::param::Param::zeros("w", &[3]);
    p.value.copy_from_slice(&[1.0, 2.0, 3.0]);
    p.grad.copy_from_slice(&[0.5, 0.5, 0.5]);
    for _ in 0..3 {
        let _ = kiln::optimizers::step(&mut *optimizer, |f| f(&mut p));
    }
    // Three steps of 0.01 · 0.5 (exact in f64, rounded once to f32 per step).
    let after_three: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|&w| ((w - 0.005) - 0.005) - 0.005).collect();
    assert_eq!(p.value, after_three);
    let result = kiln::optimizers::step(&mut *optimizer, |f| f(&mut p));
    assert_eq!(p.value, after_three, "the refused step changed the weights: {result:?}");
    match result {
        Err(Error::InvalidArgument { name: "learning_rate", reason }) => {
            assert!(reason.contains("NanFromStep3 gives NaN at step 3"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(optimizer.iterations(), 3);
}

kiln::model! {
    struct TwoOut {
        input x: [f32; 2];
        let h = Dense(2, activation = tanh)(x);
        let main = Dense(1, activation = sigmoid, name = "main_output")(h);
        let aux = Dense(1, activation = sigmoid, name = "aux_output")(h);
        output main, aux;
    }
}

/// The data of tests/training.rs and of the Keras fixture.
fn data(n: usize) -> (Vec<[f32; 2]>, Vec<[f32; 1]>) {
    let x: Vec<[f32; 2]> =
        (0..n).map(|i| [((i * 7) % 10) as f32 / 5.0 - 1.0, ((i * 3) % 10) as f32 / 5.0 - 1.0]).collect();
    let y = x.iter().map(|v| [f32::from(u8::from(v[0] + v[1] > 0.0))]).collect();
    (x, y)
}

fn params<N: Network>(n: &N) -> Vec<f32> {
    let mut v = Vec::new();
    n.params(&mut |p| v.extend_from_slice(&p.value));
    v
}

const FIXTURE: &str = include_str!("fixtures/checks.txt");

// ---- item 2: NaN never disappears; non-finite data are errors up front ----

/// Old code: `relu(NaN)` was 0, so a NaN feature gave a finite, plausible
/// prediction (0.0 here: the output bias).
#[test]
fn a_nan_input_reaches_the_output() {
    let model = Hidden::new(3);
    let out = model.predict_one(&[f32::NAN, 1.0]);
    assert!(out[0].is_nan(), "{out:?}");
}

/// Old code: `fit` reported `NonFiniteLoss` after a forward pass (or, for a
/// NaN that relu swallowed, trained on it); `predict` returned numbers.
#[test]
fn non_finite_data_are_errors_naming_argument_sample_and_feature() {
    let (mut x, mut y) = data(8);
    let mut m = Logistic::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[Metric::Accuracy]);
    let before = params(m.network());
    x[5][1] = f32::INFINITY;
    let err = m.fit(&x, &y).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "`x` holds inf at sample 5, feature 1, but every value must be finite");
    assert!(matches!(m.evaluate(&x, &y, 4), Err(Error::NonFinite { sample: 5, feature: 1, .. })));
    assert!(matches!(m.train_on_batch(&x, &y), Err(Error::NonFinite { sample: 5, feature: 1, .. })));
    assert!(matches!(m.predict(&x, 4), Err(Error::NonFinite { sample: 5, feature: 1, .. })));
    assert!(matches!(m.predict_classes(&x, 4), Err(Error::NonFinite { sample: 5, .. })));
    x[5][1] = 0.0;
    y[2][0] = f32::NAN;
    let err = m.train_on_batch(&x, &y).unwrap_err();
    assert_eq!(err.to_string(), "`y` holds NaN at sample 2, feature 0, but every value must be finite");
    y[2][0] = 1.0;
    let mut w = [1.0f32; 8];
    w[7] = f32::NAN;
    let err = m.fit(&x, &y).sample_weight(&w).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "`sample_weight` holds NaN at sample 7, feature 0, but every value must be finite");
    let mut vx = x.clone();
    vx[0][0] = f32::NEG_INFINITY;
    let err = m.fit(&x, &y).validation_data(&vx, &y).verbose(0).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "validation_data: `x` holds -inf at sample 0, feature 0, but every value must be finite"
    );
    assert_eq!(params(m.network()), before, "nothing trained");
    assert_eq!(m.optimizer().iterations(), 0);

    // A tuple of inputs names the member.
    let ids = [[0u32, 1, 2], [3, 2, 1]];
    let (mut feats, targets) = ([[0.5f32; 2]; 2], [[1.0f32; 1]; 2]);
    feats[1][0] = f32::NAN;
    let mut two = Mixed::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    let err = two.fit((&ids, &feats), &targets).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "`x.1` holds NaN at sample 1, feature 0, but every value must be finite");
}

kiln::model! {
    struct Mixed {
        input ids: [u32; 3];
        input feats: [f32; 2];
        let e = Embedding(4, 2)(ids);
        let s = reduce_sum(e, axis = 1);
        let joined = concatenate([s, feats]);
        let p = Dense(1, activation = sigmoid)(joined);
        output p;
    }
}

/// The check is one vectorized pass: on a 10⁷-value input it must cost a
/// small part of one pass of the simplest forward (a copy). Reported, and
/// bounded loosely, since timings on a shared machine are noisy.
#[test]
fn the_finiteness_check_is_cheap() {
    let values: Vec<f32> = (0..10_000_000).map(|i| (i % 1000) as f32 * 1e-3).collect();
    let start = std::time::Instant::now();
    let mut found = None;
    for _ in 0..10 {
        found = found.or(kiln::sample::first_non_finite(std::hint::black_box(&values)));
    }
    let check = start.elapsed() / 10;
    assert_eq!(found, None);
    let mut with_nan = values.clone();
    with_nan[9_999_999] = f32::NAN;
    assert_eq!(kiln::sample::first_non_finite(&with_nan), Some(9_999_999));
    // 40 MB at ≥ 1 GB/s even unoptimized-ish: under 40 ms per pass.
    eprintln!("finiteness check: {check:?} for 10^7 values");
    assert!(check.as_millis() < 40, "finiteness check took {check:?} for 10^7 values");
}

// ---- item 3: a non-finite step is never applied ----

/// Old code: the running metrics were updated before the loss was checked
/// (at the failing step 8, `mean_absolute_error` went from 1.77e18 to
/// 7.09e20 although the step was refused).
#[test]
fn a_diverging_learning_rate_ends_in_an_error_with_the_state_from_before_the_failing_batch() {
    // Linear regression with a learning rate far beyond 2/λ_max: |w| grows ~10× per step.
    let x: Vec<[f32; 2]> = (0..16).map(|i| [i as f32 / 4.0, 1.0 - i as f32 / 8.0]).collect();
    let y: Vec<[f32; 1]> = x.iter().map(|v| [2.0 * v[0] - v[1]]).collect();
    let mut lin = Linear::new(1).compile(
        Sgd::new(40.0).with_momentum(0.5, false),
        MeanSquaredError,
        &[Metric::MeanAbsoluteError],
    );
    let mut failed = None;
    for step in 0..200 {
        let weights = params(lin.network());
        let slots = lin.optimizer().slots().to_vec();
        let iterations = lin.optimizer().iterations();
        let metrics: Vec<(String, f32)> = lin.metric_results().collect();
        match lin.train_on_batch(&x, &y) {
            Ok(loss) => assert!(loss.is_finite()),
            Err(e) => {
                assert!(matches!(e, Error::NonFiniteLoss { .. } | Error::NonFiniteGradient { .. }), "{e}");
                assert!(weights.iter().all(|w| w.is_finite()));
                assert_eq!(params(lin.network()), weights, "weights changed by the refused step");
                assert_eq!(lin.optimizer().slots(), &slots[..], "momentum changed by the refused step");
                assert_eq!(lin.optimizer().iterations(), iterations);
                let after: Vec<(String, f32)> = lin.metric_results().collect();
                assert_eq!(after, metrics, "running metrics changed by the refused step");
                failed = Some(step);
                break;
            }
        }
    }
    assert!(failed.is_some_and(|s| s > 2), "training should diverge after a few steps: {failed:?}");

    // Through `fit`: the error carries epoch and batch, and the weights are finite.
    let mut fitted = Linear::new(1).compile(Sgd::new(40.0), MeanSquaredError, &[]);
    let err = fitted.fit(&x, &y).epochs(100).batch_size(4).shuffle(false).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { .. }), "{err}");
    assert!(params(fitted.network()).iter().all(|w| w.is_finite()));
}

kiln::model! {
    struct TwoClass {
        input x: [f32; 2];
        let p = Dense(2, activation = softmax)(x);
        output p;
    }
}

kiln::model! {
    struct Linear {
        input x: [f32; 2];
        let y = Dense(1)(x);
        output y;
    }
}

/// A finite loss with a non-finite gradient: tiny first-layer weights on
/// huge inputs keep the output finite (3 · 3e38 · 2e-20 ≈ 1.8e19), but the
/// first kernel's gradient, x · w₂ = 1e10 · 3e38, overflows. Old code
/// applied the step (`Ok(1.8e19)`), leaving NaN in the whole first kernel.
#[test]
fn a_non_finite_gradient_under_a_finite_loss_is_refused() {
    let mut m = Hidden::new(0).compile(Adam::new(0.1), MeanAbsoluteError, &[Metric::MeanAbsoluteError]);
    m.network_mut().visit_params(&mut |p| match p.shape[..] {
        [2, 3] => p.value.fill(1e-30),
        [3, 1] => p.value.fill(3e38),
        _ => p.value.fill(0.0),
    });
    let before = params(m.network());
    let err = m.train_on_batch(&[[1e10f32, 1e10]], &[[0.0f32]]).unwrap_err();
    assert!(matches!(err, Error::NonFiniteGradient { parameter: "kernel", index: 0, .. }), "{err}");
    assert_eq!(params(m.network()), before);
    assert_eq!((m.optimizer().iterations(), m.optimizer().slots().len()), (0, 0), "Adam's moments untouched");
    assert_eq!(m.metric_results().map(|(_, v)| v).collect::<Vec<_>>(), [0.0, 0.0], "no metric counted");
}

// ---- item 4: every argument checked before any work ----

/// Old code: `validation_data` was checked after the first epoch had
/// trained (2 iterations done at the error).
#[test]
fn validation_data_is_checked_before_the_first_epoch() {
    let (x, y) = data(8);
    let mut m = Logistic::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[Metric::Accuracy]);
    let err = m.fit(&x, &y).batch_size(4).validation_data(&x[..3], &y[..2]).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "validation_data: x holds 3 samples but y holds 2");
    assert!(matches!(err, Error::ValidationData(ref e) if matches!(**e, Error::SampleCountMismatch { .. })));
    let bad = [[2.0f32]; 8];
    let err = m.fit(&x, &y).batch_size(4).validation_data(&x, &bad).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::ValidationData(ref e) if matches!(**e, Error::TargetOutOfRange { .. })), "{err}");
    let err = m.fit(&x, &y).validation_data(&x[..0], &y[..0]).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "validation_data: no samples to validate on");
    assert_eq!(m.optimizer().iterations(), 0, "nothing trained before the errors");
}

/// Old code: ids reaching the `Embedding` through `concatenate` were not
/// checked: `predict` returned `Ok([[0.5009], [0.4784]])` (id 9 read past
/// the table) and `fit` panicked ("range start index 18 out of range for
/// slice of length 8").
#[test]
fn ids_through_concatenate_are_range_checked() {
    let a = [[0u32, 1, 2], [3, 3, 0]];
    let b = [[1u32, 2], [0, 9]];
    let y = [[1.0f32], [0.0]];
    let mut m = JoinedIds::new(0).compile(Adam::new(0.01), BinaryCrossentropy, &[]);
    let err = m.predict((&a, &b), 2).unwrap_err();
    assert_eq!(err.to_string(), "token id 9 in sample 1 is out of range for an Embedding with input_dim 4");
    assert!(matches!(m.fit((&a, &b), &y).verbose(0).run(), Err(Error::IdOutOfRange { id: 9, sample: 1, .. })));
    assert!(matches!(m.evaluate((&a, &b), &y, 2), Err(Error::IdOutOfRange { id: 9, .. })));
    assert!(matches!(m.predict_one(&a[1], &b[1]), Err(Error::IdOutOfRange { id: 9, sample: 0, .. })));
    assert!(m.predict_one(&a[0], &b[0]).is_ok());
    // A negative id cast with `as u32` is shown for what it was.
    let negative = [[0u32, (-1i32) as u32]; 2];
    let err = m.predict((&a, &negative), 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token id 4294967295 (read as i32: -1; a negative number cast to u32?) in sample 0 is out of range for an Embedding with input_dim 4"
    );
}

// ---- item 5: no panics on bad data; hyper-parameters and weights checked ----

/// Old code: `output_losses` / `loss_weights` asserted (panicked);
/// `from_flat` panicked; `Sgd::new(-0.1)` trained (1 iteration, climbing
/// the loss); negative weights and BCE targets of 2 trained without error.
#[test]
fn bad_arguments_are_errors_not_panics() {
    let m = TwoOut::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    let err = m.try_loss_weights(&[1.0]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "invalid argument `loss_weights`: the model has 2 output(s) but 1 weight(s) were given"
    );
    let m = TwoOut::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    assert!(m.try_loss_weights(&[1.0, f32::NAN]).is_err());
    let m = TwoOut::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    let err = m.try_output_losses(vec![Box::new(MeanSquaredError)]).err().unwrap();
    assert_eq!(err.to_string(), "invalid argument `losses`: the model has 2 output(s) but 1 loss(es) were given");
    assert!(kiln::sample::try_from_flat::<[f32; 3]>(&[1.0, 2.0]).is_err());

    let (x, y) = data(8);
    let run = |opt: Box<dyn Optimizer>| {
        let mut m = Logistic::new(0).compile(opt, BinaryCrossentropy, &[]);
        let err = m.fit(&x, &y).verbose(0).run().unwrap_err();
        assert_eq!(m.optimizer().iterations(), 0);
        err.to_string()
    };
    assert_eq!(run(Box::new(Sgd::new(-0.1))), "invalid argument `learning_rate`: must be ≥ 0 and finite, but is -0.1");
    assert_eq!(
        run(Box::new(Sgd::new(f32::NAN))),
        "invalid argument `learning_rate`: must be ≥ 0 and finite, but is NaN"
    );
    assert_eq!(
        run(Box::new(Sgd::new(0.1).with_momentum(1.5, false))),
        "invalid argument `momentum`: must be in [0, 1), but is 1.5"
    );
    let mut m = Logistic::new(0).compile(Sgd::new(0.1).with_momentum(-0.1, true), BinaryCrossentropy, &[]);
    assert!(matches!(m.train_on_batch(&x, &y), Err(Error::InvalidArgument { name: "momentum", .. })));

    let mut m = Logistic::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    let mut w = [1.0f32; 8];
    w[4] = -2.0;
    let err = m.fit(&x, &y).sample_weight(&w).verbose(0).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument `sample_weight`: weights must be ≥ 0, but the weight of sample 4 is -2"
    );
    let err = m.fit(&x, &y).class_weight(&[1.0, -1.0]).verbose(0).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument `class_weight`: weights must be finite and ≥ 0, but the weight of class 1 is -1"
    );
    let err = m.fit(&x, &y).class_weight(&[1.0, 1.0]).sample_weight(&[1.0; 8]).verbose(0).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "class_weight", .. }));
    let mut labels = y.clone();
    labels[6][0] = 2.0;
    let err = m.fit(&x, &labels).verbose(0).run().unwrap_err();
    assert_eq!(err.to_string(), "y: target 2 of sample 6 is outside [0, 1], the range binary_crossentropy accepts");
    assert!(matches!(m.train_on_batch(&x, &labels), Err(Error::TargetOutOfRange { sample: 6, .. })));
    assert_eq!(m.optimizer().iterations(), 0);

    // A metric whose targets have another shape than the loss's. Old code:
    // sparse accuracy read the first value of each one-hot row as the label.
    let mut c = TwoClass::new(0).compile(Sgd::new(0.1), CategoricalCrossentropy, &[Metric::SparseCategoricalAccuracy]);
    let err = c.fit(&x, &[[1.0f32, 0.0]; 8]).verbose(0).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument `metrics`: sparse_categorical_accuracy needs targets of 1 value(s) per sample, but y has 2"
    );
}

// ---- item 6: messages name the argument, the expected and the actual value ----

/// Old code: "inputs hold 8 samples but targets hold 5" for a short
/// `sample_weight` (observed), and "no samples to train on" from `evaluate`.
#[test]
fn messages_name_the_argument() {
    let (x, y) = data(8);
    let mut m = Logistic::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    let err = m.fit(&x, &y).sample_weight(&[1.0; 5]).verbose(0).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument `sample_weight`: needs one weight per sample: x holds 8 samples, but 5 weights were given"
    );
    assert_eq!(m.evaluate(&x[..0], &y[..0], 4).unwrap_err().to_string(), "no samples to evaluate");
    assert_eq!(m.fit(&x[..0], &y[..0]).run().unwrap_err().to_string(), "no samples to train on");
    assert_eq!(
        m.evaluate(&x, &y, 0).unwrap_err().to_string(),
        "invalid argument `batch_size`: must be at least 1, but is 0"
    );
}

// ---- item 7: Keras's weighted_metrics and validation_split ----

/// Old code (observed): `validation_split(0.25)` of 10 samples trained on 8
/// (Keras: 7); 3 samples at 0.34 trained on 2 (Keras: 1).
#[test]
fn validation_split_takes_the_samples_keras_takes() {
    let mut cases = 0;
    for line in FIXTURE.lines().filter_map(|l| l.strip_prefix("split ")) {
        let f: Vec<&str> = line.split(' ').collect();
        let (n, split, split_at): (usize, f64, u64) =
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap());
        let (x, y) = data(n);
        let mut m = Logistic::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
        m.fit(&x, &y).batch_size(1).validation_split(split).verbose(0).run().unwrap();
        assert_eq!(m.optimizer().iterations(), split_at, "n = {n}, validation_split = {split}");
        cases += 1;
    }
    assert_eq!(cases, 7);
    // Keras refuses a split that leaves no training or no validation sample
    // (old code trained on the one sample and validated on none).
    let (x, y) = data(1);
    let err = Logistic::new(0).compile(Sgd::new(0.1), BinaryCrossentropy, &[]).fit(&x, &y).validation_split(0.5).run();
    assert_eq!(
        err.unwrap_err().to_string(),
        "invalid argument `validation_split`: 1 samples cannot be split by validation_split = 0.5: it leaves 0 for training and 1 for validation"
    );
}

/// `metrics` are unweighted and `weighted_metrics` weighted, logged with
/// Keras 3's names, the held-out part weighted by `sample_weight` but not by
/// `class_weight`, as Keras does. Old code (observed, sample weights):
/// `accuracy` [0.667, 0.952] was weighted (Keras: [0.571, 0.857]), `loss`
/// 0.808 (Keras 0.923, the split differed) and no `weighted_metrics`.
#[test]
fn metrics_and_weighted_metrics_match_keras() {
    let (x, y) = data(10);
    let sw = [1.0f32, 2.0, 0.5, 3.0, 1.0, 1.0, 2.0, 0.0, 4.0, 4.0];
    for case in ["sample_weight", "class_weight"] {
        let mut m = Logistic::new(0)
            .compile(Sgd::new(0.5), BinaryCrossentropy, &[Metric::Accuracy])
            .weighted_metrics(&[Metric::Accuracy]);
        m.network_mut().visit_params(&mut |p| match p.name {
            "kernel" => p.value.copy_from_slice(&[0.5, -0.3]),
            _ => p.value.copy_from_slice(&[0.1]),
        });
        let fit = m.fit(&x, &y).epochs(2).batch_size(4).shuffle(false).validation_split(0.25).verbose(0);
        let fit = if case == "sample_weight" { fit.sample_weight(&sw) } else { fit.class_weight(&[0.25, 2.0]) };
        let history = fit.run().unwrap();
        let keys: Vec<&str> = history.keys().collect();
        assert_eq!(
            keys,
            ["loss", "accuracy", "weighted_accuracy", "val_loss", "val_accuracy", "val_weighted_accuracy"]
        );
        let mut checked = 0;
        for line in FIXTURE.lines().filter_map(|l| l.strip_prefix(&format!("fit {case} "))) {
            let mut f = line.split(' ');
            let key = f.next().unwrap();
            let expected: Vec<f64> = f.map(|v| v.parse().unwrap()).collect();
            let got = history.get(key).unwrap();
            for (g, e) in got.iter().zip(&expected) {
                assert!((*g as f64 - e).abs() < 2e-6 * e.abs().max(1.0), "{case} {key}: {got:?} vs Keras {expected:?}");
            }
            checked += 1;
        }
        assert_eq!(checked, 6);
    }
}

/// Keras 3's `CompileMetrics.result` names per output, unweighted first.
#[test]
fn weighted_metric_names_follow_keras_for_several_outputs() {
    let m = TwoOut::new(0)
        .compile(Sgd::new(0.1), BinaryCrossentropy, &[Metric::Accuracy])
        .weighted_metrics(&[Metric::Accuracy, Metric::BinaryCrossentropy]);
    let names: Vec<String> = m.metric_results().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "loss",
            "main_output_loss",
            "aux_output_loss",
            "main_output_accuracy",
            "aux_output_accuracy",
            "main_output_weighted_accuracy",
            "main_output_binary_crossentropy",
            "aux_output_weighted_accuracy",
            "aux_output_binary_crossentropy"
        ]
    );
}

/// The public loss and metric functions check their slices' lengths
/// before reading them. Old code: a target one value short was silently
/// read as shorter samples (a wrong loss), and a short `sample_weight` or
/// `grad` panicked with an index out of bounds.
#[test]
fn batch_loss_and_metric_update_check_their_slices_first() {
    use kiln::losses::{batch_loss, SparseCategoricalCrossentropy};
    use kiln::metrics::{Metric, MetricState};
    fn refused<T: std::fmt::Debug>(result: kiln::Result<T>, name: &str, reason: &str) {
        match result {
            Err(Error::InvalidArgument { name: got, reason: why }) => assert_eq!((got, why.as_str()), (name, reason)),
            other => panic!("expected {name} refused, got {other:?}"),
        }
    }
    let (pred, target) = ([0.5f32, 1.0, 2.0, 4.0], [0.0f32; 4]);
    // (0.25 + 1) / 2 and (4 + 16) / 2, averaged.
    assert_eq!(batch_loss(&MeanSquaredError, &pred, &target, None, None, 2).unwrap(), 5.3125);
    refused(
        batch_loss(&MeanSquaredError, &pred, &target[..3], None, None, 2),
        "target",
        "must hold 2 samples of 2 values (4), but holds 3",
    );
    refused(
        batch_loss(&MeanSquaredError, &pred[..3], &target[..3], None, None, 2),
        "pred",
        "must hold a whole number of values per sample for 2 samples, but holds 3",
    );
    refused(
        batch_loss(&MeanSquaredError, &pred, &target, Some(&[1.0]), None, 2),
        "sample_weight",
        "must hold one weight per sample (2), but holds 1",
    );
    let mut grad = [0.0f32; 3];
    refused(
        batch_loss(&MeanSquaredError, &pred, &target, None, Some(&mut grad), 2),
        "grad",
        "must hold as many values as pred (4), but holds 3",
    );
    refused(
        batch_loss(&MeanSquaredError, &pred, &target, None, None, 0),
        "pred",
        "must be empty for 0 samples, but holds 4",
    );
    assert_eq!(batch_loss(&MeanSquaredError, &[], &[], None, None, 0).unwrap(), 0.0);
    // Sparse labels: one per sample.
    refused(
        batch_loss(&SparseCategoricalCrossentropy, &pred, &[1.0, 0.0, 1.0], None, None, 2),
        "target",
        "must hold 2 samples of 1 value (2), but holds 3",
    );

    // Targets the loss cannot take (a label past the last class), as `fit` refuses them.
    match batch_loss(&SparseCategoricalCrossentropy, &pred, &[1.0, 2.0], None, None, 2) {
        Err(Error::LabelOutOfRange { label, sample: 1, classes: 2 }) => assert_eq!(label, 2.0),
        other => panic!("expected the label 2 refused, got {other:?}"),
    }

    let mut accuracy = MetricState::new(Metric::Accuracy, &SparseCategoricalCrossentropy, 2);
    // argmaxes 1 and 1 against labels 1 and 0.
    accuracy.update(&pred, &[1.0, 0.0], None, 2).unwrap();
    assert_eq!(accuracy.result(), 0.5);
    refused(accuracy.update(&pred, &[1.0], None, 2), "target", "must hold 2 samples of 1 value (2), but holds 1");
    refused(
        accuracy.update(&pred, &[1.0, 0.0], Some(&[1.0, 1.0, 1.0]), 2),
        "sample_weight",
        "must hold one weight per sample (2), but holds 3",
    );
    assert_eq!(accuracy.result(), 0.5, "a refused update counted");
}

/// A layer that views its sample as `outer × axis × inner` checks that
/// view with one rule, overflow included. Old code: `Reduce::new` had no
/// fallible form and multiplied unchecked (in a release build `usize::MAX ×
/// 2 × 1` wrapped and passed the panic check it should have failed).
#[test]
fn layer_constructors_refuse_splits_that_do_not_make_the_sample() {
    use kiln::layers::{BatchNormalization, Dropout, DropoutKind, LayerNormalization, Reduce, ReduceOp};
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let bn = BatchNormalization::<12, 3>::new(Default::default(), 2, 3, &mut rng).err().unwrap();
    assert_eq!(bn.to_string(), "invalid argument `axis`: outer 2 × axis 3 × inner 3 must be the sample's 12 values");
    let overflow = BatchNormalization::<12, 3>::new(Default::default(), usize::MAX, 3, &mut rng).err().unwrap();
    assert!(overflow.to_string().contains(&format!("outer {} × axis 3 × inner 3", usize::MAX)), "{overflow}");
    let ln = LayerNormalization::<12, 4>::new(Default::default(), 1, 2, &mut rng).err().unwrap();
    assert_eq!(ln.to_string(), "invalid argument `axis`: outer 1 × axis 4 × inner 2 must be the sample's 12 values");
    let drop = Dropout::<12>::spatial(DropoutKind::Dropout, 0.5, usize::MAX / 2 + 1, 2, 3).err().unwrap();
    assert!(matches!(drop, kiln::Error::InvalidArgument { name: "noise_shape", .. }), "{drop}");
    assert!(drop.to_string().ends_with("must be the sample's 12 values"), "{drop}");
    // `usize::MAX × 2 × 1` wraps to `usize::MAX − 1`; with `N` that value,
    // an unchecked product passes.
    const WRAPPED: usize = usize::MAX - 1;
    let reduce = Reduce::<WRAPPED, 1>::try_new(ReduceOp::Sum, usize::MAX, 2, 1).err().unwrap();
    assert!(matches!(reduce, kiln::Error::InvalidArgument { name: "axis", .. }), "{reduce}");
    let reduce = Reduce::<12, 3>::try_new(ReduceOp::Mean, 2, 3, 2).err().unwrap();
    assert_eq!(reduce.to_string(), "invalid argument `axis`: outer 2 × inner 2 must be the output's 3 values");
    let zero = Reduce::<0, 0>::try_new(ReduceOp::Max, 1, 0, 1).err().unwrap();
    assert!(zero.to_string().contains("axis 0"), "{zero}");
    let ok = Reduce::<12, 4>::try_new(ReduceOp::Max, 1, 3, 4).unwrap();
    let mut y = [0.0; 4];
    let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
    kiln::layers::Layer::forward_one(&ok, &x, &mut y);
    assert_eq!(y, [8.0, 9.0, 10.0, 11.0]);
}

/// Old code: with a schedule on the optimizer, `LearningRateScheduler`
/// printed its new rate and `ReduceLROnPlateau` "reduced" it, while the
/// schedule went on setting the rate: both were silently ignored. Keras
/// raises ("its learning rate is not settable"); kiln refuses before the
/// first step.
#[test]
fn rate_callbacks_refuse_an_optimizer_whose_rate_follows_a_schedule() {
    let (x, y) = data(8);
    let scheduled = || Sgd::new(0.1).with_schedule(ExponentialDecay::new(0.1, 1000, 0.96));
    let mut m = Logistic::new(0).compile(scheduled(), BinaryCrossentropy, &[]);
    let mut scheduler = LearningRateScheduler::new(|_, _| 1e-6);
    let err = m.fit(&x, &y).epochs(2).verbose(0).callback(&mut scheduler).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "learning_rate", .. }), "{err}");
    assert!(err.to_string().contains("LearningRateScheduler"), "{err}");
    assert_eq!(m.optimizer().iterations(), 0);
    let mut plateau = ReduceLrOnPlateau::new().monitor("loss");
    let err = m.fit(&x, &y).epochs(2).verbose(0).callback(&mut plateau).run().unwrap_err();
    assert!(err.to_string().contains("ReduceLROnPlateau"), "{err}");
    assert_eq!(m.optimizer().iterations(), 0);
    // A callback of one's own gets the error from `set_learning_rate`.
    struct SetRate;
    impl<N: kiln::network::Network> Callback<N> for SetRate {
        fn on_epoch_begin(&mut self, _: usize, ctx: &mut CallbackContext<'_, N>) -> kiln::Result<()> {
            ctx.set_learning_rate(0.5)
        }
    }
    let err = m.fit(&x, &y).verbose(0).callback(&mut SetRate).run().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "learning_rate", .. }), "{err}");
}

/// Old code: sizes that overflow `usize` reached the arithmetic of the
/// constructors' size checks: "attempt to multiply with overflow" in a
/// debug build, and in a release build a wrapped product that could pass
/// the check it should fail. Now the documented panic, from checked sums
/// and products.
#[test]
fn layout_constructors_check_sizes_without_overflowing() {
    use kiln::layers::{Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D};
    let message = |f: fn()| {
        let payload = std::panic::catch_unwind(f).unwrap_err();
        payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
    };
    let cases: [(fn(), &str); 5] = [
        (|| _ = RepeatVector::<4, 8>::new(usize::MAX), "RepeatVector sizes do not match"),
        (|| _ = Permute::<4, 4>::new(&[usize::MAX, 2], &[1, 2]), "Permute sizes do not match"),
        (|| _ = Cropping2D::<4, 1>::new([2, 2, 1], [[usize::MAX, 1], [0, 0]]), "Cropping removes the whole input"),
        (|| _ = ZeroPadding2D::<2, 3>::new([1, 2, 1], [[usize::MAX, 1], [0, 0]]), "ZeroPadding sizes do not match"),
        (|| _ = UpSampling2D::<2, 8>::new([1, 2, 1], [usize::MAX / 2 + 1, 2]), "UpSampling sizes do not match"),
    ];
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let got: Vec<Option<String>> = cases.iter().map(|(f, _)| message(*f)).collect();
    std::panic::set_hook(hook);
    for ((_, want), got) in cases.iter().zip(got) {
        assert_eq!(got.as_deref(), Some(*want));
    }
}

/// Old code: a weights file or checkpoint holding a NaN (or infinity)
/// loaded without a word, and every prediction was NaN. kiln never writes
/// one (a step that would make a weight non-finite is refused), so such a
/// file is damaged; its error names the tensor and the index.
#[test]
fn files_holding_non_finite_values_are_refused_and_nothing_changes() {
    use kiln::io::FileProblem;
    let mut m = Logistic::new(0).compile(Sgd::new(0.1).with_momentum(0.9, false), BinaryCrossentropy, &[]);
    let (x, y) = data(8);
    m.train_on_batch(&x, &y).unwrap();
    let before = params(m.network());
    // The data section ends with the last tensor's last value.
    let poison = |mut bytes: Vec<u8>, value: f32| {
        let n = bytes.len();
        bytes[n - 4..].copy_from_slice(&value.to_le_bytes());
        bytes
    };
    let weights = kiln::io::weights_to_bytes(m.network()).unwrap();
    for value in [f32::NAN, f32::INFINITY] {
        let err = kiln::io::load_weights_from_bytes(m.network_mut(), &poison(weights.clone(), value)).unwrap_err();
        assert!(matches!(err, FileProblem::NonFinite { .. }), "{err}");
        assert!(err.to_string().contains(&format!("holds {value} at index")), "{err}");
        assert_eq!(params(m.network()), before);
    }
    let checkpoint = m.checkpoint_bytes().unwrap();
    let err = m.load_checkpoint_bytes(&poison(checkpoint, f32::NAN)).unwrap_err();
    assert!(matches!(err, FileProblem::NonFinite { .. }), "{err}");
    assert_eq!(params(m.network()), before);
    // The untouched files still load.
    kiln::io::load_weights_from_bytes(m.network_mut(), &weights).unwrap();
    m.load_checkpoint_bytes(&m.checkpoint_bytes().unwrap()).unwrap();

    // Nor is such a file written: old code saved weights set to NaN by
    // hand, a file every loader then refused.
    let mut first = true;
    m.network_mut().visit_params(&mut |p| {
        if std::mem::take(&mut first) {
            p.value[1] = f32::NAN;
        }
    });
    let err = kiln::io::weights_to_bytes(m.network()).unwrap_err();
    assert!(matches!(&err, Error::File { problem: FileProblem::NonFinite { index: 1, .. }, .. }), "{err}");
    assert!(matches!(m.checkpoint_bytes(), Err(FileProblem::NonFinite { index: 1, .. })));
    let path = std::env::temp_dir().join(format!("kiln-nan-weights-{}.safetensors", std::process::id()));
    assert!(kiln::io::save_weights(m.network(), &path).is_err());
    assert!(!path.exists(), "nothing written");
}
