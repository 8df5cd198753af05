"""(a - b)^2 becomes one SQUARED_DIFFERENCE (as TensorFlow's converter writes it), and a ReLU after it goes.

    mul(d, d), d = sub(a, b)      -> squared_difference(a, b)
    mul(d, d), d = add(a, c)      -> squared_difference(a, -c)     (c constant: CanonicalizeArithmetic's a - c)
    relu(squared_difference(a, b)) -> squared_difference(a, b)     (a square is never negative)
square(d) reaches here as mul(d, d). d must have no other reader. One kernel instead of two: one rounding less in
integer modes (int8 SQUARED_DIFFERENCE), one pass over memory less in float.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import no_activation, single_consumer



class FuseSquaredDifference:
    name = "fuse_squared_difference"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op == "mul" and no_activation(node) and node.inputs[0] is node.inputs[1]:
                fired += self._square_of_difference(graph, node)
            elif node.op == "relu":
                sd = node.input(0).producer
                if sd is not None and sd.op == "squared_difference" and \
                        single_consumer(graph, node.input(0)) is node and self._can_bypass(graph, node):
                    graph.bypass(node)
                    fired += 1
        return fired

    @staticmethod
    def _can_bypass(graph: Graph, node: Node) -> bool:
        return not graph.is_output(node.output) or not graph.is_output(node.input(0))

    @staticmethod
    def _square_of_difference(graph: Graph, node: Node) -> int:
        d = node.input(0)
        p = d.producer
        if p is None or graph.is_output(d) or any(u is not node for u in d.uses) or not no_activation(p):
            return 0
        if d.dtype != np.float32:
            return 0
        if p.op == "sub":
            a, b = p.input(0), p.input(1)
        elif p.op == "add" and (p.input(1).is_const or p.input(0).is_const):
            a, c = (p.input(0), p.input(1)) if p.input(1).is_const else (p.input(1), p.input(0))
            if a.is_const:
                return 0
            b = graph.const(f"{p.name}/negated", (-np.asarray(c.data)).astype(c.dtype))
        else:
            return 0
        if np.broadcast_shapes(a.shape, b.shape) != d.shape:
            return 0
        graph.replace_node(node, "squared_difference", [a, b])
        graph.remove_node(p)
        return 1
