"""fastentropy.kl_divergence: known values, axis, base, normalize, broadcasting, dtypes,
memory layouts, and the scipy oracles ``scipy.stats.entropy(p, q, axis=...)`` (normalize=True)
and ``scipy.special.rel_entr(p, q).sum(axis)`` (normalize=False)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
import scipy.special
import scipy.stats

import fastentropy as fe

LN2 = math.log(2.0)


def _probs(shape: Any, seed: int = 0, zeros: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    x[rng.random(shape) < zeros] = 0.0
    return x


def _pair(shape: Any, seed: int = 0) -> Any:
    """p with zeros, q strictly positive (so every divergence is finite)."""
    return _probs(shape, seed), _probs(shape, seed + 1, zeros=0.0) + 0.01


def scipy_kl(p: Any, q: Any, axis: Optional[int], base: Optional[float], normalize: bool) -> Any:
    p, q = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64))
    if axis is None:
        p, q, axis = p.reshape(-1), q.reshape(-1), -1
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if normalize:
            return scipy.stats.entropy(p, q, axis=axis, base=base)
        d = scipy.special.rel_entr(p, q).sum(axis=axis)
    return d / math.log(base) if base is not None else d


# --------------------------------------------------------------------------- known values

@pytest.mark.parametrize(
    "p, q, kwargs, expected",
    [
        pytest.param([0.5, 0.5], [0.25, 0.75], {}, 0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75), id="coins"),
        pytest.param([0.5, 0.5], [0.9, 0.1], {}, 0.5108256237659907, id="docstring"),
        pytest.param([1, 1], [1, 3], {}, 0.5 * math.log(2) + 0.5 * math.log(2 / 3), id="counts"),
        pytest.param([1, 0], [0.5, 0.5], {"base": 2}, 1.0, id="certain-vs-uniform-bits"),
        pytest.param([1, 0], [0, 1], {}, math.inf, id="disjoint-support"),
        pytest.param([0.5, 0.5], [1.0, 0.0], {}, math.inf, id="q-zero-under-p"),
        pytest.param([0.0, 1.0], [0.0, 1.0], {}, 0.0, id="shared-zero"),
        pytest.param([1.0, 0.0], [0.5, 0.0], {}, 0.0, id="p-zero-q-zero-ignored"),
        pytest.param([0.0, 1.0], [0.5, 0.5], {}, LN2, id="p-zero-q-positive"),
        pytest.param([0.5, 0.25], [0.25, 0.25], {"normalize": False}, 0.5 * LN2, id="raw"),
        pytest.param([2.0, 2.0], [1.0, 1.0], {"normalize": False}, 4 * LN2, id="raw-counts"),
        pytest.param([0.5, 0.5], [1.0, 1.0], {"normalize": False, "base": 2}, -1.0, id="raw-negative-bits"),
        pytest.param([0.1] * 10, [0.2] * 5 + [0.0] * 5, {"base": 10}, math.inf, id="inf-base10"),
        pytest.param([[1, 1], [1, 0]], [[1, 1], [1, 1]], {}, [0.0, LN2], id="rows"),
        pytest.param([[1, 1], [1, 0]], [[1, 1], [1, 1]], {"axis": 0}, [0.0, LN2], id="columns"),
    ],
)
def test_known_values(p: Any, q: Any, kwargs: Dict[str, Any], expected: Any) -> None:
    np.testing.assert_allclose(fe.kl_divergence(p, q, **kwargs), expected, rtol=1e-15, atol=1e-16)


@pytest.mark.parametrize(
    "p",
    [
        pytest.param([0.1, 0.2, 0.7], id="probs"),
        pytest.param([0.0, 3.0, 0.0, 5.0], id="counts-with-zeros"),
        pytest.param(np.array([0.1, 0.2, 0.7], dtype=np.float32), id="float32"),
        pytest.param(_probs((5, 33), seed=3), id="rows"),
        pytest.param(_probs((3, 50_000), seed=4), id="long-rows"),
        pytest.param(_probs((200_000,), seed=5), id="parallel-one-lane"),
        pytest.param(np.array([1e-310, 5e-324, 1e300]), id="extremes"),
        pytest.param(np.arange(1, 10), id="integers"),
    ],
)
@pytest.mark.parametrize("normalize", [True, False])
def test_identical_inputs_give_exactly_zero(p: Any, normalize: bool) -> None:
    for q in (p, np.array(p, copy=True), np.asarray(p, dtype=np.float64)):
        result = fe.kl_divergence(p, q, normalize=normalize)
        assert np.all(np.asarray(result) == 0.0), result
        assert not np.any(np.signbit(result)), "expected +0.0"
    assert np.all(fe.kl_divergence(p, p, base=2, normalize=normalize) == 0.0)


def test_identical_in_different_layouts_is_exactly_zero() -> None:
    p = _probs((40, 30), seed=6)
    assert np.all(fe.kl_divergence(p, np.asfortranarray(p)) == 0.0)
    assert np.all(fe.kl_divergence(p.T, np.ascontiguousarray(p.T), axis=0) == 0.0)


# --------------------------------------------------------------------------- scipy oracles

@pytest.mark.parametrize("normalize", [True, False], ids=["normalize", "raw"])
@pytest.mark.parametrize("base", [None, 2, 10, math.e], ids=["nats", "bits", "base10", "base-e"])
@pytest.mark.parametrize(
    "shape, axis",
    [
        ((17,), -1),
        ((17,), 0),
        ((17,), None),
        ((6, 11), -1),
        ((6, 11), 1),
        ((6, 11), 0),
        ((6, 11), None),
        ((3, 4, 5), -1),
        ((3, 4, 5), 0),
        ((3, 4, 5), 1),
        ((3, 4, 5), None),
        ((2, 5, 3, 4), 1),
    ],
)
def test_agrees_with_scipy(shape: Any, axis: Optional[int], base: Optional[float], normalize: bool) -> None:
    p, q = _pair(shape, seed=len(shape))
    expected = scipy_kl(p, q, axis, base, normalize)
    np.testing.assert_allclose(fe.kl_divergence(p, q, axis=axis, base=base, normalize=normalize), expected, rtol=1e-12, atol=1e-14)


def test_infinite_where_q_vanishes_under_p_agrees_with_scipy() -> None:
    p = _probs((8, 12), seed=7)
    q = _probs((8, 12), seed=8, zeros=0.3)
    for normalize in (True, False):
        np.testing.assert_allclose(fe.kl_divergence(p, q, normalize=normalize), scipy_kl(p, q, -1, None, normalize), rtol=1e-12)


# --------------------------------------------------------------------------- broadcasting

@pytest.mark.parametrize(
    "p_shape, q_shape, axis, result_shape",
    [
        pytest.param((3,), (2, 1), -1, (2,), id="q(2,1)-vs-p(3,)"),
        pytest.param((4, 5), (5,), -1, (4,), id="p(4,5)-vs-q(5,)"),
        pytest.param((5,), (4, 5), -1, (4,), id="p(5,)-vs-q(4,5)"),
        pytest.param((4, 1), (1, 5), -1, (4,), id="outer"),
        pytest.param((5, 3), (5, 1), 0, (3,), id="columns-q(5,1)"),
        pytest.param((2, 3, 4), (3, 4), 1, (2, 4), id="3d-batch"),
        pytest.param((2, 3, 4), (4,), None, None, id="axis-none"),
    ],
)
def test_broadcasting_agrees_with_scipy(p_shape: Any, q_shape: Any, axis: Optional[int], result_shape: Any) -> None:
    p = _probs(p_shape, seed=9) + 0.01
    q = _probs(q_shape, seed=10) + 0.01
    result = fe.kl_divergence(p, q, axis=axis)
    if result_shape is None:
        assert type(result) is float
    else:
        assert result.shape == result_shape
    np.testing.assert_allclose(result, scipy_kl(p, q, axis, None, True), rtol=1e-12, atol=1e-15)
    bp, bq = np.broadcast_arrays(p, q)
    np.testing.assert_array_equal(result, fe.kl_divergence(bp.copy(), bq.copy(), axis=axis))


def test_broadcast_q_of_shape_2_1_against_p_of_shape_3() -> None:
    p = np.array([0.2, 0.3, 0.5])
    q = np.array([[0.5], [2.0]])
    # each q row is constant: a uniform distribution over 3 outcomes
    expected = math.log(3) - scipy.stats.entropy(p)
    np.testing.assert_allclose(fe.kl_divergence(p, q), [expected, expected], rtol=1e-14)
    np.testing.assert_allclose(fe.kl_divergence(p, q, normalize=False), scipy.special.rel_entr(p, q).sum(-1), rtol=1e-14)


# --------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize(
    "p_dtype, q_dtype",
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.int64, np.float64),
        (np.float32, np.int32),
        (np.uint8, np.uint16),
        (np.bool_, np.float64),
        (np.float16, np.float64),
    ],
)
def test_dtypes_agree_with_float64_of_the_same_values(p_dtype: Any, q_dtype: Any) -> None:
    rng = np.random.default_rng(11)
    p = rng.integers(0, 2 if p_dtype is np.bool_ else 30, size=(4, 37)).astype(p_dtype)
    q = (rng.integers(1, 30, size=(4, 37))).astype(q_dtype)
    # a float32 q may take native f32 polynomials: within 1e-6 (DESIGN §2b)
    f32 = np.dtype(q_dtype).kind == "f" and np.dtype(q_dtype).itemsize <= 4
    for normalize in (True, False):
        result = fe.kl_divergence(p, q, normalize=normalize)
        assert result.dtype == np.float64
        expected = fe.kl_divergence(p.astype(np.float64), q.astype(np.float64), normalize=normalize)
        if f32:
            np.testing.assert_allclose(result, expected, rtol=1e-6)
        else:
            np.testing.assert_array_equal(result, expected)
        np.testing.assert_allclose(result, scipy_kl(p, q, -1, None, normalize), rtol=1e-6 if f32 else 1e-12, atol=1e-14)


# --------------------------------------------------------------------------- memory layouts

def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


LAYOUTS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contiguous": lambda a: a,
    "step-2-along-axis": lambda a: np.repeat(a, 2, axis=-1)[:, ::2],
    "step-3-rows": lambda a: np.repeat(a, 3, axis=0)[::3],
    "negative-stride-along-axis": lambda a: np.ascontiguousarray(a[:, ::-1])[:, ::-1],
    "negative-stride-rows": lambda a: np.ascontiguousarray(a[::-1])[::-1],
    "fortran-order": np.asfortranarray,
    "transposed-view": lambda a: np.ascontiguousarray(a.T).T,
    "padded-rows": lambda a: np.pad(a, ((0, 0), (0, 29)))[:, : a.shape[1]],
    "read-only": _readonly,
    "big-endian": lambda a: a.astype(">f8"),
}


@pytest.mark.parametrize("q_layout", ["contiguous", "fortran-order", "negative-stride-along-axis", "big-endian"])
@pytest.mark.parametrize("p_layout", list(LAYOUTS))
@pytest.mark.parametrize("shape", [(5, 7), (3, 20_000)], ids=["small", "multi-block"])
def test_layouts_give_bitwise_the_contiguous_result(p_layout: str, q_layout: str, shape: Any) -> None:
    p, q = _pair(shape, seed=12)
    pv, qv = LAYOUTS[p_layout](p), LAYOUTS[q_layout](q)
    for kwargs in ({}, {"normalize": False}, {"base": 2}):
        np.testing.assert_array_equal(fe.kl_divergence(pv, qv, **kwargs), fe.kl_divergence(p, q, **kwargs), err_msg=str(kwargs))
    np.testing.assert_allclose(fe.kl_divergence(pv, qv), scipy_kl(p, q, -1, None, True), rtol=1e-12)


def test_columns_and_padded_rows() -> None:
    p, q = _pair((20_000, 3), seed=13)
    np.testing.assert_array_equal(fe.kl_divergence(p, q, axis=0), fe.kl_divergence(np.ascontiguousarray(p.T), np.ascontiguousarray(q.T)))
    big_p, big_q = _pair((200, 1100), seed=14)
    pv, qv = big_p[:, :1000], big_q[:, :1000]
    np.testing.assert_allclose(fe.kl_divergence(pv, qv), scipy_kl(pv, qv, -1, None, True), rtol=1e-12)


def test_inputs_are_not_modified() -> None:
    p, q = _pair((4, 9), seed=15)
    p0, q0 = p.copy(), q.copy()
    fe.kl_divergence(p, q)
    fe.kl_divergence(p, q, axis=0, normalize=False)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)


# --------------------------------------------------------------------------- special values

def test_empty_distributions_are_zero() -> None:
    assert fe.kl_divergence([], []) == 0.0
    assert type(fe.kl_divergence([], [])) is float
    np.testing.assert_array_equal(fe.kl_divergence(np.zeros((3, 0)), np.zeros((3, 0))), np.zeros(3))


def test_non_negative_when_normalized() -> None:
    p, q = _pair((50, 20), seed=16)
    assert np.all(fe.kl_divergence(p, q) >= 0.0)
    assert np.all(fe.kl_divergence(p.astype(np.float32), q.astype(np.float32)) >= 0.0)


def test_subnormal_ratios() -> None:
    """p/q over- or underflows: the kernel must not return inf or NaN for finite divergences."""
    p = np.array([1e-300, 1.0, 5e-324])
    q = np.array([1.0, 1e-300, 1e-310])
    expected = scipy.special.rel_entr(p, q).sum()
    np.testing.assert_allclose(fe.kl_divergence(p, q, normalize=False), expected, rtol=1e-14)
    np.testing.assert_allclose(fe.kl_divergence(p, q), scipy_kl(p, q, -1, None, True), rtol=1e-13)
    big = np.array([1e300, 1e-300])
    small = np.array([1e-300, 1e300])
    # exact: ln(1e600) up to a term of order 1e-600; scipy overflows here (1e300/1e-300 = inf)
    np.testing.assert_allclose(fe.kl_divergence(big, small), 600 * math.log(10), rtol=1e-14)
