//! Single-precision matrix products: `C = A·B` or `C += A·B`.
//!
//! A and B are read through arbitrary row/column strides, so the transposes
//! a dense layer's backward pass needs cost nothing; C is row-major. The
//! product follows the Goto/BLIS blocking scheme: B is packed into panels
//! of [`NR`] columns, A into panels of [`MR`] rows, and an `MR × NR`
//! micro-kernel (AVX-512 or AVX2 + FMA when the CPU has it, portable Rust
//! otherwise) keeps the whole output tile in registers. The AVX-512 and
//! AVX2 kernels read a row-major A in place instead of packing it, the
//! AVX-512 kernel also a row-major B that a single block of A's rows uses,
//! and [`sgemm_fused`] adds a bias and applies relu in the tile's last store.
//!
//! The packing buffers live in a caller-owned [`Scratch`], so a product
//! allocates only when the scratch is too small for it, once.
//!
//! ```
//! use kiln::gemm::{sgemm, Mat, Scratch};
//! let a = [1.0, 2.0, 3.0, 4.0]; // 2×2, row-major
//! let b = [5.0, 6.0, 7.0, 8.0];
//! let mut c = [0.0; 4];
//! sgemm(2, 2, 2, Mat::row_major(&a, 2), Mat::row_major(&b, 2), &mut c, 2, false, &mut Scratch::default());
//! assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
//! ```

mod kernel;
mod small;
mod vector;

pub use small::small_gemm;

#[cfg(test)]
pub(crate) use vector::vec_mat_in_parts;
pub use vector::{
    add_row_vector, axpy, column_sums_into, vec_mat, vec_mat_repeated, vec_mat_strided, vec_mat_transposed,
};

/// Rows of A handled by one call of the AVX2 and portable micro-kernels.
pub const MR: usize = 6;
/// Columns of B handled by one call of the AVX2 and portable micro-kernels.
pub const NR: usize = 16;

/// Cache blocking of one micro-kernel's product.
#[derive(Clone, Copy)]
struct Blocking {
    /// Rows of A packed at once (a multiple of the kernel's MR); sized for L2.
    mc: usize,
    /// Columns of B packed at once (a multiple of the kernel's NR); sized for L3.
    nc: usize,
}

/// Depth of one packed block, the same for every kernel (so every path
/// splits sums alike and gives the same bits): a `KC × NR` panel of B
/// stays in L1 (16 KB for NR = 16, 32 KB of Zen 5's 48 KB for NR = 32).
const KC: usize = 256;
/// Blocking of the `6 × 16` kernels.
const BLOCKING_6X16: Blocking = Blocking { mc: 72, nc: 4080 };
/// Blocking of the `12 × 32` AVX-512 kernel (an A block of 144 KB stays in
/// Zen 5's 1 MB L2; 64 to 512 rows measured alike).
#[cfg(target_arch = "x86_64")]
const BLOCKING_AVX512: Blocking = Blocking { mc: 144, nc: 4096 };

/// A read-only matrix view: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        Mat { data, row_stride: cols, col_stride: 1 }
    }

    /// Element `(i, j)` at `data[i * row_stride + j * col_stride]` (a view
    /// of every `T`-th row of a `[batch, T, n]` buffer, say).
    pub fn strided(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Mat { data, row_stride, col_stride }
    }

    /// The transpose of a row-major matrix with `cols` columns: element
    /// `(i, j)` of the view is element `(j, i)` of the stored matrix.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat { data, row_stride: 1, col_stride: cols }
    }

    /// The view starting at element `(i, j)`.
    fn offset(&self, i: usize, j: usize) -> Self {
        Mat { data: &self.data[i * self.row_stride + j * self.col_stride..], ..*self }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }

    fn last_index(&self, rows: usize, cols: usize) -> usize {
        (rows - 1) * self.row_stride + (cols - 1) * self.col_stride
    }
}

/// Packing buffers reused across products, owned by a workspace.
#[derive(Default, Debug)]
pub struct Scratch {
    packed_a: Vec<f32>,
    packed_b: Vec<f32>,
    /// The buffers of the parts of a split product (or recurrence), one per
    /// part index, not per thread: which thread runs a part changes from
    /// call to call (parts are claimed by whichever thread is ready), so
    /// buffers kept per thread grew whenever a helper first ran a part of a
    /// new size, an allocation long after warm-up. Indexed by part, a
    /// buffer's size depends only on the product's shape.
    parts: Vec<Scratch>,
    /// Whether products may reuse the packed B ([`Scratch::reusing_packed_b`]).
    reuse_b: bool,
    /// The B that `packed_b` holds whole, while `reuse_b`.
    packed_b_holds: Option<PackedB>,
}

/// Which B a packed panel holds: its view and the kernel width it was packed for.
#[derive(Clone, Copy, PartialEq, Debug)]
struct PackedB {
    /// The view's data address (an address, not a pointer, so `Scratch` stays `Send`).
    data: usize,
    row_stride: usize,
    col_stride: usize,
    k: usize,
    n: usize,
    nr: usize,
}

impl Scratch {
    /// Runs `f` with products on this scratch (on this thread) reusing a
    /// packed B: a product whose B fits one packed block (`k` ≤ 256, `n` ≤
    /// 4080) packs it once, and the next products with the same B view skip
    /// the packing. For a recurrence, which multiplies by the same kernel at
    /// every step (packing the LSTM's 64×256 kernel was 12% of text training
    /// at batch 64). B's values must not change while `f` runs; on return
    /// (or unwinding) the packed copy is forgotten.
    pub(crate) fn reusing_packed_b<R>(&mut self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        struct Forget<'s>(&'s mut Scratch);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.reuse_b = false;
                self.0.packed_b_holds = None;
            }
        }
        self.reuse_b = true;
        let scratch = Forget(self);
        f(&mut *scratch.0)
    }

    /// One scratch per part of a `parts`-way split, for the parts of one
    /// [`crate::parallel::run`] to take by index (allocates only the first
    /// time a split has this many parts).
    pub(crate) fn for_parts(&mut self, parts: usize) -> crate::parallel::Disjoint<'_, Scratch> {
        if self.parts.len() < parts {
            self.parts.resize_with(parts, Scratch::default);
        }
        crate::parallel::Disjoint::new(&mut self.parts[..parts])
    }

    /// Room for packed panels of `a_len` and `b_len` values, each starting
    /// on a 64-byte boundary (see [`aligned`]).
    fn reserve(&mut self, a_len: usize, b_len: usize) {
        if self.packed_a.len() < a_len + ALIGN_SLACK {
            self.packed_a.resize(a_len + ALIGN_SLACK, 0.0);
        }
        if self.packed_b.len() < b_len + ALIGN_SLACK {
            self.packed_b.resize(b_len + ALIGN_SLACK, 0.0);
            // A moved buffer may start its aligned window elsewhere.
            self.packed_b_holds = None;
        }
    }
}

/// Values a packing buffer keeps beyond its panels, so that they can start
/// on a cache line.
const ALIGN_SLACK: usize = 16;

/// The part of a packing buffer that starts on a 64-byte boundary. A
/// panel's rows are read with 64-byte loads: from a buffer only 16-byte
/// aligned (what the allocator gives a `Vec<f32>`), every load spans two
/// cache lines. On Intel Xeon, aligned panels made the 128×300×784 and
/// 512³ products 4–7% faster (three interleaved rounds, docs/PERFORMANCE.md).
fn aligned(buffer: &mut [f32]) -> &mut [f32] {
    let offset = buffer.as_ptr().align_offset(64).min(ALIGN_SLACK);
    &mut buffer[offset..]
}

/// Columns before the first cache-line boundary of a row-major matrix at
/// `w` whose rows are `ld` values apart, when every row starts at the same
/// offset in its line (`ld` a multiple of 16) and that offset is not 0;
/// else 0. A kernel that runs these columns first, masked, reads the rest
/// of every row in whole 64-byte lines: a `Vec<f32>` is only 16-byte
/// aligned. Never more than `cols` or 15.
#[cfg(target_arch = "x86_64")]
pub(crate) fn line_lead(w: *const f32, ld: usize, cols: usize) -> usize {
    if ld.is_multiple_of(16) {
        w.align_offset(64).min(cols).min(15)
    } else {
        0
    }
}

/// What the product's store does after the sum, fused into the
/// micro-kernel's last write of each tile (one pass over C instead of three).
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// `n` values added to every row of C (a dense layer's bias).
    pub bias: Option<&'a [f32]>,
    /// `relu` after the bias, as `Activation::Relu` computes it.
    pub relu: bool,
}

impl Epilogue<'_> {
    /// No bias, no activation: the plain product.
    pub const NONE: Epilogue<'static> = Epilogue { bias: None, relu: false };
}

/// `C[m×n] = A[m×k]·B[k×n]`, or `C += A·B` when `accumulate` is set.
///
/// `c` is row-major with leading dimension `ldc`.
///
/// # Panics
/// If a view or `c` is too short for the given dimensions (a caller bug:
/// kiln's layers size every buffer from static shapes).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    scratch: &mut Scratch,
) {
    sgemm_fused(m, n, k, a, b, c, ldc, accumulate, Epilogue::NONE, scratch);
}

/// [`sgemm`] followed by `epilogue` on every value of C: `C = relu(A·B +
/// bias)` (or `relu(C + A·B + bias)` when accumulating), with the bits of
/// the product, then `add_row_vector`, then `Activation::Relu`.
///
/// # Panics
/// As [`sgemm`], and if the bias holds fewer than `n` values.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_fused(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    epilogue: Epilogue<'_>,
    scratch: &mut Scratch,
) {
    if let Some(bias) = epilogue.bias {
        assert!(bias.len() >= n, "sgemm: the bias holds fewer than n values");
    }
    if !check_operands(m, n, k, &a, &b, c, ldc, accumulate) {
        if k == 0 && m > 0 && n > 0 {
            // No product to fuse into: C (zeroed unless accumulating), then the epilogue.
            for row in c.chunks_mut(ldc).take(m) {
                kernel::finish_row(&mut row[..n], epilogue.bias, epilogue.relu);
            }
        }
        return;
    }
    let mut parts = crate::parallel::gemm_parts(m, n, k);
    if parts > 1 {
        // Whether this product splits now depends on the machine's load and
        // how the last splits went (`parallel`'s gate); which buffers and
        // helper threads it needs must not, or a product first run the
        // other way would allocate after warm-up.
        reserve_split(parts, m, n, k, scratch);
        crate::parallel::prepare(parts.min(max_parts(m, n)));
        if !crate::parallel::split_now() {
            parts = 1;
        }
    }
    // SAFETY: `check_operands` bounded all three operands.
    unsafe { sgemm_checked(parts, m, n, k, a, b, c, ldc, accumulate, epilogue, scratch) }
}

/// Sizes `scratch` for an `m×n×k` product run whole and run in `parts`
/// parts (each part's share, as `sgemm_checked` cuts it).
fn reserve_split(parts: usize, m: usize, n: usize, k: usize, scratch: &mut Scratch) {
    let isa = crate::simd::isa();
    reserve_for(isa, m, n, k, scratch);
    let split = Split::new(isa, parts, m, n);
    let scratches = scratch.for_parts(split.parts);
    for p in 0..split.parts {
        let share = split.range(p).len();
        if share > 0 {
            // SAFETY: nothing else holds the parts' buffers now.
            let s = unsafe { &mut scratches.range(p, p + 1)[0] };
            let (pm, pn) = if split.rows { (share, n) } else { (m, share) };
            reserve_for(isa, pm, pn, k, s);
        }
    }
}

/// How `sgemm_checked` cuts an `m×n` output into parts: the larger of
/// the two dimensions, in chunks aligned to the kernel's tile, never into
/// more parts than it has tiles (a 9×32 ∂K of a 3×3 convolution is one
/// tile wide: a second part would have no work). `reserve_split` sizes
/// the parts' buffers from the same cut.
struct Split {
    parts: usize,
    /// Cut along rows (else columns).
    rows: bool,
    len: usize,
    chunk: usize,
}

impl Split {
    fn new(isa: crate::simd::Isa, parts: usize, m: usize, n: usize) -> Self {
        let parts = parts.min(max_parts(m, n));
        let rows = m > n;
        let (mr, nr) = tile_shape(isa);
        let (len, align) = if rows { (m, mr) } else { (n, nr) };
        Split { parts, rows, len, chunk: round_up(len.div_ceil(parts), align) }
    }

    /// Part `p`'s rows (or columns); empty for a part left without work.
    fn range(&self, p: usize) -> std::ops::Range<usize> {
        crate::parallel::part_range(p, self.chunk, self.len)
    }
}

/// Grows `scratch` to the packing buffers `blocked` needs for an `m×n×k`
/// product on path `isa`.
fn reserve_for(isa: crate::simd::Isa, m: usize, n: usize, k: usize, scratch: &mut Scratch) {
    use crate::simd::Isa;
    let (blocking, r, c) = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => (BLOCKING_AVX512, kernel::avx512::rows(), kernel::avx512::NR),
        _ => (BLOCKING_6X16, MR, NR),
    };
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let mc_max = round_up(m.min(blocking.mc), r);
    let nc_max = round_up(n.min(blocking.nc), c);
    scratch.reserve(mc_max * kc_max, kc_max * nc_max);
}

/// [`sgemm`] cut into `parts` parts whatever the policy says (to measure
/// where a split pays: `parallel.rs`'s crossover bench).
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_in_parts(
    parts: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut Scratch,
) {
    if check_operands(m, n, k, &a, &b, c, ldc, false) {
        // SAFETY: `check_operands` bounded all three operands.
        unsafe { sgemm_checked(parts, m, n, k, a, b, c, ldc, false, Epilogue::NONE, scratch) }
    }
}

/// [`sgemm`] after `check_operands`, in `parts` parts.
///
/// # Safety
/// `check_operands` must have accepted the operands.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_checked(
    parts: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    epilogue: Epilogue<'_>,
    scratch: &mut Scratch,
) {
    let out = OutPtr(c.as_mut_ptr());
    let isa = crate::simd::isa();
    let split = Split::new(isa, parts, m, n);
    let parts = split.parts;
    if parts == 1 {
        // SAFETY: `check_operands` bounded all three operands.
        unsafe { gemm_serial(isa, m, n, k, a, b, out.0, ldc, accumulate, epilogue, scratch) };
        return;
    }
    // Each part packs its own panels in its part's scratch and runs the
    // caller's path.
    let scratches = scratch.for_parts(parts);
    let judge = crate::parallel::judged(m * n * k / parts);
    crate::parallel::run_judged(parts, judge, &|p| {
        let std::ops::Range { start, end } = split.range(p);
        if start == end {
            return;
        }
        // SAFETY: part `p` runs once per `run`, so no other part takes this scratch.
        let s = unsafe { &mut scratches.range(p, p + 1)[0] };
        // SAFETY: parts write disjoint row (or column) ranges of `c`,
        // each inside the bounds checked above.
        unsafe {
            if split.rows {
                let (a, c) = (a.offset(start, 0), out.ptr().add(start * ldc));
                gemm_serial(isa, end - start, n, k, a, b, c, ldc, accumulate, epilogue, s);
            } else {
                let (b, c) = (b.offset(0, start), out.ptr().add(start));
                let epilogue = Epilogue { bias: epilogue.bias.map(|v| &v[start..]), ..epilogue };
                gemm_serial(isa, m, end - start, k, a, b, c, ldc, accumulate, epilogue, s);
            }
        }
    });
}

/// [`sgemm`] on the calling thread only, for code that already runs as one
/// part of a parallel computation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_on_this_thread(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    scratch: &mut Scratch,
) {
    if check_operands(m, n, k, &a, &b, c, ldc, accumulate) {
        // SAFETY: `check_operands` bounded all three operands.
        let isa = crate::simd::isa();
        unsafe { gemm_serial(isa, m, n, k, a, b, c.as_mut_ptr(), ldc, accumulate, Epilogue::NONE, scratch) };
    }
}

/// The most parts an `m × n` product is cut into: the number of kernel
/// tiles along the larger output dimension (the one a split cuts).
pub(crate) fn max_parts(m: usize, n: usize) -> usize {
    let (mr, nr) = tile_shape(crate::simd::isa());
    if m > n {
        m.div_ceil(mr)
    } else {
        n.div_ceil(nr)
    }
}

/// The `MR × NR` tile of the micro-kernel `isa` runs.
fn tile_shape(isa: crate::simd::Isa) -> (usize, usize) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        crate::simd::Isa::Avx512 => (kernel::avx512::rows(), kernel::avx512::NR),
        _ => (MR, NR),
    }
}

/// The output pointer shared by the parts of a parallel product.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
impl OutPtr {
    // A method, so closures capture the whole (`Sync`) wrapper, not the raw field.
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: the parts of one product write disjoint elements.
unsafe impl Sync for OutPtr {}
unsafe impl Send for OutPtr {}

/// The blocked product on one thread, with the micro-kernel of `isa`.
///
/// # Safety
/// `isa` must be supported by the CPU, `c` must be valid for writes of
/// `(m − 1)·ldc + n` values, and `a`, `b` must hold `m × k` and `k × n` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_serial(
    isa: crate::simd::Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    epilogue: Epilogue<'_>,
    scratch: &mut Scratch,
) {
    use crate::simd::Isa;
    let out = Out { c, ldc, accumulate, epilogue };
    // SAFETY: forwarded from the caller; each kernel is chosen only for its path.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 if kernel::avx512::rows() == kernel::avx512::MR_INTEL => {
                const R: usize = kernel::avx512::MR_INTEL;
                blocked::<R, AVX512_NR>(BLOCKING_AVX512, avx512_kernels::<R, { R / 2 }>(), m, n, k, a, b, out, scratch)
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                const R: usize = kernel::avx512::MR_OTHER;
                blocked::<R, AVX512_NR>(BLOCKING_AVX512, avx512_kernels::<R, { R / 2 }>(), m, n, k, a, b, out, scratch)
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                let kernels =
                    Kernels { packed: kernel::avx2::kernel, a_rows: Some(kernel::avx2::kernel_direct), b_rows: None };
                blocked::<MR, NR>(BLOCKING_6X16, kernels, m, n, k, a, b, out, scratch)
            }
            _ => {
                let kernels = Kernels { packed: kernel::portable, a_rows: None, b_rows: None };
                blocked::<MR, NR>(BLOCKING_6X16, kernels, m, n, k, a, b, out, scratch)
            }
        }
    }
}

/// Columns of the AVX-512 tile.
#[cfg(target_arch = "x86_64")]
const AVX512_NR: usize = kernel::avx512::NR;

/// The `R × 32` AVX-512 kernels for [`blocked`]: packed A, A in place, and
/// A and B in place (edge tiles of at most `HALF` rows run the `HALF`-row copy).
#[cfg(target_arch = "x86_64")]
fn avx512_kernels<const R: usize, const HALF: usize>() -> Kernels {
    Kernels {
        packed: kernel::avx512::kernel::<R, HALF>,
        a_rows: Some(kernel::avx512::kernel_direct::<R, HALF>),
        b_rows: Some(kernel::avx512::kernel_b_rows::<R, HALF>),
    }
}

/// One path's micro-kernels, by which operands they read in place.
struct Kernels {
    /// A and B packed.
    packed: kernel::Kernel,
    /// A read in place (a row-major A), B packed.
    a_rows: Option<kernel::DirectKernel>,
    /// A and B read in place (both row-major).
    b_rows: Option<kernel::BRowsKernel>,
}

/// Where a blocked product writes, and how.
struct Out<'e> {
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    epilogue: Epilogue<'e>,
}

/// The Goto/BLIS loops around an `R × C` micro-kernel.
///
/// # Safety
/// As [`gemm_serial`], with a `kernel` the CPU runs.
#[allow(clippy::too_many_arguments)]
unsafe fn blocked<const R: usize, const C: usize>(
    blocking: Blocking,
    kernels: Kernels,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    out: Out<'_>,
    scratch: &mut Scratch,
) {
    let Out { c, ldc, accumulate, epilogue } = out;
    let Blocking { mc: mc_block, nc: nc_block } = blocking;
    // A row-major A is read in place by kernels that can (no packing of A).
    let direct = kernels.a_rows.filter(|_| a.col_stride == 1);
    // So is a row-major B packed for a single use: one block of A's rows,
    // and no later product reusing the packing (`Scratch::reusing_packed_b`),
    // unless its rows are a multiple of 128 bytes apart: L1 sets repeat
    // every 4 KB, so such rows fall into at most 32 of its 64 sets and the
    // panel evicts itself (the CNN's 288 × 64 convolution kernel, 256 bytes
    // per row, trained 5% slower read in place).
    let b_rows = kernels.b_rows.filter(|_| {
        let spread_rows = !(b.row_stride * std::mem::size_of::<f32>()).is_multiple_of(128);
        direct.is_some() && b.col_stride == 1 && spread_rows && m <= mc_block && !scratch.reuse_b
    });
    // Split the depth evenly: 784 = 4 × 196 rather than 3 × 256 + 16 (a
    // thin last block spends most of its time loading and storing C).
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let mc_max = round_up(m.min(mc_block), R);
    let nc_max = round_up(n.min(nc_block), C);
    scratch.reserve(mc_max * kc_max, if b_rows.is_some() { 0 } else { kc_max * nc_max });
    let Scratch { packed_a, packed_b, reuse_b, packed_b_holds, .. } = scratch;
    let (packed_a, packed_b) = (aligned(packed_a), aligned(packed_b));

    for jc in (0..n).step_by(nc_block) {
        let nc = nc_block.min(n - jc);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            // A B packed whole by an earlier product of the same B is reused
            // inside `Scratch::reusing_packed_b` (a recurrence's kernel).
            let whole = (nc == n && kc == k).then_some(PackedB {
                data: b.data.as_ptr() as usize,
                row_stride: b.row_stride,
                col_stride: b.col_stride,
                k,
                n,
                nr: C,
            });
            if b_rows.is_none() && !(*reuse_b && whole.is_some() && *packed_b_holds == whole) {
                pack_b::<C>(&b, pc, jc, kc, nc, packed_b);
                *packed_b_holds = whole.filter(|_| *reuse_b);
            }
            let first_block = pc == 0;
            let last_block = pc + kc == k;
            for ic in (0..m).step_by(mc_block) {
                let mc = mc_block.min(m - ic);
                if direct.is_none() {
                    pack_a::<R>(&a, ic, pc, mc, kc, packed_a);
                }
                for jr in (0..nc).step_by(C) {
                    let nr = C.min(nc - jr);
                    let bias = match epilogue.bias {
                        Some(bias) if last_block => bias[jc + jr..].as_ptr(),
                        _ => std::ptr::null(),
                    };
                    for ir in (0..mc).step_by(R) {
                        let mr = R.min(mc - ir);
                        let tile = kernel::Tile {
                            // SAFETY: the tile lies inside C (caller's contract).
                            c: unsafe { c.add((ic + ir) * ldc + jc + jr) },
                            ldc,
                            rows: mr,
                            cols: nr,
                            accumulate: accumulate || !first_block,
                            bias,
                            relu: epilogue.relu && last_block,
                        };
                        match (b_rows, direct) {
                            // SAFETY: rows `ic + ir..` of A hold `kc` values
                            // from column `pc`, rows `pc..pc + kc` of B the
                            // tile's columns from `jc + jr` (`check_operands`).
                            (Some(b_rows), _) => unsafe {
                                let a_rows = a.data.as_ptr().add((ic + ir) * a.row_stride + pc);
                                let b_tile = b.data.as_ptr().add(pc * b.row_stride + jc + jr);
                                b_rows(kc, a_rows, a.row_stride, b_tile, b.row_stride, tile)
                            },
                            // SAFETY: as above for A; the packed panel holds `kc` steps.
                            (None, Some(direct)) => unsafe {
                                let a = kernel::APanel::Rows {
                                    a: a.data.as_ptr().add((ic + ir) * a.row_stride + pc),
                                    lda: a.row_stride,
                                };
                                direct(kc, a, &packed_b[jr * kc..(jr + C) * kc], tile)
                            },
                            (None, None) => {
                                let a_panel = &packed_a[ir * kc..(ir + R) * kc];
                                // SAFETY: as above; the panels hold `kc` steps.
                                unsafe { (kernels.packed)(kc, a_panel, &packed_b[jr * kc..(jr + C) * kc], tile) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Panics unless A, B and C hold an `m×k`, `k×n` and `m×n` (stride `ldc`)
/// matrix; finishes empty products (zeroing C for `k = 0` unless
/// accumulating) and returns whether a product remains to compute.
#[allow(clippy::too_many_arguments)]
fn check_operands(
    m: usize,
    n: usize,
    k: usize,
    a: &Mat<'_>,
    b: &Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> bool {
    if m == 0 || n == 0 {
        return false;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "sgemm: C is too small");
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return false;
    }
    assert!(a.data.len() > a.last_index(m, k), "sgemm: A is too small");
    assert!(b.data.len() > b.last_index(k, n), "sgemm: B is too small");
    true
}

fn round_up(x: usize, multiple: usize) -> usize {
    x.div_ceil(multiple) * multiple
}

/// Packs `A[ic.., pc..]` (`mc × kc`) into row panels of `MR`: for each
/// panel, column after column, `MR` consecutive values, zero-padded.
#[allow(clippy::needless_range_loop)] // index loops: see the comment inside
fn pack_a<const MR: usize>(a: &Mat<'_>, ic: usize, pc: usize, mc: usize, kc: usize, out: &mut [f32]) {
    for (panel, dst) in out.chunks_exact_mut(MR * kc).take(mc.div_ceil(MR)).enumerate() {
        let row0 = ic + panel * MR;
        let rows = MR.min(ic + mc - row0);
        // `MR · kc` values: whole arrays, no remainder.
        let (dst, _) = dst.as_chunks_mut::<MR>();
        // Index loops rather than `array::from_fn`, whose closure is a call
        // per value in a build without LTO (docs/PERFORMANCE.md, "Without LTO").
        if a.col_stride == 1 && rows == MR {
            let mut src: [&[f32]; MR] = [&[]; MR];
            for r in 0..MR {
                src[r] = &a.data[(row0 + r) * a.row_stride + pc..][..kc];
            }
            for (p, col) in dst.iter_mut().enumerate() {
                for r in 0..MR {
                    col[r] = src[r][p];
                }
            }
        } else if a.row_stride == 1 && rows == MR {
            for (p, col) in dst.iter_mut().enumerate() {
                let start = (pc + p) * a.col_stride + row0;
                *col = a.data[start..start + MR].try_into().expect("MR values");
            }
        } else {
            for (p, col) in dst.iter_mut().enumerate() {
                for r in 0..MR {
                    col[r] = if r < rows { a.at(row0 + r, pc + p) } else { 0.0 };
                }
            }
        }
    }
}

/// Packs `B[pc.., jc..]` (`kc × nc`) into column panels of `NR`: for each
/// panel, row after row, `NR` consecutive values, zero-padded.
#[allow(clippy::needless_range_loop)] // index loops: see pack_a
fn pack_b<const NR: usize>(b: &Mat<'_>, pc: usize, jc: usize, kc: usize, nc: usize, out: &mut [f32]) {
    for (panel, dst) in out.chunks_exact_mut(NR * kc).take(nc.div_ceil(NR)).enumerate() {
        let col0 = jc + panel * NR;
        let cols = NR.min(jc + nc - col0);
        let (dst, _) = dst.as_chunks_mut::<NR>();
        if b.col_stride == 1 && cols == NR {
            // Fixed-size copies: a `memmove` call per 16 values would cost more than the copy.
            for (p, row) in dst.iter_mut().enumerate() {
                let start = (pc + p) * b.row_stride + col0;
                *row = b.data[start..start + NR].try_into().expect("NR values");
            }
        } else if b.row_stride == 1 && cols == NR {
            // A transposed view (a dense layer's ∂x = ∂y·Wᵀ): each column is
            // contiguous; read NR of them side by side.
            let mut src: [&[f32]; NR] = [&[]; NR];
            for j in 0..NR {
                src[j] = &b.data[(col0 + j) * b.col_stride + pc..][..kc];
            }
            for (p, row) in dst.iter_mut().enumerate() {
                for j in 0..NR {
                    row[j] = src[j][p];
                }
            }
        } else {
            for (p, row) in dst.iter_mut().enumerate() {
                for j in 0..NR {
                    row[j] = if j < cols { b.at(pc + p, col0 + j) } else { 0.0 };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &Mat<'_>, b: &Mat<'_>) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a.at(i, p) as f64 * b.at(p, j) as f64).sum();
            }
        }
        c
    }

    /// `c` is, within 1e-3, `start + A·B` (`A·B` without a start), then
    /// plus `bias` and through relu when there is a bias (the fused epilogue).
    fn assert_epilogue_of_naive(
        c: &[f32],
        (m, n, k): (usize, usize, usize),
        (a, b): (&Mat<'_>, &Mat<'_>),
        start: Option<&[f32]>,
        bias: Option<&[f32]>,
    ) {
        for (i, (&x, exact)) in c.iter().zip(naive(m, n, k, a, b)).enumerate() {
            let mut y = exact + start.map_or(0.0, |s| f64::from(s[i]));
            if let Some(bias) = bias {
                y = (y + f64::from(bias[i % n])).max(0.0);
            }
            assert!((f64::from(x) - y).abs() < 1e-3, "{m}x{n}x{k} [{i}]: {x} vs {y}");
        }
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len).map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0).collect()
    }

    #[test]
    fn matches_naive_product_for_all_layouts_and_edge_sizes() {
        let sizes = [(1, 1, 1), (5, 17, 3), (7, 33, 300), (128, 300, 784), (73, 20, 257), (13, 1, 9)];
        for &(m, n, k) in &sizes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a_data = values(m * k, 1);
                let b_data = values(k * n, 2);
                let a = if ta { Mat::transposed(&a_data, m) } else { Mat::row_major(&a_data, k) };
                let b = if tb { Mat::transposed(&b_data, k) } else { Mat::row_major(&b_data, n) };
                let expected = naive(m, n, k, &a, &b);
                let mut scratch = Scratch::default();
                let mut c = vec![0.5; m * n];
                sgemm(m, n, k, a, b, &mut c, n, false, &mut scratch);
                for (x, y) in c.iter().zip(&expected) {
                    assert!((*x as f64 - y).abs() < 1e-3, "{m}x{n}x{k} ta={ta} tb={tb}: {x} vs {y}");
                }
                sgemm(m, n, k, a, b, &mut c, n, true, &mut scratch);
                for (x, y) in c.iter().zip(&expected) {
                    assert!((*x as f64 - 2.0 * y).abs() < 2e-3, "accumulate {m}x{n}x{k}");
                }
            }
        }
    }

    /// Both AVX-512 tile shapes (12 rows on Intel, 8 elsewhere: only one
    /// runs by default on any CPU) give the same bits, with edges,
    /// transposes, accumulation and the fused epilogue, and the exact sums.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn both_avx512_tile_shapes_give_the_same_bits() {
        if !crate::simd::Isa::Avx512.supported() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let bias = values(301, 9);
        for &(m, n, k) in &[(1, 1, 1), (5, 17, 3), (13, 33, 300), (128, 300, 784), (73, 20, 257), (30, 70, 9)] {
            for (ta, tb, accumulate, fused) in
                [(false, false, false, false), (true, false, true, true), (false, true, false, true)]
            {
                let (a_data, b_data) = (values(m * k, 3), values(k * n, 4));
                let a = if ta { Mat::transposed(&a_data, m) } else { Mat::row_major(&a_data, k) };
                let b = if tb { Mat::transposed(&b_data, k) } else { Mat::row_major(&b_data, n) };
                let epilogue = Epilogue { bias: fused.then_some(&bias[..n]), relu: fused };
                let product = |rows: usize| {
                    let mut c = values(m * n, 5);
                    let out = Out { c: c.as_mut_ptr(), ldc: n, accumulate, epilogue };
                    let mut scratch = Scratch::default();
                    let (blocking, s) = (BLOCKING_AVX512, &mut scratch);
                    // SAFETY: AVX-512 checked above; C holds m×n values, A and B their products'.
                    unsafe {
                        match rows {
                            12 => blocked::<12, AVX512_NR>(blocking, avx512_kernels::<12, 6>(), m, n, k, a, b, out, s),
                            _ => blocked::<8, AVX512_NR>(blocking, avx512_kernels::<8, 4>(), m, n, k, a, b, out, s),
                        }
                    }
                    c
                };
                let (tall, short) = (product(12), product(8));
                assert_eq!(tall, short, "{m}x{n}x{k} ta={ta} tb={tb} accumulate={accumulate} fused={fused}");
                let start = accumulate.then(|| values(m * n, 5));
                assert_epilogue_of_naive(&tall, (m, n, k), (&a, &b), start.as_deref(), fused.then_some(&bias[..n]));
            }
        }
    }

    /// A row-major B read in place (AVX-512, products of at most one block
    /// of A's rows) gives the bits of the same product from packed panels,
    /// with edges, accumulation and the fused epilogue, for a B whose rows
    /// are longer than its view (masked loads must not read the values past
    /// the view's columns); and nothing is packed.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn b_read_in_place_gives_the_packed_products_bits() {
        if !crate::simd::Isa::Avx512.supported() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let bias = values(301, 9);
        for &(m, n, k) in &[(1, 1, 1), (5, 17, 3), (13, 33, 300), (128, 300, 784), (73, 20, 257), (144, 70, 9)] {
            for (accumulate, fused, padding) in [(false, false, 0), (true, true, 7), (false, true, 16)] {
                // No row stride here is a multiple of 32 values (128 bytes),
                // so B is read in place.
                let ldb = n + padding;
                let a_data = values(m * k, 3);
                let b_data: Vec<f32> = values(k * ldb, 4);
                let (a, b) = (Mat::row_major(&a_data, k), Mat::strided(&b_data[..(k - 1) * ldb + n], ldb, 1));
                let epilogue = Epilogue { bias: fused.then_some(&bias[..n]), relu: fused };
                let product = |b_in_place: bool| {
                    let mut c = values(m * n, 5);
                    let out = Out { c: c.as_mut_ptr(), ldc: n, accumulate, epilogue };
                    let mut scratch = Scratch::default();
                    let mut kernels = avx512_kernels::<8, 4>();
                    if !b_in_place {
                        kernels.b_rows = None;
                    }
                    // SAFETY: AVX-512 checked above; C holds m×n values, A and B their products'.
                    unsafe { blocked::<8, AVX512_NR>(BLOCKING_AVX512, kernels, m, n, k, a, b, out, &mut scratch) };
                    (c, scratch.packed_b.iter().all(|&x| x == 0.0))
                };
                let ((in_place, nothing_packed), (packed, _)) = (product(true), product(false));
                assert!(nothing_packed, "{m}x{n}x{k}: B was packed");
                let case = format!("{m}x{n}x{k} accumulate={accumulate} fused={fused} ldb={ldb}");
                assert!(in_place.iter().zip(&packed).all(|(x, y)| x.to_bits() == y.to_bits()), "{case}");
                let start = accumulate.then(|| values(m * n, 5));
                let bias = fused.then_some(&bias[..n]);
                assert_epilogue_of_naive(&in_place, (m, n, k), (&a, &b), start.as_deref(), bias);
            }
        }
    }

    /// Inside `reusing_packed_b`, a product with the B packed by the last
    /// one skips the packing: shown by changing B's values in between (which
    /// the scope forbids callers to do), after which the product still uses
    /// the old packed copy. The same data seen through another view, or
    /// another B, is packed afresh; after the scope, B is read again.
    #[test]
    fn a_reused_packed_b_skips_the_packing_within_its_scope_only() {
        // More rows than one block of A (144 on AVX-512), so that B is packed
        // on every path rather than read in place.
        let (m, n, k) = (150, 70, 33);
        let a = values(m * k, 6);
        let mut b = values(k * n, 7);
        let other = values(k * n, 8);
        let product = |b: Mat<'_>, scratch: &mut Scratch| {
            let mut c = vec![0.0; m * n];
            sgemm_on_this_thread(m, n, k, Mat::row_major(&a, k), b, &mut c, n, false, scratch);
            c
        };
        let fresh = |b: Mat<'_>| product(b, &mut Scratch::default());
        let original = fresh(Mat::row_major(&b, n));
        let mut scratch = Scratch::default();
        scratch.reusing_packed_b(|scratch| {
            assert_eq!(product(Mat::row_major(&b, n), scratch), original);
            assert_eq!(scratch.packed_b_holds.map(|p| p.data), Some(b.as_ptr() as usize));
            b.iter_mut().for_each(|x| *x *= 2.0);
            assert_eq!(product(Mat::row_major(&b, n), scratch), original, "B was packed again");
            // The same data as a k×n view of its transpose is another B.
            assert_eq!(product(Mat::transposed(&b, k), scratch), fresh(Mat::transposed(&b, k)));
            assert_eq!(product(Mat::row_major(&other, n), scratch), fresh(Mat::row_major(&other, n)));
        });
        assert_eq!(scratch.packed_b_holds, None);
        let doubled = product(Mat::row_major(&b, n), &mut scratch);
        assert_eq!(doubled, fresh(Mat::row_major(&b, n)));
        assert_ne!(doubled, original);
    }

    #[test]
    fn respects_leading_dimension_of_c() {
        let a = [1.0, 2.0];
        let b = [3.0, 4.0];
        let mut c = [9.0; 6];
        // C is 2×1 inside a 2×3 buffer.
        sgemm(2, 1, 1, Mat::row_major(&a, 1), Mat::row_major(&b, 1), &mut c, 3, false, &mut Scratch::default());
        assert_eq!(c, [3.0, 9.0, 9.0, 6.0, 9.0, 9.0]);
    }
}
