"""The files of ``python -m fastentropy score``: reading inputs in chunks of rows (``.npy``
memory-mapped, ``.npz``, ``.parquet`` batch by batch — ragged list rows as
:class:`RaggedBlock`) and writing outputs through a temporary file renamed at the end,
with the permissions ``open()`` would give and never over one of the inputs."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray

INPUT_SUFFIXES = (".npy", ".npz", ".parquet")
OUTPUT_SUFFIXES = (".npy", ".csv", ".parquet")


class UsageError(Exception):
    """A problem with the command line or the files, reported as one line, exit status 2."""


# ---- reading -----------------------------------------------------------------------------


class RaggedBlock(NamedTuple):
    """Rows of different lengths read from a Parquet list column: row ``i`` of the block is
    ``values[offsets[i]:offsets[i + 1]]`` (Arrow's layout, read without re-cutting)."""

    values: NDArray[Any]
    offsets: NDArray[np.int64]
    #: Index of the block's first row in the file (for messages).
    first_row: int
    #: The length every row should have (the first row's), and the first row without it.
    width: int
    odd_row: int


Block = Union[NDArray[Any], RaggedBlock]


def _ragged_error(what: str, path: str, block: RaggedBlock) -> UsageError:
    row = block.first_row + block.odd_row
    length = int(block.offsets[block.odd_row + 1] - block.offsets[block.odd_row])
    return UsageError(
        f"{what} {path!r}: the rows of its list column have different lengths (the first row "
        f"has {block.width} values, row {row} has {length}); ragged rows are not supported yet: "
        "pad them to one length"
    )


class Source:
    """An input array read in chunks of whole rows (along the first axis)."""

    def __init__(self, path: str, what: str, key: Optional[str] = None) -> None:
        self.path, self.what = path, what
        self.array: Optional[NDArray[Any]] = None
        self._parquet: Any = None
        suffix = os.path.splitext(path)[1].lower()
        if not os.path.exists(path):
            raise UsageError(f"{what} {path!r}: no such file")
        if suffix == ".npy":
            try:
                self.array = np.load(path, mmap_mode="r", allow_pickle=False)
            except Exception as exc:
                raise UsageError(f"{what} {path!r} is not a readable .npy file: {exc}") from None
        elif suffix == ".npz":
            self.array = _read_npz(path, what, key)
        elif suffix == ".parquet":
            self._parquet, self.shape_ = _open_parquet(path, what)
        else:
            raise UsageError(f"{what} {path!r}: unknown format {suffix!r}; expected one of {', '.join(INPUT_SUFFIXES)}")
        if self.array is not None:
            if self.array.dtype.kind not in "biuf":
                raise UsageError(f"{what} {path!r} must hold real numbers, got dtype {self.array.dtype}")
            self.shape_ = self.array.shape

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.shape_)

    def whole(self) -> NDArray[Any]:
        """The whole array (memory-mapped for .npy)."""
        if self.array is None:
            blocks: List[NDArray[Any]] = []
            for _, b in self.chunks(1 << 16):
                if isinstance(b, RaggedBlock):
                    raise _ragged_error(self.what, self.path, b)
                blocks.append(b)
            self.array = np.concatenate(blocks) if self.shape[0] else np.zeros(self.shape)
        return self.array

    def chunks(self, rows: int) -> Iterator[Tuple[int, Block]]:
        """(first row, block of rows) covering the array in order; a Parquet list column
        whose rows differ in length gives :class:`RaggedBlock` blocks."""
        if self.array is not None:
            for start in range(0, self.shape[0], rows):
                yield start, self.array[start : start + rows]
            return
        start = 0
        for batch in self._parquet.iter_batches(batch_size=rows):
            block = _batch_to_numpy(batch, self.what, self.path, start, self.shape[-1])
            yield start, block
            start += batch.num_rows


def _read_npz(path: str, what: str, key: Optional[str]) -> NDArray[Any]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if key is None:
                if len(names) != 1:
                    raise UsageError(f"{what} {path!r} holds {len(names)} arrays {names}; choose one with --key")
                key = names[0]
            if key not in names:
                raise UsageError(f"{what} {path!r} has no array {key!r}; it holds {names}")
            return np.asarray(npz[key])
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{what} {path!r} is not a readable .npz file: {exc}") from None


def _open_parquet(path: str, what: str) -> Tuple[Any, Tuple[int, ...]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(f"reading {what} {path!r} needs pyarrow: pip install 'fastentropy[parquet]'") from None
    try:
        f = pq.ParquetFile(path)
    except Exception as exc:
        raise UsageError(f"{what} {path!r} is not a readable .parquet file: {exc}") from None
    schema = f.schema_arrow
    n = f.metadata.num_rows
    if len(schema) == 1 and hasattr(schema.field(0).type, "value_type"):
        t = schema.field(0).type
        width = getattr(t, "list_size", None)
        if width is None:  # variable-size lists: read the first row for the width
            first = next(f.iter_batches(batch_size=1), None)
            cell = first.column(0)[0] if first is not None and n else None
            width = len(cell) if cell is not None and cell.is_valid else 0  # a null row: reported when read
        return f, ((n, int(width)) if n else (0, int(width)))
    return f, (n, len(schema))


def _batch_to_numpy(batch: Any, what: str, path: str, start: int, width: int) -> Block:
    """A record batch as a 2-D block (one row per record), or a :class:`RaggedBlock` when
    the rows of a list column differ in length from ``width``. Nulls — a null row, a null
    value in a list, a null in a column — have no probability: they are an error."""
    import pyarrow as pa

    t = batch.column(0).type if batch.num_columns else None
    is_list = batch.num_columns == 1 and (
        pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t)
    )
    for name, col in zip(batch.schema.names, batch.columns):
        if col.null_count:
            row = start + int(np.argmax(np.asarray(col.is_null())))
            raise UsageError(
                f"{what} {path!r}: row {row} of column {name!r} is null; every row must hold "
                "numbers (drop or fill the null rows first)"
            )
    try:
        if is_list:
            col = batch.column(0)
            flat = col.flatten()
            if flat.null_count:
                lengths = np.asarray(col.value_lengths(), dtype=np.int64)
                row = int(np.searchsorted(np.cumsum(lengths), int(np.argmax(np.asarray(flat.is_null()))), side="right"))
                raise UsageError(
                    f"{what} {path!r}: row {start + row} of column {batch.schema.names[0]!r} holds a null "
                    "value; every value must be a number (fill the nulls first)"
                )
            values: NDArray[Any] = np.asarray(flat.to_numpy(zero_copy_only=False))
            lengths = np.asarray(col.value_lengths(), dtype=np.int64)
            odd = np.flatnonzero(lengths != width)
            if odd.size:
                offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
                return RaggedBlock(values, offsets, start, width, int(odd[0]))
            return values.reshape(len(col), width)
        return np.column_stack([c.to_numpy(zero_copy_only=False) for c in batch.columns])
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{what} {path!r}: columns must be numeric (one column per class, or one list column): {exc}") from None


# ---- writing -----------------------------------------------------------------------------


def _check_not_an_input(out: Optional[str], inputs: Sequence[Tuple[Optional[str], str]]) -> None:
    """Refuses an ``--out`` that is one of the input files — the same path, or another name
    of the same file (a symbolic or hard link): the scores would replace the data."""
    if out is None or not os.path.exists(out):
        return
    for path, what in inputs:
        if path is None:
            continue
        try:
            same = os.path.samefile(out, path)
        except OSError:
            same = os.path.realpath(out) == os.path.realpath(path)
        if same:
            raise UsageError(
                f"--out {out!r} is the {what} file {path!r}: writing the scores would replace it; "
                "choose another output file"
            )


def _new_file_mode(path: str) -> int:
    """The permissions a plain ``open(path, "w")`` would give: those of the file it replaces,
    else 0o666 less the umask (``tempfile.mkstemp`` creates 0o600 whatever the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(mask)
        return 0o666 & ~mask


class Sink:
    """Writes scores of shape ``shape`` in row blocks to a temporary file, renamed at the end."""

    def __init__(self, path: Optional[str], shape: Tuple[int, ...]) -> None:
        self.path, self.shape = path, shape
        self.tmp: Optional[str] = None
        self._handle: Any = None
        self._npy: Any = None
        self._writer: Any = None
        if path is None:
            return
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise UsageError(f"--out {path!r}: unknown format {suffix!r}; expected one of {', '.join(OUTPUT_SUFFIXES)}")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise UsageError(f"--out {path!r}: directory {directory!r} does not exist")
        if suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise UsageError(f"writing {path!r} needs pyarrow: pip install 'fastentropy[parquet]'") from None
        fd, self.tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
        os.close(fd)
        self.mode = _new_file_mode(path)  # applied when the file is complete (it may be read-only)
        self.suffix = suffix
        if suffix == ".npy":
            self._npy = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float64, shape=shape)
        elif suffix == ".csv":
            self._handle = open(self.tmp, "w", encoding="ascii", newline="\n")
            index = [f"i{k}" for k in range(1, len(shape))]
            self._handle.write(",".join(["row", *index, "score"]) + "\n")

    def write(self, start: int, scores: NDArray[np.float64]) -> None:
        if self.path is None:
            for v in np.asarray(scores).reshape(-1):
                sys.stdout.write(f"{float(v)!r}\n")
            return
        if self._npy is not None:
            self._npy[start : start + len(scores)] = scores
            return
        index = np.indices(scores.shape).reshape(scores.ndim, -1)
        index[0] += start
        flat = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self.suffix == ".csv":
            for i in range(flat.size):
                self._handle.write(",".join([*(str(int(v)) for v in index[:, i]), repr(float(flat[i]))]) + "\n")
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = ["row"] + [f"i{k}" for k in range(1, index.shape[0])]
        cols = {n: pa.array(index[k]) for k, n in enumerate(names) if k < index.shape[0]}
        cols["score"] = pa.array(flat)
        table = pa.table(cols)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        """Flush, close and rename the temporary file onto the output."""
        if self.path is None or self.tmp is None:
            return
        if self._npy is not None:
            self._npy.flush()
            del self._npy
            self._npy = None
        if self._handle is not None:
            self._handle.close()
        if self.suffix == ".parquet":
            if self._writer is None:  # no rows: write an empty table with the schema
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({"row": pa.array([], pa.int64()), "score": pa.array([], pa.float64())}), self.tmp)
            else:
                self._writer.close()
        os.chmod(self.tmp, self.mode)
        os.replace(self.tmp, self.path)
        self.tmp = None

    def discard(self) -> None:
        """Remove the temporary file (after an error)."""
        self._npy = None
        for h in (self._handle, self._writer):
            try:
                if h is not None:
                    h.close()
            except Exception:
                pass
        if self.tmp is not None and os.path.exists(self.tmp):
            os.unlink(self.tmp)
        self.tmp = None
