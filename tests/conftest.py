"""Shared test configuration: the hypothesis profile and the golden reference cases.

Hypothesis runs under the profiles of ``hypothesis_profiles.py``: derandomized in CI (the
default), random with ``HYPOTHESIS_PROFILE=explore``.

Golden data (DESIGN.md §5): ``shared/golden/`` beside the repository is the source of truth.
When it is present and differs from ``tests/data/``, its files are copied into
``tests/data/`` before loading, so the repository stays self-contained; the tests always
read ``tests/data/``.
"""

from __future__ import annotations

import filecmp
import functools
import json
import shutil
import stat
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import hypothesis_profiles  # noqa: F401  (registers and loads the hypothesis profile)


def pytest_configure(config: pytest.Config) -> None:
    # With filterwarnings = ["error"], hypothesis' report hook turns a failing property into
    # an INTERNALERROR when it imports a module that warns (mypy_extensions.TypedDict, seen
    # with hypothesis 6.170 on Python 3.11). Only this one foreign warning is let through.
    config.addinivalue_line("filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")


TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"
REPO_ROOT = TESTS_DIR.parent
SHARED_GOLDEN = REPO_ROOT.parent / "shared" / "golden"

# source name in shared/golden -> name in tests/data
GOLDEN_FILES = {"cases.json": "cases.json", "arrays.npz": "arrays.npz", "README.md": "GOLDEN.md"}


def sync_golden(source: Path = SHARED_GOLDEN, dest: Path = DATA_DIR) -> List[str]:
    """Copies the golden files that differ from ``dest`` out of ``source``; returns their names."""
    copied: List[str] = []
    if not source.is_dir():
        return copied
    dest.mkdir(parents=True, exist_ok=True)
    for src_name, dest_name in GOLDEN_FILES.items():
        src, dst = source / src_name, dest / dest_name
        if not src.is_file():
            continue
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        if dst.exists():
            # the shared copies are read-only, and so are files copied from them before
            dst.chmod(dst.stat().st_mode | stat.S_IWUSR)
            dst.unlink()
        shutil.copyfile(src, dst)
        copied.append(dest_name)
    return copied


@functools.lru_cache(maxsize=None)
def golden_cases() -> List[Dict[str, Any]]:
    """The cases of ``tests/data/cases.json`` (after syncing from shared/golden)."""
    sync_golden()
    with open(DATA_DIR / "cases.json", encoding="utf-8") as f:
        return list(json.load(f)["cases"])


@functools.lru_cache(maxsize=None)
def _golden_arrays() -> Dict[str, np.ndarray]:
    sync_golden()
    with np.load(DATA_DIR / "arrays.npz", allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@pytest.fixture(scope="session")
def golden_arrays() -> Dict[str, np.ndarray]:
    """Every array of ``tests/data/arrays.npz`` by name (fresh copies: tests may not alter them)."""
    return {name: arr.copy() for name, arr in _golden_arrays().items()}


@pytest.fixture(scope="session")
def golden_pristine() -> Dict[str, np.ndarray]:
    """The arrays as loaded, never handed to the library: to check nothing was modified."""
    return _golden_arrays()


@pytest.fixture(scope="session")
def golden_case_list() -> List[Dict[str, Any]]:
    """Every case of cases.json."""
    return golden_cases()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrises a ``golden_case`` argument with every case of cases.json, by name."""
    if "golden_case" in metafunc.fixturenames:
        cases = golden_cases()
        metafunc.parametrize("golden_case", cases, ids=[c["name"] for c in cases])


@pytest.fixture
def restore_threads():
    """Restores the thread count a test changes."""
    import fastentropy as fe

    before = fe.get_num_threads()
    yield before
    fe.set_num_threads(before)
