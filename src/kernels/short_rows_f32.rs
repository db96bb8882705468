//! Short rows of float32 data — a ten-class model's (N, 10) outputs — in f32 lanes,
//! sixteen rows per vector: the normalised cross-entropy and entropy (q = p) of rows of
//! [`SHORTEST`] to [`LONGEST`] elements.
//!
//! [`super::triples_f32`]'s closed form for any length: with m the largest element of q's
//! row, its shares sᵢ = qᵢ/m ∈ [0, 1] (exactly 1 at m), S = Σ sᵢ over the elements below
//! m plus one for each further copy of m, and weights wᵢ = pᵢ/Σp,
//! ln(1/Qᵢ) = log1p(S) + ln(1/sᵢ), so
//! H(P, Q) = log1p(S) + Σ wᵢ·ln(1/sᵢ),
//! non-negative terms, scale-free, no cancellation (the elements at m add exactly 0:
//! their share is 1 by a select, not by a rounded product). The shares and their
//! logarithms run in f32 (DESIGN §2b), everything else in f64: sᵢ = qᵢ·(1/m) rounds twice
//! (≤ 2^−23 relative), so ln sᵢ moves by ≤ 2^−23 absolute, and [`ln_fast`] adds ≤ 7.9e-8
//! relative. Where sᵢ ≤ ½ the term's ln(1/sᵢ) ≥ ln 2 and that is ≤ 2.5e-7 of it; where
//! sᵢ > ½ (an element other than m's) S > ½ and H ≥ log1p(½): the absolute error w·1.8e-7
//! is ≤ 4.4e-7·wᵢ of H, and the wᵢ sum to 1. S and Σ pᵢ·ln sᵢ are summed in f64 (the
//! shares widened exactly, p widened exactly: no f32 product underflows), log1p(S) in f64
//! once per row; the tests check ≤ 5e-7 against the exact f64 row form on adversarial
//! rows (the worst seen: 6.7e-8). Per element and sixteen rows: a product, an f32
//! logarithm, two widened multiply-adds — where the general group form ([`super::plogq`])
//! takes two passes over widened values with the dominant element's bookkeeping.
//!
//! It is a [`FastGroupForm`] ([`ShortRows`]) on either tile (the engine's widened tile,
//! or float32 tiles transposed straight from the rows), so a row gets the same bits from
//! both, and zero padding adds nothing (a zero's share is 0, its term 0·(a finite
//! logarithm) = −0): a row's value does not depend on the tile's length either. The rows
//! it leaves take the general group form: a NaN, a negative, no positive element or an
//! infinite one in either distribution, a largest element m of q below f32's normal range
//! (1/m would overflow), or a share sᵢ of a positive qᵢ below it (ln sᵢ needs sᵢ normal).

use super::f32_tiles::{FastGroupForm, TileRow};
use super::plogq;
use super::two_pass::{
    log1p, lowest_f32, mark_irregular, regular_f32_spread, store_half, zero_or_normal_quotient,
    Lowest,
};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// The shortest rows [`ShortRows`] takes: below ten elements the general form was
/// faster. Measured (float32 (N, C) rows / (C, N) columns, N·C = 10^7, one thread, ms a
/// call, minima of three alternated rounds, the general form → this one on float32
/// tiles, AVX-512 Zen 4): entropy C = 10 14.3 / 11.4 → 13.2 / 10.0, cross-entropy C = 10
/// 20.8 / 15.0 → 16.9 / 12.1, C = 16 15.7 / 15.4 → 13.7 / 14.1; but C = 5 entropy 14.0 /
/// 13.7 → 16.3 / 15.6 and C = 8 rows 12.8 → 14.2 (columns 12.2 → 11.3).
pub const SHORTEST: usize = 10;

/// The longest rows [`ShortRows`] takes (and `plogq::closed_forms_up_to` reports, so
/// ragged rows up to it group by length). From 16 to 32: cross-entropy C = 20 / 24 / 32
/// rows 15.9 → 13.5, 20.2 → 13.5, 16.3 → 14.1 ms, entropy within noise, at a cost for
/// ragged rows of 10–40 float32 values, which then group by length (entropy 0.89–0.93 →
/// 0.97–0.98 ns a value, 2 threads; cross-entropy unchanged). `benches/README.md`.
pub const LONGEST: usize = 32;

/// The running state of a tile's pass 2, sixteen lanes (f64 sums in two halves).
struct Pass2<V: F8> {
    /// Σ over the elements below m of the shares sᵢ (f64 halves).
    shares: [V; 2],
    /// Σ pᵢ·ln sᵢ (≤ 0; f64 halves).
    p_ln_s: [V; 2],
    /// Σ pᵢ (f64 halves).
    total_p: [V; 2],
}

/// H(P, Q) of sixteen rows (one per lane; `SAME`: q is p) into `out`, `fast[j] = false` for
/// the rows the form leaves (module docs); the smallest inputs.
#[inline(always)]
fn rows_body<V: F8, R: TileRow, const SAME: bool>(
    p: &[R],
    q: &[R],
    out: &mut [f64],
    fast: &mut [bool],
) -> Lowest {
    type W<V> = <V as F8>::F32s;
    assert!(p.len() == q.len() && !p.is_empty(), "rows of one length");
    let (zero, one) = (W::<V>::splat(0.0), W::<V>::splat(1.0));
    let inf = W::<V>::splat(f32::INFINITY);
    // pass 1: q's largest element m
    let mut m = zero;
    for row in q {
        m = m.max_ignoring_nan(row.lanes::<V>());
    }
    let inv_m = one.div(m);
    let zero64 = V::splat(0.0);
    let mut acc = Pass2 {
        shares: [zero64; 2],
        p_ln_s: [zero64; 2],
        total_p: [zero64; 2],
    };
    let (mut copies_of_m, mut max_p) = (zero, zero);
    let (mut min_p, mut min_q) = (inf, inf);
    let (mut no_nan, mut usable) = (zero.eq(zero), zero.eq(zero));
    let mut impossible = zero.lt(zero);
    for (pc, qc) in p.iter().zip(q) {
        let y = qc.lanes::<V>();
        let at_m = y.eq(m);
        let s = W::<V>::select(at_m, one, y.mul(inv_m));
        copies_of_m = copies_of_m.add(W::<V>::select(at_m, one, zero));
        let (s_lo, s_hi) = W::<V>::select(at_m, zero, s).widen();
        acc.shares = [acc.shares[0].add(s_lo), acc.shares[1].add(s_hi)];
        usable = W::<V>::and(usable, zero_or_normal_quotient(y, s));
        // a zero's share is 0, whose fast logarithm is finite: 0·ln 0 adds −0
        let (l_lo, l_hi) = ln_fast(s).widen();
        let x = if SAME { y } else { pc.lanes::<V>() };
        let (x_lo, x_hi) = (pc.half::<V>(0), pc.half::<V>(1));
        acc.p_ln_s = [
            x_lo.mul_add(l_lo, acc.p_ln_s[0]),
            x_hi.mul_add(l_hi, acc.p_ln_s[1]),
        ];
        acc.total_p = [acc.total_p[0].add(x_lo), acc.total_p[1].add(x_hi)];
        // min_ignoring_nan ignores a NaN only in its argument: running minima stay clean
        min_p = min_p.min_ignoring_nan(x);
        max_p = max_p.max_ignoring_nan(x);
        no_nan = W::<V>::and(no_nan, x.eq(x));
        if !SAME {
            min_q = min_q.min_ignoring_nan(y);
            no_nan = W::<V>::and(no_nan, y.eq(y));
            impossible = W::<V>::or(impossible, W::<V>::and(y.eq(zero), zero.lt(x)));
        }
    }
    if SAME {
        min_q = min_p;
    }
    // (1/m is finite and each share within 2^−23 of its quotient where m is normal)
    let m_normal = W::<V>::splat(f32::MIN_POSITIVE).le(m);
    let held = W::<V>::and(
        W::<V>::and(W::<V>::and(no_nan, usable), m_normal),
        W::<V>::and(
            regular_f32_spread(min_p, max_p),
            regular_f32_spread(min_q, m),
        ),
    );
    let (held_lo, held_hi) = W::<V>::widen_mask(held);
    mark_irregular::<V>(held_lo, 0, fast);
    mark_irregular::<V>(held_hi, 1, fast);
    // S: the shares below m, and 1 for each copy of m past the first (exact integers)
    let (more_lo, more_hi) = copies_of_m.sub(one).widen();
    let (impossible_lo, impossible_hi) = W::<V>::widen_mask(impossible);
    let halves = [(more_lo, impossible_lo), (more_hi, impossible_hi)];
    for (h, (more, impossible)) in halves.into_iter().enumerate() {
        let s = acc.shares[h].add(more);
        let value = log1p(s).sub(acc.p_ln_s[h].div(acc.total_p[h]));
        let value = V::select(impossible, V::splat(f64::INFINITY), value);
        store_half(value, h, out);
    }
    lowest_f32(min_p, min_q)
}

/// The short-row form as a float32 group form (see the module docs); the rows it leaves
/// take [`plogq::group_of`].
pub struct ShortRows;

impl FastGroupForm for ShortRows {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        if std::ptr::eq(p.as_ptr(), q.as_ptr()) && p.len() == q.len() {
            rows_body::<V, R, true>(p, q, out, fast)
        } else {
            rows_body::<V, R, false>(p, q, out, fast)
        }
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

    /// Whether the form holds the row, by the module docs' rules in scalar f32 (the same
    /// share y·(1/m) as the lanes).
    fn held<const N: usize>(p: [f32; N], q: [f32; N]) -> bool {
        let regular = |x: [f32; N]| {
            x.iter().all(|v| v.is_finite() && *v >= 0.0) && x.iter().any(|&v| v > 0.0)
        };
        let m = q.iter().fold(0f32, |a, &b| a.max(b));
        let share = |y: f32| if y == m { 1.0 } else { y * (1.0 / m) };
        regular(p)
            && regular(q)
            && m >= f32::MIN_POSITIVE
            && q.iter().all(|&y| y == 0.0 || share(y) >= f32::MIN_POSITIVE)
    }

    /// The closed form in f64 with libm's logarithms (the scalar reference of
    /// [`rows_body`]), for rows it holds.
    fn reference<const N: usize>(p: [f32; N], q: [f32; N]) -> f64 {
        let (p, q) = (p.map(f64::from), q.map(f64::from));
        let m = q.iter().fold(0f64, |a, &b| a.max(b));
        let total: f64 = p.iter().sum();
        let below: f64 = q.iter().filter(|&&y| y < m).map(|&y| y / m).sum();
        let copies = q.iter().filter(|&&y| y == m).count();
        let mut h = (below + (copies - 1) as f64).ln_1p();
        for (&x, &y) in p.iter().zip(&q) {
            if x > 0.0 {
                if y == 0.0 {
                    return f64::INFINITY;
                }
                h += x / total * (m / y).ln();
            }
        }
        h
    }

    /// The group form on the engine's tile (of `width` ≥ N elements: zero padded),
    /// sixteen rows at a time.
    fn through_group<const N: usize>(
        rows: &[([f32; N], [f32; N])],
        same: bool,
        width: usize,
    ) -> Vec<(f64, bool)> {
        f32_rows_through_group::<ShortRows, N>(rows, same, width)
    }

    /// Rows of N: the adversarial values in every position against a few others;
    /// confident rows (a dominant mass with shares down past f32's normal range, in every
    /// position and at every scale); ties of the largest element; zeros under mass;
    /// random rows.
    fn rows<const N: usize>() -> Vec<([f32; N], [f32; N])> {
        let v = f32_values();
        let n = v.len();
        let mut rows = Vec::new();
        let fill = |seed: u64| -> [f32; N] {
            let x = positive(N, seed);
            std::array::from_fn(|c| (x[c] + 1e-3) as f32)
        };
        for i in 0..n {
            for k in 0..N {
                let (mut p, mut q) = (fill(i as u64), fill(7 + (i * k) as u64));
                p[k] = v[i];
                q[(k + i) % N] = v[(i * 5 + k) % n];
                rows.push((p, q));
                rows.push((p, p));
                let mut q2 = q;
                q2[k] = v[(i + 3) % n];
                rows.push((q2, q));
            }
        }
        for i in 0..120 {
            let t = 10f64.powf(-(i as f64) * 0.4);
            for scale in [1e-30f64, 1e-3, 1.0, 7.0, 1e30] {
                for at in 0..N {
                    let mut a = [0f32; N];
                    for (c, slot) in a.iter_mut().enumerate() {
                        let share = t * (1.0 + c as f64) / N as f64;
                        *slot = (share * scale) as f32;
                    }
                    a[at] = scale as f32;
                    let mut b = a;
                    b.rotate_left(1);
                    rows.push((a, a));
                    rows.push((a, b));
                    rows.push((b, a));
                }
            }
        }
        for k in 0..N {
            let mut tie = [0.25f32; N];
            tie[k] = 0.5;
            tie[(k + 1) % N] = 0.5;
            rows.push((tie, tie));
            rows.push(([1.0; N], tie));
            let mut zero = tie;
            zero[k] = 0.0;
            rows.push((tie, zero));
            rows.push((zero, tie));
            let mut sub = tie;
            sub[k] = 1e-40;
            rows.push((sub, tie));
            rows.push((tie, sub));
        }
        for seed in 0..200u64 {
            let (p, q) = (fill(seed), fill(seed + 1000));
            rows.push((p, q));
            rows.push((p, p));
        }
        rows
    }

    fn check_contract<const N: usize>() {
        let rows = rows::<N>();
        let got = through_group(&rows, false, N);
        let (held_rows, worst) = check_f32_contract(&rows, &got, held, reference);
        // the form ran on most rows, with an error of the f32 class
        assert!(held_rows > rows.len() / 3, "{held_rows} of {}", rows.len());
        assert!(worst > 1e-9 && worst <= 5e-7, "{N}: {worst:e}");
        // zero padding adds nothing: the rows in the longest tile keep their bits
        let padded = through_group(&rows, false, LONGEST);
        for ((row, a), b) in rows.iter().zip(&got).zip(&padded) {
            assert_eq!(a.1, b.1, "{row:?}");
            if a.1 {
                assert_eq!(a.0.to_bits(), b.0.to_bits(), "{row:?}");
            }
        }
        check_alone_and_copies(&rows, |rows, same| through_group(rows, same, N));
    }

    #[test]
    fn rows_are_within_the_f32_contract_of_the_exact_row_form() {
        check_contract::<SHORTEST>();
        check_contract::<13>();
        check_contract::<17>();
        check_contract::<LONGEST>();
    }
}
