//! Bindings of the distribution measures and self-information.
//!
//! PERF: the options may be passed positionally. Under the stable ABI (abi3) a call with
//! keyword arguments goes through a kwargs dict, which measured ~4 µs per call against
//! ~1 µs positionally; `_api.py` therefore passes them by position. Keywords still work.

use numpy::{PyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::Compute;

use super::arrays::{
    borrow_array, borrow_array_mut, not_a_float_array, reduce_one, reduce_pair, view, view_mut,
    whole_one, whole_pair, zeros,
};
use crate::kernels::Real;
use crate::measures::{cross_entropy, entropy, kl, self_information, Options};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(py_kl_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(py_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(py_self_information, m)?)?;
    Ok(())
}

/// Entropy along `axis` of `p`; `axis=None`: the whole array as one distribution.
#[pyfunction(name = "entropy")]
#[pyo3(signature = (p, axis=Some(-1), base=None, normalize=true))]
fn py_entropy<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    match axis {
        Some(axis) => reduce_one!(py, p, axis, |pv| entropy::entropy(pv, &opts)),
        None => whole_one!(py, p, |pv| entropy::entropy_whole(pv, &opts)),
    }
}

/// KL divergence along `axis` of equally shaped `p` and `q`; `axis=None`: each whole.
#[pyfunction(name = "kl_divergence")]
#[pyo3(signature = (p, q, axis=Some(-1), base=None, normalize=true))]
fn py_kl_divergence<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    match axis {
        Some(axis) => reduce_pair!(py, p, q, axis, |pv, qv| kl::kl_divergence(pv, qv, &opts)),
        None => whole_pair!(py, p, q, |pv, qv| kl::kl_divergence_whole(pv, qv, &opts)),
    }
}

/// Cross-entropy along `axis` of equally shaped `p` and `q`; `axis=None`: each whole.
#[pyfunction(name = "cross_entropy")]
#[pyo3(signature = (p, q, axis=Some(-1), base=None, normalize=true))]
fn py_cross_entropy<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    axis: Option<isize>,
    base: Option<f64>,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options { normalize, base };
    match axis {
        Some(axis) => reduce_pair!(py, p, q, axis, |pv, qv| cross_entropy::cross_entropy(
            pv, qv, &opts
        )),
        None => whole_pair!(py, p, q, |pv, qv| cross_entropy::cross_entropy_whole(
            pv, qv, &opts
        )),
    }
}

/// −log(p) elementwise into `out` (a new array of p's dtype and shape when None); `out`
/// may be `p` itself. Returns `out`.
#[pyfunction(name = "self_information")]
#[pyo3(signature = (p, *, base=None, out=None))]
pub(super) fn py_self_information<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    base: Option<f64>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(a) = p.cast::<PyArrayDyn<f64>>() {
        return typed_self_information(py, a, base, out);
    }
    if let Ok(a) = p.cast::<PyArrayDyn<f32>>() {
        return typed_self_information(py, a, base, out);
    }
    Err(not_a_float_array("p", p))
}

fn typed_self_information<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    p: &Bound<'py, PyArrayDyn<T>>,
    base: Option<f64>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let out = match out {
        None => zeros::<T>(py, p.shape())?,
        Some(o) => o
            .cast::<PyArrayDyn<T>>()
            .map_err(|_| {
                PyTypeError::new_err("`out` must be a writable numpy.ndarray with the dtype of `p`")
            })?
            .clone(),
    };
    if out.is(p) {
        let mut rw = borrow_array_mut("out", &out)?;
        let v = view_mut("out", &mut rw)?;
        py.compute_sized(v.len(), || {
            self_information::self_information_in_place(v, base)
        })?;
    } else {
        let src = borrow_array("p", p)?;
        let mut rw = borrow_array_mut("out", &out)?;
        let (pv, ov) = (view(&src), view_mut("out", &mut rw)?);
        py.compute_sized(pv.len(), || {
            self_information::self_information_into(pv, ov, base)
        })?;
    }
    Ok(out.into_any())
}
