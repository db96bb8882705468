//! A measure for every row of a column chunk ([`ListView`]), or of two chunks read in
//! step (`p` and `q`, rows of equal lengths), with one class label per row for the loss.
//!
//! Where each row is read:
//! - **Rows without nulls are read in place.** Ragged rows go to the measures' ragged
//!   entry points (`entropy_ragged`, …: the row engine, which groups short rows into
//!   vertical SIMD groups whatever their lengths), fixed-size rows to the dense measures
//!   as an `(rows, width)` view. Two ragged inputs whose offsets differ only by a
//!   constant (sliced arrays, different producers) share one offsets array: the other
//!   input's values are re-based by that constant, not copied.
//! - **Null rows give NaN** (reported to the caller, which may leave them out of a mean).
//!   An Arrow null row's values are arbitrary (the format allows a null row to span
//!   garbage), so they are never read.
//! - **Null values are left out**: they count as 0 (a probability or count) or −inf (a
//!   logit), as `numpy.ma` masked elements do in the dense functions; for `p` and `q`, a
//!   value null in either is left out of both.
//!
//! Rows with nulls are copied — only they, and short runs of clean rows between them —
//! into batches of at most [`COPY_BATCH`] values, so the extra memory stays bounded;
//! runs of clean rows of at least [`IN_PLACE_MIN`] values are read in place. A row's
//! value does not depend on which of the two paths read it (both call the same measure
//! on the same values in the same type).

use ndarray::ArrayView2;

use super::{offset_at, Layout, ListView, Values};
use crate::error::Error;
use crate::kernels::Real;
use crate::measures::{
    cross_entropy, entropy, js, kl, perplexity, ragged_divergences, ragged_loss, Options,
};
use crate::parallel::rows::{Offsets, Rows};

/// Clean runs at least this long (in values) are read in place; shorter ones are copied
/// along with the rows with nulls around them (a call per short run would cost more).
pub const IN_PLACE_MIN: usize = 1 << 12;

/// Values per copied batch of rows with nulls (64 Ki values: 512 KiB of float64).
pub const COPY_BATCH: usize = 1 << 16;

/// The measures computed per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Shannon entropy of `p`.
    Entropy,
    /// exp of the entropy (nats) of `p`.
    Perplexity,
    /// H(P, Q).
    CrossEntropy,
    /// D(P‖Q).
    KlDivergence,
    /// JS(P, Q).
    JsDivergence,
    /// √JS(P, Q).
    JsDistance,
    /// log Σ exp of `p` (logits).
    LogSumExp,
    /// logsumexp(z) − z_y with one label per row.
    SoftmaxCrossEntropy,
}

impl Measure {
    /// The measure called `name` (the Python function's name).
    pub fn parse(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "entropy" => Measure::Entropy,
            "perplexity" => Measure::Perplexity,
            "cross_entropy" => Measure::CrossEntropy,
            "kl_divergence" => Measure::KlDivergence,
            "js_divergence" => Measure::JsDivergence,
            "js_distance" => Measure::JsDistance,
            "logsumexp" => Measure::LogSumExp,
            "softmax_cross_entropy" => Measure::SoftmaxCrossEntropy,
            other => {
                return Err(Error::InvalidOption {
                    arg: "measure",
                    value: other.to_string(),
                    expected: "entropy, perplexity, cross_entropy, kl_divergence, js_divergence, js_distance, logsumexp, softmax_cross_entropy",
                })
            }
        })
    }

    /// Whether the measure reads a second distribution `q`.
    pub fn takes_q(&self) -> bool {
        matches!(
            self,
            Measure::CrossEntropy
                | Measure::KlDivergence
                | Measure::JsDivergence
                | Measure::JsDistance
        )
    }

    /// Whether the measure reads one label per row.
    pub fn takes_labels(&self) -> bool {
        matches!(self, Measure::SoftmaxCrossEntropy)
    }

    /// The value a null element takes: left out of a sum of probabilities (0) or of
    /// exponentials (−inf).
    fn fill(&self) -> f64 {
        match self {
            Measure::LogSumExp | Measure::SoftmaxCrossEntropy => f64::NEG_INFINITY,
            _ => 0.0,
        }
    }
}

/// What to compute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// The measure.
    pub measure: Measure,
    /// `base` and `normalize` of the distribution measures.
    pub opts: Options,
    /// The label that marks a row to ignore (loss 0).
    pub ignore_index: i64,
}

/// The float types a column holds, read out of [`Values`].
pub trait ColumnReal: Real {
    /// The values, if they are of this type.
    fn of<'a>(v: &Values<'a>) -> Option<&'a [Self]>;
    /// A typed slice as [`Values`].
    fn values(s: &[Self]) -> Values<'_>;
}

impl ColumnReal for f32 {
    fn of<'a>(v: &Values<'a>) -> Option<&'a [f32]> {
        match v {
            Values::F32(s) => Some(s),
            Values::F64(_) => None,
        }
    }
    fn values(s: &[f32]) -> Values<'_> {
        Values::F32(s)
    }
}

impl ColumnReal for f64 {
    fn of<'a>(v: &Values<'a>) -> Option<&'a [f64]> {
        match v {
            Values::F64(s) => Some(s),
            Values::F32(_) => None,
        }
    }
    fn values(s: &[f64]) -> Values<'_> {
        Values::F64(s)
    }
}

/// Computes `spec` for every row of `p` (with `q` and `labels` where the measure takes
/// them) into `out` (one slot per row). Null rows give NaN and are appended to `nulls`
/// as `first_row + r`; errors name rows as `first_row + r` too (`first_row` is the index
/// of the chunk's first row in the whole column).
pub fn apply(
    spec: &Spec,
    p: &ListView<'_>,
    q: Option<&ListView<'_>>,
    labels: Option<&[i64]>,
    first_row: usize,
    out: &mut [f64],
    nulls: &mut Vec<usize>,
) -> Result<(), Error> {
    assert_eq!(out.len(), p.rows, "one output slot per row");
    p.validate()?;
    if let Some(q) = q {
        q.validate()?;
        if q.rows != p.rows {
            return Err(Error::RowCount {
                first: "p",
                second: "q",
                first_rows: p.rows,
                second_rows: q.rows,
            });
        }
        for r in 0..p.rows {
            let (a, b) = (p.row_len(r), q.row_len(r));
            if a != b && !p.is_null(r) && !q.is_null(r) {
                return Err(Error::RowLengths {
                    row: first_row + r,
                    p_len: a,
                    q_len: b,
                });
            }
        }
    }
    if let Some(labels) = labels {
        if labels.len() != p.rows {
            return Err(Error::RowCount {
                first: "logits",
                second: "target",
                first_rows: p.rows,
                second_rows: labels.len(),
            });
        }
    }
    let job = Job {
        spec,
        labels,
        first_row,
    };
    match (p.values, q.map(|q| q.values)) {
        (Values::F32(_), None | Some(Values::F32(_))) => job.typed::<f32, f32>(p, q, out, nulls),
        (Values::F32(_), Some(Values::F64(_))) => job.typed::<f32, f64>(p, q, out, nulls),
        (Values::F64(_), None | Some(Values::F64(_))) => job.typed::<f64, f64>(p, q, out, nulls),
        (Values::F64(_), Some(Values::F32(_))) => job.typed::<f64, f32>(p, q, out, nulls),
    }
}

/// The parts of a call shared by every piece of a chunk.
struct Job<'j> {
    spec: &'j Spec,
    labels: Option<&'j [i64]>,
    first_row: usize,
}

/// Rows with nulls, copied (see the module docs).
struct Batch<T, U> {
    /// The chunk row of the batch's first row.
    start: usize,
    rows: usize,
    p: Vec<T>,
    q: Vec<U>,
    offsets: Vec<i64>,
    labels: Vec<i64>,
    /// Null rows, as chunk rows.
    nulls: Vec<usize>,
}

impl<T: ColumnReal, U: ColumnReal> Batch<T, U> {
    fn new(start: usize) -> Self {
        Batch {
            start,
            rows: 0,
            p: Vec::new(),
            q: Vec::new(),
            offsets: vec![0],
            labels: Vec::new(),
            nulls: Vec::new(),
        }
    }
}

impl Job<'_> {
    fn typed<T: ColumnReal, U: ColumnReal>(
        &self,
        p: &ListView<'_>,
        q: Option<&ListView<'_>>,
        out: &mut [f64],
        nulls: &mut Vec<usize>,
    ) -> Result<(), Error> {
        if p.has_no_nulls() && q.is_none_or(|q| q.has_no_nulls()) {
            return self.clean::<T, U>(p, q, self.labels, 0, out);
        }
        let clean = |r: usize| p.is_clean(r) && q.is_none_or(|q| q.is_clean(r));
        let mut batch = Batch::<T, U>::new(0);
        let mut r = 0;
        while r < p.rows {
            if clean(r) {
                let (a, mut values) = (r, 0);
                while r < p.rows && clean(r) {
                    values += p.row_len(r);
                    r += 1;
                }
                if values >= IN_PLACE_MIN {
                    self.flush(&mut batch, out, nulls)?;
                    let (ps, qs) = (p.slice_rows(a..r), q.map(|q| q.slice_rows(a..r)));
                    let labels = self.labels.map(|l| &l[a..r]);
                    self.clean::<T, U>(&ps, qs.as_ref(), labels, a, &mut out[a..r])?;
                    batch = Batch::new(r);
                    continue;
                }
                for row in a..r {
                    self.push(&mut batch, p, q, row);
                }
            } else {
                self.push(&mut batch, p, q, r);
                r += 1;
            }
            if batch.p.len() >= COPY_BATCH {
                self.flush(&mut batch, out, nulls)?;
                batch = Batch::new(r);
            }
        }
        self.flush(&mut batch, out, nulls)
    }

    /// Appends chunk row `r` to `batch`: empty when null, its values with the null ones
    /// filled otherwise.
    fn push<T: ColumnReal, U: ColumnReal>(
        &self,
        batch: &mut Batch<T, U>,
        p: &ListView<'_>,
        q: Option<&ListView<'_>>,
        r: usize,
    ) {
        batch.rows += 1;
        let label = self.labels.map_or(self.spec.ignore_index, |l| l[r]);
        if p.is_null(r) || q.is_some_and(|q| q.is_null(r)) {
            batch.nulls.push(r);
            batch.offsets.push(batch.p.len() as i64);
            batch.labels.push(self.spec.ignore_index);
            return;
        }
        let fill = self.spec.measure.fill();
        let pv = T::of(&p.values).expect("dispatched on p's type");
        let pr = p.row_range(r);
        let valid_p = |i: usize| p.value_valid.is_none_or(|b| b.get(i));
        match q {
            None => batch
                .p
                .extend(pr.map(|i| if valid_p(i) { pv[i] } else { T::from_f64(fill) })),
            Some(q) => {
                let qv = U::of(&q.values).expect("dispatched on q's type");
                let qr = q.row_range(r);
                for (i, j) in pr.zip(qr) {
                    let ok = valid_p(i) && q.value_valid.is_none_or(|b| b.get(j));
                    batch.p.push(if ok { pv[i] } else { T::from_f64(fill) });
                    batch.q.push(if ok { qv[j] } else { U::from_f64(fill) });
                }
            }
        }
        batch.offsets.push(batch.p.len() as i64);
        batch.labels.push(label);
    }

    /// Computes the batch's rows into their slots of `out` (NaN for null rows).
    fn flush<T: ColumnReal, U: ColumnReal>(
        &self,
        batch: &mut Batch<T, U>,
        out: &mut [f64],
        nulls: &mut Vec<usize>,
    ) -> Result<(), Error> {
        if batch.rows == 0 {
            return Ok(());
        }
        let (start, n) = (batch.start, batch.rows);
        let offsets = Offsets::I64(&batch.offsets);
        let p = ListView::ragged(T::values(&batch.p), offsets)?;
        let q = if self.spec.measure.takes_q() {
            Some(ListView::ragged(U::values(&batch.q), offsets)?)
        } else {
            None
        };
        let labels = self.labels.map(|_| &batch.labels[..]);
        self.clean::<T, U>(&p, q.as_ref(), labels, start, &mut out[start..start + n])?;
        for &r in &batch.nulls {
            out[r] = f64::NAN;
            nulls.push(self.first_row + r);
        }
        Ok(())
    }

    /// Computes rows without nulls: chunk rows `at..` (`at` names rows in errors), with
    /// their `labels`.
    fn clean<T: ColumnReal, U: ColumnReal>(
        &self,
        p: &ListView<'_>,
        q: Option<&ListView<'_>>,
        labels: Option<&[i64]>,
        at: usize,
        out: &mut [f64],
    ) -> Result<(), Error> {
        let (spec, rows) = (self.spec, p.rows);
        let pv = T::of(&p.values).expect("dispatched on p's type");
        let result = match q {
            None => match p.layout {
                Layout::Offsets(o) => one_ragged(spec, pv, o, labels),
                Layout::Fixed(w) => one_fixed(spec, &pv[..rows * w], rows, w, labels),
            },
            Some(q) => {
                let qv = U::of(&q.values).expect("dispatched on q's type");
                match (p.layout, q.layout) {
                    (Layout::Fixed(a), Layout::Fixed(b)) if a == b => {
                        pair_fixed(spec, &pv[..rows * a], &qv[..rows * a], rows, a)
                    }
                    (pl, ql) => {
                        // Rows of equal lengths (checked): one offsets array serves both,
                        // the other side's values re-based by the difference of starts.
                        let pf: Vec<i64>;
                        let qf: Vec<i64>;
                        let po = match pl {
                            Layout::Offsets(o) => o,
                            Layout::Fixed(w) => {
                                pf = fixed_offsets(rows, w);
                                Offsets::I64(&pf)
                            }
                        };
                        let qo = match ql {
                            Layout::Offsets(o) => o,
                            Layout::Fixed(w) => {
                                qf = fixed_offsets(rows, w);
                                Offsets::I64(&qf)
                            }
                        };
                        let d = offset_at(&qo, 0) - offset_at(&po, 0);
                        if d >= 0 {
                            pair_ragged(spec, pv, &qv[d as usize..], po)
                        } else {
                            pair_ragged(spec, &pv[(-d) as usize..], qv, qo)
                        }
                    }
                }
            }
        };
        let values = result.map_err(|e| match e {
            Error::RaggedLabel { label, row, len } => Error::RaggedLabel {
                label,
                row: self.first_row + at + row,
                len,
            },
            e => e,
        })?;
        out.copy_from_slice(&values);
        Ok(())
    }
}

/// Offsets `0, w, 2w, …` of `rows` fixed-size rows.
fn fixed_offsets(rows: usize, w: usize) -> Vec<i64> {
    (0..=rows).map(|r| (r * w) as i64).collect()
}

/// A one-input measure of ragged rows.
fn one_ragged<T: ColumnReal>(
    spec: &Spec,
    p: &[T],
    o: Offsets<'_>,
    labels: Option<&[i64]>,
) -> Result<Vec<f64>, Error> {
    let opts = &spec.opts;
    match spec.measure {
        Measure::Entropy => entropy::entropy_ragged(p, o, opts),
        Measure::Perplexity => {
            opts.ln_base()?;
            let nats = Options {
                base: None,
                ..*opts
            };
            Ok(entropy::entropy_ragged(p, o, &nats)?
                .into_iter()
                .map(f64::exp)
                .collect())
        }
        Measure::LogSumExp => ragged_loss::logsumexp_rows(&Rows::ragged(p, o)?),
        Measure::SoftmaxCrossEntropy => ragged_loss::softmax_cross_entropy_rows(
            &Rows::ragged(p, o)?,
            labels.unwrap_or(&[]),
            spec.ignore_index,
        ),
        m => unreachable!("{m:?} takes q"),
    }
}

/// A one-input measure of fixed-size rows (an `(rows, w)` view).
fn one_fixed<T: ColumnReal>(
    spec: &Spec,
    p: &[T],
    rows: usize,
    w: usize,
    labels: Option<&[i64]>,
) -> Result<Vec<f64>, Error> {
    let view = ArrayView2::from_shape((rows, w), p)
        .expect("rows·w values")
        .into_dyn();
    let opts = &spec.opts;
    Ok(match spec.measure {
        Measure::Entropy => entropy::entropy(view, opts)?.into_iter().collect(),
        Measure::Perplexity => perplexity::perplexity(view, opts)?.into_iter().collect(),
        Measure::LogSumExp => ragged_loss::logsumexp_rows(&Rows::from_view(&view))?,
        Measure::SoftmaxCrossEntropy => ragged_loss::softmax_cross_entropy_rows(
            &Rows::from_view(&view),
            labels.unwrap_or(&[]),
            spec.ignore_index,
        )?,
        m => unreachable!("{m:?} takes q"),
    })
}

/// A two-input measure of ragged rows sharing `o`.
fn pair_ragged<T: ColumnReal, U: ColumnReal>(
    spec: &Spec,
    p: &[T],
    q: &[U],
    o: Offsets<'_>,
) -> Result<Vec<f64>, Error> {
    let opts = &spec.opts;
    match spec.measure {
        Measure::CrossEntropy => cross_entropy::cross_entropy_ragged(p, q, o, opts),
        Measure::KlDivergence => ragged_divergences::kl_divergence_ragged(p, q, o, opts),
        Measure::JsDivergence => ragged_divergences::js_divergence_ragged(p, q, o, opts),
        Measure::JsDistance => ragged_divergences::js_distance_ragged(p, q, o, opts),
        m => unreachable!("{m:?} takes one input"),
    }
}

/// A two-input measure of fixed-size rows.
fn pair_fixed<T: ColumnReal, U: ColumnReal>(
    spec: &Spec,
    p: &[T],
    q: &[U],
    rows: usize,
    w: usize,
) -> Result<Vec<f64>, Error> {
    let pv = ArrayView2::from_shape((rows, w), p)
        .expect("rows·w values")
        .into_dyn();
    let qv = ArrayView2::from_shape((rows, w), q)
        .expect("rows·w values")
        .into_dyn();
    let opts = &spec.opts;
    let out = match spec.measure {
        Measure::CrossEntropy => cross_entropy::cross_entropy(pv, qv, opts)?,
        Measure::KlDivergence => kl::kl_divergence(pv, qv, opts)?,
        Measure::JsDivergence => js::js_divergence(pv, qv, opts)?,
        Measure::JsDistance => js::js_distance(pv, qv, opts)?,
        m => unreachable!("{m:?} takes one input"),
    };
    Ok(out.into_iter().collect())
}
