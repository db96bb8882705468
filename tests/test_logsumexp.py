"""logsumexp (src/measures/logsumexp.rs): scipy agreement, precision near 0, special rows, axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastentropy as fe
from _loss_helpers import PROPERTY

finite = st.floats(-300, 300, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ([0.0, -40.0], math.log1p(math.exp(-40.0))),  # scipy gh-18295: not 0.0
        ([0.0], 0.0),
        ([], -math.inf),
        ([-math.inf, -math.inf], -math.inf),
        ([1e30, 1e30], 1e30),
        ([1e30, -1e30], 1e30),
        ([-1e30, -1e30], -1e30 + math.log(2)),
        ([math.inf, 1.0], math.inf),
        ([3.0, 3.0, 3.0], 3.0 + math.log(3.0)),
        ([-math.inf, 0.0], 0.0),
    ],
)
def test_known_values(x, expected):
    got = fe.logsumexp(np.array(x, dtype=np.float64))
    assert type(got) is float
    if math.isinf(expected):
        assert got == expected
    else:
        assert got == pytest.approx(expected, rel=1e-15, abs=0)


def test_precision_near_zero_is_relative():
    assert fe.logsumexp([0.0, -40.0]) == pytest.approx(4.248354255291589e-18, rel=1e-15)
    assert fe.logsumexp([0.0, -700.0]) == pytest.approx(math.exp(-700.0), rel=1e-14)


def test_nan_propagates():
    assert math.isnan(fe.logsumexp([1.0, math.nan, 2.0]))


@PROPERTY
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9), elements=finite), st.integers(0, 2))
def test_agrees_with_scipy(x, axis):
    axis = axis % x.ndim
    want = scipy.special.logsumexp(x, axis=axis)
    got = fe.logsumexp(x, axis=axis)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@PROPERTY
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 70)), elements=finite), finite)
def test_shift_invariance(x, c):
    got = fe.logsumexp(x + c)
    np.testing.assert_allclose(got - c, fe.logsumexp(x), rtol=1e-12, atol=1e-9)


def test_axis_none_float32_and_strided():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 33)).astype(np.float32)
    # float32 input: the native f32 exp, within 1e-6 (DESIGN §2b; tests/test_loss_float32.py)
    assert fe.logsumexp(x, axis=None) == pytest.approx(scipy.special.logsumexp(x.astype(np.float64)), rel=1e-6)
    np.testing.assert_allclose(fe.logsumexp(x, axis=0), scipy.special.logsumexp(x.astype(np.float64), axis=0), rtol=1e-6)
    f = np.asfortranarray(x)
    np.testing.assert_array_equal(fe.logsumexp(f), fe.logsumexp(x))
    assert fe.logsumexp(x).dtype == np.float64
    big = rng.normal(size=(3, 2000))
    np.testing.assert_array_equal(fe.logsumexp(big[:, ::-1]), fe.logsumexp(big[:, ::-1].copy()))


def test_bad_input():
    with pytest.raises(TypeError, match="`x`"):
        fe.logsumexp(np.array([1 + 2j]))
    with pytest.raises(np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError):
        fe.logsumexp([1.0, 2.0], axis=3)


def test_deterministic_for_any_thread_count():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 257)) * 30
    before = fe.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            fe.set_num_threads(n)
            results.append(fe.logsumexp(x))
    finally:
        fe.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c", [2, 3, 10, 40])
def test_a_row_gives_the_same_bits_alone_and_in_a_large_batch(dtype, c):
    """Short rows run in tiles whose size follows the batch (a (10, C) call no longer
    pays for a 400-row tile); each row is one lane, so its bits must not depend on it."""
    rng = np.random.default_rng(c)
    z = (rng.standard_normal((1000, c)) * 8).astype(dtype)
    z[3, 0] = -np.inf
    z[5, :] = 2.0  # ties at the maximum
    z[7, 1] = 1e-30
    y = rng.integers(0, c, 1000)
    lse, ce = fe.logsumexp(z), fe.softmax_cross_entropy(z, y, reduction="none")
    ls = fe.log_softmax(z)
    _, grad = fe.softmax_cross_entropy(z, y, reduction="sum", return_grad=True)
    for n in (1, 7, 16, 17, 100):
        np.testing.assert_array_equal(fe.logsumexp(z[:n]), lse[:n])
        np.testing.assert_array_equal(fe.softmax_cross_entropy(z[:n], y[:n], reduction="none"), ce[:n])
        np.testing.assert_array_equal(fe.log_softmax(z[:n]), ls[:n])
        _, g = fe.softmax_cross_entropy(z[:n], y[:n], reduction="sum", return_grad=True)
        np.testing.assert_array_equal(g, grad[:n])
