//! The loss family on rows of any lengths ([`Rows`]: ragged CSR / Arrow list rows, or the
//! lanes of an array): `logsumexp` of every row, and the softmax cross-entropy with one
//! class label per row, `ℓ = logsumexp(z) − z_y`, the label indexing its own row.
//!
//! Each row is read once by the streaming pass of [`crate::kernels::softmax`] (`lse_feed`
//! on the row's slice, as the dense `logsumexp` and loss do on a contiguous row), so a
//! ragged row gives bitwise the value of the same row in a dense array, and keeps
//! `m + log1p(Σ_{i≠argmax} e^(z_i − m))`'s precision. Rows are independent: they run in
//! fixed tasks of [`ROWS_PER_TASK`] rows, in parallel when the call is large enough, with
//! results independent of the thread count.

use rayon::prelude::*;

use super::softmax_cross_entropy::Reduction;
use crate::error::Error;
use crate::kernels::softmax::{lse_feed, LseLanes, RowStats};
use crate::kernels::Real;
use crate::parallel::rows::{Row, Rows};
use crate::parallel::{fixed_sum, run};

/// Rows per task: ragged rows have unknown lengths, so tasks are cut by row count (as the
/// row engine does for ragged rows); the stop flag is checked before every row.
pub const ROWS_PER_TASK: usize = 1024;

/// `f(r, row, buffer)` for every row, in fixed tasks, in parallel when `run` forks.
fn map_each<T: Real>(
    rows: &Rows<'_, T>,
    f: impl Fn(usize, Row, &mut Vec<T>) -> f64 + Sync,
) -> Result<Vec<f64>, Error> {
    let mut out = vec![0.0; rows.n_rows()];
    run(rows.elements(), |ctx| {
        let task = |i: usize, o: &mut [f64]| {
            let first = i * ROWS_PER_TASK;
            let mut buf = Vec::new();
            rows.for_rows(first..first + o.len(), |r, row| {
                if !ctx.stopped() {
                    o[r - first] = f(r, row, &mut buf);
                }
            });
        };
        if ctx.fork {
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .for_each(|(i, o)| task(i, o));
        } else {
            out.chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .for_each(|(i, o)| task(i, o));
        }
    })?;
    Ok(out)
}

/// The streaming statistics of a row's values.
#[inline]
fn stats<T: Real>(z: &[T]) -> RowStats {
    let mut st = LseLanes::EMPTY;
    lse_feed(&mut st, z);
    st.finish()
}

/// log Σ exp(z) of every row (−inf for an empty or all −inf row).
pub fn logsumexp_rows<T: Real>(rows: &Rows<'_, T>) -> Result<Vec<f64>, Error> {
    map_each(rows, |_, row, buf| {
        rows.with_slice(row, 0..row.len(), buf, |z| stats(z).logsumexp())
    })
}

/// Checks the labels: one per row, each in `[0, row length)` or `ignore_index`.
fn check_labels<T: Real>(
    rows: &Rows<'_, T>,
    labels: &[i64],
    ignore_index: i64,
) -> Result<(), Error> {
    if labels.len() != rows.n_rows() {
        return Err(Error::RowCount {
            first: "logits",
            second: "target",
            first_rows: rows.n_rows(),
            second_rows: labels.len(),
        });
    }
    let mut bad = None;
    rows.for_rows(0..rows.n_rows(), |r, row| {
        let y = labels[r];
        if bad.is_none() && y != ignore_index && (y < 0 || y as u64 >= row.len() as u64) {
            bad = Some(Error::RaggedLabel {
                label: y,
                row: r,
                len: row.len(),
            });
        }
    });
    bad.map_or(Ok(()), Err)
}

/// The softmax cross-entropy `logsumexp(z) − z_y` of every row against its label `y`
/// (an index into that row); rows labelled `ignore_index` give 0. A label outside its row
/// is an error naming the label and the row.
pub fn softmax_cross_entropy_rows<T: Real>(
    rows: &Rows<'_, T>,
    labels: &[i64],
    ignore_index: i64,
) -> Result<Vec<f64>, Error> {
    check_labels(rows, labels, ignore_index)?;
    map_each(rows, |r, row, buf| {
        let y = labels[r];
        if y == ignore_index {
            return 0.0;
        }
        rows.with_slice(row, 0..row.len(), buf, |z| {
            stats(z).neg_log_softmax_at(z[y as usize].to_f64())
        })
    })
}

/// Reduces per-row losses as torch does without class weights: "none" is not a
/// reduction (NaN); "sum" adds the counted rows; "mean" divides that by their number
/// (NaN when none is counted). `counted(r)` leaves out ignored (and null) rows. The sum
/// is [`fixed_sum`]'s: the same bits for any thread count or chunking.
pub fn reduce_losses(losses: &[f64], counted: impl Fn(usize) -> bool, reduction: Reduction) -> f64 {
    let kept: Vec<f64> = losses
        .iter()
        .enumerate()
        .filter(|&(r, _)| counted(r))
        .map(|(_, &v)| v)
        .collect();
    match reduction {
        Reduction::None => f64::NAN,
        Reduction::Sum => fixed_sum(&kept),
        Reduction::Mean => fixed_sum(&kept) / kept.len() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::rows::Offsets;
    use ndarray::Array2;

    #[test]
    fn ragged_rows_equal_dense_rows_bitwise() {
        let values: Vec<f64> = crate::kernels::adversarial::positive(3000, 9)
            .iter()
            .map(|v| v * 60.0 - 30.0)
            .collect();
        // rows of lengths 0, 1, 7, 8, 9, 300, ...
        let lengths = [0usize, 1, 7, 8, 9, 300, 1000, 3, 64, 65];
        let mut offsets = vec![0i64];
        for l in lengths {
            offsets.push(offsets.last().unwrap() + l as i64);
        }
        let n = *offsets.last().unwrap() as usize;
        let rows = Rows::ragged(&values[..n], Offsets::I64(&offsets)).unwrap();
        let lse = logsumexp_rows(&rows).unwrap();
        for (r, w) in offsets.windows(2).enumerate() {
            let row = &values[w[0] as usize..w[1] as usize];
            let dense = Array2::from_shape_vec((1, row.len()), row.to_vec()).unwrap();
            let want = crate::measures::logsumexp::logsumexp(dense.view().into_dyn()).unwrap()[[0]];
            assert_eq!(lse[r].to_bits(), want.to_bits(), "row {r}");
        }
        assert_eq!(lse[0], f64::NEG_INFINITY);
        let labels: Vec<i64> = lengths
            .iter()
            .map(|&l| if l == 0 { -100 } else { (l / 2) as i64 })
            .collect();
        let ce = softmax_cross_entropy_rows(&rows, &labels, -100).unwrap();
        assert_eq!(ce[0], 0.0);
        for (r, w) in offsets.windows(2).enumerate().skip(1) {
            let row = &values[w[0] as usize..w[1] as usize];
            let want = crate::kernels::softmax::reference_stats::<f64, f64>(row, None)
                .neg_log_softmax_at(row[labels[r] as usize]);
            assert!(
                (ce[r] - want).abs() <= 1e-14 * want.abs().max(1.0),
                "row {r}: {} vs {want}",
                ce[r]
            );
        }
    }

    #[test]
    fn labels_outside_their_row_are_named() {
        let values = [0.0f32, 1.0, 2.0, 3.0];
        let rows = Rows::ragged(&values[..], Offsets::I32(&[0, 3, 4])).unwrap();
        let err = softmax_cross_entropy_rows(&rows, &[2, 1], -100).unwrap_err();
        assert_eq!(
            err,
            Error::RaggedLabel {
                label: 1,
                row: 1,
                len: 1
            }
        );
        assert!(softmax_cross_entropy_rows(&rows, &[-1, 0], -100).is_err());
        assert!(softmax_cross_entropy_rows(&rows, &[2], -100).is_err());
        let ok = softmax_cross_entropy_rows(&rows, &[-100, 0], -100).unwrap();
        assert_eq!(ok, vec![0.0, 0.0]);
    }

    #[test]
    fn reductions() {
        let l = [1.0, 2.0, f64::NAN, 4.0];
        assert_eq!(reduce_losses(&l, |r| r != 2, Reduction::Sum), 7.0);
        assert_eq!(reduce_losses(&l, |r| r != 2, Reduction::Mean), 7.0 / 3.0);
        assert!(reduce_losses(&l, |_| false, Reduction::Mean).is_nan());
        assert!(reduce_losses(&l, |_| true, Reduction::Sum).is_nan());
    }
}
