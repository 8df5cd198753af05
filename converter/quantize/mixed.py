"""Automatic mixed precision (--target_sqnr): the smallest change to an 8-bit model's precision plan whose output
SQNR, measured in LiteRT on held-out representative samples, reaches a target.

A candidate removes one 8-bit rounding. It names a tensor and raises the layer that writes it and every integer
layer that reads it (through same-scale ops: pooling, reshape ...) to int16x8, or to float where LiteRT has no
int16 kernel, so that the tensor stays at 16 bits between them. (One layer alone at int16x8 gains nothing: its
input and output are still rounded to 8 bits around it.) A model layer (a name scope: a Keras layer, every time
step of an unrolled LSTM) is a candidate as a whole: in a recurrence, no single tensor carries much of the error. A graph input fed as float is a candidate too (its
readers raised). Once a layer with weights computes between 16-bit tensors, its int8 weights may be all the error
left there: a second kind of candidate keeps that layer float (weights 4x the bytes). A third kind returns a layer
whose plan gives it weights narrower than 8 bits (``--weight_bits=4``) to 8-bit weights: the search ranks those
by measured gain per added byte with the others, so the narrow weights that cost the output most go back first.

The search is greedy. The 8-bit model is measured first; then, while below the target, the candidate with the
best measured score is taken: SQNR gain per added byte, measured by converting a copy of the calibrated graph with
the plan and running it in LiteRT on the held-out samples. Which candidates are measured at a step:
* with an ``Estimator`` (the SQNR a plan would give, estimated without converting; a hook for a sensitivity
  model), the ``MEASURED_PER_STEP`` it ranks best;
* without one (the default), lazily: every candidate is measured the first time it appears; after that, the
  candidates are re-measured in order of their last score, and the step stops once the best fresh score is at
  least the next one's last score, since raising other tensors does not make a tensor's rounding cost more
  (diminishing returns; at least ``MEASURED_PER_STEP`` are re-measured, which absorbs small departures).
Once the target is met, raised candidates whose removal keeps it are lowered again, least useful first: the
smallest model that meets it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..errors import QuantizationError
from ..ir import Graph, Node, Tensor
from ..litert_worker import LiteRTWorker
from .precision import WEIGHT_BITS, LayerPrecision, Precision, PrecisionPlan
from .quantizer import FLOAT32, QuantizeOptions, QuantizeResult, quantize_graph
from .spec import In, Out, has_kernel, input_role, spec_for

# At most this many candidates are measured per step when an estimator ranks them.
MEASURED_PER_STEP = 3
# The gain per added byte counts every candidate as adding at least this share of the 8-bit file: a raise that
# adds next to nothing is not preferred for that alone over one that gains far more.
MIN_COST_SHARE = 0.01
# Lowering back raised candidates once the target is met: at most this many tries.
MAX_LOWERING_TRIES = 8

Estimator = Callable[[PrecisionPlan], float]  # estimated output SQNR (dB) of a plan


@dataclass(frozen=True)
class Candidate:
    """One change to the plan (node name -> new precision): keep ``tensor`` at 16 bits (kind ``TENSOR``), raise
    every op of one model layer (``LAYER``: ``layer`` and ``tensor`` are its name scope), keep
    ``layer``'s weights float (``FLOAT_WEIGHTS``) or give them 8 bits again (``WEIGHTS_TO_8_BITS``)."""

    layer: str  # the node that writes the tensor, or the graph input's name
    tensor: str  # the tensor's TensorFlow name
    changes: Mapping[str, LayerPrecision]
    kind: str = "tensor"

    TENSOR: ClassVar[str] = "tensor"
    LAYER: ClassVar[str] = "layer"
    FLOAT_WEIGHTS: ClassVar[str] = "float_weights"
    WEIGHTS_TO_8_BITS: ClassVar[str] = "weights_to_8_bits"

    @property
    def key(self) -> tuple[str, str]:
        return self.layer, self.kind


@dataclass(frozen=True)
class Step:
    """The model after one more candidate was taken (the first step: the 8-bit model)."""

    layer: str
    tensor: str
    changed: Mapping[str, str]  # node name -> precision it now runs at
    sqnr_db: float  # measured in LiteRT on the held-out samples
    estimated_db: float | None  # what the estimator predicted for this plan
    tflite_bytes: int
    macs: Mapping[str, int]  # multiply-accumulates per inference, by precision


@dataclass
class PrecisionSearch:
    """What --target_sqnr did: every step, the plan it ended with, and what it cost."""

    target_db: float
    met: bool
    steps: list[Step]
    lowered: list[str]  # layers lowered back to 8 bits once the target was met
    held_out_samples: int
    calibration_samples: int
    measured: int  # models converted and run in LiteRT
    seconds: float = 0.0
    final_sqnr_db: float = float("nan")
    final_bytes: int = 0
    final_macs: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Measured:
    """A candidate plan converted and run: the quantized graph, its file and its held-out SQNR (-inf, with
    ``error``, when LiteRT cannot run it)."""

    plan: PrecisionPlan
    graph: Graph
    result: QuantizeResult
    tflite: bytes
    sqnr_db: float
    error: str = ""


HELD_OUT_EVERY = 5
# Held-out samples measured on at most (spread evenly over the every-fifth ones): each candidate model runs on all of
# them in LiteRT, so they are kept in memory; beyond this the measurement gains little and memory would grow with the
# dataset.
MAX_HELD_OUT = 256


def held_out_indices(n: int) -> np.ndarray:
    """Which of ``n`` representative samples are held out: every fifth (the 5th, 10th ...), 20% spread over the
    whole dataset, so that a dataset ordered by class or source is held out evenly."""
    return np.arange(HELD_OUT_EVERY - 1, n, HELD_OUT_EVERY)


def split_held_out(arrays: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The representative samples split into calibration samples and held-out ones (``held_out_indices``)."""
    n = int(arrays[0].shape[0])
    held = np.zeros(n, bool)
    held[held_out_indices(n)] = True
    return [a[~held] for a in arrays], [a[held] for a in arrays]


def db(signal: float, noise: float) -> float:
    return float("inf") if noise <= 0 else float(10 * np.log10(max(signal, 1e-30) / noise))


def macs(node: Node) -> int:
    """Multiply-accumulates of one inference of ``node`` (layers with weights and matrix products; 0 else)."""
    out = node.outputs[0].size if node.outputs else 0
    w = node.inputs[1] if len(node.inputs) > 1 else None
    if node.op == "conv_2d" and w is not None:  # OHWI
        return out * int(np.prod(w.shape[1:]))
    if node.op == "depthwise_conv_2d" and w is not None:  # 1HW(C*M)
        return out * w.shape[1] * w.shape[2]
    if node.op == "fully_connected" and w is not None:
        return out * w.shape[1]
    if node.op == "transpose_conv" and w is not None and node.inputs[2] is not None:  # OHWI, input 2 the data
        return node.inputs[2].size * int(np.prod(w.shape[:3]))
    if node.op == "batch_matmul" and node.inputs[0] is not None:
        k = node.inputs[0].shape[-2] if getattr(node.attrs, "adj_x", False) else node.inputs[0].shape[-1]
        return out * k
    return 0


def macs_by_precision(graph: Graph, plan: PrecisionPlan) -> dict[str, int]:
    out: dict[str, int] = {}
    for node in graph.nodes:
        m = macs(node)
        if m:
            key = plan.of(node).precision.value if node.name in plan.layers else Precision.FLOAT.value
            out[key] = out.get(key, 0) + m
    return out


class _Evaluator:
    """Converts plans (a copy of the calibrated graph each) and measures them on the held-out samples, in a LiteRT
    worker process (a model LiteRT aborts on is a failed candidate, not a failed conversion). ``prefetch``
    submits plans ahead: LiteRT runs one while the next is converted."""

    def __init__(self, graph: Graph, opts: QuantizeOptions, held_out: Sequence[np.ndarray],
                 worker: LiteRTWorker) -> None:
        from ..frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)

        self.graph, self.opts, self.worker = graph, opts, worker
        self.reference = [np.asarray(r, np.float64) for r in ReferenceExecutor(graph)(list(held_out))]
        self.signal = float(sum(np.sum(r * r) for r in self.reference))
        self.cache: dict[frozenset[tuple[str, LayerPrecision]], Measured] = {}
        self.pending: dict[frozenset[tuple[str, LayerPrecision]], Callable[[], Measured]] = {}

    def prefetch(self, plans: Sequence[PrecisionPlan]) -> None:
        """Convert ``plans`` and submit them to LiteRT now; ``__call__`` takes their results."""
        for plan in plans:
            key = frozenset(plan.layers.items())
            if key not in self.cache and key not in self.pending:
                self.pending[key] = self._submit(plan)

    def _submit(self, plan: PrecisionPlan) -> Callable[[], Measured]:
        from ..backend.writer import write_tflite  # noqa: PLC0415

        g = self.graph.copy()
        res = quantize_graph(g, dataclasses.replace(self.opts, plan=plan))
        model = write_tflite(g)
        future = self.worker.submit(model)

        def measured() -> Measured:
            got = future.result()
            if isinstance(got, str):
                return Measured(plan, g, res, model, float("-inf"), got)
            noise = float(sum(np.sum((r - o.reshape(r.shape)) ** 2) for r, o in zip(self.reference, got, strict=True)))
            return Measured(plan, g, res, model, db(self.signal, noise))

        return measured

    def __call__(self, plan: PrecisionPlan) -> Measured:
        key = frozenset(plan.layers.items())
        if key not in self.cache:
            self.cache[key] = (self.pending.pop(key, None) or self._submit(plan))()
        return self.cache[key]


def model_layers(graph: Graph) -> dict[str, list[Node]]:
    """The ops of each model layer: node names grouped by their first two name scopes (``model/lstm/...``: every
    time step of an unrolled LSTM, every op of a Keras layer)."""
    out: dict[str, list[Node]] = {}
    for node in graph.nodes:
        parts = node.name.split("/")
        if len(parts) > 2:
            out.setdefault("/".join(parts[:2]), []).append(node)
    return out


def candidates(graph: Graph, resolved: PrecisionPlan, opts: QuantizeOptions) -> list[Candidate]:
    """The candidates of the plan ``resolved`` (what each op of ``graph`` runs at now): see the module docstring."""
    eight = {name for name, lp in resolved.layers.items() if lp.precision in (Precision.INT8, Precision.UINT8)}
    integer = {name for name, lp in resolved.layers.items() if lp.precision.is_integer}
    out: list[Candidate] = []

    def raised(node: Node) -> LayerPrecision:
        kernel = has_kernel(spec_for(node.op), np.dtype(np.int16))
        return LayerPrecision(Precision.INT16X8 if kernel else Precision.FLOAT,
                              resolved.of(node).weight_bits, "--target_sqnr")

    def readers(t: Tensor) -> list[Node]:
        found: list[Node] = []
        for c in t.consumers:
            if c.name not in integer:
                continue  # a float reader dequantizes whatever it is given
            found.append(c)
            spec = spec_for(c.op)
            if spec is not None and spec.output is Out.SAME and c.inputs[spec.data_input] is t:
                for y in c.outputs:
                    found.extend(readers(y))
        return found

    sources: list[tuple[str, Tensor, Node | None]] = []
    if np.dtype(opts.input_dtype) == FLOAT32:
        sources += [(t.name, t, None) for t in graph.inputs if t.dtype == np.float32]
    for node in graph.nodes:
        spec = spec_for(node.op)
        if node.name in integer and spec is not None and spec.output is not Out.SAME:
            sources += [(node.name, t, node) for t in node.outputs[:1] if t.dtype == np.float32]
    for name, t, producer in sources:
        members = ([producer] if producer is not None else []) + readers(t)
        changes = {m.name: raised(m) for m in members if m.name in eight}
        if changes:
            out.append(Candidate(name, t.tf_name, changes))
    for scope, nodes in model_layers(graph).items():
        changes = {n.name: raised(n) for n in nodes if n.name in eight}
        if len(changes) > 1:
            out.append(Candidate(scope, scope, changes, Candidate.LAYER))
    for node in graph.nodes:
        spec = spec_for(node.op)
        if resolved.of(node).precision is Precision.INT16X8 and spec is not None and \
                any(input_role(spec, i) is In.WEIGHT for i in range(len(node.inputs))):
            lp = LayerPrecision(Precision.FLOAT, resolved.of(node).weight_bits, "--target_sqnr (weights)")
            out.append(Candidate(node.name, node.outputs[0].tf_name, {node.name: lp}, Candidate.FLOAT_WEIGHTS))
    for node in graph.nodes:
        lp = resolved.of(node)
        if node.name in integer and lp.weight_bits < 8:
            wide = LayerPrecision(lp.precision, 8, "--target_sqnr (weights to 8 bits)")
            out.append(Candidate(node.name, node.outputs[0].tf_name, {node.name: wide}, Candidate.WEIGHTS_TO_8_BITS))
    return out


def search_precision(graph: Graph, opts: QuantizeOptions, held_out: Sequence[np.ndarray], target_db: float,
                     calibration_samples: int, estimator: Estimator | None = None) -> tuple[PrecisionSearch, Measured]:
    """Raise layers of the 8-bit plan in ``opts`` until the held-out SQNR reaches ``target_db`` (module
    docstring). ``graph`` is calibrated and left unquantized; returns what was done and the chosen model."""
    with LiteRTWorker(held_out) as worker:
        return _search(graph, opts, _Evaluator(graph, opts, held_out, worker), target_db, len(held_out[0]),
                       calibration_samples, estimator)


def _search(graph: Graph, opts: QuantizeOptions, evaluate: _Evaluator, target_db: float, held_out_samples: int,
            calibration_samples: int, estimator: Estimator | None) -> tuple[PrecisionSearch, Measured]:
    t0 = time.perf_counter()
    current = evaluate(opts.plan)
    if current.error:
        raise QuantizationError(f"--target_sqnr: LiteRT cannot run the 8-bit model ({current.error})")
    base_bytes = len(current.tflite)
    taken: list[tuple[Candidate, float]] = []  # with the SQNR gain measured when it was taken
    steps = [_step(graph, current, None, None)]
    last: dict[tuple[str, str], float] = {}  # each candidate's score (gain per byte) when last measured
    while current.sqnr_db < target_db:
        assert current.result.plan is not None
        cands = candidates(graph, current.result.plan, opts)
        if not cands:
            break
        estimates: dict[tuple[str, str], float] = {}
        score = functools.partial(_score, current=current, base_bytes=base_bytes)
        tried: list[tuple[Candidate, Measured]] = []
        if estimator is not None:
            now = estimator(current.plan)
            for c in cands:
                estimates[c.key] = estimator(current.plan.with_layers(c.changes))
            ranked = sorted(cands, key=lambda c: -(estimates[c.key] - now) / _cost(graph, c, base_bytes))
            evaluate.prefetch([current.plan.with_layers(c.changes) for c in ranked[:MEASURED_PER_STEP]])
            tried = [(c, evaluate(current.plan.with_layers(c.changes))) for c in ranked[:MEASURED_PER_STEP]]
        else:  # lazy greedy: new candidates first, then the others by their last measured score
            order = [c for c in cands if c.key not in last] + \
                sorted((c for c in cands if c.key in last), key=lambda c: -last[c.key])
            evaluate.prefetch([current.plan.with_layers(c.changes) for c in order if c.key not in last])  # all measured
            for c in order:
                if c.key in last and len(tried) >= MEASURED_PER_STEP and \
                        max(score(m) for _, m in tried) >= last[c.key]:
                    break  # no candidate left can score more than it did when last measured
                m = evaluate(current.plan.with_layers(c.changes))
                tried.append((c, m))
                last[c.key] = score(m)
        best, m = max(tried, key=lambda cm: score(cm[1]))
        if m.sqnr_db <= current.sqnr_db:
            break  # nothing measured helps
        taken.append((best, m.sqnr_db - current.sqnr_db))
        current = m
        steps.append(_step(graph, current, best, estimates.get(best.key)))
    met = current.sqnr_db >= target_db
    lowered: list[str] = []
    if met and len(taken) > 1:
        current, lowered = _lower(evaluate, opts.plan, taken, target_db, current)
    search = PrecisionSearch(target_db, met, steps, lowered, held_out_samples, calibration_samples,
                             len(evaluate.cache), time.perf_counter() - t0, current.sqnr_db, len(current.tflite),
                             macs_by_precision(graph, _resolved(current)))
    return search, current


def _lower(evaluate: _Evaluator, base: PrecisionPlan, taken: list[tuple[Candidate, float]], target_db: float,
           current: Measured) -> tuple[Measured, list[str]]:
    """Drop taken candidates, least measured gain first, while the target still holds and the file is no larger."""
    kept = [c for c, _ in taken]
    lowered: list[str] = []
    for c, _ in sorted(taken, key=lambda cg: cg[1])[:MAX_LOWERING_TRIES]:
        trial = [k for k in kept if k is not c]
        plan = base
        for k in trial:
            plan = plan.with_layers(k.changes)
        m = evaluate(plan)
        if m.sqnr_db >= target_db and len(m.tflite) <= len(current.tflite):
            kept, current = trial, m
            lowered.append(c.layer)
    return current, lowered


def _resolved(m: Measured) -> PrecisionPlan:
    assert m.result.plan is not None
    return m.result.plan


def _step(graph: Graph, m: Measured, cand: Candidate | None, estimate: float | None) -> Step:
    changed = {} if cand is None else {n: _resolved(m).of(n).precision.value for n in cand.changes}
    return Step(cand.layer if cand else "", cand.tensor if cand else "", changed, m.sqnr_db, estimate,
                len(m.tflite), macs_by_precision(graph, _resolved(m)))


def _cost(graph: Graph, c: Candidate, base_bytes: int) -> float:
    """Bytes a candidate is expected to add (weights kept float: 3 more bytes per weight; int16x8: 4 more per
    bias value, int64 instead of int32; weights back to 8 bits: 1 - bits/8 more per weight), never below
    ``MIN_COST_SHARE`` of the 8-bit file."""
    nodes = {n.name: n for n in graph.nodes}
    added = 0
    for name, lp in c.changes.items():
        node = nodes.get(name)
        if node is None:
            continue
        for t in node.inputs[1:]:
            if c.kind == Candidate.WEIGHTS_TO_8_BITS:
                if t is not None and t.is_const and t.data is not None and t.data.ndim > 1:
                    added += int(t.data.size * (8 - min(WEIGHT_BITS)) / 8)
            elif t is not None and t.is_const and t.data is not None:
                added += 3 * t.data.size if lp.precision is Precision.FLOAT else (4 * t.data.size if t.data.ndim == 1
                                                                                  else 0)
    return max(float(added), MIN_COST_SHARE * base_bytes)


def _score(m: Measured, current: Measured, base_bytes: int) -> float:
    """A measured candidate's SQNR gain (dB) per byte it adds to the current model."""
    return (m.sqnr_db - current.sqnr_db) / _cost_measured(m, current, base_bytes)


def _cost_measured(m: Measured, current: Measured, base_bytes: int) -> float:
    return max(float(len(m.tflite) - len(current.tflite)), MIN_COST_SHARE * base_bytes)
