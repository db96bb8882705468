//! Jensen–Shannon divergence / distance of ragged rows (`p[offsets[r]..offsets[r+1]]`
//! against the same rows of `q`).
//!
//! Each row is reduced exactly as a lane of the dense [`super::js`] path is — the same kernels over the same fixed blocks of [`crate::parallel::BLOCK`]
//! combined by the same tree — so a ragged row gives bitwise the value of that row in a
//! dense array. An empty row gives 0.0 (an empty sum), as a dense length-0 axis does.
//! Rows run in fixed tasks (in parallel when the call is large enough); a row's value
//! depends on that row only.
//!
//! This sits beside the measure it mirrors until the row engine carries the
//! Jensen–Shannon divergence (then `js::js_divergence_ragged` replaces it, as
//! `kl::kl_divergence_ragged` replaced the KL divergence that was here).

use rayon::prelude::*;

use super::{js, Options};
use crate::error::Error;
use crate::kernels::js::{js_sums, pair_sums};
use crate::kernels::Real;
use crate::parallel::rows::{Offsets, Rows};
use crate::parallel::{reduce_blocks, run, Ctx};

/// Rows per task (see [`super::ragged_loss::ROWS_PER_TASK`]).
const ROWS_PER_TASK: usize = 1024;

/// min(0, smallest p) and min(0, smallest q) seen, NaN ignored.
#[derive(Clone, Copy)]
struct Mins(f64, f64);

impl Mins {
    fn min(self, o: Mins) -> Mins {
        let m = |a: f64, b: f64| if b < a { b } else { a };
        Mins(m(self.0, o.0), m(self.1, o.1))
    }
}

/// `f(ctx, p_row, q_row) -> (value, mins)` for every pair of ragged rows.
fn map_pairs<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    offsets: Offsets<'_>,
    f: impl Fn(Ctx<'_>, &[T], &[U]) -> (f64, Mins) + Sync,
) -> Result<Vec<f64>, Error> {
    let (pr, qr) = (Rows::ragged(p, offsets)?, Rows::ragged(q, offsets)?);
    let mut out = vec![0.0; pr.n_rows()];
    let mins = run(pr.elements(), |ctx| {
        let task = |i: usize, o: &mut [f64]| -> Mins {
            let first = i * ROWS_PER_TASK;
            let mut mins = Mins(0.0, 0.0);
            pr.for_rows(first..first + o.len(), |r, row| {
                if row.is_empty() || ctx.stopped() {
                    return;
                }
                let ps = pr.slice(row).expect("ragged rows are contiguous");
                let qs = qr.slice(qr.row(r)).expect("ragged rows are contiguous");
                let (v, m) = f(ctx, ps, qs);
                o[r - first] = v;
                mins = mins.min(m);
            });
            mins
        };
        if ctx.fork {
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .map(|(i, o)| task(i, o))
                .reduce(|| Mins(0.0, 0.0), Mins::min)
        } else {
            out.chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .map(|(i, o)| task(i, o))
                .fold(Mins(0.0, 0.0), Mins::min)
        }
    })?;
    for (arg, value) in [("p", mins.0), ("q", mins.1)] {
        if value < 0.0 {
            return Err(Error::Negative { arg, value });
        }
    }
    Ok(out)
}

/// Jensen–Shannon divergence of every pair of ragged rows (see [`super::js`]).
pub fn js_divergence_ragged<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    offsets: Offsets<'_>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    let ln_base = opts.ln_base()?;
    map_pairs(p, q, offsets, |ctx, ps, qs| {
        let (sp, sq) = if opts.normalize {
            let s = reduce_blocks(ps.len(), ctx, |r| pair_sums(&ps[r.clone()], &qs[r]));
            (s.sum_p, s.sum_q)
        } else {
            (1.0, 1.0)
        };
        let s = reduce_blocks(ps.len(), ctx, |r| js_sums(&ps[r.clone()], &qs[r], sp, sq));
        (js::finish(&s, ln_base), Mins(s.min_p, s.min_q))
    })
}

/// Jensen–Shannon distance √JS of every pair of ragged rows.
pub fn js_distance_ragged<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    offsets: Offsets<'_>,
    opts: &Options,
) -> Result<Vec<f64>, Error> {
    Ok(js_divergence_ragged(p, q, offsets, opts)?
        .into_iter()
        .map(f64::sqrt)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn ragged_rows_equal_dense_rows_bitwise() {
        let x = crate::kernels::adversarial::positive(2 * 20_000, 5);
        let (p, q) = (&x[..20_000], &x[20_000..]);
        let lengths = [0usize, 1, 2, 15, 16, 17, 64, 1000, 9000];
        let mut offsets = vec![0i32];
        for l in lengths {
            offsets.push(offsets.last().unwrap() + l as i32);
        }
        for opts in [
            Options::default(),
            Options {
                normalize: false,
                base: Some(2.0),
            },
        ] {
            let js_r = js_divergence_ragged(p, q, Offsets::I32(&offsets), &opts).unwrap();
            for (r, w) in offsets.windows(2).enumerate() {
                let (a, b) = (w[0] as usize, w[1] as usize);
                let pv = Array2::from_shape_vec((1, b - a), p[a..b].to_vec()).unwrap();
                let qv = Array2::from_shape_vec((1, b - a), q[a..b].to_vec()).unwrap();
                let want_js = js::js_divergence(pv.view().into_dyn(), qv.view().into_dyn(), &opts)
                    .unwrap()[[0]];
                assert_eq!(js_r[r].to_bits(), want_js.to_bits(), "js row {r}");
            }
        }
    }

    #[test]
    fn negative_values_are_named() {
        let p = [0.5, 0.5, 0.2];
        let q = [0.5, 0.5, -0.2];
        let err = js_divergence_ragged(&p, &q, Offsets::I64(&[0, 2, 3]), &Options::default())
            .unwrap_err();
        assert_eq!(
            err,
            Error::Negative {
                arg: "q",
                value: -0.2
            }
        );
        assert!(js_distance_ragged(&q, &p, Offsets::I64(&[0, 2, 3]), &Options::default()).is_err());
    }
}
