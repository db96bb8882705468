//! Jensen–Shannon divergence JS(P, Q) = ½ D(P‖M) + ½ D(Q‖M), M = (P+Q)/2, and the
//! Jensen–Shannon distance √JS (scipy.spatial.distance.jensenshannon, which normalises
//! P and Q first).
//!
//! Each lane is read twice, in the fixed blocks of [`crate::parallel`]: phase 1 gives
//! Σp and Σq, phase 2 the terms of the normalised distributions (see
//! [`crate::kernels::js`]). Without `normalize` only phase 2 runs.
//!
//! JS ≥ 0 in exact arithmetic, but the terms have both signs and a sum of them can round
//! to a tiny negative number. The divergence is clamped to 0 there, so the distance never
//! takes the square root of a negative number (scipy's jensenshannon returns NaN in that
//! case for float32 input, scipy#20083). NaN is not clamped: it propagates.

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, Zip};

use super::{
    batch_shape, check_non_negative, lane_len, same_shape, zeros_for_empty_lanes, Options,
};
use crate::error::Error;
use crate::kernels::js::{js_sums, pair_sums, JsSums};
use crate::kernels::Real;
use crate::parallel::{reduce_blocks, run, with_slice};

/// The divergence from one pair of distributions' phase-2 partials: clamped at 0 in
/// nats, then converted to the unit of the base (negative for a base below 1, where the
/// distance is NaN, as scipy's).
pub fn finish(s: &JsSums, ln_base: f64) -> f64 {
    let nats = 0.5 * s.sum_terms;
    let nats = if nats < 0.0 { 0.0 } else { nats };
    nats / ln_base
}

/// Phase-2 partials of every pair of lanes along the last axis of `p` and `q`.
fn partials<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    normalize: bool,
) -> Result<ArrayD<JsSums>, Error> {
    let axis = Axis(p.ndim() - 1);
    let len = p.len_of(axis);
    run(p.len(), |ctx| {
        let fork = ctx.fork;
        let lane = |a: ArrayView1<'_, T>, b: ArrayView1<'_, U>| {
            let block = |r: std::ops::Range<usize>, f: &(dyn Fn(&[T], &[U]) -> JsSums + Sync)| {
                with_slice(&a, r.clone(), |sa| with_slice(&b, r, |sb| f(sa, sb)))
            };
            let (sp, sq) = if normalize {
                let s = reduce_blocks(len, ctx, |r| block(r, &|x, y| pair_sums(x, y)));
                (s.sum_p, s.sum_q)
            } else {
                (1.0, 1.0)
            };
            reduce_blocks(len, ctx, |r| block(r, &|x, y| js_sums(x, y, sp, sq)))
        };
        let lanes = Zip::from(p.lanes(axis)).and(q.lanes(axis));
        if fork {
            lanes.par_map_collect(lane)
        } else {
            lanes.map_collect(lane)
        }
    })
}

/// Jensen–Shannon divergence of every pair of distributions along the last axis.
pub fn js_divergence<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<ArrayD<f64>, Error> {
    same_shape(&p, &q)?;
    let batch = batch_shape("p", &p)?;
    let ln_base = opts.ln_base()?;
    if lane_len(&p) == 0 {
        return Ok(zeros_for_empty_lanes(&batch));
    }
    let partials = partials(p, q, opts.normalize)?;
    check_non_negative("p", &partials, |s| s.min_p)?;
    check_non_negative("q", &partials, |s| s.min_q)?;
    Ok(partials.mapv(|s| finish(&s, ln_base)))
}

/// Jensen–Shannon distance √JS of every pair of distributions along the last axis.
pub fn js_distance<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    opts: &Options,
) -> Result<ArrayD<f64>, Error> {
    Ok(js_divergence(p, q, opts)?.mapv(f64::sqrt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::set_num_threads;
    use ndarray::{arr1, Array2};

    fn js(p: &[f64], q: &[f64], opts: &Options) -> f64 {
        js_divergence(arr1(p).into_dyn().view(), arr1(q).into_dyn().view(), opts).unwrap()[[]]
    }

    #[test]
    fn known_values() {
        let opts = Options::default();
        assert_eq!(js(&[1.0, 0.0], &[0.0, 1.0], &opts), std::f64::consts::LN_2);
        let bits = Options {
            normalize: true,
            base: Some(2.0),
        };
        assert_eq!(js(&[1.0, 0.0], &[0.0, 1.0], &bits), 1.0);
        // counts are normalised: (2, 0) vs (0, 5) is the same as above
        assert_eq!(js(&[2.0, 0.0], &[0.0, 5.0], &bits), 1.0);
        // scipy: jensenshannon([1, 0, 0], [0, 1, 0])**2 * ... ; here a hand value
        let (p, q) = ([0.25, 0.75], [0.5, 0.5]);
        let m = [0.375, 0.625];
        let want = 0.5 * (0.25 * (0.25f64 / m[0]).ln() + 0.75 * (0.75f64 / m[1]).ln())
            + 0.5 * (0.5 * (0.5f64 / m[0]).ln() + 0.5 * (0.5f64 / m[1]).ln());
        assert!((js(&p, &q, &opts) - want).abs() < 1e-16);
    }

    #[test]
    fn identical_inputs_are_exactly_zero_and_distance_is_never_nan() {
        let opts = Options::default();
        let p = crate::kernels::adversarial::positive(100_001, 3);
        let v = ndarray::ArrayView1::from(&p[..]).into_dyn();
        assert_eq!(js_divergence(v.view(), v.view(), &opts).unwrap()[[]], 0.0);
        assert_eq!(js_distance(v.view(), v.view(), &opts).unwrap()[[]], 0.0);
        let raw = Options {
            normalize: false,
            base: None,
        };
        assert_eq!(js_divergence(v.view(), v.view(), &raw).unwrap()[[]], 0.0);
        // nearly equal rows: tiny results, never negative
        for i in 0..200 {
            let q: Vec<f64> = p[..64]
                .iter()
                .enumerate()
                .map(|(j, &x)| if j == i % 64 { x * (1.0 + 1e-15) } else { x })
                .collect();
            let d = js(&p[..64], &q, &opts);
            assert!(d >= 0.0, "{d}");
        }
    }

    #[test]
    fn edge_cases() {
        let opts = Options::default();
        let empty = Array2::<f64>::zeros((3, 0)).into_dyn();
        assert_eq!(
            js_divergence(empty.view(), empty.view(), &opts)
                .unwrap()
                .shape(),
            &[3]
        );
        assert!(js(&[0.0, 0.0], &[0.5, 0.5], &opts).is_nan());
        assert!(js(&[f64::NAN, 0.5], &[0.5, 0.5], &opts).is_nan());
        let err = js_divergence(
            arr1(&[0.5, -0.5]).into_dyn().view(),
            arr1(&[0.5, 0.5]).into_dyn().view(),
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "p",
                value: -0.5
            }
        );
        let err = js_divergence(
            arr1(&[0.5]).into_dyn().view(),
            arr1(&[0.5, 0.5]).into_dyn().view(),
            &opts,
        )
        .unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }));
    }

    #[test]
    fn bitwise_identical_for_any_thread_count_and_layout() {
        let x = crate::kernels::adversarial::positive(2 * 300_007, 17);
        let (p, q) = (&x[..300_007], &x[300_007..]);
        let rows_p = Array2::from_shape_vec((601, 499), p[..601 * 499].to_vec()).unwrap();
        let rows_q = Array2::from_shape_vec((601, 499), q[..601 * 499].to_vec()).unwrap();
        let mut seen = Vec::new();
        for threads in [1, 2, 5] {
            set_num_threads(threads).unwrap();
            let opts = Options::default();
            let one = ndarray::ArrayView1::from(p).into_dyn();
            let one_q = ndarray::ArrayView1::from(q).into_dyn();
            let mut r: Vec<u64> = js_divergence(one, one_q, &opts)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            r.extend(
                js_divergence(rows_p.view().into_dyn(), rows_q.view().into_dyn(), &opts)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
            r.extend(
                js_divergence(rows_p.t().into_dyn(), rows_q.t().into_dyn(), &opts)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
            seen.push(r);
        }
        assert!(seen.iter().all(|r| r == &seen[0]));
    }
}
