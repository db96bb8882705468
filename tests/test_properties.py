"""Properties of the measures, checked by hypothesis on many shapes, zeros included, float32
and float64: H(P,Q) = H(P) + D(P||Q), D >= 0, 0 <= H <= log n, permutation invariance, and
agreement with scipy (axis=0 and axis=-1 conventions; rel_entr/entr sums for normalize=False).

Tolerances: float64 inputs are held to float64 tolerances against a float64 oracle; float32
inputs may take native f32 logarithms (DESIGN §2b: within 1e-6 relative of the exact value
of their data), so any float32 operand switches a comparison to rtol 1e-6 (``_tol``). The
absolute tolerances are a few hundred ULPs of the logarithms involved, never of the result.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Tuple

import numpy as np
import scipy.special
import scipy.stats
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastentropy as fe

# exactly representable in float32 as well, so one strategy serves both widths
LO, HI = 2.0**-20, 2.0**10
EPS = np.finfo(np.float64).eps


def _elements(dtype: Any) -> st.SearchStrategy[float]:
    width = 32 if dtype == np.float32 else 64
    return st.one_of(
        st.just(0.0),
        st.floats(LO, HI, width=width),
        st.sampled_from([1.0, 0.5, 0.25, 1e-6, 3.0]),
    )


dtypes = st.sampled_from([np.float64, np.float32])
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9)


@st.composite
def distributions(draw: Any, pair: bool = False) -> Tuple[Any, ...]:
    """(p, q or None, axis) with p, q of one shape and dtype; axis is a valid axis or None."""
    dtype = draw(dtypes)
    shape = draw(shapes)
    p = draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    q = draw(hnp.arrays(draw(dtypes), shape, elements=_elements(dtype))) if pair else None
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return p, q, axis


F32_RTOL = 1e-6


def _tol(rtol: float, *arrays: Any) -> float:
    """``rtol``, or the float32 contract's 1e-6 when an operand is float32."""
    return F32_RTOL if any(np.asarray(a).dtype == np.float32 for a in arrays) else rtol


def _lane_len(p: np.ndarray, axis: Any) -> int:
    return p.size if axis is None else p.shape[axis]


def _atol(n: int) -> float:
    """Absolute tolerance for values built from logs of numbers in [LO, n*HI]."""
    return 256 * EPS * (1.0 + abs(math.log(LO)) + math.log(n * HI + 1.0))


def _quiet(f: Any) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f()


def _flat(p: np.ndarray, axis: Any) -> Tuple[np.ndarray, int]:
    return (p.reshape(-1), -1) if axis is None else (p, axis)


# --------------------------------------------------------------------------- identities and bounds

@given(distributions(pair=True))
# found by the explore profile: a long distribution (axis=None over 270 values) against an
# all-zero q was +inf in cross_entropy and NaN in kl_divergence (now NaN in both)
@example((np.ones((5, 6, 9)), np.zeros((5, 6, 9)), None))
def test_cross_entropy_is_entropy_plus_divergence(case: Any) -> None:
    p, q, axis = case
    for base in (None, 2):
        ce = fe.cross_entropy(p, q, axis=axis, base=base)
        h = fe.entropy(p, axis=axis, base=base)
        d = fe.kl_divergence(p, q, axis=axis, base=base)
        np.testing.assert_allclose(ce, np.add(h, d), rtol=_tol(1e-9, p, q), atol=_atol(_lane_len(p, axis)))


@given(distributions(pair=True))
def test_raw_cross_entropy_is_raw_entropy_plus_raw_divergence(case: Any) -> None:
    p, q, axis = case
    ce = fe.cross_entropy(p, q, axis=axis, normalize=False)
    h = fe.entropy(p, axis=axis, normalize=False)
    d = fe.kl_divergence(p, q, axis=axis, normalize=False)
    n = _lane_len(p, axis)
    # the three are computed separately: the identity holds to the rounding of the largest
    ce, total = np.asarray(ce), np.add(h, d)
    inf = np.isinf(ce) | np.isinf(total)
    np.testing.assert_array_equal(ce[inf], total[inf])
    scale = (np.abs(ce) + np.abs(h) + np.abs(d))[~inf]
    assert np.all(np.abs(ce[~inf] - total[~inf]) <= _tol(1e-9, p, q) * scale + _atol(n) * n * HI), (ce, h, d)


@given(distributions(pair=True))
def test_divergence_is_non_negative(case: Any) -> None:
    p, q, axis = case
    d = np.asarray(fe.kl_divergence(p, q, axis=axis))
    finite = ~np.isnan(d)
    assert np.all(d[finite] >= -1e-12), d


@given(distributions())
def test_divergence_from_itself_is_exactly_zero(case: Any) -> None:
    p, _, axis = case
    d = np.asarray(fe.kl_divergence(p, p, axis=axis))
    sums = np.asarray(p.sum(axis=axis, dtype=np.float64))
    np.testing.assert_array_equal(d[sums > 0], 0.0)
    assert np.all(np.isnan(d[sums == 0]))
    np.testing.assert_array_equal(fe.kl_divergence(p, p, axis=axis, normalize=False), 0.0)


@given(distributions())
def test_entropy_is_between_zero_and_log_n(case: Any) -> None:
    p, _, axis = case
    n = _lane_len(p, axis)
    h = np.asarray(fe.entropy(p, axis=axis))
    finite = ~np.isnan(h)  # all-zero distributions give NaN
    slack = _tol(1e-12, p)
    assert np.all(h[finite] >= -1e-12), h
    assert np.all(h[finite] <= math.log(n) * (1 + slack) + 1e-12), (h, math.log(n))
    hb = np.asarray(fe.entropy(p, axis=axis, base=2))
    assert np.all(hb[finite] <= math.log2(n) * (1 + slack) + 1e-12)


@given(distributions(pair=True), st.data())
def test_permutation_invariance_along_the_axis(case: Any, data: Any) -> None:
    p, q, axis = case
    p, ax = _flat(p, axis)
    q, _ = _flat(q, axis)
    n = p.shape[ax]
    perm = np.array(data.draw(st.permutations(range(n))), dtype=np.intp)
    pp, qp = np.take(p, perm, axis=ax), np.take(q, perm, axis=ax)
    atol = _atol(n)
    rtol = _tol(1e-12, p, q)
    np.testing.assert_allclose(fe.entropy(pp, axis=ax), fe.entropy(p, axis=ax), rtol=rtol, atol=atol)
    np.testing.assert_allclose(fe.kl_divergence(pp, qp, axis=ax), fe.kl_divergence(p, q, axis=ax), rtol=rtol, atol=atol)
    np.testing.assert_allclose(fe.cross_entropy(pp, qp, axis=ax), fe.cross_entropy(p, q, axis=ax), rtol=rtol, atol=atol)


@given(distributions(), st.data())
def test_batch_order_is_irrelevant(case: Any, data: Any) -> None:
    """Reordering the distributions reorders the results, bit for bit."""
    p, _, axis = case
    assume(axis is not None and p.ndim >= 2)
    batch_axis = (axis + 1) % p.ndim
    perm = np.array(data.draw(st.permutations(range(p.shape[batch_axis]))), dtype=np.intp)
    moved = np.take(p, perm, axis=batch_axis)
    expected = np.take(np.asarray(fe.entropy(p, axis=axis)), perm, axis=batch_axis if batch_axis < axis % p.ndim else batch_axis - 1)
    np.testing.assert_array_equal(fe.entropy(moved, axis=axis), expected)


# --------------------------------------------------------------------------- scipy

@given(distributions(), st.sampled_from([0, -1]))
def test_entropy_agrees_with_scipy(case: Any, axis: int) -> None:
    p, _, _ = case
    exact = p.astype(np.float64)
    n = p.shape[axis]
    expected = _quiet(lambda: scipy.stats.entropy(exact, axis=axis))
    np.testing.assert_allclose(fe.entropy(p, axis=axis), expected, rtol=_tol(1e-10, p), atol=_atol(n))
    raw = scipy.special.entr(exact).sum(axis=axis)
    # -x ln x changes sign at x = 1: bound the error by the sum of the terms' magnitudes
    scale = np.abs(scipy.special.entr(exact)).sum(axis=axis)
    got = fe.entropy(p, axis=axis, normalize=False)
    assert np.all(np.abs(got - raw) <= _tol(1e-12, p) * scale + 1e-300), (got, raw)


@given(distributions(pair=True), st.sampled_from([0, -1]))
def test_divergence_agrees_with_scipy(case: Any, axis: int) -> None:
    p, q, _ = case
    pe, qe = p.astype(np.float64), q.astype(np.float64)
    n = p.shape[axis]
    expected = _quiet(lambda: scipy.stats.entropy(pe, qe, axis=axis))
    np.testing.assert_allclose(fe.kl_divergence(p, q, axis=axis), expected, rtol=_tol(1e-10, p, q), atol=_atol(n))


@given(distributions(pair=True), st.sampled_from([0, -1, None]))
def test_raw_divergence_agrees_with_rel_entr(case: Any, axis: Any) -> None:
    p, q, _ = case
    pe, qe = p.astype(np.float64), q.astype(np.float64)
    terms = scipy.special.rel_entr(pe, qe)
    expected = terms.sum(axis=axis)
    got = np.asarray(fe.kl_divergence(p, q, axis=axis, normalize=False))
    inf = np.isinf(expected)
    np.testing.assert_array_equal(np.isinf(got), inf)
    np.testing.assert_array_equal(got[inf], np.asarray(expected)[inf])
    # The terms have both signs: bound the error by the sum of their magnitudes, plus a few
    # ULPs of p per term: p * ln(p / q) rounds p / q first, so for q close to p the term has
    # an absolute (not relative) error of about p * eps. (scipy's rel_entr avoids this with
    # log1p; the library does not, see the report on near-equal distributions.)
    scale = _quiet(lambda: np.where(np.isinf(terms), 0.0, np.abs(terms)).sum(axis=axis))
    mass = pe.sum(axis=axis)
    err = np.abs(got[~inf] - np.asarray(expected)[~inf])
    bound = _tol(1e-12, p, q) * np.asarray(scale)[~inf] + 8 * EPS * np.asarray(mass)[~inf] + 1e-300
    assert np.all(err <= bound), (got, expected)
