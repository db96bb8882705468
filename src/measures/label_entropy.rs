//! Plug-in entropy of integer samples (labels), with the optional Miller–Madow correction.
//!
//! H = ln n − (Σ c ln c)/n over the counts c of the K distinct labels of n samples, written
//! (n ln n − Σ c ln c)/n as in [`super::entropy`] so one distinct label gives exactly 0.
//! Miller–Madow adds the first-order bias correction (K − 1)/(2n) nats.
//!
//! The labels are read in place through [`KeySource`]s (any integer dtype, byte order and
//! strides; see [`super::label_keys`]). Two counting strategies, chosen from the label
//! range max − min + 1:
//! - range ≤ max(2n, 2^16): a count per value of the range (offset `key − min`), one pass;
//! - wider (hashes, ids up to 2^64): a sorted copy of the keys (LSD radix sort, O(n)) and
//!   its run lengths — no table of the range.
//!
//! Counting is exact integer arithmetic, so the counts do not depend on how the samples
//! were split among threads; the float sums then run over the non-zero counts in ascending
//! label order, in fixed blocks (`label_counting::sum_clogc`): both strategies, and any thread count, give
//! bitwise the same result.

use std::sync::Mutex;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, Zip};

use super::label_counting::{
    even_ranges, for_parts, key_range, offset_range, part_count, scan_keys, sorted_keys, sum_clogc,
    try_zeroed_touched, Count, CountSums, Work, COUNT_BLOCK,
};
use super::label_keys::{Decode, KeySource, Label, LaneKeys};
use super::{Options, RowStop};
use crate::error::Error;
use crate::parallel::run;

/// The counts of the distinct labels of `src`, reduced ([`CountSums`]).
fn label_counts_sums(
    src: &dyn KeySource,
    arg: &'static str,
    w: Work<'_>,
) -> Result<CountSums, Error> {
    let n = src.len();
    let Some((min, max)) = key_range(src, w)? else {
        return sum_clogc(std::iter::empty(), n as u64, w);
    };
    if let Some(range) = offset_range(min, max, n) {
        return if n < u32::MAX as usize {
            offset_counts::<u32>(src, arg, min, range, w)
        } else {
            offset_counts::<u64>(src, arg, min, range, w)
        };
    }
    let sorted = sorted_keys(src, (min, max), w)?;
    sum_clogc(RunLengths::new(&sorted, w), n as u64, w)
}

/// [`label_counts_sums`] by a count per value of the range `min..min + range`; each part
/// of the pass owns a range of the counters ([`part_count`]).
fn offset_counts<C: Count>(
    src: &dyn KeySource,
    arg: &'static str,
    min: u64,
    range: usize,
    w: Work<'_>,
) -> Result<CountSums, Error> {
    let mut counts = try_zeroed_touched::<C>(range, w)?;
    let ranges = even_ranges(range, part_count(w));
    for_parts(&mut counts, &ranges, |mine, counts| {
        let mut outside = false;
        scan_keys(src, w, |keys| {
            for &k in keys {
                let off = k.wrapping_sub(min);
                outside |= off >= range as u64;
                // Another part's value, or (if `outside`) not one the range pass saw.
                if let Some(c) = counts.get_mut((off as usize).wrapping_sub(mine.start)) {
                    c.bump();
                }
            }
        })?;
        if outside {
            return Err(Error::ModifiedDuringCall { arg });
        }
        Ok(())
    })?;
    sum_clogc(counts.iter().map(|&c| c.into()), src.len() as u64, w)
}

/// The lengths of the runs of equal values of a sorted slice; ends early (the call's
/// result is then discarded) once the call is stopped.
struct RunLengths<'a, 'w> {
    sorted: &'a [u64],
    at: usize,
    w: Work<'w>,
    next_check: usize,
}

impl<'a, 'w> RunLengths<'a, 'w> {
    fn new(sorted: &'a [u64], w: Work<'w>) -> Self {
        RunLengths {
            sorted,
            at: 0,
            w,
            next_check: COUNT_BLOCK,
        }
    }
}

impl Iterator for RunLengths<'_, '_> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let first = *self.sorted.get(self.at)?;
        if self.at >= self.next_check {
            if self.w.stopped() {
                return None;
            }
            self.next_check = self.at + COUNT_BLOCK;
        }
        let len = self.sorted[self.at..]
            .iter()
            .position(|&k| k != first)
            .unwrap_or(self.sorted.len() - self.at);
        self.at += len;
        Some(len as u64)
    }
}

/// Entropy in nats of the samples of `src`, plus the Miller–Madow term.
fn entropy_of(
    src: &dyn KeySource,
    arg: &'static str,
    miller_madow: bool,
    w: Work<'_>,
) -> Result<f64, Error> {
    if src.is_empty() {
        return Ok(0.0);
    }
    let sums = label_counts_sums(src, arg, w)?;
    let (k, n) = (sums.classes, src.len() as f64);
    let plug_in = sums.entropy(src.len() as u64);
    Ok(if miller_madow {
        plug_in + (k as f64 - 1.0) / (2.0 * n)
    } else {
        plug_in
    })
}

/// Entropy of the labels of every lane along the last axis of `labels` (the result has
/// the other axes' shape), in the unit of `base`; an empty lane gives 0.0.
pub fn label_entropy<T: Label>(
    labels: ArrayViewD<'_, T>,
    decode: Decode,
    base: Option<f64>,
    miller_madow: bool,
) -> Result<ArrayD<f64>, Error> {
    let ln_base = ln_base(base)?;
    let Some(last) = labels.ndim().checked_sub(1) else {
        return Err(Error::NoAxis { arg: "labels" });
    };
    let lanes = labels.len() / labels.len_of(Axis(last)).max(1);
    let lane_len = labels.len_of(Axis(last));
    // A lane's error (a label rewritten during the call) is kept aside, so the result is
    // an array of f64: skipping millions of lanes after Ctrl-C writes 8 bytes each.
    let error: Mutex<Option<Error>> = Mutex::new(None);
    let out = run(labels.len(), |ctx| {
        let w = Work::whole(ctx);
        // Once stopped, the remaining lanes (maybe millions) are skipped at once.
        let stop = RowStop::new(ctx, lane_len);
        let one = |lane: ArrayView1<'_, T>, w: Work<'_>| {
            if stop.skip() {
                return f64::NAN;
            }
            match entropy_of(&LaneKeys::new(lane, decode), "labels", miller_madow, w) {
                Ok(h) => h / ln_base,
                Err(e) => {
                    error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    f64::NAN
                }
            }
        };
        let zip = Zip::from(labels.lanes(Axis(last)));
        if w.parallel && lanes > 1 {
            // Lanes in parallel, each on one thread.
            zip.par_map_collect(|lane| one(lane, w.serial()))
        } else {
            zip.map_collect(|lane| one(lane, w))
        }
    })?;
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Entropy of all elements of `labels` as one set of samples (`axis=None`).
pub fn label_entropy_pooled<T: Label>(
    labels: ArrayViewD<'_, T>,
    decode: Decode,
    base: Option<f64>,
    miller_madow: bool,
) -> Result<f64, Error> {
    let ln_base = ln_base(base)?;
    let n = labels.len();
    let src = super::label_keys::pooled(labels, decode);
    Ok(run(n, |ctx| {
        entropy_of(src.as_ref(), "labels", miller_madow, Work::whole(ctx))
    })?? / ln_base)
}

fn ln_base(base: Option<f64>) -> Result<f64, Error> {
    Options {
        normalize: true,
        base,
    }
    .ln_base()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::set_num_threads;
    use ndarray::{arr1, Array2};

    fn h(x: &[i64], mm: bool) -> f64 {
        label_entropy_pooled(arr1(x).into_dyn().view(), Decode::Native, None, mm).unwrap()
    }

    #[test]
    fn known_values() {
        assert_eq!(h(&[], false), 0.0);
        assert_eq!(h(&[4, 4, 4], false), 0.0);
        assert_eq!(h(&[4, 4, 4], true), 0.0);
        assert_eq!(h(&[0, 1], false), std::f64::consts::LN_2);
        // Miller–Madow: + (K − 1)/(2n) = 1/4 for two labels in two samples
        assert_eq!(h(&[0, 1], true), std::f64::consts::LN_2 + 0.25);
        let bits = Array2::from_shape_vec((2, 4), vec![0i64, 1, 2, 3, 9, 9, 8, 8]).unwrap();
        assert_eq!(
            label_entropy(bits.view().into_dyn(), Decode::Native, Some(2.0), false)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            vec![2.0, 1.0]
        );
        assert!(label_entropy(bits.view().into_dyn(), Decode::Native, Some(1.0), false).is_err());
        // sparse labels: counted by sorting
        let sparse = [i64::MAX, i64::MIN, 0, i64::MAX, 7 << 40];
        let want = {
            let p = [0.2f64, 0.2, 0.2, 0.4];
            -p.iter().map(|p| p * p.ln()).sum::<f64>()
        };
        assert!((h(&sparse, false) - want).abs() < 1e-15);
    }

    #[test]
    fn dtypes_and_layouts_agree() {
        let x: Vec<i64> = (0..5000).map(|i| (i * 7919) % 97 - 40).collect();
        let want = h(&x, true);
        let as_i8: Vec<i8> = x.iter().map(|&v| v as i8).collect();
        let got = label_entropy_pooled(arr1(&as_i8).into_dyn().view(), Decode::Native, None, true)
            .unwrap();
        assert_eq!(got.to_bits(), want.to_bits());
        let swapped: Vec<i16> = x.iter().map(|&v| (v as i16).swap_bytes()).collect();
        let got = label_entropy_pooled(
            arr1(&swapped).into_dyn().view(),
            Decode::Swapped,
            None,
            true,
        )
        .unwrap();
        assert_eq!(got.to_bits(), want.to_bits());
        let rev = arr1(&x);
        let got = label_entropy_pooled(
            rev.slice(ndarray::s![..;-1]).into_dyn(),
            Decode::Native,
            None,
            true,
        )
        .unwrap();
        assert_eq!(got.to_bits(), want.to_bits());
        // uint64 above 2^63: distinct from each other, counted by value
        let big = [u64::MAX, u64::MAX, 1 << 63, 1];
        let got = label_entropy_pooled(arr1(&big).into_dyn().view(), Decode::Native, None, false)
            .unwrap();
        assert_eq!(got.to_bits(), h(&[5, 5, 6, 7], false).to_bits());
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
