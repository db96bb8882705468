"""Argument checking and axis handling for the public functions; the numerics are in Rust.

Every function here turns its inputs into float32/float64 NumPy arrays (without copying
when they already are), checks ``axis`` and the options, broadcasts ``p`` against ``q``
(zero strides, no copy), and calls ``fastentropy._core``, which moves the distribution
axis last (a permuted view) and releases the GIL while it computes.
"""

from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence, Tuple, Union, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core

__all__ = [
    "self_information",
    "entropy",
    "kl_divergence",
    "cross_entropy",
    "set_num_threads",
    "get_num_threads",
]

_AxisError: type = getattr(getattr(np, "exceptions", np), "AxisError")

Axis = Optional[int]
Result = Union[float, NDArray[np.float64]]


def _as_float_array(x: ArrayLike, name: str) -> NDArray[Any]:
    """``x`` as a native-endian float32/float64 array; other real dtypes are converted."""
    try:
        if (
            not isinstance(x, np.ndarray)
            and hasattr(x, "__dlpack__")
            and not hasattr(x, "__array__")
            and not hasattr(x, "__array_interface__")
        ):
            # A DLPack-only producer (NumPy's asarray would make an object array of it):
            # np.from_dlpack views its CPU memory without copying.
            arr = np.from_dlpack(cast(Any, x))
        else:
            arr = np.asarray(x)
    except (ValueError, TypeError, BufferError, RuntimeError) as exc:
        raise TypeError(f"`{name}` must be an array of real numbers: {exc}") from None
    native: NDArray[Any] = _native_float(arr, name)
    return native


def _native_float(arr: Any, name: str) -> Any:
    """The dtype rules, for any array with ``dtype`` and ``astype`` (NumPy or Dask): float32
    and native float64 as they are, float16 → float32, long double, integers and bools →
    float64, byte-swapped floats → native; anything else is a TypeError naming ``name``."""
    dt = arr.dtype
    if dt.kind == "f":
        if dt.itemsize < 4:
            return arr.astype(np.float32)
        if dt.itemsize > 8:
            return arr.astype(np.float64)
        if not dt.isnative:
            return arr.astype(dt.newbyteorder("="))
        return arr
    if dt.kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(
        f"`{name}` must hold real numbers (float, integer or bool), got dtype {dt}"
    )


def _check_base(base: Optional[float]) -> Optional[float]:
    if base is None:
        return None
    if type(base) is not float and (isinstance(base, bool) or not isinstance(base, numbers.Real)):
        raise TypeError(f"`base` must be a real number or None, got {base!r}")
    b = float(base)
    if not (b > 0.0 and b != 1.0 and np.isfinite(b)):
        raise ValueError(f"`base` must be positive, finite and different from 1, got {b!r}")
    return b


def _check_flag(value: bool, name: str) -> bool:
    if value is True or value is False:
        return value
    if not isinstance(value, np.bool_):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def _lane_axis(arrays: Sequence[NDArray[Any]], axis: Axis, name: str) -> Tuple[Tuple[NDArray[Any], ...], int]:
    """``arrays`` (equal shapes) and the checked axis that holds one distribution.

    ``axis=None`` flattens (a view when contiguous) and returns axis 0. The Rust core moves
    the axis last itself (a permuted view), which costs far less than ``np.moveaxis``.
    """
    if axis is None:
        return tuple(a.reshape(-1) for a in arrays), 0
    # `type(...) is int` first: an ABC isinstance check costs ~0.7 µs per call.
    if type(axis) is not int and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
        raise TypeError(f"`axis` must be an integer or None, got {axis!r}")
    ndim = arrays[0].ndim
    if not -ndim <= axis < ndim:
        raise _AxisError(
            f"`axis` {axis} is out of bounds for `{name}` with {ndim} dimension(s); "
            "use axis=None to treat the whole array as one distribution"
        )
    return tuple(arrays), axis if type(axis) is int else int(axis)


def _broadcast(p: NDArray[Any], q: NDArray[Any]) -> Tuple[NDArray[Any], NDArray[Any]]:
    if p.shape == q.shape:
        return p, q
    # NumPy's rules by hand: np.broadcast_arrays / np.broadcast_shapes refuse more than 32
    # dimensions (RuntimeError), while NumPy 2 arrays have up to 64; np.broadcast_to has
    # no such limit.
    shape = []
    for i in range(1, max(p.ndim, q.ndim) + 1):
        a = p.shape[-i] if i <= p.ndim else 1
        b = q.shape[-i] if i <= q.ndim else 1
        if a != b and a != 1 and b != 1:
            raise ValueError(f"`p` and `q` must have broadcastable shapes, got {p.shape} and {q.shape}")
        shape.append(b if a == 1 else a)
    target = tuple(reversed(shape))
    return np.broadcast_to(p, target), np.broadcast_to(q, target)


def self_information(
    p: ArrayLike, *, base: Optional[float] = None, out: Optional[NDArray[Any]] = None
) -> Any:
    """Self-information (surprisal) ``-log(p)``, elementwise.

    Parameters
    ----------
    p : array_like
        Probabilities, any shape. float32 and float64 are read without copying; float16
        is converted to float32, integers, bools and long doubles to float64.
    base : float, optional
        Logarithm base (2 for bits). Default: natural logarithm (nats).
    out : ndarray, optional
        Array of the same shape and dtype as ``p`` to write into; may be ``p`` itself
        (a negative value is then reported before anything is overwritten).

    Returns
    -------
    ndarray or numpy scalar
        ``-log(p)`` with the dtype of ``p`` (``inf`` where ``p == 0``, NaN where ``p`` is NaN).

    Raises
    ------
    ValueError
        If some ``p`` is negative, ``base`` is not positive or equals 1, or ``out`` has
        the wrong shape or is read-only.
    TypeError
        If ``p`` is not real-valued or ``out`` has another dtype.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.self_information([0.5, 0.25, 1.0], base=2)
    array([1., 2., 0.])
    """
    arr = _as_float_array(p, "p")
    b = _check_base(base)
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"`out` must be a numpy.ndarray, got {type(out).__name__}")
        if out.shape != arr.shape:
            raise ValueError(f"`out` must have the shape of `p` {arr.shape}, got {out.shape}")
        if out.dtype != arr.dtype:
            raise TypeError(f"`out` must have the dtype of `p` ({arr.dtype}), got {out.dtype}")
        if not out.flags.writeable:
            raise ValueError("`out` must be writable, got a read-only array")
        if out is not arr and np.may_share_memory(out, arr):
            arr = arr.copy()
        _core.self_information(arr, base=b, out=out)
        return out
    result = _core.self_information(arr, base=b)
    return result[()] if result.ndim == 0 else result


def entropy(
    p: ArrayLike, *, axis: Axis = -1, base: Optional[float] = None, normalize: bool = True
) -> Result:
    """Shannon entropy ``H(P) = -sum(p * log(p))`` of each distribution along ``axis``.

    Parameters
    ----------
    p : array_like
        Probabilities or counts (non-negative). float32/float64 are read without copying.
    axis : int or None, default -1
        The axis that holds one distribution (rows of an ``(N, C)`` array by default;
        ``scipy.stats.entropy`` uses ``axis=0``). ``None``: the whole array is one distribution.
    base : float, optional
        Logarithm base; default natural log (nats).
    normalize : bool, default True
        Divide each distribution by its sum first (scipy.stats.entropy semantics), in the
        same pass. ``False`` sums ``-p * log(p)`` as given.

    Returns
    -------
    float or ndarray of float64
        One value per distribution (``axis`` removed); a float for a single distribution.
        An empty distribution gives 0.0; one summing to 0 gives NaN (with ``normalize``);
        NaN in a distribution gives NaN for it.

    Raises
    ------
    ValueError
        If some ``p`` is negative, or ``base`` is not positive or equals 1.
    numpy.exceptions.AxisError
        If ``axis`` is out of range (a ``ValueError``).
    TypeError
        If ``p`` is complex, object or otherwise not real-valued.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.entropy([0.5, 0.5], base=2)
    1.0
    >>> fe.entropy([[1, 1, 2], [4, 0, 0]])
    array([1.03972077, 0.        ])
    """
    (arr,), ax = _lane_axis([_as_float_array(p, "p")], axis, "p")
    return _core.entropy(arr, ax, _check_base(base), _check_flag(normalize, "normalize"))


def _pair(p: ArrayLike, q: ArrayLike, axis: Axis) -> Tuple[NDArray[Any], NDArray[Any], int]:
    pa, qa = _broadcast(_as_float_array(p, "p"), _as_float_array(q, "q"))
    (pa, qa), ax = _lane_axis([pa, qa], axis, "p")
    return pa, qa, ax


def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
) -> Result:
    """Kullback–Leibler divergence ``D(P||Q) = sum(p * log(p / q))`` along ``axis``.

    Equals ``scipy.stats.entropy(p, q, axis=axis)`` (with ``normalize=True``) and
    ``scipy.special.rel_entr(p, q).sum(axis)`` (with ``normalize=False``).

    Parameters
    ----------
    p, q : array_like
        Non-negative probabilities or counts; they broadcast against each other (zero
        strides, no copy). float32 and float64 may be mixed.
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log.
    normalize : bool, default True
        Divide ``p`` and ``q`` by their sums first, in the same pass.

    Returns
    -------
    float or ndarray of float64
        ``+inf`` where some ``q == 0 < p``; exactly 0.0 when ``p`` and ``q`` are equal.

    Raises
    ------
    ValueError
        If shapes do not broadcast, a value is negative, or ``base`` is invalid.
    TypeError
        If an input is not real-valued.

    Examples
    --------
    >>> import fastentropy as fe
    >>> round(fe.kl_divergence([0.5, 0.5], [0.9, 0.1]), 12)
    0.510825623766
    >>> fe.kl_divergence([1, 0], [0, 1])
    inf
    """
    pa, qa, ax = _pair(p, q, axis)
    return _core.kl_divergence(pa, qa, ax, _check_base(base), _check_flag(normalize, "normalize"))


def cross_entropy(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
) -> Result:
    """Cross-entropy ``H(P, Q) = -sum(p * log(q)) = H(P) + D(P||Q)`` along ``axis``.

    Parameters
    ----------
    p, q : array_like
        Non-negative probabilities or counts (``p`` the reference distribution, ``q`` the
        model's); they broadcast against each other.
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log.
    normalize : bool, default True
        Divide ``p`` and ``q`` by their sums first, in the same pass.

    Returns
    -------
    float or ndarray of float64
        ``+inf`` where some ``q == 0 < p``; terms with ``p == 0`` contribute 0.

    Raises
    ------
    ValueError
        If shapes do not broadcast, a value is negative, or ``base`` is invalid.
    TypeError
        If an input is not real-valued.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.cross_entropy([0, 0, 1], [0.3, 0.3, 0.4])
    0.916290731874155
    """
    pa, qa, ax = _pair(p, q, axis)
    return _core.cross_entropy(pa, qa, ax, _check_base(base), _check_flag(normalize, "normalize"))


def set_num_threads(n: int) -> None:
    """Set the number of threads the reductions use (1: run on the calling thread).

    The default is the environment variable ``FASTENTROPY_NUM_THREADS`` or, without it,
    the number of CPUs. Results are bitwise identical for every thread count. Counts above
    ``4 × CPUs`` (at least 8) are clamped to it — more threads than cores only add overhead
    — and ``get_num_threads()`` then reports the clamped value. The threads are started by
    the next call that needs them, with the GIL released.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.set_num_threads(1); fe.get_num_threads()
    1
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"`n` must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"`n` must be at least 1, got {n}")
    _core.set_num_threads(min(int(n), _core.MAX_THREADS))


def get_num_threads() -> int:
    """The number of threads the reductions use."""
    return int(_core.get_num_threads())
