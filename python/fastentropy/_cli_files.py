"""The files of ``python -m fastentropy score``: reading inputs in chunks of rows (``.npy``
memory-mapped, ``.npz``, ``.parquet`` batch by batch — a list column as the Arrow arrays
of its record batches, scored through the ragged path) and writing outputs through a
temporary file renamed at the end, with the permissions ``open()`` would give and never
over one of the inputs."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray

INPUT_SUFFIXES = (".npy", ".npz", ".parquet")
OUTPUT_SUFFIXES = (".npy", ".csv", ".parquet")


class UsageError(Exception):
    """A problem with the command line or the files, reported as one line, exit status 2."""


# ---- reading -----------------------------------------------------------------------------


#: A chunk of rows: a 2-D array (rows first), or the pyarrow array of a Parquet list,
#: large list or fixed-size list column (rows of any lengths, nulls allowed).
Block = Union[NDArray[Any], Any]


def is_list_block(block: Block) -> bool:
    """Whether ``block`` is a column of lists (an Arrow array) rather than a 2-D array."""
    return not isinstance(block, np.ndarray)


class Source:
    """An input array read in chunks of whole rows (along the first axis)."""

    def __init__(self, path: str, what: str, key: Optional[str] = None, key_flag: str = "--key") -> None:
        """``key`` picks the array of an .npz or the column of a .parquet (given by the
        option ``key_flag``, named in errors)."""
        self.path, self.what = path, what
        self.array: Optional[NDArray[Any]] = None
        self._parquet: Any = None
        #: The Parquet columns read (None: all of them).
        self._columns: Optional[List[str]] = None
        #: Whether the rows are a Parquet list column (scored as ragged rows).
        self.lists = False
        suffix = os.path.splitext(path)[1].lower()
        if not os.path.exists(path):
            raise UsageError(f"{what} {path!r}: no such file")
        if suffix == ".npy":
            try:
                self.array = np.load(path, mmap_mode="r", allow_pickle=False)
            except Exception as exc:
                raise UsageError(f"{what} {path!r} is not a readable .npy file: {exc}") from None
        elif suffix == ".npz":
            self.array = _read_npz(path, what, key, key_flag)
        elif suffix == ".parquet":
            self._parquet, self.shape_, self.lists, field = _open_parquet(path, what, key, key_flag)
            self._columns = None if key is None else [key]
            self.list_type = field.type if self.lists else None
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
        """The whole array (memory-mapped for .npy); not for list columns (see :meth:`reader`)."""
        if self.array is None:
            assert not self.lists, "list columns are read with reader()"
            blocks: List[NDArray[Any]] = [b for _, b in self.chunks(1 << 16)]
            self.array = np.concatenate(blocks) if self.shape[0] else np.zeros(self.shape)
        return self.array

    def reader(self) -> "RowReader":
        """Reads the rows in order, any number at a time (to keep a second input in step
        with INPUT's chunks)."""
        return RowReader(self)

    def chunks(self, rows: int) -> Iterator[Tuple[int, Block]]:
        """(first row, block of rows) covering the array in order; a Parquet list column
        gives the Arrow arrays of its record batches."""
        if self.array is not None:
            for start in range(0, self.shape[0], rows):
                yield start, self.array[start : start + rows]
            return
        start = 0
        for batch in self._parquet.iter_batches(batch_size=rows, columns=self._columns):
            block = _batch_to_numpy(batch, self.what, self.path, start, self.shape[-1])
            yield start, block
            start += batch.num_rows


class RowReader:
    """The rows of a :class:`Source` in order, ``take(n)`` at a time: slices of a NumPy
    array, or of the Parquet file's record batches (a list column as a pyarrow chunked
    array of zero-copy slices, a wide table as a 2-D array)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.at = 0
        self._batches: Optional[Iterator[Tuple[int, Block]]] = None
        self._pending: List[Any] = []

    def take(self, n: int) -> Block:
        src = self.source
        if src.array is not None:
            block = src.array[self.at : self.at + n]
            self.at += n
            return block
        if self._batches is None:
            self._batches = src.chunks(max(n, 1 << 12))
        parts: List[Any] = []
        need = n
        while need > 0:
            if not self._pending:
                nxt = next(self._batches, None)
                if nxt is None:
                    break
                self._pending = [nxt[1]]
            head = self._pending.pop()
            if len(head) > need:
                self._pending = [head[need:]]
                head = head[:need]
            parts.append(head)
            need -= len(head)
        self.at += n - need
        if src.lists:
            import pyarrow as pa

            return pa.chunked_array(parts, type=src.list_type) if parts else pa.chunked_array([], type=src.list_type)
        return np.concatenate(parts) if parts else np.zeros((0,) + src.shape[1:])


def _read_npz(path: str, what: str, key: Optional[str], key_flag: str = "--key") -> NDArray[Any]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if key is None:
                if len(names) != 1:
                    raise UsageError(f"{what} {path!r} holds {len(names)} arrays {names}; choose one with {key_flag}")
                key = names[0]
            if key not in names:
                raise UsageError(f"{what} {path!r} has no array {key!r}; it holds {names}")
            return np.asarray(npz[key])
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{what} {path!r} is not a readable .npz file: {exc}") from None


def _open_parquet(
    path: str, what: str, key: Optional[str] = None, key_flag: str = "--key"
) -> Tuple[Any, Tuple[int, ...], bool, Any]:
    """(file, shape, whether the rows are one list column, that column's field). ``key``
    names the one column to read (a list column, or a numeric column as one value per row)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(f"reading {what} {path!r} needs pyarrow: pip install 'fastentropy[parquet]'") from None
    try:
        # pre_buffer=False: pyarrow's default (True since 13) reads ahead whole column
        # chunks, so the peak grew with the file (a 509 MB file: 963 MB peak RSS)
        f = pq.ParquetFile(path, pre_buffer=False)
    except Exception as exc:
        raise UsageError(f"{what} {path!r} is not a readable .parquet file: {exc}") from None
    schema = f.schema_arrow
    n = f.metadata.num_rows
    if key is not None:
        if key not in schema.names:
            raise UsageError(f"{what} {path!r} has no column {key!r}; it holds {schema.names}")
        fields = [schema.field(key)]
    else:
        fields = list(schema)
        lists = [fl.name for fl in fields if hasattr(fl.type, "value_type")]
        if lists and len(fields) > 1:
            raise UsageError(
                f"{what} {path!r} holds {len(fields)} columns {schema.names}; choose the column to read with {key_flag} (list columns: {', '.join(lists)})"
            )
    if len(fields) == 1 and hasattr(fields[0].type, "value_type"):
        # A list column: rows of any lengths. The shape's width (used to size the chunks)
        # is the mean row length of the file, from the metadata (values / rows).
        t = fields[0].type
        width = getattr(t, "list_size", None)
        if width is None:
            md = f.metadata
            values = sum(
                md.row_group(i).column(j).num_values
                for i in range(md.num_row_groups)
                for j in range(md.num_columns)
                if md.row_group(i).column(j).path_in_schema.split(".")[0] == fields[0].name
            )
            width = max(1, values // max(n, 1))
        return f, (n, int(width)), True, fields[0]
    return f, (n, len(fields)), False, None


def _batch_to_numpy(batch: Any, what: str, path: str, start: int, width: int) -> Block:
    """A record batch as a 2-D block (one row per record), or, for a list column, its
    Arrow array as it is — rows of any lengths, read in place by the ragged path (a null
    row scores NaN, a null value is left out). In a wide table (one column per class) a
    null has no probability: it is an error."""
    import pyarrow as pa

    t = batch.column(0).type if batch.num_columns else None
    if batch.num_columns == 1 and (pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t)):
        return batch.column(0)
    for name, col in zip(batch.schema.names, batch.columns):
        if col.null_count:
            row = start + int(np.argmax(np.asarray(col.is_null())))
            raise UsageError(
                f"{what} {path!r}: row {row} of column {name!r} is null; every row must hold "
                "numbers (drop or fill the null rows first)"
            )
    try:
        return np.column_stack([c.to_numpy(zero_copy_only=False) for c in batch.columns])
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
