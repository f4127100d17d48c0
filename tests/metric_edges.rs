//! How metrics read predictions and targets, checked against Keras in the
//! three cases where kiln's numbers differed (numbers from
//! `tests/fixtures/keras_metric_edges.py`), and the target checks of
//! `MetricState::update`, which `batch_loss` already had.

use kiln::metrics::{Metric, MetricState};
use kiln::network::Network;
use kiln::prelude::*;

#[allow(dead_code, clippy::all)]
mod keras {
    include!("fixtures/keras_metric_edges.rs");
}

kiln::model! {
    struct Sigmoid3 {
        input x: [f32; 2];
        let p = Dense(3, activation = sigmoid)(x);
        output p;
    }
}

kiln::model! {
    struct Sigmoid1 {
        input x: [f32; 2];
        let p = Dense(1, activation = sigmoid)(x);
        output p;
    }
}

kiln::model! {
    struct Softmax3 {
        input x: [f32; 2];
        let p = Dense(3, activation = softmax)(x);
        output p;
    }
}

const X: [[f32; 2]; 4] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]];

/// The one Dense layer's kernel and bias.
fn set<N: Network>(net: &mut N, kernel: &[f32], bias: &[f32]) {
    let mut values = [kernel, bias].into_iter();
    net.visit_params(&mut |p| p.value.copy_from_slice(values.next().unwrap()));
}

/// `|got − want| ≤ 1e-6·max(1, |want|)`: f32 rounding passes, a 0.1% error fails.
fn assert_close(what: &str, got: f32, want: f64) {
    assert!((f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0), "{what}: {got} vs Keras {want}");
}

/// Old code: `"accuracy"` became binary accuracy because the loss is binary
/// cross-entropy (0.5 here); Keras chooses from the shapes alone, binary only
/// for one output value, so categorical accuracy (0.0).
#[test]
fn accuracy_of_several_sigmoid_outputs_is_categorical_as_in_keras() {
    let mut net = Sigmoid3::new(0);
    set(&mut net, &[0.5, -0.3, 0.8, -0.6, 0.4, 0.2], &[0.1, -0.2, 0.05]);
    let mut m = net.compile(Sgd::new(0.1), BinaryCrossentropy, &[Metric::Accuracy]);
    let y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let logs = m.evaluate(&X, &y, 4).unwrap();
    assert_close("loss", logs.get("loss").unwrap(), keras::MULTI_LABEL_LOSS);
    assert_close("accuracy", logs.get("accuracy").unwrap(), keras::MULTI_LABEL_ACCURACY);
}

/// Old code: `(p > 0.5) == (t > 0.5)` counted a target of 0.3 as a hit for
/// p ≤ 0.5 (0.5 here); Keras compares the target with `p > 0.5` as 0 or 1,
/// so only exact 0/1 targets can be hits (0.25).
#[test]
fn binary_accuracy_compares_soft_targets_as_keras_does() {
    let mut net = Sigmoid1::new(0);
    set(&mut net, &[0.5, -0.3], &[0.1]);
    let mut m = net.compile(Sgd::new(0.1), BinaryCrossentropy, &[Metric::Accuracy, Metric::BinaryAccuracy]);
    let y = [[0.3], [0.3], [0.5], [0.0]];
    let logs = m.evaluate(&X, &y, 4).unwrap();
    assert_close("loss", logs.get("loss").unwrap(), keras::SOFT_LOSS);
    assert_close("accuracy", logs.get("accuracy").unwrap(), keras::SOFT_ACCURACY);
    assert_close("binary_accuracy", logs.get("binary_accuracy").unwrap(), keras::SOFT_BINARY_ACCURACY);
}

/// Old code: the loss came from the logits (21.25) but the same
/// cross-entropy as a metric from the clipped probabilities (12.04 and
/// 14.59). Keras's metric reads the output's logits as its loss does.
#[test]
fn cross_entropy_metrics_read_the_logits_as_the_loss_does() {
    let mut net = Sigmoid1::new(0);
    set(&mut net, &[20.0, -30.0], &[0.0]);
    let metrics = [Metric::BinaryCrossentropy, Metric::MeanSquaredError];
    let mut m = net.compile(Sgd::new(0.1), BinaryCrossentropy, &metrics);
    let logs = m.evaluate(&X, &[[0.0], [1.0], [0.0], [1.0]], 4).unwrap();
    assert_close("loss", logs.get("loss").unwrap(), keras::SATURATED_BCE_LOSS);
    assert_close("binary_crossentropy", logs.get("binary_crossentropy").unwrap(), keras::SATURATED_BCE_METRIC);
    assert_close("mean_squared_error", logs.get("mean_squared_error").unwrap(), keras::SATURATED_MSE_METRIC);

    let kernel = [30.0, 0.0, -5.0, 0.0, -20.0, 10.0];
    let mut net = Softmax3::new(0);
    set(&mut net, &kernel, &[0.0; 3]);
    let mut m = net.compile(Sgd::new(0.1), CategoricalCrossentropy, &[Metric::CategoricalCrossentropy]);
    let one_hot = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
    let logs = m.evaluate(&X, &one_hot, 4).unwrap();
    assert_close("loss", logs.get("loss").unwrap(), keras::SATURATED_CCE_LOSS);
    assert_close(
        "categorical_crossentropy",
        logs.get("categorical_crossentropy").unwrap(),
        keras::SATURATED_CCE_METRIC,
    );

    let mut net = Softmax3::new(0);
    set(&mut net, &kernel, &[0.0; 3]);
    let sparse = [Metric::SparseCategoricalCrossentropy];
    let mut m = net.compile(Sgd::new(0.1), SparseCategoricalCrossentropy, &sparse);
    let labels = [[1.0f32], [0.0], [2.0], [1.0]];
    let logs = m.evaluate(&X, &labels, 4).unwrap();
    assert_close("loss", logs.get("loss").unwrap(), keras::SATURATED_SCCE_LOSS);
    let metric = logs.get("sparse_categorical_crossentropy").unwrap();
    assert_close("sparse_categorical_crossentropy", metric, keras::SATURATED_SCCE_METRIC);

    // The same in training: the step's logged metric equals its loss.
    let mut net = Sigmoid1::new(0);
    set(&mut net, &[20.0, -30.0], &[0.0]);
    let mut m = net.compile(Sgd::new(0.0), BinaryCrossentropy, &[Metric::BinaryCrossentropy]);
    let history = m.fit(&X, &[[0.0], [1.0], [0.0], [1.0]]).batch_size(4).verbose(0).run().unwrap();
    assert_close(
        "fit's binary_crossentropy",
        history.get("binary_crossentropy").unwrap()[0],
        keras::SATURATED_BCE_METRIC,
    );
}

/// Old code: `update` checked lengths only, so a label past the last class
/// gave a cross-entropy of 0, a label of −1 counted as class 0, and a
/// binary target of 5 a negative cross-entropy, all `Ok`.
#[test]
fn metric_update_refuses_targets_its_metric_cannot_read() {
    let mut sparse = MetricState::new(Metric::SparseCategoricalCrossentropy, &SparseCategoricalCrossentropy, 3);
    let err = sparse.update(&[0.2, 0.3, 0.5], &[7.0], None, 1).unwrap_err();
    assert!(matches!(err, kiln::Error::LabelOutOfRange { sample: 0, classes: 3, .. }), "{err}");
    // An accuracy takes any label, as Keras's: −1 is a miss (old code read
    // it as class 0, a hit here).
    let mut accuracy = MetricState::new(Metric::SparseCategoricalAccuracy, &SparseCategoricalCrossentropy, 3);
    accuracy.update(&[0.5, 0.3, 0.2], &[-1.0], None, 1).unwrap();
    assert_eq!(accuracy.result(), 0.0);
    accuracy.reset();
    let mut binary = MetricState::new(Metric::BinaryCrossentropy, &BinaryCrossentropy, 1);
    let err = binary.update(&[0.9], &[5.0], None, 1).unwrap_err();
    assert!(matches!(err, kiln::Error::TargetOutOfRange { sample: 0, .. }), "{err}");
    // Nothing was counted: a valid batch afterwards gives its own value.
    accuracy.update(&[0.2, 0.3, 0.5], &[2.0], None, 1).unwrap();
    assert_eq!(accuracy.result(), 1.0);
    // Training refuses a metric's bad targets before any step, even where
    // the loss itself takes them (mean squared error takes a target of 5).
    let mut m = Sigmoid1::new(0).compile(Sgd::new(0.1), MeanSquaredError, &[Metric::BinaryCrossentropy]);
    let err = m.fit(&X, &[[0.0], [1.0], [5.0], [1.0]]).verbose(0).run().unwrap_err();
    assert!(matches!(err, kiln::Error::TargetOutOfRange { sample: 2, .. }), "{err}");
    assert_eq!(m.optimizer().iterations(), 0);
}

/// Old code: `predict_classes` took the argmax of a one-value output, class
/// 0 for every sample. Keras's `predict_classes` thresholds one sigmoid
/// output at 0.5 (`(proba > 0.5).astype('int32')`) and takes the argmax of
/// several.
#[test]
fn predict_classes_thresholds_a_single_output_at_one_half() {
    let mut net = Sigmoid1::new(0);
    // Logits 0.6, −0.2, 0.3, −0.5 + 0.1: probabilities above, below, above, below 0.5.
    set(&mut net, &[0.5, -0.3], &[0.1]);
    let mut m = net.compile(Sgd::new(0.1), BinaryCrossentropy, &[]);
    assert_eq!(m.predict_classes(&X, 3).unwrap(), [1, 0, 1, 0]);
    let mut net = Softmax3::new(0);
    set(&mut net, &[30.0, 0.0, -5.0, 0.0, -20.0, 10.0], &[0.0; 3]);
    let mut m = net.compile(Sgd::new(0.1), CategoricalCrossentropy, &[]);
    assert_eq!(m.predict_classes(&X, 4).unwrap(), [0, 2, 0, 2]);
}
