"""Thread count: results are bitwise identical for 1, 2 and 7 threads (fixed blocks combined
in a fixed tree, DESIGN.md §3), and FASTENTROPY_NUM_THREADS sets the default."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Callable, Dict, List

import numpy as np
import pytest

import fastentropy as fe

pytestmark = pytest.mark.slow

THREAD_COUNTS = (1, 2, 7)
N = 10**6


@pytest.fixture(scope="module")
def data() -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(2024)
    p = rng.random(N)
    p[rng.random(N) < 0.1] = 0.0
    p[::1000] *= 1e-6  # a mix of scales, so the summation order would show
    q = rng.random(N) + 1e-3
    return {"p": p, "q": q}


CASES: Dict[str, Callable[[Dict[str, np.ndarray]], Any]] = {
    # one long distribution
    "entropy-one-lane": lambda d: fe.entropy(d["p"], axis=None),
    "kl-one-lane": lambda d: fe.kl_divergence(d["p"], d["q"], axis=None),
    "ce-one-lane": lambda d: fe.cross_entropy(d["p"], d["q"], axis=None),
    "entropy-one-lane-raw": lambda d: fe.entropy(d["p"], normalize=False),
    "entropy-one-lane-float32": lambda d: fe.entropy(d["p"].astype(np.float32)),
    # rows of a (1000, 1000) array
    "entropy-rows": lambda d: fe.entropy(d["p"].reshape(1000, 1000)),
    "kl-rows": lambda d: fe.kl_divergence(d["p"].reshape(1000, 1000), d["q"].reshape(1000, 1000)),
    "ce-rows": lambda d: fe.cross_entropy(d["p"].reshape(1000, 1000), d["q"].reshape(1000, 1000)),
    # columns (axis=0): strided distributions
    "entropy-columns": lambda d: fe.entropy(d["p"].reshape(1000, 1000), axis=0),
    "kl-columns": lambda d: fe.kl_divergence(d["p"].reshape(1000, 1000), d["q"].reshape(1000, 1000), axis=0),
    "ce-columns": lambda d: fe.cross_entropy(d["p"].reshape(1000, 1000), d["q"].reshape(1000, 1000), axis=0),
    # a few long columns: each spans many blocks
    "entropy-long-columns": lambda d: fe.entropy(d["p"].reshape(250_000, 4), axis=0),
    "kl-broadcast-q": lambda d: fe.kl_divergence(d["p"].reshape(1000, 1000), d["q"][:1000]),
    "self-information": lambda d: fe.self_information(d["p"]),
}


def _as_bytes(result: Any) -> bytes:
    if isinstance(result, float):
        return np.float64(result).tobytes()
    return np.ascontiguousarray(result).tobytes()


@pytest.mark.parametrize("case", list(CASES))
def test_bitwise_identical_for_any_thread_count(case: str, data: Dict[str, np.ndarray], restore_threads: int) -> None:
    seen: List[bytes] = []
    for threads in THREAD_COUNTS:
        fe.set_num_threads(threads)
        assert fe.get_num_threads() == threads
        first = CASES[case](data)
        again = CASES[case](data)
        assert _as_bytes(first) == _as_bytes(again), f"not reproducible with {threads} threads"
        if isinstance(first, float):
            assert type(first) is float
        seen.append(_as_bytes(first))
    for threads, result in zip(THREAD_COUNTS[1:], seen[1:]):
        assert result == seen[0], f"{threads} threads differ from 1 thread"


def test_results_are_finite_and_sane(data: Dict[str, np.ndarray]) -> None:
    """Guards the test above against comparing NaNs or empty results."""
    h = CASES["entropy-one-lane"](data)
    assert 0.0 < h < np.log(N)
    assert np.all(np.isfinite(CASES["kl-rows"](data)))
    assert CASES["entropy-columns"](data).shape == (1000,)


def test_set_num_threads_round_trips(restore_threads: int) -> None:
    for n in (1, 3, 2, 7):
        fe.set_num_threads(n)
        assert fe.get_num_threads() == n


def _run(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "FASTENTROPY_NUM_THREADS"}
    environ.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_environment_variable_sets_the_default() -> None:
    assert _run("import fastentropy as fe; print(fe.get_num_threads())", FASTENTROPY_NUM_THREADS="3") == "3"
    assert _run("import fastentropy as fe; print(fe.get_num_threads())", FASTENTROPY_NUM_THREADS="1") == "1"


def test_environment_variable_does_not_change_results() -> None:
    code = (
        "import numpy as np, fastentropy as fe\n"
        "p = np.random.default_rng(5).random((300, 1000))\n"
        "print(np.float64(fe.entropy(p, axis=None)).tobytes().hex(), fe.entropy(p, axis=0).tobytes().hex()[:64])\n"
    )
    outputs = {_run(code, FASTENTROPY_NUM_THREADS=n) for n in ("1", "2", "5")}
    assert len(outputs) == 1, outputs


@pytest.mark.parametrize("value", ["0", "-2", "abc", ""])
def test_invalid_environment_variable_falls_back_to_the_default(value: str) -> None:
    default = _run("import fastentropy as fe; print(fe.get_num_threads())")
    assert int(default) >= 1
    assert _run("import fastentropy as fe; print(fe.get_num_threads())", FASTENTROPY_NUM_THREADS=value) == default


def test_set_num_threads_overrides_the_environment() -> None:
    code = "import fastentropy as fe; fe.set_num_threads(2); print(fe.get_num_threads())"
    assert _run(code, FASTENTROPY_NUM_THREADS="3") == "2"


@pytest.mark.parametrize("value", ["100000", "18446744073709551617"])
def test_a_huge_environment_variable_is_clamped(value: str) -> None:
    code = "import fastentropy as fe; import numpy as np; fe.entropy(np.ones((300_000, 2))); print(fe.get_num_threads())"
    assert _run(code, FASTENTROPY_NUM_THREADS=value) == str(max(8, 4 * (os.cpu_count() or 1)))
