//! Branch-free exp for eight lanes, without a division.
//!
//! x = k·ln2 + r with k = round(x/ln2) (2^52 magic-number rounding) and |r| ≤ ln2/2
//! (Cody–Waite: k·LN2_HI is exact for |k| < 2^20); exp(r) by its Taylor polynomial to
//! degree 13 (truncation < 5e-18 relative on |r| ≤ 0.347) in Horner form; the result is
//! scaled by 2^k built from the exponent bits, in two factors so that results in the
//! subnormal range (x < −708.4) and k = 1024 are exact scalings too.
//! Specials: x > 709.78 → +inf, x < −745.14 → 0, NaN → NaN, −inf → 0.
//! Measured: ≤ 1 ULP from `f64::exp` over [−745, 709.8] (see tests).

use crate::simd::vector::F8;

const LOG2_E: f64 = std::f64::consts::LOG2_E;
#[allow(clippy::excessive_precision)]
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01; // 0x3fe62e42_fee00000: 32 trailing zero bits
#[allow(clippy::excessive_precision)]
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// 1.5·2^52: adding and subtracting it rounds |v| < 2^51 to the nearest integer.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// 2^52 + 1023: `k + POW2_MAGIC` holds k + 1023 in its low mantissa bits.
const POW2_MAGIC: f64 = 4_503_599_627_370_496.0 + 1023.0;
/// Above this exp overflows.
pub const EXP_OVERFLOW: f64 = 709.782_712_893_384;
/// Below this exp underflows to 0 (half the smallest subnormal rounds to 0).
pub const EXP_UNDERFLOW: f64 = -745.133_219_101_941_2;
/// 1/n! for n = 2..=13.
const INV_FACT: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
];

/// 2^k for integral k in [−1022, 1023], from the exponent bits.
#[inline(always)]
fn pow2i<V: F8>(k: V) -> V {
    k.add(V::splat(POW2_MAGIC)).bits_shl52()
}

/// (k, e^r) for x = k·ln2 + r: the range reduction and the polynomial, shared by [`exp`]
/// and [`exp_in_domain`].
#[inline(always)]
fn reduced<V: F8>(xc: V) -> (V, V) {
    let k = xc
        .mul(V::splat(LOG2_E))
        .add(V::splat(ROUND_MAGIC))
        .sub(V::splat(ROUND_MAGIC));
    let r = xc.sub(k.mul(V::splat(LN2_HI))).sub(k.mul(V::splat(LN2_LO)));

    // p = Σ_{n=2..13} r^(n−2)/n! by Estrin's scheme: a dependency depth of 4 fused
    // multiply-adds instead of Horner's 12, which made the softmax loop latency-bound.
    // 1 + r + r²·p: adding the large terms last keeps the rounding error near 0.5 ULP.
    (k, V::splat(1.0).add(expm1_polynomial(r)))
}

/// e^r − 1 = r + r²·p(r) for |r| ≤ 0.347, p = Σ_{n=2..13} r^(n−2)/n! (Estrin's scheme):
/// the polynomial of [`exp`] without its leading 1, so it keeps r's relative precision.
#[inline(always)]
fn expm1_polynomial<V: F8>(r: V) -> V {
    let c = |i: usize| V::splat(INV_FACT[i]);
    let r2 = r.mul(r);
    let r4 = r2.mul(r2);
    let r8 = r4.mul(r4);
    let q0 = r.mul_add(c(1), c(0));
    let q1 = r.mul_add(c(3), c(2));
    let q2 = r.mul_add(c(5), c(4));
    let q3 = r.mul_add(c(7), c(6));
    let q4 = r.mul_add(c(9), c(8));
    let q5 = r.mul_add(c(11), c(10));
    let s0 = r2.mul_add(q1, q0);
    let s1 = r2.mul_add(q3, q2);
    let s2 = r2.mul_add(q5, q4);
    let p = r8.mul_add(s2, r4.mul_add(s1, s0));
    r2.mul_add(p, r)
}

/// Below this |x|, [`expm1`] takes the polynomial directly (no range reduction).
const EXPM1_POLYNOMIAL_BELOW: f64 = 0.34;

/// e^x − 1 for eight lanes, to a few ULP of the result everywhere: |x| < 0.34 by the
/// polynomial (full relative precision near 0, where e^x − 1 cancels), elsewhere
/// e^x − 1, whose magnitude is then ≥ 0.29 (≤ 4 ULP). +inf → +inf, −inf → −1, NaN → NaN.
#[inline(always)]
pub fn expm1<V: F8>(x: V) -> V {
    let small = x
        .bits_and(0x7fff_ffff_ffff_ffff)
        .lt(V::splat(EXPM1_POLYNOMIAL_BELOW));
    let near = expm1_polynomial(V::select(small, x, V::splat(0.0)));
    V::select(small, near, exp(x).sub(V::splat(1.0)))
}

/// e^x for x ∈ [[`DOMAIN_MIN`], [`DOMAIN_MAX`]] (or NaN, which gives NaN): no clamp, no
/// special values, one scaling — bitwise what [`exp`] returns there. The loss kernels use
/// it for blocks whose every gap is known to lie in the domain.
#[inline(always)]
pub fn exp_in_domain<V: F8>(x: V) -> V {
    let (k, poly) = reduced(x);
    poly.mul(pow2i(k))
}

/// Lower end of [`exp_in_domain`]'s domain: k = round(x·log2 e) ≥ −1020 there, so 2^k is
/// a normal number.
pub const DOMAIN_MIN: f64 = -707.0;
/// Upper end of [`exp_in_domain`]'s domain: k ≤ 1023 there.
pub const DOMAIN_MAX: f64 = 709.0;

/// e^x for eight lanes.
#[inline(always)]
pub fn exp<V: F8>(x: V) -> V {
    // Clamp so k stays in range; out-of-range lanes are replaced at the end.
    let xc = V::select(x.lt(V::splat(-746.0)), V::splat(-746.0), x);
    let xc = V::select(xc.gt(V::splat(710.0)), V::splat(710.0), xc);
    let (k, poly) = reduced(xc);

    // 2^k = 2^k1 · 2^k2 with k1 in the normal range: k < −1020 borrows 2^−1000, k = 1024 borrows 2.
    let low = k.lt(V::splat(-1020.0));
    let high = k.gt(V::splat(1023.0));
    let k1 = V::select(
        low,
        k.add(V::splat(1000.0)),
        V::select(high, k.sub(V::splat(1.0)), k),
    );
    let second = V::select(
        low,
        V::splat(f64::from_bits(0x0170_0000_0000_0000)),
        V::select(high, V::splat(2.0), V::splat(1.0)),
    );
    let y = poly.mul(pow2i(k1)).mul(second);

    let y = V::select(x.gt(V::splat(EXP_OVERFLOW)), V::splat(f64::INFINITY), y);
    let y = V::select(x.lt(V::splat(EXP_UNDERFLOW)), V::splat(0.0), y);
    V::select(x.eq(x), y, x)
}

/// e^x of every value of `x`, in place, eight lanes at a time (the tail padded).
#[inline(always)]
fn exp_in_place_body<V: F8>(x: &mut [f64]) {
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        let c: &mut [f64; 8] = c.try_into().expect("8");
        exp::<V>(V::load_f64(c)).store_f64(c);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut buf = [0.0; 8];
        buf[..tail.len()].copy_from_slice(tail);
        exp::<V>(V::load_f64(&buf)).store_f64(&mut buf);
        tail.copy_from_slice(&buf[..tail.len()]);
    }
}

crate::simd::multiversion! {
    /// e^x of every value of `x`, in place (≤ 1 ULP from `f64::exp`, as [`exp`]).
    pub fn exp_in_place<>(x: &mut [f64]) -> () = exp_in_place_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{ulps, xorshift};
    use crate::simd::vector::{on_every_vector_type, LaneOp};

    struct ExpOp;
    impl LaneOp for ExpOp {
        fn apply<V: F8>(&self, v: V) -> V {
            exp(v)
        }
    }

    struct Expm1Op;
    impl LaneOp for Expm1Op {
        fn apply<V: F8>(&self, v: V) -> V {
            expm1(v)
        }
    }

    #[test]
    fn expm1_keeps_its_relative_precision_near_zero() {
        let mut x: Vec<f64> = vec![0.0, -0.0, 1e-300, -1e-300, 5e-324, 0.3399, 0.34, -0.34, 1.0];
        x.extend([
            -1.0,
            700.0,
            709.8,
            -800.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]);
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for i in 0..100_000 {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            // magnitudes 1e-20 … 2 of both signs, and some beyond
            let v = if i % 10 == 0 {
                u * 80.0 - 40.0
            } else {
                10f64.powf(-20.0 * u) * 2.0
            };
            x.push(if i % 2 == 0 { v } else { -v });
        }
        for (name, got) in on_every_vector_type(&Expm1Op, &x) {
            for (&v, &g) in x.iter().zip(&got) {
                let want = v.exp_m1();
                if want.is_nan() {
                    assert!(g.is_nan(), "{name}: expm1({v:e}) = {g:e}");
                } else if want.is_infinite() || want == 0.0 || want == -1.0 {
                    assert_eq!(g, want, "{name}: expm1({v:e})");
                } else {
                    assert!(
                        ulps(g, want) <= 4,
                        "{name}: expm1({v:e}) = {g:e}, want {want:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn in_place_covers_every_tail() {
        let specials = [
            0.0,
            -1.0,
            2.5,
            709.9,
            -746.0,
            f64::NEG_INFINITY,
            f64::NAN,
            1e-300,
        ];
        for len in 0..=67usize {
            let x: Vec<f64> = (0..len)
                .map(|i| specials[i % specials.len()] + (i / specials.len()) as f64)
                .collect();
            let mut got = x.clone();
            exp_in_place(&mut got);
            for (&v, &g) in x.iter().zip(&got) {
                let want = v.exp();
                assert!(
                    (g.is_nan() && want.is_nan()) || g == want || ulps(g, want) <= 1,
                    "len {len}: exp({v:e}) = {g:e}, want {want:e}"
                );
            }
        }
    }

    #[test]
    fn within_one_ulp_of_libm_and_identical_on_every_vector_type() {
        let mut x: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-300,
            -1e-300,
            709.78,
            709.782712893384,
            709.79,
            710.0,
            1e300,
            -708.3,
            -708.4,
            -720.0,
            -744.0,
            -745.0,
            -745.13,
            -745.14,
            -746.0,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.5 * std::f64::consts::LN_2,
        ];
        let mut s = 0x1234_5678_9abc_def1u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            x.push(((s >> 11) as f64 / (1u64 << 53) as f64) * 1455.0 - 745.0);
        }
        let results = on_every_vector_type(&ExpOp, &x);
        let (_, first) = &results[0];
        let mut worst = 0;
        for (i, &v) in x.iter().enumerate() {
            let (got, want) = (first[i], v.exp());
            if want.is_nan() {
                assert!(got.is_nan());
            } else if want.is_infinite() || want == 0.0 {
                assert_eq!(got, want, "exp({v})");
            } else {
                // Subnormal results: the absolute error is what counts (one final rounding).
                let e = ulps(got, want);
                assert!(e <= 1, "exp({v:e}) = {got:e}, want {want:e} ({e} ULP)");
                worst = worst.max(e);
            }
        }
        // AVX2 and AVX-512 fuse their multiply-adds and agree bitwise; the x86-64 portable
        // type rounds them twice and is only held to the ULP bound (checked on all types).
        let fused: Vec<_> = results
            .iter()
            .filter(|(n, _)| *n != "scalar" || cfg!(target_arch = "aarch64"))
            .collect();
        for (name, other) in &results {
            for (i, &v) in x.iter().enumerate() {
                let (got, want) = (other[i], v.exp());
                if want.is_finite() && want != 0.0 {
                    assert!(
                        ulps(got, want) <= 1,
                        "{name}: exp({v:e}) = {got:e}, want {want:e}"
                    );
                }
            }
        }
        for pair in fused.windows(2) {
            let ((_, a), (name, b)) = (pair[0], pair[1]);
            for (a, b) in a.iter().zip(b.iter()) {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{name} differs"
                );
            }
        }
        assert!(worst <= 1);
        // the lean form gives the same bits on its domain
        struct Lean;
        impl LaneOp for Lean {
            fn apply<V: F8>(&self, v: V) -> V {
                exp_in_domain(v)
            }
        }
        let dom: Vec<f64> = x
            .iter()
            .copied()
            .filter(|v| (DOMAIN_MIN..=DOMAIN_MAX).contains(v))
            .collect();
        let full = on_every_vector_type(&ExpOp, &dom);
        for ((name, a), (_, b)) in full.iter().zip(on_every_vector_type(&Lean, &dom).iter()) {
            for ((a, b), v) in a.iter().zip(b).zip(&dom) {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{name}: exp({v:e}) = {a:e}, lean {b:e}"
                );
            }
        }
    }
}
