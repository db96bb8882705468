//! KL divergence of two-element float32 rows — a binary classifier's (N, 2) outputs
//! against a reference — sixteen rows at a time, without a cancelling difference.
//!
//! **The form.** With m = P + Q and y = (P − Q)/m ∈ [−1, 1] for each element, a KL term
//! is P·ln(P/Q) − P + Q = m·y·F(y) with
//! F(y) = ((1 + y)·atanh(y) − y)/y = y + (1 + y)·A(y), A(y) = atanh(y)/y − 1 = Σⱼ y^{2j+2}/(2j + 3),
//! and y·F(y) ≥ 0. Over a row the −P + Q cancel (both sum to 1), so
//! D = m₁y₁F(y₁) + m₂y₂F(y₂), where m₁y₁ = P₁ − Q₁ = δ and m₂y₂ = −δ: two non-negative
//! terms, no cancellation between them. For rows p = (a, b), q = (c, d) with s = a + b,
//! t = c + d: δ = (ad − bc)/(st), m₁ = (at + cs)/(st), m₂ = (bt + ds)/(st) — ad − bc is
//! one fused multiply-add of exact products, the sums have no cancelling terms.
//!
//! **Where each part runs.** The rationals (s, t, ad − bc, the m's, y's, P's and the ratios
//! P/Q) in f64, where every product of float32 values is exact or rounds once (three
//! divisions per eight rows); the transcendental parts in f32 lanes (both elements of eight
//! rows in one vector, DESIGN §2b): where |y| ≤ 1/2, A(y) by a polynomial in y² (its
//! series' sum within 3e-8); elsewhere (P/Q outside [1/3, 3]) the term
//! P·ln(P/Q) − δᵢ with ln of the f64 ratio rounded to f32 by [`ln_fast`]. Error (relative,
//! per term; both terms are ≥ 0, so the row's value is as close): the series' A carries a
//! few f32 roundings but weighs at most 0.23 of F (at |y| = 1/2); the logarithm is within
//! ~2.3·2^−24 of ln(P/Q) (|ln(P/Q)| ≥ ln 3), and the term's own cancellation magnifies that
//! by at most 2.5 (at y = 1/2): ≤ ~3.5e-7, under the 1e-6 of DESIGN §2b (the tests check
//! ≤ 5e-7 against the exact row form on adversarial rows). A ratio below f32's normal range
//! is taken at f32::MIN_POSITIVE: its P·ln(P/Q) is then below 2^−119 of the term −δᵢ ≈ Qᵢ.
//!
//! The f64 form ([`super::kl`]'s `kl_of_two`) computes g(f) = (1 + f)·ln(1 + f) − f per
//! element through an f64 exponent split, an f32 rest polynomial and its corrections
//! (~250 instructions per eight rows); this form's loop is not much shorter (~340 per
//! eight rows as first built, `perf annotate`), but over half of its time was the f32
//! polynomial chains, now shortened (benches/README.md: one thread, (5·10^6, 2) rows,
//! 36 → 26 ms).
//!
//! It is a [`FastGroupForm`] ([`KlPairs`], on the engine's tile) and a [`PairForm`] (rows
//! read straight from memory by [`super::pairs_f32::adjacent`]); both run [`lanes`], so a
//! row gets the same bits either way. A row is left to the exact group form where either
//! distribution has a NaN, a negative, no positive element or an infinite one, and where
//! a ratio P/Q overflows f32 (q's smaller element below ~1e-38 of its larger under mass).
//! A zero q under mass gives +inf; equal distributions (ad = bc) give 0.

use super::f32_tiles::{FastGroupForm, TileRow};
use super::kl;
use super::pairs_f32::{pair_form_on_tile, PairForm};
use super::two_pass::{abs, regular_f32_row, Lowest};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// |y| above which a term takes the logarithm form (P/Q outside [1/3, 3]).
pub(crate) const FAR: f64 = 0.5;

/// A(y)/y² = Σⱼ y^{2j}/(2j + 3) on y² ∈ [0, 1/4] by a degree-6 polynomial in y² (a
/// relative least-squares fit at 200 Chebyshev points; its f32 coefficients within 3e-8
/// relative of the series over the whole interval, checked against mpmath at 1001 points).
/// The Taylor series needs degree 10 for that; the Horner chain of 11 dependent f32
/// multiply-adds was the form's longest latency.
#[allow(clippy::excessive_precision)]
const SERIES: [f32; 7] = [
    0.333_333_343_267_440_8,
    0.199_999_600_648_880_0,
    0.142_882_555_723_190_3,
    0.110_513_545_572_757_7,
    0.097_478_508_949_279_79,
    0.041_063_025_593_757_63,
    0.156_094_387_173_652_65,
];

/// A(y) = atanh(y)/y − 1 from z = y² (≤ 1/4) by [`SERIES`], in Estrin's order (depth
/// four, not seven).
#[inline(always)]
pub(crate) fn series<W: F16>(z: W) -> W {
    // each coefficient splatted in place: `SERIES.map(W::splat)` left `_mm256_set1_ps` out
    // of line, outside the target-feature wrapper (tests/test_simd_inlining.py)
    let z2 = z.mul(z);
    let low = W::splat(SERIES[1]).mul_add(z, W::splat(SERIES[0]));
    let mid = W::splat(SERIES[3]).mul_add(z, W::splat(SERIES[2]));
    let high = W::splat(SERIES[5]).mul_add(z, W::splat(SERIES[4]));
    let high = W::splat(SERIES[6]).mul_add(z2, high);
    let poly = z2.mul_add(z2.mul_add(high, mid), low);
    z.mul(poly)
}

/// The f64 rationals of eight rows p = (a, b), q = (c, d).
struct Rationals<V> {
    /// ad − bc (0: equal distributions)
    det: V,
    /// δ = P₁ − Q₁
    delta: V,
    /// y₁ = δ/m₁, y₂ = −δ/m₂
    y: [V; 2],
    /// P₁, P₂
    p: [V; 2],
    /// P₁/Q₁, P₂/Q₂ (+inf or NaN where a q is 0)
    ratio: [V; 2],
}

#[inline(always)]
fn rationals<V: F8>(a: V, b: V, c: V, d: V) -> Rationals<V> {
    let one = V::splat(1.0);
    let (s, t) = (a.add(b), c.add(d));
    // a·d and b·c are exact in f64: one rounding
    let det = a.fused_mul_add(d, V::splat(0.0).sub(b.mul(c)));
    let inv_st = one.div(s.mul(t));
    let delta = det.mul(inv_st);
    let m1 = a.mul_add(t, c.mul(s)).mul(inv_st);
    let m2 = b.mul_add(t, d.mul(s)).mul(inv_st);
    let inv_m = one.div(m1.mul(m2));
    let y = [
        delta.mul(m2).mul(inv_m),
        V::splat(0.0).sub(delta).mul(m1).mul(inv_m),
    ];
    let inv_q = one.div(c.mul(d).mul(s));
    let ta = a.mul(t);
    let tb = b.mul(t);
    Rationals {
        det,
        delta,
        y,
        p: [ta.mul(inv_st), tb.mul(inv_st)],
        ratio: [ta.mul(d).mul(inv_q), tb.mul(c).mul(inv_q)],
    }
}

/// A term w·y·F(y) = w·(y + (1 + y)·A) by the series (w·y = P − Q of the term, A = A(y)).
#[inline(always)]
pub(crate) fn by_series<V: F8>(w: V, y: V, a: V) -> V {
    w.mul(V::splat(1.0).add(y).mul_add(a, y))
}

/// KL(P‖Q) of sixteen two-element rows p = (a, b), q = (c, d) (module docs), as two halves
/// of eight rows, and the rows it holds (false: leave the row to the exact form).
#[inline(always)]
fn lanes<V: F8>(a: V::F32s, b: V::F32s, c: V::F32s, d: V::F32s) -> ([V; 2], [V::Mask; 2]) {
    type W<V> = <V as F8>::F32s;
    let regular = W::<V>::and(regular_f32_row([a, b]), regular_f32_row([c, d]));
    let regular = W::<V>::widen_mask(regular);
    let (a, b, c, d) = (a.widen(), b.widen(), c.widen(), d.widen());
    let halves = [(a.0, b.0, c.0, d.0), (a.1, b.1, c.1, d.1)];
    let zero = V::splat(0.0);
    let (far, largest) = (V::splat(FAR), V::splat(f64::from(f32::MAX)));
    let mut values = [zero; 2];
    let mut held = [regular.0, regular.1];
    for (h, &(a, b, c, d)) in halves.iter().enumerate() {
        let r = rationals(a, b, c, d);
        let near = [abs(r.y[0]).le(far), abs(r.y[1]).le(far)];
        let a_of_y = series(W::<V>::from_wide(r.y[0].mul(r.y[0]), r.y[1].mul(r.y[1]))).widen();
        let a_of_y = [a_of_y.0, a_of_y.1];
        // the logarithms only where some row needs one
        let logs = if V::all(V::and(near[0], near[1])) {
            [zero; 2]
        } else {
            let ratio = W::<V>::from_wide(r.ratio[0], r.ratio[1]);
            let l = ln_fast(W::<V>::splat(f32::MIN_POSITIVE).max_ignoring_nan(ratio)).widen();
            [l.0, l.1]
        };
        let mut value = zero;
        for i in 0..2 {
            let delta = if i == 0 { r.delta } else { zero.sub(r.delta) };
            let y = r.y[i];
            let by_series = by_series(delta, y, a_of_y[i]);
            let by_log = r.p[i].mul_add(logs[i], zero.sub(delta));
            value = value.add(V::select(near[i], by_series, by_log));
        }
        let mass_on_zero = V::or(
            V::and(c.eq(zero), zero.lt(a)),
            V::and(d.eq(zero), zero.lt(b)),
        );
        value = V::select(r.det.eq(zero), zero, value);
        values[h] = V::select(mass_on_zero, V::splat(f64::INFINITY), value);
        // a zero q makes the ratios meaningless, but then the value is 0 or +inf
        let ratios_fit = V::and(r.ratio[0].le(largest), r.ratio[1].le(largest));
        let zero_q = V::or(c.eq(zero), d.eq(zero));
        held[h] = V::and(held[h], V::or(ratios_fit, zero_q));
    }
    (values, held)
}

/// The KL pair form as a [`FastGroupForm`] (the engine's tile, [`super::f32_tiles::group`])
/// and a [`PairForm`] ([`super::pairs_f32::adjacent`]).
pub struct KlPairs;

impl FastGroupForm for KlPairs {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        pair_form_on_tile::<V, Self, R>(p, q, out, fast)
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        kl::group_of::<f32>(p, q, true, out, regular);
    }
}

impl PairForm for KlPairs {
    #[inline(always)]
    fn lanes<V: F8>(a: V::F32s, b: V::F32s, c: V::F32s, d: V::F32s) -> ([V; 2], [V::Mask; 2]) {
        lanes::<V>(a, b, c, d)
    }
}

#[cfg(test)]
mod tests {
    use super::super::adversarial::{
        check_alone_and_copies, check_pair_adjacent_matches_group, check_pair_contract,
        divergence_pair_rows, f32_rows_through_group, regular_f32_pair,
    };
    use super::*;

    type Row = ([f32; 2], [f32; 2]);

    /// Whether the lane form holds the row, by the module docs' rules in scalar f64.
    fn held(p: [f32; 2], q: [f32; 2]) -> bool {
        if !regular_f32_pair(p) || !regular_f32_pair(q) {
            return false;
        }
        if q[0] == 0.0 || q[1] == 0.0 {
            return true;
        }
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1], q[0] + q[1]);
        (0..2).all(|i| p[i] * t / (q[i] * s) <= f64::from(f32::MAX))
    }

    /// The form in scalar f64 with libm's logarithm and a longer series (the scalar
    /// reference of [`lanes`]), for rows it holds.
    fn reference(p: [f32; 2], q: [f32; 2]) -> f64 {
        let ([a, b], [c, d]) = (p.map(f64::from), q.map(f64::from));
        if (c == 0.0 && a > 0.0) || (d == 0.0 && b > 0.0) {
            return f64::INFINITY;
        }
        let (s, t) = (a + b, c + d);
        let det = a * d - b * c;
        if det == 0.0 {
            return 0.0;
        }
        let delta = det / (s * t);
        let terms = [(a, c, delta), (b, d, -delta)];
        terms
            .iter()
            .map(|&(x, z, delta)| {
                let (big_p, big_q) = (x / s, z / t);
                let y = delta / (big_p + big_q);
                if y.abs() <= FAR {
                    let z2 = y * y;
                    let a: f64 = (0..40).map(|j| z2.powi(j + 1) / f64::from(2 * j + 3)).sum();
                    delta * (y + (1.0 + y) * a)
                } else if big_p == 0.0 {
                    -delta
                } else {
                    big_p * (big_p / big_q).ln() - delta
                }
            })
            .sum()
    }

    /// Whether some element's |y| exceeds [`FAR`] (the logarithm form).
    fn takes_the_log(p: [f32; 2], q: [f32; 2]) -> bool {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1], q[0] + q[1]);
        (0..2).any(|i| ((p[i] / s - q[i] / t) / (p[i] / s + q[i] / t)).abs() > FAR)
    }

    /// The group form on the engine's tile, sixteen rows at a time.
    fn through_group(rows: &[Row], same: bool) -> Vec<(f64, bool)> {
        f32_rows_through_group::<KlPairs, 2>(rows, same, 2)
    }

    /// [`divergence_pair_rows`] through the group form against the exact row form.
    #[test]
    fn rows_are_within_the_f32_contract_of_the_exact_row_form() {
        let rows = divergence_pair_rows();
        let got = through_group(&rows, false);
        check_pair_contract(
            &rows,
            &got,
            held,
            takes_the_log,
            reference,
            |p, q| kl::row(p, q, true).0,
            |p, q, out, regular| {
                kl::group_of::<f32>(p, q, true, out, regular);
            },
        );
    }

    /// The polynomial stands for A(y) = Σⱼ y^{2j+2}/(2j + 3) within 2.5e-7 relative (the
    /// fit's 3e-8 and four f32 roundings of its evaluation) over the whole range y² ≤ 1/4.
    #[test]
    fn the_polynomial_matches_the_series() {
        use crate::simd::vector_f32::Scalar16;
        let mut worst = 0.0f64;
        for i in 0..=4000 {
            let z = (i as f32) / 16000.0;
            let got = f64::from(series(Scalar16::splat(z)).0[0]);
            let z = f64::from(z);
            let want: f64 = (0..60).map(|j| z.powi(j + 1) / f64::from(2 * j + 3)).sum();
            if want > 0.0 {
                worst = worst.max((got - want).abs() / want);
            }
        }
        assert!(worst < 2.5e-7, "{worst:e}");
    }

    /// A row never depends on its neighbours; KL(p‖p) of the same tile equals that of a copy.
    #[test]
    fn rows_alone_and_copies_take_their_group_bits() {
        check_alone_and_copies(&divergence_pair_rows(), through_group);
    }

    /// The adjacent form against the group form (every tail, groups holding left rows).
    #[test]
    fn adjacent_rows_equal_the_group_form_and_stop_at_left_rows() {
        check_pair_adjacent_matches_group::<KlPairs>(&divergence_pair_rows(), held, through_group);
    }
}
