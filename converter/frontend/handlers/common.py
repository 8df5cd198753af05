"""Helpers shared by the handler modules: fused activations and attribute decoding."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.attrs import Activation, CastAttrs, Padding
from ...tf_runtime import tensorflow
from ..context import ImportContext, broadcast_shapes


def apply_activation(x: Any, act: Activation) -> Any:  # noqa: ANN401 - tf.Tensor
    """The float semantics of a fused activation, in TensorFlow."""
    tf = tensorflow()
    if act is Activation.NONE:
        return x
    if act is Activation.RELU:
        return tf.nn.relu(x)
    if act is Activation.RELU6:
        return tf.nn.relu6(x)
    if act is Activation.RELU_N1_TO_1:
        return tf.clip_by_value(x, -1.0, 1.0)
    if act is Activation.TANH:
        return tf.tanh(x)
    raise ValueError(f"unknown activation {act}")


def batch_shape(shape: tuple[int, ...]) -> list[int]:
    """A static batch-1 shape with the batch left free (-1), for reference ops that reshape. The leading axis is
    free whatever its size: with the samples outermost, a batch of N folds into it ([1, 12, 8] -> [12, 8] holds
    N x 12 rows), and for one sample -1 is the static size itself."""
    return [-1, *shape[1:]] if shape and 0 not in shape[1:] else list(shape)


def nhwc_only(ctx: ImportContext) -> None:
    fmt = ctx.attr("data_format", "NHWC")
    if fmt not in ("NHWC", "NDHWC"):
        raise ctx.fail(
            f"data_format {fmt} is not supported (TFLite is channels-last); export the model with "
            "channels_last / NHWC layout"
        )


def padding(ctx: ImportContext) -> Padding:
    p = ctx.attr("padding")
    if p not in ("SAME", "VALID"):
        raise ctx.fail(f"padding {p} is not supported; use SAME or VALID")
    return Padding(p)


def spatial(ctx: ImportContext, attr: str, default: list[int] | None = None) -> tuple[int, int]:
    """The H and W entries of an NHWC 4-vector attribute (strides, ksize, dilations)."""
    v = ctx.attr(attr, default)
    if v is None or len(v) != 4:
        raise ctx.fail(f"attribute {attr} must have 4 entries, got {v}")
    if v[0] != 1 or v[3] != 1:
        raise ctx.fail(f"{attr} {v} moves along batch or channels; TFLite supports only spatial {attr}")
    return int(v[1]), int(v[2])


def int32_operand(ctx: ImportContext, i: int, name: str) -> Any:  # noqa: ANN401 - IR Tensor
    """Input ``i`` (an integer operand: shape, axes, paddings ...) as an int32 tensor: a new int32 constant if it is
    constant, the input itself if it is int32, else a cast of it (TFLite kernels read int32 operands)."""
    data = ctx.const_input(i)
    if data is not None:
        return ctx.const(name, np.asarray(data).astype(np.int32))
    t = ctx.input(i)
    if t.dtype == np.int32:
        return t
    out = ctx.intermediate(f"{name}_int32", np.int32, t.shape)
    ctx.emit("cast", [t], CastAttrs(to="int32"), outputs=[out], suffix=f"{name}_int32")
    return out


def step(ctx: ImportContext, op: str, inputs: list[Any], suffix: str, attrs: Any = None,  # noqa: ANN401
         dtype: Any = None) -> Any:  # noqa: ANN401 - IR Tensor
    """One intermediate node of a lowering: its output is a new tensor named after the TF node and ``suffix``, with
    the inputs' broadcast shape and input 0's dtype unless ``dtype`` is given. The lowering's last node is emitted
    with ``ctx.emit`` (it writes the TF node's own output)."""
    shape = broadcast_shapes(*(t.shape for t in inputs if t is not None))
    out = ctx.intermediate(suffix, dtype if dtype is not None else inputs[0].dtype, shape)
    ctx.emit(op, inputs, attrs, outputs=[out], suffix=suffix)
    return out


def scalar(ctx: ImportContext, name: str, value: float, dtype: Any) -> Any:  # noqa: ANN401 - IR Tensor
    """A scalar constant of ``dtype`` (broadcast by the elementwise kernels)."""
    return ctx.const(name, np.asarray(value, dtype=dtype))
