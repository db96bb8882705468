"""Ragged rows: the inputs whose rows (distributions) may differ in length, read in place.

Three kinds reach the core's ``ragged_reduce`` (``src/bindings/ragged.rs``):

- ``values`` with ``offsets=`` (CSR style: row ``r`` is ``values[offsets[r]:offsets[r+1]]``),
  as a ``(values, offsets)`` pair of NumPy arrays;
- ``scipy.sparse`` matrices and arrays (each row — or column, with ``axis=0`` — a
  distribution over its stored values), as the ``(data, indptr)`` pair of their CSR (CSC)
  form;
- Arrow list / large list / fixed-size list columns from any producer of the Arrow
  PyCapsule interface (pyarrow arrays and chunked arrays, polars Series, nanoarrow,
  pandas Series of an Arrow list dtype, …), as the capsules of ``__arrow_c_stream__`` or
  ``__arrow_c_array__``: the core reads their buffers through the Arrow C data interface,
  chunk by chunk, without pyarrow.

Nothing of the values' size is copied, except where the documentation of each case says
so (integer or float16 values, duplicate entries of a sparse matrix, two sparse matrices
with different sparsity patterns).

A pyarrow, polars or pandas list column whose value type is null (``list<null>``, what
``pa.array([[], []])`` and an all-empty polars column infer) holds no values: it is read
as a float64 list column of the same rows (a cast of the offsets and validity, no values
to copy) — each empty row gives what an empty row gives with ``offsets=``, a null row NaN,
a row of only null values what such a row of any list column gives. Integer, bool and
float16 values (counts) are cast to float64 the same way — the values copied, as NumPy
integer counts are converted. A table (pyarrow
Table or RecordBatch, polars or pandas DataFrame, Arrow struct array) holding a list
column is refused with a TypeError that names the column to pass instead.
"""

from __future__ import annotations

import sys
from typing import Any, List, NamedTuple, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._api import _as_array, _native_float

#: What the core reads as one ragged input: ``(values, offsets)``, an Arrow stream
#: capsule, or an Arrow ``(schema, array)`` capsule pair.
Source = Any

INT64_MAX = 2**63 - 1


class Prepared(NamedTuple):
    """The ragged inputs of one call, ready for the core."""

    p: Source
    q: Optional[Source] = None
    #: Rows of a sparse input without a stored entry (NaN with ``normalize``, as the dense
    #: all-zero row they stand for), or None.
    empty_rows: Optional[NDArray[np.intp]] = None
_LIST_FORMATS = ("+l", "+L", "+w:", "+vl", "+vL")


def _is_sparse(x: Any) -> bool:
    """Whether ``x`` is a scipy.sparse matrix or array (without importing scipy)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(x))


def _arrow_export(x: Any, name: str = "p") -> Optional[Source]:
    """The Arrow PyCapsule export of ``x`` if it is a list / large list / fixed-size list
    column (a stream when ``x`` offers one), else None (``x`` is read as a NumPy array).
    A table holding a list column is a TypeError naming ``name`` (:func:`_refuse_table`)."""
    t = type(x)
    if isinstance(x, np.ndarray):
        return None
    stream = getattr(t, "__arrow_c_stream__", None)
    array = getattr(t, "__arrow_c_array__", None)
    if stream is None and array is None:
        return None
    module = t.__module__.split(".")[0]
    if module in ("pandas", "polars") and not _nested_dtype(x):
        # a numeric Series or a DataFrame: NumPy views it without converting to Arrow
        if getattr(x, "dtype", None) is None:
            _refuse_table(x, name, module)
        return None
    cast = _values_as_float(x, module)
    if cast is not None:
        x, t = cast, type(cast)
        stream = getattr(t, "__arrow_c_stream__", None)
    caps = x.__arrow_c_stream__() if stream is not None else x.__arrow_c_array__()
    fmt = _core.arrow_format(caps)
    if fmt.startswith(_LIST_FORMATS):
        return caps
    if fmt == "+s":
        _refuse_table(x, name, module)
    return None


def _type_name(dtype: Any) -> str:
    """A pyarrow / polars / pandas dtype as its name (pandas' ArrowDtype as its pyarrow type)."""
    pa_type = getattr(dtype, "pyarrow_dtype", None)
    return str(pa_type if pa_type is not None else dtype)


def _is_list_name(name: str) -> bool:
    return name.startswith(("list", "large_list", "fixed_size_list", "List", "Array"))


def _columns(x: Any, module: str) -> Optional[List[Tuple[str, str]]]:
    """(name, type name) of the columns of a table-like ``x`` — a pyarrow Table,
    RecordBatch or struct array, a polars or pandas DataFrame — or None for other
    objects (their columns are not known without importing a library)."""
    try:
        if module == "polars":
            return [(str(k), _type_name(v)) for k, v in x.schema.items()]
        if module == "pandas":
            return [(str(k), _type_name(v)) for k, v in x.dtypes.items()]
        if module == "pyarrow":
            schema = getattr(x, "schema", None)
            if schema is not None:  # Table, RecordBatch
                return [(str(n), str(ty)) for n, ty in zip(schema.names, schema.types)]
            st = x.type  # StructArray, ChunkedArray of structs
            return [(str(st.field(i).name), str(st.field(i).type)) for i in range(st.num_fields)]
    except (AttributeError, TypeError, ValueError):
        return None
    return None


def _refuse_table(x: Any, name: str, module: str) -> None:
    """A TypeError for a table holding a list column (one column is a list column): the
    dense path would read the whole table as an array of objects."""
    columns = _columns(x, module)
    lists = [(c, ty) for c, ty in columns or () if _is_list_name(ty)]
    if not lists:
        return  # a table of numbers: read as a 2-D array (one row per table row)
    kind = f"{module} {type(x).__name__}"
    first = lists[0][0]
    example = {"Table": "table", "RecordBatch": "batch", "DataFrame": "df"}.get(type(x).__name__)
    if example is not None:
        how = f"`{example}[{first!r}]`"
    elif type(x).__name__ == "ChunkedArray":
        how = f"`pyarrow.compute.struct_field(arr, {first!r})`"
    else:
        how = f"`arr.field({first!r})`"
    named = ", ".join(f"{c!r} ({ty})" for c, ty in lists)
    raise TypeError(
        f"`{name}` must be one list column (or an array), got a {kind} with the list "
        f"column{'s' if len(lists) > 1 else ''} {named}: pass one column, e.g. {how}"
    )


def _values_as_float(x: Any, module: str) -> Any:
    """``x`` cast to a float64 list column of the same kind when it is a pyarrow, polars or
    pandas list column whose value type is null (its rows hold no values: only offsets and
    validity are kept) or integer, bool or float16 (counts: the values are converted, a
    copy of them, as NumPy integer counts are), else None. Other producers' such columns
    reach the core, which refuses them naming the type."""
    try:
        if module == "polars":
            pl = sys.modules["polars"]
            dtype = x.dtype
            inner = getattr(dtype, "inner", None)
            if inner is None or not (inner == pl.Null or inner == pl.Boolean or inner.is_integer()):
                return None
            return x.cast(pl.Array(pl.Float64, dtype.size) if isinstance(dtype, pl.Array) else pl.List(pl.Float64))
        if module not in ("pyarrow", "pandas"):
            return None
        pa = sys.modules["pyarrow"]
        t = x.dtype.pyarrow_dtype if module == "pandas" else x.type
        vt = getattr(t, "value_type", None)
        if vt is None or not (
            pa.types.is_null(vt) or pa.types.is_integer(vt) or pa.types.is_boolean(vt) or pa.types.is_float16(vt)
        ):
            return None
        f64 = pa.float64()
        if pa.types.is_large_list(t):
            target = pa.large_list(f64)
        elif pa.types.is_fixed_size_list(t):
            target = pa.list_(f64, t.list_size)
        elif pa.types.is_list(t):
            target = pa.list_(f64)
        else:
            return None  # list views: refused by the core as any list view
        arr = pa.array(x) if module == "pandas" else x  # an ArrowDtype Series: no copy
        return arr.cast(target)
    except (AttributeError, KeyError, TypeError):
        return None


def _nested_dtype(x: Any) -> bool:
    """Whether a pandas / polars object's dtype is a list or array type (checked by name,
    so neither library is imported here)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:  # a DataFrame
        return False
    pa_type = getattr(dtype, "pyarrow_dtype", None)  # pandas.ArrowDtype
    name = str(pa_type if pa_type is not None else dtype)
    return name.startswith(("list", "large_list", "fixed_size_list", "List", "Array"))


def _check_axis(axis: Any, kind: str) -> None:
    """Ragged rows are the distributions: ``axis`` must be the default -1 (or 1)."""
    if axis is None or isinstance(axis, bool) or axis not in (-1, 1):
        raise ValueError(
            f"the rows of {kind} are the distributions: `axis` must be -1, got {axis!r}"
            + (" (for one distribution over every value, pass the values themselves)" if axis is None else "")
        )


def _offsets(offsets: Any) -> NDArray[Any]:
    """``offsets`` as a contiguous native int32/int64 array (other integer dtypes converted)."""
    if isinstance(offsets, np.ma.MaskedArray):
        raise TypeError("`offsets` must not be a masked array: every row boundary is needed")
    try:
        o = np.asarray(offsets)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"`offsets` must be an array of integers: {exc}") from None
    if o.size == 0 and o.dtype.kind == "f":
        o = o.astype(np.int64)
    if o.dtype.kind not in "iu":
        raise TypeError(f"`offsets` must hold integers (int32 or int64), got dtype {o.dtype}")
    if o.ndim != 1:
        raise ValueError(f"`offsets` must be 1-D (rows + 1 entries), got shape {o.shape}")
    if o.dtype.kind == "u" and o.dtype.itemsize == 8 and o.size and int(o.max()) > INT64_MAX:
        i = int(np.argmax(o > np.uint64(INT64_MAX)))
        raise ValueError(
            f"`offsets` must be non-decreasing, non-negative and at most the number of values, got {int(o[i])} at position {i}"
        )
    if not (o.dtype in (np.dtype(np.int32), np.dtype(np.int64)) and o.dtype.isnative):
        o = o.astype(np.int64)
    return np.ascontiguousarray(o)


def _values(x: Any, name: str, fill: float) -> NDArray[Any]:
    """``x`` as contiguous 1-D float32/float64 values (masked elements take ``fill``)."""
    if _is_sparse(x) or _arrow_export(x, name) is not None:
        raise TypeError(
            f"`offsets=` is for a 1-D array of values; `{name}` ({type(x).__name__}) carries its own "
            "row boundaries: pass it without `offsets`"
        )
    v = _native_float(_as_array(x, name, fill), name)
    if v.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (the values of every row, one after another) with `offsets=`, got shape {v.shape}")
    return np.ascontiguousarray(v)


def _sparse_float(data: NDArray[Any], name: str) -> NDArray[Any]:
    out: NDArray[Any] = np.ascontiguousarray(_native_float(data, name))
    return out


def _canonical(m: Any) -> Any:
    """``m`` without duplicate entries and with sorted indices (a copy only when needed)."""
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return m


def _compressed(x: Any, name: str, axis: Any) -> Any:
    """``x`` as CSR (rows are the distributions, ``axis=-1``) or CSC (columns, ``axis=0``),
    canonical. ``tocsr`` / ``tocsc`` return the matrix itself when it already is one."""
    if axis is None or isinstance(axis, bool) or axis not in (-1, 1, 0, -2):
        raise ValueError(
            f"`axis` must be -1 (rows) or 0 (columns) for the sparse `{name}`, got {axis!r}"
            + ("; for one distribution over every stored value pass `x.data`" if axis is None else "")
        )
    if len(x.shape) != 2:
        raise ValueError(f"a sparse `{name}` must be 2-D, got shape {x.shape}")
    m = x.tocsr() if axis in (-1, 1) else x.tocsc()
    return _canonical(m)


def _empty_rows(m: Any) -> Optional[NDArray[np.intp]]:
    """The rows (CSC: columns) of a canonical sparse matrix without a stored entry, when
    the dense rows are not empty."""
    dense_len = m.shape[1] if m.format == "csr" else m.shape[0]
    if dense_len == 0:
        return None
    empty = np.flatnonzero(np.diff(m.indptr) == 0)
    return empty if empty.size else None


def one(x: Any, name: str, offsets: Any, axis: Any, fill: float) -> Optional[Prepared]:
    """The ragged input of a one-input measure, or None for the dense path."""
    if offsets is not None:
        if axis != -1:
            raise ValueError(f"`offsets=` cuts `{name}` into rows: leave `axis` at -1, got {axis!r}")
        return Prepared((_values(x, name, fill), _offsets(offsets)))
    if _is_sparse(x):
        m = _compressed(x, name, axis)
        return Prepared((_sparse_float(m.data, name), np.ascontiguousarray(m.indptr)), None, _empty_rows(m))
    caps = _arrow_export(x, name)
    if caps is None:
        return None
    _check_axis(axis, "a list column")
    return Prepared(caps)


def pair(p: Any, q: Any, offsets: Any, axis: Any, fill: float = 0.0) -> Optional[Prepared]:
    """The ragged sources of a two-input measure, or None when both are dense.

    Sparse ``p`` and ``q`` with the same sparsity pattern are read in place; with
    different patterns they are aligned by column index (a copy of the stored values over
    the union of the patterns, O(nnz) — absent entries are zeros of the dense matrices).
    """
    if offsets is not None:
        if axis != -1:
            raise ValueError(f"`offsets=` cuts `p` and `q` into rows: leave `axis` at -1, got {axis!r}")
        o = _offsets(offsets)
        pv, qv = _values(p, "p", fill), _values(q, "q", fill)
        if pv.shape != qv.shape:
            raise ValueError(f"`p` and `q` must have the same number of values with `offsets=`, got {pv.size} and {qv.size}")
        return Prepared((pv, o), (qv, o))
    sp, sq = _is_sparse(p), _is_sparse(q)
    if sp or sq:
        if not (sp and sq):
            dense = "q" if sp else "p"
            raise TypeError(f"`p` and `q` must both be sparse or both dense, got a dense `{dense}`; convert it with scipy.sparse.csr_array")
        if p.shape != q.shape:
            raise ValueError(f"`p` and `q` must have the same shape, got {p.shape} and {q.shape}")
        mp, mq = _compressed(p, "p", axis), _compressed(q, "q", axis)
        pd, qd = _sparse_float(mp.data, "p"), _sparse_float(mq.data, "q")
        same = (mp.indptr is mq.indptr or np.array_equal(mp.indptr, mq.indptr)) and (
            mp.indices is mq.indices or np.array_equal(mp.indices, mq.indices)
        )
        # rows empty in both: the dense rows are all zeros
        both_empty = _empty_rows(mp)
        if both_empty is not None:
            both_empty = both_empty[np.diff(mq.indptr)[both_empty] == 0]
        if same:
            indptr = np.ascontiguousarray(mp.indptr)
            return Prepared((pd, indptr), (qd, indptr), both_empty)
        i64 = np.int64
        pa, qa, indptr = _core.csr_align(
            pd, mp.indices.astype(i64), mp.indptr.astype(i64), qd, mq.indices.astype(i64), mq.indptr.astype(i64)
        )
        return Prepared((pa, indptr), (qa, indptr), both_empty)
    cp, cq = _arrow_export(p, "p"), _arrow_export(q, "q")
    if cp is None and cq is None:
        return None
    if cp is None or cq is None:
        dense = "q" if cq is None else "p"
        raise TypeError(
            f"`p` and `q` must both be list columns (or both arrays), got a {type(q if cq is None else p).__name__} "
            f"`{dense}`; for one distribution per row of equal length pass NumPy arrays"
        )
    _check_axis(axis, "a list column")
    return Prepared(cp, cq)


def reduce(measure: str, inputs: Prepared, **options: Any) -> Union[float, NDArray[np.float64]]:
    """The core's per-row reduction of ragged inputs (the sparse rows without stored
    entries made NaN where the dense all-zero row is: with ``normalize``)."""
    result: Union[float, NDArray[np.float64]] = _core.ragged_reduce(measure, inputs.p, inputs.q, **options)
    if inputs.empty_rows is not None and options.get("normalize", True) and isinstance(result, np.ndarray):
        result[inputs.empty_rows] = np.nan
    return result
