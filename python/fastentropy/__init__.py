"""fastentropy: fast, exact information-theory measures for NumPy arrays.

Self-information, Shannon entropy, KL divergence, cross-entropy, Jensen–Shannon divergence,
perplexity, the population stability index, the entropies and mutual information of integer labels, ensemble uncertainty
(total / aleatoric / epistemic), the expected calibration error, and the softmax loss
family (logsumexp, log_softmax, softmax, softmax_cross_entropy with a fused gradient,
nll_loss, binary_cross_entropy_with_logits), computed by a Rust
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
from ._calibration import expected_calibration_error
from ._core import simd_isa
from ._drift import population_stability_index
from ._ensemble import EnsembleUncertainty, ensemble_uncertainty
from ._loss import (
    binary_cross_entropy_with_logits,
    log_softmax,
    logsumexp,
    nll_loss,
    softmax,
    softmax_cross_entropy,
)
from ._more import (
    conditional_entropy,
    joint_entropy,
    js_distance,
    js_divergence,
    label_entropy,
    mutual_information,
    normalized_mutual_information,
    perplexity,
)

__all__ = [
    "binary_cross_entropy_with_logits",
    "EnsembleUncertainty",
    "conditional_entropy",
    "cross_entropy",
    "ensemble_uncertainty",
    "entropy",
    "expected_calibration_error",
    "get_num_threads",
    "joint_entropy",
    "js_distance",
    "js_divergence",
    "kl_divergence",
    "label_entropy",
    "log_softmax",
    "logsumexp",
    "mutual_information",
    "nll_loss",
    "normalized_mutual_information",
    "perplexity",
    "population_stability_index",
    "self_information",
    "set_num_threads",
    "simd_isa",
    "softmax",
    "softmax_cross_entropy",
]
__version__ = "0.1.0"
