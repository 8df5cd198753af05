"""What each quantized op and layer costs at the model's output: the model simulated as its integer kernels
compute it, on a few samples, for any precision plan, without converting or running a runtime.

The simulation runs the float graph node by node (TensorFlow's reference ops, eagerly: nothing to compile) with
every activation read on the grid the quantizer gives it for that plan (``grids.resolve_grids``: rounded half away
from zero and clipped, as a quantizing kernel writes it) and every integer node computing with its quantized
constants (weights, corrected biases). What it leaves out is the kernels' own fixed-point arithmetic; on the
trained test models its output SQNR is within about 1 dB of LiteRT's.

The effect of running some ops at another precision (``effects``) is the output SQNR of the simulated model with
the plan changed, minus the SQNR with the plan as given: the quantizer's decisions move with the plan (a float op's
readers get their own grids, sums stop sharing a range ...) since the grids come from the quantizer itself. It is
judged on ``Fold``s: models calibrated on some samples and run on others, noise summed, so that it counts what new
data costs (values clipped beyond the calibrated ranges) as well as rounding.

A layer (``layers``) is the set of ops one model layer became: the ops under one name scope below the model's own
(``model/conv2d_1/...``, every time step of ``model/lstm/...``), which ``--float_layers 'model/lstm/.*'`` names.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Graph, Node, QuantParams
from .grids import Grids, resolve_grids
from .precision import LayerPrecision, Precision
from .qmath import dequantize_array, quantize_array
from .quantizer import QuantizeOptions

FLOAT = LayerPrecision(Precision.FLOAT, reason="kept float to measure its effect")
Constants = Mapping[str, Sequence[np.ndarray | None]]
Hook = Callable[[Node, list[np.ndarray | None]], list[np.ndarray | None]]


CHUNK = 1 << 17  # values ``on_grid`` rounds at a time (two float64 buffers of this size stay in cache)


def on_grid(x: np.ndarray, p: QuantParams, dtype: type = np.float64) -> np.ndarray:
    """``x`` rounded and clipped onto the per-tensor grid ``p`` (as a quantizing kernel writes it), as reals
    (float64). The values of ``dequantize_array(quantize_array(x))``, bit for bit, computed in float64 throughout
    and in cache-sized chunks (the simulation's hot loop: a 112x112x96 activation of 19 samples takes ~2.5x less
    time): round half away from zero is trunc(v + copysign(0.5, v)) (= sign(v) floor(|v| + 0.5), as
    ``quantize_array``); the integer codes are exact in float64, and adding -zero_point, not subtracting it, gives
    +0.0 where the integer path gives 0. ``dtype`` float32: those float64 values rounded to float32 as the last
    product is written (what ``.astype(np.float32)`` of them gives, without the float64 copy: what a node reads)."""
    scale, zp = np.asarray(p.scale[0], np.float64), np.asarray(p.zero_point[0])
    if np.dtype(p.dtype).kind not in "iu" or np.dtype(p.dtype).itemsize > 4:  # int4 and the like: the slow path
        return dequantize_array(quantize_array(x, scale, zp, p.dtype), scale, zp).astype(dtype, copy=False)
    info = np.iinfo(p.dtype)
    flat = np.asarray(x).reshape(-1)
    out = np.empty(flat.shape, dtype)
    wide = np.dtype(dtype) == np.float64
    buffer = None if wide else np.empty(min(CHUNK, flat.size), np.float64)
    half = np.empty(min(CHUNK, flat.size), np.float64)
    minus_zp = np.float64(-int(zp))  # (-zp as an integer: +0.0 where zp is 0, not -0.0)
    for start in range(0, flat.size, CHUNK):
        size = min(CHUNK, flat.size - start)
        q, h = out[start:start + size] if wide else buffer[:size], half[:size]  # type: ignore[index]
        np.divide(flat[start:start + size], scale, out=q, dtype=np.float64)
        q += zp
        np.copysign(0.5, q, out=h)
        q += h
        np.trunc(q, out=q)
        np.clip(q, int(info.min), int(info.max), out=q)
        q += minus_zp
        np.multiply(q, scale, out=out[start:start + size])
    return out.reshape(np.shape(x))


def sqnr_db(reference: Sequence[np.ndarray], test: Sequence[np.ndarray]) -> float:
    """Output SQNR in dB over all outputs (first axis: samples), the noise energy the sum of ``sample_noise``
    (inf when equal)."""
    signal = sum(float(np.sum(np.asarray(r, np.float64) ** 2)) for r in reference)
    noise = float(sample_noise(reference, test).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(max(signal, 1e-30) / noise))


def _as_tensor(a: np.ndarray) -> Any:  # noqa: ANN401
    """A constant argument as a TensorFlow tensor (a float one as float32)."""
    from ..tf_runtime import tensorflow  # noqa: PLC0415

    return tensorflow().convert_to_tensor(a.astype(np.float32, copy=False) if a.dtype.kind == "f" else a)


def evaluate(node: Node, args: Sequence[np.ndarray | None], samples: int | None = None) -> list[np.ndarray]:
    """``node`` on samples: each activation argument is [samples, *IR shape], as are the results (one eager call,
    or one per sample when the op bakes in batch 1). The node reads at least one activation, or is a random op
    (``samples`` of them: each sample draws anew, as each LiteRT invocation does, in one stream from its start)."""
    from ..frontend.reference import derived, evaluate_node, keeps_batch, new_draws  # noqa: PLC0415 (TensorFlow)

    acts = [i for i, t in enumerate(node.inputs) if t is not None and not t.is_const]
    args = [derived(a, "tensor", _as_tensor) if i not in acts and a is not None and not node.stateful
            else a.astype(np.float32, copy=False) if a is not None and a.dtype.kind == "f" else a
            for i, a in enumerate(args)]
    n = args[acts[0]].shape[0] if acts else samples  # type: ignore[union-attr]
    assert n is not None, f"{node.name}: no activation input and no sample count"
    if node.stateful:
        with new_draws():
            per = [evaluate_node(node, [a[s] if i in acts else a for i, a in enumerate(args)])  # type: ignore[index]
                   for s in range(n)]
        outs = [np.stack([p[k] for p in per]) for k in range(len(per[0]))]
    elif keeps_batch(node):  # [samples, 1, ...] -> [samples, ...] -> one call
        outs = evaluate_node(node, [a.reshape(-1, *a.shape[2:]) if i in acts else a  # type: ignore[union-attr]
                                    for i, a in enumerate(args)])
    else:
        per = [evaluate_node(node, [a[s] if i in acts else a for i, a in enumerate(args)])  # type: ignore[index]
               for s in range(n)]
        outs = [np.stack([p[k] for p in per]) for k in range(len(per[0]))]
    return [np.asarray(o).reshape((n, *t.shape)) for o, t in zip(outs, node.outputs, strict=True)]


def dequantized_constants(quantized: Graph) -> dict[str, list[np.ndarray | None]]:
    """Per node of a quantized graph, the real value of each quantized constant input (None for the others)."""
    out: dict[str, list[np.ndarray | None]] = {}
    for node in quantized.nodes:
        consts: list[np.ndarray | None] = []
        for t in node.inputs:
            q = t.quant if t is not None and t.is_const else None
            if q is None or t.data is None or t.data.dtype.kind not in "iu":  # type: ignore[union-attr]
                consts.append(None)
                continue
            axis = q.axis if q.per_channel and len(q.scale) > 1 else None
            scale, zp = (q.scale_array(), q.zero_point_array()) if axis is not None else \
                (q.scale_array()[0], q.zero_point_array()[0])
            consts.append(dequantize_array(t.data, scale, zp, axis).astype(np.float32))  # type: ignore[union-attr]
        if any(c is not None for c in consts):
            out[node.name] = consts
    return out


# What a simulation may hold: every activation of every simulated sample, in float64 (``simulate`` keeps them all).
SIMULATION_BUDGET = 2**30


def samples_within_budget(graph: Graph, wanted: int, budget: int = SIMULATION_BUDGET) -> int:
    """How many of ``wanted`` samples ``simulate`` can run on ``graph`` within ``budget`` bytes (at least
    one): MobileNetV2 (224) takes 56 MB a sample (19 samples), the trained test models under 1 MB (all 256)."""
    per_sample = 8 * sum(int(np.prod([max(d, 1) for d in t.shape])) for t in graph.tensors() if not t.is_const)
    return max(1, min(wanted, budget // max(per_sample, 1)))


@dataclass(frozen=True)
class Simulated:
    """One simulation (``resimulate``), kept for the next: every activation computed, and per node what it was
    computed from (its grids and its integer constants)."""

    env: Mapping[str, np.ndarray]
    basis: Mapping[str, tuple[list[QuantParams | None], Sequence[np.ndarray | None] | None]]


def _same(a: Sequence[np.ndarray | None] | None, b: Sequence[np.ndarray | None] | None) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(x is y or (x is not None and y is not None and np.array_equal(x, y))
                                    for x, y in zip(a, b, strict=True))


def ancestors(graph: Graph, names: Collection[str]) -> set[str]:
    """The nodes whose outputs the tensors ``names`` depend on (their producers and theirs, up to the inputs)."""
    todo = [t.producer for t in graph.tensors() if t.name in names and t.producer is not None]
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        todo.extend(t.producer for t in node.inputs if t is not None and t.producer is not None)
    return seen


def simulate(graph: Graph, inputs: Sequence[np.ndarray], grids: Grids, constants: Constants,
             keep: bool = False) -> dict[str, np.ndarray]:
    """The integer model ``grids`` describes, simulated on ``inputs`` (one array per graph input, first axis =
    samples): the outputs by name (left on their grids), or with ``keep`` every activation as computed."""
    env = dict(resimulate(graph, inputs, grids, constants).env)
    outs = dict(zip((t.name for t in graph.outputs), on_output_grids(env, [t.name for t in graph.outputs], grids),
                    strict=True))
    return {**env, **outs} if keep else outs


def on_output_grids(env: Mapping[str, np.ndarray], outputs: Sequence[str], grids: Grids) -> list[np.ndarray]:
    """The graph outputs ``outputs`` of a run's activations ``env`` as the model leaves them: on their output
    grids (an output left float as computed)."""
    return [on_grid(env[o], grids.outputs[o]) if o in grids.outputs else env[o] for o in outputs]


def last_readers(graph: Graph) -> dict[str, int]:
    """Each activation some node reads: the position in ``graph.nodes`` of the last node reading it."""
    last: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t is not None and not t.is_const:
                last[t.name] = i
    return last


def resimulate(graph: Graph, inputs: Sequence[np.ndarray], grids: Grids, constants: Constants,
               until: Collection[str] | None = None, previous: Simulated | None = None,
               hook: Hook | None = None, drop: bool = False) -> Simulated:
    """``simulate``'s activations (graph outputs as computed, not yet on their output grids), with ``until``
    (tensor names) only those the named tensors depend on. ``previous``: an earlier run on the same ``inputs``; a
    node whose grids and integer constants are that run's, and whose inputs it computed the same, takes that
    run's values instead of running again (the same values: a node's result depends on nothing else).
    ``hook(node, args)``: called as each node is reached, with the arguments it is about to run on (activations
    read on their grids, integer constants), returns those it runs on instead (adaptive rounding rounds a layer
    there and runs it with its codes; such a run is no ``previous`` for another). ``drop``: keep each activation
    only until its last reader ran (the returned ``env`` then holds none of them: for a hook that gathers)."""
    needed = None if until is None else ancestors(graph, until)
    last = last_readers(graph) if drop else None
    env = {t.name: np.asarray(x).reshape((len(x), *t.shape)) for t, x in zip(graph.inputs, inputs, strict=True)}
    basis: dict[str, tuple[list[QuantParams | None], Sequence[np.ndarray | None] | None]] = {}
    fresh: set[str] = set()  # activations that differ from ``previous``'s (or that it did not compute)
    for position, node in enumerate(graph.nodes):
        if needed is not None and node.name not in needed:
            continue
        if not node.stateful and not any(t is not None and not t.is_const for t in node.inputs):
            continue  # a constant subgraph (folded before quantization)
        consts = constants.get(node.name) if node.name in grids.integer else None
        reads = [grids.read(node.name, i) for i in range(len(node.inputs))]
        basis[node.name] = (reads, consts)
        if previous is not None and node.name in previous.basis \
                and all(t.name in previous.env for t in node.outputs) \
                and not any(t is not None and t.name in fresh for t in node.inputs) \
                and previous.basis[node.name][0] == reads and _same(previous.basis[node.name][1], consts):
            for t in node.outputs:
                env[t.name] = previous.env[t.name]
            continue
        args: list[np.ndarray | None] = []
        for i, t in enumerate(node.inputs):
            if t is None:
                args.append(None)
            elif t.is_const:
                c = consts[i] if consts is not None and i < len(consts) else None
                args.append(c if c is not None else t.data)
            else:
                p = reads[i]
                read = np.float32 if hook is None else np.float64  # (a hook gets the reals as float64)
                args.append(env[t.name] if p is None else on_grid(env[t.name], p, read))
        if hook is not None:
            args = hook(node, args)
        for t, y in zip(node.outputs, evaluate(node, args, len(inputs[0]) if inputs else 1), strict=True):
            if last is None or t.name in last:
                env[t.name] = y
                fresh.add(t.name)
        if last is not None:
            for t in node.inputs:
                if t is not None and not t.is_const and last.get(t.name) == position:
                    env.pop(t.name, None)
    return Simulated(env, basis)


def with_precision(opts: QuantizeOptions, nodes: Sequence[str], precision: LayerPrecision = FLOAT) -> QuantizeOptions:
    """``opts`` with the named nodes at ``precision``."""
    return dataclasses.replace(opts, plan=opts.plan.with_layers({n: precision for n in nodes}))


@dataclass(frozen=True)
class Effect:
    """Output SQNR gained (dB; negative: lost) when a set of ops runs at another precision."""

    name: str
    nodes: tuple[str, ...]
    estimated_db: float
    measured_db: float | None = None
    estimated_se_db: float = 0.0  # the estimate's jackknife standard error over the samples simulated

    @property
    def db(self) -> float:
        return self.measured_db if self.measured_db is not None else self.estimated_db


@dataclass(frozen=True)
class Fold:
    """A calibrated float ``graph`` and the ``opts`` it is quantized with, judged on ``inputs`` (one array per graph
    input, first axis = samples) with its quantized ``constants``. Calibrated on other samples than ``inputs``, it
    shows what the model does on new data: clipping where they leave the calibrated ranges, which the samples
    calibrated on never show."""

    graph: Graph
    opts: QuantizeOptions
    inputs: Sequence[np.ndarray]
    constants: Constants


def sample_noise(reference: Sequence[np.ndarray], test: Sequence[np.ndarray]) -> np.ndarray:
    """Each sample's (first axis) squared error of ``test`` against ``reference``, summed over all outputs: its
    noise energy. The noise energy of several samples is the sum of theirs (the one definition: every SQNR and
    gain here is computed from these)."""
    return np.sum([((np.asarray(r, np.float64) - np.asarray(t, np.float64).reshape(np.shape(r))) ** 2)
                   .reshape(len(r), -1).sum(1) for r, t in zip(reference, test, strict=True)], axis=0)


def jackknife_gain_db(plain: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """The output-SQNR gain (dB) of a configuration whose per-sample noise energies are ``other`` over one with
    ``plain`` (the same samples, paired), 10 log10(sum plain / sum other), and its jackknife standard error: the
    spread of the gain recomputed with each sample left out, sqrt((n-1)/n sum (g_i - mean g)^2) (Efron's
    jackknife; the gain is a ratio of sums, which a few large-output samples can dominate, and the jackknife sees
    exactly that)."""
    a, b = np.asarray(plain, np.float64), np.asarray(other, np.float64)
    n = len(a)
    if not np.all(np.isfinite(b)):
        return -np.inf, 0.0
    g = float(10 * np.log10(max(a.sum(), 1e-30) / max(b.sum(), 1e-30)))
    if n < 2:
        return g, np.inf
    loo = 10 * np.log10(np.maximum(a.sum() - a, 1e-30) / np.maximum(b.sum() - b, 1e-30))
    return g, float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))


def effects(folds: Sequence[Fold], candidates: Mapping[str, Sequence[str]],
            precision: LayerPrecision = FLOAT) -> list[Effect]:
    """For each candidate (name -> node names), the simulated output SQNR gained when those nodes alone run at
    ``precision`` instead of each fold's plan, against the fold's float graph on its inputs, from each sample's
    noise energy (``sample_noise``) over the samples of all folds: the gain and its jackknife standard error
    (``jackknife_gain_db``); best first.

    Each candidate's simulation reruns only what the changed plan changes (``resimulate``'s ``previous``: the
    fold's plain run): the nodes upstream of the candidate, and any other whose grids, constants and inputs are
    the plain run's, take its values, which are the values they would compute (a node's result depends on nothing
    else), so the estimates are those of one full simulation per candidate, bit for bit. Held per fold: the plain
    run's activations and one candidate's."""
    base: list[np.ndarray] = []
    samples: dict[str, list[np.ndarray]] = {name: [] for name in candidates}
    for f in folds:
        outputs = [t.name for t in f.graph.outputs]
        exact = resolve_grids(f.graph, with_precision(f.opts, [n.name for n in f.graph.nodes]))
        reference = on_output_grids(resimulate(f.graph, f.inputs, exact, f.constants).env, outputs, exact)
        grids = resolve_grids(f.graph, f.opts)
        plain = resimulate(f.graph, f.inputs, grids, f.constants)
        base.append(sample_noise(reference, on_output_grids(plain.env, outputs, grids)))
        for name, nodes in candidates.items():
            grids = resolve_grids(f.graph, with_precision(f.opts, nodes, precision))
            run = resimulate(f.graph, f.inputs, grids, f.constants, previous=plain)
            samples[name].append(sample_noise(reference, on_output_grids(run.env, outputs, grids)))

    def effect(name: str, nodes: Sequence[str]) -> Effect:
        if not folds:
            return Effect(name, tuple(nodes), 0.0)
        db, se = jackknife_gain_db(np.concatenate(base), np.concatenate(samples[name]))
        return Effect(name, tuple(nodes), db, estimated_se_db=se)

    return sorted((effect(name, nodes) for name, nodes in candidates.items()), key=lambda e: -e.estimated_db)


def local_sqnr(graph: Graph, values: Mapping[str, np.ndarray], grids: Grids, constants: Constants) -> dict[str, float]:
    """Each integer node's own error: the node run on its float inputs (``values``: float activations by name,
    [samples, *IR shape]) read on their grids, with its quantized constants and its output on its grid, against
    its float output (SQNR, dB)."""
    out: dict[str, float] = {}
    for node in graph.nodes:
        y = node.outputs[0] if node.outputs else None
        if node.name not in grids.integer or y is None or y.name not in values:
            continue
        if any(t is not None and not t.is_const and t.name not in values for t in node.inputs):
            continue
        consts = list(constants.get(node.name, [])) + [None] * len(node.inputs)
        args: list[np.ndarray | None] = []
        for i, t in enumerate(node.inputs):
            if t is None or t.is_const:
                args.append(None if t is None else consts[i] if consts[i] is not None else t.data)
            else:
                p = grids.read(node.name, i)
                args.append(values[t.name] if p is None else on_grid(values[t.name], p))
        got = evaluate(node, args)[0]
        if y.name in grids.produced:
            got = on_grid(got, grids.produced[y.name])
        out[node.name] = sqnr_db([values[y.name]], [got])
    return out


def layers(graph: Graph, nodes: Sequence[str]) -> dict[str, list[str]]:
    """The ``nodes`` grouped by model layer: the first name scope below the one every node shares
    (``model/lstm/step_3/mul`` -> ``model/lstm``); a node with no deeper scope is a layer of its own."""
    names = [n.name for n in graph.nodes]
    parts = [n.split("/") for n in names]
    common = 0
    while parts and all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    out: dict[str, list[str]] = {}
    for name in nodes:
        scope = "/".join(name.split("/")[:common + 1])
        out.setdefault(scope, []).append(name)
    return out


def layer_pattern(layer: str, members: Sequence[str]) -> str:
    """What ``--float_layers`` takes to keep the layer float: its op's name, or a regular expression for its
    scope."""
    return members[0] if len(members) == 1 else re.escape(layer) + "/.*"
