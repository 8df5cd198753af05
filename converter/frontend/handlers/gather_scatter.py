"""Indexed reads and writes: gathers, scatters, one-hot encodings, rolls.

TF -> IR:
  GatherNd                                    -> gather_nd(params, indices)
  ScatterNd                                   -> scatter_nd(indices, updates, shape)
  TensorScatterAdd / Sub                      -> add / sub(tensor, scatter_nd(indices, updates, shape(tensor)))
  TensorScatterUpdate / Max / Min             -> select_v2(scatter_nd(indices, 1) > 0, new, tensor), where new is the
                                                 scattered updates (Max/Min: their maximum/minimum with tensor)
  SparseToDense                               -> sparse_to_dense(indices, output_shape, values, default)
  OneHot                                      -> one_hot(indices, depth, on, off)
  Roll                                        -> gather(x, (arange(n) - shift) mod n) per rolled axis
  InvertPermutation                           -> scatter_nd(reshape(p, [n, 1]), arange(n), [n])
  DynamicStitch (constant indices)            -> pack of the data's unpacked slices, in index order
  XlaDynamicUpdateSlice                       -> dynamic_update_slice(x, update, start)
TensorFlow leaves the order of repeated indices in TensorScatterUpdate undefined; here (as with every index
distinct) each position takes its update. TensorScatterAdd/Sub sum repeated indices, as TensorFlow does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node, Tensor
from ...ir.attrs import AxisAttrs, FusedActivationAttrs, GatherAttrs, OneHotAttrs, ReshapeAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import int32_operand


@tf_op("GatherNd")
def gather_nd(ctx: ImportContext) -> None:
    if int(ctx.attr("batch_dims", 0)) != 0:
        raise ctx.fail("GatherNd with batch_dims is not supported by TFLite's GATHER_ND; fold the batch into the "
                       "indices")
    ctx.emit("gather_nd", [ctx.input(0), ctx.input(1)])


@tf_op("ScatterNd")
def scatter_nd(ctx: ImportContext) -> None:
    ctx.emit("scatter_nd", [ctx.input(0), ctx.input(1), int32_operand(ctx, 2, "shape")])


def _scattered(ctx: ImportContext, updates: Tensor, suffix: str) -> Tensor:
    """scatter_nd(indices, updates, shape of the tensor scattered into)."""
    x = ctx.input(0)
    out = ctx.intermediate(suffix, updates.dtype, x.shape)
    ctx.emit("scatter_nd", [ctx.input(1), updates, ctx.const(f"{suffix}_shape", np.array(x.shape, np.int32))],
             outputs=[out], suffix=suffix)
    return out


@tf_op("TensorScatterAdd", "TensorScatterSub", "TensorScatterUpdate", "TensorScatterMax", "TensorScatterMin")
def tensor_scatter(ctx: ImportContext) -> None:
    x, updates = ctx.input(0), ctx.input(2)
    if any(d < 0 for d in x.shape):
        raise ctx.fail("the tensor scattered into has a run-time shape; TFLite's SCATTER_ND needs it static")
    scattered = _scattered(ctx, updates, "scattered")
    if ctx.op_type in ("TensorScatterAdd", "TensorScatterSub"):
        op = "add" if ctx.op_type == "TensorScatterAdd" else "sub"
        ctx.emit(op, [x, scattered], FusedActivationAttrs())
        return
    # Which positions an update reaches: scatter ones (int32, exact) and compare with 0.
    ones = ctx.const("ones", np.ones(updates.shape, np.int32))
    hits = _scattered(ctx, ones, "hits")
    mask = ctx.intermediate("mask", np.bool_, x.shape)
    ctx.emit("greater", [hits, ctx.const("zero", np.array(0, np.int32))], outputs=[mask], suffix="mask")
    new = scattered
    if ctx.op_type != "TensorScatterUpdate":
        new = ctx.intermediate("combined", x.dtype, x.shape)
        ctx.emit("maximum" if ctx.op_type == "TensorScatterMax" else "minimum", [x, scattered], outputs=[new],
                 suffix="combined")
    ctx.emit("select_v2", [mask, new, x])


@tf_op("SparseToDense")
def sparse_to_dense(ctx: ImportContext) -> None:
    indices, values = ctx.input(0), ctx.input(2)
    ctx.emit("sparse_to_dense", [indices, int32_operand(ctx, 1, "output_shape"), values, ctx.input(3)])


@tf_op("OneHot")
def one_hot(ctx: ImportContext) -> None:
    axis = int(ctx.attr("axis", -1))
    ctx.emit("one_hot", [ctx.input(0), int32_operand(ctx, 1, "depth"), ctx.input(2), ctx.input(3)],
             OneHotAttrs(axis=axis))


@tf_op("Roll")
def roll(ctx: ImportContext) -> None:
    """Each rolled axis becomes a gather: out[i] = x[(i - shift) mod n]. Constant shifts give constant indices; a
    run-time shift computes them (SUB, FLOOR_MOD on int32)."""
    x = ctx.input(0)
    rank = len(x.shape)
    axes = np.asarray(ctx.require_const(2, "the roll axes"), np.int64).reshape(-1)
    shift = ctx.const_input(1)
    shifts = None if shift is None else np.broadcast_to(np.asarray(shift, np.int64).reshape(-1), axes.shape)
    if shift is not None and ctx.input(1).size != axes.size and ctx.input(1).size != 1:
        raise ctx.fail("the shift and axis operands must have the same length")
    if shift is None and ctx.input(1).size != 1 or shift is None and axes.size != 1:
        raise ctx.fail("a run-time shift is supported for one rolled axis; make the shifts constant")
    axes = np.array([a + rank if a < 0 else a for a in axes])
    if any(x.shape[a] < 0 for a in axes):
        raise ctx.fail("a rolled axis has a run-time length; TFLite needs it static here")
    total: dict[int, Any] = {}
    for k, a in enumerate(axes):  # repeated axes add their shifts
        total[int(a)] = total.get(int(a), 0) + (0 if shifts is None else int(shifts[k]))
    cur = x
    for j, (a, s) in enumerate(sorted(total.items())):
        n = x.shape[a]
        if shift is not None:
            idx: Tensor = ctx.const(f"indices_{a}", ((np.arange(n) - s) % max(n, 1)).astype(np.int32))
        else:
            s_t = int32_operand(ctx, 1, "shift")
            diff = ctx.intermediate(f"shifted_{a}", np.int32, (n,))
            ctx.emit("sub", [ctx.const(f"arange_{a}", np.arange(n, dtype=np.int32)), s_t], FusedActivationAttrs(),
                     outputs=[diff], suffix=f"shifted_{a}")
            idx = ctx.intermediate(f"indices_{a}", np.int32, (n,))
            ctx.emit("floor_mod", [diff, ctx.const(f"n_{a}", np.array(n, np.int32))], outputs=[idx],
                     suffix=f"indices_{a}")
        last = j == len(total) - 1
        out = ctx.output(0) if last else ctx.intermediate(f"roll_{a}", x.dtype, x.shape)
        ctx.emit("gather", [cur, idx], GatherAttrs(axis=a), outputs=[out], suffix=None if last else f"roll_{a}")
        cur = out
    if not total:
        ctx.emit("identity", [x])


# ---------------------------------------------------------------- references
@reference("gather_nd")
def ref_gather_nd(node: Node, params: Any, indices: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().gather_nd(params, indices)]


@reference("scatter_nd")
def ref_scatter_nd(node: Node, indices: Any, updates: Any, shape: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().scatter_nd(indices, updates, shape)]


@reference("sparse_to_dense")
def ref_sparse_to_dense(node: Node, indices: Any, shape: Any, values: Any, default: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().compat.v1.sparse_to_dense(indices, shape, values, default)]


@reference("one_hot")
def ref_one_hot(node: Node, indices: Any, depth: Any, on: Any, off: Any) -> list[Any]:  # noqa: ANN401
    a: OneHotAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().one_hot(indices, depth, on, off, axis=a.axis)]


@tf_op("InvertPermutation")
def invert_permutation(ctx: ImportContext) -> None:
    """out[p[i]] = i: scatter_nd(reshape(p, [n, 1]), arange(n), [n]) (what TensorFlow's converter writes too)."""
    p = ctx.input(0)
    n = p.shape[0]
    if n < 0:
        raise ctx.fail("the permutation has a run-time length; TFLite's SCATTER_ND needs it static")
    idx = ctx.intermediate("indices", p.dtype, (n, 1))
    ctx.emit("reshape", [p], ReshapeAttrs(new_shape=(n, 1)), outputs=[idx], suffix="indices")
    ctx.emit("scatter_nd", [idx, ctx.const("positions", np.arange(n, dtype=p.dtype)),
                            ctx.const("shape", np.array([n], np.int32))])


@tf_op("DynamicStitch", "ParallelDynamicStitch")
def dynamic_stitch(ctx: ImportContext) -> None:
    """result[indices[m][i]] = data[m][i] with constant indices: every data tensor unpacked into its slices, the slice
    each position takes (the last one written there, as TensorFlow) packed in order."""
    n = ctx.num_inputs // 2
    indices = [np.asarray(ctx.require_const(m, f"the indices (input {m})"), np.int64) for m in range(n)]
    slices: dict[int, Tensor] = {}
    for m in range(n):
        data = ctx.input(n + m)
        idx = indices[m].reshape(-1)
        rest = data.shape[indices[m].ndim:]
        flat = data
        if indices[m].ndim != 1:
            flat = ctx.intermediate(f"flat_{m}", data.dtype, (idx.size, *rest))
            ctx.emit("reshape", [data], ReshapeAttrs(new_shape=(idx.size, *rest)), outputs=[flat], suffix=f"flat_{m}")
        parts = [ctx.intermediate(f"part_{m}_{i}", data.dtype, rest) for i in range(idx.size)]
        if parts:
            ctx.emit("unpack", [flat], AxisAttrs(axis=0), outputs=parts, suffix=f"parts_{m}")
        for i, j in enumerate(idx):
            slices[int(j)] = parts[i]
    size = max(slices) + 1 if slices else 0
    if sorted(slices) != list(range(size)):
        raise ctx.fail("the indices leave positions unwritten (TensorFlow leaves them undefined)")
    ctx.emit("pack", [slices[j] for j in range(size)], AxisAttrs(axis=0))


@tf_op("XlaDynamicUpdateSlice")
def dynamic_update_slice(ctx: ImportContext) -> None:
    ctx.emit("dynamic_update_slice", [ctx.input(0), ctx.input(1), int32_operand(ctx, 2, "start")])


@reference("dynamic_update_slice")
def ref_dynamic_update_slice(node: Node, x: Any, update: Any, start: Any) -> list[Any]:  # noqa: ANN401
    """x with ``update`` written at ``start``, the start clamped so that the update fits (as XLA and TFLite do)."""
    tf = tensorflow()
    shape = tf.shape(x, out_type=tf.int32)
    begin = tf.clip_by_value(tf.cast(start, tf.int32), 0, shape - tf.shape(update, out_type=tf.int32))
    grids = tf.meshgrid(*[tf.range(d) for d in node.input(1).shape], indexing="ij")
    coords = tf.stack([g + begin[k] for k, g in enumerate(grids)], axis=-1)
    return [tf.tensor_scatter_nd_update(x, coords, update)]
