"""Calibration: run the float IR (after the passes, so fused tensors are calibrated as fused) over the
representative dataset in batches (read from the dataset one batch at a time), summarize every activation inside the graph (min and max; a strided sample for
the distribution-based observers; per-channel sums where bias correction will need E[x]), and record the ranges.

The batch is as large as fits a fixed activation budget (``ACTIVATION_BUDGET`` bytes for the largest activation
times the batch), so that big inputs do not multiply TensorFlow's working memory by 16."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import CalibrationMethod
from ..errors import CalibrationError
from ..ir import Graph, QuantRange, RangeSource, Tensor
from ..tf_runtime import tensorflow
from .dataset import Dataset
from .spec import DISTRIBUTION_RANGES
from .observers import SAMPLE_PER_BATCH, Observer, make_observer, needs_sample, range_as

BATCH = 16
ACTIVATION_BUDGET = 8 * 2**20

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class CalibrationStats:
    samples: int
    tensors: int
    method: CalibrationMethod
    # Per-channel (last axis) mean of each calibrated activation, by tensor name: the statistics bias correction
    # needs (E[x] per input channel of a layer).
    channel_means: dict[str, np.ndarray] = field(default_factory=dict)
    # The range of each op's internal values (a sequence LSTM's cell state at every step), by node and value name.
    internal_ranges: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    # Each calibrated tensor's observed min and max, by name (what minmax would choose; range_select compares).
    minmax: dict[str, tuple[float, float]] = field(default_factory=dict)
    # The ranges other methods would choose from the same samples (``propose``), by method, then tensor name
    # (each computed when first read: ``Proposals``).
    proposals: dict[CalibrationMethod, Mapping[str, tuple[float, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rider:
    """Values taken in calibration's TensorFlow run besides its own, so that one run over the samples serves
    several uses (--optimize=accuracy: adaptive rounding's layer inputs, the float reference outputs): each tensor
    of ``fetch`` reduced by ``summarize`` inside the graph into ``width(tensor)`` values; each batch's values go to
    ``take(values, samples in the batch)``, batch by batch in order."""

    fetch: Sequence[Tensor]
    summarize: Callable[[Tensor, Any], list[Any]]
    width: Callable[[Tensor], int]
    take: Callable[[list[np.ndarray], int], None]


def output_rider(graph: Graph, samples: int) -> tuple[Rider, Callable[[], list[np.ndarray]]]:
    """A rider taking the graph's outputs on the first ``samples`` samples, and the function that returns them
    (float64, one array per output, first axis = samples: what ``ReferenceExecutor(graph)`` computes, here in
    calibration's batches)."""
    batches: list[list[np.ndarray]] = []
    seen = [0]

    def take(values: list[np.ndarray], n: int) -> None:
        if seen[0] < samples:  # (later batches are not kept)
            batches.append(values)
            seen[0] += n

    @functools.cache
    def outputs() -> list[np.ndarray]:
        return [(np.concatenate([b[k] for b in batches], axis=0) if batches[0][k].ndim else
                 np.stack([b[k] for b in batches]))[:samples].astype(np.float64) for k in range(len(graph.outputs))]

    return Rider(list(graph.outputs), lambda t, x: [x], lambda t: 1, take), outputs


class Proposals(Mapping[str, tuple[float, float]]):
    """The range ``method`` would choose for each observed tensor (``observers.range_as``), computed when first
    read and kept: a search over clipping ranges on each tensor's sample costs ~0.1 s, and --optimize=accuracy
    reads every proposal of one fold's calibration but only the kept ones of the others."""

    def __init__(self, method: CalibrationMethod, observers: Mapping[str, Observer]) -> None:
        self.method, self._observers = method, observers
        self._ranges: dict[str, tuple[float, float]] = {}

    def __getitem__(self, name: str) -> tuple[float, float]:
        if name not in self._ranges:
            self._ranges[name] = range_as(self._observers[name], self.method)
        return self._ranges[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._observers)

    def __len__(self) -> int:
        return len(self._observers)


def activations(graph: Graph) -> list[Tensor]:
    """Float tensors computed by the graph (inputs and node outputs), the ones that need a range."""
    from ..frontend.reference import can_run  # noqa: PLC0415 (TensorFlow)

    out: list[Tensor] = [t for t in graph.inputs if t.dtype == np.float32]
    for node in graph.nodes:
        if can_run(node):  # a custom op TensorFlow cannot run (TFLite_Detection_PostProcess) is not calibrated
            out.extend(t for t in node.outputs if t.dtype == np.float32)
    return out


def batch_size(graph: Graph) -> int:
    """Samples per calibration call: ``BATCH``, fewer when one sample's largest activation is big."""
    largest = max((int(np.prod(t.shape)) * t.dtype.itemsize for t in activations(graph) if t.shape), default=1)
    return max(1, min(BATCH, ACTIVATION_BUDGET // max(largest, 1)))


def _summarizer(with_sample: bool, means_for: Collection[str]) -> Callable[[Tensor, Any], list[Any]]:
    """In-graph reduction of a fetched tensor: [min, max, size, per-channel sum (if named in ``means_for``, else
    empty), (sample)]."""
    tf = tensorflow()

    def summarize(t: Tensor, x: Any) -> list[Any]:  # noqa: ANN401 - tf.Tensor
        flat = tf.reshape(x, [-1])
        out = [tf.reduce_min(flat), tf.reduce_max(flat), tf.size(flat)]
        if t.name in means_for:
            channels = x.shape[-1] if x.shape.rank else 1
            out.append(tf.reduce_sum(tf.cast(tf.reshape(x, [-1, channels]), tf.float64), axis=0))
        else:
            out.append(tf.zeros([0], tf.float64))
        if with_sample:
            step = tf.maximum(tf.size(flat) // SAMPLE_PER_BATCH, 1)
            out.append(flat[::step])
        return out

    return summarize


def calibrate(graph: Graph, data: Dataset, method: CalibrationMethod,
              progress: ProgressFn | None = None, means_for: Collection[str] = (),
              on_batch: Callable[[list[np.ndarray]], None] | None = None,
              propose: Collection[CalibrationMethod] = (), riders: Sequence[Rider] = ()) -> CalibrationStats:
    """Give every float activation without a fake-quant range a calibrated range (``QuantRange``); for the
    tensors named in ``means_for``, also the per-channel (last axis) mean; for each method in ``propose``
    (sampling methods), the range it would choose (``Proposals``; the observers then keep their samples even when
    ``method`` needs none). ``on_batch`` sees each batch of inputs (statistics of the data itself, e.g. how much of
    it the input quantization covers). ``riders`` take their values in the same run (``Rider``)."""
    from ..frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)
    from ..frontend.registry import INTERNALS  # noqa: PLC0415

    targets = [t for t in activations(graph) if t.qrange is None or not t.qrange.fake_quant]
    # Stand-in tensors (in no graph) that receive ops' internal values, observed like activations.
    probes = {id(n): [Tensor(f"{n.name}/{name}", np.float32, ()) for name in INTERNALS[n.op]]
              for n in graph.nodes if n.op in INTERNALS}
    internal = [(n.name, name, t) for n in graph.nodes if id(n) in probes
                for name, t in zip(INTERNALS[n.op], probes[id(n)], strict=True)]
    targets += [t for _, _, t in internal]
    sampled = needs_sample(method) or any(needs_sample(m) for m in propose)
    k = 5 if sampled else 4
    own = _summarizer(sampled, set(means_for))
    executor = ReferenceExecutor(graph, fetch=[*targets, *(t for r in riders for t in r.fetch)],
                                 summarize=[own] * len(targets) + [r.summarize for r in riders for _ in r.fetch],
                                 probes=probes)
    observers = [make_observer(method, keep_sample=sampled) for _ in targets]
    sums: list[np.ndarray | None] = [None] * len(targets)
    rows = [0] * len(targets)
    n = data.num_samples
    batch = batch_size(graph) if executor.batched else 1
    for start, inputs in zip(range(0, n, batch), data.batches(batch), strict=True):
        if on_batch is not None:
            on_batch(inputs)
        flat = executor.run_batch(executor.samples(inputs, 0, len(inputs[0])))
        for i, obs in enumerate(observers):
            lo, hi, size, chan = flat[k * i: k * i + 4]
            if not int(size):  # a zero-size tensor has no values to observe
                continue
            if not (np.isfinite(lo) and np.isfinite(hi)):
                t = targets[i]
                raise CalibrationError(
                    f"tensor {t.name} (TF {t.tf_name}) is NaN or Inf on the representative data (samples "
                    f"{start}..{min(start + batch, n) - 1}); check the data's range and preprocessing"
                )
            obs.update(float(lo), float(hi), flat[k * i + 4] if sampled else None)
            if chan.size:
                sums[i] = chan if sums[i] is None else sums[i] + chan
                rows[i] += int(size) // chan.size
        at = k * len(targets)
        for r in riders:
            width = sum(r.width(t) for t in r.fetch)
            r.take(flat[at:at + width], len(inputs[0]))
            at += width
        if progress is not None:
            progress(min(start + batch, n), n)
    means: dict[str, np.ndarray] = {}
    minmax: dict[str, tuple[float, float]] = {t.name: (float(obs.lo), float(obs.hi))  # type: ignore[attr-defined]
                                              for t, obs in zip(targets, observers, strict=True)
                                              if np.isfinite(obs.lo)}  # type: ignore[attr-defined]
    observed = {t.name: obs for t, obs in zip(targets, observers, strict=True) if t.name in minmax}
    proposals = {m: Proposals(m, observed) for m in propose if needs_sample(m)}
    for i, (t, obs) in enumerate(zip(targets, observers, strict=True)):  # (every observer is a MinMaxObserver)
        lo, hi = proposals[method][t.name] if t.name in proposals.get(method, {}) else obs.range()
        t.qrange = QuantRange.per_tensor(lo, hi, RangeSource.CALIBRATION)
        if sums[i] is not None and rows[i]:
            means[t.name] = sums[i] / rows[i]  # type: ignore[operator]
    for node in graph.nodes:  # draws differ at run time: cover the distribution, not only the calibration's draws
        r = node.output.qrange if node.op in DISTRIBUTION_RANGES else None
        if r is not None and not r.fake_quant:
            lo, hi = DISTRIBUTION_RANGES[node.op]
            node.output.qrange = QuantRange.per_tensor(min(lo, *r.min), max(hi, *r.max), RangeSource.CALIBRATION)
            if node.output.name in minmax:  # what range selection (--optimize=accuracy) restores as min/max
                seen = minmax[node.output.name]
                minmax[node.output.name] = (min(lo, seen[0]), max(hi, seen[1]))
    ranges: dict[str, dict[str, tuple[float, float]]] = {}
    for node_name, name, t in internal:
        ranges.setdefault(node_name, {})[name] = (min(t.qrange.min), max(t.qrange.max))  # type: ignore[union-attr]
    return CalibrationStats(samples=n, tensors=len(targets) - len(internal), method=method, channel_means=means,
                            internal_ranges=ranges, minmax=minmax, proposals=proposals)
