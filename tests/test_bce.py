"""binary_cross_entropy_with_logits (src/measures/bce.rs, src/kernels/bce.rs): torch's
formula with weight/pos_weight, stability for large logits, gradient, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastentropy as fe
from _loss_helpers import PROPERTY


def ref(z, t, w=None, pw=None):
    """torch's definition in float64 with mpmath-free stable pieces."""
    z, t = np.asarray(z, np.float64), np.asarray(t, np.float64)
    lw = 1.0 if pw is None else (np.asarray(pw) - 1) * t + 1
    softplus_neg = np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z)))
    loss = (1 - t) * z + lw * softplus_neg
    return loss * (1.0 if w is None else w)


def test_large_logits_are_stable():
    z = np.array([80.0, -80.0, 1e4, -1e4, 1e30, -1e30, 100.0, -100.0])
    t = np.array([0.3, 0.4, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    got = fe.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[:2], [80 * 0.7, 80 * 0.4], rtol=1e-15)
    assert got[2] == 1e4 and got[3] == 1e4 and got[4] == 1e30 and got[5] == 1e30
    np.testing.assert_allclose(got[6:], math.exp(-100.0), rtol=1e-14)  # not 0: no cancellation


@PROPERTY
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 40)), elements=st.floats(-50, 50)),
    st.data(),
    st.sampled_from(["none", "mean", "sum"]),
)
def test_matches_torch_formula(z, data, reduction):
    t = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    w = data.draw(hnp.arrays(np.float64, (z.shape[0], 1), elements=st.floats(0, 2)))
    pw = data.draw(hnp.arrays(np.float64, (z.shape[1],), elements=st.floats(0.1, 3)))
    want = ref(z, t, w, pw)
    want = {"none": want, "mean": want.mean(), "sum": want.sum()}[reduction]
    got = fe.binary_cross_entropy_with_logits(z, t, weight=w, pos_weight=pw, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_gradient_agrees_with_central_differences():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 6)) * 3
    t = rng.uniform(size=(4, 6))
    pw = rng.uniform(0.5, 2, size=6)
    w = rng.uniform(0.5, 2, size=(4, 1))
    kw = dict(weight=w, pos_weight=pw, reduction="mean")
    _, grad = fe.binary_cross_entropy_with_logits(z, t, return_grad=True, **kw)
    fd = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        a, b = z.copy(), z.copy()
        a[idx] += 1e-6
        b[idx] -= 1e-6
        fd[idx] = (fe.binary_cross_entropy_with_logits(a, t, **kw) - fe.binary_cross_entropy_with_logits(b, t, **kw)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_dtypes_shapes_and_grad_out():
    z = np.linspace(-5, 5, 12, dtype=np.float32).reshape(3, 4)
    t = (z > 0).astype(np.float32)
    loss = fe.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert loss.dtype == np.float32 and loss.shape == (3, 4)
    assert type(fe.binary_cross_entropy_with_logits(z, t)) is float
    _, g = fe.binary_cross_entropy_with_logits(z, t, return_grad=True)
    assert g.dtype == np.float32
    zz = z.copy()
    _, g2 = fe.binary_cross_entropy_with_logits(zz, t, grad_out=zz)
    assert g2 is zz
    np.testing.assert_array_equal(zz, g)
    zt = np.ascontiguousarray(z.T).T  # Fortran order
    np.testing.assert_array_equal(fe.binary_cross_entropy_with_logits(zt, t, reduction="none"), loss)
    assert fe.binary_cross_entropy_with_logits(np.float64(0.0), np.float64(1.0)) == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(target=np.zeros(3)), ValueError, r"`target` must have the shape of `logits`"),
        (dict(target=np.zeros((2, 4)), weight=np.ones(3)), ValueError, r"`weight` must broadcast"),
        (dict(target=np.zeros((2, 4)), pos_weight=np.ones(5)), ValueError, r"`pos_weight` must broadcast"),
        (dict(target=np.zeros((2, 4)), reduction="mean!"), ValueError, r"`reduction` must be"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fe.binary_cross_entropy_with_logits(np.zeros((2, 4)), **kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (1000, 2), (300, 37), (20_000, 10)])
def test_contiguous_and_strided_layouts_agree(dtype, shape):
    # C-contiguous inputs run as one run of fixed blocks, anything else row by row: the
    # elementwise losses and the gradient are the same bits, the mean agrees to rounding
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    z = (rng.normal(size=shape) * 20).astype(dtype)
    t = rng.random(shape).astype(dtype)
    z.flat[0] = 800.0  # exp underflow in one element, a huge loss in another
    t.flat[0] = 0.0
    z.flat[-1] = -800.0
    w = rng.random(shape) + 0.5
    pw = rng.random(shape) * 3
    # per-class weights of shape (C,), broadcast over the rows (torch's usual pos_weight)
    wc, pwc = rng.random(shape[-1]) + 0.5, rng.random(shape[-1]) * 3
    fortran = lambda a: np.asfortranarray(a)  # noqa: E731
    for kw in ({}, dict(weight=w), dict(pos_weight=pw), dict(weight=w, pos_weight=pw), dict(pos_weight=pwc),
               dict(weight=wc, pos_weight=pwc)):
        flat_none = fe.binary_cross_entropy_with_logits(z, t, reduction="none", **kw)
        rows_none = fe.binary_cross_entropy_with_logits(
            fortran(z), fortran(t), reduction="none", **{k: fortran(v) for k, v in kw.items()}
        )
        np.testing.assert_array_equal(flat_none, rows_none)
        for reduction in ("mean", "sum"):
            a, ga = fe.binary_cross_entropy_with_logits(z, t, reduction=reduction, return_grad=True, **kw)
            b, gb = fe.binary_cross_entropy_with_logits(
                fortran(z), fortran(t), reduction=reduction, return_grad=True, **{k: fortran(v) for k, v in kw.items()}
            )
            np.testing.assert_array_equal(ga, gb)
            assert a == pytest.approx(b, rel=1e-13)
            # (the elementwise losses are rounded to the logits' dtype, the reductions are not)
            want = np.sum(flat_none.astype(np.float64))
            rel = 1e-6 if dtype == np.float32 else 1e-12
            assert a == pytest.approx(want / (z.size if reduction == "mean" else 1), rel=rel)


def test_contiguous_path_is_the_same_for_any_thread_count(restore_threads: int) -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300_007, 3)).astype(np.float32)
    t = rng.random((300_007, 3)).astype(np.float32)
    got = []
    for n in (1, 2, 3):
        fe.set_num_threads(n)
        got.append(fe.binary_cross_entropy_with_logits(z, t, return_grad=True))
    for loss, g in got[1:]:
        assert loss == got[0][0]
        np.testing.assert_array_equal(g, got[0][1])
