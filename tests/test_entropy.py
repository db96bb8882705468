"""fastentropy.entropy: known values, axis, base, normalize, dtypes, memory layouts, scipy.

Oracles: ``scipy.stats.entropy(p, axis=...)`` (normalize=True) and
``scipy.special.entr(p).sum(axis)`` (normalize=False). Layout tests also demand the result
be *bitwise* equal to the one for a C-contiguous copy: the reduction is a fixed function of
each distribution's values (fixed blocks, fixed combine tree), whatever the strides.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
import scipy.special
import scipy.stats

import fastentropy as fe

LN2 = math.log(2.0)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _probs(shape: Any, seed: int = 0, zeros: float = 0.2) -> np.ndarray:
    """Positive values with about `zeros` of them exactly 0."""
    rng = _rng(seed)
    x = rng.random(shape)
    x[rng.random(shape) < zeros] = 0.0
    return x


def scipy_entropy(p: np.ndarray, axis: Optional[int], base: Optional[float], normalize: bool) -> Any:
    p = np.asarray(p, dtype=np.float64)
    if axis is None:
        p, axis = p.reshape(-1), -1
    if normalize:
        return scipy.stats.entropy(p, axis=axis, base=base)
    h = scipy.special.entr(p).sum(axis=axis)
    return h / math.log(base) if base is not None else h


# --------------------------------------------------------------------------- known values

@pytest.mark.parametrize(
    "p, kwargs, expected",
    [
        pytest.param([0.5, 0.5], {}, LN2, id="fair-coin-nats"),
        pytest.param([0.5, 0.5], {"base": 2}, 1.0, id="fair-coin-bits"),
        pytest.param([0.25] * 4, {"base": 2}, 2.0, id="uniform-4-bits"),
        pytest.param([1, 1, 1, 1], {"base": 2}, 2.0, id="counts-uniform-4-bits"),
        pytest.param([0.1] * 10, {"base": 10}, 1.0, id="uniform-10-base10"),
        pytest.param([0.5, 0.5], {"base": math.e}, LN2, id="base-e"),
        pytest.param([1.0, 0.0, 0.0], {}, 0.0, id="certain"),
        pytest.param([0.0, 7.0], {}, 0.0, id="certain-count"),
        pytest.param([3.0], {}, 0.0, id="single-outcome"),
        pytest.param([0.25, 0.75], {}, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), id="biased-coin"),
        pytest.param([1, 3], {}, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), id="biased-coin-counts"),
        pytest.param([0.5, 0.25], {"normalize": False}, 0.5 * LN2 + 0.25 * 2 * LN2, id="unnormalized"),
        pytest.param([2.0, 2.0], {"normalize": False}, -4 * math.log(2.0), id="unnormalized-counts"),
        pytest.param([0.5, 0.25], {"normalize": False, "base": 2}, 1.0, id="unnormalized-bits"),
        pytest.param([[1, 1, 2], [4, 0, 0]], {}, [1.0397207708399179, 0.0], id="docstring-rows"),
        pytest.param([[1, 1], [1, 3]], {"axis": 0}, [LN2, 0.5623351446188083], id="columns"),
        pytest.param([[1, 1], [1, 1]], {"axis": None, "base": 2}, 2.0, id="axis-none"),
    ],
)
def test_known_values(p: Any, kwargs: Dict[str, Any], expected: Any) -> None:
    result = fe.entropy(p, **kwargs)
    np.testing.assert_allclose(result, expected, rtol=1e-15, atol=1e-300)


def test_certain_outcome_is_exactly_zero() -> None:
    assert fe.entropy([0.0, 1.0, 0.0]) == 0.0
    assert fe.entropy([0.0, 0.3, 0.0]) == 0.0
    assert fe.entropy(np.array([0, 5, 0], dtype=np.float32), base=2) == 0.0


def test_uniform_is_log_n() -> None:
    for n in (1, 2, 3, 7, 8, 9, 64, 1000, 10_001):
        np.testing.assert_allclose(fe.entropy(np.full(n, 1.0 / n)), math.log(n), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(fe.entropy(np.ones(n)), math.log(n), rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- result types

@pytest.mark.parametrize(
    "shape, axis, result_shape",
    [
        ((5,), -1, None),
        ((5,), 0, None),
        ((5,), None, None),
        ((4, 5), -1, (4,)),
        ((4, 5), 1, (4,)),
        ((4, 5), 0, (5,)),
        ((4, 5), -2, (5,)),
        ((4, 5), None, None),
        ((2, 3, 4), -1, (2, 3)),
        ((2, 3, 4), 0, (3, 4)),
        ((2, 3, 4), 1, (2, 4)),
        ((2, 3, 4), None, None),
        ((1, 1), -1, (1,)),
    ],
)
def test_result_shape_and_type(shape: Any, axis: Optional[int], result_shape: Any) -> None:
    result = fe.entropy(_probs(shape), axis=axis)
    if result_shape is None:
        assert type(result) is float
    else:
        assert isinstance(result, np.ndarray)
        assert result.dtype == np.float64
        assert result.shape == result_shape


def test_zero_d_input_with_axis_none_is_one_outcome() -> None:
    assert fe.entropy(0.5, axis=None) == 0.0
    assert fe.entropy(np.float32(2.0), axis=None) == 0.0


# --------------------------------------------------------------------------- scipy oracle: axis x base x normalize

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
        ((6, 11), -2),
        ((6, 11), None),
        ((3, 4, 5), -1),
        ((3, 4, 5), 0),
        ((3, 4, 5), 1),
        ((3, 4, 5), 2),
        ((3, 4, 5), None),
        ((2, 5, 3, 4), 1),  # torch's (N, C, d1, d2) layout
    ],
)
def test_agrees_with_scipy(shape: Any, axis: Optional[int], base: Optional[float], normalize: bool) -> None:
    p = _probs(shape, seed=len(shape) * 100 + (axis or 0))
    result = fe.entropy(p, axis=axis, base=base, normalize=normalize)
    np.testing.assert_allclose(result, scipy_entropy(p, axis, base, normalize), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_axis_equals_moving_it_last(axis: int) -> None:
    p = _probs((3, 4, 5), seed=3)
    moved = np.ascontiguousarray(np.moveaxis(p, axis, -1))
    np.testing.assert_array_equal(fe.entropy(p, axis=axis), fe.entropy(moved, axis=-1))


def test_axis_none_equals_flattened() -> None:
    p = _probs((7, 9, 3), seed=4)
    assert fe.entropy(p, axis=None) == fe.entropy(p.ravel())
    # Other layouts are read in place, in memory order (no flattening copy): the same sum
    # in another order, so equal to rounding.
    for view in (p.T, p[::-1, :, ::-1], np.asfortranarray(p), np.broadcast_to(p[:1], (4, 9, 3))):
        flat = np.ascontiguousarray(view).ravel()
        np.testing.assert_allclose(fe.entropy(view, axis=None), fe.entropy(flat), rtol=1e-15)


def test_axis_accepts_numpy_integers() -> None:
    p = _probs((3, 4), seed=5)
    np.testing.assert_array_equal(fe.entropy(p, axis=np.int64(0)), fe.entropy(p, axis=0))


def test_class_axis_1_of_nchw_layout() -> None:
    """torch's (N, C, d) layout: one distribution per (n, d), over C."""
    p = _probs((4, 6, 3), seed=6) + 0.01
    result = fe.entropy(p, axis=1)
    assert result.shape == (4, 3)
    for n in range(4):
        for d in range(3):
            np.testing.assert_allclose(result[n, d], scipy.stats.entropy(p[n, :, d]), rtol=1e-13)


def test_rows_default_differs_from_scipy_columns_default() -> None:
    """Documented difference: axis=-1 here, axis=0 in scipy.stats.entropy."""
    p = _probs((3, 5), seed=7) + 0.01
    np.testing.assert_allclose(fe.entropy(p), scipy.stats.entropy(p, axis=1), rtol=1e-13)
    np.testing.assert_allclose(fe.entropy(p, axis=0), scipy.stats.entropy(p), rtol=1e-13)


# --------------------------------------------------------------------------- base

@pytest.mark.parametrize("base", [2, 10, math.e, 0.5, 3.7, np.float64(2.0), np.float32(10.0), np.int64(2)])
def test_base_divides_by_ln_base(base: Any) -> None:
    p = _probs((5, 13), seed=8) + 0.001
    nats = fe.entropy(p)
    np.testing.assert_allclose(fe.entropy(p, base=base), nats / math.log(float(base)), rtol=1e-14)


def test_base_below_one_gives_negative_values() -> None:
    assert fe.entropy([0.5, 0.5], base=0.5) == pytest.approx(-1.0, rel=1e-15)


# --------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize(
    "dtype", [np.float64, np.float32, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.float16, np.longdouble]
)
def test_dtypes_agree_with_float64_of_the_same_values(dtype: Any) -> None:
    counts = _rng(9).integers(0, 50, size=(6, 33)).astype(dtype)
    exact = counts.astype(np.float64)
    # float32 (and float16, read as float32) may take native f32 logarithms: within 1e-6
    # of the exact value of their data (DESIGN §2b); every other dtype is read as float64.
    rtol = 1e-6 if np.dtype(dtype).itemsize <= 4 and np.dtype(dtype).kind == "f" else 1e-15
    for normalize in (True, False):
        result = fe.entropy(counts, normalize=normalize)
        assert result.dtype == np.float64
        np.testing.assert_allclose(result, fe.entropy(exact, normalize=normalize), rtol=rtol, atol=0)


def test_float32_is_within_its_contract() -> None:
    """float32 takes its logarithms in f32 and sums in f64: within 1e-6 of the exact value
    of the f32 data (DESIGN §2b); float64 input of the same values is exact to 1e-13."""
    p = _probs((7, 1000), seed=10).astype(np.float32)
    exact = scipy.stats.entropy(p.astype(np.float64), axis=-1)
    np.testing.assert_allclose(fe.entropy(p), exact, rtol=1e-6)
    np.testing.assert_allclose(fe.entropy(p.astype(np.float64)), exact, rtol=1e-13)


def test_bool_counts() -> None:
    p = np.array([[True, True, False, True], [False, False, True, False]])
    np.testing.assert_allclose(fe.entropy(p), [math.log(3), 0.0], rtol=1e-15)
    np.testing.assert_allclose(fe.entropy(p, normalize=False), [0.0, 0.0], atol=0)


def test_python_lists_and_tuples() -> None:
    assert fe.entropy([1, 1]) == LN2
    assert fe.entropy((0.5, 0.5)) == LN2
    np.testing.assert_array_equal(fe.entropy([[1, 1], (2, 2)]), [LN2, LN2])


# --------------------------------------------------------------------------- memory layouts

def _big_padded(rows: int, cols: int) -> np.ndarray:
    return _probs((rows, cols + 100), seed=11)[:, :cols]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _unaligned(a: np.ndarray) -> np.ndarray:
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)[1:].view(a.dtype).reshape(a.shape)
    buf[...] = a
    assert not buf.flags.aligned
    return buf


LAYOUTS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contiguous": lambda a: a,
    "step-2-along-axis": lambda a: np.repeat(a, 2, axis=-1)[:, ::2],
    "step-3-rows": lambda a: np.repeat(a, 3, axis=0)[::3],
    "negative-stride-along-axis": lambda a: np.ascontiguousarray(a[:, ::-1])[:, ::-1],
    "negative-stride-rows": lambda a: np.ascontiguousarray(a[::-1])[::-1],
    "fortran-order": np.asfortranarray,
    "transposed-view": lambda a: np.ascontiguousarray(a.T).T,
    "padded-rows": lambda a: np.pad(a, ((0, 0), (0, 37)))[:, : a.shape[1]],
    "read-only": _readonly,
    "big-endian": lambda a: a.astype(">f8"),
    "big-endian-float32-exact": lambda a: a.astype(np.float32).astype(np.float64).astype(">f4"),
    "unaligned": _unaligned,
}


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
@pytest.mark.parametrize("shape", [(5, 7), (3, 20_000)], ids=["small", "multi-block"])
def test_layouts_give_bitwise_the_contiguous_result(layout: str, shape: Any) -> None:
    base = _probs(shape, seed=12)
    if layout == "big-endian-float32-exact":
        # float32 data: compared with the same float32 values in native order
        base = base.astype(np.float32)
    view = LAYOUTS[layout](base)
    np.testing.assert_array_equal(view, base)
    for kwargs in ({}, {"normalize": False}, {"base": 2}):
        np.testing.assert_array_equal(fe.entropy(view, **kwargs), fe.entropy(base, **kwargs), err_msg=str(kwargs))
    if base.size <= 1 << 15:
        # gathered in C order: bitwise the contiguous result
        assert fe.entropy(view, axis=None) == fe.entropy(base, axis=None)
    else:
        # read in place in memory order: the same sum in another order
        np.testing.assert_allclose(fe.entropy(view, axis=None), fe.entropy(base, axis=None), rtol=1e-15)
    rtol = 1e-6 if base.dtype == np.float32 else 1e-12  # DESIGN §2b for float32 data
    np.testing.assert_allclose(fe.entropy(view), scipy.stats.entropy(base.astype(np.float64), axis=-1), rtol=rtol)


def test_columns_of_a_c_array() -> None:
    """axis=0 of a C array: each distribution is strided (gathered block by block)."""
    p = _probs((20_000, 3), seed=13)
    np.testing.assert_array_equal(fe.entropy(p, axis=0), fe.entropy(np.ascontiguousarray(p.T)))
    np.testing.assert_allclose(fe.entropy(p, axis=0), scipy.stats.entropy(p, axis=0), rtol=1e-12)


def test_padded_big_rows() -> None:
    big = _probs((300, 1100), seed=14)
    view = big[:, :1000]
    np.testing.assert_array_equal(fe.entropy(view), fe.entropy(np.ascontiguousarray(view)))
    np.testing.assert_allclose(fe.entropy(view), scipy.stats.entropy(view, axis=1), rtol=1e-12)


def test_zero_stride_broadcast_view() -> None:
    row = _probs((50,), seed=15)
    view = np.broadcast_to(row, (4, 50))
    np.testing.assert_array_equal(fe.entropy(view), np.full(4, fe.entropy(row)))
    column = np.broadcast_to(row[:, None], (50, 3))
    np.testing.assert_array_equal(fe.entropy(column, axis=0), np.full(3, fe.entropy(row)))
    constant = np.broadcast_to(np.float64(0.25), (20_000,))  # a lane with stride 0
    np.testing.assert_allclose(fe.entropy(constant), math.log(20_000), rtol=1e-14)


def test_input_is_not_modified() -> None:
    p = _probs((4, 9), seed=16)
    before = p.copy()
    fe.entropy(p)
    fe.entropy(p, axis=0, normalize=False, base=2)
    np.testing.assert_array_equal(p, before)


# --------------------------------------------------------------------------- special values

def test_empty_distributions_are_zero() -> None:
    assert fe.entropy([]) == 0.0
    assert type(fe.entropy([])) is float
    np.testing.assert_array_equal(fe.entropy(np.zeros((3, 0))), np.zeros(3))
    np.testing.assert_array_equal(fe.entropy(np.zeros((0, 3)), axis=0), np.zeros(3))
    assert fe.entropy(np.zeros((0, 4))).shape == (0,)


def test_zeros_contribute_nothing() -> None:
    p = np.array([0.0, 0.2, 0.0, 0.8, 0.0])
    assert fe.entropy(p) == pytest.approx(fe.entropy([0.2, 0.8]), rel=1e-15)
    assert fe.entropy(p, normalize=False) == pytest.approx(fe.entropy([0.2, 0.8], normalize=False), rel=1e-15)


def test_negative_zero_is_zero() -> None:
    assert fe.entropy([-0.0, 1.0]) == 0.0
    assert fe.entropy([-0.0, 0.5, 0.5]) == LN2


def test_subnormal_and_huge_values() -> None:
    p = np.array([5e-324, 1e-310, 0.5, 0.5])
    np.testing.assert_allclose(fe.entropy(p), scipy.stats.entropy(p), rtol=1e-14)
    q = np.array([1e300, 1e300])
    np.testing.assert_allclose(fe.entropy(q), LN2, rtol=1e-14, atol=_one_pass_atol(q))


def _one_pass_atol(p: Any) -> float:
    """Absolute error bound of the one-pass H = (S ln S - T)/S (DESIGN.md §2): S ln S and T
    cancel, so the error is a few ULPs of ln S, not of H. scipy normalises first and is
    relatively exact; see test_huge_and_tiny_sums_lose_only_absolute_precision."""
    s = float(np.sum(np.asarray(p, dtype=np.float64)))
    return 8 * np.finfo(np.float64).eps * (1.0 + abs(math.log(s)))


@pytest.mark.parametrize(
    "p, exact",
    [
        # exact values from mpmath at 50 digits
        pytest.param([1e9, 1.0], 2.1723265815723146e-08, id="counts-1e9"),
        pytest.param([1e15, 1.0], 3.553877639491065e-14, id="counts-1e15"),
        pytest.param([1e-300, 1e-309], 2.1723265815723185e-08, id="tiny-sum"),
        pytest.param([1e300, 1e291], 2.1723265815723142e-08, id="huge-sum"),
        pytest.param([1.0, 1e-9], 2.1723265815723146e-08, id="unit-sum"),
    ],
)
def test_huge_and_tiny_sums_lose_only_absolute_precision(p: Any, exact: float) -> None:
    np.testing.assert_allclose(fe.entropy(p), exact, rtol=0, atol=_one_pass_atol(p))
