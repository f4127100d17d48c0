//! Gradient checking, for kiln's own tests and for users' custom layers.
//!
//! Two kinds of check:
//! - [`check_layer_gradients`] / [`check_network_gradients`]: central finite
//!   differences of kiln's own f32 forward pass. Needs nothing but the
//!   layer, but f32 differences are noisy, so its tolerances (2 % relative)
//!   only catch gross mistakes: a backward pass 1.5 % off passes it.
//! - [`compare_layer_with_reference`] / [`compare_network_with_reference`]:
//!   you supply an **f64 re-implementation** of the forward pass (written
//!   from the layer's formulas, not by calling kiln); the check verifies it
//!   computes what kiln's f32 forward computes, takes central differences
//!   of it in f64 as the reference gradient, and compares kiln's analytic
//!   f32 gradients with it tightly enough that a 0.1 % error in any one
//!   gradient tensor fails (see [`REFERENCE_GRADIENT_RTOL`]).
//!
//! The scalar probed is a fixed non-linear reduction of the output,
//! `L = Σ_i (c_i·y_i + ½·y_i²)` with `c_i` varying per element, so the
//! upstream gradient `c_i + y_i` is neither all ones nor symmetric.
//!
//! ```
//! use kiln::layers::{Dense, DenseConfig};
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut dense = Dense::<4, 3>::new(DenseConfig::default(), &mut rng);
//! kiln::testing::check_layer_gradients(&mut dense, 2); // panics on a wrong backward
//! ```

use crate::layers::{Ctx, InputGrad, Layer};
use crate::param::Param;

/// Upstream weights of the probe reduction.
fn probe_weight(i: usize) -> f64 {
    (1.0 + 0.37 * i as f64).sin()
}

/// The probe reduction `L(y)`, accumulated in f64.
pub fn probe_loss(y: &[f32]) -> f64 {
    y.iter().enumerate().map(|(i, &v)| probe_weight(i) * v as f64 + 0.5 * (v as f64).powi(2)).sum()
}

/// `∂L/∂y` of [`probe_loss`].
pub fn probe_grad(y: &[f32], out: &mut [f32]) {
    for (i, (g, &v)) in out.iter_mut().zip(y).enumerate() {
        *g = (probe_weight(i) + v as f64) as f32;
    }
}

/// Compares `analytic` with central differences of `f` around `x`, one
/// coordinate at a time; returns the worst mismatch as an error message.
///
/// A coordinate passes when `|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)`;
/// the defaults used by kiln's tests are `eps = 1e-3` (f32 inputs),
/// `atol = 2e-3`, `rtol = 2e-2`.
pub fn compare_with_finite_differences(
    x: &mut [f32],
    analytic: &[f32],
    mut f: impl FnMut(&[f32]) -> f64,
) -> Result<(), String> {
    const EPS: f32 = 1e-3;
    const ATOL: f64 = 2e-3;
    const RTOL: f64 = 2e-2;
    assert_eq!(x.len(), analytic.len());
    for i in 0..x.len() {
        let orig = x[i];
        x[i] = orig + EPS;
        let up = f(x);
        x[i] = orig - EPS;
        let down = f(x);
        x[i] = orig;
        let h = ((orig + EPS) as f64) - ((orig - EPS) as f64);
        let numeric = (up - down) / h;
        let a = analytic[i] as f64;
        if (a - numeric).abs() > ATOL + RTOL * a.abs().max(numeric.abs()) {
            return Err(format!("coordinate {i}: analytic {a:.6} vs numeric {numeric:.6}"));
        }
    }
    Ok(())
}

/// Checks an element-wise (or row-wise) op: `forward(x, y)` and
/// `backward(y, dy, dx)`; panics with `name` and the mismatch on failure.
pub fn assert_gradient_matches(
    name: &str,
    x: &[f32],
    forward: impl Fn(&[f32], &mut [f32]),
    backward: impl Fn(&[f32], &[f32], &mut [f32]),
) {
    let mut y = vec![0.0; x.len()];
    forward(x, &mut y);
    let mut dy = vec![0.0; y.len()];
    probe_grad(&y, &mut dy);
    let mut dx = vec![0.0; x.len()];
    backward(&y, &dy, &mut dx);
    let mut xs = x.to_vec();
    let mut scratch = vec![0.0; x.len()];
    if let Err(e) = compare_with_finite_differences(&mut xs, &dx, |xv| {
        forward(xv, &mut scratch);
        probe_loss(&scratch)
    }) {
        panic!("gradient check of {name} failed: {e}");
    }
}

/// Deterministic test inputs in (−1, 1).
pub fn test_values(len: usize, seed: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let h = (i.wrapping_add(seed.wrapping_mul(0x9E37_79B9))).wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((h >> 40) as f32 / (1u64 << 24) as f32) * 1.8 - 0.9
        })
        .collect()
}

/// Checks a layer's backward pass against finite differences of its
/// forward pass: the gradient with respect to the input and to every
/// parameter, on `batch` deterministic samples in training mode.
///
/// # Panics
/// With the parameter (or input) and coordinate that disagree.
pub fn check_layer_gradients<L: Layer<In = f32>>(layer: &mut L, batch: usize) {
    let mut ctx = Ctx::new(0);
    ctx.training = true;
    let x = test_values(batch * L::INPUT_LEN, 11);
    let mut cache = L::Cache::default();
    let mut y = vec![0.0; batch * L::OUTPUT_LEN];
    layer.visit_params(&mut |p| p.grad.fill(0.0));
    layer.forward(&x, &mut y, batch, &mut cache, &mut ctx);
    let mut dy = vec![0.0; y.len()];
    probe_grad(&y, &mut dy);
    let mut dx = vec![0.0; x.len()];
    layer.backward(&x, &y, &mut dy, Some(InputGrad { grad: &mut dx, accumulate: false }), batch, &mut cache, &mut ctx);

    let loss_at = |layer: &L, x: &[f32], ctx: &mut Ctx| {
        // Stochastic layers must see the same random stream each time.
        ctx.rng = Ctx::new(0).rng;
        let mut cache = L::Cache::default();
        let mut y = vec![0.0; batch * L::OUTPUT_LEN];
        layer.forward(x, &mut y, batch, &mut cache, ctx);
        probe_loss(&y)
    };
    if let Err(e) = compare_with_finite_differences(&mut x.clone(), &dx, |xv| loss_at(layer, xv, &mut ctx)) {
        panic!("{}: input gradient: {e}", layer.keras_type());
    }

    let mut analytic: Vec<(&'static str, Vec<f32>)> = Vec::new();
    layer.params(&mut |p: &Param| analytic.push((p.name, p.grad.to_vec())));
    for (index, (name, grad)) in analytic.iter().enumerate() {
        let mut values = Vec::new();
        with_param(layer, index, |p| values = p.value.to_vec());
        let result = compare_with_finite_differences(&mut values, grad, |v| {
            with_param(layer, index, |p| p.value.copy_from_slice(v));
            loss_at(layer, &x, &mut ctx)
        });
        if let Err(e) = result {
            panic!("{}: gradient of `{name}`: {e}", layer.keras_type());
        }
    }
}

/// Runs `f` on the `index`-th parameter of `layer` (in `visit_params` order).
fn with_param<L: Layer>(layer: &mut L, index: usize, f: impl FnOnce(&mut Param)) {
    let mut f = Some(f);
    let mut i = 0;
    layer.visit_params(&mut |p| {
        if i == index {
            (f.take().expect("visited twice"))(p);
        }
        i += 1;
    });
}

/// Checks a whole network's generated backward pass: the gradient of
/// [`probe_loss`] of its outputs on `x` with respect to every parameter,
/// against finite differences, at up to `per_param` coordinates of each
/// parameter (spread over the tensor).
///
/// # Panics
/// With the parameter and coordinate that disagree.
pub fn check_network_gradients<N: crate::network::Network>(
    network: &mut N,
    x: <N::Input as crate::sample::SampleSet>::Batch<'_>,
    per_param: usize,
) {
    use crate::sample::SampleSet;
    let batch = N::Input::samples(x).expect("consistent inputs");
    let x = N::Input::flatten(x);
    let outputs = <N::Output as SampleSet>::COUNT;
    let mut ws = network.workspace(batch);
    // The probe loss summed over every output.
    let loss_of = |network: &N, ws: &mut N::Workspace| {
        network.forward(ws, x, batch, false);
        (0..outputs).map(|o| probe_loss(N::output_and_grad(ws, o, batch).0)).sum::<f64>()
    };
    loss_of(network, &mut ws);
    for o in 0..outputs {
        let (y, dy) = N::output_and_grad(&mut ws, o, batch);
        let y = y.to_vec();
        probe_grad(&y, dy);
    }
    network.backward(&mut ws, x, batch);
    let mut analytic: Vec<(&'static str, Vec<f32>, Vec<f32>)> = Vec::new();
    network.params(&mut |p| analytic.push((p.name, p.value.to_vec(), p.grad.to_vec())));
    for (index, (name, values, grad)) in analytic.into_iter().enumerate() {
        let stride = (values.len() / per_param.max(1)).max(1);
        let picked: Vec<usize> = (0..values.len()).step_by(stride).take(per_param).collect();
        let mut probe: Vec<f32> = picked.iter().map(|&i| values[i]).collect();
        let expected: Vec<f32> = picked.iter().map(|&i| grad[i]).collect();
        let result = compare_with_finite_differences(&mut probe, &expected, |v| {
            set_network_param(network, index, &picked, v);
            loss_of(network, &mut ws)
        });
        set_network_param(network, index, &picked, &picked.iter().map(|&i| values[i]).collect::<Vec<_>>());
        if let Err(e) = result {
            panic!("parameter #{index} (`{name}`): {e}");
        }
    }
}

fn set_network_param<N: crate::network::Network>(network: &mut N, index: usize, at: &[usize], values: &[f32]) {
    let mut i = 0;
    network.visit_params(&mut |p| {
        if i == index {
            for (&j, &v) in at.iter().zip(values) {
                p.value[j] = v;
            }
        }
        i += 1;
    });
}

/// Checks that a layer's one-sample forward pass (`forward_one`, the
/// allocation-free path) computes what its batched `forward` computes, on
/// `batch` deterministic samples.
///
/// The two paths may use different kernels (`vec_mat` for one sample,
/// the packed SGEMM for a batch), which sum in a different order, so they
/// may differ by rounding: a value passes when it is within
/// `16 · f32::EPSILON` (2e-6) of the sample's largest output magnitude
/// (at least 1e-3). kiln's layers measure at most 2 ε; a wrong index, gate
/// or bias is off by far more.
///
/// # Panics
/// With the sample and position that differ by more.
pub fn assert_one_sample_matches_batch<L: Layer<In = f32>>(layer: &L, batch: usize) {
    let x = test_values(batch * L::INPUT_LEN, 2);
    let mut batched = vec![0.0; batch * L::OUTPUT_LEN];
    layer.forward(&x, &mut batched, batch, &mut L::Cache::default(), &mut Ctx::new(0));
    let mut one = vec![0.0; L::OUTPUT_LEN];
    for s in 0..batch {
        layer.forward_one(&x[s * L::INPUT_LEN..(s + 1) * L::INPUT_LEN], &mut one);
        let expected = &batched[s * L::OUTPUT_LEN..(s + 1) * L::OUTPUT_LEN];
        let scale = expected.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in one.iter().zip(expected).enumerate() {
            assert!(
                (a - b).abs() <= 16.0 * f32::EPSILON * scale,
                "{}: sample {s}, value {i}: one-sample {a} vs batched {b} (more than 16 ε of {scale})",
                layer.keras_type()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Checks against an f64 reference implementation.
// ---------------------------------------------------------------------------

/// Largest accepted `max|y − y_ref| / max|y_ref|` between kiln's f32
/// forward pass and the f64 reference, per output tensor.
///
/// Why 2e-6: an f32 result carries a rounding error of about one unit in
/// the last place (6e-8 relative) per operation; the layers checked here
/// chain a few dozen operations (a product over ~30 terms, a recurrence of
/// a few steps, kiln's own `exp`/`tanh` approximations, accurate to a few
/// ulps); the worst ratio measured over kiln's layers and test models is
/// 1.6e-7. A reference that implements a different formula (a wrong gate
/// order, a missing bias) is off by 1e-2 or more.
pub const REFERENCE_FORWARD_RTOL: f64 = 2e-6;

/// A gradient tensor passes when `max_i |g_i − r_i| ≤ RTOL · max_i |r_i| + ATOL`,
/// where `g` is kiln's f32 gradient and `r` the f64 reference.
///
/// Why 1e-4: the reference itself (f64 central differences with a step of
/// 1e-6) is accurate to about 1e-9 relative; kiln's f32 gradient carries
/// f32 rounding (a few ulps per term, summed over batch and time steps)
/// plus the upstream gradient computed from kiln's f32 output; the worst
/// ratio measured over every layer and test model in `tests/gradients_f64.rs`
/// is 4.6e-6 (an Embedding → LSTM → GRU → SimpleRNN stack; 2e-6 for a
/// single layer), twenty times below the bound. A backward pass that scales one tensor's gradient by
/// `1 + δ` is off by `δ · max|r|`, so every `δ ≥ 1e-4` is caught — a 0.1 %
/// error by a factor of ten, and `tests/gradients_f64.rs` checks that it is.
/// The error is measured against the tensor's largest entry, not entry by
/// entry, because entries that are sums of cancelling terms (near zero)
/// carry the rounding of the terms, not of the result.
pub const REFERENCE_GRADIENT_RTOL: f64 = 1e-4;

/// Absolute floor of the gradient comparison (see [`REFERENCE_GRADIENT_RTOL`]):
/// lets a tensor whose reference gradient is exactly zero pass when kiln's
/// is zero up to rounding. Probe-loss gradients are of order 0.01–1, so the
/// floor is far below any error that matters.
pub const REFERENCE_GRADIENT_ATOL: f64 = 1e-8;

/// Relative step of the f64 central differences: `h = STEP · max(1, |v|)`.
/// Truncation error (`h²/6` times the third derivative) is about 1e-13,
/// rounding error (`ε·|L|/h`) about 1e-10 times the loss.
const REFERENCE_STEP: f64 = 1e-6;

/// What a comparison with an f64 reference measured (all passed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceReport {
    /// Worst `max|y − y_ref| / max|y_ref|` over the outputs.
    pub forward_error: f64,
    /// For each checked gradient (`"input"`, then parameters by name, in
    /// visiting order): `max|g − g_ref| / max|g_ref|`.
    pub gradient_errors: Vec<(String, f64)>,
}

impl ReferenceReport {
    /// The worst relative gradient error over all tensors.
    pub fn worst_gradient_error(&self) -> f64 {
        self.gradient_errors.iter().map(|(_, e)| *e).fold(0.0, f64::max)
    }
}

/// `Σ_i (c_i·y_i + ½·y_i²)`: [`probe_loss`] of an f64 output.
pub fn probe_loss_f64(y: &[f64]) -> f64 {
    y.iter().enumerate().map(|(i, &v)| probe_weight(i) * v + 0.5 * v * v).sum()
}

/// The gradient of `f` at `at` by central differences in f64, one
/// coordinate at a time (step `1e-6 · max(1, |v|)`).
pub fn reference_gradient(at: &[f64], mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let mut x = at.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = x[i];
            let h = REFERENCE_STEP * orig.abs().max(1.0);
            x[i] = orig + h;
            let up = f(&x);
            x[i] = orig - h;
            let down = f(&x);
            x[i] = orig;
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// Index and size of the largest `|a_i − b_i|` (a NaN counts as largest).
fn worst_difference(a: &[f32], b: &[f64]) -> (usize, f64) {
    let (mut worst, mut at) = (0.0f64, 0);
    for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
        let e = (a as f64 - b).abs();
        if e.is_nan() {
            return (i, f64::NAN);
        }
        if e > worst {
            (worst, at) = (e, i);
        }
    }
    (at, worst)
}

/// Compares kiln's f32 output `y` with the reference's `y_ref`; returns
/// `max|y − y_ref| / max|y_ref|`.
fn forward_error(what: &str, y: &[f32], y_ref: &[f64]) -> Result<f64, String> {
    if y.len() != y_ref.len() {
        return Err(format!("{what}: the reference returned {} values, kiln {}", y_ref.len(), y.len()));
    }
    let scale = y_ref.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    let (at, worst) = worst_difference(y, y_ref);
    let relative = worst / scale;
    if relative.is_nan() || relative > REFERENCE_FORWARD_RTOL {
        return Err(format!(
            "{what}: kiln's forward {} vs reference {} at {at} (relative error {relative:.2e} > \
             {REFERENCE_FORWARD_RTOL:.0e}): the reference does not compute what kiln computes",
            y[at], y_ref[at]
        ));
    }
    Ok(relative)
}

/// Compares kiln's f32 gradient `g` of tensor `what` with the reference `r`;
/// returns `max|g − r| / max|r|`.
fn gradient_error(what: &str, g: &[f32], r: &[f64]) -> Result<f64, String> {
    assert_eq!(g.len(), r.len(), "{what}: gradient lengths");
    let scale = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (at, worst) = worst_difference(g, r);
    if worst.is_nan() || worst > REFERENCE_GRADIENT_RTOL * scale + REFERENCE_GRADIENT_ATOL {
        return Err(format!(
            "gradient of {what}: kiln {:.9} vs f64 reference {:.9} at index {at}; max error {worst:.3e} \
             exceeds {REFERENCE_GRADIENT_RTOL:.0e} × max|reference| ({scale:.3e}) + {REFERENCE_GRADIENT_ATOL:.0e}",
            g[at], r[at]
        ));
    }
    Ok(if scale > 0.0 { worst / scale } else { worst })
}

/// One training-mode forward and backward pass of `layer` on `x` with the
/// probe loss's upstream gradient: returns `(y, dx, parameter gradients)`.
/// Parameter gradients are added to what they hold; `dx` starts from
/// `dx_prefill` and is accumulated into when that is given.
fn layer_pass<L: Layer>(
    layer: &mut L,
    x: &[L::In],
    batch: usize,
    float_input: bool,
    dx_prefill: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
    let mut ctx = Ctx::new(0);
    ctx.training = true;
    let mut cache = L::Cache::default();
    let mut y = vec![0.0; batch * L::OUTPUT_LEN];
    layer.forward(x, &mut y, batch, &mut cache, &mut ctx);
    let mut dy = vec![0.0; y.len()];
    probe_grad(&y, &mut dy);
    let mut dx = match dx_prefill {
        Some(values) => values.to_vec(),
        None => vec![0.0; if float_input { x.len() } else { 0 }],
    };
    let input_grad = float_input.then_some(InputGrad { grad: &mut dx, accumulate: dx_prefill.is_some() });
    layer.backward(x, &y, &mut dy, input_grad, batch, &mut cache, &mut ctx);
    let mut grads = Vec::new();
    layer.params(&mut |p| grads.push(p.grad.to_vec()));
    (y, dx, grads)
}

/// Checks a layer's forward and backward pass against an f64 reference
/// implementation of its forward pass.
///
/// `reference(params, x, batch)` must compute the layer's output for the
/// whole batch (`batch × OUTPUT_LEN` values, row-major like kiln's
/// buffers) from `params` (every parameter of the layer, in
/// [`Layer::visit_params`] order, each row-major in its Keras shape) and
/// `x` (the input as f64; ids are passed as their values). Write it from
/// the layer's formulas, in plain f64 loops, without calling the layer.
///
/// The check, in training mode:
/// 1. kiln's f32 output must equal the reference's to
///    [`REFERENCE_FORWARD_RTOL`] (so the reference is the same function);
/// 2. with `L = probe_loss(y)` (see [`probe_loss`]), kiln's gradient of
///    every parameter and, for `f32` inputs, of the input must equal
///    central differences of `probe_loss_f64(reference(…))` in f64 to
///    [`REFERENCE_GRADIENT_RTOL`];
/// 3. a second backward pass must *add* to the parameter gradients and,
///    with [`InputGrad::accumulate`], to the input gradient (what shared
///    layers and fan-out rely on): the results must be twice the first.
///
/// Returns the measured errors, or a message naming the tensor, index and
/// values that disagree. Leaves the parameters' gradients zeroed.
///
/// ```
/// use kiln::layers::{Dense, DenseConfig};
/// use kiln::testing::{compare_layer_with_reference, test_values};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut dense = Dense::<3, 2>::new(DenseConfig::default(), &mut rng);
/// // y = x·W + b, W row-major [3, 2]
/// let reference = |p: &[Vec<f64>], x: &[f64], batch: usize| {
///     let mut y = vec![0.0; batch * 2];
///     for s in 0..batch {
///         for o in 0..2 {
///             y[s * 2 + o] = p[1][o] + (0..3).map(|i| x[s * 3 + i] * p[0][i * 2 + o]).sum::<f64>();
///         }
///     }
///     y
/// };
/// let report = compare_layer_with_reference(&mut dense, &test_values(4 * 3, 1), 4, reference).unwrap();
/// assert!(report.worst_gradient_error() < 1e-4);
/// ```
pub fn compare_layer_with_reference<L: Layer>(
    layer: &mut L,
    x: &[L::In],
    batch: usize,
    reference: impl Fn(&[Vec<f64>], &[f64], usize) -> Vec<f64>,
) -> Result<ReferenceReport, String> {
    use crate::sample::Element;
    assert_eq!(x.len(), batch * L::INPUT_LEN, "x must hold batch × INPUT_LEN values");
    let float_input = std::any::TypeId::of::<L::In>() == std::any::TypeId::of::<f32>();
    let name = layer.keras_type();
    let x64: Vec<f64> = x.iter().map(|v| v.to_f32() as f64).collect();
    let mut names = Vec::new();
    let mut params64: Vec<Vec<f64>> = Vec::new();
    layer.params(&mut |p| {
        names.push(p.name);
        params64.push(p.value.iter().map(|&v| v as f64).collect());
    });

    layer.visit_params(&mut |p| p.grad.fill(0.0));
    let (y, dx, grads) = layer_pass(layer, x, batch, float_input, None);
    let mut report = ReferenceReport {
        forward_error: forward_error(name, &y, &reference(&params64, &x64, batch))?,
        ..Default::default()
    };

    let loss = |params: &[Vec<f64>], x: &[f64]| probe_loss_f64(&reference(params, x, batch));
    if float_input {
        let r = reference_gradient(&x64, |xv| loss(&params64, xv));
        report.gradient_errors.push(("input".into(), gradient_error(&format!("{name}'s input"), &dx, &r)?));
    }
    for (k, g) in grads.iter().enumerate() {
        let mut params = params64.clone();
        let r = reference_gradient(&params64[k], |v| {
            params[k].copy_from_slice(v);
            loss(&params, &x64)
        });
        let what = format!("{name}'s `{}` (parameter #{k})", names[k]);
        report.gradient_errors.push((names[k].to_string(), gradient_error(&what, g, &r)?));
    }

    // Accumulation: a second pass on top of the first must double everything.
    let (_, dx2, grads2) = layer_pass(layer, x, batch, float_input, float_input.then_some(&dx[..]));
    layer.visit_params(&mut |p| p.grad.fill(0.0));
    let doubled = |first: &[f32], second: &[f32], what: &str| -> Result<(), String> {
        let twice: Vec<f64> = first.iter().map(|&v| 2.0 * v as f64).collect();
        gradient_error(what, second, &twice).map(|_| ()).map_err(|e| format!("accumulation: {e}"))
    };
    if float_input {
        doubled(&dx, &dx2, &format!("{name}'s input with `accumulate: true`"))?;
    }
    for (k, (g, g2)) in grads.iter().zip(&grads2).enumerate() {
        doubled(g, g2, &format!("{name}'s `{}` after a second backward pass", names[k]))?;
    }
    Ok(report)
}

/// Checks a whole network's forward pass and generated backward pass
/// against an f64 reference implementation of the network.
///
/// `reference(params)` must return every output of the network on the
/// batch `x` (one `Vec` per output, `batch × len` values each), computed in
/// f64 from `params` (every parameter in
/// [`crate::network::Network::visit_params`] order; a shared layer's
/// parameters appear once). It captures `x` itself.
///
/// kiln's outputs (training-mode forward) must equal the reference's to
/// [`REFERENCE_FORWARD_RTOL`], and the gradient of the summed
/// [`probe_loss`] of all outputs with respect to **every** coordinate of
/// every parameter must equal f64 central differences of the reference
/// to [`REFERENCE_GRADIENT_RTOL`]. Meant for small models: the reference
/// runs twice per parameter coordinate.
pub fn compare_network_with_reference<N: crate::network::Network>(
    network: &mut N,
    x: <N::Input as crate::sample::SampleSet>::Batch<'_>,
    reference: impl Fn(&[Vec<f64>]) -> Vec<Vec<f64>>,
) -> Result<ReferenceReport, String> {
    use crate::sample::SampleSet;
    let batch = N::Input::samples(x).map_err(|e| format!("inputs: {e}"))?;
    let x = N::Input::flatten(x);
    let outputs = <N::Output as SampleSet>::COUNT;
    let mut ws = network.workspace(batch);
    network.forward(&mut ws, x, batch, true);
    let mut ys = Vec::new();
    for o in 0..outputs {
        let (y, dy) = N::output_and_grad(&mut ws, o, batch);
        ys.push(y.to_vec());
        probe_grad(y, dy);
    }
    network.backward(&mut ws, x, batch);
    let mut names = Vec::new();
    let mut params64: Vec<Vec<f64>> = Vec::new();
    let mut grads = Vec::new();
    network.params(&mut |p| {
        names.push(p.name);
        params64.push(p.value.iter().map(|&v| v as f64).collect());
        grads.push(p.grad.clone());
    });

    let mut report = ReferenceReport::default();
    let y_ref = reference(&params64);
    if y_ref.len() != outputs {
        return Err(format!("the reference returned {} outputs, the network has {outputs}", y_ref.len()));
    }
    for (o, (y, r)) in ys.iter().zip(&y_ref).enumerate() {
        report.forward_error = report.forward_error.max(forward_error(&format!("output {o}"), y, r)?);
    }
    let loss = |params: &[Vec<f64>]| reference(params).iter().map(|y| probe_loss_f64(y)).sum::<f64>();
    for (k, g) in grads.iter().enumerate() {
        let mut params = params64.clone();
        let r = reference_gradient(&params64[k], |v| {
            params[k].copy_from_slice(v);
            loss(&params)
        });
        let what = format!("parameter #{k} (`{}`)", names[k]);
        report.gradient_errors.push((format!("#{k} {}", names[k]), gradient_error(&what, g, &r)?));
    }
    Ok(report)
}
