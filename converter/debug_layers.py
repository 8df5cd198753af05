"""The per-layer report (--debug_layers): which quantized op, and which model layer, costs the model its accuracy.

For every quantized op, on the first ``--debug_samples`` representative samples:
  * local error: the op alone quantized, run on its float inputs (read on their grids, with its quantized
    constants, its output on its grid) against its float output (``sensitivity.local_sqnr``);
  * cumulative error: its output tensor in the converted model, run in LiteRT with every tensor kept, against the
    same tensor of the float model (the IR after the passes, run by the reference executor);
  * effect: the output SQNR gained when it stays float, estimated by simulating the integer model with and
    without it (``sensitivity.effects``).
Ops are grouped into model layers (``sensitivity.layers``: every op of one Keras layer, all time steps of a
recurrent one). Each layer's effect is estimated the same way; the ``MEASURED`` layers estimated best are then
converted again with the layer float and run in LiteRT, which measures their effect. Layers are ranked by effect:
measured ones first, then by estimate.

Effects are judged on data the model was not calibrated on, two-fold (``held_out_folds``): the graph calibrated
(min/max) on one half of the representative samples is judged on ``--debug_samples``/2 of the other half, and the
other way round, noise summed. Judged on the samples calibrated on, no value ever leaves its range, so the clipping
that new data meets is invisible: the zoo LSTM's dense head measured +0.01 dB there and gains +9.9 dB on held-out
inputs (its outputs leave the calibrated range), while the LSTM layer measured +10.7 dB and gains +0.4 dB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .ir import Graph, Tensor
from .litert_worker import run_litert
from .config import CalibrationMethod
from .quantize.calibrate import calibrate
from .quantize.dataset import Dataset
from .quantize.grids import resolve_grids
from .quantize.quantizer import QuantizeOptions, quantize_graph
from .quantize.range_select import halves
from .quantize.sensitivity import (Effect, Fold, dequantized_constants, effects, gain_db, layer_pattern, layers,
                                   local_sqnr, noise_energy, sqnr_db, with_precision)

MEASURED = 3  # layers measured in LiteRT
FOLD_SAMPLES = 512  # at most this many representative samples are calibrated on by the two folds (half each)
OP_EFFECTS = 32  # at most this many ops get an estimate of their own effect (one simulation each)


@dataclass(frozen=True)
class OpReport:
    """One quantized op."""

    node: str
    op: str
    layer: str
    tensor: str  # its (first) output
    tf_name: str
    local_sqnr_db: float
    sqnr_db: float  # cumulative, in LiteRT
    max_abs_error: float
    scale: float  # quantization step of the output; max_abs_error / scale is the error in LSBs
    effect_db: float | None = None  # estimated; None: not estimated (see OP_EFFECTS)

    @property
    def max_error_lsb(self) -> float:
        return self.max_abs_error / self.scale if self.scale else float("inf")


@dataclass(frozen=True)
class LayerReport:
    """One model layer: its ops and the output SQNR gained when they stay float."""

    name: str
    pattern: str  # --float_layers keeps exactly these ops float
    ops: tuple[str, ...]
    effect: Effect
    rank: int


@dataclass(frozen=True)
class DebugReport:
    layers: list[LayerReport]  # ranked
    ops: list[OpReport]  # by their layer's rank, then by effect or local error
    samples: int
    sqnr_db: float  # the converted model's output SQNR on the samples, in LiteRT


def float_values(graph: Graph, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Every activation of the float ``graph`` on ``inputs``, [samples, *IR shape], by tensor name."""
    from .frontend.reference import ReferenceExecutor, can_run  # noqa: PLC0415 (TensorFlow)

    targets: list[Tensor] = [t for n in graph.nodes if can_run(n) for t in n.outputs]
    values = ReferenceExecutor(graph, fetch=targets)(list(inputs))
    n = len(inputs[0])
    out = {t.name: np.asarray(x).reshape((n, *t.shape)) for t, x in zip(graph.inputs, inputs, strict=True)}
    out.update((t.name, np.asarray(v).reshape((n, *t.shape))) for t, v in zip(targets, values, strict=True))
    return out


def held_out_folds(float_graph: Graph, opts: QuantizeOptions, data: Dataset, samples: int) -> list[Fold]:
    """Two copies of the calibrated ``float_graph``, each calibrated again (min/max; ``opts``' calibration-derived
    fields with it) on one half of the first ``FOLD_SAMPLES`` samples of ``data`` and judged on ``samples``/2 of
    the other half (module docstring). With fewer than two samples: the graph itself on them."""
    n = min(data.num_samples, FOLD_SAMPLES)
    half = n // 2
    if half < 1:
        return [_fold(float_graph, opts, data.head(n))]
    split = halves(data.select(np.arange(2 * half)))  # streamed: only the judged samples are held in memory
    out = []
    for k in (0, 1):
        g = float_graph.copy()
        cal = calibrate(g, split[k], CalibrationMethod.MINMAX, means_for=tuple(opts.activation_means))
        o = replace(opts, activation_means=cal.channel_means if opts.activation_means else opts.activation_means,
                    internal_ranges=cal.internal_ranges)
        out.append(_fold(g, o, split[1 - k].head(max(1, samples // 2))))
    return out


def _fold(graph: Graph, opts: QuantizeOptions, inputs: Sequence[np.ndarray]) -> Fold:
    q = graph.copy()
    quantize_graph(q, opts)
    return Fold(graph, opts, inputs, dequantized_constants(q))


def _measured_noise(fold: Fold, nodes: Sequence[str], reference: Sequence[np.ndarray]) -> float:
    """The fold's model converted with ``nodes`` float, run in LiteRT on its inputs: output noise energy."""
    from .backend.writer import write_tflite  # noqa: PLC0415

    g = fold.graph.copy()
    quantize_graph(g, with_precision(fold.opts, nodes))
    return noise_energy(reference, run_litert(write_tflite(g), fold.inputs)[0])


def analyse(float_graph: Graph, opts: QuantizeOptions, quantized: Graph, tflite: bytes,
            inputs: Sequence[np.ndarray], data: Dataset) -> DebugReport:
    """The per-layer report of ``tflite`` (``quantized``: its graph), converted from the calibrated
    ``float_graph`` with ``opts``, on ``inputs``; effects judged on folds of ``data``, the representative samples
    (module docstring)."""
    values = float_values(float_graph, inputs)
    reference = [values[t.name] for t in float_graph.outputs]
    grids = resolve_grids(float_graph, opts)
    integer = [n for n in float_graph.nodes if n.name in grids.integer]
    outs, kept = run_litert(tflite, inputs, keep=[n.outputs[0].name for n in integer if n.outputs])
    base = sqnr_db(reference, outs)
    constants = dequantized_constants(quantized)
    local = local_sqnr(float_graph, values, grids, constants)

    groups = layers(float_graph, [n.name for n in integer])
    folds = held_out_folds(float_graph, opts, data, len(inputs[0]))
    estimated = effects(folds, groups)
    from .frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)

    fold_refs = [[np.asarray(r, np.float64) for r in ReferenceExecutor(f.graph)(list(f.inputs))] for f in folds]
    fold_base = sum(_measured_noise(f, (), r) for f, r in zip(folds, fold_refs, strict=True))
    measured = {e.name: gain_db(fold_base, sum(_measured_noise(f, e.nodes, r)
                                               for f, r in zip(folds, fold_refs, strict=True)))
                for e in estimated[:MEASURED]}
    ranked = sorted(estimated, key=lambda e: (e.name not in measured, -measured.get(e.name, e.estimated_db)))
    layer_rows = [LayerReport(e.name, layer_pattern(e.name, groups[e.name]), e.nodes,
                              Effect(e.name, e.nodes, e.estimated_db, measured.get(e.name)), rank)
                  for rank, e in enumerate(ranked, 1)]

    op_effect = {e.nodes[0]: e.estimated_db for e in estimated if len(e.nodes) == 1}
    wanted = [n for row in layer_rows for n in sorted(row.ops, key=lambda n: local.get(n, np.inf))
              if n not in op_effect and len(row.ops) > 1][:max(0, OP_EFFECTS - len(op_effect))]
    if wanted:
        op_effect.update({e.name: e.estimated_db for e in effects(folds, {n: [n] for n in wanted})})
    layer_of = {n: row for row in layer_rows for n in row.ops}
    rows = []
    for node in integer:
        y = node.outputs[0]
        got = kept.get(y.name)
        ref = values[y.name]
        cumulative = sqnr_db([ref], [got]) if got is not None else float("nan")
        err = float(np.abs(ref - got.reshape(ref.shape)).max()) if got is not None else float("nan")
        p = grids.produced.get(y.name)
        rows.append(OpReport(node.name, node.op, layer_of[node.name].name, y.name, y.tf_name,
                             local.get(node.name, float("nan")), cumulative, err, float(p.scale[0]) if p else 0.0,
                             op_effect.get(node.name)))
    rows.sort(key=lambda r: (layer_of[r.node].rank, -(r.effect_db if r.effect_db is not None else -np.inf),
                             r.local_sqnr_db))
    return DebugReport(layer_rows, rows, len(inputs[0]), base)
