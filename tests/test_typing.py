"""The typed API: `mypy --strict` is clean on python/, and `_core.pyi` matches the binary
(`mypy.stubtest`, as pydantic-core checks its stub). Skipped, with the reason, without mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fastentropy

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_py_typed_is_shipped() -> None:
    package = Path(fastentropy.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_core.pyi").exists()


@pytest.mark.skipif(not (ROOT / "python").is_dir(), reason="needs the source tree (python/)")
def test_mypy_strict_is_clean() -> None:
    proc = mypy("mypy", "--strict", "python/")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stub_matches_the_extension() -> None:
    proc = mypy("mypy.stubtest", "fastentropy._core", "--allowlist", str(ROOT / "tests" / "stubtest_allowlist.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
