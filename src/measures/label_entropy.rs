//! Plug-in entropy of integer samples (labels), with the optional Miller–Madow correction,
//! and the label counting shared with [`super::mutual_information`].
//!
//! H = ln n − (Σ c ln c)/n over the counts c of the K distinct labels of n samples, written
//! (n ln n − Σ c ln c)/n as in [`super::entropy`] so one distinct label gives exactly 0.
//! Miller–Madow adds the first-order bias correction (K − 1)/(2n) nats.
//!
//! Counting is exact integer arithmetic, so the counts do not depend on how the samples
//! were split among threads; the float sums then run over the counts in ascending label
//! order, in the fixed blocks of [`crate::parallel`]: the result is bitwise identical for
//! any thread count.
//!
//! Two counting strategies, chosen from the label range (max − min + 1):
//! - dense (range ≤ [`DENSE_MAX`] and ≤ max(n, 2^16)): a bincount at offset `min`, in
//!   parallel blocks of [`COUNT_BLOCK`] samples each with its own count vector, summed;
//! - sparse (anything else, e.g. hashes or ids up to 2^63): a sorted copy (rayon's
//!   parallel sort) and run lengths — O(n log n), no table of the label range.
//!
//! Sorting rather than one hash map per block merged at the end: sorting yields the
//! ascending label order the float sums need with no merge step and no hash seed to keep
//! out of the result. (The two were not benchmarked against each other.)

use ndarray::{Array1, ArrayView2, Axis};
use rayon::prelude::*;

use super::Options;
use crate::error::Error;
use crate::kernels::counts::{bincount_offset, min_max};
use crate::kernels::xlogx::xlogx_sums;
use crate::parallel::{reduce_blocks, run};
use crate::simd::log::ln_lane;

/// Samples per counting block (each parallel task counts this many, or more).
pub const COUNT_BLOCK: usize = 1 << 16;

/// Largest label range counted densely: 2^22 counters = 32 MiB per counting task.
pub const DENSE_MAX: u64 = 1 << 22;

/// Whether labels spanning `range` values among `n` samples are counted densely.
pub(crate) fn dense(range: u64, n: usize) -> bool {
    range <= DENSE_MAX && range <= (n as u64).max(1 << 16)
}

/// Counts of `x − min` over 0..range (dense strategy), in parallel when `fork`.
fn dense_counts(x: &[i64], min: i64, range: usize, fork: bool) -> Vec<u64> {
    let count = |chunk: &[i64]| {
        let mut c = vec![0u64; range];
        bincount_offset(chunk, min, &mut c);
        c
    };
    if fork && x.len() > COUNT_BLOCK {
        x.par_chunks(COUNT_BLOCK)
            .fold(
                || vec![0u64; range],
                |mut acc, chunk| {
                    bincount_offset(chunk, min, &mut acc);
                    acc
                },
            )
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(s, t)| *s += t);
                a
            })
            .unwrap_or_else(|| vec![0u64; range])
    } else {
        count(x)
    }
}

/// A sorted copy of `x` (parallel sort when `fork`).
fn sorted(x: &[i64], fork: bool) -> Vec<i64> {
    let mut v = x.to_vec();
    if fork {
        v.par_sort_unstable();
    } else {
        v.sort_unstable();
    }
    v
}

/// The label range max − min + 1 of non-empty `x` (saturating at u64::MAX).
fn range_of(min: i64, max: i64) -> u64 {
    ((max as i128 - min as i128) as u64).saturating_add(1)
}

/// The counts of the distinct labels of `x`, in ascending label order (no zeros).
pub fn label_counts(x: &[i64], fork: bool) -> Vec<u64> {
    let Some((min, max)) = min_max(x) else {
        return Vec::new();
    };
    let range = range_of(min, max);
    if dense(range, x.len()) {
        let mut c = dense_counts(x, min, range as usize, fork);
        c.retain(|&v| v > 0);
        c
    } else {
        let v = sorted(x, fork);
        let mut counts = Vec::new();
        let mut start = 0;
        for i in 1..=v.len() {
            if i == v.len() || v[i] != v[i - 1] {
                counts.push((i - start) as u64);
                start = i;
            }
        }
        counts
    }
}

/// Class codes of `x`: `codes[i]` in 0..k, in ascending label order, and k. Dense label
/// ranges map by offset (k = range, some classes may be empty); sparse ones by the rank
/// among the distinct labels (k = number of distinct labels).
pub(crate) fn class_codes(x: &[i64], fork: bool) -> Result<(Vec<u32>, usize), Error> {
    let Some((min, max)) = min_max(x) else {
        return Ok((Vec::new(), 0));
    };
    let range = range_of(min, max);
    if dense(range, x.len()) {
        let code = |&v: &i64| v.wrapping_sub(min) as u32;
        let codes = if fork {
            x.par_iter().map(code).collect()
        } else {
            x.iter().map(code).collect()
        };
        return Ok((codes, range as usize));
    }
    let mut distinct = sorted(x, fork);
    distinct.dedup();
    if distinct.len() > u32::MAX as usize {
        return Err(Error::TooManyClasses {
            count: distinct.len(),
        });
    }
    let code = |v: &i64| distinct.binary_search(v).unwrap_or(0) as u32;
    let codes = if fork {
        x.par_iter().map(code).collect()
    } else {
        x.iter().map(code).collect()
    };
    Ok((codes, distinct.len()))
}

/// Σ c ln c over `counts` (as f64), in the fixed blocks of [`crate::parallel`].
pub(crate) fn sum_clogc(counts: &[f64]) -> f64 {
    crate::parallel::Ctx::sequential(|ctx| {
        reduce_blocks(counts.len(), ctx, |r| xlogx_sums(&counts[r]))
    })
    .sum_xlogx
}

/// Entropy in nats of `n` samples from their label counts, plus the Miller–Madow term.
pub(crate) fn entropy_from_counts(counts: &[u64], miller_madow: bool) -> f64 {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let c: Vec<f64> = counts.iter().map(|&v| v as f64).collect();
    let n = n as f64;
    let plug_in = (n * ln_lane(n) - sum_clogc(&c)) / n;
    // Exact-arithmetic entropy is ≥ 0; rounding can give −1e-17 for near-certain samples.
    let plug_in = if plug_in < 0.0 { 0.0 } else { plug_in };
    if miller_madow {
        plug_in + (counts.iter().filter(|&&v| v > 0).count() as f64 - 1.0) / (2.0 * n)
    } else {
        plug_in
    }
}

/// Entropy of the labels in each row of `labels` (one result per row), in the unit of
/// `base`; an empty row gives 0.0.
pub fn label_entropy(
    labels: ArrayView2<'_, i64>,
    base: Option<f64>,
    miller_madow: bool,
) -> Result<Array1<f64>, Error> {
    let ln_base = Options {
        normalize: true,
        base,
    }
    .ln_base()?;
    let rows = labels.len_of(Axis(0));
    let per_row = |row: ndarray::ArrayView1<'_, i64>, fork: bool| -> f64 {
        let counts = match row.as_slice() {
            Some(s) => label_counts(s, fork),
            None => label_counts(&row.to_vec(), fork),
        };
        entropy_from_counts(&counts, miller_madow) / ln_base
    };
    let out: Vec<f64> = run(labels.len(), |ctx| {
        let fork = ctx.fork;
        if fork && rows > 1 {
            (0..rows)
                .into_par_iter()
                .map(|i| per_row(labels.row(i), false))
                .collect()
        } else {
            (0..rows).map(|i| per_row(labels.row(i), fork)).collect()
        }
    })?;
    Ok(Array1::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::set_num_threads;
    use ndarray::Array2;

    fn h(x: &[i64], mm: bool) -> f64 {
        let a = Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap();
        label_entropy(a.view(), None, mm).unwrap()[0]
    }

    #[test]
    fn counts_dense_and_sparse() {
        assert_eq!(label_counts(&[], false), Vec::<u64>::new());
        assert_eq!(label_counts(&[3, 1, 3, 3, -2], false), vec![1, 1, 3]);
        let sparse = [i64::MAX, i64::MIN, 0, i64::MAX, 7 << 40];
        assert_eq!(label_counts(&sparse, false), vec![1, 1, 1, 2]);
        let (codes, k) = class_codes(&sparse, false).unwrap();
        assert_eq!((codes, k), (vec![3, 0, 1, 3, 2], 4));
        let (codes, k) = class_codes(&[5, 7, 5], true).unwrap();
        assert_eq!((codes, k), (vec![0, 2, 0], 3));
    }

    #[test]
    fn known_values() {
        assert_eq!(h(&[], false), 0.0);
        assert_eq!(h(&[4, 4, 4], false), 0.0);
        assert_eq!(h(&[4, 4, 4], true), 0.0);
        assert_eq!(h(&[0, 1], false), std::f64::consts::LN_2);
        // Miller–Madow: + (K − 1)/(2n) = 1/4 for two labels in two samples
        assert_eq!(h(&[0, 1], true), std::f64::consts::LN_2 + 0.25);
        let bits = Array2::from_shape_vec((2, 4), vec![0, 1, 2, 3, 9, 9, 8, 8]).unwrap();
        assert_eq!(
            label_entropy(bits.view(), Some(2.0), false)
                .unwrap()
                .to_vec(),
            vec![2.0, 1.0]
        );
        assert!(label_entropy(bits.view(), Some(1.0), false).is_err());
    }

    #[test]
    fn dense_and_sparse_paths_agree_and_threads_do_not_matter() {
        let mut s = 12345u64;
        let x: Vec<i64> = (0..1_000_003)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 1000) as i64
            })
            .collect();
        // the same labels spread far apart: counted by sorting
        let spread: Vec<i64> = x.iter().map(|&v| v * (1 << 50) - (1 << 60)).collect();
        let mut seen = Vec::new();
        for threads in [1, 2, 3] {
            set_num_threads(threads).unwrap();
            let a = h(&x, true);
            assert_eq!(a.to_bits(), h(&spread, true).to_bits());
            seen.push(a.to_bits());
        }
        assert!(seen.iter().all(|&v| v == seen[0]));
    }
}
