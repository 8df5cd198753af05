"""Adaptive weight rounding (converter/quantize/rounding.py) against exact math: the inputs' second moments it
gathers reproduce each layer's output error exactly, and its codes against a brute-force search of every up/down
choice on tiny fully connected layers."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from converter.frontend.reference import ReferenceExecutor, evaluate_node
from converter.ir import QuantParams
from converter.quantize import rounding, rounding_inputs
from converter.quantize.dataset import Dataset
from converter.quantize.qmath import INT8, UINT8
from tests.support.ir_models import Layer, build


def _model(rng: np.random.Generator) -> tuple:  # noqa: ANN401
    """x [1,9,9,3] -> conv 3x3 stride 2 SAME (4) -> depthwise 3x3 x2 SAME (8) -> fully connected (5)."""
    return build((1, 9, 9, 3), [
        Layer("conv_2d", rng.normal(size=(4, 3, 3, 3)), stride=2),
        Layer("depthwise_conv_2d", rng.normal(size=(1, 3, 3, 8))),
        Layer("fully_connected", rng.normal(size=(5, 5 * 5 * 8))),
    ])


@pytest.mark.parametrize("positions", [10_000, 4])
def test_gram_reproduces_each_layers_output_error(positions: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """For a change dW of a layer's weights, sum over the sampled rows of |dW x|^2 = sum_g dW_g (X^T X)_g dW_g^T
    (the identity the rounding objective rests on). Checked against the layer itself run on W and on W + dW at
    the output positions ``collect`` samples: all of them (10000 >= 25), and a stride-3 subset (4 per sample of
    5x5: every third row and column, (0, 3) x (0, 3)). Exact up to float32 rounding of the layer's outputs."""
    monkeypatch.setattr(rounding_inputs, "POSITIONS", positions)
    rng = np.random.default_rng(0)
    model = _model(rng)
    g = model.graph
    x = rng.normal(size=(6, 9, 9, 3)).astype(np.float32)
    grams = rounding.collect(g, Dataset.in_memory([x], "test"))
    nodes = rounding.layers(g)
    assert [n.op for n in nodes] == ["conv_2d", "depthwise_conv_2d", "fully_connected"]
    inputs = ReferenceExecutor(g, fetch=[n.inputs[0] for n in nodes])([x])
    for node, xin in zip(nodes, inputs, strict=True):
        w = node.inputs[1].data
        dw = rng.normal(size=w.shape).astype(np.float32)
        # The layer is linear in its weights (no bias): its output for dW alone is the change.
        diff = np.asarray(evaluate_node(node, [xin, dw, None])[0], np.float64)
        if node.op != "fully_connected" and positions == 4:
            diff = diff[:, ::3, ::3]
        rows, _ = rounding._as_rows(node, dw)  # noqa: SLF001
        gram = grams[node.name].gram
        predicted = float(np.einsum("grn,gnm,grm->", rows, gram, rows))
        assert predicted == pytest.approx(float(np.sum(diff ** 2)), rel=1e-4), node.op
        expected_rows = x.shape[0] * (diff.shape[1] * diff.shape[2] if diff.ndim == 4 else 1)
        assert grams[node.name].rows == expected_rows


def _brute_force(v: np.ndarray, h: np.ndarray, qmin: int, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of v [1, R, n]: the smallest loss over all 2^n floor/ceil choices, and its codes."""
    lo, hi = np.clip(np.floor(v), qmin, qmax), np.clip(np.ceil(v), qmin, qmax)
    choices = np.array(list(itertools.product([0, 1], repeat=v.shape[-1])), bool)  # [2^n, n]
    best = np.empty(v.shape[1])
    codes = np.empty_like(v)
    for r in range(v.shape[1]):
        q = np.where(choices, hi[0, r], lo[0, r])[None]  # [1, 2^n, n]
        losses = rounding.loss(q, np.broadcast_to(v[:, r:r + 1], q.shape), h)[0]
        best[r] = losses.min()
        codes[0, r] = q[0, losses.argmin()]
    return best, codes


def test_tiny_fully_connected_against_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    """8 inputs, 3 outputs, 100 seeded layers with correlated inputs (X = N(0,1) mixed by a random matrix) and
    weights up to +-40 steps. Exact facts: every code is its weight's floor or ceil (clamped); the loss is never
    above nearest rounding's (step 3 keeps nearest otherwise); a result other than nearest is a 1-flip local optimum
    (step 2 ends when no flip lowers the loss, given sweeps enough: 50 here, 3 in conversions); with a diagonal H
    (uncorrelated inputs) the optimum is nearest rounding and adaptive returns exactly it. Against the brute-force
    optimum it is a heuristic: it must find the optimum for over twice as many rows as nearest rounding does and
    leave less than a third of nearest's excess loss (measured: 140 vs 42 rows of 300, excess 0.21x)."""
    monkeypatch.setattr(rounding, "SWEEPS", 50)
    rng = np.random.default_rng(0)
    hits = near_hits = 0
    excess = near_excess = 0.0
    for _ in range(100):
        n = 8
        x = rng.normal(size=(50, n)) @ rng.normal(size=(n, n))
        inputs = rounding.LayerInputs((x.T @ x)[None], 50)
        h = rounding.hessian(inputs)
        v = rng.normal(size=(1, 3, n)) * 20
        q = rounding.adaptive_codes(v, h, -127, 127).astype(np.float64)
        nearest = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -127, 127)
        assert np.all((q == np.floor(v)) | (q == np.ceil(v)))
        got, near = rounding.loss(q, v, h)[0], rounding.loss(nearest, v, h)[0]
        assert np.all(got <= near + 1e-12)
        for r in np.nonzero(np.any(q[0] != nearest[0], axis=-1))[0]:
            for j in range(n):
                flipped = q[:, r:r + 1].copy()
                flipped[0, 0, j] = np.ceil(v[0, r, j]) if flipped[0, 0, j] == np.floor(v[0, r, j]) else \
                    np.floor(v[0, r, j])
                assert rounding.loss(flipped, v[:, r:r + 1], h)[0, 0] >= got[r] - 1e-9
        best, _ = _brute_force(v, h, -127, 127)
        hits += int(np.sum(got <= best * (1 + 1e-9)))
        near_hits += int(np.sum(near <= best * (1 + 1e-9)))
        excess += float(np.sum(got - best))
        near_excess += float(np.sum(near - best))
        diag = np.diag(rng.uniform(0.5, 2.0, n))[None]
        assert np.array_equal(rounding.adaptive_codes(v, diag, -127, 127), nearest)
        assert np.allclose(rounding.loss(nearest, v, diag)[0], _brute_force(v, diag, -127, 127)[0])
    assert hits > 2 * near_hits
    assert excess < near_excess / 3


@pytest.mark.parametrize("dtype", [INT8, UINT8])
def test_round_weights_on_a_fully_connected_layer(dtype: np.dtype) -> None:
    """``round_weights`` on an FC node: codes are the weights' floor or ceil on the grid (clamped to the range: the
    uint8 grid here clips the largest weights), the loss it reports is s^2 (Q - V) H (Q - V)^T of the codes it
    returns (recomputed here from the float weights), and no larger than nearest rounding's."""
    rng = np.random.default_rng(1)
    model = build((1, 6), [Layer("fully_connected", rng.normal(size=(4, 6)))])
    node = rounding.layers(model.graph)[0]
    w = node.inputs[1].data.astype(np.float64)
    x = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    inputs = rounding.LayerInputs((x.T @ x)[None], 40)
    if dtype == INT8:  # per channel, symmetric, [-127, 127]
        s = np.abs(w).max(axis=1) / 127
        p = QuantParams(INT8, tuple(s), (0,) * 4, (-1.0,), (1.0,), 0)
        v, qmin, qmax = w / s[:, None], -127, 127
    else:  # per tensor, zero point 100, range clipping the top of the weights
        s0 = (w.max() - w.min()) / 255 * 0.8
        p = QuantParams(UINT8, (s0,), (100,), (-1.0,), (1.0,))
        v, qmin, qmax, s = w / s0 + 100, 0, 255, np.full(4, s0)
    codes, done = rounding.round_weights(node, w, p, inputs, narrow=dtype == INT8)
    assert codes.dtype == dtype
    q = codes.astype(np.float64)
    assert np.all((q == np.clip(np.floor(v), qmin, qmax)) | (q == np.clip(np.ceil(v), qmin, qmax)))
    h = rounding.hessian(inputs)
    assert done.adaptive_loss == pytest.approx(float(np.sum(s ** 2 * rounding.loss(q[None], v[None], h)[0])))
    assert done.adaptive_loss <= done.nearest_loss
    assert done.changed == int(np.count_nonzero(codes != np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), qmin,
                                                                   qmax).astype(dtype)))


def _two_layers() -> tuple:  # noqa: ANN401
    """x [1, 12] -> fully connected (16, relu) -> fully connected (6), calibrated on 96 samples."""
    from converter.ir import Activation
    from tests.support.ir_models import calibrated

    rng = np.random.default_rng(5)
    layers = [Layer("fully_connected", rng.normal(size=(16, 12)) * 0.4, rng.normal(size=16) * 0.1, Activation.RELU),
              Layer("fully_connected", rng.normal(size=(6, 16)) * 0.4, rng.normal(size=6) * 0.1)]
    x = (rng.normal(size=(96, 12)) @ rng.normal(size=(12, 12))).astype(np.float32)
    return calibrated(build((1, 12), layers), x), x


def test_quantized_inputs_are_the_partly_quantized_models() -> None:
    """``collect`` with QuantizeOptions: each layer's X_q is its input in the simulated integer model with every
    earlier layer at the codes chosen for it (sensitivity.simulate on the graph quantized with those codes), read
    on its grid, and X_f the float graph's; the Gram matrices and the two halves (every other sample) are exact sums
    of their products (float32 rounding). The chosen codes are cached: quantizing with the collected inputs writes
    exactly them."""
    from converter.quantize.grids import resolve_grids
    from converter.quantize.precision import Precision, PrecisionPlan
    from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph
    from converter.quantize.sensitivity import dequantized_constants, on_grid, simulate

    model, x = _two_layers()
    g = model.graph
    opts = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=True,
                           input_dtype=FLOAT32, output_dtype=FLOAT32)
    got = rounding.collect(g, Dataset.in_memory([x], "test"), opts=opts)
    first, second = rounding.layers(g)
    assert sorted(got) == sorted([first.name, second.name])
    copy = g.copy()
    quantize_graph(copy, replace(opts, layer_inputs=got))
    consts = dequantized_constants(copy)
    grids = resolve_grids(g, opts)
    float_env = ReferenceExecutor(g, fetch=[first.inputs[0], second.inputs[0]])([x])
    quant_env = simulate(g, [x], grids, consts, keep=True)
    for node, xf in zip((first, second), float_env, strict=True):
        xq = on_grid(quant_env[node.inputs[0].name].reshape(len(x), -1), grids.read(node.name, 0))
        xf = np.asarray(xf, np.float64).reshape(len(x), -1)
        li = got[node.name]
        assert li.rows == len(x)
        np.testing.assert_allclose(li.gram[0], xq.T @ xq, rtol=1e-4, atol=1e-4 * np.abs(xq.T @ xq).max())
        np.testing.assert_allclose(li.cross[0], xq.T @ xf, rtol=1e-4, atol=1e-4 * np.abs(xq.T @ xf).max())
        np.testing.assert_allclose(li.target[0], xf.T @ xf, rtol=1e-4, atol=1e-4 * np.abs(xf.T @ xf).max())
        half = xq[1::2]
        np.testing.assert_allclose(li.folds[1].gram[0], half.T @ half, rtol=1e-4,
                                   atol=1e-4 * np.abs(half.T @ half).max())
        written = next(n for n in copy.nodes if n.name == node.name).inputs[1]
        codes, _ = next(iter(li.chosen.values()))
        assert np.array_equal(np.asarray(written.data), codes)


def test_data_loss_and_the_shifted_target() -> None:
    """The asymmetric objective's algebra on one fully connected layer: ``_data_loss`` (exact) equals
    sum |W_hat x_q - W x_f|^2 / N computed from the samples, and the "shifted" target T W is the stationary point
    of the damped objective |W X_f - W_hat X_q|^2 / N + mu |W_hat - W|^2: (X_q^T X_q / N + mu) T W = (X_q^T X_f / N
    + mu) W per row."""
    rng = np.random.default_rng(2)
    xf = rng.normal(size=(200, 7)) @ rng.normal(size=(7, 7))
    xq = xf + rng.normal(size=xf.shape) * 0.3
    w = rng.normal(size=(1, 4, 7))
    inputs = rounding.LayerInputs((xq.T @ xq)[None], 200, (xq.T @ xf)[None], (xf.T @ xf)[None])
    layer = rounding._Layer(w, np.full(w.shape, 0.05), np.zeros(w.shape), -127, 127)  # noqa: SLF001
    q = np.round(w / 0.05) + rng.integers(-1, 2, size=w.shape)
    direct = np.sum((xq @ (0.05 * q[0]).T - xf @ w[0].T) ** 2, axis=0) / 200
    np.testing.assert_allclose(rounding._data_loss(layer, q, inputs, exact=True)[0], direct, rtol=1e-9)  # noqa: SLF001
    h, moved = rounding._shifted(inputs, w)  # noqa: SLF001
    mu = rounding.SHIFT_DAMPING * np.mean(np.diag(xq.T @ xq) / 200)
    np.testing.assert_allclose(moved[0] @ h[0], w[0] @ (xq.T @ xf / 200 + mu * np.eye(7)).T, rtol=1e-8)
    np.testing.assert_allclose(h[0], xq.T @ xq / 200 + mu * np.eye(7), rtol=1e-12)


@pytest.mark.parametrize("quantized", [False, True])
def test_shared_weights_are_rounded_once(quantized: bool) -> None:
    """Two fully connected layers reading one weight tensor (as an unrolled recurrent cell's steps do): their rows
    are pooled (the Gram matrix is the sum of both layers' x x^T, exactly) and the quantized graph has one weight
    constant for both, with the codes chosen on the pooled rows: the file does not grow."""
    from converter.ir import Graph
    from converter.ir.attrs import FullyConnectedAttrs
    from converter.quantize.precision import Precision, PrecisionPlan
    from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph
    from tests.support.ir_models import Model, calibrated

    rng = np.random.default_rng(4)
    g = Graph()
    x = g.tensor("x", np.float32, (1, 8))
    g.add_input(x)
    w = g.const("w", (rng.normal(size=(8, 8)) * 0.5).astype(np.float32))
    h = g.tensor("h", np.float32, (1, 8))
    y = g.tensor("y", np.float32, (1, 8))
    g.add_node("fully_connected", [x, w, None], [h], FullyConnectedAttrs())
    g.add_node("fully_connected", [h, w, None], [y], FullyConnectedAttrs())
    g.set_outputs([y])
    xs = (rng.normal(size=(64, 8)) @ rng.normal(size=(8, 8))).astype(np.float32)  # MAX_SAMPLES: all used
    model = calibrated(Model(g, (1, 8), []), xs)
    opts = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=True,
                           input_dtype=FLOAT32, output_dtype=FLOAT32)
    got = rounding.collect(model.graph, Dataset.in_memory([xs], "test"), opts=opts if quantized else None)
    first, second = rounding.layers(model.graph)
    assert got[first.name] is got[second.name]
    if not quantized:
        hs = np.asarray(ReferenceExecutor(model.graph, fetch=[h])([xs])[0], np.float64).reshape(64, 8)
        expected = xs.T.astype(np.float64) @ xs + hs.T @ hs
        np.testing.assert_allclose(got[first.name].gram[0], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
        assert got[first.name].rows == 128
    copy = model.graph.copy()
    quantize_graph(copy, replace(opts, layer_inputs=got))
    weights = {id(n.inputs[1]) for n in copy.nodes if n.op == "fully_connected"}
    assert len(weights) == 1


def test_riders_in_calibrations_run_give_what_their_own_runs_give(tf: Any) -> None:  # noqa: ANN401
    """--optimize=accuracy takes adaptive rounding's X^T X and the float outputs in calibration's TensorFlow run
    over each half (calibrate's riders) instead of runs of their own. On 100 samples (calibration's batches of 16;
    X^T X on the first 64 of them, four whole batches): the sums equal ``collect``'s own run bit for bit (the same
    batches), the outputs (first 70 samples) equal ReferenceExecutor's run on the same batches bit for bit, and
    calibration's own statistics are those it computes without riders."""
    from converter.config import CalibrationMethod
    from converter.quantize.calibrate import calibrate, output_rider

    rng = np.random.default_rng(1)
    g = _model(rng).graph
    x = rng.normal(size=(100, 9, 9, 3)).astype(np.float32)
    data = Dataset.in_memory([x], "test")
    means_for = [n.inputs[0].name for n in rounding.layers(g)]
    alone = calibrate(g, data, CalibrationMethod.MINMAX, means_for=means_for)
    expected = rounding.collect(g, data)
    output, outputs = output_rider(g, 70)
    grams = rounding_inputs.gram_rider(g, data)
    assert grams is not None
    ridden = calibrate(g, data, CalibrationMethod.MINMAX, means_for=means_for, riders=[output, grams[0]])
    assert ridden.minmax == alone.minmax
    assert ridden.channel_means.keys() == alone.channel_means.keys()
    for name, mean in alone.channel_means.items():
        np.testing.assert_array_equal(ridden.channel_means[name], mean)
    got = grams[1]()
    assert got.keys() == expected.keys() and len(got) == 3
    for name, want in expected.items():
        np.testing.assert_array_equal(got[name].gram, want.gram)
        assert got[name].rows == want.rows
    reference = ReferenceExecutor(g)
    batches = [reference([x[s:s + 16]]) for s in range(0, 70, 16)]
    for k, out in enumerate(outputs()):
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, np.concatenate([b[k] for b in batches])[:70])
