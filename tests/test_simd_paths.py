"""The instruction-set paths agree. AVX-512 and AVX2 perform the same IEEE operations (fused
multiply-adds included) in the same order on the same eight logical lanes
(src/simd/vector.rs), so they agree bit for bit — except for the sign/payload of a NaN, which
no operation specifies. The x86-64 baseline has no FMA instruction and rounds a·b + c twice,
so it agrees to a few ULP per term. ``FASTENTROPY_SIMD`` forces a path, read once per
process, so each path runs in a fresh interpreter on the same adversarial data.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import pytest

pytestmark = pytest.mark.slow

COMPUTE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import fastentropy as fe

    rng = np.random.default_rng(20261125)
    # finite extremes: subnormals (smallest, mid), the smallest normal, tiny, huge
    SPECIALS = {
        np.float64: [5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e300],
        np.float32: [1e-45, 1e-40, 1.1754944e-38, 1e-30, 1e30],
    }
    LARGEST = {np.float64: 1.7976931348623157e308, np.float32: 3.4028235e38}
    LENGTHS = list(range(68)) + [1000, 8191, 8192, 8193, 300_001]
    results = {}

    def put(key, value):
        results.setdefault(key, []).append(np.atleast_1d(np.asarray(value)).ravel())

    def sample(dtype, n, variant, zeros=0.2):
        # each variant adds to the previous one: 0: random, mixed scales, zeros;
        # 1: finite extremes; 2: the largest finite value and +inf; 3: NaN
        x = rng.random(n) * 10.0 ** rng.integers(-3, 4, n)
        x[rng.random(n) < zeros] = 0.0
        if n and variant >= 1:
            idx = rng.integers(0, n, max(1, n // 8))
            x[idx] = rng.choice(SPECIALS[dtype], idx.size)
        if n and variant >= 2:
            x[rng.integers(0, n)] = LARGEST[dtype]
            x[rng.integers(0, n)] = np.inf
        if n and variant == 3:
            x[rng.integers(0, n)] = np.nan
        return x.astype(dtype)

    for dtype in (np.float64, np.float32):
        for n in LENGTHS:
            for variant in range(4):
                # q without zeros for the finite variants, so most divergences are finite
                p, q = sample(dtype, n, variant), sample(dtype, n, variant, zeros=0.0 if variant < 2 else 0.2)
                tag = f"{dtype.__name__}-{variant}"
                for normalize in (True, False):
                    put(f"{tag}-entropy-{normalize}", fe.entropy(p, normalize=normalize))
                    put(f"{tag}-kl-{normalize}", fe.kl_divergence(p, q, normalize=normalize))
                    put(f"{tag}-ce-{normalize}", fe.cross_entropy(p, q, normalize=normalize))
                    put(f"{tag}-kl-mixed-{normalize}", fe.kl_divergence(p, q.astype(np.float64), normalize=normalize))
                # the same data as logits (zeros: -inf logits), and rows near q's logits (KL's
                # exact second pass: its short series, and its other forms)
                with np.errstate(divide="ignore", invalid="ignore"):
                    z, w = np.log(p), np.log(q)
                near = (w + 1e-3 * rng.standard_normal(n)).astype(dtype)
                medium = (w + 0.5 * rng.standard_normal(n)).astype(dtype)
                put(f"{tag}-entropy-logits", fe.entropy(z, from_logits=True))
                put(f"{tag}-kl-logits", fe.kl_divergence(z, w, from_logits=True))
                put(f"{tag}-kl-logits-near", fe.kl_divergence(near, w, from_logits=True))
                put(f"{tag}-kl-logits-medium", fe.kl_divergence(medium, w, from_logits=True))
                put(f"{tag}-js-logits", fe.js_divergence(z, w, from_logits=True))
                put(f"{tag}-entropy-bits", fe.entropy(p, base=2))
                put(f"{tag}-kl-swapped", fe.kl_divergence(q, p))
                put(f"{tag}-selfinfo", fe.self_information(p))
                put(f"{tag}-selfinfo-bits", fe.self_information(p, base=2))
                if n >= 8:   # batched rows and strided columns
                    rows = p[: n - n % 8].reshape(-1, 8)
                    qrows = q[: n - n % 8].reshape(-1, 8)
                    put(f"{tag}-entropy-rows", fe.entropy(rows))
                    put(f"{tag}-entropy-columns", fe.entropy(rows, axis=0))
                    put(f"{tag}-kl-columns", fe.kl_divergence(rows, qrows, axis=0))
                    put(f"{tag}-ce-rows", fe.cross_entropy(rows, qrows))
                    put(f"{tag}-kl-logits-rows", fe.kl_divergence(z[: rows.size].reshape(-1, 8), w[: rows.size].reshape(-1, 8), from_logits=True))
    np.savez(sys.argv[1], isa=np.array(fe.simd_isa()),
             **{k: np.concatenate(v) for k, v in results.items()})
    """
)


def _cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _has_avx2() -> bool:
    return platform.machine() in ("x86_64", "AMD64") and {"avx2", "fma"} <= _cpu_flags()


def _run(path_name: Optional[str], tmp_path: Path) -> Dict[str, np.ndarray]:
    env = {k: v for k, v in os.environ.items() if k != "FASTENTROPY_SIMD"}
    if path_name is not None:
        env["FASTENTROPY_SIMD"] = path_name
    target = tmp_path / f"{path_name or 'default'}.npz"
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", COMPUTE, str(target)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(target) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Optional[str]], Dict[str, np.ndarray]]:
    """Runs the computation once per path (None: the default) and caches the outputs."""
    cache: Dict[Optional[str], Dict[str, np.ndarray]] = {}
    tmp = tmp_path_factory.mktemp("simd")

    def run(path_name: Optional[str]) -> Dict[str, np.ndarray]:
        if path_name not in cache:
            cache[path_name] = _run(path_name, tmp)
        return dict(cache[path_name])

    return run


@pytest.fixture(scope="module")
def default_results(run_path: Callable[[Optional[str]], Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    return run_path(None)


def _hex(x: np.generic) -> str:
    return f"{x!r} (0x{x.tobytes()[::-1].hex()})"


def _skip_without_avx2() -> None:
    if not _has_avx2():
        reason = f"this CPU ({platform.machine()}) lacks AVX2+FMA, so FASTENTROPY_SIMD=avx2 cannot be honoured"
        print(reason)
        pytest.skip(reason)


def test_avx2_is_bitwise_identical_to_default_up_to_the_sign_of_nan(
    default_results: Dict[str, np.ndarray], run_path: Callable[[Optional[str]], Dict[str, np.ndarray]]
) -> None:
    """Every non-NaN value bitwise identical, NaN in the same places."""
    _skip_without_avx2()
    forced = run_path("avx2")
    isa = str(forced.pop("isa"))
    default = dict(default_results)
    default_isa = str(default.pop("isa"))
    assert forced.keys() == default.keys()
    mismatched = []
    for key in sorted(default):
        a, b = default[key], forced[key]
        assert a.dtype == b.dtype and a.shape == b.shape, key
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if not np.array_equal(nan_a, nan_b):
            mismatched.append(f"{key}: NaN in different places")
        elif a[~nan_a].tobytes() != b[~nan_b].tobytes():
            fa, fb = a[~nan_a], b[~nan_b]
            where = np.flatnonzero(fa.view(np.uint8).reshape(fa.size, -1) != fb.view(np.uint8).reshape(fb.size, -1))
            mismatched.append(f"{key}: e.g. {_hex(fa[where[0] // fa.itemsize])} vs {_hex(fb[where[0] // fb.itemsize])}")
    assert not mismatched, f"{isa} vs default {default_isa}:\n" + "\n".join(mismatched[:20])


def test_baseline_agrees_with_default_to_rounding(
    default_results: Dict[str, np.ndarray], run_path: Callable[[Optional[str]], Dict[str, np.ndarray]]
) -> None:
    """Same NaN and infinity pattern; finite values within a few ULP per term."""
    forced = run_path("baseline")
    assert str(forced.pop("isa")) == "baseline"
    for key, a in default_results.items():
        if key == "isa":
            continue
        b = forced[key]
        assert np.array_equal(np.isnan(a), np.isnan(b)), key
        finite = np.isfinite(a)
        assert np.array_equal(finite, np.isfinite(b)), key
        assert np.array_equal(a[~finite & ~np.isnan(a)], b[~finite & ~np.isnan(b)]), key
        # float32 data may take native f32 logarithms (DESIGN §2b: within 1e-6 of exact),
        # each within 8e-8 relative, ln(1/Q) = c - ln q within 1.6e-7, and the fused and
        # unfused paths round differently: they agree within 2 x 1.6e-7. float64 agrees
        # to a few f64 ULPs per term.
        rtol = 1e-12 if a.dtype == np.float64 and "float32" not in key else 3.2e-7
        np.testing.assert_allclose(b[finite], a[finite], rtol=rtol, atol=1e-13, err_msg=key)


def test_results_are_not_trivially_equal(default_results: Dict[str, np.ndarray]) -> None:
    """Guards the comparison: the data really holds finite values, NaNs and infinities."""
    assert np.isfinite(default_results["float64-0-entropy-True"]).sum() > 60
    for key in ("float64-1-kl-True", "float32-1-ce-False", "float64-1-entropy-False"):
        assert np.isfinite(default_results[key]).sum() > 60, key  # subnormals, tiny, huge: finite
    assert np.isinf(default_results["float64-2-entropy-False"][1:]).all()  # every row has +inf
    assert np.isnan(default_results["float64-3-entropy-True"][1:]).all()  # every non-empty row has a NaN
    assert np.isinf(default_results["float32-0-selfinfo"]).any()  # zeros


@pytest.mark.parametrize("path_name, expected", [("avx2", "avx2"), ("baseline", "baseline"), ("scalar", "baseline")])
def test_simd_isa_reports_the_forced_path(path_name: str, expected: str) -> None:
    if expected == "avx2" and not _has_avx2():
        reason = f"this CPU ({platform.machine()}) lacks AVX2+FMA, so FASTENTROPY_SIMD=avx2 cannot be honoured"
        print(reason)
        pytest.skip(reason)
    env = dict(os.environ, FASTENTROPY_SIMD=path_name)
    proc = subprocess.run(
        [sys.executable, "-c", "import fastentropy as fe; print(fe.simd_isa())"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_default_isa_is_the_best_available() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FASTENTROPY_SIMD"}
    proc = subprocess.run(
        [sys.executable, "-c", "import fastentropy as fe; print(fe.simd_isa())"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    isa = proc.stdout.strip()
    assert isa in ("avx512", "avx2", "baseline")
    flags = _cpu_flags()
    if {"avx512f", "avx512dq", "avx512vl", "avx2", "fma"} <= flags:
        assert isa == "avx512"
    elif _has_avx2():
        assert isa == "avx2"
