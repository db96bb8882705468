"""Ragged columns are read in place: scoring a 200 MB column — NumPy values with offsets,
a pyarrow list array or chunked array, a polars Series, a nanoarrow array, a CSR matrix —
raises the peak resident set size by less than 16 MiB (the scores themselves are 2 MB).

Each measurement runs in a fresh interpreter (as tests/test_memory.py): build and touch
the inputs, warm up, record ru_maxrss, score, record it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any, Dict

import pytest

from _fresh import run_fresh

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are kB on Linux only")]

ALLOWED_GROWTH_MIB = 16

PRELUDE = textwrap.dedent(
    """
    import json, resource
    import numpy as np
    import fastentropy as fe

    def peak_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 151, 250_000)            # mean 100: 25M values, 200 MB of float64
    offsets = np.zeros(lengths.size + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.empty(int(offsets[-1]))
    rng.random(out=values)
    values += 0.01
    q = values[::-1].copy()
    labels = (lengths // 2).astype(np.int64)
    fe.entropy(values[:1000], offsets=offsets[:3])     # start the thread pool, load the kernels
    """
)


def _measure(setup: str, calls: str) -> Dict[str, Any]:
    body = setup + "\nbefore = peak_mib()\n" + calls + "\nafter = peak_mib()\n"
    body += "print(json.dumps({'before': before, 'after': after, 'mib': values.nbytes / 2**20}))\n"
    proc = run_fresh([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# one call at a time: each result (2 MB) is checked, then dropped
CALLS = """
calls = [lambda: fe.entropy(P), lambda: fe.perplexity(P), lambda: fe.kl_divergence(P, Q), lambda: fe.cross_entropy(P, Q)]
calls += [lambda: fe.js_distance(P, Q), lambda: fe.logsumexp(P), lambda: fe.softmax_cross_entropy(P, labels, reduction="none")]
for call in calls:
    r = call()
    assert np.isfinite(r).all() and r.shape == (250_000,)
    del r
"""

CASES = {
    "offsets": (
        "o = offsets",
        """
calls = [lambda: fe.entropy(values, offsets=o), lambda: fe.perplexity(values, offsets=o)]
calls += [lambda: fe.kl_divergence(values, q, offsets=o), lambda: fe.cross_entropy(values, q, offsets=o)]
calls += [lambda: fe.js_distance(values, q, offsets=o), lambda: fe.logsumexp(values, offsets=o)]
calls += [lambda: fe.softmax_cross_entropy(values, labels, offsets=o, reduction="none")]
for call in calls:
    r = call()
    assert np.isfinite(r).all() and r.shape == (250_000,)
    del r
""",
    ),
    "pyarrow": (
        "import pyarrow as pa\nP = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))\n"
        "Q = pa.ListArray.from_arrays(pa.array(offsets), pa.array(q))",
        CALLS,
    ),
    "pyarrow-chunked": (
        "import pyarrow as pa\nA = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))\n"
        "P = pa.chunked_array([A.slice(0, 100_000), A.slice(100_000, 1), A.slice(100_001)])\n"
        "B = pa.ListArray.from_arrays(pa.array(offsets), pa.array(q))\nQ = pa.chunked_array([B.slice(0, 7), B.slice(7)])",
        CALLS,
    ),
    "polars": (
        "import pyarrow as pa, polars as pl\nP = pl.Series(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)))\n"
        "Q = pl.Series(pa.ListArray.from_arrays(pa.array(offsets), pa.array(q)))",
        CALLS,
    ),
    "nanoarrow": (
        "import pyarrow as pa, nanoarrow as na\nP = na.Array(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)))\n"
        "Q = na.Array(pa.ListArray.from_arrays(pa.array(offsets), pa.array(q)))",
        CALLS,
    ),
    "nulls": (
        # 1% null rows and 0.1% null values: rows with nulls are copied in small batches
        "import pyarrow as pa\nvalid = rng.random(values.size) > 0.001\n"
        "P = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, mask=~valid), mask=pa.array(rng.random(250_000) < 0.01))\n"
        "Q = pa.ListArray.from_arrays(pa.array(offsets), pa.array(q))",
        CALLS.replace("np.isfinite(r).all() and ", ""),  # null rows are NaN
    ),
    "csr": (
        "import scipy.sparse as sp\nindices = np.concatenate([np.arange(n, dtype=np.int32) for n in lengths])\n"
        "P = sp.csr_array((values, indices, offsets), shape=(250_000, 150))\n"
        "Q = sp.csr_array((q, indices, offsets), shape=(250_000, 150))",
        CALLS.replace("calls += [lambda: fe.js_distance(P, Q), lambda: fe.logsumexp(P), ", "calls += [lambda: fe.js_distance(P, Q)]  # ")
    ),
}

NEEDS = {"pyarrow": "pyarrow", "pyarrow-chunked": "pyarrow", "polars": "polars", "nanoarrow": "nanoarrow", "nulls": "pyarrow", "csr": "scipy"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ragged_columns_are_read_in_place(case: str) -> None:
    if case in NEEDS:
        pytest.importorskip(NEEDS[case], reason=f"{NEEDS[case]} is not installed (pip install 'fastentropy[all]')")
    setup, calls = CASES[case]
    m = _measure(setup, calls)
    assert m["mib"] > 190
    growth = m["after"] - m["before"]
    assert growth < ALLOWED_GROWTH_MIB, (
        f"{case}: peak RSS grew by {growth:.1f} MiB (from {m['before']:.0f} to {m['after']:.0f}) scoring "
        f"a {m['mib']:.0f} MiB column; allowed < {ALLOWED_GROWTH_MIB} MiB"
    )


def test_the_measurement_detects_a_copy() -> None:
    """Control: a copy of the column's values is seen."""
    m = _measure("P = values", "c = values.copy()")
    assert m["after"] - m["before"] > 180, m
