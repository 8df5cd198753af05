"""CrossLayerEqualization: W_P[i] / s_i, b_P[i] / s_i, W_C[:, i] * s_i with s_i = sqrt(r_P[i] / r_C[i]) for each
layer pair P -> (ReLU, pooling, spatial mean) -> C; the float model is unchanged and per-tensor weight rounding
errs less."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from converter.ir import Graph
from converter.passes.equalize import CrossLayerEqualization
from converter.passes.fold_constants import FoldConstants
from converter.passes.fuse_activation import FuseActivation
from converter.passes.fuse_bias_add import FuseBiasAdd
from converter.passes.remove_identity import RemoveIdentity
from tests.support.weight_rounding import LAYERS, per_tensor_weight_sqnr

PREP = [RemoveIdentity(), FoldConstants(), FuseBiasAdd(), FuseActivation()]


def spread(rng: np.random.Generator, w: np.ndarray, axis: int) -> np.ndarray:
    """``w`` with each channel along ``axis`` scaled by 10^U(-1, 1): channel ranges two decades apart, as trained
    layers after batch-norm folding can have."""
    shape = [1] * w.ndim
    shape[axis] = -1
    return (w * 10.0 ** rng.uniform(-1, 1, w.shape[axis]).reshape(shape)).astype(np.float32)


def separable(tf: Any, rng: np.random.Generator, first: str = "relu", tap: bool = False) -> Callable[[Any], None]:  # noqa: ANN401
    """conv 3x3 (+bias, ``first``) -> depthwise 3x3 (+bias, relu) -> conv 1x1 (+bias, relu) -> max pool -> spatial
    mean -> dense; ``tap``: the depthwise output is a second graph output."""
    def c(w: np.ndarray) -> Any:  # noqa: ANN401
        return tf.constant(w.astype(np.float32))

    def build(x: Any) -> None:  # noqa: ANN401
        act = {"relu": tf.nn.relu, "relu6": tf.nn.relu6}[first]
        h = act(tf.nn.bias_add(tf.nn.conv2d(x, c(spread(rng, rng.standard_normal((3, 3, 3, 8)), 3)), 1, "SAME"),
                               c(rng.standard_normal(8))))
        d = tf.nn.relu(tf.nn.bias_add(tf.nn.depthwise_conv2d(
            h, c(spread(rng, rng.standard_normal((3, 3, 8, 1)), 2)), [1, 1, 1, 1], "SAME"), c(rng.standard_normal(8))))
        if tap:
            tf.identity(d, name="tap")
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(d, c(spread(rng, rng.standard_normal((1, 1, 8, 6)), 3)), 1,
                                                   "VALID"), c(rng.standard_normal(6))))
        h = tf.reduce_mean(tf.nn.max_pool2d(h, 2, 2, "VALID"), axis=[1, 2])
        tf.identity(tf.matmul(h, c(rng.standard_normal((6, 4)))) + c(rng.standard_normal(4)), name="out")

    return build


def chain_ranges(graph: Graph) -> np.ndarray:
    """[3, 8]: per channel i, the range of the first conv's output channel i, the depthwise's channel i and the
    second conv's input channel i (max |W| over the other axes)."""
    conv1, conv2 = (n.input(1).data for n in graph.nodes if n.op == "conv_2d")
    dw = next(n for n in graph.nodes if n.op == "depthwise_conv_2d").input(1).data
    return np.stack([np.abs(conv1).max(axis=(1, 2, 3)), np.abs(dw).max(axis=(0, 1, 2)),
                     np.abs(conv2).max(axis=(0, 1, 2))]).astype(np.float64)


def test_depthwise_separable_chain_equalized_exactly(tf: Any, load: Any, rng: np.random.Generator) -> None:  # noqa: ANN401
    case = load(separable(tf, rng), prep=PREP, batch=16)
    assert case.graph.op_counts() == {"conv_2d": 2, "depthwise_conv_2d": 1, "max_pool_2d": 1, "mean": 1,
                                      "fully_connected": 1}
    before = case.ref()
    ranges = chain_ranges(case.graph)
    sqnr_before = per_tensor_weight_sqnr(case.graph, case.feeds, before[0])

    # conv -> depthwise, depthwise -> conv, conv -> max pool -> mean -> dense.
    assert CrossLayerEqualization().run(case.graph) == 3

    assert case.graph.op_counts() == {"conv_2d": 2, "depthwise_conv_2d": 1, "max_pool_2d": 1, "mean": 1,
                                      "fully_connected": 1}
    # The weights and biases are rounded to float32 once (scales accumulated in float64): a few ulps of the
    # output, within the pass tests' fold tolerance.
    case.check(before)
    # At the fixed point both pairs through the depthwise are equalized: channel i's range is the same in the
    # first conv's output, the depthwise and the second conv's input (not so before). The iteration stops once
    # every s is within 1e-4 of 1, so the ranges agree to ~1e-3.
    assert not np.allclose(ranges[0], ranges[1], rtol=0.1)
    got = chain_ranges(case.graph)
    np.testing.assert_allclose(got, np.broadcast_to(got[1], got.shape), rtol=1e-3)
    sqnr_after = per_tensor_weight_sqnr(case.graph, case.feeds, before[0])
    print(f"per-tensor int8 weights: output SQNR {sqnr_before:.2f} -> {sqnr_after:.2f} dB")
    # Channels spread over two decades lose up to ~20 dB of resolution on a shared scale; equalized, the narrow
    # ones get most of it back. 6 dB (one bit) is far below the gain and far above rounding noise.
    assert sqnr_after > sqnr_before + 6.0


def test_second_run_changes_nothing(tf: Any, load: Any, rng: np.random.Generator) -> None:  # noqa: ANN401
    """At the fixed point every s_i is within TOLERANCE of 1: a second run leaves the weights within that."""
    case = load(separable(tf, rng), prep=PREP)
    CrossLayerEqualization().run(case.graph)
    weights = {n.name: n.input(1).data.copy() for n in case.graph.nodes if n.op in LAYERS}
    before = case.ref()
    CrossLayerEqualization().run(case.graph)
    for n in case.graph.nodes:
        if n.op in LAYERS:
            np.testing.assert_allclose(n.input(1).data, weights[n.name], rtol=1e-3)
    case.check(before)


@pytest.mark.parametrize(("variant", "fired"), [
    # relu6(x) / s != relu6(x / s): the first pair is left alone, the other two are equalized.
    ({"first": "relu6"}, 2),
    # The depthwise output is also a graph output: rescaling it would change that output.
    ({"tap": True}, 2),
])
def test_refuses_where_rescaling_is_not_exact(tf: Any, load: Any, rng: np.random.Generator,  # noqa: ANN401
                                              variant: dict[str, Any], fired: int) -> None:
    outputs = ("out", "tap") if variant.get("tap") else ("out",)
    case = load(separable(tf, rng, **variant), prep=PREP, outputs=outputs)
    first = next(n for n in case.graph.nodes if n.op == "conv_2d")
    dw = next(n for n in case.graph.nodes if n.op == "depthwise_conv_2d")
    kept = first if "first" in variant else dw
    w = kept.input(1).data.copy()
    before = case.ref()

    assert CrossLayerEqualization().run(case.graph) == fired

    case.check(before)
    if "first" in variant:  # the relu6 layer's weights are untouched (the depthwise is rescaled as P of pair 2)
        np.testing.assert_array_equal(first.input(1).data, w)
