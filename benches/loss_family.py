#!/usr/bin/env python3
"""The loss family against np.sum and its peers (issue 13): Markdown ratio tables.

    python benches/loss_family.py                      # every case: ~10 min on 2 idle cores
    python benches/loss_family.py --classes 2 10 --dtypes float32 --functions logsumexp,nll_loss
    python benches/loss_family.py --repeat 7 --no-torch

For each function, dtype and shape (N, C) with N·C = 10^7 (C in 1, 2, 3, 10, 100, 1000), in
the row layout (an (N, C) C-ordered array, ``axis=-1``) and the column layout (its (C, N)
transpose, C-ordered, with ``axis=0``: scipy's layout), plus 2048×32768 float32 rows, every
implementation runs in the same process on the same arrays, interleaved round by round (a
shared, noisy machine drifts alike for all of them). The number kept per implementation is the
minimum over the rounds; tables show it divided by the time of ``np.sum`` over the same
input(s) (the logits, and for the class-index losses the int64 labels too: one read of
everything the call must read). fastentropy and torch use all threads, np.sum one.

Peers: scipy.special (logsumexp, log_softmax, softmax; for the losses the scipy expression
built on scipy.special.logsumexp), the plain numpy expressions, and torch (``torch.logsumexp``,
``F.log_softmax``, ``F.softmax``, ``F.cross_entropy`` with ``backward()`` for the gradient,
``F.nll_loss``; given a transposed view for the column layout). torch is optional: its column
stays blank when it is not installed. Each peer's first result is compared with fastentropy's
(a mismatch is marked ``≠``: a benchmark of different work is no benchmark).

``main()`` prints the tables; ``tables(...)`` returns them as a string (importable).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.special

import fastentropy as fe

torch: Any = None
F: Any = None

ELEMENTS = 10**7
CLASSES = [1, 2, 3, 10, 100, 1000]
BIG = (2048, 32768)
FUNCTIONS = ["logsumexp", "log_softmax", "softmax", "softmax_cross_entropy", "softmax_cross_entropy+grad", "nll_loss",
             "softmax_cross_entropy[probs]", "softmax_cross_entropy[smoothing]"]
# the two variants: class-probability targets (rows summing to 1), and class indices with
# label_smoothing=0.1 — both "mean", against the same expressions in numpy / scipy / torch
SMOOTHING = 0.1
# Issue 13's targets, as fastentropy ÷ np.sum: short rows (C ≤ 3 / C > 3) and 2048×32768 f32.
SHORT_TARGET = {"logsumexp": (3.0, 2.0), "softmax_cross_entropy": (3.0, 2.0),
                "softmax_cross_entropy+grad": (3.0, 2.0), "nll_loss": (3.0, 2.0)}
BIG_TARGET = {"logsumexp": 1.6, "softmax_cross_entropy": 1.6, "softmax_cross_entropy+grad": 3.5, "log_softmax": 3.5}


def _load_torch() -> bool:
    global torch, F
    try:
        import torch as _torch
        import torch.nn.functional as _F
    except ImportError:
        return False
    torch, F = _torch, _F
    return True


@dataclass
class Case:
    function: str
    dtype: type
    layout: str  # "rows" or "columns"
    n: int
    c: int
    times: Dict[str, float] = field(default_factory=dict)
    mismatch: Dict[str, bool] = field(default_factory=dict)

    @property
    def label(self) -> str:
        shape = f"({self.n}, {self.c})" if self.layout == "rows" else f"({self.c}, {self.n}) axis=0"
        return f"{np.dtype(self.dtype).name} {shape}"

    def target(self) -> Optional[float]:
        if (self.n, self.c) == BIG:
            return BIG_TARGET.get(self.function)
        t = SHORT_TARGET.get(self.function)
        return None if t is None else (t[0] if self.c <= 3 else t[1])


def _scalar(v: Any) -> np.ndarray:
    if isinstance(v, tuple):  # (loss, grad)
        return np.concatenate([np.ravel(np.asarray(_scalar(x), np.float64)) for x in v])
    if torch is not None and isinstance(v, torch.Tensor):
        v = v.detach().numpy()
    return np.asarray(v, dtype=np.float64)


def _impls(case: Case, rng: np.random.Generator) -> Tuple[Dict[str, Callable[[], Any]], List[np.ndarray]]:
    """The callables of one case (fastentropy first, then np.sum, then the peers) and the inputs."""
    n, c, dt, rows = case.n, case.c, case.dtype, case.layout == "rows"
    x_rows = (rng.standard_normal((n, c)) * 3).astype(dt)
    x = x_rows if rows else np.ascontiguousarray(x_rows.T)  # (C, N) read with axis=0
    ax = -1 if rows else 0
    y = rng.integers(0, c, n).astype(np.int64)
    f = case.function
    labelled = f in ("softmax_cross_entropy", "softmax_cross_entropy+grad", "nll_loss",
                     "softmax_cross_entropy[smoothing]")
    if f == "nll_loss":  # log-probabilities
        x = (x - scipy.special.logsumexp(x, axis=ax, keepdims=True)).astype(dt)
    probs = f == "softmax_cross_entropy[probs]"
    if probs:
        tp = rng.random(x.shape).astype(dt)
        tp /= tp.sum(axis=ax, keepdims=True)
    inputs = [x, y] if labelled else [x, tp] if probs else [x]
    ar = np.arange(n)
    impl: Dict[str, Callable[[], Any]] = {}

    def pick(a: np.ndarray) -> np.ndarray:  # a[i, y_i] in either layout
        return a[ar, y] if rows else a[y, ar]

    if f == "logsumexp":
        impl["fastentropy"] = lambda: fe.logsumexp(x, axis=ax)
        impl["scipy"] = lambda: scipy.special.logsumexp(x, axis=ax)

        def np_lse() -> Any:
            m = x.max(axis=ax, keepdims=True)
            return (m + np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True))).squeeze(ax)

        impl["numpy"] = np_lse
    elif f in ("log_softmax", "softmax"):
        fe_f, sc_f = (fe.log_softmax, scipy.special.log_softmax) if f == "log_softmax" else (fe.softmax, scipy.special.softmax)
        impl["fastentropy"] = lambda: fe_f(x, axis=ax)
        impl["scipy"] = lambda: sc_f(x, axis=ax)

        def np_norm() -> Any:
            m = x.max(axis=ax, keepdims=True)
            e = np.exp(x - m)
            s = np.sum(e, axis=ax, keepdims=True)
            return (x - m - np.log(s)) if f == "log_softmax" else e / s

        impl["numpy"] = np_norm
    elif f == "softmax_cross_entropy":
        impl["fastentropy"] = lambda: fe.softmax_cross_entropy(x, y, axis=ax)
        impl["scipy"] = lambda: np.mean(scipy.special.logsumexp(x, axis=ax) - pick(x))

        def np_ce() -> Any:
            m = x.max(axis=ax, keepdims=True)
            lse = (m + np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True))).squeeze(ax)
            return np.mean(lse - pick(x))

        impl["numpy"] = np_ce
    elif f == "softmax_cross_entropy+grad":
        impl["fastentropy"] = lambda: fe.softmax_cross_entropy(x, y, axis=ax, return_grad=True)

        def sp_ceg() -> Any:
            lse = scipy.special.logsumexp(x, axis=ax, keepdims=True)
            g = scipy.special.softmax(x, axis=ax)
            if rows:
                g[ar, y] -= 1
            else:
                g[y, ar] -= 1
            g /= n
            return np.mean(lse.squeeze(ax) - pick(x)), g

        impl["scipy"] = sp_ceg

        def np_ceg() -> Any:
            m = x.max(axis=ax, keepdims=True)
            e = np.exp(x - m)
            s = np.sum(e, axis=ax, keepdims=True)
            loss = np.mean((m + np.log(s)).squeeze(ax) - pick(x))
            e /= s
            if rows:
                e[ar, y] -= 1
            else:
                e[y, ar] -= 1
            e /= n
            return loss, e

        impl["numpy"] = np_ceg
    elif f == "nll_loss":
        impl["fastentropy"] = lambda: fe.nll_loss(x, y, axis=ax)
        impl["numpy"] = lambda: -pick(x).mean()
    elif probs:
        impl["fastentropy"] = lambda: fe.softmax_cross_entropy(x, tp, axis=ax)
        impl["scipy"] = lambda: np.mean(scipy.special.logsumexp(x, axis=ax) - np.sum(tp * x, axis=ax))

        def np_cep() -> Any:
            m = x.max(axis=ax, keepdims=True)
            lse = (m + np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True))).squeeze(ax)
            return np.mean(lse - np.sum(tp * x, axis=ax))

        impl["numpy"] = np_cep
    elif f == "softmax_cross_entropy[smoothing]":
        impl["fastentropy"] = lambda: fe.softmax_cross_entropy(x, y, axis=ax, label_smoothing=SMOOTHING)

        def smoothed(lse: np.ndarray) -> Any:  # (1 − ε)(lse − z_y) + ε/C·Σ_c (lse − z_c)
            return np.mean(lse - (1 - SMOOTHING) * pick(x) - SMOOTHING / c * np.sum(x, axis=ax))

        impl["scipy"] = lambda: smoothed(scipy.special.logsumexp(x, axis=ax))

        def np_ces() -> Any:
            m = x.max(axis=ax, keepdims=True)
            return smoothed((m + np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True))).squeeze(ax))

        impl["numpy"] = np_ces
    else:
        raise ValueError(f)
    impl["np.sum"] = ((lambda: (np.sum(x), np.sum(y))) if labelled else (lambda: (np.sum(x), np.sum(tp))) if probs
                      else (lambda: np.sum(x)))
    if torch is not None:
        t = torch.from_numpy(x)
        tv = t if rows else t.T  # (N, C) view
        ty = torch.from_numpy(y)
        if f == "logsumexp":
            impl["torch"] = lambda: torch.logsumexp(t, dim=ax)
        elif f == "log_softmax":
            impl["torch"] = lambda: F.log_softmax(t, dim=ax)
        elif f == "softmax":
            impl["torch"] = lambda: F.softmax(t, dim=ax)
        elif f == "softmax_cross_entropy":
            impl["torch"] = lambda: F.cross_entropy(tv, ty)
        elif f == "softmax_cross_entropy+grad":
            leaf = t.clone().requires_grad_(True)
            lv = leaf if rows else leaf.T

            def torch_ceg() -> Any:
                leaf.grad = None
                loss = F.cross_entropy(lv, ty)
                loss.backward()
                return loss.detach(), leaf.grad

            impl["torch"] = torch_ceg
        elif f == "nll_loss":
            impl["torch"] = lambda: F.nll_loss(tv, ty)
        elif probs:
            tt = torch.from_numpy(tp)
            ttv = tt if rows else tt.T
            impl["torch"] = lambda: F.cross_entropy(tv, ttv)
        elif f == "softmax_cross_entropy[smoothing]":
            impl["torch"] = lambda: F.cross_entropy(tv, ty, label_smoothing=SMOOTHING)
    return impl, inputs


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(case: Case, repeat: int, rng: np.random.Generator) -> None:
    impl, _ = _impls(case, rng)
    ref = _scalar(impl["fastentropy"]())
    tol = 2e-4 if case.dtype == np.float32 else 1e-9
    for name, fn in impl.items():
        if name in ("fastentropy", "np.sum"):
            fn()
            continue
        got = _scalar(fn())
        case.mismatch[name] = got.shape != ref.shape or not np.allclose(got, ref, rtol=tol, atol=tol)
    best = {name: float("inf") for name in impl}
    for _ in range(repeat):
        for name, fn in impl.items():
            best[name] = min(best[name], _timed(fn))
    case.times = best


def cases(functions: Sequence[str], dtypes: Sequence[type], classes: Sequence[int], layouts: Sequence[str], big: bool) -> List[Case]:
    out = []
    for f in functions:
        for dt in dtypes:
            for lay in layouts:
                for c in classes:
                    out.append(Case(f, dt, lay, ELEMENTS // c, c))
        if big and f != "nll_loss":
            out.append(Case(f, np.float32, "rows", *BIG))
    return out


def _fmt(v: float) -> str:
    return f"{v:.2f}×" if v < 10 else f"{v:.0f}×"


def render(done: Sequence[Case], peers: Sequence[str]) -> str:
    lines: List[str] = []
    for f in dict.fromkeys(c.function for c in done):
        lines.append(f"\n### {f}\n")
        lines.append("time ÷ np.sum of the same input(s); fastentropy all threads. "
                     "*met*: the issue-13 target (≤ the ratio shown) and faster than every peer.\n")
        lines.append("| input | fastentropy | target | met | " + " | ".join(peers) + " |")
        lines.append("|---|---|---|---|" + "---|" * len(peers))
        for c in (c for c in done if c.function == f):
            base = c.times["np.sum"]
            fe_r = c.times["fastentropy"] / base
            tgt = c.target()
            cells = []
            beaten = True
            for p in peers:
                if p not in c.times:
                    cells.append("")
                    continue
                r = c.times[p] / base
                beaten &= c.times["fastentropy"] < c.times[p]
                cells.append(_fmt(r) + (" ≠" if c.mismatch.get(p) else ""))
            if tgt is None:
                met = "—"
            else:
                met = "yes" if (fe_r <= tgt and beaten) else ("no (peer faster)" if fe_r <= tgt else "no")
            lines.append(f"| {c.label} | {_fmt(fe_r)} | {'' if tgt is None else f'≤ {tgt:g}×'} | {met} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def header() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    tv = torch.__version__ if torch is not None else "not installed"
    return (f"## Loss family vs np.sum (issue 13)\n\n{cpu}, {os.cpu_count()} cores, "
            f"fastentropy {fe.__version__} ({fe.simd_isa()}, {fe.get_num_threads()} threads), "
            f"numpy {np.__version__}, scipy {scipy.__version__}, torch {tv}; "
            f"load average {os.getloadavg()[0]:.2f}\n")


def tables(functions: Sequence[str] = FUNCTIONS, dtypes: Sequence[type] = (np.float32, np.float64),
           classes: Sequence[int] = CLASSES, layouts: Sequence[str] = ("rows", "columns"),
           big: bool = True, repeat: int = 5, use_torch: bool = True, seed: int = 0,
           progress: bool = False) -> str:
    """Runs the cases and returns the Markdown report."""
    if use_torch and _load_torch():
        torch.set_num_threads(fe.get_num_threads())
    rng = np.random.default_rng(seed)
    todo = cases(functions, dtypes, classes, layouts, big)
    for i, c in enumerate(todo):
        if progress:
            print(f"[{i + 1}/{len(todo)}] {c.function} {c.label}", file=sys.stderr, flush=True)
        measure(c, repeat, rng)
    peers = ["scipy", "numpy"] + (["torch"] if torch is not None else [])
    return header() + render(todo, peers)


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--functions", default=",".join(FUNCTIONS), help="comma-separated subset of " + ", ".join(FUNCTIONS))
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--classes", nargs="+", type=int, default=CLASSES)
    ap.add_argument("--layouts", nargs="+", default=["rows", "columns"], choices=["rows", "columns"])
    ap.add_argument("--no-big", action="store_true", help="skip the 2048x32768 float32 case")
    ap.add_argument("--repeat", type=int, default=5, help="rounds per case (the minimum is kept)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--markdown", help="also write the report to this file")
    a = ap.parse_args(argv)
    funcs = [f for f in a.functions.split(",") if f]
    bad = [f for f in funcs if f not in FUNCTIONS]
    if bad:
        ap.error(f"unknown functions {bad}")
    report = tables(funcs, [np.dtype(d).type for d in a.dtypes], a.classes, a.layouts, not a.no_big,
                    a.repeat, not a.no_torch, progress=True)
    print(report)
    if a.markdown:
        with open(a.markdown, "w") as fh:
            fh.write(report)


if __name__ == "__main__":
    main()
