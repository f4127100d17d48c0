//! Merge layers: `Concatenate` and the element-wise `Add`, `Subtract`,
//! `Multiply`, `Average`, `Maximum`, `Minimum` (Keras's merging layers).
//! They read several tensors, have no weights, and implement [`Merge`].

use super::InputGrad;
use crate::sample::Element;
use std::marker::PhantomData;

/// A layer reading several tensors (`xs[i]` holds `batch × input_len(i)` values).
pub trait Merge {
    /// Element type of inputs and output (`u32` ids can be concatenated).
    type Elem: Element;
    /// Values per sample written.
    const OUTPUT_LEN: usize;

    /// Keras's class name.
    fn keras_type(&self) -> &'static str;

    /// `y = merge(xs)` for `batch` samples.
    fn forward(&self, xs: &[&[Self::Elem]], y: &mut [Self::Elem], batch: usize);

    /// Writes (or adds, per [`InputGrad::accumulate`]) `∂L/∂xs[i]` into
    /// `dxs[i]` where asked, given `dy = ∂L/∂y`.
    fn backward(
        &self,
        xs: &[&[Self::Elem]],
        y: &[Self::Elem],
        dy: &[f32],
        dxs: &mut [Option<InputGrad<'_>>],
        batch: usize,
    );
}

/// Keras's `Concatenate`: each sample is `outer` blocks, and block `o` of
/// the output is block `o` of every input in turn (`widths[i]` values each).
///
/// ```
/// use kiln::layers::{Concatenate, Merge};
/// // [2, 1] and [2, 2] along the last axis → [2, 3]
/// let cat = Concatenate::<u32, 6>::new(2, vec![1, 2]);
/// let mut y = [0u32; 6];
/// cat.forward(&[&[1, 2], &[3, 4, 5, 6]], &mut y, 1);
/// assert_eq!(y, [1, 3, 4, 2, 5, 6]);
/// ```
#[derive(Clone, Debug)]
pub struct Concatenate<E: Element, const N: usize> {
    outer: usize,
    widths: Vec<usize>,
    elem: PhantomData<E>,
}

impl<E: Element, const N: usize> Concatenate<E, N> {
    /// Concatenation of inputs whose samples are `outer × widths[i]`.
    ///
    /// # Panics
    /// If the sizes do not add up to `N`.
    pub fn new(outer: usize, widths: Vec<usize>) -> Self {
        assert_eq!(outer * widths.iter().sum::<usize>(), N, "concatenation sizes do not add up");
        Concatenate { outer, widths, elem: PhantomData }
    }

    /// Values per sample of input `i`.
    pub fn input_len(&self, i: usize) -> usize {
        self.outer * self.widths[i]
    }
}

impl<E: Element, const N: usize> Merge for Concatenate<E, N> {
    type Elem = E;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        "Concatenate"
    }

    fn forward(&self, xs: &[&[E]], y: &mut [E], batch: usize) {
        let mut out = y.iter_mut();
        for s in 0..batch * self.outer {
            for (x, &w) in xs.iter().zip(&self.widths) {
                // The source drives the zip, so no output slot is skipped.
                for (src, dst) in x[s * w..(s + 1) * w].iter().zip(&mut out) {
                    *dst = *src;
                }
            }
        }
    }

    fn backward(&self, _: &[&[E]], _: &[E], dy: &[f32], dxs: &mut [Option<InputGrad<'_>>], batch: usize) {
        let total: usize = self.widths.iter().sum();
        let mut offset = 0;
        for (dx, &w) in dxs.iter_mut().zip(&self.widths) {
            if let Some(dx) = dx {
                for s in 0..batch * self.outer {
                    let src = &dy[s * total + offset..s * total + offset + w];
                    let dst = &mut dx.grad[s * w..(s + 1) * w];
                    if dx.accumulate {
                        dst.iter_mut().zip(src).for_each(|(d, v)| *d += v);
                    } else {
                        dst.copy_from_slice(src);
                    }
                }
            }
            offset += w;
        }
    }
}

/// Which element-wise merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOp {
    /// `Σ xs`.
    Add,
    /// `xs[0] − xs[1]` (exactly two inputs).
    Subtract,
    /// `Π xs`.
    Multiply,
    /// `Σ xs / n`.
    Average,
    /// Element-wise maximum; the gradient goes to the first input attaining it.
    Maximum,
    /// Element-wise minimum; the gradient goes to the first input attaining it.
    Minimum,
}

/// Keras's `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`
/// over inputs of `N` values per sample.
///
/// ```
/// use kiln::layers::{ElementWise, Merge, MergeOp};
/// let mut y = [0.0; 2];
/// ElementWise::<2>::new(MergeOp::Subtract).forward(&[&[5.0, 1.0], &[2.0, 3.0]], &mut y, 1);
/// assert_eq!(y, [3.0, -2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ElementWise<const N: usize> {
    op: MergeOp,
}

impl<const N: usize> ElementWise<N> {
    /// The merge `op`.
    pub fn new(op: MergeOp) -> Self {
        ElementWise { op }
    }

    /// Index of the input that attains the extremum at `j` (the first on ties).
    fn winner(&self, xs: &[&[f32]], j: usize) -> usize {
        let mut best = 0;
        for (i, x) in xs.iter().enumerate().skip(1) {
            let better = if self.op == MergeOp::Maximum { x[j] > xs[best][j] } else { x[j] < xs[best][j] };
            if better {
                best = i;
            }
        }
        best
    }
}

impl<const N: usize> Merge for ElementWise<N> {
    type Elem = f32;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        match self.op {
            MergeOp::Add => "Add",
            MergeOp::Subtract => "Subtract",
            MergeOp::Multiply => "Multiply",
            MergeOp::Average => "Average",
            MergeOp::Maximum => "Maximum",
            MergeOp::Minimum => "Minimum",
        }
    }

    fn forward(&self, xs: &[&[f32]], y: &mut [f32], batch: usize) {
        let len = batch * N;
        y[..len].copy_from_slice(&xs[0][..len]);
        for x in &xs[1..] {
            let x = &x[..len];
            match self.op {
                MergeOp::Add | MergeOp::Average => y.iter_mut().zip(x).for_each(|(a, b)| *a += b),
                MergeOp::Subtract => y.iter_mut().zip(x).for_each(|(a, b)| *a -= b),
                MergeOp::Multiply => y.iter_mut().zip(x).for_each(|(a, b)| *a *= b),
                MergeOp::Maximum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.max(*b)),
                MergeOp::Minimum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.min(*b)),
            }
        }
        if self.op == MergeOp::Average {
            let n = xs.len() as f32;
            y[..len].iter_mut().for_each(|v| *v /= n);
        }
    }

    fn backward(&self, xs: &[&[f32]], _: &[f32], dy: &[f32], dxs: &mut [Option<InputGrad<'_>>], batch: usize) {
        let n = xs.len();
        for (i, dx) in dxs.iter_mut().enumerate() {
            let Some(dx) = dx else { continue };
            for j in 0..batch * N {
                let g = match self.op {
                    MergeOp::Add => dy[j],
                    MergeOp::Average => dy[j] / n as f32,
                    MergeOp::Subtract if i == 0 => dy[j],
                    MergeOp::Subtract => -dy[j],
                    MergeOp::Multiply => dy[j] * (0..n).filter(|&k| k != i).map(|k| xs[k][j]).product::<f32>(),
                    MergeOp::Maximum | MergeOp::Minimum if self.winner(xs, j) == i => dy[j],
                    MergeOp::Maximum | MergeOp::Minimum => 0.0,
                };
                let d = &mut dx.grad[j];
                *d = if dx.accumulate { *d + g } else { g };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{compare_with_finite_differences, probe_grad, probe_loss, test_values};

    /// Checks every input's gradient of `merge` against finite differences.
    fn check<M: Merge<Elem = f32>>(merge: &M, lens: &[usize], batch: usize) {
        let inputs: Vec<Vec<f32>> =
            lens.iter().enumerate().map(|(i, &l)| test_values(batch * l, i as u64 + 3)).collect();
        let loss = |inputs: &[Vec<f32>]| {
            let xs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
            let mut y = vec![0.0; batch * M::OUTPUT_LEN];
            merge.forward(&xs, &mut y, batch);
            (probe_loss(&y), y)
        };
        let (_, y) = loss(&inputs);
        let mut dy = vec![0.0; y.len()];
        probe_grad(&y, &mut dy);
        let mut grads: Vec<Vec<f32>> = inputs.iter().map(|v| vec![7.0; v.len()]).collect();
        {
            let xs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
            let mut dxs: Vec<Option<InputGrad<'_>>> =
                grads.iter_mut().map(|g| Some(InputGrad { grad: g, accumulate: false })).collect();
            merge.backward(&xs, &y, &dy, &mut dxs, batch);
        }
        for i in 0..inputs.len() {
            let mut probe = inputs[i].clone();
            let result = compare_with_finite_differences(&mut probe, &grads[i], |v| {
                let mut changed = inputs.clone();
                changed[i] = v.to_vec();
                loss(&changed).0
            });
            if let Err(e) = result {
                panic!("{} input {i}: {e}", merge.keras_type());
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for op in [MergeOp::Add, MergeOp::Multiply, MergeOp::Average, MergeOp::Maximum, MergeOp::Minimum] {
            check(&ElementWise::<6>::new(op), &[6, 6, 6], 2);
        }
        check(&ElementWise::<6>::new(MergeOp::Subtract), &[6, 6], 2);
        check(&Concatenate::<f32, 15>::new(3, vec![2, 3]), &[6, 9], 2);
    }
}
