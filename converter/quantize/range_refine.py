"""--optimize=accuracy's last step: activation ranges narrowed inside their min/max where LiteRT measures a gain.

A tensor's int8 grid spends its 256 codes on the calibrated range. Where a few values reach far beyond the bulk,
narrowing the range cuts the rounding noise of every value (by the square of the factor) and clips the few; which
wins is known only at the model output, and on recurrent models only after the noise has gone round the recurrence
(the trained LSTM: its 16 cell states narrowed gain in LiteRT, while the per-tensor simulation of ``range_select``,
which leaves out the kernels' fixed-point arithmetic, and the readers' error both keep min/max). So candidates are
measured in LiteRT, within a budget:

  1. units: the calibrated activations written by integer kernels (model outputs keep min/max, as in
     ``range_select``), grouped where one op repeats inside a layer (``model/lstm/cell_3/add_1`` and
     ``model/lstm/cell_4/add_1``: the same op of every time step, whose values are drawn alike, are one unit);
  2. ranked by what their rounding costs: the simulated output SQNR (``sensitivity.resimulate``) gained when the
     unit's tensors (and the data-moving ops' views of them on the same grid) are read exactly; only a unit whose
     rounding costs something can gain from a finer grid, and that cost bounds what it can gain. The ranking
     leaves out empirical bias shifts (they offset the mean of exactly the rounding a unit is freed of);
  3. the first ``UNITS_MEASURED`` units whose grid a narrower range moves (not a logistic's or tanh's fixed
     output), one after the other: the model with the unit's ranges at each of ``FACTORS`` of their width, the
     units kept before at theirs, run in LiteRT on the held-back halves of the calibration samples (the two folds
     of ``range_select.choose_best``, each with its configuration's options), noise summed per sample. A unit
     keeps its best factor when the gain over the model so far is above one jackknife standard error of it
     (``range_select.gain_db``: a real gain, not sampling), and the next unit is judged against that model; the
     first unit that does not gain ends the search (the units after it cost less, which bounds what they can
     gain: on the trained test models no unit after one that did not gain gained, and the CNNs, where the first
     loses, measure one unit instead of four);
  4. the narrowed ranges are used when together they gain more than their standard error over the configuration
     chosen before and the result beats plain min/max INT8 as any configuration must
     (``range_select.significant``: by 0.5 dB and one standard error).

On the trained test models (docs/calibration.md): the LSTM's cell states (x0.7) and forget products (x0.9), 31.00
-> 32.23 dB held out; the transformer's last layer norm output (x0.9, its last dense layer cancels: its output
SQNR is 10 dB below its input's), 19.30 -> 21.76 dB; the CNNs keep their ranges (every narrowing measured lost).
Every candidate is the model's own ops with other scales and zero points: the same ops and the same file size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..ir import Graph, QuantRange, RangeSource
from .grids import Grids, resolve_grids
from .quantizer import QuantizeOptions, quantize_graph
from .sensitivity import (dequantized_constants, layers, on_output_grids, resimulate, sample_noise,
                          samples_within_budget, with_precision)

FACTORS = (0.9, 0.8, 0.7, 0.6)  # a unit's candidate widths, as fractions of its current range
UNITS_MEASURED = 4  # units measured in LiteRT (each: len(FACTORS) models per fold)
RANK_SAMPLES = 64  # samples the ranking simulates, at most
RANK_BUDGET = 2**26  # bytes of activations the ranking holds: once per unit it simulates the model again (MobileNetV2
# at 224x224: one sample, ~0.5 s a unit; the trained test models: all 64 samples)

Energies = Callable[[], tuple[np.ndarray, np.ndarray]]  # the wait for a model's per-sample signal and noise


@dataclass(frozen=True)
class FoldModel:
    """How one fold builds and judges a candidate: its ``opts`` (bias shifts, layer inputs from its half) and
    ``measure(graph, opts)``, which quantizes the graph as its ranges stand and runs it in LiteRT on the fold's
    held-back samples."""

    ranges: Mapping[str, tuple[float, float]]  # the fold's ranges of the model chosen so far
    opts: QuantizeOptions
    measure: Callable[[Graph, QuantizeOptions], Energies]


@dataclass(frozen=True)
class Narrowed:
    """One unit measured: its tensors, the simulated noise cost of their rounding (dB of output SQNR they take),
    the best factor in LiteRT and its gain (dB) and standard error over the model chosen before it."""

    unit: str
    tensors: tuple[str, ...]
    cost_db: float
    factor: float
    gain_db: float
    standard_error_db: float
    kept: bool


def units(graph: Graph, names: Sequence[str]) -> dict[str, list[str]]:
    """The tensors ``names`` grouped by the op that writes them, named with the digits of its scopes below its
    layer (``sensitivity.layers``) replaced: the same op of every repetition of a layer (``cell_3/add_1``,
    ``cell_4/add_1``) is one unit, two ops of one repetition (``cell_3/mul_1``, ``cell_3/mul_2``) are two, and ops
    of different layers never share one."""
    producer = {t.name: t.producer for t in graph.tensors() if t.name in names and t.producer is not None}
    by_layer = layers(graph, [n.name for n in graph.nodes])
    layer_of = {node: layer for layer, members in by_layer.items() for node in members}
    out: dict[str, list[str]] = {}
    for name in names:
        node = producer.get(name)
        if node is None:
            continue
        layer = layer_of.get(node.name, "")
        scopes, slash, op = node.name[len(layer):].rpartition("/")  # below the layer: "/cell_3/add_1", or ""
        index = next(i for i, t in enumerate(node.outputs) if t.name == name)
        out.setdefault(f"{layer}{re.sub(r'[0-9]+', '#', scopes)}{slash}{op}:{index}", []).append(name)
    return out


def rank(graph: Graph, opts: QuantizeOptions, inputs: Sequence[np.ndarray],
         candidates: Mapping[str, Sequence[str]]) -> list[tuple[str, float]]:
    """Each unit's rounding cost (dB): the simulated output SQNR gained when its tensors alone are read exactly
    (step 2 of the module docstring), most costly first; units that cost nothing are left out."""
    n = samples_within_budget(graph, RANK_SAMPLES, RANK_BUDGET)
    inputs = [np.asarray(a)[:n] for a in inputs]
    copy = graph.copy()
    quantize_graph(copy, opts)
    constants = dequantized_constants(copy)
    grids = resolve_grids(graph, opts)
    exact = resolve_grids(graph, with_precision(opts, [node.name for node in graph.nodes]))
    reference = resimulate(graph, inputs, exact, constants)
    outputs = [t.name for t in graph.outputs]
    expected = [reference.env[o] for o in outputs]
    base = resimulate(graph, inputs, grids, constants)
    base_noise = sample_noise(expected, on_output_grids(base.env, outputs, grids)).sum()
    reader = {(node.name, i): t.name for node in graph.nodes for i, t in enumerate(node.inputs) if t is not None}
    costs = []
    for unit, tensors in candidates.items():
        members = _same_grid(graph, grids, tensors)
        freed = replace(grids, reads={k: p for k, p in grids.reads.items() if reader.get(k) not in members})
        if len(freed.reads) == len(grids.reads):
            continue
        run = resimulate(graph, inputs, freed, constants, previous=base)
        noise = sample_noise(expected, on_output_grids(run.env, outputs, grids)).sum()
        if noise < base_noise:
            costs.append((unit, float(10 * np.log10(max(base_noise, 1e-30) / max(noise, 1e-30)))))
    return sorted(costs, key=lambda c: -c[1])


def _same_grid(graph: Graph, grids: Grids, tensors: Sequence[str]) -> set[str]:
    """``tensors`` and what data-moving ops make of them on the same grid (a reshape's or transpose's output
    written on its input's grid: reading only the input exactly would leave the reader of the reshape on the
    grid)."""
    out = set(tensors)
    for node in graph.nodes:
        src = node.inputs[0] if node.inputs else None
        if src is None or src.name not in out or src.name not in grids.produced:
            continue
        out.update(t.name for t in node.outputs if grids.produced.get(t.name) == grids.produced[src.name])
    return out


def refine(graph: Graph, folds: Sequence[FoldModel], chosen: np.ndarray, plain: np.ndarray,
           ranked: Sequence[tuple[str, float]], candidates: Mapping[str, Sequence[str]],
           significant: Callable[[float, float], bool],
           gain_db: Callable[[np.ndarray, np.ndarray], tuple[float, float]],
           ) -> tuple[dict[str, float], list[Narrowed], tuple[float, float]]:
    """Steps 3 and 4 of the module docstring: ``folds`` build and judge the configuration chosen (its per-sample
    noise on their held-back samples, concatenated: ``chosen``; plain min/max INT8's: ``plain``) with the first
    ``UNITS_MEASURED`` movable units of ``ranked`` (``candidates``: their tensors) narrowed, up to the first that
    does not gain. Returns the factor of
    each tensor narrowed (none unless step 4 passes), every unit measured, and the kept units' gain and standard
    error together. ``significant`` and ``gain_db``: range_select's."""
    factor: dict[str, float] = {}
    current = chosen
    measured: list[Narrowed] = []
    for unit, cost in ranked:
        if len(measured) == UNITS_MEASURED:
            break
        tensors = [t for t in candidates[unit] if all(t in fold.ranges for fold in folds)]
        if not _moves(graph, folds[0], tensors, factor):
            continue
        pending: list[tuple[float, list[Energies]]] = []
        for f in FACTORS:
            waits = []
            for fold in folds:
                set_ranges(graph, scaled(fold.ranges, {**factor, **dict.fromkeys(tensors, f)}))
                waits.append(fold.measure(graph, fold.opts))
            pending.append((f, waits))
        noise = {f: np.concatenate([e()[1] for e in waits]) for f, waits in pending}
        gains = {f: gain_db(current, n) for f, n in noise.items()}
        best = max(gains, key=lambda f: gains[f][0])
        kept = gains[best][0] > max(gains[best][1], 0.0)
        measured.append(Narrowed(unit, tuple(tensors), cost, best, *gains[best], kept))
        if not kept:  # the units after it cost less (a bound on what they can gain): the budget stops here
            break
        factor.update(dict.fromkeys(tensors, best))
        current = noise[best]
    total = gain_db(chosen, current) if factor else (0.0, 0.0)
    used = total[0] > total[1] and significant(*gain_db(plain, current))
    return (factor if used else {}), measured, total


def _moves(graph: Graph, fold: FoldModel, tensors: Sequence[str], factor: Mapping[str, float]) -> bool:
    """Whether narrowing ``tensors`` changes the grid any of them is written on (not where the kernel fixes it:
    a logistic's or tanh's output, or a same-scale op's, which takes its input's)."""
    grids = []
    for f in (1.0, min(FACTORS)):
        set_ranges(graph, scaled(fold.ranges, {**factor, **dict.fromkeys(tensors, f)}))
        grids.append(resolve_grids(graph, fold.opts).produced)
    return any(grids[0].get(t) != grids[1].get(t) for t in tensors)


def scaled(ranges: Mapping[str, tuple[float, float]], factor: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """``ranges`` with each tensor named in ``factor`` narrowed to that fraction of its range (min and max times
    the factor: an int8 range holds 0, so it stays inside)."""
    return {**ranges, **{t: (ranges[t][0] * f, ranges[t][1] * f) for t, f in factor.items()}}


def set_ranges(graph: Graph, ranges: Mapping[str, tuple[float, float]]) -> None:
    """The named tensors' calibrated ranges set to ``ranges`` (name -> (min, max))."""
    for t in graph.tensors():
        if t.name in ranges:
            t.qrange = QuantRange.per_tensor(*ranges[t.name], RangeSource.CALIBRATION)

