//! Every instruction-set path of the kernels (portable, AVX2 + FMA,
//! AVX-512) against a plain f64 reference, on each path this CPU runs; a
//! path the CPU lacks is reported as skipped (run with `--nocapture` to see
//! the report). Paths are forced per thread with `kiln::simd::with_isa`.
//!
//! Two kinds of inputs:
//! - quarter-integers (`k/4`, |k| ≤ 4): every product and partial sum is
//!   exact in f32 at these sizes, so each path must equal the f64 reference
//!   exactly — a wrong index, edge or stride cannot hide in a tolerance;
//! - irregular values, against the f64 reference within the standard
//!   rounding bound `k · ε · Σ|aᵢ bᵢ|` (far below 1% of a typical value).
//!
//! The GEMM paths also agree bit for bit with each other (each value is the
//! same chain of fused multiply–adds), as do the AVX2 and AVX-512 one-sample
//! kernels and the dispatched element-wise loops. Two more checks: a path
//! forced on the caller reaches the helper threads of a split product, and
//! `KILN_ISA` forces each path (in a child process: it is read once).

use kiln::activations::Activation;
use kiln::gemm::{
    add_row_vector, column_sums_into, sgemm, sgemm_fused, small_gemm, vec_mat, vec_mat_repeated, vec_mat_strided,
    Epilogue, Mat, Scratch,
};
use kiln::simd::{with_isa, Isa};

/// Runs `f` on every path the CPU supports; prints the ones it skips.
/// Returns the results of the paths that ran, with their path.
fn on_each_path<R>(what: &str, mut f: impl FnMut(Isa) -> R) -> Vec<(Isa, R)> {
    let mut ran = Vec::new();
    for isa in Isa::ALL {
        match with_isa(isa, || f(isa)) {
            Some(r) => ran.push((isa, r)),
            None => eprintln!("{what}: skipped the {isa} path: this CPU lacks it"),
        }
    }
    assert!(ran.iter().any(|(isa, _)| *isa == Isa::Portable), "the portable path always runs");
    ran
}

/// Quarter-integers in [−1, 1], irregular in `i`.
fn quarters(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7 + seed * 13 + i / 5) % 9) as f32 / 4.0 - 1.0).collect()
}

/// Irregular values in (−1, 1), not exactly representable sums.
fn irregular(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let h = (i as u32 ^ seed.wrapping_mul(0x9e37_79b9)).wrapping_mul(2_654_435_761);
            (h >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0 + 1e-3
        })
        .collect()
}

/// Element `(i, j)` of a view stored row-major (`transposed == false`,
/// `rows × cols`) or as the transpose of a row-major `cols × rows` matrix.
fn at(data: &[f32], transposed: bool, rows: usize, cols: usize, i: usize, j: usize) -> f64 {
    f64::from(if transposed { data[j * rows + i] } else { data[i * cols + j] })
}

/// The f64 product and `Σ|aᵢₚ bₚⱼ|` for each element.
fn reference(m: usize, n: usize, k: usize, a: &[f32], ta: bool, b: &[f32], tb: bool) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let t = at(a, ta, m, k, i, p) * at(b, tb, k, n, p, j);
                c[i * n + j] += t;
                scale[i * n + j] += t.abs();
            }
        }
    }
    (c, scale)
}

/// Asserts every value of `got`, a sum of `k` products rounded in f32,
/// within `k·ε·Σ|aᵢbᵢ|` of the exact sum (`reference`'s two outputs).
fn assert_within_rounding(got: &[f32], (want, scale): (&[f64], &[f64]), k: usize, what: &str) {
    for (j, (&g, (&w, &s))) in got.iter().zip(want.iter().zip(scale)).enumerate() {
        let bound = k as f64 * f64::from(f32::EPSILON) * s;
        assert!((f64::from(g) - w).abs() <= bound, "{what} at {j}: {g} vs {w}");
    }
}

/// Shapes around the edges of both tile shapes (6 × 16 and 8 × 32, with its
/// 4-row and 16-column edge copies), of the row blocks (72 and 144 rows),
/// and of the depth split (256).
const SHAPES: [(usize, usize, usize); 26] = [
    (4, 16, 3),
    (8, 32, 10),
    (9, 33, 4),
    (3, 17, 6),
    (1, 1, 1),
    (1, 300, 784),
    (5, 15, 3),
    (6, 16, 7),
    (7, 17, 9),
    (11, 31, 2),
    (12, 32, 16),
    (13, 33, 5),
    (6, 48, 64),
    (24, 64, 256),
    (25, 47, 257),
    (36, 100, 300),
    (73, 20, 100),
    (145, 33, 40),
    (150, 70, 513),
    (128, 300, 784),
    (3, 1, 50),
    (40, 2, 12),
    (17, 18, 1),
    (12, 16, 33),
    (6, 32, 12),
    (97, 129, 31),
];

/// Runs `sgemm` on a view of `a` and `b` into a C with leading dimension
/// `n + pad`, starting from `init`, and returns the `m × n` part.
#[allow(clippy::too_many_arguments)]
fn run_sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    pad: usize,
    init: f32,
    accumulate: bool,
) -> (Vec<f32>, Vec<f32>) {
    let ldc = n + pad;
    let am = if ta { Mat::transposed(a, m) } else { Mat::row_major(a, k) };
    let bm = if tb { Mat::transposed(b, k) } else { Mat::row_major(b, n) };
    let mut c = vec![init; m * ldc];
    sgemm(m, n, k, am, bm, &mut c, ldc, accumulate, &mut Scratch::default());
    let inner = (0..m).flat_map(|i| c[i * ldc..i * ldc + n].to_vec()).collect();
    let padding = (0..m).flat_map(|i| c[i * ldc + n..(i + 1) * ldc].to_vec()).collect();
    (inner, padding)
}

#[test]
fn sgemm_is_exact_on_quarter_integers_on_every_path() {
    for &(m, n, k) in &SHAPES {
        let (a, b) = (quarters(m * k, 1), quarters(k * n, 2));
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (expected, _) = reference(m, n, k, &a, ta, &b, tb);
            for (accumulate, init) in [(false, 7.5f32), (true, 0.25)] {
                on_each_path("sgemm", |isa| {
                    let (c, padding) = run_sgemm(m, n, k, &a, ta, &b, tb, 3, init, accumulate);
                    let base = if accumulate { f64::from(init) } else { 0.0 };
                    for (idx, (&got, &want)) in c.iter().zip(&expected).enumerate() {
                        assert_eq!(
                            f64::from(got),
                            want + base,
                            "{isa} {m}x{n}x{k} ta={ta} tb={tb} accumulate={accumulate} at ({}, {})",
                            idx / n,
                            idx % n
                        );
                    }
                    assert!(padding.iter().all(|&v| v == init), "{isa} {m}x{n}x{k}: wrote outside C's columns");
                });
            }
        }
    }
}

#[test]
fn sgemm_is_within_the_rounding_bound_and_identical_across_paths() {
    for &(m, n, k) in &SHAPES {
        let (a, b) = (irregular(m * k, 3), irregular(k * n, 4));
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (expected, scale) = reference(m, n, k, &a, ta, &b, tb);
            for accumulate in [false, true] {
                let init = 0.5f32;
                let results = on_each_path("sgemm", |isa| {
                    let (c, _) = run_sgemm(m, n, k, &a, ta, &b, tb, 0, init, accumulate);
                    for (idx, (&got, (&want, &s))) in c.iter().zip(expected.iter().zip(&scale)).enumerate() {
                        let want = if accumulate { want + f64::from(init) } else { want };
                        let bound = (k + 1) as f64 * f64::from(f32::EPSILON) * (s + f64::from(init));
                        let err = (f64::from(got) - want).abs();
                        assert!(
                            err <= bound,
                            "{isa} {m}x{n}x{k} ta={ta} tb={tb} at {idx}: {got} vs {want} (bound {bound})"
                        );
                    }
                    c
                });
                let (first_isa, first) = &results[0];
                for (isa, c) in &results[1..] {
                    assert!(c == first, "{isa} and {first_isa} differ on {m}x{n}x{k} ta={ta} tb={tb}");
                }
            }
        }
    }
}

/// `sgemm_fused`'s bias and relu, fused into the store of the last depth
/// block, against the f64 product + bias then `relu` as
/// `Activation::Relu` defines it (NaN and −0 pass through), exactly on
/// quarter-integers, on every path, with and without accumulation, and in
/// a product split by columns across two threads (each part's bias starts
/// at its first column).
#[test]
fn sgemm_fused_adds_the_bias_and_applies_relu_exactly_on_every_path() {
    let mut shapes = SHAPES.to_vec();
    shapes.push((64, 520, 300)); // splits by columns at 2 threads (10M multiply–adds)
    shapes.push((520, 64, 300)); // splits by rows
    for &(m, n, k) in &shapes {
        let (a, b) = (quarters(m * k, 7), quarters(k * n, 8));
        let mut bias = quarters(n, 9);
        if n > 2 {
            bias[1] = f32::NAN;
        }
        for (ta, tb) in [(false, false), (true, true)] {
            let (product, _) = reference(m, n, k, &a, ta, &b, tb);
            for (relu, with_bias, accumulate, threads) in [
                (true, true, false, 1),
                (true, false, false, 1),
                (false, true, false, 1),
                (true, true, true, 1),
                (true, true, false, 2),
            ] {
                let init = -0.25f32;
                let expected: Vec<f64> = (0..m * n)
                    .map(|idx| {
                        let mut z = product[idx] + if accumulate { f64::from(init) } else { 0.0 };
                        if with_bias {
                            z += f64::from(bias[idx % n]);
                        }
                        if relu && z < 0.0 {
                            0.0
                        } else {
                            z
                        }
                    })
                    .collect();
                kiln::parallel::set_num_threads(threads);
                kiln::parallel::set_split_gate(threads == 1);
                on_each_path("sgemm_fused", |isa| {
                    let ldc = n + 2;
                    let am = if ta { Mat::transposed(&a, m) } else { Mat::row_major(&a, k) };
                    let bm = if tb { Mat::transposed(&b, k) } else { Mat::row_major(&b, n) };
                    let mut c = vec![init; m * ldc];
                    let epilogue = Epilogue { bias: with_bias.then_some(&bias[..]), relu };
                    sgemm_fused(m, n, k, am, bm, &mut c, ldc, accumulate, epilogue, &mut Scratch::default());
                    for i in 0..m {
                        for j in 0..n {
                            let (got, want) = (c[i * ldc + j], expected[i * n + j]);
                            let same = (got.is_nan() && want.is_nan()) || f64::from(got) == want;
                            assert!(same, "{isa} {m}x{n}x{k} ta={ta} relu={relu} bias={with_bias} accumulate={accumulate} threads={threads} at ({i}, {j}): {got} vs {want}");
                        }
                        assert!(
                            c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == init),
                            "{isa}: wrote past C's columns"
                        );
                    }
                });
            }
        }
    }
    kiln::parallel::set_split_gate(true);
    kiln::parallel::set_num_threads(1);
}

/// The fused relu gives the bits of `Activation::Relu` on the sums and the
/// bias of zeros, negatives, positives and NaN, on every path.
#[test]
fn sgemm_fused_relu_gives_the_bits_of_the_activation() {
    // C = A·B + bias with A·B = 0 (B is zero): C = bias.
    let (m, n, k) = (9, 35, 4);
    let a = quarters(m * k, 1);
    let b = vec![0.0f32; k * n];
    let bias: Vec<f32> = (0..n).map(|j| [-0.0, -1.0, 2.0, f32::NAN, 0.0][j % 5]).collect();
    let mut want = vec![0.0f32; m * n];
    for row in want.chunks_mut(n) {
        row.copy_from_slice(&bias);
    }
    // A·B is a sum of ±0 starting from +0, so +0; then + bias.
    for v in want.iter_mut() {
        *v += 0.0;
    }
    Activation::Relu.forward_in_place(&mut want, n);
    on_each_path("sgemm_fused relu", |isa| {
        let mut c = vec![5.0f32; m * n];
        let epilogue = Epilogue { bias: Some(&bias), relu: true };
        sgemm_fused(
            m,
            n,
            k,
            Mat::row_major(&a, k),
            Mat::row_major(&b, n),
            &mut c,
            n,
            false,
            epilogue,
            &mut Scratch::default(),
        );
        for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
            assert!(got.to_bits() == w.to_bits() || (got.is_nan() && w.is_nan()), "{isa} at {idx}: {got:?} vs {w:?}");
        }
    });
}

#[test]
fn sgemm_reads_strided_views() {
    // A is every third row of a [m, 3, k] buffer (the last time step of a
    // sequence, say); B is a column block of a wider matrix.
    let (m, n, k, wide) = (13, 37, 29, 50);
    let a_buf = quarters(m * 3 * k, 5);
    let b_buf = quarters(k * wide, 6);
    let a = Mat::strided(&a_buf[2 * k..], 3 * k, 1);
    let b = Mat::strided(&b_buf[4..], wide, 1);
    let mut expected = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            expected[i * n + j] =
                (0..k).map(|p| f64::from(a_buf[(3 * i + 2) * k + p]) * f64::from(b_buf[p * wide + 4 + j])).sum();
        }
    }
    on_each_path("sgemm strided", |isa| {
        let mut c = vec![0.0f32; m * n];
        sgemm(m, n, k, a, b, &mut c, n, false, &mut Scratch::default());
        for (idx, (&got, &want)) in c.iter().zip(&expected).enumerate() {
            assert_eq!(f64::from(got), want, "{isa} at {idx}");
        }
    });
}

#[test]
fn vec_mat_matches_the_reference_on_every_path() {
    // Up to 1M values take the register paths, larger ones the streamed loop;
    // column counts around 8, 16, 64 and 128.
    for (k, n) in
        [(1, 1), (3, 7), (5, 17), (64, 256), (300, 100), (7, 129), (33, 200), (784, 300), (50, 1500), (1025, 1030)]
    {
        let (x, w) = (quarters(k, 7), quarters(k * n, 8));
        let (expected, _) = reference(1, n, k, &x, false, &w, false);
        let (xi, wi) = (irregular(k, 9), irregular(k * n, 10));
        let (expected_i, scale) = reference(1, n, k, &xi, false, &wi, false);
        let results = on_each_path("vec_mat", |isa| {
            let mut y = vec![f32::NAN; n];
            vec_mat(&x, &w, &mut y);
            for (j, (&got, &want)) in y.iter().zip(&expected).enumerate() {
                assert_eq!(f64::from(got), want, "{isa} vec_mat {k}x{n} at {j}");
            }
            let mut y = vec![f32::NAN; n];
            vec_mat(&xi, &wi, &mut y);
            assert_within_rounding(&y, (&expected_i, &scale), k, &format!("{isa} vec_mat {k}x{n}"));
            y
        });
        // The vector paths (AVX2, AVX-512) compute the same fused chains.
        let vector: Vec<_> = results.iter().filter(|(isa, _)| *isa != Isa::Portable).collect();
        for pair in vector.windows(2) {
            assert!(pair[0].1 == pair[1].1, "{} and {} differ on vec_mat {k}x{n}", pair[0].0, pair[1].0);
        }
    }
}

#[test]
fn vec_mat_strided_reads_one_column_block() {
    // Columns 20..45 of a 30 × 70 matrix (one gate of a recurrent kernel).
    let (k, ld, c0, n) = (30, 70, 20, 25);
    let (x, w) = (quarters(k, 11), quarters(k * ld, 12));
    let expected: Vec<f64> =
        (0..n).map(|j| (0..k).map(|i| f64::from(x[i]) * f64::from(w[i * ld + c0 + j])).sum()).collect();
    on_each_path("vec_mat_strided", |isa| {
        let mut y = vec![f32::NAN; n];
        vec_mat_strided(&x, &w[c0..], ld, &mut y);
        for (j, (&got, &want)) in y.iter().zip(&expected).enumerate() {
            assert_eq!(f64::from(got), want, "{isa} at {j}");
        }
    });
}

#[test]
fn vec_mat_repeated_gives_the_bits_of_vec_mat_in_either_order() {
    // Column counts below, at and around the 128-column blocks.
    for (k, n) in [(64, 256), (3, 7), (33, 200), (17, 385), (64, 128)] {
        let (x, w) = (irregular(k, 13), irregular(k * n, 14));
        let (expected, scale) = reference(1, n, k, &x, false, &w, false);
        on_each_path("vec_mat_repeated", |isa| {
            let mut whole = vec![f32::NAN; n];
            vec_mat(&x, &w, &mut whole);
            for reverse in [false, true] {
                let mut y = vec![f32::NAN; n];
                vec_mat_repeated(&x, &w, &mut y, reverse);
                assert!(y == whole, "{isa} vec_mat_repeated {k}x{n} reverse={reverse} differs from vec_mat");
            }
            assert_within_rounding(&whole, (&expected, &scale), k, &format!("{isa} vec_mat {k}x{n}"));
        });
    }
}

/// The one-sample kernels start rows that share a cache-line offset with a
/// masked block up to the line boundary: every offset of `W` in its line
/// gives the same bits (as the aligned start) and the exact sums.
#[test]
fn vec_mat_and_small_gemm_give_the_same_bits_at_every_alignment() {
    let (m, k, n) = (5, 64, 256);
    let storage = quarters(k * n + 16, 21);
    let (x, a) = (quarters(k, 22), quarters(m * k, 23));
    on_each_path("alignment", |isa| {
        for offset in 0..16 {
            let w = &storage[offset..offset + k * n];
            let mut y = vec![f32::NAN; n];
            vec_mat(&x, w, &mut y);
            let mut c = vec![f32::NAN; m * n];
            small_gemm(m, k, n, &a, w, &mut c);
            for j in 0..n {
                let want: f64 = (0..k).map(|i| f64::from(x[i]) * f64::from(w[i * n + j])).sum();
                assert_eq!(f64::from(y[j]), want, "{isa} vec_mat, W at offset {offset}, column {j}");
                let want: f64 = (0..k).map(|i| f64::from(a[i]) * f64::from(w[i * n + j])).sum();
                assert_eq!(f64::from(c[j]), want, "{isa} small_gemm, B at offset {offset}, column {j}");
            }
            // The same product on a copy at the allocator's alignment.
            let copy: Vec<f32> = w.to_vec();
            let (mut y1, mut c1) = (vec![0.0; n], vec![0.0; m * n]);
            vec_mat(&x, &copy, &mut y1);
            small_gemm(m, k, n, &a, &copy, &mut c1);
            assert!(y == y1 && c == c1, "{isa}: offset {offset} changed the bits");
        }
    });
}

#[test]
fn small_gemm_matches_the_reference_on_every_path() {
    for (m, k, n) in [(16, 64, 256), (5, 7, 21), (1, 3, 16), (3, 1, 17), (9, 33, 47), (4, 10, 32), (2, 5, 70)] {
        let (a, b) = (quarters(m * k, 13), quarters(k * n, 14));
        let (expected, _) = reference(m, n, k, &a, false, &b, false);
        let (ai, bi) = (irregular(m * k, 15), irregular(k * n, 16));
        let (expected_i, scale) = reference(m, n, k, &ai, false, &bi, false);
        let results = on_each_path("small_gemm", |isa| {
            let mut c = vec![f32::NAN; m * n];
            small_gemm(m, k, n, &a, &b, &mut c);
            for (idx, (&got, &want)) in c.iter().zip(&expected).enumerate() {
                assert_eq!(f64::from(got), want, "{isa} small_gemm {m}x{k}x{n} at {idx}");
            }
            small_gemm(m, k, n, &ai, &bi, &mut c);
            assert_within_rounding(&c, (&expected_i, &scale), k, &format!("{isa} small_gemm {m}x{k}x{n}"));
            c
        });
        let vector: Vec<_> = results.iter().filter(|(isa, _)| *isa != Isa::Portable).collect();
        for pair in vector.windows(2) {
            assert!(pair[0].1 == pair[1].1, "{} and {} differ on small_gemm {m}x{k}x{n}", pair[0].0, pair[1].0);
        }
    }
}

#[test]
fn dispatched_elementwise_loops_match_the_reference_on_every_path() {
    // Lengths around 4, 8 and 16 lanes, and one of a layer's size.
    for len in [1, 3, 8, 15, 16, 17, 33, 38_400] {
        let cols = if len == 38_400 { 300 } else { len };
        let x: Vec<f32> = irregular(len, 17).iter().map(|v| v * 6.0).collect();
        let v = irregular(cols, 18);
        let results = on_each_path("element-wise loops", |isa| {
            // Bias: y = x + v per row; column sums: s_j = 1 + Σ_i x_ij.
            let mut biased = x.clone();
            add_row_vector(&mut biased, &v);
            for (idx, &got) in biased.iter().enumerate() {
                assert_eq!(got, x[idx] + v[idx % cols], "{isa} add_row_vector at {idx}");
            }
            let mut sums = vec![1.0f32; cols];
            column_sums_into(&x, &mut sums);
            for (j, &got) in sums.iter().enumerate() {
                let rows = len / cols;
                let want: f64 = 1.0 + (0..rows).map(|i| f64::from(x[i * cols + j])).sum::<f64>();
                let bound = (rows + 1) as f64 * f64::from(f32::EPSILON) * (1.0 + 6.0 * rows as f64);
                assert!((f64::from(got) - want).abs() <= bound, "{isa} column_sums_into at {j}: {got} vs {want}");
            }
            // Activations and their derivatives, against f64 formulas.
            let mut out = Vec::new();
            for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
                let mut y = x.clone();
                act.forward_in_place(&mut y, cols);
                let mut g = v.iter().cycle().take(len).copied().collect::<Vec<_>>();
                act.backward_in_place(&y, &mut g, cols);
                for (idx, (&yv, &gv)) in y.iter().zip(&g).enumerate() {
                    let xv = f64::from(x[idx]);
                    let (want, dy) = match act {
                        Activation::Relu => (xv.max(0.0), if xv > 0.0 { 1.0 } else { 0.0 }),
                        Activation::Sigmoid => {
                            let s = 1.0 / (1.0 + (-xv).exp());
                            (s, s * (1.0 - s))
                        }
                        _ => (xv.tanh(), 1.0 - xv.tanh().powi(2)),
                    };
                    // kiln's vectorizable exp is within a few ulp.
                    assert!((f64::from(yv) - want).abs() <= 1e-6, "{isa} {act:?} at {idx}: {yv} vs {want}");
                    let gw = f64::from(v[idx % cols]) * dy;
                    assert!((f64::from(gv) - gw).abs() <= 2e-6, "{isa} {act:?}' at {idx}: {gv} vs {gw}");
                }
                out.push(y);
                out.push(g);
            }
            (biased, sums, out)
        });
        let (first_isa, first) = &results[0];
        for (isa, r) in &results[1..] {
            assert!(r == first, "{isa} and {first_isa} differ on element-wise loops of length {len}");
        }
    }
}

#[test]
fn reports_the_paths_this_cpu_runs() {
    let runs: Vec<String> = Isa::ALL.iter().filter(|isa| isa.supported()).map(|isa| isa.to_string()).collect();
    let skips: Vec<String> = Isa::ALL.iter().filter(|isa| !isa.supported()).map(|isa| isa.to_string()).collect();
    eprintln!(
        "kernel paths tested: {}; skipped (CPU lacks them): {}",
        runs.join(", "),
        if skips.is_empty() { "none".into() } else { skips.join(", ") }
    );
    assert_eq!(Isa::detected(), *Isa::ALL.iter().rev().find(|isa| isa.supported()).unwrap());
}

#[test]
fn a_forced_path_reaches_the_helper_threads_of_a_split_product() {
    // vec_mat 784×300 splits into two column halves at 2 threads. Under the
    // portable path both halves must stream W without fused multiply–adds;
    // had the helper taken the process-wide (vector, fused) path, its half
    // would round differently from one thread's result.
    let (k, n) = (784, 300);
    let (x, w) = (irregular(k, 21), irregular(k * n, 22));
    let run = |threads: usize, isa: Isa| {
        kiln::parallel::set_num_threads(threads);
        let y = with_isa(isa, || {
            let mut y = vec![0.0f32; n];
            vec_mat(&x, &w, &mut y);
            y
        });
        kiln::parallel::set_num_threads(1);
        y
    };
    for isa in Isa::ALL {
        match (run(1, isa), run(2, isa)) {
            (Some(one), Some(two)) => assert!(one == two, "{isa}: 2 threads differ from 1"),
            _ => eprintln!("forced path across threads: skipped the {isa} path: this CPU lacks it"),
        }
    }
}

/// `KILN_ISA` is read once per process, so each value is checked in a
/// child process running the test below.
#[test]
fn kiln_isa_environment_variable_forces_each_path() {
    for isa in Isa::ALL {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kiln_isa_child_reports_the_forced_path", "--quiet"])
            .env("KILN_ISA", isa.name())
            .env("KILN_ISA_EXPECTED", if isa.supported() { isa } else { Isa::detected() }.name())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "KILN_ISA={isa}: the child saw another path");
    }
}

#[test]
fn kiln_isa_child_reports_the_forced_path() {
    // Does nothing unless started by the test above.
    if let Ok(expected) = std::env::var("KILN_ISA_EXPECTED") {
        assert_eq!(kiln::simd::isa().name(), expected);
    }
}
