"""Concurrency: 8 Python threads calling the measures at once on shared (read-only) inputs
all get the single-threaded results bit for bit, small calls and calls large enough to
use the rayon pool alike; and the GIL is really released while the core computes.

The GIL check is a fact about the interpreter, not a timing: with the switch interval set
to 1000 s, a thread that holds the GIL is never preempted, so the main thread can run
Python while a worker is inside a call only if the call gave the GIL up. The main thread
polls (releasing the GIL between looks) until it sees the worker inside a call; the worker
repeats the call, so however late the OS wakes the main thread a call is still running.
A call that held the GIL is never seen from inside. No clock is read.
(How much two threads overlap in wall time is measured in benches/bench.py.)
"""

from __future__ import annotations

import sys
import threading
import time
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


class _Worker:
    """Runs `call` up to `rounds` times in a thread, flagging when it is inside a call, and
    stops early once the main thread has seen it there."""

    def __init__(self, call: Callable[[], Any], rounds: int) -> None:
        self.call, self.rounds = call, rounds
        self.in_call = False
        self.done = False
        self.seen = False

    def run(self) -> None:
        for _ in range(self.rounds):
            if self.seen:
                break
            self.in_call = True
            self.call()
            self.in_call = False
        self.done = True


def _main_thread_runs_inside_the_call(call: Callable[[], Any], rounds: int) -> bool:
    """True when the main thread, holding the GIL, sees the worker inside `call`.

    With the switch interval at 1000 s the worker is never preempted while it runs Python,
    so the main thread holds the GIL while `in_call` is true only if the call gave the GIL
    up. That is a proof, not a timing: no clock is read. The main thread polls with
    `time.sleep(0)` (which releases the GIL) until it sees the worker inside a call or the
    worker is done; a call that holds the GIL is only ever seen outside. The worker repeats
    the call up to `rounds` times, so a main thread that the OS wakes late still finds a call
    running (the run that failed in CI waited on one ~3 ms call)."""
    worker = _Worker(call, rounds)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=worker.run)
        t.start()
        while not worker.done:
            if worker.in_call:
                worker.seen = True
                break
            time.sleep(0)
        t.join()
    finally:
        sys.setswitchinterval(interval)
    return worker.seen


@pytest.mark.parametrize("measure", ["entropy", "js_divergence", "mutual_information"])
@pytest.mark.parametrize("pool_threads", [1, 2])
def test_the_gil_is_released_during_the_call(measure: str, pool_threads: int, keep_threads: Any) -> None:
    fe.set_num_threads(pool_threads)
    call = _long_call(measure)
    call()  # warm up: thread pool, first-use dispatch
    assert _main_thread_runs_inside_the_call(call, rounds=1000), f"{measure} held the GIL for the whole call"


def test_the_check_detects_a_call_that_holds_the_gil() -> None:
    """The control: a pure-Python busy call holds the GIL (no preemption with the long
    switch interval), and the same check never sees the worker inside it."""
    assert not _main_thread_runs_inside_the_call(lambda: sum(range(20_000)), rounds=200)
