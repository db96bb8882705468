//! Bindings of the Jensen–Shannon measures, perplexity, label entropy and the
//! contingency-table / label-pair measures. Each borrows its arrays (no copy), releases
//! the GIL while the core computes, and maps errors with `?`. Options are positional
//! (as in `measures.rs`: keyword calls cost ~3 µs more under abi3); keywords still work.

use ndarray::{ArrayViewD, Ix1, Ix2};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::Compute;

use super::arrays::{
    axis_last, borrow_array, check_result_size, into_python, lanes, reduce_one, reduce_pair, view,
    whole_one, whole_pair, BYTES_PER_LANE,
};
use crate::error::Error;
use crate::measures::label_entropy::{label_entropy, label_entropy_pooled};
use crate::measures::label_keys::{Decode, KeySource, Label, LaneKeys};
use crate::measures::mutual_information::{from_labels, from_table, Measure};
use crate::measures::{js, perplexity, Options};

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
#[pyo3(signature = (p, q, axis=Some(-1), base=None, normalize=true))]
fn py_js_divergence<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    match axis {
        Some(axis) => reduce_pair!(py, p, q, axis, |pv, qv| js::js_divergence(pv, qv, &opts)),
        None => whole_pair!(py, p, q, |pv, qv| js::js_divergence_whole(pv, qv, &opts)),
    }
}

/// Jensen–Shannon distance (√ of the divergence) along the last axis.
#[pyfunction(name = "js_distance")]
#[pyo3(signature = (p, q, axis=Some(-1), base=None, normalize=true))]
fn py_js_distance<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    match axis {
        Some(axis) => reduce_pair!(py, p, q, axis, |pv, qv| js::js_distance(pv, qv, &opts)),
        None => whole_pair!(py, p, q, |pv, qv| js::js_divergence_whole(pv, qv, &opts)
            .map(js::distance)),
    }
}

/// Perplexity e^H along the last axis of `p`.
#[pyfunction(name = "perplexity")]
#[pyo3(signature = (p, axis=Some(-1), base=None, normalize=true))]
fn py_perplexity<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    match axis {
        Some(axis) => reduce_one!(py, p, axis, |pv| perplexity::perplexity(pv, &opts)),
        None => whole_one!(py, p, |pv| perplexity::perplexity_whole(pv, &opts)),
    }
}

/// A borrowed label array of one of NumPy's integer dtypes (read in place, never converted).
enum Labels<'py> {
    I8(PyReadonlyArrayDyn<'py, i8>),
    I16(PyReadonlyArrayDyn<'py, i16>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    U8(PyReadonlyArrayDyn<'py, u8>),
    U16(PyReadonlyArrayDyn<'py, u16>),
    U32(PyReadonlyArrayDyn<'py, u32>),
    U64(PyReadonlyArrayDyn<'py, u64>),
}

/// Runs `$body` with `$v` bound to the view of the borrowed labels, for each dtype.
macro_rules! with_labels {
    ($labels:expr, |$v:ident| $body:expr) => {
        match $labels {
            Labels::I8(a) => {
                let $v = view(a);
                $body
            }
            Labels::I16(a) => {
                let $v = view(a);
                $body
            }
            Labels::I32(a) => {
                let $v = view(a);
                $body
            }
            Labels::I64(a) => {
                let $v = view(a);
                $body
            }
            Labels::U8(a) => {
                let $v = view(a);
                $body
            }
            Labels::U16(a) => {
                let $v = view(a);
                $body
            }
            Labels::U32(a) => {
                let $v = view(a);
                $body
            }
            Labels::U64(a) => {
                let $v = view(a);
                $body
            }
        }
    };
}

/// Borrows an integer array of native byte order (an unaligned one is copied), naming
/// `arg` in the error otherwise. Python passes byte-swapped and bool arrays as views of
/// the native integer type with `decode` saying how to read them.
fn borrow_labels<'py>(arg: &str, obj: &Bound<'py, PyAny>) -> PyResult<Labels<'py>> {
    macro_rules! try_type {
        ($t:ty, $variant:ident) => {
            if let Ok(a) = obj.cast::<PyArrayDyn<$t>>() {
                return Ok(Labels::$variant(borrow_array(arg, a)?));
            }
        };
    }
    try_type!(i64, I64);
    try_type!(i32, I32);
    try_type!(u64, U64);
    try_type!(u32, U32);
    try_type!(i16, I16);
    try_type!(u16, U16);
    try_type!(i8, I8);
    try_type!(u8, U8);
    Err(PyTypeError::new_err(format!(
        "`{arg}` must be a numpy.ndarray of native-endian integer labels (int8 to uint64)"
    )))
}

/// `"native"`, `"swapped"` (the values are stored byte-swapped) or `"bool"` (uint8 bytes
/// of a NumPy bool array: non-zero is True).
fn parse_decode(arg: &'static str, value: &str) -> Result<Decode, Error> {
    match value {
        "native" => Ok(Decode::Native),
        "swapped" => Ok(Decode::Swapped),
        "bool" => Ok(Decode::Boolean),
        _ => Err(Error::InvalidOption {
            arg,
            value: value.to_string(),
            expected: "'native', 'swapped' or 'bool'",
        }),
    }
}

impl Labels<'_> {
    /// The labels of a 1-D array as a key source.
    fn lane(&self, arg: &'static str, decode: Decode) -> Result<Box<dyn KeySource + '_>, Error> {
        fn one<'a, T: Label>(
            arg: &'static str,
            v: ArrayViewD<'a, T>,
            decode: Decode,
        ) -> Result<Box<dyn KeySource + 'a>, Error> {
            let ndim = v.ndim();
            let lane = v
                .into_dimensionality::<Ix1>()
                .map_err(|_| Error::WrongDimensions {
                    arg,
                    expected: 1,
                    got: ndim,
                })?;
            Ok(Box::new(LaneKeys::new(lane, decode)))
        }
        with_labels!(self, |v| one(arg, v, decode))
    }
}

/// Plug-in entropy (optionally Miller–Madow corrected) of the labels along `axis` of
/// `labels` (one value per lane; `axis=None`: all labels as one sample set).
#[pyfunction(name = "label_entropy")]
#[pyo3(signature = (labels, axis=Some(-1), base=None, miller_madow=false, decode="native"))]
fn py_label_entropy<'py>(
    py: Python<'py>,
    labels: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    miller_madow: bool,
    decode: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let decode = parse_decode("decode", decode)?;
    let labels = borrow_labels("labels", labels)?;
    with_labels!(&labels, |v| match axis {
        None => {
            let h = py.compute(|| label_entropy_pooled(v, decode, base, miller_madow))?;
            Ok(h.into_pyobject(py)?.into_any())
        }
        Some(axis) => {
            let v = axis_last("labels", v, axis)?;
            check_result_size(lanes(v.shape()), BYTES_PER_LANE)?;
            let result = py.compute(|| label_entropy(v, decode, base, miller_madow))?;
            into_python(py, result)
        }
    })
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
    Ok(py.compute(|| from_table(t, measure, base))?)
}

/// The same measures from two equally long 1-D integer label arrays (any integer dtypes,
/// any strides, read in place; `x_decode` / `y_decode` as for `label_entropy`).
#[pyfunction(name = "label_pair_measure")]
#[pyo3(signature = (x, y, measure, base=None, average_method="arithmetic", x_decode="native", y_decode="native"))]
#[allow(clippy::too_many_arguments)]
fn py_label_pair_measure(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    measure: &str,
    base: Option<f64>,
    average_method: &str,
    x_decode: &str,
    y_decode: &str,
) -> PyResult<f64> {
    let measure = Measure::parse(measure, average_method)?;
    let (dx, dy) = (
        parse_decode("x_decode", x_decode)?,
        parse_decode("y_decode", y_decode)?,
    );
    let (x, y) = (borrow_labels("x", x)?, borrow_labels("y", y)?);
    let (xs, ys) = (x.lane("x", dx)?, y.lane("y", dy)?);
    let (xs, ys) = (xs.as_ref(), ys.as_ref());
    Ok(py.compute(|| from_labels(xs, ys, measure, base))?)
}
