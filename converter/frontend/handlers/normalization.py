"""Batch norms that do not fit the IR's batch_norm (channels last, given statistics), as elementwise IR ops.

  FusedBatchNorm* in NCHW (or NCDHW), or with is_training=True (statistics of the batch itself):
      mean = reduce_mean(x, every axis but the channel's)           (training; else input 3, shaped to broadcast)
      var  = reduce_mean(squared_difference(x, mean), same axes)     (training; else input 4) -- the biased variance
      m    = rsqrt(var + epsilon) * scale                           (scale, offset shaped to broadcast)
      y    = x * m + (offset - mean * m)                             (= (x - mean) * m + offset)
This is how every tf_keras LayerNormalization freezes: x reshaped to [1, rows, features, 1], an NCHW FusedBatchNormV3
in training mode over each row, ones and zeros as scale and offset, then x * gamma + beta.
"""

from __future__ import annotations

import numpy as np

from ...ir import Tensor
from ...ir.attrs import FusedActivationAttrs, ReduceAttrs, ReshapeAttrs
from ..context import ImportContext


def _broadcastable(ctx: ImportContext, t: Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    """A per-channel vector reshaped to ``shape`` (channel dim kept, others 1)."""
    if t.is_const:
        return ctx.const(name, np.asarray(t.data).reshape(shape))
    out = ctx.intermediate(name, t.dtype, shape)
    ctx.emit("reshape", [t], ReshapeAttrs(new_shape=shape), outputs=[out], suffix=name)
    return out


def _binary(ctx: ImportContext, op: str, a: Tensor, b: Tensor, name: str | None, shape: tuple[int, ...]) -> Tensor:
    out = ctx.output(0) if name is None else ctx.intermediate(name, a.dtype, shape)
    attrs = FusedActivationAttrs() if op in ("add", "sub", "mul") else None
    ctx.emit(op, [a, b], attrs, outputs=[out], suffix=name)
    return out


def lower_batch_norm(ctx: ImportContext, channel_axis: int) -> None:
    """Emit y = x * m + (offset - mean * m), m = rsqrt(var + eps) * scale, for FusedBatchNorm* output 0."""
    x = ctx.input(0)
    rank = len(x.shape)
    c = channel_axis + rank if channel_axis < 0 else channel_axis
    param_shape = tuple(x.shape[c] if k == c else 1 for k in range(rank))
    eps = float(ctx.attr("epsilon", 1e-3))
    if ctx.attr("is_training", False):
        axes = ctx.const("axes", np.array([k for k in range(rank) if k != c], np.int32))
        mean = ctx.intermediate("mean", x.dtype, param_shape)
        ctx.emit("mean", [x, axes], ReduceAttrs(keep_dims=True), outputs=[mean], suffix="mean")
        sq = _binary(ctx, "squared_difference", x, mean, "squared_difference", x.shape)
        var = ctx.intermediate("variance", x.dtype, param_shape)
        ctx.emit("mean", [sq, axes], ReduceAttrs(keep_dims=True), outputs=[var], suffix="variance")
    else:
        mean = _broadcastable(ctx, ctx.input(3), param_shape, "mean")
        var = _broadcastable(ctx, ctx.input(4), param_shape, "variance")
    var_eps = _binary(ctx, "add", var, ctx.const("epsilon", np.array(eps, x.dtype)), "variance_eps", param_shape)
    inv = ctx.intermediate("inv_std", x.dtype, param_shape)
    ctx.emit("rsqrt", [var_eps], outputs=[inv], suffix="inv_std")
    scale, offset = ctx.input(1), ctx.input(2)
    m = inv
    if not (scale.is_const and np.all(np.asarray(scale.data) == 1)):
        m = _binary(ctx, "mul", inv, _broadcastable(ctx, scale, param_shape, "scale"), "multiplier", param_shape)
    # y = x * m + (offset - mean * m): the per-channel shift is computed on the small statistics tensor, and x meets
    # one multiply and one add (as TensorFlow's converter decomposes it; its INT8 grids then match).
    xm = _binary(ctx, "mul", x, m, "scaled", x.shape)
    mean_m = _binary(ctx, "mul", mean, m, "mean_scaled", param_shape)
    if offset.is_const and not np.any(np.asarray(offset.data)):
        _binary(ctx, "sub", xm, mean_m, None, x.shape)
        return
    shift = _binary(ctx, "sub", _broadcastable(ctx, offset, param_shape, "offset"), mean_m, "shift", param_shape)
    _binary(ctx, "add", xm, shift, None, x.shape)
