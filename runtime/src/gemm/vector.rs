//! Vector–matrix kernels for one sample (batch 1), where packing for a
//! blocked product would cost more than the product itself.

/// `y[n] = x[k] · W[k×n]` with `W` row-major: `y` is a sum of rows of `W`.
///
/// With several threads the columns can be split between them (each core
/// streams only its part of `W`) where [`crate::parallel`]'s split policy
/// says it pays: a large enough `W`, and a helper thread awake already
/// (waking one costs more than the product). The result is the same either way.
pub fn vec_mat(x: &[f32], w: &[f32], y: &mut [f32]) {
    assert_eq!(w.len(), x.len() * y.len(), "vec_mat: W is not k×n");
    let parts = crate::parallel::parts_if_awake(crate::parallel::vec_mat_parts(x.len(), y.len()));
    vec_mat_split(parts, crate::parallel::run_unjudged, x, w, y);
}

/// [`vec_mat`] with its columns cut into `parts` parts, split whatever the
/// helpers are doing (measuring where a split pays; tests).
#[cfg(test)]
pub(crate) fn vec_mat_in_parts(parts: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    vec_mat_split(parts, crate::parallel::run, x, w, y);
}

/// `y = x · W` with the columns cut into `parts` parts, run by `run`.
fn vec_mat_split(parts: usize, run: fn(usize, &(dyn Fn(usize) + Sync)), x: &[f32], w: &[f32], y: &mut [f32]) {
    let n = y.len();
    assert_eq!(w.len(), x.len() * n, "vec_mat: W is not k×n");
    let isa = crate::simd::isa();
    if parts == 1 {
        vec_mat_columns(isa, x, w, n, y);
        return;
    }
    let chunk = n.div_ceil(parts).div_ceil(8) * 8;
    let out = super::OutPtr(y.as_mut_ptr());
    run(parts, &|p| {
        let std::ops::Range { start, end } = crate::parallel::part_range(p, chunk, n);
        if start < end {
            // SAFETY: parts write disjoint column ranges of `y`.
            let y = unsafe { std::slice::from_raw_parts_mut(out.ptr().add(start), end - start) };
            vec_mat_columns(isa, x, &w[start..], n, y);
        }
    });
}

/// [`vec_mat`] for a product repeated with the same `W`, such as a
/// recurrent kernel once per step, flipping `reverse` on every call: the
/// columns run in blocks of 128 (one register block of the AVX-512 kernel),
/// forwards or backwards, so the block read last is still in L1 when the
/// next call starts with it. The LSTM's 64×256 recurrent kernel (64 KB,
/// more than a 48 KB L1) then streams half as much from L2 per step. Each
/// column is the same sum in the same order either way (same bits); never
/// split across threads.
pub fn vec_mat_repeated(x: &[f32], w: &[f32], y: &mut [f32], reverse: bool) {
    let n = y.len();
    assert_eq!(w.len(), x.len() * n, "vec_mat_repeated: W is not k×n");
    const BLOCK: usize = 128;
    let blocks = n.div_ceil(BLOCK);
    let isa = crate::simd::isa();
    for b in 0..blocks {
        let b = if reverse { blocks - 1 - b } else { b };
        let cols = b * BLOCK..((b + 1) * BLOCK).min(n);
        vec_mat_columns(isa, x, &w[cols.start..], n, &mut y[cols]);
    }
}

/// `y = x · W[:, c..c + y.len()]` for `w = &W[c..]` whose rows are `ld`
/// apart: one block of columns (one gate of a recurrent kernel, say).
pub fn vec_mat_strided(x: &[f32], w: &[f32], ld: usize, y: &mut [f32]) {
    assert!(x.is_empty() || w.len() >= (x.len() - 1) * ld + y.len(), "vec_mat_strided: W is too short");
    vec_mat_columns(crate::simd::isa(), x, w, ld, y);
}

/// `y = x · W[:, ..y.len()]` where rows of `W` are `ld` apart, on path `isa`.
///
/// With AVX2 or AVX-512, a matrix of up to 1M values (4 MB) is fastest with
/// blocks of `y` held in registers over all rows of `W` (one chain of fused
/// multiply–adds per value, the same under AVX2 and AVX-512, so both give
/// the same bits). The portable path, and larger matrices, stream `W` row by
/// row, four rows folded into `y` per pass (`y` stays in L1), by a plain
/// loop the compiler vectorizes for the path. One sample's product is bound
/// by the bandwidth from the cache that holds `W`.
fn vec_mat_columns(isa: crate::simd::Isa, x: &[f32], w: &[f32], ld: usize, y: &mut [f32]) {
    let cols = y.len();
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::Isa;
        // Measured (benches/kernels.rs, Zen 5): registers win at 300×100
        // (0.8 vs 1.8 µs) and 784×300 (10 vs 12 µs streamed by SSE, 18 by
        // AVX-512); at 2048×2048 (16 MB) both are bound by memory.
        let in_cache = x.len() * ld <= 1 << 20;
        match isa {
            // SAFETY: `isa` is a path the CPU runs; callers checked `w`'s length.
            Isa::Avx512 if in_cache => return unsafe { avx512::vec_mat_registers(x, w, ld, y) },
            // SAFETY: as above.
            Isa::Avx2 if in_cache => return unsafe { avx2::vec_mat_registers(x, w, ld, y) },
            _ => {}
        }
    }
    crate::simd::dispatch_on(isa, || {
        y.fill(0.0);
        let mut i = 0;
        while i + 4 <= x.len() {
            let r0 = &w[i * ld..i * ld + cols];
            let r1 = &w[(i + 1) * ld..(i + 1) * ld + cols];
            let r2 = &w[(i + 2) * ld..(i + 2) * ld + cols];
            let r3 = &w[(i + 3) * ld..(i + 3) * ld + cols];
            let (x0, x1, x2, x3) = (x[i], x[i + 1], x[i + 2], x[i + 3]);
            for (j, out) in y.iter_mut().enumerate() {
                *out += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j];
            }
            i += 4;
        }
        for (r, &xv) in x.iter().enumerate().skip(i) {
            axpy(xv, &w[r * ld..r * ld + cols], y);
        }
    })
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// `y = x · W[:, ..y.len()]` with blocks of up to 64 columns of `y`
    /// (eight 8-float vectors, the last one masked) accumulated in registers
    /// over all rows of `W`. The columns left after the full blocks go in
    /// one pass too, so no block is a single latency-bound chain.
    ///
    /// # Safety
    /// AVX2 and FMA must be present; `w` must hold `(x.len() − 1)·ld + y.len()` values.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn vec_mat_registers(x: &[f32], w: &[f32], ld: usize, y: &mut [f32]) {
        let cols = y.len();
        let mut c = 0;
        while c < cols {
            let width = (cols - c).min(64);
            match width.div_ceil(8) {
                8 => block::<8>(x, w, ld, y, c, width),
                7 => block::<7>(x, w, ld, y, c, width),
                6 => block::<6>(x, w, ld, y, c, width),
                5 => block::<5>(x, w, ld, y, c, width),
                4 => block::<4>(x, w, ld, y, c, width),
                3 => block::<3>(x, w, ld, y, c, width),
                2 => block::<2>(x, w, ld, y, c, width),
                _ => block::<1>(x, w, ld, y, c, width),
            }
            c += width;
        }
    }

    /// Columns `c..c + width` of `y` (`width ≤ 8·V`) in `V` registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const V: usize>(x: &[f32], w: &[f32], ld: usize, y: &mut [f32], c: usize, width: usize) {
        let (wp, yp) = (w.as_ptr(), y.as_mut_ptr());
        // Lane i of the last vector is live when its sign bit is set.
        let tail = width - 8 * (V - 1);
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32), lanes);
        let mut acc = [_mm256_setzero_ps(); V];
        for (i, &xv) in x.iter().enumerate() {
            let (xb, row) = (_mm256_set1_ps(xv), wp.add(i * ld + c));
            for (v, a) in acc.iter_mut().enumerate() {
                let wv =
                    if v + 1 < V { _mm256_loadu_ps(row.add(8 * v)) } else { _mm256_maskload_ps(row.add(8 * v), mask) };
                *a = _mm256_fmadd_ps(xb, wv, *a);
            }
        }
        for (v, a) in acc.iter().enumerate() {
            if v + 1 < V {
                _mm256_storeu_ps(yp.add(c + 8 * v), *a);
            } else {
                _mm256_maskstore_ps(yp.add(c + 8 * v), mask, *a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `y = x · W[:, ..y.len()]` with blocks of up to 128 columns of `y`
    /// (eight 16-float vectors, the last one masked) accumulated in
    /// registers over all rows of `W`; the columns left after the full
    /// blocks go in one pass too.
    ///
    /// # Safety
    /// AVX-512F and FMA must be present; `w` must hold `(x.len() − 1)·ld + y.len()` values.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn vec_mat_registers(x: &[f32], w: &[f32], ld: usize, y: &mut [f32]) {
        let cols = y.len();
        // When every row starts at the same offset in its cache line (`ld`
        // a multiple of 16), the first columns up to a line boundary go in
        // a masked block of their own, so that every other load reads one
        // whole line instead of straddling two: a weight matrix is only as
        // aligned as the allocator made it (16 bytes), and the LSTM's
        // one-sample latency moved by a third with its heap position.
        let mut c = super::super::line_lead(w.as_ptr(), ld, cols);
        if c > 0 {
            block::<1>(x, w, ld, y, 0, c);
        }
        while c < cols {
            let width = (cols - c).min(128);
            match width.div_ceil(16) {
                8 => block::<8>(x, w, ld, y, c, width),
                7 => block::<7>(x, w, ld, y, c, width),
                6 => block::<6>(x, w, ld, y, c, width),
                5 => block::<5>(x, w, ld, y, c, width),
                4 => block::<4>(x, w, ld, y, c, width),
                3 => block::<3>(x, w, ld, y, c, width),
                2 => block::<2>(x, w, ld, y, c, width),
                _ => block::<1>(x, w, ld, y, c, width),
            }
            c += width;
        }
    }

    /// Columns `c..c + width` of `y` (`width ≤ 16·V`) in `V` registers.
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    unsafe fn block<const V: usize>(x: &[f32], w: &[f32], ld: usize, y: &mut [f32], c: usize, width: usize) {
        let (wp, yp) = (w.as_ptr(), y.as_mut_ptr());
        // Masked loads read only the block's columns (never past `w`'s end).
        let mask = ((1u32 << (width - 16 * (V - 1))) - 1) as __mmask16;
        let mut acc = [_mm512_setzero_ps(); V];
        for (i, &xv) in x.iter().enumerate() {
            let (xb, row) = (_mm512_set1_ps(xv), wp.add(i * ld + c));
            for (v, a) in acc.iter_mut().enumerate() {
                let wv = if v + 1 < V {
                    _mm512_loadu_ps(row.add(16 * v))
                } else {
                    _mm512_maskz_loadu_ps(mask, row.add(16 * v))
                };
                *a = _mm512_fmadd_ps(xb, wv, *a);
            }
        }
        for (v, a) in acc.iter().enumerate() {
            if v + 1 < V {
                _mm512_storeu_ps(yp.add(c + 16 * v), *a);
            } else {
                _mm512_mask_storeu_ps(yp.add(c + 16 * v), mask, *a);
            }
        }
    }
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
    // Index loops here and below: a `zip` per row stayed a call of core's
    // `Zip::new` per row without LTO (the repository's release profile;
    // docs/PERFORMANCE.md, "Without LTO").
    #[allow(clippy::needless_range_loop)]
    crate::simd::dispatch(|| {
        let n = v.len();
        for row in m.chunks_exact_mut(n) {
            let row = &mut row[..n];
            for j in 0..n {
                row[j] += v[j];
            }
        }
    })
}

/// `sums[j] += Σ_i m[i][j]` over the rows of the row-major matrix `m`.
pub fn column_sums_into(m: &[f32], sums: &mut [f32]) {
    #[allow(clippy::needless_range_loop)]
    crate::simd::dispatch(|| {
        let n = sums.len();
        for row in m.chunks_exact(n) {
            let row = &row[..n];
            for j in 0..n {
                sums[j] += row[j];
            }
        }
    })
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
