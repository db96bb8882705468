//! The per-distribution partial statistics and the `finish` functions, for scale-out
//! (`fastentropy.dask`, DESIGN.md §3–4).
//!
//! `<measure>_partials` reduces every lane along the last axis to the measure's partial
//! statistics — the very structs the local reductions combine — and returns them as a
//! float64 array of shape `batch + (K,)`, one field per column:
//!
//! | measure | K | columns |
//! |---|---|---|
//! | entropy | 3 | Σx, Σ x ln x, min(0, min x) |
//! | KL divergence | 5 | Σp, Σq, Σ rel_entr(p, q), min(0, min p), min(0, min q) |
//! | cross-entropy | 5 | Σp, Σq, Σ p ln q, min(0, min p), min(0, min q) |
//!
//! Partials of two pieces of one distribution combine exactly: the sums add, the minima
//! take the smaller (NaN ignored). `<measure>_finish` checks the minima (negative inputs
//! are rejected as by the local function) and applies the measure's own Rust `finish`, so
//! a distribution that is not split gives bitwise the local result, and a split one differs
//! from it only by the rounding of the additions.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::Compute;

use super::arrays::{
    borrow_array, into_numpy, into_python, view, with_view, with_view_pair, Floats,
};
use super::arrays::{check_result_size, lanes, BYTES_PER_LANE};
use crate::error::Error;
use crate::kernels::cross::{cross_sums, CrossSums};
use crate::kernels::rel_entr::{rel_entr_sums, RelEntrSums};
use crate::kernels::xlogx::{xlogx_sums, XLogXSums};
use crate::measures::{batch_shape, check_non_negative, same_shape, Options};
use crate::parallel::{reduce_lane_pairs, reduce_lanes};

/// Registers the partial-statistics and finish functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_entropy_partials, m)?)?;
    m.add_function(wrap_pyfunction!(py_kl_divergence_partials, m)?)?;
    m.add_function(wrap_pyfunction!(py_cross_entropy_partials, m)?)?;
    m.add_function(wrap_pyfunction!(py_entropy_finish, m)?)?;
    m.add_function(wrap_pyfunction!(py_kl_divergence_finish, m)?)?;
    m.add_function(wrap_pyfunction!(py_cross_entropy_finish, m)?)?;
    Ok(())
}

/// A partial-statistics struct as a row of `K` floats and back.
trait Columns<const K: usize>: Sized + Copy {
    fn to_row(&self) -> [f64; K];
    fn from_row(row: &[f64]) -> Self;
}

impl Columns<3> for XLogXSums {
    fn to_row(&self) -> [f64; 3] {
        [self.sum, self.sum_xlogx, self.min]
    }
    fn from_row(r: &[f64]) -> Self {
        XLogXSums {
            sum: r[0],
            sum_xlogx: r[1],
            min: r[2],
        }
    }
}

impl Columns<5> for RelEntrSums {
    fn to_row(&self) -> [f64; 5] {
        [
            self.sum_p,
            self.sum_q,
            self.sum_rel_entr,
            self.min_p,
            self.min_q,
        ]
    }
    fn from_row(r: &[f64]) -> Self {
        RelEntrSums {
            sum_p: r[0],
            sum_q: r[1],
            sum_rel_entr: r[2],
            min_p: r[3],
            min_q: r[4],
        }
    }
}

impl Columns<5> for CrossSums {
    fn to_row(&self) -> [f64; 5] {
        [
            self.sum_p,
            self.sum_q,
            self.sum_plogq,
            self.min_p,
            self.min_q,
        ]
    }
    fn from_row(r: &[f64]) -> Self {
        CrossSums {
            sum_p: r[0],
            sum_q: r[1],
            sum_plogq: r[2],
            min_p: r[3],
            min_q: r[4],
        }
    }
}

/// `partials` (batch shape) as a C-ordered array of shape `batch + (K,)`.
fn to_columns<P: Columns<K>, const K: usize>(partials: ArrayD<P>) -> ArrayD<f64> {
    let mut shape = partials.shape().to_vec();
    shape.push(K);
    let data: Vec<f64> = partials.iter().flat_map(|p| p.to_row()).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("batch × K values")
}

/// Borrows a float64 array of shape `batch + (K,)` named `arg`.
fn borrow_columns<'py, const K: usize>(
    arg: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArrayDyn<'py, f64>> {
    let arr = obj.cast::<PyArrayDyn<f64>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "`{arg}` must be a float64 numpy.ndarray of partial statistics"
        ))
    })?;
    let ro = borrow_array(arg, arr)?;
    let shape = view(&ro).shape().to_vec();
    if shape.last() != Some(&K) {
        return Err(PyValueError::new_err(format!(
            "`{arg}` must have shape (..., {K}) (one row of partial statistics per distribution), got {shape:?}"
        )));
    }
    Ok(ro)
}

/// An argument name and how to read its minimum (below 0: a negative input) from partials.
type MinCheck<P> = (&'static str, fn(&P) -> f64);

/// The one-pass entropy (S ln S − T)/S from Dask partials. TODO(#14): the Dask adapter
/// moves to the checked one-pass partials of `kernels::plogq` with a second pass.
fn entropy_finish_all(partials: &ArrayD<XLogXSums>, opts: &Options, ln_base: f64) -> ArrayD<f64> {
    partials.mapv(|s| {
        let nats = if opts.normalize {
            (s.sum * crate::simd::log::ln_lane(s.sum) - s.sum_xlogx) / s.sum
        } else {
            0.0 - s.sum_xlogx
        };
        nats / ln_base
    })
}

/// The one-pass KL U/Sp + ln(Sq/Sp) from Dask partials (see `entropy_finish_all`).
fn kl_finish_all(partials: &ArrayD<RelEntrSums>, opts: &Options, ln_base: f64) -> ArrayD<f64> {
    partials.mapv(|s| {
        let nats = if opts.normalize {
            s.sum_rel_entr / s.sum_p + crate::simd::log::ln_lane(s.sum_q / s.sum_p)
        } else {
            s.sum_rel_entr
        };
        nats / ln_base
    })
}

/// The one-pass cross-entropy ln Sq − V/Sp from Dask partials (see `entropy_finish_all`).
fn cross_entropy_finish_all(
    partials: &ArrayD<CrossSums>,
    opts: &Options,
    ln_base: f64,
) -> ArrayD<f64> {
    partials.mapv(|s| {
        let nats = if opts.normalize {
            crate::simd::log::ln_lane(s.sum_q) - s.sum_plogq / s.sum_p
        } else {
            0.0 - s.sum_plogq
        };
        nats / ln_base
    })
}

/// Finishes every row of `cols`: rebuilds the partials, checks the minima, applies `finish`.
fn finish_columns<P: Columns<K> + Send + Sync, const K: usize>(
    view: ArrayViewD<'_, f64>,
    opts: &Options,
    mins: &[MinCheck<P>],
    finish_all: fn(&ArrayD<P>, &Options, f64) -> ArrayD<f64>,
) -> Result<ArrayD<f64>, Error> {
    let ln_base = opts.ln_base()?;
    let last = Axis(view.ndim() - 1);
    let partials: ArrayD<P> = Zip::from(view.lanes(last)).map_collect(|row| {
        let row: Vec<f64> = row.iter().copied().collect();
        P::from_row(&row)
    });
    for (arg, min) in mins {
        check_non_negative(arg, &partials, min)?;
    }
    Ok(finish_all(&partials, opts, ln_base))
}

/// Partial statistics (Σx, Σ x ln x, min) of every distribution along the last axis of `p`.
#[pyfunction(name = "entropy_partials")]
fn py_entropy_partials<'py>(py: Python<'py>, p: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let p = Floats::borrow("p", p)?;
    let cols = with_view!(p, |pv| {
        check_result_size(lanes(pv.shape()), BYTES_PER_LANE)?;
        py.compute(|| -> Result<ArrayD<f64>, Error> {
            batch_shape("p", &pv)?;
            Ok(to_columns(reduce_lanes(pv, xlogx_sums)?))
        })
    })?;
    into_numpy(py, cols)
}

/// Partial statistics of KL divergence along the last axis of equally shaped `p` and `q`.
#[pyfunction(name = "kl_divergence_partials")]
fn py_kl_divergence_partials<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (p, q) = (Floats::borrow("p", p)?, Floats::borrow("q", q)?);
    let cols = with_view_pair!(p, q, |pv, qv| {
        check_result_size(lanes(pv.shape()), BYTES_PER_LANE)?;
        py.compute(|| -> Result<ArrayD<f64>, Error> {
            same_shape(&pv, &qv)?;
            batch_shape("p", &pv)?;
            Ok(to_columns(reduce_lane_pairs(pv, qv, rel_entr_sums)?))
        })
    })?;
    into_numpy(py, cols)
}

/// Partial statistics of cross-entropy along the last axis of equally shaped `p` and `q`.
#[pyfunction(name = "cross_entropy_partials")]
fn py_cross_entropy_partials<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (p, q) = (Floats::borrow("p", p)?, Floats::borrow("q", q)?);
    let cols = with_view_pair!(p, q, |pv, qv| {
        check_result_size(lanes(pv.shape()), BYTES_PER_LANE)?;
        py.compute(|| -> Result<ArrayD<f64>, Error> {
            same_shape(&pv, &qv)?;
            batch_shape("p", &pv)?;
            Ok(to_columns(reduce_lane_pairs(pv, qv, cross_sums)?))
        })
    })?;
    into_numpy(py, cols)
}

/// Entropy from rows of `entropy_partials` (combined over the pieces of each distribution).
#[pyfunction(name = "entropy_finish")]
#[pyo3(signature = (partials, *, base=None, normalize=true))]
fn py_entropy_finish<'py>(
    py: Python<'py>,
    partials: &Bound<'py, PyAny>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    let cols = borrow_columns::<3>("partials", partials)?;
    let mins: [MinCheck<XLogXSums>; 1] = [("p", |s| s.min)];
    let v = view(&cols);
    let result = py.compute(|| finish_columns(v, &opts, &mins, entropy_finish_all))?;
    into_python(py, result)
}

/// KL divergence from rows of `kl_divergence_partials`.
#[pyfunction(name = "kl_divergence_finish")]
#[pyo3(signature = (partials, *, base=None, normalize=true))]
fn py_kl_divergence_finish<'py>(
    py: Python<'py>,
    partials: &Bound<'py, PyAny>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    let cols = borrow_columns::<5>("partials", partials)?;
    let mins: [MinCheck<RelEntrSums>; 2] = [("p", |s| s.min_p), ("q", |s| s.min_q)];
    let v = view(&cols);
    let result = py.compute(|| finish_columns(v, &opts, &mins, kl_finish_all))?;
    into_python(py, result)
}

/// Cross-entropy from rows of `cross_entropy_partials`.
#[pyfunction(name = "cross_entropy_finish")]
#[pyo3(signature = (partials, *, base=None, normalize=true))]
fn py_cross_entropy_finish<'py>(
    py: Python<'py>,
    partials: &Bound<'py, PyAny>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    let cols = borrow_columns::<5>("partials", partials)?;
    let mins: [MinCheck<CrossSums>; 2] = [("p", |s| s.min_p), ("q", |s| s.min_q)];
    let v = view(&cols);
    let result = py.compute(|| finish_columns(v, &opts, &mins, cross_entropy_finish_all))?;
    into_python(py, result)
}
