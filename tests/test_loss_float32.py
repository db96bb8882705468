"""The float32 contract of the loss family (DESIGN §2b): float32 logits take the native f32
exp (sixteen lanes, sums in f64), and every result stays within 1e-6 relative of the exact
value of the float32 data — on adversarial rows, against an mpmath reference.

Bounds checked (the README states them):
- softmax_cross_entropy (per-row loss, either label), log_softmax: 1e-6 relative (each is
  a sum of same-signed terms, so nothing cancels);
- logsumexp: ``|error| <= 1e-6 * (|max| + log1p(rest))``, i.e. relative wherever the row's
  maximum is >= 0 (for a negative maximum the exact result may cancel towards 0, where no
  float32 — or float64 — method keeps relative precision);
- softmax and the gradient: 1e-6 relative, or an absolute 2e-45 (the float32 spacing)
  where the value is below the normal float32 range.
"""

from __future__ import annotations

from typing import Iterator, List

import mpmath
import numpy as np
import pytest

import fastentropy as fe

# 120 digits: lse - z_j stays exact to far below the float32 spacing even when the result is
# 1e-42 and lse is 1e30.
mpmath.mp.dps = 120
NINF = np.float32(-np.inf)


@pytest.fixture(autouse=True)
def _digits() -> Iterator[None]:
    # mpmath's precision is global and other test modules set theirs (50, 60): under xdist
    # one may run first in the same worker. Each test here gets its 120 digits back.
    with mpmath.workdps(120):
        yield


def _rows() -> List[np.ndarray]:
    """Adversarial float32 rows (all with at least one finite entry)."""
    rng = np.random.default_rng(20261201)
    rows: List[np.ndarray] = []
    for c in (1, 2, 3, 10, 17, 100, 300, 1000):
        rows.append((rng.standard_normal(c) * 3).astype(np.float32))  # ordinary logits
        big = np.full(c, 0.1234567, np.float32)  # one huge and many tiny
        big[c // 2] = 46.65432
        rows.append(big)
        r = (rng.standard_normal(c) * 1e30).astype(np.float32)  # +-1e30
        rows.append(r)
        r = (rng.standard_normal(c) * 3).astype(np.float32)  # -inf entries (masked logits)
        r[::3] = NINF
        r[1 % c] = 0.5
        rows.append(r)
        r = (rng.uniform(-60, -20, c)).astype(np.float32)  # confident: loss ~ 1e-20 .. 1e-9
        r[0] = np.float32(0.3)
        rows.append(r)
        r = (rng.uniform(-100, -88, c)).astype(np.float32)  # loss ~ 1e-40: below f32's normal range
        r[-1] = np.float32(1.7)
        rows.append(r)
        r = (rng.standard_normal(c) * 30).astype(np.float32)  # mixed magnitudes, tiny values
        r[::4] = np.float32(1e-30)
        r[2 % c] = np.float32(3e-39)  # subnormal
        rows.append(r)
    return rows


def _exact(row: np.ndarray):
    """(max, lse, rest, log-softmax) of a float32 row, from its values in 120-digit
    arithmetic; rest = sum over every index but one argmax."""
    vals = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
    m = max(vals)
    others = list(vals)
    others.remove(m)
    rest = mpmath.fsum(mpmath.exp(v - m) for v in others)
    lse = m + mpmath.log1p(rest)
    lp = [mpmath.mpf(float(v)) - lse if np.isfinite(v) else None for v in row]
    return m, lse, rest, lp


@pytest.mark.parametrize("row", _rows(), ids=lambda r: f"C{r.size}")
def test_float32_results_are_within_1e_6_of_the_exact_value(row: np.ndarray) -> None:
    c = row.size
    x = row.reshape(1, c)
    m, lse, rest, lp = _exact(row)
    p = [mpmath.exp(v) if v is not None else mpmath.mpf(0) for v in lp]
    got = fe.logsumexp(x)[0]
    assert abs(mpmath.mpf(float(got)) - lse) <= 1e-6 * (abs(m) + mpmath.log1p(rest)) + 1e-300

    argmax = int(np.argmax(row))
    for y in sorted({argmax, 0, c - 1, c // 2}):
        if lp[y] is None:
            continue
        want = -lp[y]  # -log softmax(z)[y]
        loss = fe.softmax_cross_entropy(x, np.array([y]), reduction="none")[0]
        assert abs(mpmath.mpf(float(loss)) - want) <= 1e-6 * want + 1e-320, (y, loss, want)
        _, grad = fe.softmax_cross_entropy(x, np.array([y]), return_grad=True, reduction="sum")
        for j in range(c):
            g_want = p[j] - 1 if j == y else p[j]
            assert abs(mpmath.mpf(float(grad[0, j])) - g_want) <= 1e-6 * abs(g_want) + 2e-45, (y, j)
    ls = fe.log_softmax(x)[0]
    sm = fe.softmax(x)[0]
    for j in range(c):
        if lp[j] is None:
            assert sm[j] == 0 and ls[j] == -np.inf
            continue
        # log-softmax values in the float32 subnormal range: the absolute spacing bounds them
        assert abs(mpmath.mpf(float(ls[j])) - lp[j]) <= 1e-6 * abs(lp[j]) + 1e-45, j
        assert abs(mpmath.mpf(float(sm[j])) - p[j]) <= 1e-6 * p[j] + 2e-45, j


def test_confident_float32_loss_is_tiny_and_exact() -> None:
    """A confidently correct prediction: the loss log1p(sum e^(z_i - z_y)) keeps its
    relative precision at 1e-20 and at 1e-40 (float32 torch returns 0 for both)."""
    x = np.array([[46.65432, 0.1234567, 0.1234567, -3.25], [0.3, -100.7, -95.1, -99.0]], np.float32)
    got = fe.softmax_cross_entropy(x, np.array([0, 0]), reduction="none")
    for i in range(2):
        want = -_exact(x[i])[3][0]
        assert 0 < got[i] and abs(mpmath.mpf(float(got[i])) - want) <= 1e-6 * want


def test_long_float32_rows_against_float64() -> None:
    """Long rows (many blocks, the maximum late): float32 results within 1e-6 of the same
    data computed in float64 (which is exact to ~1e-15 here)."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((6, 70001)) * 4).astype(np.float32)
    x[1, -1] = 80.0
    x[2, :30000] = -np.inf
    x[3] -= 70.0
    x[3, 12345] = 20.0
    y = rng.integers(0, x.shape[1], 6)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(fe.logsumexp(x), fe.logsumexp(x64), rtol=1e-6)
    l32 = fe.softmax_cross_entropy(x, y, reduction="none")
    l64 = fe.softmax_cross_entropy(x64, y, reduction="none")
    np.testing.assert_allclose(l32, l64, rtol=1e-6)
    _, g32 = fe.softmax_cross_entropy(x, y, return_grad=True)
    _, g64 = fe.softmax_cross_entropy(x64, y, return_grad=True)
    np.testing.assert_allclose(g32, g64, rtol=1e-6, atol=2e-45)
    np.testing.assert_allclose(fe.softmax(x), fe.softmax(x64), rtol=1e-6, atol=2e-45)
