"""The docstring examples run as doctests (STYLE.md: "the examples run as doctests in the
test command")."""

from __future__ import annotations

import doctest
import types

import pytest

import fastentropy
import fastentropy._api


@pytest.mark.parametrize("module", [fastentropy._api, fastentropy], ids=lambda m: m.__name__)
def test_doctests(module: types.ModuleType, restore_threads: int) -> None:
    # the set_num_threads example changes the thread count: restore_threads puts it back
    result = doctest.testmod(module, verbose=False, report=True, optionflags=doctest.ELLIPSIS)
    if module is fastentropy._api:
        assert result.attempted > 0, "no examples found in fastentropy._api"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {module.__name__} (see the output above)"


def test_every_public_function_has_an_example() -> None:
    missing = [
        name
        for name in fastentropy.__all__
        if name not in ("get_num_threads", "simd_isa")
        and ">>>" not in (getattr(fastentropy, name).__doc__ or "")
    ]
    assert not missing, f"public functions without a docstring example: {missing}"


def test_every_public_function_has_a_docstring() -> None:
    missing = [name for name in fastentropy.__all__ if not (getattr(fastentropy, name).__doc__ or "").strip()]
    assert not missing, f"public functions without a docstring: {missing}"
