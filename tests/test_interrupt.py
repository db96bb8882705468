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
    import sys
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
