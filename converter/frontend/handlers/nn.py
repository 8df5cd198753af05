"""Neural-network ops: convolutions, matmul, bias, batch norm, activations, pooling, softmax.

TF -> IR:
  Conv2D(x NHWC, filter HWIO)              -> conv_2d(x, transpose(filter) OHWI, bias=None)
  DepthwiseConv2dNative(x, filter HWCM)    -> depthwise_conv_2d(x, reshape(filter) [1,H,W,C*M], bias=None)
  MatMul, SparseMatMul (a, b constant-derived) -> fully_connected(a, transpose(b) [out,in], bias=None)
  MatMul / BatchMatMul(a, b activations)   -> batch_matmul(a, b)
  BiasAdd(x, b)                            -> add(x, b)
  FusedBatchNorm[V2|V3](x, g, b, m, v)     -> batch_norm(x, g, b, m, v)   (folded or lowered by passes); NCHW or
                                              training mode (tf_keras LayerNormalization): normalization.py
  Relu/Relu6/Sigmoid/Tanh/Elu/LeakyRelu    -> relu/relu6/logistic/tanh/elu/leaky_relu
  MaxPool/AvgPool                          -> max_pool_2d/average_pool_2d
  Softmax                                  -> softmax
  LogSoftmax                               -> log_softmax
  Conv2DBackpropInput(sizes, filter HWOI, x) -> transpose_conv(output_shape, transpose(filter) OHWI, x)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import (
    BatchMatMulAttrs,
    BatchNormAttrs,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    FullyConnectedAttrs,
    FusedActivationAttrs,
    GeluAttrs,
    LeakyReluAttrs,
    Padding,
    Pool2DAttrs,
    ReshapeAttrs,
    SoftmaxAttrs,
    TransposeConvAttrs,
)
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..reference import derived
from ..registry import reference, tf_op
from .common import apply_activation, batch_shape, int32_operand, nhwc_only, padding, spatial
from .normalization import lower_batch_norm


def _explicit_pad(ctx: ImportContext) -> Any:  # noqa: ANN401 - IR Tensor
    """For padding=EXPLICIT: a pad node in front of the input; the conv then runs VALID."""
    pads = ctx.attr("explicit_paddings")
    x = ctx.input(0)
    p = np.asarray(pads, dtype=np.int32).reshape(4, 2)
    shape = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, p, strict=True))
    out = ctx.intermediate("explicit_pad", x.dtype, shape)
    ctx.emit("pad", [x, ctx.const("explicit_paddings", p)], outputs=[out], suffix="explicit_pad")
    return out


@tf_op("Conv2D")
def conv2d(ctx: ImportContext) -> None:
    nhwc_only(ctx)
    x = ctx.input(0)
    if ctx.attr("padding") == "EXPLICIT":
        x, pad = _explicit_pad(ctx), Padding.VALID
    else:
        pad = padding(ctx)
    f = ctx.input(1)
    h, w, cin, cout = f.shape
    w_t = ctx.intermediate("filter_ohwi", f.dtype, (cout, h, w, cin))
    ctx.emit("transpose", [f, ctx.const("perm_hwio_ohwi", np.array([3, 0, 1, 2], np.int32))], outputs=[w_t],
             suffix="filter_ohwi")
    attrs = Conv2DAttrs(stride=spatial(ctx, "strides"), padding=pad, dilation=spatial(ctx, "dilations", [1, 1, 1, 1]))
    ctx.emit("conv_2d", [x, w_t, None], attrs)


@tf_op("DepthwiseConv2dNative")
def depthwise_conv2d(ctx: ImportContext) -> None:
    nhwc_only(ctx)
    x = ctx.input(0)
    if ctx.attr("padding") == "EXPLICIT":
        x, pad = _explicit_pad(ctx), Padding.VALID
    else:
        pad = padding(ctx)
    f = ctx.input(1)
    h, w, cin, mult = f.shape
    w_t = ctx.intermediate("filter_1hwc", f.dtype, (1, h, w, cin * mult))
    ctx.emit("reshape", [f], _reshape_attrs((1, h, w, cin * mult)), outputs=[w_t], suffix="filter_1hwc")
    attrs = DepthwiseConv2DAttrs(stride=spatial(ctx, "strides"), padding=pad, depth_multiplier=int(mult),
                                 dilation=spatial(ctx, "dilations", [1, 1, 1, 1]))
    ctx.emit("depthwise_conv_2d", [x, w_t, None], attrs)


def _reshape_attrs(shape: tuple[int, ...]) -> ReshapeAttrs:
    return ReshapeAttrs(new_shape=tuple(int(d) for d in shape))


@tf_op("Conv2DBackpropInput")
def conv2d_transpose(ctx: ImportContext) -> None:
    nhwc_only(ctx)
    if spatial(ctx, "dilations", [1, 1, 1, 1]) != (1, 1):
        raise ctx.fail("dilated transposed convolution is not supported by TFLite")
    f = ctx.input(1)
    h, w, cout, cin = f.shape
    w_t = ctx.intermediate("filter_ohwi", f.dtype, (cout, h, w, cin))
    ctx.emit("transpose", [f, ctx.const("perm_hwoi_ohwi", np.array([2, 0, 1, 3], np.int32))], outputs=[w_t],
             suffix="filter_ohwi")
    shape = int32_operand(ctx, 0, "output_shape")
    ctx.emit("transpose_conv", [shape, w_t, ctx.input(2)],
             TransposeConvAttrs(stride=spatial(ctx, "strides"), padding=padding(ctx)))


@tf_op("MatMul", "SparseMatMul")  # SparseMatMul's sparsity flags are hints; the product is MatMul's
def matmul(ctx: ImportContext) -> None:
    a, b = ctx.input(0), ctx.input(1)
    ta, tb = bool(ctx.attr("transpose_a", False)), bool(ctx.attr("transpose_b", False))
    if ctx.is_weight(1) and not ta and len(a.shape) == 2:
        if tb:
            w = b
        else:
            w = ctx.intermediate("weights_t", b.dtype, (b.shape[1], b.shape[0]))
            ctx.emit("transpose", [b, ctx.const("perm", np.array([1, 0], np.int32))], outputs=[w], suffix="weights_t")
        ctx.emit("fully_connected", [a, w, None], FullyConnectedAttrs())
        return
    ctx.emit("batch_matmul", [a, b], BatchMatMulAttrs(adj_x=ta, adj_y=tb))


@tf_op("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def batch_matmul(ctx: ImportContext) -> None:
    ctx.emit("batch_matmul", [ctx.input(0), ctx.input(1)],
             BatchMatMulAttrs(adj_x=bool(ctx.attr("adj_x", False)), adj_y=bool(ctx.attr("adj_y", False))))


@tf_op("BiasAdd", "BiasAddV1", elementwise=True)
def bias_add(ctx: ImportContext) -> None:
    nhwc_only(ctx)
    ctx.emit("add", [ctx.input(0), ctx.input(1)], FusedActivationAttrs())


@tf_op("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def fused_batch_norm(ctx: ImportContext) -> None:
    fmt = ctx.attr("data_format", "NHWC")
    if fmt in ("NCHW", "NCDHW") or ctx.attr("is_training", False):  # statistics of the batch, or channels first
        lower_batch_norm(ctx, 1 if fmt.startswith("NC") else -1)
        return
    nhwc_only(ctx)
    ins = ctx.inputs()[:5]
    ctx.emit("batch_norm", ins, BatchNormAttrs(epsilon=float(ctx.attr("epsilon", 1e-3))))


_UNARY = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "logistic", "Tanh": "tanh", "Elu": "elu"}


@tf_op(*_UNARY, elementwise=True)
def activation(ctx: ImportContext) -> None:
    ctx.emit(_UNARY[ctx.op_type], [ctx.input(0)])


@tf_op("LeakyRelu", elementwise=True)
def leaky_relu(ctx: ImportContext) -> None:
    ctx.emit("leaky_relu", [ctx.input(0)], LeakyReluAttrs(alpha=float(ctx.attr("alpha", 0.2))))


@tf_op("Softmax", elementwise=True)
def softmax(ctx: ImportContext) -> None:
    ctx.emit("softmax", [ctx.input(0)], SoftmaxAttrs(beta=1.0))


@tf_op("LogSoftmax")
def log_softmax(ctx: ImportContext) -> None:
    ctx.emit("log_softmax", [ctx.input(0)])


@tf_op("MaxPool", "AvgPool")
def pool(ctx: ImportContext) -> None:
    nhwc_only(ctx)
    attrs = Pool2DAttrs(filter=spatial(ctx, "ksize"), stride=spatial(ctx, "strides"), padding=padding(ctx))
    ctx.emit("max_pool_2d" if ctx.op_type == "MaxPool" else "average_pool_2d", [ctx.input(0)], attrs)


# ---------------------------------------------------------------- references (float semantics of the IR ops)
def _tf() -> Any:  # noqa: ANN401
    return tensorflow()


def _transposed(w: Any, perm: tuple[int, ...]) -> Any:  # noqa: ANN401
    """``w`` (a filter) transposed by ``perm``, once per constant (``reference.derived``)."""
    return derived(w, f"transpose{perm}", lambda v: _tf().transpose(v, perm))


@reference("conv_2d")
def ref_conv2d(node: Node, x: Any, w: Any, b: Any) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    a: Conv2DAttrs = node.attrs  # type: ignore[assignment]
    y = tf.nn.conv2d(x, _transposed(w, (1, 2, 3, 0)), strides=(1, *a.stride, 1), padding=a.padding.value,
                     dilations=(1, *a.dilation, 1))
    if b is not None:
        y = y + b
    return [apply_activation(y, a.activation)]


@reference("depthwise_conv_2d")
def ref_depthwise(node: Node, x: Any, w: Any, b: Any) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    a: DepthwiseConv2DAttrs = node.attrs  # type: ignore[assignment]
    _, h, wd, cm = node.input(1).shape
    cin = node.input(0).shape[-1]
    shape = (h, wd, cin, cm // cin)
    f = derived(w, f"reshape{shape}", lambda v: tf.reshape(v, shape))
    y = tf.nn.depthwise_conv2d(x, f, strides=(1, *a.stride, 1), padding=a.padding.value, dilations=a.dilation)
    if b is not None:
        y = y + b
    return [apply_activation(y, a.activation)]


@reference("transpose_conv")
def ref_transpose_conv(node: Node, shape: Any, w: Any, x: Any, b: Any = None) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    a: TransposeConvAttrs = node.attrs  # type: ignore[assignment]
    out_shape = tf.concat([tf.shape(x)[:1], tf.cast(shape[1:], tf.int32)], axis=0)
    y = tf.nn.conv2d_transpose(x, _transposed(w, (1, 2, 0, 3)), out_shape, strides=(1, *a.stride, 1),
                               padding=a.padding.value)
    if b is not None:
        y = y + b
    return [apply_activation(y, a.activation)]


@reference("fully_connected")
def ref_fully_connected(node: Node, x: Any, w: Any, b: Any) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    a: FullyConnectedAttrs = node.attrs  # type: ignore[assignment]
    n_in = node.input(1).shape[1]
    y = tf.matmul(tf.reshape(x, (-1, n_in)), w, transpose_b=True)
    if b is not None:
        y = y + b
    y = tf.reshape(y, batch_shape(node.output.shape))
    return [apply_activation(y, a.activation)]


@reference("batch_matmul")
def ref_batch_matmul(node: Node, a: Any, b: Any) -> list[Any]:  # noqa: ANN401
    at: BatchMatMulAttrs = node.attrs  # type: ignore[assignment]
    return [_tf().linalg.matmul(a, b, adjoint_a=at.adj_x, adjoint_b=at.adj_y)]


@reference("batch_norm")
def ref_batch_norm(node: Node, x: Any, gamma: Any, beta: Any, mean: Any, var: Any) -> list[Any]:  # noqa: ANN401
    a: BatchNormAttrs = node.attrs  # type: ignore[assignment]
    return [(x - mean) * gamma * _tf().math.rsqrt(var + a.epsilon) + beta]


@reference("relu", "relu6", "logistic", "tanh", "elu", "relu_n1_to_1")
def ref_unary_activation(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    fn = {"relu": tf.nn.relu, "relu6": tf.nn.relu6, "logistic": tf.sigmoid, "tanh": tf.tanh, "elu": tf.nn.elu,
          "relu_n1_to_1": lambda v: tf.clip_by_value(v, -1.0, 1.0)}[node.op]
    return [fn(x)]


@reference("leaky_relu")
def ref_leaky_relu(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: LeakyReluAttrs = node.attrs  # type: ignore[assignment]
    return [_tf().nn.leaky_relu(x, alpha=a.alpha)]


@reference("softmax")
def ref_softmax(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: SoftmaxAttrs = node.attrs  # type: ignore[assignment]
    return [_tf().nn.softmax(x * a.beta)]


@reference("log_softmax")
def ref_log_softmax(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [_tf().nn.log_softmax(x)]


@reference("prelu")
def ref_prelu(node: Node, x: Any, alpha: Any) -> list[Any]:  # noqa: ANN401
    """y = x for x >= 0, alpha * x below (alpha broadcast against x)."""
    tf = _tf()
    return [tf.maximum(x, 0.0) + alpha * tf.minimum(x, 0.0)]


@reference("l2_normalization")
def ref_l2_normalization(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    """y = x / max(||x||, 1e-6) over the last axis (LiteRT's float kernel) = x * rsqrt(max(sum(x^2), 1e-12))."""
    tf = _tf()
    return [x * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(x), axis=-1, keepdims=True), 1e-12))]


@reference("max_pool_2d", "average_pool_2d")
def ref_pool(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    a: Pool2DAttrs = node.attrs  # type: ignore[assignment]
    fn = tf.nn.max_pool2d if node.op == "max_pool_2d" else tf.nn.avg_pool2d
    return [apply_activation(fn(x, (1, *a.filter, 1), (1, *a.stride, 1), a.padding.value), a.activation)]


@reference("hard_swish")
def ref_hard_swish(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = _tf()
    return [x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)]


@reference("gelu")
def ref_gelu(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    a: GeluAttrs = node.attrs  # type: ignore[assignment]
    return [_tf().nn.gelu(x, approximate=a.approximate)]
