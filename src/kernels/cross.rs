//! Σp, Σq and Σ p·ln q over a block: the partial statistics of cross-entropy.

use super::{for_each_block_pair, min_ignoring_nan, zero_p_term, AccumulatePair, Partial, Real};
use crate::simd::log::{ln, ln_finite};
use crate::simd::vector::F8;

/// Partial statistics of cross-entropy over a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossSums {
    /// Σ p.
    pub sum_p: f64,
    /// Σ q.
    pub sum_q: f64,
    /// Σ p·ln q with 0·ln q = 0 (also for q = 0); −inf where q = 0 < p.
    pub sum_plogq: f64,
    /// min(0, smallest p), NaN ignored: below 0 means an input error. Zero padding of short blocks cannot change it.
    pub min_p: f64,
    /// min(0, smallest q), NaN ignored: below 0 means an input error. Zero padding of short blocks cannot change it.
    pub min_q: f64,
}

impl Partial for CrossSums {
    const EMPTY: Self = CrossSums {
        sum_p: 0.0,
        sum_q: 0.0,
        sum_plogq: 0.0,
        min_p: 0.0,
        min_q: 0.0,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        CrossSums {
            sum_p: self.sum_p + o.sum_p,
            sum_q: self.sum_q + o.sum_q,
            sum_plogq: self.sum_plogq + o.sum_plogq,
            min_p: min_ignoring_nan(self.min_p, o.min_p),
            min_q: min_ignoring_nan(self.min_q, o.min_q),
        }
    }
}

/// Fast path: [`ln_finite`] and fused accumulation. Blocks with ±inf or NaN (the sums are
/// not finite) or some q = 0 under p > 0 (`zero_q`: the largest such p) are redone by
/// [`Careful`].
struct Fast<V> {
    sp: V,
    sq: V,
    st: V,
    mp: V,
    mq: V,
    zero_q: V,
}

impl<V: F8> AccumulatePair<V> for Fast<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        let zero = V::splat(0.0);
        self.sp = self.sp.add(a);
        self.sq = self.sq.add(b);
        self.st = a.mul_add(ln_finite(b), self.st);
        self.mp = self.mp.min_ignoring_nan(a);
        self.mq = self.mq.min_ignoring_nan(b);
        self.zero_q = self.zero_q.max_ignoring_nan(V::select(b.eq(zero), a, zero));
    }
}

/// Careful path: every special value handled lane by lane.
struct Careful<V> {
    sp: V,
    sq: V,
    st: V,
    mp: V,
    mq: V,
}

impl<V: F8> AccumulatePair<V> for Careful<V> {
    #[inline(always)]
    fn add(&mut self, a: V, b: V) {
        let zero = V::splat(0.0);
        self.sp = self.sp.add(a);
        self.sq = self.sq.add(b);
        self.st = self
            .st
            .add(V::select(a.eq(zero), zero_p_term(b), a.mul(ln(b))));
        self.mp = self.mp.min_ignoring_nan(a);
        self.mq = self.mq.min_ignoring_nan(b);
    }
}

#[inline(always)]
fn cross_sums_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> CrossSums {
    let zero = V::splat(0.0);
    let mut fast = Fast {
        sp: zero,
        sq: zero,
        st: zero,
        mp: zero,
        mq: zero,
        zero_q: zero,
    };
    for_each_block_pair(p, q, &mut fast);
    let (sum_p, sum_q) = (fast.sp.sum_lanes(), fast.sq.sum_lanes());
    if fast.zero_q.max_lane() <= 0.0 && (sum_p + sum_q).is_finite() {
        return CrossSums {
            sum_p,
            sum_q,
            sum_plogq: fast.st.sum_lanes(),
            min_p: fast.mp.min_lane(),
            min_q: fast.mq.min_lane(),
        };
    }
    let mut acc = Careful {
        sp: zero,
        sq: zero,
        st: zero,
        mp: zero,
        mq: zero,
    };
    for_each_block_pair(p, q, &mut acc);
    CrossSums {
        sum_p: acc.sp.sum_lanes(),
        sum_q: acc.sq.sum_lanes(),
        sum_plogq: acc.st.sum_lanes(),
        min_p: acc.mp.min_lane(),
        min_q: acc.mq.min_lane(),
    }
}

crate::simd::multiversion! {
    /// Σp, Σq, Σ p·ln q, min p, min q over equally long `p` and `q`, vectorised.
    pub fn cross_sums<T: Real, U: Real>(p: &[T], q: &[U]) -> CrossSums = cross_sums_body;
}

/// Scalar reference for [`cross_sums`], with `f64::ln`.
pub fn reference<T: Real, U: Real>(p: &[T], q: &[U]) -> CrossSums {
    let mut acc = CrossSums::EMPTY;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.to_f64(), b.to_f64());
        let term = if b.is_nan() {
            f64::NAN
        } else if a == 0.0 {
            0.0
        } else if b < 0.0 {
            f64::NAN
        } else {
            a * b.ln()
        };
        acc = acc.combine(CrossSums {
            sum_p: a,
            sum_q: b,
            sum_plogq: term,
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
        let (got, want) = (cross_sums(p, q), reference(p, q));
        assert!(close(got.sum_p, want.sum_p, 1e-13));
        assert!(close(got.sum_q, want.sum_q, 1e-13));
        let scale: f64 = p
            .iter()
            .zip(q)
            .map(|(a, b)| (a * b.ln()).abs())
            .filter(|t| t.is_finite())
            .sum();
        let ok = if got.sum_plogq.is_finite() && want.sum_plogq.is_finite() {
            (got.sum_plogq - want.sum_plogq).abs() <= 1e-13 * scale.max(1e-300)
        } else {
            close(got.sum_plogq, want.sum_plogq, 0.0)
        };
        assert!(ok, "{got:?} vs {want:?} for p={p:?} q={q:?}");
        assert_eq!((got.min_p, got.min_q), (want.min_p, want.min_q));
    }

    #[test]
    fn matches_reference_on_every_tail_length() {
        for len in 1..=67 {
            check(&positive(len, len as u64), &positive(len, 77 + len as u64));
        }
        assert_eq!(cross_sums::<f32, f64>(&[], &[]), CrossSums::EMPTY);
        check(&positive(50_001, 3), &positive(50_001, 4));
    }

    #[test]
    fn matches_reference_on_special_values_in_every_position() {
        for &s in &SPECIALS {
            for &t in &SPECIALS {
                for len in [1, 8, 9, 67] {
                    let pos = len - 1;
                    let (mut p, mut q) = (positive(len, 5), positive(len, 6));
                    p[pos] = s;
                    q[pos] = t;
                    check(&p, &q);
                }
            }
        }
    }

    #[test]
    fn mixed_precision_reads_f32_exactly() {
        let p = [0.0f32, 0.0, 1.0];
        let q = [0.3f64, 0.3, 0.4];
        assert_eq!(cross_sums(&p, &q).sum_plogq, 0.4f64.ln());
    }
}
