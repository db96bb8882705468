//! Ragged rows from Python, read in place: NumPy `(values, offsets)` pairs (the `offsets=`
//! keyword, scipy.sparse CSR) and Arrow PyCapsules (`__arrow_c_array__`'s pair, or
//! `__arrow_c_stream__`'s stream), computed chunk by chunk by [`crate::columns::apply`]
//! with the GIL released between the producer's callbacks.
//!
//! The capsules' structures are moved out ([`OwnedArray::take`]: the capsule's copy is
//! marked released, so its destructor does nothing) and released exactly once, when this
//! module drops them — each stream chunk as soon as it is scored, so a stream is never
//! held whole. The producer's callbacks (`get_next`, `release`) run with the GIL held, as
//! a producer implemented in Python needs.

use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyTuple};

use super::Compute;
use crate::columns::apply::{apply, Measure, Spec};
use crate::columns::arrow_c::{
    self, FfiArray, FfiSchema, FfiStream, ListType, OwnedArray, OwnedSchema, OwnedStream,
};
use crate::columns::csr::{align, Csr};
use crate::columns::{ListView, Values};
use crate::error::Error;
use crate::measures::ragged_loss::reduce_losses;
use crate::measures::softmax_cross_entropy::Reduction;
use crate::measures::Options;
use crate::parallel::rows::Offsets;

/// Registers the ragged-input functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_arrow_format, m)?)?;
    m.add_function(wrap_pyfunction!(py_ragged_reduce, m)?)?;
    m.add_function(wrap_pyfunction!(py_csr_align, m)?)?;
    Ok(())
}

/// float32 or float64 values, 1-D and contiguous.
enum FloatValues<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
}

/// int32 or int64 offsets, 1-D and contiguous.
enum IntOffsets<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

/// One input: rows from NumPy, one Arrow array, or an Arrow stream.
enum Source<'py> {
    Numpy {
        values: FloatValues<'py>,
        offsets: IntOffsets<'py>,
        taken: bool,
    },
    Array {
        ty: ListType,
        array: Option<OwnedArray>,
    },
    Stream {
        ty: ListType,
        stream: OwnedStream,
    },
}

/// A chunk of a [`Source`] (the NumPy pair is one chunk).
enum Chunk {
    Numpy,
    Arrow(OwnedArray),
}

fn capsule<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, PyCapsule>> {
    obj.cast::<PyCapsule>().ok()
}

fn not_a_source(arg: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "`{arg}` must be a (values, offsets) pair of NumPy arrays, an Arrow stream capsule or an (ArrowSchema, ArrowArray) capsule pair"
    ))
}

/// The pointer in `capsule`, checked to carry `name`.
fn capsule_ptr<T>(capsule: &Bound<'_, PyCapsule>, name: &std::ffi::CStr) -> PyResult<*mut T> {
    Ok(capsule.pointer_checked(Some(name))?.as_ptr() as *mut T)
}

fn contiguous<'py, T: numpy::Element>(obj: &Bound<'py, PyAny>) -> Option<PyReadonlyArray1<'py, T>> {
    let a = obj.cast::<numpy::PyArray1<T>>().ok()?;
    let r = a.try_readonly().ok()?;
    r.is_contiguous().then_some(r)
}

impl<'py> Source<'py> {
    fn from_py(obj: &Bound<'py, PyAny>, arg: &'static str) -> PyResult<Self> {
        if let Some(c) = capsule(obj) {
            let ptr = capsule_ptr::<FfiStream>(c, c"arrow_array_stream")?;
            // SAFETY: the capsule named "arrow_array_stream" holds an ArrowArrayStream (the
            // PyCapsule interface); the GIL is held, so nothing else touches it meanwhile.
            let mut stream = unsafe { OwnedStream::take(ptr, arg) }?;
            let schema = stream.schema(arg)?;
            let ty = arrow_c::list_type(&schema, arg)?;
            return Ok(Source::Stream { ty, stream });
        }
        let tuple = obj.cast::<PyTuple>().map_err(|_| not_a_source(arg))?;
        if tuple.len() != 2 {
            return Err(not_a_source(arg));
        }
        let (first, second) = (tuple.get_item(0)?, tuple.get_item(1)?);
        if let (Some(s), Some(a)) = (capsule(&first), capsule(&second)) {
            let sp = capsule_ptr::<FfiSchema>(s, c"arrow_schema")?;
            let ap = capsule_ptr::<FfiArray>(a, c"arrow_array")?;
            // SAFETY: capsules named "arrow_schema" / "arrow_array" hold those structures
            // (the PyCapsule interface); the GIL is held while they are moved out.
            let schema = unsafe { OwnedSchema::take(sp, arg) }?;
            let ty = arrow_c::list_type(&schema, arg)?;
            // SAFETY: as above.
            let array = unsafe { OwnedArray::take(ap, arg) }?;
            return Ok(Source::Array {
                ty,
                array: Some(array),
            });
        }
        let values = if let Some(v) = contiguous::<f64>(&first) {
            FloatValues::F64(v)
        } else if let Some(v) = contiguous::<f32>(&first) {
            FloatValues::F32(v)
        } else {
            return Err(PyTypeError::new_err(format!(
                "`{arg}` values must be a contiguous 1-D float32 or float64 numpy.ndarray"
            )));
        };
        let offsets = if let Some(o) = contiguous::<i64>(&second) {
            IntOffsets::I64(o)
        } else if let Some(o) = contiguous::<i32>(&second) {
            IntOffsets::I32(o)
        } else {
            return Err(PyTypeError::new_err(
                "`offsets` must be a contiguous 1-D int32 or int64 numpy.ndarray",
            ));
        };
        Ok(Source::Numpy {
            values,
            offsets,
            taken: false,
        })
    }

    /// The next chunk (None at the end). Called with the GIL held: a stream's `get_next`
    /// may run Python code.
    fn next(&mut self, arg: &'static str) -> Result<Option<Chunk>, Error> {
        match self {
            Source::Numpy { taken, .. } => {
                Ok((!std::mem::replace(taken, true)).then_some(Chunk::Numpy))
            }
            Source::Array { array, .. } => Ok(array.take().map(Chunk::Arrow)),
            Source::Stream { stream, .. } => Ok(stream.next_array(arg)?.map(Chunk::Arrow)),
        }
    }

    /// The rows of `chunk`, borrowed (no copy, offsets not yet validated).
    fn view<'s>(&'s self, chunk: &'s Chunk, arg: &'static str) -> Result<ListView<'s>, Error> {
        match (self, chunk) {
            (
                Source::Numpy {
                    values, offsets, ..
                },
                Chunk::Numpy,
            ) => {
                let values = match values {
                    FloatValues::F32(v) => Values::F32(v.as_slice().expect("contiguous")),
                    FloatValues::F64(v) => Values::F64(v.as_slice().expect("contiguous")),
                };
                let offsets = match offsets {
                    IntOffsets::I32(o) => Offsets::I32(o.as_slice().expect("contiguous")),
                    IntOffsets::I64(o) => Offsets::I64(o.as_slice().expect("contiguous")),
                };
                ListView::ragged(values, offsets)
            }
            (Source::Array { ty, .. } | Source::Stream { ty, .. }, Chunk::Arrow(a)) => {
                arrow_c::list_view(a, ty, arg)
            }
            _ => unreachable!("chunks come from their own source"),
        }
    }

    /// The rows left in this source after `chunk` (whose first `at` rows were read), for
    /// the message of a row-count mismatch.
    fn count_rest(
        &mut self,
        chunk: Option<Chunk>,
        at: usize,
        arg: &'static str,
    ) -> Result<usize, Error> {
        let mut n = match &chunk {
            Some(c) => self.view(c, arg)?.rows - at,
            None => 0,
        };
        drop(chunk);
        while let Some(c) = self.next(arg)? {
            n += self.view(&c, arg)?.rows;
        }
        Ok(n)
    }
}

/// A cursor over a source's chunks.
struct Cursor<'s, 'py> {
    source: &'s mut Source<'py>,
    chunk: Option<Chunk>,
    at: usize,
    arg: &'static str,
}

impl<'s, 'py> Cursor<'s, 'py> {
    fn new(source: &'s mut Source<'py>, arg: &'static str) -> Result<Self, Error> {
        let chunk = source.next(arg)?;
        Ok(Cursor {
            source,
            chunk,
            at: 0,
            arg,
        })
    }

    /// Moves past exhausted chunks; returns the rows left in the current one (0: the end).
    fn rows_left(&mut self) -> Result<usize, Error> {
        loop {
            let rows = match &self.chunk {
                None => return Ok(0),
                Some(c) => self.source.view(c, self.arg)?.rows,
            };
            if rows > self.at {
                return Ok(rows - self.at);
            }
            // release the scored chunk before asking for the next
            self.chunk = None;
            self.chunk = self.source.next(self.arg)?;
            self.at = 0;
        }
    }

    /// The next `n` rows of the current chunk.
    fn take(&self, n: usize) -> Result<ListView<'_>, Error> {
        let c = self.chunk.as_ref().expect("rows_left > 0");
        Ok(self
            .source
            .view(c, self.arg)?
            .slice_rows(self.at..self.at + n))
    }

    /// The total rows of the source, counting from the current position.
    fn count_rest(self) -> Result<usize, Error> {
        self.source.count_rest(self.chunk, self.at, self.arg)
    }
}

/// The format string of an Arrow export, read without consuming it: the stream capsule's
/// schema (`get_schema`), or the schema capsule of an `(schema, array)` pair.
#[pyfunction(name = "arrow_format")]
fn py_arrow_format(source: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Some(c) = capsule(source) {
        let ptr = capsule_ptr::<FfiStream>(c, c"arrow_array_stream")?;
        // SAFETY: the capsule holds a live ArrowArrayStream; it is not moved, only its
        // get_schema callback is called (with the GIL held), which leaves it usable.
        let stream = unsafe { &mut *ptr };
        let get = stream
            .get_schema
            .ok_or_else(|| PyValueError::new_err("the Arrow stream has no get_schema callback"))?;
        if stream.release.is_none() {
            return Err(Error::ArrowReleased {
                arg: "source",
                what: "ArrowArrayStream",
            }
            .into());
        }
        let mut out = FfiSchema::released();
        // SAFETY: a live stream and a released schema for the producer to fill.
        let code = unsafe { get(stream, &mut out) };
        if code != 0 {
            return Err(PyValueError::new_err(format!(
                "the Arrow stream's get_schema failed with error {code}"
            )));
        }
        // SAFETY: a local initialised structure; taking it makes sure it is released.
        let schema = unsafe { OwnedSchema::take(&mut out, "source") }?;
        return Ok(arrow_c::format(&schema));
    }
    let tuple = source
        .cast::<PyTuple>()
        .map_err(|_| not_a_source("source"))?;
    let first = tuple.get_item(0)?;
    let c = capsule(&first).ok_or_else(|| not_a_source("source"))?;
    let ptr = capsule_ptr::<FfiSchema>(c, c"arrow_schema")?;
    // SAFETY: the capsule holds an ArrowSchema, read in place (not moved) with the GIL
    // held; its format string lives as long as the capsule.
    let schema = unsafe { &*ptr };
    if schema.release.is_none() {
        return Err(Error::ArrowReleased {
            arg: "source",
            what: "ArrowSchema",
        }
        .into());
    }
    Ok(arrow_c::format_of(schema))
}

/// A measure of every row of a ragged input: `measure` is the Python function's name; `p`
/// (and `q`) a `(values, offsets)` pair, an Arrow stream capsule or an Arrow
/// `(schema, array)` capsule pair; `labels` one int64 class index per row (the loss).
/// Returns one float64 per row, or, for the loss with `reduction` "mean" / "sum", a float
/// (null rows and rows labelled `ignore_index` are left out of both).
#[pyfunction(name = "ragged_reduce")]
#[pyo3(signature = (measure, p, q=None, labels=None, base=None, normalize=true, ignore_index=-100, reduction="none", from_logits=false, smoothing=0.0))]
#[allow(clippy::too_many_arguments)]
fn py_ragged_reduce<'py>(
    py: Python<'py>,
    measure: &str,
    p: &Bound<'py, PyAny>,
    q: Option<&Bound<'py, PyAny>>,
    labels: Option<PyReadonlyArray1<'py, i64>>,
    base: Option<f64>,
    normalize: bool,
    ignore_index: i64,
    reduction: &str,
    from_logits: bool,
    smoothing: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let measure = Measure::parse(measure)?;
    let reduction = Reduction::parse(reduction)?;
    if reduction != Reduction::None && !measure.takes_labels() {
        return Err(PyValueError::new_err(
            "`reduction` applies to the loss only",
        ));
    }
    if measure.takes_q() != q.is_some() || measure.takes_labels() != labels.is_some() {
        return Err(PyValueError::new_err(
            "the measure's inputs do not match its arguments",
        ));
    }
    let spec = Spec {
        measure,
        opts: Options { normalize, base },
        ignore_index,
        from_logits,
        smoothing,
    };
    spec.check()?;
    let (p_arg, q_arg) = if measure.takes_labels() || matches!(measure, Measure::LogSumExp) {
        ("logits", "q")
    } else {
        ("p", "q")
    };
    let mut p_src = Source::from_py(p, p_arg)?;
    let mut q_src = q.map(|q| Source::from_py(q, q_arg)).transpose()?;
    let labels_slice: Option<&[i64]> = match &labels {
        Some(l) => Some(
            l.as_slice()
                .map_err(|_| PyValueError::new_err("`target` must be contiguous"))?,
        ),
        None => None,
    };
    let (out, nulls) = run(
        py,
        &spec,
        &mut p_src,
        q_src.as_mut(),
        labels_slice,
        (p_arg, q_arg),
    )?;
    if reduction == Reduction::None {
        return Ok(out.into_pyarray(py).into_any());
    }
    let mut counted = vec![true; out.len()];
    for r in nulls {
        counted[r] = false;
    }
    let labels = labels_slice.expect("the loss has labels");
    let value = reduce_losses(&out, |r| counted[r] && labels[r] != ignore_index, reduction);
    Ok(value.into_pyobject(py)?.into_any())
}

/// Scores every row of `p` (with `q` and `labels`), chunk by chunk: `(values, null rows)`.
fn run(
    py: Python<'_>,
    spec: &Spec,
    p: &mut Source<'_>,
    q: Option<&mut Source<'_>>,
    labels: Option<&[i64]>,
    (p_arg, q_arg): (&'static str, &'static str),
) -> PyResult<(Vec<f64>, Vec<usize>)> {
    let mut out: Vec<f64> = Vec::new();
    let mut nulls: Vec<usize> = Vec::new();
    let mut pc = Cursor::new(p, p_arg)?;
    let mut qc = match q {
        Some(q) => Some(Cursor::new(q, q_arg)?),
        None => None,
    };
    loop {
        let p_left = pc.rows_left()?;
        let q_left = match qc.as_mut() {
            Some(c) => Some(c.rows_left()?),
            None => None,
        };
        let n = match q_left {
            None => p_left,
            Some(q_left) if p_left > 0 && q_left > 0 => p_left.min(q_left),
            Some(q_left) if p_left == 0 && q_left == 0 => 0,
            Some(_) => {
                let done = out.len();
                let first_rows = done + pc.count_rest()?;
                let second_rows = done + qc.take().expect("q").count_rest()?;
                return Err(Error::RowCount {
                    first: p_arg,
                    second: q_arg,
                    first_rows,
                    second_rows,
                }
                .into());
            }
        };
        if n == 0 {
            break;
        }
        let start = out.len();
        let piece_labels = match labels {
            None => None,
            Some(l) if l.len() >= start + n => Some(&l[start..start + n]),
            Some(l) => {
                let first_rows = start + pc.count_rest()?;
                return Err(Error::RowCount {
                    first: p_arg,
                    second: "target",
                    first_rows,
                    second_rows: l.len(),
                }
                .into());
            }
        };
        if start == 0 {
            // the first (often only) chunk: fresh pages, faulted in by the threads that
            // write them (as the dense results), not zeroed here first
            out = crate::parallel::output::zeroed(n);
        } else {
            out.resize(start + n, 0.0);
        }
        {
            let pv = pc.take(n)?;
            let qv = match qc.as_ref() {
                Some(c) => Some(c.take(n)?),
                None => None,
            };
            let slot = &mut out[start..];
            py.compute(|| {
                apply(
                    spec,
                    &pv,
                    qv.as_ref(),
                    piece_labels,
                    start,
                    slot,
                    &mut nulls,
                )
            })?;
        }
        pc.at += n;
        if let Some(c) = qc.as_mut() {
            c.at += n;
        }
        py.check_signals()?;
    }
    if let Some(l) = labels {
        if l.len() != out.len() {
            return Err(Error::RowCount {
                first: p_arg,
                second: "target",
                first_rows: out.len(),
                second_rows: l.len(),
            }
            .into());
        }
    }
    Ok((out, nulls))
}

/// Two canonical CSR matrices `(data, indices, indptr)` aligned on the union of their
/// patterns: `(p values, q values, indptr)` (see [`crate::columns::csr`]).
#[pyfunction(name = "csr_align")]
fn py_csr_align<'py>(
    py: Python<'py>,
    p_data: &Bound<'py, PyAny>,
    p_indices: PyReadonlyArray1<'py, i64>,
    p_indptr: PyReadonlyArray1<'py, i64>,
    q_data: &Bound<'py, PyAny>,
    q_indices: PyReadonlyArray1<'py, i64>,
    q_indptr: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (pi, pp, qi, qp) = (
        p_indices.as_slice()?,
        p_indptr.as_slice()?,
        q_indices.as_slice()?,
        q_indptr.as_slice()?,
    );
    let values = |obj: &Bound<'py, PyAny>, arg: &str| -> PyResult<FloatValues<'py>> {
        if let Some(v) = contiguous::<f64>(obj) {
            Ok(FloatValues::F64(v))
        } else if let Some(v) = contiguous::<f32>(obj) {
            Ok(FloatValues::F32(v))
        } else {
            Err(PyTypeError::new_err(format!(
                "`{arg}` data must be a contiguous 1-D float32 or float64 numpy.ndarray"
            )))
        }
    };
    let (pd, qd) = (values(p_data, "p")?, values(q_data, "q")?);
    macro_rules! aligned {
        ($a:expr, $b:expr) => {{
            let (a, b) = ($a.as_slice()?, $b.as_slice()?);
            let (pv, qv, indptr) = py.compute(|| {
                align(
                    Csr {
                        data: a,
                        indices: pi,
                        indptr: pp,
                    },
                    Csr {
                        data: b,
                        indices: qi,
                        indptr: qp,
                    },
                )
            })?;
            PyTuple::new(
                py,
                [
                    pv.into_pyarray(py).into_any(),
                    qv.into_pyarray(py).into_any(),
                    indptr.into_pyarray(py).into_any(),
                ],
            )
        }};
    }
    match (&pd, &qd) {
        (FloatValues::F64(a), FloatValues::F64(b)) => aligned!(a, b),
        (FloatValues::F64(a), FloatValues::F32(b)) => aligned!(a, b),
        (FloatValues::F32(a), FloatValues::F64(b)) => aligned!(a, b),
        (FloatValues::F32(a), FloatValues::F32(b)) => aligned!(a, b),
    }
}
