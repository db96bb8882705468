"""The hypothesis profiles every property test runs under (imported by conftest.py and by
the fuzz worker subprocess).

- ``ci`` (the default): **derandomized** — the examples are a fixed function of each test,
  so the suite gives the same verdict on every run and every machine. No example database
  (nothing carried over between runs), no deadline (the first call pays for the thread pool).
- ``explore``: random examples, ``FASTENTROPY_MAX_EXAMPLES`` of them (default 10 000) per
  property, to look for new failures::

      HYPOTHESIS_PROFILE=explore python -m pytest tests/test_properties.py

  A failure found this way is added to the test as a permanent ``@example`` (or, for the
  fuzz worker, to ``tests/test_fuzz.py``'s ``REGRESSIONS``), so CI checks it forever.

``FASTENTROPY_MAX_EXAMPLES`` overrides the example count of either profile (``ci``: 100).
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def _examples(default: int) -> int:
    return int(os.environ.get("FASTENTROPY_MAX_EXAMPLES", str(default)))


settings.register_profile(
    "ci", max_examples=_examples(100), deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("explore", max_examples=_examples(10_000), deadline=None, print_blob=True)
settings.load_profile(PROFILE)
