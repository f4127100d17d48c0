//! `DepthwiseConv1D/2D` and `SeparableConv1D/2D` (channels last).
//!
//! A depthwise convolution filters each input channel on its own with
//! `M` (`depth_multiplier`) kernels: output channel `c·M + m` is input
//! channel `c` convolved with kernel `[:, :, c, m]` (TensorFlow's order),
//! `y = activation(depthwise(x, K) + b)`. The kernel has Keras's layout
//! `[kh, kw, in, M]` (1D: `[k, in, M]`) and Keras 3 calls it `kernel`.
//!
//! A separable convolution is a depthwise convolution (no bias) followed
//! by a 1×1 convolution of its `in·M` channels into `F` filters — a plain
//! matrix product, done by the shared SGEMM — then the bias and the
//! activation. Keras's weights: `depthwise_kernel` `[kh, kw, in, M]`,
//! `pointwise_kernel` `[1, 1, in·M, F]` (1D: `[1, in·M, F]`), `bias` `[F]`.
//!
//! Geometry (output lengths, `same` padding split, strides with dilation)
//! is [`Conv`]'s: the same types are instantiated for the index
//! arithmetic. Unlike `Conv2D`, Keras allows `strides > 1` together with
//! `dilation_rate > 1` here (it subsamples the stride-1 dilated output,
//! which is what reading input `o·s + k·d − pad` computes).

use super::conv::Conv;
use super::{ensure_len, Ctx, InputGrad, Layer};
use crate::activations::Activation;
use crate::gemm::{add_row_vector, axpy, column_sums_into, sgemm, small_gemm, Mat};
use crate::initializers::Initializer;
use crate::param::Param;
use rand::Rng;

/// Keras's `DepthwiseConv1D/2D` arguments that are not sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthwiseConfig {
    /// Applied to `depthwise(x, K) + b`; default `linear`.
    pub activation: Activation,
    /// Whether the layer has a bias; default `true`.
    pub use_bias: bool,
    /// Default `glorot_uniform` (fans `kh·kw·in` and `kh·kw·M`, Keras's for `[kh, kw, in, M]`).
    pub depthwise_initializer: Initializer,
    /// Default `zeros`.
    pub bias_initializer: Initializer,
}

impl Default for DepthwiseConfig {
    fn default() -> Self {
        DepthwiseConfig {
            activation: Activation::Linear,
            use_bias: true,
            depthwise_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
        }
    }
}

/// Keras's `SeparableConv1D/2D` arguments that are not sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeparableConfig {
    /// Applied to `pointwise(depthwise(x)) + b`; default `linear`.
    pub activation: Activation,
    /// Whether the layer has a bias; default `true`.
    pub use_bias: bool,
    /// Default `glorot_uniform`.
    pub depthwise_initializer: Initializer,
    /// Default `glorot_uniform` (fans `in·M` and `F`).
    pub pointwise_initializer: Initializer,
    /// Default `zeros`.
    pub bias_initializer: Initializer,
}

impl Default for SeparableConfig {
    fn default() -> Self {
        SeparableConfig {
            activation: Activation::Linear,
            use_bias: true,
            depthwise_initializer: Initializer::GlorotUniform,
            pointwise_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
        }
    }
}

/// Keras's `DepthwiseConv2D` (channels last): input `[H, W, C]`, `M`
/// kernels of `KH × KW` per channel (output `[OUT_H, OUT_W, C·M]`),
/// strides `SH × SW`, dilation `DH × DW`, `padding = "same"` when `SAME`.
pub type DepthwiseConv2d<
    const H: usize,
    const W: usize,
    const C: usize,
    const M: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
> = Depthwise<2, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>;

/// Keras's `DepthwiseConv1D` (channels last): input `[L, C]`, `M` kernels
/// of length `K` per channel, stride `S`, dilation `D`.
pub type DepthwiseConv1d<
    const L: usize,
    const C: usize,
    const M: usize,
    const K: usize,
    const S: usize,
    const D: usize,
    const SAME: bool,
> = Depthwise<1, 1, L, C, M, 1, K, 1, S, 1, D, SAME>;

/// Keras's `SeparableConv2D` (channels last): input `[H, W, C]`,
/// depthwise `KH × KW` with multiplier `M`, then `F` pointwise filters.
pub type SeparableConv2d<
    const H: usize,
    const W: usize,
    const C: usize,
    const M: usize,
    const F: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
> = Separable<2, H, W, C, M, F, KH, KW, SH, SW, DH, DW, SAME>;

/// Keras's `SeparableConv1D` (channels last): input `[L, C]`, depthwise
/// length `K` with multiplier `M`, then `F` pointwise filters.
pub type SeparableConv1d<
    const L: usize,
    const C: usize,
    const M: usize,
    const F: usize,
    const K: usize,
    const S: usize,
    const D: usize,
    const SAME: bool,
> = Separable<1, 1, L, C, M, F, 1, K, 1, S, 1, D, SAME>;

/// The depthwise arithmetic of one geometry, shared by both layers.
struct Geometry<
    const RANK: usize,
    const H: usize,
    const W: usize,
    const C: usize,
    const M: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
>;

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const M: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Geometry<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>
{
    const OUT_H: usize = Conv::<RANK, H, W, C, 1, KH, KW, SH, SW, DH, DW, SAME>::OUT_H;
    const OUT_W: usize = Conv::<RANK, H, W, C, 1, KH, KW, SH, SW, DH, DW, SAME>::OUT_W;
    const POSITIONS: usize = Self::OUT_H * Self::OUT_W;
    /// Depthwise output channels, `C·M`.
    const CM: usize = C * M;
    const VALID: () = {
        assert!(RANK == 1 || RANK == 2, "Depthwise: RANK must be 1 or 2");
        assert!(RANK == 2 || (H == 1 && KH == 1 && SH == 1 && DH == 1), "Depthwise 1D: the height axis must be 1");
        assert!(
            KH >= 1 && KW >= 1 && SH >= 1 && SW >= 1 && DH >= 1 && DW >= 1 && M >= 1,
            "Depthwise: sizes must be at least 1"
        );
    };

    #[inline(always)]
    fn in_row(o: usize, k: usize) -> Option<usize> {
        Conv::<RANK, H, W, C, 1, KH, KW, SH, SW, DH, DW, SAME>::in_row(o, k)
    }

    #[inline(always)]
    fn in_col(o: usize, k: usize) -> Option<usize> {
        Conv::<RANK, H, W, C, 1, KH, KW, SH, SW, DH, DW, SAME>::in_col(o, k)
    }

    /// `[KH, KW, C, M]`, or `[KW, C, M]` in 1D.
    fn kernel_shape() -> Vec<usize> {
        if RANK == 1 {
            vec![KW, C, M]
        } else {
            vec![KH, KW, C, M]
        }
    }

    /// The `C·M` depthwise outputs of output position `position` of one
    /// sample `xs`, written over `out`.
    #[inline(always)]
    fn position(kernel: &[f32], xs: &[f32], position: usize, out: &mut [f32]) {
        let (oh, ow) = (position / Self::OUT_W, position % Self::OUT_W);
        out.fill(0.0);
        for kh in 0..KH {
            let Some(ih) = Self::in_row(oh, kh) else { continue };
            for kw in 0..KW {
                let Some(iw) = Self::in_col(ow, kw) else { continue };
                let xp = &xs[(ih * W + iw) * C..][..C];
                let kp = &kernel[(kh * KW + kw) * Self::CM..][..Self::CM];
                if M == 1 {
                    for ((o, &x), &k) in out.iter_mut().zip(xp).zip(kp) {
                        *o += x * k;
                    }
                } else {
                    for ((o, k), &x) in out.chunks_exact_mut(M).zip(kp.chunks_exact(M)).zip(xp) {
                        o.iter_mut().zip(k).for_each(|(o, k)| *o += x * k);
                    }
                }
            }
        }
    }

    /// Depthwise output channel `cm` (`c·M + m`) at one output position,
    /// alone (the path of `forward_one` without a stack buffer).
    #[inline(always)]
    fn single(kernel: &[f32], xs: &[f32], position: usize, cm: usize) -> f32 {
        let (oh, ow) = (position / Self::OUT_W, position % Self::OUT_W);
        let c = cm / M;
        let mut sum = 0.0;
        for kh in 0..KH {
            let Some(ih) = Self::in_row(oh, kh) else { continue };
            for kw in 0..KW {
                let Some(iw) = Self::in_col(ow, kw) else { continue };
                sum += xs[(ih * W + iw) * C + c] * kernel[(kh * KW + kw) * Self::CM + cm];
            }
        }
        sum
    }

    /// `ys = depthwise(xs, kernel)` for `samples` samples (overwrites).
    fn forward(kernel: &[f32], x: &[f32], y: &mut [f32], samples: usize) {
        crate::simd::dispatch(|| {
            let per_sample = Self::POSITIONS * Self::CM;
            for (xs, ys) in x.chunks_exact(H * W * C).zip(y.chunks_exact_mut(per_sample)).take(samples) {
                for (p, out) in ys.chunks_exact_mut(Self::CM).enumerate() {
                    Self::position(kernel, xs, p, out);
                }
            }
        })
    }

    /// Given `dz` for the depthwise outputs: `dkernel += Σ x·dz`, and
    /// `dx += Σ_m K·dz` onto the input positions read (when asked).
    fn backward(
        kernel: &[f32],
        dkernel: &mut [f32],
        x: &[f32],
        dz: &[f32],
        mut dx: Option<&mut [f32]>,
        samples: usize,
    ) {
        let (input_len, cm) = (H * W * C, Self::CM);
        crate::simd::dispatch(|| {
            for s in 0..samples {
                let xs = &x[s * input_len..][..input_len];
                for p in 0..Self::POSITIONS {
                    let (oh, ow) = (p / Self::OUT_W, p % Self::OUT_W);
                    let dzp = &dz[(s * Self::POSITIONS + p) * cm..][..cm];
                    for kh in 0..KH {
                        let Some(ih) = Self::in_row(oh, kh) else { continue };
                        for kw in 0..KW {
                            let Some(iw) = Self::in_col(ow, kw) else { continue };
                            let at = (ih * W + iw) * C;
                            let tap = (kh * KW + kw) * cm;
                            let xp = &xs[at..][..C];
                            let dkp = &mut dkernel[tap..][..cm];
                            for ((dk, d), &xv) in dkp.chunks_exact_mut(M).zip(dzp.chunks_exact(M)).zip(xp) {
                                dk.iter_mut().zip(d).for_each(|(dk, d)| *dk += xv * d);
                            }
                            if let Some(dx) = dx.as_deref_mut() {
                                let kp = &kernel[tap..][..cm];
                                let dxp = &mut dx[s * input_len + at..][..C];
                                for ((g, k), d) in dxp.iter_mut().zip(kp.chunks_exact(M)).zip(dzp.chunks_exact(M)) {
                                    *g += k.iter().zip(d).map(|(k, d)| k * d).sum::<f32>();
                                }
                            }
                        }
                    }
                }
            }
        })
    }
}

/// Largest block of depthwise values `SeparableConv`'s `forward_one`
/// keeps on the stack (16 KB); a position with more channels takes the
/// path without the buffer.
const MID_STACK: usize = 4096;

/// A depthwise convolution over `[H, W, C]` samples (see
/// [`DepthwiseConv2d`], [`DepthwiseConv1d`]).
///
/// ```
/// use kiln::layers::{DepthwiseConv2d, DepthwiseConfig, Layer};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// // 2×2 input with 2 channels, a 2×2 kernel per channel, valid → 1×1×2.
/// let mut dw = DepthwiseConv2d::<2, 2, 2, 1, 2, 2, 1, 1, 1, 1, false>::new(DepthwiseConfig::default(), &mut rng);
/// // Channel 0 sums its window, channel 1 takes its top-left value.
/// dw.kernel.value.copy_from_slice(&[1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
/// let mut y = [0.0; 2];
/// dw.forward_one(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0], &mut y);
/// assert_eq!(y, [10.0, 10.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Depthwise<
    const RANK: usize,
    const H: usize,
    const W: usize,
    const C: usize,
    const M: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
> {
    /// `[KH, KW, C, M]` (1D: `[KW, C, M]`), Keras's `kernel`.
    pub kernel: Param,
    /// `[C·M]`, absent when `use_bias = false`.
    pub bias: Option<Param>,
    /// The fused activation, over each position's `C·M` channels.
    pub activation: Activation,
}

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const M: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Depthwise<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>
{
    /// Output height.
    pub const OUT_H: usize = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::OUT_H;
    /// Output width.
    pub const OUT_W: usize = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::OUT_W;

    /// A layer initialized as `config` says, drawing from `rng` (kernel,
    /// then bias, as Keras builds them).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `depthwise_initializer` or
    /// (with `use_bias`) `bias_initializer` when that initializer's
    /// arguments are invalid ([`Initializer::check`]: an empty uniform
    /// range, a non-finite constant, …) or cannot fill the weight's dimensions
    /// (orthogonal needs 2 or more, identity exactly 2); nothing is drawn then.
    pub fn try_new(config: DepthwiseConfig, rng: &mut impl Rng) -> crate::Result<Self> {
        #[allow(clippy::let_unit_value)]
        let () = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::VALID;
        let shape = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::kernel_shape();
        config.depthwise_initializer.check_as("depthwise_initializer", &shape)?;
        if config.use_bias {
            config.bias_initializer.check_as("bias_initializer", &[C * M])?;
        }
        let mut kernel = Param::zeros("kernel", &shape);
        config.depthwise_initializer.fill(&mut kernel.value, &shape, rng);
        let bias = config.use_bias.then(|| {
            let mut b = Param::zeros("bias", &[C * M]);
            config.bias_initializer.fill(&mut b.value, &[C * M], rng);
            b
        });
        Ok(Depthwise { kernel, bias, activation: config.activation })
    }

    /// [`Depthwise::try_new`] for a `config` known to be valid.
    ///
    /// # Panics
    /// When [`Depthwise::try_new`] returns an error, with its message.
    pub fn new(config: DepthwiseConfig, rng: &mut impl Rng) -> Self {
        Self::try_new(config, rng).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const M: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Layer for Depthwise<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>
{
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = H * W * C;
    const OUTPUT_LEN: usize = Self::OUT_H * Self::OUT_W * C * M;

    fn keras_type(&self) -> &'static str {
        if RANK == 1 {
            "DepthwiseConv1D"
        } else {
            "DepthwiseConv2D"
        }
    }

    /// # Shapes
    /// `x`: `[batch, H, W, C]`, `y`: `[batch, OUT_H, OUT_W, C·M]`.
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut (), ctx: &mut Ctx) {
        self.forward_logits(x, y, batch, cache, ctx);
        self.activation.forward_in_place(&mut y[..batch * Self::OUTPUT_LEN], C * M);
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut (),
        ctx: &mut Ctx,
    ) {
        let n = batch * Self::OUTPUT_LEN;
        self.activation.backward_in_place(&y[..n], &mut dy[..n], C * M);
        self.backward_logits(x, y, dy, dx, batch, cache, ctx);
    }

    fn output_activation(&self) -> Activation {
        self.activation
    }

    fn forward_logits(&self, x: &[f32], z: &mut [f32], batch: usize, _: &mut (), _: &mut Ctx) {
        let z = &mut z[..batch * Self::OUTPUT_LEN];
        Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::forward(&self.kernel.value, x, z, batch);
        if let Some(b) = &self.bias {
            add_row_vector(z, &b.value);
        }
    }

    fn backward_logits(
        &mut self,
        x: &[f32],
        _: &[f32],
        dz: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        let dz = &dz[..batch * Self::OUTPUT_LEN];
        // The backward pass adds; positions no window reads keep 0.
        let dx = dx.map(|g| g.to_add_into(batch * Self::INPUT_LEN));
        Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::backward(
            &self.kernel.value,
            &mut self.kernel.grad,
            x,
            dz,
            dx,
            batch,
        );
        if let Some(b) = &mut self.bias {
            column_sums_into(dz, &mut b.grad);
        }
    }

    /// Computed in place in `y`: no buffer at all.
    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        let y = &mut y[..Self::OUTPUT_LEN];
        Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::forward(&self.kernel.value, x, y, 1);
        if let Some(b) = &self.bias {
            add_row_vector(y, &b.value);
        }
        self.activation.forward_in_place(y, C * M);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.kernel);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.kernel);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
}

/// A depthwise separable convolution over `[H, W, C]` samples (see
/// [`SeparableConv2d`], [`SeparableConv1d`]): depthwise with multiplier
/// `M`, then `F` pointwise (1×1) filters, bias and activation.
#[derive(Clone, Debug)]
pub struct Separable<
    const RANK: usize,
    const H: usize,
    const W: usize,
    const C: usize,
    const M: usize,
    const F: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const SAME: bool,
> {
    /// `[KH, KW, C, M]` (1D: `[KW, C, M]`).
    pub depthwise_kernel: Param,
    /// `[1, 1, C·M, F]` (1D: `[1, C·M, F]`).
    pub pointwise_kernel: Param,
    /// `[F]`, absent when `use_bias = false`.
    pub bias: Option<Param>,
    /// The fused activation, over each position's `F` channels.
    pub activation: Activation,
}

/// Cache of a separable convolution: the depthwise outputs and their
/// gradient, reused by every step (allocating only when the batch grows).
#[derive(Debug, Default)]
pub struct SeparableCache {
    mid: Vec<f32>,
    dmid: Vec<f32>,
}

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const M: usize,
        const F: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Separable<RANK, H, W, C, M, F, KH, KW, SH, SW, DH, DW, SAME>
{
    /// Output height.
    pub const OUT_H: usize = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::OUT_H;
    /// Output width.
    pub const OUT_W: usize = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::OUT_W;
    const POSITIONS: usize = Self::OUT_H * Self::OUT_W;

    /// A layer initialized as `config` says, drawing from `rng` (depthwise
    /// kernel, pointwise kernel, then bias, as Keras builds them).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `depthwise_initializer`,
    /// `pointwise_initializer` or (with `use_bias`) `bias_initializer` when
    /// that initializer's arguments are invalid ([`Initializer::check`]: an
    /// empty uniform range, a non-finite constant, …; orthogonal needs a weight of 2 or more
    /// dimensions, identity exactly 2), or naming `filters`
    /// when `F` is 0; nothing is drawn then.
    pub fn try_new(config: SeparableConfig, rng: &mut impl Rng) -> crate::Result<Self> {
        #[allow(clippy::let_unit_value)]
        let () = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::VALID;
        if F == 0 {
            let reason = "SeparableConv: must be at least 1, but is 0".to_string();
            return Err(crate::Error::InvalidArgument { name: "filters", reason });
        }
        let shape = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::kernel_shape();
        let pointwise_shape = if RANK == 1 { vec![1, C * M, F] } else { vec![1, 1, C * M, F] };
        config.depthwise_initializer.check_as("depthwise_initializer", &shape)?;
        config.pointwise_initializer.check_as("pointwise_initializer", &pointwise_shape)?;
        if config.use_bias {
            config.bias_initializer.check_as("bias_initializer", &[F])?;
        }
        let mut depthwise_kernel = Param::zeros("depthwise_kernel", &shape);
        config.depthwise_initializer.fill(&mut depthwise_kernel.value, &shape, rng);
        let shape = pointwise_shape;
        let mut pointwise_kernel = Param::zeros("pointwise_kernel", &shape);
        config.pointwise_initializer.fill(&mut pointwise_kernel.value, &shape, rng);
        let bias = config.use_bias.then(|| {
            let mut b = Param::zeros("bias", &[F]);
            config.bias_initializer.fill(&mut b.value, &[F], rng);
            b
        });
        Ok(Separable { depthwise_kernel, pointwise_kernel, bias, activation: config.activation })
    }

    /// [`Separable::try_new`] for a `config` known to be valid.
    ///
    /// # Panics
    /// When [`Separable::try_new`] returns an error, with its message.
    pub fn new(config: SeparableConfig, rng: &mut impl Rng) -> Self {
        Self::try_new(config, rng).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<
        const RANK: usize,
        const H: usize,
        const W: usize,
        const C: usize,
        const M: usize,
        const F: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const SAME: bool,
    > Layer for Separable<RANK, H, W, C, M, F, KH, KW, SH, SW, DH, DW, SAME>
{
    type In = f32;
    type Cache = SeparableCache;
    const INPUT_LEN: usize = H * W * C;
    const OUTPUT_LEN: usize = Self::OUT_H * Self::OUT_W * F;

    fn keras_type(&self) -> &'static str {
        if RANK == 1 {
            "SeparableConv1D"
        } else {
            "SeparableConv2D"
        }
    }

    /// # Shapes
    /// `x`: `[batch, H, W, C]`, `y`: `[batch, OUT_H, OUT_W, F]`.
    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, cache: &mut SeparableCache, ctx: &mut Ctx) {
        self.forward_logits(x, y, batch, cache, ctx);
        self.activation.forward_in_place(&mut y[..batch * Self::OUTPUT_LEN], F);
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut SeparableCache,
        ctx: &mut Ctx,
    ) {
        let n = batch * Self::OUTPUT_LEN;
        self.activation.backward_in_place(&y[..n], &mut dy[..n], F);
        self.backward_logits(x, y, dy, dx, batch, cache, ctx);
    }

    fn output_activation(&self) -> Activation {
        self.activation
    }

    /// `mid = depthwise(x)`, `z = mid · P + b` (one SGEMM over every
    /// position of the batch).
    fn forward_logits(&self, x: &[f32], z: &mut [f32], batch: usize, cache: &mut SeparableCache, ctx: &mut Ctx) {
        let cm = C * M;
        let rows = batch * Self::POSITIONS;
        let mid = ensure_len(&mut cache.mid, rows * cm);
        Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::forward(
            &self.depthwise_kernel.value,
            x,
            mid,
            batch,
        );
        let z = &mut z[..batch * Self::OUTPUT_LEN];
        let (a, p) = (Mat::row_major(mid, cm), Mat::row_major(&self.pointwise_kernel.value, F));
        sgemm(rows, F, cm, a, p, z, F, false, &mut ctx.scratch);
        if let Some(b) = &self.bias {
            add_row_vector(z, &b.value);
        }
    }

    /// `∂P += midᵀ · dz`, `∂mid = dz · Pᵀ`, then the depthwise backward
    /// pass of `∂mid`; `∂b += Σ dz`.
    fn backward_logits(
        &mut self,
        x: &[f32],
        _: &[f32],
        dz: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut SeparableCache,
        ctx: &mut Ctx,
    ) {
        let cm = C * M;
        let rows = batch * Self::POSITIONS;
        let dz = &dz[..batch * Self::OUTPUT_LEN];
        // The depthwise outputs of this batch's forward pass (backward
        // always follows the forward of the same batch, as for every layer
        // with a cache).
        let mid = &cache.mid[..rows * cm];
        let dzm = Mat::row_major(dz, F);
        sgemm(cm, F, rows, Mat::transposed(mid, cm), dzm, &mut self.pointwise_kernel.grad, F, true, &mut ctx.scratch);
        let dmid = ensure_len(&mut cache.dmid, rows * cm);
        let pt = Mat::transposed(&self.pointwise_kernel.value, F);
        sgemm(rows, cm, F, dzm, pt, dmid, cm, false, &mut ctx.scratch);
        let dx = dx.map(|g| g.to_add_into(batch * Self::INPUT_LEN));
        Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::backward(
            &self.depthwise_kernel.value,
            &mut self.depthwise_kernel.grad,
            x,
            dmid,
            dx,
            batch,
        );
        if let Some(b) = &mut self.bias {
            column_sums_into(dz, &mut b.grad);
        }
    }

    /// A block of positions' depthwise values in a stack buffer, multiplied
    /// by the pointwise kernel in one small product. Positions with more
    /// than `MID_STACK` depthwise channels add each channel's pointwise
    /// row into `y` instead, so the stack use stays bounded.
    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        let cm = C * M;
        let (dk, pk) = (&self.depthwise_kernel.value, &self.pointwise_kernel.value);
        let y = &mut y[..Self::OUTPUT_LEN];
        if cm <= MID_STACK {
            let mut mid = [0.0f32; MID_STACK];
            let per_block = MID_STACK / cm;
            let mut first = 0;
            while first < Self::POSITIONS {
                let rows = per_block.min(Self::POSITIONS - first);
                for (r, out) in mid.chunks_exact_mut(cm).take(rows).enumerate() {
                    Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::position(dk, x, first + r, out);
                }
                small_gemm(rows, cm, F, &mid[..rows * cm], pk, &mut y[first * F..(first + rows) * F]);
                first += rows;
            }
        } else {
            crate::simd::dispatch(|| {
                for (p, out) in y.chunks_exact_mut(F).enumerate() {
                    out.fill(0.0);
                    for (j, row) in pk.chunks_exact(F).enumerate() {
                        let v = Geometry::<RANK, H, W, C, M, KH, KW, SH, SW, DH, DW, SAME>::single(dk, x, p, j);
                        axpy(v, row, out);
                    }
                }
            });
        }
        if let Some(b) = &self.bias {
            add_row_vector(y, &b.value);
        }
        self.activation.forward_in_place(y, F);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.depthwise_kernel);
        f(&mut self.pointwise_kernel);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.depthwise_kernel);
        f(&self.pointwise_kernel);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_one_sample_matches_batch, check_layer_gradients};
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(5)
    }

    fn dw(activation: Activation) -> DepthwiseConfig {
        DepthwiseConfig {
            activation,
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..DepthwiseConfig::default()
        }
    }

    fn sep(activation: Activation) -> SeparableConfig {
        SeparableConfig {
            activation,
            bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
            ..SeparableConfig::default()
        }
    }

    #[test]
    fn shapes_and_names_are_keras_s() {
        let d = DepthwiseConv2d::<5, 5, 3, 2, 3, 3, 1, 1, 1, 1, false>::new(dw(Activation::Linear), &mut rng());
        assert_eq!((d.kernel.shape.as_slice(), d.keras_type()), (&[3, 3, 3, 2][..], "DepthwiseConv2D"));
        assert_eq!(d.bias.as_ref().unwrap().shape, [6]);
        assert_eq!(<DepthwiseConv2d<5, 5, 3, 2, 3, 3, 1, 1, 1, 1, false> as Layer>::OUTPUT_LEN, 3 * 3 * 6);
        let s = SeparableConv1d::<8, 2, 3, 4, 3, 1, 1, true>::new(sep(Activation::Linear), &mut rng());
        let names: Vec<_> =
            [&s.depthwise_kernel, &s.pointwise_kernel].iter().map(|p| (p.name, p.shape.clone())).collect();
        assert_eq!(names, [("depthwise_kernel", vec![3, 2, 3]), ("pointwise_kernel", vec![1, 6, 4])]);
        assert_eq!(s.keras_type(), "SeparableConv1D");
    }

    #[test]
    fn gradients_match_finite_differences() {
        type D1 = DepthwiseConv2d<5, 4, 2, 1, 3, 2, 1, 1, 1, 1, false>;
        check_layer_gradients(&mut D1::new(dw(Activation::Linear), &mut rng()), 2);
        type D2 = DepthwiseConv2d<5, 6, 2, 3, 3, 3, 2, 2, 1, 1, true>;
        check_layer_gradients(&mut D2::new(dw(Activation::Tanh), &mut rng()), 2);
        type D3 = DepthwiseConv1d<9, 3, 2, 3, 2, 2, true>;
        check_layer_gradients(&mut D3::new(dw(Activation::Sigmoid), &mut rng()), 2);
        type S1 = SeparableConv2d<5, 5, 2, 2, 3, 3, 3, 1, 1, 1, 1, true>;
        check_layer_gradients(&mut S1::new(sep(Activation::Tanh), &mut rng()), 2);
        type S2 = SeparableConv1d<10, 3, 1, 2, 4, 2, 1, false>;
        check_layer_gradients(&mut S2::new(sep(Activation::Linear), &mut rng()), 3);
    }

    #[test]
    fn batched_forward_agrees_with_one_sample_forward() {
        type D = DepthwiseConv2d<7, 6, 3, 2, 3, 3, 2, 1, 1, 1, true>;
        assert_one_sample_matches_batch(&D::new(dw(Activation::Relu), &mut rng()), 3);
        type S = SeparableConv2d<7, 6, 3, 2, 5, 3, 3, 1, 1, 1, 1, true>;
        assert_one_sample_matches_batch(&S::new(sep(Activation::Tanh), &mut rng()), 3);
        // 1100·4 > MID_STACK depthwise channels: the path without the buffer.
        type Wide = SeparableConv1d<3, 1100, 4, 2, 2, 1, 1, false>;
        assert_one_sample_matches_batch(&Wide::new(sep(Activation::Linear), &mut rng()), 2);
    }
}
