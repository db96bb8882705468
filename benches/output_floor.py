"""The output floor of short rows: creating a fresh float64 result of one value per row
(`np.full(N, 1.0)`, i.e. page faults + zeroing + one write) against `np.sum` of the (N, C)
input, next to fastentropy's entropy of the same input. Medians of interleaved rounds.

    python benches/output_floor.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np

import fastentropy as fe


def median_time(f: Callable[[], Any], rounds: int = 15) -> float:
    f()
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    print("| dtype | C | np.full(N) ÷ np.sum | fe.entropy ÷ np.sum |")
    print("|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        for c in (1, 2, 3):
            n = 10**7 // c
            p = np.random.default_rng(0).random((n, c)).astype(dtype)
            base = median_time(lambda: p.sum())
            full = median_time(lambda: np.full(n, 1.0))
            h = median_time(lambda: fe.entropy(p))
            print(f"| {np.dtype(dtype).name} | {c} | {full / base:.2f} | {h / base:.2f} |")


if __name__ == "__main__":
    main()
