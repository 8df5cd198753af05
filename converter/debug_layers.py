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
converted again with the layer float and run in LiteRT on every held-back sample of the folds (``measured_inputs``),
which measures their effect and its standard error. If none of them stands out (``Measured.stands_out``), the next
best estimated are measured, one at a time, until one does (at most ``MEASURED_MAX`` in all). Layers are ranked:
those that stand out first, then the other measured gains, then the rest by estimate, then measured losses
(``rank_layers``): the layer ranked first is one whose measured effect is positive whenever one of those measured is.

The layer ranked first is the best of the k measured, and the best of k noisy gains is biased upwards (the winner's
curse): on the zoo's EfficientNetB0, 16 samples, the 4th layer measured gained +0.36 dB with standard error 0.31,
positive on both folds, and -0.11 dB held out. So the bar grows with k. Let z = gain / its standard error. If no
measured layer truly gains, each z is about normal with mean at most 0 and variance 1, so the chance that any of
the k exceeds c is at most k (1 - Phi(c)) (a union bound: true however the k measurements correlate; they share
their samples). The bar c_k = Phi^-1(1 - alpha / k) holds it to alpha = 1 - Phi(1) = 0.159, the rate of a
one-standard-error bar on a single layer: c_k = 1.00, 1.62, 1.75, 2.11, 2.22 for k = 1, 3, 4, 9, 12 (``bar``).
The standard error shrinks as 1/sqrt(n) with the n samples measured, so the measurement runs on the folds' whole
held-back halves (up to ``MEASURED_SAMPLES`` each), not only the ``--debug_samples`` the simulation judges: a LiteRT
run costs little beside the conversion before it. The effect and standard error reported are those measured, on
all those samples.

Why measure further: in a deep network whose error is spread over many layers (the zoo's MobileNetV2: 64 layers,
none worth more than 0.3 dB), keeping one layer float removes its own rounding but also reshuffles the rounding of
every layer after it, a zero-mean change as large as the layer's own effect on a handful of samples: the same
layers measured +0.29 dB in the simulation and -0.03 dB in LiteRT on one fold, +0.24 and -1.76 dB on the other
(expanded_conv_project), and +0.20 dB held out. A layer near the output has little after it to reshuffle, so its
effect stands out of the noise (the classifier head: +0.32 dB on both, held out +0.07 with standard error 0.03).

Effects are judged on data the model was not calibrated on, two-fold (``held_out_folds``): the graph calibrated
(min/max) on one half of the representative samples is judged on ``--debug_samples``/2 of the other half, and the
other way round, noise summed. Judged on the samples calibrated on, no value ever leaves its range, so the clipping
that new data meets is invisible: the zoo LSTM's dense head measured +0.01 dB there and gains +9.9 dB on held-out
inputs (its outputs leave the calibrated range), while the LSTM layer measured +10.7 dB and gains +0.4 dB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from .ir import Graph, Tensor
from .litert_worker import LiteRTWorker, run_litert_keeping
from .config import CalibrationMethod
from .quantize.calibrate import calibrate
from .quantize.dataset import Dataset
from .quantize.grids import resolve_grids
from .quantize.quantizer import QuantizeOptions, quantize_graph
from .quantize.range_select import gain_db as jackknife_gain_db, halves, measure_model
from .quantize.sensitivity import (Effect, Fold, dequantized_constants, effects, gain_db, layer_pattern, layers,
                                   local_sqnr, sqnr_db, with_precision)

MEASURED = 3  # layers measured in LiteRT, the best estimated ...
MEASURED_MAX = 12  # ... and if none of them stands out, the next best estimated, one at a time, up to this many in all
FOLD_SAMPLES = 512  # at most this many representative samples are calibrated on by the two folds (half each)
OP_EFFECTS = 32  # at most this many ops get an estimate of their own effect (one simulation each)
MEASURED_SAMPLES = 128  # at most this many held-back samples per fold are run in LiteRT for each layer measured
FALSE_PASS = 1 - NormalDist().cdf(1.0)  # 0.159: how often a layer that does not gain passes a one-SE bar


def bar(k: int) -> float:
    """How many standard errors the best of ``k`` measured gains must be above zero (module docstring):
    Phi^-1(1 - FALSE_PASS / k)."""
    return NormalDist().inv_cdf(1 - FALSE_PASS / max(k, 1))


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
    measured_se_db: float | None = None  # the measured effect's standard error over the samples measured


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


def _fold_halves(data: Dataset) -> tuple[Dataset, Dataset] | None:
    """The two halves of the first ``FOLD_SAMPLES`` samples of ``data`` (None: fewer than two samples)."""
    half = min(data.num_samples, FOLD_SAMPLES) // 2
    return halves(data.select(np.arange(2 * half))) if half >= 1 else None  # streamed: read only when needed


def held_out_folds(float_graph: Graph, opts: QuantizeOptions, data: Dataset, samples: int) -> list[Fold]:
    """Two copies of the calibrated ``float_graph``, each calibrated again (min/max; ``opts``' calibration-derived
    fields with it) on one half of the first ``FOLD_SAMPLES`` samples of ``data`` and judged on ``samples``/2 of
    the other half (module docstring). With fewer than two samples: the graph itself on them."""
    split = _fold_halves(data)
    if split is None:
        return [_fold(float_graph, opts, data.head(data.num_samples))]
    out = []
    for k in (0, 1):
        g = float_graph.copy()
        cal = calibrate(g, split[k], CalibrationMethod.MINMAX, means_for=tuple(opts.activation_means))
        o = replace(opts, activation_means=cal.channel_means if opts.activation_means else opts.activation_means,
                    internal_ranges=cal.internal_ranges)
        out.append(_fold(g, o, split[1 - k].head(max(1, samples // 2))))
    return out


def measured_inputs(data: Dataset) -> list[list[np.ndarray]]:
    """Each ``held_out_folds`` fold's held-back half (its first ``MEASURED_SAMPLES``), in the same order: the
    samples its LiteRT measurements run on (module docstring)."""
    split = _fold_halves(data)
    if split is None:
        return [data.head(data.num_samples)]
    return [split[1 - k].head(MEASURED_SAMPLES) for k in (0, 1)]


def _fold(graph: Graph, opts: QuantizeOptions, inputs: Sequence[np.ndarray]) -> Fold:
    q = graph.copy()
    quantize_graph(q, opts)
    return Fold(graph, opts, inputs, dequantized_constants(q))


@dataclass(frozen=True)
class Measured:
    """A layer's effect measured in LiteRT on the folds' held-back samples: the gain, its jackknife standard error
    over the samples (``range_select.gain_db``: a few samples carry most of the noise), and the gain on each fold
    alone."""

    db: float
    se_db: float
    fold_db: tuple[float, ...]

    def stands_out(self, k: int) -> bool:
        """The gain stands out of its sampling noise as the best of ``k`` measured (more than ``bar(k)`` standard
        errors above zero: module docstring) and holds on every fold. The folds' models are calibrated on different
        samples, so they round every layer after this one differently: a gain that is only the reshuffled rounding
        downstream (module docstring) shows on one fold and not on the other, and the standard error over samples
        cannot see it (it moves every sample alike)."""
        return self.db > bar(k) * self.se_db and all(g > 0 for g in self.fold_db)


def measure(folds: Sequence[Fold], estimated: Sequence[Effect],
            inputs: Sequence[Sequence[np.ndarray]] | None = None) -> dict[str, Measured]:
    """Layers' effects measured in LiteRT on each fold's ``inputs`` (default: the inputs it is judged on;
    per-sample noise energies pooled), best estimated first: the first ``MEASURED``, then one more at a time until
    one ``stands_out`` as the best of those measured, at most ``MEASURED_MAX`` in all. Each costs one conversion
    and one LiteRT run per fold."""
    from .frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)

    runs = [f.inputs for f in folds] if inputs is None else inputs
    measured: dict[str, Measured] = {}
    with ExitStack() as stack:
        workers = [stack.enter_context(LiteRTWorker(x)) for x in runs]
        refs = [[np.asarray(r, np.float64) for r in ReferenceExecutor(f.graph)(list(x))]
                for f, x in zip(folds, runs, strict=True)]

        def noise(nodes: Sequence[str]) -> list[np.ndarray]:
            """Each fold's model with ``nodes`` float, run in LiteRT: each sample's output noise energy (inf where
            LiteRT refuses it). Every fold's model is submitted before the first is waited for."""
            waits = [measure_model(f.graph, with_precision(f.opts, nodes), w, lambda r=r: r)
                     for f, w, r in zip(folds, workers, refs, strict=True)]
            return [wait()[1] for wait in waits]

        base = noise(())
        for e in estimated[:MEASURED_MAX]:
            if len(measured) >= MEASURED and any(m.stands_out(len(measured)) for m in measured.values()):
                break
            after = noise(e.nodes)
            db, se = jackknife_gain_db(np.concatenate(base), np.concatenate(after))
            measured[e.name] = Measured(db, se, tuple(gain_db(float(x.sum()), float(y.sum()))
                                                      for x, y in zip(base, after, strict=True)))
    return measured


def rank_layers(estimated: Sequence[Effect], measured: Mapping[str, Measured]) -> list[Effect]:
    """Measured gains that stand out of their noise as the best of those measured (``Measured.stands_out``) first,
    then the other measured gains, then the unmeasured by estimate, then the measured losses, each by effect: a
    measurement outranks any estimate, and a gain within its noise ranks below one that stands out of it. (Ranked
    by gain less its standard error instead, the trained digits CNN's first conv, +1.37 dB measured with a small
    error, went before its classifier head, +1.50 dB: keeping the head float gains 6.7 dB held out, the conv 0.6
    dB.)"""
    def key(e: Effect) -> tuple[int, float]:
        m = measured.get(e.name)
        if m is None:
            return 2, -e.estimated_db
        return (0 if m.stands_out(len(measured)) else 1 if m.db > 0 else 3), -m.db

    return sorted(estimated, key=key)


def analyse(float_graph: Graph, opts: QuantizeOptions, quantized: Graph, tflite: bytes,
            inputs: Sequence[np.ndarray], data: Dataset) -> DebugReport:
    """The per-layer report of ``tflite`` (``quantized``: its graph), converted from the calibrated
    ``float_graph`` with ``opts``, on ``inputs``; effects judged on folds of ``data``, the representative samples
    (module docstring)."""
    values = float_values(float_graph, inputs)
    reference = [values[t.name] for t in float_graph.outputs]
    grids = resolve_grids(float_graph, opts)
    integer = [n for n in float_graph.nodes if n.name in grids.integer]
    outs, kept = run_litert_keeping(tflite, inputs, [n.outputs[0].name for n in integer if n.outputs])
    base = sqnr_db(reference, outs)
    constants = dequantized_constants(quantized)
    local = local_sqnr(float_graph, values, grids, constants)

    groups = layers(float_graph, [n.name for n in integer])
    folds = held_out_folds(float_graph, opts, data, len(inputs[0]))
    estimated = effects(folds, groups)
    measured = measure(folds, estimated, measured_inputs(data))
    ranked = rank_layers(estimated, measured)
    layer_rows = [LayerReport(e.name, layer_pattern(e.name, groups[e.name]), e.nodes,
                              Effect(e.name, e.nodes, e.estimated_db,
                                     measured[e.name].db if e.name in measured else None),
                              rank, measured[e.name].se_db if e.name in measured else None)
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
