//! Natural logarithm of sixteen f32 lanes, division-free: the native float32 path that
//! DESIGN §2b allows (results within 1e-6 relative; the kernels accumulate in f64).
//!
//! Algorithm (Cephes `logf`, with musl's bit-level range reduction): x = 2^k·m with
//! m ∈ [√2/2, √2) taken straight from the bits, f = m − 1, and
//! ln(1+f) = f − f²/2 + f³·P(f) with Cephes' degree-8 polynomial P; k·ln 2 is added in two
//! parts (0.693359375 has 9 significant bits, so k·LN2_HI is exact). No division: the f64
//! log's s = f/(2+f) costs a divide per lane, which dominated; P(f) is a longer polynomial
//! but pure fused multiply-adds.
//!
//! Domain: normal, positive, finite x (the "fast path"). Zero gives a finite value (so
//! 0·ln 0 evaluates to 0), everything else (subnormal, inf, NaN, negative) gives garbage;
//! callers check their blocks and redo out-of-domain ones in f64.
//!
//! Measured (tests below, 4·10^6 samples over every binade and 10^6 near 1): ≤ 1 ULP (f32)
//! from the correctly rounded logarithm, and at most 7.9e-8 relative error of ln x.

use super::vector_f32::F16;

#[allow(clippy::excessive_precision)] // exactly 355/512
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes logf's P(f), highest power first.
#[allow(clippy::excessive_precision)]
const P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461_031e-1,
    1.167_699_874e-1,
    -1.242_014_084_6e-1,
    1.424_932_278_7e-1,
    -1.666_805_766_5e-1,
    2.000_071_476_5e-1,
    -2.499_999_399_3e-1,
    3.333_333_117_4e-1,
];
/// Bits of √2/2 rounded up (musl): mantissas at or above it keep exponent k.
const SQRT_HALF_BITS: u32 = 0x3f35_04f3;
const ONE_BITS: u32 = 0x3f80_0000;
/// 2^23 + 127: subtracting it from the magic-number float recovers the unbiased exponent.
const EXP_MAGIC_OFFSET: f32 = 8_388_608.0 + 127.0;

/// The parts of ln x for normal positive x: `(k, f, rest)` with x = 2^k·(1+f),
/// f ∈ [√2/2 − 1, √2 − 1), and rest = ln(1+f) − f (≈ −f²/2, computed without cancelling
/// against f). ln x = k·ln2 + f + rest; see [`ln_fast`].
#[inline(always)]
pub fn ln_parts<V: F16>(x: V) -> (V, V, V) {
    let ix = x.bits_add(ONE_BITS.wrapping_sub(SQRT_HALF_BITS));
    let k = ix
        .bits_shr23()
        .bits_or(0x4b00_0000)
        .sub(V::splat(EXP_MAGIC_OFFSET));
    let m = ix.bits_and(0x007f_ffff).bits_add(SQRT_HALF_BITS);
    let f = m.sub(V::splat(1.0));
    (k, f, rest_of(f))
}

/// ln(1+f) − f for |f| ≤ √2 − 1: f²·(f·P(f) − ½).
#[inline(always)]
pub fn rest_of<V: F16>(f: V) -> V {
    let z = f.mul(f);
    let c = |i: usize| V::splat(P[i]);
    // Estrin-style pairs: depth 5 instead of Horner's 9.
    let z2 = z.mul(z);
    let a = f.mul_add(c(0), c(1));
    let b = f.mul_add(c(2), c(3));
    let cc = f.mul_add(c(4), c(5));
    let d = f.mul_add(c(6), c(7));
    // P = f·(z²·(z·a + b) + (z·cc + d)) + P8, a = P0·f + P1 etc.
    let ab = z.mul_add(a, b);
    let cd = z.mul_add(cc, d);
    let p = f.mul_add(z2.mul_add(ab, cd), c(8));
    // rest = f³·P − f²/2 = z·(f·P − ½)
    z.mul(f.mul_add(p, V::splat(-0.5)))
}

/// ln x from its parts: k·LN2_LO + rest + f + k·LN2_HI, small terms first.
#[inline(always)]
pub fn ln_from_parts<V: F16>(k: V, f: V, rest: V) -> V {
    let y = k.mul_add(V::splat(LN2_LO), rest);
    k.mul_add(V::splat(LN2_HI), f.add(y))
}

/// ln x for normal, positive, finite x (see the module docs for the domain).
#[inline(always)]
pub fn ln_fast<V: F16>(x: V) -> V {
    let (k, f, rest) = ln_parts(x);
    ln_from_parts(k, f, rest)
}

/// Scalar reference of [`ln_fast`]: the same operations on one lane (for tests).
pub fn ln_fast_lane(x: f32) -> f32 {
    ln_fast(super::vector_f32::Scalar16::splat(x)).0[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::vector::F8;

    /// Runs `f` on `x` with every 16-lane type this CPU supports.
    fn on_every_type(x: &[f32], f: fn(&[f32]) -> Vec<f32>) -> Vec<(&'static str, Vec<f32>)> {
        let _ = f;
        let mut out = vec![("scalar", run::<crate::simd::vector::Scalar8>(x))];
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2(x: &[f32]) -> Vec<f32> {
                run::<crate::simd::vector::x86::Avx2x8>(x)
            }
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            fn avx512(x: &[f32]) -> Vec<f32> {
                run::<crate::simd::vector::x86::Avx512x8>(x)
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features `avx2` enables.
                out.push(("avx2", unsafe { avx2(x) }));
            }
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has the features `avx512` enables.
                out.push(("avx512", unsafe { avx512(x) }));
            }
        }
        out
    }

    #[inline(always)]
    fn run<V: F8>(x: &[f32]) -> Vec<f32> {
        x.chunks(16)
            .flat_map(|c| ln_fast(V::F32s::load_padded(c)).to_array()[..c.len()].to_vec())
            .collect()
    }

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs()
    }

    fn samples() -> Vec<f32> {
        let mut x = vec![
            1.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            0.5,
            2.0,
            std::f32::consts::SQRT_2,
            std::f32::consts::FRAC_1_SQRT_2,
            f32::from_bits(SQRT_HALF_BITS),
            f32::from_bits(SQRT_HALF_BITS - 1),
        ];
        let mut s = 0x9e37_79b9u32;
        for i in 0..5_000_000u32 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            x.push(if i % 5 == 0 {
                1.0 + ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.8
            } else {
                // any normal positive float
                f32::from_bits(0x0080_0000 + s % (0x7f80_0000 - 0x0080_0000))
            });
        }
        x
    }

    #[test]
    fn within_two_ulp_and_1e_minus_7_relative_of_the_exact_log() {
        let x = samples();
        for (name, got) in on_every_type(&x, |_| Vec::new()) {
            let (mut worst_ulp, mut worst_rel) = (0u32, 0f64);
            for (&g, &v) in got.iter().zip(&x) {
                let exact = (v as f64).ln();
                worst_ulp = worst_ulp.max(ulps(g, exact as f32));
                if exact != 0.0 {
                    worst_rel = worst_rel.max(((g as f64 - exact) / exact).abs());
                } else {
                    assert_eq!(g, 0.0);
                }
            }
            println!("{name}: worst {worst_ulp} ULP, relative {worst_rel:e}");
            assert!(worst_ulp <= 2, "{name}: worst {worst_ulp} ULP");
            assert!(worst_rel < 1.2e-7, "{name}: worst relative {worst_rel:e}");
        }
    }

    #[test]
    fn every_vector_type_gives_the_same_bits() {
        let x: Vec<f32> = samples().into_iter().take(200_003).collect();
        // AVX2 and AVX-512 fuse the same multiply-adds: bitwise equal. The x86-64 portable
        // build rounds twice (no FMA): within 1 ULP of them.
        let all = on_every_type(&x, |_| Vec::new());
        for (name, got) in &all[1..] {
            assert!(
                got.iter().zip(&all[0].1).all(|(&a, &b)| ulps(a, b) <= 1),
                "{name} differs from the portable type by more than 1 ULP"
            );
            assert!(
                got.iter()
                    .zip(&all.last().expect("one type").1)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name} differs from the widest type"
            );
        }
    }

    #[test]
    fn rest_is_ln1p_minus_f_without_cancellation() {
        // For small f the rest is -f²/2 to full relative precision.
        for &f in &[1e-3f32, -1e-3, 1e-6, -2e-5, 0.1, -0.25, 0.4] {
            let r = rest_of(crate::simd::vector_f32::Scalar16::splat(f)).0[0] as f64;
            let exact = (f as f64).ln_1p() - f as f64;
            assert!(
                ((r - exact) / exact).abs() < 3e-7,
                "f={f}: {r:e} vs {exact:e}"
            );
        }
        assert_eq!(ln_fast_lane(1.0), 0.0);
        // zero gives a finite value, so 0·ln 0 = 0
        assert!(ln_fast_lane(0.0).is_finite());
    }
}
