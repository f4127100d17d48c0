//! int8 inference (`kiln::quant`):
//! - the `u8 × i8` kernels equal a plain `i32` reference exactly on every
//!   path this CPU runs (paths it lacks are reported as skipped);
//! - `QDense`, `QEmbedding`, `QLstm` equal an f64 evaluation of the
//!   quantized formula, and differ from their f32 layers by no more than an
//!   error bound derived from the scales (stated at each test);
//! - `forward_one` allocates nothing;
//! - quantized weights round-trip through a safetensors file;
//! - accuracy of the quantized digits MLP and text classifier is within
//!   1 point of f32 (`tests/quant_models.rs`).

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

use kiln::activations::Activation;
use kiln::initializers::Initializer;
use kiln::layers::{Dense, DenseConfig, Embedding, Layer, Lstm, RecurrentConfig};
use kiln::quant::{
    gemm_u8i8, ActivationRange, PackedI8, QDense, QEmbedding, QFile, QLstm, QPath, QScratch, QWeights, QuantParams,
};
use kiln::simd::with_isa;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `x · w` in plain `i32`, row-major `[m, n]`.
fn reference(m: usize, k: usize, n: usize, x: &[u8], w: &[i8]) -> Vec<i32> {
    let mut y = vec![0i32; m * n];
    for r in 0..m {
        for c in 0..n {
            y[r * n + c] = (0..k).map(|i| i32::from(x[r * k + i]) * i32::from(w[i * n + c])).sum();
        }
    }
    y
}

fn run(path: QPath, m: usize, x: &[u8], p: &PackedI8) -> Option<Vec<i32>> {
    let n = p.n();
    with_isa(path.isa(), || {
        assert_eq!(QPath::current(), path, "forcing {} selects its path", path.isa());
        let mut y = vec![i32::MIN; m * n];
        let mut seen = 0;
        gemm_u8i8(m, x, p, |r, c0, acc| {
            y[r * n + c0..r * n + c0 + acc.len()].copy_from_slice(acc);
            seen += acc.len();
        });
        assert_eq!(seen, m * n, "every value reaches the sink once");
        y
    })
}

/// Shapes cover partial quads (`k % 4 ≠ 0`), partial blocks (`n % 16 ≠
/// 0`), fewer than 4 blocks, row tails, and the extremes (255 × −128,
/// 255 × 127 in every product) where a saturating `i16` pair sum would fail.
#[test]
fn kernels_equal_the_i32_reference_on_every_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let shapes =
        [(1, 1, 1), (1, 4, 16), (3, 5, 17), (4, 64, 64), (5, 63, 65), (9, 130, 70), (7, 784, 300), (1, 300, 100)];
    let mut ran = Vec::new();
    for path in QPath::ALL {
        if !path.supported() {
            eprintln!("quant kernels: path {path} SKIPPED (this CPU lacks it)");
            continue;
        }
        ran.push(path);
        for &(m, k, n) in &shapes {
            for extreme in [false, true] {
                let x: Vec<u8> = (0..m * k).map(|_| if extreme { 255 } else { rng.gen() }).collect();
                let w: Vec<i8> = (0..k * n)
                    .map(|i| if extreme { [127, -128][(i / n) % 2 * usize::from(k > 1)] } else { rng.gen() })
                    .collect();
                let p = PackedI8::new(&w, k, n).unwrap();
                let got = run(path, m, &x, &p).unwrap();
                assert_eq!(got, reference(m, k, n, &x, &w), "path {path}, m={m} k={k} n={n} extreme={extreme}");
            }
        }
    }
    eprintln!("quant kernels: paths run: {ran:?}");
    assert!(ran.contains(&QPath::Portable));
}

/// Row-major f32 `[k, n]` → the f64 values the quantized layer multiplies.
/// The fused output step (`gemm_u8i8_f32`: `(acc − corr) as f32 · s + c`,
/// ReLU, `=` or `+=`) equals that formula evaluated in the test from the
/// plain `i32` reference, bit for bit, on every path: the AVX-512 path
/// works on registers with masked column tails, the others through memory.
#[test]
fn fused_output_step_equals_its_formula_bit_for_bit_on_every_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (m, k, n) in [(1, 64, 10), (3, 7, 10), (8, 64, 10), (13, 64, 64), (5, 33, 70), (9, 20, 16), (4, 40, 100)] {
        let w: Vec<f32> = (0..k * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let qw = QWeights::quantize(&w, k, n).unwrap();
        let xq: Vec<u8> = (0..m * k).map(|_| rng.gen()).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect();
        let input = QuantParams { scale: 0.02, zero_point: 100 };
        let q: Vec<i8> = qw.packed.unpack();
        let acc = reference(m, k, n, &xq, &q);
        let start: Vec<f32> = (0..m * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        for relu in [false, true] {
            let ep = qw.epilogue(input, Some(&bias), relu);
            for accumulate in [false, true] {
                let want: Vec<u32> = (0..m * n)
                    .map(|i| {
                        let c = i % n;
                        let corr = i32::from(input.zero_point)
                            * q.iter().skip(c).step_by(n).map(|&v| i32::from(v)).sum::<i32>();
                        let d = (acc[i] - corr) as f32 * (input.scale * qw.scales[c]) + bias[c];
                        let d = if relu && d < 0.0 { 0.0 } else { d };
                        (if accumulate { start[i] + d } else { d }).to_bits()
                    })
                    .collect();
                for path in QPath::ALL {
                    let got = with_isa(path.isa(), || {
                        let mut y = start.clone();
                        qw.matmul(m, &xq, &ep, &mut y, n, accumulate);
                        y.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
                    });
                    match got {
                        Some(got) => {
                            assert_eq!(got, want, "{path} m {m} k {k} n {n} relu {relu} accumulate {accumulate}")
                        }
                        None => eprintln!("{path} skipped (not supported by this CPU)"),
                    }
                }
            }
        }
    }
}

fn dequantized(q: &[i8], scales: &[f32], n: usize) -> Vec<f64> {
    q.iter().enumerate().map(|(i, &v)| f64::from(v) * f64::from(scales[i % n])).collect()
}

fn codes(p: QuantParams, x: &[f32]) -> Vec<u8> {
    let mut q = vec![0u8; x.len()];
    p.quantize(x, &mut q);
    q
}

/// Quantizing an in-range value moves it by at most half a step, ties to even.
#[test]
fn activation_quantization_is_round_to_nearest_within_half_a_step() {
    let p = QuantParams::from_range(-1.3, 2.9).unwrap();
    assert_eq!(p.zero_point, ((1.3f32 / p.scale).round()) as u8);
    assert!((p.scale - 4.2 / 255.0).abs() < 1e-7);
    let x: Vec<f32> = (0..1000).map(|i| -1.3 + 4.2 * i as f32 / 999.0).collect();
    for (v, q) in x.iter().zip(codes(p, &x)) {
        assert!((p.dequantize(q) - v).abs() <= p.scale * 0.5 * (1.0 + 1e-4), "{v} → {q}");
    }
    // Saturation outside the range, NaN → 0, exact zero.
    assert_eq!(codes(p, &[-100.0, 100.0, f32::NAN, 0.0]), [0, 255, 0, p.zero_point]);
    // The range always contains 0; a bad range is an error.
    assert_eq!(QuantParams::from_range(1.0, 2.0).unwrap().zero_point, 0);
    assert!(QuantParams::from_range(2.0, 1.0).is_err());
    assert!(QuantParams::from_range(0.0, f32::INFINITY).is_err());
    assert!(ActivationRange::default().params().is_err());
}

fn dense<const I: usize, const O: usize>(seed: u64, activation: Activation) -> Dense<I, O> {
    let config = DenseConfig {
        activation,
        bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
        ..DenseConfig::default()
    };
    Dense::new(config, &mut ChaCha8Rng::seed_from_u64(seed))
}

/// `QDense` on every path:
/// 1. equals `Σ_r x̂_r Ŵ_rc + b_c` in f64 (`x̂ = s(q − z)`, `Ŵ = q s_c`) to
///    f32 rounding (`2⁻²⁰` relative to `Σ|x̂ Ŵ| + |b|`);
/// 2. differs from the f32 `Dense` by at most
///    `Σ_r (|x_r| s_c/2 + |q_rc| s_c s/2)` (plus the same rounding).
#[test]
fn qdense_matches_its_formula_and_stays_within_the_scale_bound_of_f32() {
    const I: usize = 70;
    const O: usize = 37;
    let layer = dense::<I, O>(3, Activation::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let batch = 11;
    let x: Vec<f32> = (0..batch * I).map(|_| rng.gen_range(-2.0f32..3.0)).collect();
    let mut range = ActivationRange::default();
    range.observe(&x);
    let q = QDense::<I, O>::quantize(&layer, range.params().unwrap()).unwrap();
    let (s, w_q) = (f64::from(q.input().scale), q.weights().packed.unpack());
    let w_hat = dequantized(&w_q, &q.weights().scales, O);
    let w = &layer.kernel.value;
    let b = &layer.bias.as_ref().unwrap().value;
    let mut worst_ratio = 0.0f64;
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        with_isa(path.isa(), || {
            let mut y = vec![0.0; batch * O];
            q.forward(&x, &mut y, batch, &mut QScratch::default());
            for r in 0..batch {
                let xs = &x[r * I..(r + 1) * I];
                let xq = codes(q.input(), xs);
                let mut one = [0.0; O];
                q.forward_one(xs, &mut one);
                assert_eq!(one[..], y[r * O..(r + 1) * O], "forward_one = batched forward");
                for c in 0..O {
                    let (mut exact, mut mag, mut f32_ref, mut bound) =
                        (f64::from(b[c]), f64::from(b[c].abs()), 0.0, 0.0);
                    for i in 0..I {
                        let xh = s * (f64::from(xq[i]) - f64::from(q.input().zero_point));
                        exact += xh * w_hat[i * O + c];
                        mag += (xh * w_hat[i * O + c]).abs();
                        f32_ref += f64::from(xs[i]) * f64::from(w[i * O + c]);
                        bound += f64::from(xs[i].abs()) * f64::from(q.weights().scales[c]) / 2.0
                            + f64::from(w_q[i * O + c].unsigned_abs()) * f64::from(q.weights().scales[c]) * s / 2.0;
                    }
                    f32_ref += f64::from(b[c]);
                    let got = f64::from(y[r * O + c]);
                    let rounding = mag * 2f64.powi(-20);
                    assert!((got - exact).abs() <= rounding, "{path} [{r},{c}]: {got} vs formula {exact}");
                    assert!((got - f32_ref).abs() <= bound + rounding, "{path} [{r},{c}]: {got} vs f32 {f32_ref}");
                    worst_ratio = worst_ratio.max((got - f32_ref).abs() / bound);
                }
            }
        });
    }
    eprintln!("QDense: largest error / bound = {worst_ratio:.3}");
    // The quantized layer is not the f32 one (the test sees quantization).
    assert!(worst_ratio > 0.01);
}

/// Every path gives the same bits, with a fused activation.
#[test]
fn qdense_paths_agree_bit_for_bit() {
    const I: usize = 33;
    const O: usize = 80;
    let layer = dense::<I, O>(5, Activation::Softmax);
    let x: Vec<f32> = (0..8 * I).map(|i| (i as f32 * 0.37).sin() * 2.0).collect();
    let q = QDense::<I, O>::quantize(&layer, QuantParams::from_range(-2.0, 2.0).unwrap()).unwrap();
    let outs: Vec<Vec<f32>> = QPath::ALL
        .into_iter()
        .filter_map(|p| {
            with_isa(p.isa(), || {
                let mut y = vec![0.0; 8 * O];
                q.forward(&x, &mut y, 8, &mut QScratch::default());
                y
            })
        })
        .collect();
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
    assert!(outs[0].chunks(O).all(|r| (r.iter().sum::<f32>() - 1.0).abs() < 1e-5));

    // ReLU fused into the kernel's output step equals ReLU after a linear layer.
    let p = QuantParams::from_range(-2.0, 2.0).unwrap();
    let relu = QDense::<I, O>::quantize(&dense::<I, O>(5, Activation::Relu), p).unwrap();
    let linear = QDense::<I, O>::quantize(&dense::<I, O>(5, Activation::Linear), p).unwrap();
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        with_isa(path.isa(), || {
            let (mut a, mut b) = (vec![0.0; 8 * O], vec![0.0; 8 * O]);
            relu.forward(&x, &mut a, 8, &mut QScratch::default());
            linear.forward(&x, &mut b, 8, &mut QScratch::default());
            b.iter_mut().for_each(|v| *v = v.max(0.0));
            assert_eq!(a, b, "{path}");
            assert!(a.contains(&0.0) && a.iter().any(|&v| v > 0.0));
        });
    }
}

/// A table row `r` is `s_r · q`, within `s_r / 2` of the f32 row.
#[test]
fn qembedding_rows_are_within_half_a_step() {
    const V: usize = 9;
    const D: usize = 13;
    const T: usize = 4;
    let e = Embedding::<V, D, T>::new(
        Initializer::RandomUniform { min: -1.0, max: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(6),
    );
    let q = QEmbedding::quantize(&e).unwrap();
    let ids = [8u32, 0, 3, 8];
    let (mut yq, mut yf) = ([0.0; T * D], [0.0; T * D]);
    q.forward_one(&ids, &mut yq);
    e.forward_one(&ids, &mut yf);
    for (t, &id) in ids.iter().enumerate() {
        let row = &e.embeddings.value[id as usize * D..(id as usize + 1) * D];
        let s = row.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        assert_eq!(q.scales[id as usize], s);
        for j in 0..D {
            let (a, b) = (yq[t * D + j], yf[t * D + j]);
            assert_eq!(a, s * (row[j] / s).round());
            assert!((a - b).abs() <= s / 2.0 * (1.0 + 1e-5), "{a} vs {b}");
        }
    }
    assert!(q.check_ids(&[9]).is_err());
    q.forward_one(&[9, 0, 0, 0], &mut yq);
    assert!(yq[..D].iter().all(|&v| v == 0.0));
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One LSTM step's values in f64.
struct Trace {
    i: Vec<f64>,
    f: Vec<f64>,
    g: Vec<f64>,
    o: Vec<f64>,
    c: Vec<f64>,
    h: Vec<f64>,
}

/// An f64 LSTM over `x [T, D]` with kernels `w [D, 4U]`, `r [U, 4U]`;
/// `qx` and `qh` map the input and the previous state before the products.
#[allow(clippy::too_many_arguments)]
fn lstm_f64(
    x: &[f32],
    d: usize,
    u: usize,
    w: &[f64],
    r: &[f64],
    b: &[f32],
    qx: &dyn Fn(&[f32]) -> Vec<f64>,
    qh: &dyn Fn(&[f64]) -> Vec<f64>,
) -> Vec<Trace> {
    let g = 4 * u;
    let (mut h, mut c) = (vec![0.0; u], vec![0.0; u]);
    let mut out = Vec::new();
    for xt in x.chunks_exact(d) {
        let xh = qx(xt);
        let hh = qh(&h);
        let z: Vec<f64> = (0..g)
            .map(|col| {
                f64::from(b[col])
                    + (0..d).map(|k| xh[k] * w[k * g + col]).sum::<f64>()
                    + (0..u).map(|k| hh[k] * r[k * g + col]).sum::<f64>()
            })
            .collect();
        let i: Vec<f64> = z[..u].iter().map(|&v| sigmoid(v)).collect();
        let f: Vec<f64> = z[u..2 * u].iter().map(|&v| sigmoid(v)).collect();
        let gg: Vec<f64> = z[2 * u..3 * u].iter().map(|v| v.tanh()).collect();
        let o: Vec<f64> = z[3 * u..].iter().map(|&v| sigmoid(v)).collect();
        c = (0..u).map(|j| f[j] * c[j] + i[j] * gg[j]).collect();
        h = (0..u).map(|j| o[j] * c[j].tanh()).collect();
        out.push(Trace { i, f, g: gg, o, c: c.clone(), h: h.clone() });
    }
    out
}

/// `QLstm` on every path equals the f64 LSTM of the quantized values
/// (`x̂`, `ĥ = (round(127 h) + 128 − 128)/127`, `Ŵ`, `R̂`) to 1e-5, and the
/// f32 `LSTM` within a bound propagated through time from the scales:
/// - `Δz_c ≤ Σ_k (s_x/2 |Ŵ_kc| + |x_k| s_c/2) + Σ_k (s_h/2 |R̂_kc| + |h̃_k| s'_c/2 + |R_kc| Δh_k)`,
/// - `Δ(i, f, o) ≤ Δz/4` (σ is ¼-Lipschitz), `Δg ≤ Δz` (tanh is 1-Lipschitz),
/// - `Δc ≤ |f̃| Δc₋ + |c₋| Δf + |ĩ| Δg + |g| Δi`, `Δh ≤ |õ| Δc + |tanh c| Δo`
///
/// (tilde: the quantized run's values, plain: the f32 layer's).
#[test]
fn qlstm_matches_its_formula_and_stays_within_the_propagated_bound() {
    const D: usize = 6;
    const U: usize = 20;
    const T: usize = 7;
    let config = RecurrentConfig {
        bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
        ..RecurrentConfig::default()
    };
    let layer = Lstm::<D, U, T, true>::new(config, &mut ChaCha8Rng::seed_from_u64(8));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x: Vec<f32> = (0..T * D).map(|_| rng.gen_range(-1.5f32..1.5)).collect();
    let mut range = ActivationRange::default();
    range.observe(&x);
    let q = QLstm::<D, U, T, true>::quantize(&layer, range.params().unwrap()).unwrap();
    let wv = &layer.weights;
    let b = &wv.bias.as_ref().unwrap().value;
    let to64 = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
    let (w, r) = (to64(&wv.kernel.value), to64(&wv.recurrent_kernel.value));
    let (wq, rq) = (q.kernel().packed.unpack(), q.recurrent_kernel().packed.unpack());
    let (w_hat, r_hat) =
        (dequantized(&wq, &q.kernel().scales, 4 * U), dequantized(&rq, &q.recurrent_kernel().scales, 4 * U));
    let input = q.input();
    let qx = |v: &[f32]| codes(input, v).into_iter().map(|c| f64::from(input.dequantize(c))).collect::<Vec<_>>();
    let qh =
        |v: &[f64]| v.iter().map(|&h| ((h * 127.0).round_ties_even().clamp(-128.0, 127.0)) / 127.0).collect::<Vec<_>>();
    let exact = |v: &[f32]| to64(v);
    let ident = |v: &[f64]| v.to_vec();
    let quant = lstm_f64(&x, D, U, &w_hat, &r_hat, b, &qx, &qh);
    let plain = lstm_f64(&x, D, U, &w, &r, b, &exact, &ident);

    // The propagated bound on |h̃ − h| per step.
    let g = 4 * U;
    let (sx, sh) = (f64::from(input.scale), 1.0 / 127.0);
    let (mut dh, mut dc) = (vec![0.0f64; U], vec![0.0f64; U]);
    let mut bounds = Vec::new();
    for t in 0..T {
        let xt = &x[t * D..(t + 1) * D];
        let dz: Vec<f64> = (0..g)
            .map(|col| {
                let mut e: f64 = (0..D)
                    .map(|k| {
                        sx / 2.0 * w_hat[k * g + col].abs()
                            + f64::from(xt[k].abs()) * f64::from(q.kernel().scales[col]) / 2.0
                    })
                    .sum();
                if t > 0 {
                    let hq = &quant[t - 1].h;
                    e += (0..U)
                        .map(|k| {
                            sh / 2.0 * r_hat[k * g + col].abs()
                                + hq[k].abs() * f64::from(q.recurrent_kernel().scales[col]) / 2.0
                                + r[k * g + col].abs() * dh[k]
                        })
                        .sum::<f64>();
                }
                e
            })
            .collect();
        let (tq, tp) = (&quant[t], &plain[t]);
        for j in 0..U {
            let (di, df, dg, dout) = (dz[j] / 4.0, dz[U + j] / 4.0, dz[2 * U + j], dz[3 * U + j] / 4.0);
            let c_prev = if t > 0 { plain[t - 1].c[j].abs() } else { 0.0 };
            dc[j] = tq.f[j].abs() * dc[j] + c_prev * df + tq.i[j].abs() * dg + tp.g[j].abs() * di;
            dh[j] = tq.o[j].abs() * dc[j] + tp.c[j].tanh().abs() * dout;
        }
        bounds.push(dh.clone());
    }

    let mut f32_out = [0.0; T * U];
    layer.forward_one(&x, &mut f32_out);
    let mut worst_ratio = 0.0f64;
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        with_isa(path.isa(), || {
            let mut y = [0.0; T * U];
            q.forward_one(&x, &mut y);
            for t in 0..T {
                for j in 0..U {
                    let got = f64::from(y[t * U + j]);
                    let (formula, f32_layer) = (quant[t].h[j], f64::from(f32_out[t * U + j]));
                    assert!((got - formula).abs() <= 1e-5, "{path} t={t} j={j}: {got} vs formula {formula}");
                    assert!((f32_layer - plain[t].h[j]).abs() <= 1e-5, "the f64 LSTM is the f32 one");
                    let bound = bounds[t][j] + 2e-5;
                    assert!(
                        (got - f32_layer).abs() <= bound,
                        "{path} t={t} j={j}: {got} vs f32 {f32_layer}, bound {bound}"
                    );
                    worst_ratio = worst_ratio.max((got - f32_layer).abs() / bound);
                }
            }
        });
    }
    eprintln!("QLstm: largest error / propagated bound = {worst_ratio:.3}");
    assert!(worst_ratio > 0.0);

    // `return_sequences = false` returns the last step; the batched call equals forward_one.
    let last = QLstm::<D, U, T, false>::quantize(
        &Lstm::<D, U, T, false>::new(config, &mut ChaCha8Rng::seed_from_u64(8)),
        input,
    )
    .unwrap();
    let mut y = [0.0; 2 * U];
    let x2: Vec<f32> = x.iter().chain(&x).copied().collect();
    last.forward(&x2, &mut y, 2);
    let mut one = [0.0; T * U];
    q.forward_one(&x, &mut one);
    assert_eq!(y[..U], one[(T - 1) * U..]);
    assert_eq!(y[U..], one[(T - 1) * U..]);

    // Unbounded activations are refused.
    let relu = Lstm::<D, U, T, true>::new(
        RecurrentConfig { activation: Activation::Relu, ..config },
        &mut ChaCha8Rng::seed_from_u64(8),
    );
    assert!(QLstm::quantize(&relu, input).is_err());
}

#[test]
fn forward_one_allocates_nothing() {
    let d = QDense::<64, 10>::quantize(&dense::<64, 10>(1, Activation::Softmax), QuantParams::UNIT).unwrap();
    let e =
        QEmbedding::<4, 8, 5>::quantize(&Embedding::new(Initializer::Ones, &mut ChaCha8Rng::seed_from_u64(0))).unwrap();
    let l = QLstm::<8, 16, 5, false>::quantize(
        &Lstm::new(RecurrentConfig::default(), &mut ChaCha8Rng::seed_from_u64(0)),
        QuantParams::UNIT,
    )
    .unwrap();
    for path in QPath::ALL.into_iter().filter(|p| p.supported()) {
        with_isa(path.isa(), || {
            let x = [0.25f32; 64];
            let (mut y, mut emb, mut h) = ([0.0f32; 10], [0.0f32; 40], [0.0f32; 16]);
            let (calls, ()) = support::allocations(|| {
                d.forward_one(&x, &mut y);
                e.forward_one(&[0, 1, 2, 3, 0], &mut emb);
                l.forward_one(&emb, &mut h);
            });
            assert_eq!(calls, 0, "{path}");
            // The batched forward allocates only while its scratch grows.
            let mut scratch = QScratch::default();
            let xb = vec![0.5f32; 64 * 32];
            let mut yb = vec![0.0f32; 10 * 32];
            d.forward(&xb, &mut yb, 32, &mut scratch);
            let (calls, ()) = support::allocations(|| d.forward(&xb, &mut yb, 32, &mut scratch));
            assert_eq!(calls, 0, "{path}");
        });
    }
}

/// Every layer's tensors round-trip through a safetensors file with the
/// documented names, dtypes and shapes; damaged files are typed errors.
#[test]
fn quantized_weights_round_trip_through_safetensors() {
    let d = QDense::<5, 3>::quantize(&dense::<5, 3>(2, Activation::Relu), QuantParams::from_range(-1.0, 4.0).unwrap())
        .unwrap();
    let e = QEmbedding::<4, 6, 2>::quantize(&Embedding::new(
        Initializer::RandomUniform { min: -1.0, max: 1.0 },
        &mut ChaCha8Rng::seed_from_u64(3),
    ))
    .unwrap();
    let l = QLstm::<6, 3, 2, false>::quantize(
        &Lstm::new(RecurrentConfig::default(), &mut ChaCha8Rng::seed_from_u64(4)),
        QuantParams::from_range(-1.0, 1.0).unwrap(),
    )
    .unwrap();
    let mut file = QFile::new();
    d.save("dense", &mut file);
    e.save("embedding", &mut file);
    l.save("lstm", &mut file);
    let dir = std::env::temp_dir().join(format!("kiln_quant_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.int8.safetensors");
    file.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    // The names and dtypes Python's safetensors sees.
    let names = support::safetensors_header(&bytes);
    let expect = |n: &str, d: &str, s: &[usize]| (n.to_string(), d.to_string(), s.to_vec());
    assert_eq!(
        names,
        vec![
            expect("dense/bias", "F32", &[3]),
            expect("dense/input_quant", "F32", &[2]),
            expect("dense/kernel", "I8", &[5, 3]),
            expect("dense/kernel_scale", "F32", &[3]),
            expect("embedding/embeddings", "I8", &[4, 6]),
            expect("embedding/embeddings_scale", "F32", &[4]),
            expect("lstm/lstm_cell/bias", "F32", &[12]),
            expect("lstm/lstm_cell/input_quant", "F32", &[2]),
            expect("lstm/lstm_cell/kernel", "I8", &[6, 12]),
            expect("lstm/lstm_cell/kernel_scale", "F32", &[12]),
            expect("lstm/lstm_cell/recurrent_kernel", "I8", &[3, 12]),
            expect("lstm/lstm_cell/recurrent_kernel_scale", "F32", &[12]),
        ]
    );

    let mut back = QFile::load(&path).unwrap();
    assert_eq!(QDense::<5, 3>::load("dense", &mut back, Activation::Relu).unwrap(), d);
    assert_eq!(QEmbedding::<4, 6, 2>::load("embedding", &mut back).unwrap(), e);
    let l2 = QLstm::<6, 3, 2, false>::load("lstm", &mut back, Activation::Tanh, Activation::Sigmoid).unwrap();
    assert_eq!(l2, l);
    back.expect_no_more().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong shape, missing tensor, wrong format: typed errors naming the tensor.
    let mut f = QFile::from_bytes(&bytes).unwrap();
    let err = QDense::<5, 4>::load("dense", &mut f, Activation::Relu).unwrap_err();
    assert!(err.to_string().contains("dense/kernel"), "{err}");
    let mut f = QFile::from_bytes(&bytes).unwrap();
    assert!(QDense::<5, 3>::load("other", &mut f, Activation::Relu).unwrap_err().to_string().contains("other/kernel"));
    assert!(QFile::from_bytes(&kiln::io::weights_to_bytes(&Tiny::new(0)).unwrap()).is_err());
    assert!(QFile::from_bytes(b"not a file").is_err());
}

kiln::model! {
    struct Tiny {
        input x: [f32; 2];
        let y = Dense(1)(x);
        output y;
    }
}

/// Old code: a calibrated range of ±3e38 gave `scale = inf` (and ±1e-40 a
/// subnormal one) without a word: every value quantized to one code, the
/// outputs were wrong, and the saved file was refused when loaded.
#[test]
fn ranges_whose_step_is_not_a_normal_float_are_refused() {
    for (min, max) in [(-3e38, 3e38), (-f32::MAX, f32::MAX), (-1e-40, 1e-40)] {
        let err = QuantParams::from_range(min, max).unwrap_err();
        assert!(matches!(err, kiln::Error::InvalidArgument { name: "range", .. }), "[{min}, {max}]: {err}");
    }
    assert!(QuantParams::from_range(-1e30, 1e30).unwrap().scale.is_finite());
    assert!(QuantParams::from_range(-1e-30, 1e-30).unwrap().scale.is_normal());
}

/// Old code: `k · n` overflowed (a panic in debug builds; in release a
/// wrapped product that could pass the length check).
#[test]
fn weight_shapes_whose_size_overflows_are_errors() {
    let err = QWeights::quantize(&[], usize::MAX, 2).unwrap_err();
    assert!(matches!(err, kiln::Error::InvalidArgument { name: "w", .. }), "{err}");
    let err = PackedI8::new(&[], 1 << 63, 2).unwrap_err();
    assert!(matches!(err, kiln::Error::InvalidArgument { name: "w" | "k", .. }), "{err}");
}

/// Old code: an int8 file whose bias held NaN or an infinity loaded, and
/// the model predicted garbage (a fused ReLU hid the NaN as 0); f32 weight
/// files refuse such values, so int8 files do too.
#[test]
fn int8_files_holding_non_finite_values_are_refused() {
    let d = QDense::<5, 3>::quantize(&dense::<5, 3>(2, Activation::Relu), QuantParams::from_range(-1.0, 4.0).unwrap())
        .unwrap();
    for value in [f32::NAN, f32::INFINITY] {
        let mut file = QFile::new();
        d.save("dense", &mut file);
        file.put_f32("dense/bias".into(), &[3], &[0.0, value, 0.0]);
        let mut back = QFile::from_bytes(&file.to_bytes().unwrap()).unwrap();
        let err = QDense::<5, 3>::load("dense", &mut back, Activation::Relu).unwrap_err();
        assert!(matches!(err, kiln::io::FileProblem::NonFinite { index: 1, .. }), "{err}");
        assert!(err.to_string().contains("dense/bias"), "{err}");
    }
}
