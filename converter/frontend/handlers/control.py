"""Constants, placeholders and pass-through ops.

TF -> IR:
  Const                                      -> constant tensor (no node)
  Identity/IdentityN/StopGradient/Snapshot/  -> identity (removed by the remove_identity pass)
  PreventGradient/EnsureShape/CheckNumerics
  PlaceholderWithDefault (not an input)      -> identity of its default
  Placeholder (not an input array)           -> error: it must be named an input
"""

from __future__ import annotations

from typing import Any

from ...ir import Node
from ..context import ImportContext
from ..registry import reference, tf_op


@tf_op("Const")
def const(ctx: ImportContext) -> None:
    ctx.const_output(0, ctx.const_value())


@tf_op("Identity", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape", "CheckNumerics",
       "PlaceholderWithDefault", elementwise=True)
def identity(ctx: ImportContext) -> None:
    ctx.emit("identity", [ctx.input(0)])


@tf_op("IdentityN")
def identity_n(ctx: ImportContext) -> None:
    for i in range(ctx.num_inputs):
        ctx.emit("identity", [ctx.input(i)], outputs=[ctx.output(i)], suffix=str(i) if i else None)


@tf_op("Placeholder", "PlaceholderV2")
def placeholder(ctx: ImportContext) -> None:
    raise ctx.fail("this Placeholder feeds the outputs but is not an input array; add it to --input_arrays")


@reference("identity")
def ref_identity(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    return [x]
