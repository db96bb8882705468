//! What the two-pass row measures share: pass 1 (the totals Σp, Σq, the largest q and
//! the smallest inputs, [`Sums`]), when a row is "regular" enough for the fast forms,
//! loading sixteen elements as two f64 halves, and the rescaling of rows that are not.
//!
//! The totals are compensated (TwoSum per lane: a double-double Σp + its error): KL and
//! JS take their terms relative to both totals, and a rounded total shifts every term's
//! ratio alike — harmless to first order, but its square (~1e-33) would dominate the
//! divergence of two distributions that agree to rounding.
//!
//! A two-pass measure (cross-entropy/entropy in [`super::plogq`], KL in [`super::kl`],
//! JS in [`super::js`]) reads a row twice: pass 1 here, then its own pass 2 with the
//! row's constants — each term then needs the totals, which is what keeps the terms
//! non-negative and the sums free of cancellation.

use super::{min_ignoring_nan, Partial, Real, GROUP};
use crate::simd::log::ln_finite;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// Totals in this range are "regular": pass-2 forms may divide by them and scale by their exponent.
pub const REGULAR_MIN: f64 = 9.332_636_185_032_189e-302; // 2^-1000
pub const REGULAR_MAX: f64 = 1.071_508_607_186_267_3e301; // 2^1000
/// The smallest normal f32, below which the native f32 logarithm is not used.
pub const F32_MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;

/// Pass-1 statistics of a (p, q) row or block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sums {
    /// Σ p (rounded).
    pub sp: f64,
    /// Σ q (rounded).
    pub sq: f64,
    /// Σ p − `sp`: the rounding error, from compensated sums (a double-double total).
    pub sp_lo: f64,
    /// Σ q − `sq`.
    pub sq_lo: f64,
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
        sp_lo: 0.0,
        sq_lo: 0.0,
        max_q: 0.0,
        min: Lowest::NONE,
    };
    #[inline]
    fn combine(self, o: Self) -> Self {
        let (sp, ep) = two_sum(self.sp, o.sp);
        let (sq, eq) = two_sum(self.sq, o.sq);
        Sums {
            sp,
            sq,
            sp_lo: self.sp_lo + o.sp_lo + ep,
            sq_lo: self.sq_lo + o.sq_lo + eq,
            max_q: if o.max_q > self.max_q {
                o.max_q
            } else {
                self.max_q
            },
            min: self.min.min(o.min),
        }
    }
}

impl Sums {
    /// Whether the row can take the regular two-pass path (finite, positive totals in
    /// [2^−1000, 2^1000]; NaN fails every comparison).
    #[inline]
    pub fn regular(&self) -> bool {
        (REGULAR_MIN..=REGULAR_MAX).contains(&self.sp)
            && (REGULAR_MIN..=REGULAR_MAX).contains(&self.sq)
    }

    /// Whether both totals are finite and positive: only then does a q of 0 under a
    /// positive p make a divergence or cross-entropy +inf (a NaN, an infinite mass or a
    /// zero total makes it NaN first, as in the row forms).
    #[inline]
    pub fn positive_finite(&self) -> bool {
        let ok = |t: f64| t > 0.0 && t.is_finite();
        ok(self.sp) && ok(self.sq)
    }
}

/// |v| lane by lane. (A function, not a closure: a closure may be compiled out of line,
/// without the kernel's target features.)
#[inline(always)]
pub(crate) fn abs<V: F8>(v: V) -> V {
    v.bits_and(0x7fff_ffff_ffff_ffff)
}

/// (s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth's TwoSum).
#[inline(always)]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bp = s - a;
    (s, (a - (s - bp)) + (b - bp))
}

/// TwoSum lane by lane: `(s, c)` accumulates x with c collecting the rounding errors.
#[inline(always)]
pub(crate) fn two_sum_lanes<V: F8>(s: V, c: V, x: V) -> (V, V) {
    let t = s.add(x);
    let bp = t.sub(s);
    let err = s.sub(t.sub(bp)).add(x.sub(bp));
    (t, c.add(err))
}

/// A compensated lane sum (two vectors of sums and their error terms) as a double-double.
#[inline(always)]
pub(crate) fn fold_lanes<V: F8>(hi: [V; 2], lo: [V; 2]) -> (f64, f64) {
    let (a, b) = (hi[0].to_array(), hi[1].to_array());
    let (mut s, mut e) = (0.0f64, lo[0].add(lo[1]).sum_lanes());
    for &v in a.iter().chain(&b) {
        let (t, err) = two_sum(s, v);
        s = t;
        e += err;
    }
    let (t, err) = two_sum(s, e);
    (t, err)
}

/// log1p(z) for z ≥ 0 from the vector log: ln(1+z) plus the rounding of 1+z, corrected.
#[inline(always)]
pub(crate) fn log1p<V: F8>(z: V) -> V {
    let u = V::splat(1.0).add(z);
    let correction = z.sub(u.sub(V::splat(1.0))).div(u);
    ln_finite(u).add(correction)
}

/// Sixteen elements of `x` from `i` (zero-padded past the end) as two f64 halves.
#[inline(always)]
pub(crate) fn load16<V: F8, T: Real>(x: &[T], i: usize) -> (V, V) {
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

/// The lanes of two-element rows (a, b), (c, d) that the closed forms take: no NaN, no
/// negative, totals > 0, and every non-zero value within [2^−480, 2^480] ([2^−120, 2^120]
/// for f32 data, whose g runs partly in f32), so no product of two values — nor the error
/// term of [`determinant`] — leaves the normal range.
#[inline(always)]
pub(crate) fn two_element_ok<V: F8, const F32: bool>(a: V, b: V, c: V, d: V) -> V::Mask {
    let (lo, hi) = if F32 {
        (V::splat(2f64.powi(-120)), V::splat(2f64.powi(120)))
    } else {
        (V::splat(2f64.powi(-480)), V::splat(2f64.powi(480)))
    };
    let zero = V::splat(0.0);
    V::and(
        V::and(
            V::and(within(a, lo, hi), within(b, lo, hi)),
            V::and(within(c, lo, hi), within(d, lo, hi)),
        ),
        V::and(a.add(b).gt(zero), c.add(d).gt(zero)),
    )
}

/// Whether `v` is 0 or within [lo, hi].
#[inline(always)]
fn within<V: F8>(v: V, lo: V, hi: V) -> V::Mask {
    V::or(v.eq(V::splat(0.0)), V::and(v.ge(lo), v.le(hi)))
}

/// a·d − b·c by Kahan's algorithm (two fused multiply-adds): within an ULP of the exact
/// value, and exactly 0 where a/b = c/d exactly (identical rows, rows at another
/// power-of-two scale).
#[inline(always)]
pub(crate) fn determinant<V: F8>(a: V, b: V, c: V, d: V) -> V {
    let zero = V::splat(0.0);
    let bc = b.mul(c);
    a.fused_mul_add(d, zero.sub(bc))
        .add(zero.sub(b).fused_mul_add(c, bc))
}

/// Marks the lanes of half `h` of a group that `ok` leaves out as irregular (lanes
/// already irregular stay so).
#[inline(always)]
pub(crate) fn mark_irregular<V: F8>(ok: V::Mask, h: usize, regular: &mut [bool]) {
    if V::all(ok) {
        return;
    }
    for (i, &v) in flag::<V>(ok).to_array().iter().enumerate() {
        if let Some(r) = regular.get_mut(h * 8 + i) {
            *r &= v == 1.0;
        }
    }
}

/// Stores the eight values of half `h` into `out` (which may end inside the half).
#[inline(always)]
pub(crate) fn store_half<V: F8>(value: V, h: usize, out: &mut [f64]) {
    match out.get_mut(h * 8..h * 8 + 8) {
        Some(full) => value.store_f64(full.try_into().expect("8")),
        None => {
            for (i, &v) in value.to_array().iter().enumerate() {
                if let Some(slot) = out.get_mut(h * 8 + i) {
                    *slot = v;
                }
            }
        }
    }
}

/// 1.0 where `m`, else 0.0.
#[inline(always)]
pub(crate) fn flag<V: F8>(m: V::Mask) -> V {
    V::select(m, V::splat(1.0), V::splat(0.0))
}

/// Lanes whose sum of terms cancels past `cond`: Σ|terms| > cond·|Σ terms| (false for NaN).
#[inline(always)]
pub(crate) fn cancels_past<V: F8>(sum: V, abs_sum: V, cond: f64) -> V::Mask {
    let abs = sum.bits_and(0x7fff_ffff_ffff_ffff);
    V::splat(cond).mul(abs).lt(abs_sum)
}

/// Lanes `8h..8h+8` of a transposed row.
#[inline(always)]
pub(crate) fn half<V: F8>(row: &[f64; GROUP], h: usize) -> V {
    V::load_f64(row[h * 8..h * 8 + 8].try_into().expect("8"))
}

/// Sixteen lanes of a tile row holding float32 values (exactly, as f64), as f32 lanes.
#[inline(always)]
pub(crate) fn narrow<V: F8>(row: &[f64; GROUP]) -> V::F32s {
    V::F32s::from_wide(half::<V>(row, 0), half::<V>(row, 1))
}

/// A row of a group tile holding float32 values: sixteen lanes, one per row.
pub trait TileRow: Copy {
    /// The sixteen lanes as f32.
    fn lanes<V: F8>(&self) -> V::F32s;
    /// Lanes `8h..8h + 8` as f64.
    fn half<V: F8>(&self, h: usize) -> V;
}

/// The engine's tile: float32 values widened exactly.
impl TileRow for [f64; GROUP] {
    #[inline(always)]
    fn lanes<V: F8>(&self) -> V::F32s {
        narrow::<V>(self)
    }
    #[inline(always)]
    fn half<V: F8>(&self, h: usize) -> V {
        half::<V>(self, h)
    }
}

/// A float32 tile.
impl TileRow for [f32; GROUP] {
    #[inline(always)]
    fn lanes<V: F8>(&self) -> V::F32s {
        V::F32s::load(self)
    }
    #[inline(always)]
    fn half<V: F8>(&self, h: usize) -> V {
        V::load_f32(self[h * 8..h * 8 + 8].try_into().expect("8"))
    }
}

/// The smallest lane of running minima of p and q held in f32 lanes, as [`Lowest`]
/// (min(0, ·)).
#[inline(always)]
pub(crate) fn lowest_f32<W: F16>(min_p: W, min_q: W) -> Lowest {
    Lowest::NONE.min(Lowest {
        p: f64::from(min_p.min_lane()),
        q: f64::from(min_q.min_lane()),
    })
}

/// Whether each lane of the row `xs` (one f32 vector per element) is a regular
/// distribution for the f32 closed forms ([`super::pairs_f32`], [`super::triples_f32`]):
/// no NaN, all ≥ 0, the largest positive and finite.
#[inline(always)]
pub(crate) fn regular_f32_row<W: F16, const N: usize>(xs: [W; N]) -> W::Mask {
    let (mut lo, mut hi, mut no_nan) = (xs[0], xs[0], xs[0].eq(xs[0]));
    for &x in &xs[1..] {
        (lo, hi) = (lo.min_ignoring_nan(x), hi.max_ignoring_nan(x));
        no_nan = W::and(no_nan, x.eq(x));
    }
    W::and(no_nan, regular_f32_spread(lo, hi))
}

/// Lanes whose elements, of smallest `min` and largest `max` (NaN aside), are all ≥ 0
/// with the largest positive and finite (the NaN test is the caller's).
#[inline(always)]
pub(crate) fn regular_f32_spread<W: F16>(min: W, max: W) -> W::Mask {
    let zero = W::splat(0.0);
    W::and(
        W::and(zero.le(min), zero.lt(max)),
        max.le(W::splat(f32::MAX)),
    )
}

/// Lanes where `x` is 0 or its quotient `ratio` (a share d/c, a weight b/total) is normal
/// in f32: the quotients an f32 closed form can use (ln of a share needs it normal; a
/// subnormal weight has lost relative digits its term may need).
#[inline(always)]
pub(crate) fn zero_or_normal_quotient<W: F16>(x: W, ratio: W) -> W::Mask {
    W::or(x.eq(W::splat(0.0)), W::splat(f32::MIN_POSITIVE).le(ratio))
}

/// The end of an f32 closed form on a group of sixteen rows: the values widened into
/// `out` and the lanes it does not hold marked in `held_flags` (false: leave the row).
#[inline(always)]
pub(crate) fn store_f32_lanes<V: F8>(
    value: V::F32s,
    held: <V::F32s as F16>::Mask,
    out: &mut [f64],
    held_flags: &mut [bool],
) {
    let (held_lo, held_hi) = V::F32s::widen_mask(held);
    mark_irregular::<V>(held_lo, 0, held_flags);
    mark_irregular::<V>(held_hi, 1, held_flags);
    let (lo, hi) = value.widen();
    store_half(lo, 0, out);
    store_half(hi, 1, out);
}

/// The smallest elements of p's and q's rows held in f32 lanes (one vector per element),
/// as [`Lowest`].
#[inline(always)]
pub(crate) fn lowest_f32_rows<W: F16, const N: usize>(p: [W; N], q: [W; N]) -> Lowest {
    // min_ignoring_nan ignores a NaN only in its argument: one operand at a time (a loop,
    // not a closure: closures may be compiled out of line, without the kernel's features)
    let (mut min_p, mut min_q) = (W::splat(f32::INFINITY), W::splat(f32::INFINITY));
    for i in 0..N {
        min_p = min_p.min_ignoring_nan(p[i]);
        min_q = min_q.min_ignoring_nan(q[i]);
    }
    lowest_f32(min_p, min_q)
}

/// The end of a fast group form: rows it did not keep (`fast[j]` false) take the value and
/// the regular flag of the exact group form, which `exact(out, regular)` computes for the
/// whole tile — run only when some row needs it (its value for a row does not depend on
/// the others in the group).
#[inline(always)]
pub(crate) fn exact_where_not_fast(
    fast: &[bool],
    out: &mut [f64],
    regular: &mut [bool],
    exact: impl FnOnce(&mut [f64], &mut [bool]),
) {
    if fast.iter().all(|&kept| kept) {
        return;
    }
    let n = out.len();
    let (mut values, mut flags) = ([0.0; GROUP], [true; GROUP]);
    exact(&mut values[..n], &mut flags[..n]);
    for j in 0..n {
        if !fast[j] {
            out[j] = values[j];
            regular[j] &= flags[j];
        }
    }
}

#[inline(always)]
fn sums_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> Sums {
    sums_with::<V, T, U, true>(p, q)
}

/// Pass 1 (see [`sums`]); `COMPENSATED` false: plain lane sums (`sp_lo`, `sq_lo` then only
/// the rounding of the final fold), for callers whose tolerance leaves room for their
/// (LEAF/16 + log₂ n)·u relative error.
#[inline(always)]
pub(crate) fn sums_with<V: F8, T: Real, U: Real, const COMPENSATED: bool>(
    p: &[T],
    q: &[U],
) -> Sums {
    let n = p.len().min(q.len());
    super::pairwise_leaves!(n, |start, end| {
        let zero = V::splat(0.0);
        let (mut sp, mut sq, mut mq) = ([zero; 2], [zero; 2], [zero; 2]);
        let (mut cp, mut cq) = ([zero; 2], [zero; 2]);
        let (mut mp, mut mnq) = ([zero; 2], [zero; 2]);
        let mut i = start;
        while i < end {
            let (a0, a1) = load16::<V, T>(&p[..end], i);
            let (b0, b1) = load16::<V, U>(&q[..end], i);
            for (h, (a, b)) in [(a0, b0), (a1, b1)].into_iter().enumerate() {
                if COMPENSATED {
                    (sp[h], cp[h]) = two_sum_lanes(sp[h], cp[h], a);
                    (sq[h], cq[h]) = two_sum_lanes(sq[h], cq[h], b);
                } else {
                    (sp[h], sq[h]) = (sp[h].add(a), sq[h].add(b));
                }
                mq[h] = mq[h].max_ignoring_nan(b);
                mp[h] = mp[h].min_ignoring_nan(a);
                mnq[h] = mnq[h].min_ignoring_nan(b);
            }
            i += 16;
        }
        let (sp_hi, sp_lo) = fold_lanes(sp, cp);
        let (sq_hi, sq_lo) = fold_lanes(sq, cq);
        Sums {
            sp: sp_hi,
            sq: sq_hi,
            sp_lo,
            sq_lo,
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
fn sums_plain_body<V: F8, T: Real, U: Real>(p: &[T], q: &[U]) -> Sums {
    sums_with::<V, T, U, false>(p, q)
}

crate::simd::multiversion! {
    /// [`sums`] with plain lane sums (see [`sums_with`]): for float32 data, whose contract
    /// leaves room for their ~1e-15 relative error.
    pub fn sums_plain<T: Real, U: Real>(p: &[T], q: &[U]) -> Sums = sums_plain_body;
}

/// Pass 1 of a row form: plain sums for float32 data (~1e-15 relative, far inside its
/// contract; identical rows and rows at another power-of-two scale still give exactly 0),
/// compensated ones otherwise.
pub fn sums_for_row<T: Real, U: Real>(p: &[T], q: &[U]) -> Sums {
    if T::IS_F32 && U::IS_F32 {
        sums_plain(p, q)
    } else {
        sums(p, q)
    }
}

/// The values of a row scaled by the power of two that brings its largest value `max`
/// (finite, > 0) near 1: the total is then in [1/2, n], regular, and the normalised
/// distribution is unchanged (a power of two only moves exponents). Rare rows: a copy.
pub fn scaled<T: Real>(x: &[T], max: f64) -> Vec<f64> {
    let k = -(max.log2().floor() as i32);
    // two factors: 2^k itself may not be representable
    let (a, b) = (2f64.powi(k / 2), 2f64.powi(k - k / 2));
    x.iter().map(|&v| v.to_f64() * a * b).collect()
}

/// Pass 1 of a group of (p, q) rows (the first `H` halves of eight lanes, one row per
/// lane): each row's compensated totals of p and q, and min(0, its smallest value) of
/// each side.
pub(crate) struct GroupTotals<V> {
    /// Σp, its rounding errors (`cp`), and likewise for q.
    pub sp: [V; 2],
    pub sq: [V; 2],
    pub cp: [V; 2],
    pub cq: [V; 2],
    /// min(0, smallest p) and min(0, smallest q).
    pub mp: [V; 2],
    pub mq: [V; 2],
}

impl<V: F8> GroupTotals<V> {
    #[inline(always)]
    pub(crate) fn of<R: TileRow, const H: usize>(p: &[R], q: &[R]) -> Self {
        let zero = V::splat(0.0);
        let (mut sp, mut sq, mut mp, mut mq) = ([zero; 2], [zero; 2], [zero; 2], [zero; 2]);
        let (mut cp, mut cq) = ([zero; 2], [zero; 2]);
        let steps = p.len().min(q.len());
        for c in 0..steps {
            for h in 0..H {
                let (a, b) = (p[c].half::<V>(h), q[c].half::<V>(h));
                (sp[h], cp[h]) = two_sum_lanes(sp[h], cp[h], a);
                (sq[h], cq[h]) = two_sum_lanes(sq[h], cq[h], b);
                mp[h] = mp[h].min_ignoring_nan(a);
                mq[h] = mq[h].min_ignoring_nan(b);
            }
        }
        GroupTotals {
            sp,
            sq,
            cp,
            cq,
            mp,
            mq,
        }
    }

    /// Half `h`'s rows whose totals are both regular (within 2^±1000).
    #[inline(always)]
    pub(crate) fn regular(&self, h: usize) -> V::Mask {
        let lo = V::splat(REGULAR_MIN);
        let hi = V::splat(REGULAR_MAX);
        V::and(
            V::and(self.sp[h].ge(lo), self.sp[h].le(hi)),
            V::and(self.sq[h].ge(lo), self.sq[h].le(hi)),
        )
    }

    /// Half `h`'s rows without a negative value (NaN aside).
    #[inline(always)]
    pub(crate) fn nonnegative(&self, h: usize) -> V::Mask {
        let zero = V::splat(0.0);
        V::and(self.mp[h].ge(zero), self.mq[h].ge(zero))
    }

    /// min(0, smallest value) of each side over the group.
    #[inline(always)]
    pub(crate) fn lowest(&self) -> Lowest {
        Lowest {
            p: self.mp[0].min_ignoring_nan(self.mp[1]).min_lane(),
            q: self.mq[0].min_ignoring_nan(self.mq[1]).min_lane(),
        }
    }
}
