//! Shannon entropy H(P) = −Σ p ln p, from the partials S = Σp and T = Σ p ln p.
//!
//! With `normalize`, H of p/S is computed in the same single pass: H = (S ln S − T)/S.
//! Written so rather than ln S − T/S because S ln S and T are then the same rounded
//! product when one element holds all the mass (ln S is taken with the kernels' own
//! logarithm), so a certain outcome gives exactly 0.

use ndarray::{ArrayD, ArrayViewD, Zip};

use super::{batch_shape, check_non_negative, lane_len, zeros_for_empty_lanes, Options};
use crate::error::Error;
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::kernels::Real;
use crate::parallel::reduce_lanes;
use crate::simd::log::ln_finite_each;

/// The entropy from one distribution's partials; `ln_sum` is ln S computed by
/// [`ln_finite_each`], the logarithm of the kernels' x·ln x terms.
pub fn finish(s: &XLogXSums, ln_sum: f64, opts: &Options, ln_base: f64) -> f64 {
    let nats = if opts.normalize {
        (s.sum * ln_sum - s.sum_xlogx) / s.sum
    } else {
        0.0 - s.sum_xlogx
    };
    nats / ln_base
}

/// Finishes every distribution: ln S for all of them in one vector pass, then [`finish`].
pub fn finish_all(partials: &ArrayD<XLogXSums>, opts: &Options, ln_base: f64) -> ArrayD<f64> {
    let sums: Vec<f64> = partials.iter().map(|s| s.sum).collect();
    let ln_sums = ArrayD::from_shape_vec(partials.raw_dim(), ln_finite_each(&sums))
        .expect("one ln per partial");
    Zip::from(partials)
        .and(&ln_sums)
        .map_collect(|s, &l| finish(s, l, opts, ln_base))
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
    Ok(finish_all(&partials, opts, ln_base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn known_values() {
        let h = entropy(arr1(&[0.5, 0.5]).into_dyn().view(), &Options::default()).unwrap();
        assert_eq!(h.into_raw_vec_and_offset().0, vec![std::f64::consts::LN_2]);
        let opts = Options {
            normalize: true,
            base: Some(2.0),
        };
        let h = entropy(
            arr2(&[[1.0f32, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]])
                .into_dyn()
                .view(),
            &opts,
        )
        .unwrap();
        assert_eq!(h.into_raw_vec_and_offset().0, vec![2.0, 0.0]);
    }

    #[test]
    fn a_certain_outcome_has_exactly_zero_entropy() {
        let mut state = 7u64;
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = f64::from_bits(0x3000_0000_0000_0000 + (state >> 12) % 0x2000_0000_0000_0000);
            let mut row = vec![0.0; 37];
            row[(state % 37) as usize] = v;
            let h = entropy(arr1(&row).into_dyn().view(), &Options::default()).unwrap();
            assert_eq!(h[[]], 0.0, "one mass of {v:e}");
        }
    }

    #[test]
    fn edge_cases() {
        let empty = ndarray::Array2::<f64>::zeros((3, 0));
        assert_eq!(
            entropy(empty.view().into_dyn(), &Options::default())
                .unwrap()
                .shape(),
            &[3]
        );
        let zero = entropy(arr1(&[0.0, 0.0]).into_dyn().view(), &Options::default()).unwrap();
        assert!(zero[[]].is_nan());
        let err = entropy(arr1(&[0.5, -0.5]).into_dyn().view(), &Options::default()).unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "p",
                value: -0.5
            }
        );
        let bad = Options {
            normalize: true,
            base: Some(1.0),
        };
        assert!(entropy(arr1(&[1.0]).into_dyn().view(), &bad).is_err());
    }
}
