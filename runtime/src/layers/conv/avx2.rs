//! The direct one-sample convolution of the AVX2 path: the AVX-512
//! kernel's scheme (`Conv::forward_one_direct`) in 8-lane registers. A tile
//! of up to `R` consecutive output positions of one row by up to 16
//! filters (`V ≤ 2` 8-lane vectors) is held in `R·V ≤ 12` of the 16
//! registers while the kernel's rows stream past, each input value
//! broadcast once per tile row. (Up to 32 filters, `V ≤ 4` with 3
//! positions a tile, left too few registers for the kernel row: W4's one
//! sample took 141–189 µs against 94–96 µs with `V ≤ 2`, same run.) Each output is one chain of fused multiply–adds over
//! `(kh, kw, c)` in the im2col order, then `+ b`: the values of the other
//! paths, bit for bit.

use super::Conv;
use crate::activations::Activation;
use std::arch::x86_64::*;

/// The arguments of one tile: its first window, the input's row stride,
/// the kernel's first filter, the bias (null: none), the first output,
/// the last vector's lane mask and whether relu is fused.
type TileArgs = (*const f32, usize, *const f32, *const f32, *mut f32, __m256i, bool);

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Conv<RANK, H, W, C, F, KH, KW, SH, SW, DH, DW, SAME>
{
    /// Output positions per tile for `v` vectors of filters: 12
    /// accumulators, leaving registers for the kernel row and a broadcast.
    const fn tile_width_avx2(v: usize) -> usize {
        if v == 2 {
            6
        } else {
            12
        }
    }

    /// `y = conv(x, K) + b` (relu fused) for one sample, as
    /// `forward_one_direct` on the AVX-512 path.
    ///
    /// # Safety
    /// AVX2 and FMA must be present; `x` must hold
    /// `(SPAN_H − 1)·row + SPAN_W·C` floats and `y` `OUTPUT_LEN`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn forward_one_direct_avx2(&self, x: &[f32], row: usize, y: &mut [f32]) {
        let relu = self.activation == Activation::Relu;
        let bias = self.bias.as_ref().map_or(std::ptr::null(), |b| b.value.as_ptr());
        let (xp, kp, yp) = (x.as_ptr(), self.kernel.value.as_ptr(), y.as_mut_ptr());
        let lane_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut j = 0;
        while j < F {
            let v = (F - j).div_ceil(8).min(2);
            let lanes = (F - j).min(16) - 8 * (v - 1);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), lane_index);
            let tiles = Self::OUT_W.div_ceil(Self::tile_width_avx2(v));
            for oh in 0..Self::OUT_H {
                let mut ow = 0;
                for t in 1..=tiles {
                    // Balanced widths, as on the AVX-512 path.
                    let end = (t * Self::OUT_W).div_ceil(tiles);
                    // SAFETY: the tile's windows lie in `x` and its outputs
                    // in `y` (the caller's contract); `j + 8·v` covers at
                    // most `F` filters through `mask`.
                    unsafe {
                        let x0 = xp.add(oh * SH * row + ow * SW * C);
                        let b0 = if bias.is_null() { bias } else { bias.add(j) };
                        let y0 = yp.add((oh * Self::OUT_W + ow) * F + j);
                        let args = (x0, row, kp.add(j), b0, y0, mask, relu);
                        match v {
                            2 => tile_of_width!(tile_avx2, end - ow, 2, [1, 2, 3, 4, 5, 6], args),
                            _ => tile_of_width!(tile_avx2, end - ow, 1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], args),
                        }
                    }
                    ow = end;
                }
            }
            j += 8 * v;
        }
    }

    /// One tile: `R` positions (the first one's window at `x`, the next
    /// ones `SW·C` floats on) by `V` vectors of filters starting at `k`
    /// (the last vector's lanes limited by `mask`), written to `y` with the
    /// bias at `b` (null: none) and a fused relu when `relu`.
    ///
    /// # Safety
    /// As [`Self::forward_one_direct_avx2`], for the tile's windows and outputs.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::needless_range_loop)] // index loops: see `gemm::kernel::avx512::tile_kernel_on`
    unsafe fn tile_avx2<const R: usize, const V: usize>((x, row, k, b, y, mask, relu): TileArgs) {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        // Masked loads and stores only for a partial last vector: a masked
        // store (`vmaskmovps`) is microcoded on AMD's cores (~13 cycles).
        let last_full = _mm256_movemask_ps(_mm256_castsi256_ps(mask)) == 0xff;
        // SAFETY: every read is inside a window of the tile or a kernel row
        // (masked past the last filter); the caller bounds both.
        unsafe {
            for kh in 0..KH {
                for kw in 0..KW {
                    let xs = x.add(kh * DH * row + kw * DW * C);
                    let ks = k.add((kh * KW + kw) * C * F);
                    for c in 0..C {
                        let kc = ks.add(c * F);
                        let mut kv = [_mm256_setzero_ps(); V];
                        for v in 0..V {
                            kv[v] = if v + 1 < V || last_full {
                                _mm256_loadu_ps(kc.add(8 * v))
                            } else {
                                _mm256_maskload_ps(kc.add(8 * v), mask)
                            };
                        }
                        for r in 0..R {
                            let xb = _mm256_broadcast_ss(&*xs.add(r * SW * C + c));
                            for v in 0..V {
                                acc[r][v] = _mm256_fmadd_ps(xb, kv[v], acc[r][v]);
                            }
                        }
                    }
                }
            }
            let zero = _mm256_setzero_ps();
            for r in 0..R {
                for v in 0..V {
                    let full = v + 1 < V || last_full;
                    let mut out = acc[r][v];
                    if !b.is_null() {
                        let bias =
                            if full { _mm256_loadu_ps(b.add(8 * v)) } else { _mm256_maskload_ps(b.add(8 * v), mask) };
                        out = _mm256_add_ps(out, bias);
                    }
                    if relu {
                        // Activation::Relu's `if v < 0 { 0 } else { v }`: NaN and −0 pass.
                        out = _mm256_blendv_ps(out, zero, _mm256_cmp_ps::<_CMP_LT_OQ>(out, zero));
                    }
                    if full {
                        _mm256_storeu_ps(y.add(r * F + 8 * v), out);
                    } else {
                        _mm256_maskstore_ps(y.add(r * F + 8 * v), mask, out);
                    }
                }
            }
        }
    }
}
