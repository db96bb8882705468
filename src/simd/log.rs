//! Branch-free natural logarithm, written lane by lane so LLVM vectorises it.
//!
//! Algorithm: fdlibm/musl `log` (x = 2^k·m with m ∈ [√2/2, √2), f = m − 1, s = f/(2+f),
//! a degree-14 odd polynomial in s via Lg1..Lg7, k·ln2 split in hi/lo parts). Every
//! operation is a plain IEEE add/mul/div with no fused multiply-add, in musl's order, so
//! the result is musl's `log` bit for bit: < 1 ULP from the correctly rounded value
//! (measured: max 0.52 ULP against `f64::ln` over 10^6 log-uniform samples, see tests).
//!
//! Vector-specific changes, none of which alter a result:
//! - subnormals are scaled by 2^54 before the exponent split (musl branches instead);
//! - the exponent k is converted to f64 with the 2^52 magic number, since AVX-512F/AVX2 have
//!   no int64→f64 conversion;
//! - special values (0 → −inf, +inf → +inf, negative or NaN → NaN) are masked selects
//!   applied after the polynomial, so there is no branch in the lane loop.
//!
//! Cost: one division per lane dominates (s = f/(2+f)). A table-driven log without the
//! division, accurate in absolute terms (so ≤ 1 ULP only away from 1), is
//! [`super::log_table`]: AVX-512 looks its tables up with a permutation, AVX2 gathers.

use crate::simd::vector::F8;

#[allow(clippy::excessive_precision)]
pub(crate) const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01; // 0x3fe62e42_fee00000
#[allow(clippy::excessive_precision)]
pub(crate) const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10; // 0x3dea39ef_35793c76
#[allow(clippy::excessive_precision)]
const LG1: f64 = 6.666_666_666_666_735_13e-01;
#[allow(clippy::excessive_precision)]
const LG2: f64 = 3.999_999_999_940_941_908e-01;
#[allow(clippy::excessive_precision)]
const LG3: f64 = 2.857_142_874_366_239_149e-01;
#[allow(clippy::excessive_precision)]
const LG4: f64 = 2.222_219_843_214_978_396e-01;
#[allow(clippy::excessive_precision)]
const LG5: f64 = 1.818_357_216_161_805_012e-01;
#[allow(clippy::excessive_precision)]
const LG6: f64 = 1.531_383_769_920_937_332e-01;
#[allow(clippy::excessive_precision)]
const LG7: f64 = 1.479_819_860_511_658_591e-01;
pub(crate) const TWO54: f64 = 18_014_398_509_481_984.0;
/// 2^52 + 1023: subtracting it from the magic-number double recovers the unbiased exponent.
pub(crate) const EXP_MAGIC_OFFSET: f64 = 4_503_599_627_370_496.0 + 1023.0;
/// musl's split point: mantissas at or above √2/2 (high word 0x3fe6a09e) keep exponent k.
const SQRT_HALF_HIGH_BITS: u64 = 0x3fe6_a09e_0000_0000;
pub(crate) const ONE_BITS: u64 = 0x3ff0_0000_0000_0000;

/// ln(x) for one lane: musl's `log`, branch-free. Inline into a lane loop.
#[inline(always)]
pub fn ln_lane(x: f64) -> f64 {
    let tiny = x < f64::MIN_POSITIVE;
    let scaled = if tiny { x * TWO54 } else { x };
    let k_adjust = if tiny { 54.0 } else { 0.0 };

    let ix = scaled
        .to_bits()
        .wrapping_add(ONE_BITS - SQRT_HALF_HIGH_BITS);
    let biased_exp = (ix >> 52) & 0x7ff;
    let k = f64::from_bits(biased_exp | 0x4330_0000_0000_0000) - EXP_MAGIC_OFFSET - k_adjust;
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff).wrapping_add(SQRT_HALF_HIGH_BITS));

    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let y = s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI;

    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x >= 0.0 {
        y
    } else {
        f64::NAN
    }
}

/// The exponent split of eight lanes: (k, f) with x = 2^k·(1 + f), 1 + f ∈ [√2/2, √2),
/// k exact. Meaningless for x ≤ 0, inf, NaN (finite for 0). See [`F8::log_split`].
#[inline(always)]
pub fn split<V: F8>(x: V) -> (V, V) {
    x.log_split()
}

/// [`split`] by integer operations on the bits (every instruction set); subnormals are
/// scaled by 2^54 first.
#[inline(always)]
pub fn split_by_bits<V: F8>(x: V) -> (V, V) {
    let tiny = x.lt(V::splat(f64::MIN_POSITIVE));
    let scaled = V::select(tiny, x.mul(V::splat(TWO54)), x);
    let k_adjust = V::select(tiny, V::splat(54.0), V::splat(0.0));
    let ix = scaled.bits_add(ONE_BITS - SQRT_HALF_HIGH_BITS);
    let biased_exp = ix.bits_shr52().bits_and(0x7ff);
    let k = biased_exp
        .bits_or(0x4330_0000_0000_0000)
        .sub(V::splat(EXP_MAGIC_OFFSET))
        .sub(k_adjust);
    let m = ix
        .bits_and(0x000f_ffff_ffff_ffff)
        .bits_add(SQRT_HALF_HIGH_BITS);
    (k, m.sub(V::splat(1.0)))
}

/// ln of eight lanes: the same operations as [`ln_lane`], so bitwise the same results,
/// special values included. The careful path of every kernel.
#[inline(always)]
pub fn ln<V: F8>(x: V) -> V {
    let (k, f) = split(x);
    let hfsq = V::splat(0.5).mul(f).mul(f);
    let s = f.div(V::splat(2.0).add(f));
    let z = s.mul(s);
    let w = z.mul(z);
    let t1 = w.mul(V::splat(LG2).add(w.mul(V::splat(LG4).add(w.mul(V::splat(LG6))))));
    let t2 = z.mul(
        V::splat(LG1).add(w.mul(V::splat(LG3).add(w.mul(V::splat(LG5).add(w.mul(V::splat(LG7))))))),
    );
    let r = t2.add(t1);
    let y = s
        .mul(hfsq.add(r))
        .add(k.mul(V::splat(LN2_LO)))
        .sub(hfsq)
        .add(f)
        .add(k.mul(V::splat(LN2_HI)));

    let y = V::select(x.eq(V::splat(f64::INFINITY)), x, y);
    let y = V::select(x.eq(V::splat(0.0)), V::splat(f64::NEG_INFINITY), y);
    V::select(x.ge(V::splat(0.0)), y, V::splat(f64::NAN))
}

/// ln of eight lanes for finite x > 0 (subnormals included), with fused multiply-adds and
/// no special-value handling: the kernels' fast path. x = 0 gives a finite value (so
/// 0·ln 0 evaluates to 0); ±inf, NaN and negatives give garbage, which the kernels detect
/// per block (max, sum) and redo with [`ln`]. ≤ 1 ULP (tested against `f64::ln`).
// PERF: ~30 vector ops per 8 lanes against ~45 for `ln`; this is the hot loop of every
// reduction (Zen 4: 0.9 vs 1.4 ns per element and core).
#[inline(always)]
pub fn ln_finite<V: F8>(x: V) -> V {
    let (k, f) = split(x);
    ln_finite_from_parts(k, f)
}

/// ln(p/q) for finite p, q > 0 whose ratio is a normal number, accurate even where p ≈ q:
/// when p/q lies in [√2/2, √2) (k = 0), q/2 ≤ p ≤ 2q, so p − q is exact (Sterbenz) and
/// f = p/q − 1 is recomputed as (p − q)/q with a single rounding, instead of inheriting
/// the rounding of p/q (which costs ~1e-16/|ln(p/q)| relative error). Exactly 0 at p = q.
#[inline(always)]
pub fn ln_ratio_finite<V: F8>(p: V, q: V) -> V {
    let (k, f) = split(p.div(q));
    let f = V::select(k.eq(V::splat(0.0)), p.sub(q).div(q), f);
    ln_finite_from_parts(k, f)
}

/// ln(2^k·(1 + f)) for the outputs of [`split`], with fused multiply-adds.
#[inline(always)]
fn ln_finite_from_parts<V: F8>(k: V, f: V) -> V {
    ln_from_parts(k, f, rest_of(f))
}

/// ln(1 + f) − f for f ∈ [√2/2 − 1, √2 − 1): s·(f²/2 + R(s)) − f²/2 with s = f/(2+f)
/// (musl's polynomial). About −f²/2, and computed without cancelling against f, so
/// a caller that needs ln(1+f) − f (a KL or JS term near p = q) keeps full precision.
#[inline(always)]
pub fn rest_of<V: F8>(f: V) -> V {
    let hfsq = V::splat(0.5).mul(f).mul(f);
    let s = f.div(V::splat(2.0).add(f));
    let z = s.mul(s);
    let w = z.mul(z);
    let t1 = w.mul(w.mul_add(w.mul_add(V::splat(LG6), V::splat(LG4)), V::splat(LG2)));
    let t2 = z.mul(w.mul_add(
        w.mul_add(w.mul_add(V::splat(LG7), V::splat(LG5)), V::splat(LG3)),
        V::splat(LG1),
    ));
    let r = t2.add(t1);
    s.mul_add(hfsq.add(r), V::splat(0.0).sub(hfsq))
}

/// k·ln 2 + f + rest, small terms first: the logarithm from [`ln_finite_parts`].
#[inline(always)]
pub fn ln_from_parts<V: F8>(k: V, f: V, rest: V) -> V {
    k.mul_add(V::splat(LN2_HI), f.add(k.mul_add(V::splat(LN2_LO), rest)))
}

/// The parts of ln x for finite x > 0 (subnormals included): `(k, f, rest)` with
/// x = 2^k·(1 + f), 1 + f ∈ [√2/2, √2) and rest = ln(1+f) − f (see [`rest_of`]).
#[inline(always)]
pub fn ln_finite_parts<V: F8>(x: V) -> (V, V, V) {
    let (k, f) = split(x);
    (k, f, rest_of(f))
}

/// The parts of ln(p/q) (see [`ln_finite_parts`]) for finite p, q > 0 whose ratio is a
/// normal number, with f recomputed as (p − q)/q (exact numerator, Sterbenz) where the
/// ratio lies in [√2/2, √2): then `f` and `rest` carry full relative precision however
/// close p is to q, and p = q gives exactly (0, 0, 0).
#[inline(always)]
pub fn ln_ratio_parts<V: F8>(p: V, q: V) -> (V, V, V) {
    let (k, f) = split(p.div(q));
    let f = V::select(k.eq(V::splat(0.0)), p.sub(q).div(q), f);
    (k, f, rest_of(f))
}

#[inline(always)]
fn ln_into_body<V: F8>(x: &[f64], out: &mut [f64]) {
    let n = x.len().min(out.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    let mut xc = x.chunks_exact(8);
    let mut oc = out.chunks_exact_mut(8);
    for (a, o) in (&mut xc).zip(&mut oc) {
        o.copy_from_slice(&ln(V::load_f64(a.try_into().expect("8 lanes"))).to_array());
    }
    let (rest, out_rest) = (xc.remainder(), oc.into_remainder());
    if !rest.is_empty() {
        let lanes = ln(V::load_padded(rest)).to_array();
        out_rest.copy_from_slice(&lanes[..rest.len()]);
    }
}

crate::simd::multiversion! {
    /// `out[i] = ln(x[i])` with the dispatched instruction set (used by tests and benches).
    pub fn ln_into<>(x: &[f64], out: &mut [f64]) -> () = ln_into_body;
}

#[inline(always)]
fn ln_finite_each_body<V: F8>(x: &[f64]) -> Vec<f64> {
    x.chunks(8)
        .flat_map(|c| {
            let lanes = ln_finite(V::load_padded(c)).to_array();
            lanes.into_iter().zip(c).map(|(l, &v)| {
                if v > 0.0 && v < f64::INFINITY {
                    l
                } else {
                    ln_lane(v)
                }
            })
        })
        .collect()
}

crate::simd::multiversion! {
    /// ln of each value with the kernels' fast-path logarithm ([`ln_finite`]) on the
    /// dispatched instruction set, so a finish step such as S·ln S rounds exactly like the
    /// kernels' x·ln x; zeros, infinities and NaN take [`ln_lane`]'s special values.
    pub fn ln_finite_each<>(x: &[f64]) -> Vec<f64> = ln_finite_each_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::ulps;

    #[test]
    fn special_values() {
        assert_eq!(ln_lane(0.0), f64::NEG_INFINITY);
        assert_eq!(ln_lane(-0.0), f64::NEG_INFINITY);
        assert_eq!(ln_lane(f64::INFINITY), f64::INFINITY);
        assert!(ln_lane(f64::NEG_INFINITY).is_nan());
        assert!(ln_lane(-1.0).is_nan());
        assert!(ln_lane(-1e-310).is_nan());
        assert!(ln_lane(f64::NAN).is_nan());
        assert_eq!(ln_lane(1.0), 0.0);
        assert_eq!(ln_lane(f64::MAX), f64::MAX.ln());
        assert_eq!(ln_lane(f64::MIN_POSITIVE), f64::MIN_POSITIVE.ln());
        assert_eq!(ln_lane(5e-324), (5e-324f64).ln());
    }

    #[test]
    fn within_one_ulp_of_libm_over_the_whole_range() {
        // Log-uniform sweep over every binade, subnormals included, plus values near 1.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut worst = 0;
        for i in 0..1_000_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = if i % 4 == 0 {
                1.0 + ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1
            } else {
                f64::from_bits(state % 0x7ff0_0000_0000_0000)
            };
            let (got, want) = (ln_lane(x), x.ln());
            if want == 0.0 {
                assert_eq!(got, 0.0);
                continue;
            }
            assert_eq!(got.is_sign_negative(), want.is_sign_negative(), "x = {x:e}");
            worst = worst.max(ulps(got, want));
        }
        assert!(worst <= 1, "worst error {worst} ULP");
    }

    struct LnOp;
    impl crate::simd::vector::LaneOp for LnOp {
        fn apply<V: F8>(&self, v: V) -> V {
            ln(v)
        }
    }

    #[test]
    fn every_vector_type_matches_the_lane_function_bitwise() {
        let mut x: Vec<f64> = crate::kernels::adversarial::SPECIALS.to_vec();
        x.extend([
            -1.0,
            -0.0,
            f64::NAN,
            f64::NEG_INFINITY,
            0.7,
            std::f64::consts::SQRT_2,
            std::f64::consts::FRAC_1_SQRT_2,
        ]);
        x.extend(crate::kernels::adversarial::positive(4000, 5));
        for (name, got) in crate::simd::vector::on_every_vector_type(&LnOp, &x) {
            for (g, &v) in got.iter().zip(&x) {
                let want = ln_lane(v);
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{name}: ln({v:e}) = {g:e}, want {want:e}"
                );
            }
        }
    }

    struct LnFiniteOp;
    impl crate::simd::vector::LaneOp for LnFiniteOp {
        fn apply<V: F8>(&self, v: V) -> V {
            ln_finite(v)
        }
    }

    #[test]
    fn fast_ln_is_within_one_ulp_on_positive_finite_values() {
        let mut x: Vec<f64> = vec![
            5e-324,
            1e-310,
            f64::MIN_POSITIVE,
            1e-300,
            0.5,
            1.0,
            2.0,
            f64::MAX,
            std::f64::consts::FRAC_1_SQRT_2,
            std::f64::consts::SQRT_2,
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for i in 0..400_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            x.push(if i % 3 == 0 {
                1.0 + ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.2
            } else {
                f64::from_bits(1 + state % 0x7fef_ffff_ffff_ffff)
            });
        }
        for (name, got) in crate::simd::vector::on_every_vector_type(&LnFiniteOp, &x) {
            for (g, &v) in got.iter().zip(&x) {
                let want = v.ln();
                assert!(
                    ulps(*g, want) <= 1 || (want == 0.0 && *g == 0.0),
                    "{name}: ln({v:e}) = {g:e}, want {want:e}"
                );
            }
        }
        let zero = crate::simd::vector::on_every_vector_type(&LnFiniteOp, &[0.0]);
        assert!(
            zero.iter().all(|(_, r)| r[0].is_finite()),
            "0·ln 0 must evaluate to 0: {zero:?}"
        );
    }

    #[test]
    fn dispatched_slice_matches_lane_function_on_every_tail() {
        let values = [
            0.0,
            -0.0,
            1e-310,
            5e-324,
            0.3,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
            f64::NAN,
            -2.0,
        ];
        for len in 0..=67 {
            let x: Vec<f64> = (0..len)
                .map(|i| values[i % values.len()] * (1.0 + i as f64))
                .collect();
            let mut out = vec![0.0; len];
            ln_into(&x, &mut out);
            for (a, &b) in out.iter().zip(&x) {
                let want = ln_lane(b);
                assert!(a.to_bits() == want.to_bits() || (a.is_nan() && want.is_nan()));
            }
        }
    }
}
