//! The distribution measures of logits (`from_logits=True`): entropy, perplexity,
//! cross-entropy, KL and Jensen–Shannon of softmax(z) along the last axis, from the
//! streaming kernels of [`crate::kernels::logits`] — the softmax is taken inside the pass,
//! so nothing but the (N,) result is allocated (a strided row is read in gathered pieces
//! on the stack).
//!
//! Every measure runs on the row engine
//! ([`crate::parallel::rows`]): short rows in vertical groups of sixteen
//! ([`one_group`] / [`pair_group`] / [`js_group`]: the row's maximum first, then one pass
//! of sums; float32 entropy and cross-entropy rows [`one_group_f32`],
//! [`cross_entropy_group_f32`], with f32 exponentials), other rows through the blocked
//! kernels ([`OneRow`], [`PairRow`]: one maximum per row, float32 with the native f32
//! exp), rows longer than the engine's `MEDIUM` (and
//! `axis=None`) as fixed blocks in parallel whose lane states combine exactly
//! ([`crate::kernels::Partial`] for [`OneRow`] / [`PairRow`]). Each row's value depends
//! on that row only, so any thread count gives the same bits; Ctrl-C is the engine's.
//!
//! Jensen–Shannon needs both log-normalisers before its terms, so it reads a row twice:
//! the pair pass, then the vector terms of [`js_sum`] (a long row: both passes as
//! parallel blocks, the sums combined in a fixed order). KL reads a row twice only where
//! the pair pass cannot vouch for its value (nearly equal rows): then the non-negative
//! terms of [`kl_sum`] the same way (groups redo such lanes inside [`pair_group`]).

#[cfg(test)]
use ndarray::ArrayView1;
use ndarray::{ArrayD, ArrayViewD, Axis};

#[cfg(test)]
use super::logsumexp::piece_stop;
use super::{batch_shape, same_shape};
#[cfg(test)]
use super::{RowStop, CHECK_ELEMENTS};
use crate::error::Error;
use crate::kernels::logits::{
    cross_entropy_group_f32, js_group, js_sum, one_group, one_group_f32, one_row, pair_group,
    pair_row as feed_pair, JsSum, OneRow, PairRow, PairStats, PairValue,
};
use crate::kernels::logits_kl::{kl_sum, KlNorm};
use crate::kernels::logits_kl_two::kl_two;
use crate::kernels::logits_wide::{Maxima, Sums};
use crate::kernels::two_pass::Lowest;
use crate::kernels::{Real, GROUP};
use crate::parallel::output::{Finish, Fresh};
use crate::parallel::rows::{map_rows_then, map_whole, Long, RowMeasure, Rows};
use crate::parallel::run;
#[cfg(test)]
use crate::parallel::{chunks_of, LanePieces};

/// A measure of one row of logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum One {
    /// Shannon entropy of softmax(z).
    Entropy,
    /// e^{entropy}: does not depend on the base.
    Perplexity,
}

/// A measure of two rows of logits (P = softmax(a), Q = softmax(b)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Two {
    /// H(P, Q) = −Σ P ln Q.
    CrossEntropy,
    /// D(P‖Q).
    Kl,
    /// Jensen–Shannon divergence.
    Js,
    /// √ of the Jensen–Shannon divergence.
    JsDistance,
}

impl One {
    fn value(self, nats: f64, ln_base: f64) -> f64 {
        self.finish(ln_base).one(nats)
    }
    /// The map from an entropy in nats to the measure (per chunk on the pool, or one value).
    pub(crate) fn finish(self, ln_base: f64) -> Finish {
        match self {
            One::Perplexity => Finish::Exp,
            One::Entropy => Finish::unit(ln_base),
        }
    }
    pub(crate) fn empty(self) -> f64 {
        match self {
            One::Entropy => 0.0,
            One::Perplexity => 1.0,
        }
    }
}

impl Two {
    fn value(self, nats: f64, ln_base: f64) -> f64 {
        self.finish(ln_base).one(nats)
    }
    /// The map from the divergence in nats to the measure (per chunk on the pool, or one
    /// value): the unit, and for [`Two::JsDistance`] the distance (as `js::distance`).
    pub(crate) fn finish(self, ln_base: f64) -> Finish {
        match self {
            Two::JsDistance => Finish::SqrtOfQuotient(ln_base),
            _ => Finish::unit(ln_base),
        }
    }
}

/// The group form shared by the logits measures: `kernel` writes all sixteen lanes, the
/// first `out.len()` are the rows' values (rows of length 0: 0, the kernel not called).
/// Rows whose value is NaN are left to the row form (`regular` false), which tells a NaN
/// input from gaps that overflowed ([`unless_overflowed`]).
fn group_values(
    empty: bool,
    out: &mut [f64],
    regular: &mut [bool],
    kernel: impl FnOnce(&mut [f64; GROUP]),
) -> Lowest {
    let mut all = [0.0; GROUP];
    if !empty {
        kernel(&mut all);
    }
    out.copy_from_slice(&all[..out.len()]);
    // (`regular` has one flag per row: the lanes past the rows are not looked at)
    mark_nan_irregular(&all, regular);
    Lowest::NONE
}

/// `regular[j] = false` where `values[j]` is NaN. PERF: a branch-free any-NaN test first
/// (a lane loop per group of sixteen rows was 8% of a (10^6, 10) float32 entropy call).
fn mark_nan_irregular(values: &[f64], regular: &mut [bool]) {
    #[allow(clippy::unnecessary_fold)] // `any` exits early and is not vectorised
    if values.iter().fold(false, |nan, v| nan | v.is_nan()) {
        for (r, v) in regular.iter_mut().zip(values) {
            *r &= !v.is_nan();
        }
    }
}

/// `value` of a row (or pair of rows) of logits, or where it is NaN although the rows have
/// no NaN and finite maxima (`pair`: both), `finish` of the [`Sums`] of
/// [`crate::kernels::logits_wide`]: the kernels' gaps m − z overflowed (logits of both
/// signs beyond ±8.9e307). `maxima` and `sums` read the rows (a slice, or a long row's
/// pieces); they run only for such rows.
fn unless_overflowed(
    value: f64,
    pair: bool,
    maxima: impl FnOnce() -> Maxima,
    sums: impl FnOnce(&Maxima) -> Sums,
    finish: impl FnOnce(&Sums) -> f64,
) -> f64 {
    if !value.is_nan() {
        return value;
    }
    let m = maxima();
    if m.usable(pair) {
        finish(&sums(&m))
    } else {
        value
    }
}

/// Entropy (nats) of softmax of each row, on the row engine (dense and ragged rows).
pub(crate) struct Entropy;

impl<T: Real, U: Real> RowMeasure<T, U> for Entropy {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        _: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        // float32 rows (exact in the f64 group) take the f32 exponentials (DESIGN §2b)
        if T::IS_F32 {
            group_values(p.is_empty(), out, regular, |all| one_group_f32(p, all))
        } else {
            group_values(p.is_empty(), out, regular, |all| one_group(p, all))
        }
    }

    fn row(&self, p: &[T], _: &[U]) -> (f64, Lowest) {
        if p.is_empty() {
            return (0.0, Lowest::NONE);
        }
        let mut st = OneRow::EMPTY;
        one_row(&mut st, p);
        let v = unless_overflowed(
            st.finish().entropy(),
            false,
            || Maxima::of::<T, T>(p, &[]),
            |m| Sums::one(p, m.a),
            Sums::entropy,
        );
        (v, Lowest::NONE)
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let st = x.reduce(|p, _| {
            let mut st = OneRow::EMPTY;
            one_row(&mut st, p);
            st
        });
        let v = unless_overflowed(
            st.finish().entropy(),
            false,
            || x.reduce(|p, _| Maxima::of::<T, T>(p, &[])),
            |m| x.reduce(|p, _| Sums::one(p, m.a)),
            Sums::entropy,
        );
        (v, Lowest::NONE)
    }

    /// A zero after a row's end would be a logit of its own: groups hold rows of one
    /// length (ragged rows).
    fn pads(&self) -> bool {
        false
    }
}

/// Cross-entropy or KL (nats) of the softmaxes of each pair of rows, on the row engine.
pub(crate) struct Pairwise(pub(crate) PairValue);

impl Pairwise {
    /// [`Sums`]' value of this measure (rows whose gaps overflowed).
    fn of_sums(&self, s: &Sums) -> f64 {
        match self.0 {
            PairValue::CrossEntropy => s.cross_entropy(),
            PairValue::Kl => s.kl(),
        }
    }

    /// The value of rows of length `n` from their statistics; KL of nearly equal rows from
    /// `second_pass` (the non-negative terms of [`crate::kernels::logits_kl`]).
    fn value(&self, s: &PairStats, n: usize, second_pass: impl FnOnce(&KlNorm) -> f64) -> f64 {
        match self.0 {
            PairValue::CrossEntropy => s.cross_entropy(),
            PairValue::Kl => {
                let (v, norm) = s.kl_one_pass(n);
                v.unwrap_or_else(|| second_pass(&norm))
            }
        }
    }
}

impl<T: Real, U: Real> RowMeasure<T, U> for Pairwise {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        if self.0 == PairValue::Kl && p.len() == 2 && q.len() == 2 {
            // two-class rows in closed form (rows out of its range: the row form)
            kl_two(p, q, T::IS_F32 && U::IS_F32, out, regular);
            mark_nan_irregular(out, regular);
            return Lowest::NONE;
        }
        // both sides float32 (exact in the f64 group): cross-entropy takes the f32
        // exponentials (DESIGN §2b); KL's one pass keeps f64 ones (see
        // `cross_entropy_group_f32`), its second pass takes f32 terms (`group_f32`)
        if T::IS_F32 && U::IS_F32 && self.0 == PairValue::CrossEntropy {
            group_values(p.is_empty(), out, regular, |all| {
                cross_entropy_group_f32(p, q, all)
            })
        } else {
            group_values(p.is_empty(), out, regular, |all| {
                pair_group(p, q, self.0, T::IS_F32 && U::IS_F32, all)
            })
        }
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        if p.is_empty() {
            return (0.0, Lowest::NONE);
        }
        let mut st = PairRow::EMPTY;
        feed_pair(&mut st, p, q);
        let v = self.value(&st.finish(), p.len(), |k| kl_sum(p, q, k).value());
        let v = unless_overflowed(
            v,
            true,
            || Maxima::of(p, q),
            |m| Sums::pair(p, q, m),
            |s| self.of_sums(s),
        );
        (v, Lowest::NONE)
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let st = x.reduce(|p, q| {
            let mut st = PairRow::EMPTY;
            feed_pair(&mut st, p, q);
            st
        });
        let v = self.value(&st.finish(), x.len(), |k| {
            x.reduce(|p, q| kl_sum(p, q, k)).value()
        });
        let v = unless_overflowed(
            v,
            true,
            || x.reduce(|a, b| Maxima::of(a, b)),
            |m| x.reduce(|a, b| Sums::pair(a, b, m)),
            |s| self.of_sums(s),
        );
        (v, Lowest::NONE)
    }

    /// A zero after a row's end would be a logit of its own: groups hold rows of one
    /// length (ragged rows).
    fn pads(&self) -> bool {
        false
    }
}

/// Jensen–Shannon divergence (nats) of the softmaxes of each pair of rows, on the row
/// engine: short rows in vertical groups ([`js_group`]), others by the pair pass for the
/// log-normalisers and then the vector terms ([`js_sum`]); long rows as blocks in parallel,
/// both passes.
pub(crate) struct Js;

impl<T: Real, U: Real> RowMeasure<T, U> for Js {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        group_values(p.is_empty(), out, regular, |all| {
            js_group::<T, U>(p, q, all)
        })
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        if p.is_empty() {
            return (0.0, Lowest::NONE);
        }
        let mut st = PairRow::EMPTY;
        feed_pair(&mut st, p, q);
        let v = match normalisers(&st.finish()) {
            None => f64::NAN,
            Some(n) => js_sum(p, q, n),
        };
        (v, Lowest::NONE)
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let st = x.reduce(|p, q| {
            let mut st = PairRow::EMPTY;
            feed_pair(&mut st, p, q);
            st
        });
        let v = match normalisers(&st.finish()) {
            None => f64::NAN,
            Some(n) => x.reduce(|p, q| JsSum(js_sum(p, q, n))).0,
        };
        (v, Lowest::NONE)
    }

    /// A zero after a row's end would be a logit of its own: groups hold rows of one
    /// length (ragged rows).
    fn pads(&self) -> bool {
        false
    }
}

/// Feeds a lane (contiguous, or gathered in pieces) into `feed` (tests); stops early (the value
/// then discarded) once the call is stopped.
#[cfg(test)]
fn for_pieces<T: Real>(z: &ArrayView1<'_, T>, stop: &RowStop<'_>, mut feed: impl FnMut(&[T])) {
    if let Some(s) = z.as_slice() {
        for (i, piece) in s.chunks(CHECK_ELEMENTS).enumerate() {
            if i > 0 && stop.piece() {
                break;
            }
            feed(piece);
        }
    } else {
        let mut pieces = LanePieces::<T>::new(z.view());
        for r in chunks_of(z.len()) {
            if piece_stop(r.start, stop) {
                break;
            }
            feed(pieces.piece(r));
        }
    }
}

/// Entropy (nats) of one row of logits, streaming (tests).
#[cfg(test)]
fn entropy_row<T: Real>(z: &ArrayView1<'_, T>, stop: &RowStop<'_>) -> f64 {
    let mut st = OneRow::EMPTY;
    for_pieces(z, stop, |piece| one_row(&mut st, piece));
    st.finish().entropy()
}

/// (m, log1p(rest)) of both rows: p_i = exp((a_i − m_a) − l_a).
fn normalisers(s: &PairStats) -> Option<(f64, f64, f64, f64)> {
    if s.a.max.is_finite() && s.b.max.is_finite() {
        Some((s.a.max, s.a.rest.ln_1p(), s.b.max, s.b.rest.ln_1p()))
    } else {
        None
    }
}

/// A measure of every row of logits along the last axis of `z`.
pub fn one<T: Real>(z: ArrayViewD<'_, T>, kind: One, ln_base: f64) -> Result<ArrayD<f64>, Error> {
    let batch = batch_shape("p", &z)?;
    let rows = Rows::from_view(&z);
    let mut out = Fresh::new(rows.n_rows());
    let finish = kind.finish(ln_base);
    run(z.len(), |ctx| {
        map_rows_then(&rows, &rows, &Entropy, ctx, &mut out, finish)
    })?;
    let mut out = out.into_values();
    if z.len_of(Axis(z.ndim() - 1)) == 0 {
        out.fill(kind.empty());
    }
    Ok(ArrayD::from_shape_vec(ndarray::IxDyn(&batch), out).expect("one value per row"))
}

/// Entropy (nats) of one row of logits (streaming, read in pieces): tests compare it with
/// the engine's forms.
#[cfg(test)]
fn entropy_of_lane<T: Real>(z: &ArrayView1<'_, T>) -> f64 {
    crate::parallel::Ctx::sequential(|ctx| entropy_row(z, &RowStop::new(ctx, z.len())))
}

/// The pair measure `kind` of every pair of rows of logits, in the unit of `ln_base` (and
/// the distance for [`Two::JsDistance`], [`Two::value`]): the dense and the ragged entry
/// points' one body.
pub(crate) fn pair_rows<T: Real, U: Real>(
    pr: &Rows<'_, T>,
    qr: &Rows<'_, U>,
    kind: Two,
    elements: usize,
    ln_base: f64,
) -> Result<Vec<f64>, Error> {
    let mut out = Fresh::new(pr.n_rows());
    let finish = kind.finish(ln_base);
    match kind {
        Two::CrossEntropy | Two::Kl => {
            let m = Pairwise(if kind == Two::Kl {
                PairValue::Kl
            } else {
                PairValue::CrossEntropy
            });
            run(elements, |ctx| {
                map_rows_then(pr, qr, &m, ctx, &mut out, finish)
            })?;
        }
        Two::Js | Two::JsDistance => {
            run(elements, |ctx| {
                map_rows_then(pr, qr, &Js, ctx, &mut out, finish)
            })?;
        }
    }
    Ok(out.into_values())
}

/// A pair measure of every pair of rows of logits along the last axis of `a` and `b`.
pub fn two<T: Real, U: Real>(
    a: ArrayViewD<'_, T>,
    b: ArrayViewD<'_, U>,
    kind: Two,
    ln_base: f64,
) -> Result<ArrayD<f64>, Error> {
    same_shape(&a, &b)?;
    let batch = batch_shape("p", &a)?;
    let axis = Axis(a.ndim() - 1);
    let len = a.len_of(axis);
    let (pr, qr) = (Rows::from_view(&a), Rows::from_view(&b));
    let mut values = pair_rows(&pr, &qr, kind, a.len(), ln_base)?;
    if len == 0 {
        values.fill(0.0);
    }
    Ok(ArrayD::from_shape_vec(ndarray::IxDyn(&batch), values).expect("one value per row"))
}

/// A measure of the whole of `z` (any shape, any strides) as one row of logits.
pub fn one_whole<T: Real>(z: ArrayViewD<'_, T>, kind: One, ln_base: f64) -> Result<f64, Error> {
    if z.is_empty() {
        return Ok(kind.empty());
    }
    let (h, _) = run(z.len(), |ctx| map_whole(&z, &z, &Entropy, ctx))?;
    Ok(kind.value(h, ln_base))
}

/// A pair measure of the whole of `a` and `b` (equal shapes) as one pair of rows.
pub fn two_whole<T: Real, U: Real>(
    a: ArrayViewD<'_, T>,
    b: ArrayViewD<'_, U>,
    kind: Two,
    ln_base: f64,
) -> Result<f64, Error> {
    same_shape(&a, &b)?;
    if a.is_empty() {
        return Ok(0.0);
    }
    let (v, _) = match kind {
        Two::CrossEntropy | Two::Kl => {
            let m = Pairwise(if kind == Two::Kl {
                PairValue::Kl
            } else {
                PairValue::CrossEntropy
            });
            run(a.len(), |ctx| map_whole(&a, &b, &m, ctx))?
        }
        Two::Js | Two::JsDistance => run(a.len(), |ctx| map_whole(&a, &b, &Js, ctx))?,
    };
    Ok(kind.value(v, ln_base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::logits::{entropy_reference, pair_reference};
    use ndarray::{arr1, Array2, Array3};

    #[test]
    fn two_class_kl_groups_match_the_general_row_form() {
        // the closed form (kernels::logits_kl_two) against the one pass + exact second
        // pass of the row form, on adversarial and nearly equal pairs, f64 and f32 data
        use crate::kernels::adversarial::close;
        use crate::kernels::logits_kl_two::tests::{in_range, pairs};
        for f32_data in [false, true] {
            let cast = |v: f64| if f32_data { v as f32 as f64 } else { v };
            let rows: Vec<([f64; 2], [f64; 2])> = pairs()
                .iter()
                .map(|(a, b)| ([cast(a[0]), cast(a[1])], [cast(b[0]), cast(b[1])]))
                .collect();
            let rtol = if f32_data { 1e-6 } else { 1e-13 };
            let m = Pairwise(PairValue::Kl);
            let mut closed = 0;
            for chunk in rows.chunks(GROUP) {
                let (at, bt) = crate::kernels::adversarial::transposed_pairs(chunk);
                let (mut out, mut regular) = (vec![0.0; chunk.len()], vec![true; chunk.len()]);
                if f32_data {
                    RowMeasure::<f32, f32>::group(&m, &at, &bt, &mut out, &mut regular);
                } else {
                    RowMeasure::<f64, f64>::group(&m, &at, &bt, &mut out, &mut regular);
                }
                for (j, &(a, b)) in chunk.iter().enumerate() {
                    assert_eq!(regular[j], in_range(a, b), "{a:?} {b:?}");
                    let want = RowMeasure::<f64, f64>::row(&m, &a, &b).0;
                    if regular[j] {
                        closed += 1;
                        let v = out[j];
                        assert!(
                            close(v, want, rtol) || (want < 1e-300 && v < 1e-300),
                            "f32 {f32_data}: {a:?} {b:?}: {v:e} vs {want:e}"
                        );
                    }
                }
            }
            assert!(closed > rows.len() / 2, "{closed} of {}", rows.len());
        }
    }

    fn data(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 2000) as f64 / 97.0 - 10.0
            })
            .collect()
    }

    #[test]
    fn rows_strided_whole_and_references_agree() {
        let a = Array2::from_shape_vec((13, 300), data(3900, 1)).unwrap();
        let b = Array2::from_shape_vec((13, 300), data(3900, 2)).unwrap();
        let h = one(a.view().into_dyn(), One::Entropy, 1.0).unwrap();
        for r in 0..13 {
            let lane = entropy_of_lane(&a.row(r));
            assert!((h[[r]] - lane).abs() <= 1e-14 * lane);
        }
        // short rows (vertical groups) and a long row (parallel blocks) against the reference
        let short = Array2::from_shape_vec((37, 9), data(333, 3)).unwrap();
        let hs = one(short.view().into_dyn(), One::Entropy, 1.0).unwrap();
        for r in 0..37 {
            let want = entropy_reference(&short.row(r).to_vec());
            assert!((hs[[r]] - want).abs() <= 1e-13 * want);
        }
        let long = arr1(&data(100_000, 4));
        let want = entropy_reference(long.as_slice().unwrap());
        let got = one(long.view().into_dyn(), One::Entropy, 1.0).unwrap()[[]];
        assert!((got - want).abs() <= 1e-13 * want, "{got} vs {want}");
        let long_b = arr1(&data(100_000, 5));
        let (c, _) = pair_reference(long.as_slice().unwrap(), long_b.as_slice().unwrap());
        let got = two(
            long.view().into_dyn(),
            long_b.view().into_dyn(),
            Two::CrossEntropy,
            1.0,
        )
        .unwrap()[[]];
        assert!((got - c).abs() <= 1e-13 * c, "{got} vs {c}");
        let at = a.t().to_owned();
        let h2 = one(at.t().into_dyn(), One::Entropy, 1.0).unwrap();
        assert_eq!(h, h2);
        let ce = two(
            a.view().into_dyn(),
            b.view().into_dyn(),
            Two::CrossEntropy,
            1.0,
        )
        .unwrap();
        let kl = two(a.view().into_dyn(), b.view().into_dyn(), Two::Kl, 1.0).unwrap();
        for r in 0..13 {
            let (x, y) = (a.row(r).to_vec(), b.row(r).to_vec());
            let want = entropy_reference(&x);
            assert!((h[[r]] - want).abs() <= 1e-13 * want);
            let (c, k) = pair_reference(&x, &y);
            assert!((ce[[r]] - c).abs() <= 1e-13 * c);
            assert!((kl[[r]] - k).abs() <= 1e-13 * c);
        }
        // axis=None equals the flattened row
        let flat = arr1(&a.iter().copied().collect::<Vec<_>>());
        let want = one(flat.view().into_dyn(), One::Entropy, 1.0).unwrap()[[]];
        let got = one_whole(at.t().into_dyn(), One::Entropy, 1.0).unwrap();
        assert!((got - want).abs() <= 1e-13 * want);
    }

    #[test]
    fn js_of_logits_matches_the_probability_path() {
        let a = Array3::from_shape_vec((2, 3, 50), data(300, 5)).unwrap();
        let b = Array3::from_shape_vec((2, 3, 50), data(300, 6)).unwrap();
        let js = two(a.view().into_dyn(), b.view().into_dyn(), Two::Js, 1.0).unwrap();
        let soft = |x: &Array3<f64>| {
            let mut y = x.clone();
            for mut row in y.lanes_mut(Axis(2)) {
                let m = row.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row.mapv_inplace(|v| v / s);
            }
            y
        };
        let want = super::super::js::js_divergence(
            soft(&a).view().into_dyn(),
            soft(&b).view().into_dyn(),
            &super::super::Options::default(),
        )
        .unwrap();
        for (g, w) in js.iter().zip(want.iter()) {
            assert!((g - w).abs() <= 1e-13 * w, "{g} vs {w}");
        }
        let same = two(a.view().into_dyn(), a.view().into_dyn(), Two::Js, 1.0).unwrap();
        assert!(same.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn edge_rows() {
        let e = Array2::<f64>::zeros((2, 0));
        assert!(one(e.view().into_dyn(), One::Perplexity, 1.0)
            .unwrap()
            .iter()
            .all(|&v| v == 1.0));
        assert!(two(e.view().into_dyn(), e.view().into_dyn(), Two::Kl, 1.0)
            .unwrap()
            .iter()
            .all(|&v| v == 0.0));
        let ninf = f64::NEG_INFINITY;
        let z = arr1(&[ninf, ninf]);
        assert!(one(z.view().into_dyn(), One::Entropy, 1.0).unwrap()[[]].is_nan());
        assert!(two(z.view().into_dyn(), z.view().into_dyn(), Two::Js, 1.0).unwrap()[[]].is_nan());
        let z = arr1(&[0.0, 0.0]);
        let h = one(z.view().into_dyn(), One::Entropy, 2.0f64.ln()).unwrap()[[]];
        assert_eq!(h, 1.0);
        let p = one(z.view().into_dyn(), One::Perplexity, 2.0f64.ln()).unwrap()[[]];
        assert!((p - 2.0).abs() < 1e-15);
    }
}
