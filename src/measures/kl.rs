//! KL divergence D(P‖Q) = Σ p ln(p/q), from the partials Sp, Sq and U = Σ rel_entr(p, q).
//!
//! With `normalize`: D(p/Sp ‖ q/Sq) = U/Sp + ln(Sq/Sp), one pass. Identical inputs give
//! exactly 0 (every ratio is 1 and Sq/Sp = 1).

use ndarray::{ArrayD, ArrayViewD};

use super::{
    batch_shape, check_non_negative, lane_len, same_shape, zeros_for_empty_lanes, Options,
};
use crate::error::Error;
use crate::kernels::rel_entr::{rel_entr_sums, RelEntrSums};
use crate::kernels::Real;
use crate::parallel::reduce_lane_pairs;
use crate::simd::log::ln_lane;

/// The divergence from one pair of distributions' partials.
pub fn finish(s: &RelEntrSums, opts: &Options, ln_base: f64) -> f64 {
    let nats = if opts.normalize {
        s.sum_rel_entr / s.sum_p + ln_lane(s.sum_q / s.sum_p)
    } else {
        s.sum_rel_entr
    };
    nats / ln_base
}

/// Finishes every pair of distributions (see [`finish`]).
pub fn finish_all(partials: &ArrayD<RelEntrSums>, opts: &Options, ln_base: f64) -> ArrayD<f64> {
    partials.mapv(|s| finish(&s, opts, ln_base))
}

/// KL divergence of every pair of distributions along the last axis of `p` and `q`.
pub fn kl_divergence<T: Real, U: Real>(
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
    let partials = reduce_lane_pairs(p, q, rel_entr_sums)?;
    check_non_negative("p", &partials, |s| s.min_p)?;
    check_non_negative("q", &partials, |s| s.min_q)?;
    Ok(finish_all(&partials, opts, ln_base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn known_values_and_infinities() {
        let opts = Options::default();
        let d = kl_divergence(
            arr1(&[0.5, 0.5]).into_dyn().view(),
            arr1(&[0.25, 0.75]).into_dyn().view(),
            &opts,
        )
        .unwrap();
        let want = 0.5 * (2.0f64).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!((d[[]] - want).abs() < 1e-15);
        let inf = kl_divergence(
            arr1(&[0.5, 0.5]).into_dyn().view(),
            arr1(&[1.0, 0.0]).into_dyn().view(),
            &opts,
        )
        .unwrap();
        assert_eq!(inf[[]], f64::INFINITY);
        let p = arr1(&[0.1, 0.2, 0.7f32]).into_dyn();
        assert_eq!(kl_divergence(p.view(), p.view(), &opts).unwrap()[[]], 0.0);
        let err = kl_divergence(
            arr1(&[0.5]).into_dyn().view(),
            arr1(&[-1.0]).into_dyn().view(),
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "q",
                value: -1.0
            }
        );
    }
}
