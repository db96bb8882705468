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

use super::two_pass::{Lowest, Sums};
use crate::simd::log_f32::ln_parts;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

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

const ABS: u32 = 0x7fff_ffff;

/// Elements after which a leaf of at least twice as many is given up when its partial V is
/// below 1.5·Σp(|rest_p| + |rest_q|) so far (three quarters of what the bound asks): the choice depends
/// on the leaf's own data, so results stay the same for any thread count.
const PROBE: usize = 32;

/// The fast partials of `p`, `q` (one leaf: at most [`super::LEAF`] elements), or `None`
/// where the bound does not hold or a value is outside the domain (module docs).
#[inline(always)]
pub fn fast_leaf<V: F8>(p: &[f32], q: &[f32]) -> Option<FastLeaf> {
    type S<V> = <V as F8>::F32s;
    let n = p.len().min(q.len());
    let zero = V::splat(0.0);
    let zero32 = S::<V>::splat(0.0);
    let ln2 = V::splat(std::f64::consts::LN_2);
    let (mut sp, mut sq, mut w) = ([zero; 2], [zero; 2], [zero; 2]);
    let mut rest_weight = zero32;
    // min over the bits less one of p and q: ±0 become NaN (ignored), anything negative or
    // subnormal falls below the smallest normal f32
    let mut lowest = S::<V>::splat(f32::INFINITY);
    let mut zero_q = zero32.lt(zero32);
    let mut i = 0;
    while i < n {
        if i == PROBE && n >= 2 * PROBE {
            // a leaf whose first elements fall far short of the bound (nearly equal
            // distributions) goes to the exact form without reading the rest twice
            let v = w[0].add(w[1]).sum_lanes()
                + (sq[0].add(sq[1]).sum_lanes() - sp[0].add(sp[1]).sum_lanes());
            let short_of_bound = 1.5 * rest_weight.sum_lanes() > v;
            if short_of_bound || v.is_nan() {
                return None;
            }
        }
        let pv = super::plogq::load16_f32::<S<V>>(&p[..n], i);
        let qv = super::plogq::load16_f32::<S<V>>(&q[..n], i);
        let (kp, fp, rp) = ln_parts(pv);
        let (kq, fq, rq) = ln_parts(qv);
        let (dk, df, dr) = (kp.sub(kq), fp.sub(fq), rp.sub(rq));
        rest_weight = pv.mul_add(rp.bits_and(ABS).add(rq.bits_and(ABS)), rest_weight);
        lowest = lowest
            .min_ignoring_nan(pv.bits_add(u32::MAX))
            .min_ignoring_nan(qv.bits_add(u32::MAX));
        zero_q = S::<V>::or(zero_q, S::<V>::and(qv.eq(zero32), pv.gt(zero32)));
        let ((p0, p1), (q0, q1)) = (pv.widen(), qv.widen());
        let ((k0, k1), (f0, f1), (r0, r1)) = (dk.widen(), df.widen(), dr.widen());
        w[0] = p0.mul_add(k0.mul_add(ln2, f0.add(r0)), w[0]);
        w[1] = p1.mul_add(k1.mul_add(ln2, f1.add(r1)), w[1]);
        sp[0] = sp[0].add(p0);
        sp[1] = sp[1].add(p1);
        sq[0] = sq[0].add(q0);
        sq[1] = sq[1].add(q1);
        i += 16;
    }
    let lowest = lowest.min_lane();
    if S::<V>::any(zero_q) || lowest < f32::MIN_POSITIVE {
        return None;
    }
    // plain lane sums: the totals' rounding (≤ 2^−49 relative) enters the one-pass finish
    // and pass 2's constants only to second order
    let (sp_hi, sq_hi) = (sp[0].add(sp[1]).sum_lanes(), sq[0].add(sq[1]).sum_lanes());
    let w = w[0].add(w[1]).sum_lanes();
    let v = w + (sq_hi - sp_hi);
    let rest_weight = rest_weight.sum_lanes();
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
    use crate::kernels::adversarial::positive;

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
}
