//! The φ form of JS for float32 data (DESIGN §2b): per element one function of one
//! variable, φ(d), in float32 lanes where it cannot cancel. [`JsPhi`] is the group form of
//! rows of [`super::js::F32_PHI_FROM`] up to `js::F32_FAST_GROUP_FROM` elements, and the
//! second form of longer short rows ([`super::js_f32`]'s `Js::second`); [`leaf_apart`]
//! takes the long rows' leaves the logarithms' fast form refuses.
//!
//! [`super::js`] sums w·[g(d) + g(−d)] with w = a + b, d = (a − b)/w (a = p'·s_q,
//! b = q'·s_p: the exactly scaled values times the other side's scaled total). That sum's
//! term is w·φ(d) with
//!
//! φ(d) = (1 + d)·ln(1 + d) + (1 − d)·ln(1 − d) ≥ 0, even in d,
//!
//! which the exact form takes from two f64-assembled `log1p` per element. Here d and d²
//! stay in f64 ([`super::js::difference`]: d to 4ε relative plus (C + 4)·2^−105
//! absolute), and φ is evaluated from two series with positive terms:
//! - |d| ≤ ½: φ = t·P(t), t = d², P(t) = Σ_{k≥1} t^(k−1)/(k(2k − 1)) — ten terms in
//!   float32 (the rest < 6e-9 of P ≥ 1 at t ≤ ¼), the product with t in f64;
//! - |d| > ½, v = 1 − |d| ∈ [0, ½): φ = 2·ln 2 − v·(1 + ln 2) + v·ln v + v²·R(v),
//!   R(v) = Σ_{j≥0} v^j/(2^(j+1)(j + 1)(j + 2)) — nine terms in float32 (the rest < 5e-8
//!   of R ≥ ¼), v·ln v from [`ln_parts`] of v rounded to float32 (ln v = k·ln 2 + f + rest,
//!   only rest carrying the polynomial's error) with the rounding of v corrected to first
//!   order, everything assembled in f64: φ ≥ φ(½) = 0.2616 there, and the float32 parts
//!   are small (v²R ≤ 0.069, v·|rest| ≤ 0.034).
//!
//! **Bound.** An element's φ is within 3·2^−24 of itself (P: ≤ 1.2·2^−24 with fused
//! steps, 2.4·2^−24 without; the far side: R's 2^−23 on ≤ 0.26 of φ, rest's 2.9·2^−24 on
//! ≤ 0.13 of φ); the terms are all ≥ 0, so the sum is within that too. d's own error moves
//! φ by at most |φ'(d)|·δ ≤ (2.2·|d| + 2900·φ(d))·δ, δ = 4ε·|d| + (C + 4)·2^−105: a row
//! is kept where Σ w·|d| ≤ 2^40·Σ w·φ(d) (then that part is below 2^−50 of the value),
//! which fails only where every |d| is below ~2^−40 (distributions equal to ~12 digits:
//! those rows take the exact form). Measured against the float64 form: ≤ 1.5e-7 (tests).
//!
//! Domain: any values of a row whose totals are regular (the exact form's); float32 data
//! keeps every weight above 2^−300, so d = diff/w never overflows. Zero weights (p = q = 0)
//! contribute 0; NaN and ±inf make the row's totals irregular; rows with a negative value
//! (reported through [`Lowest`]) are left to the exact form too.

use super::f32_tiles::{FastGroupForm, TileRow};
use super::js::{group_lanes, Consts, Lanes};
use super::two_pass::{abs, load16, mark_irregular, store_half, GroupTotals, Lowest};
use super::GROUP;
use crate::simd::log_f32::ln_parts;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;
use std::f64::consts::LN_2;

/// P(t)'s coefficients, 1/(k(2k − 1)) for k = 10 down to 1.
const NEAR: [f32; 10] = [
    1.0 / 190.0,
    1.0 / 153.0,
    1.0 / 120.0,
    1.0 / 91.0,
    1.0 / 66.0,
    1.0 / 45.0,
    1.0 / 28.0,
    1.0 / 15.0,
    1.0 / 6.0,
    1.0,
];

/// R(v)'s coefficients, 1/(2^(j+1)(j + 1)(j + 2)) for j = 8 down to 0.
const FAR: [f32; 9] = [
    1.0 / 46080.0,
    1.0 / 18432.0,
    1.0 / 7168.0,
    1.0 / 2688.0,
    1.0 / 960.0,
    1.0 / 320.0,
    1.0 / 96.0,
    1.0 / 24.0,
    1.0 / 4.0,
];

/// A row is kept where Σ w·|d| ≤ this × Σ w·φ(d) (module docs).
const SPREAD_LIMIT: f64 = 1_099_511_627_776.0; // 2^40

/// Horner's rule in float32 lanes, highest coefficient first.
#[inline(always)]
fn horner<S: F16, const N: usize>(x: S, coefficients: &[f32; N]) -> S {
    let mut sum = S::splat(coefficients[0]);
    for &c in &coefficients[1..] {
        sum = sum.mul_add(x, S::splat(c));
    }
    sum
}

/// φ(d) of sixteen lanes (two halves of eight), |d| ≤ 1 (up to rounding: |d| slightly
/// above 1 gives 2·ln 2), within 3·2^−24 relative (module docs).
#[inline(always)]
pub fn phi16<V: F8>(d: (V, V)) -> (V, V) {
    type S<V> = <V as F8>::F32s;
    let one = V::splat(1.0);
    let (ad0, ad1) = (abs(d.0), abs(d.1));
    let (t0, t1) = (d.0.mul(d.0), d.1.mul(d.1));
    let (v0, v1) = (one.sub(ad0), one.sub(ad1));
    let near = horner(S::<V>::from_wide(t0, t1), &NEAR).widen();
    // v below the smallest normal float32 (v·ln v < 1e-36 there) is clamped into
    // ln_parts' domain, and its term dropped below
    let v32 = S::<V>::from_wide(v0, v1).max_ignoring_nan(S::<V>::splat(f32::MIN_POSITIVE));
    let far = horner(v32, &FAR).widen();
    let (k, f, rest) = ln_parts(v32);
    let (k, f, rest, v32) = (k.widen(), f.widen(), rest.widen(), v32.widen());
    (
        phi_half(ad0, t0, v0, near.0, far.0, (k.0, f.0, rest.0, v32.0)),
        phi_half(ad1, t1, v1, near.1, far.1, (k.1, f.1, rest.1, v32.1)),
    )
}

/// One half of [`phi16`] from its float32 parts (widened): |d|, t = d², v = 1 − |d|,
/// P(t), R(v), and ln v's parts at v rounded to float32, v₃₂.
#[inline(always)]
fn phi_half<V: F8>(ad: V, t: V, v: V, p: V, r: V, (k, f, rest, v32): (V, V, V, V)) -> V {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let ln_v32 = k.mul_add(V::splat(LN_2), f.add(rest));
    // v·ln v = v₃₂·ln v₃₂ + (v − v₃₂)·(1 + ln v₃₂) to first order (the rest is below
    // (v − v₃₂)²/v₃₂, 2^−48·v)
    let v_ln_v = v32.mul_add(ln_v32, v.sub(v32).mul(one.add(ln_v32)));
    let v_ln_v = V::select(v.lt(V::splat(f32::MIN_POSITIVE as f64)), zero, v_ln_v);
    let far = v
        .mul(v)
        .mul_add(r, V::splat(2.0 * LN_2))
        .add(v.mul_add(V::splat(-(1.0 + LN_2)), v_ln_v));
    V::select(ad.le(V::splat(0.5)), t.mul(p), far)
}

/// Scalar reference of [`phi16`]: φ(d) in f64 from its series where |d| ≤ ½ (the closed
/// form cancels there), from the closed form with `ln_1p` elsewhere.
pub fn phi_reference(d: f64) -> f64 {
    let t = d * d;
    if t <= 0.25 {
        let (mut sum, mut power) = (0.0, t);
        for k in 1..80 {
            sum += power / (k * (2 * k - 1)) as f64;
            power *= t;
        }
        sum
    } else {
        let v = 1.0 - d.abs();
        let v_ln_v = if v > 0.0 { v * v.ln() } else { 0.0 };
        (2.0 - v) * (-v / 2.0).ln_1p() + (2.0 - v) * LN_2 + v_ln_v
    }
}

/// Σ w·φ(d) and Σ w·|d| of sixteen elements (two halves of eight lanes) with the pass-2
/// constants `k` of their lanes, added to `sum` and `spread`.
#[inline(always)]
fn add16<V: F8>(p: (V, V), q: (V, V), k: &[Lanes<V>; 2], sum: &mut [V; 2], spread: &mut [V; 2]) {
    let zero = V::splat(0.0);
    let (diff0, a0, b0) = super::js::difference(p.0, q.0, &k[0]);
    let (diff1, a1, b1) = super::js::difference(p.1, q.1, &k[1]);
    let (w0, w1) = (a0.add(b0), a1.add(b1));
    // p = q = 0 weighs nothing (d would be 0/0)
    let d0 = V::select(w0.eq(zero), zero, diff0.div(w0));
    let d1 = V::select(w1.eq(zero), zero, diff1.div(w1));
    let (phi0, phi1) = phi16((d0, d1));
    sum[0] = w0.mul_add(phi0, sum[0]);
    sum[1] = w1.mul_add(phi1, sum[1]);
    spread[0] = w0.mul_add(abs(d0), spread[0]);
    spread[1] = w1.mul_add(abs(d1), spread[1]);
}

/// Whether a sum of terms is kept: Σ w·|d| ≤ 2^40·Σ w·φ(d) (module docs).
#[inline(always)]
fn settled<V: F8>(sum: V, spread: V) -> V::Mask {
    spread.le(sum.mul(V::splat(SPREAD_LIMIT)))
}

/// Σ w·[g(d) + g(−d)] of one leaf of a long float32 row (the row's constants `k` in every
/// lane), or `None` where the leaf holds a negative value or its every |d| is below
/// ~2^−40 (module docs): for the leaves the logarithms' fast form ([`super::js_f32`])
/// leaves, before the exact leaf. Any finite non-negative values (the row's totals are
/// regular).
#[inline(always)]
fn leaf<V: F8>(p: &[f32], q: &[f32], k: &Lanes<V>) -> Option<f64> {
    let zero = V::splat(0.0);
    let lanes = [*k, *k];
    let (mut sum, mut spread, mut low) = ([zero; 2], [zero; 2], zero);
    let n = p.len().min(q.len());
    let mut i = 0;
    while i < n {
        let a = load16::<V, f32>(&p[..n], i);
        let b = load16::<V, f32>(&q[..n], i);
        low = low.min_ignoring_nan(a.0.min_ignoring_nan(a.1));
        low = low.min_ignoring_nan(b.0.min_ignoring_nan(b.1));
        add16(a, b, &lanes, &mut sum, &mut spread);
        i += 16;
    }
    let sum_all = sum[0].add(sum[1]).sum_lanes();
    let spread_all = spread[0].add(spread[1]).sum_lanes();
    if low.min_lane() >= 0.0 && spread_all <= sum_all * SPREAD_LIMIT {
        Some(sum_all)
    } else {
        None
    }
}

#[inline(always)]
fn leaf_apart_body<V: F8>(p: &[f32], q: &[f32], k: &Consts) -> Option<f64> {
    leaf::<V>(p, q, &Lanes::splat(k))
}

crate::simd::multiversion! {
    /// [`leaf`] with a row's constants, out of line: inlined into the leaf loop of
    /// `js::terms` it made the leaves the logarithms' form keeps 4% slower (uniform float32
    /// rows of 256 and 10^7, one thread), though they never call it.
    #[inline(never)]
    pub fn leaf_apart<>(p: &[f32], q: &[f32], k: &Consts) -> Option<f64> = leaf_apart_body;
}

/// The φ form lane by lane (one row per lane) and the exact group form for the rows it
/// does not keep, on either tile.
pub struct JsPhi;

impl FastGroupForm for JsPhi {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        let zero = V::splat(0.0);
        let totals = GroupTotals::<V>::of::<R, 2>(p, q);
        let lanes = [group_lanes(&totals, 0), group_lanes(&totals, 1)];
        let (mut sum, mut spread) = ([zero; 2], [zero; 2]);
        for (pr, qr) in p.iter().zip(q) {
            let a = (pr.half::<V>(0), pr.half::<V>(1));
            let b = (qr.half::<V>(0), qr.half::<V>(1));
            add16(a, b, &lanes, &mut sum, &mut spread);
        }
        for h in 0..2 {
            let valid = V::and(totals.regular(h), totals.nonnegative(h));
            mark_irregular::<V>(V::and(valid, settled(sum[h], spread[h])), h, fast);
            let k = &lanes[h];
            store_half(sum[h].div(V::splat(4.0).mul(k.sp).mul(k.sq)), h, out);
        }
        totals.lowest()
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        super::js::group_of::<f32, f32>(p, q, true, out, regular);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{
        check_fast_group_form, check_group_rows_alone, f32_group_rows, tile_rows,
    };
    use crate::simd::vector::{on_every_vector_type, LaneOp};

    struct Phi;
    impl LaneOp for Phi {
        fn apply<V: F8>(&self, v: V) -> V {
            phi16((v, v)).0
        }
    }

    /// d on every side of the branch point, near 0 and near ±1, denormals, and a sweep.
    fn samples() -> Vec<f64> {
        let mut d = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            1e-300,
            1e-160,
            2f64.powi(-40),
            1e-9,
            1e-4,
            0.25,
            0.5,
            0.5f64.next_down(),
            0.5f64.next_up(),
            0.75,
            0.999_999,
            1.0 - 2f64.powi(-30),
            1.0 - 1e-38,
            1.0 - 1e-45,
            1.0f64.next_down(),
            1.0,
            1.0 + f64::EPSILON,
        ];
        for i in 0..=20_000 {
            d.push(i as f64 / 20_000.0);
            d.push(-(i as f64) / 20_000.0 * 0.999);
        }
        d
    }

    #[test]
    fn phi_matches_its_scalar_reference_everywhere() {
        let d = samples();
        for (name, got) in on_every_vector_type(&Phi, &d) {
            let mut worst = 0f64;
            for (&x, &g) in d.iter().zip(&got) {
                let want = phi_reference(x.clamp(-1.0, 1.0));
                let err = if want == 0.0 {
                    g.abs()
                } else {
                    ((g - want) / want).abs()
                };
                worst = worst.max(err);
                assert!(
                    err <= 3.0 * 2f64.powi(-24),
                    "{name}: φ({x:e}) = {g:e}, want {want:e}"
                );
                assert!(g >= 0.0, "{name}: φ({x:e}) < 0");
            }
            println!("{name}: worst φ {worst:e}");
        }
    }

    #[test]
    fn the_reference_is_continuous_at_the_branch_point() {
        let (a, b) = (phi_reference(0.5), phi_reference(0.5f64.next_up()));
        assert!(((a - b) / a).abs() < 1e-15, "{a} vs {b}");
        assert!((phi_reference(1.0) - 2.0 * LN_2).abs() < 1e-16);
    }

    #[inline(always)]
    fn fast_body<V: F8>(
        pt: &[[f64; GROUP]],
        qt: &[[f64; GROUP]],
        out: &mut [f64],
        fast: &mut [bool],
    ) -> Lowest {
        JsPhi::fast::<V, [f64; GROUP]>(pt, qt, out, fast)
    }

    crate::simd::multiversion! {
        /// The φ form alone (no exact fallback), on the running CPU's vector type.
        pub fn fast_only<>(pt: &[[f64; GROUP]], qt: &[[f64; GROUP]], out: &mut [f64], fast: &mut [bool]) -> Lowest = fast_body;
    }

    fn phi_group(
        pt: &[[f64; GROUP]],
        qt: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        super::super::f32_tiles::group::<JsPhi>(pt, qt, out, regular)
    }

    #[test]
    fn group_rows_are_within_the_contract_or_take_the_exact_form() {
        let (fast, exact) = check_fast_group_form(
            phi_group,
            |pt, qt, out, regular| {
                super::super::js::group_of::<f32, f32>(pt, qt, true, out, regular)
            },
            1.01 * 2f64.powi(-21),
        );
        assert!(fast > 1000, "fast {fast}, exact {exact}");
    }

    /// Against the float64 exact form on the same (float32) values: the kept rows, far
    /// and near, at every length of the group tile.
    #[test]
    fn kept_rows_are_within_the_bound_of_the_exact_value() {
        let mut kept = 0;
        for len in 1..=67 {
            let rows = f32_group_rows(len, 3 * len as u64);
            for chunk in rows.chunks(GROUP) {
                let (pt, qt) = tile_rows(chunk);
                let n = chunk.len();
                let (mut out, mut fast) = (vec![0.0; n], vec![true; n]);
                let lowest = fast_only(&pt, &qt, &mut out, &mut fast);
                let (mut want, mut regular) = (vec![0.0; n], vec![true; n]);
                assert_eq!(
                    lowest,
                    super::super::js::group_of::<f64, f64>(&pt, &qt, true, &mut want, &mut regular)
                );
                for j in 0..n {
                    if fast[j] {
                        kept += 1;
                        assert!(regular[j], "{len}: {chunk:?}");
                        let err = (out[j] - want[j]).abs();
                        assert!(
                            err <= 1.5e-7 * want[j] + 1e-300,
                            "{len} {j} {:?}: {} vs {}",
                            chunk[j],
                            out[j],
                            want[j]
                        );
                    }
                }
            }
        }
        assert!(kept > 1500, "kept {kept}");
    }

    /// Rows whose every |d| is below 2^−40 are left to the exact form (values no float32
    /// row holds, but the tile's f64 values can), others kept down to identical rows (0).
    #[test]
    fn rows_of_nearly_equal_distributions_are_left_to_the_exact_form() {
        let tiny = 2f64.powi(-46);
        let rows = [
            (
                vec![1.0, 1.0 + tiny, 2.0],
                vec![1.0 + tiny, 1.0, 2.0],
                false,
            ),
            (vec![1.0, 1.0 + 1e-6, 2.0], vec![1.0 + 1e-6, 1.0, 2.0], true),
            (vec![0.25, 0.5, 0.25], vec![0.25, 0.5, 0.25], true),
            (vec![0.5, 0.0, 0.5], vec![0.0, 0.5, 0.5], true),
        ];
        for (p, q, keep) in rows {
            let (pt, qt) = tile_rows(&[(p.clone(), q.clone())]);
            let (mut out, mut fast) = ([0.0], [true]);
            fast_only(&pt, &qt, &mut out, &mut fast);
            assert_eq!(fast[0], keep, "{p:?} {q:?}");
            let (mut want, mut regular) = ([0.0], [true]);
            super::super::js::group_of::<f64, f64>(&pt, &qt, true, &mut want, &mut regular);
            if keep {
                assert!(
                    (out[0] - want[0]).abs() <= 1.5e-7 * want[0],
                    "{} vs {}",
                    out[0],
                    want[0]
                );
            }
        }
    }

    #[test]
    fn a_group_row_alone_equals_the_row_among_sixteen() {
        check_group_rows_alone(phi_group);
    }
}
