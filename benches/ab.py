"""Two builds of fastentropy in one process, called in turn on the same arrays.

This host's timings drift by 20–50% between processes (other tenants' load), so timing
wheel A in one run and wheel B in the next measures the host as much as the change.
Here both builds are imported into one interpreter (the second `fastentropy` from
another path, after the first is removed from `sys.modules`), their results are checked
equal bit for bit, and each case's calls alternate A, B, A, B…; the table is the minima.

    python benches/ab.py OLD_DIR NEW_DIR [--reps 11] CASE...

OLD_DIR / NEW_DIR hold an unpacked wheel (a `fastentropy/` package). A CASE is
`function:dtype:C[:layout]` over 10^7 values: (10^7/C, C) rows, layout `c` for the
C-ordered (C, N) array along axis 0, `r` for 10^6 ragged rows of 5–15 values through
`offsets=` (C unused). Functions: any measure taking (p) or (p, q), `logsumexp`,
`log_softmax`, `softmax`, `softmax_cross_entropy` (reduction="none"), `nll_loss`.
Threads: `FASTENTROPY_NUM_THREADS`. Prints `case old->new (new/old)` per case.
`ensemble_uncertainty:dtype:SxNxC[:near|logits]` (e.g. `ensemble_uncertainty:float32:30x100000x10`)
takes S Dirichlet(1) members of N predictions (`near`: members within 1e-6 of member 0,
the exact pass; `logits`: their logarithms with `from_logits=True`).
`--rtol R`: a change of results (a new form within DESIGN §2b's contract) is accepted
within R relative, and the largest relative difference is printed.
"""

import argparse
import importlib
import pkgutil
import sys
import time

import numpy as np

ONE_INPUT = ("entropy", "perplexity", "logsumexp", "log_softmax", "softmax", "ensemble_uncertainty")
WITH_LABELS = ("softmax_cross_entropy", "nll_loss")


def ours(name):
    return name == "fastentropy" or name.startswith("fastentropy.")


def load(path):
    """The package at `path` and its modules as `sys.modules` entries: the package imports
    some modules inside functions (`from . import _ragged`), which resolve through
    `sys.modules` by name at call time — so each build's entries are put back before its
    calls ([`use`]), or both builds' calls would run the last-loaded one's modules."""
    for name in [n for n in sys.modules if ours(n)]:
        del sys.modules[name]
    sys.path.insert(0, path)
    try:
        package = importlib.import_module("fastentropy")
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_") or info.name == "__main__":
                continue  # the optional namespaces (polars, dask), the CLI's entry
            try:
                importlib.import_module(f"fastentropy.{info.name}")
            except ImportError:
                pass  # a module needing an optional extra not installed here
        return package, {n: m for n, m in sys.modules.items() if ours(n)}
    finally:
        sys.path.remove(path)


def use(build):
    """Makes `build`'s modules the ones `sys.modules` names (see [`load`])."""
    sys.modules.update(build[1])
    return build[0]


def ensemble_inputs(dtype, shape, kind, rng):
    s, n, c = (int(v) for v in shape.split("x"))
    p = rng.dirichlet(np.ones(c), size=(s, n))
    if kind == "near":
        p = p[:1] * (1 + 1e-6 * rng.standard_normal((s, n, c)))
    if kind == "logits":
        return "ensemble_uncertainty", np.log(p).astype(dtype), None, None, {"from_logits": True}
    return "ensemble_uncertainty", p.astype(dtype), None, None, {}


def inputs(case, rng):
    parts = case.split(":")
    layout = parts[3] if len(parts) > 3 else ""
    if parts[0] == "ensemble_uncertainty":
        return ensemble_inputs(parts[1], parts[2], layout, rng)
    name, dtype, c = parts[0], parts[1], int(parts[2])
    if layout == "r":
        lengths = rng.integers(5, 16, 10**6)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        p = (rng.random(offsets[-1]) + 0.01).astype(dtype)
        q = (rng.random(offsets[-1]) + 0.01).astype(dtype)
        labels = (rng.random(10**6) * lengths).astype(np.int64)
        return name, p, q, labels, {"offsets": offsets}
    n = 10**7 // c
    p = (rng.random((n, c)) + 0.01).astype(dtype)
    q = (rng.random((n, c)) + 0.01).astype(dtype)
    labels = rng.integers(0, c, n)
    if layout == "c":
        return name, np.ascontiguousarray(p.T), np.ascontiguousarray(q.T), labels, {"axis": 0}
    return name, p, q, labels, {"axis": -1}


def call(module, name, p, q, labels, kw):
    f = getattr(module, name)
    if name in ONE_INPUT:
        return lambda: f(p, **kw)
    if name in WITH_LABELS:
        return lambda: f(p, labels, reduction="none", **kw)
    return lambda: f(p, q, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--rtol", type=float, default=0.0, help="0: results equal bit for bit")
    args = ap.parse_args()
    old, new = load(args.old), load(args.new)
    assert old[0] is not new[0]
    rng = np.random.default_rng(0)
    for case in args.cases:
        name, p, q, labels, kw = inputs(case, rng)
        a, b = call(old[0], name, p, q, labels, kw), call(new[0], name, p, q, labels, kw)
        use(old)
        want = np.asarray(a())
        use(new)
        got = np.asarray(b())
        note = ""
        if args.rtol:
            assert np.allclose(got, want, rtol=args.rtol, atol=0, equal_nan=True), case
            with np.errstate(divide="ignore", invalid="ignore"):
                worst = np.nanmax(np.abs(got - want) / np.abs(want), initial=0.0)
            note = f" worst {worst:.1e}"
        else:
            assert np.array_equal(want, got, equal_nan=True), f"{case}: results differ"
        ta, tb = [], []
        for _ in range(args.reps):
            use(old)
            t = time.perf_counter()
            a()
            ta.append(time.perf_counter() - t)
            use(new)
            t = time.perf_counter()
            b()
            tb.append(time.perf_counter() - t)
        print(f"{case} {min(ta) * 1e3:.2f}->{min(tb) * 1e3:.2f} ms ({min(tb) / min(ta):.2f}){note}", flush=True)


if __name__ == "__main__":
    main()
