"""fastentropy.joint_entropy / conditional_entropy / mutual_information /
normalized_mutual_information from label pairs and from contingency tables: known values,
the sklearn oracles (mutual_info_score, normalized_mutual_info_score with every
average_method) on hypothesis-generated labels, textbook identities, sparse and huge
labels, dtypes, determinism across thread counts, and bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import mutual_info_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

import fastentropy as fe

LN2 = math.log(2.0)
METHODS = ["min", "geometric", "arithmetic", "max"]


def textbook(table: Any) -> Any:
    """(H(X,Y), H(X|Y), I(X;Y), H(X), H(Y)) from a table, by scipy.stats.entropy."""
    t = np.asarray(table, dtype=np.float64)
    hxy = scipy.stats.entropy(t.ravel())
    hx, hy = scipy.stats.entropy(t.sum(1)), scipy.stats.entropy(t.sum(0))
    return hxy, hxy - hy, hx + hy - hxy, hx, hy


@pytest.fixture
def keep_threads() -> Any:
    before = fe.get_num_threads()
    yield before
    fe.set_num_threads(before)


@pytest.mark.parametrize(
    "x, y, f, kwargs, expected",
    [
        ([0, 0, 1, 1], [0, 1, 0, 1], fe.joint_entropy, {"base": 2}, 2.0),
        ([0, 0, 1, 1], [0, 1, 0, 1], fe.mutual_information, {}, 0.0),
        ([0, 0, 1, 1], [0, 1, 0, 1], fe.conditional_entropy, {}, LN2),
        ([0, 0, 1, 1], [7, 7, 3, 3], fe.mutual_information, {"base": 2}, 1.0),
        ([0, 0, 1, 1], [7, 7, 3, 3], fe.conditional_entropy, {}, 0.0),
        ([0, 1, 2, 3], [0, 0, 1, 1], fe.conditional_entropy, {"base": 2}, 1.0),
        ([5, 5, 5], [1, 2, 3], fe.mutual_information, {}, 0.0),
        ([5, 5, 5], [1, 2, 3], fe.normalized_mutual_information, {}, 0.0),
        ([5, 5, 5], [1, 1, 1], fe.normalized_mutual_information, {}, 1.0),
        ([], [], fe.normalized_mutual_information, {}, 1.0),
        ([], [], fe.mutual_information, {}, 0.0),
        ([], [], fe.joint_entropy, {}, 0.0),
        ([True, False, True], [1, 0, 1], fe.normalized_mutual_information, {}, 1.0),
    ],
)
def test_known_values(x: Any, y: Any, f: Any, kwargs: Any, expected: float) -> None:
    assert f(x, y, **kwargs) == pytest.approx(expected, abs=1e-15)


def test_tables_match_the_textbook_and_the_label_form() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 5000)
    y = (x * 3 + rng.integers(0, 4, 5000)) % 9
    table = contingency_matrix(x, y)
    hxy, hxgy, mi, hx, hy = textbook(table)
    for f, want in [(fe.joint_entropy, hxy), (fe.conditional_entropy, hxgy), (fe.mutual_information, mi)]:
        assert f(contingency=table) == pytest.approx(want, rel=1e-12)
        assert f(x, y) == pytest.approx(want, rel=1e-12)
        assert f(contingency=table, base=2) == pytest.approx(want / LN2, rel=1e-12)
    assert fe.conditional_entropy(y, x) == pytest.approx(fe.conditional_entropy(contingency=table.T), rel=1e-13)
    assert fe.mutual_information(contingency=table) == pytest.approx(mutual_info_score(x, y), rel=1e-12)
    for m in METHODS:
        want = normalized_mutual_info_score(x, y, average_method=m)
        assert fe.normalized_mutual_information(x, y, average_method=m) == pytest.approx(want, rel=1e-12)
        assert fe.normalized_mutual_information(contingency=table, average_method=m) == pytest.approx(want, rel=1e-12)
    # non-integer tables (probabilities) and layouts
    p = table / table.sum()
    assert fe.mutual_information(contingency=p) == pytest.approx(mi, rel=1e-12)
    for t in (np.asfortranarray(table), table[::-1, ::-1], table.astype(np.float32), table.astype(">f8")):
        assert fe.mutual_information(contingency=t) == pytest.approx(mi, rel=1e-12)


def test_sparse_and_extreme_labels() -> None:
    """Labels far apart (hashes, 64-bit ids) are counted without a table of their range."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 50, 20_000)
    y = (x + rng.integers(0, 3, 20_000)) % 50
    mi = mutual_info_score(x, y)
    xs = x.astype(np.int64) * (1 << 56) - (1 << 62)
    ys = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0] * 17)[y % 51]
    ys = ys + y  # distinct per class
    assert fe.mutual_information(xs, ys) == pytest.approx(mi, rel=1e-12)
    xu = x.astype(np.uint64) + np.uint64(2**63)
    assert fe.mutual_information(xu, y.astype(np.int8)) == pytest.approx(mi, rel=1e-12)
    # every label distinct: I = H(X) = H(Y) = ln n
    n = 10_000
    ids = rng.permutation(n).astype(np.int64) * 1_000_003
    assert fe.mutual_information(ids, ids[::-1]) == pytest.approx(math.log(n), rel=1e-12)
    assert fe.joint_entropy(ids, ids) == pytest.approx(math.log(n), rel=1e-12)


def test_bitwise_identical_for_any_thread_count(keep_threads: Any) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 300, 400_000)
    y = (x * 7 + rng.integers(0, 40, 400_000)) % 1000
    sparse_x = x * (1 << 40)
    seen = []
    for n in (1, 2, 3):
        fe.set_num_threads(n)
        seen.append(
            tuple(
                f(a, y)
                for a in (x, sparse_x)
                for f in (fe.joint_entropy, fe.conditional_entropy, fe.mutual_information, fe.normalized_mutual_information)
            )
        )
    assert all(s == seen[0] for s in seen)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (([0, 1], [0, 1, 2]), {}, ValueError, "same length"),
        (([[0, 1]], [[0, 1]]), {}, ValueError, "1-D"),
        (([0.5, 1.0], [0, 1]), {}, TypeError, "integer"),
        ((["a", "b"], [0, 1]), {}, TypeError, "integer"),
        (([0, 1],), {}, TypeError, "pass the label arrays"),
        ((), {}, TypeError, "pass the label arrays"),
        (([0, 1], [0, 1]), {"contingency": [[1, 0], [0, 1]]}, ValueError, "not both"),
        ((), {"contingency": [1, 2, 3]}, ValueError, "2-D"),
        ((), {"contingency": [[1, -1], [0, 1]]}, ValueError, "`contingency` must be non-negative"),
        ((), {"contingency": [[1j, 1], [0, 1]]}, TypeError, "real"),
        (([0, 1], [0, 1]), {"base": 1.0}, ValueError, "`base`"),
    ],
)
def test_bad_input(args: Any, kwargs: Any, error: Any, match: str) -> None:
    for f in (fe.joint_entropy, fe.conditional_entropy, fe.mutual_information):
        with pytest.raises(error, match=match):
            f(*args, **kwargs)


def test_bad_average_method() -> None:
    with pytest.raises(ValueError, match="average_method"):
        fe.normalized_mutual_information([0, 1], [0, 1], average_method="mean")
    with pytest.raises(TypeError, match="average_method"):
        fe.normalized_mutual_information([0, 1], [0, 1], average_method=None)  # type: ignore[arg-type]


def test_nan_and_zero_tables() -> None:
    assert math.isnan(fe.mutual_information(contingency=[[0, 0], [0, 0]]))
    assert math.isnan(fe.normalized_mutual_information(contingency=[[1, np.nan], [0, 1]]))
    assert fe.mutual_information(contingency=np.zeros((0, 3))) == 0.0
    assert fe.normalized_mutual_information(contingency=np.zeros((3, 0))) == 1.0


labels = hnp.arrays(np.int64, st.integers(0, 200), elements=st.integers(-3, 8))


@given(data=st.data(), method=st.sampled_from(METHODS), spread=st.sampled_from([1, 10**15]))
def test_agrees_with_sklearn(data: Any, method: str, spread: int) -> None:
    x = data.draw(labels)
    y = data.draw(hnp.arrays(np.int64, x.shape, elements=st.integers(-2, 5)))
    if x.size == 0:  # sklearn's mutual_info_score fails on no samples (log of 0)
        assert fe.mutual_information(x, y) == 0.0 and fe.normalized_mutual_information(x, y) == 1.0
        return
    x_spread = x * spread  # large spread: coded by rank (radix sort of the distinct labels)
    mi = fe.mutual_information(x_spread, y)
    assert mi >= 0.0
    # sklearn zeroes each term below machine epsilon: allow that much per cell
    cells = len(set(zip(x.tolist(), y.tolist())))
    assert mi == pytest.approx(mutual_info_score(x, y), rel=1e-10, abs=(cells + 1) * 2.3e-16)
    nmi = fe.normalized_mutual_information(x_spread, y, average_method=method)
    want = normalized_mutual_info_score(x, y, average_method=method)
    assert nmi == pytest.approx(want, rel=1e-9, abs=1e-12)
    table = contingency_matrix(x, y)
    assert fe.mutual_information(contingency=table) == pytest.approx(mi, rel=1e-12, abs=1e-15)


MEASURES = [fe.joint_entropy, fe.conditional_entropy, fe.mutual_information, fe.normalized_mutual_information]
DTYPES = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", ">i2", ">i4", ">i8", ">u2", ">u8", "<i8"]


def _layouts(a: np.ndarray) -> Any:
    """``a`` (1-D) in layouts a converting reader would copy, all with the same values in order."""
    yield "contiguous", a
    twice = np.repeat(a, 2)
    yield "every other", twice[::2]
    yield "reversed", a[::-1].copy()[::-1]
    rec = np.zeros(a.shape, dtype=[("pad", "i1"), ("v", a.dtype)])
    rec["v"] = a
    yield "unaligned field", rec["v"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_integer_dtype_byte_order_and_layout(dtype: str) -> None:
    """Labels of any integer dtype, either byte order and any strides are read in place and
    compared by value: the same table as int64 labels, so bitwise the same results."""
    rng = np.random.default_rng(7)
    info = np.iinfo(np.dtype(dtype))
    lo, hi = max(int(info.min), -60), min(int(info.max), 60)
    x64 = rng.integers(lo, hi + 1, 5_000)
    y64 = (x64 * 3 + rng.integers(0, 4, 5_000)) % 17 + lo
    want = [f(x64, y64) for f in MEASURES]
    for name, x in _layouts(x64.astype(dtype)):
        for _, y in _layouts(y64.astype(dtype)):
            got = [f(x, y) for f in MEASURES]
            assert got == want, (dtype, name)
    assert fe.mutual_information(x64.astype(dtype), x64 > 0) == fe.mutual_information(x64, (x64 > 0).astype(np.int64))


def test_broadcast_labels() -> None:
    x = np.lib.stride_tricks.as_strided(np.array([4], np.int16), (1000,), (0,))
    y = np.arange(1000) % 3
    assert fe.mutual_information(x, y) == 0.0
    assert fe.conditional_entropy(y, x) == pytest.approx(fe.label_entropy(y), rel=1e-14)
    assert fe.normalized_mutual_information(x, x) == 1.0


def test_uint64_labels_above_2_63_are_compared_by_value() -> None:
    """uint64 labels keep their value: 2^64 − 1 is neither −1 nor near 0, and the classes are
    ordered by value (here reversed from the int64 bit patterns' order)."""
    big = np.array([2**64 - 1, 2**63, 2**63 + 5, 0, 1, 2**63 - 1], dtype=np.uint64)
    rng = np.random.default_rng(3)
    x = big[rng.integers(0, 6, 20_000)]
    y = (rng.integers(0, 2, 20_000) + (x > 2**63)).astype(np.int8)
    codes = np.unique(x, return_inverse=True)[1]
    assert np.unique(codes).size == 6
    for f in MEASURES:
        assert f(x, y) == pytest.approx(f(codes, y), rel=1e-13)
    assert fe.mutual_information(x, y) == pytest.approx(mutual_info_score(codes, y), rel=1e-12)
    # the same bits as int64 (−1, −2^63, …): a bijection, so the same measures
    assert fe.mutual_information(x.view(np.int64), y) == pytest.approx(fe.mutual_information(x, y), rel=1e-13)


@pytest.mark.parametrize("n", [1_000, 300_000])
def test_all_distinct_labels(n: int) -> None:
    """The issue's case: every label distinct (the counting-sort path)."""
    rng = np.random.default_rng(n)
    x, y = rng.permutation(n), rng.permutation(n)
    ln_n = math.log(n)
    assert fe.mutual_information(x, y) == pytest.approx(ln_n, rel=1e-13)
    assert fe.joint_entropy(x, y) == pytest.approx(ln_n, rel=1e-13)
    assert fe.conditional_entropy(x, y) == 0.0
    assert fe.normalized_mutual_information(x, y) == pytest.approx(1.0, rel=1e-13)
    ids_x = rng.integers(-(2**63), 2**63 - 1, n)  # 64-bit ids: coded by rank
    assert fe.mutual_information(ids_x, y) == pytest.approx(ln_n, rel=1e-13)
    # half the classes: rows of two samples with two cells each (rows = x, more classes)
    half = y // 2
    assert fe.mutual_information(x, half) == pytest.approx(mutual_info_score(x, half), rel=1e-12)
    assert fe.conditional_entropy(half, x) == 0.0
    assert fe.conditional_entropy(x, half) == pytest.approx(
        fe.joint_entropy(x, half) - fe.label_entropy(half), rel=1e-12, abs=1e-12
    )


def test_sparse_path_agrees_with_sklearn_and_the_table() -> None:
    """More cells than samples (k_x·k_y > n): the counting sort; against sklearn and the
    table form, in both orientations (rows are the variable with more classes)."""
    rng = np.random.default_rng(11)
    n = 200_000
    x = rng.integers(0, 3_000, n)
    y = (x * 7 + rng.integers(0, 30, n)) % 900
    table = contingency_matrix(x, y)
    for a, b, t in ((x, y, table), (y, x, table.T)):
        for f in MEASURES:
            assert f(a, b) == pytest.approx(f(contingency=t), rel=1e-12, abs=1e-13), f
    assert fe.mutual_information(x, y) == pytest.approx(mutual_info_score(x, y), rel=1e-12)
    for method in METHODS:
        assert fe.normalized_mutual_information(x, y, average_method=method) == pytest.approx(
            normalized_mutual_info_score(x, y, average_method=method), rel=1e-11
        )


@pytest.mark.parametrize("scale", [2.0**1020, 1e307, 1e-310, 2.0**-700, 2.0**700])
def test_tables_with_extreme_totals_are_finite(scale: float) -> None:
    """Measures depend on the proportions only: a table scaled by 1e307 (total overflowing)
    or 1e-310 (subnormal cells) gives the unscaled result, never inf or NaN."""
    t = np.array([[1.0, 3.0, 0.0], [2.0, 5.0, 7.0]])
    for f in MEASURES:
        want = f(contingency=t)
        got = f(contingency=t * scale)
        assert math.isfinite(got) and got == pytest.approx(want, rel=1e-13, abs=1e-15), (f, got, want)


def _mi_mpmath(table: Any) -> Any:
    """I(X;Y) of a table of exact float counts, 60 digits."""
    mpmath = pytest.importorskip("mpmath")
    # (workdps, not mp.dps: mpmath's precision is global, shared by every test module
    # that an xdist worker runs)
    with mpmath.workdps(60):
        t = [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(table)]
        a = [sum(row) for row in t]
        b = [sum(col) for col in zip(*t)]
        n = sum(a)
        return sum(
            (v / n) * mpmath.log(v * n / (a[i] * b[j]))
            for i, row in enumerate(t)
            for j, v in enumerate(row)
            if v > 0
        )


@pytest.mark.parametrize("noise", [1e-2, 1e-4, 1e-6, 1e-8])
@pytest.mark.parametrize("scale", [1.0, 2.0**-500, 2.0**400, 1e-310])
def test_nearly_independent_tables_keep_relative_precision(noise: float, scale: float) -> None:
    """Counts close to the outer product of their marginals: I(X;Y) ~ noise² is a sum of
    non-negative terms q·φ(N/q), not the direct form's terms of both signs (whose absolute
    error ~1e-16 was 4e-3 relative at I ~ 1e-15). Against mpmath, at any total; NMI too."""
    rng = np.random.default_rng(5)
    table = np.outer([3.0, 5.0, 7.0, 1.0], [2.0, 11.0, 13.0, 17.0, 4.0]) * 1e8
    table = table + np.round(noise * table * rng.standard_normal(table.shape))
    scaled = table * scale  # 1e-310: subnormal cells, rounded — the exact value is theirs
    exact = _mi_mpmath(scaled)
    assert exact > 0
    got = fe.mutual_information(contingency=scaled)
    assert abs(got - exact) <= 1e-13 * exact, (got, float(exact))
    nmi = fe.normalized_mutual_information(contingency=scaled)
    want = float(exact) / ((scipy.stats.entropy(scaled.sum(1)) + scipy.stats.entropy(scaled.sum(0))) / 2)
    assert nmi == pytest.approx(want, rel=1e-12)


def test_nearly_independent_labels_keep_relative_precision() -> None:
    """The same through label arrays (their dense table of exact integer counts)."""
    rng = np.random.default_rng(9)
    x = rng.integers(0, 4, 400_000)
    y = rng.integers(0, 5, 400_000)  # independent draws: I ~ 1e-5, terms of both signs
    table = contingency_matrix(x, y)
    exact = _mi_mpmath(table)
    got = fe.mutual_information(x, y)
    assert abs(got - exact) <= 1e-13 * exact, (got, float(exact))
    exactly_independent = np.outer([1, 2, 3], [4, 5]).astype(float)
    assert fe.mutual_information(contingency=exactly_independent) == 0.0


def test_sparse_label_pairs_sum_non_negative_terms_to_full_precision() -> None:
    """More cells than samples (the sparse counting path): independent draws of 3000 and
    900 classes (I ≈ 2.6 from the sparsity alone). I(X;Y) is summed over the counted pairs
    as q·φ(N/q) plus the zero cells' expected counts (n² − Σ a·b over the counted pairs,
    exact integers): against mpmath to 1e-13, and symmetric."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(21)
    n = 200_000
    x = rng.integers(0, 3_000, n)
    y = rng.integers(0, 900, n)
    sparse = contingency_matrix(x, y, sparse=True)
    a = np.asarray(sparse.sum(axis=1)).ravel()
    b = np.asarray(sparse.sum(axis=0)).ravel()
    table = sparse.tocoo()
    with mpmath.workdps(50):
        exact = mpmath.fsum(
            mpmath.mpf(int(v)) / n * mpmath.log(mpmath.mpf(int(v)) * n / (int(a[i]) * int(b[j])))
            for i, j, v in zip(table.row, table.col, table.data)
        )
    got = fe.mutual_information(x, y)
    assert abs(got - exact) <= 1e-13 * exact, (got, float(exact))
    assert fe.mutual_information(y, x) == pytest.approx(got, rel=1e-14)
