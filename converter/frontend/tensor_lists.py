"""TensorList ops with static indices -> plain tensor ops, on a GraphDef whose loops are already unrolled.

A list is followed symbolically, in topological order, from the op that makes it to the ops that read it; each
list value is a Python list of slots (graph tensors, or empty):

  TensorListReserve(shape, n)              -> n empty slots                        (node removed)
  EmptyTensorList                          -> no slots                             (node removed)
  TensorListFromTensor(x)                  -> slots Unpack(x, axis=0):k            (one Unpack node added)
  TensorListSetItem(l, i, v), PushBack     -> l with slot i = v / v appended       (node removed)
  TensorListPopBack(l)                     -> l without its last slot; output 1 is that slot
  Identity(l)                              -> l                                    (node removed)
  TensorListGetItem(l, i)                  -> Identity(slot i)                     (same node name)
  TensorListStack(l), TensorListGather     -> Pack(slots, axis=0); ExpandDims(slot, 0) for one slot (same name);
                                              Identity(x) when the slots are all of FromTensor(x), in order
  TensorListLength(l)                      -> Const(number of slots)               (same node name)

An empty slot reads as zeros, as in TensorFlow. Indices and lengths must be static (``static_values``); any other
op reading a list is reported with ``UnsupportedOpsError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConversionError, ShapeError, UnsupportedOp, UnsupportedOpsError
from ..tf_runtime import tensorflow
from .graph_edits import const_node, data_inputs, node_of, rewire, tensor_key, unique_name
from .static_values import STORED_MARK, StaticValues

GraphDef = Any  # tensorflow.core.framework.graph_pb2.GraphDef
NodeDef = Any  # tensorflow.core.framework.node_def_pb2.NodeDef


@dataclass
class _List:
    slots: list[str | None]
    dtype: int  # element DataType enum
    shape: tuple[int, ...] | None  # static element shape, -1 for unknown dims; None: unknown rank
    origin: str  # the node that made the list (for messages and names)
    source: tuple[str, list[str]] | None = None  # TensorListFromTensor(x): x and the slots it made


@dataclass
class _Edits:
    """What the resolver does to the graph, applied at the end (nothing changes when it raises)."""

    mapping: dict[str, str] = field(default_factory=dict)  # tensor key -> replacement tensor
    removed: set[str] = field(default_factory=set)
    replaced: dict[str, NodeDef] = field(default_factory=dict)
    added: list[NodeDef] = field(default_factory=list)
    unsupported: dict[str, list[str]] = field(default_factory=dict)


def is_list_op(op: str) -> bool:
    return op.startswith("TensorList") or op == "EmptyTensorList"


def resolve_tensor_lists(gd: GraphDef) -> None:
    """Rewrite, in place, every TensorList op of ``gd`` that reads or writes a list made in the graph."""
    if not any(is_list_op(n.op) for n in gd.node):
        return
    by_name = {n.name: n for n in gd.node}
    with StaticValues(gd) as sv:
        resolver = _Resolver(sv, by_name)
        for name in sv.topological():
            resolver.visit(by_name[name])
    edits = resolver.edits
    if edits.unsupported:
        raise UnsupportedOpsError([UnsupportedOp(op, tuple(names)) for op, names in edits.unsupported.items()],
                                  " (reading TensorLists, after unrolling the loops)")
    kept = [edits.replaced.get(n.name, n) for n in gd.node if n.name not in edits.removed]
    del gd.node[:]
    gd.node.extend(kept + edits.added)
    rewire(gd, edits.mapping, edits.removed)


class _Resolver:
    def __init__(self, sv: StaticValues, by_name: dict[str, NodeDef]) -> None:
        self.sv = sv
        self.by_name = by_name
        self.lists: dict[str, _List] = {}
        self.edits = _Edits()
        self._zeros: dict[str, str] = {}
        self._handlers: dict[str, Callable[[NodeDef, _List, list[str]], None]] = {
            "TensorListSetItem": self._set_item, "TensorListPushBack": self._push_back,
            "TensorListPopBack": self._pop_back, "Identity": self._identity, "TensorListGetItem": self._get_item,
            "TensorListStack": self._stack, "TensorListGather": self._gather, "TensorListLength": self._length,
        }

    def visit(self, node: NodeDef) -> None:
        data = data_inputs(node)
        if node.op == "TensorListReserve":
            n = int(self._value(node, data[1], "the number of elements"))
            self._make(node, [None] * n, self._element_shape(data[0]))
        elif node.op == "EmptyTensorList":
            self._make(node, [], self._element_shape(data[0]))
        elif node.op == "TensorListFromTensor":
            self._from_tensor(node, data[0])
        elif any(tensor_key(i) in self.lists for i in data):
            handler = self._handlers.get(node.op)
            if handler is None or tensor_key(data[0]) not in self.lists:
                self.edits.unsupported.setdefault(node.op, []).append(node.name)
            else:
                handler(node, self.lists[tensor_key(data[0])], data)

    # ---- makers
    def _make(self, node: NodeDef, slots: list[str | None], shape: tuple[int, ...] | None) -> None:
        self.lists[f"{node.name}:0"] = _List(slots, node.attr["element_dtype"].type, shape, node.name)
        self.edits.removed.add(node.name)

    def _from_tensor(self, node: NodeDef, tensor: str) -> None:
        shape = self.sv.static_shape(tensor)
        if not shape or shape[0] < 0:
            raise ShapeError(f"node {node.name!r} (TensorListFromTensor) splits a tensor of shape "
                             f"{list(shape) if shape else 'unknown'} whose first dim is not static; fix the time "
                             "dimension with --input_shapes")
        unpack = _node(unique_name(self.by_name, f"{node.name}/unstack"), "Unpack", [tensor])
        unpack.attr["T"].type = node.attr["element_dtype"].type
        unpack.attr["num"].i = shape[0]
        unpack.attr["axis"].i = 0
        if shape[0]:
            self.edits.added.append(unpack)
        slots = [f"{unpack.name}:{k}" for k in range(shape[0])]
        self._make(node, list(slots), shape[1:])
        self.lists[f"{node.name}:0"].source = (tensor, slots)

    # ---- writers (the node disappears; its output is a new list value)
    def _set_item(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        i = int(self._value(node, data[1], "the index"))
        slots = list(lst.slots)
        if i >= len(slots) and node.attr["resize_if_index_out_of_bounds"].b:
            slots.extend([None] * (i + 1 - len(slots)))
        if not 0 <= i < len(slots):
            raise ConversionError(f"node {node.name!r} writes element {i} of a TensorList of {len(slots)}; the "
                                  "model would fail in TensorFlow too")
        slots[i] = tensor_key(data[2])
        self._derive(node, lst, slots)

    def _push_back(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        self._derive(node, lst, [*lst.slots, tensor_key(data[1])])

    def _pop_back(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        if not lst.slots:
            raise ConversionError(f"node {node.name!r} pops from an empty TensorList")
        self.edits.mapping[f"{node.name}:1"] = self._slot(node, lst, len(lst.slots) - 1)
        self._derive(node, lst, lst.slots[:-1])

    def _identity(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        self._derive(node, lst, lst.slots)

    def _derive(self, node: NodeDef, lst: _List, slots: list[str | None]) -> None:
        self.lists[f"{node.name}:0"] = _List(slots, lst.dtype, lst.shape, lst.origin, lst.source)
        self.edits.removed.add(node.name)

    # ---- readers (the node is replaced under the same name)
    def _get_item(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        item = self._slot(node, lst, int(self._value(node, data[1], "the index")))
        self._replace(node, "Identity", [item], lst.dtype)

    def _stack(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        self._pack(node, lst, list(range(len(lst.slots))))

    def _gather(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        indices = np.asarray(self._value(node, data[1], "the indices")).reshape(-1)
        self._pack(node, lst, [int(i) for i in indices])

    def _pack(self, node: NodeDef, lst: _List, indices: list[int]) -> None:
        if not indices:
            raise ConversionError(f"node {node.name!r} ({node.op}) stacks an empty TensorList; TFLite has no "
                                  "zero-size tensors")
        items = [self._slot(node, lst, i) for i in indices]
        if lst.source is not None and items == lst.source[1]:  # stacks back what FromTensor split: x itself
            self._replace(node, "Identity", [lst.source[0]], lst.dtype)
            return
        if len(items) == 1:  # a reshape keeps the element's quantization (a one-input pack is requantized)
            axis = const_node(unique_name(self.by_name, f"{node.name}/axis"), np.array(0, np.int32))
            self.edits.added.append(axis)
            expand = self._replace(node, "ExpandDims", [items[0], axis.name], lst.dtype)
            expand.attr["Tdim"].type = axis.attr["dtype"].type
            return
        pack = self._replace(node, "Pack", items, lst.dtype)
        pack.attr["N"].i = len(items)
        pack.attr["axis"].i = 0

    def _length(self, node: NodeDef, lst: _List, data: list[str]) -> None:
        self.edits.replaced[node.name] = const_node(node.name, np.array(len(lst.slots), np.int32))

    def _replace(self, node: NodeDef, op: str, inputs: list[str], dtype: int) -> NodeDef:
        new = _node(node.name, op, inputs + [i for i in node.input if i.startswith("^")])
        new.attr["T"].type = dtype
        self.edits.replaced[node.name] = new
        return new

    # ---- helpers
    def _slot(self, node: NodeDef, lst: _List, i: int) -> str:
        if not 0 <= i < len(lst.slots):
            raise ConversionError(f"node {node.name!r} ({node.op}) reads element {i} of a TensorList of "
                                  f"{len(lst.slots)} (made by {lst.origin!r}); the model would fail in TensorFlow too")
        return lst.slots[i] or self._zeros_for(node, lst)

    def _zeros_for(self, node: NodeDef, lst: _List) -> str:
        """The zeros TensorFlow reads from an element never written."""
        if lst.origin not in self._zeros:
            if lst.shape is not None and all(d >= 0 for d in lst.shape):
                zeros = const_node(unique_name(self.by_name, f"{lst.origin}/zeros"),
                                   np.zeros(lst.shape, tensorflow().as_dtype(lst.dtype).as_numpy_dtype))
            else:
                written = next((s for s in lst.slots if s is not None), None)
                if written is None:
                    raise ConversionError(f"node {node.name!r} ({node.op}) reads an element of TensorList "
                                          f"{lst.origin!r} that is never written and whose shape is not static")
                zeros = _node(unique_name(self.by_name, f"{lst.origin}/zeros"), "ZerosLike", [written])
                zeros.attr["T"].type = lst.dtype
            self.edits.added.append(zeros)
            self._zeros[lst.origin] = f"{zeros.name}:0"
        return self._zeros[lst.origin]

    def _element_shape(self, tensor: str) -> tuple[int, ...] | None:
        if not self.sv.is_static(tensor):
            return None
        value = self.sv.evaluate([tensor])[0]
        return None if value.ndim == 0 else tuple(int(d) for d in value)

    def _value(self, node: NodeDef, tensor: str, what: str) -> np.ndarray:
        src = self.by_name.get(node_of(tensor))
        if src is not None and src.op == "Const" and STORED_MARK not in src.attr:  # (a stored one has no value)
            return tensorflow().make_ndarray(src.attr["value"].tensor)
        if not self.sv.is_static(tensor):
            raise ConversionError(f"node {node.name!r} ({node.op}): {what} ({tensor}) is not a constant once the "
                                  "loops are unrolled; only TensorLists with static indices can be converted")
        return self.sv.evaluate([tensor])[0]


def _node(name: str, op: str, inputs: list[str]) -> NodeDef:
    node = tensorflow().compat.v1.NodeDef(name=name, op=op)
    node.input.extend(inputs)
    return node
