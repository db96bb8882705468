"""Two-element rows (a binary classifier's outputs) take closed forms in the core: entropy,
cross-entropy, KL and JS from one ratio or one determinant ad - bc. The same distributions
with a third element 0 take the general exact row form, so the two must agree to float64
rounding (a zero element contributes nothing to any of the four), at any scale, for rows,
columns and ragged rows alike (float64 rows of three, which keep the general form, are
checked the same way: zero padding changes nothing). Float32 rows of two and three
elements (a three-class model's outputs) take f32 closed forms for entropy and
cross-entropy, float32 rows of two for KL and JS too: within the float32 contract (1e-6)
of the exact value, the same bits in every layout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import fastentropy as fe

MEASURES = ["entropy", "cross_entropy", "kl_divergence", "js_divergence"]

# a value of either side: 0, or a positive float spanning the closed forms' range and beyond
values = st.one_of(
    st.just(0.0),
    st.floats(2.0**-600, 2.0**600),
    st.sampled_from([1.0, 0.5, 1e-16, 1.0 + 2**-52, 3.0]),
)


def _measure(name: str, p: Any, q: Any, **kw: Any) -> Any:
    f = getattr(fe, name)
    return f(p, **kw) if name == "entropy" else f(p, q, **kw)


def _with_zero(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.zeros((x.shape[0], 1))], axis=1)


@given(st.lists(st.tuples(values, values, values, values), min_size=1, max_size=40))
@example([(0.3, 0.7, 0.3 * 2.0**-300, 0.7 * 2.0**-300)])  # equal distributions, other scale
@example([(1.0, 1e-300, 0.5, 0.5)])  # a dominant share
@example([(2.0**-480, 1.0, 1.0, 2.0**480)])  # the edges of the closed forms' range
@example([(1.0, 0.0, 0.0, 1.0)])  # disjoint support: KL = inf, JS = ln 2
@example([(0.5, 0.5 + 1e-12, 0.5 + 1e-12, 0.5)])  # near-equal
def test_two_element_rows_equal_the_general_form(rows: list) -> None:
    _check_against_the_general_form(rows, 2, MEASURES)


@given(st.lists(st.tuples(*[values] * 6), min_size=1, max_size=40))
@example([(0.2, 0.3, 0.5, 0.2 * 2.0**-300, 0.3 * 2.0**-300, 0.5 * 2.0**-300)])  # other scale
@example([(1.0, 1e-300, 1e-200, 0.5, 0.25, 0.25)])  # a dominant share
@example([(0.25, 0.25, 0.5, 1.0, 1e-300, 1e-200)])  # a confident q
@example([(1.0, 1.0, 1.0, 1.0, 0.0, 1.0)])  # mass on an impossible outcome: inf
def test_three_element_rows_equal_the_general_form(rows: list) -> None:
    _check_against_the_general_form(rows, 3, ["entropy", "cross_entropy"])


def _check_against_the_general_form(rows: list, width: int, names: list) -> None:
    a = np.array(rows, dtype=np.float64)
    p, q = a[:, :width].copy(), a[:, width:].copy()
    p3, q3 = _with_zero(p), _with_zero(q)
    n = len(p)
    for name in names:
        with np.errstate(all="ignore"):
            got = _measure(name, p, q)
            want = _measure(name, p3, q3)
            cols = _measure(name, p.T.copy(), q.T.copy(), axis=0)
            ragged = _measure(name, p.ravel(), q.ravel(), offsets=np.arange(0, width * n + 1, width))
        np.testing.assert_array_equal(cols, got, err_msg=name)
        np.testing.assert_array_equal(ragged, got, err_msg=name)
        # where the value is within the contract's range (>= 1e-300)
        both_inf = np.isinf(got) & np.isinf(want)
        big = np.abs(want) >= 1e-300
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        with np.errstate(invalid="ignore"):  # inf - inf where both are inf
            close = np.abs(got - want) <= 1e-13 * np.abs(want)
        ok = both_inf | ~big | np.isnan(want) | close
        assert ok.all(), (name, p[~ok], q[~ok], got[~ok], want[~ok])


@pytest.mark.parametrize("name", ["kl_divergence", "js_divergence"])
def test_equal_two_element_rows_are_exactly_zero_at_any_scale(name: str) -> None:
    p = np.array([[0.3, 0.7], [1.0, 1e-40], [5.0, 3.0], [2.0**-470, 2.0**-400]])
    for k in (-400, -3, 0, 7, 400):
        q = p * 2.0**k
        assert (getattr(fe, name)(p, q) == 0.0).all()


values32 = st.one_of(st.just(0.0), st.floats(2.0**-100, 2.0**100, width=32), st.sampled_from([1.0, 0.5, 3.0]))


@given(st.lists(st.tuples(values32, values32, values32, values32), min_size=1, max_size=40))
@example([(0.3, 0.7, 0.3, 0.7)])
@example([(1.0, 1e-30, 0.5, 0.5)])
@example([(3.0, 1e-40, 3.0, 3.6e-38)])  # a subnormal weight: 2.7e-6 off in f32 lanes
def test_float32_two_element_rows_are_within_the_f32_contract(rows: list) -> None:
    _check_float32_contract(rows, 2, MEASURES)


@given(st.lists(st.tuples(*[values32] * 6), min_size=1, max_size=40))
@example([(0.2, 0.3, 0.5, 0.5, 0.3, 0.2)])
@example([(1.0, 1e-30, 1e-20, 0.5, 0.25, 0.25)])  # a confident p
@example([(0.25, 0.25, 0.5, 1.0, 1e-30, 1e-20)])  # a confident q
@example([(3.0, 1e-40, 0.0, 3.0, 3.6e-38, 1.0)])  # a subnormal weight
@example([(1.0, 1.0, 1.0, 0.5, 0.5, 0.0)])  # mass on an impossible outcome: inf
def test_float32_three_element_rows_are_within_the_f32_contract(rows: list) -> None:
    _check_float32_contract(rows, 3, ["entropy", "cross_entropy"])


def _check_float32_contract(rows: list, width: int, names: list) -> None:
    a = np.array(rows, dtype=np.float32)
    p, q = a[:, :width].copy(), a[:, width:].copy()
    for name in names:
        with np.errstate(all="ignore"):
            got = _measure(name, p, q)
            exact = _measure(name, p.astype(np.float64), q.astype(np.float64))
            close = np.abs(got - exact) <= 1e-6 * np.abs(exact)
        same = (got == exact) | (np.isnan(got) & np.isnan(exact)) | (np.abs(exact) < 1e-300)
        assert (close | same).all(), (name, p[~(close | same)], q[~(close | same)])


def _float32_rows(n: int, seed: int, width: int) -> np.ndarray:
    """n float32 rows of `width` (2 or 3) values: ordinary shares at every scale, with rows
    the f32 lane forms leave to the exact forms (NaN, an all-zero row, a share below f32's
    normal range, a total overflowing f32, a subnormal weight) and zeros sprinkled in."""
    rng = np.random.default_rng(seed)
    p = (rng.random((n, width)) * 10.0 ** rng.integers(-30, 30, (n, 1))).astype(np.float32)
    odd = [[np.nan, 1.0], [0.0, 0.0], [1.0, 1e-40], [3e38, 3e38], [0.0, 2.5], [1e-45, 1e-45]]
    odd += [[1.0, 1e-30], [3.0, 1e-40]]
    third = [0.5, 0.0, 1e-39]
    for j, i in enumerate(range(0, n, 37)):
        p[i] = (odd[j % len(odd)] + [third[j % len(third)]])[:width]
    return p


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 31, 32, 33, 67, 100, 40_000])
@pytest.mark.parametrize(
    "name, width",
    [(name, 2) for name in MEASURES] + [("entropy", 3), ("cross_entropy", 3)],
)
def test_float32_short_rows_agree_bit_for_bit_in_every_layout(name: str, n: int, width: int) -> None:
    # (N, 2) rows and the (2, N) array along axis 0 are read straight from memory, sixteen
    # rows at a time (rows of three through float32 tiles); strided and ragged rows go
    # through the engine's tile: the same bits
    p = _float32_rows(n, 1, width)
    q = p if name == "entropy" else _float32_rows(n, 2, width)
    with np.errstate(all="ignore"):
        got = _measure(name, p, q)
        layouts = {
            "columns": _measure(name, p.T.copy(), q.T.copy(), axis=0),
            "strided": _measure(name, np.repeat(p, 2, axis=0)[::2], np.repeat(q, 2, axis=0)[::2]),
            "ragged": _measure(name, p.ravel(), q.ravel(), offsets=np.arange(0, width * n + 1, width)),
            "from row 1": np.concatenate([got[:1], _measure(name, p[1:], q[1:])]) if n else got,
            "one by one": np.array([_measure(name, a, b) for a, b in zip(p[:40], q[:40])] + list(got[40:])),
        }
        exact = _measure(name, p.astype(np.float64), q.astype(np.float64))
    for layout, values in layouts.items():
        np.testing.assert_array_equal(values, got, err_msg=layout)
    # within the float32 contract of the exact value (NaN where it is NaN)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exact))
    ok = ~np.isnan(exact)
    np.testing.assert_allclose(got[ok], exact[ok], rtol=1e-6, atol=0)
    if name == "entropy":
        # the cross-entropy of a copy: the entropy's bits
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(fe.cross_entropy(p, p.copy()), got)
