//! The exact second pass of KL(softmax a ‖ softmax b), for nearly equal logits.
//!
//! The one-pass form of [`super::logits`] (`log1p(rest_b) − log1p(rest_a) + G/S_a`) adds
//! terms of both signs, so its error is a few ULP of the terms' size: about 1e-16
//! absolute, which is everything when the divergence itself is 1e-14 (two models that
//! differ by 1e-6 in their logits; a policy against its reference). Where the one pass
//! cannot vouch for its value ([`super::logits::PairStats::kl_one_pass`]), the row's
//! divergence is summed again from **non-negative** terms:
//!
//! `D = Σ Q_i·h(t_i)`, `t_i = ln(P_i/Q_i) = (a_i − b_i) − δ`, `h(t) = t·e^t − e^t + 1 ≥ 0`,
//!
//! with `δ = (m_a − m_b) + (l_a − l_b)` the difference of the log-normalisers
//! (`l = log1p(rest)`). Each term carries only its own relative rounding, so the sum does
//! too, once `t` is exact to its own precision:
//! - `a_i − b_i` is taken exactly as a two-term sum (`s + e`) and `m_a − m_b` likewise, so
//!   `t = ((s − δ_hi) − (l_a − l_b)) + (e − δ_lo)`: the first subtraction is exact where it
//!   matters (`s ≈ δ_hi`), and a large common shift between the logits (`a = b + 100 + …`)
//!   costs nothing;
//! - the error Δ of `l_a − l_b` (an ULP of the log-normalisers, up to 1e-15) shifts every
//!   `t` alike, which moves the sum `F = Σ Q·h(t)` to `D + Δ·D + Δ²/2` (as
//!   `Σ Q·h'(t) = Σ P·t = D`) — a floor of 1e-31 that is 1e-13 of a divergence of 1e-18.
//!   The pass therefore also sums `E = Σ Q·(e^t − 1)`, which is `e^Δ − 1` up to
//!   `ε·Σ Q·|e^t − 1|`, and returns `F/(1 + E) − E²/2` (the divergence of the
//!   renormalised `P`: exactly `D` to second order in Δ);
//! - `h(t)` is its series `t²·Σ_k (k+1)/(k+2)!·t^k` where `|t| ≤ 1` (20 terms reach 2^-60
//!   of h there), and `P·(t − 1) + Q` beyond, which cancels by at most a factor 4
//!   (at `t = −1`). Lanes with `|t| ≤ 1/16` — all of them, for nearly equal rows — take
//!   shorter series (no division, no exponential of P);
//! - float32 rows (DESIGN §2b) take the terms in f32 lanes, t and the exponents of P and Q
//!   still from exact f64 differences: the short series where |t| ≤ 1/16, elsewhere
//!   series and closed forms that add only like-signed parts ([`general16`]): within 4e-7
//!   per term (f64 terms only where an exponential or a term leaves the f32 range).
//!
//! Special values match the one pass: an `a_i = −inf` term is `Q_i` (P = 0), both −inf
//! contribute 0, a finite `a_i` against `b_i = −inf` is +inf (the one pass already
//! reported it), NaN propagates.

use super::double_double;
use super::logits::load_tail;
use super::two_pass::two_sum;
use super::{Real, GROUP, LANES};
use crate::simd::exp::exp;
use crate::simd::exp_f32::{exp_fast, FAST_MIN};
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// The coefficients of h(t)/t² = Σ_k (k+1)/(k+2)!·t^k, k = 0..19.
const H_SERIES: [f64; 20] = {
    let mut c = [0.0; 20];
    let mut factorial = 2.0; // (k + 2)!
    let mut k = 0;
    while k < 20 {
        c[k] = (k as f64 + 1.0) / factorial;
        factorial *= k as f64 + 3.0;
        k += 1;
    }
    c
};

/// A row's constants for the terms: both maxima and `l = log1p(rest)`, and `m_a − m_b`
/// as an exact two-term sum.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KlNorm {
    /// The maximum of `a`.
    pub ma: f64,
    /// log1p(rest_a): `P_i = exp((a_i − m_a) − l_a)`.
    pub la: f64,
    /// The maximum of `b`.
    pub mb: f64,
    /// log1p(rest_b).
    pub lb: f64,
}

impl KlNorm {
    /// `(δ_hi, δ_lo, l_a − l_b)`: `m_a − m_b = δ_hi + δ_lo` exactly.
    #[inline]
    fn shift(&self) -> (f64, f64, f64) {
        let (hi, lo) = two_sum(self.ma, -self.mb);
        (hi, lo, self.la - self.lb)
    }
}

/// Horner's rule over `coeffs` (lowest first), scalar.
#[inline]
fn horner_scalar(t: f64, coeffs: &[f64]) -> f64 {
    coeffs.iter().rev().fold(0.0, |acc, &c| acc.mul_add(t, c))
}

/// h(t)/t² by Horner's rule (scalar).
#[inline]
fn h_over_t2_scalar(t: f64) -> f64 {
    horner_scalar(t, &H_SERIES)
}

/// The second pass's sums over a row or block: `F = Σ Q·h(t)` and `E = Σ Q·(e^t − 1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlTerms {
    /// Σ Q·h(t) (≥ 0).
    pub h: f64,
    /// Σ Q·(e^t − 1): the normalisation defect of the implied P (≈ Δ).
    pub f: f64,
}

impl super::Partial for KlTerms {
    const EMPTY: Self = KlTerms { h: 0.0, f: 0.0 };
    #[inline]
    fn combine(self, o: Self) -> Self {
        KlTerms {
            h: self.h + o.h,
            f: self.f + o.f,
        }
    }
}

impl KlTerms {
    /// The divergence (nats): `F/(1 + E) − E²/2`, the first-order shift of the
    /// log-normalisers' rounding taken out.
    #[inline]
    pub fn value(self) -> f64 {
        if !self.h.is_finite() {
            return self.h;
        }
        (self.h / (1.0 + self.f) - 0.5 * self.f * self.f).max(0.0)
    }
}

/// e^t − 1 from h(t) where |t| ≤ 1/2: h = t + (t − 1)(e^t − 1), no cancellation there.
#[inline]
fn expm1_from_h(h: f64, t: f64) -> f64 {
    (h - t) / (t - 1.0)
}

/// One pair's (Q·h(t), Q·(e^t − 1)) (the scalar reference of [`kl_sum`]).
pub fn kl_term(x: f64, y: f64, k: &KlNorm) -> (f64, f64) {
    if x.is_nan() || y.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    let q = if y == f64::NEG_INFINITY {
        0.0
    } else {
        ((y - k.mb) - k.lb).exp()
    };
    if x == f64::NEG_INFINITY {
        return (q, -q);
    }
    let p = ((x - k.ma) - k.la).exp();
    if y == f64::NEG_INFINITY {
        return (f64::INFINITY, p);
    }
    let (hi, lo, dl) = k.shift();
    let (s, e) = two_sum(x, -y);
    let t = ((s - hi) - dl) + (e - lo);
    let h = if t.abs() <= 0.0625 {
        q * (t * t * horner_scalar(t, &H_SERIES[..SHORT_H]))
    } else if t.abs() <= 1.0 {
        q * (t * t * h_over_t2_scalar(t))
    } else if p == 0.0 {
        q
    } else {
        p * (t - 1.0) + q
    };
    let f = if t.abs() <= 0.0625 {
        q * (t * t).mul_add(horner_scalar(t, SHORT_EXPM1), t)
    } else if t.abs() <= 0.5 {
        q * expm1_from_h(t * t * h_over_t2_scalar(t), t)
    } else {
        p - q
    };
    (h, f)
}

/// The second pass over two rows (or pieces) of logits, scalar (tests).
pub fn kl_terms<T: Real, U: Real>(a: &[T], b: &[U], k: &KlNorm) -> KlTerms {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| kl_term(x.to_f64(), y.to_f64(), k))
        .fold(KlTerms { h: 0.0, f: 0.0 }, |acc, (h, f)| KlTerms {
            h: acc.h + h,
            f: acc.f + f,
        })
}

/// Per-lane constants: `m_a, l_a, m_b, l_b, δ_hi, δ_lo, l_a − l_b`.
#[derive(Clone, Copy)]
struct Lanes<V> {
    ma: V,
    la: V,
    mb: V,
    lb: V,
    hi: V,
    lo: V,
    dl: V,
}

impl<V: F8> Lanes<V> {
    #[inline(always)]
    fn splat(k: &KlNorm) -> Self {
        let (hi, lo, dl) = k.shift();
        Lanes {
            ma: V::splat(k.ma),
            la: V::splat(k.la),
            mb: V::splat(k.mb),
            lb: V::splat(k.lb),
            hi: V::splat(hi),
            lo: V::splat(lo),
            dl: V::splat(dl),
        }
    }

    /// Lane `l` holds row `l`'s constants.
    #[inline(always)]
    fn per_lane(k: &[KlNorm; LANES]) -> Self {
        // plain loops, then the vectors (a closure building them would be compiled without
        // the caller's target features: tests/test_simd_inlining.py)
        let mut f = [[0.0; LANES]; 7];
        for (l, k) in k.iter().enumerate() {
            let (hi, lo, dl) = k.shift();
            for (field, v) in f.iter_mut().zip([k.ma, k.la, k.mb, k.lb, hi, lo, dl]) {
                field[l] = v;
            }
        }
        Lanes {
            ma: V::from_array(f[0]),
            la: V::from_array(f[1]),
            mb: V::from_array(f[2]),
            lb: V::from_array(f[3]),
            hi: V::from_array(f[4]),
            lo: V::from_array(f[5]),
            dl: V::from_array(f[6]),
        }
    }
}

/// Where every |t| ≤ 1/16 (nearly equal rows), h(t)/t² to 2^−56 from the first
/// [`SHORT_H`] terms of its series.
const SHORT_H: usize = 9;

/// The coefficients of X(s) = (e^s − 1 − s)/s² = Σ_k s^k/(k+2)!, k = 0..13: the first
/// 8 give e^t − 1 to 2^−60 where |t| ≤ 1/16 ([`SHORT_EXPM1`]), all 14 reach 2^−29 of X on
/// [0, 2] (the float32 lanes of [`general16`]).
const EXPM1_SERIES: [f64; 14] = {
    let mut c = [0.0; 14];
    let mut factorial = 2.0;
    let mut k = 0;
    while k < 14 {
        c[k] = 1.0 / factorial;
        factorial *= k as f64 + 3.0;
        k += 1;
    }
    c
};

/// (e^t − 1 − t)/t² where |t| ≤ 1/16 (see [`EXPM1_SERIES`]).
const SHORT_EXPM1: &[f64] = EXPM1_SERIES.split_at(8).0;

/// Horner's rule over `coeffs` (lowest first).
#[inline(always)]
fn horner<V: F8>(t: V, coeffs: &[f64]) -> V {
    let (last, rest) = coeffs.split_last().expect("coefficients");
    rest.iter()
        .rev()
        .fold(V::splat(*last), |acc, &c| acc.mul_add(t, V::splat(c)))
}

/// (Q·h(t), Q·(e^t − 1)) of eight lanes (the operations of [`kl_term`]). Lanes with
/// |t| ≤ 1/16 take short series (the same bits whatever the other lanes hold); only
/// vectors with a larger |t|, a −inf or a NaN pay for the full series, P's exponential
/// and the division.
#[inline(always)]
fn terms8<V: F8>(x: V, y: V, k: &Lanes<V>) -> (V, V) {
    let (zero, one, half) = (V::splat(0.0), V::splat(1.0), V::splat(0.5));
    let ninf = V::splat(f64::NEG_INFINITY);
    let (s, e) = double_double::two_sum(x, zero.sub(y));
    let t = s.sub(k.hi).sub(k.dl).add(e.sub(k.lo));
    // (b = −inf is Q = 0 also where m_b = −inf makes the exponent NaN)
    let q = V::select(y.eq(ninf), zero, exp(y.sub(k.mb).sub(k.lb)));
    // |t| ≤ r (false for NaN and ±inf)
    let within = |r: V| V::and(t.le(r), zero.sub(r).le(t));
    let t2 = t.mul(t);
    let short = within(V::splat(0.0625));
    let h_short = q.mul(t2.mul(horner(t, &H_SERIES[..SHORT_H])));
    let f_short = q.mul(t2.mul_add(horner(t, SHORT_EXPM1), t));
    if V::all(short) {
        return (h_short, f_short);
    }
    let p = exp(x.sub(k.ma).sub(k.la));
    let h_t = t2.mul(horner(t, &H_SERIES));
    let closed = V::select(p.eq(zero), q, p.mul(t.sub(one)).add(q));
    let h = V::select(within(one), q.mul(h_t), closed);
    let f = V::select(within(half), q.mul(h_t.sub(t).div(t.sub(one))), p.sub(q));
    let (h, f) = (V::select(short, h_short, h), V::select(short, f_short, f));
    let inf = V::splat(f64::INFINITY);
    (
        V::select(x.eq(ninf), q, V::select(y.eq(ninf), inf, h)),
        V::select(x.eq(ninf), zero.sub(q), V::select(y.eq(ninf), p, f)),
    )
}

/// float32 rows (DESIGN §2b): h(t)/t² from 5 terms and (e^t − 1 − t)/t² from 4, in f32,
/// where every |t| ≤ 1/16 (2^−26 of the value there).
const SHORT_H_F32: usize = 5;
/// 2^−100: f32 terms below it (where t² or Q·t² nears the subnormals) are taken in f64.
const TERM_MIN_F32: f32 = f32::from_bits(0x0d80_0000);
const SHORT_EXPM1_F32: usize = 4;

/// Horner's rule on sixteen f32 lanes (`coeffs` lowest first, rounded to f32).
#[inline(always)]
fn horner16<H: F16>(t: H, coeffs: &[f64]) -> H {
    let (last, rest) = coeffs.split_last().expect("coefficients");
    rest.iter().rev().fold(H::splat(*last as f32), |acc, &c| {
        acc.mul_add(t, H::splat(c as f32))
    })
}

/// Narrows eight-lane f64 halves to f32 lanes d and their rounding error c (d + c holds the
/// value to ~2^−48: the form [`exp_fast`] takes).
#[inline(always)]
fn split16<V: F8>(lo: V, hi: V) -> (V::F32s, V::F32s) {
    let d = V::F32s::from_wide(lo, hi);
    let (d0, d1) = d.widen();
    (d, V::F32s::from_wide(lo.sub(d0), hi.sub(d1)))
}

/// The float32 lanes' terms where some |t| exceeds 1/16: (Q·h(t), Q·(e^t − 1), valid).
/// P and Q by the fast f32 exp of their exponents (exact f64 differences split into d + c:
/// ≤ 8.2e−8 each), and, with s = |t|, only sums of like-signed terms:
/// - t ∈ [0, 1]: Q·s²·H(s), H = h/s² = 1 + (s − 1)·X(s) ≥ 1/2 (X below);
/// - t ∈ [−2, 0): P·s²·X(s), X(s) = (e^s − 1 − s)/s² (positive coefficients), since
///   Q·h(t) = Q − P·(1 + s) = P·(e^s − 1 − s);
/// - elsewhere Q + P·(t − 1): both terms positive for t > 1, and for t < −2 the
///   subtraction loses at most a factor 1.7 (P·(1 + s) ≤ 0.41·Q there);
/// - e^t − 1 as Q·(s + s²X(s)) (t ≥ 0) or −P·(s + s²X(s)) (t < 0) where s ≤ 2, P − Q
///   beyond (a factor ≤ 1.16 lost).
///
/// Each term within 4e−7 of its value (the exp's 8.2e−8 and a few f32 roundings of sums
/// without cancellation; 2.1e−7 measured over t ∈ [−87, 87]). Valid lanes: P and Q in the
/// fast exp's normal range and the term finite and above 2^−100, or exactly 0 (t = 0), or
/// both logits −inf (a term of 0); the caller takes the f64 terms elsewhere. A lane's value
/// depends on its own pair only.
#[inline(always)]
fn general16<V: F8>(
    (x, y): (V::F32s, V::F32s),
    (x0, x1): (V, V),
    (t0, t1): (V, V),
    t: V::F32s,
    (q, dq): (V::F32s, V::F32s),
    lanes: [&Lanes<V>; 2],
) -> (V::F32s, V::F32s, <V::F32s as F16>::Mask) {
    type H<V> = <V as F8>::F32s;
    let (zero, one) = (H::<V>::splat(0.0), V::splat(1.0));
    let s2 = H::<V>::from_wide(t0.mul(t0), t1.mul(t1));
    let tm1 = H::<V>::from_wide(t0.sub(one), t1.sub(one));
    let arg_p = |x: V, k: &Lanes<V>| x.sub(k.ma).sub(k.la);
    let (dp, cp) = split16::<V>(arg_p(x0, lanes[0]), arg_p(x1, lanes[1]));
    let p = exp_fast(dp, cp);
    let s = t.bits_and(0x7fff_ffff);
    let neg = t.lt(zero);
    let xs = horner16(s, &EXPM1_SERIES);
    // H(s) = 1 + (s − 1)·X(s) (from h = (s − 1)(e^s − 1) + s): ≥ 1/2 on [0, 1], so the
    // subtraction loses at most a factor 2
    let hs = s.sub(H::<V>::splat(1.0)).mul_add(xs, H::<V>::splat(1.0));
    let base = H::<V>::select(neg, p, q);
    let series_h = base.mul(s2.mul(H::<V>::select(neg, xs, hs)));
    let in_series = H::<V>::and(t.le(H::<V>::splat(1.0)), H::<V>::splat(-2.0).le(t));
    let h = H::<V>::select(in_series, series_h, p.mul_add(tm1, q));
    let em1 = base.mul(s2.mul_add(xs, s));
    let f = H::<V>::select(
        s.le(H::<V>::splat(2.0)),
        H::<V>::select(neg, zero.sub(em1), em1),
        p.sub(q),
    );
    let ninf = H::<V>::splat(f32::NEG_INFINITY);
    let absent = H::<V>::and(x.eq(ninf), y.eq(ninf));
    let fast_min = H::<V>::splat(FAST_MIN);
    // (a finite h bounds P and Q, hence f)
    let in_range = H::<V>::and(
        H::<V>::splat(TERM_MIN_F32).le(h),
        h.le(H::<V>::splat(f32::MAX)),
    );
    let ok = H::<V>::and(
        H::<V>::and(fast_min.le(dq), fast_min.le(dp)),
        H::<V>::or(in_range, t.eq(zero)),
    );
    (
        H::<V>::select(absent, zero, h),
        H::<V>::select(absent, zero, f),
        H::<V>::or(ok, absent),
    )
}

/// (Q·h(t), Q·(e^t − 1)) of sixteen float32 pairs (DESIGN §2b) as two f64 halves, lanes
/// `0..8` with the constants `lanes[0]`, `8..16` with `lanes[1]`: t and the exponents of P
/// and Q taken in f64 (exact differences of f32 values), the terms in f32 lanes. Lanes
/// with |t| ≤ 1/16 (nearly equal rows) take the short series (Q alone; 2^−26 of the
/// value); the others [`general16`]'s forms (≤ 4e−7 a term). A lane whose exponentials
/// leave the fast exp's normal range, or whose term is below 2^−100 (not exactly 0), takes
/// the f64 term of [`terms8`]; which form a lane takes depends on its own pair only.
#[inline(always)]
fn terms16_f32<V: F8>(x: V::F32s, y: V::F32s, lanes: [&Lanes<V>; 2]) -> ([V; 2], [V; 2]) {
    type H<V> = <V as F8>::F32s;
    let cut = H::<V>::splat(0.0625);
    let ((x0, x1), (y0, y1)) = (x.widen(), y.widen());
    let t_of = |x: V, y: V, k: &Lanes<V>| x.sub(y).sub(k.hi).sub(k.dl).sub(k.lo);
    let arg_q = |y: V, k: &Lanes<V>| y.sub(k.mb).sub(k.lb);
    let (t0, t1) = (t_of(x0, y0, lanes[0]), t_of(x1, y1, lanes[1]));
    let t = H::<V>::from_wide(t0, t1);
    let (d, c) = split16::<V>(arg_q(y0, lanes[0]), arg_q(y1, lanes[1]));
    let q = exp_fast(d, c);
    let t2 = t.mul(t);
    let h32 = q.mul(t2.mul(horner16(t, &H_SERIES[..SHORT_H_F32])));
    let f32v = q.mul(t2.mul_add(horner16(t, &SHORT_EXPM1[..SHORT_EXPM1_F32]), t));
    // |t| ≤ 1/16, Q within the fast exp's range, and the term far above the f32
    // subnormals (or exactly 0): the short series
    let normal = H::<V>::or(
        H::<V>::splat(TERM_MIN_F32).le(h32),
        t.eq(H::<V>::splat(0.0)),
    );
    let short = H::<V>::and(
        H::<V>::and(t.le(cut), H::<V>::splat(-0.0625).le(t)),
        H::<V>::and(H::<V>::splat(FAST_MIN).le(d), normal),
    );
    let (h, f, valid) = if H::<V>::all(short) {
        (h32, f32v, short)
    } else {
        let (gh, gf, ok) = general16::<V>((x, y), (x0, x1), (t0, t1), t, (q, d), lanes);
        (
            H::<V>::select(short, h32, gh),
            H::<V>::select(short, f32v, gf),
            H::<V>::or(short, ok),
        )
    };
    let (s0, s1) = H::<V>::widen_mask(valid);
    let ((h0, h1), (f0, f1)) = (h.widen(), f.widen());
    if V::all(s0) && V::all(s1) {
        ([h0, h1], [f0, f1])
    } else {
        let (g0, e0) = terms8(x0, y0, lanes[0]);
        let (g1, e1) = terms8(x1, y1, lanes[1]);
        (
            [V::select(s0, h0, g0), V::select(s1, h1, g1)],
            [V::select(s0, f0, e0), V::select(s1, f1, e1)],
        )
    }
}

/// The second pass over float32 rows, sixteen pairs at a time ([`terms16_f32`]), the tail
/// in f64.
#[inline(always)]
fn kl_sum_f32<V: F8>(a: &[f32], b: &[f32], lanes: &Lanes<V>) -> KlTerms {
    let n = a.len().min(b.len());
    let zero = V::splat(0.0);
    let (mut acc_h, mut acc_f) = ([zero; 2], [zero; 2]);
    let mut i = 0;
    while i + 2 * LANES <= n {
        let x = V::F32s::load(a[i..i + 16].try_into().expect("16"));
        let y = V::F32s::load(b[i..i + 16].try_into().expect("16"));
        let (h, f) = terms16_f32::<V>(x, y, [lanes, lanes]);
        for half in 0..2 {
            acc_h[half] = acc_h[half].add(h[half]);
            acc_f[half] = acc_f[half].add(f[half]);
        }
        i += 2 * LANES;
    }
    let tail = kl_sum_f64(&a[i..n], &b[i..n], lanes);
    KlTerms {
        h: acc_h[0].add(acc_h[1]).sum_lanes() + tail.h,
        f: acc_f[0].add(acc_f[1]).sum_lanes() + tail.f,
    }
}

#[inline(always)]
fn kl_sum_body<V: F8, T: Real, U: Real>(a: &[T], b: &[U], k: &KlNorm) -> KlTerms {
    let lanes = Lanes::<V>::splat(k);
    if let (Some(a), Some(b)) = (T::as_f32(a), U::as_f32(b)) {
        return kl_sum_f32::<V>(a, b, &lanes);
    }
    kl_sum_f64(a, b, &lanes)
}

/// The f64 form of the second pass (any input types, widened).
#[inline(always)]
fn kl_sum_f64<V: F8, T: Real, U: Real>(a: &[T], b: &[U], lanes: &Lanes<V>) -> KlTerms {
    let n = a.len().min(b.len());
    let zero = V::splat(0.0);
    let (mut acc_h, mut acc_f) = ([zero; 2], [zero; 2]);
    let mut i = 0;
    while i + 2 * LANES <= n {
        for h in 0..2 {
            let at = i + h * LANES;
            let x = V::load(a[at..at + LANES].try_into().expect("8"));
            let y = V::load(b[at..at + LANES].try_into().expect("8"));
            let (th, tf) = terms8(x, y, lanes);
            acc_h[h] = acc_h[h].add(th);
            acc_f[h] = acc_f[h].add(tf);
        }
        i += 2 * LANES;
    }
    // the tail padded with −inf on both sides: such pairs contribute exactly 0
    for h in 0..2 {
        let at = (i + h * LANES).min(n);
        let end = (at + LANES).min(n);
        if at < end {
            let (x, y) = (
                load_tail::<V, T>(&a[at..end]),
                load_tail::<V, U>(&b[at..end]),
            );
            let (th, tf) = terms8(x, y, lanes);
            acc_h[h] = acc_h[h].add(th);
            acc_f[h] = acc_f[h].add(tf);
        }
    }
    KlTerms {
        h: acc_h[0].add(acc_h[1]).sum_lanes(),
        f: acc_f[0].add(acc_f[1]).sum_lanes(),
    }
}

crate::simd::multiversion! {
    /// The second pass over two rows (or pieces) of logits given the rows' [`KlNorm`]: the
    /// vector form of [`kl_terms`], the same terms.
    pub fn kl_sum<T: Real, U: Real>(a: &[T], b: &[U], k: &KlNorm) -> KlTerms = kl_sum_body;
}

/// The divergences of the eight rows `8·half..8·half + 8` of a transposed group `a[c][j]`,
/// `b[c][j]`, row `l` with the constants `k[l]` (called from a group kernel compiled for
/// the same vector type).
#[inline(always)]
pub(super) fn group_half<V: F8>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    half: usize,
    k: &[KlNorm; LANES],
) -> [f64; LANES] {
    let lanes = Lanes::<V>::per_lane(k);
    let at = half * LANES;
    let (mut acc_h, mut acc_f) = (V::splat(0.0), V::splat(0.0));
    for (x, y) in a.iter().zip(b) {
        let x = V::load_f64(x[at..at + LANES].try_into().expect("8"));
        let y = V::load_f64(y[at..at + LANES].try_into().expect("8"));
        let (th, tf) = terms8(x, y, &lanes);
        acc_h = acc_h.add(th);
        acc_f = acc_f.add(tf);
    }
    let (h, f) = (acc_h.to_array(), acc_f.to_array());
    std::array::from_fn(|l| KlTerms { h: h[l], f: f[l] }.value())
}

/// A group's column of float32 values (held widened) as sixteen f32 lanes: exact.
#[inline(always)]
fn narrow_column<V: F8>(c: &[f64; GROUP]) -> V::F32s {
    V::F32s::from_wide(
        V::load_f64(c[..LANES].try_into().expect("8")),
        V::load_f64(c[LANES..].try_into().expect("8")),
    )
}

/// The divergences of the [`GROUP`] rows of a transposed group of float32 values
/// (`a[c][j]`, `b[c][j]`), row `j` with the constants `k[j]`: the float32 terms of
/// [`terms16_f32`] (DESIGN §2b), as [`group_half`] sums the f64 ones (called from a group
/// kernel compiled for the same vector type).
#[inline(always)]
pub(super) fn group_f32<V: F8>(
    a: &[[f64; GROUP]],
    b: &[[f64; GROUP]],
    k: &[KlNorm; GROUP],
) -> [f64; GROUP] {
    // (no closures here: a closure is compiled without the caller's target features, and
    // its vector operations become calls — tests/test_simd_inlining.py)
    let lanes = [
        Lanes::<V>::per_lane(k[..LANES].try_into().expect("8")),
        Lanes::<V>::per_lane(k[LANES..].try_into().expect("8")),
    ];
    let zero = V::splat(0.0);
    let (mut acc_h, mut acc_f) = ([zero; 2], [zero; 2]);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (narrow_column::<V>(x), narrow_column::<V>(y));
        let (h, f) = terms16_f32::<V>(x, y, [&lanes[0], &lanes[1]]);
        for half in 0..2 {
            acc_h[half] = acc_h[half].add(h[half]);
            acc_f[half] = acc_f[half].add(f[half]);
        }
    }
    let (h, f) = (
        [acc_h[0].to_array(), acc_h[1].to_array()],
        [acc_f[0].to_array(), acc_f[1].to_array()],
    );
    std::array::from_fn(|j| {
        KlTerms {
            h: h[j / LANES][j % LANES],
            f: f[j / LANES][j % LANES],
        }
        .value()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::logits;
    use crate::kernels::logits::{pair_group, pair_row, PairRow, PairStats, PairValue};

    fn stats(a: &[f64], b: &[f64]) -> PairStats {
        let mut st = PairRow::EMPTY;
        pair_row(&mut st, a, b);
        st.finish()
    }

    fn close(got: f64, want: f64, rtol: f64) -> bool {
        (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= rtol * want.abs()
    }

    /// Pairs whose divergence is tiny: `b + shift + ε·u` against `b`, ε down to 1e-9.
    fn near_pairs() -> Vec<(Vec<f64>, Vec<f64>)> {
        let mut pairs = Vec::new();
        for n in 1..=67 {
            for (k, eps) in [1e-2, 1e-5, 1e-9].into_iter().enumerate() {
                for shift in [0.0, 100.0, -3.25] {
                    let b: Vec<f64> = logits(n, 100 + n as u64 + k as u64)
                        .into_iter()
                        .map(|v| {
                            if v.is_finite() {
                                v.clamp(-50.0, 50.0)
                            } else {
                                v
                            }
                        })
                        .collect();
                    let u = logits(n, 900 + n as u64);
                    let a = b
                        .iter()
                        .zip(&u)
                        .map(|(&v, &w)| {
                            let w = if w.is_finite() {
                                (w / 700.0).clamp(-1.0, 1.0)
                            } else {
                                0.5
                            };
                            v + shift + eps * w
                        })
                        .collect();
                    pairs.push((a, b));
                }
            }
        }
        pairs
    }

    fn all_pairs() -> Vec<(Vec<f64>, Vec<f64>)> {
        let mut pairs = near_pairs();
        for n in 0..=67 {
            for seed in 0..10 {
                pairs.push((logits(n, seed), logits(n, seed + 1000)));
                let z = logits(n, seed + 7);
                pairs.push((z.clone(), z));
                // ordinary logits in [−5, 5]
                let ordinary = |s: u64| -> Vec<f64> {
                    logits(n, s)
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let v = if v.is_finite() { *v } else { i as f64 };
                            (v * 0.37 + i as f64 * 0.11).sin() * 5.0
                        })
                        .collect()
                };
                pairs.push((ordinary(seed + 50), ordinary(seed + 60)));
            }
        }
        pairs
    }

    #[test]
    fn h_series_matches_the_closed_form_where_it_does_not_cancel() {
        for t in [1.0f64, -1.0, 0.75, -0.75, 0.5] {
            let closed = t * t.exp() - t.exp_m1();
            let series = t * t * h_over_t2_scalar(t);
            assert!(close(series, closed, 4e-16), "t={t}: {series} vs {closed}");
        }
        // h(t) = t²/2 + t³/3 + t⁴/8 + t⁵/30 + … for small t
        let t = 1e-6f64;
        let law = t * t / 2.0 + t * t * t / 3.0 + t.powi(4) / 8.0;
        assert!(close(t * t * h_over_t2_scalar(t), law, 1e-15));
    }

    #[test]
    fn short_series_match_the_full_ones_within_an_ulp_or_two() {
        for i in -1000..=1000 {
            let t = i as f64 / 16000.0 + 1e-9;
            let (short_h, full_h) = (
                t * t * horner_scalar(t, &H_SERIES[..SHORT_H]),
                t * t * h_over_t2_scalar(t),
            );
            assert!(
                close(short_h, full_h, 4e-16),
                "h t={t}: {short_h} vs {full_h}"
            );
            let short_f = (t * t).mul_add(horner_scalar(t, SHORT_EXPM1), t);
            assert!(
                close(short_f, t.exp_m1(), 4e-16),
                "f t={t}: {short_f} vs {}",
                t.exp_m1()
            );
        }
    }

    #[test]
    fn a_group_lane_does_not_depend_on_its_neighbours() {
        // a nearly equal row (every |t| ≤ 1/16, the short series) beside rows whose t are
        // large (the full path for their vectors): the same bits as beside its own kind
        let n = 12;
        let b: Vec<f64> = (0..n).map(|i| ((i * 5) % 9) as f64 * 0.4).collect();
        let near: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, v)| v + 1e-4 * (i % 3) as f64)
            .collect();
        let far: Vec<f64> = b.iter().rev().map(|v| v * 3.0).collect();
        let run = |rows: &[&Vec<f64>]| {
            let mut ga = vec![[0.0; GROUP]; n];
            let mut gb = vec![[0.0; GROUP]; n];
            for c in 0..n {
                for j in 0..GROUP {
                    ga[c][j] = rows[j % rows.len()][c];
                    gb[c][j] = b[c];
                }
            }
            let mut out = [0.0; GROUP];
            pair_group(&ga, &gb, PairValue::Kl, false, &mut out);
            out
        };
        let alone = run(&[&near]);
        let mixed = run(&[&near, &far]);
        assert!(alone[0] > 0.0 && mixed[1] > alone[0]);
        for j in (0..GROUP).step_by(2) {
            assert_eq!(mixed[j].to_bits(), alone[0].to_bits(), "lane {j}");
        }
    }

    #[test]
    fn vector_terms_match_the_scalar_terms_on_every_tail_length() {
        for (a, b) in all_pairs() {
            let k = stats(&a, &b).kl_one_pass(0).1;
            let (want, got) = (kl_terms(&a, &b, &k).value(), kl_sum(&a, &b, &k).value());
            // the vector and the scalar exp differ by an ULP per term
            assert!(close(got, want, 1e-14), "n={}: {got} vs {want}", a.len());
            let (a32, b32): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&v| v as f32).collect(),
                b.iter().map(|&v| v as f32).collect(),
            );
            let k32 = {
                let mut st = PairRow::EMPTY;
                pair_row(&mut st, &a32, &b32);
                st.finish().kl_one_pass(0).1
            };
            let (want, got) = (
                kl_terms(&a32, &b32, &k32).value(),
                kl_sum(&a32, &b32, &k32).value(),
            );
            assert!(
                close(got, want, 1e-6), // float32 rows: f32 terms where |t| ≤ 1/16 (DESIGN §2b)
                "f32 n={}: {got} vs {want}",
                a.len()
            );
        }
    }

    #[test]
    fn float32_lane_terms_are_within_their_bound() {
        // one pair among fifteen (−inf, −inf) pairs (terms of 0), with m = l = 0: t = x − y,
        // P = e^x, Q = e^y; every t from −87 to 87 (the series' ends ±1/16, 1, −2
        // included) against the f64 terms of the same f32 values
        let k = KlNorm::default();
        let (mut worst_h, mut worst_f, mut checked) = (0.0f64, 0.0f64, 0);
        let mut ts: Vec<f64> = (-1740..=1740).map(|i| i as f64 / 20.0 + 0.013).collect();
        for edge in [0.0625f64, 1.0, 2.0] {
            for sign in [-1.0, 1.0] {
                for d in [-1e-6, 0.0, 1e-6] {
                    ts.push(sign * edge + d);
                }
            }
        }
        for (j, &t) in ts.iter().enumerate() {
            for y in [-0.3f64, -4.0, -30.0, -80.0] {
                let (x32, y32) = ((y + t) as f32, y as f32);
                let mut a = [f32::NEG_INFINITY; 16];
                let mut b = [f32::NEG_INFINITY; 16];
                (a[j % 16], b[j % 16]) = (x32, y32);
                let got = kl_sum(&a, &b, &k);
                let (h, f) = kl_term(x32 as f64, y32 as f64, &k);
                assert!(close(got.h, h, 4e-7), "t={t} y={y}: h {} vs {h}", got.h);
                assert!(close(got.f, f, 4e-7), "t={t} y={y}: f {} vs {f}", got.f);
                if h > 0.0 {
                    worst_h = worst_h.max((got.h - h).abs() / h);
                    worst_f = worst_f.max((got.f - f).abs() / f.abs());
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
        eprintln!("float32 lane terms: worst h {worst_h:.2e}, f {worst_f:.2e} over {checked}");
    }

    #[test]
    fn the_float32_series_reach_their_stated_precision() {
        // X(s) on [0, 2] from EXPM1_SERIES, and H(s) = h(s)/s² = 1 + (s − 1)·X(s) on [0, 1]
        for i in 0..=1000 {
            let s = i as f64 / 1000.0;
            let (via_x, full) = (
                (s - 1.0).mul_add(horner_scalar(s, &EXPM1_SERIES), 1.0),
                h_over_t2_scalar(s),
            );
            assert!(
                close(via_x, full, 2f64.powi(-28)),
                "H s={s}: {via_x} vs {full}"
            );
            let s = 2.0 * s;
            let x = horner_scalar(s, &EXPM1_SERIES);
            let want = if s < 0.5 {
                // (e^s − 1 − s)/s² by 30 terms of its series where the closed form cancels
                let (mut term, mut sum) = (0.5, 0.0);
                for k in 0..30 {
                    sum += term;
                    term *= s / (k as f64 + 3.0);
                }
                sum
            } else {
                (s.exp_m1() - s) / (s * s)
            };
            assert!(close(x, want, 2f64.powi(-29)), "X s={s}: {x} vs {want}");
        }
    }

    #[test]
    fn the_second_pass_agrees_with_the_one_pass_where_that_vouches() {
        let mut checked = 0;
        for (a, b) in all_pairs() {
            let s = stats(&a, &b);
            if let Some(v) = s.kl_one_pass(a.len()).0 {
                if v.is_finite() && v > 0.0 {
                    let second = kl_sum(&a, &b, &s.kl_one_pass(0).1).value();
                    assert!(close(second, v, 1e-13), "n={}: {second} vs {v}", a.len());
                    checked += 1;
                }
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn equal_and_exactly_shifted_rows_give_zero() {
        for n in 1..=67 {
            let b = logits(n, 5 + n as u64);
            for shift in [0.0, 64.0, -0.5] {
                // integer and half-integer logits shift exactly
                let b: Vec<f64> = b
                    .iter()
                    .map(|&v| if v.is_finite() { v.round() } else { v })
                    .collect();
                let a: Vec<f64> = b.iter().map(|&v| v + shift).collect();
                let s = stats(&a, &b);
                if !(s.a.max.is_finite()) {
                    continue;
                }
                let v = s
                    .kl_one_pass(n)
                    .0
                    .unwrap_or_else(|| kl_sum(&a, &b, &s.kl_one_pass(0).1).value());
                assert_eq!(v, 0.0, "n={n} shift={shift}");
            }
        }
    }

    #[test]
    fn nearly_equal_rows_follow_the_second_order_law() {
        // KL(softmax(b + ε·u) ‖ softmax(b)) = ε²/2·Var_P(u) + O(ε³): the one pass alone is
        // off by 1e-16 absolute, i.e. everything at ε = 1e-9
        let n = 40;
        let b: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 * 0.3 - 1.0).collect();
        let u: Vec<f64> = (0..n).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
        let weights: Vec<f64> = b.iter().map(|v| v.exp()).collect();
        let total: f64 = weights.iter().sum();
        let mean: f64 = weights.iter().zip(&u).map(|(w, u)| w * u).sum::<f64>() / total;
        let var: f64 = weights
            .iter()
            .zip(&u)
            .map(|(w, u)| w * (u - mean) * (u - mean))
            .sum::<f64>()
            / total;
        for eps in [1e-4, 1e-6, 1e-9] {
            let a: Vec<f64> = b.iter().zip(&u).map(|(v, u)| v + eps * u).collect();
            let s = stats(&a, &b);
            assert!(
                s.kl_one_pass(n).0.is_none(),
                "ε={eps} takes the second pass"
            );
            let got = kl_sum(&a, &b, &s.kl_one_pass(0).1).value();
            let law = eps * eps / 2.0 * var;
            assert!(close(got, law, 20.0 * eps), "ε={eps}: {got} vs {law}");
        }
    }

    #[test]
    fn a_rounded_log_normaliser_is_taken_out() {
        // ε = 1e-10: D ≈ 1e-20, while a shift Δ of l_a − l_b by 1e-15 would leave
        // Δ²/2 = 5e-31 (5e-11 of D) in F alone
        let n = 300;
        let b: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 * 0.07 - 3.0)
            .collect();
        let a: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, v)| v + 1e-10 * (((i * 13) % 7) as f64 - 3.0))
            .collect();
        let k = stats(&a, &b).kl_one_pass(0).1;
        let exact = kl_sum(&a, &b, &k).value();
        for delta in [1e-15, -3e-15, 1e-13] {
            let moved = KlNorm {
                la: k.la + delta,
                ..k
            };
            let t = kl_sum(&a, &b, &moved);
            assert!(
                close(t.value(), exact, 1e-13),
                "Δ={delta}: {} vs {exact}",
                t.value()
            );
            assert!(
                (t.h - exact).abs() > 1e-12 * exact,
                "F alone is off at Δ={delta}"
            );
        }
    }

    /// KL of up to [`GROUP`] pairs of rows of length `n` through the group kernel (the
    /// lanes past them −inf).
    fn group_kl(rows: &[(Vec<f64>, Vec<f64>)], n: usize, f32_terms: bool) -> [f64; GROUP] {
        let mut a = vec![[f64::NEG_INFINITY; GROUP]; n];
        let mut b = vec![[f64::NEG_INFINITY; GROUP]; n];
        for (j, (x, y)) in rows.iter().enumerate() {
            for c in 0..n {
                a[c][j] = x[c];
                b[c][j] = y[c];
            }
        }
        let mut out = [0.0; GROUP];
        pair_group(&a, &b, PairValue::Kl, f32_terms, &mut out);
        out
    }

    #[test]
    fn float32_groups_redo_their_rows_with_float32_terms_within_the_contract() {
        // the same row sets in float32: rows the one pass vouches for keep its value, the
        // others take the f32 terms of `group_f32`, within 1e-6 of the f64 terms of the
        // same float32 values; a row's value does not depend on the rows beside it
        let mut redone = 0;
        for n in 1..=20 {
            let pairs: Vec<(Vec<f64>, Vec<f64>)> = all_pairs()
                .into_iter()
                .filter(|(a, _)| a.len() == n)
                .map(|(a, b)| {
                    let to32 = |v: Vec<f64>| v.iter().map(|&x| x as f32 as f64).collect();
                    (to32(a), to32(b))
                })
                .collect();
            for chunk in pairs.chunks(GROUP) {
                let out = group_kl(chunk, n, true);
                for (j, (x, y)) in chunk.iter().enumerate() {
                    let (x32, y32): (Vec<f32>, Vec<f32>) = (
                        x.iter().map(|&v| v as f32).collect(),
                        y.iter().map(|&v| v as f32).collect(),
                    );
                    let s = stats(x, y);
                    let want = match s.kl_one_pass(n).0 {
                        Some(v) => v,
                        None => {
                            redone += 1;
                            kl_terms(&x32, &y32, &s.kl_one_pass(0).1).value()
                        }
                    };
                    assert!(
                        close(out[j], want, 1e-6) || (out[j] - want).abs() <= 1e-15,
                        "n={n} row {j}: {} vs {want}",
                        out[j]
                    );
                    let alone = group_kl(&chunk[j..=j], n, true);
                    assert_eq!(alone[0].to_bits(), out[j].to_bits(), "n={n} row {j}");
                }
            }
        }
        assert!(redone > 300, "{redone}");
    }

    #[test]
    fn groups_redo_nearly_equal_rows_as_the_row_form_does() {
        for n in 1..=20 {
            let pairs: Vec<(Vec<f64>, Vec<f64>)> = all_pairs()
                .into_iter()
                .filter(|(a, _)| a.len() == n)
                .collect();
            for chunk in pairs.chunks(GROUP) {
                let out = group_kl(chunk, n, false);
                for (j, (x, y)) in chunk.iter().enumerate() {
                    let s = stats(x, y);
                    let want = s
                        .kl_one_pass(n)
                        .0
                        .unwrap_or_else(|| kl_sum(x, y, &s.kl_one_pass(0).1).value());
                    // the group's exponentials and sums run in another order
                    let tol = if want < 1e-3 { 1e-13 } else { 1e-12 };
                    assert!(
                        close(out[j], want, tol) || (out[j] - want).abs() <= 1e-15,
                        "n={n} row {j}: {} vs {want}",
                        out[j]
                    );
                }
            }
        }
    }
}
