//! KL divergence D(P‖Q) = Σ P ln(P/Q) (normalised, scipy.stats.entropy(p, q)) or the raw
//! Σ p ln(p/q) (`normalize=False`, scipy.special.rel_entr summed), on the row engine with
//! the exact forms of [`crate::kernels::kl`]: two passes for rows that fit in cache, one
//! checked pass for long rows (a second only where the totals of p and q disagree enough
//! to cancel). `kl_divergence(p, p)` is exactly 0 at any scale.

use ndarray::{ArrayD, ArrayViewD};

use super::Options;
use super::{float32_pairs, normalized_adjacent, one_contiguous, per_row, per_row_of_views, whole};
use crate::error::Error;
use crate::kernels::kl_pairs_f32::KlPairs;
use crate::kernels::kl_triples_f32::KlTriples;
use crate::kernels::two_pass::{self, Lowest};
use crate::kernels::{f32_tiles, pairs_f32};
use crate::kernels::{kl, kl_f32};
use crate::kernels::{Partial, Real, GROUP};
use crate::parallel::rows::{Block, IntoChecked, Long, RowMeasure, Rows, TINY, VERTICAL};

/// The KL row measure (nats), normalised or raw.
pub(crate) struct Divergence {
    pub normalize: bool,
}

impl<T: Real, U: Real> RowMeasure<T, U> for Divergence {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        kl::group::<T, U>(p, q, self.normalize, out, regular)
    }

    /// Normalised two-element float32 rows read in place ([`KlPairs`]); three-element ones
    /// ([`KlTriples`]) and rows of the fast group form through float32 tiles.
    fn adjacent(
        &self,
        p: Block<'_, T>,
        q: Block<'_, U>,
        len: usize,
        out: &mut [f64],
    ) -> Option<(usize, Lowest)> {
        if self.normalize && len == 2 {
            return Some(pairs_f32::adjacent::<KlPairs>(
                float32_pairs(p)?,
                float32_pairs(q)?,
                out,
            ));
        }
        if self.normalize && len == 3 {
            // the kernel's group form for these rows (`kl::group`); f32_tiles::take(3)
            return Some(f32_tiles::adjacent::<KlTriples>(
                p.as_f32()?,
                q.as_f32()?,
                3,
                out,
            ));
        }
        let from = kl::fast_group_from::<T, U>(self.normalize);
        normalized_adjacent(self.normalize, from, (p, q), len, out, kl_f32::adjacent)
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        kl::row(p, q, self.normalize)
    }

    fn vertical(&self) -> usize {
        if T::IS_F32 && U::IS_F32 && self.normalize {
            kl::F32_ROWS_ABOVE
        } else {
            VERTICAL
        }
    }

    fn own_length_up_to(&self) -> usize {
        kl::fast_group_from::<T, U>(self.normalize).map_or(TINY, |from| TINY.max(from - 1))
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let o = if self.normalize {
            x.reduce(|p, q| kl::one_pass_normalized(p, q))
        } else {
            x.reduce(|p, q| kl::one_pass(p, q, true))
        };
        let min = o.sums.min;
        if !self.normalize {
            let t = &o.terms;
            if !(o.sums.sp + o.sums.sq).is_finite() || t.out_of_range {
                return (x.reduce(|p, q| Sum(kl::raw_careful(p, q))).0, min);
            }
            if U::IS_F32 && t.raw_abs > kl::RAW_MAX_COND_F32 * t.raw.abs() {
                let t = x.reduce(|p, q| kl::terms(p, q, &kl::Consts::RAW, false));
                return (kl::finish_raw(&t), min);
            }
            return (kl::finish_raw(t), min);
        }
        if let Some(d) = kl::finish_one_pass(&o.sums, &o.terms) {
            return (d, min);
        }
        if o.sums.regular() {
            let k = kl::consts(&o.sums);
            let t = x.reduce(|p, q| kl::terms(p, q, &k, true));
            if !t.out_of_range || t.zero_q {
                return (kl::finish(&t), min);
            }
        }
        (careful_long(x, &o.sums), min)
    }
}

/// A plain sum as block partials.
#[derive(Clone, Copy)]
struct Sum(f64);

impl Partial for Sum {
    const EMPTY: Self = Sum(0.0);
    fn combine(self, o: Self) -> Self {
        Sum(self.0 + o.0)
    }
}

/// The maxima of p and q.
#[derive(Clone, Copy)]
struct Maxima(f64, f64);

impl Partial for Maxima {
    const EMPTY: Self = Maxima(0.0, 0.0);
    fn combine(self, o: Self) -> Self {
        let max = |a: f64, b: f64| if b > a || b.is_nan() { b } else { a };
        Maxima(max(self.0, o.0), max(self.1, o.1))
    }
}

/// A long distribution that is not regular: NaN for NaN, an infinite mass or a zero
/// total; otherwise both sides rescaled by exact powers of two, block by block.
fn careful_long<T: Real, U: Real>(x: &Long<'_, '_, T, U>, sums: &two_pass::Sums) -> f64 {
    if sums.sp.is_nan() || sums.sq.is_nan() {
        return f64::NAN;
    }
    let m = x.reduce(|p, q| {
        let mut m = Maxima::EMPTY;
        for (&a, &b) in p.iter().zip(q) {
            m = m.combine(Maxima(a.to_f64(), b.to_f64()));
        }
        m
    });
    if !(m.0.is_finite() && m.1.is_finite() && m.0 > 0.0 && m.1 > 0.0) {
        return f64::NAN;
    }
    let s = x.reduce(|p, q| two_pass::sums(&two_pass::scaled(p, m.0), &two_pass::scaled(q, m.1)));
    match kl::Careful::from_sums(m.0, m.1, s) {
        Some(c) => x.reduce(|p, q| Sum(c.block(p, q))).0,
        None => f64::NAN,
    }
}

/// KL divergence of every pair of distributions along the last axis of `p` and `q`.
pub fn kl_divergence<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<ArrayD<f64>, Error> {
    let m = Divergence {
        normalize: opts.normalize,
    };
    per_row_of_views(&p, &q, &m, opts, "q")
}

/// KL divergence of `p` and `q` (equal shapes, any strides) each read whole (`axis=None`).
pub fn kl_divergence_whole<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<f64, Error> {
    let m = Divergence {
        normalize: opts.normalize,
    };
    whole(&p, &q, &m, opts, "q")
}

/// KL divergence of one contiguous distribution each (see [`super::one_contiguous`]).
pub fn kl_divergence_contiguous<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    opts: &Options,
) -> Result<f64, Error> {
    let m = Divergence {
        normalize: opts.normalize,
    };
    one_contiguous(p, q, &m, opts, "q")
}

/// KL divergence of ragged rows `p[offsets[r]..offsets[r+1]]` against the same rows of `q`.
pub fn kl_divergence_ragged<'a, T: Real, U: Real>(
    p: &'a [T],
    q: &'a [U],
    offsets: impl IntoChecked<'a>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    let o = offsets.into_checked(p.len())?;
    let (pr, qr) = (Rows::ragged(p, o)?, Rows::ragged(q, o)?);
    let m = Divergence {
        normalize: opts.normalize,
    };
    per_row(&pr, &qr, &m, p.len(), opts, "q")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array1};

    #[test]
    fn known_values_and_infinities() {
        let opts = Options::default();
        let d = kl_divergence(
            arr1(&[0.5, 0.5]).into_dyn().view(),
            arr1(&[0.25, 0.75]).into_dyn().view(),
            &opts,
        )
        .unwrap();
        let want = 0.5 * (2.0f64).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!((d[[]] - want).abs() < 1e-16);
        let inf = kl_divergence(
            arr1(&[0.5, 0.5]).into_dyn().view(),
            arr1(&[1.0, 0.0]).into_dyn().view(),
            &opts,
        )
        .unwrap();
        assert_eq!(inf[[]], f64::INFINITY);
        let p = arr1(&[0.1, 0.2, 0.7f32]).into_dyn();
        assert_eq!(kl_divergence(p.view(), p.view(), &opts).unwrap()[[]], 0.0);
        let err = kl_divergence(
            arr1(&[0.5]).into_dyn().view(),
            arr1(&[-1.0]).into_dyn().view(),
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "q",
                value: -1.0
            }
        );
    }

    #[test]
    fn long_rows_agree_with_short_ones() {
        let p: Array1<f64> = (0..200_000u64)
            .map(|i| ((i * 7919) % 101) as f64 + 0.5)
            .collect();
        let q: Array1<f64> = (0..200_000u64)
            .map(|i| ((i * 104_729) % 97) as f64 + 0.5)
            .collect();
        let opts = Options::default();
        let long = kl_divergence(p.view().into_dyn(), q.view().into_dyn(), &opts).unwrap()[[]];
        let two_pass = kl::row(p.as_slice().unwrap(), q.as_slice().unwrap(), true).0;
        assert!(
            ((long - two_pass) / two_pass).abs() < 1e-13,
            "{long} vs {two_pass}"
        );
        // different scales: the one-pass form refuses, pass 2 answers
        let q3 = &q * 3.0;
        let long3 = kl_divergence(p.view().into_dyn(), q3.view().into_dyn(), &opts).unwrap()[[]];
        assert!(
            ((long3 - two_pass) / two_pass).abs() < 1e-13,
            "{long3} vs {two_pass}"
        );
    }
}
