"""Leak check: resident memory stays flat across many small calls of every measure of this
module and of the earlier ones, on valid input and on every error path (a leaked array,
borrow flag, PyErr or Rust allocation per call would show up as steady growth).

Each measurement runs in a fresh interpreter that reads its current RSS from
/proc/self/statm: warm up (allocator pools, thread pool, first-use dispatch), then record
RSS after a quarter of the calls and at the end; the growth between the two must stay
below a few MiB while the calls would leak far more (10^6 calls leaking one 8-byte object
each would already add > 8 MiB, and any leaked ndarray or PyErr is > 50 bytes).

10^6 calls take ~7 s here (2 cores), so the full check runs by default (not marked
slow). A control run that leaks 64 bytes per call on purpose checks the measurement.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/statm")

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import fastentropy as fe

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    rng = np.random.default_rng(0)
    p, q = rng.random(16), rng.random(16).astype(np.float32)
    rows = rng.random((3, 5))
    x, y = rng.integers(0, 4, 32), rng.integers(0, 3, 32)
    sparse = x * (1 << 40)
    table = rng.integers(0, 5, (3, 4))
    calls = [
        lambda: fe.entropy(p),
        lambda: fe.entropy(rows, axis=0, base=2),
        lambda: fe.kl_divergence(p, q),
        lambda: fe.cross_entropy(p, q),
        lambda: fe.self_information(p),
        lambda: fe.js_divergence(p, q),
        lambda: fe.js_distance(rows, rows[::-1], base=2),
        lambda: fe.perplexity(rows),
        lambda: fe.label_entropy(x, miller_madow=True),
        lambda: fe.joint_entropy(x, y),
        lambda: fe.conditional_entropy(x, y),
        lambda: fe.mutual_information(sparse, y),
        lambda: fe.mutual_information(contingency=table),
        lambda: fe.normalized_mutual_information(x, y, average_method="geometric"),
    ]
    errors = [
        lambda: fe.entropy([-1.0, 1.0]),
        lambda: fe.js_divergence(p, q[:3]),
        lambda: fe.js_divergence([1j], [1.0]),
        lambda: fe.label_entropy([0.5]),
        lambda: fe.mutual_information(x, y[:3]),
        lambda: fe.mutual_information(contingency=[[1, -1]]),
        lambda: fe.normalized_mutual_information(x, y, average_method="mean"),
    ]
    everything = calls + errors

    leaked = []

    def run(n):
        for i in range(n):
            if len(sys.argv) > 2:
                leaked.append(bytes(64))
            f = everything[i % len(everything)]
            try:
                f()
            except (ValueError, TypeError):
                pass

    total = int(sys.argv[1])
    run(total // 10)           # warm-up
    start = rss_mib()
    run(total // 4)
    middle = rss_mib()
    run(total - total // 4)
    end = rss_mib()
    print(f"{start:.1f} {middle:.1f} {end:.1f}")
    """
)


def _growth(calls: int, *extra: str) -> float:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(calls), *extra], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    start, middle, end = map(float, proc.stdout.split())
    print(f"RSS MiB over {calls} calls: start {start}, after 1/4 {middle}, end {end}")
    return end - middle


def test_rss_flat_over_a_million_small_calls() -> None:
    assert _growth(1_000_000) < 4.0


def test_the_measurement_sees_a_leak() -> None:
    """Control: 75 000 calls each leaking a 64-byte object grow RSS by several MiB."""
    assert _growth(100_000, "leak") > 4.0
