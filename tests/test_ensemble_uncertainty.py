"""ensemble_uncertainty: exactness against mpmath on adversarial families, properties
(hypothesis), layouts, logits, thread/ISA independence, bad input (pydantic-core style
tables) and the docstring examples."""

from __future__ import annotations

import doctest
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from _fresh import run_fresh
from hypothesis import example, given
from hypothesis import strategies as st

import fastentropy as fe
import fastentropy._ensemble
from _scorer_refs import adversarial_families, mp_uncertainty, np_entropy, np_uncertainty

FAMILIES = adversarial_families()


def rel_err(got: float, want: float) -> float:
    if want == 0.0:
        return abs(got)
    return abs(got - want) / abs(want)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_against_mpmath(name: str, dtype: Any) -> None:
    members = FAMILIES[name]
    if dtype is np.float32 and (members.max() > 1e38 or 0 < members[members > 0].min() < 1e-38):
        pytest.skip("not representable in float32")
    x = members.astype(dtype)
    got = fe.ensemble_uncertainty(x)
    want = mp_uncertainty(x)
    # DESIGN §2b: 1e-12 relative for float64 (values ≥ 1e-300), 1e-6 for float32.
    tol = 1e-12 if dtype is np.float64 else 1e-6
    for field, g, w in zip(("total", "aleatoric", "epistemic"), got, want):
        if abs(w) >= 1e-300:
            assert rel_err(g, w) <= tol, f"{name} {field}: {g!r} vs {w!r}"
        else:
            assert abs(g) <= 1e-300, f"{name} {field}: {g!r} vs {w!r}"


def test_exact_for_logits_against_mpmath() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(7, 12)) * 4
    z[:, 3] = -np.inf
    got = fe.ensemble_uncertainty(z, from_logits=True)
    want = mp_uncertainty(z, from_logits=True)
    for g, w in zip(got, want):
        assert rel_err(g, w) <= 1e-13
    # Members whose logits differ by 1e-8 (or 1e-12; some −inf): the double-double pass
    # anchors them on member 0 (x_0·(1 + expm1(Δz))) so the exp's rounding cancels.
    for scale in (1e-8, 1e-12, 1e-3):
        near = z[0] + scale * rng.standard_normal((5, 12))
        got = fe.ensemble_uncertainty(near, from_logits=True)
        want = mp_uncertainty(near, from_logits=True)
        for g, w in zip(got, want):
            assert rel_err(g, w) <= 1e-12, (scale, got, want)
        got32 = fe.ensemble_uncertainty(near.astype(np.float32), from_logits=True)
        want32 = mp_uncertainty(near.astype(np.float32), from_logits=True)
        for g, w in zip(got32, want32):
            assert rel_err(g, w) <= 1e-6 or abs(g - w) <= 1e-60, (scale, got32, want32)


def test_naive_formulas_fail_where_this_one_holds() -> None:
    """The reason for the design (README): total − aleatoric in float64 loses every digit
    of the epistemic part when the members differ by 1e-8."""
    members = FAMILIES["members differ by 1e-8"]
    want = mp_uncertainty(members)[2]
    naive = float(np_uncertainty(members[:, None, :])[2][0])
    assert rel_err(naive, want) > 1e-3
    assert rel_err(fe.ensemble_uncertainty(members).epistemic, want) <= 1e-12


# ----------------------------------------------------------------------------- properties

prob_arrays = st.integers(1, 6).flatmap(
    lambda s: st.integers(1, 9).flatmap(
        lambda c: st.lists(
            st.lists(st.floats(0.0, 1e3, allow_subnormal=False), min_size=c, max_size=c).filter(lambda r: sum(r) > 0),
            min_size=s,
            max_size=s,
        )
    )
)


@given(prob_arrays)
@example([[1.0, 0.0], [0.0, 1.0]])
@example([[1.0, 1e-300], [1.0, 2e-300]])
def test_decomposition_properties(members: Any) -> None:
    m = np.array(members, dtype=np.float64)
    u = fe.ensemble_uncertainty(m)
    assert u.epistemic >= 0.0
    q = m / m.sum(-1, keepdims=True)
    # total = H(mean of the normalised members), aleatoric = mean of the entropies, by the
    # NumPy reference that keeps confident rows exact (fastentropy.entropy's one-pass form
    # gives entropy([1, 1.5e-300]) 0.15% off: a known issue of entropy.rs, reported).
    total = np_entropy(q.mean(0))
    alea = float(np.mean([np_entropy(r) for r in q]))
    if q.max() < 0.99:
        assert math.isclose(u.total, fe.entropy(q.mean(0)), rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(u.total, total, rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(u.aleatoric, alea, rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(u.epistemic, u.total - u.aleatoric, rel_tol=1e-9, abs_tol=1e-14 * max(u.total, 1e-300))


@given(st.lists(st.floats(0.0, 1e3, allow_subnormal=False), min_size=1, max_size=20).filter(lambda r: sum(r) > 0), st.integers(1, 40))
def test_identical_members_have_zero_epistemic_uncertainty(row: Any, members: int) -> None:
    m = np.tile(np.array(row), (members, 1))
    u = fe.ensemble_uncertainty(m)
    assert u.epistemic == 0.0
    assert math.isclose(u.total, u.aleatoric, rel_tol=1e-14)
    with np.errstate(divide="ignore"):
        z = np.log(m)  # zeros become -inf logits: probability 0
    assert fe.ensemble_uncertainty(z, from_logits=True).epistemic == 0.0


def test_batch_matches_numpy_definitions() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(10), size=(30, 1000))
    u = fe.ensemble_uncertainty(p)
    t, a, e = np_uncertainty(p)
    np.testing.assert_allclose(u.total, t, rtol=1e-13)
    np.testing.assert_allclose(u.aleatoric, a, rtol=1e-13)
    np.testing.assert_allclose(u.epistemic, e, rtol=1e-10)


# ----------------------------------------------------------------------------- layouts

def test_axes_layouts_and_batch_shapes() -> None:
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(6), size=(4, 3, 5))  # (S, N1, N2, C)
    want = fe.ensemble_uncertainty(p)
    assert want.total.shape == (3, 5)
    for moved, sa, ax in [
        (np.moveaxis(p, 0, 2), 2, -1),
        (np.moveaxis(p, -1, 0), 1, 0),
        (np.asfortranarray(p), 0, 3),
        (p[:, ::-1][:, ::-1], 0, -1),
    ]:
        got = fe.ensemble_uncertainty(moved, sample_axis=sa, axis=ax)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-14)
    strided = np.repeat(p, 2, axis=-1)[..., ::2]
    for g, w in zip(fe.ensemble_uncertainty(strided), want):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    ro = p.copy()
    ro.flags.writeable = False
    assert np.array_equal(fe.ensemble_uncertainty(ro).total, want.total)


def test_dtypes_and_units() -> None:
    counts = np.array([[[3, 1], [0, 4]], [[1, 1], [2, 2]]], dtype=np.int32)
    u = fe.ensemble_uncertainty(counts, base=2)
    uf = fe.ensemble_uncertainty(counts.astype(np.float64) / counts.sum(-1, keepdims=True))
    np.testing.assert_allclose(u.total, np.asarray(uf.total) / math.log(2), rtol=1e-14)
    be = fe.ensemble_uncertainty(counts.astype(">f8"))
    np.testing.assert_allclose(be.epistemic, uf.epistemic, rtol=1e-14)
    h16 = fe.ensemble_uncertainty(counts.astype(np.float16))
    assert h16.total.dtype == np.float64


def test_logits_equal_softmax_probabilities() -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(8, 100, 10)) * 3
    p = fe.softmax(z)
    a = fe.ensemble_uncertainty(z, from_logits=True)
    b = fe.ensemble_uncertainty(p)
    for g, w in zip(a, b):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    z32 = z.astype(np.float32)
    for g, w in zip(fe.ensemble_uncertainty(z32, from_logits=True), fe.ensemble_uncertainty(fe.softmax(z32.astype(np.float64)))):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-12)


def test_special_values() -> None:
    nan = fe.ensemble_uncertainty([[0.5, math.nan], [0.5, 0.5]])
    assert all(math.isnan(v) for v in nan)
    zero_sum = fe.ensemble_uncertainty([[0.0, 0.0], [0.5, 0.5]])
    assert all(math.isnan(v) for v in zero_sum)
    assert fe.ensemble_uncertainty(np.zeros((3, 0))) == (0.0, 0.0, 0.0)
    assert fe.ensemble_uncertainty(np.ones((1, 4))).epistemic == 0.0
    all_neg_inf = fe.ensemble_uncertainty([[-math.inf, -math.inf], [0.0, 0.0]], from_logits=True)
    assert math.isnan(all_neg_inf.total)
    empty_batch = fe.ensemble_uncertainty(np.zeros((3, 0, 4)))
    assert empty_batch.total.shape == (0,)


def test_threads_give_bitwise_identical_results(restore_threads: int) -> None:
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.ones(10), size=(12, 30_011)).astype(np.float32)
    p[:, ::7] = p[:, ::7] * (1 + 1e-7)  # some rows take the double-double pass
    seen = []
    for n in (1, 2, 3):
        fe.set_num_threads(n)
        seen.append(fe.ensemble_uncertainty(p))
    for u in seen[1:]:
        for g, w in zip(u, seen[0]):
            assert np.array_equal(g, w)


@pytest.mark.parametrize("isa", ["avx2", "baseline"])
def test_lower_instruction_sets_agree(isa: str) -> None:
    code = (
        "import numpy as np, fastentropy as fe, sys\n"
        "from _scorer_refs import adversarial_families\n"
        "rng = np.random.default_rng(2)\n"
        "p = rng.dirichlet(np.ones(10), size=(9, 500))\n"
        "fams = [m for m in adversarial_families().values()]\n"
        "out = [np.stack(fe.ensemble_uncertainty(p))] + [np.array(fe.ensemble_uncertainty(m)) for m in fams]\n"
        "out.append(np.stack(fe.ensemble_uncertainty(np.log(p), from_logits=True)))\n"
        "np.save(sys.argv[1], np.concatenate([o.reshape(-1) for o in out]))\n"
        "print(fe.simd_isa())\n"
    )
    results = {}
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    for name in ("default", isa):
        env = {**os.environ, "PYTHONPATH": tests_dir}
        if name != "default":
            env["FASTENTROPY_SIMD"] = name
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"fe_ens_{name}_{os.getpid()}.npy")
        proc = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        results[name] = np.load(path)
        os.remove(path)
    np.testing.assert_allclose(results[isa], results["default"], rtol=1e-12, atol=1e-300)


# ----------------------------------------------------------------------------- bad input

BAD_INPUT = [
    ({"p": [[0.5, -0.5], [0.5, 0.5]]}, ValueError, r"`p` must be non-negative .* got -0\.5"),
    ({"p": [0.5, 0.5]}, ValueError, r"`p` must have a sample axis and a class axis"),
    ({"p": 0.5}, ValueError, r"at least 2 dimensions"),
    ({"p": np.zeros((0, 3))}, ValueError, r"at least one member along `sample_axis`"),
    ({"p": np.ones((2, 3)), "sample_axis": 1, "axis": -1}, ValueError, r"`sample_axis` and `axis` must be different"),
    ({"p": np.ones((2, 3)), "axis": 2}, np.exceptions.AxisError if hasattr(np, "exceptions") else ValueError, r"`axis` 2 is out of bounds"),
    ({"p": np.ones((2, 3)), "sample_axis": -3}, ValueError, r"`sample_axis` -3 is out of bounds"),
    ({"p": np.ones((2, 3)), "axis": None}, TypeError, r"`axis` must be an integer"),
    ({"p": np.ones((2, 3)), "sample_axis": 0.0}, TypeError, r"`sample_axis` must be an integer"),
    ({"p": np.ones((2, 3)), "base": 1}, ValueError, r"`base` must be positive"),
    ({"p": np.ones((2, 3)), "base": "2"}, TypeError, r"`base` must be a real number"),
    ({"p": np.ones((2, 3)), "from_logits": 1}, TypeError, r"`from_logits` must be True or False"),
    ({"p": np.ones((2, 3), dtype=complex)}, TypeError, r"`p` must hold real numbers"),
    ({"p": [["a", "b"]]}, TypeError, r"`p` must hold real numbers"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_INPUT)
def test_bad_input(kwargs: Any, exc: Any, match: str) -> None:
    with pytest.raises(exc, match=match):
        fe.ensemble_uncertainty(**kwargs)


def test_docstring_examples() -> None:
    result = doctest.testmod(fastentropy._ensemble, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are kB on Linux only")
def test_no_per_member_temporary_peak_rss() -> None:
    """An (S, N, C) = (30, 2·10^5, 10) float32 input (240 MB) raises the peak RSS of a fresh
    interpreter by far less than one member's (N, C) slice (8 MB) beyond the outputs
    (3 × N float64 = 4.8 MB) — the numpy expression makes several input-sized temporaries."""
    code = (
        "import json, resource, numpy as np, fastentropy as fe\n"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0\n"
        "p = np.empty((30, 200_000, 10), dtype=np.float32); p[...] = 0.1\n"
        "fe.ensemble_uncertainty(p[:, :2]); fe.ensemble_uncertainty(p[:, :2], from_logits=True)\n"
        "before = peak()\n"
        "u = fe.ensemble_uncertainty(p); v = fe.ensemble_uncertainty(p, from_logits=True)\n"
        "print(json.dumps({'before': before, 'after': peak()}))\n"
    )
    proc = run_fresh([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    m = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    growth = m["after"] - m["before"]
    assert growth < 20, f"peak RSS grew by {growth:.1f} MB for a 240 MB input"


def test_dask_blocks_give_the_local_result() -> None:
    pytest.importorskip("dask", reason="dask is not installed (pip install 'fastentropy[dask]')")
    import dask.array as da

    import fastentropy.dask as fed

    rng = np.random.default_rng(12)
    p = rng.dirichlet(np.ones(6), size=(7, 4, 50))  # (S, N1, N2, C)
    x = da.from_array(np.moveaxis(p, 0, 1), chunks=(2, 3, 20, 6))  # members on axis 1, chunked
    got = fed.ensemble_uncertainty(x, sample_axis=1)
    want = fe.ensemble_uncertainty(p)
    for g, w in zip(got, want):
        assert np.array_equal(g.compute(scheduler="threads"), w)
    one = fed.ensemble_uncertainty(da.from_array(p[:, 0, 0]), base=2)
    assert one.total.compute() == fe.ensemble_uncertainty(p[:, 0, 0], base=2).total
    with pytest.raises(ValueError, match="`sample_axis` and `axis` must be different"):
        fed.ensemble_uncertainty(x, sample_axis=3)
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(fed.ensemble_uncertainty, "ensemble_uncertainty", globs={}):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0
