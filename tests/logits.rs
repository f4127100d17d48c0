//! Cross-entropy after a sigmoid or softmax output is computed from the
//! logits, as Keras does (issue 8, item 1): exact losses and gradients
//! where the probabilities saturate, matching Keras's numbers.

use kiln::losses::{output_loss, BinaryCrossentropy, CategoricalCrossentropy, Loss, SparseCategoricalCrossentropy};
use kiln::network::Network;
use kiln::prelude::{Compile, Metric, Sgd};

#[allow(dead_code, clippy::all)]
mod keras {
    include!("fixtures/keras_logits.rs");
}

kiln::model! {
    struct SigmoidOut {
        input x: [f32; 4];
        let p = Dense(1, activation = sigmoid)(x);
        output p;
    }
}

kiln::model! {
    struct SoftmaxOut {
        input x: [f32; 4];
        let p = Dense(3, activation = softmax)(x);
        output p;
    }
}

kiln::model! {
    struct Logits1 {
        input x: [f32; 4];
        let z = Dense(1)(x);
        output z;
    }
}

kiln::model! {
    struct Logits3 {
        input x: [f32; 4];
        let z = Dense(3)(x);
        output z;
    }
}

fn f32s(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

/// Sets the one Dense layer's kernel and bias, runs forward, the loss and
/// backward on the fixture's four samples; returns (loss, kernel grad, bias grad).
fn loss_and_grads<N: Network<Input = [f32; 4]>>(
    mut net: N,
    kernel: &[f64],
    bias: &[f64],
    loss: &dyn Loss,
    y: &[f64],
) -> (f32, Vec<f32>, Vec<f32>) {
    let mut values = vec![f32s(kernel), f32s(bias)].into_iter();
    net.visit_params(&mut |p| p.value.copy_from_slice(&values.next().unwrap()));
    let x = f32s(keras::X);
    let mut ws = net.workspace(4);
    net.forward(&mut ws, &x, 4, true);
    let value = output_loss(loss, N::output_buffers(&mut ws, 0, 4), &f32s(y), None, true, 4, 1.0);
    net.backward(&mut ws, &x, 4);
    let mut grads = Vec::new();
    net.params(&mut |p| grads.push(p.grad.to_vec()));
    (value, grads[0].clone(), grads[1].clone())
}

/// `|got − want| ≤ 1e-5·max|want|` elementwise: f32 rounding of Keras's own
/// f32 computation passes; a 0.1% error does not.
fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() <= 1e-5 * scale, "{what}: {got:?} vs Keras {want:?}");
    }
}

/// A loss read from the clipped probabilities only: what kiln computed
/// before it read logits (it has no `logits_form`).
#[derive(Clone)]
struct FromProbabilities<L>(L);

impl<L: Loss> Loss for FromProbabilities<L> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn target_len(&self, outputs: usize) -> usize {
        self.0.target_len(outputs)
    }
    fn sample_loss(&self, pred: &[f32], target: &[f32], grad: Option<&mut [f32]>, scale: f32) -> f64 {
        self.0.sample_loss(pred, target, grad, scale)
    }
}

#[test]
fn probabilities_alone_lose_the_saturated_samples() {
    // The old path on the same fixture (observed): loss 4.7633 instead of
    // Keras's 5.0449, kernel gradient [2.864, -3.569, 0.236, -0.015] instead
    // of [4.740, 0.403, 0.374, -0.029]: the saturated samples teach nothing.
    let old = FromProbabilities(BinaryCrossentropy);
    let (loss, dk, _) = loss_and_grads(SigmoidOut::new(0), keras::KERNEL_1, keras::BIAS_1, &old, keras::Y_BINARY);
    assert!((loss as f64 - keras::SIGMOID_BCE_LOSS).abs() > 0.1);
    assert!((dk[0] as f64 - keras::SIGMOID_BCE_KERNEL_GRAD[0]).abs() > 0.1);
}

#[test]
fn sigmoid_binary_crossentropy_matches_keras_on_saturated_logits() {
    let (loss, dk, db) =
        loss_and_grads(SigmoidOut::new(0), keras::KERNEL_1, keras::BIAS_1, &BinaryCrossentropy, keras::Y_BINARY);
    assert_close("loss", &[loss], &[keras::SIGMOID_BCE_LOSS]);
    assert_close("kernel", &dk, keras::SIGMOID_BCE_KERNEL_GRAD);
    assert_close("bias", &db, keras::SIGMOID_BCE_BIAS_GRAD);
}

#[test]
fn softmax_categorical_crossentropies_match_keras_on_saturated_logits() {
    let (loss, dk, db) =
        loss_and_grads(SoftmaxOut::new(0), keras::KERNEL_3, keras::BIAS_3, &CategoricalCrossentropy, keras::Y_ONE_HOT);
    assert_close("loss", &[loss], &[keras::SOFTMAX_CCE_LOSS]);
    assert_close("kernel", &dk, keras::SOFTMAX_CCE_KERNEL_GRAD);
    assert_close("bias", &db, keras::SOFTMAX_CCE_BIAS_GRAD);
    let (loss, dk, db) = loss_and_grads(
        SoftmaxOut::new(0),
        keras::KERNEL_3,
        keras::BIAS_3,
        &SparseCategoricalCrossentropy,
        keras::Y_SPARSE,
    );
    assert_close("sparse loss", &[loss], &[keras::SOFTMAX_SPARSE_CCE_LOSS]);
    assert_close("sparse kernel", &dk, keras::SOFTMAX_SPARSE_CCE_KERNEL_GRAD);
    assert_close("sparse bias", &db, keras::SOFTMAX_SPARSE_CCE_BIAS_GRAD);
}

#[test]
fn from_logits_losses_match_keras() {
    let bce = BinaryCrossentropy { from_logits: true };
    let (loss, dk, db) = loss_and_grads(Logits1::new(0), keras::KERNEL_1, keras::BIAS_1, &bce, keras::Y_BINARY);
    assert_close("bce loss", &[loss], &[keras::LINEAR_BCE_FROM_LOGITS_LOSS]);
    assert_close("bce kernel", &dk, keras::LINEAR_BCE_FROM_LOGITS_KERNEL_GRAD);
    assert_close("bce bias", &db, keras::LINEAR_BCE_FROM_LOGITS_BIAS_GRAD);
    let cce = CategoricalCrossentropy { from_logits: true };
    let (loss, dk, db) = loss_and_grads(Logits3::new(0), keras::KERNEL_3, keras::BIAS_3, &cce, keras::Y_ONE_HOT);
    assert_close("cce loss", &[loss], &[keras::LINEAR_CCE_FROM_LOGITS_LOSS]);
    assert_close("cce kernel", &dk, keras::LINEAR_CCE_FROM_LOGITS_KERNEL_GRAD);
    assert_close("cce bias", &db, keras::LINEAR_CCE_FROM_LOGITS_BIAS_GRAD);
    let scce = SparseCategoricalCrossentropy { from_logits: true };
    let (loss, dk, db) = loss_and_grads(Logits3::new(0), keras::KERNEL_3, keras::BIAS_3, &scce, keras::Y_SPARSE);
    assert_close("scce loss", &[loss], &[keras::LINEAR_SPARSE_CCE_FROM_LOGITS_LOSS]);
    assert_close("scce kernel", &dk, keras::LINEAR_SPARSE_CCE_FROM_LOGITS_KERNEL_GRAD);
    assert_close("scce bias", &db, keras::LINEAR_SPARSE_CCE_FROM_LOGITS_BIAS_GRAD);
}

kiln::model! {
    struct Classifier {
        input x: [f32; 2];
        let p = Dense(1, activation = sigmoid)(x);
        output p;
    }
}

kiln::model! {
    struct ClassifierLogits {
        input x: [f32; 2];
        let z = Dense(1)(x);
        output z;
    }
}

/// 200 unscaled points in [−50000, 50000]²: with Glorot weights every
/// initial logit is hundreds of units from zero, so every probability
/// starts saturated at exactly 0 or 1 in f32.
fn saturated_points() -> (Vec<[f32; 2]>, Vec<[f32; 1]>) {
    let x: Vec<[f32; 2]> = (0..200)
        .map(|i| [(((i * 37) % 101) as f32 - 50.0) * 1000.0, (((i * 53) % 97) as f32 - 48.5) * 1000.0])
        .collect();
    let y = x.iter().map(|p| [f32::from(u8::from(p[0] > p[1]))]).collect();
    (x, y)
}

fn accuracy(outputs: &[[f32; 1]], y: &[[f32; 1]], threshold: f32) -> f32 {
    let right = outputs.iter().zip(y).filter(|(o, t)| (o[0] > threshold) == (t[0] > 0.5)).count();
    right as f32 / y.len() as f32
}

#[test]
fn a_saturated_sigmoid_classifier_trains_as_its_logits_twin_does() {
    let (x, y) = saturated_points();
    let mut fused = Classifier::new(3).compile(Sgd::new(0.01), BinaryCrossentropy, &[]);
    let fused_history = fused.fit(&x, &y).epochs(20).batch_size(20).verbose(0).run().unwrap();
    let logits_loss = BinaryCrossentropy { from_logits: true };
    let mut twin = ClassifierLogits::new(3).compile(Sgd::new(0.01), logits_loss, &[]);
    let twin_history = twin.fit(&x, &y).epochs(20).batch_size(20).verbose(0).run().unwrap();
    // Same weights, batches and loss code: the same numbers.
    assert_eq!(fused_history.get("loss"), twin_history.get("loss"));
    let fused_accuracy = accuracy(&fused.predict(&x, 200).unwrap(), &y, 0.5);
    assert_eq!(fused_accuracy, accuracy(&twin.predict(&x, 200).unwrap(), &y, 0.0));
    assert_eq!(fused_accuracy, 1.0);
    // Before: the loss from clipped probabilities gives every sample a zero
    // gradient, and the model stays where it started (observed: 16% right).
    let mut old = Classifier::new(3).compile(Sgd::new(0.01), FromProbabilities(BinaryCrossentropy), &[]);
    old.fit(&x, &y).epochs(20).batch_size(20).verbose(0).run().unwrap();
    assert!(accuracy(&old.predict(&x, 200).unwrap(), &y, 0.5) < 0.5);
}

kiln::model! {
    struct Digits {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

/// scikit-learn's digits with pixels on MNIST's unscaled 0…255 range
/// (the tutorials scale them; a user who forgets must still get a model
/// that learns).
fn unscaled_digits() -> (Vec<[f32; 64]>, Vec<u32>) {
    let rows = kiln::data::read_csv(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz")).unwrap();
    let x = rows.iter().map(|r| std::array::from_fn(|j| r[j] * 16.0)).collect();
    let y = rows.iter().map(|r| r[64] as u32).collect();
    (x, y)
}

kiln::model! {
    struct DigitsLogits {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let logits = Dense(10)(hidden);
        output logits;
    }
}

/// Final training accuracy and the loss history of five epochs of SGD(1e-4).
fn train_digits<N: Network<Input = [f32; 64]> + Compile>(net: N, loss: impl Loss + Clone + 'static) -> (f32, Vec<f32>) {
    let (x, y) = unscaled_digits();
    let mut model = net.compile(Sgd::new(1e-4), loss, &[Metric::Accuracy]);
    let history = model.fit(&x, &y).epochs(5).batch_size(32).verbose(0).run().unwrap();
    (*history.get("accuracy").unwrap().last().unwrap(), history.get("loss").unwrap().to_vec())
}

#[test]
fn unscaled_digits_train_from_the_logits() {
    let (fused_accuracy, fused_loss) = train_digits(Digits::new(1), SparseCategoricalCrossentropy);
    let twin = SparseCategoricalCrossentropy { from_logits: true };
    let (_, twin_loss) = train_digits(DigitsLogits::new(1), twin);
    assert_eq!(fused_loss, twin_loss);
    // Observed 0.831 after five epochs.
    assert!(fused_accuracy > 0.8, "{fused_accuracy}");
    // Before: most samples saturated with zero gradient (observed 0.281).
    let (old_accuracy, _) = train_digits(Digits::new(1), FromProbabilities(SparseCategoricalCrossentropy));
    assert!(old_accuracy < 0.4, "{old_accuracy}");
}

kiln::model! {
    struct LinearDigits {
        input pixels: [f32; 64];
        let probs = Dense(10, activation = softmax)(pixels);
        output probs;
    }
}

/// A learning rate that makes training diverge shows: the reported loss is
/// the true cross-entropy, not one capped by clipping at −ln(1e-7) ≈ 16.1
/// per sample where a model stuck at chance looks merely "not learning".
#[test]
fn a_diverging_classifier_reports_its_true_loss() {
    let (x, y) = unscaled_digits();
    let train = |loss: Box<dyn Loss>| {
        let mut model = Digits::new(1).compile(Sgd::new(1e4), SparseCategoricalCrossentropy, &[]);
        model = model.try_output_losses(vec![loss]).unwrap();
        let history = model.fit(&x, &y).epochs(3).batch_size(32).verbose(0).run().unwrap();
        history.get("loss").unwrap().to_vec()
    };
    let honest = train(Box::new(SparseCategoricalCrossentropy));
    // Observed: 2.0e29, 4830, 4654.
    assert!(honest.iter().all(|&l| l > 1000.0), "{honest:?}");
    // Before (observed): 14.48, 14.48, 14.48 — finite, under the cap, at chance.
    let clipped = train(Box::new(FromProbabilities(SparseCategoricalCrossentropy)));
    assert!(clipped.iter().all(|&l| l <= 16.2), "{clipped:?}");
}
