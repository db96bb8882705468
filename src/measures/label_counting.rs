//! The counting machinery the label measures share ([`super::label_entropy`],
//! [`super::label_pairs`]): passes over the keys of a [`KeySource`] in blocks, counters
//! owned by parts of a pass, class codes (by offset or by rank), Σ c ln c over counts.
//!
//! **Work buffers** (all O(n) or smaller, allocated fallibly: a failed allocation is
//! [`Error::OutOfMemory`], not an abort):
//! - labels whose range max − min + 1 is at most max(2n, 2^16) (class ids, cluster labels,
//!   permutations of 0..n) are coded by offset (`key − min`) on the fly: no buffer per
//!   sample at all, counts of the range (4 bytes each below 2^32 samples);
//! - wider ranges (hashes, ids spread over 64 bits) need the distinct values in order: a
//!   sorted copy of the keys (8 bytes per sample) by an LSD radix sort
//!   ([`super::radix_sort`]) with an equal scratch buffer, 16 bytes per sample while
//!   sorting; the pair measures then keep one `u32` class code per sample (4 bytes) and
//!   drop the sorted keys.
//!
//! **Threads and Ctrl-C.** Every pass visits the samples in blocks of [`COUNT_BLOCK`],
//! checking [`Ctx::stopped`] before each. Counting is exact integer arithmetic, each part of
//! a parallel pass owning a range of the counters (`part_count`), so no result depends on
//! how the work was shared out; the float sums that follow run over the counts in label
//! order in fixed blocks.
//!
//! **Races.** Another thread may rewrite the labels during the call. Every pass that reads
//! them again checks the value against what the earlier pass established (the offset range,
//! the sorted distinct values) and reports [`Error::ModifiedDuringCall`] instead of indexing
//! out of bounds.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rayon::prelude::*;

use super::label_keys::KeySource;
use super::radix_sort::radix_sort;
use crate::error::Error;
use crate::kernels::softmax_rows::log1p_lane;
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::parallel::{tree_combine, Ctx, BLOCK};
use crate::simd::log::ln_lane;

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
pub(crate) fn blocks(n: usize) -> usize {
    n.div_ceil(COUNT_BLOCK)
}

/// The sample range of block `b`.
pub(crate) fn block_range(b: usize, n: usize) -> std::ops::Range<usize> {
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

/// The most parts a counting pass is split into (see [`part_count`]).
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
        let buckets = (max - min).checked_shr(shift).unwrap_or(0) as usize + 1;
        let mut starts = try_zeroed::<u32>(buckets + 1)?;
        let mut i = 0;
        for (b, slot) in starts.iter_mut().enumerate() {
            while i < distinct.len()
                && ((distinct[i] - min).checked_shr(shift).unwrap_or(0) as usize) < b
            {
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
        let b = key
            .checked_sub(self.min)?
            .checked_shr(self.shift)
            .unwrap_or(0) as usize;
        let lo = *self.starts.get(b)? as usize;
        let hi = *self.starts.get(b + 1)? as usize;
        let i = self.distinct.get(lo..hi)?.binary_search(&key).ok()?;
        Some((lo + i) as u32)
    }
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

/// The counts of the distinct values of `n` samples, reduced for an exact entropy:
/// Σ c ln c over every count but a dominant one (a count above n/2 — there is at most
/// one), that dominant count, and how many counts are non-zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CountSums {
    /// Σ c ln c over the non-zero counts, the dominant one excluded.
    pub rest_clogc: f64,
    /// The count above n/2, or 0.
    pub dominant: u64,
    /// The number of non-zero counts (classes).
    pub classes: usize,
}

impl CountSums {
    /// The plug-in entropy (nats) of the `n` samples: Σ (c/n)·ln(n/c), summed as
    /// non-negative parts so one dominant count loses no digits — (r ln n − Σ c ln c)/n over
    /// the other counts (their total r ≤ n/2, so each ln(n/c) ≥ ln 2: at most ~50 ULP of
    /// cancellation), plus (d/n)·log1p(r/d) for the dominant count d = n − r. A single
    /// class gives exactly 0.
    pub fn entropy(&self, n: u64) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let nf = n as f64;
        let rest = n - self.dominant; // exact: integer counts
        let rest_part = rest as f64 * ln_lane(nf) - self.rest_clogc;
        let rest_part = if rest_part > 0.0 { rest_part } else { 0.0 };
        let dominant_part = if self.dominant > 0 {
            let d = self.dominant as f64;
            d * log1p_lane(rest as f64 / d)
        } else {
            0.0
        };
        (rest_part + dominant_part) / nf
    }
}

/// [`CountSums`] of the non-zero `counts` of `n` samples, in their order: blocks of
/// [`BLOCK`] consecutive non-zero counts reduced by `xlogx_sums`, combined by the fixed
/// tree — the same sums whichever way the counts were obtained. `Err(Interrupted)` once
/// the call is stopped (checked every [`COUNT_BLOCK`] counts: a count per class can mean
/// one per sample).
pub(crate) fn sum_clogc(
    counts: impl IntoIterator<Item = u64>,
    n: u64,
    w: Work<'_>,
) -> Result<CountSums, Error> {
    let mut buf = Vec::with_capacity(BLOCK);
    let mut parts: Vec<XLogXSums> = Vec::new();
    let mut classes = 0;
    let mut dominant = 0;
    for (i, c) in counts.into_iter().enumerate() {
        if i % COUNT_BLOCK == COUNT_BLOCK - 1 && w.stopped() {
            return Err(Error::Interrupted);
        }
        if c == 0 {
            continue;
        }
        classes += 1;
        if 2 * (c as u128) > n as u128 {
            dominant = c;
            continue;
        }
        buf.push(c as f64);
        if buf.len() == BLOCK {
            parts.push(xlogx_sums(&buf));
            buf.clear();
        }
    }
    if !buf.is_empty() || parts.is_empty() {
        parts.push(xlogx_sums(&buf));
    }
    Ok(CountSums {
        rest_clogc: tree_combine(&parts).sum_xlogx,
        dominant,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let s = sum_clogc([0, 2, 0, 3], 5, w).unwrap();
            assert_eq!((s.classes, s.dominant), (2, 3));
            assert!((s.rest_clogc - 2f64 * 2f64.ln()).abs() < 1e-15);
            let h = -(0.4f64 * 0.4f64.ln() + 0.6 * 0.6f64.ln());
            assert!((s.entropy(5) - h).abs() < 1e-15);
            let e = sum_clogc(std::iter::empty(), 0, w).unwrap();
            assert_eq!((e.rest_clogc, e.dominant, e.classes), (0.0, 0, 0));
            // one dominant count: full relative precision of the tiny entropy
            let d = sum_clogc([1u64 << 52, 1, 1], (1u64 << 52) + 2, w).unwrap();
            let n = (1u64 << 52) as f64 + 2.0;
            let want =
                2.0 * n.ln() / n + ((1u64 << 52) as f64 / n) * (2.0 / (1u64 << 52) as f64).ln_1p();
            assert!(((d.entropy((1u64 << 52) + 2) - want) / want).abs() < 1e-14);
        });
    }
}
