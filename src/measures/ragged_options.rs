//! `from_logits=` and `smoothing=` on ragged rows ([`Rows`] over CSR / Arrow list rows):
//! the same computations, row for row, as the dense paths of [`super::from_logits`] and
//! [`super::smoothing`], so a ragged row gives the value of the same row in a dense
//! array (float64: bitwise).
//!
//! - **Logits** (entropy / perplexity / cross-entropy / KL / JS): the row engine
//!   ([`map_rows_then`]) with the dense path's own row measures ([`super::from_logits`]'s
//!   `Entropy`, `Pairwise`, `Js`) — short rows in groups of sixteen, medium rows
//!   streamed, longer ones as fixed blocks. A zero after a row's end is a logit of its
//!   own, not nothing, so these measures ask the engine for groups of rows of one length
//!   ([`crate::parallel::rows::RowMeasure::pads`] false).
//! - **Smoothing**: the row engine with the dense path's measure (`smoothing::Plus`:
//!   groups of one length whose tiles get `+ α`, longer rows read into a buffer as `x + α`
//!   for the exact per-row form).
//!
//! Rows run in fixed tasks, in parallel when the call is large enough; a row's value
//! depends on that row only (any thread count gives the same bits); Ctrl-C is checked
//! between groups or rows.

use super::from_logits::{Entropy, One, Two};
use super::smoothing::{self, Smoothed};
use crate::error::Error;
use crate::kernels::Real;
use crate::parallel::output::Fresh;
use crate::parallel::rows::{map_rows_then, IntoChecked, Rows};
use crate::parallel::run;

/// `kind` of every ragged row of logits `z[offsets[r]..offsets[r+1]]`, in the unit of
/// `ln_base` (an empty row: entropy 0, perplexity 1).
pub fn logits_one<'a, T: Real>(
    z: &'a [T],
    offsets: impl IntoChecked<'a>,
    kind: One,
    ln_base: f64,
) -> Result<Vec<f64>, Error> {
    let rows = Rows::ragged(z, offsets)?;
    let mut out = Fresh::new(rows.n_rows());
    // the dense rows' unit and exponential (`from_logits::one`), so ragged and dense rows
    // give the same bits
    let finish = kind.finish(ln_base);
    run(z.len(), |ctx| {
        map_rows_then(&rows, &rows, &Entropy, ctx, &mut out, finish)
    })?;
    let mut out = out.into_values();
    let mut r = 0;
    rows.for_rows(0..rows.n_rows(), |_, row| {
        // an empty row: entropy 0, perplexity e^0 = 1
        if row.is_empty() {
            out[r] = kind.empty();
        }
        r += 1;
    });
    Ok(out)
}

/// The pair measure `kind` of every pair of ragged rows of logits `a` and `b` (the same
/// offsets), in the unit of `ln_base` (an empty row: 0).
pub fn logits_two<'a, T: Real, U: Real>(
    a: &'a [T],
    b: &'a [U],
    offsets: impl IntoChecked<'a>,
    kind: Two,
    ln_base: f64,
) -> Result<Vec<f64>, Error> {
    let o = offsets.into_checked(a.len())?;
    let (pr, qr) = (Rows::ragged(a, o)?, Rows::ragged(b, o)?);
    super::from_logits::pair_rows(&pr, &qr, kind, a.len(), ln_base)
}

/// `kind` of every ragged row of `p` (and the same row of `q`; `q` is ignored for
/// [`Smoothed::Entropy`]), each element read as `x + alpha`, normalised; in the unit of
/// `ln_base`. Negative values are an error (checked before the pseudocount).
pub fn smoothed<'a, T: Real, U: Real>(
    p: &'a [T],
    q: &'a [U],
    offsets: impl IntoChecked<'a>,
    kind: Smoothed,
    alpha: f64,
    ln_base: f64,
) -> Result<Vec<f64>, Error> {
    let o = offsets.into_checked(p.len())?;
    let pr = Rows::ragged(p, o)?;
    let qr = match kind {
        Smoothed::Entropy => None, // q is p
        _ => Some(Rows::ragged(q, o)?),
    };
    smoothing::ragged(&pr, qr.as_ref(), kind, alpha, p.len(), ln_base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::rows::Offsets;
    use ndarray::{Array2, ArrayD};

    fn data(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) * 12.0 - 6.0
            })
            .collect()
    }

    fn same(got: f64, want: f64, what: &str) {
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{what}: {got} != {want}"
        );
    }

    /// Rows of lengths 0 … 300 (short ones of many lengths mixed, so groups are cut by
    /// length; long ones alone) give bitwise the value of each row as a dense (1, len)
    /// array through the dense `from_logits` and smoothing paths.
    #[test]
    fn ragged_rows_equal_dense_rows_bitwise() {
        let mut lengths: Vec<usize> = (0..600).map(|i| (i * 37) % 23).collect();
        lengths.extend([1, 0, 257, 300, 70, 1]);
        let mut offsets = vec![0i64];
        for &l in &lengths {
            offsets.push(offsets.last().unwrap() + l as i64);
        }
        let n = *offsets.last().unwrap() as usize;
        let mut a = data(n, 1);
        let b = data(n, 2);
        a[n / 3] = f64::NEG_INFINITY;
        a[n / 2] = 700.0;
        let pa: Vec<f64> = a.iter().map(|v| v.abs()).collect();
        let pb: Vec<f64> = b.iter().map(|v| v.abs()).collect();
        let o = Offsets::I64(&offsets);
        let ln2 = std::f64::consts::LN_2;
        let h = logits_one(&a, o, One::Entropy, ln2).unwrap();
        let pp = logits_one(&a, o, One::Perplexity, 1.0).unwrap();
        let two: Vec<(Two, Vec<f64>)> = [Two::CrossEntropy, Two::Kl, Two::Js, Two::JsDistance]
            .into_iter()
            .map(|k| (k, logits_two(&a, &b, o, k, 1.0).unwrap()))
            .collect();
        let kinds = [
            Smoothed::Entropy,
            Smoothed::Kl,
            Smoothed::Js,
            Smoothed::CrossEntropy,
        ];
        let sm: Vec<(Smoothed, Vec<f64>)> = kinds
            .into_iter()
            .map(|k| (k, smoothed(&pa, &pb, o, k, 0.5, ln2).unwrap()))
            .collect();
        for (r, w) in offsets.windows(2).enumerate() {
            let (s, e) = (w[0] as usize, w[1] as usize);
            let row = |x: &[f64]| -> ArrayD<f64> {
                Array2::from_shape_vec((1, e - s), x[s..e].to_vec())
                    .unwrap()
                    .into_dyn()
            };
            let (ra, rb) = (row(&a), row(&b));
            let what = |m: &str| format!("{m} row {r} (length {})", e - s);
            same(
                h[r],
                crate::measures::from_logits::one(ra.view(), One::Entropy, ln2).unwrap()[[0]],
                &what("entropy"),
            );
            same(
                pp[r],
                crate::measures::from_logits::one(ra.view(), One::Perplexity, 1.0).unwrap()[[0]],
                &what("perplexity"),
            );
            for (k, v) in &two {
                let want =
                    crate::measures::from_logits::two(ra.view(), rb.view(), *k, 1.0).unwrap()[[0]];
                same(v[r], want, &what(&format!("{k:?}")));
            }
            let (sa, sb) = (row(&pa), row(&pb));
            for (k, v) in &sm {
                let want = crate::measures::smoothing::rows(sa.view(), sb.view(), *k, 0.5, ln2)
                    .unwrap()[[0]];
                same(v[r], want, &what(&format!("smoothed {k:?}")));
            }
        }
    }

    #[test]
    fn float32_logits_and_bad_input() {
        let offsets = [0i32, 3, 3, 5];
        let z = [1.0f32, 2.0, 3.0, -1.0, 0.5];
        let h = logits_one(&z, Offsets::I32(&offsets), One::Entropy, 1.0).unwrap();
        assert_eq!(h[1], 0.0);
        let dense = ndarray::arr2(&[[1.0f32, 2.0, 3.0]]).into_dyn();
        same(
            h[0],
            crate::measures::from_logits::one(dense.view(), One::Entropy, 1.0).unwrap()[[0]],
            "f32",
        );
        assert!(logits_one(&z, Offsets::I32(&[0, 6]), One::Entropy, 1.0).is_err());
        let neg = [0.5f64, -0.1, 0.2];
        let err = smoothed(
            &neg,
            &neg,
            Offsets::I32(&[0, 3]),
            Smoothed::Entropy,
            1.0,
            1.0,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Negative { arg: "p", .. }));
        let err =
            smoothed(&z[..3], &neg, Offsets::I32(&[0, 3]), Smoothed::Kl, 1.0, 1.0).unwrap_err();
        assert!(matches!(err, Error::Negative { arg: "q", .. }));
        assert!(smoothed(&z, &z, Offsets::I32(&offsets), Smoothed::Kl, -1.0, 1.0).is_err());
    }
}
