"""Raw sums of short rows (``normalize=False``): scipy.special's ``entr`` / ``-xlogy`` /
``rel_entr`` summed along a row, computed sixteen rows at a time.

The reference adds float64 terms with ``math.fsum`` (float32 data are widened exactly).
float64 results keep ~1e-13 of Σ|terms|; float32 results the f32 contract (1e-6 of the value)
where the sum does not cancel, and f64 logs (1e-13 of Σ|terms|) where it does — counts whose
terms have both signs, near-equal KL rows."""

import math
from typing import Callable, Dict, Tuple

import numpy as np
import pytest
import scipy.special

import fastentropy as fe

TERMS: Dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "entropy": lambda p, q: scipy.special.entr(p),
    "cross_entropy": lambda p, q: -scipy.special.xlogy(p, q),
    "kl_divergence": lambda p, q: scipy.special.rel_entr(p, q),
}


def _call(measure: str, p: np.ndarray, q: np.ndarray, axis: int) -> np.ndarray:
    if measure == "entropy":
        return np.asarray(fe.entropy(p, axis=axis, normalize=False))
    return np.asarray(getattr(fe, measure)(p, q, axis=axis, normalize=False))


def _rows(kind: str, n_rows: int, classes: int, dtype: type) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(classes * 7 + len(kind))
    p = rng.random((n_rows, classes))
    q = rng.random((n_rows, classes)) + 1e-3
    if kind == "probabilities":
        p[:, ::3] = 0.0
        p /= np.maximum(p.sum(-1, keepdims=True), 1e-300)
        q /= q.sum(-1, keepdims=True)
    elif kind == "counts":
        # values above 1: terms of both signs, sums that cancel
        p = np.floor(p * 20.0)
        q = q * 3.0
    elif kind == "near-equal":
        p /= p.sum(-1, keepdims=True)
        q = p * (1.0 + 1e-3 * rng.standard_normal((n_rows, classes)))
        q = np.abs(q) + 1e-6
    return p.astype(dtype), q.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [1, 2, 3, 10, 17, 100, 256])
@pytest.mark.parametrize("kind", ["probabilities", "counts", "near-equal"])
@pytest.mark.parametrize("measure", list(TERMS))
def test_raw_rows_match_the_summed_terms(measure: str, kind: str, classes: int, dtype: type) -> None:
    p, q = _rows(kind, 40, classes, dtype)
    if measure == "entropy":
        q = p
    p64, q64 = p.astype(np.float64), q.astype(np.float64)
    terms = TERMS[measure](p64, q64)
    want = np.array([math.fsum(row) for row in terms])
    scale = np.array([math.fsum(np.abs(row)) for row in terms])
    bound = 1e-13 * scale
    if dtype == np.float32:
        bound = np.maximum(bound, 1e-6 * np.abs(want))
    for axis, (a, b) in ((-1, (p, q)), (0, (np.ascontiguousarray(p.T), np.ascontiguousarray(q.T)))):
        got = _call(measure, a, b, axis)
        err = np.abs(got - want)
        assert np.all(err <= bound), (axis, np.max(err / np.maximum(bound, 1e-300)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_rows_with_zeros_infinities_and_nan(dtype: type) -> None:
    p = np.array([[0.0, 0.5, 0.5], [0.5, 0.5, 0.0], [np.inf, 0.5, 0.5], [np.nan, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype)
    q = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.3, 0.3, 0.4], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]], dtype)
    p64, q64 = p.astype(np.float64), q.astype(np.float64)
    np.testing.assert_allclose(_call("entropy", p, p, -1), scipy.special.entr(p64).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(
        _call("cross_entropy", p, q, -1), -scipy.special.xlogy(p64, q64).sum(-1), rtol=1e-6
    )
    np.testing.assert_allclose(
        _call("kl_divergence", p, q, -1), scipy.special.rel_entr(p64, q64).sum(-1), rtol=1e-6
    )
