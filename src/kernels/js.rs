//! Jensen–Shannon divergence over a block, in two phases.
//!
//! JS(P, Q) = ½ Σ [P ln(2P/(P+Q)) + Q ln(2Q/(P+Q))], with P = p/Sp and Q = q/Sq when the
//! distributions are normalised (scipy.spatial.distance.jensenshannon). Unlike KL, the
//! normalised terms are not a function of per-block sums: ln(2P/(P+Q)) mixes Sp and Sq
//! non-linearly. So a lane is read twice, both times in the fixed blocks of
//! [`crate::parallel`]:
//! 1. [`pair_sums`]: Σp, Σq (and the minima that detect negative input);
//! 2. [`js_sums`] with the lane's Sp and Sq: the Σ of the terms above (not yet halved).
//!
//! Without normalisation phase 2 alone runs, with Sp = Sq = 1 (a division by 1 is exact).
//! Rejected: expanding the terms into Σ x ln x partials (H(M) − ½H(P) − ½H(Q)) gives one
//! pass but cancels catastrophically when P ≈ Q, and loses `js(p, p) == 0` exactly.
//!
//! Exactness: with p = q the sums are equal (same data, same order), so P = Q, P + Q = 2P
//! exactly, the ratio 2P/(P+Q) is computed as (P/(P+Q))·2 = 0.5·2 = 1 and ln 1 = 0: every
//! term is exactly 0.

use super::{for_each_block_pair, min_ignoring_nan, AccumulatePair, Partial, Real};
use crate::simd::log::ln;
use crate::simd::vector::F8;

/// ln 2, rounded to nearest.
const LN_2: f64 = std::f64::consts::LN_2;

/// Partial statistics of the Jensen–Shannon divergence over a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsSums {
    /// Σ p.
    pub sum_p: f64,
    /// Σ q.
    pub sum_q: f64,
    /// Σ [P ln(2P/(P+Q)) + Q ln(2Q/(P+Q))] with P = p/scale_p, Q = q/scale_q and 0·ln(·) = 0;
    /// 0 in the phase-1 partials of [`pair_sums`].
    pub sum_terms: f64,
    /// min(0, smallest p), NaN ignored: below 0 means an input error.
    pub min_p: f64,
    /// min(0, smallest q), NaN ignored: below 0 means an input error.
    pub min_q: f64,
}

impl Partial for JsSums {
    const EMPTY: Self = JsSums {
        sum_p: 0.0,
        sum_q: 0.0,
        sum_terms: 0.0,
        min_p: 0.0,
        min_q: 0.0,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        JsSums {
            sum_p: self.sum_p + o.sum_p,
            sum_q: self.sum_q + o.sum_q,
            sum_terms: self.sum_terms + o.sum_terms,
            min_p: min_ignoring_nan(self.min_p, o.min_p),
            min_q: min_ignoring_nan(self.min_q, o.min_q),
        }
    }
}

/// Lane accumulators shared by every body.
struct Lanes<V> {
    sp: V,
    sq: V,
    st: V,
    mp: V,
    mq: V,
}

impl<V: F8> Lanes<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        Lanes {
            sp: zero,
            sq: zero,
            st: zero,
            mp: zero,
            mq: zero,
        }
    }

    #[inline(always)]
    fn add_inputs(&mut self, a: V, b: V) {
        self.sp = self.sp.add(a);
        self.sq = self.sq.add(b);
        self.mp = self.mp.min_ignoring_nan(a);
        self.mq = self.mq.min_ignoring_nan(b);
    }

    #[inline(always)]
    fn finish(self) -> JsSums {
        JsSums {
            sum_p: self.sp.sum_lanes(),
            sum_q: self.sq.sum_lanes(),
            sum_terms: self.st.sum_lanes(),
            min_p: self.mp.min_lane(),
            min_q: self.mq.min_lane(),
        }
    }
}

/// Phase 1: sums and minima only.
struct Sums<V>(Lanes<V>);

impl<V: F8> AccumulatePair<V> for Sums<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        self.0.add_inputs(a, b);
    }
}

/// Whether the ratio 2P/(P+Q) is a normal, finite number (its log is then accurate).
#[inline(always)]
fn ratio_in_range<V: F8>(ratio: V) -> V::Mask {
    V::and(
        ratio.ge(V::splat(f64::MIN_POSITIVE)),
        ratio.lt(V::splat(f64::INFINITY)),
    )
}

/// x·ln(ratio) with 0 where x = 0 (whatever the ratio).
#[inline(always)]
fn term<V: F8>(x: V, log_ratio: V) -> V {
    let zero = V::splat(0.0);
    V::select(x.eq(zero), zero, x.mul(log_ratio))
}

/// Phase 2, fast path: one division and one log per side. Where P + Q overflows (raw
/// inputs near f64::MAX) or a ratio underflows, `out_of_range` is set and the block is
/// redone by [`Careful`].
struct Fast<V> {
    lanes: Lanes<V>,
    scale_p: V,
    scale_q: V,
    out_of_range: V,
}

impl<V: F8> AccumulatePair<V> for Fast<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        let zero = V::splat(0.0);
        let two = V::splat(2.0);
        self.lanes.add_inputs(a, b);
        let (pn, qn) = (a.div(self.scale_p), b.div(self.scale_q));
        let s = pn.add(qn);
        let (rp, rq) = (pn.div(s).mul(two), qn.div(s).mul(two));
        self.lanes.st = self.lanes.st.add(term(pn, ln(rp)).add(term(qn, ln(rq))));
        // Lanes with a positive term whose ratio left the normal range (NaN or +inf included).
        let bad_p = V::select(ratio_in_range(rp), zero, pn).gt(zero);
        let bad_q = V::select(ratio_in_range(rq), zero, qn).gt(zero);
        self.out_of_range = V::select(V::or(bad_p, bad_q), V::splat(1.0), self.out_of_range);
    }
}

/// Phase 2, careful path: ln P − ln M with M = (P+Q)/2 computed without overflow or
/// underflow; the fast formula is kept in the lanes where it is in range, so most of
/// the block rounds as in [`Fast`].
struct Careful<V> {
    lanes: Lanes<V>,
    scale_p: V,
    scale_q: V,
}

impl<V: F8> AccumulatePair<V> for Careful<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        let two = V::splat(2.0);
        let half = V::splat(0.5);
        self.lanes.add_inputs(a, b);
        let (pn, qn) = (a.div(self.scale_p), b.div(self.scale_q));
        let s = pn.add(qn);
        let (rp, rq) = (pn.div(s).mul(two), qn.div(s).mul(two));
        // ln M: ln(P+Q) − ln 2 while P+Q is finite (subnormal sums included), else
        // ln(P/2 + Q/2), which cannot overflow.
        let s_finite = s.lt(V::splat(f64::INFINITY));
        let ln_m = V::select(
            s_finite,
            ln(s).sub(V::splat(LN_2)),
            ln(pn.mul(half).add(qn.mul(half))),
        );
        let lp = V::select(ratio_in_range(rp), ln(rp), ln(pn).sub(ln_m));
        let lq = V::select(ratio_in_range(rq), ln(rq), ln(qn).sub(ln_m));
        self.lanes.st = self.lanes.st.add(term(pn, lp).add(term(qn, lq)));
    }
}

#[inline(always)]
fn pair_sums_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> JsSums {
    let mut acc = Sums(Lanes::<V>::new());
    for_each_block_pair(p, q, &mut acc);
    acc.0.finish()
}

#[inline(always)]
fn js_sums_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], scale_p: f64, scale_q: f64) -> JsSums {
    let (scale_p, scale_q) = (V::splat(scale_p), V::splat(scale_q));
    let mut fast = Fast {
        lanes: Lanes::<V>::new(),
        scale_p,
        scale_q,
        out_of_range: V::splat(0.0),
    };
    for_each_block_pair(p, q, &mut fast);
    if fast.out_of_range.max_lane() > 0.0 {
        let mut careful = Careful {
            lanes: Lanes::<V>::new(),
            scale_p,
            scale_q,
        };
        for_each_block_pair(p, q, &mut careful);
        careful.lanes.finish()
    } else {
        fast.lanes.finish()
    }
}

crate::simd::multiversion! {
    /// Phase 1: Σp, Σq, min p, min q over equally long `p` and `q` (`sum_terms` = 0).
    pub fn pair_sums<T: Real, U: Real>(p: &[T], q: &[U]) -> JsSums = pair_sums_body;
}

crate::simd::multiversion! {
    /// Phase 2: [`pair_sums`] plus Σ of the Jensen–Shannon terms of P = p/`scale_p`,
    /// Q = q/`scale_q` (pass the lane's Σp and Σq to normalise, 1 and 1 not to).
    pub fn js_sums<T: Real, U: Real>(p: &[T], q: &[U], scale_p: f64, scale_q: f64) -> JsSums = js_sums_body;
}

/// One element's Jensen–Shannon terms, scalar, with `f64::ln`: x·ln(2x/(P+Q)) for each
/// side, where that ratio is a normal number, else x·(ln x − ln M) with M = (P+Q)/2
/// formed without overflow or underflow. (scipy's rel_entr(P, M) with M = (P+Q)/2 loses
/// the term where M underflows to 0: P = 0, Q = 5e-324 gives +inf there.)
pub fn reference_terms(pn: f64, qn: f64) -> f64 {
    let s = pn + qn;
    let ln_m = if s.is_finite() {
        s.ln() - LN_2
    } else {
        (pn / 2.0 + qn / 2.0).ln()
    };
    let side = |x: f64| {
        let r = x / s * 2.0;
        if x == 0.0 {
            0.0
        } else if (f64::MIN_POSITIVE..f64::INFINITY).contains(&r) {
            x * r.ln()
        } else {
            x * (x.ln() - ln_m)
        }
    };
    side(pn) + side(qn)
}

/// Scalar reference for [`js_sums`] (a straight loop in element order).
pub fn reference<T: Real, U: Real>(p: &[T], q: &[U], scale_p: f64, scale_q: f64) -> JsSums {
    let mut acc = JsSums::EMPTY;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.to_f64(), b.to_f64());
        let t = reference_terms(a / scale_p, b / scale_q);
        acc = acc.combine(JsSums {
            sum_p: a,
            sum_q: b,
            sum_terms: t,
            min_p: a,
            min_q: b,
        });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, SPECIALS};

    /// Σ |terms|: the scale the rounding error of the sum is measured against.
    fn scale(p: &[f64], q: &[f64], sp: f64, sq: f64) -> f64 {
        p.iter()
            .zip(q)
            .map(|(&a, &b)| reference_terms(a / sp, b / sq).abs())
            .filter(|t| t.is_finite())
            .sum::<f64>()
    }

    fn check(p: &[f64], q: &[f64], sp: f64, sq: f64) {
        let (got, want) = (js_sums(p, q, sp, sq), reference(p, q, sp, sq));
        assert!(close(got.sum_p, want.sum_p, 1e-13), "{got:?} vs {want:?}");
        assert!(close(got.sum_q, want.sum_q, 1e-13));
        let ok = if got.sum_terms.is_finite() && want.sum_terms.is_finite() {
            // Each term rounds within a few ULP of itself; zeros (p = q) cancel exactly.
            (got.sum_terms - want.sum_terms).abs() <= 1e-13 * scale(p, q, sp, sq).max(1e-300)
        } else {
            close(got.sum_terms, want.sum_terms, 0.0)
        };
        assert!(
            ok,
            "{got:?} vs {want:?} for p={p:?} q={q:?} scales {sp} {sq}"
        );
        assert_eq!(got.min_p, want.min_p);
        assert_eq!(got.min_q, want.min_q);
        let phase1 = pair_sums(p, q);
        assert_eq!(
            (phase1.sum_p.to_bits(), phase1.sum_q.to_bits()),
            (got.sum_p.to_bits(), got.sum_q.to_bits())
        );
        assert_eq!(phase1.sum_terms, 0.0);
    }

    #[test]
    fn matches_reference_on_every_tail_length() {
        for len in 0..=67 {
            let (p, q) = (positive(len, len as u64), positive(len, 500 + len as u64));
            check(&p, &q, 1.0, 1.0);
            let (sp, sq) = (pair_sums(&p, &q).sum_p, pair_sums(&p, &q).sum_q);
            if sp > 0.0 && sq > 0.0 {
                check(&p, &q, sp, sq);
            }
        }
        let (p, q) = (positive(50_001, 3), positive(50_001, 4));
        let s = pair_sums(&p, &q);
        check(&p, &q, s.sum_p, s.sum_q);
    }

    #[test]
    fn matches_reference_on_special_values_in_every_position() {
        for &s in &SPECIALS {
            for &t in &SPECIALS {
                for len in [1, 8, 9, 67] {
                    let pos = len / 2;
                    let (mut p, mut q) = (positive(len, 5), positive(len, 6));
                    p[pos] = s;
                    q[pos] = t;
                    check(&p, &q, 1.0, 1.0);
                }
            }
        }
    }

    #[test]
    fn identical_inputs_give_exactly_zero() {
        for len in 0..=67 {
            let p = positive(len, 9);
            let s = pair_sums(&p, &p);
            assert_eq!(js_sums(&p, &p, s.sum_p, s.sum_q).sum_terms, 0.0);
            assert_eq!(js_sums(&p, &p, 1.0, 1.0).sum_terms, 0.0);
            let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let p64: Vec<f64> = p32.iter().map(|&v| v as f64).collect();
            let s = pair_sums(&p32, &p64);
            assert_eq!(js_sums(&p32, &p64, s.sum_p, s.sum_q).sum_terms, 0.0);
        }
        // huge raw values: P + Q overflows, the careful path still gives 0
        let big = [1.7976931348623157e308, 1e308, 0.5];
        assert_eq!(js_sums(&big, &big, 1.0, 1.0).sum_terms, 0.0);
    }

    #[test]
    fn disjoint_supports_give_ln_2() {
        // P = (1, 0), Q = (0, 1): JS = ½ (ln 2 + ln 2) = ln 2.
        let s = js_sums(&[1.0, 0.0], &[0.0, 1.0], 1.0, 1.0);
        assert_eq!(s.sum_terms, 2.0 * LN_2);
        // subnormal mass against a zero: the ratio is exactly 2
        let s = js_sums(&[5e-324, 0.0], &[0.0, 1.0], 1.0, 1.0);
        assert!(close(s.sum_terms, 5e-324 * LN_2 + LN_2, 1e-15), "{s:?}");
        // an underflowing ratio takes the careful path and keeps its term
        let s = js_sums(&[1e-300], &[1e300], 1.0, 1.0);
        let want = reference(&[1e-300], &[1e300], 1.0, 1.0);
        assert!(
            close(s.sum_terms, want.sum_terms, 1e-13),
            "{s:?} vs {want:?}"
        );
    }

    #[test]
    fn nan_propagates_and_negative_is_reported() {
        assert!(js_sums(&[0.5, f64::NAN], &[0.5, 0.5], 1.0, 1.0)
            .sum_terms
            .is_nan());
        assert!(js_sums(&[0.0, 0.5], &[f64::NAN, 0.5], 1.0, 1.0)
            .sum_terms
            .is_nan());
        assert_eq!(pair_sums(&[0.5, -0.25], &[0.5, 0.5]).min_p, -0.25);
    }
}
