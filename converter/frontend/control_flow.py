"""Functional control flow -> straight-line GraphDef where the trip count or predicate is static: ``While`` loops
with a static trip count are unrolled, ``If`` nodes with a static predicate are replaced by the branch taken, and
the ``TensorList`` ops the loops used become plain tensor ops (``tensor_lists``). Loops whose trip count depends on
the data (or that run more than ``MAX_ITERATIONS`` times) and ``If`` nodes whose predicate depends on the data stay
functional: the importer turns them into WHILE / IF operators with subgraphs (``subgraphs``).

A Keras RNN with ``unroll=False`` (frozen with ``lower_control_flow=False``) is the motivating case::

    TensorListFromTensor(transpose(x)) --+
    TensorListReserve ------------------+--> While(loop_counter, max_iterations, time, outputs, h, c, xs, W, U, b)
                                                cond: loop_counter < max_iterations && time < timesteps
                                                body: x_t = TensorListGetItem(xs, time); h, c = cell(x_t, h, c);
                                                      outputs = TensorListSetItem(outputs, time, h); time += 1
    TensorListStack(While:3) --> transpose / [-1]

The trip count is found by running the loop on its *counters* only: the integer loop variables whose initial value
is static (``static_values``) and whose update reads nothing but counters and constants. The condition must read
counters only; otherwise the number of iterations depends on the data (the loop stays a While, unless it carries
TensorLists, which TFLite has no builtins for: then a typed error says so) or on a dimension that is not fixed (a
typed error names --input_shapes). Each iteration is then one copy of the body (``functions.instantiate``), with the
counters bound to constants, so the indices the body computes from them are constants too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConversionError, ShapeError
from ..tf_runtime import tensorflow
from .functions import instantiate
from .graph_edits import const_node, data_inputs, node_of, rewire, tensor_key, unique_name
from .loops import Loop, scratch_graph
from .recurrent import Fused, fuse_lstm
from .static_values import StaticValues, truth
from .tensor_lists import is_list_op, resolve_tensor_lists

GraphDef = Any  # tensorflow.core.framework.graph_pb2.GraphDef
NodeDef = Any  # tensorflow.core.framework.node_def_pb2.NodeDef
FunctionDef = Any  # tensorflow.core.framework.function_pb2.FunctionDef

WHILE_OPS = frozenset({"While", "StatelessWhile"})
IF_OPS = frozenset({"If", "StatelessIf"})
# More iterations than this are refused: the unrolled graph would hold that many copies of the body.
MAX_ITERATIONS = 10_000
# Counters are integer or bool loop variables of at most this many elements.
_MAX_COUNTER_SIZE = 64


def unroll_while_loops(graph_def: GraphDef, input_shapes: Mapping[str, Sequence[int]] | None = None,
                       max_iterations: int = MAX_ITERATIONS, outputs: Sequence[str] = (),
                       notes: list[str] | None = None, fuse: bool = True) -> GraphDef:
    """A copy of ``graph_def`` with every ``While``/``StatelessWhile`` unrolled, every ``If``/``StatelessIf`` whose
    predicate is static inlined, and the ``TensorList`` ops resolved into plain tensor ops. Nodes that only fed the
    loops are dropped; every other node keeps its name, so input and output names stay valid.

    Preconditions: the graph is frozen (no variables) and its loops are functional (``cond``/``body`` in
    ``graph_def.library``: freeze with ``lower_control_flow=False``); function calls may be inlined or not. A loop's
    trip count must follow from constants and static shapes: ``input_shapes`` (placeholder name -> shape) fixes
    placeholders whose declared shape has unknown dims, and is written into them. An ``If`` whose predicate is not
    static, and a loop whose trip count depends on the data or exceeds ``max_iterations``, are left in place (the
    importer makes them IF / WHILE operators).

    A loop over a sequence that computes a Keras LSTM cell becomes one fused LSTM op instead (``recurrent``; not
    with ``fuse=False``). ``outputs`` names the tensors the caller will read (default: every node nothing reads):
    what they do not need is dropped, and a loop output they do not read does not keep a loop from fusing.
    ``notes`` (if given) receives one line per loop fused or unrolled, saying why a sequence loop was not fused.

    Raises ``ShapeError`` when a trip count depends on an unknown input dimension (fix it with --input_shapes) and
    ``ConversionError`` when a loop that cannot be unrolled carries TensorLists."""
    if not any(n.op in WHILE_OPS | IF_OPS or is_list_op(n.op) for n in graph_def.node):
        return graph_def
    gd = copy.deepcopy(graph_def)
    _fix_placeholder_shapes(gd, input_shapes or {})
    sinks = {node_of(o) for o in outputs} if outputs else _sinks(gd)
    wanted = [tensor_key(o) for o in outputs] if outputs else [f"{s}:0" for s in sinks]
    kept: set[str] = set()
    while True:
        with StaticValues(gd) as sv:
            by_name = {n.name: n for n in gd.node}
            node = next((by_name[n] for n in sv.topological()
                         if by_name[n].op in WHILE_OPS | IF_OPS and n not in kept), None)
            if node is None:
                break
            library = {f.signature.name: f for f in gd.library.function}
            if node.op in IF_OPS:
                done = _inline_if(gd, node, sv, library)
            else:
                done = _unroll(gd, _loop(node, library), sv, library, max_iterations,
                               wanted if fuse else None, notes)
            if not done:
                kept.add(node.name)
    _prune(gd, sinks)  # before resolving: a TensorList only dead code reads need not be static
    resolve_tensor_lists(gd)
    _prune(gd, sinks)
    return gd


def _loop(node: NodeDef, library: Mapping[str, FunctionDef]) -> Loop:
    names = [node.attr[k].func.name for k in ("cond", "body")]
    missing = [n for n in names if n not in library]
    if missing:
        raise ConversionError(f"while loop {node.name!r}: function {missing[0]!r} is not in the graph's library; "
                              "export the model again (tf.saved_model.save)")
    return Loop(node, library[names[0]], library[names[1]], tuple(data_inputs(node)),
                 tuple(node.attr["T"].list.type))


def _unroll(gd: GraphDef, loop: Loop, sv: StaticValues, library: Mapping[str, FunctionDef],
            max_iterations: int, wanted: list[str] | None, notes: list[str] | None) -> bool:
    """Replace ``loop.node`` by a fused LSTM (a sequence loop computing an LSTM cell, if ``wanted`` is given: the
    tensors whose values are asked for) or by one body copy per iteration, counters bound to constants; False
    (graph unchanged) when the loop stays a While."""
    trip = _trip(loop, sv, library, max_iterations)
    if trip is None:
        return False
    steps, final = trip
    name = loop.node.name
    sequence = _carries_lists(loop)
    if sequence and wanted is not None:
        read = {int(t.split(":")[1]) for t in _needed_tensors(gd, wanted) if node_of(t) == name}
        fused = fuse_lstm(loop, sv, library, steps, final, read.__contains__,
                          unique_name([n.name for n in gd.node], name.removesuffix("/while") + "/lstm"))
        if isinstance(fused, Fused):
            _replace(gd, loop.node, fused.nodes, fused.outputs)
            if notes is not None:
                notes.append(f"while loop {name!r}: a Keras LSTM over {fused.steps} steps, fused into one "
                             "UNIDIRECTIONAL_SEQUENCE_LSTM")
            return True
        if notes is not None:
            notes.append(f"while loop {name!r}: unrolled into {len(steps)} steps, not fused into a sequence LSTM: "
                         f"{fused}")
    prefix = unique_name([n.name for n in gd.node], name + "/unrolled")
    new_nodes: list[NodeDef] = []
    current = list(loop.init)
    for k, counters in enumerate(steps):
        args = list(current)
        for i, value in counters.items():
            new_nodes.append(const_node(f"{prefix}/{k}/loop_var_{i}", value))
            args[i] = new_nodes[-1].name
        body_nodes, current = instantiate(loop.body, f"{prefix}/{k}", args, library)
        new_nodes.extend(body_nodes)
    for i, value in final.items():
        new_nodes.append(const_node(f"{prefix}/exit/loop_var_{i}", value))
        current[i] = new_nodes[-1].name
    _replace(gd, loop.node, new_nodes, current)
    return True


def _trip(loop: Loop, sv: StaticValues, library: Mapping[str, FunctionDef],
          max_iterations: int) -> tuple[list[dict[int, np.ndarray]], dict[int, np.ndarray]] | None:
    """The counters' values at the start of each iteration, and after the last one; None when the loop stays a
    While (its trip count depends on the data, or is over ``max_iterations``)."""
    tf = tensorflow()
    name = loop.node.name
    sc = scratch_graph(loop, sv, library)
    scratch, args, cond_out, body_outs = sc.graph_def, sc.args, sc.cond_out, sc.body_outs
    counters = [i for i, (t, dt) in enumerate(zip(loop.init, loop.dtypes, strict=True))
                if (tf.as_dtype(dt).is_integer or tf.as_dtype(dt) == tf.bool) and sv.is_static(t)
                and _small(sv.static_shape(t))]
    with StaticValues(scratch) as body:
        while True:  # drop counters whose update reads anything else, until none is dropped
            body.set_known([args[i] for i in counters])
            kept = [i for i in counters if body.is_static(body_outs[i])]
            if kept == counters:
                break
            counters = kept
        if not body.is_static(cond_out):
            _refuse(loop, sv, [args.index(p) for p in body.blockers(cond_out).values])
            return None
        values = dict(zip(counters, sv.evaluate([loop.init[i] for i in counters]), strict=True))
        steps: list[dict[int, np.ndarray]] = []
        while True:
            feeds = {args[i]: v for i, v in values.items()}
            if not truth(body.evaluate([cond_out], feeds)[0]):
                return steps, values
            if len(steps) == max_iterations:
                if _carries_lists(loop):
                    raise ConversionError(
                        f"while loop {name!r} runs more than {max_iterations} iterations, too many to unroll, and "
                        "carries TensorLists, which TFLite has no operators for: shorten the sequence "
                        "(--input_shapes)")
                return None
            steps.append(values)
            values = dict(zip(counters, body.evaluate([body_outs[i] for i in counters], feeds), strict=True))


def _carries_lists(loop: Loop) -> bool:
    """Whether a loop variable is a TensorList (a variant): such a loop can only be converted unrolled."""
    return any(tensorflow().as_dtype(dt) == tensorflow().variant for dt in loop.dtypes)


def _refuse(loop: Loop, sv: StaticValues, read: list[int]) -> None:
    """Raise the error saying why the loop's trip count is not static (the condition reads loop variables ``read``
    that are not counters), unless the loop can stay a While (it depends on data only, and carries no
    TensorLists)."""
    name = loop.node.name
    for i in read:
        why = sv.blockers(loop.init[i])
        if why.shapes:
            ins = ", ".join(f"{k!r} {_fmt(s)}" for k, s in why.shapes.items())
            shape = next(iter(why.shapes.values()))
            time_unknown = any(d < 0 for d in shape[1:])
            raise ShapeError(
                f"while loop {name!r}: the number of iterations depends on input dims that are not fixed ({ins}); "
                f"fix the {'time' if time_unknown else 'batch'} dimension with --input_shapes (e.g. "
                f"--input_shapes={_example(shape)}{' for 16 steps' if time_unknown else ''})")
    if not _carries_lists(loop):
        return
    reads = ", ".join(repr(loop.init[i]) for i in read) or "no constant"
    raise ConversionError(
        f"while loop {name!r} runs a data-dependent number of iterations (its condition reads {reads}, computed "
        "from the input data) and carries TensorLists, which TFLite has no operators for; only such loops with a "
        "static trip count can be converted (unrolled)")


def _inline_if(gd: GraphDef, node: NodeDef, sv: StaticValues, library: Mapping[str, FunctionDef]) -> bool:
    """Replace an If whose predicate is static by its branch; False (graph unchanged) when it is not static."""
    data = data_inputs(node)
    if not sv.is_static(data[0]):
        return False
    branch = node.attr["then_branch" if truth(sv.evaluate([data[0]])[0]) else "else_branch"].func.name
    if branch not in library:
        raise ConversionError(f"if {node.name!r}: branch function {branch!r} is not in the graph's library; export "
                              "the model again")
    prefix = unique_name([n.name for n in gd.node], node.name + "/taken")
    nodes, outs = instantiate(library[branch], prefix, data[1:], library)
    _replace(gd, node, nodes, outs)
    return True


# ---------------------------------------------------------------- graph edits
def _replace(gd: GraphDef, node: NodeDef, new_nodes: list[NodeDef], outputs: Sequence[str]) -> None:
    """Remove ``node``, add ``new_nodes``, and make every reader of ``node:k`` read ``outputs[k]``. Control edges
    from ``node`` are dropped (the nodes that replace it have no side effects)."""
    rewire(gd, {f"{node.name}:{k}": t for k, t in enumerate(outputs)}, {node.name})
    kept = [n for n in gd.node if n.name != node.name]
    del gd.node[:]
    gd.node.extend(kept + new_nodes)


def _fix_placeholder_shapes(gd: GraphDef, shapes: Mapping[str, Sequence[int]]) -> None:
    tf = tensorflow()
    by_name = {n.name: n for n in gd.node}
    for name, shape in shapes.items():
        node = by_name.get(name.split(":")[0])
        if node is None or node.op not in ("Placeholder", "PlaceholderV2"):
            raise ShapeError(f"--input_shapes names {name!r}, which is not a placeholder of the graph")
        node.attr["shape"].shape.CopyFrom(tf.TensorShape(list(shape)).as_proto())


def _sinks(gd: GraphDef) -> set[str]:
    """Nodes nothing reads: the graph's outputs (and stray side-effect nodes)."""
    read = {node_of(i) for n in gd.node for i in n.input}
    return {n.name for n in gd.node if n.name not in read}


def _needed_tensors(gd: GraphDef, wanted: Sequence[str]) -> set[str]:
    """The tensors (keys) the values of ``wanted`` depend on; output k of an IdentityN (what a function call
    becomes when inlined) depends on its input k only."""
    by_name = {n.name: n for n in gd.node}
    seen: set[str] = set()
    stack = list(wanted)
    while stack:
        key = tensor_key(stack.pop())
        if key in seen or node_of(key) not in by_name:
            continue
        seen.add(key)
        node = by_name[node_of(key)]
        data = data_inputs(node)
        stack.extend([data[int(key.split(":")[1])]] if node.op == "IdentityN" else data)
    return seen


def _needed(gd: GraphDef, sinks: set[str]) -> set[str]:
    """The nodes the sinks reach."""
    by_name = {n.name: n for n in gd.node}
    keep: set[str] = set()
    stack = [s for s in sinks if s in by_name]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        stack.extend(node_of(i) for i in by_name[name].input)
    return keep


def _prune(gd: GraphDef, sinks: set[str]) -> None:
    """Keep only the nodes the original sinks still reach (drops what only fed the removed loops)."""
    keep = _needed(gd, sinks)
    kept = [n for n in gd.node if n.name in keep]
    del gd.node[:]
    gd.node.extend(kept)


def _small(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and all(d >= 0 for d in shape) and int(np.prod(shape)) <= _MAX_COUNTER_SIZE


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


def _example(shape: Sequence[int]) -> str:
    """An --input_shapes value for ``shape``: batch 1, 16 for the other unknown dims."""
    return ",".join(("1" if i == 0 else "16") if d < 0 else str(d) for i, d in enumerate(shape))
