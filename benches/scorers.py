#!/usr/bin/env python3
"""Scorer benchmarks: ensemble_uncertainty, expected_calibration_error (of probabilities
and from logits) and the drift measures (population_stability_index, smoothed
kl_divergence) against the NumPy / scipy expressions people write and torch /
torchmetrics, side by side in one run.

    python benches/scorers.py            # all shapes (~1-2 min on 2 cores)
    python benches/scorers.py --quick    # the headline shapes only

Prints Markdown tables (ratio = peer time / fastentropy time, > 1 means fastentropy is
faster). Each case times every implementation in the same process on the same array,
interleaved round by round (so a noisy, shared machine slows all alike); the number is the
median of the rounds. The first call of each implementation is a warm-up whose result is
checked against fastentropy's. torch columns read "n/a" without torch (pip install torch
torchmetrics).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import fastentropy as fe

try:  # optional peers
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    from torchmetrics.functional.classification import multiclass_calibration_error
except ImportError:  # pragma: no cover
    multiclass_calibration_error = None

ENSEMBLE_SHAPES = [(30, 100_000, 10), (100, 10_000, 10), (10, 10_000, 1000), (8, 1_000_000, 2)]
ECE_SHAPES = [(1_000_000, 10), (100_000, 1000)]
DRIFT_SHAPES = [(1_000_000, 10), (10_000, 1000)]


def np_ensemble(p: np.ndarray) -> Tuple[Any, Any, Any]:
    pbar = p.mean(0)
    total = -(pbar * np.log(pbar)).sum(-1)
    alea = -(p * np.log(p)).sum(-1).mean(0)
    return total, alea, total - alea


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def torch_ensemble(p: Any) -> Tuple[Any, Any, Any]:
    pbar = p.mean(0)
    total = -(pbar * torch.log(pbar)).sum(-1)
    alea = -(p * torch.log(p)).sum(-1).mean(0)
    return total, alea, total - alea


def np_ece(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    conf = p.max(1)
    pred = p.argmax(1)
    bounds = np.linspace(0, 1, n_bins + 1, dtype=p.dtype)
    b = np.clip(np.searchsorted(bounds, conf, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    gap = np.bincount(b, weights=(pred == y) - conf.astype(np.float64), minlength=n_bins)
    return float(np.abs(gap).sum() / len(y)) if count.sum() else float("nan")


def time_side_by_side(impls: Dict[str, Callable[[], Any]], rounds: int) -> Dict[str, float]:
    samples: Dict[str, List[float]] = {k: [] for k in impls}
    for f in impls.values():
        f()  # warm-up
    for _ in range(rounds):
        for name, f in impls.items():
            t = time.perf_counter()
            f()
            samples[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def ms(seconds: Optional[float]) -> str:
    """A time cell: milliseconds, or "n/a" for a peer that is not installed."""
    return f"{seconds * 1e3:.1f} ms" if seconds else "n/a"


def ratio(peer: Optional[float], ours: float) -> str:
    """A ratio cell (peer time ÷ ours), or "n/a" for a peer that is not installed."""
    return f"{peer / ours:.1f}" if peer else "n/a"


def row(shape: str, dtype: Any, times: List[str], ratios: List[str]) -> None:
    print(f"| {shape} | {np.dtype(dtype).name} | " + " | ".join(times + ratios) + " |", flush=True)


def ensemble_table(shapes: List[Tuple[int, int, int]], rounds: int) -> None:
    print("### ensemble_uncertainty (total, aleatoric, epistemic)\n")
    print(f"{fe.simd_isa()}, {fe.get_num_threads()} threads; numpy: `pbar = p.mean(0); total = -(pbar*np.log(pbar)).sum(-1);"
          " alea = -(p*np.log(p)).sum(-1).mean(0)`; torch: the same expression on a CPU tensor.\n")
    print("| shape (S, N, C) | dtype | fastentropy | 1 thread | numpy | torch | ×numpy | ×torch |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            p = rng.dirichlet(np.ones(shape[2]), size=shape[:2]).astype(dtype)
            want = fe.ensemble_uncertainty(p)
            got = np_ensemble(p)
            assert np.allclose(got[0], want.total, rtol=1e-4), "numpy expression disagrees"
            threads = fe.get_num_threads()

            def one_thread() -> Any:
                fe.set_num_threads(1)
                try:
                    return fe.ensemble_uncertainty(p)
                finally:
                    fe.set_num_threads(threads)

            impls: Dict[str, Callable[[], Any]] = {
                "fe": lambda: fe.ensemble_uncertainty(p),
                "fe1": one_thread,
                "numpy": lambda: np_ensemble(p),
            }
            if torch is not None:
                pt = torch.from_numpy(p)
                impls["torch"] = lambda: torch_ensemble(pt)
            t = time_side_by_side(impls, rounds)
            row(f"{shape}", dtype, [ms(t["fe"]), ms(t["fe1"]), ms(t["numpy"]), ms(t.get("torch"))],
                [ratio(t["numpy"], t["fe"]), ratio(t.get("torch"), t["fe"])])
    print()


def ensemble_logits_table(shapes: List[Tuple[int, int, int]], rounds: int) -> None:
    print("### ensemble_uncertainty from logits\n")
    print("Members' logits: independent (normal × 3), and near-agreeing (one member's logits plus 1e-9 × normal "
          "each: the double-double pass of the rows whose epistemic part the fast pass cannot vouch for). numpy: "
          "`np_softmax(z)` then the expression of the table above; torch: `torch.softmax(z, -1)` then the same.\n")
    print("| shape (S, N, C) | dtype | members | fastentropy | numpy | torch | ×numpy | ×torch |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(3)
            independent = (rng.normal(size=shape) * 3).astype(dtype)
            one = rng.normal(size=shape[1:]) * 3
            near = (one + 1e-9 * rng.normal(size=shape)).astype(dtype)
            for members, z in (("independent", independent), ("near-agreeing", near)):
                want = fe.ensemble_uncertainty(z, from_logits=True)
                got = np_ensemble(np_softmax(z.astype(np.float64)))
                assert np.allclose(got[0], want.total, rtol=1e-4), "numpy expression disagrees"
                impls: Dict[str, Callable[[], Any]] = {
                    "fe": lambda: fe.ensemble_uncertainty(z, from_logits=True),
                    "numpy": lambda: np_ensemble(np_softmax(z)),
                }
                if torch is not None:
                    zt = torch.from_numpy(z)
                    impls["torch"] = lambda: torch_ensemble(torch.softmax(zt, -1))
                t = time_side_by_side(impls, rounds)
                print(f"| {shape} | {np.dtype(dtype).name} | {members} | {ms(t['fe'])} | {ms(t['numpy'])} | "
                      f"{ms(t.get('torch'))} | {ratio(t['numpy'], t['fe'])} | {ratio(t.get('torch'), t['fe'])} |",
                      flush=True)
    print()


def ece_table(shapes: List[Tuple[int, int]], rounds: int) -> None:
    print("### expected_calibration_error (l1, 15 bins)\n")
    print("numpy: max/argmax/searchsorted/bincount (`np_ece` in this script); torchmetrics: "
          "`multiclass_calibration_error(preds, target, num_classes=C)`.\n")
    print("| shape (N, C) | dtype | fastentropy | numpy | torchmetrics | ×numpy | ×torchmetrics |")
    print("|---|---|---|---|---|---|---|")
    for n, c in shapes:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(1)
            z = rng.normal(size=(n, c)) * 3
            p = np.exp(z - z.max(1, keepdims=True))
            p = (p / p.sum(1, keepdims=True)).astype(dtype)
            y = rng.integers(0, c, size=n)
            assert abs(np_ece(p, y) - fe.expected_calibration_error(p, y)) < 1e-6
            impls: Dict[str, Callable[[], Any]] = {
                "fe": lambda: fe.expected_calibration_error(p, y),
                "numpy": lambda: np_ece(p, y),
            }
            if multiclass_calibration_error is not None:
                pt, yt = torch.from_numpy(p), torch.from_numpy(y)
                impls["tm"] = lambda: multiclass_calibration_error(pt, yt, num_classes=c)
            t = time_side_by_side(impls, rounds)
            row(f"({n}, {c})", dtype, [ms(t["fe"]), ms(t["numpy"]), ms(t.get("tm"))],
                [ratio(t["numpy"], t["fe"]), ratio(t.get("tm"), t["fe"])])
    print()


def np_ece_logits(z: np.ndarray, y: np.ndarray) -> float:
    return np_ece(np_softmax(z), y)


def ece_logits_table(shapes: List[Tuple[int, int]], rounds: int) -> None:
    print("### expected_calibration_error from logits (l1, 15 bins)\n")
    print("numpy: softmax (`exp(z - max)`, divided by its row sums) then `np_ece`; torch: "
          "`torch.softmax(z, 1).max(1)` (the confidences and predictions only, no binning); "
          "÷ logsumexp: fastentropy's time ÷ `fe.logsumexp(z, axis=1)` on the same array.\n")
    print("| shape (N, C) | dtype | fastentropy | numpy | torch (softmax.max) | ×numpy | ×torch | ÷ logsumexp |")
    print("|---|---|---|---|---|---|---|---|")
    for n, c in shapes:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(1)
            z = (rng.normal(size=(n, c)) * 3).astype(dtype)
            y = rng.integers(0, c, size=n)
            want = np_ece_logits(z.astype(np.float64), y)
            assert abs(want - fe.expected_calibration_error(z, y, from_logits=True)) < 1e-5
            impls: Dict[str, Callable[[], Any]] = {
                "fe": lambda: fe.expected_calibration_error(z, y, from_logits=True),
                "numpy": lambda: np_ece_logits(z, y),
                "lse": lambda: fe.logsumexp(z, axis=1),
            }
            if torch is not None:
                zt = torch.from_numpy(z)
                impls["torch"] = lambda: torch.softmax(zt, 1).max(1)
            t = time_side_by_side(impls, rounds)
            row(f"({n}, {c})", dtype, [ms(t["fe"]), ms(t["numpy"]), ms(t.get("torch"))],
                [ratio(t["numpy"], t["fe"]), ratio(t.get("torch"), t["fe"]), f"{t['fe'] / t['lse']:.2f}"])
    print()


def np_psi(p: np.ndarray, q: np.ndarray, smoothing: float) -> Any:
    P, Q = p + smoothing, q + smoothing
    P, Q = P / P.sum(-1, keepdims=True), Q / Q.sum(-1, keepdims=True)
    return ((P - Q) * np.log(P / Q)).sum(-1)


def drift_table(shapes: List[Tuple[int, int]], rounds: int) -> None:
    print("### drift: population_stability_index and smoothed kl_divergence (smoothing=0.5)\n")
    print("Histogram counts (Poisson, mean 3: many empty bins) of a reference and a current population, "
          "one histogram per row. numpy: `P = (p + s) / sum; Q = ...; ((P - Q) * log(P / Q)).sum(-1)`; "
          "scipy: `scipy.stats.entropy(p + s, q + s, axis=-1)` (it normalises) for the KL row.\n")
    print("| measure | shape (N, C) | dtype | fastentropy | peer | ×peer |")
    print("|---|---|---|---|---|---|")
    import scipy.stats

    for n, c in shapes:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(2)
            p = rng.poisson(3.0, size=(n, c)).astype(dtype)
            q = rng.poisson(3.0, size=(n, c)).astype(dtype)
            cases = [
                ("population_stability_index", "numpy",
                 lambda: fe.population_stability_index(p, q, smoothing=0.5), lambda: np_psi(p, q, 0.5)),
                ("kl_divergence", "scipy",
                 lambda: fe.kl_divergence(p, q, smoothing=0.5), lambda: scipy.stats.entropy(p + 0.5, q + 0.5, axis=-1)),
            ]
            for name, peer_name, ours, peer in cases:
                got = np.asarray(peer(), dtype=np.float64)
                assert np.allclose(got, ours(), rtol=1e-4, atol=1e-6), f"{peer_name} {name} disagrees"
                t = time_side_by_side({"fe": ours, "peer": peer}, rounds)
                print(f"| {name} | ({n}, {c}) | {np.dtype(dtype).name} | {ms(t['fe'])} | {peer_name} {ms(t['peer'])} "
                      f"| {ratio(t['peer'], t['fe'])} |", flush=True)
    print()


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the headline shapes only")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tables", default="ensemble,ensemble_logits,ece,ece_logits,drift",
                    help="comma-separated subset of ensemble, ensemble_logits, ece, ece_logits, drift")
    args = ap.parse_args(argv)
    if args.threads:
        fe.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    tables: Dict[str, Tuple[Callable[[Any, int], None], List[Any]]] = {
        "ensemble": (ensemble_table, ENSEMBLE_SHAPES),
        "ensemble_logits": (ensemble_logits_table, ENSEMBLE_SHAPES),
        "ece": (ece_table, ECE_SHAPES),
        "ece_logits": (ece_logits_table, ECE_SHAPES),
        "drift": (drift_table, DRIFT_SHAPES),
    }
    for name in args.tables.split(","):
        if name not in tables:
            ap.error(f"--tables: unknown table {name!r}; choose from {', '.join(tables)}")
        table, shapes = tables[name]
        table(shapes[:1] if args.quick else shapes, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
