//! Per-sample arrays: how typed Rust arrays map onto flat buffers.
//!
//! A model's input of static shape `[28, 28]` is the Rust type
//! `[[f32; 28]; 28]`; a batch is a slice of them. Arrays are contiguous,
//! so a batch is also a flat `&[f32]` of `n × 784` values without a copy.

/// A scalar kiln stores in tensors: `f32` features or `u32` token ids.
pub trait Element: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The value as `f32` (targets of any element type feed the losses).
    fn to_f32(self) -> f32;
    /// The `f32` as this type (truncating for ids).
    fn from_f32(v: f32) -> Self;
    /// The index of the first NaN or infinite value of `values` (never
    /// for integer types).
    fn first_non_finite(values: &[Self]) -> Option<usize> {
        let _ = values;
        None
    }
}

impl Element for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        v
    }
    fn first_non_finite(values: &[f32]) -> Option<usize> {
        first_non_finite(values)
    }
}

/// The index of the first NaN or infinite value. One pass of a branch-free,
/// vectorizable test per block of 256 values; the position is searched only
/// in the block that fails.
pub fn first_non_finite(values: &[f32]) -> Option<usize> {
    const BLOCK: usize = 256;
    crate::simd::dispatch(|| {
        for (b, block) in values.chunks(BLOCK).enumerate() {
            // NaN and ±inf are the values whose exponent bits are all ones; an
            // integer OR reduction vectorizes (a float one would not).
            const EXP: u32 = 0x7f80_0000;
            let probe = block.iter().fold(0u32, |acc, v| acc | u32::from(v.to_bits() & EXP == EXP));
            if probe != 0 {
                return block.iter().position(|v| !v.is_finite()).map(|i| b * BLOCK + i);
            }
        }
        None
    })
}

impl Element for u32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        v as u32
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
/// If `flat` has another length; [`try_from_flat`] returns an error instead.
pub fn from_flat<S: Sample>(flat: &[S::Elem]) -> S {
    match try_from_flat(flat) {
        Ok(sample) => sample,
        Err(e) => panic!("{e}"),
    }
}

/// Builds a sample from its `S::LEN` flat elements.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] naming `flat` when its length is not `S::LEN`.
///
/// ```
/// let ok: [[f32; 2]; 2] = kiln::sample::try_from_flat(&[1.0, 2.0, 3.0, 4.0])?;
/// assert_eq!(ok, [[1.0, 2.0], [3.0, 4.0]]);
/// assert!(kiln::sample::try_from_flat::<[f32; 4]>(&[1.0]).is_err());
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn try_from_flat<S: Sample>(flat: &[S::Elem]) -> crate::Result<S> {
    if flat.len() != S::LEN {
        return Err(crate::Error::InvalidArgument {
            name: "flat",
            reason: format!("the sample holds {} values, but {} were given", S::LEN, flat.len()),
        });
    }
    let mut out = S::zeroed();
    // SAFETY: `Sample` guarantees `S` is `LEN` packed elements.
    let dst = unsafe { std::slice::from_raw_parts_mut((&mut out as *mut S).cast::<S::Elem>(), S::LEN) };
    dst.copy_from_slice(flat);
    Ok(out)
}

/// A model's inputs (or outputs, or targets) for one sample: one
/// [`Sample`], or a tuple of samples — one member per input, which may
/// have different element types (token ids beside float features).
///
/// A batch is a slice per member, like Keras's list of arrays:
/// `&[[u32; 16]]` for one input, `(&[[u32; 100]], &[[f32; 5]])` for two.
pub trait SampleSet: Copy + Send + Sync + 'static {
    /// A batch: a slice of samples, or a tuple of slices.
    type Batch<'a>: Copy;
    /// The batch as flat element slices.
    type Flat<'a>: Copy;
    /// Owned flat buffers that shuffled batches are gathered into.
    type Buffers: Default + Send;
    /// Number of members.
    const COUNT: usize;

    /// Scalars per sample of member `i`.
    fn member_len(i: usize) -> usize;
    /// Samples in a batch.
    ///
    /// # Errors
    /// [`crate::Error::MemberCountMismatch`] when members hold different numbers of samples.
    fn samples(batch: Self::Batch<'_>) -> crate::Result<usize>;
    /// The flat view of a batch.
    fn flatten(batch: Self::Batch<'_>) -> Self::Flat<'_>;
    /// Samples `start..end` of a flat batch.
    fn range(flat: Self::Flat<'_>, start: usize, end: usize) -> Self::Flat<'_>;
    /// Copies the samples at `indices` into `out` (reusing its capacity).
    fn gather(flat: Self::Flat<'_>, indices: &[usize], out: &mut Self::Buffers);
    /// The flat view of gathered buffers.
    fn view(buffers: &Self::Buffers) -> Self::Flat<'_>;
    /// Member `i` of every sample as `f32` (targets), replacing `out`'s contents.
    fn member_f32(flat: Self::Flat<'_>, i: usize, out: &mut Vec<f32>);
    /// One sample from its members' flat `f32` values (model outputs).
    fn from_members(members: &[&[f32]]) -> Self;
    /// The first NaN or infinite value of a flat batch, as
    /// `(member, sample, feature, value)`.
    fn first_non_finite(flat: Self::Flat<'_>) -> Option<(usize, usize, usize, f32)>;
}

/// `first_non_finite` of one member.
fn non_finite_of<S: Sample>(flat: &[S::Elem], member: usize) -> Option<(usize, usize, usize, f32)> {
    let i = S::Elem::first_non_finite(flat)?;
    Some((member, i / S::LEN.max(1), i % S::LEN.max(1), flat[i].to_f32()))
}

/// Samples `start..end` of a flat batch of `S`.
fn range_of<S: Sample>(flat: &[S::Elem], start: usize, end: usize) -> &[S::Elem] {
    &flat[start * S::LEN..end * S::LEN]
}

/// Copies the samples at `indices` into `out`, reusing its capacity.
fn gather_of<S: Sample>(flat: &[S::Elem], indices: &[usize], out: &mut Vec<S::Elem>) {
    out.clear();
    for &i in indices {
        out.extend_from_slice(&flat[i * S::LEN..(i + 1) * S::LEN]);
    }
}

fn to_f32_into<E: Element>(flat: &[E], out: &mut Vec<f32>) {
    out.clear();
    out.extend(flat.iter().map(|v| v.to_f32()));
}

fn from_f32_values<S: Sample>(values: &[f32]) -> S {
    let mut out = S::zeroed();
    // SAFETY: `Sample` guarantees `S` is `LEN` packed elements.
    let dst = unsafe { std::slice::from_raw_parts_mut((&mut out as *mut S).cast::<S::Elem>(), S::LEN) };
    dst.iter_mut().zip(values).for_each(|(d, &v)| *d = Element::from_f32(v));
    out
}

macro_rules! single_sample_set {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        impl<$($generics)*> SampleSet for $ty {
            type Batch<'a> = &'a [$ty];
            type Flat<'a> = &'a [<$ty as Sample>::Elem];
            type Buffers = Vec<<$ty as Sample>::Elem>;
            const COUNT: usize = 1;
            fn member_len(_: usize) -> usize {
                <$ty as Sample>::LEN
            }
            fn samples(batch: Self::Batch<'_>) -> crate::Result<usize> {
                Ok(batch.len())
            }
            fn flatten(batch: Self::Batch<'_>) -> Self::Flat<'_> {
                flatten(batch)
            }
            fn range(flat: Self::Flat<'_>, start: usize, end: usize) -> Self::Flat<'_> {
                range_of::<$ty>(flat, start, end)
            }
            fn gather(flat: Self::Flat<'_>, indices: &[usize], out: &mut Self::Buffers) {
                gather_of::<$ty>(flat, indices, out)
            }
            fn view(buffers: &Self::Buffers) -> Self::Flat<'_> {
                buffers
            }
            fn member_f32(flat: Self::Flat<'_>, _: usize, out: &mut Vec<f32>) {
                to_f32_into(flat, out)
            }
            fn from_members(members: &[&[f32]]) -> Self {
                from_f32_values::<$ty>(members[0])
            }
            fn first_non_finite(flat: Self::Flat<'_>) -> Option<(usize, usize, usize, f32)> {
                non_finite_of::<$ty>(flat, 0)
            }
        }
    )*};
}

single_sample_set!([] f32, [] u32, [T: Sample, const N: usize] [T; N]);

macro_rules! tuple_sample_set {
    ($count:expr; $($name:ident $idx:tt),+) => {
        impl<$($name: Sample),+> SampleSet for ($($name,)+) {
            type Batch<'a> = ($(&'a [$name],)+);
            type Flat<'a> = ($(&'a [$name::Elem],)+);
            type Buffers = ($(Vec<$name::Elem>,)+);
            const COUNT: usize = $count;
            fn member_len(i: usize) -> usize {
                [$($name::LEN),+][i]
            }
            fn samples(batch: Self::Batch<'_>) -> crate::Result<usize> {
                let lens = [$(batch.$idx.len()),+];
                match lens.iter().find(|&&l| l != lens[0]) {
                    Some(&other) => Err(crate::Error::MemberCountMismatch { first: lens[0], other }),
                    None => Ok(lens[0]),
                }
            }
            fn flatten(batch: Self::Batch<'_>) -> Self::Flat<'_> {
                ($(flatten(batch.$idx),)+)
            }
            fn range(flat: Self::Flat<'_>, start: usize, end: usize) -> Self::Flat<'_> {
                ($(range_of::<$name>(flat.$idx, start, end),)+)
            }
            fn gather(flat: Self::Flat<'_>, indices: &[usize], out: &mut Self::Buffers) {
                $(gather_of::<$name>(flat.$idx, indices, &mut out.$idx);)+
            }
            fn view(buffers: &Self::Buffers) -> Self::Flat<'_> {
                ($(buffers.$idx.as_slice(),)+)
            }
            fn member_f32(flat: Self::Flat<'_>, i: usize, out: &mut Vec<f32>) {
                $(if i == $idx { to_f32_into(flat.$idx, out); })+
            }
            fn from_members(members: &[&[f32]]) -> Self {
                ($(from_f32_values::<$name>(members[$idx]),)+)
            }
            fn first_non_finite(flat: Self::Flat<'_>) -> Option<(usize, usize, usize, f32)> {
                None$(.or_else(|| non_finite_of::<$name>(flat.$idx, $idx)))+
            }
        }
    };
}

/// Something that views as a slice of samples: `&[S]`, `&Vec<S>`, `&[S; N]`.
pub trait AsSamples<'a>: Copy {
    /// The sample type.
    type Sample: Sample;
    /// The samples.
    fn as_samples(self) -> &'a [Self::Sample];
}

impl<'a, S: Sample> AsSamples<'a> for &'a [S] {
    type Sample = S;
    fn as_samples(self) -> &'a [S] {
        self
    }
}

impl<'a, S: Sample> AsSamples<'a> for &'a Vec<S> {
    type Sample = S;
    fn as_samples(self) -> &'a [S] {
        self
    }
}

impl<'a, S: Sample, const N: usize> AsSamples<'a> for &'a [S; N] {
    type Sample = S;
    fn as_samples(self) -> &'a [S] {
        self
    }
}

/// What `fit`, `evaluate` and friends accept as data: samples of one
/// input (`&x`), or a tuple with one entry per input / output
/// (`(&main_input, &aux_input)`), like Keras's list of arrays. It names its
/// [`SampleSet`], so the types are inferred from the arguments.
pub trait BatchOf<'a>: Copy {
    /// The sample set this is a batch of.
    type Set: SampleSet;
    /// The batch in the set's own form.
    fn into_batch(self) -> <Self::Set as SampleSet>::Batch<'a>;
}

macro_rules! single_batch_of {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        impl<'a, S: Sample + SampleSet<Batch<'a> = &'a [S]>, $($generics)*> BatchOf<'a> for $ty {
            type Set = S;
            fn into_batch(self) -> &'a [S] {
                self.as_samples()
            }
        }
    )*};
}

single_batch_of!([] &'a [S], [] &'a Vec<S>, [const N: usize] &'a [S; N]);

macro_rules! tuple_batch_of {
    ($($name:ident $idx:tt),+) => {
        impl<'a, $($name: AsSamples<'a>),+> BatchOf<'a> for ($($name,)+) {
            type Set = ($($name::Sample,)+);
            fn into_batch(self) -> <Self::Set as SampleSet>::Batch<'a> {
                ($(self.$idx.as_samples(),)+)
            }
        }
    };
}

tuple_batch_of!(A 0, B 1);
tuple_batch_of!(A 0, B 1, C 2);
tuple_batch_of!(A 0, B 1, C 2, D 3);

tuple_sample_set!(2; A 0, B 1);
tuple_sample_set!(3; A 0, B 1, C 2);
tuple_sample_set!(4; A 0, B 1, C 2, D 3);

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
