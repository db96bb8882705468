"""Drift between a reference and a current distribution: the population stability index.

Argument checking only, as in :mod:`fastentropy._api`; the numerics are in Rust
(src/measures/smoothing.rs).
"""

from __future__ import annotations

from typing import Optional

from numpy.typing import ArrayLike

from . import _core
from ._api import _NO_SMOOTHING, Axis, Result, _check_base, _check_smoothing, _core_pair, _ragged_pair

__all__ = ["population_stability_index"]


def population_stability_index(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: Axis = -1,
    smoothing: float = _NO_SMOOTHING,
    base: Optional[float] = None,
    offsets: Optional[ArrayLike] = None,
) -> Result:
    """Population stability index ``PSI = sum((P - Q) * log(P / Q))`` along ``axis``.

    ``P`` and ``Q`` are ``p`` and ``q`` (histogram counts or probabilities, e.g. the
    reference and the current population binned on the same edges) normalised to sum 1.
    PSI equals ``KL(P||Q) + KL(Q||P)`` (the symmetrised KL divergence, Jeffreys'
    divergence) and is computed as exactly that sum of two exact divergences, so it is
    symmetric bit for bit and exactly 0 for equal distributions. A common reading: below
    0.1 no significant shift, 0.1–0.25 moderate, above 0.25 significant.

    Parameters
    ----------
    p, q : array_like
        Non-negative counts or probabilities (reference and current); they broadcast
        against each other. An element masked in either is left out of both. Ragged
        rows as for :func:`kl_divergence`: 1-D values with ``offsets``, two
        ``scipy.sparse`` matrices, or two Arrow / Polars list columns (one histogram per
        row, read in place).
    axis : int or None, default -1
        The axis holding one histogram; ``None`` for the whole array.
    smoothing : float, default 0.0
        A pseudocount added to every bin of ``p`` and of ``q`` before normalising
        (Laplace / Lidstone). Without it, a bin that is empty on one side only gives
        ``inf`` (``(P - Q)·log(P/Q)`` is infinite there); ``smoothing=0.5`` or ``1`` is the
        usual fix for sparse histograms. Bins empty on both sides contribute 0.
    base : float, optional
        Logarithm base; default natural log (the convention of the PSI thresholds).
    offsets : array_like of int, optional
        Row boundaries shared by 1-D ``p`` and ``q`` (see :func:`entropy`).

    Returns
    -------
    float or ndarray of float64
        One value per pair of histograms (``axis`` removed); ``inf`` where one side has
        an empty bin the other has not (and ``smoothing`` is 0); NaN where a histogram
        sums to 0 or holds NaN.

    Raises
    ------
    ValueError
        If shapes do not broadcast, a value is negative, ``base`` is invalid, or
        ``smoothing`` is negative, NaN or infinite.
    TypeError
        If an input is not real-valued.

    Examples
    --------
    >>> import fastentropy as fe
    >>> round(fe.population_stability_index([50, 30, 20], [40, 35, 25]), 12)
    0.041179066688
    >>> fe.population_stability_index([5, 5, 0], [4, 4, 2])
    inf
    >>> round(fe.population_stability_index([5, 5, 0], [4, 4, 2], smoothing=0.5), 12)
    0.314801497025
    """
    if offsets is None:
        # the small-call fast path (see `entropy`): native float arrays of one shape (or
        # integer counts, flat lists), an int axis, a plain base and smoothing are taken
        # as they are; None for anything else — ragged and Arrow inputs included
        value = _core.population_stability_index_fast(p, q, axis, base, smoothing)
        if value is not None:
            return value
    ragged = _ragged_pair("population_stability_index", p, q, axis, base, True, False, smoothing, offsets)
    if ragged is not None:
        return ragged
    s = _check_smoothing(smoothing, True, False)
    pa, qa, ax = _core_pair(p, q, axis)
    return _core.smoothed_measure(pa, qa, ax, _check_base(base), "psi", s)
