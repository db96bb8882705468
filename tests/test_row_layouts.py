"""The row engine's layouts and the wrappers' fast path give the same numbers.

- The Python fast path (a plain native float ndarray and an int axis go straight to the
  core) returns bit for bit what the general path returns (forced here with a NumPy
  integer axis, which the fast path does not take), and leaves every error to the general
  path.
- Every row of an (N, C) array — read as vertical groups of sixteen rows up to 256
  elements, by rows beyond — gives bit for bit the value of the same row in the (C, N)
  transpose read along axis 0, in a Fortran-ordered copy, and in a reversed view: the
  value of a row depends on the row only, never on the layout or on its neighbours.
- Rows whose dominant element holds more or less than 16/17 of the mass (the group's two
  forms of the dominant term) stay within 1e-13 of an exact reference.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import fastentropy as fe

FUNCS = ["entropy", "kl_divergence", "cross_entropy", "js_divergence", "js_distance"]


def _call(name: str, p: np.ndarray, q: np.ndarray, axis: object) -> object:
    f = getattr(fe, name)
    return f(p, axis=axis) if name == "entropy" else f(p, q, axis=axis)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_matches_the_general_path_bitwise(name: str, dtype: type) -> None:
    rng = np.random.default_rng(3)
    for shape, axis in [((10,), -1), ((10,), 0), ((7, 5), -1), ((7, 5), 0), ((3, 4, 5), 1)]:
        p = rng.random(shape).astype(dtype)
        q = rng.random(shape).astype(dtype)
        fast = _call(name, p, q, axis)
        general = _call(name, p, q, np.int64(axis))
        np.testing.assert_array_equal(np.asarray(fast), np.asarray(general))
        assert type(fast) is type(general)


@pytest.mark.parametrize("name", FUNCS)
def test_fast_path_leaves_errors_to_the_general_path(name: str) -> None:
    p = np.ones(4)
    with pytest.raises(np.exceptions.AxisError if hasattr(np, "exceptions") else ValueError):
        _call(name, p, p, 1)
    with pytest.raises(ValueError):
        _call(name, np.array([0.5, -0.5]), np.array([0.5, 0.5]), -1)
    with pytest.raises(TypeError):
        _call(name, np.ones(3, dtype=complex), np.ones(3, dtype=complex), -1)
    # a 0-d array has no axis -1
    with pytest.raises(ValueError):
        _call(name, np.array(1.0), np.array(1.0), -1)
    # non-native byte order and float16 still work (converted on the general path)
    be = np.array([1.0, 2.0, 3.0], dtype=">f8")
    assert _call(name, be, be[::-1], -1) == _call(name, be.astype(np.float64), be[::-1].astype(np.float64), -1)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 2, 3, 7, 8, 10, 17, 64, 65, 100, 256, 257, 300])
def test_every_layout_gives_the_same_bits(name: str, dtype: type, c: int) -> None:
    rng = np.random.default_rng(c)
    n = 37  # two full groups of sixteen and a partial one
    p = rng.random((n, c)).astype(dtype)
    q = rng.random((n, c)).astype(dtype)
    p[5, 0] = 0.0  # a zero somewhere
    p[9] *= 1e-30  # a tiny row
    if c > 1:
        p[11, 1] = 1e12  # a dominant element
    want = np.asarray(_call(name, p, q, -1))
    cols = _call(name, np.ascontiguousarray(p.T), np.ascontiguousarray(q.T), 0)
    np.testing.assert_array_equal(np.asarray(cols), want)
    fortran = _call(name, np.asfortranarray(p), np.asfortranarray(q), -1)
    np.testing.assert_array_equal(np.asarray(fortran), want)
    rev = _call(name, p[::-1], q[::-1], -1)
    np.testing.assert_array_equal(np.asarray(rev)[::-1], want)
    # each row alone: the same bits as in its group
    for r in (0, 5, 9, 11, 36):
        alone = _call(name, p[r : r + 1], q[r : r + 1], -1)
        np.testing.assert_array_equal(np.asarray(alone), want[r : r + 1])


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_element_rows_are_zero_nan_or_an_error(name: str, dtype: type) -> None:
    """(N, 1) rows are read straight from memory in whole groups of sixteen: a NaN or a
    zero in one group, a tiny or huge value in another, still give the row forms' values,
    and a negative anywhere is the usual ValueError."""
    n = 70
    p = np.linspace(0.5, 2.0, n, dtype=dtype).reshape(n, 1)
    q = p[::-1].copy()
    p[3, 0], q[20, 0], p[40, 0] = np.nan, 0.0, np.finfo(dtype).tiny
    got = np.asarray(_call(name, p, q, -1))
    want = np.zeros(n)
    want[3] = np.nan  # NaN propagates
    if name != "entropy":
        want[20] = np.nan  # q's row sums to zero: Q is 0/0
    for r in range(n):
        alone = np.asarray(_call(name, p[r : r + 1], q[r : r + 1], -1))
        np.testing.assert_array_equal(alone, got[r : r + 1])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], 0.0)
    cols = _call(name, np.ascontiguousarray(p.T), np.ascontiguousarray(q.T), 0)
    np.testing.assert_array_equal(np.asarray(cols), got)
    bad = p.copy()
    bad[50, 0] = -1.0
    with pytest.raises(ValueError, match="p"):
        _call(name, bad, q, -1)


@pytest.mark.parametrize("name", [f for f in FUNCS if f != "entropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [2, 3, 10, 300])
def test_views_sharing_a_start_are_not_one_input(name: str, dtype: type, c: int) -> None:
    """``x[::2]`` and ``x[:n]`` start at the same element with the same element stride but
    hold different rows; they were once read as one input (every KL row 0)."""
    rng = np.random.default_rng(c)
    n = 37
    x = rng.random((2 * n, c)).astype(dtype)
    p, q = x[::2], x[:n]
    want = np.asarray(_call(name, p.copy(), q.copy(), -1))
    assert np.all(want[1:] > 0)  # rows 1.. differ between p and q
    np.testing.assert_array_equal(np.asarray(_call(name, p, q, -1)), want)
    # and the (C, N) layout read along axis 0: columns x[:, ::2] and x[:, :n]
    xt = np.ascontiguousarray(x.T)
    np.testing.assert_array_equal(np.asarray(_call(name, xt[:, ::2], xt[:, :n], 0)), want)


def _entropy_exact(x: list[float]) -> float:
    """Entropy of the normalised x, to ~30 digits (Fractions and a log series)."""
    import decimal

    decimal.getcontext().prec = 40
    s = sum(Fraction(v) for v in x)
    h = decimal.Decimal(0)
    for v in x:
        if v == 0:
            continue
        pv = Fraction(v) / s
        d = decimal.Decimal(pv.numerator) / decimal.Decimal(pv.denominator)
        h -= d * d.ln()
    return float(h)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dominant_rows_on_both_sides_of_the_exact_form(dtype: type) -> None:
    rows = []
    for i in range(48):
        z = 0.9 * 2.0 ** (-1.1 * i)  # the other elements' mass over the dominant one
        rows.append([1.0, z, 0.0])
        rows.append([z / 4, 3.0, 3 * z / 4])
    x = np.array(rows, dtype=dtype)
    got = fe.entropy(x)
    tol = 1e-6 if dtype is np.float32 else 1e-13
    for r, row in enumerate(x.astype(np.float64).tolist()):
        want = _entropy_exact(row)
        assert math.isclose(got[r], want, rel_tol=tol, abs_tol=0.0), (row, got[r], want)
        # cross_entropy(p, p) is entropy(p) bit for bit
    np.testing.assert_array_equal(fe.cross_entropy(x, x.copy()), got)
