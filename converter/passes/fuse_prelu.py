"""PReLU: the subgraphs Keras and TensorFlow write for a parametric ReLU become one PRELU op.

    prelu(x, alpha) = max(x, 0) + alpha * min(x, 0)        (alpha constant, broadcast against x)

Matched forms, with p = relu(x) (or maximum(x, 0)) and k a product of constants (in any nesting):
    add(p, k * relu(-x))     tf_keras and Keras 3 (k = -alpha):   relu(-x) = -min(x, 0)  ->  alpha = -k
    sub(p, k * relu(-x))     relu(x) - alpha * relu(-x):                                 ->  alpha =  k
    add(p, k * (x - |x|))    Keras 1/2's  alpha * (x - abs(x)) * 0.5:  x - |x| = 2 min(x, 0)  ->  alpha = 2k
    add(p, k * min(x, 0))                                                                ->  alpha =  k
The add may take its operands in either order. Every intermediate must have no other reader, x must be float32
and alpha must broadcast to x's shape. alpha is written with x's full shape when it has as many elements (LiteRT's
kernel then takes its non-broadcasting path), otherwise with x's rank (the broadcasting kernel is 4-D at most).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor
from .base import no_activation, no_match, single_consumer



def _is_zero(t: Tensor) -> bool:
    return t.is_const and t.data is not None and t.data.size == 1 and float(np.asarray(t.data).reshape(())) == 0.0


def _positive_part(t: Tensor) -> Tensor | None:
    """x if ``t`` = relu(x) or maximum(x, 0)."""
    p = t.producer
    if p is None:
        return None
    if p.op == "relu":
        return p.input(0)
    if p.op == "maximum":
        a, b = p.input(0), p.input(1)
        if _is_zero(b) and not a.is_const:
            return a
        if _is_zero(a) and not b.is_const:
            return b
    return None


class FusePRelu:
    name = "fuse_prelu"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op not in ("add", "sub") or not no_activation(node) or node.output.dtype != np.float32:
                continue
            m = self._match(graph, node)
            if m is None:
                continue
            x, alpha, dead = m
            graph.replace_node(node, "prelu", [x, graph.const(f"{node.name}/alpha", alpha)])
            for d in dead:  # the matched branches, now unread, consumer first
                graph.remove_node(d)
            fired += 1
        return fired

    def _match(self, graph: Graph, node: Node) -> tuple[Tensor, np.ndarray, list[Node]] | None:
        orders = [(0, 1), (1, 0)] if node.op == "add" else [(0, 1)]
        for pi, ni in orders:
            pos, neg = node.input(pi), node.input(ni)
            x = _positive_part(pos)
            if x is None or single_consumer(graph, pos) is not node or single_consumer(graph, neg) is not node:
                continue
            branch = self._negative_part(graph, neg, x)
            if branch is None:
                continue
            factor, dead = branch
            alpha = factor if node.op == "add" else -factor
            shaped = _alpha_for(x, alpha)
            if shaped is None:
                no_match(node, f"alpha of shape {alpha.shape} does not broadcast to {x.name} {x.shape}")
                return None
            return x, shaped, [pos.producer, *dead]  # type: ignore[list-item]
        return None

    @staticmethod
    def _negative_part(graph: Graph, t: Tensor, x: Tensor) -> tuple[np.ndarray, list[Node]] | None:
        """(c, nodes) with t = c * min(x, 0) elementwise (c constant) and the nodes computing t, consumer first."""
        k = np.ones((), np.float64)
        dead: list[Node] = []
        while True:  # peel constant factors: t = k * g
            p = t.producer
            if p is None or p.op != "mul" or not no_activation(p):
                break
            a, b = p.input(0), p.input(1)
            c, g = (a, b) if a.is_const and not b.is_const else (b, a) if b.is_const and not a.is_const else (None, None)
            if c is None or g is None or (dead and single_consumer(graph, t) is not dead[-1]):
                break
            k = k * np.asarray(c.data, np.float64)
            dead.append(p)
            t = g
        if dead and single_consumer(graph, t) is not dead[-1]:
            return None
        p = t.producer
        if p is None:
            return None
        if p.op == "relu":  # relu(-x) = -min(x, 0)
            n = p.input(0).producer
            if n is not None and n.op == "neg" and n.input(0) is x and single_consumer(graph, n.output) is p:
                return -k, [*dead, p, n]
        elif p.op == "sub" and no_activation(p) and p.input(0) is x:  # x - |x| = 2 min(x, 0)
            a = p.input(1).producer
            if a is not None and a.op == "abs" and a.input(0) is x and single_consumer(graph, a.output) is p:
                return 2.0 * k, [*dead, p, a]
        elif p.op == "minimum" and ((p.input(0) is x and _is_zero(p.input(1))) or
                                    (p.input(1) is x and _is_zero(p.input(0)))):
            return k, [*dead, p]
        return None


def _alpha_for(x: Tensor, alpha: np.ndarray) -> np.ndarray | None:
    """alpha as float32 with x's shape (same size) or x's rank, or None if it would change the output's shape."""
    try:
        if np.broadcast_shapes(alpha.shape, x.shape) != tuple(x.shape):
            return None
    except ValueError:
        return None
    a = alpha.astype(np.float32)
    if a.size == x.size:
        return a.reshape(x.shape)
    if len(x.shape) > 4:
        return None
    return a.reshape((1,) * (len(x.shape) - a.ndim) + a.shape)
