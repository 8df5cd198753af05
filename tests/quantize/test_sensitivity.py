"""The simulated effect estimates (converter/quantize/sensitivity.py ``effects``) against their definition: one
full simulation of the integer model per candidate plan, noise energies summed over the folds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from converter.ir import Activation
from converter.quantize import sensitivity
from converter.quantize.grids import resolve_grids
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph
from converter.quantize.sensitivity import Effect, Fold, dequantized_constants, effects, with_precision
from tests.support.ir_models import Layer, build, calibrated


def _folds() -> list[Fold]:
    """x [1,9,9,3] -> conv 3x3 stride 2 (4, relu) -> depthwise 3x3 x2 (8) -> conv 1x1 (6) -> fully connected (5),
    INT8 per channel, calibrated on 32 samples; two folds judged on 6 other samples each."""
    rng = np.random.default_rng(7)
    model = build((1, 9, 9, 3), [
        Layer("conv_2d", rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4) * 0.1, Activation.RELU, stride=2),
        Layer("depthwise_conv_2d", rng.normal(size=(1, 3, 3, 8))),
        Layer("conv_2d", rng.normal(size=(6, 1, 1, 8)), rng.normal(size=6) * 0.1),
        Layer("fully_connected", rng.normal(size=(5, 5 * 5 * 6)) * 0.2),
    ])
    x = rng.normal(size=(44, 9, 9, 3)).astype(np.float32)
    g = calibrated(model, x[:32]).graph
    opts = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=True,
                           input_dtype=FLOAT32, output_dtype=FLOAT32)
    q = g.copy()
    quantize_graph(q, opts)
    return [Fold(g, opts, [x[32:38]], dequantized_constants(q)), Fold(g, opts, [x[38:44]], dequantized_constants(q))]


def _by_definition(folds: Sequence[Fold], candidates: Mapping[str, Sequence[str]]) -> list[Effect]:
    """Each candidate's gain from full simulations only (``simulate``: no run reused)."""
    def noise(f: Fold, nodes: Sequence[str]) -> float:
        out = sensitivity.simulate(f.graph, f.inputs, resolve_grids(f.graph, with_precision(f.opts, nodes)),
                                   f.constants)
        return sensitivity.noise_energy(reference[id(f)], list(out.values()))

    reference = {id(f): list(sensitivity.simulate(f.graph, f.inputs, resolve_grids(f.graph, with_precision(
        f.opts, [n.name for n in f.graph.nodes])), f.constants).values()) for f in folds}
    base = sum(noise(f, []) for f in folds)
    return sorted((Effect(name, tuple(nodes), sensitivity.gain_db(base, sum(noise(f, nodes) for f in folds)))
                   for name, nodes in candidates.items()), key=lambda e: -e.estimated_db)


def test_effects_equal_one_full_simulation_per_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bit for bit the same estimates as simulating the whole model for every candidate, while a candidate's
    simulation reruns only the nodes from the first one it changes on (those upstream take the plain run's
    values): per fold, the float reference and the plain run evaluate all 5 nodes (4 layers and the flatten), then
    each layer alone the nodes from its own position on, the pair from its first member on, and the flatten kept
    float none (it moves data: every node reads what it read in the plain run)."""
    folds = _folds()
    nodes = [n.name for n in folds[0].graph.nodes]
    assert len(nodes) == 5
    assert set(nodes) == set(resolve_grids(folds[0].graph, folds[0].opts).integer)
    layers = [n.name for n in folds[0].graph.nodes if n.op != "reshape"]
    flatten = next(n.name for n in folds[0].graph.nodes if n.op == "reshape")
    candidates = {n: [n] for n in layers} | {"pair": [layers[1], layers[3]], flatten: [flatten]}
    expected = _by_definition(folds, candidates)
    calls: list[str] = []
    evaluate = sensitivity.evaluate

    def counted(node, args, samples=None):  # noqa: ANN001, ANN202
        calls.append(node.name)
        return evaluate(node, args, samples)

    monkeypatch.setattr(sensitivity, "evaluate", counted)
    got = effects(folds, candidates)
    assert [(e.name, e.nodes, e.estimated_db) for e in got] == [(e.name, e.nodes, e.estimated_db) for e in expected]
    assert any(e.estimated_db > 0 for e in got)  # the estimates are not all zero
    reruns = sum(len(nodes) - nodes.index(members[0]) for members in candidates.values() if members != [flatten])
    assert len(calls) == len(folds) * (2 * len(nodes) + reruns)
