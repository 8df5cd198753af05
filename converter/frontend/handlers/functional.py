"""Functional control flow that stays functional (the trip count or predicate depends on the data; static ones are
unrolled or inlined before import, ``control_flow``).

TF -> IR:
  While/StatelessWhile(v..., cond, body)   -> while(v...), WhileAttrs(cond graph, body graph)
  If/StatelessIf(pred, a..., then, else)   -> if(pred, a...), IfAttrs(then graph, else graph)

Loop variables the body passes through unchanged and that are constants (captured weights), and constant branch
arguments, become constants inside the subgraphs instead of operands (``subgraphs.import_function``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Graph, Node, Tensor
from ...ir.attrs import IfAttrs, WhileAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..reference import run_graph
from ..registry import reference, tf_op
from ..subgraphs import function_def, import_function

_BOOL = np.dtype(np.bool_)


def _func(ctx: ImportContext, attr: str) -> str:
    value = ctx.node_def.attr[attr]
    if not value.HasField("func") or not value.func.name:
        raise ctx.fail(f"has no {attr} function")
    return str(value.func.name)


def _check_types(ctx: ImportContext, attr: str) -> None:
    """Only tensors can flow into a subgraph: a resource (variable) or variant (TensorList) operand cannot."""
    tf = tensorflow()
    for i, dt in enumerate(ctx.node_def.attr[attr].list.type):
        if tf.as_dtype(dt) in (tf.resource, tf.variant):
            raise ctx.fail(f"operand {i} is a {tf.as_dtype(dt).name} (a variable or a TensorList); only tensors can "
                           "flow into a loop or branch that stays functional")


def _passes_through(fdef: Any, k: int) -> bool:  # noqa: ANN401 - FunctionDef
    """Whether function result ``k`` is argument ``k`` itself, possibly through Identity nodes (a loop-invariant
    loop variable)."""
    sig = fdef.signature
    if k >= len(sig.output_arg) or k >= len(sig.input_arg):
        return False
    nodes = {n.name: n for n in fdef.node_def}
    ref = fdef.ret[sig.output_arg[k].name]
    for _ in range(len(nodes) + 1):
        node = nodes.get(ref.split(":")[0])
        if node is None or node.op != "Identity":
            break
        ref = next(i for i in node.input if not i.startswith("^"))
    return ref == sig.input_arg[k].name


def _constant(t: Tensor) -> np.ndarray | None:
    """The value of ``t`` if it is a constant, possibly behind identities (a frozen variable's reads)."""
    while t.producer is not None and t.producer.op == "identity":
        t = t.producer.input(0)
    return t.data


@tf_op("While", "StatelessWhile")
def while_loop(ctx: ImportContext) -> None:
    _check_types(ctx, "T")
    cond_name, body_name = _func(ctx, "cond"), _func(ctx, "body")
    body_def = function_def(ctx.library, body_name, ctx.name)
    args = ctx.inputs()
    values = [_constant(t) for t in args]
    sunk = {k: v for k, v in enumerate(values) if v is not None and _passes_through(body_def, k)}
    loop = [k for k in range(len(args)) if k not in sunk]
    if not loop:
        raise ctx.fail("every loop variable is a constant the body passes through: the loop computes nothing")
    cond = import_function(ctx.library, cond_name, args, sunk, f"{ctx.name}/cond")
    body = import_function(ctx.library, body_name, args, sunk, f"{ctx.name}/body", outputs=loop)
    c = cond.outputs[0] if len(cond.outputs) == 1 else None
    if c is None or c.dtype != _BOOL or c.size != 1:
        raise ctx.fail("the loop condition must return one bool; TFLite's WHILE reads a bool scalar")
    for j, (x, y) in enumerate(zip(body.inputs, body.outputs, strict=True)):
        if x.dtype != y.dtype or x.shape != y.shape:
            raise ctx.fail(f"loop variable {loop[j]} changes from {x.dtype.name}{list(x.shape)} to "
                           f"{y.dtype.name}{list(y.shape)} in one iteration; a loop that stays functional needs "
                           "loop variables of fixed shape")
    ctx.emit("while", [args[k] for k in loop], WhileAttrs(cond, body), outputs=[ctx.output(k) for k in loop])
    for k in sunk:
        ctx.alias(k, args[k])


@tf_op("If", "StatelessIf")
def if_then_else(ctx: ImportContext) -> None:
    _check_types(ctx, "Tin")
    pred = ctx.input(0)
    if pred.dtype != _BOOL or pred.size != 1:
        raise ctx.fail(f"the predicate is {pred.dtype.name}{list(pred.shape)}; TFLite's IF takes one bool")
    args = ctx.inputs()[1:]
    sunk = {k: v for k, v in enumerate(_constant(t) for t in args) if v is not None}
    branches = [import_function(ctx.library, _func(ctx, attr), args, sunk, f"{ctx.name}/{attr.split('_')[0]}")
                for attr in ("then_branch", "else_branch")]
    outs = [ctx.output(i) for i in range(ctx.num_outputs)]
    for g in branches:
        for t, o in zip(g.outputs, outs, strict=True):
            if t.dtype != o.dtype or t.shape != o.shape:
                raise ctx.fail(f"branch {g.name!r} returns {t.dtype.name}{list(t.shape)} where the If has "
                               f"{o.dtype.name}{list(o.shape)}; both branches must return the same static shapes")
    ctx.emit("if", [pred, *(a for k, a in enumerate(args) if k not in sunk)], IfAttrs(*branches), outputs=outs)


@reference("while")
def ref_while(node: Node, *loop_vars: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    attrs: WhileAttrs = node.attrs  # type: ignore[assignment]

    def cond(*v: Any) -> Any:  # noqa: ANN401
        return tf.reshape(run_graph(attrs.cond, v)[0], [])

    def body(*v: Any) -> list[Any]:  # noqa: ANN401
        return run_graph(attrs.body, v)

    return list(tf.while_loop(cond, body, list(loop_vars)))


@reference("if")
def ref_if(node: Node, pred: Any, *args: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    attrs: IfAttrs = node.attrs  # type: ignore[assignment]

    def branch(g: Graph) -> Any:  # noqa: ANN401
        return lambda: run_graph(g, args)

    return list(tf.cond(tf.reshape(pred, []), branch(attrs.then_branch), branch(attrs.else_branch)))
