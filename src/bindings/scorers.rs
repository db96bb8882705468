//! Bindings of the scorers: `ensemble_uncertainty` and `expected_calibration_error`.
//! Arguments arrive checked (python/fastentropy/_ensemble.py, _calibration.py); here the
//! arrays are borrowed, their axes permuted into place (a view, no copy), and the core
//! runs with the GIL released.

use ndarray::Ix2;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::arrays::{into_python, with_view, Floats};
use super::Compute;
use crate::measures::calibration_error::{expected_calibration_error, row_tops, Norm};
use crate::measures::ensemble_uncertainty::ensemble_uncertainty;

/// Registers the scorers on `fastentropy._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_ensemble_uncertainty, m)?)?;
    m.add_function(wrap_pyfunction!(py_expected_calibration_error, m)?)?;
    m.add_function(wrap_pyfunction!(py_calibration_row_tops, m)?)?;
    Ok(())
}

/// The permutation that puts `first` first and `last` last, the other axes in order.
fn permutation(ndim: usize, first: isize, last: isize) -> PyResult<Vec<usize>> {
    let norm = |a: isize, name: &str| {
        let i = if a < 0 { a + ndim as isize } else { a };
        if i < 0 || i >= ndim as isize {
            Err(PyValueError::new_err(format!(
                "`{name}` {a} is out of bounds for `p` with {ndim} dimension(s)"
            )))
        } else {
            Ok(i as usize)
        }
    };
    let (f, l) = (norm(first, "sample_axis")?, norm(last, "axis")?);
    if f == l {
        return Err(PyValueError::new_err(format!(
            "`sample_axis` and `axis` must be different axes, got {first} and {last}"
        )));
    }
    Ok(std::iter::once(f)
        .chain((0..ndim).filter(|&i| i != f && i != l))
        .chain(std::iter::once(l))
        .collect())
}

/// (total, aleatoric, epistemic) of the members along `sample_axis` of the distributions
/// along `axis` of `p`; floats for a single prediction, else arrays.
#[pyfunction(name = "ensemble_uncertainty")]
#[pyo3(signature = (p, sample_axis, axis, base=None, from_logits=false))]
fn py_ensemble_uncertainty<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    sample_axis: isize,
    axis: isize,
    base: Option<f64>,
    from_logits: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let arr = Floats::borrow("p", p)?;
    let result = with_view!(arr, |v| {
        let order = permutation(v.ndim(), sample_axis, axis)?;
        let v = v.permuted_axes(order);
        py.compute(|| ensemble_uncertainty(v, from_logits, base))
    })?;
    Ok((
        into_python(py, result.total)?,
        into_python(py, result.aleatoric)?,
        into_python(py, result.epistemic)?,
    ))
}

/// Expected calibration error of the rows (last axis) of `probs` against int64 `labels`
/// (the shape of `probs` without its last axis).
#[pyfunction(name = "expected_calibration_error")]
#[pyo3(signature = (probs, labels, n_bins=15, norm="l1", from_logits=false))]
fn py_expected_calibration_error<'py>(
    py: Python<'py>,
    probs: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    n_bins: usize,
    norm: &str,
    from_logits: bool,
) -> PyResult<f64> {
    let norm = Norm::parse(norm)?;
    let arr = Floats::borrow("probs", probs)?;
    let labels = labels.cast::<PyArrayDyn<i64>>().map_err(|_| {
        PyTypeError::new_err("`labels` must be an int64 numpy.ndarray of class indices")
    })?;
    let labels = labels.try_readonly().map_err(|e| {
        PyValueError::new_err(format!(
            "`labels` cannot be read while it is being written: {e}"
        ))
    })?;
    let y = labels.as_array();
    let value = with_view!(arr, |v| py.compute(|| expected_calibration_error(
        v,
        y,
        n_bins,
        norm,
        from_logits
    )))?;
    Ok(value)
}

/// The per-block partials of `fastentropy.dask.expected_calibration_error`: each row's
/// confidence and prediction of the 2-D `probs` (rows, C) as the local function computes
/// them, and min(0, smallest) / max(0, largest) value (NaN ignored; 0, 0 for logits).
#[pyfunction(name = "calibration_row_tops")]
#[pyo3(signature = (probs, from_logits=false))]
fn py_calibration_row_tops<'py>(
    py: Python<'py>,
    probs: &Bound<'py, PyAny>,
    from_logits: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, f64, f64)> {
    let arr = Floats::borrow("probs", probs)?;
    let tops = with_view!(arr, |v| {
        let v = v
            .into_dimensionality::<Ix2>()
            .map_err(|_| PyValueError::new_err("`probs` must be 2-D (rows, classes) here"))?;
        py.compute(|| row_tops(v, from_logits))
    })?;
    Ok((
        tops.confidence.into_pyarray(py).into_any(),
        tops.argmax.into_pyarray(py).into_any(),
        tops.lowest,
        tops.highest,
    ))
}
