//! The loss family on rows of any lengths ([`Rows`]: ragged CSR / Arrow list rows, or the
//! lanes of an array): `logsumexp` of every row, and the softmax cross-entropy with one
//! class label per row, `ℓ = logsumexp(z) − z_y`, the label indexing its own row.
//!
//! Short rows (at most the dense loss family's `SHORT` values) go sixteen at a time
//! through the tile kernels of [`crate::kernels::softmax_rows`], as dense short rows do:
//! each task's rows sorted by length, a tile padded with −inf (nothing to a sum of
//! exponentials, never a counted maximum). Longer rows take the streaming pass of
//! [`crate::kernels::softmax`] (`lse_feed` on the row's slice), as dense long rows do. So
//! a float64 ragged row gives bitwise the value of the same row in a dense array (float32:
//! the same up to the rounding of the f32 exponentials, whose wide fallback is chosen per
//! tile), keeping `m + log1p(Σ_{i≠argmax} e^(z_i − m))`'s precision. Rows are independent:
//! they run in fixed tasks of [`ROWS_PER_TASK`] rows, in parallel when the call is large
//! enough, with results independent of the thread count.
//!
//! PERF (10^6 rows of 5–15 values, `benches/pipelines.py`): a tile was filled element by
//! element and its rows, read in length order, came from memory one miss at a time —
//! 3–4× the dense (N, 10) time per value. The columns every row of a tile has now go
//! through the blocked AVX transposes ([`Rows::transpose_rows_into`]), only each row's
//! rest and the pads element by element, and every tile asks for a share of the next
//! task's values ([`Rows::look_ahead`]); with the offsets walked without a per-row type
//! match: logsumexp float32 1.76 → 1.13 ns per value, softmax cross-entropy 1.90 → 1.16
//! (dense: 0.5–0.6). What is left is the counting sort (a stack counter per row), the
//! per-row list and the scalar rest of rows longer than their tile's shortest.
//! Then (`perf` with line tables: the task's bookkeeping ~30% of float32 logsumexp, its
//! per-row rest loop the largest share even where a tile's rows have one length): the
//! rest loop runs only for tiles of mixed lengths (sorted by length, most tiles hold one),
//! and the results are written without a per-row label test when there are no labels.
//! One thread, 10^6 rows of 5–15 values, the two wheels alternated (three rounds):
//! logsumexp float32 2.84–2.99 → 2.67–2.79 ns per value, softmax cross-entropy float32
//! 3.27–3.29 → 3.04–3.12 (probe; dense 1.6 / 2.1).

use super::loss_rows::{tile_stats, SHORT};
use super::softmax_cross_entropy::Reduction;
use crate::error::Error;
use crate::kernels::softmax::{lse_feed, LseLanes, RowStats};
use crate::kernels::softmax_rows::tile_finish;
use crate::kernels::{Real, GROUP};
use crate::parallel::output::{Fresh, Slots};
use crate::parallel::rows::{Row, Rows};
use crate::parallel::{fixed_sum, run};

/// Rows per task: ragged rows have unknown lengths, so tasks are cut by row count (as the
/// row engine does for ragged rows); the stop flag is checked before every group of rows.
pub const ROWS_PER_TASK: usize = 1024;

/// The streaming statistics of a row's values.
#[inline]
fn stats<T: Real>(z: &[T]) -> RowStats {
    let mut st = LseLanes::EMPTY;
    lse_feed(&mut st, z);
    st.finish()
}

/// Per row, `logsumexp(z)`, or with `labels` (and the `ignore_index` that marks a row to
/// leave out, 0) `logsumexp(z) − z_y`, the labels already checked.
///
/// Rows of at most [`SHORT`] values (the dense loss family's threshold) are read sixteen
/// at a time into a tile, sorted by length within each task (a counting sort) so that a
/// tile is padded little, with −inf (which adds nothing to a sum of exponentials and is
/// never the counted maximum: a row's statistics are those of the row alone), and go
/// through the tile kernels of the dense short rows ([`tile_stats`], [`tile_finish`]);
/// longer rows take the streaming pass, as dense rows that long do.
fn per_row<T: Real>(rows: &Rows<'_, T>, labels: Option<(&[i64], i64)>) -> Result<Vec<f64>, Error> {
    // zeroed by task on the thread that computes it (`Fresh`), not by the caller first
    let mut out = Fresh::new(rows.n_rows());
    run(rows.elements().max(rows.n_rows()), |ctx| {
        let task = |i: usize, o: &mut [f64]| {
            let first = i * ROWS_PER_TASK;
            if ctx.stopped() {
                return;
            }
            let mut list: Vec<Row> = Vec::with_capacity(o.len());
            rows.for_rows(first..first + o.len(), |_, row| list.push(row));
            let mut buf: Vec<T> = Vec::new();
            // counts[len + 1]: short rows of length len; then where they begin in `order`
            let mut counts = [0u32; SHORT + 2];
            for (j, &row) in list.iter().enumerate() {
                let n = row.len();
                if n <= SHORT {
                    counts[n + 1] += 1;
                    continue;
                }
                if ctx.stopped() {
                    return;
                }
                let label = labels.map(|(l, ignore)| (l[first + j], ignore));
                o[j] = match label {
                    Some((y, ignore)) if y == ignore => 0.0,
                    Some((y, _)) => rows.with_slice(row, 0..n, &mut buf, |z| {
                        stats(z).neg_log_softmax_at(z[y as usize].to_f64())
                    }),
                    None => rows.with_slice(row, 0..n, &mut buf, |z| stats(z).logsumexp()),
                };
            }
            for n in 1..counts.len() {
                counts[n] += counts[n - 1];
            }
            let mut order = vec![0u32; counts[SHORT + 1] as usize];
            for (j, row) in list.iter().enumerate() {
                let n = row.len();
                if n <= SHORT {
                    order[counts[n] as usize] = j as u32;
                    counts[n] += 1;
                }
            }
            let mut tile: Vec<T> = Vec::new();
            let (mut max, mut rest) = ([0.0f64; GROUP], [0.0f64; GROUP]);
            let (mut zy, mut res) = ([0.0f64; GROUP], [0.0f64; GROUP]);
            let ninf = T::from_f64(f64::NEG_INFINITY);
            let next =
                (first + o.len()).min(rows.n_rows())..(first + 2 * o.len()).min(rows.n_rows());
            let mut ahead = rows.look_ahead(next, order.len().div_ceil(GROUP));
            for (g, members) in order.chunks(GROUP).enumerate() {
                if g % 16 == 15 && ctx.stopped() {
                    return;
                }
                rows.prefetch_step(&mut ahead);
                // sorted: the first row is the shortest, the last the longest
                let group: [Row; GROUP] = std::array::from_fn(|j| {
                    members.get(j).map_or(Row::EMPTY, |&m| list[m as usize])
                });
                let group = &group[..members.len()];
                let (shortest, c) = (group[0].len(), group[group.len() - 1].len());
                tile.resize(c * GROUP, ninf);
                // the columns every row has, in AVX blocks; then each row's rest and pads
                rows.transpose_rows_into(group, shortest, &mut tile, GROUP);
                // (rows sorted by length: most tiles hold one length, and skip this)
                if shortest < c {
                    for (j, &row) in group.iter().enumerate() {
                        rows.with_slice(row, shortest..row.len(), &mut buf, |z| {
                            for (k, &v) in z.iter().enumerate() {
                                tile[(shortest + k) * GROUP + j] = v;
                            }
                        });
                        for k in row.len()..c {
                            tile[k * GROUP + j] = ninf;
                        }
                    }
                }
                if group.len() < GROUP {
                    for k in 0..c {
                        tile[k * GROUP + group.len()..(k + 1) * GROUP].fill(ninf);
                    }
                }
                tile_stats(&tile, GROUP, &mut max, &mut rest);
                match labels {
                    None => tile_finish(&max, &rest, None, &mut res),
                    Some((l, ignore)) => {
                        for (j, &m) in members.iter().enumerate() {
                            let y = l[first + m as usize];
                            zy[j] = if y == ignore {
                                0.0
                            } else {
                                tile[y as usize * GROUP + j].to_f64()
                            };
                        }
                        tile_finish(&max, &rest, Some(&zy), &mut res);
                    }
                }
                match labels {
                    None => {
                        for (&m, &v) in members.iter().zip(&res) {
                            o[m as usize] = v;
                        }
                    }
                    Some((l, ignore)) => {
                        for (&m, &v) in members.iter().zip(&res) {
                            o[m as usize] = if l[first + m as usize] == ignore {
                                0.0
                            } else {
                                v
                            };
                        }
                    }
                }
            }
        };
        (&mut out).map_chunks(ctx.fork, ROWS_PER_TASK, (), |(), ()| (), task);
    })?;
    Ok(out.into_values())
}

/// log Σ exp(z) of every row (−inf for an empty or all −inf row).
pub fn logsumexp_rows<T: Real>(rows: &Rows<'_, T>) -> Result<Vec<f64>, Error> {
    per_row(rows, None)
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
    per_row(rows, Some((labels, ignore_index)))
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

    /// Thousands of rows of mixed lengths 0..=40 (the short-row tiles: whole groups of
    /// sixteen, sorted by length, filled by the blocked transposes with their column tails
    /// and pads; the last rows of the values, where a block cannot read past a row's end):
    /// float64 rows give the dense row's bits, float32 rows are within 1e-6 of the float64
    /// value of the same data.
    #[test]
    fn many_mixed_rows_equal_each_row_alone() {
        let lengths: Vec<usize> = (0..3000).map(|r| (r * 7 + r / 3) % 41).collect();
        let mut offsets = vec![0i64];
        for &l in &lengths {
            offsets.push(offsets.last().unwrap() + l as i64);
        }
        let n = *offsets.last().unwrap() as usize;
        let values: Vec<f64> = crate::kernels::adversarial::positive(n, 5)
            .iter()
            .map(|v| v * 40.0 - 20.0)
            .collect();
        let labels: Vec<i64> = lengths
            .iter()
            .map(|&l| if l == 0 { -100 } else { (l * 3 / 4) as i64 })
            .collect();
        let rows = Rows::ragged(&values[..], Offsets::I64(&offsets)).unwrap();
        let lse = logsumexp_rows(&rows).unwrap();
        let ce = softmax_cross_entropy_rows(&rows, &labels, -100).unwrap();
        let values32: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let rows32 = Rows::ragged(&values32[..], Offsets::I64(&offsets)).unwrap();
        let lse32 = logsumexp_rows(&rows32).unwrap();
        let ce32 = softmax_cross_entropy_rows(&rows32, &labels, -100).unwrap();
        for (r, w) in offsets.windows(2).enumerate() {
            let row = &values[w[0] as usize..w[1] as usize];
            let dense = Array2::from_shape_vec((1, row.len()), row.to_vec()).unwrap();
            let want = crate::measures::logsumexp::logsumexp(dense.view().into_dyn()).unwrap()[[0]];
            assert_eq!(lse[r].to_bits(), want.to_bits(), "row {r}");
            let widened: Vec<f64> = values32[w[0] as usize..w[1] as usize]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let stats = crate::kernels::softmax::reference_stats::<f64, f64>(&widened, None);
            let close = |got: f64, want: f64| (got - want).abs() <= 1e-6 * want.abs().max(1.0);
            assert!(
                close(lse32[r], stats.logsumexp()) || row.is_empty(),
                "f32 row {r}"
            );
            if row.is_empty() {
                assert_eq!((ce[r], ce32[r]), (0.0, 0.0));
                continue;
            }
            let y = labels[r] as usize;
            let want = crate::kernels::softmax::reference_stats::<f64, f64>(row, None)
                .neg_log_softmax_at(row[y]);
            assert!(
                (ce[r] - want).abs() <= 1e-14 * want.abs().max(1.0),
                "row {r}"
            );
            assert!(
                close(ce32[r], stats.neg_log_softmax_at(widened[y])),
                "f32 row {r}"
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
