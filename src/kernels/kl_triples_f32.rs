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
        check_alone_and_copies, f32_rows_through_group, f32_values, positive,
    };
    use super::super::block::Block;
    use super::super::f32_tiles;
    use super::*;

    type Row = ([f32; 3], [f32; 3]);

    /// Whether a three-element float32 distribution is regular for the form: no NaN,
    /// negative or infinite element, a positive element.
    fn regular(x: [f32; 3]) -> bool {
        x.iter().all(|v| !v.is_nan() && *v >= 0.0 && v.is_finite()) && x.iter().any(|&v| v > 0.0)
    }

    /// Whether the lane form holds the row, by the module docs' rules in scalar f64.
    fn held(p: [f32; 3], q: [f32; 3]) -> bool {
        if !regular(p) || !regular(q) {
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

    /// `x` rotated left by `k`.
    fn rotated(mut x: [f32; 3], k: usize) -> [f32; 3] {
        x.rotate_left(k % 3);
        x
    }

    /// Every triple of [`f32_values`] against a few others, against itself and against
    /// itself rescaled (×2 exactly, ×3 rounded); nearly equal rows (one or two elements
    /// moved by 1e-8 .. 1e-2 relative, at scales 1e-30 .. 1e30); ratios P/Q around the
    /// logarithm's thresholds 1/3 and 3 and around 5; shares down past f32's range;
    /// zeros under mass in p and in q; subnormal and huge values; ratios past f32's range;
    /// random rows.
    fn rows() -> Vec<Row> {
        let v = f32_values();
        let n = v.len();
        let mut rows = Vec::new();
        for i in 0..n {
            for j in 0..n {
                for k in 0..3 {
                    let p = [v[i], v[j], v[(i + j + k) % n]];
                    let q = [
                        v[(i + 3 * k) % n],
                        v[(j + 5 * k + 1) % n],
                        v[(i * 7 + k) % n],
                    ];
                    rows.push((p, q));
                    rows.push((p, p));
                    if k == 0 {
                        rows.push((p, p.map(|x| 2.0 * x)));
                        rows.push((p.map(|x| 3.0 * x), p));
                    }
                }
            }
        }
        let bases: [[f32; 3]; 4] = [
            [0.2, 0.3, 0.5],
            [0.98, 0.015, 0.005],
            [1.0, 1e-6, 0.3],
            [0.45, 0.45, 0.1],
        ];
        for scale in [1e-30f32, 1e-3, 1.0, 7.0, 1e30] {
            for (b, base) in bases.iter().enumerate() {
                let base = base.map(|x| x * scale);
                for e in 0..=24 {
                    let eps = 10f64.powf(-8.0 + f64::from(e) * 0.25);
                    for k in 0..3 {
                        let up = |x: f32, f: f64| (f64::from(x) * (1.0 + f)) as f32;
                        let mut one = base;
                        one[k] = up(one[k], eps);
                        let mut two = base;
                        two[k] = up(two[k], eps);
                        two[(k + 1) % 3] = up(two[(k + 1) % 3], -eps * (1.0 + b as f64));
                        rows.extend([(base, one), (one, base), (base, two), (two, base)]);
                    }
                }
            }
        }
        // P₀/Q₀ through 3 and 5 (and 1/3, 1/5 swapped): p = (0.3f, 0.35, 0.35)·r/3 against
        // q = (0.1, 0.45, 0.45) has P₀/Q₀ ≈ r near f = 1
        for scale in [1e-30f64, 1.0, 1e30] {
            for step in 0..=200 {
                let f = 1.0 + 0.02 * (f64::from(step) - 100.0) / 100.0;
                for r in [3.0, 5.0] {
                    let x = 0.1 * r * f;
                    let p = [x, (1.0 - x) / 2.0, (1.0 - x) / 2.0].map(|v| (v * scale) as f32);
                    let q = [0.1, 0.45, 0.45].map(|v| (v * scale) as f32);
                    for k in 0..3 {
                        rows.push((rotated(p, k), rotated(q, k)));
                        rows.push((rotated(q, k), rotated(p, k)));
                    }
                }
            }
        }
        // shares down past f32's normal range, at every scale
        for i in 0..120 {
            let t = 10f64.powf(-f64::from(i) * 0.4);
            for scale in [1e-30f64, 1e-3, 1.0, 7.0, 1e30] {
                let (x, y, z) = (
                    scale as f32,
                    (t * scale) as f32,
                    (0.5 * t * t * scale) as f32,
                );
                let a = [x, y, z];
                let b = [y, x, (0.3 * scale) as f32];
                for r in 0..3 {
                    let (a, b) = (rotated(a, r), rotated(b, r));
                    rows.extend([(a, b), (b, a), (a, rotated(a, 1))]);
                }
            }
        }
        // zeros under mass: in p (a term Q), in q (+inf), in both (a pair divergence)
        let zeros: [Row; 8] = [
            ([0.0, 0.3, 0.7], [0.2, 0.3, 0.5]),
            ([0.0, 0.0, 1.0], [0.2, 0.3, 0.5]),
            ([0.2, 0.3, 0.5], [0.0, 0.3, 0.7]),
            ([0.0, 0.3, 0.7], [0.0, 0.5, 0.5]),
            ([0.0, 0.3, 0.7], [0.0, 0.3, 0.7]),
            ([0.0, 0.3, 0.7], [0.0, 0.6, 1.4]),
            ([0.0, 1e-40, 0.7], [0.0, 0.5, 0.5]),
            ([0.0, 0.3, 0.7], [1e-3, 0.0, 0.999]),
        ];
        for (p, q) in zeros {
            for k in 0..3 {
                rows.push((rotated(p, k), rotated(q, k)));
            }
        }
        // subnormal and huge values, ratios past f32's range either way
        let extremes: [Row; 8] = [
            ([1e-45, 1.0, 1.0], [1.0, 1e-45, 1.0]),
            ([1e-40, 1e-45, 3e-45], [2e-40, 1e-45, 1e-45]),
            ([3e38, 3e38, 3e38], [1e38, 3e38, 1e-45]),
            ([3e38, 1.0, 1e-45], [1e-45, 1.0, 3e38]),
            ([1.0, 1.0, 1.0], [1.0, 1e-39, 1.0]),
            ([1e-40, 1.0, 1.0], [1.0, 1.0, 1.0]),
            ([1.0, 1e-30, 1e-15], [1e-20, 1.0, 1.0]),
            ([f32::MAX, f32::MAX, f32::MAX], [f32::MAX, 1.0, f32::MAX]),
        ];
        for (p, q) in extremes {
            for k in 0..3 {
                rows.push((rotated(p, k), rotated(q, k)));
                rows.push((rotated(q, k), rotated(p, k)));
            }
        }
        for seed in 0..400u64 {
            let to32 = |x: Vec<f64>| [x[0] as f32, x[1] as f32, x[2] as f32];
            let (p, q) = (to32(positive(3, seed)), to32(positive(3, seed + 1000)));
            rows.extend([(p, q), (p, p), (p, q.map(|x| x * 8.0)), (p, rotated(p, 1))]);
        }
        rows
    }

    /// The float32 contract over `rows` with their group-form results `got`: rows the form
    /// holds are regular, non-negative, within 5e-7 of the exact row form (0 and +inf
    /// exactly) and within 2.5e-7 of [`reference`]; the others carry the exact
    /// group form's value and flag. Returns (rows held, rows that took a logarithm, worst
    /// relative error against the exact row form, worst against the reference).
    fn check_contract(rows: &[Row], got: &[(f64, bool)]) -> (usize, usize, f64, f64) {
        let (mut held_rows, mut logs, mut worst_exact, mut worst_reference) = (0, 0, 0.0, 0.0);
        for (&(p, q), &(value, regular)) in rows.iter().zip(got) {
            let (p64, q64) = (p.map(f64::from), q.map(f64::from));
            if !held(p, q) {
                let tile = |x: [f64; 3]| x.map(|v| [v; GROUP]);
                let (mut v, mut r) = ([0.0], [true]);
                kl::group_of::<f32>(&tile(p64), &tile(q64), true, &mut v, &mut r);
                assert_eq!(regular, r[0], "{p:?} {q:?}");
                if r[0] {
                    assert_eq!(value.to_bits(), v[0].to_bits(), "{p:?} {q:?}");
                }
                continue;
            }
            assert!(regular, "{p:?} {q:?}");
            held_rows += 1;
            logs += usize::from(takes_the_log(p, q));
            assert!(value >= 0.0, "{p:?} {q:?}: {value:e}");
            let exact = kl::row(&p64, &q64, true).0;
            if exact == 0.0 || exact.is_infinite() {
                assert_eq!(value, exact, "{p:?} {q:?}");
                continue;
            }
            let err = (value - exact).abs() / exact;
            assert!(err <= 5e-7, "{p:?} {q:?}: {value:e} vs {exact:e} ({err:e})");
            worst_exact = f64::max(worst_exact, err);
            // the f32 logarithm's ≤ 7.9e-8 of |ln r| magnified ≤ 2.5 by its term's own
            // cancellation, the polynomial's ≤ 2.5e-7 weighing ≤ 0.23 of its term
            let want = reference(p, q);
            let err = (value - want).abs() / want;
            assert!(
                err <= 2.5e-7,
                "{p:?} {q:?}: {value:e} vs {want:e} ({err:e})"
            );
            worst_reference = f64::max(worst_reference, err);
        }
        (held_rows, logs, worst_exact, worst_reference)
    }

    #[test]
    fn rows_are_within_the_f32_contract_of_the_exact_row_form() {
        let rows = rows();
        let got = through_group(&rows, false);
        let (held_rows, logs, worst_exact, worst_reference) = check_contract(&rows, &got);
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
        check_alone_and_copies(&rows(), through_group);
    }

    /// [`f32_tiles::adjacent`] (float32 tiles, rows back to back and the (3, N) layout)
    /// against the group form on the engine's tile: for every row count 0..=67 (every
    /// tail) of the rows it keeps regular and for chunks of all rows, with q apart and q = p
    /// (the same memory), the rows done carry the group form's bits, it stops exactly
    /// before the first group holding a row left to the row form, and its smallest inputs
    /// are those of the rows done.
    #[test]
    fn rows_through_float32_tiles_equal_the_group_form() {
        let all = rows();
        let regular: Vec<Row> = all
            .iter()
            .zip(through_group(&all, false))
            .filter(|(_, got)| got.1)
            .map(|(&r, _)| r)
            .collect();
        let mut cases: Vec<Vec<Row>> = (0..=67)
            .map(|n| regular.iter().step_by(7).take(n).copied().collect())
            .collect();
        cases.extend(all.chunks(48).map(|c| c.to_vec()));
        let mut rows_done = 0;
        for case in &cases {
            for same in [false, true] {
                let rows: Vec<Row> = if same {
                    case.iter().map(|&(p, _)| (p, p)).collect()
                } else {
                    case.clone()
                };
                let n = rows.len();
                let want = through_group(&rows, same);
                let p: Vec<f32> = rows.iter().flat_map(|r| r.0).collect();
                let q: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
                // the (3, n) arrays of the same rows, read along axis 0
                let columns = |x: &[f32]| -> Vec<f32> {
                    (0..3 * n).map(|i| x[(i % n) * 3 + i / n]).collect()
                };
                let (pc, qc) = (columns(&p), columns(&q));
                let layouts = [
                    (Block::Rows(&p), Block::Rows(&q)),
                    (
                        Block::Columns {
                            values: &pc,
                            stride: n,
                        },
                        Block::Columns {
                            values: &qc,
                            stride: n,
                        },
                    ),
                ];
                for (pb, qb) in layouts {
                    let mut out = vec![f64::NAN; n];
                    let qb = if same { pb } else { qb };
                    let (done, lo) = f32_tiles::adjacent::<KlTriples>(pb, qb, 3, &mut out);
                    let first_irregular = want.iter().position(|w| !w.1).unwrap_or(n);
                    assert_eq!(done, first_irregular / GROUP * GROUP, "{n} {same}");
                    for r in 0..done {
                        assert_eq!(out[r].to_bits(), want[r].0.to_bits(), "{:?}", rows[r]);
                    }
                    let min = |side: usize| {
                        rows[..done]
                            .iter()
                            .flat_map(|r| if side == 0 { r.0 } else { r.1 })
                            .fold(0.0f64, |m, v| m.min(f64::from(v)))
                    };
                    assert_eq!((lo.p, lo.q), (min(0), min(1)), "{n} {same}");
                    rows_done += done;
                }
            }
        }
        assert!(rows_done > 10_000, "{rows_done}");
    }

    /// The KL kernel's group form takes this form for normalised float32 rows of three,
    /// and the KL measure gives a row its group value in every layout: the (N, 3) array,
    /// its (3, N) transpose read along axis 0, and ragged rows.
    #[test]
    fn kl_takes_the_form_for_rows_of_three() {
        use crate::measures::kl::{kl_divergence, kl_divergence_ragged};
        use crate::measures::Options;
        use crate::parallel::rows::Offsets;
        use ndarray::Array2;
        let rows = rows();
        for chunk in rows.chunks(GROUP) {
            let tile = |side: usize| {
                let mut t = vec![[0.0; GROUP]; 3];
                for (j, r) in chunk.iter().enumerate() {
                    let x = if side == 0 { r.0 } else { r.1 };
                    for c in 0..3 {
                        t[c][j] = f64::from(x[c]);
                    }
                }
                t
            };
            let (pt, qt) = (tile(0), tile(1));
            let k = chunk.len();
            let (mut a, mut ra) = (vec![0.0; k], vec![true; k]);
            let (mut b, mut rb) = (vec![0.0; k], vec![true; k]);
            kl::group::<f32, f32>(&pt, &qt, true, &mut a, &mut ra);
            f32_tiles::group::<KlTriples>(&pt, &qt, &mut b, &mut rb);
            assert_eq!(ra, rb);
            for j in 0..k {
                assert!(!ra[j] || a[j].to_bits() == b[j].to_bits(), "{:?}", chunk[j]);
            }
        }
        // the measures report a negative input as an error
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| r.0.iter().chain(&r.1).all(|&v| v >= 0.0 || v.is_nan()))
            .collect();
        let want = through_group(&rows, false);
        let n = rows.len();
        let p: Vec<f32> = rows.iter().flat_map(|r| r.0).collect();
        let q: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
        let (pa, qa) = (
            Array2::from_shape_vec((n, 3), p.clone()).unwrap(),
            Array2::from_shape_vec((n, 3), q.clone()).unwrap(),
        );
        let (pt, qt) = (
            pa.t().as_standard_layout().into_owned(),
            qa.t().as_standard_layout().into_owned(),
        );
        assert!(pt.is_standard_layout() && qt.is_standard_layout());
        let opts = Options::default();
        let dense = kl_divergence(pa.view().into_dyn(), qa.view().into_dyn(), &opts).unwrap();
        let transposed = kl_divergence(pt.t().into_dyn(), qt.t().into_dyn(), &opts).unwrap();
        let offsets: Vec<i64> = (0..=n as i64).map(|r| 3 * r).collect();
        let ragged = kl_divergence_ragged(&p, &q, Offsets::I64(&offsets), &opts).unwrap();
        let mut regular_rows = 0;
        for (r, &(value, regular)) in want.iter().enumerate() {
            for got in [dense[[r]], transposed[[r]], ragged[r]] {
                if regular {
                    assert_eq!(got.to_bits(), value.to_bits(), "{:?}", rows[r]);
                } else {
                    let row = kl::row(&rows[r].0, &rows[r].1, true).0;
                    assert!(
                        got.to_bits() == row.to_bits() || (got.is_nan() && row.is_nan()),
                        "{:?}: {got} vs {row}",
                        rows[r]
                    );
                }
            }
            regular_rows += usize::from(regular);
        }
        assert!(regular_rows > n / 2);
    }
}
