//! Vector–matrix kernels for one sample (batch 1), where packing for a
//! blocked product would cost more than the product itself.

/// `y[n] = x[k] · W[k×n]` with `W` row-major: `y` is a sum of rows of `W`.
pub fn vec_mat(x: &[f32], w: &[f32], y: &mut [f32]) {
    let n = y.len();
    assert_eq!(w.len(), x.len() * n, "vec_mat: W is not k×n");
    y.fill(0.0);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            unsafe { vec_mat_avx2(x, w, y) };
            return;
        }
    }
    vec_mat_rows(x, w, y);
}

#[inline(always)]
fn vec_mat_rows(x: &[f32], w: &[f32], y: &mut [f32]) {
    let n = y.len();
    // Four rows at a time: one pass over `y` per four rows of `W`.
    let mut rows = w.chunks_exact(4 * n);
    let mut xs = x.chunks_exact(4);
    for (block, xv) in (&mut rows).zip(&mut xs) {
        let (r0, rest) = block.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        for j in 0..n {
            y[j] += xv[0] * r0[j] + xv[1] * r1[j] + xv[2] * r2[j] + xv[3] * r3[j];
        }
    }
    for (row, &xv) in rows.remainder().chunks_exact(n).zip(xs.remainder()) {
        axpy(xv, row, y);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vec_mat_avx2(x: &[f32], w: &[f32], y: &mut [f32]) {
    vec_mat_rows(x, w, y)
}

/// `y[k] (+)= W[k×n] · x[n]`, i.e. `x · Wᵀ`: one dot product per row of `W`.
pub fn vec_mat_transposed(x: &[f32], w: &[f32], y: &mut [f32], accumulate: bool) {
    let n = x.len();
    assert_eq!(w.len(), y.len() * n, "vec_mat_transposed: W is not k×n");
    for (out, row) in y.iter_mut().zip(w.chunks_exact(n)) {
        let d = dot(row, x);
        *out = if accumulate { *out + d } else { d };
    }
}

/// `Σ a[i]·b[i]` with eight independent partial sums (vectorizes).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += alpha · x`.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += alpha * xv;
    }
}

/// Adds `v` to every row of the row-major matrix `m` (rows of `v.len()`).
pub fn add_row_vector(m: &mut [f32], v: &[f32]) {
    for row in m.chunks_exact_mut(v.len()) {
        for (x, b) in row.iter_mut().zip(v) {
            *x += b;
        }
    }
}

/// `sums[j] += Σ_i m[i][j]` over the rows of the row-major matrix `m`.
pub fn column_sums_into(m: &[f32], sums: &mut [f32]) {
    for row in m.chunks_exact(sums.len()) {
        for (s, x) in sums.iter_mut().zip(row) {
            *s += x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_mat_and_transpose_match_by_hand() {
        // W = [[1, 2, 3], [4, 5, 6]] (2×3)
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = [0.0; 3];
        vec_mat(&[1.0, -1.0], &w, &mut y);
        assert_eq!(y, [-3.0, -3.0, -3.0]);
        let mut z = [1.0; 2];
        vec_mat_transposed(&[1.0, 0.0, 2.0], &w, &mut z, true);
        assert_eq!(z, [8.0, 17.0]);
    }

    #[test]
    fn vec_mat_handles_row_counts_not_divisible_by_four() {
        let k = 7;
        let n = 5;
        let w: Vec<f32> = (0..k * n).map(|i| i as f32 * 0.5).collect();
        let x: Vec<f32> = (0..k).map(|i| 1.0 - i as f32).collect();
        let mut y = vec![0.0; n];
        vec_mat(&x, &w, &mut y);
        for j in 0..n {
            let expected: f32 = (0..k).map(|i| x[i] * w[i * n + j]).sum();
            assert!((y[j] - expected).abs() < 1e-4);
        }
    }

    #[test]
    fn dot_and_column_sums() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..19).map(|i| (i * i) as f32).sum::<f32>());
        let mut s = [1.0, 1.0];
        column_sums_into(&[1.0, 2.0, 3.0, 4.0], &mut s);
        assert_eq!(s, [5.0, 7.0]);
    }
}
