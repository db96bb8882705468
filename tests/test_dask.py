"""fastentropy.dask on a dask.distributed LocalCluster with 2 worker processes: the Rust
partials run on the workers, combine exactly, and agree with the local result."""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed (pip install 'fastentropy[dask]')")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from dask.distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from scipy.special import log_softmax  # noqa: E402

import fastentropy as fe  # noqa: E402
import fastentropy.dask as fed  # noqa: E402

RTOL = 1e-12


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, Client(cluster) as c:
        yield c


def close(got: Any, want: Any) -> None:
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


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
    close(fed.entropy(d, axis=1).compute(), fe.entropy(x, axis=1))
    close(fed.kl_divergence(d, q).compute(), fe.kl_divergence(x, q))
    close(fed.cross_entropy(d, da.from_array(q, chunks=100)).compute(), fe.cross_entropy(x, q))
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


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: fed.entropy(da.from_array(np.array([[0.5, -0.5, 1.0]]), chunks=1)).compute(), ValueError, "non-negative"),
        (lambda: fed.kl_divergence(da.ones((2, 3)), da.ones((2, 4))), ValueError, "broadcastable"),
        (lambda: fed.entropy(da.ones(3), base=1.0), ValueError, "base"),
        (lambda: fed.entropy(da.ones((2, 3)), axis=2), ValueError, "out of bounds"),
        (lambda: fed.entropy(da.ones(3, dtype=complex)), TypeError, "real numbers"),
    ],
)
def test_bad_input(client: Client, call: Any, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


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


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"target": np.array([0, 9])}, ValueError, "labels must be in"),
        ({"target": np.array([0, 1, 2])}, ValueError, "shape of `logits` without"),
        ({"target": np.array([0, 1]), "reduction": "avg"}, ValueError, "reduction"),
        ({"target": np.array([0, 1]), "label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"target": np.array([0, 1]), "weight": np.ones(2)}, ValueError, "weight"),
    ],
)
def test_softmax_cross_entropy_bad_input(client: Client, kw: Any, exc: type, match: str) -> None:
    z = da.from_array(rng.normal(size=(2, 3)), chunks=(1, 2))
    with pytest.raises(exc, match=match):
        fed.softmax_cross_entropy(z, **kw).compute()
