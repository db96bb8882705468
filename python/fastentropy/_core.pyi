"""Type stubs of the Rust extension. Arrays reaching these functions are already
native-endian float32/float64 (see _api.py); `axis` is the distribution axis."""

from typing import Any, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

_Floats = Union[NDArray[np.float32], NDArray[np.float64]]

BLOCK: int
MAX_THREADS: int

def entropy(p: _Floats, axis: Optional[int] = ..., base: Optional[float] = None, normalize: bool = True) -> Union[float, NDArray[np.float64]]: ...
def kl_divergence(p: _Floats, q: _Floats, axis: Optional[int] = ..., base: Optional[float] = None, normalize: bool = True) -> Union[float, NDArray[np.float64]]: ...
def cross_entropy(p: _Floats, q: _Floats, axis: Optional[int] = ..., base: Optional[float] = None, normalize: bool = True) -> Union[float, NDArray[np.float64]]: ...
# The small-call fast paths: the default options, native float arrays of one shape and a
# plain int axis taken as they are; None for anything else (the caller's general path).
def entropy_fast(p: object, axis: object) -> Union[None, float, NDArray[np.float64]]: ...
def kl_divergence_fast(p: object, q: object, axis: object) -> Union[None, float, NDArray[np.float64]]: ...
def cross_entropy_fast(p: object, q: object, axis: object) -> Union[None, float, NDArray[np.float64]]: ...
def js_divergence_fast(p: object, q: object, axis: object) -> Union[None, float, NDArray[np.float64]]: ...
def js_distance_fast(p: object, q: object, axis: object) -> Union[None, float, NDArray[np.float64]]: ...
def logsumexp_fast(x: object, axis: object) -> Union[None, float, NDArray[np.float64]]: ...
def softmax_cross_entropy_fast(
    logits: object, target: object, axis: object, ignore_index: object, reduction: object, label_smoothing: object
) -> Union[None, float, NDArray[np.float64]]: ...
def nll_loss_fast(
    log_probs: object, target: object, axis: object, ignore_index: object, reduction: object
) -> Union[None, float, NDArray[np.float64]]: ...
def self_information(p: _Floats, *, base: Optional[float] = None, out: Optional[_Floats] = None) -> _Floats: ...
def logsumexp(x: _Floats) -> Union[float, NDArray[np.float64]]: ...
def log_softmax(x: _Floats, *, out: _Floats) -> None: ...
def softmax(x: _Floats, *, out: _Floats) -> None: ...
def softmax_cross_entropy(
    logits: _Floats,
    target: Union[NDArray[np.int64], _Floats],
    *,
    weight: Optional[NDArray[np.float64]] = None,
    ignore_index: int = ...,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    grad_out: Optional[_Floats] = None,
    in_place: bool = False,
) -> Union[float, NDArray[np.float64]]: ...
def nll_loss(
    log_probs: _Floats,
    target: NDArray[np.integer[Any]],
    *,
    weight: Optional[NDArray[np.float64]] = None,
    ignore_index: int = ...,
    reduction: str = "mean",
    grad_out: Optional[_Floats] = None,
    in_place: bool = False,
) -> Union[float, NDArray[np.float64]]: ...
def binary_cross_entropy_with_logits(
    logits: _Floats,
    target: _Floats,
    *,
    weight: Optional[NDArray[np.float64]] = None,
    pos_weight: Optional[NDArray[np.float64]] = None,
    reduction: str = "mean",
    grad_out: Optional[_Floats] = None,
) -> Union[float, _Floats]: ...
def js_divergence(p: _Floats, q: _Floats, axis: Optional[int] = ..., base: Optional[float] = None, normalize: bool = True) -> Union[float, NDArray[np.float64]]: ...
def js_distance(p: _Floats, q: _Floats, axis: Optional[int] = ..., base: Optional[float] = None, normalize: bool = True) -> Union[float, NDArray[np.float64]]: ...
def perplexity(p: _Floats, axis: Optional[int] = ..., base: Optional[float] = None, normalize: bool = True) -> Union[float, NDArray[np.float64]]: ...
# from_logits=True (src/bindings/drift.rs): measure "entropy" | "perplexity"
def logits_measure(p: _Floats, axis: Optional[int], base: Optional[float], measure: str) -> Union[float, NDArray[np.float64]]: ...
# measure "cross_entropy" | "kl_divergence" | "js_divergence" | "js_distance"
def logits_pair_measure(p: _Floats, q: _Floats, axis: Optional[int], base: Optional[float], measure: str) -> Union[float, NDArray[np.float64]]: ...
# smoothing=α and PSI: measure "entropy" (q ignored) | "cross_entropy" | "kl_divergence" | "js_divergence" | "js_distance" | "psi"
def smoothed_measure(p: _Floats, q: _Floats, axis: Optional[int], base: Optional[float], measure: str, smoothing: float) -> Union[float, NDArray[np.float64]]: ...
def label_entropy(
    labels: NDArray[Any], axis: Optional[int] = ..., base: Optional[float] = None, miller_madow: bool = False, decode: str = "native"
) -> Any: ...
def contingency_measure(table: NDArray[np.float64], measure: str, base: Optional[float] = None, average_method: str = "arithmetic") -> float: ...
def label_pair_measure(
    x: NDArray[Any],
    y: NDArray[Any],
    measure: str,
    base: Optional[float] = None,
    average_method: str = "arithmetic",
    x_decode: str = "native",
    y_decode: str = "native",
) -> float: ...
def ensemble_uncertainty(
    p: _Floats, sample_axis: int, axis: int, base: Optional[float] = None, from_logits: bool = False
) -> Tuple[Union[float, NDArray[np.float64]], Union[float, NDArray[np.float64]], Union[float, NDArray[np.float64]]]: ...
def expected_calibration_error(
    probs: _Floats, labels: NDArray[np.int64], n_bins: int = 15, norm: str = "l1", from_logits: bool = False
) -> float: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def simd_isa() -> str: ...

# Ragged rows (src/bindings/ragged.rs): a source is a (values, offsets) pair of NumPy arrays,
# an Arrow stream capsule, or an Arrow (schema, array) capsule pair.
def arrow_format(source: Any) -> str: ...
def ragged_reduce(
    measure: str,
    p: Any,
    q: Any = None,
    labels: Optional[NDArray[np.int64]] = None,
    base: Optional[float] = None,
    normalize: bool = True,
    ignore_index: int = ...,
    reduction: str = "none",
    from_logits: bool = False,
    smoothing: float = 0.0,
) -> Union[float, NDArray[np.float64]]: ...
def csr_align(
    p_data: _Floats,
    p_indices: NDArray[np.int64],
    p_indptr: NDArray[np.int64],
    q_data: _Floats,
    q_indices: NDArray[np.int64],
    q_indptr: NDArray[np.int64],
) -> Tuple[_Floats, _Floats, NDArray[np.int64]]: ...
