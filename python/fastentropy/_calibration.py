"""Calibration of a classifier's top-1 predictions: the expected calibration error and
its l2 / max variants. Argument checking here; the one pass over the rows in Rust
(``src/measures/calibration_error.rs``)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from ._api import _AxisError, _as_array, _as_float_array, _check_flag

__all__ = ["expected_calibration_error"]

_NORMS = ("l1", "l2", "max")
#: The most bins accepted (4 counters of 8 bytes per bin: 512 MiB at the limit).
MAX_BINS = 2**24


def _class_labels(labels: Any, shape: tuple[int, ...], classes: int) -> NDArray[np.int64]:
    """``labels`` as int64 of ``shape``: any integer dtype and byte order, decoded to its
    value (uint64 above the int64 range is reported, not wrapped)."""
    y = _as_array(labels, "labels", hint="pass `labels.compressed()` with the matching rows of `probs`")
    if y.dtype.kind not in "iu":
        if y.size == 0 and y.dtype.kind in "fb":
            y = y.astype(np.int64)  # `[]` arrives as float64
        else:
            raise TypeError(f"`labels` must hold integer class indices, got dtype {y.dtype}")
    if y.shape != shape:
        raise ValueError(
            f"`labels` must have the shape of `probs` without the class axis, {shape}, got {y.shape}"
        )
    if y.dtype.kind == "u" and y.dtype.itemsize == 8 and y.size and int(y.max()) > np.iinfo(np.int64).max:
        pos = np.unravel_index(int(np.argmax(y)), y.shape)
        raise ValueError(
            f"`labels` has label {int(y[pos])} at position {tuple(int(i) for i in pos)}, "
            f"outside [0, {classes})"
        )
    return y.astype(np.int64, copy=False)


def expected_calibration_error(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    n_bins: int = 15,
    norm: str = "l1",
    axis: int = -1,
    from_logits: bool = False,
) -> float:
    """Top-label calibration error of a classifier (Guo et al. 2017; torchmetrics'
    ``MulticlassCalibrationError``).

    Each row's confidence is its largest probability and its prediction the index of it
    (the first on ties). Rows are put into ``n_bins`` equal-width bins ``[i/n, (i+1)/n)``
    by confidence (a confidence of 1 in the last bin). With ``n_b`` rows in bin ``b``, of
    accuracy ``acc_b`` (the fraction predicted correctly) and mean confidence ``conf_b``,
    out of ``N`` rows:

    - ``"l1"`` (ECE): ``Σ_b (n_b/N)·|acc_b − conf_b|``,
    - ``"l2"`` (RMSCE): ``sqrt(Σ_b (n_b/N)·(acc_b − conf_b)²)``,
    - ``"max"`` (MCE): ``max_b |acc_b − conf_b|`` over non-empty bins.

    One pass over the rows, in parallel; computed from exact per-bin counts and
    compensated confidence sums (``Σ_b |correct_b − Σconf_b| / N`` for l1), so the result
    is the float64 value of the definition, identical for any thread count.

    Probabilities are used as given: rows are not normalised (torchmetrics does not
    either), but must lie in [0, 1]. With ``from_logits=True`` each row is a softmax
    first (max-shifted; the confidence is ``1/(1 + Σ_{i≠argmax} exp(z_i − max))``).

    Differences from torchmetrics: torchmetrics computes in float32 (its result is
    within ~1e-7 of this one) and, since its version 1.1 (PR 1919), puts confidences of exactly 1
    into an extra bin of their own; here they belong to the last bin, as in the
    definition above. Bin boundaries are ``i/n`` rounded to the input's float type, as
    torchmetrics' ``linspace`` in the input dtype.

    Parameters
    ----------
    probs : array_like
        Probabilities (or logits with ``from_logits``), classes along ``axis``; all other
        axes are rows (torch's ``(N, C, d1, ...)`` layout is ``axis=1``).
    labels : array_like of int
        The true class of each row: the shape of ``probs`` without ``axis``, any integer
        dtype and byte order.
    n_bins : int, default 15
        Number of equal-width confidence bins, 1 to 2**24.
    norm : {"l1", "l2", "max"}, default "l1"
    axis : int, default -1
        The class axis.
    from_logits : bool, default False
        ``probs`` holds logits: softmax along ``axis`` inside the pass.

    Returns
    -------
    float
        In [0, 1]. NaN for empty input (no rows: 0/0, as torchmetrics) or where a row holds
        NaN.

    Raises
    ------
    ValueError
        A label out of range (naming the label and its position), a probability outside
        [0, 1], a ``labels`` shape that does not match, ``n_bins`` < 1 or too large, an
        unknown ``norm``, a class axis of length 0 with rows to score.
    numpy.exceptions.AxisError
        ``axis`` out of range.
    TypeError
        Non-real ``probs``, non-integer ``labels``, ``n_bins`` or ``axis``.

    Examples
    --------
    >>> import fastentropy as fe
    >>> probs = [[0.25, 0.20, 0.55], [0.55, 0.05, 0.40], [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]]
    >>> labels = [0, 1, 2, 0]
    >>> round(fe.expected_calibration_error(probs, labels, n_bins=3), 6)
    0.2
    >>> round(fe.expected_calibration_error(probs, labels, n_bins=3, norm="max"), 6)
    0.233333
    """
    arr = _as_float_array(probs, "probs")
    if arr.ndim == 0:
        raise ValueError("`probs` must have a class axis (at least 1 dimension), got a 0-d array")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an integer, got {axis!r}")
    if not -arr.ndim <= int(axis) < arr.ndim:
        raise _AxisError(f"`axis` {axis} is out of bounds for `probs` with {arr.ndim} dimension(s)")
    ax = int(axis) % arr.ndim
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral):
        raise TypeError(f"`n_bins` must be a positive integer, got {n_bins!r}")
    if not 1 <= int(n_bins) <= MAX_BINS:
        raise ValueError(f"`n_bins` must be a positive integer at most 2**24, got {n_bins!r}")
    if not isinstance(norm, str) or norm not in _NORMS:
        raise ValueError(f"`norm` must be 'l1', 'l2' or 'max', got {norm!r}")
    logits = _check_flag(from_logits, "from_logits")
    classes = arr.shape[ax]
    y = _class_labels(labels, arr.shape[:ax] + arr.shape[ax + 1 :], classes)
    if classes == 0 and y.size:
        raise ValueError("`probs` has no classes (the class axis has length 0)")
    return float(_core.expected_calibration_error(np.moveaxis(arr, ax, -1), y, int(n_bins), norm, logits))
