"""Stateful operands as TFLite wants them. A sequence LSTM keeps its state in two *variable* tensors (inputs 18
and 19): it reads the initial h and c from them and leaves the final ones there, and LiteRT zeroes variables only
when tensors are allocated, so a model whose state is a constant (Keras' zero initial state) would start each run
from the previous run's final state (TensorFlow's converter writes it that way: a stateless Keras layer becomes
stateful). Here every state operand is written by an operator that runs before the LSTM in every invocation:

    constant state with one value v        -> FILL(shape, v) -> variable tensor
    computed state read by this LSTM only  -> the tensor itself is the variable (its producer writes it each run)
    any other (a graph input, shared)      -> RESHAPE(state, shape) -> variable tensor

so each run starts from the model's initial state, as in TensorFlow. Pure graph edits on the IR (no TensorFlow)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor
from ..ir.attrs import ReshapeAttrs
from .optable import OPS


def materialize_states(graph: Graph) -> int:
    """Give every state operand of every subgraph's stateful ops its own variable tensor written before the op;
    returns the number of operators added (0 when already done)."""
    added = 0
    for g in graph.all_graphs():
        shared: dict[tuple[object, ...], Tensor] = {}  # one shape (and fill value) constant per key
        for node in list(g.nodes):
            entry = OPS.get(node.op)
            for i in entry.state_inputs if entry is not None else ():
                t = node.inputs[i] if i < len(node.inputs) else None
                if t is not None and not _own_state(g, node, t):
                    g.set_input(node, i, _writer(g, node, i, t, shared))
                    added += 1
    return added


def _own_state(g: Graph, node: Node, t: Tensor) -> bool:
    """A computed tensor read by this op alone (once) can serve as the variable: its producer rewrites it."""
    return (t.producer is not None and not g.is_output(t) and len(t.uses) == 1 and t.uses[0] is node)


def _writer(g: Graph, node: Node, index: int, t: Tensor, shared: dict[tuple[object, ...], Tensor]) -> Tensor:
    """A new tensor like ``t``, written with ``t``'s value by an op placed right before ``node``."""
    var = g.tensor(f"{node.name}/s{index}", t.dtype, t.shape, tf_name=t.tf_name)
    var.quant = t.quant

    def const(key: tuple[object, ...], name: str, value: np.ndarray) -> Tensor:
        if key not in shared:
            shared[key] = g.const(name, value)
            shared[key].quant = t.quant if key[0] == "value" else None
        return shared[key]

    shape = const(("shape", t.shape), f"{node.name}/s_shape", np.asarray(t.shape, np.int32))
    if t.is_const and t.data is not None and t.data.size and np.all(t.data == t.data.reshape(-1)[0]):
        v = np.asarray(t.data.reshape(-1)[0], t.dtype)
        value = const(("value", t.dtype.str, v.tobytes(), t.quant), f"{var.name}/v", v)
        g.add_node("fill", [shape, value], [var], name=f"{var.name}/fill", before=node)
    else:
        g.add_node("reshape", [t, shape], [var], ReshapeAttrs(new_shape=t.shape), name=f"{var.name}/copy",
                   before=node)
    return var
