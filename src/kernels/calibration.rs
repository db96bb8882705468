//! The top-1 prediction of a row for calibration: its confidence (the largest probability,
//! or softmax's largest value for logits), its index (the first on ties), and the row's
//! smallest and largest values (to reject probabilities outside [0, 1]).

use super::softmax::{lse_feed_f64, LseRow64};
use super::softmax_f32::{lse_feed_f32, LseLanes32};
use super::{Real, LANES};
use crate::simd::vector::F8;
use crate::simd::vector_f32::F16;

/// The top-1 prediction of one row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowTop {
    /// The largest probability (NaN if the row holds NaN); for logits 1/(1 + Σ_{i≠argmax}
    /// exp(z_i − max)), the softmax of the argmax.
    pub confidence: f64,
    /// The first index holding the row's maximum.
    pub argmax: usize,
    /// The smallest value (NaN ignored; +inf for an all-NaN row).
    pub min: f64,
    /// The largest value (NaN ignored; −inf for an all-NaN row).
    pub max: f64,
}

/// The first index of `x` whose value equals `max` (0 if none: an all-NaN row).
fn first_index_of<T: Real>(x: &[T], max: f64) -> usize {
    x.iter().position(|v| v.to_f64() == max).unwrap_or(0)
}

/// A row's (largest, smallest, no NaN): NaN ignored by the extremes (−inf / +inf if every
/// value is NaN).
#[inline(always)]
fn extremes<V: F8, T: Real>(x: &[T]) -> (f64, f64, bool) {
    let mut hi = V::splat(f64::NEG_INFINITY);
    let mut lo = V::splat(f64::INFINITY);
    let mut numbers = V::splat(0.0).eq(V::splat(0.0));
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        let v = V::load(c.try_into().expect("chunks_exact gives 8"));
        hi = hi.max_ignoring_nan(v);
        lo = lo.min_ignoring_nan(v);
        numbers = V::and(numbers, v.eq(v));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Pad with the tail's own first value: it changes neither extreme nor NaN-ness.
        let mut padded = [rest[0]; LANES];
        padded[..rest.len()].copy_from_slice(rest);
        let v = V::load(&padded);
        hi = hi.max_ignoring_nan(v);
        lo = lo.min_ignoring_nan(v);
        numbers = V::and(numbers, v.eq(v));
    }
    (hi.max_lane(), lo.min_lane(), V::all(numbers))
}

/// [`extremes`] of float32 values in float32 lanes (sixteen per step: no widening, and the
/// extremes of f32 values are f32 values).
#[inline(always)]
fn extremes_f32<V: F8>(x: &[f32]) -> (f64, f64, bool) {
    type S<V> = <V as F8>::F32s;
    let mut hi = S::<V>::splat(f32::NEG_INFINITY);
    let mut lo = S::<V>::splat(f32::INFINITY);
    let mut numbers = S::<V>::splat(0.0).eq(S::<V>::splat(0.0));
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        let v = S::<V>::load(c.try_into().expect("chunks_exact gives 16"));
        hi = hi.max_ignoring_nan(v);
        lo = lo.min_ignoring_nan(v);
        numbers = S::<V>::and(numbers, v.eq(v));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut padded = [rest[0]; 16];
        padded[..rest.len()].copy_from_slice(rest);
        let v = S::<V>::load(&padded);
        hi = hi.max_ignoring_nan(v);
        lo = lo.min_ignoring_nan(v);
        numbers = S::<V>::and(numbers, v.eq(v));
    }
    let (hi0, hi1) = hi.widen();
    // A lane that is not a number has `numbers` false: select 1 there, then look for it.
    let (zero, one) = (S::<V>::splat(0.0), S::<V>::splat(1.0));
    let nan_lanes = S::<V>::select(numbers, zero, one).eq(one);
    (
        hi0.max_ignoring_nan(hi1).max_lane(),
        lo.min_lane() as f64,
        !S::<V>::any(nan_lanes),
    )
}

/// The first index of `x` holding `max` (0 if none), sixteen float32 values compared per
/// step; the row is still in L1 from [`extremes_f32`].
#[inline(always)]
fn first_index_of_f32<V: F8>(x: &[f32], max: f64) -> usize {
    type S<V> = <V as F8>::F32s;
    let target = max as f32; // exact: `max` is one of the row's values (or ±inf)
    let wanted = S::<V>::splat(target);
    let mut chunks = x.chunks_exact(16);
    for (k, c) in (&mut chunks).enumerate() {
        let block: &[f32; 16] = c.try_into().expect("chunks_exact gives 16");
        if S::<V>::any(S::<V>::load(block).eq(wanted)) {
            return 16 * k + first_index_of(block, max);
        }
    }
    let rest = chunks.remainder();
    match rest.iter().position(|&v| v == target) {
        Some(i) => x.len() - rest.len() + i,
        None => 0,
    }
}

/// [`first_index_of_f32`] for float64 rows: eight values compared per step.
#[inline(always)]
fn first_index_of_wide<V: F8, T: Real>(x: &[T], max: f64) -> usize {
    let wanted = V::splat(max);
    let mut chunks = x.chunks_exact(LANES);
    for (k, c) in (&mut chunks).enumerate() {
        let block: &[T; LANES] = c.try_into().expect("chunks_exact gives 8");
        if V::any(V::load(block).eq(wanted)) {
            return LANES * k + first_index_of(block, max);
        }
    }
    let rest = chunks.remainder();
    match rest.iter().position(|v| v.to_f64() == max) {
        Some(i) => x.len() - rest.len() + i,
        None => 0,
    }
}

#[inline(always)]
fn row_top_body<V: F8, T: Real>(x: &[T]) -> RowTop {
    // PERF: float32 rows in float32 lanes, and the argmax found a vector at a time (the
    // scalar search was 60% of a call): (10^5, 1000), one thread, was 2.1x (float32) and
    // 1.2x (float64) NumPy's `p.max(1)` + `p.argmax(1)`.
    let (max, min, all_numbers, argmax) = match T::as_f32(x) {
        Some(x) => {
            let (max, min, numbers) = extremes_f32::<V>(x);
            (max, min, numbers, first_index_of_f32::<V>(x, max))
        }
        None => {
            let (max, min, numbers) = extremes::<V, T>(x);
            (max, min, numbers, first_index_of_wide::<V, T>(x, max))
        }
    };
    RowTop {
        confidence: if all_numbers { max } else { f64::NAN },
        argmax,
        min,
        max,
    }
}

#[inline(always)]
fn index_of_body<V: F8, T: Real>(x: &[T], value: f64) -> usize {
    match T::as_f32(x) {
        Some(x) => first_index_of_f32::<V>(x, value),
        None => first_index_of_wide::<V, T>(x, value),
    }
}

crate::simd::multiversion! {
    /// The top-1 prediction of a row of probabilities (non-empty).
    pub fn row_top<T: Real>(x: &[T]) -> RowTop = row_top_body;
}

crate::simd::multiversion! {
    /// The first index of `x` holding `value` (one of its values, or ±inf), 0 if none.
    pub fn index_of<T: Real>(x: &[T], value: f64) -> usize = index_of_body;
}

/// The top-1 prediction of a row of logits (non-empty): `logsumexp`'s row statistics —
/// float64 rows the blocked f64 pass (`softmax.rs`), float32 rows the native f32 pass
/// (`softmax_f32.rs`: f32 exponentials summed in f64 lanes, DESIGN §2b) — confidence
/// 1/(1 + rest) (NaN propagates; an all −inf row gives NaN, as softmax does). `min`/`max`
/// are not checked for logits (0 and 0).
pub fn row_top_logits<T: Real>(x: &[T]) -> RowTop {
    // PERF: `logsumexp`'s passes (one maximum per row, then the exponentials), not the
    // per-lane online maximum of `lse_feed`: (10^5, 1000) float32 from logits, one thread,
    // was 3.2x `logsumexp` of the same rows; float32 widened to f64 still 3x.
    let stats = if let Some(x32) = T::as_f32(x) {
        let mut st = LseLanes32::EMPTY;
        lse_feed_f32(&mut st, x32);
        st.finish()
    } else {
        let mut st = LseRow64::EMPTY;
        lse_feed_f64(&mut st, T::as_f64(x).expect("a Real is f32 or f64"));
        st.finish()
    };
    RowTop {
        confidence: logit_confidence(stats.max, stats.rest),
        argmax: index_of(x, stats.max),
        min: 0.0,
        max: 0.0,
    }
}

/// softmax's largest value from a row's max logit and rest = Σ_{i≠argmax} exp(z_i − max):
/// 1/(1 + rest); NaN for an all −inf or NaN maximum.
pub fn logit_confidence(max: f64, rest: f64) -> f64 {
    if max == f64::NEG_INFINITY || max.is_nan() {
        f64::NAN
    } else {
        1.0 / (1.0 + rest)
    }
}

/// Scalar reference for [`row_top`] (and the kernel of rows shorter than 32 values).
#[inline(always)]
pub fn reference<T: Real>(x: &[T]) -> RowTop {
    let (mut max, mut min, mut argmax, mut nan) = (f64::NEG_INFINITY, f64::INFINITY, 0, false);
    for (i, v) in x.iter().enumerate() {
        let v = v.to_f64();
        nan |= v.is_nan();
        if v > max {
            max = v;
            argmax = i;
        }
        if v < min {
            min = v;
        }
    }
    RowTop {
        confidence: if nan { f64::NAN } else { max },
        argmax,
        min,
        max,
    }
}

/// Scalar reference for [`row_top_logits`]: two passes with `f64::exp`.
pub fn reference_logits<T: Real>(x: &[T]) -> RowTop {
    let z: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
    let max = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let argmax = z.iter().position(|&v| v == max).unwrap_or(0);
    let nan = z.iter().any(|v| v.is_nan()) || max == f64::NEG_INFINITY;
    let rest: f64 = z
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != argmax)
        .map(|(_, &v)| (v - max).exp())
        .sum();
    RowTop {
        confidence: if nan { f64::NAN } else { 1.0 / (1.0 + rest) },
        argmax,
        min: 0.0,
        max: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive};

    /// float32 logits' confidences against the f64 reference: the f32 `logsumexp` bound.
    const F32_LOGITS: f64 = 4e-7;

    #[test]
    fn matches_reference_on_every_tail_and_tie() {
        for len in 1..=67 {
            let mut x = positive(len, len as u64);
            for v in &mut x {
                *v = v.min(1.0);
            }
            let check = |x: &[f64]| {
                let (g, w) = (row_top(x), reference(x));
                assert_eq!(g.argmax, w.argmax, "{x:?}");
                assert!(close(g.confidence, w.confidence, 0.0) && g.min == w.min && g.max == w.max);
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let (g, w) = (row_top(&x32), reference(&x32));
                assert_eq!(
                    (g.argmax, g.max, g.min),
                    (w.argmax, w.max, w.min),
                    "{x32:?}"
                );
                assert_eq!(g.confidence, w.confidence);
                let (g, w) = (row_top_logits(x), reference_logits(x));
                assert_eq!(g.argmax, w.argmax);
                assert!(close(g.confidence, w.confidence, 1e-14), "{g:?} {w:?}");
                // float32 logits: f32 exponentials (within `logsumexp`'s f32 bound of the
                // f64 reference of the same values).
                let (g, w) = (row_top_logits(&x32), reference_logits(&x32));
                assert_eq!(g.argmax, w.argmax);
                assert!(close(g.confidence, w.confidence, F32_LOGITS), "{g:?} {w:?}");
                // Logits far apart (confident rows, terms far below the maximum, some
                // beyond the f32 exponential's range).
                for scale in [60.0f32, 200.0] {
                    let wide: Vec<f32> = x32.iter().map(|&v| scale * v).collect();
                    let (g, w) = (row_top_logits(&wide), reference_logits(&wide));
                    assert_eq!(g.argmax, w.argmax);
                    assert!(close(g.confidence, w.confidence, F32_LOGITS), "{g:?} {w:?}");
                }
            };
            check(&x);
            // A tie for the maximum: the first index wins.
            let mut tied = x.clone();
            let m = tied.iter().cloned().fold(0.0, f64::max);
            tied[len - 1] = m;
            check(&tied);
            // NaN anywhere gives a NaN confidence.
            let mut with_nan = x.clone();
            with_nan[len / 2] = f64::NAN;
            assert!(row_top(&with_nan).confidence.is_nan());
            assert!(row_top_logits(&with_nan).confidence.is_nan());
            let nan32: Vec<f32> = with_nan.iter().map(|&v| v as f32).collect();
            let (g, w) = (row_top(&nan32), reference(&nan32));
            assert!(g.confidence.is_nan());
            assert_eq!(
                (g.argmax, g.max, g.min),
                (w.argmax, w.max, w.min),
                "{nan32:?}"
            );
            // Every value NaN: argmax 0, extremes ∓inf.
            let all_nan = vec![f32::NAN; len];
            let g = row_top(&all_nan);
            assert!(g.confidence.is_nan());
            assert_eq!(
                (g.argmax, g.max, g.min),
                (0, f64::NEG_INFINITY, f64::INFINITY)
            );
            // The maximum in the tail, after a full block holding a smaller value.
            let mut late = vec![0.25f32; len];
            late[len - 1] = 0.5;
            assert_eq!(row_top(&late).argmax, len - 1);
        }
        let r = row_top_logits(&[f64::NEG_INFINITY, f64::NEG_INFINITY]);
        assert!(r.confidence.is_nan());
        let r = row_top_logits(&[0.0, f64::NEG_INFINITY, -5.0]);
        assert_eq!(r.argmax, 0);
        assert!(close(r.confidence, 1.0 / (1.0 + (-5f64).exp()), 1e-15));
        assert_eq!(row_top_logits(&[-40.0, 0.0]).confidence, 1.0);
    }
}
