//! Jensen–Shannon divergence JS(P, Q) = ½KL(P‖M) + ½KL(Q‖M), M = (P + Q)/2, and the
//! distance √JS (scipy.spatial.distance.jensenshannon), on the row engine with the exact
//! form of [`crate::kernels::js`]: every term ≥ 0, identical rows exactly 0, any totals.
//! Rows are read twice (sums, then terms); long rows in parallel blocks, and once where
//! their totals agree (normalised inputs: see `js::finish_one_pass`).

use ndarray::{ArrayD, ArrayViewD};

use super::Options;
use super::{
    float32_pairs, normalized_adjacent, one_contiguous, per_row, per_row_of_views,
    per_row_of_views_then, whole,
};
use crate::error::Error;
use crate::kernels::js_pairs_f32::JsPairs;
use crate::kernels::js_phi_f32::JsPhi;
use crate::kernels::js_triples_f32::JsTriples;
use crate::kernels::two_pass::{self, Lowest};
use crate::kernels::{f32_tiles, pairs_f32};
use crate::kernels::{js, js_f32};
use crate::kernels::{Partial, Real, GROUP, LEAF};
use crate::parallel::output::Finish;
use crate::parallel::rows::{Block, IntoChecked, Long, RowMeasure, Rows, TINY};

/// The JS row measure (nats), normalised or raw.
pub(crate) struct JensenShannon {
    pub normalize: bool,
}

impl<T: Real, U: Real> RowMeasure<T, U> for JensenShannon {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        js::group::<T, U>(p, q, self.normalize, out, regular)
    }

    /// Normalised two-element float32 rows read in place ([`JsPairs`]); three-element ones
    /// ([`JsTriples`]), rows of the φ form ([`JsPhi`]) and of the fast group form through
    /// float32 tiles.
    fn adjacent(
        &self,
        p: Block<'_, T>,
        q: Block<'_, U>,
        len: usize,
        out: &mut [f64],
    ) -> Option<(usize, Lowest)> {
        if self.normalize && len == 2 {
            return Some(pairs_f32::adjacent::<JsPairs>(
                float32_pairs(p)?,
                float32_pairs(q)?,
                out,
            ));
        }
        if self.normalize && len == 3 {
            // the kernel's group form for these rows (`js::group`); f32_tiles::take(3)
            return Some(f32_tiles::adjacent::<JsTriples>(
                p.as_f32()?,
                q.as_f32()?,
                3,
                out,
            ));
        }
        if js::phi_form::<T, U>(self.normalize, len) && f32_tiles::take(len) {
            return Some(f32_tiles::adjacent::<JsPhi>(
                p.as_f32()?,
                q.as_f32()?,
                len,
                out,
            ));
        }
        let from = js::fast_group_from::<T, U>(self.normalize);
        normalized_adjacent(self.normalize, from, (p, q), len, out, js_f32::adjacent)
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        js::row(p, q, self.normalize)
    }

    fn vertical(&self) -> usize {
        if T::IS_F32 && U::IS_F32 {
            js::F32_ROWS_ABOVE
        } else {
            js::F64_ROWS_ABOVE
        }
    }

    fn own_length_up_to(&self) -> usize {
        js::fast_group_from::<T, U>(self.normalize).map_or(TINY, |from| TINY.max(from - 1))
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let s = if self.normalize && x.head(LEAF, |p, q| looks_normalised(&two_pass::sums(p, q))) {
            // one read where the totals agree (see `js::finish_one_pass`); else pass 2
            // as below, with these sums
            let o = x.reduce(|p, q| js::terms_one_pass(p, q, true));
            if let Some(v) = js::finish_one_pass(&o, T::IS_F32 && U::IS_F32) {
                return (v, o.sums.min);
            }
            if o.compensated {
                o.sums
            } else {
                x.reduce(|p, q| two_pass::sums(p, q))
            }
        } else {
            x.reduce(|p, q| two_pass::sums(p, q))
        };
        let regular = !self.normalize || s.regular();
        if regular {
            let k = if self.normalize {
                js::consts(&s)
            } else {
                js::Consts::RAW
            };
            let t = x.reduce(|p, q| js::terms(p, q, &k, true));
            if !t.overflow {
                return (js::finish(&k, &t), s.min);
            }
        }
        (careful_long(x, &s, self.normalize), s.min)
    }
}

/// Whether the first values of a long row look like part of a normalised distribution
/// (neither side's first [`LEAF`] values sum above 1): then the one-pass form is tried.
/// Counts usually exceed 1 at once, and would mostly be refused by it (their totals
/// differ), costing a wasted read of the terms.
fn looks_normalised(head: &two_pass::Sums) -> bool {
    head.sp <= 1.0 && head.sq <= 1.0
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

/// A long distribution that is not regular (see [`js::careful_row`]), rescaled block by
/// block: NaN for NaN or an infinite mass, and for a zero total when normalising.
fn careful_long<T: Real, U: Real>(
    x: &Long<'_, '_, T, U>,
    s: &two_pass::Sums,
    normalize: bool,
) -> f64 {
    if s.sp.is_nan() || s.sq.is_nan() {
        return f64::NAN;
    }
    let m = x.reduce(|p, q| {
        let mut m = Maxima::EMPTY;
        for (&a, &b) in p.iter().zip(q) {
            m = m.combine(Maxima(a.to_f64(), b.to_f64()));
        }
        m
    });
    if !(m.0.is_finite() && m.1.is_finite()) {
        return f64::NAN;
    }
    let (mp, mq) = if normalize {
        if !(m.0 > 0.0 && m.1 > 0.0) {
            return f64::NAN;
        }
        (m.0, m.1)
    } else {
        let c = m.0.max(m.1);
        if c == 0.0 {
            return 0.0;
        }
        (c, c)
    };
    let scaled = |p: &[T], q: &[U]| (two_pass::scaled(p, mp), two_pass::scaled(q, mq));
    let k = if normalize {
        let s = x.reduce(|p, q| {
            let (ps, qs) = scaled(p, q);
            two_pass::sums(&ps, &qs)
        });
        js::consts(&s)
    } else {
        js::Consts::RAW
    };
    let t = x.reduce(|p, q| {
        let (ps, qs) = scaled(p, q);
        js::terms(&ps, &qs, &k, false)
    });
    let value = js::finish(&k, &t);
    if normalize {
        value
    } else {
        // JS(c·p, c·q) = c·JS(p, q): undo the common scaling
        let scaled_max = two_pass::scaled(&[mp], mp)[0];
        value * (mp / scaled_max)
    }
}

/// Jensen–Shannon divergence of every pair of distributions along the last axis.
pub fn js_divergence<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<ArrayD<f64>, Error> {
    let m = JensenShannon {
        normalize: opts.normalize,
    };
    per_row_of_views(&p, &q, &m, opts, "q")
}

/// Jensen–Shannon divergence of `p` and `q` each read whole (`axis=None`), in place.
pub fn js_divergence_whole<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<f64, Error> {
    let m = JensenShannon {
        normalize: opts.normalize,
    };
    whole(&p, &q, &m, opts, "q")
}

/// Jensen–Shannon divergence of one contiguous distribution each (see
/// [`super::one_contiguous`]).
pub fn js_divergence_contiguous<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    opts: &Options,
) -> Result<f64, Error> {
    let m = JensenShannon {
        normalize: opts.normalize,
    };
    one_contiguous(p, q, &m, opts, "q")
}

/// Jensen–Shannon divergence of ragged rows (same offsets for `p` and `q`).
pub fn js_divergence_ragged<'a, T: Real, U: Real>(
    p: &'a [T],
    q: &'a [U],
    offsets: impl IntoChecked<'a>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    let o = offsets.into_checked(p.len())?;
    let (pr, qr) = (Rows::ragged(p, o)?, Rows::ragged(q, o)?);
    let m = JensenShannon {
        normalize: opts.normalize,
    };
    per_row(&pr, &qr, &m, p.len(), opts, "q")
}

/// √JS: the Jensen–Shannon distance. The divergence is a sum of non-negative terms, so it
/// is never negative in nats (never the NaN of scipy#20083); it is negative only in a base
/// below 1, where the distance is NaN as in scipy. −0 (a zero in such a base) gives +0.
/// (The finish of the distance's rows, [`Finish::SqrtOfQuotient`], in nats: x / 1 = x.)
pub fn distance(js: f64) -> f64 {
    Finish::SqrtOfQuotient(1.0).one(js)
}

/// Jensen–Shannon distance √JS of every pair of distributions along the last axis.
/// (`distance` of the divergence in the unit of `opts.base`, taken chunk by chunk on the
/// threads that computed the rows.)
pub fn js_distance<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<ArrayD<f64>, Error> {
    let m = JensenShannon {
        normalize: opts.normalize,
    };
    let finish = Finish::SqrtOfQuotient(opts.ln_base()?);
    per_row_of_views_then(&p, &q, &m, finish, "q")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::rows::Offsets;
    use crate::parallel::set_num_threads;
    use ndarray::{arr1, Array2};

    fn js(p: &[f64], q: &[f64], opts: &Options) -> f64 {
        js_divergence(arr1(p).into_dyn().view(), arr1(q).into_dyn().view(), opts).unwrap()[[]]
    }

    #[test]
    fn known_values() {
        let opts = Options::default();
        assert_eq!(js(&[1.0, 0.0], &[0.0, 1.0], &opts), std::f64::consts::LN_2);
        let bits = Options {
            normalize: true,
            base: Some(2.0),
        };
        assert_eq!(js(&[1.0, 0.0], &[0.0, 1.0], &bits), 1.0);
        // counts are normalised: (2, 0) vs (0, 5) is the same as above
        assert_eq!(js(&[2.0, 0.0], &[0.0, 5.0], &bits), 1.0);
        // scipy: jensenshannon([1, 0, 0], [0, 1, 0])**2 * ... ; here a hand value
        let (p, q) = ([0.25, 0.75], [0.5, 0.5]);
        let m = [0.375, 0.625];
        let want = 0.5 * (0.25 * (0.25f64 / m[0]).ln() + 0.75 * (0.75f64 / m[1]).ln())
            + 0.5 * (0.5 * (0.5f64 / m[0]).ln() + 0.5 * (0.5f64 / m[1]).ln());
        assert!((js(&p, &q, &opts) - want).abs() < 1e-16);
    }

    #[test]
    fn identical_inputs_are_exactly_zero_and_distance_is_never_nan() {
        let opts = Options::default();
        let p = crate::kernels::adversarial::positive(100_001, 3);
        let v = ndarray::ArrayView1::from(&p[..]).into_dyn();
        assert_eq!(js_divergence(v.view(), v.view(), &opts).unwrap()[[]], 0.0);
        assert_eq!(js_distance(v.view(), v.view(), &opts).unwrap()[[]], 0.0);
        let raw = Options {
            normalize: false,
            base: None,
        };
        assert_eq!(js_divergence(v.view(), v.view(), &raw).unwrap()[[]], 0.0);
        // nearly equal rows: tiny results, never negative
        for i in 0..200 {
            let q: Vec<f64> = p[..64]
                .iter()
                .enumerate()
                .map(|(j, &x)| if j == i % 64 { x * (1.0 + 1e-15) } else { x })
                .collect();
            let d = js(&p[..64], &q, &opts);
            assert!(d >= 0.0, "{d}");
        }
    }

    #[test]
    fn edge_cases() {
        let opts = Options::default();
        let empty = Array2::<f64>::zeros((3, 0)).into_dyn();
        assert_eq!(
            js_divergence(empty.view(), empty.view(), &opts)
                .unwrap()
                .shape(),
            &[3]
        );
        assert!(js(&[0.0, 0.0], &[0.5, 0.5], &opts).is_nan());
        assert!(js(&[f64::NAN, 0.5], &[0.5, 0.5], &opts).is_nan());
        let err = js_divergence(
            arr1(&[0.5, -0.5]).into_dyn().view(),
            arr1(&[0.5, 0.5]).into_dyn().view(),
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "p",
                value: -0.5
            }
        );
        let err = js_divergence(
            arr1(&[0.5]).into_dyn().view(),
            arr1(&[0.5, 0.5]).into_dyn().view(),
            &opts,
        )
        .unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }));
    }

    #[test]
    fn bitwise_identical_for_any_thread_count_and_layout() {
        let x = crate::kernels::adversarial::positive(2 * 300_007, 17);
        let (p, q) = (&x[..300_007], &x[300_007..]);
        let rows_p = Array2::from_shape_vec((601, 499), p[..601 * 499].to_vec()).unwrap();
        let rows_q = Array2::from_shape_vec((601, 499), q[..601 * 499].to_vec()).unwrap();
        let mut seen = Vec::new();
        for threads in [1, 2, 5] {
            set_num_threads(threads).unwrap();
            let opts = Options::default();
            let one = ndarray::ArrayView1::from(p).into_dyn();
            let one_q = ndarray::ArrayView1::from(q).into_dyn();
            let mut r: Vec<u64> = js_divergence(one, one_q, &opts)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            r.extend(
                js_divergence(rows_p.view().into_dyn(), rows_q.view().into_dyn(), &opts)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
            r.extend(
                js_divergence(rows_p.t().into_dyn(), rows_q.t().into_dyn(), &opts)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
            seen.push(r);
        }
        assert!(seen.iter().all(|r| r == &seen[0]));
    }

    /// Long normalised rows take the one-pass form: the same bits for any thread count,
    /// within rounding of the two-pass value.
    #[test]
    fn one_pass_long_rows_are_bitwise_identical_for_any_thread_count() {
        let n = 300_007;
        let normalised = |seed: u64| {
            let x = crate::kernels::adversarial::positive(n, seed);
            let total: f64 = x.iter().sum();
            x.iter().map(|v| v / total).collect::<Vec<f64>>()
        };
        let (p, q) = (normalised(5), normalised(6));
        let want = js::row(&p, &q, true).0;
        let mut seen = Vec::new();
        for threads in [1, 2, 5] {
            set_num_threads(threads).unwrap();
            let (pv, qv) = (ndarray::ArrayView1::from(&p), ndarray::ArrayView1::from(&q));
            let v = js_divergence(pv.into_dyn(), qv.into_dyn(), &Options::default()).unwrap()[[]];
            assert!((v - want).abs() <= 1e-14 * want, "{v:e} vs {want:e}");
            seen.push(v.to_bits());
        }
        assert!(seen.iter().all(|b| *b == seen[0]));
    }

    #[test]
    fn ragged_rows_equal_dense_rows_bitwise_across_lengths() {
        let x = crate::kernels::adversarial::positive(2 * 20_000, 5);
        let (p, q) = (&x[..20_000], &x[20_000..]);
        let lengths = [0usize, 1, 2, 15, 16, 17, 64, 1000, 9000];
        let mut offsets = vec![0i32];
        for l in lengths {
            offsets.push(offsets.last().unwrap() + l as i32);
        }
        for opts in [
            Options::default(),
            Options {
                normalize: false,
                base: Some(2.0),
            },
        ] {
            let js_r = js_divergence_ragged(p, q, Offsets::I32(&offsets), &opts).unwrap();
            for (r, w) in offsets.windows(2).enumerate() {
                let (a, b) = (w[0] as usize, w[1] as usize);
                let pv = Array2::from_shape_vec((1, b - a), p[a..b].to_vec()).unwrap();
                let qv = Array2::from_shape_vec((1, b - a), q[a..b].to_vec()).unwrap();
                let want_js =
                    js_divergence(pv.view().into_dyn(), qv.view().into_dyn(), &opts).unwrap()[[0]];
                assert_eq!(js_r[r].to_bits(), want_js.to_bits(), "js row {r}");
            }
        }
    }

    #[test]
    fn ragged_negative_values_are_named() {
        let p = [0.5, 0.5, 0.2];
        let q = [0.5, 0.5, -0.2];
        let err = js_divergence_ragged(&p, &q, Offsets::I64(&[0, 2, 3]), &Options::default())
            .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "q",
                value: -0.2
            }
        );
        assert!(
            js_divergence_ragged(&q, &p, Offsets::I64(&[0, 2, 3]), &Options::default()).is_err()
        );
    }
}
