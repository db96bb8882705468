//! The inputs the small-call fast paths convert themselves: integer counts and flat lists
//! of numbers, as float64 arrays (issue #13, a 10-element call within 1 µs).
//!
//! scipy users pass counts (`np.bincount(x)`, an int64 array) and literal lists
//! (`entropy([0.5, 0.5])`); the general Python path converts them with `astype(np.float64)`
//! / `np.asarray` and its argument checks, 1.5 µs (10 int64 counts) and 2.8 µs (a list of
//! 10 floats) against 0.5 µs for a float64 array. Made here, the float64 array holds the
//! values the general path would compute on — an integer's nearest double, ties to even,
//! as NumPy's cast and Python's `float(int)` round — so the results are the same bits.

use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PyTuple};

use super::arrays::zeros;

/// The most elements converted here: small calls are what this is for, and a larger input
/// keeps the general path, whose NumPy cast releases the GIL (this conversion holds it).
const CONVERT_UP_TO: usize = 1 << 16;

/// `obj` ready for a fast path: a new float64 array where it is an exact, C-contiguous
/// ndarray of at most [`CONVERT_UP_TO`] native integers or bools (NumPy's
/// `astype(np.float64)` of it), or a flat list or tuple of as many plain floats and ints
/// (`np.asarray` of it, as float64); `obj` itself for anything else — float arrays as
/// they are, and whatever the fast path then declines.
pub fn as_float64<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let converted = if obj.is_exact_instance_of::<PyUntypedArray>() {
        integer_array(obj)?
    } else if let Ok(list) = obj.cast_exact::<PyList>() {
        numbers(obj.py(), list.len(), list.iter())?
    } else if let Ok(tuple) = obj.cast_exact::<PyTuple>() {
        numbers(obj.py(), tuple.len(), tuple.iter())?
    } else {
        None
    };
    Ok(converted.unwrap_or_else(|| obj.clone()))
}

/// A float64 copy of an exact ndarray of native integers or bools, C-contiguous (the
/// layout `astype` keeps, so the reduction sees the general path's layout); None for
/// float arrays (taken as they are) and anything else.
fn integer_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let array = obj.cast::<PyUntypedArray>()?;
    if !matches!(array.dtype().kind(), b'i' | b'u' | b'b')
        || !array.is_c_contiguous()
        || array.len() > CONVERT_UP_TO
    {
        return Ok(None);
    }
    macro_rules! widen {
        ($($t:ty),*) => {$(
            if let Ok(a) = obj.cast::<PyArrayDyn<$t>>() {
                // SAFETY: `a` is C-contiguous (checked above), so `as_slice` gives its
                // elements, read while the GIL is held (an abi3 module runs only on GIL
                // builds of Python). No Rust code can be writing them: the only arrays
                // this crate writes outside the GIL are float32/float64 ones (results,
                // `out=`, `grad_out=`), never an integer array — which is all that
                // rust-numpy's borrow registry, skipped here, would have checked (it
                // cannot see other extensions writing without the GIL either; such a
                // write races with NumPy's own `astype` just the same). Skipping it
                // saves a tenth of a 10-element call.
                let values = unsafe { a.as_slice() }
                    .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
                return new_float64(obj.py(), array.shape(), |slots| {
                    for (slot, &v) in slots.iter_mut().zip(values) {
                        *slot = v.to_f64();
                    }
                    Some(())
                });
            }
        )*};
    }
    widen!(i64, i32, u8, i8, i16, u16, u32, u64, bool);
    Ok(None)
}

/// The float64 array of a flat sequence of `len` items that are all exact floats or ints
/// fitting in an i64; None where an item is anything else (bools, NumPy scalars, nested
/// sequences and larger ints: the general path's `np.asarray` decides those).
fn numbers<'py>(
    py: Python<'py>,
    len: usize,
    mut items: impl Iterator<Item = Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if len > CONVERT_UP_TO {
        return Ok(None);
    }
    new_float64(py, &[len], |slots| {
        for slot in slots.iter_mut() {
            let item = items.next()?;
            *slot = if let Ok(f) = item.cast_exact::<PyFloat>() {
                f.value()
            } else if item.is_exact_instance_of::<PyInt>() {
                item.extract::<i64>().ok()? as f64
            } else {
                return None;
            };
        }
        Some(())
    })
}

/// A new C-contiguous float64 array of `shape`, its elements written by `fill` in C order;
/// None (the array dropped) where `fill` declines.
fn new_float64<'py>(
    py: Python<'py>,
    shape: &[usize],
    fill: impl FnOnce(&mut [f64]) -> Option<()>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let array = zeros::<f64>(py, shape)?;
    let n: usize = shape.iter().product();
    let slots: &mut [f64] = if n == 0 {
        &mut []
    } else {
        // SAFETY: `zeros` made `array` just now: C-contiguous, its `n` elements zeroed
        // (initialised f64) at `data()`, non-null and aligned. No Python code or other
        // reference has seen it yet, so this is the only reference while `fill` runs.
        unsafe { std::slice::from_raw_parts_mut(array.data(), n) }
    };
    Ok(fill(slots).map(|()| array.into_any()))
}

/// An integer's nearest double, ties to even (Rust's `as`, NumPy's cast); a bool's 0 or 1.
trait ToF64: Copy {
    fn to_f64(self) -> f64;
}

macro_rules! to_f64_as {
    ($($t:ty),*) => {$(
        impl ToF64 for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
to_f64_as!(i8, i16, i32, i64, u8, u16, u32, u64);

impl ToF64 for bool {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
}
