//! Negative log-likelihood loss on log-probabilities (torch.nn.functional.nll_loss):
//! `loss_i = −w_{y_i}·log_probs[i, y_i]`, ignored targets contribute 0, "mean" divides by
//! Σ w_y over non-ignored targets (NaN when all are ignored). No pass over the classes:
//! one element is read per row, so it is O(N) work and memory.
//!
//! **One pass, each label read once.** The rows run in fixed blocks of
//! [`ROW_BLOCK`] (in parallel for large N): a block reads each label once, checks it
//! (ignored, or in range — the first bad one in logical order is reported), and uses that
//! same value as the index, so labels changed by another thread while the call runs can
//! never make it index out of bounds. Each block sums its losses and weights in four
//! accumulators (row k of the block in accumulator k mod 4, the order of
//! [`crate::parallel::BlockSum`]) and the block sums are
//! combined by [`tree_combine`]: a fixed order, so "sum"/"mean" are bitwise independent of
//! the thread count. Labels of any integer type
//! ([`Label`]) are read in place. The batch is walked as groups of rows
//! ([`row_groups`]: one group for C- or F-ordered inputs), never per row through ndarray's
//! dynamic lanes (~10 ns a row, which had been most of the time).
//!
//! `nll_loss(log(p), y)` with `p = [.3, .3, .4], y = 2` is exactly `−ln 0.4` (the log is
//! read, negated and divided by 1 — no rounding added).

use std::ops::Range;

use ndarray::{
    ArrayD, ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut1, ArrayViewMutD, Axis, IxDyn, Zip,
};
use rayon::prelude::*;

use super::labels::{row_groups, unravel, Label, RowGroup};
use super::softmax_cross_entropy::{check_common, check_label_shape, Reduction};
use super::RowStop;
use crate::error::Error;
use crate::kernels::{Partial, Real};
use crate::parallel::output::{Fresh, Unwritten};
use crate::parallel::{run, sum4, tree_combine, Ctx, ROW_BLOCK};

/// What a block of rows gives: its loss and weight sums, or its first bad label.
#[derive(Clone, Copy, Debug, PartialEq)]
struct BlockSums {
    loss: f64,
    weight: f64,
    /// (row, label) of the first label out of range.
    bad: Option<(usize, i64)>,
}

impl Partial for BlockSums {
    const EMPTY: Self = BlockSums {
        loss: 0.0,
        weight: 0.0,
        bad: None,
    };
    fn combine(self, o: Self) -> Self {
        BlockSums {
            loss: self.loss + o.loss,
            weight: self.weight + o.weight,
            bad: self.bad.or(o.bad),
        }
    }
}

/// A block's running sums: four accumulators each, `k` the rows seen.
#[derive(Clone, Copy, Debug)]
struct Sums4 {
    loss: [f64; 4],
    weight: [f64; 4],
    k: usize,
}

impl Sums4 {
    const EMPTY: Self = Sums4 {
        loss: [0.0; 4],
        weight: [0.0; 4],
        k: 0,
    };
}

/// Everything a block needs besides its rows.
struct Job<'a, 'g, T, L> {
    groups: &'g [RowGroup<'a, T, L>],
    weight: Option<&'g [f64]>,
    ignore_index: i64,
    classes: usize,
}

impl<T: Real, L: Label> Job<'_, '_, T, L> {
    /// Calls `f(group rows, labels, local row range, first global row)` for the parts of
    /// the groups that cover the global rows `rows`.
    fn for_parts(
        &self,
        rows: Range<usize>,
        mut f: impl FnMut(&ArrayView2<'_, T>, &ArrayView1<'_, L>, Range<usize>, usize),
    ) {
        let start = self
            .groups
            .partition_point(|g| g.2 + g.0.nrows() <= rows.start);
        for (x, y, first) in &self.groups[start..] {
            if *first >= rows.end {
                break;
            }
            let lo = rows.start.max(*first) - first;
            let hi = rows.end.min(first + x.nrows()) - first;
            f(x, y, lo..hi, *first);
        }
    }

    /// The losses of rows `rows` (written to `out` when given, one per row) and their sums.
    fn block(&self, rows: Range<usize>, mut out: Option<&mut [f64]>) -> BlockSums {
        let mut acc = Ok(Sums4::EMPTY);
        let base = rows.start;
        self.for_parts(rows, |x, y, local, first| {
            if let Ok(sums) = acc {
                let o = out
                    .as_deref_mut()
                    .map(|o| &mut o[first + local.start - base..first + local.end - base]);
                // The block's accumulators run on through its parts in row order.
                acc = match (flat(x), y.as_slice()) {
                    (Some((xs, s0, s1)), Some(ys)) => self.part(
                        sums,
                        &ys[local.clone()],
                        local.start,
                        |i, c| xs[i * s0 + c * s1],
                        o,
                    ),
                    _ => self.part_strided(sums, x, y, local.clone(), o),
                }
                .map_err(|(i, label)| (first + i, label));
            }
        });
        match acc {
            Ok(s) => BlockSums {
                loss: sum4(s.loss),
                weight: sum4(s.weight),
                bad: None,
            },
            Err(bad) => BlockSums {
                bad: Some(bad),
                ..BlockSums::EMPTY
            },
        }
    }

    /// Rows `start..start + ys.len()` of a group whose element (i, c) is `at(i, c)`, added
    /// to `sums`: row k of the block goes to accumulator k mod 4 (combined in a fixed tree
    /// at the end of the block), so the sum is a fixed function of the rows.
    // PERF: four accumulators in locals: one running sum chained the rows on the add's
    // latency, and kept in a struct it was stored and reloaded every row (8 ns a row for
    // (10^6, 2); now the row loop is limited by reading the two arrays).
    #[inline(always)]
    fn part(
        &self,
        sums: Sums4,
        ys: &[L],
        start: usize,
        at: impl Fn(usize, usize) -> T,
        mut out: Option<&mut [f64]>,
    ) -> Result<Sums4, (usize, i64)> {
        // One row: (its loss, its weight), or the bad label.
        let row = |j: usize| -> Result<(f64, f64), (usize, i64)> {
            let label = ys[j].value();
            if label == self.ignore_index {
                Ok((0.0, 0.0))
            } else if label < 0 || label as u64 >= self.classes as u64 {
                Err((start + j, label))
            } else {
                let c = label as usize;
                let w = self.weight.map_or(1.0, |w| w[c]);
                Ok((-(w * at(start + j, c).to_f64()), w))
            }
        };
        let Sums4 {
            loss,
            weight,
            mut k,
        } = sums;
        // The accumulators as named locals (an array indexed by k mod 4 lived in memory).
        let [mut l0, mut l1, mut l2, mut l3] = loss;
        let [mut w0, mut w1, mut w2, mut w3] = weight;
        let n = ys.len();
        let mut j = 0;
        // One row into accumulator k mod 4 (a match: taking the locals' addresses would put
        // them in memory).
        macro_rules! single {
            () => {{
                let (v, wt) = row(j)?;
                match k & 3 {
                    0 => (l0 += v, w0 += wt),
                    1 => (l1 += v, w1 += wt),
                    2 => (l2 += v, w2 += wt),
                    _ => (l3 += v, w3 += wt),
                };
                if let Some(o) = out.as_deref_mut() {
                    o[j] = v;
                }
                j += 1;
                k += 1;
            }};
        }
        while j < n && (k & 3 != 0 || n - j < 4) {
            single!();
        }
        while j + 4 <= n {
            let (v0, x0) = row(j)?;
            let (v1, x1) = row(j + 1)?;
            let (v2, x2) = row(j + 2)?;
            let (v3, x3) = row(j + 3)?;
            l0 += v0;
            l1 += v1;
            l2 += v2;
            l3 += v3;
            w0 += x0;
            w1 += x1;
            w2 += x2;
            w3 += x3;
            if let Some(o) = out.as_deref_mut() {
                o[j..j + 4].copy_from_slice(&[v0, v1, v2, v3]);
            }
            j += 4;
            k += 4;
        }
        while j < n {
            single!();
        }
        Ok(Sums4 {
            loss: [l0, l1, l2, l3],
            weight: [w0, w1, w2, w3],
            k,
        })
    }

    /// [`Job::part`] for any strides.
    fn part_strided(
        &self,
        sums: Sums4,
        x: &ArrayView2<'_, T>,
        y: &ArrayView1<'_, L>,
        local: Range<usize>,
        out: Option<&mut [f64]>,
    ) -> Result<Sums4, (usize, i64)> {
        let ys: Vec<L> = y.slice(ndarray::s![local.clone()]).to_vec();
        self.part(sums, &ys, local.start, |i, c| x[[i, c]], out)
    }
}

/// The memory of a (rows, classes) view with non-negative strides as a slice whose
/// element (i, c) is at `i·s0 + c·s1`, when it is contiguous in some order.
fn flat<'a, T>(x: &ArrayView2<'a, T>) -> Option<(&'a [T], usize, usize)> {
    let st = x.strides();
    if st[0] < 0 || st[1] < 0 {
        return None;
    }
    let xs = x.to_slice_memory_order()?;
    Some((xs, st[0] as usize, st[1] as usize))
}

/// The block ranges of `rows` rows: `0..ROW_BLOCK, ROW_BLOCK..2·ROW_BLOCK, …`.
fn blocks(rows: usize) -> impl IndexedParallelIterator<Item = Range<usize>> {
    (0..rows.div_ceil(ROW_BLOCK))
        .into_par_iter()
        .map(move |b| b * ROW_BLOCK..((b + 1) * ROW_BLOCK).min(rows))
}

/// Runs the blocks (in parallel when `ctx.fork`), per-row losses into `out` if given.
fn gather<T: Real, L: Label>(
    job: &Job<'_, '_, T, L>,
    rows: usize,
    out: Option<Unwritten<'_>>,
    ctx: Ctx<'_>,
) -> BlockSums {
    let run_block = |r: Range<usize>, o: Option<Unwritten<'_>>| {
        // zeroed here, by the thread that writes the block (also when stopped: the
        // result counts as written only once every slot is)
        let o = o.map(Unwritten::init);
        if ctx.stopped() {
            BlockSums::EMPTY
        } else {
            job.block(r, o)
        }
    };
    let parts: Vec<BlockSums> = match (out, ctx.fork) {
        (Some(o), true) => blocks(rows)
            .zip(o.chunks(ROW_BLOCK))
            .map(|(r, o)| run_block(r, Some(o)))
            .collect(),
        (None, true) => blocks(rows).map(|r| run_block(r, None)).collect(),
        (Some(o), false) => (0..rows.div_ceil(ROW_BLOCK))
            .zip(o.chunks(ROW_BLOCK))
            .map(|(b, o)| run_block(b * ROW_BLOCK..((b + 1) * ROW_BLOCK).min(rows), Some(o)))
            .collect(),
        (None, false) => (0..rows.div_ceil(ROW_BLOCK))
            .map(|b| run_block(b * ROW_BLOCK..((b + 1) * ROW_BLOCK).min(rows), None))
            .collect(),
    };
    // The first bad label in logical order: the earliest block that has one.
    let bad = parts.iter().find_map(|p| p.bad);
    BlockSums {
        bad,
        ..tree_combine(&parts)
    }
}

/// Writes the gradient d(loss)/d(log_probs) into `g` (the shape of `log_probs`): zero
/// everywhere but `−w_y·scale` at each non-ignored target. The labels are read again; a
/// label changed since the loss pass is skipped where it is out of range (never a panic).
/// Rows in the pool when there are many elements, with Ctrl-C checks between them.
fn write_grad<T: Real, L: Label>(
    g: &mut ArrayViewMutD<'_, T>,
    target: &ArrayViewD<'_, L>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    scale: f64,
) -> Result<(), Error> {
    let axis = Axis(g.ndim() - 1);
    let classes = g.len_of(axis);
    run(g.len(), |call| {
        let stop = RowStop::new(call, classes);
        let zip = Zip::from(g.lanes_mut(axis)).and(target);
        let f = |mut row: ArrayViewMut1<'_, T>, y: &L| {
            if stop.skip() {
                return;
            }
            row.fill(T::default());
            let y = y.value();
            if y != ignore_index && y >= 0 && (y as u64) < classes as u64 {
                let c = y as usize;
                row[c] = T::from_f64(-(weight.map_or(1.0, |w| w[c]) * scale));
            }
        };
        if call.fork {
            zip.par_for_each(f)
        } else {
            zip.for_each(f)
        }
    })
}

/// The loss of every row along the last axis of `log_probs`, reduced; with `grad`, its
/// gradient d(loss)/d(log_probs) is written there (the shape of `log_probs`).
pub fn nll_loss<T: Real, L: Label>(
    log_probs: ArrayViewD<'_, T>,
    target: ArrayViewD<'_, L>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    reduction: Reduction,
    grad: Option<ArrayViewMutD<'_, T>>,
) -> Result<ArrayD<f64>, Error> {
    check_common("log_probs", &log_probs, weight, 0.0)?;
    check_label_shape(&log_probs, &target)?;
    if let Some(g) = &grad {
        if g.shape() != log_probs.shape() {
            return Err(Error::ShapeMismatch {
                first: "log_probs",
                second: "grad_out",
                first_shape: log_probs.shape().to_vec(),
                second_shape: g.shape().to_vec(),
            });
        }
    }
    let (losses, denominator) = losses(&log_probs, &target, weight, ignore_index, reduction)?;
    if let Some(mut g) = grad {
        write_grad(
            &mut g,
            &target,
            weight,
            ignore_index,
            scale(reduction, denominator),
        )?;
    }
    Ok(losses)
}

fn scale(reduction: Reduction, denominator: f64) -> f64 {
    if reduction == Reduction::Mean {
        1.0 / denominator
    } else {
        1.0
    }
}

/// (the reduced loss, Σ w_y over non-ignored targets).
fn losses<T: Real, L: Label>(
    log_probs: &ArrayViewD<'_, T>,
    target: &ArrayViewD<'_, L>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<(ArrayD<f64>, f64), Error> {
    let batch = target.shape().to_vec();
    let rows: usize = batch.iter().product();
    let groups = row_groups(log_probs, target);
    let job = Job {
        groups: &groups,
        weight,
        ignore_index,
        classes: log_probs.shape()[log_probs.ndim() - 1],
    };
    // the per-row losses zeroed block by block on the threads that write them (`Fresh`)
    let mut per_row = (reduction == Reduction::None).then(|| Fresh::new(rows));
    let sums = run(rows, |ctx| match per_row.as_mut() {
        Some(fresh) => fresh.write_with(|slots| gather(&job, rows, Some(slots), ctx)),
        None => gather(&job, rows, None, ctx),
    })?;
    if let Some((row, label)) = sums.bad {
        return Err(Error::LabelOutOfRange {
            label,
            position: unravel(row, &batch),
            classes: job.classes,
        });
    }
    let result = match reduction {
        Reduction::None => {
            let values = per_row.map(Fresh::into_values).unwrap_or_default();
            ArrayD::from_shape_vec(IxDyn(&batch), values).expect("rows")
        }
        Reduction::Sum => ArrayD::from_elem(IxDyn(&[]), sums.loss),
        Reduction::Mean => ArrayD::from_elem(IxDyn(&[]), sums.loss / sums.weight),
    };
    Ok((result, sums.weight))
}

/// [`nll_loss`] with the gradient written over `log_probs` itself.
pub fn nll_loss_in_place<T: Real, L: Label>(
    mut log_probs: ArrayViewMutD<'_, T>,
    target: ArrayViewD<'_, L>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<ArrayD<f64>, Error> {
    check_common("log_probs", &log_probs.view(), weight, 0.0)?;
    check_label_shape(&log_probs.view(), &target)?;
    let (result, denominator) =
        losses(&log_probs.view(), &target, weight, ignore_index, reduction)?;
    write_grad(
        &mut log_probs,
        &target,
        weight,
        ignore_index,
        scale(reduction, denominator),
    )?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array2, Array3};

    #[test]
    fn seed_example_is_exactly_minus_ln_point_four() {
        let lp = arr2(&[[0.3f64.ln(), 0.3f64.ln(), 0.4f64.ln()]]).into_dyn();
        let y = arr1(&[2i64]).into_dyn();
        let l = nll_loss(lp.view(), y.view(), None, -100, Reduction::Mean, None).unwrap();
        assert_eq!(l[[]], -(0.4f64.ln()));
    }

    #[test]
    fn weights_ignore_and_gradient() {
        let lp = arr2(&[[-1.0, -2.0], [-3.0, -4.0], [-5.0, -6.0]]).into_dyn();
        let y = arr1(&[1i64, -100, 0]).into_dyn();
        let w = [2.0, 0.5];
        let mut g = ndarray::Array2::<f64>::ones((3, 2)).into_dyn();
        let l = nll_loss(
            lp.view(),
            y.view(),
            Some(&w),
            -100,
            Reduction::Mean,
            Some(g.view_mut()),
        )
        .unwrap();
        assert_eq!(l[[]], (0.5 * 2.0 + 2.0 * 5.0) / 2.5);
        assert_eq!(g, arr2(&[[0.0, -0.2], [0.0, 0.0], [-0.8, 0.0]]).into_dyn());
        let mut lp2 = lp.clone();
        let l2 =
            nll_loss_in_place(lp2.view_mut(), y.view(), Some(&w), -100, Reduction::Mean).unwrap();
        assert_eq!((l, g), (l2, lp2));
    }

    #[test]
    fn every_layout_and_label_type_gives_the_reference_bitwise() {
        // 3-D with the class axis moved last from the middle (torch's (N, C, d)), large
        // enough for several blocks and the parallel path; labels of three integer types.
        let (n, c, d) = (27_000, 7, 5);
        let x = Array3::from_shape_fn((n, c, d), |(i, j, k)| {
            -(((i * 31 + j * 7 + k) % 97) as f64) / 9.0
        });
        let moved = x.view().permuted_axes([0, 2, 1]).into_dyn(); // (n, d, c)
        let y64 = Array2::from_shape_fn((n, d), |(i, k)| {
            if (i + k) % 11 == 0 {
                -100
            } else {
                ((i * 3 + k) % c) as i64
            }
        });
        let y32 = y64.mapv(|v| v as i32);
        let y8 = y64.mapv(|v| v as i8);
        let w: Vec<f64> = (0..c).map(|j| 0.5 + j as f64).collect();
        let mut want = Vec::new();
        for i in 0..n {
            for k in 0..d {
                let yy = y64[[i, k]];
                want.push(if yy == -100 {
                    0.0
                } else {
                    -(w[yy as usize] * moved[[i, k, yy as usize]])
                });
            }
        }
        // the documented order: per block of ROW_BLOCK rows, four accumulators, then the tree
        let parts: Vec<crate::parallel::Sum> = want
            .chunks(ROW_BLOCK)
            .map(|b| {
                let mut a = [0.0; 4];
                for (k, v) in b.iter().enumerate() {
                    a[k & 3] += v;
                }
                crate::parallel::Sum((a[0] + a[1]) + (a[2] + a[3]))
            })
            .collect();
        let want_sum = tree_combine(&parts).0;
        for threads in [1, 2] {
            crate::parallel::set_num_threads(threads).unwrap();
            let a = nll_loss(
                moved.view(),
                y64.view().into_dyn(),
                Some(&w),
                -100,
                Reduction::None,
                None,
            )
            .unwrap();
            assert_eq!(a.iter().copied().collect::<Vec<_>>(), want);
            let b = nll_loss(
                moved.view(),
                y32.view().into_dyn(),
                Some(&w),
                -100,
                Reduction::Sum,
                None,
            )
            .unwrap();
            assert_eq!(b[[]].to_bits(), want_sum.to_bits());
            let c8 = nll_loss(
                moved.view(),
                y8.view().into_dyn(),
                Some(&w),
                -100,
                Reduction::Sum,
                None,
            )
            .unwrap();
            assert_eq!(c8[[]].to_bits(), want_sum.to_bits());
        }
        // the first bad label in logical order, with its position
        let mut bad = y64.clone();
        bad[[600, 3]] = 9;
        bad[[650, 1]] = -7;
        let e = nll_loss(
            moved.view(),
            bad.view().into_dyn(),
            None,
            -100,
            Reduction::Mean,
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`target` has label 9 at position (600, 3), outside [0, 7) (and not `ignore_index`)"
        );
    }
}
