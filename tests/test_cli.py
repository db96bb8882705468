"""`python -m fastentropy` and `python -m fastentropy score`."""

from __future__ import annotations

import csv
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest

from _fresh import run_fresh

import fastentropy as fe
from fastentropy._cli import main

rng = np.random.default_rng(7)
P = rng.random((50, 13))
Q = rng.random((50, 13))
LABELS = rng.integers(0, 13, size=50)


def run(args: List[str], capsys: Any) -> Any:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def save(tmp_path: Path, name: str, arr: Any) -> str:
    path = tmp_path / name
    np.save(path, arr)
    return str(path)


def leftovers(directory: Path) -> List[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ---- the demo ----------------------------------------------------------------------------


def test_demo_prints_the_worked_example_and_a_speed_table() -> None:
    proc = subprocess.run([sys.executable, "-m", "fastentropy"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "0.916290731874155" in out  # cross-entropy, -ln 0.4
    if hasattr(fe, "softmax_cross_entropy"):
        assert "0.9162907318741551" in out  # the loss, through log-softmax
    assert repr(fe.entropy([0.3, 0.3, 0.4])) in out
    assert "Speed" in out and "numpy" in out


# ---- score: results ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", [None, 1, 7, 50, 64])
def test_entropy_npy_to_npy_in_chunks(tmp_path: Path, capsys: Any, chunk_rows: Any) -> None:
    inp = save(tmp_path, "p.npy", P)
    out = tmp_path / "h.npy"
    extra = [] if chunk_rows is None else ["--chunk-rows", str(chunk_rows)]
    code, _, err = run(["score", inp, "--out", str(out), *extra], capsys)
    assert code == 0, err
    assert np.array_equal(np.load(out), fe.entropy(P))
    assert leftovers(tmp_path) == []


def test_stdout_csv_and_base(tmp_path: Path, capsys: Any) -> None:
    inp = save(tmp_path, "p.npy", P)
    code, out, _ = run(["score", inp, "--base", "2"], capsys)
    assert code == 0
    assert np.array_equal(np.array([float(v) for v in out.split()]), fe.entropy(P, base=2))
    csv_path = tmp_path / "h.csv"
    assert run(["score", inp, "--out", str(csv_path), "--chunk-rows", "9"], capsys)[0] == 0
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["row"]) for r in rows] == list(range(50))
    assert np.array_equal(np.array([float(r["score"]) for r in rows]), fe.entropy(P))


@pytest.mark.parametrize("measure, fn", [("kl", fe.kl_divergence), ("cross-entropy", fe.cross_entropy)])
def test_kl_and_cross_entropy_with_q_and_with_labels(tmp_path: Path, capsys: Any, measure: str, fn: Any) -> None:
    inp, q = save(tmp_path, "p.npy", P), save(tmp_path, "q.npy", Q)
    out = tmp_path / "s.npy"
    assert run(["score", inp, "--measure", measure, "--q", q, "--out", str(out), "--chunk-rows", "8"], capsys)[0] == 0
    assert np.array_equal(np.load(out), fn(P, Q))
    one = save(tmp_path, "q1.npy", Q[0])
    assert run(["score", inp, "--measure", measure, "--q", one, "--out", str(out)], capsys)[0] == 0
    assert np.array_equal(np.load(out), fn(P, Q[0]))
    labels = save(tmp_path, "y.npy", LABELS)
    assert run(["score", inp, "--measure", measure, "--labels", labels, "--out", str(out), "--chunk-rows", "6"], capsys)[0] == 0
    onehot = np.eye(13)[LABELS]
    np.testing.assert_allclose(np.load(out), fn(onehot, P), rtol=0, atol=0)
    want = -np.log(P[np.arange(50), LABELS] / P.sum(axis=1))
    np.testing.assert_allclose(np.load(out), want, rtol=1e-13)


def test_softmax_ce(tmp_path: Path, capsys: Any) -> None:
    logits = rng.normal(size=(50, 13))
    inp, labels = save(tmp_path, "z.npy", logits), save(tmp_path, "y.npy", LABELS)
    out = tmp_path / "loss.npy"
    code, _, err = run(["score", inp, "--measure", "softmax-ce", "--labels", labels, "--out", str(out), "--chunk-rows", "16"], capsys)
    if not hasattr(fe, "softmax_cross_entropy"):
        assert code == 2 and "softmax_cross_entropy" in err and not out.exists()
        pytest.skip("fastentropy.softmax_cross_entropy (the loss family) is not in this build")
    assert code == 0, err
    want = fe.softmax_cross_entropy(logits, LABELS, reduction="none")
    np.testing.assert_array_equal(np.load(out), want)
    from scipy.special import log_softmax

    np.testing.assert_allclose(np.load(out), -log_softmax(logits, axis=1)[np.arange(50), LABELS], rtol=1e-12)


def test_axes_and_higher_dimensions(tmp_path: Path, capsys: Any) -> None:
    x = rng.random((6, 5, 7))
    inp = save(tmp_path, "x.npy", x)
    out = tmp_path / "h.npy"
    for axis in (0, 1, 2, -1):
        assert run(["score", inp, "--axis", str(axis), "--out", str(out), "--chunk-rows", "2"], capsys)[0] == 0
        assert np.array_equal(np.load(out), fe.entropy(x, axis=axis)), axis
    csv_path = tmp_path / "h.csv"
    assert run(["score", inp, "--axis", "1", "--out", str(csv_path)], capsys)[0] == 0
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 42 and set(rows[0]) == {"row", "i1", "score"}
    one = save(tmp_path, "one.npy", np.array([0.3, 0.3, 0.4]))
    code, stdout, _ = run(["score", one], capsys)
    assert code == 0 and float(stdout) == fe.entropy([0.3, 0.3, 0.4])


def test_npz_input(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "a.npz"
    np.savez(path, p=P, q=Q)
    code, out, _ = run(["score", str(path), "--key", "q"], capsys)
    assert code == 0 and np.array_equal(np.array(out.split(), dtype=float), fe.entropy(Q))
    code, _, err = run(["score", str(path)], capsys)
    assert code == 2 and "--key" in err


def test_parquet_in_and_out(tmp_path: Path, capsys: Any) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": P[:, i] for i in range(13)}), wide, row_group_size=11)
    lists = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"probs": pa.array(list(P), type=pa.list_(pa.float64(), 13))}), lists, row_group_size=17)
    out = tmp_path / "h.parquet"
    for inp in (wide, lists):
        code, _, err = run(["score", str(inp), "--out", str(out), "--chunk-rows", "8"], capsys)
        assert code == 0, err
        table = pq.read_table(out)
        assert table.column("row").to_pylist() == list(range(50))
        assert np.array_equal(table.column("score").to_numpy(), fe.entropy(P))
    assert leftovers(tmp_path) == []


def test_progress_bar(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("tqdm", reason="tqdm is not installed (pip install 'fastentropy[cli]')")
    inp = save(tmp_path, "p.npy", P)
    code, _, err = run(["score", inp, "--out", str(tmp_path / "h.npy"), "--chunk-rows", "5", "--progress"], capsys)
    assert code == 0 and "score" in err and "100%" in err and "row" in err
    code, _, err = run(["score", inp, "--out", str(tmp_path / "h.npy"), "--chunk-rows", "5", "--no-progress"], capsys)
    assert code == 0 and err == ""


def test_without_tqdm_there_is_no_bar(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    """tqdm is an optional extra: the CLI works without it; only --progress asks for it."""
    from fastentropy import _cli

    monkeypatch.setattr(_cli, "_has_tqdm", lambda: False)
    inp = save(tmp_path, "p.npy", P)
    code, _, err = run(["score", inp, "--out", str(tmp_path / "h.npy"), "--chunk-rows", "5"], capsys)
    assert code == 0 and err == ""
    assert np.array_equal(np.load(tmp_path / "h.npy"), fe.entropy(P))
    code, _, err = run(["score", inp, "--out", str(tmp_path / "h.npy"), "--chunk-rows", "5", "--progress"], capsys)
    assert code == 2 and "--progress needs tqdm" in err


# ---- score: errors -----------------------------------------------------------------------


def bad_files(tmp_path: Path) -> dict:
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY not really")
    return {
        "p": save(tmp_path, "p.npy", P),
        "neg": save(tmp_path, "neg.npy", np.vstack([P, -P])),
        "q_wrong": save(tmp_path, "qw.npy", Q[:, :5]),
        "labels_wrong": save(tmp_path, "yw.npy", LABELS[:7]),
        "labels_range": save(tmp_path, "yr.npy", np.where(np.arange(50) == 33, 13, LABELS)),
        "strings": save(tmp_path, "s.npy", np.array([["a", "b"]])),
        "corrupt": str(corrupt),
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}"], "no such file"),
        (["{corrupt}"], "not a readable .npy"),
        (["{p}", "--measure", "renyi"], "unknown --measure 'renyi'"),
        (["{p}", "--measure", "kl"], "needs --q"),
        (["{p}", "--measure", "kl", "--q", "{q_wrong}"], "--q must have the shape"),
        (["{p}", "--measure", "cross-entropy", "--labels", "{labels_wrong}"], "one label per distribution"),
        (["{p}", "--measure", "cross-entropy", "--labels", "{labels_range}"], r"must be in \[0, 13\), got 13 at 33"),
        (["{p}", "--axis", "2"], "out of range"),
        (["{p}", "--base", "1"], "base"),
        (["{neg}"], "non-negative"),
        (["{strings}"], "real numbers"),
        (["{p}", "--out", "{dir}/h.txt"], "unknown format '.txt'"),
        (["{p}", "--out", "{dir}/nope/h.npy"], "does not exist"),
        (["{p}", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_errors_are_one_line_exit_2_and_leave_no_output(tmp_path: Path, capsys: Any, args: List[str], message: str) -> None:
    files = bad_files(tmp_path)
    files.update(missing=str(tmp_path / "missing.npy"), dir=str(tmp_path))
    out = tmp_path / "result.npy"
    argv = ["score", *(a.format(**files) for a in args)]
    if "--out" not in argv:
        argv += ["--out", str(out), "--chunk-rows", "10"]
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_error_in_a_late_chunk_removes_the_partial_output(tmp_path: Path) -> None:
    """The first chunks are written before the negative values in the last ones are seen."""
    inp = save(tmp_path, "neg.npy", np.vstack([P, -P]))
    for suffix in (".npy", ".csv"):
        out = tmp_path / f"s{suffix}"
        proc = subprocess.run(
            [sys.executable, "-m", "fastentropy", "score", inp, "--out", str(out), "--chunk-rows", "10"],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 2 and "non-negative" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_DATA accounting is Linux's")
def test_a_file_larger_than_the_memory_limit_is_scored_in_chunks(tmp_path: Path) -> None:
    """A 256 MiB .npy scored by a process whose heap is limited to 192 MiB: it is memory-mapped
    and read in chunks, never loaded whole."""
    rows, cols = 4096, 8192
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, cols))
    big[::512] = 1.0  # sparse file: the other rows are zeros (entropy NaN)
    big.flush()
    del big
    out = tmp_path / "h.npy"
    script = (
        "import resource, sys; lim = 192 << 20; resource.setrlimit(resource.RLIMIT_DATA, (lim, lim));"
        "from fastentropy._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "score", str(path), "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "FASTENTROPY_NUM_THREADS": "2"},
    )
    assert proc.returncode == 0, proc.stderr
    h = np.load(out)
    assert h.shape == (rows,)
    np.testing.assert_allclose(h[::512], np.log(cols), rtol=1e-14)
    assert np.isnan(h[1])
    # the limit is real: loading the file whole fails under it
    whole = subprocess.run(
        [sys.executable, "-c", script.replace("from fastentropy._cli import main; sys.exit(main(sys.argv[1:]))",
                                              "import numpy as np; np.load(sys.argv[1])"), str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert whole.returncode != 0 and "MemoryError" in whole.stderr


# ---- robustness (issue #12 item 10) ------------------------------------------------------


def _input_files(tmp_path: Path) -> dict:
    return {
        "INPUT": save(tmp_path, "p.npy", P),
        "--q": save(tmp_path, "q.npy", Q),
        "--labels": save(tmp_path, "y.npy", LABELS),
    }


def _aliases(tmp_path: Path, target: str) -> dict:
    """Other names of the file ``target``: the same path spelt differently, a symbolic link,
    a hard link, a symbolic link to a symbolic link."""
    d = Path(target).parent
    (d / "sub").mkdir(exist_ok=True)
    names = {
        "same": target,
        "dotted": str(d / "sub" / ".." / Path(target).name),
        "symlink": str(d / ("sym-" + Path(target).name)),
        "hardlink": str(d / ("hard-" + Path(target).name)),
        "symlink-chain": str(d / ("sym2-" + Path(target).name)),
    }
    os.symlink(target, names["symlink"])
    os.link(target, names["hardlink"])
    os.symlink(names["symlink"], names["symlink-chain"])
    return names


@pytest.mark.parametrize("which", ["INPUT", "--q", "--labels"])
@pytest.mark.parametrize("alias", ["same", "dotted", "symlink", "hardlink", "symlink-chain"])
def test_out_naming_an_input_file_is_refused(tmp_path: Path, capsys: Any, which: str, alias: str) -> None:
    """--out equal to the input used to overwrite it with the scores (exit 0)."""
    files = _input_files(tmp_path)
    before = {k: Path(v).read_bytes() for k, v in files.items()}
    out = _aliases(tmp_path, files[which])[alias]
    extra = {"INPUT": [], "--q": ["--measure", "kl", "--q", files["--q"]],
             "--labels": ["--measure", "cross-entropy", "--labels", files["--labels"]]}[which]
    code, stdout, err = run(["score", files["INPUT"], *extra, "--out", out], capsys)
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and f"is the {which} file" in err, err
    assert {k: Path(v).read_bytes() for k, v in files.items()} == before
    assert leftovers(tmp_path) == []


def test_out_beside_the_input_is_fine(tmp_path: Path, capsys: Any) -> None:
    files = _input_files(tmp_path)
    out = tmp_path / "p.npy.scores.npy"
    assert run(["score", files["INPUT"], "--out", str(out)], capsys)[0] == 0
    assert np.array_equal(np.load(out), fe.entropy(P))


def _parquet_lists(path: Path, rows: List[Any], row_group_size: int = 4, fixed: Any = None, large: bool = False) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    if fixed is not None:
        kind = pa.list_(pa.float64(), fixed)
    else:
        kind = pa.large_list(pa.float64()) if large else pa.list_(pa.float64())
    pq.write_table(pa.table({"probs": pa.array(rows, type=kind)}), path, row_group_size=row_group_size)


def _row_scores(rows: List[Any], fn: Any, **kw: Any) -> List[float]:
    """One score per row: NaN for a null row, a null value left out (as 0)."""
    return [math.nan if r is None else float(fn(np.array([0.0 if v is None else v for v in r]), **kw)) for r in rows]


RAGGED = [[0.2, 0.8], [0.1, 0.2, 0.7], [], None, [1.0], [0.25, 0.25, None, 0.5], [0.3, 0.3, 0.4]] * 3


@pytest.mark.parametrize("kind", ["list", "large_list"])
@pytest.mark.parametrize("chunk_rows", ["1", "4", "100"])
def test_parquet_ragged_list_rows_score_per_row(tmp_path: Path, capsys: Any, kind: str, chunk_rows: str) -> None:
    """Rows of different lengths used to be re-cut into equal rows (exit 0, wrong scores),
    then refused; now every row is scored as it is: null rows give NaN, null values are
    left out, row groups and chunks cut anywhere."""
    path = tmp_path / "lists.parquet"
    _parquet_lists(path, RAGGED, row_group_size=3, large=kind == "large_list")
    want = _row_scores(RAGGED, fe.entropy, base=2)
    for out in ("h.npy", "h.csv", None):
        argv = ["score", str(path), "--base", "2", "--chunk-rows", chunk_rows] + (["--out", str(tmp_path / out)] if out else [])
        code, stdout, err = run(argv, capsys)
        assert code == 0, err
        if out == "h.npy":
            got = np.load(tmp_path / out)
        elif out == "h.csv":
            with open(tmp_path / out) as f:
                got = np.array([float(r["score"]) for r in csv.DictReader(f)])
        else:
            got = np.array(stdout.split(), dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert leftovers(tmp_path) == []


def test_parquet_fixed_size_lists_with_a_null_row(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "fixed.parquet"
    _parquet_lists(path, [[0.2, 0.8], None, [0.5, None]], fixed=2)
    code, stdout, err = run(["score", str(path)], capsys)
    assert code == 0, err
    np.testing.assert_allclose(np.array(stdout.split(), dtype=float), [fe.entropy([0.2, 0.8]), math.nan, 0.0])


def test_parquet_wide_table_with_a_null(tmp_path: Path, capsys: Any) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"a": [0.5, 0.2, 0.1], "b": pa.array([0.5, None, 0.9])}), path)
    code, _, err = run(["score", str(path)], capsys)
    assert code == 2 and "row 1 of column 'b' is null" in err


def test_equal_length_list_rows_still_score(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "lists.parquet"
    _parquet_lists(path, [list(r) for r in P], row_group_size=7)
    code, stdout, err = run(["score", str(path), "--chunk-rows", "5"], capsys)
    assert code == 0, err
    assert np.array_equal(np.array(stdout.split(), dtype=float), fe.entropy(P))


@pytest.mark.parametrize("measure, fn", [("kl", fe.kl_divergence), ("cross-entropy", fe.cross_entropy)])
def test_ragged_pairs_read_in_step(tmp_path: Path, capsys: Any, measure: str, fn: Any) -> None:
    """--q as a second list column with other row groups, as a 2-D .npy when every row of
    INPUT has its width, and as one distribution for every row."""
    rows = [r for r in RAGGED if r is not None]
    q_rows = [[None if v is None else v + 0.1 for v in r] for r in rows]
    p_path, q_path = tmp_path / "p.parquet", tmp_path / "q.parquet"
    _parquet_lists(p_path, rows, row_group_size=3)
    _parquet_lists(q_path, q_rows, row_group_size=5)
    code, stdout, err = run(["score", str(p_path), "--measure", measure, "--q", str(q_path), "--chunk-rows", "4"], capsys)
    assert code == 0, err
    clean = lambda r: [0.0 if v is None else v for v in r]  # noqa: E731
    want = [fn(clean(a), clean(b)) if a else 0.0 for a, b in zip(rows, q_rows)]
    np.testing.assert_allclose(np.array(stdout.split(), dtype=float), want, rtol=1e-13)
    # a .npy --q beside equal-length list rows, and one distribution for all
    square = tmp_path / "square.parquet"
    _parquet_lists(square, [list(r) for r in P], row_group_size=7)
    for q_arg, q_want in ((save(tmp_path, "q.npy", Q), Q), (save(tmp_path, "q1.npy", Q[0]), Q[0])):
        code, stdout, err = run(["score", str(square), "--measure", measure, "--q", q_arg, "--chunk-rows", "6"], capsys)
        assert code == 0, err
        np.testing.assert_allclose(np.array(stdout.split(), dtype=float), fn(P, q_want), rtol=1e-13)
    # rows of different lengths are an error naming the row
    _parquet_lists(q_path, [r + [0.5] if i == 5 else r for i, r in enumerate(q_rows)], row_group_size=5)
    code, _, err = run(["score", str(p_path), "--measure", measure, "--q", str(q_path)], capsys)
    assert code == 2 and "equal lengths" in err and "at row 5" in err, err


def test_ragged_rows_with_labels(tmp_path: Path, capsys: Any) -> None:
    """Labels index their own row: cross-entropy against the one-hot label is
    -log(q[y] / sum(q)); softmax-ce takes the rows as logits."""
    rows = [[0.2, 0.8], [0.1, 0.2, 0.7], None, [1.0], [0.25, 0.25, 0.5]]
    path = tmp_path / "q.parquet"
    _parquet_lists(path, rows, row_group_size=2)
    y = save(tmp_path, "y.npy", np.array([1, 0, 7, 0, 2]))
    for measure in ("cross-entropy", "kl"):
        code, stdout, err = run(["score", str(path), "--measure", measure, "--labels", y, "--chunk-rows", "2"], capsys)
        assert code == 0, err
        want = [-math.log(0.8), -math.log(0.1), math.nan, 0.0, -math.log(0.5)]
        np.testing.assert_allclose(np.array(stdout.split(), dtype=float), want, rtol=1e-14, atol=1e-300)
    code, stdout, err = run(["score", str(path), "--measure", "softmax-ce", "--labels", y, "--base", "2"], capsys)
    assert code == 0, err
    want = [(math.log(sum(math.exp(v) for v in r)) - r[t]) / math.log(2) if r else math.nan for r, t in zip(rows, [1, 0, 7, 0, 2])]
    np.testing.assert_allclose(np.array(stdout.split(), dtype=float), want, rtol=1e-13)
    bad = save(tmp_path, "bad.npy", np.array([1, 0, 0, 1, 2]))
    code, _, err = run(["score", str(path), "--measure", "softmax-ce", "--labels", bad, "--chunk-rows", "2"], capsys)
    assert code == 2 and "label 1 at row 3 is outside [0, 1)" in err, err


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are kB on Linux only")
def test_a_parquet_file_is_streamed_by_row_group(tmp_path: Path) -> None:
    """A ragged list column of 183 MiB of values is read batch by batch, never whole: the
    scoring process's peak RSS grows by far less than the column (measured in a fresh
    interpreter after its imports; RLIMIT_DATA is no use here — pyarrow's allocator
    reserves address space it never touches)."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    path = tmp_path / "big.parquet"
    lengths = np.resize(np.array([90, 100, 110, 0, 100]), 300_000)
    offsets = np.zeros(lengths.size + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    with pq.ParquetWriter(path, pa.schema([("p", pa.list_(pa.float64()))]), compression="none") as w:
        per_group = 25_000
        for g in range(0, lengths.size, per_group):
            o = offsets[g : g + per_group + 1]
            values = np.full(int(o[-1] - o[0]), 0.5)
            w.write_table(pa.table({"p": pa.ListArray.from_arrays(pa.array(o - o[0]), pa.array(values))}))
    column_mib = int(offsets[-1]) * 8 / 2**20
    assert column_mib > 180
    out = tmp_path / "h.npy"
    script = (
        "import resource, sys, pyarrow.parquet; from fastentropy._cli import main;"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "before = peak(); code = main(sys.argv[1:]); print(peak() - before, file=sys.stderr); sys.exit(code)"
    )
    proc = run_fresh(
        [sys.executable, "-c", script, "score", str(path), "--out", str(out), "--chunk-rows", "10000"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "FASTENTROPY_NUM_THREADS": "2"},
    )
    assert proc.returncode == 0, proc.stderr
    growth = float(proc.stderr.strip().splitlines()[-1])
    # measured: ~61 MiB, about three 20 MiB row groups in flight (pyarrow's read buffers,
    # the decoded batch, the scores); the column whole would be 183 MiB more
    assert growth < column_mib / 2, f"peak RSS grew by {growth:.0f} MiB scoring a {column_mib:.0f} MiB column"
    h = np.load(out)
    np.testing.assert_allclose(h, np.where(lengths > 0, np.log(np.maximum(lengths, 1)), 0.0), rtol=1e-13)


def test_parquet_list_columns_take_from_logits_and_smoothing(tmp_path: Path, capsys: Any) -> None:
    """Ragged list columns with --from-logits / --smoothing give the library's values
    (chunks of three rows, so a chunk boundary falls inside the file)."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    z = [[0.1, 2.0, -1.0], [3.0], None, [0.5, 0.5, -4.0, 1.0]]
    w = [[1.0, 0.0, 0.0], [2.0], [1.0], [0.0, 0.1, 0.2, 0.3]]
    zf, wf = str(tmp_path / "z.parquet"), str(tmp_path / "w.parquet")
    pq.write_table(pa.table({"p": pa.array(z)}), zf)
    pq.write_table(pa.table({"p": pa.array(w)}), wf)
    cases = [
        ([zf, "--from-logits"], fe.entropy(pa.array(z), from_logits=True)),
        ([zf, "--from-logits", "--measure", "kl", "--q", wf], fe.kl_divergence(pa.array(z), pa.array(w), from_logits=True)),
        ([wf, "--smoothing", "0.5"], fe.entropy(pa.array(w), smoothing=0.5)),
        ([wf, "--smoothing", "0.5", "--measure", "js", "--q", wf], np.zeros(4)),
    ]
    for args, want in cases:
        code, stdout, err = run(["score", *args, "--chunk-rows", "3"], capsys)
        assert code == 0, err
        np.testing.assert_array_equal(np.array(stdout.split(), dtype=float), want)


def test_q_and_labels_columns_of_a_parquet_table(tmp_path: Path, capsys: Any) -> None:
    """--q-key / --labels-key pick the column of the --q / --labels file (INPUT's --key
    does not apply to them); a one-column .parquet of labels is one label per row."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    p = [[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]
    q = [[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]]
    table = str(tmp_path / "t.parquet")
    pq.write_table(pa.table({"id": [1, 2, 3], "p": pa.array(p), "q": pa.array(q), "y": [1, 0, 0]}), table)
    only_y = str(tmp_path / "y.parquet")
    pq.write_table(pa.table({"y": [1, 0, 0]}), only_y)
    wide = str(tmp_path / "wide.parquet")
    pq.write_table(pa.table({"a": [0.2, 0.5, 0.9], "b": [0.8, 0.5, 0.1]}), wide)
    onehot_ce = fe.cross_entropy(np.eye(2)[[1, 0, 0]], np.array(p))

    def scores(*args: str) -> Any:
        code, stdout, err = run(["score", *args], capsys)
        assert code == 0, err
        return np.array(stdout.split(), dtype=float)

    np.testing.assert_array_equal(
        scores(table, "--key", "p", "--measure", "kl", "--q", table, "--q-key", "q"), fe.kl_divergence(np.array(p), np.array(q))
    )
    np.testing.assert_array_equal(scores(wide, "--measure", "cross-entropy", "--labels", only_y), onehot_ce)
    np.testing.assert_array_equal(scores(wide, "--measure", "cross-entropy", "--labels", table, "--labels-key", "y"), onehot_ce)
    np.testing.assert_array_equal(scores(table, "--key", "p", "--measure", "cross-entropy", "--labels", only_y), onehot_ce)
    np.testing.assert_array_equal(
        scores(table, "--key", "p", "--measure", "softmax-ce", "--labels", table, "--labels-key", "y"),
        fe.softmax_cross_entropy(np.array(p), np.array([1, 0, 0]), reduction="none"),
    )
    code, _, err = run(["score", table, "--key", "p", "--measure", "kl", "--q", table], capsys)
    assert code == 2 and "choose the column to read with --q-key" in err, err
    code, _, err = run(["score", wide, "--measure", "kl", "--labels", table], capsys)
    assert code == 2 and "choose the column to read with --labels-key" in err, err


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are kB on Linux only")
def test_the_peak_of_scoring_parquet_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Many short rows in many row groups: pyarrow's default read-ahead (``pre_buffer``)
    made the peak grow with the file (measured: +72 MiB of peak for +61 MiB of column,
    a 509 MB file took 963 MB). Two files, the second twice the first: the peaks may
    differ by the larger result (5 MiB here), not by the column."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    def write(path: Path, rows: int) -> float:
        lengths = np.resize(np.array([8, 10, 12, 10]), rows)
        offsets = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        schema = pa.schema([("p", pa.large_list(pa.float64()))])
        with pq.ParquetWriter(path, schema, compression="none", use_dictionary=False) as w:
            for g in range(0, rows, 50_000):
                o = offsets[g : g + 50_001]
                values = np.random.default_rng(g).random(int(o[-1] - o[0]))  # fixed seeds
                w.write_table(pa.table({"p": pa.LargeListArray.from_arrays(pa.array(o - o[0]), pa.array(values))}))
        return float(offsets[-1]) * 8 / 2**20

    script = (
        "import resource, sys, pyarrow.parquet; from fastentropy._cli import main;"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "before = peak(); code = main(sys.argv[1:]); print(peak() - before, file=sys.stderr); sys.exit(code)"
    )
    growth, column_mib = [], []
    for rows in (800_000, 1_600_000):
        path = tmp_path / f"p{rows}.parquet"
        column_mib.append(write(path, rows))
        proc = run_fresh(
            [sys.executable, "-c", script, "score", str(path), "--out", str(tmp_path / "h.npy"), "--chunk-rows", "10000"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "FASTENTROPY_NUM_THREADS": "2"},
        )
        assert proc.returncode == 0, proc.stderr
        growth.append(float(proc.stderr.strip().splitlines()[-1]))
        path.unlink()
    more_column = column_mib[1] - column_mib[0]
    # measured with pre_buffer=False: 47 and 56 MiB of growth (+8 for +61 MiB of column)
    assert growth[1] - growth[0] < more_column / 2, (growth, column_mib)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002, 0o027])
@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_output_permissions_follow_the_umask(tmp_path: Path, capsys: Any, umask: int, suffix: str) -> None:
    """Outputs used to be created 0600 whatever the umask (tempfile.mkstemp's mode)."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    inp = save(tmp_path, "p.npy", P)
    out = tmp_path / f"h{suffix}"
    old = os.umask(umask)
    try:
        code = main(["score", inp, "--out", str(out)])
        with open(tmp_path / "plain", "w"):  # what open() gives under this umask
            pass
    finally:
        os.umask(old)
    assert code == 0, capsys.readouterr().err
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


def test_an_overwritten_output_keeps_its_permissions(tmp_path: Path, capsys: Any) -> None:
    inp = save(tmp_path, "p.npy", P)
    out = tmp_path / "h.csv"
    out.write_text("old\n")
    for mode in (0o640, 0o444):
        out.chmod(mode)
        assert run(["score", inp, "--out", str(out)], capsys)[0] == 0
        assert stat.S_IMODE(out.stat().st_mode) == mode
        assert out.read_text().startswith("row,score")


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`score ... | head -2` printed "error: [Errno 32] Broken pipe" and exited 2. Now it
    ends as Unix tools do on SIGPIPE: no message, status 141 (128 + SIGPIPE)."""
    inp = save(tmp_path, "many.npy", np.random.default_rng(0).random((200_000, 3)))  # ~4 MB of text
    proc = subprocess.Popen([sys.executable, "-m", "fastentropy", "score", inp],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # what `head -2` does after two lines
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert err == ""
    assert [float(x) for x in first] == list(fe.entropy(np.load(inp)[:2]))


def test_a_closed_stdout_in_a_shell_pipeline(tmp_path: Path) -> None:
    inp = save(tmp_path, "many.npy", np.random.default_rng(0).random((200_000, 3)))
    cmd = f"{sys.executable} -m fastentropy score {inp} | head -2"
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(proc.stdout.splitlines()) == 2


def test_version(capsys: Any) -> None:
    code, out, err = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"fastentropy {fe.__version__}" and err == ""
    proc = subprocess.run([sys.executable, "-m", "fastentropy", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastentropy {fe.__version__}"


@pytest.mark.parametrize("value", ["0", "-3", "x", "1.5"])
def test_chunk_rows_must_be_a_positive_integer(tmp_path: Path, capsys: Any, value: str) -> None:
    """--chunk-rows 0 used to be taken as the default."""
    inp = save(tmp_path, "p.npy", P)
    out = tmp_path / "h.npy"
    code, _, err = run(["score", inp, "--chunk-rows", value, "--out", str(out)], capsys)
    assert code == 2 and "--chunk-rows" in err and "positive integer" in err and value in err
    assert not out.exists()


# A driver that stops in the middle of the output, after the first chunk is written, and
# says so on stderr: the test then sends the signal (no timing involved).
_STOP_AFTER_FIRST_CHUNK = """
import sys, time
from fastentropy import _cli
write = _cli.Sink.write
def write_then_wait(self, start, scores):
    write(self, start, scores)
    if start == 0:
        sys.stderr.write("first chunk written\\n"); sys.stderr.flush()
        while True:
            time.sleep(0.05)
_cli.Sink.write = write_then_wait
sys.exit(_cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signame, status", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_a_terminating_signal_removes_the_temporary_file(tmp_path: Path, signame: str, status: int, suffix: str) -> None:
    """SIGTERM used to leave the hidden .tmp file behind."""
    import signal as signal_module

    inp = save(tmp_path, "p.npy", P)
    out = tmp_path / f"h{suffix}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOP_AFTER_FIRST_CHUNK, "score", inp, "--out", str(out), "--chunk-rows", "5"],
        stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == "first chunk written\n"
    assert len(leftovers(tmp_path)) == 1  # the temporary output exists while it works
    proc.send_signal(getattr(signal_module, signame))
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == status, err
    assert leftovers(tmp_path) == [] and not out.exists()


def test_parquet_key_picks_the_list_column(tmp_path: Path, capsys: Any) -> None:
    """A table of ids beside the list column: --key names the column scored."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastentropy[parquet]')")
    import pyarrow.parquet as pq

    rows = [r for r in RAGGED]
    table = pa.table({"id": pa.array(range(len(rows))), "probs": pa.array(rows, type=pa.list_(pa.float64())), "tag": ["x"] * len(rows)})
    path = tmp_path / "preds.parquet"
    pq.write_table(table, path, row_group_size=4)
    code, stdout, err = run(["score", str(path), "--key", "probs", "--base", "2", "--chunk-rows", "5"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(np.array(stdout.split(), dtype=float), _row_scores(rows, fe.entropy, base=2), rtol=1e-14)
    code, _, err = run(["score", str(path), "--key", "nope"], capsys)
    assert code == 2 and "has no column 'nope'" in err and "'probs'" in err, err
    code, _, err = run(["score", str(path)], capsys)
    assert code == 2 and "choose the column to read with --key (list columns: probs)" in err, err
