//! Deterministic reductions over blocks of one lane and over the lanes of an array:
//! fixed blocks of [`BLOCK`] elements combined by a fixed tree, so which thread computes
//! a block changes nothing.

use std::ops::Range;

use ndarray::{s, ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, Axis, Zip};
use rayon::prelude::*;

use super::{run, Ctx, BLOCK, PARALLEL_MIN_ELEMENTS};
use crate::error::Error;
use crate::kernels::Partial;

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

/// The running sum of one block's values in four accumulators: the block's value k goes
/// to accumulator k mod 4, and the block's sum is `(a0 + a1) + (a2 + a3)`. A fixed order
/// (the values may arrive in any split into consecutive slices), and four independent
/// chains: one running sum made a loop over per-row values wait on the add's latency
/// (4 cycles a row; float32 softmax cross-entropy, one thread, LTO wheels in turn:
/// (5·10^6, 2) 20.2 → 19.1 ms, (10^6, 10) 10.0 → 9.6 ms).
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockSum {
    acc: [f64; 4],
    /// Values added so far.
    count: usize,
}

impl BlockSum {
    /// Adds the next value.
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.acc[self.count & 3] += v;
        self.count += 1;
    }

    /// Adds the next values, in order.
    #[inline]
    pub fn add_all(&mut self, values: &[f64]) {
        let head = ((4 - (self.count & 3)) & 3).min(values.len());
        for &v in &values[..head] {
            self.add(v);
        }
        let mut quads = values[head..].chunks_exact(4);
        let [mut a0, mut a1, mut a2, mut a3] = self.acc;
        for q in &mut quads {
            a0 += q[0];
            a1 += q[1];
            a2 += q[2];
            a3 += q[3];
        }
        self.acc = [a0, a1, a2, a3];
        let tail = quads.remainder();
        self.count += values.len() - head - tail.len();
        for &v in tail {
            self.add(v);
        }
    }

    /// Values added so far.
    #[inline]
    pub fn count(&self) -> usize {
        self.count
    }

    /// The block's sum.
    #[inline]
    pub fn total(&self) -> f64 {
        sum4(self.acc)
    }
}

/// Four accumulators combined in [`BlockSum`]'s order.
#[inline]
pub fn sum4(a: [f64; 4]) -> f64 {
    (a[0] + a[1]) + (a[2] + a[3])
}

/// The sum of `values` (in their order) over fixed blocks of [`ROW_BLOCK`], each a
/// [`BlockSum`], combined by [`tree_combine`]: deterministic, and accurate to O(log n)
/// roundings across blocks.
pub fn fixed_sum<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    let mut blocks = Vec::new();
    let mut acc = BlockSum::default();
    for &v in values {
        acc.add(v);
        if acc.count() == ROW_BLOCK {
            blocks.push(Sum(acc.total()));
            acc = BlockSum::default();
        }
    }
    if acc.count() > 0 {
        blocks.push(Sum(acc.total()));
    }
    tree_combine(&blocks).0
}

/// A lane read in pieces of at most `N` elements: borrowed when contiguous, else each piece
/// gathered into a buffer that only the strided variant holds. (A buffer made for every
/// row, contiguous or not, was zeroed per row: 10–28% of a short-row call in `perf`.)
pub enum LanePieces<'a, T, const N: usize = CHUNK> {
    Contiguous(&'a [T]),
    Strided(ArrayView1<'a, T>, [T; N]),
}

impl<'a, T: Copy + Default, const N: usize> LanePieces<'a, T, N> {
    #[inline]
    pub fn new(lane: ArrayView1<'a, T>) -> Self {
        match lane.to_slice() {
            Some(s) => Self::Contiguous(s),
            None => Self::Strided(lane, [T::default(); N]),
        }
    }

    /// The elements `range` (at most `N`) of the lane.
    #[inline]
    pub fn piece(&mut self, range: Range<usize>) -> &[T] {
        match self {
            Self::Contiguous(s) => &s[range],
            Self::Strided(lane, buf) => {
                debug_assert!(range.len() <= N);
                let n = range.len();
                for (slot, &v) in buf.iter_mut().zip(lane.slice(s![range]).iter()) {
                    *slot = v;
                }
                &buf[..n]
            }
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
    use crate::parallel::set_num_threads;
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
    fn a_block_sum_is_value_k_in_accumulator_k_mod_4_however_the_values_arrive() {
        let x = crate::kernels::adversarial::positive(67, 5);
        let signed: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 3 == 0 { -v * 1e9 } else { v })
            .collect();
        for n in 0..=signed.len() {
            let values = &signed[..n];
            let mut a = [0.0; 4];
            for (k, v) in values.iter().enumerate() {
                a[k % 4] += v;
            }
            let want = sum4(a);
            // one value at a time, all at once, and every split into two and three slices
            let mut one = BlockSum::default();
            values.iter().for_each(|&v| one.add(v));
            assert_eq!(one.total().to_bits(), want.to_bits(), "n = {n}");
            assert_eq!(one.count(), n);
            for i in 0..=n {
                for j in i..=n {
                    let mut s = BlockSum::default();
                    s.add_all(&values[..i]);
                    s.add_all(&values[i..j]);
                    s.add_all(&values[j..]);
                    assert_eq!(s.total().to_bits(), want.to_bits(), "n = {n}, {i}, {j}");
                    assert_eq!(s.count(), n);
                }
            }
        }
        // fixed_sum: whole blocks of ROW_BLOCK in this order, then the tree
        let long = crate::kernels::adversarial::positive(3 * ROW_BLOCK + 5, 9);
        let blocks: Vec<Sum> = long
            .chunks(ROW_BLOCK)
            .map(|b| {
                let mut a = [0.0; 4];
                b.iter().enumerate().for_each(|(k, v)| a[k % 4] += v);
                Sum(sum4(a))
            })
            .collect();
        assert_eq!(
            fixed_sum(&long).to_bits(),
            tree_combine(&blocks).0.to_bits()
        );
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
