//! Bindings of the Jensen–Shannon measures, perplexity, label entropy and the
//! contingency-table / label-pair measures. Each borrows its arrays (no copy), releases
//! the GIL while the core computes, and maps errors with `?`. Options are positional
//! (as in `measures.rs`: keyword calls cost ~3 µs more under abi3); keywords still work.

use std::borrow::Cow;

use ndarray::{ArrayView1, Ix1, Ix2};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::arrays::{borrow_array, reduce_one, reduce_pair, view};
use crate::error::Error;
use crate::measures::mutual_information::{from_labels, from_table, Measure};
use crate::measures::{js, label_entropy, perplexity, Options};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_js_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(py_js_distance, m)?)?;
    m.add_function(wrap_pyfunction!(py_perplexity, m)?)?;
    m.add_function(wrap_pyfunction!(py_label_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(py_contingency_measure, m)?)?;
    m.add_function(wrap_pyfunction!(py_label_pair_measure, m)?)?;
    Ok(())
}

/// Jensen–Shannon divergence along the last axis of equally shaped `p` and `q`.
#[pyfunction(name = "js_divergence")]
#[pyo3(signature = (p, q, axis=-1, base=None, normalize=true))]
fn py_js_divergence<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: isize,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    reduce_pair!(py, p, q, axis, |pv, qv| js::js_divergence(pv, qv, &opts))
}

/// Jensen–Shannon distance (√ of the divergence) along the last axis.
#[pyfunction(name = "js_distance")]
#[pyo3(signature = (p, q, axis=-1, base=None, normalize=true))]
fn py_js_distance<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: isize,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    reduce_pair!(py, p, q, axis, |pv, qv| js::js_distance(pv, qv, &opts))
}

/// Perplexity e^H along the last axis of `p`.
#[pyfunction(name = "perplexity")]
#[pyo3(signature = (p, axis=-1, base=None, normalize=true))]
fn py_perplexity<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: isize,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    reduce_one!(py, p, axis, |pv| perplexity::perplexity(pv, &opts))
}

/// Borrows a native-endian int64 array, naming `arg` in the error otherwise.
fn borrow_labels<'py>(
    arg: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArrayDyn<'py, i64>> {
    let arr = obj.cast::<PyArrayDyn<i64>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "`{arg}` must be a native-endian int64 numpy.ndarray of labels"
        ))
    })?;
    borrow_array(arg, arr)
}

/// The labels as a slice: borrowed when contiguous, else copied.
fn label_slice<'a>(
    arg: &'static str,
    view: ndarray::ArrayViewD<'a, i64>,
) -> Result<Cow<'a, [i64]>, Error> {
    let ndim = view.ndim();
    let v: ArrayView1<'a, i64> =
        view.into_dimensionality::<Ix1>()
            .map_err(|_| Error::WrongDimensions {
                arg,
                expected: 1,
                got: ndim,
            })?;
    Ok(match v.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.to_vec()),
    })
}

/// Plug-in entropy (optionally Miller–Madow corrected) of each row of a 2-D int64 array.
#[pyfunction(name = "label_entropy")]
#[pyo3(signature = (labels, base=None, miller_madow=false))]
fn py_label_entropy<'py>(
    py: Python<'py>,
    labels: &Bound<'py, PyAny>,
    base: Option<f64>,
    miller_madow: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let labels = borrow_labels("labels", labels)?;
    let view = view(&labels);
    let ndim = view.ndim();
    let rows = view
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::WrongDimensions {
            arg: "labels",
            expected: 2,
            got: ndim,
        })?;
    let result = py.detach(|| label_entropy::label_entropy(rows, base, miller_madow))?;
    Ok(result.into_pyarray(py).into_any())
}

/// A measure ("joint_entropy", "conditional_entropy", "mutual_information",
/// "normalized_mutual_information") of a 2-D float64 contingency table.
#[pyfunction(name = "contingency_measure")]
#[pyo3(signature = (table, measure, base=None, average_method="arithmetic"))]
fn py_contingency_measure(
    py: Python<'_>,
    table: &Bound<'_, PyAny>,
    measure: &str,
    base: Option<f64>,
    average_method: &str,
) -> PyResult<f64> {
    let measure = Measure::parse(measure, average_method)?;
    let table = table.cast::<PyArrayDyn<f64>>().map_err(|_| {
        PyTypeError::new_err("`contingency` must be a native-endian float64 numpy.ndarray")
    })?;
    let table = borrow_array("contingency", table)?;
    let view = view(&table);
    let ndim = view.ndim();
    let t = view
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::WrongDimensions {
            arg: "contingency",
            expected: 2,
            got: ndim,
        })?;
    Ok(py.detach(|| from_table(t, measure, base))?)
}

/// The same measures from two equally long 1-D int64 label arrays.
#[pyfunction(name = "label_pair_measure")]
#[pyo3(signature = (x, y, measure, base=None, average_method="arithmetic"))]
fn py_label_pair_measure(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    measure: &str,
    base: Option<f64>,
    average_method: &str,
) -> PyResult<f64> {
    let measure = Measure::parse(measure, average_method)?;
    let (x, y) = (borrow_labels("x", x)?, borrow_labels("y", y)?);
    let (xs, ys) = (label_slice("x", view(&x))?, label_slice("y", view(&y))?);
    Ok(py.detach(|| from_labels(&xs, &ys, measure, base))?)
}
