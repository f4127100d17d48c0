//! A user's own layer: gradient-checked with kiln's helper, used in
//! `model!` with its declared shape, trained with the same `fit`.

#[path = "../examples/custom_layer.rs"]
mod custom_layer;

use custom_layer::{Scale, WithScale};
use kiln::prelude::*;

#[test]
fn the_users_layer_passes_the_gradient_check_helper() {
    let mut layer = Scale::<5>::new();
    layer.weight.value.copy_from_slice(&[0.5, -1.0, 2.0, 1.5, -0.3]);
    kiln::testing::check_layer_gradients(&mut layer, 3);
}

/// The strong check a user can run on their own layer: an f64 version of
/// its formula (`y = x ⊙ w + b`), against which kiln compares the layer's
/// forward output and its f32 gradients to 1e-4 of each tensor's scale.
#[test]
fn the_users_layer_matches_its_f64_formula() {
    let mut layer = Scale::<5>::new();
    layer.weight.value.copy_from_slice(&[0.5, -1.0, 2.0, 1.5, -0.3]);
    layer.bias.value.copy_from_slice(&[0.1, 0.2, -0.3, 0.0, 0.4]);
    let reference = |p: &[Vec<f64>], x: &[f64], _: usize| -> Vec<f64> {
        x.chunks(5).flat_map(|s| (0..5).map(|i| s[i] * p[0][i] + p[1][i]).collect::<Vec<_>>()).collect()
    };
    let x = kiln::testing::test_values(3 * 5, 1);
    let report = kiln::testing::compare_layer_with_reference(&mut layer, &x, 3, reference).unwrap();
    assert!(report.worst_gradient_error() < kiln::testing::REFERENCE_GRADIENT_RTOL);
    // A formula that is not the layer's (bias forgotten) is rejected at the forward comparison.
    let wrong = |p: &[Vec<f64>], x: &[f64], _: usize| -> Vec<f64> {
        x.chunks(5).flat_map(|s| (0..5).map(|i| s[i] * p[0][i]).collect::<Vec<_>>()).collect()
    };
    let err = kiln::testing::compare_layer_with_reference(&mut layer, &x, 3, wrong).unwrap_err();
    assert!(err.contains("does not compute what kiln computes"), "{err}");
}

#[test]
fn a_model_with_the_custom_layer_has_correct_gradients_and_trains() {
    let x: Vec<[f32; 4]> =
        (0..32).map(|i| std::array::from_fn(|j| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0)).collect();
    kiln::testing::check_network_gradients(&mut WithScale::new(3), &x[..4], 30);
    let y: Vec<[f32; 1]> = x.iter().map(|v| [f32::from(u8::from(v[0] > 0.0))]).collect();
    let mut model = WithScale::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::Accuracy]);
    let summary = model.summary();
    assert_eq!(
        (summary.rows[2].name.as_str(), summary.rows[2].kind.as_str(), summary.rows[2].trainable),
        ("scale", "Scale", 32)
    );
    let history = model.fit(&x, &y).epochs(40).batch_size(8).verbose(0).run().unwrap();
    assert_eq!(history.get("accuracy").unwrap().last(), Some(&1.0));
    // The custom layer's weights moved away from the identity.
    assert!(model.network().scale.weight.value.iter().any(|&w| (w - 1.0).abs() > 1e-3));
}

#[path = "../examples/subclassing.rs"]
mod subclassing;

/// A hand-written `Network` trains with the same `fit`, and its backward
/// pass passes the same whole-model gradient check as generated ones.
#[test]
fn a_hand_written_model_trains_with_fit() {
    let (x, y) = subclassing::data(256);
    kiln::testing::check_network_gradients(&mut subclassing::TwoLayer::new(1), &x[..4], 30);
    let mut model =
        subclassing::TwoLayer::new(0).compile(Adam::new(0.02), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    assert_eq!(model.summary().total_params(), 4 * 16 + 16 + 16 * 3 + 3);
    model.fit(&x, &y).epochs(40).batch_size(32).verbose(0).run().unwrap();
    let accuracy = model.evaluate(&x, &y, 64).unwrap().get("accuracy").unwrap();
    assert!(accuracy > 0.9, "accuracy {accuracy}");
}
