//! Jensen–Shannon divergence of two-element float32 rows, sixteen rows at a time, by
//! [`super::kl_pairs_f32`]'s form: JS = ½·[KL(P‖M) + KL(Q‖M)] with M = (P + Q)/2.
//!
//! For each element let S and B be the smaller and the larger of Pᵢ and Qᵢ, h = |P₁ − Q₁|/2
//! (= |Pᵢ − Qᵢ|/2 for both elements). Against M, B's KL term is h·F(y_B) with
//! y_B = (B − S)/(3B + S) ∈ [0, 1/3], and S's is −h·F(y_S) with y_S = −(B − S)/(3S + B)
//! ∈ [−1, 0] (F, the series A and the logarithm form as in [`super::kl_pairs_f32`]): four
//! non-negative terms per row, no cancellation between them. y_B is always within the
//! series' reach; where y_S < −1/2 (S/B < 1/5) S's term is S·ln(2S/(S + B)) + h, whose
//! own cancellation is at most ~1.2× (the logarithm ≤ −ln 3): within ~2e-7 relative of
//! the exact value (the tests check ≤ 5e-7 against the exact row form on adversarial
//! rows). The rationals run in f64 (four divisions per eight rows), the series and the
//! logarithm in f32 lanes. The f64 form (`js_of_two` in [`super::js`]) takes g(d) + g(−d)
//! per element through two `log1p_g16` calls.
//!
//! The code is written element by element, straight-line: a first version holding both
//! elements' rationals in arrays crashed LLVM 22's InstCombine (a SIGSEGV of rustc in the
//! fat-LTO release build, rustc 1.95, in the engine's chunk closure where the portable
//! build of this form is inlined; the ci-test profile, without LTO, compiled it).
//!
//! Every row whose distributions are regular (no NaN, negative or infinite element, a
//! positive total) is held: JS is bounded (≤ ln 2), a zero is an S with term h, and a
//! ratio 2S/(S + B) below f32's normal range is taken at f32::MIN_POSITIVE (its S·ln term
//! is then below 2^−119 of h).

use super::f32_tiles::{FastGroupForm, TileRow};
use super::js;
use super::kl_pairs_f32::{by_series, series, FAR};
use super::pairs_f32::{pair_form_on_tile, PairForm};
use super::two_pass::{abs, regular_f32_row, Lowest};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// One element (P, Q) of eight rows: (y_B, y_S, S, S + B), given h = |P₁ − Q₁|/2.
#[inline(always)]
fn element<V: F8>(pi: V, qi: V, h: V) -> (V, V, V, V) {
    let (three, two) = (V::splat(3.0), V::splat(2.0));
    let p_smaller = pi.lt(qi);
    let small = V::select(p_smaller, pi, qi);
    let big = V::select(p_smaller, qi, pi);
    let n_big = three.mul_add(big, small);
    let n_small = three.mul_add(small, big);
    let inv = V::splat(1.0).div(n_big.mul(n_small));
    let two_h = h.mul(two).mul(inv);
    let y_big = two_h.mul(n_small);
    let y_small = V::splat(0.0).sub(two_h.mul(n_big));
    let m = small.add(big);
    (y_big, y_small, small, m)
}

/// The squares of both elements' y in one f32 vector.
#[inline(always)]
fn squares<V: F8>(y0: V, y1: V) -> V::F32s {
    V::F32s::from_wide(y0.mul(y0), y1.mul(y1))
}

/// JS(P, Q) of sixteen two-element rows p = (a, b), q = (c, d) (module docs), as two
/// halves of eight rows, and the rows it holds (the regular ones).
// the loop indexes the halves of a, b, c, d too (and this is the shape that compiled: see
// the module docs)
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn lanes<V: F8>(a: V::F32s, b: V::F32s, c: V::F32s, d: V::F32s) -> ([V; 2], [V::Mask; 2]) {
    type W<V> = <V as F8>::F32s;
    let regular = W::<V>::and(regular_f32_row([a, b]), regular_f32_row([c, d]));
    let regular = W::<V>::widen_mask(regular);
    let (a, b, c, d) = (a.widen(), b.widen(), c.widen(), d.widen());
    let zero = V::splat(0.0);
    let far = V::splat(FAR);
    let mut values = [zero; 2];
    for half in 0..2 {
        let (a, b, c, d) = if half == 0 {
            (a.0, b.0, c.0, d.0)
        } else {
            (a.1, b.1, c.1, d.1)
        };
        let one = V::splat(1.0);
        let (s, t) = (a.add(b), c.add(d));
        let det = a.fused_mul_add(d, zero.sub(b.mul(c)));
        let inv_st = one.div(s.mul(t));
        let h = abs(det.mul(inv_st)).mul(V::splat(0.5));
        let (inv_s, inv_t) = (t.mul(inv_st), s.mul(inv_st));
        let (yb0, ys0, s0, m0) = element(a.mul(inv_s), c.mul(inv_t), h);
        let (yb1, ys1, s1, m1) = element(b.mul(inv_s), d.mul(inv_t), h);
        let ab = series(squares::<V>(yb0, yb1)).widen();
        let asm = series(squares::<V>(ys0, ys1)).widen();
        let near0 = abs(ys0).le(far);
        let near1 = abs(ys1).le(far);
        let inv_m = V::splat(2.0).div(m0.mul(m1));
        let (l0, l1) = if V::all(V::and(near0, near1)) {
            (zero, zero)
        } else {
            let ratio = W::<V>::from_wide(s0.mul(m1).mul(inv_m), s1.mul(m0).mul(inv_m));
            ln_fast(W::<V>::splat(f32::MIN_POSITIVE).max_ignoring_nan(ratio)).widen()
        };
        let neg_h = zero.sub(h);
        let t0 = by_series(h, yb0, ab.0).add(V::select(
            near0,
            by_series(neg_h, ys0, asm.0),
            s0.mul_add(l0, h),
        ));
        let t1 = by_series(h, yb1, ab.1).add(V::select(
            near1,
            by_series(neg_h, ys1, asm.1),
            s1.mul_add(l1, h),
        ));
        values[half] = V::select(det.eq(zero), zero, t0.add(t1).mul(V::splat(0.5)));
    }
    (values, [regular.0, regular.1])
}

/// The JS pair form as a [`FastGroupForm`] (the engine's tile, [`super::f32_tiles::group`])
/// and a [`PairForm`] ([`super::pairs_f32::adjacent`]).
pub struct JsPairs;

impl FastGroupForm for JsPairs {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        pair_form_on_tile::<V, Self, R>(p, q, out, fast)
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        js::group_of::<f32, f32>(p, q, true, out, regular);
    }
}

impl PairForm for JsPairs {
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

    /// Whether the lane form holds the row: both distributions regular.
    fn held(p: [f32; 2], q: [f32; 2]) -> bool {
        regular_f32_pair(p) && regular_f32_pair(q)
    }

    /// The normalised elements (P₁, P₂), (Q₁, Q₂) in f64.
    fn normalised(p: [f32; 2], q: [f32; 2]) -> ([f64; 2], [f64; 2]) {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1], q[0] + q[1]);
        (p.map(|x| x / s), q.map(|x| x / t))
    }

    /// Whether some element's smaller side is below a fifth of its larger (the logarithm).
    fn takes_the_log(p: [f32; 2], q: [f32; 2]) -> bool {
        let (p, q) = normalised(p, q);
        (0..2).any(|i| p[i].max(q[i]) > 5.0 * p[i].min(q[i]))
    }

    /// The form in scalar f64 with libm's logarithm and the series summed to 60 terms (the
    /// scalar reference of [`lanes`]), for rows it holds.
    fn reference(p: [f32; 2], q: [f32; 2]) -> f64 {
        let ([a, b], [c, d]) = (p.map(f64::from), q.map(f64::from));
        // |P₁ − Q₁| from the exact products, not from the rounded shares
        let h = (a * d - b * c).abs() / (2.0 * (a + b) * (c + d));
        if h == 0.0 {
            return 0.0;
        }
        let (p, q) = normalised(p, q);
        let f = |y: f64| {
            let z = y * y;
            let a: f64 = (0..60).map(|j| z.powi(j + 1) / f64::from(2 * j + 3)).sum();
            y + (1.0 + y) * a
        };
        let mut js = 0.0;
        for i in 0..2 {
            let (small, big) = (p[i].min(q[i]), p[i].max(q[i]));
            let (y_big, y_small) = (
                2.0 * h / (3.0 * big + small),
                -2.0 * h / (3.0 * small + big),
            );
            js += h * f(y_big);
            js += if y_small.abs() <= FAR {
                -h * f(y_small)
            } else if small == 0.0 {
                h
            } else {
                small * (2.0 * small / (small + big)).ln() + h
            };
        }
        js / 2.0
    }

    /// The group form on the engine's tile, sixteen rows at a time.
    fn through_group(rows: &[Row], same: bool) -> Vec<(f64, bool)> {
        f32_rows_through_group::<JsPairs, 2>(rows, same, 2)
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
            |p, q| js::row(p, q, true).0,
            |p, q, out, regular| {
                js::group_of::<f32, f32>(p, q, true, out, regular);
            },
        );
    }

    /// Disjoint supports give ln 2, equal distributions 0, at any scale.
    #[test]
    fn disjoint_rows_give_ln_2_and_equal_rows_0() {
        let rows: Vec<Row> = [2f32.powi(-100), 1.0, 2f32.powi(100)]
            .iter()
            .flat_map(|&x| [([x, 0.0], [0.0, 2.0 * x]), ([x, 3.0 * x], [0.5, 1.5])])
            .collect();
        let got = through_group(&rows, false);
        for (k, (value, regular)) in got.into_iter().enumerate() {
            assert!(regular);
            if k % 2 == 0 {
                assert!((value - std::f64::consts::LN_2).abs() <= 2e-7, "{value}");
            } else {
                assert_eq!(value, 0.0, "{:?}", rows[k]);
            }
        }
    }

    /// A row never depends on its neighbours; JS(p, p) of the same tile equals that of a copy.
    #[test]
    fn rows_alone_and_copies_take_their_group_bits() {
        check_alone_and_copies(&divergence_pair_rows(), through_group);
    }

    /// The adjacent form against the group form (every tail, groups holding left rows).
    #[test]
    fn adjacent_rows_equal_the_group_form_and_stop_at_left_rows() {
        check_pair_adjacent_matches_group::<JsPairs>(&divergence_pair_rows(), held, through_group);
    }
}
