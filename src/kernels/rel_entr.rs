//! Σp, Σq and Σ p·ln(p/q) over a block: the partial statistics of KL divergence.

use super::{for_each_block_pair, min_ignoring_nan, zero_p_term, AccumulatePair, Partial, Real};
use crate::simd::log::{ln, ln_ratio_finite};
use crate::simd::vector::F8;

/// Partial statistics of KL divergence over a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RelEntrSums {
    /// Σ p.
    pub sum_p: f64,
    /// Σ q.
    pub sum_q: f64,
    /// Σ rel_entr(p, q): p·ln(p/q) for p, q > 0; 0 for p = 0; +inf for q = 0 < p.
    pub sum_rel_entr: f64,
    /// min(0, smallest p), NaN ignored: below 0 means an input error. Zero padding of short blocks cannot change it.
    pub min_p: f64,
    /// min(0, smallest q), NaN ignored: below 0 means an input error. Zero padding of short blocks cannot change it.
    pub min_q: f64,
}

impl Partial for RelEntrSums {
    const EMPTY: Self = RelEntrSums {
        sum_p: 0.0,
        sum_q: 0.0,
        sum_rel_entr: 0.0,
        min_p: 0.0,
        min_q: 0.0,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        RelEntrSums {
            sum_p: self.sum_p + o.sum_p,
            sum_q: self.sum_q + o.sum_q,
            sum_rel_entr: self.sum_rel_entr + o.sum_rel_entr,
            min_p: min_ignoring_nan(self.min_p, o.min_p),
            min_q: min_ignoring_nan(self.min_q, o.min_q),
        }
    }
}

/// Lane accumulators shared by the fast and the careful body.
struct Lanes<V> {
    sp: V,
    sq: V,
    sr: V,
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
            sr: zero,
            mp: zero,
            mq: zero,
        }
    }

    /// Adds the lanes' terms (0 where p = 0, +inf where q = 0 < p) and sums.
    #[inline(always)]
    fn add_terms(&mut self, a: V, b: V, terms: V) {
        let zero = V::splat(0.0);
        // q = 0: +inf for p > 0, NaN for NaN p (p = 0 is replaced below).
        let terms = V::select(b.eq(zero), a.mul(V::splat(f64::INFINITY)), terms);
        self.sp = self.sp.add(a);
        self.sq = self.sq.add(b);
        self.sr = self.sr.add(V::select(a.eq(zero), zero_p_term(b), terms));
        self.mp = self.mp.min_ignoring_nan(a);
        self.mq = self.mq.min_ignoring_nan(b);
    }

    #[inline(always)]
    fn finish(self) -> RelEntrSums {
        RelEntrSums {
            sum_p: self.sp.sum_lanes(),
            sum_q: self.sq.sum_lanes(),
            sum_rel_entr: self.sr.sum_lanes(),
            min_p: self.mp.min_lane(),
            min_q: self.mq.min_lane(),
        }
    }
}

/// Whether ln(p/q) is exact-ish: the ratio is a normal, finite number.
#[inline(always)]
fn ratio_in_range<V: F8>(ratio: V) -> V::Mask {
    V::and(
        ratio.ge(V::splat(f64::MIN_POSITIVE)),
        ratio.lt(V::splat(f64::INFINITY)),
    )
}

/// Fast path: p·ln(p/q) with [`ln_ratio_finite`] (accurate near p = q, exactly 0 at p = q),
/// so `kl_divergence(p, p)` is exactly 0. The extremes of p/q over lanes with p > 0 tell
/// whether every ratio was a normal finite number; if not (q = 0, inf, p/q beyond
/// 2^±1022) or the sums are not finite (±inf, NaN), the block is redone by [`Careful`].
struct Fast<V> {
    lanes: Lanes<V>,
    ratio_min: V,
    ratio_max: V,
}

impl<V: F8> AccumulatePair<V> for Fast<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        let (zero, one) = (V::splat(0.0), V::splat(1.0));
        let ratio = a.div(b);
        let l = &mut self.lanes;
        l.sp = l.sp.add(a);
        l.sq = l.sq.add(b);
        l.sr =
            l.sr.add(V::select(a.eq(zero), zero, a.mul(ln_ratio_finite(a, b))));
        l.mp = l.mp.min_ignoring_nan(a);
        l.mq = l.mq.min_ignoring_nan(b);
        let checked = V::select(a.gt(zero), ratio, one);
        self.ratio_min = self.ratio_min.min_ignoring_nan(checked);
        self.ratio_max = self.ratio_max.max_ignoring_nan(checked);
    }
}

/// Careful path: special values lane by lane, and p·(ln p − ln q) (two logs, no overflow
/// or underflow) where p/q left the normal range. Used only for blocks that need it.
struct Careful<V>(Lanes<V>);

impl<V: F8> AccumulatePair<V> for Careful<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        let ratio = a.div(b);
        let terms = V::select(
            ratio_in_range(ratio),
            a.mul(ln_ratio_finite(a, b)),
            a.mul(ln(a).sub(ln(b))),
        );
        self.0.add_terms(a, b, terms);
    }
}

#[inline(always)]
fn rel_entr_sums_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> RelEntrSums {
    let one = V::splat(1.0);
    let mut fast = Fast {
        lanes: Lanes::<V>::new(),
        ratio_min: one,
        ratio_max: one,
    };
    for_each_block_pair(p, q, &mut fast);
    let sums = fast.lanes.finish();
    let in_range =
        fast.ratio_min.min_lane() >= f64::MIN_POSITIVE && fast.ratio_max.max_lane() < f64::INFINITY;
    if in_range && (sums.sum_p + sums.sum_q).is_finite() {
        return sums;
    }
    let mut careful = Careful(Lanes::<V>::new());
    for_each_block_pair(p, q, &mut careful);
    careful.0.finish()
}

crate::simd::multiversion! {
    /// Σp, Σq, Σ rel_entr(p, q), min p, min q over equally long `p` and `q`, vectorised.
    pub fn rel_entr_sums<T: Real, U: Real>(p: &[T], q: &[U]) -> RelEntrSums = rel_entr_sums_body;
}

/// Scalar reference for [`rel_entr_sums`] (scipy.special.rel_entr's cases, `f64::ln`).
pub fn reference<T: Real, U: Real>(p: &[T], q: &[U]) -> RelEntrSums {
    let mut acc = RelEntrSums::EMPTY;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.to_f64(), b.to_f64());
        let term = if a.is_nan() || b.is_nan() || a < 0.0 || b < 0.0 {
            f64::NAN
        } else if a == 0.0 {
            0.0
        } else if b == 0.0 {
            f64::INFINITY
        } else {
            a * (a.ln() - b.ln())
        };
        acc = acc.combine(RelEntrSums {
            sum_p: a,
            sum_q: b,
            sum_rel_entr: term,
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

    fn check(p: &[f64], q: &[f64]) {
        let (got, want) = (rel_entr_sums(p, q), reference(p, q));
        assert!(close(got.sum_p, want.sum_p, 1e-13));
        assert!(close(got.sum_q, want.sum_q, 1e-13));
        // ln(p/q) and ln p − ln q round differently: compare against the size of the terms.
        let scale: f64 = p
            .iter()
            .zip(q)
            .map(|(a, b)| (a * (a.ln() - b.ln())).abs())
            .filter(|t| t.is_finite())
            .sum();
        let ok = if got.sum_rel_entr.is_finite() && want.sum_rel_entr.is_finite() {
            (got.sum_rel_entr - want.sum_rel_entr).abs() <= 1e-13 * scale.max(1e-300)
        } else {
            close(got.sum_rel_entr, want.sum_rel_entr, 0.0)
        };
        assert!(ok, "{got:?} vs {want:?} for p={p:?} q={q:?}");
        assert_eq!(got.min_p, want.min_p);
        assert_eq!(got.min_q, want.min_q);
        let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let _ = rel_entr_sums(&p32, q);
    }

    #[test]
    fn matches_reference_on_every_tail_length() {
        for len in 1..=67 {
            check(
                &positive(len, len as u64),
                &positive(len, 1000 + len as u64),
            );
        }
        assert_eq!(rel_entr_sums::<f64, f64>(&[], &[]), RelEntrSums::EMPTY);
        check(&positive(70_001, 1), &positive(70_001, 2));
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
                    check(&p, &q);
                }
            }
        }
    }

    #[test]
    fn identical_inputs_give_exactly_zero() {
        for len in 0..=67 {
            let p = positive(len, 9);
            assert_eq!(rel_entr_sums(&p, &p).sum_rel_entr, 0.0);
        }
    }

    #[test]
    fn nearly_equal_inputs_keep_full_relative_precision() {
        // p/q − 1 = 4e-9: rounding p/q first would leave ~3e-8 relative error in ln(p/q).
        let (p, q): (f64, f64) = (1.954_299_34, 1.954_299_330_711_364_7);
        let want = p * ((p - q) / q).ln_1p();
        let got = rel_entr_sums(&[p], &[q]).sum_rel_entr;
        assert!(close(got, want, 1e-15), "{got:e} vs {want:e}");
    }

    #[test]
    fn nan_p_over_zero_q_is_nan() {
        assert!(rel_entr_sums(&[f64::NAN, 0.5], &[0.0, 0.5])
            .sum_rel_entr
            .is_nan());
    }

    #[test]
    fn underflowing_ratio_keeps_the_term() {
        // p/q = 1e-300/1e300 underflows to 0; the term is 1e-300·ln(1e-600) ≈ −1.38e-297.
        let s = rel_entr_sums(&[1e-300], &[1e300]);
        assert!(
            close(s.sum_rel_entr, 1e-300 * (-600.0 * 10f64.ln()), 1e-14),
            "{s:?}"
        );
    }
}
