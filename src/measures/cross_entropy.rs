//! Cross-entropy H(P,Q) = −Σ p ln q, from the partials Sp, Sq and V = Σ p ln q.
//!
//! With `normalize`: H(p/Sp, q/Sq) = ln Sq − V/Sp, one pass.

use ndarray::{ArrayD, ArrayViewD};

use super::{
    batch_shape, check_non_negative, lane_len, same_shape, zeros_for_empty_lanes, Options,
};
use crate::error::Error;
use crate::kernels::cross::{cross_sums, CrossSums};
use crate::kernels::Real;
use crate::parallel::reduce_lane_pairs;
use crate::simd::log::ln_lane;

/// The cross-entropy from one pair of distributions' partials.
pub fn finish(s: &CrossSums, opts: &Options, ln_base: f64) -> f64 {
    let nats = if opts.normalize {
        ln_lane(s.sum_q) - s.sum_plogq / s.sum_p
    } else {
        0.0 - s.sum_plogq
    };
    nats / ln_base
}

/// Finishes every pair of distributions (see [`finish`]).
pub fn finish_all(partials: &ArrayD<CrossSums>, opts: &Options, ln_base: f64) -> ArrayD<f64> {
    partials.mapv(|s| finish(&s, opts, ln_base))
}

/// Cross-entropy of every pair of distributions along the last axis of `p` and `q`.
pub fn cross_entropy<T: Real, U: Real>(
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
    let partials = reduce_lane_pairs(p, q, cross_sums)?;
    check_non_negative("p", &partials, |s| s.min_p)?;
    check_non_negative("q", &partials, |s| s.min_q)?;
    Ok(finish_all(&partials, opts, ln_base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn seed_example_is_minus_ln_point_four() {
        let h = cross_entropy(
            arr1(&[0.0, 0.0, 1.0]).into_dyn().view(),
            arr1(&[0.3, 0.3, 0.4]).into_dyn().view(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(h[[]], 0.916290731874155);
    }

    #[test]
    fn zero_q_under_positive_p_is_infinite() {
        let h = cross_entropy(
            arr1(&[0.5, 0.5]).into_dyn().view(),
            arr1(&[1.0, 0.0]).into_dyn().view(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(h[[]], f64::INFINITY);
    }
}
