"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
Correction", section 4.1) of consecutive weight layers, for per-tensor weight quantization.

A pair is a layer P (conv_2d, depthwise_conv_2d, fully_connected) whose output channel i feeds, through a chain of
ops that act on each channel on its own and commute with a positive scale, the input channel i of a layer C (conv_2d
input axis 3, depthwise_conv_2d output channels i*M .. i*M+M-1 for depth multiplier M, fully_connected input axis 1):

    y = C(f(P(x)))      f: P's fused activation, then the ops between (relu, max/average pooling, a mean that
                        keeps the channel axis), each with no fused activation or RELU

Every such f is positive homogeneous per channel: f(x / s) = f(x) / s for s > 0 (relu(x / s) = relu(x) / s, max and
mean of values each divided by s are divided by s). So, for any s_i > 0,

    W_P'[i] = W_P[i] / s_i,   b_P'[i] = b_P[i] / s_i      (P's output channel i: axis 0, depthwise axis 3)
    W_C'[:, i] = W_C[:, i] * s_i                           (C's input channel i)

computes the same function in exact arithmetic (C's bias is untouched). With r_P[i] = max |W_P[i]| and r_C[i] =
max |W_C[:, i]|, the choice s_i = sqrt(r_P[i] / r_C[i]) makes both ranges sqrt(r_P[i] * r_C[i]): equal per channel,
so one per-tensor weight scale no longer wastes its levels on a few wide channels while narrow ones round to a
handful of values (s_i = 1 where a range is 0: a dead channel). A layer in the middle of a chain (the depthwise of a
depthwise-separable block) is C of one pair and P of the next, so the pairs are equalized in turn until every
s_i is within ``TOLERANCE`` of 1 (at most ``MAX_ROUNDS``). The scales are accumulated in float64 and applied once,
so each weight and bias is rounded to float32 once: the float model is the original within float32 rounding.

Not equalized (the rescaling would change the function, or the range it must keep): a RELU6 / RELU_N1_TO_1 / TANH
anywhere on the path (min(x, 6) / s != min(x / s, 6): the kernel's clamp is fixed), an intermediate tensor read by
another node or that is a graph output, a range fixed by fake quantization on the path or on either weight tensor
(quantization-aware training chose it), weights or P's bias that are not constant or are shared, a mean over the
channel axis. Bias absorption (section 4.2 of the paper) is not done: it moves a bias through the ReLU using the
activations' statistics and is exact only where the data never goes below the absorbed amount.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Activation, Graph, Node, Tensor
from .base import WEIGHT_CHANNEL_AXIS, no_match, single_consumer

TOLERANCE = 1e-4  # stop once every pair's scales are within this of 1
MAX_ROUNDS = 100
# Activations f with f(x / s) = f(x) / s for every s > 0.
HOMOGENEOUS = (Activation.NONE, Activation.RELU)
# Ops that act on each channel of an NHWC / NC tensor alone and commute with a positive per-channel scale.
CHANNELWISE = ("relu", "max_pool_2d", "average_pool_2d", "mean")
# Input-channel axis of each op's weights, in TFLite layout (depthwise: see _input_scale).
WEIGHT_INPUT_AXIS = {"conv_2d": 3, "depthwise_conv_2d": 3, "fully_connected": 1}


@dataclass
class _Layer:
    node: Node
    w: np.ndarray  # float64 working copy of the weights
    b: np.ndarray | None  # float64 working copy of the bias


@dataclass(frozen=True)
class _Pair:
    producer: Node
    consumer: Node


class CrossLayerEqualization:
    """Equalize the per-channel weight ranges of consecutive layers (module docstring). Returns the number of
    pairs rescaled."""

    name = "cross_layer_equalization"

    def run(self, graph: Graph) -> int:
        pairs = [p for node in graph.nodes if node.op in WEIGHT_CHANNEL_AXIS
                 for p in [_pair_from(graph, node)] if p is not None]
        if not pairs:
            return 0
        layers: dict[str, _Layer] = {}
        for p in pairs:
            for n in (p.producer, p.consumer):
                if n.name not in layers:
                    b = n.inputs[2] if len(n.inputs) > 2 else None
                    layers[n.name] = _Layer(n, np.asarray(n.input(1).data, np.float64),
                                            None if b is None else np.asarray(b.data, np.float64))
        changed: set[_Pair] = set()
        for _ in range(MAX_ROUNDS):
            worst = 0.0
            for p in pairs:
                prod, cons = layers[p.producer.name], layers[p.consumer.name]
                s = _scales(prod, cons)
                if s is None:
                    continue
                worst = max(worst, float(np.max(np.abs(s - 1.0))))
                if np.all(s == 1.0):
                    continue
                changed.add(p)
                _apply(prod, cons, s)
            if worst < TOLERANCE:
                break
        for layer in layers.values():
            if any(layer.node in (p.producer, p.consumer) for p in changed):
                _write(graph, layer)
        return len(changed)


def _pair_from(graph: Graph, node: Node) -> _Pair | None:
    """The pair with ``node`` as P, if its output reaches one layer's input through channelwise ops only."""
    if not _weights_free(node, producer=True):
        return None
    if getattr(node.attrs, "activation", Activation.NONE) not in HOMOGENEOUS:
        return no_match(node, f"fused {node.attrs.activation.value} is not positive homogeneous") or None
    t = node.output
    channels = node.input(1).shape[WEIGHT_CHANNEL_AXIS[node.op]]
    while True:
        if t.qrange is not None:
            return no_match(node, f"{t.name} has a fixed (fake-quant) range") or None
        reader = single_consumer(graph, t)
        if reader is None:
            return no_match(node, f"{t.name} is read by several nodes or is a graph output") or None
        if reader.op in WEIGHT_INPUT_AXIS:
            if reader.inputs[0] is not t or not _weights_free(reader, producer=False):
                return None
            if _input_channels(reader) != channels or t.shape[-1] != channels:
                return no_match(reader, "its input channels do not match the previous layer's outputs") or None
            return _Pair(node, reader)
        if reader.op not in CHANNELWISE or reader.inputs[0] is not t:
            return no_match(node, f"{t.name} is read by {reader.op}, which is not a channelwise op") or None
        if getattr(reader.attrs, "activation", Activation.NONE) not in HOMOGENEOUS:
            return no_match(node, f"{reader.name} has a clamping activation") or None
        if reader.op == "mean" and not _keeps_channels(reader):
            return no_match(node, f"{reader.name} reduces the channel axis") or None
        t = reader.output


def _weights_free(node: Node, producer: bool) -> bool:
    """Constant weights (and, for a producer, bias) read by ``node`` only, without a fake-quant range."""
    w = node.inputs[1] if len(node.inputs) > 1 else None
    if w is None or not w.is_const or len(w.uses) != 1 or w.data is None or w.data.dtype.kind != "f":
        return no_match(node, "weights are not constant float or are shared")
    if w.qrange is not None:
        return no_match(node, "weights carry a fake-quant range")
    if producer:
        b = node.inputs[2] if len(node.inputs) > 2 else None
        if b is not None and (not b.is_const or len(b.uses) != 1 or b.qrange is not None):
            return no_match(node, "bias is not constant, is shared or has a fixed range")
    return True


def _input_channels(node: Node) -> int:
    w = node.input(1)
    if node.op == "depthwise_conv_2d":
        return w.shape[3] // node.attrs.depth_multiplier  # type: ignore[attr-defined]
    return w.shape[WEIGHT_INPUT_AXIS[node.op]]


def _keeps_channels(node: Node) -> bool:
    axes = node.inputs[1] if len(node.inputs) > 1 else None
    if axes is None or axes.data is None:
        return False
    rank = len(node.input(0).shape)
    return (rank - 1) not in {int(a) % rank for a in np.asarray(axes.data).reshape(-1)}


def _out_axis_ranges(layer: _Layer) -> np.ndarray:
    axis = WEIGHT_CHANNEL_AXIS[layer.node.op]
    return np.max(np.abs(np.moveaxis(layer.w, axis, 0).reshape(layer.w.shape[axis], -1)), axis=1)


def _in_axis_ranges(layer: _Layer) -> np.ndarray:
    if layer.node.op == "depthwise_conv_2d":
        m = layer.node.attrs.depth_multiplier  # type: ignore[attr-defined]
        per_output = np.max(np.abs(layer.w.reshape(-1, layer.w.shape[3])), axis=0)
        return per_output.reshape(-1, m).max(axis=1)  # output channel i*M+k reads input channel i
    axis = WEIGHT_INPUT_AXIS[layer.node.op]
    return np.max(np.abs(np.moveaxis(layer.w, axis, 0).reshape(layer.w.shape[axis], -1)), axis=1)


def _scales(prod: _Layer, cons: _Layer) -> np.ndarray | None:
    r1, r2 = _out_axis_ranges(prod), _in_axis_ranges(cons)
    s = np.ones_like(r1)
    live = (r1 > 0) & (r2 > 0) & np.isfinite(r1) & np.isfinite(r2)
    s[live] = np.sqrt(r1[live] / r2[live])
    return s


def _broadcast(s: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return s.reshape(shape)


def _apply(prod: _Layer, cons: _Layer, s: np.ndarray) -> None:
    prod.w = prod.w / _broadcast(s, prod.w.ndim, WEIGHT_CHANNEL_AXIS[prod.node.op])
    if prod.b is not None:
        prod.b = prod.b / s
    if cons.node.op == "depthwise_conv_2d":
        s = np.repeat(s, cons.node.attrs.depth_multiplier)  # type: ignore[attr-defined]
    cons.w = cons.w * _broadcast(s, cons.w.ndim, WEIGHT_INPUT_AXIS[cons.node.op])


def _write(graph: Graph, layer: _Layer) -> None:
    """The layer's rescaled weights (and bias) as new float32 constants (the old ones were read by it only)."""
    node = layer.node
    w: Tensor = node.input(1)
    graph.set_input(node, 1, graph.const(w.name, layer.w.astype(np.float32), tf_name=w.tf_name))
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if b is not None and layer.b is not None:
        graph.set_input(node, 2, graph.const(b.name, layer.b.astype(np.float32), tf_name=b.tf_name))
