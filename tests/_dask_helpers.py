"""Helpers shared by the dask tests (``test_dask.py``, ``test_dask_js.py``)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A LocalCluster of two single-threaded worker processes, one per test module."""
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, Client(cluster) as c:
        yield c


def outcome(call: Callable[[], Any], as_lists: bool = False) -> Any:
    """(exception type, message) of ``call()`` (a dask result is computed), or ("ok",
    value) — the value as nested lists with ``as_lists``, so that ``==`` compares arrays."""
    import dask.array as da

    try:
        result = call()
        if isinstance(result, da.Array):
            result = result.compute()
    except Exception as exc:  # noqa: BLE001 - the point is to compare whatever is raised
        return type(exc), str(exc)
    return "ok", np.asarray(result).tolist() if as_lists else result
