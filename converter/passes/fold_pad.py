"""Fold an explicit zero pad into the following VALID convolution or pooling when it is exactly the padding that
SAME would apply (Keras' ZeroPadding2D + stride-2 VALID conv in MobileNets):

    SAME, per spatial dim of size n, kernel k, dilation d, stride s:
        out = ceil(n / s),  total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        before = total // 2,  after = total - before
pad(x, [[0,0],[b_h,a_h],[b_w,a_w],[0,0]]) -> conv(VALID)  ==  conv(x, SAME)  iff (b, a) == (before, after) in both
spatial dims. Max pooling is excluded (SAME max pooling ignores padding; a zero pad does not).
A pad read by several such layers (common-subexpression elimination merges a pad per branch into one) folds into
each of them. Refuses when any reader is something else or the pad is a graph output, pads batch or channels,
or pads with a non-zero value."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node
from ..ir.attrs import Padding
from .base import no_match

_TARGETS = frozenset({"conv_2d", "depthwise_conv_2d", "average_pool_2d"})


def same_padding(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


class FoldPadIntoConv:
    name = "fold_pad"

    def run(self, graph: Graph) -> int:
        fired = 0
        for pad in graph.nodes:
            if pad.op != "pad" or graph.is_output(pad.output) or not pad.output.uses:
                continue
            readers = list(dict.fromkeys(pad.output.uses))
            if not all(self._matches(pad, node) for node in readers):
                continue
            for node in readers:
                for i, t in enumerate(node.inputs):
                    if t is pad.output:
                        graph.set_input(node, i, pad.input(0))
                graph.set_attrs(node, dataclasses.replace(node.attrs, padding=Padding.SAME))  # type: ignore[type-var]
            graph.remove_node(pad)
            fired += 1
        return fired

    @staticmethod
    def _matches(pad: Node, node: Node) -> bool:
        if node.op not in _TARGETS or node.attrs.padding is not Padding.VALID:  # type: ignore[union-attr]
            return no_match(pad, f"reader {node.name} is not a VALID convolution or average pooling")
        if any(t is pad.output for t in node.inputs[1:]):
            return no_match(pad, f"{node.name} reads the pad as a weight")
        p = pad.input(1).data
        if p is None or p.shape != (4, 2):
            return no_match(node, "paddings are not a constant 4x2 matrix")
        p = np.asarray(p)
        if p[0].any() or p[3].any():
            return no_match(node, "pad touches batch or channels")
        x = pad.input(0)
        a = node.attrs
        if node.op == "average_pool_2d":
            if p.any():  # SAME average pooling divides by the unpadded count: only an empty pad folds
                return no_match(node, "average pooling counts padded zeros differently")
            kh, kw = a.filter  # type: ignore[union-attr]
            dh = dw = 1
        else:
            kh, kw = node.input(1).shape[1:3]
            dh, dw = a.dilation  # type: ignore[union-attr]
        sh, sw = a.stride  # type: ignore[union-attr]
        want_h = same_padding(x.shape[1], kh, sh, dh)
        want_w = same_padding(x.shape[2], kw, sw, dw)
        if (tuple(p[1]), tuple(p[2])) != (want_h, want_w):
            return no_match(node, f"pad {p[1:3].tolist()} is not SAME padding {[want_h, want_w]}")
        return True
