"""fastentropy.cross_entropy: known values, the identity H(P,Q) = H(P) + D(P||Q), axis, base,
normalize, broadcasting, dtypes, memory layouts.

scipy has no cross-entropy; the oracles are ``scipy.stats.entropy(p) + scipy.stats.entropy(p, q)``
(normalize=True) and ``-scipy.special.xlogy(p, q).sum(axis)`` (normalize=False; xlogy(0, 0) = 0).
"""

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
    return _probs(shape, seed), _probs(shape, seed + 1, zeros=0.0) + 0.01


def reference_ce(p: Any, q: Any, axis: Optional[int], base: Optional[float], normalize: bool) -> Any:
    p, q = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64))
    if axis is None:
        p, q, axis = p.reshape(-1), q.reshape(-1), -1
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if normalize:
            p = p / p.sum(axis=axis, keepdims=True)
            q = q / q.sum(axis=axis, keepdims=True)
        h = -scipy.special.xlogy(p, q).sum(axis=axis)
    return h / math.log(base) if base is not None else h


# --------------------------------------------------------------------------- known values

@pytest.mark.parametrize(
    "p, q, kwargs, expected",
    [
        pytest.param([0, 0, 1], [0.3, 0.3, 0.4], {}, -math.log(0.4), id="seed-example"),
        pytest.param([0.5, 0.5], [0.5, 0.5], {"base": 2}, 1.0, id="self-is-entropy"),
        pytest.param([1, 0], [0.25, 0.75], {"base": 2}, 2.0, id="one-hot-bits"),
        pytest.param([1, 0], [1, 3], {"base": 2}, 2.0, id="counts"),
        pytest.param([1, 0], [0, 1], {}, math.inf, id="q-zero-under-p"),
        pytest.param([0, 1], [0, 1], {}, 0.0, id="p-zero-q-zero"),
        pytest.param([0.5, 0.25], [0.5, 0.25], {"normalize": False}, 0.5 * LN2 + 0.25 * 2 * LN2, id="raw"),
        pytest.param([2.0, 0.0], [0.5, 0.0], {"normalize": False}, 2 * LN2, id="raw-zero-terms"),
        pytest.param([1.0], [2.0], {"normalize": False}, -LN2, id="raw-negative"),
        pytest.param([[0, 1], [1, 1]], [[1, 1], [1, 1]], {"base": 2}, [1.0, 1.0], id="rows"),
        pytest.param([[0, 1], [1, 1]], [[1, 1], [1, 3]], {"axis": 0, "base": 2}, [1.0, -0.5 * math.log2(0.25) - 0.5 * math.log2(0.75)], id="columns"),
    ],
)
def test_known_values(p: Any, q: Any, kwargs: Dict[str, Any], expected: Any) -> None:
    np.testing.assert_allclose(fe.cross_entropy(p, q, **kwargs), expected, rtol=1e-15, atol=1e-16)


def test_seed_example_is_correctly_rounded() -> None:
    result = fe.cross_entropy([0, 0, 1], [0.3, 0.3, 0.4])
    assert type(result) is float
    assert result == -math.log(0.4) == 0.916290731874155


def test_cross_entropy_with_itself_is_the_entropy() -> None:
    p = _probs((6, 40), seed=1) + 0.001
    np.testing.assert_allclose(fe.cross_entropy(p, p), fe.entropy(p), rtol=1e-13)


def test_is_entropy_plus_divergence() -> None:
    p, q = _pair((20, 30), seed=2)
    for base in (None, 2):
        np.testing.assert_allclose(
            fe.cross_entropy(p, q, base=base),
            fe.entropy(p, base=base) + fe.kl_divergence(p, q, base=base),
            rtol=1e-12,
        )


# --------------------------------------------------------------------------- oracle

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
def test_agrees_with_reference(shape: Any, axis: Optional[int], base: Optional[float], normalize: bool) -> None:
    p, q = _pair(shape, seed=len(shape) + 10)
    expected = reference_ce(p, q, axis, base, normalize)
    np.testing.assert_allclose(fe.cross_entropy(p, q, axis=axis, base=base, normalize=normalize), expected, rtol=1e-12, atol=1e-14)
    if normalize:
        pa = p.reshape(-1) if axis is None else p
        qa = q.reshape(-1) if axis is None else q
        ax = -1 if axis is None else axis
        via_scipy = scipy.stats.entropy(pa, axis=ax, base=base) + scipy.stats.entropy(pa, qa, axis=ax, base=base)
        np.testing.assert_allclose(fe.cross_entropy(p, q, axis=axis, base=base), via_scipy, rtol=1e-12, atol=1e-14)


def test_infinite_where_q_vanishes_under_p() -> None:
    p = _probs((8, 12), seed=3)
    q = _probs((8, 12), seed=4, zeros=0.3)
    for normalize in (True, False):
        np.testing.assert_allclose(fe.cross_entropy(p, q, normalize=normalize), reference_ce(p, q, -1, None, normalize), rtol=1e-12)


# --------------------------------------------------------------------------- broadcasting

@pytest.mark.parametrize(
    "p_shape, q_shape, axis, result_shape",
    [
        pytest.param((3,), (2, 1), -1, (2,), id="q(2,1)-vs-p(3,)"),
        pytest.param((4, 5), (5,), -1, (4,), id="p(4,5)-vs-q(5,)"),
        pytest.param((5,), (4, 5), -1, (4,), id="p(5,)-vs-q(4,5)"),
        pytest.param((5, 3), (5, 1), 0, (3,), id="columns-q(5,1)"),
        pytest.param((2, 3, 4), (3, 4), 1, (2, 4), id="3d-batch"),
        pytest.param((2, 3, 4), (4,), None, None, id="axis-none"),
    ],
)
def test_broadcasting(p_shape: Any, q_shape: Any, axis: Optional[int], result_shape: Any) -> None:
    p = _probs(p_shape, seed=5) + 0.01
    q = _probs(q_shape, seed=6) + 0.01
    result = fe.cross_entropy(p, q, axis=axis)
    if result_shape is None:
        assert type(result) is float
    else:
        assert result.shape == result_shape
    np.testing.assert_allclose(result, reference_ce(p, q, axis, None, True), rtol=1e-12)
    bp, bq = np.broadcast_arrays(p, q)
    np.testing.assert_array_equal(result, fe.cross_entropy(bp.copy(), bq.copy(), axis=axis))


def test_one_hot_rows_against_shared_prediction() -> None:
    """(N, C) one-hot labels against one (C,) prediction: -log q[label] per row."""
    q = np.array([0.1, 0.2, 0.3, 0.4])
    labels = np.array([0, 3, 2, 2, 1])
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(fe.cross_entropy(onehot, q), -np.log(q[labels]), rtol=1e-15)


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
        (np.float16, np.float32),
    ],
)
def test_dtypes_agree_with_float64_of_the_same_values(p_dtype: Any, q_dtype: Any) -> None:
    rng = np.random.default_rng(7)
    p = rng.integers(0, 2 if p_dtype is np.bool_ else 30, size=(4, 37)).astype(p_dtype)
    q = rng.integers(1, 30, size=(4, 37)).astype(q_dtype)
    # A float32 (or float16, read as float32) q may take native f32 logarithms: within 1e-6
    # of the exact value of its data (DESIGN §2b). Otherwise the values are read as float64.
    f32 = np.dtype(q_dtype).kind == "f" and np.dtype(q_dtype).itemsize <= 4
    for normalize in (True, False):
        result = fe.cross_entropy(p, q, normalize=normalize)
        assert result.dtype == np.float64
        as_f64 = fe.cross_entropy(p.astype(np.float64), q.astype(np.float64), normalize=normalize)
        if f32:
            np.testing.assert_allclose(result, as_f64, rtol=1e-6)
        else:
            np.testing.assert_array_equal(result, as_f64)
        np.testing.assert_allclose(result, reference_ce(p, q, -1, None, normalize), rtol=1e-6 if f32 else 1e-12, atol=1e-14)


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


@pytest.mark.parametrize("q_layout", ["contiguous", "fortran-order", "step-2-along-axis", "big-endian"])
@pytest.mark.parametrize("p_layout", list(LAYOUTS))
@pytest.mark.parametrize("shape", [(5, 7), (3, 20_000)], ids=["small", "multi-block"])
def test_layouts_give_bitwise_the_contiguous_result(p_layout: str, q_layout: str, shape: Any) -> None:
    p, q = _pair(shape, seed=8)
    pv, qv = LAYOUTS[p_layout](p), LAYOUTS[q_layout](q)
    for kwargs in ({}, {"normalize": False}, {"base": 2}):
        np.testing.assert_array_equal(fe.cross_entropy(pv, qv, **kwargs), fe.cross_entropy(p, q, **kwargs), err_msg=str(kwargs))
    np.testing.assert_allclose(fe.cross_entropy(pv, qv), reference_ce(p, q, -1, None, True), rtol=1e-12)


def test_columns_and_padded_rows() -> None:
    p, q = _pair((20_000, 3), seed=9)
    np.testing.assert_array_equal(fe.cross_entropy(p, q, axis=0), fe.cross_entropy(np.ascontiguousarray(p.T), np.ascontiguousarray(q.T)))
    big_p, big_q = _pair((200, 1100), seed=10)
    pv, qv = big_p[:, :1000], big_q[:, :1000]
    np.testing.assert_allclose(fe.cross_entropy(pv, qv), reference_ce(pv, qv, -1, None, True), rtol=1e-12)


def test_inputs_are_not_modified() -> None:
    p, q = _pair((4, 9), seed=11)
    p0, q0 = p.copy(), q.copy()
    fe.cross_entropy(p, q)
    fe.cross_entropy(p, q, axis=0, normalize=False)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)


# --------------------------------------------------------------------------- special values

def test_empty_distributions_are_zero() -> None:
    assert fe.cross_entropy([], []) == 0.0
    assert type(fe.cross_entropy([], [])) is float
    np.testing.assert_array_equal(fe.cross_entropy(np.zeros((2, 0)), np.zeros((2, 0))), np.zeros(2))


def test_subnormal_and_huge_q() -> None:
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([5e-324, 1e-310, 1e300])
    np.testing.assert_allclose(fe.cross_entropy(p, q, normalize=False), reference_ce(p, q, -1, None, False), rtol=1e-14)
    # normalized q = [~0, ~0, 1]: H = ln(1e300) - 0.5 ln(5e-324) - 0.5 ln(1e-310), no overflow to inf
    expected = math.log(1e300) - 0.5 * math.log(5e-324) - 0.5 * math.log(1e-310)
    np.testing.assert_allclose(fe.cross_entropy(p, q), expected, rtol=1e-14)
