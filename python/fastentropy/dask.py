"""The measures on dask arrays, computed on the workers by the local functions.

A distribution whole in one chunk (chunking along rows) is reduced on a worker by the local
function itself: bitwise the local result. A distribution split into pieces along the
class axis is combined by the chain rule of its measure: for entropy
H(P) = Σ_j P(j)·H(P_j) + H(P(1), …, P(k)), where P(j) is the share of piece j in the total
and P_j the piece normalised — the same for KL and cross-entropy with the shares of both
distributions. Every term is non-negative and each is a local (exact) computation, so
splitting costs no digits, even with a dominant mass or totals beyond the float range
(issue #14); the totals travel as (mantissa, power of two) so they never overflow.
Perplexity is e^H of that entropy (in nats). Jensen–Shannon divergence and distance (the
mixture needs both totals before any term) and the ``from_logits`` / ``smoothing``
variants compute each distribution whole on a worker: the class axis is rechunked to one
chunk, the rows keep theirs — bitwise the local result.

Every function returns a lazy :class:`dask.array.Array` with the shape of the local
result (a 0-d array where the local function returns a float); call ``.compute()``.
Requires the ``dask`` extra: ``pip install 'fastentropy[dask]'``.

Examples
--------
>>> import numpy as np, dask.array as da
>>> import fastentropy as fe, fastentropy.dask as fed
>>> p = da.from_array(np.array([[1.0, 1.0, 2.0, 4.0], [1.0, 0.0, 0.0, 3.0]]), chunks=(1, 2))
>>> h = fed.entropy(p, base=2).compute()
>>> bool(np.allclose(h, fe.entropy(p.compute(), base=2), rtol=1e-12, atol=0))
True
"""

from __future__ import annotations

import string
from typing import Any, Callable, Optional, Sequence, Tuple, cast

import numpy as np
from numpy.typing import NDArray

try:
    import dask.array
    from dask.array import Array
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "fastentropy.dask needs dask: pip install 'fastentropy[dask]' "
        "(or pip install 'dask[distributed]')"
    ) from exc

from . import _api, _core, _loss_arguments, _more
from ._loss_arguments import NEG_INF
from ._targets import check_range, decode_labels

# dask.array's functions carry no annotations: typed as Any here, results cast to Array.
da: Any = dask.array

__all__ = [
    "entropy", "kl_divergence", "cross_entropy", "perplexity", "js_divergence", "js_distance",
    "softmax_cross_entropy", "ensemble_uncertainty", "expected_calibration_error",
]

Axis = Optional[int]

def _is_masked(x: Any) -> bool:
    """Whether ``x`` is a NumPy masked array or a Dask array of masked chunks."""
    if isinstance(x, da.Array):
        return isinstance(x._meta, np.ma.MaskedArray)
    return isinstance(x, np.ma.MaskedArray)


def _as_float_dask(x: Any, name: str, fill: Optional[float] = None, hint: Optional[str] = None) -> Any:
    """``x`` as a dask array of native-endian float32/float64: the rules of the local
    ``_as_float_array``, masks included (masked elements become ``fill``, or the same
    TypeError when there is no fill)."""
    if not isinstance(x, da.Array):
        return da.asarray(_api._as_float_array(x, name, fill, hint))
    if _is_masked(x):
        if fill is None:
            _api._unmask(x._meta, name, None, hint)  # raises the local TypeError
        else:
            if x.dtype.kind not in "fc" and not np.isfinite(fill):
                x = x.astype(np.float64)
            x = da.ma.filled(x, fill)
    return _api._native_float(x, name)


def _move_axis_last(arrays: Sequence[Any], axis: Axis, name: str) -> Tuple[Any, ...]:
    """The dask arrays with ``axis`` last (checked as the local functions check it)."""
    checked, ax = _api._lane_axis(arrays, axis, name)
    return checked if axis is None else tuple(da.moveaxis(a, ax, -1) for a in checked)


def _scaled_totals(block: NDArray[Any]) -> Tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each row's total as ``(s, e)`` with total = s·2^e and s ≤ the row length: the sum
    of the row scaled by a power of two of its largest value, so no total overflows (or
    loses its digits as a subnormal) however extreme the values."""
    x = block.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        top = np.max(x, axis=-1, initial=0.0) if x.shape[-1] else np.zeros(x.shape[:-1])
        ok = np.isfinite(top) & (top > 0)
        e = np.where(ok, np.frexp(np.where(ok, top, 1.0))[1], 0).astype(np.float64)
        s = np.sum(np.ldexp(x, -e[..., None].astype(np.int64)), axis=-1)
    return s, e


def _weights(s: NDArray[np.float64], e: NDArray[np.float64]) -> NDArray[np.float64]:
    """The pieces' totals ``s·2^e`` (pieces on the last axis) on one common power-of-two
    scale: the largest finite exponent is 0 (a piece too small to show there becomes 0, it
    weighs < 2^-1000 of the whole)."""
    with np.errstate(all="ignore"):
        top = np.max(e, axis=-1, keepdims=True)
        shifted: NDArray[np.float64] = np.ldexp(s, np.maximum(e - top, -2000).astype(np.int64))
    return shifted


def _measure(
    local: Callable[..., Any],
    arrays: Sequence[Any],
    base: Optional[float],
    normalize: bool,
) -> Array:
    """``local`` along the last axis of dask arrays, exactly.

    Distributions whole in one chunk (row chunking) are the local function on each chunk,
    so bitwise the local result. A distribution split into pieces along the class axis is
    combined by the chain rule of its measure — entropy: H(P) = Σ_j P(j)·H(P_j) + H(P(·))
    with P(j) the piece's share of the total and P_j the piece normalised; KL and
    cross-entropy likewise with both shares — a sum of non-negative terms, each the local
    (exact) function of a piece or of the shares, so splitting loses no digits even where
    one mass dominates or the totals overflow. Without normalisation every measure is a
    plain sum over elements: the pieces' local values add.
    """
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("`p` must have at least one dimension")
    pieces = len(first.chunks[-1])
    last = first.ndim - 1

    ind = string.ascii_letters[: first.ndim]
    args: list[Any] = []
    for a in arrays:
        args.extend((a, ind))

    if pieces <= 1:
        def whole(*blocks: NDArray[Any]) -> NDArray[np.float64]:
            return np.asarray(local(*blocks, axis=-1, base=base, normalize=normalize), dtype=np.float64)

        return cast(Array, da.blockwise(
            whole, ind[:-1], *args, concatenate=True, dtype=np.float64,
            meta=np.empty((0,) * last, dtype=np.float64),
        ))

    sides = len(arrays)
    width = 1 + 2 * sides  # the piece's value, then (s, e) of each side's total

    def piece(*blocks: NDArray[Any]) -> NDArray[np.float64]:
        # Runs on a worker: one piece of every distribution in this chunk.
        out = np.empty(blocks[0].shape[:-1] + (1, width))
        if normalize:
            with np.errstate(all="ignore"):
                out[..., 0, 0] = local(*blocks, axis=-1, base=base)
            for i, b in enumerate(blocks):
                out[..., 0, 1 + 2 * i], out[..., 0, 2 + 2 * i] = _scaled_totals(b)
        else:
            out[..., 0, 0] = local(*blocks, axis=-1, base=base, normalize=False)
            out[..., 0, 1:] = 0.0
        return out

    parts = da.blockwise(
        piece, ind + "Z", *args,
        new_axes={"Z": width}, adjust_chunks={ind[-1]: 1}, dtype=np.float64,
        meta=np.empty((0,) * (first.ndim + 1), dtype=np.float64),
    ).rechunk({last: -1, last + 1: -1})

    def combine(block: NDArray[np.float64]) -> NDArray[np.float64]:
        values = block[..., 0]
        if not normalize:
            return cast(NDArray[np.float64], values.sum(axis=-1))
        shares = [_weights(block[..., 1 + 2 * i], block[..., 2 + 2 * i]) for i in range(sides)]
        with np.errstate(all="ignore"):
            weight = shares[0] / shares[0].sum(axis=-1, keepdims=True)
            within = np.where(weight == 0, 0.0, weight * values).sum(axis=-1)
        between = np.asarray(local(*shares, axis=-1, base=base), dtype=np.float64)
        # +inf between the shares (q = 0 under p > 0) stands, whatever the pieces say
        return cast(NDArray[np.float64], np.where(between == np.inf, np.inf, between + within))

    return cast(Array, parts.map_blocks(
        combine, drop_axis=[last, last + 1], dtype=np.float64,
        meta=np.empty((0,) * last, dtype=np.float64),
    ))


def _mask_of(x: Any) -> Any:
    return da.ma.getmaskarray(x) if isinstance(x, da.Array) else np.ma.getmaskarray(x)


def _data_of(x: Any) -> Any:
    return da.ma.getdata(x) if isinstance(x, da.Array) else np.ma.getdata(x)


def _pair(p: Any, q: Any, axis: Axis, fill: float = 0.0) -> Tuple[Any, Any]:
    # As the local functions (and scipy.stats.entropy): an element masked in p or q is left
    # out of both (`fill` in both: 0, or -inf for logits).
    masks = (_mask_of(p), _mask_of(q)) if _is_masked(p) or _is_masked(q) else None
    if masks is not None:
        p, q = _data_of(p), _data_of(q)
    pa, qa = _as_float_dask(p, "p"), _as_float_dask(q, "q")
    if pa.shape != qa.shape:
        try:
            pa, qa = da.broadcast_arrays(pa, qa)
        except ValueError:
            raise ValueError(
                f"`p` and `q` must have broadcastable shapes, got {pa.shape} and {qa.shape}"
            ) from None
    if masks is not None:
        either = masks[0] | masks[1]
        pa, qa = da.where(either, fill, pa), da.where(either, fill, qa)
    pa, qa = _move_axis_last([pa, qa], axis, "p")
    return pa, qa


def _rows(arrays: Sequence[Any], block_fn: Callable[..., Any]) -> Array:
    """``block_fn`` (a local function of equally shaped row blocks, distribution axis
    last) on row chunks: the distribution axis is rechunked to one chunk (a no-op when it
    is), the other axes keep their chunks, and each block is computed by the Rust core on
    a worker — bitwise the local result."""
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("`p` must have at least one dimension")
    last = first.ndim - 1
    lead = first.rechunk({last: -1})
    arrs = [lead] + [a.rechunk(lead.chunks) for a in arrays[1:]]

    def block(*blocks: NDArray[Any]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = np.asarray(block_fn(*blocks), dtype=np.float64).reshape(blocks[0].shape[:-1])
        return out

    return cast(Array, da.map_blocks(
        block, *arrs, drop_axis=last, dtype=np.float64, meta=np.empty((0,) * last, dtype=np.float64),
    ))


def _pair_rows(
    measure: str, p: Any, q: Any, axis: Axis, base: Optional[float], normalize: bool, from_logits: bool,
    smoothing: float,
) -> Optional[Array]:
    """The ``from_logits`` / ``smoothing`` variants of a two-distribution measure on row
    chunks, or None when neither option is set (the partials path)."""
    logits, s, _ = _api._options(from_logits, smoothing, normalize)
    if not (logits or s):
        return None
    pa, qa = _pair(p, q, axis, -np.inf if logits else 0.0)
    b = _api._check_base(base)
    if logits:
        return _rows([pa, qa], lambda x, y: _core.logits_pair_measure(x, y, -1, b, measure))
    return _rows([pa, qa], lambda x, y: _core.smoothed_measure(x, y, -1, b, measure, s))


def entropy(
    p: Any,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = 0.0,
) -> Array:
    """Shannon entropy of each distribution along ``axis`` of a dask array.

    The same parameters and results as :func:`fastentropy.entropy`, lazily: ``p`` may be
    chunked along any axis, the class axis included. With ``from_logits`` or
    ``smoothing`` each distribution is computed whole on a worker: the class axis is
    rechunked to one chunk and the rows keep their chunks (bitwise the local result).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.full((4, 6), 0.5), chunks=(2, 3))
    >>> fed.entropy(p, base=2).compute()
    array([2.5849625, 2.5849625, 2.5849625, 2.5849625])
    """
    logits, s, _ = _api._options(from_logits, smoothing, normalize)
    if logits or s:
        arr = _as_float_dask(p, "p", -np.inf if logits else 0.0)
        (arr,) = _move_axis_last([arr], axis, "p")
        b = _api._check_base(base)
        if logits:
            return _rows([arr], lambda x: _core.logits_measure(x, -1, b, "entropy"))
        return _rows([arr], lambda x: _core.smoothed_measure(x, x, -1, b, "entropy", s))
    arr = _as_float_dask(p, "p", 0.0)
    (arr,) = _move_axis_last([arr], axis, "p")
    return _measure(_api.entropy, [arr], _api._check_base(base), _api._check_flag(normalize, "normalize"))


def kl_divergence(
    p: Any,
    q: Any,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = 0.0,
) -> Array:
    """KL divergence ``D(P||Q)`` along ``axis`` of dask arrays (see :func:`fastentropy.kl_divergence`).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.array([[0.5, 0.5], [0.9, 0.1]]), chunks=1)
    >>> fed.kl_divergence(p, [0.9, 0.1]).compute().round(12)
    array([0.51082562, 0.        ])
    """
    rows = _pair_rows("kl_divergence", p, q, axis, base, normalize, from_logits, smoothing)
    if rows is not None:
        return rows
    pa, qa = _pair(p, q, axis)
    return _measure(_api.kl_divergence, [pa, qa], _api._check_base(base), _api._check_flag(normalize, "normalize"))


def cross_entropy(
    p: Any,
    q: Any,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = 0.0,
) -> Array:
    """Cross-entropy ``H(P, Q)`` along ``axis`` of dask arrays (see :func:`fastentropy.cross_entropy`).

    Examples
    --------
    >>> import dask.array as da, fastentropy.dask as fed
    >>> float(fed.cross_entropy(da.from_array([0.0, 0.0, 1.0], chunks=2), [0.3, 0.3, 0.4]).compute())
    0.916290731874155
    """
    rows = _pair_rows("cross_entropy", p, q, axis, base, normalize, from_logits, smoothing)
    if rows is not None:
        return rows
    pa, qa = _pair(p, q, axis)
    return _measure(_api.cross_entropy, [pa, qa], _api._check_base(base), _api._check_flag(normalize, "normalize"))


def perplexity(
    p: Any,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
) -> Array:
    """Perplexity ``exp(H(P))`` of each distribution along ``axis`` of a dask array.

    The same parameters and results as :func:`fastentropy.perplexity` (no ``smoothing``;
    ``base`` is validated but does not change the value). ``p`` may be chunked along any
    axis. Distributions whole in one chunk are the local function on each block: bitwise
    the local result. A class axis split into pieces gives ``exp`` of the entropy in nats
    combined by the chain rule (see :func:`entropy`): within 1e-13 relative of the local
    value for float64 (float32 pieces within the float32 contract, 1e-6, as for
    :func:`entropy`). With ``from_logits`` each distribution needs its row's
    log-normaliser, so the class axis is rechunked to one chunk (the rows keep their
    chunks): bitwise the local result.

    Parameters
    ----------
    p : dask.array.Array or array_like
        Probabilities or counts (non-negative), or logits with ``from_logits``; masked
        chunks are honoured as locally.
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Accepted for symmetry with :func:`entropy`; validated, does not change the result.
    normalize : bool, default True
        Divide each distribution by its sum first. Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` holds logits: ``exp`` of the entropy of ``softmax(p, axis)``.

    Returns
    -------
    dask.array.Array
        Lazy float64, the shape of the local result (0-d for a single distribution).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.array([[1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.0, 0.0]]), chunks=(1, 4))
    >>> fed.perplexity(p, base=2).compute()
    array([4., 2.])
    """
    if from_logits is not False and _api._check_flag(from_logits, "from_logits"):
        # as the local function: `normalize` is ignored (not checked) with logits
        arr = _as_float_dask(p, "p", -np.inf)
        (arr,) = _move_axis_last([arr], axis, "p")
        b = _api._check_base(base)
        return _rows([arr], lambda x: _core.logits_measure(x, -1, b, "perplexity"))
    arr = _as_float_dask(p, "p", 0.0)
    (arr,) = _move_axis_last([arr], axis, "p")
    b = _api._check_base(base)
    norm = _api._check_flag(normalize, "normalize")
    if len(arr.chunks[-1]) <= 1:
        return _measure(_more.perplexity, [arr], b, norm)

    def exp(h: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(over="ignore"):  # e^H beyond the float range is inf, as locally
            out: NDArray[np.float64] = np.exp(h)
        return out

    nats = _measure(_api.entropy, [arr], None, norm)
    return cast(Array, da.map_blocks(exp, nats, dtype=np.float64, meta=np.empty((0,) * nats.ndim, dtype=np.float64)))


def _js(
    measure: str, p: Any, q: Any, axis: Axis, base: Optional[float], normalize: bool, from_logits: bool,
    smoothing: float,
) -> Array:
    """``measure`` ("js_divergence" or "js_distance") on row chunks: the mixture M needs the
    totals of both distributions before any term, so every distribution is computed whole
    on a worker by the local Rust function (the class axis rechunked to one chunk)."""
    rows = _pair_rows(measure, p, q, axis, base, normalize, from_logits, smoothing)
    if rows is not None:
        return rows
    pa, qa = _pair(p, q, axis)
    b = _api._check_base(base)
    norm = _api._check_flag(normalize, "normalize")
    core: Callable[..., Any] = getattr(_core, measure)
    return _rows([pa, qa], lambda x, y: core(x, y, -1, b, norm))


def js_divergence(
    p: Any,
    q: Any,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = 0.0,
) -> Array:
    """Jensen–Shannon divergence along ``axis`` of dask arrays (see :func:`fastentropy.js_divergence`).

    The same parameters and results as the local function. The mixture
    ``M = (P + Q) / 2`` of normalised distributions needs the totals of ``p`` and ``q``
    before any of its terms (and ``from_logits`` the rows' log-normalisers), so each pair
    of distributions is computed whole on a worker: the class axis is rechunked to one
    chunk (a no-op when it is), the rows keep their chunks, and every block is the local
    Rust function — bitwise the local result for every chunking. ``p`` and ``q``
    broadcast; an element masked in either is left out of both, as locally.

    Parameters
    ----------
    p, q : dask.array.Array or array_like
        Non-negative probabilities or counts (logits with ``from_logits``).
    axis : int or None, default -1
        The axis holding one distribution; ``None`` for the whole array.
    base : float, optional
        Logarithm base; default natural log.
    normalize : bool, default True
        Divide ``p`` and ``q`` by their sums first. Ignored with ``from_logits``.
    from_logits : bool, default False
        ``p`` and ``q`` hold logits: the divergence of their softmaxes.
    smoothing : float, default 0.0
        A pseudocount added to every element of ``p`` and ``q`` before normalising.

    Returns
    -------
    dask.array.Array
        Lazy float64, the shape of the local result (0-d for a single pair).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.array([[1.0, 0.0], [0.5, 0.5]]), chunks=(1, 1))
    >>> fed.js_divergence(p, [0.0, 1.0], base=2).compute()
    array([1.        , 0.31127812])
    """
    return _js("js_divergence", p, q, axis, base, normalize, from_logits, smoothing)


def js_distance(
    p: Any,
    q: Any,
    *,
    axis: Axis = -1,
    base: Optional[float] = None,
    normalize: bool = True,
    from_logits: bool = False,
    smoothing: float = 0.0,
) -> Array:
    """Jensen–Shannon distance, the square root of :func:`js_divergence`, along ``axis`` of
    dask arrays (see :func:`fastentropy.js_distance`).

    The same parameters, chunking and exactness as :func:`js_divergence` (each pair of
    distributions whole on a worker: bitwise the local result).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), chunks=(1, 2))
    >>> fed.js_distance(p, [0.0, 1.0, 0.0], base=2).compute()
    array([1., 0.])
    """
    return _js("js_distance", p, q, axis, base, normalize, from_logits, smoothing)


# ---------------------------------------------------------------------------------------
# softmax cross-entropy
#
# Arguments are checked by the local function's own code (`_loss_arguments._check_loss_args`, class
# labels decoded by `_targets.decode_labels`), so both raise the same exceptions with the
# same messages; a bad label is reported with its position in the whole `target`.
#
# When the class axis is one chunk, the workers call the local Rust
# `softmax_cross_entropy(reduction="none")` per row block: per-row losses are bitwise local.
# A split class axis is reduced to the state the Rust kernel keeps per SIMD lane
# (src/kernels/softmax.rs, `LseLanes`), one per row and class chunk:
#   m    the chunk's maximum (NaN never is; −inf when it has no other value),
#   s    Σ exp(z − m) over its values below m (−inf values add nothing; NaN gives NaN),
#   cnt  how many values equal m (−inf values are not counted),
#   a    Σ u·(m − z) over u ≠ 0, with +inf where z = −inf (NaN where z = m = +inf),
#   t    Σ u,
# with the effective target weights u = ((t or 1)·(1 − ε) + ε/C)·(w or 1) (probabilities)
# or u = w (class indices with label smoothing), and z_y (the logit at the label, 0 in
# the chunks that do not hold it). Chunks combine as the kernel combines its lanes
# (`LseLanes::finish`): to the larger maximum, the other's s + cnt rescaled by exp(m − M)
# and its a shifted by t·(M − m). The finish then applies the kernel's own formulas
# (`RowStats::neg_log_softmax_at`, `weighted_loss`), so special values (±inf logits, an
# all −inf row, NaN, zero targets on −inf) give what the local call gives — not only
# finite rows. Results differ from the local ones only by the rounding of the extra
# additions.
# TODO(loss family): compute the chunk state in Rust once the kernel exposes `LseLanes`;
# it is NumPy here because that kernel lives on another branch.
# ---------------------------------------------------------------------------------------

_M, _S, _CNT, _A, _T, _ZY = range(6)
_STATE = 6


def _lse_block(
    z: NDArray[Any], cols: NDArray[Any], target: NDArray[Any], weight: Optional[NDArray[np.float64]],
    *, index_target: bool, n_classes: int, eps: float,
) -> NDArray[np.float64]:
    """The kernel's lane state (see above) of every row piece in this chunk."""
    z = np.asarray(z, dtype=np.float64)
    w = None if weight is None else weight[cols]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if index_target:
            u = np.broadcast_to(np.ones(len(cols)) if w is None else w, z.shape)
        else:
            u = np.asarray(target, dtype=np.float64) * (1.0 - eps) + eps / n_classes
            if w is not None:
                u = u * w
        m = np.fmax.reduce(z, axis=-1, initial=-np.inf)
        mm = m[..., None]
        absent = z == -np.inf
        at_max = z == mm
        s = np.where(at_max | absent, 0.0, np.exp(z - mm)).sum(axis=-1)
        cnt = (at_max & ~absent).sum(axis=-1).astype(np.float64)
        gap = np.where(absent, np.inf, mm - z)
        a = np.where(u == 0, 0.0, u * gap).sum(axis=-1)
        t = u.sum(axis=-1)
        zy = np.zeros(z.shape[:-1])
        if index_target:
            y = np.asarray(target)
            inside = (y >= cols[0]) & (y <= cols[-1])
            local = np.where(inside, y, cols[0]) - cols[0]  # no arithmetic on the stand-ins
            zy = np.where(inside, np.take_along_axis(z, local[..., None], axis=-1)[..., 0], 0.0)
    out = np.stack([m, s, cnt, a, t, zy], axis=-1)
    return out[..., None, :]


def _lse_combine(x: NDArray[np.float64], axis: Any = None, keepdims: bool = False, **_: Any) -> NDArray[np.float64]:
    """Combines chunk states along ``axis`` exactly as `LseLanes::finish` combines lanes."""
    m, s, cnt, a, t, zy = (x[..., i] for i in range(_STATE))
    with np.errstate(invalid="ignore", over="ignore"):
        big = m.max(axis=axis, keepdims=True)
        top = m == big
        factor = np.exp(np.where(top, 0.0, m - big))
        new_s = np.where(top, s, (s + cnt) * factor).sum(axis=axis, keepdims=keepdims)
        new_cnt = np.where(top, cnt, 0.0).sum(axis=axis, keepdims=keepdims)
        shifted = np.where(t == 0, a, a + t * (big - m))
        new_a = np.where(top, a, shifted).sum(axis=axis, keepdims=keepdims)
        new_t = t.sum(axis=axis, keepdims=keepdims)
        new_zy = zy.sum(axis=axis, keepdims=keepdims)
    new_m = big if keepdims else np.squeeze(big, axis=axis)
    return np.stack([new_m, new_s, new_cnt, new_a, new_t, new_zy], axis=-1)


def _lse_finish(
    state: NDArray[np.float64], y: Optional[NDArray[np.int64]], weight: Optional[NDArray[np.float64]],
    *, ignore_index: int, n_classes: int, eps: float,
) -> NDArray[np.float64]:
    """Per-row losses from combined states: the kernel's `neg_log_softmax_at` and
    `weighted_loss`, and `label_row`'s formula for class indices."""
    m, s, cnt, a, t, zy = (state[..., i] for i in range(_STATE))
    with np.errstate(invalid="ignore", over="ignore"):
        rest = np.where(cnt > 0, s + (cnt - 1.0), s)
        log1p_rest = np.log1p(rest)
        weighted = np.where(np.isneginf(m), np.nan, np.where(t == 0, a, a + t * log1p_rest))
        if y is None:
            loss: NDArray[np.float64] = weighted
            return loss
        keep = y != ignore_index
        w_y = np.ones(y.shape) if weight is None else weight[np.where(keep, y, 0)]
        nls = (m - zy) + log1p_rest
        if eps == 0.0:
            loss = w_y * nls
        else:
            loss = (1.0 - eps) * w_y * nls + (eps / n_classes) * weighted
        return np.where(keep, loss, 0.0)


def _decode_block(
    y: NDArray[Any], block_info: Any = None, *, n_classes: int, ignore_index: int, core_ignore: int
) -> NDArray[np.int64]:
    """A chunk of class labels decoded (true values) and range-checked as the local call
    does, positions counted in the whole target."""
    offset: Tuple[int, ...] = ()
    if block_info is not None and block_info.get(0) is not None:
        offset = tuple(int(lo) for lo, _ in block_info[0]["array-location"])
    labels, _ = decode_labels(np.asarray(y), n_classes, ignore_index, offset)
    check_range(labels, n_classes, core_ignore, offset)
    return labels


def _target_dask(target: Any) -> Any:
    """``target`` as a dask array, a mask handled as the local call handles it."""
    if not isinstance(target, da.Array):
        return da.asarray(_loss_arguments._target_array(target))
    if _is_masked(target):
        if target.dtype.kind != "f":
            _api._unmask(target._meta, "target", None, _loss_arguments._MASKED_LABELS)
        target = da.ma.filled(target, 0.0)
    return target


def softmax_cross_entropy(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Array:
    """Softmax cross-entropy loss of dask arrays of logits (see ``fastentropy.softmax_cross_entropy``).

    ``target`` holds integer class indices (the shape of ``logits`` without ``axis``) or
    class probabilities (the shape of ``logits``); ``weight``, ``ignore_index``,
    ``reduction`` and ``label_smoothing`` follow ``torch.nn.functional.cross_entropy``.
    ``logits`` may be chunked along any axis; returns a 0-d dask array for ``"mean"`` and
    ``"sum"``, one loss per distribution for ``"none"``. Arguments are checked by the
    local function's code: the same exceptions and messages (a bad label when its chunk is
    computed, with its position in the whole ``target``).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> z = da.from_array(np.log([[0.3, 0.3, 0.4]]), chunks=(1, 2))
    >>> round(float(fed.softmax_cross_entropy(z, [2]).compute()), 12)
    0.916290731874
    """
    z = _as_float_dask(logits, "logits", NEG_INF)
    t = _target_dask(target)
    args = _loss_arguments._check_loss_args(
        z, t, name="logits", axis=axis, weight=weight, ignore_index=ignore_index,
        reduction=reduction, label_smoothing=label_smoothing,
    )
    n_classes, eps, w = args.classes, args.label_smoothing, args.weight
    z = da.moveaxis(z, args.axis, -1)
    index_target = args.labels
    if index_target:
        core_ignore = decode_labels(np.empty(0, dtype=t.dtype), n_classes, args.ignore_index)[1]
        t = t.map_blocks(
            _decode_block, dtype=np.int64, n_classes=n_classes, ignore_index=args.ignore_index,
            core_ignore=core_ignore,
        )
    else:
        core_ignore = args.ignore_index
        t = da.moveaxis(_api._native_float(t, "target"), args.axis, -1)

    batch_ndim = z.ndim - 1
    ind = string.ascii_letters[: z.ndim]
    batch_ind, cls = ind[:-1], ind[-1]
    t_ind = batch_ind if index_target else ind
    import fastentropy

    if len(z.chunks[-1]) == 1:
        local = fastentropy.softmax_cross_entropy

        def block_losses(zb: NDArray[Any], tb: NDArray[Any]) -> NDArray[np.float64]:
            return np.asarray(
                local(zb, tb, axis=-1, weight=w, ignore_index=core_ignore, reduction="none",
                      label_smoothing=eps),
                dtype=np.float64,
            )

        losses = da.blockwise(
            block_losses, batch_ind, z, ind, t, t_ind, concatenate=True, dtype=np.float64,
            meta=np.empty((0,) * batch_ndim, dtype=np.float64),
        )
    else:
        cols = da.arange(n_classes, chunks=(z.chunks[-1],))
        parts = da.blockwise(
            _lse_block, ind + "Z", z, ind, cols, cls, t, t_ind,
            new_axes={"Z": _STATE}, adjust_chunks={cls: 1}, dtype=np.float64,
            meta=np.empty((0,) * (z.ndim + 1), dtype=np.float64),
            weight=w, index_target=index_target, n_classes=n_classes, eps=eps,
        )
        combined = da.reduction(
            parts, chunk=_lse_combine, combine=_lse_combine, aggregate=_lse_combine, axis=batch_ndim,
            keepdims=False, dtype=np.float64, concatenate=True,
            meta=np.empty((0,) * (batch_ndim + 1), dtype=np.float64),
        )
        finish_args: list[Any] = [combined, batch_ind + "Z"]
        if index_target:
            finish_args += [t, batch_ind]

        def finish(state: NDArray[np.float64], y: Optional[NDArray[np.int64]] = None) -> NDArray[np.float64]:
            return _lse_finish(state, y, w, ignore_index=core_ignore, n_classes=n_classes, eps=eps)

        losses = da.blockwise(
            finish, batch_ind, *finish_args, concatenate=True, dtype=np.float64,
            meta=np.empty((0,) * batch_ndim, dtype=np.float64),
        )
    if args.reduction == "none":
        return cast(Array, losses)
    total = losses.sum()
    if args.reduction == "sum":
        return cast(Array, total)
    if index_target:
        def target_weights(y: NDArray[Any]) -> NDArray[np.float64]:
            keep = y != core_ignore
            if w is None:
                counts: NDArray[np.float64] = keep.astype(np.float64)
                return counts
            weights: NDArray[np.float64] = np.where(keep, w[np.where(keep, y, 0)], 0.0)
            return weights

        denominator = t.map_blocks(target_weights, dtype=np.float64).sum()
    else:
        denominator = float(np.prod(z.shape[:-1]))
    return cast(Array, total / denominator)


def ensemble_uncertainty(
    p: Any,
    *,
    sample_axis: int = 0,
    axis: int = -1,
    from_logits: bool = False,
    base: Optional[float] = None,
) -> Any:
    """:func:`fastentropy.ensemble_uncertainty` of a dask array: an ``EnsembleUncertainty``
    of three lazy arrays. Each prediction needs all its members and classes, so
    ``sample_axis`` and ``axis`` are rechunked to one chunk each (no-op when they already
    are); the other axes (the predictions) keep their chunks, and each block is computed by
    the Rust core on a worker — bitwise the local result.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import fastentropy as fe, fastentropy.dask as fed
    >>> p = np.random.default_rng(0).dirichlet(np.ones(4), size=(5, 100))
    >>> u = fed.ensemble_uncertainty(da.from_array(p, chunks=(5, 30, 4)))
    >>> bool(np.array_equal(u.epistemic.compute(), fe.ensemble_uncertainty(p).epistemic))
    True
    """
    from ._ensemble import EnsembleUncertainty, _axis

    arr = _as_float_dask(p, "p")
    ndim = arr.ndim
    if ndim < 2:
        raise ValueError(
            f"`p` must have a sample axis and a class axis (at least 2 dimensions), got {ndim}-D"
        )
    sa, ax = _axis(sample_axis, "sample_axis", ndim), _axis(axis, "axis", ndim)
    if sa == ax:
        raise ValueError(f"`sample_axis` and `axis` must be different axes, got {sample_axis} and {axis}")
    b = _api._check_base(base)
    logits = _api._check_flag(from_logits, "from_logits")
    arr = arr.rechunk({sa: -1, ax: -1})
    rows = [i for i in range(ndim) if i not in (sa, ax)]

    def block(x: NDArray[Any]) -> NDArray[np.float64]:
        u = _core.ensemble_uncertainty(x, sa, ax, b, logits)
        stacked: NDArray[np.float64] = np.stack([np.asarray(v, dtype=np.float64) for v in u])
        return stacked

    chunks = ((3,),) + tuple(arr.chunks[i] for i in rows)
    out = arr.map_blocks(
        block, drop_axis=[sa, ax], new_axis=0, chunks=chunks, dtype=np.float64,
        meta=np.empty((0,) * (len(rows) + 1), dtype=np.float64),
    )
    return EnsembleUncertainty(out[0], out[1], out[2])


def _ece_partials(
    probs: NDArray[Any], labels: NDArray[Any], n_bins: int, logits: bool, classes: int, start: Tuple[int, ...],
) -> Tuple[Any, ...]:
    """Per-bin partials of one row block (class axis last): the bins that hold rows, their
    row and correct counts, and each bin's confidence sum as an exact pair (hi, lo) —
    ``math.fsum`` of the bin's confidences and of the rest — so blocks combine without a
    rounding that depends on the chunking. Also the block's smallest and largest value
    (the probability checks) and whether a confidence is NaN."""
    import math

    x = np.asarray(probs).reshape(-1, classes)
    y = np.asarray(labels).reshape(-1).astype(np.int64, copy=False)
    if y.size:
        bad = (y < 0) | (y >= classes)
        if bad.any():
            i = int(np.argmax(bad))
            at = np.unravel_index(i, np.shape(labels)) if np.ndim(labels) else ()
            return ("label", int(y[i]), tuple(int(s + j) for s, j in zip(start, at)), classes)
    if x.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ("ok", empty, empty, empty, np.zeros(0), np.zeros(0), 0.0, 0.0, False)
    # the local function's own row kernel: the same confidences, bit for bit
    conf, pred, lowest, highest = _core.calibration_row_tops(x, logits)
    nan = bool(np.isnan(conf).any())
    keep = ~np.isnan(conf)
    conf, pred, y = np.clip(conf[keep], 0.0, 1.0), pred[keep], y[keep]
    # bin bounds i/n rounded to the input's float type, as the local function
    bounds = (np.arange(n_bins + 1, dtype=np.float64) / n_bins).astype(x.dtype).astype(np.float64)
    b = np.searchsorted(bounds[1:n_bins], conf, side="right")
    order = np.argsort(b, kind="stable")
    b, conf, correct = b[order], conf[order], (pred == y)[order]
    used, starts, counts = np.unique(b, return_index=True, return_counts=True)
    right = np.add.reduceat(correct.astype(np.int64), starts) if used.size else np.zeros(0, dtype=np.int64)
    hi = np.empty(used.size)
    lo = np.empty(used.size)
    for k, (s0, n) in enumerate(zip(starts, counts)):
        seg = conf[s0 : s0 + n].tolist()
        hi[k] = math.fsum(seg)
        lo[k] = math.fsum(seg + [-hi[k]])
    return ("ok", used, counts, right, hi, lo, lowest, highest, nan)


def _ece_finish(parts: Sequence[Tuple[Any, ...]], n_bins: int, norm: str, logits: bool, rows: int) -> float:
    """The calibration error from the blocks' partials (see :func:`_ece_partials`): each
    bin's gap k_b − Σconf_b rounded once from the exact pieces, then the local function's
    finish (bins in ascending order)."""
    import math

    for part in parts:
        if part[0] == "label":
            _, label, position, classes = part
            raise ValueError(f"`labels` has label {label} at position {position}, outside [0, {classes})")
    lowest = min((p[6] for p in parts), default=0.0)
    highest = max((p[7] for p in parts), default=0.0)
    if lowest < 0.0:
        raise ValueError(f"`probs` must be non-negative (probabilities or counts), got {lowest!r}")
    if not logits and highest > 1.0:
        raise ValueError(
            f"`probs` must hold probabilities in [0, 1], got {highest!r} (pass from_logits=True for logits)"
        )
    if rows == 0 or any(p[8] for p in parts):
        return float("nan")
    count: dict[int, int] = {}
    right: dict[int, int] = {}
    pieces: dict[int, list[float]] = {}
    for p in parts:
        for b, n, k, h, lo in zip(p[1].tolist(), p[2].tolist(), p[3].tolist(), p[4].tolist(), p[5].tolist()):
            count[b] = count.get(b, 0) + n
            right[b] = right.get(b, 0) + k
            pieces.setdefault(b, []).extend((-h, -lo))
    gaps = [(b, math.fsum([float(right[b])] + pieces[b])) for b in sorted(count)]
    n = float(rows)
    if norm == "l1":
        total = 0.0
        for _, g in gaps:
            total += abs(g)
        return total / n
    if norm == "l2":
        ms = 0.0
        for b, g in gaps:
            ms += g * g / (count[b] * n)
        return math.sqrt(ms)
    worst = 0.0
    for b, g in gaps:
        worst = max(worst, abs(g) / count[b])
    return worst


def expected_calibration_error(
    probs: Any,
    labels: Any,
    *,
    n_bins: int = 15,
    norm: str = "l1",
    axis: int = -1,
    from_logits: bool = False,
) -> Array:
    """:func:`fastentropy.expected_calibration_error` of a dask array: a lazy 0-d array.

    Each row needs all its classes, so ``axis`` is rechunked to one chunk (a no-op when it
    is); the rows keep their chunks. Every block reduces to per-bin partials — the bins it
    fills, their row and correct counts, and each bin's confidence sum exactly (as a pair
    of floats from ``math.fsum``) — combined on one worker, where each bin's gap
    ``k_b − Σ conf_b`` is rounded once. The rows' confidences and predictions come from
    the local function's Rust kernel (also with ``from_logits``), so the result does not
    depend on the chunking and agrees with the local function (which sums each bin's
    confidences with Neumaier compensation, in row order) to the last bit or within a few
    ulps. Invalid labels or probabilities raise ``ValueError`` at ``compute()``.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import fastentropy as fe, fastentropy.dask as fed
    >>> rng = np.random.default_rng(0)
    >>> p = rng.dirichlet(np.ones(5), size=1000)
    >>> y = rng.integers(0, 5, size=1000)
    >>> e = fed.expected_calibration_error(da.from_array(p, chunks=(300, 5)), y).compute()
    >>> bool(abs(e - fe.expected_calibration_error(p, y)) <= 1e-15)
    True
    """
    from ._calibration import _NORMS, MAX_BINS

    arr = _as_float_dask(probs, "probs")
    if arr.ndim == 0:
        raise ValueError("`probs` must have a class axis (at least 1 dimension), got a 0-d array")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"`axis` must be an integer, got {axis!r}")
    if not -arr.ndim <= int(axis) < arr.ndim:
        raise _api._AxisError(f"`axis` {axis} is out of bounds for `probs` with {arr.ndim} dimension(s)")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise TypeError(f"`n_bins` must be a positive integer, got {n_bins!r}")
    if not 1 <= int(n_bins) <= MAX_BINS:
        raise ValueError(f"`n_bins` must be a positive integer at most 2**24, got {n_bins!r}")
    if not isinstance(norm, str) or norm not in _NORMS:
        raise ValueError(f"`norm` must be 'l1', 'l2' or 'max', got {norm!r}")
    logits = _api._check_flag(from_logits, "from_logits")
    arr = da.moveaxis(arr, int(axis) % arr.ndim, -1)
    classes = arr.shape[-1]
    batch = arr.shape[:-1]
    y = labels if isinstance(labels, da.Array) else np.asarray(labels)
    if y.dtype.kind not in "iu":
        if y.size == 0 and y.dtype.kind in "fb":
            y = y.astype(np.int64)
        else:
            raise TypeError(f"`labels` must hold integer class indices, got dtype {y.dtype}")
    if tuple(y.shape) != tuple(batch):
        raise ValueError(
            f"`labels` must have the shape of `probs` without the class axis, {batch}, got {tuple(y.shape)}"
        )
    rows = int(np.prod(batch)) if batch else 1
    if classes == 0 and rows:
        raise ValueError("`probs` has no classes (the class axis has length 0)")
    arr = arr.rechunk({arr.ndim - 1: -1})
    row_chunks = arr.chunks[:-1]
    yd = (y if isinstance(y, da.Array) else da.from_array(y, chunks=row_chunks)).rechunk(row_chunks)
    nb = int(n_bins)
    pblocks = arr.to_delayed().reshape(-1)
    yblocks = np.asarray(yd.to_delayed(), dtype=object).reshape(-1)
    # each block's first row index along every batch axis (for error positions)
    offsets = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int) for c in row_chunks]
    starts = [tuple(int(offsets[d][i]) for d, i in enumerate(ix)) for ix in np.ndindex(*arr.numblocks[:-1])]
    from dask.delayed import delayed

    partial = delayed(_ece_partials, pure=True)
    parts = [
        partial(pb, yb, nb, logits, classes, st)
        for pb, yb, st in zip(pblocks.tolist(), yblocks.tolist(), starts or [()])
    ]
    total = delayed(_ece_finish, pure=True)(parts, nb, norm, logits, rows)
    return cast(Array, da.from_delayed(total, shape=(), dtype=np.float64))
