//! Per-sample arrays: how typed Rust arrays map onto flat buffers.
//!
//! A model's input of static shape `[28, 28]` is the Rust type
//! `[[f32; 28]; 28]`; a batch is a slice of them. Arrays are contiguous,
//! so a batch is also a flat `&[f32]` of `n × 784` values without a copy.

/// A scalar kiln stores in tensors: `f32` features or `u32` token ids.
pub trait Element: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The value as `f32` (targets of any element type feed the losses).
    fn to_f32(self) -> f32;
}

impl Element for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for u32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// A fixed-size sample: a scalar or a (nested) array of one [`Element`].
///
/// # Safety
/// Implementors must have the memory layout of exactly `LEN` consecutive
/// `Elem`s with no padding; kiln reinterprets slices of samples as flat
/// slices of elements. The provided implementations (scalars and arrays of
/// samples) are the only ones needed.
pub unsafe trait Sample: Copy + Send + Sync + 'static {
    /// The scalar type.
    type Elem: Element;
    /// Scalars per sample.
    const LEN: usize;
    /// A sample with every scalar zero.
    fn zeroed() -> Self;
}

// SAFETY: a scalar is one element.
unsafe impl Sample for f32 {
    type Elem = f32;
    const LEN: usize = 1;
    fn zeroed() -> Self {
        0.0
    }
}

// SAFETY: a scalar is one element.
unsafe impl Sample for u32 {
    type Elem = u32;
    const LEN: usize = 1;
    fn zeroed() -> Self {
        0
    }
}

// SAFETY: `[T; N]` is `N` consecutive `T`s without padding, each `T::LEN` elements.
unsafe impl<T: Sample, const N: usize> Sample for [T; N] {
    type Elem = T::Elem;
    const LEN: usize = N * T::LEN;
    fn zeroed() -> Self {
        [T::zeroed(); N]
    }
}

/// Views a slice of samples as their flat elements.
///
/// ```
/// let batch = [[1.0f32, 2.0], [3.0, 4.0]];
/// assert_eq!(kiln::sample::flatten(&batch[..]), &[1.0, 2.0, 3.0, 4.0]);
/// ```
pub fn flatten<S: Sample>(samples: &[S]) -> &[S::Elem] {
    // SAFETY: `Sample` guarantees `S` is `LEN` packed elements.
    unsafe { std::slice::from_raw_parts(samples.as_ptr().cast(), samples.len() * S::LEN) }
}

/// Views one sample as its flat elements.
pub fn flatten_one<S: Sample>(sample: &S) -> &[S::Elem] {
    flatten(std::slice::from_ref(sample))
}

/// Builds a sample from its `S::LEN` flat elements.
///
/// # Panics
/// If `flat` has another length.
pub fn from_flat<S: Sample>(flat: &[S::Elem]) -> S {
    assert_eq!(flat.len(), S::LEN, "from_flat: wrong number of elements");
    let mut out = S::zeroed();
    // SAFETY: `Sample` guarantees `S` is `LEN` packed elements.
    let dst = unsafe { std::slice::from_raw_parts_mut((&mut out as *mut S).cast::<S::Elem>(), S::LEN) };
    dst.copy_from_slice(flat);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_arrays_flatten_in_row_major_order() {
        let x = [[[1u32, 2], [3, 4]], [[5, 6], [7, 8]]];
        assert_eq!(<[[[u32; 2]; 2]; 2] as Sample>::LEN, 8);
        assert_eq!(flatten(&x[..]), &[1, 2, 3, 4, 5, 6, 7, 8]);
        let back: [[u32; 2]; 2] = from_flat(&[9, 8, 7, 6]);
        assert_eq!(back, [[9, 8], [7, 6]]);
    }
}
