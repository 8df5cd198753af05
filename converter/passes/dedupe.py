"""Merge identical constants: readers of a constant with the same dtype, shape, bytes and range annotation as an
earlier one read the earlier one. Unrolled recurrent networks and shared Keras layers read one weight matrix per
step; after filter transposes are folded each reader holds its own copy, and the file would carry them all.
Runs last, after every rewrite that refuses shared weights has had its chance. Constants smaller than ``min_bytes``
are left alone (TOCO's --dedupe_array_min_size_bytes)."""

from __future__ import annotations

import hashlib

import numpy as np

from ..ir import Graph, Tensor


def _key(t: Tensor) -> tuple[object, ...]:
    data = np.ascontiguousarray(t.data)
    return (t.dtype.str, t.shape, hashlib.sha256(data.view(np.uint8).reshape(-1)).hexdigest(), t.qrange, t.quant)


class DedupeConstants:
    name = "dedupe_constants"

    def __init__(self, min_bytes: int = 0) -> None:
        self.min_bytes = min_bytes

    def run(self, graph: Graph) -> int:
        fired = 0
        first: dict[tuple[object, ...], Tensor] = {}
        for node in graph.nodes:
            for i, t in enumerate(node.inputs):
                if t is None or not t.is_const or t.size == 0 or t.data.nbytes < self.min_bytes:  # type: ignore[union-attr]
                    continue
                keep = first.setdefault(_key(t), t)
                if keep is not t and np.array_equal(keep.data, t.data):  # type: ignore[arg-type]
                    graph.set_input(node, i, keep)
                    fired += 1
        return fired
