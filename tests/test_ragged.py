"""Ragged rows: ``offsets=`` (CSR values + row boundaries) and scipy.sparse inputs.

Every ragged row must give what the same row gives on its own as a dense array, for every
measure that reduces along an axis; sparse matrices must give the dense matrix's result.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastentropy as fe
from fastentropy import _ragged

sp = pytest.importorskip("scipy.sparse", reason="scipy is not installed (pip install 'fastentropy[test]')")

ONE: Dict[str, Callable[..., Any]] = {
    "entropy": fe.entropy,
    "perplexity": fe.perplexity,
    "logsumexp": fe.logsumexp,
}
PAIR: Dict[str, Callable[..., Any]] = {
    "kl_divergence": fe.kl_divergence,
    "cross_entropy": fe.cross_entropy,
    "js_divergence": fe.js_divergence,
    "js_distance": fe.js_distance,
}

# Row lengths covering every path of the row engine: empty, one, short (vertical SIMD
# groups, ≤ 64), medium (two-pass, ≤ 32768) and long (parallel blocks).
LENGTHS = [0, 1, 2, 7, 8, 9, 10, 15, 16, 17, 63, 64, 65, 300, 0, 1, 5, 40_000, 3, 12]


def ragged(lengths: List[int], dtype: Any = np.float64, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = rng.random(int(offsets[-1])).astype(dtype) + dtype(0.01)
    return values, offsets


def rows(values: np.ndarray, offsets: np.ndarray) -> List[np.ndarray]:
    return [values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def per_row(fn: Callable[..., Any], *columns: List[np.ndarray], **kw: Any) -> np.ndarray:
    return np.array([fn(*(c[i] for c in columns), **kw) for i in range(len(columns[0]))], dtype=np.float64)


# ---- offsets= ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ONE))
def test_one_input_rows_equal_the_dense_rows(name: str, dtype: Any) -> None:
    fn = ONE[name]
    values, offsets = ragged(LENGTHS, dtype)
    got = fn(values, offsets=offsets)
    want = per_row(fn, rows(values, offsets))
    assert got.dtype == np.float64 and got.shape == (len(LENGTHS),)
    if name == "logsumexp":  # the dense loss path is tiled (issue 13): within 2 ULP, see test_arrow.same
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.float64), (np.float32, np.float32)])
@pytest.mark.parametrize("name", sorted(PAIR))
def test_pair_rows_equal_the_dense_rows(name: str, dtypes: Any) -> None:
    fn = PAIR[name]
    p, offsets = ragged(LENGTHS, dtypes[0], seed=1)
    q, _ = ragged(LENGTHS, dtypes[1], seed=2)
    got = fn(p, q, offsets=offsets, base=2)
    want = per_row(fn, rows(p, offsets), rows(q, offsets), base=2)
    np.testing.assert_array_equal(got, want)


def test_empty_rows_and_rows_of_one() -> None:
    values = np.array([0.3, 5.0, 0.7])
    offsets = np.array([0, 0, 1, 1, 3])
    np.testing.assert_array_equal(fe.entropy(values, offsets=offsets), [0.0, 0.0, 0.0, fe.entropy([5.0, 0.7])])
    np.testing.assert_array_equal(fe.perplexity(values, offsets=offsets), [1.0, 1.0, 1.0, fe.perplexity([5.0, 0.7])])
    np.testing.assert_array_equal(fe.logsumexp(values, offsets=offsets), [-np.inf, 0.3, -np.inf, fe.logsumexp([5.0, 0.7])])
    np.testing.assert_array_equal(fe.kl_divergence(values, values, offsets=offsets), [0.0] * 4)
    assert fe.entropy(np.array([]), offsets=np.array([0])).shape == (0,)


def test_offsets_may_start_late_end_early_and_have_any_integer_dtype() -> None:
    values, offsets = ragged([3, 0, 9, 4])
    padded = np.concatenate([[-1.0, -2.0], values, [-3.0]])  # negatives outside every row
    want = fe.entropy(values, offsets=offsets)
    for dt in (np.int32, np.int64, np.uint16, np.uint64, np.int8, ">i8"):
        o = (offsets + 2).astype(dt)
        np.testing.assert_array_equal(fe.entropy(padded, offsets=o), want)
    np.testing.assert_array_equal(fe.entropy(padded, offsets=list(offsets + 2)), want)


def test_uniform_rows_equal_the_dense_array_bitwise() -> None:
    """Offsets that cut equal rows are read as the dense (rows, width) array."""
    rng = np.random.default_rng(3)
    dense = rng.random((1000, 10))
    offsets = np.arange(0, 10_001, 10)
    for name, fn in ONE.items():
        tol = 1e-15 if name == "logsumexp" else 0.0  # the dense loss path is tiled (issue 13)
        np.testing.assert_allclose(fn(dense.reshape(-1), offsets=offsets), fn(dense), rtol=tol, atol=0, err_msg=name)
    q = rng.random((1000, 10))
    for name, fn in PAIR.items():
        np.testing.assert_array_equal(fn(dense.reshape(-1), q.reshape(-1), offsets=offsets), fn(dense, q), err_msg=name)


def test_masked_values_are_left_out() -> None:
    values = np.ma.masked_array([0.2, 0.8, 9.0, 0.5], mask=[0, 0, 1, 0])
    offsets = [0, 3, 4]
    np.testing.assert_array_equal(fe.entropy(values, offsets=offsets), [fe.entropy([0.2, 0.8]), 0.0])
    np.testing.assert_array_equal(fe.logsumexp(values, offsets=offsets), [fe.logsumexp([0.2, 0.8]), 0.5])


def test_softmax_cross_entropy_one_label_per_row() -> None:
    z, offsets = ragged([3, 1, 0, 70, 5])
    labels = np.array([2, 0, -100, 69, 4])
    got = fe.softmax_cross_entropy(z, labels, offsets=offsets, reduction="none")
    want = [
        fe.softmax_cross_entropy(r[None, :], [y], reduction="none")[0] if y != -100 else 0.0
        for r, y in zip(rows(z, offsets), labels)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)  # the dense loss path is tiled (issue 13)
    kept = np.array(want)[labels != -100]
    assert fe.softmax_cross_entropy(z, labels, offsets=offsets) == pytest.approx(kept.mean(), rel=1e-15)
    assert fe.softmax_cross_entropy(z, labels, offsets=offsets, reduction="sum") == pytest.approx(kept.sum(), rel=1e-15)
    assert np.isnan(fe.softmax_cross_entropy(z, np.full(5, 7), offsets=offsets, ignore_index=7))
    # any integer dtype, ignore_index of another value
    got16 = fe.softmax_cross_entropy(z, labels.astype(np.int16), offsets=offsets, reduction="none")
    np.testing.assert_array_equal(got16, got)


def test_results_do_not_depend_on_the_thread_count(restore_threads: int) -> None:
    values, offsets = ragged([7, 0, 130, 3, 50_000, 11] * 300, seed=9)
    q = values[::-1].copy()
    results = []
    for threads in (1, 2, 3):
        fe.set_num_threads(threads)
        results.append(
            [fe.entropy(values, offsets=offsets), fe.js_distance(values, q, offsets=offsets), fe.logsumexp(values, offsets=offsets)]
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@given(
    lengths=st.lists(st.integers(0, 80), min_size=0, max_size=40),
    scale=st.sampled_from([1e-300, 1e-5, 1.0, 1e300]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_ragged_rows_are_the_rows_on_their_own(lengths: List[int], scale: float, seed: int) -> None:
    values, offsets = ragged(lengths, seed=seed)
    values *= scale
    q = np.roll(values, 1)
    np.testing.assert_array_equal(fe.entropy(values, offsets=offsets), per_row(fe.entropy, rows(values, offsets)))
    np.testing.assert_array_equal(
        fe.kl_divergence(values, q, offsets=offsets), per_row(fe.kl_divergence, rows(values, offsets), rows(q, offsets))
    )


BAD_OFFSETS = [
    (np.array([0, 3, 2]), ValueError, r"`offsets` must be non-decreasing.*got 2 at position 2"),
    (np.array([-1, 2]), ValueError, r"got -1 at position 0"),
    (np.array([0, 6]), ValueError, r"at most the number of values \(5\), got 6 at position 1"),
    (np.array([], dtype=np.int64), ValueError, r"`offsets` must hold rows \+ 1 entries"),
    (np.array([0.0, 5.0]), TypeError, r"`offsets` must hold integers .* got dtype float64"),
    (np.array([[0, 5]]), ValueError, r"`offsets` must be 1-D"),
    (np.array([0, 2**63], dtype=np.uint64), ValueError, r"got 9223372036854775808 at position 1"),
    (np.ma.masked_array([0, 5], mask=[0, 1]), TypeError, r"`offsets` must not be a masked array"),
]


@pytest.mark.parametrize("offsets, exc, message", BAD_OFFSETS, ids=[m for _, _, m in BAD_OFFSETS])
def test_bad_offsets(offsets: Any, exc: type, message: str) -> None:
    values = np.full(5, 0.2)
    with pytest.raises(exc, match=message):
        fe.entropy(values, offsets=offsets)
    with pytest.raises(exc, match=message):
        fe.kl_divergence(values, values, offsets=offsets)


def test_bad_values_and_arguments() -> None:
    v, o = np.array([0.5, 0.5, -0.25, 1.0]), np.array([0, 2, 4])
    with pytest.raises(ValueError, match=r"`p` must be non-negative .* got -0.25"):
        fe.entropy(v, offsets=o)
    with pytest.raises(ValueError, match=r"`q` must be non-negative .* got -0.25"):
        fe.cross_entropy(np.abs(v), v, offsets=o)
    with pytest.raises(ValueError, match=r"`p` must be 1-D .* got shape \(2, 2\)"):
        fe.entropy(v.reshape(2, 2), offsets=o)
    with pytest.raises(ValueError, match=r"same number of values with `offsets=`, got 4 and 3"):
        fe.js_divergence(v, v[:3], offsets=o)
    with pytest.raises(ValueError, match=r"leave `axis` at -1, got 0"):
        fe.entropy(v, offsets=o, axis=0)
    with pytest.raises(TypeError, match=r"`p` must hold real numbers"):
        fe.entropy(np.array(["a", "b"]), offsets=[0, 2])
    with pytest.raises(ValueError, match=r"`base` must be positive"):
        fe.entropy(np.abs(v), offsets=o, base=1.0)
    with pytest.raises(TypeError, match=r"`normalize` must be True or False"):
        fe.entropy(np.abs(v), offsets=o, normalize="no")


def test_bad_loss_arguments() -> None:
    z, o = np.zeros(5), np.array([0, 2, 5])
    with pytest.raises(ValueError, match=re.escape("`target` has label 3 at row 1, outside [0, 3)")):
        fe.softmax_cross_entropy(z, [1, 3], offsets=o)
    with pytest.raises(ValueError, match=re.escape("`target` has label -1 at row 0, outside [0, 2)")):
        fe.softmax_cross_entropy(z, [-1, 0], offsets=o)
    with pytest.raises(ValueError, match=r"`logits` and `target` must have the same number of rows, got 2 and 3"):
        fe.softmax_cross_entropy(z, [0, 0, 0], offsets=o)
    with pytest.raises(ValueError, match=r"`weight`, `label_smoothing` and gradients .* need dense logits"):
        fe.softmax_cross_entropy(z, [0, 0], offsets=o, label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"need dense logits"):
        fe.softmax_cross_entropy(z, [0, 0], offsets=o, return_grad=True)
    with pytest.raises(TypeError, match=r"`target` must be 1-D integer class indices"):
        fe.softmax_cross_entropy(z, np.full(5, 0.2), offsets=o)
    with pytest.raises(ValueError, match=r"`reduction` must be"):
        fe.softmax_cross_entropy(z, [0, 0], offsets=o, reduction="avg")


# ---- scipy.sparse --------------------------------------------------------------------------


def sparse_pair(seed: int = 5) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random((40, 30)) * (rng.random((40, 30)) < 0.3)
    q = rng.random((40, 30)) * (rng.random((40, 30)) < 0.4)
    p[3] = 0.0  # a row without stored entries
    q[3] = 0.0
    p[7] = 0.0  # empty in p only
    return p, q


@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "csc_array", "coo_array"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_sparse_equals_the_dense_result(kind: str, axis: int) -> None:
    p, q = sparse_pair()
    make = getattr(sp, kind)
    for name, fn in [("entropy", fe.entropy), ("perplexity", fe.perplexity)]:
        for normalize in (True, False):
            np.testing.assert_allclose(
                fn(make(p), axis=axis, normalize=normalize), fn(p, axis=axis, normalize=normalize), rtol=1e-14, err_msg=name
            )
    for name, fn in PAIR.items():
        np.testing.assert_allclose(fn(make(p), make(q), axis=axis), fn(p, q, axis=axis), rtol=1e-13, atol=1e-15, err_msg=name)


def test_sparse_duplicates_unsorted_indices_integer_and_float32_data() -> None:
    # duplicates: two stored values at one position add up, as in the dense matrix
    m = sp.csr_array((np.array([1, 1, 2, 3]), np.array([2, 2, 0, 1]), np.array([0, 3, 4])), shape=(2, 3))
    assert not m.has_canonical_format
    np.testing.assert_array_equal(fe.entropy(m), fe.entropy(m.toarray()))
    f32 = sp.csr_array(np.array([[0.25, 0, 0.75]], dtype=np.float32))
    np.testing.assert_array_equal(fe.entropy(f32), fe.entropy(np.array([[0.25, 0.75]], dtype=np.float32)))


def test_sparse_pairs_with_one_pattern_are_read_in_place() -> None:
    p, q = sparse_pair()
    mp = sp.csr_array(p)
    mq = mp.copy()
    mq.data = np.random.default_rng(1).random(mq.nnz)
    prep = _ragged.pair(mp, mq, None, -1)
    assert prep is not None and prep.p[0] is mp.data and prep.q[0] is mq.data and prep.p[1] is mp.indptr
    np.testing.assert_allclose(fe.kl_divergence(mp, mq), fe.kl_divergence(mp.toarray(), mq.toarray()), rtol=1e-14)
    # different patterns: aligned by column (a copy over the union of the patterns)
    prep = _ragged.pair(mp, sp.csr_array(q), None, -1)
    assert prep is not None and not np.shares_memory(prep.p[0], mp.data)


def test_sparse_bad_input() -> None:
    p, q = sparse_pair()
    with pytest.raises(TypeError, match=r"must both be sparse or both dense, got a dense `q`"):
        fe.kl_divergence(sp.csr_array(p), q)
    with pytest.raises(ValueError, match=r"same shape, got \(40, 30\) and \(40, 29\)"):
        fe.kl_divergence(sp.csr_array(p), sp.csr_array(q[:, :29]))
    with pytest.raises(ValueError, match=r"`axis` must be -1 \(rows\) or 0 \(columns\).*pass `x.data`"):
        fe.entropy(sp.csr_array(p), axis=None)
    with pytest.raises(ValueError, match=r"must be non-negative"):
        fe.entropy(sp.csr_array(-p))
    with pytest.raises(TypeError, match=r"implicit zeros are logits of 0"):
        fe.logsumexp(sp.csr_array(p))
    with pytest.raises(TypeError, match=r"implicit zeros are logits of 0"):
        fe.softmax_cross_entropy(sp.csr_array(p), np.zeros(40, dtype=int))
    with pytest.raises(TypeError, match=r"carries its own row boundaries"):
        fe.entropy(sp.csr_array(p), offsets=[0, 1])
    # the stored values alone, as the message suggests
    m = sp.csr_array(p)
    np.testing.assert_array_equal(fe.logsumexp(m.data, offsets=m.indptr)[3], -np.inf)


@pytest.mark.parametrize("name", ["entropy", "cross_entropy", "kl_divergence", "js_divergence"])
def test_float32_rows_of_mixed_lengths_equal_their_dense_rows(name: str) -> None:
    """Float32 rows take closed forms and fast forms of their own length (entropy /
    cross-entropy: 2, 3 and 10 … 32 elements; KL / JS: their fast forms from 5 / 20):
    ragged rows of every length up to 40, in one array, carry the bits of the same row
    alone as a dense (1, C) array — a row never rides in a tile of another length's form."""
    rng = np.random.default_rng(11)
    lengths = rng.integers(1, 41, 900)
    lengths[::4] = rng.integers(8, 12, lengths[::4].size)  # around the short form's first length
    lengths[1::4] = rng.integers(30, 35, lengths[1::4].size)  # and its last
    p = rng.random(int(lengths.sum())).astype(np.float32)
    q = rng.random(p.size).astype(np.float32)
    p[::97] = 0.0  # zeros under mass and beside it
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    pr, qr = rows(p, offsets), rows(q, offsets)
    f = getattr(fe, name)
    if name == "entropy":
        got = f(p, offsets=offsets)
        want = np.array([f(a[None, :], axis=-1)[0] for a in pr])
    else:
        got = f(p, q, offsets=offsets)
        want = np.array([f(a[None, :], b[None, :], axis=-1)[0] for a, b in zip(pr, qr)])
    assert got.tobytes() == want.tobytes()
