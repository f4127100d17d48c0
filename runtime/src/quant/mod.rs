//! int8 inference: post-training quantization of a trained f32 model's
//! `Dense`, `Embedding` and `LSTM` layers.
//!
//! # Scheme
//! - **Weights**: symmetric, per output channel: column `c` of a kernel
//!   `W [k, n]` becomes `q = round(W / s_c)` in `[-127, 127]` with
//!   `s_c = max_r |W[r, c]| / 127` ([`QWeights`]); an `Embedding` row
//!   likewise with one scale per row ([`QEmbedding`]).
//! - **Activations** (what a layer reads): asymmetric `u8`,
//!   `x ≈ s · (q − z)`, `s` and zero point `z` from the range seen on
//!   calibration samples ([`ActivationRange`] → [`QuantParams`]); values
//!   outside it saturate. The range always contains 0, so zero padding and
//!   ReLU zeros are exact.
//! - **Products** are exact in `i32` ([`kernel`]); the output is
//!   `y_c = s · s_c · (acc_c − z · Σ_r q[r, c]) + b_c`, in f32, followed by
//!   the layer's f32 activation. LSTM gate math stays f32; its recurrent
//!   input `h` is quantized with the fixed range `[-128/127, 1]`
//!   (`s = 1/127`, `z = 128`), since `|h| = |o · tanh(c)| ≤ 1`.
//!
//! # Error bound
//! With `|x − x̂| ≤ s/2` (inside the calibrated range) and
//! `|W − Ŵ| ≤ s_c/2`, a quantized product differs from the f32 one by at
//! most `Σ_r (|x_r| · s_c/2 + |q[r, c]| · s_c · s/2)` plus f32 rounding;
//! `tests/quant.rs` checks every layer against it.
//!
//! # Paths
//! The kernels follow [`crate::simd::isa`]: `KILN_ISA=portable|avx2|avx512`
//! (or [`crate::simd::with_isa`]) forces a path; the AVX-512 path needs
//! VNNI (`vpdpbusd`), else the AVX2 path runs. All paths give identical
//! results.
//!
//! # Whole models
//! `model!` generates `<Name>Int8` and `Name::quantize(&samples)` for a
//! model whose layers are a chain of `Dense`, `Embedding`, `LSTM` (their
//! [`Quantize`] forms) and layers without weights (kept in f32: [`Same`]);
//! see `docs/DESIGN.md` (int8 inference). The generated code lists the
//! layers; batching, buffers, calibration checks and files are the generic
//! helpers of this module ([`QBuffers`], [`calibration_count`],
//! [`architecture`], …).
//!
//! # Files
//! [`QFile`] stores quantized layers in a safetensors file (format
//! `kiln.int8`, version 1): `I8` weights, `F32` scales, biases and
//! activation parameters, named `<layer>/<tensor>` (see each layer's
//! `save`), readable from a path or from bytes (`include_bytes!`).

pub mod kernel;
mod layers;
mod model;
mod qfile;

pub use kernel::{gemm_u8i8, gemm_u8i8_f32, gemm_u8i8_on, Epilogue, PackedI8, QPath};
pub use layers::{QDense, QEmbedding, QLstm, QScratch};
pub use model::{
    architecture, bytes_error, calibration_count, check_architecture, check_predict, load_path, QBuffers, QLayer,
    Quantize, Same,
};
pub use qfile::{QFile, QFILE_FORMAT, QFILE_VERSION};

use crate::{Error, Result};

/// How activations map to `u8`: `x ≈ scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// Step between consecutive codes (> 0).
    pub scale: f32,
    /// The code of 0.0.
    pub zero_point: u8,
}

impl QuantParams {
    /// The parameters of the recurrent state `h ∈ [-1, 1]`:
    /// `scale = 1/127`, `zero_point = 128`.
    pub const UNIT: QuantParams = QuantParams { scale: 1.0 / 127.0, zero_point: 128 };

    /// Parameters covering `[min, max]` (widened to contain 0) with 256 codes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `range` when a bound is not finite,
    /// `min > max`, or the step between codes, `(max − min) / 255`, is not a
    /// normal `f32` (infinite for a range past `f32::MAX`, subnormal for one
    /// under ~3e-36).
    pub fn from_range(min: f32, max: f32) -> Result<Self> {
        if !(min.is_finite() && max.is_finite()) || min > max {
            return Err(Error::InvalidArgument {
                name: "range",
                reason: format!("expected finite min ≤ max, found [{min}, {max}]"),
            });
        }
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        if hi == lo {
            // All zeros: any scale represents them exactly.
            return Ok(QuantParams { scale: 1.0, zero_point: 0 });
        }
        let scale = (hi - lo) / 255.0;
        // An infinite step (a range past f32::MAX) maps every value to one
        // code; a subnormal one loses the precision `x / scale` needs.
        if !scale.is_normal() {
            return Err(Error::InvalidArgument {
                name: "range",
                reason: format!(
                    "[{lo}, {hi}] gives a step of {scale} between codes, which must be a normal f32 \
                     (the range must span between 255·{:e} and {:e})",
                    f32::MIN_POSITIVE,
                    f32::MAX
                ),
            });
        }
        let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
        Ok(QuantParams { scale, zero_point })
    }

    /// `q = clamp(round(x / scale) + zero_point, 0, 255)` for every value
    /// (ties to even; NaN becomes 0).
    pub fn quantize(&self, x: &[f32], q: &mut [u8]) {
        let (inv, zp) = (1.0 / self.scale, f32::from(self.zero_point));
        #[allow(clippy::manual_clamp)] // `clamp` keeps NaN; `max` maps it to 0
        crate::simd::dispatch(|| {
            for (o, &v) in q.iter_mut().zip(x) {
                // `max` first: it maps NaN to 0.
                let t = (v * inv + zp).max(0.0).min(255.0);
                // Adding 2^23 rounds t ∈ [0, 255] to the nearest integer (ties
                // to even) and leaves it in the low mantissa bits: integer
                // operations only, so the loop vectorizes (a saturating
                // `as u8` conversion does not).
                *o = (t + 8_388_608.0).to_bits() as u8;
            }
        });
    }

    /// `scale · (q − zero_point)`.
    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale * (f32::from(q) - f32::from(self.zero_point))
    }
}

/// The running min and max of the values a layer reads, over calibration samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationRange {
    /// Smallest value seen (`+∞` before any).
    pub min: f32,
    /// Largest value seen (`−∞` before any).
    pub max: f32,
}

impl Default for ActivationRange {
    fn default() -> Self {
        ActivationRange { min: f32::INFINITY, max: f32::NEG_INFINITY }
    }
}

impl ActivationRange {
    /// Widens the range to `values` (NaNs are skipped).
    pub fn observe(&mut self, values: &[f32]) {
        for &v in values {
            if v < self.min {
                self.min = v;
            }
            if v > self.max {
                self.max = v;
            }
        }
    }

    /// The [`QuantParams`] covering the range; an error if nothing (finite) was observed.
    pub fn params(&self) -> Result<QuantParams> {
        if self.min > self.max {
            return Err(Error::NoData("calibrate: no finite activation was observed"));
        }
        QuantParams::from_range(self.min, self.max)
    }
}

/// A kernel `[k, n]` quantized per output column: packed `i8` values and
/// one f32 scale per column.
#[derive(Clone, Debug, PartialEq)]
pub struct QWeights {
    /// The `i8` values, packed.
    pub packed: PackedI8,
    /// `s_c` of each column.
    pub scales: Vec<f32>,
}

impl QWeights {
    /// Quantizes the row-major f32 matrix `w [k, n]`.
    pub fn quantize(w: &[f32], k: usize, n: usize) -> Result<Self> {
        if k.checked_mul(n) != Some(w.len()) {
            return Err(Error::InvalidArgument {
                name: "w",
                reason: format!("expected {k} × {n} values, found {}", w.len()),
            });
        }
        if let Some(v) = w.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument { name: "w", reason: format!("weights must be finite, found {v}") });
        }
        let scales: Vec<f32> = (0..n)
            .map(|c| {
                let max = (0..k).map(|r| w[r * n + c].abs()).fold(0.0f32, f32::max);
                if max == 0.0 {
                    1.0
                } else {
                    max / 127.0
                }
            })
            .collect();
        let q: Vec<i8> =
            w.iter().enumerate().map(|(i, &v)| (v / scales[i % n]).round().clamp(-127.0, 127.0) as i8).collect();
        Ok(QWeights { packed: PackedI8::new(&q, k, n)?, scales })
    }

    /// Values already quantized: row-major `q [k, n]` and `n` scales.
    pub fn from_parts(q: &[i8], scales: Vec<f32>, k: usize, n: usize) -> Result<Self> {
        if scales.len() != n || scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::InvalidArgument {
                name: "scales",
                reason: format!("expected {n} positive finite scales, found {:?}", &scales[..scales.len().min(8)]),
            });
        }
        Ok(QWeights { packed: PackedI8::new(q, k, n)?, scales })
    }

    /// The epilogue for inputs quantized with `input`: per column,
    /// `corr_c = z · Σ_r q[r, c]`, `scale_c = s · s_c`, the bias (or
    /// zeros), and a fused ReLU when `relu`.
    pub fn epilogue(&self, input: QuantParams, bias: Option<&[f32]>, relu: bool) -> Epilogue {
        let zp = i32::from(input.zero_point);
        Epilogue {
            corr: self.packed.col_sums().iter().map(|&c| zp * c).collect(),
            scale: self.scales.iter().map(|&s| input.scale * s).collect(),
            bias: bias.map_or_else(|| vec![0.0; self.packed.n()], <[f32]>::to_vec),
            relu,
        }
    }

    /// `y (=|+=) epilogue(x_q · W_q)` for `m` rows of `x_q`, rows of `y`
    /// `ldy` apart (see [`kernel::gemm_u8i8_f32`]).
    pub fn matmul(&self, m: usize, xq: &[u8], ep: &Epilogue, y: &mut [f32], ldy: usize, accumulate: bool) {
        kernel::gemm_u8i8_f32(m, xq, &self.packed, ep, y, ldy, accumulate);
    }
}
