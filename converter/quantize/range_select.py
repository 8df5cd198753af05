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
the first half of the calibration samples and judged on the second half; the tensors that pass then take the
ranges computed on all samples, the others all samples' min/max. Even so, a few samples carry most of the output
energy and of the large activations: on the dwsep CNN mse and percentile gained 0.5 and 0.8 dB on the held-back
half and lost 1.5 and 4.4 dB on held-out data; hence ``MARGIN_DB``.

Model outputs keep their min/max: the output SQNR is dominated by the largest outputs (the confident logits), and
clipping them looked free on the calibration halves and cost the trained dwsep CNN 8 dB held out (entropy).

The readers' grids and the integer region come from the quantizer's own decisions (``grids.resolve_grids``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import CalibrationMethod
from ..ir import Graph, QuantRange, RangeSource
from .calibrate import CalibrationStats, calibrate
from .dataset import Dataset
from .grids import resolve_grids
from .params import activation_params
from .quantizer import QuantizeOptions, quantize_graph
from .sensitivity import dequantized_constants, evaluate, on_grid, simulate, sqnr_db, with_precision

SAMPLES = 256  # calibration samples simulated (all of a typical set: the outliers clipping drops are rare ones)
MARGIN_DB = 1.0  # a clipped configuration must beat min/max by this much on the held-back half (see below)


@dataclass(frozen=True)
class RangeChoice:
    proposed: int  # tensors whose proposed range differs from min/max
    kept: int  # of those, tensors that keep the proposal
    minmax_db: float  # simulated output SQNR with every tensor at min/max
    chosen_db: float  # ... with the chosen ranges
    names: frozenset[str] = frozenset()  # the tensors that keep their proposal


def _set(graph: Graph, ranges: Mapping[str, tuple[float, float]]) -> None:
    for t in graph.tensors():
        if t.name in ranges:
            lo, hi = ranges[t.name]
            t.qrange = QuantRange.per_tensor(lo, hi, RangeSource.CALIBRATION)


def select_ranges(graph: Graph, opts: QuantizeOptions, inputs: Sequence[np.ndarray],
                  minmax: Mapping[str, tuple[float, float]]) -> RangeChoice:
    """Set each calibrated tensor of ``graph`` to its proposed range (its current ``qrange``) or its ``minmax``
    range, as the module docstring says, judged on ``inputs`` (first ``SAMPLES`` samples)."""
    inputs = [np.asarray(a)[:SAMPLES] for a in inputs]
    outputs = {t.name for t in graph.outputs}
    proposed = {t.name: (min(t.qrange.min), max(t.qrange.max)) for t in graph.tensors()
                if t.name in minmax and t.qrange is not None and t.qrange.source == RangeSource.CALIBRATION
                and t.name not in outputs  # model outputs keep min/max (module docstring)
                and not np.allclose((min(t.qrange.min), max(t.qrange.max)), minmax[t.name], rtol=1e-6, atol=0)}
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
    for t in graph.tensors():
        if t.name not in proposed or t.name not in grids.produced or t.name not in float_env:
            continue
        dtype = grids.produced[t.name].dtype
        grid = {k: activation_params(QuantRange.per_tensor(*r, RangeSource.CALIBRATION), dtype)
                for k, r in (("minmax", minmax[t.name]), ("proposed", proposed[t.name]))}
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
        if err["proposed"] < err["minmax"]:
            kept[t.name] = proposed[t.name]

    def score(ranges: Mapping[str, tuple[float, float]]) -> float:
        _set(graph, {**minmax, **ranges})
        return sqnr_db(reference, list(simulate(graph, inputs, resolve_grids(graph, opts), constants).values()))

    options = {"minmax": ({}, score({})), "local": (kept, score(kept) if kept else -np.inf),
               "all": (proposed, score(proposed))}
    best = max(options, key=lambda k: (options[k][1] - (0.0 if k == "minmax" else MARGIN_DB), k == "minmax"))
    _set(graph, {**minmax, **options[best][0]})
    return RangeChoice(len(proposed), len(options[best][0]), options["minmax"][1], options[best][1],
                       frozenset(options[best][0]))


def choose_ranges(graph: Graph, opts: QuantizeOptions, data: Dataset, method: CalibrationMethod,
                  full: CalibrationStats) -> RangeChoice:
    """``graph`` calibrated by ``method`` on ``data`` (``full``): validate each proposed range on held-back
    samples (module docstring) and leave each tensor at its proposal or its min/max."""
    outputs = {t.name for t in graph.outputs}
    proposals = {t.name: t.qrange for t in graph.tensors() if t.name in full.minmax and t.name not in outputs}
    half = data.num_samples // 2
    if half < 1:
        choice = RangeChoice(0, 0, float("nan"), float("nan"))
    else:
        fit = calibrate(graph, Dataset.in_memory([a[:half] for a in data.arrays], data.source), method)
        choice = select_ranges(graph, opts, [a[half:] for a in data.arrays], fit.minmax)
    for t in graph.tensors():
        if t.name in proposals:
            t.qrange = proposals[t.name] if t.name in choice.names else \
                QuantRange.per_tensor(*full.minmax[t.name], RangeSource.CALIBRATION)
    return choice
