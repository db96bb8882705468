//! Σx and Σ x·ln x over a block: the partial statistics of Shannon entropy.

use super::{for_each_block, min_ignoring_nan, Accumulate, Partial, Real};
use crate::simd::log::{ln, ln_finite};
use crate::simd::vector::F8;

/// Partial statistics of Shannon entropy over a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct XLogXSums {
    /// Σ x.
    pub sum: f64,
    /// Σ x·ln x, with 0·ln 0 = 0.
    pub sum_xlogx: f64,
    /// min(0, smallest x), NaN ignored: below 0 means an input error. Zero padding of short blocks cannot change it.
    pub min: f64,
}

impl Partial for XLogXSums {
    const EMPTY: Self = XLogXSums {
        sum: 0.0,
        sum_xlogx: 0.0,
        min: 0.0,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        XLogXSums {
            sum: self.sum + o.sum,
            sum_xlogx: self.sum_xlogx + o.sum_xlogx,
            min: min_ignoring_nan(self.min, o.min),
        }
    }
}

/// x·ln x with 0·ln 0 = 0 (NaN and negatives give NaN, +inf gives +inf).
#[inline(always)]
pub(crate) fn xlogx<V: F8>(x: V) -> V {
    let zero = V::splat(0.0);
    V::select(x.eq(zero), zero, x.mul(ln(x)))
}

/// Fast path: [`ln_finite`] and fused accumulation. A block holding ±inf or NaN has a
/// non-finite sum, and is redone by [`Careful`].
struct Fast<V> {
    sum: V,
    sum_xlogx: V,
    min: V,
}

impl<V: F8> Accumulate<V> for Fast<V> {
    #[inline(always)]
    fn add(&mut self, x: V) {
        self.sum = self.sum.add(x);
        self.sum_xlogx = x.mul_add(ln_finite(x), self.sum_xlogx);
        self.min = self.min.min_ignoring_nan(x);
    }
}

/// Careful path: every special value handled lane by lane.
struct Careful<V> {
    sum: V,
    sum_xlogx: V,
    min: V,
}

impl<V: F8> Accumulate<V> for Careful<V> {
    #[inline(always)]
    fn add(&mut self, x: V) {
        self.sum = self.sum.add(x);
        self.sum_xlogx = self.sum_xlogx.add(xlogx(x));
        self.min = self.min.min_ignoring_nan(x);
    }
}

#[inline(always)]
fn xlogx_sums_body<V: F8, T: Real>(x: &[T]) -> XLogXSums {
    let zero = V::splat(0.0);
    let mut fast = Fast {
        sum: zero,
        sum_xlogx: zero,
        min: zero,
    };
    for_each_block(x, &mut fast);
    let sum = fast.sum.sum_lanes();
    if sum.is_finite() {
        return XLogXSums {
            sum,
            sum_xlogx: fast.sum_xlogx.sum_lanes(),
            min: fast.min.min_lane(),
        };
    }
    let mut careful = Careful {
        sum: zero,
        sum_xlogx: zero,
        min: zero,
    };
    for_each_block(x, &mut careful);
    XLogXSums {
        sum: careful.sum.sum_lanes(),
        sum_xlogx: careful.sum_xlogx.sum_lanes(),
        min: careful.min.min_lane(),
    }
}

crate::simd::multiversion! {
    /// Σx, Σ x·ln x and min(0, min x) over `x`, vectorised.
    pub fn xlogx_sums<T: Real>(x: &[T]) -> XLogXSums = xlogx_sums_body;
}

/// Scalar reference for [`xlogx_sums`]: a straight loop with `f64::ln`.
pub fn reference<T: Real>(x: &[T]) -> XLogXSums {
    let mut acc = XLogXSums::EMPTY;
    for &v in x {
        let v = v.to_f64();
        let t = if v == 0.0 {
            0.0
        } else if v < 0.0 {
            f64::NAN
        } else {
            v * v.ln()
        };
        acc = acc.combine(XLogXSums {
            sum: v,
            sum_xlogx: t,
            min: v,
        });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, SPECIALS};

    fn check<T: Real>(x: &[T]) {
        let (got, want) = (xlogx_sums(x), reference(x));
        assert!(close(got.sum, want.sum, 1e-13), "sum {got:?} vs {want:?}");
        assert!(
            close(got.sum_xlogx, want.sum_xlogx, 1e-13),
            "xlogx {got:?} vs {want:?} for {x:?}"
        );
        assert!(got.min == want.min || (got.min.is_infinite() && want.min.is_infinite()));
    }

    #[test]
    fn matches_reference_on_every_tail_length() {
        for len in 0..=67 {
            let x = positive(len, len as u64);
            check(&x);
            check(&x.iter().map(|&v| v as f32).collect::<Vec<_>>());
        }
        check(&positive(100_003, 7));
    }

    #[test]
    fn matches_reference_on_special_values_in_every_position() {
        for &s in &SPECIALS {
            for len in [1, 7, 8, 9, 17, 67] {
                for pos in 0..len {
                    let mut x = positive(len, 3);
                    x[pos] = s;
                    check(&x);
                }
            }
        }
    }

    #[test]
    fn nan_and_negative_propagate() {
        let s = xlogx_sums(&[0.5, f64::NAN, 0.5]);
        assert!(s.sum.is_nan() && s.sum_xlogx.is_nan());
        let s = xlogx_sums(&[0.5, -0.25, 0.5]);
        assert_eq!(s.min, -0.25);
        assert_eq!(xlogx_sums::<f64>(&[]), XLogXSums::EMPTY);
    }
}
