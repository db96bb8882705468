"""Outputs that overlap inputs (issue #12 item 5): NumPy's rule — an ``out`` overlapping an
input gives the result of the same call without the overlap.

``log_softmax``/``softmax`` with ``axis=None`` and a shifted ``out`` gave wrong values (max
error 0.9) or "already borrowed"; ``softmax_cross_entropy`` with ``grad_out`` overlapping
the probability target or ``weight`` gave a wrong gradient or "already borrowed"; so did
BCE with ``grad_out=weight``. ``grad_out=logits`` (the same array) stays the copy-free
in-place mode (its memory is checked in tests/test_loss_memory.py).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

import numpy as np
import pytest

import fastentropy as fe

rng = np.random.default_rng(12)


def _shifted(n: int, shift: int, dtype: Any = np.float64) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buffer, x, out): two views of one buffer, ``out`` starting ``shift`` elements after ``x``."""
    buf = rng.normal(size=n + abs(shift)).astype(dtype)
    if shift >= 0:
        return buf, buf[:n], buf[shift : shift + n]
    return buf, buf[-shift : -shift + n], buf[:n]


NORMALIZERS = {"log_softmax": fe.log_softmax, "softmax": fe.softmax}


@pytest.mark.parametrize("name", list(NORMALIZERS))
@pytest.mark.parametrize("axis", [None, -1, 0])
@pytest.mark.parametrize("shift", [1, -1, 3, 7, -5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_normalizers_with_a_shifted_out(name: str, axis: Any, shift: int, dtype: Any) -> None:
    f = NORMALIZERS[name]
    _, x, out = _shifted(40, shift, dtype)
    want = f(x.copy(), axis=axis)
    assert f(x, axis=axis, out=out) is out
    np.testing.assert_array_equal(out, want)
    # 2-D views of one buffer, rows overlapping the output's rows
    buf = rng.normal(size=8 * 5 + 5).astype(dtype)
    x2, out2 = buf[:40].reshape(8, 5), buf[shift % 5 + 1 : shift % 5 + 41].reshape(8, 5)
    want2 = f(x2.copy(), axis=axis)
    f(x2, axis=axis, out=out2)
    np.testing.assert_array_equal(out2, want2)


@pytest.mark.parametrize("name", list(NORMALIZERS))
@pytest.mark.parametrize("axis", [None, -1, 1])
def test_normalizers_with_overlapping_strided_views(name: str, axis: Any) -> None:
    f = NORMALIZERS[name]
    base = rng.normal(size=(6, 12))
    cases = [
        (base[:, ::2], base[:, 1::2]),  # interleaved: disjoint, but within the same bounds
        (base[:, :6], base[:, 3:9]),  # partial overlap of every row
        (base[:5, :6], base[1:, :6]),  # the rows shifted by one
        (base[:, :6], base[:, 5::-1]),  # reversed
        (base[:, :6].T, base[:, 2:8].T),  # Fortran-ordered views
    ]
    for x, out in cases:
        x0 = x.copy()
        want = f(x0, axis=axis)
        f(x, axis=axis, out=out)
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("name", list(NORMALIZERS))
@pytest.mark.parametrize("axis", [None, -1, 0])
def test_normalizers_in_place_still_work(name: str, axis: Any) -> None:
    x = rng.normal(size=(4, 9))
    want = NORMALIZERS[name](x, axis=axis)
    assert NORMALIZERS[name](x, axis=axis, out=x) is x
    np.testing.assert_array_equal(x, want)


def test_self_information_with_a_shifted_out() -> None:
    buf = rng.random(30)
    x, out = buf[:25], buf[3:28]
    want = fe.self_information(x.copy(), base=2)
    fe.self_information(x, base=2, out=out)
    np.testing.assert_array_equal(out, want)


# ---------------------------------------------------------------------------- gradients

N, C = 6, 5
LOGITS = rng.normal(size=(N, C))
LABELS = rng.integers(0, C, size=N)
PROBS = rng.dirichlet(np.ones(C), size=N)
WEIGHT = rng.random(C) + 0.5


def _grad_cases() -> Dict[str, Callable[[], Tuple[Callable[..., Any], Dict[str, Any], np.ndarray]]]:
    """name -> a function building (loss, its arguments with grad_out, a fresh grad_out
    buffer's expected place) — each builds its own buffers."""

    def sce_target_is_grad_out() -> Any:
        g = PROBS.copy()
        return fe.softmax_cross_entropy, dict(logits=LOGITS.copy(), target=g), g

    def sce_target_shifted() -> Any:
        buf = np.concatenate([PROBS.ravel(), PROBS[0]])
        target, g = buf[: N * C].reshape(N, C), buf[3 : 3 + N * C].reshape(N, C)
        return fe.softmax_cross_entropy, dict(logits=LOGITS.copy(), target=target), g

    def sce_weight_in_grad_out() -> Any:
        g = np.empty((N, C))
        g[2] = WEIGHT
        return fe.softmax_cross_entropy, dict(logits=LOGITS.copy(), target=LABELS, weight=g[2]), g

    def sce_weight_in_grad_out_in_place() -> Any:
        z = LOGITS.copy()
        w = z[2]  # the weight is a row of the logits that are overwritten in place
        return fe.softmax_cross_entropy, dict(logits=z, target=LABELS, weight=np.abs(w)), z

    def sce_probs_in_place_target_is_logits_view() -> Any:
        z = np.abs(LOGITS.copy())
        return fe.softmax_cross_entropy, dict(logits=z, target=z[::-1]), z

    def sce_labels_under_grad_out() -> Any:
        buf = np.zeros(N * C + N)
        g = buf[: N * C].reshape(N, C)
        labels = buf[N * C - N : N * C].view(np.int64)  # zeros: label 0, the last row of g
        return fe.softmax_cross_entropy, dict(logits=LOGITS.copy(), target=labels), g

    def sce_logits_shifted() -> Any:
        buf = np.concatenate([LOGITS.ravel(), LOGITS[0]])
        z, g = buf[: N * C].reshape(N, C), buf[2 : 2 + N * C].reshape(N, C)
        return fe.softmax_cross_entropy, dict(logits=z, target=PROBS, label_smoothing=0.1, weight=WEIGHT), g

    def nll_weight_in_grad_out() -> Any:
        g = np.empty((N, C))
        g[0] = WEIGHT
        return fe.nll_loss, dict(log_probs=LOGITS.copy(), target=LABELS, weight=g[0]), g

    def nll_log_probs_shifted() -> Any:
        buf = np.concatenate([LOGITS.ravel(), LOGITS[0]])
        lp, g = buf[1 : 1 + N * C].reshape(N, C), buf[: N * C].reshape(N, C)
        return fe.nll_loss, dict(log_probs=lp, target=LABELS), g

    def bce_grad_out_is_weight() -> Any:
        w = rng.random((N, C))
        return fe.binary_cross_entropy_with_logits, dict(logits=LOGITS.copy(), target=PROBS, weight=w), w

    def bce_grad_out_is_pos_weight() -> Any:
        pw = np.tile(WEIGHT, (N, 1))
        return fe.binary_cross_entropy_with_logits, dict(logits=LOGITS.copy(), target=PROBS, pos_weight=pw), pw

    def bce_grad_out_is_target() -> Any:
        t = PROBS.copy()
        return fe.binary_cross_entropy_with_logits, dict(logits=LOGITS.copy(), target=t), t

    def bce_grad_out_is_logits() -> Any:
        z = LOGITS.copy()
        return fe.binary_cross_entropy_with_logits, dict(logits=z, target=PROBS, weight=WEIGHT), z

    def bce_weight_row_of_grad_out() -> Any:
        g = np.empty((N, C))
        g[4] = WEIGHT
        return fe.binary_cross_entropy_with_logits, dict(logits=LOGITS.copy(), target=PROBS, pos_weight=g[4]), g

    return {f.__name__: f for f in (
        sce_target_is_grad_out, sce_target_shifted, sce_weight_in_grad_out, sce_weight_in_grad_out_in_place,
        sce_probs_in_place_target_is_logits_view, sce_labels_under_grad_out, sce_logits_shifted,
        nll_weight_in_grad_out, nll_log_probs_shifted, bce_grad_out_is_weight, bce_grad_out_is_pos_weight,
        bce_grad_out_is_target, bce_grad_out_is_logits, bce_weight_row_of_grad_out,
    )}


GRAD_CASES = _grad_cases()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_grad_out_overlapping_an_input_gives_the_non_overlapping_result(case: str, reduction: str) -> None:
    fn, kwargs, grad_out = GRAD_CASES[case]()
    # the reference: every input copied first, a separate gradient buffer
    ref_kwargs = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    want_loss, want_grad = fn(**ref_kwargs, reduction=reduction, return_grad=True)
    loss, grad = fn(**kwargs, reduction=reduction, grad_out=grad_out)
    assert grad is grad_out
    np.testing.assert_array_equal(grad, want_grad)
    np.testing.assert_array_equal(loss, want_loss)


def test_grad_out_logits_is_in_place() -> None:
    """The documented in-place mode writes the gradient over the logits themselves."""
    z = LOGITS.copy()
    want_loss, want_grad = fe.softmax_cross_entropy(LOGITS, LABELS, weight=WEIGHT, return_grad=True)
    loss, grad = fe.softmax_cross_entropy(z, LABELS, weight=WEIGHT, grad_out=z)
    assert grad is z and loss == want_loss
    np.testing.assert_array_equal(z, want_grad)
    zt = LOGITS.T.copy().T  # Fortran order, class axis strided
    fe.softmax_cross_entropy(zt, LABELS, grad_out=zt)
    np.testing.assert_array_equal(zt, fe.softmax_cross_entropy(LOGITS, LABELS, return_grad=True)[1])
