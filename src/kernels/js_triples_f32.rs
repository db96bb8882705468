//! Jensen–Shannon divergence of three-element float32 rows — a three-class model's (N, 3)
//! outputs against a reference — sixteen rows at a time: [`super::js_pairs_f32`]'s terms
//! on [`super::kl_triples_f32`]'s rationals, no cancelling difference.
//!
//! **The form.** JS = ½·[KL(P‖M) + KL(Q‖M)] with M = (P + Q)/2, P = p/s, Q = q/t
//! (s = Σp, t = Σq). Per element, with S and B the smaller and the larger of Pᵢ and Qᵢ and
//! hᵢ = |Pᵢ − Qᵢ|/2 = (B − S)/2, B's KL term against M is hᵢ·F(y_B) with
//! y_B = (B − S)/(3B + S) ∈ [0, 1/3], and S's is −hᵢ·F(y_S) with
//! y_S = −(B − S)/(3S + B) ∈ [−1, 0] (F and the series A as in [`super::kl_pairs_f32`]):
//! six non-negative terms per row, no cancellation between them. y_B is always within the
//! series' reach; where y_S < −1/2 (S/B < 1/5) S's term is S·ln(2S/(S + B)) + hᵢ
//! ([`super::js_pairs_f32`]). Scaled by s·t, with Dᵢⱼ = pᵢqⱼ − pⱼqᵢ:
//! - nᵢ = pᵢt − qᵢs = (Pᵢ − Qᵢ)·st from the D's as in [`super::kl_triples_f32`]
//!   (n₀ = D₀₁ + D₀₂, n₁ = D₁₂ − D₀₁, n₂ = −(D₀₂ + D₁₂)), never from the rounded totals,
//!   and hᵢ·st = |nᵢ|/2;
//! - S' and B', the smaller and the larger of pᵢt and qᵢs (S·st and B·st), and
//!   uᵢ = |nᵢ|/B' = (B − S)/B ∈ [0, 1]: then y_B = u/(4 − u), y_S = −u/(4 − 3u) and the
//!   logarithm's ratio is 2S/(S + B) = 2(S'/B')/(2 − u) — each y a function of u only, so
//!   their six denominators lie in [1, 4] whatever the elements' scales (which differ by up
//!   to ~1e84: the six products 3B' + S', 3S' + B' of a row do not fit in f64 together);
//! - JS = ½·(Σ terms)·(1/(st)).
//!
//! **Divisions: two per eight rows** (the pair form takes four, kl_triples_f32 two or
//! three): one reciprocal of B'₀B'₁B'₂ (uᵢ = |nᵢ|·B'ⱼB'ₖ·inv, S'ᵢ/B'ᵢ = S'ᵢ·B'ⱼB'ₖ·inv),
//! and one of c₀c₁c₂·st with cᵢ = (4 − uᵢ)(4 − 3uᵢ)(2 − uᵢ) ∈ [3, 32]: it gives
//! 1/cᵢ = cⱼcₖ·(inv·st), hence 1/(4 − uᵢ), 1/(4 − 3uᵢ), 1/(2 − uᵢ) each by products, and
//! 1/(st) = c₀c₁c₂·inv. The factor 2 − u, needed only for a logarithm's ratio, costs a few
//! multiplications per element always; the ratios themselves and their logarithms are
//! computed only for eight rows of which some needs one.
//!
//! **Where each part runs.** The rationals in f64, where every product of float32 values
//! is exact or rounds once; the transcendental parts in f32 lanes (DESIGN §2b): A(y) by
//! [`series`] (the six y² of eight rows in three sixteen-lane vectors), and where some row
//! of the eight needs one, the logarithms by [`ln_fast`] of the ratios rounded to f32
//! ((r₀, r₁) in one vector, r₂ in another), a ratio below f32's normal range taken at
//! f32::MIN_POSITIVE (S's term is then below 2^−119 of its hᵢ, and so is the clamp's
//! change to it).
//!
//! **Error** (relative, per term; all terms are ≥ 0, so the row's value is as close): as
//! the pair form's — a term by the series within ~6e-8 (A's f32 error weighs at most 0.23
//! of F), S's term by the logarithm within ~2e-7 (ln of the ratio rounded to f32 within
//! ~2.3·2^−24 of the exact logarithm, |ln(2S/(S + B))| ≥ ln 3, magnified ≤ ~1.2× by the
//! term's own cancellation) — and the nᵢ argument of [`super::kl_triples_f32`]: each Dᵢⱼ is
//! one rounding of exact products (exactly 0 for proportional elements, so p against p, or
//! against an exactly rescaled p, gives exactly 0: all u are 0 and so are all terms), an
//! nᵢ's error is ≤ ε(|Dᵢⱼ| + |Dᵢₖ| + |nᵢ|), and as the terms of nearly equal rows are
//! ≈ δᵢ²/mᵢ as there (an element's two ≈ hᵢ²/(2B) each, δ = P − Q, m = P + Q), these errors
//! sum to ≤ ~8ε·JS; u, the y's and the ratios carry a few more roundings each (~8ε). Under
//! the 1e-6 of DESIGN §2b: the tests check ≤ 5e-7 against the exact row form (measured:
//! ≤ 5.6e-8 on 24,299 adversarial rows held, 9,502 of them through a logarithm) and
//! ≤ 1.5e-7 against a scalar f64 reference of this form (measured ≤ 3.9e-8). The exact f64
//! group form ([`js::group_of`]) of the same rows computes g(d) + g(−d) per element with
//! two f64 logarithm parts. Measured (a throw-away probe, not project code: `js_divergence`
//! of (3.3·10^6, 3) float32 rows, one thread, release build, minima of nine calls, exact
//! group form → this form): AVX-512 (AMD EPYC) 49.0 → 34.6 ms for independent uniform
//! random rows (36% of rows, 97% of groups of eight take a logarithm), 49.0 → 28.1 ms for
//! nearly equal rows (none); AVX2 72.3 → 39.6 and → 31.8 ms.
//!
//! It is a [`FastGroupForm`] ([`JsTriples`]) on either tile: the engine's (widened) tile
//! and float32 tiles transposed straight from the rows ([`super::f32_tiles::adjacent`]);
//! both run [`lanes`], so a row gets the same bits either way. Every row whose two
//! distributions are regular (no NaN, negative or infinite element, a positive element) is
//! held: JS is bounded (≤ ln 2), a zero is an S with term hᵢ (u = 1, its ratio 0 taken at
//! f32::MIN_POSITIVE, times S' = 0), and pᵢ = qᵢ = 0 gives nᵢ = 0, B' taken as 1, u = 0 and
//! terms 0 (no 0/0). The others take the exact group form.
//!
//! The code is one loop over the two halves of eight rows, all of a half's work inside it
//! ([`eight_rows`]), no closures: [`super::js_pairs_f32`] tells of an LLVM crash of the
//! fat-LTO build with another shape; this one builds (`cargo build --release`, rustc 1.95).

use super::f32_tiles::{FastGroupForm, TileRow};
use super::js;
use super::kl_pairs_f32::{by_series, series, FAR};
use super::two_pass::{abs, lowest_f32_rows, mark_irregular, regular_f32_row, store_half, Lowest};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// One element of eight rows from x = pᵢ·t and w = qᵢ·s: (S', B'), the smaller and the
/// larger, B' taken as 1 where both are 0 (nᵢ = 0 there: u = 0, no 0/0).
#[inline(always)]
fn sides<V: F8>(x: V, w: V) -> (V, V) {
    let big = x.max_ignoring_nan(w);
    let big = V::select(big.eq(V::splat(0.0)), V::splat(1.0), big);
    (x.min_ignoring_nan(w), big)
}

/// From u = (B − S)/B of one element: (4 − u, 4 − 3u, 2 − u), the denominators of y_B,
/// y_S and the logarithm's ratio (module docs).
#[inline(always)]
fn denominators<V: F8>(u: V) -> (V, V, V) {
    (
        V::splat(4.0).sub(u),
        V::splat(-3.0).mul_add(u, V::splat(4.0)),
        V::splat(2.0).sub(u),
    )
}

/// JS(P, Q) of eight three-element rows p = (p₀, p₁, p₂), q = (q₀, q₁, q₂) (module docs),
/// meaningful where both are regular.
///
/// Range (float32 values lie in {0} ∪ [1.4e-45, 3.4e38]; s, t ≤ 1.1e39): no product below
/// leaves f64's normal range (≥ 2.2e-308). A positive pᵢt or qᵢs is ≥ 1.9e-90 and
/// ≤ 3.5e77, so B'₀B'₁B'₂ (a zero B' taken as 1) lies in [7e-270, 4.3e232] and a B'ⱼB'ₖ in
/// [3.8e-180, 1.2e155]; a non-zero |nᵢ| is ≥ 2^−350 (kl_triples_f32's `lanes`), so
/// |nᵢ|·B'ⱼB'ₖ and a positive S'ᵢ·B'ⱼB'ₖ lie in [1.7e-285, 4.3e232]. u ≤ 1 + ~4ε
/// (|Dᵢⱼ| ≤ B'ᵢ), so each cᵢ lies in [2.9, 32], c₀c₁c₂ in [24, 32768] and c₀c₁c₂·st in
/// [4.8e-89, 3.6e82].
#[inline(always)]
fn eight_rows<V: F8>(p: [V; 3], q: [V; 3]) -> V {
    type W<V> = <V as F8>::F32s;
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let s = p[0].add(p[1]).add(p[2]);
    let t = q[0].add(q[1]).add(q[2]);
    // pᵢqⱼ and pⱼqᵢ are exact in f64: one rounding each
    let d01 = p[0].fused_mul_add(q[1], zero.sub(p[1].mul(q[0])));
    let d02 = p[0].fused_mul_add(q[2], zero.sub(p[2].mul(q[0])));
    let d12 = p[1].fused_mul_add(q[2], zero.sub(p[2].mul(q[1])));
    let n = [d01.add(d02), d12.sub(d01), zero.sub(d02.add(d12))];
    let (mut small, mut big) = ([zero; 3], [one; 3]);
    for i in 0..3 {
        (small[i], big[i]) = sides(p[i].mul(t), q[i].mul(s));
    }
    // division 1: the three B' at once
    let inv_big = one.div(big[0].mul(big[1]).mul(big[2]));
    let others = [big[1].mul(big[2]), big[0].mul(big[2]), big[0].mul(big[1])];
    let (mut u, mut a, mut b, mut g, mut c) = ([zero; 3], [one; 3], [one; 3], [one; 3], [one; 3]);
    for i in 0..3 {
        u[i] = abs(n[i]).mul(others[i]).mul(inv_big);
        (a[i], b[i], g[i]) = denominators(u[i]);
        c[i] = a[i].mul(b[i]).mul(g[i]);
    }
    // division 2: the nine denominators and s·t at once
    let st = s.mul(t);
    let c_all = c[0].mul(c[1]).mul(c[2]);
    let inv = one.div(c_all.mul(st));
    let inv_st = c_all.mul(inv);
    let inv_c_all = inv.mul(st);
    // 1/cᵢ
    let inv_c = [
        c[1].mul(c[2]).mul(inv_c_all),
        c[0].mul(c[2]).mul(inv_c_all),
        c[0].mul(c[1]).mul(inv_c_all),
    ];
    let (mut y_big, mut y_small) = ([zero; 3], [zero; 3]);
    for i in 0..3 {
        // u/(4 − u) and −u/(4 − 3u), through 1/cᵢ
        let ug = u[i].mul(g[i]).mul(inv_c[i]);
        y_big[i] = ug.mul(b[i]);
        y_small[i] = zero.sub(ug.mul(a[i]));
    }
    let a_big01 = series(W::<V>::from_wide(
        y_big[0].mul(y_big[0]),
        y_big[1].mul(y_big[1]),
    ))
    .widen();
    let a_mixed = series(W::<V>::from_wide(
        y_big[2].mul(y_big[2]),
        y_small[0].mul(y_small[0]),
    ))
    .widen();
    let a_small12 = series(W::<V>::from_wide(
        y_small[1].mul(y_small[1]),
        y_small[2].mul(y_small[2]),
    ))
    .widen();
    let a_big = [a_big01.0, a_big01.1, a_mixed.0];
    let a_small = [a_mixed.1, a_small12.0, a_small12.1];
    let far = V::splat(FAR);
    let near = [
        abs(y_small[0]).le(far),
        abs(y_small[1]).le(far),
        abs(y_small[2]).le(far),
    ];
    // the ratios and their logarithms only where some row needs one
    let mut logs = [zero; 3];
    if !V::all(V::and(V::and(near[0], near[1]), near[2])) {
        let mut ratio = [zero; 3];
        for i in 0..3 {
            // 2S/(S + B) = 2(S'/B')/(2 − u), 1/(2 − u) = (4 − u)(4 − 3u)/cᵢ
            let share = small[i].mul(others[i]).mul(inv_big);
            ratio[i] = share.add(share).mul(a[i].mul(b[i]).mul(inv_c[i]));
        }
        let lowest = W::<V>::splat(f32::MIN_POSITIVE);
        let l01 = ln_fast(lowest.max_ignoring_nan(W::<V>::from_wide(ratio[0], ratio[1])));
        let l2 = ln_fast(lowest.max_ignoring_nan(W::<V>::from_wide(ratio[2], ratio[2])));
        let (l01, l2) = (l01.widen(), l2.widen());
        logs = [l01.0, l01.1, l2.0];
    }
    let half = V::splat(0.5);
    let mut sum = zero;
    for i in 0..3 {
        let h = abs(n[i]).mul(half);
        let big_term = by_series(h, y_big[i], a_big[i]);
        let small_term = V::select(
            near[i],
            by_series(zero.sub(h), y_small[i], a_small[i]),
            small[i].mul_add(logs[i], h),
        );
        sum = sum.add(big_term.add(small_term));
    }
    sum.mul(half.mul(inv_st))
}

/// JS(P, Q) of sixteen three-element rows p = (p₀, p₁, p₂), q = (q₀, q₁, q₂) (module docs),
/// as two halves of eight rows, and the rows it holds (the regular ones).
#[inline(always)]
fn lanes<V: F8>(p: [V::F32s; 3], q: [V::F32s; 3]) -> ([V; 2], [V::Mask; 2]) {
    type W<V> = <V as F8>::F32s;
    let regular = W::<V>::and(regular_f32_row(p), regular_f32_row(q));
    let regular = W::<V>::widen_mask(regular);
    let (p0, p1, p2) = (p[0].widen(), p[1].widen(), p[2].widen());
    let (q0, q1, q2) = (q[0].widen(), q[1].widen(), q[2].widen());
    let halves = [
        ([p0.0, p1.0, p2.0], [q0.0, q1.0, q2.0]),
        ([p0.1, p1.1, p2.1], [q0.1, q1.1, q2.1]),
    ];
    let mut values = [V::splat(0.0); 2];
    for (h, &(p, q)) in halves.iter().enumerate() {
        values[h] = eight_rows::<V>(p, q);
    }
    (values, [regular.0, regular.1])
}

/// The JS form of three-element float32 rows as a [`FastGroupForm`] (the engine's tile,
/// [`super::f32_tiles::group`], and float32 tiles, [`super::f32_tiles::adjacent`]); the
/// rows it leaves take [`js::group_of`].
pub struct JsTriples;

impl FastGroupForm for JsTriples {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        assert!(p.len() == 3 && q.len() == 3, "rows of three");
        let pv = [p[0].lanes::<V>(), p[1].lanes::<V>(), p[2].lanes::<V>()];
        let qv = [q[0].lanes::<V>(), q[1].lanes::<V>(), q[2].lanes::<V>()];
        let (values, held) = lanes::<V>(pv, qv);
        for h in 0..2 {
            store_half(values[h], h, out);
            mark_irregular::<V>(held[h], h, fast);
        }
        lowest_f32_rows(pv, qv)
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        js::group_of::<f32, f32>(p, q, true, out, regular);
    }
}

#[cfg(test)]
mod tests {
    use super::super::adversarial::{
        check_alone_and_copies, check_triple_contract, check_triple_measure_layouts,
        check_triple_tiles_match_group, divergence_triple_rows, f32_rows_through_group,
        regular_f32_triple, TripleRow as Row,
    };
    use super::*;

    /// Whether the lane form holds the row: both distributions regular.
    fn held(p: [f32; 3], q: [f32; 3]) -> bool {
        regular_f32_triple(p) && regular_f32_triple(q)
    }

    /// The form in scalar f64 (the scalar reference of [`lanes`]), for rows it holds: the
    /// series summed to 60 terms, libm's logarithm of the ratio rounded to f32 (clamped at
    /// f32::MIN_POSITIVE, as the lanes take it) — so the lanes differ from it only by their
    /// f32 polynomial and logarithm (and the order of their f64 roundings).
    fn reference(p: [f32; 3], q: [f32; 3]) -> f64 {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1] + p[2], q[0] + q[1] + q[2]);
        let det = |i: usize, j: usize| p[i].mul_add(q[j], -(p[j] * q[i]));
        let (d01, d02, d12) = (det(0, 1), det(0, 2), det(1, 2));
        let n = [d01 + d02, d12 - d01, -(d02 + d12)];
        let f = |y: f64| {
            let z = y * y;
            let a: f64 = (0..60).map(|j| z.powi(j + 1) / f64::from(2 * j + 3)).sum();
            y + (1.0 + y) * a
        };
        let mut sum = 0.0;
        for i in 0..3 {
            let (x, w) = (p[i] * t, q[i] * s);
            let (small, big) = (x.min(w), x.max(w));
            if big == 0.0 {
                continue;
            }
            let h = n[i].abs() / 2.0;
            let u = n[i].abs() / big;
            let (y_big, y_small) = (u / (4.0 - u), -u / (4.0 - 3.0 * u));
            sum += h * f(y_big);
            sum += if y_small.abs() <= FAR {
                -h * f(y_small)
            } else {
                let ratio = ((2.0 * small / (small + big)) as f32).max(f32::MIN_POSITIVE);
                small * f64::from(ratio).ln() + h
            };
        }
        sum / (2.0 * s * t)
    }

    /// Whether some element's smaller side is below a fifth of its larger (the logarithm).
    fn takes_the_log(p: [f32; 3], q: [f32; 3]) -> bool {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1] + p[2], q[0] + q[1] + q[2]);
        (0..3).any(|i| {
            let (x, w) = (p[i] * t, q[i] * s);
            x.max(w) > 5.0 * x.min(w)
        })
    }

    /// The group form on the engine's tile, sixteen rows at a time.
    fn through_group(rows: &[Row], same: bool) -> Vec<(f64, bool)> {
        f32_rows_through_group::<JsTriples, 3>(rows, same, 3)
    }

    /// [`divergence_triple_rows`] through the group form: held rows within 5e-7 of the
    /// exact row form and closer to the scalar reference, the others the exact group
    /// form's bits ([`check_triple_contract`]).
    #[test]
    fn rows_are_within_the_f32_contract_of_the_exact_row_form() {
        let rows = divergence_triple_rows();
        let got = through_group(&rows, false);
        // against the reference: the f32 logarithm's ≤ ~1e-7 of |ln r| (|ln r| ≥ ln 3)
        // magnified ≤ 1.2 by its term's own cancellation, the polynomial's few f32
        // roundings weighing ≤ 0.23 of its term
        let (held_rows, logs, worst_exact, worst_reference) = check_triple_contract(
            &rows,
            &got,
            held,
            takes_the_log,
            reference,
            1.5e-7,
            |p, q| js::row(p, q, true).0,
            |p, q, out, regular| {
                js::group_of::<f32, f32>(p, q, true, out, regular);
            },
        );
        println!(
            "{} rows, {held_rows} held ({logs} by a logarithm), {} left; worst \
             {worst_exact:e} of the exact row form, {worst_reference:e} of the reference",
            rows.len(),
            rows.len() - held_rows
        );
        assert!(held_rows > rows.len() / 2, "{held_rows} of {}", rows.len());
        assert!(
            logs > 1000 && held_rows - logs > 1000,
            "{logs} of {held_rows}"
        );
        // the f32 parts ran, with an error of the f32 class
        assert!(worst_exact > 1e-9 && worst_exact <= 5e-7, "{worst_exact:e}");
    }

    /// Disjoint supports give ln 2; proportional rows (zeros in both at one element
    /// among them) exactly 0, at any scale (x·3, x·5 exact).
    #[test]
    fn disjoint_rows_give_ln_2_and_proportional_rows_0() {
        let rows: Vec<Row> = [2f32.powi(-100), 2f32.powi(-20), 1.0, 7.0, 2f32.powi(100)]
            .iter()
            .flat_map(|&x| {
                [
                    ([x, 0.0, 0.0], [0.0, 2.0 * x, 0.0]),
                    ([x, 0.0, 0.0], [0.0, x, 3.0 * x]),
                    ([0.0, x, 0.0], [0.25, 0.0, 0.5]),
                    ([x, 3.0 * x, 5.0 * x], [0.5, 1.5, 2.5]),
                    ([0.0, x, 3.0 * x], [0.0, 0.25, 0.75]),
                    ([x, 0.0, x], [x, 0.0, x]),
                ]
            })
            .collect();
        let got = through_group(&rows, false);
        for (k, (value, regular)) in got.into_iter().enumerate() {
            assert!(regular, "{:?}", rows[k]);
            if k % 6 < 3 {
                let err = (value - std::f64::consts::LN_2).abs();
                assert!(err <= 2e-7, "{:?}: {value}", rows[k]);
            } else {
                assert_eq!(value.to_bits(), 0f64.to_bits(), "{:?}", rows[k]);
            }
        }
    }

    /// A row never depends on its neighbours; JS(p, p) of the same tile equals that of a copy.
    #[test]
    fn rows_alone_and_copies_take_their_group_bits() {
        check_alone_and_copies(&divergence_triple_rows(), through_group);
    }

    /// `f32_tiles::adjacent` (float32 tiles, rows back to back and the (3, N) layout)
    /// against the group form on the engine's tile, every tail
    /// ([`check_triple_tiles_match_group`]).
    #[test]
    fn rows_through_float32_tiles_equal_the_group_form() {
        check_triple_tiles_match_group::<JsTriples>(&divergence_triple_rows(), through_group);
    }

    /// The JS kernel's group form takes this form for normalised float32 rows of three,
    /// and the JS measure gives a row its group value in every layout: the (N, 3) array,
    /// its (3, N) transpose read along axis 0, and ragged rows
    /// ([`check_triple_measure_layouts`]); the distance is the square root of those bits.
    #[test]
    fn js_takes_the_form_for_rows_of_three() {
        use crate::measures::js::{distance, js_distance, js_divergence, js_divergence_ragged};
        use crate::measures::Options;
        use crate::parallel::rows::Offsets;
        use ndarray::Array2;
        let opts = Options::default();
        let rows = divergence_triple_rows();
        check_triple_measure_layouts::<JsTriples>(
            &rows,
            through_group,
            |pt, qt, out, regular| {
                js::group::<f32, f32>(pt, qt, true, out, regular);
            },
            |p, q| js_divergence(p, q, &opts).unwrap(),
            |p, q, offsets| js_divergence_ragged(p, q, Offsets::I64(offsets), &opts).unwrap(),
            |p, q| js::row(p, q, true).0,
        );
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| r.0.iter().chain(&r.1).all(|&v| v >= 0.0 || v.is_nan()))
            .collect();
        let n = rows.len();
        let array = |side: usize| {
            let x: Vec<f32> = rows
                .iter()
                .flat_map(|r| if side == 0 { r.0 } else { r.1 })
                .collect();
            Array2::from_shape_vec((n, 3), x).unwrap()
        };
        let (pa, qa) = (array(0), array(1));
        let (pv, qv) = (pa.view().into_dyn(), qa.view().into_dyn());
        let divergence = js_divergence(pv.view(), qv.view(), &opts).unwrap();
        let dist = js_distance(pv, qv, &opts).unwrap();
        let mut held_rows = 0;
        for r in 0..n {
            let (want, got) = (distance(divergence[[r]]), dist[[r]]);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{:?}: {got} vs {want}",
                rows[r]
            );
            held_rows += usize::from(held(rows[r].0, rows[r].1));
        }
        assert!(held_rows > n / 2);
    }
}
