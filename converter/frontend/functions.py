"""Function-call inlining on GraphDefs: the bodies of ``PartitionedCall``/``StatefulPartitionedCall`` nodes (what
``tf.function`` and SavedModel signatures compile to) are copied into the calling graph, so the importer sees one
flat dataflow graph.

Inside a ``FunctionDef`` a node input names a tensor as ``node:output_arg:index`` (or a function argument by its
name); in a ``GraphDef`` it is ``node:flat_index``. The flat index is the position of the tensor among all the
node's outputs, so it needs the op's output arguments: the callee's signature for a function call, the op's
``OpDef`` (TensorFlow's op registry) otherwise, where an argument with ``number_attr``/``type_list_attr`` stands for
as many tensors as that attribute says.

Functional control flow (``While``/``If`` and their stateless forms) is left alone: its ``cond``/``body``
functions stay in the library for ``control_flow`` to unroll."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from ..errors import InputError

CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})

FunctionDef = Any  # tensorflow.core.framework.function_pb2.FunctionDef
NodeDef = Any  # tensorflow.core.framework.node_def_pb2.NodeDef
GraphDef = Any  # tensorflow.core.framework.graph_pb2.GraphDef


@cache
def _op_def(op: str) -> Any:  # noqa: ANN401 - OpDef
    from tensorflow.python.framework import op_def_registry  # noqa: PLC0415 (TensorFlow is loaded by now)

    return op_def_registry.get(op)


def _arg_count(arg: Any, attrs: Mapping[str, Any], defaults: Mapping[str, Any]) -> int:  # noqa: ANN401
    """How many tensors one output argument stands for on a node with ``attrs``."""
    def attr(name: str) -> Any:  # noqa: ANN401
        return attrs[name] if name in attrs else defaults.get(name)

    if arg.number_attr:
        a = attr(arg.number_attr)
        return int(a.i) if a is not None else 1
    if arg.type_list_attr:
        a = attr(arg.type_list_attr)
        return len(a.list.type) if a is not None else 0
    return 1


def output_offsets(node: NodeDef, library: Mapping[str, FunctionDef]) -> dict[str, int]:
    """Flat index of the first tensor of each output argument of ``node``."""
    if node.op in library:  # a function called directly as an op
        return {a.name: i for i, a in enumerate(library[node.op].signature.output_arg)}
    op_def = _op_def(node.op)
    if op_def is None:
        raise InputError(f"node {node.name} has op {node.op!r}, which this TensorFlow does not know; "
                         "the model needs a custom op library, which qconvert cannot load")
    defaults = {a.name: a.default_value for a in op_def.attr if a.HasField("default_value")}
    offsets: dict[str, int] = {}
    i = 0
    for arg in op_def.output_arg:
        offsets[arg.name] = i
        i += _arg_count(arg, node.attr, defaults)
    return offsets


def instantiate(fdef: FunctionDef, prefix: str, inputs: Sequence[str], library: Mapping[str, FunctionDef],
                taken: set[str] | None = None) -> tuple[list[NodeDef], list[str]]:
    """Copies of ``fdef``'s nodes with their inputs in GraphDef form, the function's arguments bound to the graph
    tensors ``inputs`` (one per input argument), and the graph tensor of each output argument in signature order.
    Nested calls stay as call nodes.

    Nodes are named ``prefix/<node>``; with ``taken`` (the names in use, updated), a node keeps its own name when
    that is free, so tensor names stay as short as the user's layer names."""
    sig = fdef.signature
    if len(inputs) != len(sig.input_arg):
        raise InputError(f"function {sig.name} takes {len(sig.input_arg)} inputs but is called with {len(inputs)}; "
                         "the model's function library is inconsistent, export it again")
    args = {a.name: t for a, t in zip(sig.input_arg, inputs, strict=True)}
    by_name = {n.name: n for n in fdef.node_def}
    offsets: dict[str, dict[str, int]] = {}
    new_name = {n.name: _fresh(n.name, prefix, taken) for n in fdef.node_def}

    def resolve(ref: str) -> str:
        if ref.startswith("^"):
            name = ref[1:]
            if name in by_name:
                return f"^{new_name[name]}"
            if name in args:
                return "^" + args[name].split(":")[0].lstrip("^")
            # TensorFlow refuses such a function when it imports it ("input[i] == '^x', is not found").
            raise InputError(f"function {sig.name}: control input {ref!r} names no node or argument; the model's "
                             "function library is inconsistent, export it again")
        parts = ref.split(":")
        if len(parts) == 1:
            if parts[0] in args:
                return args[parts[0]]
            if parts[0] not in new_name:
                raise InputError(f"function {sig.name}: input {ref!r} names no argument or node; the model's "
                                 "function library is inconsistent, export it again")
            return new_name[parts[0]]
        node_name, arg_name = parts[0], parts[1]
        index = int(parts[2]) if len(parts) > 2 else 0
        if node_name not in by_name:
            raise InputError(f"function {sig.name}: input {ref!r} names no node; the model's function library is "
                             "inconsistent, export it again")
        if node_name not in offsets:
            offsets[node_name] = output_offsets(by_name[node_name], library)
        flat = offsets[node_name].get(arg_name)
        if flat is None:
            raise InputError(f"function {sig.name}: node {node_name} has no output {arg_name!r}")
        return f"{new_name[node_name]}:{flat + index}"

    nodes: list[NodeDef] = []
    for n in fdef.node_def:
        copy = type(n)()
        copy.CopyFrom(n)
        copy.name = new_name[n.name]
        del copy.input[:]
        copy.input.extend(r for r in (resolve(i) for i in n.input) if r)
        nodes.append(copy)
    missing = [a.name for a in sig.output_arg if a.name not in fdef.ret]
    if missing:  # a map lookup would read "" for these
        raise InputError(f"function {sig.name}: output {missing[0]!r} has no return value; the model's function "
                         "library is inconsistent, export it again")
    outputs = [resolve(fdef.ret[a.name]) for a in sig.output_arg]
    return nodes, outputs


def _fresh(name: str, prefix: str, taken: set[str] | None) -> str:
    if taken is None:
        return f"{prefix}/{name}"
    candidates = [name, f"{prefix}/{name}"]
    candidates.extend(f"{prefix}/{name}_{k}" for k in range(1, len(taken) + 2))
    chosen = next(c for c in candidates if c not in taken)
    taken.add(chosen)
    return chosen


def inline_calls(graph_def: GraphDef) -> GraphDef:
    """A copy of ``graph_def`` with every call of a library function replaced by the function's body, recursively.

    The call node's name stays as an ``IdentityN`` (``Identity`` for one output) over the body's outputs, so every
    reference to ``call:k`` and every control edge keeps working; the identity-removal pass drops them later."""
    library = {f.signature.name: f for f in graph_def.library.function}
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    pending: list[NodeDef] = list(reversed(graph_def.node))
    taken = {n.name for n in graph_def.node}
    depth: dict[str, int] = {}
    while pending:
        node = pending.pop()
        fname = node.attr["f"].func.name if node.op in CALL_OPS else ""
        if fname not in library:
            out.node.append(node)
            continue
        level = depth.get(node.name, 0)
        if level > 64:
            raise InputError(f"function calls nest more than 64 deep at {node.name}; recursive functions are not "
                             "supported")
        data_inputs = [i for i in node.input if not i.startswith("^")]
        body, results = instantiate(library[fname], node.name, data_inputs, library, taken)
        ident = type(node)()
        ident.name = node.name
        ident.op = "IdentityN" if len(results) != 1 else "Identity"
        ident.input.extend(results)
        types = [a.type for a in library[fname].signature.output_arg]
        if len(results) == 1:
            ident.attr["T"].type = types[0]
        else:
            ident.attr["T"].list.type.extend(types)
        out.node.append(ident)
        for b in reversed(body):
            depth[b.name] = level + 1
            pending.append(b)
    _prune_library(out)
    return out


def _prune_library(graph_def: GraphDef) -> None:
    """Drop library functions no remaining node refers to (directly or through a kept function)."""
    library = {f.signature.name: f for f in graph_def.library.function}

    def refs(nodes: Sequence[NodeDef]) -> set[str]:
        found: set[str] = set()
        for n in nodes:
            if n.op in library:
                found.add(n.op)
            for v in n.attr.values():
                if v.HasField("func"):
                    found.add(v.func.name)
                for f in v.list.func:
                    found.add(f.name)
        return found

    keep: set[str] = set()
    todo = refs(graph_def.node) & set(library)
    while todo:
        name = todo.pop()
        keep.add(name)
        todo |= (refs(library[name].node_def) & set(library)) - keep
    kept = [library[n] for n in library if n in keep]
    del graph_def.library.function[:]
    graph_def.library.function.extend(kept)
    del graph_def.library.gradient[:]
