#!/usr/bin/env python3
"""Pipeline benchmarks (issue #16): ragged rows against the dense case, and the Polars
``fe`` namespace against the per-row baselines people write, side by side in one run.

    python benches/pipelines.py              # 10^6 ragged rows, 10^5 Polars rows (~1-2 min on 2 cores)
    python benches/pipelines.py --quick      # 2*10^5 / 2*10^4 rows

Two Markdown tables on stdout:

1. **Ragged vs dense.** Rows of lengths 5 … 15 (mean 10; ``--lengths lo:hi``), float64
   and float32 (``--dtypes``), as ``values`` with ``offsets=``
   and as a pyarrow ``ListArray`` (and a ``LargeListArray`` chunked in 8, and a
   ``ListArray`` with every hundredth row null and empty, as pyarrow builds null rows:
   those rows give NaN), against the dense
   ``(N, 10)`` array of the same number of rows. Times are per value (the ragged rows
   hold about as many values as the dense array; the exact counts are divided out), and the
   ratio is dense time per value ÷ ragged time per value: 1.0 means the ragged layout runs
   at the dense throughput, > 1 faster. The last column is the dense array itself as a
   ``FixedSizeListArray`` with every hundredth row null, its values null under them (as
   pyarrow, Polars' ``pl.Array`` and Parquet readers build a fixed-size list's null rows). Cases ``name+from_logits`` / ``name+smoothing``
   time those options (``smoothing=1.0``) on both layouts.
2. **Polars.** ``pl.col("p").fe.<measure>()`` on a ``List(Float64)`` column (eager, and
   lazy on the streaming engine) against ``map_elements`` with the NumPy expression for one
   row, and against Polars' own ``list.eval(pl.element().entropy())`` where it exists.
   Ratio = baseline time ÷ ``fe`` time (> 1: the namespace is faster).

Each case times every implementation in the same process on the same data, interleaved
round by round (a noisy, shared machine slows all alike); the table shows the median of
the rounds (``--stat min`` for the minimum). Every implementation's first call is a warm-up
whose result is checked against fastentropy's dense result. Needs pyarrow and polars
(``pip install 'fastentropy[polars]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import fastentropy as fe

try:
    import pyarrow as pa
except ImportError:  # pragma: no cover
    sys.exit("benches/pipelines.py needs pyarrow: pip install 'fastentropy[arrow]'")
try:
    import polars as pl

    import fastentropy.polars  # noqa: F401  (registers .fe)
except ImportError:  # pragma: no cover
    pl = None


def time_side_by_side(impls: Dict[str, Callable[[], Any]], rounds: int) -> Dict[str, Dict[str, float]]:
    samples: Dict[str, List[float]] = {k: [] for k in impls}
    for _ in range(rounds):
        for name, f in impls.items():
            t = time.perf_counter()
            f()
            samples[name].append(time.perf_counter() - t)
    return {k: {"median": statistics.median(v), "min": min(v), "samples": len(v)} for k, v in samples.items()}


def ragged_data(rows: int, seed: int = 0, dtype: Any = np.float64, lengths_range: Tuple[int, int] = (1, 19)) -> Dict[str, Any]:
    rng = np.random.default_rng(seed)
    lo, hi = lengths_range
    lengths = rng.integers(lo, hi + 1, rows)  # default 1 … 19: mean 10
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    n = int(offsets[-1])
    f = lambda a: a.astype(dtype)  # noqa: E731
    p, q, z = f(rng.random(n) + 0.01), f(rng.random(n) + 0.01), f(rng.standard_normal(n))
    dense = {
        "p": f(rng.random((rows, 10)) + 0.01),
        "q": f(rng.random((rows, 10)) + 0.01),
        "z": f(rng.standard_normal((rows, 10))),
        "y": f(rng.standard_normal((rows, 10))),
    }
    d_y = f(rng.standard_normal(n))
    null_rows = np.arange(rows) % 100 == 50
    null_offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.where(null_rows, 0, lengths), out=null_offsets[1:])
    return {
        "lengths": lengths,
        "offsets": offsets,
        "p": p,
        "q": q,
        "z": z,
        "y": d_y,
        "labels": (lengths // 2).astype(np.int64),
        "dense": dense,
        "dense_labels": np.full(rows, 5, dtype=np.int64),
        # every hundredth row null (a list column with missing predictions), without
        # values, as pyarrow and Parquet readers build them: `null_offsets` over the
        # values at `null_keep`
        "null_rows": null_rows,
        "null_offsets": null_offsets,
        "null_keep": np.repeat(~null_rows, lengths),
    }


def lists(
    values: np.ndarray, offsets: np.ndarray, large: bool = False, chunks: int = 1, nulls: Optional[np.ndarray] = None
) -> Any:
    cls = pa.LargeListArray if large else pa.ListArray
    mask = None if nulls is None else pa.array(nulls)
    arr = cls.from_arrays(pa.array(offsets.astype(np.int64 if large else np.int32)), pa.array(values), mask=mask)
    if chunks == 1:
        return arr
    cuts = np.linspace(0, len(arr), chunks + 1).astype(int)
    return pa.chunked_array([arr.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])])


RAGGED_FUNCTIONS = [
    "entropy", "perplexity", "kl_divergence", "cross_entropy", "js_divergence", "logsumexp", "softmax_cross_entropy",
    "entropy+from_logits", "kl_divergence+from_logits", "js_divergence+from_logits", "entropy+smoothing",
    "kl_divergence+smoothing",
]

#: The options of a case "name+option".
OPTIONS = {"": {}, "from_logits": {"from_logits": True}, "smoothing": {"smoothing": 1.0}}


def split_case(case: str) -> Tuple[str, Dict[str, Any], bool]:
    """(function name, keyword options, whether the inputs are logits)."""
    name, _, option = case.partition("+")
    logits = name in ("logsumexp", "softmax_cross_entropy") or option == "from_logits"
    return name, OPTIONS[option], logits


def ragged_case(case: str, d: Dict[str, Any]) -> Tuple[Dict[str, Callable[[], Any]], Dict[str, int]]:
    """(implementations, values each one reads)."""
    name, kw, logits = split_case(case)
    o, D = d["offsets"], d["dense"]
    first, second = ("z", "y") if logits else ("p", "q")
    fn0 = getattr(fe, name)
    fn = (lambda *a, **k: fn0(*a, **k, **kw)) if kw else fn0
    P, Q = lists(d[first], o), lists(d[second], o)
    PL, QL = lists(d[first], o, large=True, chunks=8), lists(d[second], o, large=True, chunks=8)
    keep, no, nulls = d["null_keep"], d["null_offsets"], d["null_rows"]
    PN, QN = lists(d[first][keep], no, nulls=nulls), lists(d[second][keep], no, nulls=nulls)
    PF, QF = fixed_lists(D[first], nulls), fixed_lists(D[second], nulls)
    if name == "softmax_cross_entropy":
        y, yd = d["labels"], d["dense_labels"]
        impls = {
            "dense": lambda: fn(D["z"], yd, reduction="none"),
            "offsets": lambda: fn(d["z"], y, offsets=o, reduction="none"),
            "list": lambda: fn(P, y, reduction="none"),
            "large_list x8": lambda: fn(PL, y, reduction="none"),
            NULLS: lambda: fn(PN, y, reduction="none"),
            FIXED_NULLS: lambda: fn(PF, yd, reduction="none"),
        }
    elif name in ("kl_divergence", "cross_entropy", "js_divergence"):
        impls = {
            "dense": lambda: fn(D[first], D[second]),
            "offsets": lambda: fn(d[first], d[second], offsets=o),
            "list": lambda: fn(P, Q),
            "large_list x8": lambda: fn(PL, QL),
            NULLS: lambda: fn(PN, QN),
            FIXED_NULLS: lambda: fn(PF, QF),
        }
    else:
        impls = {
            "dense": lambda: fn(D[first]),
            "offsets": lambda: fn(d[first], offsets=o),
            "list": lambda: fn(P),
            "large_list x8": lambda: fn(PL),
            NULLS: lambda: fn(PN),
            FIXED_NULLS: lambda: fn(PF),
        }
    n_ragged = int(o[-1])
    sizes = {
        "dense": D["p"].size,
        "offsets": n_ragged,
        "list": n_ragged,
        "large_list x8": n_ragged,
        NULLS: int(no[-1]),
        FIXED_NULLS: D["p"].size,
    }
    return impls, sizes


#: The ragged table's column of a `ListArray` with every hundredth row null.
NULLS = "list, 1% null rows"
#: The ragged table's column of the dense array as a `FixedSizeListArray`, every hundredth
#: row null.
FIXED_NULLS = "fixed-size list, 1% null rows"


def fixed_lists(dense: np.ndarray, null_rows: np.ndarray) -> Any:
    """The (N, C) array as a ``FixedSizeListArray`` whose rows `null_rows` (of the first N)
    are null, with null values under them."""
    n, c = dense.shape
    nulls = null_rows[:n]
    values = pa.array(dense.ravel(), mask=np.repeat(nulls, c))
    return pa.FixedSizeListArray.from_arrays(values, c, mask=pa.array(nulls))


def check_ragged(case: str, d: Dict[str, Any], impls: Dict[str, Callable[[], Any]]) -> None:
    """Warm-up: every ragged implementation agrees with the dense function row by row
    (checked on the first 2000 rows)."""
    o = d["offsets"]
    k = 2000
    name, kw, logits = split_case(case)
    first, second = ("z", "y") if logits else ("p", "q")
    fn0 = getattr(fe, name)
    fn = (lambda *a, **k: fn0(*a, **k, **kw)) if kw else fn0
    want = []
    for r in range(k):
        a, b = int(o[r]), int(o[r + 1])
        if name == "softmax_cross_entropy":
            want.append(float(fn(d["z"][None, a:b], d["labels"][r : r + 1], reduction="none")[0]))
        elif name in ("kl_divergence", "cross_entropy", "js_divergence"):
            want.append(float(fn(d[first][a:b], d[second][a:b])))
        else:
            want.append(float(fn(d[first][a:b])))
    tol = 1e-12 if d["p"].dtype == np.float64 else 1e-6
    for label, f in impls.items():
        got = f()[:k]
        if label == FIXED_NULLS:
            null = d["null_rows"][:k]
            dense = impls["dense"]()[:k]
            assert np.isnan(got[null]).all(), f"{case} {label}: a null row is not NaN"
            np.testing.assert_array_equal(got[~null], dense[~null], err_msg=f"{case} {label}")
            continue
        if label == NULLS:
            null = d["null_rows"][:k]
            assert np.isnan(got[null]).all(), f"{case} {label}: a null row is not NaN"
            got = np.where(null, want, got)
        if label != "dense":
            np.testing.assert_allclose(got, want, rtol=tol, atol=1e-300, err_msg=f"{case} {label}")


def polars_cases(rows: int, seed: int = 1) -> List[Tuple[str, Any, Dict[str, Callable[[], Any]]]]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 20, rows)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    n = int(offsets[-1])
    df = pl.DataFrame(
        {
            "p": pl.Series(pa.ListArray.from_arrays(pa.array(offsets), pa.array(rng.random(n) + 0.01))),
            "q": pl.Series(pa.ListArray.from_arrays(pa.array(offsets), pa.array(rng.random(n) + 0.01))),
        }
    )
    lazy = df.lazy()

    def np_entropy(s: Any) -> float:
        a = s.to_numpy()
        a = a / a.sum()
        return float(-(a * np.log(a)).sum())

    def np_kl(row: Dict[str, Any]) -> float:
        p, q = np.asarray(row["p"]), np.asarray(row["q"])
        p, q = p / p.sum(), q / q.sum()
        return float((p * np.log(p / q)).sum())

    fe_h = pl.col("p").fe.entropy()
    fe_kl = pl.col("p").fe.kl_divergence(pl.col("q"))
    cases = [
        (
            "entropy",
            df,
            {
                "fe (eager)": lambda: df.select(fe_h),
                "fe (lazy, streaming)": lambda: lazy.select(fe_h).collect(engine="streaming"),
                "map_elements (NumPy per row)": lambda: df.select(pl.col("p").map_elements(np_entropy, return_dtype=pl.Float64)),
                "list.eval(element().entropy())": lambda: df.select(pl.col("p").list.eval(pl.element().entropy()).list.first()),
            },
        ),
        (
            "kl_divergence",
            df,
            {
                "fe (eager)": lambda: df.select(fe_kl),
                "fe (lazy, streaming)": lambda: lazy.select(fe_kl).collect(engine="streaming"),
                "map_elements (NumPy per row)": lambda: df.select(pl.struct("p", "q").map_elements(np_kl, return_dtype=pl.Float64)),
            },
        ),
    ]
    return cases


def header(args: argparse.Namespace) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = f"numpy {np.__version__}, pyarrow {pa.__version__}" + (f", polars {pl.__version__}" if pl is not None else "")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}; {os.cpu_count()} cores; fastentropy {fe.simd_isa()}, {fe.get_num_threads()} threads; "
        f"{versions}; load average {load:.2f}; statistic: {args.stat} of {args.rounds} interleaved rounds."
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2*10^5 ragged rows, 2*10^4 Polars rows")
    ap.add_argument("--rows", type=float, default=None, help="ragged/dense rows (default 10^6)")
    ap.add_argument("--polars-rows", type=float, default=None, help="Polars rows (default 10^5)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--stat", choices=["median", "min"], default="median")
    ap.add_argument("--functions", default=",".join(RAGGED_FUNCTIONS), help="comma-separated; 'name+from_logits' / 'name+smoothing' for the options")
    ap.add_argument("--dtypes", default="float64,float32", help="value types of the ragged table")
    ap.add_argument("--lengths", default="5:15", help="ragged row lengths lo:hi, uniform (mean (lo+hi)/2)")
    ap.add_argument("--json", default=None, help="also write every number to this JSON file")
    args = ap.parse_args(argv)
    rows = int(args.rows or (2e5 if args.quick else 1e6))
    prows = int(args.polars_rows or (2e4 if args.quick else 1e5))
    if args.threads:
        fe.set_num_threads(args.threads)
    results: Dict[str, Any] = {"ragged": {}, "polars": {}}

    print(f"## Pipelines\n\n{header(args)}\n")
    lo, hi = (int(v) for v in args.lengths.split(":"))
    print(f"### Ragged rows (lengths {lo} … {hi}, mean {(lo + hi) / 2:g}) vs dense (N, 10), N = {rows:,}\n")
    print("ns per value; ratio = dense ÷ ragged time per value (1.0: the dense throughput; > 1 faster)\n")
    print(
        "| function | dtype | dense (N, 10) | `offsets=` | ratio | `ListArray` | ratio | `LargeListArray`, 8 chunks | ratio"
        " | `ListArray`, 1% null rows | ratio | `FixedSizeListArray`, 1% null rows | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dtype in args.dtypes.split(","):
        d = ragged_data(rows, dtype=np.dtype(dtype), lengths_range=(lo, hi))
        for name in args.functions.split(","):
            impls, sizes = ragged_case(name, d)
            check_ragged(name, d, impls)
            t = time_side_by_side(impls, args.rounds)
            per = {k: t[k][args.stat] / sizes[k] * 1e9 for k in impls}
            results["ragged"][f"{name} {dtype}"] = {"times": t, "values": sizes}
            cells = [dtype, f"{per['dense']:.2f}"]
            for k in ("offsets", "list", "large_list x8", NULLS, FIXED_NULLS):
                cells += [f"{per[k]:.2f}", f"{per['dense'] / per[k]:.2f}"]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
            print(f"  {name} {dtype}: done", file=sys.stderr)
        del d

    if pl is None:
        print("\n(polars is not installed: pip install 'fastentropy[polars]')")
    else:
        print(f"\n### Polars `fe` namespace vs per-row baselines, {prows:,} rows of `List(Float64)` (mean length 10)\n")
        print("ms per call; ratio = baseline ÷ `fe` (eager) time (> 1: the namespace is faster)\n")
        print("| measure | implementation | ms | ratio |")
        print("|---|---|---:|---:|")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # polars' PolarsInefficientMapWarning on the baselines
            for name, df, impls in polars_cases(prows):
                want = getattr(fe, name)(*([df["p"]] if name == "entropy" else [df["p"], df["q"]]))
                for label, f in impls.items():
                    got = f().to_series().to_numpy()
                    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{name} {label}")
                t = time_side_by_side(impls, max(3, args.rounds // 2))
                results["polars"][name] = t
                base = t["fe (eager)"][args.stat]
                for label in impls:
                    v = t[label][args.stat]
                    print(f"| {name} | {label} | {v * 1e3:.2f} | {v / base:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
