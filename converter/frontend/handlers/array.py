"""Shape and layout ops. Shapes are static after import, so shape computations become constants.

TF -> IR:
  Reshape, ExpandDims                 -> reshape(x) with the static output shape
  Squeeze                             -> squeeze(x)
  ConcatV2                            -> concatenation(x...)
  Pack / Unpack                       -> pack / unpack
  Pad, PadV2, MirrorPad               -> pad, padv2, mirror_pad (paddings constant)
  Transpose                           -> transpose(x, perm)
  StridedSlice, Slice                 -> strided_slice, slice (a strided slice taking every element: reshape)
  Shape, Size, Rank                   -> constants
  Cast, GatherV2, Tile, Split, SplitV -> cast, gather, tile, split, split_v
  ResizeBilinear/NearestNeighbor      -> resize_bilinear / resize_nearest_neighbor(x, size)
  Fill, ZerosLike, OnesLike           -> constants
  SpaceToDepth, DepthToSpace          -> space_to_depth, depth_to_space
  ArgMax                              -> arg_max (axis constant)
  ReverseV2                           -> reverse_v2(x, axis), one node per reversed axis of size > 1
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import (
    AxisAttrs,
    BlockAttrs,
    CastAttrs,
    ReshapeAttrs,
    ResizeAttrs,
    SplitAttrs,
    SqueezeAttrs,
    StridedSliceAttrs,
)
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import apply_activation, batch_shape


def _axis(axis: int, rank: int) -> int:
    return int(axis) + rank if int(axis) < 0 else int(axis)


@tf_op("Reshape", "ExpandDims")
def reshape(ctx: ImportContext) -> None:
    ctx.emit("reshape", [ctx.input(0)], ReshapeAttrs(new_shape=ctx.out_info(0).shape))


@tf_op("Squeeze")
def squeeze(ctx: ImportContext) -> None:
    rank = len(ctx.input(0).shape)
    axes = tuple(sorted(_axis(a, rank) for a in ctx.attr("squeeze_dims", []) or []))
    if not axes:  # squeeze every unit dim: make them explicit, the IR shapes are static
        axes = tuple(i for i, d in enumerate(ctx.input(0).shape) if d == 1)
    ctx.emit("squeeze", [ctx.input(0)], SqueezeAttrs(axes=axes))


@tf_op("ConcatV2")
def concat(ctx: ImportContext) -> None:
    n = ctx.num_inputs - 1
    axis = int(np.asarray(ctx.require_const(n, "the concat axis")))
    rank = len(ctx.out_info(0).shape)
    ctx.emit("concatenation", ctx.inputs()[:n], AxisAttrs(axis=_axis(axis, rank)))


@tf_op("Pack")
def pack(ctx: ImportContext) -> None:
    rank = len(ctx.out_info(0).shape)
    ctx.emit("pack", ctx.inputs(), AxisAttrs(axis=_axis(ctx.attr("axis", 0), rank)))


@tf_op("Unpack")
def unpack(ctx: ImportContext) -> None:
    rank = len(ctx.input(0).shape)
    outs = [ctx.output(i) for i in range(ctx.num_outputs)]
    ctx.emit("unpack", [ctx.input(0)], AxisAttrs(axis=_axis(ctx.attr("axis", 0), rank)), outputs=outs)


@tf_op("Pad", "PadV2", "MirrorPad")
def pad(ctx: ImportContext) -> None:
    paddings = np.asarray(ctx.require_const(1, "the paddings"), dtype=np.int32)
    ins = [ctx.input(0), ctx.const("paddings", paddings)]
    if ctx.op_type == "PadV2":
        ctx.emit("padv2", [*ins, ctx.input(2)])
    elif ctx.op_type == "MirrorPad":
        mode = ctx.attr("mode")
        ctx.emit("mirror_pad_reflect" if mode == "REFLECT" else "mirror_pad_symmetric", ins)
    else:
        ctx.emit("pad", ins)


@tf_op("Transpose")
def transpose(ctx: ImportContext) -> None:
    perm = np.asarray(ctx.require_const(1, "the permutation"), dtype=np.int32)
    ctx.emit("transpose", [ctx.input(0), ctx.const("perm", perm)])


@tf_op("StridedSlice")
def strided_slice(ctx: ImportContext) -> None:
    consts = [np.asarray(ctx.require_const(i, what), dtype=np.int32)
              for i, what in ((1, "begin"), (2, "end"), (3, "strides"))]
    attrs = StridedSliceAttrs(
        begin_mask=int(ctx.attr("begin_mask", 0)), end_mask=int(ctx.attr("end_mask", 0)),
        ellipsis_mask=int(ctx.attr("ellipsis_mask", 0)), new_axis_mask=int(ctx.attr("new_axis_mask", 0)),
        shrink_axis_mask=int(ctx.attr("shrink_axis_mask", 0)),
    )
    if attrs.ellipsis_mask or attrs.new_axis_mask:
        raise ctx.fail("StridedSlice with ellipsis or new-axis masks is not supported; slice explicitly")
    x = ctx.input(0)
    if not x.is_const and _copies_everything(x.shape, consts, attrs):
        # Every element in order, only unit axes dropped (the last step of a TensorListStack): a reshape, which
        # the passes merge with its neighbours, and which keeps the quantizer's scale chains unbroken.
        ctx.emit("reshape", [x], ReshapeAttrs(new_shape=ctx.out_info(0).shape))
        return
    names = ("begin", "end", "strides")
    ctx.emit("strided_slice", [x, *(ctx.const(n, c) for n, c in zip(names, consts, strict=True))], attrs)


def _copies_everything(shape: tuple[int, ...], consts: list[np.ndarray], a: StridedSliceAttrs) -> bool:
    """Whether the strided slice returns every element of a ``shape`` input in order (it only drops unit axes)."""
    size = int(np.prod(shape))
    if size > 1 << 16:  # big inputs: not worth the check (and a real slice of them is the common case)
        return False
    index = np.arange(size, dtype=np.int32).reshape(shape)
    got = tensorflow().strided_slice(index, *consts, begin_mask=a.begin_mask, end_mask=a.end_mask,
                                     shrink_axis_mask=a.shrink_axis_mask)
    return bool(np.array_equal(np.asarray(got).reshape(-1), index.reshape(-1)))


@tf_op("Slice")
def slice_(ctx: ImportContext) -> None:
    begin = np.asarray(ctx.require_const(1, "begin"), dtype=np.int32)
    size = np.asarray(ctx.require_const(2, "size"), dtype=np.int32)
    ctx.emit("slice", [ctx.input(0), ctx.const("begin", begin), ctx.const("size", size)])


@tf_op("Shape", "Size", "Rank")
def shape_of(ctx: ImportContext) -> None:
    shape = ctx.input(0).shape
    dtype = ctx.out_info(0).dtype
    value = {"Shape": np.array(shape), "Size": np.array(int(np.prod(shape))), "Rank": np.array(len(shape))}
    ctx.const_output(0, value[ctx.op_type].astype(dtype))


@tf_op("Fill", "ZerosLike", "OnesLike")
def fill(ctx: ImportContext) -> None:
    info = ctx.out_info(0)
    if ctx.op_type == "Fill":
        value = ctx.require_const(1, "the fill value")
    else:
        value = np.array(0 if ctx.op_type == "ZerosLike" else 1)
    ctx.const_output(0, np.full(info.shape, value, dtype=info.dtype))


@tf_op("Cast")
def cast(ctx: ImportContext) -> None:
    ctx.emit("cast", [ctx.input(0)], CastAttrs(to=ctx.out_info(0).dtype.name))


@tf_op("GatherV2", "Gather")
def gather(ctx: ImportContext) -> None:
    axis = 0 if ctx.op_type == "Gather" else int(np.asarray(ctx.require_const(2, "the gather axis")))
    if int(ctx.attr("batch_dims", 0)) != 0:
        raise ctx.fail("GatherV2 with batch_dims is not supported")
    ctx.emit("gather", [ctx.input(0), ctx.input(1)], AxisAttrs(axis=_axis(axis, len(ctx.input(0).shape))))


@tf_op("Tile")
def tile(ctx: ImportContext) -> None:
    mult = np.asarray(ctx.require_const(1, "the multiples"), dtype=np.int32)
    ctx.emit("tile", [ctx.input(0), ctx.const("multiples", mult)])


@tf_op("Split")
def split(ctx: ImportContext) -> None:
    axis = int(np.asarray(ctx.require_const(0, "the split axis")))
    outs = [ctx.output(i) for i in range(ctx.num_outputs)]
    x = ctx.input(1)
    ctx.emit("split", [ctx.const("axis", np.array(_axis(axis, len(x.shape)), np.int32)), x],
             SplitAttrs(num_splits=len(outs)), outputs=outs)


@tf_op("SplitV")
def split_v(ctx: ImportContext) -> None:
    x = ctx.input(0)
    axis = _axis(int(np.asarray(ctx.require_const(2, "the split axis"))), len(x.shape))
    size_arr = np.array([ctx.out_info(i).shape[axis] for i in range(ctx.num_outputs)], dtype=np.int32)
    outs = [ctx.output(i) for i in range(ctx.num_outputs)]
    ctx.emit("split_v", [x, ctx.const("size_splits", size_arr), ctx.const("axis", np.array(axis, np.int32))],
             SplitAttrs(num_splits=len(outs)), outputs=outs)


@tf_op("ResizeBilinear", "ResizeNearestNeighbor")
def resize(ctx: ImportContext) -> None:
    size = np.asarray(ctx.require_const(1, "the output size"), dtype=np.int32)
    op = "resize_bilinear" if ctx.op_type == "ResizeBilinear" else "resize_nearest_neighbor"
    attrs = ResizeAttrs(align_corners=bool(ctx.attr("align_corners", False)),
                        half_pixel_centers=bool(ctx.attr("half_pixel_centers", False)))
    ctx.emit(op, [ctx.input(0), ctx.const("size", size)], attrs)


@tf_op("SpaceToDepth", "DepthToSpace")
def space_depth(ctx: ImportContext) -> None:
    nhwc_only_attr = ctx.attr("data_format", "NHWC")
    if nhwc_only_attr != "NHWC":
        raise ctx.fail(f"data_format {nhwc_only_attr} is not supported; export NHWC")
    op = "space_to_depth" if ctx.op_type == "SpaceToDepth" else "depth_to_space"
    ctx.emit(op, [ctx.input(0)], BlockAttrs(block_size=int(ctx.attr("block_size"))))


@tf_op("ArgMax")
def arg_max(ctx: ImportContext) -> None:
    axis = np.asarray(ctx.require_const(1, "the axis"), dtype=np.int32).reshape(-1)
    ctx.emit("arg_max", [ctx.input(0), ctx.const("axis", axis)])


@tf_op("ReverseV2")
def reverse_v2(ctx: ImportContext) -> None:
    """LiteRT's REVERSE_V2 kernel reverses along one axis (it reads only the first entry of the axis vector), so
    several axes become a chain; axes of size 1 are dropped, and with none left the op is an identity."""
    x = ctx.input(0)
    rank = len(x.shape)
    axes = np.asarray(ctx.require_const(1, "the axes"), dtype=np.int64).reshape(-1)
    kept = sorted({_axis(int(a), rank) for a in axes if x.shape[_axis(int(a), rank)] != 1})
    if not kept:
        ctx.emit("identity", [x])
        return
    for i, axis in enumerate(kept):
        last = i == len(kept) - 1
        out = ctx.output(0) if last else ctx.intermediate(f"reverse_{axis}", x.dtype, x.shape)
        ctx.emit("reverse_v2", [x, ctx.const(f"axis_{axis}", np.array([axis], np.int32))], outputs=[out],
                 suffix=None if last else f"reverse_{axis}")
        x = out


# ---------------------------------------------------------------- references
@reference("reshape")
def ref_reshape(node: Node, x: Any, shape: Any = None) -> list[Any]:  # noqa: ANN401
    return [tensorflow().reshape(x, batch_shape(node.output.shape))]


@reference("squeeze")
def ref_squeeze(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: SqueezeAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().squeeze(x, axis=list(a.axes) or None)]


@reference("concatenation")
def ref_concat(node: Node, *xs: Any) -> list[Any]:  # noqa: ANN401
    a: AxisAttrs = node.attrs  # type: ignore[assignment]
    return [apply_activation(tensorflow().concat(list(xs), axis=a.axis), a.activation)]


@reference("pack")
def ref_pack(node: Node, *xs: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().stack(list(xs), axis=node.attrs.axis)]  # type: ignore[union-attr]


@reference("unpack")
def ref_unpack(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return list(tensorflow().unstack(x, axis=node.attrs.axis))  # type: ignore[union-attr]


@reference("pad", "padv2", "mirror_pad_reflect", "mirror_pad_symmetric")
def ref_pad(node: Node, x: Any, paddings: Any, value: Any = None) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    if node.op.startswith("mirror_pad"):
        return [tf.pad(x, paddings, mode="REFLECT" if node.op.endswith("reflect") else "SYMMETRIC")]
    return [tf.pad(x, paddings, constant_values=value if value is not None else 0)]


@reference("transpose")
def ref_transpose(node: Node, x: Any, perm: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().transpose(x, perm)]


@reference("strided_slice")
def ref_strided_slice(node: Node, x: Any, begin: Any, end: Any, strides: Any) -> list[Any]:  # noqa: ANN401
    a: StridedSliceAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().strided_slice(x, begin, end, strides, begin_mask=a.begin_mask, end_mask=a.end_mask,
                                       shrink_axis_mask=a.shrink_axis_mask)]


@reference("slice")
def ref_slice(node: Node, x: Any, begin: Any, size: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().slice(x, begin, size)]


@reference("space_to_depth", "depth_to_space")
def ref_space_depth(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = tf.nn.space_to_depth if node.op == "space_to_depth" else tf.nn.depth_to_space
    return [fn(x, node.attrs.block_size)]  # type: ignore[union-attr]


@reference("arg_max")
def ref_arg_max(node: Node, x: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    return [tf.math.argmax(x, axis=int(node.input(1).data.reshape(-1)[0]), output_type=tf.as_dtype(node.output.dtype))]  # type: ignore[union-attr]


@reference("cast")
def ref_cast(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().cast(x, node.attrs.to)]  # type: ignore[union-attr]


@reference("gather")
def ref_gather(node: Node, params: Any, indices: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().gather(params, indices, axis=node.attrs.axis)]  # type: ignore[union-attr]


@reference("tile")
def ref_tile(node: Node, x: Any, mult: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().tile(x, mult)]


@reference("split")
def ref_split(node: Node, axis: Any, x: Any) -> list[Any]:  # noqa: ANN401
    return list(tensorflow().split(x, node.attrs.num_splits, axis=int(node.input(0).data)))  # type: ignore[union-attr,arg-type]


@reference("split_v")
def ref_split_v(node: Node, x: Any, sizes: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    return list(tensorflow().split(x, list(node.input(1).data), axis=int(node.input(2).data)))  # type: ignore[arg-type]


@reference("resize_bilinear", "resize_nearest_neighbor")
def ref_resize(node: Node, x: Any, size: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    a: ResizeAttrs = node.attrs  # type: ignore[assignment]
    fn = tf.compat.v1.image.resize_bilinear if node.op == "resize_bilinear" else \
        tf.compat.v1.image.resize_nearest_neighbor
    return [fn(x, size, align_corners=a.align_corners, half_pixel_centers=a.half_pixel_centers)]


@reference("reverse_v2")
def ref_reverse_v2(node: Node, x: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().reverse(x, axis)]
