"""maximum(x, a * x) with a constant scalar a <= 1 becomes LEAKY_RELU(alpha=a):
    x >= 0:  a x <= x  -> x;      x < 0:  a x >= x  -> a x;      which is leaky_relu(x, a) (for a < 0 too).
Either operand order of the maximum and of the multiplication; the product must have no other reader. TensorFlow's
converter matches maximum(a * x, x) only; here both orders fuse (one kernel instead of MUL and MAXIMUM)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph
from ..ir.attrs import LeakyReluAttrs
from .base import no_activation, single_consumer


class FuseLeakyRelu:
    name = "fuse_leaky_relu"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op != "maximum" or node.output.dtype != np.float32:
                continue
            for xi, mi in ((0, 1), (1, 0)):
                x, m = node.input(xi), node.input(mi)
                mul = m.producer
                if mul is None or mul.op != "mul" or single_consumer(graph, m) is not node or not no_activation(mul):
                    continue
                a, b = mul.input(0), mul.input(1)
                c = b if a is x else a if b is x else None
                if c is None or c.data is None or c.data.size != 1 or node.output.shape != x.shape:
                    continue
                alpha = float(np.asarray(c.data).reshape(()))
                if alpha > 1.0:
                    continue
                graph.replace_node(node, "leaky_relu", [x], LeakyReluAttrs(alpha=alpha))
                graph.remove_node(mul)
                fired += 1
                break
        return fired
