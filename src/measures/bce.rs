//! Binary cross-entropy with logits over arrays of any shape (torch's
//! `binary_cross_entropy_with_logits`), elementwise kernel in [`crate::kernels::bce`].
//!
//! `weight` and `pos_weight` arrive broadcast to the logits' shape (zero strides, no copy)
//! or None (1). When the logits, targets and any gradient output are C-contiguous and the
//! weights absent, full-shaped and C-contiguous, or one per class broadcast over the rows,
//! the elements are one run cut into fixed blocks ([`flat`]). Otherwise rows along the last
//! axis run in parallel; each row is read in pieces (strided parts gathered on the stack)
//! into eight lane sums carried across the pieces, and the row sums are added over fixed
//! blocks of rows. Either way deterministic for any thread count (the two layouts may
//! differ in the last bits of a "sum"/"mean": their additions are grouped differently).
//! "mean" divides by the number of elements.

use std::ops::Range;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD, Axis, IxDyn, Zip};
use rayon::prelude::*;

use super::logsumexp::piece_stop;
use super::softmax_cross_entropy::{reduce, Reduction};
use super::RowStop;
use crate::error::Error;
use crate::kernels::bce::{bce_feed, BcePiece};
use crate::kernels::{Real, LANES};
use crate::parallel::{
    chunks_of, run, tree_combine, with_lane_chunk_mut, LanePieces, Sum, BLOCK, CHUNK,
};

/// The inputs, all of one shape.
pub struct BceInputs<'a, T, U> {
    /// Logits.
    pub logits: ArrayViewD<'a, T>,
    /// Targets.
    pub target: ArrayViewD<'a, U>,
    /// Elementwise weights (broadcast), or None.
    pub weight: Option<ArrayViewD<'a, f64>>,
    /// Positive-class weights (broadcast), or None.
    pub pos_weight: Option<ArrayViewD<'a, f64>>,
}

/// Rows up to this long gather their strided pieces (and the broadcast `weight` /
/// `pos_weight`, strided always) into buffers of this size instead of [`CHUNK`]: zeroing
/// four 256-element buffers per row took 28% of a (10^6, 2) call.
const SHORT_ROW: usize = 16;

/// [`row`] with gather buffers sized for the row's length (the same pieces either way).
#[allow(clippy::too_many_arguments)]
#[inline]
fn any_row<T: Real, U: Real>(
    z: ArrayView1<'_, T>,
    t: ArrayView1<'_, U>,
    w: ArrayView1<'_, f64>,
    pw: ArrayView1<'_, f64>,
    lo: ArrayViewMut1<'_, T>,
    go: ArrayViewMut1<'_, T>,
    scale: f64,
    stop: &RowStop<'_>,
) -> f64 {
    if z.len() <= SHORT_ROW {
        row::<T, U, SHORT_ROW>(z, t, w, pw, lo, go, scale, stop)
    } else {
        row::<T, U, CHUNK>(z, t, w, pw, lo, go, scale, stop)
    }
}

/// One row's loss sum, read in pieces of [`CHUNK`] elements (`N`: the gather buffers'
/// length, at least the row's or [`CHUNK`]).
#[allow(clippy::too_many_arguments)]
fn row<T: Real, U: Real, const N: usize>(
    z: ArrayView1<'_, T>,
    t: ArrayView1<'_, U>,
    w: ArrayView1<'_, f64>,
    pw: ArrayView1<'_, f64>,
    mut lo: ArrayViewMut1<'_, T>,
    mut go: ArrayViewMut1<'_, T>,
    scale: f64,
    stop: &RowStop<'_>,
) -> f64 {
    let mut acc = [0.0; LANES];
    if stop.skip() {
        return f64::NAN;
    }
    let mut zp = LanePieces::<T, N>::new(z);
    let mut tp = LanePieces::<U, N>::new(t);
    let mut wp = LanePieces::<f64, N>::new(w);
    let mut pp = LanePieces::<f64, N>::new(pw);
    let (want_loss, want_grad) = (!lo.is_empty(), !go.is_empty());
    for r in chunks_of(z.len()) {
        if piece_stop(r.start, stop) {
            break;
        }
        let zs = zp.piece(r.clone());
        let ts = tp.piece(r.clone());
        let ws = wp.piece(r.clone());
        let ps = pp.piece(r.clone());
        let piece =
            |loss_out: Option<&mut [T]>, grad_out: Option<&mut [T]>, acc: &mut [f64; LANES]| {
                bce_feed(
                    acc,
                    BcePiece {
                        z: zs,
                        t: ts,
                        w: Some(ws),
                        pw: Some(ps),
                        loss_out,
                        grad_out,
                    },
                    scale,
                )
            };
        match (want_loss, want_grad) {
            (false, false) => piece(None, None, &mut acc),
            (true, false) => with_lane_chunk_mut(&mut lo, r, |l| piece(Some(l), None, &mut acc)),
            (false, true) => with_lane_chunk_mut(&mut go, r, |g| piece(None, Some(g), &mut acc)),
            (true, true) => with_lane_chunk_mut(&mut lo, r.clone(), |l| {
                with_lane_chunk_mut(&mut go, r, |g| piece(Some(l), Some(g), &mut acc))
            }),
        }
    }
    lane_tree(&acc)
}

/// The loss (elementwise in the logits' dtype for "none", else a 0-d f64 array) and, with
/// `grad`, d(loss)/d(logits) written there.
pub enum BceLoss<T> {
    /// Reduction "none": one loss per element, the logits' dtype.
    Elementwise(ArrayD<T>),
    /// "mean" or "sum".
    Reduced(f64),
}

/// Binary cross-entropy with logits (see the module docs).
pub fn binary_cross_entropy_with_logits<T: Real, U: Real>(
    inputs: BceInputs<'_, T, U>,
    reduction: Reduction,
    grad: Option<ArrayViewMutD<'_, T>>,
) -> Result<BceLoss<T>, Error> {
    let BceInputs {
        logits,
        target,
        weight,
        pos_weight,
    } = inputs;
    let shape = logits.shape().to_vec();
    if shape.is_empty() {
        return Err(Error::NoAxis { arg: "logits" });
    }
    let same = |second: &'static str, s: &[usize]| {
        if s == shape.as_slice() {
            Ok(())
        } else {
            Err(Error::ShapeMismatch {
                first: "logits",
                second,
                first_shape: shape.clone(),
                second_shape: s.to_vec(),
            })
        }
    };
    same("target", target.shape())?;
    let one = [1.0f64];
    let ones = ArrayView1::from(&one[..]).into_dyn();
    let ones = ones
        .broadcast(IxDyn(&shape))
        .ok_or(Error::NoAxis { arg: "logits" })?;
    let w = weight.clone().unwrap_or_else(|| ones.view());
    let pw = pos_weight.clone().unwrap_or_else(|| ones.view());
    same("weight", w.shape())?;
    same("pos_weight", pw.shape())?;
    let mut grad = grad;
    if let Some(g) = &grad {
        same("grad_out", g.shape())?;
    }
    let n = logits.len();
    let scale = if reduction == Reduction::Mean {
        1.0 / n as f64
    } else {
        1.0
    };
    if let Some(total) = flat(
        &logits,
        &target,
        weight.as_ref(),
        pos_weight.as_ref(),
        grad.as_mut(),
        reduction,
        scale,
    )? {
        return Ok(total);
    }
    let axis = Axis(shape.len() - 1);
    let mut batch = shape.clone();
    *batch.last_mut().expect("ndim ≥ 1") = 0;
    // Outputs not asked for are arrays with rows of length 0 (no allocation).
    let mut loss_out = ArrayD::<T>::default(if reduction == Reduction::None {
        IxDyn(&shape)
    } else {
        IxDyn(&[])
    });
    let mut no_grad = ArrayD::<T>::default(IxDyn(&batch));
    let mut grad_view = match grad.as_mut() {
        Some(g) => g.view_mut(),
        None => no_grad.view_mut(),
    };
    let sums = run(n, |ctx| {
        let fork = ctx.fork;
        let stop = &RowStop::new(ctx, shape[shape.len() - 1]);
        let inputs = Zip::from(logits.lanes(axis))
            .and(target.lanes(axis))
            .and(w.lanes(axis))
            .and(pw.lanes(axis));
        if reduction == Reduction::None {
            // Per-row sums are not needed: the elementwise losses are the result.
            let zip = inputs
                .and(loss_out.lanes_mut(axis))
                .and(grad_view.lanes_mut(axis));
            let f = |z, t, w, pw, lo, go| {
                any_row(z, t, w, pw, lo, go, scale, stop);
            };
            if fork {
                zip.par_for_each(f)
            } else {
                zip.for_each(f)
            }
            None
        } else {
            let zip = inputs.and(grad_view.lanes_mut(axis));
            let f = |z, t, w, pw, go| {
                any_row(
                    z,
                    t,
                    w,
                    pw,
                    ArrayViewMut1::from(&mut [][..]),
                    go,
                    scale,
                    stop,
                )
            };
            Some(crate::zip_map_collect!(fork, zip, f))
        }
    })?;
    Ok(match reduction {
        Reduction::None => BceLoss::Elementwise(loss_out),
        r => BceLoss::Reduced(reduce(sums.unwrap_or_default(), r, n as f64)[[]]),
    })
}

/// The loss over C-contiguous inputs (weights absent or C-contiguous too; a gradient
/// output C-contiguous) as one run of elements in fixed blocks of [`BLOCK`]: an elementwise
/// loss has no rows to walk (PERF: row by row, (10^6, 10) float32 took ~18 ns a value, (10^6,
/// 2) ~57). Each block's lane sums are combined in the fixed lane tree, the blocks by
/// [`tree_combine`]: the same bits for any thread count. None when the layout does not
/// allow it (the row path then runs).
fn flat<T: Real, U: Real>(
    logits: &ArrayViewD<'_, T>,
    target: &ArrayViewD<'_, U>,
    weight: Option<&ArrayViewD<'_, f64>>,
    pos_weight: Option<&ArrayViewD<'_, f64>>,
    grad: Option<&mut ArrayViewMutD<'_, T>>,
    reduction: Reduction,
    scale: f64,
) -> Result<Option<BceLoss<T>>, Error> {
    let (Some(z), Some(t), Some(w), Some(pw)) = (
        logits.as_slice(),
        target.as_slice(),
        FlatWeights::of(weight, logits.shape()),
        FlatWeights::of(pos_weight, logits.shape()),
    ) else {
        return Ok(None);
    };
    let grad = match grad {
        None => None,
        Some(g) => match g.as_slice_mut() {
            Some(g) => Some(g),
            None => return Ok(None),
        },
    };
    let n = z.len();
    let elementwise = reduction == Reduction::None;
    let mut loss_out = ArrayD::<T>::default(IxDyn(if elementwise { logits.shape() } else { &[] }));
    let blocks = n.div_ceil(BLOCK);
    fn split<T>(out: Option<&mut [T]>, blocks: usize) -> Vec<Option<&mut [T]>> {
        match out {
            Some(o) => o.chunks_mut(BLOCK).map(Some).collect(),
            None => (0..blocks).map(|_| None).collect(),
        }
    }
    let work: Vec<_> = split(loss_out.as_slice_mut().filter(|_| elementwise), blocks)
        .into_iter()
        .zip(split(grad, blocks))
        .enumerate()
        .collect();
    let sums = run(n, |ctx| {
        let one = |(b, (lo, go)): (usize, OutPieces<'_, T>)| {
            if ctx.stopped() {
                return Sum(f64::NAN);
            }
            let r = b * BLOCK..((b + 1) * BLOCK).min(n);
            let mut acc = [0.0; LANES];
            let piece = BcePiece {
                z: &z[r.clone()],
                t: &t[r.clone()],
                w: w.piece(r.clone()),
                pw: pw.piece(r.clone()),
                loss_out: lo,
                grad_out: go,
            };
            bce_feed(&mut acc, piece, scale);
            Sum(lane_tree(&acc))
        };
        let parts: Vec<Sum> = if ctx.fork && blocks > 1 {
            work.into_par_iter().map(one).collect()
        } else {
            work.into_iter().map(one).collect()
        };
        tree_combine(&parts).0
    })?;
    Ok(Some(match reduction {
        Reduction::None => BceLoss::Elementwise(loss_out),
        Reduction::Sum => BceLoss::Reduced(sums),
        Reduction::Mean => BceLoss::Reduced(sums / n as f64),
    }))
}

/// A block's pieces of the elementwise-loss and gradient outputs (each may be absent).
type OutPieces<'o, T> = (Option<&'o mut [T]>, Option<&'o mut [T]>);

/// Weights of the flat path, in element order.
enum FlatWeights<'v> {
    /// None given: ones.
    Ones,
    /// Full-shaped and C-contiguous.
    Full(&'v [f64]),
    /// One weight per class broadcast over the rows (torch's `pos_weight` of shape (C,)):
    /// the C weights repeated to [`BLOCK`] + C values, so a block starting at element s
    /// reads them from s mod C on.
    PerClass(Vec<f64>),
}

impl<'v> FlatWeights<'v> {
    /// None when the layout is neither (the row path then runs).
    fn of(x: Option<&'v ArrayViewD<'_, f64>>, shape: &[usize]) -> Option<Self> {
        let Some(x) = x else {
            return Some(Self::Ones);
        };
        if x.shape() != shape {
            return None;
        }
        if let Some(s) = x.as_slice() {
            return Some(Self::Full(s));
        }
        let nd = shape.len();
        let c = shape[nd - 1];
        let per_class = x.strides()[..nd - 1].iter().all(|&s| s == 0)
            && (c == 1 || x.strides()[nd - 1] == 1)
            && (1..=BLOCK).contains(&c);
        if !per_class {
            return None;
        }
        let row: Vec<f64> = x.lanes(Axis(nd - 1)).into_iter().next()?.to_vec();
        Some(Self::PerClass(
            row.iter().copied().cycle().take(BLOCK + c).collect(),
        ))
    }

    /// The weights of elements `r` (r within one block), None for ones.
    fn piece(&self, r: Range<usize>) -> Option<&[f64]> {
        match self {
            Self::Ones => None,
            Self::Full(w) => Some(&w[r]),
            Self::PerClass(tiled) => {
                let c = tiled.len() - BLOCK;
                let s = r.start % c;
                Some(&tiled[s..s + r.len()])
            }
        }
    }
}

/// The fixed lane tree of `F8::sum_lanes`.
fn lane_tree(acc: &[f64; LANES]) -> f64 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn extreme_logits_are_finite_and_match_the_formula() {
        let z = arr2(&[[80.0f64, -80.0, 0.0, 1e30]]).into_dyn();
        let t = arr2(&[[0.25, 0.5, 1.0, 0.0]]).into_dyn();
        let r = binary_cross_entropy_with_logits(
            BceInputs {
                logits: z.view(),
                target: t.view(),
                weight: None,
                pos_weight: None,
            },
            Reduction::None,
            None,
        )
        .unwrap();
        let BceLoss::Elementwise::<f64>(l) = r else {
            panic!("elementwise")
        };
        assert!((l[[0, 0]] - (80.0 - 20.0)).abs() < 1e-12);
        assert!((l[[0, 1]] - 40.0).abs() < 1e-12);
        assert!((l[[0, 2]] - std::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(l[[0, 3]], 1e30);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let z = arr2(&[[0.3, -1.2, 2.5], [4.0, -0.1, 0.0]]).into_dyn();
        let t = arr2(&[[0.2, 1.0, 0.0], [0.7, 0.4, 1.0]]).into_dyn();
        let pwv = ndarray::arr1(&[0.5, 2.0, 3.0]).into_dyn();
        let pw = pwv.broadcast(IxDyn(&[2, 3])).unwrap();
        let f = |z: &ArrayD<f64>| match binary_cross_entropy_with_logits(
            BceInputs {
                logits: z.view(),
                target: t.view(),
                weight: None,
                pos_weight: Some(pw.view()),
            },
            Reduction::Mean,
            None,
        )
        .unwrap()
        {
            BceLoss::Reduced(v) => v,
            BceLoss::Elementwise(_) => unreachable!(),
        };
        let mut g = ndarray::Array2::<f64>::zeros((2, 3)).into_dyn();
        binary_cross_entropy_with_logits(
            BceInputs {
                logits: z.view(),
                target: t.view(),
                weight: None,
                pos_weight: Some(pw.view()),
            },
            Reduction::Mean,
            Some(g.view_mut()),
        )
        .unwrap();
        for i in 0..2 {
            for j in 0..3 {
                let (mut a, mut b) = (z.clone(), z.clone());
                a[[i, j]] += 1e-6;
                b[[i, j]] -= 1e-6;
                let fd = (f(&a) - f(&b)) / 2e-6;
                assert!((fd - g[[i, j]]).abs() < 1e-8, "{fd} vs {}", g[[i, j]]);
            }
        }
    }
}
