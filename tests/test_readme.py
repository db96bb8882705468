"""The README's code runs as written (issue #12 item 11).

Every ```python block of README.md is executed — in a fresh namespace, in a temporary
working directory (the Dask example writes ``probs.zarr``): ``>>>`` blocks as doctests,
the others as scripts. A block may be skipped only when it needs a package that is
missing *and* not in the ``[test,all]`` extras CI installs; a package of those extras that
is missing is a failure. Shell blocks are not run, but checked: the extras they install
exist, and every ``python -m fastentropy`` line parses with the CLI's own parser. The
Install section names the Rust version of Cargo.toml.
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import re
import shlex
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYPROJECT = ROOT / "pyproject.toml"

pytestmark = pytest.mark.skipif(not README.is_file(), reason="needs the source tree (README.md)")

# Import names of the distributions of the extras (where they differ).
IMPORT_NAMES = {"scikit-learn": "sklearn", "dask[distributed]": "dask"}


class Block(NamedTuple):
    lang: str
    code: str
    line: int  # of the opening fence, 1-based


def blocks() -> List[Block]:
    """The fenced code blocks of README.md (also those indented inside list items)."""
    found: List[Block] = []
    fence = re.compile(r"^( *)```(\w*)\s*$")
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = fence.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        i += 1
        body: List[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        found.append(Block(lang, "\n".join(body) + "\n", start + 1))
        i += 1
    return found


def extras() -> Dict[str, List[str]]:
    """[project.optional-dependencies] of pyproject.toml (parsed without tomllib: Python 3.9)."""
    text = PYPROJECT.read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    out: Dict[str, List[str]] = {}
    for name, value in re.findall(r"^(\w+)\s*=\s*(\[.*?\])\s*$", section, flags=re.M):
        out[name] = ast.literal_eval(value)
    return out


def ci_packages() -> Set[str]:
    """Import names of everything `pip install '.[test,all]'` installs."""
    names: Set[str] = {"numpy", "fastentropy"}
    for requirement in extras()["test"] + extras()["all"]:
        dist = re.split(r"[<>=!~ ;]", requirement, maxsplit=1)[0]
        names.add(IMPORT_NAMES.get(dist, re.sub(r"\[.*\]", "", dist).replace("-", "_")))
    return names


def imports(code: str) -> Set[str]:
    tree = ast.parse(code)
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def source_of(block: Block) -> str:
    """The Python source of a block (the examples of a ``>>>`` block)."""
    if block.code.lstrip().startswith(">>>"):
        return "".join(ex.source for ex in doctest.DocTestParser().get_examples(block.code))
    return block.code


def needed(block: Block) -> List[str]:
    """Packages the block imports (and zarr for the Dask example's Zarr store)."""
    names = imports(source_of(block))
    if "to_zarr" in block.code or "from_zarr" in block.code:
        names.add("zarr")
    return sorted(names)


def is_stdlib(name: str) -> bool:
    if hasattr(sys, "stdlib_module_names"):  # Python >= 3.10
        return name in sys.stdlib_module_names
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec is not None else None
    return origin in ("built-in", "frozen") or bool(origin and origin.startswith(sysconfig.get_paths()["stdlib"]))


PYTHON = [b for b in blocks() if b.lang == "python"]
SHELL = [b for b in blocks() if b.lang in ("bash", "sh", "shell", "console")]


def test_the_readme_has_code() -> None:
    assert len(PYTHON) >= 3 and len(SHELL) >= 3, (len(PYTHON), len(SHELL))


@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_python_block_runs(block: Block, tmp_path: Path, monkeypatch: Any, restore_threads: int) -> None:
    missing = [name for name in needed(block) if importlib.util.find_spec(name) is None]
    required = [name for name in missing if name in ci_packages()]
    assert not required, (
        f"README.md line {block.line} needs {required}, which the [test,all] extras install: "
        f"pip install '.[test,all]'"
    )
    if missing:
        pytest.skip(f"README.md line {block.line} needs {missing} (not in the [test,all] extras)")
    monkeypatch.chdir(tmp_path)
    name = f"README.md:{block.line}"
    if block.code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(block.code, {}, name, str(README), block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.attempted > 0 and result.failed == 0, f"{result.failed} example(s) failed in {name}"
    else:
        exec(compile(block.code, name, "exec"), {"__name__": "__readme__"})


def test_python_blocks_need_only_packages_of_the_extras() -> None:
    """So that CI, which installs `[test,all]`, runs every block (none is skipped there)."""
    outside = {b.line: [n for n in needed(b) if n not in ci_packages() and not is_stdlib(n)] for b in PYTHON}
    assert not any(outside.values()), outside


def _commands(block: Block) -> List[List[str]]:
    """The commands of a shell block: comments dropped, `&&` chains split."""
    commands: List[List[str]] = []
    for line in block.code.splitlines():
        words = shlex.split(line, comments=True)
        command: List[str] = []
        for word in words + ["&&"]:
            if word in ("&&", "||", ";"):
                if command:
                    commands.append(command)
                command = []
            else:
                command.append(word)
    return commands


def test_pip_installs_name_existing_extras() -> None:
    known = extras()
    seen = 0
    for block in SHELL:
        for command in _commands(block):
            if command[:2] != ["pip", "install"]:
                continue
            for target in command[2:]:
                m = re.fullmatch(r"(?:\.|fastentropy)\[([\w,]+)\]", target)
                if m:
                    seen += 1
                    unknown = [e for e in m.group(1).split(",") if e not in known]
                    assert not unknown, f"README.md line {block.line}: no extra {unknown} in pyproject.toml"
    text = README.read_text(encoding="utf-8")
    for m in re.finditer(r"pip install '(?:\.|fastentropy)\[([\w,]+)\]'", text):
        seen += 1
        assert set(m.group(1).split(",")) <= set(known), m.group(0)
    assert seen >= 3


def test_cli_commands_parse() -> None:
    """Every `python -m fastentropy ...` line of the README is a valid command line."""
    from fastentropy._cli import _parser

    parsed = 0
    for block in SHELL:
        for command in _commands(block):
            if command[:3] != ["python", "-m", "fastentropy"]:
                continue
            argv = command[3:]
            if argv == ["--version"]:
                parsed += 1
                continue
            args = _parser().parse_args(argv)  # exits 2 on an unknown option or value
            assert args.command in (None, "score")
            parsed += 1
    assert parsed >= 5


def test_the_install_section_says_what_a_build_needs() -> None:
    text = README.read_text(encoding="utf-8")
    install = text.split("## Install", 1)[1].split("\n## ", 1)[0]
    rust_version = re.search(r'^rust-version\s*=\s*"([\d.]+)"', (ROOT / "Cargo.toml").read_text(), flags=re.M)
    assert rust_version is not None
    assert f"Rust ≥ {rust_version.group(1)}" in install
    assert "C linker" in install and "`cc`" in install
    assert "pip install maturin" in install
    numpy_requirement = re.search(r'dependencies = \["numpy>=([\d.]+)"\]', PYPROJECT.read_text())
    assert numpy_requirement is not None, "the runtime dependencies are NumPy alone"
    assert f"NumPy ≥ {numpy_requirement.group(1)}" in install


def test_the_blocks_are_found_where_they_are() -> None:
    """The extractor sees indented blocks (inside list items) and keeps their code intact."""
    fuzz = [b for b in SHELL if "cargo fuzz" in b.code or "cargo +nightly" in b.code]
    assert fuzz and fuzz[0].code == textwrap.dedent(fuzz[0].code)
