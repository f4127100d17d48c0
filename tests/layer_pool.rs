//! Pooling layers (`MaxPooling1D/2D`, `AveragePooling1D/2D`, the global
//! ones): against an f64 reference implementation, against numbers real
//! Keras produced (`tests/fixtures/keras_pool.py`), in generated models
//! (shapes, summary, `predict_one`, allocations, weights round trip).

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

#[path = "fixtures/keras_pool.rs"]
mod keras;

use kiln::layers::{Ctx, GlobalPooling, InputGrad, Layer, Padding, PoolMode, Pooling};
use kiln::losses::MeanSquaredError;
use kiln::optimizers::Sgd;
use kiln::testing::{compare_layer_with_reference, test_values};
use kiln::train::Compile;
use PoolMode::{Average, Max};

// ---------------------------------------------------------------------------
// f64 reference: written from TensorFlow's definition, independently of
// kiln's kernel (explicit padded coordinates, `None` for padding).
// ---------------------------------------------------------------------------

/// One pooling layer's geometry, for the reference.
#[derive(Clone, Copy)]
struct Geometry<'a> {
    mode: PoolMode,
    same: bool,
    /// `[steps, channels]` or `[rows, cols, channels]`.
    input: &'a [usize],
    pool: &'a [usize],
    strides: &'a [usize],
}

/// `out = ⌊(n − p) / s⌋ + 1` (valid) or `⌈n / s⌉` (same), and the padding
/// before: half of `max((out − 1)·s + p − n, 0)`, rounded down.
fn axis(n: usize, p: usize, s: usize, same: bool) -> (usize, i64) {
    if same {
        let out = n.div_ceil(s);
        let total = ((out - 1) * s + p) as i64 - n as i64;
        (out, total.max(0) / 2)
    } else {
        ((n - p) / s + 1, 0)
    }
}

fn reference_pool(g: Geometry<'_>, x: &[f64], batch: usize) -> Vec<f64> {
    // Treat 1-D as 2-D with one row.
    let (rows, cols, c) =
        if g.input.len() == 2 { (1, g.input[0], g.input[1]) } else { (g.input[0], g.input[1], g.input[2]) };
    let (pr, pc) = if g.pool.len() == 1 { (1, g.pool[0]) } else { (g.pool[0], g.pool[1]) };
    let (sr, sc) = if g.strides.len() == 1 { (1, g.strides[0]) } else { (g.strides[0], g.strides[1]) };
    let (out_r, pad_r) = axis(rows, pr, sr, g.same);
    let (out_c, pad_c) = axis(cols, pc, sc, g.same);
    let mut y = Vec::new();
    for sample in x.chunks(rows * cols * c).take(batch) {
        for i in 0..out_r {
            for j in 0..out_c {
                for k in 0..c {
                    let mut values = Vec::new();
                    for di in 0..pr {
                        for dj in 0..pc {
                            let r = (i * sr + di) as i64 - pad_r;
                            let q = (j * sc + dj) as i64 - pad_c;
                            if r >= 0 && q >= 0 && (r as usize) < rows && (q as usize) < cols {
                                values.push(sample[(r as usize * cols + q as usize) * c + k]);
                            }
                        }
                    }
                    y.push(match g.mode {
                        Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        Average => values.iter().sum::<f64>() / values.len() as f64,
                    });
                }
            }
        }
    }
    y
}

fn reference_global(mode: PoolMode, input: &[usize], x: &[f64], batch: usize) -> Vec<f64> {
    let c = *input.last().unwrap();
    let n: usize = input.iter().product();
    let mut y = Vec::new();
    for sample in x.chunks(n).take(batch) {
        for k in 0..c {
            let values = sample.iter().skip(k).step_by(c);
            y.push(match mode {
                Max => values.copied().fold(f64::NEG_INFINITY, f64::max),
                Average => values.sum::<f64>() / (n / c) as f64,
            });
        }
    }
    y
}

/// kiln's layer against the reference: forward to 2e-6, input gradient to
/// 1e-4 of f64 central differences (`compare_layer_with_reference`), and a
/// reference off by 0.1% is rejected.
fn check_pool<const N: usize, const M: usize>(g: Geometry<'_>) {
    let padding = if g.same { Padding::Same } else { Padding::Valid };
    let mut layer = Pooling::<N, M>::new(g.mode, padding, g.input, g.pool, g.strides);
    let batch = 3;
    let x = test_values(batch * N, 7);
    let report = compare_layer_with_reference(&mut layer, &x, batch, |_, x, b| reference_pool(g, x, b))
        .unwrap_or_else(|e| panic!("{}: {e}", layer.keras_type()));
    assert_eq!(report.gradient_errors.len(), 1);
    let off = |_: &[Vec<f64>], x: &[f64], b: usize| reference_pool(g, x, b).iter().map(|v| v * 1.001).collect();
    assert!(compare_layer_with_reference(&mut layer, &x, batch, off).is_err(), "a 0.1% error must fail");
}

fn check_global<const N: usize, const M: usize>(mode: PoolMode, input: &[usize]) {
    let mut layer = GlobalPooling::<N, M>::new(mode, input);
    let x = test_values(3 * N, 5);
    compare_layer_with_reference(&mut layer, &x, 3, |_, x, b| reference_global(mode, input, x, b))
        .unwrap_or_else(|e| panic!("{}: {e}", layer.keras_type()));
    let off =
        |_: &[Vec<f64>], x: &[f64], b: usize| reference_global(mode, input, x, b).iter().map(|v| v * 1.001).collect();
    assert!(compare_layer_with_reference(&mut layer, &x, 3, off).is_err(), "a 0.1% error must fail");
}

fn geometry<'a>(
    mode: PoolMode,
    same: bool,
    input: &'a [usize],
    pool: &'a [usize],
    strides: &'a [usize],
) -> Geometry<'a> {
    Geometry { mode, same, input, pool, strides }
}

#[test]
fn pooling_1d_matches_the_f64_reference() {
    for mode in [Max, Average] {
        // strides ≠ pool_size: overlapping windows, and windows with gaps
        check_pool::<14, 6>(geometry(mode, false, &[7, 2], &[3], &[2]));
        check_pool::<14, 8>(geometry(mode, true, &[7, 2], &[3], &[2]));
        check_pool::<24, 9>(geometry(mode, false, &[8, 3], &[2], &[3]));
        check_pool::<8, 3>(geometry(mode, true, &[8, 1], &[2], &[3]));
        check_pool::<12, 6>(geometry(mode, false, &[6, 2], &[2], &[2]));
    }
}

#[test]
fn pooling_2d_matches_the_f64_reference() {
    for mode in [Max, Average] {
        check_pool::<40, 12>(geometry(mode, false, &[5, 4, 2], &[3, 2], &[2, 1]));
        check_pool::<40, 24>(geometry(mode, true, &[5, 4, 2], &[3, 2], &[2, 1]));
        check_pool::<50, 8>(geometry(mode, true, &[5, 5, 2], &[2, 2], &[3, 3]));
        check_pool::<32, 8>(geometry(mode, false, &[4, 4, 2], &[2, 2], &[2, 2]));
        check_pool::<36, 36>(geometry(mode, true, &[3, 4, 3], &[3, 3], &[1, 1]));
    }
}

#[test]
fn global_pooling_matches_the_f64_reference() {
    for mode in [Max, Average] {
        check_global::<15, 3>(mode, &[5, 3]);
        check_global::<24, 2>(mode, &[3, 4, 2]);
    }
}

// ---------------------------------------------------------------------------
// Real Keras's numbers.
// ---------------------------------------------------------------------------

/// `W[i]` of the fixture's loss `Σ W[i]·y[i]`.
fn loss_weights(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((7 * i) % 11) as f32 / 10.0 - 0.5).collect()
}

/// Forward and input gradient on Keras's batch of two match Keras to 1e-6.
fn check_keras<L: Layer<In = f32>>(mut layer: L, x: &[f64], y: &[f64], dx: &[f64], out_shape: &[usize]) {
    assert_eq!(out_shape.iter().product::<usize>(), L::OUTPUT_LEN);
    let name = layer.keras_type();
    let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let batch = x.len() / L::INPUT_LEN;
    let mut out = vec![0.0; batch * L::OUTPUT_LEN];
    let (mut cache, mut ctx) = (L::Cache::default(), Ctx::new(0));
    ctx.training = true;
    layer.forward(&x, &mut out, batch, &mut cache, &mut ctx);
    assert_eq!(out.len(), y.len());
    for (i, (a, b)) in out.iter().zip(y).enumerate() {
        assert!((*a as f64 - b).abs() <= 1e-6, "{name}: y[{i}] = {a}, Keras {b}");
    }
    let mut dy = loss_weights(out.len());
    let mut grad = vec![f32::NAN; x.len()];
    layer.backward(
        &x,
        &out,
        &mut dy,
        Some(InputGrad { grad: &mut grad, accumulate: false }),
        batch,
        &mut cache,
        &mut ctx,
    );
    for (i, (a, b)) in grad.iter().zip(dx).enumerate() {
        assert!((*a as f64 - b).abs() <= 1e-6, "{name}: dx[{i}] = {a}, Keras {b}");
    }
}

fn pool<const N: usize, const M: usize>(
    mode: PoolMode,
    same: bool,
    input: &[usize],
    p: &[usize],
    s: &[usize],
) -> Pooling<N, M> {
    Pooling::new(mode, if same { Padding::Same } else { Padding::Valid }, input, p, s)
}

#[test]
fn pooling_matches_keras() {
    use keras::*;
    check_keras(
        pool::<14, 6>(Max, false, &[7, 2], &[3], &[2]),
        MAX1D_VALID_X,
        MAX1D_VALID_Y,
        MAX1D_VALID_DX,
        MAX1D_VALID_OUT_SHAPE,
    );
    check_keras(
        pool::<14, 8>(Max, true, &[7, 2], &[3], &[2]),
        MAX1D_SAME_X,
        MAX1D_SAME_Y,
        MAX1D_SAME_DX,
        MAX1D_SAME_OUT_SHAPE,
    );
    check_keras(
        pool::<15, 6>(Max, false, &[5, 3], &[2], &[2]),
        MAX1D_DEFAULT_X,
        MAX1D_DEFAULT_Y,
        MAX1D_DEFAULT_DX,
        MAX1D_DEFAULT_OUT_SHAPE,
    );
    check_keras(
        pool::<14, 6>(Average, false, &[7, 2], &[3], &[2]),
        AVG1D_VALID_X,
        AVG1D_VALID_Y,
        AVG1D_VALID_DX,
        AVG1D_VALID_OUT_SHAPE,
    );
    check_keras(
        pool::<14, 8>(Average, true, &[7, 2], &[3], &[2]),
        AVG1D_SAME_X,
        AVG1D_SAME_Y,
        AVG1D_SAME_DX,
        AVG1D_SAME_OUT_SHAPE,
    );
    check_keras(
        pool::<8, 3>(Average, true, &[8, 1], &[2], &[3]),
        AVG1D_SAME_STRIDE3_X,
        AVG1D_SAME_STRIDE3_Y,
        AVG1D_SAME_STRIDE3_DX,
        AVG1D_SAME_STRIDE3_OUT_SHAPE,
    );
    check_keras(
        pool::<40, 12>(Max, false, &[5, 4, 2], &[3, 2], &[2, 1]),
        MAX2D_VALID_X,
        MAX2D_VALID_Y,
        MAX2D_VALID_DX,
        MAX2D_VALID_OUT_SHAPE,
    );
    check_keras(
        pool::<40, 24>(Max, true, &[5, 4, 2], &[3, 2], &[2, 1]),
        MAX2D_SAME_X,
        MAX2D_SAME_Y,
        MAX2D_SAME_DX,
        MAX2D_SAME_OUT_SHAPE,
    );
    check_keras(
        pool::<40, 8>(Max, false, &[4, 5, 2], &[2, 2], &[2, 2]),
        MAX2D_DEFAULT_X,
        MAX2D_DEFAULT_Y,
        MAX2D_DEFAULT_DX,
        MAX2D_DEFAULT_OUT_SHAPE,
    );
    check_keras(
        pool::<40, 12>(Average, false, &[5, 4, 2], &[3, 2], &[2, 1]),
        AVG2D_VALID_X,
        AVG2D_VALID_Y,
        AVG2D_VALID_DX,
        AVG2D_VALID_OUT_SHAPE,
    );
    check_keras(
        pool::<40, 24>(Average, true, &[5, 4, 2], &[3, 2], &[2, 1]),
        AVG2D_SAME_X,
        AVG2D_SAME_Y,
        AVG2D_SAME_DX,
        AVG2D_SAME_OUT_SHAPE,
    );
}

/// Tied maxima: max pooling gives the gradient to the first in scan order,
/// global max pooling (`reduce_max`) shares it — as TensorFlow does.
#[test]
fn ties_match_keras() {
    use keras::*;
    // Windows (2 × 2, stride 1, "same": padding after) holding a tied maximum.
    let mut tied_windows = 0;
    for sample in MAX2D_TIES_X.chunks(32) {
        for (i, j, k) in (0..4).flat_map(|i| (0..4).flat_map(move |j| (0..2).map(move |k| (i, j, k)))) {
            let window: Vec<f64> = (i..(i + 2).min(4))
                .flat_map(|r| (j..(j + 2).min(4)).map(move |q| sample[(r * 4 + q) * 2 + k]))
                .collect();
            let best = window.iter().copied().fold(f64::MIN, f64::max);
            tied_windows += usize::from(window.iter().filter(|&&v| v == best).count() > 1);
        }
    }
    assert!(tied_windows > 4, "the fixture must hold ties");
    check_keras(
        pool::<32, 32>(Max, true, &[4, 4, 2], &[2, 2], &[1, 1]),
        MAX2D_TIES_X,
        MAX2D_TIES_Y,
        MAX2D_TIES_DX,
        MAX2D_TIES_OUT_SHAPE,
    );
    // Some channel of some sample has a tied global maximum.
    let tied = GMAX2D_TIES_X.chunks(24).any(|sample| {
        (0..2).any(|k| {
            let best = sample.iter().skip(k).step_by(2).copied().fold(f64::MIN, f64::max);
            sample.iter().skip(k).step_by(2).filter(|&&v| v == best).count() > 1
        })
    });
    assert!(tied, "the fixture must hold ties");
    check_keras(
        GlobalPooling::<24, 2>::new(Max, &[3, 4, 2]),
        GMAX2D_TIES_X,
        GMAX2D_TIES_Y,
        GMAX2D_TIES_DX,
        GMAX2D_TIES_OUT_SHAPE,
    );
}

#[test]
fn global_pooling_matches_keras() {
    use keras::*;
    check_keras(GlobalPooling::<15, 3>::new(Max, &[5, 3]), GMAX1D_X, GMAX1D_Y, GMAX1D_DX, GMAX1D_OUT_SHAPE);
    check_keras(GlobalPooling::<15, 3>::new(Average, &[5, 3]), GAVG1D_X, GAVG1D_Y, GAVG1D_DX, GAVG1D_OUT_SHAPE);
    check_keras(GlobalPooling::<24, 2>::new(Average, &[3, 4, 2]), GAVG2D_X, GAVG2D_Y, GAVG2D_DX, GAVG2D_OUT_SHAPE);
}

// ---------------------------------------------------------------------------
// In generated models.
// ---------------------------------------------------------------------------

kiln::model! {
    struct Image {
        input x: [f32; 8, 8, 2];
        let p = MaxPooling2D()(x);
        let f = Flatten()(p);
        let y = Dense(3)(f);
        output y;
    }
}

// Every kind (and an alias), with Keras's shapes written as the output types.
kiln::model! {
    struct Shapes2d {
        input x: [f32; 8, 8, 2];
        let a = AveragePooling2D(pool_size = (3, 2), strides = (2, 1), padding = "same")(x);
        let m = MaxPool2D(2, strides = 1)(a);
        let g = GlobalAveragePooling2D(keepdims = true)(m);
        let h = GlobalMaxPooling2D()(m);
        output a, m, g, h;
    }
}

kiln::model! {
    struct Sequence {
        input x: [f32; 9, 3];
        let steps = TimeDistributed(Dense(4, activation = tanh))(x);
        let m = MaxPooling1D(3, 2, padding = "same")(steps);
        let a = AveragePooling1D(pool_size = 2)(m);
        let g = GlobalMaxPooling1D()(a);
        let v = GlobalAveragePooling1D(keepdims = true)(steps);
        let f = Flatten()(v);
        let both = concatenate([g, f]);
        let y = Dense(2)(both);
        output y;
    }
}

#[test]
fn macro_shapes_are_keras_shapes() {
    let image = Image::new(0);
    let summary = image.summary();
    let shapes: Vec<&str> = summary.rows.iter().skip(1).map(|r| r.output_shape.as_str()).collect();
    assert_eq!(shapes, keras::MODEL_SHAPES);
    let kinds: Vec<&str> = summary.rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["InputLayer", "MaxPooling2D", "Flatten", "Dense"]);
    assert_eq!(summary.rows[1].name, "max_pooling2d");
    assert_eq!(summary.total_params(), 32 * 3 + 3);

    // ⌈8/2⌉ × ⌈8/1⌉ (same), then ⌊(4−2)/1⌋+1 × ⌊(8−2)/1⌋+1 (valid).
    let (a, m, g, h) = Shapes2d::new(0).predict_one(&[[[0.5; 2]; 8]; 8]);
    // The output types are Keras's shapes (rustc checks them).
    let a: [[[f32; 2]; 8]; 4] = a;
    let m: [[[f32; 2]; 7]; 3] = m;
    let g: [[[f32; 2]; 1]; 1] = g;
    let h: [f32; 2] = h;
    assert!(a.iter().flatten().flatten().chain(m.iter().flatten().flatten()).all(|&v| v == 0.5));
    assert_eq!((g, h), ([[[0.5; 2]]], [0.5; 2]));
    let summary = Shapes2d::new(0).summary();
    let rows: Vec<(&str, &str, &str)> =
        summary.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.as_str())).collect();
    assert_eq!(
        rows[1..],
        [
            ("average_pooling2d", "AveragePooling2D", "(None, 4, 8, 2)"),
            ("max_pooling2d", "MaxPooling2D", "(None, 3, 7, 2)"),
            ("global_average_pooling2d", "GlobalAveragePooling2D", "(None, 1, 1, 2)"),
            ("global_max_pooling2d", "GlobalMaxPooling2D", "(None, 2)"),
        ]
    );
}

fn images(n: usize) -> Vec<[[[f32; 2]; 8]; 8]> {
    let v = test_values(n * 128, 3);
    v.chunks(128)
        .map(|s| std::array::from_fn(|i| std::array::from_fn(|j| [s[i * 16 + j * 2], s[i * 16 + j * 2 + 1]])))
        .collect()
}

fn sequences(n: usize) -> Vec<[[f32; 3]; 9]> {
    let v = test_values(n * 27, 4);
    v.chunks(27).map(|s| std::array::from_fn(|i| [s[i * 3], s[i * 3 + 1], s[i * 3 + 2]])).collect()
}

#[test]
fn predict_one_equals_predict_and_allocates_nothing() {
    let x = images(5);
    let mut model = Image::new(1).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    let batched = model.predict(&x, 4).unwrap();
    for (sample, expected) in x.iter().zip(&batched) {
        let (calls, one) = support::allocations(|| model.network().predict_one(sample));
        assert_eq!(calls, 0);
        assert_eq!(one.map(f32::to_bits), expected.map(f32::to_bits));
    }
    let s = sequences(5);
    let mut seq = Sequence::new(1).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    let batched = seq.predict(&s, 2).unwrap();
    for (sample, expected) in s.iter().zip(&batched) {
        let (calls, one) = support::allocations(|| seq.network().predict_one(sample));
        assert_eq!(calls, 0);
        for (a, b) in one.iter().zip(expected) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}

/// A training step through pooling layers (the arg-max cache included)
/// allocates nothing after the first, and the gradients through the
/// pooling layers' backward passes are right.
#[test]
fn training_steps_allocate_nothing_and_gradients_flow() {
    let s = sequences(6);
    kiln::testing::check_network_gradients(&mut Sequence::new(2), &s[..3], 12);
    let y: Vec<[f32; 2]> = s.iter().map(|v| [v[0][0], v[8][2]]).collect();
    let mut seq = Sequence::new(2).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    let first = seq.train_on_batch(&s, &y).unwrap();
    let (calls, _) = support::allocations(|| seq.train_on_batch(&s, &y).unwrap());
    assert_eq!(calls, 0);
    let x = images(4);
    let t: Vec<[f32; 3]> = x.iter().map(|v| [v[0][0][0], v[7][7][1], 0.5]).collect();
    let mut image = Image::new(2).compile(Sgd::new(0.1), MeanSquaredError, &[]);
    image.train_on_batch(&x, &t).unwrap();
    let (calls, _) = support::allocations(|| image.train_on_batch(&x, &t).unwrap());
    assert_eq!(calls, 0);
    let later = (0..20).map(|_| seq.train_on_batch(&s, &y).unwrap()).last().unwrap();
    assert!(later < first, "training lowers the loss: {first} → {later}");
}

#[test]
fn weights_round_trip() {
    support::assert_weights_round_trip(&Image::new(3), &mut Image::new(4));
    support::assert_weights_round_trip(&Sequence::new(3), &mut Sequence::new(4));
}

const STEPS: usize = 9;
const SIDE: usize = 5;

// Sizes from constants: the output sizes are expressions rustc evaluates.
kiln::model! {
    struct Constants {
        input x: [f32; STEPS, 2];
        input image: [f32; SIDE, SIDE + 1, 1];
        let v = MaxPooling1D(pool_size = 4, strides = 2)(x);
        let s = AveragePooling1D(4, 2, "same")(x);
        let i = MaxPooling2D((2, 3), padding = "valid")(image);
        let g = GlobalAveragePooling1D()(v);
        output v, s, i, g;
    }
}

#[test]
fn sizes_from_constants() {
    let x: [[f32; 2]; STEPS] = std::array::from_fn(|t| [t as f32, -(t as f32)]);
    let image: [[[f32; 1]; SIDE + 1]; SIDE] = std::array::from_fn(|r| std::array::from_fn(|c| [(r * 6 + c) as f32]));
    let (v, s, i, g) = Constants::new(0).predict_one(&x, &image);
    // ⌊(9 − 4)/2⌋ + 1 = 3 windows from 0, 2, 4; ⌈9/2⌉ = 5 with one padded step before and after.
    let v: [[f32; 2]; 3] = v;
    let s: [[f32; 2]; 5] = s;
    assert_eq!(v, [[3.0, -0.0], [5.0, -2.0], [7.0, -4.0]]);
    assert_eq!(s.map(|p| p[0]), [1.0, 2.5, 4.5, 6.5, 7.5]);
    // [5, 6] pooled by (2, 3): ⌊(5 − 2)/2⌋ + 1 = 2 rows, 2 columns; the maximum is each window's last value.
    let i: [[[f32; 1]; 2]; 2] = i;
    assert_eq!(i, [[[8.0], [11.0]], [[20.0], [23.0]]]);
    assert_eq!(g, [5.0, -2.0]);
    let summary = Constants::new(0).summary();
    let shapes: Vec<&str> = summary.rows.iter().skip(2).map(|r| r.output_shape.as_str()).collect();
    assert_eq!(shapes, ["(None, 3, 2)", "(None, 5, 2)", "(None, 2, 2, 1)", "(None, 2)"]);
}
