//! The PyO3 layer: NumPy arrays in, views out, the GIL released while the core computes,
//! errors mapped to Python exceptions. No numerics here: argument normalisation (dtype
//! conversion, broadcasting, moving `axis` last) happens in `python/fastentropy/_api.py`.

mod arrays;
mod convert;
mod drift;
mod fast;
mod loss;
mod loss_fast;
mod measures;
mod more;
mod ragged;
mod scorers;

use std::cell::RefCell;

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::Error;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            // The exception the signal handler raised (KeyboardInterrupt for Ctrl-C, or
            // whatever a user's handler raises), kept by `check_signals_hook`.
            Error::Interrupted => PENDING_SIGNAL_ERROR
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted")),
            // An Arrow type that is not read is a dtype problem.
            e @ Error::ArrowType { .. } => PyTypeError::new_err(e.to_string()),
            e @ Error::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
            e @ Error::Internal { .. } => PyRuntimeError::new_err(e.to_string()),
            e => PyValueError::new_err(e.to_string()),
        }
    }
}

/// How every binding runs the core: with the GIL released, and with any panic caught
/// ([`crate::error::catch_panic`]) so it reaches Python as a RuntimeError, never as a
/// PanicException.
pub(crate) trait Compute {
    /// `f` without the GIL, its panics caught.
    fn compute<R: Send>(self, f: impl FnOnce() -> Result<R, Error> + Send) -> Result<R, Error>;
    /// [`Compute::compute`] for work on `elements` input elements: up to
    /// [`HOLD_GIL_BELOW`] the GIL is kept (releasing and retaking it costs more than such
    /// a call computes, and nothing that short needs to be interruptible).
    fn compute_sized<R: Send>(
        self,
        elements: usize,
        f: impl FnOnce() -> Result<R, Error> + Send,
    ) -> Result<R, Error>;
}

/// Calls on fewer input elements than this keep the GIL (see [`Compute::compute_sized`]).
pub(crate) const HOLD_GIL_BELOW: usize = 1024;

impl Compute for Python<'_> {
    fn compute<R: Send>(self, f: impl FnOnce() -> Result<R, Error> + Send) -> Result<R, Error> {
        self.detach(|| crate::error::catch_panic(f))
    }
    fn compute_sized<R: Send>(
        self,
        elements: usize,
        f: impl FnOnce() -> Result<R, Error> + Send,
    ) -> Result<R, Error> {
        if elements < HOLD_GIL_BELOW {
            crate::error::catch_panic(f)
        } else {
            self.compute(f)
        }
    }
}

thread_local! {
    /// The error a signal handler raised during this thread's current call.
    static PENDING_SIGNAL_ERROR: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// The core's interrupt hook (`parallel::set_interrupt_hook`), called on the thread that
/// made the call, with the GIL released: runs Python's signal handlers (only the main
/// thread has any) and asks the call to stop if one raised.
fn check_signals_hook() -> bool {
    Python::attach(|py| match py.check_signals() {
        Ok(()) => false,
        Err(e) => {
            PENDING_SIGNAL_ERROR.with(|p| *p.borrow_mut() = Some(e));
            true
        }
    })
}

/// Registers every binding on the `fastentropy._core` module.
#[pymodule(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::parallel::set_interrupt_hook(check_signals_hook);
    measures::register(m)?;
    fast::register(m)?;
    loss::register(m)?;
    loss_fast::register(m)?;
    more::register(m)?;
    drift::register(m)?;
    scorers::register(m)?;
    ragged::register(m)?;
    m.add_function(wrap_pyfunction!(py_set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(py_get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(py_simd_isa, m)?)?;
    m.add("BLOCK", crate::parallel::BLOCK)?;
    m.add("MAX_THREADS", crate::parallel::max_threads())?;
    Ok(())
}

/// Sets the thread count (clamped to `max_threads`); the pool is built by the next call.
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
