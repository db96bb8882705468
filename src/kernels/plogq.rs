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
//! Σ|p ln q|/Σp, so the finish measures the condition (|Σp·ln Σq| + Σ|p ln q|)/(Σp·H) and
//! accepts the result only below [`ONE_PASS_MAX_COND_F64`] (f64 logs: error ≲ 50 ULP ×
//! cond) or [`ONE_PASS_MAX_COND_F32`] (native f32 logs, ≤ 3e-8 relative each: error ≲
//! 3e-8 × cond). Otherwise the caller runs pass 2 over the row — paying a second read
//! only where the data need it.
//!
//! **float32 input** (DESIGN §2b) takes its logarithms in f32, sixteen lanes at once
//! ([`crate::simd::log_f32`], ≤ 1 ULP), everything else in f64. A block holding a
//! subnormal f32 value (outside the f32 log's domain) redoes its logs in f64.
//!
//! **Sums** are exact enough that they never limit the result: every sum runs in lanes
//! over leaves of [`super::LEAF`] elements combined pairwise (error ≲ (LEAF/16 + log₂ n)·u).
//!
//! Rows with NaN, ±inf, zero totals, or totals outside [2^−1000, 2^1000] are not
//! "regular": [`careful_row`] handles them (NaN propagates; a total out of range is
//! rescaled by an exact power of two, which leaves H unchanged).

use super::{min_ignoring_nan, pairwise, Partial, Real, GROUP};
use crate::simd::log::ln_finite;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// Largest condition accepted from the one-pass form with f64 logarithms.
pub const ONE_PASS_MAX_COND_F64: f64 = 16.0;
/// Largest condition accepted from the one-pass form with native f32 logarithms.
pub const ONE_PASS_MAX_COND_F32: f64 = 16.0;
/// Totals in this range are "regular" (see the module docs).
const REGULAR_MIN: f64 = 9.332_636_185_032_189e-302; // 2^-1000
const REGULAR_MAX: f64 = 1.071_508_607_186_267_3e301; // 2^1000
/// The smallest normal f32, below which the native f32 logarithm is not used.
const F32_MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;

// ------------------------------------------------------------------------ statistics

/// Pass-1 statistics of a (p, q) row or block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sums {
    /// Σ p.
    pub sp: f64,
    /// Σ q.
    pub sq: f64,
    /// The largest q (NaN ignored; 0 for an empty row).
    pub max_q: f64,
    /// min(0, smallest p and smallest q), NaN ignored: below 0 means an input error.
    pub min: Lowest,
}

/// The smallest values seen of p and of q, or 0 if none is smaller (NaN ignored): a
/// negative one is an input error, reported by the caller naming its argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lowest {
    /// min(0, smallest p).
    pub p: f64,
    /// min(0, smallest q).
    pub q: f64,
}

impl Lowest {
    /// Nothing below 0 seen.
    pub const NONE: Lowest = Lowest { p: 0.0, q: 0.0 };
    /// The smaller of both, per side.
    #[inline]
    pub fn min(self, o: Lowest) -> Lowest {
        Lowest {
            p: min_ignoring_nan(self.p, o.p),
            q: min_ignoring_nan(self.q, o.q),
        }
    }
}

impl Partial for Sums {
    const EMPTY: Self = Sums {
        sp: 0.0,
        sq: 0.0,
        max_q: 0.0,
        min: Lowest::NONE,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        Sums {
            sp: self.sp + o.sp,
            sq: self.sq + o.sq,
            max_q: if o.max_q > self.max_q {
                o.max_q
            } else {
                self.max_q
            },
            min: self.min.min(o.min),
        }
    }
}

/// One-pass partials of a (p, q) block: [`Sums`] plus Σ p·ln q and Σ|p·ln q|.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnePass {
    /// Σp, Σq, max q, min.
    pub sums: Sums,
    /// Σ p·ln q over p > 0.
    pub w: f64,
    /// Σ |p·ln q| over p > 0.
    pub a: f64,
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
        zero_q: false,
        f32_unsafe: false,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        OnePass {
            sums: self.sums.combine(o.sums),
            w: self.w + o.w,
            a: self.a + o.a,
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

impl Sums {
    /// Whether the row can take the regular two-pass path (finite, positive totals in
    /// [2^−1000, 2^1000]; NaN fails every comparison).
    #[inline]
    pub fn regular(&self) -> bool {
        (REGULAR_MIN..=REGULAR_MAX).contains(&self.sp)
            && (REGULAR_MIN..=REGULAR_MAX).contains(&self.sq)
    }

    /// The constants of pass 2 (meaningful for a [regular](Sums::regular) row).
    #[inline]
    pub fn consts(&self) -> Consts {
        let e = 1023 - ((self.sq.to_bits() >> 52) & 0x7ff) as i32;
        let scale = f64::from_bits(((e + 1023) as u64) << 52);
        Consts {
            inv_sp: 1.0 / self.sp,
            e: e as f64,
            c: crate::simd::log::ln_lane(self.sq * scale),
            max_q: self.max_q,
            dominant: self.max_q > 0.5 * self.sq,
        }
    }
}

/// log1p(z) for z ≥ 0 from the vector log: ln(1+z) plus the rounding of 1+z, corrected.
#[inline(always)]
fn log1p<V: F8>(z: V) -> V {
    let u = V::splat(1.0).add(z);
    let correction = z.sub(u.sub(V::splat(1.0))).div(u);
    ln_finite(u).add(correction)
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

/// The one-pass value, if its condition allows it (see the module docs); `None` asks for
/// pass 2. `f32_logs`: whether the logs were native f32.
#[inline]
pub fn finish_one_pass(o: &OnePass, f32_logs: bool) -> Option<f64> {
    if o.zero_q {
        return Some(f64::INFINITY);
    }
    let s = &o.sums;
    if !s.regular() || o.f32_unsafe {
        return None;
    }
    let s_ln_s = s.sp * crate::simd::log::ln_lane(s.sq);
    let h = (s_ln_s - o.w) / s.sp;
    let cond = (s_ln_s.abs() + o.a) / (s.sp * h);
    let limit = if f32_logs {
        ONE_PASS_MAX_COND_F32
    } else {
        ONE_PASS_MAX_COND_F64
    };
    (h > 0.0 && cond <= limit).then_some(h)
}

// --------------------------------------------------------------------- lane helpers

/// ln of sixteen positive values given as two f64 halves (see [`ln16_shifted`]).
#[inline(always)]
fn ln16<V: F8, const F32: bool>(lo: V, hi: V) -> (V, V) {
    let zero = V::splat(0.0);
    ln16_shifted::<V, F32>(lo, hi, zero, zero)
}

/// ln(x·2^e) of sixteen positive values (two f64 halves, with their exponent shifts):
/// e is added to each value's exponent inside the logarithm, so x·2^e is never formed
/// and cannot underflow or overflow.
///
/// With `F32` (f32 data: the values must be normal f32 numbers) the reduction and the
/// polynomial run on sixteen f32 lanes, but the pieces are assembled in f64: x = 2^k(1+f)
/// with k and f exact, and ln x = k·ln 2 + f + rest where only rest = ln(1+f) − f
/// (|rest| ≤ f²/2) carries f32 rounding. So ln x is within ~3e-8 relative (against 7.9e-8
/// for an all-f32 log) and exact powers of two give k·ln 2 to f64 precision — the entropy
/// of a uniform f32 distribution is log₂ n, not its f32 rounding.
#[inline(always)]
fn ln16_shifted<V: F8, const F32: bool>(lo: V, hi: V, e_lo: V, e_hi: V) -> (V, V) {
    if F32 {
        let (k, f, rest) = crate::simd::log_f32::ln_parts(V::F32s::from_wide(lo, hi));
        let ((k0, k1), (f0, f1), (r0, r1)) = (k.widen(), f.widen(), rest.widen());
        (
            crate::simd::log::ln_from_parts(k0.add(e_lo), f0, r0),
            crate::simd::log::ln_from_parts(k1.add(e_hi), f1, r1),
        )
    } else {
        let shift = |x: V, e: V| {
            let (k, f, rest) = crate::simd::log::ln_finite_parts(x);
            crate::simd::log::ln_from_parts(k.add(e), f, rest)
        };
        (shift(lo, e_lo), shift(hi, e_hi))
    }
}

/// Sixteen elements of `x` from `i` (zero-padded past the end) as two f64 halves.
#[inline(always)]
fn load16<V: F8, T: Real>(x: &[T], i: usize) -> (V, V) {
    if i + 16 <= x.len() {
        (
            V::load(x[i..i + 8].try_into().expect("8")),
            V::load(x[i + 8..i + 16].try_into().expect("8")),
        )
    } else {
        let end = x.len();
        let mid = (i + 8).min(end);
        (V::load_padded(&x[i..mid]), V::load_padded(&x[mid..end]))
    }
}

/// 1.0 where `m`, else 0.0.
#[inline(always)]
fn flag<V: F8>(m: V::Mask) -> V {
    V::select(m, V::splat(1.0), V::splat(0.0))
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

/// Per-lane pass-2 constants for eight lanes.
#[derive(Clone, Copy)]
struct Lanes<V> {
    inv_sp: V,
    e: V,
    c: V,
    max_q: V,
    dominant: V,
}

impl<V: F8> Lanes<V> {
    #[inline(always)]
    fn splat(k: &Consts) -> Self {
        Lanes {
            inv_sp: V::splat(k.inv_sp),
            e: V::splat(k.e),
            c: V::splat(k.c),
            max_q: V::splat(k.max_q),
            dominant: V::splat(if k.dominant { 1.0 } else { 0.0 }),
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
    for (h, ((a, (p, q)), (l, s))) in acc
        .iter_mut()
        .zip([p.0, p.1].into_iter().zip([q.0, q.1]))
        .zip([l.0, l.1].into_iter().zip([q.0, q.1]))
        .enumerate()
    {
        let k = &k[h];
        let zero = V::splat(0.0);
        let is_dom = V::and(k.dominant.eq(V::splat(1.0)), q.eq(k.max_q));
        let term = p.mul(k.inv_sp).mul(k.c.sub(l));
        let skip = V::or(is_dom, p.eq(zero));
        a.t = a.t.add(V::select(skip, zero, term));
        a.p_dom = a.p_dom.add(V::select(is_dom, p, zero));
        a.rest_q = a.rest_q.add(V::select(is_dom, zero, q));
        a.zero_q = a
            .zero_q
            .max_ignoring_nan(flag(V::and(q.eq(zero), p.gt(zero))));
        a.min_q = a
            .min_q
            .min_ignoring_nan(V::select(s.gt(zero), s, V::splat(f64::INFINITY)));
    }
}

// ------------------------------------------------------------ horizontal (one row)

#[inline(always)]
fn sums_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> Sums {
    let n = p.len().min(q.len());
    pairwise(n, |start, end| {
        let zero = V::splat(0.0);
        let (mut sp, mut sq, mut mq) = ([zero; 2], [zero; 2], [zero; 2]);
        let (mut mp, mut mnq) = ([zero; 2], [zero; 2]);
        let mut i = start;
        while i < end {
            let (a0, a1) = load16::<V, T>(&p[..end], i);
            let (b0, b1) = load16::<V, U>(&q[..end], i);
            for (h, (a, b)) in [(a0, b0), (a1, b1)].into_iter().enumerate() {
                sp[h] = sp[h].add(a);
                sq[h] = sq[h].add(b);
                mq[h] = mq[h].max_ignoring_nan(b);
                mp[h] = mp[h].min_ignoring_nan(a);
                mnq[h] = mnq[h].min_ignoring_nan(b);
            }
            i += 16;
        }
        Sums {
            sp: sp[0].add(sp[1]).sum_lanes(),
            sq: sq[0].add(sq[1]).sum_lanes(),
            max_q: mq[0].max_ignoring_nan(mq[1]).max_lane(),
            min: Lowest {
                p: mp[0].min_ignoring_nan(mp[1]).min_lane(),
                q: mnq[0].min_ignoring_nan(mnq[1]).min_lane(),
            },
        }
    })
}

crate::simd::multiversion! {
    /// Pass 1 over a row (or block): Σp, Σq, max q, min.
    pub fn sums<T: Real, U: Real>(p: &[T], q: &[U]) -> Sums = sums_body;
}

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
    pairwise(n, |start, end| {
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
    let o = one_pass_with::<V, T, U>(p, q, U::IS_F32);
    if o.f32_unsafe {
        let mut o = one_pass_with::<V, T, U>(p, q, false);
        o.f32_unsafe = false;
        o
    } else {
        o
    }
}

#[inline(always)]
fn one_pass_with<V: F8, T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass {
    let n = p.len().min(q.len());
    pairwise(n, |start, end| {
        let zero = V::splat(0.0);
        let (mut sp, mut sq, mut mq) = ([zero; 2], [zero; 2], [zero; 2]);
        let (mut mp, mut mnq) = ([zero; 2], [zero; 2]);
        let (mut w, mut a, mut zq) = ([zero; 2], [zero; 2], [zero; 2]);
        let mut min_q = [V::splat(f64::INFINITY); 2];
        let mut i = start;
        while i < end {
            let (p0, p1) = load16::<V, T>(&p[..end], i);
            let (q0, q1) = load16::<V, U>(&q[..end], i);
            let (l0, l1) = if f32_logs {
                ln16::<V, true>(q0, q1)
            } else {
                ln16::<V, false>(q0, q1)
            };
            for (h, (pv, (qv, lv))) in [p0, p1]
                .into_iter()
                .zip([q0, q1].into_iter().zip([l0, l1]))
                .enumerate()
            {
                let term = V::select(pv.eq(zero), zero, pv.mul(lv));
                sp[h] = sp[h].add(pv);
                sq[h] = sq[h].add(qv);
                w[h] = w[h].add(term);
                a[h] = a[h].add(term.max_ignoring_nan(zero.sub(term)));
                mq[h] = mq[h].max_ignoring_nan(qv);
                mp[h] = mp[h].min_ignoring_nan(pv);
                mnq[h] = mnq[h].min_ignoring_nan(qv);
                zq[h] = zq[h].max_ignoring_nan(flag(V::and(qv.eq(zero), pv.gt(zero))));
                min_q[h] =
                    min_q[h].min_ignoring_nan(V::select(qv.gt(zero), qv, V::splat(f64::INFINITY)));
            }
            i += 16;
        }
        OnePass {
            sums: Sums {
                sp: sp[0].add(sp[1]).sum_lanes(),
                sq: sq[0].add(sq[1]).sum_lanes(),
                max_q: mq[0].max_ignoring_nan(mq[1]).max_lane(),
                min: Lowest {
                    p: mp[0].min_ignoring_nan(mp[1]).min_lane(),
                    q: mnq[0].min_ignoring_nan(mnq[1]).min_lane(),
                },
            },
            w: w[0].add(w[1]).sum_lanes(),
            a: a[0].add(a[1]).sum_lanes(),
            zero_q: zq[0].max_ignoring_nan(zq[1]).max_lane() > 0.0,
            f32_unsafe: f32_logs && min_q[0].min_ignoring_nan(min_q[1]).min_lane() < F32_MIN_NORMAL,
        }
    })
}

crate::simd::multiversion! {
    /// The one-pass partials of a block (long rows; see the module docs).
    pub fn one_pass<T: Real, U: Real>(p: &[T], q: &[U]) -> OnePass = one_pass_body;
}

#[inline(always)]
fn one_pass_logs_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass {
    let f32_logs = f32_logs && U::IS_F32;
    let o = one_pass_with::<V, T, U>(p, q, f32_logs);
    if o.f32_unsafe {
        let mut o = one_pass_with::<V, T, U>(p, q, false);
        o.f32_unsafe = false;
        o
    } else {
        o
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
    let s = sums(p, q);
    if !s.regular() {
        return (careful_row(p, q), s.min);
    }
    let k = s.consts();
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
    // Scale each side by the power of two that brings its largest value near 1: the
    // totals are then in [1/2, n], regular, and P, Q are unchanged.
    let factor = |m: f64| {
        let k = -(m.log2().floor() as i32);
        // two factors: 2^k itself may not be representable
        (2f64.powi(k / 2), 2f64.powi(k - k / 2))
    };
    let (fp, fq) = (factor(max_p), factor(max_q));
    let ps: Vec<f64> = p.iter().map(|&v| v.to_f64() * fp.0 * fp.1).collect();
    let qs: Vec<f64> = q.iter().map(|&v| v.to_f64() * fq.0 * fq.1).collect();
    let s = sums(&ps, &qs);
    if !s.regular() {
        return f64::NAN;
    }
    let k = s.consts();
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

/// Cross-entropies of up to [`GROUP`] short rows at once, lane = row: `p[c][j]` is
/// element `c` of row `j`, rows shorter than `p.len()` zero-padded (zeros change no
/// statistic). Writes `out[j]` for the first `out.len()` rows and returns the smallest
/// value seen (negative: an input error). Rows that are not regular are left to the
/// caller (`regular[j] == false`): it runs [`careful_row`] on them.
#[inline(always)]
fn group_body<V: F8, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let zero = V::splat(0.0);
    let half = |row: &[f64; GROUP], h: usize| -> V {
        V::load_f64(row[h * 8..h * 8 + 8].try_into().expect("8"))
    };
    // pass 1, lane = row
    let (mut sp, mut sq, mut mq) = ([zero; 2], [zero; 2], [zero; 2]);
    let (mut mp, mut mnq) = ([zero; 2], [zero; 2]);
    for (pr, qr) in p.iter().zip(q) {
        for h in 0..2 {
            let (a, b) = (half(pr, h), half(qr, h));
            sp[h] = sp[h].add(a);
            sq[h] = sq[h].add(b);
            mq[h] = mq[h].max_ignoring_nan(b);
            mp[h] = mp[h].min_ignoring_nan(a);
            mnq[h] = mnq[h].min_ignoring_nan(b);
        }
    }
    // per-lane constants (scalar: sixteen rows' worth)
    let mut consts = [Consts {
        inv_sp: 1.0,
        e: 0.0,
        c: 0.0,
        max_q: 1.0,
        dominant: false,
    }; GROUP];
    let (spa, sqa, mqa) = (
        [sp[0].to_array(), sp[1].to_array()].concat(),
        [sq[0].to_array(), sq[1].to_array()].concat(),
        [mq[0].to_array(), mq[1].to_array()].concat(),
    );
    for j in 0..out.len() {
        let s = Sums {
            sp: spa[j],
            sq: sqa[j],
            max_q: mqa[j],
            min: Lowest::NONE,
        };
        regular[j] = s.regular();
        if regular[j] {
            consts[j] = s.consts();
        }
    }
    let lanes: [Lanes<V>; 2] = std::array::from_fn(|h| {
        let pick =
            |f: fn(&Consts) -> f64| V::from_array(std::array::from_fn(|i| f(&consts[h * 8 + i])));
        Lanes {
            inv_sp: pick(|k| k.inv_sp),
            e: pick(|k| k.e),
            c: pick(|k| k.c),
            max_q: pick(|k| k.max_q),
            dominant: pick(|k| if k.dominant { 1.0 } else { 0.0 }),
        }
    });
    // pass 2
    let run = |f32_logs: bool| {
        let mut acc = [Acc2::<V>::new(); 2];
        for (pr, qr) in p.iter().zip(q) {
            let a = (half(pr, 0), half(pr, 1));
            let b = (half(qr, 0), half(qr, 1));
            if f32_logs {
                pass2_step::<V, true>(&mut acc, a, b, &lanes);
            } else {
                pass2_step::<V, false>(&mut acc, a, b, &lanes);
            }
        }
        acc
    };
    let mut acc = run(U::IS_F32);
    if U::IS_F32 {
        // Lanes (rows) holding a subnormal f32 value take f64 logs; the
        // others keep theirs, so a row's value never depends on its neighbours.
        let limit = V::splat(F32_MIN_NORMAL);
        if V::any(V::or(acc[0].min_q.lt(limit), acc[1].min_q.lt(limit))) {
            let redo = run(false);
            for (a, r) in acc.iter_mut().zip(redo) {
                let bad = a.min_q.lt(limit);
                a.t = V::select(bad, r.t, a.t);
                a.p_dom = V::select(bad, r.p_dom, a.p_dom);
                a.rest_q = V::select(bad, r.rest_q, a.rest_q);
                a.zero_q = V::select(bad, r.zero_q, a.zero_q);
            }
        }
    }
    // finish, lane-wise: t + (p_dom/Σp)·log1p(rest/max q) where dominant
    for h in 0..2 {
        let a = &acc[h];
        let k = &lanes[h];
        let dom = a.p_dom.mul(k.inv_sp).mul(log1p(a.rest_q.div(k.max_q)));
        let dom = V::select(k.dominant.eq(V::splat(1.0)), dom, zero);
        let h_val = a.t.add(dom);
        let h_val = V::select(a.zero_q.gt(zero), V::splat(f64::INFINITY), h_val);
        let vals = h_val.to_array();
        for (i, &v) in vals.iter().enumerate() {
            let j = h * 8 + i;
            if j < out.len() {
                out[j] = v;
            }
        }
    }
    Lowest {
        p: mp[0].min_ignoring_nan(mp[1]).min_lane(),
        q: mnq[0].min_ignoring_nan(mnq[1]).min_lane(),
    }
}

crate::simd::multiversion! {
    /// Cross-entropies of up to sixteen short rows, transposed (see `group_body`).
    pub fn group<U: Real>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) -> Lowest = group_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, SPECIALS};

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
            group::<f64>(&pt, &qt, &mut out, &mut regular);
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
    }

    struct Ln16F32;
    impl crate::simd::vector::LaneOp for Ln16F32 {
        fn apply<V: F8>(&self, v: V) -> V {
            ln16::<V, true>(v, v).0
        }
    }

    #[test]
    fn f32_logs_assembled_in_f64_are_within_3e_minus_8() {
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
            assert!(worst < 3e-8, "{name}: {worst:e}");
        }
    }

    #[test]
    fn one_pass_accepts_well_conditioned_rows_and_refuses_dominant_ones() {
        let p = positive(50_000, 1);
        let o = one_pass(&p, &p);
        let h = finish_one_pass(&o, false).expect("well conditioned");
        assert!(close(h, reference(&p, &p), 1e-13));
        let x = [1e15, 1.0];
        assert_eq!(finish_one_pass(&one_pass(&x, &x), false), None);
        let o = one_pass(&[1.0, 1.0], &[1.0, 0.0]);
        assert_eq!(finish_one_pass(&o, false), Some(f64::INFINITY));
    }
}
