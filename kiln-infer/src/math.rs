//! `exp`, `expm1` and `log1p` of `f32`: the standard library's with the
//! `std` feature, else the `libm` crate's (`core` has none on stable Rust).

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

#[cfg(all(feature = "libm", not(feature = "std")))]
pub(crate) use libm::{expf, expm1f, log1pf};
