"""Class-index targets of the loss family (``softmax_cross_entropy``, ``nll_loss``, their
Dask forms and the CLI's ``--labels``): every integer dtype, in either byte order, is read
as its true value.

The core takes native int64 labels and an int64 ``ignore_index``. Every label value of
every integer dtype but one fits int64 exactly, so ``astype(np.int64)`` converts it — byte
order included. The exception is uint64 above 2**63 − 1: a plain cast wraps it to a
negative number (2**64 − 100 would become −100, the default ``ignore_index``, and the row
would be silently skipped). Such labels are found first and reported with their true value
— or, when they equal ``ignore_index`` (which may be as large as 2**64 − 1), ignored. The
comparison with ``ignore_index`` is always between true values.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from ._api import _show

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def check_ignore_index(value: Any) -> int:
    """``ignore_index`` as a Python int; it must be a value some integer label can hold."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`ignore_index` must be an integer, got {value!r}")
    v = int(value)
    if not INT64_MIN <= v <= UINT64_MAX:
        raise ValueError(
            "`ignore_index` must be an integer a label can equal, in [-2**63, 2**64), "
            f"got {_show(v)}"
        )
    return v


def label_error(label: int, position: Sequence[int], classes: int) -> ValueError:
    """The out-of-range error, worded exactly as the core words it (src/error.rs)."""
    pos = tuple(int(i) for i in position)
    return ValueError(
        f"`target` has label {label} at position {pos}, outside [0, {classes}) (and not `ignore_index`)"
    )


def _first(bad: NDArray[np.bool_]) -> Tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


def decode_labels(
    target: NDArray[Any], classes: int, ignore_index: int, offset: Sequence[int] = ()
) -> Tuple[NDArray[np.int64], int]:
    """(``target`` as native int64 labels, the int64 ``ignore_index`` to give the core).

    ``target`` has an integer dtype; ``ignore_index`` is checked (:func:`check_ignore_index`).
    Labels that int64 cannot hold raise the out-of-range ValueError with their true value
    and position (``offset`` is added to it: the position of a Dask chunk), unless they equal
    ``ignore_index``. When ``ignore_index`` itself is beyond int64, the core gets a stand-in
    that no remaining label equals. Native int64 labels with an int64 ``ignore_index`` are
    returned as they are (no pass over them: the core checks the range).
    """
    dt = target.dtype
    wide = ignore_index > INT64_MAX
    if dt.kind == "u" and dt.itemsize == 8:
        u = target.astype(np.uint64, copy=False)
        big = u > np.uint64(INT64_MAX)
        ignored = (u == np.uint64(ignore_index)) if wide else None
        bad = big if ignored is None else big & ~ignored
        if bad.any():
            # Report the first bad label in C order, as the core would: small ones included.
            bad = u >= np.uint64(classes)
            if ignore_index >= 0:
                bad &= u != np.uint64(ignore_index)
            pos = _first(bad)
            raise label_error(int(u[pos]), _shift(pos, offset), classes)
        labels = u.astype(np.int64)
        if ignored is None:
            return labels, ignore_index
        # Converted uint64 labels are >= 0, so -1 stands for the ignored ones.
        labels[ignored] = -1
        return labels, -1
    labels = target if (dt == np.int64 and dt.isnative) else target.astype(np.int64)
    if not wide:
        return labels, ignore_index
    # No label of this dtype can equal ignore_index: the stand-in is INT64_MIN, which only
    # an int64 label can hold (and which is out of range, so it is reported here).
    if dt.itemsize == 8:
        hit = labels == INT64_MIN
        if hit.any():
            pos = _first(hit)
            raise label_error(INT64_MIN, _shift(pos, offset), classes)
    return labels, INT64_MIN


def _shift(pos: Sequence[int], offset: Sequence[int]) -> Tuple[int, ...]:
    if not offset:
        return tuple(pos)
    return tuple(int(p) + int(o) for p, o in zip(pos, offset))


def check_range(labels: NDArray[np.int64], classes: int, ignore_index: int, offset: Sequence[int] = ()) -> None:
    """The core's range check in NumPy, for callers that do not go through the core (Dask
    chunks): the first label outside ``[0, classes)`` that is not ``ignore_index`` (int64
    values, after :func:`decode_labels`) raises the same ValueError."""
    bad = ((labels < 0) | (labels >= classes)) & (labels != ignore_index)
    if bad.any():
        pos = _first(bad)
        raise label_error(int(labels[pos]), _shift(pos, offset), classes)
