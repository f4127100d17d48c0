//! A fixed-length `f32` buffer on a 64-byte boundary, for weights and
//! their gradients.
//!
//! malloc aligns a `Vec<f32>` to 16 bytes, so where a matrix starts within
//! a cache line depended on what was allocated before it (and buffers of
//! 128 KB or more, from `mmap`, always started 16 bytes past a line). When
//! every row starts on the same offset (a row of 256 floats is 16 lines),
//! either none or all of a kernel's 64-byte loads split a line:
//! `vec_mat` on 64 × 256 took 11% longer misaligned (docs/PERFORMANCE.md,
//! session 10). A `Vec` cannot carry a larger alignment (it frees with
//! `f32`'s), hence this type; it dereferences to `[f32]`.

use std::alloc::{alloc, alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Bytes of alignment: a cache line, and an AVX-512 vector.
pub const ALIGN: usize = 64;

/// `len` floats starting on a 64-byte boundary; derefs to `[f32]`.
pub struct AlignedVec {
    ptr: NonNull<f32>,
    len: usize,
}

// SAFETY: `AlignedVec` owns its buffer, as `Vec<f32>` does.
unsafe impl Send for AlignedVec {}
// SAFETY: shared access only reads, as for `Vec<f32>`.
unsafe impl Sync for AlignedVec {}

impl AlignedVec {
    /// `len` zeros.
    ///
    /// # Panics
    /// When `len` floats exceed `isize::MAX` bytes (as `vec![0.0; len]`
    /// does); aborts when memory runs out.
    pub fn zeros(len: usize) -> Self {
        Self::allocate(len, alloc_zeroed)
    }

    /// A copy of `values` (written once: the buffer is not zeroed first).
    pub fn from_slice(values: &[f32]) -> Self {
        let v = Self::allocate(values.len(), alloc);
        // SAFETY: the buffer holds `values.len()` floats and is a new allocation.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), v.ptr.as_ptr(), values.len()) };
        v
    }

    /// `len` floats from `allocate` (zeroed or not: callers initialize).
    fn allocate(len: usize, allocate: unsafe fn(Layout) -> *mut u8) -> Self {
        if len == 0 {
            // A dangling pointer, non-null and on the boundary like every other.
            #[repr(align(64))]
            struct Line;
            const _: () = assert!(align_of::<Line>() == ALIGN);
            return AlignedVec { ptr: NonNull::<Line>::dangling().cast(), len: 0 };
        }
        let layout = Self::layout(len);
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { allocate(layout) }.cast::<f32>();
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        AlignedVec { ptr, len }
    }

    fn layout(len: usize) -> Layout {
        len.checked_mul(size_of::<f32>())
            .and_then(|bytes| Layout::from_size_align(bytes, ALIGN).ok())
            .expect("capacity overflow")
    }
}

impl Drop for AlignedVec {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `zeros` with this layout.
            unsafe { dealloc(self.ptr.as_ptr().cast(), Self::layout(self.len)) }
        }
    }
}

impl Deref for AlignedVec {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `ptr` holds `len` initialized floats (or is dangling and aligned with `len` 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedVec {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Clone for AlignedVec {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl Default for AlignedVec {
    fn default() -> Self {
        Self::zeros(0)
    }
}

impl fmt::Debug for AlignedVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for AlignedVec {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<[f32]> for AlignedVec {
    fn eq(&self, other: &[f32]) -> bool {
        **self == *other
    }
}

impl PartialEq<Vec<f32>> for AlignedVec {
    fn eq(&self, other: &Vec<f32>) -> bool {
        **self == **other
    }
}

impl<'a> IntoIterator for &'a AlignedVec {
    type Item = &'a f32;
    type IntoIter = std::slice::Iter<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut AlignedVec {
    type Item = &'a mut f32;
    type IntoIter = std::slice::IterMut<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<const N: usize> PartialEq<[f32; N]> for AlignedVec {
    fn eq(&self, other: &[f32; N]) -> bool {
        **self == *other
    }
}

impl From<Vec<f32>> for AlignedVec {
    fn from(values: Vec<f32>) -> Self {
        Self::from_slice(&values)
    }
}

impl From<&[f32]> for AlignedVec {
    fn from(values: &[f32]) -> Self {
        Self::from_slice(values)
    }
}

impl From<AlignedVec> for Vec<f32> {
    fn from(values: AlignedVec) -> Self {
        values.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_on_a_cache_line_and_hold_their_values() {
        // Sizes from the heap and from mmap, after odd-sized allocations
        // that leave malloc's next block off the line.
        let mut keep = Vec::new();
        for len in [0, 1, 3, 16, 17, 1000, 16_384, 32_768, 235_200] {
            keep.push(vec![0u8; len % 97 + 1]);
            let v = AlignedVec::zeros(len);
            assert_eq!(v.as_ptr() as usize % ALIGN, 0, "{len} floats");
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            let values: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut a = AlignedVec::from(values.clone());
            assert_eq!(a, values);
            let b = a.clone();
            a.iter_mut().for_each(|x| *x += 1.0);
            assert_eq!(b, values, "a clone is a copy");
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert_eq!(Vec::from(b), values);
        }
    }
}
