//! KL divergence of a row, exact on every input: D(P‖Q) = Σ Q·g(P/Q − 1) with
//! g(f) = (1+f)·ln(1+f) − f ≥ 0.
//!
//! Σ P ln(P/Q) and Σ Q·g(P/Q − 1) are equal because Σ(Q − P) = 0, but only the second
//! is a sum of non-negative terms: nothing cancels, so a divergence of 5e-9 between
//! distributions that differ by 1e-4 keeps full precision (issue #14: 1.9e-8 off before).
//! Each term needs f = P/Q − 1 to full relative precision, taken as
//! f = (p'·s_q − q'·s_p)/(q'·s_p), where p' = p·2^a and q' = q·2^b are p and q scaled
//! exactly so that the scaled totals s_p, s_q lie in [1, 2) (no product can overflow), and
//! the difference of products is evaluated by Kahan's algorithm (two fused multiply-adds:
//! within an ULP of the exact difference, and exactly 0 when P = Q exactly — so one-element
//! rows, identical rows and rows at another power-of-two scale give exactly 0). Rounding of
//! the totals shifts every f alike, which changes Σ Q·g(f) only to second order
//! (Σ Q·f = 0). g(f) comes from [`crate::simd::log1p`].
//!
//! **Two-pass form** (rows that fit in cache): pass 1 is [`super::two_pass`]'s sums,
//! pass 2 the terms above. **One-pass form** (long rows): the same terms with ρ = 1 give
//! V = Σ [p ln(p/q) − p + q] ≥ 0, and D = V/Σp + (ln(1+y) − y), y = (Σq − Σp)/Σp — exact
//! when the two totals agree (y small: the second term is −y²/2, harmless), cancelling
//! when they do not (counts against probabilities); [`finish_one_pass`] measures that and
//! asks for pass 2 past [`ONE_PASS_MAX_COND`].
//!
//! `normalize=False` is the raw Σ p ln(p/q) (scipy.special.rel_entr summed), from the same
//! pass with ρ = 1.
//!
//! **float32** p and q (normalised) first try [`super::kl_f32`]'s fast form leaf by leaf in
//! the one pass ([`one_pass_normalized`], [`fast_row`]): differences of f32 logarithms,
//! kept where their bound is 2^−22 of the leaf, else (nearly equal values) its near form,
//! else the exact leaf; f32 rows longer
//! than [`F32_ROWS_ABOVE`] take the row form for it. Shorter f32 rows of at least
//! [`F32_FAST_GROUP_FROM`] elements take the same fast form in the group tile, one row per
//! lane ([`kl_f32::group`]), each kept on its own bound, the exact group form for the rest.
//! Normalised f32 rows of two and three elements take their own closed forms in the group
//! tile ([`super::kl_pairs_f32`], [`super::kl_triples_f32`]; the exact group form for the
//! rows they leave).

use super::kl_pairs_f32::KlPairs;
use super::kl_triples_f32::KlTriples;
use super::two_pass::{
    cancels_past, determinant, fold_lanes, half, load16, mark_irregular, scaled, sums,
    two_element_ok, two_sum_lanes, GroupTotals, Lowest, Sums, F32_MIN_NORMAL,
};
use super::{kl_f32, pairwise_leaves, Partial, Real, GROUP};
use crate::simd::log1p::log1p_g16;
use crate::simd::vector::F8;

/// Largest condition (V/Σp + |ln(1+y) − y|)/D accepted from the one-pass form.
pub const ONE_PASS_MAX_COND: f64 = 16.0;

/// Pass-2 constants of a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Consts {
    /// 2^a with s_p = Σp·2^a ∈ [1, 2) (1 for the raw sum).
    pub scale_p: f64,
    /// 2^b with s_q = Σq·2^b ∈ [1, 2) (1 for the raw sum).
    pub scale_q: f64,
    /// s_p (1 for the raw sum).
    pub sp: f64,
    /// s_q (1 for the raw sum).
    pub sq: f64,
    /// The rounding error of s_p (scaled Σp − `sp`, from the compensated total).
    pub sp_lo: f64,
    /// The rounding error of s_q.
    pub sq_lo: f64,
}

impl Consts {
    /// The raw sum's constants (no normalisation: f = p/q − 1, Q = q).
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

/// The constants of a [regular](Sums::regular) row from its pass-1 statistics.
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
    /// Σ q·inv_sq·g(f) (≥ 0).
    pub v: f64,
    /// Σ p·ln(1 + f): with ρ = 1, the raw Σ p ln(p/q).
    pub raw: f64,
    /// Σ |p·ln(1 + f)| (the raw sum's condition).
    pub raw_abs: f64,
    /// Whether some q = 0 lies under a p > 0 (then D = +inf).
    pub zero_q: bool,
    /// Whether some element's ratio left the scaled range (the row takes the careful path).
    pub out_of_range: bool,
    /// Whether a subnormal f32 value was met (redo with f64 logs).
    pub f32_unsafe: bool,
    /// Whether some leaf took a float32 form ([`kl_f32::fast_leaf`], the difference of
    /// logarithms, or [`kl_f32::near_leaf`], nearly equal values): `v` is then within 2^−22
    /// relative, `raw` and `raw_abs` are not for use.
    pub fast: bool,
}

impl Partial for Terms {
    const EMPTY: Self = Terms {
        v: 0.0,
        raw: 0.0,
        raw_abs: 0.0,
        zero_q: false,
        out_of_range: false,
        f32_unsafe: false,
        fast: false,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        Terms {
            v: self.v + o.v,
            raw: self.raw + o.raw,
            raw_abs: self.raw_abs + o.raw_abs,
            zero_q: self.zero_q | o.zero_q,
            out_of_range: self.out_of_range | o.out_of_range,
            f32_unsafe: self.f32_unsafe | o.f32_unsafe,
            fast: self.fast | o.fast,
        }
    }
}

/// The two-pass divergence (nats).
#[inline]
pub fn finish(t: &Terms) -> f64 {
    if t.zero_q {
        f64::INFINITY
    } else {
        t.v
    }
}

/// The raw Σ p ln(p/q) (+inf where some q = 0 < p).
#[inline]
pub fn finish_raw(t: &Terms) -> f64 {
    if t.zero_q {
        f64::INFINITY
    } else {
        t.raw
    }
}

/// ln(1 + y) − y without cancellation (−y²/2 + … for small y).
pub(crate) fn ln1p_minus(y: f64) -> f64 {
    if y.abs() < 0.25 {
        // Σ_{n≥2} (−1)^(n+1) y^n / n, to 1e-17 relative: 40 terms at |y| < 1/4
        let (mut sum, mut pow) = (0.0, y * y);
        for n in 2..40 {
            let term = pow / n as f64;
            sum += if n % 2 == 0 { -term } else { term };
            pow *= y;
            // the rest is below 2^−60 of the sum (|y| < 1/4: each term ≤ |y|·the last)
            if pow.abs() < sum.abs() * 2f64.powi(-60) {
                break;
            }
        }
        sum
    } else {
        y.ln_1p() - y
    }
}

/// The one-pass divergence from pass-1 sums and the ρ = 1 terms, if its condition allows
/// it; `None` asks for pass 2.
#[inline]
pub fn finish_one_pass(s: &Sums, t: &Terms) -> Option<f64> {
    if t.zero_q && s.positive_finite() {
        return Some(f64::INFINITY);
    }
    if !s.regular() || t.f32_unsafe || t.out_of_range {
        return None;
    }
    let y = ((s.sq - s.sp) + (s.sq_lo - s.sp_lo)) / s.sp;
    let (head, tail) = (t.v / s.sp, ln1p_minus(y));
    let d = head + tail;
    let cond = (head + tail.abs()) / d;
    let limit = if t.fast {
        kl_f32::FAST_MAX_COND
    } else {
        ONE_PASS_MAX_COND
    };
    (d > 0.0 && cond <= limit)
        .then_some(d)
        .or((head == 0.0 && tail == 0.0).then_some(0.0))
}

/// Pass-2 lane accumulators.
#[derive(Clone, Copy)]
struct Acc<V> {
    v: V,
    raw: V,
    raw_abs: V,
    zero_q: V,
    out_of_range: V,
    min_q: V,
}

impl<V: F8> Acc<V> {
    /// The partials of a leaf's two halves (`F32`: whether f32 polynomials were used).
    #[inline(always)]
    fn terms<const F32: bool>(acc: &[Self; 2]) -> Terms {
        let min_q = acc[0].min_q.min_ignoring_nan(acc[1].min_q).min_lane();
        Terms {
            v: acc[0].v.add(acc[1].v).sum_lanes(),
            raw: acc[0].raw.add(acc[1].raw).sum_lanes(),
            raw_abs: acc[0].raw_abs.add(acc[1].raw_abs).sum_lanes(),
            zero_q: acc[0].zero_q.max_ignoring_nan(acc[1].zero_q).max_lane() > 0.0,
            out_of_range: acc[0]
                .out_of_range
                .max_ignoring_nan(acc[1].out_of_range)
                .max_lane()
                > 0.0,
            f32_unsafe: F32 && min_q < F32_MIN_NORMAL,
            fast: false,
        }
    }

    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        Acc {
            v: zero,
            raw: zero,
            raw_abs: zero,
            zero_q: zero,
            out_of_range: zero,
            min_q: V::splat(f64::INFINITY),
        }
    }
}

/// Per-lane constants (see [`Consts`]) and 1/s_q.
#[derive(Clone, Copy)]
struct Lanes<V> {
    scale_p: V,
    scale_q: V,
    sp: V,
    sq: V,
    sp_lo: V,
    sq_lo: V,
    inv_sq: V,
}

impl<V: F8> Lanes<V> {
    #[inline(always)]
    fn splat(k: &Consts) -> Self {
        Lanes {
            scale_p: V::splat(k.scale_p),
            scale_q: V::splat(k.scale_q),
            sp: V::splat(k.sp),
            sq: V::splat(k.sq),
            sp_lo: V::splat(k.sp_lo),
            sq_lo: V::splat(k.sq_lo),
            inv_sq: V::splat(1.0 / k.sq),
        }
    }
}

/// (f, r) = (P/Q − 1, P/Q) for eight lanes (see the module docs): Kahan's difference of
/// products over w = q'·s_p, and the quotient p'·s_q / w on its own (r is needed to full
/// relative precision where it is tiny, f where it is near 0).
#[inline(always)]
fn deviation<V: F8>(p: V, q: V, k: &Lanes<V>) -> (V, V, V) {
    let zero = V::splat(0.0);
    let (p, q) = (p.mul(k.scale_p), q.mul(k.scale_q));
    let w = q.mul(k.sp);
    let e = zero.sub(q).fused_mul_add(k.sp, w);
    let num = p.mul(k.sq);
    let d = p.fused_mul_add(k.sq, zero.sub(w));
    // the totals' own rounding errors, so a rounded total shifts nothing
    let lo = p.mul(k.sq_lo).sub(q.mul(k.sp_lo));
    let inv_w = V::splat(1.0).div(w);
    (d.add(e).add(lo).mul(inv_w), num.mul(inv_w), w)
}

/// The pass-2 work on sixteen lanes (two halves with their own constants).
#[inline(always)]
fn step<V: F8, const F32: bool, const RAW: bool>(
    acc: &mut [Acc<V>; 2],
    p: (V, V),
    q: (V, V),
    k: &[Lanes<V>; 2],
) {
    let (f0, r0, w0) = deviation(p.0, q.0, &k[0]);
    let (f1, r1, w1) = deviation(p.1, q.1, &k[1]);
    let ((l0, l1), (g0, g1)) = log1p_g16::<V, F32>((f0, f1), (r0, r1));
    let [a0, a1] = acc;
    half_step::<V, F32, RAW>(a0, p.0, q.0, l0, g0, r0, w0, &k[0]);
    half_step::<V, F32, RAW>(a1, p.1, q.1, l1, g1, r1, w1, &k[1]);
}

/// [`step`] on eight lanes only (the second half of the logarithm's sixteen lanes is a copy
/// of the first: LLVM computes it once for f64; f32 logs take sixteen lanes anyway).
#[inline(always)]
fn step_half<V: F8, const F32: bool, const RAW: bool>(a: &mut Acc<V>, p: V, q: V, k: &Lanes<V>) {
    let (f, r, w) = deviation(p, q, k);
    let ((l, _), (g, _)) = log1p_g16::<V, F32>((f, f), (r, r));
    half_step::<V, F32, RAW>(a, p, q, l, g, r, w, k);
}

/// NaN where `x` is NaN, else 0.
#[inline(always)]
fn zero_or_nan<V: F8>(x: V) -> V {
    V::select(x.eq(x), V::splat(0.0), x)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn half_step<V: F8, const F32: bool, const RAW: bool>(
    a: &mut Acc<V>,
    p: V,
    q: V,
    l: V,
    g: V,
    r: V,
    w: V,
    k: &Lanes<V>,
) {
    let zero = V::splat(0.0);
    let q_zero = q.eq(zero);
    let p_zero = p.eq(zero);
    // Q·g with Q = q·2^b/s_q; q = 0: +inf where p > 0 (flagged), 0 where p = 0 (NaN stays)
    let term = V::select(
        q_zero,
        zero_or_nan(p),
        q.mul(k.scale_q).mul(k.inv_sq).mul(g),
    );
    a.v = a.v.add(term);
    if RAW {
        // the raw sum Σ p ln(p/q) and its condition (not needed by a normalised group)
        let raw = V::select(
            p_zero,
            zero_or_nan(q),
            V::select(q_zero, zero_or_nan(p), p.mul(l)),
        );
        a.raw = a.raw.add(raw);
        a.raw_abs = a.raw_abs.add(raw.max_ignoring_nan(zero.sub(raw)));
    }
    a.zero_q =
        a.zero_q
            .max_ignoring_nan(V::select(V::and(q_zero, p.gt(zero)), V::splat(1.0), zero));
    // Out of the scaled range: a scaled q below the normal range (w), or a ratio that
    // overflows or underflows (r) — such rows take the careful path.
    let tiny = V::splat(f64::MIN_POSITIVE);
    let w_bad = V::and(q.gt(zero), w.lt(tiny));
    let r_bad = V::and(p.gt(zero), V::or(r.lt(tiny), r.eq(V::splat(f64::INFINITY))));
    a.out_of_range =
        a.out_of_range
            .max_ignoring_nan(V::select(V::or(w_bad, r_bad), V::splat(1.0), zero));
    if F32 {
        a.min_q = a
            .min_q
            .min_ignoring_nan(V::select(q.gt(zero), q, V::splat(f64::INFINITY)));
    }
}

#[inline(always)]
fn terms_with<V: F8, T: Real, U: Real, const F32: bool>(p: &[T], q: &[U], k: &Consts) -> Terms {
    let n = p.len().min(q.len());
    let lanes = [Lanes::splat(k), Lanes::splat(k)];
    pairwise_leaves!(n, |start, end| {
        let mut acc = [Acc::<V>::new(); 2];
        let mut i = start;
        while i < end {
            let a = load16::<V, T>(&p[..end], i);
            let b = load16::<V, U>(&q[..end], i);
            step::<V, F32, true>(&mut acc, a, b, &lanes);
            i += 16;
        }
        Acc::terms::<F32>(&acc)
    })
}

#[inline(always)]
fn terms_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], k: &Consts, f32_logs: bool) -> Terms {
    if f32_logs && U::IS_F32 {
        let t = terms_with::<V, T, U, true>(p, q, k);
        if !t.f32_unsafe {
            return t;
        }
    }
    terms_with::<V, T, U, false>(p, q, k)
}

crate::simd::multiversion! {
    /// Pass 2 over a row or block (`f32_logs`: f32 polynomials where `q` is f32).
    pub fn terms<T: Real, U: Real>(p: &[T], q: &[U], k: &Consts, f32_logs: bool) -> Terms = terms_body;
}

/// One-pass partials of a block (long rows): the pass-1 sums and the ρ = 1 terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnePass {
    /// Σp, Σq, mins.
    pub sums: Sums,
    /// The terms with [`Consts::RAW`].
    pub terms: Terms,
}

impl Partial for OnePass {
    const EMPTY: Self = OnePass {
        sums: Sums::EMPTY,
        terms: Terms::EMPTY,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        OnePass {
            sums: self.sums.combine(o.sums),
            terms: self.terms.combine(o.terms),
        }
    }
}

/// The one-pass partials of the leaf `start..end` (at most [`super::LEAF`] elements) by the
/// exact terms. It reads the whole slices from `start` rather than a sub-slice: with
/// sub-slices the fat-LTO wheel ran the float64 one pass at 1.33× instead of 2.1× on two
/// threads (19 ms against 12.8 ms for 10^7 elements; one thread unchanged) — measured,
/// not understood.
#[inline(always)]
fn exact_leaf<V: F8, T: Real, U: Real, const F32: bool>(
    p: &[T],
    q: &[U],
    start: usize,
    end: usize,
    lanes: &[Lanes<V>; 2],
) -> OnePass {
    let zero = V::splat(0.0);
    let mut acc = [Acc::<V>::new(); 2];
    let (mut sp, mut sq, mut mp, mut mq) = ([zero; 2], [zero; 2], [zero; 2], [zero; 2]);
    let (mut cp, mut cq) = ([zero; 2], [zero; 2]);
    let mut i = start;
    while i < end {
        let a = load16::<V, T>(&p[..end], i);
        let b = load16::<V, U>(&q[..end], i);
        for (h, (x, y)) in [(a.0, b.0), (a.1, b.1)].into_iter().enumerate() {
            (sp[h], cp[h]) = two_sum_lanes(sp[h], cp[h], x);
            (sq[h], cq[h]) = two_sum_lanes(sq[h], cq[h], y);
            mp[h] = mp[h].min_ignoring_nan(x);
            mq[h] = mq[h].min_ignoring_nan(y);
        }
        step::<V, F32, true>(&mut acc, a, b, lanes);
        i += 16;
    }
    let ((sp_hi, sp_lo), (sq_hi, sq_lo)) = (fold_lanes(sp, cp), fold_lanes(sq, cq));
    OnePass {
        sums: Sums {
            sp: sp_hi,
            sq: sq_hi,
            sp_lo,
            sq_lo,
            max_q: 0.0,
            min: Lowest {
                p: mp[0].min_ignoring_nan(mp[1]).min_lane(),
                q: mq[0].min_ignoring_nan(mq[1]).min_lane(),
            },
        },
        terms: Acc::terms::<F32>(&acc),
    }
}

#[inline(always)]
fn one_pass_with<V: F8, T: Real, U: Real, const F32: bool>(p: &[T], q: &[U]) -> OnePass {
    let n = p.len().min(q.len());
    let lanes = [Lanes::splat(&Consts::RAW), Lanes::splat(&Consts::RAW)];
    pairwise_leaves!(n, |start, end| {
        exact_leaf::<V, T, U, F32>(p, q, start, end, &lanes)
    })
}

#[inline(always)]
fn one_pass_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass {
    if f32_logs && U::IS_F32 {
        let o = one_pass_with::<V, T, U, true>(p, q);
        if !o.terms.f32_unsafe {
            return o;
        }
    }
    one_pass_with::<V, T, U, false>(p, q)
}

crate::simd::multiversion! {
    /// Sums and ρ = 1 terms of a block in one read (long rows).
    pub fn one_pass<T: Real, U: Real>(p: &[T], q: &[U], f32_logs: bool) -> OnePass = one_pass_body;
}

impl OnePass {
    /// A leaf of the float32 fast form ([`kl_f32`]).
    #[inline(always)]
    fn from_fast(l: kl_f32::FastLeaf) -> Self {
        OnePass {
            sums: l.sums,
            terms: Terms {
                v: l.v,
                // unused with `fast` (the raw sum never takes the fast form)
                raw: f64::NAN,
                raw_abs: f64::NAN,
                fast: true,
                ..Terms::EMPTY
            },
        }
    }
}

/// [`one_pass_body`] for the normalised divergence: f32 p and q take [`kl_f32`]'s fast
/// leaves where their bound holds, its near leaves where the values are nearly equal, the
/// exact leaf elsewhere.
#[inline(always)]
fn one_pass_normalized_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> OnePass {
    let (Some(p32), Some(q32)) = (T::as_f32(p), U::as_f32(q)) else {
        return one_pass_body::<V, T, U>(p, q, true);
    };
    let n = p32.len().min(q32.len());
    let lanes = [Lanes::splat(&Consts::RAW), Lanes::splat(&Consts::RAW)];
    let o = pairwise_leaves!(n, |start, end| {
        match kl_f32::fast_or_near_leaf::<V>(&p32[start..end], &q32[start..end]) {
            Some(l) => OnePass::from_fast(l),
            None => exact_leaf::<V, f32, f32, true>(p32, q32, start, end, &lanes),
        }
    });
    if !o.terms.f32_unsafe {
        return o;
    }
    one_pass_with::<V, T, U, false>(p, q)
}

crate::simd::multiversion! {
    /// [`one_pass`] for the normalised divergence (f32 data may take fast leaves).
    pub fn one_pass_normalized<T: Real, U: Real>(p: &[T], q: &[U]) -> OnePass = one_pass_normalized_body;
}

/// float32 rows longer than this take [`row`] (fast leaves, [`kl_f32`]) rather than the
/// vertical groups (whose tiles are widened to f64). Measured ((N, C) f32, N·C = 10^7,
/// time ÷ `np.sum` of both, 2 threads; groups → rows): C = 256 3.9 → 1.4, C = 128
/// 3.4 → 1.8 but nearly equal rows 3.3 → 4.5 (the row form's exact fallback is slower than
/// a group's), C = 100 3.4 → 2.7 (nearly equal 3.7 → 6.6), C ≤ 64 no gain.
pub const F32_ROWS_ABOVE: usize = 128;

/// The one-pass partials of f32 rows when every leaf keeps the fast form, else `None`
/// (the caller then takes the two-pass form: a row is read again, not a third time).
#[inline(always)]
fn fast_row_body<V: F8>(p: &[f32], q: &[f32]) -> Option<OnePass> {
    let n = p.len().min(q.len());
    let mut stack = super::PairwiseStack::new();
    let mut start = 0;
    while start < n {
        let end = (start + super::LEAF).min(n);
        stack.push(OnePass::from_fast(kl_f32::fast_or_near_leaf::<V>(
            &p[start..end],
            &q[start..end],
        )?));
        start = end;
    }
    Some(stack.total())
}

crate::simd::multiversion! {
    /// The one-pass partials of f32 rows when every leaf keeps the fast form, else `None`.
    pub fn fast_row<>(p: &[f32], q: &[f32]) -> Option<OnePass> = fast_row_body;
}

/// Largest Σ|p ln(p/q)| / |Σ p ln(p/q)| for which the raw sum keeps its f32 polynomials.
pub const RAW_MAX_COND_F32: f64 = 4.0;

/// The divergence (nats) of one row given as slices: the two-pass form, or the raw sum;
/// rows that are not regular, or hold ratios beyond the scaled range, go to
/// [`careful_row`]. Returns the value and the smallest inputs (negative: an error the
/// caller reports).
pub fn row<T: Real, U: Real>(p: &[T], q: &[U], normalize: bool) -> (f64, Lowest) {
    if let (true, Some(p32), Some(q32)) = (normalize, T::as_f32(p), U::as_f32(q)) {
        if let Some(o) = fast_row(p32, q32) {
            if let Some(d) = finish_one_pass(&o.sums, &o.terms) {
                return (d, o.sums.min);
            }
        }
    }
    let s = super::two_pass::sums_for_row(p, q);
    if !normalize {
        return (raw_row(p, q), s.min);
    }
    if !s.regular() {
        return (careful_row(p, q), s.min);
    }
    let t = terms(p, q, &consts(&s), true);
    if t.out_of_range && !t.zero_q {
        return (careful_row(p, q), s.min);
    }
    (finish(&t), s.min)
}

/// The raw sum of one row (f32 polynomials only where the sum does not cancel).
pub fn raw_row<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    let t = terms(p, q, &Consts::RAW, true);
    if !t.raw.is_finite() || t.out_of_range {
        return raw_careful(p, q);
    }
    if U::IS_F32 && t.raw_abs > RAW_MAX_COND_F32 * t.raw.abs() {
        return finish_raw(&terms(p, q, &Consts::RAW, false));
    }
    finish_raw(&t)
}

/// Σ p ln(p/q) term by term in scalar f64 (rows with ±inf, NaN, or ratios that overflow):
/// 0 where p = 0 (NaN where q is NaN), +inf where q = 0 < p, ln p − ln q where p/q
/// leaves the normal range.
pub fn raw_careful<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a.to_f64(), b.to_f64());
            if a == 0.0 {
                if b.is_nan() {
                    f64::NAN
                } else {
                    0.0
                }
            } else if b == 0.0 {
                if a.is_nan() {
                    f64::NAN
                } else {
                    f64::INFINITY
                }
            } else {
                let r = a / b;
                if r.is_normal() {
                    a * r.ln()
                } else {
                    a * (a.ln() - b.ln())
                }
            }
        })
        .sum()
}

/// g(f) = (1+f)·ln(1+f) − f for one value (scalar; see [`crate::simd::log1p`]).
fn g_scalar(f: f64, r: f64) -> f64 {
    use crate::simd::vector::{Scalar8, F8};
    let ((_, _), (g, _)) = log1p_g16::<Scalar8, false>(
        (Scalar8::splat(f), Scalar8::splat(f)),
        (Scalar8::splat(r), Scalar8::splat(r)),
    );
    g.to_array()[0]
}

/// The divergence of a row the vector forms cannot take: NaN for NaN, an infinite mass or
/// a zero total; otherwise both sides rescaled by exact powers of two (P and Q unchanged)
/// and summed term by term, ratios beyond the normal range in the log domain (they are
/// then far from 1, so a difference of logarithms is accurate). Rare rows: scalar code.
pub fn careful_row<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    let n = p.len().min(q.len());
    if n == 0 {
        return 0.0;
    }
    let max = |x: &[f64]| {
        x.iter()
            .fold(0.0f64, |m, &v| if v > m || v.is_nan() { v } else { m })
    };
    let pf: Vec<f64> = p[..n].iter().map(|v| v.to_f64()).collect();
    let qf: Vec<f64> = q[..n].iter().map(|v| v.to_f64()).collect();
    let (mp, mq) = (max(&pf), max(&qf));
    if !(mp.is_finite() && mq.is_finite() && mp > 0.0 && mq > 0.0) {
        return f64::NAN;
    }
    let scales = Careful::new(&pf, &qf, mp, mq);
    match scales {
        Some(c) => c.block(&pf, &qf),
        None => f64::NAN,
    }
}

/// What [`careful_row`] needs of a whole row: the powers of two that bring each side's
/// largest value near 1, and the totals of the scaled sides.
#[derive(Clone, Copy, Debug)]
pub struct Careful {
    /// ln of each side's scaling (k·ln 2).
    ln_scale: (f64, f64),
    /// Each side's scaling as two factors (2^k may not be representable).
    factors: ((f64, f64), (f64, f64)),
    /// The pass-1 sums of the scaled sides (regular).
    sums: Sums,
}

impl Careful {
    /// The scalings of a row whose largest values are `mp`, `mq` (finite, > 0): `p` and
    /// `q` (any blocks of it) are summed scaled. `None` if the scaled totals are still not
    /// regular (cannot happen for finite input, kept for safety).
    pub fn from_sums(mp: f64, mq: f64, scaled_sums: Sums) -> Option<Self> {
        let k = |m: f64| -(m.log2().floor() as i32);
        let (kp, kq) = (k(mp), k(mq));
        let two = |k: i32| (2f64.powi(k / 2), 2f64.powi(k - k / 2));
        scaled_sums.regular().then_some(Careful {
            ln_scale: (
                kp as f64 * std::f64::consts::LN_2,
                kq as f64 * std::f64::consts::LN_2,
            ),
            factors: (two(kp), two(kq)),
            sums: scaled_sums,
        })
    }

    fn new(p: &[f64], q: &[f64], mp: f64, mq: f64) -> Option<Self> {
        Self::from_sums(mp, mq, sums(&scaled(p, mp), &scaled(q, mq)))
    }

    /// The terms of a block of the row (unscaled values): +inf where some q = 0 < p;
    /// ratios far from 1 (beyond the scaled range) in the log domain, where a difference
    /// of logarithms is accurate.
    pub fn block<T: Real, U: Real>(&self, p: &[T], q: &[U]) -> f64 {
        let s = &self.sums;
        let k = consts(s);
        let ((p1, p2), (q1, q2)) = self.factors;
        let ln_sp = s.sp.ln() - self.ln_scale.0;
        let ln_sq = s.sq.ln() - self.ln_scale.1;
        let (mut sum, mut carry) = (0.0f64, 0.0f64);
        for (&a, &b) in p.iter().zip(q) {
            let (a, b) = (a.to_f64(), b.to_f64());
            let term = if b == 0.0 {
                if a > 0.0 {
                    return f64::INFINITY;
                }
                0.0
            } else if a == 0.0 {
                ((b * q1) * q2) / s.sq
            } else {
                let log_ratio = (a.ln() - b.ln()) + (ln_sq - ln_sp);
                let (a2, b2) = (a * p1 * p2 * k.scale_p, b * q1 * q2 * k.scale_q);
                let w = b2 * k.sp;
                if w >= f64::MIN_POSITIVE && a2 >= f64::MIN_POSITIVE && log_ratio.abs() < 700.0 {
                    // in range: the accurate deviation, as the vector form
                    let e = (-b2).mul_add(k.sp, w);
                    let d = a2.mul_add(k.sq, -w);
                    let f = (d + e) / w;
                    let r = (a2 * k.sq) / w;
                    (b2 / k.sq) * g_scalar(f, r)
                } else {
                    // P·ln(P/Q) − P + Q with P/Q far from 1 (P, Q may underflow: harmless)
                    let big_p = (a.ln() - ln_sp).exp();
                    let big_q = (b.ln() - ln_sq).exp();
                    big_p * log_ratio - big_p + big_q
                }
            };
            // Neumaier's compensated sum: the terms are ≥ 0 but of any magnitude
            let t = sum + term;
            carry += if sum.abs() >= term.abs() {
                (sum - t) + term
            } else {
                (term - t) + sum
            };
            sum = t;
        }
        sum + carry
    }
}

/// Scalar reference: Σ Q·g(P/Q − 1) in plain f64 (g by `ln_1p`), for tests.
pub fn reference<T: Real, U: Real>(p: &[T], q: &[U]) -> f64 {
    let p: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
    let q: Vec<f64> = q.iter().map(|v| v.to_f64()).collect();
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let mut d = 0.0;
    for (&a, &b) in p.iter().zip(&q) {
        if b == 0.0 {
            if a > 0.0 {
                return f64::INFINITY;
            }
            continue;
        }
        let f = (a * (sq / sp) - b) / b;
        let g = if a == 0.0 {
            1.0
        } else if f.abs() < 1e-3 {
            f * f / 2.0 - f * f * f / 6.0 + f * f * f * f / 12.0
        } else {
            (1.0 + f) * f.ln_1p() - f
        };
        d += (b / sq) * g;
    }
    d
}

// -------------------------------------------------------- vertical (16 short rows)

#[inline(always)]
fn group_body<V: F8, U: Real>(
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
        return if U::IS_F32 {
            kl_of_two::<V, true>(p, q, out, regular)
        } else {
            kl_of_two::<V, false>(p, q, out, regular)
        };
    }
    if out.len() <= GROUP / 2 {
        group_halves::<V, U, 1>(p, q, normalize, out, regular)
    } else {
        group_halves::<V, U, 2>(p, q, normalize, out, regular)
    }
}

/// The general group form over the first `H` halves of eight lanes: `H = 1` where at most
/// eight rows are present (a single row — the small call — pays for eight lanes, not
/// sixteen). Lanes never interact, so a row's value does not depend on `H`.
#[inline(always)]
fn group_halves<V: F8, U: Real, const H: usize>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    normalize: bool,
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let zero = V::splat(0.0);
    let totals = GroupTotals::<V>::of::<_, H>(p, q);
    let (sp, sq) = (totals.sp, totals.sq);
    let lanes: [Lanes<V>; 2] = if normalize {
        std::array::from_fn(|h| {
            let h = h.min(H - 1);
            lanes_from_sums(sp[h], sq[h], totals.cp[h], totals.cq[h])
        })
    } else {
        [Lanes::splat(&Consts::RAW); 2]
    };
    if normalize {
        for h in 0..H {
            mark_irregular::<V>(totals.regular(h), h, regular);
        }
    }
    let mut acc = match (U::IS_F32, normalize) {
        (true, true) => group_terms::<V, true, false, H>(p, q, &lanes),
        (true, false) => group_terms::<V, true, true, H>(p, q, &lanes),
        (false, true) => group_terms::<V, false, false, H>(p, q, &lanes),
        (false, false) => group_terms::<V, false, true, H>(p, q, &lanes),
    };
    if U::IS_F32 {
        // Lanes holding a subnormal f32 q (outside the f32 polynomials' domain), and raw
        // sums that cancel (their f32 logs' error amplified past the contract), are redone
        // with f64 logs — in the vectors, lane by lane; a row's value never depends on its
        // neighbours.
        let limit = V::splat(F32_MIN_NORMAL);
        // (written out: a closure here was compiled out of line, without the vector ISA)
        let mut bad = [acc[0].min_q.lt(limit), acc[H - 1].min_q.lt(limit)];
        if !normalize {
            for (b, a) in bad.iter_mut().zip([&acc[0], &acc[H - 1]]) {
                *b = V::or(*b, cancels_past::<V>(a.raw, a.raw_abs, RAW_MAX_COND_F32));
            }
        }
        if V::any(V::or(bad[0], bad[H - 1])) {
            let redo = if normalize {
                group_terms::<V, false, false, H>(p, q, &lanes)
            } else {
                group_terms::<V, false, true, H>(p, q, &lanes)
            };
            for ((a, r), bad) in acc.iter_mut().zip(redo).zip(bad).take(H) {
                a.v = V::select(bad, r.v, a.v);
                a.raw = V::select(bad, r.raw, a.raw);
                a.raw_abs = V::select(bad, r.raw_abs, a.raw_abs);
                a.zero_q = V::select(bad, r.zero_q, a.zero_q);
                a.out_of_range = V::select(bad, r.out_of_range, a.out_of_range);
            }
        }
    }
    for h in 0..H {
        let a = &acc[h];
        mark_irregular::<V>(a.out_of_range.eq(zero), h, regular);
        let value = if normalize { a.v } else { a.raw };
        let value = V::select(a.zero_q.gt(zero), V::splat(f64::INFINITY), value);
        if !normalize {
            // rows holding ±inf or NaN are redone by the caller
            let total = sp[h].add(sq[h]);
            let finite = V::and(total.lt(V::splat(f64::INFINITY)), total.ge(zero));
            mark_irregular::<V>(finite, h, regular);
        }
        super::two_pass::store_half(value, h, out);
    }
    totals.lowest()
}

/// Two-element rows (a binary classifier's outputs) in closed form, lane = row. With
/// P = (a, b)/s, Q = (c, d)/t, s = a + b, t = c + d, both deviations come from one
/// determinant D = a·d − b·c (Kahan's algorithm: within an ULP, exactly 0 for identical
/// rows and rows at another power-of-two scale): P₁/Q₁ − 1 = D/(c·s) and
/// P₂/Q₂ − 1 = −D/(d·s), so D(P‖Q) = [c·g(D/(c·s)) + d·g(−D/(d·s))]/t, two
/// non-negative terms from one [`log1p_g16`] — no sums, no second pass. Rounding s or t
/// scales both deviations (or both weights) alike: a few ULP of the value. Lanes that
/// [`two_element_ok`] refuses are left to the row form.
#[inline(always)]
fn kl_of_two<V: F8, const F32: bool>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let zero = V::splat(0.0);
    let (mut min_p, mut min_q) = (V::splat(f64::INFINITY), V::splat(f64::INFINITY));
    for h in 0..2 {
        let (a, b) = (half::<V>(&p[0], h), half::<V>(&p[1], h));
        let (c, d) = (half::<V>(&q[0], h), half::<V>(&q[1], h));
        let (s, t) = (a.add(b), c.add(d));
        mark_irregular::<V>(two_element_ok::<V, F32>(a, b, c, d), h, regular);
        let det = determinant(a, b, c, d);
        // three divisions per eight rows (the divider, not the arithmetic, bounded five)
        let one = V::splat(1.0);
        let (inv_cs, inv_ds) = (one.div(c.mul(s)), one.div(d.mul(s)));
        let f = (det.mul(inv_cs), zero.sub(det).mul(inv_ds));
        let r = (a.mul(t).mul(inv_cs), b.mul(t).mul(inv_ds));
        let (_, (g1, g2)) = log1p_g16::<V, F32>(f, r);
        let value = weighted_g(c, a, g1).add(weighted_g(d, b, g2)).div(t);
        super::two_pass::store_half(value, h, out);
        min_p = min_p.min_ignoring_nan(a).min_ignoring_nan(b);
        min_q = min_q.min_ignoring_nan(c).min_ignoring_nan(d);
    }
    Lowest {
        p: min_p.min_lane(),
        q: min_q.min_lane(),
    }
}

/// One KL term q_i·g of a two-element row (before the division by t); q_i = 0 gives +inf
/// under p_i > 0 and nothing under p_i = 0.
#[inline(always)]
fn weighted_g<V: F8>(q_i: V, p_i: V, g: V) -> V {
    let zero = V::splat(0.0);
    let empty = V::select(p_i.gt(zero), V::splat(f64::INFINITY), zero);
    V::select(q_i.eq(zero), empty, q_i.mul(g))
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
        inv_sq: V::splat(1.0).div(mq),
    }
}

/// Pass 2 of a vertical group.
#[inline(always)]
fn group_terms<V: F8, const F32: bool, const RAW: bool, const H: usize>(
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
            step_half::<V, F32, RAW>(&mut acc[0], a.0, b.0, &lanes[0]);
        } else {
            step::<V, F32, RAW>(&mut acc, a, b, lanes);
        }
    }
    acc
}

crate::simd::multiversion! {
    /// [`group`]'s exact form (every row but the normalised float32 rows [`group`] sends to
    /// [`kl_f32::group`] first).
    pub fn group_of<U: Real>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], normalize: bool, out: &mut [f64], regular: &mut [bool]) -> Lowest = group_body;
}

/// Normalised float32 rows at least this long take [`kl_f32::group`]. Shorter rows (but
/// rows of two and three, which take their closed forms) keep the exact group form: their
/// divergences are often too small for the fast form's bound
/// (uniform random rows of three elements: 28% of groups of sixteen keep every row, of four
/// 63%), and a group with one row left pays for both forms. Measured ((N, C) float32, N·C = 10^7, one
/// thread, ms a call, exact → fast for every row from C = 3, with the first form of the
/// bound — 2^−21 of V and a condition ≤ 1.5): C = 3 35 → 57, C = 4 31 → 42, C = 5 33 → 27,
/// C = 6 30 → 22, C = 8 31 → 20, C = 10 29 → 17, C = 100 34 → 21. Again with the final
/// bound on D and the near form (2026-12-06; from 5 → from 4 → from 3, each (N, C) and its
/// (C, N) transpose, minima of seven calls, three alternated rounds; one round's middle run
/// disturbed by the host is left out): C = 3 rows 50.0 / 51.5 / 54.0 → 52.6 / 52.0 → 81.3 /
/// 83.6 / 80.8 ms, C = 4 rows 49.8 / 50.2 / 50.5 → 58.4 / 57.0 → 58.1 / 58.5 / 56.9, C = 5 and
/// 6 unchanged — still slower below 5.
pub const F32_FAST_GROUP_FROM: usize = 5;

/// The row length from which [`group`] takes [`kl_f32::group`] for rows of p (element type
/// T) and q (U), or None where it never does — one decision for the kernel's routing and
/// the engine's grouping of ragged rows (`RowMeasure::own_length_up_to`: rows shorter than
/// it, those of two and three elements with their closed forms among them, share a group
/// only with rows of their own length).
pub fn fast_group_from<T: Real, U: Real>(normalize: bool) -> Option<usize> {
    (normalize && T::IS_F32 && U::IS_F32).then_some(F32_FAST_GROUP_FROM)
}

/// Divergences of up to sixteen short rows of p (element type T) and q (U), transposed
/// (`p[c][j]`: element `c` of row `j`, zero-padded); rows left `regular[j] == false` must
/// be redone with [`row`]. Normalised rows of float32 elements on both sides take
/// [`super::kl_pairs_f32`] (two elements), [`super::kl_triples_f32`] (three) or, from
/// [`F32_FAST_GROUP_FROM`] elements, [`kl_f32::group`] (the fast forms, the exact form for
/// the rows they leave).
pub fn group<T: Real, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    normalize: bool,
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let f32_rows = normalize && T::IS_F32 && U::IS_F32 && q.len() == p.len();
    if f32_rows && p.len() == 2 {
        return super::f32_tiles::group::<KlPairs>(p, q, out, regular);
    }
    if f32_rows && p.len() == 3 {
        return super::f32_tiles::group::<KlTriples>(p, q, out, regular);
    }
    let fast = fast_group_from::<T, U>(normalize).is_some_and(|from| p.len() >= from);
    if fast && q.len() == p.len() {
        return kl_f32::group(p, q, out, regular);
    }
    group_of::<U>(p, q, normalize, out, regular)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{
        check_rows_alone_match_full_groups, check_two_element_closed_form, close, positive,
        through_groups,
    };

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

    fn check(p: &[f64], q: &[f64], rtol: f64) {
        let (got, _) = row(p, q, true);
        let want = reference(p, q);
        assert!(close(got, want, rtol), "{got:e} vs {want:e}");
        if p.len() <= 64 {
            let mut pt = vec![[0.0; GROUP]; p.len()];
            let mut qt = vec![[0.0; GROUP]; p.len()];
            for c in 0..p.len() {
                pt[c][5] = p[c];
                qt[c][5] = q[c];
            }
            let (mut out, mut regular) = ([0.0; 6], [true; 6]);
            group::<f64, f64>(&pt, &qt, true, &mut out, &mut regular);
            let v = if regular[5] {
                out[5]
            } else {
                careful_row(p, q)
            };
            assert!(close(v, want, rtol), "group {v:e} vs {want:e}");
        }
    }

    #[test]
    fn matches_the_reference_on_every_tail_length() {
        for len in 1..=67 {
            let p = positive(len, len as u64);
            let q: Vec<f64> = positive(len, 500 + len as u64)
                .iter()
                .map(|v| v + 0.01)
                .collect();
            if p.iter().sum::<f64>() > 0.0 {
                check(&p, &q, 1e-13);
            }
        }
    }

    #[test]
    fn identical_and_scaled_rows() {
        let p = positive(1000, 3);
        assert_eq!(row(&p, &p, true).0, 0.0);
        assert_eq!(row(&p, &p, false).0, 0.0);
        // the same distribution at another scale: ρ is a power of two, every f exact
        let q: Vec<f64> = p.iter().map(|v| v * 1024.0).collect();
        assert_eq!(row(&p, &q, true).0, 0.0);
        let r: Vec<f64> = positive(1000, 4).iter().map(|v| v + 0.5).collect();
        let rs: Vec<f64> = r.iter().map(|v| v * 2f64.powi(-700)).collect();
        assert_eq!(row(&p, &r, true).0, row(&p, &rs, true).0);
    }

    #[test]
    fn near_equal_distributions_keep_their_digits() {
        // q = p·(1 + 1e-4·noise): KL ≈ 5e-9, every term ≥ 0
        let p: Vec<f64> = positive(2000, 5).iter().map(|v| v + 0.1).collect();
        let noise = positive(2000, 6);
        let q: Vec<f64> = p
            .iter()
            .zip(&noise)
            .map(|(a, n)| a * (1.0 + 1e-4 * (n - 0.5)))
            .collect();
        let (got, _) = row(&p, &q, true);
        let want = reference(&p, &q);
        assert!(((got - want) / want).abs() < 1e-12, "{got:e} vs {want:e}");
    }

    #[test]
    fn extreme_totals_and_specials() {
        // the table
        // mpmath, 60 digits
        let cases: [(&[f64], &[f64], f64); 5] = [
            (&[5e-324], &[0.5], 0.0),
            (
                &[1e-300, 2e-300],
                &[1e300, 3e300],
                0.017_372_000_379_671_338,
            ),
            (&[1e-320, 3e-320], &[0.5, 0.5], 0.130_812_035_941_136_97),
            (&[1e308, 1e308], &[1.0, 3.0], 0.143_841_036_225_890_45),
            (&[1e308, 1e307], &[1e307, 1e308], 1.883_933_257_904_219_2),
        ];
        for (p, q, want) in cases {
            let (got, _) = row(p, q, true);
            assert!(
                (got - want).abs() <= 1e-14 * want.max(1e-300),
                "{p:?} {q:?}: {got} vs {want}"
            );
        }
        let p = [1.7e308, 1.7e308];
        assert_eq!(row(&p, &p, true).0, 0.0);
        assert_eq!(row(&[1.0, 1.0], &[1.0, 0.0], true).0, f64::INFINITY);
        assert_eq!(
            row(&[0.0, 1.0], &[1.0, 1.0], true).0,
            std::f64::consts::LN_2
        );
        assert!(row(&[1.0, f64::NAN], &[1.0, 1.0], true).0.is_nan());
        assert!(row(&[1.0, 1.0], &[f64::NAN, 1.0], false).0.is_nan());
        assert_eq!(row(&[1.0, 0.0], &[0.0, 1.0], false).0, f64::INFINITY);
    }

    #[test]
    fn f32_rows_are_within_the_f32_contract() {
        for len in [1usize, 2, 3, 10, 17, 100, 1000] {
            let p: Vec<f32> = positive(len, 5).iter().map(|&v| v as f32 + 0.01).collect();
            let q: Vec<f32> = positive(len, 9).iter().map(|&v| v as f32 + 0.01).collect();
            let (got, _) = row(&p, &q, true);
            let want = reference(&p, &q);
            assert!(close(got, want, 1e-6), "{got:e} vs {want:e}");
        }
    }

    #[test]
    fn cancelling_raw_float32_groups_take_f64_logs_in_the_vectors() {
        // Σ p ln(p/q) of near-equal f32 rows (terms of both signs): f32 logs would leave
        // ~1e-7 of Σ|terms|; the group redoes those lanes with f64 logs and keeps them
        let f32_of = |v: f64| v as f32 as f64;
        let rows: Vec<([f64; 3], [f64; 3])> = (1..=40)
            .map(|k| {
                let d = k as f64 * 1e-3;
                let p = [f32_of(0.2), f32_of(0.3), f32_of(0.5)];
                (p, [f32_of(0.2 + d), f32_of(0.3 - d), p[2]])
            })
            .collect();
        for chunk in rows.chunks(GROUP) {
            let (pt, qt) = crate::kernels::adversarial::transposed_pairs(chunk);
            let (mut out, mut regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
            group::<f32, f32>(&pt, &qt, false, &mut out, &mut regular);
            for ((pr, qr), (&v, &ok)) in chunk.iter().zip(out.iter().zip(&regular)) {
                assert!(ok, "{pr:?} {qr:?} left the group");
                let want = raw_careful(pr, qr);
                let scale: f64 = pr
                    .iter()
                    .zip(qr)
                    .map(|(a, b)| (a * (a / b).ln()).abs())
                    .sum();
                assert!(
                    (v - want).abs() <= 1e-14 * scale,
                    "{v:e} vs {want:e} for {qr:?}"
                );
            }
        }
    }

    #[test]
    fn one_pass_agrees_or_refuses() {
        let p: Vec<f64> = positive(50_000, 1).iter().map(|v| v + 0.1).collect();
        let q: Vec<f64> = positive(50_000, 2).iter().map(|v| v + 0.1).collect();
        let (ps, qs) = (sums(&p, &q), terms(&p, &q, &Consts::RAW, false));
        // mpmath (60 digits): 6.185171800019882; the plain reference is 2e-13 off
        let want = 6.185_171_800_019_882;
        assert!(close(row(&p, &q, true).0, want, 1e-15));
        match finish_one_pass(&ps, &qs) {
            Some(d) => assert!(close(d, want, 1e-13), "{d:e} vs {want:e}"),
            None => panic!("a well-conditioned pair was refused"),
        }
        // counts against probabilities at another scale: refused (cancels)
        let c: Vec<f64> = q.iter().map(|v| v * 3.0).collect();
        let near: Vec<f64> = p.iter().map(|v| v * (1.0 + 1e-9)).collect();
        let _ = c;
        let t = terms(&near, &p, &Consts::RAW, false);
        let s = sums(&near, &p);
        if let Some(d) = finish_one_pass(&s, &t) {
            assert!(d.abs() < 1e-15);
        }
    }
}
