//! Result buffers: one value per row, written by the kernels' threads.
//!
//! A large result is fresh memory, and every first write to a 4 KiB page of it is a
//! page fault (the kernel zeroes the page while the writing thread waits, and both
//! threads contend for the process's page-table lock). For short rows that is a third of
//! the time: the (5·10^6, 2) entropy writes 40 MB, 10 000 faults. NumPy advises huge
//! pages for its own allocations of ≥ 4 MiB; the buffers here do the same, so one fault
//! maps 2 MiB. The row measures' results are [`Fresh`]: each chunk is zeroed by the
//! thread that computes it, not all of it by the caller first.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What happens to each chunk of finished row values, on the thread that computed them
/// while they are in cache: a unit change or e^H. (As a separate pass over the result
/// after the rows — single-threaded for the unit, a second read of every value from
/// memory — (5·10^6, 2) float32 entropy in bits took 1.2–1.5× the nats call, perplexity
/// 1.6–2×.) Value by value, so a row's result does not depend on the chunking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Finish {
    /// The values as computed.
    Keep,
    /// Each value divided by this (ln b: nats to base b).
    DivideBy(f64),
    /// e^value (a perplexity from an entropy in nats), by the vector exponential that the
    /// one-value forms use too ([`crate::simd::exp::exp_in_place`]).
    Exp,
    /// √(value / d), +0 where the quotient is ±0 (the Jensen–Shannon distance in base e^d;
    /// `crate::measures::js::distance` is this with d = 1).
    SqrtOfQuotient(f64),
}

impl Finish {
    /// Nats to the unit whose logarithm base has natural logarithm `ln_base` (1: nats).
    pub fn unit(ln_base: f64) -> Finish {
        if ln_base == 1.0 {
            Finish::Keep
        } else {
            Finish::DivideBy(ln_base)
        }
    }

    /// One value mapped (the same operations as in a chunk: the same bits).
    pub fn one(self, x: f64) -> f64 {
        let mut v = [x];
        self.apply(&mut v);
        v[0]
    }

    /// Maps `values` in place.
    pub fn apply(self, values: &mut [f64]) {
        match self {
            Finish::Keep => {}
            Finish::DivideBy(d) => values.iter_mut().for_each(|v| *v /= d),
            Finish::Exp => crate::simd::exp::exp_in_place(values),
            Finish::SqrtOfQuotient(d) => values.iter_mut().for_each(|v| {
                let x = *v / d;
                *v = if x == 0.0 { 0.0 } else { x.sqrt() };
            }),
        }
    }
}

/// NumPy's threshold for advising huge pages (`npy_alloc_cache`, 4 MiB).
const HUGE_PAGE_ADVICE_BYTES: usize = 1 << 22;

/// A zeroed vector of `n` values whose pages are mapped on first write, advised to be
/// huge pages when it is large (Linux; elsewhere a plain zeroed vector).
pub fn zeroed(n: usize) -> Vec<f64> {
    // calloc: a large request is fresh zero pages from mmap, not touched here
    let v = vec![0.0f64; n];
    advise_huge_pages(v.as_ptr(), v.len());
    v
}

/// Where a row map writes its values, chunk by chunk ([`super::map_chunks`]): a slice
/// of values, or a [`Fresh`] result.
pub trait Slots {
    /// The number of values.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`super::map_chunks`] over the values.
    fn map_chunks<R: Copy + Send + Sync>(
        self,
        fork: bool,
        size: usize,
        identity: R,
        combine: impl Fn(R, R) -> R + Sync + Send,
        f: impl Fn(usize, &mut [f64]) -> R + Sync + Send,
    ) -> R;
}

impl Slots for &mut [f64] {
    fn len(&self) -> usize {
        <[f64]>::len(self)
    }

    fn map_chunks<R: Copy + Send + Sync>(
        self,
        fork: bool,
        size: usize,
        identity: R,
        combine: impl Fn(R, R) -> R + Sync + Send,
        f: impl Fn(usize, &mut [f64]) -> R + Sync + Send,
    ) -> R {
        super::map_chunks(fork, self, size, identity, combine, f)
    }
}

/// A result of `n` values, allocated but not yet written: [`Fresh::write_with`] (and
/// [`Slots::map_chunks`] through it) zeroes each piece on the thread that then computes
/// it, while the piece is in that core's cache, and [`Fresh::into_values`] gives the
/// vector once every piece has been.
///
/// PERF: a zeroed vector (`calloc`) of recycled heap memory — every call after the
/// first, once glibc's mmap threshold has grown past the result's size — is a `memset`
/// of the whole result on the calling thread before the parallel work: 9% of a
/// one-thread (3.3·10^6, 3) float32 `entropy` in `perf`, 3.6% at (10^6, 10). Zeroed by
/// chunks on the workers instead, the same stores run on both threads: two threads,
/// alternated with the previous wheel, (3.3·10^6, 3) float32 entropy 7.73–8.61 →
/// 7.22–7.98 ms (six rounds), (10^6, 10) 5.01–5.26 → 4.63–6.01 (four); one thread
/// unchanged (the stores are the same), (10^7, 1) unchanged (its result is fresh mmap
/// pages either way). Not zeroing at all would save the stores too, but the kernels
/// write through `&mut [f64]`, which must not point at uninitialised memory.
pub struct Fresh {
    values: Vec<f64>,
    n: usize,
    written: bool,
    /// `values` is already n zeros (a large result: fresh pages, see [`Fresh::new`]).
    zeroed: bool,
}

/// From this size a result is `calloc`ed (zeroed) rather than zeroed by chunks: glibc
/// serves requests this large (its largest dynamic mmap threshold, 32 MiB) from fresh
/// mmap pages, which the kernel zeroes as they are first written — by the workers — so
/// zeroing them again by chunks would be a second pass over the result (one-thread
/// (10^7, 1) float32 `logsumexp` measured ~3% slower that way).
const FRESH_PAGES_BYTES: usize = 32 << 20;

impl Fresh {
    /// Room for `n` values (advised to be huge pages when large, as [`zeroed`]).
    pub fn new(n: usize) -> Fresh {
        let zeroed = n * std::mem::size_of::<f64>() >= FRESH_PAGES_BYTES;
        let values = if zeroed {
            vec![0.0; n]
        } else {
            Vec::with_capacity(n)
        };
        advise_huge_pages(values.as_ptr(), n);
        Fresh {
            values,
            n,
            written: zeroed,
            zeroed,
        }
    }

    /// The values. Panics unless every value was initialised through
    /// [`Fresh::write_with`] (a bug, never undefined behaviour).
    pub fn into_values(mut self) -> Vec<f64> {
        assert!(self.written, "a fresh result is read before it was written");
        if self.zeroed {
            return self.values;
        }
        // SAFETY: `written` is set (for a result that is not `zeroed`) only by
        // `write_with`, when its pieces initialised all of the first `n` slots of the
        // spare capacity; the capacity is at least `n` (`with_capacity`), and `len` was
        // 0, so the first `n` elements are initialised.
        unsafe { self.values.set_len(self.n) };
        self.values
    }

    /// Runs `f` on the unwritten values, which it may split into disjoint pieces and
    /// initialise ([`Unwritten::init`], zeros) on any threads; the result counts as
    /// written when all `n` values were initialised so by the time `f` returns.
    pub fn write_with<R>(&mut self, f: impl FnOnce(Unwritten<'_>) -> R) -> R {
        let done = AtomicUsize::new(0);
        let n = self.n;
        let zeroed = self.zeroed;
        let slots = if zeroed {
            as_slots(&mut self.values)
        } else {
            &mut self.values.spare_capacity_mut()[..n]
        };
        let r = f(Unwritten {
            slots,
            done: &done,
            zeroed,
        });
        // Every thread `f` used has been joined when it returns (rayon's joins), so the
        // count includes every `init`; the pieces are disjoint (`split_at` of one
        // `&mut`), so a count of n means every slot was initialised once.
        if done.load(Ordering::Acquire) == n {
            self.written = true;
        }
        r
    }
}

/// Slots of a [`Fresh`] result not yet written: split them, then [`Unwritten::init`]
/// each piece on the thread that will write it.
pub struct Unwritten<'a> {
    slots: &'a mut [MaybeUninit<f64>],
    done: &'a AtomicUsize,
    /// The slots already hold zeros.
    zeroed: bool,
}

impl<'a> Unwritten<'a> {
    /// The number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The first `k` slots and the rest (panics if `k > len`).
    pub fn split_at(self, k: usize) -> (Unwritten<'a>, Unwritten<'a>) {
        let (head, tail) = self.slots.split_at_mut(k);
        (
            Unwritten {
                slots: head,
                done: self.done,
                zeroed: self.zeroed,
            },
            Unwritten {
                slots: tail,
                done: self.done,
                zeroed: self.zeroed,
            },
        )
    }

    /// The slots in pieces of `size` (the last may be shorter), in order.
    pub fn chunks(mut self, size: usize) -> Vec<Unwritten<'a>> {
        let size = size.max(1);
        let mut pieces = Vec::with_capacity(self.len().div_ceil(size));
        while !self.is_empty() {
            let k = size.min(self.len());
            let (head, tail) = self.split_at(k);
            pieces.push(head);
            self = tail;
        }
        pieces
    }

    /// The slots as values, zeroed (counted towards [`Fresh::write_with`]'s n).
    pub fn init(self) -> &'a mut [f64] {
        let values = if self.zeroed {
            // SAFETY: the slots are a cast of initialised values (`as_slots`), still
            // holding them: nothing wrote `MaybeUninit::uninit()` into them.
            unsafe { assume_init(self.slots) }
        } else {
            init_zero(self.slots)
        };
        self.done.fetch_add(values.len(), Ordering::Release);
        values
    }
}

impl Slots for &mut Fresh {
    fn len(&self) -> usize {
        self.n
    }

    fn map_chunks<R: Copy + Send + Sync>(
        self,
        fork: bool,
        size: usize,
        identity: R,
        combine: impl Fn(R, R) -> R + Sync + Send,
        f: impl Fn(usize, &mut [f64]) -> R + Sync + Send,
    ) -> R {
        self.write_with(|all| {
            let Unwritten {
                slots,
                done,
                zeroed,
            } = all;
            super::map_chunks(fork, slots, size, identity, combine, |i, chunk| {
                let piece = Unwritten {
                    slots: chunk,
                    done,
                    zeroed,
                };
                f(i, piece.init())
            })
        })
    }
}

/// Stores 0.0 in every slot and returns the slots as values.
fn init_zero(slots: &mut [MaybeUninit<f64>]) -> &mut [f64] {
    slots.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was initialised just above.
    unsafe { assume_init(slots) }
}

/// The slots as values.
///
/// # Safety
/// Every slot must hold an initialised value.
unsafe fn assume_init(slots: &mut [MaybeUninit<f64>]) -> &mut [f64] {
    // SAFETY: initialised by the caller's contract; `MaybeUninit<f64>` has the size,
    // alignment and layout of `f64` (`repr(transparent)`), so the cast slice covers
    // exactly the same memory, borrowed mutably for the same lifetime.
    unsafe { &mut *(slots as *mut [MaybeUninit<f64>] as *mut [f64]) }
}

/// Initialised values seen as slots (that stay initialised: only `init` writes them,
/// and only zeros).
fn as_slots(values: &mut [f64]) -> &mut [MaybeUninit<f64>] {
    // SAFETY: `MaybeUninit<f64>` has the layout of `f64`; every `f64` is a valid
    // `MaybeUninit<f64>`, and the slots are handed out only inside this module's
    // `Unwritten`, which never stores an uninitialised value into them.
    unsafe { &mut *(values as *mut [f64] as *mut [MaybeUninit<f64>]) }
}

/// Advises huge pages for `n` values at `ptr` (an allocation of at least that size).
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *const f64, n: usize) {
    const HUGE: usize = 1 << 21;
    let bytes = n * std::mem::size_of::<f64>();
    if bytes < HUGE_PAGE_ADVICE_BYTES {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: [start, end) lies inside the caller's allocation of `n` values;
        // MADV_HUGEPAGE changes neither the contents nor the validity of the mapping,
        // only how later faults are served, and its failure (an old kernel, THP off) is
        // harmless, so the result is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: *const f64, _: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn finishing_in_chunks_equals_finishing_at_once() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 - 300.0) * 0.0137).collect();
        for finish in [
            super::Finish::Keep,
            super::Finish::DivideBy(2f64.ln()),
            super::Finish::Exp,
            super::Finish::SqrtOfQuotient(2f64.ln()),
        ] {
            let mut whole = values.clone();
            finish.apply(&mut whole);
            let mut chunked = values.clone();
            for c in chunked.chunks_mut(13) {
                finish.apply(c);
            }
            for ((w, c), v) in whole.iter().zip(&chunked).zip(&values) {
                assert_eq!(w.to_bits(), c.to_bits(), "{finish:?} of {v}");
            }
        }
    }

    #[test]
    fn a_fresh_result_holds_what_its_chunks_wrote_and_zeros_elsewhere() {
        use super::{Fresh, Slots};
        // the last size is large enough to be calloc'ed (FRESH_PAGES_BYTES)
        for n in [
            0,
            1,
            15,
            1000,
            (1 << 19) + 3,
            (super::FRESH_PAGES_BYTES >> 3) + 5,
        ] {
            for fork in [false, true] {
                let mut fresh = Fresh::new(n);
                let lowest = (&mut fresh).map_chunks(fork, 64, usize::MAX, usize::min, |i, c| {
                    assert!(
                        c.iter().all(|&x| x.to_bits() == 0),
                        "chunk {i} is zeroed first"
                    );
                    // every other chunk writes its values; the rest stay zero
                    if i % 2 == 0 {
                        for (j, x) in c.iter_mut().enumerate() {
                            *x = (i * 64 + j) as f64;
                        }
                    }
                    i
                });
                assert_eq!(lowest, if n == 0 { usize::MAX } else { 0 });
                let values = fresh.into_values();
                assert_eq!(values.len(), n);
                for (r, &x) in values.iter().enumerate() {
                    let want = if (r / 64) % 2 == 0 { r as f64 } else { 0.0 };
                    assert_eq!(x.to_bits(), want.to_bits(), "row {r} of {n}");
                }
            }
        }
    }

    #[test]
    fn a_fresh_result_written_in_pieces_counts_only_when_every_piece_was_initialised() {
        use super::Fresh;
        for n in [0usize, 1, 10, 1000, (super::FRESH_PAGES_BYTES >> 3) + 5] {
            let mut fresh = Fresh::new(n);
            fresh.write_with(|slots| {
                let (a, b) = slots.split_at(n / 3);
                let (a, b) = (a.init(), b.init());
                for (i, x) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                    assert_eq!(x.to_bits(), 0);
                    *x = i as f64;
                }
            });
            let values = fresh.into_values();
            assert!(values.iter().enumerate().all(|(i, &x)| x == i as f64));
        }
        let mut partly = Fresh::new(10);
        partly.write_with(|slots| {
            let (a, _left) = slots.split_at(4);
            a.init();
        });
        let read = std::panic::catch_unwind(move || partly.into_values());
        assert!(read.is_err(), "a partly initialised result is not readable");
    }

    #[test]
    fn unwritten_chunks_cover_the_slots_in_order() {
        use super::Fresh;
        for (n, size) in [
            (0usize, 4usize),
            (1, 4),
            (10, 4),
            (12, 4),
            (10, 0),
            (1000, 333),
        ] {
            let mut fresh = Fresh::new(n);
            let lengths: Vec<usize> = fresh.write_with(|slots| {
                let pieces = slots.chunks(size);
                let lengths = pieces.iter().map(|p| p.len()).collect();
                let mut next = 0;
                for piece in pieces {
                    for x in piece.init() {
                        *x = next as f64;
                        next += 1;
                    }
                }
                lengths
            });
            let size = size.max(1);
            assert_eq!(lengths.len(), n.div_ceil(size));
            assert!(lengths.iter().rev().skip(1).all(|&l| l == size));
            let values = fresh.into_values();
            assert!(values.iter().enumerate().all(|(i, &x)| x == i as f64));
        }
    }

    #[test]
    #[should_panic(expected = "read before it was written")]
    fn a_fresh_result_cannot_be_read_unwritten() {
        let _ = super::Fresh::new(10).into_values();
    }

    #[test]
    fn zeroed_buffers_are_zero_at_every_size() {
        for n in [0, 1, 1000, (1 << 19) + 3, 3 << 20] {
            let v = super::zeroed(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
