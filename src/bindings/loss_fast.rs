//! The small-call fast paths of the loss family (as [`super::fast`] for the measures):
//! `logsumexp`, `log_softmax` and `softmax` into a new array, `softmax_cross_entropy` and
//! `nll_loss` with class-index targets and no class weights, no gradient. The Python functions test the options that select another
//! path (`weight is None`, `return_grad is False`, ...) and hand everything else here;
//! whether the arguments can be taken as they are — exact native float ndarrays, exact
//! native integer labels of the batch shape (or a plain int label of one 1-D row), a
//! plain int `axis` in range, an int
//! `ignore_index`, a str `reduction` the core knows — is decided in Rust. Anything else
//! returns None and the caller takes its general path, which raises the errors that name
//! the argument. The computation is the general path's own core call on the same views,
//! so both give the same bits.
//!
//! PERF: a (10, 10) `softmax_cross_entropy` spent ~6 µs in Python (argument checks,
//! `np.moveaxis` alone ~2.5 µs) around a core call of ~1 µs.

use ndarray::{ArrayD, ArrayViewD};
use numpy::{Element, PyArray1, PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyString};

use super::arrays::{
    axis_last, borrow_array as readonly, borrow_array_mut as writable, check_result_size,
    into_python, is_float32, lanes, view, view_mut, with_view, Floats, BYTES_PER_LANE,
};
use super::fast::{native_float_shape, one_slice, plain_axis, with_slice};
use super::loss::with_labels;
use super::Compute;
use crate::kernels::Real;
use crate::measures::bce::{binary_cross_entropy_with_logits, BceInputs, BceLoss};
use crate::measures::labels::Label;
use crate::measures::logsumexp::{
    fits_one_tile, logsumexp, logsumexp_contiguous, logsumexp_one_tile, normalize_contiguous,
    normalize_into, normalize_one_tile, Normalizer,
};
use crate::measures::nll_loss::nll_loss;
use crate::measures::softmax_cross_entropy::{
    softmax_cross_entropy, softmax_cross_entropy_contiguous, softmax_cross_entropy_one_tile,
    LossOptions, Reduction, Target,
};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_logsumexp_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_log_softmax_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_softmax_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_softmax_cross_entropy_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_nll_loss_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_bce_with_logits_fast, m)?)?;
    Ok(())
}

/// The row length of `x` (an exact native float ndarray of `shape`) when it is a
/// C-contiguous 2-D batch reduced along its last axis that [`fits_one_tile`].
fn few_rows_last_axis(x: &Bound<'_, PyAny>, shape: &[usize], axis: isize) -> Option<usize> {
    let &[rows, c] = shape else {
        return None;
    };
    let last = axis == -1 || axis == 1;
    let contiguous = x
        .cast::<PyUntypedArray>()
        .is_ok_and(|a| a.is_c_contiguous());
    (last && contiguous && fits_one_tile(rows, c)).then_some(c)
}

/// `axis` of `x` (an exact native float ndarray of at least one dimension whose class axis
/// is not empty), or None.
fn class_axis(x: &Bound<'_, PyAny>, axis: &Bound<'_, PyAny>) -> Option<(isize, Vec<usize>)> {
    let shape = native_float_shape(x)?;
    let axis = plain_axis(axis, shape.len())?;
    let index = axis.rem_euclid(shape.len() as isize) as usize;
    (shape[index] > 0).then(|| {
        let mut batch = shape.to_vec();
        batch.remove(index);
        (axis, batch)
    })
}

/// Whether `target` is an exact ndarray of the batch shape.
fn batch_shaped(target: &Bound<'_, PyAny>, batch: &[usize]) -> bool {
    target.is_exact_instance_of::<PyUntypedArray>()
        && target
            .cast::<PyUntypedArray>()
            .is_ok_and(|t| t.shape() == batch)
}

/// A plain Python int class index for one row of logits (batch shape `()`: torch's
/// unbatched `cross_entropy(logits, 3)`) as a 0-d label array, else None. The general
/// path spent ~10 µs turning the int into an array and the row into a batch of one.
fn scalar_label(target: &Bound<'_, PyAny>, batch: &[usize]) -> Option<ArrayD<i64>> {
    if !batch.is_empty() || !target.is_exact_instance_of::<PyInt>() {
        return None;
    }
    let label: i64 = target.extract().ok()?;
    Some(ndarray::arr0(label).into_dyn())
}

/// Label `y` as a class index when it is one (non-negative) and not `ignore_index`; the
/// contiguous path checks it against the row's length.
fn plain_class(y: i64, ignore_index: i64) -> Option<usize> {
    (y != ignore_index).then(|| usize::try_from(y).ok())?
}

/// `ignore_index` and `reduction` when they are a plain int64 and a known reduction name.
fn label_options(
    ignore_index: &Bound<'_, PyAny>,
    reduction: &Bound<'_, PyAny>,
) -> Option<(i64, Reduction)> {
    if !ignore_index.is_exact_instance_of::<PyInt>()
        || !reduction.is_exact_instance_of::<PyString>()
    {
        return None;
    }
    let ignore: i64 = ignore_index.extract().ok()?;
    let name = reduction.cast::<PyString>().ok()?.to_cow().ok()?;
    Some((ignore, Reduction::parse(&name).ok()?))
}

/// `label_smoothing` when it is a plain float or int in [0, 1].
fn smoothing(value: &Bound<'_, PyAny>) -> Option<f64> {
    if !(value.is_exact_instance_of::<PyFloat>() || value.is_exact_instance_of::<PyInt>()) {
        return None;
    }
    let eps: f64 = value.extract().ok()?;
    (0.0..=1.0).contains(&eps).then_some(eps)
}

/// `logsumexp(x, axis=axis)`, or None (see the module docs).
#[pyfunction(name = "logsumexp_fast")]
fn py_logsumexp_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(shape) = native_float_shape(x) else {
        return Ok(None);
    };
    let Some(axis) = plain_axis(axis, shape.len()) else {
        return Ok(None);
    };
    let x_is_slice = one_slice(x);
    let few_rows = few_rows_last_axis(x, shape, axis);
    let x = Floats::borrow("x", x)?;
    if x_is_slice {
        // one 1-D row: a float, without views or a result array
        let value = with_slice!(x, |s| py.compute_sized(s.len(), || logsumexp_contiguous(s)))?;
        return Ok(Some(value.into_pyobject(py)?.into_any()));
    }
    if let Some(c) = few_rows {
        // a few C-ordered rows: one tile, no views or tasks
        let values = with_slice!(x, |s| logsumexp_one_tile(s, c));
        return Ok(Some(PyArray1::from_vec(py, values).into_any()));
    }
    let result = with_view!(x, |v| {
        let v = axis_last("x", v, axis)?;
        check_result_size(lanes(v.shape()), BYTES_PER_LANE)?;
        let elements = v.len();
        py.compute_sized(elements, || logsumexp(v))
    })?;
    into_python(py, result).map(Some)
}

/// A new C-ordered array of `x`'s dtype and shape holding the log-softmax / softmax of
/// `x` along `axis` (`x` an exact native float ndarray, `axis` checked by [`class_axis`]).
fn normalized<'py, T: Real + Element>(
    py: Python<'py>,
    x: &Bound<'py, PyArrayDyn<T>>,
    axis: isize,
    kind: Normalizer,
) -> PyResult<Bound<'py, PyAny>> {
    // A result too large to allocate is a MemoryError (as NumPy's `np.empty` on the general
    // path), never a panic: rust-numpy's `zeros` panics on a failed allocation, so the
    // size is probed first (a zero-stride broadcast input of 10^12 rows costs nothing).
    let shape = x.shape();
    let row_bytes = shape
        .last()
        .map_or(0, |&c| c.saturating_mul(std::mem::size_of::<T>()));
    check_result_size(lanes(shape), row_bytes)?;
    // Zeroed (calloc: fresh pages cost nothing extra) rather than uninitialised, so no
    // `unsafe` is needed; every element is then written by `normalize_into`.
    let out = PyArrayDyn::<T>::zeros(py, shape, false);
    {
        let src = readonly("x", x)?;
        let mut rw = writable("out", &out)?;
        if let (Ok(z), Ok(o)) = (src.as_slice(), rw.as_slice_mut()) {
            if shape.len() == 1 {
                // one 1-D row, read and written as slices (no views)
                py.compute_sized(z.len(), || normalize_contiguous(z, o, kind))?;
                return Ok(out.into_any());
            }
            if let Some(c) = few_rows_last_axis(x.as_any(), shape, axis) {
                // a few C-ordered rows: one tile, no views or tasks
                normalize_one_tile(z, c, o, kind);
                return Ok(out.into_any());
            }
        }
        let xv = axis_last("x", view(&src), axis)?;
        let ov = axis_last("out", view_mut("out", &mut rw)?, axis)?;
        let elements = xv.len();
        py.compute_sized(elements, || normalize_into(xv, ov, kind))?;
    }
    Ok(out.into_any())
}

/// `log_softmax(x, axis=axis)` / `softmax(x, axis=axis)` into a new array, or None.
fn normalize_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    kind: Normalizer,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((axis, _)) = class_axis(x, axis) else {
        return Ok(None);
    };
    if is_float32(x) {
        let x = x.cast::<PyArrayDyn<f32>>()?;
        return normalized(py, x, axis, kind).map(Some);
    }
    let x = x.cast::<PyArrayDyn<f64>>()?;
    normalized(py, x, axis, kind).map(Some)
}

/// `log_softmax(x, axis=axis)` into a new array, or None (see the module docs).
#[pyfunction(name = "log_softmax_fast")]
fn py_log_softmax_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    normalize_fast(py, x, axis, Normalizer::LogSoftmax)
}

/// `softmax(x, axis=axis)` into a new array, or None (see the module docs).
#[pyfunction(name = "softmax_fast")]
fn py_softmax_fast<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    normalize_fast(py, x, axis, Normalizer::Softmax)
}

/// `softmax_cross_entropy(logits, target, axis=axis, ignore_index=..., reduction=...,
/// label_smoothing=...)` for native int64 class indices, or None (see the module docs).
#[pyfunction(name = "softmax_cross_entropy_fast")]
fn py_softmax_cross_entropy_fast<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    ignore_index: &Bound<'py, PyAny>,
    reduction: &Bound<'py, PyAny>,
    label_smoothing: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((axis, batch)) = class_axis(logits, axis) else {
        return Ok(None);
    };
    let (Some((ignore_index, reduction)), Some(label_smoothing)) = (
        label_options(ignore_index, reduction),
        smoothing(label_smoothing),
    ) else {
        return Ok(None);
    };
    let scalar = scalar_label(target, &batch);
    if let Some(y) = scalar
        .as_ref()
        .and_then(|y| plain_class(y[[]], ignore_index))
    {
        let classes = logits.cast::<PyUntypedArray>().map_or(0, |a| a.len());
        // (a label out of range takes the batch path below: its error, with the position)
        if label_smoothing == 0.0 && y < classes && one_slice(logits) {
            // one 1-D row with a class in range: a float, without views or the batch machinery
            let z = Floats::borrow("logits", logits)?;
            let value = with_slice!(z, |s| py.compute_sized(s.len(), || {
                softmax_cross_entropy_contiguous(s, y, reduction)
            }))?;
            return Ok(Some(value.into_pyobject(py)?.into_any()));
        }
    }
    let borrowed = match (&scalar, target.cast::<PyArrayDyn<i64>>()) {
        (Some(_), _) => None,
        (None, Ok(labels)) if batch_shaped(target, &batch) => Some(readonly("target", labels)?),
        (None, _) => return Ok(None),
    };
    let few_rows = native_float_shape(logits).and_then(|s| few_rows_last_axis(logits, s, axis));
    if let (Some(c), Some(labels), 0.0) = (few_rows, &borrowed, label_smoothing) {
        let plain = |y: &[i64]| {
            y.iter()
                .all(|&l| l != ignore_index && (0..c as i64).contains(&l))
        };
        if let Some(y) = labels.as_slice().ok().filter(|y| !y.is_empty() && plain(y)) {
            // a few C-ordered rows whose labels are all classes: one tile, no views or tasks
            let z = Floats::borrow("logits", logits)?;
            let result = with_slice!(z, |s| softmax_cross_entropy_one_tile(s, c, y, reduction))?;
            return into_python(py, result).map(Some);
        }
    }
    let opts = LossOptions {
        reduction,
        ignore_index,
        label_smoothing,
    };
    let z = Floats::borrow("logits", logits)?;
    let result = with_view!(z, |zv| {
        let zv = axis_last("logits", zv, axis)?;
        check_result_size(lanes(zv.shape()), BYTES_PER_LANE)?;
        let y = match (&scalar, &borrowed) {
            (Some(label), _) => label.view(),
            (None, Some(labels)) => view(labels),
            (None, None) => return Ok(None),
        };
        let elements = zv.len();
        py.compute_sized(elements, || {
            softmax_cross_entropy(zv, Target::<f64>::Labels(y), None, &opts)
        })
    })?;
    into_python(py, result).map(Some)
}

/// `nll_loss(log_probs, target, axis=axis, ignore_index=..., reduction=...)` for native
/// integer class indices of any dtype the core reads, or None (see the module docs).
#[pyfunction(name = "nll_loss_fast")]
fn py_nll_loss_fast<'py>(
    py: Python<'py>,
    log_probs: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    ignore_index: &Bound<'py, PyAny>,
    reduction: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((axis, batch)) = class_axis(log_probs, axis) else {
        return Ok(None);
    };
    let Some((ignore_index, reduction)) = label_options(ignore_index, reduction) else {
        return Ok(None);
    };
    let scalar = scalar_label(target, &batch);
    if scalar.is_none() && !batch_shaped(target, &batch) {
        return Ok(None);
    }
    let lp = Floats::borrow("log_probs", log_probs)?;
    let options = (axis, ignore_index, reduction);
    if let Some(label) = scalar {
        return nll_of(py, &lp, label.view(), options).map(Some);
    }
    with_labels!(target, |y| nll_of(py, &lp, y, options).map(Some), Ok(None))
}

/// The fast path's `nll_loss` of borrowed log-probabilities and class indices `y`, with
/// `(axis, ignore_index, reduction)`.
fn nll_of<'py, L: Label>(
    py: Python<'py>,
    log_probs: &Floats<'py>,
    y: ArrayViewD<'_, L>,
    (axis, ignore_index, reduction): (isize, i64, Reduction),
) -> PyResult<Bound<'py, PyAny>> {
    let result = with_view!(log_probs, |v| {
        let v = axis_last("log_probs", v, axis)?;
        check_result_size(lanes(v.shape()), BYTES_PER_LANE)?;
        let elements = y.len();
        py.compute_sized(elements, || {
            nll_loss(v, y, None, ignore_index, reduction, None)
        })
    })?;
    into_python(py, result)
}

/// `binary_cross_entropy_with_logits(logits, target, reduction=...)` with "mean" or "sum",
/// no weights and no gradient, for native float arrays of one shape (at least 1-D), or
/// None (see the module docs). PERF: the general path spent ~3 µs of a 10-element call in
/// Python (conversions, weight broadcasting, reshapes).
#[pyfunction(name = "binary_cross_entropy_with_logits_fast")]
fn py_bce_with_logits_fast<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    reduction: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(shape) = native_float_shape(logits) else {
        return Ok(None);
    };
    // (a 0-d input is reshaped by the general path; "none" returns the logits' dtype)
    let reduced = reduction.is_exact_instance_of::<PyString>()
        && matches!(
            reduction.cast::<PyString>()?.to_cow()?.as_ref(),
            "mean" | "sum"
        );
    if shape.is_empty() || !reduced || native_float_shape(target) != Some(shape) {
        return Ok(None);
    }
    let reduction = Reduction::parse(&reduction.cast::<PyString>()?.to_cow()?)?;
    // the core's per-row sums: a MemoryError, not an abort, when they cannot be allocated
    check_result_size(lanes(shape), BYTES_PER_LANE)?;
    let (z, t) = (
        Floats::borrow("logits", logits)?,
        Floats::borrow("target", target)?,
    );
    let loss = with_view!(z, |zv| with_view!(t, |tv| {
        let elements = zv.len();
        let inputs = BceInputs {
            logits: zv,
            target: tv,
            weight: None,
            pos_weight: None,
        };
        py.compute_sized(elements, || {
            binary_cross_entropy_with_logits(inputs, reduction, None).map(|l| match l {
                BceLoss::Reduced(v) => v,
                // "mean" and "sum" reduce (see above)
                BceLoss::Elementwise(_) => f64::NAN,
            })
        })
    }))?;
    Ok(Some(loss.into_pyobject(py)?.into_any()))
}
