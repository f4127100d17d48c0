//! The `MR × NR` micro-kernels: `C_tile (+)= A_panel · B_panel`.

use super::{MR, NR};

/// The output tile of one micro-kernel call.
pub(super) struct Tile {
    /// The tile's top-left element; valid for `rows` rows of `cols` values
    /// `ldc` apart (the caller guarantees it).
    pub c: *mut f32,
    pub ldc: usize,
    /// Valid rows (≤ MR) and columns (≤ NR); the packed panels are zero-padded.
    pub rows: usize,
    pub cols: usize,
    pub accumulate: bool,
}

/// `unsafe` because the tile's pointer must be valid (see [`Tile`]).
pub(super) type Kernel = unsafe fn(usize, &[f32], &[f32], Tile);

/// The fastest kernel this CPU runs, detected once (the check is a cached atomic load).
pub(super) fn select() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return avx2::kernel;
        }
    }
    portable
}

/// Writes an `MR × NR` register tile into `tile`, honouring edges and accumulation.
fn store(acc: &[[f32; NR]; MR], tile: Tile) {
    for (r, acc_row) in acc.iter().enumerate().take(tile.rows) {
        // SAFETY: `Tile` promises `rows × cols` writable values `ldc` apart.
        let row = unsafe { std::slice::from_raw_parts_mut(tile.c.add(r * tile.ldc), tile.cols) };
        if tile.accumulate {
            for (c, a) in row.iter_mut().zip(acc_row) {
                *c += a;
            }
        } else {
            row.copy_from_slice(&acc_row[..tile.cols]);
        }
    }
}

unsafe fn portable(kc: usize, a: &[f32], b: &[f32], tile: Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..kc {
        let a_col = &a[p * MR..(p + 1) * MR];
        let b_row = &b[p * NR..(p + 1) * NR];
        for (acc_row, &av) in acc.iter_mut().zip(a_col) {
            for (c, &bv) in acc_row.iter_mut().zip(b_row) {
                *c = av.mul_add(bv, *c);
            }
        }
    }
    store(&acc, tile);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{store, Tile, MR, NR};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must have AVX2 and FMA, and `tile` must be valid.
    pub(super) unsafe fn kernel(kc: usize, a: &[f32], b: &[f32], tile: Tile) {
        assert!(a.len() >= kc * MR && b.len() >= kc * NR);
        // SAFETY: `select` returns this kernel only when AVX2 and FMA are
        // present, and the assertion above bounds every read of the panels.
        unsafe { kernel_avx2(kc, a.as_ptr(), b.as_ptr(), tile) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel_avx2(kc: usize, mut a: *const f32, mut b: *const f32, tile: Tile) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (r, acc_row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(r));
                acc_row[0] = _mm256_fmadd_ps(av, b0, acc_row[0]);
                acc_row[1] = _mm256_fmadd_ps(av, b1, acc_row[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        if tile.rows == MR && tile.cols == NR {
            for (r, acc_row) in acc.iter().enumerate() {
                let c = tile.c.add(r * tile.ldc);
                let (mut lo, mut hi) = (acc_row[0], acc_row[1]);
                if tile.accumulate {
                    lo = _mm256_add_ps(lo, _mm256_loadu_ps(c));
                    hi = _mm256_add_ps(hi, _mm256_loadu_ps(c.add(8)));
                }
                _mm256_storeu_ps(c, lo);
                _mm256_storeu_ps(c.add(8), hi);
            }
        } else {
            let mut spill = [[0.0f32; NR]; MR];
            for (row, acc_row) in spill.iter_mut().zip(&acc) {
                _mm256_storeu_ps(row.as_mut_ptr(), acc_row[0]);
                _mm256_storeu_ps(row.as_mut_ptr().add(8), acc_row[1]);
            }
            store(&spill, tile);
        }
    }
}
