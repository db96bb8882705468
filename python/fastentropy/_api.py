"""Argument checking and axis handling for the public functions; the numerics are in Rust.

Every function here turns its inputs into float32/float64 NumPy arrays (without copying
when they already are), checks ``axis`` and the options, broadcasts ``p`` against ``q``
(zero strides, no copy), and calls ``fastentropy._core``, which moves the distribution
axis last (a permuted view) and releases the GIL while it computes.
"""

from __future__ import annotations

import decimal
import math
import numbers
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union, cast

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

# The default of `smoothing`: the common call (no option given) is recognised by identity.
_NO_SMOOTHING = 0.0


def _show(value: Any) -> str:
    """``repr(value)`` for an error message, with integers too large for a float shortened
    (``2**2000`` has 603 digits) to their leading digits and exponent."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and abs(int(value)) >= 10**20:
        return f"{decimal.Decimal(int(value)):.6e}"
    return repr(value)


def _unmask(x: Any, name: str, fill: Optional[float], hint: Optional[str] = None) -> Any:
    """``x`` with its mask applied, if it is a :class:`numpy.ma.MaskedArray`.

    ``np.asarray`` of a masked array silently returns the values *under* the mask; instead a
    masked element takes the value ``fill`` that means "left out" for this argument (0 for a
    probability or count, ``-inf`` for a logit), or, where no value has that meaning
    (``fill=None``: labels, weights, outputs), a TypeError naming ``name`` says what to pass
    — whatever the mask holds: the type decides, not the data of the day. With a ``fill``,
    a masked array without masked elements is read in place.
    """
    if not isinstance(x, np.ma.MaskedArray):
        return x
    if fill is None:
        raise TypeError(
            f"`{name}` must not be a masked array: a masked element has no meaning for it; "
            + (hint or f"pass `{name}.filled(value)` with the value the masked elements should take")
        )
    if not np.ma.is_masked(x):
        return np.ma.getdata(x)
    if x.dtype.kind not in "fc" and not np.isfinite(fill):
        x = x.astype(np.float64)
    return np.ma.filled(x, fill)


def _as_array(x: ArrayLike, name: str, fill: Optional[float] = None, hint: Optional[str] = None) -> NDArray[Any]:
    """``x`` as a NumPy array, without converting its dtype (masked arrays: :func:`_unmask`)."""
    if type(x) is np.ndarray:  # the common case, first: no protocol lookups
        return x
    x = _unmask(x, name, fill, hint)
    try:
        if (
            not isinstance(x, np.ndarray)
            and hasattr(x, "__dlpack__")
            and not hasattr(x, "__array__")
            and not hasattr(x, "__array_interface__")
        ):
            # A DLPack-only producer (NumPy's asarray would make an object array of it):
            # np.from_dlpack views its CPU memory without copying.
            return np.from_dlpack(cast(Any, x))
        return np.asarray(x)
    except (ValueError, TypeError, BufferError, RuntimeError) as exc:
        raise TypeError(f"`{name}` must be an array of real numbers: {exc}") from None


def _as_float_array(
    x: ArrayLike, name: str, fill: Optional[float] = None, hint: Optional[str] = None
) -> NDArray[Any]:
    """``x`` as a native-endian float32/float64 array; other real dtypes are converted.

    A masked array's masked elements become ``fill``, or raise a TypeError when ``fill`` is
    None (see :func:`_unmask`).
    """
    native: NDArray[Any] = _native_float(_as_array(x, name, fill, hint), name)
    return native


def _float_input(
    x: ArrayLike, name: str, fill: Optional[float] = None, hint: Optional[str] = None
) -> Tuple[NDArray[Any], np.dtype[Any]]:
    """(``x`` as for :func:`_as_float_array`, the dtype an elementwise result keeps).

    The kept dtype is the input's own float dtype in native byte order — float16 and long
    double included, although the core computes them in float32 / float64 — and float64 for
    integers and bools (DESIGN.md §2: "elementwise outputs keep the input dtype").
    """
    arr = _as_array(x, name, fill, hint)
    native: NDArray[Any] = _native_float(arr, name)
    kept = arr.dtype.newbyteorder("=") if arr.dtype.kind == "f" else native.dtype
    return native, kept


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
    hint = ""
    if dt.kind == "O" and arr.size and isinstance(arr.flat[0], (list, tuple, np.ndarray)):
        # rows of different lengths, e.g. an Arrow / Polars list column seen by NumPy
        hint = (
            " (rows of different lengths: the row measures take them as a list column or with "
            "`offsets=`; this function needs a dense array)"
        )
    raise TypeError(
        f"`{name}` must hold real numbers (float, integer or bool), got dtype {dt}{hint}"
    )




def _ragged_fill(from_logits: Any) -> float:
    """The value a masked element of ragged rows takes: -inf for logits, else 0."""
    return -math.inf if from_logits is not False and _check_flag(from_logits, "from_logits") else 0.0


def _ragged_options(from_logits: Any, smoothing: Any, normalize: Any, sparse: bool) -> Dict[str, Any]:
    """``from_logits`` / ``smoothing`` / ``normalize`` of ragged rows, checked as the dense
    path checks them, as keyword arguments of ``_ragged.reduce``."""
    logits, s, norm = _options(from_logits, smoothing, normalize)
    if sparse and (logits or s):
        what = "`from_logits=True`" if logits else "`smoothing`"
        raise ValueError(
            f"{what} is not supported for scipy.sparse inputs: the rows of the dense matrix they stand for "
            "hold implicit zeros (a logit of 0, or a count that gets the pseudocount), which the stored "
            "values leave out; pass the dense rows (x.toarray()), or the stored values with `offsets=x.indptr`"
        )
    options: Dict[str, Any] = {"normalize": norm}
    if logits:
        options["from_logits"] = True
    if s:
        options["smoothing"] = s
    return options


def _ragged_pair(
    name: str, p: Any, q: Any, axis: Any, base: Any, normalize: Any, from_logits: Any, smoothing: Any, offsets: Any
) -> Optional[Result]:
    """The measure ``name`` of two ragged inputs (``offsets=``, scipy.sparse, Arrow or
    Polars list columns), or None where ``p`` and ``q`` are dense arrays."""
    if offsets is None and type(p) is np.ndarray and type(q) is np.ndarray:
        return None
    from . import _ragged

    srcs = _ragged.pair(p, q, offsets, axis, _ragged_fill(from_logits))
    if srcs is None:
        return None
    options = _ragged_options(from_logits, smoothing, normalize, offsets is None and _ragged._is_sparse(p))
    return _ragged.reduce(name, srcs, base=_check_base(base), **options)


def _two_distributions(
    name: str, p: Any, q: Any, axis: Any, base: Any, normalize: Any, from_logits: Any, smoothing: Any, offsets: Any
) -> Result:
    """The measure ``name`` of two distributions (KL, cross-entropy, JS, JS distance): ragged
    and Arrow rows, the small-call fast path, the general dense path, or the logits /
    smoothing variants — one dispatch for all four."""
    core: Callable[..., Result] = getattr(_core, name)
    ragged = _ragged_pair(name, p, q, axis, base, normalize, from_logits, smoothing, offsets)
    if ragged is not None:
        return ragged
    if from_logits is False and smoothing is _NO_SMOOTHING:
        pa, qa, ax = _core_pair(p, q, axis)
        return core(pa, qa, ax, _check_base(base), _check_flag(normalize, "normalize"))
    return _pair_measure(name, p, q, axis, base, normalize, from_logits, smoothing)


def _check_base(base: Optional[float]) -> Optional[float]:
    if base is None:
        return None
    if type(base) is not float and (isinstance(base, bool) or not isinstance(base, numbers.Real)):
        raise TypeError(f"`base` must be a real number or None, got {base!r}")
    try:
        b = float(base)
    except OverflowError:  # an integer (or Fraction) beyond the float range
        b = math.inf
    if not (b > 0.0 and b != 1.0 and math.isfinite(b)):
        raise ValueError(f"`base` must be positive, finite and different from 1, got {_show(base)}")
    return b


def _check_smoothing(smoothing: Any, normalize: bool, from_logits: bool) -> float:
    """``smoothing`` as a float >= 0, checked against the other options: a pseudocount is
    added to probabilities or counts before normalising, so it needs ``normalize=True``
    and has no meaning for logits."""
    if type(smoothing) is float and smoothing == 0.0:
        return 0.0
    if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real):
        raise TypeError(f"`smoothing` must be a real number, got {smoothing!r}")
    try:
        s = float(smoothing)
    except OverflowError:
        s = math.inf
    if not (s >= 0.0 and math.isfinite(s)):
        raise ValueError(
            "`smoothing` must be a finite number >= 0 (a pseudocount added to every element), "
            f"got {_show(smoothing)}"
        )
    if s > 0.0 and not normalize:
        raise ValueError(
            f"`smoothing` needs normalize=True (the pseudocount is added before normalising), "
            f"got smoothing={_show(smoothing)} with normalize=False"
        )
    if s > 0.0 and from_logits:
        raise ValueError(
            f"`smoothing` applies to probabilities or counts, not to logits: got smoothing={_show(smoothing)} "
            "with from_logits=True (use smoothing=0.0, or soften the logits yourself)"
        )
    return s


def _check_flag(value: bool, name: str) -> bool:
    """``value`` as a bool: only True, False and NumPy bools are flags (a string such as
    ``'no'`` or a number is a TypeError, not its truth value)."""
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
    return tuple(arrays), _check_axis(arrays[0].ndim, axis, name)


def _core_axis(ndim: int, axis: Axis, name: str) -> Optional[int]:
    """The checked axis for a core function that reads ``axis=None`` itself: the whole
    array as one distribution, in place, whatever its layout (no flattening copy)."""
    return None if axis is None else _check_axis(ndim, axis, name)


def _check_axis(ndim: int, axis: Any, name: str) -> int:
    # `type(...) is int` first: an ABC isinstance check costs ~0.7 µs per call.
    if type(axis) is not int and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
        raise TypeError(f"`axis` must be an integer or None, got {axis!r}")
    index = axis if type(axis) is int else int(axis)
    if not -ndim <= index < ndim:
        raise _AxisError(
            f"`axis` {axis} is out of bounds for `{name}` with {ndim} dimension(s); "
            "use axis=None to treat the whole array as one distribution"
        )
    return index


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
        and long double are computed in float32 / float64, integers and bools in float64.
        A masked array gives a masked array with the same mask.
    base : float, optional
        Logarithm base (2 for bits). Default: natural logarithm (nats).
    out : ndarray, optional
        Array of the shape and float dtype of ``p`` to write into; may be ``p`` itself
        (a negative value is then reported before anything is overwritten), or overlap it
        (the result is that of the call without the overlap).

    Returns
    -------
    ndarray or numpy scalar
        ``-log(p)`` with the float dtype of ``p`` (float64 for integers and bools; ``inf``
        where ``p == 0``, NaN where ``p`` is NaN).

    Raises
    ------
    ValueError
        If some ``p`` is negative, ``base`` is not positive, finite and different from 1,
        or ``out`` has the wrong shape or is read-only.
    TypeError
        If ``p`` is not real-valued, or ``out`` has another dtype or is a masked array.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.self_information([0.5, 0.25, 1.0], base=2)
    array([1., 2., 0.])
    """
    if base is None and out is None:
        # the small-call fast path (see `entropy`): an exact native float ndarray of
        # dimension ≥ 1 in, its result out; None for anything else
        value = _core.self_information_fast(p)
        if value is not None:
            return value
    if isinstance(p, np.ma.MaskedArray):
        # Elementwise: the mask carries over to the result (as np.ma.log does).
        if out is not None:
            raise TypeError(
                "`out` cannot hold the result of a masked `p` (its mask would be lost): "
                "omit `out` to get a masked array back, or pass `p.filled(value)`"
            )
        mask = np.ma.getmaskarray(p).copy()
        return np.ma.MaskedArray(self_information(np.ma.filled(p, 1), base=base), mask=mask)
    arr, kept = _float_input(p, "p")
    b = _check_base(base)
    if out is not None:
        out = _check_out(out, arr.shape, kept, "out", "p")
        if kept != arr.dtype:  # float16 / long double: computed in float32 / float64
            out[...] = _core.self_information(arr, base=b)
            return out
        if out is not arr and np.may_share_memory(out, arr):
            arr = arr.copy()
        _core.self_information(arr, base=b, out=out)
        return out
    result = _core.self_information(arr, base=b)
    if kept != arr.dtype:
        result = result.astype(kept)
    return result[()] if result.ndim == 0 else result


def _check_out(out: Any, shape: Tuple[int, ...], dtype: np.dtype[Any], name: str, what: str) -> NDArray[Any]:
    """``out`` checked as a writable ndarray of ``shape`` and ``dtype`` (those of ``what``)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy.ndarray, got {type(out).__name__}")
    _unmask(out, name, None, f"pass a plain numpy.ndarray (e.g. `{name}.data`) or omit `{name}`")
    if out.shape != shape:
        raise ValueError(f"`{name}` must have the shape of `{what}` {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"`{name}` must have the dtype of `{what}` ({dtype}), got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"`{name}` must be writable, got a read-only array")
    return out


def entropy(
    p: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = _NO_SMOOTHING,
    offsets: Optional[ArrayLike] = None,
) -> Result:
    """Shannon entropy ``H(P) = -sum(p * log(p))`` of each distribution along ``axis``.

    Parameters
    ----------
    p : array_like, scipy.sparse matrix or Arrow list column
        Probabilities or counts (non-negative). float32/float64 are read without copying.
        Masked elements of a masked array are left out (as 0). Ragged rows, read in
        place: a 1-D array of values with ``offsets``; a ``scipy.sparse`` matrix or array
        (each row a distribution over its stored values — equal to the dense result); an
        Arrow list, large list or fixed-size list column of floats (pyarrow array or
        chunked array, polars Series, any ``__arrow_c_stream__`` / ``__arrow_c_array__``
        producer), where a null row gives NaN and a null value is left out.
    axis : int or None, default -1
        The axis that holds one distribution (rows of an ``(N, C)`` array by default;
        ``scipy.stats.entropy`` uses ``axis=0``). ``None``: the whole array is one distribution.
    base : float, optional
        Logarithm base; default natural log (nats).
    normalize : bool, default True
        Divide each distribution by its sum first (scipy.stats.entropy semantics), in the
        same pass. ``False`` sums ``-p * log(p)`` as given. Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` holds logits (or log-probabilities): the entropy of ``softmax(p, axis)``,
        with the softmax taken inside the same streaming pass (online maximum, as
        :func:`fastentropy.logsumexp`) — no probability array is formed. Computed as
        ``log1p(rest) + sum(e_i * (max - z_i)) / (1 + rest)``, ``e_i = exp(z_i - max)``,
        ``rest`` the sum of ``e_i`` without the argmax: non-negative terms only, so a
        confident row keeps its tiny entropy with full relative precision (``[0, -80]``
        gives ``81 * exp(-80)``). A ``-inf`` logit is probability 0 (masked elements count
        as ``-inf``); a row without a finite logit, a NaN or a ``+inf`` logit gives NaN.
    smoothing : float, default 0.0
        Additive smoothing (Laplace / Lidstone): a pseudocount added to every element of
        ``p`` before normalising. Needs ``normalize=True`` and probabilities or counts
        (not logits).
    offsets : array_like of int, optional
        Row boundaries of a 1-D ``p`` (CSR style, rows + 1 entries): row ``r`` is
        ``p[offsets[r]:offsets[r + 1]]``. The result has one value per row.
        ``from_logits`` and ``smoothing`` apply to each row as to a dense row (also for
        Arrow list columns); scipy.sparse inputs refuse them (their implicit zeros are
        values of the dense rows: a 0 logit, a count that gets the pseudocount).

    Returns
    -------
    float or ndarray of float64
        One value per distribution (``axis`` removed); a float for a single distribution
        (ragged inputs always give an array, one value per row).
        An empty distribution gives 0.0; one summing to 0 gives NaN (with ``normalize``);
        NaN in a distribution gives NaN for it.

    Raises
    ------
    ValueError
        If some ``p`` is negative (not checked for logits), ``base`` is not positive or
        equals 1, or ``smoothing`` is negative, NaN, infinite or combined with
        ``normalize=False`` / ``from_logits=True``.
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
    >>> fe.entropy([0.0, 0.0], from_logits=True, base=2)
    1.0
    >>> round(fe.entropy([4, 0, 0], smoothing=1.0), 12)
    0.796311640174
    >>> fe.entropy([1, 1, 2, 4], offsets=[0, 3, 3, 4])   # rows [1, 1, 2], [], [4]
    array([1.03972077, 0.        , 0.        ])
    """
    if offsets is None and smoothing is not None and normalize is not None:
        # the small-call fast path, inline (a helper call costs ~10% of a 10-element call,
        # issue #13); the core takes a native float array and an int axis as they are, and
        # returns None for anything else
        value = _core.entropy_fast(p, axis, base, from_logits, smoothing, normalize)
        if value is not None:
            return value
    if offsets is not None or type(p) is not np.ndarray:
        from . import _ragged

        src = _ragged.one(p, "p", offsets, axis, _ragged_fill(from_logits))
        if src is not None:
            options = _ragged_options(from_logits, smoothing, normalize, offsets is None and _ragged._is_sparse(p))
            return _ragged.reduce("entropy", src, base=_check_base(base), **options)
    if from_logits is not False or smoothing is not _NO_SMOOTHING:
        logits = _check_flag(from_logits, "from_logits")
        norm = _check_flag(normalize, "normalize")
        s = _check_smoothing(smoothing, norm, logits)
        if logits or s:
            arr = _as_float_array(p, "p", -math.inf if logits else 0.0)
            ax = _core_axis(arr.ndim, axis, "p")
            if logits:
                return _core.logits_measure(arr, ax, _check_base(base), "entropy")
            return _core.smoothed_measure(arr, arr, ax, _check_base(base), "entropy", s)
    arr = _as_float_array(p, "p", 0.0)
    return _core.entropy(arr, _core_axis(arr.ndim, axis, "p"), _check_base(base), _check_flag(normalize, "normalize"))



def _options(from_logits: Any, smoothing: Any, normalize: Any) -> Tuple[bool, float, bool]:
    """(from_logits, smoothing, normalize) checked."""
    logits = _check_flag(from_logits, "from_logits")
    norm = _check_flag(normalize, "normalize")
    return logits, _check_smoothing(smoothing, norm, logits), norm


def _pair_measure(
    measure: str, p: ArrayLike, q: ArrayLike, axis: Axis, base: Optional[float],
    normalize: Any, from_logits: Any, smoothing: Any,
) -> Result:
    """A two-distribution measure with the ``from_logits`` / ``smoothing`` options: the
    logits kernels, the smoothed rows, or the plain core function ``measure``."""
    logits, s, norm = _options(from_logits, smoothing, normalize)
    pa, qa, ax = _core_pair(p, q, axis, -math.inf if logits else 0.0)
    b = _check_base(base)
    if logits:
        return _core.logits_pair_measure(pa, qa, ax, b, measure)
    if s:
        return _core.smoothed_measure(pa, qa, ax, b, measure, s)
    return getattr(_core, measure)(pa, qa, ax, b, norm)  # type: ignore[no-any-return]


def _unmask_pair(p: Any, q: Any, fill: float = 0.0) -> Tuple[Any, Any]:
    """``p`` and ``q`` without masks: an element masked in either is left out of both (set
    to ``fill`` in both, after broadcasting: 0 for probabilities, ``-inf`` for logits), as
    scipy.stats.entropy(p, q) removes it from both."""
    if not (isinstance(p, np.ma.MaskedArray) or isinstance(q, np.ma.MaskedArray)):
        return p, q
    if not (np.ma.is_masked(p) or np.ma.is_masked(q)):
        return np.ma.getdata(p), np.ma.getdata(q)
    pa, qa = _as_array(np.ma.getdata(p), "p"), _as_array(np.ma.getdata(q), "q")
    pa, qa = _broadcast(pa, qa)
    mask = np.ma.getmaskarray(p) | np.ma.getmaskarray(q)
    return np.where(mask, fill, pa), np.where(mask, fill, qa)


def _pair(p: ArrayLike, q: ArrayLike, axis: Axis) -> Tuple[NDArray[Any], NDArray[Any], int]:
    p, q = _unmask_pair(p, q)
    pa, qa = _broadcast(_as_float_array(p, "p"), _as_float_array(q, "q"))
    (pa, qa), ax = _lane_axis([pa, qa], axis, "p")
    return pa, qa, ax


def _core_pair(
    p: ArrayLike, q: ArrayLike, axis: Axis, fill: float = 0.0
) -> Tuple[NDArray[Any], NDArray[Any], Optional[int]]:
    """``p`` and ``q`` broadcast (zero strides, no copy) and the axis for a core function
    that reads ``axis=None`` itself (see ``_core_axis``); masked elements become ``fill``."""
    p, q = _unmask_pair(p, q, fill)
    pa, qa = _broadcast(_as_float_array(p, "p"), _as_float_array(q, "q"))
    return pa, qa, _core_axis(pa.ndim, axis, "p")


def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = _NO_SMOOTHING,
    offsets: Optional[ArrayLike] = None,
) -> Result:
    """Kullback–Leibler divergence ``D(P||Q) = sum(p * log(p / q))`` along ``axis``.

    Equals ``scipy.stats.entropy(p, q, axis=axis)`` (with ``normalize=True``) and
    ``scipy.special.rel_entr(p, q).sum(axis)`` (with ``normalize=False``).

    Parameters
    ----------
    p, q : array_like
        Non-negative probabilities or counts; they broadcast against each other (zero
        strides, no copy). float32 and float64 may be mixed. An element masked in
        either (``numpy.ma``) is left out of both, as ``scipy.stats.entropy`` does.
        Ragged rows (see :func:`entropy`): 1-D values with ``offsets``, two
        ``scipy.sparse`` matrices (the same pattern is read in place; different patterns
        are aligned by column, an O(nnz) copy), or two Arrow list columns with rows of
        equal lengths (chunked differently or not).
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log.
    normalize : bool, default True
        Divide ``p`` and ``q`` by their sums first, in the same pass.
        Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` and ``q`` hold logits (or log-probabilities): the measure of
        ``softmax(p, axis)`` and ``softmax(q, axis)``, both softmaxes taken inside one
        streaming pass (no probability array is formed). A ``-inf`` logit is probability 0
        (an element masked in either counts as ``-inf`` in both); a row without a finite
        logit, a NaN or a ``+inf`` logit gives NaN. For the torch convention — logits
        against probability targets — use :func:`fastentropy.softmax_cross_entropy`.
    smoothing : float, default 0.0
        Additive smoothing (Laplace / Lidstone): a pseudocount added to every element of
        ``p`` and of ``q`` before normalising, so an empty bin no longer gives ``inf``.
        Needs ``normalize=True`` and probabilities or counts (not logits).
    offsets : array_like of int, optional
        Row boundaries shared by 1-D ``p`` and ``q`` (see :func:`entropy`).

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
    >>> round(fe.kl_divergence([1, 0], [0, 1], smoothing=1.0), 12)
    0.231049060187
    >>> fe.kl_divergence([0.0, 0.0], [0.0, 0.0], from_logits=True)
    0.0
    """
    if offsets is None and smoothing is not None and normalize is not None:
        # the small-call fast path, inline (see `entropy`)
        value = _core.kl_divergence_fast(p, q, axis, base, from_logits, smoothing, normalize)
        if value is not None:
            return value
    return _two_distributions("kl_divergence", p, q, axis, base, normalize, from_logits, smoothing, offsets)


def cross_entropy(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = _NO_SMOOTHING,
    offsets: Optional[ArrayLike] = None,
) -> Result:
    """Cross-entropy ``H(P, Q) = -sum(p * log(q)) = H(P) + D(P||Q)`` along ``axis``.

    Parameters
    ----------
    p, q : array_like
        Non-negative probabilities or counts (``p`` the reference distribution, ``q`` the
        model's); they broadcast against each other. An element masked in either
        (``numpy.ma``) is left out of both. Ragged rows as for :func:`kl_divergence`.
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log.
    normalize : bool, default True
        Divide ``p`` and ``q`` by their sums first, in the same pass.
        Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` and ``q`` hold logits (or log-probabilities): the measure of
        ``softmax(p, axis)`` and ``softmax(q, axis)``, both softmaxes taken inside one
        streaming pass (no probability array is formed). A ``-inf`` logit is probability 0
        (an element masked in either counts as ``-inf`` in both); a row without a finite
        logit, a NaN or a ``+inf`` logit gives NaN. For the torch convention — logits
        against probability targets — use :func:`fastentropy.softmax_cross_entropy`.
    smoothing : float, default 0.0
        Additive smoothing (Laplace / Lidstone): a pseudocount added to every element of
        ``p`` and of ``q`` before normalising, so an empty bin no longer gives ``inf``.
        Needs ``normalize=True`` and probabilities or counts (not logits).
    offsets : array_like of int, optional
        Row boundaries shared by 1-D ``p`` and ``q`` (see :func:`entropy`).

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
    >>> fe.cross_entropy([0, 1, 1, 0, 0], [0.5, 0.5, 0.3, 0.3, 0.4], offsets=[0, 2, 5])
    array([0.69314718, 1.2039728 ])
    """
    if offsets is None and smoothing is not None and normalize is not None:
        # the small-call fast path, inline (see `entropy`)
        value = _core.cross_entropy_fast(p, q, axis, base, from_logits, smoothing, normalize)
        if value is not None:
            return value
    return _two_distributions("cross_entropy", p, q, axis, base, normalize, from_logits, smoothing, offsets)


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
