"""Helpers shared by the dask tests (``test_dask.py``, ``test_dask_js.py``)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A LocalCluster of two single-threaded worker processes, one per test module.

    The scheduler's HTTP server (it runs without a dashboard too) takes a free port: on
    its default, 8787, a second cluster started by another pytest-xdist worker at the same
    time warned "Port 8787 is already in use", an error under the suite's warning filter.
    """
    with LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
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
