"""expected_calibration_error: torchmetrics golden values, the NumPy reference of its
definition (hypothesis), perfect calibration, layouts, labels of every integer dtype, bad
input tables and the docstring examples."""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import fastentropy as fe
import fastentropy._calibration
from _scorer_refs import np_calibration_error

GOLDEN = json.loads((Path(__file__).parent / "data" / "calibration_torchmetrics.json").read_text())


def golden_case(seed: int, n: int, c: int) -> Any:
    """The inputs of tests/data/calibration_torchmetrics.json (its "data" entry)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * 3
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = rng.integers(0, c, size=n)
    y[: n // 2] = p[: n // 2].argmax(1)
    return z, p, y


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['seed']}-{c['dtype']}-{c['norm']}-{c['input']}")
def test_matches_torchmetrics(case: Any) -> None:
    z, p, y = golden_case(case["seed"], case["n"], case["c"])
    x = (z if case["input"] == "logits" else p).astype(case["dtype"])
    got = fe.expected_calibration_error(x, y, n_bins=case["n_bins"], norm=case["norm"], from_logits=case["input"] == "logits")
    # torchmetrics computes in float32.
    assert abs(got - case["value"]) <= 2e-6, (got, case["value"])


def test_confidence_one_is_in_the_last_bin() -> None:
    """The documented difference from torchmetrics ≥ 1.1, which bins a confidence of
    exactly 1 apart: here [1.0] joins [0.95] in bin [0.5, 1]."""
    probs = np.array([[1.0, 0.0], [0.95, 0.05]])
    labels = np.array([0, 1])
    # bin [0.5, 1]: accuracy 1/2, confidence 0.975 → |0.5 − 0.975| = 0.475
    assert math.isclose(fe.expected_calibration_error(probs, labels, n_bins=2), 0.475, rel_tol=1e-15)


# ----------------------------------------------------------------------------- properties

rows = st.integers(1, 6).flatmap(
    lambda c: st.tuples(
        st.lists(
            st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0, 0.05]), min_size=c, max_size=c),
            min_size=1,
            max_size=60,
        ),
        st.just(c),
    )
)


@given(rows, st.integers(1, 20), st.sampled_from(["l1", "l2", "max"]), st.integers(0, 2**32 - 1))
@example(([[0.5, 0.5]], 2), 1, "l1", 0)
def test_equals_the_numpy_reference(data: Any, n_bins: int, norm: str, seed: int) -> None:
    probs, c = data
    p = np.array(probs, dtype=np.float64)
    y = np.random.default_rng(seed).integers(0, c, size=len(probs))
    got = fe.expected_calibration_error(p, y, n_bins=n_bins, norm=norm)
    want = np_calibration_error(p, y, n_bins, norm, np.float64)
    assert 0.0 <= got <= 1.0
    assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15)
    p32 = p.astype(np.float32)
    got32 = fe.expected_calibration_error(p32, y, n_bins=n_bins, norm=norm)
    assert math.isclose(got32, np_calibration_error(p32, y, n_bins, norm, np.float32), rel_tol=1e-12, abs_tol=1e-15)


@given(st.integers(2, 30), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_perfectly_calibrated_construction_scores_zero(n_bins: int, per_bin: int, seed: int) -> None:
    """In each bin, rows of confidence k/m with exactly k of the m rows predicted correctly."""
    rng = np.random.default_rng(seed)
    m = 4 * per_bin
    probs, labels = [], []
    for k in range(m // 2 + 1, m + 1):  # confidences above 1/2 so the top class is unique
        conf = k / m
        for i in range(m):
            probs.append([conf, 1 - conf])
            labels.append(0 if i < k else 1)
    order = rng.permutation(len(labels))
    p, y = np.array(probs)[order], np.array(labels)[order]
    # Bins of width 1/n_bins hold whole groups of equal confidence, so each bin's accuracy
    # equals its mean confidence.
    for norm in ("l1", "l2", "max"):
        assert fe.expected_calibration_error(p, y, n_bins=n_bins, norm=norm) <= 1e-15


def test_large_input_is_deterministic_and_matches_reference(restore_threads: int) -> None:
    rng = np.random.default_rng(9)
    z = rng.normal(size=(200_003, 10)).astype(np.float32)
    p = fe.softmax(z)
    y = rng.integers(0, 10, size=len(z))
    seen = []
    for n in (1, 2, 3):
        fe.set_num_threads(n)
        # rows are binned in fixed runs (of 1024 rows, or n_bins rows when more) whose
        # bins merge in row order: the same bits for any thread count, logits included
        seen.append([fe.expected_calibration_error(p, y), fe.expected_calibration_error(z, y, from_logits=True),
                     fe.expected_calibration_error(p, y, n_bins=5000, norm="l2")])
    assert seen[0] == seen[1] == seen[2]
    assert math.isclose(seen[0][2], np_calibration_error(p, y, 5000, "l2", np.float32), rel_tol=1e-10)
    seen = [s[0] for s in seen]
    assert math.isclose(seen[0], np_calibration_error(p, y, 15, "l1", np.float32), rel_tol=1e-10)
    lg = fe.expected_calibration_error(z, y, from_logits=True)
    assert math.isclose(lg, np_calibration_error(fe.softmax(z.astype(np.float64)), y, 15, "l1", np.float64), rel_tol=1e-6)


def test_layouts_and_label_dtypes() -> None:
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(5), size=(6, 7))  # (N1, N2, C)
    y = rng.integers(0, 5, size=(6, 7))
    want = fe.expected_calibration_error(p, y, n_bins=10)
    assert math.isclose(want, np_calibration_error(p, y, 10, "l1", np.float64), rel_tol=1e-12)
    moved = np.moveaxis(p, -1, 1)  # torch's (N, C, d1) layout
    assert fe.expected_calibration_error(moved, y, n_bins=10, axis=1) == want
    assert fe.expected_calibration_error(np.asfortranarray(p), y, n_bins=10) == want
    for dt in (np.int8, np.uint8, np.int16, np.uint32, ">i8", "<u8", np.int32):
        assert fe.expected_calibration_error(p, y.astype(dt), n_bins=10) == want
    assert fe.expected_calibration_error(p, y.tolist(), n_bins=10) == want


def test_special_values() -> None:
    assert math.isnan(fe.expected_calibration_error(np.zeros((0, 3)), []))
    assert math.isnan(fe.expected_calibration_error(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)))
    assert math.isnan(fe.expected_calibration_error([[0.5, math.nan], [0.9, 0.1]], [0, 0]))
    assert math.isnan(fe.expected_calibration_error([[-math.inf, -math.inf]], [0], from_logits=True))
    assert fe.expected_calibration_error([[1.0, 0.0]], [0]) == 0.0
    assert fe.expected_calibration_error([0.3, 0.7], 1, n_bins=1) == pytest.approx(0.3)


BIG = np.array([2**63 + 5], dtype=np.uint64)

BAD_INPUT = [
    ({"probs": [[0.5, 0.5]], "labels": [2]}, ValueError, r"`labels` has label 2 at position \(0,\), outside \[0, 2\)"),
    ({"probs": [[0.5, 0.5], [0.2, 0.8]], "labels": [0, -1]}, ValueError, r"`labels` has label -1 at position \(1,\)"),
    ({"probs": [[0.5, 0.5]], "labels": BIG}, ValueError, r"`labels` has label 9223372036854775813 at position \(0,\)"),
    ({"probs": [[0.5, 0.5]], "labels": [0.0]}, TypeError, r"`labels` must hold integer class indices"),
    ({"probs": [[0.5, 0.5]], "labels": [True]}, TypeError, r"`labels` must hold integer class indices"),
    ({"probs": [[0.5, 0.5]], "labels": [0, 1]}, ValueError, r"`labels` must have the shape of `probs` without the class axis, \(1,\), got \(2,\)"),
    ({"probs": [[1.5, 0.5]], "labels": [0]}, ValueError, r"`probs` must hold probabilities in \[0, 1\], got 1\.5"),
    ({"probs": [[0.5, -0.1]], "labels": [0]}, ValueError, r"`probs` must be non-negative .* got -0\.1"),
    ({"probs": 0.5, "labels": 0}, ValueError, r"`probs` must have a class axis"),
    ({"probs": np.zeros((2, 0)), "labels": [0, 0]}, ValueError, r"no classes"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "n_bins": 0}, ValueError, r"`n_bins` must be a positive integer"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "n_bins": 2**24 + 1}, ValueError, r"`n_bins` must be a positive integer at most"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "n_bins": 2.0}, TypeError, r"`n_bins` must be a positive integer"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "n_bins": True}, TypeError, r"`n_bins` must be a positive integer"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "norm": "l3"}, ValueError, r"`norm` must be 'l1', 'l2' or 'max', got 'l3'"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "axis": 2}, ValueError, r"`axis` 2 is out of bounds"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "axis": None}, TypeError, r"`axis` must be an integer"),
    ({"probs": [[0.5, 0.5]], "labels": [0], "from_logits": "yes"}, TypeError, r"`from_logits` must be True or False"),
    ({"probs": [["a"]], "labels": [0]}, TypeError, r"`probs` must hold real numbers"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_INPUT)
def test_bad_input(kwargs: Any, exc: Any, match: str) -> None:
    with pytest.raises(exc, match=match):
        fe.expected_calibration_error(**kwargs)


def test_docstring_examples() -> None:
    result = doctest.testmod(fastentropy._calibration, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
