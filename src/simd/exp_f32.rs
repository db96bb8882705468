//! e^x for sixteen f32 lanes, division-free: the native float32 exp of the loss family
//! (DESIGN §2b: float32 input may take its exp/log in f32, accumulated in f64).
//!
//! Algorithm (SLEEF's `expf_u10`, evaluated with Estrin pairs): k = round(x·log2 e) by the
//! 1.5·2^23 magic-number rounding, r = x − k·ln 2 by Cody–Waite in two fused steps
//! (`LN2_HI` has 15 significant bits, so k·LN2_HI is exact for |k| < 2^9), |r| ≤ ln2/2;
//! e^r = 1 + (r + r²·P(r)) with SLEEF's degree-5 minimax P (adding the 1 last keeps the
//! rounding near half an ULP); the result is scaled by 2^k built from the exponent bits.
//!
//! Two forms:
//! - [`exp`]: every f32 input. x > 88.72 → +inf, x < −103.97 → 0, −inf → 0, NaN → NaN;
//!   results in the subnormal range (x < −87.34) are scaled in two factors, so they are
//!   rounded once, like any other result.
//! - [`exp_fast`]: the kernels' lean form, e^(d + c) for a value given as an unevaluated
//!   sum d + c (c a rounding error of d, |c| ≤ ulp(d)/2: see [`two_diff`]). Lanes with
//!   d < [`FAST_MIN`] give 0 — exactly right for −inf and for d < −103.97, an underflow
//!   where the true value is a small positive number; callers that need it redo those lanes
//!   in f64 ([`exp_wide`]), which the rarely taken branch "any lane with
//!   −inf < d < FAST_MIN" finds.
//!
//! **Why d + c.** The kernels need e^(x − m) for a data value x and a row maximum m. The f32
//! difference x − m is rounded (to ulp(x − m)/2 ≈ 2^−24·|x − m|), and e^d turns an absolute
//! error of d into a relative one: at x − m = −40 that is 2.4e−6, beyond the float32
//! contract (1e−6 relative), and exactly where it matters — a confidently correct
//! prediction's loss is a sum of such terms. [`two_diff`] gives the rounding error c
//! exactly (Knuth's TwoSum, six additions), and r = (d − k·ln2) + c carries it into the
//! polynomial; the terms then keep ≤ 8.2e−8 relative error at any |x − m| (measured).
//!
//! Measured (tests below, 2·10^6 samples over [−104, 89] and every special value): ≤ 1 ULP
//! (f32) from the correctly rounded e^x for normal results, ≤ 1 ULP of the subnormal
//! spacing below; e^(x − m) through [`two_diff`] + [`exp_fast`] ≤ 8.2e−8 relative over
//! 5·10^5 pairs with gaps up to 87; AVX2 and AVX-512 bitwise identical. No division.

use super::vector::F8;
use super::vector_f32::F16;

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO; LN2_HI (0x3f317200) has 15 significant bits.
#[allow(clippy::excessive_precision)]
const LN2_HI: f32 = 0.693_145_751_953_125;
#[allow(clippy::excessive_precision)]
const LN2_LO: f32 = 1.428_606_765_330_187_045e-6;
/// 1.5·2^23 + 127: `x·log2e + MAGIC` rounds to an integer k and holds k + 127 in the low
/// mantissa bits, which `bits_shl23` turns into the bits of 2^k.
const MAGIC: f32 = 12_582_912.0 + 127.0;
/// SLEEF expf_u10's P(r), constant term first: e^r = 1 + r + r²·P(r).
#[allow(clippy::excessive_precision)]
const P: [f32; 6] = [
    0.5,
    0.166_666_671_633_720_397_949_219,
    0.041_666_485_369_205_474_853_515_6,
    0.008_333_360_776_305_198_669_433_59,
    0.001_393_043_552_525_341_510_772_71,
    0.000_198_527_617_612_853_646_278_381,
];
/// Lower end of [`exp_fast`]'s domain: e^FAST_MIN = 1.65e−38 is still a normal f32.
pub const FAST_MIN: f32 = -87.0;
/// Inputs are clamped to [CLAMP_LOW, CLAMP_HIGH] before k is computed (e^−104 rounds to 0,
/// e^89 to +inf, so clamping changes no result).
const CLAMP_LOW: f32 = -104.0;
const CLAMP_HIGH: f32 = 89.0;

/// e^r for |r| ≤ ln2/2 (plus a little): 1 + (r + r²·P(r)), P by Estrin pairs.
#[inline(always)]
fn exp_reduced<V: F16>(r: V) -> V {
    let c = |i: usize| V::splat(P[i]);
    let r2 = r.mul(r);
    let r4 = r2.mul(r2);
    let a = r.mul_add(c(1), c(0));
    let b = r.mul_add(c(3), c(2));
    let d = r.mul_add(c(5), c(4));
    let p = r4.mul_add(d, r2.mul_add(b, a));
    V::splat(1.0).add(r2.mul_add(p, r))
}

/// (t, k, r): t = x·log2e + MAGIC (its bits hold k + 127), k = round(x·log2e),
/// r = x − k·ln2 (Cody–Waite, two fused steps).
#[inline(always)]
fn reduce<V: F16>(x: V) -> (V, V, V) {
    let t = x.mul_add(V::splat(LOG2_E), V::splat(MAGIC));
    let k = t.sub(V::splat(MAGIC));
    let r = k.mul_add(V::splat(-LN2_HI), x);
    let r = k.mul_add(V::splat(-LN2_LO), r);
    (t, k, r)
}

/// 2^k for integral k in [−126, 127], from the exponent bits.
#[inline(always)]
fn pow2i<V: F16>(k: V) -> V {
    k.add(V::splat(MAGIC)).bits_shl23()
}

/// e^x for sixteen lanes, every input (see the module docs).
#[inline(always)]
pub fn exp<V: F16>(x: V) -> V {
    // Clamp so k stays in [−150, 129]; NaN passes through (comparisons are false).
    let xc = V::select(x.lt(V::splat(CLAMP_LOW)), V::splat(CLAMP_LOW), x);
    let xc = V::select(xc.gt(V::splat(CLAMP_HIGH)), V::splat(CLAMP_HIGH), xc);
    let (_, k, r) = reduce(xc);
    let poly = exp_reduced(r);
    // 2^k = 2^k1 · second with k1 in the normal range: k < −126 borrows 2^−64, k > 127 borrows 2.
    let low = k.lt(V::splat(-126.0));
    let high = k.gt(V::splat(127.0));
    let k1 = V::select(
        low,
        k.add(V::splat(64.0)),
        V::select(high, k.sub(V::splat(1.0)), k),
    );
    let second = V::select(
        low,
        V::splat(f32::from_bits(0x1f80_0000)), // 2^−64
        V::select(high, V::splat(2.0), V::splat(1.0)),
    );
    poly.mul(pow2i(k1)).mul(second)
}

/// e^(d + c) for d ≥ [`FAST_MIN`] (up to 88), with c a small correction (|c| ≤ ulp(d)/2,
/// as [`two_diff`] gives); lanes with d < FAST_MIN (−inf included) give 0, NaN gives NaN.
/// See the module docs.
#[inline(always)]
pub fn exp_fast<V: F16>(d: V, c: V) -> V {
    let below = d.lt(V::splat(FAST_MIN));
    // −88 makes k = −127, whose 2^k bits are 0: the lane's result is exactly 0.
    let d = V::select(below, V::splat(-88.0), d);
    let c = V::select(below, V::splat(0.0), c);
    exp_fast_in_domain(d, c)
}

/// [`exp_fast`] for lanes known to be in its domain, d ∈ [FAST_MIN, 88] (or NaN, which
/// gives NaN): no clamp. Blocks whose smallest gap is known are computed with it.
#[inline(always)]
pub fn exp_fast_in_domain<V: F16>(d: V, c: V) -> V {
    let (t, _, r) = reduce(d);
    exp_reduced(r.add(c)).mul(t.bits_shl23())
}

/// The lanes where [`exp_fast`] underflowed a positive result: −inf < d < FAST_MIN.
#[inline(always)]
pub fn fast_underflows<V: F16>(d: V) -> V::Mask {
    V::and(d.lt(V::splat(FAST_MIN)), d.gt(V::splat(f32::NEG_INFINITY)))
}

/// e^(d + c) in f64 (lanes 0–7, 8–15): the careful path for the lanes [`exp_fast`]
/// underflows. d + c is exact in f64 (two f32 whose sum needs at most 48 bits), and the f64
/// exp is ≤ 1 ULP down to 4.9e−324.
#[inline(always)]
pub fn exp_wide<V: F16>(d: V, c: V) -> (V::Wide, V::Wide) {
    let (d0, d1) = d.widen();
    let (c0, c1) = c.widen();
    // c is NaN where d is infinite (TwoSum of an infinity): keep d's value there.
    let s0 = <V::Wide as F8>::select(c0.eq(c0), d0.add(c0), d0);
    let s1 = <V::Wide as F8>::select(c1.eq(c1), d1.add(c1), d1);
    (super::exp::exp(s0), super::exp::exp(s1))
}

/// e^(d + c) of sixteen independent lanes (each lane its own row) as two f64 halves: the
/// fast exp, and [`exp_wide`] only in the lanes where the fast one underflows — so a lane's
/// value never depends on its neighbours (a tile boundary, a task or a dask chunk decides
/// which rows sit side by side).
#[inline(always)]
pub fn exp_per_lane<V: F16>(d: V, c: V) -> (V::Wide, V::Wide) {
    let under = fast_underflows(d);
    let (f0, f1) = exp_fast(d, c).widen();
    if V::any(under) {
        let (w0, w1) = exp_wide(d, c);
        let (u0, u1) = V::widen_mask(under);
        (
            <V::Wide as F8>::select(u0, w0, f0),
            <V::Wide as F8>::select(u1, w1, f1),
        )
    } else {
        (f0, f1)
    }
}

/// Knuth's TwoSum for a − b: (s, e) with s = fl(a − b) and s + e = a − b exactly (for
/// finite a, b whose difference does not overflow). Six additions, no branch, any order of
/// magnitude. Where a or b is infinite, e is NaN and s the IEEE difference.
#[inline(always)]
pub fn two_diff<V: F16>(a: V, b: V) -> (V, V) {
    let s = a.sub(b);
    let bb = s.sub(a); // ≈ −b
                       // (a − (s − bb)) + (−b − bb), the negation folded into the last subtraction.
    let err_a = a.sub(s.sub(bb));
    (s, err_a.sub(b.add(bb)))
}

/// Scalar reference of [`exp`]: the same operations on one lane.
pub fn exp_lane(x: f32) -> f32 {
    exp(super::vector_f32::Scalar16::splat(x)).0[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::vector::F8;

    /// Runs `op` on `x` (blocks of sixteen) with every 16-lane type this CPU supports.
    fn on_every_type(x: &[f32], y: &[f32], op: u8) -> Vec<(&'static str, Vec<f32>)> {
        let mut out = vec![("scalar", run::<crate::simd::vector::Scalar8>(x, y, op))];
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2(x: &[f32], y: &[f32], op: u8) -> Vec<f32> {
                run::<crate::simd::vector::x86::Avx2x8>(x, y, op)
            }
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            fn avx512(x: &[f32], y: &[f32], op: u8) -> Vec<f32> {
                run::<crate::simd::vector::x86::Avx512x8>(x, y, op)
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features `avx2` enables.
                out.push(("avx2", unsafe { avx2(x, y, op) }));
            }
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has the features `avx512` enables.
                out.push(("avx512", unsafe { avx512(x, y, op) }));
            }
        }
        out
    }

    /// op 0: exp(x); op 1: exp_fast of two_diff(x, y); op 2: the two_diff error term.
    #[inline(always)]
    fn run<V: F8>(x: &[f32], y: &[f32], op: u8) -> Vec<f32> {
        x.chunks(16)
            .zip(y.chunks(16))
            .flat_map(|(a, b)| {
                let (a16, b16) = (V::F32s::load_padded(a), V::F32s::load_padded(b));
                let r = match op {
                    0 => exp(a16),
                    1 => {
                        let (d, c) = two_diff(a16, b16);
                        exp_fast(d, c)
                    }
                    _ => two_diff(a16, b16).1,
                };
                r.to_array()[..a.len()].to_vec()
            })
            .collect()
    }

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs()
    }

    fn xorshift(s: &mut u32) -> u32 {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        *s
    }

    fn samples() -> Vec<f32> {
        let mut x = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-30,
            -1e-30,
            f32::MIN_POSITIVE,
            1e-45,
            88.0,
            88.72,
            88.7228,
            88.72284,
            88.7229,
            89.0,
            100.0,
            -87.0,
            -87.33,
            -87.34,
            -87.4,
            -90.0,
            -100.0,
            -103.0,
            -103.9,
            -103.97,
            -103.98,
            -104.0,
            -1e30,
            1e30,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            0.5 * std::f32::consts::LN_2,
            -0.5 * std::f32::consts::LN_2,
        ];
        let mut s = 0x2545_f491u32;
        for i in 0..2_000_000u32 {
            let u = (xorshift(&mut s) >> 8) as f32 / (1u32 << 24) as f32;
            x.push(if i % 4 == 0 {
                (u - 0.5) * 2.0 // near 0
            } else {
                u * 193.0 - 104.0
            });
        }
        x
    }

    #[test]
    fn within_one_ulp_of_the_correctly_rounded_exp_on_every_vector_type() {
        let x = samples();
        let all = on_every_type(&x, &x, 0);
        for (name, got) in &all {
            let mut worst = 0;
            for (&g, &v) in got.iter().zip(&x) {
                let want = (v as f64).exp() as f32;
                if want.is_nan() {
                    assert!(g.is_nan(), "{name}: exp({v}) = {g}");
                } else if want.is_infinite() || want == 0.0 {
                    assert_eq!(g, want, "{name}: exp({v:e})");
                } else {
                    // Subnormal results: one rounding at the spacing 2^−149.
                    let e = ulps(g, want);
                    assert!(
                        e <= 1,
                        "{name}: exp({v:e}) = {g:e}, want {want:e} ({e} ULP)"
                    );
                    worst = worst.max(e);
                }
            }
            println!("{name}: worst {worst} ULP");
        }
        // AVX2 and AVX-512 fuse the same multiply-adds: bitwise equal (NaN lanes aside).
        let fused: Vec<_> = all
            .iter()
            .filter(|(n, _)| *n != "scalar" || cfg!(target_arch = "aarch64"))
            .collect();
        for pair in fused.windows(2) {
            let ((_, a), (name, b)) = (pair[0], pair[1]);
            assert!(
                a.iter()
                    .zip(b.iter())
                    .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
                "{name} differs"
            );
        }
        assert_eq!(exp_lane(0.0), 1.0);
        assert_eq!(exp_lane(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_lane(f32::INFINITY), f32::INFINITY);
        assert!(exp_lane(f32::NAN).is_nan());
    }

    #[test]
    fn two_diff_is_exact() {
        let mut s = 0x1357_9bdfu32;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..300_000u32 {
            let r = |s: &mut u32| {
                // any finite float of moderate exponent, either sign
                let bits = xorshift(s);
                let e = 64 + (bits % 128); // exponents 2^−63 … 2^64
                f32::from_bits((bits & 0x807f_ffff) | (e << 23))
            };
            a.push(r(&mut s));
            b.push(if i % 3 == 0 {
                a[a.len() - 1]
            } else {
                r(&mut s)
            });
        }
        for (name, err) in on_every_type(&a, &b, 2) {
            for i in 0..a.len() {
                let exact = a[i] as f64 - b[i] as f64;
                let s = a[i] - b[i];
                assert_eq!(
                    s as f64 + err[i] as f64,
                    exact,
                    "{name}: {} - {}",
                    a[i],
                    b[i]
                );
            }
        }
    }

    #[test]
    fn exp_fast_of_a_difference_has_its_relative_precision_at_any_gap() {
        // e^(x − m) for x ≤ m with m of assorted magnitudes: ≤ 8.2e−8 relative, where the
        // f32 difference alone would be off by up to |x − m|·6e−8 (2.4e−6 at −40).
        let mut s = 0xdead_beefu32;
        let (mut xs, mut ms) = (Vec::new(), Vec::new());
        for i in 0..500_000u32 {
            let u = |s: &mut u32| (xorshift(s) >> 8) as f32 / (1u32 << 24) as f32;
            let m = (u(&mut s) - 0.3) * 60.0;
            let gap = u(&mut s) * 86.9;
            let x = m - gap;
            xs.push(if i % 97 == 0 { f32::NEG_INFINITY } else { x });
            ms.push(m);
        }
        xs.extend([0.0, 5.0, f32::NAN, -1e30, 1e-30]);
        ms.extend([0.0, 5.0, 1.0, 0.0, 0.0]);
        for (name, got) in on_every_type(&xs, &ms, 1) {
            let mut worst = 0f64;
            for i in 0..xs.len() {
                let exact = (xs[i] as f64 - ms[i] as f64).exp();
                let g = got[i] as f64;
                if exact.is_nan() {
                    assert!(g.is_nan());
                    continue;
                }
                let d = xs[i] - ms[i];
                if d < FAST_MIN {
                    assert_eq!(g, 0.0, "{name}: below the fast domain gives 0");
                    continue;
                }
                let rel = ((g - exact) / exact).abs();
                worst = worst.max(rel);
                assert!(
                    rel < 2.5e-7,
                    "{name}: e^({} − {}) = {g:e}, want {exact:e}",
                    xs[i],
                    ms[i]
                );
            }
            println!("{name}: worst relative {worst:e}");
        }
    }

    #[test]
    fn the_wide_fallback_covers_the_fast_underflow() {
        use crate::simd::vector_f32::Scalar16;
        let d = Scalar16(std::array::from_fn(|i| -87.5 - 40.0 * i as f32));
        let c = Scalar16([1e-6; 16]);
        let under = fast_underflows(d);
        let (lo, hi) = exp_wide(d, c);
        for (i, &flag) in under.iter().enumerate() {
            let want = (d.0[i] as f64 + 1e-6f32 as f64).exp();
            let got = if i < 8 { lo.0[i] } else { hi.0[i - 8] };
            assert!(
                (got - want).abs() <= want * 2.3e-16
                    || (want < 1e-300 && (got - want).abs() < 1e-320),
                "{got:e} vs {want:e}"
            );
            assert!(flag);
        }
        let inf = Scalar16([f32::NEG_INFINITY; 16]);
        assert!(!Scalar16::any(fast_underflows(inf)));
        let (d, c) = two_diff(inf, Scalar16::splat(1.0));
        assert_eq!(exp_wide(d, c).0 .0[0], 0.0);
        assert_eq!(exp_fast(d, c).0[0], 0.0);
    }
}
