//! `DepthwiseConv1D/2D` and `SeparableConv1D/2D` (issue 12): forward and
//! gradients against an f64 reference and against Keras 3 (outputs and
//! tf.GradientTape gradients of the input and every weight,
//! tests/fixtures/keras_depthwise.py), Keras's `.keras` weights and its
//! compile-time import, weights round trip under Keras's names,
//! `predict_one` (values and no allocation), `to_json()`, regularizers
//! and constraints, training.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

use kiln::activations::Activation;
use kiln::initializers::Initializer;
use kiln::layers::{
    Ctx, DepthwiseConfig, DepthwiseConv1d, DepthwiseConv2d, InputGrad, Layer, SeparableConfig, SeparableConv1d,
    SeparableConv2d,
};
use kiln::network::Network;
use kiln::prelude::*;
use kiln::testing::{compare_layer_with_reference, test_values};
use rand::SeedableRng;

#[allow(dead_code)]
mod keras {
    include!("fixtures/keras_depthwise.rs");
}

/// A depthwise (`f = None`) or separable (`f = Some(filters)`)
/// convolution's geometry for the f64 reference: `[H, W, C]` input (1D:
/// H = 1, kh = 1) and Keras's arguments.
#[derive(Clone, Copy)]
struct Geometry {
    h: usize,
    w: usize,
    c: usize,
    m: usize,
    f: Option<usize>,
    k: (usize, usize),
    s: (usize, usize),
    d: (usize, usize),
    same: bool,
    activation: Activation,
}

impl Geometry {
    /// `(output length, padding before)` of one axis, Keras's rules
    /// written out independently of the runtime: valid ⌊(n − d(k−1) − 1)/s⌋ + 1;
    /// same ⌈n/s⌉ with TensorFlow's split (the odd padded value after).
    fn axis(n: usize, k: usize, s: usize, d: usize, same: bool) -> (usize, usize) {
        let span = d * (k - 1) + 1;
        if same {
            let out = n.div_ceil(s);
            (out, ((out - 1) * s + span).saturating_sub(n) / 2)
        } else {
            ((n - span) / s + 1, 0)
        }
    }

    /// `mid[s, i, j, c·M + m] = Σ_{a,b} x[s, i·sh + a·dh − pt, j·sw + b·dw − pl, c] · K[a, b, c, m]`
    /// (positions inside the input), then for a separable convolution
    /// `y[s, i, j, f] = Σ_q mid[s, i, j, q] · P[q, f]`; plus the bias and
    /// the activation. `params`: the kernel(s) in Keras's order, then the bias.
    fn reference(&self, params: &[Vec<f64>], x: &[f64], batch: usize) -> Vec<f64> {
        let g = *self;
        let (oh, pt) = Self::axis(g.h, g.k.0, g.s.0, g.d.0, g.same);
        let (ow, pl) = Self::axis(g.w, g.k.1, g.s.1, g.d.1, g.same);
        let cm = g.c * g.m;
        let kernel = &params[0];
        let mut mid = vec![0.0; batch * oh * ow * cm];
        for s in 0..batch {
            for i in 0..oh {
                for j in 0..ow {
                    for c in 0..g.c {
                        for m in 0..g.m {
                            let mut sum = 0.0;
                            for a in 0..g.k.0 {
                                for b in 0..g.k.1 {
                                    let r = (i * g.s.0 + a * g.d.0) as isize - pt as isize;
                                    let q = (j * g.s.1 + b * g.d.1) as isize - pl as isize;
                                    if r < 0 || q < 0 || r as usize >= g.h || q as usize >= g.w {
                                        continue;
                                    }
                                    let xv = x[((s * g.h + r as usize) * g.w + q as usize) * g.c + c];
                                    sum += xv * kernel[((a * g.k.1 + b) * g.c + c) * g.m + m];
                                }
                            }
                            mid[((s * oh + i) * ow + j) * cm + c * g.m + m] = sum;
                        }
                    }
                }
            }
        }
        let (mut y, channels, bias) = match g.f {
            None => (mid, cm, params.get(1)),
            Some(f) => {
                let p = &params[1];
                let y: Vec<f64> = mid
                    .chunks(cm)
                    .flat_map(|row| (0..f).map(move |o| row.iter().enumerate().map(|(q, v)| v * p[q * f + o]).sum()))
                    .collect();
                (y, f, params.get(2))
            }
        };
        for out in y.chunks_mut(channels) {
            if let Some(b) = bias {
                out.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
            match g.activation {
                Activation::Linear => {}
                Activation::Tanh => out.iter_mut().for_each(|v| *v = v.tanh()),
                Activation::Sigmoid => out.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                Activation::Softmax => {
                    let top = out.iter().fold(f64::MIN, |t, v| t.max(*v));
                    let z: f64 = out.iter().map(|v| (v - top).exp()).sum();
                    out.iter_mut().for_each(|v| *v = (*v - top).exp() / z);
                }
                other => panic!("no reference for {other:?}"),
            }
        }
        y
    }
}

#[allow(clippy::too_many_arguments)]
fn geometry(
    (h, w, c): (usize, usize, usize),
    m: usize,
    f: Option<usize>,
    k: (usize, usize),
    s: (usize, usize),
    d: (usize, usize),
    same: bool,
    activation: Activation,
) -> Geometry {
    Geometry { h, w, c, m, f, k, s, d, same, activation }
}

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// Non-zero biases, so a bias added twice or not at all shows.
fn dw(activation: Activation) -> DepthwiseConfig {
    DepthwiseConfig {
        activation,
        bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
        ..DepthwiseConfig::default()
    }
}

fn sep(activation: Activation) -> SeparableConfig {
    SeparableConfig {
        activation,
        bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
        ..SeparableConfig::default()
    }
}

/// Checks `layer` against the f64 reference of `g` on `batch` samples;
/// the gradient tolerance (1e-4 of the largest entry) fails a 0.1% error
/// (`the_reference_check_catches_a_small_error`).
fn check_reference<L: Layer<In = f32>>(layer: &mut L, g: Geometry, batch: usize) {
    let x = test_values(batch * L::INPUT_LEN, 3);
    let report = compare_layer_with_reference(layer, &x, batch, |p, x, b| g.reference(p, x, b))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.worst_gradient_error() < 1e-5, "worst gradient error {}", report.worst_gradient_error());
}

#[test]
fn depthwise2d_matches_the_f64_reference() {
    let g = geometry((5, 6, 2), 3, None, (3, 2), (1, 1), (1, 1), false, Activation::Tanh);
    check_reference(
        &mut DepthwiseConv2d::<5, 6, 2, 3, 3, 2, 1, 1, 1, 1, false>::new(dw(g.activation), &mut rng(1)),
        g,
        3,
    );
    // Even kernel, same, stride 2: the odd padded value goes bottom/right.
    let g = geometry((7, 6, 2), 2, None, (4, 3), (2, 2), (1, 1), true, Activation::Sigmoid);
    check_reference(
        &mut DepthwiseConv2d::<7, 6, 2, 2, 4, 3, 2, 2, 1, 1, true>::new(dw(g.activation), &mut rng(2)),
        g,
        2,
    );
    // Strides with dilation (allowed for depthwise convolutions), no bias.
    let g = geometry((7, 7, 3), 1, None, (2, 3), (2, 2), (2, 2), true, Activation::Linear);
    let no_bias = DepthwiseConfig { use_bias: false, ..dw(g.activation) };
    check_reference(&mut DepthwiseConv2d::<7, 7, 3, 1, 2, 3, 2, 2, 2, 2, true>::new(no_bias, &mut rng(3)), g, 2);
}

#[test]
fn depthwise1d_matches_the_f64_reference() {
    let g = geometry((1, 10, 3), 2, None, (1, 3), (1, 1), (1, 2), false, Activation::Tanh);
    check_reference(&mut DepthwiseConv1d::<10, 3, 2, 3, 1, 2, false>::new(dw(g.activation), &mut rng(4)), g, 2);
    let g = geometry((1, 11, 2), 1, None, (1, 4), (1, 3), (1, 1), true, Activation::Softmax);
    check_reference(&mut DepthwiseConv1d::<11, 2, 1, 4, 3, 1, true>::new(dw(g.activation), &mut rng(5)), g, 3);
}

#[test]
fn separable2d_matches_the_f64_reference() {
    let g = geometry((6, 5, 3), 2, Some(4), (3, 3), (1, 1), (1, 1), false, Activation::Tanh);
    let mut layer = SeparableConv2d::<6, 5, 3, 2, 4, 3, 3, 1, 1, 1, 1, false>::new(sep(g.activation), &mut rng(6));
    check_reference(&mut layer, g, 2);
    let g = geometry((7, 6, 2), 1, Some(3), (4, 2), (2, 2), (1, 1), true, Activation::Softmax);
    let mut layer = SeparableConv2d::<7, 6, 2, 1, 3, 4, 2, 2, 2, 1, 1, true>::new(sep(g.activation), &mut rng(7));
    check_reference(&mut layer, g, 2);
    let g = geometry((9, 8, 2), 2, Some(2), (3, 3), (2, 2), (2, 2), true, Activation::Linear);
    let no_bias = SeparableConfig { use_bias: false, ..sep(g.activation) };
    let mut layer = SeparableConv2d::<9, 8, 2, 2, 2, 3, 3, 2, 2, 2, 2, true>::new(no_bias, &mut rng(8));
    check_reference(&mut layer, g, 2);
}

#[test]
fn separable1d_matches_the_f64_reference() {
    let g = geometry((1, 11, 2), 2, Some(3), (1, 4), (1, 3), (1, 1), true, Activation::Sigmoid);
    let mut layer = SeparableConv1d::<11, 2, 2, 3, 4, 3, 1, true>::new(sep(g.activation), &mut rng(9));
    check_reference(&mut layer, g, 3);
    let g = geometry((1, 12, 3), 1, Some(2), (1, 3), (1, 1), (1, 3), false, Activation::Linear);
    let mut layer = SeparableConv1d::<12, 3, 1, 2, 3, 1, 3, false>::new(sep(g.activation), &mut rng(10));
    check_reference(&mut layer, g, 2);
}

/// The reference check fails a 0.1% error in any one weight's gradient
/// (so the tests above could fail).
#[test]
fn the_reference_check_catches_a_small_error() {
    struct Off<L>(L, usize);
    impl<L: Layer<In = f32>> Layer for Off<L> {
        type In = f32;
        type Cache = L::Cache;
        const INPUT_LEN: usize = L::INPUT_LEN;
        const OUTPUT_LEN: usize = L::OUTPUT_LEN;
        fn keras_type(&self) -> &'static str {
            "Off"
        }
        fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut Self::Cache, ctx: &mut Ctx) {
            self.0.forward(x, y, batch, cache, ctx);
        }
        fn backward(
            &mut self,
            x: &[f32],
            y: &[f32],
            dy: &mut [f32],
            dx: Option<InputGrad<'_>>,
            batch: usize,
            cache: &mut Self::Cache,
            ctx: &mut Ctx,
        ) {
            let mut before = Vec::new();
            self.0.params(&mut |p| before.push(p.grad.to_vec()));
            self.0.backward(x, y, dy, dx, batch, cache, ctx);
            // Scale this pass's gradient of weight `self.1` by 1.001.
            let mut index = 0;
            let target = self.1;
            self.0.visit_params(&mut |p| {
                if index == target {
                    p.grad.iter_mut().zip(&before[index]).for_each(|(g, b)| *g = b + (*g - b) * 1.001);
                }
                index += 1;
            });
        }
        fn forward_one(&self, x: &[f32], y: &mut [f32]) {
            self.0.forward_one(x, y);
        }
        fn visit_params(&mut self, f: &mut dyn FnMut(&mut kiln::param::Param)) {
            self.0.visit_params(f);
        }
        fn params(&self, f: &mut dyn FnMut(&kiln::param::Param)) {
            self.0.params(f);
        }
    }
    let g = geometry((5, 5, 2), 2, Some(3), (3, 3), (2, 2), (1, 1), true, Activation::Linear);
    for (index, name) in [(0, "depthwise_kernel"), (1, "pointwise_kernel"), (2, "bias")] {
        let layer = SeparableConv2d::<5, 5, 2, 2, 3, 3, 3, 2, 2, 1, 1, true>::new(sep(g.activation), &mut rng(11));
        let x = test_values(2 * 50, 3);
        let result = compare_layer_with_reference(&mut Off(layer, index), &x, 2, |p, x, b| g.reference(p, x, b));
        assert!(result.as_ref().is_err_and(|e| e.contains(name)), "{name}: {:?}", result.map(|_| ()));
    }
}

/// Asserts `got` equals Keras's `want` to 1e-5 of the tensor's largest magnitude.
fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() <= 1e-5 * scale, "{what}[{i}]: kiln {g} vs Keras {w} (scale {scale})");
    }
}

fn f32s(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

/// One Keras case (tests/fixtures/keras_depthwise.py): the layer's
/// variable paths, inputs, weights in Keras's order, outputs, `c` (the
/// loss is `sum(c · y)`), and the gradients of the input and the weights.
pub struct Case {
    paths: &'static [&'static str],
    x: &'static [f64],
    weights: &'static [&'static [f64]],
    y: &'static [f64],
    c: &'static [f64],
    dx: &'static [f64],
    dweights: &'static [&'static [f64]],
}

/// Loads Keras's weights into `layer`, runs `x` forward and backward with
/// `dy = c` (the gradient of `sum(c · y)`), and compares the output, the
/// input gradient and every weight gradient with Keras's; the layer's
/// Keras paths (under Keras's layer name) with Keras's; `forward_one` on
/// each sample.
fn check_keras<L: Layer<In = f32>>(mut layer: L, case: &Case) {
    let prefix = case.paths[0].split('/').next().unwrap();
    let mut ours = Vec::new();
    layer.param_paths(prefix, &mut ours);
    assert_eq!(ours, case.paths, "Keras's variable paths");
    let mut index = 0;
    layer.visit_params(&mut |p| {
        assert_eq!(p.value.len(), case.weights[index].len(), "parameter {} length", p.name);
        p.value.copy_from_slice(&f32s(case.weights[index]));
        p.grad.fill(0.0);
        index += 1;
    });
    let batch = case.x.len() / L::INPUT_LEN;
    let (x, mut cache, mut ctx) = (f32s(case.x), L::Cache::default(), Ctx::new(0));
    let mut out = vec![0.0; batch * L::OUTPUT_LEN];
    layer.forward(&x, &mut out, batch, &mut cache, &mut ctx);
    assert_close("y", &out, case.y);
    let mut dy = f32s(case.c);
    let mut grad = vec![0.0; x.len()];
    let dx = Some(InputGrad { grad: &mut grad, accumulate: false });
    layer.backward(&x, &out, &mut dy, dx, batch, &mut cache, &mut ctx);
    assert_close("dx", &grad, case.dx);
    let mut grads = Vec::new();
    layer.params(&mut |p| grads.push((p.name, p.grad.to_vec())));
    assert_eq!(grads.len(), case.dweights.len());
    for ((name, got), want) in grads.iter().zip(case.dweights) {
        assert_close(name, got, want);
    }
    for s in 0..batch {
        let mut one = vec![0.0; L::OUTPUT_LEN];
        layer.forward_one(&x[s * L::INPUT_LEN..(s + 1) * L::INPUT_LEN], &mut one);
        assert_close("forward_one", &one, &case.y[s * L::OUTPUT_LEN..(s + 1) * L::OUTPUT_LEN]);
    }
}

fn dwk(activation: Activation, use_bias: bool) -> DepthwiseConfig {
    DepthwiseConfig { activation, use_bias, ..DepthwiseConfig::default() }
}

fn sepk(activation: Activation, use_bias: bool) -> SeparableConfig {
    SeparableConfig { activation, use_bias, ..SeparableConfig::default() }
}

#[test]
fn depthwise_matches_keras() {
    use Activation::*;
    let r = &mut rng(0);
    check_keras(
        DepthwiseConv2d::<5, 6, 2, 2, 3, 2, 1, 1, 1, 1, false>::new(dwk(Tanh, true), r),
        &keras::DEPTHWISE2D_VALID,
    );
    check_keras(
        DepthwiseConv2d::<7, 6, 2, 3, 4, 3, 2, 2, 1, 1, true>::new(dwk(Linear, true), r),
        &keras::DEPTHWISE2D_SAME_STRIDE,
    );
    check_keras(
        DepthwiseConv2d::<7, 7, 3, 1, 2, 2, 2, 2, 2, 2, true>::new(dwk(Linear, false), r),
        &keras::DEPTHWISE2D_DILATION_STRIDE,
    );
    check_keras(DepthwiseConv1d::<10, 3, 2, 3, 1, 2, false>::new(dwk(Sigmoid, true), r), &keras::DEPTHWISE1D);
}

#[test]
fn separable_matches_keras() {
    use Activation::*;
    let r = &mut rng(0);
    check_keras(
        SeparableConv2d::<6, 5, 3, 2, 4, 3, 3, 1, 1, 1, 1, false>::new(sepk(Tanh, true), r),
        &keras::SEPARABLE2D_VALID,
    );
    check_keras(
        SeparableConv2d::<7, 6, 2, 1, 3, 4, 2, 2, 2, 1, 1, true>::new(sepk(Linear, true), r),
        &keras::SEPARABLE2D_SAME_STRIDE,
    );
    check_keras(
        SeparableConv2d::<9, 8, 2, 1, 2, 3, 3, 2, 2, 2, 2, true>::new(sepk(Linear, false), r),
        &keras::SEPARABLE2D_DILATION_STRIDE,
    );
    check_keras(SeparableConv1d::<11, 2, 2, 3, 4, 3, 1, true>::new(sepk(Linear, true), r), &keras::SEPARABLE1D);
}

kiln::model! {
    struct KerasModel {
        input x: [f32; 8, 8, 2];
        let h = DepthwiseConv2D(3, padding = same, depth_multiplier = 2, activation = relu)(x);
        let h = SeparableConv2D(3, 3, strides = 2)(h);
        let h = Flatten()(h);
        let p = Dense(2, activation = softmax)(h);
        output p;
    }
}

#[cfg(feature = "keras-weights")]
kiln::model! {
    /// The same model, its architecture read from Keras's file at compile time.
    struct Imported from "tests/fixtures/keras_depthwise/model.keras";
}

fn image<const H: usize, const W: usize, const C: usize>(values: &[f64], sample: usize) -> [[[f32; C]; W]; H] {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| std::array::from_fn(|c| values[((sample * H + i) * W + j) * C + c] as f32))
    })
}

#[cfg(feature = "keras-weights")]
fn keras_model_path() -> String {
    format!("{}/tests/fixtures/keras_depthwise/model.keras", env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[cfg(feature = "keras-weights")]
fn keras_file_loads_and_predicts_as_keras() {
    let mut net = KerasModel::new(5);
    let before = support::params(&net);
    kiln::io::load_keras_weights(&mut net, keras_model_path()).unwrap();
    assert_ne!(support::params(&net), before, "nothing was loaded");
    assert_eq!(Network::param_paths(&net), keras::MODEL_PATHS);
    for s in 0..3 {
        let got = net.predict_one(&image::<8, 8, 2>(keras::MODEL_X, s));
        assert_close("prediction", &got, &keras::MODEL_Y[s * 2..s * 2 + 2]);
    }
    let model = net.compile(Sgd::new(0.1), CategoricalCrossentropy, &[]);
    assert_eq!(model.summary().total_params(), keras::MODEL_PARAMS);
}

#[test]
#[cfg(feature = "keras-weights")]
fn imported_architecture_predicts_as_keras() {
    let mut net = Imported::new(1);
    kiln::io::load_keras_weights(&mut net, keras_model_path()).unwrap();
    assert_eq!(Network::param_paths(&net), keras::MODEL_PATHS);
    for s in 0..3 {
        let got = net.predict_one(&image::<8, 8, 2>(keras::MODEL_X, s));
        assert_close("imported prediction", &got, &keras::MODEL_Y[s * 2..s * 2 + 2]);
    }
}

kiln::model! {
    struct Both {
        input x: [f32; 12, 10, 3];
        // Tuples where Keras's config has them (tests/fixtures/keras_json_check.py
        // compares values as written; an integer means the same to Keras).
        let a = DepthwiseConv2D((3, 2), strides = (2, 2), dilation_rate = (1, 1), depth_multiplier = 2, activation = tanh)(x);
        let b = SeparableConv2D(4, (3, 3), padding = same, depth_multiplier = 3, use_bias = false)(a);
        let f = Flatten()(b);
        let p = Dense(3, activation = softmax)(f);
        output p;
    }
}

kiln::model! {
    struct Sequence {
        input x: [f32; 16, 4];
        let a = DepthwiseConv1D(3, 1, same, 2, activation = relu)(x);
        let b = SeparableConv1D(5, 3, dilation_rate = 2, depth_multiplier = 1)(a);
        let f = Flatten()(b);
        let p = Dense(1, activation = sigmoid)(f);
        output p;
    }
}

#[test]
fn summary_shows_keras_shapes_and_parameter_counts() {
    let summary = Both::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]).summary();
    let rows: Vec<(&str, &str, &str, usize)> =
        summary.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.as_str(), r.trainable)).collect();
    // Keras: depthwise (None, 5, 5, 6) 3·2·3·2 + 6 = 42;
    // separable (None, 5, 5, 4) 3·3·6·3 + 18·4 = 234 (no bias); dense 100·3 + 3.
    assert!(rows.contains(&("depthwise_conv2d", "DepthwiseConv2D", "(None, 5, 5, 6)", 42)), "{rows:?}");
    assert!(rows.contains(&("separable_conv2d", "SeparableConv2D", "(None, 5, 5, 4)", 234)), "{rows:?}");
    assert_eq!(summary.total_params(), 42 + 234 + 303);
    let summary = Sequence::new(0).compile(Adam::default(), BinaryCrossentropy, &[]).summary();
    let rows: Vec<(&str, &str, usize)> =
        summary.rows.iter().map(|r| (r.kind.as_str(), r.output_shape.as_str(), r.trainable)).collect();
    // Keras: (None, 16, 8) 3·4·2 + 8 = 32; (None, 12, 5) 3·8 + 8·5 + 5 = 69.
    assert!(rows.contains(&("DepthwiseConv1D", "(None, 16, 8)", 32)), "{rows:?}");
    assert!(rows.contains(&("SeparableConv1D", "(None, 12, 5)", 69)), "{rows:?}");
}

#[test]
fn weights_round_trip_under_keras_s_names() {
    support::assert_weights_round_trip(&Both::new(1), &mut Both::new(2));
    support::assert_weights_round_trip(&Sequence::new(1), &mut Sequence::new(2));
    let paths = Network::param_paths(&Both::new(0));
    assert_eq!(
        paths,
        [
            "depthwise_conv2d/kernel",
            "depthwise_conv2d/bias",
            "separable_conv2d/depthwise_kernel",
            "separable_conv2d/pointwise_kernel",
            "dense/kernel",
            "dense/bias"
        ]
    );
    // The safetensors file names its tensors by these paths.
    let bytes = kiln::io::weights_to_bytes(&Both::new(0)).unwrap();
    let names: Vec<String> = support::safetensors_header(&bytes).into_iter().map(|(name, ..)| name).collect();
    let mut want: Vec<String> = paths.clone();
    want.sort();
    assert_eq!(names, want);
}

/// Seeded pseudo-random images in (−1, 1).
fn images<const H: usize, const W: usize, const C: usize>(n: usize, seed: u64) -> Vec<[[[f32; C]; W]; H]> {
    let values: Vec<f64> = test_values(n * H * W * C, seed).iter().map(|&v| v as f64).collect();
    (0..n).map(|s| image::<H, W, C>(&values, s)).collect()
}

#[test]
fn predict_one_equals_predict_and_allocates_nothing() {
    let x = images::<12, 10, 3>(5, 1);
    let mut model = Both::new(3).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    let batched = model.predict(&x, 4).unwrap();
    let net = model.network();
    net.predict_one(&x[0]); // the first call may set up a per-thread scratch
    for (sample, want) in x.iter().zip(&batched) {
        let (calls, got) = support::allocations(|| net.predict_one(sample));
        assert_eq!(calls, 0, "predict_one allocated");
        let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 16.0 * f32::EPSILON * scale, "predict_one {got:?} vs predict {want:?}");
        }
    }
}

#[test]
fn gradients_of_a_model_match_finite_differences() {
    kiln::testing::check_network_gradients(&mut Both::new(2), &images::<12, 10, 3>(2, 4), 30);
}

#[test]
fn a_model_trains_and_steps_allocate_nothing() {
    let x = images::<12, 10, 3>(24, 5);
    let y: Vec<u32> = (0..24).map(|i| (i % 3) as u32).collect();
    let mut model = Both::new(1).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    let before = model.evaluate(&x, &y, 8).unwrap().get("loss").unwrap();
    model.train_on_batch(&x[..8], &y[..8]).unwrap();
    let (calls, _) = support::allocations(|| model.train_on_batch(&x[..8], &y[..8]).unwrap());
    assert_eq!(calls, 0, "a training step after the first allocated");
    model.fit(&x, &y).epochs(40).batch_size(8).verbose(0).run().unwrap();
    let after = model.evaluate(&x, &y, 8).unwrap().get("loss").unwrap();
    assert!(after < before / 4.0, "loss {before} → {after}");
}

kiln::model! {
    struct Regularized {
        input x: [f32; 6, 6, 2];
        let a = DepthwiseConv2D(3, depthwise_regularizer = l2(0.01), bias_constraint = non_neg())(x);
        let b = SeparableConv2D(2, 2, depthwise_constraint = max_norm(0.5), pointwise_regularizer = l1(0.02))(a);
        output b;
    }
}

/// The regularizer and constraint keywords reach the parameters Keras
/// applies them to (the depthwise layer's `kernel`, the separable
/// layer's `depthwise_kernel` / `pointwise_kernel`), and nothing else.
#[test]
fn regularizers_and_constraints_reach_their_weights() {
    let net = Regularized::new(0);
    let mut seen = Vec::new();
    Network::params(&net, &mut |p| seen.push((p.name, p.regularizer.is_some(), p.constraint.is_some())));
    assert_eq!(
        seen,
        [
            ("kernel", true, false),
            ("bias", false, true),
            ("depthwise_kernel", false, true),
            ("pointwise_kernel", true, false),
            ("bias", false, false)
        ]
    );
}

/// `to_json()` writes Keras's classes and keywords; compared with the
/// checked-in tests/fixtures/keras_json/depthwise.json (rewrite with
/// `KILN_BLESS_JSON=1`), which tests/fixtures/keras_json_check.py rebuilds
/// with `keras.models.model_from_json` and checks against the weights and
/// predictions written here (under target/tmp/keras_json).
#[test]
fn to_json_is_keras_s_config() {
    use kiln::json::Value;
    let net = Both::new(4);
    let text = net.to_json().unwrap();
    let value: Value = text.parse().unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_json");
    let table = {
        let summary = net.summary();
        let rows: Vec<Value> = summary
            .rows
            .iter()
            .map(|r| {
                let params = r.trainable + r.non_trainable;
                Value::Array(vec![
                    r.name.as_str().into(),
                    r.kind.as_str().into(),
                    r.output_shape.as_str().into(),
                    params.into(),
                ])
            })
            .collect();
        let mut map = kiln::json::Map::new();
        map.insert("layers".into(), Value::Array(rows));
        map.insert("total_params".into(), Value::from(summary.total_params()));
        Value::Object(map)
    };
    for (file, value) in [("depthwise.json", &value), ("depthwise.summary.json", &table)] {
        let path = dir.join(file);
        if std::env::var_os("KILN_BLESS_JSON").is_some() {
            std::fs::write(&path, kiln::json::to_string_pretty(value) + "\n").unwrap();
            continue;
        }
        let want: Value = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (write it with KILN_BLESS_JSON=1)", path.display()))
            .parse()
            .unwrap();
        assert_eq!(value, &want, "{file} differs from to_json()");
    }
    // The keywords as Keras names them, each layer's given arguments.
    let layers = &value["config"]["layers"];
    let config = |i: usize| &layers[i]["config"];
    assert_eq!(layers[1]["class_name"], Value::from("DepthwiseConv2D"));
    assert_eq!(config(1)["depth_multiplier"], Value::from(2));
    assert_eq!(config(1)["strides"], Value::Array(vec![2.into(), 2.into()]));
    assert_eq!(layers[2]["class_name"], Value::from("SeparableConv2D"));
    assert_eq!(config(2)["filters"], Value::from(4));
    assert_eq!(config(2)["depth_multiplier"], Value::from(3));
    assert_eq!(config(2)["use_bias"], Value::Bool(false));
    // Weights and predictions for the Python check.
    let scratch = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keras_json");
    std::fs::create_dir_all(&scratch).unwrap();
    kiln::io::save_weights(&net, scratch.join("depthwise.safetensors")).unwrap();
    let samples: Vec<Value> = images::<12, 10, 3>(2, 6)
        .iter()
        .map(|x| {
            let flat: Vec<Value> = x.iter().flatten().flatten().map(|&v| Value::from(v as f64)).collect();
            let out: Vec<Value> = net.predict_one(x).iter().map(|&v| Value::from(v as f64)).collect();
            Value::Array(vec![Value::Array(vec![Value::Array(flat)]), Value::Array(out)])
        })
        .collect();
    std::fs::write(scratch.join("depthwise.io.json"), Value::Array(samples).to_string()).unwrap();
}
