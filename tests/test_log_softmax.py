"""log_softmax and softmax (src/measures/logsumexp.rs): scipy agreement, row properties, out=."""

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
matrices = hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 70)), elements=finite)


@PROPERTY
@given(matrices)
def test_rows_logsumexp_to_zero(x):
    ls = fe.log_softmax(x)
    np.testing.assert_allclose(fe.logsumexp(ls), 0.0, atol=1e-13)
    np.testing.assert_allclose(fe.softmax(x).sum(axis=-1), 1.0, rtol=1e-13)


@PROPERTY
@given(matrices, st.lists(finite, min_size=6, max_size=6))
def test_invariant_to_a_constant_per_row(x, shifts):
    c = np.array(shifts[: x.shape[0]])[:, None]
    np.testing.assert_allclose(fe.log_softmax(x + c), fe.log_softmax(x), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(fe.softmax(x + c), fe.softmax(x), rtol=1e-9, atol=1e-12)


@PROPERTY
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=8), elements=finite), st.integers(0, 2))
def test_agrees_with_scipy(x, axis):
    axis = axis % x.ndim
    np.testing.assert_allclose(fe.log_softmax(x, axis=axis), scipy.special.log_softmax(x, axis=axis), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fe.softmax(x, axis=axis), scipy.special.softmax(x, axis=axis), rtol=1e-12, atol=1e-300)


def test_special_rows():
    x = np.array([[-math.inf, -math.inf, -math.inf], [1e30, -1e30, 1e30], [0.0, -math.inf, 0.0], [0.0, -40.0, -math.inf]])
    ls = fe.log_softmax(x)
    sm = fe.softmax(x)
    assert np.isnan(ls[0]).all() and np.isnan(sm[0]).all()
    np.testing.assert_allclose(ls[1], [-math.log(2), -2e30, -math.log(2)], rtol=1e-15)
    np.testing.assert_allclose(sm[1], [0.5, 0.0, 0.5])
    assert ls[2, 1] == -math.inf and sm[2, 1] == 0.0
    # the largest entry keeps relative precision: -log1p(exp(-40))
    assert ls[3, 0] == pytest.approx(-math.exp(-40.0), rel=1e-15)


def test_dtype_out_and_in_place():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 19)).astype(np.float32)
    r = fe.log_softmax(x)
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, scipy.special.log_softmax(x.astype(np.float64), axis=-1), rtol=2e-6, atol=2e-6)
    out = np.empty_like(x)
    assert fe.softmax(x, out=out) is out
    y = x.copy()
    assert fe.log_softmax(y, out=y) is y
    np.testing.assert_array_equal(y, r)
    z = x.copy()
    fe.softmax(z, axis=0, out=z)
    np.testing.assert_allclose(z, scipy.special.softmax(x.astype(np.float64), axis=0), rtol=2e-6)
    np.testing.assert_allclose(fe.softmax(x, axis=None), scipy.special.softmax(x.astype(np.float64), axis=None), rtol=2e-6)
    with pytest.raises(ValueError, match="`out` must have the shape"):
        fe.softmax(x, out=np.empty((5, 18), np.float32))
    with pytest.raises(TypeError, match="`out` must have the dtype"):
        fe.softmax(x, out=np.empty((5, 19), np.float64))


def test_strided_and_torch_layout_axis():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 300, 3)) * 10
    np.testing.assert_allclose(fe.log_softmax(x, axis=1), scipy.special.log_softmax(x, axis=1), rtol=1e-12, atol=1e-12)
    v = x[:, ::-2, :]
    np.testing.assert_array_equal(fe.softmax(v, axis=1), fe.softmax(np.ascontiguousarray(v), axis=1))
