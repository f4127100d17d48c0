//! One-sample inference kernels of kiln as free functions over borrowed
//! slices: `#![no_std]`, no `alloc`, no heap.
//!
//! `kiln::model!` with `embed "weights.safetensors"` compiles a model's
//! weights into the binary and generates a `predict_one` that calls these
//! functions on `&'static [f32]` slices of those bytes (see kiln's
//! `docs/DESIGN.md`, "Weights compiled in"). They can also be called by
//! hand: every weight is a row-major slice in Keras's layout.
//!
//! The arithmetic follows kiln's runtime (and Keras): the same operation
//! order, kiln's vectorizable `exp`/`sigmoid`/`tanh` polynomials, and
//! `libm`'s functions where the runtime calls the standard library's
//! (with the `std` feature, the standard library's). The
//! runtime's matrix–vector products fuse each multiply–add on CPUs with
//! FMA, so results agree with it to rounding, not always bit for bit.
//!
//! ```
//! use kiln_infer::{dense, Activation};
//! // [1, 2] · [[1, 0, 1], [0, 1, 1]] + [0.5, 0.5, 0.5], then ReLU
//! let mut y = [0.0; 3];
//! dense(&[1.0, 2.0], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0], Some(&[0.5; 3]), 3, Activation::Relu, &mut y);
//! assert_eq!(y, [1.5, 2.5, 3.5]);
//! ```

#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!(
    "kiln-infer reads weights stored little-endian (safetensors) in place: big-endian targets are not supported"
);

#[cfg(not(any(feature = "std", feature = "libm")))]
compile_error!("kiln-infer needs its `libm` feature (the default) or `std` for `exp`, `expm1`, `log1p` and `sqrt`");

#[cfg(feature = "std")]
extern crate std;

mod activation;
mod conv;
mod math;
mod norm;
mod recurrent;

pub use activation::{exp, sigmoid, softmax_row, tanh, Activation};
pub use conv::{conv2d, pool2d, Pool, Window};
pub use norm::{batch_normalization, layer_normalization, Normalization};
pub use recurrent::{gru, gru_scratch_len, lstm, lstm_scratch_len, simple_rnn, simple_rnn_scratch_len, Recurrent};

use core::fmt;

/// 64-byte alignment for bytes compiled into the binary
/// (`Aligned(*include_bytes!(…))`), so every `f32` tensor of a weights
/// file whose data offsets are multiples of 4 can be read in place.
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

/// The `len` little-endian `f32` values at byte `start` of `bytes`, read
/// in place (no copy).
///
/// # Panics
/// If the range is outside `bytes` or `bytes[start..]` is not 4-byte
/// aligned. The `embed` form of `kiln::model!` checks both at compile
/// time (offsets) and by alignment of the static ([`Aligned`]).
#[inline]
pub fn f32_slice(bytes: &[u8], start: usize, len: usize) -> &[f32] {
    // Checked: a wrapped `start + 4·len` would pass and reach past the bytes.
    let end = len.checked_mul(4).and_then(|b| b.checked_add(start));
    assert!(end.is_some_and(|end| end <= bytes.len()), "f32_slice: range outside the bytes");
    // SAFETY: the range is inside `bytes` (checked above), the pointer is
    // 4-byte aligned (checked below), every bit pattern is a valid f32, and
    // the result borrows `bytes` for its lifetime. Little-endian only
    // (compile error above), which is the byte order of safetensors.
    let ptr = unsafe { bytes.as_ptr().add(start) };
    assert!((ptr as usize).is_multiple_of(4), "f32_slice: bytes not 4-byte aligned");
    unsafe { core::slice::from_raw_parts(ptr.cast::<f32>(), len) }
}

/// A sample type of fixed length: `f32`, `u32`, and arrays of them
/// (`[[f32; 28]; 28]`), which [`flat`] and [`flat_mut`] view as one slice.
///
/// # Safety
/// `Self` must be exactly `LEN` contiguous `Elem` values (arrays are).
pub unsafe trait Flat: Copy {
    /// The scalar type.
    type Elem: Copy;
    /// Scalars in one `Self`.
    const LEN: usize;
    /// `Self` with every scalar zero.
    const ZERO: Self;
}

// SAFETY: one value of itself.
unsafe impl Flat for f32 {
    type Elem = f32;
    const LEN: usize = 1;
    const ZERO: Self = 0.0;
}

// SAFETY: one value of itself.
unsafe impl Flat for u32 {
    type Elem = u32;
    const LEN: usize = 1;
    const ZERO: Self = 0;
}

// SAFETY: an array is `N` contiguous `T`s without padding.
unsafe impl<T: Flat, const N: usize> Flat for [T; N] {
    type Elem = T::Elem;
    const LEN: usize = N * T::LEN;
    const ZERO: Self = [T::ZERO; N];
}

/// `x`'s scalars as one slice (no copy).
#[inline]
pub fn flat<T: Flat>(x: &T) -> &[T::Elem] {
    // SAFETY: `T` is `T::LEN` contiguous `T::Elem`s (the `Flat` contract).
    unsafe { core::slice::from_raw_parts((x as *const T).cast::<T::Elem>(), T::LEN) }
}

/// `x`'s scalars as one mutable slice (no copy).
#[inline]
pub fn flat_mut<T: Flat>(x: &mut T) -> &mut [T::Elem] {
    // SAFETY: as in `flat`; the borrow is unique.
    unsafe { core::slice::from_raw_parts_mut((x as *mut T).cast::<T::Elem>(), T::LEN) }
}

/// An id at or above an `Embedding`'s `input_dim` (Keras on CPU raises
/// `InvalidArgumentError`; kiln's runtime returns `kiln::Error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdOutOfRange {
    /// Position of the id in the sample (flat).
    pub position: usize,
    /// The id found.
    pub id: u32,
    /// The embedding table's row count; ids must be below it.
    pub input_dim: usize,
}

impl fmt::Display for IdOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "id {} at position {} is out of range for an Embedding of input_dim {} (ids must be below it)",
            self.id, self.position, self.input_dim
        )
    }
}

impl core::error::Error for IdOutOfRange {}

/// `y = x · W[:, ..y.len()]` where the rows of `W` are `ld` values apart:
/// each output accumulates `x[i]·W[i][j]` in order of `i` from zero, as
/// kiln's runtime does (which fuses each step where the CPU has FMA).
///
/// Blocks of [`BLOCK`] outputs stay in registers over all rows (a
/// fixed-size accumulator the compiler keeps in vector registers), so `W`
/// is read once and `y` is written once; the order of the sums is the
/// same as a plain row-by-row loop.
#[inline]
pub fn vec_mat(x: &[f32], w: &[f32], ld: usize, y: &mut [f32]) {
    let cols = y.len();
    let mut c = 0;
    while c + BLOCK <= cols {
        let mut acc = [0.0f32; BLOCK];
        for (i, &xi) in x.iter().enumerate() {
            let row: &[f32; BLOCK] = w[i * ld + c..i * ld + c + BLOCK].try_into().expect("BLOCK values");
            for (a, &wv) in acc.iter_mut().zip(row) {
                *a += xi * wv;
            }
        }
        y[c..c + BLOCK].copy_from_slice(&acc);
        c += BLOCK;
    }
    if c < cols {
        let y = &mut y[c..];
        y.fill(0.0);
        for (i, &xi) in x.iter().enumerate() {
            let row = &w[i * ld + c..i * ld + cols];
            for (out, &wv) in y.iter_mut().zip(row) {
                *out += xi * wv;
            }
        }
    }
}

/// Outputs [`vec_mat`] keeps in registers at once: 32 floats are eight SSE
/// registers (x86-64's baseline) or four AVX ones. Measured on the digits
/// MLP (tests/embedded.rs, `speed_against_the_runtime`): 8 → 2.5 µs,
/// 16 → 2.4, 32 → 1.5–2.0, 64 → 1.8.
pub const BLOCK: usize = 32;

/// Keras's `Dense` on the last axis: `y = activation(x · kernel + bias)`
/// for every row of `units` outputs (`y.len() / units` rows, each reading
/// `kernel.len() / units` inputs). `kernel` is `[in, units]`, `bias`
/// `[units]`.
///
/// # Panics
/// If `units` is 0, or `kernel`, `bias`, `y` or `x` do not hold whole rows
/// of their sizes (the `embed` form of `kiln::model!` passes static shapes).
pub fn dense(x: &[f32], kernel: &[f32], bias: Option<&[f32]>, units: usize, activation: Activation, y: &mut [f32]) {
    assert!(units > 0, "dense: units must be at least 1");
    assert!(
        kernel.len().is_multiple_of(units),
        "dense: kernel holds {} values, not whole rows of {units} units",
        kernel.len()
    );
    if let Some(b) = bias {
        assert!(b.len() == units, "dense: bias holds {} values for {units} units", b.len());
    }
    assert!(y.len().is_multiple_of(units), "dense: y holds {} values, not whole rows of {units} units", y.len());
    let (input, rows) = (kernel.len() / units, y.len() / units);
    assert!(
        x.len() == rows * input,
        "dense: x holds {} values, not whole rows of {input} inputs for y's {rows} rows",
        x.len()
    );
    for (xr, yr) in x.chunks_exact(input).zip(y.chunks_exact_mut(units)) {
        vec_mat(xr, kernel, units, yr);
        if let Some(b) = bias {
            yr.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    }
    activation.apply(y, units);
}

/// Keras's `Embedding`: row `ids[k]` of `table` (`[input_dim, dim]`) into
/// `y[k·dim..]`. An id at or above `input_dim` is an error (nothing is
/// read out of bounds).
///
/// # Errors
/// [`IdOutOfRange`] for the first id at or above `input_dim`.
///
/// # Panics
/// If `dim` is 0, `table` does not hold whole rows of `dim` values, or `y`
/// does not hold `dim` values per id.
pub fn embedding(ids: &[u32], table: &[f32], dim: usize, y: &mut [f32]) -> Result<(), IdOutOfRange> {
    assert!(dim > 0, "embedding: dim must be at least 1");
    assert!(table.len().is_multiple_of(dim), "embedding: table holds {} values, not whole rows of {dim}", table.len());
    assert!(
        ids.len().checked_mul(dim) == Some(y.len()),
        "embedding: y holds {} values, not {} ids of {dim}",
        y.len(),
        ids.len()
    );
    let input_dim = table.len() / dim;
    for (position, (&id, out)) in ids.iter().zip(y.chunks_exact_mut(dim)).enumerate() {
        let row = id as usize;
        if row >= input_dim {
            return Err(IdOutOfRange { position, id, input_dim });
        }
        out.copy_from_slice(&table[row * dim..(row + 1) * dim]);
    }
    Ok(())
}

/// A reduction: `reduce_sum`/`reduce_mean`/`reduce_max` and the global
/// poolings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// Σ.
    Sum,
    /// Σ / n.
    Mean,
    /// `max` (NaN-ignoring `f32::max`, as `reduce_max`).
    Max,
    /// Max propagating NaN (`GlobalMaxPooling*`, as TensorFlow's max pool).
    MaxNan,
}

/// Reduces `x`, seen as `[outer, n, inner]`, over its middle axis into
/// `y` (`[outer, inner]`), accumulating in order (as kiln's runtime).
pub fn reduce(x: &[f32], n: usize, inner: usize, op: Reduce, y: &mut [f32]) {
    for (xo, yo) in x.chunks_exact(n * inner).zip(y.chunks_exact_mut(inner)) {
        yo.copy_from_slice(&xo[..inner]);
        for row in xo.chunks_exact(inner).skip(1) {
            for (acc, &v) in yo.iter_mut().zip(row) {
                *acc = match op {
                    Reduce::Max => acc.max(v),
                    Reduce::MaxNan => {
                        if acc.is_nan() || !(v > *acc || v.is_nan()) {
                            *acc
                        } else {
                            v
                        }
                    }
                    Reduce::Sum | Reduce::Mean => *acc + v,
                }
            }
        }
        if op == Reduce::Mean {
            yo.iter_mut().for_each(|v| *v /= n as f32);
        }
    }
}

/// An element-wise merge (`add`, `subtract`, `multiply`, `average`,
/// `maximum`, `minimum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Σ xs.
    Add,
    /// xs[0] − xs[1].
    Subtract,
    /// Π xs.
    Multiply,
    /// Σ xs / n.
    Average,
    /// Element-wise max.
    Maximum,
    /// Element-wise min.
    Minimum,
}

/// `y = xs[0] ∘ xs[1] ∘ …` element-wise (the runtime's order).
pub fn merge(xs: &[&[f32]], op: Merge, y: &mut [f32]) {
    let Some((first, rest)) = xs.split_first() else { return };
    y.copy_from_slice(first);
    for x in rest {
        let pairs = y.iter_mut().zip(x.iter());
        match op {
            Merge::Add | Merge::Average => pairs.for_each(|(a, b)| *a += b),
            Merge::Subtract => pairs.for_each(|(a, b)| *a -= b),
            Merge::Multiply => pairs.for_each(|(a, b)| *a *= b),
            Merge::Maximum => pairs.for_each(|(a, b)| *a = a.max(*b)),
            Merge::Minimum => pairs.for_each(|(a, b)| *a = a.min(*b)),
        }
    }
    if op == Merge::Average {
        let n = xs.len() as f32;
        y.iter_mut().for_each(|v| *v /= n);
    }
}

/// Keras's `Concatenate`: each `xs[k]`, seen as `[outer, widths[k]]`
/// (`widths[k]` = its axis size × the size of the axes after it), placed
/// side by side in `y` for every `outer` index.
pub fn concatenate(xs: &[&[f32]], widths: &[usize], y: &mut [f32]) {
    let total: usize = widths.iter().sum();
    if total == 0 {
        return;
    }
    for (o, yo) in y.chunks_exact_mut(total).enumerate() {
        let mut at = 0;
        for (x, &w) in xs.iter().zip(widths) {
            yo[at..at + w].copy_from_slice(&x[o * w..(o + 1) * w]);
            at += w;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn dense_matches_hand_computed_rows() {
        // Rows [1, 2] and [0, 1] times [[1, 2], [3, 4]], plus [1, −1].
        let kernel = [1.0, 2.0, 3.0, 4.0];
        let mut y = [0.0; 4];
        dense(&[1.0, 2.0, 0.0, 1.0], &kernel, Some(&[1.0, -1.0]), 2, Activation::Linear, &mut y);
        assert_eq!(y, [8.0, 9.0, 4.0, 3.0]);
        // Three inputs to one unit (not a square): 1·1 + 2·2 + 3·3 = 14.
        let mut y = [0.0; 1];
        dense(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], None, 1, Activation::Linear, &mut y);
        assert_eq!(y, [14.0]);
    }

    /// A block of `BLOCK` columns plus a tail, with a row stride wider than
    /// the columns read, against an f64 reference.
    #[test]
    fn vec_mat_blocks_and_tail_match_f64() {
        let (k, ld) = (7, BLOCK + 13);
        let w: [f32; 7 * (BLOCK + 13)] = core::array::from_fn(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0);
        let x: [f32; 7] = core::array::from_fn(|i| (i as f32 - 3.0) / 2.0);
        let mut y = [0.0f32; BLOCK + 9];
        vec_mat(&x, &w, ld, &mut y);
        for (j, &v) in y.iter().enumerate() {
            let exact: f64 = (0..k).map(|i| f64::from(x[i]) * f64::from(w[i * ld + j])).sum();
            assert!((f64::from(v) - exact).abs() <= 1e-5 * exact.abs().max(1.0), "column {j}: {v} vs {exact}");
        }
    }

    /// The message of the panic `f` raises, if it panics.
    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> Option<std::string::String> {
        let payload = std::panic::catch_unwind(f).err()?;
        let text = payload.downcast_ref::<&str>().map(std::string::ToString::to_string);
        text.or_else(|| payload.downcast_ref::<std::string::String>().cloned())
    }

    /// Old code: `start + len * 4` wrapped for a huge `len` (in a release
    /// build), the bound check passed, and this safe function returned a
    /// slice far past the bytes: reading it was a segmentation fault.
    #[test]
    fn f32_slice_refuses_ranges_whose_end_overflows() {
        let bytes = Aligned([0u8; 16]);
        assert_eq!(f32_slice(&bytes.0, 4, 3), &[0.0; 3]);
        for (start, len) in [(0, usize::MAX / 4 + 1), (usize::MAX, 1), (4, usize::MAX / 4), (4, 4)] {
            let message = panic_message(|| _ = f32_slice(&bytes.0, start, len));
            assert_eq!(message.as_deref(), Some("f32_slice: range outside the bytes"), "{start} {len}");
        }
    }

    /// Old code: a kernel too short for its input left `y` as it was, zero
    /// units divided by zero, and an id past the table was not reported
    /// when `y` was too short to reach it.
    #[test]
    fn dense_and_embedding_refuse_sizes_that_do_not_fit() {
        let kernel = [1.0, 2.0, 3.0, 4.0];
        let cases: [(&str, fn()); 5] = [
            ("dense: x holds 1 values, not whole rows of 2 inputs for y's 1 rows", || {
                dense(&[1.0], &[1.0, 2.0, 3.0, 4.0], None, 2, Activation::Linear, &mut [7.0, 7.0])
            }),
            ("dense: units must be at least 1", || dense(&[1.0], &[1.0], None, 0, Activation::Linear, &mut [0.0])),
            ("dense: bias holds 1 values for 2 units", || {
                dense(&[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0], Some(&[1.0]), 2, Activation::Linear, &mut [0.0; 2])
            }),
            ("embedding: dim must be at least 1", || _ = embedding(&[5], &[], 0, &mut [])),
            ("embedding: y holds 2 values, not 2 ids of 2", || {
                _ = embedding(&[0, 99], &[1.0, 2.0, 3.0, 4.0], 2, &mut [0.0; 2])
            }),
        ];
        for (want, f) in cases {
            assert_eq!(panic_message(f).as_deref(), Some(want));
        }
        let mut y = [0.0; 2];
        dense(&[1.0, 1.0], &kernel, None, 2, Activation::Linear, &mut y);
        assert_eq!(y, [4.0, 6.0]);
    }

    #[test]
    fn embedding_rejects_ids_out_of_range() {
        let table = [0.0, 1.0, 2.0, 3.0];
        let mut y = [0.0; 4];
        assert_eq!(embedding(&[1, 0], &table, 2, &mut y), Ok(()));
        assert_eq!(y, [2.0, 3.0, 0.0, 1.0]);
        assert_eq!(embedding(&[0, 2], &table, 2, &mut y), Err(IdOutOfRange { position: 1, id: 2, input_dim: 2 }));
    }

    #[test]
    fn reductions_merges_and_concatenation() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 9.0]; // [3, 2]
        let mut y = [0.0; 2];
        reduce(&x, 3, 2, Reduce::Mean, &mut y);
        assert_eq!(y, [3.0, 5.0]);
        reduce(&x, 3, 2, Reduce::Max, &mut y);
        assert_eq!(y, [5.0, 9.0]);
        let mut y = [0.0; 3];
        reduce(&x, 2, 1, Reduce::Sum, &mut y);
        assert_eq!(y, [3.0, 7.0, 14.0]);
        let mut m = [0.0; 2];
        merge(&[&[1.0, 2.0], &[3.0, 6.0]], Merge::Average, &mut m);
        assert_eq!(m, [2.0, 4.0]);
        merge(&[&[1.0, 2.0], &[3.0, 6.0]], Merge::Subtract, &mut m);
        assert_eq!(m, [-2.0, -4.0]);
        let mut c = [0.0; 6];
        concatenate(&[&[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0]], &[1, 2], &mut c);
        assert_eq!(c, [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    }
}
