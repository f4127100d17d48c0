//! The micro-kernels: `C_tile (+)= A_panel · B_panel` for one `MR × NR`
//! tile of C, with A packed as `MR` values per step of depth and B as `NR`.
//!
//! Every kernel computes each value of the tile as one chain of fused
//! multiply–adds over the depth, in order, then adds it to C when
//! accumulating, so all paths give the same bits.

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
    /// The tile's `cols` bias values, added after the sum (and after C when
    /// accumulating), or null; only on the last block of the depth.
    pub bias: *const f32,
    /// Whether `relu` follows (after the bias); only on the last block.
    pub relu: bool,
}

/// Where a micro-kernel reads A: a packed panel (`MR` values per step of
/// depth, zero-padded), or, on kernels that can ([`avx2::kernel_direct`],
/// [`avx512::kernel_direct`]),
/// A's own rows (`lda` apart, consecutive along the depth).
#[derive(Clone, Copy)]
pub(super) enum APanel {
    Packed(*const f32),
    Rows { a: *const f32, lda: usize },
}

/// `unsafe` because the tile's pointer must be valid (see [`Tile`]) and the
/// CPU must support the kernel's instructions.
pub(super) type Kernel = unsafe fn(usize, &[f32], &[f32], Tile);

/// A kernel that also reads A in place ([`APanel`]); same contract.
pub(super) type DirectKernel = unsafe fn(usize, APanel, &[f32], Tile);

/// A kernel reading A's rows and B's rows in place:
/// `(kc, a, lda, b, ldb, tile)` ([`avx512::kernel_b_rows`]).
pub(super) type BRowsKernel = unsafe fn(usize, *const f32, usize, *const f32, usize, Tile);

/// `relu` as `Activation::Relu` computes it: NaN and −0 pass through.
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// The epilogue on one finished row of C: `+ bias`, then `relu`.
pub(super) fn finish_row(row: &mut [f32], bias: Option<&[f32]>, relu_after: bool) {
    if let Some(bias) = bias {
        row.iter_mut().zip(bias).for_each(|(c, b)| *c += b);
    }
    if relu_after {
        row.iter_mut().for_each(|c| *c = relu(*c));
    }
}

/// Writes an `MR × NR` register tile into `tile`, honouring edges,
/// accumulation and the epilogue.
fn store<const MR: usize, const NR: usize>(acc: &[[f32; NR]; MR], tile: Tile) {
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
        // SAFETY: `Tile` promises `cols` bias values when it has any.
        let bias = (!tile.bias.is_null()).then(|| unsafe { std::slice::from_raw_parts(tile.bias, tile.cols) });
        finish_row(row, bias, tile.relu);
    }
}

/// The portable `6 × 16` kernel (the shape of the AVX2 one, so both use
/// the same packing).
///
/// # Safety
/// `tile` must be valid.
pub(super) unsafe fn portable(kc: usize, a: &[f32], b: &[f32], tile: Tile) {
    const MR: usize = super::MR;
    const NR: usize = super::NR;
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
pub(super) mod avx2 {
    use super::{store, APanel, Tile};
    use std::arch::x86_64::*;

    const MR: usize = super::super::MR;
    const NR: usize = super::super::NR;

    /// The `6 × 16` AVX2 + FMA kernel: twelve 8-float accumulators.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and `tile` must be valid.
    pub(in super::super) unsafe fn kernel(kc: usize, a: &[f32], b: &[f32], tile: Tile) {
        assert!(a.len() >= kc * MR);
        // SAFETY: forwarded; the assertion bounds every read of the packed A.
        unsafe { kernel_direct(kc, APanel::Packed(a.as_ptr()), b, tile) }
    }

    /// [`kernel`] on A packed or read in place (`APanel::Rows`), as the
    /// AVX-512 kernel does: packing A was 14% of MLP inference at batch
    /// 1024 on AVX2 (Zen 3). Each value is the same chain of fused
    /// multiply–adds either way.
    ///
    /// # Safety
    /// As [`kernel`]; a packed panel must hold `kc` steps of `MR` values,
    /// and rows `a + r·lda` for `r < tile.rows` must hold `kc` values each.
    pub(in super::super) unsafe fn kernel_direct(kc: usize, a: APanel, b: &[f32], tile: Tile) {
        assert!(b.len() >= kc * NR);
        // SAFETY: the caller checked the CPU and the A panel; the assertion
        // above bounds every read of B.
        unsafe {
            match a {
                APanel::Packed(a) => kernel_avx2::<false>(kc, a, MR, b.as_ptr(), tile),
                APanel::Rows { a, lda } => kernel_avx2::<true>(kc, a, lda, b.as_ptr(), tile),
            }
        }
    }

    /// The tile, reading A packed `MR` wide (`ROWS = false`, `lda` = MR)
    /// or in place (rows `lda` apart; rows past the tile's read its last
    /// row, never stored).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::needless_range_loop)] // index loops: see avx512's tile_kernel_on
    unsafe fn kernel_avx2<const ROWS: bool>(kc: usize, a: *const f32, lda: usize, mut b: *const f32, tile: Tile) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let mut rows = [a; MR];
        for r in 0..MR {
            rows[r] = if ROWS { a.add(r.min(tile.rows - 1) * lda) } else { a.add(r) };
        }
        let step = if ROWS { 1 } else { lda };
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*rows[r].add(p * step));
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
            b = b.add(NR);
        }
        if tile.rows == MR && tile.cols == NR {
            // A whole tile: the epilogue in registers, in `store`'s order
            // (C + acc, + bias, relu). Through the spill and `store`, the
            // epilogue was 6% of batch-1024 inference on AVX2 (Zen 3).
            let zero = _mm256_setzero_ps();
            let bias = (!tile.bias.is_null()).then(|| (_mm256_loadu_ps(tile.bias), _mm256_loadu_ps(tile.bias.add(8))));
            for (r, acc_row) in acc.iter().enumerate() {
                let c = tile.c.add(r * tile.ldc);
                let (mut lo, mut hi) = (acc_row[0], acc_row[1]);
                if tile.accumulate {
                    lo = _mm256_add_ps(_mm256_loadu_ps(c), lo);
                    hi = _mm256_add_ps(_mm256_loadu_ps(c.add(8)), hi);
                }
                if let Some((b_lo, b_hi)) = bias {
                    lo = _mm256_add_ps(lo, b_lo);
                    hi = _mm256_add_ps(hi, b_hi);
                }
                if tile.relu {
                    // `relu`'s `if x < 0 { 0 } else { x }`: NaN and −0 pass.
                    lo = _mm256_blendv_ps(lo, zero, _mm256_cmp_ps::<_CMP_LT_OQ>(lo, zero));
                    hi = _mm256_blendv_ps(hi, zero, _mm256_cmp_ps::<_CMP_LT_OQ>(hi, zero));
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

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use super::{APanel, Tile};
    use std::arch::x86_64::*;

    /// Rows of the AVX-512 tile on Intel ([`rows`]).
    pub(in super::super) const MR_INTEL: usize = 12;
    /// Rows of the AVX-512 tile elsewhere (AMD Zen 5).
    pub(in super::super) const MR_OTHER: usize = 8;
    /// Columns of the AVX-512 tile: two 16-float vectors.
    pub(in super::super) const NR: usize = 32;

    /// Rows of this CPU's AVX-512 tile: [`MR_INTEL`] on Intel, else
    /// [`MR_OTHER`] (see [`kernel`]). Both tiles give the same bits.
    pub(in super::super) fn rows() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static ROWS: AtomicUsize = AtomicUsize::new(0);
        match ROWS.load(Ordering::Relaxed) {
            0 => {
                // Leaf 0 (the vendor) exists on every x86-64 CPU.
                let id = __cpuid(0);
                let intel = (id.ebx, id.edx, id.ecx) == (0x756e_6547, 0x4965_6e69, 0x6c65_746e); // "GenuineIntel"
                let rows = if intel { MR_INTEL } else { MR_OTHER };
                ROWS.store(rows, Ordering::Relaxed);
                rows
            }
            rows => rows,
        }
    }

    /// The `MR × 32` AVX-512 kernel, `MR` = 8 or 12 by CPU ([`rows`]): 16
    /// or 24 of the 32 zmm registers accumulate (two FMA pipes × 4 cycles of
    /// latency need 8 in flight). On Zen 5, 8 × 32 was fastest or within
    /// noise of 6×32, 12×32, 14×32 and 6×64 on every MLP shape (12 × 32 up
    /// to 8% slower on two); on Intel Xeon (Sapphire Rapids class, L2 2 MB)
    /// 12 × 32 ran 3–6% faster than 8 × 32
    /// on six of the seven shapes of `benches/kernels.rs`, and alike on the
    /// seventh (three interleaved rounds, docs/PERFORMANCE.md). Edge tiles
    /// with at most 16 columns or 6 rows run a narrower copy (on the same
    /// packed panels), so a thin edge costs what it computes.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and FMA, and `tile` must be valid.
    pub(in super::super) unsafe fn kernel<const MR: usize, const HALF: usize>(
        kc: usize,
        a: &[f32],
        b: &[f32],
        tile: Tile,
    ) {
        assert!(a.len() >= kc * MR && b.len() >= kc * NR);
        // SAFETY: the caller checked the CPU, and the assertion above bounds
        // every read of the panels (each variant reads a prefix of each step).
        unsafe { kernel_direct::<MR, HALF>(kc, APanel::Packed(a.as_ptr()), b, tile) }
    }

    /// [`kernel`] on A packed or read in place (`APanel::Rows`): the packing
    /// of A cost ~8% of MLP inference at batch 1024, and a broadcast from A's
    /// own row costs the same load as one from a packed panel. Each value is
    /// the same chain of fused multiply–adds either way.
    ///
    /// # Safety
    /// As [`kernel`]; a packed panel must hold `kc` steps of `MR` values,
    /// and rows `a + r·lda` for `r < tile.rows` must hold `kc` values each.
    pub(in super::super) unsafe fn kernel_direct<const MR: usize, const HALF: usize>(
        kc: usize,
        a: APanel,
        b: &[f32],
        tile: Tile,
    ) {
        assert!(b.len() >= kc * NR);
        let b = b.as_ptr();
        // SAFETY: forwarded from the caller.
        unsafe {
            match (tile.rows > HALF, tile.cols > 16) {
                (true, true) => tile_kernel::<MR, MR, 2>(kc, a, b, tile),
                (true, false) => tile_kernel::<MR, MR, 1>(kc, a, b, tile),
                (false, true) => tile_kernel::<MR, HALF, 2>(kc, a, b, tile),
                (false, false) => tile_kernel::<MR, HALF, 1>(kc, a, b, tile),
            }
        }
    }

    #[inline(always)]
    unsafe fn tile_kernel<const MR: usize, const R: usize, const V: usize>(
        kc: usize,
        a: APanel,
        b: *const f32,
        tile: Tile,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match a {
                APanel::Packed(a) => tile_kernel_on::<R, V, false, false>(kc, a, MR, b, NR, tile),
                APanel::Rows { a, lda } => tile_kernel_on::<R, V, true, false>(kc, a, lda, b, NR, tile),
            }
        }
    }

    /// [`kernel_direct`] with A's rows and B's rows both read in place (B
    /// row-major, rows `ldb` apart; the tile's `cols` columns are read with
    /// masked loads, so nothing past them is touched). For a product whose
    /// B panel serves a single block of A's rows, packing B costs a write
    /// and a read of all of B for one use: 7% of MLP training at batch 128
    /// (its 784 × 300 kernel, packed at every step). Each value is the same
    /// chain of fused multiply–adds as from a packed panel.
    ///
    /// # Safety
    /// As [`kernel_direct`] with `APanel::Rows`; rows `b + p·ldb` for
    /// `p < kc` must hold `tile.cols` values each.
    pub(in super::super) unsafe fn kernel_b_rows<const MR: usize, const HALF: usize>(
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        tile: Tile,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match (tile.rows > HALF, tile.cols > 16) {
                (true, true) => tile_kernel_on::<MR, 2, true, true>(kc, a, lda, b, ldb, tile),
                (true, false) => tile_kernel_on::<MR, 1, true, true>(kc, a, lda, b, ldb, tile),
                (false, true) => tile_kernel_on::<HALF, 2, true, true>(kc, a, lda, b, ldb, tile),
                (false, false) => tile_kernel_on::<HALF, 1, true, true>(kc, a, lda, b, ldb, tile),
            }
        }
    }

    /// The masks of a tile's `cols` columns in its `V` 16-lane vectors.
    #[inline(always)]
    fn column_masks<const V: usize>(cols: usize) -> [__mmask16; V] {
        let mut masks = [0; V];
        for (v, mask) in masks.iter_mut().enumerate() {
            let cols = cols.saturating_sub(16 * v).min(16);
            *mask = ((1u32 << cols) - 1) as __mmask16;
        }
        masks
    }

    /// `R` rows × `V` vectors of the tile, reading A packed `MR` wide
    /// (`ROWS = false`, `lda` = MR) or in place (rows `lda` apart; rows past
    /// the tile's read its last row, never stored), and B packed `NR` wide
    /// (`B_ROWS = false`, `ldb` = NR) or in place (rows `ldb` apart, only the
    /// tile's columns loaded).
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::needless_range_loop)] // see the loops' comment
    unsafe fn tile_kernel_on<const R: usize, const V: usize, const ROWS: bool, const B_ROWS: bool>(
        kc: usize,
        a: *const f32,
        lda: usize,
        mut b: *const f32,
        ldb: usize,
        tile: Tile,
    ) {
        // Fetch the tile of C now, while the sums run: C (1.2 MB for the
        // MLP's 1024×300 layer) is swept once per depth block and does not
        // stay in L2, so an unprefetched load or store of it waits for L3.
        for r in 0..tile.rows.min(R) {
            let c = tile.c.add(r * tile.ldc);
            _mm_prefetch::<_MM_HINT_T0>(c.cast());
            _mm_prefetch::<_MM_HINT_T0>(c.add(tile.cols - 1).cast());
            if V == 2 {
                _mm_prefetch::<_MM_HINT_T0>(c.add(16).cast());
            }
        }
        // Index loops over the fixed-size arrays, not iterator adaptors or
        // `array::from_fn`: core's `Zip::new` and the closures are not
        // `#[inline]`, so in a build without LTO whose codegen units split
        // them from this function (`lto = "off"`, the repository's release
        // profile) they stayed calls in the inner loop: 9 instead of 150
        // GFLOP/s (docs/PERFORMANCE.md, "Without LTO").
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        let mut rows = [a; R];
        for r in 0..R {
            rows[r] = if ROWS { a.add(r.min(tile.rows - 1) * lda) } else { a.add(r) };
        }
        let step = if ROWS { 1 } else { lda };
        // A constant for packed panels, so their loop steps by an immediate.
        let ldb = if B_ROWS { ldb } else { NR };
        // B's rows in place are read only in the tile's columns. (Computed
        // here only then: live across the loop, the masks made the packed
        // kernels 1.5–3% slower.)
        let b_masks = if B_ROWS { column_masks::<V>(tile.cols) } else { [0; V] };
        let mut bv = [_mm512_setzero_ps(); V];
        for p in 0..kc {
            for v in 0..V {
                bv[v] = if B_ROWS {
                    _mm512_maskz_loadu_ps(b_masks[v], b.add(16 * v))
                } else {
                    _mm512_loadu_ps(b.add(16 * v))
                };
            }
            for r in 0..R {
                let av = _mm512_set1_ps(*rows[r].add(p * step));
                for v in 0..V {
                    acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
                }
            }
            b = b.add(ldb);
        }
        // Masked loads and stores write exactly the tile's columns.
        let masks = if B_ROWS { b_masks } else { column_masks::<V>(tile.cols) };
        let mut bias = [_mm512_setzero_ps(); V];
        if !tile.bias.is_null() {
            for v in 0..V {
                bias[v] = _mm512_maskz_loadu_ps(masks[v], tile.bias.add(16 * v));
            }
        }
        let zero = _mm512_setzero_ps();
        for r in 0..tile.rows.min(R) {
            let c = tile.c.add(r * tile.ldc);
            for v in 0..V {
                let p = c.add(16 * v);
                let mask = masks[v];
                let mut x = acc[r][v];
                if tile.accumulate {
                    x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, p));
                }
                if !tile.bias.is_null() {
                    x = _mm512_add_ps(x, bias[v]);
                }
                if tile.relu {
                    // `max(0, x)` returns its second operand for NaN and
                    // for ±0, as `Activation::Relu` does.
                    x = _mm512_max_ps(zero, x);
                }
                _mm512_mask_storeu_ps(p, mask, x);
            }
        }
    }
}
