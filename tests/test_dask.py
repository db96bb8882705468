"""fastentropy.dask on a dask.distributed LocalCluster with 2 worker processes: the Rust
partials run on the workers, combine exactly, and agree with the local result."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed (pip install 'fastentropy[dask]')")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from dask.distributed import Client, get_task_stream  # noqa: E402
from scipy.special import log_softmax  # noqa: E402

import fastentropy as fe  # noqa: E402
import fastentropy.dask as fed  # noqa: E402
from _dask_helpers import client, outcome  # noqa: E402,F401  (client: the module's fixture)

RTOL = 1e-12


def close(got: Any, want: Any, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


rng = np.random.default_rng(5)
P = rng.random((37, 53))
Q = rng.random((37, 53))

CHUNKINGS = [(37, 53), (10, 53), (37, 8), (7, 11), (1, 53), (37, 1)]


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_measures_agree_with_local(client: Client, chunks: Any) -> None:
    p, q = da.from_array(P, chunks=chunks), da.from_array(Q, chunks=chunks)
    lazy, want = [], []
    for base in (None, 2.0):
        for normalize in (True, False):
            opts = dict(base=base, normalize=normalize)
            lazy += [fed.entropy(p, **opts), fed.kl_divergence(p, q, **opts), fed.cross_entropy(p, q, **opts)]
            want += [fe.entropy(P, **opts), fe.kl_divergence(P, Q, **opts), fe.cross_entropy(P, Q, **opts)]
    for g, w in zip(dask.compute(*lazy), want):
        close(g, w)


def test_row_chunks_are_bitwise_local(client: Client) -> None:
    p, q = da.from_array(P, chunks=(5, 53)), da.from_array(Q, chunks=(9, 53))
    assert np.array_equal(fed.entropy(p).compute(), fe.entropy(P))
    assert np.array_equal(fed.kl_divergence(p, q).compute(), fe.kl_divergence(P, Q))
    assert np.array_equal(fed.cross_entropy(p, q).compute(), fe.cross_entropy(P, Q))


def test_the_work_runs_on_the_worker_processes(client: Client) -> None:
    p = da.from_array(P, chunks=(5, 8))
    with get_task_stream(client) as stream:
        fed.entropy(p).compute()
    assert {t["worker"] for t in stream.data} == set(client.scheduler_info()["workers"])
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_axes(client: Client, axis: Any) -> None:
    p = da.from_array(P, chunks=(6, 9))
    close(fed.entropy(p, axis=axis).compute(), fe.entropy(P, axis=axis))
    close(fed.kl_divergence(p, Q, axis=axis).compute(), fe.kl_divergence(P, Q, axis=axis))


def test_three_dimensions_float32_and_broadcasting(client: Client) -> None:
    x = rng.random((4, 5, 300)).astype(np.float32)
    q = rng.random(300)
    d = da.from_array(x, chunks=(2, 3, 70))
    # float32 pieces: each within the float32 contract (1e-6, DESIGN §2b) of its exact value
    close(fed.entropy(d, axis=1).compute(), fe.entropy(x, axis=1), 1e-6)
    close(fed.kl_divergence(d, q).compute(), fe.kl_divergence(x, q), 1e-6)
    close(fed.cross_entropy(d, da.from_array(q, chunks=100)).compute(), fe.cross_entropy(x, q), 1e-6)
    x64 = x.astype(np.float64)
    close(fed.entropy(d, axis=1).compute(), fe.entropy(x64, axis=1), 1e-6)
    counts = rng.integers(0, 9, size=(20, 30))
    close(fed.entropy(da.from_array(counts, chunks=(7, 7))).compute(), fe.entropy(counts))


def test_single_distribution_is_0d(client: Client) -> None:
    got = fed.cross_entropy(da.from_array(np.array([0.0, 0.0, 1.0]), chunks=1), [0.3, 0.3, 0.4]).compute()
    assert got.shape == ()
    assert float(got) == fe.cross_entropy([0, 0, 1], [0.3, 0.3, 0.4])


def test_edge_values(client: Client) -> None:
    x = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, np.nan, 1.0, 1.0], [0.0, 0.0, 5.0, 0.0]])
    got = fed.entropy(da.from_array(x, chunks=(1, 2))).compute()
    want = fe.entropy(x)
    assert np.isnan(got[0]) and np.isnan(got[1]) and got[2] == want[2] == 0.0
    assert np.array_equal(fed.entropy(da.zeros((3, 0))).compute(), np.zeros(3))
    assert fed.kl_divergence(da.from_array(P, chunks=(5, 7)), P).compute().tolist() == [0.0] * 37
    inf = fed.kl_divergence(da.from_array(np.array([0.5, 0.5]), chunks=1), [1.0, 0.0]).compute()
    assert inf == np.inf


# ---- softmax cross-entropy --------------------------------------------------------------

Z = rng.normal(scale=4.0, size=(31, 17))
Y = rng.integers(0, 17, size=31)
T = rng.random((31, 17))
T /= T.sum(axis=1, keepdims=True)
W = rng.random(17) + 0.5


def reference_loss(z: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                   reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    """torch.nn.functional.cross_entropy's rules in NumPy (DESIGN.md §2)."""
    nll = -log_softmax(z, axis=-1)
    c = z.shape[-1]
    w = np.ones(c) if weight is None else weight
    eps = label_smoothing
    if target.dtype.kind in "iu":
        keep = target != ignore_index
        y = np.where(keep, target, 0)
        rows = np.arange(len(y))
        loss = (1 - eps) * w[y] * nll[rows, y] + eps / c * (w * nll).sum(axis=-1)
        loss = np.where(keep, loss, 0.0)
        denominator = np.where(keep, w[y], 0.0).sum()
    else:
        loss = (w * ((1 - eps) * target + eps / c) * nll).sum(axis=-1)
        denominator = float(len(loss))
    return {"none": loss, "sum": loss.sum(), "mean": loss.sum() / denominator}[reduction]


def local_loss(*args: Any, **kw: Any) -> Any:
    if hasattr(fe, "softmax_cross_entropy"):
        return fe.softmax_cross_entropy(*args, **kw)
    return reference_loss(*args, **kw)


@pytest.mark.parametrize("chunks", [(31, 17), (8, 17), (31, 5), (6, 4)])
@pytest.mark.parametrize(
    "target, opts",
    [
        (Y, {}),
        (Y, {"weight": W}),
        (np.where(np.arange(31) % 4 == 0, -100, Y), {"weight": W, "label_smoothing": 0.2}),
        (T, {}),
        (T, {"weight": W, "label_smoothing": 0.1}),
    ],
)
def test_softmax_cross_entropy(client: Client, chunks: Any, target: Any, opts: Any) -> None:
    z = da.from_array(Z, chunks=chunks)
    t = da.from_array(target, chunks=chunks if target.ndim == 2 else chunks[:1])
    reductions = ("mean", "sum", "none")
    got = dask.compute(*[fed.softmax_cross_entropy(z, t, reduction=r, **opts) for r in reductions])
    for g, r in zip(got, reductions):
        close(g, reference_loss(Z, target, reduction=r, **opts))
        close(g, local_loss(Z, target, reduction=r, **opts))


def test_softmax_cross_entropy_seed_example_and_precision(client: Client) -> None:
    z = da.from_array(np.log([[0.3, 0.3, 0.4]]), chunks=(1, 2))
    np.testing.assert_allclose(float(fed.softmax_cross_entropy(z, np.array([2])).compute()), 0.9162907318741551, rtol=1e-12)
    # A confidently correct prediction keeps its tiny loss (log1p form), across class chunks.
    tiny = fed.softmax_cross_entropy(
        da.from_array(np.array([[0.0, -40.0, -45.0]]), chunks=(1, 1)), np.array([0]), reduction="none"
    ).compute()
    np.testing.assert_allclose(tiny, [np.exp(-40.0) + np.exp(-45.0)], rtol=1e-12)
    # torch layout (N, C, d): axis=1
    z3 = rng.normal(size=(4, 5, 6))
    y3 = rng.integers(0, 5, size=(4, 6))
    got = fed.softmax_cross_entropy(da.from_array(z3, chunks=(2, 2, 3)), y3, axis=1, reduction="none").compute()
    close(got, reference_loss(np.moveaxis(z3, 1, -1).reshape(-1, 5), y3.reshape(-1), reduction="none").reshape(4, 6))


# ---- the same validation as the local functions (issue #12 item 9) -----------------------


def _daskify(value: Any, chunks: Any) -> Any:
    """A NumPy array argument as a dask array (masked chunks stay masked); others unchanged."""
    if isinstance(value, np.ndarray) and value.ndim > 0 and value.dtype.kind in "biufc":
        return da.from_array(value, chunks=chunks)
    return value


Z2 = rng.normal(size=(4, 3))
BIG = 2**64 - 100

# (local function, dask function, positional arrays, keyword arguments)
BAD_CALLS = {
    # softmax_cross_entropy: every argument
    "label-out-of-range": ("softmax_cross_entropy", [Z2, np.array([0, 1, 9, 2])], {}),
    "uint64-big-endian-label": ("softmax_cross_entropy", [Z2, np.array([0, 1, BIG, 2], dtype=">u8")], {}),
    "uint64-max-label": ("softmax_cross_entropy", [Z2, np.array([0, 2**64 - 1, 1, 2], dtype=np.uint64)], {}),
    "negative-label": ("softmax_cross_entropy", [Z2, np.array([0, -1, 1, 2], dtype=np.int8)], {}),
    "target-shape": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2])], {}),
    "prob-target-shape": ("softmax_cross_entropy", [Z2, np.ones((4, 2))], {}),
    "bool-target": ("softmax_cross_entropy", [Z2, np.array([True, False, True, True])], {}),
    "complex-target": ("softmax_cross_entropy", [Z2, np.ones((4, 3), dtype=complex)], {}),
    "masked-labels": ("softmax_cross_entropy", [Z2, np.ma.array([0, 1, 2, 0], mask=[0, 1, 0, 0])], {}),
    "reduction": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"reduction": "avg"}),
    "reduction-none-object": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"reduction": None}),
    "label-smoothing-range": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"label_smoothing": 1.5}),
    "label-smoothing-huge": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"label_smoothing": 2**2000}),
    "label-smoothing-nan": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"label_smoothing": float("nan")}),
    "label-smoothing-bool": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"label_smoothing": True}),
    "label-smoothing-str": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"label_smoothing": "0.1"}),
    "ignore-index-float": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"ignore_index": 2.5}),
    "ignore-index-huge": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"ignore_index": 2**70}),
    "ignore-index-bool": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"ignore_index": True}),
    "weight-length": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"weight": np.ones(2)}),
    "weight-complex": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"weight": np.ones(3, dtype=complex)}),
    "weight-masked": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"weight": np.ma.array([1.0, 2, 3], mask=[0, 1, 0])}),
    "logits-complex": ("softmax_cross_entropy", [Z2.astype(complex), np.array([0, 1, 2, 0])], {}),
    "logits-0d": ("softmax_cross_entropy", [np.float64(1.0), np.array(0)], {}),
    "no-classes": ("softmax_cross_entropy", [np.zeros((4, 0)), np.array([0, 1, 2, 0])], {}),
    "axis-range": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"axis": 2}),
    "axis-float": ("softmax_cross_entropy", [Z2, np.array([0, 1, 2, 0])], {"axis": 1.0}),
    # the measures
    "negative-p": ("entropy", [np.array([[0.5, -0.5, 1.0], [1.0, 1.0, 1.0]])], {}),
    "negative-q": ("kl_divergence", [np.ones((2, 3)), np.array([[0.5, -0.25, 1.0], [1.0, 1.0, 1.0]])], {}),
    "no-broadcast": ("kl_divergence", [np.ones((2, 3)), np.ones((2, 4))], {}),
    "base-one": ("entropy", [np.ones(3)], {"base": 1.0}),
    "base-huge": ("cross_entropy", [np.ones(3), np.ones(3)], {"base": 2**2000}),
    "base-str": ("entropy", [np.ones(3)], {"base": "2"}),
    "normalize-str": ("kl_divergence", [np.ones(3), np.ones(3)], {"normalize": "no"}),
    "normalize-int": ("entropy", [np.ones(3)], {"normalize": 1}),
    "measure-axis": ("entropy", [np.ones((2, 3))], {"axis": 2}),
    "measure-axis-bool": ("cross_entropy", [np.ones((2, 3)), np.ones((2, 3))], {"axis": True}),
    "complex-p": ("entropy", [np.ones(3, dtype=complex)], {}),
    "string-q": ("cross_entropy", [np.ones(2), np.array(["a", "b"])], {}),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_arguments_raise_what_the_local_call_raises(client: Client, case: str) -> None:
    """Every Dask function checks its arguments with the local function's code: the same
    exception type and the same message (a bad label with its position in the whole
    target, found when its chunk is computed on a worker)."""
    name, arrays, kwargs = BAD_CALLS[case]
    local = outcome(lambda: getattr(fe, name)(*arrays, **kwargs))
    assert local[0] in (ValueError, TypeError, getattr(getattr(np, "exceptions", np), "AxisError")), local
    for chunks in (1, 2, -1):
        dask_args = [_daskify(a, chunks) for a in arrays]
        remote = outcome(lambda: getattr(fed, name)(*dask_args, **kwargs))
        assert remote == local, (chunks, remote, local)


def test_label_positions_are_global(client: Client) -> None:
    y = np.zeros((6, 5), dtype=">u8")
    y[4, 3] = BIG
    z = rng.normal(size=(6, 7, 5))
    want = r"`target` has label 18446744073709551516 at position \(4, 3\), outside \[0, 7\)"
    with pytest.raises(ValueError, match=want):
        fe.softmax_cross_entropy(z, y, axis=1)
    for chunks in ((2, 2, 2), (6, 3, 5)):
        with pytest.raises(ValueError, match=want):
            fed.softmax_cross_entropy(da.from_array(z, chunks=chunks), da.from_array(y, chunks=(2, 2)), axis=1).compute()


def test_labels_of_every_dtype_and_byte_order(client: Client) -> None:
    z = rng.normal(size=(9, 4))
    y = np.array([0, 3, 1, 2, 200, 1, 3, 0, 200])
    for dtype in ("u1", "i2", "u4", "i8", "u8"):
        for order in "<>":
            yt = y.astype(order + dtype)
            for ignore in (200, -100):
                kwargs: Any = dict(ignore_index=ignore, reduction="none")
                local = outcome(lambda: fe.softmax_cross_entropy(z, yt, **kwargs))
                for chunks in ((3, 4), (3, 2)):
                    remote = outcome(lambda: fed.softmax_cross_entropy(da.from_array(z, chunks=chunks), yt, **kwargs))
                    if local[0] == "ok":
                        assert remote[0] == "ok"
                        close(remote[1], local[1])
                    else:
                        assert remote == local


# ---- special values across class chunks (issue #12 item 9) --------------------------------

_VALUES = [0.0, 1.0, -2.0, np.inf, -np.inf, np.nan]
SPECIAL = np.array(np.meshgrid(_VALUES, _VALUES, _VALUES, indexing="ij")).reshape(3, -1).T.copy()  # 216 rows


def test_special_logits_give_the_local_result_across_class_chunks(client: Client) -> None:
    """A +inf logit split from the others across class chunks gave NaN where the local
    call gives inf; so did a -inf chunk. Every row of {0, 1, -2, ±inf, NaN}^3 against the
    local result, for every target kind and option, class chunks of 1, 2 and 3."""
    n = len(SPECIAL)
    r = np.random.default_rng(11)
    y = r.integers(0, 3, size=n)
    y[::7] = -100
    t = r.random((n, 3))
    t[::3, 1] = 0.0
    t[::5, 0] = 0.0
    t[::11] = 0.0
    weight = np.array([0.5, 0.0, 2.0])
    cases = []
    for target in (y, t):
        for opts in ({}, {"weight": weight}, {"label_smoothing": 0.3}, {"weight": weight, "label_smoothing": 1.0}):
            for reduction in ("none", "sum"):
                cases.append((target, dict(opts, reduction=reduction)))
    for chunks in ((n, 1), (50, 2), (n, 3)):
        z = da.from_array(SPECIAL, chunks=chunks)
        lazy = [fed.softmax_cross_entropy(z, target, **kw) for target, kw in cases]
        for got, (target, kw) in zip(dask.compute(*lazy), cases):
            want = fe.softmax_cross_entropy(SPECIAL, target, **kw)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{chunks} {kw}")


def test_inf_logit_split_from_the_label(client: Client) -> None:
    """The issue's case: local inf, Dask gave NaN."""
    z = np.array([[0.0, np.inf, 1.0, 2.0]])
    assert fe.softmax_cross_entropy(z, np.array([3])) == np.inf
    assert float(fed.softmax_cross_entropy(da.from_array(z, chunks=(1, 2)), np.array([3])).compute()) == np.inf


# ---- masked arrays (issue #12 item 8) -------------------------------------------------------


def test_masked_dask_arrays_are_honoured(client: Client) -> None:
    p = np.ma.array(rng.random((5, 6)), mask=rng.random((5, 6)) < 0.3)
    q = np.ma.array(rng.random((5, 6)), mask=rng.random((5, 6)) < 0.3)
    dp, dq = da.from_array(p, chunks=(2, 4)), da.from_array(q, chunks=(3, 3))
    close(fed.entropy(dp).compute(), fe.entropy(p))
    close(fed.kl_divergence(dp, dq).compute(), fe.kl_divergence(p, q))
    close(fed.cross_entropy(dp, q.data).compute(), fe.cross_entropy(p, q.data))
    close(fed.kl_divergence(p.data, dq).compute(), fe.kl_divergence(p.data, q))
    z = np.ma.array(rng.normal(size=(5, 6)), mask=p.mask)
    labels = np.array([0, 1, 2, 3, 4])
    for chunks in ((5, 6), (2, 4)):
        close(fed.softmax_cross_entropy(da.from_array(z, chunks=chunks), labels, reduction="none").compute(),
              fe.softmax_cross_entropy(z, labels, reduction="none"))
        close(fed.softmax_cross_entropy(da.from_array(z.data, chunks=chunks), da.from_array(p, chunks=chunks),
                                        reduction="none").compute(),
              fe.softmax_cross_entropy(z.data, p, reduction="none"))


# ---- exactness of split distributions (issue #14 item 4) ---------------------------------

EXTREME = [
    np.array([5e-324, 5e-324]),
    np.array([1.7e308, 1.7e308]),
    np.array([1e16, 1.0, 1.0]),
    np.array([1e15, 1.0]),
    np.array([1.0, 1e-12] * 8) * 2.0**599,
    np.r_[2.0**30, np.zeros(7), np.tile(np.r_[2.0**-23, np.zeros(7)], 1023)],
]


@pytest.mark.parametrize("x", EXTREME, ids=range(len(EXTREME)))
@pytest.mark.parametrize("chunk", [1, 2, 3, 4096])
def test_split_distributions_keep_the_local_exactness(client: Client, x: Any, chunk: int) -> None:
    """Dominant masses, subnormal and overflowing totals: every chunking is within 1e-13 of
    the local value (itself exact, tests/test_accuracy.py); one chunk is bitwise local."""
    chunk = max(chunk, -(-x.size // 16))  # at most 16 pieces
    got = fed.entropy(da.from_array(x, chunks=chunk)).compute()
    want = fe.entropy(x)
    if chunk >= x.size:
        assert got == want
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    q = x[::-1].copy()
    for f in ("kl_divergence", "cross_entropy"):
        g = getattr(fed, f)(da.from_array(x, chunks=chunk), da.from_array(q, chunks=chunk)).compute()
        np.testing.assert_allclose(g, getattr(fe, f)(x, q), rtol=1e-13, atol=1e-300)
    assert fed.kl_divergence(da.from_array(x, chunks=chunk), x).compute() == 0.0
