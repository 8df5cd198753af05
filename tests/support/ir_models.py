"""Small IR graphs built directly (no TensorFlow import), calibrated with the reference executor and quantized by
qconvert's quantizer, for tests of weight encodings (sparse, int4) at the level of single layers. Weights are given
by the test, so it controls their zeros and block patterns."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from converter.config import CalibrationMethod
from converter.ir import Activation, Graph, Padding
from converter.ir.attrs import (Conv2DAttrs, DepthwiseConv2DAttrs, FullyConnectedAttrs, ReshapeAttrs,
                                TransposeConvAttrs)
from converter.quantize.calibrate import calibrate
from converter.quantize.dataset import Dataset
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.quantizer import FLOAT32, QuantizeOptions, QuantizeResult, quantize_graph

importlib.import_module("converter.frontend.handlers.nn")  # registers the reference implementations


@dataclass
class Layer:
    op: str  # conv_2d, depthwise_conv_2d, fully_connected, transpose_conv
    weights: np.ndarray  # IR layout: OHWI, 1HW(C*M), [out, in], OHWI (transpose conv)
    bias: np.ndarray | None = None
    activation: Activation = Activation.NONE
    stride: int = 1


@dataclass
class Model:
    graph: Graph
    input_shape: tuple[int, ...]
    layers: list[Layer] = field(default_factory=list)


def build(input_shape: tuple[int, ...], layers: list[Layer]) -> Model:
    """A chain of layers from one float input (batch 1); a fully-connected layer after a 4-D one flattens first."""
    g = Graph()
    x = g.tensor("x", np.float32, input_shape)
    g.add_input(x)
    h = x
    for i, layer in enumerate(layers):
        w = g.const(f"w{i}", layer.weights.astype(np.float32))
        b = g.const(f"b{i}", layer.bias.astype(np.float32)) if layer.bias is not None else None
        if layer.op == "fully_connected":
            if len(h.shape) != 2:
                flat = g.tensor(f"flat{i}", np.float32, (1, int(np.prod(h.shape[1:]))))
                g.add_node("reshape", [h], [flat], ReshapeAttrs(flat.shape))
                h = flat
            y = g.tensor(f"y{i}", np.float32, (1, layer.weights.shape[0]))
            g.add_node("fully_connected", [h, w, b], [y], FullyConnectedAttrs(activation=layer.activation))
        elif layer.op == "conv_2d":
            n, hh, ww, _ = h.shape
            y = g.tensor(f"y{i}", np.float32, (n, -(-hh // layer.stride), -(-ww // layer.stride),
                                                 layer.weights.shape[0]))
            g.add_node("conv_2d", [h, w, b], [y], Conv2DAttrs((layer.stride, layer.stride), Padding.SAME,
                                                              activation=layer.activation))
        elif layer.op == "depthwise_conv_2d":
            n, hh, ww, c = h.shape
            y = g.tensor(f"y{i}", np.float32, (n, hh, ww, layer.weights.shape[3]))
            g.add_node("depthwise_conv_2d", [h, w, b], [y],
                       DepthwiseConv2DAttrs((1, 1), Padding.SAME, layer.weights.shape[3] // c,
                                            activation=layer.activation))
        elif layer.op == "transpose_conv":
            n, hh, ww, _ = h.shape
            out_shape = (n, hh * layer.stride, ww * layer.stride, layer.weights.shape[0])
            shape_t = g.const(f"shape{i}", np.asarray(out_shape, np.int32))
            y = g.tensor(f"y{i}", np.float32, out_shape)
            g.add_node("transpose_conv", [shape_t, w, h, b], [y],
                       TransposeConvAttrs((layer.stride, layer.stride), Padding.SAME, activation=layer.activation))
        else:
            raise ValueError(layer.op)
        h = y
    g.set_outputs([h])
    return Model(g, input_shape, layers)


def calibrated(model: Model, x: np.ndarray) -> Model:
    """Give the model's activations min/max ranges on ``x`` (samples on the first axis)."""
    calibrate(model.graph, Dataset.in_memory([x.astype(np.float32)], "test"), CalibrationMethod.MINMAX)
    return model


def quantize_int8(model: Model, weight_bits: int = 8, per_channel: bool = True) -> QuantizeResult:
    """INT8 (float input and output) with ``weight_bits``-wide weights where the kernels take them."""
    plan = PrecisionPlan.uniform(Precision.INT8, weight_bits, reason="test")
    return quantize_graph(model.graph, QuantizeOptions(plan=plan, weights_per_channel=per_channel,
                                                       input_dtype=FLOAT32, output_dtype=FLOAT32))


def litert_run(model: bytes, x: np.ndarray, default_resolver: bool = False) -> np.ndarray:
    """Run sample by sample in LiteRT: builtin kernels only, or the default resolver (XNNPACK, as users run it)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {} if default_resolver else {
        "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    it = Interpreter(model_content=model, **kw)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for k in range(x.shape[0]):
        it.set_tensor(i["index"], x[k:k + 1].astype(i["dtype"]))
        it.invoke()
        outs.append(it.get_tensor(o["index"]).copy())
    return np.concatenate(outs)


def sparse_weights(rng: np.random.Generator, shape: tuple[int, ...], zeros: float,
                   block: tuple[int, ...] | None = None) -> np.ndarray:
    """Gaussian weights (scaled by 1/sqrt(fan-in)) with a fraction ``zeros`` of them (of whole blocks along the
    last dimension, if ``block``) set to zero."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    w = rng.standard_normal(shape) / np.sqrt(fan_in)
    b = 1 if block is None else block[-1]
    keep = rng.random((*shape[:-1], shape[-1] // b)) >= zeros
    return (w * np.repeat(keep, b, axis=-1)).astype(np.float32)


Forward = Callable[[np.ndarray], np.ndarray]
