"""Ops that make tensors from shapes and values. Shapes are static after import for almost every model, so these
usually become constants; a shape or value known only at run time goes to the TFLite kernel instead.

TF -> IR:
  Shape, Size, Rank          -> constants; of a tensor with run-time dims: shape, reduce_prod(shape), rank
  Fill                       -> constant; fill(dims, value) when either is a run-time value
  ZerosLike, OnesLike        -> constants; zeros_like(x) / fill(shape(x), 1) for a tensor with run-time dims
  Range                      -> constant; range(start, limit, delta) for run-time bounds
  BroadcastTo                -> broadcast_to(x, shape)
  BroadcastArgs              -> broadcast_args(s0, s1) (a constant when both shapes are)
  Bitcast                    -> bitcast(x)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import CastAttrs, ReduceAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import int32_operand


def _dynamic(shape: tuple[int, ...]) -> bool:
    return any(d < 0 for d in shape)


def _shape_of(ctx: ImportContext, x: Any, dtype: np.dtype) -> Any:  # noqa: ANN401 - IR Tensor
    """A SHAPE node reading ``x`` (whose dims are known only at run time)."""
    out = ctx.intermediate("shape", dtype, (len(x.shape),))
    ctx.emit("shape", [x], CastAttrs(to=np.dtype(dtype).name), outputs=[out], suffix="shape")
    return out


@tf_op("Shape", "Size", "Rank")
def shape_of(ctx: ImportContext) -> None:
    x = ctx.input(0)
    dtype = ctx.out_info(0).dtype
    if ctx.op_type == "Rank" or not _dynamic(x.shape):
        value = {"Shape": np.array(x.shape), "Size": np.array(int(np.prod(x.shape))), "Rank": np.array(len(x.shape))}
        ctx.const_output(0, value[ctx.op_type].astype(dtype))
    elif ctx.op_type == "Shape":
        ctx.emit("shape", [x], CastAttrs(to=np.dtype(dtype).name))
    else:
        shape = _shape_of(ctx, x, dtype)
        ctx.emit("reduce_prod", [shape, ctx.const("axes", np.array([0], np.int32))], ReduceAttrs(keep_dims=False))


@tf_op("Fill")
def fill(ctx: ImportContext) -> None:
    info = ctx.out_info(0)
    value = ctx.const_input(1)
    if value is not None and not info.dynamic:
        ctx.const_output(0, np.full(info.shape, value, dtype=info.dtype))
        return
    dims = ctx.const("dims", np.array(info.shape, np.int32)) if not info.dynamic else int32_operand(ctx, 0, "dims")
    ctx.emit("fill", [dims, ctx.input(1)])


@tf_op("ZerosLike", "OnesLike")
def zeros_ones_like(ctx: ImportContext) -> None:
    x, info = ctx.input(0), ctx.out_info(0)
    one = ctx.op_type == "OnesLike"
    if not _dynamic(x.shape):  # the values never depend on x's values
        ctx.const_output(0, np.full(x.shape, 1 if one else 0, dtype=info.dtype))
    elif not one:
        ctx.emit("zeros_like", [x], outputs=[ctx.output(0, x.shape)])
    else:
        ctx.emit("fill", [_shape_of(ctx, x, np.dtype(np.int32)), ctx.const("one", np.array(1, info.dtype))],
                 outputs=[ctx.output(0, x.shape)])


@tf_op("Range")
def range_(ctx: ImportContext) -> None:
    values = [ctx.const_input(i) for i in range(3)]
    dtype = ctx.out_info(0).dtype
    if all(v is not None for v in values):
        start, limit, delta = (np.asarray(v).item() for v in values)  # type: ignore[union-attr]
        ctx.const_output(0, np.asarray(tensorflow().range(start, limit, delta, dtype=dtype)))
        return
    ctx.emit("range", ctx.inputs()[:3], outputs=[ctx.output(0, (-1,))])


@tf_op("BroadcastTo")
def broadcast_to(ctx: ImportContext) -> None:
    ctx.emit("broadcast_to", [ctx.input(0), int32_operand(ctx, 1, "shape")])


@tf_op("BroadcastArgs")
def broadcast_args(ctx: ImportContext) -> None:
    s0, s1 = ctx.input(0), ctx.input(1)
    ctx.emit("broadcast_args", [s0, s1], outputs=[ctx.output(0, (max(s0.shape[0], s1.shape[0]),))])


@tf_op("Bitcast")
def bitcast(ctx: ImportContext) -> None:
    ctx.emit("bitcast", [ctx.input(0)])


# ---------------------------------------------------------------- references
@reference("shape")
def ref_shape(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().shape(x, out_type=node.attrs.to)]  # type: ignore[union-attr]


@reference("fill")
def ref_fill(node: Node, dims: Any, value: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().fill(dims, value)]


@reference("zeros_like")
def ref_zeros_like(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().zeros_like(x)]


@reference("range")
def ref_range(node: Node, start: Any, limit: Any, delta: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().range(start, limit, delta)]


@reference("broadcast_to")
def ref_broadcast_to(node: Node, x: Any, shape: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    if node.output.shape and node.output.shape[0] == 1 and node.input(1).is_const:  # keep a free batch dim free
        shape = tf.concat([tf.shape(x)[:1], shape[1:]], 0) if len(node.input(0).shape) == len(node.output.shape) \
            and node.input(0).shape[0] == 1 else shape
    return [tf.broadcast_to(x, shape)]


@reference("broadcast_args")
def ref_broadcast_args(node: Node, s0: Any, s1: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().broadcast_dynamic_shape(s0, s1)]


@reference("bitcast")
def ref_bitcast(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().bitcast(x, tensorflow().as_dtype(node.output.dtype))]
