//! ln(1 + f) and g(f) = (1 + f)·ln(1 + f) − f, accurate for every f ≥ −1 given exactly:
//! the building block of cancellation-free divergences.
//!
//! A KL term P·ln(P/Q) − P + Q equals Q·g(f) with 1 + f = P/Q, and g ≥ 0; a JS term is
//! M·(g(d) + g(−d)). Near f = 0 these are ≈ f²/2, and the textbook forms (P·ln(P/Q) summed,
//! or ln r computed from a rounded r) lose everything there: a KL of 5e-9 between
//! distributions that differ by 1e-4 came out 1.9e-8 off (issue #14). Here, with
//! 1 + f = 2^k(1 + f'):
//! - where k = 0 (1 + f ∈ [√2/2, √2)), f itself is used (not the rounded 1 + f) and
//!   g = f² + (1 + f)·rest with rest = ln(1+f) − f ≈ −f²/2 from the log's own polynomial
//!   (see [`super::log::rest_of`]): no term cancels by more than a factor 3;
//! - elsewhere |g| ≥ 0.077·(1 + f), and g = r·ln r − f directly.
//!
//! `F32` (float32 data, DESIGN §2b): the exponent split stays in f64 (exact) and only the
//! rest polynomial runs in f32, division-free: ln(1 + f) within 3e-8 and g within 2e-7
//! relative (measured by the tests: 2.8e-8 and 1.9e-7; f64: 2.2e-16 and 1.7e-15).

use super::log::{ln_from_parts, rest_of, split};
use super::vector::F8;
use super::vector_f32::F16;

/// (ln r, g(f)) for sixteen lanes (two halves) given f and r = 1 + f, each to full
/// relative precision (1 + f computed from f would lose r's digits where f ≈ −1, e.g.
/// p ≪ q: callers pass r as its own quotient). r = 0 gives (−inf, 1), r = +inf
/// (+inf, +inf), NaN (NaN, NaN).
#[inline(always)]
pub fn log1p_g16<V: F8, const F32: bool>(f: (V, V), r: (V, V)) -> ((V, V), (V, V)) {
    let (r0, r1) = r;
    let ((k0, s0), (k1, s1)) = (split(r0), split(r1));
    let zero = V::splat(0.0);
    let (small0, small1) = (k0.eq(zero), k1.eq(zero));
    let (u0, u1) = (V::select(small0, f.0, s0), V::select(small1, f.1, s1));
    let (rest0, rest1) = if F32 {
        let u32 = V::F32s::from_wide(u0, u1);
        let (r0, r1) = crate::simd::log_f32::rest_of(u32).widen();
        // rest was taken at u rounded to f32; correct to first order with
        // rest'(u) = −u/(1+u) ≈ u·(u − 1 − u²) (relative error ≤ u⁴, on a 6e-8 correction)
        let (w0, w1) = u32.widen();
        (
            r0.add(first_order(u0, u0.sub(w0))),
            r1.add(first_order(u1, u1.sub(w1))),
        )
    } else {
        (rest_of(u0), rest_of(u1))
    };
    let (l0, g0) = assemble(r0, f.0, k0, u0, rest0, small0);
    let (l1, g1) = assemble(r1, f.1, k1, u1, rest1, small1);
    ((l0, l1), (g0, g1))
}

/// rest'(u)·δ with rest'(u) = −u/(1+u) approximated by u·(u − 1 − u²).
#[inline(always)]
fn first_order<V: F8>(u: V, delta: V) -> V {
    let slope = u.mul(u.sub(V::splat(1.0)).sub(u.mul(u)));
    slope.mul(delta)
}

/// (ln r, g) of eight lanes from the pieces of [`log1p_g16`].
#[inline(always)]
fn assemble<V: F8>(r: V, f: V, k: V, u: V, rest: V, small: V::Mask) -> (V, V) {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let ln = ln_from_parts(k, u, rest);
    let g_small = f.mul_add(f, one.add(f).mul(rest));
    let g_large = r.mul_add(ln, zero.sub(f));
    let g = V::select(small, g_small, g_large);
    // r = 0 (f = −1): 0·ln 0 = 0, so g = 1 and ln = −inf; r = +inf: both +inf; NaN stays
    let at_zero = r.eq(zero);
    let inf = V::splat(f64::INFINITY);
    let at_inf = r.eq(inf);
    let ln = V::select(
        at_zero,
        V::splat(f64::NEG_INFINITY),
        V::select(at_inf, inf, ln),
    );
    let g = V::select(at_zero, one, V::select(at_inf, inf, g));
    let nan = f.eq(f);
    (V::select(nan, ln, f), V::select(nan, g, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::vector::{on_every_vector_type, LaneOp};

    /// g(f) to ~1e-30 by mpmath-free means: the series for small f, f64 otherwise in
    /// extended form (r ln r − f with ln_1p), good to a few ULP where it does not cancel.
    fn g_exact(f: f64) -> f64 {
        if f == -1.0 {
            1.0
        } else if f.abs() < 0.5 {
            // g = f²/2 − f³/6 + f⁴/12 − f⁵/20 + …  = Σ_{n≥2} (−1)^n f^n / (n (n−1))
            let mut sum = 0.0;
            let mut pow = f * f;
            for n in 2..200 {
                let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
                sum += sign * pow / (n as f64 * (n - 1) as f64);
                pow *= f;
            }
            sum
        } else {
            (1.0 + f) * f.ln_1p() - f
        }
    }

    struct G<const F32: bool>;
    impl<const F32: bool> LaneOp for G<F32> {
        fn apply<V: F8>(&self, v: V) -> V {
            let r = V::splat(1.0).add(v);
            log1p_g16::<V, F32>((v, v), (r, r)).1 .0
        }
    }
    struct L<const F32: bool>;
    impl<const F32: bool> LaneOp for L<F32> {
        fn apply<V: F8>(&self, v: V) -> V {
            let r = V::splat(1.0).add(v);
            log1p_g16::<V, F32>((v, v), (r, r)).0 .0
        }
    }

    fn samples() -> Vec<f64> {
        let mut f = vec![
            0.0, -1.0, 1e-300, -1e-300, 1e-17, -1e-17, 1e-9, -1e-9, 1e-4, -1e-4,
        ];
        f.extend([
            0.2, -0.25, 0.41, -0.29, 0.5, 1.0, 3.0, 1e10, 1e300, -0.9, -0.999_999,
        ]);
        let mut s = 0x1234_5678_9abc_def1u64;
        for i in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            f.push(match i % 3 {
                0 => (u - 0.5) * 1e-3,
                1 => u * 2.0 - 1.0,
                _ => (u * 40.0 - 20.0).exp() - 1.0,
            });
        }
        f
    }

    #[test]
    fn g_and_ln1p_are_accurate_everywhere() {
        let f = samples();
        for (rtol_g, rtol_l, f32) in [(2e-15, 4e-16, false), (2.5e-7, 5e-8, true)] {
            let gs = if f32 {
                on_every_vector_type(&G::<true>, &f)
            } else {
                on_every_vector_type(&G::<false>, &f)
            };
            let ls = if f32 {
                on_every_vector_type(&L::<true>, &f)
            } else {
                on_every_vector_type(&L::<false>, &f)
            };
            for ((name, g), (_, l)) in gs.iter().zip(&ls) {
                let (mut worst_g, mut worst_l) = (0f64, 0f64);
                for (i, &x) in f.iter().enumerate() {
                    let want = g_exact(x);
                    if want != 0.0 && want.is_finite() {
                        worst_g = worst_g.max(((g[i] - want) / want).abs());
                    }
                    if x != -1.0 && x != 0.0 {
                        worst_l = worst_l.max(((l[i] - x.ln_1p()) / x.ln_1p()).abs());
                    }
                    // beyond the series the reference r·ln r − f itself rounds at the scale
                    // of its terms
                    let r = 1.0 + x;
                    let slack = if x.abs() < 0.5 || x == -1.0 {
                        0.0
                    } else {
                        4e-16 * ((r * x.ln_1p()).abs() + x.abs())
                    };
                    let tol = rtol_g * want.abs() + slack + 1e-320;
                    assert!(
                        (g[i] - want).abs() <= tol,
                        "{name} f32={f32}: g({x:e}) = {:e}, want {want:e}",
                        g[i]
                    );
                    assert!(g[i] >= 0.0, "g < 0 at {x:e}");
                    let want_l = x.ln_1p();
                    if x == -1.0 {
                        assert_eq!(l[i], f64::NEG_INFINITY);
                    } else {
                        let tol = rtol_l * want_l.abs() + 1e-320;
                        assert!(
                            (l[i] - want_l).abs() <= tol,
                            "{name} f32={f32}: ln1p({x:e}) = {:e}, want {want_l:e}",
                            l[i]
                        );
                    }
                }
                println!("{name} f32={f32}: worst g {worst_g:e}, ln1p {worst_l:e}");
            }
        }
    }
}
