"""A numpy reference for layers with int4 weights, from the weights stored in the file (tests/support/tflite_file.py):
each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED of a .tflite is recomputed in float64 on the input LiteRT gave
it (all tensors preserved), so each layer is checked exactly and errors do not compound.

  * int8 activations: the reference is the layer on the dequantized int8 input, the weights dequantized
    (scale * q, per channel) and the int32 bias, rounded onto the output grid and clamped (the fused activation
    inside the clamp). LiteRT's fixed-point requantization (a 31-bit multiplier and a shift) lands on the same
    integer or the next one: the difference, in LSB, is at most 1.
  * float activations (hybrid): the kernel quantizes its input on the fly to 8 bits, FULLY_CONNECTED
    asymmetrically over [min(x, 0), max(x)] (step (max - min) / 255), CONV_2D symmetrically over max |x| (step
    max|x| / 127), so each input value moves by at most half a step and output o by at most step / 2 *
    sum_k |W_ok| over its receptive field. The difference is returned as a share of that bound (at most 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import tflite_file

_OPS = {"CONV_2D": "conv_2d", "DEPTHWISE_CONV_2D": "depthwise_conv_2d", "FULLY_CONNECTED": "fully_connected"}
_RELU = {1: "relu", 3: "relu6"}


def layer_float(op: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: str = "none",
                padding: str = "SAME", stride: int = 1) -> np.ndarray:
    """One layer in float64 (TFLite weight layouts: OHWI, 1HWC, [out, in])."""
    import tensorflow as tf

    x64 = tf.constant(x, tf.float64)
    if op == "conv_2d":
        f = tf.constant(np.transpose(w, (1, 2, 3, 0)), tf.float64)
        y = tf.nn.conv2d(x64, f, stride, padding).numpy()
    elif op == "depthwise_conv_2d":
        f = np.transpose(w, (1, 2, 3, 0))  # [H, W, C, 1]
        y = tf.nn.depthwise_conv2d(x64, tf.constant(f, tf.float64), (1, stride, stride, 1), padding).numpy()
    else:
        y = x.reshape(-1, w.shape[1]).astype(np.float64) @ w.T.astype(np.float64)
    if b is not None:
        y = y + b
    if act == "relu":
        return np.maximum(y, 0)
    return np.clip(y, 0, 6) if act == "relu6" else y


def _options(model: bytes, op_index: int) -> tuple[str, str, int]:
    """Fused activation, padding and stride of a conv, depthwise or fully-connected operator."""
    from schema.tflite.Conv2DOptions import Conv2DOptions
    from schema.tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions
    from schema.tflite.FullyConnectedOptions import FullyConnectedOptions
    from schema.tflite.Model import Model

    op = Model.GetRootAs(model, 0).Subgraphs(0).Operators(op_index)
    table = op.BuiltinOptions()
    kind = {1: Conv2DOptions, 2: DepthwiseConv2DOptions, 8: FullyConnectedOptions}.get(op.BuiltinOptionsType())
    if table is None or kind is None:
        return "none", "SAME", 1
    o = kind()
    o.Init(table.Bytes, table.Pos)
    act = _RELU.get(o.FusedActivationFunction(), "none")
    if kind is FullyConnectedOptions:
        return act, "SAME", 1
    assert o.StrideW() == o.StrideH()
    return act, "SAME" if o.Padding() == 0 else "VALID", o.StrideW()


def _interpreter(model: bytes) -> Any:  # noqa: ANN401
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def layer_differences(model: bytes, x: np.ndarray) -> dict[str, float]:
    """Per layer kind, the largest difference of LiteRT's outputs from the reference (module docstring): in LSB for
    int8 layers, as a share of the bound for hybrid ones. Only layers with int4 weights count."""
    f = tflite_file.read(model)
    it = _interpreter(model)
    inp = it.get_input_details()[0]
    worst: dict[str, float] = {}
    for k in range(len(x)):
        it.set_tensor(inp["index"], x[k:k + 1].astype(inp["dtype"]))
        it.invoke()
        for index, op in enumerate(f.ops):
            if op.name not in _OPS or f.constants.get(op.inputs[1]) is None:
                continue
            w = f.constants[op.inputs[1]]
            if w.type != tflite_file.INT4:
                continue
            q = w.dense().astype(np.int64)
            assert q.min() >= -7 and q.max() <= 7, "an int4 weight of -8 (LiteRT's 4-bit hybrid kernel misreads it)"
            shape = [1] * q.ndim
            shape[w.axis if w.scale.size > 1 else 0] = -1
            w_real = q * w.scale.reshape(shape)
            act, padding, stride = _options(model, index)
            bias = f.constants.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            name = _OPS[op.name]
            xin = it.get_tensor(op.inputs[0])
            got = it.get_tensor(op.outputs[0])
            if xin.dtype == np.int8:
                in_s, in_zp, _ = f.quant[op.inputs[0]]
                out_s, out_zp, _ = f.quant[op.outputs[0]]
                b = None if bias is None else bias.stored.astype(np.float64) * bias.scale
                y = layer_float(name, (xin.astype(np.float64) - in_zp[0]) * in_s[0], w_real, b, act, padding, stride)
                ref = np.clip(np.round(y / out_s[0]) + out_zp[0], -128, 127)
                diff = float(np.abs(got.astype(np.int64).reshape(ref.shape) - ref).max())
            else:
                b = None if bias is None else bias.stored.astype(np.float64)
                xin64 = xin.astype(np.float64)
                y = layer_float(name, xin64, w_real, b, act, padding, stride)
                fc = name == "fully_connected"
                step = (xin64.max() - min(xin64.min(), 0)) / 255 if fc else np.abs(xin64).max() / 127
                spread = layer_float(name, np.ones(xin.shape), np.abs(w_real), None, "none", padding, stride)
                bound = step / 2 * spread.reshape(y.shape[1:] if not fc else y.shape) + 1e-5 * np.abs(y).max()
                diff = float((np.abs(got.astype(np.float64).reshape(y.shape) - y) / bound).max())
            worst[op.name] = max(worst.get(op.name, 0.0), diff)
    return worst
