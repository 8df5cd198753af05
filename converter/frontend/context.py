"""What a TF op handler sees: the NodeDef, its inputs as IR tensors, static output shapes, and ways to emit IR."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, Node, Tensor
from ..ir.attrs import Attrs

_MISSING = object()


@dataclass(frozen=True)
class TensorInfo:
    """Dtype and shape of one TF tensor, as shape inference found it. A shape that depends on a value known only at
    run time has -1 for its unknown dims, or no known rank at all (``rank_known`` False, ``shape`` empty)."""

    dtype: np.dtype
    shape: tuple[int, ...]
    rank_known: bool = True

    @property
    def dynamic(self) -> bool:
        return not self.rank_known or any(d < 0 for d in self.shape)


class HandlerError(ConversionError):
    """A handler cannot translate this particular node (e.g. an attribute value TFLite has no equivalent of)."""


def decode_attr(value: Any) -> Any:  # noqa: ANN401 - AttrValue is a protobuf message
    """A NodeDef AttrValue as a plain Python value (bytes decoded, lists as lists, tensors as numpy)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        lst = value.list
        for field in ("s", "i", "f", "b", "type", "shape", "tensor"):
            items = getattr(lst, field)
            if len(items):
                return [x.decode() if isinstance(x, bytes) else x for x in items]
        return []
    v = getattr(value, kind)
    if kind == "s":
        return v.decode(errors="replace")
    if kind == "tensor":
        from ..tf_runtime import tensorflow  # noqa: PLC0415

        return tensorflow().make_ndarray(v)
    return v


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """NumPy broadcasting of static shapes where -1 is a dim known only at run time (-1 with 1 or -1 stays -1;
    -1 with n > 1 is n, as the kernel requires)."""
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        for k, d in enumerate(s, start=rank - len(s)):
            o = out[k]
            if d == 1 or d == o:
                continue
            out[k] = d if o == 1 or (o == -1 and d > 1) else (o if d == -1 else -2)
            if out[k] == -2:
                raise ValueError(f"shapes {shapes} do not broadcast")
    return tuple(out)


@functools.cache
def registered_default(op_type: str, name: str) -> Any:  # noqa: ANN401
    """TensorFlow's registered default of attribute ``name`` of ``op_type`` (decoded), or _MISSING."""
    from tensorflow.python.framework import op_def_registry  # noqa: PLC0415

    op_def = op_def_registry.get(op_type)
    if op_def is None:
        return _MISSING
    for a in op_def.attr:
        if a.name == name and a.HasField("default_value"):
            value = decode_attr(a.default_value)
            return _MISSING if value is None else value
    return _MISSING


class ImportContext:
    """Context for translating one NodeDef. Created by the importer, passed to the node's handler."""

    def __init__(
        self,
        graph: Graph,
        node_def: Any,  # noqa: ANN401 - tensorflow.core.framework.node_def_pb2.NodeDef
        inputs: Sequence[Tensor],
        output_info: Sequence[TensorInfo],
        bind: Callable[[str, Tensor], None],
        is_weight_input: Callable[[int], bool],
        library: Any = None,  # noqa: ANN401 - the GraphDef's FunctionDefLibrary (for control-flow subgraphs)
        stored_value: np.ndarray | None = None,
    ) -> None:
        self.graph = graph
        self.node_def = node_def
        self.name: str = node_def.name
        self.op_type: str = node_def.op
        self._inputs = list(inputs)
        self._info = list(output_info)
        self._bind = bind
        self._is_weight = is_weight_input
        self._stored = stored_value
        self._outputs: dict[int, Tensor] = {}
        self.library = library

    # ---- reading the node
    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._info)

    def input(self, i: int) -> Tensor:
        return self._inputs[i]

    def inputs(self) -> list[Tensor]:
        return list(self._inputs)

    def const_input(self, i: int) -> np.ndarray | None:
        """Input ``i``'s value if it is a constant already at import (after earlier handlers folded nothing)."""
        return self._inputs[i].data

    def require_const(self, i: int, what: str) -> np.ndarray:
        data = self._inputs[i].data
        if data is None:
            raise HandlerError(
                f"node {self.name!r} ({self.op_type}): {what} (input {i}, {self._inputs[i].tf_name}) must be a "
                "constant; freeze the graph or fix the shapes with --input_shapes so it becomes one"
            )
        return data

    def const_value(self) -> np.ndarray:
        """A Const node's value: the array read beside the GraphDef (weights of a SavedModel, not copied), else
        the NodeDef's ``value`` tensor."""
        if self._stored is not None:
            return self._stored
        if "_qconvert_stored" in self.node_def.attr:  # static_values.STORED_MARK
            raise ConversionError(f"Const {self.name!r} holds no data: its value was read beside the GraphDef and "
                                  "must be passed to import_graph_def(constants=...)")
        return self.attr("value")

    def is_weight(self, i: int) -> bool:
        """True when input ``i`` is computed from constants only (weights, possibly via fake quant / folding)."""
        return self._is_weight(i)

    def attr(self, name: str, default: Any = _MISSING) -> Any:  # noqa: ANN401
        """Attribute ``name`` of the node. SavedModels and frozen graphs drop attributes that equal the op's
        registered default, so a missing attribute takes TensorFlow's default (FusedBatchNorm's epsilon is 1e-4,
        not Keras' 1e-3); ``default`` applies only to ops TensorFlow has no definition of."""
        if name in self.node_def.attr:
            value = decode_attr(self.node_def.attr[name])
            if value is not None:
                return value
        registered = registered_default(self.op_type, name)
        if registered is not _MISSING:
            return registered
        if default is _MISSING:
            raise HandlerError(f"node {self.name!r} ({self.op_type}) lacks attribute {name!r}")
        return default

    def out_info(self, i: int = 0) -> TensorInfo:
        return self._info[i]

    def fail(self, reason: str) -> HandlerError:
        return HandlerError(f"node {self.name!r} ({self.op_type}): {reason}")

    # ---- emitting IR
    def output(self, i: int = 0, shape: Sequence[int] | None = None) -> Tensor:
        """The IR tensor standing for TF output ``i`` of this node (created on first use). ``shape`` overrides the
        inferred one (a handler that knows more, e.g. the rank of a dynamic shape); -1 marks a dim known only at
        run time."""
        if i not in self._outputs:
            info = self._info[i]
            tf_name = self.name if i == 0 else f"{self.name}:{i}"
            if shape is None:
                shape = info.shape if info.rank_known else self._unranked(i)
            t = self.graph.tensor(tf_name, info.dtype, shape, tf_name=tf_name)
            self._outputs[i] = t
            self._bind(f"{self.name}:{i}", t)
        return self._outputs[i]

    def _unranked(self, i: int) -> tuple[int, ...]:
        """The shape of an output whose rank TensorFlow cannot tell: for elementwise ops, the inputs' broadcast."""
        from .registry import ELEMENTWISE  # noqa: PLC0415

        if self.op_type in ELEMENTWISE:
            try:
                return broadcast_shapes(*(t.shape for t in self._inputs))
            except ValueError:
                pass
        raise self.fail(f"the rank of output {i} depends on a value known only at run time, which TFLite cannot "
                        "express here; make the operands that decide it constants")

    def alias(self, i: int, tensor: Tensor) -> None:
        """TF output ``i`` of this node is ``tensor`` (pass-through ops)."""
        self._outputs[i] = tensor
        self._bind(f"{self.name}:{i}", tensor)

    def const_output(self, i: int, data: np.ndarray) -> Tensor:
        """TF output ``i`` of this node is the constant ``data``."""
        tf_name = self.name if i == 0 else f"{self.name}:{i}"
        t = self.graph.const(tf_name, np.asarray(data), tf_name=tf_name)
        self.alias(i, t)
        return t

    def const(self, suffix: str, data: np.ndarray) -> Tensor:
        return self.graph.const(f"{self.name}/{suffix}", np.asarray(data))

    def intermediate(self, suffix: str, dtype: np.dtype | type, shape: Sequence[int]) -> Tensor:
        return self.graph.tensor(f"{self.name}/{suffix}", dtype, shape, tf_name=self.name)

    def emit(
        self,
        op: str,
        inputs: Sequence[Tensor | None],
        attrs: Attrs | None = None,
        outputs: Sequence[Tensor] | None = None,
        suffix: str | None = None,
    ) -> Node:
        """Add an IR node; by default its single output is TF output 0 of this node.

        Integer computations on constants (shape arithmetic: Shape -> StridedSlice -> Pack -> ConcatV2 ...) are
        folded right here, so that later handlers can read them as constants (permutations, shapes, axes). Float
        constant subgraphs (weights) are left to the FoldConstants pass."""
        outs = list(outputs) if outputs is not None else [self.output(0)]
        name = self.name if suffix is None else f"{self.name}/{suffix}"
        node = self.graph.add_node(op, inputs, outs, attrs, name=name, tf_op=self.op_type)
        present = [t for t in inputs if t is not None]
        if (present and all(t.is_const for t in present) and all(t.dtype.kind in "biu" for t in outs)
                and not node.stateful):
            from .reference import evaluate_node  # noqa: PLC0415 (TensorFlow)

            self.graph.fold(node, evaluate_node(node, [None if t is None else t.data for t in inputs]))
        return node
