"""fastentropy.mutual_information / joint_entropy against sklearn.metrics.mutual_info_score,
side by side in one run, as ratios (the machine is shared: absolute times move between runs,
ratios measured in the same run hold).

    python benches/mutual_information.py                      # 10^4 … 10^7, four label families
    python benches/mutual_information.py --sizes 1e4 1e6 5e7  # any sizes (5·10^7: ~1 GB per array pair)
    python benches/mutual_information.py --memory             # + peak RSS growth of one call (fresh process)

Label families (x, y of n samples each):
- distinct: two random permutations of 0..n — every label distinct (issue #12's case;
  offset-coded, the sparse counting-sort path);
- ids64: random 64-bit integers — distinct, spread over the whole range (coded by rank:
  radix sort of the keys);
- sqrt: about √n classes each, correlated — rows of ~√n samples (the sparse path with
  real cells);
- few: 100 and 120 classes — a dense 100 × 120 table.

Each cell of the table is the best of `--repeat` calls (sklearn: fewer above 10^6, it takes
seconds); `ratio` = sklearn time / fastentropy time (> 1: fastentropy is faster). `agree`:
the two results within 1e-10 relative. stdout is Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import fastentropy as fe

FAMILIES = ("distinct", "ids64", "sqrt", "few")


def labels(family: str, n: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if family == "distinct":
        return rng.permutation(n), rng.permutation(n)
    if family == "ids64":
        return rng.integers(-(2**63), 2**63 - 1, n), rng.integers(-(2**63), 2**63 - 1, n)
    if family == "sqrt":
        k = max(2, int(n**0.5))
        x = rng.integers(0, k, n)
        return x, (x + rng.integers(0, 3, n)) % k
    if family == "few":
        x = rng.integers(0, 100, n)
        return x, (x * 7 + rng.integers(0, 5, n)) % 120
    raise ValueError(family)


def best_of(fn: Callable[[], Any], repeat: int) -> Tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import fastentropy as fe
    sys.path.insert(0, {bench_dir!r})
    from mutual_information import labels
    x, y = labels({family!r}, {n})
    x.sum(); y.sum()                      # touch every page
    fe.mutual_information(x[:1000], y[:1000])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fe.{func}(x, y)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({{"growth_kb": after - before, "input_kb": (x.nbytes + y.nbytes) // 1024}}))
    """
)


def peak_growth(func: str, family: str, n: int) -> Dict[str, int]:
    code = MEMORY_CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), family=family, n=n, func=func)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600)
    data: Dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6, 4e6, 1e7])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="fastentropy threads (default: all cores)")
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS growth per call")
    ap.add_argument("--json", default=None, help="write every measurement here")
    args = ap.parse_args(argv)
    try:
        from sklearn.metrics import mutual_info_score
        import sklearn
    except ImportError:
        sys.exit("needs scikit-learn (pip install scikit-learn)")
    if args.threads:
        fe.set_num_threads(args.threads)
    families = args.families.split(",")
    sizes = [int(s) for s in args.sizes]
    print("## mutual_information vs sklearn.metrics.mutual_info_score\n")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, fastentropy threads "
        f"{fe.get_num_threads()}, SIMD {fe.simd_isa()}, numpy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}, load average {os.getloadavg()[0]:.1f}\n"
    )
    header = "| labels | n | fastentropy MI | joint_entropy | sklearn MI | ratio | agree |"
    if args.memory:
        header += " MI peak RSS growth (bytes/sample) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    rows: List[Dict[str, Any]] = []
    for family in families:
        for n in sizes:
            x, y = labels(family, n)
            print(f"{family} n={n}", file=sys.stderr, flush=True)
            t_fe, v_fe = best_of(lambda: fe.mutual_information(x, y), args.repeat)
            t_je, _ = best_of(lambda: fe.joint_entropy(x, y), args.repeat)
            sk_repeat = args.repeat if n <= 10**6 else 1
            t_sk, v_sk = best_of(lambda: mutual_info_score(x, y), sk_repeat)
            agree = abs(v_fe - v_sk) <= 1e-10 * max(abs(v_sk), 1e-300)
            row: Dict[str, Any] = dict(
                family=family, n=n, fe_s=t_fe, joint_s=t_je, sklearn_s=t_sk, ratio=t_sk / t_fe, fe=v_fe, sklearn=v_sk, agree=agree
            )
            line = (
                f"| {family} | {n:.0e} | {t_fe * 1e3:.1f} ms | {t_je * 1e3:.1f} ms | {t_sk * 1e3:.1f} ms | "
                f"{t_sk / t_fe:.1f}× | {'yes' if agree else 'NO'} |"
            )
            if args.memory:
                m = peak_growth("mutual_information", family, n)
                row["peak_growth_kb"] = m["growth_kb"]
                line += f" {m['growth_kb'] * 1024 / n:.1f} |"
            print(line, flush=True)
            rows.append(row)
            del x, y
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
