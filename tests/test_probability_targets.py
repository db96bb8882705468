"""softmax_cross_entropy with class-probability targets: short rows go through tiles of
sixteen rows (a target tile beside the logits' tile), longer ones row by row. Both against
an mpmath reference on adversarial rows, in every layout, with and without the gradient."""

import math
from collections.abc import Iterator

import mpmath
import numpy as np
import pytest

import fastentropy as fe



@pytest.fixture(autouse=True)
def _digits() -> Iterator[None]:
    # mpmath's precision is global: other modules in the same xdist worker set theirs
    with mpmath.workdps(50):
        yield

# the tile limit is 128 classes: both sides of it, and every tail of a 16-row group
CLASSES = [1, 2, 3, 10, 16, 17, 128, 129, 300]


def _rows(c: int, seed: int) -> tuple:
    """Logits and targets: random rows plus adversarial ones (confident, huge, −inf under a
    zero target, all −inf, NaN, zero targets, a single class)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(37, c)) * 3
    t = rng.random((37, c))
    t[1:5, 0] = 0.0
    z[5] = -40.0
    z[5, 0] = 0.0  # confident and right: a loss of ~(c-1)·e^-40
    t[5] = 0.0
    t[5, 0] = 1.0
    z[6] = 1e30 * np.sign(z[6])  # huge logits: A = Σ u (m − z) must not cancel
    z[7, 0] = -np.inf
    t[7, 0] = 0.0  # 0·log 0 = 0
    z[8, 0] = -np.inf  # a positive target under −inf: +inf
    z[9] = -np.inf  # no finite logit: NaN
    z[10, c // 2] = np.nan
    t[11] = 0.0  # no target mass: the loss is 0
    z[12] = 2.5  # all equal
    return z, t


def _reference(z: np.ndarray, t: np.ndarray, w, eps: float) -> list:
    """Σ u_c (logsumexp − z_c), u = (t·(1 − ε) + ε/C)·w, per row in 50 digits."""
    c = z.shape[1]
    out = []
    for zr, tr in zip(z.astype(np.float64), t.astype(np.float64)):
        u = [(float(tv) * (1 - eps) + eps / c) * (1.0 if w is None else float(w[k])) for k, tv in enumerate(tr)]
        if any(math.isnan(v) for v in zr) or all(v == -math.inf for v in zr):
            out.append(math.nan)
            continue
        finite = [mpmath.mpf(float(v)) for v in zr if v != -math.inf]
        top = max(finite)
        # logsumexp = top + log Σ e^(z − top): exactly top for a single class
        lse = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in finite))
        total = mpmath.mpf(0)
        for uk, zk in zip(u, zr):
            if uk == 0:
                continue
            if zk == -math.inf:
                total = mpmath.inf
                break
            total += mpmath.mpf(uk) * (lse - mpmath.mpf(float(zk)))
        out.append(float(total))
    return out


def _close(got, want, rtol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    same_special = (np.isnan(got) & np.isnan(want)) | (np.isinf(want) & (got == want))
    with np.errstate(invalid="ignore"):
        ok = same_special | (np.abs(got - want) <= rtol * np.abs(want) + 1e-300)
    assert ok.all(), list(zip(got[~ok], want[~ok]))


@pytest.mark.parametrize("c", CLASSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps, weighted", [(0.0, False), (0.1, True)])
def test_per_row_losses_match_mpmath_in_every_layout(c, dtype, eps, weighted):
    z, t = _rows(c, seed=c)
    z, t = z.astype(dtype), t.astype(dtype)
    w = np.linspace(0.5, 1.5, c) if weighted else None
    want = _reference(z, t, w, eps)
    # float32 logits take native float32 exponentials (DESIGN §2b: within 1e-6)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    kw = dict(weight=w, label_smoothing=eps, reduction="none")
    rows = fe.softmax_cross_entropy(z, t, **kw)
    _close(rows, want, rtol)
    # the class axis first (the vertical tiles), 3-D with the classes in the middle,
    # and strided views: the same bits where every layout takes tiles (up to 128 classes;
    # longer rows are summed row by row in one layout and as tiles in the vertical one)
    same = [
        fe.softmax_cross_entropy(np.ascontiguousarray(z.T), np.ascontiguousarray(t.T), axis=0, **kw),
        fe.softmax_cross_entropy(np.asfortranarray(z), t, **kw),
        fe.softmax_cross_entropy(z[None].transpose(1, 2, 0), t[None].transpose(1, 2, 0), axis=1, **kw)[:, 0],
    ]
    for got in same:
        if c <= 128:
            np.testing.assert_array_equal(got, rows)
        else:
            _close(got, rows, rtol)
    wide = np.zeros((z.shape[0], 2 * c), dtype)
    wide[:, ::2] = z
    twide = np.zeros((z.shape[0], 2 * c), dtype)
    twide[:, ::2] = t
    np.testing.assert_array_equal(fe.softmax_cross_entropy(wide[:, ::2], twide[:, ::2], **kw), rows)
    # a row's loss does not depend on the rows beside it
    for i in (0, 5, 16, 36):
        np.testing.assert_array_equal(fe.softmax_cross_entropy(z[i : i + 1], t[i : i + 1], **kw), rows[i : i + 1])


@pytest.mark.parametrize("c", CLASSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_is_softmax_times_u_minus_u_in_every_layout(c, dtype, reduction):
    rng = np.random.default_rng(100 + c)
    z = (rng.normal(size=(37, c)) * 3).astype(dtype)
    t = rng.random((37, c)).astype(dtype)
    if c > 1:
        z[3, 0] = -np.inf
        t[3, 0] = 0.0
    w = np.linspace(0.5, 1.5, c)
    eps = 0.1
    loss, g = fe.softmax_cross_entropy(z, t, weight=w, label_smoothing=eps, reduction=reduction, return_grad=True)
    assert g.dtype == dtype and g.shape == z.shape
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    u = (t64 * (1 - eps) + eps / c) * w
    m = z64.max(axis=1, keepdims=True)
    p = np.exp(z64 - m)
    p /= p.sum(axis=1, keepdims=True)
    scale = 1 / z.shape[0] if reduction == "mean" else 1.0
    want = scale * (p * u.sum(axis=1, keepdims=True) - u)
    size = scale * (p * u.sum(axis=1, keepdims=True) + u)
    # float64: the tiles sum a row's exponentials in one chain (≲ C·u, 128 classes ≈ 1.4e-14)
    tol = 3e-7 if dtype == np.float32 else 2e-14
    assert (np.abs(g - want) <= tol * size + 1e-300).all()
    # into grad_out and in place: the same bits; from the transposed layout too (tiles)
    out = np.empty_like(z)
    loss2, g2 = fe.softmax_cross_entropy(z, t, weight=w, label_smoothing=eps, reduction=reduction, grad_out=out)
    assert g2 is out and loss2 == loss
    np.testing.assert_array_equal(out, g)
    zz = z.copy()
    fe.softmax_cross_entropy(zz, t, weight=w, label_smoothing=eps, reduction=reduction, grad_out=zz)
    np.testing.assert_array_equal(zz, g)
    _, gt = fe.softmax_cross_entropy(
        np.ascontiguousarray(z.T), np.ascontiguousarray(t.T), axis=0, weight=w, label_smoothing=eps,
        reduction=reduction, return_grad=True,
    )
    if c <= 128:  # both layouts take tiles
        np.testing.assert_array_equal(gt.T, g)
    else:
        assert (np.abs(gt.T - want) <= tol * size + 1e-300).all()


def test_any_thread_count_gives_the_same_bits(restore_threads: int) -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(200_003, 10)).astype(np.float32)
    t = rng.random((200_003, 10)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        fe.set_num_threads(n)
        loss, g = fe.softmax_cross_entropy(z, t, return_grad=True)
        results.append((loss, g, fe.softmax_cross_entropy(z, t, reduction="none")))
    for loss, g, rows in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(g, results[0][1])
        np.testing.assert_array_equal(rows, results[0][2])


@pytest.mark.parametrize("c", CLASSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_label_smoothing_with_class_indices_matches_mpmath(c, dtype, weighted):
    # torch's rule: class index y with smoothing ε weighs class c by ε/C·w_c + [c = y]·(1 − ε)·w_y,
    # the probability target (1 − ε)·onehot(y) + ε/C with weights w
    z, _ = _rows(c, seed=50 + c)
    z = z.astype(dtype)
    rng = np.random.default_rng(c)
    y = rng.integers(0, c, z.shape[0])
    y[3] = y[9] = -100  # ignored (row 9 has no finite logit: still 0)
    w = np.linspace(0.5, 1.5, c) if weighted else None
    eps = 0.1
    onehot = np.zeros(z.shape)
    onehot[np.arange(len(y)), np.maximum(y, 0)] = 1.0
    want = np.array(_reference(z, onehot, w, eps))
    want[y == -100] = 0.0
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    got = fe.softmax_cross_entropy(z, y, weight=w, label_smoothing=eps, reduction="none")
    _close(got, want, rtol)
    zt = np.ascontiguousarray(z.T)
    got_t = fe.softmax_cross_entropy(zt, y, axis=0, weight=w, label_smoothing=eps, reduction="none")
    if c <= 128:
        np.testing.assert_array_equal(got_t, got)
    else:
        _close(got_t, want, rtol)
    # "mean" divides by Σ w_y over the rows not ignored (torch)
    wy = np.ones(len(y)) if w is None else w[np.maximum(y, 0)]
    keep = (y != -100) & np.isfinite(want)
    m = fe.softmax_cross_entropy(z[keep], y[keep], weight=w, label_smoothing=eps)
    assert m == pytest.approx(want[keep].sum() / wy[keep].sum(), rel=rtol)
    # the gradient: scale·(softmax·U − u), zero on ignored rows
    keep_rows = keep.copy()
    keep_rows[9] = False
    loss, g = fe.softmax_cross_entropy(z, y, weight=w, label_smoothing=eps, reduction="sum", return_grad=True)
    z64 = z.astype(np.float64)[keep_rows]
    ww = np.ones(c) if w is None else w
    u = (eps / c) * ww * np.ones_like(z64) + (1 - eps) * onehot[keep_rows] * ww[y[keep_rows]][:, None]
    mx = z64.max(axis=1, keepdims=True)
    p = np.exp(z64 - mx)
    p /= p.sum(axis=1, keepdims=True)
    gw = p * u.sum(axis=1, keepdims=True) - u
    size = p * u.sum(axis=1, keepdims=True) + u
    # float64: the tiles sum a row's exponentials in one chain (≲ C·u, 128 classes ≈ 1.4e-14)
    tol = 3e-7 if dtype == np.float32 else 2e-14
    finite = np.isfinite(gw).all(axis=1)
    assert (np.abs(g[keep_rows][finite] - gw[finite]) <= tol * size[finite] + 1e-300).all()
    assert (g[y == -100] == 0).all()


def test_label_smoothing_keeps_torchs_zero_times_inf():
    # (1 − ε)·w_y·(−log p_y) is its own product, as in torch: with ε = 1 (or w_y = 0) and a
    # −inf target logit it is 0·inf = NaN — not 0, as a zero *probability* target gives
    w = np.array([0.5, 0.0, 2.0])
    z = np.array([[0.0, -2.0, -np.inf], [0.0, -np.inf, 0.0], [0.0, 1.0, -2.0]])
    y = np.array([2, 1, 0])
    for dtype in (np.float64, np.float32):
        got = fe.softmax_cross_entropy(z.astype(dtype), y, weight=w, label_smoothing=1.0, reduction="none")
        assert np.isnan(got[0]) and np.isnan(got[1])
        lp = z[2] - (1.0 + np.log1p(np.exp(-1.0) + np.exp(-3.0)))  # log-softmax of row 2
        assert got[2] == pytest.approx(-(w * lp).sum() / 3, rel=1e-6 if dtype == np.float32 else 1e-14)
