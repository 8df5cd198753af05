"""x * rsqrt(max(sum(x^2), eps)) over the last axis (tf.math.l2_normalize) becomes one L2_NORMALIZATION.

LiteRT's float kernel computes y = x / max(||x||, 1e-6) = x * rsqrt(max(s, 1e-12)) with s = sum(x^2) over the
last axis. Matched forms, with s = sum(x * x, last axis, keep_dims) (square(x) is x * x after canonicalization)
and the multiplication in either order:
    x * rsqrt(max(s, eps))   equal to the kernel wherever s >= max(eps, 1e-12), i.e. everywhere but near-zero
                             vectors (tf.math.l2_normalize's default eps is 1e-12: equal everywhere);
    x * rsqrt(s + eps)       relative difference <= eps / (2 s);
    x * rsqrt(s), x / sqrt(...) of any of these.
Refuses when eps > 1e-6 (the kernel's floor would change results of ordinary vectors), when the sum is not over the
last axis only or drops it, when x has more than 4 dimensions (the kernel's limit), or an intermediate has another
reader. The integer kernels write the fixed output scale 1/128 (spec.L2_NORM_FIXED).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor
from .base import no_activation, no_match, single_consumer

MAX_EPSILON = 1e-6


def _plain(node: Node | None, op: str) -> bool:
    return node is not None and node.op == op and no_activation(node)


def _scalar(t: Tensor) -> float | None:
    if t.data is None or t.data.size != 1:
        return None
    return float(np.asarray(t.data).reshape(()))


class FuseL2Normalization:
    name = "fuse_l2_normalization"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op not in ("mul", "div") or not _plain(node, node.op) or node.output.dtype != np.float32:
                continue
            m = self._match(graph, node)
            if m is not None:
                x, dead = m
                graph.replace_node(node, "l2_normalization", [x])
                for d in dead:
                    graph.remove_node(d)
                fired += 1
        return fired

    def _match(self, graph: Graph, node: Node) -> tuple[Tensor, list[Node]] | None:
        pairs = [(0, 1)] if node.op == "div" else [(0, 1), (1, 0)]
        root = "sqrt" if node.op == "div" else "rsqrt"
        for xi, ni in pairs:
            x, norm = node.input(xi), node.input(ni)
            r = norm.producer
            if r is None or r.op != root or single_consumer(graph, norm) is not node:
                continue
            found = self._sum_of_squares(graph, r.input(0), r, x)
            if found is not None:
                if len(x.shape) > 4:
                    no_match(node, "L2_NORMALIZATION takes at most 4 dimensions")
                    return None
                return x, [r, *found]
        return None

    @staticmethod
    def _sum_of_squares(graph: Graph, t: Tensor, reader: Node, x: Tensor) -> list[Node] | None:
        """The nodes computing t = [max|add](sum(x * x, last axis), eps), consumer first; None if it is not that."""
        dead: list[Node] = []
        p = t.producer
        if p is None or single_consumer(graph, t) is not reader:
            return None
        if p.op in ("maximum", "add") and _plain(p, p.op):
            a, b = p.input(0), p.input(1)
            s, eps = (a, _scalar(b)) if _scalar(b) is not None else (b, _scalar(a))
            if eps is None or not 0.0 <= eps <= MAX_EPSILON:
                no_match(reader, f"epsilon {eps} is not a constant in [0, {MAX_EPSILON}]")
                return None
            dead.append(p)
            reader, t, p = p, s, s.producer
            if p is None or single_consumer(graph, t) is not reader:
                return None
        if p.op != "sum" or not p.attrs.keep_dims or p.input(1).data is None or not x.shape:  # type: ignore[union-attr]
            return None
        axes = np.asarray(p.input(1).data).reshape(-1) % len(x.shape)
        if axes.tolist() != [len(x.shape) - 1]:
            return None
        sq = p.input(0)
        q = sq.producer
        if q is None or not ((_plain(q, "mul") and q.input(0) is x and q.input(1) is x) or
                             (q.op == "square" and q.input(0) is x)):
            return None
        if graph.is_output(sq) or any(u is not p for u in sq.uses):
            return None
        return [*dead, p, q]
