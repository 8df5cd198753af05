"""Constant folding: a node whose inputs are all constants is replaced by its value, computed by the IR op's
reference implementation (so folding is exact float32 TensorFlow arithmetic). This turns TF1's mul_fold/add_fold
batch-norm subgraphs, Rsqrt/Sub chains and filter transposes into plain constants.

A range annotation on the folded input (from fake quant) is carried through layout ops (transpose, reshape,
squeeze): per-tensor ranges unchanged, per-channel ranges with the channel axis moved where the op moves it."""

from __future__ import annotations

import numpy as np

from ..frontend.reference import evaluate_node
from ..ir import Graph, Node, QuantRange
from .base import no_match

# fake_quant is not folded: AbsorbFakeQuant must record its range first.
_NO_FOLD = frozenset({"fake_quant"})
_LAYOUT_OPS = frozenset({"transpose", "reshape", "squeeze", "identity"})


class FoldConstants:
    name = "fold_constants"

    def run(self, graph: Graph) -> int:
        fired = 0
        # Each node is dropped from the worklist as it is taken: a folded node still holds its inputs, so a list of
        # them all would keep every replaced constant (a transposed kernel's original) alive until the pass ends.
        nodes: list[Node | None] = list(graph.nodes)
        for i in range(len(nodes)):
            node, nodes[i] = nodes[i], None
            assert node is not None
            if node.op in _NO_FOLD or node.stateful:
                continue
            ins = [t for t in node.inputs if t is not None]
            if not ins or not all(t.is_const for t in ins):
                continue
            try:
                values = evaluate_node(node, [None if t is None else t.data for t in node.inputs])
            except (KeyError, ValueError, TypeError) as e:
                no_match(node, f"cannot evaluate: {e}")
                continue
            ranges = [carried_range(node)] if len(values) == 1 else [None] * len(values)
            outs = node.outputs
            graph.fold(node, values)
            for t, r in zip(outs, ranges, strict=True):
                if r is not None and t.qrange is None:
                    t.qrange = r
            fired += 1
        return fired


def carried_range(node: Node) -> QuantRange | None:
    """The range of a layout op's output given its data input's range, or None."""
    src = node.inputs[0]
    if node.op not in _LAYOUT_OPS or src is None or src.qrange is None:
        return None
    r = src.qrange
    if r.axis is None:
        return r
    out_shape = node.output.shape
    if node.op == "transpose":
        perm = [int(p) for p in node.input(1).data.reshape(-1)]  # type: ignore[union-attr]
        return _with_axis(r, perm.index(r.axis))
    axis = _reshaped_axis(src.shape, out_shape, r.axis)
    if axis is not None:
        return _with_axis(r, axis)
    return QuantRange.per_tensor(min(r.min), max(r.max), r.source, num_bits=r.num_bits, narrow_range=r.narrow_range,
                                 fake_quant=r.fake_quant and len(set(r.min)) == 1 and len(set(r.max)) == 1)


def _with_axis(r: QuantRange, axis: int) -> QuantRange:
    return QuantRange(r.min, r.max, axis, r.num_bits, r.narrow_range, r.fake_quant, r.source)


def _reshaped_axis(old: tuple[int, ...], new: tuple[int, ...], axis: int) -> int | None:
    """Where axis ``axis`` of shape ``old`` lands in ``new`` if a reshape keeps it whole, else None."""
    prefix = int(np.prod(old[:axis], dtype=np.int64))
    acc = 1
    for j, d in enumerate(new):
        if acc == prefix and d == old[axis]:
            return j
        acc *= d
    return None
