"""Common-subexpression elimination: a node computing the same op with the same attributes on the same inputs as
an earlier node is dropped, and its readers read the earlier node's outputs.

Keras graphs repeat work: NASNet applies a separate ReLU (and identical pools) to one tensor in every branch of a
cell. Merging them is more than tidiness for quantization: a layer whose only reader is the one remaining ReLU can
take that ReLU as its fused activation, so its output is quantized once, on the [0, max] range, instead of on the
signed pre-activation range and then again by each ReLU (TensorFlow's converter merges them the same way).

Inputs match when they are the same tensor, or constants with the same dtype, shape and bytes. Refuses when the
duplicate's outputs are graph outputs (users address them by name) or carry a range annotation that differs from
the kept node's (a fake-quant range on one of them)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor
from .base import no_match


class EliminateCommonSubexpressions:
    name = "eliminate_common_subexpressions"

    def run(self, graph: Graph) -> int:
        fired = 0
        seen: dict[tuple[object, ...], list[Node]] = {}
        for node in graph.nodes:
            key = _key(node)
            if key is None:
                continue
            earlier = seen.setdefault(key, [])
            keep = next((n for n in earlier if _same_constants(n, node)), None)
            if keep is None:
                earlier.append(node)
                continue
            if any(graph.is_output(t) for t in node.outputs):
                no_match(node, "an output is a graph output")
                continue
            if any(b.qrange is not None and a.qrange != b.qrange for a, b in
                   zip(keep.outputs, node.outputs, strict=True)):
                no_match(node, f"output ranges differ from {keep.name}'s")
                continue
            for a, b in zip(keep.outputs, node.outputs, strict=True):
                graph.replace_all_uses(b, a)
            graph.remove_node(node)
            fired += 1
        return fired


def _key(node: Node) -> tuple[object, ...] | None:
    """Op, attributes, non-constant inputs by identity, constants by dtype and shape, outputs' dtypes and shapes
    (constants' values are compared only between nodes with the same key)."""
    if node.stateful:  # two draws are two different values
        return None
    try:
        hash(node.attrs)
    except TypeError:
        return None
    ins = tuple(None if t is None else ("const", t.dtype.str, t.shape) if t.is_const else id(t) for t in node.inputs)
    return (node.op, node.attrs, ins, tuple((t.dtype.str, t.shape) for t in node.outputs))


def _same_constants(a: Node, b: Node) -> bool:
    return all(x is y or (x.qrange == y.qrange and _bytes(x) == _bytes(y))  # type: ignore[union-attr, arg-type]
               for x, y in zip(a.inputs, b.inputs, strict=True) if x is not None and x.is_const)


def _bytes(t: Tensor) -> bytes:
    return np.ascontiguousarray(t.data).tobytes()
