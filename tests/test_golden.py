"""Golden reference values (tests/data, from shared/golden: mpmath for the measures, torch for
the loss family). Every case runs once its function exists in fastentropy; until then it is
skipped, so the loss-family cases start running as soon as they are implemented."""

from __future__ import annotations

import inspect
import math
from typing import Any, Dict, List

import numpy as np
import pytest

import fastentropy as fe


def assert_matches_golden(actual: Any, expected: np.ndarray, rtol: float, what: str) -> None:
    """Relative tolerance ``rtol`` with an absolute floor of ``rtol`` near 0; infinities
    (in particular -inf) and NaNs must sit exactly where the reference has them."""
    got = np.asarray(actual, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=f"{what}: -inf positions")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=f"{what}: +inf positions")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol, err_msg=what)


def _accepts(func: Any, keyword: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # a builtin without a signature: assume it does
        return True
    return keyword in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_golden_case(golden_case: Dict[str, Any], golden_arrays: Dict[str, np.ndarray]) -> None:
    name = golden_case["function"]
    if not hasattr(fe, name):
        pytest.skip(f"fastentropy.{name} not implemented yet")
    func = getattr(fe, name)
    inputs = {key: golden_arrays[array] for key, array in golden_case["inputs"].items()}
    kwargs = {
        key: golden_arrays[value] if isinstance(value, str) and value in golden_arrays else value
        for key, value in golden_case.get("kwargs", {}).items()
    }
    expected = golden_arrays[golden_case["expected"]]
    rtol = float(golden_case["rtol"])

    result = func(**inputs, **kwargs)
    assert_matches_golden(result, expected, rtol, golden_case["name"])
    if expected.ndim == 0:
        assert type(result) is float, f"a scalar result must be a Python float, got {type(result).__name__}"

    grad_name = golden_case.get("expected_grad")
    if grad_name is not None and _accepts(func, "return_grad"):
        loss, grad = func(**inputs, **kwargs, return_grad=True)
        assert_matches_golden(loss, expected, rtol, golden_case["name"] + " (loss with return_grad)")
        assert_matches_golden(grad, golden_arrays[grad_name], rtol, golden_case["name"] + " (grad)")
        first_input = next(iter(inputs.values()))
        assert np.asarray(grad).dtype == first_input.dtype


def test_golden_inputs_are_not_modified(
    golden_case_list: List[Dict[str, Any]],
    golden_arrays: Dict[str, np.ndarray],
    golden_pristine: Dict[str, np.ndarray],
) -> None:
    """The golden inputs survive the calls above unchanged (nothing writes into its arguments)."""
    for case in golden_case_list:
        for array in case["inputs"].values():
            np.testing.assert_array_equal(golden_arrays[array], golden_pristine[array], err_msg=array)


def test_seed_example_is_correctly_rounded_minus_ln_0_4() -> None:
    result = fe.cross_entropy([0, 0, 1], [0.3, 0.3, 0.4])
    assert type(result) is float
    assert result == -math.log(0.4)
    assert repr(result) == "0.916290731874155"


def test_every_golden_measure_function_is_exercised(golden_case_list: List[Dict[str, Any]]) -> None:
    """The golden file really covers the three implemented measures (guards a bad sync)."""
    functions = {case["function"] for case in golden_case_list}
    assert {"entropy", "kl_divergence", "cross_entropy"} <= functions
    assert any(case["name"] == "seed_example_cross_entropy" for case in golden_case_list)
