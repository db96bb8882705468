"""Class-index targets (python/fastentropy/_targets.py): every integer dtype in either byte
order is read as its true value (issue #12 item 4).

Big-endian ``>u8`` labels of 2**64 − 100 used to become −100 (the row silently ignored as
``ignore_index``), and 2**64 − 1 was reported as "label −1"; native uint64 was right.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import numpy as np
import pytest

import fastentropy as fe

INT_DTYPES = [order + code for code in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8") for order in "<>"]
LOG_PROBS = np.log(np.random.default_rng(3).dirichlet(np.ones(5), size=7))
LABELS = np.array([4, 0, 3, 3, 1, 2, 0])

LOSSES: Dict[str, Callable[..., Any]] = {
    "nll_loss": lambda y, **kw: fe.nll_loss(LOG_PROBS, y, **kw),
    "softmax_cross_entropy": lambda y, **kw: fe.softmax_cross_entropy(LOG_PROBS, y, **kw),
    "softmax_cross_entropy+grad": lambda y, **kw: fe.softmax_cross_entropy(LOG_PROBS, y, return_grad=True, **kw)[1],
    "nll_loss+grad": lambda y, **kw: fe.nll_loss(LOG_PROBS, y, return_grad=True, **kw)[1],
    "label_smoothing": lambda y, **kw: fe.softmax_cross_entropy(LOG_PROBS, y, label_smoothing=0.1, **kw),
}


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_every_integer_dtype_and_byte_order_gives_the_int64_result(loss: str, dtype: str) -> None:
    y = LABELS.astype(dtype)
    assert y.tolist() == LABELS.tolist()
    for reduction in ("none", "mean"):
        np.testing.assert_array_equal(LOSSES[loss](y, reduction=reduction), LOSSES[loss](LABELS, reduction=reduction))


@pytest.mark.parametrize("loss", ["nll_loss", "softmax_cross_entropy"])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_ignore_index_compares_true_values(loss: str, dtype: str) -> None:
    ignore = -3 if dtype[1] == "i" else 200  # a value of the dtype, outside [0, 5)
    y = LABELS.copy()
    y[[1, 5]] = ignore
    want = LOSSES[loss](y, ignore_index=ignore, reduction="none")
    assert want[1] == want[5] == 0.0 and np.all(want[[0, 2, 3, 4, 6]] > 0)
    np.testing.assert_array_equal(LOSSES[loss](y.astype(dtype), ignore_index=ignore, reduction="none"), want)


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("dtype", ["<u8", ">u8", "=u8"])
@pytest.mark.parametrize("value", [2**64 - 100, 2**64 - 1, 2**63, 2**63 + 5])
def test_uint64_labels_beyond_int64_are_reported_with_their_true_value(loss: str, dtype: str, value: int) -> None:
    y = LABELS.astype(dtype)
    y[2] = value
    with pytest.raises(ValueError, match=rf"`target` has label {value} at position \(2,\), outside \[0, 5\)"):
        LOSSES[loss](y)
    # 2**64 - 100 is not the default ignore_index -100: never silently skipped
    with pytest.raises(ValueError, match=rf"label {value} "):
        LOSSES[loss](y, ignore_index=-100, reduction="sum")


def test_the_first_bad_label_in_order_is_reported() -> None:
    y = LABELS.astype(">u8")
    y[1], y[4] = 7, 2**64 - 1
    with pytest.raises(ValueError, match=r"label 7 at position \(1,\)"):
        fe.nll_loss(LOG_PROBS, y)
    y2 = np.zeros((2, 3), dtype=">u8")
    y2[1, 2] = 2**64 - 2
    with pytest.raises(ValueError, match=r"label 18446744073709551614 at position \(1, 2\), outside \[0, 5\)"):
        fe.softmax_cross_entropy(np.zeros((2, 5, 3)), y2, axis=1)


@pytest.mark.parametrize("dtype", ["<u8", ">u8"])
def test_ignore_index_beyond_int64_matches_uint64_labels(dtype: str) -> None:
    """ignore_index may be any value a label can hold, 2**64 - 1 included."""
    y = LABELS.astype(dtype)
    y[[0, 6]] = 2**64 - 1
    y_int = LABELS.copy()
    y_int[[0, 6]] = -100
    for loss in ("nll_loss", "softmax_cross_entropy", "label_smoothing", "softmax_cross_entropy+grad"):
        for reduction in ("none", "mean", "sum"):
            np.testing.assert_array_equal(
                LOSSES[loss](y, ignore_index=2**64 - 1, reduction=reduction),
                LOSSES[loss](y_int, reduction=reduction),
            )
    with pytest.raises(ValueError, match=r"label 18446744073709551615 at position \(0,\)"):
        fe.nll_loss(LOG_PROBS, y, ignore_index=2**64 - 2)


@pytest.mark.parametrize("dtype", ["i1", ">i2", "u4", "i8", ">i8", "u8"])
def test_an_ignore_index_no_label_can_equal_ignores_nothing(dtype: str) -> None:
    y = LABELS.astype(dtype)
    for ignore in (2**63, 2**64 - 1):
        np.testing.assert_array_equal(
            fe.softmax_cross_entropy(LOG_PROBS, y, ignore_index=ignore, reduction="none"),
            fe.softmax_cross_entropy(LOG_PROBS, LABELS, ignore_index=-100, reduction="none"),
        )


def test_int64_min_label_with_a_wide_ignore_index_is_still_out_of_range() -> None:
    y = LABELS.copy()
    y[3] = np.iinfo(np.int64).min
    for ignore in (-100, 2**63):
        with pytest.raises(ValueError, match=r"label -9223372036854775808 at position \(3,\)"):
            fe.nll_loss(LOG_PROBS, y, ignore_index=ignore)


@pytest.mark.parametrize(
    "ignore_index, error, message",
    [
        (2**70, ValueError, r"`ignore_index` must be an integer a label can equal, in \[-2\*\*63, 2\*\*64\), got 1\.180592e\+21"),
        (2**64, ValueError, r"`ignore_index` .*got 18446744073709551616$"),
        (-(2**63) - 1, ValueError, r"`ignore_index` .*got -9223372036854775809$"),
        (2.5, TypeError, r"`ignore_index` must be an integer, got 2\.5"),
        (True, TypeError, r"`ignore_index` must be an integer, got True"),
        ("1", TypeError, r"`ignore_index` must be an integer, got '1'"),
        (None, TypeError, r"`ignore_index` must be an integer, got None"),
    ],
)
@pytest.mark.parametrize("loss", ["nll_loss", "softmax_cross_entropy"])
def test_bad_ignore_index_names_the_argument(loss: str, ignore_index: Any, error: type, message: str) -> None:
    """2**70 used to raise OverflowError without naming the argument."""
    with pytest.raises(error, match=message):
        LOSSES[loss](LABELS, ignore_index=ignore_index)


def test_numpy_integer_ignore_index() -> None:
    y = LABELS.astype(np.uint64)
    y[0] = 2**64 - 1
    got = fe.nll_loss(LOG_PROBS, y, ignore_index=np.uint64(2**64 - 1), reduction="none")
    assert got[0] == 0.0 and np.all(got[1:] > 0)


def test_cli_reports_the_true_label(tmp_path: Any, capsys: Any) -> None:
    from fastentropy._cli import main

    np.save(tmp_path / "p.npy", np.exp(LOG_PROBS))
    y = LABELS.astype(">u8")
    y[5] = 2**64 - 100
    np.save(tmp_path / "y.npy", y)
    for measure in ("cross-entropy", "softmax-ce"):
        code = main(["score", str(tmp_path / "p.npy"), "--measure", measure, "--labels", str(tmp_path / "y.npy")])
        _, err = capsys.readouterr()
        assert code == 2 and "18446744073709551516" in err and " 5" in err, err
