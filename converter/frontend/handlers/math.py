"""Elementwise arithmetic, unary math and reductions.

TF -> IR:
  Add/AddV2, Sub, Mul, RealDiv/Div, Maximum, Minimum, SquaredDifference, Pow -> add, sub, mul, div, maximum,
                                                                                 minimum, squared_difference, pow
  Rsqrt, Sqrt, Square, Exp, Log, Neg, Abs, Floor, Erf                         -> same names, lower case
  Reciprocal, Inv                                                             -> div(1, x)
  Mean, Sum, Max, Min, Prod, Any, All (axes constant)                         -> mean, sum, reduce_max, ...
  Less, Greater, Equal, ... ; LogicalAnd/Or/Not; SelectV2/Select               -> less, ..., select_v2
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import FusedActivationAttrs, ReduceAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import apply_activation, int32_operand

_BINARY = {
    "Add": "add", "AddV2": "add", "Sub": "sub", "Mul": "mul", "RealDiv": "div", "Div": "div",
    "Maximum": "maximum", "Minimum": "minimum", "SquaredDifference": "squared_difference", "Pow": "pow",
    "FloorDiv": "floor_div", "FloorMod": "floor_mod",
}
_UNARY = {
    "Rsqrt": "rsqrt", "Sqrt": "sqrt", "Square": "square", "Exp": "exp", "Log": "log", "Neg": "neg", "Abs": "abs",
    "Floor": "floor", "Erf": "erf", "Erfc": "erfc", "Sin": "sin", "Cos": "cos", "LogicalNot": "logical_not",
}
_COMPARE = {
    "Less": "less", "LessEqual": "less_equal", "Greater": "greater", "GreaterEqual": "greater_equal",
    "Equal": "equal", "NotEqual": "not_equal", "LogicalAnd": "logical_and", "LogicalOr": "logical_or",
}
_REDUCE = {"Mean": "mean", "Sum": "sum", "Max": "reduce_max", "Min": "reduce_min", "Prod": "reduce_prod",
           "Any": "reduce_any", "All": "reduce_all"}
_FUSABLE = {"add", "sub", "mul", "div"}


@tf_op(*_BINARY, elementwise=True)
def binary(ctx: ImportContext) -> None:
    op = _BINARY[ctx.op_type]
    attrs = FusedActivationAttrs() if op in _FUSABLE else None
    ctx.emit(op, [ctx.input(0), ctx.input(1)], attrs)


@tf_op(*_COMPARE, elementwise=True)
def compare(ctx: ImportContext) -> None:
    ctx.emit(_COMPARE[ctx.op_type], [ctx.input(0), ctx.input(1)])


@tf_op("SelectV2", "Select", elementwise=True)
def select(ctx: ImportContext) -> None:
    cond, a, b = ctx.inputs()[:3]
    if ctx.op_type == "Select" and len(cond.shape) == 1 and len(a.shape) > 1:  # a condition per row: SELECT (v1)
        ctx.emit("select", [cond, a, b])
        return
    ctx.emit("select_v2", [cond, a, b])


@tf_op(*_UNARY, elementwise=True)
def unary(ctx: ImportContext) -> None:
    ctx.emit(_UNARY[ctx.op_type], [ctx.input(0)])


@tf_op("Reciprocal", "Inv")
def reciprocal(ctx: ImportContext) -> None:
    """1 / x as a DIV by x of the constant 1 (LiteRT has no reciprocal builtin; TensorFlow lowers it the same)."""
    x = ctx.input(0)
    ctx.emit("div", [ctx.const("one", np.ones((), x.dtype)), x], FusedActivationAttrs())


@tf_op(*_REDUCE)
def reduce(ctx: ImportContext) -> None:
    keep_dims = bool(ctx.attr("keep_dims", False))
    rank = len(ctx.input(0).shape)
    if ctx.const_input(1) is None:  # run-time axes (TensorFlow refuses repeated ones): the kernel reads them
        n = ctx.input(1).size
        shape = (-1,) * (rank if keep_dims else rank - n)
        out = ctx.output(0, shape if ctx.out_info(0).dynamic else None)
        ctx.emit(_REDUCE[ctx.op_type], [ctx.input(0), int32_operand(ctx, 1, "axes")], ReduceAttrs(keep_dims),
                 outputs=[out])
        return
    axes = np.asarray(ctx.const_input(1), dtype=np.int32).reshape(-1)
    axes = np.unique(np.where(axes < 0, axes + rank, axes)).astype(np.int32)
    ctx.emit(_REDUCE[ctx.op_type], [ctx.input(0), ctx.const("axes", axes)], ReduceAttrs(keep_dims=keep_dims))


# ---------------------------------------------------------------- references
def _binary_fns() -> dict[str, Any]:
    tf = tensorflow()
    return {
        "add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "div": tf.math.truediv, "maximum": tf.maximum,
        "minimum": tf.minimum, "squared_difference": tf.math.squared_difference, "pow": tf.pow,
        "floor_div": tf.math.floordiv, "floor_mod": tf.math.floormod,
    }


@reference(*sorted(set(_BINARY.values())))
def ref_binary(node: Node, a: Any, b: Any) -> list[Any]:  # noqa: ANN401
    y = _binary_fns()[node.op](a, b)
    if isinstance(node.attrs, FusedActivationAttrs):
        y = apply_activation(y, node.attrs.activation)
    return [y]


@reference(*sorted(set(_UNARY.values())))
def ref_unary(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = {
        "rsqrt": tf.math.rsqrt, "sqrt": tf.sqrt, "square": tf.square, "exp": tf.exp, "log": tf.math.log,
        "neg": tf.negative, "abs": tf.abs, "floor": tf.floor, "erf": tf.math.erf, "erfc": tf.math.erfc,
        "sin": tf.sin, "cos": tf.cos, "logical_not": tf.logical_not,
    }[node.op]
    return [fn(x)]


@reference(*sorted(_COMPARE.values()))
def ref_compare(node: Node, a: Any, b: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = {"less": tf.less, "less_equal": tf.less_equal, "greater": tf.greater, "greater_equal": tf.greater_equal,
          "equal": tf.equal, "not_equal": tf.not_equal, "logical_and": tf.logical_and,
          "logical_or": tf.logical_or}[node.op]
    return [fn(a, b)]


@reference("select_v2")
def ref_select(node: Node, cond: Any, a: Any, b: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().where(cond, a, b)]


@reference("select")
def ref_select_rows(node: Node, cond: Any, a: Any, b: Any) -> list[Any]:  # noqa: ANN401
    """SELECT (v1): a rank-1 condition picks whole rows (the first axis)."""
    return [tensorflow().compat.v1.where(cond, a, b)]


@reference(*sorted(_REDUCE.values()))
def ref_reduce(node: Node, x: Any, axes: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    a: ReduceAttrs = node.attrs  # type: ignore[assignment]
    fn = {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "reduce_max": tf.reduce_max, "reduce_min": tf.reduce_min,
          "reduce_prod": tf.reduce_prod, "reduce_any": tf.reduce_any, "reduce_all": tf.reduce_all}[node.op]
    return [fn(x, axis=axes, keepdims=a.keep_dims)]
