//! Layers that only rearrange values: Keras's `Reshape`, `Permute` and
//! `RepeatVector`. None has parameters; each output value is one input
//! value (or, for `RepeatVector`, one input value is read several times),
//! so the input gradient is the same index mapping run backwards.
//!
//! The per-sample mapping is written once per layer ([`Movement`]) and
//! [`movement_layer!`] turns it into the batched `Layer`: forward and
//! `forward_one` move sample by sample with no temporaries, so the
//! one-sample path allocates nothing.

use super::{Ctx, InputGrad, Layer};

/// One sample's data movement: `x` (`INPUT_LEN` values) → `y`
/// (`OUTPUT_LEN`), and its adjoint `dy` → `dx`.
pub(crate) trait Movement {
    fn forward_sample(&self, x: &[f32], y: &mut [f32]);
    /// Writes (`accumulate == false`) or adds the input gradient of one sample.
    fn backward_sample(&self, dy: &[f32], dx: &mut [f32], accumulate: bool);
}

/// `Layer` for a [`Movement`] type with `N` inputs and `M` outputs per sample.
macro_rules! movement_layer {
    ($ty:ident, $keras:literal) => {
        impl<const N: usize, const M: usize> $crate::layers::Layer for $ty<N, M> {
            type In = f32;
            type Cache = ();
            const INPUT_LEN: usize = N;
            const OUTPUT_LEN: usize = M;

            fn keras_type(&self) -> &'static str {
                $keras
            }

            fn forward(&self, x: &[f32], y: &mut [f32], _: usize, _: &mut (), _: &mut $crate::layers::Ctx) {
                for (xs, ys) in x.chunks_exact(N).zip(y.chunks_exact_mut(M)) {
                    $crate::layers::reshape::Movement::forward_sample(self, xs, ys);
                }
            }

            fn backward(
                &mut self,
                _: &[f32],
                _: &[f32],
                dy: &mut [f32],
                dx: Option<$crate::layers::InputGrad<'_>>,
                _: usize,
                _: &mut (),
                _: &mut $crate::layers::Ctx,
            ) {
                let Some(dx) = dx else { return };
                let accumulate = dx.accumulate;
                for (dys, dxs) in dy.chunks_exact(M).zip(dx.grad.chunks_exact_mut(N)) {
                    $crate::layers::reshape::Movement::backward_sample(self, dys, dxs, accumulate);
                }
            }

            fn forward_one(&self, x: &[f32], y: &mut [f32]) {
                $crate::layers::reshape::Movement::forward_sample(self, &x[..N], &mut y[..M]);
            }
        }
    };
}
pub(crate) use movement_layer;

/// Writes or adds `v` into `g`.
#[inline]
pub(crate) fn put(g: &mut f32, v: f32, accumulate: bool) {
    *g = if accumulate { *g + v } else { v };
}

super::flatten::copy_layer!(
    /// Keras's `Reshape(target_shape)` over `N` values per sample. Buffers
    /// are row-major, so the values do not move: forward and backward copy.
    ///
    /// ```
    /// use kiln::layers::{Layer, Reshape};
    /// let mut y = [0.0; 6];
    /// Reshape::<6>.forward_one(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut y);
    /// assert_eq!(y, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    /// ```
    Reshape,
    "Reshape"
);

/// Keras's `Permute(dims)`: output axis `k` is input axis `dims[k]`
/// (1-based, the batch axis not counted), over `N` values per sample.
///
/// ```
/// use kiln::layers::{Layer, Permute};
/// // [2, 3] → [3, 2]: a transpose.
/// let p = Permute::<6, 6>::new(&[2, 3], &[2, 1]);
/// let mut y = [0.0; 6];
/// p.forward_one(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut y);
/// assert_eq!(y, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Permute<const N: usize, const M: usize> {
    /// The output's shape.
    out_shape: Vec<usize>,
    /// For each output axis, the input's stride along it.
    strides: Vec<usize>,
}

impl<const N: usize, const M: usize> Permute<N, M> {
    /// Permutes a sample of shape `shape` by Keras's 1-based `dims`.
    ///
    /// # Panics
    /// If `dims` is not a permutation of `1..=shape.len()`, or the shape
    /// does not hold `N` values, or `M != N` (the `model!` macro checks
    /// all three before generating the call).
    pub fn new(shape: &[usize], dims: &[usize]) -> Self {
        let mut sorted = dims.to_vec();
        sorted.sort_unstable();
        assert!(
            sorted.iter().copied().eq(1..=shape.len()),
            "Permute dims {dims:?} are not a permutation of 1..={}",
            shape.len()
        );
        assert!(super::checked_product(shape) == Some(N) && M == N, "Permute sizes do not match");
        let mut input_strides = vec![1; shape.len()];
        for axis in (0..shape.len().saturating_sub(1)).rev() {
            input_strides[axis] = input_strides[axis + 1] * shape[axis + 1];
        }
        Permute {
            out_shape: dims.iter().map(|&d| shape[d - 1]).collect(),
            strides: dims.iter().map(|&d| input_strides[d - 1]).collect(),
        }
    }

    /// Calls `f(output index, input index)` for every value of a sample,
    /// output indices in order. Recursive over the axes (no heap).
    fn walk(shape: &[usize], strides: &[usize], base: usize, next: &mut usize, f: &mut impl FnMut(usize, usize)) {
        match (shape, strides) {
            ([len], [stride]) => {
                for i in 0..*len {
                    f(*next, base + i * stride);
                    *next += 1;
                }
            }
            ([len, inner @ ..], [stride, inner_strides @ ..]) => {
                for i in 0..*len {
                    Self::walk(inner, inner_strides, base + i * stride, next, f);
                }
            }
            _ => {}
        }
    }
}

impl<const N: usize, const M: usize> Movement for Permute<N, M> {
    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        Self::walk(&self.out_shape, &self.strides, 0, &mut 0, &mut |o, i| y[o] = x[i]);
    }

    fn backward_sample(&self, dy: &[f32], dx: &mut [f32], accumulate: bool) {
        // A permutation: every input value receives exactly one output's gradient.
        Self::walk(&self.out_shape, &self.strides, 0, &mut 0, &mut |o, i| put(&mut dx[i], dy[o], accumulate));
    }
}

movement_layer!(Permute, "Permute");

/// Keras's `RepeatVector(n)`: a vector of `N` values becomes `n` rows of
/// it (`M = n·N` values per sample); the input gradient sums the rows'.
///
/// ```
/// use kiln::layers::{Layer, RepeatVector};
/// let mut y = [0.0; 6];
/// RepeatVector::<2, 6>::new(3).forward_one(&[1.0, 2.0], &mut y);
/// assert_eq!(y, [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RepeatVector<const N: usize, const M: usize> {
    n: usize,
}

impl<const N: usize, const M: usize> RepeatVector<N, M> {
    /// Repeats a sample `n` times.
    ///
    /// # Panics
    /// If `n · N != M` or `n == 0` (the `model!` macro checks both).
    pub fn new(n: usize) -> Self {
        assert!(n >= 1 && n.checked_mul(N) == Some(M), "RepeatVector sizes do not match");
        RepeatVector { n }
    }
}

impl<const N: usize, const M: usize> Movement for RepeatVector<N, M> {
    fn forward_sample(&self, x: &[f32], y: &mut [f32]) {
        for row in y.chunks_exact_mut(N) {
            row.copy_from_slice(x);
        }
    }

    fn backward_sample(&self, dy: &[f32], dx: &mut [f32], accumulate: bool) {
        // Rows summed in order, as the gradient of TensorFlow's repeat.
        for (i, g) in dx.iter_mut().enumerate() {
            let sum = (1..self.n).fold(dy[i], |acc, r| acc + dy[r * N + i]);
            put(g, sum, accumulate);
        }
    }
}

movement_layer!(RepeatVector, "RepeatVector");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_layer_gradients;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer_gradients(&mut Reshape::<12>, 2);
        check_layer_gradients(&mut Permute::<24, 24>::new(&[2, 3, 4], &[3, 1, 2]), 2);
        check_layer_gradients(&mut Permute::<6, 6>::new(&[6], &[1]), 2);
        check_layer_gradients(&mut RepeatVector::<4, 12>::new(3), 2);
    }

    #[test]
    fn permute_by_hand() {
        // [2, 2, 2] with dims (3, 1, 2): y[a, b, c] = x[b, c, a].
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut y = [0.0; 8];
        Permute::<8, 8>::new(&[2, 2, 2], &[3, 1, 2]).forward_one(&x, &mut y);
        let expected: Vec<f32> =
            (0..8).map(|o| [(o >> 2) & 1, (o >> 1) & 1, o & 1]).map(|[a, b, c]| (b * 4 + c * 2 + a) as f32).collect();
        assert_eq!(y.to_vec(), expected);
    }
}
