//! `exp`, `expm1`, `log1p` and `sqrt` of `f32`: the standard library's
//! with the `std` feature, else the `libm` crate's (`core` has none on
//! stable Rust). Both square roots are IEEE 754's correctly rounded one,
//! so results do not depend on the feature.

#[cfg(feature = "std")]
pub(crate) fn expf(x: f32) -> f32 {
    x.exp()
}

#[cfg(feature = "std")]
pub(crate) fn expm1f(x: f32) -> f32 {
    x.exp_m1()
}

#[cfg(feature = "std")]
pub(crate) fn log1pf(x: f32) -> f32 {
    x.ln_1p()
}

#[cfg(feature = "std")]
pub(crate) fn sqrtf(x: f32) -> f32 {
    x.sqrt()
}

#[cfg(all(feature = "libm", not(feature = "std")))]
pub(crate) use libm::{expf, expm1f, log1pf, sqrtf};
