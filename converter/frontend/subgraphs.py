"""Library functions -> IR graphs: the cond/body of a While and the branches of an If that stay functional become
subgraphs of WHILE / IF nodes. A function is imported like a model: one placeholder per argument (shaped as the
value the node passes in), its body instantiated and its nested calls inlined, then ``import_graph_def`` with the
arguments as inputs and the function's results as outputs, so every handler, shape inference and the unrolling of
inner loops apply inside it too.

Arguments bound to constants (``bound``) enter the function as constants rather than inputs: loop-invariant
weights are then constants of the body, as TensorFlow's converter sinks them, so the body's layers see constant
weights and the loop does not copy them from iteration to iteration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..ir import Graph, Tensor
from ..tf_runtime import tensorflow
from .functions import inline_calls, instantiate
from .graph_edits import const_node

FunctionDefLibrary = Any  # tensorflow.core.framework.function_pb2.FunctionDefLibrary


def function_def(library: FunctionDefLibrary, name: str, user: str) -> Any:  # noqa: ANN401 - FunctionDef
    """The FunctionDef ``name`` of ``library``; ``user`` names the node that calls it (for the error)."""
    for f in library.function:
        if f.signature.name == name:
            return f
    raise InputError(f"node {user!r} calls function {name!r}, which is not in the graph's library; export the model "
                     "again (tf.saved_model.save)")


def import_function(library: FunctionDefLibrary, name: str, args: Sequence[Tensor], bound: Mapping[int, np.ndarray],
                    label: str, outputs: Sequence[int] | None = None) -> Graph:
    """The IR graph of function ``name`` called with ``args`` (IR tensors: their dtypes and static shapes), argument
    ``k`` in ``bound`` fixed to that constant. Its inputs are the other arguments in order; its outputs the
    function's results ``outputs`` (default: all). The graph is named ``label``."""
    from .importer import import_graph_def  # noqa: PLC0415 - the importer imports the handlers that call this

    tf = tensorflow()
    fdef = function_def(library, name, label)
    if len(args) != len(fdef.signature.input_arg):
        raise InputError(f"{label}: function {name} takes {len(fdef.signature.input_arg)} arguments but is given "
                         f"{len(args)}; the model's function library is inconsistent, export it again")
    gd = tf.compat.v1.GraphDef()
    gd.versions.producer = tf.version.GRAPH_DEF_VERSION  # (producer 0 reads a scalar placeholder as unknown rank)
    gd.library.CopyFrom(library)
    taken = {n.name for n in fdef.node_def}
    names: list[str] = []
    for k, (arg, t) in enumerate(zip(fdef.signature.input_arg, args, strict=True)):
        arg_name = _fresh(f"{label}/{arg.name}", taken)
        if k in bound:
            gd.node.append(const_node(arg_name, bound[k]))
        else:
            ph = gd.node.add(name=arg_name, op="Placeholder")
            ph.attr["dtype"].type = tf.as_dtype(t.dtype).as_datatype_enum
            ph.attr["shape"].shape.CopyFrom(tf.TensorShape(list(t.shape)).as_proto())
            ph.attr["shape"].shape.SetInParent()  # a scalar's shape is an empty message: mark the attr set
        names.append(arg_name)
    library_map = {f.signature.name: f for f in library.function}
    nodes, results = instantiate(fdef, label, names, library_map, taken)
    gd.node.extend(nodes)
    flat = inline_calls(gd)
    inputs = [n for k, n in enumerate(names) if k not in bound]
    picked = [results[k] for k in (range(len(results)) if outputs is None else outputs)]
    graph = import_graph_def(flat, inputs, picked, [args[k].shape for k in range(len(args)) if k not in bound]).graph
    # The importer adds only the inputs something reads, in topological order; a subgraph takes every argument,
    # in the caller's order.
    by_name = {t.tf_name: t for t in graph.inputs}
    graph.set_graph_inputs([by_name.get(n) or graph.tensor(n, args[k].dtype, args[k].shape, tf_name=n)
                      for k, n in enumerate(names) if k not in bound])
    graph.name = label
    graph.signature = None
    return graph


def _fresh(base: str, taken: set[str]) -> str:
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name
