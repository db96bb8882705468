"""Per-row scores of Polars ``List`` and ``Array`` columns: the ``fe`` expression namespace.

``import fastentropy.polars`` registers it; then every expression has ``.fe``:

>>> import polars as pl
>>> import fastentropy.polars  # noqa: F401  (registers the namespace)
>>> df = pl.DataFrame({"p": [[0.5, 0.5], [0.9, 0.1, 0.0], None], "q": [[0.4, 0.6], [0.8, 0.1, 0.1], [1.0]]})
>>> df.select(pl.col("p").fe.entropy(base=2)).to_series().round(6).to_list()
[1.0, 0.468996, None]
>>> df.select(pl.col("p").fe.kl_divergence(pl.col("q"))).to_series().round(6).to_list()
[0.020411, 0.106005, None]

Each method works on a column whose rows are distributions — ``List`` (rows of any
lengths) or ``Array`` (fixed width) of floats — in eager, lazy and streaming mode, and
gives a ``Float64`` column, one score per row. The column reaches the Rust core through
the Arrow PyCapsule interface (``Series.__arrow_c_stream__``): its buffers are read in
place, chunk by chunk, with the GIL released; the scores come back as one NumPy array.

Nulls follow Polars: a null row (of ``p``, ``q`` or the target) gives a null score, and
a null value inside a list is left out of its distribution (as 0, or as a ``-inf``
logit) — as ``list.sum()`` skips nulls. Integer lists (counts) are cast to ``Float64``
first (a copy of the values; float lists are never copied).

The measures are those of :mod:`fastentropy` with the same names, options and results:
``fastentropy.entropy(series)`` on the same column gives the same numbers (with NaN
where this gives null).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Union

try:
    import polars as pl
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastentropy.polars needs polars, which is not installed: pip install 'fastentropy[polars]'"
    ) from exc

import numpy as np

import fastentropy as fe

__all__ = ["FastEntropyNamespace"]

IntoExpr = Union[pl.Expr, str]


def _distributions(s: pl.Series, name: str, method: str) -> pl.Series:
    """``s`` checked as a List / Array column; integer or boolean values cast to Float64."""
    dtype = s.dtype
    if not isinstance(dtype, (pl.List, pl.Array)):
        raise TypeError(
            f"`.fe.{method}` needs a List or Array column of numbers for `{name}` (one distribution per row), "
            f"got {dtype}; for one distribution per column use polars' own `Expr.entropy`"
        )
    inner = dtype.inner
    if inner is not None and (inner.is_integer() or inner == pl.Boolean):
        s = s.cast(pl.List(pl.Float64) if isinstance(dtype, pl.List) else pl.Array(pl.Float64, dtype.size))
    return s


def _nulls_to_null(scores: Any, *masks: pl.Series) -> pl.Series:
    """The scores as a Float64 Series, null where any of ``masks`` is null."""
    out = pl.Series(np.asarray(scores, dtype=np.float64), dtype=pl.Float64)
    missing: Optional[pl.Series] = None
    for m in masks:
        if m.null_count():
            missing = m.is_null() if missing is None else (missing | m.is_null())
    if missing is not None:
        out = out.scatter(missing.arg_true(), None)
    return out


def _options(base: Optional[float], normalize: bool, from_logits: bool, smoothing: float) -> Dict[str, Any]:
    """The keyword arguments of a measure: ``from_logits`` and ``smoothing`` only when set
    (the measures' defaults are then their own)."""
    options: Dict[str, Any] = {"base": base, "normalize": normalize}
    if from_logits is not False:
        options["from_logits"] = from_logits
    return _with_smoothing(options, smoothing)


def _with_smoothing(options: Dict[str, Any], smoothing: float) -> Dict[str, Any]:
    """``options`` with ``smoothing`` where it is set (not a plain 0)."""
    if not (type(smoothing) in (int, float) and smoothing == 0):
        options["smoothing"] = smoothing
    return options


#: A one-row distribution (also a valid row of logits) to try the options on.
_PROBE = np.array([[1.0]])


def _one(expr: pl.Expr, method: str, fn: Callable[..., Any], options: Dict[str, Any]) -> pl.Expr:
    # the options' errors now, where the expression is built, not at collect time: the
    # function itself on one valid row (the same checks, the same messages)
    fn(_PROBE, **options)

    def batch(s: pl.Series) -> pl.Series:
        p = _distributions(s, "p", method)
        return _nulls_to_null(fn(p, **options), p)

    return expr.map_batches(batch, return_dtype=pl.Float64, is_elementwise=True)


def _pair(expr: pl.Expr, other: IntoExpr, method: str, fn: Callable[..., Any], options: Dict[str, Any]) -> pl.Expr:
    fn(_PROBE, _PROBE, **options)  # the options' errors now (see `_one`)

    def batch(columns: Sequence[pl.Series]) -> pl.Series:
        p = _distributions(columns[0], "p", method)
        q = _distributions(columns[1], "q", method)
        return _nulls_to_null(fn(p, q, **options), p, q)

    q = pl.col(other) if isinstance(other, str) else other
    return pl.map_batches([expr, q], batch, return_dtype=pl.Float64, is_elementwise=True)


@pl.api.register_expr_namespace("fe")
class FastEntropyNamespace:
    """``expr.fe``: per-row information measures of a ``List`` / ``Array`` column.

    Registered by ``import fastentropy.polars``. Every method returns an expression
    giving one ``Float64`` per row (a scalar for ``softmax_cross_entropy`` with
    ``reduction="mean"`` or ``"sum"``).
    """

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def entropy(
        self, *, base: Optional[float] = None, normalize: bool = True, from_logits: bool = False, smoothing: float = 0.0
    ) -> pl.Expr:
        """Shannon entropy of each row (see :func:`fastentropy.entropy`).

        ``from_logits=True`` reads each row as logits (the entropy of its softmax; a null
        value is a ``-inf`` logit); ``smoothing`` adds a pseudocount to every value of a
        row before normalising it.

        Examples
        --------
        >>> import polars as pl
        >>> import fastentropy.polars  # noqa: F401
        >>> df = pl.DataFrame({"counts": [[1, 1, 2], [4]]})
        >>> df.select(pl.col("counts").fe.entropy()).to_series().round(6).to_list()
        [1.039721, 0.0]
        """
        return _one(self._expr, "entropy", fe.entropy, _options(base, normalize, from_logits, smoothing))

    def perplexity(self, *, base: Optional[float] = None, normalize: bool = True, from_logits: bool = False) -> pl.Expr:
        """Perplexity ``exp(H)`` of each row (see :func:`fastentropy.perplexity`);
        ``from_logits=True``: of the softmax of each row of logits."""
        return _one(self._expr, "perplexity", fe.perplexity, _options(base, normalize, from_logits, 0.0))

    def logsumexp(self) -> pl.Expr:
        """``log(sum(exp(z)))`` of each row of logits (see :func:`fastentropy.logsumexp`)."""
        return _one(self._expr, "logsumexp", fe.logsumexp, {})

    def kl_divergence(
        self,
        q: IntoExpr,
        *,
        base: Optional[float] = None,
        normalize: bool = True,
        from_logits: bool = False,
        smoothing: float = 0.0,
    ) -> pl.Expr:
        """KL divergence ``D(P||Q)`` of each row against the same row of ``q`` (a column
        with rows of the same lengths; see :func:`fastentropy.kl_divergence`).

        ``from_logits=True`` reads both columns as logits (the measure of their softmaxes);
        ``smoothing`` adds a pseudocount to every value of both rows before normalising.
        The other two-column methods take the same options."""
        return _pair(self._expr, q, "kl_divergence", fe.kl_divergence, _options(base, normalize, from_logits, smoothing))

    def cross_entropy(
        self,
        q: IntoExpr,
        *,
        base: Optional[float] = None,
        normalize: bool = True,
        from_logits: bool = False,
        smoothing: float = 0.0,
    ) -> pl.Expr:
        """Cross-entropy ``H(P, Q)`` of each row (see :func:`fastentropy.cross_entropy`)."""
        return _pair(self._expr, q, "cross_entropy", fe.cross_entropy, _options(base, normalize, from_logits, smoothing))

    def js_divergence(
        self,
        q: IntoExpr,
        *,
        base: Optional[float] = None,
        normalize: bool = True,
        from_logits: bool = False,
        smoothing: float = 0.0,
    ) -> pl.Expr:
        """Jensen–Shannon divergence of each row (see :func:`fastentropy.js_divergence`)."""
        return _pair(self._expr, q, "js_divergence", fe.js_divergence, _options(base, normalize, from_logits, smoothing))

    def js_distance(
        self,
        q: IntoExpr,
        *,
        base: Optional[float] = None,
        normalize: bool = True,
        from_logits: bool = False,
        smoothing: float = 0.0,
    ) -> pl.Expr:
        """Jensen–Shannon distance of each row (see :func:`fastentropy.js_distance`)."""
        return _pair(self._expr, q, "js_distance", fe.js_distance, _options(base, normalize, from_logits, smoothing))

    def population_stability_index(
        self, q: IntoExpr, *, base: Optional[float] = None, smoothing: float = 0.0
    ) -> pl.Expr:
        """Population stability index of each row (histogram) against the same row of ``q``
        (see :func:`fastentropy.population_stability_index`)."""
        options = _with_smoothing({"base": base}, smoothing)
        return _pair(self._expr, q, "population_stability_index", fe.population_stability_index, options)

    def softmax_cross_entropy(
        self, target: IntoExpr, *, ignore_index: int = -100, reduction: str = "none"
    ) -> pl.Expr:
        """Softmax cross-entropy of each row of logits against its integer class label
        ``target`` (an index into that row; see :func:`fastentropy.softmax_cross_entropy`).

        ``reduction="none"`` (the default here: one loss per row) keeps the rows;
        ``"mean"`` / ``"sum"`` reduce them to one value (per group in a ``group_by``),
        leaving out null rows and rows labelled ``ignore_index`` (a mean over no row is
        null). A null label gives a null loss.
        """
        # the options' errors now (see `_one`): `reduction`, `ignore_index`
        fe.softmax_cross_entropy(_PROBE, np.zeros(1, dtype=np.int64), ignore_index=ignore_index, reduction=reduction)

        def batch(columns: Sequence[pl.Series]) -> pl.Series:
            logits = _distributions(columns[0], "logits", "softmax_cross_entropy")
            labels = columns[1]
            if not labels.dtype.is_integer():
                raise TypeError(f"`target` must be an integer column of class indices, got {labels.dtype}")
            y = labels.cast(pl.Int64).fill_null(ignore_index).to_numpy()
            loss = fe.softmax_cross_entropy(logits, y, ignore_index=ignore_index, reduction=reduction)
            if reduction != "none":
                counted = (~logits.is_null() & ~labels.is_null() & (labels != ignore_index)).sum()
                # a mean over no row is null, as polars' own mean (fastentropy and torch: NaN)
                value = None if reduction == "mean" and counted == 0 else float(np.asarray(loss))
                return pl.Series([value], dtype=pl.Float64)
            return _nulls_to_null(loss, logits, labels)

        label = pl.col(target) if isinstance(target, str) else target
        if reduction == "none":
            return pl.map_batches([self._expr, label], batch, return_dtype=pl.Float64, is_elementwise=True)
        return pl.map_batches([self._expr, label], batch, return_dtype=pl.Float64, returns_scalar=True)
