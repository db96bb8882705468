//! Deterministic parallel reduction over the lanes (distributions) of a strided array.
//!
//! Every lane is cut into blocks of [`BLOCK`] elements. Each block is reduced by a slice
//! kernel to partial statistics, and the partials of one lane are combined by a fixed
//! binary tree over the block index ([`tree_combine`]). Which thread computes a block
//! changes nothing, so results are bitwise identical for 1, 2 or 64 threads — and equal
//! to the sequential path, which uses the same blocks and the same tree.
//!
//! A call stays on the calling thread below [`PARALLEL_MIN_ELEMENTS`] elements: handing
//! work to the rayon pool costs ~10–15 µs (a wake-up and a join), the time the kernels
//! take for ~100k elements. Lanes that are not contiguous are gathered one block at a
//! time into a small buffer, so no copy of the input is ever made.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ndarray::{s, ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, Axis, Zip};
use rayon::prelude::*;
use rayon::ThreadPool;

use crate::error::Error;
use crate::kernels::Partial;

/// Elements per block. 8192 f64 = 64 KiB, small enough for L2, large enough that the
/// per-block overhead (a slice, a partial, a combine) is < 1% of the kernel time; and a
/// 10^7-element lane yields 1221 blocks, plenty for the work-stealing scheduler.
pub const BLOCK: usize = 8192;

/// Below this many elements a call runs on the calling thread (see module docs).
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 17;

// ---------------------------------------------------------------------------- threads

/// The configured thread count and, once a parallel call needed it, its pool.
struct Pool {
    threads: usize,
    pool: Option<Arc<ThreadPool>>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// The most threads a pool gets: 4× the CPUs (at least 8). More threads than cores only
/// add scheduling overhead to these compute-bound reductions, and each OS thread costs a
/// stack; `set_num_threads(65536)` would otherwise spawn 65536 of them.
pub fn max_threads() -> usize {
    (4 * cpu_count()).max(8)
}

fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `FASTENTROPY_NUM_THREADS` if it is a positive integer, else the CPU count; clamped to
/// [`max_threads`].
fn default_threads() -> usize {
    std::env::var("FASTENTROPY_NUM_THREADS")
        .ok()
        .and_then(|v| match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Some(u64::MAX),
            Err(_) => None,
        })
        .filter(|&n| n >= 1)
        .map(|n| n.min(max_threads() as u64) as usize)
        .unwrap_or_else(cpu_count)
}

fn configured(guard: &mut Option<Pool>) -> &mut Pool {
    guard.get_or_insert_with(|| Pool {
        threads: default_threads(),
        pool: None,
    })
}

/// The pool of a parallel call, built on first use. Building spawns the OS threads, so it
/// happens here — inside a call, with the GIL released — never in `set_num_threads`.
/// A pool that cannot be built (the OS refuses threads) leaves the call on one thread.
fn current_pool() -> Option<Arc<ThreadPool>> {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let config = configured(&mut guard);
    if config.threads <= 1 {
        return None;
    }
    if config.pool.is_none() {
        config.pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("fastentropy-{i}"))
            .build()
            .ok()
            .map(Arc::new);
    }
    config.pool.clone()
}

/// The number of threads reductions use (`FASTENTROPY_NUM_THREADS`, else the CPU count;
/// at most [`max_threads`]).
pub fn num_threads() -> usize {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    configured(&mut guard).threads
}

/// Sets the number of threads, clamped to [`max_threads`]; 1 runs everything on the
/// calling thread. Cheap: the pool itself is built by the next parallel call.
pub fn set_num_threads(threads: usize) -> Result<(), Error> {
    if threads == 0 {
        return Err(Error::InvalidThreadCount { value: threads });
    }
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    *guard = Some(Pool {
        threads: threads.min(max_threads()),
        pool: None,
    });
    Ok(())
}

// ---------------------------------------------------------------------- interruption

/// The interrupt hook: asked (on the calling thread only) whether the call should stop.
/// The Python binding registers one that checks for pending signals (Ctrl-C); without a
/// hook (plain Rust) calls are never interrupted.
static INTERRUPT_HOOK: OnceLock<fn() -> bool> = OnceLock::new();

/// How often the calling thread asks the hook: often enough that Ctrl-C stops a call
/// well within 0.2 s, rarely enough that the check (a GIL acquisition, ~1 µs) is free.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Registers the interrupt hook (once; later registrations are ignored).
pub fn set_interrupt_hook(hook: fn() -> bool) {
    let _ = INTERRUPT_HOOK.set(hook);
}

/// The stop flag of one call, shared by the threads working on it.
pub struct Stop {
    requested: AtomicBool,
    checks: AtomicU32,
    last_poll: Mutex<Instant>,
}

impl Stop {
    fn new() -> Self {
        Stop {
            requested: AtomicBool::new(false),
            checks: AtomicU32::new(0),
            last_poll: Mutex::new(Instant::now()),
        }
    }

    /// Asks the hook, at most every [`POLL_INTERVAL`], whether to stop; records a yes.
    fn poll_hook(&self) {
        let Some(hook) = INTERRUPT_HOOK.get() else {
            return;
        };
        {
            let mut last = self.last_poll.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < POLL_INTERVAL {
                return;
            }
            *last = Instant::now();
        }
        if hook() {
            self.requested.store(true, Ordering::Relaxed);
        }
    }

    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}

/// What a running call may do: fork work into the pool (`fork`), and find out whether it
/// was asked to stop ([`Ctx::stopped`]), which every loop over blocks or rows checks
/// between them.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// Whether the call runs in the pool and may use parallel iterators.
    pub fork: bool,
    stop: &'a Stop,
}

impl Ctx<'_> {
    /// Whether the call should stop now (Ctrl-C). Cheap on worker threads (one relaxed
    /// load); on the calling thread it also asks the interrupt hook, rate-limited. A
    /// stopped loop may return anything: [`run`] discards it and reports `Interrupted`.
    ///
    /// Callers check it between pieces of at most ~10^5 elements; on the calling thread
    /// the clock is read every 8th check, the hook every [`POLL_INTERVAL`].
    #[inline]
    pub fn stopped(&self) -> bool {
        if self.stop.is_requested() {
            return true;
        }
        // Without `fork` the work runs on the calling thread (the only one that may ask
        // the hook); with it, the calling thread polls in `run` while it waits.
        if !self.fork && self.stop.checks.fetch_add(1, Ordering::Relaxed) % 8 == 7 {
            self.stop.poll_hook();
            return self.stop.is_requested();
        }
        false
    }

    /// A context for work that is never forked nor interrupted (tests, tiny helpers).
    pub fn sequential<R>(f: impl FnOnce(Ctx<'_>) -> R) -> R {
        let stop = Stop::new();
        f(Ctx {
            fork: false,
            stop: &stop,
        })
    }
}

/// Runs `work` in the pool when `elements` is large enough and more than one thread is
/// configured; otherwise on the calling thread. While the pool computes, the calling
/// thread asks the interrupt hook every [`POLL_INTERVAL`] and raises the stop flag that
/// the workers check between blocks. Returns [`Error::Interrupted`] when stopped.
pub fn run<R: Send>(elements: usize, work: impl FnOnce(Ctx<'_>) -> R + Send) -> Result<R, Error> {
    let stop = Stop::new();
    let pool = if elements >= PARALLEL_MIN_ELEMENTS {
        current_pool()
    } else {
        None
    };
    let result = match pool {
        None => work(Ctx {
            fork: false,
            stop: &stop,
        }),
        Some(pool) => {
            let (send, receive) = mpsc::channel();
            let stop_ref = &stop;
            let mut result = None;
            pool.in_place_scope(|scope| {
                scope.spawn(move |_| {
                    let _ = send.send(work(Ctx {
                        fork: true,
                        stop: stop_ref,
                    }));
                });
                loop {
                    match receive.recv_timeout(POLL_INTERVAL) {
                        Ok(r) => {
                            result = Some(r);
                            break;
                        }
                        // The job panicked; the scope re-raises the panic when it ends.
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Err(mpsc::RecvTimeoutError::Timeout) => stop_ref.poll_hook(),
                    }
                }
            });
            match result {
                Some(r) => r,
                None => unreachable!("the scope re-raises a panic of the job before this"),
            }
        }
    };
    if stop.is_requested() {
        Err(Error::Interrupted)
    } else {
        Ok(result)
    }
}

/// Combines partials in a fixed binary tree: split at the middle, combine the halves.
pub fn tree_combine<P: Partial>(parts: &[P]) -> P {
    match parts.len() {
        0 => P::EMPTY,
        1 => parts[0],
        n => tree_combine(&parts[..n / 2]).combine(tree_combine(&parts[n / 2..])),
    }
}

/// Reduces a lane of `len` elements block by block: `block(range)` gives each block's
/// partials, which are combined by [`tree_combine`]. Blocks run in parallel when
/// `ctx.fork`; once `ctx` is stopped the remaining blocks are skipped (their partials are
/// empty, and `run` discards the result).
pub fn reduce_blocks<P: Partial>(
    len: usize,
    ctx: Ctx<'_>,
    block: impl Fn(Range<usize>) -> P + Sync,
) -> P {
    let blocks = len.div_ceil(BLOCK);
    let range = |b: usize| b * BLOCK..((b + 1) * BLOCK).min(len);
    let checked = |b: usize| {
        if ctx.stopped() {
            P::EMPTY
        } else {
            block(range(b))
        }
    };
    match blocks {
        0 => block(0..0),
        1 => block(0..len),
        _ if ctx.fork && len >= PARALLEL_MIN_ELEMENTS => {
            let parts: Vec<P> = (0..blocks).into_par_iter().map(checked).collect();
            tree_combine(&parts)
        }
        _ => {
            let parts: Vec<P> = (0..blocks).map(checked).collect();
            tree_combine(&parts)
        }
    }
}

/// Calls `f` with the elements `range` of `lane` as a slice: borrowed when they are
/// contiguous, else gathered into a buffer of at most [`BLOCK`] elements.
#[inline]
pub fn with_slice<T: Copy, R>(
    lane: &ArrayView1<'_, T>,
    range: Range<usize>,
    f: impl FnOnce(&[T]) -> R,
) -> R {
    let part = lane.slice(s![range]);
    match part.as_slice() {
        Some(slice) => f(slice),
        None => f(&part.iter().copied().collect::<Vec<T>>()),
    }
}

/// Reduces every lane along the last axis of `x` with `kernel`; the result has the shape
/// of `x` without its last axis. `x` must have at least one dimension.
pub fn reduce_lanes<T, P>(
    x: ArrayViewD<'_, T>,
    kernel: impl Fn(&[T]) -> P + Sync,
) -> Result<ArrayD<P>, Error>
where
    T: Copy + Send + Sync,
    P: Partial,
{
    let axis = Axis(x.ndim() - 1);
    let len = x.len_of(axis);
    run(x.len(), |ctx| {
        let lane_partial =
            |lane: ArrayView1<'_, T>| reduce_blocks(len, ctx, |r| with_slice(&lane, r, &kernel));
        let lanes = Zip::from(x.lanes(axis));
        if ctx.fork {
            lanes.par_map_collect(lane_partial)
        } else {
            lanes.map_collect(lane_partial)
        }
    })
}

/// [`reduce_lanes`] over two arrays of equal shape read in step.
pub fn reduce_lane_pairs<T, U, P>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    kernel: impl Fn(&[T], &[U]) -> P + Sync,
) -> Result<ArrayD<P>, Error>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    P: Partial,
{
    let axis = Axis(p.ndim() - 1);
    let len = p.len_of(axis);
    run(p.len(), |ctx| {
        let lane_partial = |a: ArrayView1<'_, T>, b: ArrayView1<'_, U>| {
            reduce_blocks(len, ctx, |r| {
                with_slice(&a, r.clone(), |sa| with_slice(&b, r, |sb| kernel(sa, sb)))
            })
        };
        let lanes = Zip::from(p.lanes(axis)).and(q.lanes(axis));
        if ctx.fork {
            lanes.par_map_collect(lane_partial)
        } else {
            lanes.map_collect(lane_partial)
        }
    })
}

/// Elements per piece when a row is processed in pieces (strided rows are gathered into a
/// stack buffer of this size, so a row never needs a heap copy). A multiple of the kernels'
/// eight lanes, so pieces give bitwise the same lane sums as one call on a contiguous row.
pub const CHUNK: usize = 256;

/// Rows per block when per-row results are summed: each block is summed in order, the
/// block sums are combined by [`tree_combine`]. Depends on nothing but the row count, so a
/// sum over rows is bitwise identical for any thread count.
pub const ROW_BLOCK: usize = 1024;

/// A plain f64 sum as [`Partial`] statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sum(pub f64);

impl Partial for Sum {
    const EMPTY: Self = Sum(0.0);
    #[inline]
    fn combine(self, o: Self) -> Self {
        Sum(self.0 + o.0)
    }
}

/// The sum of `values` (in their order) over fixed blocks of [`ROW_BLOCK`] combined by
/// [`tree_combine`]: deterministic, and accurate to O(log n) roundings across blocks.
pub fn fixed_sum<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    let mut blocks = Vec::new();
    let (mut acc, mut n) = (0.0, 0);
    for &v in values {
        acc += v;
        n += 1;
        if n == ROW_BLOCK {
            blocks.push(Sum(acc));
            acc = 0.0;
            n = 0;
        }
    }
    if n > 0 {
        blocks.push(Sum(acc));
    }
    tree_combine(&blocks).0
}

/// The elements `range` (at most [`CHUNK`]) of `lane`: borrowed when contiguous, else
/// gathered into `buf`.
#[inline]
pub fn lane_chunk<'b, T: Copy>(
    lane: &'b ArrayView1<'_, T>,
    range: Range<usize>,
    buf: &'b mut [T; CHUNK],
) -> &'b [T] {
    debug_assert!(range.len() <= CHUNK);
    match lane.as_slice() {
        Some(s) => &s[range],
        None => {
            let n = range.len();
            for (slot, &v) in buf.iter_mut().zip(lane.slice(s![range]).iter()) {
                *slot = v;
            }
            &buf[..n]
        }
    }
}

/// Calls `f` with the elements `range` (at most [`CHUNK`]) of `lane` as a mutable slice:
/// borrowed when contiguous, else gathered into a stack buffer and scattered back.
#[inline]
pub fn with_lane_chunk_mut<T: Copy + Default>(
    lane: &mut ArrayViewMut1<'_, T>,
    range: Range<usize>,
    f: impl FnOnce(&mut [T]),
) {
    debug_assert!(range.len() <= CHUNK);
    if let Some(s) = lane.as_slice_mut() {
        return f(&mut s[range]);
    }
    let mut buf = [T::default(); CHUNK];
    let n = range.len();
    let mut part = lane.slice_mut(s![range]);
    for (slot, &v) in buf.iter_mut().zip(part.iter()) {
        *slot = v;
    }
    f(&mut buf[..n]);
    for (v, &b) in part.iter_mut().zip(buf.iter()) {
        *v = b;
    }
}

/// The piece ranges of a row of `len` elements: `0..CHUNK, CHUNK..2·CHUNK, …`.
#[inline]
pub fn chunks_of(len: usize) -> impl Iterator<Item = Range<usize>> {
    (0..len.div_ceil(CHUNK)).map(move |c| c * CHUNK..((c + 1) * CHUNK).min(len))
}

/// Runs `$zip.map_collect($f)`, in the pool (`par_map_collect`) when `$fork`.
#[macro_export]
#[doc(hidden)]
macro_rules! zip_map_collect {
    ($fork:expr, $zip:expr, $f:expr) => {
        if $fork {
            $zip.par_map_collect($f)
        } else {
            $zip.map_collect($f)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
    use ndarray::Array2;

    #[test]
    fn tree_combine_is_a_fixed_tree() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        struct Concat(u64, u32);
        impl Partial for Concat {
            const EMPTY: Self = Concat(0, 0);
            fn combine(self, o: Self) -> Self {
                Concat(self.0 * 31 + o.0 + 1000 * o.1 as u64, self.1 + o.1 + 1)
            }
        }
        let parts: Vec<Concat> = (0..13).map(|i| Concat(i, 0)).collect();
        assert_eq!(tree_combine(&parts), tree_combine(&parts.clone()));
        assert_eq!(tree_combine::<Concat>(&[]), Concat::EMPTY);
    }

    #[test]
    fn results_are_bitwise_identical_for_any_thread_count() {
        let x = crate::kernels::adversarial::positive(1_000_003, 11);
        let one_lane = ndarray::ArrayView1::from(&x[..]).into_dyn();
        let rows = Array2::from_shape_vec((1009, 991), x[..1009 * 991].to_vec()).unwrap();
        let columns = rows.t().into_dyn();
        let mut seen: Vec<Vec<XLogXSums>> = Vec::new();
        for threads in [1, 2, 7] {
            set_num_threads(threads).unwrap();
            let mut r = reduce_lanes(one_lane.view(), xlogx_sums)
                .unwrap()
                .into_raw_vec_and_offset()
                .0;
            r.extend(
                reduce_lanes(rows.view().into_dyn(), xlogx_sums)
                    .unwrap()
                    .iter(),
            );
            r.extend(reduce_lanes(columns.view(), xlogx_sums).unwrap().iter());
            seen.push(r);
        }
        for r in &seen[1..] {
            assert!(r
                .iter()
                .zip(&seen[0])
                .all(|(a, b)| a.sum_xlogx.to_bits() == b.sum_xlogx.to_bits()
                    && a.sum.to_bits() == b.sum.to_bits()));
        }
    }
}
