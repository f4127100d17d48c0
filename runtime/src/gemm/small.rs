//! A product of small row-major matrices without packing (so without a
//! scratch buffer): `C[m×n] = A[m×k]·B[k×n]`, four rows by sixteen
//! columns of C in registers at a time, reading B's rows in place. Used
//! where allocation is not allowed and the operands already sit in cache
//! (one sample's input projection over all time steps).

/// `c = a · b` with `a: m×k`, `b: k×n`, `c: m×n`, all row-major.
///
/// ```
/// let a = [1.0, 2.0, 3.0, 4.0]; // 2×2
/// let b = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]; // 2×3
/// let mut c = [0.0; 6];
/// kiln::gemm::small_gemm(2, 2, 3, &a, &b, &mut c);
/// assert_eq!(c, [1.0, 2.0, 3.0, 3.0, 4.0, 7.0]);
/// ```
pub fn small_gemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "small_gemm: operands too short");
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::Isa;
        match crate::simd::isa() {
            // SAFETY: the CPU runs the path; the assertion bounds every access.
            Isa::Avx512 => return unsafe { avx512::small_gemm(m, k, n, a, b, c) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { avx2::small_gemm(m, k, n, a, b, c) },
            Isa::Portable => {}
        }
    }
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            super::axpy(a[i * k + p], &b[p * n..(p + 1) * n], row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX2 and FMA must be present and the slices as long as `small_gemm` checks.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn small_gemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        let full_cols = n / 16 * 16;
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(4);
            let mut j = 0;
            while j < full_cols {
                let mut acc = [[_mm256_setzero_ps(); 2]; 4];
                for p in 0..k {
                    let b0 = _mm256_loadu_ps(bp.add(p * n + j));
                    let b1 = _mm256_loadu_ps(bp.add(p * n + j + 8));
                    for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                        let av = _mm256_set1_ps(*ap.add((i + r) * k + p));
                        acc_r[0] = _mm256_fmadd_ps(av, b0, acc_r[0]);
                        acc_r[1] = _mm256_fmadd_ps(av, b1, acc_r[1]);
                    }
                }
                for (r, acc_r) in acc.iter().enumerate().take(rows) {
                    _mm256_storeu_ps(cp.add((i + r) * n + j), acc_r[0]);
                    _mm256_storeu_ps(cp.add((i + r) * n + j + 8), acc_r[1]);
                }
                j += 16;
            }
            for r in i..i + rows {
                for col in full_cols..n {
                    let mut s = 0.0f32;
                    for p in 0..k {
                        s = (*ap.add(r * k + p)).mul_add(*bp.add(p * n + col), s);
                    }
                    *cp.add(r * n + col) = s;
                }
            }
            i += rows;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Eight rows (then four, two, one) by 32 columns of C in registers,
    /// then a masked 16-column tail; each value is one chain of fused
    /// multiply–adds over `k`, as in the AVX2 copy (same bits). Eight rows
    /// keep 16 sums in flight (two FMA pipes × 4 cycles need 8) and read
    /// each 32-column strip of B half as often as four did: the LSTM's
    /// 16×64×256 input projection took 5.3 µs with four rows.
    ///
    /// # Safety
    /// AVX-512F and FMA must be present and the slices as long as `small_gemm` checks.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn small_gemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        let mut i = 0;
        while i < m {
            let at = Block { a: ap.add(i * k), b: bp, c: cp.add(i * n), k, n };
            i += match m - i {
                8.. => rows_block::<8>(at),
                4..=7 => rows_block::<4>(at),
                2..=3 => rows_block::<2>(at),
                _ => rows_block::<1>(at),
            };
        }
    }

    /// `R` rows of A, C from their first row; B whole (`k × n`).
    #[derive(Clone, Copy)]
    struct Block {
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        k: usize,
        n: usize,
    }

    /// Every column of `R` rows of C; returns `R`.
    #[inline(always)]
    unsafe fn rows_block<const R: usize>(Block { a, b, c, k, n }: Block) -> usize {
        // As in `vec_mat`: when every row of B starts at the same offset in
        // its cache line, the columns before the first line boundary go
        // first, masked, so the full-width loads below read whole lines.
        let lead = super::super::line_lead(b, n, n);
        let mut j = 0;
        if lead > 0 {
            masked_columns::<R>(Block { a, b, c, k, n }, 0, lead);
            j = lead;
        }
        while j + 32 <= n {
            let mut acc = [[_mm512_setzero_ps(); 2]; R];
            for p in 0..k {
                let b0 = _mm512_loadu_ps(b.add(p * n + j));
                let b1 = _mm512_loadu_ps(b.add(p * n + j + 16));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(r * k + p));
                    acc_r[0] = _mm512_fmadd_ps(av, b0, acc_r[0]);
                    acc_r[1] = _mm512_fmadd_ps(av, b1, acc_r[1]);
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                _mm512_storeu_ps(c.add(r * n + j), acc_r[0]);
                _mm512_storeu_ps(c.add(r * n + j + 16), acc_r[1]);
            }
            j += 32;
        }
        while j < n {
            let width = (n - j).min(16);
            masked_columns::<R>(Block { a, b, c, k, n }, j, width);
            j += width;
        }
        R
    }

    /// Columns `j..j + width` (`width` ≤ 16) of `R` rows of C, masked.
    #[inline(always)]
    unsafe fn masked_columns<const R: usize>(Block { a, b, c, k, n }: Block, j: usize, width: usize) {
        let mask = ((1u32 << width) - 1) as __mmask16;
        let mut acc = [_mm512_setzero_ps(); R];
        for p in 0..k {
            let bv = _mm512_maskz_loadu_ps(mask, b.add(p * n + j));
            for (r, acc_r) in acc.iter_mut().enumerate() {
                *acc_r = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * k + p)), bv, *acc_r);
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(c.add(r * n + j), mask, *acc_r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_product_with_edges() {
        for (m, k, n) in [(16, 64, 256), (5, 7, 21), (1, 3, 16), (3, 1, 17), (15, 9, 80), (11, 5, 48)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 13) % 7) as f32 * 0.5 - 1.5).collect();
            let mut c = vec![9.0; m * n];
            small_gemm(m, k, n, &a, &b, &mut c);
            for i in 0..m {
                for j in 0..n {
                    let e: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                    assert!((c[i * n + j] - e).abs() < 1e-3, "{m}x{k}x{n} at ({i},{j})");
                }
            }
        }
    }
}
