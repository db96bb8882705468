//! The float32 fast form of JS's second pass (DESIGN §2b): per leaf, differences of native
//! f32 logarithms, kept only where their error bound is 2^−21 of the leaf's value.
//!
//! [`super::js`]'s pass 2 sums w·[g(d) + g(−d)] with a = p'·s_q, b = q'·s_p (p', q' the
//! exactly scaled values, s_p, s_q the scaled totals), w = a + b and d = (a − b)/w: a
//! division and two log1p per element. That is 2·F with
//!
//! F = a·ln(2a/w) + b·ln(2b/w) = a·Δa + b·Δb ≥ 0,
//! Δa = ln p − ln(w/2) + ln A,  A = scale_p·s_q (a = p·A), and likewise Δb with B,
//!
//! and this module takes the logarithms from [`crate::simd::log_f32::ln_parts`] of p, q and
//! m = w/2 rounded to f32 (m₃₂), with ln(w/2) = ln m₃₂ + ε, ε = (w/2 − m₃₂)/m₃₂ (one f32
//! division; first order: the rest is below 2^−49). As in [`super::kl_f32`],
//! ln p − ln m₃₂ = (k_p − k_m)·ln 2 + (f_p − f_m) + (rest_p − rest_m) where the exponent and
//! mantissa differences are exact in f32 and only the rests carry rounding (rest_of ≤
//! 2.9·2^−24 of |rest| measured, and the difference's own rounding): an element's error
//! is at most 2^−21·[a·(|rest_p| + |rest_m|) + b·(|rest_q| + |rest_m|)], a factor two to
//! spare. f64 rounding and ε's truncation are below 2^−46·(F + Σw) (a·|Δa| ≤ F + w, the
//! terms' sizes).
//!
//! A leaf is kept when 2^−21·1.01·Σ[…] + 2^−46·(F + Σw) ≤ 2^−21·F, else `None` and the
//! exact leaf runs; the choice depends on the leaf's own data (results are bitwise the same
//! for any thread count), kept leaves are within 2^−21 of their F ≥ 0, and so is the sum:
//! ≤ 4.8e-7 relative, inside §2b's 1e-6. Divergences above about 0.04 of the mass are
//! kept (uniform random rows, JS ≈ 0.1: all leaves); closer distributions take the exact
//! form, a leaf far short of the bound after its first `PROBE` elements without finishing.
//!
//! Domain: p, q normal positive finite or zero, m₃₂ normal where w > 0; anything else
//! makes the leaf `None` (the exact leaf handles it).
//!
//! **Short rows** ([`group`]): the totals lane by lane, then the same terms in the group
//! tile with one row per lane, each row kept on the leaf's bound (2^−21 of its value), the
//! rows not kept taking the φ form ([`super::js_phi_f32`], `Js::second`), the rows it
//! leaves the exact group form.

use super::block::Block;
use super::f32_tiles::{self, FastGroupForm, TileRow};
use super::js_phi_f32::JsPhi;
use super::two_pass::{lowest_f32, mark_irregular, store_half, Lowest, REGULAR_MAX, REGULAR_MIN};
use super::GROUP;
use crate::simd::log::ln_finite;
use crate::simd::log_f32::ln_parts;
use crate::simd::vector::F8;
use crate::simd::vector_f32::{ABS, F16};

/// Elements after which a leaf of at least twice as many is given up when its partial F is
/// below 1.5·Σ[…] so far (three quarters of what the bound asks).
const PROBE: usize = 32;

/// The pass-2 constants the fast form needs: A = scale_p·s_q, B = scale_q·s_p and their
/// logarithms.
#[derive(Clone, Copy, Debug)]
pub struct Scales {
    pub a: f64,
    pub b: f64,
    pub ln_a: f64,
    pub ln_b: f64,
}

impl Scales {
    /// From [`super::js::Consts`]' parts.
    pub fn new(scale_p: f64, scale_q: f64, sp: f64, sq: f64) -> Self {
        let (a, b) = (scale_p * sq, scale_q * sp);
        Scales {
            a,
            b,
            ln_a: a.ln(),
            ln_b: b.ln(),
        }
    }
}

/// Σ w·[g(d) + g(−d)] (= 2·ΣF) of one leaf (at most [`super::LEAF`] elements), or `None`
/// where the bound does not hold or a value is outside the domain (module docs).
#[inline(always)]
pub fn fast_leaf<V: F8>(p: &[f32], q: &[f32], k: &Scales) -> Option<f64> {
    fast_leaf_parts::<V, false>(p, q, k).map(|(t, _)| t)
}

/// The fast form's scale constants lane by lane, two halves of eight lanes: A, B and their
/// logarithms (a leaf's are the same in every lane, a group's are its rows').
#[derive(Clone, Copy)]
struct LaneScales<V> {
    a: [V; 2],
    b: [V; 2],
    ln_a: [V; 2],
    ln_b: [V; 2],
}

impl<V: F8> LaneScales<V> {
    #[inline(always)]
    fn splat(k: &Scales) -> Self {
        LaneScales {
            a: [V::splat(k.a); 2],
            b: [V::splat(k.b); 2],
            ln_a: [V::splat(k.ln_a); 2],
            ln_b: [V::splat(k.ln_b); 2],
        }
    }
}

/// The fast form's running sums lane by lane: Σ a·Δa + b·Δb (`f`; with `SPLIT` the b side
/// apart in `fb`, and Σa), Σw, the bound's weights Σ p(|rest_p| + |rest_m|) and
/// Σ q(|rest_q| + |rest_m|) (f32), and the smallest bits-less-one of p, q and m (the
/// domain test). A leaf folds its lanes at the end; a group's lanes are its rows.
#[derive(Clone, Copy)]
struct FastLanes<V: F8> {
    f: [V; 2],
    fb: [V; 2],
    a: [V; 2],
    w: [V; 2],
    rest_p: V::F32s,
    rest_q: V::F32s,
    lowest: V::F32s,
}

impl<V: F8> FastLanes<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        FastLanes {
            f: [zero; 2],
            fb: [zero; 2],
            a: [zero; 2],
            w: [zero; 2],
            rest_p: V::F32s::splat(0.0),
            rest_q: V::F32s::splat(0.0),
            lowest: V::F32s::splat(f32::INFINITY),
        }
    }

    /// Adds sixteen elements (one per lane).
    #[inline(always)]
    fn add<const SPLIT: bool>(&mut self, pv: V::F32s, qv: V::F32s, k: &LaneScales<V>) {
        type S<V> = <V as F8>::F32s;
        let zero = V::splat(0.0);
        let (ln2, half) = (V::splat(std::f64::consts::LN_2), V::splat(0.5));
        let (zero32, one32) = (S::<V>::splat(0.0), S::<V>::splat(1.0));
        let ((p0, p1), (q0, q1)) = (pv.widen(), qv.widen());
        let (a0, a1) = (p0.mul(k.a[0]), p1.mul(k.a[1]));
        let (b0, b1) = (q0.mul(k.b[0]), q1.mul(k.b[1]));
        let (w0, w1) = (a0.add(b0), a1.add(b1));
        // m = w/2 rounded to f32 and its parts; ln(w/2) = ln m₃₂ + ε with
        // ε = (w/2 − m₃₂)/m₃₂ to first order (p = q = 0: m₃₂ = 0, taken as 1, ε = 0)
        let (mh0, mh1) = (w0.mul(half), w1.mul(half));
        let m = S::<V>::from_wide(mh0, mh1);
        let m = S::<V>::select(m.eq(zero32), one32, m);
        let inv = one32.div(m);
        let (km, fm, rm) = ln_parts(m);
        let ((mw0, mw1), (iv0, iv1)) = (m.widen(), inv.widen());
        let e0 = V::select(w0.eq(zero), zero, mh0.sub(mw0).mul(iv0));
        let e1 = V::select(w1.eq(zero), zero, mh1.sub(mw1).mul(iv1));
        let (kp, fp, rp) = ln_parts(pv);
        let (kq, fq, rq) = ln_parts(qv);
        let rm_abs = rm.bits_and(ABS);
        self.rest_p = pv.mul_add(rp.bits_and(ABS).add(rm_abs), self.rest_p);
        self.rest_q = qv.mul_add(rq.bits_and(ABS).add(rm_abs), self.rest_q);
        // min over the bits less one of p, q and m: ±0 become NaN (ignored), anything
        // negative or subnormal falls below the smallest normal f32
        self.lowest = self
            .lowest
            .min_ignoring_nan(pv.bits_add(u32::MAX))
            .min_ignoring_nan(qv.bits_add(u32::MAX))
            .min_ignoring_nan(m.bits_add(u32::MAX));
        // the exponent and mantissa differences are exact in f32, the rests' rounds once
        let ((kp0, kp1), (fp0, fp1), (rp0, rp1)) =
            (kp.sub(km).widen(), fp.sub(fm).widen(), rp.sub(rm).widen());
        let ((kq0, kq1), (fq0, fq1), (rq0, rq1)) =
            (kq.sub(km).widen(), fq.sub(fm).widen(), rq.sub(rm).widen());
        let da0 = kp0.mul_add(ln2, fp0.add(rp0).add(k.ln_a[0].sub(e0)));
        let da1 = kp1.mul_add(ln2, fp1.add(rp1).add(k.ln_a[1].sub(e1)));
        let db0 = kq0.mul_add(ln2, fq0.add(rq0).add(k.ln_b[0].sub(e0)));
        let db1 = kq1.mul_add(ln2, fq1.add(rq1).add(k.ln_b[1].sub(e1)));
        if SPLIT {
            self.f[0] = a0.mul_add(da0, self.f[0]);
            self.f[1] = a1.mul_add(da1, self.f[1]);
            self.fb[0] = b0.mul_add(db0, self.fb[0]);
            self.fb[1] = b1.mul_add(db1, self.fb[1]);
            self.a[0] = self.a[0].add(a0);
            self.a[1] = self.a[1].add(a1);
        } else {
            self.f[0] = a0.mul_add(da0, b0.mul_add(db0, self.f[0]));
            self.f[1] = a1.mul_add(da1, b1.mul_add(db1, self.f[1]));
        }
        self.w[0] = self.w[0].add(w0);
        self.w[1] = self.w[1].add(w1);
    }
}

/// [`fast_leaf`], and with `SPLIT` also the leaf's Σ w·g(−d) (the q side, for
/// [`super::js::finish_one_pass`]): w·g(−d) = 2b·Δb − (b − a), so it is 2·Σ b·Δb + Σa − Σb,
/// from one more accumulator of each.
#[inline(always)]
pub fn fast_leaf_parts<V: F8, const SPLIT: bool>(
    p: &[f32],
    q: &[f32],
    k: &Scales,
) -> Option<(f64, f64)> {
    type S<V> = <V as F8>::F32s;
    let n = p.len().min(q.len());
    let scales = LaneScales::<V>::splat(k);
    let mut lanes = FastLanes::<V>::new();
    let mut i = 0;
    while i < n {
        if i == PROBE && n >= 2 * PROBE {
            let f = lanes.f[0]
                .add(lanes.f[1])
                .add(lanes.fb[0].add(lanes.fb[1]))
                .sum_lanes();
            let bound = k.a * lanes.rest_p.sum_lanes() + k.b * lanes.rest_q.sum_lanes();
            if 1.5 * bound > f || f.is_nan() {
                return None;
            }
        }
        let pv = super::plogq::load16_f32::<S<V>>(&p[..n], i);
        let qv = super::plogq::load16_f32::<S<V>>(&q[..n], i);
        lanes.add::<SPLIT>(pv, qv, &scales);
        i += 16;
    }
    let lowest = lanes.lowest.min_lane();
    if lowest < f32::MIN_POSITIVE {
        return None;
    }
    let fb = lanes.fb[0].add(lanes.fb[1]).sum_lanes();
    let f = lanes.f[0].add(lanes.f[1]).sum_lanes() + fb;
    let w = lanes.w[0].add(lanes.w[1]).sum_lanes();
    let rest = k.a * lanes.rest_p.sum_lanes() + k.b * lanes.rest_q.sum_lanes();
    let bound = 2f64.powi(-21) * 1.01 * rest + 2f64.powi(-46) * (f.abs() + w);
    // also false for NaN or ±inf anywhere (f or w is then not finite)
    let kept = f.is_finite() && w.is_finite() && bound <= 2f64.powi(-21) * f;
    let tq = if SPLIT {
        2.0 * fb + 2.0 * lanes.a[0].add(lanes.a[1]).sum_lanes() - w
    } else {
        0.0
    };
    kept.then_some((2.0 * f, tq))
}

/// x·2^−e ∈ [1, 2) for a normal x, from its bits: then 2^−e = that/x exactly (as
/// `js::lanes_from_sums`). (A function, not a closure: a closure may be compiled out of
/// line, without the kernel's target features.)
#[inline(always)]
fn mantissa<V: F8>(x: V) -> V {
    x.bits_and(0x000f_ffff_ffff_ffff)
        .bits_or(0x3ff0_0000_0000_0000)
}

/// The fast group form (pass 1 the totals lane by lane, pass 2 the fast form with lane =
/// row) and its exact fallback, on either tile.
pub struct Js;

impl FastGroupForm for Js {
    #[inline(always)]
    fn fast<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) -> Lowest {
        type S<V> = <V as F8>::F32s;
        let zero = V::splat(0.0);
        // pass 1: plain lane sums (at most F32_ROWS_ABOVE values a lane: ≲ 100u, entering
        // the value to first order only through the deviations, which the kept rows' bound
        // dwarfs)
        let (mut sp, mut sq) = ([zero; 2], [zero; 2]);
        for (pr, qr) in p.iter().zip(q) {
            for h in 0..2 {
                sp[h] = sp[h].add(pr.half::<V>(h));
                sq[h] = sq[h].add(qr.half::<V>(h));
            }
        }
        let (s_p, s_q) = (
            [mantissa(sp[0]), mantissa(sp[1])],
            [mantissa(sq[0]), mantissa(sq[1])],
        );
        let (a, b) = (
            [s_p[0].div(sp[0]).mul(s_q[0]), s_p[1].div(sp[1]).mul(s_q[1])],
            [s_q[0].div(sq[0]).mul(s_p[0]), s_q[1].div(sq[1]).mul(s_p[1])],
        );
        let scales = LaneScales {
            a,
            b,
            ln_a: [ln_finite(a[0]), ln_finite(a[1])],
            ln_b: [ln_finite(b[0]), ln_finite(b[1])],
        };
        // pass 2
        let mut lanes = FastLanes::<V>::new();
        let inf = S::<V>::splat(f32::INFINITY);
        let (mut min_p, mut min_q) = (inf, inf);
        for (pr, qr) in p.iter().zip(q) {
            let (pv, qv) = (pr.lanes::<V>(), qr.lanes::<V>());
            lanes.add::<false>(pv, qv, &scales);
            // min_ignoring_nan ignores a NaN only in its argument: one operand at a time
            min_p = min_p.min_ignoring_nan(pv);
            min_q = min_q.min_ignoring_nan(qv);
        }
        let normal = S::<V>::widen_mask(S::<V>::splat(f32::MIN_POSITIVE).le(lanes.lowest));
        let normal = [normal.0, normal.1];
        let (rest_p, rest_q) = (lanes.rest_p.widen(), lanes.rest_q.widen());
        let (rest_p, rest_q) = ([rest_p.0, rest_p.1], [rest_q.0, rest_q.1]);
        let (lo, hi) = (V::splat(REGULAR_MIN), V::splat(REGULAR_MAX));
        for h in 0..2 {
            let (f, w) = (lanes.f[h], lanes.w[h]);
            // the leaf's bound (module docs), lane by lane; false for NaN or ±inf anywhere
            let rest = a[h].mul(rest_p[h]).add(b[h].mul(rest_q[h]));
            let size = f.bits_and(0x7fff_ffff_ffff_ffff).add(w);
            let bound = rest
                .mul(V::splat(2f64.powi(-21) * 1.01))
                .add(size.mul(V::splat(2f64.powi(-46))));
            let within = V::and(
                bound.le(f.mul(V::splat(2f64.powi(-21)))),
                size.lt(V::splat(f64::INFINITY)),
            );
            let totals = V::and(
                V::and(sp[h].ge(lo), sp[h].le(hi)),
                V::and(sq[h].ge(lo), sq[h].le(hi)),
            );
            let kept = V::and(V::and(normal[h], within), totals);
            mark_irregular::<V>(kept, h, fast);
            // JS = Σ w·[g(d) + g(−d)]/(4·s_p·s_q) = 2F/(4·s_p·s_q)
            store_half(f.div(V::splat(2.0).mul(s_p[h]).mul(s_q[h])), h, out);
        }
        lowest_f32(min_p, min_q)
    }

    /// The rows the logarithms' bound leaves (closer distributions) take the φ form
    /// ([`super::js_phi_f32`]): its bound does not depend on how far apart they are.
    #[inline(always)]
    fn second<V: F8, R: TileRow>(p: &[R], q: &[R], out: &mut [f64], fast: &mut [bool]) {
        let n = out.len();
        let (mut values, mut kept) = ([0.0; GROUP], [true; GROUP]);
        JsPhi::fast::<V, R>(p, q, &mut values[..n], &mut kept[..n]);
        for j in 0..n {
            if !fast[j] && kept[j] {
                out[j] = values[j];
                fast[j] = true;
            }
        }
    }

    fn exact(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        // the rows neither fast form keeps (distributions equal to ~12 digits, specials)
        super::js::group_of::<f32, f32>(p, q, true, out, regular);
    }
}

/// Normalised JS divergences of up to sixteen rows of float32 data in the engine's tile
/// (`p[c][j]`: element c of row j, zero padded): the fast form lane by lane (the totals,
/// then differences of f32 logarithms, kept where the row's bound is 2^−21 of its
/// value), the exact group form ([`super::js::group_of`]) for the other rows. Rows left
/// `regular[j] == false` must be redone with the row form.
pub fn group(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    f32_tiles::group::<Js>(p, q, out, regular)
}

/// [`group`] on whole groups of sixteen float32 rows in one of the [`Block`] layouts,
/// through float32 tiles ([`f32_tiles::adjacent`]).
pub fn adjacent(
    p: Block<'_, f32>,
    q: Block<'_, f32>,
    len: usize,
    out: &mut [f64],
) -> (usize, Lowest) {
    f32_tiles::adjacent::<Js>(p, q, len, out)
}

crate::simd::multiversion! {
    /// [`fast_leaf`] on the running CPU's vector type (one leaf on its own).
    pub fn leaf<>(p: &[f32], q: &[f32], k: &Scales) -> Option<f64> = fast_leaf;
}

/// Scalar reference of [`fast_leaf`]'s value: 2·Σ [a ln(2a/w) + b ln(2b/w)] in f64 with
/// `f64::ln`, and whether every value is in the fast form's domain.
pub fn reference(p: &[f32], q: &[f32], k: &Scales) -> (f64, bool) {
    let mut f = 0.0;
    let mut in_domain = true;
    for (&x, &y) in p.iter().zip(q) {
        let (a, b) = (x as f64 * k.a, y as f64 * k.b);
        let normal = |v: f64| v >= f32::MIN_POSITIVE as f64 && v.is_finite();
        in_domain &= (x == 0.0 || normal(x as f64)) && (y == 0.0 || normal(y as f64));
        let w = a + b;
        if a > 0.0 {
            f += a * (2.0 * a / w).ln();
        }
        if b > 0.0 {
            f += b * (2.0 * b / w).ln();
        }
    }
    (2.0 * f, in_domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{check_fast_group_form, check_group_rows_alone, positive};

    /// The fast leaf (CI runs the tests once per instruction set, `FASTENTROPY_SIMD`), and
    /// the portable vector type's.
    fn leaves(p: &[f32], q: &[f32], k: &Scales) -> Vec<Option<f64>> {
        vec![
            leaf(p, q, k),
            fast_leaf::<crate::simd::vector::Scalar8>(p, q, k),
        ]
    }

    fn to_f32(x: &[f64]) -> Vec<f32> {
        x.iter().map(|&v| v as f32).collect()
    }

    /// The scales of normalising `p` and `q` (as [`super::super::js::consts`] gives them).
    fn scales(p: &[f32], q: &[f32]) -> Scales {
        let s = super::super::two_pass::sums(p, q);
        let c = super::super::js::consts(&s);
        Scales::new(c.scale_p, c.scale_q, c.sp, c.sq)
    }

    #[test]
    fn kept_leaves_are_within_the_bound_on_every_tail_length() {
        let mut kept = 0;
        for len in 1..=67 {
            for (p, q) in [
                (
                    to_f32(&positive(len, len as u64 + 1)),
                    to_f32(&positive(len, 99)),
                ),
                (
                    to_f32(&positive(len, 5)),
                    to_f32(&positive(len, len as u64 + 7)),
                ),
            ] {
                for k in [scales(&p, &q), Scales::new(1.0, 1.0, 1.0, 1.0)] {
                    let (want, in_domain) = reference(&p, &q, &k);
                    for got in leaves(&p, &q, &k).into_iter().flatten() {
                        kept += 1;
                        assert!(in_domain);
                        assert!(
                            (got - want).abs() <= 2f64.powi(-21) * want,
                            "{len}: {got} vs {want}"
                        );
                    }
                }
            }
        }
        assert!(kept >= 300, "only {kept} leaves kept");
    }

    #[test]
    fn far_leaves_are_kept_and_nearly_equal_ones_are_not() {
        let p = to_f32(&positive(256, 3));
        let q = to_f32(&positive(256, 4));
        let k = scales(&p, &q);
        assert!(leaves(&p, &q, &k).iter().all(Option::is_some));
        let near: Vec<f32> = p.iter().map(|&x| x * (1.0 + 1e-3)).collect();
        let k = scales(&p, &near);
        assert!(leaves(&p, &near, &k).iter().all(Option::is_none));
    }

    #[test]
    fn values_outside_the_domain_refuse_the_leaf() {
        let p = to_f32(&positive(40, 5));
        let q = to_f32(&positive(40, 6));
        let k = scales(&p, &q);
        assert!(leaves(&p, &q, &k)[0].is_some());
        for &x in &[1e-40, -0.5, f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            for pos in [0, 17, 39] {
                let mut bad = q.clone();
                bad[pos] = x;
                assert!(leaves(&p, &bad, &k).iter().all(Option::is_none), "q = {x}");
                let mut bad = p.clone();
                bad[pos] = x;
                assert!(leaves(&bad, &q, &k).iter().all(Option::is_none), "p = {x}");
            }
        }
    }

    #[test]
    fn the_error_bound_holds_on_adversarial_magnitudes() {
        let span = |seed: u64, lo: i32, hi: i32| -> Vec<f32> {
            positive(256, seed)
                .iter()
                .enumerate()
                .map(|(i, &u)| ((u + 1e-3) as f32) * 2f32.powi(lo + (i as i32 * 7919) % (hi - lo)))
                .collect()
        };
        let pow2: Vec<f32> = (0..256).map(|i| 2f32.powi(i % 40 - 20)).collect();
        // (values over 2^±60 put some m = (a + b)/2 below the normal f32 range, outside the
        // domain: such a leaf may be refused, but what is kept must hold the bound)
        let cases = [
            (span(1, -60, 60), span(2, -60, 60), false),
            (span(1, -40, 40), span(2, -40, 40), true),
            (span(3, -10, 10), span(4, -10, 10), true),
            (span(5, 0, 1), span(6, 0, 1), true),
            (pow2.clone(), pow2.iter().rev().copied().collect(), true),
        ];
        for (p, q, must_keep) in &cases {
            let k = scales(p, q);
            let (want, _) = reference(p, q, &k);
            assert!(
                !must_keep || leaves(p, q, &k).iter().all(Option::is_some),
                "a far pair is kept"
            );
            for got in leaves(p, q, &k).into_iter().flatten() {
                assert!(
                    (got - want).abs() <= 2f64.powi(-21) * want,
                    "{got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn group_rows_are_within_the_contract_or_take_the_exact_form() {
        let (fast, exact) = check_fast_group_form(
            group,
            |pt, qt, out, regular| {
                super::super::js::group_of::<f32, f32>(pt, qt, true, out, regular)
            },
            1.01 * 2f64.powi(-21),
        );
        // both forms ran: far rows fast, the others exact
        assert!(fast > 250 && exact > 1000, "fast {fast}, exact {exact}");
    }

    #[test]
    fn a_group_row_alone_equals_the_row_among_sixteen() {
        check_group_rows_alone(group);
    }
}
