//! The member entropies of a float32 ensemble group from float32 logarithm parts (DESIGN
//! §2b): the aleatoric part of [`super::ensemble`]'s fast pass at half the f64 pass's
//! cost, kept per row only where its error bound holds — from the lane-major buffer
//! ([`member_entropies`]) or, for full groups of adjacent rows on AVX-512, straight from
//! registers together with pass 1 ([`from_registers`]), the same values either way.
//!
//! A member's entropy is H_s = ln Z_s − (1/Z_s)·Σ_c x_c·ln x_c (Z_s = Σ_c x_c, from pass 1),
//! with ln x = k·ln 2 + f + rest from [`ln_parts`] of the float32 value itself: x = 2^k·(1+f)
//! splits exactly, only rest = ln(1+f) − f carries the f32 polynomial's error (≤ 2.9·2^−24
//! of |rest| measured, [`super::kl_f32`]), and k, f, rest are combined and summed in f64.
//! Sixteen lanes are two classes of the group's eight rows, so the logarithm costs one
//! sixteen-lane polynomial per two lane-major vectors of the buffer.
//!
//! **Bound** (per row, absolute, on the members' mean entropy A):
//! E_A = (1/S)·Σ_s [2^−21·1.01·R_s/Z_s + γ·(|H_s| + |ln Z_s| + 1)], R_s = Σ_c x_c·|rest_c|
//! (summed in f32: its own rounding is inside the 1.01), γ = (3C + 16)ε, from:
//! - ln x in f64: k·ln 2 rounds twice (the constant and the product), f + rest and the
//!   fused k·ln 2 + (f + rest) once each: ≤ 4ε·(|ln x| + 0.8), with |f| + |rest| ≤ 0.42;
//! - Σ_c x_c·ln x_c, C fused steps: ≤ Cε·Σ|x ln x|; 1/Z_s and the product add (C + 3)ε
//!   (Z_s is a sum of at most [`super::ensemble`]'s class block); and
//!   (1/Z)·Σ x·|ln x| ≤ H + |ln Z| (ln x = ln p + ln Z, p ≤ 1);
//! - ln Z_s ≤ 1 ULP, the subtraction 1 rounding.
//!
//! A row is kept where E_A + the f64 pass's bound on the total ([`super::ensemble`]'s
//! `accept_fast`) ≤ [`TOLERANCE`]·(total − A) and E_A ≤ [`TOLERANCE`]·A, and every value is
//! zero or a normal positive float32 (the domain of [`ln_parts`]); the other rows take the
//! f64 fast pass, then its own bound. Random Dirichlet(1) members at C = 10 have
//! R_s/Z_s ≈ 0.02 and an epistemic part ≈ 0.36 (S = 30): kept with a margin of ~9 (at least
//! 6.8 over 2000 rows; the bound reaches down to epistemic parts of ~0.04 nats).

use super::ensemble::{BlockSums, GROUP};
use super::two_pass::abs;
use super::Real;
use crate::simd::column_pairs::{column_pairs, MAX_COLUMNS};
use crate::simd::log::ln_finite;
use crate::simd::log_f32::ln_parts;
use crate::simd::vector::F8;
use crate::simd::vector_f32::{ABS, F16};

/// The relative error this pass is kept to, on the aleatoric and the epistemic part:
/// a quarter of DESIGN §2b's 1e-6 for float32 data.
pub const TOLERANCE: f64 = 2.5e-7;

/// The members' mean entropy A of eight rows, its error bound E_A, and the rows whose
/// values are all in [`ln_parts`]' domain.
pub struct MemberEntropies<V: F8> {
    pub aleatoric: V,
    pub error: V,
    pub in_domain: V::Mask,
}

/// The members' entropies of a buffered float32 group from float32 logarithm parts (module
/// docs), and Σ_s P_s into `pbar` (zeroed by the caller; P_s = x·(1/Z_s), summed plainly
/// in member order, as the f64 pass sums them). `x` is the lane-major buffer (member s,
/// class c at `x[s·classes + c]`, float32 values widened), `z`, `z_inv` the member totals
/// and their reciprocals.
#[inline(always)]
pub fn member_entropies<V: F8>(
    x: &[[f64; GROUP]],
    classes: usize,
    z: &[[f64; GROUP]],
    z_inv: &[[f64; GROUP]],
    pbar: &mut [[f64; GROUP]],
) -> MemberEntropies<V> {
    let members = z.len();
    let zero = V::splat(0.0);
    let mut sums = Sums::<V>::new();
    for s in 0..members {
        let xs = &x[s * classes..(s + 1) * classes];
        let inv = V::from_array(z_inv[s]);
        let mut member = Member::<V>::new();
        let mut c = 0;
        while c < classes {
            // classes c and c + 1 of the eight rows in one sixteen-lane vector (a zero
            // second half past the last class: 0·ln 0 contributes 0)
            let x0 = V::from_array(xs[c]);
            let x1 = if c + 1 < classes {
                V::from_array(xs[c + 1])
            } else {
                zero
            };
            let xv = S::<V>::from_wide(x0, x1);
            sums.add_pair(&mut member, xv, x0, x1, inv, pbar, c);
            c += 2;
        }
        sums.end_member(member, V::from_array(z[s]), inv);
    }
    sums.finish(classes, members)
}

/// What [`from_registers`] gives the rest of the kernel.
pub struct FromRegisters<V: F8> {
    /// As [`member_entropies`] gives them.
    pub entropies: MemberEntropies<V>,
    /// min(0, smallest value) per row, NaN ignored (as the buffered pass 1).
    pub min: V,
    /// 1 in the rows with a member total outside `range` (the kernel's bad rows), else 0.
    pub bad: V,
}

/// Pass 1 and [`member_entropies`] at once, from registers, for full groups of eight
/// adjacent float32 rows per member of 2 … [`MAX_COLUMNS`] classes (`blocks[s]`: member
/// s's eight rows back to back): each member's rows become class-pair vectors in
/// registers ([`column_pairs`]), its total Z_s, reciprocal and smallest value are taken
/// from them, then its entropy and P_s — no lane-major buffer is written or read. Every
/// value is the buffered path's, bit for bit: the same f32 values widened, the same sums in
/// the same order. Writes the totals and reciprocals into `z`, `z_inv` (as pass 1 does),
/// Σ_s P_s into `pbar` (zeroed by the caller).
/// PERF: see the module docs of [`super::ensemble`], (8).
#[inline(always)]
pub fn from_registers<V: F8, T: Real>(
    blocks: &[&[T]],
    classes: usize,
    range: (f64, f64),
    z: &mut [[f64; GROUP]],
    z_inv: &mut [[f64; GROUP]],
    pbar: &mut [[f64; GROUP]],
) -> FromRegisters<V> {
    let members = blocks.len();
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let (mut min, mut bad) = (zero, zero);
    let mut sums = Sums::<V>::new();
    let pairs = classes.div_ceil(2);
    for s in 0..members {
        let mut columns = [S::<V>::splat(0.0); MAX_COLUMNS.div_ceil(2)];
        column_pairs(
            T::as_f32(blocks[s]).expect("float32 rows"),
            classes,
            &mut columns,
        );
        // the member's total, classes in order from 0 (as `ensemble::member_total`: one
        // block of at most 32 classes, so the block sum is the plain sum)
        let mut part = zero;
        let mut low = S::<V>::splat(0.0);
        for (j, pair) in columns.iter().enumerate().take(pairs) {
            let (x0, x1) = pair.widen();
            part = part.add(x0);
            if 2 * j + 1 < classes {
                part = part.add(x1);
            }
            low = low.min_ignoring_nan(*pair);
        }
        let total = BlockSums::of_block(part);
        let (low0, low1) = low.widen();
        min = min.min_ignoring_nan(low0.min_ignoring_nan(low1));
        let ok = V::and(total.ge(V::splat(range.0)), total.le(V::splat(range.1)));
        bad = V::select(ok, bad, one);
        let inv = one.div(total);
        z[s] = total.to_array();
        z_inv[s] = inv.to_array();
        let mut member = Member::<V>::new();
        for (j, pair) in columns.iter().enumerate().take(pairs) {
            let (x0, x1) = pair.widen();
            sums.add_pair(&mut member, *pair, x0, x1, inv, pbar, 2 * j);
        }
        sums.end_member(member, total, inv);
    }
    FromRegisters {
        entropies: sums.finish(classes, members),
        min,
        bad,
    }
}

/// Up to this |Z − 1| a member total's logarithm is [`ln_total`]'s series (probabilities
/// normalised in float32 sum to 1 within ~C·2^−24).
const SERIES_NEAR_ONE: f64 = 1.0 / 512.0;

/// ln z ≤ 1 ULP (as [`ln_finite`], which the bound assumes): for |z − 1| ≤
/// [`SERIES_NEAR_ONE`] by ln(1 + d) = d − d²/2 + … − d⁶/6, d = z − 1 (exact by Sterbenz;
/// the truncation is < |d|⁷/7 ≤ 2^−56·|d|, the polynomial's rounding ~2^−9 of an ε), per
/// lane; elsewhere [`ln_finite`]. PERF: ln_finite (a division and ~20 operations) once per
/// member was ~a fifth of the register path's per-member work at C = 10; the series is
/// six fused operations.
#[inline(always)]
fn ln_total<V: F8>(z: V) -> V {
    let d = z.sub(V::splat(1.0));
    let near = abs(d).le(V::splat(SERIES_NEAR_ONE));
    if V::all(near) {
        return ln_1p_series(d);
    }
    if !V::any(near) {
        return ln_finite(z);
    }
    V::select(near, ln_1p_series(d), ln_finite(z))
}

/// d − d²/2 + d³/3 − d⁴/4 + d⁵/5 − d⁶/6 (see [`ln_total`]). A function, not a closure: a
/// closure is compiled without the SIMD caller's target features.
#[inline(always)]
fn ln_1p_series<V: F8>(d: V) -> V {
    let mut poly = V::splat(-1.0 / 6.0);
    for c in [1.0 / 5.0, -1.0 / 4.0, 1.0 / 3.0, -1.0 / 2.0] {
        poly = poly.mul_add(d, V::splat(c));
    }
    d.mul(d).mul_add(poly, d)
}

/// The float32 lanes of `V`'s instruction set.
type S<V> = <V as F8>::F32s;

/// One member's sums: Σ x·ln x in two halves (the pair's two classes) and Σ x·|rest|.
struct Member<V: F8> {
    acc0: V,
    acc1: V,
    rest: S<V>,
}

impl<V: F8> Member<V> {
    #[inline(always)]
    fn new() -> Self {
        Member {
            acc0: V::splat(0.0),
            acc1: V::splat(0.0),
            rest: S::<V>::splat(0.0),
        }
    }
}

/// The group's sums over members: the entropies (compensated), the bound's pieces, and the
/// smallest value's bits less one (the domain test).
struct Sums<V: F8> {
    lowest: S<V>,
    ent_sum: V,
    ent_comp: V,
    rest_sum: V,
    size_sum: V,
}

impl<V: F8> Sums<V> {
    #[inline(always)]
    fn new() -> Self {
        let zero = V::splat(0.0);
        Sums {
            lowest: S::<V>::splat(f32::INFINITY),
            ent_sum: zero,
            ent_comp: zero,
            rest_sum: zero,
            size_sum: zero,
        }
    }

    /// Classes c and c + 1 of a member's eight rows (`xv`, and widened `x0`, `x1`; zero
    /// past the last class), `inv` = 1/Z_s: their x·ln x into `member`, x·inv into `pbar`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add_pair(
        &mut self,
        member: &mut Member<V>,
        xv: S<V>,
        x0: V,
        x1: V,
        inv: V,
        pbar: &mut [[f64; GROUP]],
        c: usize,
    ) {
        let ln2 = V::splat(std::f64::consts::LN_2);
        let (k, f, r) = ln_parts(xv);
        member.rest = xv.mul_add(r.bits_and(ABS), member.rest);
        // the bits less one: ±0 become NaN (ignored), anything negative or subnormal
        // falls below the smallest normal f32 (NaN and ±inf make Z_s a bad total)
        self.lowest = self.lowest.min_ignoring_nan(xv.bits_add(u32::MAX));
        let ((k0, k1), (f0, f1), (r0, r1)) = (k.widen(), f.widen(), r.widen());
        member.acc0 = x0.mul_add(k0.mul_add(ln2, f0.add(r0)), member.acc0);
        member.acc1 = x1.mul_add(k1.mul_add(ln2, f1.add(r1)), member.acc1);
        pbar[c] = V::from_array(pbar[c]).add(x0.mul(inv)).to_array();
        if c + 1 < pbar.len() {
            pbar[c + 1] = V::from_array(pbar[c + 1]).add(x1.mul(inv)).to_array();
        }
    }

    /// A member's entropy H_s = ln Z_s − (1/Z_s)·Σ x·ln x into the sums.
    #[inline(always)]
    fn end_member(&mut self, member: Member<V>, z: V, inv: V) {
        let ln_z = ln_total(z);
        let h = ln_z.sub(inv.mul(member.acc0.add(member.acc1)));
        let (t, e) = super::double_double::two_sum(self.ent_sum, h);
        self.ent_sum = t;
        self.ent_comp = self.ent_comp.add(e);
        let (r0, r1) = member.rest.widen();
        self.rest_sum = r0.add(r1).mul_add(inv, self.rest_sum);
        self.size_sum = self.size_sum.add(abs(h)).add(abs(ln_z));
    }

    /// The mean entropy and its bound (module docs).
    #[inline(always)]
    fn finish(self, classes: usize, members: usize) -> MemberEntropies<V> {
        let count = V::splat(members as f64);
        let gamma = V::splat((3 * classes + 16) as f64 * f64::EPSILON);
        let error = self
            .rest_sum
            .mul(V::splat(2f64.powi(-21) * 1.01))
            .add(gamma.mul(self.size_sum.add(count)))
            .div(count);
        let (low0, low1) = self.lowest.widen();
        MemberEntropies {
            aleatoric: self.ent_sum.add(self.ent_comp).div(count),
            error,
            in_domain: V::splat(f32::MIN_POSITIVE as f64).le(low0.min_ignoring_nan(low1)),
        }
    }
}

/// Scalar reference of [`member_entropies`]' value: the mean over members of
/// ln Z_s − (1/Z_s)·Σ x·ln x with `f64::ln` (rows of float32 values given as `rows[s]`).
pub fn reference(rows: &[&[f32]]) -> f64 {
    let mut sum = 0.0;
    for row in rows {
        let z: f64 = row.iter().map(|&v| v as f64).sum();
        let s: f64 = row
            .iter()
            .map(|&v| v as f64)
            .filter(|&v| v > 0.0)
            .map(|v| v * v.ln())
            .sum();
        sum += z.ln() - s / z;
    }
    sum / rows.len() as f64
}

/// [`member_entropies`]' lanes as arrays: (aleatoric, error, in domain as 1/0).
#[cfg(test)]
#[inline(always)]
fn lanes_of<V: F8>(
    x: &[[f64; GROUP]],
    classes: usize,
    z: &[[f64; GROUP]],
    z_inv: &[[f64; GROUP]],
    pbar: &mut [[f64; GROUP]],
) -> [[f64; GROUP]; 3] {
    let m = member_entropies::<V>(x, classes, z, z_inv, pbar);
    let domain = V::select(m.in_domain, V::splat(1.0), V::splat(0.0));
    [
        m.aleatoric.to_array(),
        m.error.to_array(),
        domain.to_array(),
    ]
}

#[cfg(test)]
crate::simd::multiversion! {
    /// [`lanes_of`] on the running CPU's vector type.
    pub fn dispatched<>(x: &[[f64; GROUP]], classes: usize, z: &[[f64; GROUP]], z_inv: &[[f64; GROUP]], pbar: &mut [[f64; GROUP]]) -> [[f64; GROUP]; 3] = lanes_of;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{positive, xorshift};
    use crate::simd::vector::{on_every_vector_type, LaneOp, Scalar8};

    /// Row l of member s (`classes` float32 values): eight kinds of adversarial rows, one
    /// per lane — mixed scales with zeros, a dominant mass, magnitudes 2^±60, huge and tiny
    /// normal values, equal values, powers of two, Dirichlet(1) draws.
    fn row(l: usize, s: usize, classes: usize, seed: u64) -> Vec<f32> {
        let mut next = xorshift(seed * 131 + (s * 8 + l) as u64);
        let mut u = move || ((next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let mixed = positive(classes, seed + s as u64);
        (0..classes)
            .map(|c| {
                let v = match l {
                    0 => mixed[c],
                    1 => {
                        if c == s % classes {
                            1.0
                        } else {
                            1e-7 * u()
                        }
                    }
                    2 => u() * 2f64.powi((c as i32 * 37 + s as i32 * 11) % 121 - 60),
                    3 => 1e30 * (1.0 + u()),
                    4 => 1e-30 * (1.0 + u()),
                    5 => 0.1,
                    6 => 2f64.powi((c as i32 + s as i32) % 9 - 4),
                    _ => -u().ln(),
                };
                v as f32
            })
            .collect()
    }

    /// The lane-major buffer, totals and reciprocals of `rows[s][l]` as pass 1 makes them.
    fn buffers(rows: &[Vec<Vec<f32>>], classes: usize) -> (Lanes, Lanes, Lanes) {
        let members = rows.len();
        let mut x = vec![[0.0; GROUP]; members * classes];
        let (mut z, mut z_inv) = (vec![[0.0; GROUP]; members], vec![[0.0; GROUP]; members]);
        for s in 0..members {
            for l in 0..GROUP {
                let mut total = 0.0;
                for c in 0..classes {
                    x[s * classes + c][l] = rows[s][l][c] as f64;
                    total += rows[s][l][c] as f64;
                }
                z[s][l] = total;
                z_inv[s][l] = 1.0 / total;
            }
        }
        (x, z, z_inv)
    }

    /// Lane-major values of eight rows.
    type Lanes = Vec<[f64; GROUP]>;

    /// (aleatoric, error, in domain) and the P̄ sums, dispatched and portable.
    fn both(
        x: &[[f64; GROUP]],
        classes: usize,
        z: &[[f64; GROUP]],
        z_inv: &[[f64; GROUP]],
    ) -> Vec<([[f64; GROUP]; 3], Lanes)> {
        let mut out = Vec::new();
        for portable in [false, true] {
            let mut pbar = vec![[0.0; GROUP]; classes];
            let lanes = if portable {
                lanes_of::<Scalar8>(x, classes, z, z_inv, &mut pbar)
            } else {
                dispatched(x, classes, z, z_inv, &mut pbar)
            };
            out.push((lanes, pbar));
        }
        out
    }

    #[test]
    fn member_entropies_are_within_their_bound_on_adversarial_rows() {
        for classes in 1..=67 {
            for members in [1, 2, 3, 7] {
                let rows: Vec<Vec<Vec<f32>>> = (0..members)
                    .map(|s| {
                        (0..GROUP)
                            .map(|l| row(l, s, classes, classes as u64))
                            .collect()
                    })
                    .collect();
                let (x, z, z_inv) = buffers(&rows, classes);
                for ([aleatoric, error, domain], pbar) in both(&x, classes, &z, &z_inv) {
                    // (a member of total 0 is the kernel's bad row, not this pass's)
                    for l in (0..GROUP).filter(|&l| z.iter().all(|zs| zs[l] > 0.0)) {
                        let lane: Vec<&[f32]> = rows.iter().map(|m| &m[l][..]).collect();
                        let want = reference(&lane);
                        assert_eq!(domain[l], 1.0, "C={classes} S={members} lane {l}");
                        assert!(
                            (aleatoric[l] - want).abs() <= error[l],
                            "C={classes} S={members} lane {l}: {} vs {want}, bound {}",
                            aleatoric[l],
                            error[l]
                        );
                        // the bound is not vacuous: within the tolerance on the rows of
                        // equal values, powers of two and Dirichlet draws (the others may
                        // be dominated by one value, their entropy small against R/Z)
                        if l >= 5 && want > 1e-3 {
                            assert!(error[l] <= TOLERANCE * want, "lane {l}: {}", error[l]);
                        }
                        // Σ_s P_s summed plainly in member order, as the f64 pass does
                        for c in 0..classes {
                            let mut sum = 0.0;
                            for s in 0..members {
                                sum += x[s * classes + c][l] * z_inv[s][l];
                            }
                            assert_eq!(pbar[c][l].to_bits(), sum.to_bits(), "P̄ of class {c}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn member_totals_logarithm_is_within_one_ulp_on_every_vector_type() {
        struct Ln;
        impl LaneOp for Ln {
            fn apply<V: F8>(&self, v: V) -> V {
                ln_total(v)
            }
        }
        // near 1 (the series, each side of its edge, tiny and zero d), far (ln_finite), and
        // groups mixing both
        let mut z = vec![
            1.0,
            1.0 + f64::EPSILON,
            1.0 - f64::EPSILON / 2.0,
            1.0 + 1e-300,
        ];
        for k in 1..=60 {
            let d = 2f64.powi(-k) / 512.0 * 1.37;
            z.extend([1.0 + d, 1.0 - d]);
        }
        let edge = SERIES_NEAR_ONE;
        for d in [edge, edge * (1.0 - 1e-15), edge * (1.0 + 1e-15), 1e-3, 2e-3] {
            z.extend([1.0 + d, 1.0 - d]);
        }
        z.extend([
            1e-300, 0.25, 0.5, 0.999, 1.001, 1.5, 2.0, 10.0, 3e150, 0.7, 1.3,
        ]);
        let mut next = xorshift(11);
        for _ in 0..2000 {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            z.push(1.0 + (u - 0.5) * 1.2e-2);
        }
        for (name, got) in on_every_vector_type(&Ln, &z) {
            for (&x, &g) in z.iter().zip(&got) {
                let (hi, lo) = ln_reference(x);
                let ulp = f64::EPSILON * hi.abs();
                let error = ((g - hi) - lo).abs();
                assert!(
                    error <= ulp,
                    "{name}: ln {x:e} = {g:e}, want {hi:e} + {lo:e}"
                );
            }
        }
    }

    /// ln x as an unevaluated sum hi + lo, to ~2^−60 relative: near 1 (|x − 1| < 0.01),
    /// d + t with d = x − 1 exact and t = −d²/2 + d³/3 − … (|t| ≤ |d|/100, so t's own
    /// rounding is ~2^−60 of the result) added by `two_sum`; elsewhere `f64::ln`, lo = 0
    /// (≤ 1 ULP itself: the comparison there is as good as the platform's log).
    fn ln_reference(x: f64) -> (f64, f64) {
        let d = x - 1.0;
        if d.abs() >= 0.01 {
            return (x.ln(), 0.0);
        }
        let (mut t, mut power) = (0.0, d);
        for k in 2..40u32 {
            power *= d;
            let term = power / k as f64;
            t += if k.is_multiple_of(2) { -term } else { term };
        }
        let hi = d + t;
        (hi, t - (hi - d))
    }

    #[test]
    fn values_outside_the_domain_mark_only_their_row() {
        let classes = 10;
        for bad in [1e-40f32, -0.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut rows: Vec<Vec<Vec<f32>>> = (0..3)
                .map(|s| (0..GROUP).map(|l| row(7, s + l, classes, 5)).collect())
                .collect();
            rows[1][3][classes - 1] = bad;
            let (x, z, z_inv) = buffers(&rows, classes);
            for ([_, _, domain], _) in both(&x, classes, &z, &z_inv) {
                for (l, &lane) in domain.iter().enumerate() {
                    // NaN and +inf leave the domain test to the member total (not finite:
                    // the kernel's bad rows); the others, −inf too, fail it here
                    let expect_in = l != 3 || bad.is_nan() || bad == f32::INFINITY;
                    assert_eq!(lane == 1.0, expect_in, "{bad} lane {l}");
                }
            }
        }
        // zeros are in the domain (0·ln 0 = 0)
        let rows: Vec<Vec<Vec<f32>>> = vec![(0..GROUP)
            .map(|l| {
                (0..5)
                    .map(|c| if c == l % 5 { 0.0 } else { 0.25 })
                    .collect()
            })
            .collect()];
        let (x, z, z_inv) = buffers(&rows, 5);
        for ([aleatoric, error, domain], _) in both(&x, 5, &z, &z_inv) {
            for l in 0..GROUP {
                assert_eq!(domain[l], 1.0);
                let want = 4f64.ln();
                assert!((aleatoric[l] - want).abs() <= error[l], "{}", aleatoric[l]);
            }
        }
    }
}
