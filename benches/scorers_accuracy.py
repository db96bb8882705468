#!/usr/bin/env python3
"""Accuracy of ensemble_uncertainty's epistemic part against mpmath, next to the formulas it
replaces, on the adversarial families of tests/_scorer_refs.py (float64 input).

    python benches/scorers_accuracy.py

Columns (relative error of the epistemic value; "100%" = all digits lost):
- total − aleatoric: the NumPy expression people write (float64);
- Σ p·ln(p/P̄): the plain KL sum (float64), terms of first order summing to second order;
- Σ P̄·φ(f) f64: the non-negative form this library uses, in plain float64;
- fastentropy: the same form with double-double member differences where needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fastentropy as fe  # noqa: E402
from _scorer_refs import adversarial_families, mp_uncertainty  # noqa: E402


def naive(m: np.ndarray) -> float:
    q = m / m.sum(-1, keepdims=True)
    pbar = q.mean(0)
    with np.errstate(all="ignore"):
        h = lambda a: -np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1)), 0), -1)  # noqa: E731
        return float(h(pbar) - h(q).mean())


def plain_kl(m: np.ndarray) -> float:
    q = m / m.sum(-1, keepdims=True)
    pbar = q.mean(0)
    with np.errstate(all="ignore"):
        t = np.where(q > 0, q * np.log(np.where(q > 0, q, 1) / pbar), 0)
    return float(t.sum(-1).mean())


def phi_f64(m: np.ndarray) -> float:
    q = m / m.sum(-1, keepdims=True)
    pbar = q.mean(0)
    with np.errstate(all="ignore"):
        f = np.where(pbar > 0, (q - pbar) / pbar, 0)
        phi = np.where(f > -1, (1 + f) * np.log1p(np.maximum(f, -1 + 1e-300)) - f, 1.0)
    return float((pbar * phi).sum(-1).mean())


def rel(got: float, want: float) -> str:
    if want == 0:
        return "exact" if got == 0 else f"{abs(got):.0e} abs"
    e = abs(got - want) / abs(want)
    return "100%" if e >= 1 else ("0" if e == 0 else f"{e:.0e}")


def main() -> None:
    print("| family (float64) | epistemic (mpmath) | total − aleatoric | Σ p·ln(p/P̄) | Σ P̄·φ(f) f64 | fastentropy |")
    print("|---|---|---|---|---|---|")
    for name, m in adversarial_families().items():
        want = mp_uncertainty(m)[2]
        got = fe.ensemble_uncertainty(m).epistemic
        print(f"| {name} | {want:.3g} | {rel(naive(m), want)} | {rel(plain_kl(m), want)} | {rel(phi_f64(m), want)} | {rel(got, want)} |")


if __name__ == "__main__":
    main()
