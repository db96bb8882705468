"""Ctrl-C latency: the time from SIGINT to the KeyboardInterrupt of a long call, for every
function (issue #12 asks for < 0.2 s), on 1 and 2 threads.

    python benches/interrupt_latency.py                 # every case, 1 and 2 threads
    python benches/interrupt_latency.py --cases logsumexp "nll_loss (10^8 rows)" --threads 2 --repeat 3

Each measurement runs in a fresh interpreter: it builds the input, prints ``started`` and
enters the call; this script waits ``--delay`` seconds (the call is then deep in the Rust
core), reads CLOCK_MONOTONIC (system-wide on Linux) and sends SIGINT; the child reads the
same clock when KeyboardInterrupt reaches it. The difference is the latency. A call that
ended before the signal is reported as such (its input was too small for this machine).

Most inputs are zero-stride broadcasts (minutes of work, no memory). Functions whose work is
bounded by their output (softmax / log_softmax, gradients, nll_loss's per-row losses,
self_information) and the label paths that need real arrays (all-distinct and 64-bit ids)
use inputs of a few hundred MB. stdout is Markdown.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Dict, List, Optional, Tuple

# name -> (setup, call)
CASES: Dict[str, Tuple[str, str]] = {
    "entropy": ("B = np.broadcast_to(row, (ROWS, row.size))", "fe.entropy(B)"),
    "kl_divergence": ("B = np.broadcast_to(row, (ROWS, row.size))", "fe.kl_divergence(B, row[::-1])"),
    "js_divergence": ("B = np.broadcast_to(row, (ROWS, row.size))", "fe.js_divergence(B, row[::-1])"),
    "logsumexp": ("B = np.broadcast_to(row, (ROWS, row.size))", "fe.logsumexp(B)"),
    "logsumexp (one row of 10^11)": ("B = np.broadcast_to(row[:1], (ROWS * row.size,))", "fe.logsumexp(B)"),
    "log_softmax (400 MB out)": ("x = np.ones((400_000, 250), np.float32)", "fe.log_softmax(x, out=x)"),
    "softmax (400 MB out)": ("x = np.ones((400_000, 250), np.float32)", "fe.softmax(x, out=x)"),
    "softmax_cross_entropy": (
        "B = np.broadcast_to(row, (ROWS, row.size)); y = np.zeros(ROWS, np.int64)",
        "fe.softmax_cross_entropy(B, y)",
    ),
    "softmax_cross_entropy (smoothing, weight)": (
        "B = np.broadcast_to(row, (ROWS, row.size)); y = np.zeros(ROWS, np.int64)",
        "fe.softmax_cross_entropy(B, y, label_smoothing=0.1, weight=np.ones(row.size))",
    ),
    "softmax_cross_entropy (probabilities)": (
        "B = np.broadcast_to(row, (ROWS, row.size))",
        "fe.softmax_cross_entropy(B, B)",
    ),
    "softmax_cross_entropy + grad (400 MB)": (
        "x = np.ones((400_000, 250), np.float32); y = np.zeros(400_000, np.int64)",
        "fe.softmax_cross_entropy(x, y, return_grad=True, grad_out=x)",
    ),
    "nll_loss (10^8 rows)": (
        "B = np.broadcast_to(row[:10], (10**8, 10)); y = np.broadcast_to(np.zeros(1, np.int64), (10**8,))",
        "fe.nll_loss(B, y)",
    ),
    "binary_cross_entropy_with_logits": (
        "B = np.broadcast_to(row, (ROWS, row.size))",
        "fe.binary_cross_entropy_with_logits(B, B)",
    ),
    "self_information (400 MB out)": ("x = np.full(10**8, 0.5, np.float32)", "fe.self_information(x, out=x)"),
    "label_entropy": ("L = np.broadcast_to(np.arange(100_000) % 1000, (ROWS, 100_000))", "fe.label_entropy(L)"),
    "label_entropy (axis=None)": (
        "L = np.broadcast_to(np.arange(100_000) % 1000, (ROWS, 100_000))",
        "fe.label_entropy(L, axis=None)",
    ),
    "label_entropy (64-bit ids, 5·10^7)": (
        "L = np.random.default_rng(0).integers(-2**63, 2**63 - 1, 5 * 10**7)",
        "fe.label_entropy(L)",
    ),
    "mutual_information (10^11 samples)": (
        "S = np.lib.stride_tricks.as_strided(np.zeros(1, np.int64), (ROWS * row.size,), (0,))",
        "fe.mutual_information(S, S)",
    ),
    "mutual_information (all distinct, 3·10^7)": (
        "r = np.random.default_rng(0); X = r.permutation(3 * 10**7); Y = r.permutation(3 * 10**7)",
        "fe.mutual_information(X, Y)",
    ),
    "mutual_information (64-bit ids, 3·10^7)": (
        "r = np.random.default_rng(0); X = r.integers(-2**63, 2**63 - 1, 3 * 10**7); Y = r.integers(-2**63, 2**63 - 1, 3 * 10**7)",
        "fe.mutual_information(X, Y)",
    ),
    "joint_entropy (10^11 samples)": (
        "S = np.lib.stride_tricks.as_strided(np.zeros(1, np.int64), (ROWS * row.size,), (0,))",
        "fe.joint_entropy(S, S)",
    ),
    "conditional_entropy (all distinct, 3·10^7)": (
        "r = np.random.default_rng(0); X = r.permutation(3 * 10**7); Y = r.permutation(3 * 10**7)",
        "fe.conditional_entropy(X, Y)",
    ),
    "normalized_mutual_information (10^11 samples)": (
        "S = np.lib.stride_tricks.as_strided(np.zeros(1, np.int64), (ROWS * row.size,), (0,))",
        "fe.normalized_mutual_information(S, S)",
    ),
    "mutual_information (contingency table)": (
        "B = np.broadcast_to(row, (ROWS, row.size))",
        "fe.mutual_information(contingency=B)",
    ),
}

CHILD = textwrap.dedent(
    """
    import signal, time
    # A shell's background job starts with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: install it, so the measurement works from any shell.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import fastentropy as fe
    fe.set_num_threads({threads})
    row = np.linspace(0.1, 1.0, 100_000)
    ROWS = 1_000_000
    {setup}
    print("started", flush=True)
    try:
        {call}
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
    """
)


NOT_INTERRUPTED = float("inf")


def measure(name: str, threads: int, delay: float, limit: float) -> Optional[float]:
    """Seconds from SIGINT to KeyboardInterrupt; None if the call ended first;
    ``NOT_INTERRUPTED`` if it was still running ``limit`` seconds after the signal."""
    setup, call = CASES[name]
    code = CHILD.format(threads=threads, setup=setup, call=call)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "started":
            raise RuntimeError(f"{name}: {line} {child.stderr.read() if child.stderr else ''}")
        time.sleep(delay)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        try:
            out, err = child.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            return NOT_INTERRUPTED
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    words = out.split()
    if words[:1] == ["interrupted"]:
        return float(words[1]) - sent
    if words[:1] == ["completed"]:
        return None
    raise RuntimeError(f"{name}: {out!r} {err!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=list(CASES), help="a subset of the case names (quoted)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=1, help="measurements per cell (the table shows the median)")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds between 'started' and SIGINT")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds to wait for the interrupt before giving up")
    args = ap.parse_args()
    names = list(args.cases)
    threads = [int(t) for t in args.threads.split(",")]
    print("## Ctrl-C latency (SIGINT → KeyboardInterrupt)\n")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; median of {args.repeat}\n")
    print("| call | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    worst = 0.0
    for name in names:
        cells: List[str] = []
        for t in threads:
            got = [measure(name, t, args.delay, args.limit) for _ in range(args.repeat)]
            done = [g for g in got if g is not None]
            if not done:
                cells.append("ended before SIGINT")
                continue
            missed = sum(g == NOT_INTERRUPTED for g in done)
            m = statistics.median(done)
            worst = max(worst, m)
            cells.append(
                f"{m * 1e3:.0f} ms" + (f" ({missed} of {len(done)} NOT interrupted within {args.limit:.0f} s)" if missed else "")
            )
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nworst median: {worst * 1e3:.0f} ms (target < 200 ms)")


if __name__ == "__main__":
    main()
