//! Run-time choice of the instruction set for kiln's kernels.
//!
//! kiln is built for the baseline x86-64 target (SSE2), so that one binary
//! runs anywhere. Hot kernels exist in several variants — portable Rust,
//! AVX2 + FMA (256-bit) and AVX-512 (512-bit) — and the best one the CPU
//! runs is picked at run time ([`isa`]). Element-wise loops (activations,
//! bias, optimizers) are compiled once per variant through [`dispatch`].
//!
//! The environment variable `KILN_ISA=portable|avx2|avx512` forces a path
//! (read once, at the first kernel call); a path the CPU lacks falls back to
//! the best one below it, with a note on stderr. [`with_isa`] forces a path
//! for one closure on the calling thread (for tests and benchmarks).
//!
//! The paths differ in speed, not in results, wherever that costs nothing:
//! the SGEMM kernels of all three paths compute each value as the same
//! chain of fused multiply–adds, and the dispatched element-wise loops are
//! the same Rust code (Rust never contracts `a * b + c` into a fused
//! multiply–add), so both give identical bits on every path. The AVX2 and
//! AVX-512 one-sample kernels (`vec_mat`, `small_gemm`) agree with each
//! other bit for bit; their portable fallbacks round differently (separate
//! multiply and add: a fused one is a library call without FMA hardware).
//! `tests/kernels.rs` checks every path against an f64 reference.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set path of kiln's kernels, from slowest to fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust for the baseline target (SSE2 on x86-64); runs anywhere.
    Portable,
    /// AVX2 + FMA, 256-bit vectors.
    Avx2,
    /// AVX-512 (F, VL, BW, DQ) + FMA, 512-bit vectors.
    Avx512,
}

impl Isa {
    /// Every path, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name `KILN_ISA` accepts for this path.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The path named `name` (`portable`, `avx2` or `avx512`, any case).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU runs.
    pub fn detected() -> Isa {
        Isa::ALL.into_iter().rev().find(|isa| isa.supported()).unwrap_or(Isa::Portable)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The process-wide path: 0 until first read, else `Isa as u8 + 1`.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// A path forced by [`with_isa`] on this thread: 0 for none, else `Isa as u8 + 1`.
    static FORCED: Cell<u8> = const { Cell::new(0) };
}

fn decode(v: u8) -> Isa {
    Isa::ALL[usize::from(v - 1)]
}

/// The path kernels take on this thread: the one [`with_isa`] forces, else
/// `KILN_ISA` (clamped to what the CPU runs), else the fastest the CPU runs.
#[inline]
pub fn isa() -> Isa {
    let forced = FORCED.with(Cell::get);
    if forced != 0 {
        return decode(forced);
    }
    match CHOSEN.load(Ordering::Relaxed) {
        0 => {
            let isa = choose(std::env::var("KILN_ISA").ok().as_deref());
            CHOSEN.store(isa as u8 + 1, Ordering::Relaxed);
            isa
        }
        v => decode(v),
    }
}

/// The path for a `KILN_ISA` value: the named one if the CPU runs it, else
/// the best one below it; the detected one if unset or not a path's name.
fn choose(requested: Option<&str>) -> Isa {
    let detected = Isa::detected();
    let Some(value) = requested else { return detected };
    match Isa::from_name(value) {
        Some(isa) if isa.supported() => isa,
        Some(isa) => {
            eprintln!("kiln: KILN_ISA={value}: this CPU lacks {isa}; using {detected}");
            detected
        }
        None => {
            eprintln!("kiln: KILN_ISA={value} is not one of portable, avx2, avx512; using {detected}");
            detected
        }
    }
}

/// Runs `f` with kernels forced to `isa` on the calling thread, or returns
/// `None` (without running `f`) if the CPU lacks `isa`.
///
/// `sgemm` and `vec_mat` calls that `f` makes use the forced path on every
/// thread they split across; other work split across threads (recurrent
/// layers' samples) runs the process-wide path on the helper threads.
///
/// ```
/// use kiln::simd::{with_isa, isa, Isa};
/// assert_eq!(with_isa(Isa::Portable, isa), Some(Isa::Portable));
/// ```
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> Option<R> {
    if !isa.supported() {
        return None;
    }
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCED.with(|c| c.replace(isa as u8 + 1)));
    Some(f())
}

/// Whether kernels on this thread take the AVX2 + FMA path or a faster one.
#[inline]
pub fn has_avx2_fma() -> bool {
    isa() >= Isa::Avx2
}

/// Runs `f`, compiled with the target features of the path [`isa`] picks.
///
/// `f` is inlined into one function per path, so its loops are vectorized
/// 16 floats wide under AVX-512, 8 under AVX2, and 4 (SSE2) otherwise.
/// Rust never contracts `a * b + c` into a fused multiply–add, so each
/// copy computes the same values.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    dispatch_on(isa(), f)
}

/// [`dispatch`] on a given path, which must be one the CPU runs (kernels
/// split across threads pass the caller's path to every part).
#[inline(always)]
pub(crate) fn dispatch_on<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
        unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        match isa {
            // SAFETY: `isa` only returns paths the CPU supports.
            Isa::Avx512 => return unsafe { with_avx512(f) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { with_avx2(f) },
            Isa::Portable => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiln_isa_values_are_parsed_and_clamped() {
        assert_eq!(choose(None), Isa::detected());
        assert_eq!(choose(Some("portable")), Isa::Portable);
        assert_eq!(choose(Some(" AVX2 ")), if Isa::Avx2.supported() { Isa::Avx2 } else { Isa::detected() });
        assert_eq!(choose(Some("avx512")), Isa::detected().min(Isa::Avx512));
        assert_eq!(choose(Some("sse9")), Isa::detected());
    }

    #[test]
    fn with_isa_forces_and_restores() {
        let before = isa();
        assert_eq!(with_isa(Isa::Portable, || with_isa(Isa::Portable, isa)), Some(Some(Isa::Portable)));
        assert_eq!(isa(), before);
    }
}
