//! The small-call fast paths (issue #13: a 10-element call within 1 µs). The Python
//! functions check a few keyword options (`is None`, cheap) and hand the arrays and the
//! rest of the options here; whether they can be taken as they are (exact native
//! float32/float64 ndarrays, one shape, an int `axis` in range, a plain valid `base`,
//! `from_logits` / `normalize` exactly `True` or `False`, a plain `smoothing` pseudocount;
//! one C-contiguous distribution is read as a slice) is decided in Rust, where it costs a
//! few nanoseconds instead of the ~100 ns of `p.dtype`/`p.ndim` lookups in Python.
//! Integer counts and flat lists of numbers are first made float64 arrays here
//! ([`super::convert`]), as the general path would make them. Anything else returns None
//! and the caller takes its general path (conversion, broadcasting, the errors that name
//! the argument).

use numpy::{PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use super::arrays::{is_float32, reduce_one, reduce_pair, Floats};
use super::convert::as_float64;
use super::measures::py_self_information;
use super::Compute;
use crate::measures::from_logits::{self, One, Two};
use crate::measures::smoothing::{self, Smoothed};
use crate::measures::{cross_entropy, entropy, js, kl, Options};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_entropy_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_kl_divergence_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_cross_entropy_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_js_divergence_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_js_distance_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_self_information_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_perplexity_fast, m)?)?;
    m.add_function(wrap_pyfunction!(py_population_stability_index_fast, m)?)?;
    Ok(())
}

/// The options of a fast path: `normalize` exactly `True` or `False` (not given: `True`),
/// natural log or a `base` that is None or a plain float / int the general path would
/// accept (positive, finite, not 1); None otherwise, so the general path raises its error.
fn fast_options(
    base: Option<&Bound<'_, PyAny>>,
    normalize: Option<&Bound<'_, PyAny>>,
) -> Option<Options> {
    let normalize = match normalize {
        None => true,
        Some(flag) => bool_flag(flag)?,
    };
    let base = match base {
        None => None,
        Some(b) if b.is_none() => None,
        Some(b) if b.is_exact_instance_of::<PyFloat>() || b.is_exact_instance_of::<PyInt>() => {
            let b: f64 = b.extract().ok()?;
            if !(b > 0.0 && b != 1.0 && b.is_finite()) {
                return None;
            }
            Some(b)
        }
        Some(_) => return None,
    };
    Some(Options { normalize, base })
}

/// The options of an entropy or two-distribution fast call: [`fast_options`], `from_logits`
/// exactly `True` or `False` and a plain `smoothing` pseudocount (none given: 0); None for
/// anything else, and for `normalize=False` with logits or a pseudocount (the general
/// path's combinations).
fn call_options(
    base: Option<&Bound<'_, PyAny>>,
    normalize: Option<&Bound<'_, PyAny>>,
    from_logits: &Bound<'_, PyAny>,
    smoothing: Option<&Bound<'_, PyAny>>,
) -> Option<(Options, bool, f64)> {
    let opts = fast_options(base, normalize)?;
    let logits = bool_flag(from_logits)?;
    let alpha = smoothing.map_or(Some(0.0), plain_smoothing)?;
    (opts.normalize || !(logits || alpha > 0.0)).then_some((opts, logits, alpha))
}

/// A flag (`from_logits`, `normalize`) when it is exactly `True` or `False`; None for
/// anything else (NumPy bools, None, numbers), which the general path checks.
fn bool_flag(flag: &Bound<'_, PyAny>) -> Option<bool> {
    flag.is_exact_instance_of::<PyBool>()
        .then(|| flag.cast::<PyBool>().is_ok_and(|b| b.is_true()))
}

/// The shape of `obj` if it is an exact ndarray (not a subclass: `numpy.ma` arrays carry a
/// mask the buffer does not show) of native-endian float32/float64. Checked here, not in
/// the Python callers: two `type(x) is np.ndarray` tests cost ~35 ns of a ~1 µs call.
pub(super) fn native_float_shape<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a [usize]> {
    if !obj.is_exact_instance_of::<PyUntypedArray>() {
        return None;
    }
    let native = if is_float32(obj) {
        obj.cast::<PyArrayDyn<f32>>().is_ok()
    } else {
        obj.cast::<PyArrayDyn<f64>>().is_ok()
    };
    native.then(|| obj.cast::<PyUntypedArray>().ok().map(|a| a.shape()))?
}

/// `axis` if it is a plain int (not a bool, not a NumPy integer) in range for `ndim`.
pub(super) fn plain_axis(axis: &Bound<'_, PyAny>, ndim: usize) -> Option<isize> {
    if !axis.is_exact_instance_of::<PyInt>() {
        return None;
    }
    let a: isize = axis.extract().ok()?;
    let n = ndim as isize;
    (-n <= a && a < n).then_some(a)
}

/// Whether `obj` (an exact float ndarray, see [`native_float_shape`]) is 1-D and
/// C-contiguous: one distribution read as a slice, without ndarray views (~150 ns of a
/// 10-element two-array call) and without a result array.
pub(super) fn one_slice(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyUntypedArray>()
        .is_ok_and(|a| a.ndim() == 1 && a.is_c_contiguous())
}

/// Runs `$body` with `$s` bound to the elements of `$arr` (borrowed [`Floats`] that
/// [`one_slice`] accepted).
macro_rules! with_slice {
    ($arr:expr, |$s:ident| $body:expr) => {
        match &$arr {
            Floats::F32(a) => {
                let $s = a
                    .as_slice()
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                $body
            }
            Floats::F64(a) => {
                let $s = a
                    .as_slice()
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                $body
            }
        }
    };
}
pub(super) use with_slice;

/// Returns from the fast path with `$value` (an f64 result computed by the core from
/// `$ps` and `$qs`, the elements of `$p` and `$q`: two arrays [`one_slice`] accepted) as a
/// Python float.
macro_rules! return_from_slices {
    ($py:expr, $p:expr, $q:expr, |$ps:ident, $qs:ident| $value:expr) => {{
        let (p, q) = (Floats::borrow("p", $p)?, Floats::borrow("q", $q)?);
        let value = with_slice!(p, |$ps| with_slice!(q, |$qs| $py
            .compute_sized($ps.len(), || $value)))?;
        return Ok(Some(value.into_pyobject($py)?.into_any()));
    }};
}

/// `axis` when `p` (and `q`, of the same shape) can be taken as they are.
fn fast_axis(
    p: &Bound<'_, PyAny>,
    q: Option<&Bound<'_, PyAny>>,
    axis: &Bound<'_, PyAny>,
) -> Option<isize> {
    let shape = native_float_shape(p)?;
    if let Some(q) = q {
        if native_float_shape(q)? != shape {
            return None;
        }
    }
    plain_axis(axis, shape.len())
}

/// Whether `axis` is None (the whole array as one distribution) and `p` (and `q`, of the
/// same shape) are exact native float arrays of at least one dimension, C-contiguous: then
/// the whole array is its elements in C order read as a slice, which is what the general
/// path gathers (`map_whole`), so the same bits.
fn whole_slices(
    p: &Bound<'_, PyAny>,
    q: Option<&Bound<'_, PyAny>>,
    axis: &Bound<'_, PyAny>,
) -> bool {
    if !axis.is_none() {
        return false; // (the common call: nothing else looked at)
    }
    let c_order = |x: &Bound<'_, PyAny>| {
        x.cast::<PyUntypedArray>()
            .is_ok_and(|a| a.ndim() >= 1 && a.is_c_contiguous())
    };
    let Some(shape) = native_float_shape(p) else {
        return false;
    };
    c_order(p) && q.is_none_or(|q| native_float_shape(q) == Some(shape) && c_order(q))
}

/// Entropy with the default options (or a plain `base`, `from_logits=True`, a plain
/// `smoothing` pseudocount, `normalize=False`, `axis=None` on a C-ordered array), or None
/// (see the module docs).
#[pyfunction(name = "entropy_fast", signature = (p, axis, base, from_logits, smoothing = None, normalize = None))]
fn py_entropy_fast<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    from_logits: &Bound<'py, PyAny>,
    smoothing: Option<&Bound<'py, PyAny>>,
    normalize: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((opts, logits, alpha)) = call_options(base, normalize, from_logits, smoothing) else {
        return Ok(None);
    };
    let p = &as_float64(p)?;
    let whole = whole_slices(p, None, axis);
    if whole && (logits || alpha > 0.0) {
        return Ok(None); // their whole-array forms: the general path
    }
    if alpha > 0.0 {
        // (with `from_logits=True` the general path raises)
        return match (logits, fast_axis(p, None, axis)) {
            (false, Some(axis)) => smoothed(py, p, p, axis, Smoothed::Entropy, alpha, &opts),
            _ => Ok(None),
        };
    }
    if logits {
        return of_logits(py, p, axis, One::Entropy, &opts);
    }
    entropy_then(py, p, axis, &opts, false, whole)
}

/// A measure of `p` and `q` (native float arrays of one shape) with the pseudocount
/// `alpha` added to every element: the general path's core call (`smoothed_measure`)
/// without its Python argument handling, one contiguous distribution each read as a slice.
fn smoothed<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: isize,
    kind: Smoothed,
    alpha: f64,
    opts: &Options,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let lb = opts.ln_base()?;
    if one_slice(p) && one_slice(q) {
        return_from_slices!(py, p, q, |ps, qs| smoothing::contiguous(
            ps, qs, kind, alpha, lb
        ));
    }
    reduce_pair!(py, p, q, axis, |pv, qv| smoothing::rows(
        pv, qv, kind, alpha, lb
    ))
    .map(Some)
}

/// A measure of the softmax of `p`'s rows (`from_logits=True`), or None: the general
/// path's core call, without its Python argument handling (~1 µs).
fn of_logits<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    kind: One,
    opts: &Options,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(axis) = fast_axis(p, None, axis) else {
        return Ok(None);
    };
    let lb = opts.ln_base()?;
    reduce_one!(py, p, axis, |pv| from_logits::one(pv, kind, lb)).map(Some)
}

/// Perplexity e^H with the default options (or `from_logits=True`), or None (see the
/// module docs). A plain `base` is checked as the general path checks it, and changes
/// nothing (b^H_b = e^H).
#[pyfunction(name = "perplexity_fast", signature = (p, axis, base, from_logits))]
fn py_perplexity_fast<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    from_logits: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (Some(opts), Some(logits)) = (fast_options(base, None), bool_flag(from_logits)) else {
        return Ok(None);
    };
    let p = &as_float64(p)?;
    if logits {
        return of_logits(py, p, axis, One::Perplexity, &opts);
    }
    let nats = Options {
        normalize: true,
        base: None,
    };
    entropy_then(py, p, axis, &nats, true, false)
}

/// The entropy of `p` along `axis` with `opts` (its exponential where `perplexity`: `opts`
/// then in nats), or of the whole of `p` where `whole` ([`whole_slices`]), or None (see the
/// module docs).
fn entropy_then<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    opts: &Options,
    perplexity: bool,
    whole: bool,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    // (a whole array is read as one slice below: no axis needed)
    let Some(axis) = (if whole {
        Some(-1)
    } else {
        fast_axis(p, None, axis)
    }) else {
        return Ok(None);
    };
    if whole || one_slice(p) {
        let p = Floats::borrow("p", p)?;
        let h = with_slice!(p, |ps| py
            .compute_sized(ps.len(), || entropy::entropy_contiguous(ps, opts)))?;
        let value = if perplexity {
            crate::measures::perplexity::exp_one(h)
        } else {
            h
        };
        return Ok(Some(value.into_pyobject(py)?.into_any()));
    }
    if perplexity {
        return reduce_one!(py, p, axis, |pv| crate::measures::perplexity::perplexity(
            pv, opts
        ))
        .map(Some);
    }
    reduce_one!(py, p, axis, |pv| entropy::entropy(pv, opts)).map(Some)
}

/// One fast path per two-distribution measure: `$name` computed by `$measure(p, q, opts)`,
/// or for one contiguous distribution each by `$finish($contiguous(p, q, opts))`.
macro_rules! pair_fast {
    ($fn_name:ident, $name:literal, $measure:path, $contiguous:path, $finish:expr, $of_logits:expr, $smoothed:expr) => {
        #[doc = concat!("`", $name, "` with the default options (or a plain `base`, `from_logits=True`, a plain `smoothing` pseudocount, `normalize=False`, `axis=None` on C-ordered arrays), or None (see the module docs).")]
        #[pyfunction(name = $name, signature = (p, q, axis, base, from_logits, smoothing = None, normalize = None))]
        #[allow(clippy::too_many_arguments)]
        fn $fn_name<'py>(
            py: Python<'py>,
            p: &Bound<'py, PyAny>,
            q: &Bound<'py, PyAny>,
            axis: &Bound<'py, PyAny>,
            base: Option<&Bound<'py, PyAny>>,
            from_logits: &Bound<'py, PyAny>,
            smoothing: Option<&Bound<'py, PyAny>>,
            normalize: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Option<Bound<'py, PyAny>>> {
            let Some((opts, logits, alpha)) = call_options(base, normalize, from_logits, smoothing)
            else {
                return Ok(None);
            };
            let (p, q) = (&as_float64(p)?, &as_float64(q)?);
            let whole = whole_slices(p, Some(q), axis);
            if whole && (logits || alpha > 0.0) {
                return Ok(None); // their whole-array forms: the general path
            }
            // (a whole array is read as one slice below: no axis needed)
            let Some(axis) = (if whole { Some(-1) } else { fast_axis(p, Some(q), axis) }) else {
                return Ok(None);
            };
            if alpha > 0.0 {
                // (with `from_logits=True` the general path raises)
                if logits {
                    return Ok(None);
                }
                return smoothed(py, p, q, axis, $smoothed, alpha, &opts);
            }
            if logits {
                // the softmax of both (the general path's core call)
                let lb = opts.ln_base()?;
                return reduce_pair!(py, p, q, axis, |pv, qv| from_logits::two(
                    pv, qv, $of_logits, lb
                ))
                .map(Some);
            }
            if whole || (one_slice(p) && one_slice(q)) {
                let finish: fn(f64) -> f64 = $finish;
                return_from_slices!(py, p, q, |ps, qs| $contiguous(ps, qs, &opts).map(finish));
            }
            reduce_pair!(py, p, q, axis, |pv, qv| $measure(pv, qv, &opts)).map(Some)
        }
    };
}

pair_fast!(
    py_kl_divergence_fast,
    "kl_divergence_fast",
    kl::kl_divergence,
    kl::kl_divergence_contiguous,
    |v| v,
    Two::Kl,
    Smoothed::Kl
);
pair_fast!(
    py_cross_entropy_fast,
    "cross_entropy_fast",
    cross_entropy::cross_entropy,
    cross_entropy::cross_entropy_contiguous,
    |v| v,
    Two::CrossEntropy,
    Smoothed::CrossEntropy
);
pair_fast!(
    py_js_divergence_fast,
    "js_divergence_fast",
    js::js_divergence,
    js::js_divergence_contiguous,
    |v| v,
    Two::Js,
    Smoothed::Js
);
pair_fast!(
    py_js_distance_fast,
    "js_distance_fast",
    js::js_distance,
    js::js_divergence_contiguous,
    js::distance,
    Two::JsDistance,
    Smoothed::JsDistance
);

/// A pseudocount the general path accepts: a plain float or int, finite and ≥ 0. (The
/// fast paths' `smoothing` defaults to None, no pseudocount; the Python callers never pass
/// None there — a `smoothing=None` is the general path's TypeError.)
fn plain_smoothing(value: &Bound<'_, PyAny>) -> Option<f64> {
    if !(value.is_exact_instance_of::<PyFloat>() || value.is_exact_instance_of::<PyInt>()) {
        return None;
    }
    let s: f64 = value.extract().ok()?;
    // (+ 0.0: a −0.0 pseudocount is the general path's 0.0)
    (s >= 0.0 && s.is_finite()).then_some(s + 0.0)
}

/// `population_stability_index` of native float arrays of one shape with a plain `base`
/// and `smoothing`, or None: the general path's core call without its Python argument
/// handling (~2 µs of a 10-bin call).
#[pyfunction(name = "population_stability_index_fast")]
fn py_population_stability_index_fast<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    smoothing: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (Some(opts), Some(alpha)) = (fast_options(base, None), plain_smoothing(smoothing)) else {
        return Ok(None);
    };
    // (converted only once the options are the fast path's)
    let (p, q) = (&as_float64(p)?, &as_float64(q)?);
    let Some(axis) = fast_axis(p, Some(q), axis) else {
        return Ok(None);
    };
    smoothed(py, p, q, axis, Smoothed::Psi, alpha, &opts)
}

/// Self-information in nats into a new array, or None (see the module docs; also for a
/// 0-d `p`, whose result the caller turns into a NumPy scalar).
#[pyfunction(name = "self_information_fast")]
fn py_self_information_fast<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let p = &as_float64(p)?;
    if native_float_shape(p).is_none_or(|shape| shape.is_empty()) {
        return Ok(None);
    }
    py_self_information(py, p, None, None).map(Some)
}
