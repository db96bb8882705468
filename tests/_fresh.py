"""A fresh interpreter for peak-RSS measurements.

Linux keeps a process's resident-set high-water mark across ``execve``: a child forked
from this (large) pytest process and exec'ing Python starts with ``ru_maxrss`` at *our*
peak, so a "before / after" pair measured in it can show no growth at all — a memory test
that always passes. Launching through a small intermediate interpreter resets that: the
grandchild is forked from a process whose own peak is ~10 MB.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Sequence

_LAUNCH = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def run_fresh(argv: Sequence[str], **kwargs: Any) -> "subprocess.CompletedProcess[Any]":
    """``subprocess.run(argv, **kwargs)`` with the child's peak RSS starting from ~10 MB."""
    return subprocess.run([sys.executable, "-c", _LAUNCH, *argv], **kwargs)
