//! A small fork–join pool that splits one large product across cores.
//!
//! kiln runs on one thread unless asked (`set_num_threads`, or the
//! `KILN_THREADS` environment variable): on small models a second thread
//! costs more in wake-ups than it saves. With `n > 1` threads, `n − 1`
//! helper threads are started once; a product big enough to pay for the
//! hand-off is cut into `n` parts, the caller computes part 0 and waits
//! for the helpers. Helpers spin briefly between jobs (a training step
//! issues products back to back), then park.
//!
//! Posting a job allocates nothing: the job is a reference to a closure on
//! the caller's stack, valid because the caller waits for every part.
//!
//! ```
//! kiln::parallel::set_num_threads(2);
//! assert_eq!(kiln::parallel::num_threads(), 2);
//! kiln::parallel::set_num_threads(1);
//! ```

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle helper spins before parking.
const SPIN: Duration = Duration::from_millis(2);

const IDLE: u32 = 0;
const POSTED: u32 = 1;
const DONE: u32 = 2;
const PANICKED: u32 = 3;

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads large products use (like `torch.set_num_threads`).
pub fn set_num_threads(threads: usize) {
    THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// The number of threads large products use: `set_num_threads`, else
/// `KILN_THREADS`, else 1.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("KILN_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1usize).max(1);
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// The number of parts to cut `work` multiply–adds of a compute-bound
/// product into: below ~1M per part (tens of µs on one core) a
/// hand-off is not worth it.
pub(crate) fn parts_for(work: usize) -> usize {
    parts_for_work(work, 1 << 20)
}

/// The number of parts to cut `work` into, at least `min_per_part` each.
pub(crate) fn parts_for_work(work: usize, min_per_part: usize) -> usize {
    num_threads().min(work / min_per_part).max(1)
}

type Job = *const (dyn Fn(usize) + Sync);

struct Slot {
    state: AtomicU32,
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written by the posting thread before `state` becomes
// POSTED (release) and read by the helper after it sees POSTED (acquire);
// the pointee is `Sync` and outlives the job (the poster waits for DONE).
unsafe impl Sync for Slot {}
unsafe impl Send for Slot {}

struct Helper {
    slot: Arc<Slot>,
    thread: Thread,
}

struct Pool {
    helpers: Mutex<Vec<Helper>>,
    busy: AtomicBool,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { helpers: Mutex::new(Vec::new()), busy: AtomicBool::new(false) })
}

fn helper_loop(slot: Arc<Slot>, index: usize) {
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while slot.state.load(Ordering::Acquire) != POSTED {
            spins = spins.wrapping_add(1);
            // Reading the clock is a (v)syscall; look at it now and then.
            if spins % 256 != 0 || start.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                thread::park_timeout(Duration::from_millis(100));
            }
        }
        // SAFETY: see `Slot`; the job stays valid until we publish DONE.
        let job = unsafe { (*slot.job.get()).expect("a posted job") };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)(index) }));
        slot.state.store(if result.is_ok() { DONE } else { PANICKED }, Ordering::Release);
    }
}

/// Runs `f(0)`, …, `f(parts − 1)`, part 0 on the calling thread and the
/// others on helpers when the pool is free (otherwise all on the caller).
pub(crate) fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let pool = pool();
    if parts <= 1 || pool.busy.swap(true, Ordering::Acquire) {
        (0..parts).for_each(f);
        return;
    }
    let helpers = {
        let mut helpers = pool.helpers.lock().unwrap_or_else(|e| e.into_inner());
        while helpers.len() < parts - 1 {
            let slot = Arc::new(Slot { state: AtomicU32::new(IDLE), job: UnsafeCell::new(None) });
            let index = helpers.len() + 1;
            let for_thread = Arc::clone(&slot);
            let handle = thread::Builder::new()
                .name(format!("kiln-{index}"))
                .spawn(move || helper_loop(for_thread, index))
                .expect("cannot start a kiln helper thread");
            helpers.push(Helper { slot, thread: handle.thread().clone() });
        }
        helpers
    };
    // SAFETY: erasing the lifetime is sound because we wait below until
    // every helper has finished with the job.
    let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f) };
    for helper in helpers.iter().take(parts - 1) {
        // SAFETY: the helper is IDLE, so it does not read `job` now.
        unsafe { *helper.slot.job.get() = Some(job) };
        helper.slot.state.store(POSTED, Ordering::Release);
        helper.thread.unpark();
    }
    f(0);
    let mut panicked = false;
    for helper in helpers.iter().take(parts - 1) {
        let mut spins = 0u32;
        loop {
            match helper.slot.state.load(Ordering::Acquire) {
                DONE => break,
                PANICKED => {
                    panicked = true;
                    break;
                }
                _ if spins < 1 << 16 => {
                    spins += 1;
                    std::hint::spin_loop();
                }
                _ => thread::yield_now(),
            }
        }
        helper.slot.state.store(IDLE, Ordering::Relaxed);
    }
    drop(helpers);
    pool.busy.store(false, Ordering::Release);
    assert!(!panicked, "a kiln helper thread panicked");
}

/// A mutable buffer whose disjoint ranges parts of one [`run`] write. It
/// holds the buffer's mutable borrow for as long as it is used.
pub(crate) struct Disjoint<'a, T> {
    ptr: *mut T,
    len: usize,
    borrow: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: parts only take disjoint ranges (see `range`), and the buffer
// outlives `run`, which waits for every part.
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    pub(crate) fn new(buf: &'a mut [T]) -> Self {
        Disjoint { ptr: buf.as_mut_ptr(), len: buf.len(), borrow: std::marker::PhantomData }
    }

    /// Elements `start..end`.
    ///
    /// # Safety
    /// Ranges taken by concurrently running parts must not overlap, and
    /// the buffer must outlive the returned slice.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn range(&self, start: usize, end: usize) -> &mut [T] {
        assert!(start <= end && end <= self.len, "range out of bounds");
        std::slice::from_raw_parts_mut(self.ptr.add(start), end - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once() {
        let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..100 {
            run(3, &|p| {
                hits[p].fetch_add(1, Ordering::Relaxed);
            });
        }
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 100));
    }
}
