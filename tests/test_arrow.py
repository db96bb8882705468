"""Arrow list columns, read in place through the Arrow C data interface (PyCapsules).

Every producer of the PyCapsule interface is read by the same Rust importer; its results
are checked against a reference that reads the *same buffers* with pyarrow
(``Array.buffers()`` + ``np.frombuffer``, offsets and validity bitmaps interpreted here)
and computes each row with the dense functions — so the C-interface path, slicing
offsets, null rows and null values are all checked against an independent reading.
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Optional

import numpy as np
import pytest

import fastentropy as fe

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[arrow]')")

ONE = {"entropy": fe.entropy, "perplexity": fe.perplexity, "logsumexp": fe.logsumexp}
PAIR = {
    "kl_divergence": fe.kl_divergence,
    "cross_entropy": fe.cross_entropy,
    "js_divergence": fe.js_divergence,
    "js_distance": fe.js_distance,
}

rng = np.random.default_rng(11)


def _bits(buf: Any, offset: int, n: int) -> np.ndarray:
    if buf is None:
        return np.ones(n, dtype=bool)
    raw = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
    return raw[offset : offset + n].astype(bool)


def buffer_rows(arr: Any) -> List[Optional[np.ndarray]]:
    """The rows of a pyarrow list array read from its buffers: None for a null row, a
    null value as NaN (marking it for the caller)."""
    if isinstance(arr, pa.ChunkedArray):
        return [r for chunk in arr.chunks for r in buffer_rows(chunk)]
    t = arr.type
    child = arr.values if not pa.types.is_fixed_size_list(t) else arr.values
    # `values` ignores the parent's slice; its own offset is child.offset
    cbufs = child.buffers()
    dtype = np.float32 if child.type == pa.float32() else np.float64
    data = np.frombuffer(cbufs[1], dtype=dtype)[child.offset : child.offset + len(child)]
    cvalid = _bits(cbufs[0], child.offset, len(child))
    bufs = arr.buffers()
    rvalid = _bits(bufs[0], arr.offset, len(arr))
    if pa.types.is_fixed_size_list(t):
        w = t.list_size
        starts = (np.arange(len(arr)) + arr.offset) * w
        ends = starts + w
    else:
        odt = np.int64 if pa.types.is_large_list(t) else np.int32
        o = np.frombuffer(bufs[1], dtype=odt)[arr.offset : arr.offset + len(arr) + 1]
        starts, ends = o[:-1], o[1:]
    out: List[Optional[np.ndarray]] = []
    for r in range(len(arr)):
        if not rvalid[r]:
            out.append(None)
        else:
            vals = data[starts[r] : ends[r]].astype(np.float64 if dtype == np.float64 else np.float32)
            vals = np.where(cvalid[starts[r] : ends[r]], vals, np.nan).astype(vals.dtype)
            out.append(vals)
    return out


def expect(fn: Callable[..., Any], *columns: List[Optional[np.ndarray]], fill: float = 0.0, **kw: Any) -> np.ndarray:
    """Row by row with the dense function: NaN for a null row; null values (NaN here)
    left out — ``fill`` in every input where any input has it."""
    out = []
    for parts in zip(*columns):
        if any(p is None for p in parts):
            out.append(np.nan)
            continue
        hole = np.zeros(len(parts[0]), dtype=bool)
        for p in parts:
            hole |= np.isnan(p)
        cleaned = [np.where(hole, fill, p).astype(p.dtype) for p in parts]
        out.append(float(fn(*cleaned, **kw)))
    return np.array(out)


def same(got: Any, want: np.ndarray, name: str = "") -> None:
    """Bitwise equal — except the loss family (logsumexp, softmax cross-entropy), whose
    dense path moved to tiled kernels (issue 13) that round differently from the per-row
    kernels the ragged path still uses: there within DESIGN §2b's float32 contract (1e-6
    relative; float64 rows differ by at most 2 ULP)."""
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    if name in LOSS:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


LOSS = ("logsumexp", "softmax_cross_entropy")


def ragged_list(n: int, *, large: bool = False, f32: bool = False, nulls: bool = False, seed: int = 0) -> Any:
    r = np.random.default_rng(seed)
    lengths = r.choice([0, 1, 2, 5, 9, 10, 16, 17, 70], size=n)
    offsets = np.zeros(n + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = r.random(int(offsets[-1])).astype(np.float32 if f32 else np.float64) + 0.01
    mask = r.random(values.size) < 0.05 if nulls else None
    child = pa.array(values, mask=mask)
    cls = pa.LargeListArray if large else pa.ListArray
    arr = cls.from_arrays(pa.array(offsets), child)
    if nulls:
        arr = cls.from_arrays(pa.array(offsets), child, mask=pa.array(r.random(n) < 0.1))
    return arr


# ---- layouts ----------------------------------------------------------------------------


@pytest.mark.parametrize("large", [False, True], ids=["list", "large_list"])
@pytest.mark.parametrize("f32", [False, True], ids=["f64", "f32"])
@pytest.mark.parametrize("nulls", [False, True], ids=["dense", "nulls"])
def test_list_columns_against_their_buffers(large: bool, f32: bool, nulls: bool) -> None:
    arr = ragged_list(500, large=large, f32=f32, nulls=nulls)
    rows = buffer_rows(arr)
    for name, fn in ONE.items():
        fill = -np.inf if name == "logsumexp" else 0.0
        same(fn(arr), expect(fn, rows, fill=fill), name)
    q = ragged_list(500, large=not large, f32=not f32, nulls=nulls, seed=1)
    # q with p's row lengths: the same offsets over other values
    q = type(q).from_arrays(
        pa.array(np.asarray(arr.offsets)), pa.array(rng.random(len(arr.values)).astype(np.float32)), mask=arr.is_null()
    )
    qrows = buffer_rows(q)
    for name, fn in PAIR.items():
        same(fn(arr, q, base=2), expect(fn, rows, qrows, base=2))


def test_sliced_arrays_and_sliced_values() -> None:
    """A non-zero offset on the list and on its values child."""
    values = pa.array(rng.random(400) + 0.01).slice(17)  # the child starts 17 in
    offsets = pa.array(np.cumsum(np.concatenate([[0], rng.integers(0, 9, 60)])).astype(np.int32))
    arr = pa.ListArray.from_arrays(offsets, values)
    for sl in (arr, arr.slice(5), arr.slice(5, 20), arr.slice(59), arr.slice(60), arr.slice(0, 0)):
        assert sl is arr or sl.offset > 0 or len(sl) == 0
        same(fe.entropy(sl), expect(fe.entropy, buffer_rows(sl)))
        same(fe.kl_divergence(sl, sl), np.where([r is None for r in buffer_rows(sl)], np.nan, 0.0))


def test_fixed_size_lists() -> None:
    dense = rng.random((300, 7)) + 0.01
    arr = pa.FixedSizeListArray.from_arrays(pa.array(dense.reshape(-1)), 7)
    same(fe.entropy(arr), fe.entropy(dense))
    same(fe.logsumexp(arr.slice(13, 100)), fe.logsumexp(dense[13:113]), "logsumexp")
    with_nulls = pa.FixedSizeListArray.from_arrays(
        pa.array(dense.reshape(-1), mask=rng.random(dense.size) < 0.1), 7, mask=pa.array(rng.random(300) < 0.1)
    ).slice(3)
    same(fe.entropy(with_nulls), expect(fe.entropy, buffer_rows(with_nulls)))
    # fixed-size p against list q with the same lengths
    lists = pa.ListArray.from_arrays(pa.array(np.arange(0, 2101, 7, dtype=np.int32)), pa.array(dense[::-1].reshape(-1)))
    same(fe.cross_entropy(arr, lists), fe.cross_entropy(dense, dense[::-1]))
    assert fe.entropy(arr.slice(300)).shape == (0,)


def test_null_rows_spanning_garbage_never_count() -> None:
    """A null list entry may span arbitrary values (the format allows it): negative ones
    must not raise, and the row is NaN."""
    values = pa.array([0.5, 0.5, -7.0, -1.0, 0.25, 0.75])
    offsets = pa.array([0, 2, 4, 6], type=pa.int32())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    arr = pa.ListArray.from_buffers(pa.list_(pa.float64()), 3, [validity, offsets.buffers()[1]], null_count=1, children=[values])
    same(fe.entropy(arr), np.array([np.log(2), np.nan, fe.entropy([0.25, 0.75])]))
    same(fe.kl_divergence(arr, arr), np.array([0.0, np.nan, 0.0]))
    assert np.isnan(fe.softmax_cross_entropy(arr, [0, 0, 1], reduction="none")[1])
    # null rows are left out of the mean
    want = np.mean([fe.softmax_cross_entropy(np.log([[0.5, 0.5]]), [0]), fe.softmax_cross_entropy(np.log([[0.25, 0.75]]), [1])])
    assert fe.softmax_cross_entropy(pa.array([[np.log(0.5)] * 2, None, list(np.log([0.25, 0.75]))]), [0, 0, 1]) == pytest.approx(want)


@pytest.mark.parametrize("f32", [False, True], ids=["f64", "f32"])
@pytest.mark.parametrize("under", ["null values", "zeros", "negative garbage"])
def test_fixed_size_list_null_rows(f32: bool, under: str) -> None:
    """A fixed-size list's null row spans its width — null values under it as pyarrow,
    Polars' `pl.Array` and Parquet readers build them, or bare values (zeros, or garbage
    that would raise if it counted). The column is read in place; every row matches the
    dense rows bit for bit, null rows are NaN, and a null row's label (7: out of range) is
    never checked."""
    dtype = np.float32 if f32 else np.float64
    n, c = 2000, 5
    dense = (rng.random((n, c)) + 0.01).astype(dtype)
    other = (rng.random((n, c)) + 0.01).astype(dtype)
    null = np.arange(n) % 31 == 6
    values = dense.copy()
    values[null] = {"null values": 0.0, "zeros": 0.0, "negative garbage": -3.0}[under]
    child_mask = np.repeat(null, c) if under == "null values" else None
    mask = pa.array(null)
    arr = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), mask=child_mask), c, mask=mask)
    q = pa.FixedSizeListArray.from_arrays(pa.array(other.reshape(-1)), c)
    assert arr.values.null_count == (null.sum() * c if under == "null values" else 0)
    nan_rows = lambda x: np.where(null, np.nan, x)  # noqa: E731
    for name, fn in ONE.items():
        same(fn(arr), nan_rows(fn(dense)), name)
    for name, fn in PAIR.items():
        same(fn(arr, q), nan_rows(fn(dense, other)), name)
        same(fn(q, arr), nan_rows(fn(other, dense)), name)
    labels = np.where(null, 7, np.arange(n) % c)
    want = fe.softmax_cross_entropy(dense, np.where(null, -100, labels), reduction="none")
    same(fe.softmax_cross_entropy(arr, labels, reduction="none"), nan_rows(want), "softmax_cross_entropy")
    # a negative value in a valid row is still an error
    bad = values.copy()
    bad[1, 2] = -1.0
    bad_arr = pa.FixedSizeListArray.from_arrays(pa.array(bad.reshape(-1), mask=child_mask), c, mask=mask)
    with pytest.raises(ValueError, match="non-negative"):
        fe.entropy(bad_arr)


@pytest.mark.parametrize("f32", [False, True], ids=["f64", "f32"])
def test_null_rows_without_values(f32: bool) -> None:
    """pyarrow gives a null row no values: such a column (no null value) is read in place,
    not copied, with the copied path's results — NaN for null rows, every other row its
    own value, and a null row's label never checked (3: out of range for its empty row)."""
    dtype = np.float32 if f32 else np.float64
    lengths = rng.integers(0, 14, 3000)
    null = np.arange(3000) % 29 == 4
    p_rows = [None if null[i] else (rng.random(k) + 0.01).astype(dtype) for i, k in enumerate(lengths)]
    q_rows = [None if r is None else (rng.random(len(r)) + 0.01).astype(dtype) for r in p_rows]
    typ = pa.list_(pa.float32() if f32 else pa.float64())
    arr, q = pa.array(p_rows, type=typ), pa.array(q_rows, type=typ)
    assert (np.diff(np.asarray(arr.offsets))[null] == 0).all()  # the layout under test
    assert buffer_rows(arr)[4] is None
    for name, fn in ONE.items():
        same(fn(arr), expect(fn, p_rows, fill=0.0), name)
    for name, fn in PAIR.items():
        same(fn(arr, q), expect(fn, p_rows, q_rows), name)
    labels = np.array([3 if r is None else (i % len(r) if len(r) else -100) for i, r in enumerate(p_rows)])
    got = fe.softmax_cross_entropy(arr, labels, reduction="none")
    want = [np.nan if r is None else (fe.softmax_cross_entropy(r[None, :], [y], reduction="none")[0] if y >= 0 else 0.0)
            for r, y in zip(p_rows, labels)]
    same(got, np.array(want), "softmax_cross_entropy")
    # null rows left out of the mean, as rows labelled ignore_index are
    kept = [w for w, y in zip(want, labels) if not np.isnan(w) and y >= 0]
    assert fe.softmax_cross_entropy(arr, labels) == pytest.approx(np.mean(kept), rel=1e-6)


def test_null_values_are_left_out() -> None:
    arr = pa.array([[0.5, None, 0.5], [None], [1.0, 2.0]])
    same(fe.entropy(arr), np.array([np.log(2), np.nan, fe.entropy([1.0, 2.0])]))
    same(fe.logsumexp(arr), np.array([fe.logsumexp([0.5, 0.5]), -np.inf, fe.logsumexp([1.0, 2.0])]))
    q = pa.array([[0.25, 0.5, None], [1.0], [1.0, 1.0]])
    # a value null in either input is left out of both
    same(fe.kl_divergence(arr, q), np.array([fe.kl_divergence([0.5, 0.0, 0.0], [0.25, 0.0, 0.0]), np.nan, fe.kl_divergence([1.0, 2.0], [1.0, 1.0])]))


def test_chunk_boundaries_anywhere() -> None:
    arr = ragged_list(300, nulls=True, seed=4)
    rows = buffer_rows(arr)
    want = expect(fe.entropy, rows)
    cuts = [0, 1, 1, 50, 51, 200, 300]
    chunked = pa.chunked_array([arr.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])], type=arr.type)
    same(fe.entropy(chunked), want)
    # p and q chunked differently
    q = pa.chunked_array([arr.slice(0, 120), arr.slice(120, 7), arr.slice(127)])
    same(fe.js_distance(chunked, q), np.where(np.isnan(want), np.nan, 0.0))
    assert fe.entropy(pa.chunked_array([], type=arr.type)).shape == (0,)


def test_large_and_fixed_size_lists_chunked_anywhere() -> None:
    """Chunk boundaries of LargeList and FixedSizeList columns, chunks sliced inside,
    empty chunks, a p and q cut at different rows."""
    arr = ragged_list(240, large=True, f32=True, nulls=True, seed=9)
    rows = buffer_rows(arr)
    cuts = [0, 0, 1, 2, 99, 100, 239, 240]
    chunked = pa.chunked_array([arr.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])], type=arr.type)
    for name, fn in ONE.items():
        same(fn(chunked), expect(fn, rows, fill=-np.inf if name == "logsumexp" else 0.0), name)
    dense = rng.random((150, 4)) + 0.01
    mask = rng.random(150) < 0.1
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(dense.reshape(-1)), 4, mask=pa.array(mask))
    want = np.where(mask, np.nan, fe.entropy(dense))
    for cuts in ([0, 150], [0, 1, 75, 75, 149, 150], [0, 64, 128, 150]):
        parts = pa.chunked_array([fixed.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])], type=fixed.type)
        same(fe.entropy(parts), want)
        q = pa.chunked_array([fixed.slice(0, 33), fixed.slice(33)])
        same(fe.js_divergence(parts, q), np.where(mask, np.nan, 0.0))


def test_loss_on_list_columns() -> None:
    z = pa.array([[1.0, 2.0, 3.0], [0.5], [], [-1e30, 1e30]])
    labels = pa.array([2, 0, -100, 1])
    got = fe.softmax_cross_entropy(z, labels, reduction="none")
    want = [fe.softmax_cross_entropy(np.array([r]), [y], reduction="none")[0] for r, y in [([1.0, 2.0, 3.0], 2), ([0.5], 0)]]
    np.testing.assert_allclose(got, [*want, 0.0, 0.0], rtol=1e-15, atol=0)  # see same()
    with pytest.raises(ValueError, match=re.escape("`target` has label 1 at row 1, outside [0, 1)")):
        fe.softmax_cross_entropy(z, [2, 1, -100, 1])


# ---- other producers ---------------------------------------------------------------------


def test_nanoarrow_arrays_and_streams() -> None:
    na = pytest.importorskip("nanoarrow", reason="nanoarrow is not installed (pip install 'fastentropy[all]')")
    arr = ragged_list(200, nulls=True, seed=6)
    want = expect(fe.entropy, buffer_rows(arr))
    same(fe.entropy(na.Array(arr)), want)
    chunked = pa.chunked_array([arr.slice(0, 77), arr.slice(77)])
    same(fe.entropy(na.Array(chunked)), want)
    same(fe.entropy(na.ArrayStream(chunked)), want)


def test_polars_and_pandas_series() -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'fastentropy[polars]')")
    pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install 'fastentropy[all]')")
    arr = ragged_list(200, nulls=True, seed=8)
    want = expect(fe.entropy, buffer_rows(arr))
    same(fe.entropy(pl.Series(arr)), want)
    same(fe.entropy(pl.Series(arr).cast(pl.List(pl.Float32))), expect(fe.entropy, [None if r is None else r.astype(np.float32) for r in buffer_rows(arr)]))
    same(fe.entropy(pd.Series(arr, dtype=pd.ArrowDtype(arr.type))), want)
    # numeric Series and DataFrames keep their NumPy reading (no Arrow conversion)
    assert fe.entropy(pl.Series([0.5, 0.5])) == np.log(2)
    assert fe.entropy(pd.Series([0.5, 0.5])) == np.log(2)
    np.testing.assert_array_equal(fe.entropy(pd.DataFrame({"a": [0.5, 1.0], "b": [0.5, 0.0]})), [np.log(2), 0.0])


def test_primitive_arrow_arrays_are_one_distribution() -> None:
    assert fe.entropy(pa.array([0.5, 0.5])) == np.log(2)
    assert fe.entropy(pa.chunked_array([[0.25, 0.25], [0.5]])) == fe.entropy([0.25, 0.25, 0.5])


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arr, message",
    [
        (pa.array([[1, 2]], type=pa.list_(pa.int64())), r'Arrow type "\+l<l>": the values must be float32 or float64'),
        (pa.array([[[0.5]]]), r'Arrow type "\+l<\+l>"'),
        (pa.array([["a"]]), r'Arrow type "\+l<u>"'),
        (pa.array([[0.5]], type=pa.list_(pa.float16())), r'Arrow type "\+l<e>"'),
    ],
    ids=["int", "nested", "string", "float16"],
)
def test_unsupported_value_types(arr: Any, message: str) -> None:
    """The core's refusal, through a producer other than pyarrow (pyarrow, polars and
    pandas integer and float16 lists are cast to float64 first, see
    `test_integer_and_bool_lists_are_counts`)."""
    with pytest.raises(TypeError, match=r"`p` must be a list, large list or fixed-size list of float32 or float64, got " + message):
        fe.entropy(_Capsule(arr))


class _Capsule:
    """An Arrow PyCapsule producer that is not pyarrow (the core reads it as it is)."""

    def __init__(self, arr: Any) -> None:
        self.arr = arr

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self.arr.__arrow_c_array__(requested_schema)


def test_integer_and_bool_lists_are_counts() -> None:
    """Integer, bool and float16 list columns of pyarrow, polars and pandas are counts, as
    NumPy integer arrays are: cast to float64 (the values copied), each row the float
    row's value bit for bit; nulls as for float lists."""
    rows = [[1, 2], [3], None, [], [0, 0, 5]]
    floats = pa.array([None if r is None else [float(v) for v in r] for r in rows])
    want = fe.entropy(floats)
    for t in (pa.int64(), pa.uint8(), pa.int16()):
        np.testing.assert_array_equal(fe.entropy(pa.array(rows, type=pa.list_(t))), want)
        np.testing.assert_array_equal(fe.entropy(pa.array(rows, type=pa.large_list(t))), want)
    np.testing.assert_array_equal(fe.entropy(pa.chunked_array([pa.array(rows), pa.array(rows)])), np.tile(want, 2))
    np.testing.assert_array_equal(
        fe.kl_divergence(pa.array(rows), floats, base=2), fe.kl_divergence(floats, floats, base=2)
    )
    fixed = pa.array([[1, 2], [3, 4]], type=pa.list_(pa.int32(), 2))
    np.testing.assert_array_equal(fe.entropy(fixed), fe.entropy(np.array([[1.0, 2.0], [3.0, 4.0]])))
    assert fe.entropy(pa.array([[True, False, True]])) == pytest.approx([np.log(2)], rel=1e-15)
    half = pa.array([[np.float16(0.25), np.float16(0.75)]], type=pa.list_(pa.float16()))
    np.testing.assert_array_equal(fe.entropy(half), fe.entropy(np.array([[0.25, 0.75]])))
    pd = pytest.importorskip("pandas")
    series = pd.Series([[1, 2], [3]], dtype=pd.ArrowDtype(pa.list_(pa.int64())))
    np.testing.assert_array_equal(fe.entropy(series), want[:2])
    pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'fastentropy[polars]')")
    np.testing.assert_array_equal(fe.entropy(pl.Series(rows)), want)
    np.testing.assert_array_equal(fe.entropy(pl.Series([[1, 2], [3, 4]], dtype=pl.Array(pl.Int32, 2))), fe.entropy(fixed))


def test_list_views_and_dictionaries_are_refused() -> None:
    if hasattr(pa, "list_view"):
        lv = pa.array([[0.5, 0.5]], type=pa.list_view(pa.float64()))
        with pytest.raises(TypeError, match=r"list views are not supported; cast to a list"):
            fe.entropy(lv)


def test_pair_mismatches() -> None:
    p = pa.array([[0.5, 0.5], [1.0], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"rows of equal lengths, got 1 and 2 at row 1"):
        fe.kl_divergence(p, pa.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.8]]))
    with pytest.raises(ValueError, match=r"`p` and `q` must have the same number of rows, got 3 and 2"):
        fe.cross_entropy(p, pa.chunked_array([p.slice(0, 1), p.slice(1, 1)]))
    with pytest.raises(ValueError, match=r"`p` and `q` must have the same number of rows, got 3 and 4"):
        fe.cross_entropy(p, pa.chunked_array([p, pa.array([[1.0]])]))
    with pytest.raises(TypeError, match=r"must both be list columns"):
        fe.kl_divergence(p, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"`q` must be non-negative"):
        fe.kl_divergence(p, pa.array([[0.5, 0.5], [-1.0], [0.2, 0.8]]))
    with pytest.raises(ValueError, match=r"the rows of a list column are the distributions: `axis` must be -1, got 0"):
        fe.entropy(p, axis=0)
    with pytest.raises(TypeError, match=r"carries its own row boundaries"):
        fe.entropy(p, offsets=[0, 3])


def test_a_capsule_is_consumed_once() -> None:
    from fastentropy import _core

    arr = pa.array([[0.5, 0.5]])
    caps = arr.__arrow_c_array__()
    np.testing.assert_array_equal(_core.ragged_reduce("entropy", caps), [np.log(2)])
    with pytest.raises(ValueError, match=r"`p`: its ArrowSchema was already consumed"):
        _core.ragged_reduce("entropy", caps)
    stream = pa.chunked_array([arr]).__arrow_c_stream__()
    np.testing.assert_array_equal(_core.ragged_reduce("entropy", stream), [np.log(2)])
    with pytest.raises(ValueError, match=r"already consumed"):
        _core.ragged_reduce("entropy", stream)
    with pytest.raises(TypeError, match=r"must be a \(values, offsets\) pair"):
        _core.ragged_reduce("entropy", 3)


# ---- tables, list<null> columns, type names in errors ---------------------------------------


def test_a_table_with_a_list_column_names_the_column_to_pass() -> None:
    col = pa.array([[0.5, 0.5], [1.0]])
    table = pa.table({"id": [1, 2], "p": col})
    for obj, kind, how in [
        (table, "pyarrow Table", "`table['p']`"),
        (table.to_batches()[0], "pyarrow RecordBatch", "`batch['p']`"),
        (pa.StructArray.from_arrays([col], ["p"]), "pyarrow StructArray", "`arr.field('p')`"),
    ]:
        msg = f"`p` must be one list column (or an array), got a {kind} with the list column 'p' (list<item: double>): pass one column, e.g. {how}"
        with pytest.raises(TypeError, match=re.escape(msg)):
            fe.entropy(obj)
    with pytest.raises(TypeError, match=re.escape("`q` must be one list column (or an array), got a pyarrow Table")):
        fe.kl_divergence(col, table)
    with pytest.raises(TypeError, match=re.escape("`logits` must be one list column")):
        fe.softmax_cross_entropy(table, [0, 0])
    same(fe.entropy(table["p"]), np.array([np.log(2), 0.0]))
    # a table of numbers is still one distribution per table row
    np.testing.assert_array_equal(fe.entropy(pa.table({"a": [0.5, 1.0], "b": [0.5, 0.0]})), [np.log(2), 0.0])


def test_a_polars_dataframe_with_a_list_column_names_the_column_to_pass() -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'fastentropy[polars]')")
    df = pl.DataFrame({"p": [[0.5, 0.5], [1.0]], "w": [1.0, 2.0]})
    msg = "`p` must be one list column (or an array), got a polars DataFrame with the list column 'p' (List(Float64)): pass one column, e.g. `df['p']`"
    with pytest.raises(TypeError, match=re.escape(msg)):
        fe.entropy(df)
    same(fe.entropy(df["p"]), np.array([np.log(2), 0.0]))
    np.testing.assert_array_equal(fe.entropy(pl.DataFrame({"a": [0.5, 1.0], "b": [0.5, 0.0]})), [np.log(2), 0.0])


def _empty_rows_via_offsets(n: int) -> dict:
    """What ``n`` empty rows give through ``offsets=``, per function."""
    e, o = np.array([], dtype=np.float64), np.zeros(n + 1, dtype=np.int64)
    out = {name: fn(e, offsets=o) for name, fn in ONE.items()}
    out.update({name: fn(e, e, offsets=o) for name, fn in PAIR.items()})
    out["softmax_cross_entropy"] = fe.softmax_cross_entropy(e, [-100] * n, offsets=o, reduction="none")
    return out


def _check_null_value_rows(col: Any, null_rows: List[int]) -> None:
    n = len(col)
    want = _empty_rows_via_offsets(n)
    for name, w in want.items():
        w = w.copy()
        w[null_rows] = np.nan
        if name in ONE:
            got = ONE[name](col)
        elif name in PAIR:
            got = PAIR[name](col, col)
        else:
            got = fe.softmax_cross_entropy(col, [-100] * n, reduction="none")
        same(got, w, name)


def test_lists_of_the_null_type_are_empty_rows() -> None:
    """``list<null>`` (``pa.array([[], []])``): rows without values, as with ``offsets=``;
    a null row is NaN as in any list column."""
    arr = pa.array([[], []])
    assert arr.type == pa.list_(pa.null())
    _check_null_value_rows(arr, [])
    with_null = pa.array([[], None, []])
    _check_null_value_rows(with_null, [1])
    _check_null_value_rows(pa.array([[], None], type=pa.large_list(pa.null())), [1])
    _check_null_value_rows(pa.chunked_array([with_null, arr.slice(1)]), [1])
    _check_null_value_rows(pa.array([[], None], type=pa.list_(pa.null(), 0)), [1])
    # a row of null values: what that row gives in a float list column
    nulls = pa.array([[None, None], [], None])
    floats = pa.array([[None, None], [], None], type=pa.list_(pa.float64()))
    for name, fn in ONE.items():
        same(fn(nulls), fn(floats), name)
    same(fe.js_divergence(nulls, nulls), fe.js_divergence(floats, floats))
    # a null-type p against a float q with the same (empty) rows
    same(fe.kl_divergence(with_null, pa.array([[], [0.5], []])), np.array([0.0, np.nan, 0.0]))
    # an empty row has no class to point at: as with offsets=
    with pytest.raises(ValueError, match=re.escape("`target` has label 0 at row 0, outside [0, 0)")):
        fe.softmax_cross_entropy(arr, [0, 0])
    # the null row of a loss is left out of the mean (here: nothing left)
    assert fe.softmax_cross_entropy(with_null, [-100, 7, -100], reduction="sum") == 0.0


def test_polars_lists_of_the_null_type_are_empty_rows() -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'fastentropy[polars]')")
    _check_null_value_rows(pl.Series([[], []], dtype=pl.List(pl.Null)), [])
    _check_null_value_rows(pl.Series([[], None, []], dtype=pl.List(pl.Null)), [1])


def test_unsupported_arrow_types_are_named_in_words() -> None:
    """The raw C format string stays quoted; the type is named in words as well."""
    cases = [
        (_Capsule(pa.array([[1, 2]])), '"+l<l>": the values must be float32 or float64 (the column is list<int64>); cast them first'),
        (pa.array([["a"]], type=pa.large_list(pa.string())), '"+L<u>": the values must be float32 or float64 (the column is large_list<utf8>)'),
        (pa.array([[[0.5]]]), '"+l<+l>": the values must be float32 or float64 (the column is list<list>)'),
        (_Capsule(pa.array([[1]], type=pa.list_(pa.int8(), 1))), '"+w:1<c>": the values must be float32 or float64 (the column is fixed_size_list<int8>[1])'),
    ]
    if hasattr(pa, "string_view"):
        cases.append((pa.array([["a"]], type=pa.large_list(pa.string_view())), "(the column is large_list<utf8_view>)"))
    if hasattr(pa, "list_view"):
        cases.append((pa.array([[0.5]], type=pa.list_view(pa.float64())), '"+vl": list views are not supported; cast to a list (the column is list_view)'))
    for arr, message in cases:
        with pytest.raises(TypeError, match=re.escape(message)):
            fe.entropy(arr)


def test_null_labels_are_named_with_their_position() -> None:
    """NumPy reads an Arrow label array with nulls as floats with NaN ("got dtype
    float64"); the loss functions name the first null instead."""
    x = np.random.default_rng(3).random((3, 4))
    message = "`target` has 1 null label, the first at position 1"
    for target in (pa.array([0, None, 2]), pa.chunked_array([[0], [None, 2]])):
        with pytest.raises(ValueError, match=re.escape(message)):
            fe.softmax_cross_entropy(x, target)
        with pytest.raises(ValueError, match=re.escape(message)):
            fe.nll_loss(np.log(x), target)
    with pytest.raises(ValueError, match=re.escape(message)):
        fe.softmax_cross_entropy(x.ravel()[:4], pa.array([0, None, 0, 1]), offsets=[0, 2, 3, 4, 4])
    # no nulls: the labels as they are
    assert fe.softmax_cross_entropy(x, pa.array([0, 1, 2])) == fe.softmax_cross_entropy(x, np.array([0, 1, 2]))


def test_dense_only_functions_name_list_columns() -> None:
    """A list column given to a function that takes dense arrays only (calibration,
    ensembles) says so, rather than only "got dtype object"."""
    col = pa.array([[0.5, 0.5], [1.0]])
    hint = "rows of different lengths: the row measures take them as a list column or with `offsets=`"
    with pytest.raises(TypeError, match=re.escape(hint)):
        fe.expected_calibration_error(col, [0, 0])
    with pytest.raises(TypeError, match=re.escape(hint)):
        fe.ensemble_uncertainty(col)
