"""Values of GraphDef tensors that constants and static shapes alone determine, computed by TensorFlow itself.

Control-flow unrolling needs exact integers: a loop's trip count, an ``If`` predicate, a ``TensorList`` index. A
tensor is *static* when every path back from it ends at a ``Const``, at a ``Shape``/``Size``/``Rank`` of a tensor
whose static shape (TensorFlow's shape inference) answers it, or at a placeholder the caller will feed (``known``).
Static tensors are evaluated by running the graph in a TensorFlow session with the shape ops fed their static
values, so nothing upstream of them (the model's inputs) is ever needed.

An op TensorFlow cannot run (a custom op: its type unregistered, or registered by --custom_opdefs with a kernel
that computes nothing, or without a CPU kernel) is never static, nor is anything that reads it. Nodes whose op
type TensorFlow does not register at all are cut out, with everything downstream of them, before the graph is
imported into TensorFlow (which refuses unknown op types): they are absent from ``topological`` and not static.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import InputError
from ..tf_runtime import tensorflow
from .graph_edits import GraphDef, data_inputs, drop_colocation, node_of, tensor_key
from .handlers.custom import tf_has_kernel

# saved_model_reader.STORED_MARK (that module imports this one): a Const whose value is kept beside the GraphDef.
STORED_MARK = "_qconvert_stored"
_PLACEHOLDERS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"})
_SHAPE_OPS = frozenset({"Shape", "Size", "Rank"})


@dataclass(frozen=True)
class Blockers:
    """Why a tensor is not static: inputs whose unknown dims its value depends on (name -> shape with -1 for
    unknown), and the placeholders whose values it depends on."""

    shapes: Mapping[str, tuple[int, ...]]
    values: tuple[str, ...]


class StaticValues:
    """The static tensors of one GraphDef and their values. Use as a context manager (it holds a session)."""

    def __init__(self, graph_def: Any, known: Collection[str] = ()) -> None:  # noqa: ANN401 - GraphDef
        tf = tensorflow()
        self._tf = tf
        values_only = _registered_part(graph_def)
        for node in values_only.node:  # control edges order side effects; a value never needs them
            drop_colocation(node)
            if any(i.startswith("^") for i in node.input):
                data = data_inputs(node)
                del node.input[:]
                node.input.extend(data)
        self.graph = tf.Graph()
        try:
            with self.graph.as_default():
                tf.graph_util.import_graph_def(values_only, name="")
        except (ValueError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"TensorFlow cannot build the graph ({first}); the GraphDef or the --input_shapes "
                             "given for it are inconsistent") from None
        self._session: Any = None
        self.set_known(known)

    def __enter__(self) -> StaticValues:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def set_known(self, known: Collection[str]) -> None:
        """Treat the placeholders named in ``known`` as static (their values are fed to ``evaluate``)."""
        self._known = frozenset(known)
        self._static: dict[str, bool] = {}
        self._shape_feeds: dict[Any, np.ndarray] = {}
        for op in self.graph.get_operations():  # creation order is topological for an imported graph
            self._static[op.name] = self._classify(op)

    def _classify(self, op: Any) -> bool:  # noqa: ANN401 - tf.Operation
        tf = self._tf
        if op.type == "Const":
            # A weight read beside the GraphDef (saved_model_reader.STORED_MARK) has no value here: TensorFlow would
            # take its empty tensor for zeros. Its shape stays static.
            return STORED_MARK not in op.node_def.attr
        if op.type in _PLACEHOLDERS:
            return op.name in self._known
        if op.type in _SHAPE_OPS:
            shape = op.inputs[0].shape
            if op.type == "Rank" and shape.rank is not None:
                value: Any = shape.rank
            elif shape.is_fully_defined():
                value = shape.as_list() if op.type == "Shape" else int(np.prod(shape.as_list()))
            else:
                return False
            self._shape_feeds[op.outputs[0]] = np.asarray(value, dtype=op.outputs[0].dtype.as_numpy_dtype)
            return True
        if op.type == "StridedSlice" and op.inputs[0].op.type == "Shape" and not self._static[op.inputs[0].op.name]:
            return self._known_dims(op)
        if any(t.dtype in (tf.variant, tf.resource) for t in (*op.inputs, *op.outputs)):
            return False
        if not _runs_in_tf(op.type):
            return False
        try:
            stateful = op.op_def.is_stateful
        except (AttributeError, ValueError):  # a library function used as an op
            return False
        return not stateful and len(op.inputs) > 0 and all(self._static[t.op.name] for t in op.inputs)

    def _known_dims(self, op: Any) -> bool:  # noqa: ANN401 - tf.Operation
        """StridedSlice(Shape(x)) is static when it selects only dims of x that are known: the slice applied to
        [0, 1, ..., rank-1] says which dims it selects."""
        tf = self._tf
        shape = op.inputs[0].op.inputs[0].shape
        if shape.rank is None or not all(self._static[t.op.name] for t in op.inputs[1:]):
            return False
        begin, end, strides = self.evaluate([t.name for t in op.inputs[1:]])
        masks = {k: op.get_attr(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                            "shrink_axis_mask")}
        picked = np.asarray(tf.strided_slice(np.arange(shape.rank), begin, end, strides, **masks))
        dims = np.array([-1 if d is None else d for d in shape.as_list()])
        if np.any(dims[picked] < 0):
            return False
        self._shape_feeds[op.outputs[0]] = dims[picked].astype(op.outputs[0].dtype.as_numpy_dtype)
        return True

    def _tensor(self, name: str) -> Any:  # noqa: ANN401 - tf.Tensor
        return self.graph.get_tensor_by_name(tensor_key(name))

    def _present(self, name: str) -> bool:
        """Whether ``name``'s node was imported (not cut out as, or below, an op TensorFlow does not register)."""
        return node_of(name) in self._static

    def topological(self) -> list[str]:
        """Node names in topological order (TensorFlow creates an imported graph's ops in that order)."""
        return [op.name for op in self.graph.get_operations()]

    def is_static(self, name: str) -> bool:
        return self._present(name) and self._static[self._tensor(name).op.name]

    def static_shape(self, name: str) -> tuple[int, ...] | None:
        """The shape TensorFlow infers for ``name``, -1 for unknown dims; None for an unknown rank (or a tensor cut
        out of the graph TensorFlow evaluates)."""
        if not self._present(name):
            return None
        shape = self._tensor(name).shape
        return None if shape.rank is None else tuple(-1 if d is None else int(d) for d in shape.as_list())

    def evaluate(self, names: Sequence[str], feeds: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """Values of the static tensors ``names``; ``feeds`` gives the known placeholders' values."""
        if self._session is None:
            self._session = self._tf.compat.v1.Session(graph=self.graph)
        feed_dict = dict(self._shape_feeds)
        feed_dict.update({self._tensor(k): v for k, v in (feeds or {}).items()})
        return [np.asarray(v) for v in self._session.run([self._tensor(n) for n in names], feed_dict)]

    def blockers(self, name: str) -> Blockers:
        """What keeps ``name`` from being static: unknown shapes it reads, placeholders it reads (none for a tensor
        cut out of the graph: an op TensorFlow does not register keeps it from being static)."""
        if not self._present(name):
            return Blockers({}, ())
        shapes: dict[str, tuple[int, ...]] = {}
        values: list[str] = []
        seen: set[str] = set()
        stack = [self._tensor(name).op]
        while stack:
            op = stack.pop()
            if op.name in seen or self._static[op.name]:
                continue
            seen.add(op.name)
            if op.type in _SHAPE_OPS:
                for src in self._placeholders_above(op.inputs[0].op):
                    shapes[src.name] = self.static_shape(src.name) or ()
            elif op.type in _PLACEHOLDERS:
                values.append(op.name)
            else:
                stack.extend(t.op for t in op.inputs)
        return Blockers(shapes, tuple(sorted(values)))

    def _placeholders_above(self, start: Any) -> list[Any]:  # noqa: ANN401 - tf.Operation
        found, seen, stack = [], set(), [start]
        while stack:
            op = stack.pop()
            if op.name in seen:
                continue
            seen.add(op.name)
            if op.type in _PLACEHOLDERS:
                found.append(op)
            stack.extend(t.op for t in op.inputs)
        return found


# Op types TensorFlow registers with a real CPU kernel (a registration is never withdrawn, so a hit stays true).
_RUNNABLE: set[str] = set()


def _runs_in_tf(op_type: str) -> bool:
    if op_type not in _RUNNABLE and tf_has_kernel(op_type):
        _RUNNABLE.add(op_type)
    return op_type in _RUNNABLE


def _registered_part(graph_def: GraphDef) -> GraphDef:
    """A copy of ``graph_def`` without the nodes whose op type TensorFlow does not register (neither an op nor a
    function of the graph's library) and without everything that reads them, directly or not."""
    from tensorflow.python.framework import op_def_registry  # noqa: PLC0415 - tensorflow() imported it

    functions = {f.signature.name for f in graph_def.library.function}
    cut = {n.name for n in graph_def.node if n.op not in functions and op_def_registry.get(n.op) is None}
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    if not cut:
        return out
    reads: dict[str, list[str]] = {}
    for n in graph_def.node:
        for i in data_inputs(n):  # the graph evaluated has no control edges
            reads.setdefault(node_of(i), []).append(n.name)
    stack = list(cut)
    while stack:
        for reader in reads.get(stack.pop(), ()):
            if reader not in cut:
                cut.add(reader)
                stack.append(reader)
    kept = [n for n in out.node if n.name not in cut]
    del out.node[:]
    out.node.extend(kept)
    return out


def truth(value: np.ndarray) -> bool:
    """TensorFlow's truth value of a While condition or If predicate: a scalar is true when nonzero (non-empty for a
    string), any other tensor when it has elements."""
    arr = np.asarray(value)
    if arr.ndim:
        return bool(arr.size)
    item = arr.item()
    return bool(len(item)) if isinstance(item, bytes) else bool(item)
