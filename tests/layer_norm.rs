//! BatchNormalization, LayerNormalization, Dropout, SpatialDropout1D/2D and
//! GaussianNoise end to end (issue 12): Keras's numbers
//! (tests/fixtures/keras_norm.py), f64 reference gradients, hand-derived
//! dropout masks, weights round trip, predict_one and allocation counts,
//! and the summary's trainable / non-trainable counts.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

use kiln::layers::{Ctx, Dropout, InputGrad, Layer};
use kiln::network::Network;
use kiln::param::Param;
use kiln::prelude::{Adam, AdamW, Compile, MeanSquaredError, Optimizer, Sgd};
use kiln::testing::compare_layer_with_reference;

#[allow(dead_code, clippy::all)]
#[rustfmt::skip]
mod keras {
    include!("fixtures/keras_norm.rs");
}

const BATCH: usize = 5;

kiln::model! {
    struct BnLast {
        input x: [f32; 3, 4];
        let y = BatchNormalization(momentum = 0.9)(x);
        output y;
    }
}

kiln::model! {
    struct BnMid {
        input x: [f32; 3, 4];
        let y = BatchNormalization(axis = 1, momentum = 0.9)(x);
        output y;
    }
}

kiln::model! {
    struct LnLast {
        input x: [f32; 3, 4];
        let y = LayerNormalization()(x);
        output y;
    }
}

kiln::model! {
    struct LnMid {
        input x: [f32; 3, 4];
        let y = LayerNormalization(axis = 1)(x);
        output y;
    }
}

kiln::model! {
    /// The model of keras_norm.py's summary case.
    struct Small {
        input x: [f32; 6, 4];
        let h = x
            => BatchNormalization()
            => SpatialDropout1D(0.2)
            => LayerNormalization(axis = 1)
            => GaussianNoise(0.1)
            => Flatten()
            => Dense(8)
            => Dropout(0.5)
            => BatchNormalization(center = false)
            => Dense(3);
        output h;
    }
}

/// Sets the layer's (or model's) parameters, in visiting order.
fn set_params<L: Layer>(layer: &mut L, values: &[&[f32]]) {
    let mut i = 0;
    layer.visit_params(&mut |p: &mut Param| {
        p.value.copy_from_slice(values[i]);
        i += 1;
    });
    assert_eq!(i, values.len());
}

fn param<L: Layer>(layer: &L, name: &str) -> (Vec<f32>, Vec<f32>) {
    let mut found = None;
    layer.params(&mut |p| {
        if p.name == name {
            found = Some((p.value.to_vec(), p.grad.to_vec()));
        }
    });
    found.unwrap_or_else(|| panic!("no parameter {name}"))
}

/// `|got − want| ≤ rtol · max|want|` everywhere (and the lengths agree).
fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rtol * scale, "{what}[{i}]: kiln {g} vs Keras {w} (tolerance {rtol} × {scale})");
    }
}

/// One forward pass of `layer` on `x` (training or not) and, when `dy` is
/// given, one backward pass: `(y, dx)`, parameter gradients left in the
/// layer (zeroed before).
fn pass<L: Layer<In = f32>>(layer: &mut L, x: &[f32], dy: Option<&[f32]>, training: bool) -> (Vec<f32>, Vec<f32>) {
    let batch = x.len() / L::INPUT_LEN;
    let mut ctx = Ctx::new(0);
    ctx.training = training;
    let mut cache = L::Cache::default();
    let mut y = vec![0.0; batch * L::OUTPUT_LEN];
    layer.visit_params(&mut |p| p.grad.fill(0.0));
    layer.forward(x, &mut y, batch, &mut cache, &mut ctx);
    let mut dx = vec![0.0; x.len()];
    if let Some(dy) = dy {
        let mut dy = dy.to_vec();
        layer.backward(
            x,
            &y,
            &mut dy,
            Some(InputGrad { grad: &mut dx, accumulate: false }),
            batch,
            &mut cache,
            &mut ctx,
        );
    }
    (y, dx)
}

struct BnCase<'a> {
    gamma: &'a [f32],
    beta: &'a [f32],
    moving_mean: &'a [f32],
    moving_variance: &'a [f32],
    train: [&'a [f32]; 4],
    infer: [&'a [f32]; 4],
    after_1: [&'a [f32]; 2],
    after_4: [&'a [f32]; 2],
}

fn check_batch_norm<L: Layer<In = f32>>(name: &str, layer: &mut L, case: &BnCase<'_>) {
    use keras::*;
    let initial = [case.gamma, case.beta, case.moving_mean, case.moving_variance];
    set_params(layer, &initial);
    // Training mode: batch statistics, gradients through them.
    let (y, dx) = pass(layer, &X, Some(&COTANGENT), true);
    assert_close(&format!("{name} training y"), &y, case.train[0], 1e-5);
    assert_close(&format!("{name} training dx"), &dx, case.train[1], 2e-5);
    assert_close(&format!("{name} training dgamma"), &param(layer, "gamma").1, case.train[2], 1e-5);
    assert_close(&format!("{name} training dbeta"), &param(layer, "beta").1, case.train[3], 1e-5);
    // The moving statistics after that step, and after three more.
    assert_close(&format!("{name} moving_mean after 1"), &param(layer, "moving_mean").0, case.after_1[0], 1e-6);
    assert_close(&format!("{name} moving_variance after 1"), &param(layer, "moving_variance").0, case.after_1[1], 1e-6);
    for xb in [&X_MORE_0[..], &X_MORE_1, &X_MORE_2] {
        let dy = vec![0.0; xb.len()];
        pass(layer, xb, Some(&dy), true);
    }
    assert_close(&format!("{name} moving_mean after 4"), &param(layer, "moving_mean").0, case.after_4[0], 1e-6);
    assert_close(&format!("{name} moving_variance after 4"), &param(layer, "moving_variance").0, case.after_4[1], 1e-6);
    // Inference mode: the moving statistics, as constants.
    set_params(layer, &initial);
    let (y, dx) = pass(layer, &X, Some(&COTANGENT), false);
    assert_close(&format!("{name} inference y"), &y, case.infer[0], 1e-5);
    assert_close(&format!("{name} inference dx"), &dx, case.infer[1], 1e-5);
    assert_close(&format!("{name} inference dgamma"), &param(layer, "gamma").1, case.infer[2], 1e-5);
    assert_close(&format!("{name} inference dbeta"), &param(layer, "beta").1, case.infer[3], 1e-5);
    assert_eq!(param(layer, "moving_mean").0, case.moving_mean, "inference changed the moving mean");
}

#[test]
fn batch_normalization_matches_keras() {
    use keras::*;
    check_batch_norm(
        "axis=-1",
        &mut BnLast::new(0),
        &BnCase {
            gamma: &BN_LAST_GAMMA,
            beta: &BN_LAST_BETA,
            moving_mean: &BN_LAST_MOVING_MEAN,
            moving_variance: &BN_LAST_MOVING_VARIANCE,
            train: [&BN_LAST_TRAIN_Y, &BN_LAST_TRAIN_DX, &BN_LAST_TRAIN_DGAMMA, &BN_LAST_TRAIN_DBETA],
            infer: [&BN_LAST_INFER_Y, &BN_LAST_INFER_DX, &BN_LAST_INFER_DGAMMA, &BN_LAST_INFER_DBETA],
            after_1: [&BN_LAST_MOVING_MEAN_AFTER_1, &BN_LAST_MOVING_VARIANCE_AFTER_1],
            after_4: [&BN_LAST_MOVING_MEAN_AFTER_4, &BN_LAST_MOVING_VARIANCE_AFTER_4],
        },
    );
    check_batch_norm(
        "axis=1",
        &mut BnMid::new(0),
        &BnCase {
            gamma: &BN_MID_GAMMA,
            beta: &BN_MID_BETA,
            moving_mean: &BN_MID_MOVING_MEAN,
            moving_variance: &BN_MID_MOVING_VARIANCE,
            train: [&BN_MID_TRAIN_Y, &BN_MID_TRAIN_DX, &BN_MID_TRAIN_DGAMMA, &BN_MID_TRAIN_DBETA],
            infer: [&BN_MID_INFER_Y, &BN_MID_INFER_DX, &BN_MID_INFER_DGAMMA, &BN_MID_INFER_DBETA],
            after_1: [&BN_MID_MOVING_MEAN_AFTER_1, &BN_MID_MOVING_VARIANCE_AFTER_1],
            after_4: [&BN_MID_MOVING_MEAN_AFTER_4, &BN_MID_MOVING_VARIANCE_AFTER_4],
        },
    );
}

/// Forward and backward of a LayerNormalization model with the given γ, β:
/// `(y, dx, dγ, dβ)`.
fn layer_norm_pass<L: Layer<In = f32>>(m: &mut L, gamma: &[f32], beta: &[f32]) -> [Vec<f32>; 4] {
    set_params(m, &[gamma, beta]);
    let (y, dx) = pass(m, &keras::X, Some(&keras::COTANGENT), true);
    [y, dx, param(m, "gamma").1, param(m, "beta").1]
}

#[test]
fn layer_normalization_matches_keras() {
    use keras::*;
    let cases = [
        (
            "axis=-1",
            layer_norm_pass(&mut LnLast::new(0), &LN_LAST_GAMMA, &LN_LAST_BETA),
            [&LN_LAST_Y[..], &LN_LAST_DX, &LN_LAST_DGAMMA, &LN_LAST_DBETA],
        ),
        (
            "axis=1",
            layer_norm_pass(&mut LnMid::new(0), &LN_MID_GAMMA, &LN_MID_BETA),
            [&LN_MID_Y[..], &LN_MID_DX, &LN_MID_DGAMMA, &LN_MID_DBETA],
        ),
    ];
    for (name, got, want) in &cases {
        for (k, what) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
            let rtol = if *what == "dx" { 2e-5 } else { 1e-5 };
            assert_close(&format!("LayerNormalization {name} {what}"), &got[k], want[k], rtol);
        }
    }
    // No batch statistics: inference gives the training output.
    let mut m = LnLast::new(0);
    set_params(&mut m, &[&LN_LAST_GAMMA, &LN_LAST_BETA]);
    assert_eq!(pass(&mut m, &X, None, false).0, pass(&mut m, &X, None, true).0);
}

// ---------------------------------------------------------------------------
// f64 reference implementations (written from the formulas, not from kiln).
// ---------------------------------------------------------------------------

/// Sample `[3, 4]`: the flat index of (row r, column k) is `r·4 + k`.
/// `axis_is_rows`: statistics per row index (axis 1), else per column (axis −1).
fn batch_norm_reference(p: &[Vec<f64>], x: &[f64], batch: usize, axis_is_rows: bool) -> Vec<f64> {
    let channel = |j: usize| if axis_is_rows { j / 4 } else { j % 4 };
    let channels = if axis_is_rows { 3 } else { 4 };
    let (gamma, beta) = (&p[0], &p[1]);
    let mut y = vec![0.0; x.len()];
    for c in 0..channels {
        let members: Vec<usize> = (0..batch * 12).filter(|&i| channel(i % 12) == c).collect();
        let n = members.len() as f64;
        let mean = members.iter().map(|&i| x[i]).sum::<f64>() / n;
        let var = members.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / n;
        for &i in &members {
            y[i] = (x[i] - mean) / (var + 1e-3).sqrt() * gamma[c] + beta[c];
        }
    }
    y
}

fn layer_norm_reference(p: &[Vec<f64>], x: &[f64], batch: usize, axis_is_rows: bool) -> Vec<f64> {
    let (gamma, beta) = (&p[0], &p[1]);
    let mut y = vec![0.0; x.len()];
    for s in 0..batch {
        // Groups: for axis −1 each row's 4 values; for axis 1 each column's 3.
        let groups: Vec<Vec<usize>> = if axis_is_rows {
            (0..4).map(|k| (0..3).map(|r| s * 12 + r * 4 + k).collect()).collect()
        } else {
            (0..3).map(|r| (0..4).map(|k| s * 12 + r * 4 + k).collect()).collect()
        };
        for g in groups {
            let n = g.len() as f64;
            let mean = g.iter().map(|&i| x[i]).sum::<f64>() / n;
            let var = g.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / n;
            for (c, &i) in g.iter().enumerate() {
                y[i] = (x[i] - mean) / (var + 1e-3).sqrt() * gamma[c] + beta[c];
            }
        }
    }
    y
}

#[test]
fn gradients_match_f64_references() {
    use keras::*;
    // Training mode (the harness runs forward with `training = true`),
    // through the generated model, input gradient included. The harness
    // fails when any gradient tensor is off by 1e-4 of its largest entry
    // (`REFERENCE_GRADIENT_RTOL`), so a 0.1 % error fails by a factor of ten.
    let mut bn = BnLast::new(0);
    set_params(&mut bn, &[&BN_LAST_GAMMA, &BN_LAST_BETA, &BN_LAST_MOVING_MEAN, &BN_LAST_MOVING_VARIANCE]);
    let report = compare_layer_with_reference(&mut bn, &X, BATCH, |p, x, b| batch_norm_reference(p, x, b, false))
        .unwrap_or_else(|e| panic!("BatchNormalization axis=-1: {e}"));
    assert!(report.worst_gradient_error() < 1e-5, "{report:?}");

    let mut bn = BnMid::new(0);
    set_params(&mut bn, &[&BN_MID_GAMMA, &BN_MID_BETA, &BN_MID_MOVING_MEAN, &BN_MID_MOVING_VARIANCE]);
    let report = compare_layer_with_reference(&mut bn, &X, BATCH, |p, x, b| batch_norm_reference(p, x, b, true))
        .unwrap_or_else(|e| panic!("BatchNormalization axis=1: {e}"));
    assert!(report.worst_gradient_error() < 1e-5, "{report:?}");

    let mut ln = LnLast::new(0);
    set_params(&mut ln, &[&LN_LAST_GAMMA, &LN_LAST_BETA]);
    let report = compare_layer_with_reference(&mut ln, &X, BATCH, |p, x, b| layer_norm_reference(p, x, b, false))
        .unwrap_or_else(|e| panic!("LayerNormalization axis=-1: {e}"));
    assert!(report.worst_gradient_error() < 1e-5, "{report:?}");

    let mut ln = LnMid::new(0);
    set_params(&mut ln, &[&LN_MID_GAMMA, &LN_MID_BETA]);
    let report = compare_layer_with_reference(&mut ln, &X, BATCH, |p, x, b| layer_norm_reference(p, x, b, true))
        .unwrap_or_else(|e| panic!("LayerNormalization axis=1: {e}"));
    assert!(report.worst_gradient_error() < 1e-5, "{report:?}");
}

/// The references are what the check compares against: a reference
/// whose γ acts 0.1 % stronger must be rejected.
#[test]
fn a_tenth_of_a_percent_is_caught() {
    use keras::*;
    let mut ln = LnLast::new(0);
    set_params(&mut ln, &[&LN_LAST_GAMMA, &LN_LAST_BETA]);
    // Same forward values, but the gradient of γ scaled by 1.001: γ enters
    // as γ + 0.001·(γ − γ₀), equal at γ₀ and with derivative 1.001.
    let gamma0: Vec<f64> = LN_LAST_GAMMA.iter().map(|&v| v as f64).collect();
    let result = compare_layer_with_reference(&mut ln, &X, BATCH, |p, x, b| {
        let mut p = p.to_vec();
        p[0] = p[0].iter().zip(&gamma0).map(|(g, g0)| g + 0.001 * (g - g0)).collect();
        layer_norm_reference(&p, x, b, false)
    });
    assert!(result.is_err_and(|e| e.contains("gamma")), "a 0.1% error in γ's gradient passed");
}

// ---------------------------------------------------------------------------
// BatchNormalization through `fit`'s path: moving statistics, optimizers.
// ---------------------------------------------------------------------------

kiln::model! {
    struct BnDense {
        input x: [f32; 4];
        let y = x => BatchNormalization() => Dense(2);
        output y;
    }
}

#[test]
fn train_on_batch_updates_the_moving_statistics_keras_style() {
    let x: Vec<[f32; 4]> = (0..8).map(|i| [i as f32, (i * i) as f32 * 0.1, -(i as f32), 2.0]).collect();
    let y: Vec<[f32; 2]> = (0..8).map(|i| [i as f32 * 0.5, 1.0]).collect();
    let mut model = BnDense::new(0).compile(Sgd::new(0.01), MeanSquaredError, &[]);
    let (mut mm, mut mv) = (vec![0.0f32; 4], vec![1.0f32; 4]);
    for step in 0..3 {
        model.train_on_batch(&x, &y).unwrap();
        // Hand: the batch's mean and biased variance per feature, folded in
        // with momentum 0.99 as Keras does in float32.
        for c in 0..4 {
            let mean = x.iter().map(|s| s[c] as f64).sum::<f64>() / 8.0;
            let var = x.iter().map(|s| (s[c] as f64 - mean).powi(2)).sum::<f64>() / 8.0;
            mm[c] = mm[c] * 0.99 + mean as f32 * (1.0f64 - 0.99) as f32;
            mv[c] = mv[c] * 0.99 + var as f32 * (1.0f64 - 0.99) as f32;
        }
        let (got_mm, got_mv) = (
            param(&model.batch_normalization, "moving_mean").0,
            param(&model.batch_normalization, "moving_variance").0,
        );
        assert_close(&format!("moving_mean after step {}", step + 1), &got_mm, &mm, 1e-6);
        assert_close(&format!("moving_variance after step {}", step + 1), &got_mv, &mv, 1e-6);
    }
    // Evaluation and prediction leave them alone.
    let before = support::params(&*model);
    model.predict(&x, 4).unwrap();
    model.evaluate(&x, &y, 3).unwrap();
    assert_eq!(support::params(&*model), before);
}

#[test]
fn optimizers_never_change_non_trainable_parameters() {
    // Every gradient set to 1, including the moving statistics'; AdamW's
    // weight decay and Adam's update touch only γ, β and the Dense layer.
    for mut optimizer in
        [Box::new(AdamW::new(0.1).with_weight_decay(0.5)) as Box<dyn Optimizer>, Box::new(Adam::new(0.1))]
    {
        let mut model = BnDense::new(3);
        Network::visit_params(&mut model, &mut |p| {
            p.value.fill(0.5);
            p.grad.fill(1.0);
        });
        kiln::optimizers::step(&mut *optimizer, |f| Network::visit_params(&mut model, f)).unwrap();
        Network::params(&model, &mut |p| {
            if p.trainable {
                assert!(p.value.iter().all(|&v| v != 0.5), "{} did not move", p.name);
            } else {
                assert!(p.value.iter().all(|&v| v == 0.5), "{} changed: {:?}", p.name, p.value);
            }
        });
    }
}

#[test]
fn training_steps_after_the_first_allocate_nothing() {
    let x: Vec<[[f32; 4]; 6]> = (0..16)
        .map(|s| std::array::from_fn(|t| std::array::from_fn(|c| ((s * 7 + t * 3 + c) % 11) as f32 * 0.3 - 1.0)))
        .collect();
    let y: Vec<[f32; 3]> = (0..16).map(|s| [s as f32 * 0.1, 1.0, -0.5]).collect();
    let mut model = Small::new(0).compile(Adam::new(0.01), MeanSquaredError, &[]);
    let first = model.train_on_batch(&x, &y).unwrap();
    let (calls, _) = support::allocations(|| {
        for _ in 0..3 {
            model.train_on_batch(&x, &y).unwrap();
        }
    });
    assert_eq!(calls, 0, "training steps after the first allocated");
    let later = model.train_on_batch(&x, &y).unwrap();
    assert!(later < first, "the loss should fall: {first} → {later}");
}

// ---------------------------------------------------------------------------
// Dropout and friends.
// ---------------------------------------------------------------------------

kiln::model! {
    struct Drop {
        input x: [f32; 2000];
        let y = Dropout(0.25)(x);
        output y;
    }
}

kiln::model! {
    struct Spatial {
        input seq: [f32; 10, 30];
        input img: [f32; 4, 5, 30];
        let a = SpatialDropout1D(0.5)(seq);
        let b = SpatialDropout2D(0.5)(img);
        let c = SpatialDropout2D(rate = 0.5, data_format = "channels_first")(img);
        output a, b, c;
    }
}

/// A training forward pass of a model used as a layer, from the context's
/// generator seeded with `seed`, and the backward pass of `dy = 1`.
fn train_pass<L: Layer<In = f32>>(layer: &mut L, x: &[f32], seed: u64) -> (Vec<f32>, Vec<f32>) {
    let batch = x.len() / L::INPUT_LEN;
    let mut ctx = Ctx::new(seed);
    ctx.training = true;
    let mut cache = L::Cache::default();
    let mut y = vec![0.0; x.len()];
    layer.forward(x, &mut y, batch, &mut cache, &mut ctx);
    let mut dy = vec![1.0; y.len()];
    let mut dx = vec![0.0; x.len()];
    layer.backward(x, &y, &mut dy, Some(InputGrad { grad: &mut dx, accumulate: false }), batch, &mut cache, &mut ctx);
    (y, dx)
}

#[test]
fn dropout_mask_scale_reproducibility_and_gradient() {
    // The layer itself, with the workspace-style context.
    let mut d = Dropout::<2000>::new(0.25).unwrap();
    let x: Vec<f32> = (0..4000).map(|i| 0.5 + (i % 97) as f32 * 0.01).collect();
    let (y, dx) = train_pass(&mut d, &x, 11);
    // Hand-derived: kept values are x · 1/(1 − 0.25) = x · 4/3 (in f64,
    // rounded to f32, as TensorFlow does), dropped ones are 0.
    let scale = (1.0f64 / 0.75) as f32;
    assert_eq!(scale, 1.333_333_4);
    let mut kept = 0;
    for (i, ((&xv, &yv), &g)) in x.iter().zip(&y).zip(&dx).enumerate() {
        if yv == 0.0 {
            assert_eq!(g, 0.0, "value {i} dropped but its gradient flows");
        } else {
            kept += 1;
            assert_eq!(yv, xv * scale, "value {i}");
            assert_eq!(g, scale, "value {i}: gradient through the same mask");
        }
    }
    // 4000 draws kept with p = 0.75: mean 3000, sd √(4000·0.75·0.25) ≈ 27.4.
    assert!((2890..=3110).contains(&kept), "kept {kept} of 4000");
    // Reproducible: the same seed draws the same mask, another seed another.
    assert_eq!(train_pass(&mut d, &x, 11).0, y);
    assert_ne!(train_pass(&mut d, &x, 12).0, y);

    // Through a generated model: inference is the identity, in predict and predict_one.
    let mut model = Drop::new(0).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    let xs: Vec<[f32; 2000]> = (0..3).map(|s| std::array::from_fn(|i| (s * 2000 + i) as f32 * 1e-3 + 0.1)).collect();
    let out = model.predict(&xs, 2).unwrap();
    assert_eq!(out, xs, "predict must not drop");
    assert_eq!(model.predict_one(&xs[1]), xs[1], "predict_one must not drop");
    // And a training pass of the model drops, from its own reproducible stream.
    let mut m1 = Drop::new(0);
    let flat: Vec<f32> = xs.iter().flatten().copied().collect();
    let (y1, _) = train_pass(&mut m1, &flat, 0);
    let (y2, _) = train_pass(&mut Drop::new(0), &flat, 0);
    assert_eq!(y1, y2, "two identical models drew different masks");
    assert!(y1.contains(&0.0) && y1.iter().zip(&flat).any(|(&a, &b)| a == b * scale));
}

#[test]
fn spatial_dropout_drops_whole_channels() {
    let seq: Vec<[[f32; 30]; 10]> = (0..4).map(|_| [[1.0; 30]; 10]).collect();
    let img: Vec<[[[f32; 30]; 5]; 4]> = (0..4).map(|_| [[[1.0; 30]; 5]; 4]).collect();
    let model = Spatial::new(0);
    let mut ws = model.workspace(4);
    let flat_seq: Vec<f32> = seq.iter().flatten().flatten().copied().collect();
    let flat_img: Vec<f32> = img.iter().flatten().flatten().flatten().copied().collect();
    model.forward(&mut ws, (&flat_seq[..], &flat_img[..]), 4, true);
    let (a, _) = Spatial::output_and_grad(&mut ws, 0, 4);
    // [10 steps, 30 channels]: channel c has one value over all steps.
    for s in 0..4 {
        for c in 0..30 {
            let v = a[s * 300 + c];
            assert!(v == 0.0 || v == 2.0, "rate 0.5 scales by exactly 2");
            assert!((0..10).all(|t| a[s * 300 + t * 30 + c] == v), "sample {s}, channel {c} split");
        }
    }
    let dropped = (0..120).filter(|&k| a[(k / 30) * 300 + k % 30] == 0.0).count();
    assert!((30..=90).contains(&dropped), "{dropped} of 120 channels dropped");
    let (b, _) = Spatial::output_and_grad(&mut ws, 1, 4);
    // Channels last [4, 5, 30]: channel = last index.
    for s in 0..4 {
        for c in 0..30 {
            let v = b[s * 600 + c];
            assert!((0..20).all(|p| b[s * 600 + p * 30 + c] == v), "2D channels_last: sample {s}, channel {c} split");
        }
    }
    let (c, _) = Spatial::output_and_grad(&mut ws, 2, 4);
    // Channels first [4, 5, 30]: channel = first index, 150 values each.
    for s in 0..4 {
        for ch in 0..4 {
            let v = c[s * 600 + ch * 150];
            assert!((0..150).all(|p| c[s * 600 + ch * 150 + p] == v), "2D channels_first: sample {s}, channel {ch}");
        }
    }
    // Inference: the identity.
    model.forward(&mut ws, (&flat_seq[..], &flat_img[..]), 4, false);
    assert!(Spatial::output_and_grad(&mut ws, 1, 4).0.iter().all(|&v| v == 1.0));
}

kiln::model! {
    struct Noisy {
        input x: [f32; 4000];
        let y = GaussianNoise(0.2)(x);
        output y;
    }
}

#[test]
fn gaussian_noise_in_training_only() {
    let x = vec![1.0f32; 4000];
    let (y, dx) = train_pass(&mut Noisy::new(0), &x, 5);
    let n = y.len() as f64;
    let mean = y.iter().map(|&v| v as f64 - 1.0).sum::<f64>() / n;
    let sd = (y.iter().map(|&v| (v as f64 - 1.0 - mean).powi(2)).sum::<f64>() / n).sqrt();
    // Standard errors 0.2/√4000 ≈ 0.0032 (mean) and ≈ 0.0022 (sd).
    assert!(mean.abs() < 0.015 && (sd - 0.2).abs() < 0.012, "noise mean {mean}, sd {sd}");
    assert!(dx.iter().all(|&g| g == 1.0), "the gradient of x + noise is the identity");
    let model = Noisy::new(0);
    let one: [f32; 4000] = [1.0; 4000];
    assert_eq!(model.predict_one(&one), one);
}

// ---------------------------------------------------------------------------
// The small model: summary, paths, round trip, predict_one.
// ---------------------------------------------------------------------------

fn small_data() -> (Vec<[[f32; 4]; 6]>, Vec<[f32; 3]>) {
    let x = (0..12)
        .map(|s| std::array::from_fn(|t| std::array::from_fn(|c| ((s * 5 + t * 3 + c * 2) % 13) as f32 * 0.25 - 1.5)))
        .collect();
    let y = (0..12).map(|s| [s as f32 * 0.1, -1.0, 0.5]).collect();
    (x, y)
}

#[test]
fn summary_counts_and_paths_equal_keras() {
    let model = Small::new(0);
    let summary = model.summary();
    assert_eq!(summary.trainable_params(), keras::SMALL_TRAINABLE);
    assert_eq!(summary.non_trainable_params(), keras::SMALL_NON_TRAINABLE);
    assert_eq!(Network::param_paths(&model), keras::SMALL_PATHS);
    let rows: Vec<(&str, &str)> = summary.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str())).collect();
    assert_eq!(
        rows,
        [
            ("x", "InputLayer"),
            ("batch_normalization", "BatchNormalization"),
            ("spatial_dropout1d", "SpatialDropout1D"),
            ("layer_normalization", "LayerNormalization"),
            ("gaussian_noise", "GaussianNoise"),
            ("flatten", "Flatten"),
            ("dense", "Dense"),
            ("dropout", "Dropout"),
            ("batch_normalization_1", "BatchNormalization"),
            ("dense_1", "Dense"),
        ]
    );
    let text = summary.to_string();
    assert!(text.contains(&format!("Non-trainable params: {}", keras::SMALL_NON_TRAINABLE)), "{text}");
}

#[test]
fn weights_round_trip_with_moving_statistics() {
    let (x, y) = small_data();
    let mut model = Small::new(0).compile(Adam::new(0.01), MeanSquaredError, &[]);
    for _ in 0..3 {
        model.train_on_batch(&x, &y).unwrap();
    }
    let moving = param(&model.batch_normalization, "moving_variance").0;
    assert!(moving.iter().all(|&v| v != 1.0), "training moved the moving variance");
    let mut fresh = Small::new(7);
    support::assert_weights_round_trip(&*model, &mut fresh);
    assert_eq!(param(&fresh.batch_normalization, "moving_variance").0, moving);
}

#[test]
fn predict_one_equals_predict_and_allocates_nothing() {
    let (x, y) = small_data();
    let mut model = Small::new(0).compile(Adam::new(0.01), MeanSquaredError, &[]);
    for _ in 0..3 {
        model.train_on_batch(&x, &y).unwrap();
    }
    let batched = model.predict(&x, 5).unwrap();
    model.predict_one(&x[0]);
    for (s, sample) in x.iter().enumerate() {
        let (calls, one) = support::allocations(|| model.predict_one(sample));
        assert_eq!(calls, 0, "predict_one allocated");
        // The Dense layers use different kernels for one sample and a batch
        // (different summation order); the normalizations are bitwise equal.
        assert_close(&format!("sample {s}"), &one, &batched[s], 1e-6);
    }
}

/// Keras trained the same model for a few steps and saved its weights
/// (moving statistics included); loaded into kiln, the model predicts what
/// Keras predicted (inference: moving statistics, no dropout or noise).
#[test]
#[cfg(feature = "keras-weights")]
fn keras_trained_weights_load_and_predict_the_same() {
    let path = format!("{}/tests/fixtures/keras_norm_small.weights.h5", env!("CARGO_MANIFEST_DIR"));
    let mut model = Small::new(0);
    kiln::io::load_keras_weights(&mut model, &path).unwrap();
    assert_eq!(param(&model.batch_normalization_1, "moving_variance").0, keras::SMALL_BN1_MOVING_VARIANCE);
    for s in 0..3 {
        let x: [[f32; 4]; 6] = std::array::from_fn(|t| std::array::from_fn(|c| keras::SMALL_X[s * 24 + t * 4 + c]));
        assert_close(&format!("sample {s}"), &model.predict_one(&x), &keras::SMALL_PREDICTED[s * 3..s * 3 + 3], 1e-5);
    }
}

/// Old code: a Keras file holding a NaN loaded without a word (every
/// prediction NaN); now the error names the variable, and the model is
/// unchanged.
#[test]
#[cfg(feature = "keras-weights")]
fn a_keras_file_holding_nan_is_refused() {
    let path = format!("{}/tests/fixtures/keras_norm_small.weights.h5", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(path).unwrap();
    let pattern = keras::SMALL_BN1_MOVING_VARIANCE[0].to_le_bytes();
    let at = bytes.windows(4).position(|w| w == pattern).expect("the value is stored uncompressed");
    let mut damaged = bytes.clone();
    damaged[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut model = Small::new(0);
    let before = param(&model.batch_normalization_1, "moving_variance").0;
    let err = kiln::io::load_keras_weights_from_bytes(&mut model, &damaged).unwrap_err();
    assert!(matches!(err, kiln::io::FileProblem::NonFinite { index: 0, .. }), "{err}");
    assert!(err.to_string().contains("moving_variance"), "{err}");
    assert_eq!(param(&model.batch_normalization_1, "moving_variance").0, before);
    kiln::io::load_keras_weights_from_bytes(&mut model, &bytes).unwrap();
}
