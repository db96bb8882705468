//! logsumexp, log-softmax and softmax along the last axis, from one streaming pass per row
//! ([`crate::kernels::softmax`]): `logsumexp = m + log1p(Σ_{i≠argmax} exp(z_i − m))`.
//!
//! Rows run in parallel (each row's result depends on that row only, so any thread count
//! gives the same bits); a strided row is read in pieces of [`CHUNK`](crate::parallel::CHUNK) gathered on the
//! stack, so nothing the size of the input is ever allocated. Ctrl-C is checked between
//! rows and between pieces of `CHECK_ELEMENTS` of a long row (`RowStop`; the pieces
//! are multiples of the kernels' eight lanes, so the sums are bitwise those of one call).

use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD, IxDyn};

use super::{batch_shape, RowStop, CHECK_ELEMENTS};
use crate::error::Error;
use crate::kernels::softmax::{
    log_softmax_write, lse_feed_f64, lse_weighted_feed, softmax_write, LseLanes, LseRow64, RowStats,
};
use crate::kernels::softmax_f32::{lse_feed_f32, softmax_write_f32, LseLanes32};
use crate::kernels::softmax_rows::{tile_finish, TileWrite};
use crate::kernels::{Real, GROUP};
use crate::measures::loss_rows::{
    run_tasks, store_tile, tasks, tile_write, OneTile, RowRef, Source, Task, Tiles, SHORT,
};
use crate::parallel::output::Fresh;
use crate::parallel::{chunks_of, run, with_lane_chunk_mut, LanePieces};

/// Whether a long row's loop should stop before the piece starting at `start`.
#[inline]
pub(crate) fn piece_stop(start: usize, stop: &RowStop<'_>) -> bool {
    start > 0 && start.is_multiple_of(CHECK_ELEMENTS) && stop.piece()
}

/// The streaming statistics of one row (contiguous or strided); float32 rows take the
/// native f32 pass ([`crate::kernels::softmax_f32`]). A long row is fed in pieces of
/// [`CHECK_ELEMENTS`] (multiples of the kernels' blocks: bitwise one call) and stops early
/// (its value then discarded) once the call is stopped.
pub(crate) fn row_stats<T: Real>(z: &ArrayView1<'_, T>, stop: &RowStop<'_>) -> RowStats {
    if T::IS_F32 {
        let mut st = LseLanes32::EMPTY;
        let mut feed = |x: &[T]| lse_feed_f32(&mut st, T::as_f32(x).expect("f32"));
        feed_row(z, stop, &mut feed);
        return st.finish();
    }
    let mut st = LseRow64::EMPTY;
    let mut feed = |x: &[T]| lse_feed_f64(&mut st, T::as_f64(x).expect("f64"));
    feed_row(z, stop, &mut feed);
    st.finish()
}

/// Feeds a row to `feed` in pieces: slices of [`CHECK_ELEMENTS`] when contiguous, else
/// gathered pieces of [`CHUNK`](crate::parallel::CHUNK); stops between pieces when the call is stopped.
fn feed_row<T: Real>(z: &ArrayView1<'_, T>, stop: &RowStop<'_>, feed: &mut impl FnMut(&[T])) {
    if let Some(s) = z.as_slice() {
        for (i, piece) in s.chunks(CHECK_ELEMENTS).enumerate() {
            if i > 0 && stop.piece() {
                break;
            }
            feed(piece);
        }
    } else {
        let mut pieces = LanePieces::<T>::new(z.view());
        for r in chunks_of(z.len()) {
            if piece_stop(r.start, stop) {
                break;
            }
            feed(pieces.piece(r));
        }
    }
}

/// [`row_stats`] plus Σ u(m − z) and Σ u for u = ((t or 1)·a + b)·(w or 1).
pub(crate) fn row_stats_weighted<T: Real, U: Real>(
    z: &ArrayView1<'_, T>,
    t: Option<&ArrayView1<'_, U>>,
    w: Option<&[f64]>,
    a: f64,
    b: f64,
    stop: &RowStop<'_>,
) -> RowStats {
    let mut st = LseLanes::EMPTY;
    let mut zp = LanePieces::<T>::new(z.view());
    let mut tp = t.map(|t| LanePieces::<U>::new(t.view()));
    for r in chunks_of(z.len()) {
        if piece_stop(r.start, stop) {
            break;
        }
        let zs = zp.piece(r.clone());
        let ts = tp.as_mut().map(|t| t.piece(r.clone()));
        lse_weighted_feed(&mut st, zs, ts, w.map(|w| &w[r]), a, b);
    }
    st.finish()
}

/// Applies a row writer `f(src, dst, start)` (`dst` the elements `start..` of the output
/// lane, `src` the same elements of the input or None to read `dst` itself): on whole
/// slices of [`CHECK_ELEMENTS`] when the lanes are contiguous; else the input is copied
/// into the output and the output is written in place, piece by piece through a stack
/// buffer. Stops between pieces once the call is stopped.
pub(crate) fn write_row<T: Real>(
    src: Option<&ArrayView1<'_, T>>,
    lane: &mut ArrayViewMut1<'_, T>,
    f: impl Fn(Option<&[T]>, &mut [T], usize),
    stop: &RowStop<'_>,
) {
    let src_slice = match src {
        None => Some(None),
        Some(z) => z.as_slice().map(Some),
    };
    if let (Some(from), Some(dst)) = (src_slice, lane.as_slice_mut()) {
        for (i, x) in dst.chunks_mut(CHECK_ELEMENTS).enumerate() {
            let start = i * CHECK_ELEMENTS;
            if i > 0 && stop.piece() {
                return;
            }
            f(from.map(|z| &z[start..start + x.len()]), x, start);
        }
        return;
    }
    if let Some(z) = src {
        lane.assign(z);
    }
    for r in chunks_of(lane.len()) {
        if piece_stop(r.start, stop) {
            return;
        }
        let start = r.start;
        with_lane_chunk_mut(lane, r, |x| f(None, x, start));
    }
}

fn check<T>(x: &ArrayViewD<'_, T>) -> Result<Vec<usize>, Error> {
    batch_shape("x", x)
}

/// log Σ exp(x) of every row along the last axis (−inf for empty or all −inf rows).
pub fn logsumexp<T: Real>(x: ArrayViewD<'_, T>) -> Result<ArrayD<f64>, Error> {
    let batch = check(&x)?;
    let rows: usize = batch.iter().product();
    let elements = x.len();
    let classes = x.shape()[x.ndim() - 1];
    // Empty rows (no classes) give −inf, the log of an empty sum; `tasks` has none for
    // them. Other rows are all written by the tasks, on the pages their threads fault in.
    if classes == 0 {
        let out = vec![f64::NEG_INFINITY; rows];
        return Ok(ArrayD::from_shape_vec(IxDyn(&batch), out).expect("one value per row"));
    }
    let mut out = Fresh::new(rows);
    run(elements.max(rows), |ctx| {
        let stop = RowStop::new(ctx, classes);
        run_tasks(tasks(Source::Read(x), None), Some(&mut out), ctx, |t, o| {
            lse_task(t, o.expect("per-row output"), &stop)
        });
    })?;
    let out = out.into_values();
    Ok(ArrayD::from_shape_vec(IxDyn(&batch), out).expect("one value per row"))
}

/// The logsumexp of one contiguous row: the bits [`logsumexp`] gives for it (as a 1-D
/// view), without the batch machinery — the 1-D small-call path (issue #13).
pub fn logsumexp_contiguous<T: Real>(z: &[T]) -> Result<f64, Error> {
    match z.len() {
        0 => Ok(f64::NEG_INFINITY),
        c if c <= SHORT => Ok(logsumexp_one_tile(z, c)[0]),
        c => run(c, |ctx| {
            row_stats(&ArrayView1::from(z), &RowStop::new(ctx, c)).logsumexp()
        }),
    }
}

/// Whether C-ordered rows of `c` values, `rows` of them, fit the one-tile small-call path.
pub fn fits_one_tile(rows: usize, c: usize) -> bool {
    rows <= GROUP && (1..=SHORT).contains(&c)
}

/// The logsumexp of each of the C-ordered rows of `c` values in `z` ([`fits_one_tile`]):
/// the bits [`logsumexp`] gives them, without the batch machinery (the small-call path
/// of a batch of a few rows).
pub fn logsumexp_one_tile<T: Real>(z: &[T], c: usize) -> Vec<f64> {
    if c == 1 {
        // as `lse_task`: log e^z = z (+ 0.0 for −0.0)
        return z.iter().map(|v| v.to_f64() + 0.0).collect();
    }
    let rows = z.len() / c;
    OneTile::load(z, c).finish(None)[..rows].to_vec()
}

/// The logsumexp of every row of a task: tiles of short rows, else row by row.
fn lse_task<T: Real>(t: &mut Task<'_, T>, out: &mut [f64], stop: &RowStop<'_>) {
    let x = t.block.input();
    let (n, c) = x.dim();
    if c == 1 {
        // one class: log e^z = z (+ 0.0, as m + log1p(0) gives for −0.0)
        for (o, &v) in out.iter_mut().zip(x.iter()) {
            *o = v.to_f64() + 0.0;
        }
    } else if let Some(r) = t.block.tile_rows() {
        let mut tl = Tiles::<T>::new(r);
        for start in (0..n).step_by(tl.r) {
            let k = tl.r.min(n - start);
            tl.load(&x, start, k);
            tile_finish(&tl.max, &tl.rest, None, &mut tl.out);
            out[start..start + k].copy_from_slice(&tl.out[..k]);
        }
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            if stop.skip() {
                return;
            }
            *o = row_stats(&x.row(i), stop).logsumexp();
        }
    }
}

/// Which row transform to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    /// log-softmax: z − logsumexp(z).
    LogSoftmax,
    /// softmax: exp(z − logsumexp(z)).
    Softmax,
}

impl Normalizer {
    /// The tile kernels' name for this transform.
    fn tile_write(self) -> TileWrite<'static> {
        match self {
            Normalizer::LogSoftmax => TileWrite::LogSoftmax,
            Normalizer::Softmax => TileWrite::Softmax,
        }
    }
}

fn transform<T: Real>(
    src: Option<&ArrayView1<'_, T>>,
    lane: &mut ArrayViewMut1<'_, T>,
    s: RowStats,
    kind: Normalizer,
    stop: &RowStop<'_>,
) {
    match kind {
        Normalizer::LogSoftmax => {
            let c = s.rest.ln_1p();
            write_row(src, lane, |z, x, _| log_softmax_write(z, x, s.max, c), stop);
        }
        Normalizer::Softmax => write_row(
            src,
            lane,
            |z, x, _| match T::as_f32_mut(x) {
                Some(x) => softmax_write_f32(z.and_then(T::as_f32), x, s.max, 1.0 + s.rest),
                None => softmax_write(z, x, s.max, 1.0 + s.rest),
            },
            stop,
        ),
    }
}

/// Writes the log-softmax or softmax of every row of `x` into `out` (same shape).
pub fn normalize_into<T: Real>(
    x: ArrayViewD<'_, T>,
    out: ArrayViewMutD<'_, T>,
    kind: Normalizer,
) -> Result<(), Error> {
    check(&x)?;
    if x.shape() != out.shape() {
        return Err(Error::ShapeMismatch {
            first: "x",
            second: "out",
            first_shape: x.shape().to_vec(),
            second_shape: out.shape().to_vec(),
        });
    }
    let n = x.len();
    let classes = x.shape()[x.ndim() - 1];
    run(n, |ctx| {
        let stop = RowStop::new(ctx, classes);
        run_tasks(tasks(Source::Write(x, out), None), None, ctx, |t, _| {
            normalize_task(t, kind, &stop)
        });
    })
}

/// Writes the log-softmax or softmax of one contiguous row `z` into `out` (its length):
/// the bits [`normalize_into`] writes for it, without the batch machinery (the 1-D
/// small-call path).
pub fn normalize_contiguous<T: Real>(
    z: &[T],
    out: &mut [T],
    kind: Normalizer,
) -> Result<(), Error> {
    let c = z.len();
    if out.len() != c {
        return Err(Error::ShapeMismatch {
            first: "x",
            second: "out",
            first_shape: vec![c],
            second_shape: vec![out.len()],
        });
    }
    if c <= SHORT {
        if c > 0 {
            normalize_one_tile(z, c, out, kind);
        }
        return Ok(());
    }
    run(c, |ctx| {
        let stop = RowStop::new(ctx, c);
        let z = ArrayView1::from(z);
        let s = row_stats(&z, &stop);
        transform(Some(&z), &mut ArrayViewMut1::from(out), s, kind, &stop);
    })
}

/// Writes the log-softmax or softmax of each of the C-ordered rows of `c` values in `z`
/// ([`fits_one_tile`]) into `out` (the same layout): the bits [`normalize_into`] writes,
/// without the batch machinery (the small-call path of a batch of a few rows).
pub fn normalize_one_tile<T: Real>(z: &[T], c: usize, out: &mut [T], kind: Normalizer) {
    OneTile::load(z, c).write(kind.tile_write(), out);
}

/// The same in place: every row of `x` is overwritten with its log-softmax or softmax.
pub fn normalize_in_place<T: Real>(x: ArrayViewMutD<'_, T>, kind: Normalizer) -> Result<(), Error> {
    check(&x.view())?;
    let n = x.len();
    let len = x.shape()[x.ndim() - 1];
    run(n, |ctx| {
        let stop = RowStop::new(ctx, len);
        run_tasks(tasks(Source::InPlace(x), None), None, ctx, |t, _| {
            normalize_task(t, kind, &stop)
        });
    })
}

/// Writes the rows of a task: tiles of sixteen short rows, else row by row.
fn normalize_task<T: Real>(t: &mut Task<'_, T>, kind: Normalizer, stop: &RowStop<'_>) {
    let n = t.block.nrows();
    if let Some(r) = t.block.tile_rows() {
        let what = kind.tile_write();
        let mut tl = Tiles::<T>::new(r);
        for start in (0..n).step_by(tl.r) {
            let k = tl.r.min(n - start);
            tl.load(&t.block.input(), start, k);
            tile_write(&mut tl.tile, tl.r, &tl.max, &tl.rest, what);
            let mut o = t.block.output().expect("an output");
            store_tile(&mut o, start, k, tl.r, &tl.tile);
        }
        return;
    }
    for i in 0..n {
        if stop.skip() {
            return;
        }
        match t.block.row(i) {
            RowRef::Write(z, mut o) => {
                let s = row_stats(&z, stop);
                transform(Some(&z), &mut o, s, kind, stop);
            }
            RowRef::InPlace(mut z) => {
                let s = row_stats(&z.view(), stop);
                transform(None, &mut z, s, kind, stop);
            }
            RowRef::Read(_) => unreachable!("a normalization writes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array2};

    #[test]
    fn known_values_and_edge_rows() {
        let x = arr2(&[
            [0.0, -40.0],
            [f64::NEG_INFINITY, f64::NEG_INFINITY],
            [1e30, -1e30],
        ])
        .into_dyn();
        let l = logsumexp(x.view()).unwrap();
        assert_eq!(l[[0]], (-40f64).exp().ln_1p());
        assert_eq!(l[[1]], f64::NEG_INFINITY);
        assert_eq!(l[[2]], 1e30);
        let empty = Array2::<f32>::zeros((2, 0)).into_dyn();
        assert!(logsumexp(empty.view())
            .unwrap()
            .iter()
            .all(|&v| v == f64::NEG_INFINITY));
        let mut out = Array2::<f64>::zeros((3, 2)).into_dyn();
        normalize_into(x.view(), out.view_mut(), Normalizer::LogSoftmax).unwrap();
        assert!(out[[1, 0]].is_nan() && out[[1, 1]].is_nan());
        assert_eq!(out[[2, 0]], 0.0);
        assert_eq!(out[[2, 1]], -2e30);
        assert!(logsumexp(arr1(&[1.0]).into_dyn().index_axis(ndarray::Axis(0), 0)).is_err());
    }

    /// `logsumexp_contiguous` / `normalize_contiguous` against the batch path on the same
    /// row (its 1-D view), bit for bit: every tile tail, the tile/row-pass boundary, NaN
    /// and +inf rows, float32 and float64.
    #[test]
    fn one_contiguous_row_equals_the_batch_path_bitwise() {
        fn same<T: Real>(z: &[T]) {
            let view = ndarray::ArrayView1::from(z).into_dyn();
            let want = logsumexp(view.clone()).unwrap()[[]];
            let got = logsumexp_contiguous(z).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "logsumexp n={}", z.len());
            if z.is_empty() {
                return;
            }
            for kind in [Normalizer::LogSoftmax, Normalizer::Softmax] {
                let mut want = vec![T::default(); z.len()];
                let mut got = want.clone();
                let out = ndarray::ArrayViewMut1::from(&mut want[..]).into_dyn();
                normalize_into(view.clone(), out, kind).unwrap();
                normalize_contiguous(z, &mut got, kind).unwrap();
                let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{kind:?} n={}", z.len());
            }
        }
        for n in (0..=140).chain([300, 70_000]) {
            for seed in 0..3 {
                let mut z = crate::kernels::adversarial::logits(n, seed);
                if seed == 1 && n > 0 {
                    z[n / 2] = f64::NAN;
                }
                if seed == 2 && n > 0 {
                    z[n - 1] = f64::INFINITY;
                }
                same(&z);
                same(&z.iter().map(|&v| v as f32).collect::<Vec<_>>());
            }
        }
    }

    /// A batch of up to sixteen rows through one tile gives the batch path's bits.
    #[test]
    fn a_few_rows_in_one_tile_equal_the_batch_path_bitwise() {
        fn same<T: Real>(z: &[T], rows: usize, c: usize) {
            let view = ndarray::ArrayView2::from_shape((rows, c), z)
                .unwrap()
                .into_dyn();
            let want = logsumexp(view.clone()).unwrap();
            let got = logsumexp_one_tile(z, c);
            let bits = |v: &mut dyn Iterator<Item = f64>| v.map(f64::to_bits).collect::<Vec<_>>();
            assert_eq!(
                bits(&mut got.iter().copied()),
                bits(&mut want.iter().copied())
            );
            for kind in [Normalizer::LogSoftmax, Normalizer::Softmax] {
                let mut want = vec![T::default(); z.len()];
                let mut got = want.clone();
                let out = ndarray::ArrayViewMut2::from_shape((rows, c), &mut want[..]).unwrap();
                normalize_into(view.clone(), out.into_dyn(), kind).unwrap();
                normalize_one_tile(z, c, &mut got, kind);
                let wide = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                assert_eq!(wide(&got), wide(&want), "{kind:?} {rows}x{c}");
            }
        }
        for c in [1, 2, 3, 7, 10, 16, 17, 64, 128] {
            for rows in 0..=GROUP {
                assert!(fits_one_tile(rows, c));
                let mut z = crate::kernels::adversarial::logits(rows * c, (rows * c) as u64);
                if rows > 2 {
                    z[c] = f64::NAN;
                    z[2 * c] = f64::INFINITY;
                }
                same(&z, rows, c);
                same(&z.iter().map(|&v| v as f32).collect::<Vec<_>>(), rows, c);
            }
        }
        assert!(
            !fits_one_tile(GROUP + 1, 10) && !fits_one_tile(4, 0) && !fits_one_tile(4, SHORT + 1)
        );
    }

    #[test]
    fn strided_rows_equal_contiguous_rows_bitwise() {
        let data: Vec<f64> = crate::kernels::adversarial::positive(700 * 9, 4)
            .iter()
            .map(|v| v * 50.0 - 20.0)
            .collect();
        let a = Array2::from_shape_vec((9, 700), data).unwrap();
        let at = a.t().to_owned();
        let strided = at.t();
        let l1 = logsumexp(a.view().into_dyn()).unwrap();
        let l2 = logsumexp(strided.into_dyn()).unwrap();
        assert_eq!(l1, l2);
        let mut o1 = Array2::<f64>::zeros((9, 700));
        normalize_into(
            a.view().into_dyn(),
            o1.view_mut().into_dyn(),
            Normalizer::Softmax,
        )
        .unwrap();
        let mut o2 = at.clone();
        normalize_in_place(
            o2.view_mut().reversed_axes().into_dyn(),
            Normalizer::Softmax,
        )
        .unwrap();
        assert_eq!(o1, o2.t());
    }
}
