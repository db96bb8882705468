"""Jensen–Shannon divergence and distance, perplexity, entropy of integer labels, and the
measures of two discrete variables (joint and conditional entropy, mutual information and
its normalised form) from a contingency table or from two label arrays.

Argument checking only, as in :mod:`fastentropy._api`; the numerics are in Rust.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, _ragged
from ._api import (
    _NO_SMOOTHING,
    Axis,
    Result,
    _as_float_array,
    _check_base,
    _check_flag,
    _core_axis,
    _two_distributions,
    _ragged_fill,
    _ragged_options,
    _lane_axis,
    _unmask,
)

__all__ = [
    "js_divergence",
    "js_distance",
    "perplexity",
    "label_entropy",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
    "normalized_mutual_information",
]

_AVERAGE_METHODS = ("min", "geometric", "arithmetic", "max")
# What to pass instead of a masked label array (a masked sample has no label to count).
_PAIRED = (
    "to leave the masked samples out of both variables pass "
    "`keep = ~(np.ma.getmaskarray(x) | np.ma.getmaskarray(y))` and then `np.asarray(x)[keep], np.asarray(y)[keep]`"
)
_MASKED_LABELS = {
    "labels": "to leave the masked samples out of a 1-D array pass `labels.compressed()`",
    "x": _PAIRED,
    "y": _PAIRED,
}


def js_divergence(
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
    """Jensen–Shannon divergence ``JS(P, Q) = (D(P||M) + D(Q||M)) / 2``, ``M = (P + Q) / 2``.

    With ``normalize=True`` (the default) ``p`` and ``q`` are first divided by their sums,
    as ``scipy.spatial.distance.jensenshannon`` does, so
    ``js_divergence(p, q, base=b) == jensenshannon(p, q, base=b) ** 2`` up to rounding.
    The result is never negative (for ``base > 1``): a rounding result below zero is
    returned as 0.0 (clamped in nats, before the change of base), and
    ``js_divergence(p, p)`` is exactly 0.0.

    Parameters
    ----------
    p, q : array_like
        Non-negative probabilities or counts; they broadcast against each other (zero
        strides, no copy). float32 and float64 are read without copying and may be mixed.
        Ragged rows as for :func:`fastentropy.kl_divergence` (``offsets``, scipy.sparse,
        Arrow list columns).
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log (the divergence is then at most ln 2; in
        base 2 at most 1). A base below 1 gives a negative divergence (and a NaN
        distance, as scipy).
    normalize : bool, default True
        Divide ``p`` and ``q`` by their sums first. ``False`` sums
        ``(rel_entr(p, m) + rel_entr(q, m)) / 2`` with ``m = (p + q) / 2`` as given.
        Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` and ``q`` hold logits (or log-probabilities): the divergence of
        ``softmax(p, axis)`` and ``softmax(q, axis)``, without a probability array (one
        pass for both log-normalisers, a second for the terms). A ``-inf`` logit is
        probability 0; a row without a finite logit, a NaN or a ``+inf`` logit gives NaN.
    smoothing : float, default 0.0
        Additive smoothing: a pseudocount added to every element of ``p`` and ``q``
        before normalising. Needs ``normalize=True`` and probabilities or counts.
    offsets : array_like of int, optional
        Row boundaries shared by 1-D ``p`` and ``q`` (see :func:`fastentropy.entropy`).

    Returns
    -------
    float or ndarray of float64
        One value per pair of distributions (``axis`` removed). An empty distribution
        gives 0.0; one summing to 0 gives NaN (with ``normalize``); NaN propagates.

    Raises
    ------
    ValueError
        If shapes do not broadcast, a value is negative, ``base`` is invalid, or ``axis``
        is out of range.
    TypeError
        If an input is not real-valued.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.js_divergence([1, 0], [0, 1], base=2)
    1.0
    >>> fe.js_divergence([0.2, 0.8], [0.2, 0.8])
    0.0
    """
    if offsets is None and smoothing is not None and normalize is not None:
        # the small-call fast path, inline (see `entropy`)
        value = _core.js_divergence_fast(p, q, axis, base, from_logits, smoothing, normalize)
        if value is not None:
            return value
    return _two_distributions("js_divergence", p, q, axis, base, normalize, from_logits, smoothing, offsets)


def js_distance(
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
    """Jensen–Shannon distance, the square root of :func:`js_divergence`.

    Equals ``scipy.spatial.distance.jensenshannon(p, q, base=base, axis=axis)`` (which
    normalises ``p`` and ``q``), except that it is never NaN for valid input and
    ``base > 1``: scipy takes
    the square root of a tiny negative rounding result and returns NaN (scipy#20083,
    seen with float32 input); here that divergence is clamped to 0 first.

    Parameters
    ----------
    p, q, axis, base, normalize, from_logits, smoothing, offsets
        As for :func:`js_divergence`.

    Returns
    -------
    float or ndarray of float64
        A metric: 0 for equal distributions, at most 1 in base 2.

    Raises
    ------
    ValueError, TypeError
        As for :func:`js_divergence`.

    Examples
    --------
    >>> import fastentropy as fe
    >>> round(fe.js_distance([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], base=2), 12)
    1.0
    >>> round(fe.js_distance([1.0, 0.0], [0.5, 0.5]), 12)
    0.464501404022
    """
    if offsets is None and smoothing is not None and normalize is not None:
        # the small-call fast path, inline (see `entropy`)
        value = _core.js_distance_fast(p, q, axis, base, from_logits, smoothing, normalize)
        if value is not None:
            return value
    return _two_distributions("js_distance", p, q, axis, base, normalize, from_logits, smoothing, offsets)


def perplexity(
    p: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    offsets: Optional[ArrayLike] = None,
) -> Result:
    """Perplexity ``exp(H(P))`` of each distribution along ``axis``.

    The effective number of equally likely outcomes: ``k`` for a uniform distribution
    over ``k`` outcomes, 1 for a certain one. The value does not depend on the unit of the
    entropy (``b ** H_b(P) == exp(H_e(P))`` for every base ``b``), so ``base`` is
    validated like everywhere else but does not change the result; it is computed as
    ``exp`` of the entropy in nats.

    Parameters
    ----------
    p : array_like
        Probabilities or counts (non-negative). Ragged rows as for
        :func:`fastentropy.entropy` (``offsets``, scipy.sparse, Arrow list columns).
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Accepted for symmetry with :func:`fastentropy.entropy`; see above.
    normalize : bool, default True
        Divide each distribution by its sum first. Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` holds logits: ``exp`` of the entropy of ``softmax(p, axis)``, computed in one
        streaming pass as for ``entropy(p, from_logits=True)`` (the perplexity of a
        language model's next-token distribution, without a probability array).
    offsets : array_like of int, optional
        Row boundaries of a 1-D ``p`` (see :func:`fastentropy.entropy`).

    Returns
    -------
    float or ndarray of float64
        ``exp(entropy(p, axis=axis, normalize=normalize))``; an empty distribution gives
        1.0, one summing to 0 gives NaN.

    Raises
    ------
    ValueError
        If some ``p`` is negative, ``base`` is invalid, or ``axis`` is out of range.
    TypeError
        If ``p`` is not real-valued.

    Examples
    --------
    >>> import fastentropy as fe
    >>> round(fe.perplexity([1, 1, 1, 1]), 12)
    4.0
    >>> fe.perplexity([[0.5, 0.5], [1.0, 0.0]], base=2)
    array([2., 1.])
    >>> round(fe.perplexity([2.0, 2.0, 2.0], from_logits=True), 12)
    3.0
    >>> fe.perplexity([1, 1, 1, 1, 5], offsets=[0, 4, 5])
    array([4., 1.])
    """
    if offsets is None and normalize is True:
        # the small-call fast path, inline (see `entropy`)
        value = _core.perplexity_fast(p, axis, base, from_logits)
        if value is not None:
            return value
    if offsets is not None or type(p) is not np.ndarray:
        src = _ragged.one(p, "p", offsets, axis, _ragged_fill(from_logits))
        if src is not None:
            options = _ragged_options(from_logits, 0.0, normalize, offsets is None and _ragged._is_sparse(p))
            return _ragged.reduce("perplexity", src, base=_check_base(base), **options)
    if from_logits is not False and _check_flag(from_logits, "from_logits"):
        arr = _as_float_array(p, "p", -np.inf)
        return _core.logits_measure(arr, _core_axis(arr.ndim, axis, "p"), _check_base(base), "perplexity")
    arr = _as_float_array(p, "p", 0.0)
    ax = _core_axis(arr.ndim, axis, "p")
    return _core.perplexity(arr, ax, _check_base(base), _check_flag(normalize, "normalize"))


def _as_labels(x: ArrayLike, name: str) -> Tuple[NDArray[Any], str]:
    """``x`` as an integer array the core reads in place, and how to decode it: integer
    dtypes as they are (``"native"``), byte-swapped ones as a native-order view of the same
    bytes (``"swapped"``), bools as a uint8 view (``"bool"``). Views only: labels are never
    converted or copied (they are compared by their true value in Rust)."""
    _unmask(x, name, None, _MASKED_LABELS[name])
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"`{name}` must be an array of integer labels: {exc}") from None
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)  # np.asarray([]) is float64: an empty list is fine
    if arr.dtype.kind not in "biu":
        raise TypeError(
            f"`{name}` must hold integer (or bool) labels, got dtype {arr.dtype}; "
            "map other labels to integers first, e.g. with np.unique(x, return_inverse=True)[1]"
        )
    if arr.dtype.kind == "b":
        return arr.view(np.uint8), "bool"
    if not arr.dtype.isnative:
        return arr.view(arr.dtype.newbyteorder("=")), "swapped"
    return arr, "native"


def label_entropy(
    labels: ArrayLike,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    miller_madow: bool = False,
) -> Result:
    """Entropy of integer samples: the plug-in estimate ``-sum(c/n * log(c/n))`` over the
    counts ``c`` of the distinct labels among ``n`` samples, optionally bias-corrected.

    ``label_entropy(x)`` equals ``scipy.stats.entropy(np.unique(x, return_counts=True)[1])``
    and ``sklearn.metrics.cluster.entropy(x)`` (except for no samples, where sklearn
    returns 1.0 and this returns 0.0, an empty sum). Labels may be any integers (negative,
    sparse, up to 64 bits; any integer dtype, byte order and strides, read in place and
    compared by value): they are counted in Rust in O(n), without a table of the label
    range when the range is large.

    Parameters
    ----------
    labels : array_like of int or bool
        Samples; ``axis`` holds one sample set.
    axis : int or None, default -1
        The axis holding one set of samples; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log.
    miller_madow : bool, default False
        Add the Miller–Madow correction ``(K - 1) / (2 n)`` (in nats, before the change
        of base), ``K`` the number of distinct labels observed: it removes the first-order
        bias of the plug-in estimate, which underestimates the entropy.

    Returns
    -------
    float or ndarray of float64
        One value per sample set (``axis`` removed).

    Raises
    ------
    ValueError
        If ``base`` is invalid or ``axis`` is out of range.
    TypeError
        If ``labels`` are not integers or booleans.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.label_entropy([3, 3, 7, 7], base=2)
    1.0
    >>> round(fe.label_entropy([3, 3, 7, 7], base=2, miller_madow=True), 12)
    1.180336880111
    """
    arr, decode = _as_labels(labels, "labels")
    b = _check_base(base)
    mm = _check_flag(miller_madow, "miller_madow")
    if axis is None:
        return float(_core.label_entropy(arr, None, b, mm, decode))
    (arr,), ax = _lane_axis([arr], axis, "labels")
    # The core moves `axis` last itself (a permuted view) and reads every lane in place.
    result: Result = _core.label_entropy(arr, ax, b, mm, decode)
    return result


def _two_variables(
    x: Optional[ArrayLike], y: Optional[ArrayLike], contingency: Optional[ArrayLike]
) -> Tuple[str, Tuple[Any, ...]]:
    """("table", (table,)) or ("labels", (x, y)), checked."""
    if contingency is not None:
        if x is not None or y is not None:
            raise ValueError("pass either the label arrays `x` and `y` or `contingency`, not both")
        table = _as_float_array(contingency, "contingency", 0.0)
        if table.ndim != 2:
            raise ValueError(
                f"`contingency` must be a 2-D table of counts (rows: values of x, columns: "
                f"values of y), got shape {table.shape}"
            )
        return "table", (table.astype(np.float64, copy=False),)
    if x is None or y is None:
        raise TypeError("pass the label arrays `x` and `y`, or `contingency=` a 2-D table of counts")
    (xa, xd), (ya, yd) = _as_labels(x, "x"), _as_labels(y, "y")
    for name, a in (("x", xa), ("y", ya)):
        if a.ndim != 1:
            raise ValueError(f"`{name}` must be a 1-D array of labels, got shape {a.shape}")
    if xa.shape != ya.shape:
        raise ValueError(f"`x` and `y` must have the same length, got {xa.shape[0]} and {ya.shape[0]}")
    return "labels", (xa, ya, xd, yd)


def _measure(
    measure: str,
    x: Optional[ArrayLike],
    y: Optional[ArrayLike],
    contingency: Optional[ArrayLike],
    base: Optional[float],
    average_method: str = "arithmetic",
) -> float:
    kind, arrays = _two_variables(x, y, contingency)
    b = _check_base(base)
    if kind == "table":
        return float(_core.contingency_measure(arrays[0], measure, b, average_method))
    xa, ya, xd, yd = arrays
    return float(_core.label_pair_measure(xa, ya, measure, b, average_method, xd, yd))


_TWO_VARIABLES = """
    The two variables are given either as two equally long 1-D arrays of integer labels
    ``x`` and ``y`` (samples of the pairs, like ``sklearn.metrics.mutual_info_score(x, y)``),
    read in place whatever their integer dtype, byte order or strides and counted in Rust
    in O(n) (a dense table when it is small, else a counting sort of the pairs — no table
    of the label range, no converted copy), or as ``contingency=``, a 2-D table
    of non-negative counts with ``N[i, j]`` = number of samples with x = i and y = j.
"""


def joint_entropy(
    x: Optional[ArrayLike] = None,
    y: Optional[ArrayLike] = None,
    *,
    contingency: Optional[ArrayLike] = None,
    base: Optional[float] = None,
) -> float:
    """Joint entropy ``H(X, Y) = -sum(N/n * log(N/n))`` over the cells of the joint counts.
    {two}
    Parameters
    ----------
    x, y : array_like of int, optional
        Labels of the two variables (1-D, same length).
    contingency : array_like, optional
        2-D table of counts, instead of ``x`` and ``y``.
    base : float, optional
        Logarithm base; default natural log.

    Returns
    -------
    float
        0.0 for no samples; NaN for a table summing to 0 or holding NaN.

    Raises
    ------
    ValueError
        If lengths differ, an array has the wrong dimensions, a count is negative, both
        forms are given, or ``base`` is invalid.
    TypeError
        If labels are not integers, a table is not real-valued, or no input is given.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.joint_entropy([0, 0, 1, 1], [0, 1, 0, 1], base=2)
    2.0
    >>> fe.joint_entropy(contingency=[[1, 1], [1, 1]], base=2)
    2.0
    """
    return _measure("joint_entropy", x, y, contingency, base)


def conditional_entropy(
    x: Optional[ArrayLike] = None,
    y: Optional[ArrayLike] = None,
    *,
    contingency: Optional[ArrayLike] = None,
    base: Optional[float] = None,
) -> float:
    """Conditional entropy ``H(X | Y) = -sum(N/n * log(N / b))`` of the first variable
    given the second, ``b`` the column sums (counts of Y); ``= H(X, Y) - H(Y)``.
    {two}
    It is computed directly (not as a difference), so ``H(X | Y)`` is exactly 0.0 when X
    is a function of Y. For ``H(Y | X)`` swap the arguments (or transpose the table).

    Parameters
    ----------
    x, y : array_like of int, optional
        Labels of X and of Y (1-D, same length).
    contingency : array_like, optional
        2-D table of counts (rows: X, columns: Y), instead of ``x`` and ``y``.
    base : float, optional
        Logarithm base; default natural log.

    Returns
    -------
    float
        0.0 for no samples; NaN for a table summing to 0 or holding NaN.

    Raises
    ------
    ValueError, TypeError
        As for :func:`joint_entropy`.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.conditional_entropy([0, 1, 2, 3], [0, 0, 1, 1], base=2)
    1.0
    >>> fe.conditional_entropy([0, 0, 1, 1], [0, 1, 2, 3])
    0.0
    """
    return _measure("conditional_entropy", x, y, contingency, base)


def mutual_information(
    x: Optional[ArrayLike] = None,
    y: Optional[ArrayLike] = None,
    *,
    contingency: Optional[ArrayLike] = None,
    base: Optional[float] = None,
) -> float:
    """Mutual information ``I(X; Y) = sum(N/n * log(n N / (a b)))``, ``a``, ``b`` the row
    and column sums; ``= H(X) + H(Y) - H(X, Y)``.
    {two}
    Equals ``sklearn.metrics.mutual_info_score(x, y)`` (natural log) up to rounding
    (sklearn also zeroes terms below machine epsilon). Computed in the direct form, so
    nearly independent variables do not lose precision to cancellation.

    Parameters
    ----------
    x, y : array_like of int, optional
        Labels of the two variables (1-D, same length).
    contingency : array_like, optional
        2-D table of counts, instead of ``x`` and ``y``.
    base : float, optional
        Logarithm base; default natural log.

    Returns
    -------
    float
        ``>= 0``; 0.0 for no samples; NaN for a table summing to 0 or holding NaN.

    Raises
    ------
    ValueError, TypeError
        As for :func:`joint_entropy`.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.mutual_information([0, 0, 1, 1], [5, 5, 9, 9], base=2)
    1.0
    >>> fe.mutual_information(contingency=[[1, 1], [1, 1]])
    0.0
    """
    return _measure("mutual_information", x, y, contingency, base)


def normalized_mutual_information(
    x: Optional[ArrayLike] = None,
    y: Optional[ArrayLike] = None,
    *,
    contingency: Optional[ArrayLike] = None,
    average_method: str = "arithmetic",
) -> float:
    """Normalised mutual information ``I(X; Y) / avg(H(X), H(Y))``, in [0, 1].
    {two}
    Equals ``sklearn.metrics.normalized_mutual_info_score(x, y, average_method=...)`` up
    to rounding, including its special cases: 1.0 when both variables have a single class
    (or there are no samples), 0.0 when the mutual information is 0. Unitless, so there
    is no ``base``.

    Parameters
    ----------
    x, y : array_like of int, optional
        Labels of the two variables (1-D, same length).
    contingency : array_like, optional
        2-D table of counts, instead of ``x`` and ``y``.
    average_method : {{'arithmetic', 'geometric', 'min', 'max'}}, default 'arithmetic'
        How the two entropies are averaged (sklearn's names and default).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        As for :func:`joint_entropy`, or an unknown ``average_method``.
    TypeError
        As for :func:`joint_entropy`, or ``average_method`` is not a string.

    Examples
    --------
    >>> import fastentropy as fe
    >>> fe.normalized_mutual_information([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> round(fe.normalized_mutual_information([0, 0, 1, 1], [0, 0, 0, 1], average_method="min"), 12)
    0.383688546596
    """
    if not isinstance(average_method, str):
        raise TypeError(f"`average_method` must be a string, got {average_method!r}")
    if average_method not in _AVERAGE_METHODS:
        raise ValueError(
            f"`average_method` must be one of 'min', 'geometric', 'arithmetic' or 'max', got {average_method!r}"
        )
    return _measure("normalized_mutual_information", x, y, contingency, None, average_method)


for _f in (joint_entropy, conditional_entropy, mutual_information, normalized_mutual_information):
    if _f.__doc__:
        _f.__doc__ = _f.__doc__.replace("{two}", _TWO_VARIABLES).replace("{{", "{").replace("}}", "}")
del _f
