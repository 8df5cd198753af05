"""The IR graph: inputs, outputs, nodes in topological order, and the only methods that change edges."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .attrs import Attrs
from .node import Node
from .tensor import Tensor


class GraphError(Exception):
    """An edit would break the graph's invariants (a bug in a pass, not a user error)."""


def subgraphs_of(node: Node) -> tuple[Graph, ...]:
    """The graphs a control-flow node runs (a while's cond and body, an if's branches); () for other nodes."""
    return getattr(node.attrs, "subgraphs", ())


@dataclass(frozen=True)
class Signature:
    """The names a runtime user calls the model's inputs and outputs by (TFLite SignatureDef)."""

    key: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]


class Graph:
    """A dataflow graph. Passes read ``nodes``/``inputs``/``outputs`` and edit only through the methods below."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self._nodes: list[Node] = []
        self._inputs: list[Tensor] = []
        self._outputs: list[Tensor] = []
        self._names: set[str] = set()
        self._node_names: set[str] = set()
        self.signature: Signature | None = None

    # ---- reading
    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(self._nodes)

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return tuple(self._outputs)

    def tensors(self) -> Iterator[Tensor]:
        """Every tensor reachable from a node or graph edge, each once, inputs first then in node order."""
        seen: set[int] = set()
        for t in self._iter_all_tensors():
            if id(t) not in seen:
                seen.add(id(t))
                yield t

    def _iter_all_tensors(self) -> Iterator[Tensor]:
        yield from self._inputs
        for n in self._nodes:
            for t in n.inputs:
                if t is not None:
                    yield t
            yield from n.outputs
        yield from self._outputs

    def is_output(self, t: Tensor) -> bool:
        return any(o is t for o in self._outputs)

    def all_graphs(self) -> list[Graph]:
        """This graph and every graph its control-flow nodes run, nested ones too: depth first, each once, this
        graph first (the order subgraphs are numbered in a .tflite)."""
        out: list[Graph] = []
        seen: set[int] = set()
        stack: list[Graph] = [self]
        while stack:
            g = stack.pop()
            if id(g) in seen:
                continue
            seen.add(id(g))
            out.append(g)
            stack.extend(reversed([s for n in g._nodes for s in subgraphs_of(n)]))
        return out

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self._nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items()))

    def copy(self) -> Graph:
        """An independent graph with the same nodes, tensors (names, ranges and quantization included) and
        signature. Constant data is shared, not copied: edits replace constants, never write into their arrays."""
        new = Graph(self.name)
        new.signature = self.signature
        new._names = set(self._names)
        new._node_names = set(self._node_names)
        twin: dict[int, Tensor] = {}

        def copied(t: Tensor) -> Tensor:
            c = twin.get(id(t))
            if c is None:
                c = Tensor(t.name, t.dtype, t.shape, data=t.data, tf_name=t.tf_name)
                c.qrange, c.quant = t.qrange, t.quant
                twin[id(t)] = c
            return c

        new._inputs = [copied(t) for t in self._inputs]
        for n in self._nodes:
            node = Node(n.op, n.name, [None if t is None else copied(t) for t in n.inputs],
                        [copied(t) for t in n.outputs], n.attrs, n.tf_op)
            for t in node.outputs:
                t.producer = node
            for x in node.inputs:
                if x is not None:
                    x.uses.append(node)
            new._nodes.append(node)
        new._outputs = [copied(t) for t in self._outputs]
        return new

    # ---- creating
    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            name = f"{base}_{i}"
            i += 1
        self._names.add(name)
        return name

    def tensor(self, name: str, dtype: np.dtype | type, shape: Sequence[int], tf_name: str | None = None) -> Tensor:
        """A new non-constant tensor with a name unique in this graph."""
        return Tensor(self.unique_name(name), dtype, tuple(shape), tf_name=tf_name)

    def const(self, name: str, data: np.ndarray, tf_name: str | None = None) -> Tensor:
        """A new constant tensor holding ``data`` (not copied)."""
        arr = np.asarray(data)
        return Tensor(self.unique_name(name), arr.dtype, arr.shape, data=arr, tf_name=tf_name)

    def add_input(self, t: Tensor) -> None:
        self._inputs.append(t)

    def set_graph_inputs(self, inputs: Sequence[Tensor]) -> None:
        """Make ``inputs`` the graph's inputs, in this order: current inputs, and new tensors that nothing produces
        (a subgraph argument its body never reads). Every current input must stay one."""
        if any(t.producer is not None or t.is_const for t in inputs):
            raise GraphError("a graph input must be a tensor that no node produces and that is not a constant")
        missing = [t.name for t in self._inputs if not any(t is x for x in inputs)]
        if missing:
            raise GraphError(f"set_graph_inputs would drop input(s) {', '.join(missing)}")
        self._inputs = list(inputs)
        self._names.update(t.name for t in inputs)

    def replace_input(self, old: Tensor, new: Tensor) -> None:
        """Make ``new`` (a fresh tensor) the graph input in ``old``'s place; ``old`` must get a producer next."""
        self._inputs = [new if t is old else t for t in self._inputs]
        self._names.add(new.name)

    def set_outputs(self, outputs: Sequence[Tensor]) -> None:
        self._outputs = list(outputs)

    def add_node(
        self,
        op: str,
        inputs: Sequence[Tensor | None],
        outputs: Sequence[Tensor],
        attrs: Attrs | None = None,
        name: str | None = None,
        tf_op: str | None = None,
        after: Node | None = None,
        before: Node | None = None,
    ) -> Node:
        """Create a node. It goes at the end, or right after/before a given node to keep topological order."""
        for t in outputs:
            if t.producer is not None:
                raise GraphError(f"tensor {t.name} already has producer {t.producer.name}")
            if t.is_const:
                raise GraphError(f"constant tensor {t.name} cannot be a node output")
        node_name = name or (outputs[0].name if outputs else op)
        base, i = node_name, 1
        while node_name in self._node_names:
            node_name = f"{base}_{i}"
            i += 1
        self._node_names.add(node_name)
        node = Node(op, node_name, list(inputs), list(outputs), attrs, tf_op)
        for t in outputs:
            t.producer = node
            self._names.add(t.name)
        for t in inputs:
            if t is not None:
                t.uses.append(node)
                self._names.add(t.name)
        if after is not None:
            self._nodes.insert(self._index(after) + 1, node)
        elif before is not None:
            self._nodes.insert(self._index(before), node)
        else:
            self._nodes.append(node)
        return node

    # ---- editing
    def _index(self, node: Node) -> int:
        for i, n in enumerate(self._nodes):
            if n is node:
                return i
        raise GraphError(f"node {node.name} is not in graph")

    def set_input(self, node: Node, index: int, t: Tensor | None) -> None:
        """Point input ``index`` of ``node`` at ``t`` (None clears an optional input)."""
        old = node._inputs[index] if index < len(node._inputs) else None
        if old is not None:
            old.uses.remove(node)
        while len(node._inputs) <= index:
            node._inputs.append(None)
        node._inputs[index] = t
        if t is not None:
            t.uses.append(node)

    def set_inputs(self, node: Node, inputs: Sequence[Tensor | None]) -> None:
        for t in node._inputs:
            if t is not None:
                t.uses.remove(node)
        node._inputs = list(inputs)
        for t in node._inputs:
            if t is not None:
                t.uses.append(node)

    def set_attrs(self, node: Node, attrs: Attrs) -> None:
        node.attrs = attrs

    def replace_all_uses(self, old: Tensor, new: Tensor) -> None:
        """Every reader of ``old`` (nodes and graph outputs) reads ``new`` instead."""
        if old is new:
            return
        for node in list(old.uses):
            for i, t in enumerate(node._inputs):
                if t is old:
                    node._inputs[i] = new
                    new.uses.append(node)
        old.uses.clear()
        self._outputs = [new if o is old else o for o in self._outputs]

    def replace_output(self, node: Node, index: int, t: Tensor) -> None:
        """Make ``t`` (a tensor with no producer) output ``index`` of ``node``; the old output loses its producer."""
        if t.producer is not None:
            raise GraphError(f"tensor {t.name} already has producer {t.producer.name}")
        old = node._outputs[index]
        old.producer = None
        node._outputs[index] = t
        t.producer = node

    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs nobody reads any more (refused, with the graph unchanged, otherwise)."""
        for t in node._outputs:
            if t.uses or self.is_output(t):
                raise GraphError(f"cannot remove {node.name}: output {t.name} is still used")
        for t in node._outputs:
            t.producer = None
        for t in node._inputs:
            if t is not None:
                t.uses.remove(node)
        del self._nodes[self._index(node)]
        self._node_names.discard(node.name)

    def bypass(self, node: Node, input_index: int = 0) -> None:
        """Remove a single-output node that passes input ``input_index`` through unchanged. When the node's
        output is a graph output, the input takes over its name (users address outputs by name)."""
        src = node.input(input_index)
        out = node.output
        if not self.is_output(out):
            self.replace_all_uses(out, src)
            self.remove_node(node)
            return
        if self.is_output(src) or any(src is t for t in self._inputs) or src.is_const:
            raise GraphError(f"cannot bypass {node.name}: it connects {src.name} directly to an output")
        self.replace_all_uses(out, src)
        self.remove_node(node)
        self.rename(src, out.name)
        src.tf_name = out.tf_name

    def fold(self, node: Node, values: Sequence[np.ndarray]) -> None:
        """Replace ``node`` by constants: each output tensor keeps its identity (name, uses, range) and takes the
        corresponding value as its data."""
        if len(values) != len(node._outputs):
            raise GraphError(f"fold of {node.name}: {len(values)} values for {len(node._outputs)} outputs")
        for t, v in zip(node._outputs, values, strict=True):
            t.producer = None
            t.data = np.asarray(v)
            t.dtype = t.data.dtype
            t.shape = tuple(t.data.shape)
        node._outputs.clear()
        for i in node._inputs:
            if i is not None:
                i.uses.remove(node)
        del self._nodes[self._index(node)]
        self._node_names.discard(node.name)

    def absorb(self, node: Node, consumer: Node) -> None:
        """Fuse ``consumer`` (which reads ``node``'s single output and nothing else non-constant) into ``node``:
        ``node`` now produces the consumer's output tensor, the consumer and ``node``'s old output disappear."""
        mid = node.output
        if any(u is not consumer for u in mid.uses) or self.is_output(mid):
            raise GraphError(f"cannot absorb {consumer.name}: {mid.name} has other readers")
        out = consumer.output
        for t in consumer._inputs:
            if t is not None:
                t.uses.remove(consumer)
        del self._nodes[self._index(consumer)]
        self._node_names.discard(consumer.name)
        mid.producer = None
        out.producer = node
        node._outputs[0] = out

    def replace_node(self, node: Node, op: str, inputs: Sequence[Tensor | None], attrs: Attrs | None = None) -> Node:
        """A new node computing ``node``'s outputs with another op/inputs, in ``node``'s place."""
        outs = list(node._outputs)
        idx = self._index(node)
        for t in node._inputs:
            if t is not None:
                t.uses.remove(node)
        for t in outs:
            t.producer = None
        del self._nodes[idx]
        self._node_names.discard(node.name)
        new = Node(op, node.name, list(inputs), outs, attrs, node.tf_op)
        self._node_names.add(node.name)
        for t in outs:
            t.producer = new
        for t in inputs:
            if t is not None:
                t.uses.append(new)
        self._nodes.insert(idx, new)
        return new

    def rename(self, t: Tensor, name: str) -> None:
        """Give ``t`` a name (freeing its old one); the holder of ``name``, if any, gets a fresh name."""
        self._names.discard(t.name)
        for other in self.tensors():
            if other is not t and other.name == name:
                other.name = self.unique_name(name + "_")
        t.name = name
        self._names.add(name)

    def toposort(self) -> None:
        """Reorder nodes so every node follows the producers of its inputs (stable for already-sorted graphs)."""
        order: list[Node] = []
        state: dict[int, int] = {}
        for root in self._nodes:
            stack: list[tuple[Node, bool]] = [(root, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    state[id(node)] = 2
                    order.append(node)
                    continue
                s = state.get(id(node), 0)
                if s == 2:
                    continue
                if s == 1:
                    raise GraphError(f"cycle through node {node.name}")
                state[id(node)] = 1
                stack.append((node, True))
                for t in reversed(node._inputs):
                    if t is not None and t.producer is not None and state.get(id(t.producer), 0) != 2:
                        if state.get(id(t.producer), 0) == 1:
                            raise GraphError(f"cycle through node {t.producer.name}")
                        stack.append((t.producer, False))
        self._nodes = order

    def validate(self) -> None:
        """Check producer/uses bookkeeping and topological order; raise GraphError on the first violation."""
        position = {id(n): i for i, n in enumerate(self._nodes)}
        for i, n in enumerate(self._nodes):
            for t in n._inputs:
                if t is None:
                    continue
                if t.producer is not None and position.get(id(t.producer), len(self._nodes)) >= i:
                    raise GraphError(f"node {n.name} reads {t.name} before it is produced")
                if t.producer is None and not t.is_const and not any(t is x for x in self._inputs):
                    raise GraphError(f"node {n.name} reads {t.name}, which nothing produces")
                if sum(1 for u in t.uses if u is n) != sum(1 for x in n._inputs if x is t):
                    raise GraphError(f"use list of {t.name} is out of date for {n.name}")
            for t in n._outputs:
                if t.producer is not n:
                    raise GraphError(f"{t.name} does not name {n.name} as producer")
        for t in self.tensors():
            for u in t.uses:
                if id(u) not in position or not any(x is t for x in u._inputs):
                    raise GraphError(f"use list of {t.name} names {u.name}, which does not read it")
        for t in self._outputs:
            if t.producer is None and not t.is_const and not any(t is x for x in self._inputs):
                raise GraphError(f"graph output {t.name} is produced by nothing")
        for n in self._nodes:
            subgraphs = subgraphs_of(n)
            if not subgraphs:
                continue
            why = n.attrs.arity_error(len(n._inputs), len(n._outputs))  # type: ignore[union-attr]
            if why is not None:
                raise GraphError(f"node {n.name} ({n.op}) does not fit its subgraphs: {why}")
            for g in subgraphs:
                g.validate()

    def consumers_of(self, nodes: Iterable[Node]) -> list[Node]:
        out: list[Node] = []
        for n in nodes:
            for t in n.outputs:
                out.extend(t.consumers)
        return out
