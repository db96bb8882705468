//! The row driver of the loss family: an input's rows (the last axis) as 2-D blocks of
//! rows, cut into tasks run in parallel, each task walking its rows either sixteen at a
//! time as a transposed tile (short rows, [`crate::kernels::softmax_rows`]) or one at a
//! time (longer rows, the streaming passes).
//!
//! The probability measures have the engine of [`crate::parallel::rows`] for this; the
//! loss family needs what it does not carry — a label per row, an output row per row
//! (gradients, softmax) and writes in place — so the tasks here hold ndarray views of the
//! logits, the labels and the output, split alike. Short means at most
//! [`crate::parallel::rows::SHORT`] classes (the engine's threshold), and tiles are
//! [`GROUP`] rows (the engine's group).
//!
//! **Layouts.** The batch axes that merge without a copy in every array of the call form
//! one block of rows; the leading ones that do not are iterated. A C-ordered (N, C) array,
//! its transpose read with `axis=0` (the class axis strided, the batch axis contiguous),
//! any Fortran-ordered array: one block. torch's (N, C, d) with `axis=1`: N blocks of
//! (d, C). Tiles are filled from memory directly where the block is one memory slice:
//! row by row when the classes are adjacent, column by column (sixteen adjacent values of
//! one class — the "vertical" layout) when the rows are.
//!
//! **Determinism.** A row's results depend on that row only (tile lanes never mix), so
//! any cut into tasks and any thread count give the same bits.

use ndarray::{
    ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut1, ArrayViewMut2, ArrayViewMutD, Axis, Ix1, Ix2,
};
use rayon::prelude::*;

use crate::kernels::softmax_rows::{
    group_stats_f32, group_stats_f64, group_write_f32, group_write_f64, GroupStats, TileWrite,
};
use crate::kernels::{Real, GROUP};
use crate::parallel::Ctx;

/// Rows up to this long are processed as tiles.
pub(crate) const SHORT: usize = crate::parallel::rows::SHORT;

/// Elements per task (a multiple of [`GROUP`] rows, at least one tile).
const TASK_ELEMENTS: usize = 1 << 15;

/// The rows of one block: read only, read with a separate output, or read and written in
/// place.
pub(crate) enum Block<'a, T> {
    /// Logits only.
    Read(ArrayView2<'a, T>),
    /// Logits and an output of the same shape.
    Write(ArrayView2<'a, T>, ArrayViewMut2<'a, T>),
    /// Logits overwritten by the output.
    InPlace(ArrayViewMut2<'a, T>),
}

impl<'a, T: Copy> Block<'a, T> {
    /// The number of rows.
    pub fn nrows(&self) -> usize {
        match self {
            Block::Read(x) | Block::Write(x, _) => x.nrows(),
            Block::InPlace(x) => x.nrows(),
        }
    }

    /// The number of classes.
    pub fn ncols(&self) -> usize {
        match self {
            Block::Read(x) | Block::Write(x, _) => x.ncols(),
            Block::InPlace(x) => x.ncols(),
        }
    }

    /// The logits (for in place: the current contents).
    pub fn input(&self) -> ArrayView2<'_, T> {
        match self {
            Block::Read(x) | Block::Write(x, _) => x.view(),
            Block::InPlace(x) => x.view(),
        }
    }

    /// Row `i`: its logits, and the output row when there is one.
    pub fn row(&mut self, i: usize) -> RowRef<'_, T> {
        match self {
            Block::Read(x) => RowRef::Read(x.row(i)),
            Block::Write(x, o) => RowRef::Write(x.row(i), o.row_mut(i)),
            Block::InPlace(x) => RowRef::InPlace(x.row_mut(i)),
        }
    }

    /// The output (None for read-only blocks; the logits themselves in place).
    pub fn output(&mut self) -> Option<ArrayViewMut2<'_, T>> {
        match self {
            Block::Read(_) => None,
            Block::Write(_, o) => Some(o.view_mut()),
            Block::InPlace(x) => Some(x.view_mut()),
        }
    }

    fn split_at(self, k: usize) -> (Self, Self) {
        match self {
            Block::Read(x) => {
                let (a, b) = x.split_at(Axis(0), k);
                (Block::Read(a), Block::Read(b))
            }
            Block::Write(x, o) => {
                let (a, b) = x.split_at(Axis(0), k);
                let (c, d) = o.split_at(Axis(0), k);
                (Block::Write(a, c), Block::Write(b, d))
            }
            Block::InPlace(x) => {
                let (a, b) = x.split_at(Axis(0), k);
                (Block::InPlace(a), Block::InPlace(b))
            }
        }
    }
}

/// One row of a [`Block`].
pub(crate) enum RowRef<'r, T> {
    /// Logits only.
    Read(ArrayView1<'r, T>),
    /// Logits and the output row.
    Write(ArrayView1<'r, T>, ArrayViewMut1<'r, T>),
    /// Logits to be overwritten.
    InPlace(ArrayViewMut1<'r, T>),
}

/// One task: a block of consecutive rows and their labels.
pub(crate) struct Task<'a, T> {
    /// The rows.
    pub block: Block<'a, T>,
    /// One label per row, for class-index losses.
    pub labels: Option<ArrayView1<'a, i64>>,
}

/// The inputs of a call, n-d, rows along the last axis.
pub(crate) enum Source<'a, T> {
    /// Logits only.
    Read(ArrayViewD<'a, T>),
    /// Logits and an output of their shape.
    Write(ArrayViewD<'a, T>, ArrayViewMutD<'a, T>),
    /// Logits written in place.
    InPlace(ArrayViewMutD<'a, T>),
}

/// Whether axes `k..n` of (shape, strides) merge into one in row-major order: every
/// axis of length > 1 steps by the length times the stride of the next such axis (as
/// `merge_axes` requires when merging them left to right; axes of length 1 are free).
fn merges(shape: &[usize], strides: &[isize], k: usize, n: usize) -> bool {
    let mut outer: Option<isize> = None; // stride of the previous axis of length > 1
    for i in k..n {
        if shape[i] <= 1 {
            continue;
        }
        if let Some(s) = outer {
            if s != strides[i] * shape[i] as isize {
                return false;
            }
        }
        outer = Some(strides[i]);
    }
    true
}

/// Merges axes `0..n` of `x` into one (they must merge, see [`merges`]).
fn merge_leading<S: ndarray::RawData>(
    mut x: ndarray::ArrayBase<S, ndarray::IxDyn>,
    n: usize,
) -> ndarray::ArrayBase<S, ndarray::IxDyn> {
    if n == 0 {
        return x.insert_axis(Axis(0));
    }
    for k in 0..n - 1 {
        // `merges` checked these axes; a refusal here would drop rows, so it is fatal.
        assert!(
            x.merge_axes(Axis(k), Axis(k + 1)),
            "axes checked by `merges`"
        );
    }
    for _ in 0..n - 1 {
        x = x.index_axis_move(Axis(0), 0);
    }
    x
}

/// The views of the first `k` axes' index combinations, in logical order.
fn split_leading<'a, T>(x: ArrayViewD<'a, T>, k: usize) -> Vec<ArrayViewD<'a, T>> {
    if k == 0 {
        return vec![x];
    }
    x.into_outer_iter()
        .flat_map(|s| split_leading(s, k - 1))
        .collect()
}

fn split_leading_mut<'a, T>(x: ArrayViewMutD<'a, T>, k: usize) -> Vec<ArrayViewMutD<'a, T>> {
    if k == 0 {
        return vec![x];
    }
    x.into_outer_iter_mut()
        .flat_map(|s| split_leading_mut(s, k - 1))
        .collect()
}

/// The tasks of a call: blocks of rows merged as far as every array allows, cut into
/// pieces of about [`TASK_ELEMENTS`] (whole tiles). The arrays must be non-empty, of
/// equal shapes (labels: without the last axis).
pub(crate) fn tasks<'a, T: Copy>(
    src: Source<'a, T>,
    labels: Option<ArrayViewD<'a, i64>>,
) -> Vec<Task<'a, T>> {
    let (shape, mut strides): (Vec<usize>, Vec<Vec<isize>>) = match &src {
        Source::Read(x) => (x.shape().to_vec(), vec![x.strides().to_vec()]),
        Source::Write(x, o) => (
            x.shape().to_vec(),
            vec![x.strides().to_vec(), o.strides().to_vec()],
        ),
        Source::InPlace(x) => (x.shape().to_vec(), vec![x.strides().to_vec()]),
    };
    let n = shape.len() - 1;
    if shape.iter().product::<usize>() == 0 {
        return Vec::new();
    }
    if let Some(y) = &labels {
        strides.push(y.strides().to_vec());
    }
    let k = (0..=n)
        .find(|&k| strides.iter().all(|s| merges(&shape, s, k, n)))
        .unwrap_or(n);
    let classes = shape[n];
    let per_task = (TASK_ELEMENTS / classes.max(1)).max(1).div_ceil(GROUP) * GROUP;
    let label_groups: Vec<Option<ArrayView1<'a, i64>>> = match labels {
        Some(y) => split_leading(y, k)
            .into_iter()
            .map(|g| merge_leading(g, n - k).into_dimensionality::<Ix1>().ok())
            .collect(),
        None => vec![None; shape[..k].iter().product()],
    };
    let to2 = |g: ArrayViewD<'a, T>| {
        merge_leading(g, n - k)
            .into_dimensionality::<Ix2>()
            .expect("2-D")
    };
    let to2m = |g: ArrayViewMutD<'a, T>| {
        merge_leading(g, n - k)
            .into_dimensionality::<Ix2>()
            .expect("2-D")
    };
    let blocks: Vec<Block<'a, T>> = match src {
        Source::Read(x) => split_leading(x, k)
            .into_iter()
            .map(|g| Block::Read(to2(g)))
            .collect(),
        Source::Write(x, o) => split_leading(x, k)
            .into_iter()
            .zip(split_leading_mut(o, k))
            .map(|(g, h)| Block::Write(to2(g), to2m(h)))
            .collect(),
        Source::InPlace(x) => split_leading_mut(x, k)
            .into_iter()
            .map(|g| Block::InPlace(to2m(g)))
            .collect(),
    };
    let mut out = Vec::new();
    for (block, labels) in blocks.into_iter().zip(label_groups) {
        let (mut block, mut labels) = (block, labels);
        while block.nrows() > 0 {
            let take = per_task.min(block.nrows());
            let (head, tail) = block.split_at(take);
            let (lh, lt) = match labels {
                Some(l) => {
                    let (a, b) = l.split_at(Axis(0), take);
                    (Some(a), Some(b))
                }
                None => (None, None),
            };
            out.push(Task {
                block: head,
                labels: lh,
            });
            block = tail;
            labels = lt;
        }
    }
    out
}

/// Runs `f(task, results)` on every task (in parallel when `ctx.fork`), `results` the
/// task's slice of `per_row` (one value per row, logical order) when given. Stops between
/// tasks when the call is interrupted.
pub(crate) fn run_tasks<T: Real>(
    tasks: Vec<Task<'_, T>>,
    per_row: Option<&mut [f64]>,
    ctx: Ctx<'_>,
    f: impl Fn(&mut Task<'_, T>, Option<&mut [f64]>) + Sync,
) {
    let mut outs: Vec<Option<&mut [f64]>> = Vec::with_capacity(tasks.len());
    match per_row {
        Some(mut rest) => {
            for t in &tasks {
                let (head, tail) = rest.split_at_mut(t.block.nrows());
                outs.push(Some(head));
                rest = tail;
            }
        }
        None => outs.resize_with(tasks.len(), || None),
    }
    let one = |(mut t, o): (Task<'_, T>, Option<&mut [f64]>)| {
        if !ctx.stopped() {
            f(&mut t, o);
        }
    };
    if ctx.fork && tasks.len() > 1 {
        tasks.into_par_iter().zip(outs).for_each(one);
    } else {
        tasks.into_iter().zip(outs).for_each(one);
    }
}

/// The memory of a 2-D view with non-negative strides as one slice, element (i, c) at
/// `i·s0 + c·s1`, when it is contiguous in some order.
fn flat<'a, T>(x: &ArrayView2<'a, T>) -> Option<(&'a [T], usize, usize)> {
    let st = x.strides();
    if st[0] < 0 || st[1] < 0 {
        return None;
    }
    let xs = x.to_slice_memory_order()?;
    Some((xs, st[0] as usize, st[1] as usize))
}

/// Transposes rows `start..start + n` (n ≤ GROUP) of `x` into `tile[c][j]`; lanes past n
/// keep what they hold (their results are not used).
pub(crate) fn load_tile<T: Copy + Default>(
    x: &ArrayView2<'_, T>,
    start: usize,
    n: usize,
    tile: &mut Vec<[T; GROUP]>,
) {
    let c = x.ncols();
    if tile.len() != c {
        tile.clear();
        tile.resize(c, [T::default(); GROUP]);
    }
    match flat(x) {
        Some((xs, s0, 1)) => {
            // classes adjacent: row by row
            for j in 0..n {
                let row = &xs[(start + j) * s0..(start + j) * s0 + c];
                for (col, &v) in tile.iter_mut().zip(row) {
                    col[j] = v;
                }
            }
        }
        Some((xs, 1, s1)) => {
            // rows adjacent (the vertical layout): sixteen values of a class at once
            for (k, col) in tile.iter_mut().enumerate() {
                col[..n].copy_from_slice(&xs[k * s1 + start..k * s1 + start + n]);
            }
        }
        _ => {
            for j in 0..n {
                for (col, &v) in tile.iter_mut().zip(x.row(start + j).iter()) {
                    col[j] = v;
                }
            }
        }
    }
}

/// Writes `tile[c][j]` back to rows `start..start + n` of `o`.
pub(crate) fn store_tile<T: Copy>(
    o: &mut ArrayViewMut2<'_, T>,
    start: usize,
    n: usize,
    tile: &[[T; GROUP]],
) {
    let c = o.ncols();
    let st = o.strides().to_vec();
    if st[0] >= 0 && st[1] >= 0 {
        if let Some(os) = o.as_slice_memory_order_mut() {
            let (s0, s1) = (st[0] as usize, st[1] as usize);
            if s1 == 1 {
                for j in 0..n {
                    let row = &mut os[(start + j) * s0..(start + j) * s0 + c];
                    for (slot, col) in row.iter_mut().zip(tile) {
                        *slot = col[j];
                    }
                }
                return;
            }
            if s0 == 1 {
                for (k, col) in tile.iter().enumerate() {
                    os[k * s1 + start..k * s1 + start + n].copy_from_slice(&col[..n]);
                }
                return;
            }
        }
    }
    for j in 0..n {
        for (slot, col) in o.row_mut(start + j).iter_mut().zip(tile) {
            *slot = col[j];
        }
    }
}

/// The group statistics of a tile of either element type.
pub(crate) fn tile_stats<T: Real>(tile: &[[T; GROUP]]) -> GroupStats {
    let flat = tile.as_flattened();
    match (T::as_f32(flat), T::as_f64(flat)) {
        (Some(f), _) => group_stats_f32(f.as_chunks::<GROUP>().0),
        (_, Some(d)) => group_stats_f64(d.as_chunks::<GROUP>().0),
        _ => unreachable!("f32 or f64"),
    }
}

/// Overwrites a tile of either element type (see [`TileWrite`]).
pub(crate) fn tile_write<T: Real>(tile: &mut [[T; GROUP]], s: &GroupStats, what: TileWrite<'_>) {
    let flat = tile.as_flattened_mut();
    if let Some(f) = T::as_f32_mut(flat) {
        return group_write_f32(f.as_chunks_mut::<GROUP>().0, s, what);
    }
    if let Some(d) = T::as_f64_mut(tile.as_flattened_mut()) {
        group_write_f64(d.as_chunks_mut::<GROUP>().0, s, what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::positive;
    use ndarray::{s, Array, ArrayD, IxDyn, ShapeBuilder};

    /// Every row of every task, in logical order, as (label, values).
    fn rows_of<'a>(
        src: Source<'a, f64>,
        labels: Option<ArrayViewD<'a, i64>>,
    ) -> Vec<(Option<i64>, Vec<f64>)> {
        let mut out = Vec::new();
        for mut t in tasks(src, labels) {
            for i in 0..t.block.nrows() {
                let values = match t.block.row(i) {
                    RowRef::Read(z) | RowRef::Write(z, _) => z.to_vec(),
                    RowRef::InPlace(z) => z.to_vec(),
                };
                out.push((t.labels.as_ref().map(|l| l[i]), values));
            }
        }
        out
    }

    fn check(v: ArrayViewD<'_, f64>) {
        let n = v.ndim();
        let batch = &v.shape()[..n - 1];
        let mut k = 0;
        let c_labels = Array::from_shape_fn(IxDyn(batch), |_| {
            k += 1;
            k
        });
        // the same labels stored in Fortran order
        let f_labels = {
            let mut a = ArrayD::<i64>::zeros(IxDyn(batch).f());
            a.assign(&c_labels);
            a
        };
        for lab in [c_labels.view(), f_labels.view()] {
            let want: Vec<(Option<i64>, Vec<f64>)> = v
                .lanes(Axis(n - 1))
                .into_iter()
                .zip(lab.iter())
                .map(|(l, &y)| (Some(y), l.to_vec()))
                .collect();
            assert_eq!(rows_of(Source::Read(v.clone()), Some(lab.clone())), want);
            let mut out = ArrayD::<f64>::zeros(v.raw_dim());
            assert_eq!(
                rows_of(Source::Write(v.clone(), out.view_mut()), Some(lab.clone())),
                want
            );
            let mut own = ArrayD::<f64>::zeros(v.raw_dim().f());
            own.assign(&v);
            assert_eq!(
                rows_of(Source::InPlace(own.view_mut()), Some(lab.clone())),
                want
            );
        }
        // the tiles are filled right on every layout: logsumexp against a row reference
        let lse = crate::measures::logsumexp::logsumexp(v.clone()).unwrap();
        for (got, lane) in lse.iter().zip(v.lanes(Axis(n - 1))) {
            let r = crate::kernels::softmax::reference_stats::<f64, f64>(&lane.to_vec(), None);
            let want = r.max + r.rest.ln_1p();
            assert!((got - want).abs() <= 1e-15 * want.abs(), "{got} vs {want}");
        }
    }

    #[test]
    fn tasks_cover_every_row_in_logical_order_for_any_layout() {
        let shape = [5usize, 1, 3, 4, 7];
        let base = Array::from_shape_vec(IxDyn(&shape), positive(420, 3)).unwrap();
        let fortran = {
            let mut a = ArrayD::<f64>::zeros(IxDyn(&shape).f());
            a.assign(&base);
            a
        };
        check(base.view());
        check(fortran.view());
        check(base.slice(s![..;2, .., ..;-1, 1.., ..]).into_dyn());
        check(base.view().permuted_axes(vec![4, 1, 2, 0, 3])); // torch-like: classes moved last
        check(base.view().permuted_axes(vec![3, 1, 2, 4, 0]));
        // a length-1 axis between axes that do not merge (found by the fuzz test)
        let odd = Array::from_shape_vec(IxDyn(&[5, 1, 3, 2]), positive(30, 9)).unwrap();
        check(odd.view().permuted_axes(vec![2, 1, 0, 3]));
        // broadcast rows (zero strides) and one row
        let row = Array::from_shape_vec(IxDyn(&[1, 6]), positive(6, 2)).unwrap();
        check(row.broadcast(IxDyn(&[4, 6])).unwrap());
        check(row.view());
    }
}
