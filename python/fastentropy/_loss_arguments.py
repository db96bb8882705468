"""Argument checking of the loss family, shared by the local functions (``_loss.py``) and
``fastentropy.dask``: the class axis, the options (``reduction``, ``ignore_index``,
``label_smoothing``, ``weight``), the kind of ``target``, masked arrays, and outputs
(``out=``/``grad_out=``: their dtype, the in-place mode, overlap with the inputs).

One code path for both callers, so a bad argument raises the same exception with the same
message locally and on Dask (issue #12 item 9).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._api import _as_array, _as_float_array, _AxisError, _check_out, _show
from ._targets import check_ignore_index

_REDUCTIONS = ("none", "mean", "sum")
NEG_INF = float("-inf")

# What to pass instead of a masked array where a masked element has no single meaning.
_MASKED_LABELS = "pass `target.filled(ignore_index)` to leave the masked targets out of the loss"
_MASKED_WEIGHT = "pass `{name}.filled(value)`, e.g. `{name}.filled(0)` to give the masked entries no weight"
_MASKED_BCE = (
    "pass the data (`{name}.data`) with `weight=~np.ma.getmaskarray({name})` to give the masked "
    "elements zero loss"
)


def _class_axis(arr: Any, axis: Any, name: str) -> int:
    """``axis`` as a non-negative int for ``arr`` (which must have a dimension)."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an integer, got {axis!r}")
    ndim: int = arr.ndim
    if ndim == 0:
        raise ValueError(f"`{name}` must have at least one dimension (the class axis), got a 0-d array")
    if not -ndim <= int(axis) < ndim:
        raise _AxisError(f"`axis` {axis} is out of bounds for `{name}` with {ndim} dimension(s)")
    return int(axis) % ndim


def _row_axis(arr: NDArray[Any], axis: Any, name: str) -> Tuple[NDArray[Any], Optional[int]]:
    """``arr`` with ``axis`` last (``None``: flattened) and the normalised axis."""
    if axis is None:
        return arr.reshape(-1), None
    ax = _class_axis(arr, axis, name)
    return np.moveaxis(arr, ax, -1), ax


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"`reduction` must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction


def _check_label_smoothing(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`label_smoothing` must be a real number, got {value!r}")
    try:
        eps = float(value)
    except OverflowError:  # an integer beyond the float range
        eps = math.inf
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"`label_smoothing` must be between 0 and 1, got {_show(value)}")
    return eps


def _class_weight(weight: Optional[ArrayLike], classes: int) -> Optional[NDArray[np.float64]]:
    if weight is None:
        return None
    w = _as_float_array(weight, "weight", None, _MASKED_WEIGHT.format(name="weight"))
    if w.ndim != 1 or w.shape[0] != classes:
        raise ValueError(f"`weight` must have one entry per class ({classes}), got shape {w.shape}")
    return np.ascontiguousarray(w, dtype=np.float64)


def _target_array(target: Any) -> NDArray[Any]:
    """``target`` as an array: a masked probability target leaves the masked classes out
    (probability 0); masked class indices are a TypeError (use ``ignore_index``)."""
    if isinstance(target, np.ma.MaskedArray):
        fill = 0.0 if target.dtype.kind == "f" else None
        return _as_array(target, "target", fill, _MASKED_LABELS)
    _check_no_arrow_nulls(target)
    return _as_array(target, "target")


def _check_no_arrow_nulls(target: Any) -> None:
    """A ValueError naming the first null of an Arrow array of labels (NumPy would read the
    nulls as NaN and the labels as floats). Duck-typed: pyarrow is not imported."""
    null_count = getattr(target, "null_count", None)
    if callable(null_count):  # a polars Series: a method
        try:
            null_count = null_count()
        except TypeError:
            return
    if not isinstance(null_count, int) or null_count == 0 or not hasattr(target, "is_null"):
        return
    try:
        mask = np.asarray(target.is_null())
    except (TypeError, ValueError, AttributeError):
        return
    first = int(np.flatnonzero(mask)[0]) if mask.ndim == 1 and mask.any() else None
    if first is not None:
        raise ValueError(
            f"`target` has {null_count} null label{'s' if null_count > 1 else ''}, the first at "
            f"position {first}: fill them (e.g. with `ignore_index`) or drop those rows"
        )


class _LossArgs(NamedTuple):
    """The checked arguments of a class-axis loss, shared by the local and Dask forms."""

    axis: int
    classes: int
    reduction: str
    ignore_index: int
    label_smoothing: float
    weight: Optional[NDArray[np.float64]]
    labels: bool  # class-index target (else class probabilities)


def _check_loss_args(
    logits: Any,
    target: Any,
    *,
    name: str,
    axis: Any,
    weight: Any,
    ignore_index: Any,
    reduction: Any,
    label_smoothing: Any = 0.0,
    probabilities: bool = True,
) -> _LossArgs:
    """Checks everything but the values of a loss call, in one order for every caller.

    ``logits`` and ``target`` are arrays (NumPy or Dask) whose ``shape``/``ndim``/``dtype``
    are read; ``probabilities=False`` (nll_loss) accepts only class indices.
    """
    ax = _class_axis(logits, axis, name)
    classes = int(logits.shape[ax])
    if classes == 0:
        raise ValueError(f"`{name}` has no classes (the class axis has length 0)")
    red = _check_reduction(reduction)
    ignore = check_ignore_index(ignore_index)
    eps = _check_label_smoothing(label_smoothing)
    w = _class_weight(weight, classes)
    kind = target.dtype.kind
    shape = tuple(logits.shape)
    if kind in "iu":
        batch = shape[:ax] + shape[ax + 1 :]
        if tuple(target.shape) != batch:
            raise ValueError(
                f"`target` (class indices) must have the shape of `{name}` without the class axis, "
                f"{batch}, got {tuple(target.shape)}"
            )
        return _LossArgs(ax, classes, red, ignore, eps, w, True)
    if kind == "f" and probabilities:
        if tuple(target.shape) != shape:
            raise ValueError(
                f"`target` (class probabilities) must have the shape of `{name}` {shape}, got {tuple(target.shape)}"
            )
        return _LossArgs(ax, classes, red, ignore, eps, w, False)
    if probabilities:
        raise TypeError(
            "`target` must hold integer class indices or float class probabilities, "
            f"got dtype {target.dtype}"
        )
    raise TypeError(f"`target` must hold integer class indices, got dtype {target.dtype}")


def _same_view(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two arrays are the same elements in the same layout (an in-place request)."""
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
    )


def _apart(x: Any, outputs: Sequence[Any]) -> Any:
    """``x``, or a copy of it when its memory may overlap one of ``outputs``.

    NumPy's rule for ``out=``: an output that overlaps an input gives the result of the
    non-overlapping call. The core reads its inputs while it writes (and rust-numpy refuses
    a writable borrow that overlaps a read one), so the overlapped input is copied first —
    only then, the bounds check of ``np.may_share_memory`` costing nothing otherwise.
    """
    if x is None or not isinstance(x, np.ndarray):
        return x
    for out in outputs:
        if out is not None and np.may_share_memory(x, out):
            return x.copy()
    return x


def _gradient(
    arr: NDArray[Any],
    kept: np.dtype[Any],
    grad_out: Optional[NDArray[Any]],
    name: str,
) -> Tuple[NDArray[Any], Optional[NDArray[Any]], bool]:
    """(the gradient returned, the array the core writes or None, in place).

    The core writes into the returned array itself, except for float16 / long double
    logits (computed in float32 / float64 into a temporary, copied into it afterwards:
    the core array is then not None and differs from the returned one). ``grad_out`` that
    is the very same view as the logits is the documented in-place mode (no N x C buffer:
    the core array is None, in place True).
    """
    if grad_out is None:
        grad = np.empty(arr.shape, dtype=kept)
    else:
        grad = _check_out(grad_out, arr.shape, kept, "grad_out", name)
    if kept != arr.dtype:
        return grad, np.empty(arr.shape, dtype=arr.dtype), False
    if grad_out is not None and _same_view(arr, grad):
        return grad, None, True
    return grad, grad, False


def _broadcast_weight(value: Optional[ArrayLike], shape: Tuple[int, ...], name: str) -> Optional[NDArray[np.float64]]:
    if value is None:
        return None
    w = np.asarray(_as_float_array(value, name, None, _MASKED_WEIGHT.format(name=name)), dtype=np.float64)
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"`{name}` must broadcast to the shape of `logits` {shape}, got {w.shape}") from None
