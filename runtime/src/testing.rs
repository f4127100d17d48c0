//! Gradient checking by central finite differences, for kiln's own tests
//! and for users' custom layers.
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
    layer.params(&mut |p: &Param| analytic.push((p.name, p.grad.clone())));
    for (index, (name, grad)) in analytic.iter().enumerate() {
        let mut values = Vec::new();
        with_param(layer, index, |p| values.clone_from(&p.value));
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
    network.params(&mut |p| analytic.push((p.name, p.value.clone(), p.grad.clone())));
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
/// # Panics
/// With the sample and position that differ by more than `1e-5`.
pub fn assert_one_sample_matches_batch<L: Layer<In = f32>>(layer: &L, batch: usize) {
    let x = test_values(batch * L::INPUT_LEN, 2);
    let mut batched = vec![0.0; batch * L::OUTPUT_LEN];
    layer.forward(&x, &mut batched, batch, &mut L::Cache::default(), &mut Ctx::new(0));
    let mut one = vec![0.0; L::OUTPUT_LEN];
    for s in 0..batch {
        layer.forward_one(&x[s * L::INPUT_LEN..(s + 1) * L::INPUT_LEN], &mut one);
        for (i, (a, b)) in one.iter().zip(&batched[s * L::OUTPUT_LEN..]).enumerate() {
            assert!(
                (a - b).abs() < 1e-5,
                "{}: sample {s}, value {i}: one-sample {a} vs batched {b}",
                layer.keras_type()
            );
        }
    }
}
