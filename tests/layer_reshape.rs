//! Data-movement layers end to end: `Reshape`, `Permute`, `RepeatVector`,
//! `ZeroPadding1D/2D`, `Cropping1D/2D`, `UpSampling1D/2D`, each built by
//! `model!` and checked against
//! - Keras (`tests/fixtures/keras_reshape.py`): output, input gradient of a
//!   weighted-sum loss, and the summary's output shape;
//! - a hand-written index-mapping reference (which input value each output
//!   value is): forward and input gradient bitwise, since these layers only
//!   move values; where one input feeds several outputs (upsampling,
//!   repeating) the gradient is their sum, checked against an f64 sum;
//! - the one-sample path: equal to the batched one, with no allocation.
//!
//! A model using every layer trains, checks its gradients by finite
//! differences, has Keras's summary and round-trips its weights.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

#[path = "fixtures/keras_reshape.rs"]
mod keras;

use keras::Case;
use kiln::layers::{Ctx, InputGrad, Layer};
use kiln::network::Network;
use kiln::prelude::*;

/// A one-layer model `y = layer(x)` over inputs of the given shape.
macro_rules! one_layer {
    ($name:ident, [$($dim:tt),*], $($layer:tt)*) => {
        kiln::model! {
            pub struct $name {
                input x: [f32; $($dim),*];
                let y = $($layer)*(x);
                output y;
            }
        }
    };
}

one_layer!(Reshape38, [4, 6], Reshape((3, 8)));
one_layer!(ReshapeInferLast, [4, 6], Reshape((-1, 4)));
one_layer!(ReshapeInferMiddle, [4, 6], Reshape(target_shape = (2, -1, 3)));
one_layer!(ReshapeToVector, [2, 3, 4], Reshape((24,)));
one_layer!(Permute21, [3, 4], Permute((2, 1)));
one_layer!(Permute312, [2, 3, 4], Permute(dims = (3, 1, 2)));
one_layer!(Permute231, [2, 3, 4], Permute((2, 3, 1)));
one_layer!(Repeat3, [4], RepeatVector(3));
one_layer!(ZeroPad2Default, [3, 4, 2], ZeroPadding2D());
one_layer!(ZeroPad2Symmetric, [3, 4, 2], ZeroPadding2D((1, 2)));
one_layer!(ZeroPad2Pairs, [3, 4, 2], ZeroPadding2D(padding = ((1, 0), (2, 3)), data_format = "channels_last"));
one_layer!(Crop2Int, [5, 6, 2], Cropping2D(1));
one_layer!(Crop2Symmetric, [5, 6, 2], Cropping2D(cropping = (1, 2)));
one_layer!(Crop2Pairs, [5, 6, 2], Cropping2D(((1, 0), (2, 3))));
one_layer!(Up2Default, [2, 3, 2], UpSampling2D());
one_layer!(Up2Tuple, [2, 3, 2], UpSampling2D(size = (3, 2), interpolation = "nearest"));
one_layer!(ZeroPad1Default, [4, 3], ZeroPadding1D());
one_layer!(ZeroPad1Pair, [4, 3], ZeroPadding1D((1, 3)));
one_layer!(Crop1Default, [5, 3], Cropping1D());
one_layer!(Crop1Pair, [5, 3], Cropping1D(cropping = (2, 0)));
one_layer!(Up1Default, [4, 3], UpSampling1D());
one_layer!(Up1Three, [4, 3], UpSampling1D(3));

/// Row-major multi-index of flat index `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        out[axis] = i % shape[axis];
        i /= shape[axis];
    }
    out
}

/// Flat index of multi-index `at` in `shape`.
fn ravel(at: &[usize], shape: &[usize]) -> usize {
    at.iter().zip(shape).fold(0, |acc, (&a, &n)| acc * n + a)
}

/// Runs one case: `source` says which input value (multi-index within a
/// sample) each output value copies, or `None` for a zero.
fn check<M: Layer<In = f32> + Network>(
    model: M,
    case: &Case,
    in_shape: &[usize],
    out_shape: &[usize],
    source: impl Fn(&[usize]) -> Option<Vec<usize>>,
) {
    let (n, m) = (M::INPUT_LEN, M::OUTPUT_LEN);
    assert_eq!((n, m), (in_shape.iter().product(), out_shape.iter().product()));
    let dims: Vec<String> = out_shape.iter().map(usize::to_string).collect();
    assert_eq!(format!("(None, {})", dims.join(", ")), case.shape, "the reference's output shape is Keras's");
    assert_eq!(Network::summary(&model).rows[1].output_shape, case.shape);
    assert_eq!((case.x.len(), case.y.len()), (2 * n, 2 * m));

    // The reference: forward as a gather, the input gradient as the
    // scatter-add of `w` (in f64), how many outputs read each input.
    let mut ref_y = vec![0.0f32; 2 * m];
    let mut ref_dx = vec![0.0f64; 2 * n];
    let mut readers = vec![0usize; n];
    for o in 0..m {
        if let Some(at) = source(&unravel(o, out_shape)) {
            let i = ravel(&at, in_shape);
            readers[i] += 1;
            for b in 0..2 {
                ref_y[b * m + o] = case.x[b * n + i];
                ref_dx[b * n + i] += case.w[b * m + o] as f64;
            }
        }
    }

    // Batched forward through the generated model.
    let mut ctx = Ctx::new(0);
    let mut cache = M::Cache::default();
    let mut y = vec![f32::NAN; 2 * m];
    Layer::forward(&model, case.x, &mut y, 2, &mut cache, &mut ctx);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&y), bits(case.y), "forward differs from Keras");
    assert_eq!(bits(&y), bits(&ref_y), "forward differs from the reference");

    // Input gradient, overwriting a buffer of garbage, then accumulating.
    let mut model = model;
    let mut dx = vec![7.0f32; 2 * n];
    let mut dy = case.w.to_vec();
    let grad = InputGrad { grad: &mut dx, accumulate: false };
    Layer::backward(&mut model, case.x, &y, &mut dy, Some(grad), 2, &mut cache, &mut ctx);
    for (i, ((&got, &keras), &reference)) in dx.iter().zip(case.dx).zip(&ref_dx).enumerate() {
        if readers[i % n] <= 1 {
            // One term (or none): exact.
            assert_eq!(got.to_bits(), (reference as f32).to_bits(), "dx[{i}] differs from the reference");
            assert_eq!(got.to_bits(), keras.to_bits(), "dx[{i}] differs from Keras");
        } else {
            // A sum of a few f32 terms: within rounding of the f64 sum.
            let tolerance = 1e-6 * reference.abs().max(1.0);
            assert!((got as f64 - reference).abs() <= tolerance, "dx[{i}] = {got}, reference {reference}");
            assert!((got - keras).abs() as f64 <= tolerance, "dx[{i}] = {got}, Keras {keras}");
        }
    }
    let mut accumulated = vec![1.0f32; 2 * n];
    let mut dy = case.w.to_vec();
    let grad = InputGrad { grad: &mut accumulated, accumulate: true };
    Layer::backward(&mut model, case.x, &y, &mut dy, Some(grad), 2, &mut cache, &mut ctx);
    let expected: Vec<f32> = dx.iter().map(|g| 1.0 + g).collect();
    assert_eq!(bits(&accumulated), bits(&expected), "an accumulating backward adds its gradient");

    // One sample at a time: the same values, no allocation.
    let mut one = vec![0.0f32; m];
    model.forward_one(&case.x[..n], &mut one);
    for b in 0..2 {
        let (count, ()) = support::allocations(|| model.forward_one(&case.x[b * n..(b + 1) * n], &mut one));
        assert_eq!(count, 0, "forward_one allocated");
        assert_eq!(bits(&one), bits(&y[b * m..(b + 1) * m]));
    }
}

#[test]
fn reshape_matches_keras() {
    let flat = |from: &'static [usize], to: &'static [usize]| move |o: &[usize]| Some(unravel(ravel(o, to), from));
    check(Reshape38::new(0), &keras::RESHAPE_3_8, &[4, 6], &[3, 8], flat(&[4, 6], &[3, 8]));
    check(ReshapeInferLast::new(0), &keras::RESHAPE_INFER_LAST, &[4, 6], &[6, 4], flat(&[4, 6], &[6, 4]));
    check(ReshapeInferMiddle::new(0), &keras::RESHAPE_INFER_MIDDLE, &[4, 6], &[2, 4, 3], flat(&[4, 6], &[2, 4, 3]));
    check(ReshapeToVector::new(0), &keras::RESHAPE_TO_VECTOR, &[2, 3, 4], &[24], flat(&[2, 3, 4], &[24]));
}

#[test]
fn permute_matches_keras() {
    // Output axis k is input axis dims[k] (1-based).
    let by = |dims: &'static [usize]| {
        move |o: &[usize]| {
            let mut at = vec![0; dims.len()];
            for (k, &d) in dims.iter().enumerate() {
                at[d - 1] = o[k];
            }
            Some(at)
        }
    };
    check(Permute21::new(0), &keras::PERMUTE_2_1, &[3, 4], &[4, 3], by(&[2, 1]));
    check(Permute312::new(0), &keras::PERMUTE_3_1_2, &[2, 3, 4], &[4, 2, 3], by(&[3, 1, 2]));
    check(Permute231::new(0), &keras::PERMUTE_2_3_1, &[2, 3, 4], &[3, 4, 2], by(&[2, 3, 1]));
}

#[test]
fn repeat_vector_matches_keras() {
    check(Repeat3::new(0), &keras::REPEAT_VECTOR_3, &[4], &[3, 4], |o| Some(vec![o[1]]));
}

/// Output `[h, w, c]` reads input `[h − top, w − left, c]` of an input
/// `[in_h, in_w, ·]`, when inside it (negative offsets crop).
fn shifted(top: isize, left: isize, in_h: usize, in_w: usize) -> impl Fn(&[usize]) -> Option<Vec<usize>> {
    move |o| {
        let (h, w) = (o[0] as isize - top, o[1] as isize - left);
        let inside = (0..in_h as isize).contains(&h) && (0..in_w as isize).contains(&w);
        inside.then(|| vec![h as usize, w as usize, o[2]])
    }
}

#[test]
fn zero_padding_2d_matches_keras() {
    check(ZeroPad2Default::new(0), &keras::ZERO_PADDING_2D_DEFAULT, &[3, 4, 2], &[5, 6, 2], shifted(1, 1, 3, 4));
    check(ZeroPad2Symmetric::new(0), &keras::ZERO_PADDING_2D_SYMMETRIC, &[3, 4, 2], &[5, 8, 2], shifted(1, 2, 3, 4));
    check(ZeroPad2Pairs::new(0), &keras::ZERO_PADDING_2D_PAIRS, &[3, 4, 2], &[4, 9, 2], shifted(1, 2, 3, 4));
}

#[test]
fn cropping_2d_matches_keras() {
    check(Crop2Int::new(0), &keras::CROPPING_2D_INT, &[5, 6, 2], &[3, 4, 2], shifted(-1, -1, 5, 6));
    check(Crop2Symmetric::new(0), &keras::CROPPING_2D_SYMMETRIC, &[5, 6, 2], &[3, 2, 2], shifted(-1, -2, 5, 6));
    check(Crop2Pairs::new(0), &keras::CROPPING_2D_PAIRS, &[5, 6, 2], &[4, 1, 2], shifted(-1, -2, 5, 6));
}

#[test]
fn up_sampling_2d_matches_keras() {
    let up = |sh: usize, sw: usize| move |o: &[usize]| Some(vec![o[0] / sh, o[1] / sw, o[2]]);
    check(Up2Default::new(0), &keras::UP_SAMPLING_2D_DEFAULT, &[2, 3, 2], &[4, 6, 2], up(2, 2));
    check(Up2Tuple::new(0), &keras::UP_SAMPLING_2D_TUPLE, &[2, 3, 2], &[6, 6, 2], up(3, 2));
}

#[test]
fn one_dimensional_layers_match_keras() {
    // Output `[t, c]` reads input `[t − before, c]` when inside `in_t` steps.
    let shifted = |before: isize, in_t: usize| {
        move |o: &[usize]| {
            let t = o[0] as isize - before;
            (0..in_t as isize).contains(&t).then(|| vec![t as usize, o[1]])
        }
    };
    check(ZeroPad1Default::new(0), &keras::ZERO_PADDING_1D_DEFAULT, &[4, 3], &[6, 3], shifted(1, 4));
    check(ZeroPad1Pair::new(0), &keras::ZERO_PADDING_1D_PAIR, &[4, 3], &[8, 3], shifted(1, 4));
    check(Crop1Default::new(0), &keras::CROPPING_1D_DEFAULT, &[5, 3], &[3, 3], shifted(-1, 5));
    check(Crop1Pair::new(0), &keras::CROPPING_1D_PAIR, &[5, 3], &[3, 3], shifted(-2, 5));
    let up = |s: usize| move |o: &[usize]| Some(vec![o[0] / s, o[1]]);
    check(Up1Default::new(0), &keras::UP_SAMPLING_1D_DEFAULT, &[4, 3], &[8, 3], up(2));
    check(Up1Three::new(0), &keras::UP_SAMPLING_1D_3, &[4, 3], &[12, 3], up(3));
}

kiln::model! {
    /// Every data-movement layer between trainable layers (the fixture's
    /// combined model).
    pub struct Combined {
        input x: [f32; 6];
        let h = x => Dense(24, activation = tanh) => Reshape((4, 6)) => Permute((2, 1)) => Reshape((2, 3, 4))
            => ZeroPadding2D(((1, 0), (0, 1))) => Cropping2D(((0, 1), (1, 0))) => UpSampling2D((1, 2))
            => Reshape((-1, 4)) => ZeroPadding1D(1) => Cropping1D((0, 2)) => UpSampling1D(2) => Flatten()
            => Dense(3) => RepeatVector(2) => Flatten() => Dense(1);
        output h;
    }
}

/// A tiny regression problem: `t = x₀ − 2·x₃ + x₅·x₁`.
fn problem(n: usize, seed: u64) -> (Vec<[f32; 6]>, Vec<[f32; 1]>) {
    let values = kiln::testing::test_values(n * 6, seed);
    let x: Vec<[f32; 6]> = values.chunks_exact(6).map(|c| std::array::from_fn(|i| c[i])).collect();
    let t = x.iter().map(|s| [s[0] - 2.0 * s[3] + s[5] * s[1]]).collect();
    (x, t)
}

#[test]
fn combined_model_has_keras_summary_and_correct_gradients() {
    let model = Combined::new(3);
    let summary = model.summary();
    let rows: Vec<(&str, &str, &str)> =
        summary.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.as_str())).collect();
    assert_eq!(rows, keras::COMBINED_SUMMARY);
    assert_eq!(summary.total_params(), keras::COMBINED_PARAMS);
    let (x, _) = problem(3, 1);
    kiln::testing::check_network_gradients(&mut Combined::new(3), &x[..], 40);
}

#[test]
fn combined_model_trains_predicts_one_sample_and_round_trips() {
    let (x, t) = problem(64, 2);
    let mut model = Combined::new(5).compile(Adam::new(0.01), MeanSquaredError, &[]);
    let before = model.evaluate(&x, &t, 64).unwrap().get("loss").unwrap();
    model.fit(&x, &t).epochs(150).batch_size(16).verbose(0).run().unwrap();
    let after = model.evaluate(&x, &t, 64).unwrap().get("loss").unwrap();
    assert!(after < before / 20.0, "loss {before} → {after}");

    // predict_one: the batched values, no allocation.
    let batched = model.predict(&x, 64).unwrap();
    model.predict_one(&x[0]);
    for (sample, expected) in x.iter().zip(&batched).take(8) {
        let (count, one) = support::allocations(|| model.predict_one(sample));
        assert_eq!(count, 0, "predict_one allocated");
        assert!((one[0] - expected[0]).abs() <= 1e-5 * expected[0].abs().max(1.0), "{one:?} vs {expected:?}");
    }

    let mut fresh = Combined::new(6);
    support::assert_weights_round_trip(&*model, &mut fresh);
    assert_eq!(fresh.predict_one(&x[1]), model.predict_one(&x[1]));
}

const ROWS: usize = 4;
const STEPS: usize = 5;

kiln::model! {
    /// Sizes from constants: the inferred `-1` and the cropped length are
    /// expressions rustc evaluates.
    pub struct FromConstants {
        input x: [f32; ROWS, 6];
        let y = x => Reshape((-1, 3)) => Cropping1D((1, 2)) => UpSampling1D(2) => ZeroPadding1D((0, 1));
        output y;
    }
}

kiln::model! {
    pub struct CropConstant {
        input x: [f32; STEPS, 2];
        let y = Cropping1D((1, 2))(x);
        output y;
    }
}

#[test]
fn sizes_from_constants_are_inferred() {
    let model = FromConstants::new(0);
    let shapes: Vec<String> = model.summary().rows.into_iter().map(|r| r.output_shape).collect();
    assert_eq!(shapes, ["(None, 4, 6)", "(None, 8, 3)", "(None, 5, 3)", "(None, 10, 3)", "(None, 11, 3)"]);
    let x: [[f32; 6]; ROWS] = std::array::from_fn(|r| std::array::from_fn(|c| (r * 6 + c) as f32));
    let y = model.predict_one(&x);
    // Rows 1..6 of the [8, 3] view, each repeated twice, then a zero row.
    let expected: Vec<[f32; 3]> = (0..11)
        .map(|t| if t == 10 { [0.0; 3] } else { std::array::from_fn(|c| ((1 + t / 2) * 3 + c) as f32) })
        .collect();
    assert_eq!(y.to_vec(), expected);
    let y = CropConstant::new(0).predict_one(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]);
    assert_eq!(y, [[3.0, 4.0], [5.0, 6.0]]);
}
