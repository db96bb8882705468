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

/// The first index of `x` holding `max` (0 if none), `W` values a step: the first block
/// where `holds(block)` (a vector compare) is searched value by value. The row is still in
/// L1 from the extremes' pass.
#[inline(always)]
fn first_index_in_blocks<T: Real, const W: usize>(
    x: &[T],
    max: f64,
    holds: impl Fn(&[T; W]) -> bool,
) -> usize {
    let mut chunks = x.chunks_exact(W);
    for (k, c) in (&mut chunks).enumerate() {
        let block: &[T; W] = c.try_into().expect("chunks_exact gives W");
        if holds(block) {
            return W * k + first_index_of(block, max);
        }
    }
    let rest = chunks.remainder();
    match rest.iter().position(|v| v.to_f64() == max) {
        Some(i) => x.len() - rest.len() + i,
        None => 0,
    }
}

/// [`first_index_in_blocks`] of float32 rows: sixteen values compared in f32 lanes.
#[inline(always)]
fn first_index_of_f32<V: F8>(x: &[f32], max: f64) -> usize {
    type S<V> = <V as F8>::F32s;
    let wanted = S::<V>::splat(max as f32); // exact: `max` is one of the row's values (or ±inf)
    first_index_in_blocks::<f32, 16>(x, max, |b| S::<V>::any(S::<V>::load(b).eq(wanted)))
}

/// [`first_index_in_blocks`] of float64 rows: eight values compared per step.
#[inline(always)]
fn first_index_of_wide<V: F8, T: Real>(x: &[T], max: f64) -> usize {
    let wanted = V::splat(max);
    first_index_in_blocks::<T, LANES>(x, max, |b| V::any(V::load(b).eq(wanted)))
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

/// A tile's rows from logits (class-major: class c of row j at `tile[c·r + j]`), given
/// each row's maximum and rest: `confidence[j]` ([`logit_confidence`]) and `argmax[j]`,
/// the first class holding the maximum (0 if none: a NaN row). Eight rows a step: the
/// classes from the last to the first, each selected where it holds the maximum.
#[inline(always)]
fn tile_tops_body<V: F8, T: Real>(
    tile: &[T],
    r: usize,
    classes: usize,
    stats: (&[f64], &[f64]),
    confidence: &mut [f64],
    argmax: &mut [usize],
) {
    let (max, rest) = stats;
    let n = max.len();
    let (one, ninf) = (V::splat(1.0), V::splat(f64::NEG_INFINITY));
    let mut j = 0;
    while j + LANES <= n {
        let lanes = j..j + LANES;
        let m = V::load_f64(max[lanes.clone()].try_into().expect("8"));
        let mut a = V::splat(0.0);
        for c in (0..classes).rev() {
            let v = V::load(tile[c * r + j..c * r + j + LANES].try_into().expect("8"));
            a = V::select(v.eq(m), V::splat(c as f64), a);
        }
        let s = V::load_f64(rest[lanes.clone()].try_into().expect("8"));
        let conf = one.div(one.add(s));
        let defined = V::and(m.eq(m), m.gt(ninf));
        let conf = V::select(defined, conf, V::splat(f64::NAN));
        conf.store_f64((&mut confidence[lanes.clone()]).try_into().expect("8"));
        for (slot, c) in argmax[lanes].iter_mut().zip(a.to_array()) {
            *slot = c as usize;
        }
        j += LANES;
    }
    tile_tops_reference(
        tile,
        r,
        classes,
        (&max[j..], &rest[j..]),
        j,
        &mut confidence[j..],
        &mut argmax[j..],
    );
}

crate::simd::multiversion! {
    /// The top-1 predictions of the first `stats.0.len()` rows of a class-major tile of
    /// `r` rows (see [`tile_tops_body`]; [`tile_tops_reference`] is its scalar reference).
    pub fn tile_tops<T: Real>(tile: &[T], r: usize, classes: usize, stats: (&[f64], &[f64]), confidence: &mut [f64], argmax: &mut [usize]) -> () = tile_tops_body;
}

/// Scalar reference for [`tile_tops`]: rows `first..` of the tile (their stats given).
pub fn tile_tops_reference<T: Real>(
    tile: &[T],
    r: usize,
    classes: usize,
    stats: (&[f64], &[f64]),
    first: usize,
    confidence: &mut [f64],
    argmax: &mut [usize],
) {
    for (i, (&m, &s)) in stats.0.iter().zip(stats.1).enumerate() {
        let j = first + i;
        confidence[i] = logit_confidence(m, s);
        argmax[i] = (0..classes)
            .position(|c| tile[c * r + j].to_f64() == m)
            .unwrap_or(0);
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
    fn tile_tops_match_the_scalar_reference() {
        // Class-major tiles of r = 48 rows: adversarial logits (ties, −inf, huge and tiny
        // gaps), an all −inf row and a NaN row, every row count up to the tile (every tail
        // of the eight-row steps), as f64 and f32.
        let r = 48;
        for classes in 1..=12 {
            let mut z = crate::kernels::adversarial::logits(classes * r, classes as u64);
            for c in 0..classes {
                z[c * r + 5] = f64::NEG_INFINITY;
                z[c * r + 9] = if c == classes / 2 {
                    f64::NAN
                } else {
                    z[c * r + 9]
                };
                z[c * r + 13] = 2.0; // a tie in every class
            }
            let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            for n in 0..=r {
                check_tile(&z, r, classes, n);
                check_tile(&z32, r, classes, n);
            }
        }
    }

    fn check_tile<T: Real>(tile: &[T], r: usize, classes: usize, n: usize) {
        // the rows' maxima as the tiles give them (NaN ignored), rests arbitrary
        let max: Vec<f64> = (0..n)
            .map(|j| {
                (0..classes)
                    .map(|c| tile[c * r + j].to_f64())
                    .fold(f64::NEG_INFINITY, |m, v| if v > m { v } else { m })
            })
            .collect();
        let rest: Vec<f64> = (0..n).map(|j| j as f64 * 0.37).collect();
        let (mut conf, mut arg) = (vec![0.0; n], vec![0; n]);
        tile_tops(tile, r, classes, (&max, &rest), &mut conf, &mut arg);
        let (mut want_conf, mut want_arg) = (vec![0.0; n], vec![0; n]);
        tile_tops_reference(
            tile,
            r,
            classes,
            (&max, &rest),
            0,
            &mut want_conf,
            &mut want_arg,
        );
        assert_eq!(arg, want_arg, "classes={classes} n={n}");
        for (g, w) in conf.iter().zip(&want_conf) {
            assert!(
                g == w || (g.is_nan() && w.is_nan()),
                "classes={classes} n={n}"
            );
        }
    }

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
