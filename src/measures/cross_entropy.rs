//! Cross-entropy H(P, Q) = −Σ P ln Q, and Shannon entropy H(P) = H(P, P).
//!
//! With `normalize` (P = p/Σp, Q = q/Σq) every row goes through the exact forms of
//! [`crate::kernels::plogq`]: two passes for rows that fit in cache, one pass (checked,
//! with a second pass only where it would cancel) for long ones. Without `normalize` the
//! raw sum −Σ p ln q is returned (scipy.special's `entr`/`rel_entr` sums).
//!
//! Entropy is this code with q = p: `cross_entropy(p, p)` is `entropy(p)` bit for bit.

use ndarray::{ArrayD, ArrayViewD};

use super::{
    float32_pairs, normalized_adjacent, one_contiguous, per_row, per_row_of_views, whole, Options,
};
use crate::error::Error;
use crate::kernels::pairs_f32::{self, CrossEntropyPairs};
use crate::kernels::plogq;
use crate::kernels::plogq_raw::{self, RAW_MAX_COND_F32};
use crate::kernels::two_pass::{self, Lowest, Sums};
use crate::kernels::{Real, GROUP};
use crate::parallel::rows::{Block, IntoChecked, Long, RowMeasure, Rows, TINY};

/// The cross-entropy row measure (nats), normalised or raw.
pub(crate) struct CrossEntropy {
    pub normalize: bool,
}

impl<T: Real, U: Real> RowMeasure<T, U> for CrossEntropy {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        if self.normalize {
            plogq::group::<T, U>(p, q, out, regular)
        } else {
            plogq_raw::group::<U>(p, q, out, regular)
        }
    }

    fn adjacent(
        &self,
        p: Block<'_, T>,
        q: Block<'_, U>,
        len: usize,
        out: &mut [f64],
    ) -> Option<(usize, Lowest)> {
        if self.normalize && len == 2 {
            return Some(pairs_f32::adjacent::<CrossEntropyPairs>(
                float32_pairs(p)?,
                float32_pairs(q)?,
                out,
            ));
        }
        normalized_adjacent(
            self.normalize,
            Some(plogq::f32_tiles_from(len)),
            (p, q),
            len,
            out,
            plogq::adjacent,
        )
    }

    fn own_length_up_to(&self) -> usize {
        if self.normalize {
            plogq::closed_forms_up_to::<T, U>()
        } else {
            TINY
        }
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        if self.normalize {
            plogq::row(p, q)
        } else {
            raw(p, q, U::IS_F32)
        }
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        if !self.normalize {
            let o = x.reduce(|p, q| plogq::one_pass_with_logs(p, q, U::IS_F32));
            if !(o.sums.sp + o.sums.sq).is_finite() {
                let v = x.reduce(|p, q| Sum(raw_careful(p, q)));
                return (v.0, o.sums.min);
            }
            if !U::IS_F32 || o.a <= RAW_MAX_COND_F32 * o.w.abs() {
                return (raw_value(&o), o.sums.min);
            }
            let o = x.reduce(|p, q| plogq::one_pass_with_logs(p, q, false));
            return (raw_value(&o), o.sums.min);
        }
        let o = x.reduce(|p, q| plogq::one_pass(p, q));
        let min = o.sums.min;
        if let Some(v) = plogq::finish_one_pass(&o, U::IS_F32, x.len()) {
            return (v, min);
        }
        if o.sums.regular() {
            let k = plogq::consts(&o.sums);
            let t = x.reduce(|p, q| plogq::terms(p, q, &k));
            return (plogq::finish(&k, &t), min);
        }
        (careful_long(x, &o.sums), min)
    }
}

/// −Σ p ln q from one-pass partials (+inf where some q = 0 < p).
fn raw_value(o: &plogq::OnePass) -> f64 {
    if o.zero_q {
        f64::INFINITY
    } else {
        0.0 - o.w
    }
}

/// The raw sum of one row; f32 logs only where the sum does not cancel.
fn raw<T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> (f64, Lowest) {
    let o = plogq::one_pass_with_logs(p, q, f32_logs);
    if !(o.sums.sp + o.sums.sq).is_finite() {
        return (raw_careful(p, q), o.sums.min);
    }
    if f32_logs && o.a > RAW_MAX_COND_F32 * o.w.abs() {
        return raw(p, q, false);
    }
    (raw_value(&o), o.sums.min)
}

/// −Σ p ln q term by term with `f64::ln` for rows holding ±inf or NaN: 0 where p = 0
/// (NaN where q is NaN), +inf where q = 0 < p, −inf where q = +inf.
fn raw_careful<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a.to_f64(), b.to_f64());
            if a == 0.0 {
                if b.is_nan() {
                    f64::NAN
                } else {
                    0.0
                }
            } else {
                -a * b.ln()
            }
        })
        .sum()
}

/// A plain sum as block partials.
#[derive(Clone, Copy)]
struct Sum(f64);

impl crate::kernels::Partial for Sum {
    const EMPTY: Self = Sum(0.0);
    fn combine(self, o: Self) -> Self {
        Sum(self.0 + o.0)
    }
}

/// The maxima of p and q (for the rescaling of [`careful_long`]).
#[derive(Clone, Copy)]
struct Maxima(f64, f64);

impl crate::kernels::Partial for Maxima {
    const EMPTY: Self = Maxima(0.0, 0.0);
    fn combine(self, o: Self) -> Self {
        Maxima(self.0.max(o.0), self.1.max(o.1))
    }
}

/// A long distribution that is not regular: NaN for NaN, an infinite mass or a zero
/// total; otherwise both sides are rescaled by the powers of two that bring their
/// largest values near 1 (block by block — no copy of the input) and the two-pass form
/// runs on them. Rare: infinite or subnormal totals.
fn careful_long<T: Real, U: Real>(x: &Long<'_, '_, T, U>, sums: &Sums) -> f64 {
    if sums.sp.is_nan() || sums.sq.is_nan() {
        return f64::NAN;
    }
    let m = x.reduce(|p, q| {
        let max = |v: &mut f64, w: f64| {
            if w > *v || w.is_nan() {
                *v = w
            }
        };
        let mut out = Maxima(0.0, 0.0);
        p.iter().for_each(|&v| max(&mut out.0, v.to_f64()));
        q.iter().for_each(|&v| max(&mut out.1, v.to_f64()));
        out
    });
    if !(m.0.is_finite() && m.1.is_finite() && m.0 > 0.0 && m.1 > 0.0) {
        return f64::NAN;
    }
    let factor = |m: f64| {
        let k = -(m.log2().floor() as i32);
        (2f64.powi(k / 2), 2f64.powi(k - k / 2))
    };
    let (fp, fq) = (factor(m.0), factor(m.1));
    let scaled = |p: &[T], q: &[U]| -> (Vec<f64>, Vec<f64>) {
        (
            p.iter().map(|&v| v.to_f64() * fp.0 * fp.1).collect(),
            q.iter().map(|&v| v.to_f64() * fq.0 * fq.1).collect(),
        )
    };
    let s = x.reduce(|p, q| {
        let (ps, qs) = scaled(p, q);
        two_pass::sums(&ps, &qs)
    });
    if !s.regular() {
        return f64::NAN;
    }
    let k = plogq::consts(&s);
    let t = x.reduce(|p, q| {
        let (ps, qs) = scaled(p, q);
        plogq::terms(&ps, &qs, &k)
    });
    plogq::finish(&k, &t)
}

/// Cross-entropy of every pair of distributions along the last axis of `p` and `q`.
pub fn cross_entropy<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<ArrayD<f64>, Error> {
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    per_row_of_views(&p, &q, &m, opts, "q")
}

/// Cross-entropy of `p` and `q` (equal shapes, any strides) each read whole as one
/// distribution (`axis=None`), without copying.
pub fn cross_entropy_whole<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<f64, Error> {
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    whole(&p, &q, &m, opts, "q")
}

/// Cross-entropy of one contiguous distribution each (see [`super::one_contiguous`]).
pub fn cross_entropy_contiguous<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    opts: &Options,
) -> Result<f64, Error> {
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    one_contiguous(p, q, &m, opts, "q")
}

/// Cross-entropy of ragged rows `p[offsets[r]..offsets[r+1]]` against the same rows of `q`.
pub fn cross_entropy_ragged<'a, T: Real, U: Real>(
    p: &'a [T],
    q: &'a [U],
    offsets: impl IntoChecked<'a>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    let o = offsets.into_checked(p.len())?;
    let (pr, qr) = (Rows::ragged(p, o)?, Rows::ragged(q, o)?);
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    per_row(&pr, &qr, &m, p.len(), opts, "q")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array2};

    #[test]
    fn the_seed_example_and_identities() {
        let opts = Options::default();
        let h = cross_entropy(
            arr1(&[0.0, 0.0, 1.0]).into_dyn().view(),
            arr1(&[0.3, 0.3, 0.4]).into_dyn().view(),
            &opts,
        )
        .unwrap();
        assert_eq!(h[[]], 0.916290731874155);
        let p = Array2::from_shape_fn((50, 7), |(i, j)| ((i * 7 + j) % 11) as f64 + 0.5);
        let ce = cross_entropy(p.view().into_dyn(), p.view().into_dyn(), &opts).unwrap();
        let h = super::super::entropy::entropy(p.view().into_dyn(), &opts).unwrap();
        assert_eq!(ce, h);
    }

    #[test]
    fn negative_input_is_named() {
        let err = cross_entropy(
            arr1(&[0.5, 0.5]).into_dyn().view(),
            arr1(&[0.5, -0.5]).into_dyn().view(),
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "q",
                value: -0.5
            }
        );
    }
}
