//! Spatial data movement, channels last: Keras's `ZeroPadding1D/2D`,
//! `Cropping1D/2D` and `UpSampling1D/2D` (nearest). No parameters.
//!
//! A 1D layer over `[steps, channels]` is the 2D one over
//! `[steps, 1, channels]`: the same code serves both, only the Keras
//! class name differs.

use super::checked_product;
use super::reshape::{movement_layer, put, Movement};

/// Copies a `rows × cols` block of `[·, ·, channels]` samples from the
/// input at `(in_top, in_left)` to the output at `(out_top, out_left)`;
/// every other output value is zero. Padding puts the whole input inside
/// a larger output, cropping takes part of the input as the output.
#[derive(Clone, Copy, Debug)]
struct Window {
    in_w: usize,
    out_w: usize,
    channels: usize,
    rows: usize,
    cols: usize,
    in_top: usize,
    in_left: usize,
    out_top: usize,
    out_left: usize,
    /// Whether the block covers all of the output (cropping) …
    fills_output: bool,
    /// … or all of the input (padding).
    covers_input: bool,
}

impl Window {
    /// Offsets of row `r` of the block in the input and the output, and its length.
    fn row(&self, r: usize) -> (usize, usize, usize) {
        let c = self.channels;
        let x = ((self.in_top + r) * self.in_w + self.in_left) * c;
        let y = ((self.out_top + r) * self.out_w + self.out_left) * c;
        (x, y, self.cols * c)
    }

    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        if !self.fills_output {
            y.fill(0.0);
        }
        for r in 0..self.rows {
            let (xi, yi, len) = self.row(r);
            y[yi..yi + len].copy_from_slice(&x[xi..xi + len]);
        }
    }

    fn backward_sample(&self, dy: &[f32], dx: &mut [f32], accumulate: bool) {
        // Input values outside the block (cropped away) get zero.
        if !self.covers_input && !accumulate {
            dx.fill(0.0);
        }
        for r in 0..self.rows {
            let (xi, yi, len) = self.row(r);
            for (g, &d) in dx[xi..xi + len].iter_mut().zip(&dy[yi..yi + len]) {
                put(g, d, accumulate);
            }
        }
    }
}

/// `[h, w, c]` padded by `[[top, bottom], [left, right]]`.
fn padding_window(n: usize, m: usize, shape: [usize; 3], pad: [[usize; 2]; 2]) -> Window {
    let [h, w, c] = shape;
    let grown = |len: usize, [a, b]: [usize; 2]| len.checked_add(a)?.checked_add(b);
    let (out_h, out_w) = (grown(h, pad[0]), grown(w, pad[1]));
    let out = out_h.zip(out_w).and_then(|(out_h, out_w)| checked_product(&[out_h, out_w, c]));
    assert!(checked_product(&[h, w, c]) == Some(n) && out == Some(m), "ZeroPadding sizes do not match");
    let out_w = out_w.expect("checked above");
    Window {
        in_w: w,
        out_w,
        channels: c,
        rows: h,
        cols: w,
        in_top: 0,
        in_left: 0,
        out_top: pad[0][0],
        out_left: pad[1][0],
        fills_output: pad == [[0, 0], [0, 0]],
        covers_input: true,
    }
}

/// `[h, w, c]` cropped by `[[top, bottom], [left, right]]`.
fn cropping_window(n: usize, m: usize, shape: [usize; 3], crop: [[usize; 2]; 2]) -> Window {
    let [h, w, c] = shape;
    let kept = |len: usize, [a, b]: [usize; 2]| a.checked_add(b).filter(|&cut| cut < len).map(|cut| len - cut);
    let (Some(rows), Some(cols)) = (kept(h, crop[0]), kept(w, crop[1])) else {
        panic!("Cropping removes the whole input");
    };
    assert!(
        checked_product(&[h, w, c]) == Some(n) && checked_product(&[rows, cols, c]) == Some(m),
        "Cropping sizes do not match"
    );
    Window {
        in_w: w,
        out_w: cols,
        channels: c,
        rows,
        cols,
        in_top: crop[0][0],
        in_left: crop[1][0],
        out_top: 0,
        out_left: 0,
        fills_output: true,
        covers_input: crop == [[0, 0], [0, 0]],
    }
}

/// Nearest-neighbour upsampling of `[h, w, c]` by `(sh, sw)`: every
/// value repeated `sh` times down and `sw` times across.
#[derive(Clone, Copy, Debug)]
struct Repeat {
    h: usize,
    w: usize,
    c: usize,
    sh: usize,
    sw: usize,
}

impl Repeat {
    fn new(n: usize, m: usize, shape: [usize; 3], size: [usize; 2]) -> Self {
        let [h, w, c] = shape;
        let [sh, sw] = size;
        assert!(
            sh >= 1
                && sw >= 1
                && checked_product(&[h, w, c]) == Some(n)
                && checked_product(&[h, sh, w, sw, c]) == Some(m),
            "UpSampling sizes do not match"
        );
        Repeat { h, w, c, sh, sw }
    }

    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        let (w, c, sh, sw) = (self.w, self.c, self.sh, self.sw);
        let out_row = w * sw * c;
        for (xr, yr) in x.chunks_exact(w * c).zip(y.chunks_exact_mut(out_row * sh)) {
            // One output row, then its copies below.
            let (first, below) = yr.split_at_mut(out_row);
            for (xv, yv) in xr.chunks_exact(c).zip(first.chunks_exact_mut(sw * c)) {
                for part in yv.chunks_exact_mut(c) {
                    part.copy_from_slice(xv);
                }
            }
            for copy in below.chunks_exact_mut(out_row) {
                copy.copy_from_slice(first);
            }
        }
    }

    fn backward_sample(&self, dy: &[f32], dx: &mut [f32], accumulate: bool) {
        let (w, c, sh, sw) = (self.w, self.c, self.sh, self.sw);
        let out_w = w * sw;
        // Keras repeats rows, then columns; the gradient sums the columns'
        // copies first, then the rows' (the same order of additions).
        for i in 0..self.h {
            for j in 0..w {
                for k in 0..c {
                    let at = |a: usize, b: usize| dy[((i * sh + a) * out_w + j * sw + b) * c + k];
                    let across = |a: usize| (1..sw).fold(at(a, 0), |s, b| s + at(a, b));
                    let sum = (1..sh).fold(across(0), |s, a| s + across(a));
                    put(&mut dx[(i * w + j) * c + k], sum, accumulate);
                }
            }
        }
    }
}

/// Keras's `ZeroPadding2D(padding)` over `[h, w, c]` samples (`N` values
/// in, `M` out): zeros added above, below, left and right.
///
/// ```
/// use kiln::layers::{Layer, ZeroPadding2D};
/// // [1, 2, 1] padded by one column on the left.
/// let p = ZeroPadding2D::<2, 3>::new([1, 2, 1], [[0, 0], [1, 0]]);
/// let mut y = [9.0; 3];
/// p.forward_one(&[1.0, 2.0], &mut y);
/// assert_eq!(y, [0.0, 1.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ZeroPadding2D<const N: usize, const M: usize>(Window);

impl<const N: usize, const M: usize> ZeroPadding2D<N, M> {
    /// Pads `shape = [h, w, c]` by `padding = [[top, bottom], [left, right]]`.
    ///
    /// # Panics
    /// If the sizes do not give `N` and `M` (the `model!` macro computes them).
    pub fn new(shape: [usize; 3], padding: [[usize; 2]; 2]) -> Self {
        ZeroPadding2D(padding_window(N, M, shape, padding))
    }
}

/// Keras's `ZeroPadding1D(padding)` over `[steps, c]` samples: zero steps
/// added before and after.
#[derive(Clone, Copy, Debug)]
pub struct ZeroPadding1D<const N: usize, const M: usize>(Window);

impl<const N: usize, const M: usize> ZeroPadding1D<N, M> {
    /// Pads `shape = [steps, c]` by `padding = [before, after]`.
    ///
    /// # Panics
    /// If the sizes do not give `N` and `M` (the `model!` macro computes them).
    pub fn new(shape: [usize; 2], padding: [usize; 2]) -> Self {
        ZeroPadding1D(padding_window(N, M, [shape[0], 1, shape[1]], [padding, [0, 0]]))
    }
}

/// Keras's `Cropping2D(cropping)` over `[h, w, c]` samples: rows removed
/// at the top and bottom, columns at the left and right.
///
/// ```
/// use kiln::layers::{Cropping2D, Layer};
/// // [2, 2, 1] without its first row and last column.
/// let p = Cropping2D::<4, 1>::new([2, 2, 1], [[1, 0], [0, 1]]);
/// let mut y = [0.0; 1];
/// p.forward_one(&[1.0, 2.0, 3.0, 4.0], &mut y);
/// assert_eq!(y, [3.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Cropping2D<const N: usize, const M: usize>(Window);

impl<const N: usize, const M: usize> Cropping2D<N, M> {
    /// Crops `shape = [h, w, c]` by `cropping = [[top, bottom], [left, right]]`.
    ///
    /// # Panics
    /// If the cropping leaves nothing, or the sizes do not give `N` and
    /// `M` (the `model!` macro checks both).
    pub fn new(shape: [usize; 3], cropping: [[usize; 2]; 2]) -> Self {
        Cropping2D(cropping_window(N, M, shape, cropping))
    }
}

/// Keras's `Cropping1D(cropping)` over `[steps, c]` samples: steps removed
/// at the start and the end.
#[derive(Clone, Copy, Debug)]
pub struct Cropping1D<const N: usize, const M: usize>(Window);

impl<const N: usize, const M: usize> Cropping1D<N, M> {
    /// Crops `shape = [steps, c]` by `cropping = [start, end]`.
    ///
    /// # Panics
    /// If the cropping leaves nothing, or the sizes do not give `N` and
    /// `M` (the `model!` macro checks both).
    pub fn new(shape: [usize; 2], cropping: [usize; 2]) -> Self {
        // A width of 1 with no cropping across: only the steps are cropped.
        Cropping1D(cropping_window(N, M, [shape[0], 1, shape[1]], [cropping, [0, 0]]))
    }
}

/// Keras's `UpSampling2D(size, interpolation = "nearest")` over `[h, w, c]`
/// samples: each value repeated `size[0]` times down and `size[1]` across;
/// the input gradient sums its copies'.
///
/// ```
/// use kiln::layers::{Layer, UpSampling2D};
/// let u = UpSampling2D::<2, 8>::new([1, 2, 1], [2, 2]);
/// let mut y = [0.0; 8];
/// u.forward_one(&[1.0, 2.0], &mut y);
/// assert_eq!(y, [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct UpSampling2D<const N: usize, const M: usize>(Repeat);

impl<const N: usize, const M: usize> UpSampling2D<N, M> {
    /// Upsamples `shape = [h, w, c]` by `size = [down, across]`.
    ///
    /// # Panics
    /// If a factor is 0 or the sizes do not give `N` and `M` (the `model!`
    /// macro computes them).
    pub fn new(shape: [usize; 3], size: [usize; 2]) -> Self {
        UpSampling2D(Repeat::new(N, M, shape, size))
    }
}

/// Keras's `UpSampling1D(size)` over `[steps, c]` samples: each step
/// repeated `size` times.
#[derive(Clone, Copy, Debug)]
pub struct UpSampling1D<const N: usize, const M: usize>(Repeat);

impl<const N: usize, const M: usize> UpSampling1D<N, M> {
    /// Upsamples `shape = [steps, c]` by `size`.
    ///
    /// # Panics
    /// If `size` is 0 or the sizes do not give `N` and `M`.
    pub fn new(shape: [usize; 2], size: usize) -> Self {
        UpSampling1D(Repeat::new(N, M, [shape[0], 1, shape[1]], [size, 1]))
    }
}

macro_rules! delegate {
    ($($ty:ident),*) => {$(
        impl<const N: usize, const M: usize> Movement for $ty<N, M> {
            fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
                self.0.forward_sample(x, y);
            }
            fn backward_sample(&self, dy: &[f32], dx: &mut [f32], accumulate: bool) {
                self.0.backward_sample(dy, dx, accumulate);
            }
        }
    )*};
}

delegate!(ZeroPadding2D, ZeroPadding1D, Cropping2D, Cropping1D, UpSampling2D, UpSampling1D);
movement_layer!(ZeroPadding2D, "ZeroPadding2D");
movement_layer!(ZeroPadding1D, "ZeroPadding1D");
movement_layer!(Cropping2D, "Cropping2D");
movement_layer!(Cropping1D, "Cropping1D");
movement_layer!(UpSampling2D, "UpSampling2D");
movement_layer!(UpSampling1D, "UpSampling1D");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{InputGrad, Layer};
    use crate::testing::check_layer_gradients;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut ZeroPadding2D::<12, 40>::new([2, 3, 2], [[1, 2], [0, 1]]), 2);
        check_layer_gradients(&mut ZeroPadding1D::<6, 12>::new([3, 2], [2, 1]), 2);
        check_layer_gradients(&mut Cropping2D::<24, 4>::new([3, 4, 2], [[1, 1], [2, 0]]), 2);
        check_layer_gradients(&mut Cropping1D::<8, 2>::new([4, 2], [2, 1]), 2);
        check_layer_gradients(&mut UpSampling2D::<12, 72>::new([2, 3, 2], [2, 3]), 2);
        check_layer_gradients(&mut UpSampling1D::<6, 18>::new([3, 2], 3), 2);
    }

    #[test]
    fn accumulating_adds_to_the_gradient() {
        let mut crop = Cropping1D::<3, 1>::new([3, 1], [1, 1]);
        let mut dx = [1.0f32; 3];
        let mut dy = [5.0f32];
        let mut ctx = crate::layers::Ctx::new(0);
        let grad = InputGrad { grad: &mut dx, accumulate: true };
        crop.backward(&[0.0; 3], &[0.0], &mut dy, Some(grad), 1, &mut (), &mut ctx);
        assert_eq!(dx, [1.0, 6.0, 1.0]);
        let grad = InputGrad { grad: &mut dx, accumulate: false };
        crop.backward(&[0.0; 3], &[0.0], &mut dy, Some(grad), 1, &mut (), &mut ctx);
        assert_eq!(dx, [0.0, 5.0, 0.0]);
    }
}
