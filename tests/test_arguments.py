"""Scalar arguments and output dtypes (issue #12 item 8).

- ``base=2**2000``, ``label_smoothing=2**2000`` raised OverflowError: a ValueError naming
  the argument now (``ignore_index``: tests/test_targets.py);
- ``return_grad='no'`` returned a gradient (a truthy string): every flag must be a real
  bool (or a NumPy bool), else a TypeError naming it;
- float16 ``self_information``/``softmax`` returned float32 though the dtype is kept:
  every elementwise output keeps the input's float dtype (float16 and long double too).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

import numpy as np
import pytest

import fastentropy as fe

P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
Z = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
Y = np.array([2, 0])

BASE_CALLS: Dict[str, Callable[[Any], Any]] = {
    "entropy": lambda b: fe.entropy(P, base=b),
    "kl_divergence": lambda b: fe.kl_divergence(P, P[::-1], base=b),
    "cross_entropy": lambda b: fe.cross_entropy(P, P[::-1], base=b),
    "js_divergence": lambda b: fe.js_divergence(P, P[::-1], base=b),
    "js_distance": lambda b: fe.js_distance(P, P[::-1], base=b),
    "perplexity": lambda b: fe.perplexity(P, base=b),
    "self_information": lambda b: fe.self_information(P, base=b),
    "label_entropy": lambda b: fe.label_entropy([1, 2, 2], base=b),
    "joint_entropy": lambda b: fe.joint_entropy([0, 1, 1], [1, 1, 0], base=b),
    "conditional_entropy": lambda b: fe.conditional_entropy([0, 1, 1], [1, 1, 0], base=b),
    "mutual_information": lambda b: fe.mutual_information(contingency=[[1, 2], [3, 4]], base=b),
}


@pytest.mark.parametrize("name", list(BASE_CALLS))
@pytest.mark.parametrize(
    "base, shown",
    [(2**2000, r"1\.148131e\+602"), (-(2**2000), r"-1\.148131e\+602"), (10**400, r"1\.000000e\+400")],
)
def test_a_base_beyond_the_float_range_is_a_value_error(name: str, base: int, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"`base` must be positive, finite and different from 1, got {shown}"):
        BASE_CALLS[name](base)


@pytest.mark.parametrize("name", list(BASE_CALLS))
def test_large_integer_bases_that_fit_still_work(name: str) -> None:
    nats = np.asarray(BASE_CALLS[name](None))
    # the result in base 2**1000 is the result in nats / ln(2**1000) (js_distance: its
    # square; perplexity does not depend on the base)
    want = {"js_distance": nats / np.sqrt(1000 * np.log(2)), "perplexity": nats}.get(name, nats / (1000 * np.log(2)))
    np.testing.assert_allclose(BASE_CALLS[name](2**1000), want, rtol=1e-13)


@pytest.mark.parametrize("value, shown", [(2**2000, r"1\.148131e\+602"), (-(2**2000), r"-1\.148131e\+602"), (1.5, "1.5")])
def test_label_smoothing_beyond_the_float_range_is_a_value_error(value: Any, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"`label_smoothing` must be between 0 and 1, got {shown}"):
        fe.softmax_cross_entropy(Z, Y, label_smoothing=value)


@pytest.mark.parametrize("value", [True, np.True_, "0.1", None, 0.1j], ids=["bool", "numpy-bool", "str", "none", "complex"])
def test_label_smoothing_must_be_a_real_number(value: Any) -> None:
    with pytest.raises(TypeError, match=r"`label_smoothing` must be a real number"):
        fe.softmax_cross_entropy(Z, Y, label_smoothing=value)


def test_integral_label_smoothing_values_are_accepted() -> None:
    assert fe.softmax_cross_entropy(Z, Y, label_smoothing=0) == fe.softmax_cross_entropy(Z, Y)
    assert fe.softmax_cross_entropy(Z, Y, label_smoothing=1) == fe.softmax_cross_entropy(Z, Y, label_smoothing=1.0)
    assert fe.softmax_cross_entropy(Z, Y, label_smoothing=np.float32(0.25)) == fe.softmax_cross_entropy(Z, Y, label_smoothing=0.25)


# ---------------------------------------------------------------------------- flags

FLAG_CALLS: Dict[Tuple[str, str], Callable[[Any], Any]] = {
    ("entropy", "normalize"): lambda v: fe.entropy(P, normalize=v),
    ("kl_divergence", "normalize"): lambda v: fe.kl_divergence(P, P, normalize=v),
    ("cross_entropy", "normalize"): lambda v: fe.cross_entropy(P, P, normalize=v),
    ("js_divergence", "normalize"): lambda v: fe.js_divergence(P, P, normalize=v),
    ("js_distance", "normalize"): lambda v: fe.js_distance(P, P, normalize=v),
    ("perplexity", "normalize"): lambda v: fe.perplexity(P, normalize=v),
    ("label_entropy", "miller_madow"): lambda v: fe.label_entropy([1, 2, 2], miller_madow=v),
    ("softmax_cross_entropy", "return_grad"): lambda v: fe.softmax_cross_entropy(Z, Y, return_grad=v),
    ("softmax_cross_entropy/probs", "return_grad"): lambda v: fe.softmax_cross_entropy(Z, P, return_grad=v),
    ("nll_loss", "return_grad"): lambda v: fe.nll_loss(Z, Y, return_grad=v),
    ("binary_cross_entropy_with_logits", "return_grad"): lambda v: fe.binary_cross_entropy_with_logits(Z, P, return_grad=v),
}


@pytest.mark.parametrize("call", list(FLAG_CALLS), ids=lambda c: f"{c[0]}-{c[1]}")
@pytest.mark.parametrize(
    "value",
    ["no", "", 1, 0, None, 1.0, np.array(True), np.array([True, False]), [True]],
    ids=["str-no", "str-empty", "one", "zero", "none", "float", "0d-array", "array", "list"],
)
def test_flags_must_be_bools(call: Tuple[str, str], value: Any) -> None:
    with pytest.raises(TypeError, match=rf"`{call[1]}` must be True or False, got"):
        FLAG_CALLS[call](value)


@pytest.mark.parametrize("call", list(FLAG_CALLS), ids=lambda c: f"{c[0]}-{c[1]}")
def test_numpy_bools_are_flags(call: Tuple[str, str]) -> None:
    for plain, numpy_bool in ((True, np.True_), (False, np.bool_(False))):
        a, b = FLAG_CALLS[call](plain), FLAG_CALLS[call](numpy_bool)
        if isinstance(a, tuple):
            assert isinstance(b, tuple) and len(a) == len(b) == 2
            np.testing.assert_array_equal(a[1], b[1])
            a, b = a[0], b[0]
        np.testing.assert_array_equal(a, b)


def test_return_grad_false_returns_the_loss_only() -> None:
    assert isinstance(fe.softmax_cross_entropy(Z, Y, return_grad=False), float)
    assert isinstance(fe.nll_loss(Z, Y, return_grad=np.False_), float)


# ---------------------------------------------------------------------------- output dtypes

X16 = np.array([[0.1, 0.7, 0.2, 0.0], [0.5, 0.25, 0.125, 0.125]], dtype=np.float16)


@pytest.mark.parametrize("dtype", [np.float16, np.dtype(">f2"), np.longdouble, np.float32, np.dtype(">f4"), np.float64])
@pytest.mark.parametrize("axis", [-1, 0, None])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_normalizers_keep_the_input_dtype(name: str, axis: Any, dtype: Any) -> None:
    f = getattr(fe, name)
    x = (X16.astype(np.float64) * 3 - 1).astype(dtype)
    kept = np.dtype(dtype).newbyteorder("=")
    result = f(x, axis=axis)
    assert result.dtype == kept and result.shape == x.shape
    # computed in float32 (float16) / float64 (long double), rounded once to the dtype
    wide = np.float32 if kept.itemsize <= 4 else np.float64
    np.testing.assert_array_equal(result, f(x.astype(wide), axis=axis).astype(kept))
    out = np.full(x.shape, np.nan, dtype=kept)
    assert f(x, axis=axis, out=out) is out
    np.testing.assert_array_equal(out, result)
    with pytest.raises(TypeError, match=rf"`out` must have the dtype of `x` \({kept}\), got"):
        f(x, axis=axis, out=np.empty(x.shape, dtype=np.float32 if kept != np.float32 else np.float64))


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_in_place_normalizers_of_converted_dtypes(dtype: Any) -> None:
    x = (X16.astype(np.float64) * 3 - 1).astype(dtype)
    want = fe.softmax(x)
    assert fe.softmax(x, out=x) is x
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_gradients_and_elementwise_losses_keep_the_logits_dtype(dtype: Any) -> None:
    z = Z.astype(dtype)
    wide = np.float32 if dtype is np.float16 else np.float64
    for loss, args in (
        (fe.softmax_cross_entropy, (Y,)),
        (fe.softmax_cross_entropy, (P,)),
        (fe.nll_loss, (Y,)),
        (fe.binary_cross_entropy_with_logits, (P,)),
    ):
        value, grad = loss(z, *args, return_grad=True)
        want_value, want_grad = loss(z.astype(wide), *args, return_grad=True)
        assert grad.dtype == dtype
        np.testing.assert_array_equal(grad, want_grad.astype(dtype))
        assert value == want_value
        out = np.empty(z.shape, dtype=dtype)
        assert loss(z, *args, grad_out=out)[1] is out
        np.testing.assert_array_equal(out, grad)
        in_place = z.copy()
        loss(in_place, *args, grad_out=in_place)
        np.testing.assert_array_equal(in_place, grad)
        with pytest.raises(TypeError, match=r"`grad_out` must have the dtype of"):
            loss(z, *args, grad_out=np.empty(z.shape, dtype=wide))
    elementwise = fe.binary_cross_entropy_with_logits(z, P, reduction="none")
    assert elementwise.dtype == dtype
    np.testing.assert_array_equal(
        elementwise, fe.binary_cross_entropy_with_logits(z.astype(wide), P, reduction="none").astype(dtype)
    )
