"""The measures on dask arrays: per-chunk partial statistics on the workers, combined exactly.

Each chunk of the input is reduced on a worker by the Rust core to the partial statistics
of every distribution it holds a piece of (DESIGN.md §3: for entropy S = Σx and
T = Σ x ln x; for KL and cross-entropy Σp, Σq and the term sum). Pieces of one
distribution that lie in different chunks along the class axis are combined by adding
their sums (and taking the smallest of the minima that detect negative inputs), in a dask
tree reduction; the measure's own Rust ``finish`` then turns each distribution's partials
into its value. So chunking along rows gives bitwise the local result, and chunking along
the class axis differs from it only by the rounding of the extra additions.

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

from . import _api, _core

# dask.array's functions carry no annotations: typed as Any here, results cast to Array.
da: Any = dask.array

__all__ = ["entropy", "kl_divergence", "cross_entropy", "softmax_cross_entropy", "ensemble_uncertainty"]

Axis = Optional[int]

# Columns of the partial statistics (src/bindings/partials.rs): which combine by addition
# and which by minimum.
_ENTROPY_COLUMNS = (("sum", "sum", "min"), _core.entropy_partials, _core.entropy_finish)
_KL_COLUMNS = (("sum", "sum", "sum", "min", "min"), _core.kl_divergence_partials, _core.kl_divergence_finish)
_CROSS_COLUMNS = (("sum", "sum", "sum", "min", "min"), _core.cross_entropy_partials, _core.cross_entropy_finish)


def _as_float_dask(x: Any, name: str) -> Any:
    """``x`` as a dask array of native-endian float32/float64 (the rules of ``_as_float_array``)."""
    arr = x if isinstance(x, da.Array) else da.asarray(_api._as_float_array(x, name))
    return _api._native_float(arr, name)


def _move_axis_last(arrays: Sequence[Any], axis: Axis, name: str) -> Tuple[Any, ...]:
    """The dask arrays with ``axis`` last (checked as the local functions check it)."""
    checked, ax = _api._lane_axis(arrays, axis, name)
    return checked if axis is None else tuple(da.moveaxis(a, ax, -1) for a in checked)


def _combine_columns(kinds: Tuple[str, ...]) -> Callable[..., NDArray[np.float64]]:
    """The exact combination of partials stacked along ``axis``: sums add, minima take the least."""
    sums = [i for i, k in enumerate(kinds) if k == "sum"]
    mins = [i for i, k in enumerate(kinds) if k == "min"]

    def combine(x: NDArray[np.float64], axis: Any = None, keepdims: bool = False, **_: Any) -> NDArray[np.float64]:
        out_sums = x[..., sums].sum(axis=axis, keepdims=keepdims)
        out_mins = x[..., mins].min(axis=axis, keepdims=keepdims)
        out = np.empty(out_sums.shape[:-1] + (len(kinds),), dtype=np.float64)
        out[..., sums] = out_sums
        out[..., mins] = out_mins
        return out

    return combine


def _reduce(
    columns: Tuple[Tuple[str, ...], Callable[..., Any], Callable[..., Any]],
    arrays: Sequence[Any],
    base: Optional[float],
    normalize: bool,
) -> Array:
    kinds, partials_fn, finish_fn = columns
    k = len(kinds)
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("`p` must have at least one dimension")
    batch_ndim = first.ndim - 1
    letters = string.ascii_letters
    ind = letters[: first.ndim]
    cls = ind[-1]

    def block_partials(*blocks: NDArray[Any]) -> NDArray[np.float64]:
        # Runs on a worker: the Rust partials of every distribution piece in this chunk.
        cols: NDArray[np.float64] = partials_fn(*blocks)
        return cols[..., None, :]

    args: list[Any] = []
    for a in arrays:
        args.extend((a, ind))
    parts = da.blockwise(
        block_partials,
        ind + "Z",
        *args,
        new_axes={"Z": k},
        adjust_chunks={cls: 1},
        dtype=np.float64,
        meta=np.empty((0,) * (first.ndim + 1), dtype=np.float64),
    )
    combine = _combine_columns(kinds)
    combined = da.reduction(
        parts,
        chunk=combine,
        combine=combine,
        aggregate=combine,
        axis=batch_ndim,
        keepdims=False,
        dtype=np.float64,
        concatenate=True,
        meta=np.empty((0,) * (batch_ndim + 1), dtype=np.float64),
    )
    empty = first.shape[-1] == 0

    def finish(block: NDArray[np.float64]) -> NDArray[np.float64]:
        if empty:  # an empty distribution: 0.0, as the local functions (an empty sum)
            return np.zeros(block.shape[:-1])
        return np.asarray(finish_fn(block, base=base, normalize=normalize), dtype=np.float64)

    return cast(Array, combined.map_blocks(
        finish,
        drop_axis=batch_ndim,
        dtype=np.float64,
        meta=np.empty((0,) * batch_ndim, dtype=np.float64),
    ))


def _pair(p: Any, q: Any, axis: Axis) -> Tuple[Any, Any]:
    pa, qa = _as_float_dask(p, "p"), _as_float_dask(q, "q")
    if pa.shape != qa.shape:
        try:
            pa, qa = da.broadcast_arrays(pa, qa)
        except ValueError:
            raise ValueError(
                f"`p` and `q` must have broadcastable shapes, got {pa.shape} and {qa.shape}"
            ) from None
    pa, qa = _move_axis_last([pa, qa], axis, "p")
    return pa, qa


def entropy(p: Any, *, axis: Axis = -1, base: Optional[float] = None, normalize: bool = True) -> Array:
    """Shannon entropy of each distribution along ``axis`` of a dask array.

    The same parameters and results as :func:`fastentropy.entropy`, lazily: ``p`` may be
    chunked along any axis, the class axis included.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.full((4, 6), 0.5), chunks=(2, 3))
    >>> fed.entropy(p, base=2).compute()
    array([2.5849625, 2.5849625, 2.5849625, 2.5849625])
    """
    arr = _as_float_dask(p, "p")
    (arr,) = _move_axis_last([arr], axis, "p")
    return _reduce(_ENTROPY_COLUMNS, [arr], _api._check_base(base), _api._check_flag(normalize, "normalize"))


def kl_divergence(
    p: Any, q: Any, *, axis: Axis = -1, base: Optional[float] = None, normalize: bool = True
) -> Array:
    """KL divergence ``D(P||Q)`` along ``axis`` of dask arrays (see :func:`fastentropy.kl_divergence`).

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> p = da.from_array(np.array([[0.5, 0.5], [0.9, 0.1]]), chunks=1)
    >>> fed.kl_divergence(p, [0.9, 0.1]).compute().round(12)
    array([0.51082562, 0.        ])
    """
    pa, qa = _pair(p, q, axis)
    return _reduce(_KL_COLUMNS, [pa, qa], _api._check_base(base), _api._check_flag(normalize, "normalize"))


def cross_entropy(
    p: Any, q: Any, *, axis: Axis = -1, base: Optional[float] = None, normalize: bool = True
) -> Array:
    """Cross-entropy ``H(P, Q)`` along ``axis`` of dask arrays (see :func:`fastentropy.cross_entropy`).

    Examples
    --------
    >>> import dask.array as da, fastentropy.dask as fed
    >>> float(fed.cross_entropy(da.from_array([0.0, 0.0, 1.0], chunks=2), [0.3, 0.3, 0.4]).compute())
    0.916290731874155
    """
    pa, qa = _pair(p, q, axis)
    return _reduce(_CROSS_COLUMNS, [pa, qa], _api._check_base(base), _api._check_flag(normalize, "normalize"))


# ---------------------------------------------------------------------------------------
# softmax cross-entropy
#
# Every target form of the loss is Σ_c a_c·(lse − z_c) for a row of logits z, with
#   a_c = (1−ε)·w_y·[c = y] + ε/C·w_c           (class index y; 0 for an ignored target)
#   a_c = w_c·((1−ε)·t_c + ε/C)                 (class probabilities t)
# (torch's rules, DESIGN.md §2). Written with the row maximum M and lse = M + log1p(S),
# S = Σ_{i≠argmax} exp(z_i − M), the loss is  B + A·log1p(S)  where A = Σ a_c and
# B = Σ_{a_c≠0} a_c·(M − z_c): a confidently correct prediction keeps its tiny loss with
# full relative precision, as the local function does. A chunk of classes reduces to
# (m, s, B, A) relative to its own maximum m; two chunks combine exactly by rescaling to
# the larger maximum. When the class axis is one chunk, the workers call the local Rust
# `softmax_cross_entropy(reduction="none")` instead, so per-row losses are bitwise local.
# TODO(loss family): compute the class-split partials in Rust once the logsumexp kernel
# exposes its (max, Σ exp) partials; they are NumPy here because that kernel lives on
# another branch.
# ---------------------------------------------------------------------------------------


def _lse_block(
    z: NDArray[Any], cols: NDArray[Any], target: NDArray[Any], weight: NDArray[np.float64],
    *, index_target: bool, n_classes: int, ignore_index: int, eps: float,
) -> NDArray[np.float64]:
    z = np.asarray(z, dtype=np.float64)
    w = weight[cols] if weight.size else np.ones(len(cols))
    if index_target:
        y = np.asarray(target)
        _check_labels(y, n_classes, ignore_index)
        keep = y != ignore_index
        wy = np.where(keep, (weight[np.where(keep, y, 0)] if weight.size else 1.0), 0.0)
        a = (eps / n_classes) * w * keep[..., None]
        a = a + (1.0 - eps) * wy[..., None] * (y[..., None] == cols)
    else:
        t = np.asarray(target, dtype=np.float64)
        a = w * ((1.0 - eps) * t + eps / n_classes)
    with np.errstate(invalid="ignore", over="ignore"):
        m = z.max(axis=-1) if z.shape[-1] else np.full(z.shape[:-1], -np.inf)
        finite_m = np.isfinite(m) | np.isnan(m)
        shifted = z - m[..., None]
        e = np.exp(shifted)
        if z.shape[-1]:
            np.put_along_axis(e, np.argmax(z, axis=-1)[..., None], 0.0, axis=-1)
        s = np.where(finite_m, e.sum(axis=-1), 0.0)
        b = np.where(a != 0, a * -shifted, 0.0).sum(axis=-1)
        b = np.where(finite_m, b, 0.0)
    out = np.stack([m, s, b, a.sum(axis=-1)], axis=-1)
    return out[..., None, :]


def _lse_combine(x: NDArray[np.float64], axis: Any = None, keepdims: bool = False, **_: Any) -> NDArray[np.float64]:
    m, s, b, a = (x[..., i] for i in range(4))
    with np.errstate(invalid="ignore", over="ignore"):
        big = m.max(axis=axis, keepdims=True)
        rescale = np.where(np.isneginf(m) & ~np.isnan(big), 0.0, np.exp(m - big))
        # Each chunk's s leaves out its own maximum; all but the winning chunk's count here.
        others = rescale.copy()
        ax = axis[0] if isinstance(axis, tuple) else axis
        if others.shape[ax]:
            np.put_along_axis(others, np.expand_dims(np.argmax(m, axis=ax), ax), 0.0, axis=ax)
        new_s = (s * rescale + others).sum(axis=axis, keepdims=keepdims)
        gap = np.where(a == 0, 0.0, a * (big - m))
        new_b = (b + gap).sum(axis=axis, keepdims=keepdims)
        new_a = a.sum(axis=axis, keepdims=keepdims)
    new_m = big if keepdims else np.squeeze(big, axis=axis)
    return np.stack([new_m, new_s, new_b, new_a], axis=-1)


def _check_labels(y: NDArray[Any], n_classes: int, ignore_index: int) -> None:
    bad = ((y < 0) | (y >= n_classes)) & (y != ignore_index)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`target` labels must be in [0, {n_classes}) or equal ignore_index={ignore_index}, "
            f"got {y[pos]} at position {pos} of its chunk"
        )


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
    ``"sum"``, one loss per distribution for ``"none"``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastentropy.dask as fed
    >>> z = da.from_array(np.log([[0.3, 0.3, 0.4]]), chunks=(1, 2))
    >>> round(float(fed.softmax_cross_entropy(z, [2]).compute()), 12)
    0.916290731874
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"`reduction` must be 'mean', 'sum' or 'none', got {reduction!r}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing!r}")
    z = _as_float_dask(logits, "logits")
    if z.ndim == 0:
        raise ValueError("`logits` must have at least one dimension (the class axis)")
    (z,) = _move_axis_last([z], axis, "logits")
    n_classes = int(z.shape[-1])
    if n_classes == 0:
        raise ValueError("`logits` must have at least one class along `axis`, got 0 (no label is in range)")
    t = target if isinstance(target, da.Array) else da.asarray(np.asarray(target))
    index_target = t.dtype.kind in "iu"
    if index_target:
        if t.shape != z.shape[:-1]:
            raise ValueError(
                f"`target` of class indices must have the shape of `logits` without `axis`, "
                f"{z.shape[:-1]}, got {t.shape}"
            )
    elif t.dtype.kind in "fb":
        t = _as_float_dask(t, "target")
        if t.ndim != z.ndim:
            raise ValueError(f"`target` of class probabilities must have the shape of `logits`, got {t.shape}")
        (t,) = _move_axis_last([t], axis, "target")
        if t.shape != z.shape:
            raise ValueError(
                f"`target` of class probabilities must have the shape of `logits` {z.shape}, got {t.shape}"
            )
    else:
        raise TypeError(f"`target` must hold integer class indices or float probabilities, got dtype {t.dtype}")
    w = np.zeros(0) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    if w.size and w.shape != (n_classes,):
        raise ValueError(f"`weight` must have shape ({n_classes},), one per class, got {w.shape}")

    batch_ndim = z.ndim - 1
    ind = string.ascii_letters[: z.ndim]
    batch_ind, cls = ind[:-1], ind[-1]
    import fastentropy

    local = getattr(fastentropy, "softmax_cross_entropy", None)
    if local is not None and len(z.chunks[-1]) == 1:
        t_ind = batch_ind if index_target else ind

        def block_losses(zb: NDArray[Any], tb: NDArray[Any]) -> NDArray[np.float64]:
            return np.asarray(
                local(zb, tb, axis=-1, weight=weight if w.size else None, ignore_index=ignore_index,
                      reduction="none", label_smoothing=eps),
                dtype=np.float64,
            )

        losses = da.blockwise(
            block_losses, batch_ind, z, ind, t, t_ind, concatenate=True, dtype=np.float64,
            meta=np.empty((0,) * batch_ndim, dtype=np.float64),
        )
    else:
        cols = da.arange(n_classes, chunks=(z.chunks[-1],))
        args: list[Any] = [z, ind, cols, cls, t, batch_ind if index_target else ind]
        parts = da.blockwise(
            _lse_block, ind + "Z", *args,
            new_axes={"Z": 4}, adjust_chunks={cls: 1}, dtype=np.float64,
            meta=np.empty((0,) * (z.ndim + 1), dtype=np.float64),
            weight=w, index_target=index_target, n_classes=n_classes, ignore_index=ignore_index, eps=eps,
        )
        combined = da.reduction(
            parts, chunk=_lse_combine, combine=_lse_combine, aggregate=_lse_combine, axis=batch_ndim,
            keepdims=False, dtype=np.float64, concatenate=True,
            meta=np.empty((0,) * (batch_ndim + 1), dtype=np.float64),
        )

        def finish(block: NDArray[np.float64]) -> NDArray[np.float64]:
            with np.errstate(invalid="ignore"):
                a, b, s = block[..., 3], block[..., 2], block[..., 1]
                loss: NDArray[np.float64] = b + np.where(a == 0, 0.0, a * np.log1p(s))
                return loss

        losses = combined.map_blocks(
            finish, drop_axis=batch_ndim, dtype=np.float64,
            meta=np.empty((0,) * batch_ndim, dtype=np.float64),
        )
    if reduction == "none":
        return cast(Array, losses)
    total = losses.sum()
    if reduction == "sum":
        return cast(Array, total)
    if index_target:
        def target_weights(y: NDArray[Any]) -> NDArray[np.float64]:
            keep = y != ignore_index
            if not w.size:
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
