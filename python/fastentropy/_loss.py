"""The loss family: logsumexp, log_softmax, softmax, softmax_cross_entropy, nll_loss and
binary_cross_entropy_with_logits. Argument checking and axis handling here; the numerics
are in Rust (``fastentropy._core``), which reads every row once, accumulates in float64 and
releases the GIL.

The class axis is moved last with :func:`numpy.moveaxis` (a view, never a copy); class
index targets are converted to int64 (O(N)); nothing of the logits' size is allocated
unless a gradient or an elementwise output is asked for.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from ._api import _AxisError, _as_float_array

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "softmax_cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
]

Loss = Union[float, NDArray[Any]]
_REDUCTIONS = ("none", "mean", "sum")


def _class_axis(arr: NDArray[Any], axis: Any, name: str) -> int:
    """``axis`` as a non-negative int for ``arr`` (which must have a dimension)."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an integer, got {axis!r}")
    ndim = arr.ndim
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


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {value!r}")
    return int(value)


def _check_out(out: Any, like: NDArray[Any], name: str, what: str) -> NDArray[Any]:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != like.shape:
        raise ValueError(f"`{name}` must have the shape of `{what}` {like.shape}, got {out.shape}")
    if out.dtype != like.dtype:
        raise TypeError(f"`{name}` must have the dtype of `{what}` ({like.dtype}), got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"`{name}` must be writable, got a read-only array")
    return out


def _same_view(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two arrays are the same elements in the same layout (an in-place request)."""
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
    )


def logsumexp(x: ArrayLike, *, axis: Optional[int] = -1) -> Loss:
    """``log(sum(exp(x)))`` of each row along ``axis``, without overflow or loss of precision.

    Computed as ``m + log1p(sum_{i != argmax} exp(x_i - m))`` with ``m`` the row's maximum,
    in one pass over the row, so a result near 0 keeps its relative precision (scipy
    gh-18295: ``logsumexp([0, -40])`` is ``4.248e-18``, where a plain max-shifted sum gives 0).

    Parameters
    ----------
    x : array_like
        Real values (float32/float64 read without copying; others converted to float64).
    axis : int or None, default -1
        The axis to reduce; ``None`` reduces the whole array.

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
    """
    arr = _as_float_array(x, "x")
    moved, _ = _row_axis(arr, axis, "x")
    return _core.logsumexp(moved)


def _normalize(x: ArrayLike, axis: Optional[int], out: Optional[NDArray[Any]], log: bool) -> Any:
    arr = _as_float_array(x, "x")
    kernel = _core.log_softmax if log else _core.softmax
    if out is not None:
        out = _check_out(out, arr, "out", "x")
    if axis is None:
        flat = np.ascontiguousarray(arr).reshape(-1)
        if out is not None and out.flags.c_contiguous:
            target = out.reshape(-1)
            kernel(flat, out=target if not _same_view(flat, target) else flat)
            return out
        result = np.empty_like(flat)
        kernel(flat, out=result)
        result = result.reshape(arr.shape)
        if out is None:
            return result
        out[...] = result
        return out
    ax = _class_axis(arr, axis, "x")
    moved = np.moveaxis(arr, ax, -1)
    if out is None:
        result = np.empty(arr.shape, dtype=arr.dtype)
        kernel(moved, out=np.moveaxis(result, ax, -1))
        return result
    if _same_view(arr, out):
        kernel(moved, out=moved)
        return out
    if np.may_share_memory(arr, out):
        moved = np.moveaxis(arr.copy(), ax, -1)
    kernel(moved, out=np.moveaxis(out, ax, -1))
    return out


def log_softmax(x: ArrayLike, *, axis: Optional[int] = -1, out: Optional[NDArray[Any]] = None) -> NDArray[Any]:
    """``x - logsumexp(x)`` along ``axis`` (scipy.special.log_softmax, torch.log_softmax).

    Each row is read once for its maximum and sum of exponentials, then written once:
    ``(x - m) - log1p(sum_{i != argmax} exp(x_i - m))``; the row's largest entry keeps full
    relative precision.

    Parameters
    ----------
    x : array_like
        Logits; float32/float64 read without copying.
    axis : int or None, default -1
        The axis holding one distribution; ``None`` normalises the whole array.
    out : ndarray, optional
        Where to write (the shape and dtype of ``x``); may be ``x`` itself (in place).

    Returns
    -------
    ndarray
        The dtype of ``x``. A row that is all ``-inf`` gives a NaN row; ``±1e30`` logits
        give finite, correct values.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.log_softmax([0.0, 0.0])
    array([-0.69314718, -0.69314718])
    """
    return _normalize(x, axis, out, log=True)  # type: ignore[no-any-return]


def softmax(x: ArrayLike, *, axis: Optional[int] = -1, out: Optional[NDArray[Any]] = None) -> NDArray[Any]:
    """``exp(x - logsumexp(x))`` along ``axis`` (scipy.special.softmax).

    Parameters
    ----------
    x : array_like
        Logits; float32/float64 read without copying.
    axis : int or None, default -1
        The axis holding one distribution; ``None`` normalises the whole array.
    out : ndarray, optional
        Where to write (the shape and dtype of ``x``); may be ``x`` itself (in place).

    Returns
    -------
    ndarray
        The dtype of ``x``; rows sum to 1. A row that is all ``-inf`` gives a NaN row.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.softmax([[1e30, 1e30], [0.0, float("-inf")]])
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    return _normalize(x, axis, out, log=False)  # type: ignore[no-any-return]


# Integer dtypes the core reads in place (for nll_loss): no converted copy of the labels.
_NATIVE_LABELS = frozenset(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32))


def _labels(
    target: NDArray[Any], batch_shape: Tuple[int, ...], classes: int, native: bool = False
) -> NDArray[Any]:
    """Class-index targets of the expected shape: int64, or with ``native`` any dtype the
    core reads in place (native byte order, not uint64) as it is."""
    if target.shape != batch_shape:
        raise ValueError(
            "`target` (class indices) must have the shape of `logits` without the class axis, "
            f"{batch_shape}, got {target.shape}"
        )
    if target.dtype == np.uint64 and target.size and int(target.max()) > np.iinfo(np.int64).max:
        pos = np.unravel_index(int(np.argmax(target)), target.shape)
        raise ValueError(
            f"`target` has label {int(target[pos])} at position {tuple(int(i) for i in pos)}, "
            f"outside [0, {classes}) (and not `ignore_index`)"
        )
    if native and target.dtype in _NATIVE_LABELS:
        return target
    return target.astype(np.int64, copy=False)


def _class_weight(weight: Optional[ArrayLike], classes: int) -> Optional[NDArray[np.float64]]:
    if weight is None:
        return None
    w = _as_float_array(weight, "weight")
    if w.ndim != 1 or w.shape[0] != classes:
        raise ValueError(f"`weight` must have one entry per class ({classes}), got shape {w.shape}")
    return np.ascontiguousarray(w, dtype=np.float64)


def _grad_buffer(
    arr: NDArray[Any], original: Any, grad_out: Optional[NDArray[Any]], name: str
) -> Tuple[Optional[NDArray[Any]], bool, NDArray[Any]]:
    """(array for the core's ``grad_out`` or None, in_place, the gradient returned)."""
    if grad_out is None:
        grad = np.empty(arr.shape, dtype=arr.dtype)
        return grad, False, grad
    grad = _check_out(grad_out, arr, "grad_out", name)
    if grad is original or _same_view(arr, grad):
        return None, True, grad
    return grad, False, grad


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
        copying. Accumulation is in float64.
    target : array_like
        Either class indices (any integer dtype; the shape of ``logits`` without ``axis``)
        or class probabilities (a float array of the shape of ``logits``).
    axis : int, default -1
        The class axis. torch's ``(N, C, d1, ...)`` layout is ``axis=1``.
    weight : array_like, optional
        A weight per class (length C).
    ignore_index : int, default -100
        Class-index targets equal to this contribute nothing and are not counted by "mean"
        (not applicable to probability targets).
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the summed ``weight[target]`` of non-ignored targets (NaN when all
        are ignored, as torch) or, for probability targets, by the number of rows.
    label_smoothing : float in [0, 1], default 0.0
        The target becomes ``(1 - label_smoothing) * target + label_smoothing / C``.
    return_grad : bool, default False
        Also return d(loss)/d(logits) (softmax minus the smoothed target, times the
        weights, scaled by the reduction) with the dtype of ``logits``.
    grad_out : ndarray, optional
        Where to write the gradient (the shape and dtype of ``logits``); implies
        ``return_grad``. ``grad_out=logits`` overwrites the logits: no N x C buffer at all.

    Returns
    -------
    loss : float or ndarray of float64
        A float for "mean"/"sum", one value per row for "none".
    grad : ndarray
        Only with ``return_grad`` or ``grad_out``: ``(loss, grad)``.

    Raises
    ------
    ValueError
        A label outside ``[0, C)`` that is not ``ignore_index`` (named with its position),
        a target or ``weight`` of the wrong shape, ``label_smoothing`` outside [0, 1], an
        unknown ``reduction``, zero classes.
    TypeError
        Non-real inputs, or a ``grad_out`` of another dtype.

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
    """
    arr = _as_float_array(logits, "logits")
    ax = _class_axis(arr, axis, "logits")
    classes = arr.shape[ax]
    if classes == 0:
        raise ValueError("`logits` has no classes (the class axis has length 0)")
    red = _check_reduction(reduction)
    ignore = _check_int(ignore_index, "ignore_index")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"`label_smoothing` must be a real number, got {label_smoothing!r}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"`label_smoothing` must be between 0 and 1, got {label_smoothing!r}")
    w = _class_weight(weight, classes)
    tgt = np.asarray(target)
    if tgt.dtype.kind in "iu":
        core_target: NDArray[Any] = _labels(tgt, arr.shape[:ax] + arr.shape[ax + 1 :], classes)
    elif tgt.dtype.kind == "f":
        if tgt.shape != arr.shape:
            raise ValueError(
                "`target` (class probabilities) must have the shape of `logits` "
                f"{arr.shape}, got {tgt.shape}"
            )
        core_target = np.moveaxis(_as_float_array(tgt, "target"), ax, -1)
    else:
        raise TypeError(
            "`target` must hold integer class indices or float class probabilities, "
            f"got dtype {tgt.dtype}"
        )
    moved = np.moveaxis(arr, ax, -1)
    kwargs: Dict[str, Any] = dict(weight=w, ignore_index=ignore, reduction=red, label_smoothing=eps)
    if not (return_grad or grad_out is not None):
        return _core.softmax_cross_entropy(moved, core_target, **kwargs)
    core_grad, in_place, grad = _grad_buffer(arr, logits, grad_out, "logits")
    if in_place:
        loss = _core.softmax_cross_entropy(np.moveaxis(grad, ax, -1), core_target, in_place=True, **kwargs)
    else:
        assert core_grad is not None
        if np.may_share_memory(arr, core_grad):
            moved = np.moveaxis(arr.copy(), ax, -1)
        loss = _core.softmax_cross_entropy(moved, core_target, grad_out=np.moveaxis(core_grad, ax, -1), **kwargs)
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
        Class indices, the shape of ``log_probs`` without ``axis``.
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
        A label out of range, a target or ``weight`` of the wrong shape, a bad reduction.

    Examples
    --------
    >>> import numpy as np
    >>> import fastentropy as fe
    >>> fe.nll_loss(np.log([[0.3, 0.3, 0.4]]), [2])
    0.916290731874155
    """
    arr = _as_float_array(log_probs, "log_probs")
    ax = _class_axis(arr, axis, "log_probs")
    classes = arr.shape[ax]
    if classes == 0:
        raise ValueError("`log_probs` has no classes (the class axis has length 0)")
    red = _check_reduction(reduction)
    ignore = _check_int(ignore_index, "ignore_index")
    w = _class_weight(weight, classes)
    tgt = np.asarray(target)
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"`target` must hold integer class indices, got dtype {tgt.dtype}")
    labels = _labels(tgt, arr.shape[:ax] + arr.shape[ax + 1 :], classes, native=True)
    moved = np.moveaxis(arr, ax, -1)
    kwargs: Dict[str, Any] = dict(weight=w, ignore_index=ignore, reduction=red)
    if not (return_grad or grad_out is not None):
        return _core.nll_loss(moved, labels, **kwargs)
    core_grad, in_place, grad = _grad_buffer(arr, log_probs, grad_out, "log_probs")
    if in_place:
        loss = _core.nll_loss(np.moveaxis(grad, ax, -1), labels, in_place=True, **kwargs)
    else:
        assert core_grad is not None
        if np.may_share_memory(arr, core_grad):
            moved = np.moveaxis(arr.copy(), ax, -1)
        loss = _core.nll_loss(moved, labels, grad_out=np.moveaxis(core_grad, ax, -1), **kwargs)
    return loss, grad


def _broadcast_weight(value: Optional[ArrayLike], shape: Tuple[int, ...], name: str) -> Optional[NDArray[np.float64]]:
    if value is None:
        return None
    w = np.asarray(_as_float_array(value, name), dtype=np.float64)
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"`{name}` must broadcast to the shape of `logits` {shape}, got {w.shape}") from None


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
        Where to write the gradient; implies ``return_grad``. (``grad_out=logits`` works,
        through a temporary.)

    Returns
    -------
    float or ndarray, or (loss, grad)

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.binary_cross_entropy_with_logits([100.0, -100.0], [1.0, 0.0], reduction="none")
    array([3.72007598e-44, 3.72007598e-44])
    """
    arr = _as_float_array(logits, "logits")
    red = _check_reduction(reduction)
    tgt = _as_float_array(target, "target")
    if tgt.shape != arr.shape:
        raise ValueError(f"`target` must have the shape of `logits` {arr.shape}, got {tgt.shape}")
    shape = arr.shape if arr.ndim else (1,)
    z, t = arr.reshape(shape), tgt.reshape(shape)
    w = _broadcast_weight(weight, shape, "weight")
    pw = _broadcast_weight(pos_weight, shape, "pos_weight")
    want_grad = return_grad or grad_out is not None
    grad: Optional[NDArray[Any]] = None
    core_grad: Optional[NDArray[Any]] = None
    if want_grad:
        if grad_out is None:
            grad = np.empty(arr.shape, dtype=arr.dtype)
            core_grad = grad.reshape(shape)
        else:
            grad = _check_out(grad_out, arr, "grad_out", "logits")
            if np.may_share_memory(grad, arr) or np.may_share_memory(grad, tgt):
                core_grad = np.empty(shape, dtype=arr.dtype)
            else:
                core_grad = grad.reshape(shape) if grad.ndim else grad.reshape(1)
                if not np.may_share_memory(core_grad, grad):
                    core_grad = np.empty(shape, dtype=arr.dtype)
    loss = _core.binary_cross_entropy_with_logits(z, t, weight=w, pos_weight=pw, reduction=red, grad_out=core_grad)
    if red == "none" and arr.ndim == 0:
        loss = np.asarray(loss).reshape(())
    if not want_grad:
        return loss
    assert grad is not None and core_grad is not None
    if not np.may_share_memory(core_grad, grad):
        grad[...] = core_grad.reshape(arr.shape)
    return loss, grad
