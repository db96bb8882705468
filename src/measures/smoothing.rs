//! Additive smoothing (Laplace / Lidstone, `smoothing=α`) for the normalised measures, and
//! the population stability index PSI = Σ (P − Q)·ln(P/Q) = KL(P‖Q) + KL(Q‖P).
//!
//! With α > 0 every element of p (and q) is read as `x + α` before normalisation — a
//! histogram's empty bin gets a pseudocount, so KL / PSI stay finite. The rows go through
//! the row engine (`map_rows`, `map_whole`, by the measures' `per_row` and `whole`) as the
//! measure [`Plus`]: short rows as vertical groups whose transposed tiles get `+ α`
//! (widened to f64) before the measure's float64 group form — sixteen rows at a time, as
//! unsmoothed rows — and longer rows read once into a per-thread buffer of one row
//! (`x + α`) for the exact per-row form:
//! memory is one row per thread, never an N×C temporary. (Every row used to take the
//! per-row form: ~150 ns a row, 20× the unsmoothed time of (N, 10) rows.) Groups hold
//! rows of one length only (zero padding would get the pseudocount), so dense rows,
//! ragged rows and `axis=None` give a row the same bits. `axis=None` beyond the group
//! length reads the whole array as that one row (a widened copy of the array: the one
//! case that needs memory of the input's size). Negative inputs are rejected on the
//! values before the pseudocount.
//!
//! Rows run in parallel (a row's value depends on the row only: any thread count gives the
//! same bits); Ctrl-C is checked between rows.

use std::cell::RefCell;

use ndarray::{ArrayD, ArrayViewD};

use super::cross_entropy::CrossEntropy;
use super::js::JensenShannon;
use super::kl::Divergence;
use super::{contiguous_pair, per_row_of_views_then, per_row_then, Options};
use crate::error::Error;
use crate::kernels::plogq::same_data;
use crate::kernels::two_pass::Lowest;
use crate::kernels::{Real, GROUP};
use crate::parallel::output::Finish;
use crate::parallel::rows::{Long, RowMeasure, Rows};

/// The measures that take `smoothing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smoothed {
    /// H(P) (q is p).
    Entropy,
    /// H(P, Q).
    CrossEntropy,
    /// D(P‖Q).
    Kl,
    /// Jensen–Shannon divergence.
    Js,
    /// √ of the Jensen–Shannon divergence.
    JsDistance,
    /// Population stability index D(P‖Q) + D(Q‖P).
    Psi,
}

impl Smoothed {
    /// The value (nats) of one pair of smoothed rows.
    fn nats(self, p: &[f64], q: &[f64]) -> f64 {
        match self {
            Smoothed::Entropy | Smoothed::CrossEntropy => {
                RowMeasure::<f64, f64>::row(&CrossEntropy { normalize: true }, p, q).0
            }
            Smoothed::Kl => RowMeasure::<f64, f64>::row(&PLAIN_KL, p, q).0,
            Smoothed::Js | Smoothed::JsDistance => {
                RowMeasure::<f64, f64>::row(&JensenShannon { normalize: true }, p, q).0
            }
            Smoothed::Psi => RowMeasure::<f64, f64>::row(&BothWays, p, q).0,
        }
    }

    /// The values (nats) of up to sixteen pairs of smoothed rows, transposed: the
    /// measure's float64 group form (see [`RowMeasure::group`]).
    fn group(self, p: &[[f64; GROUP]], q: &[[f64; GROUP]], out: &mut [f64], regular: &mut [bool]) {
        match self {
            Smoothed::Entropy | Smoothed::CrossEntropy => {
                RowMeasure::<f64, f64>::group(
                    &CrossEntropy { normalize: true },
                    p,
                    q,
                    out,
                    regular,
                );
            }
            Smoothed::Kl => {
                RowMeasure::<f64, f64>::group(&PLAIN_KL, p, q, out, regular);
            }
            Smoothed::Js | Smoothed::JsDistance => {
                let js = JensenShannon { normalize: true };
                RowMeasure::<f64, f64>::group(&js, p, q, out, regular);
            }
            Smoothed::Psi => {
                RowMeasure::<f64, f64>::group(&BothWays, p, q, out, regular);
            }
        }
    }

    /// Values in nats to the unit of `ln_base` (and √ for the distance), on the threads
    /// that computed them.
    fn finish(self, ln_base: f64) -> Finish {
        match self {
            Smoothed::JsDistance => Finish::SqrtOfQuotient(ln_base),
            _ => Finish::unit(ln_base),
        }
    }
}

/// PSI without a pseudocount is this measure both ways (its float32 forms included, so
/// float32 histograms get its speed); a + b == b + a keeps PSI symmetric bit for bit.
const PLAIN_KL: Divergence = Divergence { normalize: true };

/// PSI as a row measure: D(P‖Q) + D(Q‖P) of each row, both from the same tiles or
/// slices — one pass over the rows, one result array (a 10-bin call paid for two).
/// A row either direction's group form refuses takes the row form both ways, so
/// PSI(p, q) == PSI(q, p) bit for bit (a + b == b + a).
struct BothWays;

/// The smallest inputs of a forward and a backward (p and q swapped) divergence.
fn both_lowest(forth: Lowest, back: Lowest) -> Lowest {
    forth.min(Lowest {
        p: back.q,
        q: back.p,
    })
}

impl<T: Real, U: Real> RowMeasure<T, U> for BothWays {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        let n = out.len();
        let (mut back, mut back_regular) = ([0.0; GROUP], [true; GROUP]);
        let forth = RowMeasure::<T, U>::group(&PLAIN_KL, p, q, out, regular);
        let back_lowest =
            RowMeasure::<U, T>::group(&PLAIN_KL, q, p, &mut back[..n], &mut back_regular[..n]);
        for j in 0..n {
            out[j] += back[j];
            regular[j] &= back_regular[j];
        }
        both_lowest(forth, back_lowest)
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        let (forth, lf) = RowMeasure::<T, U>::row(&PLAIN_KL, p, q);
        let (back, lb) = RowMeasure::<U, T>::row(&PLAIN_KL, q, p);
        (forth + back, both_lowest(lf, lb))
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let (forth, lf) = RowMeasure::<T, U>::long(&PLAIN_KL, x);
        let (back, lb) = RowMeasure::<U, T>::long(&PLAIN_KL, &x.swapped());
        (forth + back, both_lowest(lf, lb))
    }

    fn vertical(&self) -> usize {
        // the float32 row threshold is the same both ways (both sides float32)
        RowMeasure::<T, U>::vertical(&PLAIN_KL)
    }

    fn own_length_up_to(&self) -> usize {
        // (likewise)
        RowMeasure::<T, U>::own_length_up_to(&PLAIN_KL)
    }
}

/// The measures' options for [`Plus`]: natural logs (the unit is applied afterwards, with
/// the distance's square root).
const NATS: Options = Options {
    normalize: true,
    base: None,
};

/// `kind` of rows read as `x + alpha` (see the module docs), in nats.
struct Plus {
    kind: Smoothed,
    alpha: f64,
}

/// A transposed tile of a group of rows (`tile[element][lane]`).
type Tile = Vec<[f64; GROUP]>;

thread_local! {
    /// The smoothed tiles of one group of p and of q.
    static TILES: RefCell<(Tile, Tile)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `out[c][j] = x[c][j] + alpha`; returns min(0, smallest x) (NaN ignored).
fn shift_tile(x: &[[f64; GROUP]], alpha: f64, out: &mut Tile) -> f64 {
    out.clear();
    let mut lowest = 0.0f64;
    for slot in x {
        let mut shifted = [0.0; GROUP];
        for (s, &v) in shifted.iter_mut().zip(slot) {
            if v < lowest {
                lowest = v;
            }
            *s = v + alpha;
        }
        out.push(shifted);
    }
    lowest
}

impl<T: Real, U: Real> RowMeasure<T, U> for Plus {
    fn group(
        &self,
        p: &[[f64; GROUP]],
        q: &[[f64; GROUP]],
        out: &mut [f64],
        regular: &mut [bool],
    ) -> Lowest {
        TILES.with(|tiles| {
            let mut tiles = tiles.borrow_mut();
            let (pt, qt) = &mut *tiles;
            let lp = shift_tile(p, self.alpha, pt);
            if same_data(p, q) {
                self.kind.group(pt, pt, out, regular);
                return Lowest { p: lp, q: lp };
            }
            let lq = shift_tile(q, self.alpha, qt);
            self.kind.group(pt, qt, out, regular);
            Lowest { p: lp, q: lq }
        })
    }

    fn row(&self, p: &[T], q: &[U]) -> (f64, Lowest) {
        let q = if same_data(p, q) { None } else { Some(q) };
        let [v, lp, lq] = one_pair(p, q, self.alpha, self.kind);
        (v, Lowest { p: lp, q: lq })
    }

    fn long(&self, x: &Long<'_, '_, T, U>) -> (f64, Lowest) {
        let (mut pv, mut qv): (Vec<T>, Vec<U>) = (Vec::new(), Vec::new());
        x.for_each_run(|ps, qs| {
            pv.extend_from_slice(ps);
            qv.extend_from_slice(qs);
        });
        self.row(&pv, &qv)
    }

    // zero padding would get the pseudocount
    fn pads(&self) -> bool {
        false
    }
}

thread_local! {
    /// One row of p + α and of q + α, reused by the rows this thread computes.
    static BUFFERS: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Fills `buf` with `x + alpha` (widened); returns min(0, smallest x) (NaN ignored).
/// Eight running minima and a plain `extend`, so both loops vectorise (one minimum was a
/// chain of dependent compares, as long as the KL row itself at C = 1000).
fn fill<T: Real>(x: &[T], alpha: f64, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(x.iter().map(|&v| v.to_f64() + alpha));
    let mut lowest = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lowest.iter_mut().zip(chunk) {
            let v = v.to_f64();
            *m = if v < *m { v } else { *m };
        }
    }
    for &v in tail {
        let v = v.to_f64();
        lowest[0] = if v < lowest[0] { v } else { lowest[0] };
    }
    lowest.iter().fold(0.0, |a, &b| if b < a { b } else { a })
}

/// (value in nats, lowest p, lowest q) of one pair of rows.
fn one_pair<T: Real, U: Real>(p: &[T], q: Option<&[U]>, alpha: f64, kind: Smoothed) -> [f64; 3] {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (pb, qb) = &mut *b;
        let lp = fill(p, alpha, pb);
        let (lq, qs): (f64, &[f64]) = match q {
            Some(q) => (fill(q, alpha, qb), qb),
            None => (lp, pb),
        };
        [kind.nats(pb, qs), lp, lq]
    })
}

pub(crate) fn check_alpha(alpha: f64) -> Result<(), Error> {
    if alpha >= 0.0 && alpha.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidSmoothing { value: alpha })
    }
}

/// `kind` of every (pair of) distribution(s) along the last axis, each element read as
/// `x + alpha`, normalised. `q` is ignored for [`Smoothed::Entropy`].
pub fn rows<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    kind: Smoothed,
    alpha: f64,
    ln_base: f64,
) -> Result<ArrayD<f64>, Error> {
    check_alpha(alpha)?;
    let m = Plus { kind, alpha };
    let finish = kind.finish(ln_base);
    match kind {
        Smoothed::Psi if alpha == 0.0 => per_row_of_views_then(&p, &q, &BothWays, finish, "q"),
        Smoothed::Entropy => per_row_of_views_then(&p, &p, &m, finish, "q"),
        _ => per_row_of_views_then(&p, &q, &m, finish, "q"),
    }
}

/// [`rows`] of ragged rows `p` and `q` (None: q is p, for [`Smoothed::Entropy`]), so a
/// ragged row gets the bits of the dense row.
pub(crate) fn ragged<T: Real, U: Real>(
    p: &Rows<'_, T>,
    q: Option<&Rows<'_, U>>,
    kind: Smoothed,
    alpha: f64,
    elements: usize,
    ln_base: f64,
) -> Result<Vec<f64>, Error> {
    check_alpha(alpha)?;
    let m = Plus { kind, alpha };
    let finish = kind.finish(ln_base);
    match q {
        None => per_row_then(p, p, &m, elements, finish, "q"),
        Some(q) if kind == Smoothed::Psi && alpha == 0.0 => {
            per_row_then(p, q, &BothWays, elements, finish, "q")
        }
        Some(q) => per_row_then(p, q, &m, elements, finish, "q"),
    }
}

/// [`rows`] of one contiguous pair of distributions (equal lengths): the bits of their 1-D
/// views, without views or a result array (the small-call path).
pub fn contiguous<T: Real, U: Real>(
    p: &[T],
    q: &[U],
    kind: Smoothed,
    alpha: f64,
    ln_base: f64,
) -> Result<f64, Error> {
    let (pr, qr) = contiguous_pair(p, q)?;
    let q = (kind != Smoothed::Entropy).then_some(&qr);
    Ok(ragged(&pr, q, kind, alpha, p.len(), ln_base)?[0])
}

/// The same for the whole of `p` (and `q`) as one distribution (`axis=None`).
pub fn whole<T: Real, U: Real>(
    p: ArrayViewD<'_, T>,
    q: ArrayViewD<'_, U>,
    kind: Smoothed,
    alpha: f64,
    ln_base: f64,
) -> Result<f64, Error> {
    check_alpha(alpha)?;
    if kind == Smoothed::Psi && alpha == 0.0 {
        let forth = super::whole(&p, &q, &PLAIN_KL, &NATS, "q")?;
        let back = super::whole(&q, &p, &PLAIN_KL, &NATS, "p")?;
        return Ok(kind.finish(ln_base).one(forth + back));
    }
    let m = Plus { kind, alpha };
    let nats = match kind {
        Smoothed::Entropy => super::whole(&p, &p, &m, &NATS, "q")?,
        _ => super::whole(&p, &q, &m, &NATS, "q")?,
    };
    Ok(kind.finish(ln_base).one(nats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measures::per_row_of_views;
    use ndarray::{arr1, arr2};

    /// One contiguous pair gives the bits of its 1-D views, for every kind, with and
    /// without a pseudocount (empty bins, zeros, subnormal and huge counts).
    #[test]
    fn contiguous_pairs_equal_their_views_bitwise() {
        use crate::kernels::adversarial::positive;
        let kinds = [
            Smoothed::Entropy,
            Smoothed::CrossEntropy,
            Smoothed::Kl,
            Smoothed::Js,
            Smoothed::JsDistance,
            Smoothed::Psi,
        ];
        for n in 0..=40 {
            let (p, q) = (positive(n, n as u64), positive(n, 1000 + n as u64));
            for kind in kinds {
                for alpha in [0.0, 0.5] {
                    let (pv, qv) = (arr1(&p).into_dyn(), arr1(&q).into_dyn());
                    let want = rows(pv.view(), qv.view(), kind, alpha, 1.0).unwrap()[[]];
                    let got = contiguous(&p, &q, kind, alpha, 1.0).unwrap();
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{kind:?} n={n} alpha={alpha}"
                    );
                }
            }
        }
        assert!(contiguous(&[1.0], &[1.0, 2.0], Smoothed::Psi, 0.0, 1.0).is_err());
    }

    /// PSI without a pseudocount, in one pass (both divergences of a row from the same
    /// tiles): the bits of the two divergences computed apart and added, for rows both
    /// directions' group forms take, at every length (group tails, row form, long form),
    /// float32 and float64; and symmetric bit for bit on rows they refuse (zeros, ±inf,
    /// NaN, subnormal and huge masses).
    #[test]
    fn psi_in_one_pass_is_both_divergences_added() {
        use crate::kernels::adversarial::{positive, xorshift, SPECIALS};
        fn two_passes<T: Real, U: Real>(p: &[T], q: &[U], c: usize) -> Vec<f64> {
            let pv = ndarray::ArrayView2::from_shape((p.len() / c, c), p)
                .unwrap()
                .into_dyn();
            let qv = ndarray::ArrayView2::from_shape((q.len() / c, c), q)
                .unwrap()
                .into_dyn();
            let forth = per_row_of_views(&pv, &qv, &PLAIN_KL, &NATS, "q").unwrap();
            let back = per_row_of_views(&qv, &pv, &PLAIN_KL, &NATS, "p").unwrap();
            (forth + back).into_raw_vec_and_offset().0
        }
        fn one_pass<T: Real, U: Real>(p: &[T], q: &[U], c: usize) -> Vec<f64> {
            let pv = ndarray::ArrayView2::from_shape((p.len() / c, c), p).unwrap();
            let qv = ndarray::ArrayView2::from_shape((q.len() / c, c), q).unwrap();
            let v = rows(pv.into_dyn(), qv.into_dyn(), Smoothed::Psi, 0.0, 1.0).unwrap();
            v.into_raw_vec_and_offset().0
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let lengths = (1..=67).chain([255, 256, 257, 1000, 40_000]);
        for c in lengths {
            let n = if c > 1000 { c } else { 3 * c.max(17) };
            // positive rows only (zero bins, mixed scales): every form is regular
            let p: Vec<f64> = positive(n, c as u64).iter().map(|v| v + 1e-3).collect();
            let q: Vec<f64> = positive(n, 7 + c as u64).iter().map(|v| v + 1e-3).collect();
            let (pf, qf): (Vec<f32>, Vec<f32>) = (
                p.iter().map(|&v| v as f32).collect(),
                q.iter().map(|&v| v as f32).collect(),
            );
            let n_c = n / c * c;
            let (p, q, pf, qf) = (&p[..n_c], &q[..n_c], &pf[..n_c], &qf[..n_c]);
            assert_eq!(
                bits(&one_pass(p, q, c)),
                bits(&two_passes(p, q, c)),
                "f64 c={c}"
            );
            assert_eq!(
                bits(&one_pass(pf, qf, c)),
                bits(&two_passes(pf, qf, c)),
                "f32 c={c}"
            );
            assert_eq!(
                bits(&one_pass(pf, q, c)),
                bits(&two_passes(pf, q, c)),
                "mixed c={c}"
            );
        }
        // adversarial rows: symmetric bit for bit, and what the divergences give
        let mut next = xorshift(11);
        for c in 1..=40 {
            let pick = |s: u64| SPECIALS[(s % SPECIALS.len() as u64) as usize].abs();
            let p: Vec<f64> = (0..17 * c).map(|_| pick(next())).collect();
            let q: Vec<f64> = (0..17 * c).map(|_| pick(next())).collect();
            let mut p_nan = p.clone();
            p_nan[c / 2] = f64::NAN;
            for (p, q) in [(&p, &q), (&p_nan, &q)] {
                let a = one_pass(p, q, c);
                let b = one_pass(q, p, c);
                assert_eq!(bits(&a), bits(&b), "symmetric c={c}");
                for (got, want) in a.iter().zip(two_passes(p, q, c)) {
                    let close = got == &want
                        || (got.is_nan() && want.is_nan())
                        || (got - want).abs() <= 1e-13 * want.abs();
                    assert!(close, "c={c}: {got} vs {want}");
                }
            }
        }
        // a negative value is reported on the argument holding it
        let err = |p: &[f64], q: &[f64]| {
            let (pv, qv) = (arr1(p).into_dyn(), arr1(q).into_dyn());
            rows(pv.view(), qv.view(), Smoothed::Psi, 0.0, 1.0).unwrap_err()
        };
        assert_eq!(
            err(&[1.0, -2.0], &[1.0, 1.0]),
            Error::Negative {
                arg: "p",
                value: -2.0
            }
        );
        assert_eq!(
            err(&[1.0, 1.0], &[-3.0, 1.0]),
            Error::Negative {
                arg: "q",
                value: -3.0
            }
        );
    }

    fn kl(p: &[f64], q: &[f64]) -> f64 {
        let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
        p.iter()
            .zip(q)
            .filter(|(&a, _)| a > 0.0)
            .map(|(&a, &b)| a / sp * ((a / sp) / (b / sq)).ln())
            .sum()
    }

    #[test]
    fn psi_is_the_sum_of_both_divergences_and_symmetric() {
        let p = arr2(&[[10.0, 20.0, 30.0, 0.0], [1.0, 1.0, 1.0, 1.0]]);
        let q = arr2(&[[12.0, 18.0, 25.0, 5.0], [1.0, 2.0, 3.0, 4.0]]);
        let a = rows(
            p.view().into_dyn(),
            q.view().into_dyn(),
            Smoothed::Psi,
            0.5,
            1.0,
        )
        .unwrap();
        let b = rows(
            q.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Psi,
            0.5,
            1.0,
        )
        .unwrap();
        assert_eq!(a, b);
        for r in 0..2 {
            let ps: Vec<f64> = p.row(r).iter().map(|v| v + 0.5).collect();
            let qs: Vec<f64> = q.row(r).iter().map(|v| v + 0.5).collect();
            let want = kl(&ps, &qs) + kl(&qs, &ps);
            assert!((a[[r]] - want).abs() <= 1e-14 * want);
        }
        // without smoothing, an empty bin on one side only: +inf
        let z = rows(
            p.view().into_dyn(),
            q.view().into_dyn(),
            Smoothed::Psi,
            0.0,
            1.0,
        )
        .unwrap();
        assert_eq!(z[[0]], f64::INFINITY);
        assert!(z[[1]].is_finite());
    }

    #[test]
    fn smoothing_entropy_and_errors() {
        let p = arr1(&[3.0f32, 0.0, 1.0]);
        let h = rows(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Entropy,
            1.0,
            1.0,
        )
        .unwrap();
        let want = -[4.0f64, 1.0, 2.0]
            .iter()
            .map(|v| v / 7.0 * (v / 7.0f64).ln())
            .sum::<f64>();
        assert!((h[[]] - want).abs() <= 1e-15 * want);
        let w = whole(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Entropy,
            1.0,
            1.0,
        )
        .unwrap();
        assert_eq!(w, h[[]]);
        let bad = arr1(&[0.5, -0.25]);
        let e = rows(
            bad.view().into_dyn(),
            p.view().into_dyn().mapv(f64::from).view(),
            Smoothed::Entropy,
            1.0,
            1.0,
        );
        assert_eq!(
            e.unwrap_err(),
            Error::Negative {
                arg: "p",
                value: -0.25
            }
        );
        let e = rows(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Kl,
            f64::NAN,
            1.0,
        );
        assert!(matches!(e, Err(Error::InvalidSmoothing { .. })));
        let e = rows(
            p.view().into_dyn(),
            p.view().into_dyn(),
            Smoothed::Kl,
            -1.0,
            1.0,
        );
        assert!(matches!(e, Err(Error::InvalidSmoothing { .. })));
    }
}
