"""The command line: ``python -m fastentropy [score ...]``.

Without arguments it prints the seed's worked example and a short live speed comparison
against NumPy/SciPy. ``score`` computes one score per distribution of a file of model
outputs, reading ``.npy`` memory-mapped in row chunks (a file larger than RAM is never
loaded whole), ``.npz`` and ``.parquet``, and writing ``.npy``, ``.csv`` or ``.parquet``
through a temporary file in the output's directory that is renamed only when every row
is done — an error leaves no partial output behind (nor does Ctrl-C, SIGTERM or SIGHUP).

Exit status: 0 done; 2 an error (one line on stderr); 130 interrupted (Ctrl-C); 143 / 129
terminated by SIGTERM / SIGHUP; 141 when stdout was closed early (``score ... | head``),
quietly, as Unix tools end on SIGPIPE.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

import fastentropy as fe

from ._cli_files import (
    Block,
    Sink,
    Source,
    UsageError,
    _check_not_an_input,
    is_list_block,
)

MEASURES = ("entropy", "kl", "cross-entropy", "js", "psi", "softmax-ce")
#: The measures of two distributions (INPUT and --q).
PAIR_MEASURES = ("kl", "cross-entropy", "js", "psi")
#: Elements per chunk when reading a file: 2^22 values (32 MiB of float64) keep the
#: working set small while each call is long enough (milliseconds) to use every thread.
CHUNK_ELEMENTS = 1 << 22


#: Exit statuses (128 + the signal number for signals, as a shell reports them).
EXIT_ERROR = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE (no signal.SIGPIPE on Windows)
_TERMINATING = {signal.SIGTERM: 128 + signal.SIGTERM}
if hasattr(signal, "SIGHUP"):
    _TERMINATING[signal.SIGHUP] = 128 + signal.SIGHUP


class Terminated(BaseException):
    """Raised by the handler of SIGTERM / SIGHUP so that the temporary output is removed
    (as for Ctrl-C) before the process ends with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m fastentropy",
        description="Fast, exact entropy, KL divergence, cross-entropy and softmax loss. "
        "Without a command: the worked example and a live speed comparison.",
    )
    parser.add_argument("--version", action="version", version=f"fastentropy {fe.__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    score = sub.add_parser(
        "score",
        help="per-row scores of a file of model outputs",
        description="One score per distribution (the distributions lie along --axis) of INPUT "
        "(.npy read memory-mapped in chunks, .npz, .parquet with pyarrow). Written to --out "
        "(.npy, .csv, .parquet) or printed one per line.",
    )
    score.add_argument("input", metavar="INPUT", help="probabilities / counts / logits (.npy, .npz, .parquet)")
    score.add_argument(
        "--measure",
        default="entropy",
        help="entropy (default) | kl | cross-entropy (INPUT is P, --q is Q; or INPUT is Q and "
        "--labels the true classes) | js (Jensen-Shannon divergence) | psi (population stability "
        "index; INPUT is the reference histogram, --q the current one) | softmax-ce (INPUT holds "
        "logits, --labels the classes)",
    )
    score.add_argument(
        "--from-logits",
        action="store_true",
        help="INPUT (and --q) hold logits: the measure of their softmax, taken in the same pass "
        "(entropy, kl, cross-entropy, js)",
    )
    score.add_argument(
        "--smoothing",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="a pseudocount added to every element of INPUT and --q before normalising "
        "(entropy, kl, cross-entropy, js, psi; default 0)",
    )
    score.add_argument("--q", metavar="FILE", help="the second distribution for kl / cross-entropy: same shape as INPUT, or one distribution")
    score.add_argument("--labels", metavar="FILE", help="integer class labels, one per distribution")
    score.add_argument("--axis", type=int, default=-1, help="the axis holding one distribution (default -1)")
    score.add_argument("--base", type=float, default=None, help="logarithm base (default e: nats; 2: bits)")
    score.add_argument("--out", metavar="FILE", help="output file (.npy, .csv, .parquet); default: print to stdout")
    score.add_argument("--key", help="the array of an .npz holding several, or the column of a .parquet INPUT to score (e.g. a list column beside ids)")
    score.add_argument("--q-key", metavar="NAME", help="as --key, for the --q file")
    score.add_argument("--labels-key", metavar="NAME", help="as --key, for the --labels file (e.g. the label column of a .parquet)")
    score.add_argument("--chunk-rows", type=_positive_int, default=None, help="rows per chunk, at least 1 (default: about 32 MiB of input)")
    bar = score.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show the progress bar (needs tqdm)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show the progress bar")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m fastentropy``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with _terminate_on_signals():
            if args.command == "score":
                score(args)
            else:
                demo()
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (UsageError, ValueError, TypeError, OSError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"python -m fastentropy: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Terminated as exc:
        return exc.status
    return 0


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null, so that the interpreter's final flush of the
    unwritten buffer does not print "Exception ignored ... BrokenPipeError" (the recipe of
    the Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass


class _terminate_on_signals:
    """While active (main thread only), SIGTERM and SIGHUP raise :class:`Terminated`, which
    unwinds through ``Sink.discard`` like Ctrl-C: no temporary file is left behind. The Rust
    core polls Python's signal handlers while it computes, so a long call ends promptly."""

    def __enter__(self) -> None:
        self.saved: Dict[int, Any] = {}
        if not _in_main_thread():
            return
        for signum, status in _TERMINATING.items():
            self.saved[signum] = signal.signal(signum, _raiser(status))

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)


def _raiser(status: int) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        raise Terminated(status)

    return handler


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ---- demo --------------------------------------------------------------------------------


def _best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _as_lists(block: Block, rows: int) -> Any:
    """A 2-D block (or one distribution, repeated for ``rows`` rows) as an Arrow
    fixed-size list column — a view of the NumPy buffer — to pair with a list column."""
    if is_list_block(block):
        return block
    import pyarrow as pa

    arr = np.asarray(block, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (rows, arr.shape[0]))
    arr = np.ascontiguousarray(arr)
    return pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), arr.shape[1])


def _list_loss(block: Any, y: NDArray[Any], start: int, measure: str, base: Optional[float], loss: Any) -> NDArray[np.float64]:
    """Scores of a list column against one class label per row: the softmax
    cross-entropy of logits, or the cross-entropy / KL divergence of the one-hot label
    against the row's probabilities, -log(q[y] / sum(q)). A label must index its own row
    (null rows take any label and score NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if y.dtype.kind not in "iu":
        raise UsageError(f"--labels must hold integer class indices, got dtype {y.dtype}")
    col = block.combine_chunks() if isinstance(block, pa.ChunkedArray) else block
    lengths = np.asarray(pc.list_value_length(col).fill_null(0), dtype=np.int64)
    valid = np.asarray(col.is_valid(), dtype=bool)
    bad = valid & ((y < 0) | (y >= lengths))
    if bad.any():
        r = int(np.argmax(bad))
        raise UsageError(f"--labels must index their row: label {int(y[r])} at row {start + r} is outside [0, {int(lengths[r])})")
    labels = np.where(valid, y, 0).astype(np.int64)
    if measure == "softmax-ce":
        assert loss is not None
        res = np.asarray(loss(col, labels, reduction="none"), dtype=np.float64)
        return res / math.log(base) if base is not None else res
    # the one-hot rows, with the offsets of the column's valid values
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    q = np.asarray(pc.fill_null(pc.list_flatten(col), 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
    onehot = np.zeros(q.size)
    onehot[offsets[:-1][valid] + labels[valid]] = 1.0
    fn = fe.kl_divergence if measure == "kl" else fe.cross_entropy
    res = np.asarray(fn(onehot, q, offsets=offsets, base=base), dtype=np.float64)
    res[~valid] = np.nan
    return res


def demo(out: Any = None) -> None:
    """Print the seed's worked example and a short speed comparison (a few seconds)."""
    w = out or sys.stdout
    p = np.array([0.3, 0.3, 0.4])
    onehot = np.array([0.0, 0.0, 1.0])
    print(f"fastentropy {fe.__version__} — SIMD: {fe.simd_isa()}, threads: {fe.get_num_threads()}", file=w)
    print("\nWorked example: model probabilities p = [0.3, 0.3, 0.4], true label 2", file=w)
    print(f"  entropy(p)                          = {fe.entropy(p)!r} nats", file=w)
    print(f"  kl_divergence(onehot(2), p)         = {fe.kl_divergence(onehot, p)!r}", file=w)
    print(f"  cross_entropy(onehot(2), p)         = {fe.cross_entropy(onehot, p)!r}  (= -ln 0.4)", file=w)
    loss_fn = getattr(fe, "softmax_cross_entropy", None)
    if loss_fn is not None:
        loss = loss_fn(np.log(p)[None, :], np.array([2]))
        print(f"  softmax_cross_entropy(log p, [2])   = {float(loss)!r}  (the loss, as torch's CrossEntropyLoss)", file=w)
    else:
        print(f"  loss -log p[2] via cross_entropy    = {fe.cross_entropy(onehot, p)!r}", file=w)

    rng = np.random.default_rng(0)
    n, c = 2000, 1000
    x = rng.random((n, c))
    y = rng.random((n, c))
    print(f"\nSpeed on {n} x {c} float64 (rows are distributions), best of 5:", file=w)

    def np_entropy() -> Any:
        q = x / x.sum(axis=1, keepdims=True)
        return -(q * np.log(q)).sum(axis=1)

    def np_kl() -> Any:
        a, b = x / x.sum(axis=1, keepdims=True), y / y.sum(axis=1, keepdims=True)
        return (a * np.log(a / b)).sum(axis=1)

    rows: List[Tuple[str, Callable[[], Any], List[Tuple[str, Callable[[], Any]]]]] = [
        ("entropy", lambda: fe.entropy(x), [("numpy", np_entropy)]),
        ("kl_divergence", lambda: fe.kl_divergence(x, y), [("numpy", np_kl)]),
    ]
    try:
        import scipy.stats

        rows[0][2].append(("scipy.stats.entropy", lambda: scipy.stats.entropy(x, axis=1)))
        rows[1][2].append(("scipy.stats.entropy", lambda: scipy.stats.entropy(x, y, axis=1)))
    except ImportError:
        print("  (scipy is not installed: comparing with numpy only)", file=w)
    for name, ours, others in rows:
        t_ours = _best_of(ours)
        parts = [f"{label} {_best_of(fn) / t_ours:.1f}x slower" for label, fn in others]
        print(f"  {name:14s} fastentropy {t_ours * 1e3:7.2f} ms | " + " | ".join(parts), file=w)
    print("\nScore a file: python -m fastentropy score --help", file=w)


# ---- score -------------------------------------------------------------------------------


def _has_tqdm() -> bool:
    import importlib.util

    return importlib.util.find_spec("tqdm") is not None


class _NoBar:
    """Stands in for tqdm when there is no bar to draw (tqdm is the optional ``cli`` extra)."""

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="row", unit_scale=True, desc="score", file=sys.stderr)


def score(args: argparse.Namespace) -> None:
    """``python -m fastentropy score``: see the module docstring and ``--help``."""
    measure = args.measure
    if measure not in MEASURES:
        raise UsageError(f"unknown --measure {measure!r}; expected one of {', '.join(MEASURES)}")
    loss = getattr(fe, "softmax_cross_entropy", None)
    if measure == "softmax-ce" and loss is None:
        raise UsageError("--measure softmax-ce needs fastentropy.softmax_cross_entropy, which this build lacks")
    if args.base is not None:
        fe._api._check_base(args.base)
    logits = bool(getattr(args, "from_logits", False))
    smoothing = float(getattr(args, "smoothing", 0.0))
    if logits and measure in ("psi", "softmax-ce"):
        raise UsageError(f"--from-logits is for --measure entropy, kl, cross-entropy or js, not {measure}")
    if smoothing != 0.0 and measure == "softmax-ce":
        raise UsageError("--smoothing is for --measure entropy, kl, cross-entropy, js or psi, not softmax-ce")
    try:
        fe._api._check_smoothing(smoothing, True, logits)
    except ValueError as exc:
        raise UsageError(str(exc).replace("`smoothing`", "--smoothing").replace("from_logits=True", "--from-logits")) from None
    if logits and args.labels is not None:
        raise UsageError("--from-logits with --labels: use --measure softmax-ce for logits against class labels")
    if smoothing != 0.0 and args.labels is not None:
        raise UsageError("--smoothing is for INPUT and --q, not with --labels")
    src = Source(args.input, "INPUT", args.key)
    shape = src_shape = src.shape
    if len(shape) == 0:
        raise UsageError(f"INPUT {args.input!r} is a 0-d array; expected one or more distributions")
    axis = args.axis
    if not -len(shape) <= axis < len(shape):
        raise UsageError(f"--axis {axis} is out of range for INPUT of shape {shape}")
    axis %= len(shape)
    if src.array is None and axis != len(shape) - 1:
        raise UsageError("a .parquet INPUT holds one distribution per row: --axis must be -1")
    out_shape = shape[:axis] + shape[axis + 1 :]
    if src.array is not None:
        # Views, never copies: the distributions last, rows (what is chunked) first; a single
        # distribution becomes one row.
        src.array = np.moveaxis(src.array, axis, -1)
        if src.array.ndim == 1:
            src.array = src.array[None, :]
            out_shape = (1,)
        src.shape_ = src.array.shape
    shape = src.shape

    q: Optional[Source] = None
    labels: Optional[Source] = None
    if args.q is not None:
        if measure not in PAIR_MEASURES:
            raise UsageError(f"--q is for --measure kl, cross-entropy, js or psi, not {measure}")
        q = Source(args.q, "--q", args.q_key, "--q-key")
        if q.array is not None and q.array.ndim == len(src_shape) and len(src_shape) > 1:
            q.array = np.moveaxis(q.array, axis, -1)
            q.shape_ = q.array.shape
        if src.lists or q.lists:
            # rows of any lengths: the row counts must agree (and each row's length, checked
            # as the rows are scored); one distribution serves rows of its length
            if q.shape[0] != shape[0] and not (q.array is not None and q.array.ndim == 1):
                raise UsageError(f"--q must have one distribution per row of INPUT ({shape[0]} rows), got {q.shape[0]}")
        elif q.shape[-1:] != shape[-1:] or (q.shape != shape and len(q.shape) != 1):
            raise UsageError(
                f"--q must have the shape of INPUT {src_shape} or be one distribution ({shape[-1]},), got {q.shape}"
            )
    if args.labels is not None:
        if measure not in ("kl", "cross-entropy", "softmax-ce"):
            raise UsageError(f"--labels is for --measure cross-entropy, kl or softmax-ce, not {measure}")
        if q is not None:
            raise UsageError("give either --q or --labels, not both")
        labels = Source(args.labels, "--labels", args.labels_key, "--labels-key")
        # a .parquet column of labels reads as (rows, 1)
        one_column = labels._parquet is not None and labels.shape == (*out_shape, 1)
        if labels.shape != out_shape and not (out_shape == (1,) and labels.shape == ()) and not one_column:
            hint = " (choose its label column with --labels-key)" if labels._parquet is not None else ""
            raise UsageError(f"--labels must have one label per distribution, shape {out_shape}, got {labels.shape}{hint}")
        y_all = labels.whole()
        if y_all.dtype.kind not in "iu":
            raise UsageError(f"--labels must hold integer class indices, got dtype {y_all.dtype}")
        labels.array = y_all.reshape(out_shape)
    if measure in ("kl", "cross-entropy") and q is None and labels is None:
        raise UsageError(f"--measure {measure} needs --q FILE or --labels FILE")
    if measure in ("js", "psi") and q is None:
        raise UsageError(f"--measure {measure} needs --q FILE")
    if measure == "softmax-ce" and labels is None:
        raise UsageError("--measure softmax-ce needs --labels FILE")

    row_elems = max(1, int(np.prod(shape[1:], dtype=np.int64)))
    rows = args.chunk_rows or max(1, CHUNK_ELEMENTS // row_elems)
    if rows < 1:
        raise UsageError(f"--chunk-rows must be at least 1, got {rows}")
    n_rows = shape[0]
    n_chunks = math.ceil(n_rows / rows) if n_rows else 0
    show = args.progress if args.progress is not None else (n_chunks > 1 and sys.stderr.isatty())
    if show and not _has_tqdm():
        if args.progress:
            raise UsageError("--progress needs tqdm: pip install 'fastentropy[cli]' (or pip install tqdm)")
        show = False

    q_rows = q.reader() if q is not None else None

    def compute(block: Block, start: int) -> NDArray[np.float64]:
        n = len(block)
        if measure == "entropy":
            res = fe.entropy(block, axis=-1, base=args.base, from_logits=logits, smoothing=smoothing)
        elif labels is not None and is_list_block(block):
            y = np.asarray(labels.whole()[start : start + n])
            res = _list_loss(block, y, start, measure, args.base, loss)
        elif labels is not None:
            y = np.asarray(labels.whole()[start : start + n])
            c = block.shape[-1]
            bad = (y < 0) | (y >= c)
            if bad.any():
                pos = tuple(int(i) for i in np.argwhere(bad)[0])
                at = (start + pos[0],) + pos[1:]
                raise UsageError(f"--labels must be in [0, {c}), got {int(y[pos])} at {at if len(at) > 1 else at[0]}")
            if measure == "softmax-ce":
                assert loss is not None
                res = np.asarray(loss(block, y, axis=-1, reduction="none"), dtype=np.float64)
                if args.base is not None:
                    res = res / math.log(args.base)
            else:
                onehot = np.zeros(block.shape)
                np.put_along_axis(onehot, y[..., None], 1.0, axis=-1)
                fn = fe.kl_divergence if measure == "kl" else fe.cross_entropy
                res = fn(onehot, block, axis=-1, base=args.base)
        else:
            assert q is not None and q_rows is not None
            single = q.array is not None and q.array.ndim == 1
            qb = q.whole() if single else q_rows.take(n)
            if is_list_block(block) or is_list_block(qb):
                # rows of any lengths on one side: both sides as Arrow list columns
                block, qb = _as_lists(block, n), _as_lists(qb, n)
            if measure == "psi":
                res = fe.population_stability_index(block, qb, axis=-1, base=args.base, smoothing=smoothing)
            else:
                fn = {"kl": fe.kl_divergence, "cross-entropy": fe.cross_entropy, "js": fe.js_divergence}[measure]
                res = fn(block, qb, axis=-1, base=args.base, from_logits=logits, smoothing=smoothing)
        return np.asarray(res, dtype=np.float64)

    _check_not_an_input(args.out, [(args.input, "INPUT"), (args.q, "--q"), (args.labels, "--labels")])
    sink = Sink(args.out, out_shape)
    try:
        with _progress_bar(n_rows, show) as bar:
            for start, block in src.chunks(rows):
                scores = compute(block, start)
                sink.write(start, scores)
                bar.update(len(scores))
        sink.close()
    except BaseException:
        sink.discard()
        raise
