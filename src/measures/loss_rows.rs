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
    s, ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut1, ArrayViewMut2, ArrayViewMutD, Axis, Ix1,
    Ix2,
};
use rayon::prelude::*;

use crate::kernels::softmax_rows::{
    tile_finish, tile_stats_f32, tile_stats_f64, tile_write_f32, tile_write_f64, TileWrite,
};
use crate::kernels::{Real, GROUP};
use crate::parallel::output::{Fresh, Unwritten};
use crate::parallel::{tree_combine, BlockSum, Ctx, Sum, ROW_BLOCK};
use crate::simd::transpose::transpose;

/// Rows with adjacent classes up to this long are processed as tiles; longer ones row by
/// row (the streaming passes), whose per-row cost (~100 ns) is then below the tile
/// transposition's (~0.5 ns a value). Twice the engine's [`crate::parallel::rows::SHORT`]:
/// measured at 100 classes, tiles took half the time of the row pass.
pub(crate) const SHORT: usize = 2 * crate::parallel::rows::SHORT;

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

    /// Rows per tile when this block is processed as tiles, None for row by row: rows of
    /// at most [`SHORT`] classes, and any rows of the vertical layout (the rows adjacent,
    /// each class strided: row by row would read one cache line per value; tiles read a
    /// run of rows per class, with a larger tile).
    pub fn tile_rows(&self) -> Option<usize> {
        let x = self.input();
        let c = x.ncols();
        let vertical = x.nrows() > 1 && c > 1 && x.strides()[0] == 1;
        if vertical {
            // PERF: at least VERTICAL_MIN_ROWS rows (up to VERTICAL_MAX_ELEMENTS values):
            // with 16 rows a tile of 1000 classes read 64 bytes from each of 1000 pages, and
            // (1000, 10^4) axis=0 took twice the per-value time of (10, 10^6) axis=0.
            let budget =
                VERTICAL_TILE_ELEMENTS.max((VERTICAL_MIN_ROWS * c).min(VERTICAL_MAX_ELEMENTS));
            Some(rows_for(budget, c).min(whole_groups(x.nrows())))
        } else if c <= SHORT {
            Some(short_tile_rows(c, x.nrows()))
        } else {
            None
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

/// One task: a block of consecutive rows, their labels or target rows, the index of the
/// first row.
pub(crate) struct Task<'a, T, U = T> {
    /// The rows.
    pub block: Block<'a, T>,
    /// One label per row, for class-index losses.
    pub labels: Option<ArrayView1<'a, i64>>,
    /// One target row per row (class probabilities), split as the rows are.
    pub targets: Option<ArrayView2<'a, U>>,
    /// The logical index of the first row.
    pub first: usize,
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
    tasks_with(src, labels, None)
}

/// [`tasks`] with a target row per row (`targets`: the logits' shape).
pub(crate) fn tasks_with<'a, T: Copy, U: Copy>(
    src: Source<'a, T>,
    labels: Option<ArrayViewD<'a, i64>>,
    targets: Option<ArrayViewD<'a, U>>,
) -> Vec<Task<'a, T, U>> {
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
    if let Some(t) = &targets {
        strides.push(t.strides().to_vec());
    }
    let k = (0..=n)
        .find(|&k| strides.iter().all(|s| merges(&shape, s, k, n)))
        .unwrap_or(n);
    let classes = shape[n];
    // (at least VERTICAL_MIN_ROWS rows where that stays within VERTICAL_MAX_ELEMENTS, so a
    // vertical tile of many classes is not cut short by its task)
    let min_rows = if classes * VERTICAL_MIN_ROWS <= VERTICAL_MAX_ELEMENTS {
        VERTICAL_MIN_ROWS
    } else {
        1
    };
    let per_task = (TASK_ELEMENTS / classes.max(1))
        .max(min_rows)
        .div_ceil(GROUP)
        * GROUP;
    let groups = shape[..k].iter().product();
    let label_groups = companion_groups::<i64, Ix1>(labels, k, n, groups);
    let target_groups = companion_groups::<U, Ix2>(targets, k, n, groups);
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
    let mut first = 0;
    for ((block, labels), targets) in blocks.into_iter().zip(label_groups).zip(target_groups) {
        let (mut block, mut labels, mut targets) = (block, labels, targets);
        while block.nrows() > 0 {
            let take = per_task.min(block.nrows());
            let (head, tail) = block.split_at(take);
            let (lh, lt) = split_opt(labels, take);
            let (th, tt) = split_opt(targets, take);
            out.push(Task {
                block: head,
                labels: lh,
                targets: th,
                first,
            });
            first += take;
            block = tail;
            labels = lt;
            targets = tt;
        }
    }
    out
}

/// A view that may be absent.
type MaybeView<'a, A, D> = Option<ndarray::ArrayView<'a, A, D>>;

/// The labels or target rows beside the logits, split over the first `k` axes and merged
/// as the logits are (None for each of the `groups` blocks when there are none).
fn companion_groups<'a, A, D: ndarray::Dimension>(
    x: Option<ArrayViewD<'a, A>>,
    k: usize,
    n: usize,
    groups: usize,
) -> Vec<MaybeView<'a, A, D>> {
    match x {
        Some(x) => split_leading(x, k)
            .into_iter()
            .map(|g| merge_leading(g, n - k).into_dimensionality::<D>().ok())
            .collect(),
        None => (0..groups).map(|_| None).collect(),
    }
}

/// `x` split after its first `k` rows (both None when there is no `x`).
fn split_opt<A, D: ndarray::RemoveAxis>(
    x: MaybeView<'_, A, D>,
    k: usize,
) -> (MaybeView<'_, A, D>, MaybeView<'_, A, D>) {
    match x {
        Some(x) => {
            let (a, b) = x.split_at(Axis(0), k);
            (Some(a), Some(b))
        }
        None => (None, None),
    }
}

/// Runs `f(task, results)` on every task (in parallel when `ctx.fork`), `results` the
/// task's slice of `per_row` (one value per row, logical order, zeroed by the thread that
/// runs the task) when given; returns what `f` returns, in task order. Tasks after an
/// interruption are skipped (`R::default()`). The tasks must cover `per_row`'s rows.
pub(crate) fn run_tasks<T: Real, U: Real, R: Send + Default>(
    tasks: Vec<Task<'_, T, U>>,
    per_row: Option<&mut Fresh>,
    ctx: Ctx<'_>,
    f: impl Fn(&mut Task<'_, T, U>, Option<&mut [f64]>) -> R + Sync,
) -> Vec<R> {
    match per_row {
        Some(fresh) => fresh.write_with(|mut rest| {
            let mut outs = Vec::with_capacity(tasks.len());
            for t in &tasks {
                let (head, tail) = rest.split_at(t.block.nrows());
                outs.push(Some(head));
                rest = tail;
            }
            assert!(rest.is_empty(), "the tasks cover every row");
            run_each(tasks, outs, ctx, &f)
        }),
        None => {
            let outs = std::iter::repeat_with(|| None).take(tasks.len()).collect();
            run_each(tasks, outs, ctx, &f)
        }
    }
}

/// [`run_tasks`] once each task has its slots.
fn run_each<T: Real, U: Real, R: Send + Default>(
    tasks: Vec<Task<'_, T, U>>,
    outs: Vec<Option<Unwritten<'_>>>,
    ctx: Ctx<'_>,
    f: &(impl Fn(&mut Task<'_, T, U>, Option<&mut [f64]>) -> R + Sync),
) -> Vec<R> {
    let one = |(mut t, o): (Task<'_, T, U>, Option<Unwritten<'_>>)| {
        // zeroed even when stopped: the result counts as written only if every slot is
        let o = o.map(Unwritten::init);
        if ctx.stopped() {
            R::default()
        } else {
            f(&mut t, o)
        }
    };
    if ctx.fork && tasks.len() > 1 {
        tasks.into_par_iter().zip(outs).map(one).collect()
    } else {
        tasks.into_iter().zip(outs).map(one).collect()
    }
}

/// `rows` rounded up to whole groups (at least one): a tile never holds more rows than its
/// block. PERF: every tile step (statistics, finish, writers) runs over the whole tile, so
/// a (10, 10) call with the budget's 408-row tile spent 60% of its 5.6 µs on padding.
fn whole_groups(rows: usize) -> usize {
    rows.max(1).next_multiple_of(GROUP)
}

/// Rows per tile of `c` classes for a budget of `elements` values: a multiple of
/// [`GROUP`], at least one group, at most 1024 rows.
fn rows_for(elements: usize, c: usize) -> usize {
    (elements / c.max(1) / GROUP * GROUP).clamp(GROUP, 1024)
}

/// Rows per tile of short rows (`c` ≤ [`SHORT`] classes) for a block of `rows` rows, as
/// the loss family's tasks take them.
pub(crate) fn short_tile_rows(c: usize, rows: usize) -> usize {
    rows_for(TILE_ELEMENTS, c).min(whole_groups(rows))
}

/// Values per tile (4 KiB of f32, 8 KiB of f64: L1-resident between the passes over it,
/// beside the rows being transposed in and the values fetched ahead). Measured against
/// 4096 (both wheels in one process, called in turn, minima of 9–11 calls, (N, C) of 10^7
/// values): one thread, float32 softmax cross-entropy C = 10 14.4 → 13.0 ms, float64 26.9
/// → 24.9, logsumexp float64 24.4 → 24.3, log_softmax float64 38.8 → 37.6; two threads,
/// float32 logsumexp C = 10 7.8–9.0 → 7.7–7.9 ms, float64 14.4–16.6 → 13.0–13.9, softmax
/// cross-entropy float64 16.6–17.0 → 16.4–16.5. 512 was no better (C = 10 softmax
/// cross-entropy 13.4–14.1).
const TILE_ELEMENTS: usize = 1024;
/// Values per tile of the vertical layout (more rows per class run), unless
/// [`VERTICAL_MIN_ROWS`] asks for more. 2048 against 16384 (both wheels in one process,
/// called in turn, minima of nine calls, (C, N) arrays of 10^7 values along axis 0, new ÷
/// old): two threads, logsumexp float64 C = 10 0.88, float32 C = 100 0.94, softmax CE
/// float32 C = 10 0.85, with the gradient 0.94, log_softmax float64 C = 10 0.88; one
/// thread 0.86–0.90 on the first three; 4096 and 8192 in between; C = 3 unchanged.
const VERTICAL_TILE_ELEMENTS: usize = 2048;
/// Rows per vertical tile (and per task) at least, for many classes: runs of 128 values per
/// class (512 bytes of f32) instead of 16.
const VERTICAL_MIN_ROWS: usize = 128;
/// The largest vertical tile (512 KiB of f32, 1 MiB of f64: L2-resident).
const VERTICAL_MAX_ELEMENTS: usize = 1 << 17;

/// Transposes rows `start..start + n` (n ≤ r) of `x` into the tile `tile[k·r + j]` (class
/// k of row j); rows n..r keep what they hold (their results are not used).
pub(crate) fn load_tile<T: Real>(
    x: &ArrayView2<'_, T>,
    start: usize,
    n: usize,
    r: usize,
    tile: &mut Vec<T>,
) {
    let c = x.ncols();
    if tile.len() != c * r {
        tile.clear();
        tile.resize(c * r, T::default());
    }
    let rows = x.slice(s![start..start + n, ..]);
    if let Some(xs) = rows.to_slice() {
        // the rows are one run (classes adjacent, rows back to back)
        if c == 1 {
            tile[..n].copy_from_slice(xs);
        } else {
            transpose(xs, c, n, c, tile, r);
        }
        return;
    }
    if x.strides()[0] == 1 {
        // the vertical layout (a transposed (C, N) array): each class is a run of rows
        for (k, col) in x.columns().into_iter().enumerate() {
            if let Some(cs) = col.to_slice() {
                tile[k * r..k * r + n].copy_from_slice(&cs[start..start + n]);
            } else {
                for (j, &v) in col.slice(s![start..start + n]).iter().enumerate() {
                    tile[k * r + j] = v;
                }
            }
        }
        return;
    }
    for j in 0..n {
        for (k, &v) in x.row(start + j).iter().enumerate() {
            tile[k * r + j] = v;
        }
    }
}

/// Writes the tile back to rows `start..start + n` of `o`.
pub(crate) fn store_tile<T: Real>(
    o: &mut ArrayViewMut2<'_, T>,
    start: usize,
    n: usize,
    r: usize,
    tile: &[T],
) {
    let c = o.ncols();
    let vertical = o.strides()[0] == 1;
    let mut rows = o.slice_mut(s![start..start + n, ..]);
    if let Some(os) = rows.as_slice_mut() {
        transpose(tile, r, c, n, os, c);
        return;
    }
    if vertical {
        for (k, mut col) in rows.columns_mut().into_iter().enumerate() {
            match col.as_slice_mut() {
                Some(cs) => cs.copy_from_slice(&tile[k * r..k * r + n]),
                None => {
                    for (j, v) in col.iter_mut().enumerate() {
                        *v = tile[k * r + j];
                    }
                }
            }
        }
        return;
    }
    for j in 0..n {
        for (k, slot) in rows.row_mut(j).iter_mut().enumerate() {
            *slot = tile[k * r + j];
        }
    }
}

/// The row maxima and rests of a tile of either element type.
pub(crate) fn tile_stats<T: Real>(tile: &[T], r: usize, max: &mut [f64], rest: &mut [f64]) {
    if let Some(f) = T::as_f32(tile) {
        tile_stats_f32(f, r, max, rest);
    } else if let Some(d) = T::as_f64(tile) {
        tile_stats_f64(d, r, max, rest);
    }
}

/// Overwrites a tile of either element type (see [`TileWrite`]).
pub(crate) fn tile_write<T: Real>(
    tile: &mut [T],
    r: usize,
    max: &[f64],
    rest: &[f64],
    what: TileWrite<'_>,
) {
    if let Some(f) = T::as_f32_mut(tile) {
        return tile_write_f32(f, r, max, rest, what);
    }
    if let Some(d) = T::as_f64_mut(tile) {
        tile_write_f64(d, r, max, rest, what);
    }
}

/// Reusable per-task buffers of the tile path: the tile and its per-row statistics.
pub(crate) struct Tiles<T> {
    /// Rows per tile.
    pub r: usize,
    /// The tile (class-major).
    pub tile: Vec<T>,
    /// Row maxima.
    pub max: Vec<f64>,
    /// Row rests.
    pub rest: Vec<f64>,
    /// A per-row output (logsumexp, losses).
    pub out: Vec<f64>,
}

impl<T: Real> Tiles<T> {
    /// Buffers for tiles of `r` rows (a multiple of [`GROUP`]).
    pub fn new(r: usize) -> Self {
        Tiles {
            r,
            tile: Vec::new(),
            max: vec![0.0; r],
            rest: vec![0.0; r],
            out: vec![0.0; r],
        }
    }

    /// Loads rows `start..start + n` of `x` and computes their statistics.
    pub fn load(&mut self, x: &ArrayView2<'_, T>, start: usize, n: usize) {
        load_tile(x, start, n, self.r, &mut self.tile);
        tile_stats(&self.tile, self.r, &mut self.max, &mut self.rest);
    }
}

/// Up to [`GROUP`] C-ordered rows as the tile path holds them: lanes 0.. of one tile of
/// [`GROUP`] rows (the other lanes zero, as a batch of so few rows leaves them), with their
/// statistics. Lanes never mix, so the values are the ones those rows get in any batch —
/// for the small-call paths (one 1-D row, a batch of a few rows), without the tasks, views
/// and per-task buffers of a batch (~0.4 µs of a 10-logit call).
pub(crate) struct OneTile<T> {
    tile: Vec<T>,
    rows: usize,
    max: [f64; GROUP],
    rest: [f64; GROUP],
}

impl<T: Real> OneTile<T> {
    /// The tile of the rows of `c` values in `z` (at most [`GROUP`] rows of at most
    /// [`SHORT`] values, `c` ≥ 1) and their statistics.
    pub fn load(z: &[T], c: usize) -> Self {
        let rows = z.len() / c;
        let mut tile = vec![T::default(); c * GROUP];
        for (j, row) in z.chunks_exact(c).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                tile[k * GROUP + j] = v;
            }
        }
        let (mut max, mut rest) = ([0.0; GROUP], [0.0; GROUP]);
        tile_stats(&tile, GROUP, &mut max, &mut rest);
        OneTile {
            tile,
            rows,
            max,
            rest,
        }
    }

    /// Each row's logsumexp, or with `sub` (z_y of each row) its loss
    /// (max − z_y) + log1p(rest), as [`tile_finish`] gives them (the first `rows` lanes).
    pub fn finish(&self, sub: Option<&[f64; GROUP]>) -> [f64; GROUP] {
        let mut out = [0.0; GROUP];
        tile_finish(&self.max, &self.rest, sub.map(|s| &s[..]), &mut out);
        out
    }

    /// Writes the rows' log-softmax or softmax (`what`) into `out` (C-ordered, as `z`).
    pub fn write(mut self, what: TileWrite<'_>, out: &mut [T]) {
        tile_write(&mut self.tile, GROUP, &self.max, &self.rest, what);
        let c = out.len() / self.rows.max(1);
        for (j, row) in out.chunks_exact_mut(c.max(1)).enumerate() {
            for (k, o) in row.iter_mut().enumerate() {
                *o = self.tile[k * GROUP + j];
            }
        }
    }
}

/// Running sums of per-row values over the global fixed blocks of [`ROW_BLOCK`] rows:
/// each block's values added in row order as a [`BlockSum`] (continuing across the pieces
/// a task feeds), one (block, sum) piece per block touched.
#[derive(Debug, Default)]
pub(crate) struct BlockAcc {
    pieces: Vec<(usize, BlockSum)>,
}

impl BlockAcc {
    /// Adds `values`, the rows `row..row + values.len()` (logical indices), in order.
    pub fn push(&mut self, row: usize, values: &[f64]) {
        let mut i = 0;
        while i < values.len() {
            let b = (row + i) / ROW_BLOCK;
            let end = ((b + 1) * ROW_BLOCK - row).min(values.len());
            if !matches!(self.pieces.last(), Some(&(last, _)) if last == b) {
                self.pieces.push((b, BlockSum::default()));
            }
            let (_, sum) = self.pieces.last_mut().expect("pushed above");
            sum.add_all(&values[i..end]);
            i = end;
        }
    }

    /// The pieces, in row order.
    pub fn into_pieces(self) -> Vec<(usize, f64)> {
        self.pieces
            .into_iter()
            .map(|(b, s)| (b, s.total()))
            .collect()
    }
}

/// The total of per-row values from the block sums of every task (in task order): the
/// pieces of one block added in row order, the blocks combined by [`tree_combine`] — the
/// order of [`crate::parallel::fixed_sum`] exactly when no block is split between tasks
/// (every C- or F-ordered input), and a fixed order otherwise: never thread-dependent.
pub(crate) fn total(pieces: impl IntoIterator<Item = (usize, f64)>) -> f64 {
    let mut blocks: Vec<(usize, Sum)> = Vec::new();
    for (b, v) in pieces {
        match blocks.last_mut() {
            Some((last, acc)) if *last == b => acc.0 += v,
            _ => blocks.push((b, Sum(v))),
        }
    }
    let sums: Vec<Sum> = blocks.into_iter().map(|(_, s)| s).collect();
    tree_combine(&sums).0
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
