//! Bindings of the loss family: logsumexp, log_softmax, softmax, softmax_cross_entropy,
//! nll_loss, binary_cross_entropy_with_logits. Arrays arrive with the class axis last and
//! every argument checked (python/fastentropy/_loss.py); here they are borrowed, the GIL
//! is released, and core errors become ValueErrors.

use ndarray::ArrayViewD;
use numpy::{PyArrayDyn, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::Compute;

use super::arrays::{check_result_size, lanes, BYTES_PER_LANE};
use super::arrays::{
    into_numpy, into_python, not_a_float_array, view, view_mut, with_view, Floats,
};
use crate::kernels::Real;
use crate::measures::bce::{binary_cross_entropy_with_logits, BceInputs, BceLoss};
use crate::measures::labels::Label;
use crate::measures::logsumexp::{logsumexp, normalize_in_place, normalize_into, Normalizer};
use crate::measures::nll_loss::{nll_loss, nll_loss_in_place};
use crate::measures::softmax_cross_entropy::{
    softmax_cross_entropy, softmax_cross_entropy_grad_into, softmax_cross_entropy_in_place,
    LossOptions, Reduction, Target,
};

/// Registers the loss-family functions on `fastentropy._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_logsumexp, m)?)?;
    m.add_function(wrap_pyfunction!(py_log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(py_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(py_softmax_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(py_nll_loss, m)?)?;
    m.add_function(wrap_pyfunction!(py_binary_cross_entropy_with_logits, m)?)?;
    Ok(())
}

use super::arrays::{borrow_array as readonly, borrow_array_mut as writable};

/// `out` as an array of `x`'s dtype.
fn same_dtype<'py, T: numpy::Element>(
    arg: &str,
    out: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    out.cast::<PyArrayDyn<T>>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "`{arg}` must be a numpy.ndarray with the dtype of the logits"
        ))
    })
}

/// log Σ exp along the last axis.
#[pyfunction(name = "logsumexp")]
fn py_logsumexp<'py>(py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let x = Floats::borrow("x", x)?;
    let result = with_view!(x, |v| {
        check_result_size(lanes(v.shape()), BYTES_PER_LANE)?;
        py.compute(|| logsumexp(v))
    })?;
    into_python(py, result)
}

fn normalize_typed<T: Real + numpy::Element>(
    py: Python<'_>,
    x: &Bound<'_, PyArrayDyn<T>>,
    out: &Bound<'_, PyAny>,
    kind: Normalizer,
) -> PyResult<()> {
    let out = same_dtype::<T>("out", out)?;
    if out.is(x) {
        let mut rw = writable("out", &out)?;
        let view = view_mut("out", &mut rw)?;
        py.compute(|| normalize_in_place(view, kind))?;
    } else {
        let src = readonly("x", x)?;
        let mut rw = writable("out", &out)?;
        let (xv, ov) = (view(&src), view_mut("out", &mut rw)?);
        py.compute(|| normalize_into(xv, ov, kind))?;
    }
    Ok(())
}

fn normalize(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    kind: Normalizer,
) -> PyResult<()> {
    if let Ok(a) = x.cast::<PyArrayDyn<f64>>() {
        return normalize_typed(py, a, out, kind);
    }
    if let Ok(a) = x.cast::<PyArrayDyn<f32>>() {
        return normalize_typed(py, a, out, kind);
    }
    Err(not_a_float_array("x", x))
}

/// Log-softmax of every row (last axis) of `x`, written into `out` (may be `x`).
#[pyfunction(name = "log_softmax")]
#[pyo3(signature = (x, *, out))]
fn py_log_softmax(py: Python<'_>, x: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>) -> PyResult<()> {
    normalize(py, x, out, Normalizer::LogSoftmax)
}

/// Softmax of every row (last axis) of `x`, written into `out` (may be `x`).
#[pyfunction(name = "softmax")]
#[pyo3(signature = (x, *, out))]
fn py_softmax(py: Python<'_>, x: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>) -> PyResult<()> {
    normalize(py, x, out, Normalizer::Softmax)
}

enum Targets<'py> {
    Labels(PyReadonlyArrayDyn<'py, i64>),
    Probs(Floats<'py>),
}

fn borrow_target<'py>(target: &Bound<'py, PyAny>) -> PyResult<Targets<'py>> {
    if let Ok(a) = target.cast::<PyArrayDyn<i64>>() {
        return Ok(Targets::Labels(readonly("target", a)?));
    }
    Ok(Targets::Probs(Floats::borrow("target", target)?))
}

/// A float64 array argument, borrowed (an aligned copy when unaligned).
fn borrow_f64<'py>(arg: &str, obj: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArrayDyn<'py, f64>> {
    let a = obj
        .cast::<PyArrayDyn<f64>>()
        .map_err(|_| PyTypeError::new_err(format!("`{arg}` must be a float64 numpy.ndarray")))?;
    readonly(arg, a)
}

/// The loss call for one logits dtype, over the target kinds and gradient modes.
#[allow(clippy::too_many_arguments)]
fn ce_typed<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    logits: &Bound<'py, PyArrayDyn<T>>,
    target: &Bound<'py, PyAny>,
    weight: Option<&[f64]>,
    opts: &LossOptions,
    grad_out: Option<&Bound<'py, PyAny>>,
    in_place: bool,
) -> PyResult<Bound<'py, PyAny>> {
    check_result_size(lanes(logits.shape()), BYTES_PER_LANE)?;
    let target = borrow_target(target)?;
    macro_rules! run_with {
        (|$t:ident| $call:expr) => {
            match &target {
                Targets::Labels(y) => {
                    let $t = Target::<f64>::Labels(view(y));
                    $call
                }
                Targets::Probs(p) => with_view!(p, |pv| {
                    let $t = Target::Probs(pv);
                    $call
                }),
            }
        };
    }
    let result = if in_place {
        let mut rw = writable("grad_out", logits)?;
        run_with!(|t| {
            let z = view_mut("logits", &mut rw)?;
            py.compute(|| softmax_cross_entropy_in_place(z, t, weight, opts))
        })
    } else if let Some(g) = grad_out {
        let g = same_dtype::<T>("grad_out", g)?;
        let src = readonly("logits", logits)?;
        let mut rw = writable("grad_out", &g)?;
        run_with!(|t| {
            let (z, gv) = (view(&src), view_mut("grad_out", &mut rw)?);
            py.compute(|| softmax_cross_entropy_grad_into(z, t, weight, opts, gv))
        })
    } else {
        let src = readonly("logits", logits)?;
        run_with!(|t| {
            let z = view(&src);
            py.compute(|| softmax_cross_entropy(z, t, weight, opts))
        })
    }?;
    into_python(py, result)
}

/// Softmax cross-entropy along the last axis; with `grad_out` (or `in_place`, over the
/// logits) the gradient is written in the same pass. Returns the loss.
#[pyfunction(name = "softmax_cross_entropy")]
#[pyo3(signature = (logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, grad_out=None, in_place=false))]
#[allow(clippy::too_many_arguments)]
fn py_softmax_cross_entropy<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<PyReadonlyArray1<'py, f64>>,
    ignore_index: i64,
    reduction: &str,
    label_smoothing: f64,
    grad_out: Option<&Bound<'py, PyAny>>,
    in_place: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = LossOptions {
        reduction: Reduction::parse(reduction)?,
        ignore_index,
        label_smoothing,
    };
    let weight = match &weight {
        Some(w) => Some(
            w.as_slice()
                .map_err(|_| PyValueError::new_err("`weight` must be contiguous"))?,
        ),
        None => None,
    };
    if let Ok(a) = logits.cast::<PyArrayDyn<f64>>() {
        return ce_typed(py, a, target, weight, &opts, grad_out, in_place);
    }
    if let Ok(a) = logits.cast::<PyArrayDyn<f32>>() {
        return ce_typed(py, a, target, weight, &opts, grad_out, in_place);
    }
    Err(not_a_float_array("logits", logits))
}

/// Runs `$body` with `$y` bound to the borrowed view of the class-index target `$obj`,
/// for every integer dtype the core reads in place ([`Label`]); else `$otherwise`.
macro_rules! with_labels {
    ($obj:expr, |$y:ident| $body:expr, $otherwise:expr) => {{
        macro_rules! try_type {
            ($t:ty) => {
                if let Ok(a) = $obj.cast::<PyArrayDyn<$t>>() {
                    let ro = readonly("target", a)?;
                    let $y = view(&ro);
                    return $body;
                }
            };
        }
        try_type!(i64);
        try_type!(i32);
        try_type!(i16);
        try_type!(i8);
        try_type!(u8);
        try_type!(u16);
        try_type!(u32);
        $otherwise
    }};
}
pub(super) use with_labels;

#[allow(clippy::too_many_arguments)]
fn nll_typed<'py, T: Real + numpy::Element, L: Label + numpy::Element>(
    py: Python<'py>,
    log_probs: &Bound<'py, PyArrayDyn<T>>,
    y: ArrayViewD<'_, L>,
    weight: Option<&[f64]>,
    ignore_index: i64,
    reduction: Reduction,
    grad_out: Option<&Bound<'py, PyAny>>,
    in_place: bool,
) -> PyResult<Bound<'py, PyAny>> {
    check_result_size(lanes(log_probs.shape()), BYTES_PER_LANE)?;
    let result = if in_place {
        let mut rw = writable("grad_out", log_probs)?;
        let lp = view_mut("log_probs", &mut rw)?;
        py.compute(|| nll_loss_in_place(lp, y, weight, ignore_index, reduction))
    } else if let Some(g) = grad_out {
        let g = same_dtype::<T>("grad_out", g)?;
        let src = readonly("log_probs", log_probs)?;
        let mut rw = writable("grad_out", &g)?;
        let (lp, gv) = (view(&src), view_mut("grad_out", &mut rw)?);
        py.compute(|| nll_loss(lp, y, weight, ignore_index, reduction, Some(gv)))
    } else {
        let src = readonly("log_probs", log_probs)?;
        let lp = view(&src);
        py.compute(|| nll_loss(lp, y, weight, ignore_index, reduction, None))
    }?;
    into_python(py, result)
}

/// Negative log-likelihood of class indices along the last axis of `log_probs`.
#[pyfunction(name = "nll_loss")]
#[pyo3(signature = (log_probs, target, *, weight=None, ignore_index=-100, reduction="mean", grad_out=None, in_place=false))]
#[allow(clippy::too_many_arguments)]
fn py_nll_loss<'py>(
    py: Python<'py>,
    log_probs: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<PyReadonlyArray1<'py, f64>>,
    ignore_index: i64,
    reduction: &str,
    grad_out: Option<&Bound<'py, PyAny>>,
    in_place: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = Reduction::parse(reduction)?;
    let weight = match &weight {
        Some(w) => Some(
            w.as_slice()
                .map_err(|_| PyValueError::new_err("`weight` must be contiguous"))?,
        ),
        None => None,
    };
    macro_rules! by_dtype {
        ($t:ty) => {
            if let Ok(a) = log_probs.cast::<PyArrayDyn<$t>>() {
                with_labels!(
                    target,
                    |y| nll_typed(
                        py,
                        a,
                        y,
                        weight,
                        ignore_index,
                        reduction,
                        grad_out,
                        in_place
                    ),
                    return Err(PyTypeError::new_err(
                        "`target` must be a native-endian integer numpy.ndarray of class indices \
                         (int8/16/32/64, uint8/16/32)"
                    ))
                )
            }
        };
    }
    by_dtype!(f64);
    by_dtype!(f32);
    Err(not_a_float_array("log_probs", log_probs))
}

fn bce_typed<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    logits: &Bound<'py, PyArrayDyn<T>>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: Reduction,
    grad_out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    // Per-row sums, and for reduction="none" one loss per element.
    check_result_size(lanes(logits.shape()), BYTES_PER_LANE)?;
    if reduction == Reduction::None {
        check_result_size(logits.len(), std::mem::size_of::<T>())?;
    }
    let target = Floats::borrow("target", target)?;
    let (weight, pos_weight) = (
        weight.map(|w| borrow_f64("weight", w)).transpose()?,
        pos_weight
            .map(|w| borrow_f64("pos_weight", w))
            .transpose()?,
    );
    let src = readonly("logits", logits)?;
    let mut grad = match grad_out {
        Some(g) => Some(writable("grad_out", &same_dtype::<T>("grad_out", g)?)?),
        None => None,
    };
    let (w, pw) = (weight.as_ref().map(view), pos_weight.as_ref().map(view));
    let z = view(&src);
    let gv = match grad.as_mut() {
        Some(g) => Some(view_mut("grad_out", g)?),
        None => None,
    };
    let result = with_view!(target, |tv| py.compute(
        || binary_cross_entropy_with_logits(
            BceInputs {
                logits: z,
                target: tv,
                weight: w,
                pos_weight: pw
            },
            reduction,
            gv
        )
    ))?;
    match result {
        BceLoss::Elementwise(a) => into_numpy(py, a),
        BceLoss::Reduced(v) => Ok(v.into_pyobject(py)?.into_any()),
    }
}

/// Binary cross-entropy with logits; `weight`/`pos_weight` arrive broadcast to the
/// logits' shape. With `grad_out` the gradient is written there.
#[pyfunction(name = "binary_cross_entropy_with_logits")]
#[pyo3(signature = (logits, target, *, weight=None, pos_weight=None, reduction="mean", grad_out=None))]
#[allow(clippy::too_many_arguments)]
fn py_binary_cross_entropy_with_logits<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: &str,
    grad_out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = Reduction::parse(reduction)?;
    if let Ok(a) = logits.cast::<PyArrayDyn<f64>>() {
        return bce_typed(py, a, target, weight, pos_weight, reduction, grad_out);
    }
    if let Ok(a) = logits.cast::<PyArrayDyn<f32>>() {
        return bce_typed(py, a, target, weight, pos_weight, reduction, grad_out);
    }
    Err(not_a_float_array("logits", logits))
}
