//! Convolutions and pooling over one channels-last sample: Keras's
//! `Conv1D`/`Conv2D` and `MaxPooling1D/2D`/`AveragePooling1D/2D`. A 1-D
//! sample `[steps, channels]` is a 2-D one `[1, steps, channels]`, as in
//! kiln's runtime.

use crate::Activation;

/// A sliding window over a channels-last sample `[rows, cols, channels]`
/// (a 1-D layer: `rows = 1`, `size[0] = strides[0] = dilation[0] = 1`):
/// the kernel or pool size, the strides, the dilation, and Keras's
/// `padding` (`same` when `true`, else `valid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Input rows (`1` for a 1-D layer).
    pub rows: usize,
    /// Input columns (a 1-D layer's steps).
    pub cols: usize,
    /// Input channels.
    pub channels: usize,
    /// Window rows and columns (kernel or pool size).
    pub size: [usize; 2],
    /// Steps between windows, per axis.
    pub strides: [usize; 2],
    /// Spacing of the window's taps, per axis (1 for pooling).
    pub dilation: [usize; 2],
    /// `padding = "same"` (`⌈n / stride⌉` outputs, zeros around the input;
    /// TensorFlow's split: half before, the odd one after); else `"valid"`.
    pub same: bool,
}

impl Window {
    /// Outputs along axis `a` (0: rows, 1: columns): Keras's
    /// `compute_conv_output_shape`; 0 when a `valid` window does not fit.
    pub const fn output(&self, a: usize) -> usize {
        let (n, k, s, d) = (self.input(a), self.size[a], self.strides[a], self.dilation[a]);
        if s == 0 || k == 0 {
            return 0;
        }
        let span = d * (k - 1) + 1;
        if self.same {
            n.div_ceil(s)
        } else if n >= span {
            (n - span) / s + 1
        } else {
            0
        }
    }

    const fn input(&self, a: usize) -> usize {
        if a == 0 {
            self.rows
        } else {
            self.cols
        }
    }

    /// Padded positions before the input along axis `a` (TensorFlow's
    /// `SAME`: `⌊total / 2⌋`).
    const fn pad_before(&self, a: usize) -> usize {
        let out = self.output(a);
        if !self.same || out == 0 {
            return 0;
        }
        let needed = (out - 1) * self.strides[a] + self.dilation[a] * (self.size[a] - 1) + 1;
        needed.saturating_sub(self.input(a)) / 2
    }

    /// The input index along axis `a` of output `o`'s tap `t`, `None` in
    /// the padding; `pad` is `pad_before(a)` (computed once per call by
    /// [`Window::check`], not once per tap).
    #[inline]
    fn tap(&self, a: usize, o: usize, t: usize, pad: usize) -> Option<usize> {
        (o * self.strides[a] + t * self.dilation[a]).checked_sub(pad).filter(|&i| i < self.input(a))
    }

    /// Checks the lengths; returns the output's rows and columns and the
    /// padding before each axis.
    fn check(&self, x: &[f32], per_output: usize, y: &[f32], what: &str) -> (usize, usize, [usize; 2]) {
        let (oh, ow) = (self.output(0), self.output(1));
        assert!(x.len() >= self.rows * self.cols * self.channels, "{what}: x shorter than its window's input");
        assert!(y.len() >= oh * ow * per_output, "{what}: y shorter than the output");
        (oh, ow, [self.pad_before(0), self.pad_before(1)])
    }
}

/// Keras's `Conv2D` (and `Conv1D` as a `Conv2D` of one row), channels
/// last: `y[oh, ow, f] = activation(Σ x[ih, iw, c] · kernel[kh, kw, c, f]
/// + bias[f])` over the window's taps inside the input, the activation
/// over each position's `filters` values. `kernel` is Keras's
/// `[kh, kw, channels, filters]` (`Conv1D`: `[k, channels, filters]`, the
/// same values), `y` is `[out_rows, out_cols, filters]`.
///
/// ```
/// use kiln_infer::{conv2d, Activation, Window};
/// // 3×3 input, one channel, one 2×2 filter x[i][j] − x[i+1][j+1], valid.
/// let w = Window { rows: 3, cols: 3, channels: 1, size: [2, 2], strides: [1, 1], dilation: [1, 1], same: false };
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut y = [0.0; 4];
/// conv2d(&x, &w, &[1.0, 0.0, 0.0, -1.0], None, 1, Activation::Linear, &mut y);
/// assert_eq!(y, [-4.0; 4]);
/// ```
///
/// # Panics
/// If `x`, `kernel`, `bias` or `y` is shorter than `window` and `filters` say.
pub fn conv2d(
    x: &[f32],
    window: &Window,
    kernel: &[f32],
    bias: Option<&[f32]>,
    filters: usize,
    activation: Activation,
    y: &mut [f32],
) {
    let (oh, ow, pad) = window.check(x, filters, y, "conv2d");
    let (c, [kh, kw]) = (window.channels, window.size);
    assert!(kernel.len() >= kh * kw * c * filters, "conv2d: kernel shorter than [kh, kw, channels, filters]");
    assert!(bias.is_none_or(|b| b.len() >= filters), "conv2d: bias shorter than filters");
    let y = &mut y[..oh * ow * filters];
    for (position, out) in y.chunks_exact_mut(filters).enumerate() {
        let (o_row, o_col) = (position / ow, position % ow);
        out.fill(0.0);
        for t_row in 0..kh {
            let Some(i_row) = window.tap(0, o_row, t_row, pad[0]) else { continue };
            for t_col in 0..kw {
                let Some(i_col) = window.tap(1, o_col, t_col, pad[1]) else { continue };
                let pixel = &x[(i_row * window.cols + i_col) * c..][..c];
                let taps = &kernel[(t_row * kw + t_col) * c * filters..][..c * filters];
                for (&v, row) in pixel.iter().zip(taps.chunks_exact(filters)) {
                    out.iter_mut().zip(row).for_each(|(o, w)| *o += v * w);
                }
            }
        }
        if let Some(b) = bias {
            out.iter_mut().zip(b).for_each(|(o, b)| *o += b);
        }
    }
    activation.apply(y, filters);
}

/// Maximum or average of a pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// `MaxPooling*`: the window's first maximum in row-major order; a NaN
    /// in the window makes it NaN (as kiln's runtime, which never hides a
    /// NaN; TensorFlow's CPU kernel skips it).
    Max,
    /// `AveragePooling*`: the mean of the window's values inside the input
    /// (padded positions are not counted, as `tf.nn.avg_pool`).
    Average,
}

/// Keras's `MaxPooling2D`/`AveragePooling2D` (and the 1-D ones as one
/// row), channels last: `y` is `[out_rows, out_cols, channels]`; each
/// channel pooled over the window's positions inside the input.
///
/// ```
/// use kiln_infer::{pool2d, Pool, Window};
/// let w = Window { rows: 2, cols: 4, channels: 1, size: [2, 2], strides: [2, 2], dilation: [1, 1], same: false };
/// let mut y = [0.0; 2];
/// pool2d(&[1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 8.0, 6.0], &w, Pool::Max, &mut y);
/// assert_eq!(y, [5.0, 8.0]);
/// pool2d(&[1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 8.0, 6.0], &w, Pool::Average, &mut y);
/// assert_eq!(y, [3.25, 4.0]);
/// ```
///
/// # Panics
/// If `x` or `y` is shorter than `window` says.
pub fn pool2d(x: &[f32], window: &Window, pool: Pool, y: &mut [f32]) {
    let c = window.channels;
    let (oh, ow, pad) = window.check(x, c, y, "pool2d");
    for (position, out) in y[..oh * ow * c].chunks_exact_mut(c).enumerate() {
        let (o_row, o_col) = (position / ow, position % ow);
        let mut count = 0usize;
        for t_row in 0..window.size[0] {
            let Some(i_row) = window.tap(0, o_row, t_row, pad[0]) else { continue };
            for t_col in 0..window.size[1] {
                let Some(i_col) = window.tap(1, o_col, t_col, pad[1]) else { continue };
                let pixel = &x[(i_row * window.cols + i_col) * c..][..c];
                if count == 0 {
                    out.copy_from_slice(pixel);
                } else {
                    match pool {
                        Pool::Average => out.iter_mut().zip(pixel).for_each(|(o, v)| *o += v),
                        // `v` wins when greater, or NaN over a number (the first NaN stays).
                        Pool::Max => out.iter_mut().zip(pixel).for_each(|(o, &v)| {
                            if v > *o || (v.is_nan() && !o.is_nan()) {
                                *o = v;
                            }
                        }),
                    }
                }
                count += 1;
            }
        }
        if pool == Pool::Average {
            let count = count as f32;
            out.iter_mut().for_each(|o| *o /= count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(rows: usize, cols: usize, channels: usize, size: [usize; 2], strides: [usize; 2], same: bool) -> Window {
        Window { rows, cols, channels, size, strides, dilation: [1, 1], same }
    }

    /// TensorFlow's `SAME` split: `total = (out − 1)·s + d·(k − 1) + 1 − n`,
    /// half before (rounded down).
    #[test]
    fn same_padding_follows_tensorflow() {
        // k = 4, s = 1, n = 5: 3 padded, 1 before.
        assert_eq!(window(1, 5, 1, [1, 4], [1, 1], true).pad_before(1), 1);
        // n = 6, k = 3, s = 2: out 3 needs 7, the one padded value after.
        let w = window(1, 6, 1, [1, 3], [1, 2], true);
        assert_eq!((w.output(1), w.pad_before(1)), (3, 0));
        let w = window(1, 7, 1, [1, 3], [1, 2], true);
        assert_eq!((w.output(1), w.pad_before(1)), (4, 1));
        // valid: ⌊(n − d(k − 1) − 1)/s⌋ + 1, 0 when the window does not fit.
        let w = Window { dilation: [1, 2], ..window(1, 9, 1, [1, 3], [1, 2], false) };
        assert_eq!(w.output(1), 3);
        assert_eq!(window(1, 2, 1, [1, 3], [1, 1], false).output(1), 0);
    }

    /// A 3×3 `same` convolution of a 2×2 input, by hand: every output sees
    /// the taps that land inside the input.
    #[test]
    fn same_convolution_skips_the_padding() {
        let w = window(2, 2, 1, [3, 3], [1, 1], true);
        // Kernel value = 10·row + col + 1 of the tap, bias 0.5.
        let kernel: [f32; 9] = core::array::from_fn(|i| (10 * (i / 3) + i % 3 + 1) as f32);
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = [0.0; 4];
        conv2d(&x, &w, &kernel, Some(&[0.5]), 1, Activation::Linear, &mut y);
        // Output (0,0): pad 1 before, so taps (1,1),(1,2),(2,1),(2,2) hit x[0..4].
        let k = |r: usize, c: usize| kernel[r * 3 + c];
        let expect = [
            k(1, 1) * 1.0 + k(1, 2) * 2.0 + k(2, 1) * 3.0 + k(2, 2) * 4.0 + 0.5,
            k(1, 0) * 1.0 + k(1, 1) * 2.0 + k(2, 0) * 3.0 + k(2, 1) * 4.0 + 0.5,
            k(0, 1) * 1.0 + k(0, 2) * 2.0 + k(1, 1) * 3.0 + k(1, 2) * 4.0 + 0.5,
            k(0, 0) * 1.0 + k(0, 1) * 2.0 + k(1, 0) * 3.0 + k(1, 1) * 4.0 + 0.5,
        ];
        assert_eq!(y, expect);
    }

    /// Two channels in, two filters out, stride 2 and dilation on a 1-D
    /// sample: `y[o, f] = Σ_t Σ_c x[2o + 2t, c] · K[t, c, f]`.
    #[test]
    fn strided_dilated_multichannel_convolution() {
        let w = Window { rows: 1, cols: 7, channels: 2, size: [1, 2], strides: [1, 2], dilation: [1, 2], same: false };
        assert_eq!(w.output(1), 3);
        let x: [f32; 14] = core::array::from_fn(|i| i as f32 - 4.0);
        let kernel = [1.0, -1.0, 0.5, 2.0, -2.0, 0.25, 3.0, 1.0]; // [t][c][f]
        let mut y = [0.0; 6];
        conv2d(&x, &w, &kernel, None, 2, Activation::Relu, &mut y);
        for o in 0..3 {
            for f in 0..2 {
                let mut s = 0.0f32;
                for t in 0..2 {
                    for c in 0..2 {
                        s += x[(2 * o + 2 * t) * 2 + c] * kernel[(t * 2 + c) * 2 + f];
                    }
                }
                assert_eq!(y[o * 2 + f], s.max(0.0), "o {o} f {f}");
            }
        }
    }

    /// `same` pooling: the average divides by the positions inside the
    /// input; the maximum ignores the padding (all values negative here)
    /// and keeps a NaN.
    #[test]
    fn same_pooling_counts_only_real_positions() {
        let w = window(1, 3, 1, [1, 2], [1, 2], true); // out 2: [x0, x1], [x2]
        let x = [-1.0, -3.0, -5.0];
        let mut y = [0.0; 2];
        pool2d(&x, &w, Pool::Average, &mut y);
        assert_eq!(y, [-2.0, -5.0]);
        pool2d(&x, &w, Pool::Max, &mut y);
        assert_eq!(y, [-1.0, -5.0]);
        pool2d(&[-1.0, f32::NAN, 4.0], &w, Pool::Max, &mut y);
        assert!(y[0].is_nan() && y[1] == 4.0);
    }
}
