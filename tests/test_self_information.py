"""fastentropy.self_information: -log(p) elementwise, in p's dtype, with base and ``out=``."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict

import numpy as np
import pytest

import fastentropy as fe

LN2 = math.log(2.0)
F64_ULP = np.finfo(np.float64).eps
F32_ULP = float(np.finfo(np.float32).eps)


def _probs(shape: Any, seed: int = 0, dtype: Any = np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    x[rng.random(shape) < 0.1] = 0.0
    return x.astype(dtype)


def reference(p: Any, base: Any = None) -> np.ndarray:
    """-ln(p)/ln(base) in float64 (numpy's log), for the exact values of p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = -np.log(np.asarray(p, dtype=np.float64))
    return r / math.log(base) if base is not None else r


# --------------------------------------------------------------------------- values

@pytest.mark.parametrize(
    "p, kwargs, expected",
    [
        pytest.param([0.5, 0.25, 1.0], {"base": 2}, [1.0, 2.0, 0.0], id="bits"),
        pytest.param([0.5], {}, [LN2], id="nats"),
        pytest.param([0.01, 0.1], {"base": 10}, [2.0, 1.0], id="base10"),
        pytest.param([math.exp(-3)], {"base": math.e}, [3.0], id="base-e"),
        pytest.param([0.0], {}, [math.inf], id="zero-is-inf"),
        pytest.param([2.0], {}, [-LN2], id="above-one-is-negative"),
        pytest.param([math.inf], {}, [-math.inf], id="inf"),
        pytest.param([5e-324], {}, [744.4400719213812], id="smallest-subnormal"),
        pytest.param([[0.5, 0.25], [0.125, 1.0]], {"base": 2}, [[1.0, 2.0], [3.0, 0.0]], id="2d"),
    ],
)
def test_known_values(p: Any, kwargs: Dict[str, Any], expected: Any) -> None:
    result = fe.self_information(np.asarray(p, dtype=np.float64), **kwargs)
    np.testing.assert_allclose(result, expected, rtol=2 * F64_ULP, atol=0)


def test_nan_propagates_elementwise() -> None:
    result = fe.self_information(np.array([0.5, np.nan, 0.25]))
    assert np.isnan(result[1])
    np.testing.assert_allclose(result[[0, 2]], [LN2, 2 * LN2], rtol=F64_ULP)


@pytest.mark.parametrize("base", [None, 2, 10, math.e, 0.5, 3.0])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (8,), (9,), (67,), (13, 17), (2, 3, 4), (300_000,)])
def test_float64_agrees_with_numpy_log(shape: Any, base: Any) -> None:
    p = _probs(shape, seed=len(shape))
    p[..., :1] = 1e-310  # a subnormal in every row
    result = fe.self_information(p, base=base)
    assert result.dtype == np.float64 and result.shape == p.shape
    # both logs are within 1 ULP of the correctly rounded value; the division adds one rounding
    np.testing.assert_allclose(result, reference(p, base), rtol=3 * F64_ULP, atol=0)


@pytest.mark.parametrize("base", [None, 2, 10])
@pytest.mark.parametrize("shape", [(7,), (67,), (13, 17), (300_000,)])
def test_float32_stays_float32(shape: Any, base: Any) -> None:
    p = _probs(shape, seed=3, dtype=np.float32)
    result = fe.self_information(p, base=base)
    assert result.dtype == np.float32 and result.shape == p.shape
    # computed in float64 and rounded once to float32: within 1 float32 ULP of the exact value
    np.testing.assert_allclose(result, reference(p, base).astype(np.float32), rtol=F32_ULP, atol=0)


@pytest.mark.parametrize(
    "dtype, result_dtype",
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.int64, np.float64),
        (np.uint8, np.float64),
        (np.bool_, np.float64),
        (np.float16, np.float16),
        (np.longdouble, np.longdouble),
        (np.dtype(">f2"), np.float16),
        (np.dtype(">f8"), np.float64),
    ],
)
def test_result_dtype(dtype: Any, result_dtype: Any) -> None:
    """Elementwise outputs keep the input's float dtype (DESIGN.md §2) — float16 and long
    double too, although they are computed in float32 / float64 (issue #12 item 8: float16
    used to come back as float32)."""
    p = np.array([1, 2, 4]).astype(dtype) if dtype is not np.bool_ else np.array([True, False])
    result = fe.self_information(p)
    assert result.dtype == result_dtype
    rtol = {np.dtype(np.float32): F32_ULP, np.dtype(np.float16): float(np.finfo(np.float16).eps)}
    np.testing.assert_allclose(result.astype(np.float64), reference(p), rtol=rtol.get(np.dtype(result_dtype), 2 * F64_ULP))
    out = np.empty(p.shape, dtype=result_dtype)
    assert fe.self_information(p, out=out) is out
    np.testing.assert_array_equal(out, result)


def test_scalar_input() -> None:
    result = fe.self_information(0.5, base=2)
    assert np.ndim(result) == 0
    assert result == 1.0
    assert fe.self_information(np.float32(0.25), base=2) == 2.0


def test_list_input() -> None:
    np.testing.assert_array_equal(fe.self_information([0.5, 0.25], base=2), [1.0, 2.0])


def test_input_is_not_modified() -> None:
    p = _probs((5, 6), seed=4)
    before = p.copy()
    fe.self_information(p)
    np.testing.assert_array_equal(p, before)


# --------------------------------------------------------------------------- layouts

def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


LAYOUTS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contiguous": lambda a: a,
    "step-2": lambda a: np.repeat(a, 2, axis=-1)[:, ::2],
    "negative-stride": lambda a: np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1],
    "fortran-order": np.asfortranarray,
    "transposed-view": lambda a: np.ascontiguousarray(a.T).T,
    "padded-rows": lambda a: np.pad(a, ((0, 0), (0, 5)))[:, : a.shape[1]],
    "read-only": _readonly,
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("shape", [(6, 11), (3, 70_000)], ids=["small", "parallel"])
def test_layouts_give_bitwise_the_contiguous_result(layout: str, dtype: Any, shape: Any) -> None:
    p = _probs(shape, seed=5, dtype=dtype)
    view = LAYOUTS[layout](p)
    for base in (None, 2):
        result = fe.self_information(view, base=base)
        assert result.shape == p.shape and result.dtype == dtype
        np.testing.assert_array_equal(result, fe.self_information(p, base=base))


# --------------------------------------------------------------------------- out=

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_out_receives_the_result(dtype: Any) -> None:
    p = _probs((4, 9), seed=6, dtype=dtype)
    out = np.full_like(p, 7.0)
    returned = fe.self_information(p, base=2, out=out)
    assert returned is out
    np.testing.assert_array_equal(out, fe.self_information(p, base=2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(4, 9), (300_000,)])
def test_out_is_p_in_place(dtype: Any, shape: Any) -> None:
    p = _probs(shape, seed=7, dtype=dtype)
    expected = fe.self_information(p)
    returned = fe.self_information(p, out=p)
    assert returned is p
    np.testing.assert_array_equal(p, expected)


def test_out_is_p_in_place_non_contiguous() -> None:
    base = _probs((6, 20), seed=8)
    view = base[::2, ::3]
    expected = fe.self_information(view.copy())
    untouched = base.copy()
    returned = fe.self_information(view, out=view)
    assert returned is view
    np.testing.assert_array_equal(view, expected)
    mask = np.ones(base.shape, dtype=bool)
    mask[::2, ::3] = False
    np.testing.assert_array_equal(base[mask], untouched[mask])


@pytest.mark.parametrize("shift", [1, 3, 8, -1, -5])
def test_out_overlapping_p(shift: int) -> None:
    """out shares memory with p but is not p: the result must be -log of the *original* p."""
    buf = _probs((4000,), seed=9) + 0.01
    original = buf.copy()
    n = buf.size - abs(shift)
    p = buf[max(-shift, 0): max(-shift, 0) + n]
    out = buf[max(shift, 0): max(shift, 0) + n]
    expected = fe.self_information(p.copy())
    fe.self_information(p, out=out)
    np.testing.assert_array_equal(out, expected)
    assert not np.shares_memory(original, buf)


def test_out_reversed_view_of_p() -> None:
    buf = _probs((1000,), seed=10) + 0.01
    expected = fe.self_information(buf.copy())[::-1]
    fe.self_information(buf, out=buf[::-1])
    np.testing.assert_array_equal(buf, expected)


@pytest.mark.parametrize("layout", ["fortran-order", "transposed-view", "step-2", "negative-stride"])
def test_out_with_other_layout(layout: str) -> None:
    p = _probs((6, 11), seed=11)
    out = LAYOUTS[layout](np.zeros_like(p))
    fe.self_information(p, out=out)
    np.testing.assert_array_equal(out, fe.self_information(p))


def test_out_with_converted_input() -> None:
    """Integer p is converted to float64, so out must be float64."""
    out = np.empty(3)
    fe.self_information(np.array([1, 2, 4]), base=2, out=out)
    np.testing.assert_array_equal(out, [0.0, -1.0, -2.0])
