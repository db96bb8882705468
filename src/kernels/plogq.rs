//! Cross-entropy and entropy of a row, exact on every input.
//!
//! H(P, Q) = Σ P·ln(1/Q) with P = p/Σp, Q = q/Σq; the entropy H(P) is H(P, P), computed by
//! the same code with q = p — so `cross_entropy(p, p)` equals `entropy(p)` bit for bit.
//!
//! **Two-pass form (every row that fits in cache).** Pass 1 sums p and q and finds the
//! largest q; pass 2 adds the terms P·ln(1/Q), all ≥ 0, so nothing cancels. A term needs
//! ln Q to full relative precision: for Q ≤ ½, ln(1/Q) ≥ ln 2 and is taken as
//! `c − ln(q·2^e)`, where c = ln(Σq·2^e) ∈ [0, ln 2) and ln(q·2^e) is the logarithm of q
//! with e added to its exponent (never formed as a product, so it cannot underflow).
//! At most one element can hold Q > ½ (a dominant mass); its term is
//! P·log1p(R/q) with R the sum of the *other* q's, added up separately — never Σq − q,
//! which is where a dominant mass loses everything (`entropy([1e16, 1, 1])` is 7.6e-15,
//! and the textbook ln S − Σ x ln x / S returns 0.0 there).
//!
//! **One-pass form (rows too long for a cache: > [`crate::parallel::rows`]' medium
//! length).** H = ln Σq − Σ p ln q / Σp from one read (partials that combine by addition,
//! as the Dask adapter needs). It cancels when the result is small against |ln Σq| or
//! Σ|p ln q|/Σp, and it loses the remainder of a dominant mass below the rounding of Σq
//! (ln Σq ≈ Σ others), so the finish measures the condition (|Σp·ln Σq| + Σ|p ln q| +
//! Σp·δ')/(Σp·H), δ' the error the sums' rounding leaves in ln Σq over ε, the logs'
//! (ln Σq from the rest of the total for a dominant row; [`finish_one_pass_within`]), and
//! accepts the result only below [`ONE_PASS_MAX_COND_F64`] (f64 logs: error ≲ 45u ×
//! cond) or [`ONE_PASS_MAX_COND_F32`] (native f32 logs, ≤ 8e-8 relative each: error ≲
//! 8e-8 × cond ≤ 6.4e-7). Otherwise the caller runs pass 2 over the row — paying a second read
//! only where the data need it.
//!
//! **float32 input** (DESIGN §2b) takes its logarithms in f32, sixteen lanes at once
//! ([`crate::simd::log_f32`], ≤ 1 ULP), everything else in f64 (a short-row group's
//! per-row c = ln(Σq·2^e) by the division-free [`ln_by_table`]). A block holding a
//! subnormal f32 value (outside the f32 log's domain) redoes its logs in f64.
//!
//! **Sums** are exact enough that they never limit the result: every sum runs in lanes
//! over leaves of [`super::LEAF`] elements combined pairwise (error ≲ (LEAF/16 + log₂ n)·u).
//!
//! Rows with NaN, ±inf, zero totals, or totals outside [2^−1000, 2^1000] are not
//! "regular": [`careful_row`] handles them (NaN propagates; a total out of range is
//! rescaled by an exact power of two, which leaves H unchanged).

use super::block::Block;
use super::f32_tiles::{self, FastGroupForm, TileRow};
use super::short_rows_f32::{self, ShortRows};
use super::triples_f32::Triples;
use super::two_pass::{
    flag, half, load16, log1p, mark_irregular, scaled, store_half, sums, Lowest, Sums,
    F32_MIN_NORMAL, REGULAR_MAX, REGULAR_MIN,
};
use super::{Partial, Real, GROUP};
use crate::simd::log::ln_finite;
use crate::simd::log_table::ln_by_table;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// Largest condition accepted from the one-pass form with f64 logarithms.
pub const ONE_PASS_MAX_COND_F64: f64 = 16.0;
/// Largest condition accepted from the one-pass form with native f32 logarithms.
pub const ONE_PASS_MAX_COND_F32: f64 = 8.0;
/// Rows longer than this try the one-pass form first (one read instead of two: the
/// per-element cost of pass 1 is saved where the condition allows).
pub const ONE_PASS_ROWS_ABOVE: usize = 256;
/// Largest condition accepted from the one-pass form for a row of f64 data: the logs 1
/// ULP and the sums (pairwise, see [`one_pass_sum_error`]) keep the value within
/// ≲ 3·45u·cond ≈ 3e-14 relative — the two-pass form's accuracy class.
pub const ONE_PASS_ROW_MAX_COND_F64: f64 = 3.0;
/// Error of the one-pass value per unit of condition with f64 logarithms (≲ 45u).
const ONE_PASS_LOG_ERROR_F64: f64 = 45.0 * (f64::EPSILON / 2.0);
/// The same with native f32 logarithms (≤ 8e-8 relative each).
const ONE_PASS_LOG_ERROR_F32: f64 = 8e-8;

/// Relative error bound of the one-pass sums Σp and Σq of `n` values: lane sums over
/// leaves of [`super::LEAF`] values combined pairwise, (LEAF/16 + log₂ n + 1)·u.
#[inline]
fn one_pass_sum_error(n: usize) -> f64 {
    let levels = usize::BITS - n.max(1).leading_zeros();
    (super::LEAF as f64 / 16.0 + f64::from(levels) + 1.0) * (f64::EPSILON / 2.0)
}
// ------------------------------------------------------------------------ statistics

/// One-pass partials of a (p, q) block: [`Sums`] plus Σ p·ln q and Σ|p·ln q|.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnePass {
    /// Σp, Σq, max q, min.
    pub sums: Sums,
    /// Σ p·ln q over p > 0.
    pub w: f64,
    /// Σ |p·ln q| over p > 0.
    pub a: f64,
    /// Σq less the largest q, summed without cancelling (each value that is not a running
    /// maximum, and each maximum that is overtaken, added once): what a confident row's
    /// ln Σq = ln max q + log1p(rest/max q) needs. NaN where not kept (native f32 logs,
    /// whose own rounding dwarfs Σq's).
    pub rest_q: f64,
    /// Whether some q = 0 lies under a p > 0 (then H = +inf).
    pub zero_q: bool,
    /// Whether the native f32 log met a value it cannot take (the block must be redone).
    pub f32_unsafe: bool,
}

impl Partial for OnePass {
    const EMPTY: Self = OnePass {
        sums: Sums::EMPTY,
        w: 0.0,
        a: 0.0,
        rest_q: 0.0,
        zero_q: false,
        f32_unsafe: false,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        OnePass {
            sums: self.sums.combine(o.sums),
            w: self.w + o.w,
            a: self.a + o.a,
            // the smaller maximum joins the rest
            rest_q: self.rest_q + o.rest_q + self.sums.max_q.min(o.sums.max_q),
            zero_q: self.zero_q | o.zero_q,
            f32_unsafe: self.f32_unsafe | o.f32_unsafe,
        }
    }
}

/// Pass-2 partials: the terms of the non-dominant elements, and what the dominant
/// element's term needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms {
    /// Σ P·ln(1/Q) over p > 0, the dominant element excluded.
    pub t: f64,
    /// p at the dominant element (0 if there is none).
    pub p_dom: f64,
    /// Σ q over the other elements.
    pub rest_q: f64,
    /// Whether some q = 0 lies under a p > 0.
    pub zero_q: bool,
    /// Whether a subnormal f32 value was met (redo with f64 logs).
    pub f32_unsafe: bool,
}

impl Partial for Terms {
    const EMPTY: Self = Terms {
        t: 0.0,
        p_dom: 0.0,
        rest_q: 0.0,
        zero_q: false,
        f32_unsafe: false,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        Terms {
            t: self.t + o.t,
            p_dom: self.p_dom + o.p_dom,
            rest_q: self.rest_q + o.rest_q,
            zero_q: self.zero_q | o.zero_q,
            f32_unsafe: self.f32_unsafe | o.f32_unsafe,
        }
    }
}

/// What pass 2 needs to know about a row (from its [`Sums`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Consts {
    /// 1/Σp.
    pub inv_sp: f64,
    /// e (an integer) with Σq·2^e ∈ [1, 2).
    pub e: f64,
    /// ln(Σq·2^e) ∈ [0, ln 2).
    pub c: f64,
    /// The largest q.
    pub max_q: f64,
    /// Whether the largest q is more than half of Σq (a dominant element).
    pub dominant: bool,
}

/// The constants of pass 2 from a row's pass-1 statistics (meaningful for a
/// [regular](Sums::regular) row).
#[inline]
pub fn consts(s: &Sums) -> Consts {
    let e = 1023 - ((s.sq.to_bits() >> 52) & 0x7ff) as i32;
    let scale = f64::from_bits(((e + 1023) as u64) << 52);
    Consts {
        inv_sp: 1.0 / s.sp,
        e: e as f64,
        c: crate::simd::log::ln_lane(s.sq * scale),
        max_q: s.max_q,
        dominant: s.max_q > 0.5 * s.sq,
    }
}

/// The cross-entropy (nats) from a row's statistics.
#[inline]
pub fn finish(k: &Consts, t: &Terms) -> f64 {
    if t.zero_q {
        return f64::INFINITY;
    }
    let dom = if k.dominant {
        let z = t.rest_q / k.max_q;
        (t.p_dom * k.inv_sp) * log1p(crate::simd::vector::Scalar8::splat(z)).0[0]
    } else {
        0.0
    };
    t.t + dom
}

/// The one-pass value of `n` values, if its condition allows it (see the module docs);
/// `None` asks for pass 2. `f32_logs`: whether the logs were native f32.
#[inline]
pub fn finish_one_pass(o: &OnePass, f32_logs: bool, n: usize) -> Option<f64> {
    let limit = if f32_logs {
        ONE_PASS_MAX_COND_F32
    } else {
        ONE_PASS_MAX_COND_F64
    };
    finish_one_pass_within(o, limit, f32_logs, n)
}

/// [`finish_one_pass`] with the largest accepted condition given.
///
/// The condition (|Σp·ln Σq| + Σ|p ln q| + Σp·δ')/(Σp·H) bounds the value's error in
/// units of ε, the logs' error: the first two terms are what the logs' rounding scales
/// with, the third is the error of ln Σq left by the sums' rounding δ (relative,
/// [`one_pass_sum_error`]), over ε. That one decides for a confident row — a dominant
/// mass with a small remainder, H tiny — where ln Σq ≈ Σ(others) is all that separates H
/// from Σ p ln q / Σp: `entropy([1] + [1e-30]·999)` lost 1.4% before it was counted
/// (measured). With f64 logs such a row takes ln Σq = ln max q + log1p(rest/max q) from
/// [`OnePass::rest_q`] (δ' = δ·rest/max q, so it stays in one pass); with native f32 logs
/// δ' = δ/ε is ~1e-7, and only rows of H below that take pass 2.
#[inline]
pub fn finish_one_pass_within(o: &OnePass, limit: f64, f32_logs: bool, n: usize) -> Option<f64> {
    let s = &o.sums;
    if o.zero_q && s.positive_finite() {
        return Some(f64::INFINITY);
    }
    if !s.regular() || o.f32_unsafe {
        return None;
    }
    let log_error = if f32_logs {
        ONE_PASS_LOG_ERROR_F32
    } else {
        ONE_PASS_LOG_ERROR_F64
    };
    // Σq's rounding moves ln Σq by up to δ = one_pass_sum_error(n); where one q holds
    // more than half (only there can H be small: H ≥ −ln max Q) ln Σq is taken as
    // ln max q + log1p(rest/max q), whose error is δ·rest/max q ≲ δ·H instead
    let sum_error = one_pass_sum_error(n) / log_error;
    let (ln_sq, sums_term) = if s.max_q > 0.5 * s.sq && o.rest_q.is_finite() {
        let z = o.rest_q / s.max_q;
        let log1p_z = log1p(crate::simd::vector::Scalar8::splat(z)).0[0];
        (
            crate::simd::log::ln_lane(s.max_q) + log1p_z,
            s.sp * sum_error * z,
        )
    } else {
        (crate::simd::log::ln_lane(s.sq), s.sp * sum_error)
    };
    let s_ln_s = s.sp * ln_sq;
    let h = (s_ln_s - o.w) / s.sp;
    let cond = (s_ln_s.abs() + o.a + sums_term) / (s.sp * h);
    (h > 0.0 && cond <= limit).then_some(h)
}

// --------------------------------------------------------------------- lane helpers

/// ln of sixteen positive values given as two f64 halves (see [`ln16_shifted`]).
#[inline(always)]
pub(crate) fn ln16<V: F8, const F32: bool>(lo: V, hi: V) -> (V, V) {
    let zero = V::splat(0.0);
    ln16_shifted::<V, F32>(lo, hi, zero, zero)
}

/// ln(x·2^e) of sixteen positive values (two f64 halves, with their exponent shifts):
/// e is added to each value's exponent inside the logarithm, so x·2^e is never formed
/// and cannot underflow or overflow.
///
/// With `F32` (f32 data: the values must be normal f32 numbers) the reduction and the
/// polynomial run on sixteen f32 lanes: x = 2^k(1+f) with k exact, y = ln(1+f) = f + rest
/// rounded once in f32 (|y| < 0.35), and ln x = k·ln 2 + y in f64. So ln x is within
/// 8e-8 relative (y's rounding and rest's, against 1.2e-7 for an all-f32 log) and exact powers of two
/// (y = 0) give k·ln 2 to f64 precision — the entropy of a uniform f32 distribution is
/// log₂ n, not its f32 rounding.
#[inline(always)]
fn ln16_shifted<V: F8, const F32: bool>(lo: V, hi: V, e_lo: V, e_hi: V) -> (V, V) {
    if F32 {
        ln16_shifted_f32::<V>(V::F32s::from_wide(lo, hi), e_lo, e_hi)
    } else {
        (ln_shifted(lo, e_lo), ln_shifted(hi, e_hi))
    }
}

/// [`ln16_shifted`]'s float32 form on sixteen f32 lanes (normal f32 values).
#[inline(always)]
fn ln16_shifted_f32<V: F8>(x: V::F32s, e_lo: V, e_hi: V) -> (V, V) {
    let (k, f, rest) = crate::simd::log_f32::ln_parts(x);
    let ((k0, k1), (y0, y1)) = (k.widen(), f.add(rest).widen());
    let ln2 = V::splat(std::f64::consts::LN_2);
    (k0.add(e_lo).mul_add(ln2, y0), k1.add(e_hi).mul_add(ln2, y1))
}

/// ln(q·2^e) of a tile row's first `H` halves (`H = 1`: the second repeats the first):
/// the f32 form on the row's sixteen f32 lanes (a float32 tile's are loaded as they are,
/// the engine's narrowed exactly — the same values), else f64 logs of its halves.
#[inline(always)]
fn ln_tile_row<V: F8, R: TileRow, const F32: bool, const H: usize>(
    row: &R,
    e_lo: V,
    e_hi: V,
) -> (V, V) {
    if F32 {
        ln16_shifted_f32::<V>(row.lanes::<V>(), e_lo, e_hi)
    } else {
        (
            ln_shifted(row.half::<V>(0), e_lo),
            ln_shifted(row.half::<V>(H - 1), e_hi),
        )
    }
}

/// ln(x·2^e) for eight lanes (f64).
#[inline(always)]
fn ln_shifted<V: F8>(x: V, e: V) -> V {
    let (k, f, rest) = crate::simd::log::ln_finite_parts(x);
    crate::simd::log::ln_from_parts(k.add(e), f, rest)
}

/// Pass-2 lane accumulators for eight lanes.
#[derive(Clone, Copy)]
struct Acc2<V> {
    t: V,
    p_dom: V,
    rest_q: V,
    zero_q: V,
    /// The smallest q > 0 (an f32 subnormal one leaves the f32 log's domain).
    min_q: V,
}

impl<V: F8> Acc2<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        Acc2 {
            t: zero,
            p_dom: zero,
            rest_q: zero,
            zero_q: zero,
            min_q: V::splat(f64::INFINITY),
        }
    }
}

/// Totals of p below this have p scaled up in a group's pass 2 ([`Lanes::scale_p`]).
/// The group form sums p·(c − ln q') and divides by Σp at the end: for a row of total Σp
/// and value H those products total H·Σp, and they underflow into f64's subnormal range
/// where that is small — `cross_entropy([0, 5e-324, 1e-300], [1e-310, 5e-324, 0.25])` came
/// out 7e-5 off (H = 3.7e-21), its row form exact. Scaled so that Σp·2^a ∈ [1, 2), the
/// products total ≥ H; above this total they total ≥ H·2^−20, whose rounding in the
/// subnormal range (≤ 2^−1075 a term, at most 256 terms) stays below 1e-13 of H for every
/// H ≥ 1e-300 (the contract's range). Rows above it are not scaled: their bits are those
/// of the form without the scaling (a power-of-two scaling changes no rounding where
/// nothing underflows).
const SCALE_P_BELOW: f64 = 1.0 / (1u64 << 20) as f64;

/// Per-lane pass-2 constants for eight lanes.
#[derive(Clone, Copy)]
struct Lanes<V: F8> {
    /// 1/Σp.
    inv_sp: V,
    /// 2^a with Σp·2^a ∈ [1, 2) where Σp < [`SCALE_P_BELOW`], else 1: p's weight in pass 2.
    scale_p: V,
    e: V,
    c: V,
    max_q: V,
    dominant: V::Mask,
}

impl<V: F8> Lanes<V> {
    /// The constants of eight rows from their sums, lane-wise (see [`consts`]; lanes
    /// that are not regular get meaningless values, which the caller discards).
    /// With `table_log` (float32 data), c = ln m by [`ln_by_table`], without
    /// `ln_finite`'s division: within 2.3e-16 absolute (+ as much relative), against
    /// float32 terms within 8e-8 each.
    /// PERF: the finish of a group (this log and 1/Σp, each with a division, per half)
    /// was ~37% of the float32 group kernel at C = 3 in `perf` (the divisions' latency
    /// exposed at their first use). One thread, alternated with the previous wheel:
    /// (3.3·10^6, 3) float32 entropy 14.6 → 12.7 ms (minimum of five rounds), (10^6, 10)
    /// 9.9 → 8.9, cross-entropy C = 3 17.1 → 15.6; forced AVX2, where the table is looked
    /// up by gathers, C = 3 21.2 → 21.8, C = 10 13.2 → 13.5 (four rounds). Taken on every
    /// instruction set, so AVX2 and AVX-512 still agree bit for bit
    /// (`tests/test_simd_paths.py`); float64 keeps `ln_finite` (DESIGN §2b's ≤ 1 ULP).
    #[inline(always)]
    fn from_sums(sp: V, sq: V, max_q: V, table_log: bool, scaled: bool) -> Self {
        // Σq = 2^(b−1023)·m with m ∈ [1, 2): e = 1023 − b, c = ln m.
        let biased = sq
            .bits_shr52()
            .bits_and(0x7ff)
            .bits_or(0x4330_0000_0000_0000)
            .sub(V::splat(4_503_599_627_370_496.0));
        let m = sq
            .bits_and(0x000f_ffff_ffff_ffff)
            .bits_or(0x3ff0_0000_0000_0000);
        // 2^a = m_p/Σp exactly (m_p ∈ [1, 2) Σp's mantissa), only for the rare groups
        // holding a tiny total (`scaled`: a division per group otherwise)
        let one = V::splat(1.0);
        let scale_p = if scaled {
            let tiny = sp.lt(V::splat(SCALE_P_BELOW));
            let mp = sp
                .bits_and(0x000f_ffff_ffff_ffff)
                .bits_or(0x3ff0_0000_0000_0000);
            V::select(tiny, mp.div(sp), one)
        } else {
            one
        };
        Lanes {
            inv_sp: one.div(sp),
            scale_p,
            e: V::splat(1023.0).sub(biased),
            c: if table_log {
                ln_by_table(m)
            } else {
                ln_finite(m)
            },
            max_q,
            dominant: max_q.gt(V::splat(0.5).mul(sq)),
        }
    }

    #[inline(always)]
    fn splat(k: &Consts) -> Self {
        Lanes {
            inv_sp: V::splat(k.inv_sp),
            scale_p: V::splat(1.0),
            e: V::splat(k.e),
            c: V::splat(k.c),
            max_q: V::splat(k.max_q),
            dominant: V::splat(0.0).lt(V::splat(if k.dominant { 1.0 } else { 0.0 })),
        }
    }
}

/// The pass-2 work on sixteen lanes (two halves with their own constants).
#[inline(always)]
fn pass2_step<V: F8, const F32: bool>(
    acc: &mut [Acc2<V>; 2],
    p: (V, V),
    q: (V, V),
    k: &[Lanes<V>; 2],
) {
    let l = ln16_shifted::<V, F32>(q.0, q.1, k[0].e, k[1].e);
    let [a0, a1] = acc;
    pass2_half::<V, F32>(a0, p.0, q.0, l.0, &k[0]);
    pass2_half::<V, F32>(a1, p.1, q.1, l.1, &k[1]);
}

/// The pass-2 work on eight lanes, given l = ln(q·2^e).
#[inline(always)]
fn pass2_half<V: F8, const F32: bool>(a: &mut Acc2<V>, p: V, q: V, l: V, k: &Lanes<V>) {
    let zero = V::splat(0.0);
    let is_dom = V::and(k.dominant, q.eq(k.max_q));
    let term = p.mul(k.inv_sp).mul(k.c.sub(l));
    let skip = V::or(is_dom, p.eq(zero));
    a.t = a.t.add(V::select(skip, zero, term));
    a.p_dom = a.p_dom.add(V::select(is_dom, p, zero));
    a.rest_q = a.rest_q.add(V::select(is_dom, zero, q));
    a.zero_q = a
        .zero_q
        .max_ignoring_nan(flag(V::and(q.eq(zero), p.gt(zero))));
    if F32 {
        a.min_q = a
            .min_q
            .min_ignoring_nan(V::select(q.gt(zero), q, V::splat(f64::INFINITY)));
    }
}

// ------------------------------------------------------------ horizontal (one row)

#[inline(always)]
fn terms_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], k: &Consts) -> Terms {
    let t = terms_with::<V, T, U>(p, q, k, U::IS_F32);
    if t.f32_unsafe {
        terms_with::<V, T, U>(p, q, k, false)
    } else {
        t
    }
}

#[inline(always)]
fn terms_with<V: F8, T: Real, U: Real>(p: &[T], q: &[U], k: &Consts, f32_logs: bool) -> Terms {
    let n = p.len().min(q.len());
    let lanes = [Lanes::<V>::splat(k), Lanes::<V>::splat(k)];
    super::pairwise_leaves!(n, |start, end| {
        let mut acc = [Acc2::<V>::new(); 2];
        let mut i = start;
        while i < end {
            let a = load16::<V, T>(&p[..end], i);
            let b = load16::<V, U>(&q[..end], i);
            if f32_logs {
                pass2_step::<V, true>(&mut acc, a, b, &lanes);
            } else {
                pass2_step::<V, false>(&mut acc, a, b, &lanes);
            }
            i += 16;
        }
        let min_q = acc[0].min_q.min_ignoring_nan(acc[1].min_q).min_lane();
        Terms {
            t: acc[0].t.add(acc[1].t).sum_lanes(),
            p_dom: acc[0].p_dom.add(acc[1].p_dom).sum_lanes(),
            rest_q: acc[0].rest_q.add(acc[1].rest_q).sum_lanes(),
            zero_q: acc[0].zero_q.max_ignoring_nan(acc[1].zero_q).max_lane() > 0.0,
            f32_unsafe: f32_logs && min_q < F32_MIN_NORMAL,
        }
    })
}

crate::simd::multiversion! {
    /// Pass 2 over a row (or block) of a regular row with constants `k`.
    pub fn terms<T: Real, U: Real>(p: &[T], q: &[U], k: &Consts) -> Terms = terms_body;
}

#[inline(always)]
fn one_pass_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> OnePass {
    one_pass_logs_body::<V, T, U>(p, q, true)
}

/// Whether `q` is `p` itself (entropy): then q's statistics are p's.
#[inline(always)]
pub(crate) fn same_data<T, U>(p: &[T], q: &[U]) -> bool {
    std::mem::size_of::<T>() == std::mem::size_of::<U>()
        && std::ptr::eq(p.as_ptr().cast::<u8>(), q.as_ptr().cast::<u8>())
        && p.len() == q.len()
}

/// One-pass lane accumulators for eight lanes (one half of a sixteen-element step).
/// Plain fields, not arrays indexed in the loop: LLVM keeps them in registers (arrays of
/// vectors were spilled to the stack, measured 1.6× slower).
#[derive(Clone, Copy)]
struct Acc1<V> {
    sp: V,
    sq: V,
    max_q: V,
    /// Σq less the lane's largest q (see [`OnePass::rest_q`]).
    rest_q: V,
    min_p: V,
    min_q: V,
    w: V,
    a: V,
    zero_q: V,
    /// The smallest q > 0 less one ULP (the f32 log's domain check).
    min_pos_q: V,
}

impl<V: F8> Acc1<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        Acc1 {
            sp: zero,
            sq: zero,
            max_q: zero,
            rest_q: zero,
            min_p: zero,
            min_q: zero,
            w: zero,
            a: zero,
            zero_q: zero,
            min_pos_q: V::splat(f64::INFINITY),
        }
    }

    /// Adds eight (p, q) lanes with l = ln q. The fast logs give a finite value at q = 0,
    /// so p = 0 contributes 0·l = 0 without a select; a non-finite input makes a total
    /// non-finite and the block is redone by the careful path.
    #[inline(always)]
    fn add<const F32: bool, const SAME: bool>(&mut self, p: V, q: V, l: V) {
        let term = p.mul(l);
        self.sp = self.sp.add(p);
        self.w = self.w.add(term);
        self.a = self.a.add(term.bits_and(0x7fff_ffff_ffff_ffff));
        // of the running maximum and q, the smaller joins the rest, the larger stays
        self.rest_q = self.rest_q.add(self.max_q.min_ignoring_nan(q));
        self.max_q = self.max_q.max_ignoring_nan(q);
        self.min_p = self.min_p.min_ignoring_nan(p);
        if !SAME {
            let zero = V::splat(0.0);
            self.sq = self.sq.add(q);
            self.min_q = self.min_q.min_ignoring_nan(q);
            self.zero_q = self
                .zero_q
                .max_ignoring_nan(flag(V::and(q.eq(zero), p.gt(zero))));
        }
        if F32 {
            // q − 1 ULP in the bits: +0 becomes NaN (ignored by the min), so this is the
            // smallest positive q, one ULP low
            self.min_pos_q = self.min_pos_q.min_ignoring_nan(q.bits_add(u64::MAX));
        }
    }

    /// The partials of a leaf from its merged lanes (`SAME`: q is p, so q's totals and
    /// minimum are p's).
    #[inline(always)]
    fn into_one_pass<const SAME: bool>(self, f32_unsafe: bool) -> OnePass {
        let (sq, min_q) = if SAME {
            (self.sp, self.min_p)
        } else {
            (self.sq, self.min_q)
        };
        // the rest of the leaf: the lanes' rests and every lane maximum but one largest
        let max_q = self.max_q.max_lane();
        let mut rest_q = self.rest_q.sum_lanes();
        let mut largest_seen = false;
        for m in self.max_q.to_array() {
            if m == max_q && !largest_seen {
                largest_seen = true;
            } else {
                rest_q += m;
            }
        }
        OnePass {
            sums: Sums {
                sp: self.sp.sum_lanes(),
                sq: sq.sum_lanes(),
                sp_lo: 0.0,
                sq_lo: 0.0,
                max_q,
                min: Lowest {
                    p: self.min_p.min_lane(),
                    q: min_q.min_lane(),
                },
            },
            w: self.w.sum_lanes(),
            a: self.a.sum_lanes(),
            rest_q,
            zero_q: self.zero_q.max_lane() > 0.0,
            f32_unsafe,
        }
    }

    #[inline(always)]
    fn merge(self, o: Self) -> Self {
        Acc1 {
            sp: self.sp.add(o.sp),
            sq: self.sq.add(o.sq),
            max_q: self.max_q.max_ignoring_nan(o.max_q),
            rest_q: self
                .rest_q
                .add(o.rest_q)
                .add(self.max_q.min_ignoring_nan(o.max_q)),
            min_p: self.min_p.min_ignoring_nan(o.min_p),
            min_q: self.min_q.min_ignoring_nan(o.min_q),
            w: self.w.add(o.w),
            a: self.a.add(o.a),
            zero_q: self.zero_q.max_ignoring_nan(o.zero_q),
            min_pos_q: self.min_pos_q.min_ignoring_nan(o.min_pos_q),
        }
    }
}

#[inline(always)]
fn one_pass_with<V: F8, T: Real, U: Real, const F32: bool, const SAME: bool>(
    p: &[T],
    q: &[U],
) -> OnePass {
    let n = p.len().min(q.len());
    super::pairwise_leaves!(n, |start, end| {
        let (mut lo, mut hi) = (Acc1::<V>::new(), Acc1::<V>::new());
        let mut i = start;
        while i < end {
            let (p0, p1) = load16::<V, T>(&p[..end], i);
            let (q0, q1) = if SAME {
                (p0, p1)
            } else {
                load16::<V, U>(&q[..end], i)
            };
            let (l0, l1) = ln16::<V, F32>(q0, q1);
            lo.add::<F32, SAME>(p0, q0, l0);
            hi.add::<F32, SAME>(p1, q1, l1);
            i += 16;
        }
        let acc = lo.merge(hi);
        let f32_unsafe = F32 && acc.min_pos_q.min_lane() < F32_MIN_NORMAL_LESS_ONE_ULP;
        acc.into_one_pass::<SAME>(f32_unsafe)
    })
}

/// [`one_pass_with`] for f32 p and q, sixteen lanes read and logged in f32: ln q from
/// [`crate::simd::log_f32::ln_fast`] (≤ 7.9e-8 relative), widened once; the products
/// p·ln q, Σp, Σq and Σ p·ln q run in f64. What only decides (the largest q, the
/// condition estimate Σ|p·ln q|, the domain and sign checks) runs in f32, sixteen lanes
/// per instruction, and is carried across leaves instead of being reduced per leaf.
/// Σ|p·ln q| to ~1e-6 is plenty for a condition bound (an f32 overflow there makes it
/// +inf, which only sends the block to pass 2); for entropy (q = p) it is not summed at
/// all but bounded from Σ p·ln p and the largest p ([`abs_entropy_terms_bound`]).
///
/// Domain and sign are one minimum: over the bits of every q (and p) less one, +0 and −0
/// become NaN (ignored) and anything negative or subnormal falls below the smallest
/// normal f32; such a block is redone with f64 logs, which also reports the exact lowest
/// values. A block that passes has min(0, lowest) = 0.
#[inline(always)]
fn one_pass_native_f32<V: F8, const SAME: bool>(p: &[f32], q: &[f32]) -> OnePass {
    type S<V> = <V as F8>::F32s;
    let n = p.len().min(q.len());
    let zero = V::splat(0.0);
    let zero32 = S::<V>::splat(0.0);
    // The decisions are carried across leaves in vectors; only Σp, Σq and Σ p·ln q, the
    // value's sums, are combined leaf by leaf (pairwise).
    let (mut abs_terms0, mut abs_terms1) = (zero, zero);
    let mut max_q = zero32;
    let mut lowest_bits = S::<V>::splat(f32::INFINITY);
    let mut zero_q = zero32.lt(zero32);
    let value_sums = super::pairwise_leaves!(n, |start, end| {
        let (mut sp0, mut sp1, mut sq0, mut sq1) = (zero, zero, zero, zero);
        let (mut w0, mut w1) = (zero, zero);
        let mut abs_terms = zero32;
        let mut i = start;
        while i < end {
            let pv = load16_f32::<S<V>>(&p[..end], i);
            let qv = if SAME {
                pv
            } else {
                load16_f32::<S<V>>(&q[..end], i)
            };
            let l = crate::simd::log_f32::ln_fast(qv);
            let ((l0, l1), (p0, p1)) = (l.widen(), pv.widen());
            w0 = p0.mul_add(l0, w0);
            w1 = p1.mul_add(l1, w1);
            sp0 = sp0.add(p0);
            sp1 = sp1.add(p1);
            if !SAME {
                abs_terms = abs_terms.add(pv.mul(l).bits_and(0x7fff_ffff));
            }
            max_q = max_q.max_ignoring_nan(qv);
            lowest_bits = lowest_bits.min_ignoring_nan(qv.bits_add(u32::MAX));
            if !SAME {
                let (q0, q1) = qv.widen();
                sq0 = sq0.add(q0);
                sq1 = sq1.add(q1);
                lowest_bits = lowest_bits.min_ignoring_nan(pv.bits_add(u32::MAX));
                zero_q = S::<V>::or(zero_q, S::<V>::and(qv.eq(zero32), pv.gt(zero32)));
            }
            i += 16;
        }
        // sixteen f32 steps per lane at most: Σ|p·ln q| to ~1e-6
        let (a0, a1) = abs_terms.widen();
        abs_terms0 = abs_terms0.add(a0);
        abs_terms1 = abs_terms1.add(a1);
        let sp = sp0.add(sp1).sum_lanes();
        ValueSums {
            sp,
            sq: if SAME { sp } else { sq0.add(sq1).sum_lanes() },
            w: w0.add(w1).sum_lanes(),
        }
    });
    let max_q = max_q
        .to_array()
        .iter()
        .fold(0.0f32, |m, &x| if x > m { x } else { m });
    let lowest = lowest_bits.min_lane();
    OnePass {
        sums: Sums {
            sp: value_sums.sp,
            sq: value_sums.sq,
            sp_lo: 0.0,
            sq_lo: 0.0,
            max_q: max_q as f64,
            min: Lowest { p: 0.0, q: 0.0 },
        },
        w: value_sums.w,
        a: if SAME {
            abs_entropy_terms_bound(value_sums.w, value_sums.sp, max_q as f64)
        } else {
            abs_terms0.add(abs_terms1).sum_lanes()
        },
        rest_q: f64::NAN,
        zero_q: S::<V>::any(zero_q),
        f32_unsafe: (lowest as f64) < F32_MIN_NORMAL_LESS_ONE_ULP,
    }
}

/// Σ|x·ln x| of a block of entropy terms from w = Σ x·ln x, Σx and the largest x, as
/// the condition estimate needs it: exactly −w when no x exceeds 1 (every term ≤ 0), else
/// the upper bound −w + 2·ln(max)·Σx (the positive terms, x > 1, are at most
/// x·ln(max) each). An upper bound only makes the one-pass form more cautious.
#[inline]
fn abs_entropy_terms_bound(w: f64, sum: f64, max: f64) -> f64 {
    if max <= 1.0 {
        -w
    } else {
        -w + 2.0 * max.ln() * sum
    }
}

/// Σp, Σq and Σ p·ln q of a leaf: the sums [`one_pass_native_f32`] combines pairwise.
#[derive(Clone, Copy)]
struct ValueSums {
    sp: f64,
    sq: f64,
    w: f64,
}

impl Partial for ValueSums {
    const EMPTY: Self = ValueSums {
        sp: 0.0,
        sq: 0.0,
        w: 0.0,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        ValueSums {
            sp: self.sp + o.sp,
            sq: self.sq + o.sq,
            w: self.w + o.w,
        }
    }
}

/// Sixteen f32 at `i` (zero-padded past the end), prefetching ahead like [`F8::load`].
#[inline(always)]
pub(crate) fn load16_f32<S: crate::simd::vector_f32::F16>(x: &[f32], i: usize) -> S {
    match x.get(i..i + 16) {
        Some(block) => {
            crate::simd::prefetch(block.as_ptr().wrapping_add(crate::simd::PREFETCH_BYTES / 4));
            S::load(block.try_into().expect("16"))
        }
        None => S::load_padded(&x[i.min(x.len())..]),
    }
}

/// The f64 value one ULP below the smallest normal f32 (see [`Acc1::add`]).
const F32_MIN_NORMAL_LESS_ONE_ULP: f64 = {
    // f64::from_bits is const; the subtraction of one ULP mirrors `bits_add(u64::MAX)`
    f64::from_bits(F32_MIN_NORMAL.to_bits() - 1)
};

crate::simd::multiversion! {
    /// The one-pass partials of a block (long rows; see the module docs).
    pub fn one_pass<T: Real, U: Real>(p: &[T], q: &[U]) -> OnePass = one_pass_body;
}

/// The one-pass partials with f64 logs, or f32 ones where `f32_logs` and q is f32
/// (redone with f64 logs where a subnormal f32 value is met).
#[inline(always)]
fn one_pass_logs_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass {
    let same = same_data(p, q);
    if let (true, Some(p32), Some(q32)) = (f32_logs, T::as_f32(p), U::as_f32(q)) {
        let o = if same {
            one_pass_native_f32::<V, true>(p32, q32)
        } else {
            one_pass_native_f32::<V, false>(p32, q32)
        };
        if !o.f32_unsafe {
            return o;
        }
    } else if f32_logs && U::IS_F32 {
        let o = if same {
            one_pass_with::<V, T, U, true, true>(p, q)
        } else {
            one_pass_with::<V, T, U, true, false>(p, q)
        };
        if !o.f32_unsafe {
            return o;
        }
    }
    if same {
        one_pass_with::<V, T, U, false, true>(p, q)
    } else {
        one_pass_with::<V, T, U, false, false>(p, q)
    }
}

crate::simd::multiversion! {
    /// [`one_pass`] with the choice of logarithm made by the caller (`f32_logs` has an
    /// effect for f32 `q` only).
    pub fn one_pass_with_logs<T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass = one_pass_logs_body;
}

/// The cross-entropy (nats) of one row given as slices, by the two-pass form; rows that
/// are not regular go to [`careful_row`]. Returns the value and the [`Lowest`] inputs
/// (negative: an error the caller reports).
pub fn row<T: Real, U: Real>(p: &[T], q: &[U]) -> (f64, Lowest) {
    if p.len().min(q.len()) > ONE_PASS_ROWS_ABOVE {
        let o = one_pass(p, q);
        let limit = if U::IS_F32 {
            ONE_PASS_MAX_COND_F32
        } else {
            ONE_PASS_ROW_MAX_COND_F64
        };
        if let Some(v) = finish_one_pass_within(&o, limit, U::IS_F32, p.len().min(q.len())) {
            return (v, o.sums.min);
        }
    }
    let s = sums(p, q);
    if !s.regular() {
        return (careful_row(p, q), s.min);
    }
    let k = consts(&s);
    (finish(&k, &terms(p, q, &k)), s.min)
}

/// The cross-entropy of a row that is not regular (see the module docs), by plain
/// scalar code: rare rows, so simplicity beats speed here.
pub fn careful_row<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    let n = p.len().min(q.len());
    if n == 0 {
        return 0.0;
    }
    let (p, q) = (&p[..n], &q[..n]);
    let mut any_nan = false;
    let mut any_inf = false;
    let (mut max_p, mut max_q) = (0.0f64, 0.0f64);
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.to_f64(), b.to_f64());
        any_nan |= a.is_nan() || b.is_nan();
        any_inf |= a.is_infinite() || b.is_infinite();
        max_p = max_p.max(a);
        max_q = max_q.max(b);
    }
    if any_nan || any_inf || max_p <= 0.0 || max_q <= 0.0 {
        // NaN propagates; an infinite mass or a zero total has no normalised form.
        return f64::NAN;
    }
    let (ps, qs) = (scaled(p, max_p), scaled(q, max_q));
    let s = sums(&ps, &qs);
    if !s.regular() {
        return f64::NAN;
    }
    let k = consts(&s);
    finish(&k, &terms(&ps, &qs, &k))
}

/// Scalar reference: the two-pass form in plain f64 with `f64::ln` and `f64::ln_1p`
/// (for tests: the vector paths must agree with it to rounding).
pub fn reference<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    let p: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
    let q: Vec<f64> = q.iter().map(|v| v.to_f64()).collect();
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let max_q = q.iter().cloned().fold(0.0, f64::max);
    let dom = q.iter().position(|&v| v == max_q && v > 0.5 * sq);
    let mut h = 0.0;
    for (i, (&a, &b)) in p.iter().zip(&q).enumerate() {
        if a == 0.0 {
            continue;
        }
        if b == 0.0 {
            return f64::INFINITY;
        }
        if a / sp == 0.0 {
            continue; // an underflowing weight: the term is below every other's rounding
        }
        h += if Some(i) == dom {
            let rest: f64 = q
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &v)| v)
                .sum();
            (a / sp) * (rest / b).ln_1p()
        } else if (sq / b).is_finite() {
            (a / sp) * (sq / b).ln()
        } else {
            (a / sp) * (sq.ln() - b.ln())
        };
    }
    h
}

// -------------------------------------------------------- vertical (16 short rows)

/// Below this R/q (the other elements' mass over the dominant one's), the dominant term
/// P·ln(1 + R/q) takes the exact log1p form; above it `c − ln(q·2^e)` is accurate enough:
/// its absolute error is ≲ 2u·(|c| + |ln(q·2^e)|) ≤ 3u while ln(1 + R/q) ≥ ln(17/16) =
/// 0.06, so the term keeps ≤ 50u relative — and every term is ≥ 0, so the sum does too.
const DOMINANT_EXACT_BELOW: f64 = 1.0 / 16.0;

/// Cross-entropies of up to [`GROUP`] short rows at once, lane = row: `p[c][j]` is
/// element `c` of row `j`, rows shorter than `p.len()` zero-padded (zeros change no
/// statistic). Writes `out[j]` for the first `out.len()` rows and returns the smallest
/// value seen (negative: an input error). Rows that are not regular are left to the
/// caller (`regular[j] == false`): it runs [`careful_row`] on them.
///
/// `q` may be `p` itself (the same slice: entropy), which skips q's own statistics.
/// Per element the work is one logarithm and a few lane operations: the 1/Σp factor is
/// applied once per row, and the dominant element's exact log1p form (and the sum R of
/// the other elements it needs) is computed only for groups holding a row with
/// R/q < [`DOMINANT_EXACT_BELOW`], lane by lane — a row's value never depends on its
/// neighbours.
#[inline(always)]
fn group_body<V: F8, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    if std::ptr::eq(p.as_ptr(), q.as_ptr()) && p.len() == q.len() {
        match p.len() {
            1 => one_element_rows::<V>(&p[0], &q[0], out, regular),
            // (float32 entropy rows take `pairs_f32` in [`group`]: p is q, so T is U)
            2 => entropy_of_two::<V>(&p[0], &p[1], out, regular),
            _ => group_halves::<V, U, _, true>(p, q, out, regular),
        }
    } else if p.len() == 1 && q.len() == 1 {
        one_element_rows::<V>(&p[0], &q[0], out, regular)
    } else if p.len() == 2 && q.len() == 2 {
        if U::IS_F32 {
            cross_entropy_of_two::<V, true>(p, q, out, regular)
        } else {
            cross_entropy_of_two::<V, false>(p, q, out, regular)
        }
    } else {
        group_halves::<V, U, _, false>(p, q, out, regular)
    }
}

/// Whether lanes with largest element `max` and smallest `min` are regular for the
/// closed forms of one- and two-element rows: 2^−1000 ≤ max ≤ 2^1000 and min ≥ 0 (false
/// for NaN). Other rows (zero, subnormal or huge totals, ±inf, NaN, negatives) take
/// [`row`], as they would in [`group_impl`].
#[inline(always)]
fn tiny_regular<V: F8>(min: V, max: V) -> V::Mask {
    V::and(
        V::and(max.ge(V::splat(REGULAR_MIN)), max.le(V::splat(REGULAR_MAX))),
        min.ge(V::splat(0.0)),
    )
}

/// Sixteen one-element rows of a normalised measure (entropy, cross-entropy, KL, JS):
/// P = Q = 1, so the value is 0 exactly — what the full group forms compute for them,
/// without their passes. Rows with an element outside [2^−1000, 2^1000] (zero, subnormal,
/// huge, ±inf, NaN, negative) are left to the measure's row form, as in the group forms.
#[inline(always)]
pub(crate) fn one_element_rows<V: F8>(
    p: &[f64; GROUP],
    q: &[f64; GROUP],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let (mut min_p, mut min_q) = (V::splat(f64::INFINITY), V::splat(f64::INFINITY));
    for h in 0..2 {
        let (a, b) = (half::<V>(p, h), half::<V>(q, h));
        mark_irregular::<V>(V::and(tiny_regular(a, a), tiny_regular(b, b)), h, regular);
        store_half(V::splat(0.0), h, out);
        min_p = min_p.min_ignoring_nan(a);
        min_q = min_q.min_ignoring_nan(b);
    }
    Lowest {
        p: min_p.min_lane(),
        q: min_q.min_lane(),
    }
}

/// Whether a one-element row's value is regular for [`one_element_rows`].
#[inline(always)]
fn regular_one(x: f64) -> bool {
    (REGULAR_MIN..=REGULAR_MAX).contains(&x)
}

// V is the multiversion macro's vector type: this body is plain code that the compiler
// vectorises under each version's target features.
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn one_element_adjacent_body<V: F8, T: Real, U: Real>(
    p: &[T],
    q: &[U],
    out: &mut [f64],
) -> (usize, Lowest) {
    let groups = out.len() / GROUP;
    let (p, q) = (&p[..groups * GROUP], &q[..groups * GROUP]);
    let mut done = 0;
    // (plain loops over arrays: iterator adaptors and closures here were compiled out of
    // line, without the vector ISA)
    for g in 0..groups {
        let rows = g * GROUP..(g + 1) * GROUP;
        let (pg, qg): (&[T; GROUP], &[U; GROUP]) = (
            p[rows.clone()].try_into().expect("16"),
            q[rows.clone()].try_into().expect("16"),
        );
        // all sixteen at once, no early exit: the compiler keeps it in vector lanes
        let mut all_regular = true;
        for j in 0..GROUP {
            all_regular &= regular_one(pg[j].to_f64()) & regular_one(qg[j].to_f64());
        }
        if !all_regular {
            break;
        }
        let slots: &mut [f64; GROUP] = (&mut out[rows]).try_into().expect("16");
        *slots = [0.0; GROUP];
        done += GROUP;
    }
    (done, Lowest::NONE)
}

crate::simd::multiversion! {
    /// [`one_element_rows`] on whole groups of sixteen one-element rows straight from
    /// memory (`p[r]`, `q[r]`: the (N, 1) array, or the (1, N) array read along axis 0):
    /// zeros into `out` up to the first group holding a row the group form leaves to the
    /// row form (an element outside [2^−1000, 2^1000] or NaN), the engine's
    /// `RowMeasure::adjacent`. Returns (rows done, a multiple of sixteen; their smallest
    /// inputs, none below 0 — every row done is regular). The same values as the group
    /// form, without the transposition: (10^7, 1) float32 entropy, one thread, took 4.8 ns
    /// a row filling tiles before.
    pub fn one_element_adjacent<T: Real, U: Real>(p: &[T], q: &[U], out: &mut [f64]) -> (usize, Lowest) = one_element_adjacent_body;
}

/// Entropies of sixteen two-element rows [a, b] in closed form. With M = max, m = min and
/// t = m/M ∈ [0, 1]: P = (1, t)/(1 + t), so
/// H = ln(1+t)/(1+t) + t·ln((1+t)/t)/(1+t) = log1p(t) + (m/(M + m))·ln(1/t),
/// a sum of two non-negative terms — no cancellation at any t, and t does not depend on
/// the scale of the row, so no rescaling either. Each term is within a few ULP (t, 1+t
/// and the logs are each correctly rounded or ≤ 1 ULP; ln t's relative error only grows
/// where t → 1, where its term is below half of log1p(t)). Two logarithms and three
/// divisions per eight rows, against one logarithm per element plus the log of the
/// total, the two passes and the dominant-element form of [`group_impl`]. These are the
/// operations of [`cross_entropy_of_two`] with q = p, so `cross_entropy(p, p.copy())`
/// equals `entropy(p)` bit for bit here too. (float32 rows: [`super::pairs_f32`].)
#[inline(always)]
fn entropy_of_two<V: F8>(
    a: &[f64; GROUP],
    b: &[f64; GROUP],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let mut min = V::splat(f64::INFINITY);
    let (mut small, mut large) = ([zero; 2], [one; 2]);
    let (mut t, mut u) = ([one; 2], [one; 2]);
    for h in 0..2 {
        let (x, y) = (half::<V>(a, h), half::<V>(b, h));
        (small[h], large[h]) = (x.min_ignoring_nan(y), x.max_ignoring_nan(y));
        // min/max ignore NaN, the regular test must not
        let ok = V::and(tiny_regular(small[h], large[h]), V::and(x.eq(x), y.eq(y)));
        t[h] = small[h].div(large[h]);
        // an underflowed share (as in `cross_entropy_of_two`): the row form
        let t_normal = V::or(small[h].eq(zero), t[h].ge(V::splat(f64::MIN_POSITIVE)));
        mark_irregular::<V>(V::and(ok, t_normal), h, regular);
        u[h] = one.add(t[h]);
        // min_ignoring_nan ignores a NaN only in its argument: one operand at a time
        min = min.min_ignoring_nan(x).min_ignoring_nan(y);
    }
    let (logs, u_logged) = two_element_logs::<V, false>(t, u);
    for h in 0..2 {
        let (ln_u, ln_t) = logs[h];
        let value = two_element_value(t[h], u[h], u_logged[h], ln_u, ln_t, large[h], small[h]);
        store_half(value, h, out);
    }
    let min = min.min_lane();
    Lowest { p: min, q: min }
}

/// (ln u, ln s) of the two-element closed forms for sixteen lanes (two halves), and the
/// values u whose logs they are: f64 logs, or for float32 data one sixteen-lane f32 log
/// each (≤ 8e-8 relative; u logged as fl32(u)). Lanes whose s lies below f32's normal
/// range (the f32 log's domain) take f64 logs — chosen per lane, so a row's value never
/// depends on its neighbours. (No closure here: the intrinsics would not inline into it.)
#[inline(always)]
fn two_element_logs<V: F8, const F32: bool>(s: [V; 2], u: [V; 2]) -> ([(V, V); 2], [V; 2]) {
    let mut u_logged = u;
    let mut logs: [(V, V); 2] = if F32 {
        let u32 = V::F32s::from_wide(u[0], u[1]);
        u_logged = u32.widen().into();
        let (lu0, lu1) = crate::simd::log_f32::ln_fast(u32).widen();
        let (ls0, ls1) = crate::simd::log_f32::ln_fast(V::F32s::from_wide(s[0], s[1])).widen();
        [(lu0, ls0), (lu1, ls1)]
    } else {
        [
            (ln_finite(u[0]), ln_finite(s[0])),
            (ln_finite(u[1]), ln_finite(s[1])),
        ]
    };
    let (limit, zero) = (V::splat(F32_MIN_NORMAL), V::splat(0.0));
    // (not `[0, 1].map(..)`: its closure was compiled out of line, without the
    // kernel's target features, and took half of a two-element group's time)
    let subnormal_s = [
        V::and(s[0].lt(limit), s[0].gt(zero)),
        V::and(s[1].lt(limit), s[1].gt(zero)),
    ];
    if F32 && V::any(V::or(subnormal_s[0], subnormal_s[1])) {
        for h in 0..2 {
            let f64_logs = subnormal_s[h];
            let (ln_u, ln_s) = logs[h];
            logs[h] = (
                V::select(f64_logs, ln_finite(u[h]), ln_u),
                V::select(f64_logs, ln_finite(s[h]), ln_s),
            );
            u_logged[h] = V::select(f64_logs, u[h], u_logged[h]);
        }
    }
    (logs, u_logged)
}

/// The two-element closed form log1p(s) + w·ln(1/s), w = b/(a + b), from ln u and ln s:
/// log1p(s) = ln u + (1 + s − u)/u to first order, u the value logged (1 + s rounded, and
/// for f32 logs rounded again to f32), so its rounding is corrected. No second term where
/// b = 0 (s may be 0 there, whose fast log is finite garbage). One function for
/// [`entropy_of_two`] and [`cross_entropy_of_two`], so the two agree bit for bit.
#[inline(always)]
fn two_element_value<V: F8>(s: V, u: V, u_logged: V, ln_u: V, ln_s: V, a: V, b: V) -> V {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let log1p_s = ln_u.add(s.sub(u_logged.sub(one)).div(u));
    let w = b.div(a.add(b));
    let second = V::select(b.eq(zero), zero, w.mul(zero.sub(ln_s)));
    log1p_s.add(second)
}

/// Cross-entropies of sixteen two-element rows P = (a, b)/(a + b), Q = (c, d)/(c + d) in
/// closed form. Oriented so that c ≥ d (the pair swapped with p's), s = d/c ∈ [0, 1] and
/// w = b/(a + b):
/// H(P, Q) = −P₁ ln Q₁ − P₂ ln Q₂ = log1p(s) + w·ln(1/s),
/// two non-negative terms (ln(1/Q₁) = log1p(s), ln(1/Q₂) = log1p(s) − ln s), scale-free:
/// no cancellation, no rescaling; +inf where d = 0 < b, as the group form. The same
/// accuracy argument as [`entropy_of_two`] (which is this with q = p, bit for bit, the
/// logs included: f32 logs where q holds float32 data).
#[inline(always)]
fn cross_entropy_of_two<V: F8, const F32: bool>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let (mut min_p, mut min_q) = (V::splat(f64::INFINITY), V::splat(f64::INFINITY));
    let (mut s, mut u) = ([one; 2], [one; 2]);
    let (mut weights, mut infinite) = ([(one, zero); 2], [zero; 2]);
    for h in 0..2 {
        let (a, b) = (half::<V>(&p[0], h), half::<V>(&p[1], h));
        let (c, d) = (half::<V>(&q[0], h), half::<V>(&q[1], h));
        let no_nan = V::and(V::and(a.eq(a), b.eq(b)), V::and(c.eq(c), d.eq(d)));
        let ok = V::and(
            no_nan,
            V::and(
                tiny_regular(a.min_ignoring_nan(b), a.max_ignoring_nan(b)),
                tiny_regular(c.min_ignoring_nan(d), c.max_ignoring_nan(d)),
            ),
        );
        let swap = d.gt(c);
        let (c1, d1) = (V::select(swap, d, c), V::select(swap, c, d));
        let (a1, b1) = (V::select(swap, b, a), V::select(swap, a, b));
        s[h] = d1.div(c1);
        // a share s that underflowed (subnormal or 0 with d > 0) has lost digits that
        // ln(1/s) would need (its weight w need not be small): the row form
        let s_normal = V::or(d1.eq(zero), s[h].ge(V::splat(f64::MIN_POSITIVE)));
        mark_irregular::<V>(V::and(ok, s_normal), h, regular);
        u[h] = one.add(s[h]);
        weights[h] = (a1, b1);
        infinite[h] = V::select(V::and(d1.eq(zero), b1.gt(zero)), one, zero);
        min_p = min_p.min_ignoring_nan(a).min_ignoring_nan(b);
        min_q = min_q.min_ignoring_nan(c).min_ignoring_nan(d);
    }
    let (logs, u_logged) = two_element_logs::<V, F32>(s, u);
    for h in 0..2 {
        let ((ln_u, ln_s), (a1, b1)) = (logs[h], weights[h]);
        let value = two_element_value(s[h], u[h], u_logged[h], ln_u, ln_s, a1, b1);
        let value = V::select(infinite[h].gt(zero), V::splat(f64::INFINITY), value);
        store_half(value, h, out);
    }
    Lowest {
        p: min_p.min_lane(),
        q: min_q.min_lane(),
    }
}

/// Pass-2 lane accumulators of a vertical group (eight lanes).
#[derive(Clone, Copy)]
pub(crate) struct GroupAcc<V> {
    /// Σ p·(c − ln(q·2^e)) over the non-dominant elements.
    pub(crate) t: V,
    /// The dominant element's p·(c − ln(q·2^e)) (0 where there is none).
    d: V,
    /// Σ |p·(c − ln(q·2^e))| (only where asked for: the raw sums' condition).
    pub(crate) abs: V,
    /// 1 where some q = 0 lies under a p > 0.
    pub(crate) zero_q: V,
}

/// [`group_impl`] over eight lanes where at most eight rows are present (a single row —
/// the small call — pays for eight lanes, not sixteen), else sixteen. Lanes never
/// interact: a row's value does not depend on the choice.
#[inline(always)]
fn group_halves<V: F8, U: Real, R: TileRow, const SAME: bool>(
    p: &[R],
    q: &[R],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    if out.len() <= GROUP / 2 {
        group_impl::<V, U, R, SAME, 1>(p, q, out, regular)
    } else {
        group_impl::<V, U, R, SAME, 2>(p, q, out, regular)
    }
}

#[inline(always)]
fn group_impl<V: F8, U: Real, R: TileRow, const SAME: bool, const H: usize>(
    p: &[R],
    q: &[R],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let zero = V::splat(0.0);
    let inf = V::splat(f64::INFINITY);
    // pass 1, lane = row
    let (mut sp, mut sq, mut mq) = ([zero; 2], [zero; 2], [zero; 2]);
    let (mut mp, mut mnq) = ([zero; 2], [zero; 2]);
    let mut min_pos = [inf; 2];
    let steps = p.len().min(q.len());
    for c in 0..steps {
        for h in 0..H {
            let a = p[c].half::<V>(h);
            sp[h] = sp[h].add(a);
            mp[h] = mp[h].min_ignoring_nan(a);
            let b = if SAME { a } else { q[c].half::<V>(h) };
            if !SAME {
                sq[h] = sq[h].add(b);
                mnq[h] = mnq[h].min_ignoring_nan(b);
            }
            mq[h] = mq[h].max_ignoring_nan(b);
            if U::IS_F32 {
                min_pos[h] = min_pos[h].min_ignoring_nan(V::select(b.gt(zero), b, inf));
            }
        }
    }
    if SAME {
        (sq, mnq) = (sp, mp);
    }
    // (not `array::from_fn`: its closure may be compiled out of line, without the
    // kernel's target features)
    let table_log = U::IS_F32;
    // a lane of tiny total (p weighted by Lanes::scale_p in pass 2; every other lane's
    // weight is 1 exactly, so its bits do not depend on the choice)
    let below = V::splat(SCALE_P_BELOW);
    let scaled = V::any(V::or(sp[0].lt(below), sp[H - 1].lt(below)));
    let lanes: [Lanes<V>; 2] = [
        Lanes::from_sums(sp[0], sq[0], mq[0], table_log, scaled),
        Lanes::from_sums(sp[H - 1], sq[H - 1], mq[H - 1], table_log, scaled),
    ];
    let lo = V::splat(REGULAR_MIN);
    let hi = V::splat(REGULAR_MAX);
    for h in 0..H {
        let ok = V::and(
            V::and(sp[h].ge(lo), sp[h].le(hi)),
            V::and(sq[h].ge(lo), sq[h].le(hi)),
        );
        mark_irregular::<V>(ok, h, regular);
    }
    // rows whose dominant element holds more than 16/17 of the mass: their dominant term
    // takes the exact log1p form below, so pass 2 keeps it apart (only theirs)
    let near = V::splat(1.0 + DOMINANT_EXACT_BELOW);
    let mut exact = [lanes[0].dominant; 2];
    for h in 0..H {
        exact[h] = V::and(lanes[h].dominant, lanes[h].max_q.mul(near).gt(sq[h]));
    }
    let split = V::any(V::or(exact[0], exact[H - 1]));
    // pass 2
    let mut acc = if scaled {
        pass2::<V, R, SAME, H, true>(p, q, &lanes, &exact, U::IS_F32, split)
    } else {
        pass2::<V, R, SAME, H, false>(p, q, &lanes, &exact, U::IS_F32, split)
    };
    if U::IS_F32 {
        // Lanes (rows) holding a subnormal f32 value take f64 logs; the others keep
        // theirs, so a row's value never depends on its neighbours.
        let limit = V::splat(F32_MIN_NORMAL);
        if V::any(V::or(min_pos[0].lt(limit), min_pos[H - 1].lt(limit))) {
            let redo = if scaled {
                pass2::<V, R, SAME, H, true>(p, q, &lanes, &exact, false, split)
            } else {
                pass2::<V, R, SAME, H, false>(p, q, &lanes, &exact, false, split)
            };
            for h in 0..H {
                let bad = min_pos[h].lt(limit);
                let (a, r) = (&mut acc[h], &redo[h]);
                a.t = V::select(bad, r.t, a.t);
                a.d = V::select(bad, r.d, a.d);
                a.zero_q = V::select(bad, r.zero_q, a.zero_q);
            }
        }
    }
    // finish, lane-wise
    for h in 0..H {
        let (a, k, exact) = (&acc[h], &lanes[h], exact[h]);
        // the sums of scaled p over 2^a·Σp: 1/Σp·2^−a is exact, the bits of 1/(2^a·Σp)
        let inv_sp = if scaled {
            k.inv_sp.div(k.scale_p)
        } else {
            k.inv_sp
        };
        let cheap = a.t.add(a.d).mul(inv_sp);
        let value = if V::any(exact) {
            // R = Σ q over the other elements, and the dominant element's p
            let (mut rest, mut p_dom) = (zero, zero);
            for c in 0..steps {
                let b = q[c].half::<V>(h);
                let is_dom = V::and(k.dominant, b.eq(k.max_q));
                rest = rest.add(V::select(is_dom, zero, b));
                if !SAME {
                    p_dom = p_dom.add(V::select(is_dom, p[c].half::<V>(h), zero));
                }
            }
            if SAME {
                p_dom = k.max_q;
            }
            let dom = p_dom.mul(k.scale_p).mul(log1p(rest.div(k.max_q)));
            V::select(exact, a.t.add(dom).mul(inv_sp), cheap)
        } else {
            cheap
        };
        let value = if SAME {
            value
        } else {
            V::select(a.zero_q.gt(zero), inf, value)
        };
        store_half(value, h, out);
    }
    Lowest {
        p: mp[0].min_ignoring_nan(mp[1]).min_lane(),
        q: mnq[0].min_ignoring_nan(mnq[1]).min_lane(),
    }
}

/// Pass 2 of a vertical group: per element l = ln(q·2^e) and the term p·(c − l). With
/// `SPLIT`, the dominant element's term of the `exact` lanes goes to `d` (the finish
/// replaces it by the log1p form), every other term to `t`; without (no lane of the group
/// is exact: most groups), every term goes to `t`. A lane that is not exact gets the same
/// additions either way (d stays 0), so its value does not depend on its neighbours.
/// `ABS` also sums |term| (for [`raw_terms`]).
/// PERF: the unsplit loop drops a compare, two selects and an add per half: (10^6, 10)
/// float32 entropy, one thread, 12.1–12.5 → 10.9–11.2 ms a call (LTO wheels in turn,
/// three rounds; float64 16.6 → 15.3, C = 3 float32 22.0 → 19.8).
#[inline(always)]
fn group_terms<
    V: F8,
    R: TileRow,
    const F32: bool,
    const SAME: bool,
    const H: usize,
    const SPLIT: bool,
    const ABS: bool,
    const SCALED: bool,
>(
    p: &[R],
    q: &[R],
    k: &[Lanes<V>; 2],
    exact: &[V::Mask; 2],
) -> [GroupAcc<V>; 2] {
    let zero = V::splat(0.0);
    let mut acc = [GroupAcc {
        t: zero,
        d: zero,
        abs: zero,
        zero_q: zero,
    }; 2];
    let steps = p.len().min(q.len());
    for c in 0..steps {
        // H = 1: the second half repeats the first (LLVM computes an f64 log once)
        let a = (p[c].half::<V>(0), p[c].half::<V>(H - 1));
        let b = if SAME {
            a
        } else {
            (q[c].half::<V>(0), q[c].half::<V>(H - 1))
        };
        let l = ln_tile_row::<V, R, F32, H>(&q[c], k[0].e, k[H - 1].e);
        let halves = [(a.0, b.0, l.0), (a.1, b.1, l.1)];
        for (h, (pv, qv, lv)) in halves.into_iter().enumerate().take(H) {
            let g = &mut acc[h];
            // (the zero tests below see p unscaled: scaling keeps zeros and signs)
            let weight = if SCALED { pv.mul(k[h].scale_p) } else { pv };
            // p = 0: no term (q may be 0 too, where l means nothing). The f32 logarithm
            // is finite for every finite input, 0 and −0 included (its parts come from
            // the bits), so p·(c − l) is already ±0 there and adding it changes no sum:
            // the select is needed only for the f64 logarithm (−inf at 0 on AVX-512).
            let term = if F32 {
                weight.mul(k[h].c.sub(lv))
            } else {
                V::select(pv.eq(zero), zero, weight.mul(k[h].c.sub(lv)))
            };
            if SPLIT {
                let is_dom = V::and(exact[h], qv.eq(k[h].max_q));
                g.t = g.t.add(V::select(is_dom, zero, term));
                g.d = g.d.add(V::select(is_dom, term, zero));
            } else {
                g.t = g.t.add(term);
            }
            if ABS {
                g.abs = g.abs.add(term.bits_and(0x7fff_ffff_ffff_ffff));
            }
            if !SAME {
                g.zero_q = g
                    .zero_q
                    .max_ignoring_nan(flag(V::and(qv.eq(zero), pv.gt(zero))));
            }
        }
    }
    acc
}

/// [`group_terms`] with the logarithms (f32 where `f32_logs`) and the dominant split
/// chosen at run time; `SCALED`: p weighted by [`Lanes::scale_p`].
#[inline(always)]
fn pass2<V: F8, R: TileRow, const SAME: bool, const H: usize, const SCALED: bool>(
    p: &[R],
    q: &[R],
    lanes: &[Lanes<V>; 2],
    exact: &[V::Mask; 2],
    f32_logs: bool,
    split: bool,
) -> [GroupAcc<V>; 2] {
    match (f32_logs, split) {
        (true, false) => {
            group_terms::<V, R, true, SAME, H, false, false, SCALED>(p, q, lanes, exact)
        }
        (true, true) => group_terms::<V, R, true, SAME, H, true, false, SCALED>(p, q, lanes, exact),
        (false, false) => {
            group_terms::<V, R, false, SAME, H, false, false, SCALED>(p, q, lanes, exact)
        }
        (false, true) => {
            group_terms::<V, R, false, SAME, H, true, false, SCALED>(p, q, lanes, exact)
        }
    }
}

/// The lane sums of the raw −Σ p·ln q (`kernels::plogq_raw`): pass 2 with c = 0 and no
/// exponent shift, so `t` = Σ p·(0 − ln q) and `abs` = Σ |p·ln q| — the same operations
/// as a normalised group's pass 2 (f32 logs with `F32`; q = 0 < p flagged in `zero_q`).
#[inline(always)]
pub(crate) fn raw_terms<V: F8, R: TileRow, const F32: bool, const SAME: bool, const H: usize>(
    p: &[R],
    q: &[R],
) -> [GroupAcc<V>; 2] {
    let zero = V::splat(0.0);
    let unshifted = Lanes {
        inv_sp: zero,
        scale_p: V::splat(1.0),
        e: zero,
        c: zero,
        max_q: zero,
        dominant: zero.lt(zero),
    };
    let no_exact = [unshifted.dominant; 2];
    group_terms::<V, R, F32, SAME, H, false, true, false>(p, q, &[unshifted; 2], &no_exact)
}

crate::simd::multiversion! {
    /// [`group`] for all but float32 two-element rows.
    pub fn group_of<U: Real>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) -> Lowest = group_body;
}

/// The longest rows to which [`group`] gives a form of their own length (a closed form
/// that a zero-padded row in a longer tile would not take): [`short_rows_f32::LONGEST`]
/// for float32 data on both sides ([`Triples`], [`ShortRows`]), two otherwise — for the
/// engine's grouping of ragged rows (`RowMeasure::own_length_up_to`), so a ragged row
/// equals the dense row bit for bit.
pub fn closed_forms_up_to<T: Real, U: Real>() -> usize {
    if T::IS_F32 && U::IS_F32 {
        short_rows_f32::LONGEST
    } else {
        2
    }
}

/// Cross-entropies of up to sixteen short rows of p (element type T) and q (U),
/// transposed (see `group_body`); rows of two, three and ten to thirty-two elements of
/// float32 data on both sides take [`super::pairs_f32`], [`super::triples_f32`] and
/// [`super::short_rows_f32`] (f32 lanes).
pub fn group<T: Real, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    if T::IS_F32 && U::IS_F32 && p.len() == q.len() {
        match F32Form::of(p.len()) {
            F32Form::Pairs => return super::pairs_f32::group(p, q, out, regular),
            F32Form::Triples => return f32_tiles::group::<Triples>(p, q, out, regular),
            F32Form::ShortRows => return f32_tiles::group::<ShortRows>(p, q, out, regular),
            F32Form::General => {}
        }
    }
    group_of::<U>(p, q, out, regular)
}

/// The group form of float32 rows (float32 on both sides) of a given length: one
/// decision for [`group`], [`adjacent`] and [`f32_tiles_from`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum F32Form {
    /// two elements: [`super::pairs_f32`]
    Pairs,
    /// three: [`Triples`]
    Triples,
    /// [`short_rows_f32::SHORTEST`] … [`short_rows_f32::LONGEST`]: [`ShortRows`]
    ShortRows,
    /// any other length: [`group_impl`] ([`FloatTiles`] on float32 tiles)
    General,
}

impl F32Form {
    fn of(len: usize) -> Self {
        match len {
            2 => F32Form::Pairs,
            3 => F32Form::Triples,
            short_rows_f32::SHORTEST..=short_rows_f32::LONGEST => F32Form::ShortRows,
            _ => F32Form::General,
        }
    }
}

/// The shortest float32 rows of the form rows of `len` take that go through [`adjacent`]
/// (float32 tiles) in the regular layouts: `len` itself for the closed forms of three and
/// of [`ShortRows`]' lengths, [`F32_TILES_FROM`] for the general form (each measured
/// there). Two-element rows have their own reader (`pairs_f32::adjacent`).
pub fn f32_tiles_from(len: usize) -> usize {
    match F32Form::of(len) {
        F32Form::Triples | F32Form::ShortRows => len,
        F32Form::Pairs | F32Form::General => F32_TILES_FROM,
    }
}

/// The group form of float32 rows on either tile ([`f32_tiles`]): [`group_impl`] itself,
/// its f32 logarithms taken from the tile's f32 lanes. It has no separate exact form —
/// the rows it leaves are the irregular ones, which the exact form leaves too (to the
/// engine's row form).
struct FloatTiles;

impl FastGroupForm for FloatTiles {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        let same = std::ptr::eq(p.as_ptr(), q.as_ptr()) && p.len() == q.len();
        let mut regular = [true; GROUP];
        let regular = &mut regular[..out.len()];
        let lowest = if same {
            group_halves::<V, f32, R, true>(p, q, out, regular)
        } else {
            group_halves::<V, f32, R, false>(p, q, out, regular)
        };
        fast.copy_from_slice(regular);
        lowest
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        group_of::<f32>(p, q, out, regular);
    }
}

/// Float32 rows at least this long (and rows of three) take [`adjacent`]; at 8 and 10
/// classes the engine's own fill into its tile (an element loop for those lengths) is
/// faster. One thread, (N, C) float32, N·C = 10^7, minima of three alternated rounds, ms,
/// engine's tile → float32 tiles: entropy C = 3 21.6 → 20.2, C = 8 14.1 → 16.3, C = 10
/// 16.5 → 16.8, C = 12 17.4 → 15.2, C = 16 15.2 → 13.6, C = 32 14.3 → 12.4, C = 100 14.4 →
/// 11.8; cross-entropy C = 3 29.7 → 26.9, C = 8 19.8 → 23.5, C = 10 24.8 → 25.6, C = 16
/// 24.2 → 20.1, C = 100 22.1 → 18.2.
pub const F32_TILES_FROM: usize = 12;

/// Normalised cross-entropies (entropies where `q` is `p`) of whole groups of sixteen
/// float32 rows of `len` ≥ 3 values in one of the [`Block`] layouts, through float32
/// tiles ([`f32_tiles::adjacent`]; rows of three by [`Triples`]): [`group`]'s values bit
/// for bit, without widening every value into the engine's f64 tile and narrowing it back
/// for its logarithm.
/// PERF: `perf` of float32 entropy over (10^5, 100) rows, one thread, before: the group
/// kernel 45%, the float32 transpose 27%, the widening 8%.
pub fn adjacent(
    p: Block<'_, f32>,
    q: Block<'_, f32>,
    len: usize,
    out: &mut [f64],
) -> (usize, Lowest) {
    assert!(
        len > 2,
        "one- and two-element rows have their own closed forms"
    );
    match F32Form::of(len) {
        F32Form::Triples => f32_tiles::adjacent::<Triples>(p, q, len, out),
        F32Form::ShortRows => f32_tiles::adjacent::<ShortRows>(p, q, len, out),
        F32Form::Pairs | F32Form::General => f32_tiles::adjacent::<FloatTiles>(p, q, len, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{
        check_rows_alone_match_full_groups, close, confident, positive, through_groups, tile_rows,
        SPECIALS,
    };

    #[test]
    fn a_row_alone_equals_the_row_in_a_full_group() {
        // cross-entropy (q its own tile) and entropy (q the same tile as p)
        for entropy in [false, true] {
            check_rows_alone_match_full_groups(|f32_data, _, pt, qt, out, regular| {
                let qt = if entropy { pt } else { qt };
                if f32_data {
                    group::<f32, f32>(pt, qt, out, regular);
                } else {
                    group::<f64, f64>(pt, qt, out, regular);
                }
            });
        }
    }

    fn check(p: &[f64], q: &[f64], rtol: f64) {
        let (got, _) = row(p, q);
        let want = reference(p, q);
        assert!(
            close(got, want, rtol),
            "{got:e} vs {want:e} for {p:?} {q:?}"
        );
        // the vertical path agrees with the horizontal one bit for bit? no: same terms,
        // same order within a lane only for rows ≤ 16 long; check to rounding.
        if p.len() <= 64 {
            let mut pt = vec![[0.0; GROUP]; p.len()];
            let mut qt = vec![[0.0; GROUP]; p.len()];
            for c in 0..p.len() {
                pt[c][3] = p[c];
                qt[c][3] = q[c];
            }
            let mut out = [0.0; 4];
            let mut regular = [false; 4];
            group::<f64, f64>(&pt, &qt, &mut out, &mut regular);
            let v = if regular[3] {
                out[3]
            } else {
                careful_row(p, q)
            };
            assert!(
                close(v, want, rtol),
                "group {v:e} vs {want:e} for {p:?} {q:?}"
            );
        }
    }

    #[test]
    fn matches_the_reference_on_every_tail_length() {
        for len in 1..=67 {
            let p = positive(len, len as u64);
            let q = positive(len, 1000 + len as u64);
            if p.iter().sum::<f64>() > 0.0 && q.iter().all(|&v| v > 0.0) {
                check(&p, &q, 1e-13);
            }
            if p.iter().sum::<f64>() > 0.0 {
                check(&p, &p, 1e-13);
            }
        }
        let p = positive(100_003, 7);
        check(&p, &p, 1e-13);
    }

    #[test]
    fn group_dominant_rows_on_both_sides_of_the_exact_form() {
        // two- and three-element rows whose dominant share sweeps across 16/17, in one
        // group with ordinary rows: every lane to 1e-13 of the reference, and each lane's
        // value independent of its neighbours (bitwise).
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for i in 0..40 {
            let z = 2f64.powf(-(i as f64) * 1.3) * 0.9; // R/q from 0.9 down to 1e-16
            rows.push(vec![1.0, z]);
            rows.push(vec![z * 0.25, 3.0, z * 0.75]);
            rows.push(vec![0.3, 0.3 + z]);
        }
        for f32_data in [false, true] {
            for chunk in rows.chunks(GROUP) {
                let len = chunk.iter().map(|r| r.len()).max().unwrap();
                let mut pt = vec![[0.0; GROUP]; len];
                for (j, r) in chunk.iter().enumerate() {
                    for (c, &v) in r.iter().enumerate() {
                        pt[c][j] = if f32_data { v as f32 as f64 } else { v };
                    }
                }
                let mut out = vec![0.0; chunk.len()];
                let mut regular = vec![true; chunk.len()];
                if f32_data {
                    group::<f32, f32>(&pt, &pt, &mut out, &mut regular);
                } else {
                    group::<f64, f64>(&pt, &pt, &mut out, &mut regular);
                }
                for (j, r) in chunk.iter().enumerate() {
                    assert!(regular[j]);
                    let x: Vec<f64> = (0..len).map(|c| pt[c][j]).collect();
                    let want = reference(&x, &x);
                    let tol = if f32_data { 1e-6 } else { 1e-13 };
                    assert!(
                        close(out[j], want, tol),
                        "{:?}: {:e} vs {want:e}",
                        r,
                        out[j]
                    );
                    // alone in its group: the same bits
                    let mut alone = vec![[0.0; GROUP]; len];
                    for c in 0..len {
                        alone[c][0] = pt[c][j];
                    }
                    let (mut o1, mut r1) = ([0.0], [true]);
                    if f32_data {
                        group::<f32, f32>(&alone, &alone, &mut o1, &mut r1);
                    } else {
                        group::<f64, f64>(&alone, &alone, &mut o1, &mut r1);
                    }
                    assert_eq!(o1[0].to_bits(), out[j].to_bits(), "{r:?}");
                    // cross-entropy with q = p (a separate buffer): the same value
                    let qt = pt.clone();
                    let mut o2 = vec![0.0; chunk.len()];
                    let mut r2 = vec![true; chunk.len()];
                    if f32_data {
                        group::<f32, f32>(&pt, &qt, &mut o2, &mut r2);
                    } else {
                        group::<f64, f64>(&pt, &qt, &mut o2, &mut r2);
                    }
                    assert_eq!(o2[j].to_bits(), out[j].to_bits(), "{r:?}");
                }
            }
        }
    }

    /// Scalar reference of [`entropy_of_two`] (libm logs): the entropy of [a, b] for a
    /// regular row, None for the rows it leaves to [`row`].
    fn entropy_of_two_lane(a: f64, b: f64) -> Option<f64> {
        let (m, big) = (a.min(b), a.max(b));
        if a.is_nan() || b.is_nan() || !(REGULAR_MIN..=REGULAR_MAX).contains(&big) || m < 0.0 {
            return None;
        }
        let t = m / big;
        if m != 0.0 && t < f64::MIN_POSITIVE {
            return None;
        }
        Some(if t == 0.0 {
            0.0
        } else {
            t.ln_1p() + m / (big + m) * -t.ln()
        })
    }

    /// `group` of sixteen rows of one length `len` (values by row), SAME or a copy of q.
    fn tiny_group(rows: &[Vec<f64>], same: bool) -> (Vec<f64>, Vec<bool>, Lowest) {
        let len = rows[0].len();
        let mut pt = vec![[0.0; GROUP]; len];
        for (j, r) in rows.iter().enumerate() {
            for c in 0..len {
                pt[c][j] = r[c];
            }
        }
        let qt = pt.clone();
        let (mut out, mut regular) = (vec![0.0; rows.len()], vec![true; rows.len()]);
        let lo = group::<f64, f64>(&pt, if same { &pt } else { &qt }, &mut out, &mut regular);
        (out, regular, lo)
    }

    /// Rows whose total is tiny (down to 2^−990, subnormal elements) and whose value is
    /// small, so that H·Σp lies deep in f64's subnormal range: the group form (p scaled,
    /// [`SCALE_P_BELOW`]) within 1e-13 of the row form, entropy and cross-entropy, float64
    /// and float32 data (f32-representable values, f32 logs: 1e-6).
    #[test]
    fn group_rows_with_tiny_totals_keep_their_digits() {
        let mut rows: Vec<(Vec<f64>, Vec<f64>)> = vec![
            (vec![0.0, 5e-324, 1e-300], vec![1e-310, 5e-324, 0.25]),
            (vec![0.0, 5e-324, 1e-300], vec![1e-310, 5e-324, 1.0]),
        ];
        for k in [10, 21, 300, 700, 900, 990] {
            let scale = 2f64.powi(-k);
            for tiny in [1e-40, 1e-100, 1e-250] {
                for len in [3, 4, 7, 16] {
                    let p: Vec<f64> = (0..len)
                        .map(|i| {
                            if i == 0 {
                                scale
                            } else {
                                tiny * scale * (1.0 + i as f64)
                            }
                        })
                        .collect();
                    let mut q = p.clone();
                    q[0] = 2.0 * scale;
                    rows.push((p.clone(), p.clone()));
                    rows.push((p, q));
                }
            }
        }
        for f32_data in [false, true] {
            let rows: Vec<(Vec<f64>, Vec<f64>)> = if f32_data {
                let narrow = |x: &Vec<f64>| x.iter().map(|&v| f64::from(v as f32)).collect();
                rows.iter().map(|(p, q)| (narrow(p), narrow(q))).collect()
            } else {
                rows.clone()
            };
            for r in &rows {
                let (pt, qt) = tile_rows(std::slice::from_ref(r));
                for same in [false, true] {
                    let qt = if same { &pt } else { &qt };
                    let q = if same { &r.0 } else { &r.1 };
                    let (mut out, mut regular) = ([0.0], [true]);
                    if f32_data {
                        group_of::<f32>(&pt, qt, &mut out, &mut regular);
                    } else {
                        group_of::<f64>(&pt, qt, &mut out, &mut regular);
                    }
                    let (exact, _) = row(&r.0, q);
                    if !regular[0] || exact.is_nan() || exact < 1e-300 {
                        continue;
                    }
                    let err = (out[0] - exact).abs() / exact;
                    let limit = if f32_data { 1e-6 } else { 1e-13 };
                    assert!(
                        err <= limit,
                        "{f32_data} {same} {r:?}: {:e} vs {exact:e}",
                        out[0]
                    );
                }
            }
        }
    }

    #[test]
    fn one_and_two_element_entropy_rows_match_their_references() {
        // every pair of adversarial values (and some ordinary ones), sixteen rows a group
        let mut values: Vec<f64> = SPECIALS.to_vec();
        values.extend([
            f64::NAN,
            -1.0,
            -5e-324,
            0.3,
            0.7,
            1.0 + 1e-15,
            1e-16,
            2e-300,
        ]);
        values.extend(positive(12, 5).into_iter().filter(|&v| v > 0.0));
        let pairs: Vec<Vec<f64>> = values
            .iter()
            .flat_map(|&a| values.iter().map(move |&b| vec![a, b]))
            .collect();
        let singles: Vec<Vec<f64>> = values.iter().map(|&a| vec![a]).collect();
        for rows in [&pairs, &singles] {
            for chunk in rows.chunks(GROUP) {
                let (out, regular, lo) = tiny_group(chunk, true);
                let want_min = chunk
                    .iter()
                    .flatten()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                assert!(lo.p <= want_min && lo.q <= want_min, "{chunk:?}: {lo:?}");
                for (j, r) in chunk.iter().enumerate() {
                    let lane = if r.len() == 1 {
                        entropy_of_two_lane(r[0], 0.0)
                    } else {
                        entropy_of_two_lane(r[0], r[1])
                    };
                    assert_eq!(regular[j], lane.is_some(), "{r:?}");
                    let Some(want) = lane else { continue };
                    // the scalar reference to a few ULP, the exact row form to 1e-14
                    assert!(
                        close(out[j], want, 4e-16),
                        "{r:?}: {:e} vs {want:e}",
                        out[j]
                    );
                    let (exact, _) = row(r, r);
                    assert!(
                        close(out[j], exact, 1e-14),
                        "{r:?}: {:e} vs row {exact:e}",
                        out[j]
                    );
                    // a neighbour-free value, and ≥ 0
                    assert!(out[j] >= 0.0);
                    let (alone, _, _) = tiny_group(std::slice::from_ref(r), true);
                    assert_eq!(alone[0].to_bits(), out[j].to_bits(), "{r:?}");
                }
            }
        }
    }

    #[test]
    fn one_element_rows_from_memory_equal_the_group_form_and_stop_at_irregular_groups() {
        // every adversarial value (f64 and its f32 rounding) at every position of 67 rows
        // of regular ones, in p or in q: zeros (the group form's value) for the whole
        // groups before the first group holding it, nothing after
        let mut specials: Vec<f64> = SPECIALS.to_vec();
        specials.extend([f64::NAN, -1.0, 0.3, 7.0, REGULAR_MIN, REGULAR_MAX, 1e-301]);
        let regular_rows: Vec<f64> = (0..67).map(|i| 0.01 + f64::from(i) * 0.37).collect();
        for &v in &specials {
            let ok = (REGULAR_MIN..=REGULAR_MAX).contains(&v);
            for at in 0..regular_rows.len() {
                for side in 0..2 {
                    let mut rows = [regular_rows.clone(), regular_rows.clone()];
                    rows[side][at] = v;
                    let first_bad = if ok { rows[0].len() } else { at };
                    let want = first_bad / GROUP * GROUP;
                    let check = |done: usize, lo: Lowest, out: &[f64], what: &str| {
                        assert_eq!(done, want, "{what} {v:e} at {at} side {side}");
                        assert_eq!(lo, Lowest::NONE);
                        assert!(out[..done].iter().all(|x| x.to_bits() == 0), "{what}");
                        assert!(out[done..].iter().all(|x| x.is_nan()), "{what}");
                    };
                    let mut out = vec![f64::NAN; rows[0].len()];
                    let (done, lo) = one_element_adjacent(&rows[0], &rows[1], &mut out);
                    check(done, lo, &out, "f64");
                    let narrow = |x: &[f64]| x.iter().map(|&v| v as f32).collect::<Vec<_>>();
                    let (p32, q32) = (narrow(&rows[0]), narrow(&rows[1]));
                    if (REGULAR_MIN..=REGULAR_MAX).contains(&f64::from(v as f32)) == ok {
                        let mut out = vec![f64::NAN; rows[0].len()];
                        let (done, lo) = one_element_adjacent(&p32, &q32, &mut out);
                        check(done, lo, &out, "f32");
                    }
                }
            }
        }
    }

    #[test]
    fn one_element_rows_of_every_pair_measure_are_zero_or_left_to_the_row_form() {
        // one-element p and q of every adversarial pair: cross-entropy, KL and JS (all
        // normalised) give exactly 0 where both are regular, and leave the rest (zero,
        // subnormal, huge, inf, NaN, negative) to their row forms
        let mut values: Vec<f64> = SPECIALS.to_vec();
        values.extend([f64::NAN, -1.0, 0.3, 7.0]);
        let pairs: Vec<(f64, f64)> = values
            .iter()
            .flat_map(|&a| values.iter().map(move |&b| (a, b)))
            .collect();
        for chunk in pairs.chunks(GROUP) {
            let mut pt = vec![[0.0; GROUP]; 1];
            let mut qt = vec![[0.0; GROUP]; 1];
            for (j, &(a, b)) in chunk.iter().enumerate() {
                pt[0][j] = a;
                qt[0][j] = b;
            }
            let n = chunk.len();
            let run = |which: usize| {
                let (mut out, mut regular) = (vec![f64::NAN; n], vec![true; n]);
                let lo = match which {
                    0 => group::<f64, f64>(&pt, &qt, &mut out, &mut regular),
                    1 => crate::kernels::kl::group::<f64, f64>(
                        &pt,
                        &qt,
                        true,
                        &mut out,
                        &mut regular,
                    ),
                    _ => crate::kernels::js::group::<f64, f64>(
                        &pt,
                        &qt,
                        true,
                        &mut out,
                        &mut regular,
                    ),
                };
                (out, regular, lo)
            };
            for which in 0..3 {
                let (out, regular, lo) = run(which);
                let (min_p, min_q) = chunk
                    .iter()
                    .fold((f64::INFINITY, f64::INFINITY), |(x, y), &(a, b)| {
                        (x.min(a), y.min(b))
                    });
                assert!(lo.p <= min_p && lo.q <= min_q, "{which}: {lo:?}");
                for (j, &(a, b)) in chunk.iter().enumerate() {
                    let ok = (REGULAR_MIN..=REGULAR_MAX).contains(&a)
                        && (REGULAR_MIN..=REGULAR_MAX).contains(&b);
                    assert_eq!(regular[j], ok, "{which}: [{a:e}] vs [{b:e}]");
                    if ok {
                        assert_eq!(out[j].to_bits(), 0f64.to_bits(), "{which}: {a:e} {b:e}");
                        // and the row forms agree: P = Q = 1
                        let want = match which {
                            0 => row(&[a], &[b]).0,
                            1 => crate::kernels::kl::row(&[a], &[b], true).0,
                            _ => crate::kernels::js::row(&[a], &[b], true).0,
                        };
                        assert!(
                            want.abs() < 1e-300,
                            "{which}: row form {want:e} for {a:e} {b:e}"
                        );
                    }
                }
            }
        }
    }

    /// Scalar reference of [`cross_entropy_of_two`] (libm logs): None for the rows it
    /// leaves to [`row`].
    fn cross_entropy_of_two_lane(p: [f64; 2], q: [f64; 2]) -> Option<f64> {
        let in_range = |x: [f64; 2]| {
            !x[0].is_nan()
                && !x[1].is_nan()
                && x[0].min(x[1]) >= 0.0
                && (REGULAR_MIN..=REGULAR_MAX).contains(&x[0].max(x[1]))
        };
        if !in_range(p) || !in_range(q) {
            return None;
        }
        let (c, d) = (q[0].max(q[1]), q[0].min(q[1]));
        if d != 0.0 && d / c < f64::MIN_POSITIVE {
            return None;
        }
        Some(crate::kernels::adversarial::two_element_cross_entropy(p, q))
    }

    #[test]
    fn two_element_cross_entropy_of_a_copy_equals_the_entropy_bit_for_bit() {
        let mut values: Vec<f64> = SPECIALS.to_vec();
        values.extend([0.3, 0.7, 1.0 + 1e-15, 1e-16, 2e-300, 3.0, 3.0]);
        let rows: Vec<Vec<f64>> = values
            .iter()
            .flat_map(|&a| values.iter().map(move |&b| vec![a, b]))
            .collect();
        for chunk in rows.chunks(GROUP) {
            let (h, hr, _) = tiny_group(chunk, true);
            let (ce, cr, _) = tiny_group(chunk, false);
            for j in 0..chunk.len() {
                assert_eq!(hr[j], cr[j], "{:?}", chunk[j]);
                if hr[j] {
                    assert_eq!(h[j].to_bits(), ce[j].to_bits(), "{:?}", chunk[j]);
                }
            }
        }
    }

    /// float64 p against float32 q (float32 on both sides takes `pairs_f32`): two-element
    /// cross-entropy rows take f32 logs of q's share (f64 logs where the share is below
    /// f32's normal range), within the contract of the scalar reference.
    #[test]
    fn two_element_float32_cross_entropy_rows_take_f32_logs_within_the_contract() {
        let to32 = |v: f64| (v as f32) as f64;
        let mut rows: Vec<([f64; 2], [f64; 2])> = Vec::new();
        for i in 0..120 {
            let t = 10f64.powf(-(i as f64) * 0.4);
            for scale in [1e-30f64, 1.0, 7.0, 1e30] {
                let (x, y) = (to32(scale), to32(t * scale));
                rows.push(([x, y], [y, x]));
                rows.push(([y, x], [to32(0.3 * scale), x]));
                rows.push(([0.0, x], [x, y]));
            }
        }
        rows.push(([1.0, 2.0], [1.0, to32(1e-40)])); // q's share an f32 subnormal
        rows.push(([1.0, 2.0], [3.0, 0.0])); // +inf
        let got = through_groups(&rows, |pt, qt, out, regular| {
            group::<f64, f32>(pt, qt, out, regular)
        });
        for (&(pr, qr), &(value, regular)) in rows.iter().zip(&got) {
            let lane = cross_entropy_of_two_lane(pr, qr);
            assert_eq!(regular, lane.is_some(), "{pr:?} {qr:?}");
            let Some(want) = lane else { continue };
            assert!(
                close(value, want, 3e-7) || (want < 1e-300 && value < 1e-300),
                "{pr:?} {qr:?}: {value:e} vs {want:e}"
            );
        }
    }

    #[test]
    fn two_element_cross_entropy_rows_match_their_references() {
        let mut values: Vec<f64> = SPECIALS.to_vec();
        values.extend([f64::NAN, -1.0, 0.3, 0.7, 1.0 + 1e-15, 1e-16, 2e-300]);
        let mut rows: Vec<([f64; 2], [f64; 2])> = Vec::new();
        for (i, &a) in values.iter().enumerate() {
            for &b in &values {
                // q pairs from the same list, rotated, so every pair of pairs is not
                // needed to meet every orientation and special value
                for k in 0..4 {
                    let c = values[(i + 3 * k) % values.len()];
                    let d = values[(i + 5 * k + 1) % values.len()];
                    rows.push(([a, b], [c, d]));
                }
            }
        }
        // and dominant shares on both sides, at several scales
        for i in 0..60 {
            let t = 10f64.powf(-(i as f64) * 0.3);
            for scale in [2f64.powi(-990), 1.0, 1e200] {
                rows.push(([scale, t * scale], [t * scale, scale]));
                rows.push(([t * scale, scale], [scale * 0.5, scale]));
            }
        }
        let got = through_groups(&rows, |pt, qt, out, regular| {
            group::<f64, f64>(pt, qt, out, regular)
        });
        for (&(pr, qr), &(value, regular)) in rows.iter().zip(&got) {
            let lane = cross_entropy_of_two_lane(pr, qr);
            assert_eq!(regular, lane.is_some(), "{pr:?} {qr:?}");
            let Some(want) = lane else { continue };
            assert!(
                close(value, want, 4e-16),
                "{pr:?} {qr:?}: {value:e} vs {want:e}"
            );
            // the exact row form, where the value is in the contract's range (≥ 1e-300;
            // below it a subnormal share w has lost digits in either form)
            let (exact, _) = row(&pr, &qr);
            if exact.abs() >= 1e-300 || exact.is_nan() {
                assert!(
                    close(value, exact, 1e-14),
                    "{pr:?} {qr:?}: {value:e} vs row {exact:e}"
                );
            }
        }
    }

    #[test]
    fn two_element_rows_at_every_share_and_scale() {
        // shares m/M from 1 down to 1e-300 and scales from 2^-999 to 2^999: the closed
        // form against the exact row form (which rescales and takes the dominant term's
        // log1p), and the same distribution at every scale agrees to rounding
        let mut rows = Vec::new();
        for i in 0..400 {
            let t = 10f64.powf(-(i as f64) * 0.75);
            for scale in [2f64.powi(-999), 1e-150, 1.0, 3.0, 1e150, 2f64.powi(998)] {
                rows.push(vec![scale, t * scale]);
                rows.push(vec![t * scale, scale]);
            }
        }
        for chunk in rows.chunks(GROUP) {
            let (out, regular, _) = tiny_group(chunk, true);
            for (j, r) in chunk.iter().enumerate() {
                let (exact, _) = row(r, r);
                if exact < 1e-300 || !regular[j] {
                    continue;
                }
                assert!(
                    close(out[j], exact, 1e-14),
                    "{r:?}: {:e} vs {exact:e}",
                    out[j]
                );
            }
        }
    }

    #[test]
    fn dominant_masses_keep_full_relative_precision() {
        // entropy of [1e16, 1, 1]: 2·(1e-16)·(ln 1e16 + 1) to first order
        let x = [1e16, 1.0, 1.0];
        let (h, _) = row(&x, &x);
        let exact = 7.568_272_297_580_945e-15; // mpmath, 50 digits
        assert!(((h - exact) / exact).abs() < 1e-14, "{h:e}");
        let x = [1e15, 1.0];
        let (h, _) = row(&x, &x);
        let exact = 3.553_877_639_491_065e-14;
        assert!(((h - exact) / exact).abs() < 1e-14, "{h:e}");
        // one huge and many tiny in one lane
        let mut x = vec![0.0; 8192];
        x[0] = 2f64.powi(30);
        for v in x.iter_mut().skip(8).step_by(8) {
            *v = 2f64.powi(-23);
        }
        let (h, _) = row(&x, &x);
        let exact = 4.285_987_896_010_573e-12; // mpmath (the plain reference is 1e-13 off)
        assert!(((h - exact) / exact).abs() < 1e-14, "{h:e}");
    }

    #[test]
    fn special_values_and_extreme_totals() {
        assert!(row(&[0.5, f64::NAN], &[0.5, f64::NAN]).0.is_nan());
        assert!(row(&[0.0, 0.0], &[0.0, 0.0]).0.is_nan());
        assert!(row(&[1.0, f64::INFINITY], &[1.0, 1.0]).0.is_nan());
        assert_eq!(row(&[1.0, 1.0], &[1.0, 0.0]).0, f64::INFINITY);
        assert_eq!(row(&[0.0, 1.0], &[1.0, 0.0]).0, f64::INFINITY);
        assert_eq!(row(&[1.0, 0.0], &[1.0, 0.0]).0, 0.0);
        assert_eq!(row::<f64, f64>(&[], &[]).0, 0.0);
        let ln2 = std::f64::consts::LN_2;
        for x in [
            [5e-324, 5e-324],
            [1e-310, 1e-310],
            [1.7e308, 1.7e308],
            [1e300, 1e300],
        ] {
            let (h, _) = row(&x, &x);
            assert!((h - ln2).abs() < 1e-15, "{x:?}: {h}");
        }
        // Q below the smallest double: −ln Q from the exponent, never an underflowed q·2^e
        let (h, _) = row(&[0.5, 0.5, 0.0], &[5e-324, 1e-310, 1e300]);
        let want = 1e300f64.ln() - 0.5 * 5e-324f64.ln() - 0.5 * 1e-310f64.ln();
        assert!(((h - want) / want).abs() < 1e-15, "{h} vs {want}");
        // cross_entropy([5e-324], [0.5]) = 0 (both normalise to [1])
        assert_eq!(row(&[5e-324], &[0.5]).0, 0.0);
        let (h, _) = row(&[5e-324, 5e-324], &[0.5, 0.5]);
        assert!((h - ln2).abs() < 1e-15);
        for &s in &SPECIALS {
            for len in [1, 7, 16, 17, 67] {
                let mut x = positive(len, 3);
                x[len / 2] = s;
                let (got, _) = row(&x, &x);
                let want = if x.iter().any(|v| v.is_infinite()) {
                    f64::NAN
                } else {
                    reference(&x, &x)
                };
                if x.iter().sum::<f64>() > 0.0 {
                    assert!(close(got, want, 1e-12), "{got} vs {want} for {x:?}");
                }
            }
        }
    }

    #[test]
    fn f32_rows_are_within_the_f32_contract() {
        for len in [1usize, 2, 3, 10, 17, 100, 1000] {
            let p: Vec<f32> = positive(len, 5).iter().map(|&v| v as f32).collect();
            let q: Vec<f32> = positive(len, 9)
                .iter()
                .map(|&v| (v as f32).max(1e-30))
                .collect();
            if p.iter().sum::<f32>() <= 0.0 {
                continue;
            }
            let (got, _) = row(&p, &q);
            let want = reference(&p, &q);
            assert!(close(got, want, 1e-6), "{got:e} vs {want:e}");
            let (got, _) = row(&p, &p);
            let want = reference(&p, &p);
            assert!(close(got, want, 1e-6), "{got:e} vs {want:e}");
        }
        // subnormal f32 values and a huge range: f64 logs take over, still exact
        let x = [1e-45f32, 3e38, 1e-40, 1.0];
        let (got, _) = row(&x, &x);
        let want = reference(&x, &x);
        assert!(close(got, want, 1e-6), "{got:e} vs {want:e}");
        // long rows (the one-pass form) whose f32 terms p·ln q overflow f32: the condition
        // estimate becomes +inf and the row takes pass 2; negative and subnormal p
        // elsewhere in a row send it to the f64 logs
        for (len, huge) in [(300usize, 3e38f32), (1000, 1e37), (5000, 4e36)] {
            let mut p: Vec<f32> = positive(len, 3).iter().map(|&v| v as f32 + 0.5).collect();
            let q: Vec<f32> = positive(len, 4).iter().map(|&v| v as f32 + 0.5).collect();
            p[len / 3] = huge;
            for (a, b) in [(&p, &p), (&p, &q), (&q, &p)] {
                let (got, _) = row(a, b);
                let want = reference(a, b);
                assert!(
                    close(got, want, 1e-6),
                    "{len} {huge:e}: {got:e} vs {want:e}"
                );
            }
            let mut sub = q.clone();
            sub[len / 2] = 1e-44;
            let (got, _) = row(&sub, &q);
            let want = reference(&sub, &q);
            assert!(close(got, want, 1e-6), "{got:e} vs {want:e}");
            sub[len / 2] = -1.0;
            let (_, lowest) = row(&sub, &q);
            assert_eq!(lowest.p, -1.0);
        }
    }

    #[test]
    fn the_entropy_condition_bound_is_exact_below_one_and_an_upper_bound_above() {
        for (len, seed) in [(1usize, 1u64), (7, 2), (300, 3), (5000, 4)] {
            for scale in [1e-3, 1.0, 7.0, 1e6] {
                let x: Vec<f64> = positive(len, seed).iter().map(|&v| v * scale).collect();
                let max = x.iter().cloned().fold(0.0, f64::max);
                let (w, sum) = (
                    x.iter()
                        .map(|&v| if v > 0.0 { v * v.ln() } else { 0.0 })
                        .sum::<f64>(),
                    x.iter().sum::<f64>(),
                );
                let abs: f64 = x
                    .iter()
                    .map(|&v| if v > 0.0 { (v * v.ln()).abs() } else { 0.0 })
                    .sum();
                let bound = abs_entropy_terms_bound(w, sum, max);
                if max <= 1.0 {
                    assert!(close(bound, abs, 1e-12), "{bound} vs {abs}");
                } else {
                    assert!(bound >= abs * (1.0 - 1e-12), "{bound} < {abs}");
                }
            }
        }
    }

    struct Ln16F32;
    impl crate::simd::vector::LaneOp for Ln16F32 {
        fn apply<V: F8>(&self, v: V) -> V {
            ln16::<V, true>(v, v).0
        }
    }

    #[test]
    fn f32_logs_assembled_in_f64_are_within_8e_minus_8() {
        let mut x: Vec<f64> = (0..2_000_000u32)
            .map(|i| {
                let b = 0x0080_0000 + (i.wrapping_mul(2_654_435_761) % (0x7f80_0000 - 0x0080_0000));
                f32::from_bits(b) as f64
            })
            .collect();
        x.extend((1..100).map(|i| 2f64.powi(i - 50))); // powers of two: k·ln 2 exactly
        for (name, got) in crate::simd::vector::on_every_vector_type(&Ln16F32, &x) {
            let mut worst = 0f64;
            for (&g, &v) in got.iter().zip(&x) {
                let exact = v.ln();
                if exact != 0.0 {
                    worst = worst.max(((g - exact) / exact).abs());
                }
                if v.log2().fract() == 0.0 {
                    assert!(
                        (g - exact).abs() <= 2.0 * f64::EPSILON * exact.abs(),
                        "{name}: ln {v}"
                    );
                }
            }
            assert!(worst < 8e-8, "{name}: {worst:e}");
        }
    }

    #[test]
    fn one_pass_accepts_well_conditioned_rows_and_refuses_dominant_ones() {
        let p = positive(50_000, 1);
        let o = one_pass(&p, &p);
        let h = finish_one_pass(&o, false, p.len()).expect("well conditioned");
        assert!(close(h, reference(&p, &p), 1e-13));
        let x = [1e15, 1.0];
        assert_eq!(finish_one_pass(&one_pass(&x, &x), false, 2), None);
        let o = one_pass(&[1.0, 1.0], &[1.0, 0.0]);
        assert_eq!(finish_one_pass(&o, false, 2), Some(f64::INFINITY));
        // a q of 0 under a positive p, but a NaN, an infinite mass or a zero total: not
        // +inf here (the callers' careful forms give NaN)
        for (p, q) in [
            ([f64::NAN, 1.0], [1.0, 0.0]),
            ([1.0, 1.0], [f64::NAN, 0.0]),
            ([f64::INFINITY, 1.0], [1.0, 0.0]),
            ([1.0, 1.0], [0.0, 0.0]),
        ] {
            assert_eq!(
                finish_one_pass(&one_pass(&p, &q), false, 2),
                None,
                "{p:?} {q:?}"
            );
        }
    }

    /// A dominant mass 1 and n − 1 masses r: Σq rounds to 1 (or loses r's last digits), so
    /// ln Σq, all that separates H from Σ p ln q / Σp, is lost in the one-pass form
    /// (`entropy([1] + [1e-30]·999)` was 1.4% off). Rows (f64 and f32 data) meet the
    /// closed form; with f64 logs the one-pass finish keeps them (from the rest of the
    /// total), with f32 logs it refuses those of H below its resolution (pass 2).
    #[test]
    fn one_pass_counts_the_rounding_of_confident_totals() {
        for n in [257usize, 300, 1000, 4097, 40_000] {
            for r in [1e-30, 1e-20, 1e-12, 1e-8] {
                for f32_data in [false, true] {
                    let r = if f32_data { f64::from(r as f32) } else { r };
                    let (row_of, h_pq, h_pp) = confident(n, r);
                    let tol = if f32_data { 1e-6 } else { 1e-13 };
                    let (p, q) = (row_of(1.0), row_of(2.0));
                    let (got_pp, got_pq) = if f32_data {
                        let (p, q) = (to_f32(&p), to_f32(&q));
                        (row(&p, &p).0, row(&p, &q).0)
                    } else {
                        (row(&p, &p).0, row(&p, &q).0)
                    };
                    assert!(
                        close(got_pp, h_pp, tol),
                        "H n={n} r={r:e}: {got_pp:e} vs {h_pp:e}"
                    );
                    assert!(
                        close(got_pq, h_pq, tol),
                        "CE n={n} r={r:e}: {got_pq:e} vs {h_pq:e}"
                    );
                    if !f32_data {
                        // f64 logs: one pass keeps them, via ln max q + log1p(rest/max q)
                        for (b, want) in [(&p, h_pp), (&q, h_pq)] {
                            let o = one_pass(&p, b);
                            let v = finish_one_pass_within(&o, ONE_PASS_ROW_MAX_COND_F64, false, n)
                                .unwrap_or_else(|| panic!("n={n} r={r:e}: refused"));
                            assert!(close(v, want, 1e-13), "n={n} r={r:e}: {v:e} vs {want:e}");
                        }
                    }
                }
            }
        }
    }

    /// [`OnePass::rest_q`] is Σq less the largest q without cancelling: within a few
    /// ULP of the exact rest over leaves, lanes and pairwise combinations, with the
    /// largest value anywhere (first, last, a tie) and a rest 1e-30 of it.
    #[test]
    fn one_pass_keeps_the_rest_of_the_total_without_cancelling() {
        for n in [1usize, 3, 16, 17, 255, 256, 257, 1000, 4097, 70_001] {
            for case in 0..4u64 {
                let mut q = positive(n, n as u64 + case);
                let at = [0, n - 1, n / 2, n / 3][case as usize];
                let big = if case == 3 { 1e30 } else { 1e3 };
                q[at] = big;
                if case == 2 && n > 1 {
                    q[(at + 1) % n] = big; // a tie: one of them is the rest
                }
                let o = one_pass(&q, &q);
                let mut sorted = q.clone();
                sorted.sort_by(f64::total_cmp);
                let exact: f64 = sorted[..n - 1].iter().sum();
                assert_eq!(o.sums.max_q, big);
                assert!(
                    close(o.rest_q, exact, 1e-13),
                    "n={n} case {case}: {} vs {exact}",
                    o.rest_q
                );
            }
        }
    }

    fn to_f32(x: &[f64]) -> Vec<f32> {
        x.iter().map(|&v| v as f32).collect()
    }

    /// The native f32 one-pass (sixteen f32 lanes) against the same partials with f64
    /// logs: equal sums, extrema and flags; Σ p ln q within 8e-8 of Σ|p ln q|; subnormal
    /// f32 values fall back to the f64 logs exactly.
    #[test]
    fn native_f32_one_pass_matches_f64_logs_on_every_tail_and_special() {
        let f32_specials = [
            0.0f32,
            1e-45,
            1e-39,
            f32::MIN_POSITIVE,
            1e-30,
            0.25,
            1.0,
            3.5,
            1e30,
            f32::MAX,
            -1.0,
            f32::INFINITY,
            f32::NAN,
        ];
        let agree = |p: &[f32], q: &[f32]| {
            let fast = one_pass_with_logs(p, q, true);
            let slow = one_pass_with_logs(p, q, false);
            let what = format!("{p:?} {q:?}");
            assert_eq!(fast.sums.min, slow.sums.min, "{what}");
            assert_eq!(fast.zero_q, slow.zero_q, "{what}");
            assert!(close(fast.sums.max_q, slow.sums.max_q, 0.0), "{what}");
            assert!(close(fast.sums.sp, slow.sums.sp, 1e-15), "{what}");
            assert!(close(fast.sums.sq, slow.sums.sq, 1e-15), "{what}");
            let subnormal = q.iter().any(|&v| v > 0.0 && v < f32::MIN_POSITIVE);
            let finite = (slow.sums.sp + slow.sums.sq).is_finite();
            let negative = slow.sums.min.p < 0.0 || slow.sums.min.q < 0.0;
            if !finite || negative {
                // garbage logs either way: the callers take the careful path or report
            } else if subnormal {
                assert_eq!(fast, slow, "subnormal f32 must redo with f64 logs: {what}");
            } else if slow.w.is_finite() && !slow.zero_q {
                assert!(
                    (fast.w - slow.w).abs() <= 8e-8 * slow.a + 1e-300,
                    "w {} vs {} (a {}) for {what}",
                    fast.w,
                    slow.w,
                    slow.a
                );
            }
        };
        for len in 0..=67usize {
            let p: Vec<f32> = positive(len, len as u64)
                .iter()
                .map(|&v| v as f32)
                .collect();
            let q: Vec<f32> = positive(len, 99 + len as u64)
                .iter()
                .map(|&v| v as f32)
                .collect();
            agree(&p, &p);
            agree(&p, &q);
            for &s in &f32_specials {
                for pos in [0, len / 2, len.saturating_sub(1)] {
                    if pos < len {
                        let mut ps = p.clone();
                        ps[pos] = s;
                        agree(&ps, &ps);
                        agree(&ps, &q);
                        agree(&p, &ps);
                    }
                }
            }
        }
        let long: Vec<f32> = positive(10_007, 5).iter().map(|&v| v as f32).collect();
        agree(&long, &long);
    }
}
