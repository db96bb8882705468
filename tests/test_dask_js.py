"""fastentropy.dask.perplexity / js_divergence / js_distance (issue #15 item 1) on a
dask.distributed LocalCluster with 2 worker processes, against the local functions: bitwise
where each distribution is whole in one chunk (always for JS and for ``from_logits``, which
rechunk the class axis), within 1e-13 relative for perplexity across class chunks."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed (pip install 'fastentropy[dask]')")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from dask.distributed import Client  # noqa: E402

import fastentropy as fe  # noqa: E402
import fastentropy.dask as fed  # noqa: E402
from _dask_helpers import client, outcome  # noqa: E402,F401  (client: the module's fixture)

MEASURES = ("perplexity", "js_divergence", "js_distance")


rng = np.random.default_rng(15)
N, C = 23, 41
P = rng.random((N, C))
Q = rng.random((N, C))
P[3] = 0.0  # a distribution summing to 0
P[5, ::2] = 0.0  # partial supports
Q[7, 1::2] = 0.0
Q[9] = P[9]  # equal distributions: JS exactly 0
ZP = rng.normal(scale=3.0, size=(N, C))
ZQ = rng.normal(scale=3.0, size=(N, C))
ZP[4, :5] = -np.inf  # probability 0
ZQ[6, ::3] = -np.inf

# per measure: the options it takes (perplexity has no smoothing)
OPTIONS: Dict[str, List[Dict[str, Any]]] = {
    "perplexity": [
        {}, {"base": 2.0}, {"normalize": False}, {"from_logits": True}, {"from_logits": True, "base": 2.0},
    ],
    "js": [
        {}, {"base": 2.0}, {"normalize": False}, {"normalize": False, "base": 2.0},
        {"from_logits": True}, {"from_logits": True, "base": 2.0},
        {"smoothing": 0.5}, {"smoothing": 0.5, "base": 2.0},
    ],
}


def options(measure: str) -> List[Dict[str, Any]]:
    return OPTIONS["perplexity" if measure == "perplexity" else "js"]


def inputs(measure: str, opts: Dict[str, Any], dtype: Any) -> List[Any]:
    pair = (ZP, ZQ) if opts.get("from_logits") else (P, Q)
    arrays = pair[:1] if measure == "perplexity" else pair
    return [a.astype(dtype) for a in arrays]


def layout(x: Any, axis: int, rows: int, classes: int) -> Any:
    """``x`` as a dask array, the distribution axis ``axis`` in chunks of ``classes``."""
    return da.from_array(x, chunks=(classes, rows) if axis == 0 else (rows, classes))


def exact(measure: str, opts: Dict[str, Any], whole: bool) -> bool:
    """Whether the dask result is bitwise local: each distribution computed whole on a worker."""
    return whole or measure != "perplexity" or bool(opts.get("from_logits"))


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows, classes", [(5, -1), (1, -1), (5, 7), (50, 10), (23, 1)])
def test_agrees_with_the_local_function(
    client: Client, measure: str, axis: int, dtype: Any, rows: int, classes: int
) -> None:
    whole = classes == -1
    lazy, want, cases = [], [], []
    for opts in options(measure):
        arrays = inputs(measure, opts, dtype)
        lazy.append(getattr(fed, measure)(*[layout(a, axis, rows, classes) for a in arrays], axis=axis, **opts))
        want.append(getattr(fe, measure)(*arrays, axis=axis, **opts))
        cases.append(opts)
    for got, w, opts in zip(dask.compute(*lazy), want, cases):
        assert got.shape == w.shape and got.dtype == np.float64, opts
        if exact(measure, opts, whole):
            np.testing.assert_array_equal(got, w, err_msg=str(opts))
        else:
            # float32 pieces: each within the float32 contract of its exact value (as fed.entropy)
            rtol = 1e-13 if dtype == np.float64 else 1e-6
            np.testing.assert_allclose(got, w, rtol=rtol, atol=0, equal_nan=True, err_msg=str(opts))


def test_three_dimensions_axis_none_and_broadcasting(client: Client) -> None:
    x = rng.random((4, 6, 30))
    q = rng.random(30)
    d = da.from_array(x, chunks=(2, 4, 7))
    for measure in ("js_divergence", "js_distance"):
        f, g = getattr(fe, measure), getattr(fed, measure)
        assert np.array_equal(g(d, q).compute(), f(x, q))
        assert np.array_equal(g(d, da.from_array(q, chunks=11), base=2).compute(), f(x, q, base=2))
        assert np.array_equal(g(d, x[::-1], axis=1).compute(), f(x, x[::-1], axis=1))
        np.testing.assert_allclose(g(d, x[::-1], axis=None).compute(), f(x, x[::-1], axis=None), rtol=1e-13)
        one = g(da.from_array(x[0, 0], chunks=7), q).compute()
        assert one.shape == () and float(one) == f(x[0, 0], q)
    np.testing.assert_allclose(fed.perplexity(d, axis=1).compute(), fe.perplexity(x, axis=1), rtol=1e-13, atol=0)
    np.testing.assert_allclose(fed.perplexity(d, axis=None).compute(), fe.perplexity(x, axis=None), rtol=1e-13)
    assert np.array_equal(fed.perplexity(d, axis=None, from_logits=True).compute(),
                          fe.perplexity(x, axis=None, from_logits=True))
    counts = rng.integers(0, 9, size=(20, 30))
    dc = da.from_array(counts, chunks=(7, 7))
    np.testing.assert_allclose(fed.perplexity(dc).compute(), fe.perplexity(counts), rtol=1e-13, atol=0)
    assert np.array_equal(fed.js_divergence(dc, counts[::-1]).compute(), fe.js_divergence(counts, counts[::-1]))


def test_class_axis_is_rechunked_rows_keep_their_chunks(client: Client) -> None:
    p, q = da.from_array(P, chunks=(5, 8)), da.from_array(Q, chunks=(7, 41))
    assert fed.js_divergence(p, q).chunks == ((5, 5, 5, 5, 3),)
    assert fed.js_distance(p, Q, from_logits=True).chunks == ((5, 5, 5, 5, 3),)
    assert fed.perplexity(p, from_logits=True).chunks == ((5, 5, 5, 5, 3),)
    assert fed.perplexity(p).chunks == ((5, 5, 5, 5, 3),)


def test_edge_values(client: Client) -> None:
    x = np.array([
        [0.0, 0.0, 0.0, 0.0], [1.0, np.nan, 1.0, 1.0], [0.0, 0.0, 5.0, 0.0], [1.0, 1.0, 1.0, 1.0],
        [5e-324, 0.0, 0.0, 5e-324], [1.7e308, 0.0, 1.7e308, 0.0], [np.inf, 1.0, 0.0, 0.0],
    ])
    y = x[::-1].copy()
    for chunks in ((7, 4), (2, 2), (3, 1)):
        d = da.from_array(x, chunks=chunks)
        for normalize in (True, False):
            got = fed.perplexity(d, normalize=normalize).compute()
            np.testing.assert_allclose(got, fe.perplexity(x, normalize=normalize), rtol=1e-13, equal_nan=True)
            for measure in ("js_divergence", "js_distance"):
                want = getattr(fe, measure)(x, y, normalize=normalize)
                np.testing.assert_array_equal(getattr(fed, measure)(d, y, normalize=normalize).compute(), want)
        np.testing.assert_array_equal(fed.js_divergence(d, x).compute(), fe.js_divergence(x, x))
    assert np.array_equal(fed.perplexity(da.zeros((3, 0))).compute(), np.ones(3))
    assert np.array_equal(fed.js_divergence(da.zeros((3, 0)), np.zeros((3, 0))).compute(), np.zeros(3))


def test_masked_dask_arrays_are_honoured(client: Client) -> None:
    r = np.random.default_rng(3)
    p = np.ma.array(r.random((6, 9)), mask=r.random((6, 9)) < 0.3)
    q = np.ma.array(r.random((6, 9)), mask=r.random((6, 9)) < 0.3)
    zp = np.ma.array(r.normal(size=(6, 9)), mask=p.mask)
    zq = np.ma.array(r.normal(size=(6, 9)), mask=q.mask)
    for chunks in ((6, 9), (2, 9), (2, 4)):
        dp, dq = da.from_array(p, chunks=chunks), da.from_array(q, chunks=(3, 3))
        dzp, dzq = da.from_array(zp, chunks=chunks), da.from_array(zq, chunks=chunks)
        whole = chunks[1] == 9
        got, want = fed.perplexity(dp).compute(), fe.perplexity(p)
        if whole:
            np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
        assert np.array_equal(fed.perplexity(dzp, from_logits=True).compute(), fe.perplexity(zp, from_logits=True))
        for measure in ("js_divergence", "js_distance"):
            f, g = getattr(fe, measure), getattr(fed, measure)
            assert np.array_equal(g(dp, dq).compute(), f(p, q))
            assert np.array_equal(g(dp, q.data).compute(), f(p, q.data))
            assert np.array_equal(g(p.data, dq, smoothing=1.0).compute(), f(p.data, q, smoothing=1.0))
            assert np.array_equal(g(dzp, dzq, from_logits=True).compute(), f(zp, zq, from_logits=True))


def test_nothing_is_computed_before_compute() -> None:
    calls = []

    def counted(block: Any) -> Any:
        calls.append(block.shape)
        return block

    with dask.config.set(scheduler="sync"):
        p = da.from_array(P, chunks=(5, 8)).map_blocks(counted, dtype=P.dtype, meta=np.empty((0, 0)))
        z = da.from_array(ZP, chunks=(5, 8)).map_blocks(counted, dtype=ZP.dtype, meta=np.empty((0, 0)))
        lazy = [
            fed.perplexity(p), fed.perplexity(p, base=2), fed.perplexity(z, from_logits=True),
            fed.js_divergence(p, Q), fed.js_distance(p, p, smoothing=0.5), fed.js_divergence(z, ZQ, from_logits=True),
            fed.js_distance(p, Q, normalize=False, axis=0),
        ]
        assert all(isinstance(x, da.Array) for x in lazy)
        assert calls == []
        got = dask.compute(*lazy)
        assert calls
    np.testing.assert_allclose(got[0], fe.perplexity(P), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(got[3], fe.js_divergence(P, Q))
    np.testing.assert_array_equal(got[6], fe.js_distance(P, Q, normalize=False, axis=0))


ONES = np.ones((2, 3))
NEG = np.array([[0.5, -0.5, 1.0], [1.0, 1.0, 1.0]])
BAD_CALLS = {
    "base-one": ({"base": 1.0}, 2),
    "base-zero": ({"base": 0}, 2),
    "base-huge": ({"base": 2**2000}, 2),
    "base-str": ({"base": "2"}, 2),
    "base-bool": ({"base": True}, 2),
    "normalize-str": ({"normalize": "no"}, 2),
    "normalize-int": ({"normalize": 1}, 2),
    "from-logits-str": ({"from_logits": "yes"}, 2),
    "from-logits-int": ({"from_logits": 1}, 2),
    "smoothing-negative": ({"smoothing": -1.0}, 2),
    "smoothing-nan": ({"smoothing": float("nan")}, 2),
    "smoothing-str": ({"smoothing": "1"}, 2),
    "smoothing-without-normalize": ({"smoothing": 1.0, "normalize": False}, 2),
    "smoothing-with-logits": ({"smoothing": 1.0, "from_logits": True}, 2),
    "axis-range": ({"axis": 2}, 2),
    "axis-float": ({"axis": 1.0}, 2),
    "axis-bool": ({"axis": True}, 2),
    "negative-p": ({}, "neg-p"),
    "negative-q": ({}, "neg-q"),
    "no-broadcast": ({}, "shapes"),
    "complex-p": ({}, "complex"),
    "zero-d": ({}, "0d"),
    "logits-ignore-normalize": ({"from_logits": True, "normalize": "no"}, 2),
}


def _arrays(kind: Any, n: int) -> List[Any]:
    p, q = {
        2: (ONES, ONES),
        "neg-p": (NEG, ONES),
        "neg-q": (ONES, NEG),
        "shapes": (ONES, np.ones((2, 4))),
        "complex": (ONES.astype(complex), ONES),
        "0d": (np.float64(1.0), np.float64(1.0)),
    }[kind]
    return [p, q][:n]


@pytest.mark.parametrize(
    "measure, case",
    [(m, c) for m in MEASURES for c in BAD_CALLS if m != "perplexity" or BAD_CALLS[c][1] not in ("neg-q", "shapes")],
)
def test_bad_arguments_raise_what_the_local_call_raises(client: Client, measure: str, case: str) -> None:
    """The same exception type and message as the local call (or the same value: with
    ``from_logits`` the local functions ignore ``normalize``), for every chunking."""
    kwargs, kind = BAD_CALLS[case]
    n = 1 if measure == "perplexity" else 2
    arrays = _arrays(kind, n)
    local = outcome(as_lists=True, call=lambda: getattr(fe, measure)(*arrays, **kwargs))
    if case != "logits-ignore-normalize":
        assert local[0] in (ValueError, TypeError, getattr(getattr(np, "exceptions", np), "AxisError")), local
    for chunks in (1, 2, -1):
        dask_args = [da.from_array(a, chunks=chunks) if np.ndim(a) > 0 and a.dtype.kind in "biufc" else a
                     for a in arrays]
        remote = outcome(as_lists=True, call=lambda: getattr(fed, measure)(*dask_args, **kwargs))
        assert remote == local, (chunks, remote, local)
