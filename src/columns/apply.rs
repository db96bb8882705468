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
//!   garbage, and a fixed-size list's null row always spans its width): where a chunk's
//!   only null values lie under its null rows, the chunk is read in place and the null
//!   rows' values are then replaced by NaN (a row's value never depends on another's); if
//!   that raises an error, which a null row's garbage may, the chunk is read again by the
//!   copying path below, which never reads a null row.
//! - **Null values are left out**: they count as 0 (a probability or count) or −inf (a
//!   logit), as `numpy.ma` masked elements do in the dense functions; for `p` and `q`, a
//!   value null in either is left out of both.
//!
//! Otherwise (null values in valid rows, a null row of different lengths in `p` and `q`, or
//! that error) rows with nulls are copied — only they, and short runs of clean rows between them —
//! into batches of at most [`COPY_BATCH`] values, so the extra memory stays bounded;
//! runs of clean rows of at least [`IN_PLACE_MIN`] values are read in place. A row's
//! value does not depend on which of the two paths read it (both call the same measure
//! on the same values in the same type).

use ndarray::{ArrayD, ArrayView2};

use super::{offset_at, Layout, ListView, Values};
use crate::error::Error;
use crate::kernels::Real;
use crate::measures::from_logits::{self, One, Two};
use crate::measures::smoothing::{self, Smoothed};
use crate::measures::{
    cross_entropy, entropy, js, kl, perplexity, ragged_loss, ragged_options, Options,
};
use crate::parallel::rows::{Checked, IntoChecked, Offsets, Rows};

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
    /// PSI = D(P‖Q) + D(Q‖P).
    Psi,
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
            "population_stability_index" => Measure::Psi,
            "logsumexp" => Measure::LogSumExp,
            "softmax_cross_entropy" => Measure::SoftmaxCrossEntropy,
            other => {
                return Err(Error::InvalidOption {
                    arg: "measure",
                    value: other.to_string(),
                    expected: "entropy, perplexity, cross_entropy, kl_divergence, js_divergence, js_distance, population_stability_index, logsumexp, softmax_cross_entropy",
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
                | Measure::Psi
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
    /// The rows are logits (`from_logits=True`): the measure of their softmaxes.
    pub from_logits: bool,
    /// A pseudocount added to every value before normalising (`smoothing=`; 0: none).
    pub smoothing: f64,
}

impl Spec {
    /// A spec of `measure` with `opts` and none of the other options.
    pub fn plain(measure: Measure, opts: Options) -> Self {
        Spec {
            measure,
            opts,
            ignore_index: -100,
            from_logits: false,
            smoothing: 0.0,
        }
    }

    /// Checks that the options apply to the measure.
    pub fn check(&self) -> Result<(), Error> {
        self.opts.ln_base()?;
        use Measure::*;
        let probabilities = matches!(
            self.measure,
            Entropy | CrossEntropy | KlDivergence | JsDivergence | JsDistance | Psi
        );
        let logits = probabilities && self.measure != Psi || self.measure == Perplexity;
        if self.from_logits && !logits {
            return Err(Error::InvalidOption {
                arg: "from_logits",
                value: "True".to_string(),
                expected: "False for this measure (its input is logits already)",
            });
        }
        if self.smoothing != 0.0 {
            if !(self.smoothing >= 0.0 && self.smoothing.is_finite()) {
                return Err(Error::InvalidSmoothing {
                    value: self.smoothing,
                });
            }
            if !probabilities || self.from_logits {
                return Err(Error::InvalidOption {
                    arg: "smoothing",
                    value: self.smoothing.to_string(),
                    expected: "0 for this measure (or with from_logits)",
                });
            }
        }
        Ok(())
    }

    /// The value a null element takes: left out of a sum of probabilities (0) or of
    /// exponentials (−inf).
    fn fill(&self) -> f64 {
        if self.from_logits {
            f64::NEG_INFINITY
        } else {
            self.measure.fill()
        }
    }
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
    let pc = p.validate()?;
    let mut qc = None;
    if let Some(q) = q {
        qc = q.validate()?;
        if q.rows != p.rows {
            return Err(Error::RowCount {
                first: "p",
                second: "q",
                first_rows: p.rows,
                second_rows: q.rows,
            });
        }
        let shared = match (&p.layout, &q.layout) {
            (Layout::Offsets(a), Layout::Offsets(b)) => same_offsets(a, b),
            (Layout::Fixed(a), Layout::Fixed(b)) => a == b,
            _ => false,
        };
        for r in (0..p.rows).filter(|_| !shared) {
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
        checked: (pc, qc),
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
    /// The whole chunk's offsets of `p` and `q`, validated (None: fixed-size rows).
    checked: (Option<Checked<'j>>, Option<Checked<'j>>),
}

/// Whether row `r` is null in `p` or in `q` (its value is then NaN).
#[inline]
fn null_in_either(p: &ListView<'_>, q: Option<&ListView<'_>>, r: usize) -> bool {
    p.is_null(r) || q.is_some_and(|q| q.is_null(r))
}

/// The chunk's null rows (null in `p` or `q`), where every other row is clean in both
/// inputs — the chunk's null values, if any, all lie under its null rows, as in the
/// fixed-size lists of pyarrow, Polars and Parquet readers — and each null row has one
/// length in both: then the chunk can be read in place, null rows included
/// ([`Job::in_place_over_null_rows`]). None otherwise.
fn null_rows_in_place(p: &ListView<'_>, q: Option<&ListView<'_>>) -> Option<Vec<usize>> {
    let mut nulls = Vec::new();
    for r in 0..p.rows {
        if null_in_either(p, q, r) {
            if q.is_some_and(|q| q.row_len(r) != p.row_len(r)) {
                return None;
            }
            nulls.push(r);
        }
    }
    let under_null_rows = |x: &ListView<'_>| x.null_values_only_in(|r| null_in_either(p, q, r));
    (under_null_rows(p) && q.is_none_or(under_null_rows)).then_some(nulls)
}

/// Whether some null row holds values (in `p` or `q`): only then may reading the chunk in
/// place raise an error that the rows themselves would not.
fn spans_values(p: &ListView<'_>, q: Option<&ListView<'_>>, null_rows: &[usize]) -> bool {
    null_rows
        .iter()
        .any(|&r| p.row_len(r) > 0 || q.is_some_and(|q| q.row_len(r) > 0))
}

/// Whether two offsets arrays are the same memory (one array passed for both inputs).
fn same_offsets(a: &Offsets<'_>, b: &Offsets<'_>) -> bool {
    match (a, b) {
        (Offsets::I32(x), Offsets::I32(y)) => std::ptr::eq(*x, *y),
        (Offsets::I64(x), Offsets::I64(y)) => std::ptr::eq(*x, *y),
        _ => false,
    }
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
            return self.clean::<T, U>(p, q, self.checked, self.labels, 0, out);
        }
        if let Some(null_rows) = null_rows_in_place(p, q) {
            match self.in_place_over_null_rows::<T, U>(p, q, &null_rows, out, nulls) {
                // an error may come from a null row's garbage (a negative value, a label
                // past a row's end): the copying path below never reads those
                Err(e) if !matches!(e, Error::Interrupted) && spans_values(p, q, &null_rows) => {}
                done => return done,
            }
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
                    let (pc, qc) = self.checked;
                    let checked = (
                        pc.map(|c| c.slice_rows(a..r)),
                        qc.map(|c| c.slice_rows(a..r)),
                    );
                    self.clean::<T, U>(&ps, qs.as_ref(), checked, labels, a, &mut out[a..r])?;
                    batch = Batch::new(r);
                    continue;
                }
                self.push_clean_run(&mut batch, p, q, a..r);
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

    /// A chunk whose null rows are `null_rows` (see [`null_rows_in_place`]) read in place,
    /// as a clean one: each null row is a row there (its label `ignore_index`), whatever its
    /// values, and its value is then replaced by NaN. The other rows' values are the copied
    /// path's bit for bit (a row's value does not depend on its neighbours). PERF: float32
    /// entropy over a list column of 10^6 rows of 5–15 values with every hundredth row null
    /// and empty (pyarrow's own layout for them; `benches/pipelines.py`, 2 threads): 4.42 ns
    /// a value copied, 1.28 in place, 1.14 for the same column without nulls; null rows of
    /// a fixed-size list span their width (see `benches/README.md` for those).
    fn in_place_over_null_rows<T: ColumnReal, U: ColumnReal>(
        &self,
        p: &ListView<'_>,
        q: Option<&ListView<'_>>,
        null_rows: &[usize],
        out: &mut [f64],
        nulls: &mut Vec<usize>,
    ) -> Result<(), Error> {
        let labels: Option<Vec<i64>> = self.labels.map(|l| {
            let mut l = l.to_vec();
            for &r in null_rows {
                l[r] = self.spec.ignore_index;
            }
            l
        });
        self.clean::<T, U>(p, q, self.checked, labels.as_deref(), 0, out)?;
        for &r in null_rows {
            out[r] = f64::NAN;
            nulls.push(self.first_row + r);
        }
        Ok(())
    }

    /// Appends the clean chunk rows `rows` (valid, without null values) to `batch`: each
    /// input's values as one slice (a chunk's rows lie back to back), the offsets re-based.
    /// PERF: row by row and value by value ([`Self::push`]) the copy took a third of
    /// float32 entropy over a list column of 10^6 rows of 10 with every hundredth row null
    /// (one thread: 36 ms, against 23 ms for the same rows as `offsets=`).
    fn push_clean_run<T: ColumnReal, U: ColumnReal>(
        &self,
        batch: &mut Batch<T, U>,
        p: &ListView<'_>,
        q: Option<&ListView<'_>>,
        rows: std::ops::Range<usize>,
    ) {
        if rows.is_empty() {
            return;
        }
        let last = rows.end - 1;
        let span = |x: &ListView<'_>| x.row_range(rows.start).start..x.row_range(last).end;
        let pv = T::of(&p.values).expect("dispatched on p's type");
        let p_span = span(p);
        // row r's end in the batch: its end in the chunk, moved by where the run lands
        let moved = batch.p.len() as i64 - p_span.start as i64;
        batch.p.extend_from_slice(&pv[p_span]);
        batch
            .offsets
            .extend(rows.clone().map(|r| p.row_range(r).end as i64 + moved));
        if let Some(q) = q {
            // clean rows have p's lengths (checked by `apply`): the same span length
            let qv = U::of(&q.values).expect("dispatched on q's type");
            batch.q.extend_from_slice(&qv[span(q)]);
        }
        match self.labels {
            Some(l) => batch.labels.extend_from_slice(&l[rows.clone()]),
            None => batch
                .labels
                .extend(std::iter::repeat_n(self.spec.ignore_index, rows.len())),
        }
        batch.rows += rows.len();
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
        if null_in_either(p, q, r) {
            batch.nulls.push(r);
            batch.offsets.push(batch.p.len() as i64);
            batch.labels.push(self.spec.ignore_index);
            return;
        }
        let fill = self.spec.fill();
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
        self.clean::<T, U>(
            &p,
            q.as_ref(),
            (None, None),
            labels,
            start,
            &mut out[start..start + n],
        )?;
        for &r in &batch.nulls {
            out[r] = f64::NAN;
            nulls.push(self.first_row + r);
        }
        Ok(())
    }

    /// Computes rows without nulls: chunk rows `at..` (`at` names rows in errors), with
    /// their `labels`.
    #[allow(clippy::too_many_arguments)]
    fn clean<T: ColumnReal, U: ColumnReal>(
        &self,
        p: &ListView<'_>,
        q: Option<&ListView<'_>>,
        (pc, qc): (Option<Checked<'_>>, Option<Checked<'_>>),
        labels: Option<&[i64]>,
        at: usize,
        out: &mut [f64],
    ) -> Result<(), Error> {
        let (spec, rows) = (self.spec, p.rows);
        let pv = T::of(&p.values).expect("dispatched on p's type");
        let result = match q {
            None => match regular(&p.layout, rows) {
                (start, Some(w)) => one_fixed(spec, &pv[start..start + rows * w], rows, w, labels),
                (_, None) => match p.layout {
                    Layout::Offsets(o) => one_ragged(spec, pv, or_check(pc, o, pv.len())?, labels),
                    Layout::Fixed(_) => unreachable!("fixed-size rows are regular"),
                },
            },
            Some(q) => {
                let qv = U::of(&q.values).expect("dispatched on q's type");
                match (regular(&p.layout, rows), regular(&q.layout, rows)) {
                    ((ps, Some(w)), (qs, Some(_))) => pair_fixed(
                        spec,
                        &pv[ps..ps + rows * w],
                        &qv[qs..qs + rows * w],
                        rows,
                        w,
                    ),
                    _ => {
                        // Rows of equal lengths (checked): one offsets array serves both,
                        // the other side's values re-based by the difference of starts.
                        let (mut pf, mut qf): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
                        if let Layout::Fixed(w) = p.layout {
                            pf = fixed_offsets(rows, w);
                        }
                        if let Layout::Fixed(w) = q.layout {
                            qf = fixed_offsets(rows, w);
                        }
                        let po = match p.layout {
                            Layout::Offsets(o) => o,
                            Layout::Fixed(_) => Offsets::I64(&pf),
                        };
                        let qo = match q.layout {
                            Layout::Offsets(o) => o,
                            Layout::Fixed(_) => Offsets::I64(&qf),
                        };
                        let d = offset_at(&qo, 0) - offset_at(&po, 0);
                        if d >= 0 {
                            let pc = or_check(pc.filter(|_| pf.is_empty()), po, pv.len())?;
                            pair_ragged(spec, pv, &qv[d as usize..], pc)
                        } else {
                            let qc = or_check(qc.filter(|_| qf.is_empty()), qo, qv.len())?;
                            pair_ragged(spec, &pv[(-d) as usize..], qv, qc)
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

/// `(start, Some(w))` when the rows follow one another from value `start`, each `w`
/// long — fixed-size lists, and ragged offsets that happen to be uniform (a list column
/// whose rows all have one length, common for model outputs) — else `(start, None)`.
///
/// PERF: regular rows are read as a dense `(rows, w)` view, whose short-row path fills
/// the vertical groups straight from memory; the ragged path builds a row list and
/// transposes group by group, measured 2× slower for 10^6 rows of 10 (entropy). The
/// check is one integer comparison per row.
fn regular(layout: &Layout<'_>, rows: usize) -> (usize, Option<usize>) {
    match layout {
        Layout::Fixed(w) => (0, Some(*w)),
        Layout::Offsets(o) => {
            let start = offset_at(o, 0);
            let w = if rows == 0 {
                0
            } else {
                offset_at(o, 1) - start
            };
            let uniform = (2..=rows).all(|r| offset_at(o, r) == start + r as i64 * w);
            (start as usize, uniform.then_some(w as usize))
        }
    }
}

/// `checked` when given (offsets validated for the whole chunk), else `o` checked now.
fn or_check<'a>(
    checked: Option<Checked<'a>>,
    o: Offsets<'a>,
    values: usize,
) -> Result<Checked<'a>, Error> {
    match checked {
        Some(c) => Ok(c),
        None => o.check(values),
    }
}

/// Offsets `0, w, 2w, …` of `rows` fixed-size rows.
fn fixed_offsets(rows: usize, w: usize) -> Vec<i64> {
    (0..=rows).map(|r| (r * w) as i64).collect()
}

/// A one-input measure of ragged rows.
fn one_ragged<'a, T: ColumnReal>(
    spec: &Spec,
    p: &'a [T],
    o: impl IntoChecked<'a>,
    labels: Option<&[i64]>,
) -> Result<Vec<f64>, Error> {
    let opts = &spec.opts;
    let ln_base = opts.ln_base()?;
    match spec.measure {
        Measure::Entropy if spec.from_logits => {
            ragged_options::logits_one(p, o, One::Entropy, ln_base)
        }
        Measure::Perplexity if spec.from_logits => {
            ragged_options::logits_one(p, o, One::Perplexity, 1.0)
        }
        Measure::Entropy if spec.smoothing > 0.0 => {
            ragged_options::smoothed(p, p, o, Smoothed::Entropy, spec.smoothing, ln_base)
        }
        Measure::Entropy => entropy::entropy_ragged(p, o, opts),
        Measure::Perplexity => perplexity::perplexity_ragged(p, o, opts),
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
    let ln_base = opts.ln_base()?;
    Ok(match spec.measure {
        Measure::Entropy if spec.from_logits => {
            into_values(from_logits::one(view, One::Entropy, ln_base)?)
        }
        Measure::Perplexity if spec.from_logits => {
            into_values(from_logits::one(view, One::Perplexity, 1.0)?)
        }
        Measure::Entropy if spec.smoothing > 0.0 => into_values(smoothing::rows(
            view.clone(),
            view,
            Smoothed::Entropy,
            spec.smoothing,
            ln_base,
        )?),
        Measure::Entropy => into_values(entropy::entropy(view, opts)?),
        Measure::Perplexity => into_values(perplexity::perplexity(view, opts)?),
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
fn pair_ragged<'a, T: ColumnReal, U: ColumnReal>(
    spec: &Spec,
    p: &'a [T],
    q: &'a [U],
    o: impl IntoChecked<'a>,
) -> Result<Vec<f64>, Error> {
    let opts = &spec.opts;
    let ln_base = opts.ln_base()?;
    if spec.from_logits {
        return ragged_options::logits_two(p, q, o, two_of(spec.measure), ln_base);
    }
    if spec.smoothing > 0.0 || spec.measure == Measure::Psi {
        // (PSI without a pseudocount: both divergences of each row, `smoothing::ragged`)
        return ragged_options::smoothed(
            p,
            q,
            o,
            smoothed_of(spec.measure),
            spec.smoothing,
            ln_base,
        );
    }
    match spec.measure {
        Measure::CrossEntropy => cross_entropy::cross_entropy_ragged(p, q, o, opts),
        Measure::KlDivergence => kl::kl_divergence_ragged(p, q, o, opts),
        Measure::JsDivergence => js::js_divergence_ragged(p, q, o, opts),
        Measure::JsDistance => Ok(js::js_divergence_ragged(p, q, o, opts)?
            .into_iter()
            .map(js::distance)
            .collect()),
        m => unreachable!("{m:?} takes one input"),
    }
}

/// The logits form of a two-input measure.
fn two_of(m: Measure) -> Two {
    match m {
        Measure::CrossEntropy => Two::CrossEntropy,
        Measure::KlDivergence => Two::Kl,
        Measure::JsDivergence => Two::Js,
        Measure::JsDistance => Two::JsDistance,
        m => unreachable!("{m:?} takes one input"),
    }
}

/// The smoothed form of a two-input measure.
fn smoothed_of(m: Measure) -> Smoothed {
    match m {
        Measure::CrossEntropy => Smoothed::CrossEntropy,
        Measure::KlDivergence => Smoothed::Kl,
        Measure::JsDivergence => Smoothed::Js,
        Measure::JsDistance => Smoothed::JsDistance,
        Measure::Psi => Smoothed::Psi,
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
    let ln_base = opts.ln_base()?;
    let out = match spec.measure {
        m if spec.from_logits => from_logits::two(pv, qv, two_of(m), ln_base)?,
        m if spec.smoothing > 0.0 || m == Measure::Psi => {
            smoothing::rows(pv, qv, smoothed_of(m), spec.smoothing, ln_base)?
        }
        Measure::CrossEntropy => cross_entropy::cross_entropy(pv, qv, opts)?,
        Measure::KlDivergence => kl::kl_divergence(pv, qv, opts)?,
        Measure::JsDivergence => js::js_divergence(pv, qv, opts)?,
        Measure::JsDistance => js::js_distance(pv, qv, opts)?,
        m => unreachable!("{m:?} takes one input"),
    };
    Ok(into_values(out))
}

/// A per-row result's values in row order: its buffer, moved (the results are built in
/// standard layout). ndarray's by-value iterator over a dynamic-dimension array cost
/// ~10 ns per value — a third of the time of equal-length ragged rows of ten values.
fn into_values(a: ArrayD<f64>) -> Vec<f64> {
    if !a.is_standard_layout() {
        return a.iter().copied().collect();
    }
    let n = a.len();
    let (values, offset) = a.into_raw_vec_and_offset();
    let start = offset.unwrap_or(0);
    if start == 0 && values.len() == n {
        values
    } else {
        values[start..start + n].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::arrow_c::testing::bits;
    use crate::columns::Bitmap;

    fn spec(measure: Measure) -> Spec {
        Spec::plain(measure, Options::default())
    }

    /// Values 0.25 + (i·7919 mod 101) — positive, varied — with some negatives where
    /// `poison` says (only ever under nulls).
    fn data(n: usize) -> Vec<f64> {
        (0..n).map(|i| 0.25 + ((i * 7919) % 101) as f64).collect()
    }

    /// Row lengths that mix short, medium and long rows, empty ones too.
    fn lengths(rows: usize) -> Vec<usize> {
        (0..rows)
            .map(|r| match r % 11 {
                0 => 0,
                1 => 1,
                5 => 70,
                7 => 17,
                _ => (r * 31) % 13,
            })
            .collect()
    }

    fn offsets_of(lengths: &[usize]) -> Vec<i64> {
        let mut o = vec![0i64];
        for &l in lengths {
            o.push(o.last().unwrap() + l as i64);
        }
        o
    }

    /// The reference: each row on its own through the ragged measure, nulls applied
    /// by hand (null row → NaN, null value → `fill`).
    fn reference(
        s: &Spec,
        p: &[f64],
        q: Option<&[f64]>,
        o: &[i64],
        row_ok: &[bool],
        value_ok: &[bool],
        labels: Option<&[i64]>,
    ) -> Vec<f64> {
        (0..o.len() - 1)
            .map(|r| {
                if !row_ok[r] {
                    return f64::NAN;
                }
                let range = o[r] as usize..o[r + 1] as usize;
                let pick = |v: &[f64]| -> Vec<f64> {
                    range
                        .clone()
                        .map(|i| if value_ok[i] { v[i] } else { s.fill() })
                        .collect()
                };
                let pr = pick(p);
                let one = [0i64, pr.len() as i64];
                let lab = labels.map(|l| vec![l[r]]);
                let got = match q {
                    None => one_ragged(s, &pr, Offsets::I64(&one), lab.as_deref()),
                    Some(q) => pair_ragged(s, &pr, &pick(q), Offsets::I64(&one)),
                };
                got.unwrap()[0]
            })
            .collect()
    }

    fn same(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (r, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "row {r}: {x} vs {y}"
            );
        }
    }

    /// Values and offsets of the same rows five values further in (negative values before
    /// them, never read): an input whose offsets differ from the other's.
    fn moved_five(values: &[f64], offsets: &[i64]) -> (Vec<f64>, Vec<i64>) {
        let moved = [-3.0; 5].iter().chain(values).copied().collect();
        (moved, offsets.iter().map(|v| v + 5).collect())
    }

    /// The data a chunk's views were made of, for [`reference`].
    struct Expected<'a> {
        p: &'a [f64],
        q: &'a [f64],
        offsets: &'a [i64],
        row_ok: &'a [bool],
        value_ok: &'a [bool],
        labels: &'a [i64],
    }

    /// Each of `measures` through [`apply`] (as chunk `first_row`) on every view of `p`
    /// alone (`one`) or of `p` with `q` (`pairs`), as the measure takes: every row as the
    /// row-by-row reference, bit for bit, and the null rows reported.
    fn check_against_reference(
        measures: &[Measure],
        one: &[&ListView<'_>],
        pairs: &[(&ListView<'_>, &ListView<'_>)],
        e: &Expected<'_>,
        first_row: usize,
    ) {
        let rows = e.row_ok.len();
        for &measure in measures {
            let s = spec(measure);
            let qs = measure.takes_q().then_some(e.q);
            let lab = measure.takes_labels().then_some(e.labels);
            let want = reference(&s, e.p, qs, e.offsets, e.row_ok, e.value_ok, lab);
            let cases: Vec<(&ListView<'_>, Option<&ListView<'_>>)> = if measure.takes_q() {
                pairs.iter().map(|&(p, q)| (p, Some(q))).collect()
            } else {
                one.iter().map(|&p| (p, None)).collect()
            };
            for (pv, qv) in cases {
                let mut out = vec![0.0; rows];
                let mut nulls = Vec::new();
                apply(&s, pv, qv, lab, first_row, &mut out, &mut nulls).unwrap();
                same(&out, &want);
                let expected: Vec<usize> = (0..rows)
                    .filter(|&r| !e.row_ok[r])
                    .map(|r| r + first_row)
                    .collect();
                assert_eq!(nulls, expected, "{measure:?}");
            }
        }
    }

    #[test]
    fn null_rows_and_values_match_the_row_by_row_reference() {
        let rows = 20_000;
        let lens = lengths(rows);
        let o = offsets_of(&lens);
        let n = *o.last().unwrap() as usize;
        let mut p = data(n);
        let q: Vec<f64> = p.iter().rev().copied().collect();
        // nulls: every 37th row, and every 53rd value; under them, negative garbage that
        // would be an error if it were read
        // rows 4000..6000 without nulls: a clean run long enough to be read in place;
        // the rest makes several copied batches
        let clean = o[4000] as usize..o[6000] as usize;
        let row_ok: Vec<bool> = (0..rows)
            .map(|r| r % 37 != 3 || (4000..6000).contains(&r))
            .collect();
        let value_ok: Vec<bool> = (0..n).map(|i| i % 53 != 7 || clean.contains(&i)).collect();
        assert!(clean.len() >= IN_PLACE_MIN && n - clean.len() > 2 * COPY_BATCH);
        for r in (0..rows).filter(|&r| !row_ok[r]) {
            for v in &mut p[o[r] as usize..o[r + 1] as usize] {
                *v = -1.0;
            }
        }
        for i in (0..n).filter(|&i| !value_ok[i]) {
            p[i] = -2.0;
        }
        let (rb, vb) = (bits(&row_ok), bits(&value_ok));
        let view = ListView {
            values: Values::F64(&p),
            layout: Layout::Offsets(Offsets::I64(&o)),
            rows,
            row_valid: Some(Bitmap::new(&rb, 0)),
            value_valid: Some(Bitmap::new(&vb, 0)),
        };
        let qview = ListView {
            values: Values::F64(&q),
            row_valid: None,
            value_valid: None,
            ..view
        };
        // and q with offsets of its own: the same rows five values further in
        let (q_moved, o_moved) = moved_five(&q, &o);
        let qview_moved = ListView {
            values: Values::F64(&q_moved),
            layout: Layout::Offsets(Offsets::I64(&o_moved)),
            ..qview
        };
        let labels: Vec<i64> = lens
            .iter()
            .enumerate()
            .map(|(r, &l)| {
                if l == 0 || r % 5 == 0 {
                    -100
                } else {
                    (r % l) as i64
                }
            })
            .collect();
        let e = Expected {
            p: &p,
            q: &q,
            offsets: &o,
            row_ok: &row_ok,
            value_ok: &value_ok,
            labels: &labels,
        };
        check_against_reference(
            &[
                Measure::Entropy,
                Measure::Perplexity,
                Measure::LogSumExp,
                Measure::SoftmaxCrossEntropy,
                Measure::CrossEntropy,
                Measure::KlDivergence,
                Measure::JsDistance,
                Measure::Psi,
            ],
            &[&view],
            &[(&view, &qview), (&view, &qview_moved)],
            &e,
            10,
        );
    }

    /// Null rows without values (pyarrow's and Polars' layout for list columns) and no null
    /// value: the chunk is read in place, null rows' labels out of range for an empty row
    /// are never checked, and every row matches the row-by-row reference — with q on the
    /// same offsets and on offsets of its own; a null row in q alone counts too. A null
    /// value outside the null rows sends the chunk to the copied path.
    #[test]
    fn empty_null_rows_are_read_in_place() {
        let rows = 20_000;
        let row_ok: Vec<bool> = (0..rows).map(|r| r % 37 != 3).collect();
        let lens: Vec<usize> = lengths(rows)
            .iter()
            .zip(&row_ok)
            .map(|(&l, &ok)| if ok { l } else { 0 })
            .collect();
        let o = offsets_of(&lens);
        let n = *o.last().unwrap() as usize;
        let p = data(n);
        let q: Vec<f64> = p.iter().rev().copied().collect();
        let value_ok = vec![true; n];
        // p's null rows in p's bitmap, but every other one of them in q's instead
        let p_ok: Vec<bool> = (0..rows).map(|r| row_ok[r] || r % 74 == 40).collect();
        let q_ok: Vec<bool> = (0..rows).map(|r| row_ok[r] || r % 74 != 40).collect();
        let (pb, qb) = (bits(&p_ok), bits(&q_ok));
        let view = ListView {
            values: Values::F64(&p),
            layout: Layout::Offsets(Offsets::I64(&o)),
            rows,
            row_valid: Some(Bitmap::new(&pb, 0)),
            value_valid: None,
        };
        let (q_moved, o_moved) = moved_five(&q, &o);
        let qviews = [
            ListView {
                values: Values::F64(&q),
                row_valid: Some(Bitmap::new(&qb, 0)),
                ..view
            },
            ListView {
                values: Values::F64(&q_moved),
                layout: Layout::Offsets(Offsets::I64(&o_moved)),
                row_valid: Some(Bitmap::new(&qb, 0)),
                ..view
            },
        ];
        let ob = bits(&row_ok);
        let p_alone = ListView {
            row_valid: Some(Bitmap::new(&ob, 0)),
            ..view
        };
        // labels: a null row's is 3, out of range for its empty row
        let labels: Vec<i64> = (0..rows)
            .map(|r| match (row_ok[r], lens[r]) {
                (false, _) => 3,
                (true, 0) => -100,
                (true, l) => (r % l) as i64,
            })
            .collect();
        let null_rows: Vec<usize> = (0..rows).filter(|&r| !row_ok[r]).collect();
        assert_eq!(null_rows_in_place(&p_alone, None), Some(null_rows.clone()));
        assert_eq!(null_rows_in_place(&view, Some(&qviews[1])), Some(null_rows));
        let e = Expected {
            p: &p,
            q: &q,
            offsets: &o,
            row_ok: &row_ok,
            value_ok: &value_ok,
            labels: &labels,
        };
        check_against_reference(
            &[
                Measure::Entropy,
                Measure::LogSumExp,
                Measure::SoftmaxCrossEntropy,
                Measure::CrossEntropy,
                Measure::KlDivergence,
                Measure::JsDistance,
            ],
            &[&p_alone],
            &[(&view, &qviews[0]), (&view, &qviews[1])],
            &e,
            10,
        );
        // a null value outside the null rows is not read in place; one under them is
        let mut under: Vec<bool> = vec![true; n];
        under[o[1] as usize] = false;
        assert!(lens[1] > 0 && row_ok[1]);
        let vb = bits(&under);
        let with_null_value = ListView {
            value_valid: Some(Bitmap::new(&vb, 0)),
            ..p_alone
        };
        assert!(null_rows_in_place(&with_null_value, None).is_none());
        let all_rows_null = bits(&vec![false; rows]);
        let under_null_rows = ListView {
            row_valid: Some(Bitmap::new(&all_rows_null, 0)),
            ..with_null_value
        };
        assert_eq!(
            null_rows_in_place(&under_null_rows, None).map(|r| r.len()),
            Some(rows)
        );
    }

    /// Null rows that span values, with null values under them — a fixed-size list's
    /// layout (pyarrow, Polars `pl.Array`, Parquet readers), and ragged rows so built: read
    /// in place whatever the values under them, every row as the row-by-row reference.
    /// Where a null row's values would raise an error (a negative probability, a label out
    /// of range for its row) the chunk is read again by the copied path, with the same
    /// results and no error; an error in a valid row is still raised. A null row of
    /// different lengths in p and q is not read in place.
    #[test]
    fn null_rows_spanning_values_are_read_in_place() {
        let (rows, w) = (5_000, 7);
        let n = rows * w;
        let row_ok: Vec<bool> = (0..rows).map(|r| r % 29 != 4).collect();
        let value_ok: Vec<bool> = (0..n).map(|i| row_ok[i / w]).collect();
        let (rb, vb) = (bits(&row_ok), bits(&value_ok));
        let o: Vec<i64> = (0..=rows).map(|r| (r * w) as i64).collect();
        let clean_p = data(n);
        let q: Vec<f64> = clean_p.iter().rev().copied().collect();
        let labels: Vec<i64> = (0..rows)
            .map(|r| {
                if row_ok[r] {
                    (r % w) as i64
                } else {
                    2 * w as i64
                }
            })
            .collect();
        // under the null rows: zeros (pyarrow's builders), positive garbage, and
        // values that would be errors if they counted
        let garbage: [(f64, bool); 4] =
            [(0.0, false), (7.5, false), (-1.0, true), (f64::NAN, false)];
        for (fill, errs) in garbage {
            let mut p = clean_p.clone();
            for r in (0..rows).filter(|&r| !row_ok[r]) {
                p[r * w..(r + 1) * w].fill(fill);
            }
            let fixed = ListView {
                values: Values::F64(&p),
                layout: Layout::Fixed(w),
                rows,
                row_valid: Some(Bitmap::new(&rb, 0)),
                value_valid: Some(Bitmap::new(&vb, 0)),
            };
            let ragged = ListView {
                layout: Layout::Offsets(Offsets::I64(&o)),
                ..fixed
            };
            let qview = ListView {
                values: Values::F64(&q),
                row_valid: None,
                value_valid: None,
                ..fixed
            };
            let null_rows: Vec<usize> = (0..rows).filter(|&r| !row_ok[r]).collect();
            assert_eq!(null_rows_in_place(&fixed, None), Some(null_rows.clone()));
            assert_eq!(null_rows_in_place(&ragged, Some(&qview)), Some(null_rows));
            if errs {
                // the in-place read itself fails on the garbage: the fallback is needed
                let s = spec(Measure::Entropy);
                let job = Job {
                    spec: &s,
                    labels: None,
                    first_row: 0,
                    checked: (None, None),
                };
                let mut out = vec![0.0; rows];
                let nulls_here: Vec<usize> = (0..rows).filter(|&r| !row_ok[r]).collect();
                assert!(job
                    .in_place_over_null_rows::<f64, f64>(
                        &fixed,
                        None,
                        &nulls_here,
                        &mut out,
                        &mut Vec::new()
                    )
                    .is_err());
            }
            let e = Expected {
                p: &p,
                q: &q,
                offsets: &o,
                row_ok: &row_ok,
                value_ok: &value_ok,
                labels: &labels,
            };
            check_against_reference(
                &[
                    Measure::Entropy,
                    Measure::LogSumExp,
                    Measure::SoftmaxCrossEntropy,
                    Measure::KlDivergence,
                    Measure::JsDivergence,
                ],
                &[&fixed, &ragged],
                &[(&fixed, &qview), (&ragged, &qview)],
                &e,
                3,
            );
        }
        // an error in a valid row is raised, from either path
        let mut p = clean_p.clone();
        for r in (0..rows).filter(|&r| !row_ok[r]) {
            p[r * w..(r + 1) * w].fill(-1.0);
        }
        p[w + 2] = -3.0;
        let fixed = ListView {
            values: Values::F64(&p),
            layout: Layout::Fixed(w),
            rows,
            row_valid: Some(Bitmap::new(&rb, 0)),
            value_valid: Some(Bitmap::new(&vb, 0)),
        };
        let err = apply(
            &spec(Measure::Entropy),
            &fixed,
            None,
            None,
            0,
            &mut vec![0.0; rows],
            &mut Vec::new(),
        );
        assert!(
            matches!(err, Err(Error::Negative { value, .. }) if value == -3.0),
            "{err:?}"
        );
        // a null row two values long in p and three in q: the copied path
        let (po, qo) = ([0i64, 2, 4], [0i64, 3, 5]);
        let pv = ListView {
            values: Values::F64(&clean_p[..4]),
            layout: Layout::Offsets(Offsets::I64(&po)),
            rows: 2,
            row_valid: Some(Bitmap::new(&[0b10], 0)),
            value_valid: None,
        };
        let qv = ListView {
            values: Values::F64(&q[..5]),
            layout: Layout::Offsets(Offsets::I64(&qo)),
            row_valid: None,
            ..pv
        };
        assert!(null_rows_in_place(&pv, Some(&qv)).is_none());
        let mut out = vec![0.0; 2];
        apply(
            &spec(Measure::KlDivergence),
            &pv,
            Some(&qv),
            None,
            0,
            &mut out,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(out[0].is_nan());
        let want = pair_ragged(
            &spec(Measure::KlDivergence),
            &clean_p[2..4],
            &q[3..5],
            Offsets::I64(&[0, 2]),
        )
        .unwrap();
        same(&out[1..], &want);
    }

    #[test]
    fn rebased_offsets_fixed_rows_and_uniform_offsets_agree() {
        // the same 40 rows of 6 as: ragged offsets starting at 12, fixed-size rows, and
        // uniform offsets; q's offsets start elsewhere
        let rows = 40;
        let p = data(12 + rows * 6);
        let q: Vec<f64> = data(5 + rows * 6)
            .into_iter()
            .map(|v| v * 0.5 + 1.0)
            .collect();
        let po: Vec<i64> = (0..=rows).map(|r| 12 + 6 * r as i64).collect();
        let qo: Vec<i64> = (0..=rows).map(|r| 5 + 6 * r as i64).collect();
        let pview = ListView::ragged(Values::F64(&p), Offsets::I64(&po)).unwrap();
        let qview = ListView::ragged(Values::F64(&q), Offsets::I64(&qo)).unwrap();
        let pfixed = ListView {
            values: Values::F64(&p[12..]),
            layout: Layout::Fixed(6),
            rows,
            row_valid: None,
            value_valid: None,
        };
        for measure in [
            Measure::CrossEntropy,
            Measure::KlDivergence,
            Measure::JsDivergence,
        ] {
            let s = spec(measure);
            let mut a = vec![0.0; rows];
            let mut b = vec![0.0; rows];
            apply(&s, &pview, Some(&qview), None, 0, &mut a, &mut Vec::new()).unwrap();
            apply(&s, &pfixed, Some(&qview), None, 0, &mut b, &mut Vec::new()).unwrap();
            same(&a, &b);
            // the ragged path on its own (rows of one length read as ragged rows)
            let want = pair_ragged(
                &s,
                &p[12..],
                &q[5..],
                Offsets::I64(&po.iter().map(|v| v - 12).collect::<Vec<_>>()),
            )
            .unwrap();
            same(&a, &want);
        }
        let s = spec(Measure::Entropy);
        let mut a = vec![0.0; rows];
        apply(&s, &pview, None, None, 0, &mut a, &mut Vec::new()).unwrap();
        let shifted: Vec<i64> = po.iter().map(|v| v - 12).collect();
        same(
            &a,
            &one_ragged(&s, &p[12..], Offsets::I64(&shifted), None).unwrap(),
        );
    }

    #[test]
    fn mismatches_are_errors_naming_the_row() {
        let v = data(10);
        let p = ListView::ragged(Values::F64(&v), Offsets::I32(&[0, 2, 5, 10])).unwrap();
        let q = ListView::ragged(Values::F64(&v), Offsets::I32(&[0, 2, 6, 10])).unwrap();
        let mut out = vec![0.0; 3];
        let err = apply(
            &spec(Measure::KlDivergence),
            &p,
            Some(&q),
            None,
            100,
            &mut out,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::RowLengths {
                row: 101,
                p_len: 3,
                q_len: 4
            }
        );
        let err = apply(
            &spec(Measure::SoftmaxCrossEntropy),
            &p,
            None,
            Some(&[0, 1, 5]),
            100,
            &mut out,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::RaggedLabel {
                label: 5,
                row: 102,
                len: 5
            }
        );
        let short = ListView::ragged(Values::F64(&v), Offsets::I32(&[0, 2, 5])).unwrap();
        let err = apply(
            &spec(Measure::KlDivergence),
            &p,
            Some(&short),
            None,
            0,
            &mut out,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::RowCount { .. }));
    }
}
