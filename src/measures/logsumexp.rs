//! logsumexp, log-softmax and softmax along the last axis, from one streaming pass per row
//! ([`crate::kernels::softmax`]): `logsumexp = m + log1p(Σ_{i≠argmax} exp(z_i − m))`.
//!
//! Rows run in parallel (each row's result depends on that row only, so any thread count
//! gives the same bits); a strided row is read in pieces of [`CHUNK`] gathered on the
//! stack, so nothing the size of the input is ever allocated. Ctrl-C is checked between
//! rows and between pieces of `CHECK_ELEMENTS` of a long row (`RowStop`; the pieces
//! are multiples of the kernels' eight lanes, so the sums are bitwise those of one call).

use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD, Axis, Zip};

use super::{batch_shape, RowStop, CHECK_ELEMENTS};
use crate::error::Error;
use crate::kernels::softmax::{
    log_softmax_in_place, lse_feed, lse_weighted_feed, softmax_in_place, LseLanes, RowStats,
};
use crate::kernels::Real;
use crate::parallel::{chunks_of, lane_chunk, run, with_lane_chunk_mut, CHUNK};

/// Whether a long row's loop should stop before the piece starting at `start`.
#[inline]
pub(crate) fn piece_stop(start: usize, stop: &RowStop<'_>) -> bool {
    start > 0 && start.is_multiple_of(CHECK_ELEMENTS) && stop.piece()
}

/// The streaming statistics of one row (contiguous or strided); a long row stops early
/// (its value then discarded) once the call is stopped.
pub(crate) fn row_stats<T: Real>(z: &ArrayView1<'_, T>, stop: &RowStop<'_>) -> RowStats {
    let mut st = LseLanes::EMPTY;
    if let Some(s) = z.as_slice() {
        for (i, piece) in s.chunks(CHECK_ELEMENTS).enumerate() {
            if i > 0 && stop.piece() {
                break;
            }
            lse_feed(&mut st, piece);
        }
    } else {
        let mut buf = [T::default(); CHUNK];
        for r in chunks_of(z.len()) {
            if piece_stop(r.start, stop) {
                break;
            }
            lse_feed(&mut st, lane_chunk(z, r, &mut buf));
        }
    }
    st.finish()
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
    let (mut zb, mut tb) = ([T::default(); CHUNK], [U::default(); CHUNK]);
    for r in chunks_of(z.len()) {
        if piece_stop(r.start, stop) {
            break;
        }
        let zs = lane_chunk(z, r.clone(), &mut zb);
        let ts = t.map(|t| lane_chunk(t, r.clone(), &mut tb));
        lse_weighted_feed(&mut st, zs, ts, w.map(|w| &w[r]), a, b);
    }
    st.finish()
}

/// Applies an in-place row writer to a mutable lane, piece by piece.
fn write_lane<T: Real>(lane: &mut ArrayViewMut1<'_, T>, f: impl Fn(&mut [T]), stop: &RowStop<'_>) {
    for r in chunks_of(lane.len()) {
        if piece_stop(r.start, stop) {
            break;
        }
        with_lane_chunk_mut(lane, r, &f);
    }
}

fn check<T>(x: &ArrayViewD<'_, T>) -> Result<Vec<usize>, Error> {
    batch_shape("x", x)
}

/// log Σ exp(x) of every row along the last axis (−inf for empty or all −inf rows).
pub fn logsumexp<T: Real>(x: ArrayViewD<'_, T>) -> Result<ArrayD<f64>, Error> {
    check(&x)?;
    let axis = Axis(x.ndim() - 1);
    run(x.len(), |ctx| {
        let fork = ctx.fork;
        let stop = RowStop::new(ctx, x.len_of(axis));
        crate::zip_map_collect!(fork, Zip::from(x.lanes(axis)), |z: ArrayView1<'_, T>| {
            if stop.skip() {
                return f64::NAN;
            }
            row_stats(&z, &stop).logsumexp()
        })
    })
}

/// Which row transform to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    /// log-softmax: z − logsumexp(z).
    LogSoftmax,
    /// softmax: exp(z − logsumexp(z)).
    Softmax,
}

fn transform<T: Real>(
    lane: &mut ArrayViewMut1<'_, T>,
    s: RowStats,
    kind: Normalizer,
    stop: &RowStop<'_>,
) {
    match kind {
        Normalizer::LogSoftmax => {
            let c = s.rest.ln_1p();
            write_lane(lane, |x| log_softmax_in_place(x, s.max, c), stop);
        }
        Normalizer::Softmax => write_lane(lane, |x| softmax_in_place(x, s.max, 1.0 + s.rest), stop),
    }
}

/// Writes the log-softmax or softmax of every row of `x` into `out` (same shape).
pub fn normalize_into<T: Real>(
    x: ArrayViewD<'_, T>,
    mut out: ArrayViewMutD<'_, T>,
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
    let axis = Axis(x.ndim() - 1);
    run(x.len(), |ctx| {
        let fork = ctx.fork;
        let stop = RowStop::new(ctx, x.len_of(axis));
        let zip = Zip::from(x.lanes(axis)).and(out.lanes_mut(axis));
        let f = |z: ArrayView1<'_, T>, mut o: ArrayViewMut1<'_, T>| {
            if stop.skip() {
                return;
            }
            let s = row_stats(&z, &stop);
            o.assign(&z);
            transform(&mut o, s, kind, &stop);
        };
        if fork {
            zip.par_for_each(f)
        } else {
            zip.for_each(f)
        }
    })
}

/// The same in place: every row of `x` is overwritten with its log-softmax or softmax.
pub fn normalize_in_place<T: Real>(
    mut x: ArrayViewMutD<'_, T>,
    kind: Normalizer,
) -> Result<(), Error> {
    check(&x.view())?;
    let axis = Axis(x.ndim() - 1);
    let n = x.len();
    let len = x.len_of(axis);
    run(n, |ctx| {
        let fork = ctx.fork;
        let stop = RowStop::new(ctx, len);
        let zip = Zip::from(x.lanes_mut(axis));
        let f = |mut z: ArrayViewMut1<'_, T>| {
            if stop.skip() {
                return;
            }
            let s = row_stats(&z.view(), &stop);
            transform(&mut z, s, kind, &stop);
        };
        if fork {
            zip.par_for_each(f)
        } else {
            zip.for_each(f)
        }
    })
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
        assert!(logsumexp(arr1(&[1.0]).into_dyn().index_axis(Axis(0), 0)).is_err());
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
