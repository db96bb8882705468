"""``fastentropy.polars``: the ``fe`` expression namespace on List and Array columns, in
eager, lazy and streaming mode, with polars' null semantics."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, List, Optional

import numpy as np
import pytest

import fastentropy as fe

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'fastentropy[polars]')")
import fastentropy.polars  # noqa: E402,F401  (registers the namespace)

rng = np.random.default_rng(21)


def lists(n: int, seed: int, nulls: bool = True) -> List[Optional[List[Optional[float]]]]:
    r = np.random.default_rng(seed)
    out: List[Optional[List[Optional[float]]]] = []
    for i in range(n):
        if nulls and i % 7 == 3:
            out.append(None)
            continue
        row: List[Optional[float]] = [float(v) for v in r.random(int(r.choice([0, 1, 3, 10, 40]))) + 0.01]
        if nulls and i % 11 == 5 and row:
            row[0] = None
        out.append(row)
    return out


def frame(n: int = 200) -> Any:
    p = lists(n, 1)
    # q: the rows of p's lengths
    q = [None if r is None else [float(v) for v in rng.random(len(r)) + 0.01] for r in p]
    y: List[Optional[int]] = [(i % len(r)) if r else -100 for i, r in enumerate(p)]
    y[2] = None  # a null label
    return pl.DataFrame({"p": p, "q": q, "y": y, "g": [i % 3 for i in range(n)]}, schema_overrides={"y": pl.Int32})


def with_nulls(values: np.ndarray, *columns: Any) -> List[Optional[float]]:
    """The fastentropy result with null where any column is null (NaN stays NaN)."""
    missing = np.zeros(len(values), dtype=bool)
    for c in columns:
        missing |= c.is_null().to_numpy()
    return [None if m else float(v) for v, m in zip(values, missing)]


def assert_same(got: Any, want: List[Optional[float]]) -> None:
    got_list = got.to_list()
    assert got.dtype == pl.Float64 and len(got_list) == len(want)
    for a, b in zip(got_list, want):
        if b is None or a is None:
            assert a is None and b is None
        elif np.isnan(b):
            assert np.isnan(a)
        else:
            assert a == b


@pytest.mark.parametrize("method", ["entropy", "perplexity", "logsumexp"])
def test_one_input_methods_equal_the_functions(method: str) -> None:
    df = frame()
    kw = {} if method == "logsumexp" else {"base": 2}
    got = df.select(getattr(pl.col("p").fe, method)(**kw)).to_series()
    assert_same(got, with_nulls(getattr(fe, method)(df["p"], **kw), df["p"]))


@pytest.mark.parametrize("method", ["kl_divergence", "cross_entropy", "js_divergence", "js_distance"])
def test_pair_methods_equal_the_functions(method: str) -> None:
    df = frame()
    want = with_nulls(getattr(fe, method)(df["p"], df["q"]), df["p"], df["q"])
    assert_same(df.select(getattr(pl.col("p").fe, method)(pl.col("q"))).to_series(), want)
    assert_same(df.select(getattr(pl.col("p").fe, method)("q")).to_series(), want)


def test_softmax_cross_entropy_per_row_and_reduced_per_group() -> None:
    df = frame()
    got = df.select(pl.col("p").fe.softmax_cross_entropy(pl.col("y"))).to_series()
    y = df["y"].cast(pl.Int64).fill_null(-100).to_numpy()
    assert_same(got, with_nulls(fe.softmax_cross_entropy(df["p"], y, reduction="none"), df["p"], df["y"]))
    # mean per group: null rows, null labels and ignored rows left out
    means = df.group_by("g", maintain_order=True).agg(pl.col("p").fe.softmax_cross_entropy("y", reduction="mean"))
    for g, value in zip(means["g"], means["p"]):
        part = df.filter(pl.col("g") == g)
        losses = part.select(pl.col("p").fe.softmax_cross_entropy("y")).to_series()
        kept = [v for v, lab in zip(losses.to_list(), part["y"].to_list()) if v is not None and lab not in (None, -100)]
        np.testing.assert_allclose(value, np.mean(kept), rtol=1e-13)  # NaN where a row's logits are all -inf
    total = df.select(pl.col("p").fe.softmax_cross_entropy("y", reduction="sum")).item()
    kept = [v for v, lab in zip(got.to_list(), df["y"].to_list()) if v is not None and lab not in (None, -100)]
    np.testing.assert_allclose(total, np.sum(kept), rtol=1e-13)
    none = pl.DataFrame({"p": [[0.0], None]}, schema={"p": pl.List(pl.Float64)}).with_columns(y=pl.lit(-100))
    assert none.select(pl.col("p").fe.softmax_cross_entropy("y", reduction="mean")).item() is None


def test_lazy_and_streaming_equal_eager() -> None:
    df = frame(500)
    exprs = [
        pl.col("p").fe.entropy().alias("h"),
        pl.col("p").fe.kl_divergence(pl.col("q")).alias("kl"),
        pl.col("p").fe.softmax_cross_entropy(pl.col("y")).alias("ce"),
    ]
    eager = df.select(exprs)
    lazy = df.lazy().select(exprs).collect()
    streaming = df.lazy().select(exprs).collect(engine="streaming")
    assert eager.equals(lazy) and eager.equals(streaming)
    over = df.with_columns(pl.col("p").fe.entropy().over("g").alias("h"))["h"]
    assert over.equals(eager["h"])


def test_array_columns_and_integer_counts() -> None:
    dense = rng.random((50, 6)) + 0.01
    df = pl.DataFrame({"a": dense, "counts": rng.integers(0, 9, (50, 6))})
    assert isinstance(df.schema["a"], pl.Array)
    np.testing.assert_array_equal(df.select(pl.col("a").fe.entropy()).to_series().to_numpy(), fe.entropy(dense))
    np.testing.assert_array_equal(
        df.select(pl.col("counts").fe.entropy()).to_series().to_numpy(), fe.entropy(df["counts"].to_numpy())
    )
    counts = pl.DataFrame({"c": [[1, 1, 2], [4], []]})
    np.testing.assert_array_equal(
        counts.select(pl.col("c").fe.entropy()).to_series().to_numpy(), [fe.entropy([1, 1, 2]), 0.0, 0.0]
    )


def test_array_columns_with_nulls_lazy_and_streaming() -> None:
    """A pl.Array column with null rows and null values through every engine."""
    dense = rng.random((300, 5)) + 0.01
    rows: List[Optional[List[Optional[float]]]] = [list(map(float, r)) for r in dense]
    rows[4] = None
    rows[7][2] = None  # type: ignore[index]
    df = pl.DataFrame({"a": rows, "b": [list(map(float, r)) for r in dense[::-1]]}, schema={"a": pl.Array(pl.Float64, 5), "b": pl.Array(pl.Float64, 5)})
    exprs = [pl.col("a").fe.entropy(base=2).alias("h"), pl.col("a").fe.cross_entropy("b").alias("ce")]
    eager = df.select(exprs)
    assert eager.equals(df.lazy().select(exprs).collect()) and eager.equals(df.lazy().select(exprs).collect(engine="streaming"))
    h = eager["h"].to_list()
    assert h[4] is None and h[7] == fe.entropy(np.where(np.arange(5) == 2, 0.0, dense[7]), base=2)
    np.testing.assert_array_equal(np.delete(np.array(h, dtype=float), [4, 7]), np.delete(fe.entropy(dense, base=2), [4, 7]))


def test_errors() -> None:
    df = pl.DataFrame({"x": [0.5, 0.5], "p": [[0.5, 0.5], [1.0]], "q": [[0.5, 0.5], [0.5, 0.5]], "s": ["a", "b"]})
    with pytest.raises(Exception, match=r"`\.fe\.entropy` needs a List or Array column of numbers for `p`.*got Float64"):
        df.select(pl.col("x").fe.entropy())
    with pytest.raises(Exception, match=r"rows of equal lengths, got 1 and 2 at row 1"):
        df.select(pl.col("p").fe.kl_divergence("q"))
    with pytest.raises(Exception, match=r"`target` must be an integer column"):
        df.select(pl.col("p").fe.softmax_cross_entropy("s"))
    with pytest.raises(ValueError, match=r"`reduction` must be 'none', 'mean' or 'sum'"):
        pl.col("p").fe.softmax_cross_entropy("y", reduction="avg")


def test_option_errors_are_raised_when_the_expression_is_built() -> None:
    """Bad options fail where the expression is written (not at collect time, inside a
    lazy query), with the functions' own messages."""
    cases = [
        (lambda: pl.col("p").fe.entropy(base=-1), ValueError, r"`base` must be positive"),
        (lambda: pl.col("p").fe.perplexity(normalize="no"), TypeError, r"`normalize` must be True or False"),
        (lambda: pl.col("p").fe.kl_divergence("q", smoothing=-1.0), ValueError, r"`smoothing` must be a finite number"),
        (lambda: pl.col("p").fe.js_distance("q", from_logits=True, smoothing=1.0), ValueError, r"not to logits"),
        (lambda: pl.col("p").fe.cross_entropy("q", normalize=False, smoothing=1.0), ValueError, r"smoothing"),
        (lambda: pl.col("p").fe.population_stability_index("q", base=1.0), ValueError, r"`base` must be positive"),
        (lambda: pl.col("z").fe.softmax_cross_entropy("y", ignore_index="a"), TypeError, r"`ignore_index` must be an integer"),
    ]
    for build, kind, message in cases:
        with pytest.raises(kind, match=message):
            build()
    # good options build without touching any data
    pl.col("p").fe.js_divergence("q", base=2.0, smoothing=0.5)
    pl.col("z").fe.entropy(from_logits=True)


def test_import_without_polars_names_the_package() -> None:
    code = "import sys; sys.modules['polars'] = None\ntry:\n import fastentropy.polars\nexcept ImportError as e:\n print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "fastentropy.polars needs polars" in out.stdout and "fastentropy[polars]" in out.stdout, out
    # the rest of the package works without polars or pyarrow
    code = "import sys; sys.modules['polars'] = sys.modules['pyarrow'] = None\nimport fastentropy as fe\nprint(fe.entropy([1, 1], offsets=[0, 1, 2]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "[0. 0.]" in out.stdout, out
