"""DESIGN.md §2 "Bad input": one test per applicable row of the table, each checking the
exception type and that the message names the argument (and, where there is one, the value)."""

from __future__ import annotations

import os

import math
import subprocess
import sys
import textwrap
import warnings
from typing import Any, Callable

import numpy as np
import pytest
import scipy.special
import scipy.stats

import fastentropy as fe

AxisError = getattr(getattr(np, "exceptions", np), "AxisError")

REDUCTIONS = {
    "entropy": lambda p, **kw: fe.entropy(p, **kw),
    "kl_divergence": lambda p, **kw: fe.kl_divergence(p, np.ones_like(np.asarray(p, dtype=float)), **kw),
    "cross_entropy": lambda p, **kw: fe.cross_entropy(p, np.ones_like(np.asarray(p, dtype=float)), **kw),
}
PAIRS = {"kl_divergence": fe.kl_divergence, "cross_entropy": fe.cross_entropy}


def _quiet(f: Callable[[], Any]) -> Any:
    """Runs an oracle (scipy/numpy) that warns on 0/0 or inf - inf."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f()


# --------------------------------------------------------------------------- shapes that do not broadcast

@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize(
    "p_shape, q_shape, message",
    [
        ((3,), (4,), r"`p` and `q` .*\(3,\) and \(4,\)"),
        ((2, 3), (3, 2), r"`p` and `q` .*\(2, 3\) and \(3, 2\)"),
        ((5, 4), (5,), r"`p` and `q` .*\(5, 4\) and \(5,\)"),
    ],
)
def test_shapes_that_do_not_broadcast(name: str, p_shape: Any, q_shape: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PAIRS[name](np.ones(p_shape), np.ones(q_shape))


def test_out_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"`out` .*shape.*\(3,\).*\(4,\)"):
        fe.self_information(np.ones(3), out=np.ones(4))


# --------------------------------------------------------------------------- negative probabilities

@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize(
    "p, shown",
    [
        pytest.param([0.5, -0.5], "-0.5", id="1d"),
        pytest.param([[0.5, 0.5], [1.0, -2.0]], "-2.0", id="second-row"),
        pytest.param([0.5, -np.inf], "-inf", id="minus-inf"),
        pytest.param([-1e-300, 1.0], "-1e-300", id="tiny-negative"),
        pytest.param([-5e-324, 1.0], "-5e-324", id="negative-subnormal"),
        pytest.param(np.array([0.5, -0.25], dtype=np.float32), "-0.25", id="float32"),
        pytest.param(np.array([1, -3]), "-3", id="integer"),
        pytest.param(np.array([np.nan, -1.0]), "-1.0", id="next-to-nan"),
    ],
)
def test_negative_p(name: str, p: Any, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"`p` must be non-negative.*{shown}"):
        REDUCTIONS[name](p)
    with pytest.raises(ValueError, match=rf"`p` must be non-negative.*{shown}"):
        REDUCTIONS[name](p, normalize=False)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_negative_in_long_and_strided_inputs(name: str) -> None:
    p = np.random.default_rng(0).random((3, 300_000))
    p[2, 123_457] = -0.75
    with pytest.raises(ValueError, match=r"`p` must be non-negative.*-0\.75"):
        REDUCTIONS[name](p)
    with pytest.raises(ValueError, match=r"`p` must be non-negative.*-0\.75"):
        REDUCTIONS[name](p.T, axis=0)
    with pytest.raises(ValueError, match=r"`p` must be non-negative.*-0\.75"):
        REDUCTIONS[name](p, axis=None)


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize(
    "q, shown",
    [
        pytest.param([0.5, -0.25], "-0.25", id="1d"),
        pytest.param([-np.inf, 1.0], "-inf", id="minus-inf"),
        pytest.param([[1.0, 1.0], [-3.0, 1.0]], "-3.0", id="second-row"),
    ],
)
def test_negative_q(name: str, q: Any, shown: str) -> None:
    p = np.full(np.shape(q), 0.5)
    with pytest.raises(ValueError, match=rf"`q` must be non-negative.*{shown}"):
        PAIRS[name](p, q)
    with pytest.raises(ValueError, match=rf"`q` must be non-negative.*{shown}"):
        PAIRS[name](p, q, normalize=False)


@pytest.mark.parametrize("name", list(PAIRS))
def test_negative_q_under_zero_p_is_still_an_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"`q` must be non-negative.*-1\.0"):
        PAIRS[name]([1.0, 0.0], [1.0, -1.0])


def test_negative_self_information() -> None:
    with pytest.raises(ValueError, match=r"`p` must be non-negative.*-0\.5"):
        fe.self_information([0.5, -0.5])
    with pytest.raises(ValueError, match=r"`p` must be non-negative.*-0\.5"):
        fe.self_information(np.array([[0.5, -0.5]], dtype=np.float32).T)


def test_negative_zero_is_not_negative() -> None:
    assert fe.entropy([-0.0, 1.0]) == 0.0
    assert fe.kl_divergence([-0.0, 1.0], [-0.0, 1.0]) == 0.0
    assert fe.self_information([-0.0])[0] == math.inf


# --------------------------------------------------------------------------- base

BASE_CALLS = {
    "entropy": lambda base: fe.entropy([1, 1], base=base),
    "kl_divergence": lambda base: fe.kl_divergence([1, 1], [1, 2], base=base),
    "cross_entropy": lambda base: fe.cross_entropy([1, 1], [1, 2], base=base),
    "self_information": lambda base: fe.self_information([0.5], base=base),
}


@pytest.mark.parametrize("name", list(BASE_CALLS))
@pytest.mark.parametrize(
    "base, shown",
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(0.0, "0.0", id="zero-float"),
        pytest.param(-2, "-2", id="negative"),
        pytest.param(1, "1", id="one"),
        pytest.param(1.0, "1.0", id="one-float"),
        pytest.param(math.inf, "inf", id="inf"),
        pytest.param(-math.inf, "-inf", id="minus-inf"),
        pytest.param(math.nan, "nan", id="nan"),
        pytest.param(np.float64(1.0), r".*1\.0", id="numpy-one"),
    ],
)
def test_invalid_base(name: str, base: Any, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"`base` must be positive.*got {shown}"):
        BASE_CALLS[name](base)


@pytest.mark.parametrize("name", list(BASE_CALLS))
@pytest.mark.parametrize("base", ["2", b"2", [2], True, 2 + 0j], ids=["str", "bytes", "list", "bool", "complex"])
def test_non_numeric_base(name: str, base: Any) -> None:
    with pytest.raises(TypeError, match=r"`base`"):
        BASE_CALLS[name](base)


# --------------------------------------------------------------------------- dtypes

BAD_ARRAYS = {
    "complex": np.array([0.5 + 0j, 0.5]),
    "complex64": np.array([0.5, 0.5], dtype=np.complex64),
    "object": np.array([0.5, 0.5], dtype=object),
    "object-none": np.array([0.5, None], dtype=object),
    "str": np.array(["0.5", "0.5"]),
    "bytes": np.array([b"a", b"b"]),
    "datetime": np.array(["2020-01-01", "2020-01-02"], dtype="M8[D]"),
    "timedelta": np.array([1, 2], dtype="m8[s]"),
    "structured": np.zeros(2, dtype=[("a", "f8")]),
}
ALL_CALLS = {
    "entropy": lambda p, q: fe.entropy(p),
    "kl_divergence": lambda p, q: fe.kl_divergence(p, q),
    "cross_entropy": lambda p, q: fe.cross_entropy(p, q),
    "self_information": lambda p, q: fe.self_information(p),
}


@pytest.mark.parametrize("name", list(ALL_CALLS))
@pytest.mark.parametrize("kind", list(BAD_ARRAYS))
def test_non_real_p_is_a_type_error(name: str, kind: str) -> None:
    with pytest.raises(TypeError, match=r"`p` must hold real numbers.*got dtype"):
        ALL_CALLS[name](BAD_ARRAYS[kind], np.ones(2))


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("kind", ["complex", "object", "str", "datetime"])
def test_non_real_q_is_a_type_error(name: str, kind: str) -> None:
    with pytest.raises(TypeError, match=r"`q` must hold real numbers.*got dtype"):
        PAIRS[name](np.ones(2), BAD_ARRAYS[kind])


@pytest.mark.parametrize("name", list(ALL_CALLS))
@pytest.mark.parametrize("value", [None, "abc", [[1, 2], [3]], {"a": 1}], ids=["none", "str", "ragged", "dict"])
def test_non_array_p_is_a_type_error(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=r"`p`"):
        ALL_CALLS[name](value, np.ones(2))


def test_out_of_another_dtype_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"`out` must have the dtype of `p` \(float64\), got float32"):
        fe.self_information(np.ones(3), out=np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"`out` must have the dtype of `p` \(float32\), got float64"):
        fe.self_information(np.ones(3, dtype=np.float32), out=np.ones(3))
    with pytest.raises(TypeError, match=r"`out` must be a numpy.ndarray, got list"):
        fe.self_information(np.ones(3), out=[0.0, 0.0, 0.0])


def test_read_only_out() -> None:
    out = np.zeros(3)
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"`out` must be writable"):
        fe.self_information(np.ones(3), out=out)
    p = np.full(3, 0.5)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"`out` must be writable"):
        fe.self_information(p, out=p)


@pytest.mark.parametrize("name", ["entropy", "kl_divergence", "cross_entropy"])
@pytest.mark.parametrize("value", ["yes", 1, None, np.array([True, False])], ids=["str", "int", "none", "array"])
def test_normalize_must_be_a_bool(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=r"`normalize` must be True or False"):
        REDUCTIONS[name]([1.0, 1.0], normalize=value)


def test_numpy_bool_normalize_is_accepted() -> None:
    assert fe.entropy([1.0, 3.0], normalize=np.bool_(False)) == fe.entropy([1.0, 3.0], normalize=False)


# --------------------------------------------------------------------------- NaN propagates per distribution

@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_nan_in_p_gives_nan_for_that_distribution_only(name: str, normalize: bool) -> None:
    p = np.random.default_rng(1).random((4, 9)) + 0.01
    p[1, 3] = np.nan
    result = REDUCTIONS[name](p, normalize=normalize)
    assert np.isnan(result[1])
    assert np.all(np.isfinite(result[[0, 2, 3]]))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", list(PAIRS))
def test_nan_in_q_gives_nan_for_that_distribution_only(name: str, normalize: bool) -> None:
    p = np.random.default_rng(2).random((4, 9)) + 0.01
    q = np.random.default_rng(3).random((4, 9)) + 0.01
    q[2, 0] = np.nan
    result = PAIRS[name](p, q, normalize=normalize)
    assert np.isnan(result[2])
    assert np.all(np.isfinite(result[[0, 1, 3]]))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", list(PAIRS))
def test_nan_in_q_under_zero_p_gives_nan(name: str, normalize: bool) -> None:
    """NaN in an input propagates (DESIGN.md §2), like scipy.special.rel_entr(0, nan) = nan,
    even where p is 0: 0 * log(nan) is not a known 0."""
    result = PAIRS[name]([[0.5, 0.0], [0.5, 0.5]], [[0.5, np.nan], [0.5, 0.5]], normalize=normalize)
    assert np.isnan(result[0]), result
    assert np.isfinite(result[1])


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", list(PAIRS))
def test_nan_in_p_over_zero_q_gives_nan(name: str, normalize: bool) -> None:
    """NaN in p propagates even where q is 0 (scipy.special.rel_entr(nan, 0) = nan, not inf)."""
    result = PAIRS[name]([[np.nan, 0.5], [0.5, 0.5]], [[0.0, 0.5], [0.5, 0.5]], normalize=normalize)
    assert np.isnan(result[0]), result
    assert np.isfinite(result[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [300, 5000, 200_000])
@pytest.mark.parametrize("name", list(PAIRS))
def test_long_distributions_with_a_zero_q_and_a_nan_infinite_or_zero_total(name: str, n: int, dtype: Any) -> None:
    """A q of 0 under a positive p is +inf only where both totals are finite and positive:
    a NaN (either side), an infinite mass or a zero total makes the distribution NaN
    first, as in short rows (DESIGN.md §2) — long rows, whose one-pass form returned +inf
    (the explore profile found cross_entropy(ones(270), zeros(270), axis=None) = inf)."""
    f = PAIRS[name]
    ones = np.ones(n, dtype=dtype)
    zero_q = ones.copy()
    zero_q[1] = 0.0
    cases = {"nan p": (0, np.nan, zero_q), "inf p": (0, np.inf, zero_q)}
    for label, (at, value, q) in cases.items():
        p = ones.copy()
        p[at] = value
        assert np.isnan(_quiet(lambda: f(p, q))), label
    nan_q = zero_q.copy()
    nan_q[0] = np.nan
    assert np.isnan(_quiet(lambda: f(ones, nan_q))), "nan q"
    assert np.isnan(_quiet(lambda: f(ones, np.zeros(n, dtype=dtype)))), "zero total q"
    for normalize in (True, False):
        assert f(ones, zero_q, normalize=normalize) == np.inf
    p = ones.copy()
    p[0] = np.nan
    assert np.isnan(_quiet(lambda: f(p, zero_q, normalize=False))), "nan p, raw"


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_nan_in_a_long_parallel_distribution(name: str) -> None:
    p = np.random.default_rng(4).random(500_000) + 0.01
    p[499_999] = np.nan
    assert math.isnan(REDUCTIONS[name](p))
    assert math.isnan(REDUCTIONS[name](p, normalize=False))


def test_nan_in_self_information_is_elementwise() -> None:
    r = fe.self_information(np.array([0.5, np.nan, 1.0]))
    assert np.isnan(r[1]) and np.isfinite(r[0]) and np.isfinite(r[2])


# --------------------------------------------------------------------------- empty and all-zero distributions

@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_empty_distribution_is_zero(name: str, normalize: bool) -> None:
    result = REDUCTIONS[name]([], normalize=normalize)
    assert type(result) is float and result == 0.0
    np.testing.assert_array_equal(REDUCTIONS[name](np.zeros((3, 0)), normalize=normalize), np.zeros(3))
    np.testing.assert_array_equal(REDUCTIONS[name](np.zeros((2, 0, 4)), axis=1, normalize=normalize), np.zeros((2, 4)))
    assert REDUCTIONS[name](np.zeros((0, 5)), normalize=normalize).shape == (0,)
    assert REDUCTIONS[name](np.zeros((0, 5)), axis=None, normalize=normalize) == 0.0


def test_empty_distribution_matches_scipy() -> None:
    assert fe.entropy(np.zeros((3, 0)), axis=-1).tolist() == scipy.stats.entropy(np.zeros((3, 0)), axis=-1).tolist()


def test_empty_self_information() -> None:
    r = fe.self_information(np.zeros((2, 0), dtype=np.float32))
    assert r.shape == (2, 0) and r.dtype == np.float32


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_all_zero_distribution_with_normalize_is_nan(name: str) -> None:
    result = REDUCTIONS[name](np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]))
    assert np.isnan(result[0]) and np.isfinite(result[1])
    assert math.isnan(_quiet(lambda: scipy.stats.entropy([0.0, 0.0, 0.0])))  # as scipy


@pytest.mark.parametrize("name", list(PAIRS))
def test_all_zero_q_with_normalize_is_nan(name: str) -> None:
    result = PAIRS[name]([[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]])
    assert np.isnan(result[0]) and np.isfinite(result[1])
    assert math.isnan(_quiet(lambda: scipy.stats.entropy([1.0, 1.0], [0.0, 0.0])))


def test_all_zero_distribution_without_normalize_is_zero() -> None:
    assert fe.entropy([0.0, 0.0], normalize=False) == 0.0
    assert fe.kl_divergence([0.0, 0.0], [0.0, 0.0], normalize=False) == 0.0
    assert fe.kl_divergence([0.0, 0.0], [1.0, 0.0], normalize=False) == 0.0
    assert fe.cross_entropy([0.0, 0.0], [0.0, 0.0], normalize=False) == 0.0


# --------------------------------------------------------------------------- +inf entries

INF_ROWS = [[1.0, np.inf], [np.inf, np.inf], [0.0, np.inf], [1.0, 2.0], [0.0, 0.0]]


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("p", INF_ROWS)
def test_inf_in_entropy_matches_scipy(p: Any, normalize: bool) -> None:
    expected = _quiet(lambda: scipy.stats.entropy(p) if normalize else scipy.special.entr(p).sum())
    np.testing.assert_allclose(fe.entropy(p, normalize=normalize), expected, rtol=1e-15)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("q", INF_ROWS + [[np.inf, 1.0]])
@pytest.mark.parametrize("p", INF_ROWS)
def test_inf_in_kl_matches_scipy(p: Any, q: Any, normalize: bool) -> None:
    expected = _quiet(lambda: scipy.stats.entropy(p, q) if normalize else scipy.special.rel_entr(p, q).sum())
    np.testing.assert_allclose(fe.kl_divergence(p, q, normalize=normalize), expected, rtol=1e-15)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("q", INF_ROWS + [[np.inf, 1.0]])
@pytest.mark.parametrize("p", INF_ROWS)
def test_inf_in_cross_entropy_matches_xlogy(p: Any, q: Any, normalize: bool) -> None:
    def oracle() -> Any:
        pa, qa = np.asarray(p), np.asarray(q)
        if normalize:
            pa, qa = pa / pa.sum(), qa / qa.sum()
        return -scipy.special.xlogy(pa, qa).sum()

    np.testing.assert_allclose(fe.cross_entropy(p, q, normalize=normalize), _quiet(oracle), rtol=1e-15)


def test_inf_self_information() -> None:
    assert fe.self_information(np.array([np.inf]))[0] == -math.inf
    assert fe.self_information(np.array([np.inf], dtype=np.float32))[0] == -math.inf


# --------------------------------------------------------------------------- axis

@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("shape, axis", [((2, 3), 2), ((2, 3), -3), ((4,), 1), ((), -1), ((), 0), ((2, 3, 4), 3)])
def test_axis_out_of_range(name: str, shape: Any, axis: int) -> None:
    with pytest.raises(ValueError, match=rf"`axis` {axis} is out of bounds for `p` with {len(shape)} dimension") as info:
        REDUCTIONS[name](np.ones(shape), axis=axis)
    assert isinstance(info.value, AxisError)


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("axis", [1.0, "0", True, (0, 1), [0]], ids=["float", "str", "bool", "tuple", "list"])
def test_axis_of_the_wrong_type(name: str, axis: Any) -> None:
    with pytest.raises(TypeError, match=r"`axis` must be an integer or None"):
        REDUCTIONS[name](np.ones((2, 3)), axis=axis)


# --------------------------------------------------------------------------- threads

@pytest.mark.parametrize("n", [65536, 2**64, 10**30])
def test_huge_thread_counts_are_clamped(restore_threads: int, n: int) -> None:
    """A count beyond 4x the CPUs (at least 8) is clamped, not spawned: 65536 OS threads
    used to be started under the GIL."""
    fe.set_num_threads(n)
    assert fe.get_num_threads() == max(8, 4 * (os.cpu_count() or 1))
    assert fe.entropy(np.ones((300_000, 2))).shape == (300_000,)  # the clamped pool works


@pytest.mark.parametrize(
    "n, exc, message",
    [
        pytest.param(0, ValueError, r"`n` must be at least 1, got 0", id="zero"),
        pytest.param(-1, ValueError, r"`n` must be at least 1, got -1", id="negative"),
        pytest.param(1.5, TypeError, r"`n` must be an integer, got 1.5", id="float"),
        pytest.param(2.0, TypeError, r"`n` must be an integer, got 2.0", id="integral-float"),
        pytest.param("2", TypeError, r"`n` must be an integer", id="str"),
        pytest.param(None, TypeError, r"`n` must be an integer", id="none"),
        pytest.param(True, TypeError, r"`n` must be an integer", id="bool"),
    ],
)
def test_invalid_thread_count(restore_threads: int, n: Any, exc: type, message: str) -> None:
    with pytest.raises(exc, match=message):
        fe.set_num_threads(n)
    assert fe.get_num_threads() == restore_threads


def test_numpy_integer_thread_count(restore_threads: int) -> None:
    fe.set_num_threads(np.int64(2))
    assert fe.get_num_threads() == 2


# --------------------------------------------------------------------------- no crash

def test_no_bad_input_crashes_the_interpreter() -> None:
    """Every bad input above, in a fresh interpreter: each must raise a Python exception
    (a Rust panic surfacing as pyo3's PanicException counts as a failure) or return, and
    the process must exit normally."""
    code = textwrap.dedent(
        """
        import numpy as np, fastentropy as fe
        bad = [np.array([0.5 + 0j]), np.array([None], dtype=object), np.array(["a"]),
               np.array([-1.0]), np.array([np.nan]), np.array([np.inf]), np.array([]),
               np.zeros((3, 0)), np.zeros((0, 3)), np.array(0.5), np.zeros((2, 0, 3)),
               np.broadcast_to(np.float64(-1.0), (5, 7)), np.array([[1.0, -1.0]]).T,
               np.zeros(5, dtype=np.float16), np.array([1e308, 1e308]), None, [[1], [1, 2]]]
        funcs = [lambda a: fe.entropy(a), lambda a: fe.entropy(a, axis=None),
                 lambda a: fe.entropy(a, axis=0), lambda a: fe.kl_divergence(a, a),
                 lambda a: fe.kl_divergence(a, np.ones(3)), lambda a: fe.cross_entropy(a, a, axis=0),
                 lambda a: fe.self_information(a), lambda a: fe.self_information(a, out=a),
                 lambda a: fe.entropy(a, base=1), lambda a: fe.entropy(a, axis=7)]
        n = 0
        for a in bad:
            for f in funcs:
                try:
                    f(a)
                except (ValueError, TypeError):
                    pass
                except BaseException as e:
                    raise SystemExit(f"{type(e).__name__}: {e} for {a!r}")
                n += 1
        for t in (0, -1, 1.5, None, 2**64):
            try:
                fe.set_num_threads(t)
            except (ValueError, TypeError, OverflowError):
                pass
            except BaseException as e:
                raise SystemExit(f"set_num_threads({t!r}): {type(e).__name__}: {e}")
        print("survived", n)
        """
    )
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert proc.stdout.startswith("survived")
