"""``from_logits=True`` on entropy, perplexity, kl_divergence, cross_entropy, js_divergence and
js_distance (issue 15 item 1): the measures of softmax(z), the softmax taken inside the
streaming pass — against scipy on softmax outputs, against mpmath on adversarial rows
(confident rows whose entropy is tiny, huge logits, −inf), special values, every layout,
float32, dask, the CLI, and peak memory (no N×C probability array) in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any, List

import mpmath
import numpy as np
import pytest

from _fresh import run_fresh
import scipy.special
import scipy.stats
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon

import fastentropy as fe

# 1 − e^{−745} must be representable: confident rows need ~330 digits.
DPS = 340
NINF = -np.inf


# ------------------------------------------------------------------------ mpmath oracle


def _mp(f: Any) -> Any:
    def wrapped(*args: Any) -> Any:
        with mpmath.workdps(DPS):
            return f(*args)

    return wrapped


def _mp_softmax(z: List[float]) -> List[Any]:
    finite = [mpmath.mpf(v) for v in z if v != NINF]
    m = max(finite)
    s = mpmath.fsum(mpmath.exp(v - m) for v in finite)
    return [mpmath.mpf(0) if v == NINF else mpmath.exp(mpmath.mpf(v) - m) / s for v in z]


@_mp
def mp_entropy(z: List[float]) -> float:
    p = _mp_softmax(z)
    return float(-mpmath.fsum(x * mpmath.log(x) for x in p if x > 0))


@_mp
def mp_cross(a: List[float], b: List[float]) -> float:
    p, q = _mp_softmax(a), _mp_softmax(b)
    if any(x > 0 and y == 0 for x, y in zip(p, q)):
        return float("inf")
    return float(-mpmath.fsum(x * mpmath.log(y) for x, y in zip(p, q) if x > 0))


@_mp
def mp_kl(a: List[float], b: List[float]) -> float:
    p, q = _mp_softmax(a), _mp_softmax(b)
    if any(x > 0 and y == 0 for x, y in zip(p, q)):
        return float("inf")
    return float(mpmath.fsum(x * (mpmath.log(x) - mpmath.log(y)) for x, y in zip(p, q) if x > 0))


@_mp
def mp_js(a: List[float], b: List[float]) -> float:
    p, q = _mp_softmax(a), _mp_softmax(b)
    t = mpmath.mpf(0)
    for x, y in zip(p, q):
        m = (x + y) / 2
        if x > 0:
            t += x * mpmath.log(x / m)
        if y > 0:
            t += y * mpmath.log(y / m)
    return float(t / 2)


ADVERSARIAL = [
    [0.0, -40.0],
    [0.0, -80.0],
    [0.0, -300.0],
    [0.0, -700.0],
    [0.0, -700.0, -720.0, -745.0],
    [1e30, -1e30, 1e30 - 1e15],
    [1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4],
    [0.0, NINF, -1.0, NINF],
    [3.0, 3.0, 3.0, 3.0 - 1e-12],
    [-1e-300, 1e-300, 0.0],
    list(np.linspace(-50, 50, 67)),
    list(np.linspace(0, -2000, 1000)),
    [5.0] + [-60.0] * 300,
]


@pytest.mark.parametrize("z", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_entropy_of_adversarial_rows_matches_mpmath(z: List[float]) -> None:
    want = mp_entropy(z)
    got = fe.entropy(np.array(z), from_logits=True)
    assert got == pytest.approx(want, rel=1e-13, abs=0), (got, want)
    assert fe.perplexity(np.array(z), from_logits=True) == pytest.approx(np.exp(want), rel=1e-13)


def test_a_confident_row_keeps_its_tiny_entropy() -> None:
    # H([0, -t]) ≈ (t + 1)·e^{-t}: scipy's entropy of the softmax gives (t)·e^{-t} (the
    # probability 1 − e^{-t} rounds to 1 and its term is lost) and torch's lse − Σp·z gives 0.
    for t in (40.0, 80.0, 700.0):
        got = fe.entropy([0.0, -t], from_logits=True)
        assert got == pytest.approx(mp_entropy([0.0, -t]), rel=1e-14)
        assert got == pytest.approx((t + 1) * np.exp(-t), rel=1e-10)
    # e^{-800} is below the smallest double: the exact value underflows to 0
    assert fe.entropy([0.0, -800.0], from_logits=True) == 0.0
    assert fe.entropy([7.0], from_logits=True) == 0.0


PAIRS = [
    ([0.0, -40.0], [0.0, -41.0]),
    ([0.0, -80.0], [-1.0, -80.0]),
    ([1e4, 1e4 - 1.0, -1e4], [-3.0, 2.0, 0.5]),
    ([0.0, NINF, 2.0], [1.0, -5.0, 0.0]),
    ([0.5, 0.25, -1.0, 3.0] * 20, [0.0, 1.0, -2.0, 2.5] * 20),
    (list(np.linspace(-30, 30, 67)), list(np.linspace(30, -30, 67))),
]


@pytest.mark.parametrize("a, b", PAIRS, ids=range(len(PAIRS)))
def test_pairs_of_adversarial_rows_match_mpmath(a: List[float], b: List[float]) -> None:
    x, y = np.array(a), np.array(b)
    assert fe.cross_entropy(x, y, from_logits=True) == pytest.approx(mp_cross(a, b), rel=1e-13)
    assert fe.kl_divergence(x, y, from_logits=True) == pytest.approx(mp_kl(a, b), rel=1e-13)
    assert fe.js_divergence(x, y, from_logits=True) == pytest.approx(mp_js(a, b), rel=1e-12)
    assert fe.js_distance(x, y, from_logits=True, base=2) == pytest.approx(np.sqrt(mp_js(a, b) / np.log(2)), rel=1e-12)


def _near_pair(c: int, eps: float, shift: float, seed: int) -> "tuple[np.ndarray, np.ndarray]":
    """Logits b and a = b + shift + eps·u: a divergence of order eps², far below the size of
    the one-pass terms (which carried 1e-16 absolute error: 1e-8 … 4e-2 relative before)."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=c) * 3
    return b + shift + eps * rng.normal(size=c), b


def mp_kl_near(a: List[float], b: List[float], dps: int = 60) -> float:
    """KL of the softmaxes to ~30 digits past the cancellation of the near-equal pairs
    (60 digits suffice where KL ≥ 1e-20 of its terms and no row is confident; a confident
    nearly equal row, KL ~ 1e-51, needs `dps` ≈ 150)."""
    with mpmath.workdps(dps):
        x, y = [mpmath.mpf(v) for v in a], [mpmath.mpf(v) for v in b]
        la = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in x))
        lb = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in y))
        return float(mpmath.fsum(mpmath.exp(u - la) * ((u - la) - (v - lb)) for u, v in zip(x, y)))


@pytest.mark.parametrize("c", [2, 3, 10, 100, 2000, 40_000])
@pytest.mark.parametrize("eps", [1e-3, 1e-6, 1e-9])
@pytest.mark.parametrize("shift", [0.0, 100.0])
def test_kl_of_nearly_equal_logits_matches_mpmath(c: int, eps: float, shift: float) -> None:
    # one row: short (group), medium (blocked) and long (parallel blocks, > 2^15)
    a, b = _near_pair(c, eps, shift, seed=c)
    want = mp_kl_near(list(a), list(b))
    got = fe.kl_divergence(a, b, from_logits=True)
    assert got == pytest.approx(want, rel=1e-13, abs=0), (got, want)
    assert fe.kl_divergence(a, b, from_logits=True, base=2) == pytest.approx(want / np.log(2), rel=1e-13)


@pytest.mark.parametrize("c", [300, 2000, 40_000])
@pytest.mark.parametrize("eps", [1e-3, 1e-5])
@pytest.mark.parametrize("shift", [0.0, 100.0])
def test_kl_of_nearly_equal_float32_logit_rows_is_within_the_contract(c: int, eps: float, shift: float) -> None:
    # float32 rows longer than a group take f32 terms where |t| ≤ 1/16 (DESIGN §2b)
    a, b = _near_pair(c, eps, shift, seed=3 * c)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    want = mp_kl_near([float(v) for v in a32], [float(v) for v in b32])
    assert fe.kl_divergence(a32, b32, from_logits=True) == pytest.approx(want, rel=1e-6, abs=0)


@pytest.mark.parametrize("c", [300, 5000])
@pytest.mark.parametrize("eps", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("shift", [0.0, 100.0])
def test_kl_of_float32_logit_rows_at_any_distance_is_within_the_contract(c: int, eps: float, shift: float) -> None:
    # rows whose t = ln(P/Q) spread past the short series (|t| > 1/16): the float32 second
    # pass's other forms (series to |t| = 1 and 2, the closed forms beyond) where the one
    # pass cannot vouch, the one pass where it can
    a, b = _near_pair(c, eps, shift, seed=5 * c + int(10 * eps))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    want = mp_kl_near([float(v) for v in a32], [float(v) for v in b32])
    assert fe.kl_divergence(a32, b32, from_logits=True) == pytest.approx(want, rel=1e-6, abs=0)


@pytest.mark.parametrize("c", [3, 10, 16])
def test_kl_of_short_float32_logit_rows_at_any_distance_in_every_layout(c: int) -> None:
    # groups of sixteen short rows: the one pass where it vouches, the float32 second
    # pass's forms elsewhere; within the contract, and the same bits in every layout
    pairs = [_near_pair(c, eps, 0.0, seed=11 * c + k) for k, eps in enumerate([0.05, 0.5, 2.0, 1e-4] * 5)]
    a = np.array([p[0] for p in pairs], dtype=np.float32)
    b = np.array([p[1] for p in pairs], dtype=np.float32)
    got = fe.kl_divergence(a, b, from_logits=True)
    want = [mp_kl_near([float(v) for v in x], [float(v) for v in y]) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(fe.kl_divergence(a.T, b.T, axis=0, from_logits=True), got)
    offsets = np.arange(0, a.size + 1, c)
    np.testing.assert_array_equal(fe.kl_divergence(a.ravel(), b.ravel(), offsets=offsets, from_logits=True), got)


@pytest.mark.parametrize("c", [2, 3, 10, 40])
def test_kl_of_nearly_equal_logit_rows_in_every_layout(c: int) -> None:
    # 19 rows (a group of sixteen and a rest), some near, some far: each row exact, and
    # rows, columns and ragged rows give the same bits
    pairs = [_near_pair(c, eps, shift, seed=7 * c + k) for k, (eps, shift) in enumerate(
        [(1e-9, 0.0), (1e-6, 100.0), (1e-3, -2.5), (1.0, 0.0)] * 4 + [(1e-8, 1.0)] * 3
    )]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    got = fe.kl_divergence(a, b, from_logits=True)
    want = [mp_kl_near(list(x), list(y)) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(fe.kl_divergence(a.T, b.T, axis=0, from_logits=True), got)
    offsets = np.arange(0, a.size + 1, c)
    np.testing.assert_array_equal(fe.kl_divergence(a.ravel(), b.ravel(), offsets=offsets, from_logits=True), got)
    # float32 data: exact for the float32 values within DESIGN §2b's contract
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    want32 = [mp_kl_near([float(v) for v in x], [float(v) for v in y]) for x, y in zip(a32, b32)]
    np.testing.assert_allclose(fe.kl_divergence(a32, b32, from_logits=True), want32, rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kl_of_two_class_logit_rows_matches_mpmath(dtype: type) -> None:
    # binary classifiers' (N, 2) logits take a closed form (kernels::logits_kl_two) where
    # both gaps are at most 350, the general form beyond: random, nearly equal, confident,
    # shifted and out-of-range rows, every one within 1e-13 (float64) / 1e-6 (float32) of
    # the exact value of its data, and the same bits in every layout
    rng = np.random.default_rng(21)
    a = rng.normal(size=(64, 2)) * np.array([[1.0], [5.0], [30.0], [0.1]]).repeat(16, 0)
    b = a + rng.normal(size=(64, 2)) * 10.0 ** -rng.integers(0, 10, size=(64, 1))
    a[::7] += 1e4
    b[::7] += 1e4
    a[5], b[5] = [0.0, 349.0], [0.0, 1.0]
    a[6], b[6] = [0.0, 351.0], [2.0, 1.0]
    a[9], b[9] = [-500.0, 300.0], [1.0, 1.0]
    a, b = a.astype(dtype), b.astype(dtype)
    got = fe.kl_divergence(a, b, from_logits=True)
    want = [mp_kl_near([float(v) for v in x], [float(v) for v in y], dps=150) for x, y in zip(a, b)]
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-300)
    np.testing.assert_array_equal(fe.kl_divergence(a.T, b.T, axis=0, from_logits=True), got)
    offsets = np.arange(0, a.size + 1, 2)
    np.testing.assert_array_equal(fe.kl_divergence(a.ravel(), b.ravel(), offsets=offsets, from_logits=True), got)


def mp_js_near(a: List[float], b: List[float]) -> float:
    """JS of the softmaxes at 60 digits (JS of nearly equal rows is ~eps² of its terms)."""
    with mpmath.workdps(60):
        return mp_js(a, b)


@pytest.mark.parametrize("c", [2, 3, 10, 16, 17, 40])
def test_js_of_float32_logit_rows_is_within_the_contract_in_every_layout(c: int) -> None:
    # float32 rows: the JS terms' g(±δ) in its f32 form (DESIGN §2b: within 1e-6 of the
    # exact value of the float32 data); rows of ≤ 16 logits reuse the sums' exponentials,
    # longer ones recompute them; near, far and confident rows; every layout the same bits
    pairs = [_near_pair(c, eps, shift, seed=11 * c + k) for k, (eps, shift) in enumerate(
        [(1e-6, 0.0), (1e-4, 100.0), (1e-2, -2.5), (1.0, 0.0), (30.0, 0.0)] * 3 + [(1e-3, 1.0)] * 4
    )]
    a32 = np.array([p[0] for p in pairs]).astype(np.float32)
    b32 = np.array([p[1] for p in pairs]).astype(np.float32)
    got = fe.js_divergence(a32, b32, from_logits=True)
    want = [mp_js_near([float(v) for v in x], [float(v) for v in y]) for x, y in zip(a32, b32)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-300)
    np.testing.assert_array_equal(fe.js_divergence(a32.T, b32.T, axis=0, from_logits=True), got)
    offsets = np.arange(0, a32.size + 1, c)
    np.testing.assert_array_equal(fe.js_divergence(a32.ravel(), b32.ravel(), offsets=offsets, from_logits=True), got)


def test_kl_and_js_of_equal_logits_are_exactly_zero() -> None:
    z = np.random.default_rng(3).normal(size=(50, 33)) * 20
    assert np.all(fe.kl_divergence(z, z, from_logits=True) == 0.0)
    assert np.all(fe.js_divergence(z, z, from_logits=True) == 0.0)
    # a constant shift leaves the softmax unchanged: 0 up to rounding, never negative
    kl = fe.kl_divergence(z, z + 0.5, from_logits=True)
    assert np.all((kl >= 0) & (kl < 1e-14))


finite = st.floats(-80, 80, allow_nan=False, width=64)


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 40)), elements=finite))
@example(np.array([[0.0, -80.0, -79.0]]))
@example(np.array([[1.0] * 17]))
def test_property_entropy_of_logits_is_entropy_of_softmax(z: np.ndarray) -> None:
    want = scipy.stats.entropy(scipy.special.softmax(z, axis=-1), axis=-1)
    got = fe.entropy(z, from_logits=True)
    # scipy rounds the probabilities first: its small entropies carry ~1e-11 relative error
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)


@given(
    arrays(np.float64, (3, 9), elements=finite),
    arrays(np.float64, (3, 9), elements=finite),
)
# found by the explore profile: scipy's jensenshannon of equal rows came out a rounding
# below 0, and √ of it warned (the oracle, now the divergence's own sum)
@example(np.zeros((3, 9)), np.pad(np.array([[3.89089172e-09]]), ((0, 2), (0, 8))))
def test_property_pairs_are_those_of_the_softmaxes(a: np.ndarray, b: np.ndarray) -> None:
    P, Q = scipy.special.softmax(a, axis=-1), scipy.special.softmax(b, axis=-1)
    ce = fe.cross_entropy(a, b, from_logits=True)
    # (the NumPy expression rounds the probabilities first: an absolute error of ~1e-16 on confident rows,
    # where this library is exact — checked against mpmath above)
    np.testing.assert_allclose(ce, -(P * scipy.special.log_softmax(b, axis=-1)).sum(-1), rtol=1e-10, atol=1e-15)
    lp, lq = scipy.special.log_softmax(a, axis=-1), scipy.special.log_softmax(b, axis=-1)
    np.testing.assert_allclose(fe.kl_divergence(a, b, from_logits=True), (P * (lp - lq)).sum(-1), rtol=1e-9, atol=1e-14)
    # (compared as divergences, ½KL(P‖M) + ½KL(Q‖M) summed directly: scipy's jensenshannon
    # takes √ of its rounding noise, ~1e-9 where JS ~ 1e-28, and of a negative one)
    M = (P + Q) / 2
    js = (scipy.special.rel_entr(P, M).sum(-1) + scipy.special.rel_entr(Q, M).sum(-1)) / 2
    np.testing.assert_allclose(fe.js_divergence(a, b, from_logits=True), js, rtol=1e-9, atol=1e-15)
    # cross-entropy = entropy + KL
    np.testing.assert_allclose(ce, fe.entropy(a, from_logits=True) + fe.kl_divergence(a, b, from_logits=True), rtol=1e-12)


def test_special_values() -> None:
    assert np.isnan(fe.entropy([NINF, NINF], from_logits=True))
    assert np.isnan(fe.entropy([0.0, np.nan], from_logits=True))
    assert np.isnan(fe.entropy([0.0, np.inf], from_logits=True))
    assert fe.entropy([0.0, NINF, 0.0], from_logits=True) == pytest.approx(np.log(2), rel=1e-15)
    # an empty distribution: an empty sum, as the probability path
    assert fe.entropy(np.zeros((2, 0)), from_logits=True).tolist() == [0.0, 0.0]
    assert fe.perplexity(np.zeros((2, 0)), from_logits=True).tolist() == [1.0, 1.0]
    # q = 0 < p: +inf; p = 0 (−inf logit) against anything: no term
    assert fe.kl_divergence([0.0, 0.0], [0.0, NINF], from_logits=True) == np.inf
    assert fe.cross_entropy([0.0, 0.0], [0.0, NINF], from_logits=True) == np.inf
    assert fe.kl_divergence([0.0, NINF], [0.0, NINF], from_logits=True) == 0.0
    assert fe.js_divergence([0.0, NINF], [NINF, 0.0], from_logits=True, base=2) == pytest.approx(1.0, rel=1e-15)
    for f in (fe.kl_divergence, fe.cross_entropy, fe.js_divergence, fe.js_distance):
        assert np.isnan(f([NINF, NINF], [0.0, 0.0], from_logits=True))
        assert np.isnan(f([0.0, 1.0], [np.nan, 0.0], from_logits=True))
    # the row with −inf in the middle of a long row, past the vector tails
    z = np.zeros(1000)
    z[::3] = NINF
    assert fe.entropy(z, from_logits=True) == pytest.approx(np.log(np.count_nonzero(np.isfinite(z))), rel=1e-14)


@pytest.mark.parametrize("layout", ["1-D", "rows", "columns", "long"])
def test_finite_logits_whose_gaps_overflow_are_not_nan(layout: str) -> None:
    """Logits of both signs beyond ±8.9e307: m − z overflows to +inf where e^{z−m} is 0,
    and 0·inf made the terms NaN (entropy, perplexity, cross-entropy, KL). The values are
    those of the softmaxes: all the mass on the maxima; a log-probability below −1.8e308
    gives +inf, as the exact divergence overflows."""
    big = 1e308
    cases = [  # (a, b, entropy of a, cross-entropy H(a, b), KL(a‖b))
        ([big, -big], [-big, big], 0.0, np.inf, np.inf),
        ([big, -big, 0.0], [0.0, -big, big], 0.0, big, big),
        ([big, big, -big], [0.0, 0.0, 0.0], np.log(2), np.log(3), np.log(3) - np.log(2)),
        ([big, -big], [big, -big], 0.0, 0.0, 0.0),
        ([-big, 5.0, big, 0.0], [0.0, 0.0, 0.0, 0.0], 0.0, np.log(4), np.log(4)),
    ]
    for a, b, h, ce, kl in cases:
        a, b = np.array(a), np.array(b)
        if layout == "1-D":
            got = lambda f, *x: f(*x, from_logits=True)  # noqa: E731
        elif layout == "rows":  # (40, C): groups of sixteen rows and a tail
            got = lambda f, *x: f(*(np.tile(v, (40, 1)) for v in x), from_logits=True)[7]  # noqa: E731
        elif layout == "columns":
            got = lambda f, *x: f(*(np.tile(v, (40, 1)).T.copy() for v in x), axis=0, from_logits=True)[39]  # noqa: E731
        else:  # one row of 3·10^4 logits: the long-row blocks
            reps = 30_000 // a.size
            got = lambda f, *x: f(*(np.repeat(v, reps) for v in x), from_logits=True)  # noqa: E731
            h, ce, kl = h + np.log(reps), ce + (np.log(reps) if np.isfinite(ce) and ce != big else 0), kl
        assert got(fe.entropy, a) == pytest.approx(h, rel=1e-14, abs=1e-300), (a, layout)
        assert got(fe.perplexity, a) == pytest.approx(np.exp(h), rel=1e-14), (a, layout)
        if layout == "long" and np.isfinite(ce) and ce == big:
            # the long blocks' sums overflow on the way (each term is 1e308): +inf
            assert got(fe.cross_entropy, a, b) >= big and got(fe.kl_divergence, a, b) >= big
            continue
        assert got(fe.cross_entropy, a, b) == pytest.approx(ce, rel=1e-14), (a, b, layout)
        # (long rows: the difference of two ~10-nat log-normalisers, 2.6e-14 measured)
        rtol = 1e-13 if layout == "long" else 1e-14
        assert got(fe.kl_divergence, a, b) == pytest.approx(kl, rel=rtol, abs=1e-15), (a, b, layout)
    # float32 extremes do not overflow in the float64 arithmetic, two classes included
    f = np.array([3e38, -3e38], np.float32)
    assert fe.kl_divergence(f, f[::-1].copy(), from_logits=True) == pytest.approx(6e38, rel=1e-7)
    assert fe.kl_divergence(f, f.copy(), from_logits=True) == 0.0
    rows = np.tile(f, (40, 1))
    np.testing.assert_allclose(fe.kl_divergence(rows, rows[:, ::-1].copy(), from_logits=True), 6e38, rtol=1e-7)
    # NaN logits and rows without a finite maximum stay NaN
    assert np.isnan(fe.entropy([big, -big, np.nan], from_logits=True))
    assert np.isnan(fe.kl_divergence([big, -big], [np.nan, 0.0], from_logits=True))
    assert np.isnan(fe.cross_entropy([big, -big], [np.inf, 0.0], from_logits=True))


def test_negative_logits_are_fine_and_options_are_checked() -> None:
    assert fe.entropy([-3.0, -3.0], from_logits=True) == pytest.approx(np.log(2))
    with pytest.raises(TypeError, match="`from_logits` must be True or False"):
        fe.entropy([0.0, 1.0], from_logits="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`from_logits`"):
        fe.kl_divergence([0.0], [1.0], from_logits=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`base`"):
        fe.js_distance([0.0], [1.0], from_logits=True, base=1.0)
    with pytest.raises(ValueError, match="broadcastable"):
        fe.cross_entropy(np.zeros((2, 3)), np.zeros((4, 3)), from_logits=True)
    with pytest.raises(TypeError, match="real numbers"):
        fe.entropy(np.array([1j, 2j]), from_logits=True)


@pytest.mark.parametrize("axis", [0, 1, -1, 2, None])
def test_every_axis_and_layout(axis: Any) -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 70, 6)) * 5
    b = rng.normal(size=(4, 70, 6)) * 5

    def ref(x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, axis, -1) if axis is not None else x.reshape(-1)

    want_h = scipy.stats.entropy(scipy.special.softmax(ref(a), axis=-1), axis=-1)
    for layout in (a, np.asfortranarray(a), a[::-1, :, ::-1][::-1, :, ::-1]):
        np.testing.assert_allclose(fe.entropy(layout, axis=axis, from_logits=True), want_h, rtol=1e-10)
    P, Q = scipy.special.softmax(ref(a), axis=-1), scipy.special.softmax(ref(b), axis=-1)
    np.testing.assert_allclose(fe.kl_divergence(a, b, axis=axis, from_logits=True), scipy.stats.entropy(P, Q, axis=-1), rtol=1e-10)
    np.testing.assert_allclose(fe.js_distance(a, np.asfortranarray(b), axis=axis, from_logits=True),
                               jensenshannon(P, Q, axis=-1), rtol=1e-10)
    # strided rows give the bits of contiguous rows
    if axis is not None:
        np.testing.assert_array_equal(
            fe.entropy(a, axis=axis, from_logits=True),
            fe.entropy(np.ascontiguousarray(np.moveaxis(a, axis, -1)), from_logits=True),
        )


def test_broadcast_q_and_mixed_dtypes() -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(size=(20, 8))
    b = rng.normal(size=8).astype(np.float32)
    np.testing.assert_array_equal(
        fe.kl_divergence(a, b, from_logits=True), fe.kl_divergence(a, np.tile(b, (20, 1)), from_logits=True)
    )


def test_float32_is_exact_for_the_float32_data() -> None:
    rng = np.random.default_rng(7)
    z = (rng.normal(size=(200, 50)) * 10).astype(np.float32)
    # Short float32 rows' entropy and cross-entropy take f32 exponentials (DESIGN §2b
    # allows 1e-6; every term is non-negative, so the f32 exp's rounding is the bound:
    # 5.9e-8 and 7.4e-9 measured here, 4e-7 the Rust kernel test's bound); KL keeps f64
    # ones; JS takes f64 exponentials and its g(±δ) in f32 form.
    np.testing.assert_allclose(fe.entropy(z, from_logits=True), fe.entropy(z.astype(np.float64), from_logits=True), rtol=4e-7)
    y = (rng.normal(size=(200, 50)) * 10).astype(np.float32)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    np.testing.assert_allclose(fe.cross_entropy(z, y, from_logits=True), fe.cross_entropy(z64, y64, from_logits=True), rtol=4e-7)
    np.testing.assert_allclose(fe.kl_divergence(z, y, from_logits=True), fe.kl_divergence(z64, y64, from_logits=True), rtol=1e-13)
    # JS: f64 probabilities, g(±δ) in its f32 form (non-negative terms, each within 2e-7)
    np.testing.assert_allclose(fe.js_divergence(z, y, from_logits=True), fe.js_divergence(z64, y64, from_logits=True), rtol=4e-7)


def test_any_thread_count_gives_the_same_bits() -> None:
    z = np.random.default_rng(8).normal(size=(3000, 200))
    y = z[::-1].copy()
    threads = fe.get_num_threads()
    try:
        fe.set_num_threads(1)
        one = [fe.entropy(z, from_logits=True), fe.kl_divergence(z, y, from_logits=True), fe.js_divergence(z, y, from_logits=True)]
        fe.set_num_threads(3)
        three = [fe.entropy(z, from_logits=True), fe.kl_divergence(z, y, from_logits=True), fe.js_divergence(z, y, from_logits=True)]
    finally:
        fe.set_num_threads(threads)
    for x, w in zip(one, three):
        np.testing.assert_array_equal(x, w)


def test_long_rows_and_axis_none_equal_the_reference() -> None:
    z = np.random.default_rng(9).normal(size=300_000) * 3
    want = mp_entropy(list(z[:2000]))
    assert fe.entropy(z[:2000], from_logits=True) == pytest.approx(want, rel=1e-13)
    whole = fe.entropy(z.reshape(600, 500), axis=None, from_logits=True)
    assert whole == pytest.approx(fe.entropy(z, from_logits=True), rel=1e-13)
    assert whole == pytest.approx(scipy.stats.entropy(scipy.special.softmax(z)), rel=1e-11)


def test_dask_row_chunks_are_bitwise_local() -> None:
    da = pytest.importorskip("dask.array")
    import fastentropy.dask as fed

    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(60, 9)), rng.normal(size=(60, 9))
    ad, bd = da.from_array(a, chunks=(7, 4)), da.from_array(b, chunks=(11, 9))
    np.testing.assert_array_equal(fed.entropy(ad, from_logits=True).compute(), fe.entropy(a, from_logits=True))
    np.testing.assert_array_equal(fed.kl_divergence(ad, bd, from_logits=True).compute(), fe.kl_divergence(a, b, from_logits=True))
    # nearly equal rows take the exact second pass in the chunks too
    near = a + 1e-7 * rng.normal(size=a.shape)
    nd, ad = da.from_array(near, chunks=(7, 9)), da.from_array(a, chunks=(7, 9))
    np.testing.assert_array_equal(fed.kl_divergence(nd, ad, from_logits=True).compute(), fe.kl_divergence(near, a, from_logits=True))
    np.testing.assert_array_equal(
        fed.cross_entropy(ad, bd, from_logits=True, base=2).compute(), fe.cross_entropy(a, b, from_logits=True, base=2)
    )
    assert float(fed.entropy(ad, axis=None, from_logits=True).compute()) == fe.entropy(a, axis=None, from_logits=True)
    masked = da.ma.masked_array(ad, mask=ad < -1.5)
    np.testing.assert_array_equal(
        fed.entropy(masked, from_logits=True).compute(), fe.entropy(np.where(a < -1.5, NINF, a), from_logits=True)
    )


def _cli(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "fastentropy", "score", *args], capture_output=True, text=True, timeout=120)


def test_cli_from_logits(tmp_path: Any) -> None:
    rng = np.random.default_rng(11)
    z, y = rng.normal(size=(30, 6)), rng.normal(size=(30, 6))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    r = _cli(str(tmp_path / "z.npy"), "--from-logits", "--out", str(tmp_path / "h.npy"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "h.npy"), fe.entropy(z, from_logits=True))
    for measure, f in (("kl", fe.kl_divergence), ("cross-entropy", fe.cross_entropy), ("js", fe.js_divergence)):
        out = tmp_path / f"{measure}.npy"
        r = _cli(str(tmp_path / "z.npy"), "--measure", measure, "--q", str(tmp_path / "y.npy"), "--from-logits",
                 "--base", "2", "--out", str(out))
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(out), f(z, y, from_logits=True, base=2))
    labels = tmp_path / "labels.npy"
    np.save(labels, np.zeros(30, dtype=np.int64))
    r = _cli(str(tmp_path / "z.npy"), "--measure", "kl", "--labels", str(labels), "--from-logits")
    assert r.returncode == 2 and "softmax-ce" in r.stderr


# ------------------------------------------------------------------------------ memory

_MEMORY = textwrap.dedent(
    """
    import json, resource
    import numpy as np
    import fastentropy as fe

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    z = np.empty((1 << 20, 64), dtype=np.float32)   # 256 MB, every page touched
    rng = np.random.default_rng(0)
    for i in range(0, z.shape[0], 1 << 16):
        z[i:i + (1 << 16)] = rng.standard_normal((1 << 16, 64), dtype=np.float32)
    y = z[::-1]                                       # a view: no second array
    fe.entropy(z[:4], from_logits=True); fe.kl_divergence(z[:4], y[:4], from_logits=True)
    fe.js_divergence(z[:4], y[:4], from_logits=True)
    before = peak_mb()
    h = fe.entropy(z, from_logits=True)
    kl = fe.kl_divergence(z, y, from_logits=True)
    ce = fe.cross_entropy(z, y, from_logits=True)
    js = fe.js_divergence(z, y, from_logits=True)
    whole = fe.entropy(z, axis=None, from_logits=True)
    after = peak_mb()
    print(json.dumps({"before": before, "after": after, "ok": bool(np.isfinite(h).all() and np.isfinite(whole))}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are kB on Linux only")
def test_peak_memory_grows_by_the_results_only() -> None:
    """On a 256 MB float32 array of logits the peak RSS grows by the (N,) results (8 MB
    each, one alive at a time plus the last) — never by an N×C probability array (256 MB
    as float32, 512 MB as float64)."""
    proc = run_fresh([sys.executable, "-c", _MEMORY], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    assert m["ok"]
    growth = m["after"] - m["before"]
    assert growth < 48, f"peak RSS grew by {growth:.1f} MB on a 256 MB input"


def _f32_long_rows() -> List[List[float]]:
    rng = np.random.default_rng(21)
    n = 1500  # several blocks of 256: the blocked f32 pass, clean and checked blocks
    rows = [
        (rng.normal(size=n) * 3),
        np.linspace(-100, 20, n),  # the maximum rises block after block; gaps beyond −87
        np.r_[np.full(n - 1, -60.0), 25.0],  # a confident row: tiny entropy
        np.where(rng.random(n) < 0.2, -np.inf, rng.normal(size=n) * 10),
    ]
    return [list(r.astype(np.float32).astype(np.float64)) for r in rows]


@pytest.mark.parametrize("i", range(4))
def test_float32_long_rows_keep_the_float32_contract(i: int) -> None:
    """float32 rows take the native f32 exp (DESIGN §2b): within 1e-6 of the exact value
    of the float32 data (mpmath), on long rows read in blocks."""
    rows = _f32_long_rows()
    z = rows[i]
    y = rows[(i + 1) % len(rows)]
    z32, y32 = np.array(z, dtype=np.float32), np.array(y, dtype=np.float32)
    assert fe.entropy(z32, from_logits=True) == pytest.approx(mp_entropy(z), rel=1e-6, abs=0)
    ce = mp_cross(z, y)
    assert fe.cross_entropy(z32, y32, from_logits=True) == pytest.approx(ce, rel=1e-6)
    assert fe.kl_divergence(z32, y32, from_logits=True) == pytest.approx(mp_kl(z, y), rel=1e-6)
    assert fe.js_divergence(z32, y32, from_logits=True) == pytest.approx(mp_js(z, y), rel=1e-6)
