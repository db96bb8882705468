//! Float kernels of the count-based measures (contingency tables, label counts),
//! vectorised like the others: [`sum_min`] (marginal sums of a table) and
//! [`xlog_ratio_sums`] (Σ x·ln(x·c/d), the direct form of mutual information and
//! conditional entropy). Counting the labels themselves is integer work in
//! [`crate::measures::label_counting`] and [`crate::measures::label_pairs`].

use super::{
    for_each_block, for_each_block_pair, min_ignoring_nan, Accumulate, AccumulatePair, Partial,
    Real,
};
use crate::simd::log::ln;
use crate::simd::vector::F8;

/// Σx and min(0, min x) of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SumMin {
    /// Σ x.
    pub sum: f64,
    /// min(0, smallest x), NaN ignored: below 0 means an input error.
    pub min: f64,
}

impl Partial for SumMin {
    const EMPTY: Self = SumMin { sum: 0.0, min: 0.0 };
    #[inline]
    fn combine(self, o: Self) -> Self {
        SumMin {
            sum: self.sum + o.sum,
            min: min_ignoring_nan(self.min, o.min),
        }
    }
}

struct SumLanes<V> {
    sum: V,
    min: V,
}

impl<V: F8> Accumulate<V> for SumLanes<V> {
    #[inline(always)]
    fn add(&mut self, x: V) {
        self.sum = self.sum.add(x);
        self.min = self.min.min_ignoring_nan(x);
    }
}

#[inline(always)]
fn sum_min_body<V: F8, T: Real>(x: &[T]) -> SumMin {
    let zero = V::splat(0.0);
    let mut acc = SumLanes {
        sum: zero,
        min: zero,
    };
    for_each_block(x, &mut acc);
    SumMin {
        sum: acc.sum.sum_lanes(),
        min: acc.min.min_lane(),
    }
}

crate::simd::multiversion! {
    /// Σx and min(0, min x) over `x`, vectorised.
    pub fn sum_min<T: Real>(x: &[T]) -> SumMin = sum_min_body;
}

/// Scalar reference for [`sum_min`].
pub fn sum_min_reference<T: Real>(x: &[T]) -> SumMin {
    x.iter().fold(SumMin::EMPTY, |acc, &v| {
        acc.combine(SumMin {
            sum: v.to_f64(),
            min: v.to_f64(),
        })
    })
}

/// Σ x·ln(x·c/d) over a block (0 where x = 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogRatioSums {
    /// Σ x·ln(x·c/d).
    pub sum_terms: f64,
}

impl Partial for LogRatioSums {
    const EMPTY: Self = LogRatioSums { sum_terms: 0.0 };
    #[inline]
    fn combine(self, o: Self) -> Self {
        LogRatioSums {
            sum_terms: self.sum_terms + o.sum_terms,
        }
    }
}

#[inline(always)]
fn ratio_in_range<V: F8>(ratio: V) -> V::Mask {
    V::and(
        ratio.ge(V::splat(f64::MIN_POSITIVE)),
        ratio.lt(V::splat(f64::INFINITY)),
    )
}

/// Fast path: the ratio x·c/d and one log; lanes where a positive x meets a ratio out of
/// the normal range set `out_of_range` and the block is redone by [`RatioCareful`].
struct RatioFast<V> {
    st: V,
    c: V,
    out_of_range: V,
}

impl<V: F8> AccumulatePair<V> for RatioFast<V> {
    #[inline(always)]
    fn add(&mut self, x: V, d: V) {
        let zero = V::splat(0.0);
        let ratio = x.mul(self.c).div(d);
        self.st = self.st.add(V::select(x.eq(zero), zero, x.mul(ln(ratio))));
        let bad = V::select(ratio_in_range(ratio), zero, x).gt(zero);
        self.out_of_range = V::select(bad, V::splat(1.0), self.out_of_range);
    }
}

/// Careful path: ln x + ln c − ln d where the ratio is out of range.
struct RatioCareful<V> {
    st: V,
    c: V,
}

impl<V: F8> AccumulatePair<V> for RatioCareful<V> {
    #[inline(always)]
    fn add(&mut self, x: V, d: V) {
        let zero = V::splat(0.0);
        let ratio = x.mul(self.c).div(d);
        let log = V::select(
            ratio_in_range(ratio),
            ln(ratio),
            ln(x).add(ln(self.c)).sub(ln(d)),
        );
        self.st = self.st.add(V::select(x.eq(zero), zero, x.mul(log)));
    }
}

#[inline(always)]
fn xlog_ratio_sums_body<V: F8>(x: &[f64], d: &[f64], c: f64) -> LogRatioSums {
    let zero = V::splat(0.0);
    let mut fast = RatioFast {
        st: zero,
        c: V::splat(c),
        out_of_range: zero,
    };
    for_each_block_pair(x, d, &mut fast);
    if fast.out_of_range.max_lane() > 0.0 {
        let mut careful = RatioCareful {
            st: zero,
            c: V::splat(c),
        };
        for_each_block_pair(x, d, &mut careful);
        LogRatioSums {
            sum_terms: careful.st.sum_lanes(),
        }
    } else {
        LogRatioSums {
            sum_terms: fast.st.sum_lanes(),
        }
    }
}

crate::simd::multiversion! {
    /// Σ x·ln(x·c/d) over equally long `x` and `d`, 0 where x = 0, vectorised.
    /// With cell counts x, column sums d and c = n/(row sum) it is n·I(X;Y) of a table's
    /// row; with c = 1 it is −n·H(X|Y) of the row.
    pub fn xlog_ratio_sums<>(x: &[f64], d: &[f64], c: f64) -> LogRatioSums = xlog_ratio_sums_body;
}

/// Scalar reference for [`xlog_ratio_sums`], with `f64::ln` (three logs where the ratio
/// is not a normal number).
pub fn xlog_ratio_reference(x: &[f64], d: &[f64], c: f64) -> LogRatioSums {
    let mut acc = LogRatioSums::EMPTY;
    for (&a, &b) in x.iter().zip(d) {
        let r = a * c / b;
        let t = if a == 0.0 {
            0.0
        } else if (f64::MIN_POSITIVE..f64::INFINITY).contains(&r) {
            a * r.ln()
        } else {
            a * (a.ln() + c.ln() - b.ln())
        };
        acc = acc.combine(LogRatioSums { sum_terms: t });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, SPECIALS};

    #[test]
    fn sum_min_matches_reference_on_every_tail_length() {
        for len in 0..=67 {
            let x = positive(len, len as u64);
            let (got, want) = (sum_min(&x), sum_min_reference(&x));
            assert!(close(got.sum, want.sum, 1e-13) && got.min == want.min);
        }
        let mut x = positive(67, 1);
        x[30] = -2.0;
        x[31] = f64::NAN;
        let got = sum_min(&x);
        assert!(got.sum.is_nan() && got.min == -2.0);
    }

    #[test]
    fn xlog_ratio_matches_reference_on_every_tail_length() {
        for len in 0..=67 {
            let x = positive(len, len as u64);
            // d ≥ x, as column sums are
            let d: Vec<f64> = x
                .iter()
                .zip(positive(len, 99 + len as u64))
                .map(|(a, b)| a + b + 1e-3)
                .collect();
            for c in [1.0, 2.5, 1e6] {
                let (got, want) = (xlog_ratio_sums(&x, &d, c), xlog_ratio_reference(&x, &d, c));
                let scale: f64 = x
                    .iter()
                    .zip(&d)
                    .map(|(a, b)| (a * (a * c / b).ln()).abs())
                    .filter(|t| t.is_finite())
                    .sum();
                assert!(
                    (got.sum_terms - want.sum_terms).abs() <= 1e-13 * scale.max(1e-300),
                    "{got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn xlog_ratio_special_values() {
        for &s in &SPECIALS {
            for len in [1, 8, 9, 67] {
                let mut x = positive(len, 3);
                let mut d: Vec<f64> = x.iter().map(|v| v + 1.0).collect();
                x[len / 2] = s;
                d[len / 2] = s.max(1e-300) * 2.0;
                let (got, want) = (
                    xlog_ratio_sums(&x, &d, 3.0),
                    xlog_ratio_reference(&x, &d, 3.0),
                );
                assert!(
                    close(got.sum_terms, want.sum_terms, 1e-12),
                    "{s}: {got:?} vs {want:?}"
                );
            }
        }
        // x = d·/c exactly: every ratio is 1, the sum is exactly 0 (independent table)
        assert_eq!(
            xlog_ratio_sums(&[1.0, 1.0], &[2.0, 2.0], 2.0).sum_terms,
            0.0
        );
        assert_eq!(
            xlog_ratio_sums(&[3.0, 0.0], &[3.0, 0.0], 1.0).sum_terms,
            0.0
        );
    }
}
