//! Softmax cross-entropy (LogSoftmax + NLL) with torch.nn.functional.cross_entropy's rules,
//! and its gradient fused into the same row loop.
//!
//! Each row (the last axis) is read once by the streaming pass of
//! [`crate::kernels::softmax`]; the loss comes from the row statistics, and when a
//! gradient is asked for, the row (still in cache) is written once with
//! `g_j = scale·(softmax(z)_j·U − u_j)`, where `u` are the effective target weights:
//! - class index y, smoothing ε, weights w: `u_c = (1−ε)·w_y·[c = y] + ε/C·w_c`;
//! - class probabilities t: `u_c = ((1−ε)·t_c + ε/C)·w_c`;
//!
//! and `U = Σ u_c`. The loss of a row is `Σ_c u_c·(−log softmax(z)_c)`:
//! `(1−ε)·w_y·((m − z_y) + log1p(rest)) + ε/C·Σ_c w_c(−log p_c)` for a class index
//! (the first term has full relative precision when y is the argmax), `A + U·log1p(rest)`
//! for probabilities (0 for a zero target on a −inf logit, +inf for a positive one).
//!
//! Short rows (up to [`crate::measures::loss_rows`]' SHORT classes, and every row of the
//! class-axis-first layout) go sixteen at a time through the tiles of
//! [`crate::kernels::softmax_rows`] instead: class indices from the rows' max and rest and
//! z_y; label smoothing and probability targets from a tile of the effective weights u,
//! as `A + U·log1p(rest)` with `A = Σ u_c (max − z_c)` (terms ≥ 0: nothing cancels). The
//! same values up to the order of additions (float32: native f32 exponentials, DESIGN §2b).
//!
//! Reductions: "none" gives one loss per row; "sum" their sum; "mean" divides by
//! Σ w_y over non-ignored class-index targets (NaN when all are ignored, as torch), or
//! by the number of rows for probability targets. The denominator depends on the targets
//! only, so it is computed first (an O(N) pass over the labels that also validates them)
//! and the gradient is scaled as it is written. Extra memory: the N per-row losses.

use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD};

use super::labels::unravel;
use super::logsumexp::{piece_stop, row_stats, row_stats_weighted, write_row};
use super::{RowStop, CHECK_ELEMENTS};
use crate::error::Error;
use crate::kernels::counts::class_labels;
use crate::kernels::softmax::{ce_grad_write, GradRow};
use crate::kernels::softmax_f32::ce_grad_write_f32;
use crate::kernels::softmax_rows::{
    target_weight_tile, tile_finish, tile_weighted_loss, TileWrite,
};
use crate::kernels::{Real, GROUP};
use crate::measures::loss_rows::{
    load_tile, run_tasks, store_tile, tasks, tasks_with, tile_write, total, BlockAcc, OneTile,
    RowRef, Source, Task, Tiles, SHORT,
};
use crate::parallel::output::Fresh;
use crate::parallel::{chunks_of, fixed_sum, run, with_lane_chunk_mut, LanePieces};

/// How per-row losses are reduced (torch's `reduction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// One loss per row.
    None,
    /// The weighted mean (see the module docs).
    Mean,
    /// The sum.
    Sum,
}

impl Reduction {
    /// Parses "none", "mean" or "sum".
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            other => Err(Error::InvalidReduction {
                value: other.to_string(),
            }),
        }
    }
}

/// The options of the loss (torch's keyword arguments).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossOptions {
    /// How per-row losses are reduced.
    pub reduction: Reduction,
    /// A class-index target equal to this is ignored (loss 0, not counted by "mean").
    pub ignore_index: i64,
    /// ε ∈ [0, 1]: the target becomes (1−ε)·target + ε/C.
    pub label_smoothing: f64,
}

impl Default for LossOptions {
    fn default() -> Self {
        LossOptions {
            reduction: Reduction::Mean,
            ignore_index: -100,
            label_smoothing: 0.0,
        }
    }
}

/// The targets: class indices (the logits' shape without the last axis) or class
/// probabilities (the logits' shape).
pub enum Target<'a, U> {
    /// Class indices.
    Labels(ArrayViewD<'a, i64>),
    /// Class probabilities.
    Probs(ArrayViewD<'a, U>),
}

/// Checks the labels and returns Σ w_y over the non-ignored ones: summed over fixed blocks
/// of rows in logical order ([`BlockAcc`], [`total`]), the order the fused pass of the
/// loss uses, so a "mean" has the same denominator with and without a gradient.
///
/// Each label is read once here; the loss loops read it again and look it up with a
/// bounds check, so labels rewritten by another thread during the call give a NaN loss
/// for that row (or this ValueError), never an out-of-bounds panic.
pub(crate) fn check_labels(
    labels: &ArrayViewD<'_, i64>,
    classes: usize,
    ignore_index: i64,
    weight: Option<&[f64]>,
) -> Result<f64, Error> {
    // PERF: without weights the denominator is the number of labels not ignored — the
    // sum of ones and zeros below, exact in any order, so the same bits — counted by a
    // loop the compiler vectorizes (the general pass took ~1.5 ns a label, a tenth of a
    // (10^6, 10) f32 loss+gradient). Any label out of range falls through to the general
    // pass, which reports the first one with its position.
    if weight.is_none() {
        if let Some(s) = labels.as_slice() {
            let c = classes as u64;
            let counted = run(s.len(), |call| {
                let (mut kept, mut bad) = (0u64, 0u64);
                for piece in s.chunks(CHECK_ELEMENTS) {
                    if call.stopped() {
                        return Err(Error::Interrupted);
                    }
                    let (k, b) = class_labels(piece, c, ignore_index);
                    kept += k;
                    bad += b;
                }
                Ok((kept, bad))
            })??;
            if counted.1 == 0 {
                return Ok(counted.0 as f64);
            }
        }
    }
    // One pass in logical order (the sum's order), on one thread; Ctrl-C between pieces.
    run(labels.len(), |call| {
        let mut acc = BlockAcc::default();
        let mut buf = [0.0; 256];
        let (mut n, mut row) = (0, 0);
        // PERF: a plain iteration (a slice when contiguous); `indexed_iter` builds a dynamic
        // index per element (~25 ns), so the position is computed from the count only for
        // the error (not found again by a second search: the label may have changed).
        let mut visit = |flat: usize, y: i64| -> Result<(), Error> {
            if flat.is_multiple_of(CHECK_ELEMENTS) && flat > 0 && call.stopped() {
                return Err(Error::Interrupted);
            }
            buf[n] = if y == ignore_index {
                0.0
            } else {
                match class_of(y, classes) {
                    Some(c) => weight.map_or(1.0, |w| w.get(c).copied().unwrap_or(f64::NAN)),
                    None => {
                        return Err(Error::LabelOutOfRange {
                            label: y,
                            position: unravel(flat, labels.shape()),
                            classes,
                        })
                    }
                }
            };
            n += 1;
            if n == buf.len() {
                acc.push(row, &buf);
                row += n;
                n = 0;
            }
            Ok(())
        };
        match labels.as_slice() {
            Some(s) => s.iter().enumerate().try_for_each(|(i, &y)| visit(i, y)),
            None => labels
                .iter()
                .enumerate()
                .try_for_each(|(i, &y)| visit(i, y)),
        }?;
        acc.push(row, &buf[..n]);
        Ok(total(acc.into_pieces()))
    })?
}

/// The class index of label `y` when it lies in `[0, classes)`.
#[inline]
pub(crate) fn class_of(y: i64, classes: usize) -> Option<usize> {
    usize::try_from(y).ok().filter(|&c| c < classes)
}

/// Validates the class count, weight length and label smoothing shared by the losses.
pub(crate) fn check_common<T>(
    arg: &'static str,
    logits: &ArrayViewD<'_, T>,
    weight: Option<&[f64]>,
    label_smoothing: f64,
) -> Result<usize, Error> {
    let classes = match logits.shape().last() {
        Some(&c) => c,
        None => return Err(Error::NoAxis { arg }),
    };
    if classes == 0 {
        return Err(Error::NoClasses { arg });
    }
    if let Some(w) = weight {
        if w.len() != classes {
            return Err(Error::WeightLength {
                expected: classes,
                got: w.len(),
            });
        }
    }
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::InvalidLabelSmoothing {
            value: label_smoothing,
        });
    }
    Ok(classes)
}

/// Checks that class-index targets have the logits' shape without the class axis.
pub(crate) fn check_label_shape<T, L>(
    logits: &ArrayViewD<'_, T>,
    labels: &ArrayViewD<'_, L>,
) -> Result<(), Error> {
    let batch = &logits.shape()[..logits.ndim() - 1];
    if labels.shape() != batch {
        return Err(Error::TargetShape {
            expected: batch.to_vec(),
            got: labels.shape().to_vec(),
        });
    }
    Ok(())
}

/// Everything a row needs besides its own data.
#[derive(Clone, Copy)]
struct Ctx<'w> {
    classes: usize,
    eps: f64,
    weight: Option<&'w [f64]>,
    weight_sum: f64,
    ignore_index: i64,
    scale: f64,
}

impl Ctx<'_> {
    fn w(&self, c: usize) -> f64 {
        self.weight
            .map_or(1.0, |w| w.get(c).copied().unwrap_or(f64::NAN))
    }
    fn eps_c(&self) -> f64 {
        self.eps / self.classes as f64
    }
}

/// The loss of a class-index row and its gradient constants (None when ignored).
fn label_row<T: Real>(
    z: &ArrayView1<'_, T>,
    y: i64,
    ctx: &Ctx<'_>,
    stop: &RowStop<'_>,
) -> (f64, Option<(GradRow, f64)>) {
    if y == ctx.ignore_index {
        return (0.0, None);
    }
    // Checked by `check_labels`, but another thread may have rewritten it since.
    let Some((y, z_y)) = class_of(y, ctx.classes).and_then(|c| Some((c, z.get(c)?.to_f64())))
    else {
        return (f64::NAN, None);
    };
    let w_y = ctx.w(y);
    let (loss, stats) = if ctx.eps == 0.0 {
        let s = row_stats(z, stop);
        (w_y * s.neg_log_softmax_at(z_y), s)
    } else {
        let s = row_stats_weighted::<T, f64>(z, None, ctx.weight, 1.0, 0.0, stop);
        (
            (1.0 - ctx.eps) * w_y * s.neg_log_softmax_at(z_y) + ctx.eps_c() * s.weighted_loss(),
            s,
        )
    };
    let g = GradRow {
        max: stats.max,
        denom: 1.0 + stats.rest,
        total: (1.0 - ctx.eps) * w_y + ctx.eps_c() * ctx.weight_sum,
        a: 0.0,
        b: ctx.eps_c(),
        scale: ctx.scale,
    };
    // The target's own entry: −w_y·rest/(1 + rest) when it holds the maximum (no cancellation).
    let g_y = if ctx.eps == 0.0 && z_y == stats.max {
        -ctx.scale * (w_y * stats.rest / (1.0 + stats.rest))
    } else {
        // libm's exp for this one entry (the portable vector exp of `grad_at` cost ~1 µs a
        // row where it was not inlined)
        let u_y = ctx.eps_c() * w_y + (1.0 - ctx.eps) * w_y;
        ((z_y - g.max).exp() / g.denom * g.total - u_y) * g.scale
    };
    (loss, Some((g, g_y)))
}

/// Writes the gradient of a class-index row into `g` from the logits `src` (None: `g`
/// holds them, in place).
fn write_label_grad<T: Real>(
    src: Option<&ArrayView1<'_, T>>,
    g: &mut ArrayViewMut1<'_, T>,
    y: i64,
    row: Option<(GradRow, f64)>,
    ctx: &Ctx<'_>,
    stop: &RowStop<'_>,
) {
    match row {
        None => g.fill(T::default()),
        Some((gr, g_y)) => {
            write_row(
                src,
                g,
                |z, x, start| {
                    let w = ctx.weight.map(|w| &w[start..start + x.len()]);
                    match T::as_f32_mut(x) {
                        Some(x) => ce_grad_write_f32(z.and_then(T::as_f32), x, w, gr),
                        None => ce_grad_write::<T, f64>(z, x, None, w, gr),
                    }
                },
                stop,
            );
            // `row` is Some only for a label that was in range when read (`label_row`).
            if let Some(slot) = class_of(y, ctx.classes).and_then(|c| g.get_mut(c)) {
                *slot = T::from_f64(g_y);
            }
        }
    }
}

/// Where a task's per-row losses go: one value per row, or block sums of the losses and
/// of the target weights (the "mean" denominator).
enum Sink<'s> {
    PerRow(&'s mut [f64]),
    Sums { loss: BlockAcc, weight: Weights },
}

/// The target weights of a task's rows, as far as the denominator needs them.
enum Weights {
    /// Not needed (a gradient call weighs the labels before).
    Unused,
    /// Without class weights every weight is 1 or 0: their sum is the count of ones,
    /// exact in any order (the same bits as the block sums, without their serial adds).
    Count(u64),
    /// Block sums of the weights.
    Sums(BlockAcc),
}

impl Sink<'_> {
    /// Rows `local..local + losses.len()` of the task whose first row is `first`.
    fn put(&mut self, first: usize, local: usize, losses: &[f64], weights: &[f64]) {
        match self {
            Sink::PerRow(out) => out[local..local + losses.len()].copy_from_slice(losses),
            Sink::Sums { loss, weight } => {
                loss.push(first + local, losses);
                match weight {
                    Weights::Unused => {}
                    Weights::Count(n) => *n += weights.iter().filter(|&&w| w != 0.0).count() as u64,
                    Weights::Sums(acc) => acc.push(first + local, weights),
                }
            }
        }
    }
}

/// What a task reports: its block sums (for "sum"/"mean"), its weight sums or count of
/// weighed rows, and its first bad label.
#[derive(Default)]
struct TaskOut {
    loss: Vec<(usize, f64)>,
    weight: Vec<(usize, f64)>,
    count: u64,
    bad: Option<(usize, i64)>,
}

/// The losses (and, with `grad`, gradients) of the rows of a task with class-index
/// targets, into `sink`: tiles of short rows, else row by row. Each label is read once.
/// With `check`, a label out of range ends the task and is returned (row, label); without
/// (the labels were checked before: a gradient needs the "mean" denominator first), one
/// that changed since gives NaN, never a panic.
fn label_task<T: Real>(
    t: &mut Task<'_, T>,
    sink: &mut Sink<'_>,
    ctx: &Ctx<'_>,
    grad: bool,
    check: bool,
    stop: &RowStop<'_>,
) -> Option<(usize, i64)> {
    let labels = t.labels.expect("class-index targets");
    let (n, c) = (t.block.nrows(), t.block.ncols());
    let first = t.first;
    if let Some(r) = t.block.tile_rows() {
        // With label smoothing a row's loss is Σ u_c (logsumexp − z_c) for the effective
        // weights u_c = ε/C·w_c + [c = y]·(1 − ε)·w_y (a tile of them, as for probability
        // targets; PERF: row by row, ε = 0.1 took 15-20x the unsmoothed tiles).
        let smoothing = ctx.eps > 0.0;
        let mut u: Vec<f64> = Vec::new();
        let mut tl = Tiles::<T>::new(r);
        let r = tl.r;
        // the per-row values of a tile, in one allocation (PERF: a (10, 10) call spent a
        // third of its time in malloc and free)
        let mut per_row = vec![0.0; 7 * r];
        let [smoothed, weight_sum, zy, wy, kj, zero, losses] = split_rows(&mut per_row, r);
        let mut target: Vec<Option<usize>> = vec![None; r];
        let mut bad = vec![false; r];
        let mut ys = vec![0i64; r];
        for start in (0..n).step_by(r) {
            let k = r.min(n - start);
            tl.load(&t.block.input(), start, k);
            // Per row: the label (read once, into `ys`: a racing writer cannot change it
            // between the check below and its use), its logit and weight.
            let these = labels.slice(ndarray::s![start..start + k]);
            // The labels are a first read from memory too (8 bytes a row: as much as two
            // float32 logits): ask for them PREFETCH_BYTES ahead, one cache line per eight
            // rows.
            let (base, stride) = (these.as_ptr(), these.strides()[0]);
            let ahead = (crate::simd::PREFETCH_BYTES / std::mem::size_of::<i64>()) as isize;
            for j in (0..k).step_by(8) {
                crate::simd::prefetch(base.wrapping_offset((j as isize + ahead) * stride));
            }
            // (a slice copy: ndarray's element iterator kept its state on the stack, a
            // store-to-load chain per label)
            let ys = &mut ys[..k];
            match these.as_slice() {
                Some(run) => ys.copy_from_slice(run),
                None => ys.iter_mut().zip(these.iter()).for_each(|(y, &l)| *y = l),
            }
            // The common tile: no class weights, every label a class and none ignored.
            // Its label logits are read without a branch per row and its losses are the
            // tile's values (weight 1) — ~3% of a float32 (10^6, 10) loss, ~6% with the
            // gradient (one thread).
            let plain = !smoothing
                && ctx.weight.is_none()
                && ys.iter().fold(true, |ok, &y| {
                    ok & ((y as u64) < c as u64) & (y != ctx.ignore_index)
                });
            if plain {
                for (j, &y) in ys.iter().enumerate() {
                    // < c: checked just above (the targets are `ys` themselves here)
                    zy[j] = tl.tile[y as usize * r + j].to_f64();
                }
                wy[..k].fill(1.0);
                tile_finish(&tl.max, &tl.rest, Some(zy), &mut tl.out);
                sink.put(first, start, &tl.out[..k], &wy[..k]);
            } else {
                for (j, &y) in ys.iter().enumerate() {
                    (target[j], bad[j], zy[j], wy[j]) = (None, false, 0.0, 0.0);
                    if y == ctx.ignore_index {
                        continue;
                    }
                    match usize::try_from(y).ok().filter(|&i| i < c) {
                        Some(i) => {
                            target[j] = Some(i);
                            zy[j] = tl.tile[i * r + j].to_f64();
                            wy[j] = ctx.w(i);
                        }
                        None if check => return Some((first + start + j, y)),
                        // changed since it was checked (a racing writer): NaN, no panic
                        None => bad[j] = true,
                    }
                }
                if smoothing {
                    // Σ_c w_c (logsumexp − z_c), the smoothing term of the row pass's form
                    smoothing_weights(ctx, &target[..k], r, false, &mut u);
                    let z = &tl.tile;
                    let (m, rest) = (&tl.max, &tl.rest);
                    tile_weighted_loss(z, &u, r, m, rest, smoothed, weight_sum);
                }
                tile_finish(&tl.max, &tl.rest, Some(zy), &mut tl.out);
                for j in 0..k {
                    losses[j] = if bad[j] {
                        f64::NAN
                    } else if target[j].is_none() {
                        0.0
                    } else if smoothing {
                        // (1 − ε)·w_y·(−log p_y) + ε/C·Σ w_c(−log p_c), each its own product
                        // as in the row pass and torch: (1 − ε)·w_y = 0 on a −inf target
                        // logit gives 0·inf = NaN
                        (1.0 - ctx.eps) * wy[j] * tl.out[j] + ctx.eps_c() * smoothed[j]
                    } else {
                        wy[j] * tl.out[j]
                    };
                }
                sink.put(first, start, &losses[..k], &wy[..k]);
            }
            if !grad {
                continue;
            }
            // g = scale·w_y·(softmax − one-hot): every entry e^(z − max)·k_j, then the
            // target's own entry: −scale·w_y·rest/(1 + rest) where it holds the maximum
            // (no cancellation), else p_y·scale·w_y − scale·w_y from the value just written
            // (p_y ≤ ½ there, so the difference loses nothing).
            for ((kv, &w), &rest) in kj.iter_mut().zip(wy.iter()).zip(&tl.rest) {
                // U = Σ u: w_y, or with smoothing (1 − ε)·w_y + ε/C·Σ w (the row pass's)
                let total = if smoothing {
                    (1.0 - ctx.eps) * w + ctx.eps_c() * ctx.weight_sum
                } else {
                    w
                };
                *kv = ctx.scale * total / (1.0 + rest);
            }
            if smoothing {
                smoothing_weights(ctx, &target[..k], r, true, &mut u);
            }
            let what = if smoothing {
                // scale·(softmax·U − u), the target's entry included
                TileWrite::Targets {
                    k: kj,
                    u: &u,
                    scale: ctx.scale,
                }
            } else {
                TileWrite::Grad {
                    k: kj,
                    b: zero,
                    w: None,
                }
            };
            tile_write(&mut tl.tile, r, &tl.max, &tl.rest, what);
            for j in 0..k {
                let class = if plain {
                    Some(ys[j] as usize)
                } else {
                    target[j]
                };
                match class {
                    Some(_) if smoothing => {}
                    Some(i) => {
                        let rest = tl.rest[j];
                        let slot = &mut tl.tile[i * r + j];
                        // PERF: both forms, then a select: the branch on "the target holds
                        // the maximum" mispredicted on every other row of (N, 2) logits.
                        let at_max = -ctx.scale * (wy[j] * rest / (1.0 + rest));
                        let below = slot.to_f64() - ctx.scale * wy[j];
                        *slot = T::from_f64(if zy[j] == tl.max[j] { at_max } else { below });
                    }
                    None => {
                        let fill = if bad[j] {
                            T::from_f64(f64::NAN)
                        } else {
                            T::default()
                        };
                        for col in 0..c {
                            tl.tile[col * r + j] = fill;
                        }
                    }
                }
            }
            let mut o = t.block.output().expect("a gradient output");
            store_tile(&mut o, start, k, r, &tl.tile);
        }
        return None;
    }
    for i in 0..n {
        if stop.skip() {
            return None;
        }
        let y = labels[i];
        if check && y != ctx.ignore_index && !(0..c as i64).contains(&y) {
            return Some((first + i, y));
        }
        let w = match usize::try_from(y) {
            Ok(i) if y != ctx.ignore_index && i < c => ctx.w(i),
            _ => 0.0,
        };
        let loss = match t.block.row(i) {
            RowRef::Read(z) => label_row(&z, y, ctx, stop).0,
            RowRef::Write(z, mut g) => {
                let (loss, row) = label_row(&z, y, ctx, stop);
                write_label_grad(Some(&z), &mut g, y, row, ctx, stop);
                loss
            }
            RowRef::InPlace(mut z) => {
                let (loss, row) = label_row(&z.view(), y, ctx, stop);
                write_label_grad(None, &mut z, y, row, ctx, stop);
                loss
            }
        };
        sink.put(first, i, &[loss], &[w]);
    }
    None
}

/// `buf` cut into `N` slices of `r` values each.
fn split_rows<const N: usize>(buf: &mut [f64], r: usize) -> [&mut [f64]; N] {
    let mut parts = buf.chunks_exact_mut(r);
    std::array::from_fn(|_| parts.next().expect("N·r values"))
}

/// Label smoothing's weights as a tile: the class weights w_c (the loss's smoothing term),
/// or with `effective` the gradient's u = ε/C·w_c plus (1 − ε)·w_y at the target c = y of
/// row j. A row without a target (ignored, bad, or past the tile's rows) weighs nothing.
fn smoothing_weights(
    ctx: &Ctx<'_>,
    target: &[Option<usize>],
    r: usize,
    effective: bool,
    u: &mut Vec<f64>,
) {
    u.clear();
    u.resize(ctx.classes * r, 0.0);
    let (a, b) = if effective {
        (1.0 - ctx.eps, ctx.eps_c())
    } else {
        (0.0, 1.0)
    };
    let k = target.len();
    // column by column (the tile's order), then the targets and the rows without one
    for (c, column) in u.chunks_exact_mut(r).enumerate() {
        column[..k].fill(b * ctx.w(c));
    }
    for (j, y) in target.iter().enumerate() {
        match *y {
            // the row pass's u_y = (1·a + b)·w_y
            Some(y) if effective => u[y * r + j] = (a + b) * ctx.w(y),
            Some(_) => {}
            None => (0..ctx.classes).for_each(|c| u[c * r + j] = 0.0),
        }
    }
}

/// The loss of a probability-target row and its gradient constants.
fn prob_row<T: Real, U: Real>(
    z: &ArrayView1<'_, T>,
    t: &ArrayView1<'_, U>,
    ctx: &Ctx<'_>,
    stop: &RowStop<'_>,
) -> (f64, GradRow) {
    let (a, b) = (1.0 - ctx.eps, ctx.eps_c());
    let s = row_stats_weighted(z, Some(t), ctx.weight, a, b, stop);
    let g = GradRow {
        max: s.max,
        denom: 1.0 + s.rest,
        total: s.weight_sum,
        a,
        b,
        scale: ctx.scale,
    };
    (s.weighted_loss(), g)
}

/// The losses (and, with `grad`, gradients) of the rows of a task with class-probability
/// targets, one per row into `out`: tiles of short rows (a target tile beside the logits'
/// tile; PERF: row by row, (10^6, 10) float32 took 26 ns a value, ~17× the class-index
/// tiles), else row by row.
fn prob_task<T: Real, U: Real>(
    t: &mut Task<'_, T, U>,
    out: &mut [f64],
    ctx: &Ctx<'_>,
    grad: bool,
    stop: &RowStop<'_>,
) {
    let targets = t.targets.expect("probability targets");
    let n = t.block.nrows();
    let (a, b) = (1.0 - ctx.eps, ctx.eps_c());
    if let Some(r) = t.block.tile_rows() {
        let mut tl = Tiles::<T>::new(r);
        let r = tl.r;
        let (mut target_tile, mut u) = (Vec::new(), Vec::new());
        let (mut weight_sum, mut kj) = (vec![0.0; r], vec![0.0; r]);
        for start in (0..n).step_by(r) {
            let k = r.min(n - start);
            tl.load(&t.block.input(), start, k);
            load_tile(&targets, start, k, r, &mut target_tile);
            target_weight_tile(&target_tile, r, a, b, ctx.weight, &mut u);
            tile_weighted_loss(
                &tl.tile,
                &u,
                r,
                &tl.max,
                &tl.rest,
                &mut tl.out,
                &mut weight_sum,
            );
            out[start..start + k].copy_from_slice(&tl.out[..k]);
            if !grad {
                continue;
            }
            // g = scale·(softmax·U − u)
            for ((kv, &s), &rest) in kj.iter_mut().zip(&weight_sum).zip(&tl.rest) {
                *kv = ctx.scale * s / (1.0 + rest);
            }
            let what = TileWrite::Targets {
                k: &kj,
                u: &u,
                scale: ctx.scale,
            };
            tile_write(&mut tl.tile, r, &tl.max, &tl.rest, what);
            let mut o = t.block.output().expect("a gradient output");
            store_tile(&mut o, start, k, r, &tl.tile);
        }
        return;
    }
    for (i, slot) in out.iter_mut().enumerate().take(n) {
        if stop.skip() {
            return;
        }
        let tr = targets.row(i);
        *slot = match t.block.row(i) {
            RowRef::Read(z) => prob_row(&z, &tr, ctx, stop).0,
            RowRef::Write(z, mut g) => {
                let (loss, gr) = prob_row(&z, &tr, ctx, stop);
                g.assign(&z);
                write_prob_grad(&mut g, &tr, gr, ctx, stop);
                loss
            }
            RowRef::InPlace(mut z) => {
                let (loss, gr) = prob_row(&z.view(), &tr, ctx, stop);
                write_prob_grad(&mut z, &tr, gr, ctx, stop);
                loss
            }
        };
    }
}

/// Writes the gradient of a probability-target row into `g`, which holds the row's logits.
fn write_prob_grad<T: Real, U: Real>(
    g: &mut ArrayViewMut1<'_, T>,
    t: &ArrayView1<'_, U>,
    gr: GradRow,
    ctx: &Ctx<'_>,
    stop: &RowStop<'_>,
) {
    let mut tp = LanePieces::<U>::new(t.view());
    for r in chunks_of(g.len()) {
        if piece_stop(r.start, stop) {
            return;
        }
        let ts = tp.piece(r.clone());
        let w = ctx.weight.map(|w| &w[r.clone()]);
        with_lane_chunk_mut(g, r, |x| ce_grad_write(None, x, Some(ts), w, gr));
    }
}

/// Where the gradient goes.
enum GradMode<'g, 'a, T> {
    /// Loss only.
    None(ArrayViewD<'a, T>),
    /// Into a separate array of the logits' shape.
    Into(ArrayViewD<'a, T>, &'g mut ArrayViewMutD<'a, T>),
    /// Over the logits themselves.
    InPlace(&'g mut ArrayViewMutD<'a, T>),
}

fn compute<T: Real, U: Real>(
    mode: GradMode<'_, '_, T>,
    target: Target<'_, U>,
    weight: Option<&[f64]>,
    opts: &LossOptions,
) -> Result<ArrayD<f64>, Error> {
    let logits = match &mode {
        GradMode::None(z) | GradMode::Into(z, _) => z.view(),
        GradMode::InPlace(z) => z.view(),
    };
    let classes = check_common("logits", &logits, weight, opts.label_smoothing)?;
    if let GradMode::Into(z, g) = &mode {
        if z.shape() != g.shape() {
            return Err(Error::ShapeMismatch {
                first: "logits",
                second: "grad_out",
                first_shape: z.shape().to_vec(),
                second_shape: g.shape().to_vec(),
            });
        }
    }
    let rows = logits.len() / classes;
    let grad = !matches!(mode, GradMode::None(_));
    // Class-index targets without a gradient are checked in the same pass as the loss
    // (their "mean" denominator comes from it); with a gradient the denominator scales
    // what is written, so the labels are checked and weighed first.
    let denominator = match &target {
        Target::Labels(y) => {
            check_label_shape(&logits, y)?;
            if grad {
                check_labels(y, classes, opts.ignore_index, weight)?
            } else {
                f64::NAN
            }
        }
        Target::Probs(t) => {
            if t.shape() != logits.shape() {
                return Err(Error::ShapeMismatch {
                    first: "logits",
                    second: "target",
                    first_shape: logits.shape().to_vec(),
                    second_shape: t.shape().to_vec(),
                });
            }
            rows as f64
        }
    };
    let elements = logits.len();
    let ctx = Ctx {
        classes,
        eps: opts.label_smoothing,
        weight,
        weight_sum: weight.map_or(classes as f64, |w| w.iter().sum()),
        ignore_index: opts.ignore_index,
        scale: if opts.reduction == Reduction::Mean {
            1.0 / denominator
        } else {
            1.0
        },
    };
    let ctx = &ctx;
    if let Target::Labels(y) = target {
        let batch = y.shape().to_vec();
        // "none" returns a loss per row; "sum"/"mean" keep only each task's block sums
        // (no N-sized buffer: at (10^7, 1) it cost more than the losses themselves).
        let per_row = opts.reduction == Reduction::None;
        let mut losses = Fresh::new(if per_row { rows } else { 0 });
        let outs = run(elements, |call| {
            let src = match mode {
                GradMode::None(z) => Source::Read(z),
                GradMode::Into(z, g) => Source::Write(z, g.view_mut()),
                GradMode::InPlace(z) => Source::InPlace(z.view_mut()),
            };
            let out = per_row.then_some(&mut losses);
            // Ctrl-C between tasks, between long rows and inside them.
            let stop = RowStop::new(call, classes);
            run_tasks(tasks(src, Some(y)), out, call, |t, o| match o {
                Some(o) => {
                    let bad = label_task(t, &mut Sink::PerRow(o), ctx, grad, !grad, &stop);
                    TaskOut {
                        bad,
                        ..TaskOut::default()
                    }
                }
                None => {
                    let weight = if grad {
                        Weights::Unused
                    } else if ctx.weight.is_none() {
                        Weights::Count(0)
                    } else {
                        Weights::Sums(BlockAcc::default())
                    };
                    let mut sink = Sink::Sums {
                        loss: BlockAcc::default(),
                        weight,
                    };
                    let bad = label_task(t, &mut sink, ctx, grad, !grad, &stop);
                    let Sink::Sums { loss, weight } = sink else {
                        unreachable!("sums")
                    };
                    let (weight, count) = match weight {
                        Weights::Sums(acc) => (acc.into_pieces(), 0),
                        Weights::Count(n) => (Vec::new(), n),
                        Weights::Unused => (Vec::new(), 0),
                    };
                    TaskOut {
                        loss: loss.into_pieces(),
                        weight,
                        count,
                        bad,
                    }
                }
            })
        })?;
        // The first bad label in logical order: tasks are in order, each stops at its first.
        if let Some((row, label)) = outs.iter().find_map(|o| o.bad) {
            return Err(Error::LabelOutOfRange {
                label,
                position: unravel(row, &batch),
                classes,
            });
        }
        let weights = || {
            if ctx.weight.is_none() {
                outs.iter().map(|o| o.count).sum::<u64>() as f64
            } else {
                total(outs.iter().flat_map(|o| o.weight.iter().copied()))
            }
        };
        let denominator = if grad { denominator } else { weights() };
        let sum = || total(outs.iter().flat_map(|o| o.loss.iter().copied()));
        return Ok(match opts.reduction {
            Reduction::None => {
                ArrayD::from_shape_vec(ndarray::IxDyn(&batch), losses.into_values()).expect("rows")
            }
            Reduction::Sum => ArrayD::from_elem(ndarray::IxDyn(&[]), sum()),
            Reduction::Mean => ArrayD::from_elem(ndarray::IxDyn(&[]), sum() / denominator),
        });
    }
    let Target::Probs(t) = target else {
        unreachable!("class-index targets are handled above")
    };
    let batch = logits.shape()[..logits.ndim() - 1].to_vec();
    let mut losses = Fresh::new(rows);
    run(elements, |call| {
        let src = match mode {
            GradMode::None(z) => Source::Read(z),
            GradMode::Into(z, g) => Source::Write(z, g.view_mut()),
            GradMode::InPlace(z) => Source::InPlace(z.view_mut()),
        };
        // Ctrl-C between tasks and between rows; a stopped call's losses are discarded.
        let stop = RowStop::new(call, classes);
        run_tasks(
            tasks_with(src, None, Some(t)),
            Some(&mut losses),
            call,
            |t, o| prob_task(t, o.expect("one loss per row"), ctx, grad, &stop),
        );
    })?;
    let losses =
        ArrayD::from_shape_vec(ndarray::IxDyn(&batch), losses.into_values()).expect("rows");
    Ok(reduce(losses, opts.reduction, denominator))
}

/// The loss of one contiguous row of logits `z` with class index `y` (in range and not
/// ignored; no class weights, no label smoothing) under `reduction`: the bits
/// [`softmax_cross_entropy`] gives for that row as a 1-D view, without the batch machinery
/// (the 1-D small-call path, torch's unbatched `cross_entropy(z, 3)`).
pub fn softmax_cross_entropy_contiguous<T: Real>(
    z: &[T],
    y: usize,
    reduction: Reduction,
) -> Result<f64, Error> {
    let c = z.len();
    let label = i64::try_from(y).unwrap_or(i64::MAX);
    // As `label_task`: the tile's value for short rows, the row pass's (times w_y = 1) else.
    let loss = if c <= SHORT {
        one_tile_losses(z, c, &[label])?[0]
    } else {
        let Some(z_y) = z.get(y).map(|v| v.to_f64()) else {
            return Err(Error::LabelOutOfRange {
                label,
                position: Vec::new(),
                classes: c,
            });
        };
        run(c, |ctx| {
            row_stats(&ArrayView1::from(z), &RowStop::new(ctx, c)).neg_log_softmax_at(z_y)
        })?
    };
    // One row's "sum" is its loss added to the block sums' zeros, its "mean" that over 1.
    Ok(match reduction {
        Reduction::None => loss,
        Reduction::Sum | Reduction::Mean => loss + 0.0,
    })
}

/// The losses of the C-ordered rows of `c` logits in `z` (at least one row, and few enough
/// for one tile: [`crate::measures::logsumexp::fits_one_tile`]) with class indices `y`,
/// each a class (not ignored; no class weights, no label smoothing), under `reduction`:
/// the bits [`softmax_cross_entropy`] gives them, without the batch machinery (the
/// small-call path of a batch of a few rows).
pub fn softmax_cross_entropy_one_tile<T: Real>(
    z: &[T],
    c: usize,
    y: &[i64],
    reduction: Reduction,
) -> Result<ArrayD<f64>, Error> {
    let rows = y.len();
    let losses = &one_tile_losses(z, c, y)?[..rows];
    // As `compute` with every weight 1: the block sums of the losses in row order, and
    // "mean" over the number of rows.
    let sum = || {
        let mut acc = BlockAcc::default();
        acc.push(0, losses);
        total(acc.into_pieces())
    };
    Ok(match reduction {
        Reduction::None => {
            ArrayD::from_shape_vec(ndarray::IxDyn(&[rows]), losses.to_vec()).expect("rows")
        }
        Reduction::Sum => ArrayD::from_elem(ndarray::IxDyn(&[]), sum()),
        Reduction::Mean => ArrayD::from_elem(ndarray::IxDyn(&[]), sum() / rows as f64),
    })
}

/// The losses (max − z_y) + log1p(rest) of the C-ordered rows of `c` logits in `z` (few
/// enough for one tile) with class indices `y`, each a class, in the first `y.len()`
/// lanes: the tile path's values.
fn one_tile_losses<T: Real>(z: &[T], c: usize, y: &[i64]) -> Result<[f64; GROUP], Error> {
    let mut sub = [0.0; GROUP];
    for (j, &label) in y.iter().enumerate() {
        let Some(z_y) = class_of(label, c).and_then(|k| z.get(j * c + k)) else {
            return Err(Error::LabelOutOfRange {
                label,
                position: vec![j],
                classes: c,
            });
        };
        sub[j] = z_y.to_f64();
    }
    Ok(OneTile::load(z, c).finish(Some(&sub)))
}

/// Applies the reduction to per-row losses (a 0-d array for "mean" and "sum").
pub(crate) fn reduce(losses: ArrayD<f64>, reduction: Reduction, denominator: f64) -> ArrayD<f64> {
    match reduction {
        Reduction::None => losses,
        Reduction::Sum => ArrayD::from_elem(ndarray::IxDyn(&[]), fixed_sum(losses.iter())),
        Reduction::Mean => {
            ArrayD::from_elem(ndarray::IxDyn(&[]), fixed_sum(losses.iter()) / denominator)
        }
    }
}

/// The loss of every row along the last axis of `logits` (see the module docs).
pub fn softmax_cross_entropy<T: Real, U: Real>(
    logits: ArrayViewD<'_, T>,
    target: Target<'_, U>,
    weight: Option<&[f64]>,
    opts: &LossOptions,
) -> Result<ArrayD<f64>, Error> {
    compute(GradMode::None(logits), target, weight, opts)
}

/// The loss, with d(loss)/d(logits) written into `grad` (the logits' shape).
pub fn softmax_cross_entropy_grad_into<'a, T: Real, U: Real>(
    logits: ArrayViewD<'a, T>,
    target: Target<'_, U>,
    weight: Option<&[f64]>,
    opts: &LossOptions,
    mut grad: ArrayViewMutD<'a, T>,
) -> Result<ArrayD<f64>, Error> {
    compute(GradMode::Into(logits, &mut grad), target, weight, opts)
}

/// The loss, with the logits overwritten by d(loss)/d(logits): no N×C buffer at all.
pub fn softmax_cross_entropy_in_place<T: Real, U: Real>(
    mut logits: ArrayViewMutD<'_, T>,
    target: Target<'_, U>,
    weight: Option<&[f64]>,
    opts: &LossOptions,
) -> Result<ArrayD<f64>, Error> {
    compute(GradMode::InPlace(&mut logits), target, weight, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array2};

    fn labels(v: &[i64]) -> ArrayD<i64> {
        arr1(v).into_dyn()
    }

    /// `softmax_cross_entropy_contiguous` against the batch path on the same row (its 1-D
    /// view and a 0-d label), bit for bit, for every reduction: every tile tail, the
    /// tile/row-pass boundary, NaN and +inf rows, float32 and float64.
    #[test]
    fn one_contiguous_row_equals_the_batch_path_bitwise() {
        fn same<T: Real>(z: &[T]) {
            let view = ndarray::ArrayView1::from(z).into_dyn();
            for y in [0, z.len() / 2, z.len() - 1] {
                let label = ndarray::arr0(y as i64).into_dyn();
                for reduction in [Reduction::None, Reduction::Sum, Reduction::Mean] {
                    let opts = LossOptions {
                        reduction,
                        ..LossOptions::default()
                    };
                    let target = Target::<f64>::Labels(label.view());
                    let want =
                        softmax_cross_entropy(view.clone(), target, None, &opts).unwrap()[[]];
                    let got = softmax_cross_entropy_contiguous(z, y, reduction).unwrap();
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "n={} y={y} {reduction:?}",
                        z.len()
                    );
                }
            }
        }
        for n in (1..=140).chain([300, 70_000]) {
            for seed in 0..3 {
                let mut z = crate::kernels::adversarial::logits(n, seed);
                if seed == 1 {
                    z[n / 2] = f64::NAN;
                }
                if seed == 2 {
                    z[n - 1] = f64::INFINITY;
                }
                same(&z);
                same(&z.iter().map(|&v| v as f32).collect::<Vec<_>>());
            }
        }
        assert!(softmax_cross_entropy_contiguous(&[0.0f64, 1.0], 2, Reduction::Mean).is_err());
    }

    /// A batch of up to sixteen rows with plain labels through one tile gives the batch
    /// path's bits, for every reduction.
    #[test]
    fn a_few_rows_in_one_tile_equal_the_batch_path_bitwise() {
        fn same<T: Real>(z: &[T], rows: usize, c: usize) {
            let view = ndarray::ArrayView2::from_shape((rows, c), z)
                .unwrap()
                .into_dyn();
            let y: Vec<i64> = (0..rows).map(|j| ((j * 7 + 3) % c) as i64).collect();
            let labels = ndarray::ArrayView1::from(&y[..]).into_dyn();
            for reduction in [Reduction::None, Reduction::Sum, Reduction::Mean] {
                let opts = LossOptions {
                    reduction,
                    ..LossOptions::default()
                };
                let target = Target::<f64>::Labels(labels.clone());
                let want = softmax_cross_entropy(view.clone(), target, None, &opts).unwrap();
                let got = softmax_cross_entropy_one_tile(z, c, &y, reduction).unwrap();
                assert_eq!(got.shape(), want.shape());
                let bits = |a: &ArrayD<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{rows}x{c} {reduction:?}");
            }
        }
        for c in [1, 2, 3, 10, 17, 128] {
            for rows in 1..=GROUP {
                let mut z = crate::kernels::adversarial::logits(rows * c, (rows + c) as u64);
                if rows > 2 {
                    z[c] = f64::NAN;
                    z[2 * c] = f64::INFINITY;
                }
                same(&z, rows, c);
                same(&z.iter().map(|&v| v as f32).collect::<Vec<_>>(), rows, c);
            }
        }
        assert!(softmax_cross_entropy_one_tile(&[0.0f64, 1.0], 2, &[2], Reduction::Mean).is_err());
    }

    #[test]
    fn seed_example() {
        let z = arr2(&[[0.3f64.ln(), 0.3f64.ln(), 0.4f64.ln()]]).into_dyn();
        let y = labels(&[2]);
        let l = softmax_cross_entropy::<f64, f64>(
            z.view(),
            Target::Labels(y.view()),
            None,
            &LossOptions::default(),
        )
        .unwrap();
        assert!((l[[]] - 0.9162907318741551).abs() < 1e-15);
    }

    #[test]
    fn confident_prediction_keeps_relative_precision() {
        let z = arr2(&[[0.0, -46.0]]).into_dyn();
        let y = labels(&[0]);
        let l = softmax_cross_entropy::<f64, f64>(
            z.view(),
            Target::Labels(y.view()),
            None,
            &LossOptions::default(),
        )
        .unwrap();
        assert!((l[[]] / (-46f64).exp() - 1.0).abs() < 1e-15, "{}", l[[]]);
    }

    #[test]
    fn errors() {
        let z = Array2::<f64>::zeros((2, 3)).into_dyn();
        let opts = LossOptions::default();
        let e = softmax_cross_entropy::<f64, f64>(
            z.view(),
            Target::Labels(labels(&[0, 7]).view()),
            None,
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`target` has label 7 at position (1,), outside [0, 3) (and not `ignore_index`)"
        );
        assert!(softmax_cross_entropy::<f64, f64>(
            z.view(),
            Target::Labels(labels(&[0]).view()),
            None,
            &opts
        )
        .is_err());
        assert!(softmax_cross_entropy::<f64, f64>(
            z.view(),
            Target::Labels(labels(&[0, 1]).view()),
            Some(&[1.0]),
            &opts
        )
        .is_err());
        let bad = LossOptions {
            label_smoothing: 1.5,
            ..opts
        };
        assert!(softmax_cross_entropy::<f64, f64>(
            z.view(),
            Target::Labels(labels(&[0, 1]).view()),
            None,
            &bad
        )
        .is_err());
        let empty = Array2::<f64>::zeros((2, 0)).into_dyn();
        assert!(softmax_cross_entropy::<f64, f64>(
            empty.view(),
            Target::Labels(labels(&[0, 1]).view()),
            None,
            &opts
        )
        .is_err());
        assert!(Reduction::parse("avg").is_err());
    }

    #[test]
    fn all_ignored_mean_is_nan_and_gradient_zero() {
        let z = arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn();
        let mut g = Array2::<f64>::ones((2, 2)).into_dyn();
        let l = softmax_cross_entropy_grad_into::<f64, f64>(
            z.view(),
            Target::Labels(labels(&[-100, -100]).view()),
            None,
            &LossOptions::default(),
            g.view_mut(),
        )
        .unwrap();
        assert!(l[[]].is_nan());
        assert!(g.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn in_place_equals_into_and_finite_differences() {
        let data: Vec<f64> = (0..5 * 300)
            .map(|i| ((i * 7919) % 1000) as f64 / 150.0 - 3.0)
            .collect();
        let z = Array2::from_shape_vec((5, 300), data).unwrap().into_dyn();
        let y = labels(&[0, 299, 17, -100, 5]);
        let w: Vec<f64> = (0..300).map(|i| 0.5 + (i % 7) as f64 / 7.0).collect();
        let opts = LossOptions {
            label_smoothing: 0.1,
            ..LossOptions::default()
        };
        let mut g = Array2::<f64>::zeros((5, 300)).into_dyn();
        let l1 = softmax_cross_entropy_grad_into::<f64, f64>(
            z.view(),
            Target::Labels(y.view()),
            Some(&w),
            &opts,
            g.view_mut(),
        )
        .unwrap();
        let mut zz = z.clone();
        let l2 = softmax_cross_entropy_in_place::<f64, f64>(
            zz.view_mut(),
            Target::Labels(y.view()),
            Some(&w),
            &opts,
        )
        .unwrap();
        assert_eq!(l1, l2);
        assert_eq!(g, zz);
        let f = |z: &ArrayD<f64>| {
            softmax_cross_entropy::<f64, f64>(z.view(), Target::Labels(y.view()), Some(&w), &opts)
                .unwrap()[[]]
        };
        for &(i, j) in &[(0usize, 0usize), (1, 299), (2, 40), (3, 3), (4, 5)] {
            let h = 1e-5;
            let (mut a, mut b) = (z.clone(), z.clone());
            a[[i, j]] += h;
            b[[i, j]] -= h;
            let fd = (f(&a) - f(&b)) / (2.0 * h);
            assert!(
                (fd - g[[i, j]]).abs() < 1e-8,
                "({i},{j}): {fd} vs {}",
                g[[i, j]]
            );
        }
    }
}
