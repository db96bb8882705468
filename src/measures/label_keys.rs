//! Integer labels read in place, whatever their dtype, byte order and strides, and the
//! counting machinery the label measures share ([`super::label_entropy`],
//! [`super::label_pairs`]).
//!
//! **Keys.** Every label is read as an order-preserving `u64` key ([`Label::key`]: unsigned
//! values as they are, signed ones with the sign bit flipped, booleans as 0/1), so labels
//! are compared by their true value and sorted keys are sorted labels — a uint64 above
//! 2^63 stays above every other uint64. A [`KeySource`] fills a small buffer with the keys
//! of a range of samples ([`COUNT_BLOCK`] at a time), straight from the NumPy buffer:
//! contiguous, strided, reversed or broadcast (zero stride), byte-swapped or not. No
//! converted copy of the input is ever made.
//!
//! **Work buffers** (all O(n) or smaller, allocated fallibly: a failed allocation is
//! [`Error::OutOfMemory`], not an abort):
//! - labels whose range max − min + 1 is at most max(2n, 2^16) (class ids, cluster labels,
//!   permutations of 0..n) are coded by offset (`key − min`) on the fly: no buffer per
//!   sample at all, counts of the range (4 bytes each below 2^32 samples);
//! - wider ranges (hashes, ids spread over 64 bits) need the distinct values in order: a
//!   sorted copy of the keys (8 bytes per sample) by an LSD radix sort with an equal
//!   scratch buffer, 16 bytes per sample while sorting; the pair measures then keep one
//!   `u32` class code per sample (4 bytes) and drop the sorted keys.
//!
//! **Threads and Ctrl-C.** Every pass visits the samples in blocks of [`COUNT_BLOCK`],
//! checking [`Ctx::stopped`] before each; blocks run in parallel when the call is forked.
//! Counting is exact integer arithmetic (atomic adds when parallel), so no result depends on
//! how the blocks were shared out; the float sums that follow run over the counts in label
//! order in fixed blocks.
//!
//! **Races.** Another thread may rewrite the labels during the call. Every pass that reads
//! them again checks the value against what the earlier pass established (the offset range,
//! the sorted distinct values) and reports [`Error::ModifiedDuringCall`] instead of indexing
//! out of bounds.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use ndarray::{s, ArrayView1, ArrayViewD, Axis, Ix1};
use rayon::prelude::*;

use crate::error::Error;
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::parallel::{tree_combine, Ctx, BLOCK};

/// Samples per block of every pass over the labels: 64 Ki keys (512 KiB of `u64`), the
/// granularity of the Ctrl-C checks (~0.1 ms of work) and of the parallel tasks.
pub const COUNT_BLOCK: usize = 1 << 16;

/// The label range max − min + 1 when labels in `min..=max` are coded by offset: a range
/// of at most max(2n, 2^16) values (≤ 2^32, so codes fit `u32`) costs at most two counters
/// per sample. None for wider ranges.
pub(crate) fn offset_range(min: u64, max: u64, n: usize) -> Option<usize> {
    let range = (max - min).saturating_add(1);
    (range <= (2 * n as u64).max(1 << 16) && range <= 1 << 32).then_some(range as usize)
}

// ------------------------------------------------------------------------------ keys

/// An integer element type of NumPy label arrays.
pub trait Label: Copy + Send + Sync + 'static {
    /// The label as an order-preserving key: `a < b` ⇔ `a.key() < b.key()`.
    fn key(self) -> u64;
    /// [`Label::key`] of a value stored in the opposite byte order.
    fn key_swapped(self) -> u64;
    /// Whether the value is non-zero (NumPy's truth value of a `bool` byte).
    fn nonzero(self) -> bool;
}

macro_rules! signed_label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            #[inline(always)]
            fn key(self) -> u64 {
                (self as i64 as u64) ^ (1 << 63)
            }
            #[inline(always)]
            fn key_swapped(self) -> u64 {
                self.swap_bytes().key()
            }
            #[inline(always)]
            fn nonzero(self) -> bool {
                self != 0
            }
        }
    )*};
}
macro_rules! unsigned_label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            #[inline(always)]
            fn key(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn key_swapped(self) -> u64 {
                self.swap_bytes().key()
            }
            #[inline(always)]
            fn nonzero(self) -> bool {
                self != 0
            }
        }
    )*};
}
signed_label!(i8, i16, i32, i64);
unsigned_label!(u8, u16, u32, u64);

/// How the stored values become keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Native byte order.
    Native,
    /// Stored in the opposite byte order (a big-endian array on a little-endian machine).
    Swapped,
    /// NumPy `bool` bytes (read as `u8`): any non-zero byte is True, key 1.
    Boolean,
}

#[inline(always)]
fn decode<T: Label>(d: Decode, v: T) -> u64 {
    match d {
        Decode::Native => v.key(),
        Decode::Swapped => v.key_swapped(),
        Decode::Boolean => v.nonzero() as u64,
    }
}

/// Samples read as keys, by index.
pub trait KeySource: Sync {
    /// The number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes the keys of samples `start..start + out.len()` (within `0..len`) into `out`.
    fn fill(&self, start: usize, out: &mut [u64]);
}

/// A 1-D array of labels (any strides).
pub struct LaneKeys<'a, T> {
    lane: ArrayView1<'a, T>,
    decode: Decode,
}

impl<'a, T: Label> LaneKeys<'a, T> {
    /// The samples of `lane`.
    pub fn new(lane: ArrayView1<'a, T>, decode: Decode) -> Self {
        LaneKeys { lane, decode }
    }
}

impl<T: Label> KeySource for LaneKeys<'_, T> {
    fn len(&self) -> usize {
        self.lane.len()
    }

    #[inline]
    fn fill(&self, start: usize, out: &mut [u64]) {
        let end = (start + out.len()).min(self.lane.len());
        let part = self.lane.slice(s![start.min(end)..end]);
        let d = self.decode;
        // PERF: the match is outside the loops, so each loop is a plain (vectorisable) map.
        match (part.as_slice(), d) {
            (Some(src), Decode::Native) => out.iter_mut().zip(src).for_each(|(o, &v)| *o = v.key()),
            (Some(src), _) => out
                .iter_mut()
                .zip(src)
                .for_each(|(o, &v)| *o = decode(d, v)),
            (None, _) => out
                .iter_mut()
                .zip(part.iter())
                .for_each(|(o, &v)| *o = decode(d, v)),
        }
    }
}

/// All elements of an n-dimensional array that cannot be viewed as one strided axis (a
/// broadcast or a sliced n-d view), in logical order: read lane by lane along the last axis.
pub struct NdKeys<'a, T> {
    view: ArrayViewD<'a, T>,
    decode: Decode,
}

impl<T: Label> NdKeys<'_, T> {
    /// Lane `i` along the last axis (logical order of the other axes).
    fn lane(&self, mut i: usize) -> ArrayView1<'_, T> {
        let ndim = self.view.ndim();
        let mut v = self.view.view();
        let mut index = vec![0; ndim - 1];
        for (slot, &len) in index.iter_mut().zip(&self.view.shape()[..ndim - 1]).rev() {
            *slot = i % len.max(1);
            i /= len.max(1);
        }
        for ix in index {
            v = v.index_axis_move(Axis(0), ix);
        }
        v.into_dimensionality::<Ix1>()
            .unwrap_or_else(|_| ArrayView1::from(&[][..]))
    }
}

impl<T: Label> KeySource for NdKeys<'_, T> {
    fn len(&self) -> usize {
        self.view.len()
    }

    fn fill(&self, start: usize, out: &mut [u64]) {
        let lane_len = self.view.shape().last().copied().unwrap_or(1).max(1);
        let mut filled = 0;
        while filled < out.len() {
            let pos = start + filled;
            let (lane, offset) = (pos / lane_len, pos % lane_len);
            let take = (lane_len - offset).min(out.len() - filled);
            LaneKeys::new(self.lane(lane), self.decode)
                .fill(offset, &mut out[filled..filled + take]);
            filled += take;
        }
    }
}

/// Every element of `view` as one sample set (the order does not matter to counting): a
/// [`LaneKeys`] over one strided axis when the axes merge into one (after reversing
/// negative strides and ordering them by size), else an [`NdKeys`].
pub fn pooled<'a, T: Label>(view: ArrayViewD<'a, T>, decode: Decode) -> Box<dyn KeySource + 'a> {
    let mut v = view;
    for axis in 0..v.ndim() {
        if v.strides()[axis] < 0 {
            v.invert_axis(Axis(axis));
        }
    }
    let mut order: Vec<usize> = (0..v.ndim()).collect();
    order.sort_by_key(|&a| std::cmp::Reverse(v.strides()[a]));
    let mut v = v.permuted_axes(order);
    if v.ndim() == 0 {
        v = v.insert_axis(Axis(0));
    }
    let last = Axis(v.ndim() - 1);
    for axis in (0..v.ndim() - 1).rev() {
        if !v.merge_axes(Axis(axis), last) {
            break;
        }
    }
    if v.shape()[..v.ndim() - 1].iter().all(|&len| len == 1) && !v.is_empty() {
        while v.ndim() > 1 {
            v = v.index_axis_move(Axis(0), 0);
        }
        if let Ok(lane) = v.clone().into_dimensionality::<Ix1>() {
            return Box::new(LaneKeys::new(lane, decode));
        }
    }
    Box::new(NdKeys { view: v, decode })
}

// ---------------------------------------------------------------------------- passes

/// A piece of a call: its context (for [`Ctx::stopped`]) and whether this piece may use
/// parallel iterators. A piece run inside a parallel loop over lanes is `serial` but keeps
/// the call's context, so the interrupt hook is still asked only by the calling thread.
#[derive(Clone, Copy)]
pub(crate) struct Work<'a> {
    /// The call's context.
    pub ctx: Ctx<'a>,
    /// Whether to use the pool.
    pub parallel: bool,
}

impl<'a> Work<'a> {
    /// The whole call: parallel when the call was forked into the pool.
    pub(crate) fn whole(ctx: Ctx<'a>) -> Self {
        Work {
            ctx,
            parallel: ctx.fork,
        }
    }

    /// The same context, on one thread.
    pub(crate) fn serial(self) -> Self {
        Work {
            parallel: false,
            ..self
        }
    }

    /// Whether the call should stop (Ctrl-C).
    #[inline]
    pub(crate) fn stopped(&self) -> bool {
        self.ctx.stopped()
    }
}

/// A zero-filled buffer of `len` values, or [`Error::OutOfMemory`].
///
/// PERF: `vec![0; len]` takes fresh zero pages from the system (calloc) instead of writing
/// zeros over pages the kernel has just zeroed (a `resize` did: 10% of a 10^7-label call).
/// It would abort on failure, so the size is first reserved and released as a probe.
pub(crate) fn try_zeroed<T: Clone + Default>(len: usize) -> Result<Vec<T>, Error> {
    let mut probe: Vec<T> = Vec::new();
    probe
        .try_reserve_exact(len)
        .map_err(|_| Error::OutOfMemory {
            bytes: len.saturating_mul(std::mem::size_of::<T>()),
        })?;
    drop(probe);
    Ok(vec![T::default(); len])
}

/// [`try_zeroed`] for a buffer that the caller then accesses at random: its pages are
/// touched here, in order and 1 MiB at a time with a Ctrl-C check between, instead of by
/// the first block of random accesses — which faulted in the whole buffer at once (on this
/// project's VM, first touches cost ~2.5 ms per MiB: 0.6 s of uninterruptible page faults
/// for 240 MiB of counters).
pub(crate) fn try_zeroed_touched<T: Clone + Default>(
    len: usize,
    w: Work<'_>,
) -> Result<Vec<T>, Error> {
    let mut v = try_zeroed::<T>(len)?;
    let per_page = (4096 / std::mem::size_of::<T>().max(1)).max(1);
    for (i, chunk) in v.chunks_mut(per_page * 256).enumerate() {
        if i > 0 && w.stopped() {
            return Err(Error::Interrupted);
        }
        for slot in chunk.iter_mut().step_by(per_page) {
            *slot = T::default();
        }
    }
    Ok(v)
}

/// The number of [`COUNT_BLOCK`] blocks of `n` samples.
fn blocks(n: usize) -> usize {
    n.div_ceil(COUNT_BLOCK)
}

/// The sample range of block `b`.
fn block_range(b: usize, n: usize) -> std::ops::Range<usize> {
    b * COUNT_BLOCK..((b + 1) * COUNT_BLOCK).min(n)
}

/// Keys read per call of a [`KeySource`]: 32 KiB on the stack.
pub(crate) const KEY_BUF: usize = 4096;

/// Folds every block of keys into an accumulator (`f(acc, keys)` on pieces of at most
/// [`KEY_BUF`] keys), in parallel when `w.parallel`, and combines the blocks' accumulators
/// with `merge` (associative and commutative: the integer statistics it combines are
/// exact, so the split does not matter). `Err(Interrupted)` once `ctx` is stopped.
pub(crate) fn fold_blocks<A: Send>(
    src: &dyn KeySource,
    w: Work<'_>,
    identity: impl Fn() -> A + Sync + Send,
    f: impl Fn(&mut A, &[u64]) + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> Result<A, Error> {
    let n = src.len();
    let one = |b: usize| -> Result<A, Error> {
        if w.stopped() {
            return Err(Error::Interrupted);
        }
        let mut acc = identity();
        let mut keys = [0u64; KEY_BUF];
        let r = block_range(b, n);
        for start in r.clone().step_by(KEY_BUF) {
            let keys = &mut keys[..KEY_BUF.min(r.end - start)];
            src.fill(start, keys);
            f(&mut acc, keys);
        }
        Ok(acc)
    };
    let both = |a: Result<A, Error>, b: Result<A, Error>| Ok(merge(a?, b?));
    if w.parallel && n > COUNT_BLOCK {
        (0..blocks(n))
            .into_par_iter()
            .map(one)
            .reduce(|| Ok(identity()), both)
    } else {
        (0..blocks(n)).map(one).fold(Ok(identity()), both)
    }
}

/// The smallest and largest key (None when there are no samples).
pub(crate) fn key_range(src: &dyn KeySource, w: Work<'_>) -> Result<Option<(u64, u64)>, Error> {
    if src.is_empty() {
        return Ok(None);
    }
    let (lo, hi) = fold_blocks(
        src,
        w,
        || (u64::MAX, 0),
        |acc, keys| {
            *acc = keys
                .iter()
                .fold(*acc, |(lo, hi), &k| (lo.min(k), hi.max(k)));
        },
        |a, b| (a.0.min(b.0), a.1.max(b.1)),
    )?;
    Ok(Some((lo, hi)))
}

// -------------------------------------------------------------------------- counters

/// A count: `u32` when there are fewer than 2^32 samples (every count fits), else `u64`.
pub(crate) trait Count: Copy + Default + Send + Sync + Into<u64> + 'static {
    /// `v`, which the caller knows to fit.
    fn of(v: u64) -> Self;
    /// Adds one.
    fn bump(&mut self);
}

impl Count for u32 {
    #[inline(always)]
    fn of(v: u64) -> Self {
        v as u32
    }
    #[inline(always)]
    fn bump(&mut self) {
        *self = self.wrapping_add(1);
    }
}

impl Count for u64 {
    #[inline(always)]
    fn of(v: u64) -> Self {
        v
    }
    #[inline(always)]
    fn bump(&mut self) {
        *self = self.wrapping_add(1);
    }
}

/// The most parts a counting pass is split into (see [`owner_parts`]).
const MAX_PARTS: usize = 8;

/// The number of parts of a counting pass: one per pool thread (at most [`MAX_PARTS`])
/// when parallel, else one.
///
/// PERF: a part *owns* a range of the counters: it reads every sample but increments only
/// the counters in its range, with plain adds. Shared counters with atomic adds were
/// measured 1.8× slower on 2 threads than one thread without them (10^7 distinct labels):
/// a locked add drains the store buffer, so the cache misses of these random accesses no
/// longer overlap. Re-reading the samples (sequential, ~1 ns each) costs far less than
/// that; the cap keeps it so on large machines.
pub(crate) fn part_count(w: Work<'_>) -> usize {
    if w.parallel {
        rayon::current_num_threads().clamp(1, MAX_PARTS)
    } else {
        1
    }
}

/// `0..k` cut into `parts` consecutive ranges of (nearly) equal length.
pub(crate) fn even_ranges(k: usize, parts: usize) -> Vec<Range<usize>> {
    let p = parts.max(1);
    (0..p).map(|t| k * t / p..k * (t + 1) / p).collect()
}

/// `v` cut into the consecutive `ranges` (which start at 0 and cover it).
pub(crate) fn split_by<'a, C>(v: &'a mut [C], ranges: &[Range<usize>]) -> Vec<&'a mut [C]> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut rest = v;
    for r in ranges {
        let len = r.len().min(rest.len());
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
        out.push(head);
        rest = tail;
    }
    out
}

/// Runs `f(range, counters)` for every part, in parallel when there are several;
/// `Err` of any part (Interrupted, ModifiedDuringCall) is the result.
pub(crate) fn for_parts<C: Send>(
    counts: &mut [C],
    ranges: &[Range<usize>],
    f: impl Fn(Range<usize>, &mut [C]) -> Result<(), Error> + Sync,
) -> Result<(), Error> {
    let parts: Vec<(Range<usize>, &mut [C])> = ranges
        .iter()
        .cloned()
        .zip(split_by(counts, ranges))
        .collect();
    if parts.len() > 1 {
        parts.into_par_iter().try_for_each(|(r, c)| f(r, c))
    } else {
        parts.into_iter().try_for_each(|(r, c)| f(r, c))
    }
}

/// Calls `f(keys)` on every piece of the samples of `src`, in order, on this thread;
/// `Err(Interrupted)` once the call is stopped (checked every [`COUNT_BLOCK`] samples).
pub(crate) fn scan_keys(
    src: &dyn KeySource,
    w: Work<'_>,
    mut f: impl FnMut(&[u64]),
) -> Result<(), Error> {
    let n = src.len();
    let mut keys = [0u64; KEY_BUF];
    for start in (0..n).step_by(KEY_BUF) {
        if start % COUNT_BLOCK == 0 && w.stopped() {
            return Err(Error::Interrupted);
        }
        let keys = &mut keys[..KEY_BUF.min(n - start)];
        src.fill(start, keys);
        f(keys);
    }
    Ok(())
}

// ------------------------------------------------------------------------- codings

/// How one variable's labels become class codes `0..classes`, in ascending label order.
pub(crate) enum Coding {
    /// `key − min`, computed when read (some classes may be empty).
    Offset {
        /// The smallest key.
        min: u64,
        /// The label range max − min + 1.
        classes: usize,
    },
    /// The rank among the distinct labels, stored per sample.
    Ranked {
        /// One code per sample.
        codes: Vec<u32>,
        /// The number of distinct labels.
        classes: usize,
    },
}

impl Coding {
    /// The number of classes (codes lie in `0..classes`).
    pub(crate) fn classes(&self) -> usize {
        match self {
            Coding::Offset { classes, .. } | Coding::Ranked { classes, .. } => *classes,
        }
    }
}

/// The codes of the samples of `src` (no samples: 0 classes).
pub(crate) fn coding(src: &dyn KeySource, arg: &'static str, w: Work<'_>) -> Result<Coding, Error> {
    let Some((min, max)) = key_range(src, w)? else {
        return Ok(Coding::Offset { min: 0, classes: 0 });
    };
    if let Some(classes) = offset_range(min, max, src.len()) {
        return Ok(Coding::Offset { min, classes });
    }
    let mut distinct = sorted_keys(src, (min, max), w)?;
    distinct.dedup();
    distinct.shrink_to_fit();
    if distinct.len() >= 1 << 32 {
        return Err(Error::TooManyClasses {
            count: distinct.len(),
        });
    }
    let index = RankIndex::new(&distinct, min, max)?;
    let mut codes = try_zeroed::<u32>(src.len())?;
    let raced = AtomicBool::new(false);
    let n = src.len();
    let one = |(b, out): (usize, &mut [u32])| {
        if w.stopped() {
            return;
        }
        let mut keys = [0u64; KEY_BUF];
        for (piece, out) in out.chunks_mut(KEY_BUF).enumerate() {
            let keys = &mut keys[..out.len()];
            src.fill(b * COUNT_BLOCK + piece * KEY_BUF, keys);
            for (o, &k) in out.iter_mut().zip(keys.iter()) {
                match index.rank(k) {
                    Some(r) => *o = r,
                    None => raced.store(true, Relaxed),
                }
            }
        }
    };
    if w.parallel && n > COUNT_BLOCK {
        codes.par_chunks_mut(COUNT_BLOCK).enumerate().for_each(one);
    } else {
        codes.chunks_mut(COUNT_BLOCK).enumerate().for_each(one);
    }
    if w.stopped() {
        return Err(Error::Interrupted);
    }
    if raced.load(Relaxed) {
        return Err(Error::ModifiedDuringCall { arg });
    }
    Ok(Coding::Ranked {
        codes,
        classes: distinct.len(),
    })
}

/// The codes of samples `start..start + out.len()`; false if a label is not one of the
/// classes (the labels changed since the coding was made).
pub(crate) fn fill_codes(
    src: &dyn KeySource,
    coding: &Coding,
    start: usize,
    keys: &mut [u64],
    out: &mut [u32],
) -> bool {
    match coding {
        Coding::Offset { min, classes } => {
            src.fill(start, &mut keys[..out.len()]);
            let mut ok = true;
            for (o, &k) in out.iter_mut().zip(keys.iter()) {
                let c = k.wrapping_sub(*min);
                ok &= c < *classes as u64;
                *o = c as u32;
            }
            if !ok {
                out.iter_mut().for_each(|o| *o = 0);
            }
            ok
        }
        Coding::Ranked { codes, .. } => {
            out.copy_from_slice(&codes[start..start + out.len()]);
            true
        }
    }
}

/// Rank lookup in sorted distinct keys: a table of where each bucket of the keys' top bits
/// starts (about one bucket per four distinct keys, at most 2^22 buckets, 1 byte per key),
/// then a binary search inside the bucket — one or two cache misses per lookup where a
/// plain binary search over 10^7 keys takes ~20 dependent ones.
struct RankIndex<'a> {
    distinct: &'a [u64],
    min: u64,
    shift: u32,
    starts: Vec<u32>,
}

impl<'a> RankIndex<'a> {
    /// The index of `distinct` (sorted, fewer than 2^32, all in `min..=max`).
    fn new(distinct: &'a [u64], min: u64, max: u64) -> Result<Self, Error> {
        let span_bits = 64 - (max - min).leading_zeros();
        let bucket_bits = (distinct.len().max(1).ilog2().saturating_sub(2)).min(22);
        let shift = span_bits.saturating_sub(bucket_bits);
        let buckets = (((max - min) >> shift) as usize) + 1;
        let mut starts = try_zeroed::<u32>(buckets + 1)?;
        let mut i = 0;
        for (b, slot) in starts.iter_mut().enumerate() {
            while i < distinct.len() && (((distinct[i] - min) >> shift) as usize) < b {
                i += 1;
            }
            *slot = i as u32;
        }
        Ok(RankIndex {
            distinct,
            min,
            shift,
            starts,
        })
    }

    #[inline]
    fn rank(&self, key: u64) -> Option<u32> {
        let b = (key.checked_sub(self.min)? >> self.shift) as usize;
        let lo = *self.starts.get(b)? as usize;
        let hi = *self.starts.get(b + 1)? as usize;
        let i = self.distinct.get(lo..hi)?.binary_search(&key).ok()?;
        Some((lo + i) as u32)
    }
}

// --------------------------------------------------------------------- radix sorting

/// Keys a radix sort orders.
pub(crate) trait RadixKey: Copy + Default + Ord + Send + Sync {
    /// The `DIGIT_BITS` bits of the key starting at bit `shift`.
    fn digit(self, shift: u32) -> usize;
}

impl RadixKey for u64 {
    #[inline(always)]
    fn digit(self, shift: u32) -> usize {
        (self.checked_shr(shift).unwrap_or(0) as usize) & (RADIX - 1)
    }
}

impl RadixKey for u32 {
    #[inline(always)]
    fn digit(self, shift: u32) -> usize {
        (self.checked_shr(shift).unwrap_or(0) as usize) & (RADIX - 1)
    }
}

/// Bits per radix digit: 2^11 = 2048 buckets, whose counters and write cursors stay in L1.
const DIGIT_BITS: u32 = 11;
const RADIX: usize = 1 << DIGIT_BITS;

/// A raw pointer the scatter tasks share; each task writes only its own disjoint ranges.
#[derive(Clone, Copy)]
struct Dest<K>(*mut K);
// SAFETY: `Dest` is only used by `radix_pass`, whose tasks write disjoint index ranges of
// a buffer that outlives them (see the SAFETY comment there).
unsafe impl<K: Send> Send for Dest<K> {}
// SAFETY: as above.
unsafe impl<K: Send> Sync for Dest<K> {}

impl<K> Dest<K> {
    /// The address of element `i` (a method, so closures capture the whole `Dest`).
    #[inline(always)]
    fn at(&self, i: usize) -> *mut K {
        self.0.wrapping_add(i)
    }
}

/// Sorts `v` by the bits `0..bits` of its keys (the bits above must be equal in all keys):
/// least-significant-digit radix sort, one stable pass per digit whose values are not all
/// equal; parallel over blocks of [`COUNT_BLOCK`] when `w.parallel`, stopped by Ctrl-C
/// between blocks. O(n) time per pass; `scratch` (same length) holds every other pass.
pub(crate) fn radix_sort<K: RadixKey>(v: &mut [K], bits: u32, w: Work<'_>) -> Result<(), Error> {
    let n = v.len();
    if n <= 1 {
        return Ok(());
    }
    if n <= 256 {
        v.sort_unstable();
        return Ok(());
    }
    let mut scratch = try_zeroed::<K>(n)?;
    let mut in_v = true; // whether the data is in `v` (else in `scratch`)
    let mut shift = 0;
    while shift < bits {
        let (src, dst): (&[K], &mut [K]) = if in_v {
            (v, &mut scratch)
        } else {
            (&scratch, v)
        };
        if radix_pass(src, dst, shift, w)? {
            in_v = !in_v;
        }
        shift += DIGIT_BITS;
    }
    if !in_v {
        v.copy_from_slice(&scratch);
    }
    Ok(())
}

/// One stable counting-sort pass of `src` into `dst` by the digit at `shift`. Returns
/// false (and writes nothing) when every key has the same digit there.
fn radix_pass<K: RadixKey>(
    src: &[K],
    dst: &mut [K],
    shift: u32,
    w: Work<'_>,
) -> Result<bool, Error> {
    let n = src.len();
    let nblocks = blocks(n);
    let parallel = w.parallel && n > COUNT_BLOCK;
    let histogram = |b: usize| -> Result<Vec<usize>, Error> {
        if w.stopped() {
            return Err(Error::Interrupted);
        }
        let mut h = vec![0usize; RADIX];
        for &k in &src[block_range(b, n)] {
            h[k.digit(shift)] += 1;
        }
        Ok(h)
    };
    let mut hist: Vec<Vec<usize>> = if parallel {
        (0..nblocks)
            .into_par_iter()
            .map(histogram)
            .collect::<Result<_, _>>()?
    } else {
        (0..nblocks).map(histogram).collect::<Result<_, _>>()?
    };
    // Skip a digit on which all keys agree.
    let totals: Vec<usize> = (0..RADIX)
        .map(|d| hist.iter().map(|h| h[d]).sum())
        .collect();
    if totals.contains(&n) {
        return Ok(false);
    }
    // hist[b][d] becomes where block b's keys with digit d start in `dst`: digit-major,
    // block-minor, which makes the pass stable.
    let mut offset = 0;
    for d in 0..RADIX {
        for h in hist.iter_mut() {
            let count = h[d];
            h[d] = offset;
            offset += count;
        }
    }
    let dest = Dest(dst.as_mut_ptr());
    let scatter = |(b, mut cursor): (usize, Vec<usize>)| -> Result<(), Error> {
        if w.stopped() {
            return Err(Error::Interrupted);
        }
        for &k in &src[block_range(b, n)] {
            let d = k.digit(shift);
            // SAFETY: `cursor[d]` starts at block b's own range for digit d in `dst`,
            // [start, start + count) with count = the number of keys of block b with digit
            // d (counted above from the same immutable `src`), and these ranges of all
            // (block, digit) pairs are disjoint and inside 0..n = dst.len(). So every index
            // written is < dst.len() and written by exactly one task, once; `dst` is
            // borrowed mutably for the whole pass and outlives the tasks.
            unsafe { dest.at(cursor[d]).write(k) };
            cursor[d] += 1;
        }
        Ok(())
    };
    if parallel {
        hist.into_par_iter().enumerate().try_for_each(scatter)?;
    } else {
        hist.into_iter().enumerate().try_for_each(scatter)?;
    }
    Ok(true)
}

/// A sorted copy of the keys of `src` (whose keys lie in `min..=max`).
pub(crate) fn sorted_keys(
    src: &dyn KeySource,
    (min, max): (u64, u64),
    w: Work<'_>,
) -> Result<Vec<u64>, Error> {
    let n = src.len();
    let mut keys = try_zeroed::<u64>(n)?;
    let one = |(b, out): (usize, &mut [u64])| {
        if !w.stopped() {
            src.fill(b * COUNT_BLOCK, out);
        }
    };
    if w.parallel && n > COUNT_BLOCK {
        keys.par_chunks_mut(COUNT_BLOCK).enumerate().for_each(one);
    } else {
        keys.chunks_mut(COUNT_BLOCK).enumerate().for_each(one);
    }
    if w.stopped() {
        return Err(Error::Interrupted);
    }
    // Keys in min..=max share the bits above the highest bit where min and max differ.
    let bits = 64 - (min ^ max).leading_zeros();
    radix_sort(&mut keys, bits, w)?;
    Ok(keys)
}

// ------------------------------------------------------------------------ float sums

/// Σ c ln c over the non-zero `counts` in their order, and how many there are: blocks of
/// [`BLOCK`] consecutive non-zero counts reduced by `xlogx_sums`, combined by the fixed
/// tree — the same sums whichever way the counts were obtained. `Err(Interrupted)` once
/// the call is stopped (checked every [`COUNT_BLOCK`] counts: a count per class can mean
/// one per sample).
pub(crate) fn sum_clogc(
    counts: impl IntoIterator<Item = u64>,
    w: Work<'_>,
) -> Result<(f64, usize), Error> {
    let mut buf = Vec::with_capacity(BLOCK);
    let mut parts: Vec<XLogXSums> = Vec::new();
    let mut k = 0;
    for (i, c) in counts.into_iter().enumerate() {
        if i % COUNT_BLOCK == COUNT_BLOCK - 1 && w.stopped() {
            return Err(Error::Interrupted);
        }
        if c == 0 {
            continue;
        }
        k += 1;
        buf.push(c as f64);
        if buf.len() == BLOCK {
            parts.push(xlogx_sums(&buf));
            buf.clear();
        }
    }
    if !buf.is_empty() || parts.is_empty() {
        parts.push(xlogx_sums(&buf));
    }
    Ok((tree_combine(&parts).sum_xlogx, k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array2};

    fn keys_of(src: &dyn KeySource) -> Vec<u64> {
        let mut out = vec![0; src.len()];
        src.fill(0, &mut out);
        out
    }

    #[test]
    fn keys_preserve_order_across_types() {
        let signed = [i64::MIN, -1, 0, 1, i64::MAX];
        let k: Vec<u64> = signed.iter().map(|&v| v.key()).collect();
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        let unsigned = [0u64, 1, 1 << 63, u64::MAX];
        let k: Vec<u64> = unsigned.iter().map(|&v| v.key()).collect();
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((-3i8).key(), (-3i64).key());
        assert_eq!(0x0102u16.swap_bytes().key_swapped(), 0x0102);
        assert_eq!((-5i32).swap_bytes().key_swapped(), (-5i32).key());
        let bools = arr1(&[0u8, 1, 2, 255]);
        assert_eq!(
            keys_of(&LaneKeys::new(bools.view(), Decode::Boolean)),
            vec![0, 1, 1, 1]
        );
    }

    #[test]
    fn strided_and_pooled_sources() {
        let a = Array2::from_shape_fn((4, 5), |(i, j)| (i * 10 + j) as i32);
        let rev = a.slice(s![..;-1, ..;2]);
        let lane = LaneKeys::new(rev.column(1), Decode::Native);
        let want: Vec<u64> = [32i32, 22, 12, 2].iter().map(|v| v.key()).collect();
        assert_eq!(keys_of(&lane), want);
        let mut partial = vec![0; 2];
        lane.fill(1, &mut partial);
        assert_eq!(partial, want[1..3]);
        // pooled: the same multiset whatever the layout
        let mut expect: Vec<u64> = rev.iter().map(|v| v.key()).collect();
        expect.sort_unstable();
        for view in [
            rev.into_dyn(),
            rev.t().into_dyn(),
            a.view().into_dyn(),
            a.t().into_dyn(),
        ] {
            let src = pooled(view.clone(), Decode::Native);
            let mut got = keys_of(src.as_ref());
            got.sort_unstable();
            let mut want: Vec<u64> = view.iter().map(|v| v.key()).collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
        let b = arr1(&[7i64]);
        let bc = b.broadcast((3, 4)).unwrap().into_dyn();
        assert_eq!(
            keys_of(pooled(bc, Decode::Native).as_ref()),
            vec![7i64.key(); 12]
        );
    }

    #[test]
    fn radix_sort_sorts() {
        let mut s = 99u64;
        let mut v: Vec<u64> = (0..300_001)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            })
            .collect();
        let mut want = v.clone();
        want.sort_unstable();
        Ctx::sequential(|ctx| radix_sort(&mut v, 64, Work::whole(ctx))).unwrap();
        assert_eq!(v, want);
        let mut w: Vec<u32> = (0..70_000u32).rev().map(|x| x % 1000).collect();
        let mut want: Vec<u32> = w.clone();
        want.sort_unstable();
        Ctx::sequential(|ctx| radix_sort(&mut w, 10, Work::whole(ctx))).unwrap();
        assert_eq!(w, want);
    }

    #[test]
    fn rank_index_finds_every_key_and_rejects_others() {
        let distinct: Vec<u64> = vec![3, 9, 1 << 40, (1 << 40) + 1, u64::MAX - 2];
        let idx = RankIndex::new(&distinct, 3, u64::MAX - 2).unwrap();
        for (i, &k) in distinct.iter().enumerate() {
            assert_eq!(idx.rank(k), Some(i as u32));
        }
        for k in [0, 4, 1 << 39, u64::MAX] {
            assert_eq!(idx.rank(k), None);
        }
    }

    #[test]
    fn clogc_skips_zeros() {
        Ctx::sequential(|ctx| {
            let w = Work::whole(ctx);
            let (s, k) = sum_clogc([0, 2, 0, 3], w).unwrap();
            assert_eq!(k, 2);
            assert!((s - (2f64 * 2f64.ln() + 3f64 * 3f64.ln())).abs() < 1e-15);
            assert_eq!(sum_clogc(std::iter::empty(), w).unwrap(), (0.0, 0));
        });
    }
}
