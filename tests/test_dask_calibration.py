"""fastentropy.dask.expected_calibration_error: row-chunked dask arrays reduced to per-bin
partials (exact confidence sums per bin), against the local function, across chunkings,
layouts, norms, logits, and bad input raised at compute()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastentropy as fe  # noqa: E402
import fastentropy.dask as fed  # noqa: E402


def data(n: int, c: int, seed: int, dtype: Any = np.float64) -> Any:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * 2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    # labels drawn from the rows' own probabilities: nearly calibrated, so the gaps cancel
    u = rng.random(n)[:, None]
    y = (np.cumsum(p, 1) < u).sum(1).clip(0, c - 1)
    return p.astype(dtype), y.astype(np.int64), z.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_bins", [1, 15, 100])
def test_several_chunks_match_the_local_function(dtype: Any, norm: str, n_bins: int) -> None:
    p, y, _ = data(5000, 7, 1, dtype)
    want = fe.expected_calibration_error(p, y, n_bins=n_bins, norm=norm)
    results = []
    for chunks in [(700, 7), (5000, 7), (333, 3), (97, 7)]:
        x = da.from_array(p, chunks=chunks)
        got = fed.expected_calibration_error(x, da.from_array(y, chunks=chunks[0]), n_bins=n_bins, norm=norm)
        assert isinstance(got, da.Array) and got.shape == ()
        results.append(float(got.compute()))
    # exact per-bin sums: the chunking changes no bit
    assert len({r.hex() for r in results}) == 1, results
    assert results[0] == pytest.approx(want, rel=1e-13, abs=1e-17)


def test_one_row_per_chunk() -> None:
    p, y, _ = data(150, 6, 5)
    got = fed.expected_calibration_error(da.from_array(p, chunks=(1, 6)), y, n_bins=10).compute()
    assert got == pytest.approx(fe.expected_calibration_error(p, y, n_bins=10), rel=1e-14)


def test_labels_as_numpy_and_other_axes() -> None:
    p, y, _ = data(2400, 5, 2)
    p3 = p.reshape(40, 60, 5).transpose(0, 2, 1)  # classes on axis 1 (torch's layout)
    y3 = y.reshape(40, 60)
    want = fe.expected_calibration_error(p3, y3, axis=1)
    got = fed.expected_calibration_error(da.from_array(p3, chunks=(7, 5, 25)), y3, axis=1).compute()
    assert got == pytest.approx(want, rel=1e-13)
    # a single row (1-D probs, 0-d label)
    assert fed.expected_calibration_error(da.from_array(p[0]), int(y[0])).compute() == pytest.approx(
        fe.expected_calibration_error(p[0], int(y[0])), rel=1e-15
    )


def test_from_logits() -> None:
    _, y, z = data(3000, 9, 3)
    want = fe.expected_calibration_error(z, y, from_logits=True)
    got = fed.expected_calibration_error(da.from_array(z, chunks=(500, 9)), y, from_logits=True).compute()
    assert got == pytest.approx(want, rel=1e-12)
    z32 = z.astype(np.float32)
    want = fe.expected_calibration_error(z32, y, from_logits=True, norm="max")
    got = fed.expected_calibration_error(da.from_array(z32, chunks=(500, 9)), y, from_logits=True, norm="max")
    assert float(got.compute()) == pytest.approx(want, rel=1e-12)


def test_perfect_calibration_and_nan() -> None:
    # every row has confidence 1 and is right: 0
    p = np.eye(4)[np.arange(400) % 4]
    y = np.arange(400) % 4
    assert fed.expected_calibration_error(da.from_array(p, chunks=(64, 4)), y).compute() == 0.0
    q = p.copy()
    q[123, 1] = np.nan
    assert np.isnan(fed.expected_calibration_error(da.from_array(q, chunks=(64, 4)), y).compute())
    assert np.isnan(fe.expected_calibration_error(q, y))


def test_bad_input() -> None:
    p, y, _ = data(300, 4, 4)
    x = da.from_array(p, chunks=(100, 4))
    bad = y.copy()
    bad[250] = 4
    with pytest.raises(ValueError, match=r"label 4 at position \(250,\)"):
        fed.expected_calibration_error(x, bad).compute()
    with pytest.raises(ValueError, match=r"label 4 at position \(250,\)"):
        fe.expected_calibration_error(p, bad)
    q = p.copy()
    q[10, 0] = 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fed.expected_calibration_error(da.from_array(q, chunks=(100, 4)), y).compute()
    q[10, 0] = -0.5
    with pytest.raises(ValueError, match="non-negative"):
        fed.expected_calibration_error(da.from_array(q, chunks=(100, 4)), y).compute()
    with pytest.raises(ValueError, match="shape"):
        fed.expected_calibration_error(x, y[:-1])
    with pytest.raises(ValueError, match="norm"):
        fed.expected_calibration_error(x, y, norm="l3")
    with pytest.raises(ValueError, match="n_bins"):
        fed.expected_calibration_error(x, y, n_bins=0)
    with pytest.raises(TypeError, match="labels"):
        fed.expected_calibration_error(x, y.astype(float))
