//! Two-element rows of float32 data — a binary classifier's (N, 2) outputs — in f32
//! arithmetic, sixteen rows per vector: the normalised cross-entropy and entropy (q = p).
//!
//! The closed form is [`super::plogq`]'s (see `cross_entropy_of_two` there): with q's pair
//! oriented so that c ≥ d, s = d/c ∈ [0, 1] and w = b/(a + b),
//! H(P, Q) = log1p(s) + w·ln(1/s),
//! two non-negative terms, scale-free, no cancellation. Here every operation runs in f32
//! (DESIGN §2b: float32 input may take f32 logarithms and needs results within 1e-6 of
//! the exact value): s, w, 1 + s and the correction of its rounding are single f32
//! operations (≤ 2^−24 each), the logarithms [`ln_fast`] (≤ 7.9e-8), so each term is
//! within ~3e-7 relative and so is their sum (both ≥ 0); the tests check ≤ 5e-7 against
//! f64 references on adversarial rows. Per sixteen rows that is three f32 divisions and two
//! f32 logarithms, where the f64 form spends six f64 divisions — and the rows need no
//! widening into a tile first.
//!
//! The in-place reader is shared with the KL and JS pair forms ([`PairForm`]:
//! `kl_pairs_f32`, `js_pairs_f32`). Two entry points run the same lane function, so they
//! give the same bits:
//! - [`group`]: sixteen rows transposed into the engine's tile (any layout);
//! - [`adjacent`]: rows read straight from memory — the C-ordered (N, 2) array, sixteen
//!   rows from two loads split by [`F16::deinterleave`], or the (2, N) array read along
//!   axis 0, one load of each run — whole groups until one holds a row the lane form
//!   leaves alone (the engine then runs that group through [`group`]).
//!
//! A row is left to the exact row form (`regular` false) where either distribution has a
//! NaN, a negative, no positive element or an infinite one (as in the f64 form), and
//! where the f32 arithmetic would lose it: a share s below f32's normal range (ln s
//! needs it normal) or a total a + b that overflows f32.

use super::f32_tiles::TileRow;
use super::two_pass::{
    lowest_f32 as lowest, lowest_f32_rows, mark_irregular, narrow, regular_f32_row,
    store_f32_lanes, store_half, zero_or_normal_quotient, Lowest,
};
use super::GROUP;
use crate::simd::log_f32::ln_fast;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// H(P, Q) of sixteen two-element rows P = (a, b)/(a + b), Q = (c, d)/(c + d) in f32
/// (see the module docs), and the lanes it holds (false: leave the row to the row form).
/// +inf where d = 0 < b after orientation (a mass on an impossible outcome).
#[inline(always)]
fn lanes<W: F16>(a: W, b: W, c: W, d: W) -> (W, W::Mask) {
    let (zero, one) = (W::splat(0.0), W::splat(1.0));
    let swap = c.lt(d);
    let (c1, d1) = (W::select(swap, d, c), W::select(swap, c, d));
    let (a1, b1) = (W::select(swap, b, a), W::select(swap, a, b));
    let s = d1.div(c1);
    let u = one.add(s);
    // 1 ≥ s, so the rounding of 1 + s is exactly s − (u − 1) (Fast2Sum)
    let log1p_s = ln_fast(u).add(s.sub(u.sub(one)).div(u));
    let total = a1.add(b1);
    let w = b1.div(total);
    // no second term where b = 0 (s may be 0 there, whose fast log is finite garbage)
    let second = W::select(b1.eq(zero), zero, w.mul(zero.sub(ln_fast(s))));
    let value = W::select(
        W::and(d1.eq(zero), zero.lt(b1)),
        W::splat(f32::INFINITY),
        log1p_s.add(second),
    );
    // a subnormal weight has lost relative digits its term may need (p = (3, 1e-40)
    // against q = (3, 3.6e-38): 2.7e-6 off)
    let f32_holds = W::and(
        W::and(
            zero_or_normal_quotient(d1, s),
            zero_or_normal_quotient(b1, w),
        ),
        total.le(W::splat(f32::MAX)),
    );
    let held = W::and(
        W::and(regular_f32_row([a, b]), regular_f32_row([c, d])),
        f32_holds,
    );
    (value, held)
}

/// [`group`]'s body.
#[inline(always)]
fn group_body<V: F8>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let (a, b) = (narrow::<V>(&p[0]), narrow::<V>(&p[1]));
    let (c, d) = if std::ptr::eq(p.as_ptr(), q.as_ptr()) {
        (a, b)
    } else {
        (narrow::<V>(&q[0]), narrow::<V>(&q[1]))
    };
    let (value, held) = lanes(a, b, c, d);
    store_f32_lanes::<V>(value, held, out, regular);
    lowest_f32_rows([a, b], [c, d])
}

/// Where a run of two-element float32 rows lies in memory.
#[derive(Clone, Copy, Debug)]
pub enum Pairs<'a> {
    /// Row r at `x[2r..2r + 2]` (a C-ordered (N, 2) array).
    Interleaved(&'a [f32]),
    /// Row r = (`first[r]`, `second[r]`) (the C-ordered (2, N) array read along axis 0).
    Columns(&'a [f32], &'a [f32]),
}

impl Pairs<'_> {
    /// Whether the rows fill `groups` whole groups.
    fn holds(&self, groups: usize) -> bool {
        match self {
            Pairs::Interleaved(x) => x.len() >= 2 * GROUP * groups,
            Pairs::Columns(a, b) => a.len().min(b.len()) >= GROUP * groups,
        }
    }
    /// Whether both are the same rows (the same layout over the same memory).
    fn same_rows(&self, o: &Pairs<'_>) -> bool {
        use std::ptr::eq;
        match (self, o) {
            (Pairs::Interleaved(x), Pairs::Interleaved(y)) => eq(x.as_ptr(), y.as_ptr()),
            (Pairs::Columns(a, b), Pairs::Columns(c, d)) => {
                eq(a.as_ptr(), c.as_ptr()) && eq(b.as_ptr(), d.as_ptr())
            }
            _ => false,
        }
    }
}

/// Group `g` (rows 16g..16g + 16) as the rows' first and second elements: two loads
/// split by [`F16::deinterleave`], or one load of each run. (A function, not a closure:
/// closures in a kernel body may be compiled out of line, without its target features.)
#[inline(always)]
fn load_group<W: F16>(rows: Pairs<'_>, g: usize) -> (W, W) {
    match rows {
        Pairs::Interleaved(x) => {
            let at = 2 * GROUP * g;
            W::deinterleave(load16(x, at), load16(x, at + GROUP))
        }
        Pairs::Columns(a, b) => (load16(a, GROUP * g), load16(b, GROUP * g)),
    }
}

/// `x[at..at + 16]` as a vector.
#[inline(always)]
fn load16<W: F16>(x: &[f32], at: usize) -> W {
    W::load(x[at..at + GROUP].try_into().expect("16"))
}

/// A closed form of sixteen two-element float32 rows p = (a, b), q = (c, d) for
/// [`adjacent`]: the rows' values as two halves of eight f64 lanes, and the rows it holds
/// per half (false: leave the row to the engine's group form).
pub trait PairForm {
    fn lanes<V: F8>(a: V::F32s, b: V::F32s, c: V::F32s, d: V::F32s) -> ([V; 2], [V::Mask; 2]);
}

/// A [`PairForm`] as a fast group form on a group tile (`p[c][j]`: element c of row j;
/// [`super::f32_tiles::FastGroupForm::fast`]): values into `out`, `fast[j] = false` for
/// the rows it does not hold; the smallest inputs.
#[inline(always)]
pub(crate) fn pair_form_on_tile<V: F8, F: PairForm, R: TileRow>(
    p: &[R],
    q: &[R],
    out: &mut [f64],
    fast: &mut [bool],
) -> Lowest {
    assert!(p.len() == 2 && q.len() == 2, "rows of two");
    let (pv, qv) = (
        [p[0].lanes::<V>(), p[1].lanes::<V>()],
        [q[0].lanes::<V>(), q[1].lanes::<V>()],
    );
    let (values, held) = F::lanes::<V>(pv[0], pv[1], qv[0], qv[1]);
    for h in 0..2 {
        store_half(values[h], h, out);
        mark_irregular::<V>(held[h], h, fast);
    }
    lowest_f32_rows(pv, qv)
}

/// The cross-entropy's (entropy's) closed form, this module's [`lanes`].
pub struct CrossEntropyPairs;

impl PairForm for CrossEntropyPairs {
    #[inline(always)]
    fn lanes<V: F8>(a: V::F32s, b: V::F32s, c: V::F32s, d: V::F32s) -> ([V; 2], [V::Mask; 2]) {
        let (value, held) = lanes(a, b, c, d);
        let (lo, hi) = value.widen();
        let (held_lo, held_hi) = V::F32s::widen_mask(held);
        ([lo, hi], [held_lo, held_hi])
    }
}

/// [`adjacent`]'s body: whole groups of sixteen rows, p's (and q's unless it is p)
/// loaded straight from memory.
#[inline(always)]
fn adjacent_body<V: F8, F: PairForm>(
    p: Pairs<'_>,
    q: Pairs<'_>,
    out: &mut [f64],
) -> (usize, Lowest) {
    type W<V> = <V as F8>::F32s;
    let groups = out.len() / GROUP;
    assert!(p.holds(groups) && q.holds(groups));
    let same = p.same_rows(&q);
    let inf = W::<V>::splat(f32::INFINITY);
    let (mut min_p, mut min_q) = (inf, inf);
    for g in 0..groups {
        let (a, b) = load_group::<W<V>>(p, g);
        let (c, d) = if same {
            (a, b)
        } else {
            load_group::<W<V>>(q, g)
        };
        let (values, held) = F::lanes::<V>(a, b, c, d);
        if !(V::all(held[0]) && V::all(held[1])) {
            return (g * GROUP, lowest(min_p, min_q));
        }
        min_p = min_p.min_ignoring_nan(a).min_ignoring_nan(b);
        min_q = min_q.min_ignoring_nan(c).min_ignoring_nan(d);
        let slots = &mut out[g * GROUP..g * GROUP + GROUP];
        store_half(values[0], 0, slots);
        store_half(values[1], 1, slots);
    }
    (groups * GROUP, lowest(min_p, min_q))
}

crate::simd::multiversion! {
    /// The pair form `F` (cross-entropies — entropies where `q` is `p`, the same memory —
    /// by [`CrossEntropyPairs`]; KL and JS by `kl_pairs_f32::KlPairs` and
    /// `js_pairs_f32::JsPairs`) of two-element float32 rows in one of the [`Pairs`]
    /// layouts. Computes whole groups of sixteen rows into `out` (one value per row) until
    /// a group holds a row the form does not, and returns (rows done, a multiple of
    /// sixteen; the smallest inputs of those rows). Those rows equal the form's group
    /// entry point's bit for bit.
    pub fn adjacent<F: PairForm>(p: Pairs<'_>, q: Pairs<'_>, out: &mut [f64]) -> (usize, Lowest) = adjacent_body;
}

crate::simd::multiversion! {
    /// Cross-entropies (entropies where `q` is `p`, the same tile) of up to sixteen
    /// two-element rows of float32 data in the engine's tile (`p[c][j]`: element c of row
    /// j, zero padded): the group form of [`crate::parallel::rows::RowMeasure`]. Rows the
    /// lane form does not hold are marked irregular.
    pub fn group<>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) -> Lowest = group_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{
        check_alone_and_copies, check_pair_adjacent_matches_group, f32_pairs_of_pairs,
        regular_f32_pair, through_groups, two_element_cross_entropy,
    };

    /// The lane form in f64 with libm logarithms (a scalar reference): None where the f32
    /// lane form leaves the row to the row form.
    fn reference(p: [f32; 2], q: [f32; 2]) -> Option<f64> {
        if !regular_f32_pair(p) || !regular_f32_pair(q) {
            return None;
        }
        // the f32 form's own limits: its share s = d/c, weight w = b/(a + b) and total
        // a + b in f32
        let (c, d) = (q[0].max(q[1]), q[0].min(q[1]));
        let b = if q[1] > q[0] { p[0] } else { p[1] };
        let subnormal = |x: f32, ratio: f32| x != 0.0 && ratio < f32::MIN_POSITIVE;
        if subnormal(d, d / c) || subnormal(b, b / (p[0] + p[1])) || !(p[0] + p[1]).is_finite() {
            return None;
        }
        Some(two_element_cross_entropy(
            p.map(f64::from),
            q.map(f64::from),
        ))
    }

    /// Every (p, q) row of the values (pairs of pairs, and each p with itself).
    fn rows() -> Vec<([f32; 2], [f32; 2])> {
        let mut rows = f32_pairs_of_pairs();
        // shares from 1 down to 1e-45 at several scales, both orientations
        for i in 0..120 {
            let t = 10f64.powf(-(i as f64) * 0.4);
            for scale in [1e-30f64, 1e-3, 1.0, 7.0, 1e30] {
                let (x, y) = (scale as f32, (t * scale) as f32);
                rows.push(([x, y], [y, x]));
                rows.push(([y, x], [(0.3 * scale) as f32, x]));
                rows.push(([x, y], [x, y]));
                // a subnormal weight against a share at the bottom of the normal range
                rows.push(([3.0, (t * 1e-38) as f32], [3.0, 3.6e-38]));
            }
        }
        rows
    }

    /// The group form of `rows` (sixteen at a time, `same`: q is p's tile), through
    /// [`through_groups`] (which also checks the smallest inputs reported).
    fn through_group(rows: &[([f32; 2], [f32; 2])], same: bool) -> Vec<(f64, bool)> {
        let rows: Vec<_> = rows
            .iter()
            .map(|(p, q)| (p.map(f64::from), q.map(f64::from)))
            .collect();
        through_groups(&rows, |pt, qt, out, regular| {
            group(pt, if same { pt } else { qt }, out, regular)
        })
    }

    #[test]
    fn group_rows_are_within_the_f32_contract_of_the_reference() {
        let rows = rows();
        let got = through_group(&rows, false);
        let mut worst = 0.0f64;
        for (&(pr, qr), &(value, regular)) in rows.iter().zip(&got) {
            let want = reference(pr, qr);
            assert_eq!(regular, want.is_some(), "{pr:?} {qr:?}");
            let Some(want) = want else { continue };
            assert!(value >= 0.0, "{pr:?} {qr:?}: {value:e}");
            // and the exact row form (f64, rescaled, dominant terms by log1p)
            let (exact, _) = crate::kernels::plogq::row(&pr.map(f64::from), &qr.map(f64::from));
            for want in [want, exact] {
                if want == value {
                    continue;
                }
                let err = (value - want).abs() / want;
                worst = worst.max(err);
                assert!(err <= 5e-7, "{pr:?} {qr:?}: {value:e} vs {want:e}");
            }
        }
        // the f32 arithmetic ran, and its error is of the f32 class
        assert!(worst > 1e-8 && worst <= 5e-7, "{worst:e}");
    }

    /// A row never depends on its neighbours; the entropy is the cross-entropy of a copy.
    #[test]
    fn rows_alone_and_copies_take_their_group_bits() {
        check_alone_and_copies(&rows(), through_group);
    }

    /// The adjacent form against the group form (every tail, irregular groups).
    #[test]
    fn adjacent_rows_equal_the_group_form_and_stop_at_irregular_groups() {
        check_pair_adjacent_matches_group::<CrossEntropyPairs>(
            &rows(),
            |p, q| reference(p, q).is_some(),
            through_group,
        );
    }
}
