//! The raw sum −Σ p·ln q of sixteen short rows at once (`normalize=False`: scipy.special's
//! `entr` / `−xlogy` summed along a row), lane = row.
//!
//! One read of the transposed group: per element one logarithm (sixteen f32 lanes for
//! float32 data, DESIGN §2b) and the lane sums Σ p·ln q, Σ|p·ln q|, Σp, Σq. The value is
//! the plain sum — nothing to normalise, so nothing to rescale. What the row form
//! (`measures::cross_entropy`'s `raw`) decides row by row is decided here lane by lane:
//!
//! - a row whose f32 logs would be amplified by cancellation (Σ|p·ln q| > 4·|Σ p·ln q|),
//!   or that holds a subnormal f32 q (outside the f32 log's domain), takes f64 logs — the
//!   group is redone with them and those lanes keep the redone sums;
//! - q = 0 under p > 0 gives +inf; p = 0 contributes nothing (q may be 0 or anything);
//! - rows holding ±inf or NaN (a non-finite total) are left to the caller's row form.
//!
//! Before this kernel the raw form ran row by row through a scalar fallback: 10–28× the
//! normalised time at C = 2 (benches/README.md).

use super::plogq::raw_terms;
use super::two_pass::{cancels_past, half, mark_irregular, store_half, Lowest, F32_MIN_NORMAL};
use super::{Real, GROUP};
use crate::simd::vector::F8;

/// Largest condition Σ|p ln q| / |Σ p ln q| for which a raw sum keeps native f32 logs
/// (their ≤ 8e-8 relative error is amplified by it: ≤ 3.2e-7, inside the f32 contract).
pub const RAW_MAX_COND_F32: f64 = 4.0;

/// −Σ p·ln q of up to sixteen rows, transposed (`p[c][j]`: element `c` of row `j`, zero
/// padded; `q` may be `p` itself for entropy). Writes `out[j]`, clears `regular[j]` for
/// rows holding ±inf or NaN, returns the smallest inputs seen (negative: an input error).
#[inline(always)]
fn group_body<V: F8, U: Real>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let same = std::ptr::eq(p.as_ptr(), q.as_ptr()) && p.len() == q.len();
    match (out.len() <= GROUP / 2, same) {
        (true, true) => group_halves::<V, U, 1, true>(p, q, out, regular),
        (true, false) => group_halves::<V, U, 1, false>(p, q, out, regular),
        (false, true) => group_halves::<V, U, 2, true>(p, q, out, regular),
        (false, false) => group_halves::<V, U, 2, false>(p, q, out, regular),
    }
}

/// The group over its first `H` halves of eight lanes (`H = 1` where at most eight rows
/// are present). Lanes never interact, so a row's value does not depend on `H`.
#[inline(always)]
fn group_halves<V: F8, U: Real, const H: usize, const SAME: bool>(
    p: &[[f64; GROUP]],
    q: &[[f64; GROUP]],
    out: &mut [f64],
    regular: &mut [bool],
) -> Lowest {
    let zero = V::splat(0.0);
    let inf = V::splat(f64::INFINITY);
    let (mut sp, mut sq) = ([zero; 2], [zero; 2]);
    let (mut min_p, mut min_q, mut min_pos_q) = ([inf; 2], [inf; 2], [inf; 2]);
    let steps = p.len().min(q.len());
    for c in 0..steps {
        for h in 0..H {
            let a = half::<V>(&p[c], h);
            sp[h] = sp[h].add(a);
            min_p[h] = min_p[h].min_ignoring_nan(a);
            if !SAME {
                let b = half::<V>(&q[c], h);
                sq[h] = sq[h].add(b);
                min_q[h] = min_q[h].min_ignoring_nan(b);
            }
            if U::IS_F32 {
                let b = if SAME { a } else { half::<V>(&q[c], h) };
                min_pos_q[h] = min_pos_q[h].min_ignoring_nan(V::select(b.gt(zero), b, inf));
            }
        }
    }
    if SAME {
        (sq, min_q) = (sp, min_p);
    }
    // t = −Σ p·ln q, abs = Σ |p·ln q|
    let mut acc = if U::IS_F32 {
        raw_terms::<V, _, true, SAME, H>(p, q)
    } else {
        raw_terms::<V, _, false, SAME, H>(p, q)
    };
    if U::IS_F32 {
        let limit = V::splat(F32_MIN_NORMAL);
        // (written out: a closure here was compiled out of line, without the vector ISA)
        let (a0, a1) = (&acc[0], &acc[H - 1]);
        let redo = [
            V::or(
                min_pos_q[0].lt(limit),
                cancels_past::<V>(a0.t, a0.abs, RAW_MAX_COND_F32),
            ),
            V::or(
                min_pos_q[H - 1].lt(limit),
                cancels_past::<V>(a1.t, a1.abs, RAW_MAX_COND_F32),
            ),
        ];
        if V::any(V::or(redo[0], redo[H - 1])) {
            let f64_logs = raw_terms::<V, _, false, SAME, H>(p, q);
            for h in 0..H {
                let (a, r) = (&mut acc[h], &f64_logs[h]);
                a.t = V::select(redo[h], r.t, a.t);
                a.zero_q = V::select(redo[h], r.zero_q, a.zero_q);
            }
        }
    }
    for h in 0..H {
        let a = &acc[h];
        let value = V::select(a.zero_q.gt(zero), inf, a.t);
        // ±inf or NaN anywhere in the row: the row form's term-by-term path
        let total = sp[h].add(sq[h]);
        mark_irregular::<V>(V::and(total.lt(inf), total.ge(zero)), h, regular);
        store_half(value, h, out);
    }
    Lowest {
        p: min_p[0].min_ignoring_nan(min_p[H - 1]).min_lane(),
        q: min_q[0].min_ignoring_nan(min_q[H - 1]).min_lane(),
    }
}

crate::simd::multiversion! {
    /// −Σ p·ln q of up to sixteen short rows, transposed (see `group_body`).
    pub fn group<U: Real>(p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) -> Lowest = group_body;
}

/// The scalar reference: −Σ p·ln q term by term with `f64::ln` (0 where p = 0, +inf where
/// q = 0 < p).
pub fn reference(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            if a == 0.0 {
                0.0
            } else if b == 0.0 {
                f64::INFINITY
            } else {
                -a * b.ln()
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{
        check_rows_alone_match_full_groups, close, positive, xorshift, SPECIALS,
    };

    /// Runs rows through the group (sixteen at a time, optionally as entropy: q = p):
    /// (value, regular) per row; checks the lowest inputs reported.
    fn through_group(
        rows: &[(Vec<f64>, Vec<f64>)],
        f32_data: bool,
        entropy: bool,
    ) -> Vec<(f64, bool)> {
        let mut got = Vec::new();
        for chunk in rows.chunks(GROUP) {
            let len = chunk.iter().map(|r| r.0.len()).max().unwrap_or(0);
            let (mut pt, mut qt) = (vec![[0.0; GROUP]; len], vec![[0.0; GROUP]; len]);
            for (j, (pr, qr)) in chunk.iter().enumerate() {
                for c in 0..pr.len() {
                    (pt[c][j], qt[c][j]) = (pr[c], qr[c]);
                }
            }
            let (mut out, mut regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
            let qref = if entropy { &pt } else { &qt };
            let lo = if f32_data {
                group::<f32>(&pt, qref, &mut out, &mut regular)
            } else {
                group::<f64>(&pt, qref, &mut out, &mut regular)
            };
            let min_p = chunk
                .iter()
                .flat_map(|r| r.0.clone())
                .fold(f64::INFINITY, f64::min);
            let side_q = |r: &(Vec<f64>, Vec<f64>)| if entropy { r.0.clone() } else { r.1.clone() };
            let min_q = chunk.iter().flat_map(side_q).fold(f64::INFINITY, f64::min);
            assert!(lo.p <= min_p && lo.q <= min_q, "{chunk:?}");
            got.extend(out.into_iter().zip(regular));
        }
        got
    }

    /// Rows of every length 0..=67 with zeros, subnormals, huge and tiny values, ±inf, NaN,
    /// and values above 1 (raw sums of counts cancel).
    fn adversarial_rows(f32_data: bool) -> Vec<(Vec<f64>, Vec<f64>)> {
        let cast = |v: f64| if f32_data { v as f32 as f64 } else { v };
        let mut specials: Vec<f64> = SPECIALS.to_vec();
        specials.extend([f64::NAN, f64::NEG_INFINITY, 1e-40, 1e-45, 0.999_999, 2.0]);
        let mut next = xorshift(11);
        let mut rows = Vec::new();
        for len in 0..=67usize {
            for k in 0..6 {
                let mut p = positive(len, (100 * len + k) as u64);
                let mut q: Vec<f64> = positive(len, (7 * len + k + 1) as u64)
                    .iter()
                    .map(|v| v + 1e-3)
                    .collect();
                if len > 0 && k % 2 == 1 {
                    let s = next() as usize;
                    p[s % len] = specials[s % specials.len()];
                    q[(s / 7) % len] = specials[(s / 3) % specials.len()];
                }
                if k == 4 {
                    // counts: terms of both signs
                    p.iter_mut().for_each(|v| *v *= 100.0);
                    q.iter_mut().for_each(|v| *v *= 3.0);
                }
                rows.push((
                    p.into_iter().map(cast).collect(),
                    q.into_iter().map(cast).collect(),
                ));
            }
        }
        rows
    }

    #[test]
    fn matches_the_reference_on_adversarial_rows() {
        for f32_data in [false, true] {
            for entropy in [false, true] {
                let rows = adversarial_rows(f32_data);
                for ((p, q), (v, regular)) in
                    rows.iter().zip(through_group(&rows, f32_data, entropy))
                {
                    let q = if entropy { p } else { q };
                    // ±inf, NaN or an overflowing total: left to the row form
                    let total = p.iter().sum::<f64>() + q.iter().sum::<f64>();
                    assert_eq!(regular, total.is_finite(), "{p:?} {q:?}");
                    if !regular || p.iter().chain(q).any(|&x| x < 0.0) {
                        continue;
                    }
                    let want = reference(p, q);
                    let scale: f64 = p
                        .iter()
                        .zip(q)
                        .filter(|(&a, &b)| a != 0.0 && b != 0.0)
                        .map(|(&a, &b)| (a * b.ln()).abs())
                        .sum();
                    // f64 logs: a few ULP per term; f32 logs only where the sum keeps 3.2e-7
                    let rtol = if f32_data { 1e-6 } else { 1e-14 };
                    assert!(
                        close(v, want, rtol) || (v - want).abs() <= 1e-14 * scale,
                        "f32 {f32_data} entropy {entropy}: {v:e} vs {want:e} for {p:?} {q:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn cancelling_float32_rows_take_f64_logs() {
        // Σ p ln q ≈ 0 from terms of both signs: f32 logs would leave ~1e-7 of the terms
        let rows: Vec<(Vec<f64>, Vec<f64>)> = (1..=40)
            .map(|k| {
                let e = (k as f32 * 0.01) as f64;
                let (a, b) = (e.exp() as f32 as f64, (-e).exp() as f32 as f64);
                (vec![1.0, 1.0], vec![a, b])
            })
            .collect();
        for ((p, q), (v, regular)) in rows.iter().zip(through_group(&rows, true, false)) {
            assert!(regular);
            let want = reference(p, q);
            let scale = (q[0].ln()).abs() + (q[1].ln()).abs();
            assert!(
                (v - want).abs() <= 1e-14 * scale,
                "{v:e} vs {want:e} for {q:?}"
            );
        }
    }

    #[test]
    fn a_row_alone_equals_the_row_in_a_full_group() {
        for entropy in [false, true] {
            check_rows_alone_match_full_groups(|f32_data, _, pt, qt, out, regular| {
                let qt = if entropy { pt } else { qt };
                if f32_data {
                    group::<f32>(pt, qt, out, regular);
                } else {
                    group::<f64>(pt, qt, out, regular);
                }
            });
        }
    }
}
