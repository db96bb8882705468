//! Double-double arithmetic on eight lanes: a value is `hi + lo` with `|lo| ≤ ulp(hi)/2`,
//! about 106 significant bits. Used where a result is a small difference of rounded
//! quantities (the epistemic part of `ensemble_uncertainty`: members that agree to 1e-8
//! differ in the ninth digit of their normalised probabilities, which f64 normalisation
//! would round away).
//!
//! Error-free transformations (Knuth's TwoSum, Dekker's FastTwoSum, TwoProduct). The
//! product is one fused multiply-add where `F8::mul_add` is fused (AVX2, AVX-512, aarch64;
//! [`fused`] checks it at run time) and Dekker's product with Veltkamp's split (17
//! operations) on the x86-64 baseline, which has no FMA instruction; both are exact, so
//! every path gives the same double-double results. Callers pick the variant once with
//! the const parameter `FMA` (see `kernels::ensemble`).
//!
//! Validity: the split needs |a| < 2^996 (no overflow of `SPLITTER·a`); products and sums
//! are exact while no intermediate underflows (operands above ~2^−900). Callers keep
//! their operands in those ranges (see `kernels::ensemble`).

use crate::simd::vector::F8;

/// 2^27 + 1: Veltkamp's splitting constant for 53-bit significands.
const SPLITTER: f64 = 134_217_729.0;

/// A double-double on eight lanes.
#[derive(Clone, Copy)]
pub struct Dd<V> {
    /// The leading part (the value rounded to f64).
    pub hi: V,
    /// The trailing part.
    pub lo: V,
}

impl<V: F8> Dd<V> {
    /// Zero in every lane.
    #[inline(always)]
    pub fn zero() -> Self {
        Dd {
            hi: V::splat(0.0),
            lo: V::splat(0.0),
        }
    }

    /// `hi + lo` rounded to f64.
    #[inline(always)]
    pub fn to_f64(self) -> V {
        self.hi.add(self.lo)
    }
}

/// (s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth, 6 operations).
#[inline(always)]
pub fn two_sum<V: F8>(a: V, b: V) -> (V, V) {
    let s = a.add(b);
    let bb = s.sub(a);
    let e = a.sub(s.sub(bb)).add(b.sub(bb));
    (s, e)
}

/// (s, e) with s = fl(a + b) and s + e = a + b exactly, for |a| ≥ |b| or a = 0 (Dekker).
#[inline(always)]
pub fn fast_two_sum<V: F8>(a: V, b: V) -> (V, V) {
    let s = a.add(b);
    (s, b.sub(s.sub(a)))
}

/// (hi, lo) with hi + lo = a exactly and each half of at most 26 significant bits.
#[inline(always)]
fn split<V: F8>(a: V) -> (V, V) {
    let c = a.mul(V::splat(SPLITTER));
    let hi = c.sub(c.sub(a));
    (hi, a.sub(hi))
}

/// Whether `V::mul_add` rounds once (checked on values whose unfused result differs).
#[inline(always)]
pub fn fused<V: F8>() -> bool {
    let a = V::splat(1.0 + f64::EPSILON);
    // (1 + ε)² − (1 + 2ε) = ε²: fused gives ε², two roundings give 0.
    a.mul_add(a, V::splat(-(1.0 + 2.0 * f64::EPSILON)))
        .to_array()[0]
        != 0.0
}

/// (p, e) with p = fl(a·b) and p + e = a·b exactly: one fused multiply-add with `FMA`
/// (only where [`fused`] holds), else Dekker's TwoProduct (17 operations).
#[inline(always)]
pub fn two_prod<V: F8, const FMA: bool>(a: V, b: V) -> (V, V) {
    let p = a.mul(b);
    if FMA {
        return (p, a.mul_add(b, V::splat(0.0).sub(p)));
    }
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    let e = ah
        .mul(bh)
        .sub(p)
        .add(ah.mul(bl))
        .add(al.mul(bh))
        .add(al.mul(bl));
    (p, e)
}

/// x + y (a sloppy double-double add: relative error ~2^−104 unless the sum cancels, in
/// which case the error is ~2^−104 of the operands: enough for differences of values that
/// are themselves accurate to that).
#[inline(always)]
pub fn add<V: F8>(x: Dd<V>, y: Dd<V>) -> Dd<V> {
    let (s, e) = two_sum(x.hi, y.hi);
    let e = e.add(x.lo.add(y.lo));
    let (hi, lo) = fast_two_sum(s, e);
    Dd { hi, lo }
}

/// x − y (see [`add`]); exactly zero when x and y are the same double-double.
#[inline(always)]
pub fn sub<V: F8>(x: Dd<V>, y: Dd<V>) -> Dd<V> {
    add(
        x,
        Dd {
            hi: V::splat(0.0).sub(y.hi),
            lo: V::splat(0.0).sub(y.lo),
        },
    )
}

/// x + a for a plain f64 `a`.
#[inline(always)]
pub fn add_f64<V: F8>(x: Dd<V>, a: V) -> Dd<V> {
    let (s, e) = two_sum(x.hi, a);
    let (hi, lo) = fast_two_sum(s, e.add(x.lo));
    Dd { hi, lo }
}

/// a / z for a plain f64 `a` and a double-double `z`, given `inv ≈ 1/z.hi`, without a
/// division (two to three times the cost of the rest on AVX-512): q = a·inv, then two
/// corrections by the exact remainder a − q·z. The first makes `hi` the rounded quotient,
/// the second computes `lo` from `hi` itself, so where a / z is a double (a one-class row,
/// a one-hot row of counts) the result is exactly (a / z, 0), the same for every member
/// that has it. Relative error ~2^−104.
#[inline(always)]
pub fn div_by<V: F8, const FMA: bool>(a: V, z: Dd<V>, inv: V) -> Dd<V> {
    let q = a.mul(inv);
    let hi = q.add(remainder::<V, FMA>(a, q, z).mul(inv));
    let lo = remainder::<V, FMA>(a, hi, z).mul(inv);
    Dd { hi, lo }
}

/// a − q·z for a quotient q ≈ a/z: a − p is exact (p is within a few ulps of a); the rest
/// is a small correction. A function, not a closure inside [`div_by`]: a closure is compiled
/// without the SIMD caller's target features (see `tests/test_simd_inlining.py`).
#[inline(always)]
fn remainder<V: F8, const FMA: bool>(a: V, q: V, z: Dd<V>) -> V {
    let (p, e) = two_prod::<V, FMA>(q, z.hi);
    a.sub(p).sub(e).sub(q.mul(z.lo))
}

/// x / d for a plain f64 `d` (the member count), relative error ~2^−104.
#[inline(always)]
pub fn div_f64<V: F8, const FMA: bool>(x: Dd<V>, d: V) -> Dd<V> {
    let q = x.hi.div(d);
    let (p, e) = two_prod::<V, FMA>(q, d);
    let r = x.hi.sub(p).sub(e).add(x.lo);
    let (hi, lo) = fast_two_sum(q, r.div(d));
    Dd { hi, lo }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::vector::{on_every_vector_type, LaneOp};

    /// Lanes 0..4 hold a, lanes 4..8 hold b; the op writes its result into both halves.
    struct TwoProdOp;
    impl LaneOp for TwoProdOp {
        fn apply<V: F8>(&self, v: V) -> V {
            let a = v.to_array();
            let x = V::from_array([a[0], a[1], a[2], a[3], a[0], a[1], a[2], a[3]]);
            let y = V::from_array([a[4], a[5], a[6], a[7], a[4], a[5], a[6], a[7]]);
            let (p, e) = if fused::<V>() {
                two_prod::<V, true>(x, y)
            } else {
                two_prod::<V, false>(x, y)
            };
            let (p2, e2) = two_prod::<V, false>(x, y);
            assert_eq!(p.to_array(), p2.to_array());
            assert_eq!(e.to_array(), e2.to_array());
            let (p, e) = (p.to_array(), e.to_array());
            V::from_array([p[0], p[1], p[2], p[3], e[0], e[1], e[2], e[3]])
        }
    }

    #[test]
    fn two_prod_is_exact_on_every_vector_type() {
        let mut vals = Vec::new();
        let mut s = 0x1234_5678_9abc_def1u64;
        for _ in 0..4000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            vals.push((u - 0.5) * 10f64.powi((s % 40) as i32 - 20));
        }
        for (name, got) in on_every_vector_type(&TwoProdOp, &vals) {
            for (g, x) in got.chunks(8).zip(vals.chunks(8)) {
                for l in 0..4 {
                    let (a, b) = (x[l], x[l + 4]);
                    let want_e = a.mul_add(b, -(a * b));
                    assert_eq!(g[l], a * b, "{name}");
                    assert_eq!(g[l + 4], want_e, "{name}: {a:e}·{b:e}");
                }
            }
        }
    }

    struct DivOp;
    impl LaneOp for DivOp {
        fn apply<V: F8>(&self, v: V) -> V {
            // a / (v + v·2^-60) as a double-double, compared with the exact quotient below.
            let z = Dd {
                hi: v,
                lo: v.mul(V::splat(2f64.powi(-60))),
            };
            let q = div_by::<V, false>(V::splat(1.0), z, V::splat(1.0).div(v));
            // q·z − 1 in double-double: should be ~1e-31.
            let (p, e) = two_prod::<V, false>(q.hi, z.hi);
            p.sub(V::splat(1.0))
                .add(e)
                .add(q.hi.mul(z.lo))
                .add(q.lo.mul(z.hi))
        }
    }

    #[test]
    fn fused_is_detected_where_mul_add_fuses() {
        use crate::simd::vector::Scalar8;
        assert_eq!(
            fused::<Scalar8>(),
            cfg!(any(target_feature = "fma", target_arch = "aarch64"))
        );
    }

    #[test]
    fn division_is_accurate_to_about_two_to_the_minus_104() {
        let vals: Vec<f64> = (1..200).map(|i| 0.37 * i as f64 + 1e-3).collect();
        for (name, got) in on_every_vector_type(&DivOp, &vals) {
            for r in got {
                assert!(r.abs() < 1e-30, "{name}: residual {r:e}");
            }
        }
    }
}
