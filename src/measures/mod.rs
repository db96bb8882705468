//! The measures, one per file, each built from a slice kernel and the deterministic lane
//! reduction in [`crate::parallel`]. Inputs are strided views whose **last axis** holds
//! one distribution (the binding layer moves the user's `axis` there without copying).

pub mod bce;
pub mod calibration_error;
pub mod cross_entropy;
pub mod ensemble_uncertainty;
pub mod entropy;
pub mod from_logits;
pub mod js;
pub mod kl;
pub mod label_counting;
pub mod label_entropy;
pub mod label_keys;
pub mod label_pairs;
pub mod labels;
pub mod logsumexp;
pub mod loss_rows;
pub mod mutual_information;
pub mod nll_loss;
pub mod perplexity;
pub mod radix_sort;
pub mod ragged_loss;
pub mod ragged_options;
pub mod self_information;
pub mod smoothing;
pub mod softmax_cross_entropy;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::kernels::f32_tiles;
use crate::kernels::pairs_f32::Pairs;
use crate::kernels::plogq;
use crate::kernels::two_pass::Lowest;
use crate::kernels::Real;
use crate::parallel::output::{Finish, Fresh};
use crate::parallel::rows::{map_rows_then, map_whole, Block, RowMeasure, Rows};
use crate::parallel::run;

use crate::error::Error;
use crate::parallel::Ctx;

/// Options shared by the distribution measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Divide each distribution by its sum first (scipy.stats.entropy semantics).
    pub normalize: bool,
    /// Logarithm base; `None` for nats.
    pub base: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            normalize: true,
            base: None,
        }
    }
}

impl Options {
    /// ln(base), the divisor that converts nats to the requested unit (1 for nats).
    pub(crate) fn ln_base(&self) -> Result<f64, Error> {
        match self.base {
            None => Ok(1.0),
            Some(b) if b > 0.0 && b != 1.0 && b.is_finite() => Ok(b.ln()),
            Some(b) => Err(Error::InvalidBase { value: b }),
        }
    }
}

/// Checks that `x` has a distribution axis; returns the shape of the result.
pub(crate) fn batch_shape<T>(
    arg: &'static str,
    x: &ArrayViewD<'_, T>,
) -> Result<Vec<usize>, Error> {
    match x.shape().split_last() {
        Some((_, batch)) => Ok(batch.to_vec()),
        None => Err(Error::NoAxis { arg }),
    }
}

/// Checks that `p` and `q` have equal shapes (the binding layer has broadcast them).
pub(crate) fn same_shape<T, U>(p: &ArrayViewD<'_, T>, q: &ArrayViewD<'_, U>) -> Result<(), Error> {
    if p.shape() == q.shape() {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            first: "p",
            second: "q",
            first_shape: p.shape().to_vec(),
            second_shape: q.shape().to_vec(),
        })
    }
}

/// Rejects negative input (naming `p`, or `q` unless it is `p` itself).
pub(crate) fn checked(
    values: Vec<f64>,
    min: Lowest,
    q_name: &'static str,
) -> Result<Vec<f64>, Error> {
    if min.p < 0.0 {
        return Err(Error::Negative {
            arg: "p",
            value: min.p,
        });
    }
    if min.q < 0.0 {
        return Err(Error::Negative {
            arg: q_name,
            value: min.q,
        });
    }
    Ok(values)
}

/// A row measure over every row of `p` and `q` (the engine's
/// [`crate::parallel::rows::map_rows`]), negative input rejected and the values in the
/// unit of `opts.base`: the one body of the per-row entry points of every measure (strided
/// rows and ragged rows alike).
pub(crate) fn per_row<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    elements: usize,
    opts: &Options,
    q_name: &'static str,
) -> Result<Vec<f64>, Error> {
    per_row_then(p, q, m, elements, in_unit(opts)?, q_name)
}

/// The conversion of values in nats to the unit of `opts.base`.
pub(crate) fn in_unit(opts: &Options) -> Result<Finish, Error> {
    Ok(Finish::unit(opts.ln_base()?))
}

/// [`per_row`] with the values in nats mapped by `finish` (a unit, or e^H) on the threads
/// that computed them.
pub(crate) fn per_row_then<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &Rows<'_, T>,
    q: &Rows<'_, U>,
    m: &M,
    elements: usize,
    finish: Finish,
    q_name: &'static str,
) -> Result<Vec<f64>, Error> {
    let mut out = Fresh::new(p.n_rows());
    let min = run(elements, |ctx| {
        map_rows_then(p, q, m, ctx, &mut out, finish)
    })?;
    checked(out.into_values(), min, q_name)
}

/// [`per_row`] of the rows along the last axis, shaped as the batch axes of `p`.
pub(crate) fn per_row_of_views<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &ArrayViewD<'_, T>,
    q: &ArrayViewD<'_, U>,
    m: &M,
    opts: &Options,
    q_name: &'static str,
) -> Result<ArrayD<f64>, Error> {
    per_row_of_views_then(p, q, m, in_unit(opts)?, q_name)
}

/// [`per_row_then`] of the rows along the last axis, shaped as the batch axes of `p`.
pub(crate) fn per_row_of_views_then<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &ArrayViewD<'_, T>,
    q: &ArrayViewD<'_, U>,
    m: &M,
    finish: Finish,
    q_name: &'static str,
) -> Result<ArrayD<f64>, Error> {
    same_shape(p, q)?;
    let batch = batch_shape("p", p)?;
    let (pr, qr) = (Rows::from_view(p), Rows::from_view(q));
    let values = per_row_then(&pr, &qr, m, p.len(), finish, q_name)?;
    Ok(ArrayD::from_shape_vec(IxDyn(&batch), values).expect("one value per row"))
}

/// A row measure of `p` and `q` (equal shapes, any strides) each read whole as one
/// distribution (`axis=None`, [`map_whole`]), checked and in the unit of `opts.base`.
pub(crate) fn whole<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &ArrayViewD<'_, T>,
    q: &ArrayViewD<'_, U>,
    m: &M,
    opts: &Options,
    q_name: &'static str,
) -> Result<f64, Error> {
    same_shape(p, q)?;
    let unit = in_unit(opts)?;
    let (v, min) = run(p.len(), |ctx| map_whole(p, q, m, ctx))?;
    Ok(unit.one(checked(vec![v], min, q_name)?[0]))
}

/// [`per_row`] of one contiguous distribution each of `p` and `q` (1-D arrays read as
/// slices: the small call): the rows their 1-D views give, hence the same value bit for
/// bit, without building views or a result array.
pub(crate) fn one_contiguous<T: Real, U: Real, M: RowMeasure<T, U>>(
    p: &[T],
    q: &[U],
    m: &M,
    opts: &Options,
    q_name: &'static str,
) -> Result<f64, Error> {
    let (pr, qr) = contiguous_pair(p, q)?;
    Ok(per_row(&pr, &qr, m, p.len(), opts, q_name)?[0])
}

/// The rows of one contiguous distribution each (as their 1-D views give them), after
/// checking that `p` and `q` have one length.
pub(crate) fn contiguous_pair<'a, T: Real, U: Real>(
    p: &'a [T],
    q: &'a [U],
) -> Result<(Rows<'a, T>, Rows<'a, U>), Error> {
    if p.len() != q.len() {
        return Err(Error::ShapeMismatch {
            first: "p",
            second: "q",
            first_shape: vec![p.len()],
            second_shape: vec![q.len()],
        });
    }
    Ok((Rows::contiguous(p), Rows::contiguous(q)))
}

/// Elements between two Ctrl-C checks of the row loops: ~0.1 ms of work or less.
pub(crate) const CHECK_ELEMENTS: usize = 1 << 16;

thread_local! {
    /// Rows this thread starts before its next check (see [`RowStop::skip`]).
    static ROW_TICKS: Cell<usize> = const { Cell::new(0) };
}

/// Ctrl-C for loops over the rows of a call (sequential or in the pool): [`Ctx::stopped`]
/// is asked about every [`CHECK_ELEMENTS`] elements — once per row for long rows, once
/// every `CHECK_ELEMENTS / len` rows for short ones (asking per row would cost more than
/// a short row's own work) — and, once it said yes, every later row is skipped.
pub(crate) struct RowStop<'a> {
    call: Ctx<'a>,
    period: usize,
    stopped: AtomicBool,
}

impl<'a> RowStop<'a> {
    /// The checks of a call whose rows hold `row_len` elements each.
    pub(crate) fn new(call: Ctx<'a>, row_len: usize) -> Self {
        RowStop {
            call,
            period: (CHECK_ELEMENTS / row_len.max(1)).max(1),
            stopped: AtomicBool::new(false),
        }
    }

    /// Whether to skip the next row (the call was stopped). Its result is then
    /// discarded by [`crate::parallel::run`].
    #[inline]
    pub(crate) fn skip(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        // A countdown (no division per row); shared by this thread's loops, which only
        // shifts when the next check falls.
        let due = ROW_TICKS.with(|t| match t.get() {
            0 => {
                t.set(self.period - 1);
                true
            }
            left => {
                t.set(left.min(self.period) - 1);
                false
            }
        });
        due && self.piece()
    }

    /// Whether to stop now, between pieces of a long row (asks every time: call it once
    /// per [`CHECK_ELEMENTS`] elements).
    #[inline]
    pub(crate) fn piece(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        if self.call.stopped() {
            self.stopped.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// A measure's group form on float32 tiles over whole groups of a [`Block`] (e.g.
/// `kernels::kl_f32::adjacent`): (rows done, their smallest inputs).
type TilesForm = fn(Block<'_, f32>, Block<'_, f32>, usize, &mut [f64]) -> (usize, Lowest);

/// Two-element float32 rows of a [`Block`] in the pair kernels' terms (None for float64).
pub(crate) fn float32_pairs<T: Real>(rows: Block<'_, T>) -> Option<Pairs<'_>> {
    Some(match rows {
        Block::Rows(x) => Pairs::Interleaved(T::as_f32(x)?),
        Block::Columns { values, stride } => {
            let x = T::as_f32(values)?;
            Pairs::Columns(x, &x[stride..])
        }
    })
}

/// The engine's `RowMeasure::adjacent` for a normalised measure (None for a raw one):
/// one-element rows (value 0 where regular) straight from memory, and float32 rows of at
/// least `from` elements (None: never) that [`f32_tiles::take`] takes through the
/// measure's group form on float32 tiles (`adjacent`) — the same bits as its group form.
pub(crate) fn normalized_adjacent<T: Real, U: Real>(
    normalize: bool,
    from: Option<usize>,
    (p, q): (Block<'_, T>, Block<'_, U>),
    len: usize,
    out: &mut [f64],
    adjacent: TilesForm,
) -> Option<(usize, Lowest)> {
    if !normalize {
        return None;
    }
    if len == 1 {
        // element 0 of row r lies at [r] in both layouts
        return Some(plogq::one_element_adjacent(p.values(), q.values(), out));
    }
    if len < from? || !f32_tiles::take(len) {
        return None;
    }
    Some(adjacent(p.as_f32()?, q.as_f32()?, len, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_stop_periods_and_no_stop_without_a_request() {
        Ctx::sequential(|ctx| {
            assert_eq!(RowStop::new(ctx, 1).period, CHECK_ELEMENTS);
            assert_eq!(RowStop::new(ctx, 1000).period, CHECK_ELEMENTS / 1000);
            assert_eq!(RowStop::new(ctx, 0).period, CHECK_ELEMENTS);
            let long = RowStop::new(ctx, 10 * CHECK_ELEMENTS);
            assert_eq!(long.period, 1);
            // never asked to stop: no row is skipped, however many
            let short = RowStop::new(ctx, 3);
            assert!((0..1_000_000).all(|_| !short.skip() && !long.skip()));
            assert!(!long.piece());
        });
    }
}
