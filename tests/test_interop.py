"""Inputs other than ndarrays reach the Rust core without a copy where their memory allows.

`_as_float_array` is what every public function applies to its inputs before the (already
copy-free) Rust call; `np.shares_memory` between its result and the producer's memory
proves that no copy was made. Each optional producer is skipped, with the reason, when
its package is not installed.
"""

from __future__ import annotations

import array
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastentropy as fe
from fastentropy._api import _as_float_array

P = np.array([0.1, 0.2, 0.3, 0.4])
H = fe.entropy(P)


def converted(x: Any) -> Any:
    return _as_float_array(x, "p")


def test_numpy_memmap(tmp_path: Path) -> None:
    path = tmp_path / "p.npy"
    np.save(path, np.tile(P, (3, 1)))
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap)
    assert np.shares_memory(converted(mm), mm)
    assert np.array_equal(fe.entropy(mm), [H] * 3)
    raw = np.memmap(tmp_path / "raw.bin", dtype=np.float32, mode="w+", shape=(2, 4))
    raw[:] = P
    assert np.shares_memory(converted(raw), raw)
    np.testing.assert_allclose(fe.entropy(raw[:, ::2]), fe.entropy(P[::2].astype(np.float32)), rtol=0)


@pytest.mark.parametrize("typecode, dtype", [("d", np.float64), ("f", np.float32)])
def test_buffer_protocol_array_array_and_memoryview(typecode: str, dtype: Any) -> None:
    buf = array.array(typecode, P)
    view = np.frombuffer(buf, dtype=dtype)
    for obj in (buf, memoryview(buf), memoryview(buf)[1:]):
        arr = converted(obj)
        assert arr.dtype == dtype and np.shares_memory(arr, view)
    assert fe.entropy(buf) == fe.entropy(view)
    raw = memoryview(np.asarray(P).tobytes()).cast("d")  # a read-only buffer of bytes
    assert converted(raw).flags.writeable is False
    assert fe.entropy(raw) == H


def test_array_interface_and___array__() -> None:
    class WithArray:
        def __init__(self, data: Any) -> None:
            self.data = data

        def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
            return self.data

    class WithInterface:
        def __init__(self, data: Any) -> None:
            self.data = data
            self.__array_interface__ = data.__array_interface__

    base = np.tile(P, (2, 1))
    for obj in (WithArray(base), WithInterface(base)):
        assert np.shares_memory(converted(obj), base)
        assert np.array_equal(fe.entropy(obj), [H, H])


def test_dlpack_only_producer() -> None:
    class DLPackOnly:
        """Exposes its memory only through DLPack (like many array libraries' tensors)."""

        def __init__(self, data: Any) -> None:
            self._data = data

        def __dlpack__(self, **kwargs: Any) -> Any:
            return self._data.__dlpack__(**kwargs)

        def __dlpack_device__(self) -> Any:
            return self._data.__dlpack_device__()

    base = np.tile(P, (2, 1)).astype(np.float32)
    obj = DLPackOnly(base)
    assert np.shares_memory(np.from_dlpack(obj), base)
    assert np.shares_memory(converted(obj), base)
    assert np.array_equal(fe.entropy(obj), fe.entropy(base))
    assert fe.kl_divergence(obj, DLPackOnly(base)).tolist() == [0.0, 0.0]


def test_torch_cpu_tensors() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    t = torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 3, dtype=torch.float64)
    arr = converted(t)
    assert arr.__array_interface__["data"][0] == t.data_ptr()  # the tensor's own memory
    assert np.shares_memory(np.from_dlpack(t), arr)
    assert np.array_equal(fe.entropy(t), [H] * 3)
    t32 = t.to(torch.float32)
    assert converted(t32).__array_interface__["data"][0] == t32.data_ptr()
    np.testing.assert_allclose(fe.kl_divergence(t32, t32.flip(1)), fe.kl_divergence(t32.numpy(), t32.numpy()[:, ::-1]))
    with pytest.raises(TypeError, match="`p` must be an array of real numbers"):
        fe.entropy(torch.ones(3, requires_grad=True))


def test_pyarrow_arrays() -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    a = pa.array(P)
    values = np.frombuffer(a.buffers()[1], dtype=np.float64)
    assert np.shares_memory(converted(a), values)
    assert fe.entropy(a) == H
    f32 = pa.array(P.astype(np.float32))
    assert np.shares_memory(converted(f32), np.frombuffer(f32.buffers()[1], dtype=np.float32))
    chunked = pa.chunked_array([P[:2], P[2:]])  # not one buffer: converted with one copy
    assert fe.entropy(chunked) == H
    assert fe.entropy(pa.array([1, 1, 2])) == fe.entropy([1, 1, 2])  # integer counts


def test_pandas_series_and_dataframes() -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    s = pd.Series(P)
    assert np.shares_memory(converted(s), s.to_numpy())
    assert fe.entropy(s) == H
    block = np.tile(P, (5, 1))
    df = pd.DataFrame(block, columns=list("abcd"))
    assert np.shares_memory(converted(df), df.to_numpy())
    assert np.array_equal(fe.entropy(df), fe.entropy(block))  # rows are distributions
    assert np.array_equal(fe.entropy(df, axis=0), fe.entropy(block, axis=0))  # columns
    assert np.array_equal(fe.kl_divergence(df, df["a"].to_numpy()[:, None]), fe.kl_divergence(block, block[:, :1]))
