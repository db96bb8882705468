"""Drift (issue 15 item 3): ``smoothing=α`` (an additive pseudocount before normalising) on
entropy, kl_divergence, cross_entropy, js_divergence and js_distance, and
``population_stability_index`` = KL(P‖Q) + KL(Q‖P) — against scipy on the smoothed
histograms, the argument checks, the properties (symmetric, = the two divergences, 0 for
equal histograms, +inf for a one-sided empty bin), dask and the CLI measures ``psi``/``js``.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon

import fastentropy as fe

RNG = np.random.default_rng(15)
P = RNG.integers(0, 6, size=(40, 7)).astype(np.float64)
Q = RNG.integers(0, 6, size=(40, 7)).astype(np.float64)


def _norm(x: np.ndarray) -> np.ndarray:
    return x / x.sum(-1, keepdims=True)


@pytest.mark.parametrize("alpha", [0.5, 1, 1e-3, 10.0])
def test_smoothing_is_the_measure_of_the_smoothed_counts(alpha: float) -> None:
    ps, qs = P + alpha, Q + alpha
    np.testing.assert_allclose(fe.entropy(P, smoothing=alpha), scipy.stats.entropy(ps, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(fe.kl_divergence(P, Q, smoothing=alpha), scipy.stats.entropy(ps, qs, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(
        fe.cross_entropy(P, Q, smoothing=alpha), -(_norm(ps) * np.log(_norm(qs))).sum(-1), rtol=1e-13
    )
    np.testing.assert_allclose(fe.js_distance(P, Q, smoothing=alpha, base=2), jensenshannon(ps, qs, axis=-1, base=2), rtol=1e-12)
    np.testing.assert_allclose(fe.js_divergence(P, Q, smoothing=alpha), jensenshannon(ps, qs, axis=-1) ** 2, rtol=1e-12)
    # the same as adding the pseudocount yourself (both exact; the plain call may take the
    # vertical short-row kernel, so the last bit may differ)
    np.testing.assert_allclose(fe.entropy(P, smoothing=alpha), fe.entropy(P + float(alpha)), rtol=1e-14)


def test_smoothing_makes_empty_bins_finite() -> None:
    p, q = np.array([5.0, 5.0, 0.0]), np.array([4.0, 4.0, 2.0])
    assert fe.kl_divergence(q, p) == np.inf
    assert np.isfinite(fe.kl_divergence(q, p, smoothing=0.5))
    assert fe.kl_divergence(q, p, smoothing=0.0) == np.inf


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_smoothing_on_any_axis_and_layout(axis: Any) -> None:
    a = RNG.random((5, 30, 4))
    b = RNG.random((5, 30, 4))
    ref_a = np.moveaxis(a, axis, -1) if axis is not None else a.reshape(-1)
    ref_b = np.moveaxis(b, axis, -1) if axis is not None else b.reshape(-1)
    want = scipy.stats.entropy(ref_a + 0.25, ref_b + 0.25, axis=-1)
    for x in (a, np.asfortranarray(a), a[::-1][::-1]):
        np.testing.assert_allclose(fe.kl_divergence(x, b, axis=axis, smoothing=0.25), want, rtol=1e-12)
    np.testing.assert_allclose(
        fe.entropy(a.astype(np.float32), axis=axis, smoothing=0.25),
        scipy.stats.entropy(ref_a.astype(np.float32).astype(np.float64) + 0.25, axis=-1),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: fe.entropy(P, smoothing=-1.0), ValueError, r"`smoothing` must be a finite number >= 0"),
        (lambda: fe.kl_divergence(P, Q, smoothing=float("nan")), ValueError, r"`smoothing` must be a finite number >= 0"),
        (lambda: fe.js_divergence(P, Q, smoothing=float("inf")), ValueError, r"`smoothing`"),
        (lambda: fe.cross_entropy(P, Q, smoothing=10**400), ValueError, r"`smoothing`"),
        (lambda: fe.js_distance(P, Q, smoothing=1.0, normalize=False), ValueError, r"`smoothing` needs normalize=True"),
        (lambda: fe.entropy(P, smoothing=0.5, normalize=False), ValueError, r"`smoothing` needs normalize=True"),
        (lambda: fe.kl_divergence(P, Q, smoothing=0.5, from_logits=True), ValueError, r"`smoothing` applies to probabilities"),
        (lambda: fe.entropy(P, smoothing=True), TypeError, r"`smoothing` must be a real number"),
        (lambda: fe.entropy(P, smoothing="1"), TypeError, r"`smoothing` must be a real number"),
        (lambda: fe.population_stability_index(P, Q, smoothing=-0.5), ValueError, r"`smoothing`"),
        (lambda: fe.entropy([0.5, -0.25], smoothing=1.0), ValueError, r"`p`.*-0\.25"),
        (lambda: fe.kl_divergence([0.5, 0.5], [1.0, -0.5], smoothing=1.0), ValueError, r"`q`.*-0\.5"),
        (lambda: fe.population_stability_index([1.0, -2.0], [1.0, 1.0]), ValueError, r"`p`"),
        # native float arrays with a plain pseudocount: the small-call fast path's errors
        (lambda: fe.entropy(np.array([0.5, -0.25]), smoothing=1.0), ValueError, r"`p`.*-0\.25"),
        (lambda: fe.kl_divergence(np.array([[0.5, 0.5]]), np.array([[1.0, -0.5]]), smoothing=1.0), ValueError, r"`q`.*-0\.5"),
        (lambda: fe.js_distance(np.ones(3), np.ones(3), smoothing=1.0, from_logits=True), ValueError, r"`smoothing` applies to probabilities"),
        (lambda: fe.cross_entropy(np.ones(3), np.ones(3), smoothing=-2), ValueError, r"`smoothing` must be a finite number >= 0"),
        (lambda: fe.kl_divergence(np.ones(3), np.ones(3), smoothing=None), TypeError, r"`smoothing` must be a real number"),
        (lambda: fe.entropy(np.ones(3), smoothing=None), TypeError, r"`smoothing` must be a real number"),
        (lambda: fe.population_stability_index(np.zeros((2, 3)), np.zeros((4, 3))), ValueError, r"broadcastable"),
    ],
)
def test_bad_options_are_named(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


SMOOTHED = [fe.entropy, fe.kl_divergence, fe.cross_entropy, fe.js_divergence, fe.js_distance]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", SMOOTHED, ids=lambda f: f.__name__)
def test_a_plain_pseudocount_takes_the_fast_path_with_the_general_paths_bits(f: Any, dtype: Any) -> None:
    """A plain float / int ``smoothing`` on native float arrays takes the small-call fast
    path (a 10-bin call ~3 µs → under 1 µs); a NumPy scalar of the same value takes the
    general path: the same values bit for bit, and the same result type, in every layout."""
    rng = np.random.default_rng(17)
    a = rng.integers(0, 6, size=(6, 10)).astype(dtype)
    b = rng.integers(0, 6, size=(6, 10)).astype(dtype)
    a[1, 3] = a[2, 4] = np.nan  # NaN rows: NaN on both paths
    fast = getattr(fe._core, f.__name__ + "_fast")
    layouts = [(a[2], b[2], -1), (a, b, -1), (a, b, 0), (a.T, b.T, 1), (a[:, ::2], b[:, ::2], -1), (a[None], b[None], 1)]
    for x, y, axis in layouts:
        args = (x,) if f is fe.entropy else (x, y)
        for alpha, general in [(1.0, np.float64(1.0)), (2, np.int64(2)), (0.25, np.float32(0.25))]:
            for base in (None, 2.0):
                got = f(*args, axis=axis, base=base, smoothing=alpha)
                want = f(*args, axis=axis, base=base, smoothing=general)
                assert type(got) is type(want), (f.__name__, axis, alpha)
                assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (f.__name__, axis, alpha, got, want)
                # and it was the fast path that gave it
                direct = fast(*args, axis, base, False, alpha)
                assert direct is not None and np.asarray(direct).tobytes() == np.asarray(got).tobytes()


def test_smoothing_zero_is_the_plain_measure_whatever_its_type() -> None:
    for zero in (0, 0.0, np.float64(0.0), np.int64(0)):
        np.testing.assert_array_equal(fe.kl_divergence(P, Q, smoothing=zero), fe.kl_divergence(P, Q))
        np.testing.assert_array_equal(fe.entropy(P, smoothing=zero, normalize=False), fe.entropy(P, normalize=False))


# ------------------------------------------------------------------------------- PSI


def psi_reference(p: np.ndarray, q: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    P, Q = _norm(p + alpha), _norm(q + alpha)
    with np.errstate(all="ignore"):
        terms = np.where((P == 0) & (Q == 0), 0.0, (P - Q) * (np.log(P) - np.log(Q)))
    return terms.sum(-1)


def test_psi_known_values_and_conventions() -> None:
    assert fe.population_stability_index([50, 30, 20], [40, 35, 25]) == pytest.approx(
        float(psi_reference(np.array([50.0, 30, 20]), np.array([40.0, 35, 25]))), rel=1e-14
    )
    # an empty bin on one side only: +inf without smoothing (documented), finite with it
    assert fe.population_stability_index([5, 5, 0], [4, 4, 2]) == np.inf
    assert fe.population_stability_index([4, 4, 2], [5, 5, 0]) == np.inf
    got = fe.population_stability_index([5, 5, 0], [4, 4, 2], smoothing=0.5)
    assert got == pytest.approx(float(psi_reference(np.array([5.0, 5, 0]), np.array([4.0, 4, 2]), 0.5)), rel=1e-14)
    # bins empty on both sides contribute nothing
    assert fe.population_stability_index([5, 0, 5], [4, 0, 6]) == pytest.approx(
        fe.population_stability_index([5, 5], [4, 6]), rel=1e-15
    )
    assert fe.population_stability_index([3, 1, 2], [3, 1, 2]) == 0.0
    assert fe.population_stability_index([3, 1, 2], [6, 2, 4]) == 0.0  # the same distribution
    assert np.isnan(fe.population_stability_index([0, 0], [1, 1]))
    assert np.isnan(fe.population_stability_index([np.nan, 1], [1, 1]))
    assert fe.population_stability_index(np.zeros((3, 0)), np.zeros((3, 0))).tolist() == [0.0, 0.0, 0.0]
    assert fe.population_stability_index([1, 3], [3, 1], base=2) == pytest.approx(
        fe.population_stability_index([1, 3], [3, 1]) / np.log(2), rel=1e-15
    )


counts = arrays(np.float64, (4, 6), elements=st.integers(0, 50).map(float))


@given(counts, counts, st.sampled_from([0.0, 0.5, 1.0]))
@example(np.zeros((4, 6)) + 1, np.zeros((4, 6)) + 1, 0.0)
def test_property_psi_is_symmetric_and_the_sum_of_both_divergences(p: np.ndarray, q: np.ndarray, alpha: float) -> None:
    a = fe.population_stability_index(p, q, smoothing=alpha)
    b = fe.population_stability_index(q, p, smoothing=alpha)
    np.testing.assert_array_equal(a, b)  # bit for bit
    kl = fe.kl_divergence(p, q, smoothing=alpha) + fe.kl_divergence(q, p, smoothing=alpha)
    np.testing.assert_allclose(a, kl, rtol=1e-14, atol=0)
    with np.errstate(all="ignore"):
        want = psi_reference(p, q, alpha)
    np.testing.assert_allclose(a, want, rtol=1e-12, atol=1e-15)
    assert np.all((a >= 0) | np.isnan(a))


def test_psi_axis_broadcast_and_masked() -> None:
    ref = RNG.integers(1, 20, size=10).astype(float)
    cur = RNG.integers(0, 20, size=(6, 10)).astype(float)
    np.testing.assert_array_equal(
        fe.population_stability_index(cur, ref, smoothing=0.5),
        fe.population_stability_index(cur, np.tile(ref, (6, 1)), smoothing=0.5),
    )
    np.testing.assert_allclose(
        fe.population_stability_index(cur.T, ref[:, None], axis=0, smoothing=0.5),
        fe.population_stability_index(cur, ref, smoothing=0.5),
        rtol=1e-15,
    )
    whole = fe.population_stability_index(cur, cur[::-1], axis=None, smoothing=1)
    assert whole == pytest.approx(float(psi_reference(cur.ravel(), cur[::-1].ravel(), 1.0)), rel=1e-13)


def test_dask_smoothing_is_bitwise_local() -> None:
    da = pytest.importorskip("dask.array")
    import fastentropy.dask as fed

    pd, qd = da.from_array(P, chunks=(9, 3)), da.from_array(Q, chunks=(13, 7))
    np.testing.assert_array_equal(fed.entropy(pd, smoothing=0.5).compute(), fe.entropy(P, smoothing=0.5))
    np.testing.assert_array_equal(fed.kl_divergence(pd, qd, smoothing=1).compute(), fe.kl_divergence(P, Q, smoothing=1))
    np.testing.assert_array_equal(fed.cross_entropy(pd, qd, smoothing=1).compute(), fe.cross_entropy(P, Q, smoothing=1))
    with pytest.raises(ValueError, match="`smoothing` needs normalize=True"):
        fed.entropy(pd, smoothing=0.5, normalize=False)


def _cli(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "fastentropy", "score", *args], capture_output=True, text=True, timeout=120)


def test_cli_psi_js_and_smoothing(tmp_path: Any) -> None:
    np.save(tmp_path / "p.npy", P)
    np.save(tmp_path / "q.npy", Q)
    np.save(tmp_path / "ref.npy", Q[0])
    p, q = str(tmp_path / "p.npy"), str(tmp_path / "q.npy")
    out = str(tmp_path / "out.npy")
    r = _cli(p, "--measure", "psi", "--q", q, "--smoothing", "0.5", "--out", out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), fe.population_stability_index(P, Q, smoothing=0.5))
    r = _cli(p, "--measure", "psi", "--q", str(tmp_path / "ref.npy"), "--out", out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), fe.population_stability_index(P, Q[0]))
    r = _cli(p, "--measure", "js", "--q", q, "--base", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), fe.js_divergence(P, Q, base=2))
    r = _cli(p, "--smoothing", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), fe.entropy(P, smoothing=1))
    for bad, message in (
        (["--measure", "psi"], "needs --q"),
        (["--measure", "psi", "--q", q, "--smoothing", "-1"], "--smoothing must be a finite number"),
        (["--measure", "psi", "--q", q, "--from-logits"], "--from-logits is for"),
        (["--measure", "js", "--q", q, "--from-logits", "--smoothing", "1"], "not to logits"),
    ):
        r = _cli(p, *bad)
        assert r.returncode == 2 and message in r.stderr, (bad, r.stderr)


@pytest.mark.parametrize("c", [1, 2, 3, 10, 40, 300])
def test_float64_smoothing_is_the_measure_of_x_plus_alpha_bit_for_bit(c: int) -> None:
    # Smoothed rows take the measures' own row engine (short rows in groups of sixteen,
    # longer ones row by row) with the pseudocount added to the float64 values: the same
    # operations as the plain call on x + alpha, so the same bits, at every row length.
    rng = np.random.default_rng(c)
    p = rng.integers(0, 5, size=(37, c)).astype(np.float64)
    q = rng.integers(0, 5, size=(37, c)).astype(np.float64)
    a = 0.5
    pairs = [
        (fe.entropy(p, smoothing=a), fe.entropy(p + a)),
        (fe.kl_divergence(p, q, smoothing=a), fe.kl_divergence(p + a, q + a)),
        (fe.cross_entropy(p, q, smoothing=a), fe.cross_entropy(p + a, q + a)),
        (fe.js_divergence(p, q, smoothing=a), fe.js_divergence(p + a, q + a)),
        (fe.js_distance(p, q, smoothing=a), fe.js_distance(p + a, q + a)),
        (
            fe.population_stability_index(p, q, smoothing=a),
            fe.kl_divergence(p + a, q + a) + fe.kl_divergence(q + a, p + a),
        ),
    ]
    for got, want in pairs:
        assert np.array_equal(got, want), (c, got[:3], want[:3])
    # and each row alone (1-D calls) gives the bits of its row
    for r in (0, 17, 36):
        assert fe.kl_divergence(p[r], q[r], smoothing=a) == fe.kl_divergence(p, q, smoothing=a)[r]


def test_psi_of_ragged_rows_equals_each_dense_row() -> None:
    """PSI takes the ragged layouts of the other measures (issue 16): 1-D values with
    `offsets=`, Arrow list columns, scipy.sparse, the Polars namespace and the CLI on a
    Parquet list column — each row bitwise the dense PSI of that row (empty rows 0, as
    `offsets=` gives every measure; null rows NaN)."""
    rng = np.random.default_rng(16)
    lengths = [3, 3, 1, 0, 4, 10, 17, 40, 2]
    rows_p = [rng.integers(0, 6, n).astype(float) for n in lengths]
    rows_q = [rng.integers(0, 6, n).astype(float) + (k % 2) for k, n in enumerate(lengths)]
    rows_p[1][2] = 0.0  # an empty bin on one side: +inf without smoothing
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    v, w = np.concatenate(rows_p), np.concatenate(rows_q)
    for alpha, base in ((0.0, None), (0.5, 2.0)):
        want = np.array([
            fe.population_stability_index(a, b, smoothing=alpha, base=base) if a.size else 0.0
            for a, b in zip(rows_p, rows_q)
        ])
        got = fe.population_stability_index(v, w, offsets=offsets, smoothing=alpha, base=base)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            fe.population_stability_index(w, v, offsets=offsets, smoothing=alpha, base=base), want
        )  # symmetric bit for bit
        pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[arrow]')")
        P = pa.array([list(r) for r in rows_p] + [None], type=pa.list_(pa.float64()))
        Q = pa.array([list(r) for r in rows_q] + [[1.0]], type=pa.list_(pa.float64()))
        np.testing.assert_array_equal(
            fe.population_stability_index(P, Q, smoothing=alpha, base=base), np.append(want, np.nan)
        )
    dense_p = np.zeros((len(lengths), max(lengths)))
    dense_q = np.ones_like(dense_p)
    for r, (a, b) in enumerate(zip(rows_p, rows_q)):
        dense_p[r, : a.size], dense_q[r, : b.size] = a + 1, b + 1
    sparse = pytest.importorskip("scipy.sparse")
    np.testing.assert_array_equal(
        fe.population_stability_index(sparse.csr_array(dense_p), sparse.csr_array(dense_q)),
        fe.population_stability_index(dense_p, dense_q),
    )
    with pytest.raises(ValueError, match="offsets="):
        fe.population_stability_index(v, w, offsets=offsets, axis=0)


def test_polars_namespace_and_cli_take_psi_of_list_columns(tmp_path: Any) -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'fastentropy[polars]')")
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[arrow]')")
    import pyarrow.parquet as pq

    import fastentropy.polars  # noqa: F401

    p = [[50.0, 30.0, 20.0], [5.0, 5.0, 0.0], [1.0], None, [3.0, 0.0, 1.0, 4.0]]
    q = [[40.0, 35.0, 25.0], [4.0, 4.0, 2.0], [2.0], [1.0], [1.0, 1.0, 1.0, 1.0]]
    want = [fe.population_stability_index(a, b, smoothing=0.5) if a else None for a, b in zip(p, q)]
    df = pl.DataFrame({"p": p, "q": q})
    expr = pl.col("p").fe.population_stability_index(pl.col("q"), smoothing=0.5)
    assert df.select(expr).to_series().to_list() == want
    assert df.lazy().select(expr).collect(engine="streaming").to_series().to_list() == want
    pq.write_table(pa.table({"p": pa.array(p)}), tmp_path / "p.parquet")
    pq.write_table(pa.table({"p": pa.array(q)}), tmp_path / "q.parquet")
    r = subprocess.run(
        [sys.executable, "-m", "fastentropy", "score", str(tmp_path / "p.parquet"), "--measure", "psi",
         "--q", str(tmp_path / "q.parquet"), "--smoothing", "0.5"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.array(r.stdout.split(), dtype=float), [np.nan if v is None else v for v in want])
