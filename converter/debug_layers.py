"""The per-layer report (--debug_layers): which quantized op, and which model layer, costs the model its accuracy.

For every quantized op, on the first ``--debug_samples`` representative samples:
  * local error: the op alone quantized, run on its float inputs (read on their grids, with its quantized
    constants, its output on its grid) against its float output (``sensitivity.local_sqnr``);
  * cumulative error: its output tensor in the converted model, run in LiteRT with every tensor kept, against the
    same tensor of the float model (the IR after the passes, run by the reference executor);
  * effect: the output SQNR gained when it stays float, estimated by simulating the integer model with and
    without it (``sensitivity.effects``).
Ops are grouped into model layers (``sensitivity.layers``: every op of one Keras layer, all time steps of a
recurrent one). Each layer's effect is estimated the same way, with its jackknife standard error over the samples
simulated; the ``MEASURED`` layers whose interval reaches highest (below) are then converted again with the layer
float and run in LiteRT on the held-back samples of ``MEASURED_FOLDS`` other calibrations (``measurement_folds``,
below), which measures their effect and its standard error. If none of them stands out (``Measured.stands_out``),
the next in that order are measured, one at a time, until one does (at most ``MEASURED_MAX`` in all). Layers are
ranked: those that stand out first, then the other measured gains (an output layer's first where it clears one
standard error: its gain carries to the final model, an inner layer's small one mostly does not), then the rest by
estimate, then measured losses (``rank_layers``): the layer ranked first is one whose measured effect is positive
whenever one of those measured is.

The layer ranked first is the best of the k measured, and the best of k noisy gains is biased upwards (the winner's
curse): on the zoo's EfficientNetB0, 16 samples, the 4th layer measured gained +0.36 dB with standard error 0.31,
positive on both folds, and -0.11 dB held out. So the bar grows with k. Let z = gain / its standard error. If no
measured layer truly gains, each z is about normal with mean at most 0 and variance 1, so the chance that any of
the k exceeds c is at most k (1 - Phi(c)) (a union bound: true however the k measurements correlate; they share
their samples). The bar c_k = Phi^-1(1 - alpha / k) holds it to alpha = ``FALSE_PASS`` = 0.01 on each model:
c_k = 2.33, 2.71, 2.81, 3.14 for k = 1, 3, 4, 12 (``bar``). The layer ranked first is a claim about each model
converted, and a one-standard-error rate (alpha = 0.159, c_k = 1.62 for k = 3) makes it false on about one model in
six: on the zoo's DenseNet121 (256 calibration samples), conv2_block1_concat stood out as the best of 3, +0.25 dB
(standard error 0.12, 2.1 of them), and gains +0.07 (0.13) held out. At 0.01 the chance that any of 20 models ranks
such a layer first is at most 0.2 (union bound again), and a real gain needs more samples to stand out: the
measurement's standard error falls as 1/sqrt(samples).
The standard error shrinks as 1/sqrt(n) with the n samples measured, so the measurement runs on the folds' whole
held-back parts (up to ``MEASURED_SAMPLES`` each), not only the ``--debug_samples`` the simulation judges: a LiteRT
run costs little beside the conversion before it. The effect and standard error reported are those measured.

The standard error is that of a prediction for the final model, itself one more calibration. Keeping a layer float
removes its own rounding and also reshuffles the rounding of every layer after it; how depends on the calibration
(the ranges, hence the grids downstream) and on the sample, a zero-mean change as large as the layer's own effect in
a deep network whose error is spread over many layers (the zoo's MobileNetV2: 64 layers, none worth 0.3 dB). A
calibrated model's gain on a sample = the layer's effect + that model's reshuffle on that sample. The jackknife over
the samples sees the spread of the reshuffle between samples for the calibrations measured, not between
calibrations. So each measured layer is measured on K = ``MEASURED_FOLDS`` calibrations, each on all but one of K
parts of the first ``FOLD_SAMPLES`` samples and judged on the part left out, and with g_k the gain on fold k alone,
s_k^2 its jackknife variance, s^2 the jackknife variance of the gain over all K folds' samples:
    tau^2 = max(0, var_k(g_k) - mean_k(s_k^2))   (between-calibration variance beyond sampling; moments)
    se^2 = s^2 + (1 + 1/K) tau^2                  (the final model's gain = the mean + its own calibration's part)
(``Measured.of``). These calibrations are not those of the two folds the estimates are simulated on, which chose the
layers measured: the estimates pick, among every layer, those whose reshuffle happens to pay on their folds'
calibrations, and measured on the same calibrations that choice would pass for a gain. Diagnosed on the zoo's
MobileNetV2 (64 samples), block_9_project measured +0.11 and +0.31 dB (standard errors 0.10, 0.11) on the two
estimating folds; those same two models gained -0.01 and -0.08 dB on 256 held-out inputs, four other calibrations
(on 48 samples each) measured it -0.02, -0.18, -0.06, +0.38 on the same 64 samples (+0.02 pooled), the final model
-0.03 held out; calibrated on 32, 64 or 128 other samples it gains -0.01, -0.02, +0.02 dB held out (mean of 5 draws
each, spread 0.04): not a matter of how many samples are calibrated on. MobileNet's conv_dw_6_1 the same: +0.12 and
+0.08 on the estimating folds, +0.01 and -0.01 held out for those models, -0.07 pooled on four other calibrations.

Which layers are measured: the output layers, those that may be best, by the upper end of each estimate's interval,
and those surest to gain, by its lower end; not by the estimate alone. An early layer's rounding travels through the
whole network, so a few samples carry its simulated effect: on the zoo's MobileNet the first conv (conv1) gains
+1.06 dB held out (standard error 0.14; simulated, +0.55 on the same 256 inputs) and was estimated -0.08 dB on the
16 samples simulated, never measured, while the layers measured instead (conv_dw_6_1, estimated +0.08) gain nothing:
its estimate's standard error on those 16 samples is 0.77 dB, a mid-network layer's about 0.1-0.2 (MobileNetV2's
Conv1: +0.57 held out, estimated -0.48, 55th of 64). With n layers estimated and e_j, s_j each one's estimate and
jackknife standard error over the samples simulated, the intervals e_j +- c_n s_j, c_n = ``bar(n)``, hold every
layer's simulated effect at once with probability 1 - alpha (the union bound above, over the n); the layer whose
effect is largest then has e_j + c_n s_j at least the largest e_i - c_n s_i, so the layers are measured in the order
of e_j + c_n s_j (the top of their interval).
That order finds a large effect with a wide interval; but what stands out is a gain large against its standard
error. A layer that writes a model output often has the surest gain: its own rounding reaches the output with
nothing after it to reshuffle. On the zoo's DenseNet121 (256 calibration samples, 248 layers), held out on 256
inputs, the first conv loses 0.20 dB (standard error 0.12) and the nine layers estimated highest (+0.25 to +0.59 dB
on 16 simulated samples) gain between -0.26 and +0.28 (standard errors 0.07-0.12), while its classifier
(predictions, the output) gains +0.043 (0.011), 3.9 standard errors, ranked 31st by estimate and never measured; the
layer most surely gaining by its simulated interval's bottom (conv5_block13_2_conv, measured +0.03 dB, standard
error 0.01) gains +0.01 (0.02) held out. Not always: where the error before it is large, the cross term between that
error and the output's rounding outweighs the rounding removed (EfficientNetB0's predictions -0.025 (0.021) held
out, NASNetMobile's +0.010 (0.027)), and then it does not stand out. So the output layers are measured first; then
the order alternates: the next layer by the top of its interval, then the next by its bottom, e_j - c_n s_j, each
layer once (``measurement_order``).

Effects are estimated on data the model was not calibrated on, two-fold (``held_out_folds``): the graph calibrated
(min/max) on one half of the representative samples is judged on ``--debug_samples``/2 of the other half, and the
other way round, noise summed; measured the same way on K parts (``measurement_folds``). Judged on the samples
calibrated on, no value ever leaves its range, so the clipping that new data meets is invisible: the zoo LSTM's
dense head measured +0.01 dB there and gains +9.9 dB on held-out inputs (its outputs leave the calibrated range),
while the LSTM layer measured +10.7 dB and gains +0.4 dB.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
from .quantize.range_select import measure_model
from .quantize.sensitivity import (Effect, Fold, dequantized_constants, effects, jackknife_gain_db, layer_pattern,
                                   layers, local_sqnr, sqnr_db, with_precision)

MEASURED = 3  # layers measured in LiteRT, the best estimated ...
MEASURED_MAX = 12  # ... and if none of them stands out, the next best estimated, one at a time, up to this many in all
FOLD_SAMPLES = 512  # at most this many representative samples are calibrated on by the two folds (half each)
OP_EFFECTS = 32  # at most this many ops get an estimate of their own effect (one simulation each)
MEASURED_FOLDS = 4  # calibrations each measured layer is measured on, each judged on the part of the samples left out
MEASURED_SAMPLES = 64  # at most this many held-back samples per measurement fold are run in LiteRT per layer
FALSE_PASS = 0.01  # how often, on one model, a layer that does not gain may stand out (module docstring)


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


def _parts(data: Dataset, parts: int) -> list[np.ndarray]:
    """The indices of the first ``FOLD_SAMPLES`` samples of ``data`` in ``min(parts, samples)`` contiguous parts of
    equal size (the remainder left out); [] with fewer than two samples."""
    parts = min(parts, data.num_samples, FOLD_SAMPLES)
    if parts < 2:
        return []
    size = min(data.num_samples, FOLD_SAMPLES) // parts
    return [np.arange(k * size, (k + 1) * size) for k in range(parts)]


def held_out_folds(float_graph: Graph, opts: QuantizeOptions, data: Dataset, samples: int, parts: int = 2,
                   simulated: bool = True) -> list[Fold]:
    """``parts`` copies of the calibrated ``float_graph``, each calibrated again (min/max; ``opts``'
    calibration-derived fields with it) on all but one of ``parts`` contiguous parts of the first ``FOLD_SAMPLES``
    samples of ``data`` and judged on ``samples`` / ``parts`` of the part left out (module docstring): fold k
    judges part (k + 1) mod ``parts`` (two folds: the first calibrated on the first half). With fewer than two
    samples: the graph itself on them. ``simulated``: with the quantized constants the simulation needs."""
    split = _parts(data, parts)
    if not split:
        return [_fold(float_graph, opts, data.head(data.num_samples), simulated)]
    out = []
    for k in range(len(split)):
        judged = (k + 1) % len(split)
        fit = data.select(np.concatenate([part for j, part in enumerate(split) if j != judged]))
        g = float_graph.copy()
        cal = calibrate(g, fit, CalibrationMethod.MINMAX, means_for=tuple(opts.activation_means))
        o = replace(opts, activation_means=cal.channel_means if opts.activation_means else opts.activation_means,
                    internal_ranges=cal.internal_ranges)
        out.append(_fold(g, o, data.select(split[judged]).head(max(1, samples // len(split))), simulated))
    return out


def _fold(graph: Graph, opts: QuantizeOptions, inputs: Sequence[np.ndarray], simulated: bool) -> Fold:
    if not simulated:  # measured in LiteRT only: no constants needed
        return Fold(graph, opts, inputs, {})
    q = graph.copy()
    quantize_graph(q, opts)
    return Fold(graph, opts, inputs, dequantized_constants(q))


@dataclass(frozen=True)
class Measured:
    """A layer's effect measured in LiteRT on the measurement folds' held-back samples (``measurement_folds``):
    the gain over all their samples, its standard error as a prediction for the final model (module docstring:
    the jackknife over the samples, ``sensitivity.jackknife_gain_db``, and the spread between the folds' calibrations),
    and the gain on each fold alone."""

    db: float
    se_db: float
    fold_db: tuple[float, ...]

    @classmethod
    def of(cls, base: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> Measured:
        """From each fold's per-sample noise energies without (``base``) and with the layer float (``after``):
        tau^2 = max(0, var_k(g_k) - mean_k(s_k^2)) over the K folds' gains g_k and their jackknife variances
        s_k^2, and se^2 = s^2 + (1 + 1/K) tau^2 (module docstring)."""
        db, sampling = jackknife_gain_db(np.concatenate(base), np.concatenate(after))
        folds = [jackknife_gain_db(b, a) for b, a in zip(base, after, strict=True)]
        g = np.array([x for x, _ in folds])
        s2 = np.array([se * se for _, se in folds])
        k = len(folds)
        tau2 = max(0.0, float(np.var(g, ddof=1) - s2.mean())) \
            if k >= 2 and np.all(np.isfinite(g)) and np.all(np.isfinite(s2)) else 0.0
        return cls(db, float(np.sqrt(sampling ** 2 + (1 + 1 / k) * tau2)), tuple(float(x) for x in g))

    def stands_out(self, k: int) -> bool:
        """The gain stands out of its noise as the best of ``k`` measured: more than ``bar(k)`` standard errors
        (``se_db``: of the sampling and of the calibration) above zero (module docstring)."""
        return self.db > bar(k) * self.se_db


def measurement_order(estimated: Sequence[Effect], outputs: Collection[str] = ()) -> list[Effect]:
    """The order layers are measured in: first the layers that write a model output (``outputs``: often the surest
    gain), then alternately by the top of each estimate's interval, e + ``bar(n)`` se over the n estimated (the
    largest effect there may be), and by its bottom, e - ``bar(n)`` se (the surest gain), each layer once; not a
    layer whose simulated effect is 0 on every sample (padding, max pooling: their ops change no value when float),
    which would stand first by its bottom, 0 (module docstring)."""
    c = bar(len(estimated))
    changing = [e for e in estimated if e.estimated_db != 0 or e.estimated_se_db != 0]
    top = sorted(changing, key=lambda e: -(e.estimated_db + c * e.estimated_se_db))
    bottom = sorted(changing, key=lambda e: -(e.estimated_db - c * e.estimated_se_db))
    first = [e for e in changing if e.name in outputs]
    return list({e.name: e for e in [*first, *(e for pair in zip(top, bottom, strict=True) for e in pair)]}.values())


def output_layers(graph: Graph, groups: Mapping[str, Sequence[str]]) -> set[str]:
    """The layers of ``groups`` (name: its nodes) with a node that writes an output of ``graph``."""
    outputs = {t.name for t in graph.outputs}
    writes = {n.name for n in graph.nodes if any(t.name in outputs for t in n.outputs)}
    return {name for name, nodes in groups.items() if writes.intersection(nodes)}


def measure(folds: Sequence[Fold], estimated: Sequence[Effect], outputs: Collection[str] = ()) -> dict[str, Measured]:
    """Layers' effects measured in LiteRT on each of ``folds`` (``measurement_folds``: per-sample noise energies
    on the inputs it is judged on), in ``measurement_order``: the first ``MEASURED``, then one more at a time until
    one ``stands_out`` as the best of those measured, at most ``MEASURED_MAX`` in all. Each costs one conversion
    and one LiteRT run per fold."""
    from .frontend.reference import ReferenceExecutor  # noqa: PLC0415 (TensorFlow)

    measured: dict[str, Measured] = {}
    with ExitStack() as stack:
        workers = [stack.enter_context(LiteRTWorker(f.inputs)) for f in folds]
        refs = [[np.asarray(r, np.float64) for r in ReferenceExecutor(f.graph)(list(f.inputs))] for f in folds]

        def noise(nodes: Sequence[str]) -> list[np.ndarray]:
            """Each fold's model with ``nodes`` float, run in LiteRT: each sample's output noise energy (inf where
            LiteRT refuses it). Every fold's model is submitted before the first is waited for."""
            waits = [measure_model(f.graph, with_precision(f.opts, nodes), w, lambda r=r: r)
                     for f, w, r in zip(folds, workers, refs, strict=True)]
            return [wait()[1] for wait in waits]

        base = noise(())
        for e in measurement_order(estimated, outputs)[:MEASURED_MAX]:
            if len(measured) >= MEASURED and any(m.stands_out(len(measured)) for m in measured.values()):
                break
            measured[e.name] = Measured.of(base, noise(e.nodes))
    return measured


def measurement_folds(float_graph: Graph, opts: QuantizeOptions, data: Dataset) -> list[Fold]:
    """The folds the measurements run on: ``MEASURED_FOLDS`` calibrations of ``float_graph``, each on all but one
    part of the first ``FOLD_SAMPLES`` samples of ``data``, judged on up to ``MEASURED_SAMPLES`` of that part
    (``held_out_folds``; module docstring)."""
    return held_out_folds(float_graph, opts, data, MEASURED_FOLDS * MEASURED_SAMPLES, MEASURED_FOLDS,
                          simulated=False)


def rank_layers(estimated: Sequence[Effect], measured: Mapping[str, Measured],
                outputs: Collection[str] = ()) -> list[Effect]:
    """Measured gains that stand out of their noise as the best of those measured (``Measured.stands_out``) first,
    by effect; then, where none does, the layers that write a model output (``outputs``) whose measured gain is
    more than one standard error above zero, by effect; then the other measured gains, by effect; then the
    unmeasured by estimate; then the measured losses, by effect. A measurement outranks any estimate, and a gain
    within its noise ranks below one that stands out of it. (Ranked by gain less its standard error instead, the
    trained digits CNN's first conv, +1.37 dB measured with a small error, went before its classifier head, +1.50
    dB: keeping the head float gains 6.7 dB held out, the conv 0.6 dB.)

    Where none stands out, an output layer's measured gain is the one that carries to the final model: it removes
    that layer's own rounding, with no layer after it whose rounding another calibration draws again. Measured over
    the four calibrations -> held out (256 calibration samples, 256 held-out inputs, docs/ranking.md): the zoo's
    DenseNet121 predictions +0.040 (standard error 0.037) -> +0.043 (0.011), LSTM dense_1 +2.15 (2.00) -> +0.57
    (0.26), the trained depthwise-separable CNN's logits +5.69 (4.11) -> +2.36 (0.23); losses carry as losses
    (EfficientNetB0's predictions -0.055 -> -0.025 (0.021), the trained transformer's dense_3 -0.175 -> -0.164
    (0.026)). One standard error is the margin the gain must clear to count (the margin of the check held out):
    within it the sign says nothing (mbconv_blocks' dense head +0.008 (0.017) -> +0.007 (0.022)). An inner layer's
    small gain is mostly that redraw, and does not carry: the gains surest by gain over standard error, DenseNet121's
    conv5_block13_2_conv +0.031 (0.014) and NASNetMobile's separable_conv_1_normal_left5_12 +0.022 (0.012), gain
    +0.014 (0.016) and +0.004 (0.011) held out, EfficientNetB0's block6d_project_conv +0.007 (0.015) -0.054 (0.015).
    So the other gains rank by size, the largest first: an early layer's own rounding travels through the whole
    network (NASNetMobile's stem_conv1 +0.19 (0.14) -> +0.38 (0.15), EfficientNetB0's block1a_dwconv +0.43 (0.18)
    -> +0.62 (0.20), mbconv_blocks' e1_dwconv +0.65 (0.63) -> +0.57 (0.17)), though the largest of several noisy
    gains is biased upwards (the winner's curse: DenseNet121's conv2_block1_concat +0.25 (0.12) -> +0.07 (0.13),
    ranked after its classifier)."""
    def key(e: Effect) -> tuple[int, float]:
        m = measured.get(e.name)
        if m is None:
            return 3, -e.estimated_db
        if m.stands_out(len(measured)):
            return 0, -m.db
        if m.db > 0:
            return (1 if e.name in outputs and m.db > m.se_db else 2), -m.db
        return 4, -m.db

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
    outputs = output_layers(float_graph, groups)
    measured = measure(measurement_folds(float_graph, opts, data), estimated, outputs)
    ranked = rank_layers(estimated, measured, outputs)
    layer_rows = [LayerReport(e.name, layer_pattern(e.name, groups[e.name]), e.nodes,
                              replace(e, measured_db=measured[e.name].db if e.name in measured else None),
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
