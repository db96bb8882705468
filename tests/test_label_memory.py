"""The label functions read integer labels in place — any integer dtype, byte order and
strides — and their work buffers are what the algorithm needs, no more (issue #12: "5·10^7
broadcast labels: +1.1 GB").

Peak RSS in a fresh interpreter (tracemalloc cannot see Rust's allocations), as
``test_memory.py`` measures the float reductions: allocate and touch the inputs, record the
peak, call, record it again. ``test_memory.py::test_the_measurement_detects_a_copy`` is the
control that such a measurement sees a copy.
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

PRELUDE = textwrap.dedent(
    """
    import json, resource
    import numpy as np
    import fastentropy as fe

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    fe.set_num_threads(2)
    fe.mutual_information(np.arange(300_000) % 7, np.arange(300_000) % 5)   # pool, kernels
    fe.label_entropy(np.arange(300_000) % 7)
    """
)


def _measure(body: str) -> Dict[str, Any]:
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    proc = run_fresh([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_broadcast_labels_are_not_copied() -> None:
    # 5·10^7 labels through a zero stride: 400 MB as int64, 0 bytes in memory. Few distinct
    # values: a count per value, nothing per sample.
    m = _measure(
        """
        row = (np.arange(1000) % 97).astype(np.int16)
        labels = np.broadcast_to(row, (50_000, 1000))
        same = np.lib.stride_tricks.as_strided(np.array([3], np.uint32), (50_000_000,), (0,))
        before = peak_mb()
        pooled = fe.label_entropy(labels, axis=None)
        per_row = fe.label_entropy(labels)
        columns = fe.label_entropy(labels, axis=0)
        mi = fe.mutual_information(same, same)
        nmi = fe.normalized_mutual_information(same, same)
        after = peak_mb()
        want = fe.label_entropy(row.astype(np.int64))
        out = {"growth": after - before, "pooled": pooled - want, "rows": float(np.abs(per_row - want).max()),
               "columns": float(np.abs(columns).max()), "mi": mi, "nmi": nmi}
        """
    )
    assert abs(m["pooled"]) < 1e-12 and m["rows"] < 1e-12 and m["columns"] == 0.0, m
    assert m["mi"] == 0.0 and m["nmi"] == 1.0, m
    # per_row holds 50 000 results (0.4 MB); a converted copy would be 400 MB
    assert m["growth"] < 20, m


def test_strided_swapped_and_small_dtypes_are_read_in_place() -> None:
    # 2.5·10^7 samples per variable in views no conversion could keep: every other element,
    # reversed, big-endian, bool, int8. A converted int64 copy of one is 191 MB.
    m = _measure(
        """
        n = 25_000_000
        rng = np.random.default_rng(0)
        base8 = rng.integers(-50, 50, 2 * n).astype(np.int8)
        base32 = (base8.astype(np.int32) * 3 + 7).astype(">i4")          # big-endian
        flags = base8 > 0                                                  # bool
        x, y, b = base8[::2], base32[::-2], flags[::-2]
        assert not x.flags.c_contiguous and not y.dtype.isnative
        before = peak_mb()
        got = [fe.mutual_information(x, y), fe.joint_entropy(x, b), fe.conditional_entropy(y, b),
               fe.normalized_mutual_information(b, x), fe.label_entropy(y), fe.label_entropy(b)]
        after = peak_mb()
        xs, ys, bs = x.astype(np.int64), y.astype(np.int64), b.astype(np.int64)
        want = [fe.mutual_information(xs, ys), fe.joint_entropy(xs, bs), fe.conditional_entropy(ys, bs),
                fe.normalized_mutual_information(bs, xs), fe.label_entropy(ys), fe.label_entropy(bs)]
        out = {"growth": after - before, "got": got, "want": want}
        """
    )
    assert m["got"] == m["want"], m  # the same counts in the same order: bitwise
    assert m["growth"] < 20, m


@pytest.mark.parametrize(
    "family, limit",
    [
        # offset codes: 4 bytes of slots per sample + 4 per class and variable (k = n)
        ("distinct", 13.0),
        # 64-bit ids: a sorted copy of the keys and its radix scratch while a variable is
        # coded (16 bytes/sample) plus the other's codes (4), or the codes (8) and the slots
        # and margins (12) afterwards: 20, plus the rank index (~1 byte per distinct label)
        ("ids64", 22.0),
    ],
)
def test_all_distinct_labels_need_linear_work_memory(family: str, limit: float) -> None:
    m = _measure(
        f"""
        n = 5_000_000
        rng = np.random.default_rng(1)
        if {family!r} == "distinct":
            x, y = rng.permutation(n), rng.permutation(n)
        else:
            x, y = rng.integers(-2**63, 2**63 - 1, n), rng.integers(-2**63, 2**63 - 1, n)
        before = peak_mb()
        mi = fe.mutual_information(x, y)
        after = peak_mb()
        out = {{"growth_bytes_per_sample": (after - before) * 2**20 / n, "mi": mi, "ln_n": float(np.log(n))}}
        """
    )
    assert abs(m["mi"] - m["ln_n"]) < 1e-10 * m["ln_n"], m
    assert m["growth_bytes_per_sample"] < limit, m
