"""kl_divergence and js_divergence of float32 data: the fast forms (differences of native
f32 logarithms, kept leaf by leaf only where their error bound allows,
src/kernels/{kl,js}_f32.rs) and the exact forms they fall back to. Every result must stay
within DESIGN §2b's 1e-6 of the exact divergence of the float32 data (the float64 path on
the same values, itself checked against mpmath in test_accuracy.py), bitwise the same for
any thread count and any layout of the rows."""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np
import pytest

import fastentropy as fe

F32_CONTRACT = 1e-6
MEASURES = {"kl": fe.kl_divergence, "js": fe.js_divergence}


def _exact(measure: str, p: np.ndarray, q: np.ndarray, **kw: object) -> np.ndarray:
    return np.asarray(MEASURES[measure](p.astype(np.float64), q.astype(np.float64), **kw))


def _uniform(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    return rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)


def _nearly_equal(eps: float) -> Callable[[np.random.Generator, int], Tuple[np.ndarray, np.ndarray]]:
    def make(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
        p = rng.random(n, dtype=np.float32) + np.float32(1e-3)
        return p, (p * np.exp(eps * rng.standard_normal(n))).astype(np.float32)

    return make


def _mixed_leaves(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Runs of 200 elements alternately far apart and nearly equal: some leaves keep the
    fast form, their neighbours take the exact one."""
    p, far = _uniform(rng, n)
    near = (p * (1 + 1e-4 * rng.standard_normal(n))).astype(np.float32)
    q = np.where((np.arange(n) // 200) % 2 == 0, far, near).astype(np.float32)
    return p, q


def _zeros_and_binades(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Values over 2^-100 … 2^100, exact powers of two, and p = q = 0 pairs."""
    e = rng.integers(-100, 100, n)
    p = (rng.random(n) * 2.0 ** e).astype(np.float32)
    q = (rng.random(n) * 2.0 ** rng.integers(-100, 100, n)).astype(np.float32)
    p[::7] = 2.0 ** e[::7]
    both = rng.random(n) < 0.1
    p[both] = 0.0
    q[both] = 0.0
    return p, q


def _counts_against_probabilities(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Totals 10^6 apart: the one-pass finish cancels and the exact second pass runs."""
    p, q = _uniform(rng, n)
    return (p * np.float32(1e6)).astype(np.float32), (q / q.sum(dtype=np.float64)).astype(np.float32)


CASES: Dict[str, Callable[[np.random.Generator, int], Tuple[np.ndarray, np.ndarray]]] = {
    "uniform": _uniform,
    "spread 0.3": _nearly_equal(0.3),
    "spread 1e-1": _nearly_equal(1e-1),
    "nearly equal 1e-3": _nearly_equal(1e-3),
    "nearly equal 1e-6": _nearly_equal(1e-6),
    "mixed leaves": _mixed_leaves,
    "zeros and binades": _zeros_and_binades,
    "counts against probabilities": _counts_against_probabilities,
}


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("n", [1000, 40_000, 300_000])
@pytest.mark.parametrize("case", list(CASES))
def test_one_distribution_is_within_the_float32_contract(measure: str, case: str, n: int) -> None:
    # 1000: the row form; 40 000 and 300 000: the long form's fixed blocks
    p, q = CASES[case](np.random.default_rng(n), n)
    want = float(_exact(measure, p, q))
    got = MEASURES[measure](p, q)
    assert abs(got - want) <= F32_CONTRACT * want, (got, want)
    if measure == "js":
        raw = fe.js_divergence(p, q, normalize=False)
        want = float(_exact(measure, p, q, normalize=False))
        assert abs(raw - want) <= F32_CONTRACT * want, (raw, want)


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("classes", [5, 10, 17, 33, 64, 100, 101, 128, 129, 200, 256, 300, 1000])
@pytest.mark.parametrize("case", ["uniform", "spread 0.3", "nearly equal 1e-3", "zeros and binades"])
def test_rows_are_within_the_float32_contract(measure: str, case: str, classes: int) -> None:
    # short rows take the vertical groups, longer ones (KL: > 128, JS: > 100) the row
    # form's fast leaves
    n_rows = 64
    p, q = CASES[case](np.random.default_rng(classes), n_rows * classes)
    p, q = p.reshape(n_rows, classes), q.reshape(n_rows, classes)
    want = _exact(measure, p, q, axis=-1)
    got = MEASURES[measure](p, q, axis=-1)
    np.testing.assert_allclose(got, want, rtol=F32_CONTRACT, atol=0)


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("classes", [100, 101, 128, 129, 256, 1000])
def test_rows_give_the_same_bits_in_every_layout(measure: str, classes: int) -> None:
    f = MEASURES[measure]
    rng = np.random.default_rng(5)
    p, q = _mixed_leaves(rng, 40 * classes)
    p, q = p.reshape(40, classes), q.reshape(40, classes)
    rows = f(p, q, axis=-1)
    columns = f(np.ascontiguousarray(p.T), np.ascontiguousarray(q.T), axis=0)
    offsets = np.arange(0, p.size + 1, classes, dtype=np.int64)
    ragged = f(p.reshape(-1), q.reshape(-1), offsets=offsets)
    one_by_one = np.array([f(a, b) for a, b in zip(p, q)])
    assert rows.tobytes() == columns.tobytes() == ragged.tobytes() == one_by_one.tobytes()


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("case", ["uniform", "mixed leaves", "spread 0.3"])
def test_any_thread_count_gives_the_same_bits(measure: str, case: str, restore_threads: int) -> None:
    f = MEASURES[measure]
    p, q = CASES[case](np.random.default_rng(11), 2_000_003)
    rows_p, rows_q = p[: 1000 * 300].reshape(1000, 300), q[: 1000 * 300].reshape(1000, 300)
    seen = []
    for threads in (1, 2, 3):
        fe.set_num_threads(threads)
        seen.append((f(p, q), f(rows_p, rows_q).tobytes()))
    assert seen[0] == seen[1] == seen[2]


def test_special_values_keep_their_kl_results() -> None:
    """The fast form refuses leaves with zero q under p > 0, inf, NaN, negatives and
    subnormals; the exact form then gives what it always gave."""
    rng = np.random.default_rng(3)
    p, q = _uniform(rng, 100_000)
    cases = []
    for where, value in [(q, 0.0), (q, np.inf), (p, np.nan), (q, 1e-40)]:
        a, b = p.copy(), q.copy()
        (a if where is p else b)[77_777] = value
        cases.append((a, b))
    zero_q, inf_q, nan_p, subnormal_q = (fe.kl_divergence(a, b) for a, b in cases)
    assert zero_q == np.inf
    assert np.isnan(inf_q) and np.isnan(nan_p)
    want = float(_exact("kl", *cases[3]))
    assert abs(subnormal_q - want) <= F32_CONTRACT * want
    with pytest.raises(ValueError):
        bad = q.copy()
        bad[5] = -0.5
        fe.kl_divergence(p, bad)


def test_special_values_keep_their_js_results() -> None:
    rng = np.random.default_rng(4)
    p, q = _uniform(rng, 100_000)
    for where, value, check in [
        ("q", 0.0, "finite"),
        ("p", np.inf, "nan"),
        ("q", np.nan, "nan"),
        ("q", 1e-40, "finite"),
    ]:
        a, b = p.copy(), q.copy()
        (a if where == "p" else b)[55_555] = value
        got = fe.js_divergence(a, b)
        if check == "nan":
            assert np.isnan(got)
        else:
            want = float(_exact("js", a, b))
            assert abs(got - want) <= F32_CONTRACT * want
    with pytest.raises(ValueError):
        bad = q.copy()
        bad[5] = -0.5
        fe.js_divergence(p, bad)


def _normalised_rows(case: str, n_rows: int, classes: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """`case` rows normalised in float32, as a model's outputs are (totals within ~1e-7 of
    1): the KL group form's fast lanes take them where far enough apart."""
    p, q = CASES[case](np.random.default_rng(seed), n_rows * classes)
    p, q = p.reshape(n_rows, classes), q.reshape(n_rows, classes)
    with np.errstate(invalid="ignore"):
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32), (q / q.sum(axis=1, keepdims=True)).astype(
            np.float32
        )


SHORT_CLASSES = [2, 3, 4, 5, 8, 10, 16, 17, 19, 20, 33, 64, 100, 128]


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("classes", SHORT_CLASSES)
@pytest.mark.parametrize(
    "case",
    ["uniform", "spread 0.3", "spread 1e-1", "nearly equal 1e-3", "nearly equal 1e-6", "mixed leaves", "zeros and binades"],
)
def test_short_normalised_rows_are_within_the_float32_contract(measure: str, case: str, classes: int) -> None:
    # float32 rows up to 128 (KL) / 100 (JS) elements take the vertical groups: sixteen
    # rows in the fast form (lane = row), the exact group form for the rows it leaves;
    # JS rows of 4–19 the φ form (src/kernels/js_phi_f32.rs)
    p, q = _normalised_rows(case, 203, classes, classes)
    want = _exact(measure, p, q, axis=-1)
    got = MEASURES[measure](p, q, axis=-1)
    np.testing.assert_allclose(got, want, rtol=F32_CONTRACT, atol=0)


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("classes", SHORT_CLASSES)
def test_short_normalised_rows_give_the_same_bits_in_every_layout(
    measure: str, classes: int, restore_threads: int
) -> None:
    f = MEASURES[measure]
    # far and nearly equal rows side by side, so groups mix fast and exact rows
    p, far = _normalised_rows("uniform", 203, classes, 3)
    near = _normalised_rows("nearly equal 1e-3", 203, classes, 3)[1]
    q = np.where((np.arange(203) % 7 == 3)[:, None], near, far).astype(np.float32)
    q[5, 0] = 0.0  # a zero under mass: +inf for KL
    p[9, 1] = np.nan
    rows = f(p, q, axis=-1)
    assert np.isnan(rows[9]) and (measure != "kl" or rows[5] == np.inf)
    columns = f(np.ascontiguousarray(p.T), np.ascontiguousarray(q.T), axis=0)
    offsets = np.arange(0, p.size + 1, classes, dtype=np.int64)
    ragged = f(p.reshape(-1), q.reshape(-1), offsets=offsets)
    one_by_one = np.array([f(a, b) for a, b in zip(p, q)])
    strided = f(np.repeat(p, 2, axis=1)[:, ::2], np.repeat(q, 2, axis=1)[:, ::2], axis=-1)
    assert rows.tobytes() == columns.tobytes() == ragged.tobytes() == one_by_one.tobytes() == strided.tobytes()
    seen = []
    for threads in (1, 2, 3):
        fe.set_num_threads(threads)
        seen.append(f(np.tile(p, (50, 1)), np.tile(q, (50, 1)), axis=-1).tobytes())
    assert seen[0] == seen[1] == seen[2] == np.tile(rows, 50).tobytes()


@pytest.mark.parametrize("measure", list(MEASURES))
def test_ragged_rows_of_mixed_lengths_equal_their_dense_rows(measure: str) -> None:
    # Ragged rows share groups with rows of other lengths; the fast group forms start at a
    # row length, so a shorter row must never ride in a longer row's tile: every row's
    # bits are those of the same row alone, in a dense (1, C) array.
    f = MEASURES[measure]
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 40, 700)
    lengths[::3] = rng.integers(3, 6, lengths[::3].size)  # many rows around the thresholds
    p_rows, q_rows = [], []
    for i, n in enumerate(lengths):
        p, q = _normalised_rows("uniform" if i % 4 else "nearly equal 1e-3", 1, int(n), i)
        p_rows.append(p[0])
        q_rows.append(q[0])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    got = f(np.concatenate(p_rows), np.concatenate(q_rows), offsets=offsets)
    want = np.array([f(a[None, :], b[None, :], axis=-1)[0] for a, b in zip(p_rows, q_rows)])
    assert got.tobytes() == want.tobytes()
