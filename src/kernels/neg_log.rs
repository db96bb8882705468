//! Elementwise self-information −ln(x)/ln(base), written into an output slice. float32
//! data take the parts of the native sixteen-lane f32 logarithm (DESIGN §2b): widening
//! every value to f64 for a logarithm with a division made float32 `self_information`
//! slower than NumPy's `-np.log(p)` (NumPy took 0.4–0.8× our time at 10^5–10^7 in
//! `bench.py`).

use super::{min_ignoring_nan, Real, LANES};
use crate::simd::log::{ln, ln_finite};
use crate::simd::log_f32::ln_parts;
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// −ln(v)/ln_base for eight lanes: the fast `ln_finite` for finite positive lanes, the
/// careful `ln` (computed only for vectors that hold a special value) for the others. No division for natural logs. 0 − y rather than −y: −ln 1 is +0.
#[inline(always)]
fn neg_log<V: F8>(v: V, ln_base: f64) -> V {
    let zero = V::splat(0.0);
    let finite_positive = V::and(v.gt(zero), v.lt(V::splat(f64::INFINITY)));
    // Lane by lane, so a value's result never depends on its neighbours (layouts agree).
    let fast = ln_finite(v);
    let y = if V::all(finite_positive) {
        fast
    } else {
        V::select(finite_positive, fast, ln(v))
    };
    let y = if ln_base == 1.0 {
        y
    } else {
        y.div(V::splat(ln_base))
    };
    zero.sub(y)
}

/// Sixteen float32 values: −ln x from the parts of the native f32 logarithm (x = 2^k·(1+f)
/// and rest = ln(1+f) − f, [`ln_parts`]) combined in f64 — k·ln 2 + (f + rest), then the
/// division by ln_base — for normal, positive, finite lanes; the others as float64 data,
/// [`neg_log`] of the widened values (computed only for blocks holding such a lane). The
/// f32 `rest` is the only f32 rounding (|rest| ≤ 0.21·|f|), so the value is within ~0.6
/// ULP (f32) before its one rounding to f32: 1 ULP at most, for any base (an all-f32 log
/// divided by ln 2 was 2). Returns the lanes (for the smallest input).
#[inline(always)]
fn neg_log_f32<V: F8>(x: &[f32; 16], out: &mut [f32; 16], ln_base: f64) -> V::F32s {
    type W<V> = <V as F8>::F32s;
    let v = W::<V>::load(x);
    // NaN taken as −1 so that one comparison refuses it with the negatives
    let w = W::<V>::select(v.eq(v), v, W::<V>::splat(-1.0));
    let outside = W::<V>::or(
        w.lt(W::<V>::splat(f32::MIN_POSITIVE)),
        w.eq(W::<V>::splat(f32::INFINITY)),
    );
    let (k, f, rest) = ln_parts(v);
    let ((k0, k1), (f0, f1), (r0, r1)) = (k.widen(), f.widen(), rest.widen());
    let fast = W::<V>::from_wide(
        neg_from_parts(k0, f0, r0, ln_base),
        neg_from_parts(k1, f1, r1, ln_base),
    );
    // lane by lane, so a value's result never depends on its neighbours (layouts agree)
    let y = if W::<V>::any(outside) {
        let (lo, hi) = v.widen();
        let careful = W::<V>::from_wide(neg_log(lo, ln_base), neg_log(hi, ln_base));
        W::<V>::select(outside, careful, fast)
    } else {
        fast
    };
    y.store(out);
    v
}

/// −ln x / ln_base from ln x's parts (k·ln 2 + (f + rest)), eight f64 lanes. A function,
/// not a closure: a closure is compiled without the SIMD caller's target features, and every
/// vector operation in it was a call (see `tests/test_simd_inlining.py`).
#[inline(always)]
fn neg_from_parts<V: F8>(k: V, f: V, rest: V, ln_base: f64) -> V {
    let ln_x = k.mul_add(V::splat(std::f64::consts::LN_2), f.add(rest));
    // 0 − y rather than −y: −ln 1 is +0
    V::splat(0.0).sub(if ln_base == 1.0 {
        ln_x
    } else {
        ln_x.div(V::splat(ln_base))
    })
}

/// [`neg_log_into_body`] for float32 data, sixteen lanes at a time.
#[inline(always)]
fn neg_log_into_f32<V: F8>(x: &[f32], out: &mut [f32], ln_base: f64) -> f64 {
    type W<V> = <V as F8>::F32s;
    let mut min = W::<V>::splat(f32::INFINITY);
    let mut xc = x.chunks_exact(16);
    let mut oc = out.chunks_exact_mut(16);
    for (a, o) in (&mut xc).zip(&mut oc) {
        let v = neg_log_f32::<V>(
            a.try_into().expect("16"),
            o.try_into().expect("16"),
            ln_base,
        );
        min = min.min_ignoring_nan(v);
    }
    let rest = xc.remainder();
    if !rest.is_empty() {
        // Padding with 1 keeps the padded lanes out of the minimum's way (ln 1 = 0).
        let (mut padded, mut done) = ([1.0f32; 16], [0.0f32; 16]);
        padded[..rest.len()].copy_from_slice(rest);
        min = min.min_ignoring_nan(neg_log_f32::<V>(&padded, &mut done, ln_base));
        oc.into_remainder().copy_from_slice(&done[..rest.len()]);
    }
    let (lo, hi) = min.widen();
    lo.min_ignoring_nan(hi).min_lane()
}

#[inline(always)]
fn neg_log_into_body<V: F8, T: Real>(x: &[T], out: &mut [T], ln_base: f64) -> f64 {
    let n = x.len().min(out.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    if let (Some(x), Some(out)) = (T::as_f32(x), T::as_f32_mut(out)) {
        return neg_log_into_f32::<V>(x, out, ln_base);
    }
    let mut min = V::splat(f64::INFINITY);
    let mut xc = x.chunks_exact(LANES);
    let mut oc = out.chunks_exact_mut(LANES);
    for (a, o) in (&mut xc).zip(&mut oc) {
        let v = V::load(a.try_into().expect("8"));
        min = min.min_ignoring_nan(v);
        neg_log(v, ln_base).store(o);
    }
    let rest = xc.remainder();
    if !rest.is_empty() {
        // Padding with 1 keeps the padded lanes out of the minimum's way (ln 1 = 0).
        let mut padded = [T::from_f64(1.0); LANES];
        padded[..rest.len()].copy_from_slice(rest);
        let v = V::load(&padded);
        min = min.min_ignoring_nan(v);
        neg_log(v, ln_base).store(oc.into_remainder());
    }
    min.min_lane()
}

crate::simd::multiversion! {
    /// `out[i] = −ln(x[i]) / ln_base` (float64: computed in f64; float32: from the parts of
    /// the native f32 logarithm, ≤ 1 ULP); returns the smallest x (NaN ignored) so the
    /// caller can reject negative probabilities.
    pub fn neg_log_into<T: Real>(x: &[T], out: &mut [T], ln_base: f64) -> f64 = neg_log_into_body;
}

/// The same in place: `x[i] = −ln(x[i]) / ln_base`; returns the smallest input.
pub fn neg_log_in_place<T: Real>(x: &mut [T], ln_base: f64) -> f64 {
    // The kernel reads a block before writing it; a block-sized copy keeps the borrow rules.
    let mut min = f64::INFINITY;
    let mut block = [T::default(); 512];
    for chunk in x.chunks_mut(512) {
        let src = &mut block[..chunk.len()];
        src.copy_from_slice(chunk);
        min = min_ignoring_nan(min, neg_log_into(src, chunk, ln_base));
    }
    min
}

/// Scalar reference for [`neg_log_into`], with `f64::ln`.
pub fn reference<T: Real>(x: &[T], out: &mut [T], ln_base: f64) -> f64 {
    let mut min = f64::INFINITY;
    for (o, &a) in out.iter_mut().zip(x) {
        let v = a.to_f64();
        *o = T::from_f64(if v < 0.0 {
            f64::NAN
        } else {
            0.0 - v.ln() / ln_base
        });
        min = min_ignoring_nan(min, v);
    }
    min
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive, SPECIALS};

    #[test]
    fn matches_reference_on_every_tail_and_special_value() {
        for len in 0..=67 {
            let mut x = positive(len, len as u64);
            for (i, v) in x.iter_mut().enumerate() {
                if i % 3 == 0 {
                    *v = SPECIALS[i % SPECIALS.len()];
                }
            }
            for ln_base in [1.0, 2f64.ln()] {
                let (mut got, mut want) = (vec![0.0; len], vec![0.0; len]);
                assert_eq!(
                    neg_log_into(&x, &mut got, ln_base),
                    reference(&x, &mut want, ln_base)
                );
                for (a, b) in got.iter().zip(&want) {
                    assert!(close(*a, *b, 4.5e-16), "{a} vs {b}");
                }
                let mut inplace = x.clone();
                neg_log_in_place(&mut inplace, ln_base);
                assert!(inplace
                    .iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let (mut g32, mut w32) = (vec![0f32; len], vec![0f32; len]);
                neg_log_into(&x32, &mut g32, ln_base);
                reference(&x32, &mut w32, ln_base);
                for (a, b) in g32.iter().zip(&w32) {
                    assert!(
                        a == b || (a.is_nan() && b.is_nan()) || close(*a as f64, *b as f64, 1.2e-7)
                    );
                }
            }
        }
    }

    #[test]
    fn float32_within_one_ulp_for_every_base() {
        // every binade (normal, subnormal), values near 1, the specials, in blocks that
        // take the f32 logarithm and blocks with one lane outside its domain (the f64 form)
        let mut x: Vec<f32> = (0..40_000u32)
            .map(|i| f32::from_bits(0x0000_0100u32.wrapping_add(i.wrapping_mul(0x1_9a3b))))
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        x.extend((0..2000).map(|i| 1.0 - i as f32 * 2f32.powi(-24)));
        x.extend((0..2000).map(|i| 1.0 + i as f32 * 2f32.powi(-23)));
        let mut with_specials = x.clone();
        for (i, v) in with_specials.iter_mut().enumerate().step_by(97) {
            *v = [0.0, -0.0, 1e-45, f32::INFINITY, f32::NAN, -1.0][i % 6];
        }
        let ulp = |v: f32| {
            let v = v.abs();
            (f32::from_bits(v.to_bits() + 1) - v).max(f32::from_bits(1))
        };
        for data in [&x, &with_specials] {
            for ln_base in [1.0, 2f64.ln(), 10f64.ln()] {
                let (mut got, mut want) = (vec![0f32; data.len()], vec![0f32; data.len()]);
                assert_eq!(
                    neg_log_into(data, &mut got, ln_base).to_bits(),
                    reference(data, &mut want, ln_base).to_bits()
                );
                for ((&a, &b), &v) in got.iter().zip(&want).zip(data.iter()) {
                    let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                    assert!(
                        same || (a - b).abs() <= ulp(b),
                        "x = {v:e}, base {ln_base}: {a:e} vs {b:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn negative_input_is_reported_through_the_minimum() {
        let mut out = [0.0; 3];
        assert_eq!(neg_log_into(&[0.5, -0.1, 0.2], &mut out, 1.0), -0.1);
    }
}

#[cfg(test)]
mod lane_independence {
    use super::*;

    #[test]
    fn a_lane_does_not_depend_on_its_neighbours() {
        let v = 0.398_987_253_088_043_84_f64;
        let mut alone = [0.0; 1];
        neg_log_into(&[v], &mut alone, 1.0);
        let mut mixed = [0.0; 8];
        neg_log_into(&[v, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], &mut mixed, 1.0);
        assert_eq!(
            alone[0].to_bits(),
            mixed[0].to_bits(),
            "{} vs {}",
            alone[0],
            mixed[0]
        );
    }

    #[test]
    fn a_float32_lane_does_not_depend_on_its_neighbours() {
        // blocks of sixteen with and without a lane outside the f32 logarithm's domain
        // (thousands of values: the two forms round to the same f32 for most of them)
        let values = (0..4000u32).map(|i| f32::from_bits(0x3000_0000 + i * 0x4_1a3b));
        for v in values.chain([0.398_987_25_f32, 3.0e-20, 0.999_999_9]) {
            for ln_base in [1.0, 2f64.ln()] {
                let mut alone = [0f32; 1];
                neg_log_into(&[v], &mut alone, ln_base);
                for other in [0.0, 1e-40, f32::NAN, f32::INFINITY, 0.5] {
                    let mut x = [0.5f32; 16];
                    (x[3], x[9]) = (v, other);
                    let mut mixed = [0f32; 16];
                    neg_log_into(&x, &mut mixed, ln_base);
                    assert_eq!(alone[0].to_bits(), mixed[3].to_bits(), "{v} beside {other}");
                }
            }
        }
    }
}
