"""`_core.*_partials` / `_core.*_finish` (src/bindings/partials.rs): the partial statistics
that fastentropy.dask combines across chunks. Unsplit, they reproduce the local result
bitwise; split along the class axis, they combine exactly (sums add, minima take the least)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import fastentropy as fe
from fastentropy import _core

rng = np.random.default_rng(3)
P = rng.random((6, 40))
Q = rng.random((6, 40))

CASES = [
    ("entropy", lambda p, q: _core.entropy_partials(p), _core.entropy_finish, lambda p, q, **k: fe.entropy(p, **k), ("sum", "sum", "min")),
    ("kl", _core.kl_divergence_partials, _core.kl_divergence_finish, fe.kl_divergence, ("sum", "sum", "sum", "min", "min")),
    ("cross", _core.cross_entropy_partials, _core.cross_entropy_finish, fe.cross_entropy, ("sum", "sum", "sum", "min", "min")),
]


def combine(parts: Any, kinds: Any) -> Any:
    out = np.empty(parts[0].shape)
    for i, kind in enumerate(kinds):
        stack = np.stack([p[..., i] for p in parts])
        out[..., i] = stack.sum(axis=0) if kind == "sum" else stack.min(axis=0)
    return out


@pytest.mark.parametrize("name, partials, finish, local, kinds", CASES)
@pytest.mark.parametrize("opts", [{}, {"base": 2.0}, {"normalize": False}])
def test_partials_finish_to_the_local_result(name: str, partials: Any, finish: Any, local: Any, kinds: Any, opts: Any) -> None:
    whole = partials(P, Q)
    assert whole.shape == (6, len(kinds)) and whole.dtype == np.float64
    assert np.array_equal(finish(whole, **opts), local(P, Q, **opts))  # bitwise
    pieces = [partials(P[:, a:b], Q[:, a:b]) for a, b in ((0, 7), (7, 8), (8, 40))]
    np.testing.assert_allclose(finish(combine(pieces, kinds), **opts), local(P, Q, **opts), rtol=1e-13)
    assert isinstance(finish(whole[0], **opts), float)


def test_float32_strided_and_negative_inputs() -> None:
    x = rng.random((5, 9)).astype(np.float32)
    assert np.array_equal(_core.entropy_finish(_core.entropy_partials(x[:, ::2])), fe.entropy(x[:, ::2]))
    neg = np.array([[0.5, -0.25, 1.0]])
    parts = _core.entropy_partials(neg)
    assert parts[0, 2] == -0.25
    with pytest.raises(ValueError, match="`p` must be non-negative"):
        _core.entropy_finish(parts)
    with pytest.raises(ValueError, match="`q` must be non-negative"):
        _core.kl_divergence_finish(_core.kl_divergence_partials(np.ones(3), -np.ones(3)))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: _core.entropy_finish(np.zeros((2, 5))), ValueError, r"shape \(\.\.\., 3\)"),
        (lambda: _core.kl_divergence_finish(np.zeros(3)), ValueError, r"shape \(\.\.\., 5\)"),
        (lambda: _core.entropy_finish(np.zeros(3, dtype=np.float32)), TypeError, "float64"),
        (lambda: _core.entropy_finish(np.zeros(3), base=1.0), ValueError, "base"),
        (lambda: _core.kl_divergence_partials(np.ones(3), np.ones(4)), ValueError, "same shape"),
        (lambda: _core.entropy_partials(np.float64(1.0)), TypeError, "float32 or float64"),
        (lambda: _core.entropy_partials(np.ones(3, dtype=np.int64)), TypeError, "float32 or float64"),
    ],
)
def test_bad_input(call: Any, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()
