"""Reading a TF2 SavedModel signature straight from its files: ``saved_model.pb`` (protobuf) and the variables
checkpoint (TensorFlow's C++ bundle reader), without rebuilding the Python object graph that
``tf.saved_model.load`` restores (several seconds and a few hundred MiB for a mobile CNN).

A TF2 SavedModel's serving graph is: one ``Placeholder`` per signature input, one ``VarHandleOp`` per captured
variable, and a ``StatefulPartitionedCall`` of the signature's function with ``(inputs..., handles...)``. The
function's ``bound_inputs`` in the SavedObjectGraph name the objects behind those handles, in call order; the
checkpoint's TrackableObjectGraph (matched to the SavedObjectGraph from the root by child names) gives each
variable object its checkpoint key. Freezing is then: inline the calls (``functions.inline_calls``), and replace
each ``ReadVariableOp(handle)`` by a ``Const`` of the variable's value (``ResourceGather`` by ``GatherV2`` of it).

Anything else (TF1 SavedModels with ``VariableV2``, resources used other than by reads) returns ``None``: the caller
falls back to TensorFlow's loader and freezer."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArrayNameError, InputError
from .control_flow import unroll_while_loops
from .functions import CALL_OPS, inline_calls
from .static_values import STORED_MARK

log = logging.getLogger(__name__)

_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
STORED_ELEMENTS = 1024  # float variables larger than this stay numpy arrays beside the GraphDef
# STORED_MARK: the NodeDef attribute marking a Const whose value is in SignatureGraph.constants (TensorFlow ignores
# "_" attributes; the importer, StaticValues and the TensorList resolver refuse to read such a Const without its
# value instead of taking its empty tensor for zeros).
_RESOURCE_PASSTHROUGH = frozenset({"Identity", "IdentityN"})


@dataclass(frozen=True)
class SignatureGraph:
    """A frozen GraphDef plus the TF tensor names behind each signature input and output."""

    graph_def: Any
    input_tensors: tuple[str, ...]
    input_names: tuple[str, ...]
    output_tensors: tuple[str, ...]
    output_names: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what happened to its loops (fused, unrolled), for the conversion summary
    # Const node name -> its value, for the Consts whose NodeDef holds only dtype and shape (weights).
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)

    def materialized(self) -> Any:  # noqa: ANN401
        """A copy of ``graph_def`` with every stored weight written into its Const (to run it in TensorFlow)."""
        from tensorflow.python.framework import tensor_util  # noqa: PLC0415

        gd = type(self.graph_def)()
        gd.CopyFrom(self.graph_def)
        for nd in gd.node:
            if nd.name in self.constants:
                nd.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(self.constants[nd.name]))
                del nd.attr[STORED_MARK]
        return gd


class _Unsupported(Exception):  # noqa: N818 - internal signal: use TensorFlow's loader instead
    pass


def read_signature(path: Path, tags: tuple[str, ...], signature_key: str,
                   input_shapes: Mapping[str, Sequence[int]] | Sequence[Sequence[int] | None] = (),
                   fuse_recurrent: bool = True) -> SignatureGraph | None:
    """The frozen graph of ``signature_key``, or ``None`` when the SavedModel needs TensorFlow's own loader.

    ``input_shapes`` (by signature input name or tensor name, or in signature order) fix unknown input dims where
    a loop's trip count depends on them; ``fuse_recurrent=False`` unrolls LSTM loops too instead of fusing them
    (--debug_disable_recurrent_cell_fusion)."""
    try:
        return _read(path, tags, signature_key, input_shapes, fuse_recurrent)
    except _Unsupported as e:
        log.info("SavedModel %s: %s; using tf.saved_model.load", path, e)
        return None


def _read(path: Path, tags: tuple[str, ...], signature_key: str,
          input_shapes: Mapping[str, Sequence[int]] | Sequence[Sequence[int] | None],
          fuse_recurrent: bool) -> SignatureGraph:
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415

    sm = saved_model_pb2.SavedModel()
    pb = path / "saved_model.pb"
    if not pb.exists():
        raise _Unsupported("text SavedModel")
    try:
        sm.ParseFromString(pb.read_bytes())
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise _Unsupported(f"saved_model.pb does not parse ({e})") from None
    metas = [m for m in sm.meta_graphs if set(m.meta_info_def.tags) == set(tags)]
    if len(metas) != 1:
        raise _Unsupported("no single meta graph with the tags")
    meta = metas[0]
    sigs = {k: v for k, v in meta.signature_def.items() if not k.startswith("__")}
    if signature_key not in sigs:
        have = ", ".join(sorted(sigs)) or "none"
        raise ArrayNameError(f"SavedModel {path} has no signature {signature_key!r} (it has: {have}); "
                             "choose one with --saved_model_signature_key")
    if not meta.object_graph_def.nodes:
        raise _Unsupported("no object graph (a TF1 SavedModel)")
    sig = sigs[signature_key]
    graph_def = meta.graph_def
    by_name = {n.name: n for n in graph_def.node}

    out_keys = sorted(sig.outputs)
    output_tensors = [_tensor_name(sig.outputs[k].name) for k in out_keys]
    if any(t.split(":")[0] not in by_name for t in output_tensors):
        raise _Unsupported("a signature output names no node")
    keep = _reachable(by_name, [t.split(":")[0] for t in output_tensors])
    calls = {name for name in keep if by_name[name].op in CALL_OPS}
    handles = _variable_handles(meta, [by_name[c] for c in sorted(calls)], by_name)
    values = _read_variables(path, meta, handles, tags)

    pruned = type(graph_def)()
    pruned.versions.CopyFrom(graph_def.versions)
    pruned.library.CopyFrom(graph_def.library)
    pruned.node.extend(n for n in graph_def.node if n.name in keep)
    placeholders = {n.name for n in graph_def.node if n.op == "Placeholder"}
    input_pairs = sorted((_tensor_name(v.name), k) for k, v in sig.inputs.items())
    if any(t.split(":")[0] not in placeholders for t, _ in input_pairs):
        raise _Unsupported("signature inputs are not placeholders")
    order = {n.name: i for i, n in enumerate(graph_def.node)}
    # Positional order of the signature function = order of the inputs on the call node.
    call_inputs = [i.split(":")[0] for c in sorted(calls) for i in by_name[c].input]
    rank = {name: call_inputs.index(name) if name in call_inputs else len(call_inputs) + order[name]
            for name in (t.split(":")[0] for t, _ in input_pairs)}
    input_pairs.sort(key=lambda p: rank[p[0].split(":")[0]])

    flat = inline_calls(pruned)
    # Loops unroll before freezing: their bodies read the variables through the loop's inputs.
    notes: list[str] = []
    flat = unroll_while_loops(flat, _placeholder_shapes(input_pairs, input_shapes), outputs=output_tensors,
                              notes=notes, fuse=fuse_recurrent)
    constants: dict[str, np.ndarray] = {}
    frozen = _freeze(flat, values, constants)
    return SignatureGraph(
        graph_def=frozen,
        input_tensors=tuple(t for t, _ in input_pairs),
        input_names=tuple(k for _, k in input_pairs),
        output_tensors=tuple(output_tensors),
        output_names=tuple(out_keys),
        notes=tuple(notes),
        constants=constants,
    )


def _placeholder_shapes(pairs: list[tuple[str, str]],
                        shapes: Mapping[str, Sequence[int]] | Sequence[Sequence[int] | None]) -> dict[str, list[int]]:
    """The user's input shapes keyed by placeholder node (from signature names, tensor names or positions)."""
    out: dict[str, list[int]] = {}
    if isinstance(shapes, Mapping):
        for tensor, key in pairs:
            node = tensor.split(":")[0]
            for alias in (key, tensor, node):
                if alias in shapes:
                    out[node] = list(shapes[alias])
                    break
        return out
    for (tensor, _), shape in zip(pairs, shapes, strict=False):
        if shape is not None:
            out[tensor.split(":")[0]] = list(shape)
    return out


def _tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def _reachable(by_name: Mapping[str, Any], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = deque(roots)
    while todo:
        name = todo.popleft()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(i.lstrip("^").split(":")[0] for i in by_name[name].input)
    return seen


def _variable_handles(meta: Any, calls: list[Any], by_name: Mapping[str, Any]) -> dict[str, int]:  # noqa: ANN401
    """VarHandleOp node name -> SavedObjectGraph node id, from the calls' bound inputs."""
    handles: dict[str, int] = {}
    fns = meta.object_graph_def.concrete_functions
    for call in calls:
        fname = call.attr["f"].func.name
        if fname not in fns:
            raise _Unsupported(f"function {fname} is not in the object graph")
        bound = list(fns[fname].bound_inputs)
        data = [i for i in call.input if not i.startswith("^")]
        captured = data[len(data) - len(bound):] if bound else []
        for ref, node_id in zip(captured, bound, strict=True):
            node = by_name.get(ref.split(":")[0])
            if node is not None and node.op == "Const":
                continue  # a captured constant: plain data
            if node is None or node.op != "VarHandleOp":
                raise _Unsupported(f"captured input {ref} is not a variable handle")
            if meta.object_graph_def.nodes[node_id].WhichOneof("kind") != "variable":
                raise _Unsupported(f"captured input {ref} is not a variable")
            handles[node.name] = node_id
    return handles


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load_error(path: Path, tags: tuple[str, ...], e: BaseException) -> InputError:
    """The one-line error for a SavedModel that cannot be loaded, from the underlying exception."""
    first = first_line(e)
    hint = ("check --saved_model_tag_set" if "tag" in first.lower() or "metagraph" in first.lower()
            else "the SavedModel is incomplete or corrupt; export it again with tf.saved_model.save")
    return InputError(f"cannot load SavedModel {path} with tags {','.join(tags)}: {first}; {hint}")


def _read_variables(path: Path, meta: Any, handles: Mapping[str, int],  # noqa: ANN401
                    tags: tuple[str, ...]) -> dict[str, np.ndarray]:
    """VarHandleOp node name -> the variable's value from the checkpoint."""
    if not handles:
        return {}
    from tensorflow.core.protobuf import trackable_object_graph_pb2  # noqa: PLC0415
    from tensorflow.python.training import py_checkpoint_reader  # noqa: PLC0415

    prefix = path / "variables" / "variables"
    try:
        reader = py_checkpoint_reader.NewCheckpointReader(str(prefix))
        tog = trackable_object_graph_pb2.TrackableObjectGraph()
        tog.ParseFromString(reader.get_tensor(_OBJECT_GRAPH_KEY))
    except Exception as e:  # noqa: BLE001 - the C++ reader raises several types on a bad checkpoint
        raise load_error(path, tags, e) from None
    keys = _checkpoint_keys(meta.object_graph_def, tog)
    values: dict[str, np.ndarray] = {}
    for name, node_id in handles.items():
        key = keys.get(node_id)
        if key is None:
            raise _Unsupported(f"variable {name} has no checkpoint key")
        try:
            values[name] = reader.get_tensor(key)
        except Exception as e:  # noqa: BLE001 - a truncated or corrupt data file
            raise load_error(path, tags, e) from None
    return values


def _checkpoint_keys(saved: Any, trackable: Any) -> dict[int, str]:  # noqa: ANN401
    """SavedObjectGraph node id -> checkpoint key of its VARIABLE_VALUE, matching the two object graphs from the
    root by child names."""
    keys: dict[int, str] = {}
    seen: set[int] = set()
    todo = deque([(0, 0)])
    while todo:
        s, t = todo.popleft()
        if s in seen or s >= len(saved.nodes) or t >= len(trackable.nodes):
            continue
        seen.add(s)
        for attr in trackable.nodes[t].attributes:
            if attr.name == "VARIABLE_VALUE":
                keys[s] = attr.checkpoint_key
        t_children = {c.local_name: c.node_id for c in trackable.nodes[t].children}
        for c in saved.nodes[s].children:
            if c.local_name in t_children:
                todo.append((c.node_id, t_children[c.local_name]))
    return keys


def _freeze(graph_def: Any, values: Mapping[str, np.ndarray], stored: dict[str, np.ndarray]) -> Any:  # noqa: ANN401
    """Replace variable reads by constants; refuse (fallback) on any other use of a resource. Weights go into
    ``stored`` (by Const name) instead of the GraphDef."""
    by_name = {n.name: n for n in graph_def.node}

    def source(ref: str) -> str | None:
        """The VarHandleOp behind a resource tensor, through identities."""
        for _ in range(256):
            name, _, idx = ref.partition(":")
            node = by_name.get(name)
            if node is None:
                return None
            if node.op == "VarHandleOp":
                return name
            if node.op not in _RESOURCE_PASSTHROUGH:
                return None
            ref = node.input[int(idx or 0)] if node.op == "IdentityN" else node.input[0]
        return None

    # Handles and identities over handles disappear once every read is a constant.
    dropped = {n.name for n in graph_def.node
               if n.op == "VarHandleOp"
               or (n.op in _RESOURCE_PASSTHROUGH and n.input and all(
                   source(i) is not None for i in n.input if not i.startswith("^")))}
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.name in dropped:
            continue
        if node.op in ("ReadVariableOp", "ResourceGather"):
            var = source(node.input[0])
            if var is None or var not in values:
                raise _Unsupported(f"{node.op} {node.name} reads an unknown resource")
            _emit_read(out, node, values[var], stored)
            continue
        for ref in node.input:
            if not ref.startswith("^") and source(ref) is not None:
                raise _Unsupported(f"{node.op} {node.name} uses a variable other than by reading it")
        new = out.node.add()
        new.CopyFrom(node)
        if any(r.startswith("^") and r[1:] in dropped for r in node.input):
            refs = [r for r in node.input if not (r.startswith("^") and r[1:] in dropped)]
            del new.input[:]
            new.input.extend(refs)
    return out


def _emit_read(out: Any, node: Any, value: np.ndarray, stored: dict[str, np.ndarray]) -> None:  # noqa: ANN401
    """``ReadVariableOp`` -> ``Const``; ``ResourceGather(h, i)`` -> ``GatherV2(Const, i, batch_dims)``."""
    from tensorflow.python.framework import tensor_util  # noqa: PLC0415

    def const(name: str, array: np.ndarray, dtype: int) -> None:
        c = out.node.add(name=name, op="Const")
        c.attr["dtype"].type = dtype
        if array.dtype.kind == "f" and array.size > STORED_ELEMENTS:
            c.attr[STORED_MARK].b = True
            tensor = c.attr["value"].tensor
            tensor.dtype = dtype
            for d in array.shape:
                tensor.tensor_shape.dim.add(size=int(d))
            stored[name] = array
            return
        c.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(array))

    dtype = node.attr["dtype"].type
    if node.op == "ReadVariableOp":
        const(node.name, value, dtype)
        return
    batch_dims = int(node.attr["batch_dims"].i)
    const(f"{node.name}/frozen_params", value, dtype)
    const(f"{node.name}/axis", np.int32(batch_dims), 3)  # DT_INT32
    gather = out.node.add(name=node.name, op="GatherV2")
    gather.input.extend([f"{node.name}/frozen_params", node.input[1], f"{node.name}/axis"])
    gather.attr["Tparams"].type = dtype
    gather.attr["Tindices"].type = node.attr["Tindices"].type
    gather.attr["Taxis"].type = 3
    gather.attr["batch_dims"].i = batch_dims
