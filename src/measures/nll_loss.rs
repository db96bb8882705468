//! Negative log-likelihood loss on log-probabilities (torch.nn.functional.nll_loss):
//! `loss_i = −w_{y_i}·log_probs[i, y_i]`, ignored targets contribute 0, "mean" divides by
//! Σ w_y over non-ignored targets (NaN when all are ignored). No pass over the classes:
//! one element is read per row, so it is O(N) work and memory.
//!
//! `nll_loss(log(p), y)` with `p = [.3, .3, .4], y = 2` is exactly `−ln 0.4` (the log is
//! read, negated and divided by 1 — no rounding added).

use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD, Axis, Zip};

use super::softmax_cross_entropy::{
    check_common, check_label_shape, check_labels, class_of, reduce, Reduction,
};
use super::RowStop;
use crate::error::Error;
use crate::kernels::Real;
use crate::parallel::run;

fn row_loss<T: Real>(
    lp: &ArrayView1<'_, T>,
    y: i64,
    ignore_index: i64,
    weight: Option<&[f64]>,
) -> f64 {
    if y == ignore_index {
        return 0.0;
    }
    // Validated by `check_labels`, but looked up with a bounds check: another thread may
    // have rewritten the label since (a NaN loss then, never a panic).
    match class_of(y, lp.len()).and_then(|c| Some((c, lp.get(c)?.to_f64()))) {
        Some((c, v)) => -(weight_of(weight, c) * v),
        None => f64::NAN,
    }
}

/// `weight[c]` (1 without weights; NaN if `c` is out of range, which validation excludes).
fn weight_of(weight: Option<&[f64]>, c: usize) -> f64 {
    weight.map_or(1.0, |w| w.get(c).copied().unwrap_or(f64::NAN))
}

fn write_grad<T: Real>(
    g: &mut ArrayViewMut1<'_, T>,
    y: i64,
    ignore_index: i64,
    weight: Option<&[f64]>,
    scale: f64,
) {
    g.fill(T::default());
    if y != ignore_index {
        if let Some(c) = class_of(y, g.len()) {
            g[c] = T::from_f64(-(weight_of(weight, c) * scale));
        }
    }
}

/// The loss of every row along the last axis of `log_probs`, reduced; with `grad`, its
/// gradient d(loss)/d(log_probs) is written there (the shape of `log_probs`).
pub fn nll_loss<T: Real>(
    log_probs: ArrayViewD<'_, T>,
    target: ArrayViewD<'_, i64>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    reduction: Reduction,
    grad: Option<ArrayViewMutD<'_, T>>,
) -> Result<ArrayD<f64>, Error> {
    let classes = check_common("log_probs", &log_probs, weight, 0.0)?;
    check_label_shape(&log_probs, &target)?;
    let denominator = check_labels(&target, classes, ignore_index, weight)?;
    let axis = Axis(log_probs.ndim() - 1);
    // One element read per row: rows in the pool when there are many; Ctrl-C every 2^16.
    let losses = run(target.len(), |call| {
        let stop = RowStop::new(call, 1);
        let zip = Zip::from(log_probs.lanes(axis)).and(&target);
        crate::zip_map_collect!(call.fork, zip, |lp: ArrayView1<'_, T>, &y: &i64| {
            if stop.skip() {
                return f64::NAN;
            }
            row_loss(&lp, y, ignore_index, weight)
        })
    })?;
    if let Some(g) = grad {
        if g.shape() != log_probs.shape() {
            return Err(Error::ShapeMismatch {
                first: "log_probs",
                second: "grad_out",
                first_shape: log_probs.shape().to_vec(),
                second_shape: g.shape().to_vec(),
            });
        }
        let scale = if reduction == Reduction::Mean {
            1.0 / denominator
        } else {
            1.0
        };
        write_grads(g, &target, weight, ignore_index, scale)?;
    }
    Ok(reduce(losses, reduction, denominator))
}

/// [`nll_loss`] with the gradient written over `log_probs` itself.
pub fn nll_loss_in_place<T: Real>(
    log_probs: ArrayViewMutD<'_, T>,
    target: ArrayViewD<'_, i64>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<ArrayD<f64>, Error> {
    let result = nll_loss(
        log_probs.view(),
        target.view(),
        weight,
        ignore_index,
        reduction,
        None,
    )?;
    let classes = log_probs.shape()[log_probs.ndim() - 1];
    let denominator = check_labels(&target, classes, ignore_index, weight)?;
    let scale = if reduction == Reduction::Mean {
        1.0 / denominator
    } else {
        1.0
    };
    write_grads(log_probs, &target, weight, ignore_index, scale)?;
    Ok(result)
}

/// Writes the gradient of every row of `g` (the last axis), rows in the pool when there
/// are many elements, with Ctrl-C checks between them.
fn write_grads<T: Real>(
    mut g: ArrayViewMutD<'_, T>,
    target: &ArrayViewD<'_, i64>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    scale: f64,
) -> Result<(), Error> {
    let axis = Axis(g.ndim() - 1);
    let len = g.len_of(axis);
    run(g.len(), |call| {
        let stop = RowStop::new(call, len);
        let zip = Zip::from(g.lanes_mut(axis)).and(target);
        let f = |mut g: ArrayViewMut1<'_, T>, &y: &i64| {
            if !stop.skip() {
                write_grad(&mut g, y, ignore_index, weight, scale);
            }
        };
        if call.fork {
            zip.par_for_each(f)
        } else {
            zip.for_each(f)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

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
}
