//! Regularizers and constraints (issue 11, item 4) against real Keras:
//! the loss Keras reports at each `train_on_batch` (weight and activity
//! penalties included), the weights after each SGD step (constraints
//! applied after the update), and `evaluate`'s loss.
//! Fixture: tests/fixtures/keras_regularizers.py.

#[path = "fixtures/keras_regularizers.rs"]
mod keras;
mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

use kiln::prelude::*;
use kiln::Error;

kiln::model! {
    struct Mlp {
        input x: [f32; 5];
        let hidden = Dense(4, activation = tanh,
            kernel_regularizer = l2(0.01),
            bias_regularizer = l1(0.02),
            activity_regularizer = l1_l2(l1 = 0.01, l2 = 0.02),
            kernel_constraint = max_norm(1.0),
            name = "hidden")(x);
        let probs = Dense(3, activation = softmax,
            kernel_regularizer = L1L2(0.01, 0.005),
            kernel_constraint = UnitNorm(axis = 0),
            bias_constraint = NonNeg(),
            name = "probs")(hidden);
        output probs;
    }
}

kiln::model! {
    struct Text {
        input ids: [u32; 6];
        let e = Embedding(10, 4, embeddings_regularizer = l2(0.001), embeddings_constraint = max_norm(0.8, axis = 1))(ids);
        let s = LSTM(3,
            kernel_regularizer = l2(0.01),
            recurrent_regularizer = l1(0.01),
            bias_regularizer = l2(0.1),
            recurrent_constraint = MinMaxNorm(0.5, 1.0, rate = 0.5),
            kernel_constraint = MaxNorm(1.0, axis = [0, 1]))(e);
        let out = Dense(1, activation = sigmoid, name = "out")(s);
        output out;
    }
}

/// Sets every parameter from Keras's `(path, values)` list, by path.
fn set_by_path<N: Network>(net: &mut N, weights: &[(&str, &[f32])]) {
    let paths = net.param_paths();
    let mut i = 0;
    net.visit_params(&mut |p| {
        let (_, values) = weights.iter().find(|(path, _)| *path == paths[i]).unwrap_or_else(|| panic!("{}", paths[i]));
        p.value.copy_from_slice(values);
        i += 1;
    });
}

/// Asserts every parameter equals Keras's, relatively to 2e-6 of the
/// tensor's largest value (float32 rounding over three steps; a wrong
/// formula or a skipped constraint is off by far more).
fn assert_weights<N: Network>(net: &N, expected: &[(&str, &[f32])]) {
    let paths = net.param_paths();
    let mut i = 0;
    net.params(&mut |p| {
        let (_, want) = expected.iter().find(|(path, _)| *path == paths[i]).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (k, (g, w)) in p.value.iter().zip(want.iter()).enumerate() {
            assert!((g - w).abs() <= 2e-6 * scale, "{}[{k}]: kiln {g}, Keras {w}", paths[i]);
        }
        i += 1;
    });
}

fn assert_close(got: f32, want: f32, what: &str) {
    assert!((got - want).abs() <= 2e-6 * want.abs(), "{what}: kiln {got}, Keras {want}");
}

#[test]
fn dense_regularizers_and_constraints_match_keras() {
    let mut model = Mlp::new(0).compile(Sgd::new(0.5), CategoricalCrossentropy, &[]);
    set_by_path(model.network_mut(), keras::mlp::INITIAL);
    let x: Vec<[f32; 5]> = keras::mlp::X.chunks(5).map(|c| c.try_into().unwrap()).collect();
    let y: Vec<[f32; 3]> = keras::mlp::Y.chunks(3).map(|c| c.try_into().unwrap()).collect();
    for (step, want) in keras::mlp::STEP_LOSSES.iter().enumerate() {
        let loss = model.train_on_batch(&x[..], &y[..]).unwrap();
        assert_close(loss, *want, &format!("loss of step {step}"));
    }
    assert_weights(model.network(), keras::mlp::AFTER);
    let loss = model.evaluate(&x[..], &y[..], 4).unwrap().get("loss").unwrap();
    assert_close(loss, keras::mlp::EVALUATE_LOSS, "evaluate");
}

#[test]
fn embedding_and_lstm_regularizers_and_constraints_match_keras() {
    let mut model = Text::new(0).compile(Sgd::new(0.5), BinaryCrossentropy, &[]);
    set_by_path(model.network_mut(), keras::text::INITIAL);
    let x: Vec<[u32; 6]> = keras::text::X.chunks(6).map(|c| std::array::from_fn(|i| c[i] as u32)).collect();
    let y: Vec<[f32; 1]> = keras::text::Y.iter().map(|v| [*v]).collect();
    for (step, want) in keras::text::STEP_LOSSES.iter().enumerate() {
        let loss = model.train_on_batch(&x[..], &y[..]).unwrap();
        assert_close(loss, *want, &format!("loss of step {step}"));
    }
    assert_weights(model.network(), keras::text::AFTER);
    let loss = model.evaluate(&x[..], &y[..], 4).unwrap().get("loss").unwrap();
    assert_close(loss, keras::text::EVALUATE_LOSS, "evaluate");
}

/// `to_json()` writes each regularizer and constraint as Keras's serialized
/// object, whichever spelling the model used (`l2(0.01)`, `L1L2(…)`,
/// `UnitNorm(axis = 0)`), so `model_from_json` rebuilds them.
#[test]
fn to_json_writes_keras_regularizer_and_constraint_objects() {
    let json = Mlp::new(0).to_json_value().unwrap();
    let layers = json["config"]["layers"].as_array().unwrap();
    let config = |name: &str| &layers.iter().find(|l| l["name"] == name).unwrap()["config"];
    let object = |v: &kiln::json::Value| (v["class_name"].as_str().unwrap().to_string(), v["config"].clone());
    let hidden = config("hidden");
    assert_eq!(object(&hidden["kernel_regularizer"]).0, "L2");
    assert_eq!(object(&hidden["kernel_regularizer"]).1["l2"], 0.01);
    assert_eq!(object(&hidden["activity_regularizer"]).0, "L1L2");
    assert_eq!(object(&hidden["kernel_constraint"]).0, "MaxNorm");
    let probs = config("probs");
    let (class, c) = object(&probs["kernel_regularizer"]);
    assert_eq!((class.as_str(), &c["l1"], &c["l2"]), ("L1L2", &0.01.into(), &0.005.into()));
    assert_eq!(object(&probs["kernel_constraint"]).0, "UnitNorm");
    assert_eq!(object(&probs["bias_constraint"]).0, "NonNeg");
}

/// Regularizers and norm constraints add no allocation to a warm training
/// step (the constraints' norms live in the optimizer's scratch space).
#[test]
fn regularized_and_constrained_steps_allocate_nothing_once_warm() {
    let mut model = Text::new(0).compile(Sgd::new(0.5), BinaryCrossentropy, &[]);
    let x: Vec<[u32; 6]> = keras::text::X.chunks(6).map(|c| std::array::from_fn(|i| c[i] as u32)).collect();
    let y: Vec<[f32; 1]> = keras::text::Y.iter().map(|v| [*v]).collect();
    model.train_on_batch(&x[..], &y[..]).unwrap();
    let (calls, loss) = support::allocations(|| model.train_on_batch(&x[..], &y[..]).unwrap());
    assert!(loss.is_finite());
    assert_eq!(calls, 0, "a warm step with regularizers and constraints allocated");
}

fn all_values<N: Network>(net: &N) -> Vec<f32> {
    let mut values = Vec::new();
    net.params(&mut |p| values.extend_from_slice(&p.value));
    values
}

/// `train_on_batch` and `fit` on a fresh `$net` (3 features, 2 outputs)
/// both return `InvalidArgument { name: $name, reason: $reason }`, and no
/// weight changed.
macro_rules! assert_refused_before_a_step {
    ($net:ident, $name:literal, $reason:expr) => {{
        let (x, y) = (vec![[1.0f32, 2.0, 3.0]; 4], vec![[0.5f32, -0.5]; 4]);
        let mut model = $net::new(0).compile(Sgd::new(0.1), MeanSquaredError, &[]);
        let before = all_values(model.network());
        for result in
            [model.train_on_batch(&x[..], &y[..]).map(|_| ()), model.fit(&x[..], &y[..]).verbose(0).run().map(|_| ())]
        {
            match result {
                Err(Error::InvalidArgument { name: $name, reason }) => assert_eq!(reason, $reason),
                other => panic!("{}: {other:?}", stringify!($net)),
            }
        }
        assert_eq!(all_values(model.network()), before, "no step was taken");
    }};
}

const HIGH: f32 = 2.0;
const NEGATIVE_RATE: f32 = -0.01;

kiln::model! {
    /// A regularizer factor the macro cannot read (a constant).
    struct NegativeL2 {
        input x: [f32; 3];
        let y = Dense(2, kernel_regularizer = l2(NEGATIVE_RATE))(x);
        output y;
    }
}

kiln::model! {
    /// An activity regularizer's factor from a constant.
    struct NegativeActivity {
        input x: [f32; 3];
        let y = Dense(2, activity_regularizer = l1(NEGATIVE_RATE))(x);
        output y;
    }
}

/// Old code: taken; the penalty rewarded large activations.
#[test]
fn a_negative_activity_regularizer_factor_is_an_error_before_the_first_step() {
    assert_refused_before_a_step!(
        NegativeActivity,
        "l1",
        "of the activity regularizer of `dense` must be ≥ 0 and finite, but is -0.01"
    );
}

kiln::model! {
    /// `NegativeActivity` inside another model.
    struct NestedNegativeActivity {
        input x: [f32; 3];
        let inner: [2] = custom(NegativeActivity::new(1))(x);
        let y = Dense(2)(inner);
        output y;
    }
}

/// Old code: only the outer graph's activity regularizers were checked;
/// a nested model's negative factor was taken.
#[test]
fn a_nested_models_negative_activity_factor_is_an_error_before_the_first_step() {
    assert_refused_before_a_step!(
        NestedNegativeActivity,
        "l1",
        "of the activity regularizer of `dense` must be ≥ 0 and finite, but is -0.01 (inside `negative_activity`)"
    );
}

kiln::model! {
    #[derive(Clone)]
    pub struct PenalizedInner {
        input x: [f32; 3];
        let h = Dense(4, activation = tanh, activity_regularizer = l2(0.5))(x);
        output h;
    }
}

kiln::model! {
    struct PenalizedOuter {
        input x: [f32; 3];
        let h: [4] = custom(PenalizedInner::new(1))(x);
        let y = Dense(2)(h);
        output y;
    }
}

/// Keras adds a nested model's activity penalties to the outer model's
/// loss (`model.losses` collects every sublayer's). Old code: the inner
/// model added its penalty to its own workspace, never to the loss the
/// outer model reported (while its backward pass did apply the penalty's
/// gradient). The loss here is computed by hand in f64 from the two
/// models' predictions: mean squared error plus `0.5 · Σ h² / batch`.
#[test]
fn a_nested_models_activity_penalty_is_part_of_the_outer_loss() {
    let x: Vec<[f32; 3]> = (0..5).map(|i| [i as f32 * 0.3 - 0.6, 0.25 * i as f32, 1.0 - 0.4 * i as f32]).collect();
    let y: Vec<[f32; 2]> = (0..5).map(|i| [0.1 * i as f32, -0.2 * i as f32]).collect();
    let inner = PenalizedInner::new(1);
    let mut model = PenalizedOuter::new(2).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    let (mut mse, mut penalty) = (0.0f64, 0.0f64);
    for (xs, ys) in x.iter().zip(&y) {
        let h = inner.predict_one(xs);
        penalty += 0.5 * h.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64;
        let out = model.network().predict_one(xs);
        mse += out.iter().zip(ys).map(|(&o, &t)| (f64::from(o) - f64::from(t)).powi(2)).sum::<f64>()
            / 2.0
            / x.len() as f64;
    }
    assert!(penalty > 0.1 * mse, "the penalty must be large enough to matter: {penalty} vs {mse}");
    let want = (mse + penalty) as f32;
    let evaluated = model.evaluate(&x[..], &y[..], 5).unwrap().get("loss").unwrap();
    assert!((evaluated - want).abs() <= 2e-6 * want, "evaluate: {evaluated}, expected {want} (MSE alone {mse})");
    let trained = model.train_on_batch(&x[..], &y[..]).unwrap();
    assert!((trained - want).abs() <= 2e-6 * want, "train_on_batch: {trained}, expected {want}");
    // The next step's loss is the new weights' loss, not the sum of both.
    let again = model.evaluate(&x[..], &y[..], 5).unwrap().get("loss").unwrap();
    assert!(again < want && again > 0.5 * want, "{again} after one step from {want}");
}

kiln::model! {
    /// tests/fixtures/keras_nested_activity.py's inner model.
    #[derive(Clone)]
    pub struct OnesInner {
        input x: [f32; 4];
        let h = Dense(2, activity_regularizer = l2(1.0), kernel_initializer = ones)(x);
        output h;
    }
}

kiln::model! {
    struct OnesNested {
        input x: [f32; 4];
        let h: [2] = custom(OnesInner::new(0))(x);
        output h;
    }
}

kiln::model! {
    struct OnesOverTime {
        input x: [f32; 3, 4];
        let h: [3, 2] = custom(kiln::layers::TimeDistributed::<OnesInner, 3>::new(OnesInner::new(0)))(x);
        output h;
    }
}

/// Keras 3.15.1's losses (tests/fixtures/keras_nested_activity.py): all
/// outputs are 4, so the mean squared error is 16 and each sample's
/// penalty `Σ h²` is 32 per call of the inner model. Nested: 16 + 2·32/2
/// = 48. Through `TimeDistributed`, which calls the inner model once per
/// step (each step's penalty over the batch of 2): 16 + 3·2·32/2 = 112.
/// Old code: 16 for both (the inner penalty never reached the loss).
#[test]
fn nested_activity_penalties_match_keras() {
    let mut nested = OnesNested::new(0).compile(Sgd::new(0.0), MeanSquaredError, &[]);
    let (x, y) = (vec![[1.0f32; 4]; 2], vec![[0.0f32; 2]; 2]);
    assert_eq!(nested.evaluate(&x[..], &y[..], 2).unwrap().get("loss"), Some(48.0));
    assert_eq!(nested.train_on_batch(&x[..], &y[..]).unwrap(), 48.0);
    let mut over_time = OnesOverTime::new(0).compile(Sgd::new(0.0), MeanSquaredError, &[]);
    let (x, y) = (vec![[[1.0f32; 4]; 3]; 2], vec![[[0.0f32; 2]; 3]; 2]);
    assert_eq!(over_time.evaluate(&x[..], &y[..], 2).unwrap().get("loss"), Some(112.0));
    assert_eq!(over_time.train_on_batch(&x[..], &y[..]).unwrap(), 112.0);

    // The step's gradient is that loss's: one SGD step of rate 1 moves the
    // inner kernel by −∂L/∂w, against central differences of `evaluate`
    // (exact for this quadratic loss up to float32 rounding of ~100).
    let mut model = OnesOverTime::new(0).compile(Sgd::new(1.0), MeanSquaredError, &[]);
    let kernel = |net: &OnesOverTime| all_values(net)[..8].to_vec();
    let before = kernel(model.network());
    let h = 0.05f32;
    let mut numeric = Vec::new();
    for i in 0..8 {
        let at = |delta: f32| {
            let mut probe = OnesOverTime::new(0).compile(Sgd::new(0.0), MeanSquaredError, &[]);
            let mut k = 0;
            probe.network_mut().visit_params(&mut |p| {
                for v in p.value.iter_mut() {
                    if k == i {
                        *v += delta;
                    }
                    k += 1;
                }
            });
            f64::from(probe.evaluate(&x[..], &y[..], 2).unwrap().get("loss").unwrap())
        };
        numeric.push((at(h) - at(-h)) / (2.0 * f64::from(h)));
    }
    model.train_on_batch(&x[..], &y[..]).unwrap();
    for (i, (b, a)) in before.iter().zip(kernel(model.network())).enumerate() {
        let analytic = f64::from(b - a);
        assert!(
            (analytic - numeric[i]).abs() <= 1e-3 * numeric[i].abs(),
            "kernel[{i}]: step {analytic}, numeric {}",
            numeric[i]
        );
    }
}

/// Old code: a negative factor from a constant was taken (Keras raises
/// ValueError): the penalty rewarded large weights; NaN made the loss NaN.
#[test]
fn a_negative_regularizer_factor_is_an_error_before_the_first_step() {
    assert_refused_before_a_step!(
        NegativeL2,
        "l2",
        "of the regularizer on `dense/kernel` must be ≥ 0 and finite, but is -0.01"
    );
}
const NEGATIVE: f32 = -1.0;

kiln::model! {
    /// `min_value` above `max_value` (1.0 by default), through a constant
    /// the macro cannot read.
    struct MinAboveMax {
        input x: [f32; 3];
        let y = Dense(2, kernel_constraint = min_max_norm(min_value = HIGH))(x);
        output y;
    }
}

kiln::model! {
    struct NegativeMaxNorm {
        input x: [f32; 3];
        let y = Dense(2, kernel_constraint = max_norm(NEGATIVE))(x);
        output y;
    }
}

/// Old code: `f32::clamp` panicked ("min > max") inside the first
/// optimizer step (`fit`, `train_on_batch`), after the batch's forward and
/// backward passes; a negative `max_value` silently flipped every weight's
/// sign. Now both are refused before any work, naming the argument.
#[test]
fn impossible_constraints_are_errors_before_the_first_step() {
    assert_refused_before_a_step!(
        MinAboveMax,
        "min_value",
        "of min_max_norm on `dense/kernel` must be ≤ max_value (1), but is 2"
    );
    assert_refused_before_a_step!(
        NegativeMaxNorm,
        "max_value",
        "of max_norm on `dense/kernel` must be ≥ 0 and finite, but is -1"
    );
}
