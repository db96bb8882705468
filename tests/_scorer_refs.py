"""References for the scorers' tests and benches: mpmath (exact) and NumPy (the
definitions written out) versions of ensemble_uncertainty and expected_calibration_error,
and the adversarial input families of the accuracy contract."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np


def mp_uncertainty(members: np.ndarray, from_logits: bool = False, dps: int = 80) -> Tuple[float, float, float]:
    """(total, aleatoric, epistemic) in nats of one prediction, members (S, C), in mpmath
    with `dps` digits from the exact values of the input floats."""
    import mpmath

    with mpmath.workdps(dps):
        rows = [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(members)]
        if from_logits:
            rows = [[mpmath.exp(v - max(row)) for v in row] for row in rows]
        dists = [[v / mpmath.fsum(row) for v in row] for row in rows]
        s, c = len(dists), len(dists[0])
        pbar = [mpmath.fsum(d[k] for d in dists) / s for k in range(c)]

        def h(p: List[Any]) -> Any:
            return -mpmath.fsum(v * mpmath.log(v) for v in p if v > 0)

        total = h(pbar)
        alea = mpmath.fsum(h(d) for d in dists) / s
        epi = mpmath.fsum(
            mpmath.fsum(v * mpmath.log(v / pbar[k]) for k, v in enumerate(d) if v > 0) for d in dists
        ) / s
        return float(total), float(alea), float(epi)


def np_uncertainty(p: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The definitions in NumPy for (S, ..., C) probabilities: normalise each member, then
    total = H(mean), aleatoric = mean H, epistemic = total − aleatoric (float64)."""
    q = np.asarray(p, dtype=np.float64)
    with np.errstate(all="ignore"):
        q = q / q.sum(-1, keepdims=True)
        pbar = q.mean(0)
        xlogx = lambda a: np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)  # noqa: E731
        total = -xlogx(pbar).sum(-1)
        alea = -xlogx(q).sum(-1).mean(0)
    return total, alea, total - alea


def np_entropy(q: np.ndarray) -> float:
    """Σ q·ln(1/q) of one distribution (summing to ~1) in float64, with a mass above 1/2
    taken as −log1p(−rest): the accurate NumPy reference for confident rows (the one-pass
    form (S ln S − Σ x ln x)/S loses them)."""
    q = np.asarray(q, dtype=np.float64)
    big = q > 0.5
    rest = q[~big]
    pos = rest[rest > 0]
    h = float(-np.sum(pos * np.log(pos)))
    if big.any():
        h += float(-q[big][0] * np.log1p(-rest.sum()))
    return h


def adversarial_families(seed: int = 0) -> Dict[str, np.ndarray]:
    """Named (S, C) member sets that break naive formulas (float64 values)."""
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.ones(10))
    fam: Dict[str, np.ndarray] = {}
    fam["members differ by 1e-8"] = base * (1 + 1e-8 * rng.standard_normal((5, 10)))
    fam["members differ by 1e-12"] = base * (1 + 1e-12 * rng.standard_normal((5, 10)))
    fam["members differ by 1e-4"] = base * (1 + 1e-4 * rng.standard_normal((5, 10)))
    dom = np.array([1.0, 1e-12, 3e-13, 2e-14])
    fam["dominant mass, rest 1e-12"] = dom * (1 + 1e-3 * rng.standard_normal((4, 4)))
    fam["dominant mass, rest 1e-20"] = np.array([1.0, 1e-20, 3e-21]) * (1 + 0.3 * rng.random((3, 3)))
    fam["dominant mass, agreeing to 1e-9"] = np.array([1.0, 1e-10, 4e-11]) * (1 + 1e-9 * rng.standard_normal((6, 3)))
    tiny = np.array([0.5, 0.5, 1e-300, 1e-200, 1e-250])
    fam["tiny probabilities"] = tiny * (1 + 0.1 * rng.random((4, 5)))
    fam["tiny probabilities, agreeing to 1e-8"] = tiny * (1 + 1e-8 * rng.standard_normal((4, 5)))
    fam["many members (200), differing by 1e-6"] = base * (1 + 1e-6 * rng.standard_normal((200, 10)))
    fam["many members (200), random"] = rng.dirichlet(np.ones(10), size=200)
    fam["counts 1e300"] = 1e300 * rng.dirichlet(np.ones(6), size=3)
    fam["counts 1e-300"] = 1e-300 * rng.dirichlet(np.ones(6), size=3)
    fam["sparse (zeros), differing by 1e-8"] = np.where(base > 0.1, base, 0.0) * (1 + 1e-8 * rng.standard_normal((5, 10)))
    # Many classes: the fast pass's class sums are blocked there (its rounding bound would
    # otherwise grow with C). A generator of their own keeps the draws above unchanged.
    wide = np.random.default_rng(seed + 1)
    fam["many classes (1000), random"] = wide.dirichlet(np.ones(1000), size=10)
    fam["many classes (257), differing by 1e-3"] = wide.dirichlet(np.ones(257)) * (1 + 1e-3 * wide.standard_normal((6, 257)))
    fam["many classes (100), mixed magnitudes"] = wide.dirichlet(np.full(100, 0.05), size=8)
    return fam


def np_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int, norm: str, boundary_dtype: Any) -> float:
    """The torchmetrics definition in NumPy (float64), rows (N, C): confidence = max,
    prediction = first argmax, bins [b_i, b_{i+1}) with b_i = i/n rounded to
    `boundary_dtype`, confidence 1 in the last bin."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    p = p.reshape(-1, p.shape[-1])
    if p.shape[0] == 0:
        return float("nan")
    conf = p.max(1)
    pred = p.argmax(1)
    bounds = (np.arange(n_bins + 1) / n_bins).astype(boundary_dtype).astype(np.float64)
    b = np.searchsorted(bounds, conf, side="right") - 1
    b = np.clip(b, 0, n_bins - 1)
    acc = (pred == y).astype(np.float64)
    count = np.bincount(b, minlength=n_bins).astype(np.float64)
    sconf = np.bincount(b, weights=conf, minlength=n_bins)
    sacc = np.bincount(b, weights=acc, minlength=n_bins)
    nz = count > 0
    gap = np.abs(sacc[nz] / count[nz] - sconf[nz] / count[nz])
    prop = count[nz] / p.shape[0]
    if norm == "l1":
        return float(np.sum(gap * prop))
    if norm == "l2":
        return float(np.sqrt(np.sum(gap**2 * prop)))
    return float(np.max(gap))
