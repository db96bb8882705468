"""Ctrl-C stops a long call: SIGINT during a call raises KeyboardInterrupt from it (not
after it returns), and the module stays usable.

Each case runs in a fresh interpreter: it prints ``started`` just before a call that would
compute for minutes (a zero-stride broadcast input: huge, but no memory), the test sends
SIGINT, and the child reports what the call did. No clock decides the verdict: a call that
ignored the signal would run past the subprocess's time limit and fail the test.

Functions whose work is bounded by the memory of their output (softmax / log_softmax,
gradients, nll_loss's per-row losses) cannot be made to run for minutes this way; their
checks are the same (``RowStop``) and ``benches/interrupt_latency.py`` measures them, with
every other function, as the time from SIGINT to KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")

# Each expression computes for minutes unless interrupted (~10^11 element visits), reading
# zero-stride broadcasts: huge, but no memory (the results hold one value per row at most).
CALLS = {
    "entropy": "fe.entropy(np.broadcast_to(row, (ROWS, row.size)))",
    "entropy-f32": "fe.entropy(np.broadcast_to(row.astype(np.float32), (ROWS, row.size)))",
    "kl_divergence": "fe.kl_divergence(np.broadcast_to(row, (ROWS, row.size)), row[::-1])",
    "cross_entropy": "fe.cross_entropy(np.broadcast_to(row, (ROWS, row.size)), row[::-1])",
    "js_divergence": "fe.js_divergence(np.broadcast_to(row, (ROWS, row.size)), row[::-1])",
    "perplexity": "fe.perplexity(np.broadcast_to(row, (ROWS, row.size)))",
    "one-long-row": "fe.entropy(np.broadcast_to(row[:1], (ROWS * row.size,)))",
    # the loss family
    "logsumexp": "fe.logsumexp(np.broadcast_to(row, (ROWS, row.size)))",
    "logsumexp-one-long-row": "fe.logsumexp(np.broadcast_to(row[:1], (ROWS * row.size,)))",
    "softmax_cross_entropy": "fe.softmax_cross_entropy(np.broadcast_to(row, (ROWS, row.size)), np.zeros(ROWS, np.int64))",
    "softmax_cross_entropy-smoothing": (
        "fe.softmax_cross_entropy(np.broadcast_to(row, (ROWS, row.size)), np.zeros(ROWS, np.int64),"
        " label_smoothing=0.1, weight=np.ones(row.size), reduction='sum')"
    ),
    "softmax_cross_entropy-probs": (
        "fe.softmax_cross_entropy(np.broadcast_to(row, (ROWS, row.size)), np.broadcast_to(row, (ROWS, row.size)))"
    ),
    "softmax_cross_entropy-one-long-row": (
        "fe.softmax_cross_entropy(np.broadcast_to(row[:1], (1, ROWS * row.size)), np.zeros(1, np.int64))"
    ),
    "binary_cross_entropy_with_logits": (
        "fe.binary_cross_entropy_with_logits(np.broadcast_to(row, (ROWS, row.size)), np.broadcast_to(row, (ROWS, row.size)))"
    ),
    # the label / mutual-information family
    "label_entropy": "fe.label_entropy(np.broadcast_to(labels, (ROWS, labels.size)))",
    "label_entropy-pooled": "fe.label_entropy(np.broadcast_to(labels, (ROWS, labels.size)), axis=None)",
    "mutual_information": "fe.mutual_information(same, same)",
    "joint_entropy": "fe.joint_entropy(same, same)",
    "conditional_entropy": "fe.conditional_entropy(same, same)",
    "normalized_mutual_information": "fe.normalized_mutual_information(same, same)",
    "mutual_information-table": "fe.mutual_information(contingency=np.broadcast_to(row, (ROWS, row.size)))",
}

CHILD = textwrap.dedent(
    """
    import signal, sys
    # A shell's background job starts with SIGINT ignored (Python then installs no
    # KeyboardInterrupt handler): install it, so the test works from any shell.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import fastentropy as fe

    fe.set_num_threads({threads})
    row = np.linspace(0.1, 1.0, 100_000)
    ROWS = 1_000_000
    labels = np.arange(100_000) % 1000
    # 10^11 samples of one label: a zero stride, no memory
    same = np.lib.stride_tricks.as_strided(np.zeros(1, np.int64), (ROWS * row.size,), (0,))
    print("started", flush=True)
    try:
        {call}
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    # still usable: the same functions on small inputs, and the pool
    assert abs(fe.entropy([0.5, 0.5]) - np.log(2)) < 1e-15
    assert fe.entropy(np.ones((300_000, 2))).shape == (300_000,)
    assert abs(fe.logsumexp([0.0, 0.0]) - np.log(2)) < 1e-15
    assert abs(fe.softmax_cross_entropy(np.zeros((300_000, 2)), np.zeros(300_000, np.int64)) - np.log(2)) < 1e-12
    assert abs(fe.mutual_information(np.arange(300_000) % 2, np.arange(300_000) % 2) - np.log(2)) < 1e-15
    assert fe.label_entropy(np.arange(4), base=2) == 2.0
    print("usable", flush=True)
    """
)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", sorted(CALLS))
def test_ctrl_c_interrupts_a_long_call(case: str, threads: int) -> None:
    code = CHILD.format(threads=threads, call=CALLS[case])
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        time.sleep(0.3)  # let the call get into the core (it then runs for minutes)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert out.split() == ["interrupted", "usable"], (out, err)


LEAK_CHILD = textwrap.dedent(
    """
    import os, signal, threading, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # see CHILD
    import numpy as np
    import fastentropy as fe

    try:  # glibc keeps freed memory in its arenas: give it back first, so RSS shows leaks only
        import ctypes
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        trim = lambda _pad: 0

    def rss_mb():
        trim(0)
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    fe.set_num_threads(2)
    row = np.linspace(0.1, 1.0, 100_000)
    B = np.broadcast_to(row, (1_000_000, row.size))
    y = np.zeros(1_000_000, np.int64)
    same = np.lib.stride_tricks.as_strided(np.zeros(1, np.int64), (10**11,), (0,))
    rng = np.random.default_rng(0)
    X, Y = rng.permutation(5_000_000), rng.permutation(5_000_000)
    ids = rng.integers(-2**62, 2**62, 5_000_000)
    calls = [
        lambda: fe.logsumexp(B),
        lambda: fe.softmax_cross_entropy(B, y),
        lambda: fe.label_entropy(np.broadcast_to(np.arange(1000), (1_000_000, 1000))),
        lambda: fe.mutual_information(same, same),
        lambda: fe.mutual_information(X, Y),      # sparse path: ~100 MB of work buffers
        lambda: fe.mutual_information(ids, Y),    # rank coding: a sorted copy, radix scratch
    ]

    def interrupt_soon():
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    def one_round():
        for call in calls:
            t = threading.Thread(target=interrupt_soon)
            t.start()
            try:
                call()
                # a call that ended first (the short ones on a fast machine): wait for the
                # signal here, so it never lands in the next call's Python code
                t.join()
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass
            t.join()

    one_round()                      # warm-up: pool, kernels, allocator high-water marks
    before = rss_mb()
    for _ in range(3):
        one_round()
    print("growth", rss_mb() - before, flush=True)
    """
)


@pytest.mark.slow
def test_interrupted_calls_leak_nothing() -> None:
    """Interrupted calls free every buffer they allocated (Rust drops them on the early
    return): three more rounds of interrupted calls leave the resident size where the first
    round left it. The verdict does not depend on when a signal lands: a call that ends
    before it leaks nothing either.

    glibc's mmap threshold is pinned for the child (``MALLOC_MMAP_THRESHOLD_``): by default
    it rises after the first large free, so later work buffers come from the heap, and
    where the signals land decides how much of it stays fragmented — with the CPU shared
    the growth was 16.1 MB beside another pytest worker and ranged from −19 to +38 MB over
    six runs beside two busy loops, ~0.1 MB idle. Pinned, every buffer above 128 KiB is
    its own mapping, given back on free: 0.06–0.27 MB over eight runs under the same load.
    So the bound can sit below the smallest buffer a call would leak (one 10^6-row result,
    8 MB)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    proc = subprocess.run([sys.executable, "-c", LEAK_CHILD], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    growth = float(proc.stdout.split()[-1])
    assert growth < 4, f"resident size grew by {growth:.1f} MB over 18 interrupted calls"
