"""nll_loss (src/measures/nll_loss.rs): exact seed value, torch rules, gradient, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastentropy as fe
from _loss_helpers import log_softmax_ref, torch_ce_ref


def test_seed_example_is_exactly_minus_ln_0_4():
    got = fe.nll_loss(np.log([[0.3, 0.3, 0.4]]), [2])
    assert type(got) is float
    assert got == -math.log(0.4)
    assert repr(got) == "0.916290731874155"


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_softmax_ce_on_log_softmax(reduction, weighted):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(30, 6))
    y = rng.integers(0, 6, size=30)
    y[::4] = -100
    w = rng.uniform(0.1, 2, size=6) if weighted else None
    got = fe.nll_loss(log_softmax_ref(z), y, weight=w, reduction=reduction)
    np.testing.assert_allclose(got, torch_ce_ref(z, y, w, reduction=reduction), rtol=1e-12)


def test_gradient_and_in_place():
    lp = np.log(np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]))
    y = np.array([1, -100, 0])
    w = np.array([2.0, 0.5])
    loss, grad = fe.nll_loss(lp, y, weight=w, return_grad=True)
    assert loss == pytest.approx((-0.5 * math.log(0.8) - 2 * math.log(0.9)) / 2.5, rel=1e-15)
    np.testing.assert_allclose(grad, [[0, -0.2], [0, 0], [-0.8, 0]], rtol=1e-15)
    lp2 = lp.copy()
    loss2, g2 = fe.nll_loss(lp2, y, weight=w, grad_out=lp2)
    assert g2 is lp2 and loss2 == loss
    np.testing.assert_array_equal(lp2, grad)


def test_axis1_and_all_ignored():
    lp = np.log(np.full((2, 4, 3), 0.25))
    y = np.zeros((2, 3), dtype=np.int32)
    assert fe.nll_loss(lp, y, axis=1) == pytest.approx(math.log(4), rel=1e-15)
    assert math.isnan(fe.nll_loss(lp, np.full((2, 3), -100), axis=1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(target=[0, 5]), ValueError, r"`target` has label 5 at position \(1,\), outside \[0, 3\)"),
        (dict(target=[0.0, 1.0]), TypeError, r"`target` must hold integer class indices"),
        (dict(target=[0]), ValueError, r"must have the shape of `log_probs` without the class axis"),
        (dict(target=[0, 1], weight=[1.0]), ValueError, r"`weight` must have one entry per class \(3\)"),
        (dict(target=[0, 1], reduction="max"), ValueError, r"`reduction` must be"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fe.nll_loss(np.zeros((2, 3)), **kwargs)
