//! KL divergence of three-element float32 rows — a three-class model's (N, 3) outputs
//! against a reference — sixteen rows at a time: [`super::kl_pairs_f32`]'s form for rows
//! of three, again without a cancelling difference.
//!
//! **The form.** Per element, with P = p/s, Q = q/t (s = Σp, t = Σq), m = P + Q and
//! y = (P − Q)/m, the KL term is P·ln(P/Q) − P + Q = m·y·F(y) ≥ 0 with
//! F(y) = y + (1 + y)·A(y), A(y) = atanh(y)/y − 1 ([`series`]); over a row the −P + Q
//! parts sum to 0, so D = Σ terms, no cancellation between them. Scaled by s·t, for rows
//! p = (p₀, p₁, p₂), q = (q₀, q₁, q₂), with Dᵢⱼ = pᵢqⱼ − pⱼqᵢ:
//! - nᵢ = pᵢt − qᵢs = (Pᵢ − Qᵢ)·st, taken from the D's: n₀ = D₀₁ + D₀₂,
//!   n₁ = D₁₂ − D₀₁, n₂ = −(D₀₂ + D₁₂);
//! - m'ᵢ = pᵢt + qᵢs = mᵢ·st (no cancelling terms) and yᵢ = nᵢ/m'ᵢ;
//! - a term is nᵢ·F(yᵢ) ([`by_series`]) where |yᵢ| ≤ [`FAR`], else (Pᵢ/Qᵢ outside
//!   [1/3, 3]) (pᵢt)·ln(rᵢ) − nᵢ with rᵢ = (pᵢt)/(qᵢs) = Pᵢ/Qᵢ (the pair form's
//!   P·ln(P/Q) − δ scaled by st);
//! - D = (Σᵢ termᵢ)·(1/(st)).
//!
//! Each Dᵢⱼ is one fused multiply-add of exact products (products of two float32 values
//! have at most 48 bits): one rounding, and exactly 0 where the two elements are
//! proportional, so p against p (or against an exactly rescaled p) gives exactly 0. An nᵢ
//! is never taken as pᵢt − qᵢs from the rounded totals, whose rounding (~2^−53 of pᵢt)
//! would swamp the nᵢ of nearly equal rows; its error is ≤ ε(|Dᵢⱼ| + |Dᵢₖ| + |nᵢ|), and
//! with Dᵢⱼ/st = δᵢQⱼ − δⱼQᵢ (δ = P − Q) and Cauchy–Schwarz ((Σ|δ|)² ≤ 2·Σδ²/m) the
//! errors these make in the terms (≈ δ²/m each) sum to ≤ ~8ε·D.
//!
//! **Where each part runs.** The rationals in f64, where every product of float32 values
//! is exact or rounds once: at most three divisions per eight rows, 1/(st), one reciprocal
//! of m'₀m'₁m'₂ (yᵢ = nᵢ·m'ⱼm'ₖ·inv) and — only for eight rows of which some needs a
//! logarithm — one of q₀q₁q₂s (rᵢ = pᵢt·qⱼqₖ·inv). The transcendental parts in f32 lanes
//! (DESIGN §2b): A(y) by [`series`] (y₀², y₁² of eight rows in one sixteen-lane vector,
//! y₂² in another), and where some row of the eight needs one, the logarithms by
//! [`ln_fast`] of the ratios rounded to f32 ((r₀, r₁) in one vector, r₂ in another), a ratio
//! below f32's normal range taken at f32::MIN_POSITIVE (the term's (pᵢt)·ln rᵢ is then
//! below 2^−119 of its −nᵢ ≈ qᵢs, and so is the clamp's change to it).
//!
//! **Error** (relative, per term; all terms are ≥ 0, so the row's value is as close): as
//! the pair form's — a term by the series within ~6e-8 (A's f32 error ≤ 2.5e-7 weighs at
//! most 0.23 of F), a term by the logarithm within ~3.5e-7 (ln of the ratio rounded to f32
//! within ~2.3·2^−24 of ln(P/Q), |ln(P/Q)| ≥ ln 3, magnified ≤ 2.5 by the term's own
//! cancellation) — under the 1e-6 of DESIGN §2b (the tests check ≤ 5e-7 against the exact
//! row form on adversarial rows). The exact f64 group form ([`kl::group_of`]) of the same
//! rows computes g(f) = (1 + f)·ln(1 + f) − f per element with an f64 logarithm. Measured
//! (a throw-away probe, not project code: `kl_divergence` of (3.3·10^6, 3) float32 rows,
//! one thread, release build, minima of nine calls, exact group form → this form): AVX-512
//! 38 → 28.5 ms for independent uniform random rows (logarithms in every group of eight),
//! 38 → 17.9 ms for nearly equal rows (none); AVX2 54.6 → 30.6 and → 22.2 ms.
//!
//! It is a [`FastGroupForm`] ([`KlTriples`]) on either tile: the engine's (widened) tile
//! and float32 tiles transposed straight from the rows ([`super::f32_tiles::adjacent`]);
//! both run [`lanes`], so a row gets the same bits either way. A row is left to the exact
//! group form where either distribution has a NaN, a negative, no positive element or an
//! infinite one, and where a ratio Pᵢ/Qᵢ with qᵢ > 0 overflows f32 (qᵢ below ~1e-38 of
//! its total under a mass of p). A zero q under mass gives +inf, pᵢ = qᵢ = 0 a term 0,
//! pᵢ = 0 < qᵢ the term Qᵢ (by the logarithm form: 0·ln(MIN_POSITIVE) − nᵢ = qᵢs).

use super::f32_tiles::{FastGroupForm, TileRow};
use super::kl;
use super::kl_pairs_f32::{by_series, series, FAR};
use super::two_pass::{abs, lowest_f32_rows, mark_irregular, regular_f32_row, store_half, Lowest};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// KL(P‖Q) of sixteen three-element rows p = (p₀, p₁, p₂), q = (q₀, q₁, q₂) (module docs),
/// as two halves of eight rows, and the rows it holds (false: leave the row to the exact
/// form).
///
/// Range (float32 values lie in {0} ∪ [1.4e-45, 3.4e38]; s, t ≤ 1.1e39): no product below
/// leaves f64's normal range (≥ 2.2e-308). A positive m'ᵢ is ≥ 2e-90 (pᵢ·t or qᵢ·s, each
/// factor ≥ 1.4e-45) and ≤ 7e77, so m'₀m'₁m'₂ (a zero m' taken as 1) lies in
/// [7e-270, 3.4e233]. A non-zero Dᵢⱼ is ≥ 2^−298 (a difference of multiples of 2^−298,
/// rounded), so a non-zero nᵢ is ≥ 2^−350 (a sum of two of them, whose units are
/// ≥ 2^−350); with |nᵢ| ≲ m'ᵢ, nᵢ·m'ⱼm'ₖ lies in [1.7e-285, 3.4e233]. q₀q₁q₂·s (a zero q
/// taken as 1) and a positive pᵢt·qⱼqₖ lie in [3.8e-180, 4.1e154], s·t in [2e-90, 1.1e78].
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
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let (far, largest) = (V::splat(FAR), V::splat(f64::from(f32::MAX)));
    let mut values = [zero; 2];
    let mut held = [regular.0, regular.1];
    for (h, &(p, q)) in halves.iter().enumerate() {
        let s = p[0].add(p[1]).add(p[2]);
        let t = q[0].add(q[1]).add(q[2]);
        // pᵢqⱼ and pⱼqᵢ are exact in f64: one rounding each
        let d01 = p[0].fused_mul_add(q[1], zero.sub(p[1].mul(q[0])));
        let d02 = p[0].fused_mul_add(q[2], zero.sub(p[2].mul(q[0])));
        let d12 = p[1].fused_mul_add(q[2], zero.sub(p[2].mul(q[1])));
        let n = [d01.add(d02), d12.sub(d01), zero.sub(d02.add(d12))];
        let pt = [p[0].mul(t), p[1].mul(t), p[2].mul(t)];
        // m'ᵢ, with 1 where pᵢ = qᵢ = 0 (nᵢ = 0 there, so yᵢ = 0 and the term is 0)
        let mut m = [one; 3];
        for i in 0..3 {
            let mi = q[i].mul_add(s, pt[i]);
            m[i] = V::select(mi.eq(zero), one, mi);
        }
        let inv_m = one.div(m[0].mul(m[1]).mul(m[2]));
        let y = [
            n[0].mul(m[1].mul(m[2])).mul(inv_m),
            n[1].mul(m[0].mul(m[2])).mul(inv_m),
            n[2].mul(m[0].mul(m[1])).mul(inv_m),
        ];
        let near = [abs(y[0]).le(far), abs(y[1]).le(far), abs(y[2]).le(far)];
        let a01 = series(W::<V>::from_wide(y[0].mul(y[0]), y[1].mul(y[1]))).widen();
        let z2 = y[2].mul(y[2]);
        let a2 = series(W::<V>::from_wide(z2, z2)).widen();
        let a_of_y = [a01.0, a01.1, a2.0];
        // the ratios and their logarithms only where some row needs one
        let mut logs = [zero; 3];
        if !V::all(V::and(V::and(near[0], near[1]), near[2])) {
            // a zero q taken as 1: its ratio is then meaningless, but the term is 0 (p = 0)
            // or the row +inf
            let mut qs = [one; 3];
            for i in 0..3 {
                qs[i] = V::select(q[i].eq(zero), one, q[i]);
            }
            let inv_q = one.div(qs[0].mul(qs[1]).mul(qs[2]).mul(s));
            let ratio = [
                pt[0].mul(qs[1].mul(qs[2])).mul(inv_q),
                pt[1].mul(qs[0].mul(qs[2])).mul(inv_q),
                pt[2].mul(qs[0].mul(qs[1])).mul(inv_q),
            ];
            for i in 0..3 {
                let fits = V::or(q[i].eq(zero), ratio[i].le(largest));
                held[h] = V::and(held[h], fits);
            }
            let lowest = W::<V>::splat(f32::MIN_POSITIVE);
            let l01 = ln_fast(lowest.max_ignoring_nan(W::<V>::from_wide(ratio[0], ratio[1])));
            let l2 = ln_fast(lowest.max_ignoring_nan(W::<V>::from_wide(ratio[2], ratio[2])));
            let (l01, l2) = (l01.widen(), l2.widen());
            logs = [l01.0, l01.1, l2.0];
        }
        let mut sum = zero;
        for i in 0..3 {
            let by_series = by_series(n[i], y[i], a_of_y[i]);
            let by_log = pt[i].mul_add(logs[i], zero.sub(n[i]));
            sum = sum.add(V::select(near[i], by_series, by_log));
        }
        let value = sum.mul(one.div(s.mul(t)));
        let mut mass_on_zero = V::and(q[0].eq(zero), zero.lt(p[0]));
        for i in 1..3 {
            mass_on_zero = V::or(mass_on_zero, V::and(q[i].eq(zero), zero.lt(p[i])));
        }
        values[h] = V::select(mass_on_zero, V::splat(f64::INFINITY), value);
    }
    (values, held)
}

/// The KL form of three-element float32 rows as a [`FastGroupForm`] (the engine's tile,
/// [`super::f32_tiles::group`], and float32 tiles, [`super::f32_tiles::adjacent`]); the
/// rows it leaves take [`kl::group_of`].
pub struct KlTriples;

impl FastGroupForm for KlTriples {
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
        kl::group_of::<f32>(p, q, true, out, regular);
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

    /// Whether the lane form holds the row, by the module docs' rules in scalar f64.
    fn held(p: [f32; 3], q: [f32; 3]) -> bool {
        if !regular_f32_triple(p) || !regular_f32_triple(q) {
            return false;
        }
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1] + p[2], q[0] + q[1] + q[2]);
        (0..3).all(|i| q[i] == 0.0 || p[i] * t / (q[i] * s) <= f64::from(f32::MAX))
    }

    /// The form in scalar f64 (the scalar reference of [`lanes`]), for rows it holds: the
    /// series summed to 60 terms, libm's logarithm of the ratio rounded to f32 (clamped at
    /// f32::MIN_POSITIVE, as the lanes take it) — so the lanes differ from it only by their
    /// f32 polynomial and logarithm.
    fn reference(p: [f32; 3], q: [f32; 3]) -> f64 {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        if (0..3).any(|i| q[i] == 0.0 && p[i] > 0.0) {
            return f64::INFINITY;
        }
        let (s, t) = (p[0] + p[1] + p[2], q[0] + q[1] + q[2]);
        let det = |i: usize, j: usize| p[i].mul_add(q[j], -(p[j] * q[i]));
        let (d01, d02, d12) = (det(0, 1), det(0, 2), det(1, 2));
        let n = [d01 + d02, d12 - d01, -(d02 + d12)];
        let mut sum = 0.0;
        for i in 0..3 {
            let m = p[i] * t + q[i] * s;
            if m == 0.0 {
                continue;
            }
            let y = n[i] / m;
            sum += if y.abs() <= FAR {
                let z = y * y;
                let a: f64 = (0..60).map(|j| z.powi(j + 1) / f64::from(2 * j + 3)).sum();
                n[i] * (y + (1.0 + y) * a)
            } else if p[i] == 0.0 {
                -n[i]
            } else {
                let ratio = ((p[i] * t / (q[i] * s)) as f32).max(f32::MIN_POSITIVE);
                p[i] * t * f64::from(ratio).ln() - n[i]
            };
        }
        sum / (s * t)
    }

    /// Whether some element's |y| exceeds [`FAR`] (the logarithm form).
    fn takes_the_log(p: [f32; 3], q: [f32; 3]) -> bool {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let (s, t) = (p[0] + p[1] + p[2], q[0] + q[1] + q[2]);
        (0..3).any(|i| {
            let m = p[i] * t + q[i] * s;
            m > 0.0 && ((p[i] * t - q[i] * s) / m).abs() > FAR
        })
    }

    /// The group form on the engine's tile, sixteen rows at a time.
    fn through_group(rows: &[Row], same: bool) -> Vec<(f64, bool)> {
        f32_rows_through_group::<KlTriples, 3>(rows, same, 3)
    }

    #[test]
    fn rows_are_within_the_f32_contract_of_the_exact_row_form() {
        let rows = divergence_triple_rows();
        let got = through_group(&rows, false);
        // against the reference: the f32 logarithm's ≤ 7.9e-8 of |ln r| magnified ≤ 2.5 by
        // its term's own cancellation, the polynomial's ≤ 2.5e-7 weighing ≤ 0.23 of its term
        let (held_rows, logs, worst_exact, worst_reference) = check_triple_contract(
            &rows,
            &got,
            held,
            takes_the_log,
            reference,
            2.5e-7,
            |p, q| kl::row(p, q, true).0,
            |p, q, out, regular| {
                kl::group_of::<f32>(p, q, true, out, regular);
            },
        );
        println!(
            "{} rows, {held_rows} held ({logs} by a logarithm); worst {worst_exact:e} of the \
             exact row form, {worst_reference:e} of the reference",
            rows.len()
        );
        assert!(held_rows > rows.len() / 2, "{held_rows} of {}", rows.len());
        assert!(
            logs > 1000 && held_rows - logs > 1000,
            "{logs} of {held_rows}"
        );
        // the f32 parts ran, with an error of the f32 class
        assert!(worst_exact > 1e-9 && worst_exact <= 5e-7, "{worst_exact:e}");
    }

    /// A row never depends on its neighbours; KL(p‖p) of the same tile equals that of a copy.
    #[test]
    fn rows_alone_and_copies_take_their_group_bits() {
        check_alone_and_copies(&divergence_triple_rows(), through_group);
    }

    /// `f32_tiles::adjacent` (float32 tiles, rows back to back and the (3, N) layout)
    /// against the group form on the engine's tile, every tail
    /// ([`check_triple_tiles_match_group`]).
    #[test]
    fn rows_through_float32_tiles_equal_the_group_form() {
        check_triple_tiles_match_group::<KlTriples>(&divergence_triple_rows(), through_group);
    }

    /// The KL kernel's group form takes this form for normalised float32 rows of three,
    /// and the KL measure gives a row its group value in every layout: the (N, 3) array,
    /// its (3, N) transpose read along axis 0, and ragged rows
    /// ([`check_triple_measure_layouts`]).
    #[test]
    fn kl_takes_the_form_for_rows_of_three() {
        use crate::measures::kl::{kl_divergence, kl_divergence_ragged};
        use crate::measures::Options;
        use crate::parallel::rows::Offsets;
        let opts = Options::default();
        check_triple_measure_layouts::<KlTriples>(
            &divergence_triple_rows(),
            through_group,
            |pt, qt, out, regular| {
                kl::group::<f32, f32>(pt, qt, true, out, regular);
            },
            |p, q| kl_divergence(p, q, &opts).unwrap(),
            |p, q, offsets| kl_divergence_ragged(p, q, Offsets::I64(offsets), &opts).unwrap(),
            |p, q| kl::row(p, q, true).0,
        );
    }
}
