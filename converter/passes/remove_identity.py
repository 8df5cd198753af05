"""Remove identity nodes (TF Identity, StopGradient, frozen variables' `read`, ...) and layout ops that do nothing
(a transpose by the identity permutation, a reshape to the same shape): y = x, so every reader of y reads x.
Control dependencies were already dropped at import; a graph output keeps its name. An identity between a graph
input, a constant or another output and an output stays (both names are the model's interface): it is written as
a RESHAPE to its own shape, a copy."""

from __future__ import annotations

from ..ir import Graph, Node
from .base import no_match


class RemoveIdentity:
    name = "remove_identity"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if not _is_noop(node):
                continue
            src, out = node.input(0), node.output
            if graph.is_output(out) and (graph.is_output(src) or src.is_const or any(src is t for t in graph.inputs)):
                no_match(node, "identity between a graph input/output or constant and an output")
                continue
            graph.bypass(node)
            fired += 1
        return fired


def _is_noop(node: Node) -> bool:
    if node.op == "identity":
        return True
    if node.op == "transpose" and node.input(1).is_const:
        perm = node.input(1).data.reshape(-1).tolist()  # type: ignore[union-attr]
        return perm == list(range(len(perm)))
    if node.op not in ("reshape", "squeeze"):
        return False
    static = all(d >= 0 for d in node.output.shape)  # two run-time shapes may differ
    return static and node.input(0).shape == node.output.shape
