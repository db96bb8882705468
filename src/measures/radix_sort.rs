//! LSD radix sort of `u64` / `u32` keys: O(n) per pass, parallel over fixed blocks, stable,
//! and interruptible (Ctrl-C is checked between blocks) — the sorts of the label measures
//! (the distinct values of wide-range labels, the long rows of a sparse contingency table),
//! where a comparison sort would run for seconds without a check.

use rayon::prelude::*;

use super::label_counting::{block_range, blocks, try_zeroed, Work, COUNT_BLOCK};
use crate::error::Error;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::Ctx;

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
}
