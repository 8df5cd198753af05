"""Shape and layout ops. Shapes are static after import, so shape computations become constants.

TF -> IR:
  Reshape, ExpandDims                 -> reshape(x) with the static output shape
  Squeeze                             -> squeeze(x)
  ConcatV2, Concat                    -> concatenation(x...); identity for a single input
  Pack / Unpack                       -> pack / unpack
  Pad, PadV2, MirrorPad               -> pad, padv2, mirror_pad (paddings constant)
  Transpose                           -> transpose(x, perm)
  StridedSlice, Slice                 -> strided_slice, slice (a strided slice taking every element: reshape)
  Shape, Size, Rank                   -> constants
  Cast, GatherV2 (batch_dims), Tile, Split, SplitV -> cast, gather, tile, split, split_v
  ResizeBilinear/NearestNeighbor      -> resize_bilinear / resize_nearest_neighbor(x, size)
  Fill, ZerosLike, OnesLike           -> constants
  SpaceToDepth, DepthToSpace          -> space_to_depth, depth_to_space
  ArgMax, ArgMin                      -> arg_max, arg_min
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
    GatherAttrs,
    ReshapeAttrs,
    ResizeAttrs,
    SplitAttrs,
    SqueezeAttrs,
    StridedSliceAttrs,
)
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import apply_activation, batch_shape, int32_operand


def _axis(axis: int, rank: int) -> int:
    return int(axis) + rank if int(axis) < 0 else int(axis)


@tf_op("Reshape")
def reshape(ctx: ImportContext) -> None:
    x, out = ctx.input(0), ctx.out_info(0)
    shape = ctx.const_input(1)
    if not out.dynamic:
        ctx.emit("reshape", [x], ReshapeAttrs(new_shape=out.shape))
    elif shape is not None:  # a dynamic input, a constant target (with one -1 the kernel resolves)
        ctx.emit("reshape", [x], ReshapeAttrs(new_shape=tuple(int(d) for d in np.asarray(shape).reshape(-1))))
    else:  # the target shape is a run-time value: the kernel reads it
        ctx.emit("reshape", [x, int32_operand(ctx, 1, "shape")], ReshapeAttrs(new_shape=out.shape))


@tf_op("ExpandDims")
def expand_dims(ctx: ImportContext) -> None:
    x = ctx.input(0)
    rank = len(x.shape)
    axis = ctx.const_input(1)
    if axis is None:  # the axis is a run-time value: so is every dim of the result
        ctx.emit("expand_dims", [x, int32_operand(ctx, 1, "axis")], outputs=[ctx.output(0, (-1,) * (rank + 1))])
        return
    a = int(np.asarray(axis).reshape(-1)[0])
    a = a + rank + 1 if a < 0 else a
    shape = (*x.shape[:a], 1, *x.shape[a:])
    if any(d < 0 for d in x.shape):
        ctx.emit("expand_dims", [x, ctx.const("axis", np.array([a], np.int32))], outputs=[ctx.output(0, shape)])
    else:
        ctx.emit("reshape", [x], ReshapeAttrs(new_shape=shape), outputs=[ctx.output(0, shape)])


@tf_op("Squeeze")
def squeeze(ctx: ImportContext) -> None:
    rank = len(ctx.input(0).shape)
    axes = tuple(sorted(_axis(a, rank) for a in ctx.attr("squeeze_dims", []) or []))
    if not axes:  # squeeze every unit dim: make them explicit, the IR shapes are static
        axes = tuple(i for i, d in enumerate(ctx.input(0).shape) if d == 1)
    ctx.emit("squeeze", [ctx.input(0)], SqueezeAttrs(axes=axes))


@tf_op("ConcatV2", "Concat")
def concat(ctx: ImportContext) -> None:
    n = ctx.num_inputs - 1
    if n == 1:  # one input: the concatenation is that input
        ctx.emit("identity", [ctx.input(0)])
        return
    if ctx.op_type == "Concat":  # the old form: the axis first
        axis = int(np.asarray(ctx.require_const(0, "the concat axis")))
        ctx.emit("concatenation", ctx.inputs()[1:], AxisAttrs(axis=_axis(axis, len(ctx.out_info(0).shape))))
        return
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
    ins = [ctx.input(0), int32_operand(ctx, 1, "paddings")]
    if ctx.op_type == "PadV2":
        ctx.emit("padv2", [*ins, ctx.input(2)])
    elif ctx.op_type == "MirrorPad":
        mode = ctx.attr("mode")
        ctx.emit("mirror_pad_reflect" if mode == "REFLECT" else "mirror_pad_symmetric", ins)
    else:
        ctx.emit("pad", ins)


@tf_op("Transpose")
def transpose(ctx: ImportContext) -> None:
    ctx.emit("transpose", [ctx.input(0), int32_operand(ctx, 1, "perm")])


@tf_op("StridedSlice")
def strided_slice(ctx: ImportContext) -> None:
    """Constant begin/end/strides with an ellipsis or new axes are spelled out, as TensorFlow's converter does: the
    ellipsis as full-range entries, the new axes by a reshape after the slice. Run-time operands go to the kernel."""
    attrs = StridedSliceAttrs(
        begin_mask=int(ctx.attr("begin_mask", 0)), end_mask=int(ctx.attr("end_mask", 0)),
        ellipsis_mask=int(ctx.attr("ellipsis_mask", 0)), new_axis_mask=int(ctx.attr("new_axis_mask", 0)),
        shrink_axis_mask=int(ctx.attr("shrink_axis_mask", 0)),
    )
    x, out = ctx.input(0), ctx.out_info(0)
    consts = [ctx.const_input(i) for i in (1, 2, 3)]
    if any(c is None for c in consts):
        if attrs.ellipsis_mask or attrs.new_axis_mask:
            raise ctx.fail("a strided slice with an ellipsis or new axes needs constant begin, end and strides")
        operands = [int32_operand(ctx, i, n) for i, n in ((1, "begin"), (2, "end"), (3, "strides"))]
        ctx.emit("strided_slice", [x, *operands], attrs)
        return
    begin, end, strides = (np.asarray(c, dtype=np.int32).reshape(-1) for c in consts)  # type: ignore[arg-type]
    begin, end, strides, attrs = _explicit_slice(len(x.shape), begin, end, strides, attrs)
    if not x.is_const and not out.dynamic and _copies_everything(x.shape, [begin, end, strides], attrs):
        # Every element in order, only unit axes dropped or added (the last step of a TensorListStack): a reshape,
        # which the passes merge with its neighbours, and which keeps the quantizer's scale chains unbroken.
        ctx.emit("reshape", [x], ReshapeAttrs(new_shape=out.shape))
        return
    if attrs.new_axis_mask:
        if sum(1 for d in out.shape if d < 0) > 1:
            raise ctx.fail("a strided slice adding new axes to a tensor of run-time shape is not supported")
        keep = [k for k in range(len(begin)) if not attrs.new_axis_mask >> k & 1]
        plain = StridedSliceAttrs(_pick(attrs.begin_mask, keep), _pick(attrs.end_mask, keep), 0, 0,
                                  _pick(attrs.shrink_axis_mask, keep))
        from_input = _entries(attrs, len(begin))
        from_input += [True] * (len(out.shape) - len(from_input))  # dims after the last entry are taken whole
        shape = tuple(d for k, d in zip(from_input, out.shape, strict=True) if k)
        mid = ctx.intermediate("slice", x.dtype, shape)
        ctx.emit("strided_slice", [x, ctx.const("begin", begin[keep]), ctx.const("end", end[keep]),
                                   ctx.const("strides", strides[keep])], plain, outputs=[mid], suffix="slice")
        ctx.emit("reshape", [mid], ReshapeAttrs(new_shape=out.shape))
        return
    names = ("begin", "end", "strides")
    ctx.emit("strided_slice", [x, *(ctx.const(n, c) for n, c in zip(names, (begin, end, strides), strict=True))],
             attrs)


def _entries(a: StridedSliceAttrs, n: int) -> list[bool]:
    """For each output dim of an explicit slice (no ellipsis), whether it comes from the input (False: a new axis)."""
    return [not a.new_axis_mask >> k & 1 for k in range(n) if a.new_axis_mask >> k & 1 or not a.shrink_axis_mask >> k & 1]


def _pick(mask: int, keep: list[int]) -> int:
    """The bits of ``mask`` at positions ``keep``, renumbered 0, 1, ..."""
    return sum(1 << j for j, k in enumerate(keep) if mask >> k & 1)


def _explicit_slice(rank: int, begin: np.ndarray, end: np.ndarray, strides: np.ndarray,
                    a: StridedSliceAttrs) -> tuple[np.ndarray, np.ndarray, np.ndarray, StridedSliceAttrs]:
    """The same slice with its ellipsis spelled out as full-range entries (a new axis stays one entry)."""
    if not a.ellipsis_mask:
        return begin, end, strides, a
    e = (a.ellipsis_mask & -a.ellipsis_mask).bit_length() - 1  # TensorFlow honours the first ellipsis only
    n = len(begin)
    real_after = sum(1 for k in range(e + 1, n) if not a.new_axis_mask >> k & 1)
    real_before = sum(1 for k in range(e) if not a.new_axis_mask >> k & 1)
    fill = rank - real_before - real_after
    idx = [*range(e), *([-1] * fill), *range(e + 1, n)]

    def spread(v: np.ndarray, full: int) -> np.ndarray:
        return np.array([v[k] if k >= 0 else full for k in idx], np.int32)

    def mask(m: int, full: int) -> int:
        return sum(1 << j for j, k in enumerate(idx) if (full if k < 0 else m >> k & 1))

    return (spread(begin, 0), spread(end, 0), spread(strides, 1),
            StridedSliceAttrs(mask(a.begin_mask, 1), mask(a.end_mask, 1), 0, mask(a.new_axis_mask, 0),
                              mask(a.shrink_axis_mask, 0)))


def _copies_everything(shape: tuple[int, ...], consts: list[np.ndarray], a: StridedSliceAttrs) -> bool:
    """Whether the strided slice returns every element of a ``shape`` input in order (it only drops unit axes)."""
    size = int(np.prod(shape))
    if size > 1 << 16:  # big inputs: not worth the check (and a real slice of them is the common case)
        return False
    index = np.arange(size, dtype=np.int32).reshape(shape)
    got = tensorflow().strided_slice(index, *consts, begin_mask=a.begin_mask, end_mask=a.end_mask,
                                     new_axis_mask=a.new_axis_mask, shrink_axis_mask=a.shrink_axis_mask)
    return bool(np.array_equal(np.asarray(got).reshape(-1), index.reshape(-1)))


@tf_op("Slice")
def slice_(ctx: ImportContext) -> None:
    ctx.emit("slice", [ctx.input(0), int32_operand(ctx, 1, "begin"), int32_operand(ctx, 2, "size")])


@tf_op("Cast", elementwise=True)
def cast(ctx: ImportContext) -> None:
    ctx.emit("cast", [ctx.input(0)], CastAttrs(to=ctx.out_info(0).dtype.name))


@tf_op("GatherV2", "Gather", "ResourceGather")
def gather(ctx: ImportContext) -> None:
    axis = 0 if ctx.op_type != "GatherV2" else int(np.asarray(ctx.require_const(2, "the gather axis")))
    params, indices = ctx.input(0), ctx.input(1)
    batch_dims = int(ctx.attr("batch_dims", 0))
    batch_dims = batch_dims + len(indices.shape) if batch_dims < 0 else batch_dims
    ctx.emit("gather", [params, indices], GatherAttrs(axis=_axis(axis, len(params.shape)), batch_dims=batch_dims))


@tf_op("Tile")
def tile(ctx: ImportContext) -> None:
    ctx.emit("tile", [ctx.input(0), int32_operand(ctx, 1, "multiples")])


@tf_op("Split")
def split(ctx: ImportContext) -> None:
    x = ctx.input(1)
    axis = ctx.const_input(0)
    outs = [ctx.output(i) for i in range(ctx.num_outputs)]
    dim = ctx.const("axis", np.array(_axis(int(axis), len(x.shape)), np.int32)) if axis is not None else \
        int32_operand(ctx, 0, "axis")
    ctx.emit("split", [dim, x], SplitAttrs(num_splits=len(outs)), outputs=outs)


@tf_op("SplitV")
def split_v(ctx: ImportContext) -> None:
    x = ctx.input(0)
    axis = _axis(int(np.asarray(ctx.require_const(2, "the split axis"))), len(x.shape))
    sizes = ctx.const_input(1)
    if sizes is not None:
        size_arr = np.asarray(sizes, dtype=np.int32).reshape(-1)
        if x.shape[axis] >= 0 and (size_arr < 0).any():  # the one -1 entry takes the rest
            size_arr[size_arr < 0] = x.shape[axis] - size_arr[size_arr >= 0].sum()
        size_t = ctx.const("size_splits", size_arr)
    else:
        size_t = int32_operand(ctx, 1, "size_splits")
    outs = [ctx.output(i) for i in range(ctx.num_outputs)]
    ctx.emit("split_v", [x, size_t, ctx.const("axis", np.array(axis, np.int32))],
             SplitAttrs(num_splits=len(outs)), outputs=outs)


@tf_op("ResizeBilinear", "ResizeNearestNeighbor")
def resize(ctx: ImportContext) -> None:
    op = "resize_bilinear" if ctx.op_type == "ResizeBilinear" else "resize_nearest_neighbor"
    attrs = ResizeAttrs(align_corners=bool(ctx.attr("align_corners", False)),
                        half_pixel_centers=bool(ctx.attr("half_pixel_centers", False)))
    ctx.emit(op, [ctx.input(0), int32_operand(ctx, 1, "size")], attrs)


@tf_op("SpaceToDepth", "DepthToSpace")
def space_depth(ctx: ImportContext) -> None:
    nhwc_only_attr = ctx.attr("data_format", "NHWC")
    if nhwc_only_attr != "NHWC":
        raise ctx.fail(f"data_format {nhwc_only_attr} is not supported; export NHWC")
    op = "space_to_depth" if ctx.op_type == "SpaceToDepth" else "depth_to_space"
    ctx.emit(op, [ctx.input(0)], BlockAttrs(block_size=int(ctx.attr("block_size"))))


@tf_op("ArgMax", "ArgMin")
def arg_max(ctx: ImportContext) -> None:
    op = "arg_max" if ctx.op_type == "ArgMax" else "arg_min"
    axis = ctx.const_input(1)
    if axis is None:
        ctx.emit(op, [ctx.input(0), int32_operand(ctx, 1, "axis")])
        return
    rank = len(ctx.input(0).shape)
    a = np.array([_axis(int(np.asarray(axis).reshape(-1)[0]), rank)], np.int32)
    ctx.emit(op, [ctx.input(0), ctx.const("axis", a)])


@tf_op("ReverseV2")
def reverse_v2(ctx: ImportContext) -> None:
    """LiteRT's REVERSE_V2 kernel reverses along one axis (it reads only the first entry of the axis vector), so
    several axes become a chain; axes of size 1 are dropped, and with none left the op is an identity."""
    x = ctx.input(0)
    rank = len(x.shape)
    if ctx.const_input(1) is None:  # a run-time axis: the kernel reverses along the first entry only
        if ctx.input(1).size != 1:
            raise ctx.fail("the axes (input 1) must be constant when they name more than one axis (TFLite's "
                           "REVERSE_V2 reverses one axis a node)")
        ctx.emit("reverse_v2", [x, int32_operand(ctx, 1, "axis")])
        return
    axes = np.asarray(ctx.const_input(1), dtype=np.int64).reshape(-1)
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
    if shape is not None:
        return [tensorflow().reshape(x, shape)]
    new_shape = node.attrs.new_shape if any(d < 0 for d in node.output.shape) else node.output.shape  # type: ignore[union-attr]
    return [tensorflow().reshape(x, batch_shape(tuple(new_shape)))]


@reference("expand_dims")
def ref_expand_dims(node: Node, x: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    return [tf.expand_dims(x, tf.reshape(axis, []))]


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
                                       ellipsis_mask=a.ellipsis_mask, new_axis_mask=a.new_axis_mask,
                                       shrink_axis_mask=a.shrink_axis_mask)]


@reference("slice")
def ref_slice(node: Node, x: Any, begin: Any, size: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().slice(x, begin, size)]


@reference("space_to_depth", "depth_to_space")
def ref_space_depth(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = tf.nn.space_to_depth if node.op == "space_to_depth" else tf.nn.depth_to_space
    return [fn(x, node.attrs.block_size)]  # type: ignore[union-attr]


@reference("arg_max", "arg_min")
def ref_arg_max(node: Node, x: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = tf.math.argmax if node.op == "arg_max" else tf.math.argmin
    return [fn(x, axis=tf.reshape(axis, []), output_type=tf.as_dtype(node.output.dtype))]


@reference("cast")
def ref_cast(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().cast(x, node.attrs.to)]  # type: ignore[union-attr]


@reference("gather")
def ref_gather(node: Node, params: Any, indices: Any) -> list[Any]:  # noqa: ANN401
    a: GatherAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().gather(params, indices, axis=a.axis, batch_dims=a.batch_dims)]


@reference("tile")
def ref_tile(node: Node, x: Any, mult: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().tile(x, mult)]


@reference("split")
def ref_split(node: Node, axis: Any, x: Any) -> list[Any]:  # noqa: ANN401
    return list(tensorflow().split(x, node.attrs.num_splits, axis=axis))  # type: ignore[union-attr]


@reference("split_v")
def ref_split_v(node: Node, x: Any, sizes: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    return list(tensorflow().split(x, sizes, axis=axis, num=node.attrs.num_splits))  # type: ignore[union-attr]


@reference("resize_bilinear", "resize_nearest_neighbor")
def ref_resize(node: Node, x: Any, size: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    a: ResizeAttrs = node.attrs  # type: ignore[assignment]
    fn = tf.compat.v1.image.resize_bilinear if node.op == "resize_bilinear" else \
        tf.compat.v1.image.resize_nearest_neighbor
    return [fn(x, size, align_corners=a.align_corners, half_pixel_centers=a.half_pixel_centers)]


@reference("reverse_v2")
def ref_reverse_v2(node: Node, x: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    return [tf.reverse(x, tf.reshape(axis, [-1])[:1])]  # the kernel reads the first axis only
