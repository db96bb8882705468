#!/usr/bin/env python3
"""fastentropy benchmarks: ratio tables against numpy, scipy and torch, side by side in one run.

    python benches/bench.py                 # full run: sizes 10 … 10^8, the loss family: ~4-5 min on 2 idle cores
    python benches/bench.py --quick         # sizes 10 … 10^7, softmax_cross_entropy only: under a minute
    python benches/bench.py --sizes 1e5 1e7 --functions entropy,kl_divergence --json /tmp/r.json

stdout is Markdown (a header describing the machine, then one table per section) that the README
can embed as is; progress goes to stderr; everything measured goes to JSON (default
benches/results.json next to this script). See benches/README.md for what each column means.

How it measures:
- Every implementation of one case (fastentropy at all threads and at 1 thread, the np.sum
  baseline, numpy, scipy, torch) is timed in the same process on the same arrays, interleaved
  round by round, so drift of a shared, noisy machine hits all of them alike. The number
  reported is the median of the samples; a sample loops a fast call until it lasts ~2 ms, and
  each implementation samples until it has its minimum count and has used its share of a
  per-case time budget (small sizes get many samples, 10^8 gets 3).
- The first call of each implementation is a warm-up; its result is checked against
  fastentropy's (a mismatch is reported: a benchmark of different work is no benchmark).
- Peak memory is the growth of the peak RSS (VmHWM, reset through /proc/self/clear_refs) over
  the RSS before the call, in a fresh subprocess per (size, dtype) group, because tracemalloc
  does not see Rust's (or torch's) allocations. The subprocess runs glibc with a fixed mmap
  threshold so memory freed by one implementation is returned before the next is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import importlib
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy
import scipy.spatial.distance
import scipy.special
import scipy.stats

import fastentropy as fe

torch: Any = None
F: Any = None
nk: Any = None  # numkong, optional (a SIMD library with KL/JS kernels; speed peer only)

HERE = Path(__file__).resolve().parent
FULL_SIZES = [10, 10**3, 10**5, 10**7, 10**8]
QUICK_MAX_SIZE = 10**7
DTYPES = [np.float32, np.float64]
MEASURES = ["entropy", "kl_divergence", "cross_entropy", "self_information"]
LOSS_FUNCS = [
    "softmax_cross_entropy",
    "softmax_cross_entropy+grad",
    "logsumexp",
    "log_softmax",
    "nll_loss",
    "binary_cross_entropy_with_logits",
]
LOSS_SHAPES = [(4096, 32768), (65536, 1000)]
MEASURE_PEERS = ["numpy", "scipy.stats", "scipy.special", "torch"]
LOSS_PEERS = ["numpy", "scipy", "torch"]
NOT_IMPL = "n/a (not implemented)"
FE = "fastentropy"
STAT = "median"  # set by --stat
FE1 = "fastentropy[1 thread]"
BASE = "np.sum"


# Companion scripts run as sections of this one: (section, script, argv with --quick, argv
# without). Each has its own `main(argv)` and prints its own Markdown tables.
COMPANIONS: List[Tuple[str, str, List[str], List[str]]] = [
    ("loss_family", "loss_family.py", [], []),
    ("logits", "logits.py", ["--quick", "--rounds", "5"], ["--rounds", "5"]),
    ("scorers", "scorers.py", ["--quick", "--rounds", "5"], ["--rounds", "5"]),
    ("pipelines", "pipelines.py", ["--quick"], []),
    ("mutual_information", "mutual_information.py", ["--sizes", "1e5", "1e6"], []),
]
SECTIONS = ["measures", "loss", "small", "rows", "flat", "batched"] + [c[0] for c in COMPANIONS]


class _Tee(io.TextIOBase):
    """A text stream writing to two others (a companion's tables go to the terminal and into the report)."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


NEARLY_EQUAL = "nearly equal"


def nearly_equal(p: np.ndarray, seed: int) -> np.ndarray:
    """q = p·(1 + δ) with δ uniform in ±5e-4: two distributions a drift check compares
    (D ≈ 4e-8). KL and JS take their exact forms there (the float32 fast forms only pay
    where the divergence is large against their rounding bound), so these rows time the
    other side of that choice."""
    delta = make_probs(p.size, np.float64, seed).reshape(p.shape)
    return (p * (1.0 + 1e-3 * (delta - 0.5))).astype(p.dtype)


def make_probs(n: int, dtype: Any, seed: int) -> np.ndarray:
    """n values in (0, 1], generated in place (no float64 temporary for float32).

    No zeros, so numpy's p*log(p) never meets 0*(-inf); zeros would also send
    fastentropy down its careful (special-value) path, which is not what is timed here.
    """
    rng = np.random.default_rng(seed)
    a = np.empty(n, dtype=dtype)
    rng.random(dtype=dtype, out=a)
    np.subtract(1, a, out=a)
    return a


def make_logits(shape: Tuple[int, int], seed: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.empty(shape, dtype=np.float32)
    rng.standard_normal(dtype=np.float32, out=x)
    x *= 3
    y = rng.integers(0, shape[1], size=shape[0], dtype=np.int64)
    return x, y


def make_bce_target(shape: Tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.empty(shape, dtype=np.float32)
    rng.random(dtype=np.float32, out=t)
    return t


# --------------------------------------------------------------------------- implementations
# Each builder returns {implementation name: (callable, description)}; fastentropy's entry is
# absent when the installed fastentropy lacks the function. All work a peer does to reach the
# same number (the normalisation included) is inside its callable; torch.from_numpy is not.


def fe_has(name: str) -> bool:
    return callable(getattr(fe, name, None))


def measure_impls(func: str, p: np.ndarray, q: np.ndarray, use_torch: bool) -> Dict[str, Tuple[Callable[[], Any], str]]:
    out: Dict[str, Tuple[Callable[[], Any], str]] = {}
    two = func in ("kl_divergence", "cross_entropy")
    pt = qt = None
    if use_torch:
        pt = torch.from_numpy(p)
        qt = torch.from_numpy(q)

    if func == "entropy":
        if fe_has("entropy"):
            out[FE] = (lambda: fe.entropy(p), "fastentropy.entropy(p)")

        def np_entropy() -> Any:
            s = p.sum()
            return np.log(s) - (p * np.log(p)).sum() / s

        out["numpy"] = (np_entropy, "S = p.sum(); log(S) - (p*log(p)).sum()/S")
        out["scipy.stats"] = (lambda: scipy.stats.entropy(p), "scipy.stats.entropy(p)")

        def sp_entropy() -> Any:
            s = p.sum()
            return np.log(s) + scipy.special.entr(p).sum() / s

        out["scipy.special"] = (sp_entropy, "log(S) + scipy.special.entr(p).sum()/S")
        if use_torch:

            def t_entropy() -> Any:
                s = pt.sum()
                return (torch.log(s) + torch.special.entr(pt).sum() / s).item()

            out["torch"] = (t_entropy, "log(S) + torch.special.entr(p).sum()/S")

    elif func == "kl_divergence":
        if fe_has("kl_divergence"):
            out[FE] = (lambda: fe.kl_divergence(p, q), "fastentropy.kl_divergence(p, q)")

        def np_kl() -> Any:
            sp, sq = p.sum(), q.sum()
            return (p * np.log(p / q)).sum() / sp + np.log(sq / sp)

        out["numpy"] = (np_kl, "(p*log(p/q)).sum()/Sp + log(Sq/Sp)")
        out["scipy.stats"] = (lambda: scipy.stats.entropy(p, q), "scipy.stats.entropy(p, q)")

        def sp_kl() -> Any:
            sp, sq = p.sum(), q.sum()
            return scipy.special.rel_entr(p, q).sum() / sp + np.log(sq / sp)

        out["scipy.special"] = (sp_kl, "scipy.special.rel_entr(p, q).sum()/Sp + log(Sq/Sp)")
        if use_torch:

            def t_kl() -> Any:
                sp, sq = pt.sum(), qt.sum()
                return (F.kl_div(torch.log(qt), pt, reduction="sum") / sp + torch.log(sq / sp)).item()

            out["torch"] = (t_kl, "F.kl_div(log(q), p, reduction='sum')/Sp + log(Sq/Sp)")

    elif func == "cross_entropy":
        if fe_has("cross_entropy"):
            out[FE] = (lambda: fe.cross_entropy(p, q), "fastentropy.cross_entropy(p, q)")

        def np_ce() -> Any:
            sp, sq = p.sum(), q.sum()
            return np.log(sq) - (p * np.log(q)).sum() / sp

        out["numpy"] = (np_ce, "log(Sq) - (p*log(q)).sum()/Sp")
        out["scipy.stats"] = (
            lambda: scipy.stats.entropy(p) + scipy.stats.entropy(p, q),
            "scipy.stats.entropy(p) + scipy.stats.entropy(p, q)",
        )

        def sp_ce() -> Any:
            sp, sq = p.sum(), q.sum()
            return np.log(sq) - scipy.special.xlogy(p, q).sum() / sp

        out["scipy.special"] = (sp_ce, "log(Sq) - scipy.special.xlogy(p, q).sum()/Sp")
        if use_torch:

            def t_ce() -> Any:
                sp, sq = pt.sum(), qt.sum()
                return (torch.log(sq) - torch.special.xlogy(pt, qt).sum() / sp).item()

            out["torch"] = (t_ce, "log(Sq) - torch.special.xlogy(p, q).sum()/Sp")

    elif func == "self_information":
        if fe_has("self_information"):
            out[FE] = (lambda: fe.self_information(p), "fastentropy.self_information(p)")

        def np_si() -> Any:
            r = np.log(p)
            return np.negative(r, out=r)

        out["numpy"] = (np_si, "r = log(p); negative(r, out=r)")
        if use_torch:
            out["torch"] = (lambda: torch.log(pt).neg_(), "torch.log(p).neg_()")
    else:
        raise ValueError(func)

    if two:
        out[BASE] = (lambda: (p.sum(), q.sum()), "p.sum(); q.sum()")
    else:
        out[BASE] = (lambda: p.sum(), "p.sum()")
    return out


ROW_FUNCS = ["entropy", "kl_divergence", "cross_entropy", "js_divergence"]
# opt-in (--row-functions, rows section only): the normalize=False sums, perplexity, entropy
# in bits and the JS distance (the values finished per chunk: a unit, e^H, a square root)
RAW_ROW_FUNCS = ["raw_entropy", "raw_kl_divergence", "raw_cross_entropy"]
EXTRA_ROW_FUNCS = ["perplexity", "entropy_bits", "js_distance"] + RAW_ROW_FUNCS
ROW_CS = [1, 2, 3, 10, 100, 1000]
ROW_ELEMENTS = 10**7
ROW_PEERS = ["numpy", "scipy", "torch", "numkong"]


def row_target(c: int) -> float:
    """Issue #13 target 1: fastentropy ÷ np.sum of the same input(s) (≤ 3× for C ≤ 3,
    which writes one result per row of at most three elements)."""
    return 3.0 if c <= 3 else 2.0


def row_impls(func: str, p: np.ndarray, q: np.ndarray, axis: int, use_torch: bool) -> Dict[str, Tuple[Callable[[], Any], str]]:
    """The per-row measures over 2-D inputs along `axis` (-1: (N, C) rows; 0: the (C, N)
    transpose, scipy's layout). Every peer normalises along the axis as fastentropy does."""
    if func in RAW_ROW_FUNCS:
        return raw_row_impls(func, p, q, axis, use_torch)
    out: Dict[str, Tuple[Callable[[], Any], str]] = {}
    two = func not in ("entropy", "perplexity", "entropy_bits")
    dim = 1 if axis in (-1, 1) else 0
    pt = qt = None
    if use_torch:
        pt = torch.from_numpy(p)
        qt = torch.from_numpy(q)
        if dim == 0:  # torch's distribution axis is the last one: a transposed view
            pt, qt = pt.T, qt.T

    def norm(x: np.ndarray) -> np.ndarray:
        return x / x.sum(axis=axis, keepdims=True)

    # numpy's expressions, shared by the measures and their finished forms (bits, e^H, √)
    def np_h() -> Any:
        s = p.sum(axis=axis)
        return np.log(s) - (p * np.log(p)).sum(axis=axis) / s

    def np_js() -> Any:
        pn, qn = norm(p), norm(q)
        m = 0.5 * (pn + qn)
        return 0.5 * ((pn * np.log(pn / m)).sum(axis=axis) + (qn * np.log(qn / m)).sum(axis=axis))

    if func == "entropy":
        out[FE] = (lambda: fe.entropy(p, axis=axis), f"fe.entropy(p, axis={axis})")
        out["scipy"] = (lambda: scipy.stats.entropy(p, axis=axis), "scipy.stats.entropy(p, axis)")
        out["numpy"] = (np_h, "log(S) - (p*log p).sum(axis)/S")
        if use_torch:
            out["torch"] = (lambda: torch.distributions.Categorical(probs=pt).entropy(), "Categorical(probs=p).entropy()")
    elif func == "perplexity":
        out[FE] = (lambda: fe.perplexity(p, axis=axis), f"fe.perplexity(p, axis={axis})")
        out["scipy"] = (lambda: np.exp(scipy.stats.entropy(p, axis=axis)), "exp(scipy.stats.entropy(p, axis))")
        out["numpy"] = (lambda: np.exp(np_h()), "exp(log(S) - (p*log p).sum(axis)/S)")
        if use_torch:
            out["torch"] = (lambda: torch.distributions.Categorical(probs=pt).perplexity(), "Categorical(probs=p).perplexity()")
    elif func == "entropy_bits":
        out[FE] = (lambda: fe.entropy(p, axis=axis, base=2), f"fe.entropy(p, axis={axis}, base=2)")
        out["scipy"] = (lambda: scipy.stats.entropy(p, axis=axis, base=2), "scipy.stats.entropy(p, axis, base=2)")
        out["numpy"] = (lambda: np_h() / np.log(2), "(log(S) - (p*log p).sum(axis)/S) / log 2")
        if use_torch:
            out["torch"] = (lambda: torch.distributions.Categorical(probs=pt).entropy() / math.log(2), "Categorical(probs=p).entropy() / ln 2")
    elif func == "kl_divergence":
        out[FE] = (lambda: fe.kl_divergence(p, q, axis=axis), f"fe.kl_divergence(p, q, axis={axis})")
        out["scipy"] = (lambda: scipy.special.rel_entr(norm(p), norm(q)).sum(axis=axis), "rel_entr(P, Q).sum(axis)")

        def np_kl() -> Any:
            pn, qn = norm(p), norm(q)
            return (pn * np.log(pn / qn)).sum(axis=axis)

        out["numpy"] = (np_kl, "(P*log(P/Q)).sum(axis)")
        if use_torch:

            def t_kl() -> Any:
                pn, qn = pt / pt.sum(-1, keepdim=True), qt / qt.sum(-1, keepdim=True)
                return F.kl_div(torch.log(qn), pn, reduction="none").sum(-1)

            out["torch"] = (t_kl, "F.kl_div(log Q, P, reduction='none').sum(-1)")
        if nk is not None and dim == 1 and p.flags.c_contiguous:
            out["numkong"] = (lambda: np.asarray(nk.kullbackleibler(p, q)), "numkong.kullbackleibler(p, q) (unnormalised)")
    elif func == "cross_entropy":
        out[FE] = (lambda: fe.cross_entropy(p, q, axis=axis), f"fe.cross_entropy(p, q, axis={axis})")
        out["scipy"] = (lambda: -scipy.special.xlogy(norm(p), norm(q)).sum(axis=axis), "-xlogy(P, Q).sum(axis)")

        def np_ce() -> Any:
            return -(norm(p) * np.log(norm(q))).sum(axis=axis)

        out["numpy"] = (np_ce, "-(P*log Q).sum(axis)")
        if use_torch:

            def t_ce() -> Any:
                pn, qn = pt / pt.sum(-1, keepdim=True), qt / qt.sum(-1, keepdim=True)
                return -torch.special.xlogy(pn, qn).sum(-1)

            out["torch"] = (t_ce, "-xlogy(P, Q).sum(-1)")
    elif func == "js_divergence":
        out[FE] = (lambda: fe.js_divergence(p, q, axis=axis), f"fe.js_divergence(p, q, axis={axis})")
        out["scipy"] = (lambda: scipy.spatial.distance.jensenshannon(p, q, axis=axis) ** 2, "jensenshannon(p, q, axis)**2")
        out["numpy"] = (np_js, "½Σ P ln(P/M) + ½Σ Q ln(Q/M)")
        if nk is not None and dim == 1 and p.flags.c_contiguous:
            out["numkong"] = (lambda: np.square(np.asarray(nk.jensenshannon(p, q))), "numkong.jensenshannon(p, q)**2 (unnormalised)")
    elif func == "js_distance":
        out[FE] = (lambda: fe.js_distance(p, q, axis=axis), f"fe.js_distance(p, q, axis={axis})")
        out["scipy"] = (lambda: scipy.spatial.distance.jensenshannon(p, q, axis=axis), "jensenshannon(p, q, axis)")
        out["numpy"] = (lambda: np.sqrt(np_js()), "sqrt(½Σ P ln(P/M) + ½Σ Q ln(Q/M))")
        if nk is not None and dim == 1 and p.flags.c_contiguous:
            out["numkong"] = (lambda: np.asarray(nk.jensenshannon(p, q)), "numkong.jensenshannon(p, q) (unnormalised)")
    else:
        raise ValueError(func)
    if two:
        out[BASE] = (lambda: (p.sum(), q.sum()), "p.sum(); q.sum()")
    else:
        out[BASE] = (lambda: p.sum(), "p.sum()")
    return out


def raw_row_impls(func: str, p: np.ndarray, q: np.ndarray, axis: int, use_torch: bool) -> Dict[str, Tuple[Callable[[], Any], str]]:
    """The raw sums along `axis` (``normalize=False``): scipy.special's entr / rel_entr /
    −xlogy summed, what a user who already holds probabilities calls."""
    out: Dict[str, Tuple[Callable[[], Any], str]] = {}
    dim = -1 if axis in (-1, 1) else 0
    pt = torch.from_numpy(p) if use_torch else None
    qt = torch.from_numpy(q) if use_torch else None
    if func == "raw_entropy":
        out[FE] = (lambda: fe.entropy(p, axis=axis, normalize=False), f"fe.entropy(p, axis={axis}, normalize=False)")
        out["scipy"] = (lambda: scipy.special.entr(p).sum(axis=axis), "entr(p).sum(axis)")
        out["numpy"] = (lambda: -(p * np.log(p)).sum(axis=axis), "-(p*log p).sum(axis)")
        if use_torch:
            out["torch"] = (lambda: torch.special.entr(pt).sum(dim), "special.entr(p).sum(dim)")
    elif func == "raw_kl_divergence":
        out[FE] = (lambda: fe.kl_divergence(p, q, axis=axis, normalize=False), f"fe.kl_divergence(p, q, axis={axis}, normalize=False)")
        out["scipy"] = (lambda: scipy.special.rel_entr(p, q).sum(axis=axis), "rel_entr(p, q).sum(axis)")
        out["numpy"] = (lambda: (p * np.log(p / q)).sum(axis=axis), "(p*log(p/q)).sum(axis)")
        if use_torch:
            out["torch"] = (lambda: F.kl_div(torch.log(qt), pt, reduction="none").sum(dim), "F.kl_div(log q, p, reduction='none').sum(dim)")
    elif func == "raw_cross_entropy":
        out[FE] = (lambda: fe.cross_entropy(p, q, axis=axis, normalize=False), f"fe.cross_entropy(p, q, axis={axis}, normalize=False)")
        out["scipy"] = (lambda: -scipy.special.xlogy(p, q).sum(axis=axis), "-xlogy(p, q).sum(axis)")
        out["numpy"] = (lambda: -(p * np.log(q)).sum(axis=axis), "-(p*log q).sum(axis)")
        if use_torch:
            out["torch"] = (lambda: -torch.special.xlogy(pt, qt).sum(dim), "-xlogy(p, q).sum(dim)")
    else:
        raise ValueError(func)
    if func == "raw_entropy":
        out[BASE] = (lambda: p.sum(), "p.sum()")
    else:
        out[BASE] = (lambda: (p.sum(), q.sum()), "p.sum(); q.sum()")
    return out


def loss_impls(func: str, x: np.ndarray, y: np.ndarray, t: Optional[np.ndarray], use_torch: bool) -> Dict[str, Tuple[Callable[[], Any], str]]:
    out: Dict[str, Tuple[Callable[[], Any], str]] = {}
    n = x.shape[0]
    xt = yt = tt = None
    if use_torch:
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y)
        if t is not None:
            tt = torch.from_numpy(t)

    def np_lse() -> np.ndarray:
        m = x.max(axis=1, keepdims=True)
        e = np.subtract(x, m)
        np.exp(e, out=e)
        return np.log(e.sum(axis=1)) + m[:, 0]

    if func == "softmax_cross_entropy":
        if fe_has("softmax_cross_entropy"):
            out[FE] = (lambda: fe.softmax_cross_entropy(x, y), "fastentropy.softmax_cross_entropy(x, y)")
        out["numpy"] = (lambda: (np_lse() - x[np.arange(n), y]).mean(), "(logsumexp(x) - x[arange(N), y]).mean(), max-shifted")
        out["scipy"] = (
            lambda: -(scipy.special.log_softmax(x, axis=1)[np.arange(n), y]).mean(),
            "-(scipy.special.log_softmax(x, axis=1)[arange(N), y]).mean()",
        )
        if use_torch:
            out["torch"] = (lambda: F.cross_entropy(xt, yt).item(), "F.cross_entropy(x, y)")

    elif func == "softmax_cross_entropy+grad":
        if fe_has("softmax_cross_entropy"):
            out[FE] = (
                lambda: fe.softmax_cross_entropy(x, y, return_grad=True),
                "fastentropy.softmax_cross_entropy(x, y, return_grad=True)",
            )

        def sp_grad() -> Tuple[Any, np.ndarray]:
            ls = scipy.special.log_softmax(x, axis=1)
            rows = np.arange(n)
            loss = -ls[rows, y].mean()
            g = np.exp(ls, out=ls)
            g[rows, y] -= 1
            g /= n
            return loss, g

        out["scipy"] = (sp_grad, "ls = log_softmax(x); loss = -ls[arange(N), y].mean(); grad = (exp(ls) - onehot)/N")
        if use_torch:
            xg = xt.detach().clone().requires_grad_(True)

            def t_grad() -> Tuple[Any, Any]:
                xg.grad = None
                loss = F.cross_entropy(xg, yt)
                loss.backward()
                return loss.item(), xg.grad

            out["torch"] = (t_grad, "F.cross_entropy(x, y).backward()  (x.grad)")

    elif func == "logsumexp":
        if fe_has("logsumexp"):
            out[FE] = (lambda: fe.logsumexp(x), "fastentropy.logsumexp(x)")
        out["numpy"] = (np_lse, "m + log(exp(x - m).sum(1)), m = x.max(1)")
        out["scipy"] = (lambda: scipy.special.logsumexp(x, axis=1), "scipy.special.logsumexp(x, axis=1)")
        if use_torch:
            out["torch"] = (lambda: torch.logsumexp(xt, dim=1), "torch.logsumexp(x, dim=1)")

    elif func == "log_softmax":
        if fe_has("log_softmax"):
            out[FE] = (lambda: fe.log_softmax(x), "fastentropy.log_softmax(x)")
        out["numpy"] = (lambda: x - np_lse()[:, None], "x - logsumexp(x)[:, None]")
        out["scipy"] = (lambda: scipy.special.log_softmax(x, axis=1), "scipy.special.log_softmax(x, axis=1)")
        if use_torch:
            out["torch"] = (lambda: torch.log_softmax(xt, dim=1), "torch.log_softmax(x, dim=1)")

    elif func == "nll_loss":
        # x stands in for log-probabilities: nll_loss only gathers and averages.
        if fe_has("nll_loss"):
            out[FE] = (lambda: fe.nll_loss(x, y), "fastentropy.nll_loss(x, y)")
        out["numpy"] = (lambda: -x[np.arange(n), y].mean(), "-x[arange(N), y].mean()")
        if use_torch:
            out["torch"] = (lambda: F.nll_loss(xt, yt).item(), "F.nll_loss(x, y)")

    elif func == "binary_cross_entropy_with_logits":
        assert t is not None
        if fe_has("binary_cross_entropy_with_logits"):
            out[FE] = (
                lambda: fe.binary_cross_entropy_with_logits(x, t),
                "fastentropy.binary_cross_entropy_with_logits(x, t)",
            )
        out["numpy"] = (
            lambda: np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))),
            "mean(max(x,0) - x*t + log1p(exp(-|x|)))",
        )
        # t*log_expit(x) + (1-t)*log_expit(-x) = log_expit(-x) + t*x: one log_expit, not two
        out["scipy"] = (
            lambda: np.mean(-scipy.special.log_expit(-x) - t * x),
            "mean(-log_expit(-x) - t*x)",
        )
        if use_torch:
            out["torch"] = (lambda: F.binary_cross_entropy_with_logits(xt, tt).item(), "F.binary_cross_entropy_with_logits(x, t)")
    else:
        raise ValueError(func)
    return out


# --------------------------------------------------------------------------- timing


@dataclass
class Timer:
    name: str
    fn: Callable[[], Any]
    setup: Optional[Callable[[], None]] = None
    teardown: Optional[Callable[[], None]] = None
    number: int = 1
    wanted: int = 0
    samples: List[float] = field(default_factory=list)
    result: Any = None
    error: Optional[str] = None

    def sample(self) -> float:
        if self.setup:
            self.setup()
        fn, k = self.fn, self.number
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        dt = time.perf_counter() - t0
        if self.teardown:
            self.teardown()
        return dt

    def median(self) -> Optional[float]:
        return statistics.median(self.samples) if self.samples else None

    def stat(self) -> Optional[float]:
        """The statistic the tables report: the median (default) or, with --stat min, the minimum."""
        if not self.samples:
            return None
        return min(self.samples) if STAT == "min" else statistics.median(self.samples)


@dataclass
class Settings:
    case_budget: float  # seconds for all samples of one case (all implementations)
    min_samples: int  # samples of a call under 0.25 s
    max_samples: int
    min_samples_slow: int = 3  # samples of a call of 0.25 s or more
    sample_min_time: float = 2e-3  # a sample loops a fast call until it lasts this long


def summarize(res: Any) -> Any:
    """A small, comparable digest of a result (scalars; a few elements of arrays)."""
    if isinstance(res, tuple):
        return tuple(summarize(r) for r in res)
    if torch is not None and isinstance(res, torch.Tensor):
        res = res.detach()
        res = res.numpy() if res.dim() else res.item()
    if isinstance(res, np.ndarray) and res.ndim > 0:
        flat = res.reshape(-1)
        if flat.size > 2000:
            flat = np.concatenate([flat[:1000], flat[-1000:]])
        return np.array(flat, dtype=np.float64)
    return float(res)


def agree(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        if not (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)):
            return False
        return all(agree(x, y, rtol) for x, y in zip(a, b))
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, 1e-300)
    # an absolute floor of a few ULP of 1: one-element rows are exactly 0 here, while
    # the peers' log(S) − Σ p log p / S leaves ±1e-16 of rounding
    atol = max(rtol * scale * 1e-3, 1e-15)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def time_case(timers: List[Timer], st: Settings) -> None:
    """Warm up and calibrate every timer, then sample them interleaved, round by round.

    Calibration: the warm-up call gives a first estimate of one call's time; a call under
    20 ms is then probed three times with loops of ~sample_min_time and the smallest per-call
    time is kept (on a busy machine a single probe is often inflated by a preemption, which
    would otherwise give too few calls per sample and too few samples). A call of 0.25 s or
    more counts its warm-up as the first sample (its first-touch costs recur on every call).
    """
    per_impl = st.case_budget / max(1, len(timers))
    for tm in timers:
        try:
            if tm.setup:
                tm.setup()
            t0 = time.perf_counter()
            res = tm.fn()
            one = time.perf_counter() - t0
            if tm.teardown:
                tm.teardown()
            tm.result = summarize(res)
            del res
        except Exception as exc:  # noqa: BLE001 - reported in the table and the notes
            tm.error = f"{type(exc).__name__}: {exc}"
            if tm.teardown:
                tm.teardown()
            continue
        est = one
        if one < 0.02:
            for _ in range(3):
                tm.number = max(1, math.ceil(st.sample_min_time / max(est, 1e-8)))
                est = min(est, tm.sample() / tm.number)
            tm.number = max(1, math.ceil(st.sample_min_time / max(est, 1e-8)))
        elif one >= 0.25:
            tm.samples.append(one)
        tm.wanted = st.min_samples if est * tm.number < 0.25 else st.min_samples_slow
    # Each implementation takes samples until it has its minimum count and has used its share
    # of the budget (or has max_samples): time-based, so a call that turns out slower than its
    # calibration (a busy machine) does not blow the budget.
    live = [tm for tm in timers if tm.error is None]
    spent = {id(tm): 0.0 for tm in live}
    gcold = gc.isenabled()
    gc.disable()
    try:
        while True:
            pending = [
                tm for tm in live
                if len(tm.samples) < tm.wanted or (len(tm.samples) < st.max_samples and spent[id(tm)] < per_impl)
            ]
            if not pending:
                break
            for tm in pending:
                dt = tm.sample()
                spent[id(tm)] += dt
                tm.samples.append(dt / tm.number)
    finally:
        if gcold:
            gc.enable()


# --------------------------------------------------------------------------- memory


def _status_bytes(name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{name} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_growth(fn: Callable[[], Any]) -> int:
    """Peak RSS during fn() minus the RSS before it, in bytes (result kept alive until then)."""
    gc.collect()
    base = _status_bytes("VmRSS")
    if _reset_peak():
        res = fn()
        peak = _status_bytes("VmHWM")
    else:  # fall back to polling VmRSS (all measured calls release the GIL on big arrays)
        peak = base
        stop = threading.Event()

        def poll() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _status_bytes("VmRSS"))
                time.sleep(0.0005)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        res = fn()
        peak = max(peak, _status_bytes("VmRSS"))
        stop.set()
        th.join()
    del res
    gc.collect()
    return max(0, peak - base)


def mem_worker(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Runs in a fresh subprocess: peak RSS growth of each (function, implementation) of a group."""
    use_torch = spec["torch"] and _load_torch()
    gc.collect()
    gc.freeze()  # the imports' objects (torch's: ~200k) out of the collector's way: gc.collect() in µs
    fe.set_num_threads(spec["threads"])
    if use_torch:
        torch.set_num_threads(spec["threads"])
    out: Dict[str, Dict[str, Any]] = {}
    if spec["kind"] == "measures":
        dtype = np.dtype(spec["dtype"]).type
        # Warm-up on small arrays (above fastentropy's parallel threshold), so one-time
        # allocations (thread pools, lazily initialised kernels) are not charged to the call.
        wp, wq = make_probs(1 << 18, dtype, 1), make_probs(1 << 18, dtype, 2)
        for func in spec["functions"]:
            for fn, _ in measure_impls(func, wp, wq, use_torch).values():
                fn()
        del wp, wq
        p = make_probs(spec["n"], dtype, 1)
        q = make_probs(spec["n"], dtype, 2)
        for func in spec["functions"]:
            impls = measure_impls(func, p, q, use_torch)
            impls.pop(BASE, None)
            out[func] = _mem_each(impls)
            del impls
    else:
        shape = tuple(spec["shape"])
        need_t = "binary_cross_entropy_with_logits" in spec["functions"]
        wx, wy = make_logits((64, shape[1]), 3)
        wt = make_bce_target((64, shape[1]), 4) if need_t else None
        for func in spec["functions"]:
            for fn, _ in loss_impls(func, wx, wy, wt, use_torch).values():
                fn()
        del wx, wy, wt
        x, y = make_logits(shape, 3)  # type: ignore[arg-type]
        t = make_bce_target(shape, 4) if need_t else None  # type: ignore[arg-type]
        for func in spec["functions"]:
            impls = loss_impls(func, x, y, t, use_torch)
            out[func] = _mem_each(impls)
            del impls
    return out


def _mem_each(impls: Dict[str, Tuple[Callable[[], Any], str]]) -> Dict[str, Any]:
    res: Dict[str, Any] = {}
    for name, (fn, _) in impls.items():  # fastentropy first: dict order
        try:
            res[name] = peak_growth(fn)
        except Exception as exc:  # noqa: BLE001
            res[name] = f"{type(exc).__name__}: {exc}"
    return res


def run_mem_subprocess(spec: Dict[str, Any]) -> Dict[str, Any]:
    env = dict(os.environ)
    # A fixed mmap threshold: every allocation >= 64 KiB is its own mapping, returned to the OS
    # when freed, so one implementation's freed buffers do not hide the next one's growth.
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_mem-worker", json.dumps(spec)]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "memory subprocess timed out"}
    if cp.returncode != 0:
        return {"error": f"memory subprocess failed ({cp.returncode}): {cp.stderr.strip()[-500:]}"}
    return json.loads(cp.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- formatting


def fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "—"
    if s < 1e-6:
        return f"{s * 1e9:.3g} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_ratio(r: Optional[float]) -> str:
    if r is None or not math.isfinite(r):
        return "—"
    return f"{r:.3g}×" if r < 100 else f"{r:.0f}×"


def fmt_n(n: int) -> str:
    k = round(math.log10(n)) if n > 0 else 0
    if n >= 1000 and 10**k == n:
        return f"10^{k}"
    return f"{n:,}"


def fmt_mb(b: Any) -> str:
    if b is None:
        return "—"
    if isinstance(b, str):
        return "error"
    return f"{b / 2**20:.1f} MB" if b < 2**30 else f"{b / 2**30:.2f} GB"


def md_table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_seconds() -> float:
    """CPU time of this process and its finished subprocesses (user + system)."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def loadavg() -> Optional[List[float]]:
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return None


def busy_note(load: Optional[List[float]], cores: int, when: str) -> str:
    if load is None:
        return ""
    s = f"load average {when}: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min) on {cores} cores"
    if load[0] > 0.75 * cores:
        s += " — ⚠ the machine was busy with other work: expect noisy ratios; rerun, or compare `--stat min`"
    return s


def machine_info(threads: int) -> Dict[str, Any]:
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count() or 1
    info = {
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_available": avail,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastentropy": getattr(fe, "__version__", "?"),
        "fastentropy_path": str(Path(fe.__file__).parent),
        "simd_isa": fe.simd_isa(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "threads": threads,
        "loadavg_start": loadavg(),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    return info


def header_md(info: Dict[str, Any], args: argparse.Namespace) -> str:
    torch_s = f"torch {info['torch']} (torch.set_num_threads({info['threads']}))" if info["torch"] else "torch: not installed — its columns are blank"
    return "\n".join(
        [
            "## fastentropy benchmarks",
            "",
            f"- CPU: {info['cpu']}, {info['cores_available']} cores available ({info['cores_logical']} logical), {info['memory_gb']} GB RAM",
            f"- fastentropy {info['fastentropy']}, SIMD: `{info['simd_isa']}`, {info['threads']} threads (1 thread for the scaling column)",
            f"- numpy {info['numpy']}, scipy {info['scipy']} (both single-threaded here), {torch_s}",
            f"- Python {info['python']}, {info['platform']}, {info['date']}; mode: {'--quick' if args.quick else 'full'}, statistic: {STAT}",
            f"- {busy_note(info['loadavg_start'], info['cores_available'], 'at the start')}",
            "",
            "Ratios are the point, not absolute times (the machine is shared and noisy). Each cell is the median of",
            "interleaved repeated runs (`--stat min`: the minimum); a peer's cell is **its time ÷ fastentropy's** (above 1: fastentropy is faster).",
            "",
        ]
    )


# --------------------------------------------------------------------------- sections


def _load_numkong() -> bool:
    global nk
    try:
        import numkong as _nk
    except Exception:  # noqa: BLE001 - numkong is optional
        return False
    nk = _nk
    return True


def _load_torch() -> bool:
    global torch, F
    try:
        import torch as _torch
        import torch.nn.functional as _F
    except Exception:  # noqa: BLE001 - torch is optional
        return False
    torch, F = _torch, _F
    return True


class Runner:
    def __init__(self, args: argparse.Namespace, st: Settings) -> None:
        self.args = args
        self.st = st
        self.threads: int = args.threads
        self.use_torch = torch is not None
        self.notes: List[str] = []
        self._warm = np.ones(1 << 18)

    # fastentropy at 1 thread: switch outside the timed loop; switching back rebuilds the
    # pool, which is woken up by an untimed call so the next all-threads sample is not charged.
    def _fe1_setup(self) -> None:
        fe.set_num_threads(1)

    def _fe1_teardown(self) -> None:
        fe.set_num_threads(self.threads)
        fe.entropy(self._warm)

    def timers_for(self, impls: Dict[str, Tuple[Callable[[], Any], str]]) -> List[Timer]:
        """Timers in the order of one round: torch first and fastentropy last, so the samples
        taken right after torch's (whose OpenMP workers spin for a while after a parallel
        region, taking a core of a 2-core machine) are not fastentropy's."""
        timers: List[Timer] = []
        order = sorted((name for name in impls if name != FE), key=lambda name: name != "torch")
        for name in order:
            fn = impls[name][0]
            # Each round runs the baseline right after the numpy / scipy peers, whose N×C
            # temporaries evict the inputs from the last-level cache, and fastentropy right
            # after the baseline, which has just read them: on a machine whose L3 holds the
            # inputs (this Xeon's 300 MiB) fastentropy read from cache, the baseline from
            # memory — p.sum(); q.sum() of two (10^6, 10) float64 arrays took 4.5–12.4 ms
            # depending on what ran before (2026-12-05). An untimed call first gives the
            # baseline's samples the state fastentropy's start from.
            timers.append(Timer(name, fn, setup=fn if name == BASE else None))
        if FE in impls:
            timers.append(Timer(FE, impls[FE][0]))
            if self.threads > 1:
                timers.append(Timer(FE1, impls[FE][0], setup=self._fe1_setup, teardown=self._fe1_teardown))
        return timers

    def check(self, where: str, timers: List[Timer], rtol: float) -> Dict[str, Optional[bool]]:
        ref_t = next((tm for tm in timers if tm.name == FE and tm.error is None), None)
        if ref_t is None:
            ref_t = next((tm for tm in timers if tm.name not in (FE, FE1, BASE) and tm.error is None), None)
        ok: Dict[str, Optional[bool]] = {}
        for tm in timers:
            if tm.name == BASE or ref_t is None or tm is ref_t:
                continue
            if tm.error is not None:
                ok[tm.name] = None
                self.notes.append(f"{where}: {tm.name} raised {tm.error}")
                continue
            ok[tm.name] = agree(ref_t.result, tm.result, rtol)
            if not ok[tm.name]:
                self.notes.append(f"{where}: {tm.name} disagrees with {ref_t.name} (rtol {rtol:g}): {_short(tm.result)} vs {_short(ref_t.result)}")
        return ok

    # ---- measures
    def run_measures(self, sizes: List[int], functions: List[str]) -> List[Dict[str, Any]]:
        rows: List[Dict[str, Any]] = []
        for n in sizes:
            for dtype in DTYPES:
                dname = np.dtype(dtype).name
                log(f"[measures] n={fmt_n(n)} {dname}: generating")
                p = make_probs(n, dtype, 1)
                q = make_probs(n, dtype, 2)
                for func in functions:
                    t0 = time.perf_counter()
                    impls = measure_impls(func, p, q, self.use_torch)
                    timers = self.timers_for(impls)
                    time_case(timers, self.st)
                    rtol = 2e-4 if dtype is np.float32 else 1e-9
                    if func == "self_information":
                        rtol = 2e-6 if dtype is np.float32 else 1e-12
                    ok = self.check(f"{func} {dname} n={fmt_n(n)}", timers, rtol)
                    row = self._row(timers, impls, ok)
                    row.update(function=func, dtype=dname, n=n, input_bytes=(2 if func in ("kl_divergence", "cross_entropy") else 1) * p.nbytes)
                    rows.append(row)
                    log(f"  {func:<17} fe {fmt_time(row['fastentropy']['time_s']) if row['fastentropy'] else NOT_IMPL:>12}"
                        f"  ({time.perf_counter() - t0:.1f} s)")
                    del impls, timers
                    gc.collect()
                del p, q
                gc.collect()
        return rows

    def _row(self, timers: List[Timer], impls: Dict[str, Tuple[Callable[[], Any], str]], ok: Dict[str, Optional[bool]]) -> Dict[str, Any]:
        by = {tm.name: tm for tm in timers}
        fe_t = by.get(FE)
        fe_time = fe_t.stat() if fe_t else None

        def rec(tm: Timer) -> Dict[str, Any]:
            return {
                "time_s": tm.stat(),
                "median_s": tm.median(),
                "min_s": min(tm.samples) if tm.samples else None,
                "samples": len(tm.samples),
                "calls_per_sample": tm.number,
                "spread": _spread(tm.samples),
                "error": tm.error,
            }

        row: Dict[str, Any] = {"fastentropy": None, "fastentropy_1thread": None, "baseline": None, "peers": {}}
        if fe_t:
            row["fastentropy"] = rec(fe_t)
            row["fastentropy"]["expr"] = impls[FE][1]
        if FE1 in by:
            r1 = rec(by[FE1])
            r1["speedup_n_threads"] = _div(r1["time_s"], fe_time)
            row["fastentropy_1thread"] = r1
        if BASE in by:
            rb = rec(by[BASE])
            rb["expr"] = impls[BASE][1]
            rb["fastentropy_over_baseline"] = _div(fe_time, rb["time_s"])
            row["baseline"] = rb
        for name, tm in by.items():
            if name in (FE, FE1, BASE):
                continue
            r = rec(tm)
            r["expr"] = impls[name][1]
            r["ratio"] = _div(r["time_s"], fe_time)
            r["ratio_vs_fastentropy_1thread"] = _div(r["time_s"], row["fastentropy_1thread"]["time_s"] if row["fastentropy_1thread"] else None)
            r["agrees"] = ok.get(name)
            row["peers"][name] = r
        return row

    def run_measure_memory(self, sizes: List[int], functions: List[str]) -> List[Dict[str, Any]]:
        out = []
        for n in sizes:
            for dtype in DTYPES:
                dname = np.dtype(dtype).name
                log(f"[memory] n={fmt_n(n)} {dname}: fresh subprocess")
                spec = {"kind": "measures", "n": n, "dtype": dname, "functions": functions, "threads": self.threads, "torch": self.use_torch}
                t0 = time.perf_counter()
                res = run_mem_subprocess(spec)
                log(f"  ({time.perf_counter() - t0:.1f} s)")
                if "error" in res:
                    self.notes.append(f"memory n={fmt_n(n)} {dname}: {res['error']}")
                    continue
                for func in functions:
                    nb = np.dtype(dtype).itemsize * n * (2 if func in ("kl_divergence", "cross_entropy") else 1)
                    out.append({"function": func, "dtype": dname, "n": n, "input_bytes": nb, "peak_rss_growth_bytes": res.get(func, {})})
        return out

    # ---- loss
    def run_loss(self, plan: List[Tuple[Tuple[int, int], List[str]]]) -> List[Dict[str, Any]]:
        rows: List[Dict[str, Any]] = []
        for shape, functions in plan:
            log(f"[loss] shape={shape[0]}x{shape[1]} float32: generating")
            x, y = make_logits(shape, 3)
            t = make_bce_target(shape, 4) if "binary_cross_entropy_with_logits" in functions else None
            for func in functions:
                t0 = time.perf_counter()
                impls = loss_impls(func, x, y, t, self.use_torch)
                timers = self.timers_for(impls)
                time_case(timers, self.st)
                ok = self.check(f"{func} {shape[0]}x{shape[1]}", timers, 2e-4)
                row = self._row(timers, impls, ok)
                row.update(function=func, shape=list(shape), dtype="float32", implemented=FE in impls)
                rows.append(row)
                log(f"  {func:<33} fe {fmt_time(row['fastentropy']['time_s']) if row['fastentropy'] else NOT_IMPL:>12}"
                    f"  ({time.perf_counter() - t0:.1f} s)")
                del impls, timers
                gc.collect()
            del x, y, t
            gc.collect()
        return rows

    def run_loss_memory(self, plan: List[Tuple[Tuple[int, int], List[str]]]) -> List[Dict[str, Any]]:
        out = []
        for shape, functions in plan:
            log(f"[memory] loss {shape[0]}x{shape[1]}: fresh subprocess")
            spec = {"kind": "loss", "shape": list(shape), "functions": functions, "threads": self.threads, "torch": self.use_torch}
            t0 = time.perf_counter()
            res = run_mem_subprocess(spec)
            log(f"  ({time.perf_counter() - t0:.1f} s)")
            if "error" in res:
                self.notes.append(f"memory loss {shape}: {res['error']}")
                continue
            for func in functions:
                nb = shape[0] * shape[1] * 4 * (2 if func == "binary_cross_entropy_with_logits" else 1)
                out.append({"function": func, "shape": list(shape), "dtype": "float32", "input_bytes": nb, "peak_rss_growth_bytes": res.get(func, {})})
        return out

    # ---- issue #13: short rows, float32 1-D, batched rows against numkong
    def _case(self, where: str, impls: Dict[str, Tuple[Callable[[], Any], str]], rtol: float, st: Optional[Settings] = None) -> Dict[str, Any]:
        timers = self.timers_for(impls)
        time_case(timers, st or self.st)
        ok = self.check(where, timers, rtol)
        # numkong takes the rows as they are (no normalisation) and accumulates float32 in
        # float32: its numbers are not fastentropy's; it is a speed peer only.
        if "numkong" in ok:
            ok["numkong"] = None
            self.notes[:] = [n for n in self.notes if not (n.startswith(where) and "numkong" in n)]
        return self._row(timers, impls, ok)

    def run_rows(self, cs: List[int], functions: List[str], dtypes: List[Any], layouts: List[str]) -> List[Dict[str, Any]]:
        rows: List[Dict[str, Any]] = []
        st = Settings(case_budget=self.st.case_budget * 0.6, min_samples=self.st.min_samples, max_samples=self.st.max_samples)
        for dtype in dtypes:
            dname = np.dtype(dtype).name
            for c in cs:
                n = ROW_ELEMENTS // c
                p2 = make_probs(n * c, dtype, 11).reshape(n, c)
                q2 = make_probs(n * c, dtype, 12).reshape(n, c)
                for layout in layouts:
                    if layout == "rows":
                        p, q, axis = p2, q2, -1
                    else:
                        p, q, axis = np.ascontiguousarray(p2.T), np.ascontiguousarray(q2.T), 0
                    for func in functions:
                        t0 = time.perf_counter()
                        impls = row_impls(func, p, q, axis, self.use_torch)
                        rtol = 1e-4 if dtype is np.float32 else 1e-9
                        row = self._case(f"{func} ({n}, {c}) {layout} {dname}", impls, rtol, st)
                        row.update(function=func, dtype=dname, c=c, n_rows=n, layout=layout, target=row_target(c))
                        rows.append(row)
                        r = row["baseline"]["fastentropy_over_baseline"] if row["baseline"] else None
                        log(f"[rows] {func:<14} {dname} C={c:<5} {layout:<7} fe ÷ np.sum {fmt_ratio(r):>7}  ({time.perf_counter() - t0:.1f} s)")
                        del impls
                    del p, q
                    gc.collect()
                del p2, q2
                gc.collect()
        return rows

    def run_flat(self, functions: List[str]) -> List[Dict[str, Any]]:
        """1-D inputs of 10^7 elements (issue #13 target 2), with numkong where it has the
        function (KL, JS)."""
        rows: List[Dict[str, Any]] = []
        for dtype in DTYPES:
            dname = np.dtype(dtype).name
            p = make_probs(ROW_ELEMENTS, dtype, 21)
            q = make_probs(ROW_ELEMENTS, dtype, 22)
            q_near = nearly_equal(p, 23)
            cases = [(func, "uniform", q) for func in functions]
            cases += [(func, NEARLY_EQUAL, q_near) for func in functions if func in ("kl_divergence", "js_divergence")]
            for func, data, qq in cases:
                impls = row_impls(func, p, qq, -1, self.use_torch)
                rtol = 1e-4 if dtype is np.float32 else 1e-9
                if data == NEARLY_EQUAL:
                    rtol = 1e-3 if dtype is np.float32 else 1e-6  # the peers' plain sums cancel
                row = self._case(f"{func} 1-D {dname} {data}", impls, rtol)
                target = (2.0 if func == "js_divergence" else 1.2) if dtype is np.float32 else 1.0
                row.update(function=func, dtype=dname, n=ROW_ELEMENTS, target=target, data=data)
                rows.append(row)
                log(f"[flat] {func:<14} {dname} {data:<12} fe ÷ np.sum {fmt_ratio(row['baseline']['fastentropy_over_baseline'] if row['baseline'] else None)}")
            del p, q, q_near
            gc.collect()
        return rows

    def run_batched(self) -> List[Dict[str, Any]]:
        """(10^5, 256) float32 probability rows, KL and JS per row, against numkong."""
        rows: List[Dict[str, Any]] = []
        n, c = 10**5, 256
        for dtype in DTYPES:
            p = make_probs(n * c, dtype, 31).reshape(n, c)
            q = make_probs(n * c, dtype, 32).reshape(n, c)
            p /= p.sum(axis=1, keepdims=True)
            q /= q.sum(axis=1, keepdims=True)
            q_near = nearly_equal(p, 33)
            for data, qq in (("uniform", q), (NEARLY_EQUAL, q_near)):
                for func in ("kl_divergence", "js_divergence"):
                    impls = row_impls(func, p, qq, -1, self.use_torch)
                    rtol = 1e-4 if data == "uniform" else 1e-2  # the peers' plain sums cancel
                    row = self._case(f"{func} ({n}, {c}) {np.dtype(dtype).name} {data}", impls, rtol)
                    row.update(function=func, dtype=np.dtype(dtype).name, shape=[n, c], data=data)
                    rows.append(row)
            del p, q, q_near
            gc.collect()
        return rows

    # ---- small-call overhead
    def run_small(self) -> List[Dict[str, Any]]:
        rows = []
        st = Settings(case_budget=max(0.5, self.st.case_budget), min_samples=15, max_samples=400)
        for func in SMALL_MEASURES:
            for dtype in DTYPES:
                p = make_probs(10, dtype, 5)
                q = make_probs(10, dtype, 6)
                impls = measure_impls(func, p, q, self.use_torch)
                impls.pop(BASE)
                impls.pop("scipy.special")
                timers = [Timer(name, fn) for name, (fn, _) in impls.items()]
                time_case(timers, st)
                rtol = 2e-4 if dtype is np.float32 else 1e-9
                ok = self.check(f"small {func} {np.dtype(dtype).name}", timers, rtol)
                row = self._row(timers, impls, ok)
                row.update(function=func, dtype=np.dtype(dtype).name, n=10)
                rows.append(row)
        # the loss family on a batch of ten rows of ten float32 logits (a small training
        # or scoring batch): no target there, the Python-and-dispatch cost is the point
        x, y = make_logits((10, 10), 7)
        for func in ("logsumexp", "log_softmax", "softmax_cross_entropy", "nll_loss"):
            impls = loss_impls(func, x, y, None, self.use_torch)
            timers = [Timer(name, fn) for name, (fn, _) in impls.items()]
            time_case(timers, st)
            ok = self.check(f"small {func}", timers, 2e-4)
            row = self._row(timers, impls, ok)
            row.update(function=func, dtype=x.dtype.name, n=100)
            rows.append(row)
        # one row and a plain int label: torch's unbatched cross_entropy(z, 3)
        z, label = x[0], int(y[0])
        impls = {
            FE: (lambda: fe.softmax_cross_entropy(z, label), "fastentropy.softmax_cross_entropy(z, 3)"),
            "numpy": (lambda: np.log(np.exp(z - z.max()).sum()) + z.max() - z[label], "log Σ e^(z−m) + m − z[y]"),
            "scipy": (lambda: scipy.special.logsumexp(z) - z[label], "scipy.special.logsumexp(z) − z[y]"),
        }
        if self.use_torch:
            zt, yt = torch.from_numpy(z), torch.tensor(label)
            impls["torch"] = (lambda: F.cross_entropy(zt, yt).item(), "F.cross_entropy(z, torch.tensor(3))")
        timers = [Timer(name, fn) for name, (fn, _) in impls.items()]
        time_case(timers, st)
        ok = self.check("small softmax_cross_entropy one row", timers, 2e-4)
        row = self._row(timers, impls, ok)
        row.update(function="softmax_cross_entropy[one row]", dtype=z.dtype.name, n=10)
        rows.append(row)
        # one 1-D row of ten values each: the 1-D slice paths of the loss family, a measure
        # of logits, and a drift check of two 10-bin histograms
        for func, impls in self._one_row_impls(z).items():
            timers = [Timer(name, fn) for name, (fn, _) in impls.items()]
            time_case(timers, st)
            ok = self.check(f"small {func}", timers, 2e-4)
            row = self._row(timers, impls, ok)
            row.update(function=func, dtype=_one_row_dtype(func, z), n=10)
            rows.append(row)
        return rows

    def _one_row_impls(self, z: np.ndarray) -> Dict[str, Dict[str, Tuple[Callable[[], Any], str]]]:
        """The one-row calls of the small section and their peers' expressions."""
        def lse() -> Any:
            m = z.max()
            return m + np.log(np.exp(z - m).sum())

        def entropy_of_logits() -> Any:
            lp = z - lse()
            return -(np.exp(lp) * lp).sum()

        ref, cur = make_probs(10, np.float64, 5) * 1000, make_probs(10, np.float64, 6) * 1000
        t = make_probs(10, z.dtype, 7)  # targets in (0, 1]

        def bce() -> Any:
            return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))

        def psi() -> Any:
            pn, qn = ref / ref.sum(), cur / cur.sum()
            return np.sum((pn - qn) * np.log(pn / qn))

        def smoothed_kl() -> Any:
            a, b = ref + 1.0, cur + 1.0
            pn, qn = a / a.sum(), b / b.sum()
            return np.sum(pn * np.log(pn / qn))

        joint = ref.reshape(2, 5)
        # scipy users' inputs as they come: integer counts (np.bincount) and literal lists
        counts = np.random.default_rng(8).integers(0, 50, 10)
        ref_list, cur_list = (ref / ref.sum()).tolist(), (cur / cur.sum()).tolist()

        def counts_entropy() -> Any:
            pn = counts / counts.sum()
            pn = pn[pn > 0]
            return -np.sum(pn * np.log(pn))

        def list_kl() -> Any:
            pn, qn = np.asarray(ref_list), np.asarray(cur_list)
            return np.sum(pn * np.log(pn / qn))

        def joint_entropy() -> Any:
            pn = joint / joint.sum()
            return -np.sum(pn * np.log(pn))

        out: Dict[str, Dict[str, Tuple[Callable[[], Any], str]]] = {
            "logsumexp[one row]": {
                FE: (lambda: fe.logsumexp(z), "fastentropy.logsumexp(z)"),
                "numpy": (lse, "m + log Σ e^(z − m)"),
                "scipy": (lambda: scipy.special.logsumexp(z), "scipy.special.logsumexp(z)"),
            },
            "log_softmax[one row]": {
                FE: (lambda: fe.log_softmax(z), "fastentropy.log_softmax(z)"),
                "numpy": (lambda: z - lse(), "z − (m + log Σ e^(z − m))"),
                "scipy": (lambda: scipy.special.log_softmax(z), "scipy.special.log_softmax(z)"),
            },
            "entropy[from_logits]": {
                FE: (lambda: fe.entropy(z, from_logits=True), "fastentropy.entropy(z, from_logits=True)"),
                "numpy": (entropy_of_logits, "lp = z − logsumexp(z); −Σ e^lp·lp"),
                "scipy": (lambda: scipy.stats.entropy(scipy.special.softmax(z)), "scipy.stats.entropy(softmax(z))"),
            },
            "binary_cross_entropy_with_logits[one row]": {
                FE: (lambda: fe.binary_cross_entropy_with_logits(z, t), "fastentropy.binary_cross_entropy_with_logits(z, t)"),
                "numpy": (bce, "mean(max(z, 0) − z·t + log1p(e^−|z|))"),
            },
            "population_stability_index[histograms]": {
                FE: (lambda: fe.population_stability_index(ref, cur), "fastentropy.population_stability_index(ref, cur)"),
                "numpy": (psi, "Σ (P − Q)·ln(P/Q) of the normalised histograms"),
            },
            "kl_divergence[smoothing, histograms]": {
                FE: (lambda: fe.kl_divergence(ref, cur, smoothing=1.0), "fastentropy.kl_divergence(ref, cur, smoothing=1.0)"),
                "numpy": (smoothed_kl, "Σ P·ln(P/Q) of the histograms + 1, normalised"),
                "scipy": (lambda: scipy.stats.entropy(ref + 1.0, cur + 1.0), "scipy.stats.entropy(ref + 1, cur + 1)"),
            },
            "kl_divergence[raw sums, histograms]": {
                FE: (lambda: fe.kl_divergence(ref, cur, normalize=False), "fastentropy.kl_divergence(ref, cur, normalize=False)"),
                "numpy": (lambda: np.sum(ref * np.log(ref / cur)), "Σ p·ln(p/q)"),
                "scipy": (lambda: scipy.special.rel_entr(ref, cur).sum(), "scipy.special.rel_entr(ref, cur).sum()"),
            },
            "entropy[axis=None, histograms]": {
                FE: (lambda: fe.entropy(joint, axis=None), "fastentropy.entropy(joint, axis=None)"),
                "numpy": (joint_entropy, "−Σ P·ln P of the normalised (2, 5) table"),
                "scipy": (lambda: scipy.stats.entropy(joint.ravel()), "scipy.stats.entropy(joint.ravel())"),
            },
            "entropy[int64 counts]": {
                FE: (lambda: fe.entropy(counts), "fastentropy.entropy(counts)"),
                "numpy": (counts_entropy, "−Σ P·ln P of counts / counts.sum()"),
                "scipy": (lambda: scipy.stats.entropy(counts), "scipy.stats.entropy(counts)"),
            },
            "kl_divergence[lists]": {
                FE: (lambda: fe.kl_divergence(ref_list, cur_list), "fastentropy.kl_divergence(p_list, q_list)"),
                "numpy": (list_kl, "Σ p·ln(p/q) of np.asarray(p_list), np.asarray(q_list)"),
                "scipy": (lambda: scipy.stats.entropy(ref_list, cur_list), "scipy.stats.entropy(p_list, q_list)"),
            },
        }
        if self.use_torch:
            zt = torch.from_numpy(z)
            out["logsumexp[one row]"]["torch"] = (lambda: torch.logsumexp(zt, 0).item(), "torch.logsumexp(z, 0)")
            out["log_softmax[one row]"]["torch"] = (lambda: F.log_softmax(zt, 0).numpy(), "F.log_softmax(z, 0)")
            tt = torch.from_numpy(t)
            out["binary_cross_entropy_with_logits[one row]"]["torch"] = (
                lambda: F.binary_cross_entropy_with_logits(zt, tt).item(),
                "F.binary_cross_entropy_with_logits(z, t)",
            )
            out["entropy[from_logits]"]["torch"] = (
                lambda: torch.distributions.Categorical(logits=zt).entropy().item(),
                "Categorical(logits=z).entropy()",
            )
        return out


def _one_row_dtype(func: str, z: np.ndarray) -> str:
    """The dtype a one-row call of the small section is given (its table's dtype column)."""
    if "counts" in func:
        return "int64"
    if "lists" in func:
        return "list"
    return z.dtype.name if "histograms" not in func else "float64"


# the measures of the small-call section (issue #13 target 4: a 10-element call ≤ 1 µs)
SMALL_MEASURES = ("entropy", "kl_divergence", "cross_entropy")
# the other one-row calls of the small-call section, as the table names them
ONE_ROW_CALLS = {
    "logsumexp[one row]": "logsumexp(z)",
    "log_softmax[one row]": "log_softmax(z)",
    "entropy[from_logits]": "entropy(z, from_logits=True)",
    "binary_cross_entropy_with_logits[one row]": "binary_cross_entropy_with_logits(z, t)",
    "population_stability_index[histograms]": "population_stability_index(ref, cur), 10-bin histograms",
    "kl_divergence[smoothing, histograms]": "kl_divergence(ref, cur, smoothing=1.0), 10-bin histograms",
    "kl_divergence[raw sums, histograms]": "kl_divergence(ref, cur, normalize=False), 10-bin histograms",
    "entropy[axis=None, histograms]": "entropy(joint, axis=None), a (2, 5) histogram",
    "entropy[int64 counts]": "entropy(counts)",
    "kl_divergence[lists]": "kl_divergence(p, q), two Python lists of 10 floats",
}


def _div(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _spread(samples: List[float]) -> Optional[float]:
    """Interquartile range over the median: how noisy the samples were."""
    if len(samples) < 4:
        return None
    qs = statistics.quantiles(samples, n=4)
    med = statistics.median(samples)
    return (qs[2] - qs[0]) / med if med > 0 else None


def _short(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x) for x in v) + ")"
    if isinstance(v, np.ndarray):
        return f"array[{v[:3]}…]"
    return f"{v:.10g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- tables


def measures_table(rows: List[Dict[str, Any]], threads: int) -> str:
    header = ["function", "dtype", "n", "fastentropy", f"1→{threads} threads", "× np.sum", *MEASURE_PEERS]
    align = ["l", "l", "r", "r", "r", "r", *["r"] * len(MEASURE_PEERS)]
    out = []
    for r in rows:
        fe_r = r["fastentropy"]
        if fe_r is None:
            fe_cell = NOT_IMPL
        elif fe_r["error"]:
            fe_cell = "error"
        else:
            fe_cell = fmt_time(fe_r["time_s"])
        scal = fmt_ratio(r["fastentropy_1thread"]["speedup_n_threads"]) if r["fastentropy_1thread"] else "—"
        base = fmt_ratio(r["baseline"]["fastentropy_over_baseline"]) if r["baseline"] else "—"
        cells = []
        for peer in MEASURE_PEERS:
            pr = r["peers"].get(peer)
            if pr is None:
                cells.append("—")
            elif pr["error"]:
                cells.append("error")
            else:
                c = fmt_ratio(pr["ratio"]) if fe_r else fmt_time(pr["time_s"])
                cells.append(c + (" ⚠" if pr.get("agrees") is False else ""))
        out.append([r["function"], r["dtype"], fmt_n(r["n"]), fe_cell, scal, base, *cells])
    return md_table(header, align, out)


def loss_table(rows: List[Dict[str, Any]], threads: int) -> str:
    header = ["function", "shape", "dtype", "fastentropy", f"1→{threads} threads", *LOSS_PEERS]
    align = ["l", "l", "l", "r", "r", *["r"] * len(LOSS_PEERS)]
    out = []
    for r in rows:
        fe_r = r["fastentropy"]
        if fe_r is None:
            fe_cell = scal = NOT_IMPL
        else:
            fe_cell = "error" if fe_r["error"] else fmt_time(fe_r["time_s"])
            scal = fmt_ratio(r["fastentropy_1thread"]["speedup_n_threads"]) if r["fastentropy_1thread"] else "—"
        cells = []
        for peer in LOSS_PEERS:
            pr = r["peers"].get(peer)
            if pr is None:
                cells.append("—")
            elif pr["error"]:
                cells.append("error")
            else:
                c = fmt_time(pr["time_s"])
                if fe_r is not None and pr["ratio"] is not None:
                    c += f" ({fmt_ratio(pr['ratio'])})"
                cells.append(c + (" ⚠" if pr.get("agrees") is False else ""))
        out.append([r["function"], f"{r['shape'][0]}×{r['shape'][1]}", r["dtype"], fe_cell, scal, *cells])
    return md_table(header, align, out)


def memory_table(rows: List[Dict[str, Any]], peers: List[str], loss: bool) -> str:
    header = ["function", "shape" if loss else "dtype", "n" if not loss else "dtype", "input", "fastentropy", *peers]
    align = ["l", "l", "l" if loss else "r", "r", "r", *["r"] * len(peers)]
    out = []
    for r in rows:
        g = r["peak_rss_growth_bytes"]
        fe_cell = fmt_mb(g[FE]) if FE in g else NOT_IMPL
        cells = [fmt_mb(g.get(p)) for p in peers]
        if loss:
            first = [r["function"], f"{r['shape'][0]}×{r['shape'][1]}", r["dtype"]]
        else:
            first = [r["function"], r["dtype"], fmt_n(r["n"])]
        out.append([*first, fmt_mb(r["input_bytes"]), fe_cell, *cells])
    return md_table(header, align, out)


def small_table(rows: List[Dict[str, Any]]) -> str:
    peers = ["numpy", "scipy", "torch"]
    header = ["call", "fastentropy", *peers]
    out = []
    for r in rows:
        fe_r = r["fastentropy"]
        measure = r["function"] in SMALL_MEASURES
        one_row = r["n"] == 10  # a call on one row of ten values: issue 13's 1 µs applies
        cells = []
        for peer in peers:
            # scipy.stats for the measures, scipy.special's expressions for the losses
            pr = r["peers"].get(peer) or r["peers"].get("scipy.stats" if peer == "scipy" else peer)
            if pr is None or pr["error"]:
                cells.append("—" if pr is None else "error")
            else:
                cells.append(f"{fmt_time(pr['time_s'])} ({fmt_ratio(pr['ratio'])})" if fe_r else fmt_time(pr["time_s"]))
        fe_cell = fmt_time(fe_r["time_s"]) if fe_r and not fe_r["error"] else NOT_IMPL
        if measure:
            call = "entropy(p)" if r["function"] == "entropy" else f"{r['function']}(p, q)"
            call += f", 10 × {r['dtype']}"
        elif r["function"] == "softmax_cross_entropy[one row]":
            call = f"softmax_cross_entropy(z, 3), one row of 10 {r['dtype']}"
        elif r["function"] in ONE_ROW_CALLS:
            call = ONE_ROW_CALLS[r["function"]]
            call += "" if r["dtype"] == "list" else f", one row of 10 {r['dtype']}"
        else:
            call = r["function"] + ("(x)" if r["function"] in ("logsumexp", "log_softmax") else "(x, y)")
            call += f", 10 × 10 {r['dtype']}"
        target = ""
        if one_row and fe_r and not fe_r["error"]:  # issue 13's 1 µs is for a 10-element call
            target = " ✅" if fe_r["time_s"] <= 1e-6 else " ❌"
        out.append([call, fe_cell + target, *cells])
    return md_table(header, ["l", "r", "r", "r", "r"], out)


def _met(r: Optional[float], target: float) -> str:
    if r is None:
        return "—"
    return f"{fmt_ratio(r)} {'✅' if r <= target else '❌'}"


def _peer_cells(r: Dict[str, Any], peers: Sequence[str]) -> List[str]:
    cells = []
    for peer in peers:
        pr = r["peers"].get(peer)
        if pr is None:
            cells.append("—")
        elif pr["error"]:
            cells.append("error")
        else:
            mark = " ✅" if pr["ratio"] is not None and pr["ratio"] >= 1.0 else " ❌"
            cells.append(fmt_ratio(pr["ratio"]) + mark + (" ⚠" if pr.get("agrees") is False else ""))
    return cells


def _fe_ratios(r: Dict[str, Any]) -> Tuple[Optional[float], Optional[float]]:
    """(fastentropy ÷ np.sum at all threads, at 1 thread)."""
    b = r["baseline"]
    if not b:
        return None, None
    all_t = b["fastentropy_over_baseline"]
    one = r["fastentropy_1thread"]
    one_t = _div(one["time_s"], b["time_s"]) if one else all_t
    return all_t, one_t


def rows_table(rows: List[Dict[str, Any]], threads: int) -> str:
    peers = [p for p in ROW_PEERS if any(p in r["peers"] for r in rows)]
    header = ["function", "dtype", "C", "layout", "target", f"fe ÷ np.sum ({threads} thr)", "fe ÷ np.sum (1 thr)", *[f"{p} ÷ fe" for p in peers]]
    out = []
    for r in rows:
        all_t, one_t = _fe_ratios(r)
        layout = "(N, C), axis=-1" if r["layout"] == "rows" else "(C, N), axis=0"
        out.append([r["function"], r["dtype"], str(r["c"]), layout, f"≤ {r['target']:g}", _met(all_t, r["target"]), fmt_ratio(one_t), *_peer_cells(r, peers)])
    return md_table(header, ["l", "l", "r", "l", "r", "r", "r", *["r"] * len(peers)], out)


def flat_table(rows: List[Dict[str, Any]], threads: int) -> str:
    peers = [p for p in ROW_PEERS if any(p in r["peers"] for r in rows)]
    header = ["function", "dtype", "data", "target", f"fe ÷ np.sum ({threads} thr)", "fe ÷ np.sum (1 thr)", *[f"{p} ÷ fe" for p in peers]]
    out = []
    for r in rows:
        all_t, one_t = _fe_ratios(r)
        out.append([r["function"], r["dtype"], r.get("data", "uniform"), f"≤ {r['target']:g}", _met(all_t, r["target"]), fmt_ratio(one_t), *_peer_cells(r, peers)])
    return md_table(header, ["l", "l", "l", "r", "r", "r", *["r"] * len(peers)], out)


def batched_table(rows: List[Dict[str, Any]], threads: int) -> str:
    header = ["function", "shape", "dtype", "data", "fastentropy", f"fe ÷ np.sum ({threads} thr)", "numkong ÷ fe (target ≥ 1)", "scipy ÷ fe", "numpy ÷ fe"]
    out = []
    for r in rows:
        fe_r = r["fastentropy"]
        all_t, _ = _fe_ratios(r)
        cells = _peer_cells(r, ["numkong", "scipy", "numpy"])
        out.append([r["function"], f"{r['shape'][0]}×{r['shape'][1]}", r["dtype"], r.get("data", "uniform"), fmt_time(fe_r["time_s"]) if fe_r else NOT_IMPL, fmt_ratio(all_t), *cells])
    return md_table(header, ["l", "l", "l", "l", "r", "r", "r", "r", "r"], out)


# --------------------------------------------------------------------------- main


def parse_size(s: str) -> List[int]:
    out = []
    for part in s.replace(",", " ").split():
        v = float(part)
        if v < 1 or v != int(v):
            raise argparse.ArgumentTypeError(f"size must be a positive integer, got {part!r}")
        out.append(int(v))
    return out


def parse_shape(s: str) -> Tuple[int, int]:
    try:
        n, c = (int(float(v)) for v in s.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 4096x32768, got {s!r}") from None
    return n, c


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="sizes up to 10^7, softmax_cross_entropy only in the loss section, smaller time budget (< 1 min)")
    ap.add_argument("--json", type=Path, default=HERE / "results.json", help="where to write the results (default: benches/results.json)")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the Markdown report to this file")
    ap.add_argument("--sizes", type=parse_size, nargs="+", default=None, help="element counts, e.g. 10 1e3 1e5 (default 10 … 10^8; --quick: … 10^7)")
    ap.add_argument("--functions", default=None, help=f"comma-separated subset of {','.join(MEASURES + LOSS_FUNCS)}")
    ap.add_argument("--loss-shapes", type=parse_shape, nargs="+", default=None, help="(N, C) shapes of the loss section, every chosen loss function at each (default: softmax_cross_entropy at 4096x32768 and 65536x1000, the rest at 65536x1000)")
    ap.add_argument("--threads", type=int, default=None, help="thread count for fastentropy and torch (default: all available cores)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of sampling per case (default 0.25 quick, 1.0 full)")
    ap.add_argument("--stat", choices=["median", "min"], default="median", help="statistic of the samples the tables show (JSON has both; default median)")
    ap.add_argument("--mem-sizes", type=parse_size, nargs="+", default=None, help="sizes whose peak memory is measured (default 1e7; memory grows linearly beyond)")
    ap.add_argument("--no-mem", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--no-loss", action="store_true", help="skip the loss-family section")
    ap.add_argument("--no-torch", action="store_true", help="do not import torch even if installed")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated sections to run (default: all): measures, loss, small (10-element calls), "
                    "rows (issue #13 target 1: (N, C) rows and their (C, N) transposes), flat (1-D 10^7, target 2), "
                    "batched ((10^5, 256) rows against numkong), and the companion scripts' tables: "
                    + ", ".join(f"{section} (benches/{script})" for section, script, _, _ in COMPANIONS))
    ap.add_argument("--row-cs", type=parse_size, nargs="+", default=None, help=f"row lengths C of the rows section (default {ROW_CS})")
    ap.add_argument("--row-functions", default=",".join(ROW_FUNCS), help=f"functions of the rows/flat sections (default {','.join(ROW_FUNCS)}; the rows section also takes {','.join(EXTRA_ROW_FUNCS)}: perplexity, entropy in bits, the JS distance, and the normalize=False sums)")
    ap.add_argument("--layouts", default="rows,columns", help="layouts of the rows section: rows ((N, C), axis=-1), columns ((C, N), axis=0)")
    ap.add_argument("--no-numkong", action="store_true", help="do not import numkong even if installed")
    ap.add_argument("--_mem-worker", dest="mem_worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.mem_worker is not None:
        print(json.dumps(mem_worker(json.loads(args.mem_worker))))
        return 0

    global STAT
    STAT = args.stat
    started = time.perf_counter()
    if not args.no_torch:
        _load_torch()
    if not args.no_numkong:
        _load_numkong()
    sections = {x.strip() for x in args.sections.split(",") if x.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}")
    row_funcs = [f.strip() for f in args.row_functions.split(",") if f.strip()]
    if set(row_funcs) - set(ROW_FUNCS + EXTRA_ROW_FUNCS):
        ap.error(f"--row-functions: choose from {ROW_FUNCS + EXTRA_ROW_FUNCS}")
    gc.collect()
    gc.freeze()  # see mem_worker
    if args.threads is None:
        try:
            args.threads = len(os.sched_getaffinity(0))
        except AttributeError:
            args.threads = os.cpu_count() or 1
    fe.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)

    sizes = sorted(set(sum(args.sizes, []))) if args.sizes else [n for n in FULL_SIZES if not args.quick or n <= QUICK_MAX_SIZE]
    if args.functions:
        chosen = [f.strip() for f in args.functions.split(",") if f.strip()]
        bad = [f for f in chosen if f not in MEASURES + LOSS_FUNCS]
        if bad:
            ap.error(f"unknown function(s) {bad}; choose from {MEASURES + LOSS_FUNCS}")
        measures = [f for f in MEASURES if f in chosen]
        losses = [f for f in LOSS_FUNCS if f in chosen]
    else:
        measures = list(MEASURES)
        losses = ["softmax_cross_entropy"] if args.quick else list(LOSS_FUNCS)
    if args.no_loss:
        losses = []
    # The loss plan: softmax_cross_entropy (and +grad) at every shape; the rest of the family, whose
    # peers are slow (scipy's log_expit over 10^8 elements takes seconds), at the smaller shape
    # only unless --loss-shapes names the shapes.
    if args.loss_shapes:
        loss_plan = [(shape, list(losses)) for shape in args.loss_shapes]
    else:
        everywhere = {"softmax_cross_entropy", "softmax_cross_entropy+grad"}
        loss_plan = [(shape, [f for f in losses if f in everywhere or shape == LOSS_SHAPES[-1]]) for shape in LOSS_SHAPES]
    loss_plan = [(shape, fs) for shape, fs in loss_plan if fs]
    budget = args.budget if args.budget is not None else (0.25 if args.quick else 1.0)
    st = Settings(case_budget=budget, min_samples=3 if args.quick else 5, max_samples=100 if args.quick else 300)
    mem_sizes = sorted(set(sum(args.mem_sizes, []))) if args.mem_sizes else [10**7]

    info = machine_info(args.threads)
    runner = Runner(args, st)
    report: List[str] = [header_md(info, args)]
    print(report[0], flush=True)
    results: Dict[str, Any] = {
        "machine": info,
        "settings": {
            "quick": args.quick, "sizes": sizes, "functions": measures,
            "loss_plan": [{"shape": list(shape), "functions": fs} for shape, fs in loss_plan],
            "case_budget_s": budget, "min_samples": st.min_samples, "min_samples_slow": st.min_samples_slow,
            "max_samples": st.max_samples, "sample_min_time_s": st.sample_min_time, "statistic": STAT,
            "memory": not args.no_mem, "mem_sizes": mem_sizes,
        },
    }

    def emit(title: str, text: str, legend: str = "") -> None:
        block = f"### {title}\n\n{legend}{text}\n"
        report.append(block)
        print(block, flush=True)

    if "measures" not in sections:
        measures = []
    if "loss" not in sections:
        loss_plan = []
    if measures:
        rows = runner.run_measures(sizes, measures)
        results["measures"] = rows
        emit(
            "Measures: time and ratios",
            measures_table(rows, args.threads),
            f"fastentropy: {STAT} time at {args.threads} threads. 1→{args.threads} threads: its 1-thread time ÷ that. "
            "× np.sum: its time ÷ the time of `np.sum` over the same input(s) (reading the data once). "
            "numpy … torch: their time ÷ fastentropy's (numpy and scipy run on one thread: divide by the scaling "
            "column for a 1-thread comparison). ⚠: result disagrees with fastentropy's. —: no such peer.\n\n",
        )
        mem_n = [n for n in sizes if n in mem_sizes]
        if not args.no_mem and mem_n:
            mrows = runner.run_measure_memory(mem_n, measures)
            results["measures_memory"] = mrows
            emit(
                "Measures: peak memory",
                memory_table(mrows, MEASURE_PEERS, loss=False),
                "Peak RSS growth during one call (a fresh subprocess per size and dtype; includes the returned "
                "array for self_information). input: the size of p (and q).\n\n",
            )

    if loss_plan:
        lrows = runner.run_loss(loss_plan)
        results["loss"] = lrows
        emit(
            "Loss family (float32 logits, int64 labels)",
            loss_table(lrows, args.threads),
            f"{STAT.capitalize()} time; in parentheses a peer's time ÷ fastentropy's. `+grad`: loss and d loss/d logits "
            "(torch: forward + backward). nll_loss takes the logits as its log-probabilities.\n\n",
        )
        if not args.no_mem and (not args.quick or args.loss_shapes):
            lm = runner.run_loss_memory(loss_plan)
            results["loss_memory"] = lm
            emit("Loss family: peak memory", memory_table(lm, LOSS_PEERS, loss=True), "Peak RSS growth during one call (fresh subprocess per shape).\n\n")

    ratio_note = (
        "Convention: **fe ÷ np.sum** is fastentropy's time ÷ the time of `np.sum` over the same input(s) "
        "(`p.sum()`, or `p.sum(); q.sum()` for two inputs: reading the data once, single-threaded) — lower is better, "
        f"✅ where it meets the issue #13 target, at {args.threads} threads (the 1-thread ratio beside it). "
        "**peer ÷ fe** is the peer's time ÷ fastentropy's (all threads) — above 1 fastentropy is faster (✅). "
        "numpy and scipy run on one thread; torch on the same thread count. numkong does not normalise and "
        "accumulates float32 in float32 (its float32 numbers are off): a speed peer only, its results are not checked.\n\n"
    )
    if "rows" in sections:
        cs = sorted(set(sum(args.row_cs, []))) if args.row_cs else list(ROW_CS)
        layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
        unknown = sorted(set(layouts) - {"rows", "columns"})
        if unknown:
            ap.error(f"--layouts: unknown layout(s) {', '.join(unknown)} (choose from rows, columns)")
        rrows = runner.run_rows(cs, row_funcs, DTYPES, layouts)
        results["rows"] = rrows
        emit("Short rows: (N, C) with N·C = 10^7 (issue #13 target 1)", rows_table(rrows, args.threads), ratio_note)
    if "flat" in sections:
        frows = runner.run_flat([f for f in row_funcs if f in ROW_FUNCS])
        results["flat"] = frows
        emit("1-D, 10^7 elements (issue #13 target 2)", flat_table(frows, args.threads), ratio_note)
    if "batched" in sections:
        brows = runner.run_batched()
        results["batched"] = brows
        emit("Batched rows (10^5, 256) against numkong (issue #13 target 2)", batched_table(brows, args.threads), ratio_note)

    if "small" in sections:
        srows = runner.run_small()
        results["small_call"] = srows
        emit(
            "Small-call overhead",
            small_table(srows),
            "Total time of one call on a 10-element array, or for the loss family on 10 rows of 10 logits "
            "(Python overhead, argument checks, dispatch), in parentheses ÷ fastentropy's.\n\n",
        )

    # The companion scripts' own tables (issue #15's from-logits measures, scorers and drift,
    # issue #16's pipelines, ...), run in this process after the sections above with the same
    # thread count; a failure there is reported in the notes, not fatal to this run.
    for section, script, quick_argv, full_argv in COMPANIONS:
        if section not in sections or not (HERE / script).exists():
            continue
        sys.path.insert(0, str(HERE))
        argv = list(quick_argv if args.quick else full_argv)
        if section != "loss_family":
            argv += ["--threads", str(args.threads)]
        try:
            module = importlib.import_module(script[: -len(".py")])
            log(f"[{section}] running benches/{script} {' '.join(argv)}")
            printed = io.StringIO()
            with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
                print(f"## {section} (benches/{script} {' '.join(argv)})\n", flush=True)
                module.main(argv)
            report.append(printed.getvalue())
        except SystemExit as exc:  # argparse errors, a missing optional dependency
            if exc.code not in (0, None):
                runner.notes.append(f"{script} stopped: {exc.code}")
        except Exception as exc:  # noqa: BLE001 - reported in the notes
            runner.notes.append(f"{script} failed: {type(exc).__name__}: {exc}")

    elapsed = time.perf_counter() - started
    notes = list(runner.notes)
    if notes:
        emit("Notes", "\n".join(f"- {n}" for n in notes))
    info["loadavg_end"] = loadavg()
    cpu = cpu_seconds()
    results["cpu_s"] = cpu
    tail = f"_Run took {elapsed:.0f} s (CPU {cpu:.0f} s); {busy_note(info['loadavg_end'], info['cores_available'], 'at the end')}; raw numbers in `{args.json.name}`._\n"
    report.append(tail)
    print(tail, flush=True)
    results["notes"] = notes
    results["elapsed_s"] = elapsed

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    log(f"wrote {args.json}")
    if args.markdown:
        args.markdown.write_text("\n".join(report))
        log(f"wrote {args.markdown}")
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
