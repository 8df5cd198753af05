"""The simulated effect estimates (converter/quantize/sensitivity.py ``effects``) against their definition: one
full simulation of the integer model per candidate plan, each sample's noise energy (``sample_noise``) over the
samples of all folds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from converter.ir import Activation, Graph, Padding, QuantRange, RangeSource
from converter.ir.attrs import Conv2DAttrs, DepthwiseConv2DAttrs, FullyConnectedAttrs, Pool2DAttrs, ReshapeAttrs
from converter.quantize import sensitivity
from converter.quantize.grids import resolve_grids
from converter.quantize.params import activation_params
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph
from converter.quantize.sensitivity import Effect, Fold, dequantized_constants, effects, with_precision
from tests.support.ir_models import Model, calibrated


def _folds() -> list[Fold]:
    """x [1,9,9,3] -> conv 3x3 stride 2 (4, relu) -> max-pool 2x2 -> depthwise 3x3 x2 (8) -> conv 1x1 (6) ->
    flatten -> fully connected (5), INT8 per channel, calibrated on 32 samples; two folds judged on 6 other
    samples each."""
    rng = np.random.default_rng(7)
    g = Graph()
    x = g.tensor("x", np.float32, (1, 9, 9, 3))
    g.add_input(x)

    def const(name: str, shape: tuple[int, ...], scale: float = 1.0) -> object:  # noqa: ANN401
        return g.const(name, (rng.normal(size=shape) * scale).astype(np.float32))

    h = [g.tensor(f"h{i}", np.float32, s) for i, s in enumerate([(1, 5, 5, 4), (1, 5, 5, 4), (1, 5, 5, 8),
                                                                 (1, 5, 5, 6), (1, 150), (1, 5)])]
    g.add_node("conv_2d", [x, const("w0", (4, 3, 3, 3)), const("b0", (4,), 0.1)], [h[0]],
               Conv2DAttrs((2, 2), Padding.SAME, activation=Activation.RELU))
    g.add_node("max_pool_2d", [h[0]], [h[1]], Pool2DAttrs((2, 2), (1, 1), Padding.SAME))
    g.add_node("depthwise_conv_2d", [h[1], const("w2", (1, 3, 3, 8)), None], [h[2]],
               DepthwiseConv2DAttrs((1, 1), Padding.SAME, 2))
    g.add_node("conv_2d", [h[2], const("w3", (6, 1, 1, 8)), const("b3", (6,), 0.1)], [h[3]],
               Conv2DAttrs((1, 1), Padding.SAME))
    g.add_node("reshape", [h[3]], [h[4]], ReshapeAttrs((1, 150)))
    g.add_node("fully_connected", [h[4], const("w5", (5, 150), 0.2), None], [h[5]], FullyConnectedAttrs())
    g.set_outputs([h[5]])
    data = rng.normal(size=(44, 9, 9, 3)).astype(np.float32)
    calibrated(Model(g, (1, 9, 9, 3)), data[:32])
    opts = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=True,
                           input_dtype=FLOAT32, output_dtype=FLOAT32)
    q = g.copy()
    quantize_graph(q, opts)
    constants = dequantized_constants(q)
    return [Fold(g, opts, [data[32:38]], constants), Fold(g, opts, [data[38:]], constants)]


def _by_definition(folds: Sequence[Fold], candidates: Mapping[str, Sequence[str]]) -> list[Effect]:
    """Each candidate's gain and its standard error from full simulations only (``simulate``: no run reused): each
    sample's noise energy over the samples of all folds, ``jackknife_gain_db``."""
    def noise(nodes: Sequence[str]) -> np.ndarray:
        return np.concatenate([sensitivity.sample_noise(reference[id(f)], list(sensitivity.simulate(
            f.graph, f.inputs, resolve_grids(f.graph, with_precision(f.opts, nodes)), f.constants).values()))
            for f in folds])

    reference = {id(f): list(sensitivity.simulate(f.graph, f.inputs, resolve_grids(f.graph, with_precision(
        f.opts, [n.name for n in f.graph.nodes])), f.constants).values()) for f in folds}
    base = noise([])
    gains = {name: sensitivity.jackknife_gain_db(base, noise(nodes)) for name, nodes in candidates.items()}
    return sorted((Effect(name, tuple(nodes), gains[name][0], estimated_se_db=gains[name][1])
                   for name, nodes in candidates.items()), key=lambda e: -e.estimated_db)


def test_effects_equal_one_full_simulation_per_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bit for bit the same estimates as simulating the whole model for every candidate, while a candidate's
    simulation reruns only the nodes its change reaches (the others take the plain run's values). Per fold, the
    float reference and the plain run evaluate all 6 nodes; then a conv, depthwise or fully connected layer kept
    float reruns the nodes from its own position on (the pair from its first member on); the max-pool or the
    flatten kept float none (a float op reads an integer op's output on that op's grid, as the integer op did, and
    its reader reads it on the grid it had: every node's grids and inputs are the plain run's)."""
    folds = _folds()
    nodes = [n.name for n in folds[0].graph.nodes]
    assert set(nodes) == set(resolve_grids(folds[0].graph, folds[0].opts).integer)
    op = {n.name: n.op for n in folds[0].graph.nodes}
    layers = [n for n in nodes if op[n] not in ("max_pool_2d", "reshape")]
    pool, flatten = (next(n for n in nodes if op[n] == o) for o in ("max_pool_2d", "reshape"))
    candidates = {n: [n] for n in layers} | {"pair": [layers[1], layers[3]], pool: [pool], flatten: [flatten]}
    expected = _by_definition(folds, candidates)
    calls: list[str] = []
    evaluate = sensitivity.evaluate

    def counted(node, args, samples=None):  # noqa: ANN001, ANN202
        calls.append(node.name)
        return evaluate(node, args, samples)

    monkeypatch.setattr(sensitivity, "evaluate", counted)
    got = effects(folds, candidates)
    assert [(e.name, e.nodes, e.estimated_db, e.estimated_se_db) for e in got] == \
        [(e.name, e.nodes, e.estimated_db, e.estimated_se_db) for e in expected]
    assert sum(e.estimated_db > 0 for e in got) >= 3  # the estimates are not all zero
    reruns = sum(len(nodes) - nodes.index(members[0]) for name, members in candidates.items()
                 if name not in (pool, flatten))
    assert len(calls) == len(folds) * (2 * len(nodes) + reruns)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_on_grid_as_float32_is_the_float64_reals_rounded(dtype: type) -> None:
    """What a simulated node reads (``on_grid(..., np.float32)``, written in float32 as computed) is bit for bit
    the float64 reals cast to float32, on random values, values beyond the range and exact halves of a step,
    across more than one chunk."""
    p = activation_params(QuantRange.per_tensor(-3.0, 5.0, RangeSource.CALIBRATION), np.dtype(dtype))
    scale, zp = float(p.scale[0]), int(p.zero_point[0])
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-8, 11, sensitivity.CHUNK + 999), (np.arange(-600, 601) / 2.0 - zp) * scale])
    for arr in (x, x.astype(np.float32)):
        want = sensitivity.on_grid(arr.reshape(1, -1), p).astype(np.float32)
        got = sensitivity.on_grid(arr.reshape(1, -1), p, np.float32)
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.array_equal(got.view(np.int32), want.view(np.int32))
