"""softmax_cross_entropy (src/measures/softmax_cross_entropy.rs): torch semantics (golden cases
and a numpy transcription of torch), precision, properties, gradients, in-place, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastentropy as fe
from _loss_helpers import PROPERTY, arrays, log_softmax_ref, loss_cases, torch_ce_ref

GOLDEN = loss_cases()


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_loss_family_golden_case(case):
    """Every loss-family case of tests/data (torch 2.13), value and gradient."""
    data = arrays()
    func = getattr(fe, case["function"])
    inputs = {k: data[v] for k, v in case["inputs"].items()}
    kwargs = {k: data[v] if isinstance(v, str) and v in data else v for k, v in case["kwargs"].items()}
    expected = data[case["expected"]]
    rtol = float(case["rtol"])
    got = func(**inputs, **kwargs)
    if expected.ndim == 0:
        assert type(got) is float
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=rtol, atol=rtol)
    if case.get("expected_grad"):
        loss, grad = func(**inputs, **kwargs, return_grad=True)
        np.testing.assert_allclose(np.asarray(loss, np.float64), expected, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(grad, data[case["expected_grad"]], rtol=rtol, atol=rtol)
        first = next(iter(inputs.values()))
        assert grad.dtype == first.dtype and grad.shape == first.shape
        # the same through grad_out=logits: the logits become the gradient
        if case["function"] != "binary_cross_entropy_with_logits":
            own = {k: v.copy() for k, v in inputs.items()}
            first_key = next(iter(own))
            loss2, grad2 = func(**own, **kwargs, grad_out=own[first_key])
            assert grad2 is own[first_key]
            np.testing.assert_array_equal(grad2, grad)
            np.testing.assert_array_equal(np.asarray(loss2), np.asarray(loss))


def test_seed_example():
    loss = fe.softmax_cross_entropy(np.log([[0.3, 0.3, 0.4]]), [2])
    assert type(loss) is float
    assert loss == pytest.approx(0.9162907318741551, rel=1e-12)


def test_confident_prediction_keeps_relative_precision():
    # torch returns 0.0 here; the loss is log1p(exp(-46)) = 1.05e-20
    loss = fe.softmax_cross_entropy(np.array([[0.0, -46.0, -50.0]]), [0])
    assert loss == pytest.approx(math.log1p(math.exp(-46.0) + math.exp(-50.0)), rel=1e-15)
    assert loss > 0


def test_extreme_logits_are_finite():
    z = np.array([[1e30, -1e30, 0.0], [-1e30, 1e30, 1e30], [80.0, -80.0, -math.inf]])
    got = fe.softmax_cross_entropy(z, [0, 0, 1], reduction="none")
    np.testing.assert_allclose(got, [0.0, 2e30, 160.0], rtol=1e-15)
    nan_row = fe.softmax_cross_entropy(np.full((1, 3), -math.inf), [0], reduction="none")
    assert np.isnan(nan_row).all()
    assert fe.softmax_cross_entropy(np.array([[0.0, -math.inf]]), [1]) == math.inf


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [-100, 2])
def test_matches_torch_rules(reduction, eps, weighted, ignore):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(40, 7)) * 3
    y = rng.integers(0, 7, size=40)
    y[::5] = -100
    if ignore != -100:
        y = np.where(y == -100, ignore, y)
    w = rng.uniform(0.2, 2.0, size=7) if weighted else None
    got = fe.softmax_cross_entropy(z, y, weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=eps)
    want = torch_ce_ref(z, y, w, ignore, eps, reduction)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c", [2, 3, 10])
@pytest.mark.parametrize("bad", ["ignored", "weighted", "none"])
def test_many_rows_with_ignored_or_weighted_labels_in_some_tiles(dtype, c, bad):
    # thousands of rows: the core's tiles of short rows where every label is a plain class
    # take a branch-free label read, tiles holding an ignored label (or any call with class
    # weights) the general one; per-row losses, reductions and gradients agree with torch's rules
    rng = np.random.default_rng(11)
    n = 3000
    z = (rng.normal(size=(n, c)) * 3).astype(dtype)
    y = rng.integers(0, c, size=n)
    w = None
    if bad == "ignored":
        y[1000:1100:7] = -100
        y[2999] = -100
    elif bad == "weighted":
        w = rng.uniform(0.2, 2.0, size=c)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for reduction in ("none", "mean", "sum"):
        got = fe.softmax_cross_entropy(z, y, weight=w, reduction=reduction)
        want = torch_ce_ref(z.astype(np.float64), y, w, -100, 0.0, reduction)
        np.testing.assert_allclose(got, want, rtol=tol, atol=1e-14)
    loss, grad = fe.softmax_cross_entropy(z, y, weight=w, return_grad=True)
    z64 = z.astype(np.float64)
    keep = y != -100
    ys = np.where(keep, y, 0)
    wv = np.ones(c) if w is None else w
    wy = wv[ys] * keep
    p = np.exp(log_softmax_ref(z64))
    onehot = np.zeros((n, c))
    onehot[np.arange(n), ys] = 1.0
    want_grad = wy[:, None] * (p - onehot) / wy.sum()
    assert loss == pytest.approx(torch_ce_ref(z64, y, w, -100, 0.0, "mean"), rel=tol)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9 if dtype == np.float64 else 1e-5, atol=1e-12 if dtype == np.float64 else 1e-9)
    assert (grad[~keep] == 0).all()


def test_all_ignored_mean_is_nan_sum_is_zero():
    z = np.zeros((3, 4))
    y = np.full(3, -100)
    assert math.isnan(fe.softmax_cross_entropy(z, y))
    assert fe.softmax_cross_entropy(z, y, reduction="sum") == 0.0
    loss, grad = fe.softmax_cross_entropy(z, y, return_grad=True)
    assert math.isnan(loss) and (grad == 0).all()


@PROPERTY
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 40)), elements=st.floats(0.01, 1.0)),
    st.data(),
)
def test_minus_log_p_of_the_label(p, data):
    p = p / p.sum(axis=1, keepdims=True)
    y = np.array([data.draw(st.integers(0, p.shape[1] - 1)) for _ in range(p.shape[0])])
    got = fe.softmax_cross_entropy(np.log(p), y, reduction="none")
    np.testing.assert_allclose(got, -np.log(p[np.arange(len(y)), y]), rtol=1e-12, atol=1e-14)


@PROPERTY
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 30)), elements=st.floats(-30, 30)),
    st.data(),
)
def test_probability_targets_equal_cross_entropy_of_softmax(z, data):
    t = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    assume((t.sum(axis=1) > 1e-3).all())
    t = t / t.sum(axis=1, keepdims=True)
    got = fe.softmax_cross_entropy(z, t, reduction="none")
    want = fe.cross_entropy(t, fe.softmax(z))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@PROPERTY
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 12)), elements=st.floats(-5, 5)),
    st.data(),
    st.sampled_from(["mean", "sum"]),
    st.sampled_from([0.0, 0.2]),
    st.booleans(),
    st.booleans(),
)
def test_gradient_agrees_with_central_differences(z, data, reduction, eps, weighted, probs):
    n, c = z.shape
    if probs:
        t = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    else:
        t = np.array([data.draw(st.integers(0, c - 1)) for _ in range(n)])
    w = np.linspace(0.5, 1.5, c) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=eps)
    _, grad = fe.softmax_cross_entropy(z, t, return_grad=True, **kw)
    h = 1e-6
    fd = np.empty_like(z)
    for i in range(n):
        for j in range(c):
            a, b = z.copy(), z.copy()
            a[i, j] += h
            b[i, j] -= h
            fd[i, j] = (fe.softmax_cross_entropy(a, t, **kw) - fe.softmax_cross_entropy(b, t, **kw)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


def test_probability_target_zero_on_minus_inf_logit_contributes_zero():
    z = np.array([[-math.inf, 0.0, 1.0]])
    assert fe.softmax_cross_entropy(z, np.array([[0.0, 0.5, 0.5]])) == pytest.approx(
        -(0.5 * log_softmax_ref(np.array([[-1e300, 0.0, 1.0]]))[0, 1:]).sum(), rel=1e-14
    )
    assert fe.softmax_cross_entropy(z, np.array([[0.1, 0.4, 0.5]])) == math.inf
    loss, grad = fe.softmax_cross_entropy(z, np.array([[0.0, 0.5, 0.5]]), return_grad=True)
    assert np.isfinite(grad).all()


def test_k_dimensional_axis1_equals_moved_rows():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(3, 5, 4, 2)).astype(np.float32)
    y = rng.integers(0, 5, size=(3, 4, 2))
    got = fe.softmax_cross_entropy(z, y, axis=1, reduction="none")
    assert got.shape == (3, 4, 2) and got.dtype == np.float64
    flat = np.moveaxis(z, 1, -1).reshape(-1, 5)
    want = torch_ce_ref(flat, y.reshape(-1), reduction="none").reshape(3, 4, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    loss, grad = fe.softmax_cross_entropy(z, y, axis=1, return_grad=True)
    assert grad.shape == z.shape and grad.dtype == np.float32
    zz = z.copy()
    loss2, g2 = fe.softmax_cross_entropy(zz, y, axis=1, grad_out=zz)
    assert g2 is zz and loss2 == loss
    np.testing.assert_array_equal(zz, grad)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64, np.uint64])
def test_any_integer_target_dtype(dtype):
    z = np.log(np.array([[0.3, 0.3, 0.4], [0.5, 0.25, 0.25]]))
    assert fe.softmax_cross_entropy(z, np.array([2, 0], dtype=dtype), reduction="sum") == pytest.approx(
        -math.log(0.4) - math.log(0.5), rel=1e-14
    )


def test_grad_out_separate_and_non_contiguous_inputs():
    rng = np.random.default_rng(7)
    big = rng.normal(size=(20, 600))
    z = big[::2, ::-1]
    y = rng.integers(0, 600, size=10)
    l1, g1 = fe.softmax_cross_entropy(z, y, return_grad=True, label_smoothing=0.05)
    l2, g2 = fe.softmax_cross_entropy(np.ascontiguousarray(z), y, return_grad=True, label_smoothing=0.05)
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)
    out = np.zeros((600, 10)).T
    _, g3 = fe.softmax_cross_entropy(z, y, grad_out=out, label_smoothing=0.05)
    assert g3 is out
    np.testing.assert_array_equal(out, g1)


def test_deterministic_for_any_thread_count():
    rng = np.random.default_rng(8)
    z = rng.normal(size=(5000, 101)) * 4
    y = rng.integers(0, 101, size=5000)
    before = fe.get_num_threads()
    try:
        seen = []
        for n in (1, 2, 3):
            fe.set_num_threads(n)
            loss, grad = fe.softmax_cross_entropy(z, y, return_grad=True, label_smoothing=0.1)
            seen.append((loss, grad))
    finally:
        fe.set_num_threads(before)
    for loss, grad in seen[1:]:
        assert loss == seen[0][0]
        np.testing.assert_array_equal(grad, seen[0][1])


Z = np.zeros((4, 5))
BAD = [
    (dict(target=[0, 1, 2, 7]), ValueError, r"`target` has label 7 at position \(3,\), outside \[0, 5\)"),
    (dict(target=[0, 1, -1, 2]), ValueError, r"label -1 at position \(2,\)"),
    (dict(target=[0, 1, 2]), ValueError, r"`target` \(class indices\) must have the shape"),
    (dict(target=np.zeros((4, 4))), ValueError, r"`target` \(class probabilities\) must have the shape"),
    (dict(target=[0, 1, 2, 3], weight=np.ones(4)), ValueError, r"`weight` must have one entry per class \(5\)"),
    (dict(target=[0, 1, 2, 3], label_smoothing=-0.1), ValueError, r"`label_smoothing` must be between 0 and 1"),
    (dict(target=[0, 1, 2, 3], label_smoothing=1.5), ValueError, r"`label_smoothing` must be between 0 and 1"),
    (dict(target=[0, 1, 2, 3], reduction="avg"), ValueError, r"`reduction` must be 'none', 'mean' or 'sum', got 'avg'"),
    (dict(target=np.array(["a", "b", "c", "d"])), TypeError, r"`target` must hold integer"),
    (dict(target=[0, 1, 2, 3], grad_out=np.zeros((4, 5), np.float32)), TypeError, r"`grad_out` must have the dtype"),
    (dict(target=[0, 1, 2, 3], grad_out=np.zeros((4, 4))), ValueError, r"`grad_out` must have the shape"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fe.softmax_cross_entropy(Z, **kwargs)


def test_zero_classes_and_0d_logits():
    with pytest.raises(ValueError, match="`logits` has no classes"):
        fe.softmax_cross_entropy(np.zeros((3, 0)), [0, 0, 0])
    with pytest.raises(ValueError, match="at least one dimension"):
        fe.softmax_cross_entropy(np.float64(1.0), 0)
    assert fe.softmax_cross_entropy(np.array([0.0, 0.0]), 1, reduction="none") == pytest.approx(math.log(2))


def test_inputs_are_not_modified_without_grad_out():
    z = np.random.default_rng(9).normal(size=(6, 9))
    keep = z.copy()
    fe.softmax_cross_entropy(z, np.arange(6), return_grad=True)
    np.testing.assert_array_equal(z, keep)


ISA_SCRIPT = """
import hashlib, sys, numpy as np, fastentropy as fe
rng = np.random.default_rng(11)
z = (rng.normal(size=(64, 203)) * 20).astype(np.float64)
z[3, 5] = -np.inf; z[7] = 1e30; z[9, ::7] = -1e30
y = rng.integers(0, 203, size=64)
t = rng.uniform(size=z.shape)
h = hashlib.sha256()
arrays = [fe.logsumexp(z), fe.log_softmax(z), fe.softmax(z.astype(np.float32)),
          fe.softmax_cross_entropy(z, y, return_grad=True, label_smoothing=0.1)[1],
          fe.softmax_cross_entropy(z, t, return_grad=True)[1],
          fe.binary_cross_entropy_with_logits(z, t, return_grad=True, reduction="none"),
          np.float64(fe.softmax_cross_entropy(z, y))]
for arr in arrays:
    h.update(np.ascontiguousarray(arr).tobytes())
np.savez(sys.argv[1], *arrays)
print(fe.simd_isa(), h.hexdigest())
"""


def test_identical_on_every_instruction_set(tmp_path):
    """AVX-512 and AVX2 agree bit for bit (same fused operations on the same lanes); the
    x86-64 baseline rounds its multiply-adds twice and agrees to rounding."""
    import os
    import subprocess
    import sys

    digests, outputs = {}, {}
    for isa in ("avx512", "avx2", "baseline"):
        env = dict(os.environ, FASTENTROPY_SIMD=isa)
        path = tmp_path / f"{isa}.npz"
        out = subprocess.run([sys.executable, "-c", ISA_SCRIPT, str(path)], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        name, digest = out.stdout.split()
        digests[name] = digest
        with np.load(path) as npz:
            outputs[name] = [npz[k] for k in sorted(npz.files, key=lambda k: int(k.split("_")[1]))]
    vector = [name for name in digests if name != "baseline"]
    assert len({digests[name] for name in vector}) == 1, digests
    reference = outputs[vector[0]]
    for got, want in zip(outputs["baseline"], reference):
        assert np.array_equal(np.isnan(got), np.isnan(want))
        finite = np.isfinite(want)
        assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
        rtol = 1e-12 if want.dtype == np.float64 else 2.4e-7
        np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=1e-300)
