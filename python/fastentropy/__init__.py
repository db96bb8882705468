"""fastentropy: fast, exact information-theory measures for NumPy arrays.

Self-information, Shannon entropy, KL divergence and cross-entropy, computed by a Rust
core (SIMD with runtime dispatch, rayon threads, f64 accumulation, results bitwise
identical for any thread count) on NumPy buffers without copying, with the GIL released.
"""

from ._api import (
    cross_entropy,
    entropy,
    get_num_threads,
    kl_divergence,
    self_information,
    set_num_threads,
)
from ._core import simd_isa

__all__ = [
    "cross_entropy",
    "entropy",
    "get_num_threads",
    "kl_divergence",
    "self_information",
    "set_num_threads",
    "simd_isa",
]
__version__ = "0.1.0"
