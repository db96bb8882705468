"""Helpers shared by the loss-family tests (self-contained: no conftest fixtures needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from hypothesis import settings

DATA = Path(__file__).resolve().parent / "data"
LOSS_FUNCTIONS = {
    "logsumexp",
    "log_softmax",
    "softmax",
    "softmax_cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
}

# The loaded profile (tests/hypothesis_profiles.py) decides examples, seed and deadline.
PROPERTY = settings()


def loss_cases() -> List[Dict[str, Any]]:
    with open(DATA / "cases.json", encoding="utf-8") as f:
        return [c for c in json.load(f)["cases"] if c["function"] in LOSS_FUNCTIONS]


def arrays() -> Dict[str, np.ndarray]:
    with np.load(DATA / "arrays.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def log_softmax_ref(z: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(z, axis=axis, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


def torch_ce_ref(z: np.ndarray, y: np.ndarray, w=None, ignore=-100, eps=0.0, reduction="mean"):
    """A plain numpy transcription of torch.nn.functional.cross_entropy (class indices, (N, C))."""
    n, c = z.shape
    lp = log_softmax_ref(z.astype(np.float64))
    wv = np.ones(c) if w is None else np.asarray(w, np.float64)
    keep = y != ignore
    ys = np.where(keep, y, 0)
    nll = -wv[ys] * lp[np.arange(n), ys] * keep
    smooth = -(lp * wv).sum(axis=1) * keep
    per_row = (1 - eps) * nll + eps / c * smooth
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() / (wv[ys] * keep).sum()
