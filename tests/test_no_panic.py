"""No input and no race ever panics (issue #12): a Rust panic reaches Python as
``pyo3_runtime.PanicException``, a BaseException that escapes ``except Exception``.

- Arrays with 33–64 dimensions (NumPy 2 allows 64; rust-numpy's ``as_array`` asserts at
  most 32): every public function gives the result of the same data with fewer
  dimensions, or a clear ValueError where the function needs fewer dimensions.
- Labels rewritten by another thread during ``nll_loss`` / ``softmax_cross_entropy``: any
  value or a ValueError, never a panic (the labels were validated, then indexed again).
- Layouts ndarray cannot view in place (unaligned fields of packed structured arrays) and
  outputs with overlapping elements; results so large that allocating them would abort the
  process (a zero-stride broadcast of 10^12 rows): correct results, a ValueError or a
  MemoryError.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import fastentropy as fe
from fastentropy import _core

MAXDIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32
pytestmark = pytest.mark.skipif(MAXDIMS < 64, reason="NumPy < 2 allows at most 32 dimensions")

DIMS = [33, 40, 64]


def _panic_type() -> type:
    try:
        _core.entropy(np.zeros((1,) * 33 + (2,)))
    except BaseException as exc:  # noqa: BLE001  (only to name the type, if any)
        return type(exc)
    return type(None)


def _hd_shape(ndim: int, small: Tuple[int, int] = (3, 4)) -> Tuple[int, ...]:
    """``small`` = (batch, classes) spread over ``ndim`` axes: batch at axis ndim // 2 (past
    the 32nd, where rust-numpy's bit mask ends), classes last, every other axis of length 1."""
    shape = [1] * ndim
    shape[ndim // 2] = small[0]
    shape[-1] = small[1]
    return tuple(shape)


RNG = np.random.default_rng(12)
P = RNG.random((3, 4)) + 0.05
Q = RNG.random((3, 4)) + 0.05
Y = np.array([0, 3, 2], dtype=np.int64)
T01 = RNG.random((3, 4))
LABELS = RNG.integers(-2, 3, size=(3, 4))


def _cases(ndim: int) -> Dict[str, Tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (call on ndim-dimensional data, the same call on the (3, 4) data, reshaped)."""
    shape = _hd_shape(ndim)
    batch = shape[:-1]
    h, hq = P.reshape(shape), Q.reshape(shape)
    hy, ht, hl = Y.reshape(batch), T01.reshape(shape), LABELS.reshape(shape)
    b = ndim // 2  # the batch axis of the high-dimensional arrays

    def same(f: Callable[..., Any], *args: Any, **kw: Any) -> Callable[[], Any]:
        return lambda: np.reshape(f(*args, **kw), batch)

    return {
        "self_information": (lambda: fe.self_information(h), lambda: fe.self_information(P).reshape(shape)),
        "self_information-out": (
            lambda: fe.self_information(h, out=np.empty_like(h)),
            lambda: fe.self_information(P).reshape(shape),
        ),
        "entropy": (lambda: fe.entropy(h), same(fe.entropy, P)),
        "entropy-batch-axis": (
            lambda: fe.entropy(h, axis=b),
            lambda: fe.entropy(P, axis=0).reshape(shape[:b] + shape[b + 1 :]),
        ),
        "entropy-reversed": (lambda: fe.entropy(np.flip(h, axis=(b, ndim - 1))), same(fe.entropy, P[::-1, ::-1])),
        "entropy-axis-none": (lambda: fe.entropy(h, axis=None), lambda: fe.entropy(P, axis=None)),
        "entropy-f32": (lambda: fe.entropy(h.astype(np.float32)), same(fe.entropy, P.astype(np.float32))),
        "kl_divergence": (lambda: fe.kl_divergence(h, hq), same(fe.kl_divergence, P, Q)),
        "kl_divergence-broadcast": (
            lambda: fe.kl_divergence(h, hq[(0,) * (ndim - 1)]),
            same(fe.kl_divergence, P, Q[0]),
        ),
        "cross_entropy": (lambda: fe.cross_entropy(h, hq), same(fe.cross_entropy, P, Q)),
        "js_divergence": (lambda: fe.js_divergence(h, hq), same(fe.js_divergence, P, Q)),
        "js_distance": (lambda: fe.js_distance(h, hq), same(fe.js_distance, P, Q)),
        "perplexity": (lambda: fe.perplexity(h), same(fe.perplexity, P)),
        "logsumexp": (lambda: fe.logsumexp(h), same(fe.logsumexp, P)),
        "log_softmax": (lambda: fe.log_softmax(h), lambda: fe.log_softmax(P).reshape(shape)),
        "softmax": (lambda: fe.softmax(h), lambda: fe.softmax(P).reshape(shape)),
        "softmax-in-place": (
            lambda: fe.softmax(h.copy(), out=None),
            lambda: fe.softmax(P).reshape(shape),
        ),
        "softmax_cross_entropy": (
            lambda: fe.softmax_cross_entropy(h, hy),
            lambda: fe.softmax_cross_entropy(P, Y),
        ),
        "softmax_cross_entropy-none": (
            lambda: fe.softmax_cross_entropy(h, hy, reduction="none"),
            same(fe.softmax_cross_entropy, P, Y, reduction="none"),
        ),
        "softmax_cross_entropy-grad": (
            lambda: fe.softmax_cross_entropy(h, hy, return_grad=True)[1],
            lambda: fe.softmax_cross_entropy(P, Y, return_grad=True)[1].reshape(shape),
        ),
        "softmax_cross_entropy-probs": (
            lambda: fe.softmax_cross_entropy(h, ht, label_smoothing=0.1),
            lambda: fe.softmax_cross_entropy(P, T01, label_smoothing=0.1),
        ),
        "nll_loss": (lambda: fe.nll_loss(np.log(h), hy), lambda: fe.nll_loss(np.log(P), Y)),
        "nll_loss-none": (
            lambda: fe.nll_loss(np.log(h), hy, reduction="none"),
            same(fe.nll_loss, np.log(P), Y, reduction="none"),
        ),
        "binary_cross_entropy_with_logits": (
            lambda: fe.binary_cross_entropy_with_logits(h, ht, reduction="none"),
            lambda: fe.binary_cross_entropy_with_logits(P, T01, reduction="none").reshape(shape),
        ),
        "binary_cross_entropy_with_logits-mean": (
            lambda: fe.binary_cross_entropy_with_logits(h, ht, pos_weight=hq),
            lambda: fe.binary_cross_entropy_with_logits(P, T01, pos_weight=Q),
        ),
        "label_entropy": (lambda: fe.label_entropy(hl), same(fe.label_entropy, LABELS)),
        "label_entropy-axis-none": (lambda: fe.label_entropy(hl, axis=None), lambda: fe.label_entropy(LABELS, axis=None)),
        "label_entropy-batch-axis": (
            lambda: fe.label_entropy(hl, axis=b),
            lambda: fe.label_entropy(LABELS, axis=0).reshape(shape[:b] + shape[b + 1 :]),
        ),
        "entropy-from_logits": (lambda: fe.entropy(h, from_logits=True), same(fe.entropy, P, from_logits=True)),
        "perplexity-from_logits": (lambda: fe.perplexity(h, from_logits=True), same(fe.perplexity, P, from_logits=True)),
        "kl-from_logits": (lambda: fe.kl_divergence(h, hq, from_logits=True), same(fe.kl_divergence, P, Q, from_logits=True)),
        "cross_entropy-from_logits": (
            lambda: fe.cross_entropy(h, hq, from_logits=True),
            same(fe.cross_entropy, P, Q, from_logits=True),
        ),
        "js_distance-from_logits": (
            lambda: fe.js_distance(h, hq, from_logits=True),
            same(fe.js_distance, P, Q, from_logits=True),
        ),
        "entropy-smoothing": (lambda: fe.entropy(h, smoothing=0.5), same(fe.entropy, P, smoothing=0.5)),
        "js-smoothing": (lambda: fe.js_divergence(h, hq, smoothing=0.5), same(fe.js_divergence, P, Q, smoothing=0.5)),
        "population_stability_index": (
            lambda: fe.population_stability_index(h, hq, smoothing=0.5),
            same(fe.population_stability_index, P, Q, smoothing=0.5),
        ),
    }


@pytest.mark.parametrize("ndim", DIMS)
def test_every_function_on_high_dimensional_arrays(ndim: int) -> None:
    failures: List[str] = []
    for name, (high, low) in _cases(ndim).items():
        try:
            got, want = high(), low()
        except BaseException as exc:  # noqa: BLE001  (a PanicException is a BaseException)
            failures.append(f"{name}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
            continue
        # The same lanes in the same order: the same bits, only the shape differs.
        if np.shape(got) != np.shape(want) or not np.array_equal(got, want):
            failures.append(f"{name}: {np.shape(got)} {np.ravel(got)[:4]} != {np.shape(want)} {np.ravel(want)[:4]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("ndim", DIMS)
def test_empty_and_broadcast_high_dimensional_arrays(ndim: int) -> None:
    shape = [1] * ndim
    shape[0], shape[ndim - 2], shape[-1] = 0, 5, 3
    empty = np.zeros(shape)
    assert fe.entropy(empty).shape == tuple(shape[:-1])
    assert fe.logsumexp(empty).shape == tuple(shape[:-1])
    # 2^(ndim - 1) rows read through zero strides: no memory, a result per row
    shape = (2,) * 20 + (1,) * (ndim - 21) + (4,)
    wide = np.broadcast_to(P[0], shape)
    got = fe.entropy(wide)
    assert got.shape == shape[:-1]
    assert np.all(got == fe.entropy(P[0]))


@pytest.mark.parametrize("ndim", DIMS)
def test_functions_of_fixed_dimensions_refuse_high_dimensional_arrays(ndim: int) -> None:
    x = np.zeros((1,) * (ndim - 1) + (3,), dtype=np.int64)
    for call in (
        lambda: fe.mutual_information(x, x),
        lambda: fe.joint_entropy(x, x),
        lambda: fe.conditional_entropy(x, x),
        lambda: fe.normalized_mutual_information(x, x),
        lambda: fe.mutual_information(contingency=x.astype(float) + 1),
    ):
        with pytest.raises(ValueError, match="1-D|2-D"):
            call()
    # The bindings themselves, past the Python checks.
    for call in (
        lambda: _core.label_pair_measure(x, x, "mutual_information"),
        lambda: _core.contingency_measure(x.astype(float), "mutual_information"),
    ):
        with pytest.raises(ValueError):
            call()


def test_the_panic_type_is_gone() -> None:
    # The first symptom of the issue, directly on the extension module.
    assert _panic_type() is type(None)


# ------------------------------------------------------------------------------- races

RACE_CLASSES, RACE_CALLS = 10, 240


@pytest.mark.parametrize("threads", [1, 2])
def test_labels_rewritten_during_the_call_never_panic(threads: int, restore_threads: int) -> None:
    """A writer thread flips the last labels between a valid class and wild values (huge,
    negative, the class count) while the main thread calls the loss functions a fixed
    number of times: a label then passes validation and is out of range when the loss
    reads it again (before the fix, about one call in four panicked with "index out of
    bounds" or "the label just seen"). Each call may return any value or raise ValueError,
    never anything else."""
    fe.set_num_threads(threads)
    # nll_loss reads one element per row: many rows for a long validation pass;
    # softmax_cross_entropy reads every element: fewer rows keep the test short.
    lp_long = np.log(np.full((200_000, RACE_CLASSES), 1.0 / RACE_CLASSES))
    lp_short = lp_long[:20_000]
    y_long = np.zeros(len(lp_long), dtype=np.int64)
    y_short = np.zeros(len(lp_short), dtype=np.int64)
    wild = [10**12, -(2**63), RACE_CLASSES, 2**63 - 1, -1]
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            y_long[-3:] = y_short[-3:] = 3
            y_long[-3:] = y_short[-3:] = wild[i % len(wild)]
            i += 1

    w = np.ones(RACE_CLASSES)
    calls: List[Callable[[], Any]] = [
        lambda: fe.nll_loss(lp_long, y_long),
        lambda: fe.nll_loss(lp_long, y_long, reduction="none", weight=w),
        lambda: fe.nll_loss(lp_long, y_long, return_grad=True),
        lambda: fe.softmax_cross_entropy(lp_short, y_short),
        lambda: fe.softmax_cross_entropy(lp_short, y_short, label_smoothing=0.2, weight=w),
        lambda: fe.softmax_cross_entropy(lp_short, y_short, return_grad=True),
    ]
    outcomes: Dict[str, int] = {}
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(RACE_CALLS):
            try:
                calls[i % len(calls)]()
                key = "value"
            except ValueError:
                key = "ValueError"
            except BaseException as exc:  # noqa: BLE001  (PanicException is a BaseException)
                key = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        stop.set()
        thread.join()
    assert set(outcomes) <= {"value", "ValueError"}, outcomes
    assert sum(outcomes.values()) == RACE_CALLS


def test_label_arrays_rewritten_during_the_call_never_panic(restore_threads: int) -> None:
    """The label measures read their labels several times (range, counts, slots): a writer
    thread switching some labels between a small and a huge value makes the passes disagree.
    Any value or a ValueError naming the array, never a panic or an out-of-bounds access."""
    fe.set_num_threads(2)
    n = 400_000
    x = np.arange(n, dtype=np.int64) % 1000
    y = np.arange(n, dtype=np.int64)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            x[-5:] = 7
            y[-5:] = 3
            x[-5:] = 10**15 + i
            y[-5:] = -(2**62) - i
            i += 1

    calls: List[Callable[[], Any]] = [
        lambda: fe.mutual_information(x, y),
        lambda: fe.conditional_entropy(y, x),
        lambda: fe.joint_entropy(x, x),
        lambda: fe.normalized_mutual_information(y, x),
        lambda: fe.label_entropy(x),
        lambda: fe.label_entropy(y),
    ]
    outcomes: Dict[str, int] = {}
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(120):
            try:
                calls[i % len(calls)]()
                key = "value"
            except ValueError:
                key = "ValueError"
            except BaseException as exc:  # noqa: BLE001  (PanicException is a BaseException)
                key = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        stop.set()
        thread.join()
    assert set(outcomes) <= {"value", "ValueError"}, outcomes


# ----------------------------------------------------------------- layouts and sizes


def _packed(values: np.ndarray) -> np.ndarray:
    """``values`` as the field of a packed structured array: unaligned, odd byte strides."""
    rec = np.zeros(values.shape, dtype=[("pad", "i1"), ("v", values.dtype)])
    rec["v"] = values
    field = rec["v"]
    assert not field.flags.aligned
    return field


def test_unaligned_inputs_give_the_aligned_result() -> None:
    p, q = _packed(P[0]), _packed(Q[0])
    assert fe.entropy(p) == fe.entropy(P[0])
    assert fe.kl_divergence(p, q) == fe.kl_divergence(P[0], Q[0])
    assert fe.logsumexp(p) == fe.logsumexp(P[0])
    np.testing.assert_array_equal(fe.self_information(p), fe.self_information(P[0]))
    y = _packed(Y)
    assert fe.nll_loss(_packed(P.ravel()).reshape(3, 4), y) == fe.nll_loss(P, Y)
    assert fe.softmax_cross_entropy(P, y) == fe.softmax_cross_entropy(P, Y)
    pw = _packed(Q[0])
    assert fe.binary_cross_entropy_with_logits(P[0], T01[0], pos_weight=pw) == fe.binary_cross_entropy_with_logits(
        P[0], T01[0], pos_weight=Q[0]
    )


def test_outputs_that_cannot_be_written_in_place_are_refused() -> None:
    unaligned = _packed(np.zeros(4))
    with pytest.raises(ValueError, match="aligned"):
        _core.self_information(P[0], out=unaligned)
    overlapping = np.lib.stride_tricks.as_strided(np.zeros(3), (3, 4), (8, 0))
    with pytest.raises(ValueError, match="overlapping"):
        _core.softmax(P, out=overlapping)
    with pytest.raises(ValueError, match="overlapping"):
        _core.nll_loss(P, Y, grad_out=overlapping)


@pytest.mark.parametrize(
    "call",
    [
        lambda b, l: fe.entropy(b),
        lambda b, l: fe.kl_divergence(b, b),
        lambda b, l: fe.js_distance(b, b),
        lambda b, l: fe.perplexity(b),
        lambda b, l: fe.logsumexp(b),
        lambda b, l: fe.softmax(b),
        lambda b, l: fe.log_softmax(b),
        lambda b, l: fe.self_information(b),
        lambda b, l: fe.softmax_cross_entropy(b, l),
        lambda b, l: fe.nll_loss(b, l),
        lambda b, l: fe.binary_cross_entropy_with_logits(b, b),
        lambda b, l: fe.binary_cross_entropy_with_logits(b, b, reduction="sum"),
        lambda b, l: fe.entropy(b, from_logits=True),
        lambda b, l: fe.kl_divergence(b, b, from_logits=True),
        lambda b, l: fe.population_stability_index(b, b),
    ],
)
def test_results_too_large_to_allocate_raise_memory_error(call: Callable[[Any, Any], Any]) -> None:
    rows = 10**12  # 10^12 rows through a zero stride: no input memory, ~10 TB of results
    b = np.broadcast_to(np.ones(2), (rows, 2))
    labels = np.broadcast_to(np.zeros(1, dtype=np.int64), (rows,))
    with pytest.raises(MemoryError):
        call(b, labels)
