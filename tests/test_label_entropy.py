"""fastentropy.label_entropy: plug-in entropy of integer samples against
scipy.stats.entropy of the label counts and sklearn's cluster entropy, the Miller–Madow
correction, axis handling, sparse labels, dtypes, and bad input."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics.cluster import entropy as sklearn_entropy

import fastentropy as fe



def reference(x: Any, base: Any = None, miller_madow: bool = False) -> float:
    counts = np.unique(np.asarray(x), return_counts=True)[1]
    if counts.size == 0:
        return 0.0
    h = scipy.stats.entropy(counts)
    if miller_madow:
        h += (counts.size - 1) / (2 * counts.sum())
    return h / math.log(base) if base else h


@pytest.mark.parametrize(
    "x, kwargs, expected",
    [
        ([], {}, 0.0),
        ([7], {}, 0.0),
        ([7, 7, 7], {"miller_madow": True}, 0.0),
        ([0, 1], {"base": 2}, 1.0),
        ([0, 1], {"miller_madow": True}, math.log(2) + 0.25),
        ([0, 1, 2, 3], {"base": 2}, 2.0),
        ([-(2**63), 2**63 - 1], {"base": 2}, 1.0),
        ([True, False, False, True], {"base": 2}, 1.0),
    ],
)
def test_known_values(x: Any, kwargs: Any, expected: float) -> None:
    assert fe.label_entropy(np.array(x, dtype=np.int64) if x and not isinstance(x[0], bool) else x, **kwargs) == pytest.approx(expected, abs=1e-15)


def test_axis_and_batches() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (3, 4, 50))
    for axis in (0, 1, 2, -1):
        moved = np.moveaxis(x, axis, -1)
        want = np.array([reference(r) for r in moved.reshape(-1, moved.shape[-1])]).reshape(moved.shape[:-1])
        np.testing.assert_allclose(fe.label_entropy(x, axis=axis), want, rtol=1e-13)
    assert fe.label_entropy(x, axis=None) == pytest.approx(reference(x.ravel()), rel=1e-13)
    assert fe.label_entropy(np.zeros((2, 0), dtype=int)).tolist() == [0.0, 0.0]
    assert fe.label_entropy(np.zeros((0, 3), dtype=int)).shape == (0,)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, ">i2", ">i8", ">u4", ">u8"]
)
def test_integer_dtypes(dtype: Any) -> None:
    x = np.array([1, 2, 2, 3, 3, 3, 100], dtype=dtype)
    assert fe.label_entropy(x) == pytest.approx(reference(x.astype(np.int64)), rel=1e-14)
    # read in place: the same counts in the same order, bitwise the int64 result
    assert fe.label_entropy(x) == fe.label_entropy(x.astype(np.int64))
    assert fe.label_entropy(x[::-2]) == fe.label_entropy(x.astype(np.int64)[::-2])


def test_bool_labels_and_uint64_values() -> None:
    b = np.array([True, False, True, True])
    assert fe.label_entropy(b) == fe.label_entropy(b.astype(np.int64))
    # a bool array whose bytes are not 0/1 is still two classes (NumPy's truth value)
    odd = np.array([0, 1, 2, 255], dtype=np.uint8).view(np.bool_)
    assert fe.label_entropy(odd) == fe.label_entropy(np.array([0, 1, 1, 1]))
    u = np.array([2**64 - 1, 2**63, 2**63, 0], dtype=np.uint64)
    assert fe.label_entropy(u) == fe.label_entropy(np.array([3, 2, 2, 1]))


def test_layouts_are_read_in_place() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-5, 50, (60, 70)).astype(np.int32)
    want_rows = fe.label_entropy(x.astype(np.int64))
    np.testing.assert_array_equal(fe.label_entropy(np.asfortranarray(x)), want_rows)
    np.testing.assert_array_equal(fe.label_entropy(x[::-1, ::-1])[::-1], fe.label_entropy(x.astype(np.int64)[:, ::-1]))
    np.testing.assert_array_equal(fe.label_entropy(x.T, axis=0), want_rows)
    # axis=None over a view that is no single strided axis: the same multiset of labels
    view = x[::2, 1::3]
    assert fe.label_entropy(view, axis=None) == pytest.approx(reference(view.ravel()), rel=1e-14)
    wide = np.broadcast_to(x[0], (1000, 70))
    assert fe.label_entropy(wide, axis=None) == pytest.approx(reference(x[0]), rel=1e-13)
    np.testing.assert_allclose(fe.label_entropy(wide), reference(x[0]), rtol=1e-14)
    rec = np.zeros(70, dtype=[("pad", "i1"), ("v", "<i8")])
    rec["v"] = x[0]
    assert fe.label_entropy(rec["v"]) == fe.label_entropy(x[0].astype(np.int64))


def test_large_and_sparse_agree() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2000, 500_000)
    h = fe.label_entropy(x)
    assert h == pytest.approx(reference(x), rel=1e-12)
    assert fe.label_entropy(x * (1 << 50) - (1 << 61)) == h  # sorted-copy path, same counts
    assert fe.label_entropy(x[::-3], miller_madow=True) == pytest.approx(reference(x[::-3], miller_madow=True), rel=1e-12)


@pytest.mark.parametrize(
    "x, kwargs, error, match",
    [
        ([0.5, 1.0], {}, TypeError, "integer"),
        ([1 + 0j], {}, TypeError, "integer"),
        (np.array([1, "a"], dtype=object), {}, TypeError, "integer"),
        ([1, 2], {"base": 0}, ValueError, "`base`"),
        ([1, 2], {"axis": 1}, ValueError, "out of bounds"),
        (5, {}, ValueError, "out of bounds"),
        ([1, 2], {"miller_madow": 1}, TypeError, "miller_madow"),
    ],
)
def test_bad_input(x: Any, kwargs: Any, error: Any, match: str) -> None:
    with pytest.raises(error, match=match):
        fe.label_entropy(x, **kwargs)


@given(
    x=hnp.arrays(np.int64, st.integers(1, 300), elements=st.integers(-(2**63), 2**63 - 1) | st.integers(-5, 5)),
    base=st.sampled_from([None, 2, 10]),
    mm=st.booleans(),
)
def test_agrees_with_scipy_and_sklearn(x: Any, base: Any, mm: bool) -> None:
    h = fe.label_entropy(x, base=base, miller_madow=mm)
    assert h == pytest.approx(reference(x, base, mm), rel=1e-12, abs=1e-15)
    if base is None and not mm:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated in sklearn 1.8
            want = sklearn_entropy(x)
        assert h == pytest.approx(want, rel=1e-12, abs=1e-15)
