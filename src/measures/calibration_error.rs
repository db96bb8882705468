//! Top-label expected calibration error (Guo et al. 2017; torchmetrics'
//! `multiclass_calibration_error`): each row's confidence c (its largest probability) and
//! prediction (the index of it, first on ties) are binned by c into `n_bins` equal-width
//! bins [i/n, (i+1)/n), confidence 1 in the last bin; with per-bin count n_b, accuracy a_b
//! (fraction of correct predictions) and mean confidence c_b over N rows:
//! l1 = Σ_b (n_b/N)·|a_b − c_b|, l2 = sqrt(Σ_b (n_b/N)·(a_b − c_b)²), max = max_b |a_b − c_b|.
//!
//! Computed as l1 = Σ_b |k_b − s_b| / N from exact integer counts k_b (correct
//! predictions) and compensated confidence sums s_b — the same value without the
//! roundings of the per-bin means.
//!
//! Bin boundaries: i/n rounded to the input's float type (f32 probabilities compare with
//! f32 boundaries, as torchmetrics' `linspace` in the input dtype; logits' confidences are
//! f64). torchmetrics (since 1.1, its PR 1919) gives a confidence of exactly 1 a bin of its own,
//! (n+1)-th; here it is in the last bin, as in Guo et al.'s definition — the two agree
//! unless some confidence is exactly 1 (see the Python docstring).
//!
//! One pass: fixed runs of rows (at least [`TASK_ROWS`], and at least `n_bins`) are
//! reduced in parallel to (confidence, prediction) and binned into bins of their own,
//! which are merged in row order (compensated sums merged by TwoSum) — the runs depend on
//! the row index only, so the result does not depend on the thread count. PERF: the bins
//! filled on the calling thread after the parallel tops were a third of a (10^6, 10)
//! call on one thread and did not shrink with two.

use ndarray::{ArrayView2, ArrayViewD, Axis, Dimension, Ix2, IxDyn};
use rayon::prelude::*;

use crate::error::Error;
use crate::kernels::calibration::{self, row_top, row_top_logits, RowTop};
use crate::kernels::two_pass::two_sum;
use crate::kernels::Real;
use crate::measures::loss_rows::{short_tile_rows, Tiles, SHORT};
use crate::parallel::{run, Ctx};

/// The norm of the calibration error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Expected calibration error (ECE).
    L1,
    /// Root-mean-square calibration error.
    L2,
    /// Maximum calibration error (MCE).
    Max,
}

impl Norm {
    /// `"l1"`, `"l2"` or `"max"`.
    pub fn parse(s: &str) -> Result<Norm, Error> {
        match s {
            "l1" => Ok(Norm::L1),
            "l2" => Ok(Norm::L2),
            "max" => Ok(Norm::Max),
            _ => Err(Error::InvalidOption {
                arg: "norm",
                value: s.to_string(),
                expected: "'l1', 'l2' or 'max'",
            }),
        }
    }
}

/// Rows whose runs' results are held at once before they are folded in order (bounds
/// the memory: a run's bins are no larger than its rows' tops).
const CHUNK_ROWS: usize = 1 << 16;
/// Rows shorter than this take the scalar loop (see `tops_of`).
const SCALAR_BELOW: usize = 32;
/// Rows per parallel task (at least).
const TASK_ROWS: usize = 1024;

/// Per-bin statistics: counts, correct counts, compensated confidence sums (Neumaier).
struct Bins {
    count: Vec<u64>,
    correct: Vec<u64>,
    sum: Vec<f64>,
    comp: Vec<f64>,
}

impl Bins {
    fn new(n: usize) -> Result<Bins, Error> {
        let vec_u = || {
            let mut v: Vec<u64> = Vec::new();
            v.try_reserve_exact(n)
                .map_err(|_| Error::TooManyBins { value: n })?;
            v.resize(n, 0);
            Ok::<_, Error>(v)
        };
        let vec_f = || {
            let mut v: Vec<f64> = Vec::new();
            v.try_reserve_exact(n)
                .map_err(|_| Error::TooManyBins { value: n })?;
            v.resize(n, 0.0);
            Ok::<_, Error>(v)
        };
        Ok(Bins {
            count: vec_u()?,
            correct: vec_u()?,
            sum: vec_f()?,
            comp: vec_f()?,
        })
    }

    /// Empty bins of a size [`Bins::new`] has already accepted.
    fn zeroed(n: usize) -> Bins {
        Bins {
            count: vec![0; n],
            correct: vec![0; n],
            sum: vec![0.0; n],
            comp: vec![0.0; n],
        }
    }

    /// Adds the bins of the rows after these (TwoSum of the sums, both compensations).
    fn merge(&mut self, o: &Bins) {
        for b in 0..self.count.len() {
            self.count[b] += o.count[b];
            self.correct[b] += o.correct[b];
            let (t, err) = two_sum(self.sum[b], o.sum[b]);
            self.sum[b] = t;
            self.comp[b] += err + o.comp[b];
        }
    }

    #[inline(always)]
    fn add(&mut self, b: usize, confidence: f64, correct: bool) {
        self.count[b] += 1;
        self.correct[b] += correct as u64;
        let (s, c) = (self.sum[b], confidence);
        let t = s + c;
        self.comp[b] += if s.abs() >= c.abs() {
            (s - t) + c
        } else {
            (c - t) + s
        };
        self.sum[b] = t;
    }

    /// k_b − s_b for bin b (correct count minus confidence sum).
    fn gap(&self, b: usize) -> f64 {
        (self.correct[b] as f64 - self.sum[b]) - self.comp[b]
    }

    fn finish(&self, norm: Norm, rows: usize) -> f64 {
        let n = rows as f64;
        let nonempty = (0..self.count.len()).filter(|&b| self.count[b] > 0);
        match norm {
            Norm::L1 => nonempty.map(|b| self.gap(b).abs()).sum::<f64>() / n,
            Norm::L2 => {
                let ms: f64 = nonempty
                    .map(|b| self.gap(b) * self.gap(b) / (self.count[b] as f64 * n))
                    .sum();
                ms.sqrt()
            }
            Norm::Max => nonempty
                .map(|b| self.gap(b).abs() / self.count[b] as f64)
                .fold(0.0, f64::max),
        }
    }
}

/// The bin of `confidence` in [0, 1]: the largest i with bound(i) ≤ confidence, at most
/// n − 1, where bound(i) is i/n rounded to the input's float type.
#[inline(always)]
fn bin_of(confidence: f64, n: usize, bound: impl Fn(usize) -> f64) -> usize {
    // (truncation is the floor of a non-negative value; the cast saturates: no libm call)
    let mut b = ((confidence * n as f64) as usize).min(n - 1);
    while b > 0 && confidence < bound(b) {
        b -= 1;
    }
    while b + 1 < n && confidence >= bound(b + 1) {
        b += 1;
    }
    b
}

/// The calibration error of the rows along the last axis of `probs` against `labels`
/// (the shape of `probs` without its last axis). NaN for no rows, or where a confidence
/// is NaN.
pub fn expected_calibration_error<T: Real>(
    probs: ArrayViewD<'_, T>,
    labels: ArrayViewD<'_, i64>,
    n_bins: usize,
    norm: Norm,
    from_logits: bool,
) -> Result<f64, Error> {
    let Some((&classes, batch)) = probs.shape().split_last() else {
        return Err(Error::NoAxis { arg: "probs" });
    };
    if labels.shape() != batch {
        return Err(Error::ShapeMismatch {
            first: "labels",
            second: "probs without its class axis",
            first_shape: labels.shape().to_vec(),
            second_shape: batch.to_vec(),
        });
    }
    if n_bins == 0 {
        return Err(Error::InvalidOption {
            arg: "n_bins",
            value: "0".to_string(),
            expected: "a positive integer",
        });
    }
    let rows = labels.len();
    if rows == 0 {
        return Ok(f64::NAN);
    }
    if classes == 0 {
        return Err(Error::NoClasses { arg: "probs" });
    }
    // (borrowed when contiguous, copied only otherwise)
    let y: std::borrow::Cow<'_, [i64]> = match labels.as_slice() {
        Some(y) => y.into(),
        None => labels.iter().copied().collect::<Vec<i64>>().into(),
    };
    if let Some(i) = y.iter().position(|&v| v < 0 || v as u64 >= classes as u64) {
        let position = ndarray::indices(IxDyn(labels.shape()))
            .into_iter()
            .nth(i)
            .map(|ix| ix.slice().to_vec())
            .unwrap_or_default();
        return Err(Error::LabelOutOfRangeIn {
            arg: "labels",
            label: y[i],
            position,
            classes,
        });
    }
    let mut bins = Bins::new(n_bins)?;
    let bounds: Vec<f64> = (0..=n_bins)
        .map(|i| T::from_f64(i as f64 / n_bins as f64).to_f64())
        .collect();
    let bound = |i: usize| bounds[i];
    let pieces = pieces_2d(probs)?;
    let mut nan = false;
    let (lowest, highest) = run(rows * classes, |ctx| {
        let bin_run = |first: usize, tops: &[RowTop]| {
            let mut own = Bins::zeroed(n_bins);
            let mut nan = false;
            for (top, &label) in tops.iter().zip(&y[first..]) {
                if top.confidence.is_nan() {
                    nan = true;
                    continue;
                }
                let c = top.confidence.clamp(0.0, 1.0);
                own.add(bin_of(c, n_bins, bound), c, label as usize == top.argmax);
            }
            (own, nan)
        };
        fold_tops(
            &pieces,
            from_logits,
            ctx,
            TASK_ROWS.max(n_bins),
            bin_run,
            |(own, n)| {
                bins.merge(&own);
                nan |= n;
            },
        )
    })?;
    if lowest < 0.0 {
        return Err(Error::Negative {
            arg: "probs",
            value: lowest,
        });
    }
    if !from_logits && highest > 1.0 {
        return Err(Error::AboveOne {
            arg: "probs",
            value: highest,
        });
    }
    Ok(if nan {
        f64::NAN
    } else {
        bins.finish(norm, rows)
    })
}

/// Every row's top-1 prediction as the local function computes it, with the rows'
/// smallest and largest value: the per-block partials of `fastentropy.dask`, which bins
/// them itself (its blocks' bin sums combine exactly), so a distributed result rests on the
/// same confidences as the local one.
#[derive(Clone, Debug, PartialEq)]
pub struct RowTops {
    /// Each row's confidence (NaN for a row holding NaN, or an all −inf row of logits).
    pub confidence: Vec<f64>,
    /// Each row's prediction: the first index of its maximum.
    pub argmax: Vec<i64>,
    /// min(0, the smallest value), NaN ignored (0 for logits).
    pub lowest: f64,
    /// max(0, the largest value), NaN ignored (0 for logits).
    pub highest: f64,
}

/// [`RowTops`] of the rows of `probs` (n, C); errors: no classes, an interrupt.
pub fn row_tops<T: Real>(probs: ArrayView2<'_, T>, from_logits: bool) -> Result<RowTops, Error> {
    let (rows, classes) = probs.dim();
    if rows > 0 && classes == 0 {
        return Err(Error::NoClasses { arg: "probs" });
    }
    let mut out = RowTops {
        confidence: Vec::with_capacity(rows),
        argmax: Vec::with_capacity(rows),
        lowest: 0.0,
        highest: 0.0,
    };
    if rows == 0 {
        return Ok(out);
    }
    (out.lowest, out.highest) = run(rows * classes, |ctx| {
        let copy = |_, tops: &[RowTop]| tops.to_vec();
        fold_tops(&[probs.view()], from_logits, ctx, TASK_ROWS, copy, |tops| {
            for top in tops {
                out.confidence.push(top.confidence);
                out.argmax.push(top.argmax as i64);
            }
        })
    })?;
    Ok(out)
}

/// Runs `task(first_row, tops)` on fixed runs of `task_rows` consecutive rows of the
/// pieces (rows numbered across the pieces; the last run of a piece may be shorter), in
/// parallel when the context forks, and hands the results to `fold` in row order; the
/// runs depend on the row index only. Returns (min(0, smallest value), max(0, largest
/// value)) of the rows, NaN ignored.
fn fold_tops<T: Real, R: Send>(
    pieces: &[ArrayView2<'_, T>],
    from_logits: bool,
    ctx: Ctx<'_>,
    task_rows: usize,
    task: impl Fn(usize, &[RowTop]) -> R + Sync,
    mut fold: impl FnMut(R),
) -> (f64, f64) {
    let (mut lowest, mut highest) = (0.0f64, 0.0f64);
    let chunk = (CHUNK_ROWS / task_rows).max(1) * task_rows;
    let mut offset = 0;
    for piece in pieces {
        let n = piece.len_of(Axis(0));
        for chunk_start in (0..n).step_by(chunk) {
            let runs = ((n - chunk_start).min(chunk)).div_ceil(task_rows);
            let one = |k: usize| -> Option<(R, f64, f64)> {
                if ctx.stopped() {
                    return None;
                }
                let start = chunk_start + k * task_rows;
                let mut tops = vec![RowTop::default(); (n - start).min(task_rows)];
                tops_of(piece, start, from_logits, &mut tops);
                let (lo, hi) = tops.iter().fold((0.0f64, 0.0f64), |(lo, hi), t| {
                    (lo.min(t.min), if t.max > hi { t.max } else { hi })
                });
                Some((task(offset + start, &tops), lo, hi))
            };
            let results: Vec<Option<(R, f64, f64)>> = if ctx.fork {
                (0..runs).into_par_iter().map(one).collect()
            } else {
                (0..runs).map(one).collect()
            };
            for r in results {
                // stopped: `run` reports the interrupt and discards the value
                let Some((r, lo, hi)) = r else {
                    return (lowest, highest);
                };
                lowest = lowest.min(lo);
                highest = highest.max(hi);
                fold(r);
            }
        }
        offset += n;
    }
    (lowest, highest)
}

/// The top-1 predictions from logits of the short rows `first..first + out.len()`: their
/// maxima and rests from the tiles of sixteen rows `logsumexp` uses (vector exponentials
/// across rows; float32 in f32 lanes), then the argmax and the confidence of eight of a
/// tile's rows at a time ([`calibration::tile_tops`]). PERF: row by row, (10^6, 10)
/// float32 from logits took 13x `logsumexp` of the same array (one thread); with the
/// tiles, a scalar search per row and a division per row still took a third of the call
/// (2026-12-04).
fn short_logit_tops<T: Real>(piece: &ArrayView2<'_, T>, first: usize, out: &mut [RowTop]) {
    let classes = piece.len_of(Axis(1));
    let mut tiles = Tiles::<T>::new(short_tile_rows(classes, out.len()));
    let r = tiles.r;
    let (mut confidence, mut argmax) = (vec![0.0; r], vec![0usize; r]);
    for (t, part) in out.chunks_mut(r).enumerate() {
        tiles.load(piece, first + t * r, part.len());
        let n = part.len();
        let stats = (&tiles.max[..n], &tiles.rest[..n]);
        let (conf, arg) = (&mut confidence[..n], &mut argmax[..n]);
        calibration::tile_tops(&tiles.tile, r, classes, stats, conf, arg);
        for ((top, &confidence), &argmax) in part.iter_mut().zip(&*conf).zip(&*arg) {
            *top = RowTop {
                confidence,
                argmax,
                min: 0.0,
                max: 0.0,
            };
        }
    }
}

/// The top-1 predictions of the rows `first..first + out.len()` of a piece.
fn tops_of<T: Real>(
    piece: &ArrayView2<'_, T>,
    first: usize,
    from_logits: bool,
    out: &mut [RowTop],
) {
    let classes = piece.len_of(Axis(1));
    if from_logits && (2..=SHORT).contains(&classes) {
        short_logit_tops(piece, first, out);
    } else if from_logits {
        each_row(piece, first, out, row_top_logits::<T>);
    } else if classes < SCALAR_BELOW {
        // PERF: below 32 classes the vector kernel's horizontal max/min per row cost more
        // than a scalar loop (measured on (10^6, 10) f32: 38% of the call in `row_top`).
        each_row(piece, first, out, calibration::reference::<T>);
    } else {
        each_row(piece, first, out, row_top::<T>);
    }
}

/// `out[i] = top(row first + i)`. PERF: one loop per kernel, so the scalar one inlines:
/// through a closure choosing among the three, each 32-byte `RowTop` came back through
/// the stack and was copied with loads wider than its stores (a store-forwarding stall,
/// ~20% of a (10^6, 10) float32 call).
#[inline(always)]
fn each_row<T: Real>(
    piece: &ArrayView2<'_, T>,
    first: usize,
    out: &mut [RowTop],
    top: impl Fn(&[T]) -> RowTop,
) {
    let classes = piece.len_of(Axis(1));
    if let Some(all) = piece.as_slice() {
        let rows = all[first * classes..].chunks_exact(classes);
        for (slot, x) in out.iter_mut().zip(rows) {
            *slot = top(x);
        }
        return;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        let row = piece.row(first + i);
        *slot = match row.as_slice() {
            Some(x) => top(x),
            None => top(&row.iter().copied().collect::<Vec<T>>()),
        };
    }
}

/// `probs` (b1…bk, C) as 2-D pieces (n, C) in row-major order of the batch.
fn pieces_2d<'a, T>(p: ArrayViewD<'a, T>) -> Result<Vec<ArrayView2<'a, T>>, Error> {
    let mut v = if p.ndim() == 1 {
        p.insert_axis(Axis(0))
    } else {
        p
    };
    let last_batch = v.ndim() - 2;
    for take in (0..last_batch).rev() {
        if !v.merge_axes(Axis(take), Axis(last_batch)) {
            break;
        }
    }
    let outer = v.shape()[..last_batch].to_vec();
    let mut pieces = Vec::new();
    for index in ndarray::indices(IxDyn(&outer)) {
        let mut w = v.clone();
        for &i in index.slice() {
            w = w.index_axis_move(Axis(0), i);
        }
        pieces.push(
            w.into_dimensionality::<Ix2>()
                .map_err(|_| Error::NoAxis { arg: "probs" })?,
        );
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    fn ece(p: &ndarray::Array2<f64>, y: &[i64], n: usize, norm: Norm) -> f64 {
        let y = arr1(y).into_dyn();
        expected_calibration_error(p.view().into_dyn(), y.view(), n, norm, false).unwrap()
    }

    fn short_tops<T: Real>(x: &ndarray::ArrayView2<'_, T>) -> Vec<RowTop> {
        let mut out = vec![RowTop::default(); x.nrows()];
        short_logit_tops(x, 0, &mut out);
        out
    }

    #[test]
    fn short_logit_rows_match_the_row_kernel() {
        use crate::kernels::adversarial::{close, logits};
        // Every short class count, row counts that leave partial tiles, adversarial logits
        // (ties, −inf, huge and tiny gaps), an all −inf row and a NaN row.
        for classes in [2, 3, 7, 10, 16, 17, 31, SHORT] {
            for rows in [1, 15, 37] {
                let mut z = logits(rows * classes, (classes * 100 + rows) as u64);
                z[..classes].fill(f64::NEG_INFINITY);
                if rows > 1 {
                    z[classes + 1] = f64::NAN;
                }
                let x = ndarray::Array2::from_shape_vec((rows, classes), z).unwrap();
                let got = short_tops(&x.view());
                let x32 = x.mapv(|v| v as f32);
                let got32 = short_tops(&x32.view());
                for i in 0..rows {
                    let row = x.row(i).to_vec();
                    let want = row_top_logits(&row);
                    assert_eq!(got[i].argmax, want.argmax, "C={classes} row {i}");
                    assert!(
                        close(got[i].confidence, want.confidence, 1e-14),
                        "C={classes} row {i}: {:?} vs {want:?}",
                        got[i]
                    );
                    // float32: f32 exponentials, within logsumexp's f32 bound.
                    let row32 = x32.row(i).to_vec();
                    let want = calibration::reference_logits(&row32);
                    assert_eq!(got32[i].argmax, want.argmax, "f32 C={classes} row {i}");
                    assert!(
                        close(got32[i].confidence, want.confidence, 4e-7),
                        "f32 C={classes} row {i}: {:?} vs {want:?}",
                        got32[i]
                    );
                }
            }
        }
    }

    #[test]
    fn row_tops_are_the_local_tops() {
        // Probabilities: a tie (first index), a NaN row, a value below 0 and one above 1.
        let p = arr2(&[
            [0.25, 0.5, 0.5],
            [0.1, f64::NAN, 0.3],
            [-0.25, 0.75, 0.5],
            [0.0, 1.5, 0.0],
        ]);
        let t = row_tops(p.view(), false).unwrap();
        assert_eq!(t.argmax, vec![1, 2, 1, 1]);
        assert_eq!(t.confidence[0], 0.5);
        assert!(t.confidence[1].is_nan());
        assert_eq!((t.lowest, t.highest), (-0.25, 1.5));
        // Logits, long and short rows, float32: the row kernels' values bit for bit.
        for classes in [3, 10, 40, 300] {
            let z = crate::kernels::adversarial::logits(70 * classes, classes as u64);
            let x = ndarray::Array2::from_shape_vec((70, classes), z).unwrap();
            let x32 = x.mapv(|v| v as f32);
            let t = row_tops(x32.view(), true).unwrap();
            let mut want = vec![RowTop::default(); 70];
            tops_of(&x32.view(), 0, true, &mut want);
            assert_eq!((t.lowest, t.highest), (0.0, 0.0));
            for (i, w) in want.iter().enumerate() {
                assert_eq!(t.argmax[i], w.argmax as i64);
                assert!(t.confidence[i] == w.confidence || w.confidence.is_nan());
            }
        }
        let none = row_tops(ndarray::Array2::<f64>::zeros((0, 3)).view(), false).unwrap();
        assert!(none.confidence.is_empty() && none.argmax.is_empty());
        let no_classes = row_tops(ndarray::Array2::<f64>::zeros((2, 0)).view(), false);
        assert!(matches!(no_classes, Err(Error::NoClasses { .. })));
    }

    #[test]
    fn merged_bins_are_the_bins_of_all_rows() {
        // confidences of every magnitude in one bin, split into runs at uneven places:
        // the merged compensated sums keep the exact sum (checked in integer units)
        let conf: Vec<f64> = (0..5000usize)
            .map(|i| ((i * 7919 % 5000) as f64 + 1.0) * 2f64.powi(-((i % 40) as i32)) / 8192.0)
            .collect();
        let exact: f64 = {
            // every value is k·2^−(13+j): summed exactly in units of 2^−52
            let units: i128 = conf.iter().map(|&c| (c * 2f64.powi(52)) as i128).sum();
            units as f64 / 2f64.powi(52)
        };
        let mut whole = Bins::zeroed(1);
        for &c in &conf {
            whole.add(0, c, true);
        }
        for cuts in [vec![1, 2, 3], vec![999, 1000, 4999], vec![2500]] {
            let mut merged = Bins::zeroed(1);
            let mut start = 0;
            for end in cuts.into_iter().chain([conf.len()]) {
                let mut run = Bins::zeroed(1);
                for &c in &conf[start..end] {
                    run.add(0, c, end % 2 == 0);
                }
                merged.merge(&run);
                start = end;
            }
            assert_eq!(merged.count[0], conf.len() as u64);
            let sum = merged.sum[0] + merged.comp[0];
            assert!((sum - exact).abs() <= 1e-15 * exact, "{sum} vs {exact}");
        }
        assert!((whole.sum[0] + whole.comp[0] - exact).abs() <= 1e-15 * exact);
    }

    #[test]
    fn torchmetrics_docstring_example() {
        let p = arr2(&[
            [0.25, 0.20, 0.55],
            [0.55, 0.05, 0.40],
            [0.10, 0.30, 0.60],
            [0.90, 0.05, 0.05],
        ]);
        let y = [0, 1, 2, 0];
        assert!((ece(&p, &y, 3, Norm::L1) - 0.2).abs() < 1e-15);
        assert!((ece(&p, &y, 3, Norm::L2) - 0.208_166_599_946_613).abs() < 1e-12);
        assert!((ece(&p, &y, 3, Norm::Max) - 0.233_333_333_333_333).abs() < 1e-12);
    }

    #[test]
    fn bins_follow_the_rounded_boundaries() {
        let b = |c: f64, n: usize| bin_of(c, n, |i| i as f64 / n as f64);
        assert_eq!(b(0.0, 15), 0);
        assert_eq!(b(1.0, 15), 14);
        assert_eq!(b(0.4, 15), 6);
        assert_eq!(b(0.39999999999999997, 15), 5);
        for n in 1..50 {
            for i in 0..n {
                let edge = i as f64 / n as f64;
                assert_eq!(b(edge, n), i, "{i}/{n}");
                if i > 0 {
                    assert_eq!(b(edge - edge * f64::EPSILON, n), i - 1);
                }
            }
        }
    }

    #[test]
    fn errors_and_empty_input() {
        let p = arr2(&[[0.5, 0.5], [0.2, 0.8]]).into_dyn();
        let y = arr1(&[0i64, 2]).into_dyn();
        let err = expected_calibration_error(p.view(), y.view(), 15, Norm::L1, false);
        assert_eq!(
            err.unwrap_err().to_string(),
            "`labels` has label 2 at position (1,), outside [0, 2)"
        );
        let bad = arr2(&[[1.5, 0.5]]).into_dyn();
        let y1 = arr1(&[0i64]).into_dyn();
        assert!(matches!(
            expected_calibration_error(bad.view(), y1.view(), 15, Norm::L1, false),
            Err(Error::AboveOne { .. })
        ));
        let empty = ndarray::Array2::<f64>::zeros((0, 3)).into_dyn();
        let y0 = ndarray::Array1::<i64>::zeros(0).into_dyn();
        assert!(
            expected_calibration_error(empty.view(), y0.view(), 15, Norm::L1, false)
                .unwrap()
                .is_nan()
        );
    }
}
