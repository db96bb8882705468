"""Concurrency: 8 Python threads calling the measures at once on shared (read-only) inputs
all get the single-threaded results bit for bit, small calls and calls large enough to
use the rayon pool alike; and the GIL is really released while the core computes.

The GIL check is a fact about the interpreter, not a timing: with the switch interval set
to 1000 s, a thread that holds the GIL is never preempted, so a second thread can run
Python only if the first one gives the GIL up. The worker signals "about to call" and then
goes straight into the library; the main thread, woken by that signal, can take the GIL
only when the call releases it — it then sees the call still running. A call that held the
GIL would be seen finished. No clock is read, so a slow or busy machine cannot fail it.
(How much two threads overlap in wall time is measured in benches/bench.py.)
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import fastentropy as fe


@pytest.fixture
def keep_threads() -> Any:
    before = fe.get_num_threads()
    yield before
    fe.set_num_threads(before)


def _inputs() -> Dict[str, Any]:
    rng = np.random.default_rng(0)
    d: Dict[str, Any] = {
        "p": rng.random((64, 33)),
        "q": rng.random((64, 33)).astype(np.float32),
        "big_p": rng.random(300_000),
        "big_q": rng.random(300_000),
        "x": rng.integers(0, 50, 200_000),
        "y": rng.integers(0, 70, 200_000),
        "table": rng.integers(0, 9, (40, 30)),
    }
    d["sparse"] = d["x"] * (1 << 41) + 17
    for a in d.values():
        a.flags.writeable = False
    return d


def _calls(d: Dict[str, Any]) -> List[Tuple[str, Callable[[], Any]]]:
    return [
        ("entropy", lambda: fe.entropy(d["p"])),
        ("kl", lambda: fe.kl_divergence(d["p"], d["q"])),
        ("js", lambda: fe.js_divergence(d["p"], d["q"], axis=0)),
        ("js_big", lambda: fe.js_distance(d["big_p"], d["big_q"], base=2)),
        ("perplexity", lambda: fe.perplexity(d["big_p"])),
        ("label_entropy", lambda: fe.label_entropy(d["sparse"], miller_madow=True)),
        ("joint", lambda: fe.joint_entropy(d["x"], d["y"])),
        ("conditional", lambda: fe.conditional_entropy(d["sparse"], d["y"])),
        ("mi", lambda: fe.mutual_information(d["x"], d["y"])),
        ("mi_sparse", lambda: fe.mutual_information(d["sparse"], d["y"])),
        ("mi_table", lambda: fe.mutual_information(contingency=d["table"])),
        ("nmi", lambda: fe.normalized_mutual_information(d["sparse"], d["y"], average_method="max")),
    ]


def _bits(v: Any) -> bytes:
    return np.asarray(v, dtype=np.float64).tobytes()


@pytest.mark.parametrize("pool_threads", [1, 2])
def test_eight_threads_get_the_single_threaded_results(pool_threads: int, keep_threads: Any) -> None:
    fe.set_num_threads(pool_threads)
    d = _inputs()
    calls = _calls(d)
    expected = {name: _bits(f()) for name, f in calls}
    barrier = threading.Barrier(8)
    errors: List[str] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for i in range(6):
                # each thread walks the calls in its own rotation, so different measures overlap
                for name, f in calls[k % len(calls):] + calls[: k % len(calls)]:
                    got = _bits(f())
                    if got != expected[name]:
                        errors.append(f"thread {k}, round {i}: {name} differs")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(f"thread {k}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[:5]


def _long_call(measure: str) -> Callable[[], Any]:
    """One call that computes for a while in Rust on inputs the Python wrapper passes
    through untouched (native float64 / int64, contiguous), so that nothing before the
    core — no NumPy conversion that might drop the GIL itself — can let another thread in."""
    rng = np.random.default_rng(1)
    if measure == "js_divergence":
        p, q = rng.random(4_000_000), rng.random(4_000_000)
        return lambda: fe.js_divergence(p, q)
    if measure == "entropy":
        x = rng.random((2_000, 2_000))
        return lambda: fe.entropy(x)
    x, y = rng.integers(0, 60, 4_000_000), rng.integers(0, 40, 4_000_000)
    return lambda: fe.mutual_information(x, y)


@pytest.mark.parametrize("measure", ["entropy", "js_divergence", "mutual_information"])
@pytest.mark.parametrize("pool_threads", [1, 2])
def test_the_gil_is_released_during_the_call(measure: str, pool_threads: int, keep_threads: Any) -> None:
    fe.set_num_threads(pool_threads)
    call = _long_call(measure)
    call()  # warm up: thread pool, first-use dispatch
    entering, finished = threading.Event(), threading.Event()

    def worker() -> None:
        entering.set()
        call()
        finished.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=worker)
        t.start()
        entering.wait()
        # The main thread runs again here only once the worker gave up the GIL.
        seen_running = not finished.is_set()
        t.join()
    finally:
        sys.setswitchinterval(interval)
    assert seen_running, f"{measure} held the GIL for the whole call"


def test_the_check_detects_a_call_that_holds_the_gil() -> None:
    """The control: a pure-Python busy call holds the GIL (no preemption with the long
    switch interval), and the same check sees it finished."""
    entering, finished = threading.Event(), threading.Event()

    def worker() -> None:
        entering.set()
        sum(range(3_000_000))
        finished.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=worker)
        t.start()
        entering.wait()
        seen_running = not finished.is_set()
        t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not seen_running
