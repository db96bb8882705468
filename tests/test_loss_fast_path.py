"""The loss family's small-call fast paths (issue #13): `logsumexp`, `softmax_cross_entropy`
and `nll_loss` hand their arguments to the core, which takes native float logits, native
integer labels of the batch shape and plain int/str options as they are and returns None
for anything else — the public functions then take their general path, with the same
results and the same errors."""

import numpy as np
import pytest

import fastentropy as fe
from fastentropy import _core

Z = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 3.0, -np.inf, 1.0], [-2.0, 7.5, 0.25, 1e-3]])
Y = np.array([2, 0, 1])
ZI = np.array([[1, 0, 2, 0], [3, 3, 0, 1], [0, 7, 0, 0]])  # integer logits


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert type(a) is type(b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eligible_calls_give_the_general_paths_bits(dtype):
    z = Z.astype(dtype)
    for axis in (-1, 1, 0, -2):
        _same(_core.logsumexp_fast(z, axis), _core.logsumexp(np.moveaxis(z, axis, -1)))
        _same(fe.logsumexp(z, axis=axis), _core.logsumexp(np.moveaxis(z, axis, -1)))
    for reduction in ("mean", "sum", "none"):
        for ignore in (-100, 0, 2):
            for eps in (0.0, 0.1, 1):
                want = _core.softmax_cross_entropy(
                    z, Y, weight=None, ignore_index=ignore, reduction=reduction, label_smoothing=float(eps)
                )
                _same(_core.softmax_cross_entropy_fast(z, Y, -1, ignore, reduction, eps), want)
                _same(
                    fe.softmax_cross_entropy(z, Y, ignore_index=ignore, reduction=reduction, label_smoothing=eps),
                    want,
                )
            for labels in (Y, Y.astype(np.int32), Y.astype(np.uint8), Y.astype(np.int16)):
                want = _core.nll_loss(z, Y, ignore_index=ignore, reduction=reduction)
                _same(_core.nll_loss_fast(z, labels, -1, ignore, reduction), want)
                _same(fe.nll_loss(z, labels, ignore_index=ignore, reduction=reduction), want)
    # the class axis first: (C, N) with axis=0
    zt = np.ascontiguousarray(z.T)
    _same(_core.softmax_cross_entropy_fast(zt, Y, 0, -100, "none", 0.0), _core.softmax_cross_entropy(z, Y, reduction="none"))
    _same(_core.nll_loss_fast(zt, Y, 0, -100, "sum"), _core.nll_loss(z, Y, reduction="sum"))
    # one row: a 1-D logits array and a 0-d label
    _same(_core.softmax_cross_entropy_fast(z[0], np.array(2), -1, -100, "mean", 0.0), fe.softmax_cross_entropy(z[:1], Y[:1]))
    assert isinstance(fe.logsumexp(z[0]), float)


@pytest.mark.parametrize(
    "z, y, axis, ignore, reduction, eps",
    [
        (Z.astype(">f8"), Y, -1, -100, "mean", 0.0),  # byte-swapped logits
        (Z.astype(np.float16), Y, -1, -100, "mean", 0.0),  # converted by the general path
        (ZI, Y, -1, -100, "mean", 0.0),
        (Z.tolist(), Y, -1, -100, "mean", 0.0),
        (Z, Y.tolist(), -1, -100, "mean", 0.0),
        (Z, Y.astype(">i8"), -1, -100, "mean", 0.0),  # byte-swapped labels
        (Z, Y.astype(np.uint64), -1, -100, "mean", 0.0),  # uint64 labels are decoded in Python
        (Z, Y.astype(np.float64), -1, -100, "mean", 0.0),  # class probabilities? wrong shape: error
        (Z, Y[:2], -1, -100, "mean", 0.0),  # shape mismatch: the general path's error
        (Z, Y[None], -1, -100, "mean", 0.0),
        (Z, Y, np.int64(-1), -100, "mean", 0.0),  # a NumPy integer axis
        (Z, Y, True, -100, "mean", 0.0),
        (Z, Y, 2, -100, "mean", 0.0),  # out of range
        (Z, Y, None, -100, "mean", 0.0),
        (Z, Y, -1, np.int64(-100), "mean", 0.0),  # a NumPy integer ignore_index
        (Z, Y, -1, 2**63, "mean", 0.0),  # beyond int64: decoded in Python
        (Z, Y, -1, True, "mean", 0.0),
        (Z, Y, -1, -100, "average", 0.0),  # unknown reduction: the general path's error
        (Z, Y, -1, -100, b"mean", 0.0),
        (Z, Y, -1, -100, "mean", 1.5),  # label_smoothing out of range: the general path's error
        (Z, Y, -1, -100, "mean", float("nan")),
        (Z, Y, -1, -100, "mean", np.float64(0.1)),
        (Z, Y, -1, -100, "mean", True),
        (np.zeros((3, 0)), np.zeros(3, dtype=np.int64), -1, -100, "mean", 0.0),  # no classes
        (np.float64(1.0), np.array(0), -1, -100, "mean", 0.0),  # 0-d logits
    ],
)
def test_anything_else_returns_none_and_the_public_function_matches_the_general_path(z, y, axis, ignore, reduction, eps):
    assert _core.softmax_cross_entropy_fast(z, y, axis, ignore, reduction, eps) is None
    if eps in (0.0,) and type(eps) is float:
        assert _core.nll_loss_fast(z, y, axis, ignore, reduction) is None
    kwargs = dict(axis=axis, ignore_index=ignore, reduction=reduction, label_smoothing=eps)
    try:
        want = fe.softmax_cross_entropy(np.asarray(z, dtype=np.float64), np.asarray(y), **kwargs)
    except (ValueError, TypeError) as e:
        with pytest.raises(type(e), match=None):
            fe.softmax_cross_entropy(z, y, **kwargs)
        return
    np.testing.assert_allclose(fe.softmax_cross_entropy(z, y, **kwargs), want, rtol=1e-6)


def test_logsumexp_other_inputs_return_none():
    for x, axis in [(Z.astype(">f8"), -1), (Z.tolist(), -1), (Z, None), (Z, np.int64(0)), (Z, 2), (np.float64(1.0), -1)]:
        assert _core.logsumexp_fast(x, axis) is None
    # and the public function still gives the general path's result or error
    np.testing.assert_array_equal(fe.logsumexp(Z, axis=None), fe.logsumexp(Z.reshape(-1)))
    with pytest.raises(ValueError):
        fe.logsumexp(Z, axis=2)
    # empty rows are the log of an empty sum, on both paths
    np.testing.assert_array_equal(_core.logsumexp_fast(np.zeros((2, 0)), -1), [-np.inf, -np.inf])


def test_errors_are_the_general_paths():
    bad = np.array([2, 4, 1])
    for call in (
        lambda: fe.softmax_cross_entropy(Z, bad),
        lambda: fe.nll_loss(Z, bad),
        lambda: fe.softmax_cross_entropy(Z.astype(">f8"), bad),  # general path
        lambda: fe.nll_loss(Z.tolist(), bad.tolist()),
    ):
        with pytest.raises(ValueError, match=r"`target` has label 4 at position \(1,\), outside \[0, 4\)"):
            call()


def test_masked_and_weighted_calls_never_take_the_fast_path():
    m = np.ma.masked_array(Z, mask=np.zeros_like(Z, dtype=bool))
    m[0, 1] = np.ma.masked
    # a masked logit is -inf (absent) on the general path
    want = fe.logsumexp(np.where(np.ma.getmaskarray(m), -np.inf, Z))
    np.testing.assert_array_equal(fe.logsumexp(m), want)
    w = np.array([1.0, 2.0, 0.5, 1.0])
    np.testing.assert_array_equal(
        fe.softmax_cross_entropy(Z, Y, weight=w), _core.softmax_cross_entropy(Z, Y, weight=w)
    )
    loss, grad = fe.nll_loss(Z, Y, return_grad=True)
    assert loss == fe.nll_loss(Z, Y) and grad.shape == Z.shape


@pytest.mark.parametrize("name", ["log_softmax", "softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_normalizers_into_a_new_array_give_the_general_paths_bits(name, dtype):
    fast, public = getattr(_core, name + "_fast"), getattr(fe, name)
    z = np.stack([Z, Z[::-1] * 3]).astype(dtype)  # (2, 3, 4)
    for axis in (-1, 2, 1, 0, -3):
        # the general path: the same kernel writing into a caller's array
        want = np.empty_like(z)
        getattr(_core, name)(np.moveaxis(z, axis, -1), out=np.moveaxis(want, axis, -1))
        got = fast(z, axis)
        assert got.dtype == z.dtype and got.shape == z.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(public(z, axis=axis), want)
        np.testing.assert_array_equal(public(z, axis=axis, out=np.empty_like(z)), want)
    for x, axis in [(z.astype(">f8"), -1), (z.tolist(), -1), (z, None), (z, np.int64(0)), (z, 3), (np.zeros((2, 0)), -1)]:
        assert fast(x, axis) is None
    with pytest.raises(ValueError):
        public(z, axis=3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_row_with_a_python_int_label_takes_the_fast_path_with_the_general_bits(dtype):
    """torch's unbatched form, ``cross_entropy(logits_1d, 3)``: a plain int label of a 1-D
    logits row is read by the core as a 0-d label array (the general path made the same
    array in ~10 µs of Python)."""
    for row in Z.astype(dtype):
        for label in range(Z.shape[1]):
            for reduction in ("mean", "sum", "none"):
                for ignore in (-100, label):
                    for eps in (0.0, 0.25):
                        want = _core.softmax_cross_entropy(
                            row, np.array(label), weight=None, ignore_index=ignore, reduction=reduction,
                            label_smoothing=eps,
                        )
                        got = _core.softmax_cross_entropy_fast(row, label, -1, ignore, reduction, eps)
                        _same(got, want)
                        kwargs = dict(ignore_index=ignore, reduction=reduction, label_smoothing=eps)
                        _same(fe.softmax_cross_entropy(row, label, **kwargs), want)
                    want = _core.nll_loss(row, np.array(label), ignore_index=ignore, reduction=reduction)
                    _same(_core.nll_loss_fast(row, label, -1, ignore, reduction), want)
                    _same(fe.nll_loss(row, label, ignore_index=ignore, reduction=reduction), want)


@pytest.mark.parametrize("label", [4, -1, -7, 2**63, True, np.int64(1), 1.0])
def test_other_scalar_labels_give_the_general_paths_result_or_error(label):
    """Out-of-range labels reach the core's error (the same message either way); bools,
    NumPy scalars, floats and ints beyond int64 are not taken by the fast path."""
    row = Z[0]
    if type(label) is int and -(2**63) <= label < 2**63:
        with pytest.raises(ValueError) as fast_error:
            _core.softmax_cross_entropy_fast(row, label, -1, -100, "mean", 0.0)
        with pytest.raises(ValueError) as general_error:
            _core.softmax_cross_entropy(row, np.array(label), weight=None, ignore_index=-100, reduction="mean",
                                        label_smoothing=0.0)
        assert str(fast_error.value) == str(general_error.value)
        with pytest.raises(ValueError, match=str(label)):
            fe.nll_loss(row, label)
        return
    assert _core.softmax_cross_entropy_fast(row, label, -1, -100, "mean", 0.0) is None
    assert _core.nll_loss_fast(row, label, -1, -100, "mean") is None
    # a batch of rows with a scalar label is not the unbatched form either
    assert _core.softmax_cross_entropy_fast(Z, 1, -1, -100, "mean", 0.0) is None


def _adversarial_logits(n, seed):
    """Rows of n logits for the 1-D slice paths: random, zeros, huge and tiny magnitudes,
    subnormals, a dominant logit, -inf entries (and all -inf), +inf and NaN."""
    rng = np.random.default_rng(seed)
    rows = [rng.normal(size=n) * 4, np.zeros(n), rng.normal(size=n) * 1e30, rng.normal(size=n) * 1e300,
            rng.random(n) * 5e-324 * 9, np.full(n, -np.inf)]
    if n:
        dominant = rng.normal(size=n) - 60.0
        dominant[n // 2] = 0.0
        rows.append(dominant)
        for special in (-np.inf, np.inf, np.nan):
            r = rng.normal(size=n)
            r[rng.integers(n)] = special
            rows.append(r)
    return rows


# every tail of the tiles (up to 67), the tile/row-pass boundary (128), a long row, and one
# longer than a Ctrl-C piece (65536)
SLICE_LENGTHS = [*range(0, 68), 127, 128, 129, 300, 70_000]


@pytest.mark.parametrize("n", SLICE_LENGTHS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_contiguous_row_gives_the_bits_of_the_batch_path(n, dtype):
    """A 1-D C-contiguous row of logits is read as a slice (logsumexp, log_softmax, softmax,
    and softmax_cross_entropy with a plain int label): the same bits as that row in a batch,
    NaN for NaN, for every length."""
    for i, z in enumerate(_adversarial_logits(n, n)):
        with np.errstate(over="ignore"):  # 1e300 overflows float32 to inf: a case too
            z = z.astype(dtype)
        batch = z[None]
        got = _core.logsumexp_fast(z, -1)
        assert isinstance(got, float)
        np.testing.assert_array_equal(got, _core.logsumexp(batch)[0], err_msg=f"logsumexp n={n} row {i}")
        if n == 0:
            continue
        for name in ("log_softmax", "softmax"):
            want = np.empty_like(batch)
            getattr(_core, name)(batch, out=want)
            got = getattr(_core, name + "_fast")(z, -1)
            assert got.dtype == z.dtype and got.shape == z.shape
            np.testing.assert_array_equal(got, want[0], err_msg=f"{name} n={n} row {i}")
        for label in sorted({0, n // 2, n - 1}):
            for reduction in ("mean", "sum", "none"):
                want = _core.softmax_cross_entropy(
                    batch, np.array([label]), weight=None, ignore_index=-100, reduction=reduction,
                    label_smoothing=0.0,
                )
                got = _core.softmax_cross_entropy_fast(z, label, -1, -100, reduction, 0.0)
                assert isinstance(got, float)
                np.testing.assert_array_equal(
                    got, want[0] if reduction == "none" else want, err_msg=f"sce n={n} row {i} y={label} {reduction}"
                )


def test_one_contiguous_row_leaves_other_labels_to_the_general_path():
    """Ignored, out-of-range and smoothed labels of a 1-D row take the general path: its
    value (0 or NaN for an ignored label) and its error messages."""
    row = Z[0]
    assert _core.softmax_cross_entropy_fast(row, 1, -1, 1, "none", 0.0) == 0.0
    assert np.isnan(_core.softmax_cross_entropy_fast(row, 1, -1, 1, "mean", 0.0))
    with pytest.raises(ValueError) as error:
        fe.softmax_cross_entropy(row, 4)
    assert str(error.value) == "`target` has label 4 at position (), outside [0, 4) (and not `ignore_index`)"
    smoothed = _core.softmax_cross_entropy(row[None], np.array([1]), weight=None, ignore_index=-100,
                                           reduction="none", label_smoothing=0.3)
    assert _core.softmax_cross_entropy_fast(row, 1, -1, -100, "none", 0.3) == smoothed[0]
    strided = np.stack([row, row], axis=1)[:, 0]  # 1-D, not contiguous: views as before
    assert _core.logsumexp_fast(strided, -1) == _core.logsumexp_fast(row, -1)
    np.testing.assert_array_equal(_core.log_softmax_fast(strided, 0), _core.log_softmax_fast(row, 0))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_binary_cross_entropy_fast_path_gives_the_general_bits(reduction):
    """Logits and targets as native float arrays of one shape, no weights, no gradient,
    "mean" or "sum": the core's own call, bit for bit the general path's."""
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.normal(size=37) * 30, [0.0, -0.0, 1e300, -1e300, np.inf, -np.inf, 80.0, -745.0]])
    t = np.concatenate([rng.random(37), [0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.25, 0.0]])
    for zd, td in [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)]:
        with np.errstate(over="ignore"):
            zz, tt = z.astype(zd), t.astype(td)
        for a, b in [(zz, tt), (zz[:10], tt[:10]), (zz[:1], tt[:1]), (zz[:0], tt[:0]), (zz[:40].reshape(8, 5), tt[:40].reshape(8, 5)), (zz[::3], tt[::3])]:
            want = _core.binary_cross_entropy_with_logits(a, b, weight=None, pos_weight=None, reduction=reduction, grad_out=None)
            got = _core.binary_cross_entropy_with_logits_fast(a, b, reduction)
            assert isinstance(got, float)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(fe.binary_cross_entropy_with_logits(a, b, reduction=reduction), want)


def test_binary_cross_entropy_other_calls_take_the_general_path():
    z, t = np.array([0.5, -2.0, 3.0]), np.array([1.0, 0.0, 0.5])
    for args in [(z, t, "none"), (z, t, "average"), (z, t, b"mean"), (z.tolist(), t, "mean"), (z, t.tolist(), "mean"),
                 (z, t[:2], "mean"), (z, t[None], "mean"), (np.float64(0.5), np.float64(1.0), "mean"),
                 (z.astype(">f8"), t, "mean"), (z.astype(np.float16), t, "mean")]:
        assert _core.binary_cross_entropy_with_logits_fast(*args) is None
    # the general path's results and errors
    assert fe.binary_cross_entropy_with_logits(z, t, reduction="none").shape == (3,)
    assert fe.binary_cross_entropy_with_logits(0.5, 1.0) == fe.binary_cross_entropy_with_logits(np.array([0.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="reduction"):
        fe.binary_cross_entropy_with_logits(z, t, reduction="average")
    with pytest.raises(ValueError):
        fe.binary_cross_entropy_with_logits(z, t[:2])
    loss, grad = fe.binary_cross_entropy_with_logits(z, t, return_grad=True)
    assert loss == fe.binary_cross_entropy_with_logits(z, t) and grad.shape == z.shape


@pytest.mark.parametrize("c", [1, 2, 3, 10, 16, 17, 128, 129])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_few_rows_give_the_bits_of_the_batch_path(c, dtype):
    """A C-contiguous batch of up to sixteen rows of up to 128 logits goes through one tile
    (logsumexp, log_softmax, softmax along the last axis): the bits of the same rows in a
    larger batch, NaN for NaN. Other batches keep the batch path."""
    rng = np.random.default_rng(c)
    for rows in (0, 1, 2, 5, 10, 16, 17):
        z = (rng.normal(size=(rows, c)) * 30).astype(dtype)
        if rows > 2:
            z[1, -1], z[2, 0], z[0, :] = np.nan, np.inf, -np.inf
        padded = np.concatenate([z, np.zeros((40, c), dtype)])  # 40 more rows: the batch path
        for axis in (-1, 1):
            got = _core.logsumexp_fast(z, axis)
            assert got.shape == (rows,)
            np.testing.assert_array_equal(got, _core.logsumexp(padded)[:rows])
            for name in ("log_softmax", "softmax"):
                want = np.empty_like(padded)
                getattr(_core, name)(padded, out=want)
                got = getattr(_core, name + "_fast")(z, axis)
                assert got.dtype == z.dtype and got.shape == z.shape
                np.testing.assert_array_equal(got, want[:rows])


@pytest.mark.parametrize("c", [1, 2, 3, 10, 128, 129])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_few_rows_of_softmax_cross_entropy_give_the_bits_of_the_batch_path(c, dtype):
    """Up to sixteen C-ordered rows whose int64 labels are all classes go through one tile:
    the losses, their sum and mean equal the batch path's bit for bit; an ignored or
    out-of-range label, smoothing or more rows keep the batch path (its values, its errors)."""
    rng = np.random.default_rng(c + 1)
    for rows in (1, 2, 5, 16, 17):
        z = (rng.normal(size=(rows, c)) * 30).astype(dtype)
        if rows > 2:
            z[1, -1], z[2, 0] = np.nan, np.inf
        y = rng.integers(0, c, rows)
        for reduction in ("mean", "sum", "none"):
            got = _core.softmax_cross_entropy_fast(z, y, -1, -100, reduction, 0.0)
            # the batch path: the same rows as the first of a batch of 40 more
            padded = np.concatenate([z, np.zeros((40, c), dtype)])
            every = _core.softmax_cross_entropy(padded, np.concatenate([y, np.zeros(40, np.int64)]), weight=None,
                                                ignore_index=-100, reduction="none", label_smoothing=0.0)
            if reduction == "none":
                np.testing.assert_array_equal(got, every[:rows])
            else:
                want = _core.softmax_cross_entropy(z[None], y[None], weight=None, ignore_index=-100,
                                                   reduction=reduction, label_smoothing=0.0)  # (1, rows): tasks
                np.testing.assert_array_equal(got, want)
        y_ignored = y.copy()
        y_ignored[0] = -100
        want = _core.softmax_cross_entropy(z[None], y_ignored[None], weight=None, ignore_index=-100, reduction="sum",
                                           label_smoothing=0.0)
        np.testing.assert_array_equal(_core.softmax_cross_entropy_fast(z, y_ignored, -1, -100, "sum", 0.0), want)
    with pytest.raises(ValueError, match="position"):
        _core.softmax_cross_entropy_fast(z[:2], np.array([0, c]), -1, -100, "mean", 0.0)
