//! Additive smoothing (Laplace / Lidstone, `smoothing=α`) for the normalised measures, and
//! the population stability index PSI = Σ (P − Q)·ln(P/Q) = KL(P‖Q) + KL(Q‖P).
//!
//! With α > 0 every element of p (and q) is read as `x + α` before normalisation — a
//! histogram's empty bin gets a pseudocount, so KL / PSI stay finite. Each row is read
//! once into a per-thread buffer of one row (`x + α`, widened to f64) and handed to the
//! exact per-row form of the measure ([`RowMeasure::row`]): memory is one row per thread,
//! never an N×C temporary. `axis=None` reads the whole array as that one row (so it
//! holds a widened copy of the array: the one case that needs memory of the input's
//! size). Negative inputs are rejected on the values before the pseudocount.
//!
//! Rows run in parallel (a row's value depends on the row only: any thread count gives the
//! same bits); Ctrl-C is checked between rows.

use std::cell::RefCell;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, Zip};

use super::cross_entropy::CrossEntropy;
use super::js::{distance, JensenShannon};
use super::kl::Divergence;
use super::{batch_shape, same_shape, RowStop};
use crate::error::Error;
use crate::kernels::Real;
use crate::parallel::rows::RowMeasure;
use crate::parallel::run;

/// The measures that take `smoothing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smoothed {
    /// H(P) (q is p).
    Entropy,
    /// H(P, Q).
    CrossEntropy,
    /// D(P‖Q).
    Kl,
    /// Jensen–Shannon divergence.
    Js,
    /// √ of the Jensen–Shannon divergence.
    JsDistance,
    /// Population stability index D(P‖Q) + D(Q‖P).
    Psi,
}

impl Smoothed {
    /// The value (nats) of one pair of smoothed rows.
    fn nats(self, p: &[f64], q: &[f64]) -> f64 {
        let kl = Divergence { normalize: true };
        match self {
            Smoothed::Entropy | Smoothed::CrossEntropy => {
                RowMeasure::<f64, f64>::row(&CrossEntropy { normalize: true }, p, q).0
            }
            Smoothed::Kl => RowMeasure::<f64, f64>::row(&kl, p, q).0,
            Smoothed::Js | Smoothed::JsDistance => {
                RowMeasure::<f64, f64>::row(&JensenShannon { normalize: true }, p, q).0
            }
            // a + b is commutative in floating point: PSI(p, q) == PSI(q, p) bitwise
            Smoothed::Psi => {
                RowMeasure::<f64, f64>::row(&kl, p, q).0 + RowMeasure::<f64, f64>::row(&kl, q, p).0
            }
        }
    }

    fn value(self, nats: f64, ln_base: f64) -> f64 {
        match self {
            Smoothed::JsDistance => distance(nats / ln_base),
            _ => nats / ln_base,
        }
    }
}

thread_local! {
    /// One row of p + α and of q + α, reused by the rows this thread computes.
    static BUFFERS: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Fills `buf` with `x + alpha` (widened); returns min(0, smallest x) (NaN ignored).
fn fill<'a, T: Real + 'a>(x: impl Iterator<Item = &'a T>, alpha: f64, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    let mut lowest = 0.0f64;
    for &v in x {
        let v = v.to_f64();
        if v < lowest {
            lowest = v;
        }
        buf.push(v + alpha);
    }
    lowest
}

/// (value, lowest p, lowest q) of one pair of rows.
pub(crate) fn one_pair<'a, T: Real + 'a, U: Real + 'a>(
    p: impl Iterator<Item = &'a T>,
    q: Option<impl Iterator<Item = &'a U>>,
    alpha: f64,
    kind: Smoothed,
    ln_base: f64,
) -> [f64; 3] {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (pb, qb) = &mut *b;
        let lp = fill(p, alpha, pb);
        let (lq, qs): (f64, &[f64]) = match q {
            Some(q) => (fill(q, alpha, qb), qb),
            None => (lp, pb),
        };
        [kind.value(kind.nats(pb, qs), ln_base), lp, lq]
    })
}

pub(crate) fn check_negative(
    lowest_p: f64,
    lowest_q: f64,
    q_name: &'static str,
) -> Result<(), Error> {
    if lowest_p < 0.0 {
        return Err(Error::Negative {
            arg: "p",
            value: lowest_p,
        });
    }
    if lowest_q < 0.0 {
        return Err(Error::Negative {
            arg: q_name,
            value: lowest_q,
        });
    }
    Ok(())
}

pub(crate) fn check_alpha(alpha: f64) -> Result<(), Error> {
    if alpha >= 0.0 && alpha.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidSmoothing { value: alpha })
    }
}

/// `kind` of every (pair of) distribution(s) along the last axis, each element read as
/// `x + alpha`, normalised. `q` is ignored for [`Smoothed::Entropy`].
pub fn rows<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    kind: Smoothed,
    alpha: f64,
    ln_base: f64,
) -> Result<ArrayD<f64>, Error> {
    check_alpha(alpha)?;
    let one = kind == Smoothed::Entropy;
    if !one {
        same_shape(&p, &q)?;
    }
    batch_shape("p", &p)?;
    let axis = Axis(p.ndim() - 1);
    let len = p.len_of(axis);
    let results = run(p.len(), |ctx| {
        let fork = ctx.fork;
        let stop = RowStop::new(ctx, len);
        if one {
            crate::zip_map_collect!(fork, Zip::from(p.lanes(axis)), |x: ArrayView1<'_, T>| {
                if stop.skip() {
                    return [f64::NAN, 0.0, 0.0];
                }
                one_pair(
                    x.iter(),
                    None::<std::slice::Iter<'_, U>>,
                    alpha,
                    kind,
                    ln_base,
                )
            })
        } else {
            let zip = Zip::from(p.lanes(axis)).and(q.lanes(axis));
            crate::zip_map_collect!(fork, zip, |x: ArrayView1<'_, T>, y: ArrayView1<'_, U>| {
                if stop.skip() {
                    return [f64::NAN, 0.0, 0.0];
                }
                one_pair(x.iter(), Some(y.iter()), alpha, kind, ln_base)
            })
        }
    })?;
    let (lp, lq) = results.iter().fold((0.0f64, 0.0f64), |(a, b), r| {
        (
            if r[1] < a { r[1] } else { a },
            if r[2] < b { r[2] } else { b },
        )
    });
    check_negative(lp, lq, "q")?;
    Ok(results.mapv(|r| r[0]))
}

/// The same for the whole of `p` (and `q`) as one distribution (`axis=None`).
pub fn whole<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    kind: Smoothed,
    alpha: f64,
    ln_base: f64,
) -> Result<f64, Error> {
    check_alpha(alpha)?;
    let one = kind == Smoothed::Entropy;
    if !one {
        same_shape(&p, &q)?;
    }
    let r = run(p.len(), |_| {
        if one {
            one_pair(
                p.iter(),
                None::<std::slice::Iter<'_, U>>,
                alpha,
                kind,
                ln_base,
            )
        } else {
            one_pair(p.iter(), Some(q.iter()), alpha, kind, ln_base)
        }
    })?;
    check_negative(r[1], r[2], "q")?;
    Ok(r[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    fn kl(p: &[f64], q: &[f64]) -> f64 {
        let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
        p.iter()
            .zip(q)
            .filter(|(&a, _)| a > 0.0)
            .map(|(&a, &b)| a / sp * ((a / sp) / (b / sq)).ln())
            .sum()
    }

    #[test]
    fn psi_is_the_sum_of_both_divergences_and_symmetric() {
        let p = arr2(&[[10.0, 20.0, 30.0, 0.0], [1.0, 1.0, 1.0, 1.0]]);
        let q = arr2(&[[12.0, 18.0, 25.0, 5.0], [1.0, 2.0, 3.0, 4.0]]);
        let a = rows(
            p.view().into_dyn(),
            q.view().into_dyn(),
            Smoothed::Psi,
            0.5,
            1.0,
        )
        .unwrap();
        let b = rows(
            q.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Psi,
            0.5,
            1.0,
        )
        .unwrap();
        assert_eq!(a, b);
        for r in 0..2 {
            let ps: Vec<f64> = p.row(r).iter().map(|v| v + 0.5).collect();
            let qs: Vec<f64> = q.row(r).iter().map(|v| v + 0.5).collect();
            let want = kl(&ps, &qs) + kl(&qs, &ps);
            assert!((a[[r]] - want).abs() <= 1e-14 * want);
        }
        // without smoothing, an empty bin on one side only: +inf
        let z = rows(
            p.view().into_dyn(),
            q.view().into_dyn(),
            Smoothed::Psi,
            0.0,
            1.0,
        )
        .unwrap();
        assert_eq!(z[[0]], f64::INFINITY);
        assert!(z[[1]].is_finite());
    }

    #[test]
    fn smoothing_entropy_and_errors() {
        let p = arr1(&[3.0f32, 0.0, 1.0]);
        let h = rows(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Entropy,
            1.0,
            1.0,
        )
        .unwrap();
        let want = -[4.0f64, 1.0, 2.0]
            .iter()
            .map(|v| v / 7.0 * (v / 7.0f64).ln())
            .sum::<f64>();
        assert!((h[[]] - want).abs() <= 1e-15 * want);
        let w = whole(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Entropy,
            1.0,
            1.0,
        )
        .unwrap();
        assert_eq!(w, h[[]]);
        let bad = arr1(&[0.5, -0.25]);
        let e = rows(
            bad.view().into_dyn(),
            p.view().into_dyn().mapv(f64::from).view(),
            Smoothed::Entropy,
            1.0,
            1.0,
        );
        assert_eq!(
            e.unwrap_err(),
            Error::Negative {
                arg: "p",
                value: -0.25
            }
        );
        let e = rows(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Kl,
            f64::NAN,
            1.0,
        );
        assert!(matches!(e, Err(Error::InvalidSmoothing { .. })));
        let e = rows(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Kl,
            -1.0,
            1.0,
        );
        assert!(matches!(e, Err(Error::InvalidSmoothing { .. })));
    }
}
