"""Math TensorFlow's converter lowers to several builtins, and the math builtins added for it (issue 11).

TF -> IR:
  Ceil, Round, Rint, Sign                -> ceil, round, round, sign
  Atan2, BitwiseXor, RightShift          -> atan2, bitwise_xor, right_shift (atan2's operands broadcast first:
                                            LiteRT's ATAN2 takes only equal shapes)
  TruncateDiv (integers)                 -> div (LiteRT's integer DIV truncates toward zero)
  AddN                                   -> add_n
  Log1p(x)                               -> log(x + 1)
  Expm1(x)                               -> exp(x) - 1
  Softplus(x) = log(1 + e^x)             -> relu(x) + log(1 + exp(-|x|))   (no overflow; bounded ranges for INT8)
  Softsign(x) = x / (1 + |x|)            -> div(x, abs(x) + 1)
  Selu(x)                                -> s * relu(x) + s * a * elu(min(x, 0))   (s, a: SELU's constants)
  DivNoNan(x, y) = y == 0 ? 0 : x / y    -> select_v2(y == 0, 0, x / select_v2(y == 0, 1, y))
  MulNoNan(x, y) = y == 0 ? 0 : x * y    -> select_v2(y == 0, 0, x * y)
  Xdivy / Xlogy / Xlog1py(x, y)          -> select_v2(x == 0, 0, x / y | x * log(y) | x * log(y + 1))
  IsFinite(x) / IsInf(x) / IsNan(x)      -> x - x == 0 / |x| == inf / x != x
  Cumsum(x, axis)                        -> cumsum(x, axis)
  SegmentSum(x, ids)                     -> segment_sum, or unsorted_segment_sum when constant ids skip a segment
  UnsortedSegmentSum/Prod/Max/Min        -> unsorted_segment_sum/prod/max/min(x, ids, num_segments)

Why the lowerings differ from TensorFlow's where they do: Softplus as log(1 + exp(x)) overflows for x > 88 and, in
INT8, calibrates exp on [0, e^max] (TensorFlow's converter: 8.9 dB on the probe); the form above keeps every
intermediate in [0, 1] or [0, log 2] + relu. Selu evaluated as select(x > 0, ...) computes exp of the positive
inputs too (13.7 dB); elu of min(x, 0) is bounded in (-1, 0]. DivNoNan divides by 1 where y == 0: LiteRT's integer
DIV refuses a zero divisor (TensorFlow's INT8 model fails in LiteRT), the result is masked either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import CumsumAttrs, FusedActivationAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import int32_operand, scalar, step

_UNARY = {"Ceil": "ceil", "Round": "round", "Rint": "round", "Sign": "sign"}
_BINARY = {"Atan2": "atan2", "BitwiseXor": "bitwise_xor", "RightShift": "right_shift"}
_SEGMENT = {"UnsortedSegmentSum": "unsorted_segment_sum", "UnsortedSegmentProd": "unsorted_segment_prod",
            "UnsortedSegmentMax": "unsorted_segment_max", "UnsortedSegmentMin": "unsorted_segment_min"}
# SELU's constants (TensorFlow's, also its converter's): selu(x) = SCALE * (x > 0 ? x : ALPHA * (e^x - 1)).
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
_F = FusedActivationAttrs


@tf_op(*_UNARY, elementwise=True)
def unary(ctx: ImportContext) -> None:
    ctx.emit(_UNARY[ctx.op_type], [ctx.input(0)])


@tf_op(*_BINARY, elementwise=True)
def binary(ctx: ImportContext) -> None:
    a, b = ctx.input(0), ctx.input(1)
    if ctx.op_type == "Atan2" and a.shape != b.shape:
        a, b = _broadcast(ctx, a, "x"), _broadcast(ctx, b, "y")
    ctx.emit(_BINARY[ctx.op_type], [a, b])


def _broadcast(ctx: ImportContext, t: Any, suffix: str) -> Any:  # noqa: ANN401 - Tensor
    """``t`` broadcast to the output's shape, for a kernel that takes only equal shapes (LiteRT's ATAN2): a
    constant is expanded here, an activation through BROADCAST_TO."""
    shape = ctx.output(0).shape
    if t.shape == shape:
        return t
    if any(d < 0 for d in shape):
        raise ctx.fail(f"{ctx.op_type} of shapes {list(ctx.input(0).shape)} and {list(ctx.input(1).shape)} "
                       "broadcasts to a dynamic shape; LiteRT's kernel takes only equal shapes")
    if t.is_const:
        return ctx.const(f"{suffix}_broadcast", np.broadcast_to(t.data, shape).copy())
    out = ctx.intermediate(f"{suffix}_broadcast", t.dtype, shape)
    ctx.emit("broadcast_to", [t, ctx.const(f"{suffix}_shape", np.asarray(shape, np.int32))], outputs=[out],
             suffix=f"{suffix}_broadcast")
    return out


@tf_op("TruncateDiv", elementwise=True)
def truncate_div(ctx: ImportContext) -> None:
    if ctx.input(0).dtype.kind not in "iu":
        raise ctx.fail(f"TruncateDiv of {ctx.input(0).dtype} has no TFLite builtin (TensorFlow's converter lowers "
                       "only integer TruncateDiv, to DIV)")
    ctx.emit("div", [ctx.input(0), ctx.input(1)], _F())


@tf_op("AddN", elementwise=True)
def add_n(ctx: ImportContext) -> None:
    if ctx.num_inputs == 1:
        ctx.alias(0, ctx.input(0))
        return
    ctx.emit("add_n", ctx.inputs())


def _one(ctx: ImportContext, x: Any, value: float = 1.0, name: str = "one") -> Any:  # noqa: ANN401
    return scalar(ctx, name, value, x.dtype)


@tf_op("Log1p", elementwise=True)
def log1p(ctx: ImportContext) -> None:
    x = ctx.input(0)
    ctx.emit("log", [step(ctx, "add", [x, _one(ctx, x)], "plus_one", _F())])


@tf_op("Expm1", elementwise=True)
def expm1(ctx: ImportContext) -> None:
    x = ctx.input(0)
    ctx.emit("sub", [step(ctx, "exp", [x], "exp"), _one(ctx, x)], _F())


@tf_op("Softplus", elementwise=True)
def softplus(ctx: ImportContext) -> None:
    x = ctx.input(0)
    neg_abs = step(ctx, "neg", [step(ctx, "abs", [x], "abs")], "neg_abs")
    tail = step(ctx, "log", [step(ctx, "add", [step(ctx, "exp", [neg_abs], "exp"), _one(ctx, x)], "plus_one",
                                  _F())], "log")
    ctx.emit("add", [step(ctx, "relu", [x], "relu"), tail], _F())


@tf_op("Softsign", elementwise=True)
def softsign(ctx: ImportContext) -> None:
    x = ctx.input(0)
    ctx.emit("div", [x, step(ctx, "add", [step(ctx, "abs", [x], "abs"), _one(ctx, x)], "plus_one", _F())], _F())


@tf_op("Selu", elementwise=True)
def selu(ctx: ImportContext) -> None:
    x = ctx.input(0)
    pos = step(ctx, "mul", [step(ctx, "relu", [x], "relu"), _one(ctx, x, SELU_SCALE, "scale")], "pos", _F())
    elu = step(ctx, "elu", [step(ctx, "minimum", [x, _one(ctx, x, 0.0, "zero")], "neg_part")], "elu")
    neg = step(ctx, "mul", [elu, _one(ctx, x, SELU_SCALE * SELU_ALPHA, "scale_alpha")], "neg", _F())
    ctx.emit("add", [pos, neg], _F())


def _where_zero(ctx: ImportContext, t: Any, name: str) -> Any:  # noqa: ANN401
    return step(ctx, "equal", [t, _one(ctx, t, 0.0, f"{name}_zero")], f"{name}_is_zero", dtype=np.bool_)


@tf_op("DivNoNan", elementwise=True)
def div_no_nan(ctx: ImportContext) -> None:
    x, y = ctx.input(0), ctx.input(1)
    zero = _where_zero(ctx, y, "y")
    safe = step(ctx, "select_v2", [zero, _one(ctx, y), y], "safe_y", dtype=y.dtype)
    quotient = step(ctx, "div", [x, safe], "quotient", _F())
    ctx.emit("select_v2", [zero, _one(ctx, x, 0.0, "zero"), quotient])


@tf_op("MulNoNan", elementwise=True)
def mul_no_nan(ctx: ImportContext) -> None:
    x, y = ctx.input(0), ctx.input(1)
    zero = _where_zero(ctx, y, "y")
    ctx.emit("select_v2", [zero, _one(ctx, x, 0.0, "zero"), step(ctx, "mul", [x, y], "product", _F())])


@tf_op("Xdivy", "Xlogy", "Xlog1py", elementwise=True)
def x_op_y(ctx: ImportContext) -> None:
    x, y = ctx.input(0), ctx.input(1)
    zero = _where_zero(ctx, x, "x")
    if ctx.op_type == "Xdivy":
        value = step(ctx, "div", [x, y], "quotient", _F())
    else:
        arg = y if ctx.op_type == "Xlogy" else step(ctx, "add", [y, _one(ctx, y)], "y_plus_one", _F())
        value = step(ctx, "mul", [x, step(ctx, "log", [arg], "log")], "product", _F())
    ctx.emit("select_v2", [zero, _one(ctx, x, 0.0, "zero"), value])


@tf_op("IsFinite", "IsInf", "IsNan", elementwise=True)
def is_special(ctx: ImportContext) -> None:
    x = ctx.input(0)
    if ctx.op_type == "IsFinite":  # inf - inf and nan - nan are nan, finite - itself is 0
        ctx.emit("equal", [step(ctx, "sub", [x, x], "self_difference", _F()), _one(ctx, x, 0.0, "zero")])
    elif ctx.op_type == "IsInf":
        ctx.emit("equal", [step(ctx, "abs", [x], "abs"), _one(ctx, x, np.inf, "inf")])
    else:  # only NaN differs from itself
        ctx.emit("not_equal", [x, x])


@tf_op("Cumsum")
def cumsum(ctx: ImportContext) -> None:
    attrs = CumsumAttrs(exclusive=bool(ctx.attr("exclusive", False)), reverse=bool(ctx.attr("reverse", False)))
    ctx.emit("cumsum", [ctx.input(0), int32_operand(ctx, 1, "axis")], attrs)


@tf_op("SegmentSum")
def segment_sum(ctx: ImportContext) -> None:
    """LiteRT's SEGMENT_SUM needs ids that start at 0 and grow by 0 or 1; sorted constant ids that skip a segment
    go to UNSORTED_SEGMENT_SUM with max(id) + 1 segments (the skipped ones sum to 0 in both)."""
    ids = ctx.const_input(1)
    data, seg = ctx.input(0), int32_operand(ctx, 1, "segment_ids")
    if ids is not None:
        flat = np.asarray(ids).reshape(-1)
        steps = np.diff(flat)
        if flat.size and (flat[0] != 0 or np.any((steps != 0) & (steps != 1))):
            count = ctx.const("num_segments", np.array(int(flat.max()) + 1, np.int32))
            ctx.emit("unsorted_segment_sum", [data, seg, count])
            return
    ctx.emit("segment_sum", [data, seg])


@tf_op(*_SEGMENT)
def unsorted_segment(ctx: ImportContext) -> None:
    ctx.emit(_SEGMENT[ctx.op_type], [ctx.input(0), int32_operand(ctx, 1, "segment_ids"),
                                     int32_operand(ctx, 2, "num_segments")])


# ---------------------------------------------------------------- references
@reference("ceil", "round", "sign")
def ref_unary(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    return [{"ceil": tf.math.ceil, "round": tf.round, "sign": tf.sign}[node.op](x)]


@reference("atan2", "bitwise_xor", "right_shift")
def ref_binary(node: Node, a: Any, b: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = {"atan2": tf.math.atan2, "bitwise_xor": tf.bitwise.bitwise_xor, "right_shift": tf.bitwise.right_shift}
    return [fn[node.op](a, b)]


@reference("add_n")
def ref_add_n(node: Node, *xs: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().add_n(list(xs))]


@reference("cumsum")
def ref_cumsum(node: Node, x: Any, axis: Any) -> list[Any]:  # noqa: ANN401
    a: CumsumAttrs = node.attrs  # type: ignore[assignment]
    tf = tensorflow()
    return [tf.math.cumsum(x, axis=tf.reshape(axis, []), exclusive=a.exclusive, reverse=a.reverse)]


@reference("segment_sum")
def ref_segment_sum(node: Node, x: Any, ids: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().math.segment_sum(x, ids)]


@reference(*_SEGMENT.values())
def ref_unsorted_segment(node: Node, x: Any, ids: Any, count: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = {"unsorted_segment_sum": tf.math.unsorted_segment_sum, "unsorted_segment_prod": tf.math.unsorted_segment_prod,
          "unsorted_segment_max": tf.math.unsorted_segment_max, "unsorted_segment_min": tf.math.unsorted_segment_min}
    return [fn[node.op](x, ids, count)]
