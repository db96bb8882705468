//! Jensen–Shannon divergence of a row, exact on every input:
//! JS(P, Q) = ¼ Σ (P + Q)·[g(d) + g(−d)], d = (P − Q)/(P + Q), g(f) = (1+f)ln(1+f) − f.
//!
//! With M = (P + Q)/2, ½KL(P‖M) + ½KL(Q‖M) = ½ Σ M·[g(d) + g(−d)] because P/M = 1 + d,
//! Q/M = 1 − d and the linear parts cancel per element: every term is ≥ 0 (g(d) + g(−d)
//! ≈ d² near d = 0), so nothing cancels across elements, and within a term
//! [`crate::simd::log1p`] keeps g's digits. d is taken as (p'·s_q − q'·s_p)/(p'·s_q + q'·s_p)
//! with p', q' scaled exactly so the scaled totals s_p, s_q lie in [1, 2), the difference
//! by Kahan's algorithm: identical rows, and rows at another power-of-two scale, give
//! exactly 0 (issue #14: `js_divergence([1e308, 1e308], [1, 3])` was 9× off, P + Q overflowed).
//!
//! Two passes ([`super::two_pass`]'s sums, then the terms): a term needs both totals,
//! which no per-block partial of raw values can supply (expanding into
//! H(M) − ½H(P) − ½H(Q) would give one pass but cancels where P ≈ Q). Long rows whose
//! totals agree (normalised inputs) are read once: the terms of the values as given,
//! corrected to first order in the totals' ratio, with the remainder bounded
//! ([`finish_one_pass`]).
//!
//! Without `normalize` P = p and Q = q as given.
//!
//! **float32** p and q take the second pass through [`super::js_f32`]'s fast form leaf by
//! leaf (differences of f32 logarithms, kept where their bound is 2^−21 of the leaf, the
//! exact leaf elsewhere); f32 rows longer than [`F32_ROWS_ABOVE`] take the row form for it.
//! Shorter f32 rows of at least [`F32_FAST_GROUP_FROM`] elements take the same fast form in
//! the group tile, one row per lane ([`js_f32::group`]), each kept on its own bound, the φ
//! form ([`super::js_phi_f32`]) for the rows it leaves and the exact group form for the
//! rest; rows of [`F32_PHI_FROM`] up to that length take the φ form first. Normalised f32
//! rows of two and three elements take their own closed forms in the group tile
//! ([`super::js_pairs_f32`], [`super::js_triples_f32`]; the exact group form for the rows
//! they leave).

use super::js_pairs_f32::JsPairs;
use super::js_phi_f32::JsPhi;
use super::js_triples_f32::JsTriples;
use super::two_pass::{
    determinant, half, load16, mark_irregular, scaled, sums, sums_with, two_element_ok,
    GroupTotals, Lowest, Sums, F32_MIN_NORMAL,
};
use super::{js_f32, pairwise_leaves, Partial, Real, GROUP};
use crate::simd::log1p::log1p_g16;
use crate::simd::vector::F8;

/// Pass-2 constants of a row: the exact scalings of each side and the scaled totals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Consts {
    /// 2^a with s_p = Σp·2^a ∈ [1, 2) (1 without normalisation).
    pub scale_p: f64,
    /// 2^b with s_q = Σq·2^b ∈ [1, 2) (1 without normalisation).
    pub scale_q: f64,
    /// s_p.
    pub sp: f64,
    /// s_q.
    pub sq: f64,
    /// The rounding error of s_p (from the compensated total).
    pub sp_lo: f64,
    /// The rounding error of s_q.
    pub sq_lo: f64,
}

impl Consts {
    /// No normalisation: P = p, Q = q.
    pub const RAW: Consts = Consts {
        scale_p: 1.0,
        scale_q: 1.0,
        sp: 1.0,
        sq: 1.0,
        sp_lo: 0.0,
        sq_lo: 0.0,
    };
}

/// 2^−e with x·2^−e ∈ [1, 2), for a normal x.
#[inline]
fn inverse_power(x: f64) -> f64 {
    let e = ((x.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    f64::from_bits(((1023 - e) as u64) << 52)
}

/// The constants of a [regular](Sums::regular) row.
#[inline]
pub fn consts(s: &Sums) -> Consts {
    let (scale_p, scale_q) = (inverse_power(s.sp), inverse_power(s.sq));
    Consts {
        scale_p,
        scale_q,
        sp: s.sp * scale_p,
        sq: s.sq * scale_q,
        sp_lo: s.sp_lo * scale_p,
        sq_lo: s.sq_lo * scale_q,
    }
}

/// Pass-2 partials of a row or block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms {
    /// Σ (p'·s_q + q'·s_p)·[g(d) + g(−d)]: JS = this / (4·s_p·s_q).
    pub t: f64,
    /// Σ w·g(−d), the q side of `t`: kept by the one-pass form only ([`terms_one_pass`]),
    /// 0 elsewhere.
    pub tq: f64,
    /// Whether some P + Q overflowed (raw values near f64::MAX: the row is redone scaled).
    pub overflow: bool,
    /// Whether a subnormal f32 value was met (redo with f64 polynomials).
    pub f32_unsafe: bool,
}

impl Partial for Terms {
    const EMPTY: Self = Terms {
        t: 0.0,
        tq: 0.0,
        overflow: false,
        f32_unsafe: false,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        Terms {
            t: self.t + o.t,
            tq: self.tq + o.tq,
            overflow: self.overflow | o.overflow,
            f32_unsafe: self.f32_unsafe | o.f32_unsafe,
        }
    }
}

/// The divergence (nats) from a row's constants and terms.
#[inline]
pub fn finish(k: &Consts, t: &Terms) -> f64 {
    t.t / (4.0 * k.sp * k.sq)
}

/// Pass-2 lane accumulators.
#[derive(Clone, Copy)]
struct Acc<V> {
    t: V,
    tq: V,
    overflow: V,
    min_pos: V,
}

impl<V: F8> Acc<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        Acc {
            t: zero,
            tq: zero,
            overflow: zero,
            min_pos: V::splat(f64::INFINITY),
        }
    }
}

/// Per-lane constants.
#[derive(Clone, Copy)]
pub(super) struct Lanes<V> {
    scale_p: V,
    scale_q: V,
    /// s_p.
    pub sp: V,
    /// s_q.
    pub sq: V,
    sp_lo: V,
    sq_lo: V,
}

impl<V: F8> Lanes<V> {
    #[inline(always)]
    pub(super) fn splat(k: &Consts) -> Self {
        Lanes {
            scale_p: V::splat(k.scale_p),
            scale_q: V::splat(k.scale_q),
            sp: V::splat(k.sp),
            sq: V::splat(k.sq),
            sp_lo: V::splat(k.sp_lo),
            sq_lo: V::splat(k.sq_lo),
        }
    }
}

/// (a − b, a, b) for eight lanes, a = p'·s_q and b = q'·s_p rounded, the difference
/// to a few ULP of itself plus (C + 4)·2^−105 of a + b (the totals' own error).
#[inline(always)]
pub(super) fn difference<V: F8>(p: V, q: V, k: &Lanes<V>) -> (V, V, V) {
    let zero = V::splat(0.0);
    let (p, q) = (p.mul(k.scale_p), q.mul(k.scale_q));
    let (a, b) = (p.mul(k.sq), q.mul(k.sp));
    // a − b by Kahan's difference of products: b's rounding error added back
    let eb = zero.sub(q).fused_mul_add(k.sp, b);
    // plus the totals' own rounding errors, so a rounded total shifts nothing
    let lo = p.mul(k.sq_lo).sub(q.mul(k.sp_lo));
    (p.fused_mul_add(k.sq, zero.sub(b)).add(eb).add(lo), a, b)
}

/// (d, 1 + d, 1 − d, weight) for eight lanes: weight = p'·s_q + q'·s_p.
#[inline(always)]
fn split_ratio<V: F8>(p: V, q: V, k: &Lanes<V>) -> (V, V, V, V) {
    let (diff, a, b) = difference(p, q, k);
    let weight = a.add(b);
    // d and 1 ± d are ratios to the weight: where it is tiny, scale all three by 2^600
    // first, so its reciprocal stays finite (such elements weigh < 1e-290 in the sum)
    let tiny = weight.lt(V::splat(f64::MIN_POSITIVE * 1e16));
    let up = V::select(tiny, V::splat(TWO_600), V::splat(1.0));
    let (a, b, diff) = (a.mul(up), b.mul(up), diff.mul(up));
    let inv = V::splat(1.0).div(a.add(b));
    let two = V::splat(2.0);
    (
        diff.mul(inv),
        two.mul(a).mul(inv),
        two.mul(b).mul(inv),
        weight,
    )
}

/// 2^600.
const TWO_600: f64 = 4.149_515_568_880_993e180;

#[inline(always)]
fn step<V: F8, const F32: bool, const SPLIT: bool>(
    acc: &mut [Acc<V>; 2],
    p: (V, V),
    q: (V, V),
    k: &[Lanes<V>; 2],
) {
    let zero = V::splat(0.0);
    let (d0, ra0, rb0, w0) = split_ratio(p.0, q.0, &k[0]);
    let (d1, ra1, rb1, w1) = split_ratio(p.1, q.1, &k[1]);
    let (_, (ga0, ga1)) = log1p_g16::<V, F32>((d0, d1), (ra0, ra1));
    let (_, (gb0, gb1)) = log1p_g16::<V, F32>((zero.sub(d0), zero.sub(d1)), (rb0, rb1));
    let [a0, a1] = acc;
    half_step::<V, F32, SPLIT>(a0, p.0, q.0, (ga0, gb0), w0);
    half_step::<V, F32, SPLIT>(a1, p.1, q.1, (ga1, gb1), w1);
}

/// [`step`] on eight lanes only: the two logarithms (p's side and q's) share one
/// sixteen-lane call, each in one half — lane-wise the operations [`step`] does, so the
/// same bits, for one f32 polynomial instead of two.
#[inline(always)]
fn step_half<V: F8, const F32: bool>(acc: &mut Acc<V>, p: V, q: V, k: &Lanes<V>) {
    let zero = V::splat(0.0);
    let (d, ra, rb, w) = split_ratio(p, q, k);
    let (_, (ga, gb)) = log1p_g16::<V, F32>((d, zero.sub(d)), (ra, rb));
    half_step::<V, F32, false>(acc, p, q, (ga, gb), w);
}

/// `SPLIT`: also Σ w·g(−d) on its own (the one-pass form).
#[inline(always)]
fn half_step<V: F8, const F32: bool, const SPLIT: bool>(
    a: &mut Acc<V>,
    p: V,
    q: V,
    (ga, gb): (V, V),
    w: V,
) {
    let zero = V::splat(0.0);
    // a zero weight (p = q = 0, or both negligible after scaling) contributes 0 (d is
    // 0/0 there); NaN in either input propagates through w
    let no_weight = w.eq(zero);
    a.t = a.t.add(V::select(no_weight, zero, w.mul(ga.add(gb))));
    if SPLIT {
        a.tq = a.tq.add(V::select(no_weight, zero, w.mul(gb)));
    }
    a.overflow = a.overflow.max_ignoring_nan(V::select(
        w.eq(V::splat(f64::INFINITY)),
        V::splat(1.0),
        zero,
    ));
    if F32 {
        let inf = V::splat(f64::INFINITY);
        let pos = V::select(p.gt(zero), p, inf).min_ignoring_nan(V::select(q.gt(zero), q, inf));
        a.min_pos = a.min_pos.min_ignoring_nan(pos);
    }
}

/// The pass-2 terms of the leaf `start..end` (at most [`super::LEAF`] elements) by the
/// exact form, reading the whole slices from `start` (see [`super::kl`]'s `exact_leaf`:
/// sub-slices cost the fat-LTO build its two-thread scaling there).
#[inline(always)]
fn exact_leaf<V: F8, T: Real, U: Real, const F32: bool, const SPLIT: bool>(
    p: &[T],
    q: &[U],
    start: usize,
    end: usize,
    lanes: &[Lanes<V>; 2],
) -> Terms {
    let mut acc = [Acc::<V>::new(); 2];
    let mut i = start;
    while i < end {
        let a = load16::<V, T>(&p[..end], i);
        let b = load16::<V, U>(&q[..end], i);
        step::<V, F32, SPLIT>(&mut acc, a, b, lanes);
        i += 16;
    }
    let min_pos = acc[0].min_pos.min_ignoring_nan(acc[1].min_pos).min_lane();
    Terms {
        t: acc[0].t.add(acc[1].t).sum_lanes(),
        tq: if SPLIT {
            acc[0].tq.add(acc[1].tq).sum_lanes()
        } else {
            0.0
        },
        overflow: acc[0].overflow.max_ignoring_nan(acc[1].overflow).max_lane() > 0.0,
        f32_unsafe: F32 && min_pos < F32_MIN_NORMAL,
    }
}

#[inline(always)]
fn terms_with<V: F8, T: Real, U: Real, const F32: bool, const SPLIT: bool>(
    p: &[T],
    q: &[U],
    k: &Consts,
) -> Terms {
    let n = p.len().min(q.len());
    let lanes = [Lanes::splat(k), Lanes::splat(k)];
    pairwise_leaves!(n, |start, end| {
        exact_leaf::<V, T, U, F32, SPLIT>(p, q, start, end, &lanes)
    })
}

/// [`terms_with`] for f32 p and q: each leaf takes [`js_f32`]'s fast form where its bound
/// holds, else (two-pass rows) [`super::js_phi_f32::leaf_apart`] where its own holds, the exact
/// leaf (f32 polynomials) elsewhere.
#[inline(always)]
fn terms_fast<V: F8, const SPLIT: bool>(p: &[f32], q: &[f32], k: &Consts) -> Terms {
    let n = p.len().min(q.len());
    let lanes = [Lanes::splat(k), Lanes::splat(k)];
    let scales = js_f32::Scales::new(k.scale_p, k.scale_q, k.sp, k.sq);
    pairwise_leaves!(n, |start, end| {
        match js_f32::fast_leaf_parts::<V, SPLIT>(&p[start..end], &q[start..end], &scales) {
            Some((t, tq)) => Terms {
                t,
                tq,
                ..Terms::EMPTY
            },
            None => {
                // the φ form next (two-pass rows only: the one-pass form needs the q side
                // apart, which φ does not give)
                let phi = if SPLIT {
                    None
                } else {
                    super::js_phi_f32::leaf_apart(&p[start..end], &q[start..end], k)
                };
                match phi {
                    Some(t) => Terms { t, ..Terms::EMPTY },
                    None => exact_leaf::<V, f32, f32, true, SPLIT>(p, q, start, end, &lanes),
                }
            }
        }
    })
}

/// Pass 2 of a row or block with the constants `k` (`SPLIT`: the q side kept apart too).
#[inline(always)]
fn terms_split<V: F8, T: Real, U: Real, const SPLIT: bool>(
    p: &[T],
    q: &[U],
    k: &Consts,
    f32_logs: bool,
) -> Terms {
    if let (true, Some(p32), Some(q32)) = (f32_logs, T::as_f32(p), U::as_f32(q)) {
        let t = terms_fast::<V, SPLIT>(p32, q32, k);
        if !t.f32_unsafe {
            return t;
        }
    }
    terms_with::<V, T, U, false, SPLIT>(p, q, k)
}

#[inline(always)]
fn terms_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], k: &Consts, f32_logs: bool) -> Terms {
    terms_split::<V, T, U, false>(p, q, k, f32_logs)
}

#[inline(always)]
fn one_pass_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass {
    // terms first: their arithmetic hides the block's first read from memory; the sums
    // then read it from the cache (the other order made the sums the memory-bound pass
    // they are in the two-pass form, and saved nothing)
    let terms = terms_split::<V, T, U, true>(p, q, &Consts::RAW, f32_logs);
    // float32 data: plain sums (their ~1e-15 relative error is far inside the contract
    // and the bound of `finish_one_pass`); the compensation was a third of this block's
    // time. `OnePass::compensated` tells the caller to sum again for pass 2.
    let compensated = !(f32_logs && T::IS_F32 && U::IS_F32);
    OnePass {
        sums: if compensated {
            sums_with::<V, T, U, true>(p, q)
        } else {
            sums_with::<V, T, U, false>(p, q)
        },
        terms,
        compensated,
    }
}

crate::simd::multiversion! {
    /// Pass 2 over a row or block (`f32_logs`: f32 polynomials where p and q are f32).
    pub fn terms<T: Real, U: Real>(p: &[T], q: &[U], k: &Consts, f32_logs: bool) -> Terms = terms_body;
}

crate::simd::multiversion! {
    /// The one-pass form of a block: its sums and the terms of its values as given
    /// (see [`finish_one_pass`]).
    pub fn terms_one_pass<T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass = one_pass_body;
}

/// A block's partials for [`finish_one_pass`]: pass 1's sums and the terms of the values
/// as given ([`Consts::RAW`]), the q side kept apart.
#[derive(Clone, Copy, Debug)]
pub struct OnePass {
    pub sums: Sums,
    pub terms: Terms,
    /// Whether `sums` are pass 1's compensated sums (float64 data), which pass 2 can reuse.
    pub compensated: bool,
}

impl Partial for OnePass {
    const EMPTY: Self = OnePass {
        sums: Sums::EMPTY,
        terms: Terms::EMPTY,
        compensated: true,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        OnePass {
            sums: self.sums.combine(o.sums),
            terms: self.terms.combine(o.terms),
            compensated: self.compensated && o.compensated,
        }
    }
}

/// Remainders the one-pass form accepts, relative to the value: negligible against
/// float64 rounding; well inside float32 data's contract (DESIGN §2b) with f32 logarithms.
const ONE_PASS_REMAINDER_F64: f64 = 1.0 / (1u64 << 56) as f64;
const ONE_PASS_REMAINDER_F32: f64 = 1.0 / (1u64 << 30) as f64;

/// JS (nats) of a long row from one read ([`terms_one_pass`] over its blocks), or `None`
/// where the totals disagree too much for it (the caller then runs pass 2 with the row's
/// constants, reusing the sums).
///
/// The terms of p and q as given are F = ¼ Σ w·[g(d) + g(−d)] = Sp·J(ρ), with
/// J(b) = ½ Σ [P ln(2P/(P + bQ)) + bQ ln(2bQ/(P + bQ))], ρ = Sq/Sp and JS = J(1) (F is
/// homogeneous of degree 1 in p and q). Taylor at ρ: JS = J(ρ) + (1 − ρ)·J'(ρ) + R with
/// J'(ρ) = K/(2·Sq), K = Σ q·ln(2q/w) = ½ Σ w·g(−d) − ½(Sp − Sq), and
/// |R| ≤ ¼(1 − ρ)²/min(1, ρ)² (J''(b) = ½ Σ Q·P/(b·(P + bQ)) ≤ 1/(2b²)).
/// Distributions that are already normalised (softmax outputs, p / p.sum() in float64)
/// have |1 − ρ| ~ 1e-13, so R ~ 1e-26: accepted for any divergence above ~2e-9 (float64);
/// rows whose totals differ (counts against counts of another size) are refused.
/// Identical rows give F = 0 and ρ = 1: exactly 0. Each term is exact as in pass 2 (the
/// same kernel with the raw constants), so the value is as exact as the two-pass one,
/// though not bitwise the same.
pub fn finish_one_pass(o: &OnePass, f32_logs: bool) -> Option<f64> {
    let (s, t) = (&o.sums, &o.terms);
    if !s.regular() || t.overflow {
        return None;
    }
    let (sp, sq) = (s.sp + s.sp_lo, s.sq + s.sq_lo);
    // Sp − Sq from the double-double totals (exact where they are close)
    let difference = (s.sp - s.sq) + (s.sp_lo - s.sq_lo);
    let one_minus_rho = difference / sp;
    let k = 0.5 * t.tq - 0.5 * difference;
    let value = 0.25 * t.t / sp + one_minus_rho * k / (2.0 * sq);
    let low = (sq / sp).min(1.0);
    let remainder = 0.25 * one_minus_rho * one_minus_rho / (low * low);
    let limit = if f32_logs {
        ONE_PASS_REMAINDER_F32
    } else {
        ONE_PASS_REMAINDER_F64
    };
    (value.is_finite() && value >= 0.0 && remainder <= limit * value).then_some(value)
}

/// float32 rows longer than this take [`row`] (fast leaves, [`js_f32`]) rather than the
/// vertical groups (whose tiles are widened to f64). Measured ((N, C) f32, N·C = 10^7,
/// time ÷ `np.sum` of both, 2 threads; groups → rows): C = 256 4.6 → 2.7 (nearly equal
/// rows 4.7 → 4.1), C = 128 4.5 → 3.4 (nearly equal 4.6 → 4.9), C = 100 4.5 → 4.5
/// (nearly equal 4.6 → 6.3: the row form's exact fallback is slower than a group's).
pub const F32_ROWS_ABOVE: usize = 100;

/// float64 rows longer than this take [`row`] too: the groups add each lane's terms one
/// after another, and on confident rows (a mass 1 and n − 1 masses r against 2r) that
/// drifted to 1.1–1.4e-13 of mpmath at n = 200–256 (scipy: 6e-16 on some), against
/// 5.7e-14 at n = 100; the row form sums in lanes over leaves, pairwise (≤ 1e-15 there).
/// Speed, one thread, 10^7 values (probe; groups → rows, two rounds): C = 128 54.2–55.2
/// → 50.9–52.4 ms, C = 200 50.9–55.2 → 51.6–55.8, C = 256 52.3–55.1 → 51.2–56.4; at C = 101
/// the row form was slower (50–55 → 65–68), so shorter rows keep the groups.
pub const F64_ROWS_ABOVE: usize = 128;

/// The divergence (nats) of one row given as slices; rows that are not regular (or
/// whose raw P + Q overflows) go to [`careful_row`]. Returns the value and the smallest
/// inputs (negative: an error the caller reports).
pub fn row<T: Real, U: Real>(p: &[T], q: &[U], normalize: bool) -> (f64, Lowest) {
    let s = super::two_pass::sums_for_row(p, q);
    if normalize && !s.regular() {
        return (careful_row(p, q, normalize), s.min);
    }
    let k = if normalize { consts(&s) } else { Consts::RAW };
    let t = terms(p, q, &k, true);
    if t.overflow {
        return (careful_row(p, q, normalize), s.min);
    }
    (finish(&k, &t), s.min)
}

/// A row the vector form cannot take: NaN for NaN or an infinite mass (a zero total:
/// NaN when normalising); otherwise each side scaled by the power of two that brings its
/// largest value near 1 (unnormalised rows by one common power, which scales JS by it).
pub fn careful_row<T: Real, U: Real>(p: &[T], q: &[U], normalize: bool) -> f64 {
    let n = p.len().min(q.len());
    if n == 0 {
        return 0.0;
    }
    let pf: Vec<f64> = p[..n].iter().map(|v| v.to_f64()).collect();
    let qf: Vec<f64> = q[..n].iter().map(|v| v.to_f64()).collect();
    let max = |x: &[f64]| {
        x.iter()
            .fold(0.0f64, |m, &v| if v > m || v.is_nan() { v } else { m })
    };
    let (mp, mq) = (max(&pf), max(&qf));
    if !(mp.is_finite() && mq.is_finite()) {
        return f64::NAN;
    }
    if normalize {
        if !(mp > 0.0 && mq > 0.0) {
            return f64::NAN;
        }
        let (ps, qs) = (scaled(&pf, mp), scaled(&qf, mq));
        let s = sums(&ps, &qs);
        let k = consts(&s);
        return finish(&k, &terms(&ps, &qs, &k, false));
    }
    // raw: JS(c·p, c·q) = c·JS(p, q); scale both by one power of two
    let m = mp.max(mq);
    if m == 0.0 {
        return 0.0;
    }
    let (ps, qs) = (scaled(&pf, m), scaled(&qf, m));
    let unscale = m / ps.iter().chain(&qs).cloned().fold(0.0, f64::max);
    finish(&Consts::RAW, &terms(&ps, &qs, &Consts::RAW, false)) * unscale
}

/// Scalar reference: ½ Σ [P ln(2P/(P+Q)) + Q ln(2Q/(P+Q))] in plain f64, for tests.
pub fn reference<T: Real, U: Real>(p: &[T], q: &[U], normalize: bool) -> f64 {
    let p: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
    let q: Vec<f64> = q.iter().map(|v| v.to_f64()).collect();
    let (sp, sq): (f64, f64) = if normalize {
        (p.iter().sum(), q.iter().sum())
    } else {
        (1.0, 1.0)
    };
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(&q) {
        let (a, b) = (a / sp, b / sq);
        let m = a + b;
        if a > 0.0 {
            js += 0.5 * a * (2.0 * a / m).ln();
        }
        if b > 0.0 {
            js += 0.5 * b * (2.0 * b / m).ln();
        }
    }
    js
}

// -------------------------------------------------------- vertical (16 short rows)

/// Two-element rows in closed form, lane = row (see [`super::kl`]'s `kl_of_two`). With
/// s = a + b, t = c + d, the weights are w₁ = a·t + c·s, w₂ = b·t + d·s and both
/// deviations come from one determinant D = a·d − b·c: d₁ = D/w₁, d₂ = −D/w₂, so
/// JS = [w₁·(g(d₁) + g(−d₁)) + w₂·(g(d₂) + g(−d₂))]/(4·s·t), non-negative terms from two
/// [`log1p_g16`] calls (1 ± dᵢ passed as their own quotients 2a·t/w₁, 2c·s/w₁, …). Lanes
/// that [`two_element_ok`] refuses are left to the row form.
#[inline(always)]
fn js_of_two<V: F8, const F32: bool>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let (zero, two) = (V::splat(0.0), V::splat(2.0));
    let (mut min_p, mut min_q) = (V::splat(f64::INFINITY), V::splat(f64::INFINITY));
    for h in 0..2 {
        let (a, b) = (half::<V>(&p[0], h), half::<V>(&p[1], h));
        let (c, d) = (half::<V>(&q[0], h), half::<V>(&q[1], h));
        let (s, t) = (a.add(b), c.add(d));
        mark_irregular::<V>(two_element_ok::<V, F32>(a, b, c, d), h, regular);
        let det = determinant(a, b, c, d);
        let (at, cs, bt, ds) = (a.mul(t), c.mul(s), b.mul(t), d.mul(s));
        let (w1, w2) = (at.add(cs), bt.add(ds));
        let (inv1, inv2) = (V::splat(1.0).div(w1), V::splat(1.0).div(w2));
        let d1 = det.mul(inv1);
        let d2 = zero.sub(det).mul(inv2);
        let (_, (g1, g1m)) = log1p_g16::<V, F32>(
            (d1, zero.sub(d1)),
            (two.mul(at).mul(inv1), two.mul(cs).mul(inv1)),
        );
        let (_, (g2, g2m)) = log1p_g16::<V, F32>(
            (d2, zero.sub(d2)),
            (two.mul(bt).mul(inv2), two.mul(ds).mul(inv2)),
        );
        // a zero weight (both elements 0) contributes nothing (its d is 0/0)
        let term1 = V::select(w1.eq(zero), zero, w1.mul(g1.add(g1m)));
        let term2 = V::select(w2.eq(zero), zero, w2.mul(g2.add(g2m)));
        let value = term1.add(term2).div(V::splat(4.0).mul(s).mul(t));
        super::two_pass::store_half(value, h, out);
        min_p = min_p.min_ignoring_nan(a).min_ignoring_nan(b);
        min_q = min_q.min_ignoring_nan(c).min_ignoring_nan(d);
    }
    Lowest {
        p: min_p.min_lane(),
        q: min_q.min_lane(),
    }
}

#[inline(always)]
fn group_body<V: F8, T: Real, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    normalize: bool,
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    if normalize && p.len() == 1 && q.len() == 1 {
        return super::plogq::one_element_rows::<V>(&p[0], &q[0], out, regular);
    }
    if normalize && p.len() == 2 && q.len() == 2 {
        return if T::IS_F32 && U::IS_F32 {
            js_of_two::<V, true>(p, q, out, regular)
        } else {
            js_of_two::<V, false>(p, q, out, regular)
        };
    }
    if out.len() <= GROUP / 2 {
        group_halves::<V, T, U, 1>(p, q, normalize, out, regular)
    } else {
        group_halves::<V, T, U, 2>(p, q, normalize, out, regular)
    }
}

/// The general group form over the first `H` halves of eight lanes (`H = 1`: at most
/// eight rows, as `kl::group_halves`). Lanes never interact: a row's value does not
/// depend on `H`.
#[inline(always)]
fn group_halves<V: F8, T: Real, U: Real, const H: usize>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    normalize: bool,
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let zero = V::splat(0.0);
    let totals = GroupTotals::<V>::of::<_, H>(p, q);
    let lanes: [Lanes<V>; 2] = if normalize {
        std::array::from_fn(|h| group_lanes(&totals, h.min(H - 1)))
    } else {
        [Lanes::splat(&Consts::RAW); 2]
    };
    if normalize {
        for h in 0..H {
            mark_irregular::<V>(totals.regular(h), h, regular);
        }
    }
    let f32_data = T::IS_F32 && U::IS_F32;
    let mut acc = if f32_data {
        group_terms::<V, true, H>(p, q, &lanes)
    } else {
        group_terms::<V, false, H>(p, q, &lanes)
    };
    if f32_data {
        let limit = V::splat(F32_MIN_NORMAL);
        if V::any(V::or(
            acc[0].min_pos.lt(limit),
            acc[H - 1].min_pos.lt(limit),
        )) {
            let redo = group_terms::<V, false, H>(p, q, &lanes);
            for (a, r) in acc.iter_mut().zip(redo).take(H) {
                let bad = a.min_pos.lt(limit);
                a.t = V::select(bad, r.t, a.t);
                a.overflow = V::select(bad, r.overflow, a.overflow);
            }
        }
    }
    for h in 0..H {
        let (a, k) = (&acc[h], &lanes[h]);
        mark_irregular::<V>(a.overflow.eq(zero), h, regular);
        let value = a.t.div(V::splat(4.0).mul(k.sp).mul(k.sq));
        super::two_pass::store_half(value, h, out);
    }
    totals.lowest()
}

/// JS's pass-2 constants of half `h`'s rows from pass 1 (normalised).
#[inline(always)]
pub(super) fn group_lanes<V: F8>(t: &GroupTotals<V>, h: usize) -> Lanes<V> {
    lanes_from_sums(t.sp[h], t.sq[h], t.cp[h], t.cq[h])
}

/// [`consts`] of eight rows, lane-wise (meaningless for rows that are not regular).
#[inline(always)]
fn lanes_from_sums<V: F8>(sp: V, sq: V, sp_lo: V, sq_lo: V) -> Lanes<V> {
    // x = m·2^e with m ∈ [1, 2) from the bits; then 2^−e = m/x exactly
    let mp = sp
        .bits_and(0x000f_ffff_ffff_ffff)
        .bits_or(0x3ff0_0000_0000_0000);
    let mq = sq
        .bits_and(0x000f_ffff_ffff_ffff)
        .bits_or(0x3ff0_0000_0000_0000);
    let (scale_p, scale_q) = (mp.div(sp), mq.div(sq));
    Lanes {
        scale_p,
        scale_q,
        sp: mp,
        sq: mq,
        sp_lo: sp_lo.mul(scale_p),
        sq_lo: sq_lo.mul(scale_q),
    }
}

/// Pass 2 of a vertical group.
#[inline(always)]
fn group_terms<V: F8, const F32: bool, const H: usize>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    lanes: &[Lanes<V>; 2],
) -> [Acc<V>; 2] {
    let mut acc = [Acc::<V>::new(); 2];
    let steps = p.len().min(q.len());
    for c in 0..steps {
        let a = (half::<V>(&p[c], 0), half::<V>(&p[c], H - 1));
        let b = (half::<V>(&q[c], 0), half::<V>(&q[c], H - 1));
        if H == 1 {
            step_half::<V, F32>(&mut acc[0], a.0, b.0, &lanes[0]);
        } else {
            step::<V, F32, false>(&mut acc, a, b, lanes);
        }
    }
    acc
}

crate::simd::multiversion! {
    /// [`group`]'s exact form (every row but the normalised float32 rows [`group`] sends to
    /// [`js_f32::group`] first).
    pub fn group_of<T: Real, U: Real>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], normalize: bool, out: &mut [f64], regular: &mut [bool]) -> Lowest = group_body;
}

/// Normalised float32 rows at least this long take [`js_f32::group`] (the logarithms'
/// form, the φ form second for the rows it leaves); shorter rows take the φ form from
/// [`F32_PHI_FROM`] (rows of two and three their closed forms). The logarithms' bound
/// keeps fewer short rows than KL's (uniform random rows: 33% of groups of sixteen keep
/// every row at C = 10, 92% at C = 30), and a group with one row left pays for two forms.
/// Measured ((N, C) float32, N·C = 10^7, one thread, ms a call, exact → logarithms for
/// every row from C = 3): C = 3 46 → 94, C = 5 41 → 74, C = 10 41 → 59,
/// C = 16 42 → 47, C = 20 44 → 39–42, C = 24 43–46 → 31–34, C = 30 43–45 → 33,
/// C = 100 45 → 29–31. Then (2026-12-07, both builds in one process, uniform rows, φ →
/// logarithms with φ second): C = 20 36.1 → 40.6, 21 36.2 → 36.5–38.9, 22 36.0–36.2 →
/// 35.9–36.4, 23 35.8 → 34.3, 24 35.6 → 31.8, 30 35.1 → 33.7, 100 34.7 → 27.9 — but
/// for distributions within ~1% of each other (which the logarithms' bound leaves) φ
/// alone takes half the time of both (C = 30 35.0 against 59.9). Tried and rejected
/// (2026-12-06): the exact form on float32 tiles for the short rows (no widening pass
/// into the engine's tile; the kernel widens each value as it loads it, in both passes)
/// was slower — one thread, minima of three alternated rounds, C = 3 63.1 → 65.1 ms, C = 8
/// 57.9 → 63.1, C = 10 61.5 → 65.1.
pub const F32_FAST_GROUP_FROM: usize = 22;

/// Normalised float32 rows of this many elements up to [`F32_FAST_GROUP_FROM`] take the φ
/// form ([`super::js_phi_f32`]: one float32 function of d per element instead of two
/// f64-assembled logarithms), the exact group form for the rows it leaves.
pub const F32_PHI_FROM: usize = 4;

/// Whether normalised rows of `len` elements of p (element type T) and q (U) take the φ
/// form ([`F32_PHI_FROM`]).
pub fn phi_form<T: Real, U: Real>(normalize: bool, len: usize) -> bool {
    normalize && T::IS_F32 && U::IS_F32 && (F32_PHI_FROM..F32_FAST_GROUP_FROM).contains(&len)
}

/// The row length from which [`group`] takes [`js_f32::group`] for rows of p (element type
/// T) and q (U), or None where it never does — one decision for the kernel's routing and
/// the engine's grouping of ragged rows (`RowMeasure::own_length_up_to`: rows shorter than
/// it, those of two and three elements with their closed forms among them, share a group
/// only with rows of their own length).
pub fn fast_group_from<T: Real, U: Real>(normalize: bool) -> Option<usize> {
    (normalize && T::IS_F32 && U::IS_F32).then_some(F32_FAST_GROUP_FROM)
}

/// Divergences of up to sixteen short rows, transposed (`p[c][j]`: element `c` of row
/// `j`, zero-padded); rows left `regular[j] == false` must be redone with [`row`].
/// Normalised rows of float32 elements on both sides take [`super::js_pairs_f32`] (two
/// elements), [`super::js_triples_f32`] (three), [`super::js_phi_f32`] (from
/// [`F32_PHI_FROM`]) or, from [`F32_FAST_GROUP_FROM`] elements, [`js_f32::group`] (the fast
/// forms, the exact form for the rows they leave).
pub fn group<T: Real, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    normalize: bool,
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let f32_rows = normalize && T::IS_F32 && U::IS_F32 && q.len() == p.len();
    if f32_rows && p.len() == 2 {
        return super::f32_tiles::group::<JsPairs>(p, q, out, regular);
    }
    if f32_rows && p.len() == 3 {
        return super::f32_tiles::group::<JsTriples>(p, q, out, regular);
    }
    let fast = fast_group_from::<T, U>(normalize).is_some_and(|from| p.len() >= from);
    if fast && q.len() == p.len() {
        return js_f32::group(p, q, out, regular);
    }
    if f32_rows && phi_form::<T, U>(normalize, p.len()) {
        return super::f32_tiles::group::<JsPhi>(p, q, out, regular);
    }
    group_of::<T, U>(p, q, normalize, out, regular)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{
        check_rows_alone_match_full_groups, check_two_element_closed_form, close, positive,
        through_groups,
    };

    #[test]
    fn a_row_alone_equals_the_row_in_a_full_group() {
        check_rows_alone_match_full_groups(|f32_data, normalize, pt, qt, out, regular| {
            if f32_data {
                group::<f32, f32>(pt, qt, normalize, out, regular);
            } else {
                group::<f64, f64>(pt, qt, normalize, out, regular);
            }
        });
    }

    #[test]
    fn two_element_rows_take_the_closed_form() {
        check_two_element_closed_form(
            |rows| {
                through_groups(rows, |pt, qt, out, regular| {
                    group::<f64, f64>(pt, qt, true, out, regular)
                })
            },
            |rows| {
                through_groups(rows, |pt, qt, out, regular| {
                    group::<f32, f32>(pt, qt, true, out, regular)
                })
            },
            |p, q| row(&p, &q, true).0,
        );
    }

    fn check(p: &[f64], q: &[f64], normalize: bool) {
        let (got, _) = row(p, q, normalize);
        let want = reference(p, q, normalize);
        assert!(
            close(got, want, 1e-12),
            "{got:e} vs {want:e} for {p:?} {q:?}"
        );
        if p.len() <= 64 {
            let mut pt = vec![[0.0; GROUP]; p.len()];
            let mut qt = vec![[0.0; GROUP]; p.len()];
            for c in 0..p.len() {
                pt[c][9] = p[c];
                qt[c][9] = q[c];
            }
            let (mut out, mut regular) = ([0.0; 10], [true; 10]);
            group::<f64, f64>(&pt, &qt, normalize, &mut out, &mut regular);
            let v = if regular[9] {
                out[9]
            } else {
                careful_row(p, q, normalize)
            };
            assert!(close(v, want, 1e-12), "group {v:e} vs {want:e}");
        }
    }

    #[test]
    fn matches_the_reference_on_every_tail_length() {
        for len in 1..=67 {
            let p = positive(len, len as u64);
            let q = positive(len, 900 + len as u64);
            if p.iter().sum::<f64>() > 0.0 && q.iter().sum::<f64>() > 0.0 {
                check(&p, &q, true);
            }
            check(&p, &q, false);
        }
    }

    #[test]
    fn identical_rows_give_exactly_zero_and_values_are_known() {
        let p = positive(5000, 3);
        assert_eq!(row(&p, &p, true).0, 0.0);
        assert_eq!(row(&p, &p, false).0, 0.0);
        let p2: Vec<f64> = p.iter().map(|v| v * 0.125).collect();
        assert_eq!(row(&p, &p2, true).0, 0.0);
        assert_eq!(
            row(&[1.0, 0.0], &[0.0, 1.0], true).0,
            std::f64::consts::LN_2
        );
        // the table: mpmath 0.033822…
        let (js, _) = row(&[1e308, 1e308], &[1.0, 3.0], true);
        let want = 0.033_822_075_568_605_23; // mpmath
        assert!(((js - want) / want).abs() < 1e-14, "{js}");
        assert!(row(&[1.0, f64::NAN], &[1.0, 1.0], true).0.is_nan());
        assert!(row(&[0.0, 0.0], &[1.0, 1.0], true).0.is_nan());
    }

    /// The one-pass form of long rows: taken where the totals agree (normalised rows,
    /// with empty bins, and identical rows: exactly 0), within rounding of the two-pass
    /// value for float64 data and the contract for float32 data (f32 logarithms); refused
    /// where the totals differ (counts of another size, a scaled copy), so pass 2 runs.
    #[test]
    fn one_pass_form_agrees_with_two_passes_or_refuses() {
        fn normalise(x: Vec<f64>) -> Vec<f64> {
            let s = sums(&x, &x);
            let total = s.sp + s.sp_lo;
            x.iter().map(|v| v / total).collect()
        }
        let to32 = |x: &[f64]| x.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let to64 = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        for n in [40_000usize, 70_001] {
            let shifted = |seed: u64| positive(n, seed).iter().map(|v| v + 1e-3).collect();
            let (p, q) = (
                normalise(shifted(n as u64)),
                normalise(shifted(3 + n as u64)),
            );
            let mut sparse = q.clone();
            for v in sparse.iter_mut().step_by(7) {
                *v = 0.0;
            }
            let sparse = normalise(sparse);
            for (a, b) in [(&p, &q), (&sparse, &p), (&p, &sparse)] {
                let got = finish_one_pass(&terms_one_pass(a, b, true), false);
                let want = row(a, b, true).0;
                let got = got.expect("normalised float64 rows take one pass");
                assert!(close(got, want, 1e-14), "n={n}: {got:e} vs {want:e}");
                let (a32, b32) = (to32(a), to32(b));
                let got = finish_one_pass(&terms_one_pass(&a32, &b32, true), true);
                let got = got.expect("float32 rows normalised in float64 take one pass");
                let want = row(&to64(&a32), &to64(&b32), true).0;
                assert!(close(got, want, 1e-6), "f32 n={n}: {got:e} vs {want:e}");
            }
            // totals a little apart: the first-order correction is then 1e-10 (float64)
            // or 5e-7 (float32) of the value, which the comparisons would see if it were off
            let q_off: Vec<f64> = q.iter().map(|v| v * (1.0 + 1e-9)).collect();
            let got = finish_one_pass(&terms_one_pass(&p, &q_off, true), false);
            let want = row(&p, &q_off, true).0;
            let got = got.expect("totals 1e-9 apart take one pass");
            assert!(close(got, want, 1e-14), "n={n}: {got:e} vs {want:e}");
            let q32_off: Vec<f32> = q.iter().map(|v| (v * (1.0 + 1e-5)) as f32).collect();
            let got = finish_one_pass(&terms_one_pass(&to32(&p), &q32_off, true), true);
            let want = row(&to64(&to32(&p)), &to64(&q32_off), true).0;
            let got = got.expect("float32 totals 1e-5 apart take one pass");
            assert!(close(got, want, 1e-6), "f32 n={n}: {got:e} vs {want:e}");
            assert_eq!(
                finish_one_pass(&terms_one_pass(&p, &p, true), false),
                Some(0.0)
            );
            let p32 = to32(&p);
            assert_eq!(
                finish_one_pass(&terms_one_pass(&p32, &p32, true), true),
                Some(0.0)
            );
            for factor in [3.0, 0.5, 1.0 + 1e-6] {
                let other: Vec<f64> = q.iter().map(|v| v * factor).collect();
                let refused = finish_one_pass(&terms_one_pass(&p, &other, true), false);
                assert_eq!(refused, None, "factor {factor}");
            }
        }
    }

    #[test]
    fn near_equal_rows_keep_their_digits() {
        let p: Vec<f64> = positive(3000, 5).iter().map(|v| v + 0.1).collect();
        let q: Vec<f64> = p
            .iter()
            .enumerate()
            .map(|(i, a)| a * (1.0 + 1e-5 * (((i * 7919) % 1000) as f64 / 1000.0 - 0.5)))
            .collect();
        let (got, _) = row(&p, &q, true);
        // ≈ Σ M·d²/2 with |d| ≤ 2.5e-6
        assert!(got > 0.0 && got < 1e-11, "{got}");
        let long: Vec<f64> = p.iter().cycle().take(30_000).cloned().collect();
        let long_q: Vec<f64> = q.iter().cycle().take(30_000).cloned().collect();
        let (l, _) = row(&long, &long_q, true);
        assert!(((l - got) / got).abs() < 1e-12, "{l} vs {got}");
    }

    /// float32 leaves of nearly equal distributions (which the logarithms' fast form
    /// refuses) take the φ leaf: within its bound of the exact terms of the same values,
    /// on every tail length and over several leaves; leaves with a zero weight, zeros
    /// under mass and identical leaves too.
    #[test]
    fn near_equal_float32_leaves_are_within_the_phi_bound() {
        let mut differed = 0;
        for len in (1..=67).chain([255, 4096, 10_000]) {
            for spread in [1e-2, 1e-4, 1e-6, 0.0] {
                let p: Vec<f32> = positive(len, len as u64)
                    .iter()
                    .map(|v| (v + 0.01) as f32)
                    .collect();
                let mut q: Vec<f32> = p
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| a * (1.0 + spread * (((i * 7919) % 1000) as f32 / 500.0 - 1.0)))
                    .collect();
                let mut p = p;
                if len > 5 {
                    (p[3], q[3]) = (0.0, 0.0);
                    q[4] = 0.0;
                }
                let s = super::super::two_pass::sums(&p, &q);
                let k = consts(&s);
                let got = terms(&p, &q, &k, true);
                let want = terms(&p, &q, &k, false);
                assert!(!got.f32_unsafe);
                assert!(
                    (got.t - want.t).abs() <= 1.5e-7 * want.t,
                    "{len} {spread}: {} vs {}",
                    got.t,
                    want.t
                );
                differed += usize::from(got.t != want.t);
            }
        }
        assert!(differed > 100, "{differed}");
    }
}
