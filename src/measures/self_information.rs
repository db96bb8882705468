//! Self-information I(p) = −ln p, elementwise, in the input's dtype.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use super::Options;
use crate::error::Error;
use crate::kernels::neg_log::{neg_log_in_place, neg_log_into};
use crate::kernels::{min_ignoring_nan, Real};
use crate::parallel::{run, BLOCK};
use rayon::prelude::*;

fn check(min: f64) -> Result<(), Error> {
    if min < 0.0 {
        Err(Error::Negative {
            arg: "p",
            value: min,
        })
    } else {
        Ok(())
    }
}

/// Writes −log_base(p) into `out` (same shape). Contiguous arrays of the same memory order
/// take the vector kernel in parallel blocks; other layouts an elementwise loop.
pub fn self_information_into<T: Real>(
    p: ArrayViewD<'_, T>,
    mut out: ArrayViewMutD<'_, T>,
    base: Option<f64>,
) -> Result<(), Error> {
    let ln_base = Options {
        normalize: false,
        base,
    }
    .ln_base()?;
    if p.shape() != out.shape() {
        return Err(Error::ShapeMismatch {
            first: "p",
            second: "out",
            first_shape: p.shape().to_vec(),
            second_shape: out.shape().to_vec(),
        });
    }
    let same_layout = p.strides() == out.strides();
    let min = match (p.as_slice_memory_order(), out.as_slice_memory_order_mut()) {
        (Some(src), Some(dst)) if same_layout => run(src.len(), |ctx| {
            let block = |(s, d): (&[T], &mut [T])| {
                if ctx.stopped() {
                    f64::INFINITY
                } else {
                    neg_log_into(s, d, ln_base)
                }
            };
            if ctx.fork {
                src.par_chunks(BLOCK)
                    .zip(dst.par_chunks_mut(BLOCK))
                    .map(block)
                    .reduce(|| f64::INFINITY, min_ignoring_nan)
            } else {
                src.chunks(BLOCK)
                    .zip(dst.chunks_mut(BLOCK))
                    .map(block)
                    .fold(f64::INFINITY, min_ignoring_nan)
            }
        })?,
        _ => {
            let mut min = f64::INFINITY;
            Zip::from(&mut out).and(&p).for_each(|o, &x| {
                let mut one = [T::default()];
                min = min_ignoring_nan(min, neg_log_into(&[x], &mut one, ln_base));
                *o = one[0];
            });
            min
        }
    };
    check(min)
}

/// Overwrites `x` with −log_base(x). A negative value is reported before anything is
/// written, so a refused call leaves `x` as it was.
pub fn self_information_in_place<T: Real>(
    mut x: ArrayViewMutD<'_, T>,
    base: Option<f64>,
) -> Result<(), Error> {
    let ln_base = Options {
        normalize: false,
        base,
    }
    .ln_base()?;
    check(
        x.iter()
            .fold(f64::INFINITY, |m, v| min_ignoring_nan(m, v.to_f64())),
    )?;
    let min = match x.as_slice_memory_order_mut() {
        Some(data) => run(data.len(), |ctx| {
            let block = |c: &mut [T]| {
                if ctx.stopped() {
                    f64::INFINITY
                } else {
                    neg_log_in_place(c, ln_base)
                }
            };
            if ctx.fork {
                data.par_chunks_mut(BLOCK)
                    .map(block)
                    .reduce(|| f64::INFINITY, min_ignoring_nan)
            } else {
                data.chunks_mut(BLOCK)
                    .map(block)
                    .fold(f64::INFINITY, min_ignoring_nan)
            }
        })?,
        None => {
            let mut min = f64::INFINITY;
            x.map_inplace(|v| {
                let mut one = [*v];
                min = min_ignoring_nan(min, neg_log_in_place(&mut one, ln_base));
                *v = one[0];
            });
            min
        }
    };
    check(min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array1};

    #[test]
    fn values_layouts_and_errors() {
        let p = arr1(&[1.0, 0.5, 0.0, f64::NAN]).into_dyn();
        let mut out = Array1::<f64>::zeros(4).into_dyn();
        self_information_into(p.view(), out.view_mut(), None).unwrap();
        assert_eq!(out[[0]], 0.0);
        assert_eq!(out[[1]], std::f64::consts::LN_2);
        assert_eq!(out[[2]], f64::INFINITY);
        assert!(out[[3]].is_nan());
        let reversed = p.slice(ndarray::s![..;-1]).into_dyn();
        let mut out2 = Array1::<f64>::zeros(4).into_dyn();
        self_information_into(reversed.view(), out2.view_mut(), Some(2.0)).unwrap();
        assert_eq!(out2[[2]], 1.0);
        let mut neg = arr1(&[0.5f32, -1.0]).into_dyn();
        assert!(self_information_in_place(neg.view_mut(), None).is_err());
    }
}
