//! Perplexity PP(P) = e^H(P) with H in nats: the effective number of equally likely
//! outcomes. In any base b, b^H_b(P) = e^H(P), so the value does not depend on the unit;
//! computing e^H from the entropy in nats avoids the rounding of a base round trip.

use ndarray::{ArrayD, ArrayViewD};

use super::cross_entropy::CrossEntropy;
use super::{per_row_of_views_then, per_row_then, Options};
use crate::error::Error;
use crate::kernels::Real;
use crate::parallel::output::Finish;
use crate::parallel::rows::Rows;

/// Perplexity of every distribution along the last axis of `p` (`opts.base` is validated
/// but does not change the result; an empty distribution gives e^0 = 1).
pub fn perplexity<T: Real>(p: ArrayViewD<'_, T>, opts: &Options) -> Result<ArrayD<f64>, Error> {
    opts.ln_base()?;
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    per_row_of_views_then(&p, &p, &m, Finish::Exp, "p")
}

/// e^x of one value by the same vector code as [`Finish::Exp`] (the per-row forms map
/// their chunks of entropies with it), so a row's perplexity has the same bits in every
/// layout (libm's `exp` differs from it by up to an ULP).
pub(crate) fn exp_one(x: f64) -> f64 {
    Finish::Exp.one(x)
}

/// Perplexity of the whole of `p` as one distribution (`axis=None`), in place.
pub fn perplexity_whole<T: Real>(p: ArrayViewD<'_, T>, opts: &Options) -> Result<f64, Error> {
    opts.ln_base()?;
    let nats = super::entropy::entropy_whole(
        p,
        &Options {
            normalize: opts.normalize,
            base: None,
        },
    )?;
    Ok(exp_one(nats))
}

/// Perplexity of ragged rows `p[offsets[r]..offsets[r+1]]`.
pub fn perplexity_ragged<'a, T: Real>(
    p: &'a [T],
    offsets: impl crate::parallel::rows::IntoChecked<'a>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    opts.ln_base()?;
    let rows = Rows::ragged(p, offsets)?;
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    per_row_then(&rows, &rows, &m, p.len(), Finish::Exp, "p")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn finished_chunks_equal_the_values_mapped_one_by_one() {
        // many chunks of short rows (the finish runs per chunk, on the pool): perplexity is
        // exp_one of the entropy in nats and bits are nats / ln 2, bit for bit
        let (rows, c) = (200_000usize, 3usize);
        let values: Vec<f64> = (0..rows * c)
            .map(|i| ((i * 7919) % 1009) as f64 * 1e-3 + (i % 5) as f64 * 1e-9)
            .collect();
        let p = ndarray::Array2::from_shape_vec((rows, c), values)
            .unwrap()
            .into_dyn();
        let nats = crate::measures::entropy::entropy(p.view(), &Options::default()).unwrap();
        let pp = perplexity(p.view(), &Options::default()).unwrap();
        let bits = crate::measures::entropy::entropy(
            p.view(),
            &Options {
                normalize: true,
                base: Some(2.0),
            },
        )
        .unwrap();
        let ln2 = 2f64.ln();
        for ((h, v), b) in nats.iter().zip(pp.iter()).zip(bits.iter()) {
            assert_eq!(v.to_bits(), exp_one(*h).to_bits(), "e^{h}");
            assert_eq!(b.to_bits(), (h / ln2).to_bits(), "{h} / ln 2");
        }
    }

    #[test]
    fn uniform_distributions_have_their_size_as_perplexity() {
        for k in [1usize, 2, 4, 10] {
            let p = ndarray::Array1::from_elem(k, 1.0f64).into_dyn();
            let v = perplexity(
                p.view(),
                &Options {
                    normalize: true,
                    base: Some(2.0),
                },
            )
            .unwrap()[[]];
            assert!((v - k as f64).abs() < 1e-13 * k as f64, "{k}: {v}");
        }
        assert_eq!(
            perplexity(arr1(&[0.0, 3.0]).into_dyn().view(), &Options::default()).unwrap()[[]],
            1.0
        );
        assert!(perplexity(
            arr1(&[1.0]).into_dyn().view(),
            &Options {
                normalize: true,
                base: Some(-1.0)
            }
        )
        .is_err());
    }
}
