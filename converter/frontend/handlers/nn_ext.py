"""3-D convolutions and local response normalization.

TF -> IR:
  Conv3D(x NDHWC, filter DHWIO)                             -> conv_3d(x, filter, bias=None)
  Conv3DBackpropInputV2(sizes, filter DHWOI, dy)            -> conv_3d_transpose(sizes int32, filter, dy, bias=None)
  LRN(x, depth_radius, bias, alpha, beta)                   -> local_response_normalization(x)
TFLite keeps TensorFlow's filter layouts for both 3-D convolutions (CONV_3D: [d, h, w, in, out]; CONV_3D_TRANSPOSE:
[d, h, w, out, in]), so the filters go through unchanged.
"""

from __future__ import annotations

from typing import Any

from ...ir import Node
from ...ir.attrs import Conv3DAttrs, LrnAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import apply_activation, int32_operand, nhwc_only, padding


def _ndhwc(ctx: ImportContext, attr: str) -> tuple[int, int, int]:
    """The D, H and W entries of an NDHWC 5-vector attribute (strides, dilations)."""
    v = ctx.attr(attr, [1, 1, 1, 1, 1])
    if len(v) != 5 or v[0] != 1 or v[4] != 1:
        raise ctx.fail(f"{attr} {v} must be [1, d, h, w, 1]; TFLite's 3-D convolutions move along D, H and W only")
    return int(v[1]), int(v[2]), int(v[3])


def _conv3d_attrs(ctx: ImportContext) -> Conv3DAttrs:
    nhwc_only(ctx)
    return Conv3DAttrs(stride=_ndhwc(ctx, "strides"), padding=padding(ctx), dilation=_ndhwc(ctx, "dilations"))


@tf_op("Conv3D")
def conv3d(ctx: ImportContext) -> None:
    ctx.emit("conv_3d", [ctx.input(0), ctx.input(1), None], _conv3d_attrs(ctx))


@tf_op("Conv3DBackpropInputV2")
def conv3d_transpose(ctx: ImportContext) -> None:
    attrs = _conv3d_attrs(ctx)
    ctx.emit("conv_3d_transpose", [int32_operand(ctx, 0, "output_shape"), ctx.input(1), ctx.input(2), None], attrs)


@tf_op("LRN")
def lrn(ctx: ImportContext) -> None:
    if len(ctx.input(0).shape) != 4:
        raise ctx.fail(f"LRN of a rank-{len(ctx.input(0).shape)} tensor; TFLite's kernel takes 4-D NHWC input")
    attrs = LrnAttrs(radius=int(ctx.attr("depth_radius", 5)), bias=float(ctx.attr("bias", 1.0)),
                     alpha=float(ctx.attr("alpha", 1.0)), beta=float(ctx.attr("beta", 0.5)))
    ctx.emit("local_response_normalization", [ctx.input(0)], attrs)


# ---------------------------------------------------------------- references
@reference("conv_3d")
def ref_conv3d(node: Node, x: Any, w: Any, b: Any = None) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    a: Conv3DAttrs = node.attrs  # type: ignore[assignment]
    y = tf.nn.conv3d(x, w, strides=(1, *a.stride, 1), padding=a.padding.value, dilations=(1, *a.dilation, 1))
    if b is not None:
        y = y + b
    return [apply_activation(y, a.activation)]


@reference("conv_3d_transpose")
def ref_conv3d_transpose(node: Node, shape: Any, w: Any, x: Any, b: Any = None) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    a: Conv3DAttrs = node.attrs  # type: ignore[assignment]
    out_shape = tf.concat([tf.shape(x)[:1], tf.cast(shape[1:], tf.int32)], axis=0)
    y = tf.nn.conv3d_transpose(x, w, out_shape, strides=(1, *a.stride, 1), padding=a.padding.value,
                               dilations=(1, *a.dilation, 1))
    if b is not None:
        y = y + b
    return [apply_activation(y, a.activation)]


@reference("local_response_normalization")
def ref_lrn(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: LrnAttrs = node.attrs  # type: ignore[assignment]
    return [tensorflow().nn.local_response_normalization(x, a.radius, a.bias, a.alpha, a.beta)]
