//! Shannon entropy H(P) = −Σ p ln p, from the partials S = Σp and T = Σ p ln p.
//!
//! With `normalize`, H of p/S is computed in the same single pass: H = (S ln S − T)/S.
//! Written so rather than ln S − T/S because S ln S and T are then the same rounded
//! product when one element holds all the mass, so a certain outcome gives exactly 0.

use ndarray::{ArrayD, ArrayViewD};

use super::{batch_shape, check_non_negative, lane_len, zeros_for_empty_lanes, Options};
use crate::error::Error;
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::kernels::Real;
use crate::parallel::reduce_lanes;
use crate::simd::log::ln_lane;

/// The entropy from one distribution's partials.
pub fn finish(s: &XLogXSums, opts: &Options, ln_base: f64) -> f64 {
    let nats = if opts.normalize { (s.sum * ln_lane(s.sum) - s.sum_xlogx) / s.sum } else { -s.sum_xlogx };
    nats / ln_base
}

/// Entropy of every distribution along the last axis of `p`.
pub fn entropy<T: Real>(p: ArrayViewD<'_, T>, opts: &Options) -> Result<ArrayD<f64>, Error> {
    let batch = batch_shape("p", &p)?;
    let ln_base = opts.ln_base()?;
    if lane_len(&p) == 0 {
        return Ok(zeros_for_empty_lanes(&batch));
    }
    let partials = reduce_lanes(p, xlogx_sums);
    check_non_negative("p", &partials, |s| s.min)?;
    Ok(partials.mapv(|s| finish(&s, opts, ln_base)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn known_values() {
        let h = entropy(arr1(&[0.5, 0.5]).into_dyn().view(), &Options::default()).unwrap();
        assert_eq!(h.into_raw_vec_and_offset().0, vec![std::f64::consts::LN_2]);
        let opts = Options { normalize: true, base: Some(2.0) };
        let h = entropy(arr2(&[[1.0f32, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]]).into_dyn().view(), &opts).unwrap();
        assert_eq!(h.into_raw_vec_and_offset().0, vec![2.0, 0.0]);
    }

    #[test]
    fn edge_cases() {
        let empty = ndarray::Array2::<f64>::zeros((3, 0));
        assert_eq!(entropy(empty.view().into_dyn(), &Options::default()).unwrap().shape(), &[3]);
        let zero = entropy(arr1(&[0.0, 0.0]).into_dyn().view(), &Options::default()).unwrap();
        assert!(zero[[]].is_nan());
        let err = entropy(arr1(&[0.5, -0.5]).into_dyn().view(), &Options::default()).unwrap_err();
        assert_eq!(err, Error::Negative { arg: "p", value: -0.5 });
        let bad = Options { normalize: true, base: Some(1.0) };
        assert!(entropy(arr1(&[1.0]).into_dyn().view(), &bad).is_err());
    }
}
