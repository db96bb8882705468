"""The small-call fast paths (issue #13): the core takes native float arrays of one shape
and a plain int axis as they are and returns None for anything else, so the public
functions fall back to their general path with the same results and the same errors."""

from typing import Any

import numpy as np
import pytest

import fastentropy as fe
from fastentropy import _core

P = np.array([[0.1, 0.2, 0.7], [1.0, 2.0, 3.0]])
Q = np.array([[0.3, 0.3, 0.4], [2.0, 2.0, 1.0]])

PAIRS = ["kl_divergence", "cross_entropy", "js_divergence", "js_distance"]


def test_eligible_inputs_are_computed_by_the_core_as_they_are():
    for dtype in (np.float64, np.float32):
        p = P.astype(dtype)
        for axis in (-1, 0, 1, -2):
            want = _core.entropy(p, axis)
            got = _core.entropy_fast(p, axis, None, False)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(fe.entropy(p, axis=axis), want)
    for name in PAIRS:
        fast, core, public = getattr(_core, name + "_fast"), getattr(_core, name), getattr(fe, name)
        for pd, qd in [(np.float64, np.float64), (np.float32, np.float64), (np.float32, np.float32)]:
            p, q = P.astype(pd), Q.astype(qd)
            want = core(p, q, 0)
            np.testing.assert_array_equal(fast(p, q, 0, None, False), want)
            np.testing.assert_array_equal(public(p, q, axis=0), want)
    # one distribution gives a float, as the general path does
    assert isinstance(_core.entropy_fast(P[0], -1, None, False), float)
    assert _core.entropy_fast(P[0], 0, None, False) == fe.entropy(P[0].tolist())


@pytest.mark.parametrize(
    "p, axis",
    [
        (P.astype(">f8"), -1),  # byte-swapped
        ((P * 10).astype(">i8"), -1),  # byte-swapped integers are converted by the general path
        ((P * 10).astype(np.int64)[:, ::2], -1),  # so are strided ones
        (P.astype(np.float16), -1),
        (P, np.int64(-1)),  # a NumPy integer axis
        (P, True),  # bool is an int subclass, not an axis
        (P, 2),  # out of range: the general path raises AxisError
        (P, -3),
        (P, 1.0),  # (axis=None on a C-ordered array is taken: see the axis=None test)
        (P.tolist(), -1),  # nested lists: the general path
        ([True, 0.5], -1),  # lists of anything but plain floats and ints
        ([np.float64(0.5), 0.5], -1),
        ([2**63, 1], -1),  # beyond i64: NumPy makes it float64, the general path
    ],
)
def test_anything_else_returns_none_and_the_public_function_matches_the_general_path(p, axis):
    assert _core.entropy_fast(p, axis, None, False) is None
    try:
        want = fe.entropy(np.asarray(p, dtype=np.float64), axis=axis, base=np.e)
    except (ValueError, TypeError) as e:  # AxisError is a ValueError
        with pytest.raises(type(e)):
            fe.entropy(p, axis=axis)
        return
    np.testing.assert_allclose(fe.entropy(p, axis=axis), want, rtol=1e-6)


def test_pairs_of_other_shapes_or_dtypes_take_the_general_path():
    for name in PAIRS:
        fast, public = getattr(_core, name + "_fast"), getattr(fe, name)
        # broadcasting
        assert fast(P, Q[0], -1, None, False) is None
        np.testing.assert_allclose(public(P, Q[0]), public(P, np.broadcast_to(Q[0], P.shape).copy()), rtol=1e-15)
        # strided integer q, byte-swapped p
        assert fast(P, (Q * 10).astype(np.int64)[:, ::2], -1, None, False) is None
        assert fast(P.astype(">f8"), Q, -1, None, False) is None
        np.testing.assert_allclose(public(P.astype(">f8"), Q), public(P, Q), rtol=1e-15)
        # shapes that do not broadcast: the general path's error
        assert fast(P, Q[:, :2], -1, None, False) is None
        with pytest.raises(ValueError):
            public(P, Q[:, :2])


def test_masked_arrays_never_take_the_fast_path():
    m = np.ma.masked_array(P, mask=[[False, False, True], [False, False, False]])
    got = fe.entropy(m)
    np.testing.assert_allclose(got[0], fe.entropy(P[0, :2]), rtol=1e-15)
    np.testing.assert_allclose(got[1], fe.entropy(P[1]), rtol=1e-15)


def test_self_information_fast_path_gives_the_general_result():
    for dtype in (np.float64, np.float32):
        p = P.astype(dtype) / 7.0
        for x in (p, p[0], p[:, ::2], p.T, np.zeros((0, 3), dtype)):
            got = _core.self_information_fast(x)
            want = _core.self_information(np.ascontiguousarray(x))
            assert got.dtype == dtype and got.shape == x.shape
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(fe.self_information(x), want)
    # a negative value: the general path's error, from the fast path too
    with pytest.raises(ValueError) as fast_error:
        _core.self_information_fast(np.array([0.5, -0.25]))
    with pytest.raises(ValueError) as general_error:
        _core.self_information(np.array([0.5, -0.25]))
    assert str(fast_error.value) == str(general_error.value)


@pytest.mark.parametrize(
    "p",
    [
        np.float64(0.5) * np.ones(()),  # 0-d: the caller returns a NumPy scalar
        P.astype(">f8"),
        (P * 10).astype(">i8"),
        P.astype(np.float16),
        np.ma.masked_array(P, mask=[[False, True, False], [False, False, False]]),
        P.tolist(),
        0.5,
    ],
)
def test_self_information_of_anything_else_takes_the_general_path(p):
    assert _core.self_information_fast(p) is None
    got = fe.self_information(p)
    values = np.ma.filled(p, 1.0) if isinstance(p, np.ma.MaskedArray) else p  # masked: -log 1 = 0
    want = -np.log(np.asarray(values, dtype=np.float64))
    np.testing.assert_allclose(np.ma.filled(got, 0.0).astype(np.float64), want, rtol=1e-3)
    if isinstance(p, np.ma.MaskedArray):
        assert isinstance(got, np.ma.MaskedArray) and got.mask[0, 1]
    if np.ndim(p) == 0:
        assert np.isscalar(got)


def _adversarial_distributions(n, seed):
    """Rows of length n for the slice path: random, zeros, denormals, huge and tiny
    values, a dominant mass, inf and NaN."""
    rng = np.random.default_rng(seed)
    rows = [rng.random(n), np.zeros(n), rng.random(n) * 1e300, rng.random(n) * 5e-324 * 7, rng.random(n) * 1e-300]
    if n:
        dominant = rng.random(n) * 1e-12
        dominant[n // 2] = 1.0
        rows.append(dominant)
        for special in (np.inf, np.nan):
            r = rng.random(n)
            r[-1] = special
            rows.append(r)
    return rows


@pytest.mark.parametrize("n", range(0, 68))
def test_one_contiguous_distribution_gives_the_bits_of_the_general_path(n):
    """A 1-D C-contiguous input is read as a slice (no views, no result array); its value
    equals the general path's, bit for bit and NaN for NaN, for every tail length."""
    rows = _adversarial_distributions(n, n)
    for dtypes in [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)]:
        for i, p in enumerate(rows):
            q = rows[(i + 1) % len(rows)]
            with np.errstate(over="ignore"):  # 1e300 overflows float32 to inf: a case too
                p, q = p.astype(dtypes[0]), q.astype(dtypes[1])
            want = _core.entropy(p[None], -1)[0]
            got = _core.entropy_fast(p, -1, None, False)
            assert isinstance(got, float)
            np.testing.assert_array_equal(got, want)
            for name in PAIRS:
                fast, core = getattr(_core, name + "_fast"), getattr(_core, name)
                got, want = fast(p, q, -1, None, False), core(p[None], q[None], -1)[0]
                assert isinstance(got, float)
                np.testing.assert_array_equal(got, want, err_msg=f"{name} n={n} row {i} {dtypes}")


def test_one_contiguous_distribution_reports_the_general_paths_errors():
    p, q = np.array([0.5, -0.25, 0.75]), np.array([0.2, 0.3, 0.5])
    for name in PAIRS:
        fast, core = getattr(_core, name + "_fast"), getattr(_core, name)
        for args in [(p, q), (q, p)]:
            with pytest.raises(ValueError) as fast_error:
                fast(*args, -1, None, False)
            with pytest.raises(ValueError) as general_error:
                core(args[0][None], args[1][None], -1)
            assert str(fast_error.value) == str(general_error.value)
    with pytest.raises(ValueError, match="-0.25"):
        _core.entropy_fast(p, -1, None, False)
    # a non-contiguous 1-D view takes the view path, with the same value
    x = np.array([0.1, 9.0, 0.2, 9.0, 0.7])
    assert _core.entropy_fast(x[::2], -1, None, False) == _core.entropy_fast(x[::2].copy(), -1, None, False)


@pytest.mark.parametrize("base", [2, 2.0, 10, 0.5, np.e, 1e300])
def test_a_plain_base_takes_the_fast_path_with_the_general_bits(base):
    for p, q in [(P[0], Q[0]), (P, Q), (P.astype(np.float32), Q)]:
        want = _core.entropy(p, -1, base)
        np.testing.assert_array_equal(_core.entropy_fast(p, -1, base, False), want)
        np.testing.assert_array_equal(fe.entropy(p, base=base), want)
        for name in PAIRS:
            fast, core, public = getattr(_core, name + "_fast"), getattr(_core, name), getattr(fe, name)
            want = core(p, q, -1, base)
            np.testing.assert_array_equal(fast(p, q, -1, base, False), want)
            np.testing.assert_array_equal(public(p, q, base=base), want)


@pytest.mark.parametrize("base", [1, 1.0, 0, -2.0, float("inf"), float("nan"), 10**400, True, np.float64(2.0), "2"])
def test_any_other_base_is_left_to_the_general_path(base):
    assert _core.entropy_fast(P[0], -1, base, False) is None
    for name in PAIRS:
        assert getattr(_core, name + "_fast")(P[0], Q[0], -1, base, False) is None
    if isinstance(base, np.floating):  # a float subclass: accepted by the general path
        np.testing.assert_array_equal(fe.entropy(P[0], base=base), _core.entropy(P[0], -1, 2.0))
        return
    with pytest.raises((ValueError, TypeError)):
        fe.entropy(P[0], base=base)


def test_perplexity_fast_path_gives_the_general_bits():
    """perplexity = e^H: the fast path exponentiates the same entropy (a plain base is
    checked and changes nothing), for one distribution (a float) and for rows."""
    rows = _adversarial_distributions(10, 3) + [P[0], P[1]]
    for dtype in (np.float64, np.float32):
        with np.errstate(over="ignore"):  # 1e300 overflows float32 to inf: a case too
            inputs = [r.astype(dtype) for r in rows] + [P.astype(dtype), P.T.astype(dtype)]
        for p in inputs:
            for base in (None, 2, 10.0):
                with np.errstate(all="ignore"):
                    want = _core.perplexity(np.atleast_1d(p), -1, base, True)
                got = _core.perplexity_fast(p, -1, base, False)
                np.testing.assert_array_equal(got, want)
                np.testing.assert_array_equal(fe.perplexity(p, base=base), want)
                assert isinstance(got, float) == (p.ndim == 1)
    for base in (1, 0, -2.0, True, "2"):
        assert _core.perplexity_fast(P[0], -1, base, False) is None
        with pytest.raises((ValueError, TypeError)):
            fe.perplexity(P[0], base=base)
    with pytest.raises(ValueError, match="-0.25"):
        _core.perplexity_fast(np.array([0.5, -0.25]), -1, None, False)


def _logits(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(3, 5)) * 4
    z[0, 1] = -np.inf  # probability 0
    z[1, :] = -np.inf  # an all -inf row: NaN
    return z


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_from_logits_takes_the_fast_path_with_the_general_bits(dtype):
    """``from_logits=True`` is handed to the core by the fast path as ``False`` is: the same
    core call as the general path (``logits_measure`` / ``logits_pair_measure``), without
    its Python argument handling — bit for bit, for rows, one row, every axis and base."""
    z, w = _logits(0).astype(dtype), _logits(1).astype(dtype)
    for p, q in [(z, w), (z[0], w[2]), (z.T, w.T), (z[2], z[2])]:
        for axis in range(-p.ndim, p.ndim):
            for base in (None, 2, 10.0):
                want = _core.logits_measure(p, axis, base, "entropy")
                np.testing.assert_array_equal(_core.entropy_fast(p, axis, base, True), want)
                np.testing.assert_array_equal(fe.entropy(p, axis=axis, base=base, from_logits=True), want)
                want = _core.logits_measure(p, axis, base, "perplexity")
                np.testing.assert_array_equal(_core.perplexity_fast(p, axis, base, True), want)
                np.testing.assert_array_equal(fe.perplexity(p, axis=axis, base=base, from_logits=True), want)
                for name in PAIRS:
                    want = _core.logits_pair_measure(p, q, axis, base, name)
                    fast, public = getattr(_core, name + "_fast"), getattr(fe, name)
                    np.testing.assert_array_equal(fast(p, q, axis, base, True), want, err_msg=name)
                    np.testing.assert_array_equal(public(p, q, axis=axis, base=base, from_logits=True), want)


@pytest.mark.parametrize("flag", [1, 0, np.True_, "yes", None])
def test_a_from_logits_that_is_not_a_bool_is_left_to_the_general_path(flag):
    z, w = _logits(2), _logits(3)
    assert _core.entropy_fast(z, -1, None, flag) is None
    assert _core.perplexity_fast(z, -1, None, flag) is None
    for name in PAIRS:
        assert getattr(_core, name + "_fast")(z, w, -1, None, flag) is None
    if isinstance(flag, np.bool_):  # accepted by the general path as a bool
        np.testing.assert_array_equal(fe.entropy(z, from_logits=flag), _core.logits_measure(z, -1, None, "entropy"))
        return
    with pytest.raises((TypeError, ValueError)):
        fe.entropy(z, from_logits=flag)


@pytest.mark.parametrize("smoothing", [0.0, -0.0, 0, 0.5, 2])
def test_population_stability_index_fast_path_gives_the_general_bits(smoothing):
    """Histograms as native float arrays go to the core's PSI directly (the general path's
    `smoothed_measure` call): bit for bit, with empty bins (+inf unsmoothed), for rows, one
    row, every axis, a plain base."""
    p = np.array([[50.0, 30.0, 20.0, 0.0], [5.0, 5.0, 0.0, 1.0], [1e-300, 1.0, 2.0, 3.0]])
    q = np.array([[40.0, 35.0, 25.0, 0.0], [4.0, 4.0, 2.0, 1.0], [1.0, 1e-300, 2.0, 3.0]])
    for dtype in (np.float64, np.float32):
        for a, b in [(p, q), (p[0], q[0]), (p[1], q[1]), (p.T, q.T), (p[:, 0], q[:, 0]), (p[0, :0], q[0, :0])]:
            with np.errstate(under="ignore"):
                a, b = a.astype(dtype), b.astype(dtype)
            for axis in range(-a.ndim, a.ndim):
                for base in (None, 2):
                    want = _core.smoothed_measure(a, b, axis, base, "psi", float(smoothing) + 0.0)
                    got = _core.population_stability_index_fast(a, b, axis, base, smoothing)
                    np.testing.assert_array_equal(got, want)
                    assert type(got) is type(want)
                    np.testing.assert_array_equal(
                        fe.population_stability_index(a, b, axis=axis, base=base, smoothing=smoothing), want
                    )


@pytest.mark.parametrize("smoothing", [-1.0, float("nan"), float("inf"), True, np.float64(0.5), "1", 10**400])
def test_population_stability_index_other_smoothing_is_left_to_the_general_path(smoothing):
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert _core.population_stability_index_fast(p, q, -1, None, smoothing) is None
    if isinstance(smoothing, np.floating):
        np.testing.assert_array_equal(
            fe.population_stability_index(p, q, smoothing=smoothing), _core.smoothed_measure(p, q, -1, None, "psi", 0.5)
        )
        return
    with pytest.raises((TypeError, ValueError)):
        fe.population_stability_index(p, q, smoothing=smoothing)


def test_population_stability_index_errors_are_the_general_paths():
    p, q = np.array([0.5, -0.25, 0.75]), np.array([0.2, 0.3, 0.5])
    with pytest.raises(ValueError) as fast_error:
        fe.population_stability_index(p, q)
    with pytest.raises(ValueError) as general_error:
        fe.population_stability_index(p.tolist(), q.tolist())
    assert str(fast_error.value) == str(general_error.value) and "-0.25" in str(fast_error.value)
    assert _core.population_stability_index_fast(p, q[:2], -1, None, 0.0) is None  # shapes differ


def _raw_values(rng: np.random.Generator, shape: Any, dtype: Any) -> np.ndarray:
    """Mostly ordinary positive values, with zeros, subnormals, huge values, ±inf and NaN."""
    x = rng.random(shape) * 3
    specials = np.array([0.0, 0.0, 5e-324, 1e-310, 1e-300, 1e300, np.inf, np.nan, -0.0])
    pick = rng.random(shape) < 0.15
    x[pick] = rng.choice(specials, size=int(pick.sum()))
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["entropy", "kl_divergence", "cross_entropy", "js_divergence", "js_distance"])
def test_raw_sums_take_the_fast_path_with_the_general_paths_bits(name: str, dtype: Any) -> None:
    """``normalize=False`` (scipy.special's raw sums) on native float arrays takes the
    small-call fast path; ``np.False_`` keeps the general path: the same bits and result type,
    1-D of every length 0..=67 (read as slices) and 2-D layouts, on adversarial values.
    ``from_logits=True`` or a pseudocount with ``normalize=False`` are left to the general
    path (its errors)."""
    rng = np.random.default_rng(41)
    f, fast = getattr(fe, name), getattr(_core, name + "_fast")
    one = name == "entropy"
    cases = [(_raw_values(rng, n, dtype), _raw_values(rng, n, dtype), -1) for n in range(68)]
    a, b = _raw_values(rng, (7, 12), dtype), _raw_values(rng, (7, 12), dtype)
    cases += [(a, b, -1), (a, b, 0), (a.T, b.T, 1), (a[:, ::3], b[:, ::3], -1)]
    with np.errstate(all="ignore"):
        for x, y, axis in cases:
            args = (x,) if one else (x, y)
            for base in (None, 2.0):
                got = f(*args, axis=axis, base=base, normalize=False)
                want = f(*args, axis=axis, base=base, normalize=np.False_)
                assert type(got) is type(want), (name, x.shape, axis)
                assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (name, x, y, axis, got, want)
                direct = fast(*args, axis, base, False, 0.0, False)
                assert direct is not None and np.asarray(direct).tobytes() == np.asarray(got).tobytes()
    x = np.ones(4)
    args = (x,) if one else (x, x)
    assert fast(*args, -1, None, True, 0.0, False) is None
    assert fast(*args, -1, None, False, 1.0, False) is None
    assert fast(*args, -1, None, False, 0.0, np.False_) is None
    with pytest.raises(TypeError, match="`normalize` must be True or False"):
        f(*args, normalize=None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["entropy", "kl_divergence", "cross_entropy", "js_divergence", "js_distance"])
def test_axis_none_on_c_ordered_arrays_takes_the_fast_path_with_the_general_paths_bits(name: str, dtype: Any) -> None:
    """``axis=None`` (the whole array as one distribution) on C-ordered native float arrays
    is read as one slice in the fast path; a NumPy-bool ``normalize`` keeps the general path
    (``map_whole``): the same bits and type — 1-D of every length 0..=67, N-D, a long array
    (past the general path's gathered size), raw sums, a base. A Fortran-ordered or strided
    array, logits and a pseudocount keep the general path."""
    rng = np.random.default_rng(43)
    f, fast = getattr(fe, name), getattr(_core, name + "_fast")
    one = name == "entropy"
    shapes = [(n,) for n in range(68)] + [(3, 5), (2, 3, 4), (1, 9), (100_003,)]
    with np.errstate(all="ignore"):
        for shape in shapes:
            x, y = _raw_values(rng, shape, dtype), _raw_values(rng, shape, dtype)
            args = (x,) if one else (x, y)
            for normalize, general in ((True, np.True_), (False, np.False_)):
                for base in (None, 2.0):
                    got = f(*args, axis=None, base=base, normalize=normalize)
                    want = f(*args, axis=None, base=base, normalize=general)
                    assert type(got) is type(want), (name, shape)
                    assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (name, shape, normalize, got, want)
                    assert fast(*args, None, base, False, 0.0, normalize) is not None
    x = np.asfortranarray(_raw_values(rng, (3, 4), dtype))
    for z in (x, x[:, ::2]):
        args = (z,) if one else (z, z)
        assert fast(*args, None, None, False, 0.0, True) is None
    args = (np.ones(3),) if one else (np.ones(3), np.ones(3))
    assert fast(*args, None, None, True, 0.0, True) is None
    assert fast(*args, None, None, False, 1.0, True) is None


INTEGER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]


def _counts(dtype: Any, shape: Any, seed: int) -> np.ndarray:
    """Counts of `dtype` in `shape`: small ones, zeros, and each dtype's extremes (int64 and
    uint64 beyond 2^53, where the conversion to float64 rounds)."""
    rng = np.random.default_rng(seed)
    if dtype is np.bool_:
        return rng.random(shape) < 0.6
    info = np.iinfo(dtype)
    x = rng.integers(0, min(int(info.max), 50), size=shape, endpoint=True).astype(dtype)
    flat = x.reshape(-1)
    if flat.size >= 3:
        flat[0], flat[-1] = info.max, 0
        flat[1] = info.max - 1 if info.max < 2**53 else 2**53 + 1
    return x


def _general(name: str, *args: Any, **kw: Any) -> Any:
    """The public function on the inputs as the general path converts them (float64),
    with an option given as a NumPy value so that it takes its general path."""
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    if name == "population_stability_index":
        return fe.population_stability_index(*args, smoothing=np.float64(0.0), **kw)
    return getattr(fe, name)(*args, normalize=np.True_, **kw)


def _fast(name: str, *args: Any, axis: Any = -1) -> Any:
    """The core fast function of `name`, asserted to have answered."""
    fast = getattr(_core, name + "_fast")
    if name == "population_stability_index":
        value = fast(*args, axis, None, 0.0)
    elif name == "perplexity":
        value = fast(*args, axis, None, False)
    else:
        value = fast(*args, axis, None, False, 0.0, True)
    assert value is not None, name
    return value


ONE_ARRAY = ["entropy", "perplexity"]
TWO_ARRAYS = PAIRS + ["population_stability_index"]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_integer_counts_take_the_fast_path_with_the_general_paths_bits(dtype: Any) -> None:
    """scipy users' `entropy(np.bincount(x))`: C-contiguous arrays of native integers or
    bools are converted to float64 in the core, as `astype(np.float64)` does (nearest,
    ties to even beyond 2^53) — the same bits and result types as the general path."""
    for shape, axes in [((0,), [-1]), ((1,), [0]), ((10,), [-1, None]), ((67,), [0]), ((4, 17), [-1, 0, None])]:
        p, q = _counts(dtype, shape, 1), _counts(dtype, shape, 2)
        for axis in axes:
            kw = {"axis": axis}
            with np.errstate(divide="ignore", invalid="ignore"):
                for name in ONE_ARRAY:
                    if axis is None and name == "perplexity":
                        continue  # (its fast path takes an int axis only)
                    want = _general(name, p, **kw)
                    for got in (_fast(name, p, axis=axis), getattr(fe, name)(p, **kw)):
                        assert type(got) is type(want)
                        np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype} {shape} {axis}")
                for name in TWO_ARRAYS:
                    if axis is None and name == "population_stability_index":
                        continue
                    want = _general(name, p, q, **kw)
                    # q as integers, and p as integers against a float q
                    for pp, qq in [(p, q), (p, q.astype(np.float64))]:
                        for got in (_fast(name, pp, qq, axis=axis), getattr(fe, name)(pp, qq, **kw)):
                            assert type(got) is type(want)
                            np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype} {shape} {axis}")
    x = _counts(dtype, (3, 5), 3)
    got = _core.self_information_fast(x)
    assert got.dtype == np.float64
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(got, _core.self_information(x.astype(np.float64)))
        np.testing.assert_array_equal(fe.self_information(x), got)


def _flat_lists(n: int) -> list:
    """Flat lists of n plain numbers: floats, ints (beyond 2^53 too), mixed, adversarial."""
    rng = np.random.default_rng(n)
    floats = (rng.random(n) * 3).tolist()
    ints = rng.integers(0, 9, n).tolist()
    mixed = [v if i % 2 else int(v * 10) for i, v in enumerate(floats)]
    lists = [floats, ints, mixed]
    if n >= 3:
        lists.append([2**62 + 1] + ints[1:-1] + [2**53 + 1])
        lists.append([1e300, 5e-324, 0.0] + floats[3:])
        lists.append([float("inf")] + floats[1:])
        lists.append(floats[:-1] + [float("nan")])
    return lists


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 17, 67])
def test_flat_lists_and_tuples_take_the_fast_path_with_the_general_paths_bits(n: int) -> None:
    """`entropy([0.5, 0.5])`: a flat list (or tuple) of plain floats and ints is made a
    float64 array in the core, with the values `np.asarray` gives — the same bits."""
    lists = _flat_lists(n)
    with np.errstate(all="ignore"):
        for i, p in enumerate(lists):
            q = lists[(i + 1) % len(lists)]
            for make in (list, tuple):
                pp, qq = make(p), make(q)
                for name in ONE_ARRAY:
                    want = _general(name, p)
                    for got in (_fast(name, pp), getattr(fe, name)(pp)):
                        assert type(got) is type(want)
                        np.testing.assert_array_equal(got, want, err_msg=f"{name} n={n} list {i}")
                for name in TWO_ARRAYS:
                    want = _general(name, p, q)
                    for got in (_fast(name, pp, qq), getattr(fe, name)(pp, qq)):
                        assert type(got) is type(want)
                        np.testing.assert_array_equal(got, want, err_msg=f"{name} n={n} list {i}")
                if n:
                    got = _core.self_information_fast(pp)
                    np.testing.assert_array_equal(got, _core.self_information(np.asarray(p, dtype=np.float64)))
                    np.testing.assert_array_equal(fe.self_information(pp), got)


def test_converted_inputs_report_the_general_paths_errors() -> None:
    """A negative count (an integer array or a list) raises the general path's ValueError,
    naming the argument and the value, from the fast path too."""
    for bad in (np.array([3, -2, 1]), [3, -2, 1], (3.0, -2, 1)):
        good = [1, 2, 3]
        for name in ONE_ARRAY:
            with pytest.raises(ValueError) as fast_error:
                _fast(name, bad)
            with pytest.raises(ValueError) as general_error:
                _general(name, bad)
            assert str(fast_error.value) == str(general_error.value)
            assert "-2" in str(fast_error.value)
        for name in TWO_ARRAYS:
            for args in [(bad, good), (good, bad)]:
                with pytest.raises(ValueError) as fast_error:
                    _fast(name, *args)
                with pytest.raises(ValueError) as general_error:
                    _general(name, *args)
                assert str(fast_error.value) == str(general_error.value), name
    # lists of different lengths: the general path's broadcasting error
    with pytest.raises(ValueError):
        fe.kl_divergence([1, 2, 3], [1, 2])


def test_large_integer_arrays_and_lists_keep_the_general_path() -> None:
    """Only small inputs are converted in the core (it holds the GIL while it converts;
    NumPy's cast releases it): above 2^16 values the fast path declines."""
    rng = np.random.default_rng(4)
    for n in (2**16, 2**16 + 1):
        counts = rng.integers(0, 9, n)
        for x in (counts, counts.tolist()):
            taken = _core.entropy_fast(x, -1, None, False, 0.0, True)
            assert (taken is None) == (n > 2**16)
            assert fe.entropy(x) == _general("entropy", counts)
