//! The float32 fast form of KL's one-pass terms (DESIGN §2b): per leaf, the difference of
//! the two native f32 logarithms, kept only where its error bound is 2^−22 of the result.
//!
//! [`super::kl`]'s one-pass form sums V = Σ [p ln(p/q) − p + q] = Σ q·g(p/q − 1), every
//! term ≥ 0, through an exact deviation f = p/q − 1 (f64, a division) and log1p: about
//! eight cycles an element. For f32 data this module takes, sixteen lanes at a time,
//! [`crate::simd::log_f32::ln_parts`] of p and q — x = 2^k·(1+f), rest = ln(1+f) − f — and
//!
//! ln p − ln q = (k_p − k_q)·ln 2 + (f_p − f_q) + (rest_p − rest_q),
//!
//! where k_p − k_q and f_p − f_q are exact in f32 (f is a multiple of 2^−24 below 1 in
//! size, so is their difference) and only the rests carry rounding: rest_of is within
//! 5.5·2^−24 of |rest| (z = f², the polynomial, two products) and their difference rounds
//! once more, so the element's error is at most 2^−21·p·(|rest_p| + |rest_q|). (Measured: rest_of
//! is within 2.9·2^−24 of |rest| over 2·10^5 samples of its range, fused or not: the bound has
//! a factor of two to spare.) The sum
//! runs in f64: p·(ln p − ln q) by fused multiply-adds, then V = Σ p·Δln + (Σq − Σp).
//! f64 rounding is below 2^−48·(V + Σp + Σq) (each term p·Δln − p + q is ≥ 0, so
//! Σ|p·Δln| ≤ V + Σp + Σq, and a leaf sums at most sixteen terms a lane).
//!
//! A leaf is kept when 2^−21·1.01·Σ p(|rest_p| + |rest_q|) + 2^−48·(V + Σp + Σq) ≤ 2^−22·V
//! (1.01: the bound's own f32 accumulation); otherwise it returns `None` and the caller
//! takes the exact leaf — each leaf's choice depends on its own data only, so results
//! stay bitwise identical for any thread count. Kept leaves are within 2^−22 of their V;
//! V's leaves are non-negative, so their sum is too, and [`super::kl::finish_one_pass`]
//! accepts the result only at condition ≤ [`FAST_MAX_COND`]: within 2^−21 ≈ 4.8e-7 of D.
//! That keeps leaves whose divergence is more than about twice Σp(|rest_p| + |rest_q|)/Σp
//! — ≈ 0.08 for values spread over their binades — and sends nearly equal distributions,
//! whose terms cancel, to the exact form; a leaf far from its bound after its first
//! `PROBE` elements is sent there without finishing the fast form.
//!
//! Domain: every q normal positive finite where p > 0, p normal or zero; q = p = 0 is a
//! zero term. Anything else (a zero q under p > 0, subnormal, negative, ±inf, NaN) makes
//! the leaf `None`, and the exact leaf reports it as before.
//!
//! **Nearly equal values** ([`near_leaf`]): leaves the fast form gives up on (their terms
//! are second order in the differences, below its logarithms' rounding) take V = Σ q·φ(f),
//! f = (p − q)/q exact to one f32 rounding, φ(f) = (1 + f)ln(1 + f) − f by its series in
//! f64 — every term ≥ 0, within 2^−22 as the fast leaves — where every |f| ≤ 0.1; the
//! exact leaf elsewhere. Measured (10^7 float32, one thread, q = p·(1 + 10^−4·noise)):
//! the exact leaves took 53 ms, 6.3× `np.sum` of both inputs.
//!
//! **Not done: one logarithm of p/q** (counted 2026-12-08, not built). The fast form is
//! ~78 vector operations per sixteen elements (two `ln_parts` of 18, five widenings of 3,
//! the domain and bound bookkeeping), ~55 cycles on Zen 4: (10^5, 256) float32 rows take
//! ~25 ms on one thread where numkong's plain f32 sum reads them at the memory's speed
//! (5.4 ms). r = p/q, its exact remainder e = p − r·q (a fused multiply-add; the term is
//! p·ln r + e to 2^−48), ln r's exponent and mantissa kept apart (k·ln2_hi + f by
//! Fast2Sum, exact) and only the small part rounded would keep the error at
//! 2^−24·p·(7.5|rest| + 6.6e-4·|k|): accepted as often as now. It counts ~61 operations
//! and a division: at most ~1.3× faster, still ~2.5× numkong's time. A product p·ln r in
//! f32 (one widening) would be ~47 operations, but its rounding, 2^−24 of |p·ln r|,
//! fails the 2^−22 leaf bound for divergences below ~1 nat (uniform random rows: ~0.4).
//!
//! **Short rows** ([`group`]): the same terms in the group tile with one row per lane, one
//! read; a row is kept where its bound, taken on D itself (the leaf bound over Σp plus the
//! rounding of ln(1 + y) − y, y = Σq/Σp − 1), is at most [`GROUP_MAX_ERROR`] ≈ 7.2e-7 of D;
//! the rows not kept take the near form lane by lane (`Kl::second`, on the same bound),
//! and the rows neither keeps the exact group form.

use super::block::Block;
use super::f32_tiles::{self, FastGroupForm, TileRow};
use super::two_pass::{lowest_f32, mark_irregular, store_half, Lowest, Sums};
use super::GROUP;
use crate::simd::log::ln_finite;
use crate::simd::log_f32::ln_parts;
use crate::simd::vector::F8;
use crate::simd::vector_f32::{ABS, F16};

/// Largest one-pass condition accepted when some leaf took the fast form (the leaf bound
/// 2^−22 times this stays under DESIGN §2b's 1e-6).
pub const FAST_MAX_COND: f64 = 2.0;

/// One leaf's fast partials: Σp, Σq (plain lane sums, no rounding error carried) and V.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FastLeaf {
    pub sums: Sums,
    /// Σ [p ln(p/q) − p + q], within 2^−22 relative.
    pub v: f64,
}

/// Elements after which a leaf of at least twice as many is given up when its partial V is
/// below 1.5·Σp(|rest_p| + |rest_q|) so far (three quarters of what the bound asks): the choice depends
/// on the leaf's own data, so results stay the same for any thread count.
const PROBE: usize = 32;

/// The fast form's running sums, lane by lane: sixteen lanes of Σp, Σq, Σ p·(ln p − ln q)
/// (f64, two halves), Σ p(|rest_p| + |rest_q|) (the bound's weight, f32), the smallest
/// bits-less-one of p and q (the domain test) and whether a q = 0 lay under a p > 0. A
/// leaf folds its lanes at the end; a group's lanes are its sixteen rows.
#[derive(Clone, Copy)]
struct FastLanes<V: F8> {
    sp: [V; 2],
    sq: [V; 2],
    w: [V; 2],
    rest_weight: V::F32s,
    lowest: V::F32s,
    zero_q: <V::F32s as F16>::Mask,
}

impl<V: F8> FastLanes<V> {
    #[inline(always)]
    fn new() -> Self {
        let (zero, zero32) = (V::splat(0.0), V::F32s::splat(0.0));
        FastLanes {
            sp: [zero; 2],
            sq: [zero; 2],
            w: [zero; 2],
            rest_weight: zero32,
            lowest: V::F32s::splat(f32::INFINITY),
            zero_q: zero32.lt(zero32),
        }
    }

    /// Adds sixteen elements (one per lane).
    #[inline(always)]
    fn add(&mut self, pv: V::F32s, qv: V::F32s) {
        let (kp, fp, rp) = ln_parts(pv);
        let (kq, fq, rq) = ln_parts(qv);
        let (dk, df, dr) = (kp.sub(kq), fp.sub(fq), rp.sub(rq));
        self.rest_weight = pv.mul_add(rp.bits_and(ABS).add(rq.bits_and(ABS)), self.rest_weight);
        // min over the bits less one of p and q: ±0 become NaN (ignored), anything
        // negative or subnormal falls below the smallest normal f32
        self.lowest = self
            .lowest
            .min_ignoring_nan(pv.bits_add(u32::MAX))
            .min_ignoring_nan(qv.bits_add(u32::MAX));
        let zero32 = V::F32s::splat(0.0);
        self.zero_q = V::F32s::or(self.zero_q, V::F32s::and(qv.eq(zero32), pv.gt(zero32)));
        let ln2 = V::splat(std::f64::consts::LN_2);
        let ((p0, p1), (q0, q1)) = (pv.widen(), qv.widen());
        let ((k0, k1), (f0, f1), (r0, r1)) = (dk.widen(), df.widen(), dr.widen());
        self.w[0] = p0.mul_add(k0.mul_add(ln2, f0.add(r0)), self.w[0]);
        self.w[1] = p1.mul_add(k1.mul_add(ln2, f1.add(r1)), self.w[1]);
        self.sp[0] = self.sp[0].add(p0);
        self.sp[1] = self.sp[1].add(p1);
        self.sq[0] = self.sq[0].add(q0);
        self.sq[1] = self.sq[1].add(q1);
    }

    /// Whether each lane is in the fast form's domain so far: no zero q under a p > 0, and
    /// every p and q zero or a normal, finite positive f32.
    #[inline(always)]
    fn in_domain(&self) -> <V::F32s as F16>::Mask {
        let normal = V::F32s::splat(f32::MIN_POSITIVE).le(self.lowest);
        let no_zero_q = V::F32s::eq(
            V::F32s::select(self.zero_q, V::F32s::splat(1.0), V::F32s::splat(0.0)),
            V::F32s::splat(0.0),
        );
        V::F32s::and(normal, no_zero_q)
    }
}

/// The fast partials of `p`, `q` (one leaf: at most [`super::LEAF`] elements), or `None`
/// where the bound does not hold or a value is outside the domain (module docs).
#[inline(always)]
pub fn fast_leaf<V: F8>(p: &[f32], q: &[f32]) -> Option<FastLeaf> {
    type S<V> = <V as F8>::F32s;
    let n = p.len().min(q.len());
    let mut lanes = FastLanes::<V>::new();
    let mut i = 0;
    while i < n {
        if i == PROBE && n >= 2 * PROBE {
            // a leaf whose first elements fall far short of the bound (nearly equal
            // distributions) goes to the exact form without reading the rest twice
            let v = lanes.w[0].add(lanes.w[1]).sum_lanes()
                + (lanes.sq[0].add(lanes.sq[1]).sum_lanes()
                    - lanes.sp[0].add(lanes.sp[1]).sum_lanes());
            let short_of_bound = 1.5 * lanes.rest_weight.sum_lanes() > v;
            if short_of_bound || v.is_nan() {
                return None;
            }
        }
        let pv = super::plogq::load16_f32::<S<V>>(&p[..n], i);
        let qv = super::plogq::load16_f32::<S<V>>(&q[..n], i);
        lanes.add(pv, qv);
        i += 16;
    }
    if !S::<V>::all(lanes.in_domain()) {
        return None;
    }
    // plain lane sums: the totals' rounding (≤ 2^−49 relative) enters the one-pass finish
    // and pass 2's constants only to second order
    let sp_hi = lanes.sp[0].add(lanes.sp[1]).sum_lanes();
    let sq_hi = lanes.sq[0].add(lanes.sq[1]).sum_lanes();
    let w = lanes.w[0].add(lanes.w[1]).sum_lanes();
    let v = w + (sq_hi - sp_hi);
    let rest_weight = lanes.rest_weight.sum_lanes();
    let bound = 2f64.powi(-21) * 1.01 * rest_weight + 2f64.powi(-48) * (v.abs() + sp_hi + sq_hi);
    // also false for NaN or ±inf anywhere (the sums are then not finite)
    let kept = v.is_finite() && (sp_hi + sq_hi).is_finite() && bound <= 2f64.powi(-22) * v;
    kept.then_some(FastLeaf {
        sums: Sums {
            sp: sp_hi,
            sq: sq_hi,
            sp_lo: 0.0,
            sq_lo: 0.0,
            max_q: 0.0,
            min: Lowest { p: 0.0, q: 0.0 },
        },
        v,
    })
}

crate::simd::multiversion! {
    /// [`fast_leaf`] on the running CPU's vector type (one leaf on its own).
    pub fn leaf<>(p: &[f32], q: &[f32]) -> Option<FastLeaf> = fast_leaf;
}

/// Largest |f| = |p/q − 1| of the near form ([`near_leaf`]).
const NEAR_MAX: f32 = 0.1;

/// Terms of φ's series the near form takes: the rest is below 0.1^9/110 ≈ 1e-11 of φ/f²
/// at |f| ≤ [`NEAR_MAX`].
const NEAR_TERMS: usize = 9;

/// The near form of a leaf, for nearly equal distributions — those the fast form leaves
/// to the exact one (its logarithms' rounding is not small against terms that nearly
/// cancel): V = Σ q·φ(f) with f = (p − q)/q and φ(f) = (1 + f)·ln(1 + f) − f =
/// f²·Σ_j (−f)^j/((j + 1)(j + 2)), every term ≥ 0. p − q is exact in f32 (Sterbenz: an
/// accepted f puts p/q in [0.9, 1.1]) and its quotient by q rounds once, 2^−24 relative (a
/// non-zero f is at least 2^−24 in size: no underflow); φ and the sums run in f64. So a
/// term is within 2^−23·1.04 of its value (f² doubles f's error; φ/f² changes by a
/// thirtieth of that), and V — a sum of non-negative terms — within 2^−22, the fast
/// leaves' contract. Domain: every q > 0 with |f| ≤ [`NEAR_MAX`] (so p ≥ 0.9q > 0), or
/// p = q = 0 (a zero term, an empty bin of both histograms); anything else, NaN and ±inf
/// included, returns `None` at the first sixteen elements that hold it.
#[inline(always)]
pub fn near_leaf<V: F8>(p: &[f32], q: &[f32]) -> Option<FastLeaf> {
    type S<V> = <V as F8>::F32s;
    let n = p.len().min(q.len());
    let mut lanes = NearLanes::<V>::new();
    let mut i = 0;
    while i < n {
        let pv = super::plogq::load16_f32::<S<V>>(&p[..n], i);
        let qv = super::plogq::load16_f32::<S<V>>(&q[..n], i);
        if !S::<V>::all(lanes.add(pv, qv)) {
            return None;
        }
        i += 16;
    }
    let (sp, sq, v) = (lanes.sp, lanes.sq, lanes.v);
    Some(FastLeaf {
        sums: Sums {
            sp: sp[0].add(sp[1]).sum_lanes(),
            sq: sq[0].add(sq[1]).sum_lanes(),
            sp_lo: 0.0,
            sq_lo: 0.0,
            max_q: 0.0,
            min: Lowest { p: 0.0, q: 0.0 },
        },
        v: v[0].add(v[1]).sum_lanes(),
    })
}

/// The near form's running sums, lane by lane (two f64 halves): Σp, Σq, Σ q·φ(f). A leaf
/// folds its lanes at the end; a group's lanes are its sixteen rows.
struct NearLanes<V: F8> {
    sp: [V; 2],
    sq: [V; 2],
    v: [V; 2],
}

impl<V: F8> NearLanes<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        NearLanes {
            sp: [zero; 2],
            sq: [zero; 2],
            v: [zero; 2],
        }
    }

    /// Adds sixteen elements (one per lane); returns the lanes in the near form's domain
    /// (q > 0 with |f| ≤ [`NEAR_MAX`], or p = q = 0). Lanes outside it may add NaN or ±inf.
    #[inline(always)]
    fn add(&mut self, pv: V::F32s, qv: V::F32s) -> <V::F32s as F16>::Mask {
        type S<V> = <V as F8>::F32s;
        let (zero32, limit) = (S::<V>::splat(0.0), S::<V>::splat(NEAR_MAX));
        let both_zero = S::<V>::and(pv.eq(zero32), qv.eq(zero32));
        let f = S::<V>::select(both_zero, zero32, pv.sub(qv).div(qv));
        let near = S::<V>::and(f.bits_and(ABS).le(limit), qv.gt(zero32));
        let ((p0, p1), (q0, q1), (f0, f1)) = (pv.widen(), qv.widen(), f.widen());
        for (h, (x, y, g)) in [(p0, q0, f0), (p1, q1, f1)].into_iter().enumerate() {
            self.sp[h] = self.sp[h].add(x);
            self.sq[h] = self.sq[h].add(y);
            self.v[h] = y.mul(g.mul(g)).mul_add(phi_over_square(g), self.v[h]);
        }
        S::<V>::or(near, both_zero)
    }
}

/// φ(f)/f² = Σ_j (−f)^j/((j + 1)(j + 2)), j < [`NEAR_TERMS`], by Horner's rule.
#[inline(always)]
fn phi_over_square<V: F8>(f: V) -> V {
    let coef = &super::ensemble::PHI_COEF[..NEAR_TERMS];
    let mut poly = V::splat(coef[NEAR_TERMS - 1]);
    for &c in coef[..NEAR_TERMS - 1].iter().rev() {
        poly = poly.mul_add(f, V::splat(c));
    }
    poly
}

/// A leaf in the fast form ([`fast_leaf`]), else in the near form ([`near_leaf`]), else
/// `None` (the caller takes the exact leaf).
#[inline(always)]
pub fn fast_or_near_leaf<V: F8>(p: &[f32], q: &[f32]) -> Option<FastLeaf> {
    match fast_leaf::<V>(p, q) {
        Some(leaf) => Some(leaf),
        None => near_leaf::<V>(p, q),
    }
}

crate::simd::multiversion! {
    /// [`near_leaf`] on the running CPU's vector type (one leaf on its own).
    pub fn near<>(p: &[f32], q: &[f32]) -> Option<FastLeaf> = near_leaf;
}

/// ln(1 + y) − y lane-wise, `ratio` = 1 + y = Σq/Σp computed as a quotient: where |y| ≤
/// [`SERIES_MAX_Y`] the series −y²/2 + y³/3 − … to y⁶ (the rest is below 2^−48 of the first
/// term; ln(1 + y) − y would cancel there), else ln(ratio) − y (|ln(1 + y) − y| ≳ y²/2 ≥
/// 2^−21 there; the quotient's and the logarithm's rounding, a few units of 2^−53·(1 + |y|),
/// stay below 2^−29 of it). Not ln(1 + y): where Σq ≪ Σp, 1 + y would keep none of the
/// ratio's digits. Totals that agree —
/// normalised inputs, |y| ~ 1e-7 — take the series only.
#[inline(always)]
fn ln1p_minus<V: F8>(y: V, ratio: V) -> V {
    let poly = y.mul_add(V::splat(-1.0 / 6.0), V::splat(0.2));
    let poly = y.mul_add(poly, V::splat(-0.25));
    let poly = y.mul_add(poly, V::splat(1.0 / 3.0));
    let poly = y.mul_add(poly, V::splat(-0.5));
    let series = y.mul(y).mul(poly);
    let small = y.bits_and(0x7fff_ffff_ffff_ffff).le(V::splat(SERIES_MAX_Y));
    if V::all(small) {
        return series;
    }
    V::select(small, series, ln_finite(ratio).sub(y))
}

/// Where [`ln1p_minus`] takes its series.
const SERIES_MAX_Y: f64 = 1.0 / 1024.0;

/// Largest error bound, relative to D, of a row the fast group form keeps: 1.5·2^−21 ≈
/// 7.2e-7, inside DESIGN §2b's 1e-6. A row's bound is known on D itself — the leaf bound
/// on V (absolute: the same for Σ p·Δln), divided by Σp, plus the rounding of
/// ln(1 + y) − y — so no condition of the one-pass finish enters (a leaf's does: its
/// finish sees only the sum of the leaves). Measured on uniform random normalised rows
/// (in groups of sixteen, the share of groups with every row kept): C = 10 0.895 with a
/// leaf's 2^−22 of V, 0.992 with 2^−21.
const GROUP_MAX_ERROR: f64 = 1.5 / 2_097_152.0;

/// The fast group form (lane = row) and its exact fallback, on either tile.
pub struct Kl;

impl FastGroupForm for Kl {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        type S<V> = <V as F8>::F32s;
        let mut lanes = FastLanes::<V>::new();
        let inf = S::<V>::splat(f32::INFINITY);
        let (mut min_p, mut min_q) = (inf, inf);
        for (pr, qr) in p.iter().zip(q) {
            let (pv, qv) = (pr.lanes::<V>(), qr.lanes::<V>());
            lanes.add(pv, qv);
            // min_ignoring_nan ignores a NaN only in its argument: one operand at a time
            min_p = min_p.min_ignoring_nan(pv);
            min_q = min_q.min_ignoring_nan(qv);
        }
        let in_domain = S::<V>::widen_mask(lanes.in_domain());
        let rest_weight = lanes.rest_weight.widen();
        let rest_weight = [rest_weight.0, rest_weight.1];
        let (zero, inf64) = (V::splat(0.0), V::splat(f64::INFINITY));
        for (h, weight) in rest_weight.into_iter().enumerate() {
            let (sp, sq) = (lanes.sp[h], lanes.sq[h]);
            let v = lanes.w[h].add(sq.sub(sp));
            // the one-pass finish: D = V/Σp + (ln(1 + y) − y), y = (Σq − Σp)/Σp
            let y = sq.sub(sp).div(sp);
            let d = v.div(sp).add(ln1p_minus(y, sq.div(sp)));
            // the leaf's bound on V (module docs), absolute, over Σp; and the tail's
            // rounding (ln1p_minus). False for NaN or ±inf anywhere (a total 0 or not
            // finite included).
            let size = v.bits_and(0x7fff_ffff_ffff_ffff).add(sp).add(sq);
            let bound = weight
                .mul(V::splat(2f64.powi(-21) * 1.01))
                .add(size.mul(V::splat(2f64.powi(-48))))
                .div(sp)
                .add(
                    V::splat(1.0)
                        .add(y.bits_and(0x7fff_ffff_ffff_ffff))
                        .mul(V::splat(2f64.powi(-50))),
                );
            let within = V::and(
                V::and(d.gt(zero), bound.le(d.mul(V::splat(GROUP_MAX_ERROR)))),
                bound.lt(inf64),
            );
            let in_domain = if h == 0 { in_domain.0 } else { in_domain.1 };
            let kept = V::and(in_domain, within);
            mark_irregular::<V>(kept, h, fast);
            store_half(d, h, out);
        }
        lowest_f32(min_p, min_q)
    }

    /// The near form ([`near_leaf`]) lane by lane, for nearly equal rows: V = Σ q·φ(f)
    /// within 2^−22 (module docs); D = V/Σp + (ln(1 + y) − y) kept where the bound on V
    /// over Σp plus the tail's rounding is at most [`GROUP_MAX_ERROR`] of D.
    #[inline(always)]
    fn second<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) {
        type S<V> = <V as F8>::F32s;
        let zero = V::splat(0.0);
        let mut lanes = NearLanes::<V>::new();
        let mut near = S::<V>::splat(0.0).eq(S::<V>::splat(0.0));
        for (pr, qr) in p.iter().zip(q) {
            near = S::<V>::and(near, lanes.add(pr.lanes::<V>(), qr.lanes::<V>()));
        }
        let (sp, sq, v) = (lanes.sp, lanes.sq, lanes.v);
        let near = S::<V>::widen_mask(near);
        for h in 0..2 {
            let (sp, sq, v) = (sp[h], sq[h], v[h]);
            let y = sq.sub(sp).div(sp);
            let d = v.div(sp).add(ln1p_minus(y, sq.div(sp)));
            // V's bound: 2^−22 of it, and the f64 sums' rounding (at most F32_ROWS_ABOVE
            // non-negative values a lane: under 2^−45 of V, Σp, Σq), over Σp. The tail's:
            // y = (Σq − Σp)/Σp is off by up to δ = 2^−44·(Σp + Σq)/Σp; on the series
            // (|y| ≤ 1/1024) that moves ln(1 + y) − y by |y|/(1 + y)·δ < 1.001·|y|·δ (the
            // series' own rounding is below y²·2^−51); past it, by δ for y and as much for
            // ln(Σq/Σp), plus the logarithm's rounding (2^−50·(1 + |y|), as the fast form).
            // False for NaN or ±inf anywhere.
            let abs_y = y.bits_and(0x7fff_ffff_ffff_ffff);
            let delta = sp.add(sq).div(sp).mul(V::splat(2f64.powi(-44)));
            let logarithm = V::splat(1.0)
                .add(abs_y)
                .mul(V::splat(2f64.powi(-50)))
                .add(delta.add(delta));
            let series = abs_y.le(V::splat(SERIES_MAX_Y));
            let tail = V::select(series, abs_y.mul(delta).mul(V::splat(1.01)), logarithm);
            let bound = v
                .mul(V::splat(2f64.powi(-22) + 2f64.powi(-45)))
                .div(sp)
                .add(tail);
            let within = V::and(
                V::and(d.gt(zero), bound.le(d.mul(V::splat(GROUP_MAX_ERROR)))),
                bound.lt(V::splat(f64::INFINITY)),
            );
            let kept = V::and(if h == 0 { near.0 } else { near.1 }, within);
            let flags = super::two_pass::flag::<V>(kept).to_array();
            let values = d.to_array();
            for i in 0..8 {
                let j = h * 8 + i;
                if j < fast.len() && !fast[j] && flags[i] == 1.0 {
                    fast[j] = true;
                    out[j] = values[i];
                }
            }
        }
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        // the rows the fast forms leave (zeros under mass, specials, rows in between)
        super::kl::group_of::<f32>(p, q, true, out, regular);
    }
}

/// Normalised KL divergences of up to sixteen rows of float32 data in the engine's tile
/// (`p[c][j]`: element c of row j, zero padded): the fast form lane by lane (one read,
/// differences of f32 logarithms, kept where the row's error bound is at most
/// [`GROUP_MAX_ERROR`] of its D ≈ 7.2e-7), the near form for nearly equal rows it leaves
/// (on the same bound), the exact group form ([`super::kl::group_of`]) for the other
/// rows. Rows left `regular[j] == false` must be redone with the row form.
pub fn group(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    f32_tiles::group::<Kl>(p, q, out, regular)
}

/// [`group`] on whole groups of sixteen float32 rows in one of the [`Block`] layouts,
/// through float32 tiles ([`f32_tiles::adjacent`]).
pub fn adjacent(
    p: Block<'_, f32>,
    q: Block<'_, f32>,
    len: usize,
    out: &mut [f64],
) -> (usize, Lowest) {
    f32_tiles::adjacent::<Kl>(p, q, len, out)
}

#[cfg(test)]
#[inline(always)]
fn ln1p_minus_first<V: F8>(y: f64) -> f64 {
    ln1p_minus(V::splat(y), V::splat(1.0 + y)).to_array()[0]
}

#[cfg(test)]
crate::simd::multiversion! {
    /// [`ln1p_minus`] on the running CPU's vector type, first lane (tests).
    pub fn ln1p_minus_on_this_cpu<>(y: f64) -> f64 = ln1p_minus_first;
}

/// Scalar reference of [`fast_leaf`]'s value: V = Σ [p ln(p/q) − p + q] in f64 with
/// `f64::ln`, and whether every value is in the fast form's domain.
pub fn reference(p: &[f32], q: &[f32]) -> (f64, bool) {
    let mut v = 0.0;
    let mut in_domain = true;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a as f64, b as f64);
        let normal = |x: f64| x >= f32::MIN_POSITIVE as f64 && x.is_finite();
        in_domain &= (a == 0.0 && (b == 0.0 || normal(b))) || (normal(a) && normal(b));
        v += if a == 0.0 {
            b
        } else {
            a * (a / b).ln() - a + b
        };
    }
    (v, in_domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{check_fast_group_form, check_group_rows_alone, positive};

    /// The fast leaf (CI runs the tests once per instruction set, `FASTENTROPY_SIMD`), and
    /// the portable vector type's (its multiply-adds round twice: not bitwise the same).
    fn leaves(p: &[f32], q: &[f32]) -> Vec<Option<FastLeaf>> {
        vec![leaf(p, q), fast_leaf::<crate::simd::vector::Scalar8>(p, q)]
    }

    fn to_f32(x: &[f64]) -> Vec<f32> {
        x.iter().map(|&v| v as f32).collect()
    }

    /// [`positive`] without its zeros (a zero q under p > 0 refuses a leaf), as f32.
    fn nonzero(len: usize, seed: u64) -> Vec<f32> {
        positive(len, seed)
            .iter()
            .map(|&v| (v + 1e-3) as f32)
            .collect()
    }

    #[test]
    fn kept_leaves_are_within_the_bound_on_every_tail_length() {
        let mut kept = 0;
        for len in 0..=67 {
            for (p, q) in [
                (nonzero(len, len as u64 + 1), nonzero(len, len as u64 + 99)),
                // with zeros: p = 0 terms, and refused leaves (q = 0 under p > 0)
                (
                    to_f32(&positive(len, len as u64 + 1)),
                    nonzero(len, len as u64 + 7),
                ),
                (
                    to_f32(&positive(len, len as u64 + 1)),
                    to_f32(&positive(len, 3)),
                ),
            ] {
                let (want, in_domain) = reference(&p, &q);
                for l in leaves(&p, &q).into_iter().flatten() {
                    kept += 1;
                    assert!(in_domain);
                    assert!(
                        (l.v - want).abs() <= 2f64.powi(-22) * want,
                        "{len}: {l:?} vs {want}"
                    );
                    let sp: f64 = p.iter().map(|&x| x as f64).sum();
                    assert!((l.sums.sp - sp).abs() <= 1e-14 * sp);
                }
            }
        }
        assert!(kept >= 150, "only {kept} leaves kept");
    }

    #[test]
    fn ordinary_leaves_are_kept_and_nearly_equal_ones_are_not() {
        let p = nonzero(256, 3);
        let q = nonzero(256, 4);
        assert!(leaves(&p, &q).iter().all(Option::is_some));
        let near: Vec<f32> = p.iter().map(|&x| x * (1.0 + 1e-3)).collect();
        assert!(leaves(&p, &near).iter().all(Option::is_none));
        assert!(leaves(&p, &p).iter().all(Option::is_none));
    }

    #[test]
    fn values_outside_the_domain_refuse_the_leaf() {
        let base_p = nonzero(40, 5);
        let base_q = nonzero(40, 6);
        assert!(leaves(&base_p, &base_q)[0].is_some());
        let bad = [
            0.0,
            -0.0,
            1e-40,
            -0.5,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        for &x in &bad {
            for pos in [0, 17, 39] {
                let mut q = base_q.clone();
                q[pos] = x;
                assert!(
                    leaves(&base_p, &q).iter().all(Option::is_none),
                    "q = {x} at {pos}"
                );
                let mut p = base_p.clone();
                p[pos] = x;
                let zero = x == 0.0;
                // a zero p is a zero term, in the domain; its leaf may be kept
                for l in leaves(&p, &base_q) {
                    assert!(zero || l.is_none(), "p = {x} at {pos}");
                }
            }
        }
        // p = q = 0 is a zero term
        let (mut p, mut q) = (base_p.clone(), base_q.clone());
        p[3] = 0.0;
        q[3] = 0.0;
        let (want, in_domain) = reference(&p, &q);
        assert!(in_domain);
        for l in leaves(&p, &q).into_iter().flatten() {
            assert!((l.v - want).abs() <= 2f64.powi(-22) * want);
        }
    }

    #[test]
    fn the_error_bound_holds_on_adversarial_magnitudes() {
        // mixed binades, tiny and huge normal values, exact powers of two
        let mut cases: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
        let span = |seed: u64, lo: i32, hi: i32| -> Vec<f32> {
            nonzero(256, seed)
                .iter()
                .enumerate()
                .map(|(i, &u)| u * 2f32.powi(lo + (i as i32 * 7919) % (hi - lo)))
                .collect()
        };
        cases.push((span(1, -100, 100), span(2, -100, 100)));
        cases.push((span(3, -10, 10), span(4, -10, 10)));
        cases.push((span(5, 0, 1), span(6, 0, 1)));
        let pow2: Vec<f32> = (0..256).map(|i| 2f32.powi(i % 40 - 20)).collect();
        cases.push((pow2.clone(), pow2.iter().rev().copied().collect()));
        cases.push((pow2.clone(), pow2.iter().map(|&x| 2.0 * x).collect()));
        for (p, q) in &cases {
            let (want, _) = reference(p, q);
            assert!(
                leaves(p, q).iter().all(Option::is_some),
                "a far pair is kept: {:?}",
                reference(p, q)
            );
            for l in leaves(p, q).into_iter().flatten() {
                assert!(
                    (l.v - want).abs() <= 2f64.powi(-22) * want,
                    "{} vs {want}",
                    l.v
                );
            }
        }
    }

    #[test]
    fn group_rows_are_within_the_contract_or_take_the_exact_form() {
        let (fast, exact) = check_fast_group_form(
            group,
            |pt, qt, out, regular| super::super::kl::group_of::<f32>(pt, qt, true, out, regular),
            GROUP_MAX_ERROR,
        );
        // both forms ran: far rows fast, the others exact
        assert!(fast > 250 && exact > 1000, "fast {fast}, exact {exact}");
    }

    /// The near form on the running CPU's vector type and on the portable one.
    fn near_leaves(p: &[f32], q: &[f32]) -> Vec<Option<FastLeaf>> {
        vec![near(p, q), near_leaf::<crate::simd::vector::Scalar8>(p, q)]
    }

    /// q = p·(1 + f_i) with |f_i| ≤ `spread`, both sides rounded to f32 (p of mixed
    /// binades, subnormal ones included where `subnormal`).
    fn nearly_equal(len: usize, seed: u64, spread: f64, subnormal: bool) -> (Vec<f32>, Vec<f32>) {
        let mut next = crate::kernels::adversarial::xorshift(seed);
        let mut unit = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
        let (mut p, mut q) = (Vec::new(), Vec::new());
        for i in 0..len {
            let scale = if subnormal && i % 5 == 0 {
                1e-40
            } else {
                2f64.powi((i as i32 * 7) % 40 - 20)
            };
            let a = ((0.5 + unit()) * scale) as f32;
            let b = (f64::from(a) * (1.0 + spread * (2.0 * unit() - 1.0))) as f32;
            p.push(a);
            q.push(b);
        }
        (p, q)
    }

    /// V = Σ q·φ(f), f = (p − q)/q, in f64 with φ's series to forty terms (|f| ≤ 0.1:
    /// exact to rounding; `reference`'s p ln(p/q) − p + q cancels for nearly equal values).
    fn near_reference(p: &[f32], q: &[f32]) -> f64 {
        let mut v = 0.0;
        for (&a, &b) in p.iter().zip(q) {
            let (a, b) = (f64::from(a), f64::from(b));
            if a == 0.0 && b == 0.0 {
                continue;
            }
            let f = (a - b) / b;
            assert!(f.abs() <= 0.1);
            let series: f64 = (0..40)
                .map(|j| (-f).powi(j) / ((j + 1) * (j + 2)) as f64)
                .sum();
            v += b * f * f * series;
        }
        v
    }

    #[test]
    fn near_leaves_are_within_the_bound_on_every_tail_length() {
        let mut kept = 0;
        for len in (0..=67).chain([255, 256]) {
            for (k, spread) in [1e-7, 1e-5, 1e-3, 0.05, 0.09].into_iter().enumerate() {
                let (mut p, mut q) = nearly_equal(len, (len * 7 + k) as u64 + 1, spread, k == 2);
                if len > 3 && k == 1 {
                    // empty bins of both (a zero term), and identical values (f = 0)
                    (p[1], q[1]) = (0.0, -0.0);
                    q[2] = p[2];
                }
                let want = near_reference(&p, &q);
                for l in near_leaves(&p, &q) {
                    let l = l.unwrap_or_else(|| panic!("{len} {spread}: not kept"));
                    kept += 1;
                    assert!(
                        (l.v - want).abs() <= 2f64.powi(-22) * want,
                        "{len} {spread}: {} vs {want}",
                        l.v
                    );
                    let sp: f64 = p.iter().map(|&x| f64::from(x)).sum();
                    let sq: f64 = q.iter().map(|&x| f64::from(x)).sum();
                    assert!(
                        (l.sums.sp - sp).abs() <= 1e-12 * sp
                            && (l.sums.sq - sq).abs() <= 1e-12 * sq
                    );
                }
            }
        }
        assert!(kept > 500);
    }

    #[test]
    fn near_leaves_leave_everything_else_to_the_exact_form() {
        for len in [1, 7, 16, 17, 40] {
            let (p, q) = nearly_equal(len, len as u64, 1e-4, false);
            let at = len / 2;
            let mut cases: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
            let with = |pv: Option<f32>, qv: Option<f32>| {
                let (mut a, mut b) = (p.clone(), q.clone());
                if let Some(v) = pv {
                    a[at] = v;
                }
                if let Some(v) = qv {
                    b[at] = v;
                }
                (a, b)
            };
            cases.push(with(Some(0.0), None)); // p = 0 under q > 0 (f = −1)
            cases.push(with(None, Some(0.0))); // q = 0 under p > 0 (+inf)
            cases.push(with(Some(-p[at]), Some(-q[at]))); // negatives, nearly equal
            cases.push(with(Some(f32::NAN), None));
            cases.push(with(None, Some(f32::NAN)));
            cases.push(with(Some(f32::INFINITY), Some(f32::INFINITY)));
            cases.push(with(None, Some(f32::INFINITY)));
            cases.push(with(Some(q[at] * 1.2), None)); // |f| past NEAR_MAX
            cases.push(with(Some(q[at] * 0.85), None));
            for (a, b) in &cases {
                for l in near_leaves(a, b) {
                    assert!(l.is_none(), "{len}: {:?} {:?}", a[at], b[at]);
                }
            }
        }
    }

    #[test]
    fn nearly_equal_group_rows_take_the_near_form_within_the_contract() {
        use crate::kernels::adversarial::tile_rows;
        let (mut near_rows, mut rows_seen) = (0, 0);
        for len in (5..=40).chain([64, 100, 128]) {
            for (k, spread) in [1e-6, 1e-4, 1e-2, 0.05].into_iter().enumerate() {
                let rows: Vec<(Vec<f64>, Vec<f64>)> = (0..GROUP as u64)
                    .map(|j| {
                        let seed = (len * 100 + k * 16) as u64 + j;
                        let (p, mut q) = nearly_equal(len, seed, spread, j == 3);
                        if j == 5 {
                            q[len / 2] = 0.0; // a zero under mass: the exact form's
                        }
                        // normalised in f32, as a model's or a histogram's shares are
                        let wide = |x: Vec<f32>| {
                            let total: f32 = x.iter().sum();
                            x.into_iter().map(|v| f64::from(v / total)).collect()
                        };
                        (wide(p), wide(q))
                    })
                    .collect();
                let (pt, qt) = tile_rows(&rows);
                let (mut got, mut regular) = ([0.0; GROUP], [true; GROUP]);
                group(&pt, &qt, &mut got, &mut regular);
                let (mut want, mut want_regular) = ([0.0; GROUP], [true; GROUP]);
                super::super::kl::group_of::<f32>(&pt, &qt, true, &mut want, &mut want_regular);
                for j in 0..GROUP {
                    rows_seen += 1;
                    assert_eq!(regular[j], want_regular[j]);
                    if got[j].to_bits() == want[j].to_bits() {
                        continue;
                    }
                    near_rows += 1;
                    let err = (got[j] - want[j]).abs() / want[j];
                    assert!(
                        err <= GROUP_MAX_ERROR,
                        "{len} {spread} {j}: {} vs {}",
                        got[j],
                        want[j]
                    );
                }
                assert!(got[5] == want[5] || !want[5].is_finite());
            }
        }
        // nearly every row but the zero-holding ones takes a fast form
        assert!(
            near_rows * 10 >= rows_seen * 8,
            "{near_rows} of {rows_seen}"
        );
    }

    #[test]
    fn a_group_row_alone_equals_the_row_among_sixteen() {
        check_group_rows_alone(group);
    }

    #[test]
    fn total_offsets_take_the_series_or_the_logarithm() {
        for y in [
            0.0,
            1e-9,
            -1e-7,
            3e-5,
            -2e-4,
            SERIES_MAX_Y,
            -SERIES_MAX_Y,
            2e-3,
            -0.1,
            0.5,
            7.0,
            1e20,
            -0.999,
        ] {
            let want = super::super::kl::ln1p_minus(y);
            for got in [
                ln1p_minus::<crate::simd::vector::Scalar8>(
                    crate::simd::vector::Scalar8::splat(y),
                    crate::simd::vector::Scalar8::splat(1.0 + y),
                )
                .to_array()[0],
                ln1p_minus_on_this_cpu(y),
            ] {
                // the series to 1e-14; the logarithm's rounding, absolute (D takes the
                // tail absolutely: a few units of 2^−53 of 1 + y)
                let tolerance = 1e-14 * want.abs() + 2f64.powi(-50) * (1.0 + y.abs());
                assert!((got - want).abs() <= tolerance, "{y}: {got} vs {want}");
            }
        }
    }
}
