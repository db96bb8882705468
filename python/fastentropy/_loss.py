"""The loss family: logsumexp, log_softmax, softmax, softmax_cross_entropy, nll_loss and
binary_cross_entropy_with_logits. Axis handling here, argument checking in
``_loss_arguments.py`` (shared with ``fastentropy.dask``), class-index targets decoded by
``_targets.py``; the numerics are in Rust (``fastentropy._core``), which reads every row
once, accumulates in float64 and releases the GIL.

The class axis is moved last with :func:`numpy.moveaxis` (a view, never a copy); class
index targets other than native int64 are converted to int64 (O(N)); nothing of the
logits' size is allocated unless a gradient or an elementwise output is asked for, or an
output overlaps an input (then the overlapped input is copied, as NumPy does).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, _ragged
from ._api import _as_float_array, _check_flag, _check_out, _float_input
from ._loss_arguments import (
    _MASKED_BCE,
    NEG_INF,
    _apart,
    _broadcast_weight,
    _check_loss_args,
    _check_reduction,
    _class_axis,
    _gradient,
    _row_axis,
    _same_view,
    _target_array,
)
from ._targets import INT64_MAX, check_ignore_index, decode_labels

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "softmax_cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
]

Loss = Union[float, NDArray[Any]]
def logsumexp(x: ArrayLike, *, axis: Optional[int] = -1, offsets: Optional[ArrayLike] = None) -> Loss:
    """``log(sum(exp(x)))`` of each row along ``axis``, without overflow or loss of precision.

    Computed as ``m + log1p(sum_{i != argmax} exp(x_i - m))`` with ``m`` the row's maximum,
    in one pass over the row, so a result near 0 keeps its relative precision (scipy
    gh-18295: ``logsumexp([0, -40])`` is ``4.248e-18``, where a plain max-shifted sum gives 0).

    Parameters
    ----------
    x : array_like or Arrow list column
        Real values (float32/float64 read without copying; others converted to float64).
        Ragged rows, read in place: 1-D values with ``offsets``, or an Arrow list, large
        list or fixed-size list column (a null row gives NaN, a null value is left out,
        as ``-inf``). A ``scipy.sparse`` input is refused: its implicit zeros are logits
        of 0, not absent ones — pass ``x.toarray()``, or ``x.data`` with
        ``offsets=x.indptr`` for the stored values only.
    axis : int or None, default -1
        The axis to reduce; ``None`` reduces the whole array.
    offsets : array_like of int, optional
        Row boundaries of a 1-D ``x`` (CSR style, rows + 1 entries).

    Returns
    -------
    float or ndarray of float64
        ``axis`` removed. An empty row gives ``-inf`` (log of an empty sum), a row that is
        all ``-inf`` gives ``-inf``, ``+inf`` in a row gives ``+inf``, NaN gives NaN.

    Raises
    ------
    TypeError
        If ``x`` is not real-valued.
    numpy.exceptions.AxisError
        If ``axis`` is out of range.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.logsumexp([0.0, -40.0])
    4.248354255291589e-18
    >>> fe.logsumexp([[1e30, 1e30], [0.0, float("-inf")]])
    array([1.e+30, 0.e+00])
    >>> fe.logsumexp([0.0, 0.0, 5.0], offsets=[0, 2, 3])
    array([0.69314718, 5.        ])
    """
    if offsets is None:
        # the small-call fast path: the core takes a native float ndarray and an int axis
        # as they are and returns None for anything else (issue #13)
        value = _core.logsumexp_fast(x, axis)
        if value is not None:
            return value
    if offsets is not None or type(x) is not np.ndarray:
        src = _ragged_logits(x, "x", offsets, axis)
        if src is not None:
            return _ragged.reduce("logsumexp", src)
    arr = _as_float_array(x, "x", NEG_INF)
    moved, _ = _row_axis(arr, axis, "x")
    return _core.logsumexp(moved)


def _ragged_logits(x: Any, name: str, offsets: Any, axis: Any) -> Any:
    """The ragged source of logits, or None for the dense path. scipy.sparse is refused:
    its implicit zeros are logits of 0, which a reduction over the stored values would
    leave out — so no answer would equal the dense one and also be what a sparse user
    means."""
    if offsets is None and _ragged._is_sparse(x):
        raise TypeError(
            f"`{name}` must not be a scipy.sparse matrix: its implicit zeros are logits of 0, not absent ones; "
            f"pass `{name}.toarray()` for the dense result, or `{name}.data` with `offsets={name}.indptr` "
            "to reduce over the stored values only"
        )
    return _ragged.one(x, name, offsets, axis, NEG_INF)


def _ragged_loss(
    src: Any,
    target: Any,
    weight: Any,
    ignore_index: Any,
    reduction: Any,
    label_smoothing: Any,
    return_grad: Any,
    grad_out: Any,
) -> Loss:
    """softmax_cross_entropy of ragged logits: one class index per row (into that row)."""
    red = _check_reduction(reduction)
    ignore = check_ignore_index(ignore_index)
    if weight is not None or label_smoothing != 0.0 or _check_flag(return_grad, "return_grad") or grad_out is not None:
        raise ValueError(
            "ragged `logits` take only class indices, `ignore_index` and `reduction`: "
            "`weight`, `label_smoothing` and gradients (`return_grad`, `grad_out`) need dense logits"
        )
    tgt = _target_array(target)
    if tgt.dtype.kind not in "biu" or tgt.ndim != 1:
        if not (tgt.size == 0 and tgt.dtype.kind == "f"):
            raise TypeError(
                "with ragged `logits`, `target` must be 1-D integer class indices (one per row, an index into "
                f"that row), got dtype {tgt.dtype} and shape {tgt.shape}"
            )
        tgt = tgt.astype(np.int64)
    labels, core_ignore = decode_labels(tgt, INT64_MAX, ignore)
    return _ragged.reduce(
        "softmax_cross_entropy", src, labels=np.ascontiguousarray(labels), ignore_index=core_ignore, reduction=red
    )


def _normalize(x: ArrayLike, axis: Optional[int], out: Optional[NDArray[Any]], log: bool) -> Any:
    arr, kept = _float_input(x, "x", NEG_INF)
    kernel = _core.log_softmax if log else _core.softmax
    if out is not None:
        out = _check_out(out, arr.shape, kept, "out", "x")
    if kept != arr.dtype:
        # float16 / long double: computed in float32 / float64 (arr is already a converted
        # copy, so `out` cannot overlap it), returned in the input's dtype.
        return _normalize_converted(arr, axis, out, kept, kernel)
    if axis is None:
        flat = arr.reshape(-1)  # a view when contiguous, else a copy
        if out is not None and out.flags.c_contiguous:
            target = out.reshape(-1)
            if _same_view(flat, target):
                kernel(flat, out=flat)
            else:
                kernel(_apart(flat, [target]), out=target)
            return out
        result = np.empty_like(flat)
        kernel(flat, out=result)
        if out is None:
            return result.reshape(arr.shape)
        out[...] = result.reshape(arr.shape)
        return out
    ax = _class_axis(arr, axis, "x")
    if out is None:
        result = np.empty(arr.shape, dtype=arr.dtype)
        kernel(np.moveaxis(arr, ax, -1), out=np.moveaxis(result, ax, -1))
        return result
    if _same_view(arr, out):
        moved = np.moveaxis(arr, ax, -1)
        kernel(moved, out=moved)
        return out
    kernel(np.moveaxis(_apart(arr, [out]), ax, -1), out=np.moveaxis(out, ax, -1))
    return out


def _normalize_converted(
    arr: NDArray[Any], axis: Optional[int], out: Optional[NDArray[Any]], kept: np.dtype[Any], kernel: Any
) -> Any:
    if axis is None:
        flat = arr.reshape(-1)
        kernel(flat, out=flat)  # arr is the converted copy: computed in place
        result = flat.reshape(arr.shape)
    else:
        moved = np.moveaxis(arr, _class_axis(arr, axis, "x"), -1)
        kernel(moved, out=moved)
        result = arr
    if out is None:
        return result.astype(kept)
    out[...] = result
    return out


def log_softmax(x: ArrayLike, *, axis: Optional[int] = -1, out: Optional[NDArray[Any]] = None) -> NDArray[Any]:
    """``x - logsumexp(x)`` along ``axis`` (scipy.special.log_softmax, torch.log_softmax).

    Each row is read once for its maximum and sum of exponentials, then written once:
    ``(x - m) - log1p(sum_{i != argmax} exp(x_i - m))``; the row's largest entry keeps full
    relative precision.

    Parameters
    ----------
    x : array_like
        Logits; float32/float64 read without copying (float16 and long double computed in
        float32 / float64). Masked elements of a masked array are left out (as ``-inf``).
    axis : int or None, default -1
        The axis holding one distribution; ``None`` normalises the whole array.
    out : ndarray, optional
        Where to write (the shape and float dtype of ``x``); may be ``x`` itself (in
        place) or overlap it (the result is that of the call without the overlap).

    Returns
    -------
    ndarray
        The float dtype of ``x`` (float64 for integers). A row that is all ``-inf`` gives a
        NaN row; ``±1e30`` logits give finite, correct values.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.log_softmax([0.0, 0.0])
    array([-0.69314718, -0.69314718])
    """
    if out is None:
        # the small-call fast path: a native float ndarray and an int axis, into a new array
        value = _core.log_softmax_fast(x, axis)
        if value is not None:
            return value
    return _normalize(x, axis, out, log=True)  # type: ignore[no-any-return]


def softmax(x: ArrayLike, *, axis: Optional[int] = -1, out: Optional[NDArray[Any]] = None) -> NDArray[Any]:
    """``exp(x - logsumexp(x))`` along ``axis`` (scipy.special.softmax).

    Parameters
    ----------
    x : array_like
        Logits; float32/float64 read without copying (float16 and long double computed in
        float32 / float64). Masked elements of a masked array are left out (as ``-inf``).
    axis : int or None, default -1
        The axis holding one distribution; ``None`` normalises the whole array.
    out : ndarray, optional
        Where to write (the shape and float dtype of ``x``); may be ``x`` itself (in
        place) or overlap it (the result is that of the call without the overlap).

    Returns
    -------
    ndarray
        The float dtype of ``x`` (float64 for integers); rows sum to 1. A row that is all
        ``-inf`` gives a NaN row.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.softmax([[1e30, 1e30], [0.0, float("-inf")]])
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    if out is None:
        value = _core.softmax_fast(x, axis)  # the fast path (see `log_softmax`)
        if value is not None:
            return value
    return _normalize(x, axis, out, log=False)  # type: ignore[no-any-return]


# Integer dtypes the core reads in place for nll_loss (native byte order; not uint64, whose
# values above 2**63 - 1 have no int64): no converted copy of the labels.
_NATIVE_LABELS = frozenset(
    np.dtype(t).newbyteorder("=") for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32)
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def softmax_cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: Optional[ArrayLike] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    return_grad: bool = False,
    grad_out: Optional[NDArray[Any]] = None,
    offsets: Optional[ArrayLike] = None,
) -> Union[Loss, Tuple[Loss, NDArray[Any]]]:
    """Softmax cross-entropy, ``-log softmax(logits)[target]``: torch.nn.functional.cross_entropy.

    ``LogSoftmax + NLLLoss`` in one streaming pass per row, with torch's rules for
    ``weight`` x ``ignore_index`` x ``label_smoothing`` x ``reduction``. Only O(N) extra
    memory for the loss; the gradient, when asked for, is computed in the same row loop
    and written once (into ``grad_out``, which may be ``logits`` itself).

    Parameters
    ----------
    logits : array_like
        Unnormalised scores with the classes along ``axis``; float32/float64 read without
        copying. Accumulation is in float64. Masked elements of a masked array are left
        out (as ``-inf``).
    target : array_like
        Either class indices (any integer dtype and byte order, read as its true value;
        the shape of ``logits`` without ``axis``; a plain int for one 1-D row of logits,
        torch's unbatched form) or class probabilities (a float array of the shape of
        ``logits``; masked elements count as 0). Masked class indices are refused: pass
        ``target.filled(ignore_index)``.
    axis : int, default -1
        The class axis. torch's ``(N, C, d1, ...)`` layout is ``axis=1``.
    weight : array_like, optional
        A weight per class (length C).
    ignore_index : int, default -100
        Class-index targets equal to this (compared as true values; any integer in
        [-2**63, 2**64)) contribute nothing and are not counted by "mean" (not applicable
        to probability targets).
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the summed ``weight[target]`` of non-ignored targets (NaN when all
        are ignored, as torch) or, for probability targets, by the number of rows.
    label_smoothing : float in [0, 1], default 0.0
        The target becomes ``(1 - label_smoothing) * target + label_smoothing / C``.
    return_grad : bool, default False
        Also return d(loss)/d(logits) (softmax minus the smoothed target, times the
        weights, scaled by the reduction) with the dtype of ``logits``.
    grad_out : ndarray, optional
        Where to write the gradient (the shape and float dtype of ``logits``); implies
        ``return_grad``. ``grad_out=logits`` overwrites the logits: no N x C buffer at all.
        A ``grad_out`` that partly overlaps an input gives the gradient of the call
        without the overlap (the input is copied first).
    offsets : array_like of int, optional
        Row boundaries of a 1-D ``logits`` (CSR style). Ragged rows — with ``offsets``,
        or an Arrow list column as ``logits`` (a null row gives NaN and is left out of
        "mean" and "sum") — take one integer class index per row in ``target``, an index
        into that row, checked against the row's length; ``weight``,
        ``label_smoothing``, probability targets and gradients apply to dense logits only.

    Returns
    -------
    loss : float or ndarray of float64
        A float for "mean"/"sum", one value per row for "none".
    grad : ndarray
        Only with ``return_grad`` or ``grad_out``: ``(loss, grad)``.

    Raises
    ------
    ValueError
        A label outside ``[0, C)`` that is not ``ignore_index`` (named with its true value
        and position), a target or ``weight`` of the wrong shape, ``label_smoothing``
        outside [0, 1], ``ignore_index`` outside [-2**63, 2**64), an unknown
        ``reduction``, zero classes.
    TypeError
        Non-real inputs, a non-integer ``ignore_index``, a ``return_grad`` that is not a
        bool, a ``grad_out`` of another dtype, masked labels, weights or ``grad_out``.

    Notes
    -----
    Where the target is the row's argmax the loss is ``log1p(sum_{i != argmax}
    exp(z_i - m))``, so a confidently correct prediction's tiny loss (1e-20) keeps full
    relative precision (torch rounds it to 0). For probability targets a zero target on a
    ``-inf`` logit contributes 0 (0 log 0 = 0; torch gives NaN) and a positive one gives
    ``+inf``. A row of logits that is all ``-inf`` gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import fastentropy as fe
    >>> round(fe.softmax_cross_entropy(np.log([[0.3, 0.3, 0.4]]), [2]), 12)
    0.916290731874
    >>> loss, grad = fe.softmax_cross_entropy(np.log([[0.3, 0.3, 0.4]]), [2], return_grad=True)
    >>> np.round(grad, 12)
    array([[ 0.3,  0.3, -0.6]])
    >>> fe.softmax_cross_entropy(np.log([0.3, 0.3, 0.4, 0.5, 0.5]), [2, 0], offsets=[0, 3, 5], reduction="none")
    array([0.91629073, 0.69314718])
    """
    if offsets is None and weight is None and return_grad is False and grad_out is None:
        # the small-call fast path (native float logits, native int64 labels of the batch
        # shape or a plain int label of one 1-D row, plain int/str options); None for
        # anything else
        value = _core.softmax_cross_entropy_fast(logits, target, axis, ignore_index, reduction, label_smoothing)
        if value is not None:
            return value
    if offsets is not None or type(logits) is not np.ndarray:
        src = _ragged_logits(logits, "logits", offsets, axis)
        if src is not None:
            return _ragged_loss(src, target, weight, ignore_index, reduction, label_smoothing, return_grad, grad_out)
    arr, kept = _float_input(logits, "logits", NEG_INF)
    tgt = _target_array(target)
    args = _check_loss_args(
        arr, tgt, name="logits", axis=axis, weight=weight, ignore_index=ignore_index,
        reduction=reduction, label_smoothing=label_smoothing,
    )
    want_grad = _check_flag(return_grad, "return_grad") or grad_out is not None
    ax = args.axis
    if args.labels:
        core_target, core_ignore = decode_labels(tgt, args.classes, args.ignore_index)
    else:
        core_target, core_ignore = np.moveaxis(_as_float_array(tgt, "target"), ax, -1), args.ignore_index
    kwargs: Dict[str, Any] = dict(
        weight=args.weight, ignore_index=core_ignore, reduction=args.reduction, label_smoothing=args.label_smoothing
    )
    if not want_grad:
        return _core.softmax_cross_entropy(np.moveaxis(arr, ax, -1), core_target, **kwargs)
    grad, core_grad, in_place = _gradient(arr, kept, grad_out, "logits")
    written = grad if in_place else core_grad
    # Inputs read while the gradient is written must not overlap it (NumPy's out= rule).
    core_target = _apart(core_target, [written])
    kwargs["weight"] = _apart(args.weight, [written])
    if in_place:
        loss = _core.softmax_cross_entropy(np.moveaxis(grad, ax, -1), core_target, in_place=True, **kwargs)
        return loss, grad
    assert core_grad is not None
    moved = np.moveaxis(_apart(arr, [core_grad]), ax, -1)
    loss = _core.softmax_cross_entropy(moved, core_target, grad_out=np.moveaxis(core_grad, ax, -1), **kwargs)
    if core_grad is not grad:
        grad[...] = core_grad
    return loss, grad


def nll_loss(
    log_probs: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: Optional[ArrayLike] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    return_grad: bool = False,
    grad_out: Optional[NDArray[Any]] = None,
) -> Union[Loss, Tuple[Loss, NDArray[Any]]]:
    """Negative log-likelihood ``-weight[y] * log_probs[y]``: torch.nn.functional.nll_loss.

    Parameters
    ----------
    log_probs : array_like
        Log-probabilities with the classes along ``axis``.
    target : array_like of int
        Class indices (any integer dtype and byte order, read as its true value), the
        shape of ``log_probs`` without ``axis`` (a plain int for one 1-D row).
    axis : int, default -1
        The class axis (``axis=1`` for torch's ``(N, C, d1, ...)``).
    weight : array_like, optional
        A weight per class (length C).
    ignore_index : int, default -100
        Targets equal to this contribute nothing and are not counted by "mean".
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the summed ``weight[target]`` of non-ignored targets.
    return_grad : bool, default False
        Also return d(loss)/d(log_probs).
    grad_out : ndarray, optional
        Where to write the gradient (may be ``log_probs``); implies ``return_grad``.

    Returns
    -------
    float or ndarray of float64, or (loss, grad)

    Raises
    ------
    ValueError
        A label out of range (named with its true value and position), a target or
        ``weight`` of the wrong shape, a bad reduction or ``ignore_index``.
    TypeError
        Non-real ``log_probs``, non-integer targets, a ``return_grad`` that is not a bool,
        masked labels, weights or ``grad_out``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastentropy as fe
    >>> fe.nll_loss(np.log([[0.3, 0.3, 0.4]]), [2])
    0.916290731874155
    """
    if weight is None and return_grad is False and grad_out is None:
        # the small-call fast path (see `softmax_cross_entropy`)
        value = _core.nll_loss_fast(log_probs, target, axis, ignore_index, reduction)
        if value is not None:
            return value
    arr, kept = _float_input(log_probs, "log_probs", NEG_INF)
    tgt = _target_array(target)
    args = _check_loss_args(
        arr, tgt, name="log_probs", axis=axis, weight=weight, ignore_index=ignore_index,
        reduction=reduction, probabilities=False,
    )
    want_grad = _check_flag(return_grad, "return_grad") or grad_out is not None
    ax = args.axis
    if tgt.dtype in _NATIVE_LABELS and _INT64_MIN <= args.ignore_index <= _INT64_MAX:
        # The core reads these integer dtypes in place (true values, compared with an
        # int64 ignore_index): no converted copy of the labels.
        labels, core_ignore = tgt, args.ignore_index
    else:
        labels, core_ignore = decode_labels(tgt, args.classes, args.ignore_index)
    kwargs: Dict[str, Any] = dict(weight=args.weight, ignore_index=core_ignore, reduction=args.reduction)
    if not want_grad:
        return _core.nll_loss(np.moveaxis(arr, ax, -1), labels, **kwargs)
    grad, core_grad, in_place = _gradient(arr, kept, grad_out, "log_probs")
    written = grad if in_place else core_grad
    labels = _apart(labels, [written])
    kwargs["weight"] = _apart(args.weight, [written])
    if in_place:
        loss = _core.nll_loss(np.moveaxis(grad, ax, -1), labels, in_place=True, **kwargs)
        return loss, grad
    assert core_grad is not None
    moved = np.moveaxis(_apart(arr, [core_grad]), ax, -1)
    loss = _core.nll_loss(moved, labels, grad_out=np.moveaxis(core_grad, ax, -1), **kwargs)
    if core_grad is not grad:
        grad[...] = core_grad
    return loss, grad


def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: Optional[ArrayLike] = None,
    pos_weight: Optional[ArrayLike] = None,
    reduction: str = "mean",
    return_grad: bool = False,
    grad_out: Optional[NDArray[Any]] = None,
) -> Union[Loss, Tuple[Loss, NDArray[Any]]]:
    """Sigmoid + binary cross-entropy in one stable formula: torch's
    ``binary_cross_entropy_with_logits``.

    ``loss = weight * ((1 - t) * z + (1 + (pos_weight - 1) * t) * (max(-z, 0) + log1p(exp(-|z|))))``,
    evaluated as ``max(z, 0) - z * t + log1p(exp(-|z|))`` (plus the ``pos_weight`` term)
    so that nothing cancels: finite and accurate for logits of +-80 and far beyond.

    Parameters
    ----------
    logits : array_like
        Any shape; float32/float64 read without copying.
    target : array_like
        Targets in [0, 1], the shape of ``logits``.
    weight : array_like, optional
        Elementwise weights, broadcast to the shape of ``logits`` (no copy).
    pos_weight : array_like, optional
        Weights of the positive term, broadcast against ``logits`` (usually one per class,
        the last axis).
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the number of elements; "none" returns elementwise losses with
        the dtype of ``logits``.
    return_grad : bool, default False
        Also return d(loss)/d(logits) with the dtype of ``logits``.
    grad_out : ndarray, optional
        Where to write the gradient (the shape and float dtype of ``logits``); implies
        ``return_grad``. One that overlaps an input (``grad_out=logits`` or ``weight``
        included) works, through a temporary.

    Returns
    -------
    float or ndarray, or (loss, grad)

    Raises
    ------
    ValueError
        Shapes that do not match or broadcast, a bad reduction.
    TypeError
        Non-real inputs, a ``return_grad`` that is not a bool, a ``grad_out`` of another
        dtype, or a masked array: the loss of a masked element has no single meaning —
        pass the data with ``weight=~mask`` to give masked elements zero loss.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.binary_cross_entropy_with_logits([100.0, -100.0], [1.0, 0.0], reduction="none")
    array([3.72007598e-44, 3.72007598e-44])
    """
    if weight is None and pos_weight is None and return_grad is False and grad_out is None:
        # the small-call fast path: native float arrays of one shape and "mean"/"sum" are
        # taken by the core as they are; None for anything else
        value = _core.binary_cross_entropy_with_logits_fast(logits, target, reduction)
        if value is not None:
            return value
    arr, kept = _float_input(logits, "logits", None, _MASKED_BCE.format(name="logits"))
    red = _check_reduction(reduction)
    tgt = _as_float_array(target, "target", None, _MASKED_BCE.format(name="target"))
    if tgt.shape != arr.shape:
        raise ValueError(f"`target` must have the shape of `logits` {arr.shape}, got {tgt.shape}")
    shape = arr.shape if arr.ndim else (1,)
    z, t = arr.reshape(shape), tgt.reshape(shape)
    w = _broadcast_weight(weight, shape, "weight")
    pw = _broadcast_weight(pos_weight, shape, "pos_weight")
    want_grad = _check_flag(return_grad, "return_grad") or grad_out is not None
    grad: Optional[NDArray[Any]] = None
    core_grad: Optional[NDArray[Any]] = None
    if want_grad:
        grad = np.empty(arr.shape, dtype=kept) if grad_out is None else _check_out(grad_out, arr.shape, kept, "grad_out", "logits")
        core_grad = grad.reshape(shape)  # a view (same shape, or 0-d to (1,))
        if kept != arr.dtype or any(x is not None and np.may_share_memory(x, grad) for x in (z, t, w, pw)):
            # The core reads every input while it writes: an overlapped output (even
            # grad_out=logits) is computed into a temporary and copied (NumPy's out= rule).
            core_grad = np.empty(shape, dtype=arr.dtype)
    loss = _core.binary_cross_entropy_with_logits(z, t, weight=w, pos_weight=pw, reduction=red, grad_out=core_grad)
    if red == "none":
        loss = np.asarray(loss).reshape(arr.shape).astype(kept, copy=False)
    if not want_grad:
        return loss
    assert grad is not None and core_grad is not None
    if not np.may_share_memory(core_grad, grad):
        grad[...] = core_grad.reshape(arr.shape)
    return loss, grad
