//! KL(softmax a ‖ softmax b) of two-class rows of logits (a binary classifier's outputs)
//! in closed form, eight rows per vector.
//!
//! With x = a₁ − a₀, y = b₁ − b₀, P₁ = σ(x), Q₁ = σ(y) and d = x − y:
//!
//! P₁/Q₁ − 1 = P₀·(e^d − 1),   P₀/Q₀ − 1 = P₁·(e^{−d} − 1),
//!
//! so D = Q₁·g(P₀·expm1(d)) + Q₀·g(P₁·expm1(−d)) with g(f) = (1 + f)·ln(1 + f) − f ≥ 0
//! ([`log1p_g16`]; the ratios P/Q passed as their own quotients). Two non-negative terms,
//! each to a few ULP: nearly equal rows (D ≈ P₀P₁·d²/2) keep their relative precision — as
//! the general form's exact second pass gives them — in one read, without the general
//! form's per-row vouching and second pass (random two-class rows mostly needed it: 24–27
//! ns a logit, against 4–6 for entropy from logits; benches/README.md).
//!
//! d is taken from the logits as (a₁ − b₁) − (a₀ − b₀), each difference an exact two-term
//! sum, so it is exact to its own precision however large the logits' common shift; x and
//! y are rounded once (P's relative error ≤ u·|x|, as in the general form's e^{a − max}).
//! float32 data (DESIGN §2b) take g's rest polynomial in f32 (within 2e-7 per term).
//!
//! Lanes with a non-finite logit, or |x| or |y| above [`GAP_LIMIT`] (e^{±d} could
//! overflow), are left to the caller's row form (`regular[j] = false`).

use super::two_pass::{half, mark_irregular, store_half, two_sum_lanes};
use super::GROUP;
use crate::simd::exp::{exp, expm1};
use crate::simd::log1p::log1p_g16;
use crate::simd::vector::F8;

/// Largest |a₁ − a₀| and |b₁ − b₀| of the closed form: |d| ≤ 700 keeps e^{±d} finite.
pub const GAP_LIMIT: f64 = 350.0;

/// (σ(x), σ(−x)) of eight lanes, each to a few ULP (from e^{−|x|}, no cancellation).
#[inline(always)]
fn sigmoid_pair<V: F8>(x: V) -> (V, V) {
    let zero = V::splat(0.0);
    let e = exp(zero.sub(x.bits_and(0x7fff_ffff_ffff_ffff)));
    let big = V::splat(1.0).div(V::splat(1.0).add(e));
    let small = e.mul(big);
    let positive = x.ge(zero);
    (
        V::select(positive, big, small),
        V::select(positive, small, big),
    )
}

/// a − b as an exact two-term sum (hi, lo).
#[inline(always)]
fn exact_difference<V: F8>(a: V, b: V) -> (V, V) {
    two_sum_lanes(a, V::splat(0.0), V::splat(0.0).sub(b))
}

/// The divergences of eight rows (half `h` of the group), and which lanes are in range.
#[inline(always)]
fn kl_half<V: F8, const F32: bool>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    h: usize,
) -> (V, V::Mask) {
    let (a0, a1) = (half::<V>(&a[0], h), half::<V>(&a[1], h));
    let (b0, b1) = (half::<V>(&b[0], h), half::<V>(&b[1], h));
    let (x, y) = (a1.sub(a0), b1.sub(b0));
    let limit = V::splat(GAP_LIMIT);
    // false for NaN and ±inf (an infinite logit makes its gap infinite or NaN)
    let in_range = V::and(
        x.bits_and(0x7fff_ffff_ffff_ffff).le(limit),
        y.bits_and(0x7fff_ffff_ffff_ffff).le(limit),
    );
    let (x, y) = (
        V::select(in_range, x, V::splat(0.0)),
        V::select(in_range, y, V::splat(0.0)),
    );
    let (s1, e1) = exact_difference(a1, b1);
    let (s0, e0) = exact_difference(a0, b0);
    let d = s1.sub(s0).add(e1.sub(e0));
    let d = V::select(in_range, d, V::splat(0.0));
    let (p1, p0) = sigmoid_pair(x);
    let (q1, q0) = sigmoid_pair(y);
    let f1 = p0.mul(expm1(d));
    let f0 = p1.mul(expm1(V::splat(0.0).sub(d)));
    let (r1, r0) = (p1.div(q1), p0.div(q0));
    let (_, (g1, g0)) = log1p_g16::<V, F32>((f1, f0), (r1, r0));
    (q1.mul(g1).add(q0.mul(g0)), in_range)
}

#[inline(always)]
fn kl_two_body<V: F8>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    f32_data: bool,
    out: &mut [f64],
    regular: &mut [bool],
) {
    let halves = if out.len() <= GROUP / 2 { 1 } else { 2 };
    for h in 0..halves {
        let (value, in_range) = if f32_data {
            kl_half::<V, true>(a, b, h)
        } else {
            kl_half::<V, false>(a, b, h)
        };
        mark_irregular::<V>(in_range, h, regular);
        store_half(value, h, out);
    }
}

crate::simd::multiversion! {
    /// KL (nats) of softmax of up to sixteen two-class rows of logits, transposed
    /// (`a[c][j]`: logit `c` of row `j`; `f32_data`: both sides hold float32 values).
    /// Rows out of range get `regular[j] = false` and a meaningless `out[j]`.
    pub fn kl_two<>(a: &[[f64; GROUP]], b: &[[f64; GROUP]], f32_data: bool, out: &mut [f64], regular: &mut [bool]) -> () = kl_two_body;
}

/// The scalar reference: the same closed form on one row with libm's functions.
pub fn reference(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (x, y) = (a[1] - a[0], b[1] - b[0]);
    let sigmoid = |t: f64| {
        let e = (-t.abs()).exp();
        let big = 1.0 / (1.0 + e);
        if t >= 0.0 {
            (big, e * big)
        } else {
            (e * big, big)
        }
    };
    let (p1, p0) = sigmoid(x);
    let (q1, q0) = sigmoid(y);
    let (s1, e1) = super::two_pass::two_sum(a[1], -b[1]);
    let (s0, e0) = super::two_pass::two_sum(a[0], -b[0]);
    let d = (s1 - s0) + (e1 - e0);
    // g(f) with r = 1 + f given as its own quotient P/Q (1 + f would round away P ≪ Q)
    let g = |f: f64, r: f64| {
        if f.abs() < 0.5 {
            // Σ_{n≥2} (−1)^n fⁿ/(n(n−1)), alternating or positive terms: a few ULP
            let (mut sum, mut pow) = (0.0, f * f);
            for n in 2..100 {
                let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
                sum += sign * pow / (n as f64 * (n - 1) as f64);
                pow *= f;
            }
            sum
        } else {
            r * r.ln() - f
        }
    };
    q1 * g(p0 * d.exp_m1(), p1 / q1) + q0 * g(p1 * (-d).exp_m1(), p0 / q0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, logits, transposed_pairs, xorshift};

    /// Pairs of two-class logit rows: adversarial logits, nearly equal pairs at every
    /// scale of difference, large common shifts, gaps at the edge of the range.
    pub(crate) fn pairs() -> Vec<([f64; 2], [f64; 2])> {
        let mut out = Vec::new();
        let z = logits(400, 3);
        for w in z.chunks(4) {
            out.push(([w[0], w[1]], [w[2], w[3]]));
        }
        let mut next = xorshift(5);
        for i in 0..400 {
            let u = |s: u64| (s >> 11) as f64 / (1u64 << 53) as f64;
            let (x0, x1) = (u(next()) * 20.0 - 10.0, u(next()) * 20.0 - 10.0);
            let eps = 10f64.powf(-((i % 16) as f64)) * (u(next()) - 0.5);
            let shift = [0.0, 100.0, -1e4, 3e6][i % 4];
            out.push(([x0 + shift, x1 + shift], [x0, x1 + eps]));
            out.push(([x0, x1], [x0 + eps, x1 - eps]));
        }
        for gap in [349.0, 350.0, 350.5, 700.0, 1e300] {
            out.push(([0.0, gap], [0.0, 1.0]));
            out.push(([0.0, 1.0], [gap, 0.0]));
        }
        out
    }

    pub(crate) fn through_groups(
        rows: &[([f64; 2], [f64; 2])],
        f32_data: bool,
    ) -> Vec<(f64, bool)> {
        let mut got = Vec::new();
        for chunk in rows.chunks(GROUP) {
            let (at, bt) = transposed_pairs(chunk);
            let (mut out, mut regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
            kl_two(&at, &bt, f32_data, &mut out, &mut regular);
            got.extend(out.into_iter().zip(regular));
        }
        got
    }

    pub(crate) fn in_range(a: [f64; 2], b: [f64; 2]) -> bool {
        let (x, y) = (a[1] - a[0], b[1] - b[0]);
        x.abs() <= GAP_LIMIT && y.abs() <= GAP_LIMIT
    }

    #[test]
    fn matches_the_scalar_reference_and_leaves_the_rest_to_the_row_form() {
        let rows = pairs();
        for (&(a, b), (v, regular)) in rows.iter().zip(through_groups(&rows, false)) {
            assert_eq!(regular, in_range(a, b), "{a:?} {b:?}");
            if regular {
                let want = reference(a, b);
                assert!(v >= 0.0, "{a:?} {b:?}: {v:e}");
                assert!(
                    close(v, want, 1e-14) || (want < 1e-300 && v < 1e-300),
                    "{a:?} {b:?}: {v:e} vs {want:e}"
                );
            }
        }
    }

    #[test]
    fn equal_rows_give_zero_and_a_row_alone_equals_the_row_in_a_full_group() {
        let rows: Vec<_> = pairs()
            .into_iter()
            .filter(|&(a, b)| in_range(a, b))
            .collect();
        let same: Vec<_> = rows.iter().map(|&(a, _)| (a, a)).collect();
        for (v, regular) in through_groups(&same, false) {
            assert!(regular && v == 0.0, "{v:e}");
        }
        let full = through_groups(&rows, false);
        for (row, want) in rows.iter().zip(&full) {
            let alone = through_groups(std::slice::from_ref(row), false);
            assert_eq!(alone[0].0.to_bits(), want.0.to_bits(), "{row:?}");
        }
    }
}
