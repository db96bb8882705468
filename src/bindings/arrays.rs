//! NumPy arrays → borrowed ndarray views, by dtype, for any number of dimensions.
//!
//! Every view of a NumPy array in the bindings goes through [`view`] / [`view_mut`], never
//! rust-numpy's `as_array` directly: rust-numpy 0.30 records the axes with negative strides
//! in a `u32` bit mask and asserts `ndim <= 32` (NumPy 1's limit) — a panic for the 33- to
//! 64-dimensional arrays NumPy 2 allows. [`view`] builds those views itself (same
//! construction, a bit vector instead of the mask). Likewise results with more than 32
//! dimensions are handed to Python by [`into_numpy`], since rust-numpy's `into_pyarray`
//! has the same assertion.
//!
//! Unaligned arrays (a field of a packed structured array, `np.frombuffer` at an odd
//! offset) cannot be viewed at all: ndarray requires aligned pointers, and rust-numpy would
//! divide an odd byte stride by the item size and read the wrong elements. Inputs are
//! therefore copied when unaligned (the only copy the bindings ever make, for a rare
//! layout), and unaligned outputs are refused with a ValueError.

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, RawArrayViewMut, ShapeBuilder};
use numpy::{
    Element, IntoPyArray, PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods,
    PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The largest `ndim` rust-numpy's own `as_array` / `into_pyarray` handle.
const RUST_NUMPY_MAX_NDIM: usize = 32;

/// A read-only view of a borrowed array, whatever its number of dimensions (NumPy 2: up
/// to 64). Never panics.
pub fn view<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>) -> ArrayViewD<'a, T> {
    debug_assert!(is_viewable(a), "borrowed through `borrow_array`");
    if a.ndim() <= RUST_NUMPY_MAX_NDIM {
        return a.as_array();
    }
    // SAFETY: `raw_view` describes exactly the elements of the NumPy array `a` (its data
    // pointer, shape and strides, checked aligned and item-size-multiple by `borrow_array`
    // / `readonly`); the read-only borrow `a` (rust-numpy's borrow flags) keeps the
    // array alive and free of Rust writers for `'a`, as rust-numpy's own `as_array` relies on.
    unsafe { raw_view(a.data(), a.shape(), a.strides()).deref_into_view() }
}

/// A mutable view of a borrowed writable array, whatever its number of dimensions; a
/// ValueError naming `arg` when its elements overlap (a zero stride, `as_strided`): a
/// mutable view requires every element to be a distinct memory location.
pub fn view_mut<'a, T: Element>(
    arg: &str,
    a: &'a mut PyReadwriteArrayDyn<'_, T>,
) -> PyResult<ArrayViewMutD<'a, T>> {
    let (shape, strides) = (a.shape().to_vec(), a.strides().to_vec());
    if !elements_distinct(&shape, &strides, std::mem::size_of::<T>()) {
        return Err(PyValueError::new_err(format!(
            "`{arg}` must not have overlapping elements (a zero or overlapping stride, e.g. from \
             np.broadcast_to or as_strided); pass a fresh array such as np.empty_like(...)"
        )));
    }
    if shape.len() <= RUST_NUMPY_MAX_NDIM {
        return Ok(a.as_array_mut());
    }
    // SAFETY: as in `view`; the read-write borrow `a` is exclusive for `'a` (rust-numpy's
    // borrow flags), and the elements were just checked to be distinct locations.
    Ok(unsafe { raw_view(a.data(), &shape, &strides).deref_into_view_mut() })
}

/// The ndarray view of NumPy's (data, shape, byte strides): the pointer moved to the
/// lowest element along every negatively strided axis, strides in elements, those axes
/// inverted back — rust-numpy's construction without its 32-axis bit mask.
///
/// # Safety
/// `ptr`, `shape`, `strides` must describe a live NumPy array of `T` whose data pointer
/// is aligned for `T` and whose strides are multiples of `size_of::<T>()` (NumPy's
/// ALIGNED flag, checked by the borrow helpers).
unsafe fn raw_view<T>(
    ptr: *mut T,
    shape: &[usize],
    strides: &[isize],
) -> RawArrayViewMut<T, IxDyn> {
    let itemsize = std::mem::size_of::<T>().max(1) as isize;
    let mut data = ptr as *mut u8;
    let mut elem_strides = Vec::with_capacity(strides.len());
    let mut inverted = Vec::new();
    for (axis, (&len, &stride)) in shape.iter().zip(strides).enumerate() {
        if stride < 0 && len > 0 {
            // SAFETY: the last element along this axis lies inside the array's buffer.
            data = unsafe { data.offset(stride * (len as isize - 1)) };
            inverted.push(axis);
        }
        elem_strides.push((stride.unsigned_abs() as isize / itemsize) as usize);
    }
    // SAFETY: the shape and non-negative strides address only elements of the array
    // (NumPy guarantees every index of its shape lies in the buffer).
    let mut raw = unsafe {
        RawArrayViewMut::from_shape_ptr(IxDyn(shape).strides(IxDyn(&elem_strides)), data as *mut T)
    };
    for axis in inverted {
        raw.invert_axis(Axis(axis));
    }
    raw
}

/// Whether no two indices of (shape, byte strides) address the same element: sorted by
/// |stride|, each axis must step past the whole extent of the axes below it.
fn elements_distinct(shape: &[usize], strides: &[isize], itemsize: usize) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut axes: Vec<(usize, usize)> = shape
        .iter()
        .zip(strides)
        .filter(|(&len, _)| len > 1)
        .map(|(&len, &s)| (s.unsigned_abs(), len))
        .collect();
    axes.sort_unstable();
    let mut extent = itemsize; // bytes spanned by the axes seen so far
    for (stride, len) in axes {
        if stride < extent {
            return false;
        }
        extent = match stride
            .checked_mul(len - 1)
            .and_then(|e| e.checked_add(extent))
        {
            Some(e) => e,
            None => return false,
        };
    }
    true
}

/// The readonly borrow of `a`, an aligned copy of it first when it is unaligned.
pub fn borrow_array<'py, T: Element>(
    arg: &str,
    a: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let aligned;
    let a = if is_viewable(a) {
        a
    } else {
        // NumPy's copy() is C-ordered and aligned.
        aligned = a.call_method0("copy")?.cast_into::<PyArrayDyn<T>>()?;
        &aligned
    };
    a.try_readonly().map_err(|e| busy(arg, e))
}

/// Whether rust-numpy / ndarray can view `a` in place: aligned data and strides that are
/// multiples of the item size (NumPy's ALIGNED flag checks both for these dtypes, whose
/// alignment is their size).
fn is_viewable<T: Element>(a: &Bound<'_, PyArrayDyn<T>>) -> bool {
    let itemsize = std::mem::size_of::<T>().max(1);
    a.is_aligned()
        && (a.data() as usize).is_multiple_of(std::mem::align_of::<T>())
        && a.strides()
            .iter()
            .all(|s| s.unsigned_abs().is_multiple_of(itemsize))
}

/// The read-write borrow of an output array `a`; a ValueError when it is unaligned.
pub fn borrow_array_mut<'py, T: Element>(
    arg: &str,
    a: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    if !is_viewable(a) {
        return Err(PyValueError::new_err(format!(
            "`{arg}` must be an aligned array (got an unaligned view, e.g. a field of a packed \
             structured array); pass a fresh array such as np.empty_like(...)"
        )));
    }
    a.try_readwrite().map_err(|e| {
        PyValueError::new_err(format!(
            "`{arg}` must be a writable array that is not in use: {e}"
        ))
    })
}

/// A new zero-filled array of `shape`, or MemoryError when NumPy cannot allocate it
/// (rust-numpy's `PyArray::zeros` panics on that NULL).
pub fn zeros<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let mut dims: Vec<numpy::npyffi::npy_intp> = shape
        .iter()
        .map(|&d| d as numpy::npyffi::npy_intp)
        .collect();
    // SAFETY: NumPy's C API with the GIL held (`py`): `PyArray_Zeros` reads `nd` dimensions
    // from `dims` (alive for the call), steals the dtype reference that `into_dtype_ptr`
    // hands over, and returns a new reference to an ndarray of that dtype, or NULL with a
    // Python exception set — which `from_owned_ptr_or_err` turns into the error.
    unsafe {
        let ptr = numpy::npyffi::PY_ARRAY_API.PyArray_Zeros(
            py,
            dims.len() as std::os::raw::c_int,
            dims.as_mut_ptr(),
            T::get_dtype(py).into_dtype_ptr(),
            0,
        );
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

/// Refuses, with MemoryError, a call whose result needs `count` items of `bytes_each`
/// bytes that the allocator cannot provide: a zero-stride `np.broadcast_to` input of 10^12
/// rows costs no memory itself, but its per-row results would, and Rust aborts the whole
/// process on a failed allocation. A probe (reserved and freed at once), so a result that
/// fits is allocated by the core as usual.
pub fn check_result_size(count: usize, bytes_each: usize) -> PyResult<()> {
    let fits = count
        .checked_mul(bytes_each)
        .filter(|&b| b <= isize::MAX as usize)
        .is_some_and(|bytes| Vec::<u8>::new().try_reserve_exact(bytes).is_ok());
    if fits {
        Ok(())
    } else {
        Err(pyo3::exceptions::PyMemoryError::new_err(format!(
            "unable to allocate the working memory of {count} distributions ({bytes_each} bytes \
             each): more than is available (is an input broadcast to a huge shape?)"
        )))
    }
}

/// Bytes a reduction may hold per lane (its partial statistics and its f64 result):
/// the largest partial struct is 5 × f64; twice that leaves room for the result.
pub const BYTES_PER_LANE: usize = 96;

/// The number of lanes (distributions) along the last axis of `shape`: the product of
/// the other axes, saturating (an overflow is refused by [`check_result_size`]).
pub fn lanes(shape: &[usize]) -> usize {
    shape.split_last().map_or(1, |(_, batch)| {
        batch.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    })
}

/// An owned result as a NumPy array, for any number of dimensions.
pub fn into_numpy<'py, T: Element>(py: Python<'py>, a: ArrayD<T>) -> PyResult<Bound<'py, PyAny>> {
    if a.ndim() <= RUST_NUMPY_MAX_NDIM {
        return Ok(a.into_pyarray(py).into_any());
    }
    let shape = PyTuple::new(py, a.shape())?;
    let flat: Vec<T> = a.into_iter().collect();
    PyArray1::from_vec(py, flat).call_method1("reshape", (shape,))
}

/// A read-only float32 or float64 array borrowed from Python (no copy).
pub enum Floats<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl<'py> Floats<'py> {
    /// Borrows `obj` as a float array, naming `arg` in the error otherwise.
    pub fn borrow(arg: &str, obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        let f32_first = is_float32(obj);
        if !f32_first {
            if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
                return Ok(Floats::F64(borrow_array(arg, a)?));
            }
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
            return Ok(Floats::F32(borrow_array(arg, a)?));
        }
        if f32_first {
            if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
                return Ok(Floats::F64(borrow_array(arg, a)?));
            }
        }
        Err(not_a_float_array(arg, obj))
    }
}

/// Whether `obj` is an ndarray of dtype number float32, so that the float32 cast is tried
/// first: a typed cast that fails costs NumPy's `PyArray_EquivTypes` (a cast-table lookup,
/// measured at a tenth of a 10-element call for two float32 arguments), one that succeeds
/// usually only a pointer comparison of the dtypes.
pub fn is_float32(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyUntypedArray>()
        .is_ok_and(|a| a.dtype().num() == numpy::npyffi::NPY_TYPES::NPY_FLOAT as std::ffi::c_int)
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
                let $view = $crate::bindings::arrays::view(a);
                $body
            }
            $crate::bindings::arrays::Floats::F64(a) => {
                let $view = $crate::bindings::arrays::view(a);
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
            $crate::bindings::arrays::check_result_size(
                $crate::bindings::arrays::lanes($pv.shape()),
                $crate::bindings::arrays::BYTES_PER_LANE,
            )?;
            let elements = $pv.len();
            $crate::bindings::Compute::compute_sized($py, elements, || $body)
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
            $crate::bindings::arrays::check_result_size(
                $crate::bindings::arrays::lanes($pv.shape()),
                $crate::bindings::arrays::BYTES_PER_LANE,
            )?;
            let elements = $pv.len();
            $crate::bindings::Compute::compute_sized($py, elements, || $body)
        })?;
        $crate::bindings::arrays::into_python($py, result)
    }};
}
pub(crate) use reduce_pair;

/// [`reduce_one`] for `axis=None`: `$body` gets the whole n-d view and returns one f64.
macro_rules! whole_one {
    ($py:expr, $p:expr, |$pv:ident| $body:expr) => {{
        let p = $crate::bindings::arrays::Floats::borrow("p", $p)?;
        let value: f64 = $crate::bindings::arrays::with_view!(p, |$pv| {
            let elements = $pv.len();
            $crate::bindings::Compute::compute_sized($py, elements, || $body)
        })?;
        Ok(value.into_pyobject($py)?.into_any())
    }};
}
pub(crate) use whole_one;

/// [`reduce_pair`] for `axis=None` (`$p`, `$q` of equal shape).
macro_rules! whole_pair {
    ($py:expr, $p:expr, $q:expr, |$pv:ident, $qv:ident| $body:expr) => {{
        let p = $crate::bindings::arrays::Floats::borrow("p", $p)?;
        let q = $crate::bindings::arrays::Floats::borrow("q", $q)?;
        let value: f64 = $crate::bindings::arrays::with_view_pair!(p, q, |$pv, $qv| {
            let elements = $pv.len();
            $crate::bindings::Compute::compute_sized($py, elements, || $body)
        })?;
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
        into_numpy(py, result)
    }
}

/// `view` with `axis` (negative counts from the end) moved last, like `np.moveaxis(x, axis,
/// -1)`: a permuted view, no copy. The measures read distributions along the last axis.
/// (Any view: read-only or writable.)
pub fn axis_last<S: ndarray::RawData>(
    arg: &str,
    view: ndarray::ArrayBase<S, ndarray::IxDyn>,
    axis: isize,
) -> PyResult<ndarray::ArrayBase<S, ndarray::IxDyn>> {
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
