"""fastentropy.perplexity: exp of the entropy in nats, independent of `base`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import fastentropy as fe


@pytest.mark.parametrize("k", [1, 2, 3, 10, 1000])
def test_uniform_has_perplexity_k(k: int) -> None:
    assert fe.perplexity(np.ones(k)) == pytest.approx(k, rel=1e-13)
    assert fe.perplexity(np.ones(k), base=2) == fe.perplexity(np.ones(k))


def test_matches_exp_of_scipy_entropy_along_axes() -> None:
    p = np.random.default_rng(0).random((4, 5, 6))
    for axis in (0, 1, -1):
        np.testing.assert_allclose(fe.perplexity(p, axis=axis), np.exp(scipy.stats.entropy(p, axis=axis)), rtol=1e-13)
    assert fe.perplexity(p, axis=None) == pytest.approx(math.exp(scipy.stats.entropy(p.ravel())), rel=1e-13)
    raw = np.array([0.25, 0.25])
    assert fe.perplexity(raw, normalize=False) == pytest.approx(math.exp(-2 * 0.25 * math.log(0.25)), rel=1e-15)


def test_edge_cases_and_errors() -> None:
    assert fe.perplexity(np.zeros((2, 0))).tolist() == [1.0, 1.0]
    assert math.isnan(fe.perplexity([0.0, 0.0]))
    assert fe.perplexity([1.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="`base`"):
        fe.perplexity([0.5, 0.5], base=1)
    with pytest.raises(ValueError, match="non-negative"):
        fe.perplexity([0.5, -0.5])
    with pytest.raises(TypeError):
        fe.perplexity([1j, 1])
