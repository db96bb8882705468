//! Shannon entropy H(P) = −Σ P ln P: the cross-entropy H(P, P), computed by the same code
//! (see [`super::cross_entropy`] and [`crate::kernels::plogq`]), so every row is exact —
//! a dominant mass keeps its tiny entropy to full relative precision, totals from
//! subnormal to overflowing are rescaled by exact powers of two — and
//! `cross_entropy(p, p)` equals `entropy(p)` bit for bit.

use ndarray::{ArrayD, ArrayViewD};

use super::cross_entropy::CrossEntropy;
use super::Options;
use super::{one_contiguous, per_row, per_row_of_views, whole};
use crate::error::Error;
use crate::kernels::Real;
use crate::parallel::rows::{IntoChecked, Rows};

/// Entropy of every distribution along the last axis of `p`.
pub fn entropy<T: Real>(p: ArrayViewD<'_, T>, opts: &Options) -> Result<ArrayD<f64>, Error> {
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    per_row_of_views(&p, &p, &m, opts, "p")
}

/// Entropy of the whole of `p` (any shape, any strides) as one distribution, without
/// copying it (`axis=None`).
pub fn entropy_whole<T: Real>(p: ArrayViewD<'_, T>, opts: &Options) -> Result<f64, Error> {
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    whole(&p, &p, &m, opts, "p")
}

/// Entropy of one contiguous distribution (a 1-D array as a slice; see [`super::one_contiguous`]).
pub fn entropy_contiguous<T: Real>(p: &[T], opts: &Options) -> Result<f64, Error> {
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    one_contiguous(p, p, &m, opts, "p")
}

/// Entropy of ragged rows `p[offsets[r]..offsets[r+1]]`.
pub fn entropy_ragged<'a, T: Real>(
    p: &'a [T],
    offsets: impl IntoChecked<'a>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    let rows = Rows::ragged(p, offsets)?;
    let m = CrossEntropy {
        normalize: opts.normalize,
    };
    per_row(&rows, &rows, &m, p.len(), opts, "p")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, Array1};

    fn h(x: &[f64]) -> f64 {
        entropy(arr1(x).into_dyn().view(), &Options::default()).unwrap()[[]]
    }

    #[test]
    fn known_values() {
        assert_eq!(h(&[0.5, 0.5]), std::f64::consts::LN_2);
        let opts = Options {
            normalize: true,
            base: Some(2.0),
        };
        let v = entropy(
            arr2(&[[1.0f32, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]])
                .into_dyn()
                .view(),
            &opts,
        )
        .unwrap();
        assert_eq!(v.into_raw_vec_and_offset().0, vec![2.0, 0.0]);
    }

    #[test]
    fn a_certain_outcome_has_exactly_zero_entropy() {
        let mut state = 7u64;
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = f64::from_bits(0x0010_0000_0000_0000 + (state >> 12) % 0x7fd0_0000_0000_0000);
            let mut row = vec![0.0; 37];
            row[(state % 37) as usize] = v;
            assert_eq!(h(&row), 0.0, "one mass of {v:e}");
        }
    }

    #[test]
    fn every_row_length_and_path_agrees() {
        // short (vertical), medium (two-pass) and long (one-pass) rows of the same values
        for n in [1usize, 2, 3, 15, 16, 17, 64, 65, 1000, 40_000, 100_000] {
            let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64 + 0.25).collect();
            let want = crate::kernels::plogq::reference(&x, &x);
            let got = h(&x);
            assert!(
                ((got - want) / want.max(1e-300)).abs() < 1e-13,
                "n={n}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn long_confident_distributions_keep_their_remainder() {
        // one read (> medium length) of a dominant mass and a remainder below the rounding
        // of the total: the one-pass finish must not lose it (float64: ln max +
        // log1p(rest/max); float32: pass 2; see plogq's test of rows)
        for n in [40_000usize, 100_000] {
            for r in [1e-30, 1e-20, 1e-12] {
                let (row_of, _, want) = crate::kernels::adversarial::confident(n, r);
                let got = h(&row_of(1.0));
                assert!(
                    ((got - want) / want).abs() < 1e-13,
                    "n={n} r={r:e}: {got:e} vs {want:e}"
                );
                let r32 = f64::from(r as f32);
                let (row_of, _, want) = crate::kernels::adversarial::confident(n, r32);
                let x32: Vec<f32> = row_of(1.0).iter().map(|&v| v as f32).collect();
                let got = entropy_contiguous(&x32, &Options::default()).unwrap();
                assert!(
                    ((got - want) / want).abs() < 1e-6,
                    "f32 n={n} r={r:e}: {got:e} vs {want:e}"
                );
            }
        }
    }

    #[test]
    fn whole_array_equals_the_flattened_array() {
        let a = ndarray::Array3::from_shape_fn((7, 5, 300), |(i, j, k)| {
            ((i * 31 + j * 7 + k) % 13) as f64
        });
        let flat: Array1<f64> = a.iter().copied().collect();
        let want = entropy(flat.view().into_dyn(), &Options::default()).unwrap()[[]];
        for v in [
            a.view().into_dyn(),
            a.t().into_dyn(),
            a.slice(ndarray::s![..;-1, .., ..;-1]).into_dyn(),
        ] {
            let got = entropy_whole(v, &Options::default()).unwrap();
            assert!(((got - want) / want).abs() < 1e-14, "{got} vs {want}");
        }
    }

    #[test]
    fn edge_cases() {
        let empty = ndarray::Array2::<f64>::zeros((3, 0));
        let v = entropy(empty.view().into_dyn(), &Options::default()).unwrap();
        assert_eq!(v.shape(), &[3]);
        assert!(v.iter().all(|&x| x == 0.0));
        assert!(h(&[0.0, 0.0]).is_nan());
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
