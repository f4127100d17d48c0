//! Runtime dispatch to AVX2 + FMA code for element-wise loops.
//!
//! kiln is built for the baseline x86-64 target (SSE2), so that one binary
//! runs anywhere; hot element-wise loops are compiled a second time with
//! AVX2 and FMA enabled and chosen at run time.

/// Whether this CPU has AVX2 and FMA (a cached check).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs `f`, compiled with AVX2 and FMA enabled when the CPU has them.
///
/// `f` is inlined into a function with those target features, so its
/// loops are vectorized 8 floats wide.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if has_avx2_fma() {
            // SAFETY: the CPU supports the enabled features (checked just above).
            return unsafe { with_avx2(f) };
        }
    }
    f()
}
