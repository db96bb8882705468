//! Σp, Σq and Σ p·ln(p/q) over a block: the partial statistics of KL divergence.

use super::{for_each_block_pair, AccumulatePair, min_ignoring_nan, min_lanes, sum_lanes, Partial, Real, LANES};
use crate::simd::log::ln_lane;

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
struct Lanes {
    sp: [f64; LANES],
    sq: [f64; LANES],
    sr: [f64; LANES],
    mp: [f64; LANES],
    mq: [f64; LANES],
    /// Extremes of p/q over lanes with p, q > 0 (1 elsewhere): whether ln(p/q) was exact.
    ratio_min: [f64; LANES],
    ratio_max: [f64; LANES],
}

impl Lanes {
    fn new() -> Self {
        let zero = [0.0; LANES];
        Lanes { sp: zero, sq: zero, sr: zero, mp: zero, mq: zero, ratio_min: [1.0; LANES], ratio_max: [1.0; LANES] }
    }

    /// Adds one lane's term (0 where p = 0, +inf where q = 0 < p) and its sums.
    #[inline(always)]
    fn add_term(&mut self, i: usize, a: f64, b: f64, term: f64) {
        self.sp[i] += a;
        self.sq[i] += b;
        self.sr[i] += if a == 0.0 { 0.0 } else if b == 0.0 { f64::INFINITY } else { term };
        self.mp[i] = min_ignoring_nan(self.mp[i], a);
        self.mq[i] = min_ignoring_nan(self.mq[i], b);
    }

    fn ratio_out_of_range(&self) -> bool {
        self.ratio_min.iter().any(|&r| r < f64::MIN_POSITIVE) || self.ratio_max.iter().any(|&r| r == f64::INFINITY)
    }

    fn finish(self) -> RelEntrSums {
        RelEntrSums {
            sum_p: sum_lanes(self.sp),
            sum_q: sum_lanes(self.sq),
            sum_rel_entr: sum_lanes(self.sr),
            min_p: min_lanes(self.mp),
            min_q: min_lanes(self.mq),
        }
    }
}

/// p·ln(p/q) via one division and one log: exact where p = q (ln 1 = 0), so
/// `kl_divergence(p, p)` is exactly 0. Where p/q underflows or overflows this loses the
/// term; such blocks are redone by [`Careful`].
struct Fast(Lanes);

impl AccumulatePair for Fast {
    #[inline(always)]
    fn add(&mut self, a: [f64; LANES], b: [f64; LANES]) {
        let l = &mut self.0;
        for i in 0..LANES {
            let ratio = a[i] / b[i];
            l.add_term(i, a[i], b[i], a[i] * ln_lane(ratio));
            let checked = if (a[i] > 0.0) & (b[i] > 0.0) { ratio } else { 1.0 };
            l.ratio_min[i] = if checked < l.ratio_min[i] { checked } else { l.ratio_min[i] };
            l.ratio_max[i] = if checked > l.ratio_max[i] { checked } else { l.ratio_max[i] };
        }
    }
}

/// p·(ln p − ln q) where p/q left the normal range (two logs, no overflow or underflow);
/// used only for blocks that contain such a ratio (beyond 2^±1022), so rarely.
struct Careful(Lanes);

impl AccumulatePair for Careful {
    #[inline(always)]
    fn add(&mut self, a: [f64; LANES], b: [f64; LANES]) {
        for i in 0..LANES {
            let ratio = a[i] / b[i];
            let in_range = (ratio >= f64::MIN_POSITIVE) & (ratio < f64::INFINITY);
            let term = if in_range { a[i] * ln_lane(ratio) } else { a[i] * (ln_lane(a[i]) - ln_lane(b[i])) };
            self.0.add_term(i, a[i], b[i], term);
        }
    }
}

#[inline(always)]
fn rel_entr_sums_body<T: Real, U: Real>(p: &[T], q: &[U]) -> RelEntrSums {
    let mut fast = Fast(Lanes::new());
    for_each_block_pair(p, q, &mut fast);
    if fast.0.ratio_out_of_range() {
        let mut careful = Careful(Lanes::new());
        for_each_block_pair(p, q, &mut careful);
        careful.0.finish()
    } else {
        fast.0.finish()
    }
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
        acc = acc.combine(RelEntrSums { sum_p: a, sum_q: b, sum_rel_entr: term, min_p: a, min_q: b });
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
        let scale: f64 = p.iter().zip(q).map(|(a, b)| (a * (a.ln() - b.ln())).abs()).filter(|t| t.is_finite()).sum();
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
            check(&positive(len, len as u64), &positive(len, 1000 + len as u64));
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
    fn underflowing_ratio_keeps_the_term() {
        // p/q = 1e-300/1e300 underflows to 0; the term is 1e-300·ln(1e-600) ≈ −1.38e-297.
        let s = rel_entr_sums(&[1e-300], &[1e300]);
        assert!(close(s.sum_rel_entr, 1e-300 * (-600.0 * 10f64.ln()), 1e-14), "{s:?}");
    }
}
