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

mod blocks;
pub mod output;
pub mod rows;

pub use blocks::*;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::error::Error;

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
    /// When the hook was last asked; None until the first poll starts the clock (reading
    /// the clock when the call starts took 2% of a 10-element call).
    last_poll: Mutex<Option<Instant>>,
}

impl Stop {
    fn new() -> Self {
        Stop {
            requested: AtomicBool::new(false),
            checks: AtomicU32::new(0),
            last_poll: Mutex::new(None),
        }
    }

    /// Asks the hook, at most every [`POLL_INTERVAL`], whether to stop; records a yes.
    fn poll_hook(&self) {
        let Some(hook) = INTERRUPT_HOOK.get() else {
            return;
        };
        {
            let mut last = self.last_poll.lock().unwrap_or_else(|e| e.into_inner());
            match *last {
                Some(at) if at.elapsed() < POLL_INTERVAL => return,
                None => {
                    *last = Some(Instant::now());
                    return;
                }
                Some(_) => *last = Some(Instant::now()),
            }
        }
        if hook() {
            self.requested.store(true, Ordering::Relaxed);
        }
    }

    /// Starts the poll clock now (a call that forks: its waiting thread polls every
    /// [`POLL_INTERVAL`] from the start).
    fn start_clock(&self) {
        *self.last_poll.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
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

/// `f(i, chunk)` over the chunks of `out` of `size` elements (the last may be shorter), on
/// the pool when `fork` and there is more than one chunk, the results combined by
/// `combine` (associative) from `identity` in chunk order. A chunk's work depends only on
/// its index, so which thread computes it changes nothing.
pub fn map_chunks<T: Send, R: Copy + Send + Sync>(
    fork: bool,
    out: &mut [T],
    size: usize,
    identity: R,
    combine: impl Fn(R, R) -> R + Sync + Send,
    f: impl Fn(usize, &mut [T]) -> R + Sync + Send,
) -> R {
    if fork && out.len() > size {
        out.par_chunks_mut(size)
            .enumerate()
            .map(|(i, c)| f(i, c))
            .reduce(|| identity, &combine)
    } else {
        out.chunks_mut(size)
            .enumerate()
            .map(|(i, c)| f(i, c))
            .fold(identity, &combine)
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
            stop.start_clock();
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
