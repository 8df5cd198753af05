"""Small GraphDef edits shared by the control-flow unroller and the TensorList resolver."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from ..tf_runtime import tensorflow

GraphDef = Any  # tensorflow.core.framework.graph_pb2.GraphDef
NodeDef = Any  # tensorflow.core.framework.node_def_pb2.NodeDef


def tensor_key(name: str) -> str:
    """'x' -> 'x:0'; 'x:1' stays."""
    return name if ":" in name else f"{name}:0"


def node_of(ref: str) -> str:
    """The node an input reference ('x', 'x:1', '^x') names."""
    return ref.lstrip("^").split(":")[0]


def data_inputs(node: NodeDef) -> list[str]:
    return [i for i in node.input if not i.startswith("^")]


def drop_colocation(node: NodeDef) -> None:
    """Remove ``node``'s colocation constraints (``_class: loc:@other``): device placement hints with no meaning
    for conversion, which TensorFlow's graph import refuses when ``other`` is missing (a frozen or cut graph)."""
    if "_class" in node.attr:
        del node.attr["_class"]


def rewire(gd: GraphDef, mapping: Mapping[str, str], removed: Collection[str]) -> None:
    """Point every data input ``t`` (a tensor key) at ``mapping[t]``; drop control inputs from ``removed`` nodes."""
    for n in gd.node:
        if not any(tensor_key(i) in mapping or (i.startswith("^") and i[1:] in removed) for i in n.input):
            continue
        new = [i if i.startswith("^") else mapping.get(tensor_key(i), i) for i in n.input]
        new = [i for i in new if not (i.startswith("^") and i[1:] in removed)]
        del n.input[:]
        n.input.extend(new)


def const_node(name: str, value: np.ndarray) -> NodeDef:
    tf = tensorflow()
    node = tf.compat.v1.NodeDef(name=name, op="Const")
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    node.attr["dtype"].type = node.attr["value"].tensor.dtype
    return node


def unique_name(taken: Collection[str], base: str) -> str:
    """``base``, or ``base_1``, ``base_2`` ... : the first that is neither a node name in ``taken`` nor a name scope
    of one."""
    name, k = base, 1
    while any(n == name or n.startswith(name + "/") for n in taken):
        name, k = f"{base}_{k}", k + 1
    return name
