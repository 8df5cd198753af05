"""GraphDef -> IR: select the subgraph between the input and output arrays, check every op is supported,
infer static shapes with TensorFlow, then call one registered handler per NodeDef in topological order."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ArrayNameError, InputError, ShapeError, UnsupportedOp, UnsupportedOpsError
from ..ir import Graph, Signature, Tensor
from ..tf_runtime import tensorflow
from .control_flow import unroll_while_loops
from .context import ImportContext, TensorInfo, decode_attr
from .graph_edits import drop_colocation
from .handlers.custom import emit_custom, output_signature, stand_ins, tf_has_kernel
from .legalizations import BY_OP, CONVERTED_ELSEWHERE
from .registry import HANDLERS, load_handlers

# Ops with no data outputs that a frozen graph may carry; they are dropped with their control edges.
_IGNORED_OPS = frozenset({"NoOp", "SaveV2", "RestoreV2", "Assert"})
_PLACEHOLDERS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"})


@dataclass
class ImportResult:
    graph: Graph
    tf_op_counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    control_edges_dropped: int = 0
    # Tensors whose shape is unknown (outputs of custom ops without one): written with shape [].
    dynamic_tensors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOptions:
    """How to import: ops without a handler become custom ops (``allow_custom_ops``); ``input_dtypes`` (dtype names,
    one per input array, --input_data_types) type input arrays that are not Placeholders; ``batch_size`` fills an
    input's unknown first dimension (--batch_size); ``fuse_recurrent=False`` unrolls Keras LSTM loops instead of
    fusing them into sequence LSTM ops (--debug_disable_recurrent_cell_fusion)."""

    allow_custom_ops: bool = False
    input_dtypes: tuple[str, ...] = ()
    batch_size: int | None = None
    fuse_recurrent: bool = True


def tensor_key(name: str) -> str:
    """'x' -> 'x:0'; 'x:1' stays; '^x' is a control input and has no key."""
    name = name.strip()
    return name if ":" in name else f"{name}:0"


def _node_of(key: str) -> str:
    return key.lstrip("^").split(":")[0]


def parse_input_key(key: str) -> tuple[str, int]:
    node, _, idx = key.lstrip("^").partition(":")
    return node, int(idx) if idx else 0


def import_graph_def(
    graph_def: Any,  # noqa: ANN401 - GraphDef protobuf
    input_arrays: Sequence[str],
    output_arrays: Sequence[str],
    input_shapes: Sequence[tuple[int, ...] | None],
    signature: Signature | None = None,
    options: ImportOptions = ImportOptions(),  # noqa: B008 - frozen
    constants: Mapping[str, np.ndarray] | None = None,
) -> ImportResult:
    """Translate the part of ``graph_def`` between ``input_arrays`` and ``output_arrays`` into an IR Graph. With
    ``options.allow_custom_ops``, ops without a handler become custom ops (handlers/custom.py), not an error.
    ``constants``: values of Const nodes whose NodeDef carries only dtype and shape (weights read beside the
    GraphDef, see saved_model_reader); they become IR constants without a copy."""
    constants = constants or {}
    load_handlers()
    nodes = {n.name: n for n in graph_def.node}
    notes: list[str] = []
    inputs = list(input_arrays) or _default_inputs(graph_def)
    outputs = list(output_arrays) or _default_outputs(graph_def)
    in_keys = [tensor_key(n) for n in inputs]
    out_keys = [tensor_key(n) for n in outputs]
    _check_names(nodes, in_keys, "input", _placeholder_names(graph_def))
    _check_names(nodes, out_keys, "output", _sink_names(graph_def))

    shapes = list(input_shapes) + [None] * (len(in_keys) - len(input_shapes))
    if len(input_shapes) > len(in_keys):
        raise ShapeError(
            f"{len(input_shapes)} input shapes given for {len(in_keys)} input array(s) ({', '.join(inputs)}); "
            "give one shape per input, separated by ':'"
        )
    labels = list(signature.input_names) if signature and len(signature.input_names) == len(in_keys) else None
    if options.input_dtypes and len(options.input_dtypes) != len(in_keys):
        raise ShapeError(f"{len(options.input_dtypes)} --input_data_types for {len(in_keys)} input array(s) "
                         f"({', '.join(inputs)}); give one type per input, comma-separated")
    fixed = _fixed_inputs(nodes, in_keys, shapes, notes, labels, options)
    # Functional loops unroll once the inputs' shapes are final (trip counts may follow from them).
    unrolled = unroll_while_loops(graph_def, {name: [d.size for d in fixed[name].attr["shape"].shape.dim]
                                              for name in fixed if nodes[name].op in _PLACEHOLDERS},
                                  outputs=out_keys, notes=notes, fuse=options.fuse_recurrent)
    if unrolled is not graph_def:
        graph_def = unrolled
        nodes = {n.name: n for n in graph_def.node}
    wnodes = {**nodes, **fixed}
    needed = _needed_nodes(wnodes, {_node_of(k) for k in out_keys}, {_node_of(k) for k in in_keys})
    order = _topological(wnodes, needed)
    input_names = {_node_of(k) for k in in_keys}
    stray = [n for n in order if wnodes[n].op in _PLACEHOLDERS and wnodes[n].op != "PlaceholderWithDefault"
             and n not in input_names]
    if stray:
        raise ArrayNameError(
            f"placeholder(s) {', '.join(repr(n) for n in stray)} feed the outputs but are not input arrays; add them to "
            "--input_arrays (with their shapes in --input_shapes)"
        )

    unsupported: dict[str, list[str]] = {}
    for name in order:
        op = wnodes[name].op
        if op not in HANDLERS and op not in _IGNORED_OPS and name not in {_node_of(k) for k in in_keys}:
            unsupported.setdefault(op, []).append(name)
    folded = _fold_static(wnodes, order, [n for names in unsupported.values() for n in names], constants) \
        if unsupported else {}
    unsupported = {op: kept for op, names in unsupported.items() if (kept := [n for n in names if n not in folded])}
    custom: set[str] = set()
    if unsupported and options.allow_custom_ops:
        custom = {name for names in unsupported.values() for name in names}
        notes.append("custom ops (no TFLite builtin; the runtime needs their kernels): " + ", ".join(
            f"{op} x{len(names)}" for op, names in sorted(unsupported.items())))
    elif unsupported:
        raise UnsupportedOpsError([unsupported_op(op, names) for op, names in unsupported.items()])

    used = {tensor_key(i) for name in order for i in wnodes[name].input if not i.startswith("^")} | set(out_keys)
    dynamic: list[str] = []
    info = _infer_tensor_info(graph_def, wnodes, order, used, custom, dynamic, constants)
    weight = _weight_nodes(wnodes, order, {_node_of(k) for k in in_keys})

    graph = Graph()
    env: dict[str, Tensor] = {}
    counts: dict[str, int] = {}
    control = 0
    input_node_names = {_node_of(k): k for k in in_keys}
    for name in order:
        nd = wnodes[name]
        control += sum(1 for i in nd.input if i.startswith("^"))
        if nd.op in _IGNORED_OPS:
            continue
        counts[nd.op] = counts.get(nd.op, 0) + 1
        out_info = info.get(name, [])
        if name in input_node_names:
            ti = out_info[0]
            t = graph.tensor(name, ti.dtype, ti.shape, tf_name=name)
            graph.add_input(t)
            env[f"{name}:0"] = t
            continue
        data_inputs = [i for i in nd.input if not i.startswith("^")]
        try:
            in_tensors = [env[tensor_key(i)] for i in data_inputs]
        except KeyError as e:  # pragma: no cover - order guarantees producers first
            raise InputError(f"node {name!r} reads {e.args[0]}, which the graph does not produce") from None

        def is_weight(i: int, _inputs: list[str] = data_inputs) -> bool:
            return _node_of(_inputs[i]) in weight

        ctx = ImportContext(graph, nd, in_tensors, out_info, env.__setitem__, is_weight, graph_def.library,
                            constants.get(name))
        if name in folded:  # computed from constants by TensorFlow: no kernel needed
            for i, value in enumerate(folded[name]):
                ctx.const_output(i, value)
            continue
        (emit_custom if name in custom else HANDLERS[nd.op])(ctx)
    # Graph inputs in the order the user named them.
    graph.set_outputs([_resolve_output(env, k) for k in out_keys])
    if signature is None:
        signature = Signature("serving_default", tuple(_node_of(k) for k in in_keys),
                              tuple(_output_label(k) for k in out_keys))
    graph.signature = signature
    graph.toposort()
    graph.validate()
    return ImportResult(graph=graph, tf_op_counts=dict(sorted(counts.items())), notes=notes,
                        control_edges_dropped=control, dynamic_tensors=dynamic)


def _fold_static(nodes: dict[str, Any], order: list[str], candidates: list[str],  # noqa: ANN401
                 constants: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The values of the ``candidates`` (ops without a handler) that constants and static shapes alone determine
    (static_values: no input array, no stateful op upstream), computed by TensorFlow: a constant subgraph is folded
    before the supported-op check, whatever ops it uses (e.g. a matrix inverse of a weight). Weights read beside
    the GraphDef (``constants``) are written into their Consts here, for TensorFlow to compute with."""
    from .static_values import StaticValues  # noqa: PLC0415

    tf = tensorflow()
    gd = tf.compat.v1.GraphDef()
    for name in order:
        nd = gd.node.add()
        nd.CopyFrom(nodes[name])
        if name in constants:
            nd.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(constants[name]))
        del nd.input[:]
        nd.input.extend(i for i in nodes[name].input if not i.startswith("^") and _node_of(i) in nodes)
    with StaticValues(gd) as sv:
        static = [n for n in candidates if sv.is_static(n)]
        keys = [[o.name for o in sv.graph.get_operation_by_name(n).outputs] for n in static]
        values = sv.evaluate([k for ks in keys for k in ks]) if static else []
    out: dict[str, list[np.ndarray]] = {}
    it = iter(values)
    for n, ks in zip(static, keys, strict=True):
        out[n] = [next(it) for _ in ks]
    return out


def unsupported_op(op: str, names: Sequence[str]) -> UnsupportedOp:
    """An op without a handler, marked with what TensorFlow's converter does with it (converter/frontend/
    legalizations.py): the builtins it writes (qconvert's gap), or none at all (no TFLite builtin)."""
    row = BY_OP.get(op)
    if row is not None:
        return UnsupportedOp(op, tuple(names), tf_builtins=row.builtins or ("(folded)",))
    return UnsupportedOp(op, tuple(names), no_builtin=op not in CONVERTED_ELSEWHERE)


def _resolve_output(env: dict[str, Tensor], key: str) -> Tensor:
    if key not in env:
        node, idx = parse_input_key(key)
        raise ArrayNameError(
            f"output array {key}: node {node!r} has no output {idx} in the selected subgraph; name an existing "
            f"output with --output_arrays (e.g. {node})"
        )
    return env[key]


# ---- names
def _output_label(key: str) -> str:
    """Signature name of an output: its node's name, with ':k' for outputs other than the first."""
    node, idx = parse_input_key(key)
    return node if idx == 0 else f"{node}:{idx}"


def _placeholder_names(gd: Any) -> list[str]:  # noqa: ANN401
    return [n.name for n in gd.node if n.op in _PLACEHOLDERS]


def _sink_names(gd: Any) -> list[str]:  # noqa: ANN401
    used = {_node_of(i) for n in gd.node for i in n.input}
    return [n.name for n in gd.node if n.name not in used and n.op not in _IGNORED_OPS and n.op != "Const"]


def _default_inputs(gd: Any) -> list[str]:  # noqa: ANN401
    names = _placeholder_names(gd)
    if not names:
        raise ArrayNameError("the graph has no Placeholder; name the input tensors with --input_arrays")
    return names


def _default_outputs(gd: Any) -> list[str]:  # noqa: ANN401
    sinks = _sink_names(gd)
    if len(sinks) != 1:
        listed = ", ".join(sinks[:10]) + (" ..." if len(sinks) > 10 else "")
        if not sinks:
            raise ArrayNameError("cannot guess the output: every op's result is read by another op; name the output "
                                 "tensor(s) with --output_arrays")
        raise ArrayNameError(f"cannot guess the output; name it with --output_arrays (candidates: {listed})")
    return sinks


def _check_names(nodes: dict[str, Any], keys: list[str], kind: str, candidates: list[str]) -> None:
    for key in keys:
        node_name, idx = parse_input_key(key)
        if node_name not in nodes:
            close = difflib.get_close_matches(node_name, list(nodes), n=3)
            listed = ", ".join(close or candidates[:8]) or "none"
            hint = "did you mean" if close else "candidates"
            raise ArrayNameError(
                f"{kind} array {node_name!r} is not in the graph ({hint}: {listed}); fix --{kind}_arrays"
            )
        if idx < 0:
            raise ArrayNameError(f"{kind} array {key!r}: output index must be >= 0")


# ---- subgraph selection
def _fixed_inputs(
    nodes: dict[str, Any], in_keys: list[str], shapes: list[tuple[int, ...] | None], notes: list[str],  # noqa: ANN401
    labels: list[str] | None = None, options: ImportOptions = ImportOptions(),  # noqa: B008 - frozen
) -> dict[str, Any]:
    """A new Placeholder NodeDef with a fully static shape for every input array (the graph itself is not
    copied or changed). Messages name an input by ``labels`` (the signature's names) when given, else by its
    node."""
    tf = tensorflow()
    fixed: dict[str, Any] = {}
    for i, (key, shape) in enumerate(zip(in_keys, shapes, strict=True)):
        name, idx = parse_input_key(key)
        nd = nodes[name]
        if nd.op in _PLACEHOLDERS:
            if idx != 0:
                raise ArrayNameError(f"input array {key!r}: placeholder {name!r} has one output; use {name}")
            dtype_enum = nd.attr["dtype"].type
            declared = None
            if "shape" in nd.attr and not nd.attr["shape"].shape.unknown_rank:
                declared = [d.size for d in nd.attr["shape"].shape.dim]
        else:
            if idx != 0:
                raise ArrayNameError(f"input array {key}: only output 0 of a non-Placeholder node can be an input")
            dtype_enum = _output_dtype_enum(nd)
            declared = None
        if options.input_dtypes:
            dtype_enum = _given_dtype(nd, options.input_dtypes[i], dtype_enum)
        final = _resolve_shape(labels[i] if labels else name, declared, shape, notes, options.batch_size)
        ph = type(nd)()
        ph.name = name
        ph.op = "Placeholder"
        ph.attr["dtype"].type = dtype_enum
        ph.attr["shape"].shape.CopyFrom(tf.TensorShape(final).as_proto())
        ph.attr["shape"].shape.SetInParent()  # a scalar's shape is an empty message: mark the attr set anyway
        fixed[name] = ph
    return fixed


def _given_dtype(nd: Any, dtype: str, found: int) -> int:  # noqa: ANN401
    """--input_data_types for one input: a Placeholder must already have that type; another node takes it."""
    tf = tensorflow()
    try:
        want = tf.dtypes.as_dtype(dtype).as_datatype_enum
    except TypeError:
        raise ShapeError(f"--input_data_types: {dtype} is not a TensorFlow type") from None
    if nd.op in _PLACEHOLDERS and want != found:
        raise ShapeError(f"--input_data_types gives {dtype} for input {nd.name!r}, a placeholder of type "
                         f"{tf.dtypes.as_dtype(found).name}; fix the type or leave it out")
    return int(want)


def _output_dtype_enum(nd: Any) -> int:  # noqa: ANN401
    for key in ("T", "dtype", "out_type", "DstT"):
        if key in nd.attr and nd.attr[key].type:
            return int(nd.attr[key].type)
    return 1  # DT_FLOAT


def _resolve_shape(name: str, declared: list[int] | None, given: tuple[int, ...] | None,
                   notes: list[str], batch_size: int | None = None) -> list[int]:
    if given is not None:
        if declared is not None and len(declared) != len(given):
            raise ShapeError(
                f"--input_shapes gives {len(given)} dims for input {name!r}, whose shape is "
                f"{_fmt(declared)} (rank {len(declared)}); give {len(declared)} comma-separated dims"
            )
        if declared is not None:
            for d, g in zip(declared, given, strict=True):
                if d not in (-1, g):
                    raise ShapeError(
                        f"--input_shapes gives {_fmt(list(given))} for input {name!r}, but the model fixes it to "
                        f"{_fmt(declared)}; only unknown (-1) dims can be set"
                    )
        if any(g < 0 for g in given):
            raise ShapeError(f"--input_shapes for {name!r} has a negative dim: {_fmt(list(given))}")
        return list(given)
    if declared is None:
        raise ShapeError(f"input {name!r} has no declared shape; give it with --input_shapes")
    if batch_size is not None and declared and declared[0] == -1:
        notes.append(f"input {name!r}: unknown batch dimension set to {batch_size} (--batch_size)")
        declared = [batch_size, *declared[1:]]
    if declared and declared[0] == -1 and all(d > 0 for d in declared[1:]):
        notes.append(f"input {name!r} has an unknown batch dimension; assumed 1 (set it with --input_shapes)")
        return [1, *declared[1:]]
    if any(d < 0 for d in declared):
        raise ShapeError(
            f"input {name!r} has unknown dims {_fmt(declared)}; fix them with --input_shapes "
            "(e.g. --input_shapes=" + ",".join("1" if d < 0 else str(d) for d in declared) + ")"
        )
    return declared


def _fmt(shape: list[int]) -> str:
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


def _needed_nodes(by_name: dict[str, Any], outputs: set[str], inputs: set[str]) -> set[str]:
    """Nodes the outputs depend on through data edges, stopping at the input arrays."""
    needed: set[str] = set()
    stack = list(outputs)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in inputs:
            continue
        for i in by_name[name].input:
            if not i.startswith("^"):
                stack.append(_node_of(i))
    return needed


def _topological(by_name: dict[str, Any], needed: set[str]) -> list[str]:
    """``needed`` in an order where producers come first (roots in graph order)."""
    order: list[str] = []
    state: dict[str, int] = {}
    for root in [name for name in by_name if name in needed]:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, done = stack.pop()
            if done:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(name)
                continue
            if state.get(name, 0) != 0:
                if state.get(name) == 1 and by_name[name].op not in ("Merge", "NextIteration"):
                    continue
                continue
            state[name] = 1
            stack.append((name, True))
            nd = by_name[name]
            if nd.op == "Placeholder":
                continue
            for i in reversed(nd.input):
                src = _node_of(i)
                if not i.startswith("^") and src in needed and state.get(src, 0) == 0:
                    stack.append((src, False))
    return order


def _weight_nodes(nodes: dict[str, Any], order: list[str], inputs: set[str]) -> set[str]:  # noqa: ANN401
    """Nodes whose value is computed from constants alone (weights and their folding subgraphs)."""
    weight: set[str] = set()
    for name in order:
        nd = nodes[name]
        if name in inputs or nd.op in _PLACEHOLDERS:
            continue
        data = [i for i in nd.input if not i.startswith("^")]
        if nd.op == "Const" or (data and all(_node_of(i) in weight for i in data)):
            weight.add(name)
    return weight


# ---- shapes
def _infer_tensor_info(gd: Any, by_name: dict[str, Any], order: list[str],  # noqa: ANN401
                       used: set[str], custom: set[str] = frozenset(),  # type: ignore[assignment]
                       dynamic: list[str] | None = None,
                       constants: Mapping[str, np.ndarray] | None = None) -> dict[str, list[TensorInfo]]:
    """Static dtype and shape of every output of every needed node. Shapes TF cannot infer statically are
    taken from one run on zero inputs (only for outputs something reads: e.g. FusedBatchNormV3's reserve space
    is never read and stays unknown).

    Large float constants (weights) enter TensorFlow's graph as placeholders of their shape: shapes never depend
    on weight values, and the graph then holds no copy of them. Custom ops TensorFlow cannot run are replaced by
    stand-ins of their declared outputs (handlers/custom.py); outputs with no declared shape stay unknown (())."""
    tf = tensorflow()
    g = tf.Graph()
    sub = type(gd)()
    sub.versions.CopyFrom(gd.versions)
    sub.library.CopyFrom(gd.library)
    keep = set(order)
    opaque: set[str] = set()  # custom-op outputs with no known shape: written with an unknown shape
    for name in order:
        src = by_name[name]
        if name in custom and not tf_has_kernel(src.op):
            sig = output_signature(src, [])
            sub.node.extend(stand_ins(src, sig))
            opaque.update(f"{name}:{k}" for k, (_, shape) in enumerate(sig) if shape is None)
            continue
        nd = sub.node.add()
        if name in (constants or {}) or _is_large_float_const(src):
            nd.name = name
            nd.op = "Placeholder"
            nd.attr["dtype"].type = src.attr["dtype"].type
            nd.attr["shape"].shape.CopyFrom(src.attr["value"].tensor.tensor_shape)
            continue
        nd.CopyFrom(src)
        drop_colocation(nd)
        del nd.input[:]
        nd.input.extend(i for i in src.input if not i.startswith("^") and _node_of(i) in keep)
    try:
        with g.as_default():
            tf.graph_util.import_graph_def(sub, name="")
    except (ValueError, tf.errors.OpError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"TensorFlow cannot build the graph ({msg}); the GraphDef is inconsistent: re-export the frozen graph"
        ) from None
    info: dict[str, list[TensorInfo]] = {}
    unknown: list[Any] = []
    for name in order:
        op = g.get_operation_by_name(name)
        infos = []
        for t in op.outputs:
            if t.dtype == tf.resource or t.dtype == tf.variant:
                infos.append(TensorInfo(np.dtype(np.float32), ()))
                continue
            shape = t.shape
            if shape.rank is None or not shape.is_fully_defined():
                if f"{name}:{t.value_index}" in used and f"{name}:{t.value_index}" not in opaque:
                    unknown.append(t)
                dims: tuple[int, ...] = ()
            else:
                dims = tuple(int(d) for d in shape.as_list())
            infos.append(TensorInfo(np.dtype(t.dtype.as_numpy_dtype), dims))
        info[name] = infos
    if unknown:
        dynamic = _value_dependent(sub, g, order, unknown)
        for t in dynamic:
            shape = t.shape
            dims = () if shape.rank is None else tuple(-1 if d is None else int(d) for d in shape.as_list())
            info[t.op.name][t.value_index] = TensorInfo(np.dtype(t.dtype.as_numpy_dtype), dims,
                                                        rank_known=shape.rank is not None)
        rest = [t for t in unknown if all(t is not d for d in dynamic)]
        if rest:
            _concrete_shapes(g, rest, info)
    if dynamic is not None:
        dynamic.extend(sorted(opaque))
    return info


# Ops whose output shape depends on the values of their (float or integer) data, not only on their inputs' shapes.
_DATA_DEPENDENT = frozenset({"Where", "Unique", "UniqueV2", "UniqueWithCounts", "NonMaxSuppressionV3",
                             "NonMaxSuppressionV4", "NonMaxSuppressionV5", "SparseToDense"})


def _value_dependent(sub: Any, g: Any, order: list[str], unknown: list[Any]) -> list[Any]:  # noqa: ANN401
    """The tensors among ``unknown`` (whose shape TensorFlow cannot infer) whose shape depends on a value known only
    at run time: their op reads an integer or bool operand that is not static (computed from constants and static
    shapes alone: static_values), or data of an op whose output size follows its data (Where, Unique), or a tensor
    that is itself value-dependent. Such a shape is dynamic (-1 dims); a run on zero inputs would fix it wrongly.
    The other unknown shapes follow from the fixed input shapes alone, so one run finds them."""
    from .static_values import StaticValues  # noqa: PLC0415

    unknown_ids = {id(t) for t in unknown}
    dynamic: set[str] = set()
    found: list[Any] = []
    with StaticValues(sub) as sv:
        for name in order:
            op = g.get_operation_by_name(name)
            outs = [t for t in op.outputs if id(t) in unknown_ids]
            if not outs:
                continue
            reads_dynamic = any(t.name in dynamic for t in op.inputs)
            reads_value = any(
                (op.type in _DATA_DEPENDENT or t.dtype.is_integer or t.dtype.is_bool) and not sv.is_static(t.name)
                for t in op.inputs)
            if reads_dynamic or reads_value:
                for t in outs:
                    dynamic.add(t.name)
                    found.append(t)
    return found


_LARGE_CONST = 1024  # elements


def _is_large_float_const(nd: Any) -> bool:  # noqa: ANN401
    if nd.op != "Const" or nd.attr["dtype"].type not in (1, 2, 19):  # DT_FLOAT, DT_DOUBLE, DT_HALF
        return False
    shape = nd.attr["value"].tensor.tensor_shape
    return not shape.unknown_rank and int(np.prod([d.size for d in shape.dim])) > _LARGE_CONST


def _concrete_shapes(g: Any, tensors: list[Any], info: dict[str, list[TensorInfo]]) -> None:  # noqa: ANN401
    tf = tensorflow()
    feeds = {}
    for op in g.get_operations():
        if op.type == "Placeholder" and op.outputs[0].shape.is_fully_defined():
            t = op.outputs[0]
            feeds[t] = np.zeros(t.shape.as_list(), dtype=t.dtype.as_numpy_dtype)
    with tf.compat.v1.Session(graph=g) as sess:
        try:
            values = sess.run(tensors, feed_dict=feeds)
        except tf.errors.OpError as e:
            raise ShapeError(
                f"cannot determine static shapes ({e.message.splitlines()[0]}); fix the input shapes with "
                "--input_shapes"
            ) from None
    for t, v in zip(tensors, values, strict=True):
        name = t.op.name
        info[name][t.value_index] = TensorInfo(np.dtype(t.dtype.as_numpy_dtype), tuple(np.shape(v)))


__all__ = ["ImportResult", "decode_attr", "import_graph_def", "tensor_key"]
