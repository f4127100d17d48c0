//! `Conv1D` and `Conv2D` (issue 12): forward and gradients against an f64
//! reference convolution and against Keras 3 (outputs and
//! tf.GradientTape gradients, tests/fixtures/keras_conv.py), Keras's
//! `.keras` weights, weights round trip, `predict_one` (values and no
//! allocation), training, and the summary.

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

use kiln::activations::Activation;
use kiln::initializers::Initializer;
use kiln::layers::{Conv1d, Conv2d, ConvConfig, Ctx, InputGrad, Layer};
use kiln::network::Network;
use kiln::prelude::*;
use kiln::testing::{compare_layer_with_reference, test_values};
use rand::SeedableRng;

#[allow(dead_code)]
mod keras {
    include!("fixtures/keras_conv.rs");
}

/// The geometry of a convolution for the f64 reference, as `[H, W, C]`
/// input and Keras's arguments (a Conv1D is H = 1, kh = 1).
#[derive(Clone, Copy)]
struct Geometry {
    h: usize,
    w: usize,
    c: usize,
    f: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    same: bool,
    activation: Activation,
}

impl Geometry {
    /// `(output length, padding before)` of one axis, from Keras's rules
    /// written out independently of the runtime: valid ⌊(n − d(k−1) − 1)/s⌋ + 1
    /// with no padding; same ⌈n/s⌉ with TensorFlow's split (the odd padded
    /// value after).
    fn axis(n: usize, k: usize, s: usize, d: usize, same: bool) -> (usize, usize) {
        let span = d * (k - 1) + 1;
        if same {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + span).saturating_sub(n);
            (out, total / 2)
        } else {
            ((n - span) / s + 1, 0)
        }
    }

    fn out(&self) -> (usize, usize, usize, usize) {
        let (oh, pt) = Self::axis(self.h, self.kh, self.sh, self.dh, self.same);
        let (ow, pl) = Self::axis(self.w, self.kw, self.sw, self.dw, self.same);
        (oh, ow, pt, pl)
    }

    /// The convolution in f64 loops: `y[s, i, j, f] = act(b[f] + Σ x[s, i·sh + a·dh − pt, j·sw + b·dw − pl, c] · K[a, b, c, f])`
    /// over the positions inside the input. `params[0]` is the kernel
    /// `[kh, kw, c, f]`, `params[1]` the bias if any.
    fn reference(&self, params: &[Vec<f64>], x: &[f64], batch: usize) -> Vec<f64> {
        let g = *self;
        let (oh, ow, pt, pl) = self.out();
        let k = &params[0];
        let mut y = vec![0.0; batch * oh * ow * g.f];
        for s in 0..batch {
            for i in 0..oh {
                for j in 0..ow {
                    let out = &mut y[((s * oh + i) * ow + j) * g.f..][..g.f];
                    for (f, o) in out.iter_mut().enumerate() {
                        let mut sum = params.get(1).map_or(0.0, |b| b[f]);
                        for a in 0..g.kh {
                            for b in 0..g.kw {
                                let r = (i * g.sh + a * g.dh) as isize - pt as isize;
                                let q = (j * g.sw + b * g.dw) as isize - pl as isize;
                                if r < 0 || q < 0 || r as usize >= g.h || q as usize >= g.w {
                                    continue;
                                }
                                for c in 0..g.c {
                                    let xv = x[((s * g.h + r as usize) * g.w + q as usize) * g.c + c];
                                    sum += xv * k[((a * g.kw + b) * g.c + c) * g.f + f];
                                }
                            }
                        }
                        *o = sum;
                    }
                    match g.activation {
                        Activation::Linear => {}
                        Activation::Relu => out.iter_mut().for_each(|v| *v = v.max(0.0)),
                        Activation::Tanh => out.iter_mut().for_each(|v| *v = v.tanh()),
                        Activation::Sigmoid => out.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                        Activation::Softmax => {
                            let m = out.iter().fold(f64::MIN, |m, v| m.max(*v));
                            let z: f64 = out.iter().map(|v| (v - m).exp()).sum();
                            out.iter_mut().for_each(|v| *v = (*v - m).exp() / z);
                        }
                        other => panic!("no reference for {other:?}"),
                    }
                }
            }
        }
        y
    }
}

fn config(activation: Activation) -> ConvConfig {
    ConvConfig {
        activation,
        // Non-zero biases, so a bias added twice or not at all shows.
        bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
        ..ConvConfig::default()
    }
}

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// Checks `layer` against the f64 reference of `g` on `batch` samples:
/// the gradient tolerance (1e-4 of the largest entry) fails a 0.1% error.
fn check_reference<L: Layer<In = f32>>(layer: &mut L, g: Geometry, batch: usize) -> f64 {
    let x = test_values(batch * L::INPUT_LEN, 3);
    let report = compare_layer_with_reference(layer, &x, batch, |p, x, b| g.reference(p, x, b))
        .unwrap_or_else(|e| panic!("{e}"));
    report.worst_gradient_error()
}

#[allow(clippy::too_many_arguments)]
fn geometry(
    (h, w, c): (usize, usize, usize),
    f: usize,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    same: bool,
    activation: Activation,
) -> Geometry {
    Geometry { h, w, c, f, kh, kw, sh, sw, dh, dw, same, activation }
}

#[test]
fn conv2d_valid_matches_the_f64_reference() {
    let g = geometry((5, 6, 2), 3, (3, 2), (1, 1), (1, 1), false, Activation::Tanh);
    let mut layer = Conv2d::<5, 6, 2, 3, 3, 2, 1, 1, 1, 1, false>::new(config(g.activation), &mut rng(1));
    assert!(check_reference(&mut layer, g, 3) < 1e-5);
}

#[test]
fn conv2d_same_matches_the_f64_reference() {
    // Even kernel: the odd padded row and column go after (bottom, right).
    let g = geometry((5, 4, 3), 2, (2, 4), (1, 1), (1, 1), true, Activation::Sigmoid);
    let mut layer = Conv2d::<5, 4, 3, 2, 2, 4, 1, 1, 1, 1, true>::new(config(g.activation), &mut rng(2));
    assert!(check_reference(&mut layer, g, 2) < 1e-5);
}

#[test]
fn conv2d_stride_2_matches_the_f64_reference() {
    let valid = geometry((7, 6, 2), 3, (3, 3), (2, 2), (1, 1), false, Activation::Linear);
    let mut layer = Conv2d::<7, 6, 2, 3, 3, 3, 2, 2, 1, 1, false>::new(config(valid.activation), &mut rng(3));
    assert!(check_reference(&mut layer, valid, 2) < 1e-5);
    let same = geometry((7, 6, 2), 3, (4, 3), (2, 2), (1, 1), true, Activation::Softmax);
    let mut layer = Conv2d::<7, 6, 2, 3, 4, 3, 2, 2, 1, 1, true>::new(config(same.activation), &mut rng(4));
    assert!(check_reference(&mut layer, same, 2) < 1e-5);
}

#[test]
fn conv2d_dilation_2_matches_the_f64_reference() {
    let valid = geometry((7, 8, 2), 2, (3, 2), (1, 1), (2, 2), false, Activation::Tanh);
    let mut layer = Conv2d::<7, 8, 2, 2, 3, 2, 1, 1, 2, 2, false>::new(config(valid.activation), &mut rng(5));
    assert!(check_reference(&mut layer, valid, 2) < 1e-5);
    let same = geometry((5, 6, 2), 3, (3, 3), (1, 1), (2, 2), true, Activation::Linear);
    let mut layer = Conv2d::<5, 6, 2, 3, 3, 3, 1, 1, 2, 2, true>::new(config(same.activation), &mut rng(6));
    assert!(check_reference(&mut layer, same, 2) < 1e-5);
}

#[test]
fn conv2d_pointwise_and_no_bias_match_the_f64_reference() {
    // 1×1 kernels take the path without im2col.
    let g = geometry((3, 4, 5), 3, (1, 1), (1, 1), (1, 1), false, Activation::Linear);
    let mut layer = Conv2d::<3, 4, 5, 3, 1, 1, 1, 1, 1, 1, false>::new(config(g.activation), &mut rng(7));
    assert!(check_reference(&mut layer, g, 3) < 1e-5);
    let no_bias = ConvConfig { use_bias: false, ..config(Activation::Linear) };
    let g = geometry((4, 4, 2), 2, (3, 3), (1, 1), (1, 1), true, Activation::Linear);
    let mut layer = Conv2d::<4, 4, 2, 2, 3, 3, 1, 1, 1, 1, true>::new(no_bias, &mut rng(8));
    assert!(check_reference(&mut layer, g, 2) < 1e-5);
}

#[test]
fn conv2d_with_many_channels_matches_the_f64_reference() {
    // im2col copies each kernel position's channels in blocks of 16 values
    // and a rest: 19 channels are one block and 3 values, 32 two blocks.
    let g = geometry((5, 4, 19), 3, (3, 3), (1, 1), (1, 1), true, Activation::Linear);
    let mut layer = Conv2d::<5, 4, 19, 3, 3, 3, 1, 1, 1, 1, true>::new(config(g.activation), &mut rng(9));
    assert!(check_reference(&mut layer, g, 2) < 1e-5);
    let g = geometry((4, 5, 32), 2, (2, 3), (1, 1), (1, 1), false, Activation::Relu);
    let mut layer = Conv2d::<4, 5, 32, 2, 2, 3, 1, 1, 1, 1, false>::new(config(g.activation), &mut rng(10));
    assert!(check_reference(&mut layer, g, 3) < 1e-5);
}

/// `forward_one` (the direct AVX-512 kernel where the CPU has it, the
/// im2col path otherwise) against the f64 reference, on every path the CPU
/// runs: worst error at most 1e-5 of the output's largest value (a 0.1%
/// error in one value fails).
fn check_forward_one<L: Layer<In = f32>>(layer: &mut L, g: Geometry) {
    let x = test_values(L::INPUT_LEN, 17);
    let mut params: Vec<Vec<f64>> = Vec::new();
    layer.params(&mut |p| params.push(p.value.iter().map(|&v| f64::from(v)).collect()));
    let want = g.reference(&params, &x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), 1);
    let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    for isa in kiln::simd::Isa::ALL {
        kiln::simd::with_isa(isa, || {
            let mut y = vec![f32::NAN; L::OUTPUT_LEN + 3];
            layer.forward_one(&x, &mut y);
            let worst =
                y[..L::OUTPUT_LEN].iter().zip(&want).map(|(&a, b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
            assert!(worst <= 1e-5 * scale, "{isa}: worst error {worst} of {scale} ({:?})", layer.keras_type());
            // Nothing past the output is written.
            assert!(y[L::OUTPUT_LEN..].iter().all(|v| v.is_nan()), "{isa}: wrote past the output");
        });
    }
}

#[test]
fn forward_one_matches_the_f64_reference_on_many_geometries() {
    use Activation::{Linear, Relu, Softmax, Tanh};
    macro_rules! case {
        ($h:literal, $w:literal, $c:literal, $f:literal, $kh:literal, $kw:literal, $sh:literal, $sw:literal, $dh:literal, $dw:literal, $same:literal, $act:expr, $bias:literal) => {{
            let g = geometry(($h, $w, $c), $f, ($kh, $kw), ($sh, $sw), ($dh, $dw), $same, $act);
            let cfg = ConvConfig { use_bias: $bias, ..config($act) };
            let mut layer =
                Conv2d::<$h, $w, $c, $f, $kh, $kw, $sh, $sw, $dh, $dw, $same>::new(cfg, &mut rng($h * 7 + $f));
            check_forward_one(&mut layer, g);
        }};
    }
    // W4's two convolutions: 1 → 32 channels over 26 positions a row
    // (tiles of 9, 9, 8), 32 → 64 over 11 (6 + 5).
    case!(28, 28, 1, 32, 3, 3, 1, 1, 1, 1, false, Relu, true);
    case!(13, 13, 32, 64, 3, 3, 1, 1, 1, 1, false, Relu, true);
    // Filters not a multiple of 16 (masked last vector), more than 64
    // (several filter blocks), one; wide rows (several tiles).
    case!(6, 30, 3, 17, 3, 3, 1, 1, 1, 1, false, Linear, true);
    case!(5, 7, 4, 100, 2, 3, 1, 1, 1, 1, false, Tanh, true);
    case!(4, 15, 2, 1, 3, 1, 1, 1, 1, 1, false, Linear, false);
    case!(5, 5, 3, 40, 3, 3, 1, 1, 1, 1, false, Softmax, true);
    // Strides and dilations, valid and same (odd padded value after).
    case!(9, 11, 3, 20, 3, 3, 2, 2, 1, 1, false, Relu, true);
    case!(9, 11, 3, 20, 3, 3, 2, 3, 1, 1, true, Relu, false);
    case!(10, 9, 2, 48, 3, 2, 1, 1, 2, 3, false, Tanh, true);
    case!(8, 8, 2, 33, 3, 3, 1, 1, 2, 2, true, Linear, true);
    case!(7, 6, 5, 16, 4, 4, 1, 1, 1, 1, true, Relu, true);
    case!(6, 6, 3, 8, 1, 1, 3, 3, 1, 1, true, Linear, true);
    // 1×1 (pointwise) and a same input too large for the stack copy
    // (70·70·4 floats > 16,384: the im2col path).
    case!(3, 20, 24, 70, 1, 1, 1, 1, 1, 1, false, Relu, true);
    case!(70, 70, 4, 5, 3, 3, 1, 1, 1, 1, true, Relu, true);
    // Conv1D: [1, L, C] with a kernel of height 1.
    let g = geometry((1, 30, 3), 24, (1, 5), (1, 2), (1, 2), true, Relu);
    check_forward_one(&mut Conv1d::<30, 3, 24, 5, 2, 2, true>::new(config(Relu), &mut rng(40)), g);
}

#[test]
fn conv1d_matches_the_f64_reference() {
    let valid = geometry((1, 10, 3), 4, (1, 3), (1, 1), (1, 2), false, Activation::Tanh);
    let mut layer = Conv1d::<10, 3, 4, 3, 1, 2, false>::new(config(valid.activation), &mut rng(9));
    assert!(check_reference(&mut layer, valid, 2) < 1e-5);
    let same = geometry((1, 11, 2), 3, (1, 4), (1, 2), (1, 1), true, Activation::Linear);
    let mut layer = Conv1d::<11, 2, 3, 4, 2, 1, true>::new(config(same.activation), &mut rng(10));
    assert!(check_reference(&mut layer, same, 3) < 1e-5);
}

/// The reference check fails a 0.1% error in the kernel gradient (so the
/// tests above could fail).
#[test]
fn the_reference_check_catches_a_small_error() {
    struct Off<L>(L);
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
            // Scale this pass's kernel gradient by 1.001.
            let mut index = 0;
            self.0.visit_params(&mut |p| {
                if index == 0 {
                    p.grad.iter_mut().zip(&before[0]).for_each(|(g, b)| *g = b + (*g - b) * 1.001);
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
    let g = geometry((5, 5, 2), 2, (3, 3), (2, 2), (1, 1), true, Activation::Linear);
    let mut layer = Off(Conv2d::<5, 5, 2, 2, 3, 3, 2, 2, 1, 1, true>::new(config(g.activation), &mut rng(11)));
    let x = test_values(2 * 50, 3);
    let result = compare_layer_with_reference(&mut layer, &x, 2, |p, x, b| g.reference(p, x, b));
    assert!(result.is_err_and(|e| e.contains("kernel")));
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

/// Loads Keras's weights into `layer`, runs the batch `x` forward and
/// backward with `dy = c` (the gradient of `sum(c · y)`), and compares the
/// output, the input gradient and the weight gradients with Keras's.
#[allow(clippy::too_many_arguments)]
fn check_keras<L: Layer<In = f32>>(
    mut layer: L,
    x: &[f64],
    kernel: &[f64],
    bias: Option<&[f64]>,
    y: &[f64],
    c: &[f64],
    dx: &[f64],
    dkernel: &[f64],
    dbias: Option<&[f64]>,
) {
    let mut index = 0;
    layer.visit_params(&mut |p| {
        let values = if index == 0 { kernel } else { bias.expect("Keras's layer has a bias") };
        assert_eq!(p.value.len(), values.len(), "parameter {} length", p.name);
        p.value.copy_from_slice(&f32s(values));
        p.grad.fill(0.0);
        index += 1;
    });
    assert_eq!(index, 1 + usize::from(bias.is_some()));
    let batch = x.len() / L::INPUT_LEN;
    let (x, mut cache, mut ctx) = (f32s(x), L::Cache::default(), Ctx::new(0));
    let mut out = vec![0.0; batch * L::OUTPUT_LEN];
    layer.forward(&x, &mut out, batch, &mut cache, &mut ctx);
    assert_close("y", &out, y);
    let mut dy = f32s(c);
    let mut grad = vec![0.0; x.len()];
    layer.backward(
        &x,
        &out,
        &mut dy,
        Some(InputGrad { grad: &mut grad, accumulate: false }),
        batch,
        &mut cache,
        &mut ctx,
    );
    assert_close("dx", &grad, dx);
    let mut grads = Vec::new();
    layer.params(&mut |p| grads.push(p.grad.to_vec()));
    assert_close("dkernel", &grads[0], dkernel);
    if let Some(dbias) = dbias {
        assert_close("dbias", &grads[1], dbias);
    }
    // predict_one agrees on each sample.
    for s in 0..batch {
        let mut one = vec![0.0; L::OUTPUT_LEN];
        layer.forward_one(&x[s * L::INPUT_LEN..(s + 1) * L::INPUT_LEN], &mut one);
        assert_close("forward_one", &one, &y[s * L::OUTPUT_LEN..(s + 1) * L::OUTPUT_LEN]);
    }
}

#[test]
fn conv2d_matches_keras() {
    use keras::*;
    let cfg = |a| ConvConfig { activation: a, ..ConvConfig::default() };
    check_keras(
        Conv2d::<5, 6, 2, 3, 3, 2, 1, 1, 1, 1, false>::new(cfg(Activation::Tanh), &mut rng(0)),
        CONV2D_VALID_X,
        CONV2D_VALID_KERNEL,
        Some(CONV2D_VALID_BIAS),
        CONV2D_VALID_Y,
        CONV2D_VALID_C,
        CONV2D_VALID_DX,
        CONV2D_VALID_DKERNEL,
        Some(CONV2D_VALID_DBIAS),
    );
    check_keras(
        Conv2d::<4, 5, 2, 4, 3, 3, 1, 1, 1, 1, true>::new(cfg(Activation::Sigmoid), &mut rng(0)),
        CONV2D_SAME_X,
        CONV2D_SAME_KERNEL,
        Some(CONV2D_SAME_BIAS),
        CONV2D_SAME_Y,
        CONV2D_SAME_C,
        CONV2D_SAME_DX,
        CONV2D_SAME_DKERNEL,
        Some(CONV2D_SAME_DBIAS),
    );
    check_keras(
        Conv2d::<7, 6, 3, 3, 4, 2, 2, 2, 1, 1, true>::new(cfg(Activation::Linear), &mut rng(0)),
        CONV2D_SAME_STRIDE_X,
        CONV2D_SAME_STRIDE_KERNEL,
        Some(CONV2D_SAME_STRIDE_BIAS),
        CONV2D_SAME_STRIDE_Y,
        CONV2D_SAME_STRIDE_C,
        CONV2D_SAME_STRIDE_DX,
        CONV2D_SAME_STRIDE_DKERNEL,
        Some(CONV2D_SAME_STRIDE_DBIAS),
    );
    let no_bias = ConvConfig { use_bias: false, ..ConvConfig::default() };
    check_keras(
        Conv2d::<7, 5, 2, 2, 3, 3, 2, 1, 1, 1, false>::new(no_bias, &mut rng(0)),
        CONV2D_VALID_STRIDE_NO_BIAS_X,
        CONV2D_VALID_STRIDE_NO_BIAS_KERNEL,
        None,
        CONV2D_VALID_STRIDE_NO_BIAS_Y,
        CONV2D_VALID_STRIDE_NO_BIAS_C,
        CONV2D_VALID_STRIDE_NO_BIAS_DX,
        CONV2D_VALID_STRIDE_NO_BIAS_DKERNEL,
        None,
    );
    check_keras(
        Conv2d::<5, 5, 2, 2, 2, 2, 1, 1, 2, 2, true>::new(cfg(Activation::Tanh), &mut rng(0)),
        CONV2D_DILATION_X,
        CONV2D_DILATION_KERNEL,
        Some(CONV2D_DILATION_BIAS),
        CONV2D_DILATION_Y,
        CONV2D_DILATION_C,
        CONV2D_DILATION_DX,
        CONV2D_DILATION_DKERNEL,
        Some(CONV2D_DILATION_DBIAS),
    );
}

#[test]
fn conv1d_matches_keras() {
    use keras::*;
    let cfg = |a| ConvConfig { activation: a, ..ConvConfig::default() };
    check_keras(
        Conv1d::<10, 3, 4, 3, 1, 2, false>::new(cfg(Activation::Tanh), &mut rng(0)),
        CONV1D_DILATION_X,
        CONV1D_DILATION_KERNEL,
        Some(CONV1D_DILATION_BIAS),
        CONV1D_DILATION_Y,
        CONV1D_DILATION_C,
        CONV1D_DILATION_DX,
        CONV1D_DILATION_DKERNEL,
        Some(CONV1D_DILATION_DBIAS),
    );
    check_keras(
        Conv1d::<11, 2, 3, 4, 3, 1, true>::new(cfg(Activation::Linear), &mut rng(0)),
        CONV1D_SAME_STRIDE_X,
        CONV1D_SAME_STRIDE_KERNEL,
        Some(CONV1D_SAME_STRIDE_BIAS),
        CONV1D_SAME_STRIDE_Y,
        CONV1D_SAME_STRIDE_C,
        CONV1D_SAME_STRIDE_DX,
        CONV1D_SAME_STRIDE_DKERNEL,
        Some(CONV1D_SAME_STRIDE_DBIAS),
    );
}

kiln::model! {
    struct KerasConvModel {
        input x: [f32; 8, 8, 1];
        let h = Conv2D(4, 3, padding = same, activation = relu)(x);
        let h = Conv2D(3, 3, strides = 2)(h);
        let h = Flatten()(h);
        let p = Dense(2, activation = softmax)(h);
        output p;
    }
}

fn image<const H: usize, const W: usize, const C: usize>(values: &[f64], sample: usize) -> [[[f32; C]; W]; H] {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| std::array::from_fn(|c| values[((sample * H + i) * W + j) * C + c] as f32))
    })
}

#[test]
#[cfg(feature = "keras-weights")]
fn keras_file_loads_and_predicts_as_keras() {
    let path = format!("{}/tests/fixtures/keras_conv/conv_model.keras", env!("CARGO_MANIFEST_DIR"));
    let mut net = KerasConvModel::new(5);
    let before = support::params(&net);
    kiln::io::load_keras_weights(&mut net, &path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_ne!(support::params(&net), before, "nothing was loaded");
    let paths = Network::param_paths(&net);
    assert_eq!(
        paths,
        ["conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias", "dense/kernel", "dense/bias"]
    );
    for s in 0..3 {
        let got = net.predict_one(&image::<8, 8, 1>(keras::MODEL_X, s));
        assert_close("prediction", &got, &keras::MODEL_Y[s * 2..s * 2 + 2]);
    }
    let model = net.compile(Sgd::new(0.1), CategoricalCrossentropy, &[]);
    assert_eq!(model.summary().total_params(), keras::MODEL_PARAMS);
}

kiln::model! {
    struct Mnistish {
        input x: [f32; 28, 28, 1];
        let h = Conv2D(32, 3, activation = relu)(x);
        let h = Conv2D(8, kernel_size = (3, 3), strides = (2, 2), padding = same)(h);
        let f = Flatten()(h);
        let p = Dense(10, activation = softmax)(f);
        output p;
    }
}

#[test]
fn summary_shows_keras_shapes_and_parameter_counts() {
    let model = Mnistish::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    let summary = model.summary();
    let rows: Vec<(&str, &str, &str, usize)> =
        summary.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.as_str(), r.trainable)).collect();
    // Keras: conv2d (None, 26, 26, 32) 320 = 3·3·1·32 + 32;
    // conv2d_1 (None, 13, 13, 8) 2312 = 3·3·32·8 + 8; dense 13530 = 1352·10 + 10.
    assert!(rows.contains(&("conv2d", "Conv2D", "(None, 26, 26, 32)", 320)), "{rows:?}");
    assert!(rows.contains(&("conv2d_1", "Conv2D", "(None, 13, 13, 8)", 2312)), "{rows:?}");
    assert!(rows.contains(&("flatten", "Flatten", "(None, 1352)", 0)), "{rows:?}");
    assert_eq!(summary.total_params(), 320 + 2312 + 13530);
}

/// Seeded pseudo-random images: deterministic, in (−1, 1).
fn images<const H: usize, const W: usize, const C: usize>(n: usize, seed: u64) -> Vec<[[[f32; C]; W]; H]> {
    let values = test_values(n * H * W * C, seed);
    (0..n).map(|s| image::<H, W, C>(&values.iter().map(|&v| v as f64).collect::<Vec<_>>(), s)).collect()
}

#[test]
fn predict_one_equals_predict_and_allocates_nothing() {
    let x = images::<28, 28, 1>(5, 1);
    let mut model = Mnistish::new(3).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
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

kiln::model! {
    struct Small {
        input x: [f32; 6, 6, 1];
        let h = Conv2D(4, 3, activation = tanh)(x);
        let f = Flatten()(h);
        let p = Dense(2, activation = softmax)(f);
        output p;
    }
}

/// One 6×6 grey image.
type Image6 = [[[f32; 1]; 6]; 6];

/// Vertical against horizontal bars, at random positions with noise.
fn bars(n: usize) -> (Vec<Image6>, Vec<u32>) {
    let noise = test_values(n * 36, 9);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for s in 0..n {
        let (label, at) = ((s % 2) as u32, (s / 2) % 6);
        let img: Image6 = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let on = if label == 0 { j == at } else { i == at };
                [if on { 1.0 } else { 0.0 } + 0.2 * noise[s * 36 + i * 6 + j]]
            })
        });
        x.push(img);
        y.push(label);
    }
    (x, y)
}

#[test]
fn a_conv_model_trains_and_steps_allocate_nothing() {
    let (x, y) = bars(48);
    let mut model = Small::new(1).compile(Adam::new(0.02), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    let before = model.evaluate(&x, &y, 16).unwrap().get("loss").unwrap();
    model.train_on_batch(&x[..16], &y[..16]).unwrap();
    let (calls, _) = support::allocations(|| model.train_on_batch(&x[..16], &y[..16]).unwrap());
    assert_eq!(calls, 0, "a training step after the first allocated");
    model.fit(&x, &y).epochs(30).batch_size(16).verbose(0).run().unwrap();
    let logs = model.evaluate(&x, &y, 16).unwrap();
    let (after, accuracy) = (logs.get("loss").unwrap(), logs.get("accuracy").unwrap());
    assert!(after < before / 10.0, "loss {before} → {after}");
    assert_eq!(accuracy, 1.0);
}

#[test]
fn gradients_of_a_conv_model_match_finite_differences() {
    let x = images::<6, 6, 1>(3, 4);
    kiln::testing::check_network_gradients(&mut Small::new(2), &x, 30);
}

kiln::model! {
    struct Sequence {
        let h = Conv1D(6, 3, padding = same, activation = relu, input_shape = (12, 2))(x);
        let h = Conv1D(filters = 4, kernel_size = 3, dilation_rate = 2)(h);
        let f = Flatten()(h);
        let p = Dense(1, activation = sigmoid)(f);
        output p;
    }
}

#[test]
fn weights_round_trip_and_conv1d_with_input_shape() {
    let trained = Sequence::new(1);
    let mut fresh = Sequence::new(2);
    support::assert_weights_round_trip(&trained, &mut fresh);
    let summary = Sequence::new(0).compile(Adam::default(), BinaryCrossentropy, &[]).summary();
    let shapes: Vec<(&str, usize)> = summary.rows.iter().map(|r| (r.output_shape.as_str(), r.trainable)).collect();
    // Keras: (None, 12, 6) 3·2·6 + 6 = 42; (None, 8, 4) 3·6·4 + 4 = 76.
    assert!(shapes.contains(&("(None, 12, 6)", 42)), "{shapes:?}");
    assert!(shapes.contains(&("(None, 8, 4)", 76)), "{shapes:?}");
    let mut model = Mnistish::new(1);
    support::assert_weights_round_trip(&Mnistish::new(7), &mut model);
}

/// Keras's glorot_uniform fans for a conv kernel: fan_in = kh·kw·in,
/// fan_out = kh·kw·filters, so the limit is √(6 / (9·32 + 9·8)) for a 3×3
/// kernel from 32 to 8 channels.
#[test]
fn kernels_start_with_keras_s_glorot_limit() {
    let net = Mnistish::new(0);
    let mut kernels: Vec<(Vec<usize>, f32)> = Vec::new();
    Network::params(&net, &mut |p| {
        if p.name == "kernel" && p.shape.len() == 4 {
            kernels.push((p.shape.clone(), p.value.iter().fold(0.0f32, |m, v| m.max(v.abs()))))
        }
    });
    let limit = |shape: &[usize]| {
        let field = shape[0] * shape[1];
        (6.0 / (field * shape[2] + field * shape[3]) as f32).sqrt()
    };
    for (shape, largest) in kernels {
        let l = limit(&shape);
        // Within the limit, and near it (a uniform sample of 288+ values).
        assert!(largest <= l && largest > 0.95 * l, "{shape:?}: largest |w| {largest}, limit {l}");
    }
}

const STEPS: usize = 12;
const CHANNELS: usize = 2;

kiln::model! {
    struct Constant {
        input x: [f32; STEPS, CHANNELS];
        let a = Conv1D(3, 4, strides = 3, padding = same)(x);
        let b = Conv1D(2, 5)(x);
        let fa = Flatten()(a);
        let fb = Flatten()(b);
        let both = concatenate([fa, fb]);
        output both;
    }
}

/// Input sizes written as constants: the output lengths are computed by
/// rustc from the same rules (same: ⌈12/3⌉ = 4; valid: 12 − 5 + 1 = 8).
#[test]
fn constant_input_sizes() {
    let summary = Constant::new(0).compile(Sgd::new(0.1), MeanSquaredError, &[]).summary();
    let shapes: Vec<&str> = summary.rows.iter().map(|r| r.output_shape.as_str()).collect();
    assert!(shapes.contains(&"(None, 4, 3)") && shapes.contains(&"(None, 8, 2)"), "{shapes:?}");
    let x: [[f32; CHANNELS]; STEPS] = std::array::from_fn(|t| [t as f32 / 12.0, 1.0 - t as f32 / 6.0]);
    assert_eq!(Constant::new(0).predict_one(&x).len(), 4 * 3 + 8 * 2);
}
