//! Reductions over one axis (`tf.reduce_sum` / `reduce_mean` /
//! `reduce_max`, which Keras models wrap in a `Lambda`).
//!
//! A sample of shape `[outer…, axis, inner…]` is viewed as
//! `outer × axis × inner`; the output is `outer × inner`.

use super::{Ctx, InputGrad, Layer};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Sum over the axis.
    Sum,
    /// Mean over the axis.
    Mean,
    /// Maximum over the axis; the gradient is shared equally by tied maxima (as in TensorFlow).
    Max,
}

/// A reduction of `N` values per sample to `M`.
///
/// ```
/// use kiln::layers::{Layer, Reduce, ReduceOp};
/// // [3, 2] summed over its first axis → [2]
/// let r = Reduce::<6, 2>::new(ReduceOp::Sum, 1, 3, 2);
/// let mut y = [0.0; 2];
/// r.forward_one(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut y);
/// assert_eq!(y, [9.0, 12.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Reduce<const N: usize, const M: usize> {
    op: ReduceOp,
    axis: usize,
    inner: usize,
}

impl<const N: usize, const M: usize> Reduce<N, M> {
    /// Reduces the middle axis of an `outer × axis × inner` sample.
    ///
    /// # Panics
    /// When [`Reduce::try_new`] returns an error.
    pub fn new(op: ReduceOp, outer: usize, axis: usize, inner: usize) -> Self {
        Self::try_new(op, outer, axis, inner).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Reduce::new`], with an error rather than a panic.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `axis` when `axis` is 0,
    /// `outer · axis · inner ≠ N` (also when the product overflows) or
    /// `outer · inner ≠ M`.
    pub fn try_new(op: ReduceOp, outer: usize, axis: usize, inner: usize) -> crate::Result<Self> {
        super::check_split("axis", "axis", [outer, axis, inner], N)?;
        // Cannot overflow: at most `outer · axis · inner`, which did not.
        if outer * inner != M {
            return Err(crate::Error::InvalidArgument {
                name: "axis",
                reason: format!("outer {outer} × inner {inner} must be the output's {M} values"),
            });
        }
        Ok(Reduce { op, axis, inner })
    }

    fn sample_forward(&self, x: &[f32], y: &mut [f32]) {
        let (a, inner) = (self.axis, self.inner);
        for (xo, yo) in x.chunks_exact(a * inner).zip(y.chunks_exact_mut(inner)) {
            yo.copy_from_slice(&xo[..inner]);
            for row in xo.chunks_exact(inner).skip(1) {
                for (acc, &v) in yo.iter_mut().zip(row) {
                    *acc = if self.op == ReduceOp::Max { acc.max(v) } else { *acc + v };
                }
            }
            if self.op == ReduceOp::Mean {
                yo.iter_mut().for_each(|v| *v /= a as f32);
            }
        }
    }
}

impl<const N: usize, const M: usize> Layer for Reduce<N, M> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = M;

    fn keras_type(&self) -> &'static str {
        "Lambda"
    }

    fn forward(&self, x: &[f32], y: &mut [f32], _: usize, _: &mut (), _: &mut Ctx) {
        self.sample_forward(x, y);
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        _: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        let Some(dx) = dx else { return };
        let (a, inner) = (self.axis, self.inner);
        let groups = x.chunks_exact(a * inner).zip(dx.grad.chunks_exact_mut(a * inner));
        for ((xo, go), (yo, dyo)) in groups.zip(y.chunks_exact(inner).zip(dy.chunks_exact(inner))) {
            for j in 0..inner {
                let ties =
                    if self.op == ReduceOp::Max { (0..a).filter(|&k| xo[k * inner + j] == yo[j]).count() } else { 0 };
                for k in 0..a {
                    let share = match self.op {
                        ReduceOp::Sum => dyo[j],
                        ReduceOp::Mean => dyo[j] / a as f32,
                        ReduceOp::Max if xo[k * inner + j] == yo[j] => dyo[j] / ties as f32,
                        ReduceOp::Max => 0.0,
                    };
                    let g = &mut go[k * inner + j];
                    *g = if dx.accumulate { *g + share } else { share };
                }
            }
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.sample_forward(x, y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_layer_gradients;

    #[test]
    fn gradients_match_finite_differences() {
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
            check_layer_gradients(&mut Reduce::<24, 8>::new(op, 2, 3, 4), 2);
            check_layer_gradients(&mut Reduce::<12, 4>::new(op, 1, 3, 4), 1);
            check_layer_gradients(&mut Reduce::<12, 3>::new(op, 3, 4, 1), 2);
        }
    }

    #[test]
    fn max_and_mean_by_hand() {
        let x = [1.0, 5.0, 3.0, 2.0, 4.0, 0.0];
        let mut y = [0.0; 2];
        Reduce::<6, 2>::new(ReduceOp::Max, 1, 3, 2).forward_one(&x, &mut y);
        assert_eq!(y, [4.0, 5.0]);
        Reduce::<6, 2>::new(ReduceOp::Mean, 2, 3, 1).forward_one(&x, &mut y);
        assert_eq!(y, [3.0, 2.0]);
    }
}
