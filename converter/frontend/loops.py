"""A functional While loop as the unroller and the recurrent-layer matcher see it, and a scratch graph to evaluate
its cond and body once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..tf_runtime import tensorflow
from .functions import instantiate
from .static_values import StaticValues

GraphDef = Any  # tensorflow.core.framework.graph_pb2.GraphDef
NodeDef = Any  # tensorflow.core.framework.node_def_pb2.NodeDef
FunctionDef = Any  # tensorflow.core.framework.function_pb2.FunctionDef


@dataclass(frozen=True)
class Loop:
    """A While node's functions and its loop variables' initial tensors and dtypes."""

    node: NodeDef
    cond: FunctionDef
    body: FunctionDef
    init: tuple[str, ...]
    dtypes: tuple[int, ...]


@dataclass(frozen=True)
class Scratch:
    """The loop's cond and body instantiated once in a graph of their own, each loop variable a placeholder."""

    graph_def: GraphDef
    args: list[str]  # placeholder per loop variable
    cond_out: str
    body_outs: list[str]  # body result per loop variable


def scratch_graph(loop: Loop, sv: StaticValues, library: Mapping[str, FunctionDef]) -> Scratch:
    """``loop``'s cond and body in a new graph; placeholders are shaped as ``sv`` knows the initial values."""
    tf = tensorflow()
    gd = tf.compat.v1.GraphDef()
    gd.versions.producer = tf.version.GRAPH_DEF_VERSION  # (producer 0 reads a scalar placeholder as unknown rank)
    gd.library.function.extend(library.values())
    args = []
    for i, (init, dtype) in enumerate(zip(loop.init, loop.dtypes, strict=True)):
        ph = gd.node.add(name=f"loop_var_{i}", op="Placeholder")
        ph.attr["dtype"].type = dtype
        shape = sv.static_shape(init)
        if shape is not None:
            ph.attr["shape"].shape.CopyFrom(tf.TensorShape([None if d < 0 else d for d in shape]).as_proto())
            ph.attr["shape"].shape.SetInParent()
        args.append(ph.name)
    cond_nodes, cond_outs = instantiate(loop.cond, "cond", args, library)
    body_nodes, body_outs = instantiate(loop.body, "body", args, library)
    gd.node.extend(cond_nodes + body_nodes)
    return Scratch(gd, args, cond_outs[0], body_outs)
