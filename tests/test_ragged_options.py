"""``from_logits=`` and ``smoothing=`` on ragged rows: ``offsets=``, Arrow list columns
(pyarrow arrays, chunked arrays, slices, nulls), PyCapsule producers and the Polars ``fe``
namespace. Every ragged row must give what the same row gives on its own through the dense
path (float64: the same bits), and equal-length ragged rows what the dense (N, C) array
gives."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import fastentropy as fe

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[arrow]')")

ONE: Dict[str, Callable[..., Any]] = {"entropy": fe.entropy, "perplexity": fe.perplexity}
PAIR: Dict[str, Callable[..., Any]] = {
    "kl_divergence": fe.kl_divergence,
    "cross_entropy": fe.cross_entropy,
    "js_divergence": fe.js_divergence,
    "js_distance": fe.js_distance,
}
SMOOTHED = ["entropy", "kl_divergence", "cross_entropy", "js_divergence", "js_distance"]
FNS = {**ONE, **PAIR}

# empty, one, short groups of mixed lengths, past the group limit (256) and the
# streaming limit of the engine's medium rows (32768)
LENGTHS = [0, 1, 2, 7, 8, 9, 10, 15, 16, 17, 63, 64, 65, 255, 256, 257, 300, 0, 1, 5, 40_000, 3, 12]


def ragged(lengths: List[int], seed: int, dtype: Any = np.float64, positive: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    o = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=o[1:])
    v = rng.random(int(o[-1])) * 4 if positive else rng.standard_normal(int(o[-1])) * 3
    return v.astype(dtype), o


def each_row(fn: Callable[..., Any], values: List[np.ndarray], o: np.ndarray, **kw: Any) -> np.ndarray:
    out = []
    for r in range(len(o) - 1):
        a, b = int(o[r]), int(o[r + 1])
        out.append(float(fn(*(v[a:b][None, :] for v in values), **kw)[0]))
    return np.array(out)


def same_bits(got: Any, want: Any) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", list(FNS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_from_logits_offsets_equal_each_row_alone(name: str, dtype: Any) -> None:
    fn = FNS[name]
    z, o = ragged(LENGTHS, 1, dtype)
    inputs = [z] if name in ONE else [z, ragged(LENGTHS, 2, dtype)[0]]
    kw: Dict[str, Any] = {"from_logits": True} if name == "perplexity" else {"from_logits": True, "base": 2.0}
    got = fn(*inputs, offsets=o, **kw)
    same_bits(got, each_row(fn, inputs, o, **kw))
    # empty rows: entropy 0, perplexity 1, the pair measures 0 (as the dense (1, 0) rows)
    assert got[0] == (1.0 if name == "perplexity" else 0.0)


@pytest.mark.parametrize("name", SMOOTHED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_smoothing_offsets_equal_each_row_alone(name: str, dtype: Any) -> None:
    fn = FNS[name]
    p, o = ragged(LENGTHS, 3, dtype, positive=True)
    p[5] = 0.0  # an empty bin: the pseudocount keeps KL finite
    inputs = [p] if name in ONE else [p, ragged(LENGTHS, 4, dtype, positive=True)[0]]
    if name not in ONE:
        inputs[1][7] = 0.0
    got = fn(*inputs, offsets=o, smoothing=0.5, base=2.0)
    same_bits(got, each_row(fn, inputs, o, smoothing=0.5, base=2.0))


@pytest.mark.parametrize("name", list(FNS))
def test_equal_length_rows_equal_the_dense_array(name: str) -> None:
    fn = FNS[name]
    rng = np.random.default_rng(5)
    n, c = 3000, 10
    z, y = rng.standard_normal((n, c)), rng.standard_normal((n, c))
    o = np.arange(0, n * c + 1, c)
    inputs = [z] if name in ONE else [z, y]
    same_bits(fn(*(v.ravel() for v in inputs), offsets=o, from_logits=True), fn(*inputs, from_logits=True))
    if name != "perplexity":
        p, q = np.abs(z), np.abs(y)
        inputs = [p] if name in ONE else [p, q]
        same_bits(fn(*(v.ravel() for v in inputs), offsets=o, smoothing=1.0), fn(*inputs, smoothing=1.0))
    # and as an Arrow list column (uniform offsets take the dense path) and a fixed-size list
    lists = [pa.ListArray.from_arrays(pa.array(o.astype(np.int32)), pa.array(v.ravel())) for v in [z, y]]
    fixed = [pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), c) for v in [z, y]]
    for cols in (lists, fixed):
        same_bits(fn(*cols[: len(inputs)], from_logits=True), fn(*[z, y][: len(inputs)], from_logits=True))


def test_mixed_length_groups_are_not_padded_for_logits() -> None:
    # rows of lengths 1 ... 19 in one group of the row engine would be wrong if padded
    # with zeros (a zero logit is not nothing): each must equal the row alone
    lengths = [(i * 7) % 19 + 1 for i in range(400)]
    z, o = ragged(lengths, 6)
    same_bits(fe.entropy(z, offsets=o, from_logits=True), each_row(fe.entropy, [z], o, from_logits=True))
    w, _ = ragged(lengths, 7)
    same_bits(fe.kl_divergence(z, w, offsets=o, from_logits=True), each_row(fe.kl_divergence, [z, w], o, from_logits=True))


def test_a_row_of_one_and_int32_offsets() -> None:
    z = np.array([3.0, 1.0, 2.0, -5.0])
    o = np.array([0, 1, 4], dtype=np.int32)
    h = fe.entropy(z, offsets=o, from_logits=True)
    assert h[0] == 0.0  # softmax of one logit is certain
    assert h[1] == fe.entropy(z[1:], from_logits=True)
    assert fe.perplexity(z, offsets=o, from_logits=True)[0] == 1.0
    assert fe.kl_divergence(z, z, offsets=o, from_logits=True)[0] == 0.0


def test_arrow_nulls_slices_and_chunks_match_the_masked_dense_rows() -> None:
    lengths = [3, 0, 5, 1, 12, 4, 4, 30, 2, 7] * 30
    z, o = ragged(lengths, 8)
    w, _ = ragged(lengths, 9)
    n = len(lengths)
    null_rows = np.zeros(n, dtype=bool)
    null_rows[::7] = True
    null_values = np.zeros(z.size, dtype=bool)
    null_values[3::11] = True
    vals = pa.array(z, mask=null_values)
    col = pa.ListArray.from_arrays(pa.array(o.astype(np.int32)), vals, mask=pa.array(null_rows))
    qcol = pa.ListArray.from_arrays(pa.array(o.astype(np.int32)), pa.array(w))

    def expected(fn: Callable[..., Any], pair: bool, **kw: Any) -> np.ndarray:
        out = []
        for r in range(n):
            if null_rows[r]:
                out.append(math.nan)
                continue
            a, b = int(o[r]), int(o[r + 1])
            x = np.ma.MaskedArray(z[a:b], mask=null_values[a:b])[None, :]
            args = [x, np.ma.MaskedArray(w[a:b], mask=null_values[a:b])[None, :]] if pair else [x]
            out.append(float(fn(*args, **kw)[0]))
        return np.array(out)

    for fn, pair, kw in [
        (fe.entropy, False, {"from_logits": True}),
        (fe.perplexity, False, {"from_logits": True}),
        (fe.js_divergence, True, {"from_logits": True}),
        (fe.cross_entropy, True, {"from_logits": True}),
    ]:
        want = expected(fn, pair, **kw)
        got = fn(col, qcol, **kw) if pair else fn(col, **kw)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15, equal_nan=True)
        # a slice with non-zero offsets, and the column cut into chunks
        s = slice(37, 251)
        got_slice = fn(col[s], qcol[s], **kw) if pair else fn(col[s], **kw)
        np.testing.assert_allclose(got_slice, want[s], rtol=1e-13, atol=1e-15, equal_nan=True)
        cuts = [0, 1, 100, 101, 299, n]
        chunked = pa.chunked_array([col.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])])
        qchunked = pa.chunked_array([qcol.slice(a, b - a) for a, b in zip([0, 150, n][:-1], [150, n])])
        got_chunks = fn(chunked, qchunked, **kw) if pair else fn(chunked, **kw)
        np.testing.assert_allclose(got_chunks, want, rtol=1e-13, atol=1e-15, equal_nan=True)
    # smoothing: a null count is 0 and gets the pseudocount, as a masked dense element
    p, _ = ragged(lengths, 10, positive=True)
    pcol = pa.ListArray.from_arrays(pa.array(o.astype(np.int32)), pa.array(p, mask=null_values), mask=pa.array(null_rows))
    want = []
    for r in range(n):
        a, b = int(o[r]), int(o[r + 1])
        want.append(math.nan if null_rows[r] else float(fe.entropy(np.ma.MaskedArray(p[a:b], mask=null_values[a:b])[None, :], smoothing=0.25)[0]))
    np.testing.assert_allclose(fe.entropy(pcol, smoothing=0.25), want, rtol=1e-13, atol=1e-15, equal_nan=True)


def test_pycapsule_producers_without_pyarrow_types() -> None:
    lengths = [4, 1, 0, 9]
    z, o = ragged(lengths, 11)
    col = pa.LargeListArray.from_arrays(pa.array(o), pa.array(z))

    class OnlyArray:
        def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
            return col.__arrow_c_array__(requested_schema)

    class OnlyStream:
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return pa.chunked_array([col.slice(0, 2), col.slice(2)]).__arrow_c_stream__(requested_schema)

    want = fe.entropy(z, offsets=o, from_logits=True)
    same_bits(fe.entropy(OnlyArray(), from_logits=True), want)
    same_bits(fe.entropy(OnlyStream(), from_logits=True), want)
    same_bits(fe.kl_divergence(OnlyArray(), OnlyStream(), from_logits=True), fe.kl_divergence(z, z, offsets=o, from_logits=True))


def test_bad_combinations_are_clear_errors() -> None:
    z, o = ragged([3, 2], 12, positive=True)
    with pytest.raises(ValueError, match="smoothing"):
        fe.entropy(z, offsets=o, smoothing=1.0, from_logits=True)
    with pytest.raises(ValueError, match="smoothing"):
        fe.kl_divergence(z, z, offsets=o, smoothing=1.0, normalize=False)
    with pytest.raises(ValueError, match="smoothing"):
        fe.entropy(z, offsets=o, smoothing=-1.0)
    with pytest.raises(TypeError, match="from_logits"):
        fe.entropy(z, offsets=o, from_logits="yes")
    with pytest.raises(ValueError, match="must be non-negative|negative"):
        fe.entropy(-z, offsets=o, smoothing=1.0)
    sp = pytest.importorskip("scipy.sparse")
    m = sp.csr_array(np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="scipy.sparse"):
        fe.entropy(m, from_logits=True)
    with pytest.raises(ValueError, match="scipy.sparse"):
        fe.kl_divergence(m, m, smoothing=1.0)
    # the stored values with offsets= are accepted
    same_bits(fe.entropy(m.data, offsets=m.indptr, from_logits=True), [fe.entropy([1.0, 2.0], from_logits=True), 0.0])


def test_polars_namespace_takes_the_options_eager_and_lazy() -> None:
    pl = pytest.importorskip("polars")
    import fastentropy.polars  # noqa: F401

    rows = [[0.5, -1.0, 2.0], [3.0], None, [], [0.0, 0.0, 1.0, None]]
    qrows = [[1.0, 1.0, 0.0], [2.0], [1.0], [], [0.5, 0.5, 0.5, 0.5]]
    df = pl.DataFrame({"z": rows, "w": qrows}, schema={"z": pl.List(pl.Float64), "w": pl.List(pl.Float64)})
    z, w = df["z"], df["w"]
    cases = [
        (pl.col("z").fe.entropy(from_logits=True, base=2), fe.entropy(z, from_logits=True, base=2)),
        (pl.col("z").fe.perplexity(from_logits=True), fe.perplexity(z, from_logits=True)),
        (pl.col("z").fe.kl_divergence(pl.col("w"), from_logits=True), fe.kl_divergence(z, w, from_logits=True)),
        (pl.col("z").fe.cross_entropy("w", from_logits=True), fe.cross_entropy(z, w, from_logits=True)),
        (pl.col("z").fe.js_divergence("w", from_logits=True), fe.js_divergence(z, w, from_logits=True)),
        (pl.col("z").fe.js_distance("w", from_logits=True), fe.js_distance(z, w, from_logits=True)),
    ]
    counts = pl.DataFrame({"p": [[1, 0, 3], [0], None, [2, 2]], "q": [[0, 1, 1], [5], [1], [1, 0]]})
    for expr, want in cases:
        for got in (df.select(expr), df.lazy().select(expr).collect(), df.lazy().select(expr).collect(engine="streaming")):
            s = got.to_series()
            assert s.dtype == pl.Float64
            np.testing.assert_array_equal(s.fill_null(np.nan).to_numpy(), np.asarray(want))
            assert s.null_count() == 1  # the null row
    # the row [0, 0, 1, null] as logits: the null value is a -inf logit (left out)
    assert df.select(pl.col("z").fe.entropy(from_logits=True)).item(4, 0) == fe.entropy([0.0, 0.0, 1.0], from_logits=True)
    for method in ["entropy", "kl_divergence", "cross_entropy", "js_divergence", "js_distance"]:
        args = [] if method == "entropy" else [pl.col("q")]
        expr = getattr(pl.col("p").fe, method)(*args, smoothing=1.0)
        got = counts.select(expr).to_series().to_list()
        for r, v in enumerate(got):
            if r == 2:
                assert v is None
                continue
            p = np.array(counts["p"][r], dtype=float)
            dense = [p] if method == "entropy" else [p, np.array(counts["q"][r], dtype=float)]
            assert v == float(getattr(fe, method)(*dense, smoothing=1.0))
        lazy = counts.lazy().select(expr).collect().to_series().to_list()
        assert lazy == got
