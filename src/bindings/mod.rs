//! The PyO3 layer: NumPy arrays in, views out, the GIL released while the core computes,
//! errors mapped to Python exceptions. No numerics here: argument normalisation (dtype
//! conversion, broadcasting, moving `axis` last) happens in `python/fastentropy/_api.py`.

mod arrays;
mod loss;
mod measures;
mod more;
mod partials;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::Error;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        PyValueError::new_err(e.to_string())
    }
}

/// Registers every binding on the `fastentropy._core` module.
#[pymodule(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    measures::register(m)?;
    partials::register(m)?;
    loss::register(m)?;
    more::register(m)?;
    m.add_function(wrap_pyfunction!(py_set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(py_get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(py_simd_isa, m)?)?;
    m.add("BLOCK", crate::parallel::BLOCK)?;
    Ok(())
}

#[pyfunction(name = "set_num_threads")]
fn py_set_num_threads(n: usize) -> PyResult<()> {
    Ok(crate::parallel::set_num_threads(n)?)
}

#[pyfunction(name = "get_num_threads")]
fn py_get_num_threads() -> usize {
    crate::parallel::num_threads()
}

/// The instruction set the kernels dispatched to: "avx512", "avx2" or "baseline".
#[pyfunction(name = "simd_isa")]
fn py_simd_isa() -> &'static str {
    crate::simd::isa().name()
}
