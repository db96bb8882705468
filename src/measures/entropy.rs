//! Shannon entropy H(P) = −Σ p ln p, from the partials S = Σp and T = Σ p ln p.
//!
//! With `normalize`, H of p/S is computed in the same single pass: H = (S ln S − T)/S.
//! Written so rather than ln S − T/S because S ln S and T are then the same rounded
//! product when one element holds all the mass (ln S is taken with the kernels' own
//! logarithm), so a certain outcome gives exactly 0.
//!
//! The one-pass form needs S ln S and the terms x ln x to be representable with full
//! precision: a distribution whose total lies outside [2^−600, 2^600] (subnormal counts,
//! or counts near overflow) is recomputed from its values scaled by an exact power of
//! two, which leaves the normalised entropy unchanged.

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, Zip};

use super::{batch_shape, check_non_negative, lane_len, zeros_for_empty_lanes, Options};
use crate::error::Error;
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::kernels::Real;
use crate::parallel::{reduce_blocks, reduce_lanes, with_slice};
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
    let last = Axis(p.ndim() - 1);
    let mut partials = reduce_lanes(p.view(), xlogx_sums)?;
    check_non_negative("p", &partials, |s| s.min)?;
    if opts.normalize {
        Zip::from(&mut partials)
            .and(p.lanes(last))
            .for_each(|s, lane| {
                if s.sum > 0.0 && !(SAFE_SUM_MIN..=SAFE_SUM_MAX).contains(&s.sum) {
                    *s = rescaled_partials(lane, s.sum);
                }
            });
    }
    Ok(finish_all(&partials, opts, ln_base))
}

/// Totals in this range keep S ln S and every x ln x far from underflow and overflow.
const SAFE_SUM_MIN: f64 = 2.409_919_865_102_884_6e-181; // 2^-600
const SAFE_SUM_MAX: f64 = 4.149_515_568_880_993e180; // 2^600

/// The partials of `lane` scaled by 2^k so that its total is near 1 (exact: a power of
/// two only moves exponents; applied as two factors, 2^k itself may not be representable).
/// Rare, so blocks are copied and run sequentially.
fn rescaled_partials<T: Real>(lane: ArrayView1<'_, T>, sum: f64) -> XLogXSums {
    let k = if sum.is_finite() {
        -(sum.log2().round() as i32)
    } else {
        // The total overflowed (or an element is +inf, which no scale fixes): every value
        // is below 2^1024, so this brings the total to at most 1.
        -(1024 + (lane.len() as f64).log2().ceil() as i32)
    };
    let (k1, k2) = (k / 2, k - k / 2);
    let (f1, f2) = (2f64.powi(k1), 2f64.powi(k2));
    crate::parallel::Ctx::sequential(|ctx| {
        reduce_blocks(lane.len(), ctx, |r| {
            with_slice(&lane, r, |x| {
                let scaled: Vec<f64> = x.iter().map(|v| v.to_f64() * f1 * f2).collect();
                xlogx_sums(&scaled)
            })
        })
    })
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
    fn subnormal_and_huge_totals_are_rescaled() {
        let h = entropy(
            arr1(&[5e-324, 5e-324]).into_dyn().view(),
            &Options::default(),
        )
        .unwrap();
        assert!((h[[]] - std::f64::consts::LN_2).abs() < 1e-15, "{}", h[[]]);
        let h = entropy(
            arr1(&[1e-310, 3e-310]).into_dyn().view(),
            &Options::default(),
        )
        .unwrap();
        let want = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((h[[]] - want).abs() < 1e-15, "{}", h[[]]);
        let h = entropy(arr1(&[1e308, 1e308]).into_dyn().view(), &Options::default()).unwrap();
        assert!((h[[]] - std::f64::consts::LN_2).abs() < 1e-15, "{}", h[[]]);
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
