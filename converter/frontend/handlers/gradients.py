"""Gradient and loss ops that exported training graphs carry, lowered as TensorFlow's converter lowers them.

TF -> IR (y: the forward op's output, dy / g: the incoming gradient):
  SigmoidGrad(y, dy)       -> dy * (y * (1 - y))
  TanhGrad(y, dy)          -> dy * (1 - y * y)
  RsqrtGrad(y, dy)         -> (y * y * y) * (dy * -0.5)
  SqrtGrad(y, dy)          -> (dy * 0.5) / y
  SeluGrad(g, y)           -> select_v2(y > 0, g * s, g * (y + s * a))           (s, a: SELU's constants)
  BiasAddGrad(g)           -> sum(g) over every axis but the channel (last, NHWC) axis
  L2Loss(x)                -> sum(x * x) * 0.5
  SoftmaxCrossEntropyWithLogits(x, labels)
                           -> loss sum(-labels * log_softmax(x), -1); backprop softmax(x) - labels
  SparseSoftmaxCrossEntropyWithLogits(x, ids)
                           -> the same with labels = one_hot(ids)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.attrs import FusedActivationAttrs, OneHotAttrs, ReduceAttrs, SoftmaxAttrs
from ..context import ImportContext
from ..registry import tf_op
from .common import nhwc_only, scalar, step
from .math_ext import SELU_ALPHA, SELU_SCALE

_F = FusedActivationAttrs


def _c(ctx: ImportContext, x: Any, value: float, name: str) -> Any:  # noqa: ANN401
    return scalar(ctx, name, value, x.dtype)


@tf_op("SigmoidGrad", elementwise=True)
def sigmoid_grad(ctx: ImportContext) -> None:
    y, dy = ctx.input(0), ctx.input(1)
    one_minus = step(ctx, "sub", [_c(ctx, y, 1.0, "one"), y], "one_minus_y", _F())
    ctx.emit("mul", [dy, step(ctx, "mul", [y, one_minus], "slope", _F())], _F())


@tf_op("TanhGrad", elementwise=True)
def tanh_grad(ctx: ImportContext) -> None:
    y, dy = ctx.input(0), ctx.input(1)
    one_minus = step(ctx, "sub", [_c(ctx, y, 1.0, "one"), step(ctx, "mul", [y, y], "y_squared", _F())], "slope",
                     _F())
    ctx.emit("mul", [dy, one_minus], _F())


@tf_op("RsqrtGrad", elementwise=True)
def rsqrt_grad(ctx: ImportContext) -> None:
    y, dy = ctx.input(0), ctx.input(1)
    cube = step(ctx, "mul", [step(ctx, "mul", [y, y], "y_squared", _F()), y], "y_cubed", _F())
    ctx.emit("mul", [cube, step(ctx, "mul", [dy, _c(ctx, dy, -0.5, "minus_half")], "half_dy", _F())], _F())


@tf_op("SqrtGrad", elementwise=True)
def sqrt_grad(ctx: ImportContext) -> None:
    y, dy = ctx.input(0), ctx.input(1)
    ctx.emit("div", [step(ctx, "mul", [dy, _c(ctx, dy, 0.5, "half")], "half_dy", _F()), y], _F())


@tf_op("SeluGrad", elementwise=True)
def selu_grad(ctx: ImportContext) -> None:
    g, y = ctx.input(0), ctx.input(1)
    positive = step(ctx, "greater", [y, _c(ctx, y, 0.0, "zero")], "positive", dtype=np.bool_)
    pos = step(ctx, "mul", [g, _c(ctx, g, SELU_SCALE, "scale")], "pos", _F())
    shifted = step(ctx, "add", [y, _c(ctx, y, SELU_SCALE * SELU_ALPHA, "scale_alpha")], "shifted", _F())
    ctx.emit("select_v2", [positive, pos, step(ctx, "mul", [g, shifted], "neg", _F())])


@tf_op("BiasAddGrad")
def bias_add_grad(ctx: ImportContext) -> None:
    nhwc_only(ctx)
    g = ctx.input(0)
    axes = np.arange(len(g.shape) - 1, dtype=np.int32)
    ctx.emit("sum", [g, ctx.const("axes", axes)], ReduceAttrs(keep_dims=False))


@tf_op("L2Loss")
def l2_loss(ctx: ImportContext) -> None:
    x = ctx.input(0)
    squares = step(ctx, "mul", [x, x], "squares", _F())
    total = ctx.intermediate("sum", x.dtype, ())
    ctx.emit("sum", [squares, ctx.const("axes", np.arange(len(x.shape), dtype=np.int32))],
             ReduceAttrs(keep_dims=False), outputs=[total], suffix="sum")
    ctx.emit("mul", [total, _c(ctx, x, 0.5, "half")], _F())


@tf_op("SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits")
def softmax_cross_entropy(ctx: ImportContext) -> None:
    logits = ctx.input(0)
    if len(logits.shape) != 2:
        raise ctx.fail(f"logits of rank {len(logits.shape)}; the op takes [batch, classes]")
    labels = ctx.input(1)
    if ctx.op_type.startswith("Sparse"):
        dense = ctx.intermediate("labels", logits.dtype, logits.shape)
        ctx.emit("one_hot", [labels, ctx.const("depth", np.array(logits.shape[-1], np.int32)),
                             _c(ctx, logits, 1.0, "on"), _c(ctx, logits, 0.0, "off")], OneHotAttrs(axis=-1),
                 outputs=[dense], suffix="one_hot")
        labels = dense
    log_p = step(ctx, "log_softmax", [logits], "log_softmax")
    terms = step(ctx, "mul", [step(ctx, "neg", [labels], "neg_labels"), log_p], "terms", _F())
    ctx.emit("sum", [terms, ctx.const("axes", np.array([1], np.int32))], ReduceAttrs(keep_dims=False),
             outputs=[ctx.output(0)], suffix="loss")
    probs = step(ctx, "softmax", [logits], "softmax", SoftmaxAttrs(beta=1.0))
    ctx.emit("sub", [probs, labels], _F(), outputs=[ctx.output(1)], suffix="backprop")
