//! Elementwise self-information −ln(x)/ln(base), written into an output slice.

use super::{min_ignoring_nan, Real, LANES};
use crate::simd::log::{ln, ln_finite};
use crate::simd::vector::F8;

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

#[inline(always)]
fn neg_log_into_body<V: F8, T: Real>(x: &[T], out: &mut [T], ln_base: f64) -> f64 {
    let mut min = V::splat(f64::INFINITY);
    let n = x.len().min(out.len());
    let (x, out) = (&x[..n], &mut out[..n]);
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
    /// `out[i] = −ln(x[i]) / ln_base` (computed in f64, rounded once to `T`); returns the
    /// smallest x (NaN ignored) so the caller can reject negative probabilities.
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
}
