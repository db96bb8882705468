#!/usr/bin/env python3
"""Measures from logits: ``entropy`` / ``kl_divergence`` / ``cross_entropy`` /
``js_divergence`` with ``from_logits=True`` against ``fastentropy.logsumexp`` on the same
array (the target: within 1.3× of it), the NumPy expression people write
(``scipy.special.log_softmax`` then the sums) and torch's
``Categorical(logits=...).entropy()`` / ``F.kl_div(log_softmax, log_softmax, log_target=True)``.

    python benches/logits.py             # all shapes (~1 min on 2 cores)
    python benches/logits.py --quick     # (10^6, 10) and (10^4, 1000) only

Prints a Markdown table: ratio = time ÷ fastentropy's time on the same array (for the
logsumexp column: fastentropy-from-logits time ÷ logsumexp time, so ≤ 1.3 meets the target;
for the two-array measures the reference is logsumexp of both arrays). Each case times every
implementation in the same process, interleaved round by round, median of the rounds; the
first call is a warm-up whose result is checked against fastentropy's. torch columns read
"n/a" without torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.special

import fastentropy as fe

try:  # optional peer
    import torch
except ImportError:  # pragma: no cover
    torch = None

SHAPES: List[Tuple[int, ...]] = [(1_000_000, 10), (100_000, 1000), (2_000, 32_000), (64, 256_000), (10_000_000,)]
# --quick: the headline short rows, and rows longer than the short-row paths' 16 logits (a
# slowdown there — JS at 60–110× logsumexp, 2026-12-04 — went unseen while --quick ran only
# the first shape)
QUICK_SHAPES: List[Tuple[int, ...]] = [(1_000_000, 10), (10_000, 1000)]


def np_entropy(z: np.ndarray) -> Any:
    lp = scipy.special.log_softmax(z, axis=-1)
    return -(np.exp(lp) * lp).sum(-1)


def np_kl(a: np.ndarray, b: np.ndarray) -> Any:
    la, lb = scipy.special.log_softmax(a, axis=-1), scipy.special.log_softmax(b, axis=-1)
    return (np.exp(la) * (la - lb)).sum(-1)


def np_cross(a: np.ndarray, b: np.ndarray) -> Any:
    la, lb = scipy.special.log_softmax(a, axis=-1), scipy.special.log_softmax(b, axis=-1)
    return -(np.exp(la) * lb).sum(-1)


def _time(fns: Dict[str, Callable[[], Any]], rounds: int) -> Dict[str, float]:
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _check(name: str, got: Any, want: Any) -> None:
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    # (absolute: the peers' KL of nearly equal rows is rounding noise of ~1e-9 in float32)
    if not np.allclose(g, w, rtol=1e-4, atol=1e-6):
        print(f"warning: {name} disagrees with fastentropy (max |diff| {np.max(np.abs(g - w)):.3g})", file=sys.stderr)


def bench(shape: Tuple[int, ...], dtype: Any, rounds: int, only: Any = None) -> List[str]:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 3).astype(dtype)
    b = (rng.standard_normal(shape) * 3).astype(dtype)
    rows = []
    cases: List[Tuple[str, Callable[[], Any], Callable[[], Any], Dict[str, Callable[[], Any]]]] = []
    ta = tb = None
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    peers_h: Dict[str, Callable[[], Any]] = {"numpy": lambda: np_entropy(a)}
    peers_kl: Dict[str, Callable[[], Any]] = {"numpy": lambda: np_kl(a, b)}
    peers_ce: Dict[str, Callable[[], Any]] = {"numpy": lambda: np_cross(a, b)}
    if torch is not None:
        import torch.nn.functional as F

        peers_h["torch"] = lambda: torch.distributions.Categorical(logits=ta).entropy()
        peers_kl["torch"] = lambda: F.kl_div(
            F.log_softmax(tb, -1), F.log_softmax(ta, -1), log_target=True, reduction="none"
        ).sum(-1)
        peers_ce["torch"] = lambda: -(F.softmax(ta, -1) * F.log_softmax(tb, -1)).sum(-1)
    lse_one = lambda: fe.logsumexp(a)  # noqa: E731
    lse_two = lambda: (fe.logsumexp(a), fe.logsumexp(b))  # noqa: E731
    cases.append(("entropy", lambda: fe.entropy(a, from_logits=True), lse_one, peers_h))
    cases.append(("kl_divergence", lambda: fe.kl_divergence(a, b, from_logits=True), lse_two, peers_kl))

    def kl_against_b(name: str, x: np.ndarray) -> None:
        """KL(softmax x ‖ softmax b) against numpy, torch and logsumexp of x and b."""
        peers: Dict[str, Callable[[], Any]] = {"numpy": lambda: np_kl(x, b)}
        if torch is not None:
            tx = torch.from_numpy(x)
            peers["torch"] = lambda: F.kl_div(
                F.log_softmax(tb, -1), F.log_softmax(tx, -1), log_target=True, reduction="none"
            ).sum(-1)
        lse = lambda: (fe.logsumexp(x), fe.logsumexp(b))  # noqa: E731
        cases.append((name, lambda: fe.kl_divergence(x, b, from_logits=True), lse, peers))

    # a policy against its reference: KL ~ 1e-6, every row takes the exact second pass
    kl_against_b("kl_divergence (a ≈ b)", (b + 1e-3 * rng.standard_normal(shape)).astype(dtype))
    # a fine-tuned model against its base: KL ~ 10^-2 per row, |ln(P/Q)| past the short
    # series (the second pass's other forms)
    kl_against_b("kl_divergence (a = b + 0.3·noise)", (b + 0.3 * rng.standard_normal(shape)).astype(dtype))
    cases.append(("cross_entropy", lambda: fe.cross_entropy(a, b, from_logits=True), lse_two, peers_ce))
    cases.append(("js_divergence", lambda: fe.js_divergence(a, b, from_logits=True), lse_two, {}))
    for name, ours, lse, peers in cases:
        if only and name not in only:
            continue
        want = ours()
        for k, f in peers.items():
            r = f()
            _check(f"{k} {name}", r.numpy() if hasattr(r, "numpy") else r, want)
        lse()
        fns: Dict[str, Callable[[], Any]] = {"fastentropy": ours, "logsumexp": lse, **peers}
        t = _time(fns, rounds)
        cells = [f"{t['fastentropy'] * 1e3:.2f} ms", f"{t['fastentropy'] / t['logsumexp']:.2f}"]
        for k in ("numpy", "torch"):
            cells.append(f"{t[k] / t['fastentropy']:.1f}×" if k in t else "n/a")
        dims = "×".join(str(d) for d in shape)
        rows.append(f"| {name} | {dims} {np.dtype(dtype).name} | " + " | ".join(cells) + " |")
    return rows


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--measures", default=None, help="comma-separated subset, e.g. entropy,js_divergence")
    ap.add_argument("--dtype", default=None, choices=["float32", "float64"])
    ap.add_argument("--shape", default=None, help="one shape, e.g. 2000x32000 or 10000000")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        fe.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    if args.shape:
        shapes = [tuple(int(d) for d in args.shape.split("x"))]
    print(f"fastentropy {fe.__version__}, SIMD {fe.simd_isa()}, {fe.get_num_threads()} threads, "
          f"torch {torch.__version__ if torch is not None else 'n/a'}\n")
    print("| measure (from logits) | shape | fastentropy | ÷ logsumexp (same array[s]) | numpy ÷ fe | torch ÷ fe |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        only = set(args.measures.split(",")) if args.measures else None
        for dtype in (np.float32, np.float64):
            if args.dtype and np.dtype(dtype).name != args.dtype:
                continue
            for row in bench(shape, dtype, args.rounds, only):
                print(row, flush=True)


if __name__ == "__main__":
    main()
