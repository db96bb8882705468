//! A division-free natural logarithm, accurate in *absolute* terms: for kernels whose
//! logarithms are of values away from 1, such as probabilities ≤ ½ (|ln p| ≥ ln 2, so
//! the absolute bound is a relative one there).
//!
//! x = 2^k·m with m ∈ [1, 2); c is the midpoint of m's sixteenth of [1, 2) (its top four
//! mantissa bits), u = m − c exactly (|u| ≤ 1/32), r = u·(1/c) ∈ [−1/33, 1/31), and
//! ln x = k·ln 2 + ln c + log1p(r), log1p by its Taylor polynomial to r^10 (truncation
//! < 2e-18). 1/c and ln c (as hi + lo, hi a multiple of 2^−32 so that k·ln2_hi + hi is
//! exact) come from 16-entry tables (`vpermt2pd` on AVX-512, gathers on AVX2), so the
//! result is rounded once where the terms do not cancel. Error: ≤ 2.3e-16 absolute + 2.3e-16 relative, and ≤ 1 ULP for x ≤ ½ and
//! x ≥ 2 (tested on 4·10^5 values over every binade, on every instruction set), where [`super::log::ln_finite`] is ≤ 1 ULP
//! relative everywhere but divides once per lane (`s = f/(2+f)`), and the divider
//! (one eight-lane division per 16 cycles) bounds the kernels that take a log per element.
//!
//! Where the lookups are gathers (AVX2) it is ~1.5× slower than `ln_finite` (on a Zen 4
//! VM: 2.5 vs 1.7 ns per element), so `ensemble_uncertainty` (a log per element) takes it
//! only where [`F8::PERMUTE_LOOKUP`] holds (AVX-512). The float32 short-row groups of
//! `kernels::plogq` take it on every instruction set for their one log per row (c = ln m
//! of the row's total), where the gathers cost AVX2 less than the division saves AVX-512
//! and the instruction sets keep agreeing bit for bit.
//!
//! DESIGN §2b asks float64 results for ≤ 1 ULP logarithms: use it only where every
//! argument that matters is ≤ ½ (or ≥ 2). Its error near x = 1 is absolute (the bucket
//! of 1 is centred on 1.03125, not on 1), so a float64 term whose log argument may lie in
//! (½, 2) keeps [`super::log::ln_finite`] — tried for the entropy terms P·ln(1/Q) of the
//! float64 short-row forms (benches/README.md), where the result stayed as exact but the
//! logarithm itself was not ≤ 1 ULP for q·2^e ∈ (½, 1).
//!
//! Domain: finite x ≥ 0. x = 0 gives a finite value (so 0·ln 0 evaluates to 0); inf,
//! NaN and negatives give garbage (the callers only use it where the values are known
//! finite and ≥ 0).

use super::log::{EXP_MAGIC_OFFSET, LN2_HI, LN2_LO, ONE_BITS, TWO54};
use super::vector::F8;

/// 1/c for c = 1 + (2j + 1)/32, j = 0..16, correctly rounded.
const INV_C: [u64; 16] = [
    0x3fef07c1f07c1f08,
    0x3fed41d41d41d41d,
    0x3febacf914c1bad0,
    0x3fea41a41a41a41a,
    0x3fe8f9c18f9c18fa,
    0x3fe7d05f417d05f4,
    0x3fe6c16c16c16c17,
    0x3fe5c9882b931057,
    0x3fe4e5e0a72f0539,
    0x3fe4141414141414,
    0x3fe3521cfb2b78c1,
    0x3fe29e4129e4129e,
    0x3fe1f7047dc11f70,
    0x3fe15b1e5f75270d,
    0x3fe0c9714fbcda3b,
    0x3fe0410410410410,
];
/// ln c for the same c, split as hi + lo: hi is ln c rounded to a multiple of 2^−32 (so
/// k·LN2_HI + hi is exact), lo the rest, correctly rounded.
const LN_C_HI: [u64; 16] = [
    0x3f9f829b10000000,
    0x3fb6f0d28b000000,
    0x3fc29552f8000000,
    0x3fc9525a9d000000,
    0x3fcfb9186d800000,
    0x3fd2e8e2bb000000,
    0x3fd5d1bdbf400000,
    0x3fd89a3386c00000,
    0x3fdb44f77bc00000,
    0x3fddd46a04c00000,
    0x3fe02552a5a00000,
    0x3fe154c3d3000000,
    0x3fe2795e12800000,
    0x3fe393e0d3600000,
    0x3fe4a4f85dc00000,
    0x3fe5ad404c400000,
];
const LN_C_LO: [u64; 16] = [
    0xbdd87ccffb30703f,
    0xbdba94b4641b6646,
    0x3dcff5234c05dc71,
    0xbdb75297137d9f16,
    0xbdd0e0eab9555cca,
    0xbddee2cf63d336e5,
    0x3dd809ca508d8e0f,
    0x3d9425ab5a718811,
    0x3dc91ec5197ddb56,
    0x3d9c4a0bee626a4a,
    0x3dc743fb1a71a576,
    0xbdd6542cace198b9,
    0x3dd36235d6f07e7b,
    0xbdd3abccac777b40,
    0xbddf8289fbb08171,
    0xbdd4c1a609acaab4,
];

const fn table(bits: [u64; 16]) -> [f64; 16] {
    let mut out = [0.0; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = f64::from_bits(bits[i]);
        i += 1;
    }
    out
}

static INV_C_TABLE: [f64; 16] = table(INV_C);
static LN_C_HI_TABLE: [f64; 16] = table(LN_C_HI);
static LN_C_LO_TABLE: [f64; 16] = table(LN_C_LO);

const MANTISSA: u64 = 0x000f_ffff_ffff_ffff;
/// Bit 47 of the mantissa: with bits 51..48 kept, the midpoint of m's sixteenth.
const HALF_SIXTEENTH: u64 = 1 << 47;

/// [`F8::exponent_mantissa`] by integer operations on the bits (every instruction set);
/// subnormals are scaled by 2^54 first. x = 0 gives (−1077, 1).
#[inline(always)]
pub fn exponent_mantissa_by_bits<V: F8>(x: V) -> (V, V) {
    let tiny = x.lt(V::splat(f64::MIN_POSITIVE));
    let scaled = V::select(tiny, x.mul(V::splat(TWO54)), x);
    let k_adjust = V::select(tiny, V::splat(54.0), V::splat(0.0));
    let k = scaled
        .bits_shr52()
        .bits_and(0x7ff)
        .bits_or(0x4330_0000_0000_0000)
        .sub(V::splat(EXP_MAGIC_OFFSET))
        .sub(k_adjust);
    (k, scaled.bits_and(MANTISSA).bits_or(ONE_BITS))
}

/// ln x for eight lanes of finite x ≥ 0 (see the module docs): ≤ 2.3e-16 absolute +
/// 2.3e-16 relative, no division.
#[inline(always)]
pub fn ln_by_table<V: F8>(x: V) -> V {
    let (k, m, log1p_r) = parts(x);
    assemble(k, m, log1p_r)
}

/// (k, m, log1p r) of x = 2^k·m, m = c·(1 + r) (see the module docs).
#[inline(always)]
fn parts<V: F8>(x: V) -> (V, V, V) {
    let (k, m) = x.exponent_mantissa();
    let c = m
        .bits_and(!(HALF_SIXTEENTH * 2 - 1))
        .bits_or(HALF_SIXTEENTH);
    let r = m.sub(c).mul(m.lookup16(&INV_C_TABLE));
    // log1p(r) = r + r²·Q(r), Q(r) = Σ_{n=2..10} (−1)^(n+1) r^(n−2)/n
    let mut q = V::splat(-1.0 / 10.0);
    for n in (2..10).rev() {
        let coef = if n % 2 == 0 { -1.0 } else { 1.0 } / n as f64;
        q = q.mul_add(r, V::splat(coef));
    }
    (k, m, r.mul(r).mul_add(q, r))
}

/// (k·LN2_HI + ln c_hi) + (k·LN2_LO + ln c_lo + log1p r): the first sum is exact (both
/// are multiples of 2^−32 below 2^11, fused or not), so the result is rounded once,
/// up to the small second sum's error (~0.51 ULP where it does not cancel).
#[inline(always)]
fn assemble<V: F8>(k: V, m: V, log1p_r: V) -> V {
    let hi = k.mul_add(V::splat(LN2_HI), m.lookup16(&LN_C_HI_TABLE));
    let lo = k.mul_add(V::splat(LN2_LO), m.lookup16(&LN_C_LO_TABLE));
    hi.add(lo.add(log1p_r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{ulps, xorshift};
    use crate::simd::vector::{on_every_vector_type, LaneOp};

    struct ByTable;
    impl LaneOp for ByTable {
        fn apply<V: F8>(&self, v: V) -> V {
            ln_by_table(v)
        }
    }

    /// Values over every binade (subnormals included), each sixteenth of [1, 2) at its
    /// edges, and values near ½ and 1.
    fn samples() -> Vec<f64> {
        let mut x = vec![5e-324, 1e-310, f64::MIN_POSITIVE, 0.5, 1.0, 2.0, f64::MAX];
        for j in 0..=16u64 {
            let edge = f64::from_bits(ONE_BITS + (j << 48));
            for d in [-2i64, -1, 0, 1, 2] {
                let v = f64::from_bits((edge.to_bits() as i64 + d) as u64);
                x.extend([v, v * 0.25, v * 0.5, v * 1e-300, v * 1e300]);
            }
        }
        let mut next = xorshift(5);
        for i in 0..400_000 {
            let state = next();
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            x.push(match i % 3 {
                0 => unit,
                1 => 0.5 + (unit - 0.5) * 0.01,
                _ => f64::from_bits(1 + state % 0x7fef_ffff_ffff_ffff),
            });
        }
        x
    }

    #[test]
    fn within_the_absolute_bound_and_one_ulp_away_from_one() {
        let x = samples();
        for (name, got) in on_every_vector_type(&ByTable, &x) {
            let mut worst = 0;
            for (&g, &v) in got.iter().zip(&x) {
                let want = v.ln();
                let err = (g - want).abs();
                assert!(
                    err <= 2.3e-16 + 2.3e-16 * want.abs(),
                    "{name}: ln({v:e}) = {g:e}, want {want:e}"
                );
                if !(0.5..2.0).contains(&v) || v == 0.5 {
                    worst = worst.max(2 * ulps(g, want));
                }
            }
            assert!(worst <= 2, "{name}: {} ULP", worst as f64 / 2.0);
        }
    }

    #[test]
    fn avx2_and_avx512_agree_bitwise_and_zero_is_finite() {
        let mut x = samples();
        x.push(0.0);
        let runs = on_every_vector_type(&ByTable, &x);
        let fused: Vec<_> = runs.iter().filter(|(n, _)| *n != "scalar").collect();
        for pair in fused.windows(2) {
            for ((a, b), v) in pair[0].1.iter().zip(&pair[1].1).zip(&x) {
                assert_eq!(a.to_bits(), b.to_bits(), "ln({v:e})");
            }
        }
        for (name, got) in &runs {
            assert!(
                got.last().unwrap().is_finite(),
                "{name}: ln(0) must be finite"
            );
        }
    }

    #[test]
    fn exponent_mantissa_matches_the_bits_on_every_type() {
        struct Split(bool);
        impl LaneOp for Split {
            fn apply<V: F8>(&self, v: V) -> V {
                let (k, m) = v.exponent_mantissa();
                if self.0 {
                    k
                } else {
                    m
                }
            }
        }
        let x: Vec<f64> = samples().into_iter().filter(|&v| v > 0.0).collect();
        for part in [true, false] {
            for (name, got) in on_every_vector_type(&Split(part), &x) {
                for (&g, &v) in got.iter().zip(&x) {
                    let (k, m) = {
                        let mut k = v.log2().floor();
                        // v·2^−k in two exact steps (2^−k alone may overflow)
                        let half = (k / 2.0).trunc();
                        let mut m = v * 2f64.powf(-half) * 2f64.powf(half - k);
                        if m >= 2.0 {
                            k += 1.0;
                            m /= 2.0;
                        } else if m < 1.0 {
                            k -= 1.0;
                            m *= 2.0;
                        }
                        (k, m)
                    };
                    let want = if part { k } else { m };
                    assert_eq!(g, want, "{name}: {v:e}");
                }
            }
        }
    }
}
