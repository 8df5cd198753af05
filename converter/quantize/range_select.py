"""Ranges chosen by the error they cause, not by the tensor alone (percentile, mse, entropy calibration).

A calibration method other than minmax proposes, per activation, a range clipped inside the observed min/max. Clipping
trades rounding error on every value for clipping error on the rare large ones; whether that pays depends on what
reads the tensor. So each proposal is judged by its effect:

  1. locally: every integer op reading the tensor is run (``sensitivity.evaluate``, its quantized constants) on the
     float values of its inputs with this tensor rounded onto the proposed grid, and again onto the min/max grid;
     the proposal is kept where the readers' summed squared error (against their float outputs) is smaller.
  2. for the model: the integer model is simulated (``sensitivity.simulate``) with every tensor at min/max, with
     the locally kept proposals, and with all proposals; the configuration with the best output SQNR wins, min/max
     unless a clipped one beats it by ``MARGIN_DB``.

Judged on the samples they were computed from, clipped ranges look better than they are (clipping the few values
seen beyond a range is free in-sample, and costs dB on new data: on the trained dwsep CNN, mse gained 0.8 dB on its
calibration samples and lost 1.4 dB held out). So ``choose_ranges`` validates: proposals and min/max are computed on
the first half of the calibration samples and judged on the second half, then the other way round; the tensors
that pass both folds then take the ranges computed on all samples, the others (and model outputs) all samples'
min/max. Even so, a few samples carry most of the output
energy and of the large activations: on the dwsep CNN mse and percentile gained 0.5 and 0.8 dB on the held-back
half and lost 1.5 and 4.4 dB on held-out data; hence ``MARGIN_DB``.

Model outputs keep their min/max: the output SQNR is dominated by the largest outputs (the confident logits), and
clipping them looked free on the calibration halves and cost the trained dwsep CNN 8 dB held out (entropy).

The readers' grids and the integer region come from the quantizer's own decisions (``grids.resolve_grids``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
import functools
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..config import CalibrationMethod
from ..ir import Graph, QuantRange, RangeSource
from ..litert_worker import LiteRTWorker
from .calibrate import CalibrationStats, calibrate, output_rider
from .dataset import Dataset
from . import range_refine, rounding
from .range_refine import set_ranges as _set
from .bias_correction import empirical_shifts
from .grids import resolve_grids
from .params import activation_params
from .quantizer import QuantizeOptions, quantize_graph
from .rounding_inputs import gram_rider
from .sensitivity import (dequantized_constants, evaluate, jackknife_gain_db as gain_db, on_grid, sample_noise,
                          samples_within_budget, simulate, sqnr_db, with_precision)

SAMPLES = 256  # calibration samples simulated (all of a typical set: the outliers clipping drops are rare ones)
MARGIN_DB = 1.0  # a clipped configuration must beat min/max by this much on the held-back half (see below)


@dataclass(frozen=True)
class RangeChoice:
    proposed: int  # tensors whose proposed range differs from min/max
    kept: int  # of those, tensors that keep the proposal
    minmax_db: float  # simulated output SQNR with every tensor at min/max
    chosen_db: float  # ... with the chosen ranges
    names: frozenset[str] = frozenset()  # the tensors that keep their proposal
    picks: Mapping[str, str] = field(default_factory=dict)  # with candidates: each kept tensor's candidate label


def select_ranges(graph: Graph, opts: QuantizeOptions, inputs: Sequence[np.ndarray],
                  minmax: Mapping[str, tuple[float, float]],
                  candidates: Mapping[str, Mapping[str, tuple[float, float]]] | None = None) -> RangeChoice:
    """Set each calibrated tensor of ``graph`` to its proposed range (its current ``qrange``, or with
    ``candidates`` (label -> tensor -> range) the candidate whose readers err least) or its ``minmax`` range, as
    the module docstring says, judged on ``inputs`` (the first ``SAMPLES`` samples, fewer where their activations
    would exceed ``SIMULATION_BUDGET``)."""
    n = samples_within_budget(graph, SAMPLES)  # the simulation holds every activation of every sample
    inputs = [np.asarray(a)[:n] for a in inputs]
    outputs = {t.name for t in graph.outputs}
    if candidates is None:
        candidates = {"proposed": {t.name: (min(t.qrange.min), max(t.qrange.max)) for t in graph.tensors()
                                   if t.name in minmax and t.qrange is not None
                                   and t.qrange.source == RangeSource.CALIBRATION}}
    proposals = {label: {name: r for name, r in ranges.items()
                         if name in minmax and name not in outputs  # model outputs keep min/max (docstring)
                         and not np.allclose(r, minmax[name], rtol=1e-6, atol=0)}
                 for label, ranges in candidates.items()}
    proposed = {name for ranges in proposals.values() for name in ranges}
    if not proposed:
        return RangeChoice(0, 0, float("nan"), float("nan"))
    _set(graph, minmax)
    copy = graph.copy()
    quantize_graph(copy, opts)
    constants = dequantized_constants(copy)
    everything = [n.name for n in graph.nodes]
    float_env = simulate(graph, inputs, resolve_grids(graph, with_precision(opts, everything)), constants, keep=True)
    reference = [float_env[t.name] for t in graph.outputs]
    grids = resolve_grids(graph, opts)

    kept: dict[str, tuple[float, float]] = {}
    picks: dict[str, str] = {}
    for t in graph.tensors():
        if t.name not in proposed or t.name not in grids.produced or t.name not in float_env:
            continue
        dtype = grids.produced[t.name].dtype
        options = {"minmax": minmax[t.name], **{k: r[t.name] for k, r in proposals.items() if t.name in r}}
        grid = {k: activation_params(QuantRange.per_tensor(*r, RangeSource.CALIBRATION), dtype)
                for k, r in options.items()}
        err = {k: 0.0 for k in grid}
        for node in t.uses:
            if node.name not in grids.integer or any(
                    x is not None and not x.is_const and x.name not in float_env for x in node.inputs):
                continue
            consts = list(constants.get(node.name, [])) + [None] * len(node.inputs)
            for k, p in grid.items():
                args = [None if x is None else (consts[i] if consts[i] is not None else x.data) if x.is_const
                        else on_grid(float_env[x.name], p) if x is t else float_env[x.name]
                        for i, x in enumerate(node.inputs)]
                y = evaluate(node, args)[0]
                err[k] += float(np.sum((y - float_env[node.outputs[0].name]) ** 2))
        best = min(err, key=lambda k: (err[k], k != "minmax"))
        if best != "minmax":
            kept[t.name], picks[t.name] = options[best], best

    def score(ranges: Mapping[str, tuple[float, float]]) -> float:
        _set(graph, {**minmax, **ranges})
        return sqnr_db(reference, list(simulate(graph, inputs, resolve_grids(graph, opts), constants).values()))

    configs = {"minmax": ({}, {}), "local": (kept, picks),
               **{f"all {k}": (r, dict.fromkeys(r, k)) for k, r in proposals.items() if r}}
    scores = {k: (score(c[0]) if c[0] or k == "minmax" else -np.inf) for k, c in configs.items()}
    best = max(scores, key=lambda k: (scores[k] - (0.0 if k == "minmax" else MARGIN_DB), k == "minmax"))
    _set(graph, {**minmax, **configs[best][0]})
    return RangeChoice(len(proposed), len(configs[best][0]), scores["minmax"], scores[best],
                       frozenset(configs[best][0]), configs[best][1])


def halves(data: Dataset) -> tuple[Dataset, Dataset]:
    """The first and the second half of the samples, each still read batch by batch (calibration streams a half;
    the simulation that judges reads at most ``SAMPLES`` of the other)."""
    half = data.num_samples // 2
    return data.select(np.arange(half)), data.select(np.arange(half, data.num_samples))


def choose_ranges(graph: Graph, opts: QuantizeOptions, data: Dataset, method: CalibrationMethod,
                  full: CalibrationStats) -> RangeChoice:
    """``graph`` calibrated by ``method`` on ``data`` (``full``): validate each proposed range on held-back
    samples (module docstring), both ways: proposals fitted on the first half are judged on the second, then the
    other way round, and a tensor keeps its proposal only where both folds keep it, else its min/max. One fold
    judged on a hundred samples let a few decide: entropy's clipped ranges on the trained LSTM gained 1 dB on the
    held-back half and lost 0.3 dB held out."""
    outputs = {t.name for t in graph.outputs}
    proposals = {t.name: t.qrange for t in graph.tensors() if t.name in full.minmax and t.name not in outputs}
    half = data.num_samples // 2
    choice = RangeChoice(0, 0, float("nan"), float("nan"))
    if half >= 1:
        split = halves(data)
        folds = []
        for fold in (0, 1):
            fit = calibrate(graph, split[fold], method)
            folds.append(select_ranges(graph, opts, split[1 - fold].head(SAMPLES), fit.minmax))
            if not folds[-1].names:
                break
        kept = frozenset.intersection(*(c.names for c in folds))
        choice = RangeChoice(max(c.proposed for c in folds), len(kept), folds[0].minmax_db,
                             folds[0].chosen_db if kept else folds[0].minmax_db, kept)
    for t in graph.tensors():  # the folds' calibrations set every range: each takes all samples' again
        if t.name in full.minmax:
            t.qrange = proposals[t.name] if t.name in choice.names else \
                QuantRange.per_tensor(*full.minmax[t.name], RangeSource.CALIBRATION)
    return choice


PROPOSERS = (CalibrationMethod.PERCENTILE, CalibrationMethod.MSE, CalibrationMethod.ENTROPY)
MEASURED_MARGIN_DB = 0.5  # a configuration must beat plain min/max INT8 by this much in LiteRT on the held-back halves
# (and by one jackknife standard error of its gain there, ``significant``): they overstate gains (per-channel bias
# correction on the trained dwsep CNN: +0.45 dB there, -0.02 dB held out; the transformer's clipped ranges +2.06
# there, +0.62 held out)


def significant(gain: float, standard_error: float) -> bool:
    """Whether a configuration's measured gain over plain INT8 on the held-back samples is one to use: above
    ``MEASURED_MARGIN_DB`` and above one standard error of the gain (``gain_db``). The margin covers what moves
    between calibration samples and new data beyond sampling (the calibration set need not be drawn like the
    data the model will see: the trained digits CNN calibrates on training images, where every candidate gains
    0.4-1.2 dB more or less than held out); the standard error covers the sampling of the held-back samples
    themselves (the gain of a ratio of sums, which a few samples with large outputs can carry: 0.3-0.4 dB on the
    trained dwsep CNN and transformer, 0.8-0.9 dB on digits), so a gain within one standard error of zero, which a
    different draw of as many samples would undo about one time in three, is not taken."""
    return gain > max(MEASURED_MARGIN_DB, standard_error)


# none, per-channel weight-rounding bias correction, sequential empirical, adaptive rounding (alone, + empirical)
BIAS_MODES = ("", "bias corr.", "empirical bias corr.", "adaptive rounding", "adaptive rounding + empirical bias corr.")


@dataclass(frozen=True)
class Narrowing:
    """The activation ranges narrowed after the choice (``range_refine``): each tensor's factor, and every unit
    measured."""

    factors: Mapping[str, float] = field(default_factory=dict)
    measured: Sequence[range_refine.Narrowed] = ()
    gain_db: float = 0.0  # of the units kept, together, over the configuration chosen before
    standard_error_db: float = 0.0


@dataclass(frozen=True)
class AccuracyChoice:
    ranges: RangeChoice  # the simulated per-tensor choice (its picks are used if ``clipped``)
    measured_db: Mapping[tuple[bool, str], float]  # LiteRT SQNR on the held-back halves by (clipped, BIAS_MODES)
    clipped: bool
    bias_correction: bool  # per-channel weight-rounding correction (bias_correction.correction)
    bias_shifts: Mapping[str, np.ndarray] = field(default_factory=dict)  # empirical_shifts, if they won
    layer_inputs: Mapping[str, Any] = field(default_factory=dict)  # adaptive weight rounding's, if it won
    standard_error_db: Mapping[tuple[bool, str], float] = field(default_factory=dict)  # of each gain over plain
    narrowing: Narrowing = Narrowing()  # ranges narrowed inside min/max where LiteRT gains (range_refine)


def measure_model(graph: Graph, opts: QuantizeOptions, worker: LiteRTWorker,
                  reference: Callable[[], Sequence[np.ndarray]]) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """``graph`` (calibrated) quantized with ``opts``, written and submitted to LiteRT (``worker``, on its
    inputs); returns the wait for each sample's output signal and noise energy against ``reference()`` (noise inf
    where LiteRT refuses the model: it loses). The next model is built while LiteRT runs this one. Every LiteRT
    measurement of a converted model goes through here (--optimize=accuracy, range_refine, --debug_layers)."""
    from ..backend.writer import write_tflite  # noqa: PLC0415 (as quantize.mixed)

    copy = graph.copy()
    quantize_graph(copy, opts)
    pending = worker.submit(write_tflite(copy))

    def per_sample(arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.sum([np.sum((a * a).reshape(len(a), -1), axis=1) for a in arrays], axis=0)

    def energies() -> tuple[np.ndarray, np.ndarray]:
        got, expected = pending.result(), reference()
        signal = per_sample(expected)
        if isinstance(got, str):
            return signal, np.full_like(signal, np.inf)
        return signal, sample_noise(expected, got)

    return energies


def _narrow(graph: Graph, folds: Sequence[range_refine.FoldModel], judge: Sequence[np.ndarray],
            noise: np.ndarray, plain: np.ndarray) -> Narrowing:
    """``range_refine`` on the configuration chosen (``folds``: how each fold builds and judges it; ``noise``: its
    per-sample noise there): the units ranked on the first fold's held-back samples (``judge``) and measured."""
    first = folds[0]
    _set(graph, first.ranges)
    outputs = {t.name for t in graph.outputs}
    names = [t.name for t in graph.tensors() if t.name in first.ranges and t.name not in outputs]
    candidates = range_refine.units(graph, names)
    # ranked without the empirical bias shifts: they offset the mean error of the rounding a unit is freed of
    ranked = range_refine.rank(graph, replace(first.opts, bias_shifts={}), judge, candidates)
    factors, measured, total = range_refine.refine(graph, folds, noise, plain, ranked, candidates, significant,
                                                    gain_db)
    return Narrowing(factors, measured, *total)


def choose_best(graph: Graph, opts: QuantizeOptions, data: Dataset, full: CalibrationStats,
                means_for: Collection[str]) -> AccuracyChoice:
    """--optimize=accuracy: ``graph`` calibrated on ``data`` (``full``, with every ``PROPOSERS`` proposal). On the
    first half of the samples each calibrator proposes per tensor; on the second half each tensor keeps the
    proposal whose readers err least where that pays in the simulated model (``select_ranges``). The simulation
    leaves out the kernels' fixed-point arithmetic and misjudged bias correction on the trained digits CNN (-1.4
    dB simulated, +1.6 dB in LiteRT), so the final choice is measured, two-fold (a hundred held-back samples
    alone let a few confident ones decide): the models {min/max, chosen ranges} x ``BIAS_MODES`` (no correction,
    per-channel weight-rounding bias correction, sequential empirical bias correction (``empirical_shifts``),
    adaptive weight rounding (``rounding``), adaptive rounding + empirical correction) are built from one half's
    statistics (clipped proposals, channel means, measured shifts, X^T X) and run in LiteRT on the other
    half, both ways, noise summed per sample; plain min/max without correction wins unless another beats it by
    more than ``MEASURED_MARGIN_DB`` and one standard error of the gain (``significant``), else the configuration
    measured best among those that do. Tensors not clipped take all samples' min/max there, as in the final model:
    one half's min/max clip the other half's extremes (the trained dwsep CNN's logits), a noise floor that hid every
    difference (19.9 dB on the held-back half, 35.3 dB held out). On the winner's folds, ``range_refine`` then
    narrows the ranges of the activations whose rounding costs most where LiteRT measures a gain. The winner is
    then built from all samples' statistics, its narrowed ranges at their factors of all samples' ranges."""
    half = data.num_samples // 2
    names = {t.name for t in graph.tensors() if t.name in full.minmax}
    choice, measured = RangeChoice(0, 0, float("nan"), float("nan")), {(False, ""): float("nan")}
    clipped, bias = False, ""
    narrowing = Narrowing()
    gains: dict[tuple[bool, str], tuple[float, float]] = {}
    if half >= 1:
        split = halves(data)
        energy: dict[tuple[bool, str], list[tuple[np.ndarray, np.ndarray]]] = {}
        pending: list[tuple[tuple[bool, str], Callable[[], tuple[np.ndarray, np.ndarray]]]] = []
        inputs: dict[int, Mapping[str, rounding.LayerInputs]] = {}
        outputs: dict[int, Callable[[], list[np.ndarray]]] = {}  # each half's float outputs: the other's reference
        built: dict[tuple[bool, str], list[range_refine.FoldModel]] = {}  # each configuration's folds
        judges: list[Sequence[np.ndarray]] = []
        with ExitStack() as workers:  # each fold's worker runs on while the next fold is calibrated
            for fold in (0, 1):  # one TensorFlow run over each half: calibration, the outputs, X^T X (riders)
                output, outputs[fold] = output_rider(graph, min(split[fold].num_samples, SAMPLES))
                grams = gram_rider(graph, split[fold])
                fit = calibrate(graph, split[fold], CalibrationMethod.MINMAX, means_for=means_for,
                                propose=PROPOSERS, riders=[output, *([grams[0]] if grams else [])])
                judge = split[1 - fold].head(SAMPLES)
                if fold == 0:  # the per-tensor picks, simulated once
                    choice = select_ranges(graph, opts, judge, fit.minmax,
                                           {m.value: fit.proposals[m] for m in PROPOSERS})
                chosen = {name: fit.proposals[CalibrationMethod(m)][name] for name, m in choice.picks.items()}
                reference = lambda half=1 - fold: outputs[half]()  # noqa: E731 (read once both halves ran)
                fit_opts = replace(opts, activation_means=fit.channel_means)
                inputs[fold] = grams[1]() if grams else rounding.collect(graph, split[fold])
                worker = workers.enter_context(LiteRTWorker(judge))
                judges.append(judge)
                measure = functools.partial(measure_model, worker=worker, reference=reference)
                for clip in ((False, True) if chosen else (False,)):
                    ranges = {**full.minmax, **(chosen if clip else {})}
                    _set(graph, ranges)
                    variants = _variants(graph, fit_opts, split[fold].head(SAMPLES), inputs[fold])
                    for mode, variant in variants.items():
                        built.setdefault((clip, mode), []).append(range_refine.FoldModel(ranges, variant, measure))
                        pending.append(((clip, mode), measure(graph, variant)))
            for key, energies in pending:  # in submission order: each configuration's folds in order
                energy.setdefault(key, []).append(energies())
            # a configuration built in one fold only (no empirical shift there) is not judged
            per_sample = {k: (np.concatenate([s for s, _ in e]), np.concatenate([n for _, n in e]))
                          for k, e in energy.items() if len(e) == len(energy[(False, "")])}
            measured = {k: float(10 * np.log10(s.sum() / max(n.sum(), 1e-30))) for k, (s, n) in per_sample.items()}
            gains = {k: gain_db(per_sample[(False, "")][1], n) for k, (_, n) in per_sample.items()}
            plain = (False, "")
            best = max((k for k in measured if k == plain or significant(*gains[k])),
                       key=lambda k: (measured[k], k == plain))
            clipped, bias = best
            narrowing = _narrow(graph, built[best], judges[0], per_sample[best][1], per_sample[plain][1])
    picked = {name: (full.proposals[CalibrationMethod(choice.picks[name])][name]
                     if clipped and choice.picks.get(name) else full.minmax[name]) for name in names}
    _set(graph, range_refine.scaled(picked, narrowing.factors))
    final = replace(opts, activation_means=full.channel_means)
    if bias:
        final = _variants(graph, final, data.head(SAMPLES),
                          rounding.collect(graph, data) if "adaptive" in bias else {}, bias)[bias]
    return AccuracyChoice(choice, measured, clipped, final.per_channel_bias_correction, final.bias_shifts,
                          final.layer_inputs, {k: se for k, (_, se) in gains.items()}, narrowing)


def _variants(graph: Graph, opts: QuantizeOptions, samples: Sequence[np.ndarray],
              layer_inputs: Mapping[str, rounding.LayerInputs], only: str | None = None) -> dict[str, QuantizeOptions]:
    """``BIAS_MODES``' options for ``graph`` as its ranges stand: per-channel weight-rounding bias correction,
    sequential empirical bias correction measured on ``samples``, adaptive weight rounding (``layer_inputs``,
    --weight_rounding=adaptive), and adaptive rounding with empirical correction on top; ``only``: that one."""
    out = {"": opts}
    for mode in BIAS_MODES[1:] if only is None else (only,):
        o = replace(opts, layer_inputs=layer_inputs) if "adaptive" in mode else opts
        if mode == "bias corr.":
            o = replace(o, per_channel_bias_correction=True)
        if "adaptive" in mode and not layer_inputs:
            continue
        if "empirical" in mode:
            shifts = empirical_shifts(graph, o, samples)
            if not shifts:
                continue
            o = replace(o, bias_shifts=shifts)
        out[mode] = o
    return out
