"""Ops that select or classify elements: top-k, unique values, indices of true elements, buckets.

TF -> IR:
  TopKV2(x, k), ApproxTopK  -> topk_v2(x, k): values, int32 indices (sorted, as TFLite's kernel always sorts)
  Unique(x)                 -> unique(x): values, indices (a run-time number of values)
  Where(condition)          -> where(condition): int64 coordinates of the true elements (a run-time count)
  Bucketize(x)              -> bucketize(x) with the boundaries as an option
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import BucketizeAttrs, UniqueAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import int32_operand


@tf_op("TopKV2")
def topk(ctx: ImportContext) -> None:
    # sorted=False lets TensorFlow return the k values in any order; TFLite's sorted order is one of them.
    if ctx.out_info(1).dtype != np.int32:
        raise ctx.fail("TFLite's TOPK_V2 returns int32 indices; use index_type=tf.int32")
    outs = [ctx.output(0), ctx.output(1)]
    ctx.emit("topk_v2", [ctx.input(0), int32_operand(ctx, 1, "k")], outputs=outs)


@tf_op("ApproxTopK")
def approx_top_k(ctx: ImportContext) -> None:
    """The exact top k is one of the answers ApproxTopK may give (its recall target is a lower bound)."""
    x = ctx.input(0)
    dim = int(ctx.attr("reduction_dimension", -1))
    if dim not in (-1, len(x.shape) - 1) or not bool(ctx.attr("is_max_k", True)):
        raise ctx.fail("only the largest k along the last axis maps to TFLite's TOPK_V2")
    k = ctx.const("k", np.array(int(ctx.attr("k")), np.int32))
    ctx.emit("topk_v2", [x, k], outputs=[ctx.output(0), ctx.output(1)])


@tf_op("Unique")
def unique(ctx: ImportContext) -> None:
    x = ctx.input(0)
    if len(x.shape) != 1:
        raise ctx.fail("Unique takes a vector")
    idx_type = ctx.out_info(1).dtype
    outs = [ctx.output(0, (-1,)), ctx.output(1, x.shape)]
    ctx.emit("unique", [x], UniqueAttrs(idx_out_type=np.dtype(idx_type).name), outputs=outs)


@tf_op("Where")
def where(ctx: ImportContext) -> None:
    x = ctx.input(0)
    ctx.emit("where", [x], outputs=[ctx.output(0, (-1, len(x.shape)))])


@tf_op("Bucketize")
def bucketize(ctx: ImportContext) -> None:
    boundaries = tuple(float(b) for b in ctx.attr("boundaries", []))
    if list(boundaries) != sorted(boundaries):
        raise ctx.fail("the boundaries must be sorted")
    ctx.emit("bucketize", [ctx.input(0)], BucketizeAttrs(boundaries=boundaries))


# ---------------------------------------------------------------- references
@reference("topk_v2")
def ref_topk(node: Node, x: Any, k: Any) -> list[Any]:  # noqa: ANN401
    values, indices = tensorflow().math.top_k(x, k, sorted=True)
    return [values, indices]


@reference("unique")
def ref_unique(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: UniqueAttrs = node.attrs  # type: ignore[assignment]
    y, idx = tensorflow().unique(x, out_idx=a.idx_out_type)
    return [y, idx]


@reference("where")
def ref_where(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().where(x)]


@reference("bucketize")
def ref_bucketize(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: BucketizeAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().raw_ops.Bucketize(input=x, boundaries=list(a.boundaries))]
