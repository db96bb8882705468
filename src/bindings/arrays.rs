//! NumPy arrays → borrowed ndarray views, by dtype.

use ndarray::{ArrayD, ArrayViewD};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A read-only float32 or float64 array borrowed from Python (no copy).
pub enum Floats<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl<'py> Floats<'py> {
    /// Borrows `obj` as a float array, naming `arg` in the error otherwise.
    pub fn borrow(arg: &str, obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
            return Ok(Floats::F64(a.try_readonly().map_err(|e| busy(arg, e))?));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
            return Ok(Floats::F32(a.try_readonly().map_err(|e| busy(arg, e))?));
        }
        Err(not_a_float_array(arg, obj))
    }
}

/// The TypeError for an argument that is not a float32/float64 ndarray.
pub fn not_a_float_array(arg: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let kind = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!(
        "`{arg}` must be a native-endian float32 or float64 numpy.ndarray, got {kind}"
    ))
}

fn busy(arg: &str, e: numpy::BorrowError) -> PyErr {
    PyValueError::new_err(format!(
        "`{arg}` cannot be read while it is being written: {e}"
    ))
}

/// Runs `$body` with `$view` bound to the borrowed view of `$arr` (f32 or f64).
macro_rules! with_view {
    ($arr:expr, |$view:ident| $body:expr) => {
        match &$arr {
            $crate::bindings::arrays::Floats::F32(a) => {
                let $view = a.as_array();
                $body
            }
            $crate::bindings::arrays::Floats::F64(a) => {
                let $view = a.as_array();
                $body
            }
        }
    };
}
pub(crate) use with_view;

/// Runs `$body` with views of two float arrays, for each of the four dtype pairs.
macro_rules! with_view_pair {
    ($p:expr, $q:expr, |$pv:ident, $qv:ident| $body:expr) => {
        $crate::bindings::arrays::with_view!($p, |$pv| $crate::bindings::arrays::with_view!(
            $q,
            |$qv| $body
        ))
    };
}
pub(crate) use with_view_pair;

/// A reduction over `axis` of one array, as every one-input measure binding does it: borrow
/// `$p`, move `axis` last, run `$body` with the view bound to `$pv` and the GIL released,
/// hand the result to Python.
macro_rules! reduce_one {
    ($py:expr, $p:expr, $axis:expr, |$pv:ident| $body:expr) => {{
        let p = $crate::bindings::arrays::Floats::borrow("p", $p)?;
        let result = $crate::bindings::arrays::with_view!(p, |pv| {
            let $pv = $crate::bindings::arrays::axis_last("p", pv, $axis)?;
            $py.detach(|| $body)
        })?;
        $crate::bindings::arrays::into_python($py, result)
    }};
}
pub(crate) use reduce_one;

/// [`reduce_one`] for the two-input measures (`$p`, `$q` of equal shape).
macro_rules! reduce_pair {
    ($py:expr, $p:expr, $q:expr, $axis:expr, |$pv:ident, $qv:ident| $body:expr) => {{
        let p = $crate::bindings::arrays::Floats::borrow("p", $p)?;
        let q = $crate::bindings::arrays::Floats::borrow("q", $q)?;
        let result = $crate::bindings::arrays::with_view_pair!(p, q, |pv, qv| {
            let $pv = $crate::bindings::arrays::axis_last("p", pv, $axis)?;
            let $qv = $crate::bindings::arrays::axis_last("q", qv, $axis)?;
            $py.detach(|| $body)
        })?;
        $crate::bindings::arrays::into_python($py, result)
    }};
}
pub(crate) use reduce_pair;

/// [`reduce_one`] for `axis=None`: `$body` gets the whole n-d view and returns one f64.
macro_rules! whole_one {
    ($py:expr, $p:expr, |$pv:ident| $body:expr) => {{
        let p = $crate::bindings::arrays::Floats::borrow("p", $p)?;
        let value: f64 = $crate::bindings::arrays::with_view!(p, |$pv| $py.detach(|| $body))?;
        Ok(value.into_pyobject($py)?.into_any())
    }};
}
pub(crate) use whole_one;

/// [`reduce_pair`] for `axis=None` (`$p`, `$q` of equal shape).
macro_rules! whole_pair {
    ($py:expr, $p:expr, $q:expr, |$pv:ident, $qv:ident| $body:expr) => {{
        let p = $crate::bindings::arrays::Floats::borrow("p", $p)?;
        let q = $crate::bindings::arrays::Floats::borrow("q", $q)?;
        let value: f64 =
            $crate::bindings::arrays::with_view_pair!(p, q, |$pv, $qv| $py.detach(|| $body))?;
        Ok(value.into_pyobject($py)?.into_any())
    }};
}
pub(crate) use whole_pair;

/// A reduction's result as Python sees it: a float for a 0-d result, else an ndarray.
pub fn into_python<'py>(py: Python<'py>, result: ArrayD<f64>) -> PyResult<Bound<'py, PyAny>> {
    if result.ndim() == 0 {
        let value = result.iter().next().copied().unwrap_or(f64::NAN);
        Ok(value.into_pyobject(py)?.into_any())
    } else {
        Ok(result.into_pyarray(py).into_any())
    }
}

/// `view` with `axis` (negative counts from the end) moved last, like `np.moveaxis(x, axis,
/// -1)`: a permuted view, no copy. The measures read distributions along the last axis.
pub fn axis_last<'a, T>(
    arg: &str,
    view: ArrayViewD<'a, T>,
    axis: isize,
) -> PyResult<ArrayViewD<'a, T>> {
    let ndim = view.ndim();
    let index = if axis < 0 { axis + ndim as isize } else { axis };
    if index < 0 || index >= ndim as isize {
        return Err(PyValueError::new_err(format!(
            "`axis` {axis} is out of bounds for `{arg}` with {ndim} dimension(s)"
        )));
    }
    let index = index as usize;
    if index == ndim - 1 {
        return Ok(view);
    }
    let order: Vec<usize> = (0..ndim).filter(|&i| i != index).chain([index]).collect();
    Ok(view.permuted_axes(order))
}
