//! Three-element rows of float32 data — a three-class model's (N, 3) outputs — in f32
//! arithmetic, sixteen rows per vector: the normalised cross-entropy and entropy (q = p).
//!
//! The closed form extends [`super::pairs_f32`]'s: with q's row oriented so that its first
//! element c is the largest (d, e the others, and p's row (a, b₁, b₂) alongside),
//! s₁ = d/c, s₂ = e/c ∈ [0, 1], S = s₁ + s₂ and wᵢ = bᵢ/(a + b₁ + b₂):
//! ln(1/Q_c) = log1p(S) and ln(1/Qᵢ) = log1p(S) + ln(1/sᵢ), so
//! H(P, Q) = log1p(S) + w₁·ln(1/s₁) + w₂·ln(1/s₂),
//! three non-negative terms, scale-free, no cancellation. Every operation runs in f32
//! (DESIGN §2b: float32 input may take f32 logarithms and needs results within 1e-6 of
//! the exact value): the shares, S, the weights and the products are single f32
//! operations (≤ 2^−24 each); u = 1 + S is logged by [`ln_fast`] (≤ 7.9e-8 relative) and
//! its rounding corrected, log1p(S) = ln u + (S − (u − 1))/u, where S − (u − 1) is that
//! rounding exactly (Fast2Sum for S ≤ 1; for S ∈ (1, 2] both are in [1, 2], Sterbenz);
//! ln(1/sᵢ) by [`ln_fast`] of the rounded share, whose rounding moves it by ≤ 2^−24
//! absolute — small against its term where sᵢ is small, and against log1p(S) ≥ ln(1 + sᵢ)
//! where it is not. Each term is within ~3e-7 relative of its exact value, and so is
//! their sum; the tests check ≤ 5e-7 against the exact f64 row form on adversarial rows.
//! Per sixteen rows: five f32 divisions and three f32 logarithms, where the general group
//! form takes two passes over the tile, a logarithm per element, the log of each total
//! and the dominant element's log1p.
//!
//! It is a [`FastGroupForm`] ([`Triples`]) on either tile: the engine's (widened) tile,
//! and float32 tiles transposed straight from the rows ([`super::f32_tiles::adjacent`]);
//! the rows it leaves take [`super::plogq`]'s general group form. A row is left where
//! either distribution has a NaN, a negative, no positive element or an infinite one
//! (those the general form leaves to the row form too), and where the f32 arithmetic
//! would lose it: a share sᵢ or a weight wᵢ below f32's normal range (ln sᵢ needs sᵢ
//! normal; a subnormal weight has lost relative digits its term may need), or a total
//! a + b₁ + b₂ that overflows f32.

use super::f32_tiles::{FastGroupForm, TileRow};
use super::plogq;
use super::two_pass::{
    lowest_f32_rows, regular_f32_row, store_f32_lanes, zero_or_normal_quotient, Lowest,
};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// p's and q's triples reordered lane by lane so that q's first element is its largest:
/// two compare-and-swaps (element 1 into place 0 where larger, then element 2).
#[inline(always)]
fn oriented<W: F16>([a, b1, b2]: [W; 3], [c, d, e]: [W; 3]) -> ([W; 3], [W; 3]) {
    let swap = c.lt(d);
    let (a, b1) = (W::select(swap, b1, a), W::select(swap, a, b1));
    let (c, d) = (W::select(swap, d, c), W::select(swap, c, d));
    let swap = c.lt(e);
    let (a, b2) = (W::select(swap, b2, a), W::select(swap, a, b2));
    let (c, e) = (W::select(swap, e, c), W::select(swap, c, e));
    ([a, b1, b2], [c, d, e])
}

/// H(P, Q) of sixteen three-element rows in f32 (see the module docs), and the lanes it
/// holds (false: leave the row to the general form). +inf where a mass of P lies on an
/// element where Q is 0.
#[inline(always)]
fn lanes<W: F16>(p: [W; 3], q: [W; 3]) -> (W, W::Mask) {
    let (zero, one) = (W::splat(0.0), W::splat(1.0));
    let ([a, b1, b2], [c, d, e]) = oriented(p, q);
    let (s1, s2) = (d.div(c), e.div(c));
    let s = s1.add(s2);
    let u = one.add(s);
    let log1p_s = ln_fast(u).add(s.sub(u.sub(one)).div(u));
    let total = a.add(b1).add(b2);
    let (w1, w2) = (b1.div(total), b2.div(total));
    // no term where bᵢ = 0 (sᵢ may be 0 there, whose fast log is finite garbage)
    let t1 = W::select(b1.eq(zero), zero, w1.mul(zero.sub(ln_fast(s1))));
    let t2 = W::select(b2.eq(zero), zero, w2.mul(zero.sub(ln_fast(s2))));
    let impossible = W::or(
        W::and(d.eq(zero), zero.lt(b1)),
        W::and(e.eq(zero), zero.lt(b2)),
    );
    let value = W::select(impossible, W::splat(f32::INFINITY), log1p_s.add(t1.add(t2)));
    let f32_holds = W::and(
        W::and(
            W::and(
                zero_or_normal_quotient(d, s1),
                zero_or_normal_quotient(e, s2),
            ),
            W::and(
                zero_or_normal_quotient(b1, w1),
                zero_or_normal_quotient(b2, w2),
            ),
        ),
        total.le(W::splat(f32::MAX)),
    );
    let held = W::and(W::and(regular_f32_row(p), regular_f32_row(q)), f32_holds);
    (value, held)
}

/// The three-element closed form as a float32 group form (see the module docs); the rows
/// it leaves take [`plogq::group_of`].
pub struct Triples;

impl FastGroupForm for Triples {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        assert!(p.len() == 3 && q.len() == 3, "rows of three");
        let pv = [p[0].lanes::<V>(), p[1].lanes::<V>(), p[2].lanes::<V>()];
        let qv = [q[0].lanes::<V>(), q[1].lanes::<V>(), q[2].lanes::<V>()];
        let (value, held) = lanes(pv, qv);
        store_f32_lanes::<V>(value, held, out, fast);
        lowest_f32_rows(pv, qv)
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        plogq::group_of::<f32>(p, q, out, regular);
    }
}

#[cfg(test)]
mod tests {
    use super::super::adversarial::{
        check_alone_and_copies, check_f32_contract, f32_rows_through_group, f32_values, positive,
    };
    use super::*;

    type Row = ([f32; 3], [f32; 3]);

    /// Whether the lane form holds the row, by the module docs' rules in scalar f32.
    fn held(p: [f32; 3], q: [f32; 3]) -> bool {
        let regular = |x: [f32; 3]| {
            x.iter().all(|v| !v.is_nan() && *v >= 0.0)
                && x.iter().cloned().fold(0.0f32, f32::max) > 0.0
                && x.iter().all(|v| v.is_finite())
        };
        if !regular(p) || !regular(q) {
            return false;
        }
        let m = (0..3).fold(0, |m, i| if q[i] > q[m] { i } else { m });
        let total = p[m] + p[(m + 1) % 3] + p[(m + 2) % 3];
        let usable = |x: f32, r: f32| x == 0.0 || r >= f32::MIN_POSITIVE;
        total.is_finite()
            && (0..3)
                .filter(|&i| i != m)
                .all(|i| usable(q[i], q[i] / q[m]) && usable(p[i], p[i] / total))
    }

    /// The closed form in f64 with libm's logarithms (the scalar reference of [`lanes`]),
    /// for rows it holds.
    fn reference(p: [f32; 3], q: [f32; 3]) -> f64 {
        let m = (0..3).fold(0, |m, i| if q[i] > q[m] { i } else { m });
        let others = [(m + 1) % 3, (m + 2) % 3];
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let total = p[0] + p[1] + p[2];
        let s: f64 = others.iter().map(|&i| q[i] / q[m]).sum();
        let mut h = s.ln_1p();
        for i in others {
            if p[i] > 0.0 {
                if q[i] == 0.0 {
                    return f64::INFINITY;
                }
                h += p[i] / total * (q[m] / q[i]).ln();
            }
        }
        h
    }

    /// The group form on the engine's tile, sixteen rows at a time.
    fn through_group(rows: &[Row], same: bool) -> Vec<(f64, bool)> {
        f32_rows_through_group::<Triples, 3>(rows, same, 3)
    }

    /// Every triple of the values against a few others, confident rows (a dominant mass
    /// with shares down past f32's normal range, in every position and at every scale),
    /// ties, zeros under mass, and random rows.
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
                }
            }
        }
        for i in 0..120 {
            let t = 10f64.powf(-(i as f64) * 0.4);
            for scale in [1e-30f64, 1e-3, 1.0, 7.0, 1e30] {
                let (x, y, z) = (
                    scale as f32,
                    (t * scale) as f32,
                    (0.5 * t * t * scale) as f32,
                );
                for r in 0..3 {
                    let mut a = [x, y, z];
                    a.rotate_left(r);
                    let mut b = [y, x, (0.3 * scale) as f32];
                    b.rotate_left(r);
                    rows.push((a, a));
                    rows.push((a, b));
                    rows.push((b, a));
                    // a subnormal-weighted mass against a share at the bottom of the range
                    rows.push(([3.0, 1e-40, 0.0], [3.0, (3.0 * t) as f32 * 1e-30, 1.0]));
                }
            }
        }
        for k in 0..3 {
            let mut tie = [0.25f32, 0.25, 0.5];
            tie.rotate_left(k);
            rows.push((tie, tie));
            rows.push(([1.0, 1.0, 1.0], tie));
            let mut zero = [0.0f32, 0.5, 0.5];
            zero.rotate_left(k);
            rows.push((tie, zero));
            rows.push((zero, tie));
        }
        for seed in 0..200u64 {
            let (p, q) = (positive(3, seed), positive(3, seed + 7));
            let p = [p[0] as f32, p[1] as f32, p[2] as f32];
            let q = [q[0] as f32, q[1] as f32, q[2] as f32];
            rows.push((p, q));
            rows.push((p, p));
        }
        rows
    }

    #[test]
    fn rows_are_within_the_f32_contract_of_the_exact_row_form() {
        let rows = rows();
        let got = through_group(&rows, false);
        let (held_rows, worst) = check_f32_contract(&rows, &got, held, reference);
        // the closed form ran on most rows, with an error of the f32 class
        assert!(held_rows > rows.len() / 3, "{held_rows} of {}", rows.len());
        assert!(worst > 1e-8 && worst <= 5e-7, "{worst:e}");
    }

    /// A row never depends on its neighbours; the entropy is the cross-entropy of a copy.
    #[test]
    fn rows_alone_and_copies_take_their_group_bits() {
        check_alone_and_copies(&rows(), through_group);
    }
}
