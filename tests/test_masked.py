"""Masked arrays (``numpy.ma``) are honoured or refused, never read silently with the values
under the mask (issue #12 item 8; scipy.stats honours the mask).

- probabilities and counts: a masked element is left out — probability 0; for two
  distributions it is left out of both, as scipy.stats.entropy(p, q) removes it;
- logits and log-probabilities: left out — ``-inf``;
- self_information (elementwise): the result is a masked array with the same mask;
- labels, class weights, BCE inputs, ``out=``/``grad_out=``: a masked element has no
  single meaning, so a TypeError says what to pass instead.
The Dask adapter does the same (tests/test_dask.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np
import pytest
import scipy.special
import scipy.stats

import fastentropy as fe

rng = np.random.default_rng(21)
MASK = np.array([[0, 1, 0, 0, 1], [0, 0, 0, 0, 0], [1, 0, 1, 0, 0]], dtype=bool)
P = np.ma.array(rng.random((3, 5)) + 0.1, mask=MASK)
MASK_Q = np.array([[0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0]], dtype=bool)
Q = np.ma.array(rng.random((3, 5)) + 0.1, mask=MASK_Q)
Z = np.ma.array(rng.normal(size=(3, 5)) * 3, mask=MASK)
LABELS = np.array([0, 4, 2])  # the last row's label is a masked class


def rows(x: Any) -> Any:
    """The unmasked values of each row of a masked array."""
    return [np.ma.compressed(r) for r in x]


# ---------------------------------------------------------------------------- honoured


def test_entropy_and_perplexity_leave_masked_elements_out() -> None:
    want = scipy.stats.entropy(P, axis=-1)
    np.testing.assert_allclose(want, [scipy.stats.entropy(r) for r in rows(P)], rtol=1e-14)
    np.testing.assert_allclose(fe.entropy(P), want, rtol=1e-13)
    np.testing.assert_allclose(fe.perplexity(P), np.exp(want), rtol=1e-13)
    np.testing.assert_allclose(fe.entropy(P, axis=None), fe.entropy(np.ma.compressed(P)), rtol=1e-13)
    np.testing.assert_allclose(fe.entropy(P, normalize=False), [scipy.special.entr(r).sum() for r in rows(P)], rtol=1e-13)


def test_two_distributions_leave_an_element_masked_in_either_out_of_both() -> None:
    both = np.ma.getmaskarray(P) | np.ma.getmaskarray(Q)
    kept = [(p[~m], q[~m]) for p, q, m in zip(P.data, Q.data, both)]
    np.testing.assert_allclose(fe.kl_divergence(P, Q), scipy.stats.entropy(P, Q, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(fe.kl_divergence(P, Q), [fe.kl_divergence(p, q) for p, q in kept], rtol=1e-13)
    for f in (fe.cross_entropy, fe.js_divergence, fe.js_distance):
        np.testing.assert_allclose(f(P, Q), [f(p, q) for p, q in kept], rtol=1e-13)
        np.testing.assert_allclose(f(P, Q.data), [f(p[~m], q[~m]) for p, q, m in zip(P.data, Q.data, MASK)], rtol=1e-13)
    # broadcasting: one masked q for every row of p
    q1 = np.ma.array([0.2, 0.2, 0.2, 0.2, 0.2], mask=[0, 0, 1, 0, 0])
    np.testing.assert_allclose(fe.kl_divergence(P.data, q1), scipy.stats.entropy(P.data, np.ma.vstack([q1] * 3), axis=-1), rtol=1e-13)


def test_measures_of_logits_leave_masked_classes_out() -> None:
    filled, zq = Z.filled(-np.inf), np.ma.array(Z.data[::-1], mask=MASK_Q)
    np.testing.assert_array_equal(fe.entropy(Z, from_logits=True), fe.entropy(filled, from_logits=True))
    np.testing.assert_array_equal(fe.perplexity(Z, from_logits=True), fe.perplexity(filled, from_logits=True))
    both = MASK | MASK_Q
    for f in (fe.kl_divergence, fe.cross_entropy, fe.js_divergence, fe.js_distance):
        want = f(np.where(both, -np.inf, Z.data), np.where(both, -np.inf, zq.data), from_logits=True)
        np.testing.assert_array_equal(f(Z, zq, from_logits=True), want)
    np.testing.assert_allclose(
        fe.entropy(Z, from_logits=True), [scipy.stats.entropy(scipy.special.softmax(r)) for r in rows(Z)], rtol=1e-13
    )


def test_population_stability_index_leaves_an_element_masked_in_either_out_of_both() -> None:
    both = np.ma.getmaskarray(P) | np.ma.getmaskarray(Q)
    kept = [(p[~m], q[~m]) for p, q, m in zip(P.data, Q.data, both)]
    np.testing.assert_allclose(
        fe.population_stability_index(P, Q), [fe.population_stability_index(p, q) for p, q in kept], rtol=1e-13
    )


def test_logits_leave_masked_classes_out() -> None:
    np.testing.assert_allclose(fe.logsumexp(Z), [scipy.special.logsumexp(r) for r in rows(Z)], rtol=1e-14)
    for name in ("softmax", "log_softmax"):
        got = getattr(fe, name)(Z)
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got[MASK], 0.0 if name == "softmax" else -np.inf)
        for g, r, m in zip(got, rows(Z), MASK):
            np.testing.assert_allclose(g[~m], getattr(scipy.special, name)(r), rtol=1e-14)
    filled = Z.filled(-np.inf)
    np.testing.assert_array_equal(fe.softmax_cross_entropy(Z, LABELS, reduction="none"),
                                  fe.softmax_cross_entropy(filled, LABELS, reduction="none"))
    loss = fe.softmax_cross_entropy(Z, LABELS, reduction="none")
    assert loss[2] == np.inf  # the label's own class is masked: probability 0
    np.testing.assert_array_equal(fe.nll_loss(Z, LABELS, reduction="none"), fe.nll_loss(filled, LABELS, reduction="none"))


def test_probability_targets_leave_masked_classes_out() -> None:
    z = Z.data
    np.testing.assert_array_equal(
        fe.softmax_cross_entropy(z, P, reduction="none", return_grad=True)[1],
        fe.softmax_cross_entropy(z, P.filled(0.0), reduction="none", return_grad=True)[1],
    )


def test_contingency_table_counts_under_the_mask_are_left_out() -> None:
    table = np.ma.array([[3, 1, 7], [2, 9, 4]], mask=[[0, 0, 1], [0, 0, 0]])
    for name in ("joint_entropy", "conditional_entropy", "mutual_information", "normalized_mutual_information"):
        f = getattr(fe, name)
        assert f(contingency=table) == f(contingency=table.filled(0))


def test_self_information_keeps_the_mask() -> None:
    got = fe.self_information(P, base=2)
    assert isinstance(got, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), MASK)
    np.testing.assert_array_equal(got.compressed(), fe.self_information(P.compressed(), base=2))
    got16 = fe.self_information(P.astype(np.float16))
    assert got16.dtype == np.float16 and np.array_equal(np.ma.getmaskarray(got16), MASK)


@pytest.mark.parametrize(
    "call, refused",
    [
        (lambda a: fe.entropy(a), None),
        (lambda a: fe.kl_divergence(a, a[::-1]), None),
        (lambda a: fe.logsumexp(a), None),
        (lambda a: fe.softmax(a), None),
        (lambda a: fe.softmax_cross_entropy(a, LABELS, reduction="none"), None),
        (lambda a: fe.label_entropy(a.astype(int)), "labels"),
        (lambda a: fe.binary_cross_entropy_with_logits(a, a / a.max(), reduction="none"), "logits"),
    ],
)
def test_a_masked_array_with_nothing_masked(call: Callable[[Any], Any], refused: Any) -> None:
    """Honoured: it is its data. Refused: whatever its mask (the type decides, not the data)."""
    data = P.data.copy()
    if refused is None:
        np.testing.assert_array_equal(call(np.ma.array(data)), call(data))
    else:
        with pytest.raises(TypeError, match=rf"`{refused}` must not be a masked array"):
            call(np.ma.array(data))


# ---------------------------------------------------------------------------- refused

REFUSED: Dict[str, Any] = {
    "label_entropy": (lambda: fe.label_entropy(np.ma.array([1, 2, 2], mask=[0, 1, 0])), "labels", r"labels\.compressed\(\)"),
    "joint_entropy-x": (lambda: fe.joint_entropy(np.ma.array([1, 2], mask=[0, 1]), [1, 2]), "x", r"getmaskarray"),
    "conditional_entropy-y": (lambda: fe.conditional_entropy([1, 2], np.ma.array([1, 2], mask=[0, 1])), "y", r"getmaskarray"),
    "mutual_information-x": (lambda: fe.mutual_information(np.ma.array([1, 2], mask=[1, 0]), [1, 2]), "x", r"keep"),
    "nmi-y": (lambda: fe.normalized_mutual_information([1, 2], np.ma.array([1, 2], mask=[1, 0])), "y", r"keep"),
    "sce-labels": (lambda: fe.softmax_cross_entropy(Z.data, np.ma.array(LABELS, mask=[0, 1, 0])), "target",
                   r"target\.filled\(ignore_index\)"),
    "nll-labels": (lambda: fe.nll_loss(Z.data, np.ma.array(LABELS, mask=[0, 1, 0])), "target", r"ignore_index"),
    "sce-weight": (lambda: fe.softmax_cross_entropy(Z.data, LABELS, weight=np.ma.array(np.ones(5), mask=[1, 0, 0, 0, 0])),
                   "weight", r"weight\.filled\(0\)"),
    "nll-weight": (lambda: fe.nll_loss(Z.data, LABELS, weight=np.ma.array(np.ones(5), mask=[1, 0, 0, 0, 0])), "weight", r"filled"),
    "bce-logits": (lambda: fe.binary_cross_entropy_with_logits(Z, P.data / 2), "logits", r"weight=~np\.ma\.getmaskarray\(logits\)"),
    "bce-target": (lambda: fe.binary_cross_entropy_with_logits(Z.data, P / 2), "target", r"getmaskarray\(target\)"),
    "bce-weight": (lambda: fe.binary_cross_entropy_with_logits(Z.data, P.data / 2, weight=Q), "weight", r"filled"),
    "bce-pos_weight": (lambda: fe.binary_cross_entropy_with_logits(Z.data, P.data / 2, pos_weight=Q), "pos_weight", r"filled"),
    "softmax-out": (lambda: fe.softmax(Z.data, out=np.ma.array(np.empty((3, 5)), mask=MASK)), "out", r"plain numpy\.ndarray"),
    "log_softmax-out": (lambda: fe.log_softmax(Z.data, axis=None, out=np.ma.array(np.empty((3, 5)))), "out", r"out\.data"),
    "self_information-out": (lambda: fe.self_information(P.data, out=np.ma.array(np.empty((3, 5)))), "out", r"plain"),
    "self_information-masked-p-out": (lambda: fe.self_information(P, out=np.empty((3, 5))), "out", r"omit `out`"),
    "sce-grad_out": (lambda: fe.softmax_cross_entropy(Z.data, LABELS, grad_out=np.ma.array(np.empty((3, 5)))), "grad_out", r"plain"),
    "sce-grad_out-masked-logits": (lambda: fe.softmax_cross_entropy(Z, LABELS, grad_out=Z), "grad_out", r"plain"),
    "nll-grad_out": (lambda: fe.nll_loss(Z.data, LABELS, grad_out=np.ma.array(np.empty((3, 5)))), "grad_out", r"plain"),
    "ensemble_uncertainty-p": (lambda: fe.ensemble_uncertainty(np.ma.array(np.ones((2, 3, 5)) / 5, mask=np.eye(5, dtype=bool)[:1].repeat(6, 0).reshape(2, 3, 5))), "p", r"p\.filled"),
    "ece-probs": (lambda: fe.expected_calibration_error(P / P.sum(-1, keepdims=True), LABELS), "probs", r"probs\.filled"),
    "ece-labels": (lambda: fe.expected_calibration_error(P.data / P.data.sum(-1, keepdims=True), np.ma.array(LABELS, mask=[0, 1, 0])),
                   "labels", r"labels\.compressed\(\)"),
    "bce-grad_out": (lambda: fe.binary_cross_entropy_with_logits(Z.data, P.data / 2, grad_out=np.ma.array(np.empty((3, 5)))),
                     "grad_out", r"plain"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_masked_arrays_without_a_meaning_are_refused_with_the_fix(case: str) -> None:
    call, name, fix = REFUSED[case]
    with pytest.raises(TypeError, match=rf"`{name}`.*masked.*{fix}"):
        call()


def test_every_public_function_is_covered() -> None:
    """Each public function taking arrays appears above (honoured or refused)."""
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [
        name for name in fe.__all__
        if name not in ("set_num_threads", "get_num_threads", "simd_isa", "EnsembleUncertainty") and not re.search(rf"fe\.{name}\b", source)
    ]
    assert not missing, missing
