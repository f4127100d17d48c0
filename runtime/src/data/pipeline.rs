//! Input pipelines in the spirit of `tf.data`, and the batches `fit`,
//! `evaluate` and `predict` read from them or from a generator.
//!
//! ```
//! use kiln::data::Dataset;
//!
//! let x: Vec<[f32; 2]> = (0..10).map(|i| [i as f32, 0.0]).collect();
//! let y: Vec<u32> = (0..10).map(|i| i % 2).collect();
//! let ds = Dataset::from_slices(&x, &y)?
//!     .map(|(x, y): ([f32; 2], u32)| ([x[0] / 10.0, 1.0], y))
//!     .shuffle(4, 7)
//!     .batch(4)
//!     .repeat(Some(2))
//!     .prefetch(2);
//! let sizes: Vec<usize> = ds.iter()?.map(|b| b.len()).collect();
//! assert_eq!(sizes, [4, 4, 2, 4, 4, 2]);
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! A [`Dataset`] is a recipe: each [`Dataset::iter`] starts a fresh pass
//! (as iterating a `tf.data.Dataset` does), so `repeat` and the epochs of
//! `fit` re-run it, and a seeded `shuffle` draws a new, reproducible order
//! on each pass (tf.data's `reshuffle_each_iteration=True`).
//!
//! Batches recycle their buffers: a [`Batch`] dropped by `fit` returns its
//! vectors to the `batch` stage that made it, so once every buffer in
//! flight exists, a pipeline of `from_slices`, `map`, `shuffle`, `batch`,
//! `repeat`, `take` and `prefetch` allocates nothing per batch.

use crate::error::{Error, Result};
use crate::sample::{flatten_one, BatchOf, Sample, SampleSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// The number of elements a [`Dataset`] yields per pass
/// (tf.data's `cardinality()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cardinality {
    /// Exactly this many.
    Finite(usize),
    /// It never ends (`repeat(None)`).
    Infinite,
    /// Not known in advance (`from_generator`).
    Unknown,
}

impl Cardinality {
    fn map(self, f: impl FnOnce(usize) -> usize) -> Self {
        match self {
            Cardinality::Finite(n) => Cardinality::Finite(f(n)),
            other => other,
        }
    }
}

type Iter<T> = Box<dyn Iterator<Item = T> + Send>;
type Make<T> = Arc<dyn Fn() -> Iter<T> + Send + Sync>;

/// The most elements `prefetch` holds ahead, whatever its `buffer_size`
/// (see [`Dataset::prefetch`]).
const MAX_PREFETCH: usize = 1024;

/// The most samples a new batch reserves room for when the number of
/// elements per pass is not known (see [`Dataset::batch_with`]).
const MAX_BATCH_RESERVE: usize = 1024;

/// A reusable description of a stream of elements: `from_slices`, then
/// `map`, `shuffle`, `batch`, `repeat`, `take`, `prefetch`, as in `tf.data`.
///
/// Arguments are checked when the dataset is iterated ([`Dataset::iter`],
/// or `fit` / `evaluate` / `predict`), which report an invalid one (a batch
/// size of 0, a shuffle buffer of 0) as [`Error::InvalidArgument`] naming it.
pub struct Dataset<T> {
    make: Make<T>,
    cardinality: Cardinality,
    /// The first invalid argument of the chain: `(name, reason)`.
    invalid: Option<(&'static str, String)>,
}

impl<T> Clone for Dataset<T> {
    fn clone(&self) -> Self {
        Dataset { make: self.make.clone(), cardinality: self.cardinality, invalid: self.invalid.clone() }
    }
}

impl<T> std::fmt::Debug for Dataset<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset").field("cardinality", &self.cardinality).finish_non_exhaustive()
    }
}

/// A sample set that `Dataset::from_slices` can take apart and `batch`
/// can put back together: one sample (`[f32; 784]`, `u32`, …) or a tuple
/// of them (one member per input or output).
pub trait Rows: SampleSet {
    /// Sample `i` of a batch.
    fn row(batch: Self::Batch<'_>, i: usize) -> Self;
    /// Appends this sample's flat values to `buffers`.
    fn push_into(&self, buffers: &mut Self::Buffers);
    /// Empties `buffers`, keeping their capacity.
    fn clear(buffers: &mut Self::Buffers);
    /// Reserves room for `samples` more samples.
    ///
    /// # Panics
    /// As [`Vec::reserve`], when the room needed exceeds `isize::MAX`
    /// bytes (a number of values beyond `usize::MAX` counts as that).
    fn reserve(buffers: &mut Self::Buffers, samples: usize);
}

macro_rules! single_rows {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        impl<$($generics)*> Rows for $ty {
            fn row(batch: Self::Batch<'_>, i: usize) -> Self {
                batch[i]
            }
            fn push_into(&self, buffers: &mut Self::Buffers) {
                buffers.extend_from_slice(flatten_one(self));
            }
            fn clear(buffers: &mut Self::Buffers) {
                buffers.clear();
            }
            fn reserve(buffers: &mut Self::Buffers, samples: usize) {
                // Saturating: an overflowing count is a too-large reservation, not a wrapped small one.
                buffers.reserve(samples.saturating_mul(<$ty as Sample>::LEN));
            }
        }
    )*};
}

single_rows!([] f32, [] u32, [T: Sample, const N: usize] [T; N]);

macro_rules! tuple_rows {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Sample),+> Rows for ($($name,)+) {
            fn row(batch: Self::Batch<'_>, i: usize) -> Self {
                ($(batch.$idx[i],)+)
            }
            fn push_into(&self, buffers: &mut Self::Buffers) {
                $(buffers.$idx.extend_from_slice(flatten_one(&self.$idx));)+
            }
            fn clear(buffers: &mut Self::Buffers) {
                $(buffers.$idx.clear();)+
            }
            fn reserve(buffers: &mut Self::Buffers, samples: usize) {
                // Saturating: an overflowing count is a too-large reservation, not a wrapped small one.
                $(buffers.$idx.reserve(samples.saturating_mul($name::LEN));)+
            }
        }
    };
}

tuple_rows!(A 0, B 1);
tuple_rows!(A 0, B 1, C 2);
tuple_rows!(A 0, B 1, C 2, D 3);

/// One element before batching: `(x, y)`, or `(x, y, sample_weight)`.
pub trait Example: Send + 'static {
    /// The inputs of one sample.
    type X: Rows;
    /// The targets of one sample.
    type Y: Rows;
    /// The parts; the weight is `None` for `(x, y)`.
    fn parts(&self) -> (&Self::X, &Self::Y, Option<f32>);
}

impl<X: Rows, Y: Rows> Example for (X, Y) {
    type X = X;
    type Y = Y;
    fn parts(&self) -> (&X, &Y, Option<f32>) {
        (&self.0, &self.1, None)
    }
}

impl<X: Rows, Y: Rows> Example for (X, Y, f32) {
    type X = X;
    type Y = Y;
    fn parts(&self) -> (&X, &Y, Option<f32>) {
        (&self.0, &self.1, Some(self.2))
    }
}

impl<X: Rows, Y: Rows> Dataset<(X, Y)> {
    /// Keras's `tf.data.Dataset.from_tensor_slices((x, y))`: one element
    /// per sample, in order. `x` and `y` are what `fit` takes (a slice of
    /// samples, or a tuple of slices for several inputs or outputs); they
    /// are copied, so the dataset owns its data and can feed another thread.
    ///
    /// # Errors
    /// [`Error::SampleCountMismatch`] when `x` and `y` hold different
    /// numbers of samples, [`Error::MemberCountMismatch`] within a tuple.
    pub fn from_slices<'a, XB, YB>(x: XB, y: YB) -> Result<Self>
    where
        XB: BatchOf<'a, Set = X>,
        YB: BatchOf<'a, Set = Y>,
    {
        let (xb, yb) = (x.into_batch(), y.into_batch());
        let (n, m) = (X::samples(xb)?, Y::samples(yb)?);
        if n != m {
            return Err(Error::SampleCountMismatch { inputs: n, targets: m });
        }
        let rows: Arc<[(X, Y)]> = (0..n).map(|i| (X::row(xb, i), Y::row(yb, i))).collect();
        Ok(Dataset::from_shared(rows))
    }
}

impl<X: Rows, Y: Rows> Dataset<(X, Y, f32)> {
    /// [`Dataset::from_slices`] with one `sample_weight` per sample
    /// (`from_tensor_slices((x, y, w))`).
    ///
    /// # Errors
    /// As [`Dataset::from_slices`], and [`Error::InvalidArgument`] naming
    /// `sample_weight` when it holds another number of weights.
    pub fn from_slices_weighted<'a, XB, YB>(x: XB, y: YB, sample_weight: &[f32]) -> Result<Self>
    where
        XB: BatchOf<'a, Set = X>,
        YB: BatchOf<'a, Set = Y>,
    {
        let (xb, yb) = (x.into_batch(), y.into_batch());
        let (n, m) = (X::samples(xb)?, Y::samples(yb)?);
        if n != m {
            return Err(Error::SampleCountMismatch { inputs: n, targets: m });
        }
        if sample_weight.len() != n {
            return Err(Error::InvalidArgument {
                name: "sample_weight",
                reason: format!(
                    "needs one weight per sample: x holds {n} samples, but {} weights were given",
                    sample_weight.len()
                ),
            });
        }
        let rows: Arc<[(X, Y, f32)]> = (0..n).map(|i| (X::row(xb, i), Y::row(yb, i), sample_weight[i])).collect();
        Ok(Dataset::from_shared(rows))
    }
}

impl<T: Copy + Send + Sync + 'static> Dataset<T> {
    /// Elements from a shared slice, in order.
    fn from_shared(rows: Arc<[T]>) -> Self {
        let n = rows.len();
        Dataset::new(
            move || {
                let rows = rows.clone();
                Box::new((0..rows.len()).map(move |i| rows[i])) as Iter<T>
            },
            Cardinality::Finite(n),
        )
    }
}

impl<T: Send + 'static> Dataset<T> {
    fn new(make: impl Fn() -> Iter<T> + Send + Sync + 'static, cardinality: Cardinality) -> Self {
        Dataset { make: Arc::new(make), cardinality, invalid: None }
    }

    /// A dataset whose passes are the iterators `make` returns (tf.data's
    /// `from_generator`); its cardinality is unknown, so `fit` needs
    /// `steps_per_epoch` unless it is cut by `take`.
    pub fn from_generator<I>(make: impl Fn() -> I + Send + Sync + 'static) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Dataset::new(move || Box::new(make().into_iter()) as Iter<T>, Cardinality::Unknown)
    }

    /// A new stage on top of this one, keeping the first invalid argument.
    fn then<U: Send + 'static>(
        &self,
        cardinality: Cardinality,
        stage: impl Fn(Iter<T>) -> Iter<U> + Send + Sync + 'static,
    ) -> Dataset<U> {
        let make = self.make.clone();
        Dataset { make: Arc::new(move || stage(make())), cardinality, invalid: self.invalid.clone() }
    }

    fn invalid_if(mut self, bad: bool, name: &'static str, reason: impl FnOnce() -> String) -> Self {
        if bad && self.invalid.is_none() {
            self.invalid = Some((name, reason()));
        }
        self
    }

    /// Elements per pass, as far as known.
    pub fn cardinality(&self) -> Cardinality {
        self.cardinality
    }

    /// Starts a pass over the elements.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for the first invalid argument of the
    /// chain (`batch_size`, `buffer_size`).
    pub fn iter(&self) -> Result<DatasetIter<T>> {
        self.check()?;
        Ok(DatasetIter { inner: (self.make)() })
    }

    /// The first invalid argument of the chain, without starting a pass
    /// (`fit` checks its datasets before training begins).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming it (`batch_size`, `buffer_size`).
    pub fn check(&self) -> Result<()> {
        match &self.invalid {
            Some((name, reason)) => Err(Error::InvalidArgument { name, reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// Applies `f` to every element (tf.data's `map`), before or after
    /// batching, whatever the element is.
    pub fn map<U: Send + 'static>(self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Dataset<U> {
        let f = Arc::new(f);
        self.then(self.cardinality, move |it| {
            let f = f.clone();
            Box::new(it.map(move |e| f(e)))
        })
    }

    /// tf.data's `shuffle(buffer_size, seed)`: fills a buffer with the
    /// first `buffer_size` elements, then repeatedly yields a uniformly
    /// chosen buffered element and puts the next input element in its
    /// place; once the input ends, the buffer drains in random order.
    /// So a buffer of 1 keeps the order, a buffer at least as large as
    /// the dataset gives a uniform permutation, and element `k` of the
    /// output is one of the first `k + buffer_size` inputs. Each pass
    /// draws a new order, and the sequence of orders is fixed by `seed`
    /// (`reshuffle_each_iteration=True`). Clones of the dataset share that
    /// sequence, as iterations of one tf.data dataset do: a second `fit`
    /// on a clone gets the next orders; build the dataset again to start
    /// the sequence over.
    pub fn shuffle(self, buffer_size: usize, seed: u64) -> Dataset<T> {
        let passes = Arc::new(AtomicU64::new(0));
        let cardinality = self.cardinality;
        self.invalid_if(buffer_size == 0, "buffer_size", || "must be at least 1, but is 0".into()).then(
            cardinality,
            move |it| {
                let pass = passes.fetch_add(1, Ordering::Relaxed);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(pass);
                Box::new(Shuffle { input: Some(it), buffer: Vec::new(), size: buffer_size.max(1), rng })
            },
        )
    }

    /// The first `count` elements of each pass (tf.data's `take`).
    pub fn take(self, count: usize) -> Dataset<T> {
        let cardinality = match self.cardinality {
            Cardinality::Finite(n) => Cardinality::Finite(n.min(count)),
            _ => Cardinality::Finite(count),
        };
        // `Unknown` may end sooner than `count`; keep it honest.
        let cardinality = if self.cardinality == Cardinality::Unknown { Cardinality::Unknown } else { cardinality };
        self.then(cardinality, move |it| Box::new(it.take(count)))
    }

    /// tf.data's `repeat(count)`: `Some(k)` passes one after the other,
    /// `None` for ever. Each pass is a fresh one (a new shuffle order).
    /// As in tf.data, a pass that yields nothing ends the repetition, so an
    /// empty dataset repeated (any number of times, or for ever) is empty.
    ///
    /// The cardinality is `k` times the input's, 0 when either is 0, and
    /// [`Cardinality::Infinite`] when the product exceeds `usize::MAX`
    /// (more elements than any run can read).
    pub fn repeat(self, count: Option<usize>) -> Dataset<T> {
        let cardinality = match (count, self.cardinality) {
            (Some(0), _) | (_, Cardinality::Finite(0)) => Cardinality::Finite(0),
            (Some(k), Cardinality::Finite(n)) => n.checked_mul(k).map_or(Cardinality::Infinite, Cardinality::Finite),
            (Some(_), c) => c,
            (None, _) => Cardinality::Infinite,
        };
        let make = self.make.clone();
        Dataset {
            make: Arc::new(move || {
                Box::new(Repeat { make: make.clone(), current: None, passes_left: count, yielded_this_pass: false })
                    as Iter<T>
            }),
            cardinality,
            invalid: self.invalid,
        }
    }

    /// Produces up to `buffer_size` elements ahead on a background thread
    /// (tf.data's `prefetch`), handed over through a bounded channel. 0
    /// prefetches nothing. A panic in an earlier stage (a `map` closure,
    /// say) is re-raised in the consuming thread.
    ///
    /// `buffer_size` is a bound, not an allocation: at most 1024 elements,
    /// and no more than a pass holds, wait in the channel, so a huge value
    /// (`usize::MAX`) works.
    pub fn prefetch(self, buffer_size: usize) -> Dataset<T> {
        if buffer_size == 0 {
            return self;
        }
        // The channel allocates every slot up front, so a slot per element
        // of `buffer_size` could exceed memory; slots beyond what a pass
        // holds are never filled, and MAX_PREFETCH elements ahead already
        // hide any stall of the producer.
        let mut bound = buffer_size.min(MAX_PREFETCH);
        if let Cardinality::Finite(n) = self.cardinality {
            bound = bound.min(n);
        }
        self.then(self.cardinality, move |it| Box::new(Prefetch::start(it, bound)))
    }
}

impl<E: Example> Dataset<E> {
    /// Combines consecutive elements into [`Batch`]es of `batch_size`
    /// (tf.data's `batch`); the last batch of a pass holds the remaining
    /// elements (`drop_remainder = false`).
    pub fn batch(self, batch_size: usize) -> Dataset<Batch<E::X, E::Y>> {
        self.batch_with(batch_size, false)
    }

    /// [`Dataset::batch`] with tf.data's `drop_remainder`: when true, a
    /// last batch smaller than `batch_size` is dropped.
    ///
    /// A `batch_size` larger than a pass (up to `usize::MAX`) makes one
    /// batch of the whole pass, or none with `drop_remainder`.
    pub fn batch_with(self, batch_size: usize, drop_remainder: bool) -> Dataset<Batch<E::X, E::Y>> {
        let size = batch_size.max(1);
        let cardinality = self.cardinality.map(|n| if drop_remainder { n / size } else { n.div_ceil(size) });
        // Room reserved in a new batch: `size` samples, but no more than a
        // pass holds, nor than MAX_BATCH_RESERVE when that is not known, so
        // a batch size beyond the data allocates for the data only; a batch
        // that does get larger grows as its samples arrive.
        let reserve = match self.cardinality {
            Cardinality::Finite(n) => size.min(n),
            _ => size.min(MAX_BATCH_RESERVE),
        };
        let pool: Arc<Pool<E::X, E::Y>> = Arc::new(Mutex::new(Vec::new()));
        self.invalid_if(batch_size == 0, "batch_size", || "must be at least 1, but is 0".into())
            .then(cardinality, move |it| {
                Box::new(Batcher { input: it, size, reserve, drop_remainder, pool: pool.clone() })
            })
    }
}

/// One pass over a [`Dataset`].
pub struct DatasetIter<T> {
    inner: Iter<T>,
}

impl<T> Iterator for DatasetIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.inner.next()
    }
}

struct Shuffle<T> {
    input: Option<Iter<T>>,
    buffer: Vec<T>,
    size: usize,
    rng: ChaCha8Rng,
}

impl<T> Iterator for Shuffle<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if let Some(input) = &mut self.input {
            if self.buffer.capacity() == 0 {
                // Sized once per pass: the buffer, or the data when smaller.
                let hint = input.size_hint().0;
                self.buffer.reserve(self.size.min(hint.max(1)));
            }
            while self.buffer.len() < self.size {
                match input.next() {
                    Some(e) => self.buffer.push(e),
                    None => {
                        self.input = None;
                        break;
                    }
                }
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let j = self.rng.gen_range(0..self.buffer.len());
        // The next input takes the chosen slot; at the end the buffer shrinks.
        match self.input.as_mut().and_then(|i| i.next()) {
            Some(e) => Some(std::mem::replace(&mut self.buffer[j], e)),
            None => {
                self.input = None;
                Some(self.buffer.swap_remove(j))
            }
        }
    }
}

struct Repeat<T> {
    make: Make<T>,
    current: Option<Iter<T>>,
    /// `None`: for ever.
    passes_left: Option<usize>,
    yielded_this_pass: bool,
}

impl<T> Iterator for Repeat<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        loop {
            if self.current.is_none() {
                match &mut self.passes_left {
                    Some(0) => return None,
                    Some(k) => *k -= 1,
                    None => {}
                }
                self.current = Some((self.make)());
                self.yielded_this_pass = false;
            }
            match self.current.as_mut().and_then(|c| c.next()) {
                Some(e) => {
                    self.yielded_this_pass = true;
                    return Some(e);
                }
                None => {
                    self.current = None;
                    // A pass without elements ends the repetition (as in
                    // tf.data): the next passes are presumably empty too, and
                    // walking through them would spin for ever, or through
                    // up to `usize::MAX` passes. The end is final.
                    if !self.yielded_this_pass {
                        self.passes_left = Some(0);
                        return None;
                    }
                }
            }
        }
    }
}

/// What a producer thread sends: an element, or the end of its input.
enum Produced<T> {
    Item(T),
    End,
}

struct Prefetch<T> {
    receiver: Option<Receiver<Produced<T>>>,
    worker: Option<std::thread::JoinHandle<()>>,
    done: bool,
}

impl<T: Send + 'static> Prefetch<T> {
    fn start(mut input: Iter<T>, buffer_size: usize) -> Self {
        let (sender, receiver): (SyncSender<Produced<T>>, _) = std::sync::mpsc::sync_channel(buffer_size);
        let worker = std::thread::Builder::new()
            .name("kiln-prefetch".into())
            .spawn(move || {
                for e in input.by_ref() {
                    // The consumer is gone: stop producing.
                    if sender.send(Produced::Item(e)).is_err() {
                        return;
                    }
                }
                let _ = sender.send(Produced::End);
            })
            .expect("spawning the prefetch thread");
        Prefetch { receiver: Some(receiver), worker: Some(worker), done: false }
    }

    /// Joins the worker, re-raising its panic.
    fn join(&mut self) {
        self.receiver = None;
        if let Some(worker) = self.worker.take() {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl<T: Send + 'static> Iterator for Prefetch<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.done {
            return None;
        }
        match self.receiver.as_ref().map(|r| r.recv()) {
            Some(Ok(Produced::Item(e))) => Some(e),
            // `End`, or the worker died (a panic, re-raised by `join`).
            _ => {
                self.done = true;
                self.join();
                None
            }
        }
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it ends.
        self.receiver = None;
        if let Some(worker) = self.worker.take() {
            // A panic while already unwinding would abort; it is lost instead.
            let _ = worker.join();
        }
    }
}

/// The buffers of one batch.
struct Parts<X: SampleSet, Y: SampleSet> {
    x: X::Buffers,
    y: Y::Buffers,
    weights: Vec<f32>,
}

type Pool<X, Y> = Mutex<Vec<Parts<X, Y>>>;

/// A batch of samples made by [`Dataset::batch`]: flat inputs, targets
/// and optional sample weights. Dropping it returns its buffers to the
/// `batch` stage for reuse.
pub struct Batch<X: SampleSet, Y: SampleSet> {
    parts: Option<Parts<X, Y>>,
    len: usize,
    pool: Option<Arc<Pool<X, Y>>>,
}

impl<X: SampleSet, Y: SampleSet> Batch<X, Y> {
    fn parts(&self) -> &Parts<X, Y> {
        self.parts.as_ref().expect("a batch holds its parts until dropped")
    }

    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no sample (never, for batches `batch` makes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The inputs, flat (one slice per input).
    pub fn x(&self) -> X::Flat<'_> {
        X::view(&self.parts().x)
    }

    /// The targets, flat (one slice per output).
    pub fn y(&self) -> Y::Flat<'_> {
        Y::view(&self.parts().y)
    }

    /// The sample weights, when the elements carried them.
    pub fn sample_weight(&self) -> Option<&[f32]> {
        let w = &self.parts().weights;
        (!w.is_empty()).then_some(w.as_slice())
    }
}

impl<X: SampleSet, Y: SampleSet> Drop for Batch<X, Y> {
    fn drop(&mut self) {
        if let (Some(pool), Some(parts)) = (&self.pool, self.parts.take()) {
            if let Ok(mut pool) = pool.lock() {
                pool.push(parts);
            }
        }
    }
}

impl<X: SampleSet, Y: SampleSet> std::fmt::Debug for Batch<X, Y> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("len", &self.len).finish_non_exhaustive()
    }
}

struct Batcher<E: Example> {
    input: Iter<E>,
    size: usize,
    /// Samples to reserve room for in a new batch's buffers (at most `size`).
    reserve: usize,
    drop_remainder: bool,
    pool: Arc<Pool<E::X, E::Y>>,
}

impl<E: Example> Iterator for Batcher<E> {
    type Item = Batch<E::X, E::Y>;
    fn next(&mut self) -> Option<Self::Item> {
        let recycled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut parts = recycled.unwrap_or_else(|| {
            let mut p = Parts::<E::X, E::Y> { x: Default::default(), y: Default::default(), weights: Vec::new() };
            E::X::reserve(&mut p.x, self.reserve);
            E::Y::reserve(&mut p.y, self.reserve);
            p
        });
        E::X::clear(&mut parts.x);
        E::Y::clear(&mut parts.y);
        parts.weights.clear();
        let mut len = 0;
        while len < self.size {
            let Some(e) = self.input.next() else { break };
            let (x, y, w) = e.parts();
            x.push_into(&mut parts.x);
            y.push_into(&mut parts.y);
            if let Some(w) = w {
                parts.weights.push(w);
            }
            len += 1;
        }
        let batch = Batch { parts: Some(parts), len, pool: Some(self.pool.clone()) };
        // An empty or (with drop_remainder) short last batch returns its buffers on drop.
        if len == 0 || (self.drop_remainder && len < self.size) {
            return None;
        }
        Some(batch)
    }
}

// ---------------------------------------------------------------------------
// What `fit`, `evaluate` and `predict` accept besides arrays.
// ---------------------------------------------------------------------------

/// One member's samples in a batch a generator yields: `Vec<S>`, `&[S]`
/// or `&Vec<S>`.
pub trait Column {
    /// The sample type.
    type Sample: Sample;
    /// The samples.
    fn samples(&self) -> &[Self::Sample];
}

impl<S: Sample> Column for Vec<S> {
    type Sample = S;
    fn samples(&self) -> &[S] {
        self
    }
}

impl<S: Sample> Column for &[S] {
    type Sample = S;
    fn samples(&self) -> &[S] {
        self
    }
}

impl<S: Sample> Column for &Vec<S> {
    type Sample = S;
    fn samples(&self) -> &[S] {
        self
    }
}

/// The inputs (or targets) of a batch a generator yields: one [`Column`]
/// (`Vec<[f32; 784]>`, `&[u32]`), or a tuple of them, one per input or
/// output (Keras's list of arrays).
pub trait Columns {
    /// The sample set.
    type Set: SampleSet;
    /// Samples held (every member holds the same number).
    ///
    /// # Errors
    /// [`Error::MemberCountMismatch`] when members differ.
    fn count(&self) -> Result<usize>;
    /// The flat view.
    fn flat(&self) -> <Self::Set as SampleSet>::Flat<'_>;
}

macro_rules! single_columns {
    ($([$($generics:tt)*] $ty:ty, $s:ty),*) => {$(
        impl<$($generics)*> Columns for $ty {
            type Set = $s;
            fn count(&self) -> Result<usize> {
                Ok(Column::samples(self).len())
            }
            fn flat(&self) -> <$s as SampleSet>::Flat<'_> {
                crate::sample::flatten(Column::samples(self))
            }
        }
    )*};
}

single_columns!(
    [] Vec<f32>, f32, [] Vec<u32>, u32, [T: Sample, const N: usize] Vec<[T; N]>, [T; N],
    [] &[f32], f32, [] &[u32], u32, [T: Sample, const N: usize] &[[T; N]], [T; N],
    [] &Vec<f32>, f32, [] &Vec<u32>, u32, [T: Sample, const N: usize] &Vec<[T; N]>, [T; N]
);

macro_rules! tuple_columns {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Column),+> Columns for ($($name,)+) {
            type Set = ($($name::Sample,)+);
            fn count(&self) -> Result<usize> {
                let lens = [$(self.$idx.samples().len()),+];
                match lens.iter().find(|&&l| l != lens[0]) {
                    Some(&other) => Err(Error::MemberCountMismatch { first: lens[0], other }),
                    None => Ok(lens[0]),
                }
            }
            fn flat(&self) -> <Self::Set as SampleSet>::Flat<'_> {
                ($(crate::sample::flatten(self.$idx.samples()),)+)
            }
        }
    };
}

tuple_columns!(A 0, B 1);
tuple_columns!(A 0, B 1, C 2);
tuple_columns!(A 0, B 1, C 2, D 3);

/// A batch `fit` can train on: what a generator yields — `(x, y)` or
/// `(x, y, sample_weight)` of [`Columns`] — or a [`Batch`] of a [`Dataset`].
pub trait BatchData {
    /// The inputs' sample set.
    type X: SampleSet;
    /// The targets' sample set.
    type Y: SampleSet;
    /// The flat inputs, targets and sample weights, and the sample count.
    ///
    /// # Errors
    /// [`Error::SampleCountMismatch`] when `x` and `y` hold different
    /// numbers of samples, [`Error::MemberCountMismatch`] within a tuple,
    /// [`Error::InvalidArgument`] naming `sample_weight` for a wrong number
    /// of weights, [`Error::NoData`] for an empty batch.
    #[allow(clippy::type_complexity)]
    fn views(
        &self,
    ) -> Result<(<Self::X as SampleSet>::Flat<'_>, <Self::Y as SampleSet>::Flat<'_>, Option<&[f32]>, usize)>;
}

fn check_counts(n: usize, m: usize, weights: Option<usize>) -> Result<usize> {
    if n != m {
        return Err(Error::SampleCountMismatch { inputs: n, targets: m });
    }
    if n == 0 {
        return Err(Error::NoData("train on (a batch from the data source is empty)"));
    }
    match weights {
        Some(w) if w != n => Err(Error::InvalidArgument {
            name: "sample_weight",
            reason: format!("needs one weight per sample: the batch holds {n} samples, but {w} weights"),
        }),
        _ => Ok(n),
    }
}

impl<CX: Columns, CY: Columns> BatchData for (CX, CY) {
    type X = CX::Set;
    type Y = CY::Set;
    fn views(
        &self,
    ) -> Result<(<CX::Set as SampleSet>::Flat<'_>, <CY::Set as SampleSet>::Flat<'_>, Option<&[f32]>, usize)> {
        let n = check_counts(self.0.count()?, self.1.count()?, None)?;
        Ok((self.0.flat(), self.1.flat(), None, n))
    }
}

impl<CX: Columns, CY: Columns, W: AsRef<[f32]>> BatchData for (CX, CY, W) {
    type X = CX::Set;
    type Y = CY::Set;
    fn views(
        &self,
    ) -> Result<(<CX::Set as SampleSet>::Flat<'_>, <CY::Set as SampleSet>::Flat<'_>, Option<&[f32]>, usize)> {
        let w = self.2.as_ref();
        let n = check_counts(self.0.count()?, self.1.count()?, Some(w.len()))?;
        Ok((self.0.flat(), self.1.flat(), Some(w), n))
    }
}

impl<X: SampleSet, Y: SampleSet> BatchData for Batch<X, Y> {
    type X = X;
    type Y = Y;
    fn views(&self) -> Result<(X::Flat<'_>, Y::Flat<'_>, Option<&[f32]>, usize)> {
        let n = check_counts(self.len, self.len, None)?;
        Ok((self.x(), self.y(), self.sample_weight(), n))
    }
}

/// A stream of batches as `fit` consumes it: a generator, or passes over
/// a [`Dataset`].
pub trait BatchStream<X: SampleSet, Y: SampleSet> {
    /// Calls `f` with the next batch's flat views; `Ok(false)` when the
    /// stream has ended.
    ///
    /// # Errors
    /// The batch's [`BatchData::views`] error, or `f`'s.
    #[allow(clippy::type_complexity)]
    fn next_with(
        &mut self,
        f: &mut dyn FnMut(X::Flat<'_>, Y::Flat<'_>, Option<&[f32]>, usize) -> Result<()>,
    ) -> Result<bool>;
    /// Starts a new pass; false when the stream cannot (a generator).
    ///
    /// # Errors
    /// A dataset's invalid argument.
    fn restart(&mut self) -> Result<bool>;
    /// Batches per pass, as far as known.
    fn cardinality(&self) -> Cardinality;
    /// The stream's own arguments, checked before any pass begins (a
    /// dataset's `batch_size`, `buffer_size`); a generator has none.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first invalid one.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// A generator: an iterator of batches, consumed once.
struct Generator<I> {
    iter: I,
}

impl<I, B> BatchStream<B::X, B::Y> for Generator<I>
where
    I: Iterator<Item = B>,
    B: BatchData,
{
    fn next_with(
        &mut self,
        f: &mut dyn FnMut(
            <B::X as SampleSet>::Flat<'_>,
            <B::Y as SampleSet>::Flat<'_>,
            Option<&[f32]>,
            usize,
        ) -> Result<()>,
    ) -> Result<bool> {
        let Some(batch) = self.iter.next() else { return Ok(false) };
        let (x, y, w, n) = batch.views()?;
        f(x, y, w, n)?;
        Ok(true)
    }
    fn restart(&mut self) -> Result<bool> {
        Ok(false)
    }
    fn cardinality(&self) -> Cardinality {
        Cardinality::Unknown
    }
}

/// Passes over a dataset of batches.
struct Passes<B> {
    dataset: Dataset<B>,
    current: Option<DatasetIter<B>>,
}

impl<B: BatchData + Send + 'static> BatchStream<B::X, B::Y> for Passes<B> {
    fn next_with(
        &mut self,
        f: &mut dyn FnMut(
            <B::X as SampleSet>::Flat<'_>,
            <B::Y as SampleSet>::Flat<'_>,
            Option<&[f32]>,
            usize,
        ) -> Result<()>,
    ) -> Result<bool> {
        if self.current.is_none() {
            self.current = Some(self.dataset.iter()?);
        }
        let Some(batch) = self.current.as_mut().and_then(|c| c.next()) else { return Ok(false) };
        let (x, y, w, n) = batch.views()?;
        f(x, y, w, n)?;
        Ok(true)
    }
    fn restart(&mut self) -> Result<bool> {
        self.current = Some(self.dataset.iter()?);
        Ok(true)
    }
    fn check(&self) -> Result<()> {
        self.dataset.check()
    }
    fn cardinality(&self) -> Cardinality {
        self.dataset.cardinality
    }
}

/// What `fit_from`, `evaluate_from` and `predict_from` accept: a
/// generator (any iterator of [`BatchData`]: `(x, y)` or `(x, y, w)`
/// batches, Keras's `fit(generator)` / `fit_generator`) or a [`Dataset`]
/// of batches (or a reference to one).
pub trait IntoBatches<'a> {
    /// The inputs' sample set.
    type X: SampleSet;
    /// The targets' sample set.
    type Y: SampleSet;
    /// The stream `fit` reads.
    fn into_stream(self) -> Box<dyn BatchStream<Self::X, Self::Y> + 'a>;
}

impl<'a, I> IntoBatches<'a> for I
where
    I: IntoIterator,
    I::IntoIter: 'a,
    I::Item: BatchData,
{
    type X = <I::Item as BatchData>::X;
    type Y = <I::Item as BatchData>::Y;
    fn into_stream(self) -> Box<dyn BatchStream<Self::X, Self::Y> + 'a> {
        Box::new(Generator { iter: self.into_iter() })
    }
}

impl<'a, B: BatchData + Send + 'static> IntoBatches<'a> for Dataset<B> {
    type X = B::X;
    type Y = B::Y;
    fn into_stream(self) -> Box<dyn BatchStream<B::X, B::Y> + 'a> {
        Box::new(Passes { dataset: self, current: None })
    }
}

impl<'a, B: BatchData + Send + 'static> IntoBatches<'a> for &Dataset<B> {
    type X = B::X;
    type Y = B::Y;
    fn into_stream(self) -> Box<dyn BatchStream<B::X, B::Y> + 'a> {
        Box::new(Passes { dataset: self.clone(), current: None })
    }
}
