"""Arithmetic that computes nothing, or something a cheaper kernel computes exactly (as TensorFlow's converter
rewrites it):

    x * 1, 1 * x, x + 0, 0 + x    -> x         (the constant all ones / zeros, the output x's shape; tf.nn.silu's
                                                x * sigmoid(1.0 * x))
    pow(x, 1)                     -> x
    pow(x, 2)                     -> x * x     (MUL has integer kernels; POW has none)
    pow(x, 0.5)                   -> sqrt(x)   (NaN below 0 in both)
    op(tile(x, m), y)             -> op(x, y)  for a broadcasting elementwise op whose output keeps its shape
                                               (the tile only repeated x along axes the op broadcasts anyway)
Only without a fused activation; a node whose output is a graph output is bypassed only when its input can take
over the output's name (graph.bypass).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor
from ..ir.attrs import FusedActivationAttrs
from .base import no_activation

_BROADCASTING = frozenset({"add", "sub", "mul", "div", "maximum", "minimum", "squared_difference", "pow",
                           "floor_div", "floor_mod", "less", "less_equal", "greater", "greater_equal", "equal",
                           "not_equal", "logical_and", "logical_or"})



def _all(t: Tensor, value: float) -> bool:
    return t.data is not None and t.data.size > 0 and bool(np.all(np.asarray(t.data) == value))


class SimplifyArithmetic:
    name = "simplify_arithmetic"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op in _BROADCASTING:
                fired += self._skip_tiles(graph, node)
            if node.op not in ("mul", "add", "pow") or not no_activation(node) or node.output.dtype.kind != "f":
                continue
            if node.op in ("mul", "add"):
                unit = 1.0 if node.op == "mul" else 0.0
                for i in (0, 1):
                    x, c = node.input(i), node.input(1 - i)
                    if not x.is_const and _all(c, unit) and x.shape == node.output.shape and x.dtype == c.dtype:
                        fired += self._bypass(graph, node, i)
                        break
            elif node.op == "pow" and node.input(1).data is not None and node.input(1).data.size == 1 \
                    and not node.input(0).is_const and node.input(0).shape == node.output.shape:
                e = float(np.asarray(node.input(1).data).reshape(()))
                x = node.input(0)
                if e == 1.0:
                    fired += self._bypass(graph, node, 0)
                elif e == 2.0:
                    graph.replace_node(node, "mul", [x, x], FusedActivationAttrs())
                    fired += 1
                elif e == 0.5:
                    graph.replace_node(node, "sqrt", [x])
                    fired += 1
        return fired

    @staticmethod
    def _bypass(graph: Graph, node: Node, index: int) -> int:
        src = node.input(index)
        if graph.is_output(node.output) and (graph.is_output(src) or src.producer is None):
            return 0
        graph.bypass(node, index)
        return 1

    @staticmethod
    def _skip_tiles(graph: Graph, node: Node) -> int:
        fired = 0
        for i, t in enumerate(node.inputs[:2]):
            tile = t.producer if t is not None else None
            if tile is None or tile.op != "tile":
                continue
            src = tile.input(0)
            others = [u.shape for j, u in enumerate(node.inputs[:2]) if j != i and u is not None]
            try:
                shape = np.broadcast_shapes(src.shape, *others)
            except ValueError:
                continue
            if tuple(shape) != tuple(node.output.shape) or len(src.shape) > 4:
                continue
            graph.set_input(node, i, src)
            if not t.uses and not graph.is_output(t):
                graph.remove_node(tile)
            fired += 1
        return fired
