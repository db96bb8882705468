//! Binary cross-entropy with logits, elementwise, torch's definition:
//! `loss = w·((1 − t)·z + lw·softplus(−z))` with `lw = 1 + (pos_weight − 1)·t` and
//! `softplus(−z) = max(−z, 0) + log1p(exp(−|z|))` (= −log σ(z)), evaluated as
//! `max(z, 0) − z·t + log1p(exp(−|z|)) + (pos_weight − 1)·t·softplus(−z)` (no cancellation;
//! exp never sees a positive argument), stable for any |z|.
//!
//! Gradient: `dloss/dz = w·((1 − t) − lw·σ(−z)) = w·(σ(z) − t − (pos_weight − 1)·t·σ(−z))`,
//! σ(±z) from the same `exp(−|z|)`.
//!
//! `log1p(e)` for e = exp(−|z|) ∈ (0, 1] uses the vector `ln`: with u = 1 + e,
//! `log1p(e) = ln(u)·e/(u − 1)` (exact-ratio correction, Goldberg/Kahan), and `e` where
//! u rounds to 1; a few ULP, where plain `ln(1 + e)` would return 0 for e < 1.1e−16.

use super::{Real, LANES};
use crate::simd::exp::exp;
use crate::simd::log::ln;
use crate::simd::vector::F8;

/// log1p(e) for e ≥ 0 (see the module docs).
#[inline(always)]
fn log1p_nonneg<V: F8>(e: V) -> V {
    let one = V::splat(1.0);
    let u = one.add(e);
    let d = u.sub(one);
    V::select(d.eq(V::splat(0.0)), e, ln(u).mul(e.div(d)))
}

/// (loss, dloss/dz) of eight lanes, weights included.
///
/// Written as `max(z, 0) − t·z + L + (pw − 1)·t·(max(−z, 0) + L)` with `L = log1p(e^{−|z|})`,
/// which is torch's `(1 − t)·z + lw·(max(−z, 0) + L)` rearranged so that nothing cancels:
/// z = −100, t = 0 gives 3.7e−44, not −100 + 100 = 0. Likewise the gradient
/// `(1 − t) − lw·σ(−z)` as `σ(z) − t − (pw − 1)·t·σ(−z)`, with `σ(z) − t` taken as
/// `(1 − t) − σ(−z)` for z ≥ 0 (z = 100, t = 1 gives −3.7e−44, not 1 − 1 = 0).
#[inline(always)]
fn lanes<V: F8>(z: V, t: V, w: V, pw: V) -> (V, V) {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let neg = zero.sub(z);
    let positive = z.ge(zero);
    let az = V::select(positive, z, neg);
    let e = exp(zero.sub(az));
    let l = log1p_nonneg(e);
    let relu = V::select(z.gt(zero), z, zero);
    let relu_neg = V::select(neg.gt(zero), neg, zero);
    let extra = pw.sub(one).mul(t);
    let loss = relu
        .sub(t.mul(z))
        .add(l)
        .add(extra.mul(relu_neg.add(l)))
        .mul(w);
    let inv = one.div(one.add(e));
    let sig = V::select(positive, inv, e.mul(inv));
    let sig_neg = V::select(positive, e.mul(inv), inv);
    // σ(z) − t, from whichever of σ(z), σ(−z) is the small one.
    let base = V::select(positive, one.sub(t).sub(sig_neg), sig.sub(t));
    let grad = base.sub(extra.mul(sig_neg)).mul(w);
    (loss, grad)
}

/// One piece of a row: inputs of equal length, optional outputs of the same length.
pub struct BcePiece<'a, T, U> {
    /// Logits.
    pub z: &'a [T],
    /// Targets in [0, 1].
    pub t: &'a [U],
    /// Elementwise weights (None: all 1).
    pub w: Option<&'a [f64]>,
    /// Positive-class weights (None: all 1).
    pub pw: Option<&'a [f64]>,
    /// Elementwise losses are written here when given.
    pub loss_out: Option<&'a mut [T]>,
    /// The gradient times `grad_scale` is written here when given.
    pub grad_out: Option<&'a mut [T]>,
}

/// Eight weights at `i`, or ones. (A function, not a closure: a closure is compiled without
/// the kernel's target features.)
#[inline(always)]
fn weights_or_one<V: F8>(x: Option<&[f64]>, i: usize) -> V {
    match x {
        Some(x) => V::load_f64(x[i..i + LANES].try_into().expect("8")),
        None => V::splat(1.0),
    }
}

#[inline(always)]
fn bce_feed_body<V: F8, T: Real, U: Real>(
    acc: &mut [f64; LANES],
    piece: BcePiece<'_, T, U>,
    grad_scale: f64,
) {
    let BcePiece {
        z,
        t,
        w,
        pw,
        mut loss_out,
        mut grad_out,
    } = piece;
    let n = z.len();
    let scale = V::splat(grad_scale);
    let mut sum = V::from_array(*acc);
    let ones = [1.0; LANES];
    let mut i = 0;
    while i < n {
        let k = (n - i).min(LANES);
        let r = i..i + k;
        let (zv, tv, wv, pv) = if k == LANES {
            (
                V::load(z[r.clone()].try_into().expect("8")),
                V::load(t[r.clone()].try_into().expect("8")),
                weights_or_one::<V>(w, i),
                weights_or_one::<V>(pw, i),
            )
        } else {
            // Zero padding: z = t = w = 0 gives a zero loss term.
            (
                V::load_padded(&z[r.clone()]),
                V::load_padded(&t[r.clone()]),
                V::load_padded(w.map_or(&ones[..k], |w| &w[r.clone()])),
                V::load_padded(pw.map_or(&ones[..k], |pw| &pw[r.clone()])),
            )
        };
        let (loss, grad) = lanes(zv, tv, wv, pv);
        sum = sum.add(loss);
        if let Some(out) = loss_out.as_deref_mut() {
            for (o, &v) in out[r.clone()].iter_mut().zip(loss.to_array().iter()) {
                *o = T::from_f64(v);
            }
        }
        if let Some(out) = grad_out.as_deref_mut() {
            for (o, &v) in out[r.clone()]
                .iter_mut()
                .zip(grad.mul(scale).to_array().iter())
            {
                *o = T::from_f64(v);
            }
        }
        i += LANES;
    }
    *acc = sum.to_array();
}

crate::simd::multiversion! {
    /// Adds the piece's elementwise losses to the lane sums `acc`, writing the losses and
    /// the scaled gradient where asked. Pieces must be multiples of 8 long except the last.
    pub fn bce_feed<T: Real, U: Real>(acc: &mut [f64; LANES], piece: BcePiece<'_, T, U>, grad_scale: f64) -> () = bce_feed_body;
}

/// Scalar reference: (loss, gradient) of one element with `f64::ln_1p` and `f64::exp`.
pub fn reference(z: f64, t: f64, w: f64, pw: f64) -> (f64, f64) {
    let e = (-z.abs()).exp();
    let l = e.ln_1p();
    let loss = (z.max(0.0) - t * z + l + (pw - 1.0) * t * ((-z).max(0.0) + l)) * w;
    let (base, sig_neg) = if z >= 0.0 {
        ((1.0 - t) - e / (1.0 + e), e / (1.0 + e))
    } else {
        (e / (1.0 + e) - t, 1.0 / (1.0 + e))
    };
    (loss, (base - (pw - 1.0) * t * sig_neg) * w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive};

    #[test]
    fn matches_reference_on_every_tail_and_extreme_logits() {
        let specials = [
            0.0, -0.0, 80.0, -80.0, 1e3, -1e3, 1e30, -1e30, 36.0, -36.0, 1e-300, 745.0, -745.0, 0.5,
        ];
        for len in 0..=67usize {
            let z: Vec<f64> = positive(len, len as u64)
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if i % 3 == 0 {
                        specials[i % specials.len()]
                    } else {
                        (v - 0.5) * 30.0
                    }
                })
                .collect();
            let t: Vec<f64> = positive(len, 7).iter().map(|v| v.min(1.0)).collect();
            let w: Vec<f64> = positive(len, 8).iter().map(|v| v + 0.1).collect();
            let pw: Vec<f64> = positive(len, 9).iter().map(|v| v * 3.0).collect();
            let (mut lo, mut go) = (vec![0.0; len], vec![0.0; len]);
            let mut acc = [0.0; LANES];
            bce_feed(
                &mut acc,
                BcePiece {
                    z: &z,
                    t: &t,
                    w: Some(&w),
                    pw: Some(&pw),
                    loss_out: Some(&mut lo),
                    grad_out: Some(&mut go),
                },
                1.0,
            );
            let mut total = 0.0;
            for j in 0..len {
                let (l, g) = reference(z[j], t[j], w[j], pw[j]);
                total += l;
                assert!(
                    close(lo[j], l, 1e-13) || (lo[j] - l).abs() < 1e-300,
                    "z={} {} vs {l}",
                    z[j],
                    lo[j]
                );
                assert!(
                    close(go[j], g, 1e-13) || (go[j] - g).abs() < 1e-15,
                    "z={} {} vs {g}",
                    z[j],
                    go[j]
                );
            }
            let s: f64 = acc.iter().sum();
            assert!(close(s, total, 1e-12), "{s} vs {total}");
        }
    }

    #[test]
    fn tiny_losses_and_gradients_keep_precision() {
        let (mut lo, mut go) = ([0.0; 2], [0.0; 2]);
        let mut acc = [0.0; LANES];
        bce_feed::<f64, f64>(
            &mut acc,
            BcePiece {
                z: &[-100.0, 100.0],
                t: &[0.0, 1.0],
                w: None,
                pw: Some(&[1.0; 2]),
                loss_out: Some(&mut lo),
                grad_out: Some(&mut go),
            },
            1.0,
        );
        let e = (-100f64).exp();
        assert!(close(lo[0], e, 1e-15) && close(lo[1], e, 1e-15), "{lo:?}");
        assert!(close(go[0], e, 1e-15) && close(go[1], -e, 1e-15), "{go:?}");
    }

    #[test]
    fn tiny_softplus_keeps_precision() {
        let mut lo = [0.0; 1];
        let mut acc = [0.0; LANES];
        bce_feed::<f64, f64>(
            &mut acc,
            BcePiece {
                z: &[40.0],
                t: &[1.0],
                w: Some(&[1.0]),
                pw: None,
                loss_out: Some(&mut lo),
                grad_out: None,
            },
            1.0,
        );
        assert!(close(lo[0], (-40f64).exp().ln_1p(), 1e-15), "{}", lo[0]);
    }
}
